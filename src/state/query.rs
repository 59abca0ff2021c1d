//! The `state` command's side of the query endpoint: ask every process of a job for its models
//! (or what it monitors), merge the answers, and print them.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::monitor::{Count, KeyMonitor, MonitorReport};
use super::{KeyState, ModelStats, ProcessReport, RoleStats};

/// The answers of all processes of a job.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobReport {
    /// The processes that answered, in the order asked.
    pub processes: Vec<ProcessReport>,
    /// The processes that did not answer, with why.
    pub unreachable: Vec<Unreachable>,
}

/// A process whose endpoint did not answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Unreachable {
    /// The endpoint asked.
    pub addr: String,
    /// What went wrong.
    pub error: String,
}

impl JobReport {
    /// Keeps only the states of `data_type`.
    pub fn retain_data_type(&mut self, data_type: &str) {
        for process in &mut self.processes {
            process.keys.retain(|key| key.data_type == data_type);
        }
    }

    /// Every key state of every process, by key, then process, then worker.
    pub fn keys(&self) -> Vec<(usize, &KeyState)> {
        let mut keys: Vec<(usize, &KeyState)> = self
            .processes
            .iter()
            .flat_map(|report| report.keys.iter().map(|key| (report.process, key)))
            .collect();
        keys.sort_by(|(p, a), (q, b)| {
            (&a.data_type, p, a.worker).cmp(&(&b.data_type, q, b.worker))
        });
        keys
    }
}

/// The state endpoints of the processes of a timely hostfile: process `i` (line `i`) at its
/// host, port `port + i` (the port `serve --state-addr` binds for process `i`).
pub fn hostfile_endpoints(hostfile: &Path, port: u16) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(hostfile)
        .with_context(|| format!("reading the hostfile {}", hostfile.display()))?;
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .enumerate()
        .map(|(index, line)| {
            let host = line.rsplit_once(':').map_or(line, |(host, _)| host);
            let port = u16::try_from(usize::from(port) + index)
                .with_context(|| format!("no port {port} + {index}"))?;
            Ok(format!("{host}:{port}"))
        })
        .collect()
}

/// Asks one process for its models (`GET /models`).
pub fn fetch_report(addr: &str, timeout: Duration) -> Result<ProcessReport> {
    fetch(addr, "/models", timeout)
}

/// Asks one process for what it monitors (`GET /monitor`).
pub fn fetch_monitor(addr: &str, timeout: Duration) -> Result<MonitorReport> {
    fetch(addr, "/monitor", timeout)
}

fn fetch<T: DeserializeOwned>(addr: &str, path: &str, timeout: Duration) -> Result<T> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .build()
        .into();
    let body = agent
        .get(format!("http://{addr}{path}"))
        .call()
        .with_context(|| format!("asking {addr}"))?
        .body_mut()
        .read_to_string()
        .with_context(|| format!("reading the answer of {addr}"))?;
    serde_json::from_str(&body).with_context(|| format!("decoding the answer of {addr}"))
}

/// Asks every endpoint, keeping the answers and the failures.
pub fn query_job(endpoints: &[String], timeout: Duration) -> JobReport {
    let (processes, unreachable) = ask_all(endpoints, |addr| fetch_report(addr, timeout));
    JobReport {
        processes,
        unreachable,
    }
}

/// Asks every endpoint with `ask`: the answers, and the endpoints that gave none with why.
fn ask_all<T>(endpoints: &[String], ask: impl Fn(&str) -> Result<T>) -> (Vec<T>, Vec<Unreachable>) {
    let (mut answers, mut unreachable) = (Vec::new(), Vec::new());
    for addr in endpoints {
        match ask(addr) {
            Ok(answer) => answers.push(answer),
            Err(error) => unreachable.push(Unreachable {
                addr: addr.clone(),
                error: format!("{error:#}"),
            }),
        }
    }
    (answers, unreachable)
}

/// The monitoring figures of all processes of a job.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobMonitor {
    /// The processes that answered, in the order asked.
    pub processes: Vec<MonitorReport>,
    /// The processes that did not answer, with why.
    pub unreachable: Vec<Unreachable>,
}

impl JobMonitor {
    /// Keeps only the figures of `data_type`.
    pub fn retain_data_type(&mut self, data_type: &str) {
        for process in &mut self.processes {
            process.keys.retain(|key| key.data_type == data_type);
        }
    }
}

/// Asks every endpoint what it monitors, keeping the answers and the failures.
pub fn query_monitor(endpoints: &[String], timeout: Duration) -> JobMonitor {
    let (processes, unreachable) = ask_all(endpoints, |addr| fetch_monitor(addr, timeout));
    JobMonitor {
        processes,
        unreachable,
    }
}

/// The monitoring figures as text: per key, a heading, then a line per model and role, per
/// feature and per shadow.
pub fn render_monitor(report: &JobMonitor) -> String {
    let mut text = String::new();
    let mut keys: Vec<(usize, &KeyMonitor)> = report
        .processes
        .iter()
        .flat_map(|process| process.keys.iter().map(|key| (process.process, key)))
        .collect();
    keys.sort_by(|(p, a), (q, b)| (&a.data_type, p).cmp(&(&b.data_type, q)));
    for process in report.processes.iter().filter(|process| !process.enabled) {
        let _ = writeln!(text, "process {}: monitoring is off", process.process);
    }
    for (process, key) in keys {
        write_key_monitor(&mut text, process, key);
    }
    text
}

fn write_key_monitor(text: &mut String, process: usize, key: &KeyMonitor) {
    let _ = writeln!(
        text,
        "{} (process {process}, worker {}): {} records in the {} s to {}",
        key.data_type,
        key.worker,
        key.records,
        key.window_ms / 1000,
        format_time(key.as_of)
    );
    for output in &key.outputs {
        let model = match output.model.as_str() {
            "" => "(no model)".to_owned(),
            model => format!("{model} ({})", output.role),
        };
        let answers = match (&output.values, output.classes.is_empty()) {
            (Some(values), _) => format!(
                "mean {:.4}  sd {:.4}  [{:.4}, {:.4}]",
                values.mean,
                values.variance.sqrt(),
                values.min,
                values.max
            ),
            (None, false) => shares(&output.classes, output.results),
            (None, true) => String::new(),
        };
        let vs_live = output
            .vs_live
            .map_or_else(String::new, |psi| format!("  vs live {psi:.3}"));
        let _ = writeln!(
            text,
            "  output   {model:<24} {:>8} results  failed {:.1} %  no model {:.1} %  {answers}{}{vs_live}",
            output.results,
            output.failure_rate * 100.0,
            output.no_model_rate * 100.0,
            drift(output.drift)
        );
    }
    for feature in &key.features {
        let values = match &feature.numbers {
            Some(numbers) => format!(
                "mean {:.4}  sd {:.4}",
                numbers.mean,
                numbers.variance.sqrt()
            ),
            None => shares(&feature.categories, feature.count),
        };
        let missing = feature.missing as f64 / feature.count.max(1) as f64 * 100.0;
        let _ = writeln!(
            text,
            "  feature  {:<24} {values}  missing {missing:.1} %{}",
            feature.name,
            drift(feature.drift)
        );
    }
    for agreement in &key.agreement {
        let _ = writeln!(
            text,
            "  shadow   {:<24} agrees {:.1} % of {}",
            agreement.model,
            agreement.rate * 100.0,
            agreement.compared
        );
    }
}

/// The most frequent values' shares, e.g. `6 52.1 %, 5 40.2 %`.
fn shares(counts: &[Count], total: u64) -> String {
    let shown: Vec<String> = counts
        .iter()
        .take(5)
        .map(|count| {
            let share = count.count as f64 / total.max(1) as f64 * 100.0;
            format!("{} {share:.1} %", count.value)
        })
        .collect();
    let more = counts.len().saturating_sub(5);
    match more {
        0 => shown.join(", "),
        more => format!("{}, {more} more", shown.join(", ")),
    }
}

fn drift(psi: Option<f64>) -> String {
    psi.map_or_else(String::new, |psi| format!("  drift {psi:.3}"))
}

/// The merged answers as a table: per key and worker that keeps it, a row for the current model
/// and one for each model it replaced (the key's counts on the first).
pub fn render_table(report: &JobReport) -> String {
    let header = [
        "DATA TYPE",
        "PROCESS",
        "WORKER",
        "MODEL",
        "TYPE",
        "SINCE",
        "USAGE",
        "MEAN",
        "MIN",
        "MAX",
        "SWAPS",
        "FAILED",
        "NO MODEL",
    ];
    let rows: Vec<[String; 13]> = report
        .keys()
        .into_iter()
        .flat_map(|(process, key)| key_rows(process, key))
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut table = String::new();
    write_row(&mut table, &header.map(String::from), &widths);
    rows.iter()
        .for_each(|row| write_row(&mut table, row, &widths));
    table
}

/// A key's rows: its current model with the key's counts, the models in other roles (canary,
/// shadow, ensemble), then the models it replaced.
fn key_rows(process: usize, key: &KeyState) -> Vec<[String; 13]> {
    let counts = [key.swaps, key.load_failures, key.no_model].map(|count| count.to_string());
    let mut current = model_row(process, key, key.current.as_ref(), counts);
    if key.lineup.pinned {
        current[3] += " (pinned)";
    }
    let mut rows = vec![current];
    rows.extend(key.roles.iter().map(|stats| role_row(process, key, stats)));
    for replaced in &key.history {
        let blank = ["", "", ""].map(String::from);
        let mut row = model_row(process, key, Some(replaced), blank);
        row[3] = format!("{} (replaced)", replaced.name);
        rows.push(row);
    }
    rows
}

/// A model in a role other than live: its usage, mean time and agreement with the answer served.
fn role_row(process: usize, key: &KeyState, stats: &RoleStats) -> [String; 13] {
    let mut role = stats.role.clone();
    if let Some((_, share)) = key.lineup.canary.as_ref().filter(|_| role == "canary") {
        role += &format!(" {share} %");
    }
    if let Some(agreement) = stats.agreement() {
        role += &format!(", agrees {:.1} %", agreement * 100.0);
    }
    let mean = stats.total_ns as f64 / stats.usage.max(1) as f64;
    let mut row = model_row(process, key, None, ["", "", ""].map(String::from));
    row[3] = format!("{} ({role})", stats.model);
    row[6] = stats.usage.to_string();
    row[7] = format_ns(mean);
    row
}

fn model_row(
    process: usize,
    key: &KeyState,
    stats: Option<&ModelStats>,
    counts: [String; 3],
) -> [String; 13] {
    let text = |value: Option<String>| value.unwrap_or_else(|| "-".into());
    let [swaps, failed, no_model] = counts;
    [
        key.data_type.clone(),
        process.to_string(),
        key.worker.to_string(),
        text(stats.map(|stats| stats.name.clone())),
        text(stats.map(|stats| stats.model_type.clone())),
        text(stats.map(|stats| format_time(stats.since))),
        text(stats.map(|stats| stats.usage.to_string())),
        text(stats.map(|stats| format_ns(stats.mean_ns()))),
        text(stats.map(|stats| format_ns(stats.min_ns as f64))),
        text(stats.map(|stats| format_ns(stats.max_ns as f64))),
        swaps,
        failed,
        no_model,
    ]
}

fn write_row(table: &mut String, cells: &[String; 13], widths: &[usize; 13]) {
    let line: Vec<String> = cells
        .iter()
        .zip(widths)
        .map(|(cell, width)| format!("{cell:<width$}"))
        .collect();
    let _ = writeln!(table, "{}", line.join("  ").trim_end());
}

/// Milliseconds since the Unix epoch as an RFC 3339 UTC time.
pub fn format_time(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// Nanoseconds in the unit that reads best.
pub fn format_ns(ns: f64) -> String {
    match ns {
        ns if ns < 1e3 => format!("{ns:.0} ns"),
        ns if ns < 1e6 => format!("{:.1} µs", ns / 1e3),
        ns if ns < 1e9 => format!("{:.2} ms", ns / 1e6),
        ns => format!("{:.2} s", ns / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostfile_lines_become_endpoints_with_consecutive_ports() {
        let path = std::env::temp_dir().join(format!("hosts-{}.txt", std::process::id()));
        std::fs::write(&path, "127.0.0.1:2101\n\nnode-b:2101\n").unwrap();
        let endpoints = hostfile_endpoints(&path, 9100).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(endpoints, ["127.0.0.1:9100", "node-b:9101"]);
    }

    #[test]
    fn durations_and_times_read_well() {
        assert_eq!(format_ns(850.0), "850 ns");
        assert_eq!(format_ns(12_345.0), "12.3 µs");
        assert_eq!(format_ns(1_234_567.0), "1.23 ms");
        assert_eq!(format_time(1_764_064_801_234), "2025-11-25T10:00:01.234Z");
    }

    #[test]
    fn a_pinned_key_with_a_canary_and_a_shadow_shows_each_role() {
        let mut key = KeyState::new("wine", 1);
        key.current = Some(ModelStats::new("tree", "", "onnx", 0));
        key.lineup.pinned = true;
        key.lineup.canary = Some(("forest".into(), 20.0));
        key.count_role("forest", "canary", 3_000, None);
        key.count_role("logistic", "shadow", 1_000, Some(true));
        key.count_role("logistic", "shadow", 3_000, Some(false));
        let rows = key_rows(0, &key);
        let cells = |row: &[String; 13]| [row[3].clone(), row[6].clone(), row[7].clone()];
        assert_eq!(cells(&rows[0])[0], "tree (pinned)");
        assert_eq!(cells(&rows[1]), ["forest (canary 20 %)", "1", "3.0 µs"]);
        assert_eq!(
            cells(&rows[2]),
            ["logistic (shadow, agrees 50.0 %)", "2", "2.0 µs"]
        );
    }
}
