//! How the two streams meet: the keyed and flat pipelines around the one serving operator, and
//! the dataflow a worker runs ([`serving_dataflow`]).
//!
//! - [`keyed`]: data and models are exchanged by `dataType`, so each key's model lives on exactly
//!   one worker;
//! - [`flat`]: models are broadcast to every worker, data is spread over all workers;
//! - [`monitor`]: beside them, the monitoring dataflow over the records read and the results.

pub mod ahead;
pub mod confirm;
pub mod ensemble;
pub mod flat;
pub mod keyed;
pub mod lifecycle;
pub mod loader;
pub mod monitor;
pub mod serving;

use std::sync::Arc;

use timely::dataflow::operators::{Exchange, Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle, StreamVec};
use timely::worker::Worker;

use crate::kafka::sink::{ResultSink, SentMark};
use crate::proto::ModelDescriptor;
use crate::record::{Record, Scored, Sourced, Time};
use crate::state::monitor::Monitors;
use crate::state::Reporter;
use confirm::HoldUntilConfirmed;
pub use loader::Loader;
pub use monitor::{Monitor, MonitorConfig};
pub use serving::ServingConfig;

/// Which pipeline a job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipelineKind {
    /// Data and models exchanged by `dataType`.
    Keyed,
    /// Models broadcast to every worker, data spread over all of them.
    Flat,
}

impl std::str::FromStr for PipelineKind {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "keyed" => Ok(PipelineKind::Keyed),
            "flat" => Ok(PipelineKind::Flat),
            other => Err(format!(
                "unknown pipeline `{other}` (expected keyed or flat)"
            )),
        }
    }
}

impl std::fmt::Display for PipelineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PipelineKind::Keyed => "keyed",
            PipelineKind::Flat => "flat",
        })
    }
}

/// Builds the chosen pipeline over a data stream and a model stream.
pub fn build<'scope, R: Record>(
    kind: PipelineKind,
    data: StreamVec<'scope, Time, Sourced<R>>,
    models: StreamVec<'scope, Time, Sourced<ModelDescriptor>>,
    config: ServingConfig,
    reporter: Reporter,
    (loader, process_workers): (Arc<Loader>, Vec<usize>),
) -> StreamVec<'scope, Time, Scored> {
    match kind {
        PipelineKind::Keyed => keyed::keyed(data, models, config, reporter, loader),
        PipelineKind::Flat => flat::flat(data, models, config, reporter, (loader, process_workers)),
    }
}

/// A worker's serving dataflow: the inputs it feeds and the probe of its output.
pub struct ServingDataflow<R: Record> {
    /// Data records, stamped with their ingestion time.
    pub data: InputHandleVec<Time, Sourced<R>>,
    /// Model descriptors, stamped with their ingestion time.
    pub models: InputHandleVec<Time, Sourced<ModelDescriptor>>,
    /// The output frontier: every result of a time before it has been delivered.
    pub probe: ProbeHandle<Time>,
    /// The reader of the monitoring dataflow, when it runs.
    pub monitor: Option<Monitor>,
}

/// Whether and how a serving dataflow monitors what it serves, and where the figures go.
#[derive(Clone)]
pub struct Monitoring {
    /// The window and the drift threshold.
    pub config: MonitorConfig,
    /// Where the figures go (the process's).
    pub monitors: Arc<Monitors>,
}

/// What a worker's serving dataflow is made of, besides its inputs and its delivery.
#[derive(Clone)]
pub struct Serving {
    /// The pipeline.
    pub kind: PipelineKind,
    /// How records wait for models, and how long models may take to build.
    pub config: ServingConfig,
    /// Where the operator reports.
    pub reporter: Reporter,
    /// What builds the models (one per process).
    pub loader: Arc<Loader>,
    /// The workers of this worker's process (global indices): the flat pipeline spreads the
    /// records a process reads over them.
    pub process_workers: Vec<usize>,
    /// Which worker delivers each result, and what the output frontier waits for.
    pub delivery: Delivery,
    /// The monitoring dataflow beside the pipeline, if any.
    pub monitoring: Option<Monitoring>,
}

/// Which worker hands each result to `deliver`, and when the output frontier passes a time.
#[derive(Clone)]
pub enum Delivery {
    /// The worker that scored it; a time passes once its results are handed over. Enough when
    /// one process holds every worker and their one producer.
    WhereScored,
    /// The worker that read its record (the worker that reads partition `p` of `W` is
    /// `p mod W`), so that a worker's transaction holds its own partitions' offsets and their
    /// results.
    WhereRead,
    /// The worker that scored it; a time passes once its process's producer has delivered
    /// what it sent by then ([`confirm`]), so that a process that commits an offset knows the
    /// record's result delivered, wherever it was scored.
    Confirmed(Arc<ResultSink>),
}

/// A producer's delivery reports confirm the results it was handed (refused ones once their
/// dead letters are delivered).
impl confirm::Confirmations for ResultSink {
    type Mark = SentMark;

    fn mark(&self) -> SentMark {
        ResultSink::mark(self)
    }

    fn settled(&self, mark: SentMark) -> bool {
        self.delivered(mark).is_some()
    }
}

/// Builds on `worker` the dataflow a serving job runs: the two inputs, the pipeline, and
/// `deliver` called with every result and its time. The job, the operator tests and the
/// benchmarks all build their dataflow with it.
pub fn serving_dataflow<R: Record>(
    worker: &mut Worker,
    serving: Serving,
    mut deliver: impl FnMut(Time, &Scored) + 'static,
) -> ServingDataflow<R> {
    let mut data = InputHandleVec::new();
    let mut models = InputHandleVec::new();
    let probe = ProbeHandle::new();
    let index = worker.index();
    let monitor = worker.dataflow(|scope| {
        let data = data.to_stream(scope);
        let models = models.to_stream(scope);
        let Serving {
            kind,
            config,
            reporter,
            loader,
            process_workers,
            delivery,
            monitoring,
        } = serving;
        let pipeline = {
            let reporter = reporter.clone();
            move |data| {
                build::<R>(
                    kind,
                    data,
                    models,
                    config,
                    reporter,
                    (loader, process_workers),
                )
            }
        };
        let (results, monitor) = match monitoring {
            None => (pipeline(data), None),
            Some(Monitoring { config, monitors }) => {
                let (results, trace) = monitor::around(data, &config, pipeline);
                let monitor = Monitor::new(trace, config, index, reporter, monitors);
                (results, Some(monitor))
            }
        };
        let results = match &delivery {
            Delivery::WhereRead => {
                results.exchange(|scored: &Scored| scored.origin.partition as u64)
            }
            Delivery::WhereScored | Delivery::Confirmed(_) => results,
        };
        let delivered = results.inspect_core(move |event| {
            if let Ok((stamp, results)) = event {
                let time = stamp.iter().min().copied().unwrap_or_default();
                results.iter().for_each(|scored| deliver(time, scored));
            }
        });
        match delivery {
            Delivery::Confirmed(sink) => delivered.hold_until_confirmed(sink).probe_with(&probe),
            Delivery::WhereScored | Delivery::WhereRead => delivered.probe_with(&probe),
        };
        monitor
    });
    ServingDataflow {
        data,
        models,
        probe,
        monitor,
    }
}

/// A hash that is the same in every process of a job (FNV-1a), to route by key.
pub(crate) fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
