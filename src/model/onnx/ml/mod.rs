//! Our operators of the ONNX-ML domain (`ai.onnx.ml`), organised as tract organises its own
//! operator families (`tract-onnx`'s `ops::ml`): a module per operator family, each with a
//! builder (or a `register_all_ops`), and one [`register_all_ops`] for the domain that puts them
//! all into tract's ONNX operator register, in place of tract's operators of the same name.
//!
//! - `tree_ensemble`: `TreeEnsembleRegressor`, `TreeEnsembleClassifier` (ONNX-ML 1 to 3) and
//!   `TreeEnsemble` (ONNX-ML 5);
//! - `linear_classifier`: `LinearClassifier`, with integer or string labels;
//! - `linear_regressor`: `LinearRegressor` without a post transform (tract's builds the others);
//! - `normalizer`: `Normalizer`;
//! - `scaler`: `Scaler`;
//! - `zip_map`: `ZipMap`, whose sequence of maps is represented by its probabilities tensor.
//!
//! Each follows onnxruntime's semantics; their node attributes are read once (`attributes`),
//! and the post transforms are shared (`transform`).

mod attributes;
mod class_labels;
pub(crate) mod linear;
mod linear_classifier;
mod linear_regressor;
mod normalizer;
mod scaler;
pub(crate) mod transform;
mod tree_ensemble;
mod zip_map;

use tract_onnx::model::OnnxOpRegister;
use tract_onnx::tract_core::ops::cast::cast;
use tract_onnx::tract_hir::internal::*;

/// Registers every operator of this domain.
pub fn register_all_ops(reg: &mut OnnxOpRegister) {
    tree_ensemble::register_all_ops(reg);
    reg.insert("LinearClassifier", linear_classifier::build);
    reg.insert("LinearRegressor", linear_regressor::build);
    reg.insert("Normalizer", normalizer::build);
    reg.insert("Scaler", scaler::build);
    reg.insert("ZipMap", zip_map::build);
}

/// The inference rules of an operator of one input and one float32 output of the input's shape.
fn same_shape_f32_rules<'r, 'p: 'r>(
    s: &mut Solver<'r>,
    inputs: &'p [TensorProxy],
    outputs: &'p [TensorProxy],
) -> InferenceResult {
    check_input_arity(inputs, 1)?;
    check_output_arity(outputs, 1)?;
    s.equals(&outputs[0].datum_type, f32::datum_type())?;
    s.equals(&outputs[0].shape, &inputs[0].shape)?;
    Ok(())
}

/// `input` as float32: itself, or a cast of it wired into `model` as `{prefix}.to_f32`.
fn as_f32(model: &mut TypedModel, prefix: &str, input: OutletId) -> TractResult<OutletId> {
    if model.outlet_fact(input)?.datum_type == f32::datum_type() {
        return Ok(input);
    }
    let to_f32 = cast(f32::datum_type());
    Ok(model.wire_node(format!("{prefix}.to_f32"), to_f32, &[input])?[0])
}
