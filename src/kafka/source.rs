//! A worker's share of a topic: partition `p` is read by worker `p mod peers`, assigned
//! explicitly (no consumer-group rebalancing inside a job, no group-join wait).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::statistics::{Partition, Statistics};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::admin::partition_count;
use super::KafkaConfig;
use crate::record::lag::{ConsumerLag, PartitionLag};

/// Where a source starts reading its partitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// At the offsets committed for the job's consumer group, else at the beginning.
    Committed,
    /// At the beginning, whatever was committed (the models topic: a restarted job gets the
    /// current models back).
    Beginning,
}

/// The partitions of one topic that belong to one worker.
pub struct PartitionSource {
    consumer: BaseConsumer<LagReporter>,
    topic: String,
    partitions: Vec<i32>,
}

/// The partitions of a topic with `partition_count` partitions that worker `index` of `peers` reads.
pub fn partitions_for_worker(partition_count: i32, index: usize, peers: usize) -> Vec<i32> {
    (0..partition_count)
        .filter(|partition| *partition as usize % peers == index)
        .collect()
}

impl PartitionSource {
    /// Assigns this worker's partitions of `topic` to a new consumer of group `group`; with a
    /// `lag` view, the consumer reports its partitions' lag there every second.
    pub fn assign(
        kafka: &KafkaConfig,
        group: &str,
        topic: &str,
        index: usize,
        peers: usize,
        start: StartAt,
        lag: Option<Arc<ConsumerLag>>,
    ) -> Result<Self> {
        let mut client = kafka.client();
        client
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "10");
        if lag.is_some() {
            client.set("statistics.interval.ms", "1000");
        }
        let consumer: BaseConsumer<LagReporter> = client
            .create_with_context(LagReporter(lag))
            .context("creating a Kafka consumer")?;
        let partitions = partitions_for_worker(partition_count(&consumer, topic)?, index, peers);
        let mut assignment = TopicPartitionList::new();
        for partition in &partitions {
            assignment.add_partition_offset(topic, *partition, Offset::Beginning)?;
        }
        if start == StartAt::Committed && !partitions.is_empty() {
            assignment = committed_or_beginning(&consumer, assignment)?;
        }
        consumer
            .assign(&assignment)
            .with_context(|| format!("assigning partitions {partitions:?} of `{topic}`"))?;
        tracing::debug!(worker = index, topic, ?partitions, "partitions assigned");
        Ok(PartitionSource {
            consumer,
            topic: topic.to_owned(),
            partitions,
        })
    }

    /// The partitions this source reads.
    pub fn partitions(&self) -> &[i32] {
        &self.partitions
    }

    /// Reads up to `max` messages, waiting at most `budget` in all, and hands each payload to
    /// `each` with its partition and offset. Returns the next offset to read per partition read.
    pub fn poll_batch(
        &mut self,
        max: usize,
        budget: Duration,
        mut each: impl FnMut(i32, i64, &[u8]),
    ) -> BTreeMap<i32, i64> {
        let mut next = BTreeMap::new();
        if self.partitions.is_empty() {
            return next;
        }
        let deadline = Instant::now() + budget;
        let mut read = 0;
        while read < max {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.consumer.poll(wait) {
                Some(Ok(message)) => {
                    each(
                        message.partition(),
                        message.offset(),
                        message.payload().unwrap_or_default(),
                    );
                    next.insert(message.partition(), message.offset() + 1);
                    read += 1;
                }
                Some(Err(error)) => {
                    tracing::warn!(topic = %self.topic, "Kafka consumer error: {error}")
                }
                None => break,
            }
            if wait.is_zero() {
                break;
            }
        }
        next
    }

    /// Commits the given next offsets for the job's consumer group, without waiting.
    pub fn commit(&self, next: &BTreeMap<i32, i64>) -> Result<()> {
        let mut offsets = TopicPartitionList::new();
        for (partition, offset) in next {
            offsets.add_partition_offset(&self.topic, *partition, Offset::Offset(*offset))?;
        }
        self.consumer
            .commit(&offsets, CommitMode::Async)
            .with_context(|| format!("committing offsets of `{}`", self.topic))
    }
}

/// Reads every partition of `topic` from the beginning, handing each message's partition, offset
/// and payload to `each`, until `count` messages have come or none has come for `idle`;
/// returns how many came. For clients that follow a topic: a viewer of results, a test.
pub fn follow_topic(
    kafka: &KafkaConfig,
    topic: &str,
    count: usize,
    idle: Duration,
    mut each: impl FnMut(i32, i64, &[u8]),
) -> Result<usize> {
    let group = format!("{topic}-follower");
    let mut source = PartitionSource::assign(kafka, &group, topic, 0, 1, StartAt::Beginning, None)?;
    let (mut seen, mut last) = (0, Instant::now());
    while seen < count && last.elapsed() < idle {
        let max = (count - seen).min(1024);
        source.poll_batch(
            max,
            Duration::from_millis(100),
            |partition, offset, payload| {
                (seen, last) = (seen + 1, Instant::now());
                each(partition, offset, payload);
            },
        );
    }
    Ok(seen)
}

/// The committed offsets of the assignment's partitions (the beginning where none is committed),
/// asked of the group coordinator before assigning: a fresh group's coordinator may not be ready
/// yet, and librdkafka does not retry that for an explicit assignment.
fn committed_or_beginning(
    consumer: &BaseConsumer<LagReporter>,
    assignment: TopicPartitionList,
) -> Result<TopicPartitionList> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let committed = loop {
        let answer = consumer
            .committed_offsets(assignment.clone(), Duration::from_secs(10))
            .and_then(|committed| {
                committed
                    .elements()
                    .iter()
                    .try_for_each(|element| element.error())?;
                Ok(committed)
            });
        match answer {
            Ok(committed) => break committed,
            Err(error) if Instant::now() < deadline => {
                tracing::debug!("committed offsets not available yet: {error}");
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(error) => return Err(error).context("reading the committed offsets"),
        }
    };
    let mut start = TopicPartitionList::new();
    for element in committed.elements() {
        let offset = match element.offset() {
            Offset::Offset(offset) => Offset::Offset(offset),
            _ => Offset::Beginning,
        };
        start.add_partition_offset(element.topic(), element.partition(), offset)?;
    }
    Ok(start)
}

/// A consumer context that turns librdkafka's statistics into the lag of each assigned partition.
pub struct LagReporter(Option<Arc<ConsumerLag>>);

impl ClientContext for LagReporter {
    fn stats(&self, statistics: Statistics) {
        let Some(lag) = &self.0 else { return };
        for (topic, stats) in &statistics.topics {
            for (partition, stats) in &stats.partitions {
                if let Some(partition_lag) = partition_lag(stats) {
                    lag.update(topic, *partition, partition_lag);
                }
            }
        }
    }
}

impl ConsumerContext for LagReporter {}

/// The lag of an assigned partition whose high watermark is known.
fn partition_lag(stats: &Partition) -> Option<PartitionLag> {
    if stats.partition < 0 || stats.hi_offset < 0 {
        return None;
    }
    let read_position = [stats.app_offset, stats.committed_offset, stats.lo_offset]
        .into_iter()
        .find(|offset| *offset >= 0)?;
    let committed = (stats.committed_offset >= 0).then_some(stats.committed_offset);
    Some(PartitionLag {
        unread: (stats.hi_offset - read_position).max(0),
        uncommitted: committed.map(|offset| (stats.hi_offset - offset).max(0)),
    })
}
