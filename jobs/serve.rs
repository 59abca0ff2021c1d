//! `serve`: the model-serving job. Reads data records and model descriptors from Kafka, scores
//! every record with the current model of its `dataType`, and writes results to Kafka.
//!
//! ```text
//! serve --pipeline keyed -b 127.0.0.1:9092 -w 2                       # one process, two workers
//! serve --pipeline flat -w 2 -n 2 -p 0 -h hosts.txt                   # process 0 of two
//! serve --state-addr 127.0.0.1:9100                                   # answer state queries
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Workers allocate and free a result's buffers for every record, from several threads at once:
/// mimalloc's thread-local free lists serve that without glibc's arena growth and trimming.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::{ArgAction, Parser};
use cli::{init_logging, ClusterArgs, KafkaArgs, RecordKind};
use modelserver::job::{exit_on_panic, DeadLetterTopic, Job, JobConfig, StateOptions};
use modelserver::model::ModelSource;
use modelserver::pipeline::{MonitorConfig, PipelineKind, ServingConfig};
use modelserver::record::{FeatureRecord, PayloadFormat, WineRecord};

/// Serve models on a live Kafka stream, swapping them while data flows.
#[derive(Parser, Debug)]
#[command(disable_help_flag = true)]
struct Args {
    /// keyed: records and models routed by dataType, one worker per key; flat: models broadcast
    /// to every worker, records spread over all of them.
    #[arg(long, default_value = "keyed")]
    pipeline: PipelineKind,
    /// The records of the data topic: wine (WineRecord) or features (FeatureRecord, a key and
    /// named features; models take the features they name).
    #[arg(long, value_enum, default_value = "wine")]
    record: RecordKind,
    /// How data records are encoded: protobuf or json.
    #[arg(long, default_value_t = PayloadFormat::default())]
    data_format: PayloadFormat,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// The topic of data records (WineRecord).
    #[arg(long, default_value = JobConfig::DATA_TOPIC)]
    data_topic: String,
    /// The topic of model descriptors (ModelDescriptor).
    #[arg(long, default_value = JobConfig::MODELS_TOPIC)]
    models_topic: String,
    /// The topic results go to (ServingResult).
    #[arg(long, default_value = JobConfig::RESULTS_TOPIC)]
    results_topic: String,
    /// Write no results to Kafka.
    #[arg(long)]
    no_results_topic: bool,
    /// The consumer group under which data offsets are committed.
    #[arg(long, default_value = JobConfig::GROUP)]
    group: String,
    /// Print every result as a JSON line on standard output.
    #[arg(long)]
    print: bool,
    /// The most records a worker reads into one ingestion batch.
    #[arg(long, default_value_t = JobConfig::BATCH_SIZE)]
    batch_size: usize,
    /// Milliseconds a busy worker that read nothing waits before it polls again (one that read
    /// records in this millisecond waits only for the next, when they can be scored): 1 for the
    /// lowest latency at moderate loads (about 4 ms less at the median, for about a fifth more
    /// CPU), more to gather larger batches.
    #[arg(long, default_value_t = JobConfig::POLL_WAIT.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    poll_wait_ms: u64,
    /// Records of one key that may wait for its first model, per worker.
    #[arg(long, default_value_t = ServingConfig::PENDING_LIMIT)]
    pending_limit: usize,
    /// Milliseconds a record may wait for the first model of its key.
    #[arg(long, default_value_t = ServingConfig::PENDING_TIMEOUT.as_millis() as u64)]
    pending_timeout_ms: u64,
    /// Milliseconds between commits of the data offsets the output has passed.
    #[arg(long, default_value_t = JobConfig::COMMIT_INTERVAL.as_millis() as u64)]
    commit_interval_ms: u64,
    /// Milliseconds the output may fall behind the data read (records waiting for a model
    /// build or for a slow worker) before the job stops reading data until it catches up.
    #[arg(long, default_value_t = JobConfig::MAX_LAG.as_millis() as u64)]
    max_lag_ms: u64,
    /// Versions of each dataType's model kept ready for rollbacks, canaries, shadows and
    /// ensembles (more only while more are in use).
    #[arg(long, default_value_t = modelserver::pipeline::lifecycle::VERSIONS_KEPT)]
    versions: usize,
    /// Exit once no input has seen a message for this many seconds.
    #[arg(long)]
    exit_when_idle: Option<f64>,
    /// Seconds of ingestion time the monitoring dataflow's window covers (GET /monitor).
    #[arg(long, default_value_t = MonitorConfig::default().window.as_secs())]
    monitor_window_s: u64,
    /// Milliseconds between two slides of the monitoring window (and readings of it).
    #[arg(long, default_value_t = MonitorConfig::default().tick.as_millis() as u64)]
    monitor_tick_ms: u64,
    /// The population stability index above which a window has drifted from its reference.
    #[arg(long, default_value_t = MonitorConfig::default().drift_threshold)]
    drift_threshold: f64,
    /// Run no monitoring dataflow.
    #[arg(long)]
    no_monitor: bool,
    /// Answer state queries (GET /models, /models/{dataType}, /monitor, /health, /metrics) on this address;
    /// process p of a job listens on the port plus p.
    #[arg(long)]
    state_addr: Option<std::net::SocketAddr>,
    /// Milliseconds between statistics events of the keys whose figures changed.
    #[arg(long, default_value_t = ServingConfig::STATS_INTERVAL.as_millis() as u64)]
    stats_interval_ms: u64,
    /// Keep no per-model statistics (loads, swaps and failures are still reported).
    #[arg(long)]
    no_stats: bool,
    /// Append state events to this JSON-lines file.
    #[arg(long)]
    state_log: Option<std::path::PathBuf>,
    /// Send state events to this Kafka topic (keyed by dataType).
    #[arg(long)]
    state_topic: Option<String>,
    /// Send timely's own events (operators, channels, scheduling, messages, progress) to the
    /// state-event destinations too (the tracing log at debug level when none is given).
    #[arg(long)]
    timely_events: bool,
    /// Deliver every result exactly once: transactions of results and data offsets, one
    /// transactional producer per worker (consumers of the results read committed messages).
    #[arg(long)]
    exactly_once: bool,
    /// The topic of what the job gives up on (records and models that do not decode or load,
    /// results Kafka refuses); default: the data topic's name with `-dead-letters` after it.
    #[arg(long)]
    dead_letter_topic: Option<String>,
    /// Keep no dead letters (what the job gives up on is only logged and counted).
    #[arg(long, conflicts_with = "dead_letter_topic")]
    no_dead_letters: bool,
    /// The directory models may be read from by `location` (none: locations are refused).
    #[arg(long)]
    model_root: Option<PathBuf>,
    /// The most bytes a model may have, inline or in a file.
    #[arg(long, default_value_t = ModelSource::MAX_BYTES)]
    max_model_bytes: u64,
    /// Milliseconds a model may take to build before it is given up.
    #[arg(long, default_value_t = ServingConfig::BUILD_TIMEOUT.as_millis() as u64)]
    model_build_timeout_ms: u64,
    /// Seconds a key with no model may see nothing before its state is forgotten.
    #[arg(long, default_value_t = ServingConfig::KEY_IDLE_TIMEOUT.as_secs())]
    key_idle_timeout_s: u64,
    /// Seconds the Kafka cluster may take to answer at start-up before the job gives up.
    #[arg(long, default_value_t = JobConfig::STARTUP_TIMEOUT.as_secs())]
    startup_timeout_s: u64,
    /// Seconds the process may take to stop after SIGTERM before it exits regardless.
    #[arg(long, default_value_t = 10)]
    shutdown_timeout_s: u64,
    /// The bearer token the state endpoint asks for (needed unless it listens on loopback).
    #[arg(long, env = "MODELSERVER_STATE_TOKEN", hide_env_values = true)]
    state_token: Option<String>,
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

fn main() -> Result<()> {
    cli::allocator::tune();
    init_logging();
    exit_on_panic();
    let args = Args::parse();
    let timely = args.cluster.timely_config()?;
    let shutdown_timeout = Duration::from_secs(args.shutdown_timeout_s);
    let record = args.record;
    let job = Job::new(job_config(args))?;
    stop_on_signal(job.stop_flag(), shutdown_timeout)?;
    match record {
        RecordKind::Wine => job.run::<WineRecord>(timely)?,
        RecordKind::Features => job.run::<FeatureRecord>(timely)?,
    };
    Ok(())
}

/// The job the options describe.
fn job_config(args: Args) -> JobConfig {
    let mut config = JobConfig::new(args.kafka.config(), args.pipeline);
    config.data_topic = args.data_topic;
    config.models_topic = args.models_topic;
    config.results_topic = (!args.no_results_topic).then_some(args.results_topic);
    config.dead_letters = match (args.no_dead_letters, args.dead_letter_topic) {
        (true, _) => DeadLetterTopic::Off,
        (false, Some(name)) => DeadLetterTopic::Named(name),
        (false, None) => DeadLetterTopic::Derived,
    };
    config.group = args.group;
    config.print = args.print;
    config.exactly_once = args.exactly_once;
    config.batch_size = args.batch_size;
    config.poll_wait = Duration::from_millis(args.poll_wait_ms);
    config.serving = ServingConfig {
        pending_limit: args.pending_limit,
        pending_timeout: Duration::from_millis(args.pending_timeout_ms),
        stats_interval: (!args.no_stats).then(|| Duration::from_millis(args.stats_interval_ms)),
        build_timeout: Duration::from_millis(args.model_build_timeout_ms),
        key_idle_timeout: Duration::from_secs(args.key_idle_timeout_s),
        data_format: args.data_format,
        versions_kept: args.versions.max(1),
    };
    config.models = ModelSource::new(args.model_root, args.max_model_bytes);
    config.state = StateOptions {
        addr: args.state_addr,
        token: args.state_token,
        events_file: args.state_log,
        events_topic: args.state_topic,
        timely_events: args.timely_events,
    };
    config.monitor = (!args.no_monitor).then(|| MonitorConfig {
        window: Duration::from_secs(args.monitor_window_s.max(1)),
        tick: Duration::from_millis(args.monitor_tick_ms.max(1)),
        drift_threshold: args.drift_threshold,
    });
    config.commit_interval = Duration::from_millis(args.commit_interval_ms);
    config.max_lag = Duration::from_millis(args.max_lag_ms);
    config.startup_timeout = Duration::from_secs(args.startup_timeout_s);
    config.exit_when_idle = args.exit_when_idle.map(Duration::from_secs_f64);
    config
}

/// On SIGINT or SIGTERM, stops the job; if it has not exited `timeout` later (or on a second
/// signal), exits the process regardless: nothing beyond what was delivered is committed.
fn stop_on_signal(stop: Arc<AtomicBool>, timeout: Duration) -> Result<()> {
    ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::Relaxed) {
            eprintln!("error: stopping at once on a second signal");
            std::process::exit(130);
        }
        std::thread::spawn(move || {
            std::thread::sleep(timeout);
            eprintln!("error: the job did not stop within {timeout:?} of the signal; exiting");
            std::process::exit(1);
        });
    })?;
    Ok(())
}
