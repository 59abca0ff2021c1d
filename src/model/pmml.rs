//! PMML models, evaluated by the workspace's own PMML evaluator (the `pmml-evaluator` crate),
//! behind the server's [`Model`] trait.

use std::sync::Arc;

use pmml_evaluator::ErrorKind;

use super::{Input, InputNames, Model, ModelError, ModelKind, Prediction};

/// A PMML document compiled for the inputs a record type gives.
pub struct PmmlModel(pmml_evaluator::Model);

impl PmmlModel {
    /// Loads a PMML document for the inputs `names` says: a record schema's features, the
    /// descriptor's `inputs`, or, when those are empty, the document's own active fields. Its
    /// output fields are not computed: a served [`Prediction`] has no place for them.
    pub fn load_for(bytes: &[u8], names: InputNames<'_>) -> Result<Self, ModelError> {
        let model = match names {
            InputNames::Schema(schema) => pmml_evaluator::Model::with_fields(bytes, schema.names),
            InputNames::Named([]) => pmml_evaluator::Model::from_bytes(bytes),
            InputNames::Named(fields) => pmml_evaluator::Model::with_fields(bytes, fields),
        };
        model
            .map(|model| PmmlModel(model.without_outputs()))
            .map_err(model_error)
    }
}

impl Model for PmmlModel {
    fn score(&mut self, features: &[f64]) -> Result<Prediction, ModelError> {
        self.0.score(features).map(prediction).map_err(model_error)
    }

    /// A forest walks each tree for a whole batch of records (see
    /// [`pmml_evaluator::Model::score_batch`]); other models score record by record.
    fn score_batch(
        &mut self,
        rows: &[f64],
        count: usize,
        results: &mut Vec<Result<Prediction, ModelError>>,
    ) {
        let mut scored = Vec::with_capacity(count);
        self.0.score_batch(rows, count, &mut scored);
        results.extend(
            scored
                .into_iter()
                .map(|result| result.map(prediction).map_err(model_error)),
        );
    }

    fn score_inputs(&mut self, inputs: &[Input<'_>]) -> Result<Prediction, ModelError> {
        let fields = self.0.fields().len();
        if inputs.len() < fields {
            return Err(ModelError::Scoring(format!(
                "the record has {} values but the model was loaded for {fields} fields",
                inputs.len()
            )));
        }
        self.0
            .score_by(|position| match inputs[position] {
                Input::Missing => pmml_evaluator::Input::Missing,
                Input::Number(number) => pmml_evaluator::Input::Number(number),
                Input::Text(text) => pmml_evaluator::Input::Text(text),
            })
            .map(prediction)
            .map_err(model_error)
    }

    fn inputs(&self) -> &[Arc<str>] {
        self.0.fields()
    }

    fn class_labels(&self) -> &[Arc<str>] {
        self.0.class_labels()
    }

    fn kind(&self) -> ModelKind {
        ModelKind::Pmml
    }

    /// A copy of the compiled model: the document is not parsed again.
    fn fork(&self) -> Option<Box<dyn Model>> {
        Some(Box::new(PmmlModel(self.0.clone())))
    }
}

fn prediction(scored: pmml_evaluator::Prediction) -> Prediction {
    Prediction {
        value: scored.value,
        class: scored.class,
        probabilities: scored.probabilities.into(),
    }
}

fn model_error(error: pmml_evaluator::Error) -> ModelError {
    match error.kind() {
        ErrorKind::Unsupported {
            element,
            line,
            what,
        } => ModelError::Unsupported(format!(
            "<{element}> at line {line}: {what} is not supported"
        )),
        ErrorKind::MissingInput(name) => ModelError::MissingInput(name.clone()),
        ErrorKind::Scoring(reason) => ModelError::Scoring(reason.clone()),
        _ => ModelError::Invalid {
            kind: ModelKind::Pmml,
            reason: error.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FeatureSchema;

    const TREE: &str = r#"<PMML xmlns="http://www.dmg.org/PMML-4_3" version="4.3">
  <DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="y" optype="categorical" dataType="string"><Value value="a"/><Value value="b"/></DataField>
  </DataDictionary>
  <TreeModel functionName="classification">
    <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
    <Node score="a"><True/>
      <Node score="a"><SimplePredicate field="x" operator="lessThan" value="0"/></Node>
      <Node score="b"><True/></Node>
    </Node>
  </TreeModel>
</PMML>"#;

    #[test]
    fn model_adapter_reports_kind_labels_and_numeric_class_value() {
        const SCHEMA: FeatureSchema = FeatureSchema {
            names: &["unused", "x"],
        };
        let mut model =
            PmmlModel::load_for(TREE.as_bytes(), InputNames::Schema(SCHEMA)).expect("loads");
        assert_eq!(model.kind(), ModelKind::Pmml);
        let labels: Vec<Arc<str>> = vec![Arc::from("a"), Arc::from("b")];
        assert_eq!(model.class_labels(), labels.as_slice());
        assert_eq!(model.inputs(), [Arc::from("unused"), Arc::from("x")]);
        let prediction = model.score(&[99.0, -1.0]).expect("scores");
        assert_eq!(prediction.class.as_deref(), Some("a"));
        assert!(
            prediction.value.is_nan(),
            "a non-numeric label reads as NaN"
        );
        let typed = model
            .score_inputs(&[Input::Missing, Input::Text("2")])
            .expect("scores");
        assert_eq!(typed.class.as_deref(), Some("b"));
        let error = model.score(&[1.0]).expect_err("too short").to_string();
        assert!(error.contains("loaded for 2 fields"), "{error}");
        let error = model.score_inputs(&[]).expect_err("too short").to_string();
        assert!(error.contains("loaded for 2 fields"), "{error}");
    }

    #[test]
    fn a_forest_scores_a_batch_as_it_scores_each_record() {
        const FOREST: &[u8] = include_bytes!("../../data/pmml/random_forest_classifier.pmml");
        let mut model = PmmlModel::load_for(FOREST, InputNames::Named(&[])).expect("loads");
        let width = model.inputs().len();
        let wine = [
            7.4, 0.7, 0.0, 1.9, 0.076, 11.0, 34.0, 0.9978, 3.51, 0.56, 9.4,
        ];
        let rows: Vec<f64> = (0..100)
            .flat_map(|record| {
                wine.iter()
                    .enumerate()
                    .map(move |(at, x)| match (record % 10, at) {
                        (3, 10) => f64::NAN,
                        _ => x * (0.8 + 0.004 * f64::from(record)),
                    })
            })
            .collect();
        let mut batch = Vec::new();
        model.score_batch(&rows, 100, &mut batch);
        assert_eq!(batch.len(), 100);
        let classes: std::collections::BTreeSet<_> = batch
            .iter()
            .filter_map(|result| result.as_ref().ok()?.class.clone())
            .collect();
        assert!(
            classes.len() > 1,
            "the records fall in several classes: {classes:?}"
        );
        for (row, result) in rows.chunks(width).zip(&batch) {
            let alone = model.score(row);
            assert_eq!(format!("{result:?}"), format!("{alone:?}"), "{row:?}");
        }
    }

    #[test]
    fn errors_keep_their_kind() {
        let unsupported = TREE.replace("TreeModel", "BayesianNetworkModel");
        let error = PmmlModel::load_for(unsupported.as_bytes(), InputNames::Named(&[]))
            .err()
            .expect("refused");
        assert!(
            matches!(&error, ModelError::Unsupported(what) if what.contains("BayesianNetworkModel")),
            "{error}"
        );
        let missing = PmmlModel::load_for(TREE.as_bytes(), InputNames::Named(&["z".into()]))
            .err()
            .expect("refused");
        assert!(
            matches!(&missing, ModelError::MissingInput(name) if name == "x"),
            "{missing}"
        );
        let garbage = PmmlModel::load_for(b"<PMML", InputNames::Named(&[]))
            .err()
            .expect("refused");
        assert!(
            matches!(
                garbage,
                ModelError::Invalid {
                    kind: ModelKind::Pmml,
                    ..
                }
            ),
            "{garbage}"
        );
    }
}
