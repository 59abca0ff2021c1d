//! What the tests and benchmarks share: where the fixtures are, and the wine data's fields.
#![allow(dead_code)] // each test binary uses its own part

pub mod forest;

use std::path::{Path, PathBuf};

/// The PMML fixtures of the workspace (`data/pmml`, made by `scripts/train_pmml.py`), with
/// JPMML-Evaluator's predictions beside them.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/pmml")
}

/// A reader of the CSV file at `path`, and the names in its header.
pub fn csv_with_header(path: &Path) -> (csv::Reader<std::fs::File>, Vec<String>) {
    let mut reader = csv::Reader::from_path(path).expect("a CSV file");
    let header = reader.headers().expect("a header").iter();
    let header = header.map(str::to_owned).collect();
    (reader, header)
}

/// The UCI names of the wine-quality features, in the order the wine records give them.
pub const WINE_FEATURES: [&str; 11] = [
    "fixed acidity",
    "volatile acidity",
    "citric acid",
    "residual sugar",
    "chlorides",
    "free sulfur dioxide",
    "total sulfur dioxide",
    "density",
    "pH",
    "sulphates",
    "alcohol",
];
