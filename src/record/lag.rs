//! How a job stands with its Kafka cluster: per partition, the messages it has yet to read and to
//! commit, and whether the cluster can be reached. Kafka clients update them; the state endpoint
//! reports them.

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

/// Whether the job's Kafka clients can reach the cluster, as their errors and deliveries tell.
#[derive(Debug, Default)]
pub struct BrokerStatus(Mutex<Option<std::time::Instant>>);

impl BrokerStatus {
    /// A client found every broker down (the first report starts the outage).
    pub fn down(&self) {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get_or_insert_with(std::time::Instant::now);
    }

    /// A client reached the cluster.
    pub fn up(&self) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }

    /// For how long the cluster has been unreachable, if it is.
    pub fn unreachable_for(&self) -> Option<std::time::Duration> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .map(|since| since.elapsed())
    }
}
