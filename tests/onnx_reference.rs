//! tract's predictions (with our ONNX-ML operators) for the ONNX fixtures against
//! onnxruntime's: the trained models on the first 300 rows of the bundled wine data, scored one
//! record at a time as the server does, and the hand-made models of `data/onnx/handmade` (tree
//! ensembles) and `data/onnx/ml` (TreeEnsemble of ONNX-ML 5, LinearClassifier, Scaler, ZipMap) on
//! their own input rows (with NaN), all outputs compared (the references are written by
//! `scripts/train_onnx.py` and `scripts/onnx_ml_fixtures.py`). The models of `data/onnx/ml` named
//! `wine_*` are skl2onnx exports with its default options (ZipMap, Scaler, string labels).
//!
//! Tolerance: both runtimes compute in float32, but may sum in different orders, so probabilities
//! and regression values may differ in the last bits: 1e-5 absolute for probabilities, 1e-5
//! relative for regression values (hand-made outputs: 1e-5 relative, or absolute below 1).
//! Predicted classes must be identical.

use std::path::{Path, PathBuf};

use modelserver::dataset;
use modelserver::model::onnx::{framework, OnnxModel};
use modelserver::model::{Model, ModelError, Prediction};
use modelserver::record::WineRecord;
use prost::Message;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

const WINE_CLASSES: [&str; 6] = ["3", "4", "5", "6", "7", "8"];
const GOOD_OR_NOT: [&str; 2] = ["0", "1"];

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

/// The predictions for `rows`, scored one by one and then in one batch (which the reference
/// must equally match).
fn one_by_one_and_batched(
    model: &mut OnnxModel,
    rows: &[usize],
) -> [(&'static str, Vec<Prediction>); 2] {
    let samples = dataset::bundled();
    let one_by_one = rows
        .iter()
        .map(|&row| model.score(&samples[row].features).expect("scores"))
        .collect();
    let values: Vec<f64> = rows.iter().flat_map(|&row| samples[row].features).collect();
    let mut batched = Vec::new();
    model.score_batch(&values, rows.len(), &mut batched);
    let batched = batched
        .into_iter()
        .map(|result| result.expect("scores"))
        .collect();
    [("one by one", one_by_one), ("batched", batched)]
}

fn check_classifier(name: &str, classes: &[&str]) {
    let mut model = load(name).unwrap_or_else(|error| panic!("{name}: {error}"));
    let labels: Vec<String> = model
        .class_labels()
        .iter()
        .map(|label| label.to_string())
        .collect();
    assert_eq!(labels, classes, "{name}: class labels");
    let rows = references(name);
    assert_eq!(rows.len(), 300);
    let indices: Vec<usize> = rows.iter().map(|(row, _)| *row).collect();
    for (mode, predictions) in one_by_one_and_batched(&mut model, &indices) {
        for ((row, expected), prediction) in rows.iter().zip(predictions) {
            check_classification(name, mode, *row, expected, &prediction);
        }
    }
}

fn check_classification(
    name: &str,
    mode: &str,
    row: usize,
    expected: &[(String, f64)],
    prediction: &Prediction,
) {
    {
        let label = expected
            .iter()
            .find(|(column, _)| column == "label")
            .unwrap()
            .1;
        assert_eq!(prediction.value, label, "{name} {mode} row {row}: class");
        assert_eq!(
            prediction.class.as_deref(),
            Some(label.to_string().as_str()),
            "{name} {mode} row {row}: label"
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
                "{name} {mode} row {row}: probability {got} vs {want}"
            );
        }
    }
}

fn check_regressor(name: &str) {
    let mut model = load(name).unwrap_or_else(|error| panic!("{name}: {error}"));
    assert!(model.class_labels().is_empty());
    let rows = references(name);
    assert_eq!(rows.len(), 300);
    let indices: Vec<usize> = rows.iter().map(|(row, _)| *row).collect();
    for (mode, predictions) in one_by_one_and_batched(&mut model, &indices) {
        for ((row, expected), prediction) in rows.iter().zip(predictions) {
            let (got, want) = (prediction.value, expected[0].1);
            assert!(
                (got - want).abs() <= 1e-5 * want.abs(),
                "{name} {mode} row {row}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn decision_tree_classifier_matches_onnxruntime() {
    check_classifier("wine_tree_classifier", &WINE_CLASSES);
}

#[test]
fn random_forest_classifier_matches_onnxruntime() {
    check_classifier("wine_forest_classifier", &WINE_CLASSES);
}

#[test]
fn gradient_boosting_classifier_matches_onnxruntime() {
    check_classifier("wine_gbm_classifier", &WINE_CLASSES);
}

#[test]
fn two_class_gradient_boosting_matches_onnxruntime() {
    check_classifier("wine_gbm_binary", &GOOD_OR_NOT);
}

#[test]
fn two_class_random_forest_matches_onnxruntime() {
    check_classifier("wine_forest_binary", &GOOD_OR_NOT);
}

#[test]
fn logistic_regression_matches_onnxruntime() {
    check_classifier("wine_logistic", &WINE_CLASSES);
}

#[test]
fn multilayer_perceptron_matches_onnxruntime() {
    check_classifier("wine_mlp_classifier", &WINE_CLASSES);
}

#[test]
fn linear_regression_matches_onnxruntime() {
    check_regressor("wine_linear_regression");
}

#[test]
fn random_forest_regressor_matches_onnxruntime() {
    check_regressor("wine_forest_regressor");
}

#[test]
fn gradient_boosting_regressor_matches_onnxruntime() {
    check_regressor("wine_gbm_regressor");
}

#[test]
fn xgboost_regressor_matches_onnxruntime() {
    check_regressor("wine_xgb_regressor");
}

#[test]
fn lightgbm_regressor_matches_onnxruntime() {
    check_regressor("wine_lgbm_regressor");
}

#[test]
fn a_model_with_an_operator_tract_lacks_fails_at_load_naming_it() {
    let bytes = std::fs::read(fixture("wine_linear_regression.onnx")).expect("model file");
    let mut proto = ModelProto::decode(bytes.as_slice()).expect("an ONNX model");
    let node = &mut proto.graph.as_mut().expect("a graph").node[0];
    node.op_type = "DictVectorizer".into();
    node.attribute.clear();
    let error = OnnxModel::load(&proto.encode_to_vec(), WineRecord::SCHEMA)
        .err()
        .expect("tract 0.23 has no DictVectorizer");
    assert!(
        matches!(error, ModelError::Unsupported(_)) && error.to_string().contains("DictVectorizer"),
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

/// The rows of `data/onnx/handmade/inputs.csv` (`nan` for a missing value).
fn handmade_inputs() -> Vec<f32> {
    let mut reader = csv::Reader::from_path(fixture("handmade/inputs.csv")).expect("inputs CSV");
    reader
        .records()
        .flat_map(|row| {
            let row = row.expect("a CSV row");
            row.iter()
                .map(|value| value.parse::<f32>().expect("a number"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Runs a hand-made model on all input rows at once: its outputs as text per row (the label,
/// if any, then the values).
fn run_handmade(path: &Path, inputs: &[f32]) -> TractResult<Vec<Vec<String>>> {
    let rows = inputs.len() / 11;
    let plan = framework()
        .model_for_path(path)?
        .with_input_fact(0, f32::fact([rows, 11]).into())?
        .into_optimized()?
        .into_runnable()?;
    let outputs = plan.run(tvec!(Tensor::from_shape(&[rows, 11], inputs)?.into()))?;
    let mut table = vec![Vec::new(); rows];
    for output in &outputs {
        let columns = output.len() / rows;
        let texts: Vec<String> = match output.datum_type() {
            DatumType::String => output.try_as_plain_ram()?.as_slice::<String>()?.to_vec(),
            DatumType::I64 => output
                .try_as_plain_ram()?
                .as_slice::<i64>()?
                .iter()
                .map(i64::to_string)
                .collect(),
            _ => output
                .try_as_plain_ram()?
                .as_slice::<f32>()?
                .iter()
                .map(f32::to_string)
                .collect(),
        };
        for (row, values) in texts.chunks(columns).enumerate() {
            table[row].extend(values.iter().cloned());
        }
    }
    Ok(table)
}

fn close(got: &str, want: &str) -> bool {
    match (got.parse::<f64>(), want.parse::<f64>()) {
        (Ok(got), Ok(want)) if want.is_finite() => (got - want).abs() <= 1e-5 * want.abs().max(1.0),
        (Ok(got), Ok(want)) => got == want || (got.is_nan() && want.is_nan()),
        _ => got == want,
    }
}

/// The label the server gives where onnxruntime's is not a declared label (see
/// `binary_both_classes` in data/onnx/handmade/README.md): the class of the higher probability.
fn expected_label(model: &str, reference: &[String]) -> String {
    if model != "binary_both_classes" {
        return reference[0].clone();
    }
    assert!(
        ["0", "1"].contains(&reference[0].as_str()),
        "onnxruntime's own label"
    );
    let (p_3, p_7): (f64, f64) = (reference[1].parse().unwrap(), reference[2].parse().unwrap());
    if p_7 > p_3 { "7" } else { "3" }.to_owned()
}

/// Every mismatch of one hand-made model with onnxruntime's outputs.
fn handmade_mismatches(model: &str, inputs: &[f32]) -> Vec<String> {
    let got = match run_handmade(&fixture(&format!("handmade/{model}.onnx")), inputs) {
        Ok(got) => got,
        Err(error) => return vec![format!("{model}: {error:#}")],
    };
    let mut reader = csv::Reader::from_path(fixture(&format!("handmade/{model}.reference.csv")))
        .expect("reference CSV");
    let is_classifier = reader.headers().expect("a header").get(1) == Some("label");
    let mut mismatches = Vec::new();
    let mut rows = 0;
    for (row, reference) in reader.records().enumerate() {
        let mut want: Vec<String> = reference
            .expect("a row")
            .iter()
            .skip(1)
            .map(String::from)
            .collect();
        if is_classifier {
            want[0] = expected_label(model, &want);
        }
        let same =
            got[row].len() == want.len() && got[row].iter().zip(&want).all(|(g, w)| close(g, w));
        if !same {
            mismatches.push(format!(
                "{model} row {row}: {:?} vs onnxruntime {want:?}",
                got[row]
            ));
        }
        rows += 1;
    }
    if rows != got.len() {
        mismatches.push(format!(
            "{model}: {} rows scored, {rows} references",
            got.len()
        ));
    }
    mismatches
}

#[test]
fn handmade_tree_ensembles_match_onnxruntime() {
    let inputs = handmade_inputs();
    assert_eq!(inputs.len(), 200 * 11);
    assert!(inputs.iter().any(|value| value.is_nan()));
    let mut models: Vec<String> = std::fs::read_dir(fixture("handmade"))
        .expect("the handmade directory")
        .filter_map(|entry| {
            let name = entry
                .expect("an entry")
                .file_name()
                .into_string()
                .expect("UTF-8");
            name.strip_suffix(".onnx").map(String::from)
        })
        .collect();
    models.sort();
    assert_eq!(models.len(), 21, "{models:?}");
    let mismatches: Vec<String> = models
        .iter()
        .flat_map(|model| handmade_mismatches(model, &inputs))
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The load error for `regressor_modes` with its tree-ensemble node changed by `change`.
fn load_error_after(change: impl FnOnce(&mut tract_onnx::pb::NodeProto)) -> String {
    let bytes = std::fs::read(fixture("handmade/regressor_modes.onnx")).expect("model file");
    let mut proto = ModelProto::decode(bytes.as_slice()).expect("an ONNX model");
    change(&mut proto.graph.as_mut().expect("a graph").node[0]);
    match OnnxModel::load(&proto.encode_to_vec(), WineRecord::SCHEMA) {
        Ok(_) => panic!("the changed model loads"),
        Err(error) => error.to_string(),
    }
}

fn attribute<'a>(
    node: &'a mut tract_onnx::pb::NodeProto,
    name: &str,
) -> &'a mut tract_onnx::pb::AttributeProto {
    node.attribute
        .iter_mut()
        .find(|attribute| attribute.name == name)
        .expect("the attribute")
}

#[test]
fn unknown_attributes_and_values_fail_at_load_naming_them() {
    let renamed = load_error_after(|node| attribute(node, "n_targets").name = "n_outputs".into());
    assert!(
        renamed.contains("unknown attribute `n_outputs`"),
        "{renamed}"
    );
    let mode = load_error_after(|node| {
        attribute(node, "nodes_modes").strings[0] = b"BRANCH_MEMBER".to_vec()
    });
    assert!(
        mode.contains("`BRANCH_MEMBER` is not a node mode"),
        "{mode}"
    );
    let transform = load_error_after(|node| {
        node.attribute.push(tract_onnx::pb::AttributeProto {
            name: "post_transform".into(),
            r#type: tract_onnx::pb::attribute_proto::AttributeType::String as i32,
            s: b"SQUARE".to_vec(),
            ..Default::default()
        })
    });
    assert!(transform.contains("post_transform `SQUARE`"), "{transform}");
    let double = load_error_after(|node| {
        attribute(node, "base_values").name = "base_values_as_tensor".into()
    });
    assert!(
        double.contains("`base_values_as_tensor` (double precision) is not supported"),
        "{double}"
    );
    let short = load_error_after(|node| {
        attribute(node, "nodes_values").floats.pop();
    });
    assert!(short.contains("nodes_values has"), "{short}");
    assert!(short.starts_with("invalid onnx model"), "{short}");
}

#[test]
fn an_input_narrower_than_the_trees_read_fails_at_load() {
    let bytes = std::fs::read(fixture("wine_forest_regressor.onnx")).expect("model file");
    let five = WineRecord::SCHEMA.input_names()[..5].to_vec();
    let error = OnnxModel::load_with_inputs(&bytes, five)
        .err()
        .expect("too narrow");
    assert!(
        error.to_string().contains("the input has 5 features"),
        "{error}"
    );
}

/// The header and rows of a `data/onnx/ml` reference, as text.
fn ml_reference(model: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let path = fixture(&format!("ml/{model}.reference.csv"));
    let mut reader = csv::Reader::from_path(path).expect("reference CSV");
    let header = reader
        .headers()
        .expect("a header")
        .iter()
        .map(String::from)
        .collect();
    let rows = reader
        .records()
        .map(|row| row.expect("a row").iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// The models of `data/onnx/ml` whose names start with `prefix` (or do not, with `!`).
fn ml_models(prefix: &str, wanted: bool) -> Vec<String> {
    let mut models: Vec<String> = std::fs::read_dir(fixture("ml"))
        .expect("the ml directory")
        .filter_map(|entry| {
            let name = entry
                .expect("an entry")
                .file_name()
                .into_string()
                .expect("UTF-8");
            name.strip_suffix(".onnx").map(String::from)
        })
        .filter(|name| name.starts_with(prefix) == wanted)
        .collect();
    models.sort();
    models
}

fn load_ml(model: &str) -> OnnxModel {
    let bytes = std::fs::read(fixture(&format!("ml/{model}.onnx"))).expect("model file");
    OnnxModel::load(&bytes, WineRecord::SCHEMA).unwrap_or_else(|error| panic!("{model}: {error}"))
}

/// A default export, scored one record at a time through the model as the server does: the
/// class is onnxruntime's label, the probabilities its ZipMap's, in the labels' order.
fn check_default_classifier(model_name: &str) -> f64 {
    let mut model = load_ml(model_name);
    let (header, rows) = ml_reference(model_name);
    let labels: Vec<&str> = header[2..]
        .iter()
        .map(|column| column.strip_prefix("p_").expect("a probability column"))
        .collect();
    let declared: Vec<&str> = model.class_labels().iter().map(|label| &**label).collect();
    assert_eq!(declared, labels, "{model_name}: class labels");
    let samples = dataset::bundled();
    assert_eq!(rows.len(), 300);
    let mut largest = 0f64;
    for row in &rows {
        let index: usize = row[0].parse().unwrap();
        let prediction = model.score(&samples[index].features).expect("scores");
        assert_eq!(
            prediction.class.as_deref(),
            Some(row[1].as_str()),
            "{model_name} row {index}"
        );
        for (got, want) in prediction.probabilities.iter().zip(&row[2..]) {
            let want: f64 = want.parse().unwrap();
            largest = largest.max((got - want).abs());
            assert!(
                (got - want).abs() <= 1e-5,
                "{model_name} row {index}: {got} vs {want}"
            );
        }
    }
    largest
}

#[test]
fn exports_with_default_options_match_onnxruntime() {
    let models = ml_models("wine_", true);
    let classifiers: Vec<&String> = models.iter().filter(|m| !m.ends_with("_opset5")).collect();
    assert_eq!(classifiers.len(), 4, "{classifiers:?}");
    for model in classifiers {
        let largest = check_default_classifier(model);
        eprintln!("{model}: 300 rows, largest probability difference {largest:.2e}");
    }
}

#[test]
fn regressors_rewritten_as_opset_5_tree_ensembles_match_onnxruntime() {
    let models: Vec<String> = ml_models("wine_", true)
        .into_iter()
        .filter(|model| model.ends_with("_opset5"))
        .collect();
    assert_eq!(models.len(), 2, "{models:?}");
    let samples = dataset::bundled();
    for name in models {
        let mut model = load_ml(&name);
        assert!(model.class_labels().is_empty());
        let (_, rows) = ml_reference(&name);
        assert_eq!(rows.len(), 300);
        for row in &rows {
            let index: usize = row[0].parse().unwrap();
            let got = model.score(&samples[index].features).expect("scores").value;
            let want: f64 = row[1].parse().unwrap();
            assert!(
                (got - want).abs() <= 1e-5 * want.abs(),
                "{name} row {index}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn handmade_ml_operators_match_onnxruntime() {
    let inputs = handmade_inputs();
    let models = ml_models("wine_", false);
    assert_eq!(models.len(), 21, "{models:?}");
    let mut mismatches = Vec::new();
    for model in &models {
        let got = match run_handmade(&fixture(&format!("ml/{model}.onnx")), &inputs) {
            Ok(got) => got,
            Err(error) => {
                mismatches.push(format!("{model}: {error:#}"));
                continue;
            }
        };
        let (_, rows) = ml_reference(model);
        assert_eq!(rows.len(), got.len(), "{model}: rows");
        for (row, want) in rows.iter().enumerate() {
            let want = &want[1..];
            let same =
                got[row].len() == want.len() && got[row].iter().zip(want).all(|(g, w)| close(g, w));
            if !same {
                mismatches.push(format!(
                    "{model} row {row}: {:?} vs onnxruntime {want:?}",
                    got[row]
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The load error of the `data/onnx/ml` model `name` with its node `index` changed by `change`.
fn ml_load_error(
    name: &str,
    index: usize,
    change: impl FnOnce(&mut tract_onnx::pb::NodeProto),
) -> String {
    let bytes = std::fs::read(fixture(&format!("ml/{name}.onnx"))).expect("model file");
    let mut proto = ModelProto::decode(bytes.as_slice()).expect("an ONNX model");
    change(&mut proto.graph.as_mut().expect("a graph").node[index]);
    match OnnxModel::load(&proto.encode_to_vec(), WineRecord::SCHEMA) {
        Ok(_) => panic!("the changed {name} loads"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn malformed_ml_operators_fail_at_load_naming_the_problem() {
    let shared = ml_load_error("opset5_sum_none", 0, |node| {
        let roots = &mut attribute(node, "tree_roots").ints;
        roots.push(roots[1]);
    });
    assert!(shared.contains("is reached twice"), "{shared}");
    let mode = ml_load_error("opset5_sum_none", 0, |node| {
        attribute(node, "nodes_modes").t.as_mut().unwrap().raw_data[1] = 9;
    });
    assert!(
        mode.contains("9 is not a node mode of TreeEnsemble"),
        "{mode}"
    );
    let sets = ml_load_error("opset5_sum_none", 0, |node| {
        let members = attribute(node, "membership_values").t.as_mut().unwrap();
        members.raw_data.clear();
        members.dims = vec![0];
    });
    assert!(sets.contains("has an empty membership set"), "{sets}");
    let labels = ml_load_error("linear_logistic_strings", 0, |node| {
        attribute(node, "classlabels_strings").strings.pop();
    });
    assert!(labels.contains("2 class labels for 3 targets"), "{labels}");
    let intercepts = ml_load_error("linear_regressor_targets", 0, |node| {
        attribute(node, "intercepts").floats.pop();
    });
    assert!(
        intercepts.contains("2 intercepts for 3 targets"),
        "{intercepts}"
    );
    let coefficients = ml_load_error("linear_regressor_targets", 0, |node| {
        attribute(node, "coefficients").floats.pop();
    });
    assert!(
        coefficients.contains("32 coefficients are not one row per target"),
        "{coefficients}"
    );
    let width = ml_load_error("linear_regressor_wide", 0, |node| {
        attribute(node, "coefficients").floats.truncate(90);
    });
    assert!(
        width.contains("the input has 11 features, the coefficients 10"),
        "{width}"
    );
    let scaler = ml_load_error("scaler_one_value_zipmap_ints", 0, |node| {
        attribute(node, "scale").floats = vec![1.0, 2.0];
    });
    assert!(
        scaler.contains("scale has 2 values for 11 columns"),
        "{scaler}"
    );
    let zipmap = ml_load_error("scaler_one_value_zipmap_ints", 2, |node| {
        attribute(node, "classlabels_int64s").ints.push(9);
    });
    assert!(zipmap.starts_with("invalid onnx model"), "{zipmap}");
}
