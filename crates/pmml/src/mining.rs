//! MiningModel with Segmentation: segment predicates, nested models, votes, averages, medians,
//! sums, max, selectFirst and modelChain (whose segments hand output fields to later ones).

use super::compile::{Compiler, ScopeId};
use super::error::{Error, Result};
use super::eval::Env;
use super::models::{is_model_element, Function, ModelNode, Outcome, Raw, Selected};
use super::predicate::{self, Pred};
use super::target::Categories;
use super::xml::El;
use crate::Value;

/// How segment results are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    MajorityVote,
    WeightedMajorityVote,
    Average,
    WeightedAverage,
    Median,
    WeightedMedian,
    Sum,
    WeightedSum,
    Max,
    SelectFirst,
    /// Every segment that applies gives a value: the result is the list of them.
    SelectAll,
    ModelChain,
    /// Every segment gives one of the model's several targets (`multiModelChain`, and
    /// `x-multiModelChain` as JPMML's converters write it for PMML 4.3).
    MultiModelChain,
}

impl Method {
    /// Whether segments hand their output fields to later segments and need not share the
    /// model's function.
    fn chains(self) -> bool {
        matches!(self, Method::ModelChain | Method::MultiModelChain)
    }
}

/// What a segment without a prediction does to the whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MissingTreatment {
    ReturnMissing,
    SkipSegment,
    Continue,
}

#[derive(Clone, Debug)]
struct Segment {
    /// The segment's predicate; none for `True` (as most are).
    predicate: Option<Box<Pred>>,
    weight: f64,
    model: ModelNode,
    /// The parent's category index for each of the segment model's categories ([`UNMAPPED`] for
    /// a category of an intermediate model in a chain that the parent's target does not have);
    /// empty when each category has the same index in both (the trees of a forest).
    category_map: Box<[u32]>,
    /// Whether the segment's model gives the parent's target (a chain's result comes from the
    /// last segment run only when it does).
    gives_target: bool,
    /// How many trees the segments before this one hold (its trees' first index among the
    /// segmentation's, in [`MiningModel::select_rows`]).
    first_tree: usize,
}

/// How [`MiningModel::evaluate_selected`] combines the nodes a forest's trees selected straight
/// away, without scoring the trees one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shortcut {
    /// None: the trees are scored and combined one by one.
    None,
    /// The average of the trees' probability rows, in the model's own categories (a random
    /// forest).
    AverageRows,
    /// The sum of the trees' scores (a regression, as gradient boosting sums its trees).
    SumScores,
}

/// The category index of a segment's category that the parent does not have.
const UNMAPPED: usize = usize::MAX;

impl Segment {
    /// The parent's index of the segment model's category `index` (or [`UNMAPPED`]).
    #[inline]
    fn parent_category(&self, index: usize) -> usize {
        match self.category_map.get(index) {
            None => index,
            Some(&u32::MAX) => UNMAPPED,
            Some(&mapped) => mapped as usize,
        }
    }

    /// The segment model's index of the parent's category `category`, if it has it.
    fn own_category(&self, category: usize) -> Option<usize> {
        if self.category_map.is_empty() {
            return (category < self.model.labels().len()).then_some(category);
        }
        (0..self.category_map.len()).position(|from| self.parent_category(from) == category)
    }
}

/// A compiled MiningModel.
#[derive(Clone, Debug)]
pub struct MiningModel {
    function: Function,
    method: Method,
    missing: MissingTreatment,
    missing_threshold: f64,
    segments: Box<[Segment]>,
    /// Which segments gave a result in this record (reused between records).
    selected: Vec<bool>,
    /// Regression values of the segments, for the median (reused between records; room for
    /// them only for the median).
    values: Vec<f64>,
    /// Regression values and weights of the segments, for the weighted median (reused; room for
    /// them only for the weighted median).
    weighted: Vec<(f64, f64)>,
    /// Categories in the order they first received a vote (reused between records).
    vote_order: Vec<usize>,
    /// Whether sums and averages are computed in 32-bit floats.
    float: bool,
    /// The segment whose result a chain or selectFirst handed on in this record.
    passed: Option<usize>,
    /// For a multi-model chain, the segment that gives each of the model's targets.
    target_segments: Vec<Option<usize>>,
    /// For `selectAll`: whether this record's segments all gave their values.
    listed: bool,
    /// How [`MiningModel::evaluate_selected`] combines a forest's selected nodes straight
    /// away, once prepared for direct scoring or batches.
    shortcut: Shortcut,
    /// How many trees the segments hold ([`ModelNode::tree_count`]).
    trees: usize,
}

impl MiningModel {
    /// Compiles a MiningModel element.
    pub fn compile<'a, 'input>(
        c: &mut Compiler<'a, 'input>,
        scope: ScopeId,
        element: &El<'a, 'input>,
        function: Function,
        categories: Option<&mut Categories>,
        target: Option<&str>,
        float: bool,
    ) -> Result<MiningModel> {
        let segmentation = element
            .child("Segmentation")
            .ok_or_else(|| element.invalid("a Segmentation is required"))?;
        let method = read_method(&segmentation, function)?;
        let missing = match segmentation
            .attr("missingPredictionTreatment")
            .unwrap_or("returnMissing")
        {
            "returnMissing" => MissingTreatment::ReturnMissing,
            "skipSegment" => MissingTreatment::SkipSegment,
            "continue" => MissingTreatment::Continue,
            other => return Err(segmentation.bad_keyword("missingPredictionTreatment", other)),
        };
        if missing == MissingTreatment::SkipSegment && method == Method::SelectAll {
            return Err(segmentation.unsupported("skipSegment with selectAll"));
        }
        if missing == MissingTreatment::SkipSegment && method.chains() {
            return Err(segmentation.invalid("skipSegment cannot be used with modelChain"));
        }
        let missing_threshold = segmentation.parsed_or("missingThreshold", 1.0)?;
        let mut categories = categories;
        let mut segments = Vec::new();
        for segment in segmentation.children_named("Segment") {
            segments.push(compile_segment(
                c,
                scope,
                &segment,
                target,
                categories.as_deref_mut(),
                method.chains() || method == Method::SelectAll,
            )?);
        }
        if segments.is_empty() {
            return Err(segmentation.invalid("the Segmentation has no Segment"));
        }
        if !method.chains()
            && segments
                .iter()
                .any(|segment| segment.model.function() != function)
        {
            return Err(
                segmentation.invalid("every segment must have the MiningModel's functionName")
            );
        }
        let count = segments.len();
        let mut trees = 0;
        for segment in &mut segments {
            segment.first_tree = trees;
            trees += segment.model.tree_count();
        }
        let target_segments = c
            .targets(scope)
            .iter()
            .map(|name| {
                segments
                    .iter()
                    .position(|segment| segment.model.declared_target() == Some(name.as_str()))
            })
            .collect();
        Ok(MiningModel {
            function,
            method,
            missing,
            missing_threshold,
            segments: segments.into_boxed_slice(),
            selected: vec![false; count],
            values: Vec::with_capacity(if method == Method::Median { count } else { 0 }),
            weighted: Vec::with_capacity(if method == Method::WeightedMedian {
                count
            } else {
                0
            }),
            vote_order: Vec::new(),
            float,
            passed: None,
            target_segments,
            listed: false,
            shortcut: Shortcut::None,
            trees,
        })
    }

    /// The models of the segments whose output fields the MiningModel reports as its own (as
    /// JPMML does): for selectFirst, the segments up to the first that always applies; for a
    /// chain, those from the last that always applies; for a multi-model chain, all.
    pub fn exposed_segments(&self) -> impl Iterator<Item = &ModelNode> {
        self.exposed_range()
            .map(|index| &self.segments[index].model)
    }

    /// The segments' models.
    pub fn models_mut(&mut self) -> impl Iterator<Item = &mut ModelNode> {
        self.segments.iter_mut().map(|segment| &mut segment.model)
    }

    /// The exposed segments' models, each with whether its output fields hold this record's
    /// values: JPMML reports only the outputs of the segment whose results it hands on.
    pub fn reported_segments(&self) -> impl Iterator<Item = (&ModelNode, bool)> {
        self.exposed_range().map(|index| {
            let reported = match self.method {
                Method::MultiModelChain => self.selected[index],
                _ => self.passed == Some(index),
            };
            (&self.segments[index].model, reported)
        })
    }

    fn exposed_range(&self) -> std::ops::Range<usize> {
        let always = |segment: &&Segment| segment.predicate.is_none();
        let range = match self.method {
            Method::SelectFirst => {
                0..self
                    .segments
                    .iter()
                    .position(|s| always(&s))
                    .map_or(self.segments.len(), |index| index + 1)
            }
            Method::ModelChain => {
                self.segments.iter().rposition(|s| always(&s)).unwrap_or(0)..self.segments.len()
            }
            _ => 0..0,
        };
        range
    }

    /// Whether the model hands on one segment's result unchanged (so its own Targets do not apply).
    pub fn passes_through(&self) -> bool {
        matches!(self.method, Method::SelectFirst | Method::SelectAll) || self.method.chains()
    }

    /// Whether the model lists its segments' values (`selectAll`).
    pub fn lists(&self) -> bool {
        self.method == Method::SelectAll
    }

    /// The value of each of the model's targets in this record: a multi-model chain's, or for
    /// `selectAll` the list of the values of the segments that applied (missing when a segment
    /// gave none and the model returns missing then).
    pub fn target_values(&self) -> Vec<Value> {
        if self.method == Method::SelectAll {
            let listed = self.listed.then(|| {
                let values = self.chosen().map(|segment| segment.model.value());
                Value::List(values.collect())
            });
            return vec![listed.unwrap_or(Value::Missing); self.target_segments.len().max(1)];
        }
        self.target_segments
            .iter()
            .map(|segment| match segment {
                Some(index) if self.selected[*index] => self.segments[*index].model.value(),
                _ => Value::Missing,
            })
            .collect()
    }

    /// Scores the current record; classifier probabilities go to `probabilities`.
    pub fn evaluate(&mut self, env: &mut Env<'_>, probabilities: &mut [f64]) -> Result<Raw> {
        self.combine(probabilities, |_, segment| {
            let applies = match &segment.predicate {
                None => Some(true),
                Some(predicate) => predicate.eval(env)?,
            };
            match applies {
                Some(true) => segment.model.evaluate(env).map(Some),
                _ => Ok(None),
            }
        })
    }

    /// Prepares scoring straight from records of numbers (`inputs` as
    /// [`ModelNode::prepare_direct`] takes them): possible when every segment applies to every
    /// record (its predicate is `True`), hands on no output fields, and is itself prepared.
    /// Returns whether it is.
    pub fn prepare_direct(&mut self, inputs: &[(u32, u32, bool)]) -> bool {
        self.prepare_segments(
            |segment| segment.model.has_no_outputs(),
            |model| model.prepare_direct(inputs),
        )
    }

    /// Prepares every segment with `prepare`, if every segment applies to every record and
    /// `fits`, and with it how selected nodes combine ([`MiningModel::shortcut`]). Returns
    /// whether they all are.
    fn prepare_segments(
        &mut self,
        fits: impl Fn(&Segment) -> bool,
        mut prepare: impl FnMut(&mut ModelNode) -> bool,
    ) -> bool {
        let prepared = (self.segments.iter())
            .all(|segment| segment.predicate.is_none() && fits(segment))
            && (self.segments.iter_mut()).all(|segment| prepare(&mut segment.model));
        self.shortcut = self.shortcut(prepared);
        prepared
    }

    /// How [`MiningModel::evaluate_selected`] may combine the selected nodes of a forest
    /// (`prepared`: for direct scoring or batches).
    fn shortcut(&self, prepared: bool) -> Shortcut {
        if !prepared || !self.is_forest() {
            return Shortcut::None;
        }
        match (self.function, self.method) {
            (Function::Classification, Method::Average | Method::WeightedAverage)
                if self.segments.iter().all(|s| s.category_map.is_empty()) =>
            {
                Shortcut::AverageRows
            }
            (Function::Regression, Method::Sum)
                if self.segments.iter().all(|s| !s.model.has_targets()) =>
            {
                Shortcut::SumScores
            }
            _ => Shortcut::None,
        }
    }

    /// Scores a record whose inputs are all present numbers (each at its slot in `numbers`),
    /// after [`MiningModel::prepare_direct`]; as [`MiningModel::evaluate`] scores it.
    pub fn evaluate_direct(&mut self, numbers: &[f64], probabilities: &mut [f64]) -> Result<Raw> {
        self.combine(probabilities, |_, segment| {
            segment.model.evaluate_direct(numbers).map(Some)
        })
    }

    /// Whether every segment is a tree (a forest, which [`MiningModel::select_rows`] walks
    /// tree by tree).
    pub fn is_forest(&self) -> bool {
        !self.segments.is_empty() && self.segments.iter().all(|s| s.model.is_tree())
    }

    /// Prepares scoring a batch tree by tree, with an env for the models that are not trees
    /// (see [`ModelNode::prepare_batch`]): possible when every segment applies to every record
    /// and is itself prepared. Returns whether it is.
    pub fn prepare_batch(&mut self, inputs: &[(u32, u32, bool)]) -> bool {
        self.prepare_segments(|_| true, |model| model.prepare_batch(inputs))
    }

    /// How many trees the segments hold ([`ModelNode::tree_count`]).
    pub fn tree_count(&self) -> usize {
        self.trees
    }

    /// The node each of the segments' trees selects for each record of present numbers
    /// (`stride` numbers a record, one after another), tree after tree:
    /// `selected[tree * records + record]` (see [`ModelNode::select_rows`]).
    pub fn select_rows(&self, numbers: &[f64], stride: usize, selected: &mut [u32]) {
        let records = numbers.len() / stride;
        for segment in self.segments.iter() {
            let start = segment.first_tree * records;
            let nodes = &mut selected[start..start + segment.model.tree_count() * records];
            segment.model.select_rows(numbers, stride, nodes);
        }
    }

    /// Scores a record with the nodes its trees selected, as [`MiningModel::evaluate_direct`]
    /// or [`MiningModel::evaluate`] (in `env`) scores it (see [`ModelNode::evaluate_selected`]).
    pub fn evaluate_selected(
        &mut self,
        selected: Selected<'_>,
        mut env: Option<&mut Env<'_>>,
        probabilities: &mut [f64],
    ) -> Result<Raw> {
        let combined = match self.shortcut {
            Shortcut::AverageRows if self.average_rows(selected, probabilities) => {
                Some(Raw::Class {
                    winner: super::target::winner(probabilities).unwrap_or(0),
                    probabilities: true,
                })
            }
            Shortcut::SumScores => self.sum_scores(selected).map(Raw::Value),
            _ => None,
        };
        if let Some(raw) = combined {
            return Ok(raw);
        }
        self.combine(probabilities, |_, segment| {
            let trees = selected.skip(segment.first_tree);
            segment
                .model
                .evaluate_selected(trees, env.as_deref_mut())
                .map(Some)
        })
    }

    /// For a forest that averages its trees' rows: the average of the rows of the nodes the
    /// trees selected, as [`MiningModel::combine`] and
    /// [`MiningModel::average_into`] make it (same sums in the same order). False, and
    /// `probabilities` of no meaning, when some tree selected no node or a node without a row
    /// (the record is then scored in full).
    fn average_rows(&self, selected: Selected<'_>, probabilities: &mut [f64]) -> bool {
        probabilities.fill(0.0);
        let weighted = self.method == Method::WeightedAverage;
        let mut total = 0.0;
        for (index, segment) in self.segments.iter().enumerate() {
            let Some(row) = segment.model.tree_row(selected.node(index)) else {
                return false;
            };
            let weight = if weighted { segment.weight } else { 1.0 };
            total += weight;
            for (sum, probability) in probabilities.iter_mut().zip(row) {
                *sum += weight * probability;
            }
        }
        probabilities.iter_mut().for_each(|p| *p /= total);
        true
    }

    /// For a regression that sums its trees' scores: the sum of the scores of the nodes the
    /// trees selected, as [`MiningModel::combine`] and [`MiningModel::aggregate_values`] make
    /// it (the same sum in the same order; its trees have no Targets). None when some tree
    /// selected no node or a node without a score (the record is then scored in full).
    fn sum_scores(&self, selected: Selected<'_>) -> Option<f64> {
        let mut sum = 0.0;
        for (index, segment) in self.segments.iter().enumerate() {
            sum = self.add(sum, segment.model.tree_score(selected.node(index))?);
        }
        Some(sum)
    }

    /// `sum + value`, in 32-bit floats for a model that computes in them.
    #[inline(always)]
    fn add(&self, sum: f64, value: f64) -> f64 {
        if self.float {
            f64::from(sum as f32 + value as f32)
        } else {
            sum + value
        }
    }

    /// Runs the segments in turn (`run` scores one, given its index: `None` when its predicate
    /// does not hold) and combines their results.
    #[inline]
    fn combine(
        &mut self,
        probabilities: &mut [f64],
        mut run: impl FnMut(usize, &mut Segment) -> Result<Option<Outcome>>,
    ) -> Result<Raw> {
        let mut last: Option<(usize, Outcome)> = None;
        let (mut total_weight, mut missing_weight) = (0.0, 0.0);
        self.passed = None;
        self.listed = false;
        self.selected.fill(false);
        for index in 0..self.segments.len() {
            let segment = &mut self.segments[index];
            let Some(outcome) = run(index, segment)? else {
                continue;
            };
            total_weight += segment.weight;
            if outcome == Outcome::Missing {
                missing_weight += segment.weight;
                match self.missing {
                    MissingTreatment::ReturnMissing => return Ok(Raw::Missing),
                    MissingTreatment::SkipSegment => continue,
                    MissingTreatment::Continue => {}
                }
            }
            self.selected[index] = true;
            last = Some((index, outcome));
            if self.method == Method::SelectFirst {
                break;
            }
        }
        let Some((last_index, last_outcome)) = last else {
            return Ok(Raw::Missing);
        };
        if self.missing != MissingTreatment::ReturnMissing
            && missing_weight / total_weight > self.missing_threshold
        {
            return Ok(Raw::Missing);
        }
        match self.method {
            Method::SelectFirst | Method::ModelChain => {
                self.passed = Some(last_index);
                Ok(self.pass_on(last_index, last_outcome, probabilities))
            }
            Method::MultiModelChain => Ok(self.first_target(probabilities)),
            Method::SelectAll => {
                self.listed = true;
                Ok(Raw::Missing)
            }
            _ if self.function == Function::Regression => self.aggregate_values(),
            Method::MajorityVote | Method::WeightedMajorityVote => self.vote(probabilities),
            _ => self.aggregate_probabilities(probabilities),
        }
    }

    /// A multi-model chain's result for its first target.
    fn first_target(&self, probabilities: &mut [f64]) -> Raw {
        match self.target_segments.first() {
            Some(Some(index)) if self.selected[*index] => {
                let outcome = self.segments[*index].model.last_outcome();
                self.pass_on(*index, outcome, probabilities)
            }
            _ => Raw::Missing,
        }
    }

    /// The result of one segment, in the parent's categories. The last segment run in a chain
    /// gives the chain's result only if it gives the chain's target (as JPMML returns that
    /// segment's results by field name).
    fn pass_on(&self, index: usize, outcome: Outcome, probabilities: &mut [f64]) -> Raw {
        let segment = &self.segments[index];
        if self.method == Method::ModelChain && !segment.gives_target {
            return Raw::Missing;
        }
        match outcome {
            Outcome::Missing => Raw::Missing,
            Outcome::Value(value) => Raw::Value(value),
            Outcome::Class(winner) => {
                let mapped = segment.parent_category(winner);
                let Some(source) = segment.model.probabilities() else {
                    return Raw::Class {
                        winner: mapped,
                        probabilities: false,
                    };
                };
                probabilities.iter_mut().for_each(|p| *p = 0.0);
                for (from, probability) in source.iter().enumerate() {
                    probabilities[segment.parent_category(from)] = *probability;
                }
                Raw::Class {
                    winner: mapped,
                    probabilities: true,
                }
            }
        }
    }

    fn chosen(&self) -> impl Iterator<Item = &Segment> {
        self.segments
            .iter()
            .zip(&self.selected)
            .filter(|(_, selected)| **selected)
            .map(|(segment, _)| segment)
    }

    /// Sums, averages or the median of the segments' regression values (inlined in both ways
    /// of scoring, as it was in the one: a forest's sum is a short loop).
    #[inline(always)]
    fn aggregate_values(&mut self) -> Result<Raw> {
        self.values.clear();
        self.weighted.clear();
        let (mut sum, mut weighted, mut weights, mut count) = (0.0, 0.0, 0.0, 0.0);
        for (segment, selected) in self.segments.iter().zip(&self.selected) {
            if !*selected {
                continue;
            }
            let Outcome::Value(value) = segment.model.last_outcome() else {
                return Ok(Raw::Missing);
            };
            sum = self.add(sum, value);
            weighted += segment.weight * value;
            weights += segment.weight;
            count += 1.0;
            match self.method {
                Method::Median => self.values.push(value),
                Method::WeightedMedian => self.weighted.push((value, segment.weight)),
                _ => {}
            }
        }
        Ok(Raw::Value(match self.method {
            Method::Sum => sum,
            Method::Average if self.float => f64::from(sum as f32 / count as f32),
            Method::Average => sum / count,
            Method::WeightedSum => weighted,
            Method::WeightedAverage if weights == 0.0 => {
                return Err(Error::scoring("the segment weights add up to zero"))
            }
            Method::WeightedAverage => weighted / weights,
            Method::WeightedMedian => weighted_median(&mut self.weighted, weights),
            _ => median(&mut self.values),
        }))
    }

    /// (Weighted) majority vote; probabilities are the vote shares.
    fn vote(&mut self, probabilities: &mut [f64]) -> Result<Raw> {
        probabilities.iter_mut().for_each(|p| *p = 0.0);
        self.vote_order.clear();
        let mut missing_votes = 0.0;
        let weighted = self.method == Method::WeightedMajorityVote;
        for segment in self
            .segments
            .iter()
            .zip(&self.selected)
            .filter(|(_, s)| **s)
            .map(|(segment, _)| segment)
        {
            let weight = if weighted { segment.weight } else { 1.0 };
            match segment.model.last_outcome() {
                Outcome::Class(winner) => {
                    let category = segment.parent_category(winner);
                    if !self.vote_order.contains(&category) {
                        self.vote_order.push(category);
                    }
                    probabilities[category] += weight;
                }
                _ => missing_votes += weight,
            }
        }
        let best = self.vote_order.iter().copied().reduce(|best, next| {
            if probabilities[next] > probabilities[best] {
                next
            } else {
                best
            }
        });
        let Some(best) = best else {
            return Ok(Raw::Missing);
        };
        if missing_votes > probabilities[best] {
            return Ok(Raw::Missing);
        }
        super::regression::simplemax(probabilities)?;
        Ok(Raw::Class {
            winner: best,
            probabilities: true,
        })
    }

    /// Average, weighted average, median or max of the segments' class probabilities.
    fn aggregate_probabilities(&mut self, probabilities: &mut [f64]) -> Result<Raw> {
        if self
            .chosen()
            .any(|segment| segment.model.probabilities().is_none())
        {
            return Ok(Raw::Missing);
        }
        match self.method {
            Method::Average | Method::WeightedAverage => self.average_into(probabilities, None),
            _ => {
                let winner = self.extreme_category(probabilities.len())?;
                self.average_into(probabilities, Some(winner))
            }
        }
        let winner = super::target::winner(probabilities).unwrap_or(0);
        Ok(Raw::Class {
            winner,
            probabilities: true,
        })
    }

    /// Averages the probabilities of the chosen segments; with `focus` = (category, value), only
    /// of the segments whose probability for that category is closest to the value.
    fn average_into(&self, probabilities: &mut [f64], focus: Option<(usize, f64)>) {
        probabilities.iter_mut().for_each(|p| *p = 0.0);
        let weighted = self.method == Method::WeightedAverage;
        let contributes = |segment: &Segment| match focus {
            None => true,
            Some((category, target)) => {
                let distance = |s: &Segment| (category_probability(s, category) - target).abs();
                let best = self.chosen().map(distance).fold(f64::INFINITY, f64::min);
                distance(segment) <= best
            }
        };
        let mut total = 0.0;
        for segment in self.chosen().filter(|segment| contributes(segment)) {
            let weight = if weighted { segment.weight } else { 1.0 };
            total += weight;
            let source = segment.model.probabilities().unwrap_or(&[]);
            if segment.category_map.is_empty() {
                // The same categories (a forest's trees): added in place (times 1 is exact).
                for (sum, probability) in probabilities.iter_mut().zip(source) {
                    *sum += weight * probability;
                }
                continue;
            }
            for (from, probability) in source.iter().enumerate() {
                probabilities[segment.parent_category(from)] += if weighted {
                    weight * probability
                } else {
                    *probability
                };
            }
        }
        probabilities.iter_mut().for_each(|p| *p /= total);
    }

    /// For max or median: the category with the highest per-category max (or median)
    /// probability, with that value.
    fn extreme_category(&mut self, count: usize) -> Result<(usize, f64)> {
        let mut best: Option<(usize, f64)> = None;
        let mut values = std::mem::take(&mut self.values);
        for category in 0..count {
            values.clear();
            values.extend(
                self.chosen()
                    .map(|segment| category_probability(segment, category)),
            );
            let statistic = if self.method == Method::Max {
                values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            } else {
                median(&mut values)
            };
            if best.is_none_or(|(_, top)| statistic > top) {
                best = Some((category, statistic));
            }
        }
        self.values = values;
        best.ok_or_else(|| Error::scoring("no category to choose"))
    }
}

/// A segment's probability for one of the parent's categories.
fn category_probability(segment: &Segment, category: usize) -> f64 {
    let probabilities = segment.model.probabilities().unwrap_or(&[]);
    segment
        .own_category(category)
        .map_or(0.0, |from| probabilities[from])
}

/// The median (the mean of the two middle values for an even count).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// The weighted median as JPMML computes it: the first value, in increasing order, at which the
/// running weight reaches half the total.
fn weighted_median(entries: &mut [(f64, f64)], total: f64) -> f64 {
    entries.sort_by(|a, b| a.0.total_cmp(&b.0));
    let threshold = 0.5 * total;
    let mut running = 0.0;
    for (value, weight) in entries.iter() {
        running += weight;
        if running >= threshold {
            return *value;
        }
    }
    f64::NAN
}

fn read_method(segmentation: &El<'_, '_>, function: Function) -> Result<Method> {
    let method = match segmentation.required("multipleModelMethod")? {
        "majorityVote" => Method::MajorityVote,
        "weightedMajorityVote" => Method::WeightedMajorityVote,
        "average" => Method::Average,
        "weightedAverage" => Method::WeightedAverage,
        "median" => Method::Median,
        "weightedMedian" => Method::WeightedMedian,
        "sum" => Method::Sum,
        "weightedSum" => Method::WeightedSum,
        "max" => Method::Max,
        "selectFirst" => Method::SelectFirst,
        "selectAll" => Method::SelectAll,
        "modelChain" => Method::ModelChain,
        "multiModelChain" | "x-multiModelChain" => Method::MultiModelChain,
        other => return Err(segmentation.bad_keyword("multipleModelMethod", other)),
    };
    let regression_only = matches!(
        method,
        Method::Sum | Method::WeightedSum | Method::WeightedMedian
    );
    let classification_only = matches!(
        method,
        Method::MajorityVote | Method::WeightedMajorityVote | Method::Max
    );
    match function {
        Function::Classification if regression_only => {
            Err(segmentation.invalid(format!("{method:?} cannot combine classifications")))
        }
        Function::Regression if classification_only => {
            Err(segmentation.invalid(format!("{method:?} cannot combine regressions")))
        }
        _ => Ok(method),
    }
}

fn compile_segment<'a, 'input>(
    c: &mut Compiler<'a, 'input>,
    scope: ScopeId,
    element: &El<'a, 'input>,
    target: Option<&str>,
    categories: Option<&mut Categories>,
    chained: bool,
) -> Result<Segment> {
    let predicate_element =
        predicate::find(element).ok_or_else(|| element.invalid("the segment has no predicate"))?;
    let predicate = match predicate::compile(c, scope, &predicate_element)? {
        Pred::True => None,
        other => Some(Box::new(other)),
    };
    let model_element = element
        .children()
        .find(|child| is_model_element(child.name()))
        .ok_or_else(|| element.invalid("the segment has no model"))?;
    let model = ModelNode::compile(c, Some(scope), &model_element, target)?;
    let gives_target = target.is_none() || model.declared_target() == target;
    let mut category_map = Vec::new();
    if let Some(categories) = categories {
        for label in model.labels() {
            let mapped = if chained && !gives_target {
                categories.find(c, label, element)?
            } else {
                Some(categories.index_for(c, label, element)?)
            };
            category_map.push(mapped.map_or(u32::MAX, |index| index as u32));
        }
    }
    let identity = (0..category_map.len()).all(|index| category_map[index] == index as u32);
    if identity {
        category_map.clear();
    }
    Ok(Segment {
        gives_target,
        predicate,
        weight: element.parsed_or("weight", 1.0)?,
        model,
        category_map: category_map.into_boxed_slice(),
        first_tree: 0,
    })
}
