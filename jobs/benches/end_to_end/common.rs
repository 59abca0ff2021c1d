//! What the sections share: fresh topics (some taking large messages), `serve` processes, a
//! paced producer of wine records, a reader of results that notes when each came, `/proc`
//! readings, percentiles, and the JSON files.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use modelserver::dataset::{self, WineSample};
use modelserver::job::DeadLetterTopic;
use modelserver::kafka::source::CONSUMER_DEFAULTS;
use modelserver::kafka::KafkaConfig;
use modelserver::pipeline::PipelineKind;
use modelserver::proto::{ModelDescriptor, ServingResult};
use prost::Message as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

use super::{repo, Layout, PARTITIONS};

/// The largest message the benchmark's topics and model producer take (the 50 MB model).
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Microseconds since the benchmark's first reading (one monotonic clock for every thread).
pub fn now_us() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// A name no earlier run used.
pub fn unique(prefix: &str) -> String {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{stamp}")
}

/// The topics of one run: data (2 partitions), models (1, large messages allowed), results (2).
/// Deleted when dropped, with the dead letters the job made: a run at hundreds of thousands of
/// records per second writes tens of gigabytes, which must not pile up run after run.
pub struct Topics {
    pub data: String,
    pub models: String,
    pub results: String,
    kafka: KafkaConfig,
}

impl Drop for Topics {
    fn drop(&mut self) {
        let dead_letters = DeadLetterTopic::Derived
            .name(&self.data)
            .expect("a derived topic has a name");
        delete_topics(
            &self.kafka,
            &[&self.data, &self.models, &self.results, &dead_letters],
        );
    }
}

/// Deletes the topics that exist among `topics` (a failure is only reported: the benchmark goes
/// on).
pub fn delete_topics(kafka: &KafkaConfig, topics: &[&str]) {
    let Ok(admin) = kafka.client().create::<AdminClient<DefaultClientContext>>() else {
        return eprintln!("end_to_end: no admin client to delete {topics:?}");
    };
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let deleted = match block_on(admin.delete_topics(topics, &options)) {
        Ok(deleted) => deleted,
        Err(error) => return eprintln!("end_to_end: deleting {topics:?}: {error}"),
    };
    for failure in deleted.into_iter().filter_map(Result::err) {
        if failure.1 != RDKafkaErrorCode::UnknownTopicOrPartition {
            eprintln!("end_to_end: deleting {}: {}", failure.0, failure.1);
        }
    }
}

impl Topics {
    pub fn create(kafka: &KafkaConfig, run: &str) -> Topics {
        let base = unique(&format!("bench-{run}"));
        let topics = Topics {
            data: format!("{base}-data"),
            models: format!("{base}-models"),
            results: format!("{base}-results"),
            kafka: kafka.clone(),
        };
        create_topics(
            kafka,
            &[
                (&topics.data, PARTITIONS),
                (&topics.models, 1),
                (&topics.results, PARTITIONS),
            ],
        );
        topics
    }
}

/// Creates the topics (which must not exist), each taking messages up to [`MAX_MESSAGE_BYTES`].
pub fn create_topics(kafka: &KafkaConfig, topics: &[(&str, i32)]) {
    let admin: AdminClient<DefaultClientContext> = kafka.client().create().expect("an admin");
    let max = MAX_MESSAGE_BYTES.to_string();
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, partitions)| {
            NewTopic::new(name, *partitions, TopicReplication::Fixed(1))
                .set("max.message.bytes", &max)
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in block_on(admin.create_topics(new.iter(), &options)).expect("topics created") {
        if let Err((topic, error)) = result {
            assert_eq!(
                error,
                RDKafkaErrorCode::TopicAlreadyExists,
                "creating {topic}: {error}"
            );
        }
    }
    // The broker answers before every partition has a leader: wait for the metadata.
    let client: BaseConsumer = kafka.client().create().expect("a client");
    for (name, partitions) in topics {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = client
                .fetch_metadata(Some(name), Duration::from_secs(5))
                .ok()
                .and_then(|metadata| {
                    metadata.topics().first().map(|topic| {
                        topic.partitions().len() == *partitions as usize
                            && topic.partitions().iter().all(|p| p.leader() >= 0)
                    })
                })
                .unwrap_or(false);
            if ready || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Runs a future to completion on this thread, polling it every millisecond (rdkafka's admin
/// calls are futures; the benchmark has no async runtime).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A producer of model descriptors and of wine records, with room for the 50 MB model.
pub struct Producing {
    producer: BaseProducer,
}

impl Producing {
    /// A producer that sends at once (`linger.ms` 0), idempotent (so that the offsets of one
    /// partition follow the order of sends).
    pub fn new(kafka: &KafkaConfig) -> Producing {
        let producer = kafka
            .client()
            .set("linger.ms", "0")
            .set("enable.idempotence", "true")
            .set("message.max.bytes", (MAX_MESSAGE_BYTES + 4096).to_string())
            .set("queue.buffering.max.messages", "1000000")
            .create()
            .expect("a producer");
        Producing { producer }
    }

    /// Sends `payload` to `topic` (partition `partition` if given), stamped `timestamp` ms.
    pub fn send(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        partition: Option<i32>,
        timestamp: i64,
    ) {
        let mut record = BaseRecord::to(topic)
            .key(key)
            .payload(payload)
            .timestamp(timestamp);
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    self.producer.poll(Duration::from_millis(1));
                    record = returned;
                }
                Err((error, _)) => panic!("sending to {topic}: {error}"),
            }
        }
        self.producer.poll(Duration::ZERO);
    }

    /// Publishes a model descriptor and returns its Kafka timestamp (the publish time).
    pub fn model(&self, topic: &str, descriptor: &ModelDescriptor) -> i64 {
        let payload = descriptor.encode_to_vec();
        let timestamp = now_ms();
        self.send(topic, &descriptor.data_type, &payload, None, timestamp);
        timestamp
    }

    pub fn poll(&self) {
        self.producer.poll(Duration::ZERO);
    }

    pub fn flush(&self) {
        self.producer
            .flush(Timeout::After(Duration::from_secs(120)))
            .expect("delivered");
    }
}

/// The wine records sent: the bundled rows, cycled, encoded once.
pub struct WinePayloads {
    payloads: Vec<Vec<u8>>,
}

impl WinePayloads {
    pub fn new(data_type: &str) -> WinePayloads {
        let samples: Vec<WineSample> = dataset::bundled();
        WinePayloads {
            payloads: samples
                .iter()
                .map(|sample| sample.to_record(data_type).encode_to_vec())
                .collect(),
        }
    }

    pub fn get(&self, index: usize) -> &[u8] {
        &self.payloads[index % self.payloads.len()]
    }
}

/// Sends `count` wine records (the bundled rows from `first` on, cycled) to `topic` at `rate`
/// records/s (in 0.5 ms ticks: as many as are due), record `index` to partition `index % 2`,
/// until `stop` is set; returns when each was handed to the producer ([`now_us`]).
pub fn send_paced(
    producer: &Producing,
    topic: &str,
    payloads: &WinePayloads,
    rate: f64,
    first: usize,
    count: usize,
    stop: &AtomicBool,
) -> Vec<u64> {
    let mut stamps = Vec::with_capacity(count.min(1_000_000));
    let started = Instant::now();
    while stamps.len() < count && !stop.load(Ordering::Relaxed) {
        let due = ((started.elapsed().as_secs_f64() * rate) as usize + 1).min(count);
        while stamps.len() < due {
            let index = first + stamps.len();
            let partition = (index % PARTITIONS as usize) as i32;
            stamps.push(now_us());
            producer.send(
                topic,
                "wine",
                payloads.get(index),
                Some(partition),
                now_ms(),
            );
        }
        producer.poll();
        std::thread::sleep(Duration::from_micros(500));
    }
    stamps
}

/// A producer thread writing wine records at a steady rate to partition `index % 2`, noting
/// when each was handed to the producer (so that record `index` is at offset `index / 2` of a
/// fresh topic); stops when told, or after `limit` records.
pub struct Paced {
    stop: Arc<AtomicBool>,
    sent: Arc<Mutex<Vec<u64>>>,
    handle: Option<JoinHandle<()>>,
}

impl Paced {
    /// Sends `limit` records (or until stopped) at `rate` records/s, continuing at index `first`.
    pub fn start(kafka: &KafkaConfig, topic: &str, rate: f64, first: usize, limit: usize) -> Paced {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (kafka, topic) = (kafka.clone(), topic.to_owned());
        let (stop_flag, sent_log) = (stop.clone(), sent.clone());
        let handle = std::thread::spawn(move || {
            let producer = Producing::new(&kafka);
            let payloads = WinePayloads::new("wine");
            let stamps = send_paced(&producer, &topic, &payloads, rate, first, limit, &stop_flag);
            sent_log.lock().unwrap().extend(stamps);
            producer.flush();
        });
        Paced {
            stop,
            sent,
            handle: Some(handle),
        }
    }

    /// Stops sending, waits until everything sent is delivered, and returns when each record was
    /// sent (µs, [`now_us`]).
    pub fn finish(mut self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().expect("the producer");
        std::mem::take(&mut *self.sent.lock().unwrap())
    }
}

/// One result read back.
#[derive(Clone)]
pub struct Seen {
    /// The result's Kafka timestamp (ms).
    pub kafka_ms: i64,
    /// When the reader got it ([`now_us`]).
    pub seen_us: u64,
    /// The input it scored: the partition and offset of the data topic.
    pub source_partition: i32,
    pub source_offset: i64,
    pub model: Arc<str>,
    /// Scored by a model (not NO_MODEL nor SCORING_FAILED).
    pub scored: bool,
}

/// A thread reading the results topic from the beginning, noting when each result came.
pub struct Reader {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    handle: Option<JoinHandle<()>>,
}

impl Reader {
    pub fn start(kafka: &KafkaConfig, topic: &str) -> Reader {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let consumer: BaseConsumer = kafka
            .client_with(&CONSUMER_DEFAULTS)
            .set("group.id", format!("{topic}-reader"))
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "5")
            .create()
            .expect("a consumer");
        let mut assignment = TopicPartitionList::new();
        for partition in 0..PARTITIONS {
            assignment
                .add_partition_offset(topic, partition, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).expect("assigned");
        let (stop_flag, log) = (stop.clone(), seen.clone());
        let handle = std::thread::spawn(move || {
            let mut batch = Vec::new();
            // Names repeat: each is kept once.
            let mut names: Vec<Arc<str>> = Vec::new();
            let mut intern = |name: String| -> Arc<str> {
                if let Some(known) = names.iter().rev().find(|known| ***known == *name) {
                    return known.clone();
                }
                let name: Arc<str> = name.into();
                names.push(name.clone());
                if names.len() > 64 {
                    names.remove(0);
                }
                name
            };
            while !stop_flag.load(Ordering::Relaxed) {
                match consumer.poll(Duration::from_millis(20)) {
                    Some(Ok(message)) => {
                        let seen_us = now_us();
                        let result = ServingResult::decode(message.payload().unwrap_or_default())
                            .expect("a result");
                        batch.push(Seen {
                            kafka_ms: message.timestamp().to_millis().unwrap_or(0),
                            seen_us,
                            source_partition: result.source_partition,
                            source_offset: result.source_offset,
                            scored: result.outcome == 0,
                            model: intern(result.model_name),
                        });
                        if batch.len() >= 256 {
                            log.lock().unwrap().append(&mut batch);
                        }
                    }
                    _ => log.lock().unwrap().append(&mut batch),
                }
            }
            log.lock().unwrap().append(&mut batch);
        });
        Reader {
            stop,
            seen,
            handle: Some(handle),
        }
    }

    /// How many results have been read.
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Calls `look` on the results read so far.
    pub fn with<T>(&self, look: impl FnOnce(&[Seen]) -> T) -> T {
        look(&self.seen.lock().unwrap())
    }

    /// Waits until `done` holds for the results read so far, or `timeout`; whether it held.
    pub fn wait_until(&self, timeout: Duration, mut done: impl FnMut(&[Seen]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.with(&mut done) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits until at least `count` results have come, or none has for `idle`.
    pub fn wait_for(&self, count: usize, idle: Duration) -> bool {
        let mut last = (self.count(), Instant::now());
        loop {
            let now = self.count();
            if now >= count {
                return true;
            }
            if now != last.0 {
                last = (now, Instant::now());
            } else if last.1.elapsed() > idle {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn finish(mut self) -> Vec<Seen> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().expect("the reader");
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// `serve` processes of one job.
pub struct Serve {
    pub children: Vec<std::process::Child>,
    /// When the first process was started (ms since the epoch).
    pub started_ms: i64,
}

impl Serve {
    /// Starts a job of `layout` over `data` → `results`, with its models on `models`, under a
    /// fresh consumer group, with `extra` options.
    pub fn start(
        kafka: &KafkaConfig,
        pipeline: PipelineKind,
        layout: Layout,
        topics: (&str, &str, &str),
        extra: &[&str],
    ) -> Serve {
        let (data, models, results) = topics;
        let group = unique(&format!("bench-{pipeline}"));
        let hostfile = (layout.processes > 1).then(|| super::support::hostfile("bench"));
        let started_ms = now_ms();
        let children = (0..layout.processes)
            .map(|process| {
                let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_serve"));
                command
                    .args(["--pipeline", &pipeline.to_string()])
                    .args(["--bootstrap", &kafka.bootstrap])
                    .args(["--data-topic", data, "--models-topic", models])
                    .args(["--results-topic", results])
                    .args(["--group", &group])
                    .args(["-w", &layout.workers.to_string()])
                    .args(extra)
                    .env("RUST_LOG", "warn")
                    .stdout(std::process::Stdio::null());
                if let Some(hostfile) = &hostfile {
                    command
                        .args(["-n", &layout.processes.to_string()])
                        .args(["-p", &process.to_string(), "-h"])
                        .arg(hostfile);
                }
                command.spawn().expect("serve starts")
            })
            .collect();
        Serve {
            children,
            started_ms,
        }
    }

    /// The user + system CPU seconds of the job's processes so far.
    pub fn cpu_seconds(&self) -> f64 {
        self.children
            .iter()
            .map(|child| cpu_seconds(child.id()))
            .sum()
    }

    /// A field of `/proc/<pid>/status` of the first process, in MiB (e.g. `VmRSS`, `VmHWM`).
    pub fn memory_mib(&self, field: &str) -> f64 {
        proc_status_kib(self.children[0].id(), field) as f64 / 1024.0
    }

    /// Stops the job (SIGTERM, then waits).
    pub fn stop(mut self) {
        for child in &self.children {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        for child in &mut self.children {
            let _ = child.wait();
        }
    }
}

/// The user + system CPU seconds of process `pid` so far.
pub fn cpu_seconds(pid: u32) -> f64 {
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

/// A `kB` field of `/proc/<pid>/status` (0 when absent).
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}

/// The `q` quantile (0..=1) of sorted `values` (nearest rank).
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// The median of `values`.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile(&sorted, 0.5)
}

/// Writes `value` to `target/bench/<name>.json` and says so.
pub fn write_json(name: &str, value: &serde_json::Value) {
    let directory = repo("target/bench");
    std::fs::create_dir_all(&directory).expect("target/bench");
    let path = directory.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).expect("the JSON");
    println!("written to {}", path.display());
}

/// Rounds to `digits` decimals (for the JSON).
pub fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}
