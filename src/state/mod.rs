//! What a running job can tell about itself.
//!
//! The serving operator keeps [`ModelStats`] per served model and logs [`StateEvent`]s to the
//! worker's timely log registry ([`events`]). [`hooks`] registers what receives them: the
//! process's [`ProcessState`], which the query endpoint ([`http`]) serves as JSON and as
//! Prometheus [`metrics`], and the [`EventSinks`] (tracing log, JSON-lines file, Kafka topic).
//! [`query`] is the `state` command's side: ask every process, merge, print.

mod counters;
pub mod events;
pub mod hooks;
pub mod http;
pub mod metrics;
mod process;
pub mod query;
mod sinks;
mod stats;

pub use counters::{Counter, Counters};
pub use events::{Reporter, StateEvent, StateEventBuilder, StateLogger, STATE_LOG};
pub use metrics::Metrics;
pub use process::{ConsumerLag, Health, PartitionLag, ProcessReport, ProcessState};
pub use sinks::EventSinks;
pub use stats::{Bucket, KeyState, LatencyHistogram, LoadFailure, ModelStats, HISTORY};
