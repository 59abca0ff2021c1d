//! The ingestion clock that stamps both inputs of a job.

use std::time::{SystemTime, UNIX_EPOCH};

/// A reading of the ingestion clock: milliseconds since the Unix epoch.
pub type Time = u64;

/// The ingestion clock's reading now.
pub fn clock_ms() -> Time {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as Time)
}
