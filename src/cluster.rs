//! How a job spreads over worker threads and processes: timely's own cluster options (`-w`, `-n`,
//! `-p`, `-h hostfile`), made into a timely configuration.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};

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

/// This process's index and the global indices of its workers, under `config`.
pub fn local_workers(config: &timely::Config) -> (usize, Vec<usize>) {
    use timely::CommunicationConfig as Communication;
    match &config.communication {
        Communication::Thread => (0, vec![0]),
        Communication::Process(threads) | Communication::ProcessBinary(threads) => {
            (0, (0..*threads).collect())
        }
        Communication::Cluster {
            threads, process, ..
        } => (
            *process,
            (process * threads..(process + 1) * threads).collect(),
        ),
    }
}
