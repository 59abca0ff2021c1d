//! How a job spreads over worker threads and processes: timely's own cluster options (`-w`, `-n`,
//! `-p`, `-h hostfile`), made into a timely configuration.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use timely::CommunicationConfig;

/// Worker threads and processes of a job, as given on the command line.
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
    /// The timely configuration these options describe.
    pub fn timely_config(&self) -> Result<timely::Config> {
        if self.workers == 0 {
            bail!("a process needs at least one worker");
        }
        if self.process >= self.processes {
            bail!(
                "process index {} is not below the number of processes {}",
                self.process,
                self.processes
            );
        }
        let communication = if self.processes > 1 {
            CommunicationConfig::Cluster {
                threads: self.workers,
                process: self.process,
                addresses: self.addresses()?,
                report: self.report,
                zerocopy: false,
            }
        } else if self.workers > 1 {
            CommunicationConfig::Process(self.workers)
        } else {
            CommunicationConfig::Thread
        };
        Ok(timely::Config {
            communication,
            worker: timely::WorkerConfig::default(),
        })
    }

    fn addresses(&self) -> Result<Vec<String>> {
        let Some(hostfile) = &self.hostfile else {
            return Ok((0..self.processes)
                .map(|index| format!("localhost:{}", 2101 + index))
                .collect());
        };
        let text = std::fs::read_to_string(hostfile)
            .with_context(|| format!("reading hostfile {}", hostfile.display()))?;
        let addresses: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .take(self.processes)
            .map(String::from)
            .collect();
        if addresses.len() < self.processes {
            bail!(
                "{} names {} addresses for {} processes",
                hostfile.display(),
                addresses.len(),
                self.processes
            );
        }
        Ok(addresses)
    }
}
