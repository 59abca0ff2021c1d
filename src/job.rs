//! The serving job: every worker reads its share of the data and models topics into timely
//! inputs stamped with the ingestion clock, runs the chosen pipeline, writes results, and commits
//! data offsets only behind the output frontier, once what they cover has been delivered.
//!
//! - **Models before data.** On start each worker reads its partitions of the models topic up to
//!   where they ended when it started, all at one instant of the ingestion clock, and reads no
//!   data before; the models input holds its frontier there meanwhile, so that no record of a
//!   later time is scored before every worker has handed over the models it had to restore.
//! - **At least once** (the default): results go out as they come; every
//!   [`JobConfig::commit_interval`] a worker waits for everything its process sent to be
//!   delivered, then commits the data offsets of the times the output frontier has passed. In a
//!   job of several processes the output frontier passes a time only once every process's
//!   producer has delivered that time's results ([`crate::pipeline::confirm`]).
//! - **Exactly once** ([`JobConfig::exactly_once`]): each result is delivered by the worker that
//!   read its record; the results of each ingestion time wait for the output frontier to pass it,
//!   then go out in one transaction with the data offsets of the same times.
//! - **Dead letters**: records and models that do not decode, records a model rejects or that no
//!   model came for, models that do not load and results Kafka refuses go to the dead-letter
//!   topic, and the job moves on.

mod mesh;

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use timely::dataflow::{InputHandleVec, ProbeHandle};
use timely::execute::execute_from;
use timely::worker::Worker;

use crate::kafka::admin::{
    ensure_compacted_topic, ensure_topics, topic_partitions, wait_for_cluster,
};
use crate::kafka::events::LineTopic;
use crate::kafka::offsets::OffsetLedger;
use crate::kafka::sink::{Delivered, OutputTopics, ResultSink, SentMark, TransactionalSink};
use crate::kafka::source::{PartitionSource, SourceOptions, StartAt};
use crate::kafka::KafkaConfig;
use crate::model::{panics_contained, ModelSource};
use crate::pipeline::ahead::HeldModels;
use crate::pipeline::{
    keyed, serving_dataflow, Delivery, Loader, MonitorConfig, Monitoring, PipelineKind, Serving,
    ServingConfig, ServingDataflow,
};
use crate::proto::ModelDescriptor;
use crate::record::lag::BrokerStatus;
use crate::record::{
    clock_ms, until_next_ms, DeadLetter, Origin, Record, Scored, Sourced, Stage, Time,
};
use crate::state::endpoint::StateServer;
use crate::state::{hooks, Counters, EventSinks, Forward, ProcessState, Reporter};

/// Everything a serving job needs to know.
#[derive(Clone, Debug)]
pub struct JobConfig {
    /// The Kafka cluster.
    pub kafka: KafkaConfig,
    /// The consumer group under which data offsets are committed.
    pub group: String,
    /// The topic of data records.
    pub data_topic: String,
    /// The topic of model descriptors.
    pub models_topic: String,
    /// The topic results go to, if any.
    pub results_topic: Option<String>,
    /// Where the inputs the job gives up on go.
    pub dead_letters: DeadLetterTopic,
    /// Which pipeline to run.
    pub pipeline: PipelineKind,
    /// How records wait for models, how long models may take to build, how records are encoded.
    pub serving: ServingConfig,
    /// Where models may be read from, and how large they may be.
    pub models: ModelSource,
    /// Whether results are delivered exactly once (transactions) rather than at least once.
    pub exactly_once: bool,
    /// Whether to print every result as a JSON line.
    pub print: bool,
    /// The most records a worker reads into one ingestion batch.
    pub batch_size: usize,
    /// How long a busy worker that read nothing parks before it polls again (a worker with
    /// records at hand never waits for more: it scores what it has; one that read records in
    /// this millisecond waits only for the next, when they can be scored). The wait gathers the
    /// next records into one batch.
    pub poll_wait: Duration,
    /// How long a worker that has read nothing for [`JobConfig::IDLE_AFTER`] parks at most:
    /// records arriving wake it at once ([`PartitionSource::wake_on_arrival`]), and so do its
    /// peers' messages and the model builds; this only bounds how late an idle worker notices
    /// the clock (commits, monitor ticks, a stop).
    pub idle_wait: Duration,
    /// How often data offsets are committed (and, exactly once, transactions).
    pub commit_interval: Duration,
    /// How far the output may fall behind the data read (records held waiting for a model
    /// build, for a slow worker, or for another process) before the workers stop reading data
    /// until it catches up: what bounds the records a job holds in memory.
    pub max_lag: Duration,
    /// How long the cluster may take to answer when the job starts.
    pub startup_timeout: Duration,
    /// Stop once no worker input has seen a message for this long (for batch runs and tests).
    pub exit_when_idle: Option<Duration>,
    /// How the job shows its state.
    pub state: StateOptions,
    /// How the job monitors what it serves (`None`: it does not).
    pub monitor: Option<MonitorConfig>,
}

/// Where a job's dead letters go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeadLetterTopic {
    /// The data topic's name with `-dead-letters` after it.
    Derived,
    /// This topic.
    Named(String),
    /// Nowhere: what the job gives up on is only logged and counted.
    Off,
}

impl DeadLetterTopic {
    /// The topic's name, for a job reading `data_topic`.
    pub fn name(&self, data_topic: &str) -> Option<String> {
        match self {
            DeadLetterTopic::Derived => Some(format!("{data_topic}-dead-letters")),
            DeadLetterTopic::Named(name) => Some(name.clone()),
            DeadLetterTopic::Off => None,
        }
    }
}

/// How a job shows its state: query endpoint and event destinations.
#[derive(Clone, Debug, Default)]
pub struct StateOptions {
    /// Where process 0 answers queries; process `p` listens on the port plus `p`.
    pub addr: Option<SocketAddr>,
    /// The bearer token the endpoint asks for (required unless it listens on loopback).
    pub token: Option<String>,
    /// A JSON-lines file that state events are appended to.
    pub events_file: Option<PathBuf>,
    /// A Kafka topic that state events are sent to (created with one partition if missing).
    pub events_topic: Option<String>,
    /// Whether timely's own events (operators, channels, scheduling, messages, progress) go to
    /// the event destinations too.
    pub timely_events: bool,
}

impl JobConfig {
    /// The default consumer group: the original system's.
    pub const GROUP: &'static str = "wineRecordsGroup";
    /// The default data topic: the original system's.
    pub const DATA_TOPIC: &'static str = "mdata";
    /// The default models topic: the original system's.
    pub const MODELS_TOPIC: &'static str = "models";
    /// The default results topic.
    pub const RESULTS_TOPIC: &'static str = "results";
    /// How long a worker reads nothing before it counts as idle: it then parks for up to
    /// [`JobConfig::idle_wait`], and records arriving wake it.
    pub const IDLE_AFTER: Duration = Duration::from_millis(100);
    /// The default [`JobConfig::batch_size`].
    pub const BATCH_SIZE: usize = 1024;
    /// The default [`JobConfig::poll_wait`].
    pub const POLL_WAIT: Duration = Duration::from_millis(5);
    /// The default [`JobConfig::commit_interval`].
    pub const COMMIT_INTERVAL: Duration = Duration::from_secs(1);
    /// The default [`JobConfig::max_lag`].
    pub const MAX_LAG: Duration = Duration::from_secs(5);
    /// The default [`JobConfig::startup_timeout`].
    pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

    /// A configuration with the original system's topic and group names and default tuning.
    pub fn new(kafka: KafkaConfig, pipeline: PipelineKind) -> Self {
        JobConfig {
            kafka,
            group: Self::GROUP.into(),
            data_topic: Self::DATA_TOPIC.into(),
            models_topic: Self::MODELS_TOPIC.into(),
            results_topic: Some(Self::RESULTS_TOPIC.into()),
            dead_letters: DeadLetterTopic::Derived,
            pipeline,
            serving: ServingConfig::default(),
            models: ModelSource::default(),
            exactly_once: false,
            print: false,
            batch_size: Self::BATCH_SIZE,
            poll_wait: Self::POLL_WAIT,
            idle_wait: Duration::from_millis(100),
            commit_interval: Self::COMMIT_INTERVAL,
            max_lag: Self::MAX_LAG,
            startup_timeout: Self::STARTUP_TIMEOUT,
            exit_when_idle: None,
            state: StateOptions::default(),
            monitor: Some(MonitorConfig::default()),
        }
    }

    /// The topics the job's output needs to know.
    fn output_topics(&self) -> OutputTopics {
        OutputTopics {
            results: self.results_topic.as_deref().map(Arc::from),
            dead_letters: self.dead_letters.name(&self.data_topic).map(Arc::from),
            data: self.data_topic.clone(),
            models: self.models_topic.clone(),
        }
    }
}

/// A serving job, ready to run on a timely configuration.
pub struct Job {
    config: JobConfig,
    /// Results (at least once) and the dead letters of models (both modes).
    sink: Arc<ResultSink>,
    events: Arc<EventSinks>,
    events_topic: Option<Arc<LineTopic>>,
    counters: Arc<Counters>,
    broker: Arc<BrokerStatus>,
    loader: Arc<Loader>,
    stop: Arc<AtomicBool>,
}

impl Job {
    /// Prepares a job: waits for the cluster (at most [`JobConfig::startup_timeout`]), creates
    /// the topics it writes if they are missing (results and dead letters with as many
    /// partitions as the data topic, the models topic compacted), connects the producers and
    /// opens the event destinations.
    pub fn new(config: JobConfig) -> Result<Self> {
        if config.exactly_once && config.results_topic.is_none() {
            bail!("the exactly-once mode needs a results topic");
        }
        wait_for_cluster(&config.kafka, config.startup_timeout)?;
        ensure_compacted_topic(&config.kafka, &config.models_topic, 1)?;
        let topics = config.output_topics();
        let partitions = topic_partitions(&config.kafka, &config.data_topic)?;
        for topic in topics.results.iter().chain(&topics.dead_letters) {
            ensure_topics(&config.kafka, &[(topic, partitions)])?;
        }
        let (events, events_topic) = open_events(&config)?;
        let broker = Arc::new(BrokerStatus::default());
        let stop = Arc::new(AtomicBool::new(false));
        let print = config.print && !config.exactly_once;
        let sink = ResultSink::new(&config.kafka, topics, print, broker.clone(), stop.clone())?;
        let loader = Loader::new(config.models.clone());
        Ok(Job {
            config,
            sink: Arc::new(sink),
            events: Arc::new(events),
            events_topic,
            counters: Arc::default(),
            broker,
            loader: Arc::new(loader),
            stop,
        })
    }

    /// A flag that, once set, makes every worker close its inputs, finish and exit.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Whether workers should close their inputs: when stopped, or idle for too long.
    fn should_stop(&self, last_read: Instant) -> bool {
        let idle_too_long = |idle| last_read.elapsed() > idle;
        self.stop.load(Ordering::Relaxed) || self.config.exit_when_idle.is_some_and(idle_too_long)
    }

    /// The counters of this process.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// Runs the job on the workers `timely` describes, until stopped or idle, answering state
    /// queries meanwhile if asked to; returns the process's counters.
    pub fn run<R: Record>(self, timely: timely::Config) -> Result<Arc<Counters>> {
        quiet_contained_panics();
        let counters = self.counters.clone();
        let (process_index, workers) = local_workers(&timely);
        let process = Arc::new(ProcessState::new(
            process_index,
            workers,
            self.config.pipeline,
            counters.clone(),
            self.broker.clone(),
        ));
        let server = self
            .config
            .state
            .addr
            .map(|addr| {
                let addr = process_addr(addr, process_index)?;
                StateServer::start(addr, self.config.state.token.clone(), process.clone())
            })
            .transpose()?;
        let events_topic = self.events_topic.clone();
        let sink = self.sink.clone();
        let job = Arc::new(self);
        let (allocators, network) = mesh::build(timely.communication)?;
        let guards = execute_from(allocators, network, timely.worker, move |worker| {
            let outcome = run_worker::<R>(worker, &job, &process);
            if outcome.is_err() {
                process.worker_failed();
            }
            outcome
        })
        .map_err(|error| anyhow!(error))?;
        for result in guards.join() {
            result.map_err(|error| anyhow!("a worker panicked: {error}"))??;
        }
        drop(server);
        if sink.flush(Some(Duration::from_secs(10))) == Delivered::Interrupted {
            tracing::warn!("some dead letters of models were not delivered");
        }
        if let Some(topic) = events_topic {
            topic.flush(Duration::from_secs(10));
        }
        tracing::info!("job finished: {}", counters.summary());
        Ok(counters)
    }
}

/// The state-event destinations of a job: the tracing log, the file, and the topic (which the
/// job also keeps, to flush it at the end).
fn open_events(config: &JobConfig) -> Result<(EventSinks, Option<Arc<LineTopic>>)> {
    let state = &config.state;
    let events_topic = state
        .events_topic
        .as_deref()
        .map(|name| -> Result<Arc<LineTopic>> {
            ensure_topics(&config.kafka, &[(name, 1)])?;
            Ok(Arc::new(LineTopic::new(&config.kafka, name)?))
        })
        .transpose()?;
    let forward = events_topic
        .clone()
        .map(|topic| -> Forward { Box::new(move |key: &str, line: &str| topic.send(key, line)) });
    let events = EventSinks::open(state.events_file.as_deref(), forward)?;
    Ok((events, events_topic))
}

/// Makes the process stop at the first panic outside a contained model call: one line on
/// standard error and exit status 101, instead of a cascade of panics through the workers and
/// processes of a job (a timely job is fail-stop). A lost connection to another process of the
/// job is said as such. Panics inside model libraries, which the job contains, are not printed.
pub fn exit_on_panic() {
    std::panic::set_hook(Box::new(|info| {
        if panics_contained() {
            return;
        }
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|message| message.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("a thread");
        if message.starts_with("timely communication error") {
            eprintln!(
                "error: lost the connection to another process of the job ({message}); \
                 stopping: restart every process of the job to resume"
            );
            std::process::exit(2);
        }
        let place = info
            .location()
            .map(|location| format!(" at {location}"))
            .unwrap_or_default();
        eprintln!("error: {thread} panicked{place}: {message}; stopping");
        std::process::exit(101);
    }));
}

/// Quiets panics inside contained model calls (they become model errors), leaving every other
/// panic to the hook there was.
pub fn quiet_contained_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !panics_contained() {
                previous(info);
            }
        }));
    });
}

/// This process's index and the global indices of its workers, under `config`.
fn local_workers(config: &timely::Config) -> (usize, Vec<usize>) {
    use timely::CommunicationConfig as Communication;
    match &config.communication {
        Communication::Thread => (0, vec![0]),
        Communication::Process(threads) | Communication::ProcessBinary(threads) => {
            (0, (0..*threads).collect())
        }
        Communication::Cluster {
            threads, process, ..
        } => (
            *process,
            (process * threads..(process + 1) * threads).collect(),
        ),
    }
}

/// The address process `index` answers queries on: the base port plus its index.
fn process_addr(base: SocketAddr, index: usize) -> Result<SocketAddr> {
    let port = usize::from(base.port()) + index;
    let port =
        u16::try_from(port).with_context(|| format!("no state port {} + {index}", base.port()))?;
    Ok(SocketAddr::new(
        base.ip(),
        if base.port() == 0 { 0 } else { port },
    ))
}

/// Where one worker's results and dead letters go.
enum WorkerOutput {
    /// At least once: through the process's sink, as they come.
    Shared(Arc<ResultSink>),
    /// Exactly once: staged by time in the worker's transactions, with the results the dataflow
    /// hands over.
    Transactional {
        sink: Box<TransactionalSink>,
        delivered: Rc<RefCell<Vec<(Time, Scored)>>>,
    },
}

impl WorkerOutput {
    /// Gives up on a data record read at `time`.
    fn dead_letter(&mut self, time: Time, letter: &DeadLetter) {
        match self {
            WorkerOutput::Shared(sink) => sink.dead_letter(letter),
            WorkerOutput::Transactional { sink, .. } => sink.stage_dead_letter(time, letter),
        }
    }

    /// Takes in what the dataflow delivered since the last call.
    fn collect(&mut self) {
        if let WorkerOutput::Transactional { sink, delivered } = self {
            for (time, scored) in delivered.borrow_mut().drain(..) {
                sink.stage_result(time, &scored);
            }
        }
    }
}

/// One worker's inputs and sources.
struct WorkerInputs<R: Record> {
    data: InputHandleVec<Time, Sourced<R>>,
    models: InputHandleVec<Time, Sourced<ModelDescriptor>>,
    data_source: PartitionSource,
    model_source: PartitionSource,
    /// Models read while serving, held back until they are built.
    held_models: HeldModels,
    /// Keeps a flood of bad inputs from flooding the log too.
    bad_input_log: LogThrottle,
}

/// Log lines about bad inputs: at most [`LogThrottle::BURST`] in each [`LogThrottle::WINDOW`];
/// the rest are counted, and their number logged in one line once the window is over. Every bad
/// input is on the dead-letter topic and in the counters whether logged or not.
struct LogThrottle {
    window_start: Instant,
    logged: u32,
    held_back: u64,
}

impl LogThrottle {
    const BURST: u32 = 10;
    const WINDOW: Duration = Duration::from_secs(10);

    fn new(now: Instant) -> Self {
        LogThrottle {
            window_start: now,
            logged: 0,
            held_back: 0,
        }
    }

    /// Whether one more line may be logged at `now`. The first call after a window with lines
    /// held back returns their number too, for a summary line.
    fn admit(&mut self, now: Instant) -> (bool, Option<u64>) {
        let mut held_back = None;
        if now.duration_since(self.window_start) >= Self::WINDOW {
            held_back = (self.held_back > 0).then_some(self.held_back);
            *self = LogThrottle::new(now);
        }
        if self.logged < Self::BURST {
            self.logged += 1;
            return (true, held_back);
        }
        self.held_back += 1;
        (false, held_back)
    }

    /// Logs `line` about a bad input, if admitted.
    fn warn(&mut self, line: impl FnOnce()) {
        let (admitted, held_back) = self.admit(Instant::now());
        if let Some(count) = held_back {
            tracing::warn!(
                "{count} more bad inputs were not logged in the last {} s (each is on the \
                 dead-letter topic and counted in /metrics)",
                Self::WINDOW.as_secs()
            );
        }
        if admitted {
            line();
        }
    }
}

impl<R: Record> WorkerInputs<R> {
    /// Moves the clock on (the models input only once the models read at start are all in) and
    /// reads one batch of models, then, once they are and unless `hold_data`, one batch of data
    /// records; returns the time, the data offsets read and whether anything was read.
    fn read_batch(
        &mut self,
        hold_data: bool,
        config: &JobConfig,
        counters: &Counters,
        output: &mut WorkerOutput,
        model_dead_letters: &ResultSink,
    ) -> (Time, BTreeMap<i32, i64>, bool) {
        let restoring = !self.model_source.caught_up();
        let now = clock_ms().max(*self.data.time());
        self.data.advance_to(now);
        if !restoring {
            self.models.advance_to(now);
        }
        let models_read = self.read_models(restoring, config, counters, model_dead_letters);
        let models_released = self.held_models.release(|model| self.models.send(model)) > 0;
        let models_moved = !models_read.is_empty() || models_released;
        if restoring || hold_data {
            return (now, BTreeMap::new(), models_moved);
        }
        let data = &mut self.data;
        let log = &mut self.bad_input_log;
        let mut records_read = 0;
        let data_read = self.data_source.poll_batch(
            config.batch_size,
            Duration::ZERO,
            |partition, offset, payload| {
                records_read += 1;
                let origin = Origin { partition, offset };
                match decode_record::<R>(payload, config) {
                    Ok(record) => data.send(Sourced { origin, record }),
                    Err(reason) => {
                        counters.malformed_records.inc();
                        log.warn(|| {
                            tracing::warn!(partition, offset, "a malformed data record: {reason}")
                        });
                        output.dead_letter(
                            now,
                            &DeadLetter {
                                stage: Stage::RecordDecode,
                                origin: Some(origin),
                                key: String::new(),
                                payload: payload.unwrap_or_default().to_vec(),
                                reason,
                            },
                        );
                    }
                }
            },
        );
        counters.records_read.add(records_read);
        let read_any = models_moved || !data_read.is_empty();
        (now, data_read, read_any)
    }

    /// Reads a batch of model descriptors into the models input (while `restoring`) or into
    /// the held models, to enter the input once built; those that do not decode go to the dead
    /// letters.
    fn read_models(
        &mut self,
        restoring: bool,
        config: &JobConfig,
        counters: &Counters,
        dead_letters: &ResultSink,
    ) -> BTreeMap<i32, i64> {
        let (models, held) = (&mut self.models, &mut self.held_models);
        let log = &mut self.bad_input_log;
        let max_bytes = config.models.max_bytes;
        self.model_source
            .poll_batch(256, Duration::ZERO, |partition, offset, payload| {
                let origin = Origin { partition, offset };
                let Some(payload) = payload else {
                    tracing::debug!(partition, offset, "a tombstone on the models topic");
                    return;
                };
                match decode_model(payload, max_bytes) {
                    Ok(record) => {
                        let model = Sourced { origin, record };
                        match restoring {
                            true => models.send(model),
                            false => held
                                .hold(model)
                                .into_iter()
                                .for_each(|model| models.send(model)),
                        }
                    }
                    Err(reason) => {
                        counters.malformed_models.inc();
                        log.warn(|| {
                            tracing::warn!(partition, offset, "a malformed model message: {reason}")
                        });
                        dead_letters.dead_letter(&DeadLetter {
                            stage: Stage::ModelDecode,
                            origin: Some(origin),
                            key: String::new(),
                            payload: payload.to_vec(),
                            reason,
                        });
                    }
                }
            })
    }
}

/// Whether a key's models are served in this process: every key's in the flat pipeline, in the
/// keyed one those of the keys routed to a worker of this process.
fn served_here(
    pipeline: PipelineKind,
    process: Arc<ProcessState>,
    peers: usize,
) -> Box<dyn Fn(&str) -> bool> {
    match pipeline {
        PipelineKind::Flat => Box::new(|_| true),
        PipelineKind::Keyed => {
            Box::new(move |key| process.runs_worker(keyed::worker_of(key, peers)))
        }
    }
}

/// A data record from its payload, or why not.
fn decode_record<R: Record>(payload: Option<&[u8]>, config: &JobConfig) -> Result<R, String> {
    let payload = payload.ok_or("the message has no payload")?;
    let record =
        R::decode(payload, config.serving.data_format).map_err(|error| error.to_string())?;
    if record.data_type().is_empty() {
        return Err("the record has no dataType".into());
    }
    Ok(record)
}

/// A model descriptor from its payload, or why not.
fn decode_model(payload: &[u8], max_bytes: u64) -> Result<ModelDescriptor, String> {
    if payload.len() as u64 > max_bytes {
        return Err(format!(
            "the model message has {} bytes, more than the limit of {max_bytes} (--max-model-bytes)",
            payload.len()
        ));
    }
    let descriptor = <ModelDescriptor as prost::Message>::decode(payload)
        .map_err(|error| format!("not a model descriptor: {error}"))?;
    if descriptor.data_type.is_empty() {
        return Err("the model descriptor names no dataType".into());
    }
    Ok(descriptor)
}

fn run_worker<R: Record>(
    worker: &mut Worker,
    job: &Arc<Job>,
    process: &Arc<ProcessState>,
) -> Result<()> {
    let config = &job.config;
    let (index, peers) = (worker.index(), worker.peers());
    hooks::register(
        worker,
        process.clone(),
        job.events.clone(),
        config.state.timely_events,
    );
    let model_dead_letters = job.sink.clone();
    let reporter = Reporter::for_worker(worker, job.counters.clone()).with_dead_letters(Arc::new(
        move |letter| model_dead_letters.dead_letter(&letter),
    ));
    let serving = Serving {
        kind: config.pipeline,
        config: config.serving,
        reporter,
        loader: job.loader.clone(),
        process_workers: process.workers().to_vec(),
        delivery: delivery(
            config,
            &job.sink,
            (0..peers).all(|w| process.runs_worker(w)),
        ),
        monitoring: config.monitor.map(|config| Monitoring {
            config,
            monitors: process.monitors().clone(),
        }),
    };
    let (mut output, dataflow) = match config.exactly_once {
        false => {
            let deliver = {
                let job = job.clone();
                move |_time, scored: &Scored| {
                    job.sink.write(scored);
                    job.counters.results_written.inc();
                }
            };
            let dataflow = serving_dataflow::<R>(worker, serving, deliver);
            (WorkerOutput::Shared(job.sink.clone()), dataflow)
        }
        true => {
            let id = format!("modelserver-{}-{index}", config.group);
            let topics = config.output_topics();
            let sink = TransactionalSink::new(
                &config.kafka,
                &id,
                topics,
                config.print,
                job.broker.clone(),
            )?;
            let delivered = Rc::new(RefCell::new(Vec::new()));
            let deliver = {
                let (delivered, counters) = (delivered.clone(), job.counters.clone());
                move |time, scored: &Scored| {
                    delivered.borrow_mut().push((time, scored.clone()));
                    counters.results_written.inc();
                }
            };
            let dataflow = serving_dataflow::<R>(worker, serving, deliver);
            let output = WorkerOutput::Transactional {
                sink: Box::new(sink),
                delivered,
            };
            (output, dataflow)
        }
    };
    let ServingDataflow {
        data,
        models,
        probe,
        mut monitor,
    } = dataflow;
    let source = |topic: &str, start, track_end| {
        let options = SourceOptions {
            track_end,
            lag: Some(process.lag().clone()),
            broker: Some(job.broker.clone()),
            ..SourceOptions::starting(start)
        };
        PartitionSource::assign(&config.kafka, &config.group, topic, (index, peers), options)
    };
    let mut data_source = source(&config.data_topic, StartAt::Committed, false)?;
    let mut model_source = source(&config.models_topic, StartAt::Beginning, true)?;
    let idle = Arc::new(AtomicBool::new(false));
    let this_worker = std::thread::current();
    data_source.wake_on_arrival(this_worker.clone(), idle.clone());
    model_source.wake_on_arrival(this_worker, idle.clone());
    tracing::info!(worker = index, data_partitions = ?data_source.partitions(), model_partitions = ?model_source.partitions(), pipeline = %config.pipeline, exactly_once = config.exactly_once, "worker started");
    let mut inputs = WorkerInputs {
        data,
        models,
        data_source,
        model_source,
        held_models: HeldModels::new(
            job.loader.clone(),
            R::FEATURES,
            config.serving.build_timeout,
            served_here(config.pipeline, process.clone(), peers),
        ),
        bad_input_log: LogThrottle::new(Instant::now()),
    };
    process.worker_started();
    let mut committer = Committer::new(config.commit_interval);
    let mut last_read = Instant::now();
    // When the worker began reading data (its models restored): the output cannot be behind
    // what was read before.
    let mut reading_since: Option<Time> = None;
    let mut holding_data = false;
    // The time of the last batch that read data.
    let mut data_time: Option<Time> = None;
    while !job.should_stop(last_read) {
        let output_frontier = probe.with_frontier(|frontier| frontier.first().copied());
        let now = clock_ms();
        let since = reading_since.unwrap_or(now);
        let output_frontier = output_frontier.map(|frontier| frontier.max(since));
        let hold_data = too_far_behind(output_frontier, now, config.max_lag);
        if hold_data != holding_data {
            holding_data = hold_data;
            match hold_data {
                true => {
                    tracing::info!(worker = index, max_lag = ?config.max_lag, "the output is behind the data read by more than the most allowed: reading no data until it catches up")
                }
                false => tracing::info!(worker = index, "the output caught up: reading data again"),
            }
        }
        // Set before reading: a record arriving after this read wakes an idle worker.
        let idle_now = last_read.elapsed() > JobConfig::IDLE_AFTER;
        idle.store(idle_now, Ordering::Relaxed);
        let (time, data_read, read_any) =
            inputs.read_batch(hold_data, config, &job.counters, &mut output, &job.sink);
        if reading_since.is_none() && inputs.model_source.caught_up() {
            reading_since = Some(time);
            tracing::info!(worker = index, "models restored; reading data");
        }
        if !data_read.is_empty() {
            data_time = Some(time);
        }
        committer.ledger.record(time, data_read);
        if hold_data {
            // Not idle: records wait to be scored.
            last_read = Instant::now();
        }
        if read_any {
            last_read = Instant::now();
            worker.step();
        } else {
            let wait = match idle_now {
                true => config.idle_wait,
                // Records read in this millisecond are scored once the inputs' time moves past
                // it: wake for the next millisecond, not a whole poll wait later.
                false if data_time == Some(time) => until_next_ms().min(config.poll_wait),
                false => config.poll_wait,
            };
            worker.step_or_park(Some(wait));
        }
        output.collect();
        if let Some(monitor) = &mut monitor {
            monitor.publish();
        }
        if committer.is_due() {
            committer.commit(&probe, &inputs.data_source, &mut output, job)?;
        } else if committer.awaits_delivery() {
            if let WorkerOutput::Shared(sink) = &output {
                committer.commit_delivered(sink, &inputs.data_source)?;
            }
        }
    }
    process.stopping();
    let WorkerInputs {
        data,
        models,
        data_source,
        ..
    } = inputs;
    drop((data, models));
    while !job.stop_now() && worker.step_or_park(Some(Duration::from_millis(10))) {
        output.collect();
    }
    output.collect();
    committer.finish(&probe, &data_source, &mut output, job)?;
    tracing::info!(worker = index, "worker finished");
    Ok(())
}

/// How a worker's results are delivered. Exactly once, by the worker that read the record, in
/// its transaction. At least once, by the worker that scored it: a process commits the offsets
/// its workers read once its own producer has delivered what it sent and the output frontier
/// has passed their times; with more than one process, the frontier also waits for each
/// process's producer to deliver what it sent (else a process could die with a result unsent
/// whose record's offset another process committed).
fn delivery(config: &JobConfig, sink: &Arc<ResultSink>, one_process: bool) -> Delivery {
    match (config.exactly_once, one_process) {
        (true, _) => Delivery::WhereRead,
        (false, true) => Delivery::WhereScored,
        (false, false) => Delivery::Confirmed(sink.clone()),
    }
}

/// Whether the output, at `frontier`, is more than `max_lag` behind the clock (`now`): the
/// records read since are held in memory, and no more should be read until it catches up.
fn too_far_behind(frontier: Option<Time>, now: Time, max_lag: Duration) -> bool {
    frontier.is_some_and(|frontier| now.saturating_sub(frontier) > max_lag.as_millis() as Time)
}

impl Job {
    /// Whether the job must stop without waiting for its dataflow to drain: it was asked to
    /// stop, and the cluster has been unreachable for a while (nothing could be delivered).
    fn stop_now(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
            && self
                .broker
                .unreachable_for()
                .is_some_and(|outage| outage > Duration::from_secs(2))
    }
}

/// Commits data offsets behind the output frontier, once the results are delivered.
struct Committer {
    ledger: OffsetLedger,
    interval: Duration,
    last: Instant,
    /// At least once: offsets whose results were sent before a mark, waiting for the mark to
    /// be delivered, oldest first.
    awaiting: VecDeque<(SentMark, BTreeMap<i32, i64>)>,
}

impl Committer {
    fn new(interval: Duration) -> Self {
        Committer {
            ledger: OffsetLedger::default(),
            interval,
            last: Instant::now(),
            awaiting: VecDeque::new(),
        }
    }

    fn is_due(&self) -> bool {
        self.last.elapsed() >= self.interval
    }

    /// Commits the offsets of the times before the output frontier: at least once, once every
    /// result sent before now is delivered (this call only marks them, and commits what earlier
    /// marks made safe: the worker never waits); exactly once, in a transaction with their
    /// results.
    fn commit(
        &mut self,
        probe: &ProbeHandle<Time>,
        source: &PartitionSource,
        output: &mut WorkerOutput,
        job: &Job,
    ) -> Result<()> {
        self.last = Instant::now();
        let frontier = probe.with_frontier(|frontier| frontier.first().copied());
        let complete = self.ledger.take_complete(frontier);
        match output {
            WorkerOutput::Shared(sink) => {
                if !complete.is_empty() {
                    self.awaiting.push_back((sink.mark(), complete));
                }
                self.commit_delivered(sink, source)
            }
            WorkerOutput::Transactional { sink, .. } => {
                let group = source
                    .group_metadata()
                    .context("the data consumer has no group metadata")?;
                let data_topic = &job.config.data_topic;
                sink.commit(frontier, &complete, data_topic, &group, &job.stop)?;
                Ok(())
            }
        }
    }

    /// At least once: commits the newest offsets whose results are all delivered.
    fn commit_delivered(&mut self, sink: &ResultSink, source: &PartitionSource) -> Result<()> {
        let mut safe: BTreeMap<i32, i64> = BTreeMap::new();
        while let Some((mark, _)) = self.awaiting.front() {
            match sink.delivered(*mark) {
                Some(Delivered::All) => {
                    let (_, offsets) = self.awaiting.pop_front().expect("a front");
                    safe.extend(offsets);
                }
                Some(Delivered::Interrupted) => {
                    self.awaiting.clear();
                    return Ok(());
                }
                None => break,
            }
        }
        match safe.is_empty() {
            true => Ok(()),
            false => source.commit(&safe),
        }
    }

    /// Whether offsets wait for their results to be delivered.
    fn awaits_delivery(&self) -> bool {
        !self.awaiting.is_empty()
    }

    /// The last commit of a worker: waits for everything sent to be delivered (at least once),
    /// then commits every offset behind the output frontier.
    fn finish(
        &mut self,
        probe: &ProbeHandle<Time>,
        source: &PartitionSource,
        output: &mut WorkerOutput,
        job: &Job,
    ) -> Result<()> {
        if let WorkerOutput::Shared(sink) = output {
            if sink.flush(None) == Delivered::Interrupted {
                return Ok(());
            }
        }
        self.commit(probe, source, output, job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_held_back_only_while_the_output_is_too_far_behind() {
        let max_lag = Duration::from_secs(5);
        assert!(!too_far_behind(Some(10_000), 14_000, max_lag));
        assert!(!too_far_behind(Some(10_000), 15_000, max_lag));
        assert!(too_far_behind(Some(10_000), 15_001, max_lag));
        assert!(
            !too_far_behind(None, 15_001, max_lag),
            "a finished output holds nothing"
        );
        assert!(
            !too_far_behind(Some(20_000), 15_000, max_lag),
            "a clock set back"
        );
    }

    #[test]
    fn a_flood_of_bad_inputs_is_logged_in_bursts_and_counted() {
        let start = Instant::now();
        let mut throttle = LogThrottle::new(start);
        let admitted = (0..1000).filter(|_| throttle.admit(start).0).count();
        assert_eq!(admitted, LogThrottle::BURST as usize);
        let next_window = start + LogThrottle::WINDOW;
        assert_eq!(throttle.admit(next_window), (true, Some(990)));
        assert_eq!(
            throttle.admit(next_window + LogThrottle::WINDOW),
            (true, None)
        );
    }
}
