//! The ONNX-ML tree-ensemble operators, `TreeEnsembleRegressor` and `TreeEnsembleClassifier`,
//! evaluated as onnxruntime evaluates them, registered into tract's ONNX operator register.
//!
//! tract-onnx 0.23 has no `TreeEnsembleRegressor`, and its `TreeEnsembleClassifier` labels every
//! row of a two-class model with the first class, rejects the single base value of sklearn's
//! binary gradient boosting, and scans the whole leaf table for every tree. Here a node's
//! attributes are read once ([`attributes`]) into flat tables ([`forest`]); scoring a row walks
//! each tree through them and combines the leaves' weights ([`scores`]) without allocating.
//!
//! Semantics follow onnxruntime (`tree_ensemble_common.h`, `tree_ensemble_aggregator.h`):
//! the six `BRANCH_*` modes, `nodes_missing_value_tracks_true` for NaN features, `SUM`,
//! `AVERAGE`, `MIN` and `MAX` aggregation, base values, the five post transforms, any number of
//! targets, integer or string class labels, and onnxruntime's handling of two-class ensembles
//! (a single score that is a probability or a margin, one or two base values). Its quirks are
//! kept: a single-target regressor applies no post transform but `PROBIT`; an output column
//! that no leaf reached is 0. Deliberate differences:
//!
//! - a two-class classifier whose weights go to both classes is labelled with the class of the
//!   higher output, where onnxruntime returns the number 1 or 0 (not a declared label) from the
//!   sign of class 1's score;
//! - an output onnxruntime leaves unwritten (the second column of a two-class `PROBIT` or of a
//!   single score with one base value) is 0;
//! - models onnxruntime would accept but that are malformed are rejected: base values of another
//!   length than the targets or classes, nodes listed twice, unreachable or looping, weights for
//!   missing nodes or out-of-range outputs, `nodes_missing_value_tracks_true` values other than
//!   0 and 1; so are the double-precision `*_as_tensor` attributes and inputs other than float32.

mod attributes;
mod forest;
mod op;
mod opset5;
mod scores;

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{expand, InferenceOp};

use super::class_labels::ClassLabels;
use super::transform::PostTransform;
use forest::Forest;
use scores::{Aggregate, BinaryLayout, RowScores};

/// Registers `TreeEnsembleRegressor` and `TreeEnsembleClassifier` (replacing tract's own), and
/// `TreeEnsemble` (ONNX-ML 5).
pub fn register_all_ops(reg: &mut OnnxOpRegister) {
    reg.insert("TreeEnsembleRegressor", build_regressor);
    reg.insert("TreeEnsembleClassifier", build_classifier);
    reg.insert("TreeEnsemble", build_opset5);
}

fn build_opset5(
    context: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let ensemble = opset5::tree_ensemble(context, node)?;
    Ok((expand(op::TreeEnsembleExpansion::new(ensemble)), vec![]))
}

fn build_regressor(
    _context: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let ensemble = attributes::regressor(node)?;
    Ok((expand(op::TreeEnsembleExpansion::new(ensemble)), vec![]))
}

fn build_classifier(
    _context: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let ensemble = attributes::classifier(node)?;
    Ok((expand(op::TreeEnsembleExpansion::new(ensemble)), vec![]))
}

/// A tree ensemble read from its node: the trees, and how their leaves make the outputs.
#[derive(Clone)]
struct Ensemble {
    operator: &'static str,
    forest: Forest,
    base_values: Vec<f32>,
    transform: PostTransform,
    kind: Kind,
}

/// What the ensemble outputs.
#[derive(Clone, Debug)]
enum Kind {
    /// One float per target.
    Regressor {
        targets: usize,
        aggregate: Aggregate,
    },
    /// A label and one score per class.
    Classifier {
        labels: ClassLabels,
        layout: ClassLayout,
    },
}

/// How a classifier's scores become its outputs.
#[derive(Clone, Copy, Debug)]
enum ClassLayout {
    /// Three classes or more.
    Many,
    /// Two classes: how onnxruntime reads their single score, `None` when the weights go to both.
    Two(Option<BinaryLayout>),
}

impl Ensemble {
    /// The number of score columns: targets or classes.
    fn columns(&self) -> usize {
        match &self.kind {
            Kind::Regressor { targets, .. } => *targets,
            Kind::Classifier { labels, .. } => labels.len(),
        }
    }

    /// A classifier's labels.
    fn labels(&self) -> Option<&ClassLabels> {
        match &self.kind {
            Kind::Regressor { .. } => None,
            Kind::Classifier { labels, .. } => Some(labels),
        }
    }

    /// Scores one row from the leaves its trees reach (tree after tree) into `output` (one value
    /// per column) and returns the index of the predicted class (0 for a regressor).
    fn score_row(&self, leaves: &[forest::Leaf], output: &mut [f32]) -> usize {
        let aggregate = match self.kind {
            Kind::Regressor { aggregate, .. } => aggregate,
            Kind::Classifier { .. } => Aggregate::Sum,
        };
        let mut scores = RowScores::new(output);
        for &leaf in leaves {
            scores.add(self.forest.weights(leaf), aggregate);
        }
        let (base, transform) = (&self.base_values, self.transform);
        match self.kind {
            Kind::Regressor { .. } => {
                scores.finish_regression(aggregate, self.forest.trees(), base, transform);
                0
            }
            Kind::Classifier {
                layout: ClassLayout::Many,
                ..
            } => scores.finish_classes(base, transform),
            Kind::Classifier {
                layout: ClassLayout::Two(layout),
                ..
            } => scores.finish_binary(layout, base, transform),
        }
    }
}

impl std::fmt::Debug for Ensemble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} trees, {} nodes, {} outputs, {:?}",
            self.operator,
            self.forest.trees(),
            self.forest.nodes(),
            self.columns(),
            self.transform
        )
    }
}
