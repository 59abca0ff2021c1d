//! Arithmetic between a float32 tensor of short rows and either a constant row (a scaler's
//! offsets and scales, a layer's biases) or one value per row (a normalizer's sums), put in
//! place of tract's after optimization. tract runs such a broadcast through its generic strided
//! path when its kernels' thresholds (32 values) cannot be proven for `N` rows; this one is a
//! plain loop over the rows, with the same float32 arithmetic.

use anyhow::{ensure, Context};
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_hir::internal::*;

/// The longest constant row taken over; longer rows keep tract's kernels.
const SHORT_ROW: usize = 32;

/// Replaces each `tensor ⊕ constant row` and `tensor ⊕ value per row` of `model` (`+`, `-`,
/// `×`, `÷`, the tensor first, float32, a short last axis) by [`RowBroadcast`].
pub fn replace_row_broadcasts(model: &mut TypedModel) -> TractResult<()> {
    for id in 0..model.nodes().len() {
        if let Some(op) = row_broadcast(model, id)? {
            model.node_mut(id).op = Box::new(op);
        }
    }
    Ok(())
}

/// The operation of node `id` when it is a float32 tensor ⊕ a constant row or a value per row.
fn row_broadcast(model: &TypedModel, id: usize) -> TractResult<Option<RowBroadcast>> {
    let node = model.node(id);
    let Some(binary) = node.op_as::<TypedBinOp>() else {
        return Ok(None);
    };
    let Some(operation) = Operation::named(binary.0.name()) else {
        return Ok(None);
    };
    let &[tensor, row] = &*node.inputs else {
        return Ok(None);
    };
    let (tensor, other) = (model.outlet_fact(tensor)?, model.outlet_fact(row)?);
    let float = |fact: &TypedFact| fact.datum_type == f32::datum_type();
    let floats = binary.1.is_none()
        && float(tensor)
        && float(other)
        && float(model.outlet_fact(OutletId::new(id, 0))?);
    let per_row = if is_constant_row(tensor, other) {
        false
    } else if is_value_per_row(tensor, other) {
        true
    } else {
        return Ok(None);
    };
    Ok(floats.then_some(RowBroadcast { operation, per_row }))
}

/// Whether `row` is a constant of the length of `tensor`'s last axis, short, broadcast over the
/// other axes.
fn is_constant_row(tensor: &TypedFact, row: &TypedFact) -> bool {
    let width = tensor.shape.last().and_then(|width| width.to_usize().ok());
    row.konst.as_ref().is_some_and(|konst| {
        width.is_some_and(|width| {
            (1..=SHORT_ROW).contains(&width)
                && konst.len() == width
                && konst.shape().last() == Some(&width)
                && konst.rank() <= tensor.rank()
        })
    })
}

/// Whether `values` has `tensor`'s shape but for a last axis of 1, which is short in `tensor`.
fn is_value_per_row(tensor: &TypedFact, values: &TypedFact) -> bool {
    let (Some((width, rows)), Some((one, value_rows))) =
        (tensor.shape.split_last(), values.shape.split_last())
    else {
        return false;
    };
    let short = width
        .to_usize()
        .is_ok_and(|width| (1..=SHORT_ROW).contains(&width));
    short && one.is_one() && rows == value_rows
}

/// The arithmetic applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Operation {
    Add,
    Sub,
    Mul,
    Div,
}

impl Operation {
    /// The operation of tract's binary operator `name`, if one of these.
    fn named(name: &str) -> Option<Self> {
        Some(match name {
            "Add" => Operation::Add,
            "Sub" => Operation::Sub,
            "Mul" => Operation::Mul,
            "Div" => Operation::Div,
            _ => return None,
        })
    }

    /// `values[i] ⊕ row[i]` for each value of `values`, a row long.
    fn apply(self, values: &mut [f32], row: &[f32]) {
        let pairs = values.iter_mut().zip(row);
        match self {
            Operation::Add => pairs.for_each(|(value, by)| *value += by),
            Operation::Sub => pairs.for_each(|(value, by)| *value -= by),
            Operation::Mul => pairs.for_each(|(value, by)| *value *= by),
            Operation::Div => pairs.for_each(|(value, by)| *value /= by),
        }
    }
}

/// A float32 tensor ⊕ a row of its last axis's length, or ⊕ one value per row, row by row.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RowBroadcast {
    operation: Operation,
    /// Whether the second input has one value per row (else it is one row).
    per_row: bool,
}

impl Op for RowBroadcast {
    fn name(&self) -> StaticName {
        format!("Row{:?}", self.operation).into()
    }

    op_as_typed_op!();
}

impl EvalOp for RowBroadcast {
    op_out_of_plan!();

    fn eval(&self, _context: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let mut inputs = inputs.into_iter();
        let (tensor, other) = (inputs.next(), inputs.next());
        let mut output = tensor.context("no input")?.into_tensor();
        let other = other.context("no second input")?;
        let other = other.try_as_plain_ram()?;
        let other = other.as_slice::<f32>()?;
        let width = *output.shape().last().context("a scalar")?;
        ensure!(width > 0, "an empty last axis");
        let rows = output.len() / width;
        let mut values = output.try_as_plain_ram_mut()?;
        let values = values.as_slice_mut::<f32>()?.chunks_exact_mut(width);
        let expected = if self.per_row { rows } else { width };
        ensure!(
            other.len() == expected,
            "{} values to apply to {rows} rows of {width}",
            other.len()
        );
        let operation = self.operation;
        if self.per_row {
            values
                .zip(other)
                .for_each(|(values, &by)| operation.apply(values, &[by; SHORT_ROW][..width]));
        } else {
            values.for_each(|values| operation.apply(values, other));
        }
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for RowBroadcast {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        super::f32_like_first_input(inputs)
    }
}
