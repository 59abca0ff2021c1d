//! A softmax over the last axis of a float32 tensor whose rows are short (a classifier's few
//! classes), put in place of tract's own after optimization. tract's runs its SIMD kernels row
//! by row, each call paying for a thread-local scratch buffer and padding to 32 lanes: with
//! rows of a handful of values that is most of a small network's batch. This one computes each
//! row with the ONNX-ML operators' float32 softmax (`ml::transform`), the exponentials of all
//! rows in one vectorized loop.

use anyhow::Context;
use tract_onnx::tract_core::ops::nn::{Softmax, SoftmaxKind};
use tract_onnx::tract_hir::internal::*;

use super::ml::transform::softmax_rows;

/// The longest row the plain loop takes over; longer rows keep tract's SIMD kernels.
const SHORT_ROW: usize = 64;

/// Replaces each float32 softmax over the last, short axis of `model` by [`RowSoftmax`].
pub fn replace_short_softmaxes(model: &mut TypedModel) -> TractResult<()> {
    for id in 0..model.nodes().len() {
        if is_short_row_softmax(model, id)? {
            model.node_mut(id).op = Box::new(RowSoftmax);
        }
    }
    Ok(())
}

fn is_short_row_softmax(model: &TypedModel, id: usize) -> TractResult<bool> {
    let node = model.node(id);
    let Some(softmax) = node.op_as::<Softmax>() else {
        return Ok(false);
    };
    let Some(input) = node.inputs.first() else {
        return Ok(false);
    };
    let fact = model.outlet_fact(*input)?;
    let last = fact.rank().checked_sub(1);
    let row = last.and_then(|axis| fact.shape[axis].to_usize().ok());
    Ok(softmax.kind == SoftmaxKind::Softmax
        && softmax.quant_output_dt.is_none()
        && fact.datum_type == f32::datum_type()
        && last.is_some_and(|axis| *softmax.axes == [axis])
        && row.is_some_and(|row| (1..=SHORT_ROW).contains(&row)))
}

/// The softmax of each row (the last axis) of a float32 tensor.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RowSoftmax;

impl Op for RowSoftmax {
    fn name(&self) -> StaticName {
        "RowSoftmax".into()
    }

    op_as_typed_op!();
}

impl EvalOp for RowSoftmax {
    op_out_of_plan!();

    fn eval(&self, _context: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let mut output = inputs.into_iter().next().context("no input")?.into_tensor();
        let row = *output.shape().last().context("a softmax of a scalar")?;
        anyhow::ensure!(row > 0, "a softmax over an empty axis");
        softmax_rows(output.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?, row);
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for RowSoftmax {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        super::f32_like_first_input(inputs)
    }
}
