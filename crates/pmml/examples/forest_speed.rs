//! Scoring speed of random forests and gradient-boosting models, one record at a time
//! ([`Model::score`]) and in batches of 1,024 records ([`Model::score_batch`]) side by side, on
//! the same records: generated forests in the end-to-end benchmark's shapes (the sklearn2pmml
//! wine forest with full binary trees), generated gradient-boosting models in sklearn2pmml's
//! shape (a regressor, a binary and a 6-class classifier, see `ForestWriter::boosting`) and the
//! repository's gradient-boosting fixtures, each checked to give the same predictions both ways
//! before it is timed.
//!
//! `cargo run --release -p pmml-evaluator --example forest_speed [ROUNDS]`

use std::hint::black_box;
use std::time::Instant;

use pmml_evaluator::Model;

#[path = "../tests/common/mod.rs"]
mod common;
use common::forest::ForestWriter;
use common::WINE_FEATURES;

/// The forests timed: (trees, depth).
const SHAPES: [(usize, u32); 6] = [(5, 5), (10, 5), (100, 3), (100, 5), (500, 5), (7, 14)];
/// The gradient-boosting models timed: (classes, trees a class, depth); one class: a regressor.
const BOOSTING: [(usize, usize, u32); 5] = [
    (1, 100, 3),
    (2, 100, 3),
    (6, 100, 3),
    (6, 20, 5),
    (2, 500, 5),
];
/// The repository's gradient-boosting fixtures timed (in `data/pmml`).
const FIXTURES: [&str; 5] = [
    "gradient_boosting_regressor",
    "gradient_boosting_binary",
    "gradient_boosting_classifier",
    "xgboost_binary_classifier",
    "lightgbm_classifier",
];
/// Records scored per timing; a batch is a slice of them.
const RECORDS: usize = 4096;
const BATCH: usize = 1024;

/// `RECORDS` wine records: a bundled row's features, each scaled by a random factor in 0.6..1.4
/// (a fixed xorshift sequence), so that records take all the trees' branches.
fn records() -> Vec<f64> {
    const WINE: [f64; 11] = [
        7.4, 0.7, 0.0, 1.9, 0.076, 11.0, 34.0, 0.9978, 3.51, 0.56, 9.4,
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..RECORDS * WINE.len())
        .map(|at| (WINE[at % WINE.len()] + 0.05) * (0.6 + 0.8 * uniform()))
        .collect()
}

/// Nanoseconds per record over `rounds` passes through the records, one record at a time.
fn time_single(model: &mut Model, rows: &[f64], rounds: usize) -> f64 {
    let started = Instant::now();
    for _ in 0..rounds {
        for row in rows.chunks(WINE_FEATURES.len()) {
            black_box(model.score(row).expect("scores"));
        }
    }
    started.elapsed().as_nanos() as f64 / (rounds * RECORDS) as f64
}

/// Nanoseconds per record over `rounds` passes through the records, `BATCH` at a time.
fn time_batch(model: &mut Model, rows: &[f64], rounds: usize) -> f64 {
    let mut results = Vec::with_capacity(BATCH);
    let started = Instant::now();
    for _ in 0..rounds {
        for batch in rows.chunks(BATCH * WINE_FEATURES.len()) {
            results.clear();
            model.score_batch(batch, BATCH, &mut results);
            black_box(&results);
        }
    }
    started.elapsed().as_nanos() as f64 / (rounds * RECORDS) as f64
}

/// Checks that `text`'s model gives the same predictions both ways, then times it and prints a
/// line: `model`, its trees and `depth`, the times and their ratio.
fn compare(model: &str, depth: &str, text: &str, rows: &[f64], rounds: usize) {
    let trees = text.matches("<TreeModel").count();
    let mut loaded = Model::with_fields(text.as_bytes(), &WINE_FEATURES).expect("loads");
    let mut batch = Vec::new();
    loaded.score_batch(rows, RECORDS, &mut batch);
    for (row, scored) in rows.chunks(WINE_FEATURES.len()).zip(batch) {
        assert_eq!(
            scored.ok(),
            loaded.score(row).ok(),
            "the same prediction both ways"
        );
    }
    let rounds = (rounds * 100 / trees).max(1);
    let single = time_single(&mut loaded, rows, rounds);
    let batched = time_batch(&mut loaded, rows, rounds);
    println!(
        "{model:<32} {trees:>5}  {depth:>5}   {single:>16.0}   {batched:>15.0}   {:>12.2}",
        single / batched
    );
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(20, |n| n.parse().expect("a number"));
    let writer = ForestWriter::bundled();
    let rows = records();
    println!(
        "model                            trees  depth   single ns/record   batch ns/record   \
         single/batch"
    );
    for (trees, depth) in SHAPES {
        let text = writer.forest(trees, depth, 11);
        compare("random forest", &depth.to_string(), &text, &rows, rounds);
    }
    for (classes, trees, depth) in BOOSTING {
        let text = writer.boosting(classes, trees, depth, 11);
        let model = match classes {
            1 => "gradient boosting regressor".to_owned(),
            _ => format!("gradient boosting, {classes} classes"),
        };
        compare(&model, &depth.to_string(), &text, &rows, rounds);
    }
    for name in FIXTURES {
        let text = std::fs::read_to_string(common::fixtures().join(format!("{name}.pmml")))
            .expect("the fixture");
        compare(name, "-", &text, &rows, rounds);
    }
}
