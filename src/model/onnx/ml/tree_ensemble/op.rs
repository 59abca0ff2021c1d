//! The tract side: an inference-time expansion that checks the node's input and output facts,
//! and the typed operator it becomes, which scores every row of its `N × features` input.

use std::sync::Arc;

use anyhow::{ensure, Context};
use tract_onnx::tract_hir::internal::*;

use super::Ensemble;

/// The rows whose leaves are found tree by tree before they are scored.
const BLOCK: usize = 64;

/// The typed operator: scores each input row with the ensemble.
#[derive(Clone, Debug)]
pub struct TreeEnsembleOp {
    ensemble: Arc<Ensemble>,
}

impl PartialEq for TreeEnsembleOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.ensemble, &other.ensemble)
    }
}

impl Eq for TreeEnsembleOp {}

impl TreeEnsembleOp {
    /// The rows and features of an input shape, checked against what the trees read.
    fn input_rows(&self, shape: &[usize]) -> TractResult<(usize, usize)> {
        let &[rows, features] = shape else {
            anyhow::bail!(
                "{} takes a 2-D input, not {shape:?}",
                self.ensemble.operator
            );
        };
        self.check_features(features)?;
        ensure!(
            features > 0,
            "{} takes at least one feature",
            self.ensemble.operator
        );
        Ok((rows, features))
    }

    fn check_features(&self, features: usize) -> TractResult<()> {
        let needed = self.ensemble.forest.features_needed();
        ensure!(
            features >= needed,
            "{}: the input has {features} features, but the trees read feature {}",
            self.ensemble.operator,
            needed - 1
        );
        Ok(())
    }
}

impl Op for TreeEnsembleOp {
    fn name(&self) -> StaticName {
        self.ensemble.operator.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{:?}", self.ensemble)])
    }

    op_as_typed_op!();
}

impl EvalOp for TreeEnsembleOp {
    op_out_of_plan!();

    fn eval(&self, _context: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs.first().context("no input")?;
        let (rows, width) = self.input_rows(input.shape())?;
        let features = input.try_as_plain_ram()?.as_slice::<f32>()?;
        let columns = self.ensemble.columns();
        let mut scores = Tensor::zero::<f32>(&[rows, columns])?;
        let mut classes: TVec<usize> = TVec::with_capacity(rows);
        let mut view = scores.try_as_plain_ram_mut()?;
        let output = view.as_slice_mut::<f32>()?;
        let (trees, mut leaves) = (self.ensemble.forest.trees(), Vec::new());
        let blocks = features
            .chunks(BLOCK * width)
            .zip(output.chunks_mut(BLOCK * columns));
        for (block, output) in blocks {
            self.ensemble.forest.block_leaves(block, width, &mut leaves);
            let rows = leaves
                .chunks_exact(trees)
                .zip(output.chunks_exact_mut(columns));
            for (leaves, output) in rows {
                classes.push(self.ensemble.score_row(leaves, output));
            }
        }
        Ok(match self.ensemble.labels() {
            None => tvec!(scores.into_tvalue()),
            Some(labels) => tvec!(labels.tensor(&classes).into_tvalue(), scores.into_tvalue()),
        })
    }
}

impl TypedOp for TreeEnsembleOp {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs.first().context("no input")?;
        let operator = self.ensemble.operator;
        ensure!(
            input.datum_type == f32::datum_type(),
            "{operator} takes float32 features, not {:?}",
            input.datum_type
        );
        ensure!(input.rank() == 2, "{operator} takes a 2-D input");
        if let Ok(features) = input.shape[1].to_usize() {
            self.check_features(features)?;
        }
        let rows = input.shape[0].clone();
        let scores = f32::fact([rows.clone(), self.ensemble.columns().to_dim()]);
        Ok(match self.ensemble.labels() {
            None => tvec!(scores),
            Some(labels) => tvec!(labels.datum_type().fact([rows]), scores),
        })
    }
}

/// The inference-time form of [`TreeEnsembleOp`], which is what the ONNX parser builds.
#[derive(Clone, Debug)]
pub struct TreeEnsembleExpansion {
    op: TreeEnsembleOp,
}

impl TreeEnsembleExpansion {
    /// Wraps an ensemble read from its node.
    pub fn new(ensemble: Ensemble) -> Self {
        TreeEnsembleExpansion {
            op: TreeEnsembleOp {
                ensemble: Arc::new(ensemble),
            },
        }
    }
}

impl Expansion for TreeEnsembleExpansion {
    fn name(&self) -> StaticName {
        self.op.ensemble.operator.into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(if self.op.ensemble.labels().is_some() {
            2
        } else {
            1
        })
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, self.nboutputs()?)?;
        let input = &inputs[0];
        s.equals(&input.rank, 2)?;
        let scores = outputs.last().expect("one output or more");
        s.equals(&scores.datum_type, f32::datum_type())?;
        s.equals(&scores.rank, 2)?;
        s.equals(&scores.shape[0], &input.shape[0])?;
        s.equals(&scores.shape[1], self.op.ensemble.columns().to_dim())?;
        if let Some(labels) = self.op.ensemble.labels() {
            let label = &outputs[0];
            s.equals(&label.datum_type, labels.datum_type())?;
            s.equals(&label.rank, 1)?;
            s.equals(&label.shape[0], &input.shape[0])?;
        }
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.op.clone(), inputs)
    }
}
