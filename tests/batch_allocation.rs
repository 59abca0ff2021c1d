//! Scoring a batch of a classifier's records allocates nothing per record: each prediction holds
//! its class probabilities itself (`model::Probabilities`, up to eight classes), so a batch's
//! allocations are the model runtime's own, whatever the number of rows. Counted with a global
//! allocator, in this test binary only, per thread (the tests run side by side).

#[path = "../crates/pmml/tests/counting/mod.rs"]
mod counting;
mod support;

use counting::allocations;
use modelserver::dataset;
use modelserver::model::onnx::OnnxModel;
use modelserver::model::{Model, ModelError, Prediction};
use modelserver::record::WineRecord;
use support::operator::onnx_bytes;

/// The first `count` bundled wine records' features, one record after another.
fn rows(count: usize) -> Vec<f64> {
    dataset::bundled()
        .iter()
        .cycle()
        .take(count)
        .flat_map(|sample| sample.features)
        .collect()
}

/// The predictions of a batch of `count` records (after a warm-up batch of the same size), and
/// the allocations scoring it made.
fn counted_batch(model: &mut dyn Model, count: usize) -> (Vec<Prediction>, usize) {
    let rows = rows(count);
    let mut results: Vec<Result<Prediction, ModelError>> = Vec::with_capacity(count);
    model.score_batch(&rows, count, &mut results);
    results.clear();
    let before = allocations();
    model.score_batch(&rows, count, &mut results);
    let made = allocations() - before;
    let predictions = results
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("scores");
    (predictions, made)
}

fn onnx(name: &str) -> OnnxModel {
    OnnxModel::load(&onnx_bytes(name), WineRecord::SCHEMA).expect("loads")
}

#[test]
fn an_onnx_classifiers_batch_allocates_the_same_for_64_records_as_for_1024() {
    for name in [
        "wine_tree_classifier",
        "wine_mlp_classifier",
        "wine_logistic",
    ] {
        let mut model = onnx(name);
        let (small, small_allocations) = counted_batch(&mut model, 64);
        let (large, large_allocations) = counted_batch(&mut model, 1024);
        assert_eq!(large.len(), 1024, "{name}");
        assert!(
            large
                .iter()
                .all(|prediction| prediction.probabilities.len() == 6),
            "{name}: one probability per wine quality"
        );
        assert_eq!(
            &large[..64],
            &small[..],
            "{name}: the same records, the same predictions"
        );
        assert!(
            large_allocations <= small_allocations + 8,
            "{name}: {large_allocations} allocations for 1,024 records, {small_allocations} for 64"
        );
    }
}
