//! TreeModel: nodes in one flat array of compact records (children contiguous, a number
//! comparison inline, other predicates aside), scores and score distributions (turned into
//! dense probability rows at load time) in one array beside them.

use super::compile::{Compiler, ScopeId};
use super::error::{Error, Result};
use super::eval::Env;
use super::models::{Function, Raw};
use super::predicate::{self, CmpOp, Pred};
use super::regression::EmbeddedRegression;
use super::target::{winner, Categories};
use super::xml::El;

/// What to do when a node's predicate is UNKNOWN (a value it needs is missing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MissingStrategy {
    /// Treat the predicate as false.
    None,
    /// Return the last node passed.
    LastPrediction,
    /// Return no prediction.
    NullPrediction,
    /// Go on with the node's default child.
    DefaultChild,
    /// Follow every branch that may apply and weight the leaves by their record counts.
    Aggregate,
}

/// How a node tests: a comparison of a number field with the node's value, `True`, `False`,
/// or a predicate kept aside. For the four order comparisons and `True`/`False` (whose value is
/// NaN) the low two bits give a branch-free test: `(x < value or x <= value) != negated`, bit 0
/// meaning strict and bit 1 negated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Test {
    LessOrEqual = 0,
    LessThan = 1,
    GreaterThan = 2,
    GreaterOrEqual = 3,
    False = 4,
    True = 6,
    Equal = 8,
    NotEqual = 9,
    /// A predicate of the tree's `Extras::predicates` (the node's `slot` is its index).
    Other = 10,
}

impl Test {
    /// The test of a number comparison.
    fn of(op: CmpOp) -> Test {
        match op {
            CmpOp::LessOrEqual => Test::LessOrEqual,
            CmpOp::LessThan => Test::LessThan,
            CmpOp::GreaterThan => Test::GreaterThan,
            CmpOp::GreaterOrEqual => Test::GreaterOrEqual,
            CmpOp::Equal => Test::Equal,
            CmpOp::NotEqual => Test::NotEqual,
        }
    }

    /// Whether `x` passes the test against `value` (`Other`: never; it is not read here).
    #[inline(always)]
    fn compare(self, x: f64, value: f64) -> bool {
        match self {
            Test::LessOrEqual => x <= value,
            Test::LessThan => x < value,
            Test::GreaterThan => x > value,
            Test::GreaterOrEqual => x >= value,
            Test::Equal => x == value,
            Test::NotEqual => x != value,
            Test::True => true,
            Test::False | Test::Other => false,
        }
    }
}

/// The node's `flags`: it has a score.
const HAS_SCORE: u8 = 1;
/// The node's `flags`: its score is its result's first number (else it is the category its
/// probability row makes the winner, which it is for most classifiers' leaves).
const STORED_SCORE: u8 = 8;
/// The node's `flags`: a leaf whose score is not stored keeps its category (its row's winner) in
/// `first_child`, which a leaf does not use.
const SCORE_IN_NODE: u8 = 16;
/// The node's `flags`: it has a probability row (its result's numbers after the score, if
/// stored).
const HAS_ROW: u8 = 4;
/// The node's `flags`: every child's test is branch-free (see [`Test`]) on a direct input.
const CHILDREN_BRANCH_FREE: u8 = 2;
/// The node's `flags`: it has two children, both branch-free, the second `True`: the first's test
/// alone chooses between them, by index arithmetic instead of a branch (sklearn2pmml's shape).
const SPLIT: u8 = 32;
/// No node, no probability row.
pub(crate) const NONE: u32 = u32::MAX;

/// A tree node (24 bytes).
#[derive(Clone, Debug)]
struct TreeNode {
    /// The number a comparison compares with (NaN for `True` and `False`).
    value: f64,
    /// The compared field's slot (where direct scoring reads its number); for `Test::Other`
    /// the predicate's index; for `True` and `False` some direct input's slot once prepared.
    slot: u32,
    first_child: u32,
    /// Offset of the node's result in `TreeModel::results` (`NONE`: it has none): its score
    /// (a regression value or the index of the predicted category, with `STORED_SCORE`), then
    /// its probability row (with `HAS_ROW`).
    result: u32,
    child_count: u16,
    test: Test,
    flags: u8,
}

impl TreeNode {
    fn has_score(&self) -> bool {
        self.flags & HAS_SCORE != 0
    }

    fn children(&self) -> std::ops::Range<u32> {
        self.first_child..self.first_child + u32::from(self.child_count)
    }

    /// The branch-free form of an order comparison, `True` or `False` (see [`Test`]).
    #[inline(always)]
    fn passes(&self, x: f64) -> bool {
        let bits = self.test as u8;
        let below = if bits & 1 != 0 {
            x < self.value
        } else {
            x <= self.value
        };
        below != (bits & 2 != 0)
    }

    /// Whether the test has a branch-free form.
    fn branch_free(&self) -> bool {
        match self.test {
            Test::True | Test::False => true,
            Test::Equal | Test::NotEqual | Test::Other => false,
            _ => !self.value.is_nan(),
        }
    }
}

/// A node as the builder reads it, before it is packed into a [`TreeNode`].
#[derive(Debug)]
struct Draft {
    predicate: Pred,
    first_child: u32,
    child_count: u32,
    score: Option<f64>,
    default_child: Option<u32>,
    record_count: Option<f64>,
    embedded: Option<u32>,
}

/// A compiled TreeModel.
#[derive(Clone, Debug)]
pub struct TreeModel {
    function: Function,
    missing: MissingStrategy,
    return_last_when_no_true_child: bool,
    category_count: u32,
    /// The node the last record selected.
    selected: u32,
    nodes: Box<[TreeNode]>,
    /// The nodes' results (see [`TreeNode::result`]).
    results: Box<[f64]>,
    /// What only some trees need (none for the others, such as a forest's trees).
    extras: Option<Box<Extras>>,
    /// For a tree of binary splits prepared for direct scoring (see [`SPLIT`]), its depth:
    /// [`TreeModel::select_rows`] walks records through it in lockstep.
    lockstep_depth: Option<u32>,
}

/// How many records [`TreeModel::select_rows`] walks in lockstep: their walks are independent
/// chains of loads, which the processor overlaps.
const LANES: usize = 8;

/// The parts of a tree only some missing-value strategies and node contents need.
#[derive(Clone, Debug, Default)]
struct Extras {
    /// The predicates that are not a number comparison, `True` or `False`.
    predicates: Vec<Pred>,
    /// Each node's record count (only for `aggregateNodes`/`weightedConfidence`).
    record_counts: Vec<f64>,
    /// Each node's default child, or `NONE` (only for `defaultChild`).
    default_children: Vec<u32>,
    /// Each node's index in `embedded`, or `NONE` (only when some node embeds a Regression).
    embedded_of: Vec<u32>,
    /// The Regressions embedded in nodes (LightGBM's linear trees).
    embedded: Vec<EmbeddedRegression>,
    /// Nodes waiting to be visited while aggregating (reused between records).
    pending: Vec<u32>,
}

/// The extras of a tree that needs none.
static NO_EXTRAS: Extras = Extras {
    predicates: Vec::new(),
    record_counts: Vec::new(),
    default_children: Vec::new(),
    embedded_of: Vec::new(),
    embedded: Vec::new(),
    pending: Vec::new(),
};

/// A node's score distribution before categories are final: (category, weight) pairs.
type SparseDistribution = Vec<(usize, f64)>;

impl TreeModel {
    /// Compiles a TreeModel element.
    pub fn compile(
        c: &mut Compiler<'_, '_>,
        scope: ScopeId,
        element: &El<'_, '_>,
        function: Function,
        categories: Option<&mut Categories>,
        float: bool,
    ) -> Result<TreeModel> {
        let missing = read_missing_strategy(element)?;
        let return_last_when_no_true_child = match element
            .attr("noTrueChildStrategy")
            .unwrap_or("returnNullPrediction")
        {
            "returnNullPrediction" => false,
            "returnLastPrediction" => true,
            other => return Err(element.bad_keyword("noTrueChildStrategy", other)),
        };
        match element.attr("splitCharacteristic").unwrap_or("multiSplit") {
            "binarySplit" | "multiSplit" => {}
            other => return Err(element.bad_keyword("splitCharacteristic", other)),
        }
        let root = element
            .child("Node")
            .ok_or_else(|| element.invalid("the tree has no Node"))?;
        let mut builder = Builder {
            c,
            scope,
            function,
            categories,
            float,
            nodes: Vec::new(),
            sparse: Vec::new(),
            embedded: Vec::new(),
        };
        builder.build(root)?;
        let category_count = builder.categories.as_ref().map_or(0, |c| c.len()) as u32;
        let (drafts, sparse, embedded) = (builder.nodes, builder.sparse, builder.embedded);
        check_strategy(missing, &drafts, &embedded, element)?;
        let mut tree = TreeModel {
            function,
            missing,
            return_last_when_no_true_child,
            category_count,
            selected: 0,
            nodes: Box::new([]),
            results: Box::new([]),
            extras: None,
            lockstep_depth: None,
        };
        tree.extras = extras(missing, &drafts, embedded);
        tree.pack(drafts, sparse, element)?;
        Ok(tree)
    }

    /// What only some trees need: their extras, if they need any.
    fn extras(&self) -> &Extras {
        self.extras.as_deref().unwrap_or(&NO_EXTRAS)
    }

    /// Packs the builder's nodes into compact ones, with the side tables the tree needs.
    fn pack(
        &mut self,
        drafts: Vec<Draft>,
        sparse: Vec<Option<SparseDistribution>>,
        element: &El<'_, '_>,
    ) -> Result<()> {
        let width = self.category_count as usize;
        let with_result = drafts.iter().zip(&sparse);
        let most = with_result
            .map(|(draft, row)| match (draft.score, row) {
                (_, Some(_)) => 1 + width,
                (Some(_), None) => 1,
                (None, None) => 0,
            })
            .sum();
        let mut results = Vec::with_capacity(most);
        let mut predicates = Vec::new();
        let mut nodes = Vec::with_capacity(drafts.len());
        for (draft, row) in drafts.into_iter().zip(sparse) {
            let child_count = u16::try_from(draft.child_count)
                .map_err(|_| element.unsupported("a node with more than 65,535 children"))?;
            let (test, slot, value) = match draft.predicate {
                Pred::True => (Test::True, 0, f64::NAN),
                Pred::False => (Test::False, 0, f64::NAN),
                Pred::Number { slot, op, value } => (Test::of(op), slot, value),
                other => {
                    predicates.push(other);
                    (Test::Other, (predicates.len() - 1) as u32, f64::NAN)
                }
            };
            let (result, mut flags) = push_result(&mut results, width, draft.score, row, element)?;
            let mut first_child = draft.first_child;
            if child_count == 0 && flags & (HAS_SCORE | STORED_SCORE) == HAS_SCORE {
                // A leaf's derived score: kept where its children would be.
                first_child = draft.score.map_or(0, |score| score as u32);
                flags |= SCORE_IN_NODE;
            }
            nodes.push(TreeNode {
                value,
                slot,
                first_child,
                result,
                child_count,
                test,
                flags,
            });
        }
        self.nodes = nodes.into_boxed_slice();
        results.shrink_to_fit();
        self.results = results.into_boxed_slice();
        if !predicates.is_empty() {
            predicates.shrink_to_fit();
            self.extras.get_or_insert_with(Box::default).predicates = predicates;
        }
        Ok(())
    }

    /// Scores the current record; classifier probabilities go to `probabilities`.
    pub fn evaluate(&mut self, env: &mut Env<'_>, probabilities: &mut [f64]) -> Result<Raw> {
        if self.holds(0, env)? != Some(true) {
            return Ok(Raw::Missing);
        }
        match self.descend(env, 0)? {
            Selection::Node(index) => {
                self.selected = index;
                self.result(env, index as usize, probabilities)
            }
            Selection::Null => Ok(Raw::Missing),
            Selection::Aggregate(start) => self.aggregate(env, start, probabilities),
        }
    }

    /// Whether node `index`'s predicate holds for the current record (`None`: UNKNOWN).
    #[inline(always)]
    fn holds(&self, index: u32, env: &mut Env<'_>) -> Result<Option<bool>> {
        let node = &self.nodes[index as usize];
        match node.test {
            Test::True => Ok(Some(true)),
            Test::False => Ok(Some(false)),
            Test::Other => self.extras().predicates[node.slot as usize].eval(env),
            test => Ok(env.number(node.slot)?.map(|x| test.compare(x, node.value))),
        }
    }

    /// Prepares scoring straight from records whose inputs are numbers: possible when every
    /// predicate compares one of `inputs` (slot, direct input position, float field) with a
    /// number, no node embeds a model, and each input's position is its slot (direct scoring
    /// reads an input's number at its slot). Returns whether it is.
    pub fn prepare_direct(&mut self, inputs: &[(u32, u32, bool)]) -> bool {
        let direct = |slot: u32| {
            inputs
                .iter()
                .any(|&(known, position, _)| known == slot && position == slot)
        };
        let compared = |node: &TreeNode| !matches!(node.test, Test::True | Test::False);
        let readable = |node: &TreeNode| node.test != Test::Other && direct(node.slot);
        if !self.extras().embedded.is_empty()
            || self
                .nodes
                .iter()
                .any(|node| compared(node) && !readable(node))
        {
            return false;
        }
        // `True` and `False` read some input's number on the branch-free path, and ignore it.
        let anywhere = self
            .nodes
            .iter()
            .find(|node| compared(node))
            .map(|node| node.slot);
        for node in self.nodes.iter_mut().filter(|node| !compared(node)) {
            node.slot = anywhere.unwrap_or(NONE);
        }
        for index in 0..self.nodes.len() {
            let children = self.nodes[index].children();
            let branch_free = !children.is_empty()
                && children.clone().all(|child| {
                    let child = &self.nodes[child as usize];
                    child.branch_free() && child.slot != NONE
                });
            if branch_free {
                self.nodes[index].flags |= CHILDREN_BRANCH_FREE;
                let second = children.start + 1;
                if children.len() == 2 && self.nodes[second as usize].test == Test::True {
                    self.nodes[index].flags |= SPLIT;
                }
            }
        }
        self.lockstep_depth = self.split_depth();
        true
    }

    /// The depth of a tree whose root is `True` and whose every inner node is a [`SPLIT`];
    /// none for other trees.
    fn split_depth(&self) -> Option<u32> {
        let split = |node: &TreeNode| node.child_count == 0 || node.flags & SPLIT != 0;
        if self.nodes[0].test != Test::True || !self.nodes.iter().all(split) {
            return None;
        }
        let mut pending = vec![(0u32, 0u32)];
        let mut depth = 0;
        while let Some((index, level)) = pending.pop() {
            depth = depth.max(level);
            pending.extend(
                self.nodes[index as usize]
                    .children()
                    .map(|c| (c, level + 1)),
            );
        }
        Some(depth)
    }

    /// Scores a record whose inputs are all present numbers (`number` reads the one at a slot),
    /// after [`TreeModel::prepare_direct`]: no predicate can be UNKNOWN.
    #[inline]
    pub fn evaluate_direct(
        &mut self,
        number: impl Fn(usize) -> f64,
        probabilities: &mut [f64],
    ) -> Result<Raw> {
        let selected = self.select_direct(number).unwrap_or(NONE);
        self.evaluate_selected(selected, probabilities)
    }

    /// The nodes that records of present numbers select ([`NONE`]: none), after
    /// [`TreeModel::prepare_direct`]: `numbers` holds the records one after another, `stride`
    /// numbers each (each input's number at its slot); one node per record goes to `selected`.
    /// Many records walked through one tree keep it in cache and let the processor overlap
    /// their walks, which one record's walk, a chain of dependent loads, cannot.
    pub fn select_rows(&self, numbers: &[f64], stride: usize, selected: &mut [u32]) {
        let Some(depth) = self.lockstep_depth else {
            for (row, node) in numbers.chunks_exact(stride).zip(selected) {
                *node = self.select_direct(|slot| row[slot]).unwrap_or(NONE);
            }
            return;
        };
        for (rows, nodes) in numbers
            .chunks(stride * LANES)
            .zip(selected.chunks_mut(LANES))
        {
            let mut current = [0u32; LANES];
            for _ in 0..depth {
                for (at, row) in current.iter_mut().zip(rows.chunks_exact(stride)) {
                    *at = self.split_step(*at, row);
                }
            }
            nodes.copy_from_slice(&current[..nodes.len()]);
        }
    }

    /// One level down a tree of [`SPLIT`]s without a branch: from a split to the child the
    /// record's number chooses; a leaf stays where it is.
    #[inline(always)]
    fn split_step(&self, current: u32, row: &[f64]) -> u32 {
        let node = &self.nodes[current as usize];
        let inner = node.child_count != 0;
        let first = if inner { node.first_child } else { current };
        let test = &self.nodes[first as usize];
        let to_second = inner & !test.passes(row[test.slot as usize]);
        first + u32::from(to_second)
    }

    /// The result of the node a record selected ([`TreeModel::select_rows`]), as
    /// [`TreeModel::evaluate_direct`] gives it.
    #[inline]
    pub fn evaluate_selected(&mut self, selected: u32, probabilities: &mut [f64]) -> Result<Raw> {
        if selected == NONE {
            return Ok(Raw::Missing);
        }
        self.selected = selected;
        self.result_plain(selected as usize, probabilities)
    }

    /// The node a record of present numbers selects (none: no prediction).
    #[inline]
    fn select_direct(&self, number: impl Fn(usize) -> f64) -> Option<u32> {
        let holds = |node: &TreeNode| match node.test {
            Test::True => true,
            Test::False => false,
            test => test.compare(number(node.slot as usize), node.value),
        };
        if !holds(&self.nodes[0]) {
            return None;
        }
        let mut current = 0;
        'walk: loop {
            let node = &self.nodes[current as usize];
            if node.child_count == 0 {
                return Some(current);
            }
            if node.flags & SPLIT != 0 {
                // A data-dependent branch here is mispredicted half the time on real data.
                let first = &self.nodes[node.first_child as usize];
                let to_second = !first.passes(number(first.slot as usize));
                current = node.first_child + u32::from(to_second);
                continue;
            }
            if node.flags & CHILDREN_BRANCH_FREE != 0 {
                for child in node.children() {
                    let test = &self.nodes[child as usize];
                    if test.passes(number(test.slot as usize)) {
                        current = child;
                        continue 'walk;
                    }
                }
            } else {
                for child in node.children() {
                    if holds(&self.nodes[child as usize]) {
                        current = child;
                        continue 'walk;
                    }
                }
            }
            let last = self.return_last_when_no_true_child && node.has_score();
            return last.then_some(current);
        }
    }

    /// Walks down from a node whose predicate is true.
    fn descend(&self, env: &mut Env<'_>, start: u32) -> Result<Selection> {
        let mut current = start;
        'walk: loop {
            let node = &self.nodes[current as usize];
            if node.child_count == 0 {
                return Ok(Selection::Node(current));
            }
            for child in node.children() {
                match self.holds(child, env)? {
                    Some(true) => {
                        current = child;
                        continue 'walk;
                    }
                    Some(false) => {}
                    None => match self.missing {
                        MissingStrategy::None => {}
                        MissingStrategy::NullPrediction => return Ok(Selection::Null),
                        MissingStrategy::LastPrediction => return Ok(Selection::Node(current)),
                        MissingStrategy::Aggregate => return Ok(Selection::Aggregate(current)),
                        MissingStrategy::DefaultChild => {
                            current = self.default_child(current)?;
                            continue 'walk;
                        }
                    },
                }
            }
            return Ok(if self.return_last_when_no_true_child && node.has_score() {
                Selection::Node(current)
            } else {
                Selection::Null
            });
        }
    }

    /// The default child of node `index`.
    fn default_child(&self, index: u32) -> Result<u32> {
        match self.extras().default_children.get(index as usize) {
            Some(&child) if child != NONE => Ok(child),
            _ => Err(Error::scoring(
                "a node without defaultChild met a missing value",
            )),
        }
    }

    /// The result of a selected node.
    fn result(&self, env: &mut Env<'_>, index: usize, probabilities: &mut [f64]) -> Result<Raw> {
        let extras = self.extras();
        match extras.embedded_of.get(index) {
            Some(&embedded) if embedded != NONE => {
                if let Some(value) = extras.embedded[embedded as usize].evaluate(env)? {
                    return Ok(Raw::Value(value));
                }
            }
            _ => {}
        }
        self.result_plain(index, probabilities)
    }

    /// Whether a classifier of `count` categories may read this tree's probabilities from
    /// [`TreeModel::last_row`] rather than have them copied (no probabilities are computed:
    /// not aggregated, and every category of the model is the tree's).
    pub fn reads_rows(&self, count: usize) -> bool {
        self.missing != MissingStrategy::Aggregate && self.category_count as usize == count
    }

    /// The probability row of node `node`, if there is one ([`NONE`]: no node).
    #[inline]
    pub fn node_row(&self, node: u32) -> Option<&[f64]> {
        (node != NONE).then(|| self.row(node as usize)).flatten()
    }

    /// The score of node `node` ([`NONE`]: no node), as a regression's result, if it has one.
    #[inline]
    pub fn node_score(&self, node: u32) -> Option<f64> {
        (node != NONE)
            .then(|| self.score(node as usize).ok())
            .flatten()
    }

    /// The probability row of the node the last record selected, if it has one.
    #[inline]
    pub fn last_row(&self) -> Option<&[f64]> {
        self.row(self.selected as usize)
    }

    /// The score of node `index`, failing when it has none.
    #[inline(always)]
    fn score(&self, index: usize) -> Result<f64> {
        let node = &self.nodes[index];
        if node.flags & SCORE_IN_NODE != 0 {
            return Ok(f64::from(node.first_child));
        }
        match (
            node.has_score(),
            node.flags & STORED_SCORE != 0,
            self.row(index),
        ) {
            (true, true, _) => Ok(self.results[node.result as usize]),
            (true, false, Some(row)) => Ok(winner(row).unwrap_or(0) as f64),
            _ => Err(Error::scoring("the selected node has no score")),
        }
    }

    /// Node `index`'s probability row, if it has one.
    fn row(&self, index: usize) -> Option<&[f64]> {
        let node = &self.nodes[index];
        let start = node.result as usize + usize::from(node.flags & STORED_SCORE != 0);
        let width = self.category_count as usize;
        (node.flags & HAS_ROW != 0).then(|| &self.results[start..start + width])
    }

    /// The result of a selected node from its score or distribution.
    #[inline(always)]
    fn result_plain(&self, index: usize, probabilities: &mut [f64]) -> Result<Raw> {
        if self.function == Function::Regression {
            return Ok(Raw::Value(self.score(index)?));
        }
        let Some(row) = self.row(index) else {
            return Ok(Raw::Class {
                winner: self.score(index)? as usize,
                probabilities: false,
            });
        };
        // Without a buffer, the model reads the row itself (see `TreeModel::reads_rows`).
        if !probabilities.is_empty() {
            probabilities.fill(0.0);
            probabilities[..row.len()].copy_from_slice(row);
        }
        let best = match (self.nodes[index].has_score(), probabilities.is_empty()) {
            (true, _) => self.score(index)? as usize,
            (false, true) => winner(row).unwrap_or(0),
            (false, false) => winner(probabilities).unwrap_or(0),
        };
        Ok(Raw::Class {
            winner: best,
            probabilities: true,
        })
    }

    /// Follows every branch under `start` whose predicate is true or UNKNOWN and averages the
    /// leaves reached, weighted by their record counts.
    fn aggregate(
        &mut self,
        env: &mut Env<'_>,
        start: u32,
        probabilities: &mut [f64],
    ) -> Result<Raw> {
        let extras = self.extras.get_or_insert_with(Box::default);
        let mut pending = std::mem::take(&mut extras.pending);
        pending.clear();
        pending.push(start);
        probabilities.iter_mut().for_each(|p| *p = 0.0);
        let (mut total, mut weighted_score) = (0.0, 0.0);
        while let Some(index) = pending.pop() {
            let node = &self.nodes[index as usize];
            if node.child_count == 0 {
                let weight = self.extras().record_counts[index as usize];
                total += weight;
                if self.function == Function::Regression {
                    weighted_score += weight * self.score(index as usize).unwrap_or(f64::NAN);
                } else if let Some(row) = self.row(index as usize) {
                    probabilities
                        .iter_mut()
                        .zip(row)
                        .for_each(|(p, q)| *p += weight * q);
                }
                continue;
            }
            for child in node.children() {
                if self.holds(child, env)? != Some(false) {
                    pending.push(child);
                }
            }
        }
        self.extras.get_or_insert_with(Box::default).pending = pending;
        if total == 0.0 {
            return Ok(Raw::Missing);
        }
        if self.function == Function::Regression {
            return Ok(Raw::Value(weighted_score / total));
        }
        probabilities.iter_mut().for_each(|p| *p /= total);
        Ok(Raw::Class {
            winner: winner(probabilities).unwrap_or(0),
            probabilities: true,
        })
    }
}

/// Appends a node's result (its score, unless its probability row's winner gives it, then the
/// row) to `results`; returns its offset (`NONE` when there is none) and the node's flags.
fn push_result(
    results: &mut Vec<f64>,
    width: usize,
    score: Option<f64>,
    row: Option<SparseDistribution>,
    element: &El<'_, '_>,
) -> Result<(u32, u8)> {
    let offset = results.len() as u32;
    let Some(entries) = row else {
        return Ok(match score {
            Some(score) => {
                results.push(score);
                (offset, HAS_SCORE | STORED_SCORE)
            }
            None => (NONE, 0),
        });
    };
    let mut dense = vec![0.0; width];
    dense_row(&mut dense, &entries, element)?;
    let flags = match score {
        None => HAS_ROW,
        Some(score) if winner(&dense) == Some(score as usize) => HAS_ROW | HAS_SCORE,
        Some(score) => {
            results.push(score);
            HAS_ROW | HAS_SCORE | STORED_SCORE
        }
    };
    results.extend_from_slice(&dense);
    Ok((offset, flags))
}

/// Fills the dense probability row `row` of a node's score distribution.
fn dense_row(row: &mut [f64], entries: &[(usize, f64)], element: &El<'_, '_>) -> Result<()> {
    let sum: f64 = entries.iter().map(|(_, weight)| weight).sum();
    if sum == 0.0 {
        return Err(element.invalid("a node's ScoreDistribution weights add up to zero"));
    }
    for &(category, weight) in entries {
        row[category] = if sum == 1.0 { weight } else { weight / sum };
    }
    Ok(())
}

/// The extras a tree with these nodes and embedded Regressions needs under `missing`, if any.
fn extras(
    missing: MissingStrategy,
    drafts: &[Draft],
    embedded: Vec<EmbeddedRegression>,
) -> Option<Box<Extras>> {
    let mut extras = Extras::default();
    if missing == MissingStrategy::Aggregate {
        extras.record_counts = drafts
            .iter()
            .map(|d| d.record_count.unwrap_or(0.0))
            .collect();
    }
    if missing == MissingStrategy::DefaultChild {
        extras.default_children = drafts
            .iter()
            .map(|d| d.default_child.unwrap_or(NONE))
            .collect();
    }
    if !embedded.is_empty() {
        extras.embedded_of = drafts.iter().map(|d| d.embedded.unwrap_or(NONE)).collect();
        extras.embedded = embedded;
    }
    let needed = missing == MissingStrategy::Aggregate
        || missing == MissingStrategy::DefaultChild
        || !extras.embedded.is_empty();
    needed.then(|| Box::new(extras))
}

/// Checks that the tree has what its missing-value strategy needs.
fn check_strategy(
    missing: MissingStrategy,
    drafts: &[Draft],
    embedded: &[EmbeddedRegression],
    element: &El<'_, '_>,
) -> Result<()> {
    if missing == MissingStrategy::Aggregate && !embedded.is_empty() {
        return Err(element
            .unsupported("aggregateNodes/weightedConfidence with Regressions embedded in nodes"));
    }
    if missing == MissingStrategy::Aggregate && drafts.iter().any(|d| d.record_count.is_none()) {
        return Err(element
            .unsupported("aggregateNodes/weightedConfidence without a recordCount on every Node"));
    }
    Ok(())
}

/// Where a walk down the tree ended.
enum Selection {
    Node(u32),
    Null,
    Aggregate(u32),
}

fn read_missing_strategy(element: &El<'_, '_>) -> Result<MissingStrategy> {
    Ok(
        match element.attr("missingValueStrategy").unwrap_or("none") {
            "none" => MissingStrategy::None,
            "lastPrediction" => MissingStrategy::LastPrediction,
            "nullPrediction" => MissingStrategy::NullPrediction,
            "defaultChild" => MissingStrategy::DefaultChild,
            "aggregateNodes" | "weightedConfidence" => MissingStrategy::Aggregate,
            other => return Err(element.bad_keyword("missingValueStrategy", other)),
        },
    )
}

/// Lays the nodes out breadth-first so that each node's children are contiguous.
struct Builder<'c, 'a, 'input, 'k> {
    c: &'c mut Compiler<'a, 'input>,
    scope: ScopeId,
    function: Function,
    categories: Option<&'k mut Categories>,
    float: bool,
    nodes: Vec<Draft>,
    sparse: Vec<Option<SparseDistribution>>,
    embedded: Vec<EmbeddedRegression>,
}

impl Builder<'_, '_, '_, '_> {
    fn build(&mut self, root: El<'_, '_>) -> Result<()> {
        let mut elements = vec![root];
        self.push_node(&root)?;
        let mut index = 0;
        while index < elements.len() {
            let element = elements[index];
            let first = self.nodes.len();
            let mut child_ids = Vec::new();
            for child in element.children_named("Node") {
                self.push_node(&child)?;
                child_ids.push(child.attr("id"));
                elements.push(child);
            }
            self.nodes[index].first_child = first as u32;
            self.nodes[index].child_count = (self.nodes.len() - first) as u32;
            if let Some(default) = element.attr("defaultChild") {
                let position = child_ids
                    .iter()
                    .position(|id| *id == Some(default))
                    .ok_or_else(|| {
                        element.invalid(format!(
                            "defaultChild `{default}` is not the id of a child Node"
                        ))
                    })?;
                self.nodes[index].default_child = Some((first + position) as u32);
            }
            index += 1;
        }
        Ok(())
    }

    fn push_node(&mut self, element: &El<'_, '_>) -> Result<()> {
        if let Some(tree) = element.child("DecisionTree") {
            return Err(tree.unsupported("a DecisionTree embedded in a tree node"));
        }
        let embedded = match element.child("Regression") {
            Some(_) if self.function != Function::Regression => {
                return Err(element.unsupported("a Regression embedded in a classification tree"))
            }
            Some(regression) => {
                let compiled = EmbeddedRegression::compile(self.c, self.scope, &regression)?;
                self.embedded.push(compiled);
                Some((self.embedded.len() - 1) as u32)
            }
            None => None,
        };
        let predicate_element =
            predicate::find(element).ok_or_else(|| element.invalid("the node has no predicate"))?;
        let predicate = predicate::compile(self.c, self.scope, &predicate_element)?;
        let score = self.read_score(element)?;
        let distribution = self.read_distribution(element)?;
        self.nodes.push(Draft {
            predicate,
            first_child: 0,
            child_count: 0,
            score,
            default_child: None,
            record_count: element.parsed("recordCount")?,
            embedded,
        });
        self.sparse.push(distribution);
        Ok(())
    }

    fn read_score(&mut self, element: &El<'_, '_>) -> Result<Option<f64>> {
        let Some(text) = element.attr("score") else {
            return Ok(None);
        };
        match (self.function, self.categories.as_deref_mut()) {
            (Function::Classification, Some(categories)) => {
                Ok(Some(categories.index_for(self.c, text, element)? as f64))
            }
            _ if self.float => Ok(element.parsed::<f32>("score")?.map(f64::from)),
            _ => element.parsed("score"),
        }
    }

    fn read_distribution(&mut self, element: &El<'_, '_>) -> Result<Option<SparseDistribution>> {
        let (Function::Classification, Some(categories)) =
            (self.function, self.categories.as_deref_mut())
        else {
            return Ok(None);
        };
        let mut entries = Vec::new();
        let mut by_probability = None;
        for distribution in element.children_named("ScoreDistribution") {
            let category =
                categories.index_for(self.c, distribution.required("value")?, &distribution)?;
            let probability: Option<f64> = distribution.parsed("probability")?;
            let uses_probability = *by_probability.get_or_insert(probability.is_some());
            let weight = if uses_probability {
                let p = probability.ok_or_else(|| {
                    distribution.invalid("every ScoreDistribution needs a probability")
                })?;
                if !(0.0..=1.0).contains(&p) {
                    return Err(distribution.invalid(format!("probability {p} is outside [0, 1]")));
                }
                p
            } else {
                distribution.required_number("recordCount")?
            };
            entries.push((category, weight));
        }
        Ok((!entries.is_empty()).then_some(entries))
    }
}
