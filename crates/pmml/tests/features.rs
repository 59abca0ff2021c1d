//! Behaviour that the JPMML references cannot show: tree strategies JPMML does not implement
//! (aggregateNodes, weightedConfidence; expected values computed by hand here), Targets defaults
//! and priors, labels and the numeric reading of a class, and typed inputs.

mod common;

use std::sync::Arc;

use pmml_evaluator::{Input, Model, Value};

fn document(dictionary: &str, model: &str) -> String {
    format!(
        r#"<PMML xmlns="http://www.dmg.org/PMML-4_3" version="4.3">
  <DataDictionary>{dictionary}</DataDictionary>
  {model}
</PMML>"#
    )
}

const XY: &str = r#"<DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="y" optype="categorical" dataType="string"><Value value="a"/><Value value="b"/></DataField>"#;

/// A tree whose root splits on `x`; with `x` missing, both children are followed.
fn aggregating_tree(strategy: &str) -> String {
    document(
        XY,
        &format!(
            r#"<TreeModel functionName="classification" missingValueStrategy="{strategy}">
    <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
    <Node score="a" recordCount="10"><True/>
      <Node score="a" recordCount="6"><SimplePredicate field="x" operator="lessThan" value="0"/>
        <ScoreDistribution value="a" recordCount="5"/><ScoreDistribution value="b" recordCount="1"/>
      </Node>
      <Node score="b" recordCount="4"><SimplePredicate field="x" operator="greaterOrEqual" value="0"/>
        <ScoreDistribution value="a" recordCount="1"/><ScoreDistribution value="b" recordCount="3"/>
      </Node>
    </Node>
  </TreeModel>"#
        ),
    )
}

#[test]
fn aggregate_nodes_weights_leaves_by_record_count() {
    for strategy in ["aggregateNodes", "weightedConfidence"] {
        let mut model =
            Model::with_fields(aggregating_tree(strategy).as_bytes(), &["x"]).expect("loads");
        let prediction = model.score_inputs(&[Input::Missing]).expect("scores");
        // (6 * [5/6, 1/6] + 4 * [1/4, 3/4]) / 10 = [0.6, 0.4]
        assert_eq!(prediction.class.as_deref(), Some("a"), "{strategy}");
        assert!(
            (prediction.probabilities[0] - 0.6).abs() < 1e-12,
            "{strategy}: {:?}",
            prediction.probabilities
        );
        assert!(
            (prediction.probabilities[1] - 0.4).abs() < 1e-12,
            "{strategy}: {:?}",
            prediction.probabilities
        );
        let known = model.score_inputs(&[Input::Number(2.0)]).expect("scores");
        assert_eq!(known.class.as_deref(), Some("b"));
        assert_eq!(known.probabilities, vec![0.25, 0.75]);
    }
}

#[test]
fn aggregate_nodes_needs_record_counts() {
    let text = aggregating_tree("aggregateNodes").replace(r#" recordCount="4""#, "");
    let error = Model::with_fields(text.as_bytes(), &["x"])
        .expect_err("rejected")
        .to_string();
    assert!(error.contains("recordCount"), "{error}");
}

/// A regression whose input may be missing, with Targets post-processing and a default value.
fn regression_with_targets(target: &str) -> String {
    document(
        r#"<DataField name="x" optype="continuous" dataType="double"/><DataField name="y" optype="continuous" dataType="double"/>"#,
        &format!(
            r#"<RegressionModel functionName="regression">
    <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
    <Targets>{target}</Targets>
    <RegressionTable intercept="0.5"><NumericPredictor name="x" coefficient="1"/></RegressionTable>
  </RegressionModel>"#
        ),
    )
}

#[test]
fn targets_clamp_rescale_cast_and_default() {
    let target = r#"<Target field="y" min="-1" max="10" rescaleFactor="2" rescaleConstant="0.25" castInteger="floor">
      <TargetValue defaultValue="3"/></Target>"#;
    let mut model =
        Model::with_fields(regression_with_targets(target).as_bytes(), &["x"]).expect("loads");
    let score = |model: &mut Model, x: f64| model.score(&[x]).expect("scores").value;
    assert_eq!(score(&mut model, 1.0), 3.0, "floor(1.5 * 2 + 0.25)");
    assert_eq!(score(&mut model, 100.0), 20.0, "clamped to 10 first");
    assert_eq!(score(&mut model, -7.0), -2.0, "clamped to -1, floor(-1.75)");
    assert_eq!(
        score(&mut model, f64::NAN),
        6.0,
        "the default value is rescaled too"
    );
}

#[test]
fn classifier_without_result_uses_prior_probabilities() {
    let text = document(
        XY,
        r#"<RegressionModel functionName="classification" normalizationMethod="softmax">
    <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
    <Targets><Target field="y"><TargetValue value="a" priorProbability="0.2"/><TargetValue value="b" priorProbability="0.6"/></Target></Targets>
    <RegressionTable intercept="0" targetCategory="a"><NumericPredictor name="x" coefficient="1"/></RegressionTable>
    <RegressionTable intercept="0" targetCategory="b"/>
  </RegressionModel>"#,
    );
    let mut model = Model::with_fields(text.as_bytes(), &["x"]).expect("loads");
    let prediction = model.score(&[f64::NAN]).expect("scores");
    assert_eq!(prediction.class.as_deref(), Some("b"));
    assert!(
        (prediction.probabilities[0] - 0.25).abs() < 1e-12
            && (prediction.probabilities[1] - 0.75).abs() < 1e-12
    );
}

#[test]
fn model_reports_labels_and_numeric_class_value() {
    let mut model =
        Model::with_fields(aggregating_tree("none").as_bytes(), &["unused", "x"]).expect("loads");
    let labels: Vec<Arc<str>> = vec![Arc::from("a"), Arc::from("b")];
    assert_eq!(model.class_labels(), labels.as_slice());
    assert_eq!(model.input_fields(), ["x".to_owned()]);
    assert!(model.is_classifier());
    let prediction = model.score(&[99.0, -1.0]).expect("scores");
    assert_eq!(prediction.class.as_deref(), Some("a"));
    assert!(
        prediction.value.is_nan(),
        "a non-numeric label reads as NaN"
    );
    let error = model.score(&[1.0]).expect_err("too short").to_string();
    assert!(error.contains("loaded for 2 fields"), "{error}");
}

#[test]
fn string_fields_accept_text_and_numbers() {
    let text = document(
        r#"<DataField name="grade" optype="categorical" dataType="string"><Value value="1"/><Value value="2"/></DataField>
  <DataField name="y" optype="continuous" dataType="double"/>"#,
        r#"<RegressionModel functionName="regression">
    <MiningSchema><MiningField name="grade"/><MiningField name="y" usageType="target"/></MiningSchema>
    <RegressionTable intercept="1"><CategoricalPredictor name="grade" value="2" coefficient="10"/></RegressionTable>
  </RegressionModel>"#,
    );
    let mut model = Model::with_fields(text.as_bytes(), &["grade"]).expect("loads");
    assert_eq!(
        model.score_inputs(&[Input::Text("2")]).expect("text").value,
        11.0
    );
    assert_eq!(model.score(&[2.0]).expect("number as category").value, 11.0);
    assert_eq!(model.score(&[1.0]).expect("other category").value, 1.0);
    let error = model
        .score_inputs(&[Input::Text("7")])
        .expect_err("invalid")
        .to_string();
    assert!(error.contains("invalid value"), "{error}");
}

#[test]
fn float_fields_round_inputs_to_f32() {
    let text = document(
        r#"<DataField name="x" optype="continuous" dataType="float"/><DataField name="y" optype="continuous" dataType="double"/>"#,
        r#"<TreeModel functionName="regression">
    <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
    <Node score="0"><True/>
      <Node score="1"><SimplePredicate field="x" operator="lessOrEqual" value="0.1"/></Node>
      <Node score="2"><True/></Node>
    </Node>
  </TreeModel>"#,
    );
    let mut model = Model::with_fields(text.as_bytes(), &["x"]).expect("loads");
    // 0.10000000149 is above 0.1 as a double but equal to 0.1f32 once rounded to float.
    assert_eq!(model.score(&[0.100_000_001_49]).expect("scores").value, 1.0);
    assert_eq!(model.score(&[0.100_000_1]).expect("scores").value, 2.0);
}

#[test]
fn models_can_move_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Model>();
}

#[test]
fn bad_missing_value_replacement_names_the_mining_field() {
    let text = regression_with_targets("").replace(
        r#"<MiningField name="x"/>"#,
        r#"<MiningField name="x" missingValueReplacement="lots"/>"#,
    );
    let error = Model::with_fields(text.as_bytes(), &["x"])
        .expect_err("rejected")
        .to_string();
    assert!(
        error.contains("<MiningField> at line 4") && error.contains("`lots`"),
        "{error}"
    );
}

/// Trees and regressions over number inputs are scored straight from records of numbers;
/// records with a text or a missing value take the general path. Both give the same predictions and output fields.
#[test]
fn records_of_numbers_score_as_records_of_texts() {
    let directory = common::fixtures();
    for (name, inputs) in [
        ("decision_tree_regressor.pmml", "wine_test.csv"),
        ("decision_tree_classifier.pmml", "wine_test.csv"),
        ("linear_regression.pmml", "wine_test.csv"),
        ("suite/tree_classifier.pmml", "suite/iris.csv"),
    ] {
        let bytes = std::fs::read(directory.join(name)).expect("fixture");
        let (mut reader, header) = common::csv_with_header(&directory.join(inputs));
        let mut model = Model::with_fields(&bytes, &header).expect("loads");
        let mut compared = 0;
        for record in reader.records() {
            let record = record.expect("record");
            if record.iter().any(str::is_empty) {
                continue;
            }
            // Text columns (the wine files' "alcohol level") are not inputs of these models.
            let numbers: Vec<f64> = record
                .iter()
                .map(|cell| cell.parse().unwrap_or(f64::NAN))
                .collect();
            let texts: Vec<Input<'_>> = record.iter().map(Input::Text).collect();
            let direct = model.score(&numbers).expect("numbers");
            let general = model.score_inputs(&texts).expect("texts");
            assert_eq!(direct.value.to_bits(), general.value.to_bits(), "{name}");
            assert_eq!(direct.class, general.class, "{name}");
            assert_eq!(direct.probabilities, general.probabilities, "{name}");
            assert_eq!(direct.outputs, general.outputs, "{name}");
            compared += 1;
        }
        assert!(compared >= 200, "{name}: {compared} records of numbers");
    }
}

#[test]
fn prepared_records_score_as_records_do_any_number_of_times() {
    let text = document(
        r#"<DataField name="grade" optype="categorical" dataType="string"><Value value="1"/><Value value="2"/></DataField>
  <DataField name="colour" optype="categorical" dataType="string"/>
  <DataField name="y" optype="continuous" dataType="double"/>"#,
        r#"<RegressionModel functionName="regression">
    <MiningSchema><MiningField name="grade"/><MiningField name="colour"/><MiningField name="y" usageType="target"/></MiningSchema>
    <Output><OutputField name="seen" optype="categorical" dataType="string" feature="transformedValue"><FieldRef field="colour"/></OutputField></Output>
    <RegressionTable intercept="1"><CategoricalPredictor name="grade" value="2" coefficient="10"/><CategoricalPredictor name="colour" value="red" coefficient="100"/></RegressionTable>
  </RegressionModel>"#,
    );
    let mut model = Model::with_fields(text.as_bytes(), &["colour", "grade"]).expect("loads");
    let red = model
        .prepare(&[Input::Text("red"), Input::Text("2")])
        .expect("prepares");
    // "green" is not among the document's strings: the record keeps its text.
    let green = model
        .prepare(&[Input::Text("green"), Input::Number(1.0)])
        .expect("prepares");
    for _ in 0..2 {
        let prediction = model.score_prepared(&green).expect("scores");
        assert_eq!(prediction.value, 1.0);
        assert_eq!(
            prediction.output("seen"),
            Some(&Value::Text("green".into()))
        );
        assert_eq!(model.score_prepared(&red).expect("scores").value, 111.0);
    }
    let error = model
        .prepare(&[Input::Text("red"), Input::Text("7")])
        .expect_err("invalid")
        .to_string();
    assert!(error.contains("invalid value"), "{error}");
    let mut other = Model::with_fields(aggregating_tree("none").as_bytes(), &["x"]).expect("loads");
    let error = other
        .score_prepared(&red)
        .expect_err("another model's")
        .to_string();
    assert!(
        error.contains("prepared for a model of 2 inputs"),
        "{error}"
    );
}
