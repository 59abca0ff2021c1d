//! Every PMML fixture loads and matches the predictions of JPMML-Evaluator (an independent
//! evaluator, see scripts/train_pmml.py and scripts/jpmml/).
//!
//! Classes must match exactly; numbers within 1e-9 relative (plus 1e-12 absolute, for values
//! near zero). The references are printed by Java with full round-trip precision, and the engine
//! follows JPMML's order of operations, so the only differences left are the last-bit ones of
//! `exp`/`ln`/`tanh` between Java's and Rust's math libraries.

mod common;

use std::path::Path;

use common::{fixtures, WINE_FEATURES};
use pmml_evaluator::{Input, Model, Prediction};

const RELATIVE_TOLERANCE: f64 = 1e-9;
const ABSOLUTE_TOLERANCE: f64 = 1e-12;

/// The expected rows: the target column, then `probability(label)` columns.
struct Expected {
    labels: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Whether the model computes in 32-bit floats.
    float: bool,
}

/// Reads a reference file line by line (an empty line is a missing prediction, which CSV readers
/// would skip); its cells hold numbers and labels without commas or quotes.
fn read_expected(path: &Path) -> Expected {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    let labels = header
        .split(',')
        .skip(1)
        .map(|column| {
            column
                .trim_start_matches("probability(")
                .trim_end_matches(')')
                .to_owned()
        })
        .collect();
    let rows = lines
        .map(|line| line.split(',').map(str::to_owned).collect())
        .collect();
    Expected {
        labels,
        rows,
        float: false,
    }
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs()
        <= RELATIVE_TOLERANCE * actual.abs().max(expected.abs()) + ABSOLUTE_TOLERANCE
}

/// Whether two numbers agree at the precision of a 32-bit float (JPMML prints results of models
/// with `x-mathContext="float"` as floats, e.g. `5.4321` for the float 5.43209981918335).
fn close_as_float(actual: f64, expected: f64) -> bool {
    actual as f32 == expected as f32
}

/// Compares one prediction with one expected row; returns a description of the first mismatch.
fn compare(
    model: &Model,
    prediction: &Prediction,
    expected: &Expected,
    row: &[String],
) -> Result<(), String> {
    let target = &row[0];
    if expected.labels.is_empty() {
        return match target.as_str() {
            "" if prediction.value.is_nan() => Ok(()),
            "" => Err(format!("expected no prediction, got {}", prediction.value)),
            text => {
                let value: f64 = text.parse().expect("number");
                if close(prediction.value, value)
                    || (expected.float && close_as_float(prediction.value, value))
                {
                    Ok(())
                } else {
                    Err(format!("expected {value}, got {}", prediction.value))
                }
            }
        };
    }
    if target.is_empty() {
        return match &prediction.class {
            None => Ok(()),
            Some(class) => Err(format!("expected no prediction, got class {class}")),
        };
    }
    let class = prediction.class.as_deref().unwrap_or("<none>");
    if class != target {
        return Err(format!(
            "expected class {target}, got {class} ({:?})",
            prediction.probabilities
        ));
    }
    for (label, cell) in expected.labels.iter().zip(&row[1..]) {
        if cell.is_empty() {
            continue;
        }
        let index = model
            .class_labels()
            .iter()
            .position(|known| known.as_ref() == label)
            .ok_or_else(|| format!("no class label {label}"))?;
        let probability = prediction
            .probabilities
            .get(index)
            .copied()
            .unwrap_or(f64::NAN);
        let wanted: f64 = cell.parse().expect("probability");
        if !close(probability, wanted) {
            return Err(format!(
                "probability({label}): expected {wanted}, got {probability}"
            ));
        }
    }
    Ok(())
}

/// Scores a fixture on its test CSV (bound by header, values handed over as text) and compares.
/// A reference row of `!error` (JPMML rejected the record) expects an error too.
fn check_fixture(name: &str, inputs: &str) {
    let bytes = std::fs::read(fixtures().join(format!("{name}.pmml"))).expect("fixture");
    let mut reader = csv::Reader::from_path(fixtures().join(inputs)).expect("inputs");
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let mut model = Model::with_fields(&bytes, &header).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut expected = read_expected(&fixtures().join(format!("{name}.expected.csv")));
    expected.float = String::from_utf8_lossy(&bytes).contains("x-mathContext=\"float\"");
    let mut compared = 0;
    for (index, (record, row)) in reader.records().zip(&expected.rows).enumerate() {
        let record = record.expect("record");
        let values: Vec<Input<'_>> = record
            .iter()
            .map(|cell| {
                if cell.is_empty() {
                    Input::Missing
                } else {
                    Input::Text(cell)
                }
            })
            .collect();
        let scored = model.score_inputs(&values);
        match (scored, row[0].as_str()) {
            (Err(_), "!error") => {}
            (Ok(prediction), "!error") => {
                panic!("{name} row {index}: expected an error, got {prediction:?}")
            }
            (Err(error), _) => panic!("{name} row {index}: {error}"),
            (Ok(prediction), _) => {
                if let Err(mismatch) = compare(&model, &prediction, &expected, row) {
                    panic!("{name} row {index}: {mismatch}");
                }
            }
        }
        compared += 1;
    }
    assert_eq!(
        compared,
        expected.rows.len(),
        "{name}: every expected row is compared"
    );
    assert!(compared >= 300, "{name}: a few hundred rows");
}

/// Scores one of the original system's PMML files on every row of its wine data and compares.
fn check_seed(name: &str) {
    let Some(directory) = original_files::dir(&format!("the original's {name}.pmml")) else {
        return;
    };
    let bytes = std::fs::read(directory.join(format!("{name}.pmml"))).expect("seed model");
    let mut model =
        Model::with_fields(&bytes, &WINE_FEATURES).unwrap_or_else(|e| panic!("{name}: {e}"));
    let expected = read_expected(&fixtures().join(format!("seed/{name}.expected.csv")));
    let text = std::fs::read_to_string(directory.join("winequality_red.csv")).expect("seed csv");
    let rows: Vec<Vec<f64>> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            line.split(';')
                .map(|cell| cell.trim().parse().expect("number"))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 1599);
    assert_eq!(
        rows.len(),
        expected.rows.len(),
        "{name}: one reference per row"
    );
    for (index, (features, row)) in rows.iter().zip(&expected.rows).enumerate() {
        let prediction = model
            .score(&features[..11])
            .unwrap_or_else(|e| panic!("{name} row {index}: {e}"));
        if let Err(mismatch) = compare(&model, &prediction, &expected, row) {
            panic!("{name} row {index}: {mismatch}");
        }
    }
}

macro_rules! fixture_tests {
    ($($test:ident => $name:literal on $inputs:literal;)*) => {
        $(
            #[test]
            fn $test() {
                check_fixture($name, $inputs);
            }
        )*
    };
}

fixture_tests! {
    decision_tree_classifier => "decision_tree_classifier" on "wine_test.csv";
    decision_tree_regressor => "decision_tree_regressor" on "wine_test.csv";
    random_forest_classifier => "random_forest_classifier" on "wine_test.csv";
    random_forest_regressor => "random_forest_regressor" on "wine_test.csv";
    gradient_boosting_regressor => "gradient_boosting_regressor" on "wine_test.csv";
    gradient_boosting_classifier => "gradient_boosting_classifier" on "wine_test.csv";
    linear_regression => "linear_regression" on "wine_test.csv";
    logistic_regression => "logistic_regression" on "wine_test.csv";
    poisson_glm => "poisson_glm" on "wine_test.csv";
    mlp_classifier => "mlp_classifier" on "wine_test.csv";
    pipeline_onehot_logistic => "pipeline_onehot_logistic" on "wine_test_missing.csv";
    hist_gradient_boosting_missing => "hist_gradient_boosting_missing" on "wine_test_missing.csv";
    statsmodels_poisson_glm => "statsmodels_poisson_glm" on "wine_test.csv";
    lightgbm_classifier => "lightgbm_classifier" on "wine_test.csv";
    xgboost_regressor_missing => "xgboost_regressor_missing" on "wine_test_missing.csv";
    gradient_boosting_binary => "gradient_boosting_binary" on "wine_test.csv";
    xgboost_binary_classifier => "xgboost_binary_classifier" on "wine_test.csv";
}

macro_rules! handmade_tests {
    ($($test:ident,)*) => {
        $(
            #[test]
            fn $test() {
                check_fixture(concat!("handmade/", stringify!($test)), "handmade/inputs.csv");
            }
        )*
    };
}

handmade_tests! {
    transformations,
    tree_default_child,
    tree_last_prediction,
    tree_null_prediction,
    tree_none,
    regression_softmax,
    regression_simplemax,
    regression_none_multinomial,
    regression_probit_binary,
    regression_cloglog_binary,
    regression_loglog_binary,
    regression_cauchit_binary,
    regression_ordinal_logit,
    glm_multinomial,
    glm_ordinal,
    glm_binomial_logit,
    glm_power_offset,
    glm_log_offset_trials,
    neural_mixed_classifier,
    neural_exotic_classifier,
    neural_periodic_regression,
    neural_threshold_regression,
    mining_majority_vote,
    mining_weighted_majority_vote,
    mining_average_classifier,
    mining_weighted_average_classifier,
    mining_max_classifier,
    mining_median_classifier,
    mining_select_first,
    mining_weighted_average_targets,
    mining_median_regression,
    mining_weighted_sum,
    mining_model_chain,
}

macro_rules! seed_tests {
    ($($test:ident => $name:literal;)*) => {
        $(
            #[test]
            fn $test() {
                check_seed($name);
            }
        )*
    };
}

seed_tests! {
    seed_decision_tree_classification => "winequalityDecisionTreeClassification";
    seed_decision_tree_regression => "winequalityDesisionTreeRegression";
    seed_glm_gamma => "winequalityGeneralizedLinearRegressionGamma";
    seed_glm_gaussian => "winequalityGeneralizedLinearRegressionGaussian";
    seed_linear_regression => "winequalityLinearRegression";
    seed_multilayer_perceptron => "winequalityMultilayerPerceptron";
    seed_random_forest_classification => "winequalityRandonForrestClassification";
}

/// The wine schema binds every seed model, and a field the schema lacks is reported at load time.
#[test]
fn missing_schema_field_is_reported_at_load() {
    let bytes = std::fs::read(fixtures().join("linear_regression.pmml")).expect("fixture");
    let error = Model::with_fields(&bytes, &["fixed acidity"]).expect_err("fields are missing");
    assert!(
        error.to_string().contains("the model needs input"),
        "{error}"
    );
}
