//! Topic administration: making sure the topics a job uses exist, and reading partition counts.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaConfig;

/// How long a metadata or admin request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Creates each `(topic, partitions)` that does not exist yet; existing topics are left as they are.
pub fn ensure_topics(kafka: &KafkaConfig, topics: &[(&str, i32)]) -> Result<()> {
    create_missing(kafka, topics, &[])
}

/// Creates `topic` with `partitions` partitions, compacted (Kafka keeps the newest message of each
/// key), unless it exists.
pub fn ensure_compacted_topic(kafka: &KafkaConfig, topic: &str, partitions: i32) -> Result<()> {
    create_missing(
        kafka,
        &[(topic, partitions)],
        &[("cleanup.policy", "compact")],
    )
}

/// Waits until the cluster at `kafka` answers, at most `timeout`.
pub fn wait_for_cluster(kafka: &KafkaConfig, timeout: Duration) -> Result<()> {
    let client: BaseConsumer = kafka.client().create().context("creating a Kafka client")?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let wait = deadline
            .saturating_duration_since(std::time::Instant::now())
            .min(REQUEST_TIMEOUT);
        match client.fetch_metadata(None, wait) {
            Ok(_) => return Ok(()),
            Err(error) if std::time::Instant::now() >= deadline => bail!(
                "the Kafka cluster at {} did not answer within {timeout:?} ({error}); is it up, \
                 and is the address right?",
                kafka.bootstrap
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn create_missing(
    kafka: &KafkaConfig,
    topics: &[(&str, i32)],
    config: &[(&str, &str)],
) -> Result<()> {
    let missing = missing_topics(kafka, topics)?;
    if missing.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = kafka
        .client()
        .create()
        .context("creating a Kafka admin client")?;
    let new_topics: Vec<NewTopic> = missing
        .iter()
        .map(|(name, partitions)| {
            config.iter().fold(
                NewTopic::new(name, *partitions, TopicReplication::Fixed(1)),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let options = AdminOptions::new()
        .operation_timeout(Some(REQUEST_TIMEOUT))
        .request_timeout(Some(REQUEST_TIMEOUT));
    let results = futures::executor::block_on(admin.create_topics(&new_topics, &options))
        .with_context(|| format!("creating topics on {}", kafka.bootstrap))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => bail!("cannot create topic `{topic}`: {code}"),
        }
    }
    Ok(())
}

/// The topics of `topics` that the cluster does not have.
fn missing_topics<'a>(
    kafka: &KafkaConfig,
    topics: &[(&'a str, i32)],
) -> Result<Vec<(&'a str, i32)>> {
    let client: BaseConsumer = kafka.client().create().context("creating a Kafka client")?;
    let metadata = client
        .fetch_metadata(None, REQUEST_TIMEOUT)
        .with_context(|| format!("reading the topics of {}", kafka.bootstrap))?;
    let existing: Vec<&str> = metadata.topics().iter().map(|topic| topic.name()).collect();
    Ok(topics
        .iter()
        .filter(|(name, _)| !existing.contains(name))
        .copied()
        .collect())
}

/// The number of partitions of `topic` (see [`partition_count`]).
pub fn topic_partitions(kafka: &KafkaConfig, topic: &str) -> Result<i32> {
    let client: BaseConsumer = kafka.client().create().context("creating a Kafka client")?;
    partition_count(&client, topic)
}

/// The number of partitions of `topic`, waiting up to [`REQUEST_TIMEOUT`] for it to exist.
pub fn partition_count<C: ConsumerContext>(consumer: &BaseConsumer<C>, topic: &str) -> Result<i32> {
    let deadline = std::time::Instant::now() + REQUEST_TIMEOUT;
    loop {
        let metadata = consumer
            .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
            .with_context(|| format!("reading the metadata of topic `{topic}`"))?;
        let partitions = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .map_or(0, |t| t.partitions().len());
        if partitions > 0 {
            return Ok(partitions as i32);
        }
        if std::time::Instant::now() > deadline {
            bail!("topic `{topic}` does not exist");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
