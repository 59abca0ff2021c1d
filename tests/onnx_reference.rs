//! tract's predictions for the demo's ONNX models against onnxruntime's, on the first 300 rows of
//! the bundled wine data (the references are written by `scripts/train_onnx.py`).
//!
//! Tolerance: both runtimes compute in float32, but sum in different orders, so probabilities and
//! regression values may differ in the last bits: 1e-5 absolute for probabilities, 1e-5 relative
//! for regression values. Predicted classes must be identical.

use std::path::PathBuf;

use modelserver::dataset;
use modelserver::model::onnx::OnnxModel;
use modelserver::model::{Model, ModelError};
use modelserver::record::{Record, WineRecord};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/onnx")
        .join(name)
}

/// The rows of a reference CSV as (row index, columns by header name).
fn references(model: &str) -> Vec<(usize, Vec<(String, f64)>)> {
    let mut reader =
        csv::Reader::from_path(fixture(&format!("{model}.reference.csv"))).expect("reference CSV");
    let headers = reader.headers().expect("a header").clone();
    reader
        .records()
        .map(|row| {
            let row = row.expect("a CSV row");
            let values: Vec<(String, f64)> = headers
                .iter()
                .zip(row.iter())
                .map(|(name, value)| (name.to_owned(), value.parse().expect("a number")))
                .collect();
            (values[0].1 as usize, values[1..].to_vec())
        })
        .collect()
}

fn load(model: &str) -> Result<OnnxModel, ModelError> {
    let bytes = std::fs::read(fixture(&format!("{model}.onnx"))).expect("model file");
    OnnxModel::load(&bytes, WineRecord::SCHEMA)
}

fn check_classifier(name: &str) {
    let mut model = load(name).unwrap_or_else(|error| panic!("{name}: {error}"));
    let labels: Vec<String> = model
        .class_labels()
        .iter()
        .map(|label| label.to_string())
        .collect();
    assert_eq!(
        labels,
        ["3", "4", "5", "6", "7", "8"],
        "{name}: class labels"
    );
    let samples = dataset::bundled();
    let rows = references(name);
    assert_eq!(rows.len(), 300);
    for (row, expected) in rows {
        let prediction = model.score(&samples[row].features).expect("scores");
        let label = expected
            .iter()
            .find(|(column, _)| column == "label")
            .unwrap()
            .1;
        assert_eq!(prediction.value, label, "{name} row {row}: class");
        assert_eq!(
            prediction.class.as_deref(),
            Some(label.to_string().as_str()),
            "{name} row {row}: label"
        );
        let probabilities: Vec<f64> = expected
            .iter()
            .filter(|(column, _)| column.starts_with("p_"))
            .map(|(_, value)| *value)
            .collect();
        assert_eq!(prediction.probabilities.len(), probabilities.len());
        for (got, want) in prediction.probabilities.iter().zip(&probabilities) {
            assert!(
                (got - want).abs() <= 1e-5,
                "{name} row {row}: probability {got} vs {want}"
            );
        }
    }
}

fn check_regressor(name: &str) {
    let mut model = load(name).unwrap_or_else(|error| panic!("{name}: {error}"));
    assert!(model.class_labels().is_empty());
    let samples = dataset::bundled();
    for (row, expected) in references(name) {
        let got = model.score(&samples[row].features).expect("scores").value;
        let want = expected[0].1;
        assert!(
            (got - want).abs() <= 1e-5 * want.abs(),
            "{name} row {row}: {got} vs {want}"
        );
    }
}

#[test]
fn decision_tree_classifier_matches_onnxruntime() {
    check_classifier("wine_tree_classifier");
}

#[test]
fn random_forest_classifier_matches_onnxruntime() {
    check_classifier("wine_forest_classifier");
}

#[test]
fn logistic_regression_matches_onnxruntime() {
    check_classifier("wine_logistic");
}

#[test]
fn multilayer_perceptron_matches_onnxruntime() {
    check_classifier("wine_mlp_classifier");
}

#[test]
fn linear_regression_matches_onnxruntime() {
    check_regressor("wine_linear_regression");
}

#[test]
fn a_model_with_an_operator_tract_lacks_fails_at_load_naming_it() {
    let error = load("wine_forest_regressor")
        .err()
        .expect("tract 0.23 has no TreeEnsembleRegressor");
    assert!(
        error.to_string().contains("TreeEnsembleRegressor"),
        "{error}"
    );
}

#[test]
fn bytes_that_are_not_onnx_fail_at_load() {
    let error = OnnxModel::load(b"not a model", WineRecord::SCHEMA)
        .err()
        .expect("garbage is rejected");
    assert!(
        error.to_string().starts_with("invalid onnx model"),
        "{error}"
    );
}
