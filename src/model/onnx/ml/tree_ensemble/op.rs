//! The tract side: an inference-time expansion that checks the node's input and output facts,
//! and the typed operator it becomes, which scores every row of its `N × features` input.

use std::sync::Arc;

use anyhow::{ensure, Context};
use tract_onnx::tract_hir::internal::*;

use super::Ensemble;

/// The rows whose leaves are found tree by tree before they are scored.
const BLOCK: usize = 64;

/// The tree of an ensemble of one tree.
const SINGLE_TREE: usize = 0;

/// The most output values a single tree's [`LeafOutputs`] may hold (4 MiB).
const MOST_LEAF_OUTPUTS: usize = 1 << 20;

/// The typed operator: scores each input row with the ensemble.
#[derive(Clone, Debug)]
pub struct TreeEnsembleOp {
    ensemble: Arc<Ensemble>,
    /// For an ensemble of one tree, its outputs for each leaf.
    leaf_outputs: Option<Arc<LeafOutputs>>,
}

/// The finished outputs of an ensemble of a single tree for each of its leaves, computed once
/// by the general path (`Ensemble::score_row` with that leaf): scoring a row is then walking the
/// tree to its leaf and copying them.
#[derive(Debug)]
struct LeafOutputs {
    /// For each node of the node table, its row of output columns (zeros for a branch).
    rows: Vec<f32>,
    /// For each node of the node table, the predicted class when it is the leaf reached.
    classes: Vec<usize>,
}

impl LeafOutputs {
    /// The outputs of `ensemble`'s leaves, when it has a single tree and they are few enough.
    fn of(ensemble: &Ensemble) -> Option<Self> {
        let forest = &ensemble.forest;
        let columns = ensemble.columns();
        let size = forest.nodes().checked_mul(columns)?;
        if forest.trees() != 1 || columns == 0 || size > MOST_LEAF_OUTPUTS {
            return None;
        }
        let mut rows = vec![0.0; size];
        let mut classes = vec![0; forest.nodes()];
        for (node, leaf) in forest.leaf_nodes() {
            let output = &mut rows[node * columns..][..columns];
            classes[node] = ensemble.score_row(&[leaf], output);
        }
        Some(LeafOutputs { rows, classes })
    }
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
        let mut view = scores.try_as_plain_ram_mut()?;
        let output = view.as_slice_mut::<f32>()?;
        let classes = match &self.leaf_outputs {
            Some(leaf_outputs) => self.score_by_leaf(leaf_outputs, (features, width), output),
            None => self.score_tree_by_tree((features, width), output),
        };
        Ok(match self.ensemble.labels() {
            None => tvec!(scores.into_tvalue()),
            Some(labels) => tvec!(labels.tensor(&classes).into_tvalue(), scores.into_tvalue()),
        })
    }
}

impl TreeEnsembleOp {
    /// Scores the rows of `width` features into `output` (one row of columns per row) with every
    /// tree, a block of rows at a time; returns the classes.
    fn score_tree_by_tree(
        &self,
        (features, width): (&[f32], usize),
        output: &mut [f32],
    ) -> Vec<usize> {
        let columns = self.ensemble.columns();
        let mut classes = Vec::with_capacity(features.len() / width);
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
        classes
    }

    /// [`Self::score_tree_by_tree`] for a single tree: each row's outputs are its leaf's.
    fn score_by_leaf(
        &self,
        leaf_outputs: &LeafOutputs,
        (features, width): (&[f32], usize),
        output: &mut [f32],
    ) -> Vec<usize> {
        let columns = self.ensemble.columns();
        let mut classes = Vec::with_capacity(features.len() / width);
        let forest = &self.ensemble.forest;
        forest.reach(SINGLE_TREE, (features, width), |row, node| {
            output[row * columns..][..columns]
                .copy_from_slice(&leaf_outputs.rows[node * columns..][..columns]);
            classes.push(leaf_outputs.classes[node]);
        });
        classes
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
        let leaf_outputs = LeafOutputs::of(&ensemble).map(Arc::new);
        TreeEnsembleExpansion {
            op: TreeEnsembleOp {
                ensemble: Arc::new(ensemble),
                leaf_outputs,
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

#[cfg(test)]
mod tests {
    use tract_onnx::pb::NodeProto;

    use super::super::attributes;
    use super::*;

    /// The tree ensembles of a single tree in the ONNX files of `data/onnx` and its folders.
    fn single_trees() -> Vec<(String, Ensemble)> {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/data/onnx");
        let folders = ["", "/handmade", "/ml"].map(|folder| format!("{root}{folder}"));
        let entries = folders
            .iter()
            .flat_map(|folder| std::fs::read_dir(folder).expect("the fixtures"));
        let onnx = tract_onnx::onnx();
        let mut trees = Vec::new();
        for path in entries.map(|entry| entry.expect("an entry").path()) {
            if path.extension() != Some("onnx".as_ref()) {
                continue;
            }
            let bytes = std::fs::read(&path).expect("a fixture");
            let proto = onnx.proto_model_for_read(&mut &*bytes).expect("a model");
            let nodes = proto.graph.iter().flat_map(|graph| &graph.node);
            for ensemble in nodes.filter_map(ensemble_of) {
                if ensemble.forest.trees() == 1 {
                    trees.push((path.display().to_string(), ensemble));
                }
            }
        }
        trees
    }

    fn ensemble_of(node: &NodeProto) -> Option<Ensemble> {
        match node.op_type.as_str() {
            "TreeEnsembleClassifier" => attributes::classifier(node).ok(),
            "TreeEnsembleRegressor" => attributes::regressor(node).ok(),
            _ => None,
        }
    }

    /// The 11 features of each row of the bundled wine data (read here: the dataset module
    /// lies above this one).
    fn wine_rows() -> Vec<Vec<f32>> {
        let text = include_str!("../../../../../data/winequality-red.csv");
        let numbers = |line: &str| -> Vec<f32> {
            line.split(',')
                .take(11)
                .map(|cell| cell.trim().parse().expect("a number"))
                .collect()
        };
        text.lines().skip(1).map(numbers).collect()
    }

    #[test]
    fn a_single_tree_scored_by_its_leaves_outputs_what_the_trees_give() {
        let samples = wine_rows();
        let trees = single_trees();
        assert!(trees.len() >= 2, "only {} single trees", trees.len());
        for (path, ensemble) in trees {
            let width = ensemble.forest.features_needed().max(1);
            let mut features: Vec<f32> = samples
                .iter()
                .flat_map(|row| (0..width).map(|index| row[index % row.len()]))
                .collect();
            features[..width].fill(f32::NAN);
            let columns = ensemble.columns();
            let op = TreeEnsembleExpansion::new(ensemble).op;
            let leaf_outputs = op
                .leaf_outputs
                .clone()
                .expect("a single tree's leaf outputs");
            let (mut by_leaf, mut by_tree) = (
                vec![0.0; samples.len() * columns],
                vec![0.0; samples.len() * columns],
            );
            let leaf_classes = op.score_by_leaf(&leaf_outputs, (&features, width), &mut by_leaf);
            let tree_classes = op.score_tree_by_tree((&features, width), &mut by_tree);
            assert_eq!(leaf_classes, tree_classes, "{path}");
            let mut same = by_leaf.iter().zip(&by_tree);
            assert!(same.all(|(a, b)| a.to_bits() == b.to_bits()), "{path}");
        }
    }
}
