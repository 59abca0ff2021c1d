//! The ONNX-ML `Normalizer`, which skl2onnx writes after a logistic regression's softmax: each
//! row (the last axis) divided by its norm, `MAX` (the largest magnitude, the default), `L1`
//! (the sum of magnitudes) or `L2` (multiplied by the inverse square root of the sum of
//! squares), the norm at least 1e-12, in float32 (an input of another type is cast first).
//! These are the formulas of tract's own `Normalizer`, which this replaces: tract's is a chain
//! of a reduction, a clamp and a broadcast division run through its generic paths, most of the
//! cost of a small classifier's batch; this one is one loop over the rows.

use anyhow::{bail, Context};
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::attributes::Attributes;

/// The smallest norm a row is divided by.
const SMALLEST_NORM: f32 = 1e-12;

/// Builds a `Normalizer` node.
pub fn build(
    _context: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let attributes = Attributes::new(node, &["norm"])?;
    let norm = Norm::named(attributes.string("norm")?.unwrap_or("MAX"))?;
    Ok((expand(NormalizerExpansion(Normalizer(norm))), vec![]))
}

/// The norm a row is divided by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Norm {
    /// The largest magnitude.
    Max,
    /// The sum of magnitudes.
    L1,
    /// The square root of the sum of squares.
    L2,
}

impl Norm {
    fn named(name: &str) -> TractResult<Self> {
        Ok(match name.to_ascii_uppercase().as_str() {
            "MAX" => Norm::Max,
            "L1" => Norm::L1,
            "L2" => Norm::L2,
            other => bail!("Normalizer: `{other}` is not a norm (MAX, L1 or L2)"),
        })
    }

    /// Normalizes one row in place.
    fn apply(self, row: &mut [f32]) {
        let norm = match self {
            Norm::Max => row
                .iter()
                .fold(f32::NEG_INFINITY, |max, v| max.max(v.abs())),
            Norm::L1 => row.iter().fold(0.0f32, |sum, value| sum + value.abs()),
            Norm::L2 => {
                let squares = row.iter().fold(0.0f32, |sum, value| sum + value * value);
                let inverse = squares.max(SMALLEST_NORM).sqrt().recip();
                row.iter_mut().for_each(|value| *value *= inverse);
                return;
            }
        };
        let norm = norm.max(SMALLEST_NORM);
        row.iter_mut().for_each(|value| *value /= norm);
    }
}

/// The typed operator: normalizes each row (the last axis) of its float32 input.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Normalizer(Norm);

impl Op for Normalizer {
    fn name(&self) -> StaticName {
        "Normalizer".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{:?}", self.0)])
    }

    op_as_typed_op!();
}

impl EvalOp for Normalizer {
    op_out_of_plan!();

    fn eval(&self, _context: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let mut output = inputs.into_iter().next().context("no input")?.into_tensor();
        let Some(&row) = output.shape().last() else {
            bail!("Normalizer takes an input of one axis or more");
        };
        if row > 0 {
            output
                .try_as_plain_ram_mut()?
                .as_slice_mut::<f32>()?
                .chunks_exact_mut(row)
                .for_each(|values| self.0.apply(values));
        }
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for Normalizer {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        super::super::f32_like_first_input(inputs)
    }
}

/// The inference-time form, which casts a non-float input to float32.
#[derive(Clone, Debug)]
struct NormalizerExpansion(Normalizer);

impl Expansion for NormalizerExpansion {
    fn name(&self) -> StaticName {
        "Normalizer".into()
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
        anyhow::ensure!(
            model.outlet_fact(inputs[0])?.rank() >= 1,
            "Normalizer takes an input of one axis or more"
        );
        let input = super::as_f32(model, prefix, inputs[0])?;
        model.wire_node(prefix, self.0.clone(), &[input])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_divided_by_their_norm() {
        let normalized = |norm: Norm, mut row: [f32; 3]| {
            norm.apply(&mut row);
            row
        };
        assert_eq!(normalized(Norm::L1, [1.0, -3.0, 4.0]), [0.125, -0.375, 0.5]);
        assert_eq!(normalized(Norm::Max, [1.0, -4.0, 2.0]), [0.25, -1.0, 0.5]);
        assert_eq!(normalized(Norm::L2, [3.0, 0.0, -4.0]), [0.6, 0.0, -0.8]);
        assert_eq!(normalized(Norm::L1, [0.0; 3]), [0.0; 3]);
    }
}
