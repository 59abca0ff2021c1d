//! The command line of the modelserver binaries: the options they share, each default spelled
//! once (the library's), and how they start logging. The library itself knows nothing of
//! command lines. Also the allocator settings of the long-running binaries ([`allocator`]).

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod allocator;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use modelserver::app::AppTopics;
use modelserver::kafka::{parse_property, KafkaConfig};

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

/// Worker threads and processes of a job: timely's own cluster options.
#[derive(Clone, Debug, clap::Args)]
pub struct ClusterArgs {
    /// Worker threads per process.
    #[arg(short = 'w', long = "workers", default_value_t = 1)]
    pub workers: usize,
    /// Number of processes in the job.
    #[arg(short = 'n', long = "processes", default_value_t = 1)]
    pub processes: usize,
    /// This process's index, from 0.
    #[arg(short = 'p', long = "process", default_value_t = 0)]
    pub process: usize,
    /// A file whose lines are the `host:port` addresses of the processes, in process order
    /// (default: localhost:2101, localhost:2102, ...).
    #[arg(short = 'h', long = "hostfile")]
    pub hostfile: Option<PathBuf>,
    /// Report connection progress between processes.
    #[arg(long)]
    pub report: bool,
}

impl ClusterArgs {
    /// The timely configuration these options describe, parsed by timely itself (hostfile and
    /// default addresses included).
    pub fn timely_config(&self) -> Result<timely::Config> {
        if self.process >= self.processes {
            bail!(
                "process index {} is not below the number of processes {}",
                self.process,
                self.processes
            );
        }
        let mut args = vec![
            format!("--threads={}", self.workers),
            format!("--processes={}", self.processes),
            format!("--process={}", self.process),
        ];
        if let Some(hostfile) = &self.hostfile {
            args.push(format!("--hostfile={}", hostfile.display()));
        }
        if self.report {
            args.push("--report".into());
        }
        timely::Config::from_args(args.into_iter())
            .map_err(|error| anyhow!("cluster options: {error}"))
    }
}

/// The record types the binaries serve and publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RecordKind {
    /// `WineRecord`, the original system's.
    Wine,
    /// `FeatureRecord`: a key and named features.
    Features,
}

/// The command-line options of the example apps.
#[derive(Clone, Debug, clap::Args)]
pub struct AppArgs {
    /// Kafka bootstrap servers (default: an embedded Kafka).
    #[arg(long, env = "KAFKA_BOOTSTRAP")]
    pub bootstrap: Option<String>,
    /// Records to serve (the app's rows, repeated as needed).
    #[arg(long, default_value_t = 1000)]
    pub records: usize,
    /// Worker threads.
    #[arg(short = 'w', long, default_value_t = 2)]
    pub workers: usize,
    /// Where the job answers state queries.
    #[arg(long, default_value = "127.0.0.1:9300")]
    pub state_addr: SocketAddr,
    /// Prefix of the app's topics (records, models, predictions; default: the app's name).
    #[arg(long)]
    pub topics: Option<String>,
    /// Print every n-th prediction.
    #[arg(long, default_value_t = 100)]
    pub every: usize,
}

impl AppArgs {
    /// The app's topics: named after `app`, or the `--topics` prefix.
    pub fn topics(&self, app: &str) -> AppTopics {
        AppTopics::new(self.topics.as_deref().unwrap_or(app))
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
