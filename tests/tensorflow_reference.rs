//! TensorFlow frozen graphs served by tract, built through the model factory from `TENSORFLOW`
//! descriptors, against TensorFlow's own outputs (written by `scripts/train_tensorflow.py`):
//! our Keras MLP on the bundled wine rows, and the original system's graph, unmodified, on the
//! original's wine rows (read from `MODELSERVER_ORIGINAL_DIR`). Also the refusals: SavedModels
//! published otherwise than by the location of their directory as `TENSORFLOWSAVED` (with the way
//! to publish them; `tests/saved_model.rs` serves them), ambiguous inputs and outputs, unfrozen
//! graphs, and bytes that are not a graph.
//!
//! Tolerance: TensorFlow and tract both compute in float32 but sum in different orders, so the
//! outputs may differ in the last bits: 1e-5 absolute. Predicted classes must be identical.

use std::path::{Path, PathBuf};

use modelserver::dataset::{self, WineSample};
use modelserver::kafka::publish::{model_at_location, model_with_bytes};
use modelserver::model::tensorflow::TensorFlowModel;
use modelserver::model::{build_model, Model, ModelError, ModelKind, ModelSource};
use modelserver::proto::model_descriptor::MessageContent;
use modelserver::proto::ModelDescriptor;
use modelserver::record::WineRecord;
use tract_tensorflow::tfpb::tensorflow::{
    AttrValue, DataType, GraphDef, NodeDef, TensorShapeProto,
};
use tract_tensorflow::tfpb::{graph, node};

const TOLERANCE: f64 = 1e-5;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/tensorflow")
        .join(name)
}

/// One row of a reference file: the arg-max class and TensorFlow's output vector.
struct Expected {
    class: usize,
    outputs: Vec<f64>,
}

fn references(name: &str) -> Vec<Expected> {
    let mut reader = csv::Reader::from_path(fixture(name)).expect("reference CSV");
    reader
        .records()
        .enumerate()
        .map(|(index, row)| {
            let row = row.expect("a CSV row");
            let values: Vec<f64> = row.iter().map(|cell| cell.parse().unwrap()).collect();
            assert_eq!(values[0] as usize, index, "{name}: rows in order");
            Expected {
                class: values[1] as usize,
                outputs: values[2..].to_vec(),
            }
        })
        .collect()
}

/// Builds the model a descriptor carries, or names under its own directory (the job's
/// `--model-root`).
fn build(descriptor: &ModelDescriptor) -> Result<Box<dyn Model>, ModelError> {
    let root = match &descriptor.message_content {
        Some(MessageContent::Location(location)) => {
            Path::new(location).parent().map(Path::to_path_buf)
        }
        _ => None,
    };
    let source = ModelSource::new(root, ModelSource::MAX_BYTES);
    build_model(descriptor, Some(WineRecord::SCHEMA), &source)
}

fn inline(bytes: Vec<u8>) -> ModelDescriptor {
    model_with_bytes("tf", "wine", ModelKind::TensorFlow, bytes)
}

fn build_error(descriptor: &ModelDescriptor) -> String {
    match build(descriptor) {
        Ok(_) => panic!("the model must be refused"),
        Err(error) => error.to_string(),
    }
}

/// Scores every sample and compares with TensorFlow, row by row.
fn check_against_tensorflow(model: &mut dyn Model, samples: &[WineSample], reference: &str) {
    let expected = references(reference);
    assert_eq!(
        expected.len(),
        samples.len(),
        "{reference}: one row per sample"
    );
    let labels: Vec<&str> = model.class_labels().iter().map(|l| l.as_ref()).collect();
    assert_eq!(labels, ["0", "1", "2", "3", "4", "5", "6", "7", "8"]);
    let mut largest_difference = 0f64;
    for (row, (sample, expected)) in samples.iter().zip(&expected).enumerate() {
        let prediction = model.score(&sample.features).expect("scores");
        let class = expected.class.to_string();
        assert_eq!(
            prediction.class.as_deref(),
            Some(class.as_str()),
            "{reference} row {row}: class ({:?})",
            prediction.probabilities
        );
        assert_eq!(prediction.value, expected.class as f64, "row {row}: value");
        assert_eq!(prediction.probabilities.len(), expected.outputs.len());
        for (got, want) in prediction.probabilities.iter().zip(&expected.outputs) {
            largest_difference = largest_difference.max((got - want).abs());
            assert!(
                (got - want).abs() <= TOLERANCE,
                "{reference} row {row}: output {got} vs TensorFlow's {want}"
            );
        }
    }
    eprintln!("{reference}: largest difference from TensorFlow {largest_difference:.2e}");
}

#[test]
fn our_keras_mlp_matches_tensorflow_on_every_wine_row() {
    let bytes = std::fs::read(fixture("wine_mlp.pb")).expect("fixture");
    let mut model = build(&inline(bytes)).expect("the frozen MLP loads");
    assert_eq!(model.kind(), ModelKind::TensorFlow);
    check_against_tensorflow(
        model.as_mut(),
        &dataset::bundled(),
        "wine_mlp.reference.csv",
    );
}

#[test]
fn the_original_frozen_graph_matches_tensorflow_on_every_seed_row() {
    let Some(seed) = original_files::dir("the original frozen graph") else {
        return;
    };
    let bytes = std::fs::read(seed.join("optimized_WineQuality.pb")).expect("seed graph");
    let samples = dataset::read_csv(&seed.join("winequality_red.csv")).expect("seed rows");
    assert_eq!(samples.len(), 1599);
    let mut model = build(&inline(bytes)).expect("the original graph loads unmodified");
    check_against_tensorflow(model.as_mut(), &samples, "seed_reference.csv");
}

#[test]
fn the_original_frozen_graph_loads_from_a_location_too() {
    let Some(seed) = original_files::dir("a frozen graph by location") else {
        return;
    };
    let location = seed.join("optimized_WineQuality.pb");
    let descriptor = model_at_location(
        "tf",
        "wine",
        ModelKind::TensorFlow,
        location.to_str().unwrap(),
    );
    let mut model = build(&descriptor).expect("loads");
    let first = dataset::read_csv(&seed.join("winequality_red.csv")).unwrap()[0];
    assert_eq!(
        model.score(&first.features).unwrap().class.as_deref(),
        Some("5")
    );
}

fn assert_names_the_way_to_publish(message: &str) {
    for needed in [
        "is a TensorFlow SavedModel",
        "publish the directory by location as tensorflow-saved",
        "--location --type tensorflow-saved",
        "tags: `serve`",
        "signatures: `predict`",
    ] {
        assert!(
            message.contains(needed),
            "`{needed}` missing from: {message}"
        );
    }
}

#[test]
fn a_saved_model_directory_published_as_a_frozen_graph_is_refused_with_the_way_to_publish_it() {
    let Some(seed) = original_files::dir("SavedModel directory") else {
        return;
    };
    let directory = seed.join("saved_model");
    let location = directory.to_str().unwrap();
    let message = build_error(&model_at_location(
        "saved",
        "wine",
        ModelKind::TensorFlow,
        location,
    ));
    assert_names_the_way_to_publish(&message);
    // Named as the model root resolves it (symbolic links followed).
    let resolved = directory.canonicalize().unwrap();
    assert!(message.contains(resolved.to_str().unwrap()), "{message}");
}

#[test]
fn saved_model_bytes_published_as_a_frozen_graph_are_refused_with_the_way_to_publish_it() {
    let Some(seed) = original_files::dir("saved_model.pb as TENSORFLOW") else {
        return;
    };
    let path = seed.join("saved_model/saved_model.pb");
    let message = build_error(&inline(std::fs::read(&path).unwrap()));
    assert_names_the_way_to_publish(&message);
    assert!(message.contains("the model bytes"), "{message}");
    let by_location = model_at_location(
        "saved",
        "wine",
        ModelKind::TensorFlow,
        path.to_str().unwrap(),
    );
    assert_names_the_way_to_publish(&build_error(&by_location));
}

#[test]
fn a_saved_model_location_that_is_not_a_saved_model_is_invalid() {
    let empty = std::env::temp_dir().join(format!("tf-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let descriptor = model_at_location(
        "saved",
        "wine",
        ModelKind::TensorFlowSaved,
        empty.to_str().unwrap(),
    );
    let message = build_error(&descriptor);
    std::fs::remove_dir(&empty).unwrap();
    assert!(
        message.starts_with("invalid tensorflow-saved model") && message.contains("saved_model.pb"),
        "{message}"
    );

    let frozen = std::fs::read(fixture("wine_mlp.pb")).unwrap();
    let message = build_error(&model_with_bytes(
        "saved",
        "wine",
        ModelKind::TensorFlowSaved,
        frozen,
    ));
    assert!(
        message.contains("is not a SavedModel directory")
            && message.contains("a frozen GraphDef is published as tensorflow"),
        "{message}"
    );
}

fn placeholder(name: &str, shape: &[i64]) -> NodeDef {
    let shape = TensorShapeProto {
        dim: shape
            .iter()
            .map(
                |&size| tract_tensorflow::tfpb::tensorflow::tensor_shape_proto::Dim {
                    size,
                    name: String::new(),
                },
            )
            .collect(),
        unknown_rank: false,
    };
    node()
        .name(name)
        .op("Placeholder")
        .attr("dtype", DataType::DtFloat)
        .attr("shape", shape)
}

fn unary(name: &str, op: &str, input: &str) -> NodeDef {
    node()
        .name(name)
        .op(op)
        .input(input)
        .attr("T", DataType::DtFloat)
}

fn graph_bytes(graph: GraphDef) -> Vec<u8> {
    graph.write_to_bytes().unwrap()
}

#[test]
fn a_minimal_graph_is_a_regression_when_it_has_one_output() {
    let sum = node()
        .name("total")
        .op("Sum")
        .input("x")
        .input("axes")
        .attr("T", DataType::DtFloat)
        .attr("Tidx", DataType::DtInt32)
        .attr("keep_dims", false);
    let axes = node()
        .name("axes")
        .op("Const")
        .attr("dtype", DataType::DtInt32)
        .attr(
            "value",
            tract_tensorflow::tfpb::tensorflow::TensorProto::try_from(
                &tract_tensorflow::prelude::tensor1(&[0i32, 1]),
            )
            .unwrap(),
        );
    let bytes = graph_bytes(
        graph()
            .node(placeholder("x", &[-1, 11]))
            .node(axes)
            .node(sum),
    );
    let mut model = TensorFlowModel::load(&bytes, WineRecord::SCHEMA).expect("loads");
    assert!(model.class_labels().is_empty());
    let features = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.5];
    let prediction = model.score(&features).unwrap();
    assert_eq!(prediction.value, 66.5);
    assert_eq!(prediction.class, None);
}

#[test]
fn a_graph_with_two_placeholders_is_refused_naming_them() {
    let add = node()
        .name("sum")
        .op("AddV2")
        .input("left")
        .input("right")
        .attr("T", DataType::DtFloat);
    let bytes = graph_bytes(
        graph()
            .node(placeholder("left", &[-1, 11]))
            .node(placeholder("right", &[-1, 11]))
            .node(add),
    );
    let message = build_error(&inline(bytes));
    assert_eq!(
        message,
        "invalid tensorflow model: the input must be the graph's single Placeholder, found 2 \
         (`left`, `right`)"
    );
}

#[test]
fn a_graph_with_two_outputs_is_refused_naming_them() {
    let bytes = graph_bytes(
        graph()
            .node(placeholder("x", &[-1, 11]))
            .node(unary("relu", "Relu", "x"))
            .node(unary("sigmoid", "Sigmoid", "x")),
    );
    let message = build_error(&inline(bytes));
    assert!(
        message.contains("single terminal computation node")
            && message.contains("found 2 (`relu`, `sigmoid`)"),
        "{message}"
    );
}

#[test]
fn an_input_of_another_width_is_refused() {
    let bytes = graph_bytes(
        graph()
            .node(placeholder("x", &[-1, 7]))
            .node(unary("y", "Relu", "x")),
    );
    let message = build_error(&inline(bytes));
    assert!(
        message.contains("input `x` declares shape [-1, 7]") && message.contains("11 features"),
        "{message}"
    );
}

#[test]
fn a_graph_with_variables_is_refused_as_not_frozen() {
    let variable = node()
        .name("weights")
        .op("VariableV2")
        .attr("dtype", DataType::DtFloat);
    let bytes = graph_bytes(
        graph()
            .node(placeholder("x", &[-1, 11]))
            .node(variable)
            .node(
                node()
                    .name("y")
                    .op("MatMul")
                    .input("x")
                    .input("weights")
                    .attr("T", DataType::DtFloat),
            ),
    );
    let message = build_error(&inline(bytes));
    assert!(
        message.contains("not frozen") && message.contains("`weights`"),
        "{message}"
    );
}

#[test]
fn an_operator_tract_lacks_is_named() {
    let bytes = graph_bytes(
        graph()
            .node(placeholder("x", &[-1, 11]))
            .node(unary("y", "Erfinv", "x")),
    );
    let message = build_error(&inline(bytes));
    assert_eq!(
        message,
        "unsupported: TensorFlow operators not implemented by tract: Erfinv"
    );
}

#[test]
fn an_attribute_without_a_value_is_an_error_not_a_panic() {
    // tract's attribute readers unwrap the value: without the guard this would panic.
    let cast = node()
        .name("y")
        .op("Cast")
        .input("x")
        .attr("DstT", AttrValue::default());
    let bytes = graph_bytes(graph().node(placeholder("x", &[-1, 11])).node(cast));
    let message = build_error(&inline(bytes));
    assert!(
        message.starts_with("invalid tensorflow model") && message.contains("tract panicked"),
        "{message}"
    );
}

#[test]
fn bytes_that_are_not_a_graph_are_refused() {
    let message = build_error(&inline(b"not a model".to_vec()));
    assert!(
        message.starts_with("invalid tensorflow model: the bytes are not a TensorFlow GraphDef"),
        "{message}"
    );
    let message = build_error(&inline(Vec::new()));
    assert!(message.contains("found 0"), "{message}");
}
