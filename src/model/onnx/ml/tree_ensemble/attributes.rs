//! Reading a `TreeEnsembleRegressor` or `TreeEnsembleClassifier` node's attributes (ONNX-ML
//! opsets 1 to 3) into an [`Ensemble`]. Every attribute the operator defines is read or
//! knowingly ignored (`nodes_hitrates`); anything else, and any value outside the ones the
//! operator defines, fails with an error naming it.

use std::collections::HashSet;

use anyhow::{bail, ensure, Context, Result};
use tract_onnx::pb::NodeProto;

use super::super::attributes::Attributes;
use super::super::transform::PostTransform;
use super::forest::{Comparison, Forest, NodeMode, Tables};
use super::scores::{Aggregate, BinaryLayout};
use super::{ClassLabels, ClassLayout, Ensemble, Kind};

/// Attributes both operators define.
const SHARED: [&str; 13] = [
    "base_values",
    "nodes_falsenodeids",
    "nodes_featureids",
    "nodes_hitrates",
    "nodes_hitrates_as_tensor",
    "nodes_missing_value_tracks_true",
    "nodes_modes",
    "nodes_nodeids",
    "nodes_treeids",
    "nodes_truenodeids",
    "nodes_values",
    "post_transform",
    "nodes_values_as_tensor",
];

/// Attributes only `TreeEnsembleRegressor` defines.
const REGRESSOR: [&str; 8] = [
    "aggregate_function",
    "n_targets",
    "target_ids",
    "target_nodeids",
    "target_treeids",
    "target_weights",
    "target_weights_as_tensor",
    "base_values_as_tensor",
];

/// Attributes only `TreeEnsembleClassifier` defines.
const CLASSIFIER: [&str; 8] = [
    "class_ids",
    "class_nodeids",
    "class_treeids",
    "class_weights",
    "classlabels_int64s",
    "classlabels_strings",
    "class_weights_as_tensor",
    "base_values_as_tensor",
];

/// The double-precision variants (ONNX-ML 3), which this evaluator does not take.
const DOUBLE_PRECISION: [&str; 4] = [
    "base_values_as_tensor",
    "nodes_values_as_tensor",
    "target_weights_as_tensor",
    "class_weights_as_tensor",
];

/// Reads a `TreeEnsembleRegressor` node.
pub fn regressor(node: &NodeProto) -> Result<Ensemble> {
    let attributes = ensemble_attributes(node, &REGRESSOR)?;
    let targets = attributes
        .int("n_targets")?
        .context("attribute `n_targets` is missing")?;
    let targets = usize::try_from(targets)
        .ok()
        .filter(|&targets| targets >= 1)
        .with_context(|| format!("n_targets must be at least 1, not {targets}"))?;
    let aggregate = match attributes.string("aggregate_function")? {
        None => Aggregate::Sum,
        Some(name) => aggregate(name)?,
    };
    let tables = tables(&attributes, "target")?;
    Ok(Ensemble {
        operator: "TreeEnsembleRegressor",
        forest: Forest::build(&tables, targets)?,
        base_values: base_values(&attributes, &[0, targets])?,
        transform: post_transform(&attributes)?,
        kind: Kind::Regressor { targets, aggregate },
    })
}

/// Reads a `TreeEnsembleClassifier` node.
pub fn classifier(node: &NodeProto) -> Result<Ensemble> {
    let attributes = ensemble_attributes(node, &CLASSIFIER)?;
    let labels = class_labels(&attributes)?;
    let classes = labels.len();
    let tables = tables(&attributes, "class")?;
    let allowed_base_lengths: &[usize] = if classes == 2 {
        &[0, 1, 2]
    } else {
        &[0, classes]
    };
    let layout = if classes == 2 {
        ClassLayout::Two(binary_layout(&tables))
    } else {
        ClassLayout::Many
    };
    Ok(Ensemble {
        operator: "TreeEnsembleClassifier",
        forest: Forest::build(&tables, classes)?,
        base_values: base_values(&attributes, allowed_base_lengths)?,
        transform: post_transform(&attributes)?,
        kind: Kind::Classifier { labels, layout },
    })
}

/// The node table and the weight table (`<prefix>_treeids`, `_nodeids`, `_ids`, `_weights`).
fn tables(attributes: &Attributes, prefix: &str) -> Result<Tables> {
    let nodes = Columns::new(attributes, "nodes_treeids")?;
    let weights = Columns::new(attributes, &format!("{prefix}_ids"))?;
    Ok(Tables {
        tree_ids: nodes.ints("nodes_treeids")?,
        node_ids: nodes.ints("nodes_nodeids")?,
        modes: nodes.strings("nodes_modes", node_mode)?,
        features: nodes.ints("nodes_featureids")?,
        values: nodes.floats("nodes_values")?,
        true_ids: nodes.ints("nodes_truenodeids")?,
        false_ids: nodes.ints("nodes_falsenodeids")?,
        missing_true: nodes.flags("nodes_missing_value_tracks_true")?,
        weight_trees: weights.ints(&format!("{prefix}_treeids"))?,
        weight_nodes: weights.ints(&format!("{prefix}_nodeids"))?,
        weight_targets: weights.ints(&format!("{prefix}_ids"))?,
        weight_values: weights.floats(&format!("{prefix}_weights"))?,
    })
}

/// A tree-ensemble node's attributes: those both operators define and `own`, none of them a
/// double-precision variant.
fn ensemble_attributes<'a>(node: &'a NodeProto, own: &[&str]) -> Result<Attributes<'a>> {
    for attribute in &node.attribute {
        let name = attribute.name.as_str();
        ensure!(
            !DOUBLE_PRECISION.contains(&name),
            "attribute `{name}` (double precision) is not supported; export with float32 values"
        );
    }
    let known: Vec<&str> = SHARED.iter().chain(own).copied().collect();
    Attributes::new(node, &known)
}

/// onnxruntime's "binary case": every weight goes to the same class.
fn binary_layout(tables: &Tables) -> Option<BinaryLayout> {
    let classes: HashSet<i64> = tables.weight_targets.iter().copied().collect();
    if classes.len() != 1 {
        return None;
    }
    Some(if tables.weight_values.iter().any(|&weight| weight < 0.0) {
        BinaryLayout::Margin
    } else {
        BinaryLayout::Probability
    })
}

fn class_labels(attributes: &Attributes) -> Result<ClassLabels> {
    let labels = ClassLabels::read(attributes, "classlabels_int64s")?;
    ensure!(
        labels.len() >= 2,
        "a classifier needs at least two class labels, not {}",
        labels.len()
    );
    Ok(labels)
}

fn base_values(attributes: &Attributes, allowed_lengths: &[usize]) -> Result<Vec<f32>> {
    let values = attributes.floats("base_values")?;
    ensure!(
        allowed_lengths.contains(&values.len()),
        "base_values has {} values; expected {}",
        values.len(),
        allowed_lengths
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(" or ")
    );
    Ok(values.to_vec())
}

fn post_transform(attributes: &Attributes) -> Result<PostTransform> {
    PostTransform::from_name(attributes.string("post_transform")?)
}

fn aggregate(name: &str) -> Result<Aggregate> {
    Ok(match name {
        "SUM" => Aggregate::Sum,
        "AVERAGE" => Aggregate::Average,
        "MIN" => Aggregate::Min,
        "MAX" => Aggregate::Max,
        other => bail!("aggregate_function `{other}` is not an ONNX-ML aggregate function"),
    })
}

fn node_mode(name: &str) -> Result<NodeMode> {
    Ok(match name {
        "LEAF" => NodeMode::Leaf,
        "BRANCH_LEQ" => NodeMode::Branch(Comparison::LessOrEqual),
        "BRANCH_LT" => NodeMode::Branch(Comparison::Less),
        "BRANCH_GTE" => NodeMode::Branch(Comparison::GreaterOrEqual),
        "BRANCH_GT" => NodeMode::Branch(Comparison::Greater),
        "BRANCH_EQ" => NodeMode::Branch(Comparison::Equal),
        "BRANCH_NEQ" => NodeMode::Branch(Comparison::NotEqual),
        other => bail!("nodes_modes: `{other}` is not a node mode of this operator"),
    })
}

/// Parallel list attributes that must all have as many entries as the first one.
struct Columns<'a, 'b> {
    attributes: &'b Attributes<'a>,
    reference: String,
    len: usize,
}

impl<'a, 'b> Columns<'a, 'b> {
    fn new(attributes: &'b Attributes<'a>, reference: &str) -> Result<Self> {
        Ok(Columns {
            attributes,
            reference: reference.to_owned(),
            len: attributes.ints(reference)?.len(),
        })
    }

    fn check_len(&self, name: &str, len: usize) -> Result<()> {
        ensure!(
            len == self.len,
            "{name} has {len} entries but {} has {}",
            self.reference,
            self.len
        );
        Ok(())
    }

    fn ints(&self, name: &str) -> Result<Vec<i64>> {
        let values = self.attributes.ints(name)?;
        self.check_len(name, values.len())?;
        Ok(values.to_vec())
    }

    fn floats(&self, name: &str) -> Result<Vec<f32>> {
        let values = self.attributes.floats(name)?;
        self.check_len(name, values.len())?;
        Ok(values.to_vec())
    }

    fn strings<T>(&self, name: &str, parse: fn(&str) -> Result<T>) -> Result<Vec<T>> {
        let values = self.attributes.strings(name)?;
        self.check_len(name, values.len())?;
        values.into_iter().map(parse).collect()
    }

    /// An optional 0/1 column: empty when absent.
    fn flags(&self, name: &str) -> Result<Vec<bool>> {
        let values = self.attributes.ints(name)?;
        if values.is_empty() {
            return Ok(Vec::new());
        }
        self.check_len(name, values.len())?;
        values
            .iter()
            .map(|&value| match value {
                0 => Ok(false),
                1 => Ok(true),
                other => bail!("{name}: {other} is neither 0 nor 1"),
            })
            .collect()
    }
}
