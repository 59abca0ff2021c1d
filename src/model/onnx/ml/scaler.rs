//! The ONNX-ML `Scaler`, which skl2onnx writes for a `StandardScaler` by default:
//! `Y = (X - offset) * scale` per column, in float32 (an input of another type is cast first),
//! as onnxruntime computes it. `offset` and `scale` each have one value per column, or one for
//! all; both are required. It becomes tract's own subtraction and multiplication by constants.

use anyhow::ensure;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_core::ops::math;
use tract_onnx::tract_hir::internal::*;

use super::attributes::Attributes;

/// Builds a `Scaler` node.
pub fn build(
    _context: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let attributes = Attributes::new(node, &["offset", "scale"])?;
    let offset = attributes.floats("offset")?.to_vec();
    let scale = attributes.floats("scale")?.to_vec();
    ensure!(
        !offset.is_empty() && !scale.is_empty(),
        "Scaler needs both `offset` and `scale`"
    );
    Ok((expand(Scaler { offset, scale }), vec![]))
}

/// `(X - offset) * scale`.
#[derive(Clone, Debug)]
struct Scaler {
    offset: Vec<f32>,
    scale: Vec<f32>,
}

impl Scaler {
    /// A constant of `values` shaped to broadcast over the last axis of a rank-`rank` input.
    fn constant(
        model: &mut TypedModel,
        name: String,
        values: &[f32],
        rank: usize,
    ) -> TractResult<OutletId> {
        let mut shape = vec![1; rank];
        shape[rank - 1] = values.len();
        model.add_const(name, tensor1(values).into_shape(&shape)?)
    }

    fn check_columns(&self, columns: usize) -> TractResult<()> {
        for (name, values) in [("offset", &self.offset), ("scale", &self.scale)] {
            ensure!(
                values.len() == 1 || values.len() == columns,
                "Scaler: {name} has {} values for {columns} columns",
                values.len()
            );
        }
        Ok(())
    }
}

impl Expansion for Scaler {
    fn name(&self) -> StaticName {
        "Scaler".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        super::same_shape_f32_rules(s, inputs, outputs)
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let fact = model.outlet_fact(inputs[0])?.clone();
        let rank = fact.rank();
        ensure!(rank >= 1, "Scaler takes an input of one axis or more");
        if let Ok(columns) = fact.shape[rank - 1].to_usize() {
            self.check_columns(columns)?;
        }
        let input = super::as_f32(model, prefix, inputs[0])?;
        let offset = Self::constant(model, format!("{prefix}.offset"), &self.offset, rank)?;
        let scale = Self::constant(model, format!("{prefix}.scale"), &self.scale, rank)?;
        let centred = model.wire_node(format!("{prefix}.sub"), math::sub(), &[input, offset])?[0];
        model.wire_node(prefix, math::mul(), &[centred, scale])
    }
}
