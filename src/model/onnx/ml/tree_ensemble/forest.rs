//! The trees of an ensemble in flat arrays: one table of nodes whose children are indices into
//! it, the same nodes as steps that pick a child without a branch (walked eight rows side by
//! side), and one table of leaf weights that every leaf addresses as a contiguous range. Walking
//! a tree reads nothing else and allocates nothing.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use anyhow::{bail, ensure, Context, Result};

/// How a branch compares a feature with its threshold (the `BRANCH_*` node modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// `BRANCH_LEQ`: true when `feature <= threshold`.
    LessOrEqual,
    /// `BRANCH_LT`: true when `feature < threshold`.
    Less,
    /// `BRANCH_GTE`: true when `feature >= threshold`.
    GreaterOrEqual,
    /// `BRANCH_GT`: true when `feature > threshold`.
    Greater,
    /// `BRANCH_EQ`: true when `feature == threshold`.
    Equal,
    /// `BRANCH_NEQ`: true when `feature != threshold` (so also when the feature is NaN).
    NotEqual,
}

/// Whether a branch comparing `feature` with `threshold` by `comparison` sends a row to its true
/// child, a NaN feature also when `missing_goes_true`: the one rule both walks follow.
fn goes_true(
    comparison: Comparison,
    missing_goes_true: bool,
    feature: f32,
    threshold: f32,
) -> bool {
    comparison.holds(feature, threshold) || missing_goes_true && feature.is_nan()
}

impl Comparison {
    fn holds(self, feature: f32, threshold: f32) -> bool {
        match self {
            Comparison::LessOrEqual => feature <= threshold,
            Comparison::Less => feature < threshold,
            Comparison::GreaterOrEqual => feature >= threshold,
            Comparison::Greater => feature > threshold,
            Comparison::Equal => feature == threshold,
            Comparison::NotEqual => feature != threshold,
        }
    }
}

/// What a node of the ONNX node table is (its `nodes_modes` entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeMode {
    /// `LEAF`.
    Leaf,
    /// One of the `BRANCH_*` modes.
    Branch(Comparison),
}

/// The node and weight tables of an ONNX tree ensemble, one entry per node and per weight, as its
/// attributes list them (all node columns of equal length, all weight columns of equal length).
#[derive(Clone, Debug, Default)]
pub struct Tables {
    /// `nodes_treeids`.
    pub tree_ids: Vec<i64>,
    /// `nodes_nodeids`.
    pub node_ids: Vec<i64>,
    /// `nodes_modes`.
    pub modes: Vec<NodeMode>,
    /// `nodes_featureids`.
    pub features: Vec<i64>,
    /// `nodes_values`: a branch's threshold (and, for a single target, the value of a leaf that
    /// has no weight).
    pub values: Vec<f32>,
    /// `nodes_truenodeids`.
    pub true_ids: Vec<i64>,
    /// `nodes_falsenodeids`.
    pub false_ids: Vec<i64>,
    /// `nodes_missing_value_tracks_true`: whether a NaN feature takes the true branch.
    pub missing_true: Vec<bool>,
    /// `target_treeids` / `class_treeids`.
    pub weight_trees: Vec<i64>,
    /// `target_nodeids` / `class_nodeids`.
    pub weight_nodes: Vec<i64>,
    /// `target_ids` / `class_ids`.
    pub weight_targets: Vec<i64>,
    /// `target_weights` / `class_weights`.
    pub weight_values: Vec<f32>,
}

/// One node of the flat node table.
#[derive(Clone, Copy, Debug)]
enum Node {
    Branch {
        feature: u32,
        threshold: f32,
        comparison: Comparison,
        missing_goes_true: bool,
        if_true: u32,
        if_false: u32,
    },
    Leaf {
        first_weight: u32,
        end_weight: u32,
    },
}

/// A node as the walks read it (16 bytes): the child a row goes to is picked by arithmetic, not
/// by a branch, so that the walks of [`LANES`] rows overlap instead of each waiting on a
/// mispredicted jump. A leaf's children are itself, so that a walk that reached it stays.
#[derive(Clone, Copy, Debug)]
struct Step {
    /// The feature compared (the low [`FEATURE_BITS`] bits); above them one bit per outcome of
    /// the comparison, set when that outcome takes the true child (the feature below the
    /// threshold, equal to it, above it, NaN); and the top bit, [`LEAF`], set on a leaf.
    feature_and_outcomes: u32,
    threshold: f32,
    /// The false child, then the true child.
    children: [u32; 2],
}

/// The bits of [`Step::feature_and_outcomes`] that hold the feature.
const FEATURE_BITS: u32 = 27;

/// The bit of [`Step::feature_and_outcomes`] set on a leaf.
const LEAF: u32 = 1 << 31;

/// The rows walked side by side through a tree.
const LANES: usize = 8;

/// The deepest tree walked a fixed number of steps, with no check for the end.
const MOST_BLIND_STEPS: u32 = 8;

impl Step {
    /// The walk step of `node`, at `index` of the node table.
    fn of(node: &Node, index: u32) -> Step {
        match *node {
            Node::Leaf { .. } => Step {
                feature_and_outcomes: LEAF,
                threshold: 0.0,
                children: [index; 2],
            },
            Node::Branch {
                feature,
                threshold,
                comparison,
                missing_goes_true,
                if_true,
                if_false,
            } => {
                let rule = |feature, threshold| {
                    goes_true(comparison, missing_goes_true, feature, threshold)
                };
                let outcomes = [
                    rule(0.0, 1.0),
                    rule(1.0, 1.0),
                    rule(1.0, 0.0),
                    rule(f32::NAN, 0.0),
                ];
                let taken = (0..4).filter(|&bit| outcomes[bit]).map(|bit| 1 << bit);
                Step {
                    feature_and_outcomes: feature | taken.sum::<u32>() << FEATURE_BITS,
                    threshold,
                    children: [if_false, if_true],
                }
            }
        }
    }

    /// The node `row` goes to from this one.
    #[inline(always)]
    fn next(&self, row: &[f32]) -> u32 {
        let value = row[(self.feature_and_outcomes & ((1 << FEATURE_BITS) - 1)) as usize];
        let outcome = u32::from(value == self.threshold)
            + 2 * u32::from(value > self.threshold)
            + 3 * u32::from(value.is_nan());
        let goes_true = (self.feature_and_outcomes >> (FEATURE_BITS + outcome)) & 1 == 1;
        self.children[usize::from(goes_true)]
    }

    /// Whether this node is a leaf.
    fn is_leaf(&self) -> bool {
        self.feature_and_outcomes & LEAF != 0
    }
}

/// The leaf a tree reaches: its range of the weight table.
#[derive(Clone, Copy, Debug, Default)]
pub struct Leaf {
    first_weight: u32,
    end_weight: u32,
}

/// What a leaf adds to one output column (a target or a class).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weight {
    /// The column.
    pub column: u32,
    /// The amount.
    pub value: f32,
}

/// A tree ensemble ready to walk.
#[derive(Clone, Debug)]
pub struct Forest {
    nodes: Vec<Node>,
    /// The nodes as the walks read them, one per node.
    steps: Vec<Step>,
    roots: Vec<u32>,
    /// The depth of each tree: the most steps from its root to a leaf.
    depths: Vec<u32>,
    weights: Vec<Weight>,
    features_needed: usize,
}

impl Forest {
    /// Builds the flat tables from the ONNX ones, for `columns` output columns.
    ///
    /// As in onnxruntime: a tree's root is its first listed node; weights are attached to their
    /// leaves in (tree, node, listing) order, and weights on branch nodes are ignored; with a
    /// single column a leaf contributes only its first weight, or its `nodes_values` entry when it
    /// has none. Children may be shared (LightGBM's chains of `BRANCH_EQ`), but every node must
    /// be reachable from its tree's root and no path may loop.
    pub fn build(tables: &Tables, columns: usize) -> Result<Forest> {
        let positions = node_positions(tables)?;
        let roots = tree_roots(&tables.tree_ids)?;
        let mut nodes = tables
            .modes
            .iter()
            .enumerate()
            .map(|(index, mode)| branch_node(tables, &positions, index, *mode))
            .collect::<Result<Vec<_>>>()?;
        let weights = attach_weights(tables, &positions, &mut nodes, columns)?;
        let depths = Self::tree_depths(&nodes, &roots, tables)?;
        let steps = (0..).zip(&nodes).map(|(index, node)| Step::of(node, index));
        Ok(Forest {
            features_needed: features_needed(&nodes),
            steps: steps.collect(),
            depths,
            nodes,
            roots,
            weights,
        })
    }

    /// The number of trees.
    pub fn trees(&self) -> usize {
        self.roots.len()
    }

    /// The number of nodes.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// How many features a row must have (one more than the highest feature a branch reads).
    pub fn features_needed(&self) -> usize {
        self.features_needed
    }

    /// The leaf that each tree reaches for each row of `block` (rows of `width` features, one
    /// after another), written as `leaves[row * trees + tree]`: a leaf's weights are then
    /// [`Self::weights`]. Each tree is walked for the whole block before the next, so that its
    /// nodes stay in cache.
    pub fn block_leaves(&self, block: &[f32], width: usize, leaves: &mut Vec<Leaf>) {
        let trees = self.roots.len();
        leaves.clear();
        leaves.resize(block.len() / width * trees, Leaf::default());
        if block.len() == width {
            for (leaf, &root) in leaves.iter_mut().zip(&self.roots) {
                *leaf = self.leaf_at(self.walk(root, block));
            }
            return;
        }
        for tree in 0..trees {
            self.reach(tree, (block, width), |row, node| {
                leaves[row * trees + tree] = self.leaf_at(node);
            });
        }
    }

    /// The weights of `leaf`, one that [`Self::block_leaves`] gave.
    pub fn weights(&self, leaf: Leaf) -> &[Weight] {
        &self.weights[leaf.first_weight as usize..leaf.end_weight as usize]
    }

    /// Every leaf of the node table, with its node's index.
    pub fn leaf_nodes(&self) -> impl Iterator<Item = (usize, Leaf)> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(index, node)| match *node {
                Node::Leaf {
                    first_weight,
                    end_weight,
                } => Some((
                    index,
                    Leaf {
                        first_weight,
                        end_weight,
                    },
                )),
                Node::Branch { .. } => None,
            })
    }

    /// Walks tree `tree` for each of `rows` (of `width` features, one after another) and gives
    /// `reached` each row's number and the node (an index into the node table, one of
    /// [`Self::leaf_nodes`]) of the leaf it reaches, in row order. [`LANES`] rows walk side by
    /// side, one step each in turn: as many steps as the tree is deep when it is shallow (a row
    /// on a leaf stays there), else until all of them are on leaves.
    pub fn reach(
        &self,
        tree: usize,
        (rows, width): (&[f32], usize),
        mut reached: impl FnMut(usize, usize),
    ) {
        let (root, depth) = (self.roots[tree], self.depths[tree]);
        for (group, block) in rows.chunks(LANES * width).enumerate() {
            let lanes = block.len() / width;
            let mut at = [root; LANES];
            let next = |at: u32, lane: usize| {
                self.steps[at as usize].next(&block[lane * width..][..width])
            };
            if depth <= MOST_BLIND_STEPS {
                for _ in 0..depth {
                    for (lane, at) in at.iter_mut().enumerate().take(lanes) {
                        *at = next(*at, lane);
                    }
                }
            } else {
                let mut walking = true;
                while walking {
                    walking = false;
                    for (lane, at) in at.iter_mut().enumerate().take(lanes) {
                        *at = next(*at, lane);
                        walking |= !self.steps[*at as usize].is_leaf();
                    }
                }
            }
            for (lane, &node) in at.iter().take(lanes).enumerate() {
                reached(group * LANES + lane, node as usize);
            }
        }
    }

    /// The leaf node `row` reaches in the tree rooted at `root`, one branch at a time: for a
    /// row alone, where a jump the processor predicts beats the side-by-side walk's arithmetic.
    fn walk(&self, root: u32, row: &[f32]) -> usize {
        let mut index = root as usize;
        while let Node::Branch {
            feature,
            threshold,
            comparison,
            missing_goes_true,
            if_true,
            if_false,
        } = self.nodes[index]
        {
            let value = row[feature as usize];
            let true_way = goes_true(comparison, missing_goes_true, value, threshold);
            index = if true_way { if_true } else { if_false } as usize;
        }
        index
    }

    /// The leaf at `node`, which a walk reached.
    fn leaf_at(&self, node: usize) -> Leaf {
        match self.nodes[node] {
            Node::Leaf {
                first_weight,
                end_weight,
            } => Leaf {
                first_weight,
                end_weight,
            },
            Node::Branch { .. } => unreachable!("a walk ends on a leaf"),
        }
    }

    /// Fails unless every node is reachable from its tree's root along paths that do not loop;
    /// otherwise gives the depth of each tree.
    fn tree_depths(nodes: &[Node], roots: &[u32], tables: &Tables) -> Result<Vec<u32>> {
        let mut state = vec![Visit::Unseen; nodes.len()];
        let mut heights = vec![0; nodes.len()];
        for &root in roots {
            Self::visit_tree(nodes, root, (&mut state, &mut heights), tables)?;
        }
        if let Some(unreached) = state.iter().position(|visit| *visit == Visit::Unseen) {
            bail!(
                "node {} of tree {} cannot be reached from the tree's root",
                tables.node_ids[unreached],
                tables.tree_ids[unreached]
            );
        }
        Ok(roots.iter().map(|&root| heights[root as usize]).collect())
    }

    /// Depth-first walk of one tree that fails on a path that comes back to one of its nodes,
    /// and sets the height of each node it visits (the most steps from it to a leaf).
    fn visit_tree(
        nodes: &[Node],
        root: u32,
        (state, heights): (&mut [Visit], &mut [u32]),
        tables: &Tables,
    ) -> Result<()> {
        let mut stack = vec![(root, false)];
        while let Some((index, children_done)) = stack.pop() {
            let node = index as usize;
            if children_done {
                state[node] = Visit::Done;
                if let Node::Branch {
                    if_true, if_false, ..
                } = nodes[node]
                {
                    heights[node] = 1 + heights[if_true as usize].max(heights[if_false as usize]);
                }
                continue;
            }
            match state[node] {
                Visit::Done => continue,
                Visit::Open => bail!(
                    "tree {} loops back to its node {}",
                    tables.tree_ids[node],
                    tables.node_ids[node]
                ),
                Visit::Unseen => {}
            }
            state[node] = Visit::Open;
            stack.push((index, true));
            if let Node::Branch {
                if_true, if_false, ..
            } = nodes[node]
            {
                for child in [if_true, if_false] {
                    if state[child as usize] == Visit::Open {
                        bail!(
                            "tree {} loops back to its node {}",
                            tables.tree_ids[node],
                            tables.node_ids[child as usize]
                        );
                    }
                    stack.push((child, false));
                }
            }
        }
        Ok(())
    }
}

/// Where a depth-first walk is with a node.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    Unseen,
    Open,
    Done,
}

/// The position in the tables of each (tree id, node id).
fn node_positions(tables: &Tables) -> Result<HashMap<(i64, i64), u32>> {
    ensure!(!tables.tree_ids.is_empty(), "the ensemble has no nodes");
    ensure!(
        tables.tree_ids.len() < u32::MAX as usize,
        "the ensemble has too many nodes"
    );
    let mut positions = HashMap::with_capacity(tables.tree_ids.len());
    for (index, key) in tables.tree_ids.iter().zip(&tables.node_ids).enumerate() {
        match positions.entry((*key.0, *key.1)) {
            Entry::Occupied(_) => bail!("node {} of tree {} is listed twice", key.1, key.0),
            Entry::Vacant(slot) => {
                slot.insert(index as u32);
            }
        }
    }
    Ok(positions)
}

/// The position of each tree's first listed node; the nodes of a tree must be listed together.
fn tree_roots(tree_ids: &[i64]) -> Result<Vec<u32>> {
    let mut roots = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (index, tree) in tree_ids.iter().enumerate() {
        if index > 0 && tree_ids[index - 1] == *tree {
            continue;
        }
        ensure!(
            seen.insert(*tree),
            "the nodes of tree {tree} are not listed together"
        );
        roots.push(index as u32);
    }
    Ok(roots)
}

/// The flat node at `index`; a leaf gets an empty weight range, filled in later.
fn branch_node(
    tables: &Tables,
    positions: &HashMap<(i64, i64), u32>,
    index: usize,
    mode: NodeMode,
) -> Result<Node> {
    let NodeMode::Branch(comparison) = mode else {
        return Ok(Node::Leaf {
            first_weight: 0,
            end_weight: 0,
        });
    };
    let (tree, node) = (tables.tree_ids[index], tables.node_ids[index]);
    let child = |id: i64, which: &str| {
        positions.get(&(tree, id)).copied().with_context(|| {
            format!("node {node} of tree {tree}: {which} child {id} does not exist")
        })
    };
    let feature = tables.features[index];
    let feature = u32::try_from(feature)
        .ok()
        .filter(|feature| *feature < 1 << FEATURE_BITS)
        .with_context(|| {
            format!("node {node} of tree {tree}: feature {feature} is not an index")
        })?;
    Ok(Node::Branch {
        feature,
        threshold: tables.values[index],
        comparison,
        missing_goes_true: tables.missing_true.get(index).copied().unwrap_or(false),
        if_true: child(tables.true_ids[index], "true")?,
        if_false: child(tables.false_ids[index], "false")?,
    })
}

/// The weight table, in (tree, node, listing) order, with every leaf's range set in `nodes`.
fn attach_weights(
    tables: &Tables,
    positions: &HashMap<(i64, i64), u32>,
    nodes: &mut [Node],
    columns: usize,
) -> Result<Vec<Weight>> {
    let mut order: Vec<usize> = (0..tables.weight_values.len()).collect();
    order.sort_by_key(|&index| {
        (
            tables.weight_trees[index],
            tables.weight_nodes[index],
            index,
        )
    });
    let mut by_leaf: Vec<Vec<Weight>> = vec![Vec::new(); nodes.len()];
    for index in order {
        let (tree, node) = (tables.weight_trees[index], tables.weight_nodes[index]);
        let position = *positions.get(&(tree, node)).with_context(|| {
            format!("weight {index} is for node {node} of tree {tree}, which does not exist")
        })?;
        let column = tables.weight_targets[index];
        ensure!(
            (0..columns as i64).contains(&column),
            "weight {index} is for output {column}, but there are {columns} outputs"
        );
        if matches!(nodes[position as usize], Node::Leaf { .. }) {
            by_leaf[position as usize].push(Weight {
                column: column as u32,
                value: tables.weight_values[index],
            });
        }
    }
    if columns == 1 {
        keep_one_weight_per_leaf(tables, nodes, &mut by_leaf);
    }
    Ok(lay_out_weights(nodes, by_leaf))
}

/// With a single output, onnxruntime adds a leaf's first weight only, or, when it has none, the
/// leaf's `nodes_values` entry.
fn keep_one_weight_per_leaf(tables: &Tables, nodes: &[Node], by_leaf: &mut [Vec<Weight>]) {
    for (index, weights) in by_leaf.iter_mut().enumerate() {
        if !matches!(nodes[index], Node::Leaf { .. }) {
            continue;
        }
        let value = weights
            .first()
            .map_or(tables.values[index], |weight| weight.value);
        *weights = vec![Weight { column: 0, value }];
    }
}

/// Concatenates the leaves' weights into one table and points each leaf at its range.
fn lay_out_weights(nodes: &mut [Node], by_leaf: Vec<Vec<Weight>>) -> Vec<Weight> {
    let mut table = Vec::with_capacity(by_leaf.iter().map(Vec::len).sum());
    for (node, weights) in nodes.iter_mut().zip(by_leaf) {
        if let Node::Leaf {
            first_weight,
            end_weight,
        } = node
        {
            *first_weight = table.len() as u32;
            table.extend(weights);
            *end_weight = table.len() as u32;
        }
    }
    table
}

fn features_needed(nodes: &[Node]) -> usize {
    nodes
        .iter()
        .filter_map(|node| match node {
            Node::Branch { feature, .. } => Some(*feature as usize + 1),
            Node::Leaf { .. } => None,
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One tree: `x0 <= 0.5 ? (x1 < 2 ? leaf 3 : leaf 4) : leaf 2`, with weights per leaf.
    fn small_tree() -> Tables {
        let leq = NodeMode::Branch(Comparison::LessOrEqual);
        let lt = NodeMode::Branch(Comparison::Less);
        Tables {
            tree_ids: vec![0; 5],
            node_ids: vec![0, 1, 2, 3, 4],
            modes: vec![leq, lt, NodeMode::Leaf, NodeMode::Leaf, NodeMode::Leaf],
            features: vec![0, 1, 0, 0, 0],
            values: vec![0.5, 2.0, 0.0, 0.0, 9.0],
            true_ids: vec![1, 3, 0, 0, 0],
            false_ids: vec![2, 4, 0, 0, 0],
            missing_true: vec![true, false, false, false, false],
            weight_trees: vec![0, 0, 0, 0],
            weight_nodes: vec![2, 3, 3, 2],
            weight_targets: vec![0, 1, 0, 1],
            weight_values: vec![1.0, 2.0, 3.0, 4.0],
        }
    }

    fn leaf_of(forest: &Forest, row: &[f32]) -> Vec<Weight> {
        let mut leaves = Vec::new();
        forest.block_leaves(row, row.len(), &mut leaves);
        let weights = leaves.iter().flat_map(|&leaf| forest.weights(leaf));
        weights.copied().collect()
    }

    fn weight(column: u32, value: f32) -> Weight {
        Weight { column, value }
    }

    #[test]
    fn walks_to_the_leaf_and_its_weights_in_listing_order() {
        let forest = Forest::build(&small_tree(), 2).unwrap();
        assert_eq!(forest.trees(), 1);
        assert_eq!(forest.features_needed(), 2);
        assert_eq!(
            leaf_of(&forest, &[1.0, 0.0]),
            [weight(0, 1.0), weight(1, 4.0)]
        );
        assert_eq!(
            leaf_of(&forest, &[0.5, 1.0]),
            [weight(1, 2.0), weight(0, 3.0)]
        );
        assert_eq!(leaf_of(&forest, &[0.0, 2.0]), []);
        assert_eq!(leaf_of(&forest, &[f32::NAN, 5.0]), []);
        assert_eq!(leaf_of(&forest, &[f32::NAN, f32::NAN]), []);
    }

    #[test]
    fn a_single_output_keeps_the_first_weight_or_the_leaf_value() {
        let mut tables = small_tree();
        tables.weight_targets = vec![0; 4];
        let forest = Forest::build(&tables, 1).unwrap();
        assert_eq!(leaf_of(&forest, &[1.0, 0.0]), [weight(0, 1.0)]);
        assert_eq!(leaf_of(&forest, &[0.0, 5.0]), [weight(0, 9.0)]);
    }

    #[test]
    fn rejects_broken_tables_naming_the_node() {
        let error = |change: fn(&mut Tables)| {
            let mut tables = small_tree();
            change(&mut tables);
            Forest::build(&tables, 2).unwrap_err().to_string()
        };
        assert_eq!(
            error(|t| t.true_ids[1] = 7),
            "node 1 of tree 0: true child 7 does not exist"
        );
        assert_eq!(
            error(|t| t.false_ids[1] = 0),
            "tree 0 loops back to its node 0"
        );
        assert_eq!(
            error(|t| t.node_ids[4] = 3),
            "node 3 of tree 0 is listed twice"
        );
        assert_eq!(
            error(|t| t.false_ids[1] = 3),
            "node 4 of tree 0 cannot be reached from the tree's root"
        );
        assert_eq!(
            error(|t| t.weight_targets[2] = 2),
            "weight 2 is for output 2, but there are 2 outputs"
        );
        assert_eq!(
            error(|t| t.weight_nodes[0] = 8),
            "weight 0 is for node 8 of tree 0, which does not exist"
        );
        assert_eq!(
            error(|t| t.tree_ids = vec![0, 0, 1, 1, 0]),
            "the nodes of tree 0 are not listed together"
        );
    }

    /// A tree whose node `i` sends a row to leaf `i` or on to node `i + 1`, by comparing feature
    /// `i % 3` with `i % 4` in mode `i % 6`, NaN going the true way at odd nodes: `depth` deep.
    fn chain_tree(depth: usize) -> Tables {
        let modes = [
            Comparison::LessOrEqual,
            Comparison::Less,
            Comparison::GreaterOrEqual,
            Comparison::Greater,
            Comparison::Equal,
            Comparison::NotEqual,
        ];
        let branches = 0..depth as i64;
        let leaves = depth as i64..2 * depth as i64 + 1;
        Tables {
            tree_ids: vec![0; 2 * depth + 1],
            node_ids: (0..2 * depth as i64 + 1).collect(),
            modes: branches
                .clone()
                .map(|i| NodeMode::Branch(modes[i as usize % 6]))
                .chain(leaves.clone().map(|_| NodeMode::Leaf))
                .collect(),
            features: branches
                .clone()
                .map(|i| i % 3)
                .chain(leaves.clone().map(|_| 0))
                .collect(),
            values: branches
                .clone()
                .map(|i| (i % 4) as f32)
                .chain(leaves.clone().map(|_| 0.0))
                .collect(),
            true_ids: branches
                .clone()
                .map(|i| depth as i64 + i)
                .chain(leaves.clone().map(|_| 0))
                .collect(),
            false_ids: branches
                .clone()
                .map(|i| {
                    if i + 1 == depth as i64 {
                        2 * depth as i64
                    } else {
                        i + 1
                    }
                })
                .chain(leaves.clone().map(|_| 0))
                .collect(),
            missing_true: branches
                .map(|i| i % 2 == 1)
                .chain(leaves.map(|_| false))
                .collect(),
            ..Tables::default()
        }
    }

    #[test]
    fn rows_walked_side_by_side_reach_the_leaves_they_reach_alone() {
        let values = [f32::NAN, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0];
        let rows: Vec<f32> = (0..values.len().pow(3))
            .flat_map(|n| [n % 7, n / 7 % 7, n / 49].map(|digit| values[digit]))
            .collect();
        // Shallow trees are walked a fixed number of steps, deep ones until every row is on a
        // leaf; 343 rows are 42 groups of lanes and 7 rows over.
        for depth in [
            1,
            3,
            MOST_BLIND_STEPS as usize,
            MOST_BLIND_STEPS as usize + 5,
        ] {
            let forest = Forest::build(&chain_tree(depth), 1).unwrap();
            assert_eq!(forest.depths, [depth as u32]);
            let mut reached = Vec::new();
            forest.reach(0, (&rows, 3), |row, node| reached.push((row, node)));
            let expected: Vec<(usize, usize)> = rows
                .chunks_exact(3)
                .map(|row| forest.walk(forest.roots[0], row))
                .enumerate()
                .collect();
            assert_eq!(reached, expected, "depth {depth}");
            let leaves: std::collections::HashSet<_> =
                expected.iter().map(|(_, leaf)| leaf).collect();
            assert!(
                leaves.len() > depth / 2,
                "depth {depth}: rows reach {} leaves",
                leaves.len()
            );
        }
    }

    #[test]
    fn shared_children_are_allowed() {
        let mut tables = small_tree();
        tables.true_ids[1] = 2;
        tables.false_ids[1] = 2;
        tables.modes.truncate(3);
        for column in [
            &mut tables.tree_ids,
            &mut tables.node_ids,
            &mut tables.features,
            &mut tables.true_ids,
            &mut tables.false_ids,
        ] {
            column.truncate(3);
        }
        tables.values.truncate(3);
        tables.weight_nodes = vec![2; 4];
        let forest = Forest::build(&tables, 2).unwrap();
        assert_eq!(leaf_of(&forest, &[0.0, 0.0]).len(), 4);
    }
}
