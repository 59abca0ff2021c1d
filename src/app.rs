//! What a serving app needs around its job: Kafka that is either the user's cluster or an
//! embedded one, and the predictions read back as they arrive. The apps in `jobs/` (`wine`,
//! `iris`) are built from these and the [`crate::job`] API.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use prost::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::job::{DeadLetterTopic, Job, JobConfig};
use crate::kafka::admin::ensure_topics;
use crate::kafka::source::follow_topic;
use crate::kafka::KafkaConfig;
use crate::pipeline::PipelineKind;
use crate::proto::ServingResult;
use crate::record::Record;
use crate::state::query::{query_job, render_table};
use crate::state::Counters;

/// An app's topics, named after it: `{app}-records`, `{app}-models`, `{app}-predictions`, and
/// the dead letters of its job, `{app}-records-dead-letters`.
pub struct AppTopics {
    /// The data records.
    pub records: String,
    /// The model descriptors.
    pub models: String,
    /// The predictions (serving results).
    pub predictions: String,
    /// What the job gives up on.
    pub dead_letters: String,
}

impl AppTopics {
    /// The topics of app `app`.
    pub fn new(app: &str) -> Self {
        AppTopics {
            records: format!("{app}-records"),
            models: format!("{app}-models"),
            predictions: format!("{app}-predictions"),
            dead_letters: format!("{app}-records-dead-letters"),
        }
    }

    /// Each topic with the partitions to create it with.
    pub fn partitions(&self) -> [(&str, i32); 4] {
        [
            (&self.records, 4),
            (&self.models, 1),
            (&self.predictions, 4),
            (&self.dead_letters, 4),
        ]
    }

    /// A keyed job over these topics, committing data offsets as consumer group `{records}-app`.
    pub fn job_config(&self, kafka: &KafkaConfig) -> JobConfig {
        let mut config = JobConfig::new(kafka.clone(), PipelineKind::Keyed);
        config.data_topic = self.records.clone();
        config.models_topic = self.models.clone();
        config.results_topic = Some(self.predictions.clone());
        config.group = format!("{}-app", self.records);
        config.dead_letters = DeadLetterTopic::Named(self.dead_letters.clone());
        config
    }
}

/// The longest an embedded (mock) broker holds a fetch that finds nothing new: it answers only
/// then, records arrived or not.
const EMBEDDED_FETCH_WAIT_MS: &str = "10";

/// The Kafka an app runs against; an embedded cluster lives as long as this.
pub struct AppKafka {
    /// How to reach it.
    pub config: KafkaConfig,
    embedded: Option<MockCluster<'static, DefaultProducerContext>>,
}

impl AppKafka {
    /// The cluster at `bootstrap`, or an embedded one (librdkafka's mock cluster) when `None`;
    /// either way with `topics` (name, partitions) created if missing.
    pub fn connect(bootstrap: Option<&str>, topics: &[(&str, i32)]) -> Result<Self> {
        let Some(bootstrap) = bootstrap else {
            let cluster = MockCluster::new(1).context("starting an embedded Kafka")?;
            for (topic, partitions) in topics {
                cluster.create_topic(topic, *partitions, 1)?;
            }
            // The mock broker holds an empty fetch for its whole wait even when records arrive.
            let mut config = KafkaConfig::new(cluster.bootstrap_servers());
            config
                .properties
                .push(("fetch.wait.max.ms".into(), EMBEDDED_FETCH_WAIT_MS.into()));
            return Ok(AppKafka {
                config,
                embedded: Some(cluster),
            });
        };
        let config = KafkaConfig::new(bootstrap);
        ensure_topics(&config, topics)?;
        Ok(AppKafka {
            config,
            embedded: None,
        })
    }

    /// Whether this is an embedded cluster.
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }
}

/// Reads the results on `topic` from the beginning, handing each to `each`, until `count` have
/// come or none has for `idle`; returns how many came.
pub fn follow_results(
    kafka: &KafkaConfig,
    topic: &str,
    count: usize,
    idle: Duration,
    mut each: impl FnMut(ServingResult),
) -> Result<usize> {
    follow_topic(
        kafka,
        topic,
        count,
        idle,
        |partition, offset, payload| match ServingResult::decode(payload) {
            Ok(result) => each(result),
            Err(error) => tracing::warn!(partition, offset, "not a result: {error}"),
        },
    )
}

/// Waits until `count` predictions are on `topic` (or none has come for 30 s): an app that swaps
/// models halfway through its records waits so for the first half to be scored by the first
/// model. Returns how many came.
pub fn wait_for_predictions(kafka: &KafkaConfig, topic: &str, count: usize) -> Result<usize> {
    follow_results(kafka, topic, count, Duration::from_secs(30), |_| {})
}

/// A job running on its own thread until stopped.
pub struct RunningJob {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<Arc<Counters>>>,
}

impl RunningJob {
    /// Runs `job` over records of type `R` on `workers` worker threads of this process.
    pub fn spawn<R: Record>(job: Job, workers: usize) -> Self {
        let stop = job.stop_flag();
        let thread = std::thread::spawn(move || job.run::<R>(timely::Config::process(workers)));
        RunningJob { stop, thread }
    }

    /// Stops the job and waits for it; returns its counters.
    pub fn stop(self) -> Result<Arc<Counters>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the job panicked"))?
    }
}

/// Prints every `every`-th prediction on `topic` as it arrives (see [`describe`], `what` naming
/// the predicted thing), until `count` have come or none has for 30 s; then how many came.
pub fn print_predictions(
    kafka: &KafkaConfig,
    topic: &str,
    count: usize,
    every: usize,
    what: &str,
) -> Result<usize> {
    let mut printed = 0;
    let seen = follow_results(kafka, topic, count, Duration::from_secs(30), |result| {
        if printed % every.max(1) == 0 {
            println!("{}", describe(&result, what));
        }
        printed += 1;
    })?;
    println!("{seen} predictions for {count} records\n");
    Ok(seen)
}

/// One prediction: where the record was read, the model, the predicted `what` and its
/// probability.
pub fn describe(result: &ServingResult, what: &str) -> String {
    let probability = result
        .probabilities
        .iter()
        .find(|class| class.label == result.label)
        .map_or(f64::NAN, |class| class.probability);
    format!(
        "[{}:{:>4}] {:<14} {what} {} (p = {probability:.2})",
        result.source_partition, result.source_offset, result.model_name, result.label
    )
}

/// Prints what the job answering at `addr` says about its models, once it has had the time to
/// refresh its statistics (every `stats_interval`).
pub fn print_state(addr: SocketAddr, stats_interval: Duration) {
    std::thread::sleep(2 * stats_interval);
    let state = query_job(&[addr.to_string()], Duration::from_secs(5));
    for unreachable in &state.unreachable {
        eprintln!("{}: {}", unreachable.addr, unreachable.error);
    }
    print!("{}", render_table(&state));
}
