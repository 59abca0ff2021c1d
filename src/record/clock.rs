//! The ingestion clock that stamps both inputs of a job.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A reading of the ingestion clock: milliseconds since the Unix epoch.
pub type Time = u64;

/// The ingestion clock's reading now.
pub fn clock_ms() -> Time {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as Time)
}

/// How long until the ingestion clock reads its next millisecond.
pub fn until_next_ms() -> Duration {
    let into_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos() % 1_000_000);
    Duration::from_nanos(u64::from(1_000_000 - into_ms))
}
