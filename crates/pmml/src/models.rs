//! The model wrapper shared by every model type: its scope, target categories, Targets
//! post-processing, output fields, and the dispatch to the model type's compiled structure.

use std::sync::Arc;

use super::association::{Association, RuleChoices};
use super::clustering::Clustering;
use super::compile::{Compiler, ScopeId};
use super::error::{ErrorKind, Result};
use super::eval::Env;
use super::general_regression::GeneralRegression;
use super::knn::NearestNeighbors;
use super::mining::MiningModel;
use super::naive_bayes::NaiveBayes;
use super::neural::NeuralNetwork;
use super::output::{compile_outputs, put, Details, OutputDef, Outputs, Results};
use super::regression::RegressionModel;
use super::rule_set::RuleSet;
use super::scorecard::Scorecard;
use super::svm::SupportVectorMachine;
use super::target::{winner, Categories, TargetTransform};
use super::time_series::TimeSeries;
use super::tree::TreeModel;
use super::value::{OpType, Val};
use super::xml::El;
use crate::Value;

/// A model's mining function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    /// Predicts a number.
    Regression,
    /// Predicts a category.
    Classification,
    /// Assigns a cluster.
    Clustering,
    /// Finds association rules (and predicts nothing).
    AssociationRules,
}

/// What a model type computed, before Targets post-processing.
///
/// The tag is a whole word (as [`Val`]'s), so that a result is copied in words: with a byte tag,
/// the flag beside it was copied with the padding after it, in an unaligned word that a caller
/// reading the result had to wait for.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(u64)]
pub enum Raw {
    /// No prediction.
    Missing,
    /// A regression value.
    Value(f64),
    /// A category index; `probabilities` tells whether the probability buffer was filled.
    Class {
        /// The predicted category.
        winner: usize,
        /// Whether class probabilities were computed.
        probabilities: bool,
    },
}

/// A model's final result for a record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    /// No prediction.
    Missing,
    /// A regression value.
    Value(f64),
    /// The index of the predicted category.
    Class(usize),
}

/// The compiled structure of one model type (boxed but for a tree, the one model type a
/// document may hold hundreds of, as the segments of a forest: so that they stay small).
#[derive(Clone, Debug)]
enum Body {
    Tree(TreeModel),
    Regression(Box<RegressionModel>),
    General(Box<GeneralRegression>),
    Neural(Box<NeuralNetwork>),
    Mining(Box<MiningModel>),
    NaiveBayes(Box<NaiveBayes>),
    Svm(Box<SupportVectorMachine>),
    Clustering(Box<Clustering>),
    Knn(Box<NearestNeighbors>),
    Scorecard(Box<Scorecard>),
    RuleSet(Box<RuleSet>),
    Association(Box<Association>),
    TimeSeries(Box<TimeSeries>),
}

/// A compiled model of any type, with its target handling and outputs.
#[derive(Clone, Debug)]
pub struct ModelNode {
    function: Function,
    body: Body,
    /// The target's categories, shared with the models that have the same.
    categories: Option<Arc<Categories>>,
    /// What only some models have (none for a forest's trees, for instance).
    extras: Option<Box<Extras>>,
    probabilities: Box<[f64]>,
    has_probabilities: bool,
    last: Outcome,
}

/// The parts of a model that only some models have.
#[derive(Clone, Debug, Default)]
struct Extras {
    /// The target its own MiningSchema declares.
    declared_target: Option<String>,
    /// Its Targets post-processing.
    target: Option<TargetTransform>,
    /// A classifier's prior probabilities, for records without a prediction.
    priors: Option<Vec<f64>>,
    /// Its OutputFields.
    outputs: Outputs,
    /// What the model types that report details fill.
    details: Details,
    /// Whether the model type reports details.
    reports_details: bool,
}

impl Extras {
    /// Whether the model has none of these parts.
    fn is_empty(&self) -> bool {
        self.declared_target.is_none()
            && self.target.is_none()
            && self.priors.is_none()
            && self.outputs.fields.is_empty()
            && self.outputs.unsupported.is_none()
            && self.details.rules.is_none()
            && !self.reports_details
    }
}

/// The extras of a model that has none.
static NO_EXTRAS: Extras = Extras {
    declared_target: None,
    target: None,
    priors: None,
    outputs: Outputs {
        fields: Vec::new(),
        unsupported: None,
    },
    details: Details {
        ranked: Vec::new(),
        reasons: Vec::new(),
        confidences: Vec::new(),
        rules: None,
    },
    reports_details: false,
};

impl Body {
    /// Whether the model type reports details (entities, reason codes, confidences, rules).
    fn reports_details(&self) -> bool {
        matches!(
            self,
            Body::Clustering(_)
                | Body::Knn(_)
                | Body::Scorecard(_)
                | Body::RuleSet(_)
                | Body::Association(_)
        )
    }
}

/// The model elements of PMML this engine does not evaluate.
const UNSUPPORTED_MODELS: [&str; 6] = [
    "AnomalyDetectionModel",
    "BayesianNetworkModel",
    "BaselineModel",
    "GaussianProcessModel",
    "SequenceModel",
    "TextModel",
];

/// Whether `name` is an element that may hold a model at the top level or in a Segment.
pub fn is_model_element(name: &str) -> bool {
    !matches!(
        name,
        "Header"
            | "MiningBuildTask"
            | "DataDictionary"
            | "TransformationDictionary"
            | "Extension"
            | "True"
            | "False"
            | "SimplePredicate"
            | "CompoundPredicate"
            | "SimpleSetPredicate"
            | "VariableWeight"
    )
}

/// The nodes a batch's trees selected for one of its records ([`ModelNode::select_rows`]).
#[derive(Clone, Copy, Debug)]
pub struct Selected<'a> {
    /// The nodes of every tree for every record: `nodes[tree * records + record]`.
    nodes: &'a [u32],
    records: usize,
    record: usize,
}

impl<'a> Selected<'a> {
    /// The nodes `nodes` selected for record `record` of `records`.
    pub fn new(nodes: &'a [u32], records: usize, record: usize) -> Self {
        Selected {
            nodes,
            records,
            record,
        }
    }

    /// The node tree `tree` selected for the record.
    #[inline]
    pub fn node(&self, tree: usize) -> u32 {
        self.nodes[tree * self.records + self.record]
    }

    /// The nodes of the trees from tree `trees` on (those of a later segment).
    #[inline]
    pub fn skip(self, trees: usize) -> Self {
        Selected {
            nodes: &self.nodes[trees * self.records..],
            ..self
        }
    }
}

impl ModelNode {
    /// Compiles the model `element` inside the scope `parent` (none for the top-level model);
    /// `inherited_target` is the enclosing model's target field.
    pub fn compile<'a, 'input>(
        c: &mut Compiler<'a, 'input>,
        parent: Option<ScopeId>,
        element: &El<'a, 'input>,
        inherited_target: Option<&str>,
    ) -> Result<ModelNode> {
        let model_type = model_type(element)?;
        let scope = c.open_scope(parent, element)?;
        let declared_target = c.declared_target(scope);
        let target_name = declared_target
            .clone()
            .or_else(|| inherited_target.map(str::to_owned));
        let function = match element.required("functionName")? {
            "regression" => Function::Regression,
            "classification" => Function::Classification,
            "clustering" => Function::Clustering,
            "associationRules" => Function::AssociationRules,
            // A time series forecasts a number (JPMML decodes its result to the first step's).
            "timeSeries" if model_type == ModelType::TimeSeries => Function::Regression,
            other => return Err(element.unsupported(format!("functionName=\"{other}\""))),
        };
        let classifies = matches!(function, Function::Classification | Function::Clustering);
        let mut categories = classifies.then(|| {
            let categories = Categories::for_target(c, target_name.as_deref());
            match (&declared_target, parent) {
                (None, Some(_)) => categories.extensible(),
                _ => categories,
            }
        });
        let target_op_type = target_name
            .as_deref()
            .and_then(|name| c.data_fields.get(name))
            .map_or(OpType::Categorical, |field| field.op_type);
        let cats = categories.as_mut();
        let float = read_math_context(element)?;
        let mut body = match model_type {
            ModelType::Tree => Body::Tree(TreeModel::compile(
                c, scope, element, function, cats, float,
            )?),
            ModelType::Regression => Body::Regression(Box::new(RegressionModel::compile(
                c,
                scope,
                element,
                function,
                cats,
                target_op_type,
                float,
            )?)),
            ModelType::General => Body::General(Box::new(GeneralRegression::compile(
                c, scope, element, function, cats,
            )?)),
            ModelType::Neural => Body::Neural(Box::new(NeuralNetwork::compile(
                c, scope, element, function, cats,
            )?)),
            ModelType::NaiveBayes => Body::NaiveBayes(Box::new(NaiveBayes::compile(
                c,
                scope,
                element,
                classifier_categories(element, cats)?,
            )?)),
            ModelType::Clustering => Body::Clustering(Box::new(Clustering::compile(
                c,
                scope,
                element,
                classifier_categories(element, cats)?,
            )?)),
            ModelType::Knn => Body::Knn(Box::new(NearestNeighbors::compile(
                c,
                scope,
                element,
                function,
                target_name.as_deref(),
                cats,
            )?)),
            ModelType::Scorecard if function == Function::Regression => {
                Body::Scorecard(Box::new(Scorecard::compile(c, scope, element)?))
            }
            ModelType::Scorecard => {
                return Err(element.unsupported("a Scorecard that does not do regression"))
            }
            ModelType::RuleSet => Body::RuleSet(Box::new(RuleSet::compile(
                c,
                scope,
                element,
                classifier_categories(element, cats)?,
            )?)),
            ModelType::Association if function == Function::AssociationRules => {
                Body::Association(Box::new(Association::compile(c, scope, element)?))
            }
            ModelType::Association => {
                return Err(
                    element.invalid("an AssociationModel has functionName=\"associationRules\"")
                )
            }
            ModelType::TimeSeries if function == Function::Regression => {
                Body::TimeSeries(Box::new(TimeSeries::compile(c, scope, element)?))
            }
            ModelType::TimeSeries => {
                return Err(element.invalid("a TimeSeriesModel has functionName=\"timeSeries\""))
            }
            ModelType::Svm => Body::Svm(Box::new(SupportVectorMachine::compile(
                c, scope, element, function, cats, float,
            )?)),
            ModelType::Mining => Body::Mining(Box::new(MiningModel::compile(
                c,
                scope,
                element,
                function,
                cats,
                target_name.as_deref(),
                float,
            )?)),
        };
        let passes_through = matches!(&body, Body::Mining(mining) if mining.passes_through());
        let target = if passes_through {
            None
        } else {
            TargetTransform::read(element, target_name.as_deref(), float)?
        };
        let mut rules = match &body {
            Body::Association(association) => Some(RuleChoices::new(association.table())),
            _ => None,
        };
        let outputs = compile_outputs(
            c,
            element,
            scope,
            parent,
            categories.as_mut(),
            rules.as_mut(),
        )?;
        if let Body::Clustering(clustering) = &mut body {
            clustering.rank_when(outputs.fields.iter().any(OutputDef::reads_ranks));
        }
        let priors = read_priors(c, element, target.as_ref(), categories.as_mut())?;
        let count = categories.as_ref().map_or(0, Categories::len);
        let categories = categories.map(|categories| c.share_categories(categories));
        // A tree's probabilities are read from its rows, when no buffer is needed.
        let probabilities = match &body {
            Body::Tree(tree) if tree.reads_rows(count) && priors.is_none() => Box::new([]),
            _ => vec![0.0; count].into_boxed_slice(),
        };
        let extras = Extras {
            declared_target,
            target,
            priors,
            outputs,
            details: Details {
                rules,
                ..Details::default()
            },
            reports_details: body.reports_details(),
        };
        Ok(ModelNode {
            function,
            body,
            categories,
            extras: (!extras.is_empty()).then(|| Box::new(extras)),
            probabilities,
            has_probabilities: false,
            last: Outcome::Missing,
        })
    }

    /// Scores the current record.
    pub fn evaluate(&mut self, env: &mut Env<'_>) -> Result<Outcome> {
        let probabilities = &mut self.probabilities;
        let extras = &mut self.extras;
        let raw =
            match &mut self.body {
                Body::Tree(tree) => tree.evaluate(env, probabilities)?,
                Body::Regression(regression) => regression.evaluate(env, probabilities)?,
                Body::General(general) => general.evaluate(env, probabilities)?,
                Body::Neural(network) => network.evaluate(env, probabilities)?,
                Body::Mining(mining) => mining.evaluate(env, probabilities)?,
                Body::NaiveBayes(bayes) => bayes.evaluate(env, probabilities)?,
                Body::Svm(svm) => svm.evaluate(env, probabilities)?,
                Body::Clustering(clustering) => clustering
                    .evaluate(env, &mut extras.get_or_insert_with(Box::default).details)?,
                Body::Knn(knn) => {
                    knn.evaluate(env, &mut extras.get_or_insert_with(Box::default).details)?
                }
                Body::Scorecard(scorecard) => {
                    scorecard.evaluate(env, &mut extras.get_or_insert_with(Box::default).details)?
                }
                Body::RuleSet(rules) => rules.evaluate(
                    env,
                    &mut extras.get_or_insert_with(Box::default).details,
                    probabilities.len(),
                )?,
                Body::Association(association) => association
                    .evaluate(env, &mut extras.get_or_insert_with(Box::default).details)?,
                Body::TimeSeries(series) => series.evaluate(env)?,
            };
        self.finish_in(raw, Some(env))
    }

    /// Prepares scoring straight from records of numbers (see [`TreeModel::prepare_direct`],
    /// [`RegressionModel::prepare_direct`] and [`MiningModel::prepare_direct`]): possible for a
    /// tree, a regression or a segmentation of them whose output fields follow from the
    /// prediction alone. Returns whether it is.
    pub fn prepare_direct(&mut self, inputs: &[(u32, u32, bool)]) -> bool {
        let categories = self.categories.as_deref();
        let direct_outputs = self.extras().outputs.unsupported.is_none()
            && self
                .extras()
                .outputs
                .fields
                .iter()
                .all(|output| output.is_direct(categories));
        match &mut self.body {
            Body::Tree(tree) if direct_outputs => tree.prepare_direct(inputs),
            Body::Regression(regression) if direct_outputs => regression.prepare_direct(inputs),
            Body::General(general) if direct_outputs => general.prepare_direct(inputs),
            Body::Mining(mining) if direct_outputs => mining.prepare_direct(inputs),
            _ => false,
        }
    }

    /// Whether the model has no output fields (supported or not).
    pub fn has_no_outputs(&self) -> bool {
        let outputs = &self.extras().outputs;
        outputs.fields.is_empty() && outputs.unsupported.is_none()
    }

    /// The output fields' values after [`ModelNode::evaluate_direct`].
    pub fn direct_outputs(&self) -> Vec<Value> {
        let predicted = match (self.last, &self.categories) {
            (Outcome::Class(index), Some(categories)) => match categories.values[index] {
                Val::Num(number) => Value::Number(number),
                Val::Bool(flag) => Value::Boolean(flag),
                _ => Value::Text(categories.labels[index].clone()),
            },
            (Outcome::Value(value), _) => Value::Number(value),
            _ => Value::Missing,
        };
        let probabilities = match (self.probabilities(), self.last) {
            (Some(probabilities), Outcome::Class(winner)) => Some((probabilities, winner)),
            _ => None,
        };
        self.extras()
            .outputs
            .fields
            .iter()
            .map(|output| output.direct_value(&predicted, probabilities))
            .collect()
    }

    /// Scores a record whose inputs are all present numbers (each at its slot in `numbers`),
    /// after [`ModelNode::prepare_direct`].
    #[inline]
    pub fn evaluate_direct(&mut self, numbers: &[f64]) -> Result<Outcome> {
        let number = |slot: usize| numbers[slot];
        let raw = match &mut self.body {
            Body::Tree(tree) => tree.evaluate_direct(number, &mut self.probabilities)?,
            Body::Regression(regression) => {
                regression.evaluate_direct(number, &mut self.probabilities)?
            }
            Body::General(general) => general.evaluate_direct(number)?,
            _ => self.evaluate_segments_direct(numbers)?,
        };
        Ok(self.finish(raw))
    }

    /// Whether records can be scored a batch at a time, tree by tree, straight from their
    /// numbers ([`ModelNode::select_rows`]): a segmentation of trees, prepared for direct
    /// scoring.
    pub fn is_forest(&self) -> bool {
        match &self.body {
            Body::Mining(mining) => mining.is_forest(),
            _ => false,
        }
    }

    /// Whether the model is a segmentation with trees in it (a tree of its segments' or
    /// nested deeper), which [`ModelNode::select_rows`] walks.
    pub fn has_trees(&self) -> bool {
        matches!(self.body, Body::Mining(_)) && self.tree_count() > 0
    }

    /// How many trees [`ModelNode::select_rows`] walks: 1 for a tree, those of its segments for
    /// a segmentation, none for other models.
    pub fn tree_count(&self) -> usize {
        match &self.body {
            Body::Tree(_) => 1,
            Body::Mining(mining) => mining.tree_count(),
            _ => 0,
        }
    }

    /// Prepares scoring a batch tree by tree ([`ModelNode::select_rows`]) with an [`Env`] for
    /// the models that are not trees (and hold none): possible when every tree has no output
    /// fields and is prepared for direct scoring (`inputs` as [`ModelNode::prepare_direct`]
    /// takes them), and every segment of a segmentation applies to every record. Returns
    /// whether it is.
    pub fn prepare_batch(&mut self, inputs: &[(u32, u32, bool)]) -> bool {
        let no_outputs = self.has_no_outputs();
        match &mut self.body {
            Body::Tree(tree) => no_outputs && tree.prepare_direct(inputs),
            Body::Mining(mining) => mining.prepare_batch(inputs),
            _ => true,
        }
    }

    /// For a tree or a segmentation prepared for it ([`ModelNode::is_forest`],
    /// [`ModelNode::prepare_batch`]): the node each of its [`ModelNode::tree_count`] trees
    /// selects for each record of present numbers (`stride` numbers a record, one record after
    /// another), tree after tree: `selected[tree * records + record]`.
    pub fn select_rows(&self, numbers: &[f64], stride: usize, selected: &mut [u32]) {
        match &self.body {
            Body::Tree(tree) => tree.select_rows(numbers, stride, selected),
            Body::Mining(mining) => mining.select_rows(numbers, stride, selected),
            _ => {}
        }
    }

    /// Scores a record with the nodes its trees selected ([`ModelNode::select_rows`]), as
    /// [`ModelNode::evaluate_direct`] (without `env`, for a forest) or [`ModelNode::evaluate`]
    /// (in `env`, holding the record's inputs, after [`ModelNode::prepare_batch`]) scores it:
    /// the models that are not trees are scored in `env`.
    pub fn evaluate_selected(
        &mut self,
        selected: Selected<'_>,
        mut env: Option<&mut Env<'_>>,
    ) -> Result<Outcome> {
        let raw = match &mut self.body {
            Body::Tree(tree) => {
                tree.evaluate_selected(selected.node(0), &mut self.probabilities)?
            }
            Body::Mining(mining) => {
                mining.evaluate_selected(selected, env.as_deref_mut(), &mut self.probabilities)?
            }
            _ => match env {
                Some(env) => return self.evaluate(env),
                None => return Err(ErrorKind::Scoring("not a forest".into()).into()),
            },
        };
        self.finish_in(raw, env)
    }

    /// For a tree: the probability row of its node `node` (none: no such node, or no row).
    #[inline]
    pub(crate) fn tree_row(&self, node: u32) -> Option<&[f64]> {
        match &self.body {
            Body::Tree(tree) => tree.node_row(node),
            _ => None,
        }
    }

    /// For a tree: the score of its node `node`, before any Targets (none: no such node, or no
    /// score).
    #[inline]
    pub(crate) fn tree_score(&self, node: u32) -> Option<f64> {
        match &self.body {
            Body::Tree(tree) => tree.node_score(node),
            _ => None,
        }
    }

    /// Whether the model rescales its values (Targets).
    pub(crate) fn has_targets(&self) -> bool {
        self.extras().target.is_some()
    }

    /// Whether the model is a tree.
    pub fn is_tree(&self) -> bool {
        matches!(self.body, Body::Tree(_))
    }

    /// [`ModelNode::evaluate_direct`] for a segmentation (apart, so that a single tree's or
    /// regression's scoring stays as short as it was).
    #[cold]
    #[inline(never)]
    fn evaluate_segments_direct(&mut self, numbers: &[f64]) -> Result<Raw> {
        match &mut self.body {
            Body::Mining(mining) => mining.evaluate_direct(numbers, &mut self.probabilities),
            _ => Err(ErrorKind::Scoring("not prepared for direct scoring".into()).into()),
        }
    }

    /// Applies Targets (rescaling of values, defaults and prior probabilities) and keeps the
    /// outcome as the record's last.
    #[inline(always)]
    fn finish(&mut self, raw: Raw) -> Outcome {
        self.has_probabilities = false;
        let extras = self.extras.as_deref().unwrap_or(&NO_EXTRAS);
        let outcome = match raw {
            Raw::Value(value) => Outcome::Value(
                extras
                    .target
                    .as_ref()
                    .map_or(value, |target| target.apply(value)),
            ),
            Raw::Class {
                winner,
                probabilities,
            } => {
                self.has_probabilities = probabilities;
                Outcome::Class(winner)
            }
            Raw::Missing => match (self.function, &extras.priors) {
                (Function::Classification, Some(priors)) => {
                    self.probabilities.copy_from_slice(priors);
                    self.has_probabilities = true;
                    Outcome::Class(winner(priors).unwrap_or(0))
                }
                (Function::Regression, _) => {
                    match extras
                        .target
                        .as_ref()
                        .and_then(|target| target.default_value)
                    {
                        Some(default) => Outcome::Value(
                            extras
                                .target
                                .as_ref()
                                .map_or(default, |target| target.apply(default)),
                        ),
                        None => Outcome::Missing,
                    }
                }
                _ => Outcome::Missing,
            },
        };
        self.last = outcome;
        outcome
    }

    /// [`ModelNode::finish`], then, in an env, stores the output fields' values.
    #[inline(always)]
    fn finish_in(&mut self, raw: Raw, env: Option<&mut Env<'_>>) -> Result<Outcome> {
        let outcome = self.finish(raw);
        match env {
            Some(env) if !self.extras().outputs.fields.is_empty() => self.write_outputs(env)?,
            _ => {}
        }
        Ok(outcome)
    }

    /// Stores the output fields' values (but those computed when reported).
    fn write_outputs(&self, env: &mut Env<'_>) -> Result<()> {
        let mut number = Val::Missing;
        let results = self.results(&mut number);
        for output in &self.extras().outputs.fields {
            if !output.is_computed() {
                output.write(env, results)?;
            }
        }
        Ok(())
    }

    /// The last evaluation's results, for the output fields (`number` keeps a regression's
    /// value).
    fn results<'s>(&'s self, number: &'s mut Val) -> Results<'s> {
        let (predicted, winner) = match self.last {
            Outcome::Missing => (&Val::Missing, None),
            Outcome::Value(value) => {
                *number = Val::Num(value);
                let number: &Val = number;
                (number, None)
            }
            Outcome::Class(index) => (
                self.categories
                    .as_ref()
                    .map_or(&Val::Missing, |c| &c.values[index]),
                Some(index),
            ),
        };
        let probabilities = match (self.probabilities(), winner) {
            (Some(probabilities), Some(index)) => Some((probabilities, index)),
            _ => None,
        };
        Results {
            predicted,
            probabilities,
            winner,
            details: self.details(),
        }
    }

    /// Appends the values of the output fields [`ModelNode::exposed_outputs`] lists: missing for
    /// the segments whose results were not handed on.
    pub fn report(&self, env: &mut Env<'_>, reported: bool, values: &mut Vec<Value>) -> Result<()> {
        let fields = &self.extras().outputs.fields;
        let start = values.len();
        values.resize_with(start + fields.len(), || Value::Missing);
        if reported {
            self.report_own(env, &mut values[start..])?;
        }
        if let Body::Mining(mining) = &self.body {
            for (segment, passed) in mining.reported_segments() {
                segment.report(env, reported && passed, values)?;
            }
        }
        Ok(())
    }

    /// Sets the values of the model's own output fields: lists of items, values computed when
    /// reported, and those stored (read in place, kind by kind: the slot was just written in
    /// parts, which a copy of the whole value would wait for).
    fn report_own(&self, env: &mut Env<'_>, values: &mut [Value]) -> Result<()> {
        let details = self.details();
        let mut number = Val::Missing;
        let results = self.results(&mut number);
        for (value, output) in values.iter_mut().zip(&self.extras().outputs.fields) {
            if let Some(list) = output.list_value(details)? {
                *value = list;
            } else if output.is_computed() {
                output.compute(env, results, value)?;
            } else {
                put(env, env.written(output.slot), value);
            }
        }
        Ok(())
    }

    /// Decides, once the whole document is compiled, which output fields (the model's and its
    /// segments') are computed when reported ([`OutputDef::settle`]; `reads`: whether something
    /// reads a slot).
    pub fn settle_outputs(&mut self, reads: &dyn Fn(u32) -> bool) {
        let categories = self.categories.clone();
        if let Some(extras) = &mut self.extras {
            let Extras {
                outputs, details, ..
            } = &mut **extras;
            for output in &mut outputs.fields {
                let read = reads(output.slot);
                output.settle(read, categories.as_deref(), details.rules.as_ref());
            }
        }
        if let Body::Mining(mining) = &mut self.body {
            for segment in mining.models_mut() {
                segment.settle_outputs(reads);
            }
        }
    }

    /// The value of the last evaluation, as a caller sees it (a class as its label).
    pub fn value(&self) -> Value {
        match self.last {
            Outcome::Missing => Value::Missing,
            Outcome::Value(value) => Value::Number(value),
            Outcome::Class(index) => Value::Text(self.labels()[index].clone()),
        }
    }

    /// Whether the model's targets are lists of its segments' values (`selectAll`).
    pub fn lists_targets(&self) -> bool {
        matches!(&self.body, Body::Mining(mining) if mining.lists())
    }

    /// The value of each target of a model with several (a multi-model chain), or the lists of a
    /// `selectAll` segmentation.
    pub fn target_values(&self) -> Vec<Value> {
        match &self.body {
            Body::Mining(mining) => mining.target_values(),
            _ => vec![self.value()],
        }
    }

    /// The output fields a caller sees: the model's own, then those of the segments whose
    /// results it hands on (as JPMML lists them), in document order. Fails when one of them
    /// has a feature that is not supported.
    pub fn exposed_outputs(&self) -> Result<Vec<&OutputDef>> {
        let mut exposed = Vec::new();
        self.expose(&mut exposed)?;
        Ok(exposed)
    }

    fn expose<'s>(&'s self, exposed: &mut Vec<&'s OutputDef>) -> Result<()> {
        if let Some(unsupported) = &self.extras().outputs.unsupported {
            let (name, line, reason) = &**unsupported;
            return Err(ErrorKind::Unsupported {
                element: "OutputField".to_owned(),
                line: *line,
                what: format!("the output field `{name}` ({reason})"),
            }
            .into());
        }
        exposed.extend(&self.extras().outputs.fields);
        if let Body::Mining(mining) = &self.body {
            for segment in mining.exposed_segments() {
                segment.expose(exposed)?;
            }
        }
        Ok(())
    }

    /// What only some models have (empty for the others).
    fn extras(&self) -> &Extras {
        self.extras.as_deref().unwrap_or(&NO_EXTRAS)
    }

    /// The details the model reported for the last record (none for a model type without).
    fn details(&self) -> &Details {
        &self.extras().details
    }

    /// The result of the last evaluation.
    pub fn last_outcome(&self) -> Outcome {
        self.last
    }

    /// The class probabilities of the last classification, if it gave any.
    #[inline]
    pub fn probabilities(&self) -> Option<&[f64]> {
        if !self.has_probabilities {
            return None;
        }
        match &self.body {
            Body::Tree(tree) if self.probabilities.is_empty() => tree.last_row(),
            _ => Some(&self.probabilities),
        }
    }

    /// The labels of a classifier's categories (empty for a regression).
    pub fn labels(&self) -> &[Arc<str>] {
        self.categories
            .as_ref()
            .map_or(&[], |categories| categories.labels.as_slice())
    }

    /// The target field the model's own MiningSchema declares, if any.
    pub fn declared_target(&self) -> Option<&str> {
        self.extras().declared_target.as_deref()
    }

    /// The model's mining function.
    pub fn function(&self) -> Function {
        self.function
    }
}

/// The model types this engine evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ModelType {
    Tree,
    Regression,
    General,
    Neural,
    Mining,
    NaiveBayes,
    Svm,
    Clustering,
    Knn,
    Scorecard,
    RuleSet,
    Association,
    TimeSeries,
}

/// The type of the model `element`, or why it cannot be evaluated.
fn model_type(element: &El<'_, '_>) -> Result<ModelType> {
    let model_type = match element.name() {
        "TreeModel" => ModelType::Tree,
        "RegressionModel" => ModelType::Regression,
        "GeneralRegressionModel" => ModelType::General,
        "NeuralNetwork" => ModelType::Neural,
        "MiningModel" => ModelType::Mining,
        "NaiveBayesModel" => ModelType::NaiveBayes,
        "SupportVectorMachineModel" => ModelType::Svm,
        "ClusteringModel" => ModelType::Clustering,
        "NearestNeighborModel" => ModelType::Knn,
        "Scorecard" => ModelType::Scorecard,
        "RuleSetModel" => ModelType::RuleSet,
        "AssociationModel" => ModelType::Association,
        "TimeSeriesModel" => ModelType::TimeSeries,
        name if UNSUPPORTED_MODELS.contains(&name) => {
            return Err(element.unsupported(format!("the model type <{name}>")));
        }
        name => return Err(element.invalid(format!("<{name}> is not a PMML model type"))),
    };
    if element.attr("isScorable") == Some("false") {
        return Err(element.invalid("the model is marked isScorable=\"false\""));
    }
    Ok(model_type)
}

/// The categories of a model type that only classifies.
fn classifier_categories<'c>(
    element: &El<'_, '_>,
    categories: Option<&'c mut Categories>,
) -> Result<&'c mut Categories> {
    categories
        .ok_or_else(|| element.unsupported(format!("<{}> with this functionName", element.name())))
}

/// Whether the model computes in 32-bit floats (`x-mathContext="float"`, as XGBoost models do).
fn read_math_context(element: &El<'_, '_>) -> Result<bool> {
    match element
        .attr("x-mathContext")
        .or(element.attr("mathContext"))
        .unwrap_or("double")
    {
        "double" => Ok(false),
        "float" => Ok(true),
        other => Err(element.bad_keyword("x-mathContext", other)),
    }
}

/// Prior probabilities (from TargetValue elements) in category order, normalized to sum to one.
fn read_priors(
    c: &mut Compiler<'_, '_>,
    element: &El<'_, '_>,
    target: Option<&TargetTransform>,
    categories: Option<&mut Categories>,
) -> Result<Option<Vec<f64>>> {
    let (Some(target), Some(categories)) = (target, categories) else {
        return Ok(None);
    };
    if target.priors.is_empty() {
        return Ok(None);
    }
    let mut priors = Vec::new();
    for (label, prior) in &target.priors {
        priors.push((categories.index_for(c, label, element)?, *prior));
    }
    let sum: f64 = priors.iter().map(|(_, prior)| prior).sum();
    if sum == 0.0 {
        return Err(element.invalid("the prior probabilities add up to zero"));
    }
    let mut dense = vec![0.0; categories.len()];
    for (index, prior) in priors {
        dense[index] = if sum == 1.0 { prior } else { prior / sum };
    }
    Ok(Some(dense))
}
