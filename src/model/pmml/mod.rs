//! A PMML 4.1–4.4 scoring engine: TreeModel, RegressionModel, GeneralRegressionModel,
//! NeuralNetwork and MiningModel (ensembles, model chains), with the DataDictionary, MiningSchema,
//! transformations, Targets and the OutputFields that chained models need.
//!
//! A document is parsed once (with size and depth limits, no DTDs or entities) and compiled into
//! flat structures: every field becomes a slot, predicates and constants are typed at load time,
//! strings are interned. Scoring a record then touches neither the XML nor strings (unless the
//! model itself works on strings) and allocates nothing except the probability vector that a
//! classifier's [`Prediction`] carries.
//!
//! Results follow JPMML-Evaluator. Class labels ([`Model::class_labels`]) are the target field's
//! categories in the order its DataField lists them; when the DataField lists none, in the order
//! the model first mentions them (ScoreDistributions, RegressionTables, NeuralOutputs). A model
//! that gives no prediction for a record (e.g. a tree whose missing-value strategy is
//! `nullPrediction`) yields a [`Prediction`] whose value is NaN, with no class and no
//! probabilities.
//!
//! Rejected at load, with an error naming what is unsupported: other model types (SVM,
//! NaiveBayes, Scorecard, Clustering, RuleSet, ...), `DefineFunction`, `TableLocator`,
//! `Aggregate`/`Lag`/`TextIndex`, date and time data types, models embedded in tree nodes,
//! CoxRegression, contrast matrices and per-category PPCells in general regression models, the
//! segmentations `selectAll`, `multiModelChain` and `weightedMedian`, the functions `replace`,
//! `matches`, `formatNumber` and the date functions, and segment output features other than
//! predictedValue, probability, transformedValue and decision when a later segment uses them.
//!
//! Deliberate differences from JPMML-Evaluator: a function that is not missing-tolerant (`exp`,
//! `equal`, ...) given a missing argument returns missing, as the PMML specification says, where
//! JPMML throws; `mapMissingTo` and `defaultValue` take the function's result type; equal
//! probabilities go to the first label in label order (votes follow JPMML); `aggregateNodes` and
//! `weightedConfidence`, which JPMML lacks, average the leaves reached through unknown
//! predicates, weighted by record count.

#![warn(missing_docs)]

mod compile;
mod error;
mod eval;
mod expr;
mod functions;
mod general_regression;
mod mining;
mod models;
mod neural;
mod predicate;
mod regression;
mod schema;
mod target;
mod tree;
mod value;
mod xml;

use std::sync::Arc;

pub use error::{ErrorKind, PmmlError};
pub use xml::{MAX_DEPTH, MAX_DOCUMENT_BYTES};

pub use crate::model::Input;
use crate::model::{FeatureSchema, InputNames, Model, ModelError, ModelKind, Prediction};
use compile::Compiler;
use eval::{Env, Program, Slots};
use models::{is_model_element, Function, ModelNode, Outcome};
use schema::{read_data_dictionary, Preparation, Raw};
use xml::El;

/// A record input the model reads, with its position among the fields given at load time.
#[derive(Debug)]
struct BoundInput {
    position: Option<usize>,
    slot: u32,
    preparation: Preparation,
}

/// A PMML model compiled for scoring records whose fields come in a fixed order.
#[derive(Debug)]
pub struct PmmlModel {
    program: Program,
    slots: Slots,
    root: ModelNode,
    inputs: Vec<BoundInput>,
    input_names: Vec<String>,
    fields: Vec<Arc<str>>,
    labels: Vec<Arc<str>>,
}

impl PmmlModel {
    /// Loads a PMML document for records with the features of `schema`, in that order.
    pub fn load(bytes: &[u8], schema: FeatureSchema) -> Result<PmmlModel, ModelError> {
        Self::load_with_fields(bytes, schema.names)
    }

    /// Loads a PMML document for records whose values come in the order of `fields` (e.g. a CSV
    /// header). Every active MiningField of the model must be among `fields`.
    pub fn load_with_fields<S: AsRef<str>>(
        bytes: &[u8],
        fields: &[S],
    ) -> Result<PmmlModel, ModelError> {
        let names: Vec<&str> = fields.iter().map(AsRef::as_ref).collect();
        Ok(Self::compile(bytes, Some(&names))?)
    }

    /// Loads a PMML document for records whose values come in the order of its own active
    /// MiningFields.
    pub fn load_own_fields(bytes: &[u8]) -> Result<PmmlModel, ModelError> {
        Ok(Self::compile(bytes, None)?)
    }

    /// Loads a PMML document for the inputs `names` says.
    pub fn load_for(bytes: &[u8], names: InputNames<'_>) -> Result<PmmlModel, ModelError> {
        match names {
            InputNames::Schema(schema) => Self::load(bytes, schema),
            InputNames::Named([]) => Self::load_own_fields(bytes),
            InputNames::Named(fields) => Self::load_with_fields(bytes, fields),
        }
    }

    /// Compiles a document for records of `fields` (its own active fields when `None`).
    fn compile(bytes: &[u8], fields: Option<&[&str]>) -> Result<PmmlModel, PmmlError> {
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
        let node = ModelNode::compile(&mut compiler, None, &model, None)?;
        let own_fields: Vec<&str>;
        let fields = match fields {
            Some(fields) => fields,
            None => {
                own_fields = compiler
                    .bindings
                    .iter()
                    .filter(|binding| binding.required)
                    .map(|binding| binding.name.as_str())
                    .collect();
                &own_fields
            }
        };
        let fields: Vec<Arc<str>> = fields.iter().map(|&field| field.into()).collect();
        let mut inputs = Vec::new();
        let mut input_names = Vec::new();
        for binding in compiler.bindings {
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
        let program = compiler.program;
        let slots = Slots::new(program.defs.len());
        let labels = node.labels().to_vec();
        Ok(PmmlModel {
            program,
            slots,
            root: node,
            inputs,
            input_names,
            fields,
            labels,
        })
    }

    /// The names of the active input fields the model reads, in MiningSchema order.
    pub fn input_fields(&self) -> &[String] {
        &self.input_names
    }

    /// Whether the model is a classifier.
    pub fn is_classifier(&self) -> bool {
        self.root.function() == Function::Classification
    }

    fn check_width(&self, width: usize) -> Result<(), ModelError> {
        if width < self.fields.len() {
            return Err(ModelError::Scoring(format!(
                "the record has {width} values but the model was loaded for {} fields",
                self.fields.len()
            )));
        }
        Ok(())
    }

    fn score_with<'r>(
        &mut self,
        value_at: impl Fn(usize) -> Raw<'r>,
    ) -> Result<Prediction, ModelError> {
        let mut env = Env::new(&self.program, &mut self.slots);
        for input in &self.inputs {
            let raw = input.position.map_or(Raw::Missing, &value_at);
            let value = input.preparation.prepare(raw, &mut env)?;
            env.set(input.slot, value);
        }
        let outcome = self.root.evaluate(&mut env)?;
        Ok(self.prediction(outcome))
    }

    fn prediction(&self, outcome: Outcome) -> Prediction {
        match outcome {
            Outcome::Value(value) => Prediction::regression(value),
            Outcome::Class(index) => {
                let probabilities = self
                    .root
                    .probabilities()
                    .map(<[f64]>::to_vec)
                    .unwrap_or_default();
                Prediction::classification(self.labels[index].clone(), probabilities)
            }
            Outcome::Missing => Prediction::regression(f64::NAN),
        }
    }
}

impl Model for PmmlModel {
    fn score(&mut self, features: &[f64]) -> Result<Prediction, ModelError> {
        self.check_width(features.len())?;
        self.score_with(|position| Raw::Number(features[position]))
    }

    /// Scores one record given as typed values in the order of the fields given at load time.
    fn score_inputs(&mut self, record: &[Input<'_>]) -> Result<Prediction, ModelError> {
        self.check_width(record.len())?;
        self.score_with(|position| match record[position] {
            Input::Missing => Raw::Missing,
            Input::Number(number) => Raw::Number(number),
            Input::Text(text) => Raw::Text(text),
        })
    }

    fn inputs(&self) -> &[Arc<str>] {
        &self.fields
    }

    fn class_labels(&self) -> &[Arc<str>] {
        &self.labels
    }

    fn kind(&self) -> ModelKind {
        ModelKind::Pmml
    }
}
