//! The state of one serving process as its query endpoint reports it: the latest state of every
//! key on each of its workers, its counters, its consumers' lag, and whether it is healthy.
//!
//! The view is a map from (key, worker) to the key's latest [`KeyState`], kept up to date by the
//! state-log action of each worker (every event carries the key's whole state, so applying one is
//! an insert). Each process answers for its own workers; the `state` command merges the answers
//! of all processes. A differential-dataflow arrangement would hold the same last-writer-wins
//! map, but the queries would then have to enter and leave the dataflow as streams; a map behind
//! a mutex that one thread reads while workers write is the simpler thing to read and to run.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::lock;
use super::monitor::{MonitorReport, Monitors};
use super::{Counters, KeyState, StateEvent};
use crate::record::clock_ms;
use crate::record::lag::{BrokerStatus, ConsumerLag};

/// How long the cluster may be unreachable before the process says so (a passing failure of
/// one connection is not an outage).
const BROKER_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// What a process says about its models: `GET /models` and `GET /models/{dataType}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessReport {
    /// The process index in the job.
    pub process: usize,
    /// The pipeline it runs (`keyed` or `flat`).
    pub pipeline: String,
    /// The global indices of its workers.
    pub workers: Vec<usize>,
    /// When the report was made, in milliseconds since the Unix epoch.
    pub at: u64,
    /// The state of every key on every worker of the process, by key then worker.
    pub keys: Vec<KeyState>,
}

/// What a process says about its health: `GET /health`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `serving`, `starting`, `stopping`, `broker-unreachable` (for 3 s or more) or
    /// `worker-failed`.
    pub status: String,
    /// The process index in the job.
    pub process: usize,
    /// The global indices of its workers.
    pub workers: Vec<usize>,
    /// Workers that have their Kafka partitions assigned.
    pub workers_started: usize,
    /// Milliseconds since the process started.
    pub uptime_ms: u64,
    /// Data records read.
    pub records_read: u64,
    /// Results written.
    pub results_written: u64,
}

impl Health {
    /// Whether the process serves normally (HTTP 200 rather than 503).
    pub fn is_serving(&self) -> bool {
        self.status == "serving"
    }
}

/// The state of one serving process.
#[derive(Debug)]
pub struct ProcessState {
    process: usize,
    workers: Vec<usize>,
    pipeline: String,
    started_at: u64,
    keys: Mutex<BTreeMap<(String, usize), KeyState>>,
    monitors: Arc<Monitors>,
    counters: Arc<Counters>,
    lag: Arc<ConsumerLag>,
    broker: Arc<BrokerStatus>,
    workers_started: AtomicUsize,
    stopping: AtomicBool,
    worker_failed: AtomicBool,
}

impl ProcessState {
    /// The state of process `process`, whose workers have the given global indices, running
    /// the named pipeline (`keyed` or `flat`), whose clients report whether they reach the
    /// cluster to `broker`.
    pub fn new(
        process: usize,
        workers: Vec<usize>,
        pipeline: impl ToString,
        counters: Arc<Counters>,
        broker: Arc<BrokerStatus>,
    ) -> Self {
        ProcessState {
            process,
            workers,
            pipeline: pipeline.to_string(),
            started_at: clock_ms(),
            keys: Mutex::default(),
            monitors: Arc::default(),
            counters,
            lag: Arc::default(),
            broker,
            workers_started: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            worker_failed: AtomicBool::new(false),
        }
    }

    /// The workers (global indices) this process runs.
    pub fn workers(&self) -> &[usize] {
        &self.workers
    }

    /// Whether worker `worker` (a global index) runs in this process.
    pub fn runs_worker(&self, worker: usize) -> bool {
        self.workers.contains(&worker)
    }

    /// Takes in a state event from one of the process's workers.
    pub fn apply(&self, event: &StateEvent) {
        let Some(state) = event.state() else {
            return;
        };
        let key = (state.data_type.clone(), state.worker);
        match event {
            StateEvent::KeyEvicted { .. } => lock(&self.keys).remove(&key),
            _ => lock(&self.keys).insert(key, state.clone()),
        };
    }

    /// The models of every key, or of one key.
    pub fn report(&self, data_type: Option<&str>) -> ProcessReport {
        let keys = lock(&self.keys)
            .values()
            .filter(|state| data_type.is_none_or(|wanted| state.data_type == wanted))
            .cloned()
            .collect();
        ProcessReport {
            process: self.process,
            pipeline: self.pipeline.clone(),
            workers: self.workers.clone(),
            at: clock_ms(),
            keys,
        }
    }

    /// The process's health.
    pub fn health(&self) -> Health {
        let workers_started = self.workers_started.load(Ordering::Relaxed);
        let outage = self.broker.unreachable_for();
        let status = if self.worker_failed.load(Ordering::Relaxed) {
            "worker-failed"
        } else if outage.is_some_and(|outage| outage >= BROKER_GRACE) {
            "broker-unreachable"
        } else if self.stopping.load(Ordering::Relaxed) {
            "stopping"
        } else if workers_started < self.workers.len() {
            "starting"
        } else {
            "serving"
        };
        Health {
            status: status.into(),
            process: self.process,
            workers: self.workers.clone(),
            workers_started,
            uptime_ms: clock_ms().saturating_sub(self.started_at),
            records_read: self.counters.records_read.get(),
            results_written: self.counters.results_written.get(),
        }
    }

    /// The latest figures of the keys the process's workers monitor.
    pub fn monitors(&self) -> &Arc<Monitors> {
        &self.monitors
    }

    /// What `GET /monitor` answers: the figures of every key the process monitors, or of one.
    pub fn monitor_report(&self, data_type: Option<&str>) -> MonitorReport {
        MonitorReport {
            process: self.process,
            enabled: self.monitors.drift_threshold().is_some(),
            drift_threshold: self.monitors.drift_threshold().unwrap_or_default(),
            keys: self.monitors.latest(data_type),
        }
    }

    /// The process's counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The lag of the partitions the process reads, for its consumers to update.
    pub fn lag(&self) -> &Arc<ConsumerLag> {
        &self.lag
    }

    /// Notes that a worker has its partitions assigned.
    pub fn worker_started(&self) {
        self.workers_started.fetch_add(1, Ordering::Relaxed);
    }

    /// Notes that the process is closing its inputs.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Notes that a worker stopped with an error: the process no longer serves.
    pub fn worker_failed(&self) {
        self.worker_failed.store(true, Ordering::Relaxed);
    }
}
