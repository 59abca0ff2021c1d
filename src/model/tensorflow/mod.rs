//! TensorFlow models run by tract: frozen graphs (a `GraphDef` whose variables are constants,
//! type `TENSORFLOW`) and SavedModel directories (type `TENSORFLOWSAVED`, by location), parsed
//! once, given an `N × width` input shape (a symbolic number of rows), optimized into a runnable
//! plan, then run on batches of rows without re-planning. A graph that cannot take `N` rows, or
//! whose rows are not independent in a batch (probed at load), is planned for one row and run
//! row by row.
//!
//! The descriptor names neither inputs nor outputs, so the graph must say them: its single
//! `Placeholder` takes the records' features in schema order as an `N × n` float32 tensor (a
//! declared shape must agree), and its single terminal computation node (one whose output no
//! other node reads, other than a `Placeholder`, `Const` or `NoOp`) is the output. One output
//! value is a regression value. N > 1 values make a classifier with the labels `0` … `N-1`: the
//! probabilities are the output vector as the graph gives it, and the class is its arg-max, as
//! in the original model server.
//!
//! A SavedModel is frozen natively ([`saved_model`]): its serving signature's graph, function
//! calls inlined ([`functions`]), variable reads replaced by constants read from its
//! TensorBundle ([`tensor_bundle`], [`table`]), pruned to what the signature's output depends
//! on; the signature names the input and the output, and the rest is as for a frozen graph. No
//! TensorFlow and no Python run. A SavedModel is served only from its directory, published by
//! location as `TENSORFLOWSAVED`: its `saved_model.pb` sent as bytes, or its directory published
//! as `TENSORFLOW`, is refused with the way to publish it.

pub mod functions;
pub mod saved_model;
pub mod table;
pub mod tensor_bundle;

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use prost::Message;
use tract_tensorflow::prelude::*;
use tract_tensorflow::tfpb::tensorflow::attr_value::Value;
use tract_tensorflow::tfpb::tensorflow::tensor_shape_proto::Dim;
use tract_tensorflow::tfpb::tensorflow::{
    AttrValue, DataType, GraphDef, NodeDef, SavedModel, TensorShapeProto,
};

use super::{
    arg_max, batch_or_each, rows_are_independent, rows_tensor, FeatureSchema, InputNames, Model,
    ModelContent, ModelError, ModelKind, ModelSource, Prediction,
};
use crate::proto::model_descriptor::MessageContent;
use crate::proto::ModelDescriptor;

/// How to publish a SavedModel.
const SAVED_MODEL_ADVICE: &str = "A SavedModel is served from its directory: publish the \
    directory by location as tensorflow-saved (client publish-model SAVED_MODEL_DIR --location \
    --type tensorflow-saved)";

/// Operators that hold variables: a graph with them is not frozen.
const VARIABLE_OPS: [&str; 4] = ["VariableV2", "Variable", "VarHandleOp", "ReadVariableOp"];

/// Operators that are never the output of a computation.
const NON_OUTPUT_OPS: [&str; 3] = ["Placeholder", "Const", "NoOp"];

/// A loaded, optimized TensorFlow model.
pub struct TensorFlowModel {
    /// Whether the plan takes any number of rows (`N × width`), or only one.
    batched: bool,
    /// The optimized plan's run state, kept from one run to the next.
    state: TypedSimpleState,
    inputs: Vec<Arc<str>>,
    labels: Vec<Arc<str>>,
    kind: ModelKind,
}

impl TensorFlowModel {
    /// Builds the model of `kind` (`TENSORFLOW` or `TENSORFLOWSAVED`) from the content
    /// `descriptor` carries or names: a SavedModel from the directory a `TENSORFLOWSAVED`
    /// location names (its files read as `source` allows), a frozen graph otherwise.
    pub fn from_content(
        kind: ModelKind,
        content: ModelContent<'_>,
        names: InputNames<'_>,
        descriptor: &ModelDescriptor,
        source: &ModelSource,
    ) -> Result<Self, ModelError> {
        let bytes = match content {
            ModelContent::Directory(directory) if kind == ModelKind::TensorFlowSaved => {
                return Self::load_saved_model(&directory, names, source);
            }
            ModelContent::Directory(directory) => {
                return Err(saved_model_directory_error(kind, &directory, source));
            }
            ModelContent::Bytes(bytes) => bytes,
        };
        reject_saved_model(&bytes, &describe_content(descriptor))?;
        if kind == ModelKind::TensorFlowSaved {
            return Err(ModelError::Invalid {
                kind,
                reason: format!(
                    "{} is not a SavedModel directory (a SavedModel is published by the location \
                     of its directory; a frozen GraphDef is published as tensorflow)",
                    describe_content(descriptor)
                ),
            });
        }
        Self::load_for(&bytes, names)
    }

    /// Freezes, checks and optimizes the SavedModel in `directory` (see [`saved_model`]) for the
    /// inputs `names` says, reading its files as `source` allows.
    pub fn load_saved_model(
        directory: &Path,
        names: InputNames<'_>,
        source: &ModelSource,
    ) -> Result<Self, ModelError> {
        Self::freeze_and_plan(directory, names, source).map_err(|error| match error {
            ModelError::Invalid { reason, .. } => ModelError::Invalid {
                kind: ModelKind::TensorFlowSaved,
                reason: format!("`{}`: {reason}", directory.display()),
            },
            other => other,
        })
    }

    fn freeze_and_plan(
        directory: &Path,
        names: InputNames<'_>,
        source: &ModelSource,
    ) -> Result<Self, ModelError> {
        if !directory.is_dir() {
            return Err(invalid_reason(
                "not a directory (a SavedModel is published by the location of its directory)"
                    .into(),
            ));
        }
        let inputs = input_names(names)?;
        let frozen = saved_model::freeze(directory, source)
            .map_err(|error| invalid_reason(format!("{error:#}")))?;
        let signature = &frozen.signature;
        Self::from_frozen(
            frozen.graph,
            inputs,
            &frozen.output,
            ModelKind::TensorFlowSaved,
        )
        .map_err(|error| match error {
            ModelError::Invalid { reason, .. } => {
                invalid_reason(format!("signature `{signature}`: {reason}"))
            }
            other => other,
        })
    }

    /// Parses, checks and optimizes a frozen graph for the inputs `names` says (a graph names
    /// none of its own).
    pub fn load_for(bytes: &[u8], names: InputNames<'_>) -> Result<Self, ModelError> {
        Self::load_with_inputs(bytes, input_names(names)?)
    }

    /// Parses, checks and optimizes a frozen graph whose input takes the features of `schema`.
    pub fn load(bytes: &[u8], schema: FeatureSchema) -> Result<Self, ModelError> {
        Self::load_with_inputs(bytes, schema.input_names())
    }

    /// Parses, checks and optimizes a frozen graph whose input takes the features `inputs`, in
    /// that order.
    pub fn load_with_inputs(bytes: &[u8], inputs: Vec<Arc<str>>) -> Result<Self, ModelError> {
        reject_saved_model(bytes, "the model bytes")?;
        Self::load_frozen(bytes, inputs)
    }

    fn load_frozen(bytes: &[u8], inputs: Vec<Arc<str>>) -> Result<Self, ModelError> {
        let graph = GraphDef::decode(bytes).map_err(|error| {
            invalid_reason(format!("the bytes are not a TensorFlow GraphDef: {error}"))
        })?;
        let output = single_output(&graph)?;
        Self::from_frozen(graph, inputs, &output, ModelKind::TensorFlow)
    }

    /// Checks and plans a frozen graph from its single placeholder to the node `output`.
    fn from_frozen(
        mut graph: GraphDef,
        inputs: Vec<Arc<str>>,
        output: &str,
        kind: ModelKind,
    ) -> Result<Self, ModelError> {
        let tensorflow = tract_tensorflow::tensorflow();
        reject_unfrozen(&graph)?;
        reject_unimplemented(&graph, &tensorflow)?;
        let input = fix_input_shape(&mut graph, inputs.len())?;
        let width = inputs.len();
        let single = without_panics(|| plan(&tensorflow, &graph, output, None))
            .with_context(|| format!("planning input `{input}` → output `{output}`"))
            .map_err(invalid)?;
        let labels = output_labels(&single, output)?;
        let batched_plan = without_panics(|| plan(&tensorflow, &graph, output, Some(width)));
        let (plan, batched) = match batched_plan {
            Ok(plan) => (plan, true),
            // A graph written for one row (a fixed reshape, say) runs one row at a time.
            Err(_) => (single.clone(), false),
        };
        let state = plan.spawn().map_err(invalid)?;
        let mut model = TensorFlowModel {
            batched,
            state,
            inputs,
            labels,
            kind,
        };
        model.batched =
            batched && rows_are_independent(width, |rows, count| model.score_rows(rows, count));
        if !model.batched {
            model.state = single.spawn().map_err(invalid)?;
        }
        Ok(model)
    }

    /// Scores `count` rows (of [`Self::inputs`] values each, one after another) in one run.
    fn score_rows(&mut self, rows: &[f64], count: usize) -> TractResult<Vec<Prediction>> {
        let input = rows_tensor(rows, count, self.inputs.len())?;
        let outputs = self.state.run(tvec!(input.into()))?;
        let values = outputs.first().context("no output")?.cast_to::<f64>()?;
        let values = values.try_as_plain_ram()?.as_slice::<f64>()?;
        let per_row = self.labels.len().max(1);
        anyhow::ensure!(
            values.len() == count * per_row,
            "{} values for {count} rows of {per_row}",
            values.len()
        );
        values
            .chunks(per_row)
            .map(|row| {
                if self.labels.is_empty() {
                    return Ok(Prediction::regression(row[0]));
                }
                let best = arg_max(row).context("no output")?;
                Ok(Prediction::classification(self.labels[best].clone(), row))
            })
            .collect()
    }
}

impl Model for TensorFlowModel {
    fn score(&mut self, features: &[f64]) -> Result<Prediction, ModelError> {
        let mut predictions = self.score_rows(features, 1).map_err(scoring)?;
        predictions
            .pop()
            .ok_or_else(|| ModelError::Scoring("no output".into()))
    }

    /// One run for the whole batch when the graph takes `N` rows (see `model::batch_or_each`).
    fn score_batch(
        &mut self,
        rows: &[f64],
        count: usize,
        results: &mut Vec<Result<Prediction, ModelError>>,
    ) {
        let batched = self.batched;
        batch_or_each(
            self,
            batched,
            (rows, count),
            results,
            |model, rows, count, results| {
                let predictions = model.score_rows(rows, count)?;
                results.extend(predictions.into_iter().map(Ok));
                TractResult::Ok(())
            },
        );
    }

    fn class_labels(&self) -> &[Arc<str>] {
        &self.labels
    }

    fn inputs(&self) -> &[Arc<str>] {
        &self.inputs
    }

    fn kind(&self) -> ModelKind {
        self.kind
    }

    fn fork(&self) -> Option<Box<dyn Model>> {
        let state = self.state.plan().spawn().ok()?;
        Some(Box::new(TensorFlowModel {
            batched: self.batched,
            state,
            inputs: self.inputs.clone(),
            labels: self.labels.clone(),
            kind: self.kind,
        }))
    }
}

/// The features a graph takes: a graph names none of its own.
fn input_names(names: InputNames<'_>) -> Result<Vec<Arc<str>>, ModelError> {
    match names {
        InputNames::Schema(schema) => Ok(schema.input_names()),
        InputNames::Named([]) => Err(invalid_reason(
            "a TensorFlow graph does not name its features: give them in the descriptor's \
             `inputs` (client publish-model --inputs a,b,c)"
                .into(),
        )),
        InputNames::Named(names) => Ok(names.iter().map(|name| name.as_str().into()).collect()),
    }
}

/// The plan from the graph's placeholder (declared `1 × width`) to `output`; with `Some(width)`,
/// for `N × width` rows instead.
fn plan(
    tensorflow: &tract_tensorflow::Tensorflow,
    graph: &GraphDef,
    output: &str,
    rows_of: Option<usize>,
) -> TractResult<Arc<TypedRunnableModel>> {
    let mut model = tensorflow.model_for_proto_model(graph)?;
    model.select_outputs_by_name([output])?;
    if let Some(width) = rows_of {
        let rows = model.sym("N");
        model.set_input_fact(0, f32::fact([rows.to_dim(), width.to_dim()]).into())?;
    }
    let mut model = model.into_typed()?.into_decluttered()?;
    super::onnx::replace_small_matmuls(&mut model)?;
    model.into_optimized()?.into_runnable()
}

/// Runs a step of tract that may panic on malformed graphs (its TensorFlow attribute readers
/// unwrap missing values and unknown data types), so that a bad model cannot stop a worker.
fn without_panics<T>(step: impl FnOnce() -> TractResult<T>) -> TractResult<T> {
    catch_unwind(AssertUnwindSafe(step)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|message| message.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        anyhow::bail!("tract panicked on this graph: {message}")
    })
}

/// The class labels `0` … `N-1` for an output of N > 1 values; none for a single value.
fn output_labels(plan: &TypedRunnableModel, output: &str) -> Result<Vec<Arc<str>>, ModelError> {
    let fact = plan.model().output_fact(0).map_err(invalid)?;
    let count = fact
        .shape
        .as_concrete()
        .map(|dims| dims.iter().product::<usize>())
        .ok_or_else(|| invalid_reason(format!("output `{output}` has no fixed shape: {fact:?}")))?;
    match count {
        0 => Err(invalid_reason(format!("output `{output}` is empty"))),
        1 => Ok(Vec::new()),
        _ => Ok((0..count).map(|index| index.to_string().into()).collect()),
    }
}

/// Checks the single placeholder against a `1 × width` float32 input and declares that shape on
/// it; returns its name.
fn fix_input_shape(graph: &mut GraphDef, width: usize) -> Result<String, ModelError> {
    let input = single_placeholder(graph)?;
    let name = input.name.clone();
    match attribute(input, "dtype") {
        Some(Value::Type(dtype)) if *dtype == DataType::DtFloat as i32 => {}
        other => {
            return Err(invalid_reason(format!(
                "input `{name}` is not float32 (dtype {other:?}); the server feeds float32"
            )))
        }
    }
    if let Some(Value::Shape(shape)) = attribute(input, "shape") {
        check_declared_shape(&name, shape, width)?;
    }
    input
        .attr
        .insert("shape".into(), AttrValue::from(row_shape(width)));
    Ok(name)
}

/// The number of features the graph's single placeholder declares (its last dimension), if
/// fixed.
pub fn declared_width(bytes: &[u8]) -> Result<Option<usize>, ModelError> {
    let mut graph = GraphDef::decode(bytes).map_err(|error| {
        invalid_reason(format!("the bytes are not a TensorFlow GraphDef: {error}"))
    })?;
    graph_declared_width(&mut graph)
}

/// The number of features the serving signature of the SavedModel in `directory` declares (the
/// last dimension of its input), if fixed; its files are read as `source` allows.
pub fn saved_model_declared_width(
    directory: &Path,
    source: &ModelSource,
) -> Result<Option<usize>, ModelError> {
    let mut frozen = saved_model::freeze(directory, source)
        .map_err(|error| invalid_reason(format!("{error:#}")))?;
    graph_declared_width(&mut frozen.graph)
}

fn graph_declared_width(graph: &mut GraphDef) -> Result<Option<usize>, ModelError> {
    let input = single_placeholder(graph)?;
    Ok(match attribute(input, "shape") {
        Some(Value::Shape(shape)) if !shape.unknown_rank => shape
            .dim
            .last()
            .and_then(|dim| usize::try_from(dim.size).ok()),
        _ => None,
    })
}

/// Fails unless a declared input shape accepts one row of `width` features.
fn check_declared_shape(
    name: &str,
    shape: &TensorShapeProto,
    width: usize,
) -> Result<(), ModelError> {
    if shape.unknown_rank {
        return Ok(());
    }
    let dims: Vec<i64> = shape.dim.iter().map(|dim| dim.size).collect();
    let fits = match dims.as_slice() {
        [rows, columns] => matches!(rows, -1 | 1) && (*columns == -1 || *columns == width as i64),
        _ => false,
    };
    if fits {
        return Ok(());
    }
    Err(invalid_reason(format!(
        "input `{name}` declares shape {dims:?}, which does not take one row of the schema's \
         {width} features ([-1, {width}] or [1, {width}])"
    )))
}

fn row_shape(width: usize) -> TensorShapeProto {
    let dim = |size: usize| Dim {
        size: size as i64,
        name: String::new(),
    };
    TensorShapeProto {
        dim: vec![dim(1), dim(width)],
        unknown_rank: false,
    }
}

/// The graph's only `Placeholder`.
fn single_placeholder(graph: &mut GraphDef) -> Result<&mut NodeDef, ModelError> {
    let mut placeholders: Vec<&mut NodeDef> = graph
        .node
        .iter_mut()
        .filter(|node| node.op == "Placeholder")
        .collect();
    if placeholders.len() == 1 {
        return Ok(placeholders.remove(0));
    }
    let names: Vec<&str> = placeholders.iter().map(|node| node.name.as_str()).collect();
    Err(invalid_reason(format!(
        "the input must be the graph's single Placeholder, found {} ({})",
        names.len(),
        quoted(&names)
    )))
}

/// The name of the graph's only terminal computation node.
fn single_output(graph: &GraphDef) -> Result<String, ModelError> {
    let read: HashSet<&str> = graph
        .node
        .iter()
        .flat_map(|node| &node.input)
        .map(|input| source_node(input))
        .collect();
    let terminals: Vec<&str> = graph
        .node
        .iter()
        .filter(|node| !NON_OUTPUT_OPS.contains(&node.op.as_str()))
        .map(|node| node.name.as_str())
        .filter(|name| !read.contains(name))
        .collect();
    match terminals.as_slice() {
        [output] => Ok(output.to_string()),
        _ => Err(invalid_reason(format!(
            "the output must be the graph's single terminal computation node (one whose output \
             no other node reads), found {} ({})",
            terminals.len(),
            quoted(&terminals)
        ))),
    }
}

/// The node an input reference (`name`, `name:1` or the control input `^name`) reads.
fn source_node(input: &str) -> &str {
    let name = input.strip_prefix('^').unwrap_or(input);
    name.split_once(':').map_or(name, |(node, _)| node)
}

/// Fails, naming them, when the graph still holds variables.
fn reject_unfrozen(graph: &GraphDef) -> Result<(), ModelError> {
    let variables: Vec<&str> = graph
        .node
        .iter()
        .filter(|node| VARIABLE_OPS.contains(&node.op.as_str()))
        .map(|node| node.name.as_str())
        .collect();
    if variables.is_empty() {
        return Ok(());
    }
    Err(invalid_reason(format!(
        "the graph is not frozen: it has variables ({}); freeze it (convert_variables_to_constants_v2)",
        quoted(&variables)
    )))
}

/// Fails, naming them, when the graph uses operators tract does not implement.
fn reject_unimplemented(
    graph: &GraphDef,
    tensorflow: &tract_tensorflow::Tensorflow,
) -> Result<(), ModelError> {
    let mut missing: Vec<&str> = graph
        .node
        .iter()
        .map(|node| node.op.as_str())
        .filter(|op| !tensorflow.op_register.0.contains_key(*op))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ModelError::Unsupported(format!(
        "TensorFlow operators not implemented by tract: {}",
        missing.join(", ")
    )))
}

fn attribute<'a>(node: &'a NodeDef, name: &str) -> Option<&'a Value> {
    node.attr.get(name).and_then(|value| value.value.as_ref())
}

/// Fails with the conversion to use when `bytes` (described as `what`) are a SavedModel.
fn reject_saved_model(bytes: &[u8], what: &str) -> Result<(), ModelError> {
    match as_saved_model(bytes) {
        Some(saved) => Err(saved_model_error(what, &saved)),
        None => Ok(()),
    }
}

/// The bytes read as a SavedModel, if they have its shape: schema version 1 and meta graphs.
fn as_saved_model(bytes: &[u8]) -> Option<SavedModel> {
    SavedModel::decode(bytes)
        .ok()
        .filter(|saved| saved.saved_model_schema_version == 1 && !saved.meta_graphs.is_empty())
}

/// The refusal of a SavedModel, with its tags and signatures (what freezing needs to know).
fn saved_model_error(what: &str, saved: &SavedModel) -> ModelError {
    let mut tags: Vec<&str> = Vec::new();
    let mut signatures: Vec<&str> = Vec::new();
    for meta_graph in &saved.meta_graphs {
        if let Some(info) = &meta_graph.meta_info_def {
            tags.extend(info.tags.iter().map(String::as_str));
        }
        signatures.extend(meta_graph.signature_def.keys().map(String::as_str));
    }
    signatures.sort_unstable();
    ModelError::Unsupported(format!(
        "{what} is a TensorFlow SavedModel (tags: {}; signatures: {}). {SAVED_MODEL_ADVICE}",
        quoted(&tags),
        quoted(&signatures)
    ))
}

/// The refusal of a directory location: a SavedModel, or not a model at all.
fn saved_model_directory_error(
    kind: ModelKind,
    directory: &Path,
    source: &ModelSource,
) -> ModelError {
    let what = format!("`{}`", directory.display());
    let saved_model_pb = directory.join("saved_model.pb");
    match source.read_file(&saved_model_pb) {
        Ok(bytes) => match as_saved_model(&bytes) {
            Some(saved) => saved_model_error(&what, &saved),
            None => ModelError::Invalid {
                kind,
                reason: format!("{} is not a SavedModel", saved_model_pb.display()),
            },
        },
        Err(error) => ModelError::Invalid {
            kind,
            reason: format!(
                "{what} is a directory, not a model file, and has no saved_model.pb ({error})"
            ),
        },
    }
}

/// How an error names the descriptor's model: its location, or its inline bytes.
fn describe_content(descriptor: &ModelDescriptor) -> String {
    match &descriptor.message_content {
        Some(MessageContent::Location(location)) => format!("`{location}`"),
        _ => "the model bytes".into(),
    }
}

fn quoted(names: &[&str]) -> String {
    if names.is_empty() {
        return "none".into();
    }
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn invalid_reason(reason: String) -> ModelError {
    ModelError::Invalid {
        kind: ModelKind::TensorFlow,
        reason,
    }
}

fn invalid(error: TractError) -> ModelError {
    invalid_reason(format!("{error:#}"))
}

fn scoring(error: TractError) -> ModelError {
    ModelError::Scoring(format!("{error:#}"))
}
