//! Malformed, hostile or unsupported PMML is rejected at load time with an error that names the
//! problem, never with a panic; a short property test feeds the parser random and mutated bytes.

mod common;

use common::WINE_FEATURES;
use pmml_evaluator::{Error, ErrorKind, Input, Model, MAX_DEPTH};
use proptest::prelude::*;

const FIELDS: [&str; 2] = ["x", "color"];

/// A small valid tree over a double field `x` and a string field `color`; `body` replaces the
/// model element when given.
fn document(model: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="color" optype="categorical" dataType="string">
      <Value value="red"/><Value value="blue"/>
    </DataField>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  {model}
</PMML>"#
    )
}

fn tree(predicate: &str) -> String {
    format!(
        r#"<TreeModel functionName="regression">
    <MiningSchema>
      <MiningField name="x"/><MiningField name="color"/><MiningField name="y" usageType="target"/>
    </MiningSchema>
    <Node score="1"><True/>
      <Node score="2">{predicate}</Node>
      <Node score="3"><True/></Node>
    </Node>
  </TreeModel>"#
    )
}

fn load(text: &str) -> Result<Model, Error> {
    Model::with_fields(text.as_bytes(), &FIELDS)
}

fn error_of(text: &str) -> String {
    match load(text) {
        Ok(_) => panic!("the document should be rejected"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn the_valid_base_document_loads() {
    load(&document(&tree(
        r#"<SimplePredicate field="x" operator="lessThan" value="0.5"/>"#,
    )))
    .expect("valid");
}

#[test]
fn truncated_document() {
    let text = document(&tree(
        r#"<SimplePredicate field="x" operator="lessThan" value="0.5"/>"#,
    ));
    let error = error_of(&text[..text.len() / 2]);
    assert!(error.contains("malformed XML"), "{error}");
}

#[test]
fn wrong_root_element() {
    let error = error_of(r#"<?xml version="1.0"?><Model version="4.4"><DataDictionary/></Model>"#);
    assert!(
        error.contains("root element must be <PMML>, not <Model>"),
        "{error}"
    );
}

#[test]
fn unknown_model_type() {
    let error = error_of(&document(
        r#"<FancyModel functionName="regression"><MiningSchema/></FancyModel>"#,
    ));
    assert!(
        error.contains("<FancyModel> is not a PMML model type"),
        "{error}"
    );
    assert!(error.contains("line"), "{error}");
}

#[test]
fn unsupported_model_type_is_named() {
    let error = error_of(&document(
        r#"<BayesianNetworkModel functionName="regression"/>"#,
    ));
    assert!(
        error.contains("unsupported") && error.contains("BayesianNetworkModel"),
        "{error}"
    );
}

/// A TimeSeriesModel of `bestFit` with `body` (the target is `y`).
fn time_series(best_fit: &str, body: &str) -> String {
    document(&format!(
        r#"<TimeSeriesModel functionName="timeSeries" bestFit="{best_fit}">
             <MiningSchema><MiningField name="y" usageType="target"/></MiningSchema>
             {body}
           </TimeSeriesModel>"#
    ))
}

#[test]
fn time_series_algorithms_jpmml_does_not_evaluate_are_named() {
    for algorithm in [
        "ARIMA",
        "ExponentialSmoothing",
        "SeasonalTrendDecomposition",
        "SpectralAnalysis",
        "GARCH",
    ] {
        let error = error_of(&time_series(algorithm, ""));
        assert!(
            error.contains("unsupported") && error.contains(&format!("bestFit=\"{algorithm}\"")),
            "{error}"
        );
    }
}

#[test]
fn state_space_models_of_mismatched_dimensions_are_refused() {
    let state = r#"<StateVector><Array type="real">1 2</Array></StateVector>"#;
    let cases = [
        (
            format!(
                r#"{state}<MeasurementMatrix><Matrix><Array type="real">1 2 3</Array></Matrix></MeasurementMatrix>"#
            ),
            "3 columns for a state of 2",
        ),
        (
            format!(
                r#"{state}<MeasurementMatrix><Matrix><Array type="real">1 2</Array></Matrix></MeasurementMatrix>
                   <TransitionMatrix><Matrix><Array type="real">1 0</Array></Matrix></TransitionMatrix>"#
            ),
            "TransitionMatrix is 1×2",
        ),
        (
            format!(
                r#"<StateSpaceModel intercept="1">{state}<MeasurementMatrix><Matrix><Array type="real">1 2</Array></Matrix></MeasurementMatrix>
                   <InterceptVector><Array type="real">1</Array></InterceptVector></StateSpaceModel>"#
            ),
            "both an intercept and an InterceptVector",
        ),
        (String::new(), "needs a StateSpaceModel"),
        (
            r#"<Targets><Target field="y" rescaleFactor="2"/></Targets>"#.to_owned(),
            "has no Targets",
        ),
    ];
    for (body, expected) in cases {
        let body = if body.starts_with("<StateSpaceModel")
            || body.starts_with("<Targets")
            || body.is_empty()
        {
            body
        } else {
            format!("<StateSpaceModel>{body}</StateSpaceModel>")
        };
        let error = error_of(&time_series("StateSpaceModel", &body));
        assert!(error.contains(expected), "{expected}: {error}");
    }
}

#[test]
fn dangling_field_reference() {
    let error = error_of(&document(&tree(
        r#"<SimplePredicate field="nowhere" operator="lessThan" value="1"/>"#,
    )));
    assert!(
        error.contains("the field `nowhere` is not defined"),
        "{error}"
    );
    assert!(error.contains("<SimplePredicate> at line 15"), "{error}");
}

#[test]
fn non_numeric_threshold() {
    let error = error_of(&document(&tree(
        r#"<SimplePredicate field="x" operator="lessThan" value="abc"/>"#,
    )));
    assert!(
        error.contains("`abc` is not a valid double value"),
        "{error}"
    );
}

#[test]
fn unknown_category_is_accepted_as_a_string() {
    load(&document(&tree(
        r#"<SimplePredicate field="color" operator="equal" value="green"/>"#,
    )))
    .expect("strings");
}

#[test]
fn billion_laughs_entities_are_rejected() {
    let text = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header description="&lol4;"/></PMML>"#;
    let error = error_of(text);
    assert!(error.contains("DTD"), "{error}");
}

#[test]
fn external_entities_are_rejected() {
    let text = r#"<?xml version="1.0"?>
<!DOCTYPE PMML [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header description="&secret;"/></PMML>"#;
    let error = error_of(text);
    assert!(error.contains("DTD"), "{error}");
}

#[test]
fn ten_thousand_deep_nesting() {
    let depth = 10_000;
    let mut text = String::from(r#"<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">"#);
    text.push_str(&"<Extension>".repeat(depth));
    text.push_str(&"</Extension>".repeat(depth));
    text.push_str("</PMML>");
    let error = error_of(&text);
    assert!(
        error.contains(&format!("more than the limit of {MAX_DEPTH}")),
        "{error}"
    );
    assert!(error.contains("<Extension> at line 1"), "{error}");
}

#[test]
fn oversized_document() {
    let text = format!("<PMML>{}</PMML>", " ".repeat(65 << 20));
    let error = error_of(&text);
    assert!(error.contains("more than the limit of 67108864"), "{error}");
}

#[test]
fn not_utf8() {
    let bytes = b"<PMML>\xff\xfe</PMML>";
    let error = Model::with_fields(bytes, &FIELDS)
        .expect_err("not UTF-8")
        .to_string();
    assert!(error.contains("not UTF-8"), "{error}");
}

#[test]
fn unsupported_namespace() {
    let error = error_of(r#"<PMML xmlns="http://www.dmg.org/PMML-3_2" version="3.2"/>"#);
    assert!(
        error.contains("namespace `http://www.dmg.org/PMML-3_2`"),
        "{error}"
    );
}

#[test]
fn missing_data_dictionary() {
    let error =
        error_of(r#"<PMML xmlns="http://www.dmg.org/PMML-4_3" version="4.3"><TreeModel/></PMML>"#);
    assert!(error.contains("DataDictionary is missing"), "{error}");
}

#[test]
fn missing_input_field_names_the_field() {
    let text = document(&tree("<True/>"));
    match Model::with_fields(text.as_bytes(), &["x"]).map_err(|error| error.kind().to_string()) {
        Err(message) => assert_eq!(message, ErrorKind::MissingInput("color".into()).to_string()),
        other => panic!("expected MissingInput, got {other:?}"),
    }
}

#[test]
fn table_locator_is_unsupported() {
    let model = r#"<RegressionModel functionName="regression">
    <MiningSchema><MiningField name="color"/><MiningField name="x"/></MiningSchema>
    <LocalTransformations>
      <DerivedField name="code" optype="continuous" dataType="double">
        <MapValues outputColumn="out"><FieldColumnPair field="color" column="in"/><TableLocator/></MapValues>
      </DerivedField>
    </LocalTransformations>
    <RegressionTable intercept="0"><NumericPredictor name="code" coefficient="1"/></RegressionTable>
  </RegressionModel>"#;
    let error = error_of(&document(model));
    assert!(
        error.contains("TableLocator") && error.contains("not supported"),
        "{error}"
    );
}

/// A tree over `d`, a derived field computed by the user-defined function `f` from `x`.
fn with_function(function: &str) -> String {
    let model = r#"<RegressionModel functionName="regression">
    <MiningSchema><MiningField name="x"/><MiningField name="color"/></MiningSchema>
    <LocalTransformations>
      <DerivedField name="d" optype="continuous" dataType="double"><Apply function="f"><FieldRef field="x"/></Apply></DerivedField>
    </LocalTransformations>
    <RegressionTable intercept="0"><NumericPredictor name="d" coefficient="1"/></RegressionTable>
  </RegressionModel>"#;
    document(model).replace(
        "  <RegressionModel",
        &format!("<TransformationDictionary>{function}</TransformationDictionary><RegressionModel"),
    )
}

#[test]
fn user_defined_function_calling_itself() {
    let error = error_of(&with_function(
        r#"<DefineFunction name="f" optype="continuous" dataType="double"><ParameterField name="p"/><Apply function="f"><FieldRef field="p"/></Apply></DefineFunction>"#,
    ));
    assert!(error.contains("the function `f` calls itself"), "{error}");
}

#[test]
fn user_defined_function_reading_a_field_that_is_not_a_parameter() {
    let error = error_of(&with_function(
        r#"<DefineFunction name="f" optype="continuous" dataType="double"><ParameterField name="p"/><FieldRef field="x"/></DefineFunction>"#,
    ));
    assert!(
        error.contains("the field `x` is not a parameter of the function"),
        "{error}"
    );
}

#[test]
fn user_defined_function_called_with_the_wrong_arity() {
    let error = error_of(&with_function(
        r#"<DefineFunction name="f" optype="continuous" dataType="double"><ParameterField name="p"/><ParameterField name="q"/><FieldRef field="p"/></DefineFunction>"#,
    ));
    assert!(
        error.contains("the function `f` takes 2 arguments, not 1"),
        "{error}"
    );
}

#[test]
fn cyclic_derived_fields() {
    let model = r#"<RegressionModel functionName="regression">
    <MiningSchema><MiningField name="x"/><MiningField name="color"/></MiningSchema>
    <LocalTransformations>
      <DerivedField name="a" optype="continuous" dataType="double"><FieldRef field="b"/></DerivedField>
      <DerivedField name="b" optype="continuous" dataType="double"><FieldRef field="a"/></DerivedField>
    </LocalTransformations>
    <RegressionTable intercept="0"><NumericPredictor name="a" coefficient="1"/></RegressionTable>
  </RegressionModel>"#;
    let error = error_of(&document(model));
    assert!(error.contains("refers to itself"), "{error}");
}

#[test]
fn unknown_function() {
    let model = r#"<RegressionModel functionName="regression">
    <MiningSchema><MiningField name="x"/><MiningField name="color"/></MiningSchema>
    <LocalTransformations>
      <DerivedField name="a" optype="continuous" dataType="double"><Apply function="frobnicate"><FieldRef field="x"/></Apply></DerivedField>
    </LocalTransformations>
    <RegressionTable intercept="0"><NumericPredictor name="a" coefficient="1"/></RegressionTable>
  </RegressionModel>"#;
    let error = error_of(&document(model));
    assert!(
        error.contains("the function `frobnicate` is not supported"),
        "{error}"
    );
}

/// The fields of the fixtures' test files: the wine features and a categorical column, the
/// suite's iris features and its mixed columns.
fn all_fields() -> Vec<&'static str> {
    let mut fields = WINE_FEATURES.to_vec();
    fields.extend([
        "alcohol level",
        "sepal length",
        "sepal width",
        "petal length",
        "petal width",
        "x",
        "z",
        "colour",
        "flag",
        "day",
        "stamp",
        "clock",
    ]);
    fields
}

/// Loading never panics; a document that loads also scores records without panicking.
fn load_without_panic(bytes: &[u8]) {
    if let Ok(mut model) = Model::with_fields(bytes, &all_fields()) {
        let mut record = vec![Input::Number(7.0); 11];
        record.extend([Input::Text("low"), Input::Number(5.1), Input::Number(3.5)]);
        record.extend([Input::Number(1.4), Input::Number(0.2), Input::Number(4.0)]);
        record.extend([Input::Number(-1.0), Input::Text("red"), Input::Text("TRUE")]);
        record.extend([
            Input::Text("2003-04-01"),
            Input::Text("2003-04-01T05:23:30"),
        ]);
        record.push(Input::Text("05:23:30"));
        let _ = model.score_inputs(&record);
        record[3] = Input::Missing;
        record[13] = Input::Missing;
        record[16] = Input::Missing;
        let _ = model.score_inputs(&record);
    }
}

/// The documents mutated: one of each model type and of the features the parser must survive.
const MUTATED: [&str; 16] = [
    "decision_tree_classifier.pmml",
    "pipeline_onehot_logistic.pmml",
    "mlp_classifier.pmml",
    "suite/svc_rbf.pmml",
    "suite/knn_regressor.pmml",
    "suite/kmeans.pmml",
    "suite/gaussian_nb.pmml",
    "suite/scorecard_points_below.pmml",
    "suite/rule_set_weighted_sum.pmml",
    "suite/define_function.pmml",
    "suite/multi_output_regression.pmml",
    "suite/one_vs_rest_logistic.pmml",
    "suite/naive_bayes_counts.pmml",
    "suite/clustering_minkowski.pmml",
    "suite/association_rules.pmml",
    "suite/dates.pmml",
];

fn fixture_bytes() -> Vec<Vec<u8>> {
    let directory = common::fixtures();
    MUTATED
        .iter()
        .map(|name| std::fs::read(directory.join(name)).expect("fixture"))
        .collect()
}

/// Cases per property: 64 in the normal test run, more for crates/pmml/fuzz.sh.
fn fuzz_cases() -> u32 {
    std::env::var("PMML_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: fuzz_cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        load_without_panic(&bytes);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0..MUTATED.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = fixture_bytes().swap_remove(which);
        for (position, byte) in edits {
            let index = position.index(bytes.len());
            bytes[index] = byte;
        }
        if truncate {
            let keep = cut.index(bytes.len());
            bytes.truncate(keep);
        }
        load_without_panic(&bytes);
    }

    #[test]
    fn fixtures_with_spliced_elements_never_panic(
        which in 0..MUTATED.len(),
        splices in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..4),
    ) {
        // Moves a run of bytes that starts at a tag to another tag: elements end up deleted,
        // duplicated or misplaced while the document often stays well-formed.
        let mut bytes = fixture_bytes().swap_remove(which);
        for (from, length, to) in splices {
            let tags: Vec<usize> = bytes.iter().enumerate().filter(|(_, byte)| **byte == b'<').map(|(i, _)| i).collect();
            let start = tags[from.index(tags.len())];
            let end = tags[length.index(tags.len())].max(start);
            let piece: Vec<u8> = bytes.drain(start..end).collect();
            let tags: Vec<usize> = bytes.iter().enumerate().filter(|(_, byte)| **byte == b'<').map(|(i, _)| i).collect();
            let at = tags[to.index(tags.len())];
            bytes.splice(at..at, piece);
        }
        load_without_panic(&bytes);
    }
}

#[test]
fn deep_evaluation_through_derived_fields_is_rejected() {
    // 100 derived fields, each adding 1 to the previous through 10 nested Applies: no element is
    // deeper than 20, but scoring would nest 1,100 evaluations.
    let nested = |inner: String| {
        (0..10).fold(inner, |acc, _| {
            format!(r#"<Apply function="+">{acc}<Constant>1</Constant></Apply>"#)
        })
    };
    let mut fields = String::new();
    for index in 1..=100 {
        let expression = nested(format!(r#"<FieldRef field="d{}"/>"#, index - 1));
        fields.push_str(&format!(r#"<DerivedField name="d{index}" optype="continuous" dataType="double">{expression}</DerivedField>"#));
    }
    let model = format!(
        r#"<RegressionModel functionName="regression">
    <MiningSchema><MiningField name="x"/><MiningField name="color"/></MiningSchema>
    <LocalTransformations><DerivedField name="d0" optype="continuous" dataType="double"><FieldRef field="x"/></DerivedField>{fields}</LocalTransformations>
    <RegressionTable intercept="0"><NumericPredictor name="d100" coefficient="1"/></RegressionTable>
  </RegressionModel>"#
    );
    let error = error_of(&document(&model));
    assert!(error.contains("nest more than the limit of 256"), "{error}");
}

#[test]
fn date_function_on_the_wrong_type() {
    let model = r#"<RegressionModel functionName="regression">
    <MiningSchema><MiningField name="x"/><MiningField name="color"/></MiningSchema>
    <LocalTransformations>
      <DerivedField name="d" optype="continuous" dataType="integer"><Apply function="dateSecondsSinceMidnight"><FieldRef field="x"/></Apply></DerivedField>
    </LocalTransformations>
    <RegressionTable intercept="0"><NumericPredictor name="d" coefficient="1"/></RegressionTable>
  </RegressionModel>"#;
    let error = error_of(&document(model));
    assert!(
        error.contains("DateSecondsSinceMidnight cannot take a double"),
        "{error}"
    );
}

#[test]
fn output_field_of_a_category_the_model_does_not_have() {
    // The target lists no values, so the output field adds a category the model never predicts.
    let text = r#"<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="y" optype="categorical" dataType="string"/>
  </DataDictionary>
  <NaiveBayesModel functionName="classification" threshold="0.001">
    <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
    <Output><OutputField name="p(z)" optype="continuous" dataType="double" feature="probability" value="z"/></Output>
    <BayesInputs><BayesInput fieldName="x"><TargetValueStats>
      <TargetValueStat value="a"><GaussianDistribution mean="0" variance="1"/></TargetValueStat>
      <TargetValueStat value="b"><GaussianDistribution mean="2" variance="1"/></TargetValueStat>
    </TargetValueStats></BayesInput></BayesInputs>
    <BayesOutput fieldName="y"><TargetValueCounts><TargetValueCount value="a" count="3"/><TargetValueCount value="b" count="5"/></TargetValueCounts></BayesOutput>
  </NaiveBayesModel>
</PMML>"#;
    let mut model = Model::from_bytes(text.as_bytes()).expect("loads");
    let prediction = model.score(&[1.9]).expect("scores");
    assert_eq!(prediction.class.as_deref(), Some("b"));
    assert_eq!(
        prediction.output("p(z)"),
        Some(&pmml_evaluator::Value::Number(0.0))
    );
}
