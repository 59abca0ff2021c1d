//! TreeModel: nodes in one flat array (children contiguous), predicates pre-typed, score
//! distributions turned into dense probability rows at load time.

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

/// A tree node.
#[derive(Debug)]
struct TreeNode {
    predicate: Pred,
    first_child: u32,
    child_count: u32,
    /// Regression score, or the index of the predicted category.
    score: Option<f64>,
    default_child: Option<u32>,
    record_count: Option<f64>,
    /// Offset of the node's probability row in `TreeModel::distributions`.
    distribution: Option<u32>,
    /// The index of the node's embedded Regression in `TreeModel::embedded`.
    embedded: Option<u32>,
}

/// A node's test on a record's raw numbers, for trees scored directly on the record.
#[derive(Clone, Copy, Debug)]
enum Check {
    Always,
    Never,
    /// The number at a direct input position (rounded to `f32` for a float field), compared.
    Compare {
        position: u32,
        float: bool,
        op: CmpOp,
        value: f64,
    },
}

/// A compiled TreeModel.
#[derive(Debug)]
pub struct TreeModel {
    function: Function,
    nodes: Vec<TreeNode>,
    distributions: Vec<f64>,
    category_count: usize,
    missing: MissingStrategy,
    return_last_when_no_true_child: bool,
    /// Nodes waiting to be visited while aggregating (reused between records).
    pending: Vec<u32>,
    /// The Regressions embedded in nodes (LightGBM's linear trees).
    embedded: Vec<EmbeddedRegression>,
    /// Each node's test on the raw record, when every predicate compares an input number (the
    /// fast path: no slots, no preparation).
    checks: Vec<Check>,
    /// How the fast path walks each node.
    walk: Vec<Walk>,
    /// Each node's test for the fast path (where its `walk` is `Tests`, its children's tests are
    /// contiguous).
    tests: Vec<Test>,
}

/// A node's predicate on a record of present numbers as one comparison without branches:
/// `(x < value or x <= value) != negate`, `x` the number at a direct input position.
#[derive(Clone, Copy, Debug)]
struct Test {
    value: f64,
    position: u32,
    strict: bool,
    negate: bool,
    float: bool,
}

impl Test {
    #[inline(always)]
    fn holds(self, x: f64) -> bool {
        let x = if self.float { f64::from(x as f32) } else { x };
        let below = if self.strict {
            x < self.value
        } else {
            x <= self.value
        };
        below != self.negate
    }
}

/// How the fast path goes on from a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Walk {
    /// The node is a leaf.
    Leaf,
    /// Every child's predicate is a `Test`: the first that holds is taken.
    Tests,
    /// Children are tested one after the other.
    Other,
}

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
        let (nodes, sparse, embedded) = (builder.nodes, builder.sparse, builder.embedded);
        if missing == MissingStrategy::Aggregate && !embedded.is_empty() {
            return Err(element.unsupported(
                "aggregateNodes/weightedConfidence with Regressions embedded in nodes",
            ));
        }
        if missing == MissingStrategy::Aggregate
            && nodes.iter().any(|node| node.record_count.is_none())
        {
            return Err(element.unsupported(
                "aggregateNodes/weightedConfidence without a recordCount on every Node",
            ));
        }
        let category_count = builder
            .categories
            .as_ref()
            .map_or(0, |categories| categories.len());
        let mut tree = TreeModel {
            function,
            nodes,
            distributions: Vec::new(),
            category_count,
            missing,
            return_last_when_no_true_child,
            pending: Vec::new(),
            embedded,
            checks: Vec::new(),
            walk: Vec::new(),
            tests: Vec::new(),
        };
        tree.densify(sparse, element)?;
        Ok(tree)
    }

    /// Turns the sparse score distributions into dense probability rows.
    fn densify(
        &mut self,
        sparse: Vec<Option<SparseDistribution>>,
        element: &El<'_, '_>,
    ) -> Result<()> {
        for (node, distribution) in self.nodes.iter_mut().zip(sparse) {
            let Some(entries) = distribution else {
                continue;
            };
            let offset = self.distributions.len();
            self.distributions.resize(offset + self.category_count, 0.0);
            let sum: f64 = entries.iter().map(|(_, weight)| weight).sum();
            if sum == 0.0 {
                return Err(element.invalid("a node's ScoreDistribution weights add up to zero"));
            }
            for (category, weight) in entries {
                self.distributions[offset + category] =
                    if sum == 1.0 { weight } else { weight / sum };
            }
            node.distribution = Some(offset as u32);
        }
        Ok(())
    }

    /// Scores the current record; classifier probabilities go to `probabilities`.
    pub fn evaluate(&mut self, env: &mut Env<'_>, probabilities: &mut [f64]) -> Result<Raw> {
        if self.nodes[0].predicate.eval(env)? != Some(true) {
            return Ok(Raw::Missing);
        }
        match self.descend(env, 0)? {
            Selection::Node(index) => self.result(env, index as usize, probabilities),
            Selection::Null => Ok(Raw::Missing),
            Selection::Aggregate(start) => self.aggregate(env, start, probabilities),
        }
    }

    /// Prepares scoring straight from records whose inputs are numbers: possible when every
    /// predicate compares one of `inputs` (slot, direct input position, float field) with a number, and
    /// no node embeds a model. Returns whether it is.
    pub fn prepare_direct(&mut self, inputs: &[(u32, u32, bool)]) -> bool {
        let mut checks = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let check = match &node.predicate {
                Pred::True => Check::Always,
                Pred::False => Check::Never,
                Pred::Number { slot, op, value } => {
                    let Some((_, position, float)) =
                        inputs.iter().find(|(known, _, _)| known == slot)
                    else {
                        return false;
                    };
                    Check::Compare {
                        position: *position,
                        float: *float,
                        op: *op,
                        value: *value,
                    }
                }
                _ => return false,
            };
            if node.embedded.is_some() {
                return false;
            }
            checks.push(check);
        }
        let anywhere = checks.iter().find_map(|check| match check {
            Check::Compare { position, .. } => Some(*position),
            _ => None,
        });
        let tests: Vec<Option<Test>> = checks
            .iter()
            .map(|check| to_test(*check, anywhere))
            .collect();
        self.walk = self
            .nodes
            .iter()
            .map(|node| walk_of(node, &tests))
            .collect();
        // The tests of nodes that have none are never read.
        let unused = Test {
            value: f64::NAN,
            position: 0,
            strict: false,
            negate: false,
            float: false,
        };
        self.tests = tests
            .into_iter()
            .map(|test| test.unwrap_or(unused))
            .collect();
        self.checks = checks;
        true
    }

    /// Scores a record whose inputs are all present numbers (`number` reads the one at a record
    /// position), after [`TreeModel::prepare_direct`]: no predicate can be UNKNOWN.
    #[inline]
    pub fn evaluate_direct(
        &self,
        number: impl Fn(usize) -> f64,
        probabilities: &mut [f64],
    ) -> Result<Raw> {
        let holds = |index: u32| match self.checks[index as usize] {
            Check::Always => true,
            Check::Never => false,
            Check::Compare {
                position,
                float,
                op,
                value,
            } => {
                let x = number(position as usize);
                let x = if float { f64::from(x as f32) } else { x };
                op.holds_for_numbers(x, value)
            }
        };
        if !holds(0) {
            return Ok(Raw::Missing);
        }
        let mut current = 0;
        'walk: loop {
            match self.walk[current as usize] {
                Walk::Leaf => return self.result_plain(current as usize, probabilities),
                Walk::Tests => {
                    let node = &self.nodes[current as usize];
                    for child in node.first_child..node.first_child + node.child_count {
                        let test = self.tests[child as usize];
                        if test.holds(number(test.position as usize)) {
                            current = child;
                            continue 'walk;
                        }
                    }
                    if self.return_last_when_no_true_child && node.score.is_some() {
                        return self.result_plain(current as usize, probabilities);
                    }
                    return Ok(Raw::Missing);
                }
                Walk::Other => {}
            }
            let node = &self.nodes[current as usize];
            for child in node.first_child..node.first_child + node.child_count {
                if holds(child) {
                    current = child;
                    continue 'walk;
                }
            }
            if self.return_last_when_no_true_child && node.score.is_some() {
                return self.result_plain(current as usize, probabilities);
            }
            return Ok(Raw::Missing);
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
            for child in node.first_child..node.first_child + node.child_count {
                match self.nodes[child as usize].predicate.eval(env)? {
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
                            current = node.default_child.ok_or_else(|| {
                                Error::scoring("a node without defaultChild met a missing value")
                            })?;
                            continue 'walk;
                        }
                    },
                }
            }
            let has_score = node.score.is_some();
            return Ok(if self.return_last_when_no_true_child && has_score {
                Selection::Node(current)
            } else {
                Selection::Null
            });
        }
    }

    /// The result of a selected node.
    fn result(&self, env: &mut Env<'_>, index: usize, probabilities: &mut [f64]) -> Result<Raw> {
        if let Some(embedded) = self.nodes[index].embedded {
            if let Some(value) = self.embedded[embedded as usize].evaluate(env)? {
                return Ok(Raw::Value(value));
            }
        }
        self.result_plain(index, probabilities)
    }

    /// The result of a selected node from its score or distribution.
    #[inline]
    fn result_plain(&self, index: usize, probabilities: &mut [f64]) -> Result<Raw> {
        let node = &self.nodes[index];
        if self.function == Function::Regression {
            let score = node
                .score
                .ok_or_else(|| Error::scoring("the selected node has no score"))?;
            return Ok(Raw::Value(score));
        }
        let Some(offset) = node.distribution else {
            let score = node
                .score
                .ok_or_else(|| Error::scoring("the selected node has no score"))?;
            return Ok(Raw::Class {
                winner: score as usize,
                probabilities: false,
            });
        };
        let row = &self.distributions[offset as usize..offset as usize + self.category_count];
        probabilities.iter_mut().for_each(|p| *p = 0.0);
        probabilities[..self.category_count].copy_from_slice(row);
        let best = match node.score {
            Some(score) => score as usize,
            None => winner(probabilities).unwrap_or(0),
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
        self.pending.clear();
        self.pending.push(start);
        probabilities.iter_mut().for_each(|p| *p = 0.0);
        let (mut total, mut weighted_score) = (0.0, 0.0);
        while let Some(index) = self.pending.pop() {
            let node = &self.nodes[index as usize];
            if node.child_count == 0 {
                let weight = node.record_count.unwrap_or(0.0);
                total += weight;
                if self.function == Function::Regression {
                    weighted_score += weight * node.score.unwrap_or(f64::NAN);
                } else if let Some(offset) = node.distribution {
                    let row =
                        &self.distributions[offset as usize..offset as usize + self.category_count];
                    probabilities
                        .iter_mut()
                        .zip(row)
                        .for_each(|(p, q)| *p += weight * q);
                }
                continue;
            }
            for child in node.first_child..node.first_child + node.child_count {
                if self.nodes[child as usize].predicate.eval(env)? != Some(false) {
                    self.pending.push(child);
                }
            }
        }
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

/// A check as a branch-free `Test`, when it is one (`anywhere`: some direct input position the
/// tree reads, for the checks that read none).
fn to_test(check: Check, anywhere: Option<u32>) -> Option<Test> {
    let (value, position, strict, negate, float) = match check {
        Check::Always => (f64::INFINITY, anywhere?, false, false, false),
        Check::Never => (f64::NEG_INFINITY, anywhere?, true, false, false),
        Check::Compare { value, .. } if value.is_nan() => return None,
        Check::Compare {
            position,
            float,
            op,
            value,
        } => {
            let (strict, negate) = match op {
                CmpOp::LessOrEqual => (false, false),
                CmpOp::LessThan => (true, false),
                CmpOp::GreaterThan => (false, true),
                CmpOp::GreaterOrEqual => (true, true),
                CmpOp::Equal | CmpOp::NotEqual => return None,
            };
            (value, position, strict, negate, float)
        }
    };
    Some(Test {
        value,
        position,
        strict,
        negate,
        float,
    })
}

/// How the fast path goes on from `node`.
fn walk_of(node: &TreeNode, tests: &[Option<Test>]) -> Walk {
    let children = node.first_child as usize..(node.first_child + node.child_count) as usize;
    if children.is_empty() {
        Walk::Leaf
    } else if tests[children].iter().all(Option::is_some) {
        Walk::Tests
    } else {
        Walk::Other
    }
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
    nodes: Vec<TreeNode>,
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
        self.nodes.push(TreeNode {
            predicate,
            first_child: 0,
            child_count: 0,
            score,
            default_child: None,
            record_count: element.parsed("recordCount")?,
            distribution: None,
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
