//! Reading a `TreeEnsemble` node (ONNX-ML 5) into an [`Ensemble`], as onnxruntime does: by
//! turning it into the node and weight tables of the earlier operators
//! (`TreeEnsembleAttributesV5::convert_to_v3`), which the same forest then walks.
//!
//! In opset 5 a tree is a root index into the node arrays; a node's children are node indices,
//! or leaf indices when `nodes_trueleafs`/`nodes_falseleafs` say so; each leaf has one target
//! and one weight. A root whose two children are the same leaf is a tree of one leaf, and that
//! leaf is the one at the root's own index (onnxruntime's reading). `BRANCH_MEMBER` (mode 6)
//! tests membership in the node's set of `membership_values` (the sets follow one another,
//! each ended by a NaN) and becomes a chain of `BRANCH_EQ` nodes, as in onnxruntime. Splits,
//! weights and members are float32 tensors (double precision is refused), modes a uint8 tensor;
//! `aggregate_function` and `post_transform` are integers, the latter read as onnxruntime reads
//! it (1 is `LOGISTIC` and 2 `SOFTMAX`, the reverse of the specification: see
//! [`PostTransform::from_code`]). Nodes reached twice (shared or looping; onnxruntime would
//! copy a shared subtree), indices out of range, and sets that are missing or empty are refused
//! at load.

use anyhow::{bail, ensure, Context, Result};
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;

use super::super::attributes::Attributes;
use super::super::transform::PostTransform;
use super::forest::{Comparison, Forest, NodeMode, Tables};
use super::scores::Aggregate;
use super::{Ensemble, Kind};

/// The attributes `TreeEnsemble` defines.
const ATTRIBUTES: [&str; 16] = [
    "aggregate_function",
    "leaf_targetids",
    "leaf_weights",
    "membership_values",
    "n_targets",
    "nodes_falseleafs",
    "nodes_falsenodeids",
    "nodes_featureids",
    "nodes_hitrates",
    "nodes_missing_value_tracks_true",
    "nodes_modes",
    "nodes_splits",
    "nodes_trueleafs",
    "nodes_truenodeids",
    "post_transform",
    "tree_roots",
];

/// The mode of a `BRANCH_MEMBER` node.
const MEMBER: u8 = 6;

/// Reads a `TreeEnsemble` node.
pub fn tree_ensemble(context: &ParsingContext, node: &NodeProto) -> Result<Ensemble> {
    let attributes = Attributes::new(node, &ATTRIBUTES)?;
    let targets = attributes
        .int("n_targets")?
        .context("attribute `n_targets` is missing")?;
    let targets = usize::try_from(targets)
        .ok()
        .filter(|&targets| targets >= 1)
        .with_context(|| format!("n_targets must be at least 1, not {targets}"))?;
    let trees = Trees::read(context, &attributes)?;
    Ok(Ensemble {
        operator: "TreeEnsemble",
        forest: Forest::build(&trees.tables()?, targets)?,
        base_values: Vec::new(),
        transform: PostTransform::from_code(attributes.int("post_transform")?)?,
        kind: Kind::Regressor {
            targets,
            aggregate: aggregate(attributes.int("aggregate_function")?)?,
        },
    })
}

fn aggregate(code: Option<i64>) -> Result<Aggregate> {
    Ok(match code {
        Some(0) => Aggregate::Average,
        None | Some(1) => Aggregate::Sum,
        Some(2) => Aggregate::Min,
        Some(3) => Aggregate::Max,
        Some(other) => {
            bail!("aggregate_function {other} is not an ONNX-ML aggregate function (0 to 3)")
        }
    })
}

/// The opset-5 arrays, their lengths checked.
struct Trees {
    roots: Vec<i64>,
    features: Vec<i64>,
    modes: Vec<u8>,
    splits: Vec<f32>,
    true_ids: Vec<i64>,
    false_ids: Vec<i64>,
    true_leaves: Vec<bool>,
    false_leaves: Vec<bool>,
    missing_true: Vec<bool>,
    leaf_targets: Vec<i64>,
    leaf_weights: Vec<f32>,
    /// The members of each node's set (empty for a node that is not `BRANCH_MEMBER`).
    members: Vec<Vec<f32>>,
}

/// Where a child of a node goes.
#[derive(Clone, Copy)]
enum Child {
    Node(usize),
    Leaf(usize),
}

impl Trees {
    fn read(context: &ParsingContext, attributes: &Attributes) -> Result<Self> {
        let floats = |name: &str| float_tensor(context, attributes, name);
        let modes = match attributes.tensor("nodes_modes")? {
            Some(proto) => context
                .load_tensor(proto)?
                .cast_to::<u8>()?
                .try_as_plain_ram()?
                .as_slice::<u8>()?
                .to_vec(),
            None => bail!("attribute `nodes_modes` is missing"),
        };
        let count = modes.len();
        let ints = |name: &str| -> Result<Vec<i64>> {
            let values = attributes.ints(name)?;
            ensure!(
                values.len() == count,
                "{name} has {} entries but nodes_modes has {count}",
                values.len()
            );
            Ok(values.to_vec())
        };
        let flags = |name: &str, optional: bool| -> Result<Vec<bool>> {
            if optional && attributes.ints(name)?.is_empty() {
                return Ok(vec![false; count]);
            }
            ints(name)?
                .into_iter()
                .map(|value| match value {
                    0 => Ok(false),
                    1 => Ok(true),
                    other => bail!("{name}: {other} is neither 0 nor 1"),
                })
                .collect()
        };
        let leaf_targets = attributes.ints("leaf_targetids")?.to_vec();
        let leaf_weights = floats("leaf_weights")?;
        ensure!(
            leaf_targets.len() == leaf_weights.len(),
            "leaf_targetids has {} entries but leaf_weights has {}",
            leaf_targets.len(),
            leaf_weights.len()
        );
        let splits = floats("nodes_splits")?;
        ensure!(
            splits.len() == count,
            "nodes_splits has {} entries but nodes_modes has {count}",
            splits.len()
        );
        let members = members_by_node(&modes, &floats("membership_values")?)?;
        Ok(Trees {
            roots: attributes.ints("tree_roots")?.to_vec(),
            features: ints("nodes_featureids")?,
            splits,
            true_ids: ints("nodes_truenodeids")?,
            false_ids: ints("nodes_falsenodeids")?,
            true_leaves: flags("nodes_trueleafs", false)?,
            false_leaves: flags("nodes_falseleafs", false)?,
            missing_true: flags("nodes_missing_value_tracks_true", true)?,
            leaf_targets,
            leaf_weights,
            members,
            modes,
        })
    }

    /// The node and weight tables of the earlier operators: each tree in depth-first order,
    /// its root first, `BRANCH_MEMBER` nodes unrolled into chains of `BRANCH_EQ` nodes.
    fn tables(&self) -> Result<Tables> {
        ensure!(!self.roots.is_empty(), "tree_roots is empty");
        let mut writer = TableWriter::new(self.modes.len(), self.leaf_targets.len());
        for (tree, &root) in self.roots.iter().enumerate() {
            let root = self.node_index(root).context("tree_roots")?;
            let single_leaf = self.true_leaves[root]
                && self.false_leaves[root]
                && self.true_ids[root] == self.false_ids[root];
            let root = if single_leaf {
                Child::Leaf(root)
            } else {
                Child::Node(root)
            };
            self.write_tree(&mut writer, tree as i64, root)
                .with_context(|| format!("tree {tree}"))?;
        }
        Ok(writer.tables)
    }

    fn write_tree(&self, writer: &mut TableWriter, tree: i64, root: Child) -> Result<()> {
        let mut next_id = 0i64;
        let mut pending = vec![(root, next_id)];
        next_id += 1;
        while let Some((child, id)) = pending.pop() {
            match child {
                Child::Leaf(leaf) => writer.leaf(self, tree, id, leaf)?,
                Child::Node(node) => {
                    writer.visit(node)?;
                    let if_true = self.child(self.true_ids[node], self.true_leaves[node])?;
                    let if_false = self.child(self.false_ids[node], self.false_leaves[node])?;
                    let extra = self.members[node].len().saturating_sub(1) as i64;
                    let chain: Vec<i64> = std::iter::once(id)
                        .chain(next_id..next_id + extra)
                        .collect();
                    let (true_id, false_id) = (next_id + extra, next_id + extra + 1);
                    next_id += extra + 2;
                    writer.branch(self, tree, node, &chain, [true_id, false_id])?;
                    pending.push((if_false, false_id));
                    pending.push((if_true, true_id));
                }
            }
        }
        Ok(())
    }

    fn child(&self, index: i64, is_leaf: bool) -> Result<Child> {
        if is_leaf {
            let leaf = usize::try_from(index)
                .ok()
                .filter(|&leaf| leaf < self.leaf_targets.len())
                .with_context(|| format!("leaf {index} out of range"))?;
            return Ok(Child::Leaf(leaf));
        }
        Ok(Child::Node(self.node_index(index)?))
    }

    fn node_index(&self, index: i64) -> Result<usize> {
        usize::try_from(index)
            .ok()
            .filter(|&node| node < self.modes.len())
            .with_context(|| format!("node {index} out of range"))
    }
}

/// The members of each node's set: `membership_values` holds the sets of the `BRANCH_MEMBER`
/// nodes in node order, each ended by a NaN.
fn members_by_node(modes: &[u8], values: &[f32]) -> Result<Vec<Vec<f32>>> {
    let mut sets = values.split(|value| value.is_nan());
    let mut members = Vec::with_capacity(modes.len());
    for (node, &mode) in modes.iter().enumerate() {
        if mode != MEMBER {
            members.push(Vec::new());
            continue;
        }
        let set = sets
            .next()
            .with_context(|| format!("membership_values has no set for node {node}"))?;
        ensure!(!set.is_empty(), "node {node} has an empty membership set");
        members.push(set.to_vec());
    }
    let rest: Vec<&[f32]> = sets.filter(|set| !set.is_empty()).collect();
    ensure!(
        rest.is_empty(),
        "membership_values has more sets than there are BRANCH_MEMBER nodes"
    );
    Ok(members)
}

/// Builds the earlier operators' tables, tree by tree.
struct TableWriter {
    tables: Tables,
    visited_nodes: Vec<bool>,
    visited_leaves: Vec<bool>,
}

impl TableWriter {
    fn new(nodes: usize, leaves: usize) -> Self {
        TableWriter {
            tables: Tables::default(),
            visited_nodes: vec![false; nodes],
            visited_leaves: vec![false; leaves],
        }
    }

    fn visit(&mut self, node: usize) -> Result<()> {
        ensure!(
            !std::mem::replace(&mut self.visited_nodes[node], true),
            "node {node} is reached twice: trees must neither share nodes nor loop"
        );
        Ok(())
    }

    fn row(&mut self, tree: i64, id: i64, mode: NodeMode, feature: i64, value: f32) {
        let tables = &mut self.tables;
        tables.tree_ids.push(tree);
        tables.node_ids.push(id);
        tables.modes.push(mode);
        tables.features.push(feature);
        tables.values.push(value);
    }

    fn links(&mut self, if_true: i64, if_false: i64, missing_true: bool) {
        self.tables.true_ids.push(if_true);
        self.tables.false_ids.push(if_false);
        self.tables.missing_true.push(missing_true);
    }

    fn leaf(&mut self, trees: &Trees, tree: i64, id: i64, leaf: usize) -> Result<()> {
        ensure!(
            !std::mem::replace(&mut self.visited_leaves[leaf], true),
            "leaf {leaf} is reached twice: trees must not share leaves"
        );
        self.row(tree, id, NodeMode::Leaf, 0, 0.0);
        self.links(0, 0, false);
        let tables = &mut self.tables;
        tables.weight_trees.push(tree);
        tables.weight_nodes.push(id);
        tables.weight_targets.push(trees.leaf_targets[leaf]);
        tables.weight_values.push(trees.leaf_weights[leaf]);
        Ok(())
    }

    /// Writes node `node` under the ids `chain` (one per member of a set, else one): each test
    /// goes to `true_id` when it holds; the last one goes to `false_id` otherwise, the others
    /// to the next test of the chain.
    fn branch(
        &mut self,
        trees: &Trees,
        tree: i64,
        node: usize,
        chain: &[i64],
        [true_id, false_id]: [i64; 2],
    ) -> Result<()> {
        let (feature, missing_true) = (trees.features[node], trees.missing_true[node]);
        let mode = trees.modes[node];
        if mode != MEMBER {
            let branch = NodeMode::Branch(comparison(mode)?);
            self.row(tree, chain[0], branch, feature, trees.splits[node]);
            self.links(true_id, false_id, missing_true);
            return Ok(());
        }
        let members = &trees.members[node];
        for (index, (&id, &member)) in chain.iter().zip(members).enumerate() {
            let otherwise = chain.get(index + 1).copied().unwrap_or(false_id);
            self.row(
                tree,
                id,
                NodeMode::Branch(Comparison::Equal),
                feature,
                member,
            );
            self.links(true_id, otherwise, missing_true);
        }
        Ok(())
    }
}

fn comparison(mode: u8) -> Result<Comparison> {
    Ok(match mode {
        0 => Comparison::LessOrEqual,
        1 => Comparison::Less,
        2 => Comparison::GreaterOrEqual,
        3 => Comparison::Greater,
        4 => Comparison::Equal,
        5 => Comparison::NotEqual,
        other => bail!("nodes_modes: {other} is not a node mode of TreeEnsemble (0 to 6)"),
    })
}

/// A float32 tensor attribute as a list; empty when absent. Double precision is refused.
fn float_tensor(context: &ParsingContext, attributes: &Attributes, name: &str) -> Result<Vec<f32>> {
    let Some(proto) = attributes.tensor(name)? else {
        return Ok(Vec::new());
    };
    let tensor = context.load_tensor(proto)?;
    ensure!(
        tensor.datum_type() == f32::datum_type(),
        "attribute `{name}` is {:?}; only float32 tensors (and float32 inputs) are supported",
        tensor.datum_type()
    );
    Ok(tensor.try_as_plain_ram()?.as_slice::<f32>()?.to_vec())
}
