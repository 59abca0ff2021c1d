//! What scores a record: the [`Model`] trait, the predictions it returns, and the factory that
//! turns a [`ModelDescriptor`] from the models topic into a ready-to-score model.
//!
//! A model is built once (parsed, optimized, its inputs bound to the record's feature order) and
//! then scores rows without re-planning. Building is where every error about the model itself is
//! raised; scoring only fails for a row the model cannot take.

mod contain;
mod declared;
pub mod onnx;
pub mod pmml;
mod probabilities;
mod source;
pub mod tensorflow;

use std::fmt;
use std::sync::Arc;

pub use contain::{contained, panics_contained};
pub use probabilities::Probabilities;
pub use source::{ModelContent, ModelSource};

use crate::proto::model_descriptor::ModelType;
use crate::proto::ModelDescriptor;

/// The kinds of model the server knows of, as named on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// A frozen TensorFlow graph.
    TensorFlow,
    /// A TensorFlow SavedModel directory, given by location.
    TensorFlowSaved,
    /// A PMML document.
    Pmml,
    /// An ONNX model.
    Onnx,
}

impl ModelKind {
    /// The wire value of this kind.
    pub fn to_wire(self) -> ModelType {
        match self {
            ModelKind::TensorFlow => ModelType::Tensorflow,
            ModelKind::TensorFlowSaved => ModelType::Tensorflowsaved,
            ModelKind::Pmml => ModelType::Pmml,
            ModelKind::Onnx => ModelType::Onnx,
        }
    }

    /// The kind a wire value names.
    pub fn from_wire(model_type: ModelType) -> Self {
        match model_type {
            ModelType::Tensorflow => ModelKind::TensorFlow,
            ModelType::Tensorflowsaved => ModelKind::TensorFlowSaved,
            ModelType::Pmml => ModelKind::Pmml,
            ModelType::Onnx => ModelKind::Onnx,
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ModelKind::TensorFlow => "tensorflow",
            ModelKind::TensorFlowSaved => "tensorflow-saved",
            ModelKind::Pmml => "pmml",
            ModelKind::Onnx => "onnx",
        };
        f.write_str(name)
    }
}

impl std::str::FromStr for ModelKind {
    type Err = ModelError;

    fn from_str(name: &str) -> Result<Self, ModelError> {
        match name.to_ascii_lowercase().as_str() {
            "tensorflow" | "tf" => Ok(ModelKind::TensorFlow),
            "tensorflow-saved" | "tensorflowsaved" => Ok(ModelKind::TensorFlowSaved),
            "pmml" => Ok(ModelKind::Pmml),
            "onnx" => Ok(ModelKind::Onnx),
            other => Err(ModelError::Unsupported(format!("model type `{other}`"))),
        }
    }
}

/// What a model says about one record.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prediction {
    /// The regression value; for a classifier, its class label read as a number (NaN when the
    /// label is not numeric).
    pub value: f64,
    /// For a classifier, the predicted class label.
    pub class: Option<Arc<str>>,
    /// For a classifier, one probability per label of [`Model::class_labels`], in that order
    /// (empty when the model gives none).
    pub probabilities: Probabilities,
}

impl Prediction {
    /// A regression result.
    pub fn regression(value: f64) -> Self {
        Prediction {
            value,
            class: None,
            probabilities: Probabilities::default(),
        }
    }

    /// A classification result for `class`, with its numeric reading as the value.
    pub fn classification(class: Arc<str>, probabilities: impl Into<Probabilities>) -> Self {
        let value = class.parse::<f64>().unwrap_or(f64::NAN);
        Prediction {
            value,
            class: Some(class),
            probabilities: probabilities.into(),
        }
    }
}

/// Why a model could not be built or could not score a record.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ModelError {
    /// The model bytes are not a valid model of the declared kind.
    #[error("invalid {kind} model: {reason}")]
    Invalid {
        /// The declared kind.
        kind: ModelKind,
        /// What is wrong, with context.
        reason: String,
    },
    /// The model uses something this server does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The model needs an input the record does not provide.
    #[error("the model needs input `{0}`, which the record does not have")]
    MissingInput(String),
    /// The model could not score this record.
    #[error("scoring failed: {0}")]
    Scoring(String),
    /// The model's location was refused or could not be read.
    #[error("cannot read a model from `{location}`: {reason}")]
    Location {
        /// The location named in the descriptor (or a file in the directory it names).
        location: String,
        /// Why not.
        reason: String,
    },
    /// The model is larger than the job accepts.
    #[error("{what}: {size} bytes, more than the limit of {limit} (--max-model-bytes)")]
    TooLarge {
        /// What is too large: the model bytes, or a file.
        what: String,
        /// Its size in bytes.
        size: u64,
        /// The most bytes accepted.
        limit: u64,
    },
    /// Loading the model panicked inside a library (the panic was contained).
    #[error("the {kind} loader failed on this model: {message}")]
    Crashed {
        /// The declared kind.
        kind: ModelKind,
        /// The panic's message.
        message: String,
    },
}

/// One value of a record as a model input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input<'a> {
    /// No value.
    Missing,
    /// A number; NaN is a missing value.
    Number(f64),
    /// A text, e.g. the category of a categorical feature.
    Text(&'a str),
}

/// A model that is ready to score records.
///
/// `features` are the record's values in the order of [`Model::inputs`]; `NaN` means a missing
/// value. Scoring takes `&mut self` so that a model can keep scratch buffers and score without
/// allocating. Models are built on a loader thread and handed to the worker that serves them,
/// hence `Send`.
pub trait Model: Send {
    /// Scores one record of numbers.
    fn score(&mut self, features: &[f64]) -> Result<Prediction, ModelError>;

    /// Scores `count` records of numbers at once: `rows` holds their values one record after
    /// another, each in the order of [`Model::inputs`]. One result per record is appended to
    /// `results`, in order. Models that run a batch in one call (tract's) override this; the
    /// default scores the records one by one.
    fn score_batch(
        &mut self,
        rows: &[f64],
        count: usize,
        results: &mut Vec<Result<Prediction, ModelError>>,
    ) {
        let width = self.inputs().len();
        debug_assert_eq!(rows.len(), count * width, "{count} rows of {width} values");
        for index in 0..count {
            let row = &rows[index * width..(index + 1) * width];
            results.push(self.score(row));
        }
    }

    /// Scores one record of typed values, in the order of [`Model::inputs`]. Models of numbers
    /// read a text as a number and fail on one that is not.
    fn score_inputs(&mut self, inputs: &[Input<'_>]) -> Result<Prediction, ModelError> {
        let numbers = inputs
            .iter()
            .zip(self.inputs())
            .map(|(input, name)| match input {
                Input::Missing => Ok(f64::NAN),
                Input::Number(number) => Ok(*number),
                Input::Text(text) => text.trim().parse().map_err(|_| {
                    ModelError::Scoring(format!(
                        "input `{name}` is `{text}`; this {} model takes numbers",
                        self.kind()
                    ))
                }),
            })
            .collect::<Result<Vec<f64>, ModelError>>()?;
        self.score(&numbers)
    }

    /// The names of the features the model takes, in the order it takes them.
    fn inputs(&self) -> &[Arc<str>];

    /// The class labels of a classifier, in the order of [`Prediction::probabilities`]; empty for
    /// a regression model.
    fn class_labels(&self) -> &[Arc<str>];

    /// The kind of model.
    fn kind(&self) -> ModelKind;

    /// Another model that scores as this one does and shares its compiled form (a tract plan)
    /// with it, with scratch space of its own: what another worker gets instead of building the
    /// same model again. `None` for a model that shares nothing (each user builds its own).
    fn fork(&self) -> Option<Box<dyn Model>> {
        None
    }
}

/// The names of a record's features, in the order in which records hand them to models.
#[derive(Clone, Copy, Debug)]
pub struct FeatureSchema {
    /// One name per feature.
    pub names: &'static [&'static str],
}

impl FeatureSchema {
    /// The names, as a model keeps them.
    pub fn input_names(&self) -> Vec<Arc<str>> {
        self.names.iter().map(|&name| name.into()).collect()
    }
}

/// Which record features a model takes.
#[derive(Clone, Copy, Debug)]
pub enum InputNames<'a> {
    /// Every record has these features, in this order (e.g. the wine records').
    Schema(FeatureSchema),
    /// Records name their features: the model takes the ones these name, in this order, or,
    /// when there are none, the ones it names itself (PMML's MiningSchema, the ONNX metadata
    /// entry `feature_names`).
    Named(&'a [String]),
}

/// Builds a ready-to-score model from a descriptor read off the models topic.
///
/// The model bytes come from the descriptor itself or from the file it names as its location,
/// as `source` allows. A TensorFlow SavedModel (type `TENSORFLOWSAVED`) is read from the
/// directory its location names under the same rules
/// ([`tensorflow::TensorFlowModel::load_saved_model`]); its bytes, or its directory, published
/// otherwise are refused with the way to publish it. A panic inside a model library while loading
/// is contained and reported as [`ModelError::Crashed`].
///
/// With a `schema`, the model takes the record type's features in schema order; without one,
/// the features the descriptor's `inputs` name, or else those the model names itself.
pub fn build_model(
    descriptor: &ModelDescriptor,
    schema: Option<FeatureSchema>,
    source: &ModelSource,
) -> Result<Box<dyn Model>, ModelError> {
    let content = source.content(descriptor)?;
    build_from_content(descriptor, content, schema, source)
}

/// [`build_model`] from the model's content, already read (as [`ModelSource::content`] gives
/// it).
pub fn build_from_content(
    descriptor: &ModelDescriptor,
    content: ModelContent<'_>,
    schema: Option<FeatureSchema>,
    source: &ModelSource,
) -> Result<Box<dyn Model>, ModelError> {
    let names = match schema {
        Some(schema) => InputNames::Schema(schema),
        None => InputNames::Named(&descriptor.inputs),
    };
    let kind = ModelKind::from_wire(descriptor.modeltype());
    contained(kind, || match kind {
        ModelKind::TensorFlow | ModelKind::TensorFlowSaved => {
            if let ModelContent::Bytes(bytes) = &content {
                declared::check_tensorflow(bytes)?;
            }
            let model = tensorflow::TensorFlowModel::from_content(
                kind, content, names, descriptor, source,
            )?;
            Ok(Box::new(model) as Box<dyn Model>)
        }
        kind => match content {
            ModelContent::Bytes(bytes) => load_model(kind, &bytes, names),
            ModelContent::Directory(path) => Err(ModelError::Invalid {
                kind,
                reason: format!("`{}` is a directory, not a {kind} model", path.display()),
            }),
        },
    })
}

/// Builds a ready-to-score model of `kind` from its bytes, for the inputs `names` says (panics
/// inside a model library are contained).
pub fn load_model(
    kind: ModelKind,
    bytes: &[u8],
    names: InputNames<'_>,
) -> Result<Box<dyn Model>, ModelError> {
    match kind {
        ModelKind::Onnx => declared::check_onnx(bytes)?,
        ModelKind::TensorFlow => declared::check_tensorflow(bytes)?,
        _ => {}
    }
    contained(kind, || {
        Ok(match kind {
            ModelKind::Onnx => Box::new(onnx::OnnxModel::load_for(bytes, names)?) as Box<dyn Model>,
            ModelKind::Pmml => Box::new(pmml::PmmlModel::load_for(bytes, names)?),
            ModelKind::TensorFlow => Box::new(tensorflow::TensorFlowModel::load_for(bytes, names)?),
            ModelKind::TensorFlowSaved => {
                return Err(ModelError::Unsupported(
                    "a SavedModel is a directory: publish it by location".into(),
                ))
            }
        })
    })
}

/// The `count × width` float32 input tensor of `rows` (values one row after another), as the
/// tract models take it.
pub(crate) fn rows_tensor(
    rows: &[f64],
    count: usize,
    width: usize,
) -> anyhow::Result<tract_onnx::prelude::Tensor> {
    anyhow::ensure!(
        rows.len() == count * width,
        "{} values for {count} rows of {width}",
        rows.len()
    );
    let mut tensor = tract_onnx::prelude::Tensor::zero::<f32>(&[count, width])?;
    let mut values = tensor.try_as_plain_ram_mut()?;
    for (value, row) in values.as_slice_mut::<f32>()?.iter_mut().zip(rows) {
        *value = *row as f32;
    }
    Ok(tensor)
}

/// [`Model::score_batch`] for a model that can `run` many rows in one call, appending one
/// prediction per row to the results it is given: the whole batch in one call when it is
/// `batched`; otherwise, or should that call fail (what it appended is then taken back), the rows
/// one by one, so that each failure is its own row's.
pub(crate) fn batch_or_each<M: Model, E>(
    model: &mut M,
    batched: bool,
    (rows, count): (&[f64], usize),
    results: &mut Vec<Result<Prediction, ModelError>>,
    run: impl FnOnce(&mut M, &[f64], usize, &mut Vec<Result<Prediction, ModelError>>) -> Result<(), E>,
) {
    if batched && count > 1 {
        let before = results.len();
        if run(model, rows, count, results).is_ok() {
            return;
        }
        results.truncate(before);
    }
    let width = model.inputs().len();
    for index in 0..count {
        results.push(model.score(&rows[index * width..(index + 1) * width]));
    }
}

/// Whether a model planned for `N` rows scores rows independently: a few probe rows scored in
/// one call give what each gives alone. A graph that mixes rows (a reshape across the batch, a
/// softmax over every value) does not, and must run row by row.
pub(crate) fn rows_are_independent<E>(
    width: usize,
    mut score: impl FnMut(&[f64], usize) -> Result<Vec<Prediction>, E>,
) -> bool {
    const PROBES: usize = 3;
    let rows: Vec<f64> = (0..PROBES * width)
        .map(|index| 0.25 + (index % 7) as f64 * 0.75 + (index / width) as f64 * 1.5)
        .collect();
    let Ok(batched) = score(&rows, PROBES) else {
        return false;
    };
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1.0);
    batched.len() == PROBES
        && batched.iter().enumerate().all(|(index, together)| {
            let row = &rows[index * width..(index + 1) * width];
            score(row, 1).is_ok_and(|alone| {
                alone.len() == 1
                    && alone[0].class == together.class
                    && alone[0].probabilities.len() == together.probabilities.len()
                    && (close(alone[0].value, together.value)
                        || alone[0].value.is_nan() && together.value.is_nan())
                    && alone[0]
                        .probabilities
                        .iter()
                        .zip(&together.probabilities)
                        .all(|(a, b)| close(*a, *b))
            })
        })
}

/// The index of the largest value, the first of equals (NaN is never larger); `None` for no
/// values. The largest so far is carried with its index, a choice the compiler makes without a
/// branch (a branch on the values is mispredicted about every other row).
pub(crate) fn arg_max<T: Copy + PartialOrd>(values: &[T]) -> Option<usize> {
    let (&first, rest) = values.split_first()?;
    let (mut best, mut largest) = (0, first);
    for (index, &value) in rest.iter().enumerate() {
        let larger = value > largest;
        best = if larger { index + 1 } else { best };
        largest = if larger { value } else { largest };
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scorer of `width`-wide rows: each row's sum, or (`mixing`) the sum of the whole batch.
    fn summing(
        width: usize,
        mixing: bool,
    ) -> impl FnMut(&[f64], usize) -> Result<Vec<Prediction>, ModelError> {
        move |rows: &[f64], count: usize| {
            let total: f64 = rows.iter().sum();
            Ok(rows
                .chunks(width)
                .take(count)
                .map(|row| Prediction::regression(if mixing { total } else { row.iter().sum() }))
                .collect())
        }
    }

    #[test]
    fn the_arg_max_is_the_first_of_the_largest_values() {
        assert_eq!(arg_max::<f64>(&[]), None);
        assert_eq!(arg_max(&[1.0, 3.0, 2.0, 3.0]), Some(1));
        assert_eq!(arg_max(&[f32::NAN, 1.0]), Some(0));
        assert_eq!(arg_max(&[0.5, f64::NAN, 0.7]), Some(2));
    }

    #[test]
    fn a_graph_that_mixes_the_rows_of_a_batch_is_found_out() {
        assert!(rows_are_independent(4, summing(4, false)));
        assert!(!rows_are_independent(4, summing(4, true)));
        let failing =
            |_: &[f64], _: usize| Err::<Vec<Prediction>, _>(ModelError::Scoring("no".into()));
        assert!(!rows_are_independent(4, failing));
    }
}
