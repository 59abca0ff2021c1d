//! Kafka on both ends of a job: the partitioned sources that feed timely inputs, the offsets
//! ledger that commits only what the output frontier has passed, the results sink, the topic of
//! state events, topic administration, and the client side (publishing, following a topic).

pub mod admin;
pub mod events;
pub mod offsets;
pub mod publish;
pub mod sink;
pub mod source;

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

/// Where the Kafka cluster is and how every client of a job talks to it.
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub bootstrap: String,
    /// Further librdkafka properties given on the command line (`key=value`).
    pub properties: Vec<(String, String)>,
}

impl KafkaConfig {
    /// A configuration for the given bootstrap servers.
    pub fn new(bootstrap: impl Into<String>) -> Self {
        KafkaConfig {
            bootstrap: bootstrap.into(),
            properties: Vec::new(),
        }
    }

    /// A librdkafka client configuration with the bootstrap servers and the extra properties.
    pub fn client(&self) -> ClientConfig {
        self.client_with(&[])
    }

    /// [`KafkaConfig::client`] with `defaults` set first: the extra properties override them.
    pub fn client_with(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }
}

/// Parses a `key=value` librdkafka property.
pub fn parse_property(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .ok_or_else(|| format!("`{text}` is not key=value"))
}

/// Hands a message to the producer, waiting while its queue is full.
pub(crate) fn send_when_room<C: ProducerContext<DeliveryOpaque = ()>>(
    producer: &ThreadedProducer<C>,
    mut record: BaseRecord<'_, str, [u8]>,
) -> Result<(), KafkaError> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((error, _)) => return Err(error),
        }
    }
}
