//! `state`: asks a running serving job which model serves each data type, since when, how often
//! it was used and how long it takes, merging the answers of all its processes.
//!
//! ```text
//! state --addr 127.0.0.1:9100                          # one process
//! state -h hosts.txt --port 9100                       # every process of a hostfile
//! state -h hosts.txt --port 9100 --data-type wine --json
//! state --addr 127.0.0.1:9100 --monitor                # the monitoring window's figures
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{ArgAction, Parser};
use modelserver::state::query::{
    hostfile_endpoints, query_job, query_monitor, render_monitor, render_table, JobMonitor,
    JobReport, Unreachable,
};

/// Show the model state of a running serving job.
#[derive(Parser, Debug)]
#[command(disable_help_flag = true)]
struct Args {
    /// A process's state endpoint (`serve --state-addr`); repeat for several processes.
    #[arg(long)]
    addr: Vec<String>,
    /// The job's timely hostfile: process i answers on its host at `--port` + i.
    #[arg(short = 'h', long)]
    hostfile: Option<PathBuf>,
    /// The state port of process 0 (with `--hostfile`).
    #[arg(long, default_value_t = 9100)]
    port: u16,
    /// Only this data type.
    #[arg(long)]
    data_type: Option<String>,
    /// Show the monitoring window's figures (GET /monitor) instead of the models.
    #[arg(long)]
    monitor: bool,
    /// Print the merged answers as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Ask again every this many seconds, until interrupted.
    #[arg(long)]
    watch: Option<f64>,
    /// Seconds to wait for each process's answer.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut endpoints = args.addr.clone();
    if let Some(hostfile) = &args.hostfile {
        endpoints.extend(hostfile_endpoints(hostfile, args.port)?);
    }
    if endpoints.is_empty() {
        bail!("name the job's processes with --addr or --hostfile");
    }
    loop {
        let all_answered = show(&args, &endpoints)?;
        match args.watch {
            Some(seconds) => std::thread::sleep(Duration::from_secs_f64(seconds)),
            None if all_answered => return Ok(()),
            None => bail!("not every process answered"),
        }
    }
}

/// Prints the merged state (or monitoring figures) once; returns whether every process
/// answered.
fn show(args: &Args, endpoints: &[String]) -> Result<bool> {
    let timeout = Duration::from_secs_f64(args.timeout);
    match args.monitor {
        true => present(args, query_monitor(endpoints, timeout)),
        false => present(args, query_job(endpoints, timeout)),
    }
}

/// The merged answers of a job's processes, as `state` prints them.
trait Answers {
    fn unreachable(&self) -> &[Unreachable];
    fn json(&self) -> serde_json::Result<String>;
    fn retain_data_type(&mut self, data_type: &str);
    fn render(&self) -> String;
}

impl Answers for JobReport {
    fn unreachable(&self) -> &[Unreachable] {
        &self.unreachable
    }

    fn json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }

    fn retain_data_type(&mut self, data_type: &str) {
        JobReport::retain_data_type(self, data_type)
    }

    fn render(&self) -> String {
        match self.processes.is_empty() {
            true => String::new(),
            false => render_table(self),
        }
    }
}

impl Answers for JobMonitor {
    fn unreachable(&self) -> &[Unreachable] {
        &self.unreachable
    }

    fn json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }

    fn retain_data_type(&mut self, data_type: &str) {
        JobMonitor::retain_data_type(self, data_type)
    }

    fn render(&self) -> String {
        render_monitor(self)
    }
}

/// Prints `answers` (the unreachable processes on standard error), as asked.
fn present(args: &Args, mut answers: impl Answers) -> Result<bool> {
    for unreachable in answers.unreachable() {
        eprintln!("{}: {}", unreachable.addr, unreachable.error);
    }
    if let Some(data_type) = &args.data_type {
        answers.retain_data_type(data_type);
    }
    match args.json {
        true => println!("{}", answers.json()?),
        false => print!("{}", answers.render()),
    }
    Ok(answers.unreachable().is_empty())
}
