//! What goes out of a job: every scored record as a `ServingResult` on the results topic (keyed
//! by `dataType`), and every input the job gave up on as a dead letter, with its bytes, where it
//! came from and why (headers `modelserver.stage`, `modelserver.reason`,
//! `modelserver.source.topic`, `modelserver.source.partition`, `modelserver.source.offset`).
//!
//! Two ways to deliver them:
//! - [`ResultSink`] (at least once): one producer per process, messages sent as they come, each
//!   counted in the epoch it was sent in until its delivery report; data offsets are committed
//!   once every message of their epoch and the ones before is delivered, without stopping the
//!   worker to wait for it. A message Kafka refuses for itself (too large, invalid) becomes a
//!   dead letter, counted in the refused message's epoch, and the job moves on; while the
//!   cluster cannot be reached, nothing is dropped and nothing is committed.
//! - [`TransactionalSink`] (exactly once): one transactional producer per worker; the messages of
//!   each ingestion time wait until the output frontier has passed it, then go out in one
//!   transaction with the data offsets of the same times.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

mod wire;

pub use wire::{encode_result, to_wire};

use super::KafkaConfig;
use crate::record::lag::BrokerStatus;
use crate::record::{DeadLetter, Outcome, Scored, Stage, Time};

/// The topics a job reads and writes, as its output needs them.
#[derive(Clone, Debug)]
pub struct OutputTopics {
    /// Where results go, if anywhere.
    pub results: Option<Arc<str>>,
    /// Where dead letters go, if anywhere.
    pub dead_letters: Option<Arc<str>>,
    /// The data topic (the source of records).
    pub data: String,
    /// The models topic (the source of models).
    pub models: String,
}

/// A message on its way out.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    topic: Arc<str>,
    key: Arc<str>,
    payload: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

/// The largest message the producers send (librdkafka's `message.max.bytes` default); larger
/// ones are turned into dead letters before they are sent.
const MAX_MESSAGE_BYTES: usize = 1_000_000;

/// Room left in a dead letter for its key and headers.
const DEAD_LETTER_OVERHEAD: usize = 64 * 1024;

impl OutputTopics {
    /// The messages for one result: the result itself, and a dead letter with the record when
    /// it was not scored.
    pub fn for_result(&self, scored: &Scored) -> Vec<Outgoing> {
        let mut messages = Vec::with_capacity(1);
        if let Some(topic) = &self.results {
            let mut payload = Vec::with_capacity(RESULT_CAPACITY);
            encode_result(scored, &self.data, &mut payload);
            messages.push(self.fit(Outgoing {
                topic: topic.clone(),
                key: scored.data_type.clone(),
                payload,
                headers: Vec::new(),
            }));
        }
        if let Some(letter) = unscored_letter(scored) {
            messages.extend(self.for_dead_letter(&letter));
        }
        messages
    }

    /// The message for a dead letter, if dead letters are kept.
    pub fn for_dead_letter(&self, letter: &DeadLetter) -> Option<Outgoing> {
        let topic = self.dead_letters.as_ref()?;
        let mut headers = vec![
            ("modelserver.stage", letter.stage.name().to_owned()),
            ("modelserver.reason", truncated(&letter.reason, 4096)),
        ];
        if let Some(origin) = letter.origin {
            let source = match letter.stage {
                Stage::Delivery => self.results.as_deref().unwrap_or_default().to_owned(),
                stage if stage.is_model() => self.models.clone(),
                _ => self.data.clone(),
            };
            headers.push(("modelserver.source.topic", source));
            headers.push(("modelserver.source.partition", origin.partition.to_string()));
            headers.push(("modelserver.source.offset", origin.offset.to_string()));
        }
        let mut payload = letter.payload.clone();
        let room = MAX_MESSAGE_BYTES - DEAD_LETTER_OVERHEAD;
        if payload.len() > room {
            headers.push(("modelserver.truncated", payload.len().to_string()));
            payload.truncate(room);
        }
        Some(Outgoing {
            topic: topic.clone(),
            key: truncated(&letter.key, 1024).into(),
            payload,
            headers,
        })
    }

    /// `message` if it is small enough to be sent; else a dead letter saying so.
    fn fit(&self, message: Outgoing) -> Outgoing {
        let size = message.payload.len() + message.key.len();
        if size <= MAX_MESSAGE_BYTES {
            return message;
        }
        let reason = format!(
            "the message for `{}` is {size} bytes, more than the {MAX_MESSAGE_BYTES} a message may have",
            message.topic
        );
        self.undeliverable(&message, reason).unwrap_or(message)
    }

    /// A dead letter for a message Kafka refused (none if dead letters are not kept, or if the
    /// message was itself a dead letter).
    fn undeliverable(&self, message: &Outgoing, reason: String) -> Option<Outgoing> {
        if self.dead_letters.as_deref() == Some(&*message.topic) {
            return None;
        }
        self.for_dead_letter(&DeadLetter {
            stage: Stage::Delivery,
            origin: None,
            key: message.key.to_string(),
            payload: message.payload.clone(),
            reason,
        })
    }
}

/// Bytes reserved for an encoded result: enough for a classifier of a dozen classes.
const RESULT_CAPACITY: usize = 256;

/// The dead letter of a result's record, when it was not scored.
fn unscored_letter(scored: &Scored) -> Option<DeadLetter> {
    let record = scored.unscored.as_ref()?;
    let (stage, reason) = match &scored.outcome {
        Outcome::Failed(reason) => (Stage::Scoring, reason.clone()),
        _ => (
            Stage::NoModel,
            format!("no model for dataType `{}` in time", scored.data_type),
        ),
    };
    Some(DeadLetter {
        stage,
        origin: Some(scored.origin),
        key: scored.data_type.to_string(),
        payload: record.clone(),
        reason,
    })
}

fn truncated(text: &str, most: usize) -> String {
    if text.len() <= most {
        return text.to_owned();
    }
    let mut end = most;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A message Kafka refused, as the delivery report gave it back.
#[derive(Debug)]
struct Refused {
    /// The epoch the message was sent in ([`UNTRACKED`] if none).
    epoch: usize,
    topic: String,
    key: String,
    payload: Vec<u8>,
    error: String,
}

/// The delivery opaque of a message whose delivery nobody waits for by epoch (the
/// transactional sink's: its transactions say what was delivered).
const UNTRACKED: usize = usize::MAX;

/// The messages handed to a producer and not settled yet (delivered, or refused and replaced by
/// a dead letter), counted by the epoch they were sent in. An epoch is closed by a worker that
/// wants to commit the offsets of what it has sent so far: once it and every earlier epoch
/// count nothing, all of that is delivered.
#[derive(Debug)]
struct InFlight {
    /// The epoch of `counts[0]`.
    first: usize,
    /// Messages not settled, per epoch from `first` on; the last one is the open epoch. Never
    /// empty.
    counts: VecDeque<u64>,
}

impl Default for InFlight {
    fn default() -> Self {
        InFlight {
            first: 0,
            counts: VecDeque::from([0]),
        }
    }
}

impl InFlight {
    /// Counts a message sent now; returns its epoch.
    fn enter(&mut self) -> usize {
        *self.counts.back_mut().expect("never empty") += 1;
        self.first + self.counts.len() - 1
    }

    /// Counts one more message in `epoch` (a dead letter replacing a message of it), which
    /// must not be settled yet.
    fn reenter(&mut self, epoch: usize) {
        if let Some(count) = self.count_mut(epoch) {
            *count += 1;
        }
    }

    /// A message of `epoch` is settled.
    fn leave(&mut self, epoch: usize) {
        if let Some(count) = self.count_mut(epoch) {
            *count = count.saturating_sub(1);
        }
        self.trim();
    }

    /// Closes the open epoch (returned) and opens the next.
    fn close(&mut self) -> usize {
        let closed = self.first + self.counts.len() - 1;
        self.counts.push_back(0);
        self.trim();
        closed
    }

    /// Whether every message of `epoch` and the epochs before it is settled.
    fn settled(&self, epoch: usize) -> bool {
        self.first > epoch
    }

    fn count_mut(&mut self, epoch: usize) -> Option<&mut u64> {
        let index = epoch.checked_sub(self.first)?;
        self.counts.get_mut(index)
    }

    /// Forgets the settled epochs at the front, keeping the open one.
    fn trim(&mut self) {
        while self.counts.len() > 1 && self.counts.front() == Some(&0) {
            self.counts.pop_front();
            self.first += 1;
        }
    }
}

/// A producer's reports: messages in flight, refused messages, and whether the cluster is
/// reachable.
pub struct DeliveryReport {
    in_flight: Mutex<InFlight>,
    refused: Mutex<Vec<Refused>>,
    broker: Arc<BrokerStatus>,
}

impl DeliveryReport {
    fn new(broker: Arc<BrokerStatus>) -> Self {
        DeliveryReport {
            in_flight: Mutex::default(),
            refused: Mutex::default(),
            broker,
        }
    }

    fn take_refused(&self) -> Vec<Refused> {
        std::mem::take(&mut *self.refused.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, InFlight> {
        self.in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn settle(&self, epoch: usize) {
        if epoch != UNTRACKED {
            self.in_flight().leave(epoch);
        }
    }
}

impl ClientContext for DeliveryReport {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.broker.down();
        }
        tracing::warn!("results producer: {error}: {reason}");
    }
}

impl ProducerContext for DeliveryReport {
    type DeliveryOpaque = usize;

    /// A delivered message is settled; a refused one waits, still counted, until a worker has
    /// sent its dead letter in its place.
    fn delivery(&self, result: &DeliveryResult<'_>, epoch: usize) {
        match result {
            Ok(_) => {
                self.broker.up();
                self.settle(epoch);
            }
            Err((error, message)) => {
                let text = |bytes: Option<&[u8]>| {
                    String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned()
                };
                self.refused
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(Refused {
                        epoch,
                        topic: message.topic().to_owned(),
                        key: text(message.key()),
                        payload: message.payload().unwrap_or_default().to_vec(),
                        error: error.to_string(),
                    });
            }
        }
    }
}

/// A producer that never gives up on a message for lack of a broker (`message.timeout.ms=0`):
/// while the cluster is away, messages wait, and nothing is purged.
fn producer(
    kafka: &KafkaConfig,
    broker: Arc<BrokerStatus>,
    transactional_id: Option<&str>,
) -> Result<ThreadedProducer<DeliveryReport>> {
    let mut client = kafka.client_with(&[("linger.ms", "5")]);
    client
        .set("message.timeout.ms", "0")
        .set("enable.idempotence", "true");
    if let Some(id) = transactional_id {
        client
            .set("transactional.id", id)
            .set("transaction.timeout.ms", "60000");
    }
    client
        .create_with_context(DeliveryReport::new(broker))
        .context("creating a results producer")
}

/// Hands `message` to `producer` with the delivery opaque `epoch`, waiting while its queue is
/// full (the cluster is away) until `stop` is set. A message librdkafka refuses for itself
/// comes back as `Err` with why; one it had no room for when asked to stop, as
/// `Err(QueueFull)`.
fn send(
    producer: &ThreadedProducer<DeliveryReport>,
    message: &Outgoing,
    epoch: usize,
    stop: &AtomicBool,
) -> Result<(), KafkaError> {
    let Outgoing {
        topic,
        key,
        payload,
        headers,
    } = message;
    send_parts(producer, (topic, key, payload), headers, epoch, stop)
}

/// [`send`] for a message given by its parts: topic, key and payload, and headers.
fn send_parts(
    producer: &ThreadedProducer<DeliveryReport>,
    (topic, key, payload): (&str, &str, &[u8]),
    message_headers: &[(&'static str, String)],
    epoch: usize,
    stop: &AtomicBool,
) -> Result<(), KafkaError> {
    let mut record = BaseRecord::with_opaque_to(topic, epoch)
        .key(key)
        .payload(payload);
    // Headers are a C allocation of their own: only dead letters carry any.
    if !message_headers.is_empty() {
        let mut headers = OwnedHeaders::new_with_capacity(message_headers.len());
        for (key, value) in message_headers {
            headers = headers.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        record = record.headers(headers);
    }
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                if stop.load(Ordering::Relaxed) {
                    return Err(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull));
                }
                record = returned;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((error, _)) => return Err(error),
        }
    }
}

/// Where results go in the at-least-once mode. Shared by the workers of a process.
pub struct ResultSink {
    producer: ThreadedProducer<DeliveryReport>,
    topics: OutputTopics,
    print: bool,
    /// The job's stop flag: once set, a full queue is no longer waited on.
    stop: Arc<AtomicBool>,
    /// Set once a message was dropped for want of room while stopping: from then on nothing
    /// counts as delivered, so nothing more is committed.
    dropped: AtomicBool,
}

thread_local! {
    /// The bytes of the result a worker thread is writing, kept from one result to the next.
    static ENCODED_RESULT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What a worker had sent when it asked for a commit: the epoch it closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentMark(usize);

/// Whether everything sent so far was delivered (or turned into a dead letter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// Yes: offsets may be committed.
    All,
    /// The job is stopping before the cluster took everything: commit nothing.
    Interrupted,
}

impl ResultSink {
    /// A sink writing to `topics` (and to standard output, if `print`), for a job whose stop
    /// flag is `stop`.
    pub fn new(
        kafka: &KafkaConfig,
        topics: OutputTopics,
        print: bool,
        broker: Arc<BrokerStatus>,
        stop: Arc<AtomicBool>,
    ) -> Result<Self> {
        Ok(ResultSink {
            producer: producer(kafka, broker, None)?,
            topics,
            print,
            stop,
            dropped: AtomicBool::new(false),
        })
    }

    /// The topics it writes.
    pub fn topics(&self) -> &OutputTopics {
        &self.topics
    }

    /// Writes one result (and its record, as a dead letter, if it was not scored). The result
    /// is encoded into a buffer of the calling thread's and handed to the producer from there:
    /// nothing is allocated for it.
    pub fn write(&self, scored: &Scored) {
        if self.print {
            print_result(scored, &self.topics.data);
        }
        if let Some(topic) = &self.topics.results {
            ENCODED_RESULT.with_borrow_mut(|payload| {
                payload.clear();
                encode_result(scored, &self.topics.data, payload);
                self.send_result(topic, &scored.data_type, payload);
            });
        }
        if let Some(letter) = unscored_letter(scored) {
            self.dead_letter(&letter);
        }
    }

    /// Sends a result from borrowed bytes; only one too large, or refused, is copied.
    fn send_result(&self, topic: &str, key: &str, payload: &[u8]) {
        let owned = || Outgoing {
            topic: topic.into(),
            key: key.into(),
            payload: payload.to_vec(),
            headers: Vec::new(),
        };
        if payload.len() + key.len() > MAX_MESSAGE_BYTES {
            return self.send(self.topics.fit(owned()));
        }
        let epoch = self.report().in_flight().enter();
        let sent = send_parts(
            &self.producer,
            (topic, key, payload),
            &[],
            epoch,
            &self.stop,
        );
        self.settle(sent, epoch, owned);
    }

    /// Gives up on an input: it goes to the dead-letter topic.
    pub fn dead_letter(&self, letter: &DeadLetter) {
        if let Some(message) = self.topics.for_dead_letter(letter) {
            self.send(message);
        }
    }

    fn send(&self, message: Outgoing) {
        let epoch = self.report().in_flight().enter();
        let sent = send(&self.producer, &message, epoch, &self.stop);
        self.settle(sent, epoch, || message);
    }

    fn report(&self) -> &DeliveryReport {
        self.producer.context()
    }

    /// Deals with what became of a send in `epoch`: a message dropped while stopping stops
    /// commits; one Kafka refused for itself becomes a dead letter.
    fn settle(
        &self,
        sent: Result<(), KafkaError>,
        epoch: usize,
        message: impl FnOnce() -> Outgoing,
    ) {
        match sent {
            Ok(()) => {}
            Err(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)) => {
                self.dropped.store(true, Ordering::Relaxed);
                self.report().settle(epoch);
            }
            Err(error) => self.refused(&message(), error.to_string(), epoch),
        }
    }

    /// Replaces `message`, refused, by its dead letter, counted in the refused message's
    /// `epoch` (which it leaves settled).
    fn refused(&self, message: &Outgoing, error: String, epoch: usize) {
        let reason = format!("Kafka refused the message for `{}`: {error}", message.topic);
        match self.topics.undeliverable(message, reason) {
            Some(letter) => {
                self.report().in_flight().reenter(epoch);
                if let Err(error) = send(&self.producer, &letter, epoch, &self.stop) {
                    tracing::error!(topic = %letter.topic, "a dead letter was refused too, and is lost: {error}");
                    self.report().settle(epoch);
                }
            }
            None => {
                tracing::error!(topic = %message.topic, "a message was refused, and is lost: {error}")
            }
        }
        self.report().settle(epoch);
    }

    /// Turns the messages Kafka refused since the last call into dead letters; says whether
    /// there were any.
    fn divert_refused(&self) -> bool {
        let refused = self.report().take_refused();
        let any = !refused.is_empty();
        for refused in refused {
            let message = Outgoing {
                topic: refused.topic.into(),
                key: refused.key.into(),
                payload: refused.payload,
                headers: Vec::new(),
            };
            self.refused(&message, refused.error, refused.epoch);
        }
        any
    }

    /// Marks what was sent so far (by every worker of the process), to ask [`Self::delivered`]
    /// about later: nothing waits.
    pub fn mark(&self) -> SentMark {
        SentMark(self.report().in_flight().close())
    }

    /// Whether everything sent before `mark` was delivered (or, refused, replaced by its dead
    /// letter, delivered too): `None` while some of it is in flight; [`Delivered::Interrupted`]
    /// once something was dropped while stopping.
    pub fn delivered(&self, mark: SentMark) -> Option<Delivered> {
        self.divert_refused();
        if self.dropped.load(Ordering::Relaxed) {
            return Some(Delivered::Interrupted);
        }
        let settled = self.report().in_flight().settled(mark.0);
        settled.then_some(Delivered::All)
    }

    /// Waits until everything written so far is delivered, turning what Kafka refused into dead
    /// letters. While the cluster cannot be reached it waits on, until the job is stopped or
    /// `patience` has passed (then [`Delivered::Interrupted`]: commit nothing).
    pub fn flush(&self, patience: Option<Duration>) -> Delivered {
        let deadline = patience.map(|patience| Instant::now() + patience);
        loop {
            let all_sent = self.flush_once(deadline);
            if !self.divert_refused() || all_sent == Delivered::Interrupted {
                return all_sent;
            }
        }
    }

    fn flush_once(&self, deadline: Option<Instant>) -> Delivered {
        loop {
            if self.dropped.load(Ordering::Relaxed) {
                return Delivered::Interrupted;
            }
            let out_of_time = deadline.is_some_and(|deadline| Instant::now() >= deadline);
            match self.producer.flush(Duration::from_millis(200)) {
                Ok(()) => return Delivered::All,
                Err(_) if out_of_time || self.stop.load(Ordering::Relaxed) => {
                    return Delivered::Interrupted
                }
                Err(_) => {}
            }
        }
    }
}

/// Prints a result as a JSON line on standard output.
fn print_result(scored: &Scored, source_topic: &str) {
    let result = to_wire(scored, source_topic);
    let line = serde_json::to_string(&result).expect("results serialize to JSON");
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Where one worker's results go in the exactly-once mode.
pub struct TransactionalSink {
    producer: ThreadedProducer<DeliveryReport>,
    topics: OutputTopics,
    print: bool,
    /// Messages by ingestion time, waiting for the output frontier to pass their time.
    staged: BTreeMap<Time, Vec<Outgoing>>,
}

/// How long a transaction call may take before it is tried again.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);

impl TransactionalSink {
    /// A sink with the transactional id `id` (one per worker, the same across restarts: starting
    /// it fences off an earlier instance and aborts what that left open).
    pub fn new(
        kafka: &KafkaConfig,
        id: &str,
        topics: OutputTopics,
        print: bool,
        broker: Arc<BrokerStatus>,
    ) -> Result<Self> {
        let producer = producer(kafka, broker, Some(id))?;
        producer
            .init_transactions(Duration::from_secs(60))
            .with_context(|| format!("starting the transactions of `{id}`"))?;
        producer
            .begin_transaction()
            .context("beginning a transaction")?;
        Ok(TransactionalSink {
            producer,
            topics,
            print,
            staged: BTreeMap::new(),
        })
    }

    /// Holds a result (and the dead letter of its record) until its time is complete.
    pub fn stage_result(&mut self, time: Time, scored: &Scored) {
        if self.print {
            print_result(scored, &self.topics.data);
        }
        let messages = self.topics.for_result(scored);
        self.staged.entry(time).or_default().extend(messages);
    }

    /// Holds a dead letter until its time is complete.
    pub fn stage_dead_letter(&mut self, time: Time, letter: &DeadLetter) {
        if let Some(message) = self.topics.for_dead_letter(letter) {
            self.staged.entry(time).or_default().push(message);
        }
    }

    /// Sends, in one transaction, the messages of every time before `frontier` (all, when
    /// `None`) and the data offsets `next` (of the same times), read by a consumer of
    /// `group`; retries what can be retried until `stop` is set. Returns whether it committed.
    pub fn commit(
        &mut self,
        frontier: Option<Time>,
        next: &BTreeMap<i32, i64>,
        data_topic: &str,
        group: &ConsumerGroupMetadata,
        stop: &AtomicBool,
    ) -> Result<bool> {
        let mut batch: Vec<Outgoing> = Vec::new();
        while let Some(entry) = self.staged.first_entry() {
            if frontier.is_some_and(|frontier| *entry.key() >= frontier) {
                break;
            }
            batch.extend(entry.remove());
        }
        if batch.is_empty() && next.is_empty() {
            return Ok(true);
        }
        let mut offsets = TopicPartitionList::new();
        for (partition, offset) in next {
            offsets.add_partition_offset(data_topic, *partition, Offset::Offset(*offset))?;
        }
        let started = Instant::now();
        loop {
            match self.try_commit(&batch, &offsets, group, stop) {
                Ok(()) => return Ok(true),
                Err(Attempt::Fatal(error)) => return Err(error),
                Err(Attempt::Again(error)) => {
                    if stop.load(Ordering::Relaxed) {
                        tracing::warn!("stopping with a transaction not committed: {error:#}");
                        return Ok(false);
                    }
                    if started.elapsed() > Duration::from_secs(5) {
                        tracing::warn!("a transaction is still not committed: {error:#}");
                    }
                    batch = self.divert_refused(batch);
                }
            }
        }
    }

    fn try_commit(
        &self,
        batch: &[Outgoing],
        offsets: &TopicPartitionList,
        group: &ConsumerGroupMetadata,
        stop: &AtomicBool,
    ) -> Result<(), Attempt> {
        for message in batch {
            if let Err(error) = send(&self.producer, message, UNTRACKED, stop) {
                return Err(self.abort(error));
            }
        }
        if offsets.count() > 0 {
            self.producer
                .send_offsets_to_transaction(offsets, group, TRANSACTION_TIMEOUT)
                .map_err(|error| self.abort(error))?;
        }
        self.producer
            .commit_transaction(TRANSACTION_TIMEOUT)
            .map_err(|error| self.abort(error))?;
        self.producer
            .begin_transaction()
            .map_err(|error| Attempt::Fatal(error.into()))
    }

    /// What to do after `error` in a transaction: abort it when it must be, and say whether to
    /// try again.
    fn abort(&self, error: KafkaError) -> Attempt {
        let transaction_error = match &error {
            KafkaError::Transaction(inner) => Some(inner),
            _ => None,
        };
        if transaction_error.is_some_and(|inner| inner.is_fatal()) {
            return Attempt::Fatal(anyhow::anyhow!(
                "the results producer can no longer commit (fenced by another instance of this worker?): {error}"
            ));
        }
        let must_abort = transaction_error.is_none_or(|inner| inner.txn_requires_abort());
        if must_abort {
            if let Err(abort) = self.producer.abort_transaction(TRANSACTION_TIMEOUT) {
                return Attempt::Fatal(anyhow::anyhow!(
                    "cannot abort a failed transaction ({error}): {abort}"
                ));
            }
            if let Err(begin) = self.producer.begin_transaction() {
                return Attempt::Fatal(begin.into());
            }
        }
        Attempt::Again(error.into())
    }

    /// The batch with the messages Kafka refused for themselves replaced by dead letters.
    fn divert_refused(&self, batch: Vec<Outgoing>) -> Vec<Outgoing> {
        let refused = self.producer.context().take_refused();
        if refused.is_empty() {
            return batch;
        }
        batch
            .into_iter()
            .map(|message| {
                let refusal = refused.iter().find(|refused| {
                    *refused.topic == *message.topic
                        && *refused.key == *message.key
                        && refused.payload == message.payload
                });
                match refusal {
                    Some(refused) => {
                        let reason = format!("Kafka refused the message: {}", refused.error);
                        self.topics
                            .undeliverable(&message, reason)
                            .unwrap_or(message)
                    }
                    None => message,
                }
            })
            .collect()
    }
}

/// How a transaction attempt failed.
enum Attempt {
    /// It may succeed if tried again (the transaction was aborted if it had to be).
    Again(anyhow::Error),
    /// It never will: the producer is fenced or broken.
    Fatal(anyhow::Error),
}

/// A dead letter as read back from the dead-letter topic.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ReadDeadLetter {
    /// Its position in the dead-letter topic.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
    /// Its key (the `dataType`, when known).
    pub key: String,
    /// Its headers by name: `modelserver.stage`, `modelserver.reason`, and for an input read from
    /// a topic `modelserver.source.topic`, `.partition`, `.offset`.
    pub headers: BTreeMap<String, String>,
    /// The bytes given up on.
    pub payload: Vec<u8>,
}

impl ReadDeadLetter {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// Reads the dead letters of `topic` from the beginning, until `count` have come or none has
/// for `idle`.
pub fn read_dead_letters(
    kafka: &KafkaConfig,
    topic: &str,
    count: usize,
    idle: Duration,
) -> Result<Vec<ReadDeadLetter>> {
    let mut letters = Vec::new();
    super::source::follow_messages(kafka, topic, count, idle, |message| {
        let headers = message.headers().map(|headers| {
            headers
                .iter()
                .map(|header| {
                    let value = String::from_utf8_lossy(header.value.unwrap_or_default());
                    (header.key.to_owned(), value.into_owned())
                })
                .collect()
        });
        letters.push(ReadDeadLetter {
            partition: message.partition(),
            offset: message.offset(),
            key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
            headers: headers.unwrap_or_default(),
            payload: message.payload().unwrap_or_default().to_vec(),
        });
    })?;
    Ok(letters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Origin;

    fn topics() -> OutputTopics {
        OutputTopics {
            results: Some("results".into()),
            dead_letters: Some("dlq".into()),
            data: "mdata".into(),
            models: "models".into(),
        }
    }

    fn scored(outcome: Outcome, unscored: Option<Vec<u8>>) -> Scored {
        Scored {
            origin: Origin {
                partition: 2,
                offset: 40,
            },
            data_type: "wine".into(),
            model: None,
            outcome,
            duration_ns: 0,
            worker: 0,
            unscored,
            role: Default::default(),
            members: Vec::new(),
        }
    }

    fn header<'a>(message: &'a Outgoing, name: &str) -> Option<&'a str> {
        message
            .headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    #[test]
    fn a_record_that_was_not_scored_is_also_a_dead_letter() {
        let messages = topics().for_result(&scored(Outcome::NoModel, Some(b"record".to_vec())));
        assert_eq!(messages.len(), 2);
        assert_eq!(&*messages[0].topic, "results");
        let letter = &messages[1];
        assert_eq!(
            (&*letter.topic, &letter.payload[..]),
            ("dlq", &b"record"[..])
        );
        assert_eq!(header(letter, "modelserver.stage"), Some("no-model"));
        assert_eq!(header(letter, "modelserver.source.topic"), Some("mdata"));
        assert_eq!(header(letter, "modelserver.source.partition"), Some("2"));
        assert_eq!(header(letter, "modelserver.source.offset"), Some("40"));
    }

    #[test]
    fn an_oversized_result_becomes_a_dead_letter() {
        let mut large = scored(Outcome::Failed("x".repeat(MAX_MESSAGE_BYTES)), None);
        large.unscored = None;
        let messages = topics().for_result(&large);
        assert_eq!(messages.len(), 1);
        let letter = &messages[0];
        assert_eq!(&*letter.topic, "dlq");
        assert_eq!(header(letter, "modelserver.stage"), Some("delivery"));
        assert!(header(letter, "modelserver.reason")
            .unwrap()
            .contains("more than the"));
        assert!(letter.payload.len() <= MAX_MESSAGE_BYTES - DEAD_LETTER_OVERHEAD);
        assert!(header(letter, "modelserver.truncated").is_some());
    }

    #[test]
    fn without_a_dead_letter_topic_nothing_is_added() {
        let topics = OutputTopics {
            dead_letters: None,
            ..topics()
        };
        let messages = topics.for_result(&scored(Outcome::NoModel, Some(b"record".to_vec())));
        assert_eq!(messages.len(), 1);
    }
}

#[cfg(test)]
mod in_flight_tests {
    use super::InFlight;

    #[test]
    fn a_mark_is_settled_once_its_epoch_and_every_earlier_one_are() {
        let mut in_flight = InFlight::default();
        let first = in_flight.enter();
        let mark = in_flight.close();
        let second = in_flight.enter();
        let later_mark = in_flight.close();
        assert!(!in_flight.settled(mark));
        in_flight.leave(second);
        assert!(
            !in_flight.settled(later_mark),
            "a message of an earlier epoch is still in flight"
        );
        in_flight.leave(first);
        assert!(in_flight.settled(mark));
        assert!(in_flight.settled(later_mark));
    }

    #[test]
    fn messages_sent_after_a_mark_do_not_hold_it() {
        let mut in_flight = InFlight::default();
        let before = in_flight.enter();
        let mark = in_flight.close();
        let _after = in_flight.enter();
        in_flight.leave(before);
        assert!(in_flight.settled(mark));
    }

    #[test]
    fn a_refused_message_holds_its_epoch_until_its_dead_letter_is_delivered() {
        let mut in_flight = InFlight::default();
        let refused = in_flight.enter();
        let mark = in_flight.close();
        in_flight.reenter(refused);
        in_flight.leave(refused);
        assert!(!in_flight.settled(mark), "the dead letter is in flight");
        in_flight.leave(refused);
        assert!(in_flight.settled(mark));
    }

    #[test]
    fn an_empty_epoch_is_settled_at_once() {
        let mut in_flight = InFlight::default();
        let mark = in_flight.close();
        assert!(in_flight.settled(mark));
        assert_eq!(in_flight.counts.len(), 1, "settled epochs are forgotten");
    }
}
