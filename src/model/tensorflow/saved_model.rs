//! TensorFlow SavedModels frozen without TensorFlow: the serving signature's graph, its function
//! calls inlined, its variable reads replaced by constants read from the TensorBundle, pruned to
//! what the output depends on. The result is a frozen graph like those published as
//! `TENSORFLOW`, which tract runs.
//!
//! What is read, from the SavedModel directory:
//!
//! - `saved_model.pb`: the `MetaGraphDef` tagged `serve` (exactly one must be).
//! - The signature, by name: `serving_default` when there is one, else `predict` (the original
//!   model server's), else the only signature (`__saved_model_init_op` is not one). Several
//!   others, or none, are refused, naming them. The signature has one input (float32, one row of
//!   features: `[-1, n]` or `[1, n]`) and one output.
//! - The variables the output depends on: TensorFlow 1 variables (`VariableV2`, read through
//!   `Identity`) and resource variables (`VarHandleOp` read by `ReadVariableOp`), whether in the
//!   graph or captured by the functions of a TensorFlow 2 SavedModel. Each one's checkpoint key
//!   is, in this order: the name whose `RestoreV2` output the saver's graph assigns to it
//!   (TensorFlow 1), the checkpoint key of the object a function call binds it to (TensorFlow 2:
//!   the SavedModel's object graph, matched by path to the checkpoint's own), or its node name.
//!   The saving and restoring subgraphs (`SaveV2`, `RestoreV2`, `AssignVariableOp`, ...) are
//!   dropped with everything else the output does not depend on.
//! - `variables/variables.index` and its data shards ([`super::tensor_bundle`]), only when a
//!   variable is read. Each value must have its variable's data type and shape.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use prost::Message;
use tract_tensorflow::tfpb::tensorflow::attr_value::{ListValue, Value};
use tract_tensorflow::tfpb::tensorflow::tensor_info::Encoding;
use tract_tensorflow::tfpb::tensorflow::{
    AttrValue, DataType, GraphDef, MetaGraphDef, NodeDef, SavedModel, SavedObjectGraph,
    SignatureDef, TensorInfo, TensorProto, TensorShapeProto, TrackableObjectGraph,
};

use super::functions::{canonical, data_reachable, inline_calls, source_node};
use super::tensor_bundle::Bundle;
use crate::model::ModelSource;

/// The tag of the meta graph that serves.
pub const SERVE_TAG: &str = "serve";

/// The signatures chosen, in this order, when the SavedModel has several.
pub const PREFERRED_SIGNATURES: [&str; 2] = ["serving_default", "predict"];

/// The name of the node added to read the signature's output.
pub const OUTPUT_NODE: &str = "modelserver_output";

/// Where a SavedModel keeps its variables, as a bundle prefix.
const VARIABLES_PREFIX: &str = "variables/variables";

/// The checkpoint entry of a TensorFlow 2 checkpoint's object graph.
const OBJECT_GRAPH_KEY: &str = "_CHECKPOINTABLE_OBJECT_GRAPH";

/// The name of a variable's value among a checkpointed object's attributes.
const VARIABLE_VALUE: &str = "VARIABLE_VALUE";

/// The default values of the attributes tract requires that TensorFlow leaves out of function
/// bodies (and of graphs saved with `strip_default_attrs`), by op.
const DEFAULT_ATTRIBUTES: [(&str, &str, Default); 15] = [
    ("MatMul", "transpose_a", Default::Bool(false)),
    ("MatMul", "transpose_b", Default::Bool(false)),
    ("Sum", "keep_dims", Default::Bool(false)),
    ("Mean", "keep_dims", Default::Bool(false)),
    ("Max", "keep_dims", Default::Bool(false)),
    ("Min", "keep_dims", Default::Bool(false)),
    ("Prod", "keep_dims", Default::Bool(false)),
    ("Pack", "axis", Default::Int(0)),
    ("Conv2D", "dilations", Default::Ones(4)),
    ("DepthwiseConv2dNative", "dilations", Default::Ones(4)),
    ("FusedBatchNorm", "epsilon", Default::Float(1e-4)),
    ("FusedBatchNormV2", "epsilon", Default::Float(1e-4)),
    ("FusedBatchNormV3", "epsilon", Default::Float(1e-4)),
    ("FakeQuantWithMinMaxVars", "num_bits", Default::Int(8)),
    (
        "FakeQuantWithMinMaxVars",
        "narrow_range",
        Default::Bool(false),
    ),
];

/// The default value of an attribute.
#[derive(Clone, Copy)]
enum Default {
    Bool(bool),
    Int(i64),
    Float(f32),
    /// A list of this many ones.
    Ones(usize),
}

impl Default {
    fn value(self) -> AttrValue {
        attr_value(match self {
            Default::Bool(value) => Value::B(value),
            Default::Int(value) => Value::I(value),
            Default::Float(value) => Value::F(value),
            Default::Ones(count) => Value::List(ListValue {
                i: vec![1; count],
                ..ListValue::default()
            }),
        })
    }
}

/// Call ops whose `f` attribute names a function of the library.
const CALL_OPS: [&str; 2] = ["PartitionedCall", "StatefulPartitionedCall"];

/// A SavedModel's serving signature as a frozen graph.
#[derive(Debug)]
pub struct FrozenSignature {
    /// The frozen graph: the input `Placeholder`, what the output depends on, and
    /// [`OUTPUT_NODE`].
    pub graph: GraphDef,
    /// The signature's name.
    pub signature: String,
    /// The input `Placeholder`'s name.
    pub input: String,
    /// The name of the node that gives the output ([`OUTPUT_NODE`]).
    pub output: String,
}

/// Freezes the serving signature of the SavedModel in `directory`, reading its files as `source`
/// allows.
pub fn freeze(directory: &Path, source: &ModelSource) -> Result<FrozenSignature> {
    let saved = read_saved_model(directory, source)?;
    let meta_graph = serving_meta_graph(&saved)?;
    let (signature, definition) = pick_signature(meta_graph)?;
    let input = single_tensor(&definition.inputs, "input", &signature)?;
    let output = single_tensor(&definition.outputs, "output", &signature)?;
    ensure!(
        input.dtype == DataType::DtFloat as i32,
        "the input of signature `{signature}` is {}, not float32 (the server feeds float32)",
        dtype_name(input.dtype)
    );
    let mut graph = meta_graph
        .graph_def
        .clone()
        .context("the meta graph has no graph")?;
    let restored = restored_variables(&graph)?;
    let captured = captured_variables(meta_graph, &graph)?;
    let mut roots = [tensor_name(output, "output")?];
    inline_calls(&mut graph, &mut roots)?;
    let reads = variable_reads(&graph, &roots)?;
    if !reads.is_empty() {
        let bundle = Bundle::open(&directory.join(VARIABLES_PREFIX), source)?;
        let objects = meta_graph.object_graph_def.as_ref();
        let keys = CheckpointKeys::new(restored, captured, objects, &bundle)?;
        freeze_reads(&mut graph, &reads, &keys, &bundle)?;
    }
    let [output_tensor] = roots;
    prune(&mut graph, &output_tensor);
    fill_default_attributes(&mut graph);
    add_output(&mut graph, &output_tensor, output.dtype)?;
    let input_name = check_input(&graph, tensor_name(input, "input")?)?;
    declare_input_shape(&mut graph, &input_name, input);
    Ok(FrozenSignature {
        graph,
        signature,
        input: input_name,
        output: OUTPUT_NODE.into(),
    })
}

fn read_saved_model(directory: &Path, source: &ModelSource) -> Result<SavedModel> {
    let path = directory.join("saved_model.pb");
    let bytes = source.read_file(&path)?;
    let saved = SavedModel::decode(bytes.as_slice())
        .with_context(|| format!("{} is not a SavedModel", path.display()))?;
    ensure!(
        !saved.meta_graphs.is_empty(),
        "{} has no meta graph",
        path.display()
    );
    Ok(saved)
}

/// The meta graph tagged [`SERVE_TAG`].
fn serving_meta_graph(saved: &SavedModel) -> Result<&MetaGraphDef> {
    let tags = |meta_graph: &MetaGraphDef| -> Vec<String> {
        meta_graph
            .meta_info_def
            .as_ref()
            .map(|info| info.tags.clone())
            .unwrap_or_default()
    };
    let serving: Vec<&MetaGraphDef> = saved
        .meta_graphs
        .iter()
        .filter(|meta_graph| tags(meta_graph).iter().any(|tag| tag == SERVE_TAG))
        .collect();
    match serving.as_slice() {
        [meta_graph] => Ok(meta_graph),
        _ => {
            let all: Vec<String> = saved
                .meta_graphs
                .iter()
                .map(|meta_graph| format!("[{}]", tags(meta_graph).join(", ")))
                .collect();
            bail!(
                "{} meta graphs are tagged `{SERVE_TAG}` (tags: {}); the server needs exactly one",
                serving.len(),
                all.join(", ")
            )
        }
    }
}

/// The signature to serve: the first of [`PREFERRED_SIGNATURES`], or the only one.
fn pick_signature(meta_graph: &MetaGraphDef) -> Result<(String, &SignatureDef)> {
    let signatures = &meta_graph.signature_def;
    if let Some(name) = PREFERRED_SIGNATURES
        .iter()
        .find(|name| signatures.contains_key(**name))
    {
        return Ok((name.to_string(), &signatures[*name]));
    }
    let mut names: Vec<&String> = signatures
        .keys()
        .filter(|name| !name.starts_with("__"))
        .collect();
    names.sort();
    match names.as_slice() {
        [name] => Ok((name.to_string(), &signatures[*name])),
        _ => bail!(
            "cannot choose a signature among {} ({}): the server serves `serving_default`, else \
             `predict`, else the only signature",
            names.len(),
            quoted(names.iter().map(|name| name.as_str()))
        ),
    }
}

/// The only tensor of a signature's inputs or outputs.
fn single_tensor<'s>(
    tensors: &'s HashMap<String, TensorInfo>,
    what: &str,
    signature: &str,
) -> Result<&'s TensorInfo> {
    if tensors.len() == 1 {
        return Ok(tensors.values().next().expect("one tensor"));
    }
    let mut keys: Vec<&str> = tensors.keys().map(String::as_str).collect();
    keys.sort_unstable();
    bail!(
        "signature `{signature}` has {} {what}s ({}); the server takes exactly one",
        keys.len(),
        quoted(keys.into_iter())
    )
}

/// The graph tensor a signature tensor names (`node:i`).
fn tensor_name(info: &TensorInfo, what: &str) -> Result<String> {
    match &info.encoding {
        Some(Encoding::Name(name)) if !name.is_empty() => Ok(canonical(name)),
        _ => bail!("the signature's {what} is not a dense tensor of the graph"),
    }
}

/// TensorFlow 1 savers: the checkpoint key each variable is restored from, read from the
/// `Assign`/`AssignVariableOp` nodes that store a `RestoreV2` output into a variable.
fn restored_variables(graph: &GraphDef) -> Result<HashMap<String, String>> {
    let nodes = by_name(graph);
    let mut keys: HashMap<String, String> = HashMap::new();
    for node in &graph.node {
        if !matches!(node.op.as_str(), "Assign" | "AssignVariableOp") {
            continue;
        }
        let [target, value, ..] = node.input.as_slice() else {
            continue;
        };
        let (source, index) = through_identities(&nodes, value);
        let Some(restore) = nodes.get(source).filter(|node| node.op == "RestoreV2") else {
            continue;
        };
        let names = restore
            .input
            .get(1)
            .and_then(|names| nodes.get(source_node(names)))
            .map(|names| constant_strings(names))
            .transpose()?
            .with_context(|| format!("`{}` reads no tensor names", restore.name))?;
        let key = names
            .get(index)
            .with_context(|| format!("`{}` restores no tensor {index}", restore.name))?;
        let variable = through_identities(&nodes, target).0.to_owned();
        insert_key(&mut keys, variable, key.clone())?;
    }
    Ok(keys)
}

/// TensorFlow 2: the variables that the graph's function calls capture, with the object of the
/// SavedModel's object graph each one is bound to.
fn captured_variables(meta_graph: &MetaGraphDef, graph: &GraphDef) -> Result<Vec<(String, i32)>> {
    let Some(objects) = &meta_graph.object_graph_def else {
        return Ok(Vec::new());
    };
    let nodes = by_name(graph);
    let mut captured = Vec::new();
    for call in graph
        .node
        .iter()
        .filter(|node| CALL_OPS.contains(&node.op.as_str()))
    {
        let Some(Value::Func(function)) = call.attr.get("f").and_then(|f| f.value.as_ref()) else {
            continue;
        };
        let Some(concrete) = objects.concrete_functions.get(&function.name) else {
            continue;
        };
        let inputs: Vec<&String> = call.input.iter().filter(|i| !i.starts_with('^')).collect();
        let bound = &concrete.bound_inputs;
        ensure!(
            bound.len() <= inputs.len(),
            "`{}` binds {} objects but has {} inputs",
            call.name,
            bound.len(),
            inputs.len()
        );
        for (input, &object) in inputs[inputs.len() - bound.len()..].iter().zip(bound) {
            let handle = through_identities(&nodes, input).0;
            if nodes
                .get(handle)
                .is_some_and(|node| node.op == "VarHandleOp")
            {
                captured.push((handle.to_owned(), object));
            }
        }
    }
    Ok(captured)
}

/// Where each variable's value is in the checkpoint.
struct CheckpointKeys {
    restored: HashMap<String, String>,
    captured: HashMap<String, String>,
}

impl CheckpointKeys {
    fn new(
        restored: HashMap<String, String>,
        captured: Vec<(String, i32)>,
        objects: Option<&SavedObjectGraph>,
        bundle: &Bundle,
    ) -> Result<Self> {
        let mut keys = HashMap::new();
        if let (Some(objects), false) = (objects, captured.is_empty()) {
            let checkpoint = checkpoint_object_graph(bundle)?;
            let matched = match_objects(objects, &checkpoint);
            for (variable, object) in captured {
                let key = object_key(&checkpoint, &matched, object)
                    .with_context(|| format!("variable `{variable}` (object {object})"))?;
                insert_key(&mut keys, variable, key)?;
            }
        }
        Ok(CheckpointKeys {
            restored,
            captured: keys,
        })
    }

    /// The checkpoint key of `variable`: restored, captured, or its own name.
    fn key<'k>(&'k self, variable: &'k str, bundle: &Bundle) -> Result<&'k str> {
        if let Some(key) = self.restored.get(variable).or(self.captured.get(variable)) {
            return Ok(key);
        }
        ensure!(
            bundle.entry(variable).is_some(),
            "no value for variable `{variable}`: no restore op assigns it, no object binds it, \
             and the checkpoint has no tensor of its name"
        );
        Ok(variable)
    }
}

/// The checkpoint's own object graph.
fn checkpoint_object_graph(bundle: &Bundle) -> Result<TrackableObjectGraph> {
    let strings = bundle
        .strings(OBJECT_GRAPH_KEY)
        .context("the checkpoint's object graph")?;
    let [bytes] = strings.as_slice() else {
        bail!("the checkpoint's object graph is not one string");
    };
    TrackableObjectGraph::decode(bytes.as_slice()).context("the checkpoint's object graph")
}

/// The checkpoint object of each SavedModel object, matched by their paths from the roots.
fn match_objects(saved: &SavedObjectGraph, checkpoint: &TrackableObjectGraph) -> HashMap<i32, i32> {
    let mut matched = HashMap::from([(0, 0)]);
    let mut pending = VecDeque::from([(0i32, 0i32)]);
    while let Some((saved_id, checkpoint_id)) = pending.pop_front() {
        let (Some(saved_node), Some(checkpoint_node)) = (
            usize::try_from(saved_id)
                .ok()
                .and_then(|id| saved.nodes.get(id)),
            usize::try_from(checkpoint_id)
                .ok()
                .and_then(|id| checkpoint.nodes.get(id)),
        ) else {
            continue;
        };
        for child in &saved_node.children {
            let twin = checkpoint_node
                .children
                .iter()
                .find(|twin| twin.local_name == child.local_name);
            if let Some(twin) = twin {
                if let std::collections::hash_map::Entry::Vacant(entry) =
                    matched.entry(child.node_id)
                {
                    entry.insert(twin.node_id);
                    pending.push_back((child.node_id, twin.node_id));
                }
            }
        }
    }
    matched
}

/// The checkpoint key of the value of the SavedModel object `object`.
fn object_key(
    checkpoint: &TrackableObjectGraph,
    matched: &HashMap<i32, i32>,
    object: i32,
) -> Result<String> {
    let twin = matched
        .get(&object)
        .context("the checkpoint's object graph has no object at its path")?;
    let node = usize::try_from(*twin)
        .ok()
        .and_then(|id| checkpoint.nodes.get(id))
        .with_context(|| format!("the checkpoint has no object {twin}"))?;
    node.attributes
        .iter()
        .find(|attribute| attribute.name == VARIABLE_VALUE)
        .map(|attribute| attribute.checkpoint_key.clone())
        .with_context(|| format!("checkpoint object {twin} has no {VARIABLE_VALUE}"))
}

fn insert_key(keys: &mut HashMap<String, String>, variable: String, key: String) -> Result<()> {
    if let Some(other) = keys.get(&variable).filter(|other| **other != key) {
        bail!("variable `{variable}` is restored from both `{other}` and `{key}`");
    }
    keys.insert(variable, key);
    Ok(())
}

/// A node that reads a variable: the node to replace, and the variable node.
struct VariableRead {
    node: String,
    variable: String,
}

/// The variable reads the roots depend on: `VariableV2` nodes themselves, and `ReadVariableOp`
/// nodes of a `VarHandleOp`.
fn variable_reads(graph: &GraphDef, roots: &[String]) -> Result<Vec<VariableRead>> {
    let reached = data_reachable(graph, roots);
    let nodes = by_name(graph);
    let mut reads = Vec::new();
    for node in graph
        .node
        .iter()
        .filter(|node| reached.contains(node.name.as_str()))
    {
        match node.op.as_str() {
            "VariableV2" | "Variable" => reads.push(VariableRead {
                node: node.name.clone(),
                variable: node.name.clone(),
            }),
            "ReadVariableOp" => {
                let handle = node
                    .input
                    .first()
                    .map(|input| through_identities(&nodes, input).0)
                    .with_context(|| format!("`{}` reads no variable", node.name))?;
                let op = nodes.get(handle).map_or("nothing", |node| node.op.as_str());
                ensure!(
                    op == "VarHandleOp",
                    "`{}` reads `{handle}`, a {op}, not a VarHandleOp",
                    node.name
                );
                reads.push(VariableRead {
                    node: node.name.clone(),
                    variable: handle.to_owned(),
                });
            }
            _ => {}
        }
    }
    Ok(reads)
}

/// Replaces each read by a constant holding the variable's checkpointed value.
fn freeze_reads(
    graph: &mut GraphDef,
    reads: &[VariableRead],
    keys: &CheckpointKeys,
    bundle: &Bundle,
) -> Result<()> {
    let mut constants = HashMap::new();
    for read in reads {
        let variable = graph
            .node
            .iter()
            .find(|node| node.name == read.variable)
            .expect("a read variable is in the graph");
        let key = keys.key(&read.variable, bundle)?;
        let value = bundle
            .tensor(key)
            .with_context(|| format!("the value of variable `{}`", read.variable))?;
        check_value(variable, key, &value)?;
        constants.insert(read.node.as_str(), constant(&read.node, value));
    }
    for node in &mut graph.node {
        if let Some(constant) = constants.remove(node.name.as_str()) {
            *node = constant;
        }
    }
    Ok(())
}

/// Fails unless the checkpointed value has the variable's declared data type and shape.
fn check_value(variable: &NodeDef, key: &str, value: &TensorProto) -> Result<()> {
    let name = &variable.name;
    if let Some(Value::Type(dtype)) = attribute(variable, "dtype") {
        ensure!(
            *dtype == value.dtype,
            "variable `{name}` is {}, but its checkpointed value `{key}` is {}",
            dtype_name(*dtype),
            dtype_name(value.dtype)
        );
    }
    if let Some(Value::Shape(shape)) = attribute(variable, "shape") {
        let declared = dims(shape);
        let stored = value.tensor_shape.as_ref().map(dims).unwrap_or_default();
        let known = !shape.unknown_rank && declared.iter().all(|&dim| dim >= 0);
        ensure!(
            !known || declared == stored,
            "variable `{name}` has shape {declared:?}, but its checkpointed value `{key}` has \
             shape {stored:?}"
        );
    }
    Ok(())
}

fn dims(shape: &TensorShapeProto) -> Vec<i64> {
    shape.dim.iter().map(|dim| dim.size).collect()
}

/// A `Const` node named `name` holding `value`.
fn constant(name: &str, value: TensorProto) -> NodeDef {
    let dtype = value.dtype;
    NodeDef {
        name: name.to_owned(),
        op: "Const".into(),
        input: Vec::new(),
        device: String::new(),
        attr: HashMap::from([
            ("dtype".into(), attr_value(Value::Type(dtype))),
            ("value".into(), attr_value(Value::Tensor(value))),
        ]),
    }
}

/// Keeps only the nodes `output` depends on through data, without control inputs.
fn prune(graph: &mut GraphDef, output: &str) {
    let kept: HashSet<String> = data_reachable(graph, &[output.to_owned()])
        .into_iter()
        .map(String::from)
        .collect();
    graph.node.retain(|node| kept.contains(&node.name));
    for node in &mut graph.node {
        node.input.retain(|input| !input.starts_with('^'));
    }
}

/// Gives every node the [`DEFAULT_ATTRIBUTES`] of its op that it lacks.
fn fill_default_attributes(graph: &mut GraphDef) {
    for node in &mut graph.node {
        for (op, name, default) in DEFAULT_ATTRIBUTES {
            if node.op == op && !node.attr.contains_key(name) {
                node.attr.insert(name.into(), default.value());
            }
        }
    }
}

/// Adds [`OUTPUT_NODE`], an `Identity` of the output tensor.
fn add_output(graph: &mut GraphDef, output: &str, dtype: i32) -> Result<()> {
    ensure!(
        graph.node.iter().all(|node| node.name != OUTPUT_NODE),
        "the graph already has a node named `{OUTPUT_NODE}`"
    );
    let source = source_node(output);
    ensure!(
        graph.node.iter().any(|node| node.name == source),
        "the graph has no node `{source}`, which the signature's output names"
    );
    graph.node.push(NodeDef {
        name: OUTPUT_NODE.into(),
        op: "Identity".into(),
        input: vec![output.to_owned()],
        device: String::new(),
        attr: HashMap::from([("T".into(), attr_value(Value::Type(dtype)))]),
    });
    Ok(())
}

/// The input `Placeholder`'s name, once the pruned graph is checked to read it.
fn check_input(graph: &GraphDef, input: String) -> Result<String> {
    let name = source_node(&input);
    match graph.node.iter().find(|node| node.name == name) {
        Some(node) if node.op == "Placeholder" => Ok(name.to_owned()),
        Some(node) => bail!(
            "the signature's input `{name}` is a {}, not a Placeholder",
            node.op
        ),
        None => bail!("the signature's output does not depend on its input `{name}`"),
    }
}

/// Declares the signature's shape of the input on its `Placeholder`: graphs of old TensorFlow
/// versions leave the `Placeholder`'s own shape empty when unconstrained.
fn declare_input_shape(graph: &mut GraphDef, input: &str, info: &TensorInfo) {
    let Some(shape) = info
        .tensor_shape
        .as_ref()
        .filter(|shape| !shape.unknown_rank)
    else {
        return;
    };
    if let Some(node) = graph.node.iter_mut().find(|node| node.name == input) {
        node.attr
            .insert("shape".into(), attr_value(Value::Shape(shape.clone())));
    }
}

fn by_name(graph: &GraphDef) -> HashMap<&str, &NodeDef> {
    graph
        .node
        .iter()
        .map(|node| (node.name.as_str(), node))
        .collect()
}

/// The node and output index a tensor comes from, past any chain of `Identity` nodes.
fn through_identities<'g>(nodes: &HashMap<&str, &'g NodeDef>, tensor: &'g str) -> (&'g str, usize) {
    let mut current = tensor;
    for _ in 0..=nodes.len() {
        let name = source_node(current);
        match nodes.get(name) {
            Some(node) if node.op == "Identity" && !node.input.is_empty() => {
                current = &node.input[0];
            }
            _ => break,
        }
    }
    let index = current
        .split_once(':')
        .and_then(|(_, index)| index.parse().ok())
        .unwrap_or(0);
    (source_node(current), index)
}

/// The strings of a `Const` node of strings (e.g. `RestoreV2`'s tensor names).
fn constant_strings(node: &NodeDef) -> Result<Vec<String>> {
    match attribute(node, "value") {
        Some(Value::Tensor(tensor)) => tensor
            .string_val
            .iter()
            .map(|bytes| {
                String::from_utf8(bytes.clone()).context("a tensor name that is not UTF-8")
            })
            .collect(),
        _ => bail!("`{}` is not a constant of strings", node.name),
    }
}

fn attr_value(value: Value) -> AttrValue {
    AttrValue { value: Some(value) }
}

fn attribute<'n>(node: &'n NodeDef, name: &str) -> Option<&'n Value> {
    node.attr.get(name).and_then(|value| value.value.as_ref())
}

fn dtype_name(dtype: i32) -> String {
    DataType::try_from(dtype).map_or_else(
        |_| format!("data type {dtype}"),
        |dtype| dtype.as_str_name().to_owned(),
    )
}

fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|name| format!("`{name}`")).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
