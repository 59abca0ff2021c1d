//! Our operators of the ONNX-ML domain (`ai.onnx.ml`), organised as tract organises its own
//! operator families (`tract-onnx`'s `ops::ml`): a module per operator family, each with a
//! `register_all_ops`, and one [`register_all_ops`] for the domain that puts them all into
//! tract's ONNX operator register, in place of tract's operators of the same name.

mod tree_ensemble;

use tract_onnx::model::OnnxOpRegister;

/// Registers every operator of this domain.
pub fn register_all_ops(reg: &mut OnnxOpRegister) {
    tree_ensemble::register_all_ops(reg);
}
