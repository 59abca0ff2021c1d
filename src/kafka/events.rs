//! A topic of keyed JSON lines: where a job sends its state events (`serve --state-topic`), so
//! that another process can follow state changes.

use std::time::Duration;

use anyhow::{Context, Result};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use super::{send_when_room, KafkaConfig};

/// A producer of keyed lines to one topic.
pub struct LineTopic {
    producer: ThreadedProducer<DefaultProducerContext>,
    name: String,
}

impl LineTopic {
    /// A producer to topic `name`.
    pub fn new(kafka: &KafkaConfig, name: &str) -> Result<Self> {
        let producer = kafka
            .client()
            .set("linger.ms", "20")
            .create()
            .context("creating the event producer")?;
        Ok(LineTopic {
            producer,
            name: name.to_owned(),
        })
    }

    /// Sends one line under `key`; a failure is logged (events are not worth stopping a job).
    pub fn send(&self, key: &str, line: &str) {
        let record = BaseRecord::to(&self.name).key(key).payload(line.as_bytes());
        if let Err(error) = send_when_room(&self.producer, record) {
            tracing::warn!(topic = %self.name, "cannot send a state event: {error}");
        }
    }

    /// Waits up to `timeout` for the lines on their way.
    pub fn flush(&self, timeout: Duration) {
        if let Err(error) = self.producer.flush(timeout) {
            tracing::warn!(topic = %self.name, "state events not all delivered: {error}");
        }
    }
}
