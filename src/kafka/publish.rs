//! The client side: publishing data records (round-robin over the topic's partitions, at a chosen
//! rate) and model descriptors.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use prost::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use super::admin::REQUEST_TIMEOUT;
use super::{send_when_room, KafkaConfig};
use crate::model::ModelKind;
use crate::proto::lifecycle::Operation;
use crate::proto::model_descriptor::MessageContent;
use crate::proto::{Lifecycle, ModelDescriptor};
use crate::record::{PayloadFormat, Record};

/// A producer of records and models.
pub struct Publisher {
    producer: ThreadedProducer<DefaultProducerContext>,
    /// Records published so far, which also picks the next record's partition.
    published: AtomicU64,
}

impl Publisher {
    /// Connects a producer.
    pub fn new(kafka: &KafkaConfig) -> Result<Self> {
        let producer = kafka
            .client()
            .set("linger.ms", "5")
            // Retries through a broker outage must not write a record twice.
            .set("enable.idempotence", "true")
            .create()
            .context("creating a Kafka producer")?;
        Ok(Publisher {
            producer,
            published: AtomicU64::new(0),
        })
    }

    /// Publishes a model descriptor (a model, or a lifecycle operation), keyed by
    /// [`model_key`], and waits until it is delivered.
    pub fn publish_model(&self, topic: &str, descriptor: &ModelDescriptor) -> Result<()> {
        self.send(
            BaseRecord::to(topic)
                .key(model_key(descriptor).as_str())
                .payload(descriptor.encode_to_vec().as_slice()),
        )?;
        self.flush()
    }

    /// Publishes raw payloads to `topic` under one key (for hostile-input tests and tools) and
    /// waits until all are delivered.
    pub fn publish_raw<P: AsRef<[u8]>>(
        &self,
        topic: &str,
        key: &str,
        payloads: impl IntoIterator<Item = P>,
    ) -> Result<()> {
        for payload in payloads {
            self.send(BaseRecord::to(topic).key(key).payload(payload.as_ref()))?;
        }
        self.flush()
    }

    /// Publishes records (protobuf) round-robin over the partitions of `topic` (continuing where
    /// the publisher's previous records left off), at most `rate` per second (as fast as
    /// possible when `None`), calling `progress` after each; returns how many.
    pub fn publish_records<R: Record>(
        &self,
        topic: &str,
        records: impl IntoIterator<Item = R>,
        rate: Option<f64>,
        progress: impl FnMut(u64),
    ) -> Result<u64> {
        self.publish_encoded(topic, records, PayloadFormat::Protobuf, rate, progress)
    }

    /// As [`Publisher::publish_records`], with the records encoded as `format`.
    pub fn publish_encoded<R: Record>(
        &self,
        topic: &str,
        records: impl IntoIterator<Item = R>,
        format: PayloadFormat,
        rate: Option<f64>,
        mut progress: impl FnMut(u64),
    ) -> Result<u64> {
        let partitions = self.partition_count(topic)?;
        let pacer = rate.map(|rate| Duration::from_secs_f64(1.0 / rate));
        let started = Instant::now();
        let mut sent = 0u64;
        for record in records {
            if let Some(interval) = pacer {
                let due = started + interval.mul_f64(sent as f64);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            let published = self.published.fetch_add(1, Ordering::Relaxed);
            let partition = (published % partitions as u64) as i32;
            let payload = record.encode(format);
            self.send(
                BaseRecord::to(topic)
                    .key(record.data_type())
                    .payload(payload.as_slice())
                    .partition(partition),
            )?;
            sent += 1;
            progress(sent);
        }
        self.flush()?;
        Ok(sent)
    }

    /// Waits until everything published is delivered.
    pub fn flush(&self) -> Result<()> {
        self.producer
            .flush(Duration::from_secs(30))
            .context("delivering to Kafka")
    }

    fn partition_count(&self, topic: &str) -> Result<i32> {
        let metadata = self
            .producer
            .client()
            .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
            .with_context(|| format!("reading the metadata of topic `{topic}`"))?;
        let partitions = metadata
            .topics()
            .first()
            .map_or(0, |topic| topic.partitions().len());
        anyhow::ensure!(partitions > 0, "topic `{topic}` does not exist");
        Ok(partitions as i32)
    }

    fn send(&self, record: BaseRecord<'_, str, [u8]>) -> Result<()> {
        let topic = record.topic.to_owned();
        send_when_room(&self.producer, record).with_context(|| format!("publishing to `{topic}`"))
    }
}

/// A descriptor carrying the model's bytes.
pub fn model_with_bytes(
    name: &str,
    data_type: &str,
    kind: ModelKind,
    bytes: Vec<u8>,
) -> ModelDescriptor {
    describe(name, data_type, kind, MessageContent::Data(bytes))
}

/// A descriptor naming the file the model is loaded from.
pub fn model_at_location(
    name: &str,
    data_type: &str,
    kind: ModelKind,
    location: &str,
) -> ModelDescriptor {
    describe(
        name,
        data_type,
        kind,
        MessageContent::Location(location.to_owned()),
    )
}

fn describe(
    name: &str,
    data_type: &str,
    kind: ModelKind,
    content: MessageContent,
) -> ModelDescriptor {
    let mut descriptor = ModelDescriptor {
        name: name.to_owned(),
        description: format!("{kind} model {name}"),
        data_type: data_type.to_owned(),
        message_content: Some(content),
        ..ModelDescriptor::default()
    };
    descriptor.set_modeltype(kind.to_wire());
    descriptor
}

/// A lifecycle operation on the models of `data_type` (see `proto/modeldescriptor.proto`).
pub fn lifecycle_operation(data_type: &str, lifecycle: Lifecycle) -> ModelDescriptor {
    ModelDescriptor {
        name: lifecycle.model.clone(),
        data_type: data_type.to_owned(),
        lifecycle: Some(lifecycle),
        ..ModelDescriptor::default()
    }
}

/// `descriptor` with its model staged (kept ready, not served) instead of served.
pub fn staged(mut descriptor: ModelDescriptor) -> ModelDescriptor {
    let mut lifecycle = Lifecycle::default();
    lifecycle.set_operation(Operation::Stage);
    descriptor.lifecycle = Some(lifecycle);
    descriptor
}

/// The Kafka key of a models-topic message. The job creates the models topic compacted, so the
/// key decides what Kafka keeps: a model is keyed by its `dataType` and name (`wine/forest`:
/// the newest bytes of each version are kept, for rollbacks after a restart), an operation
/// by a key of its own (`wine/~canary/<nanoseconds>`: operations are small and every one is
/// kept, so that a restart replays them all in order).
pub fn model_key(descriptor: &ModelDescriptor) -> String {
    let data_type = &descriptor.data_type;
    if descriptor.carries_model() {
        return format!("{data_type}/{}", descriptor.name);
    }
    let operation = descriptor.operation();
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{data_type}/~{}/{unique}",
        operation.as_str_name().to_lowercase()
    )
}
