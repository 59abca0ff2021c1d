//! The serving apps of `jobs/` as a user runs them: on the embedded Kafka (their default) and
//! against the real broker. Every prediction they print must be the model's own for that row:
//! for `wine`, the model's as this process scores it; for `iris`, JPMML-Evaluator's and
//! onnxruntime's reference labels.

mod support;

use std::collections::BTreeMap;
use std::process::Command;

use modelserver::dataset;
use modelserver::kafka::publish::model_with_bytes;
use modelserver::model::ModelKind;
use modelserver::model::{build_model, Model};
use modelserver::record::WineRecord;

const RECORDS: usize = 400;

/// Runs an app binary with `args` (and `bootstrap`, else the embedded Kafka); returns its stdout.
fn run_app(binary: &str, bootstrap: Option<&str>, args: &[&str]) -> String {
    let mut command = Command::new(binary);
    // From the repository's root, as its README runs the apps.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    command
        .current_dir(root)
        .env_remove("KAFKA_BOOTSTRAP")
        .args(args);
    if let Some(bootstrap) = bootstrap {
        command.args(["--bootstrap", bootstrap]);
    }
    let output = command.output().expect("the app runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    stdout
}

/// The predicted label of each printed prediction line `[p:offset] model quality L (p = …)`, by
/// data row (records go round-robin over 4 partitions of fresh topics: row = offset × 4 + p).
fn printed_predictions(stdout: &str, word: &str) -> BTreeMap<usize, (String, String)> {
    stdout
        .lines()
        .filter_map(|line| {
            let (position, rest) = line.strip_prefix('[')?.split_once(']')?;
            let (partition, offset) = position.split_once(':')?;
            let row = offset.trim().parse::<usize>().ok()? * 4 + partition.parse::<usize>().ok()?;
            let mut words = rest.split_whitespace();
            let model = words.next()?.to_owned();
            let label = words.skip_while(|w| *w != word).nth(1)?.to_owned();
            Some((row, (model, label)))
        })
        .collect()
}

/// The usage of each model in the state table the app printed.
fn table_usage(stdout: &str) -> BTreeMap<String, u64> {
    stdout
        .lines()
        .skip_while(|line| !line.starts_with("DATA TYPE"))
        .skip(1)
        .take_while(|line| !line.is_empty())
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let replaced = usize::from(words[4] == "(replaced)");
            (words[3].to_owned(), words[6 + replaced].parse().unwrap())
        })
        .collect()
}

/// What an app printed, checked for one prediction per record and a state table that counts
/// what each model scored: the predicted label per data row, with the model that gave it.
fn run_and_check(
    binary: &str,
    bootstrap: Option<&str>,
    topics: &str,
    word: &str,
) -> BTreeMap<usize, (String, String)> {
    let addr = support::free_addr();
    let records = RECORDS.to_string();
    let args = [
        "--records",
        &records,
        "--every",
        "1",
        "--state-addr",
        &addr,
        "--topics",
        topics,
    ];
    let stdout = run_app(binary, bootstrap, &args);
    assert!(
        stdout.contains(&format!("{RECORDS} predictions for {RECORDS} records")),
        "{stdout}"
    );
    let printed = printed_predictions(&stdout, word);
    assert_eq!(
        printed.len(),
        RECORDS,
        "one prediction per record: {stdout}"
    );
    let usage = table_usage(&stdout);
    assert_eq!(usage.len(), 2, "a model and the one it replaced: {stdout}");
    for (model, count) in usage {
        let printed_by = printed.values().filter(|(name, _)| *name == model).count();
        assert_eq!(
            printed_by as u64, count,
            "{model}: the state counts what it scored"
        );
    }
    assert!(
        stdout.contains(&format!("scored {RECORDS}, no model 0")),
        "{stdout}"
    );
    printed
}

fn check_wine_app(bootstrap: Option<&str>, topics: &str) {
    let printed = run_and_check(env!("CARGO_BIN_EXE_wine"), bootstrap, topics, "quality");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut models: BTreeMap<&str, Box<dyn Model>> = [
        (
            "pmml-forest",
            ModelKind::Pmml,
            "data/pmml/random_forest_classifier.pmml",
        ),
        (
            "onnx-boosting",
            ModelKind::Onnx,
            "data/onnx/wine_gbm_classifier.onnx",
        ),
    ]
    .into_iter()
    .map(|(name, kind, path)| {
        let bytes = std::fs::read(format!("{root}/{path}")).unwrap();
        let descriptor = model_with_bytes(name, "wine", kind, bytes);
        (
            name,
            build_model(&descriptor, Some(WineRecord::SCHEMA), &Default::default()).unwrap(),
        )
    })
    .collect();
    let samples = dataset::bundled();
    for (row, (model, label)) in &printed {
        let scorer = models
            .get_mut(model.as_str())
            .unwrap_or_else(|| panic!("model {model}"));
        let expected = scorer.score(&samples[*row].features).unwrap();
        assert_eq!(
            Some(label.as_str()),
            expected.class.as_deref(),
            "row {row} by {model}"
        );
    }
}

/// The reference labels of an iris model (JPMML's or onnxruntime's), by row of `iris.csv`.
fn iris_reference(file: &str) -> Vec<String> {
    let path = format!(
        "{}/data/iris/{file}",
        concat!(env!("CARGO_MANIFEST_DIR"), "/..")
    );
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader
        .records()
        .map(|row| row.unwrap()[1].to_owned())
        .collect()
}

fn check_iris_app(bootstrap: Option<&str>, topics: &str) {
    let printed = run_and_check(env!("CARGO_BIN_EXE_iris"), bootstrap, topics, "species");
    let tree = iris_reference("iris_tree.expected.csv");
    let forest = iris_reference("iris_forest.reference.csv");
    for (row, (model, label)) in &printed {
        let reference = match model.as_str() {
            "pmml-tree" => &tree,
            "onnx-forest" => &forest,
            other => panic!("model {other}"),
        };
        assert_eq!(
            label,
            &reference[row % reference.len()],
            "row {row} by {model}"
        );
    }
}

#[test]
fn wine_app_on_the_embedded_kafka() {
    check_wine_app(None, "wine");
}

#[test]
fn wine_app_against_the_real_broker() {
    let kafka = support::broker();
    let topics = format!("wine-app-{}", std::process::id());
    check_wine_app(Some(&kafka.bootstrap), &topics);
}

#[test]
fn iris_app_on_the_embedded_kafka() {
    check_iris_app(None, "iris");
}

#[test]
fn iris_app_against_the_real_broker() {
    let kafka = support::broker();
    let topics = format!("iris-app-{}", std::process::id());
    check_iris_app(Some(&kafka.bootstrap), &topics);
}

/// A new data set needs no code: `serve --record features` with a PMML file that names its
/// features, and the rows of any CSV published by `client` as JSON feature records.
#[test]
fn a_new_data_set_is_served_with_no_code() {
    let kafka = support::broker();
    let topics = support::Topics::create(&kafka, "nocode", 4);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let client = |args: &[&str]| {
        let status = Command::new(env!("CARGO_BIN_EXE_client"))
            .args(["--bootstrap", &kafka.bootstrap])
            .args(args)
            .status()
            .expect("client runs");
        assert!(status.success(), "client {args:?}");
    };
    let tree = format!("{root}/data/iris/iris_tree.pmml");
    client(&[
        "publish-model",
        &tree,
        "--name",
        "tree",
        "--type",
        "pmml",
        "--data-type",
        "iris",
        "--topic",
        &topics.models,
    ]);
    let serve = support::Serve(
        Command::new(env!("CARGO_BIN_EXE_serve"))
            .args(["--record", "features", "--data-format", "json", "-w", "2"])
            .args([
                "--bootstrap",
                &kafka.bootstrap,
                "--group",
                &format!("{}-g", topics.data),
            ])
            .args([
                "--data-topic",
                &topics.data,
                "--models-topic",
                &topics.models,
            ])
            .args(["--results-topic", &topics.results])
            .spawn()
            .expect("serve starts"),
    );
    let csv = format!("{root}/data/iris/iris.csv");
    client(&[
        "publish-data",
        "--record",
        "features",
        "--format",
        "json",
        "--csv",
        &csv,
        "--exclude",
        "species",
        "--data-type",
        "iris",
        "--topic",
        &topics.data,
    ]);
    let results = support::read_results(&kafka, &topics.results, 150);
    serve.terminate();
    assert!(serve.wait().success(), "serve exits cleanly on SIGTERM");
    let reference = iris_reference("iris_tree.expected.csv");
    assert_eq!(results.len(), 150);
    for result in &results {
        let row = (result.source_offset * 4 + i64::from(result.source_partition)) as usize;
        assert_eq!(result.model_name, "tree");
        assert_eq!(result.label, reference[row], "row {row}");
    }
}
