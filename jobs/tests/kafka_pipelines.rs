//! Both pipelines against a real Kafka broker: with two worker threads in this process, and as
//! two `serve` processes of two workers each. Models are swapped while data flows, and malformed
//! records and models are published in between; every valid record must come out exactly once,
//! scored by the model that was current when it was read, with onnxruntime's prediction.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use modelserver::job::{Job, JobConfig};
use modelserver::kafka::publish::{model_at_location, model_with_bytes, Publisher};
use modelserver::kafka::KafkaConfig;
use modelserver::model::ModelKind;
use modelserver::pipeline::PipelineKind;
use modelserver::proto::{ServingResult, WineRecord};
use modelserver::record::{PayloadFormat, Record};
use modelserver::state::Counters;
use support::{
    broker, hostfile, onnx_model, read_results, read_results_within, read_topic, wine_records,
    Reference, Serve, Topics,
};

const BATCH: usize = 150;

/// What the scenario published, read back from the data topic.
struct Published {
    /// Every valid record by position.
    records: HashMap<(i32, i64), WineRecord>,
    /// The positions of the records published before the swap.
    before_swap: BTreeSet<(i32, i64)>,
}

/// Publishes model `tree` and a first batch, waits for its results, then publishes a malformed
/// record, a malformed model message, a model that cannot load, model `logistic` and a second
/// batch. Returns the results of both batches and what was published.
fn swap_scenario(kafka: &KafkaConfig, topics: &Topics) -> (Vec<ServingResult>, Published) {
    let publisher = Publisher::new(kafka).expect("a publisher");
    publisher
        .publish_model(
            &topics.models,
            &onnx_model("tree", "wine", "wine_tree_classifier"),
        )
        .unwrap();
    publisher
        .publish_records(&topics.data, wine_records(0..BATCH, "wine"), None, |_| {})
        .unwrap();
    assert_eq!(
        read_results(kafka, &topics.results, BATCH).len(),
        BATCH,
        "the first batch is scored"
    );
    let before_swap = read_topic(kafka, &topics.data, BATCH, Duration::from_secs(30));

    publisher
        .publish_raw(&topics.data, "wine", [b"\xff\xff\xffnot a record"])
        .unwrap();
    publisher
        .publish_raw(
            &topics.models,
            "wine",
            [b"\xff\xff\xffnot a model descriptor"],
        )
        .unwrap();
    let broken = model_with_bytes(
        "broken",
        "wine",
        ModelKind::Onnx,
        b"not an onnx model".to_vec(),
    );
    publisher.publish_model(&topics.models, &broken).unwrap();
    publisher
        .publish_model(
            &topics.models,
            &onnx_model("logistic", "wine", "wine_logistic"),
        )
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    publisher
        .publish_records(
            &topics.data,
            wine_records(BATCH..2 * BATCH, "wine"),
            None,
            |_| {},
        )
        .unwrap();

    let results = read_results(kafka, &topics.results, 2 * BATCH);
    let data = read_topic(kafka, &topics.data, 2 * BATCH + 1, Duration::from_secs(30));
    let records = data
        .iter()
        .filter_map(|(partition, offset, payload)| {
            WineRecord::decode(payload, PayloadFormat::Protobuf)
                .ok()
                .map(|record| ((*partition, *offset), record))
        })
        .collect();
    let before_swap = before_swap
        .iter()
        .map(|(partition, offset, _)| (*partition, *offset))
        .collect();
    (
        results,
        Published {
            records,
            before_swap,
        },
    )
}

/// Every valid record has exactly one result, from the model current when it was read, with
/// onnxruntime's prediction; per partition the swap happens once and for good.
fn check_swap(results: &[ServingResult], published: &Published) {
    assert_eq!(
        published.records.len(),
        2 * BATCH,
        "the malformed record is the only undecodable message"
    );
    let positions: BTreeSet<(i32, i64)> = results
        .iter()
        .map(|r| (r.source_partition, r.source_offset))
        .collect();
    assert_eq!(positions.len(), results.len(), "no record has two results");
    assert_eq!(
        positions,
        published.records.keys().copied().collect(),
        "every valid record has a result"
    );

    let references = HashMap::from([
        ("tree", Reference::onnx("wine_tree_classifier")),
        ("logistic", Reference::onnx("wine_logistic")),
    ]);
    let mut models_per_partition: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    for result in results {
        let position = (result.source_partition, result.source_offset);
        let record = &published.records[&position];
        let reference = references
            .get(result.model_name.as_str())
            .unwrap_or_else(|| panic!("unexpected model {result:?}"));
        assert_eq!(
            result.value,
            reference.predict(record),
            "prediction of {position:?} by {}",
            result.model_name
        );
        assert_eq!(result.data_type, "wine");
        if published.before_swap.contains(&position) {
            assert_eq!(
                result.model_name, "tree",
                "{position:?} was read before the swap"
            );
        }
        models_per_partition
            .entry(result.source_partition)
            .or_default()
            .push((result.source_offset, result.model_name.clone()));
    }
    for (partition, mut models) in models_per_partition {
        models.sort();
        let names: Vec<&str> = models.iter().map(|(_, name)| name.as_str()).collect();
        let swap = names
            .iter()
            .position(|name| *name == "logistic")
            .expect("the new model serves every partition");
        assert!(
            names[swap..].iter().all(|name| *name == "logistic"),
            "partition {partition}: the old model came back: {names:?}"
        );
    }
}

/// Once the job has stopped, the results topic holds no result beyond one per record.
fn assert_no_more_results(kafka: &KafkaConfig, topics: &Topics) {
    assert_no_more_results_than(kafka, topics, 2 * BATCH);
}

fn assert_no_more_results_than(kafka: &KafkaConfig, topics: &Topics, records: usize) {
    let all = read_results_within(kafka, &topics.results, records + 1, Duration::from_secs(3));
    assert_eq!(
        all.len(),
        records,
        "exactly one result per valid record on the results topic"
    );
}

fn job_config(kafka: &KafkaConfig, topics: &Topics, pipeline: PipelineKind) -> JobConfig {
    let mut config = JobConfig::new(kafka.clone(), pipeline);
    config.data_topic = topics.data.clone();
    config.models_topic = topics.models.clone();
    config.results_topic = Some(topics.results.clone());
    config.group = format!("{}-group", topics.data);
    config
}

fn in_process_swap(pipeline: PipelineKind) -> Counters {
    let kafka = broker();
    let topics = Topics::create(&kafka, &format!("inproc-{pipeline}"), 4);
    let job = Job::new(job_config(&kafka, &topics, pipeline)).unwrap();
    let stop = job.stop_flag();
    let running = std::thread::spawn(move || job.run::<WineRecord>(timely::Config::process(2)));
    let (results, published) = swap_scenario(&kafka, &topics);
    stop.store(true, Ordering::Relaxed);
    let counters = running
        .join()
        .expect("the job does not panic")
        .expect("the job ends cleanly");
    assert_no_more_results(&kafka, &topics);
    check_swap(&results, &published);
    std::sync::Arc::try_unwrap(counters).expect("the job has ended")
}

#[test]
fn keyed_pipeline_with_two_workers_swaps_without_losing_a_record() {
    let counters = in_process_swap(PipelineKind::Keyed);
    assert_eq!(counters.records_read.get(), 2 * BATCH as u64 + 1);
    assert_eq!(counters.malformed_records.get(), 1);
    assert_eq!(counters.malformed_models.get(), 1);
    assert_eq!(
        counters.model_load_failures.get(),
        1,
        "the key's one worker tried the broken model"
    );
    assert_eq!(counters.models_loaded.get(), 2);
    assert_eq!(counters.results_written.get(), 2 * BATCH as u64);
}

#[test]
fn flat_pipeline_with_two_workers_swaps_without_losing_a_record() {
    let counters = in_process_swap(PipelineKind::Flat);
    assert_eq!(counters.malformed_records.get(), 1);
    assert_eq!(counters.malformed_models.get(), 1);
    assert_eq!(
        counters.model_load_failures.get(),
        2,
        "both workers tried the broken model"
    );
    assert_eq!(counters.models_loaded.get(), 4);
    assert_eq!(counters.results_written.get(), 2 * BATCH as u64);
}

fn two_process_swap(pipeline: PipelineKind) -> Vec<ServingResult> {
    let kafka = broker();
    let topics = Topics::create(&kafka, &format!("twoproc-{pipeline}"), 4);
    let hosts = hostfile(&format!("twoproc-{pipeline}"));
    let processes = [
        Serve::start(&kafka, &topics, pipeline, 0, &hosts, &[]),
        Serve::start(&kafka, &topics, pipeline, 1, &hosts, &[]),
    ];
    let (results, published) = swap_scenario(&kafka, &topics);
    // A timely job ends when every process has closed its inputs: stop them all, then wait.
    processes.iter().for_each(Serve::terminate);
    for process in processes {
        assert!(process.wait().success(), "serve exits cleanly on SIGTERM");
    }
    assert_no_more_results(&kafka, &topics);
    check_swap(&results, &published);
    results
}

#[test]
fn keyed_pipeline_in_two_processes_swaps_without_losing_a_record() {
    let results = two_process_swap(PipelineKind::Keyed);
    let workers: BTreeSet<i32> = results.iter().map(|result| result.worker).collect();
    assert_eq!(
        workers.len(),
        1,
        "one worker of the four owns key `wine`: {workers:?}"
    );
}

#[test]
fn flat_pipeline_in_two_processes_swaps_without_losing_a_record() {
    let results = two_process_swap(PipelineKind::Flat);
    let workers: BTreeSet<i32> = results.iter().map(|result| result.worker).collect();
    assert_eq!(
        workers,
        BTreeSet::from([0, 1, 2, 3]),
        "the workers of both processes score records"
    );
    // Partition p is read by worker p mod 4; process 0 runs workers 0 and 1, process 1 the
    // others. A flat job scores each record in the process that read it.
    let crossed: Vec<(i32, i32)> = results
        .iter()
        .map(|result| (result.source_partition, result.worker))
        .filter(|(partition, worker)| partition % 4 / 2 != worker / 2)
        .collect();
    assert!(
        crossed.is_empty(),
        "{} results scored in another process than their record's reader, e.g. {:?}",
        crossed.len(),
        crossed.first()
    );
}

/// The test rows of the PMML fixtures (`data/pmml/wine_test.csv`) as records.
fn pmml_test_records() -> Vec<WineRecord> {
    let mut reader = csv::Reader::from_path(format!(
        "{}/data/pmml/wine_test.csv",
        concat!(env!("CARGO_MANIFEST_DIR"), "/..")
    ))
    .unwrap();
    reader
        .records()
        .map(|row| {
            let row = row.unwrap();
            let features: Vec<f64> = row
                .iter()
                .take(11)
                .map(|cell| cell.parse().unwrap())
                .collect();
            WineRecord::from_features(features.try_into().unwrap(), "wine")
        })
        .collect()
}

/// JPMML-Evaluator's predicted class for each test row.
fn jpmml_classes(model: &str) -> Vec<String> {
    let path = format!(
        "{}/data/pmml/{model}.expected.csv",
        concat!(env!("CARGO_MANIFEST_DIR"), "/..")
    );
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader
        .records()
        .map(|row| row.unwrap()[0].to_owned())
        .collect()
}

#[test]
fn a_pmml_model_published_with_the_client_serves_in_both_pipelines() {
    let kafka = broker();
    let records = pmml_test_records();
    let classes = jpmml_classes("decision_tree_classifier");
    for pipeline in [PipelineKind::Keyed, PipelineKind::Flat] {
        let topics = Topics::create(&kafka, &format!("pmml-{pipeline}"), 4);
        let published = Command::new(env!("CARGO_BIN_EXE_client"))
            .args(["--bootstrap", &kafka.bootstrap, "publish-model"])
            .arg(format!(
                "{}/data/pmml/decision_tree_classifier.pmml",
                concat!(env!("CARGO_MANIFEST_DIR"), "/..")
            ))
            .args([
                "--name",
                "pmml-tree",
                "--type",
                "pmml",
                "--topic",
                &topics.models,
            ])
            .status()
            .expect("client runs");
        assert!(published.success());
        let job = Job::new(job_config(&kafka, &topics, pipeline)).unwrap();
        let stop = job.stop_flag();
        let running = std::thread::spawn(move || job.run::<WineRecord>(timely::Config::process(2)));
        Publisher::new(&kafka)
            .unwrap()
            .publish_records(&topics.data, records.clone(), None, |_| {})
            .unwrap();
        let results = read_results(&kafka, &topics.results, records.len());
        stop.store(true, Ordering::Relaxed);
        running
            .join()
            .expect("the job does not panic")
            .expect("the job ends cleanly");
        assert_no_more_results_than(&kafka, &topics, records.len());
        let rows: BTreeSet<i64> = results
            .iter()
            .map(|r| r.source_offset * 4 + i64::from(r.source_partition))
            .collect();
        assert_eq!(
            rows,
            (0..records.len() as i64).collect(),
            "{pipeline}: one result per record"
        );
        for result in &results {
            // Records went round-robin over 4 partitions of a fresh topic: row i is at (i % 4, i / 4).
            let row = (result.source_offset * 4 + i64::from(result.source_partition)) as usize;
            assert_eq!(result.model_name, "pmml-tree");
            assert_eq!(result.label, classes[row], "{pipeline}: row {row}");
        }
    }
}

/// The bundled 5-tree forest with its trees repeated `times` over: it predicts the same (the
/// forest averages), and builds `times` times as slowly.
fn repeated_forest(times: usize) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/pmml/random_forest_classifier.pmml"
    );
    let forest = std::fs::read_to_string(path).expect("the bundled forest");
    let first = forest.find("<Segment ").expect("a segment");
    let end = forest.rfind("</Segmentation>").expect("a segmentation");
    let segments = &forest[first..end];
    [&forest[..first], &segments.repeat(times), &forest[end..]].concat()
}

/// A model that takes a while to build (a ~45 MB forest, read from a file) replaces a quick one
/// while records stream: the quick one serves on during the build, then the slow one from one
/// record on, for good; no record waits for the build, none is lost.
#[test]
fn a_model_that_builds_slowly_takes_over_without_holding_records_back() {
    const RATE: f64 = 2_000.0;
    let kafka = broker();
    let topics = Topics::create(&kafka, "build-ahead", 1);
    let root = std::env::temp_dir().join(format!("{}-models", topics.data));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("slow.pmml"), repeated_forest(600)).unwrap();
    let publisher = Publisher::new(&kafka).expect("a publisher");
    let forest = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/pmml/random_forest_classifier.pmml"
    ))
    .unwrap();
    let quick = model_with_bytes("quick", "wine", ModelKind::Pmml, forest);
    publisher.publish_model(&topics.models, &quick).unwrap();
    let root_arg = root.to_str().unwrap();
    let mut serve = Serve::single(
        &kafka,
        &topics,
        PipelineKind::Keyed,
        &["--model-root", root_arg],
    );
    let records = || wine_records(0..1_000, "wine").into_iter();
    publisher
        .publish_records(&topics.data, records(), None, |_| {})
        .unwrap();
    read_results(&kafka, &topics.results, 1_000);
    // Offsets 1,000 to 5,999 stream at RATE; the slow model is published just before 2,000.
    publisher
        .publish_records(&topics.data, records(), Some(RATE), |_| {})
        .unwrap();
    let slow = model_at_location("slow", "wine", ModelKind::Pmml, "slow.pmml");
    publisher.publish_model(&topics.models, &slow).unwrap();
    let after = records().cycle().take(4_000);
    publisher
        .publish_records(&topics.data, after, Some(RATE), |_| {})
        .unwrap();
    let results = read_results(&kafka, &topics.results, 6_000);
    assert!(serve.is_running());
    let mut by_offset: BTreeMap<i64, &str> = BTreeMap::new();
    for result in &results {
        let first = by_offset.insert(result.source_offset, &result.model_name);
        assert!(
            first.is_none(),
            "one result for offset {}",
            result.source_offset
        );
    }
    assert_eq!(by_offset.len(), 6_000, "every record has a result");
    let takeover = by_offset
        .iter()
        .find(|(_, model)| **model == "slow")
        .map(|(offset, _)| *offset)
        .expect("the slow model serves");
    assert!(
        by_offset
            .range(takeover..)
            .all(|(_, model)| *model == "slow"),
        "the slow model serves every record from offset {takeover} on"
    );
    assert!(
        by_offset
            .range(..takeover)
            .all(|(_, model)| *model == "quick"),
        "the quick one every record before"
    );
    // Records published during the build were scored by the quick model, not held for the
    // slow one: 0.05 s of them at least (the build takes longer; the job reads within a few
    // milliseconds).
    let served_meanwhile = takeover - 2_000;
    eprintln!("build ahead: the quick model scored {served_meanwhile} records published during the slow model's build");
    assert!(
        served_meanwhile >= (0.05 * RATE) as i64,
        "{served_meanwhile} records"
    );
    serve.terminate();
    assert!(serve.wait().success());
    std::fs::remove_dir_all(root).unwrap();
}
