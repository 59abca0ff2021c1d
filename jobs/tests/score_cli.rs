//! The offline `score` command, run as a user would: its predictions for a PMML and an ONNX model
//! and a TensorFlow frozen graph against the independent references (JPMML-Evaluator,
//! onnxruntime, TensorFlow), and its errors.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(path: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(path)
}

/// Runs `score` and returns its output CSV as header and rows.
fn score(model: &str, input: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let output = std::env::temp_dir().join(format!(
        "score-{}-{}.csv",
        std::process::id(),
        model.replace('/', "_")
    ));
    let status = Command::new(env!("CARGO_BIN_EXE_score"))
        .args([
            "--model",
            repo(model).to_str().unwrap(),
            "--input",
            repo(input).to_str().unwrap(),
        ])
        .args(["--output", output.to_str().unwrap()])
        .status()
        .expect("score runs");
    assert!(status.success(), "score {model} {input}");
    read_csv(&output)
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).expect("a CSV");
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|row| row.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn number(cell: &str) -> f64 {
    cell.parse()
        .unwrap_or_else(|_| panic!("`{cell}` is not a number"))
}

#[test]
fn pmml_predictions_match_jpmml() {
    let (header, rows) = score(
        "data/pmml/decision_tree_classifier.pmml",
        "data/pmml/wine_test.csv",
    );
    let (expected_header, expected) =
        read_csv(&repo("data/pmml/decision_tree_classifier.expected.csv"));
    assert_eq!(header[..3], ["row", "value", "label"]);
    assert_eq!(
        header[3..header.len() - 1],
        expected_header[1..],
        "one probability column per class, in JPMML's order"
    );
    assert_eq!(rows.len(), expected.len());
    for (index, (row, want)) in rows.iter().zip(&expected).enumerate() {
        assert_eq!(row[0], index.to_string());
        assert_eq!(row[2], want[0], "row {index}: class");
        for (got, want) in row[3..row.len() - 1].iter().zip(&want[1..]) {
            assert!(
                (number(got) - number(want)).abs() <= 1e-9,
                "row {index}: probability {got} vs {want}"
            );
        }
        assert_eq!(row.last().unwrap(), "", "row {index}: no error");
    }
}

#[test]
fn onnx_predictions_match_onnxruntime() {
    let (header, rows) = score("data/onnx/wine_logistic.onnx", "data/winequality-red.csv");
    assert_eq!(header[2], "label");
    assert_eq!(rows.len(), 1599);
    let (_, expected) = read_csv(&repo("data/onnx/wine_logistic.reference.csv"));
    for want in &expected {
        let row = &rows[want[0].parse::<usize>().unwrap()];
        assert_eq!(row[2], want[1], "row {}: class", want[0]);
        for (got, want) in row[3..9].iter().zip(&want[3..]) {
            assert!(
                (number(got) - number(want)).abs() <= 1e-5,
                "probability {got} vs {want}"
            );
        }
    }
}

#[test]
fn tensorflow_predictions_match_tensorflow() {
    check_tensorflow(
        "data/tensorflow/wine_mlp.pb",
        "data/tensorflow/wine_mlp.reference.csv",
    );
}

#[test]
fn saved_model_predictions_match_tensorflow() {
    check_tensorflow(
        "data/tensorflow/saved/wine_mlp_v2",
        "data/tensorflow/saved/wine_mlp_v2.reference.csv",
    );
}

/// Scores the wine rows with the TensorFlow model at `model` and checks them against `reference`.
fn check_tensorflow(model: &str, reference: &str) {
    let (header, rows) = score(model, "data/winequality-red.csv");
    assert_eq!(header[..3], ["row", "value", "label"]);
    assert_eq!(
        header.len(),
        3 + 9 + 1,
        "nine class probabilities and the error"
    );
    let (_, expected) = read_csv(&repo(reference));
    assert_eq!(rows.len(), expected.len());
    for (row, want) in rows.iter().zip(&expected) {
        assert_eq!(row[0], want[0]);
        assert_eq!(row[2], want[1], "row {}: class", want[0]);
        for (got, want) in row[3..12].iter().zip(&want[2..]) {
            assert!(
                (number(got) - number(want)).abs() <= 1e-5,
                "output {got} vs {want}"
            );
        }
    }
}

#[test]
fn a_model_needing_a_column_the_input_lacks_is_an_error_naming_it() {
    let input = std::env::temp_dir().join(format!("score-lacking-{}.csv", std::process::id()));
    std::fs::write(&input, "fixed acidity,alcohol\n7.4,9.4\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_score"))
        .args([
            "--model",
            repo("data/pmml/decision_tree_classifier.pmml")
                .to_str()
                .unwrap(),
        ])
        .args(["--input", input.to_str().unwrap(), "--output", "/dev/null"])
        .output()
        .expect("score runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the model needs input"), "{stderr}");
}
