//! End-to-end throughput of `serve` against a real Kafka broker, beside the broker's own ceiling.
//!
//! `scripts/bench.sh` starts a broker and runs this. It pre-loads the data topic (2 partitions)
//! with wine records, then, in one run on the same topics:
//!
//! - **passthrough**: two threads consume the data topic and produce every payload, keyed like
//!   results, to a fresh topic, with the consumer and producer settings the job uses, and no
//!   decoding or scoring: the ceiling the job is measured against;
//! - **serve**: for each model, pipeline and layout (1 or 2 workers in one process, 2 processes
//!   of 1 worker), a fresh `serve` reads the whole backlog and writes its results to a fresh
//!   topic.
//!
//! Throughput comes from the output messages' own Kafka timestamps (first to last), not from
//! process start; start-up is process start → first result; CPU is the job's user + system
//! seconds (from `/proc`) per million records. Each throughput is printed as a ratio to the
//! passthrough. The table is also written as JSON to `target/bench/end_to_end.json`.
//!
//! `scripts/bench.sh [--records N] [--filter TEXT]`; without a broker (`KAFKA_BOOTSTRAP`) it
//! says so and does nothing, so that `cargo bench` alone passes.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use modelserver::dataset;
use modelserver::kafka::admin::ensure_topics;
use modelserver::kafka::publish::{model_with_bytes, Publisher};
use modelserver::kafka::KafkaConfig;
use modelserver::model::ModelKind;
use modelserver::pipeline::PipelineKind;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

/// Partitions of the data topic (and of every output topic).
const PARTITIONS: i32 = 2;
/// How long an output topic may stay silent before a run is given up.
const IDLE: Duration = Duration::from_secs(60);

/// A model the job serves in the benchmark.
struct BenchModel {
    label: &'static str,
    kind: ModelKind,
    bytes: Vec<u8>,
}

/// How a job is laid out: processes × workers each.
#[derive(Clone, Copy)]
struct Layout {
    processes: usize,
    workers: usize,
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}p×{}w", self.processes, self.workers)
    }
}

/// What one run measured.
struct Measured {
    /// Records per second, first output timestamp to last.
    throughput: f64,
    /// Start → first output, when a process was started.
    startup: Option<Duration>,
    /// User + system CPU seconds per million records, when a process did the work.
    cpu_per_million: Option<f64>,
}

fn main() {
    let Ok(bootstrap) = std::env::var("KAFKA_BOOTSTRAP") else {
        println!("end_to_end: needs a Kafka broker (run scripts/bench.sh); skipped");
        return;
    };
    let args: Vec<String> = std::env::args().collect();
    let option = |name: &str| {
        args.iter()
            .position(|arg| arg == name)
            .and_then(|index| args.get(index + 1))
            .cloned()
    };
    let records: usize = option("--records").map_or(500_000, |n| n.parse().expect("--records N"));
    let filter = option("--filter").unwrap_or_default();
    let kafka = KafkaConfig::new(bootstrap);
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let data = format!("bench-data-{stamp}");
    let models_topic = format!("bench-models-{stamp}");
    ensure_topics(&kafka, &[(&data, PARTITIONS), (&models_topic, 1)]).expect("topics");
    preload(&kafka, &data, records);
    println!("end_to_end: {records} wine records on {PARTITIONS} partitions of `{data}`\n");

    let passthrough = passthrough(&kafka, &data, records);
    let mut rows = vec![Row::new("passthrough", "-", "2 threads", &passthrough, 1.0)];
    print_header();
    print_row(rows.last().unwrap());

    let layouts = [
        Layout {
            processes: 1,
            workers: 1,
        },
        Layout {
            processes: 1,
            workers: 2,
        },
        Layout {
            processes: 2,
            workers: 1,
        },
    ];
    for model in models() {
        if !model.label.contains(&filter) {
            continue;
        }
        let name = model.label.replace(' ', "-");
        let descriptor = model_with_bytes(&name, "wine", model.kind, model.bytes.clone());
        for pipeline in [PipelineKind::Keyed, PipelineKind::Flat] {
            for layout in layouts {
                let topics = RunTopics {
                    data: &data,
                    models: &models_topic,
                };
                let measured = serve_run(&kafka, topics, &descriptor, pipeline, layout, records);
                let ratio = measured.throughput / passthrough.throughput;
                let layout = layout.to_string();
                rows.push(Row::new(
                    model.label,
                    &pipeline.to_string(),
                    &layout,
                    &measured,
                    ratio,
                ));
                print_row(rows.last().unwrap());
            }
        }
    }
    write_json(&rows, records);
}

/// The models measured: PMML trees and ensembles, ONNX ensembles and MLP, a TensorFlow graph.
fn models() -> Vec<BenchModel> {
    let read =
        |path: &str| std::fs::read(repo(path)).unwrap_or_else(|error| panic!("{path}: {error}"));
    let forest = read("data/pmml/random_forest_classifier.pmml");
    vec![
        BenchModel {
            label: "pmml decision tree",
            kind: ModelKind::Pmml,
            bytes: read("data/pmml/decision_tree_classifier.pmml"),
        },
        BenchModel {
            label: "pmml forest 5 trees",
            kind: ModelKind::Pmml,
            bytes: forest.clone(),
        },
        BenchModel {
            label: "pmml forest 100 trees",
            kind: ModelKind::Pmml,
            bytes: repeated_segments(&forest, 20),
        },
        BenchModel {
            label: "pmml gradient boosting",
            kind: ModelKind::Pmml,
            bytes: read("data/pmml/gradient_boosting_classifier.pmml"),
        },
        BenchModel {
            label: "onnx forest",
            kind: ModelKind::Onnx,
            bytes: read("data/onnx/wine_forest_classifier.onnx"),
        },
        BenchModel {
            label: "onnx mlp",
            kind: ModelKind::Onnx,
            bytes: read("data/onnx/wine_mlp_classifier.onnx"),
        },
        BenchModel {
            label: "tensorflow mlp",
            kind: ModelKind::TensorFlow,
            bytes: read("data/tensorflow/wine_mlp.pb"),
        },
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

/// `path` in the repository (the workspace's root, above `jobs/`).
fn repo(path: &str) -> PathBuf {
    let jobs = Path::new(env!("CARGO_MANIFEST_DIR"));
    jobs.parent().expect("the workspace root").join(path)
}

/// Publishes `count` wine records (the bundled rows, cycled) to `topic`.
fn preload(kafka: &KafkaConfig, topic: &str, count: usize) {
    let samples = dataset::bundled();
    let records = (0..count).map(|index| samples[index % samples.len()].to_record("wine"));
    let publisher = Publisher::new(kafka).expect("a publisher");
    publisher
        .publish_records(topic, records, None, |_| {})
        .expect("records published");
}

/// The topics every run reads.
#[derive(Clone, Copy)]
struct RunTopics<'a> {
    data: &'a str,
    models: &'a str,
}

/// Serves the backlog of `topics.data` with `descriptor` in a fresh job and measures it.
fn serve_run(
    kafka: &KafkaConfig,
    topics: RunTopics<'_>,
    descriptor: &modelserver::proto::ModelDescriptor,
    pipeline: PipelineKind,
    layout: Layout,
    records: usize,
) -> Measured {
    let run = format!("{}-{pipeline}-{layout}", descriptor.name).replace('×', "x");
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let results = format!("bench-results-{run}-{stamp}");
    let models = format!("{}-{run}", topics.models);
    ensure_topics(kafka, &[(&results, PARTITIONS), (&models, 1)]).expect("topics");
    let publisher = Publisher::new(kafka).expect("a publisher");
    publisher
        .publish_model(&models, descriptor)
        .expect("the model is published");
    let hostfile = (layout.processes > 1).then(|| support::hostfile("bench"));
    let started = SystemTime::now();
    let mut processes: Vec<Child> = (0..layout.processes)
        .map(|process| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_serve"));
            command
                .args(["--pipeline", &pipeline.to_string()])
                .args(["--bootstrap", &kafka.bootstrap])
                .args(["--data-topic", topics.data, "--models-topic", &models])
                .args(["--results-topic", &results])
                .args(["--group", &format!("bench-{run}-{stamp}")])
                .args(["-w", &layout.workers.to_string()])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null());
            if let Some(hostfile) = &hostfile {
                command
                    .args(["-n", &layout.processes.to_string()])
                    .args(["-p", &process.to_string(), "-h"])
                    .arg(hostfile);
            }
            command.spawn().expect("serve starts")
        })
        .collect();
    let times = output_times(kafka, &results, records);
    let cpu: f64 = processes.iter().map(|child| cpu_seconds(child.id())).sum();
    for child in &mut processes {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    for child in &mut processes {
        let _ = child.wait();
    }
    assert_eq!(times.len(), records, "{run}: one result per record");
    let started_ms = started.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    Measured {
        throughput: throughput(&times),
        startup: Some(Duration::from_millis((times[0] - started_ms).max(0) as u64)),
        cpu_per_million: Some(cpu / records as f64 * 1e6),
    }
}

/// Records per second from the first output timestamp to the last.
fn throughput(times: &[i64]) -> f64 {
    let first = *times.iter().min().unwrap();
    let last = *times.iter().max().unwrap();
    (times.len() - 1) as f64 / ((last - first).max(1) as f64 / 1000.0)
}

/// The Kafka timestamps (ms) of the first `count` messages of `topic`, read from the beginning
/// of every partition (waiting at most [`IDLE`] for each next one).
fn output_times(kafka: &KafkaConfig, topic: &str, count: usize) -> Vec<i64> {
    let consumer: BaseConsumer = kafka
        .client()
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
    let mut last_seen = Instant::now();
    while times.len() < count && last_seen.elapsed() < IDLE {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            times.push(message.timestamp().to_millis().expect("a timestamp"));
            last_seen = Instant::now();
        }
    }
    times
}

/// The user + system CPU seconds of process `pid` so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5), counted from the state (field 3) here.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&index| {
            fields
                .get(index)
                .and_then(|field| field.parse::<u64>().ok())
        })
        .sum();
    ticks as f64 / 100.0
}

/// Consumes `data` and produces every payload, keyed as results are, with the job's client
/// settings, in one thread per partition; measured like a job.
fn passthrough(kafka: &KafkaConfig, data: &str, records: usize) -> Measured {
    let out = format!("{data}-passthrough");
    ensure_topics(kafka, &[(&out, PARTITIONS)]).expect("topics");
    let copiers: Vec<_> = (0..PARTITIONS)
        .map(|partition| {
            let (kafka, data, out) = (kafka.clone(), data.to_owned(), out.clone());
            std::thread::spawn(move || copy_partition(&kafka, &data, partition, &out))
        })
        .collect();
    let times = output_times(kafka, &out, records);
    for copier in copiers {
        copier.join().expect("a copier");
    }
    Measured {
        throughput: throughput(&times),
        startup: None,
        cpu_per_million: None,
    }
}

/// Copies partition `partition` of `data` to `out` until it has been idle for a second.
fn copy_partition(kafka: &KafkaConfig, data: &str, partition: i32, out: &str) {
    let consumer: BaseConsumer = kafka
        .client()
        .set("group.id", format!("{out}-{partition}"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
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
    while last_seen.elapsed() < Duration::from_secs(1) {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(10)) else {
            producer.poll(Duration::ZERO);
            continue;
        };
        last_seen = Instant::now();
        let key = message.key().unwrap_or_default();
        let payload = message.payload().unwrap_or_default();
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

/// One line of the table.
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
    fn new(model: &str, pipeline: &str, layout: &str, measured: &Measured, ratio: f64) -> Row {
        Row {
            model: model.to_owned(),
            pipeline: pipeline.to_owned(),
            layout: layout.to_owned(),
            throughput: measured.throughput,
            ratio,
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

/// Writes the table to `target/bench/end_to_end.json`.
fn write_json(rows: &[Row], records: usize) {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            serde_json::json!({
                "model": row.model,
                "pipeline": row.pipeline,
                "layout": row.layout,
                "records_per_second": row.throughput.round(),
                "ratio_to_passthrough": (row.ratio * 100.0).round() / 100.0,
                "startup_ms": row.startup_ms,
                "cpu_seconds_per_million_records": row.cpu_per_million,
            })
        })
        .collect();
    let report = serde_json::json!({ "records": records, "runs": rows });
    let directory = repo("target/bench");
    std::fs::create_dir_all(&directory).expect("target/bench");
    let path = directory.join("end_to_end.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).expect("the JSON");
    println!("\nwritten to {}", path.display());
}
