//! Scoring does not allocate but the vectors a prediction hands over: none for a regression,
//! the probability vector for a classifier, the output vector for a document with OutputFields
//! (whose values are numbers or the document's own strings). Counted with a global allocator, in
//! this test binary only, per thread (the tests run side by side).

mod common;
mod counting;

use common::{fixtures, WINE_FEATURES};
use counting::allocations;
use pmml_evaluator::{Model, Prediction};

const RECORD: [f64; 11] = [
    7.4, 0.7, 0.0, 1.9, 0.076, 11.0, 34.0, 0.9978, 3.51, 0.56, 9.4,
];

/// The fixture `name`, loaded for the wine features.
fn fixture_model(name: &str) -> Model {
    let bytes = std::fs::read(fixtures().join(name)).expect("fixture");
    Model::with_fields(&bytes, &WINE_FEATURES).expect("loads")
}

/// `model`'s prediction for `RECORD` (after one warm-up score), and the allocations it made.
fn counted_score(model: &mut Model) -> (Prediction, usize) {
    drop(model.score(&RECORD).expect("warm-up"));
    let before = allocations();
    let prediction = model.score(&RECORD).expect("scores");
    (prediction, allocations() - before)
}

/// Allocations made by scoring `RECORD` once with the fixture `name` (after one warm-up score),
/// less the one of the output vector when the document has output fields.
fn allocations_per_score(name: &str) -> usize {
    let mut model = fixture_model(name);
    let (prediction, made) = counted_score(&mut model);
    assert_eq!(
        prediction.outputs.len(),
        model.output_fields().len(),
        "{name}: one value per output field"
    );
    drop(prediction);
    made - usize::from(!model.output_fields().is_empty())
}

#[test]
fn scoring_allocates_only_the_probability_vector() {
    for regression in [
        "decision_tree_regressor.pmml",
        "random_forest_regressor.pmml",
        "gradient_boosting_regressor.pmml",
        "linear_regression.pmml",
        "poisson_glm.pmml",
        "statsmodels_poisson_glm.pmml",
    ] {
        assert_eq!(allocations_per_score(regression), 0, "{regression}");
    }
    for classifier in [
        "decision_tree_classifier.pmml",
        "random_forest_classifier.pmml",
        "gradient_boosting_classifier.pmml",
        "logistic_regression.pmml",
        "mlp_classifier.pmml",
        "lightgbm_classifier.pmml",
    ] {
        assert_eq!(allocations_per_score(classifier), 1, "{classifier}");
    }
}

#[test]
fn a_model_without_outputs_scores_alike_and_allocates_no_output_vector() {
    for name in [
        "decision_tree_classifier.pmml",
        "random_forest_classifier.pmml",
    ] {
        let mut full = fixture_model(name);
        assert!(!full.output_fields().is_empty(), "{name} has output fields");
        let mut bare = full.clone().without_outputs();
        assert!(bare.output_fields().is_empty(), "{name}");
        let (scored, made) = counted_score(&mut bare);
        assert_eq!(made, 1, "{name}: the probability vector only");
        let expected = full.score(&RECORD).expect("scores");
        assert!(scored.outputs.is_empty(), "{name}");
        assert_eq!(
            (scored.value, &scored.class, &scored.probabilities),
            (expected.value, &expected.class, &expected.probabilities),
            "{name}"
        );
    }
}
