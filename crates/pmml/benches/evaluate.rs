//! Scoring speed of every PMML fixture: one record at a time, and batches of 1,024 records.
//!
//! Run with `cargo bench -p pmml-evaluator`; criterion reports time per call (single) and
//! throughput in records per second (batch).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pmml_evaluator::{Input, Model};

#[path = "../tests/common/mod.rs"]
mod common;
use common::fixtures as data_dir;

const BATCH: usize = 1024;

/// (fixture, test file) for the trained fixtures.
const FIXTURES: [(&str, &str); 17] = [
    ("decision_tree_classifier", "wine_test.csv"),
    ("decision_tree_regressor", "wine_test.csv"),
    ("random_forest_classifier", "wine_test.csv"),
    ("random_forest_regressor", "wine_test.csv"),
    ("gradient_boosting_regressor", "wine_test.csv"),
    ("gradient_boosting_classifier", "wine_test.csv"),
    ("linear_regression", "wine_test.csv"),
    ("logistic_regression", "wine_test.csv"),
    ("poisson_glm", "wine_test.csv"),
    ("statsmodels_poisson_glm", "wine_test.csv"),
    ("mlp_classifier", "wine_test.csv"),
    ("lightgbm_classifier", "wine_test.csv"),
    ("pipeline_onehot_logistic", "wine_test_missing.csv"),
    ("hist_gradient_boosting_missing", "wine_test_missing.csv"),
    ("xgboost_regressor_missing", "wine_test_missing.csv"),
    ("gradient_boosting_binary", "wine_test.csv"),
    ("xgboost_binary_classifier", "wine_test.csv"),
];

const SEEDS: [&str; 7] = [
    "winequalityDecisionTreeClassification",
    "winequalityDesisionTreeRegression",
    "winequalityGeneralizedLinearRegressionGamma",
    "winequalityGeneralizedLinearRegressionGaussian",
    "winequalityLinearRegression",
    "winequalityMultilayerPerceptron",
    "winequalityRandonForrestClassification",
];

/// A test file's header and its cells (numbers as numbers, other text as text, blanks missing).
fn read_records(path: &Path) -> (Vec<String>, Vec<Vec<Cell>>) {
    let mut reader = csv::Reader::from_path(path).expect("test file");
    let header = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let records = reader
        .records()
        .map(|record| record.expect("record").iter().map(Cell::parse).collect())
        .collect();
    (header, records)
}

/// An owned input cell.
enum Cell {
    Missing,
    Number(f64),
    Text(String),
}

impl Cell {
    fn parse(text: &str) -> Cell {
        match text.parse() {
            _ if text.is_empty() => Cell::Missing,
            Ok(number) => Cell::Number(number),
            Err(_) => Cell::Text(text.to_owned()),
        }
    }

    fn input(&self) -> Input<'_> {
        match self {
            Cell::Missing => Input::Missing,
            Cell::Number(number) => Input::Number(*number),
            Cell::Text(text) => Input::Text(text),
        }
    }
}

/// Benchmarks one model on its records: single records, then batches of `BATCH`.
fn bench_model(c: &mut Criterion, name: &str, mut model: Model, records: &[Vec<Input<'_>>]) {
    let mut group = c.benchmark_group("pmml");
    let mut next = 0;
    group.throughput(criterion::Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("single", name), |bench| {
        bench.iter(|| {
            next = (next + 1) % records.len();
            black_box(
                model
                    .score_inputs(black_box(&records[next]))
                    .expect("scores"),
            )
        })
    });
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(BenchmarkId::new("batch1024", name), |bench| {
        bench.iter(|| {
            for index in 0..BATCH {
                black_box(
                    model
                        .score_inputs(&records[index % records.len()])
                        .expect("scores"),
                );
            }
        })
    });
    group.finish();
}

fn fixtures(c: &mut Criterion) {
    for (name, inputs) in FIXTURES {
        let bytes = std::fs::read(data_dir().join(format!("{name}.pmml"))).expect("fixture");
        let (header, cells) = read_records(&data_dir().join(inputs));
        let model = Model::with_fields(&bytes, &header).expect("loads");
        let records: Vec<Vec<Input<'_>>> = cells
            .iter()
            .map(|row| row.iter().map(Cell::input).collect())
            .collect();
        bench_model(c, name, model, &records);
    }
}

fn seeds(c: &mut Criterion) {
    let Some(seed) = original_files::dir("the original's PMML files") else {
        return;
    };
    let (header, cells) = read_records(&data_dir().join("wine_test.csv"));
    let records: Vec<Vec<Input<'_>>> = cells
        .iter()
        .map(|row| row.iter().map(Cell::input).collect())
        .collect();
    for name in SEEDS {
        let bytes = std::fs::read(seed.join(format!("{name}.pmml"))).expect("seed model");
        let model = Model::with_fields(&bytes, &header).expect("loads");
        bench_model(c, name, model, &records);
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = fixtures, seeds
}
criterion_main!(benches);
