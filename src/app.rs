//! What a serving app needs around its job: Kafka that is either the user's cluster or an
//! embedded one, and the predictions read back as they arrive. The apps in `jobs/` (`wine`,
//! `iris`) are built from these and the [`crate::job`] API.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use prost::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::job::JobConfig;
use crate::kafka::admin::ensure_topics;
use crate::kafka::source::{PartitionSource, StartAt};
use crate::kafka::KafkaConfig;
use crate::pipeline::PipelineKind;
use crate::proto::ServingResult;

/// An app's topics, named after it: `{app}-records`, `{app}-models`, `{app}-predictions`.
pub struct AppTopics {
    /// The data records.
    pub records: String,
    /// The model descriptors.
    pub models: String,
    /// The predictions (serving results).
    pub predictions: String,
}

impl AppTopics {
    /// The topics of app `app`.
    pub fn new(app: &str) -> Self {
        AppTopics {
            records: format!("{app}-records"),
            models: format!("{app}-models"),
            predictions: format!("{app}-predictions"),
        }
    }

    /// Each topic with the partitions to create it with.
    pub fn partitions(&self) -> [(&str, i32); 3] {
        [
            (&self.records, 4),
            (&self.models, 1),
            (&self.predictions, 4),
        ]
    }

    /// A keyed job over these topics, committing data offsets as consumer group `{records}-app`.
    pub fn job_config(&self, kafka: &KafkaConfig) -> JobConfig {
        let mut config = JobConfig::new(kafka.clone(), PipelineKind::Keyed);
        config.data_topic = self.records.clone();
        config.models_topic = self.models.clone();
        config.results_topic = Some(self.predictions.clone());
        config.group = format!("{}-app", self.records);
        config
    }
}

/// The Kafka an app runs against; an embedded cluster lives as long as this.
pub struct AppKafka {
    /// How to reach it.
    pub config: KafkaConfig,
    embedded: Option<MockCluster<'static, DefaultProducerContext>>,
}

impl AppKafka {
    /// The cluster at `bootstrap`, or an embedded one (librdkafka's mock cluster) when `None`;
    /// either way with `topics` (name, partitions) created if missing.
    pub fn connect(bootstrap: Option<&str>, topics: &[(&str, i32)]) -> Result<Self> {
        let Some(bootstrap) = bootstrap else {
            let cluster = MockCluster::new(1).context("starting an embedded Kafka")?;
            for (topic, partitions) in topics {
                cluster.create_topic(topic, *partitions, 1)?;
            }
            return Ok(AppKafka {
                config: KafkaConfig::new(cluster.bootstrap_servers()),
                embedded: Some(cluster),
            });
        };
        let config = KafkaConfig::new(bootstrap);
        ensure_topics(&config, topics)?;
        Ok(AppKafka {
            config,
            embedded: None,
        })
    }

    /// Whether this is an embedded cluster.
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }
}

/// Reads the results on `topic` from the beginning, handing each to `each`, until `count` have
/// come or none has for `idle`; returns how many came.
pub fn follow_results(
    kafka: &KafkaConfig,
    topic: &str,
    count: usize,
    idle: Duration,
    mut each: impl FnMut(ServingResult),
) -> Result<usize> {
    let group = format!("{topic}-follower");
    let mut source = PartitionSource::assign(kafka, &group, topic, 0, 1, StartAt::Beginning, None)?;
    let (mut seen, mut last) = (0, Instant::now());
    while seen < count && last.elapsed() < idle {
        source.poll_batch(
            1024,
            Duration::from_millis(100),
            |partition, offset, payload| match ServingResult::decode(payload) {
                Ok(result) => {
                    (seen, last) = (seen + 1, Instant::now());
                    each(result);
                }
                Err(error) => tracing::warn!(partition, offset, "not a result: {error}"),
            },
        );
    }
    Ok(seen)
}
