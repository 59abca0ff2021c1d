//! The ONNX-ML `ZipMap`, which skl2onnx puts after a classifier by default: it turns the
//! `N × classes` probabilities into a sequence of N maps from class label to probability. tract
//! has neither sequences nor maps, so here the output is the probabilities tensor itself: row i
//! is the map of row i, its columns in the order of the labels the node declares
//! (`classlabels_int64s` or `classlabels_strings`), which the model reads as its class labels.

use anyhow::ensure;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_core::ops::identity::Identity;
use tract_onnx::tract_hir::internal::*;

use super::attributes::Attributes;
use super::class_labels::ClassLabels;

/// Builds a `ZipMap` node.
pub fn build(
    _context: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let attributes = Attributes::new(node, &["classlabels_int64s", "classlabels_strings"])?;
    let classes = ClassLabels::read(&attributes, "classlabels_int64s")?.len();
    Ok((expand(ZipMap { classes }), vec![]))
}

/// The probabilities, passed through as the rows of the maps.
#[derive(Clone, Debug)]
struct ZipMap {
    classes: usize,
}

impl Expansion for ZipMap {
    fn name(&self) -> StaticName {
        "ZipMap".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        super::same_shape_f32_rules(s, inputs, outputs)?;
        s.equals(&inputs[0].datum_type, f32::datum_type())?;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&inputs[0].shape[1], self.classes.to_dim())?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let fact = model.outlet_fact(inputs[0])?;
        if let Some(columns) = fact.shape.last().and_then(|dim| dim.to_usize().ok()) {
            ensure!(
                columns == self.classes,
                "ZipMap: {columns} probabilities for {} class labels",
                self.classes
            );
        }
        model.wire_node(prefix, Identity, inputs)
    }
}
