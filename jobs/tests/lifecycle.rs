//! The model lifecycle against a real Kafka broker, in a job of two `serve` processes of two
//! workers each, in both pipelines: a rollback while records stream, a canary that takes its
//! share and keeps every record on its path across a restart by SIGKILL and is promoted, a
//! shadow, an ensemble, then a pinned key that stages what is published, each checked against
//! onnxruntime's predictions.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use modelserver::kafka::publish::{lifecycle_operation, staged, Publisher};
use modelserver::kafka::KafkaConfig;
use modelserver::pipeline::lifecycle::canary_takes;
use modelserver::pipeline::PipelineKind;
use modelserver::proto::lifecycle::{Decider, Operation};
use modelserver::proto::serving_result::{Outcome, Role};
use modelserver::proto::{Lifecycle, ModelDescriptor, ServingResult, WineRecord};
use modelserver::record::Origin;
use support::{
    broker, free_ports, hostfile, onnx_model, read_results_within, read_topic, wine_records,
    Reference, Serve, Topics,
};

/// The three models of the scenario: name, file.
const MODELS: [(&str, &str); 3] = [
    ("tree", "wine_tree_classifier"),
    ("logistic", "wine_logistic"),
    ("forest", "wine_forest_classifier"),
];

fn operation(operation: Operation, change: impl FnOnce(&mut Lifecycle)) -> ModelDescriptor {
    let mut lifecycle = Lifecycle::default();
    lifecycle.set_operation(operation);
    change(&mut lifecycle);
    lifecycle_operation("wine", lifecycle)
}

/// `count` records cycling over the 300 bundled rows onnxruntime's references cover.
fn records(count: usize) -> Vec<WineRecord> {
    let rows = wine_records(0..300, "wine");
    rows.iter().cycle().take(count).cloned().collect()
}

/// What the scenario checks results against: each model's reference, by name.
struct Check {
    references: BTreeMap<&'static str, Reference>,
    /// The data topic's records by position, read back.
    records: BTreeMap<(i32, i64), WineRecord>,
}

impl Check {
    fn new() -> Check {
        let references = MODELS
            .iter()
            .map(|(name, file)| (*name, Reference::onnx(file)))
            .collect();
        Check {
            references,
            records: BTreeMap::new(),
        }
    }

    /// Reads the data topic back (its `count` records so far); returns the positions not
    /// read before.
    fn read_data(&mut self, kafka: &KafkaConfig, topic: &str, count: usize) -> Vec<(i32, i64)> {
        let mut new = Vec::new();
        for (partition, offset, payload) in read_topic(kafka, topic, count, Duration::from_secs(30))
        {
            let record = prost::Message::decode(payload.as_slice()).expect("a record");
            if self.records.insert((partition, offset), record).is_none() {
                new.push((partition, offset));
            }
        }
        assert_eq!(
            self.records.len(),
            count,
            "the data topic holds every record published"
        );
        new
    }

    /// The reference answer of `model` for the record a result is of.
    fn reference(&self, model: &str, result: &ServingResult) -> f64 {
        let record = &self.records[&position(result)];
        self.references[model].predict(record)
    }

    /// A result is its model's own answer for its record.
    fn assert_scored_right(&self, result: &ServingResult) {
        assert_eq!(result.outcome(), Outcome::Scored, "{result:?}");
        let expected = self.reference(&result.model_name, result);
        assert_eq!(
            result.value,
            expected,
            "{} at {:?}",
            result.model_name,
            position(result)
        );
    }
}

fn position(result: &ServingResult) -> (i32, i64) {
    (result.source_partition, result.source_offset)
}

/// The serving results (not shadows) by position, one per position (a record scored twice,
/// after a restart, must have taken the same path both times).
fn serving_by_position(results: &[ServingResult]) -> BTreeMap<(i32, i64), &ServingResult> {
    let mut serving = BTreeMap::new();
    for result in results.iter().filter(|r| r.role() != Role::Shadow) {
        if let Some(earlier) = serving.insert(position(result), result) {
            assert_eq!(
                (earlier.role(), &earlier.model_name),
                (result.role(), &result.model_name),
                "a record scored twice took the same path at {:?}",
                position(result)
            );
        }
    }
    serving
}

/// Starts the two processes of the job, their state endpoints at `state` and the port after.
fn start(kafka: &KafkaConfig, topics: &Topics, pipeline: PipelineKind, state: &str) -> [Serve; 2] {
    let hosts = hostfile(&format!("lifecycle-{pipeline}"));
    let extra = ["--state-addr", state];
    [0, 1].map(|process| Serve::start(kafka, topics, pipeline, process, &hosts, &extra))
}

/// The state endpoints' answers to `path`, from both processes.
fn scrape_both(state: &str, path: &str) -> Vec<String> {
    let (host, port) = state.rsplit_once(':').expect("an address");
    let port: u16 = port.parse().expect("a port");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    (port..=port + 1)
        .map(|port| {
            let url = format!("http://{host}:{port}{path}");
            let mut answer = agent.get(url).call().expect("an answer");
            answer.body_mut().read_to_string().expect("a body")
        })
        .collect()
}

/// What the state endpoints say of key `wine` while the canary runs: its lineup, the canary's
/// figures (they come every second: waited for, at most ten), and the canary's share among the
/// metrics.
fn assert_state_shows_the_canary(state: &str, canaries: usize) {
    let mut counted = 0;
    for _ in 0..20 {
        counted = canary_usage(state);
        if counted >= canaries as u64 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(counted, canaries as u64, "the canary's usage in the state");
    let metrics = scrape_both(state, "/metrics").concat();
    let share = metrics
        .lines()
        .find(|line| line.starts_with("modelserver_canary_share{"))
        .expect("a canary share gauge");
    assert!(share.ends_with(" 20.0"), "{share}");
}

/// The canary's usage in the state of key `wine`, over both processes, after checking its
/// lineup there.
fn canary_usage(state: &str) -> u64 {
    let mut counted = 0;
    for answer in scrape_both(state, "/models") {
        let report: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
        let keys = report["keys"].as_array().expect("keys");
        for key in keys.iter().filter(|key| key["dataType"] == "wine") {
            let lineup = &key["lineup"];
            assert_eq!(
                lineup["canary"],
                serde_json::json!(["forest", 20.0]),
                "{key}"
            );
            assert_eq!(
                lineup["versions"],
                serde_json::json!(["tree", "logistic", "forest"])
            );
            let roles = key["roles"].as_array().expect("roles");
            let canary = roles.iter().find(|role| role["role"] == "canary");
            counted += canary.map_or(0, |role| role["usage"].as_u64().unwrap());
        }
    }
    counted
}

/// The results topic read from the start, once every record at `positions` has a serving
/// result and, when `shadowed`, a shadow result (at most two minutes).
fn results_covering(
    kafka: &KafkaConfig,
    topic: &str,
    positions: &[(i32, i64)],
    shadowed: bool,
) -> Vec<ServingResult> {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let results = read_results_within(kafka, topic, usize::MAX, Duration::from_secs(3));
        let covered = |role: fn(Role) -> bool| -> bool {
            let seen: BTreeSet<(i32, i64)> = results
                .iter()
                .filter(|r| role(r.role()))
                .map(position)
                .collect();
            positions.iter().all(|p| seen.contains(p))
        };
        let done = covered(|role| role != Role::Shadow)
            && (!shadowed || covered(|role| role == Role::Shadow));
        if done || std::time::Instant::now() > deadline {
            return results;
        }
    }
}

/// Publishes `count` more records and returns their positions and the results once each has one.
fn stream(
    kafka: &KafkaConfig,
    publisher: &Publisher,
    topics: &Topics,
    check: &mut Check,
    count: usize,
    shadowed: bool,
) -> (Vec<(i32, i64)>, Vec<ServingResult>) {
    publisher
        .publish_records(&topics.data, records(count), None, |_| {})
        .unwrap();
    let total = check.records.len() + count;
    let positions = check.read_data(kafka, &topics.data, total);
    let results = results_covering(kafka, &topics.results, &positions, shadowed);
    (positions, results)
}

fn lifecycle_on_kafka(pipeline: PipelineKind) {
    let kafka = broker();
    let topics = Topics::create(&kafka, &format!("lifecycle-{pipeline}"), 4);
    let publisher = Publisher::new(&kafka).expect("a publisher");
    let mut check = Check::new();
    publisher
        .publish_model(
            &topics.models,
            &onnx_model("tree", "wine", "wine_tree_classifier"),
        )
        .unwrap();
    publisher
        .publish_model(
            &topics.models,
            &onnx_model("logistic", "wine", "wine_logistic"),
        )
        .unwrap();
    let state = format!("127.0.0.1:{}", free_ports(2));
    let job = start(&kafka, &topics, pipeline, &state);
    let (positions, results) = stream(&kafka, &publisher, &topics, &mut check, 100, false);
    let serving = serving_by_position(&results);
    let by_newest = |position| serving.get(position).map(|r| r.model_name.as_str());
    assert!(
        positions.iter().all(|p| by_newest(p) == Some("logistic")),
        "{pipeline}: the newest serves every record"
    );

    // A rollback while records stream (4 s of them): every record once, by logistic then by tree, for good.
    std::thread::scope(|scope| {
        let streamer = scope.spawn(|| {
            publisher
                .publish_records(&topics.data, records(4_000), Some(1_000.0), |_| {})
                .unwrap()
        });
        // Under way: a few hundred of the stream's records are scored.
        read_results_within(&kafka, &topics.results, 600, Duration::from_secs(60));
        let rollback = operation(Operation::Rollback, |_| {});
        publisher.publish_model(&topics.models, &rollback).unwrap();
        streamer.join().unwrap()
    });
    let streamed = check.read_data(&kafka, &topics.data, 4_100);
    let results = results_covering(&kafka, &topics.results, &streamed, false);
    let serving = serving_by_position(&results);
    let mut switched: BTreeMap<i32, i64> = BTreeMap::new();
    let mut by_logistic = 0;
    for position in &streamed {
        let result = serving.get(position).expect("a result for every record");
        check.assert_scored_right(result);
        match result.model_name.as_str() {
            "tree" => {
                switched.entry(position.0).or_insert(position.1);
            }
            _ => {
                assert!(
                    !switched.contains_key(&position.0),
                    "back to logistic after the rollback"
                );
                by_logistic += 1;
            }
        }
    }
    assert_eq!(
        switched.len(),
        4,
        "{pipeline}: the rollback took effect on every partition"
    );
    assert!(
        by_logistic > 0,
        "{pipeline}: records scored before the rollback too"
    );
    eprintln!("{pipeline}: {by_logistic} records by logistic, then tree from offsets {switched:?}");

    // A canary of 20 %: its share, each record on the path its position picks.
    publisher
        .publish_model(
            &topics.models,
            &staged(onnx_model("forest", "wine", "wine_forest_classifier")),
        )
        .unwrap();
    let canary = operation(Operation::Canary, |l| {
        (l.model, l.share) = ("forest".into(), 20.0)
    });
    publisher.publish_model(&topics.models, &canary).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let (positions, results) = stream(&kafka, &publisher, &topics, &mut check, 10_000, false);
    let canaries = assert_canary_paths(&check, &results, &positions);
    let share = canaries as f64 / 100.0;
    assert!(
        (share - 20.0).abs() <= 2.0,
        "{pipeline}: {share} % to the canary"
    );
    eprintln!("{pipeline}: the canary took {share} % of 10,000 records");
    assert_state_shows_the_canary(&state, canaries);

    // A restart by SIGKILL mid-canary: the replayed and the new records take the same paths.
    for serve in &job {
        let _ = std::process::Command::new("kill")
            .args(["-9", &serve.0.id().to_string()])
            .status();
    }
    drop(job);
    let job = start(&kafka, &topics, pipeline, &state);
    let (after, results) = stream(&kafka, &publisher, &topics, &mut check, 2_000, false);
    assert_canary_paths(&check, &results, &positions);
    assert_canary_paths(&check, &results, &after);

    // The canary promoted, and a shadow: every record also scored by tree, flagged; the live
    // results (by forest now) unchanged.
    let promote = operation(Operation::Promote, |_| {});
    let shadow = operation(Operation::Shadow, |l| l.model = "tree".into());
    publisher.publish_model(&topics.models, &promote).unwrap();
    publisher.publish_model(&topics.models, &shadow).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let (positions, results) = stream(&kafka, &publisher, &topics, &mut check, 300, true);
    let wanted: BTreeSet<&(i32, i64)> = positions.iter().collect();
    for (role, named) in [(Role::Live, "forest"), (Role::Shadow, "tree")] {
        let of_role: BTreeSet<(i32, i64)> = results
            .iter()
            .filter(|r| r.role() == role && wanted.contains(&position(r)))
            .inspect(|r| {
                assert_eq!(r.model_name, named);
                check.assert_scored_right(r);
            })
            .map(position)
            .collect();
        assert_eq!(
            of_role.len(),
            300,
            "{pipeline}: a {role:?} result for every record"
        );
    }

    // An ensemble of the three, by majority: each member's answer kept, the vote theirs.
    let unshadow = operation(Operation::Unshadow, |_| {});
    let ensemble = operation(Operation::Ensemble, |l| {
        l.members = MODELS.iter().map(|(name, _)| name.to_string()).collect();
        l.set_decider(Decider::Majority);
    });
    publisher.publish_model(&topics.models, &unshadow).unwrap();
    publisher.publish_model(&topics.models, &ensemble).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let (positions, results) = stream(&kafka, &publisher, &topics, &mut check, 300, false);
    let serving = serving_by_position(&results);
    for position in &positions {
        let vote = serving[position];
        assert_eq!(vote.role(), Role::Ensemble);
        assert_eq!(vote.model_name, "tree+logistic+forest");
        let answers: Vec<f64> = vote
            .members
            .iter()
            .map(|member| {
                let expected = check.reference(&member.model_name, vote);
                assert_eq!(
                    member.label.parse::<f64>().unwrap(),
                    expected,
                    "{}",
                    member.model_name
                );
                expected
            })
            .collect();
        assert_eq!(answers.len(), 3);
        let majority = answers
            .iter()
            .find(|answer| answers.iter().filter(|a| a == answer).count() >= 2)
            .unwrap_or(&answers[0]);
        assert_eq!(vote.value, *majority, "the vote at {position:?}");
    }

    // The ensemble disbanded and the key pinned: a model published then is staged, and the
    // current one (forest) serves alone.
    for step in [Operation::Disband, Operation::Pin] {
        publisher
            .publish_model(&topics.models, &operation(step, |_| {}))
            .unwrap();
    }
    publisher
        .publish_model(
            &topics.models,
            &onnx_model("logistic", "wine", "wine_logistic"),
        )
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let (positions, results) = stream(&kafka, &publisher, &topics, &mut check, 300, false);
    let serving = serving_by_position(&results);
    for position in &positions {
        let result = serving[position];
        assert_eq!(
            (result.role(), result.model_name.as_str()),
            (Role::Live, "forest")
        );
        check.assert_scored_right(result);
    }
    for serve in &job {
        serve.terminate();
    }
    for serve in job {
        assert!(serve.wait().success());
    }
}

/// Every record at `positions` has its serving result on the path its position picks, scored
/// right; returns how many went to the canary.
fn assert_canary_paths(
    check: &Check,
    results: &[ServingResult],
    positions: &[(i32, i64)],
) -> usize {
    let serving = serving_by_position(results);
    let mut canaries = 0;
    for position in positions {
        let result = serving.get(position).expect("a result for every record");
        let origin = Origin {
            partition: position.0,
            offset: position.1,
        };
        let expected = match canary_takes(&origin, 20.0) {
            true => (Role::Canary, "forest"),
            false => (Role::Live, "tree"),
        };
        assert_eq!(
            (result.role(), result.model_name.as_str()),
            expected,
            "{position:?}"
        );
        check.assert_scored_right(result);
        canaries += usize::from(result.role() == Role::Canary);
    }
    canaries
}
/// Both pipelines, one after the other (four processes of a job and a broker at once are
/// enough for a small machine).
#[test]
fn the_lifecycle_on_kafka_in_both_pipelines_across_two_processes() {
    lifecycle_on_kafka(PipelineKind::Keyed);
    lifecycle_on_kafka(PipelineKind::Flat);
}
