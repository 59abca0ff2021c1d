//! Checks of the tensors a graph declares, before tract builds it: a few bytes of protobuf can
//! declare a tensor of terabytes (a constant filled from one value, a `ConstantOfShape` of a
//! constant shape), which tract would try to allocate, and an allocation that fails aborts the
//! process. Graphs that declare a tensor over [`MAX_TENSOR_BYTES`] are refused.

use prost::Message;
use tract_onnx::pb as onnx;
use tract_tensorflow::tfpb::tensorflow as tf;

use super::{ModelError, ModelKind};

/// The largest tensor a model may declare: 1 GiB.
pub const MAX_TENSOR_BYTES: u64 = 1 << 30;

/// Fails when the ONNX model in `bytes` declares a tensor over [`MAX_TENSOR_BYTES`]: an
/// initializer, a tensor attribute, or the output of `ConstantOfShape` of a constant shape.
/// Bytes that do not decode pass (the loader says what is wrong with them).
pub fn check_onnx(bytes: &[u8]) -> Result<(), ModelError> {
    let Ok(model) = onnx::ModelProto::decode(bytes) else {
        return Ok(());
    };
    let Some(graph) = &model.graph else {
        return Ok(());
    };
    check_onnx_graph(graph, 0)
}

fn check_onnx_graph(graph: &onnx::GraphProto, depth: usize) -> Result<(), ModelError> {
    if depth > 16 {
        return Err(too_large(
            ModelKind::Onnx,
            "subgraphs nested deeper than 16".into(),
        ));
    }
    for tensor in &graph.initializer {
        check_onnx_tensor(tensor)?;
    }
    for node in &graph.node {
        for attribute in &node.attribute {
            if let Some(tensor) = &attribute.t {
                check_onnx_tensor(tensor)?;
            }
            if let Some(subgraph) = &attribute.g {
                check_onnx_graph(subgraph, depth + 1)?;
            }
        }
        if node.op_type == "ConstantOfShape" {
            let shape = node.input.first().and_then(|input| {
                graph
                    .initializer
                    .iter()
                    .find(|tensor| &tensor.name == input)
            });
            if let Some(shape) = shape {
                let volume = volume(shape.int64_data.iter().copied());
                check(
                    ModelKind::Onnx,
                    &node.name,
                    volume.and_then(|v| v.checked_mul(8)),
                )?;
            }
        }
    }
    Ok(())
}

fn check_onnx_tensor(tensor: &onnx::TensorProto) -> Result<(), ModelError> {
    let element = match tensor.data_type {
        2 | 3 | 9 => 1,       // uint8, int8, bool
        4 | 5 | 10 | 16 => 2, // uint16, int16, float16, bfloat16
        1 | 6 | 12 => 4,      // float, int32, uint32
        _ => 8,               // the rest, strings counted as pointers
    };
    let bytes = volume(tensor.dims.iter().copied()).and_then(|v| v.checked_mul(element));
    check(ModelKind::Onnx, &tensor.name, bytes)
}

/// Fails when the TensorFlow graph in `bytes` has a constant over [`MAX_TENSOR_BYTES`]. Bytes
/// that do not decode pass (the loader says what is wrong with them).
pub fn check_tensorflow(bytes: &[u8]) -> Result<(), ModelError> {
    let Ok(graph) = tf::GraphDef::decode(bytes) else {
        return Ok(());
    };
    for node in &graph.node {
        for value in node.attr.values() {
            if let Some(tf::attr_value::Value::Tensor(tensor)) = &value.value {
                let dims = tensor.tensor_shape.iter().flat_map(|shape| &shape.dim);
                let bytes = volume(dims.map(|dim| dim.size)).and_then(|v| v.checked_mul(8));
                check(ModelKind::TensorFlow, &node.name, bytes)?;
            }
        }
    }
    Ok(())
}

/// The number of elements of a shape; `None` when it overflows or a size is negative beyond
/// "unknown" (-1).
fn volume(dims: impl Iterator<Item = i64>) -> Option<u64> {
    dims.map(|size| u64::try_from(size.max(0)).ok())
        .try_fold(1u64, |volume, size| volume.checked_mul(size?))
}

fn check(kind: ModelKind, name: &str, bytes: Option<u64>) -> Result<(), ModelError> {
    match bytes {
        Some(bytes) if bytes <= MAX_TENSOR_BYTES => Ok(()),
        Some(bytes) => Err(too_large(
            kind,
            format!("`{name}` declares a tensor of {bytes} bytes, more than the limit of {MAX_TENSOR_BYTES}"),
        )),
        None => Err(too_large(
            kind,
            format!("`{name}` declares a tensor too large to count"),
        )),
    }
}

fn too_large(kind: ModelKind, reason: String) -> ModelError {
    ModelError::Invalid { kind, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_count_and_overflow() {
        assert_eq!(volume([2, 3, 4].into_iter()), Some(24));
        assert_eq!(volume([].into_iter()), Some(1));
        assert_eq!(volume([1 << 40, 1 << 40].into_iter()), None);
        assert!(check(ModelKind::Onnx, "t", Some(MAX_TENSOR_BYTES)).is_ok());
        let error = check(ModelKind::Onnx, "t", Some(MAX_TENSOR_BYTES + 1)).unwrap_err();
        assert!(
            error.to_string().contains("`t` declares a tensor of"),
            "{error}"
        );
    }
}
