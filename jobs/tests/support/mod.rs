//! Shared pieces of the real-Kafka tests: the broker's address, fresh topics, reading a topic
//! back, and onnxruntime's reference predictions.
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use modelserver::dataset;
use modelserver::job::DeadLetterTopic;
use modelserver::kafka::admin::ensure_topics;
use modelserver::kafka::source::follow_topic;
use modelserver::kafka::KafkaConfig;
use modelserver::pipeline::PipelineKind;
use modelserver::proto::{ServingResult, WineRecord};
use prost::Message;

/// The real broker started by `scripts/kafka.sh start` (the README's test command does it).
pub fn broker() -> KafkaConfig {
    let bootstrap = std::env::var("KAFKA_BOOTSTRAP").expect(
        "these tests need a real Kafka broker: run `scripts/test.sh`, or `scripts/kafka.sh start` and set KAFKA_BOOTSTRAP",
    );
    KafkaConfig::new(bootstrap)
}

/// The topics of one test, with names no other test uses.
pub struct Topics {
    pub data: String,
    pub models: String,
    pub results: String,
}

impl Topics {
    /// Creates fresh topics: data with `partitions` partitions, models and results with one.
    pub fn create(kafka: &KafkaConfig, test: &str, partitions: i32) -> Topics {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = |role: &str| format!("{test}-{role}-{}-{stamp}", std::process::id());
        let topics = Topics {
            data: name("data"),
            models: name("models"),
            results: name("results"),
        };
        ensure_topics(
            kafka,
            &[
                (&topics.data, partitions),
                (&topics.models, 1),
                (&topics.results, 1),
            ],
        )
        .expect("topics are created");
        topics
    }
}

impl Topics {
    /// The `serve` options that name these topics and the test's consumer group.
    pub fn serve_args(&self) -> Vec<String> {
        [
            ("--data-topic", &self.data),
            ("--models-topic", &self.models),
            ("--results-topic", &self.results),
        ]
        .into_iter()
        .flat_map(|(flag, topic)| [flag.to_owned(), topic.clone()])
        .chain(["--group".to_owned(), format!("{}-group", self.data)])
        .collect()
    }

    /// The dead-letter topic a job over these topics derives.
    pub fn dead_letters(&self) -> String {
        DeadLetterTopic::Derived
            .name(&self.data)
            .expect("a derived topic has a name")
    }
}

/// A message read back: partition, offset, payload.
pub type Polled = (i32, i64, Vec<u8>);

/// Reads `topic` from the beginning until `count` messages have come, or none has for `idle`.
pub fn read_topic(kafka: &KafkaConfig, topic: &str, count: usize, idle: Duration) -> Vec<Polled> {
    let mut messages = Vec::new();
    follow_topic(kafka, topic, count, idle, |partition, offset, payload| {
        messages.push((partition, offset, payload.to_vec()))
    })
    .expect("a reader");
    messages
}

/// The results on `topic`, waiting until `count` have come (or none has for 60 s).
pub fn read_results(kafka: &KafkaConfig, topic: &str, count: usize) -> Vec<ServingResult> {
    read_results_within(kafka, topic, count, Duration::from_secs(60))
}

/// The results on `topic`, waiting until `count` have come or none has for `idle`.
pub fn read_results_within(
    kafka: &KafkaConfig,
    topic: &str,
    count: usize,
    idle: Duration,
) -> Vec<ServingResult> {
    read_topic(kafka, topic, count, idle)
        .into_iter()
        .map(|(_, _, payload)| ServingResult::decode(payload.as_slice()).expect("results decode"))
        .collect()
}

/// Records of the bundled rows `rows`, keyed `data_type`.
pub fn wine_records(rows: std::ops::Range<usize>, data_type: &str) -> Vec<WineRecord> {
    let samples = dataset::bundled();
    rows.map(|row| samples[row].to_record(data_type)).collect()
}

/// onnxruntime's predicted label (or value) for each of the first 300 bundled rows, found by the
/// row's features.
pub struct Reference {
    by_features: HashMap<[u64; 11], f64>,
}

impl Reference {
    /// The reference predictions of `data/onnx/<model>.reference.csv`.
    pub fn onnx(model: &str) -> Reference {
        let path = format!(
            "{}/data/onnx/{model}.reference.csv",
            concat!(env!("CARGO_MANIFEST_DIR"), "/..")
        );
        let mut reader = csv::Reader::from_path(path).expect("a reference CSV");
        let value_column = reader
            .headers()
            .unwrap()
            .iter()
            .position(|name| name == "value")
            .expect("a value column");
        let samples = dataset::bundled();
        let by_features = reader
            .records()
            .map(|row| {
                let row = row.unwrap();
                let index: usize = row[0].parse().unwrap();
                (
                    feature_bits(&samples[index].features),
                    row[value_column].parse().unwrap(),
                )
            })
            .collect();
        Reference { by_features }
    }

    /// The reference prediction for a record.
    pub fn predict(&self, record: &WineRecord) -> f64 {
        self.by_features[&feature_bits(&record.features())]
    }
}

fn feature_bits(features: &[f64; 11]) -> [u64; 11] {
    features.map(f64::to_bits)
}

/// A `serve` process, stopped (SIGTERM, then killed) when dropped.
pub struct Serve(pub Child);

impl Serve {
    /// Starts process `process` of a two-process, two-worker job over `topics`, with further
    /// `serve` options `extra`.
    pub fn start(
        kafka: &KafkaConfig,
        topics: &Topics,
        pipeline: PipelineKind,
        process: usize,
        hostfile: &std::path::Path,
        extra: &[&str],
    ) -> Serve {
        let child = Command::new(env!("CARGO_BIN_EXE_serve"))
            .args(["--pipeline", &pipeline.to_string()])
            .args(["--bootstrap", &kafka.bootstrap])
            .args(topics.serve_args())
            .args(["-w", "2", "-n", "2", "-p", &process.to_string(), "-h"])
            .arg(hostfile)
            .args(extra)
            .spawn()
            .expect("serve starts");
        Serve(child)
    }

    /// Starts a one-process job of two workers over `topics`, with further `serve` options
    /// `extra`.
    pub fn single(
        kafka: &KafkaConfig,
        topics: &Topics,
        pipeline: PipelineKind,
        extra: &[&str],
    ) -> Serve {
        let child = Command::new(env!("CARGO_BIN_EXE_serve"))
            .args(["--pipeline", &pipeline.to_string()])
            .args(["--bootstrap", &kafka.bootstrap])
            .args(topics.serve_args())
            .args(["-w", "2"])
            .args(extra)
            .spawn()
            .expect("serve starts");
        Serve(child)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.0.try_wait().expect("a status").is_none()
    }

    /// The process's peak resident memory, in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id()))
            .expect("the process's status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches(" kB").trim().parse().ok())
            .expect("a VmHWM line")
    }

    /// Asks the process to finish (SIGTERM).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process's exit status.
    pub fn wait(mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("serve did not stop within 30 s of SIGTERM to every process");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A hostfile naming two free local ports.
pub fn hostfile(dir: &str) -> std::path::PathBuf {
    let first = free_ports(2);
    let path = std::env::temp_dir().join(format!("{dir}-{}-hosts.txt", std::process::id()));
    std::fs::write(
        &path,
        format!("127.0.0.1:{first}\n127.0.0.1:{}\n", first + 1),
    )
    .unwrap();
    path
}

/// An address on a free local port (see [`free_ports`]).
pub fn free_addr() -> String {
    format!("127.0.0.1:{}", free_ports(1))
}

/// The first of `count` consecutive local ports that are free now, for processes a test is
/// about to start (a job's process `p` answers state queries on the base port plus `p`).
///
/// They are taken below the system's ephemeral range: a port from that range (what `bind` to
/// port 0 gives) is free only until some client connection draws it as its own local port,
/// and a job's outgoing Kafka connections did exactly that, now and then, before its second
/// process could bind the port next to the first's.
pub fn free_ports(count: u16) -> u16 {
    static TAKEN: AtomicU32 = AtomicU32::new(0);
    const LOWEST: u32 = 10_000;
    let below = ephemeral_ports_start().max(LOWEST + 1_000);
    let span = below - LOWEST - u32::from(count);
    let seed = std::process::id().wrapping_mul(7_919);
    for _ in 0..1_000 {
        let taken = TAKEN.fetch_add(u32::from(count), Ordering::Relaxed);
        let first = (LOWEST + seed.wrapping_add(taken) % span) as u16;
        let free =
            (first..first + count).all(|port| TcpListener::bind(("127.0.0.1", port)).is_ok());
        if free {
            return first;
        }
    }
    panic!("no {count} consecutive free ports below {below}");
}

/// The first port of the system's ephemeral range (Linux's default where it cannot be read).
fn ephemeral_ports_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// The bundled ONNX model `data/onnx/<file>.onnx` as a descriptor named `name` for `data_type`.
pub fn onnx_model(name: &str, data_type: &str, file: &str) -> modelserver::proto::ModelDescriptor {
    let path = format!(
        "{}/data/onnx/{file}.onnx",
        concat!(env!("CARGO_MANIFEST_DIR"), "/..")
    );
    let bytes = std::fs::read(path).expect("a fixture");
    let kind = modelserver::model::ModelKind::Onnx;
    modelserver::kafka::publish::model_with_bytes(name, data_type, kind, bytes)
}

/// GET `path` of the state endpoint at `addr`: the status and the body (status 0 and the error
/// when there is no answer).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    match agent.get(format!("http://{addr}{path}")).call() {
        Ok(mut response) => {
            let status = response.status().as_u16();
            (status, response.body_mut().read_to_string().unwrap())
        }
        Err(error) => (0, error.to_string()),
    }
}

/// Polls `check` every 100 ms until it gives a value, for at most `timeout`.
pub fn eventually<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
