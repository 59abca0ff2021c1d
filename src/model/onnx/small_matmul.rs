//! The product of a float32 tensor of rows by a small constant matrix (a dense layer's weights),
//! put in place of tract's `EinSum` before optimization, in ONNX and TensorFlow graphs alike.
//! tract packs the rows for its matrix kernel at every run and writes the product tile by tile,
//! partly through its border tiles when the matrix has few columns, which costs more than the
//! products themselves for a layer of a few dozen weights per row; this one computes each row's
//! outputs side by side ([`Coefficients::scores_rows`]), with the layer's bias when an addition
//! of a constant row follows, and its rectifier (`max(x, 0)`, tract's ReLU) when one follows
//! that: tract fuses those into its own kernel, and would run them alone, through its generic
//! broadcast, after ours.

use anyhow::{ensure, Context};
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_hir::internal::*;

use super::ml::linear::Coefficients;

/// The most weights taken over; larger matrices keep tract's kernels.
const SMALL: usize = 64 * 64;

/// Replaces each `rows × constant matrix` of `model` (float32, at most [`SMALL`] weights) by
/// [`SmallMatMul`], with the constant row added to its product, if any, as its intercepts.
pub fn replace_small_matmuls(model: &mut TypedModel) -> TractResult<()> {
    for id in 0..model.nodes().len() {
        let Some(weights) = small_matrix(model, id)? else {
            continue;
        };
        let (features, targets) = (weights.shape()[0], weights.shape()[1]);
        let bias = added_row(model, id, targets)?;
        let by_target = (*weights).clone().permute_axes(&[1, 0])?;
        let coefficients = by_target.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
        ensure!(
            coefficients.len() == targets * features,
            "a {features} × {targets} matrix"
        );
        let (mut replaced, intercepts) = match bias {
            Some((add, row)) => (OutletId::new(add, 0), row),
            None => (OutletId::new(id, 0), vec![0.0; targets]),
        };
        let rectified = rectifier(model, replaced.node)?;
        if let Some(rectifier) = rectified {
            replaced = OutletId::new(rectifier, 0);
        }
        let op = SmallMatMul {
            coefficients: Arc::new(Coefficients::new(&coefficients, intercepts)?),
            rectified: rectified.is_some(),
        };
        let node = model.node(id);
        let mut patch = TypedModelPatch::default();
        let rows = patch.tap_model(model, node.inputs[0])?;
        let product = patch.wire_node(&node.name, op, &[rows])?[0];
        patch.shunt_outside(model, replaced, product)?;
        patch.apply(model)?;
    }
    model.compact()
}

/// The constant matrix of node `id` when it is a float32 `mk,kn->mn` product of rows by a small
/// constant.
fn small_matrix(model: &TypedModel, id: usize) -> TractResult<Option<Arc<Tensor>>> {
    let node = model.node(id);
    let Some(einsum) = node.op_as::<EinSum>() else {
        return Ok(None);
    };
    let &[rows, matrix] = &*node.inputs else {
        return Ok(None);
    };
    let plain = einsum.q_params.is_none()
        && einsum.operating_dt == f32::datum_type()
        && einsum.axes.to_string() == "mk,kn->mn";
    let (rows, matrix) = (model.outlet_fact(rows)?, model.outlet_fact(matrix)?);
    let Some(weights) = matrix.konst.clone().filter(|_| plain) else {
        return Ok(None);
    };
    let fits = weights.rank() == 2
        && weights.datum_type() == f32::datum_type()
        && (1..=SMALL).contains(&weights.len())
        && rows.datum_type == f32::datum_type()
        && rows.rank() == 2;
    Ok(fits.then_some(weights))
}

/// The one node that uses node `id`'s output, when it is tract's binary operator `name` with
/// that output first and a constant second; with the constant.
fn applied_constant(model: &TypedModel, id: usize, name: &str) -> Option<(usize, Arc<Tensor>)> {
    let &[only] = &*model.node(id).outputs[0].successors else {
        return None;
    };
    let next = model.node(only.node);
    let binary = next.op_as::<TypedBinOp>()?;
    let &[first, second] = &*next.inputs else {
        return None;
    };
    let applied = binary.0.name() == name && binary.1.is_none() && first == OutletId::new(id, 0);
    let constant = model.outlet_fact(second).ok()?.konst.clone()?;
    applied.then_some((next.id, constant))
}

/// The node of `max(output of node id, 0)` (a ReLU), when that is the one use of the output.
fn rectifier(model: &TypedModel, id: usize) -> TractResult<Option<usize>> {
    let Some((max, zero)) = applied_constant(model, id, "Max") else {
        return Ok(None);
    };
    let zero = zero.len() == 1
        && zero.datum_type() == f32::datum_type()
        && zero.try_as_plain_ram()?.as_slice::<f32>()? == [0.0];
    Ok(zero.then_some(max))
}

/// The node and the values of `product + constant row of width` when that is the one use of
/// node `id`'s output.
fn added_row(
    model: &TypedModel,
    id: usize,
    width: usize,
) -> TractResult<Option<(usize, Vec<f32>)>> {
    let Some((add, row)) = applied_constant(model, id, "Add") else {
        return Ok(None);
    };
    let row_of_width = row.datum_type() == f32::datum_type()
        && row.len() == width
        && row.shape().last() == Some(&width)
        && row.rank() <= 2;
    if !row_of_width {
        return Ok(None);
    }
    Ok(Some((
        add,
        row.try_as_plain_ram()?.as_slice::<f32>()?.to_vec(),
    )))
}

/// The product of each row of the input by the weights, plus the bias, row by row; then, for a
/// layer of rectified units, `max(value, 0)`.
#[derive(Clone, Debug)]
pub struct SmallMatMul {
    coefficients: Arc<Coefficients>,
    rectified: bool,
}

impl PartialEq for SmallMatMul {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.coefficients, &other.coefficients) && self.rectified == other.rectified
    }
}

impl Eq for SmallMatMul {}

impl Op for SmallMatMul {
    fn name(&self) -> StaticName {
        "SmallMatMul".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} features to {} outputs{}",
            self.coefficients.features(),
            self.coefficients.targets(),
            if self.rectified { ", rectified" } else { "" }
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for SmallMatMul {
    op_out_of_plan!();

    fn eval(&self, _context: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs.first().context("no input")?;
        let rectified = self.rectified;
        let output = self
            .coefficients
            .score_tensor("SmallMatMul", input, |products| {
                if rectified {
                    products
                        .iter_mut()
                        .for_each(|value| *value = value.max(0.0));
                }
            })?;
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for SmallMatMul {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs.first().context("no input")?;
        Ok(tvec!(f32::fact([
            input.shape[0].clone(),
            self.coefficients.targets().to_dim()
        ])))
    }
}

#[cfg(test)]
mod tests {
    use tract_onnx::tract_core::ops::math;

    use super::*;

    /// `max(rows × weights + bias, 0)` over rows of 3, with 2 outputs, as tract wires a dense
    /// layer; optionally without its bias and rectifier.
    fn dense_layer(bias_and_relu: bool) -> TractResult<TypedModel> {
        let mut model = TypedModel::default();
        let rows = model.sym("N");
        let input = model.add_source("rows", f32::fact([rows.to_dim(), 3.to_dim()]))?;
        let weights = tensor2(&[[0.5f32, -1.25], [2.0, 0.75], [-0.5, 1.5]]);
        let weights = model.add_const("weights", weights)?;
        let axes = AxesMapping::for_numpy_matmul(2, false, false, false)?;
        let einsum = EinSum::new(axes, f32::datum_type());
        let mut output = model.wire_node("product", einsum, &[input, weights])?;
        if bias_and_relu {
            let bias = model.add_const("bias", tensor2(&[[0.25f32, -3.0]]))?;
            output = model.wire_node("biased", math::add(), &[output[0], bias])?;
            let zero = model.add_const("zero", tensor2(&[[0.0f32]]))?;
            output = model.wire_node("relu", math::max(), &[output[0], zero])?;
        }
        model.select_output_outlets(&output)?;
        Ok(model)
    }

    fn run(model: TypedModel, rows: &[f32]) -> TractResult<Vec<f32>> {
        let input = Tensor::from_shape(&[rows.len() / 3, 3], rows)?;
        let outputs = model.into_runnable()?.run(tvec!(input.into()))?;
        Ok(outputs[0].try_as_plain_ram()?.as_slice::<f32>()?.to_vec())
    }

    #[test]
    fn a_dense_layer_gives_what_tract_gives() -> TractResult<()> {
        let rows: Vec<f32> = (0..3 * 13).map(|i| (i % 7) as f32 * 0.9 - 2.5).collect();
        for bias_and_relu in [false, true] {
            let mut replaced = dense_layer(bias_and_relu)?.into_decluttered()?;
            replace_small_matmuls(&mut replaced)?;
            let names: Vec<String> = replaced
                .nodes()
                .iter()
                .map(|n| n.op.name().into())
                .collect();
            assert!(names.contains(&"SmallMatMul".to_string()), "{names:?}");
            let folded = ["Add", "Max", "EinSum"].map(String::from);
            assert!(!names.iter().any(|name| folded.contains(name)), "{names:?}");
            let tract_own = run(dense_layer(bias_and_relu)?.into_optimized()?, &rows)?;
            assert_eq!(run(replaced.into_optimized()?, &rows)?, tract_own);
        }
        Ok(())
    }
}
