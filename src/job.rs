//! The serving job: every worker reads its share of the data and models topics into timely
//! inputs stamped with the ingestion clock, runs the chosen pipeline, writes results, and commits
//! data offsets only behind the output frontier (after the results are flushed to Kafka).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use timely::dataflow::{InputHandleVec, ProbeHandle};
use timely::worker::Worker;

use crate::kafka::admin::{ensure_topics, topic_partitions};
use crate::kafka::events::LineTopic;
use crate::kafka::offsets::OffsetLedger;
use crate::kafka::sink::ResultSink;
use crate::kafka::source::{PartitionSource, StartAt};
use crate::kafka::KafkaConfig;
use crate::pipeline::{serving_dataflow, PipelineKind, ServingConfig, ServingDataflow};
use crate::proto::ModelDescriptor;
use crate::record::{clock_ms, Origin, PayloadFormat, Record, Sourced, Time};
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
    /// Which pipeline to run.
    pub pipeline: PipelineKind,
    /// How records wait for a first model.
    pub serving: ServingConfig,
    /// How data payloads are encoded.
    pub data_format: PayloadFormat,
    /// Whether to print every result as a JSON line.
    pub print: bool,
    /// The most records a worker reads into one ingestion batch.
    pub batch_size: usize,
    /// The longest a worker waits for records before it moves its clock on.
    pub poll_wait: Duration,
    /// How often data offsets are committed.
    pub commit_interval: Duration,
    /// Stop once no worker input has seen a message for this long (for batch runs and tests).
    pub exit_when_idle: Option<Duration>,
    /// How the job shows its state.
    pub state: StateOptions,
}

/// How a job shows its state: query endpoint and event destinations.
#[derive(Clone, Debug, Default)]
pub struct StateOptions {
    /// Where process 0 answers queries; process `p` listens on the port plus `p`.
    pub addr: Option<SocketAddr>,
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
    /// The default [`JobConfig::batch_size`].
    pub const BATCH_SIZE: usize = 1024;
    /// The default [`JobConfig::commit_interval`].
    pub const COMMIT_INTERVAL: Duration = Duration::from_secs(1);

    /// A configuration with the original system's topic and group names and default tuning.
    pub fn new(kafka: KafkaConfig, pipeline: PipelineKind) -> Self {
        JobConfig {
            kafka,
            group: Self::GROUP.into(),
            data_topic: Self::DATA_TOPIC.into(),
            models_topic: Self::MODELS_TOPIC.into(),
            results_topic: Some(Self::RESULTS_TOPIC.into()),
            pipeline,
            serving: ServingConfig::default(),
            data_format: PayloadFormat::Protobuf,
            print: false,
            batch_size: Self::BATCH_SIZE,
            poll_wait: Duration::from_millis(5),
            commit_interval: Self::COMMIT_INTERVAL,
            exit_when_idle: None,
            state: StateOptions::default(),
        }
    }
}

/// A serving job, ready to run on a timely configuration.
pub struct Job {
    config: JobConfig,
    sink: ResultSink,
    events: Arc<EventSinks>,
    events_topic: Option<Arc<LineTopic>>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
}

impl Job {
    /// Prepares a job: creates the results topic if it is missing (with as many partitions as
    /// the data topic) and the state-event topic if one is asked for, connects the results
    /// producer and opens the event destinations.
    pub fn new(config: JobConfig) -> Result<Self> {
        if let Some(results_topic) = &config.results_topic {
            let partitions = topic_partitions(&config.kafka, &config.data_topic)?;
            ensure_topics(&config.kafka, &[(results_topic, partitions)])?;
        }
        let state = &config.state;
        let events_topic = state
            .events_topic
            .as_deref()
            .map(|name| -> Result<Arc<LineTopic>> {
                ensure_topics(&config.kafka, &[(name, 1)])?;
                Ok(Arc::new(LineTopic::new(&config.kafka, name)?))
            })
            .transpose()?;
        let forward = events_topic.clone().map(|topic| -> Forward {
            Box::new(move |key: &str, line: &str| topic.send(key, line))
        });
        let events = EventSinks::open(state.events_file.as_deref(), forward)?;
        let sink = ResultSink::new(
            &config.kafka,
            config.results_topic.clone(),
            &config.data_topic,
            config.print,
        )?;
        Ok(Job {
            config,
            sink,
            events: Arc::new(events),
            events_topic,
            counters: Arc::default(),
            stop: Arc::default(),
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
        let counters = self.counters.clone();
        let (process_index, workers) = local_workers(&timely);
        let process = Arc::new(ProcessState::new(
            process_index,
            workers,
            self.config.pipeline,
            counters.clone(),
        ));
        let server = self
            .config
            .state
            .addr
            .map(|addr| StateServer::start(process_addr(addr, process_index)?, process.clone()))
            .transpose()?;
        let events_topic = self.events_topic.clone();
        let job = Arc::new(self);
        let guards = timely::execute(timely, move |worker| {
            run_worker::<R>(worker, &job, &process)
        })
        .map_err(|error| anyhow!(error))?;
        for result in guards.join() {
            result.map_err(|error| anyhow!("a worker panicked: {error}"))??;
        }
        drop(server);
        if let Some(topic) = events_topic {
            topic.flush(Duration::from_secs(10));
        }
        tracing::info!("job finished: {}", counters.summary());
        Ok(counters)
    }
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

/// One worker's inputs and sources.
struct WorkerInputs<R: Record> {
    data: InputHandleVec<Time, Sourced<R>>,
    models: InputHandleVec<Time, ModelDescriptor>,
    data_source: PartitionSource,
    model_source: PartitionSource,
}

impl<R: Record> WorkerInputs<R> {
    /// Moves the clock on and reads one batch of each topic; returns the data offsets read and
    /// whether anything was read.
    fn read_batch(
        &mut self,
        config: &JobConfig,
        counters: &Counters,
    ) -> (Time, std::collections::BTreeMap<i32, i64>, bool) {
        let now = clock_ms().max(*self.data.time());
        self.data.advance_to(now);
        self.models.advance_to(now);
        let models = &mut self.models;
        let models_read =
            self.model_source
                .poll_batch(64, Duration::ZERO, |partition, offset, payload| {
                    match <ModelDescriptor as prost::Message>::decode(payload) {
                        Ok(descriptor) => models.send(descriptor),
                        Err(error) => {
                            counters.malformed_models.inc();
                            tracing::warn!(
                                partition,
                                offset,
                                "skipping a malformed model message: {error}"
                            );
                        }
                    }
                });
        let data = &mut self.data;
        let mut records_read = 0;
        let data_read = self.data_source.poll_batch(
            config.batch_size,
            config.poll_wait,
            |partition, offset, payload| {
                records_read += 1;
                match R::decode(payload, config.data_format) {
                    Ok(record) => data.send(Sourced {
                        origin: Origin { partition, offset },
                        record,
                    }),
                    Err(error) => {
                        counters.malformed_records.inc();
                        tracing::warn!(
                            partition,
                            offset,
                            "skipping a malformed data record: {error}"
                        );
                    }
                }
            },
        );
        counters.records_read.add(records_read);
        let read_any = !models_read.is_empty() || !data_read.is_empty();
        (now, data_read, read_any)
    }
}

fn run_worker<R: Record>(
    worker: &mut Worker,
    job: &Arc<Job>,
    process: &Arc<ProcessState>,
) -> Result<()> {
    let config = &job.config;
    let (index, peers) = (worker.index(), worker.peers());
    let timely_events = config.state.timely_events;
    hooks::register(worker, process.clone(), job.events.clone(), timely_events);
    let reporter = Reporter::for_worker(worker, job.counters.clone());
    let deliver = {
        let job = job.clone();
        move |scored: &_| {
            job.sink.write(scored);
            job.counters.results_written.inc();
        }
    };
    let ServingDataflow {
        data,
        models,
        probe,
    } = serving_dataflow::<R>(worker, config.pipeline, config.serving, reporter, deliver);
    let data_source = PartitionSource::assign(
        &config.kafka,
        &config.group,
        &config.data_topic,
        index,
        peers,
        StartAt::Committed,
        Some(process.lag().clone()),
    )?;
    let model_source = PartitionSource::assign(
        &config.kafka,
        &config.group,
        &config.models_topic,
        index,
        peers,
        StartAt::Beginning,
        Some(process.lag().clone()),
    )?;
    tracing::info!(worker = index, data_partitions = ?data_source.partitions(), model_partitions = ?model_source.partitions(), pipeline = %config.pipeline, "worker started");
    let mut inputs = WorkerInputs {
        data,
        models,
        data_source,
        model_source,
    };
    process.worker_started();
    let mut committer = Committer::new(config.commit_interval, process.clone());
    let mut last_read = Instant::now();
    while !job.should_stop(last_read) {
        let (time, data_read, read_any) = inputs.read_batch(config, &job.counters);
        committer.ledger.record(time, data_read);
        if read_any {
            last_read = Instant::now();
            worker.step();
        } else {
            worker.step_or_park(Some(config.poll_wait));
        }
        committer.commit_if_due(&probe, &inputs.data_source, &job.sink)?;
    }
    process.stopping();
    let WorkerInputs {
        data,
        models,
        data_source,
        ..
    } = inputs;
    drop((data, models));
    while worker.step_or_park(Some(Duration::from_millis(10))) {}
    committer.commit_complete(&probe, &data_source, &job.sink)?;
    tracing::info!(worker = index, "worker finished");
    Ok(())
}

/// Commits data offsets behind the output frontier, once the results are delivered.
struct Committer {
    ledger: OffsetLedger,
    interval: Duration,
    last: Instant,
    /// Set once a result failed to be delivered: committing further would skip it.
    halted: bool,
    process: Arc<ProcessState>,
}

impl Committer {
    fn new(interval: Duration, process: Arc<ProcessState>) -> Self {
        Committer {
            ledger: OffsetLedger::default(),
            interval,
            last: Instant::now(),
            halted: false,
            process,
        }
    }

    fn commit_if_due(
        &mut self,
        probe: &ProbeHandle<Time>,
        source: &PartitionSource,
        sink: &ResultSink,
    ) -> Result<()> {
        if self.last.elapsed() < self.interval {
            return Ok(());
        }
        self.last = Instant::now();
        self.commit_complete(probe, source, sink)
    }

    fn commit_complete(
        &mut self,
        probe: &ProbeHandle<Time>,
        source: &PartitionSource,
        sink: &ResultSink,
    ) -> Result<()> {
        let frontier = probe.with_frontier(|frontier| frontier.first().copied());
        let complete = self.ledger.take_complete(frontier);
        if complete.is_empty() {
            return Ok(());
        }
        let failed = sink
            .flush(Duration::from_secs(30))
            .context("delivering results before a commit")?;
        if failed > 0 {
            if !self.halted {
                self.halted = true;
                self.process.commits_halted();
                tracing::error!("{failed} results were not delivered: no more offsets are committed, so a restart reads them again");
            }
            return Ok(());
        }
        source.commit(&complete)
    }
}
