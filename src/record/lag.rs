//! How far a job is behind its topics: per partition, the messages it has yet to read and to
//! commit. Kafka sources update it; the state endpoint reports it.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

/// Messages a job has yet to read or to commit in one topic partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionLag {
    /// Messages after the job's read position (high watermark − next offset to read).
    pub unread: i64,
    /// Messages after the group's committed offset (what Kafka's tools call consumer lag);
    /// unknown while nothing is committed (the models topic never is: it is read from the start).
    pub uncommitted: Option<i64>,
}

/// The lag of every partition a process reads, as its consumers last reported it.
#[derive(Debug, Default)]
pub struct ConsumerLag(Mutex<BTreeMap<(String, i32), PartitionLag>>);

impl ConsumerLag {
    /// Records the lag of a partition.
    pub fn update(&self, topic: &str, partition: i32, lag: PartitionLag) {
        self.lock().insert((topic.to_owned(), partition), lag);
    }

    /// Every partition's lag, by topic and partition.
    pub fn snapshot(&self) -> BTreeMap<(String, i32), PartitionLag> {
        self.lock().clone()
    }

    /// The map, whether or not a panicking thread poisoned it (the data is plain state).
    fn lock(&self) -> MutexGuard<'_, BTreeMap<(String, i32), PartitionLag>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
