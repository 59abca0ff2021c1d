//! The serving operator on in-memory timely inputs: swap semantics, keyed routing, broadcast to
//! every worker, records that wait for a first model, and models that fail to load.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use modelserver::kafka::publish::model_with_bytes;
use modelserver::model::{ModelKind, Prediction};
use modelserver::pipeline::{PipelineKind, ServingConfig};
use modelserver::proto::ModelDescriptor;
use modelserver::record::{Feature, FeatureRecord, Outcome, Sourced, WineRecord, WINE_FEATURES};
use modelserver::state::{KeyState, ProcessState};

mod support;
use support::operator::*;

fn swap_scenario(kind: PipelineKind) {
    let steps = vec![
        step(
            10,
            vec![],
            vec![model("tree", "wine", "wine_tree_classifier")],
        ),
        step(20, records("wine", 0..40), vec![]),
        // The new model comes at the same time as records 40..80: it scores them.
        step(
            30,
            records("wine", 40..80),
            vec![model("logistic", "wine", "wine_logistic")],
        ),
        step(40, records("wine", 80..120), vec![]),
    ];
    let (results, counters) = run(kind, 2, ServingConfig::default(), steps);
    assert_one_result_each(&results, 0..120);
    for scored in &results {
        let (name, file, since) = if scored.origin.offset < 40 {
            ("tree", "wine_tree_classifier", 10)
        } else {
            ("logistic", "wine_logistic", 30)
        };
        assert_eq!(
            model_name(scored),
            Some(name),
            "offset {}",
            scored.origin.offset
        );
        assert_eq!(scored.model.as_ref().unwrap().since, since);
        assert_predicts(scored, file);
    }
    assert_eq!(counters.scored.get(), 120);
}

#[test]
fn keyed_swap_takes_effect_at_the_models_time() {
    swap_scenario(PipelineKind::Keyed);
}

#[test]
fn flat_swap_takes_effect_at_the_models_time() {
    swap_scenario(PipelineKind::Flat);
}

#[test]
fn keyed_routes_each_key_to_one_worker() {
    let mut mixed = records("red", 0..50);
    mixed.extend(records("white", 50..100));
    let steps = vec![
        step(
            1,
            vec![],
            vec![
                model("red-tree", "red", "wine_tree_classifier"),
                model("white-linear", "white", "wine_linear_regression"),
            ],
        ),
        step(2, mixed, vec![]),
    ];
    let (results, counters) = run(PipelineKind::Keyed, 2, ServingConfig::default(), steps);
    assert_one_result_each(&results, 0..100);
    for key in ["red", "white"] {
        let workers: HashSet<usize> = results
            .iter()
            .filter(|s| &*s.data_type == key)
            .map(|s| s.worker)
            .collect();
        assert_eq!(
            workers.len(),
            1,
            "every `{key}` record is scored on the one worker that owns the key"
        );
    }
    assert!(results.iter().all(|s| model_name(s)
        == Some(if &*s.data_type == "red" {
            "red-tree"
        } else {
            "white-linear"
        })));
    assert_eq!(
        counters.models_loaded.get(),
        2,
        "each model is built once, on its key's worker"
    );
}

#[test]
fn flat_broadcasts_models_and_spreads_records_over_every_worker() {
    let steps = vec![
        step(
            1,
            vec![],
            vec![model("tree", "wine", "wine_tree_classifier")],
        ),
        step(2, records("wine", 0..200), vec![]),
    ];
    let (results, counters) = run(PipelineKind::Flat, 2, ServingConfig::default(), steps);
    assert_one_result_each(&results, 0..200);
    let workers: BTreeSet<usize> = results.iter().map(|scored| scored.worker).collect();
    assert_eq!(
        workers,
        BTreeSet::from([0, 1]),
        "both workers score records"
    );
    assert!(results
        .iter()
        .all(|scored| model_name(scored) == Some("tree")));
    assert_eq!(
        counters.models_loaded.get(),
        2,
        "every worker builds its own copy"
    );
}

#[test]
fn records_wait_for_the_first_model_of_their_key() {
    let steps = vec![
        step(1, records("wine", 0..30), vec![]),
        step(
            5,
            vec![],
            vec![model("tree", "wine", "wine_tree_classifier")],
        ),
    ];
    let (results, counters) = run(PipelineKind::Keyed, 2, ServingConfig::default(), steps);
    assert_one_result_each(&results, 0..30);
    assert!(results
        .iter()
        .all(|scored| model_name(scored) == Some("tree")));
    assert_eq!(counters.no_model.get(), 0);
}

/// More records wait than the operator scores in one activation (it scores a long queue a
/// slice at a time, so that results leave while it works): every one is still scored once, by
/// the model of its time, also when the next swap is ready before the queue is worked off (the
/// steps are fed at once: both swaps are ready while the first model's queue is long).
#[test]
fn a_long_queue_is_scored_by_the_models_of_its_records_times() {
    let config = ServingConfig {
        pending_limit: 100_000,
        ..ServingConfig::default()
    };
    for kind in [PipelineKind::Keyed, PipelineKind::Flat] {
        let steps = vec![
            step(1, records("wine", 0..30_000), vec![]).at_once(),
            step(
                2,
                records("wine", 30_000..35_000),
                vec![model("tree", "wine", "wine_tree_classifier")],
            )
            .at_once(),
            step(
                3,
                records("wine", 35_000..40_000),
                vec![model("logistic", "wine", "wine_logistic")],
            ),
        ];
        let (results, counters) = run(kind, 2, config, steps);
        assert_one_result_each(&results, 0..40_000);
        for scored in &results {
            let expected = if scored.origin.offset < 35_000 {
                "tree"
            } else {
                "logistic"
            };
            assert_eq!(
                model_name(scored),
                Some(expected),
                "{kind}: offset {}",
                scored.origin.offset
            );
        }
        assert_eq!(counters.scored.get(), 40_000, "{kind}");
        assert_eq!(counters.no_model.get(), 0, "{kind}");
    }
}

#[test]
fn records_whose_key_never_gets_a_model_leave_as_no_model_results() {
    for kind in [PipelineKind::Keyed, PipelineKind::Flat] {
        let steps = vec![
            step(
                1,
                vec![],
                vec![model("tree", "wine", "wine_tree_classifier")],
            ),
            step(2, records("beer", 0..20), vec![]),
        ];
        let (results, counters) = run(kind, 2, ServingConfig::default(), steps);
        assert_one_result_each(&results, 0..20);
        assert!(
            results
                .iter()
                .all(|scored| scored.outcome == Outcome::NoModel && scored.model.is_none()),
            "{kind}"
        );
        assert_eq!(counters.no_model.get(), 20);
    }
}

#[test]
fn beyond_the_pending_limit_the_oldest_records_leave_without_a_model() {
    let config = ServingConfig {
        pending_limit: 3,
        ..ServingConfig::default()
    };
    let steps = vec![
        step(1, records("wine", 0..5), vec![]),
        step(
            2,
            vec![],
            vec![model("tree", "wine", "wine_tree_classifier")],
        ),
    ];
    let (results, _) = run(PipelineKind::Keyed, 1, config, steps);
    assert_one_result_each(&results, 0..5);
    let outcomes: Vec<Option<&str>> = results.iter().map(model_name).collect();
    assert_eq!(
        outcomes,
        [None, None, Some("tree"), Some("tree"), Some("tree")]
    );
}

#[test]
fn after_the_pending_timeout_records_leave_without_a_model() {
    let config = ServingConfig {
        pending_timeout: Duration::ZERO,
        ..ServingConfig::default()
    };
    let steps = vec![
        step(1, records("wine", 0..5), vec![]),
        step(
            2,
            vec![],
            vec![model("tree", "wine", "wine_tree_classifier")],
        ),
        step(3, records("wine", 5..10), vec![]),
    ];
    let (results, _) = run(PipelineKind::Keyed, 1, config, steps);
    assert_one_result_each(&results, 0..10);
    assert!(results[..5]
        .iter()
        .all(|scored| scored.outcome == Outcome::NoModel));
    assert!(results[5..]
        .iter()
        .all(|scored| model_name(scored) == Some("tree")));
}

#[test]
fn a_model_that_fails_to_load_leaves_the_previous_one_serving() {
    for (kind, workers_loading) in [(PipelineKind::Keyed, 1), (PipelineKind::Flat, 2)] {
        let broken = model_with_bytes(
            "broken",
            "wine",
            ModelKind::Onnx,
            b"not an onnx model".to_vec(),
        );
        let steps = vec![
            step(
                1,
                vec![],
                vec![model("tree", "wine", "wine_tree_classifier")],
            ),
            step(2, records("wine", 0..10), vec![broken]),
            step(3, records("wine", 10..20), vec![]),
        ];
        let (results, counters) = run(kind, 2, ServingConfig::default(), steps);
        assert_one_result_each(&results, 0..20);
        for scored in &results {
            assert_eq!(model_name(scored), Some("tree"), "{kind}");
            assert_predicts(scored, "wine_tree_classifier");
        }
        assert_eq!(
            counters.model_load_failures.get(),
            workers_loading,
            "{kind}"
        );
    }
}

/// Two keys, a swap on one and a failed load on the other, as the state log reports them.
fn stats_steps() -> Vec<Step> {
    let mut white = records("white", 100..106);
    white.extend(records("red", 10..20));
    vec![
        step(
            1,
            white,
            vec![
                model("red-tree", "red", "wine_tree_classifier"),
                model("white-linear", "white", "wine_linear_regression"),
            ],
        ),
        step(
            3,
            records("red", 20..24),
            vec![model("red-logistic", "red", "wine_logistic")],
        ),
        step(
            4,
            records("white", 106..108),
            vec![model_with_bytes(
                "broken",
                "white",
                ModelKind::Onnx,
                b"not onnx".to_vec(),
            )],
        ),
    ]
}

/// The states of `data_type`, one per worker that keeps it.
fn states(process: &ProcessState, data_type: &str) -> Vec<KeyState> {
    process.report(Some(data_type)).keys
}

fn assert_consistent_figures(state: &KeyState) {
    for stats in state.current.iter().chain(&state.history) {
        assert!(stats.usage > 0, "{stats:?}");
        assert!(stats.min_ns as f64 <= stats.mean_ns(), "{stats:?}");
        assert!(stats.mean_ns() <= stats.max_ns as f64, "{stats:?}");
        let bucketed: u64 = stats.latency.buckets().map(|bucket| bucket.count).sum();
        assert_eq!(bucketed, stats.usage, "every scoring is in the histogram");
    }
}

#[test]
fn keyed_state_reports_usage_since_swaps_and_failures_per_key() {
    let (results, _, process) = run_observed(
        PipelineKind::Keyed,
        2,
        ServingConfig::default(),
        stats_steps(),
    );
    assert_eq!(results.len(), 22);
    let red = states(&process, "red");
    assert_eq!(red.len(), 1, "a key lives on one worker: {red:?}");
    let red = &red[0];
    let current = red.current.as_ref().expect("red has a model");
    assert_eq!(
        (current.name.as_str(), current.since, current.usage),
        ("red-logistic", 3, 4)
    );
    assert_eq!(current.model_type, "onnx");
    assert_eq!(red.swaps, 1);
    let replaced = &red.history[0];
    assert_eq!(
        (
            replaced.name.as_str(),
            replaced.since,
            replaced.until,
            replaced.usage
        ),
        ("red-tree", 1, Some(3), 10)
    );
    let white = states(&process, "white");
    assert_eq!(white.len(), 1, "{white:?}");
    let white = &white[0];
    let current = white.current.as_ref().expect("white keeps its model");
    assert_eq!((current.name.as_str(), current.usage), ("white-linear", 8));
    assert_eq!((white.swaps, white.load_failures), (0, 1));
    let failure = white.last_failure.as_ref().expect("the failure is kept");
    assert_eq!((failure.name.as_str(), failure.at), ("broken", 4));
    assert!(
        failure.error.contains("invalid onnx model"),
        "{}",
        failure.error
    );
    assert_consistent_figures(red);
    assert_consistent_figures(white);
    let owners: BTreeSet<usize> = results
        .iter()
        .filter(|scored| &*scored.data_type == "red")
        .map(|scored| scored.worker)
        .collect();
    assert_eq!(
        owners,
        BTreeSet::from([red.worker]),
        "the state is the scoring worker's"
    );
}

#[test]
fn flat_state_shows_every_workers_copy() {
    let (_, _, process) = run_observed(
        PipelineKind::Flat,
        2,
        ServingConfig::default(),
        stats_steps(),
    );
    let red = states(&process, "red");
    let workers: Vec<usize> = red.iter().map(|state| state.worker).collect();
    assert_eq!(workers, [0, 1], "every worker keeps its own copy");
    for state in &red {
        let current = state.current.as_ref().expect("a model on every worker");
        assert_eq!((current.name.as_str(), current.since), ("red-logistic", 3));
        assert_eq!(state.history[0].name, "red-tree");
        assert_consistent_figures(state);
    }
    let usage = |pick: fn(&KeyState) -> u64| red.iter().map(pick).sum::<u64>();
    assert_eq!(
        usage(|state| state.current.as_ref().map_or(0, |s| s.usage)),
        4
    );
    assert_eq!(usage(|state| state.history[0].usage), 10);
}

#[test]
fn without_statistics_swaps_are_still_reported() {
    let config = ServingConfig {
        stats_interval: None,
        ..ServingConfig::default()
    };
    let (results, _, process) = run_observed(PipelineKind::Keyed, 1, config, stats_steps());
    assert_eq!(results.len(), 22);
    let red = &states(&process, "red")[0];
    let current = red.current.as_ref().expect("red has a model");
    assert_eq!((current.name.as_str(), current.usage), ("red-logistic", 0));
    assert_eq!(red.swaps, 1);
    assert_eq!(states(&process, "white")[0].load_failures, 1);
}

/// The wine rows `offsets` as feature records of key `data_type`, their features named as the
/// wine models name them, in the order `order` gives (indices into the UCI order).
fn feature_records(offsets: std::ops::Range<i64>, order: &[usize]) -> Vec<Sourced<FeatureRecord>> {
    records("wine", offsets)
        .into_iter()
        .map(|sourced| {
            let values = sourced.record.features();
            let features = order
                .iter()
                .map(|&i| Feature::number(WINE_FEATURES[i], values[i]));
            Sourced {
                origin: sourced.origin,
                record: FeatureRecord::new("wine", features),
            }
        })
        .collect()
}

fn pmml_model(name: &str, file: &str) -> ModelDescriptor {
    let path = format!("{}/data/pmml/{file}.pmml", env!("CARGO_MANIFEST_DIR"));
    model_with_bytes(
        name,
        "wine",
        ModelKind::Pmml,
        std::fs::read(path).expect("a fixture"),
    )
}

/// What a model built for wine records predicts for the wine row at `offset`.
fn wine_prediction(descriptor: &ModelDescriptor, offset: i64) -> Prediction {
    let source = modelserver::model::ModelSource::default();
    let mut model =
        modelserver::model::build_model(descriptor, Some(WineRecord::SCHEMA), &source).unwrap();
    model
        .score(&records("wine", offset..offset + 1)[0].record.features())
        .unwrap()
}

#[test]
fn feature_records_are_served_by_the_features_models_name() {
    let uci_order: Vec<usize> = (0..11).collect();
    let reversed: Vec<usize> = (0..11).rev().collect();
    let mut data = feature_records(0..10, &uci_order);
    data.extend(feature_records(10..20, &reversed));
    let pmml = pmml_model("pmml-tree", "decision_tree_classifier");
    let mut onnx = model("onnx-tree", "wine", "wine_tree_classifier");
    onnx.inputs = WINE_FEATURES.iter().map(|name| name.to_string()).collect();
    let steps = vec![
        step(1, data[..10].to_vec(), vec![pmml.clone()]),
        step(2, data[10..].to_vec(), vec![onnx.clone()]),
    ];
    let (results, _) = run(PipelineKind::Keyed, 2, ServingConfig::default(), steps);
    assert_one_result_each(&results, 0..20);
    for scored in &results {
        let offset = scored.origin.offset;
        let descriptor = if offset < 10 { &pmml } else { &onnx };
        let Outcome::Scored(prediction) = &scored.outcome else {
            panic!("record {offset}: {:?}", scored.outcome)
        };
        assert_eq!(
            prediction.class,
            wine_prediction(descriptor, offset).class,
            "record {offset}"
        );
        assert_eq!(model_name(scored), Some(descriptor.name.as_str()));
    }
}

#[test]
fn a_feature_record_without_a_feature_the_model_needs_fails_with_its_name() {
    let mut data = feature_records(0..3, &(0..11).collect::<Vec<_>>());
    data[1]
        .record
        .features
        .retain(|feature| feature.name != "alcohol");
    let steps = vec![step(
        1,
        data,
        vec![pmml_model("pmml-tree", "decision_tree_classifier")],
    )];
    let (results, counters) = run(PipelineKind::Keyed, 1, ServingConfig::default(), steps);
    assert_one_result_each(&results, 0..3);
    assert!(matches!(results[0].outcome, Outcome::Scored(_)));
    assert!(matches!(results[2].outcome, Outcome::Scored(_)));
    let Outcome::Failed(error) = &results[1].outcome else {
        panic!("{:?}", results[1].outcome)
    };
    assert!(error.contains("needs input `alcohol`"), "{error}");
    assert_eq!(counters.scoring_failures.get(), 1);
}

#[test]
fn an_onnx_model_that_names_no_features_does_not_load_for_feature_records() {
    let data = feature_records(0..2, &(0..11).collect::<Vec<_>>());
    let steps = vec![step(
        1,
        data,
        vec![model("tree", "wine", "wine_tree_classifier")],
    )];
    let config = ServingConfig {
        pending_timeout: Duration::ZERO,
        ..ServingConfig::default()
    };
    let (results, counters, process) = run_observed(PipelineKind::Keyed, 1, config, steps);
    assert!(results
        .iter()
        .all(|scored| scored.outcome == Outcome::NoModel));
    assert_eq!(counters.model_load_failures.get(), 1);
    let failure = process.report(Some("wine")).keys[0]
        .last_failure
        .clone()
        .unwrap();
    assert!(
        failure.error.contains("does not name its features"),
        "{}",
        failure.error
    );
}
