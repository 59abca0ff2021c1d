//! What the serving operator reports while it works: statistics per served model, the process's
//! counters, and state events on the worker's timely log, with the hooks that receive them.

mod counters;
mod events;
pub mod hooks;
mod sinks;
mod stats;

pub use counters::{Counter, CounterInfo, Counters};
pub use events::{DeadLetters, Reporter, StateEvent, StateEventBuilder, StateLogger, STATE_LOG};
pub use sinks::{EventSinks, Forward};
pub use stats::{
    Bucket, EnsembleState, KeyState, LatencyHistogram, LineupState, LoadFailure, ModelStats,
    RoleStats, HISTORY,
};
