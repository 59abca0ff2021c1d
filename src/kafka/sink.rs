//! The results sink: every scored record becomes a `ServingResult` on the results topic (keyed by
//! `dataType`) and, if asked, a JSON line on standard output.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use prost::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use super::{send_when_room, KafkaConfig};
use crate::proto::serving_result::Outcome as WireOutcome;
use crate::proto::{ClassProbability, ServingResult};
use crate::record::{Outcome, Scored};

/// Counts the results Kafka failed to deliver.
#[derive(Default)]
pub struct DeliveryReport {
    failed: AtomicU64,
}

impl ClientContext for DeliveryReport {}

impl ProducerContext for DeliveryReport {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!("a result was not delivered: {error}");
        }
    }
}

/// Where results go. Shared by the workers of a process.
pub struct ResultSink {
    producer: Option<ThreadedProducer<DeliveryReport>>,
    results_topic: Option<String>,
    source_topic: String,
    print: bool,
}

impl ResultSink {
    /// A sink writing to `results_topic` (if any) and to standard output (if `print`), describing
    /// records as read from `source_topic`.
    pub fn new(
        kafka: &KafkaConfig,
        results_topic: Option<String>,
        source_topic: &str,
        print: bool,
    ) -> Result<Self> {
        let producer = match &results_topic {
            Some(_) => Some(
                kafka
                    .client()
                    .set("linger.ms", "5")
                    .create_with_context(DeliveryReport::default())
                    .context("creating the results producer")?,
            ),
            None => None,
        };
        Ok(ResultSink {
            producer,
            results_topic,
            source_topic: source_topic.to_owned(),
            print,
        })
    }

    /// Writes one result.
    pub fn write(&self, scored: &Scored) {
        let result = to_wire(scored, &self.source_topic);
        if self.print {
            let line = serde_json::to_string(&result).expect("results serialize to JSON");
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
        if let (Some(producer), Some(topic)) = (&self.producer, &self.results_topic) {
            send(producer, topic, &scored.data_type, &result.encode_to_vec());
        }
    }

    /// Waits until every result written so far is delivered (or has failed); returns how many
    /// deliveries have failed since the sink was made.
    pub fn flush(&self, timeout: Duration) -> Result<u64> {
        let Some(producer) = &self.producer else {
            return Ok(0);
        };
        producer
            .flush(timeout)
            .context("flushing results to Kafka")?;
        Ok(producer.context().failed.load(Ordering::Relaxed))
    }
}

/// Sends one result; a failure is counted like a failed delivery.
fn send(producer: &ThreadedProducer<DeliveryReport>, topic: &str, key: &str, payload: &[u8]) {
    if let Err(error) = send_when_room(producer, BaseRecord::to(topic).key(key).payload(payload)) {
        producer.context().failed.fetch_add(1, Ordering::Relaxed);
        tracing::error!(topic, "cannot produce a result: {error}");
    }
}

/// The wire form of a result.
pub fn to_wire(scored: &Scored, source_topic: &str) -> ServingResult {
    let mut result = ServingResult {
        data_type: scored.data_type.clone(),
        model_name: scored
            .model
            .as_ref()
            .map(|tag| tag.name.to_string())
            .unwrap_or_default(),
        model_since: scored.model.as_ref().map_or(0, |tag| tag.since as i64),
        duration_ns: scored.duration_ns as i64,
        source_topic: source_topic.to_owned(),
        source_partition: scored.origin.partition,
        source_offset: scored.origin.offset,
        worker: scored.worker as i32,
        ..ServingResult::default()
    };
    match &scored.outcome {
        Outcome::Scored(prediction) => {
            let labels = scored
                .model
                .as_ref()
                .map(|tag| &tag.labels[..])
                .unwrap_or_default();
            result.set_outcome(WireOutcome::Scored);
            result.value = prediction.value;
            result.label = prediction.class.as_deref().unwrap_or_default().to_owned();
            result.probabilities = prediction
                .probabilities
                .iter()
                .zip(labels)
                .map(|(probability, label)| ClassProbability {
                    label: label.to_string(),
                    probability: *probability,
                })
                .collect();
        }
        Outcome::NoModel => {
            result.set_outcome(WireOutcome::NoModel);
            result.error = format!("no model for dataType `{}`", scored.data_type);
        }
        Outcome::Failed(reason) => {
            result.set_outcome(WireOutcome::ScoringFailed);
            result.error = reason.clone();
        }
    }
    result
}
