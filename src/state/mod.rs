//! What a running job can tell about itself, by role:
//!
//! - [`report`]: what the serving operator reports while it works: per-model statistics
//!   ([`ModelStats`], [`KeyState`]), the process's [`Counters`], and the [`StateEvent`]s it logs
//!   to the worker's timely log registry, where [`report::hooks`] registers their receivers: the
//!   process view and the [`EventSinks`] (tracing log, JSON-lines file, a forward to Kafka);
//! - [`monitor`]: the windowed figures and drift events of the monitoring dataflow;
//! - [`ProcessState`]: the view of one process that those events keep up to date;
//! - [`endpoint`]: the query endpoint that serves that view over HTTP, as JSON and as
//!   Prometheus metrics;
//! - [`query`]: the `state` command's side: ask every process, merge, print.

pub mod endpoint;
pub mod monitor;
mod process;
pub mod query;
pub mod report;

pub use process::{Health, ProcessReport, ProcessState};
pub use report::{
    hooks, Bucket, Counter, CounterInfo, Counters, DeadLetters, EnsembleState, EventSinks, Forward,
    KeyState, LatencyHistogram, LineupState, LoadFailure, ModelStats, Reporter, RoleStats,
    StateEvent, StateEventBuilder, StateLogger, HISTORY, STATE_LOG,
};

/// Locks a mutex, whether or not a panicking thread poisoned it (the state behind it is plain
/// figures, always whole).
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
