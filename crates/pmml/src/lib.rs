//! A PMML evaluator: load a [PMML](https://dmg.org/pmml/v4-4-1/GeneralStructure.html) document
//! once, then score records with it, with the results of
//! [JPMML-Evaluator](https://github.com/jpmml/jpmml-evaluator), the reference implementation.
//!
//! ```
//! use pmml_evaluator::{Input, Model};
//!
//! let document = r#"
//! <PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
//!   <DataDictionary>
//!     <DataField name="alcohol" optype="continuous" dataType="double"/>
//!     <DataField name="quality" optype="categorical" dataType="string">
//!       <Value value="low"/><Value value="high"/>
//!     </DataField>
//!   </DataDictionary>
//!   <TreeModel functionName="classification">
//!     <MiningSchema>
//!       <MiningField name="alcohol"/>
//!       <MiningField name="quality" usageType="target"/>
//!     </MiningSchema>
//!     <Node score="low">
//!       <True/>
//!       <Node score="high"><SimplePredicate field="alcohol" operator="greaterThan" value="11.5"/></Node>
//!       <Node score="low"><True/></Node>
//!     </Node>
//!   </TreeModel>
//! </PMML>"#;
//!
//! // Records come as the document's own active fields, in MiningSchema order…
//! let mut model = Model::from_bytes(document.as_bytes())?;
//! assert_eq!(model.input_fields(), ["alcohol"]);
//! let prediction = model.score(&[12.8])?;
//! assert_eq!(prediction.class.as_deref(), Some("high"));
//!
//! // …or in any order of named fields (a CSV header, a record schema), as typed inputs.
//! let mut model = Model::with_fields(document.as_bytes(), &["colour", "alcohol"])?;
//! let prediction = model.score_inputs(&[Input::Text("red"), Input::Text("9.4")])?;
//! assert_eq!(prediction.class.as_deref(), Some("low"));
//! assert_eq!(model.class_labels().len(), 2);
//! # Ok::<(), pmml_evaluator::Error>(())
//! ```
//!
//! Every OutputField of the document (and of the segments whose results a MiningModel hands
//! on, as JPMML reports them) comes with each prediction, in the order of
//! [`Model::output_fields`]; a model with several targets reports each in
//! [`Prediction::targets`]:
//!
//! ```
//! use pmml_evaluator::{Model, Value};
//!
//! let document = r#"
//! <PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
//!   <DataDictionary>
//!     <DataField name="x" optype="continuous" dataType="double"/>
//!     <DataField name="y" optype="continuous" dataType="double"/>
//!   </DataDictionary>
//!   <Scorecard functionName="regression" baselineScore="1">
//!     <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
//!     <Output>
//!       <OutputField name="score" optype="continuous" dataType="double"/>
//!       <OutputField name="reason" optype="categorical" dataType="string" feature="reasonCode"/>
//!     </Output>
//!     <Characteristics>
//!       <Characteristic name="size" reasonCode="SMALL">
//!         <Attribute partialScore="0"><SimplePredicate field="x" operator="lessThan" value="5"/></Attribute>
//!         <Attribute partialScore="2"><True/></Attribute>
//!       </Characteristic>
//!     </Characteristics>
//!   </Scorecard>
//! </PMML>"#;
//!
//! let mut model = Model::from_bytes(document.as_bytes())?;
//! assert_eq!(model.output_fields(), ["score".into(), "reason".into()]);
//! let prediction = model.score(&[3.0])?;
//! assert_eq!(prediction.value, 0.0);
//! assert_eq!(prediction.output("reason"), Some(&Value::Text("SMALL".into())));
//! # Ok::<(), pmml_evaluator::Error>(())
//! ```
//!
//! # What is evaluated
//!
//! PMML 4.1–4.4, every model type JPMML-Evaluator 1.7 evaluates: `TreeModel`
//! (with Regressions embedded in nodes), `RegressionModel`, `GeneralRegressionModel`,
//! `NeuralNetwork`, `NaiveBayesModel`, `SupportVectorMachineModel`, `NearestNeighborModel`,
//! `ClusteringModel` (center-based), `Scorecard`, `RuleSetModel`, `AssociationModel` (items
//! from the record's fields), `TimeSeriesModel` (a `StateSpaceModel`, the one algorithm JPMML
//! evaluates: the first step's forecast is the prediction, the horizon a supplementary field
//! checked as JPMML checks it) and `MiningModel` (votes,
//! averages, medians, weighted medians, sums, max, `selectFirst`, `selectAll`, `modelChain`,
//! `multiModelChain` and `x-multiModelChain`), with the DataDictionary, MiningSchema,
//! transformations (user-defined functions included), Targets and OutputFields (predicted
//! values, probabilities, confidences, transformed values and decisions, entity and cluster ids,
//! affinities, reason codes, association rules' values), on strings, numbers, booleans, dates,
//! times and moments.
//!
//! A document is parsed once (with size and depth limits, no DTDs or entities: see
//! [`MAX_DOCUMENT_BYTES`] and [`MAX_DEPTH`]) and compiled into flat structures: every field
//! becomes a slot, predicates and constants are typed at load time, strings are interned.
//! Scoring a record then touches neither the XML nor strings (unless the model itself works on
//! strings) and allocates nothing but the vectors a [`Prediction`] hands over: a classifier's
//! probabilities, the values of the output fields, the values of several targets.
//!
//! Class labels ([`Model::class_labels`]) are the target field's categories in the order its
//! DataField lists them; when the DataField lists none, in the order the model first mentions
//! them (ScoreDistributions, RegressionTables, NeuralOutputs; cluster ids for a clustering). A
//! model that gives no prediction for a record (e.g. a tree whose missing-value strategy is
//! `nullPrediction`) yields a [`Prediction`] whose value is NaN, with no class and no
//! probabilities. Dates count days since 1970-01-01, moments seconds since its midnight, times
//! seconds since midnight: output fields of those types report these numbers.
//!
//! Rejected at load, with an [`ErrorKind::Unsupported`] error naming what is unsupported: the
//! model types JPMML does not evaluate (`BayesianNetworkModel`, `GaussianProcessModel`, ...) and
//! the time series algorithms it does not evaluate (`ARIMA`, `ExponentialSmoothing`,
//! `SeasonalTrendDecomposition`, `SpectralAnalysis`, `GARCH`), transactional association models
//! (group fields) and lists of rules (`isMultiValued="1"`), distribution-based clusterings and
//! similarity measures, Poisson distributions in Naive Bayes, `TableLocator`,
//! `Aggregate`/`Lag`/`TextIndex`, DecisionTrees embedded in tree nodes, CoxRegression, contrast
//! matrices and per-category PPCells in general regression models, `skipSegment` with
//! `selectAll`, the functions `replace`, `matches`, `formatNumber` and `formatDatetime`, and the
//! output features `residual`, `standardError`, the confidence intervals, `warning` and
//! `report`.
//!
//! # Differences from JPMML-Evaluator
//!
//! A function that is not missing-tolerant (`exp`, `equal`, ...) given a missing argument
//! returns missing, as the PMML specification says, where JPMML throws; `mapMissingTo` and
//! `defaultValue` take the function's result type; equal probabilities go to the first label in
//! label order (votes follow JPMML); `aggregateNodes` and `weightedConfidence`, which JPMML
//! lacks, average the leaves reached through unknown predicates, weighted by record count;
//! user-defined functions called with the wrong number of arguments and date functions given
//! arguments of the wrong type are refused at load, where JPMML fails each record.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod association;
mod clustering;
mod compile;
mod define;
mod error;
mod eval;
mod expr;
mod fastmath;
mod functions;
mod general_regression;
mod knn;
mod measure;
mod mining;
mod models;
mod naive_bayes;
mod neural;
mod output;
mod predicate;
mod prepared;
mod regression;
mod rule_set;
mod schema;
mod scorecard;
mod svm;
mod target;
mod temporal;
mod time_series;
mod tree;
mod value;
mod xml;

use std::sync::Arc;

pub use error::{Error, ErrorKind};
pub use prepared::PreparedRecord;
pub use xml::{MAX_DEPTH, MAX_DOCUMENT_BYTES};

use compile::Compiler;
use eval::{Env, Program, Slots};
use models::{is_model_element, Function, ModelNode, Outcome, Selected};
use schema::{read_data_dictionary, Preparation};
use value::Val;
use xml::El;

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One value of a record, as handed to [`Model::score_inputs`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input<'a> {
    /// No value.
    Missing,
    /// A number; NaN is a missing value.
    Number(f64),
    /// A text: a category, or a number written out (converted as the field's data type says).
    Text(&'a str),
}

/// The value of an output field or of a target, as a [`Prediction`] reports it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// No value.
    Missing,
    /// A number (of an integer, float or double field).
    Number(f64),
    /// A text (a category, an entity id, a reason code).
    Text(Arc<str>),
    /// A boolean.
    Boolean(bool),
    /// Several values (the items of an association rule's antecedent or consequent).
    List(Vec<Value>),
}

impl Value {
    /// The value as a number: a number, a boolean as 1 or 0, a text that reads as a number.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(number) => Some(*number),
            Value::Boolean(flag) => Some(f64::from(u8::from(*flag))),
            Value::Text(text) => text.trim().parse().ok(),
            Value::Missing | Value::List(_) => None,
        }
    }

    /// The value as a text, if it is one.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// Whether the value is missing.
    pub fn is_missing(&self) -> bool {
        matches!(self, Value::Missing)
    }
}

/// What a model says about one record.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Prediction {
    /// The regression value; for a classifier, its class label read as a number (NaN when the
    /// label is not numeric); NaN when the model gives no prediction. For a model with several
    /// targets, that of the first ([`Model::target_fields`]).
    pub value: f64,
    /// For a classifier (or a clustering), the predicted class label (cluster id).
    pub class: Option<Arc<str>>,
    /// For a classifier, one probability per label of [`Model::class_labels`], in that order
    /// (empty when the model gives none).
    pub probabilities: Vec<f64>,
    /// The values of the model's output fields, in the order of [`Model::output_fields`] (empty
    /// when the document declares none).
    pub outputs: Vec<Value>,
    /// For a model with several targets, the value of each, in the order of
    /// [`Model::target_fields`]; for a `selectAll` segmentation, for each target the list of the
    /// values of the segments that applied (a [`Value::List`]); empty for other models with one
    /// target, whose result `value` and `class` give.
    pub targets: Vec<Value>,
    /// The names of the output fields (shared with the model).
    output_names: Option<Arc<[Arc<str>]>>,
}

impl Prediction {
    /// A regression result (NaN: no prediction).
    #[inline]
    pub fn regression(value: f64) -> Self {
        Prediction {
            value,
            class: None,
            probabilities: Vec::new(),
            outputs: Vec::new(),
            targets: Vec::new(),
            output_names: None,
        }
    }

    /// A classification result for `class`, with its numeric reading as the value.
    #[inline]
    pub fn classification(class: Arc<str>, probabilities: Vec<f64>) -> Self {
        let value = class.parse::<f64>().unwrap_or(f64::NAN);
        Prediction {
            value,
            class: Some(class),
            probabilities,
            ..Prediction::regression(value)
        }
    }

    /// The value of the output field `name`, if the model has one of that name.
    pub fn output(&self, name: &str) -> Option<&Value> {
        let names = self.output_names.as_deref()?;
        let index = names.iter().position(|known| **known == *name)?;
        self.outputs.get(index)
    }

    /// The output fields' names and values, in the order of [`Model::output_fields`].
    pub fn named_outputs(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.output_names
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|name| &**name)
            .zip(&self.outputs)
    }
}

/// A record input the model reads, with its position among the fields given at load time.
#[derive(Clone, Debug)]
struct BoundInput {
    position: Option<usize>,
    slot: u32,
    preparation: Preparation,
}

/// An input whose numbers pass unchanged (the common case), read without its preparation.
#[derive(Clone, Debug)]
struct PlainInput {
    position: u32,
    slot: u32,
    /// Whether numbers are rounded to `f32`.
    float: bool,
    /// The input's index in `Model::inputs`, for values that are not plain numbers.
    input: u32,
}

/// A PMML document compiled for scoring records whose fields come in a fixed order.
///
/// Scoring takes `&mut self`: the model keeps its scratch space, so that it scores without
/// allocating. Give each thread its own copy: a clone copies the compiled model (nothing is
/// parsed or compiled again).
#[derive(Clone, Debug)]
pub struct Model {
    program: Program,
    slots: Slots,
    root: ModelNode,
    inputs: Vec<BoundInput>,
    /// The inputs prepared by `plain` (the others are prepared in full).
    plain: Vec<PlainInput>,
    other: Vec<u32>,
    /// Whether records of present numbers are scored straight from the record (a tree whose
    /// predicates compare plain inputs, a regression over plain inputs: no slots, no
    /// preparation).
    direct: bool,
    /// For direct scoring: the plain inputs' numbers (rounded to `f32` for float fields), each
    /// at its slot (reused between records).
    numbers: Vec<f64>,
    /// For a model whose batches are scored tree by tree (a direct forest, or a segmentation
    /// with trees whose other models read the record in an env, such as a gradient-boosting
    /// chain), what [`Model::score_batch`] reuses between batches; none for other models.
    forest: Option<Box<ForestBatch>>,
    input_names: Vec<String>,
    fields: Vec<Arc<str>>,
    reporting: Reporting,
}

/// A batch of records on its way through a forest's trees (reused between batches).
#[derive(Clone, Debug, Default)]
struct ForestBatch {
    /// The numbers of the batch's records of present numbers, each record's laid out as
    /// [`Model::numbers`] (one record after another).
    numbers: Vec<f64>,
    /// The index in the batch of each record in `numbers` (the others, with a missing or
    /// non-number input, are scored one by one).
    gathered: Vec<usize>,
    /// The node each tree selects for each gathered record, tree after tree.
    selected: Vec<u32>,
}

/// How many records a forest walks through one tree before it takes the next tree: enough to
/// overlap their walks, few enough that their numbers and nodes stay in the first-level cache.
const FOREST_BATCH: usize = 64;

/// What a prediction reports besides the model's outcome.
#[derive(Clone, Debug)]
struct Reporting {
    labels: Vec<Arc<str>>,
    /// Each label read as a number (NaN when it is not one), for [`Prediction::value`].
    label_numbers: Vec<f64>,
    targets: Vec<Arc<str>>,
    /// Whether a prediction lists each target's value (several targets, or `selectAll`).
    lists_targets: bool,
    output_names: Option<Arc<[Arc<str>]>>,
}

impl Model {
    /// Loads a document for records whose values come in the order of its own active
    /// MiningFields ([`Model::input_fields`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Model> {
        Self::compile(bytes, None)
    }

    /// Loads a document for records whose values come in the order of `fields` (e.g. a CSV
    /// header). Every active MiningField of the model must be among `fields`; other fields are
    /// ignored.
    pub fn with_fields<S: AsRef<str>>(bytes: &[u8], fields: &[S]) -> Result<Model> {
        let names: Vec<&str> = fields.iter().map(AsRef::as_ref).collect();
        Self::compile(bytes, Some(&names))
    }

    /// Compiles a document for records of `fields` (its own active fields when `None`).
    fn compile(bytes: &[u8], fields: Option<&[&str]>) -> Result<Model> {
        let document = xml::parse(bytes)?;
        let root = El::new(document.root_element());
        let mut program = Program::default();
        let dictionary = root
            .child("DataDictionary")
            .ok_or_else(|| root.invalid("the DataDictionary is missing"))?;
        let data_fields = read_data_dictionary(&dictionary, &mut program.interner)?;
        let mut compiler =
            Compiler::new(program, data_fields, root.child("TransformationDictionary"))?;
        let model = root
            .children()
            .find(|child| is_model_element(child.name()))
            .ok_or_else(|| root.invalid("the document has no model"))?;
        let mut node = ModelNode::compile(&mut compiler, None, &model, None)?;
        node.settle_outputs(&|slot| compiler.reads_output(slot));
        let targets: Vec<Arc<str>> = compiler
            .targets(0)
            .iter()
            .map(|name| Arc::from(name.as_str()))
            .collect();
        let exposed = node.exposed_outputs()?;
        let names: Vec<Arc<str>> = exposed.iter().map(|output| output.name.clone()).collect();
        let output_names = (!names.is_empty()).then(|| Arc::from(names));
        let own_fields: Vec<&str> = compiler
            .bindings
            .iter()
            .filter(|binding| binding.required)
            .map(|binding| binding.name.as_str())
            .collect();
        let fields: Vec<Arc<str>> = fields
            .unwrap_or(&own_fields)
            .iter()
            .map(|&field| field.into())
            .collect();
        let (inputs, input_names) = bind_inputs(compiler.bindings, &fields)?;
        let (plain, other) = split_plain(&inputs);
        let direct = other.is_empty() && node.prepare_direct(&direct_inputs(&plain));
        let program = compiler.program;
        let slots = Slots::new(program.defs.len());
        let lists_targets = targets.len() > 1 || node.lists_targets();
        let labels = node.labels().to_vec();
        let label_numbers = labels
            .iter()
            .map(|label| label.parse::<f64>().unwrap_or(f64::NAN))
            .collect();
        let numbers = vec![
            0.0;
            plain
                .iter()
                .map(|input| input.slot as usize + 1)
                .max()
                .unwrap_or(0)
        ];
        let batched = match direct {
            true => node.is_forest(),
            false => node.has_trees() && node.prepare_batch(&direct_inputs(&plain)),
        };
        let forest = (batched && !numbers.is_empty()).then(Box::default);
        Ok(Model {
            program,
            slots,
            root: node,
            inputs,
            plain,
            other,
            direct,
            numbers,
            forest,
            input_names,
            fields,
            reporting: Reporting {
                labels,
                label_numbers,
                lists_targets,
                targets,
                output_names,
            },
        })
    }

    /// The names of the active input fields the model reads, in MiningSchema order.
    pub fn input_fields(&self) -> &[String] {
        &self.input_names
    }

    /// The fields records are given in: those named at load time, or the active input fields.
    pub fn fields(&self) -> &[Arc<str>] {
        &self.fields
    }

    /// A classifier's labels, in the order of [`Prediction::probabilities`]; empty for a
    /// regression model.
    pub fn class_labels(&self) -> &[Arc<str>] {
        &self.reporting.labels
    }

    /// The target fields of the model, in MiningSchema order (empty for a model without one, such
    /// as a clustering).
    pub fn target_fields(&self) -> &[Arc<str>] {
        &self.reporting.targets
    }

    /// The names of the output fields every [`Prediction::outputs`] reports, in that order: the
    /// model's own OutputFields and those of the segments whose results it hands on (as
    /// JPMML-Evaluator reports them).
    pub fn output_fields(&self) -> &[Arc<str>] {
        self.reporting.output_names.as_deref().unwrap_or(&[])
    }

    /// The model, scoring without its output fields: every [`Prediction`] has its value, class,
    /// probabilities and targets, and no [`Prediction::outputs`] ([`Model::output_fields`] is
    /// empty). For callers that read nothing else: a prediction then costs no output vector,
    /// and an output field that cannot be computed for a record no longer fails its score.
    pub fn without_outputs(mut self) -> Self {
        self.reporting.output_names = None;
        self
    }

    /// Whether the model is a classifier.
    pub fn is_classifier(&self) -> bool {
        self.root.function() == Function::Classification
    }

    /// Scores one record of numbers, in the order of [`Model::fields`] (NaN: missing).
    pub fn score(&mut self, values: &[f64]) -> Result<Prediction> {
        self.check_width(values.len())?;
        self.score_by(|position| Input::Number(values[position]))
    }

    /// Scores `count` records of numbers at once: `rows` holds their values one record after
    /// another, each in the order of [`Model::fields`] (NaN: missing). One result per record is
    /// appended to `results`, in order, each what [`Model::score`] gives for the record. A
    /// forest (a segmentation of trees) walks each tree for many records before it takes the
    /// next tree, several times faster than record by record; so does a gradient-boosting
    /// model (a chain of sums of trees feeding a regression, which then reads each record's
    /// sums); other models score the records one by one.
    ///
    /// ```
    /// use pmml_evaluator::Model;
    ///
    /// let tree = |at: f64| format!(r#"<Segment><True/><TreeModel functionName="classification">
    ///   <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
    ///   <Node><True/>
    ///     <Node score="1"><SimplePredicate field="x" operator="greaterThan" value="{at}"/>
    ///       <ScoreDistribution value="0" recordCount="1"/><ScoreDistribution value="1" recordCount="3"/>
    ///     </Node>
    ///     <Node score="0"><True/>
    ///       <ScoreDistribution value="0" recordCount="4"/><ScoreDistribution value="1" recordCount="1"/>
    ///     </Node>
    ///   </Node></TreeModel></Segment>"#);
    /// let document = format!(r#"<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
    ///   <DataDictionary>
    ///     <DataField name="x" optype="continuous" dataType="double"/>
    ///     <DataField name="y" optype="categorical" dataType="integer"><Value value="0"/><Value value="1"/></DataField>
    ///   </DataDictionary>
    ///   <MiningModel functionName="classification">
    ///     <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
    ///     <Segmentation multipleModelMethod="average">{}{}</Segmentation>
    ///   </MiningModel></PMML>"#, tree(1.0), tree(2.0));
    ///
    /// let mut model = Model::from_bytes(document.as_bytes())?;
    /// let rows = [0.5, 2.5, 1.5, f64::NAN]; // one number a record; NaN: missing
    /// let mut results = Vec::new();
    /// model.score_batch(&rows, rows.len(), &mut results);
    /// let classes: Vec<_> = results.iter().map(|r| r.as_ref().unwrap().value).collect();
    /// assert_eq!(classes[..3], [0.0, 1.0, 0.0]); // 1.5: (0.25 + 0.8) / 2 for class 0
    /// for (row, result) in rows.chunks(1).zip(results) {
    ///     assert_eq!(result?.probabilities, model.score(row)?.probabilities);
    /// }
    /// # Ok::<(), pmml_evaluator::Error>(())
    /// ```
    pub fn score_batch(
        &mut self,
        rows: &[f64],
        count: usize,
        results: &mut Vec<Result<Prediction>>,
    ) {
        if count == 0 {
            return;
        }
        let width = rows.len() / count;
        results.reserve(count);
        match self.forest.take() {
            Some(mut forest) if width >= self.fields.len() => {
                for batch in rows[..count * width].chunks(FOREST_BATCH * width) {
                    self.score_forest(batch, width, &mut forest, results);
                }
                self.forest = Some(forest);
            }
            unused => {
                self.forest = unused;
                for row in rows.chunks(width.max(1)).take(count) {
                    results.push(self.score(row));
                }
            }
        }
    }

    /// Scores a batch of records (`width` numbers each) with a forest: the records of present
    /// numbers tree by tree, the others one by one.
    fn score_forest(
        &mut self,
        rows: &[f64],
        width: usize,
        forest: &mut ForestBatch,
        results: &mut Vec<Result<Prediction>>,
    ) {
        forest.numbers.clear();
        forest.gathered.clear();
        for (index, row) in rows.chunks_exact(width).enumerate() {
            if self.gather_numbers(&|position| Input::Number(row[position])) {
                forest.numbers.extend_from_slice(&self.numbers);
                forest.gathered.push(index);
            }
        }
        let records = forest.gathered.len();
        forest.selected.clear();
        forest.selected.resize(records * self.root.tree_count(), 0);
        self.root
            .select_rows(&forest.numbers, self.numbers.len(), &mut forest.selected);
        let mut gathered = forest.gathered.iter().copied().enumerate().peekable();
        for (index, row) in rows.chunks_exact(width).enumerate() {
            match gathered.next_if(|&(_, at)| at == index) {
                Some((record, _)) => {
                    let selected = Selected::new(&forest.selected, records, record);
                    results.push(self.score_selected(selected, row));
                }
                None => results.push(self.score(row)),
            }
        }
    }

    /// Scores a record of present numbers (`row`) of a batch with the nodes its trees selected:
    /// straight away with a direct forest, else with its inputs in an env.
    fn score_selected(&mut self, selected: Selected<'_>, row: &[f64]) -> Result<Prediction> {
        if self.direct {
            let outcome = self.root.evaluate_selected(selected, None)?;
            return direct_prediction(&mut self.root, outcome, &self.reporting);
        }
        self.score_in_env(
            |position| Input::Number(row[position]),
            |root, env| root.evaluate_selected(selected, Some(env)),
        )
    }

    /// Scores one record of typed values, in the order of [`Model::fields`].
    pub fn score_inputs(&mut self, values: &[Input<'_>]) -> Result<Prediction> {
        self.check_width(values.len())?;
        self.score_by(|position| values[position])
    }

    /// Scores one record whose value for the field at each position of [`Model::fields`]
    /// `value_at` gives (for records that are not a slice; positions are below the number of
    /// fields).
    pub fn score_by<'r>(&mut self, value_at: impl Fn(usize) -> Input<'r>) -> Result<Prediction> {
        if self.direct && self.gather_numbers(&value_at) {
            return self.score_direct();
        }
        self.score_in_env(value_at, |root, env| root.evaluate(env))
    }

    /// Scores a record whose inputs `value_at` gives in an env holding them, the model scored
    /// there by `evaluate`.
    #[inline]
    fn score_in_env<'r>(
        &mut self,
        value_at: impl Fn(usize) -> Input<'r>,
        evaluate: impl FnOnce(&mut ModelNode, &mut Env<'_>) -> Result<Outcome>,
    ) -> Result<Prediction> {
        let mut env = Env::new(&self.program, &mut self.slots);
        prepare_inputs(&self.inputs, &self.plain, &self.other, &value_at, &mut env)?;
        let outcome = evaluate(&mut self.root, &mut env)?;
        env_prediction(&mut self.root, &mut env, outcome, &self.reporting)
    }

    /// Scores a record of present numbers straight from them (a direct model), after
    /// [`Model::gather_numbers`].
    #[inline]
    fn score_direct(&mut self) -> Result<Prediction> {
        score_numbers(&mut self.root, &self.numbers, &self.reporting)
    }

    /// Copies the plain inputs' numbers to `numbers` (rounded as their fields say); false, when
    /// one is not a present number (so a direct model may not score the record).
    #[inline]
    fn gather_numbers<'r>(&mut self, value_at: &impl Fn(usize) -> Input<'r>) -> bool {
        for input in &self.plain {
            match value_at(input.position as usize) {
                Input::Number(x) if !x.is_nan() => {
                    self.numbers[input.slot as usize] =
                        if input.float { f64::from(x as f32) } else { x };
                }
                _ => return false,
            }
        }
        true
    }

    fn check_width(&self, width: usize) -> Result<()> {
        if width < self.fields.len() {
            return Err(Error::scoring(format!(
                "the record has {width} values but the model was loaded for {} fields",
                self.fields.len()
            )));
        }
        Ok(())
    }
}

/// Scores the record whose inputs are in `env`'s slots.
fn score_env(root: &mut ModelNode, env: &mut Env<'_>, reporting: &Reporting) -> Result<Prediction> {
    let outcome = root.evaluate(env)?;
    env_prediction(root, env, outcome, reporting)
}

/// The prediction of a model that scored the record in `env` to `outcome`.
#[inline]
fn env_prediction(
    root: &mut ModelNode,
    env: &mut Env<'_>,
    outcome: Outcome,
    reporting: &Reporting,
) -> Result<Prediction> {
    // The targets before the outputs: a vector made last would be copied to the prediction
    // before its parts were stored, and stall.
    let targets = match reporting.lists_targets {
        true => root.target_values(),
        false => Vec::new(),
    };
    let mut outputs = Vec::new();
    if let Some(names) = &reporting.output_names {
        outputs.reserve_exact(names.len());
        root.report(env, true, &mut outputs)?;
    }
    Ok(prediction(root, reporting, outcome, outputs, targets))
}

/// Scores a record of present numbers (each input's at its slot in `numbers`) with a direct
/// model.
#[inline]
fn score_numbers(
    root: &mut ModelNode,
    numbers: &[f64],
    reporting: &Reporting,
) -> Result<Prediction> {
    let outcome = root.evaluate_direct(numbers)?;
    direct_prediction(root, outcome, reporting)
}

/// The prediction of a direct model that scored a record to `outcome`.
#[inline]
fn direct_prediction(
    root: &mut ModelNode,
    outcome: Outcome,
    reporting: &Reporting,
) -> Result<Prediction> {
    let outputs = match reporting.output_names {
        Some(_) => root.direct_outputs(),
        None => Vec::new(),
    };
    if reporting.lists_targets {
        return Ok(prediction(
            root,
            reporting,
            outcome,
            outputs,
            root.target_values(),
        ));
    }
    Ok(prediction(root, reporting, outcome, outputs, Vec::new()))
}

/// Binds the top-level model's inputs to their positions among `fields`; fails when a required
/// one is not there. Returns the inputs and the names of the required ones.
fn bind_inputs(
    bindings: Vec<compile::Binding>,
    fields: &[Arc<str>],
) -> Result<(Vec<BoundInput>, Vec<String>)> {
    let mut inputs = Vec::new();
    let mut input_names = Vec::new();
    for binding in bindings {
        let position = fields.iter().position(|field| **field == binding.name);
        if position.is_none() && binding.required {
            return Err(ErrorKind::MissingInput(binding.name).into());
        }
        if binding.required {
            input_names.push(binding.name);
        }
        inputs.push(BoundInput {
            position,
            slot: binding.slot,
            preparation: binding.preparation,
        });
    }
    Ok((inputs, input_names))
}

/// Prepares a record's inputs into their slots: plain numbers in a compact loop, the rest (and
/// plain inputs given something else than a number) through their preparation.
fn prepare_inputs<'r>(
    inputs: &[BoundInput],
    plain: &[PlainInput],
    other: &[u32],
    value_at: &impl Fn(usize) -> Input<'r>,
    env: &mut Env<'_>,
) -> Result<()> {
    for plain in plain {
        match value_at(plain.position as usize) {
            Input::Number(x) if !x.is_nan() => {
                let x = if plain.float { f64::from(x as f32) } else { x };
                env.set(plain.slot, Val::Num(x));
            }
            raw => {
                let input = &inputs[plain.input as usize];
                let value = input.preparation.prepare(raw, env)?;
                env.set(input.slot, value);
            }
        }
    }
    for index in other {
        let input = &inputs[*index as usize];
        let raw = input.position.map_or(Input::Missing, value_at);
        let value = input.preparation.prepare(raw, env)?;
        env.set(input.slot, value);
    }
    Ok(())
}

/// The (slot, index among the gathered numbers, float field) of each plain input, for direct
/// scoring: the gathered numbers are at their slots, already rounded, so none is a float field
/// there.
fn direct_inputs(plain: &[PlainInput]) -> Vec<(u32, u32, bool)> {
    plain
        .iter()
        .map(|input| (input.slot, input.slot, false))
        .collect()
}

/// Splits the inputs into those whose numbers pass unchanged and the others (by index).
fn split_plain(inputs: &[BoundInput]) -> (Vec<PlainInput>, Vec<u32>) {
    let (mut plain, mut other) = (Vec::new(), Vec::new());
    for (index, input) in inputs.iter().enumerate() {
        match (input.position, input.preparation.plain_number()) {
            (Some(position), Some(float)) => plain.push(PlainInput {
                position: position as u32,
                slot: input.slot,
                float,
                input: index as u32,
            }),
            _ => other.push(index as u32),
        }
    }
    (plain, other)
}

/// The prediction for the model's outcome (a class's value is its label's numeric reading, as
/// [`Prediction::classification`] reads it, computed at load time).
/// The outputs and targets come with it, and the outputs' names when there are (built whole,
/// in one go: a prediction completed field by field is copied once more).
#[inline(always)]
fn prediction(
    root: &ModelNode,
    reporting: &Reporting,
    outcome: Outcome,
    outputs: Vec<Value>,
    targets: Vec<Value>,
) -> Prediction {
    let (value, class, probabilities) = match outcome {
        Outcome::Value(value) => (value, None, Vec::new()),
        Outcome::Class(index) => (
            reporting.label_numbers[index],
            Some(reporting.labels[index].clone()),
            root.probabilities()
                .map(<[f64]>::to_vec)
                .unwrap_or_default(),
        ),
        Outcome::Missing => (f64::NAN, None, Vec::new()),
    };
    Prediction {
        value,
        class,
        probabilities,
        outputs,
        targets,
        output_names: reporting.output_names.clone(),
    }
}
