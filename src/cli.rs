//! Command-line pieces the binaries share: Kafka connection options and logging set-up.

use crate::kafka::{parse_property, KafkaConfig};

/// Where the Kafka cluster is.
#[derive(Clone, Debug, clap::Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers.
    #[arg(
        short = 'b',
        long,
        env = "KAFKA_BOOTSTRAP",
        default_value = "localhost:9092"
    )]
    pub bootstrap: String,
    /// A further librdkafka property for every client (`-X key=value`, repeatable).
    #[arg(short = 'X', value_parser = parse_property)]
    pub property: Vec<(String, String)>,
}

impl KafkaArgs {
    /// The Kafka configuration these options describe.
    pub fn config(&self) -> KafkaConfig {
        KafkaConfig {
            bootstrap: self.bootstrap.clone(),
            properties: self.property.clone(),
        }
    }
}

/// Sends `tracing` events to standard error, filtered by `RUST_LOG` (default: `info`).
pub fn init_logging() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}
