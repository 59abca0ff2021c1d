//! ONNX models, run by tract: parsed once, given an `N × width` input shape (a symbolic number
//! of rows), optimized into a runnable plan, then run on batches of rows without re-planning. A
//! graph that cannot take `N` rows (one written for a single row), or whose rows are not
//! independent in a batch (probed at load), is run one row at a time.
//!
//! The model's single input takes the records' features in schema order, as an `N × width`
//! float tensor. Its first output is the regression value; a classifier's outputs are its label and
//! its probabilities, either a tensor or, with skl2onnx's default `ZipMap`, a sequence of maps,
//! which [`ml`] represents by the same tensor. The predicted class is the arg-max of the
//! probabilities, mapped through the class labels declared in the graph (a `ZipMap`'s keys, a
//! classifier operator's labels, or the constant skl2onnx's neural networks map an index with).
//!
//! Our ONNX-ML operators ([`ml`]: the tree ensembles of opsets 1 to 5, `LinearClassifier` with
//! string labels, `LinearRegressor`, `Normalizer`, `Scaler`, `ZipMap`) are registered into
//! tract's operator register in place of tract's own.

pub mod ml;
mod row_broadcast;
mod row_softmax;
mod small_matmul;

pub(crate) use small_matmul::replace_small_matmuls;

use std::sync::Arc;

use anyhow::{bail, Context};
use tract_onnx::pb::{ModelProto, NodeProto, TensorProto};
use tract_onnx::prelude::*;

use super::{
    arg_max, batch_or_each, rows_are_independent, rows_tensor, FeatureSchema, InputNames, Model,
    ModelError, ModelKind, Prediction, Probabilities,
};

/// Operators that declare their class labels as attributes, a `ZipMap`'s keys first: they are
/// the probability columns by construction.
const CLASSIFIER_OPS: [&str; 4] = [
    "ZipMap",
    "TreeEnsembleClassifier",
    "LinearClassifier",
    "SVMClassifier",
];

/// A loaded, optimized ONNX model.
pub struct OnnxModel {
    /// Whether the plan takes any number of rows (`N × width`), or only one.
    batched: bool,
    /// The optimized plan's run state, kept from one run to the next.
    state: TypedSimpleState,
    inputs: Vec<Arc<str>>,
    labels: Vec<Arc<str>>,
    /// Each label read as a number (NaN when it is not), as [`Prediction::value`] gives it.
    label_values: Vec<f64>,
}

/// The metadata entry in which a model lists its features, comma-separated, in input order.
pub const FEATURE_NAMES: &str = "feature_names";

impl OnnxModel {
    /// Parses, checks and optimizes an ONNX model whose input takes the features of `schema`.
    pub fn load(bytes: &[u8], schema: FeatureSchema) -> Result<Self, ModelError> {
        Self::load_with_inputs(bytes, schema.input_names())
    }

    /// Parses, checks and optimizes an ONNX model for the inputs `names` says: a model that
    /// names its own takes them from its [`FEATURE_NAMES`] metadata entry.
    pub fn load_for(bytes: &[u8], names: InputNames<'_>) -> Result<Self, ModelError> {
        match names {
            InputNames::Schema(schema) => Self::load(bytes, schema),
            InputNames::Named([]) => {
                let proto = read_proto(bytes)?;
                let inputs = own_feature_names(&proto)?;
                Self::from_proto(&proto, inputs)
            }
            InputNames::Named(names) => Self::load_with_inputs(
                bytes,
                names.iter().map(|name| name.as_str().into()).collect(),
            ),
        }
    }

    /// Parses, checks and optimizes an ONNX model whose input takes the features `inputs`, in
    /// that order.
    pub fn load_with_inputs(bytes: &[u8], inputs: Vec<Arc<str>>) -> Result<Self, ModelError> {
        Self::from_proto(&read_proto(bytes)?, inputs)
    }

    fn from_proto(proto: &ModelProto, inputs: Vec<Arc<str>>) -> Result<Self, ModelError> {
        let onnx = framework();
        let labels = class_labels(proto)?;
        let mut model = onnx.model_for_proto_model(proto).map_err(invalid)?;
        reject_unimplemented(&model)?;
        keep_scored_output(&mut model, !labels.is_empty()).map_err(invalid)?;
        let width = inputs.len();
        let rows = model.sym("N");
        let (plan, batched) = match optimize(model.clone(), [rows.to_dim(), width.to_dim()]) {
            Ok(plan) => (plan, true),
            // A graph written for one row (a fixed reshape, say) runs one row at a time.
            Err(_) => (optimize(model, [1.to_dim(), width.to_dim()])?, false),
        };
        let state = plan.spawn().map_err(invalid)?;
        let label_values = labels
            .iter()
            .map(|label| label.parse().unwrap_or(f64::NAN))
            .collect();
        let mut model = OnnxModel {
            batched,
            state,
            inputs,
            labels,
            label_values,
        };
        model.batched =
            batched && rows_are_independent(width, |rows, count| model.score_rows(rows, count));
        Ok(model)
    }

    /// Runs `count` rows (of [`Self::inputs`] values each, one after another) in one call.
    fn run(&mut self, rows: &[f64], count: usize) -> TractResult<TVec<TValue>> {
        let input = rows_tensor(rows, count, self.inputs.len())?;
        self.state.run(tvec!(input.into()))
    }

    /// Appends the predictions of `count` rows to `results`, in order, from the outputs of one
    /// run (the one output kept by [`keep_scored_output`]).
    fn predictions(
        &self,
        outputs: &[TValue],
        count: usize,
        results: &mut Vec<Result<Prediction, ModelError>>,
    ) -> TractResult<()> {
        let output = outputs.first().context("no output")?;
        let columns = self.labels.len().max(1);
        if output.len() != count * columns {
            bail!(
                "{} values for {count} rows of {columns} columns",
                output.len()
            );
        }
        if output.datum_type() == f32::datum_type() {
            let values = output.try_as_plain_ram()?;
            self.rows(values.as_slice::<f32>()?, columns, results);
            return Ok(());
        }
        let values = output.cast_to::<f64>()?;
        self.rows(
            values.try_as_plain_ram()?.as_slice::<f64>()?,
            columns,
            results,
        );
        Ok(())
    }

    /// Appends to `results` the prediction of each row of `columns` output values, in one
    /// `extend` (written in place, with no check of the room left per row).
    fn rows<T: Copy + Into<f64>>(
        &self,
        values: &[T],
        columns: usize,
        results: &mut Vec<Result<Prediction, ModelError>>,
    ) {
        if self.labels.is_empty() {
            let regression = |&value: &T| Ok(Prediction::regression(value.into()));
            results.extend(values.iter().map(regression));
            return;
        }
        let classification = |row: &[T]| Ok(self.classification(row));
        results.extend(values.chunks_exact(columns).map(classification));
    }

    /// The prediction of one row of class probabilities, one per label: the first most probable
    /// class.
    fn classification<T: Copy + Into<f64>>(&self, row: &[T]) -> Prediction {
        let probabilities = Probabilities::from_row(row);
        let best = arg_max(&probabilities).unwrap_or_default();
        // `Prediction::classification`, with the label's number read once at load.
        Prediction {
            value: self.label_values[best],
            class: Some(self.labels[best].clone()),
            probabilities,
        }
    }

    /// Scores `count` rows in one run.
    fn score_rows(&mut self, rows: &[f64], count: usize) -> TractResult<Vec<Prediction>> {
        let mut results = Vec::with_capacity(count);
        self.score_into(rows, count, &mut results)?;
        Ok(results.into_iter().flatten().collect())
    }

    /// Scores `count` rows in one run, appending their predictions to `results`.
    fn score_into(
        &mut self,
        rows: &[f64],
        count: usize,
        results: &mut Vec<Result<Prediction, ModelError>>,
    ) -> TractResult<()> {
        let outputs = self.run(rows, count)?;
        self.predictions(&outputs, count, results)
    }
}

/// Keeps only the output that predictions are read from: a classifier's probabilities (the
/// second output; its label is their arg-max, so the graph's own, often an `ArgMax` and a
/// lookup, is not computed), a regressor's value (the first).
fn keep_scored_output(model: &mut InferenceModel, classifier: bool) -> TractResult<()> {
    let outputs = model.output_outlets()?;
    let kept = match outputs.get(usize::from(classifier)) {
        Some(kept) => *kept,
        None if classifier => bail!("a classifier must have a probabilities output"),
        None => bail!("the model has no output"),
    };
    model.select_output_outlets(&[kept])
}

/// The output fact of a row-wise operator of ours: float32, of its first input's shape.
fn f32_like_first_input(inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    let input = inputs.first().context("no input")?;
    Ok(tvec!(f32::fact(input.shape.clone())))
}

/// The model, its input fixed to `shape`, optimized into a runnable plan.
fn optimize(
    model: InferenceModel,
    shape: [TDim; 2],
) -> Result<Arc<TypedRunnableModel>, ModelError> {
    model
        .with_input_fact(0, f32::fact(shape).into())
        .and_then(|model| model.into_typed()?.into_decluttered())
        .and_then(|mut model| {
            replace_small_matmuls(&mut model)?;
            model.into_optimized()
        })
        .and_then(|mut model| {
            row_broadcast::replace_row_broadcasts(&mut model)?;
            row_softmax::replace_short_softmaxes(&mut model)?;
            model.into_runnable()
        })
        .map_err(invalid)
}

impl Model for OnnxModel {
    fn score(&mut self, features: &[f64]) -> Result<Prediction, ModelError> {
        let mut results = Vec::with_capacity(1);
        self.score_into(features, 1, &mut results)
            .map_err(scoring)?;
        results
            .pop()
            .unwrap_or_else(|| Err(scoring(anyhow::anyhow!("no prediction"))))
    }

    /// One run for the whole batch when the graph takes `N` rows (see `model::batch_or_each`).
    fn score_batch(
        &mut self,
        rows: &[f64],
        count: usize,
        results: &mut Vec<Result<Prediction, ModelError>>,
    ) {
        let batched = self.batched;
        batch_or_each(self, batched, (rows, count), results, Self::score_into);
    }

    fn class_labels(&self) -> &[Arc<str>] {
        &self.labels
    }

    fn inputs(&self) -> &[Arc<str>] {
        &self.inputs
    }

    fn kind(&self) -> ModelKind {
        ModelKind::Onnx
    }

    fn fork(&self) -> Option<Box<dyn Model>> {
        let state = self.state.plan().spawn().ok()?;
        Some(Box::new(OnnxModel {
            batched: self.batched,
            state,
            inputs: self.inputs.clone(),
            labels: self.labels.clone(),
            label_values: self.label_values.clone(),
        }))
    }
}

fn read_proto(bytes: &[u8]) -> Result<ModelProto, ModelError> {
    framework()
        .proto_model_for_read(&mut &*bytes)
        .map_err(invalid)
}

/// The features a model lists in its [`FEATURE_NAMES`] metadata entry.
fn own_feature_names(proto: &ModelProto) -> Result<Vec<Arc<str>>, ModelError> {
    let listed = proto
        .metadata_props
        .iter()
        .find(|entry| entry.key == FEATURE_NAMES)
        .ok_or_else(|| ModelError::Invalid {
            kind: ModelKind::Onnx,
            reason: format!(
                "the model does not name its features: give them in the descriptor's `inputs` \
                 (client publish-model --inputs a,b,c) or in the model's `{FEATURE_NAMES}` \
                 metadata entry"
            ),
        })?;
    Ok(listed
        .value
        .split(',')
        .map(|name| name.trim().into())
        .collect())
}

/// tract's ONNX framework with our ONNX-ML operators registered.
pub fn framework() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    ml::register_all_ops(&mut onnx.op_register);
    onnx
}

/// The number of features the model's first input declares (its last dimension), if fixed.
pub fn declared_width(bytes: &[u8]) -> Result<Option<usize>, ModelError> {
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut &*bytes)
        .map_err(invalid)?;
    let input = proto.graph.as_ref().and_then(|graph| graph.input.first());
    let shape = input
        .and_then(|input| input.r#type.as_ref())
        .and_then(|value_type| match &value_type.value {
            Some(tract_onnx::pb::type_proto::Value::TensorType(tensor)) => tensor.shape.as_ref(),
            _ => None,
        });
    let last = shape
        .and_then(|shape| shape.dim.last())
        .and_then(|dim| match dim.value {
            Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(width)) => {
                Some(width as usize)
            }
            _ => None,
        });
    Ok(last)
}

/// Fails, naming them, when the graph uses operators tract does not implement (tract itself only
/// says that an operator "can not be made a TypedOp").
fn reject_unimplemented(model: &InferenceModel) -> Result<(), ModelError> {
    let missing: Vec<String> = model
        .nodes()
        .iter()
        .map(|node| node.op.name().to_string())
        .filter(|name| name.starts_with("Unimplemented("))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ModelError::Unsupported(format!(
        "ONNX operators not implemented by tract: {}",
        missing.join(", ")
    )))
}

/// The class labels the graph declares: on a classifier operator, or as the constant that maps
/// an arg-max index to a label (skl2onnx's pattern for neural networks). Empty for a regressor.
fn class_labels(proto: &ModelProto) -> Result<Vec<Arc<str>>, ModelError> {
    let Some(graph) = &proto.graph else {
        return Err(ModelError::Invalid {
            kind: ModelKind::Onnx,
            reason: "no graph".into(),
        });
    };
    for op in CLASSIFIER_OPS {
        let declared = graph
            .node
            .iter()
            .filter(|node| node.op_type == op)
            .find_map(declared_labels);
        if let Some(labels) = declared {
            return Ok(labels);
        }
    }
    let mapped = graph
        .node
        .iter()
        .filter(|node| node.op_type == "ArrayFeatureExtractor")
        .filter_map(|node| node.input.first())
        .find_map(|name| graph.initializer.iter().find(|tensor| &tensor.name == name));
    Ok(mapped.map(tensor_labels).unwrap_or_default())
}

fn declared_labels(node: &NodeProto) -> Option<Vec<Arc<str>>> {
    if !CLASSIFIER_OPS.contains(&node.op_type.as_str()) {
        return None;
    }
    let attribute = |name: &str| {
        node.attribute
            .iter()
            .find(|attribute| attribute.name == name)
    };
    if let Some(ints) = attribute("classlabels_ints").or(attribute("classlabels_int64s")) {
        return Some(
            ints.ints
                .iter()
                .map(|label| label.to_string().into())
                .collect(),
        );
    }
    attribute("classlabels_strings").map(|strings| {
        strings
            .strings
            .iter()
            .map(|label| String::from_utf8_lossy(label).into())
            .collect()
    })
}

fn tensor_labels(tensor: &TensorProto) -> Vec<Arc<str>> {
    const INT32: i32 = 6;
    if !tensor.string_data.is_empty() {
        return tensor
            .string_data
            .iter()
            .map(|label| String::from_utf8_lossy(label).into())
            .collect();
    }
    let ints: Vec<i64> = if !tensor.int64_data.is_empty() {
        tensor.int64_data.clone()
    } else if !tensor.int32_data.is_empty() {
        tensor
            .int32_data
            .iter()
            .map(|&label| i64::from(label))
            .collect()
    } else if tensor.data_type == INT32 {
        tensor
            .raw_data
            .chunks_exact(4)
            .map(|bytes| i64::from(i32::from_le_bytes(bytes.try_into().unwrap())))
            .collect()
    } else {
        tensor
            .raw_data
            .chunks_exact(8)
            .map(|bytes| i64::from_le_bytes(bytes.try_into().unwrap()))
            .collect()
    };
    ints.iter().map(|label| label.to_string().into()).collect()
}

fn invalid(error: TractError) -> ModelError {
    ModelError::Invalid {
        kind: ModelKind::Onnx,
        reason: format!("{error:#}"),
    }
}

fn scoring(error: TractError) -> ModelError {
    ModelError::Scoring(format!("{error:#}"))
}
