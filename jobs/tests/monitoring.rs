//! The monitoring dataflow of a running job against a real Kafka broker: `GET /monitor`, the
//! `state --monitor` command and the Prometheus gauges agree with what was published (class
//! counts and the shadow's agreement checked against onnxruntime's predictions, feature means
//! against the records), the figures leave with the window, and a shift of the inputs raises a
//! drift event on the state log while steady inputs raise none.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use modelserver::kafka::publish::{lifecycle_operation, Publisher};
use modelserver::pipeline::PipelineKind;
use modelserver::proto::lifecycle::Operation;
use modelserver::proto::{Lifecycle, WineRecord};
use modelserver::state::monitor::{KeyMonitor, MonitorReport};
use modelserver::state::ProcessReport;
use support::{
    broker, eventually, free_addr, http_get, onnx_model, read_results, wine_records, Reference,
    Serve, Topics,
};

/// The window of the job under test, in seconds.
const WINDOW_S: u64 = 6;

fn monitored(addr: &str) -> Option<KeyMonitor> {
    let (status, body) = http_get(addr, "/monitor/wine");
    (status == 200).then(|| {
        let report: MonitorReport = serde_json::from_str(&body).unwrap();
        report.keys.into_iter().next().expect("the key")
    })
}

/// The browser the status page is checked in: Debian's `chromium`, if installed.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Runs headless Chromium on the status page with `what` (`--dump-dom`, `--screenshot=…`);
/// returns what it printed.
fn browse(chromium: &PathBuf, addr: &str, what: &str) -> String {
    let output = Command::new(chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1300,1800",
            "--virtual-time-budget=2500",
            what,
        ])
        .arg(format!("http://{addr}/"))
        .output()
        .expect("chromium runs");
    assert!(output.status.success(), "chromium: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The status page in a real browser: the key table shows the job's model and its usage as
/// `/models` has it, the window's card its outputs and features, drawn as charts, the shifted
/// feature marked as drifting; and a screenshot (`target/monitoring/status-page.png`).
fn status_page(addr: &str) {
    let Some(chromium) = chromium() else {
        let required = std::env::var_os("MODELSERVER_REQUIRE_BROWSER").is_some();
        assert!(
            !required,
            "chromium is required (MODELSERVER_REQUIRE_BROWSER) but missing"
        );
        eprintln!("not run: the status page in a browser (install Debian's chromium)");
        return;
    };
    let usage = || {
        let (_, body) = http_get(addr, "/models/wine");
        let report: ProcessReport = serde_json::from_str(&body).unwrap();
        report.keys[0].current.as_ref().unwrap().usage
    };
    let before = usage();
    let dom = browse(&chromium, addr, "--dump-dom");
    let after = usage();
    let row = dom
        .split("<tr class=\"key\">")
        .nth(1)
        .expect("a row of the key table");
    assert!(row.contains("<td>wine</td>"), "{row}");
    assert!(row.contains("<td class=\"model\">tree</td>"), "{row}");
    // The records still flow: the page shows the usage of a moment between the two asked.
    let shown: u64 = row
        .split("<td class=\"number usage\">")
        .nth(1)
        .and_then(|cell| cell.split('<').next())
        .and_then(|usage| usage.parse().ok())
        .expect("a usage cell");
    assert!(
        (before..=after).contains(&shown),
        "{before} ≤ {shown} ≤ {after}"
    );
    let card = dom
        .split("class=\"card monitored\" data-type=\"wine\"")
        .nth(1)
        .expect("the monitoring card of wine");
    assert!(card.contains("tree (live)") && card.contains("logistic (shadow)"));
    assert!(card.contains("shadow logistic agrees with the live answer"));
    let features = card.matches("class=\"panel feature").count();
    assert_eq!(features, 11, "a histogram per wine feature");
    assert!(card.contains("class=\"panel feature drifting\" data-feature=\"alcohol\""));
    let bars = card.matches("<rect class=\"bar\"").count();
    assert!(
        bars >= 11 * 20,
        "each feature's 20 bins and each output's classes: {bars}"
    );
    assert!(card.contains("class=\"line\""), "the drift chart has lines");

    let directory = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/monitoring"));
    std::fs::create_dir_all(&directory).unwrap();
    let screenshot = directory.join("status-page.png");
    let _ = std::fs::remove_file(&screenshot);
    browse(
        &chromium,
        addr,
        &format!("--screenshot={}", screenshot.display()),
    );
    let png = std::fs::read(&screenshot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert!(
        png.len() > 50_000,
        "a page with charts, not a blank one: {} bytes",
        png.len()
    );
}

fn drift_events(log: &PathBuf) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|event| event["event"] == "drift")
        .collect()
}

#[test]
fn a_job_monitors_its_window_and_raises_drift_when_the_inputs_shift() {
    let kafka = broker();
    let topics = Topics::create(&kafka, "monitoring", 2);
    let addr = free_addr();
    let log = std::env::temp_dir().join(format!("{}-events.jsonl", topics.data));
    let window = WINDOW_S.to_string();
    let job = Serve::single(
        &kafka,
        &topics,
        PipelineKind::Keyed,
        &[
            "--state-addr",
            &addr,
            "--state-log",
            log.to_str().unwrap(),
            "--monitor-window-s",
            &window,
            "--monitor-tick-ms",
            "250",
        ],
    );
    eventually(Duration::from_secs(60), "a serving job", || {
        (http_get(&addr, "/health").0 == 200).then_some(())
    });

    // tree serves, logistic shadows it.
    let publisher = Publisher::new(&kafka).unwrap();
    publisher
        .publish_model(
            &topics.models,
            &onnx_model("logistic", "wine", "wine_logistic"),
        )
        .unwrap();
    publisher
        .publish_model(
            &topics.models,
            &onnx_model("tree", "wine", "wine_tree_classifier"),
        )
        .unwrap();
    let mut shadow = Lifecycle::default();
    shadow.set_operation(Operation::Shadow);
    shadow.model = "logistic".into();
    publisher
        .publish_model(&topics.models, &lifecycle_operation("wine", shadow))
        .unwrap();
    eventually(Duration::from_secs(30), "logistic shadowing tree", || {
        let (_, body) = http_get(&addr, "/models/wine");
        let report: ProcessReport = serde_json::from_str(&body).ok()?;
        let key = report.keys.first()?;
        let current = key.current.as_ref()?;
        (current.name == "tree" && key.lineup.shadow.as_deref() == Some("logistic")).then_some(())
    });

    // 300 records at once: the window holds exactly them.
    let records = wine_records(0..300, "wine");
    publisher
        .publish_records(&topics.data, records.clone(), None, |_| {})
        .unwrap();
    read_results(&kafka, &topics.results, 600);
    let figures = eventually(Duration::from_secs(5), "the window of 300 records", || {
        monitored(&addr).filter(|figures| figures.records == 300)
    });
    let (tree, logistic) = (
        Reference::onnx("wine_tree_classifier"),
        Reference::onnx("wine_logistic"),
    );
    let mut expected_classes: BTreeMap<String, u64> = BTreeMap::new();
    for record in &records {
        *expected_classes
            .entry(tree.predict(record).to_string())
            .or_default() += 1;
    }
    let live = figures
        .outputs
        .iter()
        .find(|output| output.model == "tree" && output.role == "live")
        .expect("tree's live outputs");
    let classes: BTreeMap<String, u64> = live
        .classes
        .iter()
        .map(|count| (count.value.parse::<f64>().unwrap().to_string(), count.count))
        .collect();
    assert_eq!(classes, expected_classes, "{figures:?}");
    assert_eq!((live.results, live.failed, live.no_model), (300, 0, 0));
    let agreed = records
        .iter()
        .filter(|record| tree.predict(record) == logistic.predict(record))
        .count() as u64;
    let agreement = &figures.agreement[0];
    assert_eq!(
        (
            agreement.model.as_str(),
            agreement.compared,
            agreement.agreed
        ),
        ("logistic", 300, agreed)
    );
    let alcohol = figures
        .features
        .iter()
        .find(|feature| feature.name == "alcohol")
        .and_then(|feature| feature.numbers.clone())
        .expect("alcohol's distribution");
    let mean = records.iter().map(|record| record.alcohol).sum::<f64>() / 300.0;
    assert!(
        (alcohol.mean - mean).abs() < 1e-9,
        "{} vs {mean}",
        alcohol.mean
    );
    assert_eq!(figures.features.len(), 11);

    // The same figures from the state command and the metrics.
    let printed = Command::new(env!("CARGO_BIN_EXE_state"))
        .args(["--addr", &addr, "--monitor"])
        .output()
        .expect("state runs");
    let printed = String::from_utf8(printed.stdout).unwrap();
    assert!(printed.contains("wine (process 0"), "{printed}");
    let agrees = format!("agrees {:.1} % of 300", agreed as f64 / 3.0);
    assert!(printed.contains(&agrees), "{agrees} in {printed}");
    let (_, metrics) = http_get(&addr, "/metrics");
    assert!(
        metrics.contains("modelserver_monitor_records{data_type=\"wine\"} 300"),
        "{metrics}"
    );
    let rate = format!(
        "modelserver_monitor_agreement{{data_type=\"wine\",model=\"logistic\"}} {}",
        agreed as f64 / 300.0
    );
    assert!(metrics.contains(&rate), "{rate}");

    // The records leave the window: the key is no longer monitored.
    eventually(
        Duration::from_secs(WINDOW_S + 5),
        "the window to empty",
        || (http_get(&addr, "/monitor/wine").0 == 404).then_some(()),
    );

    // Steady inputs for longer than a window set the reference and raise no drift (at 100
    // records a second, a window of 6 s holds two whole cycles of the 300 rows); then
    // alcohol shifts by +3 (about three standard deviations).
    let steady: Vec<WineRecord> = records.iter().cycle().take(1_200).cloned().collect();
    publisher
        .publish_records(&topics.data, steady, Some(100.0), |_| {})
        .unwrap();
    let reference = monitored(&addr).expect("figures of the steady inputs");
    let alcohol_drift = reference
        .features
        .iter()
        .find(|feature| feature.name == "alcohol")
        .and_then(|feature| feature.drift)
        .expect("a reference window after 12 s of one model (two whole windows)");
    assert!(alcohol_drift < 0.1, "steady inputs: {alcohol_drift}");
    assert_eq!(drift_events(&log), Vec::<serde_json::Value>::new());
    // The shifted records flow for 12 s, while the drift is awaited and the status page shown.
    let shifted: Vec<WineRecord> = records
        .iter()
        .cycle()
        .take(1_200)
        .map(|record| WineRecord {
            alcohol: record.alcohol + 3.0,
            ..record.clone()
        })
        .collect();
    let shifting = std::thread::spawn({
        let (kafka, topic) = (kafka.clone(), topics.data.clone());
        move || {
            let publisher = Publisher::new(&kafka).unwrap();
            publisher
                .publish_records(&topic, shifted, Some(100.0), |_| {})
                .unwrap()
        }
    });
    let drift = eventually(Duration::from_secs(10), "a drift event", || {
        drift_events(&log)
            .into_iter()
            .find(|event| event["drift"]["subject"] == "feature:alcohol")
    });
    assert_eq!(drift["drift"]["drifting"], true, "{drift}");
    assert_eq!(drift["drift"]["model"], "tree", "{drift}");
    assert!(drift["drift"]["psi"].as_f64().unwrap() > 0.2, "{drift}");
    let others: Vec<String> = drift_events(&log)
        .iter()
        .map(|event| event["drift"]["subject"].as_str().unwrap().to_owned())
        .filter(|subject| subject.starts_with("feature:") && subject != "feature:alcohol")
        .collect();
    assert!(others.is_empty(), "only alcohol shifted: {others:?}");

    status_page(&addr);
    assert_eq!(shifting.join().unwrap(), 1_200);

    job.terminate();
    assert!(job.wait().success());
    let _ = std::fs::remove_file(&log);
}
