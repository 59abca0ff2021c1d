//! The model lifecycle on the in-memory pipelines: rollback and pin, canary, shadow and
//! ensembles, each in the keyed and the flat pipeline, with the answers each model gives alone
//! as the reference.

use std::collections::BTreeSet;

use modelserver::kafka::publish::{lifecycle_operation, staged};
use modelserver::model::ModelKind;
use modelserver::pipeline::lifecycle::canary_takes;
use modelserver::pipeline::{PipelineKind, ServingConfig};
use modelserver::proto::lifecycle::{Decider, Operation};
use modelserver::proto::{Lifecycle, ModelDescriptor};
use modelserver::record::{Role, Scored};
use modelserver::state::KeyState;

mod support;
use support::operator::*;

const KINDS: [PipelineKind; 2] = [PipelineKind::Keyed, PipelineKind::Flat];

fn operation(operation: Operation, model: &str) -> ModelDescriptor {
    let mut lifecycle = Lifecycle {
        model: model.into(),
        ..Lifecycle::default()
    };
    lifecycle.set_operation(operation);
    lifecycle_operation("wine", lifecycle)
}

fn canary(model: &str, share: f64) -> ModelDescriptor {
    let mut descriptor = operation(Operation::Canary, model);
    descriptor.lifecycle.as_mut().unwrap().share = share;
    descriptor
}

/// `tree` serves from time 10.
fn tree_from_10() -> Step {
    step(
        10,
        vec![],
        vec![model("tree", "wine", "wine_tree_classifier")],
    )
}

/// `tree` serves from time 10, `logistic` is kept ready from 20.
fn tree_then_staged_logistic() -> Vec<Step> {
    let logistic = staged(model("logistic", "wine", "wine_logistic"));
    vec![tree_from_10(), step(20, vec![], vec![logistic])]
}

/// The results of one role, in offset order.
fn of_role(results: &[Scored], role: Role) -> Vec<&Scored> {
    results
        .iter()
        .filter(|scored| scored.role == role)
        .collect()
}

/// Every record has exactly one serving result (live, canary or ensemble).
fn assert_served_once_each(results: &[Scored], offsets: std::ops::Range<i64>) {
    let serving: Vec<i64> = results
        .iter()
        .filter(|scored| scored.role != Role::Shadow)
        .map(|scored| scored.origin.offset)
        .collect();
    assert_eq!(
        serving,
        offsets.collect::<Vec<_>>(),
        "one serving result per record"
    );
}

/// The states of key `wine` the process keeps, one per worker that serves it.
fn wine_states(kind: PipelineKind, steps: Vec<Step>) -> (Vec<Scored>, Vec<KeyState>) {
    let (results, _, process) = run_observed(kind, 2, ServingConfig::default(), steps);
    (results, process.report(Some("wine")).keys)
}

#[test]
fn a_rollback_serves_the_version_before_again_from_its_time_with_no_record_lost() {
    for kind in KINDS {
        let steps = vec![
            tree_from_10(),
            step(20, records("wine", 0..40), vec![]),
            step(
                30,
                records("wine", 40..80),
                vec![model("logistic", "wine", "wine_logistic")],
            ),
            step(
                40,
                records("wine", 80..120),
                vec![operation(Operation::Rollback, "")],
            ),
            step(50, records("wine", 120..160), vec![]),
        ];
        let (results, states) = wine_states(kind, steps);
        assert_one_result_each(&results, 0..160);
        for scored in &results {
            let (name, file) = match scored.origin.offset {
                40..80 => ("logistic", "wine_logistic"),
                _ => ("tree", "wine_tree_classifier"),
            };
            assert_eq!(
                model_name(scored),
                Some(name),
                "{kind} offset {}",
                scored.origin.offset
            );
            assert_predicts(scored, file);
        }
        let rolled_back = results.iter().find(|s| s.origin.offset == 80).unwrap();
        assert_eq!(
            rolled_back.model.as_ref().unwrap().since,
            40,
            "current again from 40"
        );
        for state in states {
            assert_eq!(state.lineup.versions, ["tree", "logistic"]);
            assert_eq!(state.lineup.current.as_deref(), Some("tree"));
            assert_eq!(
                state.swaps, 2,
                "{kind}: two swaps, the rollback one of them"
            );
        }
    }
}

#[test]
fn a_pinned_key_stages_new_models_until_one_is_rolled_to() {
    for kind in KINDS {
        let steps = vec![
            tree_from_10(),
            step(
                20,
                records("wine", 0..20),
                vec![operation(Operation::Pin, "")],
            ),
            step(
                30,
                records("wine", 20..40),
                vec![model("logistic", "wine", "wine_logistic")],
            ),
            step(
                40,
                records("wine", 40..60),
                vec![operation(Operation::Rollback, "logistic")],
            ),
        ];
        let (results, states) = wine_states(kind, steps);
        assert_one_result_each(&results, 0..60);
        for scored in &results {
            let name = if scored.origin.offset < 40 {
                "tree"
            } else {
                "logistic"
            };
            assert_eq!(
                model_name(scored),
                Some(name),
                "{kind} offset {}",
                scored.origin.offset
            );
        }
        assert!(states.iter().all(|state| state.lineup.pinned));
    }
}

#[test]
fn the_canary_takes_its_share_and_every_record_the_same_path_run_after_run() {
    let share = 10.0;
    let mut paths = Vec::new();
    for kind in KINDS {
        let steps: Vec<Step> = [
            tree_then_staged_logistic(),
            vec![step(
                30,
                records("wine", 0..10_000),
                vec![canary("logistic", share)],
            )],
        ]
        .into_iter()
        .flatten()
        .collect();
        let (results, states) = wine_states(kind, steps);
        assert_one_result_each(&results, 0..10_000);
        let canaries: BTreeSet<i64> = of_role(&results, Role::Canary)
            .iter()
            .map(|scored| scored.origin.offset)
            .collect();
        let observed = canaries.len() as f64 / 100.0;
        assert!(
            (observed - share).abs() <= 2.0,
            "{kind}: {observed} % to the canary"
        );
        for scored in &results {
            let taken = canary_takes(&scored.origin, share);
            let (role, name, file) = match taken {
                true => (Role::Canary, "logistic", "wine_logistic"),
                false => (Role::Live, "tree", "wine_tree_classifier"),
            };
            assert_eq!((scored.role, model_name(scored)), (role, Some(name)));
            if scored.origin.offset % 97 == 0 {
                assert_predicts(scored, file);
            }
        }
        let counted: u64 = states
            .iter()
            .flat_map(|state| &state.roles)
            .filter(|stats| stats.role == "canary" && stats.model == "logistic")
            .map(|stats| stats.usage)
            .sum();
        assert_eq!(
            counted,
            canaries.len() as u64,
            "the state counts the canary's records"
        );
        paths.push(canaries);
    }
    assert_eq!(
        paths[0], paths[1],
        "the same records take the canary in both pipelines"
    );
}

#[test]
fn promote_makes_the_canary_current_and_abort_drops_it() {
    for (ending, after) in [(Operation::Promote, "logistic"), (Operation::Abort, "tree")] {
        for kind in KINDS {
            let steps = vec![
                step(
                    10,
                    vec![],
                    vec![model("tree", "wine", "wine_tree_classifier")],
                ),
                step(
                    20,
                    records("wine", 0..200),
                    vec![{
                        let mut descriptor = model("logistic", "wine", "wine_logistic");
                        descriptor.lifecycle = canary("", 50.0).lifecycle;
                        descriptor
                    }],
                ),
                step(30, records("wine", 200..400), vec![operation(ending, "")]),
            ];
            let (results, states) = wine_states(kind, steps);
            assert_one_result_each(&results, 0..400);
            assert!(!of_role(&results[..200], Role::Canary).is_empty());
            for scored in &results[200..] {
                assert_eq!((scored.role, model_name(scored)), (Role::Live, Some(after)));
            }
            assert!(states.iter().all(|state| state.lineup.canary.is_none()));
        }
    }
}

#[test]
fn a_shadow_scores_every_record_as_it_would_alone_and_the_live_results_are_unchanged() {
    for kind in KINDS {
        let steps: Vec<Step> = [
            tree_then_staged_logistic(),
            vec![
                step(
                    30,
                    records("wine", 0..300),
                    vec![operation(Operation::Shadow, "logistic")],
                ),
                step(
                    40,
                    records("wine", 300..400),
                    vec![operation(Operation::Unshadow, "")],
                ),
            ],
        ]
        .into_iter()
        .flatten()
        .collect();
        let (results, states) = wine_states(kind, steps);
        assert_served_once_each(&results, 0..400);
        let shadows = of_role(&results, Role::Shadow);
        let offsets: Vec<i64> = shadows.iter().map(|s| s.origin.offset).collect();
        assert_eq!(
            offsets,
            (0..300).collect::<Vec<_>>(),
            "{kind}: one shadow result each"
        );
        let mut agreed = 0;
        for shadow in &shadows {
            assert_eq!(model_name(shadow), Some("logistic"));
            assert_predicts(shadow, "wine_logistic");
            let live = expected("wine_tree_classifier", shadow.origin.offset);
            agreed += u64::from(prediction(shadow).class == live.class);
        }
        for live in of_role(&results, Role::Live) {
            assert_predicts(live, "wine_tree_classifier");
        }
        let shadow_stats: Vec<_> = states
            .iter()
            .flat_map(|state| &state.roles)
            .filter(|stats| stats.role == "shadow")
            .collect();
        let (compared, agreeing) = shadow_stats
            .iter()
            .fold((0, 0), |(c, a), s| (c + s.compared, a + s.agreed));
        // Unshadowed at 40: the figures of a shadow that left are dropped with it.
        assert_eq!((compared, agreeing), (0, 0), "{kind}: {shadow_stats:?}");
        assert!(
            agreed > 0 && agreed < 300,
            "the two models disagree on some records"
        );
    }
}

#[test]
fn shadow_agreement_is_counted_against_the_live_answers() {
    for kind in KINDS {
        let steps: Vec<Step> = [
            tree_then_staged_logistic(),
            vec![step(
                30,
                records("wine", 0..300),
                vec![operation(Operation::Shadow, "logistic")],
            )],
        ]
        .into_iter()
        .flatten()
        .collect();
        let (results, states) = wine_states(kind, steps);
        let agreed = of_role(&results, Role::Shadow)
            .iter()
            .filter(|shadow| {
                let live = expected("wine_tree_classifier", shadow.origin.offset);
                prediction(shadow).class == live.class
            })
            .count() as u64;
        let (compared, agreeing) = states
            .iter()
            .flat_map(|state| &state.roles)
            .filter(|stats| stats.role == "shadow")
            .fold((0, 0), |(c, a), s| (c + s.compared, a + s.agreed));
        assert_eq!((compared, agreeing), (300, agreed), "{kind}");
    }
}

#[test]
fn an_ensembles_vote_is_the_majority_of_its_members_answers() {
    let files = [
        ("tree", "wine_tree_classifier"),
        ("logistic", "wine_logistic"),
        ("forest", "wine_forest_classifier"),
    ];
    for kind in KINDS {
        let mut form = operation(Operation::Ensemble, "");
        let lifecycle = form.lifecycle.as_mut().unwrap();
        lifecycle.members = files.iter().map(|(name, _)| name.to_string()).collect();
        lifecycle.set_decider(Decider::Majority);
        let models = files
            .iter()
            .map(|(name, file)| staged(model(name, "wine", file)))
            .collect();
        let steps = vec![
            tree_from_10(),
            step(20, vec![], models),
            step(30, records("wine", 0..200), vec![form]),
            step(
                40,
                records("wine", 200..220),
                vec![operation(Operation::Disband, "")],
            ),
        ];
        let (results, _) = wine_states(kind, steps);
        assert_one_result_each(&results, 0..220);
        for scored in &results[..200] {
            assert_eq!(scored.role, Role::Ensemble);
            assert_eq!(model_name(scored), Some("tree+logistic+forest"));
            let offset = scored.origin.offset;
            let answers: Vec<_> = files
                .iter()
                .map(|(_, file)| expected(file, offset).class.unwrap())
                .collect();
            for (member, answer) in scored.members.iter().zip(&answers) {
                let given = member.answer.as_ref().unwrap().class.clone().unwrap();
                assert_eq!(&given, answer, "{kind} offset {offset} {}", member.model);
            }
            let votes = |label| answers.iter().filter(|a| **a == label).count();
            let winner = answers.iter().fold(answers[0].clone(), |best, a| {
                match votes(a.clone()) > votes(best.clone()) {
                    true => a.clone(),
                    false => best,
                }
            });
            assert_eq!(
                prediction(scored).class.as_ref(),
                Some(&winner),
                "offset {offset}"
            );
        }
        for scored in &results[200..] {
            assert_eq!(
                (scored.role, model_name(scored)),
                (Role::Live, Some("tree"))
            );
        }
    }
}

#[test]
fn an_operation_that_cannot_apply_changes_nothing_and_is_reported() {
    for kind in KINDS {
        let steps = vec![
            tree_from_10(),
            step(
                20,
                records("wine", 0..20),
                vec![operation(Operation::Rollback, "missing")],
            ),
            step(
                30,
                records("wine", 20..40),
                vec![operation(Operation::Promote, "")],
            ),
        ];
        let (results, states) = wine_states(kind, steps);
        assert_one_result_each(&results, 0..40);
        assert!(results.iter().all(|s| model_name(s) == Some("tree")));
        for state in states {
            let failure = state.last_failure.expect("the refusal is reported");
            assert_eq!(
                failure.error,
                "Promote refused: the key has no canary to promote"
            );
        }
    }
}

#[test]
fn a_replay_of_the_models_topic_at_one_instant_rebuilds_the_same_lineup() {
    for kind in KINDS {
        // A restart: every message of the models topic arrives at one instant.
        let history = vec![
            model("tree", "wine", "wine_tree_classifier"),
            model("logistic", "wine", "wine_logistic"),
            staged(model("forest", "wine", "wine_forest_classifier")),
            canary("forest", 20.0),
            operation(Operation::Rollback, ""),
        ];
        let steps = vec![step(10, records("wine", 0..500), history)];
        let (results, states) = wine_states(kind, steps);
        assert_one_result_each(&results, 0..500);
        for scored in &results {
            let expected = match canary_takes(&scored.origin, 20.0) {
                true => (Role::Canary, Some("forest")),
                false => (Role::Live, Some("tree")),
            };
            assert_eq!((scored.role, model_name(scored)), expected);
        }
        for state in states {
            assert_eq!(state.lineup.versions, ["tree", "logistic", "forest"]);
            assert_eq!(state.lineup.canary, Some(("forest".into(), 20.0)));
        }
    }
}

#[test]
fn a_replay_whose_newest_models_fail_to_load_serves_the_newest_that_loads() {
    let broken = |index: usize| {
        let bytes = b"not an onnx model".to_vec();
        let name = format!("broken-{index}");
        modelserver::kafka::publish::model_with_bytes(&name, "wine", ModelKind::Onnx, bytes)
    };
    for kind in KINDS {
        // More broken models than the versions kept come after the good one, at one instant.
        let mut history = vec![model("good", "wine", "wine_tree_classifier")];
        history.extend((0..8).map(broken));
        let steps = vec![step(10, records("wine", 0..50), history)];
        let (results, states) = wine_states(kind, steps);
        assert_one_result_each(&results, 0..50);
        assert!(
            results.iter().all(|s| model_name(s) == Some("good")),
            "{kind}"
        );
        for state in states {
            assert_eq!(state.lineup.current.as_deref(), Some("good"));
            assert_eq!(
                state.load_failures, 8,
                "{kind}: every broken model is reported"
            );
        }
    }
}
