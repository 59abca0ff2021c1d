//! TensorFlow SavedModels served natively (type `TENSORFLOWSAVED`, by the location of their
//! directory), against TensorFlow's own outputs (written by `scripts/make_saved_models.py`): our
//! wine MLP as a TensorFlow 2 SavedModel (functions, resource variables) and as a TensorFlow 1
//! one (`VariableV2`, the saver's graph), on every bundled wine row; the original system's
//! SavedModel on every row of its CSV (read from `MODELSERVER_ORIGINAL_DIR`); both pipelines,
//! keyed and flat, serving a SavedModel; and SavedModels damaged in every way that must fail at
//! load with an error naming the problem.
//!
//! Tolerance: as in `tests/tensorflow_reference.rs`, 1e-5 absolute per output; classes exactly.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use modelserver::dataset::{self, WineSample};
use modelserver::kafka::publish::{model_at_location, model_with_bytes};
use modelserver::model::tensorflow::TensorFlowModel;
use modelserver::model::{build_model, InputNames, Model, ModelError, ModelKind, ModelSource};
use modelserver::pipeline::{
    serving_dataflow, Delivery, Loader, PipelineKind, Serving, ServingConfig, ServingDataflow,
};
use modelserver::proto::ModelDescriptor;
use modelserver::record::{Origin, Outcome, Scored, Sourced, WineRecord};
use modelserver::state::{Counters, Reporter};
use prost::Message;
use tract_tensorflow::tfpb::tensorflow::attr_value::Value;
use tract_tensorflow::tfpb::tensorflow::SavedModel;

const TOLERANCE: f64 = 1e-5;

fn saved(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/tensorflow/saved")
        .join(name)
}

/// One row of a reference file: the arg-max class and TensorFlow's outputs.
struct Expected {
    class: usize,
    outputs: Vec<f64>,
}

fn references(name: &str) -> Vec<Expected> {
    let mut reader = csv::Reader::from_path(saved(name)).expect("reference CSV");
    reader
        .records()
        .enumerate()
        .map(|(index, row)| {
            let values: Vec<f64> = row
                .expect("a CSV row")
                .iter()
                .map(|cell| cell.parse().expect("a number"))
                .collect();
            assert_eq!(values[0] as usize, index, "{name}: rows in order");
            Expected {
                class: values[1] as usize,
                outputs: values[2..].to_vec(),
            }
        })
        .collect()
}

fn descriptor(directory: &Path) -> ModelDescriptor {
    model_at_location(
        "saved",
        "wine",
        ModelKind::TensorFlowSaved,
        directory.to_str().expect("a UTF-8 path"),
    )
}

/// Models read from files under the directory that holds `directory`.
fn source_around(directory: &Path) -> ModelSource {
    let root = directory.parent().expect("a parent directory");
    ModelSource::new(Some(root.to_path_buf()), ModelSource::MAX_BYTES)
}

fn build(directory: &Path) -> Result<Box<dyn Model>, ModelError> {
    build_model(
        &descriptor(directory),
        Some(WineRecord::SCHEMA),
        &source_around(directory),
    )
}

fn build_error(directory: &Path) -> String {
    match build(directory) {
        Ok(_) => panic!("{} must be refused", directory.display()),
        Err(error) => error.to_string(),
    }
}

/// Checks one prediction against TensorFlow's outputs; returns the largest difference.
fn check_row(prediction: &modelserver::model::Prediction, expected: &Expected, what: &str) -> f64 {
    let class = expected.class.to_string();
    assert_eq!(
        prediction.class.as_deref(),
        Some(class.as_str()),
        "{what}: class"
    );
    assert_eq!(prediction.value, expected.class as f64, "{what}: value");
    assert_eq!(
        prediction.probabilities.len(),
        expected.outputs.len(),
        "{what}"
    );
    let mut largest = 0f64;
    for (got, want) in prediction.probabilities.iter().zip(&expected.outputs) {
        largest = largest.max((got - want).abs());
        assert!(
            (got - want).abs() <= TOLERANCE,
            "{what}: output {got} vs TensorFlow's {want}"
        );
    }
    largest
}

fn check_against_tensorflow(directory: &Path, samples: &[WineSample], reference: &str) {
    let mut model =
        build(directory).unwrap_or_else(|error| panic!("{} loads: {error}", directory.display()));
    assert_eq!(model.kind(), ModelKind::TensorFlowSaved);
    let labels: Vec<&str> = model.class_labels().iter().map(|l| l.as_ref()).collect();
    assert_eq!(labels, ["0", "1", "2", "3", "4", "5", "6", "7", "8"]);
    let expected = references(reference);
    assert_eq!(
        expected.len(),
        samples.len(),
        "{reference}: one row per sample"
    );
    let mut largest = 0f64;
    for (row, (sample, expected)) in samples.iter().zip(&expected).enumerate() {
        let prediction = model.score(&sample.features).expect("scores");
        largest = largest.max(check_row(
            &prediction,
            expected,
            &format!("{reference} row {row}"),
        ));
    }
    eprintln!(
        "{reference}: {} rows, largest difference from TensorFlow {largest:.2e}",
        samples.len()
    );
}

#[test]
fn a_tensorflow_2_saved_model_matches_tensorflow_on_every_wine_row() {
    check_against_tensorflow(
        &saved("wine_mlp_v2"),
        &dataset::bundled(),
        "wine_mlp_v2.reference.csv",
    );
}

#[test]
fn a_tensorflow_1_saved_model_matches_tensorflow_on_every_wine_row() {
    check_against_tensorflow(
        &saved("wine_mlp_v1"),
        &dataset::bundled(),
        "wine_mlp_v1.reference.csv",
    );
}

#[test]
fn the_original_saved_model_matches_tensorflow_on_every_seed_row() {
    let Some(seed) = original_files::dir("the original SavedModel") else {
        return;
    };
    let samples = dataset::read_csv(&seed.join("winequality_red.csv")).expect("seed rows");
    assert_eq!(samples.len(), 1599);
    check_against_tensorflow(
        &seed.join("saved_model"),
        &samples,
        "seed_saved_model.reference.csv",
    );
}

#[test]
fn a_saved_model_takes_the_features_the_descriptor_names() {
    let fixture = saved("wine_mlp_v2").canonicalize().unwrap();
    let source = source_around(&fixture);
    let names: Vec<String> = WineRecord::SCHEMA
        .names
        .iter()
        .map(|name| name.to_string())
        .collect();
    let model = TensorFlowModel::load_saved_model(&fixture, InputNames::Named(&names), &source)
        .expect("loads");
    assert_eq!(model.inputs().len(), 11);
    let error = TensorFlowModel::load_saved_model(&fixture, InputNames::Named(&[]), &source)
        .err()
        .expect("a graph names no features");
    assert!(
        error.to_string().contains("does not name its features"),
        "{error}"
    );
    let five = &names[..5];
    let error = TensorFlowModel::load_saved_model(&fixture, InputNames::Named(five), &source)
        .err()
        .expect("11 features are needed");
    let message = error.to_string();
    assert!(
        message.starts_with("invalid tensorflow-saved model")
            && message.contains("signature `serving_default`")
            && message.contains("5 features"),
        "{message}"
    );
}

/// A copy of a fixture SavedModel in a fresh temporary directory, removed on drop.
struct Scratch {
    root: PathBuf,
}

impl Scratch {
    fn copy_of(name: &str) -> Scratch {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let count = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let root =
            std::env::temp_dir().join(format!("saved-model-test-{}-{count}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("variables")).unwrap();
        let source = saved(name);
        for file in [
            "saved_model.pb",
            "variables/variables.index",
            "variables/variables.data-00000-of-00001",
        ] {
            std::fs::copy(source.join(file), root.join(file)).unwrap();
        }
        Scratch { root }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.root.join(file)
    }

    fn change(&self, file: &str, change: impl FnOnce(&mut Vec<u8>)) {
        let mut bytes = std::fs::read(self.path(file)).unwrap();
        change(&mut bytes);
        std::fs::write(self.path(file), bytes).unwrap();
    }

    fn change_saved_model(&self, change: impl FnOnce(&mut SavedModel)) {
        self.change("saved_model.pb", |bytes| {
            let mut model = SavedModel::decode(bytes.as_slice()).unwrap();
            change(&mut model);
            *bytes = model.encode_to_vec();
        });
    }

    fn error(&self) -> String {
        build_error(&self.root)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

const INDEX: &str = "variables/variables.index";
const SHARD: &str = "variables/variables.data-00000-of-00001";

fn assert_contains(message: &str, needles: &[&str]) {
    assert!(
        message.starts_with("invalid tensorflow-saved model"),
        "{message}"
    );
    for needle in needles {
        assert!(
            message.contains(needle),
            "`{needle}` missing from: {message}"
        );
    }
}

#[test]
fn missing_or_damaged_files_fail_at_load_naming_them() {
    for fixture in ["wine_mlp_v1", "wine_mlp_v2"] {
        let scratch = Scratch::copy_of(fixture);
        std::fs::remove_file(scratch.path(SHARD)).unwrap();
        assert_contains(
            &scratch.error(),
            &["variables.data-00000-of-00001", "no such file"],
        );

        let scratch = Scratch::copy_of(fixture);
        std::fs::remove_file(scratch.path(INDEX)).unwrap();
        assert_contains(&scratch.error(), &["no such file", "variables.index"]);

        let scratch = Scratch::copy_of(fixture);
        std::fs::remove_file(scratch.path("saved_model.pb")).unwrap();
        assert_contains(&scratch.error(), &["no such file", "saved_model.pb"]);

        let scratch = Scratch::copy_of(fixture);
        scratch.change("saved_model.pb", |bytes| bytes.truncate(bytes.len() / 2));
        assert_contains(&scratch.error(), &["saved_model.pb is not a SavedModel"]);

        let scratch = Scratch::copy_of(fixture);
        scratch.change(SHARD, |bytes| bytes.truncate(bytes.len() - 100));
        assert_contains(&scratch.error(), &["run past the end of the shard"]);

        let scratch = Scratch::copy_of(fixture);
        scratch.change(SHARD, |bytes| {
            let last = bytes.len() - 1;
            bytes[last] ^= 0x01
        });
        assert_contains(&scratch.error(), &["checksum mismatch", "variables.data"]);
    }
}

#[test]
fn every_truncation_of_the_index_fails_at_load() {
    let scratch = Scratch::copy_of("wine_mlp_v2");
    let index = std::fs::read(scratch.path(INDEX)).unwrap();
    for length in 0..index.len() {
        std::fs::write(scratch.path(INDEX), &index[..length]).unwrap();
        assert_contains(&scratch.error(), &["variables.index"]);
    }
    let mut flipped = index.clone();
    flipped[10] ^= 0x20;
    std::fs::write(scratch.path(INDEX), &flipped).unwrap();
    assert_contains(&scratch.error(), &["checksum mismatch"]);
}

/// The nodes of the SavedModel's main graph.
fn graph_nodes(model: &mut SavedModel) -> &mut Vec<tract_tensorflow::tfpb::tensorflow::NodeDef> {
    &mut model.meta_graphs[0]
        .graph_def
        .as_mut()
        .expect("a graph")
        .node
}

#[test]
fn a_variable_whose_value_has_another_shape_fails_at_load() {
    let scratch = Scratch::copy_of("wine_mlp_v1");
    scratch.change_saved_model(|model| {
        let kernel = graph_nodes(model)
            .iter_mut()
            .find(|node| node.name == "dense_0/kernel")
            .expect("the first kernel");
        let Some(Value::Shape(shape)) = kernel.attr.get_mut("shape").unwrap().value.as_mut() else {
            panic!("a shape attribute")
        };
        shape.dim[1].size = 31;
    });
    assert_contains(
        &scratch.error(),
        &["variable `dense_0/kernel` has shape [11, 31]", "[11, 32]"],
    );
}

#[test]
fn signatures_are_chosen_by_name_and_ambiguity_is_refused() {
    let scratch = Scratch::copy_of("wine_mlp_v1");
    scratch.change_saved_model(|model| {
        let signatures = &mut model.meta_graphs[0].signature_def;
        let predict = signatures.remove("predict").unwrap();
        signatures.insert("score".into(), predict.clone());
        signatures.insert("classify".into(), predict);
    });
    assert_contains(
        &scratch.error(),
        &["cannot choose a signature among 2 (`classify`, `score`)"],
    );

    let scratch = Scratch::copy_of("wine_mlp_v1");
    scratch.change_saved_model(|model| {
        let signatures = &mut model.meta_graphs[0].signature_def;
        let predict = signatures.remove("predict").unwrap();
        signatures.insert("only_one".into(), predict);
    });
    build(&scratch.root).expect("the only signature serves");

    let scratch = Scratch::copy_of("wine_mlp_v1");
    scratch.change_saved_model(|model| {
        let predict = model.meta_graphs[0]
            .signature_def
            .get_mut("predict")
            .unwrap();
        let output = predict.outputs.values().next().unwrap().clone();
        predict.outputs.insert("second".into(), output);
    });
    assert_contains(
        &scratch.error(),
        &["signature `predict` has 2 outputs (`outputs`, `second`)"],
    );

    let scratch = Scratch::copy_of("wine_mlp_v1");
    scratch.change_saved_model(|model| {
        let info = model.meta_graphs[0].meta_info_def.as_mut().unwrap();
        info.tags = vec!["train".into()];
    });
    assert_contains(
        &scratch.error(),
        &["0 meta graphs are tagged `serve`", "[train]"],
    );
}

#[test]
fn a_location_that_is_not_a_saved_model_directory_is_refused() {
    let file = saved("wine_mlp_v2/saved_model.pb");
    let message = build_error(&file);
    assert!(
        message.contains("saved_model.pb` is a TensorFlow SavedModel")
            && message.contains("publish the directory by location as tensorflow-saved"),
        "{message}"
    );
    let missing = saved("no_such_model");
    let message = build_error(&missing);
    assert!(
        message.contains("no_such_model") && message.contains("no such file under the model root"),
        "{message}"
    );
    let bytes = std::fs::read(&file).unwrap();
    let inline = model_with_bytes("saved", "wine", ModelKind::TensorFlowSaved, bytes);
    let message = match build_model(&inline, Some(WineRecord::SCHEMA), &source_around(&file)) {
        Ok(_) => panic!("inline SavedModel bytes must be refused"),
        Err(error) => error.to_string(),
    };
    assert!(
        message.contains("is a TensorFlow SavedModel")
            && message.contains("publish the directory by location as tensorflow-saved"),
        "{message}"
    );
}

/// Runs a pipeline of `workers` workers on `records`, with `model` published first.
fn serve(
    kind: PipelineKind,
    workers: usize,
    model: ModelDescriptor,
    records: Vec<Sourced<WineRecord>>,
) -> Vec<Scored> {
    let results = Arc::new(Mutex::new(Vec::new()));
    let counters = Arc::new(Counters::default());
    let fixtures = saved("wine_mlp_v2").canonicalize().unwrap();
    let loader = Arc::new(Loader::new(source_around(&fixtures)));
    let (sink, records) = (results.clone(), Arc::new(records));
    timely::execute(timely::Config::process(workers), move |worker| {
        let sink = sink.clone();
        let serving = Serving {
            kind,
            config: ServingConfig::default(),
            reporter: Reporter::for_worker(worker, counters.clone()),
            loader: loader.clone(),
            process_workers: (0..worker.peers()).collect(),
            delivery: Delivery::WhereScored,
            monitoring: None,
        };
        let deliver = move |_, scored: &Scored| sink.lock().unwrap().push(scored.clone());
        let ServingDataflow {
            mut data,
            mut models,
            probe,
            ..
        } = serving_dataflow(worker, serving, deliver);
        if worker.index() != 0 {
            return;
        }
        let origin = Origin {
            partition: 0,
            offset: 0,
        };
        models.send(Sourced {
            origin,
            record: model.clone(),
        });
        models.advance_to(1);
        data.advance_to(1);
        records.iter().cloned().for_each(|record| data.send(record));
        models.advance_to(2);
        data.advance_to(2);
        let deadline = Instant::now() + Duration::from_secs(60);
        while probe.less_than(&2) && Instant::now() < deadline {
            worker.step_or_park(Some(Duration::from_millis(1)));
        }
    })
    .expect("timely starts")
    .join()
    .into_iter()
    .for_each(|worker| worker.expect("no worker fails"));
    let mut results = std::mem::take(&mut *results.lock().unwrap());
    results.sort_by_key(|scored| scored.origin.offset);
    results
}

fn check_pipeline(kind: PipelineKind) {
    let samples = dataset::bundled();
    let expected = references("wine_mlp_v2.reference.csv");
    let records: Vec<Sourced<WineRecord>> = samples
        .iter()
        .enumerate()
        .map(|(row, sample)| Sourced {
            origin: Origin {
                partition: 0,
                offset: row as i64,
            },
            record: sample.to_record("wine"),
        })
        .collect();
    let results = serve(kind, 2, descriptor(&saved("wine_mlp_v2")), records);
    let offsets: Vec<i64> = results.iter().map(|scored| scored.origin.offset).collect();
    assert_eq!(
        offsets,
        (0..samples.len() as i64).collect::<Vec<_>>(),
        "{kind:?}: one result per record"
    );
    let mut largest = 0f64;
    for scored in &results {
        let row = scored.origin.offset as usize;
        let Outcome::Scored(prediction) = &scored.outcome else {
            panic!("{kind:?} row {row} was not scored: {:?}", scored.outcome);
        };
        assert_eq!(scored.model.as_ref().map(|tag| &*tag.name), Some("saved"));
        largest = largest.max(check_row(
            prediction,
            &expected[row],
            &format!("{kind:?} row {row}"),
        ));
    }
    let workers: std::collections::BTreeSet<usize> = results.iter().map(|s| s.worker).collect();
    eprintln!(
        "{kind:?}: {} records scored on workers {workers:?}, largest difference from TensorFlow \
         {largest:.2e}",
        results.len()
    );
}

#[test]
fn the_keyed_pipeline_serves_a_saved_model_as_tensorflow_does() {
    check_pipeline(PipelineKind::Keyed);
}

#[test]
fn the_flat_pipeline_serves_a_saved_model_as_tensorflow_does() {
    check_pipeline(PipelineKind::Flat);
}
