//! Model state of a running two-process job against a real Kafka broker: each process's query
//! endpoint (`/models`, `/models/{dataType}`, `/health`, `/metrics`), the `state` command that
//! merges them, and the JSON-lines state log. Two data types are served; one swaps its model.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use modelserver::kafka::publish::Publisher;
use modelserver::pipeline::PipelineKind;
use modelserver::state::query::JobReport;
use modelserver::state::{Health, KeyState, ProcessReport, StateEvent};
use support::{
    broker, eventually, free_ports, hostfile, http_get, onnx_model, read_results, read_topic,
    wine_records, Serve, Topics,
};

const RED_BEFORE: usize = 120;
const WHITE: usize = 80;
const RED_AFTER: usize = 50;

/// Every process's key states, merged, by (data type, worker).
fn merged_keys(endpoints: &[String]) -> BTreeMap<(String, usize), KeyState> {
    endpoints
        .iter()
        .flat_map(|addr| {
            let (status, body) = http_get(addr, "/models");
            assert_eq!(status, 200, "{addr}: {body}");
            serde_json::from_str::<ProcessReport>(&body).unwrap().keys
        })
        .map(|key| ((key.data_type.clone(), key.worker), key))
        .collect()
}

/// Sum of the current models' usage of `data_type` over all workers, if every copy serves `model`.
fn usage_of(
    keys: &BTreeMap<(String, usize), KeyState>,
    data_type: &str,
    model: &str,
) -> Option<u64> {
    let copies: Vec<&KeyState> = keys
        .values()
        .filter(|key| key.data_type == data_type)
        .collect();
    let serving = copies.iter().all(|key| {
        key.current
            .as_ref()
            .is_some_and(|stats| stats.name == model)
    });
    (serving && !copies.is_empty()).then(|| {
        copies
            .iter()
            .map(|key| key.current.as_ref().map_or(0, |stats| stats.usage))
            .sum()
    })
}

/// The sum of the samples of `metric` whose labels contain every one of `labels`.
fn metric_sum(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| line.split([' ', '{']).next() == Some(metric))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

fn scrape_all(endpoints: &[String], metric: &str, labels: &[&str]) -> f64 {
    endpoints
        .iter()
        .map(|addr| {
            let (status, text) = http_get(addr, "/metrics");
            assert_eq!(status, 200, "{addr}: {text}");
            metric_sum(&text, metric, labels)
        })
        .sum()
}

fn state_command(hosts: &Path, port: u16, extra: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_state"))
        .arg("-h")
        .arg(hosts)
        .args(["--port", &port.to_string()])
        .args(extra)
        .output()
        .expect("state runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "state failed: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

fn check_figures(state: &KeyState) {
    for stats in state.current.iter().chain(&state.history) {
        assert!(stats.min_ns > 0, "{stats:?}");
        assert!(stats.min_ns as f64 <= stats.mean_ns(), "{stats:?}");
        assert!(stats.mean_ns() <= stats.max_ns as f64, "{stats:?}");
    }
}

/// Runs the scenario on a two-process job of `pipeline`; returns the final merged states.
fn two_process_state(pipeline: PipelineKind) -> BTreeMap<(String, usize), KeyState> {
    let kafka = broker();
    let topics = Topics::create(&kafka, &format!("state-{pipeline}"), 4);
    let hosts = hostfile(&format!("state-{pipeline}"));
    let port = free_ports(2);
    let endpoints: Vec<String> = (0..2).map(|p| format!("127.0.0.1:{}", port + p)).collect();
    let logs: Vec<PathBuf> = (0..2)
        .map(|p| std::env::temp_dir().join(format!("{}-state-{p}.jsonl", topics.data)))
        .collect();
    let addr = format!("127.0.0.1:{port}");
    let state_topic = format!("{}-state", topics.data);
    let processes: Vec<Serve> = (0..2)
        .map(|p| {
            let log = logs[p].to_str().unwrap();
            let mut extra = vec![
                "--state-addr",
                &addr,
                "--stats-interval-ms",
                "200",
                "--state-log",
                log,
                "--state-topic",
                &state_topic,
            ];
            if pipeline == PipelineKind::Flat {
                extra.push("--timely-events");
            }
            Serve::start(&kafka, &topics, pipeline, p, &hosts, &extra)
        })
        .collect();
    for addr in &endpoints {
        let health: Health = eventually(Duration::from_secs(60), "a serving process", || {
            let (status, body) = http_get(addr, "/health");
            (status == 200).then(|| serde_json::from_str(&body).unwrap())
        });
        assert_eq!(
            (health.status.as_str(), health.workers.len()),
            ("serving", 2)
        );
    }

    let publisher = Publisher::new(&kafka).unwrap();
    publisher
        .publish_model(
            &topics.models,
            &onnx_model("red-tree", "red", "wine_tree_classifier"),
        )
        .unwrap();
    publisher
        .publish_model(
            &topics.models,
            &onnx_model("white-linear", "white", "wine_linear_regression"),
        )
        .unwrap();
    let mut records = wine_records(0..RED_BEFORE, "red");
    records.extend(wine_records(200..200 + WHITE, "white"));
    publisher
        .publish_records(&topics.data, records, None, |_| {})
        .unwrap();
    read_results(&kafka, &topics.results, RED_BEFORE + WHITE);
    let before = eventually(Duration::from_secs(30), "usage of the first models", || {
        let keys = merged_keys(&endpoints);
        let red = usage_of(&keys, "red", "red-tree")? as usize;
        let white = usage_of(&keys, "white", "white-linear")? as usize;
        (red == RED_BEFORE && white == WHITE).then_some(keys)
    });

    publisher
        .publish_model(
            &topics.models,
            &onnx_model("red-logistic", "red", "wine_logistic"),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let after_swap = wine_records(300..300 + RED_AFTER, "red");
    publisher
        .publish_records(&topics.data, after_swap, None, |_| {})
        .unwrap();
    read_results(&kafka, &topics.results, RED_BEFORE + WHITE + RED_AFTER);
    let after = eventually(Duration::from_secs(30), "usage of the new model", || {
        let keys = merged_keys(&endpoints);
        (usage_of(&keys, "red", "red-logistic")? as usize == RED_AFTER).then_some(keys)
    });

    for ((data_type, worker), state) in &after {
        check_figures(state);
        let old_since = before[&(data_type.clone(), *worker)]
            .current
            .as_ref()
            .unwrap()
            .since;
        let current = state.current.as_ref().unwrap();
        if data_type == "red" {
            assert!(current.since > old_since, "since moves on swap: {state:?}");
            assert_eq!(state.swaps, 1);
            assert_eq!(state.history[0].name, "red-tree");
            assert_eq!(state.history[0].until, Some(current.since));
        } else {
            assert_eq!((current.since, state.swaps), (old_since, 0));
        }
    }
    let red_history: u64 = after
        .values()
        .filter(|state| state.data_type == "red")
        .map(|state| state.history[0].usage)
        .sum();
    assert_eq!(
        red_history as usize, RED_BEFORE,
        "the replaced model keeps its final usage"
    );

    // The state command merges both processes, as JSON and as a table.
    let json = state_command(&hosts, port, &["--json"]);
    let report: JobReport = serde_json::from_str(&json).unwrap();
    assert!(report.unreachable.is_empty());
    let merged: Vec<(usize, &KeyState)> = report.keys();
    assert_eq!(merged.len(), after.len());
    for (_, state) in &merged {
        let queried = &after[&(state.data_type.clone(), state.worker)];
        assert_eq!(
            state.current.as_ref().unwrap().name,
            queried.current.as_ref().unwrap().name
        );
        assert_eq!(state.swaps, queried.swaps);
    }
    let copies = after
        .values()
        .filter(|state| state.data_type == "red")
        .count() as f64;
    let table = state_command(&hosts, port, &["--data-type", "red"]);
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert!(table.starts_with("DATA TYPE"), "{table}");
    assert!(rows.iter().all(|row| row.starts_with("red")), "{table}");
    let serving = rows
        .iter()
        .filter(|row| row.contains(" red-logistic "))
        .count();
    let replaced = rows
        .iter()
        .filter(|row| row.contains(" red-tree (replaced) "))
        .count();
    assert_eq!(
        (serving as f64, replaced as f64),
        (copies, copies),
        "{table}"
    );

    // Prometheus metrics of both processes add up to what was published.
    let total = (RED_BEFORE + WHITE + RED_AFTER) as f64;
    assert_eq!(
        scrape_all(&endpoints, "modelserver_records_read_total", &[]),
        total
    );
    assert_eq!(
        scrape_all(&endpoints, "modelserver_records_scored_total", &[]),
        total
    );
    assert_eq!(
        scrape_all(&endpoints, "modelserver_results_written_total", &[]),
        total
    );
    assert_eq!(
        scrape_all(&endpoints, "modelserver_model_load_failures_total", &[]),
        0.0
    );
    assert_eq!(
        scrape_all(
            &endpoints,
            "modelserver_model_swaps_total",
            &["data_type=\"red\""]
        ),
        copies
    );
    let red_now = ["data_type=\"red\"", "model=\"red-logistic\""];
    assert_eq!(
        scrape_all(
            &endpoints,
            "modelserver_scoring_duration_seconds_count",
            &red_now
        ),
        RED_AFTER as f64
    );
    let le_inf = ["data_type=\"white\"", "le=\"+Inf\""];
    assert_eq!(
        scrape_all(
            &endpoints,
            "modelserver_scoring_duration_seconds_bucket",
            &le_inf
        ),
        WHITE as f64
    );
    let data_topic = format!("topic=\"{}\"", topics.data);
    eventually(
        Duration::from_secs(10),
        "the consumer lag of every data partition",
        || {
            let text: String = endpoints
                .iter()
                .map(|addr| http_get(addr, "/metrics").1)
                .collect();
            let partitions = text
                .lines()
                .filter(|line| {
                    line.starts_with("modelserver_consumer_unread_messages{")
                        && line.contains(&data_topic)
                })
                .count();
            let unread = metric_sum(
                &text,
                "modelserver_consumer_unread_messages",
                &[&data_topic],
            );
            (partitions == 4 && unread == 0.0).then_some(())
        },
    );

    // Only the processes that keep a key answer for it.
    let answers: Vec<u16> = endpoints
        .iter()
        .map(|addr| http_get(addr, "/models/red").0)
        .collect();
    let keeping: Vec<u16> = endpoints
        .iter()
        .enumerate()
        .map(|(p, _)| {
            let workers = [2 * p, 2 * p + 1];
            let keeps = after
                .keys()
                .any(|(data_type, worker)| data_type == "red" && workers.contains(worker));
            if keeps {
                200
            } else {
                404
            }
        })
        .collect();
    assert_eq!(answers, keeping);

    processes.iter().for_each(Serve::terminate);
    for process in processes {
        assert!(process.wait().success(), "serve exits cleanly on SIGTERM");
    }
    let lines: Vec<serde_json::Value> = logs
        .iter()
        .flat_map(|log| {
            let text = std::fs::read_to_string(log).expect("each process wrote its state log");
            let _ = std::fs::remove_file(log);
            text.lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    check_event_log(&lines, pipeline, copies);
    let on_topic = read_topic(
        &kafka,
        &state_topic,
        lines.len() + 1,
        Duration::from_secs(5),
    );
    assert_eq!(
        on_topic.len(),
        lines.len(),
        "the topic has every event the files have"
    );
    after
}

/// The JSON-lines state log holds each red copy's swap, and with `--timely-events` timely's own
/// operator, scheduling, message and progress events.
fn check_event_log(lines: &[serde_json::Value], pipeline: PipelineKind, red_copies: f64) {
    let events: Vec<StateEvent> = lines
        .iter()
        .filter(|line| line.get("event").is_some())
        .map(|line| serde_json::from_value(line.clone()).unwrap())
        .collect();
    let swaps = events
        .iter()
        .filter(|event| {
            matches!(event, StateEvent::ModelSwapped { state, .. } if state.data_type == "red")
        })
        .count();
    assert_eq!(swaps as f64, red_copies, "each copy of red logged its swap");
    let timely: Vec<&serde_json::Value> =
        lines.iter().filter_map(|line| line.get("timely")).collect();
    if pipeline == PipelineKind::Keyed {
        assert!(timely.is_empty(), "timely events only on request");
        return;
    }
    for kind in ["Operates", "Schedule", "Messages", "Channels"] {
        assert!(
            timely.iter().any(|event| event.get(kind).is_some()),
            "a timely {kind} event"
        );
    }
    assert!(
        timely.iter().any(|event| event.get("isSend").is_some()),
        "a timely progress event"
    );
}

#[test]
fn keyed_job_reports_each_key_from_its_one_worker() {
    let states = two_process_state(PipelineKind::Keyed);
    for data_type in ["red", "white"] {
        let copies = states.keys().filter(|(key, _)| key == data_type).count();
        assert_eq!(copies, 1, "{data_type} lives on one worker of four");
    }
}

#[test]
fn flat_job_reports_every_workers_copy() {
    let states = two_process_state(PipelineKind::Flat);
    for data_type in ["red", "white"] {
        let workers: Vec<usize> = states
            .keys()
            .filter(|(key, _)| key == data_type)
            .map(|(_, worker)| *worker)
            .collect();
        assert_eq!(
            workers,
            [0, 1, 2, 3],
            "{data_type} has a copy on every worker"
        );
    }
    let since: Vec<u64> = states
        .values()
        .filter(|state| state.data_type == "red")
        .map(|state| state.current.as_ref().unwrap().since)
        .collect();
    assert!(
        since.windows(2).all(|pair| pair[0] == pair[1]),
        "the swap happened at one instant everywhere: {since:?}"
    );
}
