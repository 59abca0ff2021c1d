//! The ONNX-ML `LinearRegressor`, evaluated as onnxruntime evaluates it (`linearregressor.cc`):
//! each row's values are `X · coefficientsᵀ + intercepts`, one per target, computed row by row
//! as `LinearClassifier`'s scores are ([`Coefficients`]), then the post transform on each row as
//! the tree ensembles apply it (a row of one target takes only `PROBIT`). tract's
//! own, a matrix product and a broadcast addition, packs the whole input for its kernel first,
//! which costs more than the products of a few targets; with a post transform it gave numbers
//! where onnxruntime gives NaN (a row with a NaN input), and it refuses `PROBIT` and
//! `SOFTMAX_ZERO`.

use anyhow::{ensure, Context};
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use tract_onnx::tract_hir::internal::*;

use super::attributes::Attributes;
use super::linear::Coefficients;
use super::transform::PostTransform;

/// The attributes `LinearRegressor` defines.
const ATTRIBUTES: [&str; 4] = ["coefficients", "intercepts", "post_transform", "targets"];

/// Builds a `LinearRegressor` node.
pub fn build(
    _context: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let attributes = Attributes::new(node, &ATTRIBUTES)?;
    let transform = PostTransform::from_name(attributes.string("post_transform")?)?;
    let targets = attributes.int("targets")?.unwrap_or(1);
    ensure!(targets > 0, "LinearRegressor: {targets} targets");
    let mut intercepts = attributes.floats("intercepts")?.to_vec();
    if intercepts.is_empty() {
        intercepts = vec![0.0; targets as usize];
    }
    ensure!(
        intercepts.len() == targets as usize,
        "LinearRegressor: {} intercepts for {targets} targets",
        intercepts.len()
    );
    let coefficients = Coefficients::new(attributes.floats("coefficients")?, intercepts)?;
    let op = LinearRegressor(Arc::new(Linear {
        coefficients,
        transform,
    }));
    Ok((expand(LinearRegressorExpansion(op)), vec![]))
}

/// A linear regressor read from its node.
#[derive(Debug)]
struct Linear {
    coefficients: Coefficients,
    transform: PostTransform,
}

/// The typed operator: the values of each row of its `N × features` float input.
#[derive(Clone, Debug)]
pub struct LinearRegressor(Arc<Linear>);

impl PartialEq for LinearRegressor {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for LinearRegressor {}

impl Op for LinearRegressor {
    fn name(&self) -> StaticName {
        "LinearRegressor".into()
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

impl EvalOp for LinearRegressor {
    op_out_of_plan!();

    fn eval(&self, _context: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs.first().context("no input")?;
        let linear = &self.0;
        let targets = linear.coefficients.targets();
        let values = linear
            .coefficients
            .score_tensor("LinearRegressor", input, |values| {
                linear.transform.apply_rows(values, targets)
            })?;
        Ok(tvec!(values.into_tvalue()))
    }
}

impl TypedOp for LinearRegressor {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs.first().context("no input")?;
        ensure!(
            input.datum_type == f32::datum_type() && input.rank() == 2,
            "LinearRegressor takes a 2-D float input, not {input:?}"
        );
        if let Ok(features) = input.shape[1].to_usize() {
            self.0
                .coefficients
                .check_features("LinearRegressor", features)?;
        }
        Ok(tvec!(f32::fact([
            input.shape[0].clone(),
            self.0.coefficients.targets().to_dim()
        ])))
    }
}

/// The inference-time form, which makes a single row (one axis) a batch of one and casts a
/// non-float input to float32, as tract's does.
#[derive(Clone, Debug)]
struct LinearRegressorExpansion(LinearRegressor);

impl Expansion for LinearRegressorExpansion {
    fn name(&self) -> StaticName {
        "LinearRegressor".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(
            &outputs[0].shape[1],
            (self.0).0.coefficients.targets().to_dim(),
        )?;
        s.given(&inputs[0].rank, move |s, rank| {
            if rank == 2 {
                s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
            }
            Ok(())
        })
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let mut input = inputs[0];
        if model.outlet_fact(input)?.rank() == 1 {
            input =
                model.wire_node(format!("{prefix}.add_batch_axis"), AxisOp::Add(0), &[input])?[0];
        }
        let input = super::as_f32(model, prefix, input)?;
        model.wire_node(prefix, self.0.clone(), &[input])
    }
}
