//! Inlining the function calls of a graph: TensorFlow 2 SavedModels keep their computation in
//! the graph's function library, called by `StatefulPartitionedCall` (or `PartitionedCall`, or a
//! node whose op is a function's name), which tract does not run. Each call that the wanted
//! outputs depend on is replaced by the function's body, its nodes renamed `<call>/<node>`, its
//! arguments wired to the call's inputs, and every reference to the call's outputs redirected to
//! what the function returns, until no such call is left.
//!
//! A function body names tensors as `arg` (an argument), `node:out:i` (element `i` of the output
//! argument `out` of `node`'s op) or `node:out`; a graph as `node:i`. Turning the one into the
//! other needs the position of each op's output arguments: one output argument (or one list) for
//! most ops, the function's own outputs for calls, and a table of the multi-output ops that
//! inference graphs hold ([`MULTI_OUTPUT_OPS`]). Control inputs are dropped: the frozen graph
//! computes its outputs from data alone.

use std::collections::{HashMap, HashSet};

use anyhow::{bail, ensure, Context, Result};
use tract_tensorflow::tfpb::tensorflow::attr_value::Value;
use tract_tensorflow::tfpb::tensorflow::{AttrValue, FunctionDef, GraphDef, NodeDef, OpDef};

/// Ops that call the function named by their `f` attribute.
const CALL_OPS: [&str; 2] = ["PartitionedCall", "StatefulPartitionedCall"];

/// Ops with several output arguments, and those arguments in order.
const MULTI_OUTPUT_OPS: [(&str, &[&str]); 7] = [
    (
        "FusedBatchNorm",
        &[
            "y",
            "batch_mean",
            "batch_variance",
            "reserve_space_1",
            "reserve_space_2",
        ],
    ),
    (
        "FusedBatchNormV2",
        &[
            "y",
            "batch_mean",
            "batch_variance",
            "reserve_space_1",
            "reserve_space_2",
        ],
    ),
    (
        "FusedBatchNormV3",
        &[
            "y",
            "batch_mean",
            "batch_variance",
            "reserve_space_1",
            "reserve_space_2",
            "reserve_space_3",
        ],
    ),
    ("Switch", &["output_false", "output_true"]),
    ("Merge", &["output", "value_index"]),
    ("Unique", &["y", "idx"]),
    ("TopKV2", &["values", "indices"]),
];

/// The most rounds of inlining (nesting depth of calls).
const MAX_DEPTH: usize = 64;

/// The most nodes a graph may grow to by inlining.
const MAX_NODES: usize = 1_000_000;

/// Inlines every call that `roots` (graph tensor names, `node:i`) depend on, and rewrites
/// `roots` to name the inlined tensors.
pub fn inline_calls(graph: &mut GraphDef, roots: &mut [String]) -> Result<()> {
    let library = graph.library.take().unwrap_or_default();
    let functions: HashMap<&str, &FunctionDef> = library
        .function
        .iter()
        .filter_map(|function| Some((function.signature.as_ref()?.name.as_str(), function)))
        .collect();
    for root in roots.iter_mut() {
        *root = canonical(root);
    }
    for _ in 0..MAX_DEPTH {
        let calls = reachable_calls(graph, roots, &functions);
        if calls.is_empty() {
            return Ok(());
        }
        let mut aliases = HashMap::new();
        for call in calls {
            inline_call(graph, &call, &functions, &mut aliases)
                .with_context(|| format!("inlining the call `{call}`"))?;
        }
        redirect(graph, roots, &aliases);
    }
    bail!("function calls nest deeper than {MAX_DEPTH} levels")
}

/// `node` → `node:0`; other tensor names unchanged.
pub fn canonical(tensor: &str) -> String {
    if tensor.contains(':') {
        tensor.to_owned()
    } else {
        format!("{tensor}:0")
    }
}

/// The node a graph input (`node`, `node:i` or `^node`) reads.
pub fn source_node(input: &str) -> &str {
    let name = input.strip_prefix('^').unwrap_or(input);
    name.split_once(':').map_or(name, |(node, _)| node)
}

/// The names of the nodes that `roots` depend on through data inputs.
pub fn data_reachable<'g>(graph: &'g GraphDef, roots: &[String]) -> HashSet<&'g str> {
    let nodes: HashMap<&str, &NodeDef> = graph
        .node
        .iter()
        .map(|node| (node.name.as_str(), node))
        .collect();
    let mut reached = HashSet::new();
    let mut pending: Vec<&str> = roots.iter().map(|root| source_node(root)).collect();
    while let Some(name) = pending.pop() {
        let Some((&name, node)) = nodes.get_key_value(name) else {
            continue;
        };
        if reached.insert(name) {
            pending.extend(
                node.input
                    .iter()
                    .filter(|input| !input.starts_with('^'))
                    .map(|input| source_node(input)),
            );
        }
    }
    reached
}

/// The calls among the nodes `roots` depend on, in graph order.
fn reachable_calls(
    graph: &GraphDef,
    roots: &[String],
    functions: &HashMap<&str, &FunctionDef>,
) -> Vec<String> {
    let reached = data_reachable(graph, roots);
    graph
        .node
        .iter()
        .filter(|node| reached.contains(node.name.as_str()))
        .filter(|node| {
            CALL_OPS.contains(&node.op.as_str()) || functions.contains_key(node.op.as_str())
        })
        .map(|node| node.name.clone())
        .collect()
}

/// The function a call node calls, and the attributes it binds.
fn called<'f>(
    call: &NodeDef,
    functions: &HashMap<&str, &'f FunctionDef>,
) -> Result<(&'f FunctionDef, HashMap<String, AttrValue>)> {
    let (name, bound) = if CALL_OPS.contains(&call.op.as_str()) {
        match call.attr.get("f").and_then(|f| f.value.as_ref()) {
            Some(Value::Func(function)) => (function.name.as_str(), function.attr.clone()),
            _ => bail!("a {} without a function attribute `f`", call.op),
        }
    } else {
        (call.op.as_str(), call.attr.clone())
    };
    let function = functions
        .get(name)
        .with_context(|| format!("the library has no function `{name}`"))?;
    Ok((function, bound))
}

/// Replaces the call node `name` by the body of its function; records where its outputs went.
fn inline_call(
    graph: &mut GraphDef,
    name: &str,
    functions: &HashMap<&str, &FunctionDef>,
    aliases: &mut HashMap<String, String>,
) -> Result<()> {
    let position = graph
        .node
        .iter()
        .position(|node| node.name == name)
        .expect("a reachable call is in the graph");
    let call = graph.node.remove(position);
    let (function, bound) = called(&call, functions)?;
    ensure!(
        graph.node.len() + function.node_def.len() <= MAX_NODES,
        "inlining makes more than {MAX_NODES} nodes"
    );
    let signature = function
        .signature
        .as_ref()
        .context("a function without a signature")?;
    let body = Body::new(&call, function, signature, functions)?;
    let existing: HashSet<&str> = graph.node.iter().map(|node| node.name.as_str()).collect();
    let mut inlined = Vec::with_capacity(function.node_def.len());
    for node in &function.node_def {
        let renamed = body.node(node, &bound)?;
        ensure!(
            !existing.contains(renamed.name.as_str()),
            "the inlined node `{}` clashes with a node of the graph",
            renamed.name
        );
        inlined.push(renamed);
    }
    for (index, output) in signature.output_arg.iter().enumerate() {
        let returned = function
            .ret
            .get(&output.name)
            .with_context(|| format!("the function returns nothing for `{}`", output.name))?;
        let tensor = body.tensor(returned)?.context("a control input returned")?;
        aliases.insert(format!("{name}:{index}"), tensor);
    }
    graph.node.extend(inlined);
    Ok(())
}

/// A function body being inlined for one call.
struct Body<'a> {
    prefix: &'a str,
    arguments: HashMap<&'a str, String>,
    ops: HashMap<&'a str, &'a str>,
    functions: &'a HashMap<&'a str, &'a FunctionDef>,
}

impl<'a> Body<'a> {
    fn new(
        call: &'a NodeDef,
        function: &'a FunctionDef,
        signature: &'a OpDef,
        functions: &'a HashMap<&'a str, &'a FunctionDef>,
    ) -> Result<Self> {
        let inputs: Vec<&String> = call
            .input
            .iter()
            .filter(|input| !input.starts_with('^'))
            .collect();
        ensure!(
            inputs.len() == signature.input_arg.len(),
            "{} inputs for the {} arguments of `{}`",
            inputs.len(),
            signature.input_arg.len(),
            signature.name
        );
        let mut arguments = HashMap::new();
        for (argument, input) in signature.input_arg.iter().zip(inputs) {
            ensure!(
                argument.number_attr.is_empty() && argument.type_list_attr.is_empty(),
                "argument `{}` is a list, which is not supported",
                argument.name
            );
            arguments.insert(argument.name.as_str(), canonical(input));
        }
        let ops = function
            .node_def
            .iter()
            .map(|node| (node.name.as_str(), node.op.as_str()))
            .collect();
        Ok(Body {
            prefix: &call.name,
            arguments,
            ops,
            functions,
        })
    }

    /// A body node as a graph node: renamed, its inputs in graph form, its attribute
    /// placeholders bound.
    fn node(&self, node: &NodeDef, bound: &HashMap<String, AttrValue>) -> Result<NodeDef> {
        let mut input = Vec::with_capacity(node.input.len());
        for reference in &node.input {
            input.extend(
                self.tensor(reference)
                    .with_context(|| format!("input `{reference}` of `{}`", node.name))?,
            );
        }
        let mut attr = node.attr.clone();
        for (key, value) in attr.iter_mut() {
            if let Some(Value::Placeholder(placeholder)) = &value.value {
                *value = bound.get(placeholder).cloned().with_context(|| {
                    format!(
                        "attribute `{key}` of `{}` is the placeholder `{placeholder}`, which the \
                         call does not bind",
                        node.name
                    )
                })?;
            }
        }
        Ok(NodeDef {
            name: format!("{}/{}", self.prefix, node.name),
            op: node.op.clone(),
            input,
            device: String::new(),
            attr,
        })
    }

    /// A body reference in graph form; `None` for a control input.
    fn tensor(&self, reference: &str) -> Result<Option<String>> {
        if reference.starts_with('^') {
            return Ok(None);
        }
        let parts: Vec<&str> = reference.split(':').collect();
        let (name, output, index) = match parts.as_slice() {
            [name] => (*name, None, "0"),
            [name, index] if self.arguments.contains_key(name) => (*name, None, *index),
            [name, output] => (*name, Some(*output), "0"),
            [name, output, index] => (*name, Some(*output), *index),
            _ => bail!("`{reference}` is not a tensor reference"),
        };
        let index: usize = index
            .parse()
            .with_context(|| format!("`{reference}`: index `{index}`"))?;
        if let Some(argument) = self.arguments.get(name) {
            ensure!(
                index == 0,
                "`{reference}`: element {index} of a single tensor"
            );
            return Ok(Some(argument.clone()));
        }
        let op = self
            .ops
            .get(name)
            .with_context(|| format!("`{reference}` names neither a node nor an argument"))?;
        let flat = match output {
            None => index,
            Some(output) => self.output_position(op, output)? + index,
        };
        Ok(Some(format!("{}/{name}:{flat}", self.prefix)))
    }

    /// Where the output argument `output` of `op` starts among its outputs.
    fn output_position(&self, op: &str, output: &str) -> Result<usize> {
        if CALL_OPS.contains(&op) {
            return Ok(0);
        }
        if let Some(function) = self.functions.get(op) {
            let outputs = &function
                .signature
                .as_ref()
                .context("no signature")?
                .output_arg;
            return outputs
                .iter()
                .position(|argument| argument.name == output)
                .with_context(|| format!("function `{op}` has no output `{output}`"));
        }
        let Some((_, arguments)) = MULTI_OUTPUT_OPS.iter().find(|(name, _)| *name == op) else {
            return Ok(0);
        };
        arguments
            .iter()
            .position(|argument| *argument == output)
            .with_context(|| format!("{op} has no output `{output}`"))
    }
}

/// Points every data input of the graph, and every root, that names a call's output at what
/// the call's function returned.
fn redirect(graph: &mut GraphDef, roots: &mut [String], aliases: &HashMap<String, String>) {
    let resolve = |tensor: &mut String| {
        if tensor.starts_with('^') {
            return;
        }
        let mut seen = 0;
        while let Some(target) = aliases.get(&canonical(tensor)) {
            *tensor = target.clone();
            seen += 1;
            if seen > aliases.len() {
                break;
            }
        }
    };
    for node in &mut graph.node {
        node.input.iter_mut().for_each(resolve);
    }
    roots.iter_mut().for_each(resolve);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_tensorflow::tfpb::tensorflow::op_def::ArgDef;
    use tract_tensorflow::tfpb::tensorflow::{FunctionDefLibrary, NameAttrList};

    fn node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|input| input.to_string()).collect(),
            ..NodeDef::default()
        }
    }

    fn call(name: &str, function: &str, inputs: &[&str]) -> NodeDef {
        let mut call = node(name, "StatefulPartitionedCall", inputs);
        let f = NameAttrList {
            name: function.into(),
            attr: HashMap::new(),
        };
        call.attr.insert(
            "f".into(),
            AttrValue {
                value: Some(Value::Func(f)),
            },
        );
        call
    }

    fn argument(name: &str) -> ArgDef {
        ArgDef {
            name: name.into(),
            ..ArgDef::default()
        }
    }

    /// A function of one argument `x` returning `body`'s `returned` as `y`.
    fn function(name: &str, body: Vec<NodeDef>, returned: &str) -> FunctionDef {
        FunctionDef {
            signature: Some(OpDef {
                name: name.into(),
                input_arg: vec![argument("x")],
                output_arg: vec![argument("y")],
                ..OpDef::default()
            }),
            node_def: body,
            ret: HashMap::from([("y".into(), returned.into())]),
            ..FunctionDef::default()
        }
    }

    fn graph(nodes: Vec<NodeDef>, functions: Vec<FunctionDef>) -> GraphDef {
        GraphDef {
            node: nodes,
            library: Some(FunctionDefLibrary {
                function: functions,
                ..FunctionDefLibrary::default()
            }),
            ..GraphDef::default()
        }
    }

    #[test]
    fn nested_calls_are_inlined_and_the_roots_follow_them() {
        let inner = function(
            "inner",
            vec![
                node("relu", "Relu", &["x"]),
                node("out", "Identity", &["relu:activations:0", "^relu"]),
            ],
            "out:output:0",
        );
        let outer = function(
            "outer",
            vec![
                call("nested", "inner", &["x"]),
                node("id", "Identity", &["nested:output:0"]),
            ],
            "id:output",
        );
        let mut graph = graph(
            vec![
                node("input", "Placeholder", &[]),
                call("call", "outer", &["input"]),
            ],
            vec![inner, outer],
        );
        let mut roots = ["call:0".to_owned()];
        inline_calls(&mut graph, &mut roots).unwrap();
        assert_eq!(roots, ["call/id:0"]);
        let inputs: HashMap<&str, &[String]> = graph
            .node
            .iter()
            .map(|node| (node.name.as_str(), node.input.as_slice()))
            .collect();
        assert_eq!(inputs["call/id"], ["call/nested/out:0"]);
        assert_eq!(inputs["call/nested/out"], ["call/nested/relu:0"]);
        assert_eq!(inputs["call/nested/relu"], ["input:0"]);
        assert!(graph.library.is_none() && !inputs.contains_key("call"));
    }

    #[test]
    fn recursive_and_missing_functions_are_errors() {
        let recursive = function(
            "again",
            vec![call("self", "again", &["x"])],
            "self:output:0",
        );
        let mut looping = graph(
            vec![
                node("input", "Placeholder", &[]),
                call("call", "again", &["input"]),
            ],
            vec![recursive],
        );
        let mut roots = ["call:0".to_owned()];
        let message = format!("{:#}", inline_calls(&mut looping, &mut roots).unwrap_err());
        assert!(message.contains("nest deeper than 64 levels"), "{message}");
        let mut missing = graph(vec![call("call", "nowhere", &[])], vec![]);
        let mut roots = ["call:0".to_owned()];
        let message = format!("{:#}", inline_calls(&mut missing, &mut roots).unwrap_err());
        assert!(message.contains("no function `nowhere`"), "{message}");
    }

    #[test]
    fn outputs_of_multi_output_ops_are_numbered_by_argument() {
        let body = vec![
            node("norm", "FusedBatchNormV3", &["x", "x", "x", "x", "x"]),
            node("out", "Identity", &["norm:batch_variance:0"]),
        ];
        let mut graph = graph(
            vec![
                node("input", "Placeholder", &[]),
                call("call", "f", &["input"]),
            ],
            vec![function("f", body, "out:output:0")],
        );
        let mut roots = ["call:0".to_owned()];
        inline_calls(&mut graph, &mut roots).unwrap();
        let out = graph
            .node
            .iter()
            .find(|node| node.name == "call/out")
            .unwrap();
        assert_eq!(out.input, ["call/norm:2"]);
    }
}
