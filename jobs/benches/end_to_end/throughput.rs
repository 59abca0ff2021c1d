//! Throughput on a pre-loaded backlog: the passthrough ceiling, `serve` per model × pipeline ×
//! layout, start-up to the first result, and scaling with the size of the forest.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use modelserver::dataset;
use modelserver::kafka::publish::Publisher;
use modelserver::kafka::source::CONSUMER_DEFAULTS;
use modelserver::kafka::KafkaConfig;
use modelserver::model::ModelKind;
use modelserver::pipeline::PipelineKind;
use modelserver::proto::{ModelDescriptor, ServingResult, WineRecord};
use modelserver::record::{Feature, FeatureRecord, Record, WINE_FEATURES};
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::common::{self, create_topics, median, round, unique, write_json, Serve};
use super::{repo, Bench, BenchModel, Layout, PARTITIONS};

/// `serve` options that make records wait for their key's first model.
pub const WAIT_FOR_MODEL: [&str; 4] = [
    "--pending-limit",
    "100000000",
    "--pending-timeout-ms",
    "600000",
];

/// How long an output topic may stay silent before a run is given up.
const IDLE: Duration = Duration::from_secs(60);

/// What one run measured.
#[derive(Clone, Copy)]
pub struct Measured {
    /// Records per second, first output timestamp to last.
    pub throughput: f64,
    /// Start → first output, when a process was started.
    pub startup: Option<Duration>,
    /// User + system CPU seconds per million records, when a process did the work.
    pub cpu_per_million: Option<f64>,
    /// The job's peak RSS (`VmHWM`, MiB), when a job did the work.
    pub peak_mib: Option<f64>,
}

/// The model whose maximum throughput sets the latency and swap loads ([`super::LOAD_MODEL`]).
pub fn load_model() -> BenchModel {
    bundled_models()
        .into_iter()
        .find(|model| model.label == super::LOAD_MODEL)
        .expect("the load model is bundled")
}

/// The bundled models measured: PMML trees and ensembles, ONNX ensembles and MLP, a TensorFlow
/// graph.
pub fn bundled_models() -> Vec<BenchModel> {
    let read =
        |path: &str| std::fs::read(repo(path)).unwrap_or_else(|error| panic!("{path}: {error}"));
    let forest = read("data/pmml/random_forest_classifier.pmml");
    let model = |label: &str, kind, bytes| BenchModel {
        label: label.to_owned(),
        kind,
        bytes,
    };
    vec![
        model(
            "pmml decision tree",
            ModelKind::Pmml,
            read("data/pmml/decision_tree_classifier.pmml"),
        ),
        model("pmml forest 5 trees", ModelKind::Pmml, forest.clone()),
        model(
            "pmml forest 100 trees",
            ModelKind::Pmml,
            repeated_segments(&forest, 20),
        ),
        model(
            "pmml gradient boosting",
            ModelKind::Pmml,
            read("data/pmml/gradient_boosting_classifier.pmml"),
        ),
        model(
            "onnx forest",
            ModelKind::Onnx,
            read("data/onnx/wine_forest_classifier.onnx"),
        ),
        model(
            "onnx mlp",
            ModelKind::Onnx,
            read("data/onnx/wine_mlp_classifier.onnx"),
        ),
        model(
            "tensorflow mlp",
            ModelKind::TensorFlow,
            read("data/tensorflow/wine_mlp.pb"),
        ),
    ]
}

/// The PMML forest `forest` with each of its segments `times` times (a forest of as many trees,
/// which votes as the original does).
fn repeated_segments(forest: &[u8], times: usize) -> Vec<u8> {
    let text = std::str::from_utf8(forest).expect("UTF-8 PMML");
    let start = text.find("<Segment ").expect("a segment");
    let end = text.rfind("</Segment>").expect("a segment's end") + "</Segment>".len();
    let segments = &text[start..end];
    let mut repeated = String::with_capacity(text.len() * times);
    repeated.push_str(&text[..start]);
    for copy in 0..times {
        repeated.push_str(&segments.replace("<Segment id=\"", &format!("<Segment id=\"{copy}-")));
    }
    repeated.push_str(&text[end..]);
    repeated.into_bytes()
}

/// The idle section: the CPU a job spends with nothing to read (its model loaded), keyed and
/// flat, 1 process × 2 workers: user + system CPU over [`IDLE_SECONDS`], after 3 s to start.
pub fn idle(bench: &mut Bench) {
    let descriptor = load_model().descriptor();
    println!(
        "{:<6} {:<8} {:>10} {:>12}",
        "pipe", "layout", "CPU-s", "% of a core"
    );
    let mut json = Vec::new();
    for pipeline in [PipelineKind::Keyed, PipelineKind::Flat] {
        let topics = common::Topics::create(&bench.kafka, "idle");
        let producing = common::Producing::new(&bench.kafka);
        producing.model(&topics.models, &descriptor);
        producing.flush();
        let serve = Serve::start(
            &bench.kafka,
            pipeline,
            Layout::ONE_BY_TWO,
            (&topics.data, &topics.models, &topics.results),
            &[],
        );
        std::thread::sleep(Duration::from_secs(3));
        let before = serve.cpu_seconds();
        std::thread::sleep(Duration::from_secs_f64(IDLE_SECONDS));
        let cpu = serve.cpu_seconds() - before;
        serve.stop();
        let share = 100.0 * cpu / IDLE_SECONDS;
        println!(
            "{:<6} {:<8} {:>10.2} {:>11.1}%",
            pipeline.to_string(),
            Layout::ONE_BY_TWO.to_string(),
            cpu,
            share
        );
        json.push(serde_json::json!({
            "pipeline": pipeline.to_string(),
            "layout": Layout::ONE_BY_TWO.to_string(),
            "seconds": IDLE_SECONDS,
            "cpu_seconds": round(cpu, 3),
            "percent_of_a_core": round(share, 2),
        }));
    }
    write_json("idle", &serde_json::json!({ "runs": json }));
}

/// How long the idle section measures each job.
const IDLE_SECONDS: f64 = 10.0;

/// The throughput section: the passthrough, then every bundled model × pipeline × layout.
pub fn throughput(bench: &mut Bench) {
    let records = bench.options.records;
    let passthrough = bench.passthrough();
    let data = bench.data();
    let mut rows = vec![Row {
        model: "passthrough".into(),
        pipeline: "-".into(),
        layout: "2 threads".into(),
        throughput: passthrough.throughput,
        ratio: 1.0,
        startup_ms: None,
        cpu_per_million: passthrough.cpu_per_million,
    }];
    let passthrough = passthrough.throughput;
    print_header();
    print_row(rows.last().unwrap());
    let layouts = [
        Layout {
            processes: 1,
            workers: 1,
        },
        Layout::ONE_BY_TWO,
        Layout {
            processes: 2,
            workers: 1,
        },
    ];
    for model in bundled_models() {
        if !model.label.contains(&bench.options.filter) {
            continue;
        }
        let descriptor = model.descriptor();
        for pipeline in [PipelineKind::Keyed, PipelineKind::Flat] {
            for layout in layouts {
                let measured =
                    serve_run(&bench.kafka, &data, &descriptor, pipeline, layout, records);
                bench.note_rate(&model.label, pipeline, layout, measured.throughput);
                rows.push(Row::new(
                    &model.label,
                    pipeline,
                    layout,
                    &measured,
                    passthrough,
                ));
                print_row(rows.last().unwrap());
            }
        }
    }
    write_json(
        "end_to_end",
        &serde_json::json!({ "records": records, "runs": rows_json(&rows) }),
    );
}

/// The start-up section: process start → first result with the whole backlog waiting, keyed
/// and flat, the median of a few runs.
pub fn startup(bench: &mut Bench) {
    let data = bench.data();
    let runs = bench.options.startup_runs;
    let descriptor = load_model().descriptor();
    println!(
        "{:<6} {:<8} {:>10} {:>8} {:>8}   runs (ms)",
        "pipe", "layout", "median ms", "min ms", "max ms"
    );
    let mut json = Vec::new();
    for pipeline in [PipelineKind::Keyed, PipelineKind::Flat] {
        let mut times = Vec::new();
        for _ in 0..runs {
            let results = unique("bench-startup-results");
            let models = unique("bench-startup-models");
            create_topics(&bench.kafka, &[(&results, PARTITIONS), (&models, 1)]);
            let producing = common::Producing::new(&bench.kafka);
            producing.model(&models, &descriptor);
            producing.flush();
            let serve = Serve::start(
                &bench.kafka,
                pipeline,
                Layout::ONE_BY_TWO,
                (&data, &models, &results),
                &[],
            );
            let (first, _) = output_times(&bench.kafka, &results, 1);
            let started_ms = serve.started_ms;
            serve.stop();
            common::delete_topics(&bench.kafka, &[&results, &models]);
            if let Some(first) = first.first() {
                times.push((first - started_ms) as f64);
            }
        }
        let sorted = {
            let mut sorted = times.clone();
            sorted.sort_by(f64::total_cmp);
            sorted
        };
        println!(
            "{:<6} {:<8} {:>10.0} {:>8.0} {:>8.0}   {}",
            pipeline.to_string(),
            Layout::ONE_BY_TWO.to_string(),
            median(&times).unwrap_or(f64::NAN),
            sorted.first().copied().unwrap_or(f64::NAN),
            sorted.last().copied().unwrap_or(f64::NAN),
            times
                .iter()
                .map(|ms| format!("{ms:.0}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        json.push(serde_json::json!({
            "pipeline": pipeline.to_string(),
            "layout": Layout::ONE_BY_TWO.to_string(),
            "model": super::LOAD_MODEL,
            "backlog_records": bench.options.records,
            "median_ms": median(&times),
            "runs_ms": times,
        }));
    }
    write_json("startup", &serde_json::json!({ "runs": json }));
}

/// The scaling section: throughput of synthetic forests of 10, 100 and 500 trees (depth 5),
/// keyed (1 process × 2 workers) and flat (1 × 1 and 1 × 2: what a second worker gives when the
/// model dominates), on a backlog of their own.
pub fn scaling(bench: &mut Bench) {
    let passthrough = bench.passthrough().throughput;
    let records = bench.options.scaling_records;
    println!("{records} records per run; trees of depth {SCALING_DEPTH}");
    print_header();
    let one_by_one = Layout {
        processes: 1,
        workers: 1,
    };
    let jobs = [
        (PipelineKind::Keyed, Layout::ONE_BY_TWO),
        (PipelineKind::Flat, one_by_one),
        (PipelineKind::Flat, Layout::ONE_BY_TWO),
    ];
    let mut rows = Vec::new();
    let mut gains = Vec::new();
    for trees in [10, 100, 500] {
        let bytes = bench.forests.forest(trees, SCALING_DEPTH, trees as u64);
        let model = BenchModel {
            label: format!("forest {trees} trees"),
            kind: ModelKind::Pmml,
            bytes,
        };
        let descriptor = model.descriptor();
        for job in jobs {
            let measured = loaded_run(&bench.kafka, &descriptor, job, records);
            rows.push(Row::new(&model.label, job.0, job.1, &measured, passthrough));
            print_row(rows.last().unwrap());
        }
        let [.., one_worker, two_workers] = &rows[..] else {
            unreachable!("two flat rows per forest")
        };
        gains.push((trees, two_workers.throughput / one_worker.throughput));
    }
    for (trees, gain) in &gains {
        println!("flat, {trees} trees: 2 workers move {gain:.2} × the records of 1");
    }
    write_json(
        "scaling",
        &serde_json::json!({
            "records": records,
            "tree_depth": SCALING_DEPTH,
            "passthrough_records_per_second": passthrough.round(),
            "runs": rows_json(&rows),
            "flat_two_workers_over_one": gains
                .iter()
                .map(|(trees, gain)| serde_json::json!({"trees": trees, "ratio": round(*gain, 2)}))
                .collect::<Vec<_>>(),
        }),
    );
}

/// The depth of the scaling section's trees (32 leaves each).
const SCALING_DEPTH: u32 = 5;

/// Publishes `count` wine records (the bundled rows, cycled) to `topic`.
pub fn preload(kafka: &KafkaConfig, topic: &str, count: usize) {
    preload_with(kafka, topic, count, |_, features| features);
}

/// As [`preload`], with every number of record `index` moved by a different part in 10⁹ (row
/// `index` of the bundled rows, cycled, each number times [`nudge`]`(index)`): no two records
/// share a number, as with measured, continuous features.
pub fn preload_distinct(kafka: &KafkaConfig, topic: &str, count: usize) {
    preload_with(kafka, topic, count, |index, features| {
        features.map(|number| number * nudge(index))
    });
}

/// Publishes `count` feature records of [`WIDE_FEATURES`] features to `topic`: the wine
/// features of the bundled rows (cycled) and more numbers (1, 2, …), each number of record
/// `index` times [`nudge`]`(index)`, as in [`preload_distinct`].
pub fn preload_wide(kafka: &KafkaConfig, topic: &str, count: usize) {
    let samples = dataset::bundled();
    let more: Vec<String> = (WINE_FEATURES.len()..WIDE_FEATURES)
        .map(|at| format!("x{at}"))
        .collect();
    let records = (0..count).map(|index| {
        let names = WINE_FEATURES
            .iter()
            .copied()
            .chain(more.iter().map(String::as_str));
        let wine = samples[index % samples.len()].features;
        let numbers = wine.into_iter().chain((1..).map(f64::from));
        let features =
            (names.zip(numbers)).map(|(name, number)| Feature::number(name, number * nudge(index)));
        FeatureRecord::new("wine", features)
    });
    publish(kafka, topic, records);
}

/// The features of [`preload_wide`]'s records.
const WIDE_FEATURES: usize = 100;

/// What the numbers of record `index` are multiplied by: `1 + (index + 1) · 10⁻⁹`.
fn nudge(index: usize) -> f64 {
    1.0 + (index + 1) as f64 * 1e-9
}

/// Publishes `count` wine records to `topic`: record `index` has the features `features`
/// makes of it and of the bundled rows' `index`th (cycled).
fn preload_with(
    kafka: &KafkaConfig,
    topic: &str,
    count: usize,
    features: impl Fn(usize, [f64; 11]) -> [f64; 11],
) {
    let samples = dataset::bundled();
    let records = (0..count).map(|index| {
        let sample = &samples[index % samples.len()];
        WineRecord::from_features(features(index, sample.features), "wine")
    });
    publish(kafka, topic, records);
}

/// Publishes `records` to `topic` (protobuf).
fn publish<R: Record>(kafka: &KafkaConfig, topic: &str, records: impl IntoIterator<Item = R>) {
    let publisher = Publisher::new(kafka).expect("a publisher");
    publisher
        .publish_records(topic, records, None, |_| {})
        .expect("records published");
}

/// Serves the backlog of `data` with `descriptor` in a fresh job and measures it.
pub fn serve_run(
    kafka: &KafkaConfig,
    data: &str,
    descriptor: &ModelDescriptor,
    pipeline: PipelineKind,
    layout: Layout,
    records: usize,
) -> Measured {
    serve_run_with(kafka, data, descriptor, (pipeline, layout), records, &[])
}

/// The monitoring section: the throughput of a job with the monitoring dataflow (the default)
/// and without (`--no-monitor`), runs alternating, the median of three each; and the ratio.
pub fn monitoring(bench: &mut Bench) {
    let records = bench.options.records;
    let data = bench.data();
    println!(
        "{:<22} {:<6} {:>16} {:>16} {:>8}",
        "model", "pipe", "off records/s", "on records/s", "on/off"
    );
    let mut rows = Vec::new();
    for model in bundled_models() {
        if !["onnx mlp", "pmml decision tree"].contains(&model.label.as_str()) {
            continue;
        }
        let descriptor = model.descriptor();
        for pipeline in [PipelineKind::Keyed, PipelineKind::Flat] {
            let job = (pipeline, Layout::ONE_BY_TWO);
            let (mut off, mut on) = (Vec::new(), Vec::new());
            for _ in 0..3 {
                let run =
                    |extra| serve_run_with(&bench.kafka, &data, &descriptor, job, records, extra);
                off.push(run(&["--no-monitor"]).throughput);
                on.push(run(&[]).throughput);
            }
            let (off, on) = (median(&off).unwrap(), median(&on).unwrap());
            println!(
                "{:<22} {:<6} {off:>16.0} {on:>16.0} {:>8.3}",
                model.label,
                pipeline.to_string(),
                on / off
            );
            rows.push(serde_json::json!({
                "model": model.label, "pipeline": pipeline.to_string(),
                "off": off, "on": on, "ratio": on / off,
            }));
        }
    }
    let distinct = distinct_numbers(bench);
    write_json(
        "monitoring",
        &serde_json::json!({ "records": records, "runs": rows, "distinct_numbers": distinct }),
    );
}

/// The monitoring section's second table: a keyed job (1 process × 2 workers, the decision
/// tree) with and without monitoring, on records whose numbers are all distinct, two runs each
/// alternating: records/s, CPU and peak RSS. Wine records ([`preload_distinct`]), then a third
/// as many feature records of 100 features ([`preload_wide`]). The window (60 s) holds every
/// record of a run.
fn distinct_numbers(bench: &mut Bench) -> Vec<serde_json::Value> {
    let tree = (bundled_models().into_iter()).find(|model| model.label == "pmml decision tree");
    let descriptor = tree.expect("the decision tree").descriptor();
    println!("\nrecords whose numbers are all distinct, keyed 1p×2w, decision tree");
    println!(
        "{:<13} {:>8} {:<8} {:>12} {:>10} {:>10}",
        "records", "count", "monitor", "records/s", "CPU-s/M", "peak MiB"
    );
    let wine_records = bench.options.records;
    type Preload = fn(&KafkaConfig, &str, usize);
    let shapes: [(&str, usize, &[&str], Preload); 2] = [
        ("wine, 11", wine_records, &[], preload_distinct),
        (
            "features, 100",
            wine_records / 3,
            &["--record", "features"],
            preload_wide,
        ),
    ];
    let job = (PipelineKind::Keyed, Layout::ONE_BY_TWO);
    let mut rows = Vec::new();
    for (shape, records, record_options, preload) in shapes {
        let data = unique("bench-distinct");
        create_topics(&bench.kafka, &[(&data, PARTITIONS)]);
        preload(&bench.kafka, &data, records);
        for _ in 0..2 {
            for (monitor, off) in [("off", Some("--no-monitor")), ("on", None)] {
                let extra: Vec<&str> = record_options.iter().copied().chain(off).collect();
                let run = serve_run_with(&bench.kafka, &data, &descriptor, job, records, &extra);
                let (cpu, peak) = (run.cpu_per_million.unwrap(), run.peak_mib.unwrap());
                println!(
                    "{shape:<13} {records:>8} {monitor:<8} {:>12.0} {cpu:>10.2} {peak:>10.1}",
                    run.throughput
                );
                rows.push(serde_json::json!({
                    "records": shape, "count": records, "monitor": monitor,
                    "records_per_s": run.throughput, "cpu_s_per_million": cpu, "peak_mib": peak,
                }));
            }
        }
        common::delete_topics(&bench.kafka, &[&data]);
    }
    rows
}

/// As [`serve_run`], with further `serve` options `extra`.
fn serve_run_with(
    kafka: &KafkaConfig,
    data: &str,
    descriptor: &ModelDescriptor,
    (pipeline, layout): (PipelineKind, Layout),
    records: usize,
    extra: &[&str],
) -> Measured {
    let run = format!("{}-{pipeline}-{layout}", descriptor.name).replace('×', "x");
    let results = unique(&format!("bench-results-{run}"));
    let models = unique(&format!("bench-models-{run}"));
    create_topics(kafka, &[(&results, PARTITIONS), (&models, 1)]);
    let producing = common::Producing::new(kafka);
    producing.model(&models, descriptor);
    producing.flush();
    // Records read before the model is built wait for it (however long it takes), so that
    // every record is scored and the throughput is the model's.
    let options: Vec<&str> = WAIT_FOR_MODEL.iter().chain(extra).copied().collect();
    let serve = Serve::start(kafka, pipeline, layout, (data, &models, &results), &options);
    let (times, unscored) = output_times(kafka, &results, records);
    let cpu = serve.cpu_seconds();
    let peak_mib = serve.memory_mib("VmHWM");
    let started_ms = serve.started_ms;
    serve.stop();
    common::delete_topics(kafka, &[&results, &models]);
    assert_eq!(times.len(), records, "{run}: one result per record");
    if unscored > 0 {
        println!("  ({run}: {unscored} results not scored by the model)");
    }
    let first = *times.iter().min().unwrap();
    Measured {
        throughput: throughput_of(&times),
        startup: Some(Duration::from_millis((first - started_ms).max(0) as u64)),
        cpu_per_million: Some(cpu / records as f64 * 1e6),
        peak_mib: Some(peak_mib),
    }
}

/// Serves `records` records sent once the job has scored a first one with `descriptor` (see
/// [`scaling`]), in a job of `pipeline` and `layout`.
fn loaded_run(
    kafka: &KafkaConfig,
    descriptor: &ModelDescriptor,
    (pipeline, layout): (PipelineKind, Layout),
    records: usize,
) -> Measured {
    let topics = common::Topics::create(kafka, "scaling");
    let producing = common::Producing::new(kafka);
    producing.model(&topics.models, descriptor);
    producing.flush();
    let serve = Serve::start(
        kafka,
        pipeline,
        layout,
        (&topics.data, &topics.models, &topics.results),
        &WAIT_FOR_MODEL,
    );
    let probe = common::WinePayloads::new("wine");
    producing.send(
        &topics.data,
        "wine",
        probe.get(0),
        Some(0),
        common::now_ms(),
    );
    producing.flush();
    let (first, _) = output_times(kafka, &topics.results, 1);
    let ready = *first.first().expect("the first record is scored") - serve.started_ms;
    let cpu_before = serve.cpu_seconds();
    preload(kafka, &topics.data, records);
    let (mut times, unscored) = output_times(kafka, &topics.results, records + 1);
    let cpu = serve.cpu_seconds() - cpu_before;
    let peak_mib = serve.memory_mib("VmHWM");
    serve.stop();
    assert_eq!(times.len(), records + 1, "one result per record");
    if unscored > 0 {
        println!("  ({unscored} results not scored by the model)");
    }
    times.sort_unstable();
    times.remove(0);
    Measured {
        throughput: throughput_of(&times),
        startup: Some(Duration::from_millis(ready.max(0) as u64)),
        cpu_per_million: Some(cpu / records as f64 * 1e6),
        peak_mib: Some(peak_mib),
    }
}

/// Records per second from the first output timestamp to the last.
fn throughput_of(times: &[i64]) -> f64 {
    let first = *times.iter().min().unwrap();
    let last = *times.iter().max().unwrap();
    (times.len() - 1) as f64 / ((last - first).max(1) as f64 / 1000.0)
}

/// The Kafka timestamps (ms) of the first `count` messages of `topic`, read from the beginning
/// of every partition (waiting at most [`IDLE`] for each next one), and how many of them are
/// results not scored by a model (outcome other than SCORED; other messages count as scored).
pub fn output_times(kafka: &KafkaConfig, topic: &str, count: usize) -> (Vec<i64>, usize) {
    let consumer: BaseConsumer = kafka
        .client_with(&CONSUMER_DEFAULTS)
        .set("group.id", format!("{topic}-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).expect("assigned");
    let mut times = Vec::with_capacity(count);
    let mut unscored = 0;
    let mut last_seen = Instant::now();
    while times.len() < count && last_seen.elapsed() < IDLE {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            times.push(message.timestamp().to_millis().expect("a timestamp"));
            let payload = message.payload().unwrap_or_default();
            if ServingResult::decode(payload).is_ok_and(|result| result.outcome != 0) {
                unscored += 1;
            }
            last_seen = Instant::now();
        }
    }
    (times, unscored)
}

/// Consumes `data` and produces every payload, keyed as results are, with the job's client
/// settings, in one thread per partition of a process of its own ([`PASSTHROUGH_PROCESS`]);
/// records/s measured like a job's, and that process's CPU like a job's.
pub fn passthrough(kafka: &KafkaConfig, data: &str, records: usize) -> Measured {
    let out = format!("{data}-passthrough");
    create_topics(kafka, &[(&out, PARTITIONS)]);
    let copier = std::process::Command::new(std::env::current_exe().expect("the benchmark"))
        .args([PASSTHROUGH_PROCESS, data, &out])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the passthrough process");
    let (times, _) = output_times(kafka, &out, records);
    let ended = copier
        .wait_with_output()
        .expect("the passthrough process ends");
    common::delete_topics(kafka, &[&out]);
    assert!(
        ended.status.success(),
        "the passthrough process: {}",
        ended.status
    );
    let printed = String::from_utf8_lossy(&ended.stdout);
    let cpu: f64 = printed
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .unwrap_or_else(|| panic!("the passthrough's CPU seconds, not {printed:?}"));
    Measured {
        throughput: throughput_of(&times),
        startup: None,
        cpu_per_million: Some(cpu / records as f64 * 1e6),
        peak_mib: None,
    }
}

/// The argument that makes the benchmark the passthrough's process: `<it> <data> <out>`.
pub const PASSTHROUGH_PROCESS: &str = "--passthrough-process";

/// The passthrough's process: copies every payload of `data` to `out` until the input has
/// been idle for a second, then prints its user + system CPU seconds.
pub fn passthrough_process(kafka: &KafkaConfig, data: &str, out: &str) {
    for copier in start_passthrough(kafka, data, out, Relaying::Payloads) {
        copier.join().expect("a copier");
    }
    println!("{}", common::cpu_seconds(std::process::id()));
}

/// What a passthrough writes for each message it reads, and until when.
#[derive(Clone)]
pub enum Relaying {
    /// The payload as it is (the throughput ceiling), until the input has been idle for a
    /// second.
    Payloads,
    /// A result naming the input's partition and offset, as a job's results do (the latency
    /// floor: the reader pairs it with its input), until `stop` is set.
    Results { stop: Arc<AtomicBool> },
}

/// Starts one passthrough thread per partition of `data`, writing to `out`.
pub fn start_passthrough(
    kafka: &KafkaConfig,
    data: &str,
    out: &str,
    relaying: Relaying,
) -> Vec<JoinHandle<()>> {
    (0..PARTITIONS)
        .map(|partition| {
            let (kafka, data, out) = (kafka.clone(), data.to_owned(), out.to_owned());
            let relaying = relaying.clone();
            std::thread::spawn(move || copy_partition(&kafka, &data, partition, &out, &relaying))
        })
        .collect()
}

/// Copies partition `partition` of `data` to `out` as `relaying` says.
fn copy_partition(kafka: &KafkaConfig, data: &str, partition: i32, out: &str, relaying: &Relaying) {
    let consumer: BaseConsumer = kafka
        .client_with(&CONSUMER_DEFAULTS)
        .set("group.id", format!("{out}-{partition}"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(data, partition, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).expect("assigned");
    let producer: BaseProducer = kafka
        .client()
        .set("linger.ms", "5")
        .set("message.timeout.ms", "0")
        .set("enable.idempotence", "true")
        .create()
        .expect("a producer");
    let mut last_seen = Instant::now();
    let go_on = |last_seen: Instant| match relaying {
        Relaying::Payloads => last_seen.elapsed() < Duration::from_secs(1),
        Relaying::Results { stop } => !stop.load(Ordering::Relaxed),
    };
    let mut result = Vec::new();
    while go_on(last_seen) {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(10)) else {
            producer.poll(Duration::ZERO);
            continue;
        };
        last_seen = Instant::now();
        let key = message.key().unwrap_or_default();
        let payload = match relaying {
            Relaying::Payloads => message.payload().unwrap_or_default(),
            Relaying::Results { .. } => {
                result.clear();
                ServingResult {
                    data_type: "wine".into(),
                    source_partition: message.partition(),
                    source_offset: message.offset(),
                    ..Default::default()
                }
                .encode(&mut result)
                .expect("room for a result");
                &result
            }
        };
        let mut record = BaseRecord::to(out).key(key).payload(payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, returned)) => {
                    producer.poll(Duration::from_millis(1));
                    record = returned;
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).expect("flushed");
}

/// One line of a throughput table.
struct Row {
    model: String,
    pipeline: String,
    layout: String,
    throughput: f64,
    ratio: f64,
    startup_ms: Option<u128>,
    cpu_per_million: Option<f64>,
}

impl Row {
    fn new(
        model: &str,
        pipeline: PipelineKind,
        layout: Layout,
        measured: &Measured,
        passthrough: f64,
    ) -> Row {
        Row {
            model: model.to_owned(),
            pipeline: pipeline.to_string(),
            layout: layout.to_string(),
            throughput: measured.throughput,
            ratio: measured.throughput / passthrough,
            startup_ms: measured.startup.map(|startup| startup.as_millis()),
            cpu_per_million: measured.cpu_per_million,
        }
    }
}

fn print_header() {
    println!(
        "{:<24} {:<6} {:<10} {:>12} {:>14} {:>11} {:>13}",
        "model", "pipe", "layout", "records/s", "× passthrough", "start ms", "CPU-s/M rec"
    );
}

fn print_row(row: &Row) {
    let optional = |value: Option<String>| value.unwrap_or_else(|| "-".into());
    println!(
        "{:<24} {:<6} {:<10} {:>12.0} {:>14.2} {:>11} {:>13}",
        row.model,
        row.pipeline,
        row.layout,
        row.throughput,
        row.ratio,
        optional(row.startup_ms.map(|ms| ms.to_string())),
        optional(row.cpu_per_million.map(|cpu| format!("{cpu:.2}"))),
    );
}

fn rows_json(rows: &[Row]) -> Vec<serde_json::Value> {
    rows.iter()
        .map(|row| {
            serde_json::json!({
                "model": row.model,
                "pipeline": row.pipeline,
                "layout": row.layout,
                "records_per_second": row.throughput.round(),
                "ratio_to_passthrough": round(row.ratio, 2),
                "startup_ms": row.startup_ms,
                "cpu_seconds_per_million_records": row.cpu_per_million,
            })
        })
        .collect()
}
