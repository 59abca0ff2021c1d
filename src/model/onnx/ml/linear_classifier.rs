//! The ONNX-ML `LinearClassifier`, evaluated as onnxruntime evaluates it (`linearclassifier.cc`,
//! `ml_common.h`), with integer or string class labels. tract-onnx 0.23 has its own, which fails
//! on string labels ("String doesn't implement Zero"); this one replaces it.
//!
//! The scores are `X · coefficientsᵀ + intercepts`, one per intercept (target). With several
//! targets, the label is the one of the first highest raw score, and the post transform applies
//! to the row. With one target and two labels (the binary layout), the label is the second when
//! the score is above 0, else the first, and the scores are `[1 - p, p]`, where `p` is
//! `logistic(s)` under `LOGISTIC` and the raw score `s` otherwise (onnxruntime 1.32 applies no
//! `SOFTMAX` or `SOFTMAX_ZERO` to a single score). Under `PROBIT` they are `[probit(s), 0]`: a
//! deliberate difference, as onnxruntime packs the rows' single scores into the first half of the
//! output and leaves the rest unwritten. Refused at load, where onnxruntime would read out of
//! bounds or give scores without labels: no intercepts, coefficients that are not one row per
//! intercept, labels of another number than the targets (or two, for one target).

use std::sync::Arc;

use anyhow::{ensure, Context, Result};
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::attributes::Attributes;
use super::class_labels::ClassLabels;
use super::linear::Coefficients;
use super::transform::{logistic, probit, PostTransform};
use crate::model::arg_max;

/// The attributes `LinearClassifier` defines.
const ATTRIBUTES: [&str; 6] = [
    "classlabels_ints",
    "classlabels_strings",
    "coefficients",
    "intercepts",
    "multi_class",
    "post_transform",
];

/// Builds a `LinearClassifier` node.
pub fn build(
    _context: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let model = read(node)?;
    Ok((
        expand(LinearClassifierExpansion(LinearClassifierOp(Arc::new(
            model,
        )))),
        vec![],
    ))
}

/// A linear classifier read from its node.
#[derive(Debug)]
struct Linear {
    labels: ClassLabels,
    coefficients: Coefficients,
    transform: PostTransform,
}

fn read(node: &NodeProto) -> Result<Linear> {
    let attributes = Attributes::new(node, &ATTRIBUTES)?;
    let labels = ClassLabels::read(&attributes, "classlabels_ints")?;
    let intercepts = attributes.floats("intercepts")?.to_vec();
    let coefficients = Coefficients::new(attributes.floats("coefficients")?, intercepts)?;
    let targets = coefficients.targets();
    let expected_labels = if targets == 1 { 2 } else { targets };
    ensure!(
        labels.len() == expected_labels,
        "{} class labels for {targets} targets (expected {expected_labels})",
        labels.len()
    );
    if let Some(multi_class) = attributes.int("multi_class")? {
        ensure!(
            matches!(multi_class, 0 | 1),
            "multi_class {multi_class} is neither 0 nor 1"
        );
    }
    Ok(Linear {
        labels,
        coefficients,
        transform: PostTransform::from_name(attributes.string("post_transform")?)?,
    })
}

impl Linear {
    /// The number of score columns.
    fn columns(&self) -> usize {
        self.coefficients.targets().max(2)
    }

    /// Scores one row into `output` (one value per column) and returns the predicted class;
    /// with several targets, the scores are left raw for [`Self::transform_rows`].
    fn score_row(&self, row: &[f32], output: &mut [f32]) -> usize {
        let targets = self.coefficients.targets();
        self.coefficients.scores(row, &mut output[..targets]);
        if targets == 1 {
            let score = output[0];
            let pair = match self.transform {
                PostTransform::Probit => [probit(score), 0.0],
                PostTransform::Logistic => {
                    let probability = logistic(score);
                    [1.0 - probability, probability]
                }
                _ => [1.0 - score, score],
            };
            output.copy_from_slice(&pair);
            return usize::from(score > 0.0);
        }
        arg_max(&output[..targets]).unwrap_or_default()
    }

    /// Applies the post transform to the raw scores of rows of several targets (those of one
    /// target are finished by [`Self::score_row`]).
    fn transform_rows(&self, scores: &mut [f32]) {
        let targets = self.coefficients.targets();
        if targets > 1 {
            self.transform.apply_rows(scores, targets);
        }
    }
}

/// The typed operator: scores each row of its `N × features` float input.
#[derive(Clone, Debug)]
pub struct LinearClassifierOp(Arc<Linear>);

impl PartialEq for LinearClassifierOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for LinearClassifierOp {}

impl LinearClassifierOp {
    fn check_features(&self, features: usize) -> TractResult<()> {
        self.0
            .coefficients
            .check_features("LinearClassifier", features)
    }
}

impl Op for LinearClassifierOp {
    fn name(&self) -> StaticName {
        "LinearClassifier".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let model = &self.0;
        Ok(vec![format!(
            "{}, {:?}",
            model.coefficients.describe(),
            model.transform
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for LinearClassifierOp {
    op_out_of_plan!();

    fn eval(&self, _context: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs.first().context("no input")?;
        let &[rows, width] = input.shape() else {
            anyhow::bail!(
                "LinearClassifier takes a 2-D input, not {:?}",
                input.shape()
            );
        };
        self.check_features(width)?;
        let features = input.try_as_plain_ram()?.as_slice::<f32>()?;
        let columns = self.0.columns();
        let mut scores = Tensor::zero::<f32>(&[rows, columns])?;
        let mut classes: TVec<usize> = TVec::with_capacity(rows);
        let mut view = scores.try_as_plain_ram_mut()?;
        let output = view.as_slice_mut::<f32>()?;
        for row in 0..rows {
            let output = &mut output[row * columns..][..columns];
            classes.push(self.0.score_row(&features[row * width..][..width], output));
        }
        self.0.transform_rows(output);
        let labels = self.0.labels.tensor(&classes);
        Ok(tvec!(labels.into_tvalue(), scores.into_tvalue()))
    }
}

impl TypedOp for LinearClassifierOp {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs.first().context("no input")?;
        ensure!(
            input.datum_type == f32::datum_type() && input.rank() == 2,
            "LinearClassifier takes a 2-D float input, not {input:?}"
        );
        if let Ok(features) = input.shape[1].to_usize() {
            self.check_features(features)?;
        }
        let rows = input.shape[0].clone();
        Ok(tvec!(
            self.0.labels.datum_type().fact([rows.clone()]),
            f32::fact([rows, self.0.columns().to_dim()])
        ))
    }
}

/// The inference-time form, which casts a non-float input to float32 as onnxruntime does.
#[derive(Clone, Debug)]
struct LinearClassifierExpansion(LinearClassifierOp);

impl Expansion for LinearClassifierExpansion {
    fn name(&self) -> StaticName {
        "LinearClassifier".into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(2)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 2)?;
        let model = &(self.0).0;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&outputs[0].datum_type, model.labels.datum_type())?;
        s.equals(&outputs[0].rank, 1)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[1].datum_type, f32::datum_type())?;
        s.equals(&outputs[1].rank, 2)?;
        s.equals(&outputs[1].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[1].shape[1], model.columns().to_dim())?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let input = super::as_f32(model, prefix, inputs[0])?;
        model.wire_node(prefix, self.0.clone(), &[input])
    }
}
