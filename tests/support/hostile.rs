//! Hostile model payloads: what an attacker, or a broken producer, may publish on the models
//! topic. Shared by the library's containment tests and the end-to-end tests against Kafka.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};

use modelserver::kafka::publish::{model_at_location, model_with_bytes};
use modelserver::model::ModelKind;
use modelserver::proto::ModelDescriptor;
use prost::Message;
use tract_onnx::pb as onnx;
use tract_tensorflow::tfpb::tensorflow as tf;

/// One hostile payload: what it is, and the descriptor that carries or names it.
pub struct Hostile {
    /// What it is, for messages.
    pub what: &'static str,
    /// The descriptor, for key `data_type`.
    pub descriptor: ModelDescriptor,
}

/// Every hostile payload of the corpus, for key `data_type`, with the files its locations name
/// made under `root` (the job's model root; `root/../outside` is outside it).
pub fn corpus(data_type: &str, root: &Path) -> Vec<Hostile> {
    let inline = |what, kind, bytes: Vec<u8>| Hostile {
        what,
        descriptor: model_with_bytes(what, data_type, kind, bytes),
    };
    let at = |what, kind, location: &str| Hostile {
        what,
        descriptor: model_at_location(what, data_type, kind, location),
    };
    let files = make_files(root);
    let mut corpus = vec![
        inline("garbage as pmml", ModelKind::Pmml, garbage(1000, 1)),
        inline("garbage as onnx", ModelKind::Onnx, garbage(1000, 2)),
        inline(
            "garbage as tensorflow",
            ModelKind::TensorFlow,
            garbage(1000, 3),
        ),
        inline(
            "garbage as a saved model",
            ModelKind::TensorFlowSaved,
            garbage(100, 4),
        ),
        inline("empty pmml", ModelKind::Pmml, Vec::new()),
        inline("billion laughs", ModelKind::Pmml, billion_laughs()),
        inline("external entity", ModelKind::Pmml, external_entity()),
        inline("100k-deep pmml", ModelKind::Pmml, deep_pmml(100_000)),
        inline(
            "onnx without inputs",
            ModelKind::Onnx,
            onnx_without_inputs(),
        ),
        inline(
            "onnx string tensor with raw data",
            ModelKind::Onnx,
            onnx_string_raw_data(),
        ),
        inline(
            "onnx huge ConstantOfShape",
            ModelKind::Onnx,
            onnx_huge_constant_of_shape(),
        ),
        inline(
            "tensorflow huge Const",
            ModelKind::TensorFlow,
            tensorflow_huge_const(),
        ),
        Hostile {
            what: "no content",
            descriptor: ModelDescriptor {
                name: "no content".into(),
                data_type: data_type.into(),
                ..ModelDescriptor::default()
            },
        },
        at("location /dev/zero", ModelKind::Pmml, "/dev/zero"),
        at("location /etc/passwd", ModelKind::Pmml, "/etc/passwd"),
        at(
            "location traversal",
            ModelKind::Pmml,
            "../outside/model.pmml",
        ),
    ];
    for (what, path) in files {
        corpus.push(at(
            what,
            ModelKind::Pmml,
            path.to_str().expect("a UTF-8 path"),
        ));
    }
    corpus
}

/// Files under and around `root`: a symlink out, a symlink to a device, a FIFO, a file over
/// 1 MiB, a directory.
fn make_files(root: &Path) -> Vec<(&'static str, PathBuf)> {
    let outside = root.parent().expect("a parent").join("outside");
    std::fs::create_dir_all(&outside).expect("a directory");
    std::fs::create_dir_all(root.join("a-directory")).expect("a directory");
    std::fs::write(outside.join("model.pmml"), b"<PMML/>").expect("a file");
    std::fs::write(root.join("big.pmml"), vec![b' '; 2 << 20]).expect("a file");
    let link = |target: &Path, name: &str| {
        let path = root.join(name);
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink(target, &path).expect("a symlink");
        path
    };
    let fifo = root.join("fifo");
    if !fifo.exists() {
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
    }
    vec![
        (
            "symlink out of the root",
            link(&outside.join("model.pmml"), "link-out"),
        ),
        ("symlink to /dev/zero", link(Path::new("/dev/zero"), "zero")),
        ("a fifo", fifo),
        ("an over-size file", root.join("big.pmml")),
        ("a directory", root.join("a-directory")),
        ("a missing file", root.join("missing.pmml")),
    ]
}

/// `len` bytes of a simple pseudo-random sequence.
pub fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn billion_laughs() -> Vec<u8> {
    let mut text =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE PMML [\n<!ENTITY lol \"lol\">\n");
    for level in 1..10 {
        let refs = format!("&lol{};", level - 1).replace("&lol0;", "&lol;");
        text.push_str(&format!("<!ENTITY lol{level} \"{}\">\n", refs.repeat(10)));
    }
    text.push_str("]>\n<PMML version=\"4.4\">&lol9;</PMML>\n");
    text.into_bytes()
}

fn external_entity() -> Vec<u8> {
    b"<?xml version=\"1.0\"?><!DOCTYPE PMML [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><PMML version=\"4.4\">&x;</PMML>".to_vec()
}

fn deep_pmml(depth: usize) -> Vec<u8> {
    let mut text = String::from("<PMML version=\"4.4\"><DataDictionary/>");
    text.push_str(&"<X>".repeat(depth));
    text.push_str(&"</X>".repeat(depth));
    text.push_str("</PMML>");
    text.into_bytes()
}

fn onnx_model(graph: onnx::GraphProto) -> Vec<u8> {
    onnx::ModelProto {
        ir_version: 7,
        opset_import: vec![onnx::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(graph),
        ..onnx::ModelProto::default()
    }
    .encode_to_vec()
}

fn onnx_without_inputs() -> Vec<u8> {
    onnx_model(onnx::GraphProto {
        name: "g".into(),
        ..onnx::GraphProto::default()
    })
}

fn float_input(name: &str, dims: &[i64]) -> onnx::ValueInfoProto {
    use onnx::tensor_shape_proto::{dimension, Dimension};
    use onnx::type_proto::{Tensor, Value};
    let dim = dims
        .iter()
        .map(|size| Dimension {
            value: Some(dimension::Value::DimValue(*size)),
            ..Dimension::default()
        })
        .collect();
    onnx::ValueInfoProto {
        name: name.into(),
        r#type: Some(onnx::TypeProto {
            value: Some(Value::TensorType(Tensor {
                elem_type: 1,
                shape: Some(onnx::TensorShapeProto { dim }),
            })),
            ..onnx::TypeProto::default()
        }),
        ..onnx::ValueInfoProto::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str) -> onnx::NodeProto {
    onnx::NodeProto {
        op_type: op.into(),
        input: inputs.iter().map(|input| input.to_string()).collect(),
        output: vec![output.into()],
        name: output.into(),
        ..onnx::NodeProto::default()
    }
}

fn onnx_string_raw_data() -> Vec<u8> {
    let strings = onnx::TensorProto {
        name: "s".into(),
        data_type: 8,
        dims: vec![4],
        raw_data: b"abcdefgh".to_vec(),
        ..onnx::TensorProto::default()
    };
    onnx_model(onnx::GraphProto {
        name: "g".into(),
        node: vec![node("Identity", &["s"], "y")],
        initializer: vec![strings],
        input: vec![float_input("x", &[1, 11])],
        output: vec![float_input("y", &[4])],
        ..onnx::GraphProto::default()
    })
}

fn onnx_huge_constant_of_shape() -> Vec<u8> {
    let shape = onnx::TensorProto {
        name: "shape".into(),
        data_type: 7,
        dims: vec![3],
        int64_data: vec![100_000, 100_000, 100_000],
        ..onnx::TensorProto::default()
    };
    onnx_model(onnx::GraphProto {
        name: "g".into(),
        node: vec![
            node("ConstantOfShape", &["shape"], "big"),
            node("Add", &["x", "big"], "y"),
        ],
        initializer: vec![shape],
        input: vec![float_input("x", &[1, 11])],
        output: vec![float_input("y", &[1, 11])],
        ..onnx::GraphProto::default()
    })
}

fn tensorflow_huge_const() -> Vec<u8> {
    use tf::attr_value::Value;
    let dim = |size| tf::tensor_shape_proto::Dim {
        size,
        name: String::new(),
    };
    let huge = tf::TensorProto {
        dtype: tf::DataType::DtFloat as i32,
        tensor_shape: Some(tf::TensorShapeProto {
            dim: vec![dim(1 << 20), dim(1 << 20)],
            unknown_rank: false,
        }),
        float_val: vec![1.0],
        ..tf::TensorProto::default()
    };
    let attr = |value| tf::AttrValue { value: Some(value) };
    let placeholder = tf::NodeDef {
        name: "x".into(),
        op: "Placeholder".into(),
        attr: [(
            "dtype".to_owned(),
            attr(Value::Type(tf::DataType::DtFloat as i32)),
        )]
        .into(),
        ..tf::NodeDef::default()
    };
    let constant = tf::NodeDef {
        name: "c".into(),
        op: "Const".into(),
        attr: [
            (
                "dtype".to_owned(),
                attr(Value::Type(tf::DataType::DtFloat as i32)),
            ),
            ("value".to_owned(), attr(Value::Tensor(huge))),
        ]
        .into(),
        ..tf::NodeDef::default()
    };
    let add = tf::NodeDef {
        name: "y".into(),
        op: "Add".into(),
        input: vec!["x".into(), "c".into()],
        attr: [(
            "T".to_owned(),
            attr(Value::Type(tf::DataType::DtFloat as i32)),
        )]
        .into(),
        ..tf::NodeDef::default()
    };
    tf::GraphDef {
        node: vec![placeholder, constant, add],
        ..tf::GraphDef::default()
    }
    .encode_to_vec()
}
