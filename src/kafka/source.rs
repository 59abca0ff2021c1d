//! A worker's share of a topic: partition `p` is read by worker `p mod peers`, assigned
//! explicitly (no consumer-group rebalancing inside a job, no group-join wait).
//!
//! librdkafka's consumer occasionally stops fetching an assigned partition after a broker
//! restart, for good (librdkafka issue #5153, rust-rdkafka #597; seen here in the broker-outage
//! test). A source therefore watches its partitions: one that has read nothing for
//! [`SourceOptions::STALL_AFTER`] while the broker holds records past its position gets a new
//! consumer, assigned where the old one stopped: nothing is lost or read twice.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, ConsumerGroupMetadata,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::{Partition, Statistics};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

use super::admin::partition_count;
use super::KafkaConfig;
use crate::record::lag::{BrokerStatus, ConsumerLag, PartitionLag};

/// How long the broker holds a fetch that finds nothing new (`fetch.wait.max.ms`, unless `-X`
/// sets it). A broker answers as soon as a record arrives, so this costs no latency; it bounds
/// how often an idle source asks (librdkafka's default: a 10 ms wait made an idle job spend
/// 2.4 % of a core on fetches). librdkafka's mock cluster holds every empty fetch for the whole
/// wait: the apps' embedded cluster sets its own.
pub const FETCH_WAIT_MS: &str = "500";

/// How long a partition's fetches pause once its prefetched records pass librdkafka's queue
/// thresholds (`fetch.queue.backoff.ms`, unless `-X` sets it). librdkafka's default, 1 s, left
/// a worker reading a backlog with nothing to read for 0.5–0.6 s at a time once it had worked
/// its queue off (`perf sched timehist`: 1.9 s of 2.45 s asleep, in 100 ms idle parks), so
/// one worker moved 126–132 k records/s; with 10 ms, 354–526 k/s (`scripts/bench.sh --only
/// throughput --filter "forest 5"`, 1 × 1, two runs each, alternating).
pub const FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// The librdkafka settings every consumer of the job starts from (`-X` overrides them).
pub const CONSUMER_DEFAULTS: [(&str, &str); 2] = [
    ("fetch.wait.max.ms", FETCH_WAIT_MS),
    ("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS),
];

/// Where a source starts reading its partitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// At the offsets committed for the job's consumer group, else at the beginning.
    Committed,
    /// At the beginning, whatever was committed (the models topic: a restarted job gets the
    /// current models back).
    Beginning,
}

/// How a source reads, and whom it reports to.
#[derive(Clone, Debug)]
pub struct SourceOptions {
    /// Where it starts.
    pub start: StartAt,
    /// Whether it notes when it has read its partitions up to their ends as of its start
    /// ([`PartitionSource::caught_up`]).
    pub track_end: bool,
    /// Where its partitions' lag is reported every second, if anywhere.
    pub lag: Option<Arc<ConsumerLag>>,
    /// Where it reports whether the cluster can be reached, if anywhere.
    pub broker: Option<Arc<BrokerStatus>>,
    /// How long a partition may read nothing while records wait in it before its consumer
    /// counts as stalled and is replaced.
    pub stall_after: Duration,
}

impl SourceOptions {
    /// The default [`SourceOptions::stall_after`]: longer than librdkafka's longest reconnect
    /// backoff (`reconnect.backoff.max.ms`, 10 s), so a consumer still reconnecting is left to it.
    pub const STALL_AFTER: Duration = Duration::from_secs(15);

    /// Starting at `start`, reporting to no one.
    pub fn starting(start: StartAt) -> Self {
        SourceOptions {
            start,
            track_end: false,
            lag: None,
            broker: None,
            stall_after: Self::STALL_AFTER,
        }
    }
}

/// The partitions of one topic that belong to one worker.
pub struct PartitionSource {
    consumer: BaseConsumer<SourceContext>,
    topic: String,
    partitions: Vec<i32>,
    /// For a source that tracks its end: the partitions not read up to their end yet, with the
    /// offset that end is.
    unread_ends: BTreeMap<i32, i64>,
    /// Each partition's reading: where next, and since when quiet.
    reading: BTreeMap<i32, Reading>,
    /// What watches for a stalled consumer, and makes its replacement.
    stalls: StallWatch,
    /// Whom records arriving wake, and when ([`PartitionSource::wake_on_arrival`]).
    wake: Option<(std::thread::Thread, Arc<AtomicBool>)>,
}

/// Where a partition is read next, and since when it has read nothing.
struct Reading {
    /// Where it started, then past the last message read.
    next: Offset,
    /// Since when it has read nothing (or was last checked for a stall).
    quiet_since: Instant,
}

/// When a consumer counts as stalled, and what a new consumer is made of.
struct StallWatch {
    client: ClientConfig,
    context: SourceContext,
    stall_after: Duration,
    /// When the source was last asked to read: time not spent reading is not quiet time.
    last_poll: Instant,
    /// How many times the consumer was replaced.
    replaced: u64,
}

/// The partitions of a topic with `partition_count` partitions that worker `index` of `peers` reads.
pub fn partitions_for_worker(partition_count: i32, index: usize, peers: usize) -> Vec<i32> {
    (0..partition_count)
        .filter(|partition| *partition as usize % peers == index)
        .collect()
}

impl PartitionSource {
    /// Assigns the partitions of `topic` that worker `index` of `peers` reads to a new consumer
    /// of group `group`.
    pub fn assign(
        kafka: &KafkaConfig,
        group: &str,
        topic: &str,
        (index, peers): (usize, usize),
        options: SourceOptions,
    ) -> Result<Self> {
        let mut client = kafka.client_with(&CONSUMER_DEFAULTS);
        client
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest");
        if options.lag.is_some() {
            client.set("statistics.interval.ms", "1000");
        }
        if options.track_end {
            client.set("enable.partition.eof", "true");
        }
        let context = SourceContext {
            lag: options.lag,
            broker: options.broker,
            fetching: Arc::default(),
        };
        let consumer: BaseConsumer<SourceContext> = client
            .create_with_context(context.clone())
            .context("creating a Kafka consumer")?;
        let partitions = partitions_for_worker(partition_count(&consumer, topic)?, index, peers);
        let mut assignment = TopicPartitionList::new();
        for partition in &partitions {
            assignment.add_partition_offset(topic, *partition, Offset::Beginning)?;
        }
        if options.start == StartAt::Committed && !partitions.is_empty() {
            assignment = committed_or_beginning(&consumer, assignment)?;
        }
        let unread_ends = match options.track_end {
            true => unread_ends(&consumer, topic, &partitions)?,
            false => BTreeMap::new(),
        };
        consumer
            .assign(&assignment)
            .with_context(|| format!("assigning partitions {partitions:?} of `{topic}`"))?;
        tracing::debug!(worker = index, topic, ?partitions, "partitions assigned");
        let now = Instant::now();
        let reading = (assignment.elements().iter())
            .map(|element| {
                let (next, quiet_since) = (element.offset(), now);
                (element.partition(), Reading { next, quiet_since })
            })
            .collect();
        Ok(PartitionSource {
            consumer,
            topic: topic.to_owned(),
            unread_ends,
            reading,
            stalls: StallWatch {
                client,
                context,
                stall_after: options.stall_after,
                last_poll: now,
                replaced: 0,
            },
            partitions,
            wake: None,
        })
    }

    /// Unparks `worker` when messages (or events) arrive while none were waiting to be read and
    /// `idle` is set, so that an idle worker parked for lack of input reads them at once rather
    /// than when its park times out. (A busy worker is left to gather a batch.) Set `idle`
    /// before the read that finds nothing: what arrives after that read wakes the worker.
    pub fn wake_on_arrival(&mut self, worker: std::thread::Thread, idle: Arc<AtomicBool>) {
        self.wake = Some((worker, idle));
        self.install_wake();
    }

    fn install_wake(&mut self) {
        let Some((worker, idle)) = self.wake.clone() else {
            return;
        };
        self.consumer.set_nonempty_callback(move || {
            if idle.load(Ordering::Relaxed) {
                worker.unpark();
            }
        });
    }

    /// The partitions this source reads.
    pub fn partitions(&self) -> &[i32] {
        &self.partitions
    }

    /// For a source that tracks its end: whether it has read every partition up to where it
    /// ended when the source started.
    pub fn caught_up(&self) -> bool {
        self.unread_ends.is_empty()
    }

    /// The consumer group metadata, for a transaction that commits this source's offsets.
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        self.consumer.group_metadata()
    }

    /// Reads up to `max` messages: every one already fetched, and while there are fewer, waiting
    /// for more at most `budget` in all. Hands each payload to `each` with its partition and
    /// offset (an absent payload, a tombstone, is `None`).
    /// Returns the next offset to read per partition read.
    pub fn poll_batch(
        &mut self,
        max: usize,
        budget: Duration,
        mut each: impl FnMut(i32, i64, Option<&[u8]>),
    ) -> BTreeMap<i32, i64> {
        let mut next = BTreeMap::new();
        if self.partitions.is_empty() {
            return next;
        }
        let deadline = Instant::now() + budget;
        let mut read = 0;
        // The partition of the latest message and the offset after it, noted in `next` when
        // the partition changes (messages come in runs of one partition).
        let mut latest: Option<(i32, i64)> = None;
        while read < max {
            // What is fetched already is read without looking at the clock; only an empty
            // queue waits, for what is left of the budget.
            let polled = self.consumer.poll(Duration::ZERO).or_else(|| {
                let wait = deadline.saturating_duration_since(Instant::now());
                (!wait.is_zero())
                    .then(|| self.consumer.poll(wait))
                    .flatten()
            });
            match polled {
                Some(Ok(message)) => {
                    let (partition, offset) = (message.partition(), message.offset());
                    each(partition, offset, message.payload());
                    if let Some((previous, after)) = latest.filter(|(at, _)| *at != partition) {
                        next.insert(previous, after);
                    }
                    latest = Some((partition, offset + 1));
                    read += 1;
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    self.unread_ends.remove(&partition);
                }
                Some(Err(error)) => {
                    tracing::warn!(topic = %self.topic, "Kafka consumer error: {error}");
                    if Instant::now() >= deadline {
                        break;
                    }
                }
                // Nothing more within the budget (at once, once it is spent).
                None => break,
            }
        }
        next.extend(latest);
        self.unread_ends
            .retain(|partition, end| next.get(partition).is_none_or(|after| after < end));
        self.note_progress(&next);
        next
    }

    /// Notes the partitions read up to `next`, and replaces the consumer if a partition has
    /// stalled.
    fn note_progress(&mut self, next: &BTreeMap<i32, i64>) {
        let now = Instant::now();
        if now.duration_since(self.stalls.last_poll) > StallWatch::POLL_GAP {
            // Not asked to read for a while (held back, or busy): that was not quiet time.
            (self.reading.values_mut()).for_each(|reading| reading.quiet_since = now);
        }
        self.stalls.last_poll = now;
        for (partition, offset) in next {
            if let Some(reading) = self.reading.get_mut(partition) {
                (reading.next, reading.quiet_since) = (Offset::Offset(*offset), now);
            }
        }
        let stalled = self.stalled(now);
        if !stalled.is_empty() {
            self.replace_consumer(&stalled);
        }
    }

    /// The partitions quiet for [`SourceOptions::stall_after`] in which the broker holds records
    /// past their position, with how many. Each quiet partition is asked about once per
    /// `stall_after`, and none while the cluster is known to be unreachable.
    fn stalled(&mut self, now: Instant) -> BTreeMap<i32, i64> {
        let mut stalled = BTreeMap::new();
        let broker = self.stalls.context.broker.as_ref();
        if broker.is_some_and(|broker| broker.unreachable_for().is_some()) {
            return stalled;
        }
        let stall_after = self.stalls.stall_after;
        let mut quiet = Vec::new();
        for (partition, reading) in &mut self.reading {
            if now.duration_since(reading.quiet_since) >= stall_after {
                reading.quiet_since = now;
                quiet.push((*partition, reading.next));
            }
        }
        for (partition, next) in quiet {
            match self.waiting(partition, next) {
                Ok(0) => {}
                Ok(waiting) => {
                    stalled.insert(partition, waiting);
                }
                Err(error) => tracing::debug!(topic = %self.topic, partition, "{error:#}"),
            }
        }
        stalled
    }

    /// How many records the broker holds in `partition` past `next`, where this source reads it.
    fn waiting(&self, partition: i32, next: Offset) -> Result<i64> {
        let (low, high) = self
            .consumer
            .fetch_watermarks(&self.topic, partition, StallWatch::QUERY_TIMEOUT)
            .with_context(|| format!("asking for the end of partition {partition}"))?;
        let next = match next {
            Offset::Offset(next) => next,
            _ => low,
        };
        Ok((high - next).max(0))
    }

    /// Replaces the consumer by a new one assigned at the partitions' positions, because the
    /// `stalled` partitions (with the records waiting in each) read nothing. The old consumer
    /// is closed on a thread of its own: a stalled client may take its time.
    fn replace_consumer(&mut self, stalled: &BTreeMap<i32, i64>) {
        let topic = &self.topic;
        let quiet = self.stalls.stall_after;
        let replaced = self.stalls.replaced + 1;
        let fetching = self.stalls.context.fetching(stalled.keys().copied());
        tracing::warn!(topic, ?stalled, ?quiet, replaced, ?fetching, "partitions read nothing while records wait in them (a stalled Kafka consumer): a new consumer takes over where it stopped");
        match self.new_consumer() {
            Ok(consumer) => {
                let old = std::mem::replace(&mut self.consumer, consumer);
                self.install_wake();
                self.stalls.replaced = replaced;
                std::thread::spawn(move || drop(old));
            }
            Err(error) => {
                tracing::warn!(topic, "the stalled consumer stays: {error:#}")
            }
        }
    }

    fn new_consumer(&self) -> Result<BaseConsumer<SourceContext>> {
        let consumer: BaseConsumer<SourceContext> = self
            .stalls
            .client
            .create_with_context(self.stalls.context.clone())
            .context("creating a Kafka consumer")?;
        let mut assignment = TopicPartitionList::new();
        for (partition, reading) in &self.reading {
            assignment.add_partition_offset(&self.topic, *partition, reading.next)?;
        }
        consumer
            .assign(&assignment)
            .with_context(|| format!("assigning {assignment:?}"))?;
        Ok(consumer)
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

/// The end offsets of the non-empty partitions among `partitions`, as of now.
fn unread_ends<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, i64>> {
    let mut ends = BTreeMap::new();
    for partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, *partition, super::admin::REQUEST_TIMEOUT)
            .with_context(|| format!("reading the end of `{topic}` partition {partition}"))?;
        if high > low {
            ends.insert(*partition, high);
        }
    }
    Ok(ends)
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
    follow_messages(kafka, topic, count, idle, |message| {
        each(
            message.partition(),
            message.offset(),
            message.payload().unwrap_or_default(),
        )
    })
}

/// As [`follow_topic`], handing over whole messages (headers, key, timestamp).
pub fn follow_messages(
    kafka: &KafkaConfig,
    topic: &str,
    count: usize,
    idle: Duration,
    mut each: impl FnMut(&BorrowedMessage<'_>),
) -> Result<usize> {
    let group = format!("{topic}-follower");
    let options = SourceOptions::starting(StartAt::Beginning);
    let source = PartitionSource::assign(kafka, &group, topic, (0, 1), options)?;
    let (mut seen, mut last) = (0, Instant::now());
    while seen < count && last.elapsed() < idle {
        match source.consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                (seen, last) = (seen + 1, Instant::now());
                each(&message);
            }
            Some(Err(error)) => tracing::warn!(topic, "Kafka consumer error: {error}"),
            None => {}
        }
    }
    Ok(seen)
}

/// The committed offsets of the assignment's partitions (the beginning where none is committed),
/// asked of the group coordinator before assigning: a fresh group's coordinator may not be ready
/// yet, and librdkafka does not retry that for an explicit assignment.
fn committed_or_beginning(
    consumer: &BaseConsumer<SourceContext>,
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

impl StallWatch {
    /// A gap between two reads longer than this is not counted as quiet time.
    const POLL_GAP: Duration = Duration::from_secs(1);
    /// How long the broker may take to say where a quiet partition ends.
    const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
}

/// A consumer context that turns librdkafka's statistics into the lag of each assigned
/// partition, and its errors into the cluster's reachability.
#[derive(Clone)]
pub struct SourceContext {
    lag: Option<Arc<ConsumerLag>>,
    broker: Option<Arc<BrokerStatus>>,
    /// librdkafka's view of each partition's fetching in its latest statistics (when the source
    /// asks for statistics), for the warning about a stalled consumer.
    fetching: Arc<Mutex<BTreeMap<i32, String>>>,
}

impl SourceContext {
    /// Keeps librdkafka's view of each partition's fetching from `statistics`.
    fn note_fetching(&self, statistics: &Statistics) {
        let mut fetching = self
            .fetching
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        for stats in statistics.topics.values() {
            for (partition, stats) in &stats.partitions {
                let view = format!(
                    "{} ({} queued, next offset {})",
                    stats.fetch_state, stats.fetchq_cnt, stats.next_offset
                );
                if *partition >= 0 {
                    fetching.insert(*partition, view);
                }
            }
        }
    }

    /// librdkafka's latest view of the fetching of `partitions`, where it gave one.
    fn fetching(&self, partitions: impl Iterator<Item = i32>) -> BTreeMap<i32, String> {
        let fetching = self
            .fetching
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        partitions
            .filter_map(|partition| Some((partition, fetching.get(&partition)?.clone())))
            .collect()
    }
}

impl ClientContext for SourceContext {
    fn stats(&self, statistics: Statistics) {
        self.note_fetching(&statistics);
        let Some(lag) = &self.lag else { return };
        for (topic, stats) in &statistics.topics {
            for (partition, stats) in &stats.partitions {
                if let Some(partition_lag) = partition_lag(stats) {
                    lag.update(topic, *partition, partition_lag);
                }
            }
        }
        if let Some(broker) = &self.broker {
            let up = statistics
                .brokers
                .values()
                .any(|broker| broker.state == "UP");
            if up {
                broker.up();
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        match error.rdkafka_error_code() {
            // The end of a partition is news the source polls for, not trouble.
            Some(RDKafkaErrorCode::PartitionEOF) => return,
            Some(RDKafkaErrorCode::AllBrokersDown) => {
                if let Some(broker) = &self.broker {
                    broker.down();
                }
            }
            _ => {}
        }
        tracing::warn!("Kafka consumer: {error}: {reason}");
    }
}

impl ConsumerContext for SourceContext {}

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

#[cfg(test)]
mod tests {
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    use super::*;

    const TOPIC: &str = "stalls";

    /// A source of both partitions of [`TOPIC`] on a mock cluster, stalled after 500 ms.
    fn source(
        cluster: &MockCluster<'_, rdkafka::producer::DefaultProducerContext>,
    ) -> PartitionSource {
        cluster.create_topic(TOPIC, 2, 1).unwrap();
        let mut kafka = KafkaConfig::new(cluster.bootstrap_servers());
        kafka
            .properties
            .push(("fetch.wait.max.ms".into(), "10".into()));
        let options = SourceOptions {
            stall_after: Duration::from_millis(500),
            ..SourceOptions::starting(StartAt::Beginning)
        };
        PartitionSource::assign(&kafka, "stalls", TOPIC, (0, 1), options).unwrap()
    }

    /// Writes `count` records to each partition of [`TOPIC`].
    fn produce(bootstrap: &str, count: usize) {
        let producer: BaseProducer = KafkaConfig::new(bootstrap).client().create().unwrap();
        for partition in 0..2 {
            for _ in 0..count {
                let record = BaseRecord::<(), _>::to(TOPIC)
                    .payload("r")
                    .partition(partition);
                producer.send(record).map_err(|(error, _)| error).unwrap();
            }
        }
        producer.flush(Duration::from_secs(10)).unwrap();
    }

    /// Reads until `count` messages have come or `within` has passed: the offsets read, by
    /// partition.
    fn read(
        source: &mut PartitionSource,
        count: usize,
        within: Duration,
    ) -> BTreeMap<i32, Vec<i64>> {
        let (start, mut read) = (Instant::now(), BTreeMap::<i32, Vec<i64>>::new());
        while read.values().map(Vec::len).sum::<usize>() < count && start.elapsed() < within {
            source.poll_batch(100, Duration::from_millis(50), |partition, offset, _| {
                read.entry(partition).or_default().push(offset)
            });
        }
        read
    }

    /// Stops fetching `partition` in the source's consumer: the stand-in for librdkafka's
    /// consumer that stops fetching after a broker restart.
    fn stall(source: &PartitionSource, partition: i32) {
        let mut partitions = TopicPartitionList::new();
        partitions.add_partition(TOPIC, partition);
        source.consumer.pause(&partitions).unwrap();
    }

    #[test]
    fn a_stalled_partition_gets_a_new_consumer_that_reads_on_where_it_stopped() {
        let cluster = MockCluster::new(1).unwrap();
        let mut source = source(&cluster);
        produce(&cluster.bootstrap_servers(), 10);
        let first = read(&mut source, 20, Duration::from_secs(10));
        let offsets: Vec<i64> = (0..10).collect();
        assert_eq!(first, BTreeMap::from([(0, offsets.clone()), (1, offsets)]));
        stall(&source, 1);
        // Quiet with nothing waiting: the consumer stays.
        assert!(read(&mut source, 1, Duration::from_millis(1500)).is_empty());
        assert_eq!(source.stalls.replaced, 0);
        produce(&cluster.bootstrap_servers(), 10);
        let second = read(&mut source, 20, Duration::from_secs(10));
        let offsets: Vec<i64> = (10..20).collect();
        assert_eq!(second, BTreeMap::from([(0, offsets.clone()), (1, offsets)]));
        assert_eq!(source.stalls.replaced, 1, "one new consumer");
    }

    #[test]
    fn time_not_spent_reading_is_not_quiet_time() {
        let cluster = MockCluster::new(1).unwrap();
        let mut source = source(&cluster);
        stall(&source, 1);
        produce(&cluster.bootstrap_servers(), 10);
        // Held back (not asked to read) for longer than a stall takes, with records waiting.
        std::thread::sleep(Duration::from_millis(1200));
        source.poll_batch(100, Duration::ZERO, |_, _, _| {});
        assert_eq!(source.stalls.replaced, 0);
    }
}
