#!/usr/bin/env python3
"""Write the SavedModel test fixtures in data/tensorflow/saved/: our wine MLP (the weights of the
committed data/tensorflow/wine_mlp.pb, so that no retraining is involved) saved as a TensorFlow 2
and as a TensorFlow 1 SavedModel, with TensorFlow's own outputs for each, and TensorFlow's outputs
for the original system's SavedModel.

Run from the repository root, in the virtual environment of scripts/requirements-tensorflow.txt:

    /tmp/tfvenv/bin/python scripts/make_saved_models.py [--seed-dir DIR]

It writes:
  * wine_mlp_v2/: a Keras Sequential (Rescaling, Dense 32 relu, Dense 16 relu, Dense 9 softmax)
    holding wine_mlp.pb's weights, saved by tf.saved_model.save with a `serving_default`
    signature (input `features` float32 [-1, 11]): TensorFlow 2 functions called by
    `StatefulPartitionedCall`, resource variables captured by the calls.
  * wine_mlp_v1/: the same weights in a TensorFlow 1 graph saved by
    tf.compat.v1.saved_model.Builder with the signature `predict` (as the original's): kernels as
    `VariableV2` read through `Identity`, biases as resource variables (`VarHandleOp`,
    `ReadVariableOp`), the saver's `RestoreV2` graph.
  * wine_mlp_v2.reference.csv, wine_mlp_v1.reference.csv: TensorFlow running each SavedModel's
    signature (tf.saved_model.load; TensorFlow 1's loader in a Session), one row at a time, on all
    1,599 rows of data/winequality-red.csv.
  * seed_saved_model.reference.csv: TensorFlow 1's loader running the signature `predict` of
    SEED_DIR/saved_model on the 1,599 rows of SEED_DIR/winequality_red.csv (skipped, with a note,
    when the seed is absent; the seed is read from MODELSERVER_ORIGINAL_DIR by default).
  * README.md.

Reference CSV columns, as in data/tensorflow/: `row,class,out_0,...,out_8`, numpy's arg-max (the
first on ties) and the float32 outputs with 9 significant digits.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import tensor_util

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "data", "winequality-red.csv")
FROZEN = os.path.join(REPO, "data", "tensorflow", "wine_mlp.pb")
FROZEN_REFERENCE = os.path.join(REPO, "data", "tensorflow", "wine_mlp.reference.csv")
OUT = os.path.join(REPO, "data", "tensorflow", "saved")
INPUT = "features"


def read_rows(path: str, separator: str, header: bool) -> np.ndarray:
    """The 11 features of each row, rounded to float32 as the server sends them."""
    with open(path, newline="") as f:
        rows = [row for row in csv.reader(f, delimiter=separator) if row]
    values = np.array(rows[1:] if header else rows, dtype=np.float64)
    assert values.shape == (1599, 12), values.shape
    return values[:, :11].astype(np.float32)


def frozen_weights() -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """The rescaling and the dense layers' weights of wine_mlp.pb, in graph order."""
    graph_def = tf.compat.v1.GraphDef()
    with open(FROZEN, "rb") as f:
        graph_def.ParseFromString(f.read())
    nodes = {node.name: node for node in graph_def.node}

    def source(name: str):
        node = nodes[name.split(":")[0]]
        return source(node.input[0]) if node.op == "Identity" else node

    def const_input(node) -> np.ndarray:
        (constant,) = [source(i) for i in node.input if source(i).op == "Const"]
        return tensor_util.MakeNdarray(constant.attr["value"].tensor)

    ops = [node for node in graph_def.node]
    scale = const_input(next(n for n in ops if n.op == "Mul"))
    offset = const_input(next(n for n in ops if n.op == "AddV2"))
    kernels = [const_input(n) for n in ops if n.op == "MatMul"]
    biases = [const_input(n) for n in ops if n.op == "BiasAdd"]
    return scale, offset, list(zip(kernels, biases))


def keras_model(scale, offset, dense) -> tf.keras.Model:
    model = tf.keras.Sequential(
        [tf.keras.Input(shape=(11,), name=INPUT), tf.keras.layers.Rescaling(scale=scale, offset=offset)]
        + [tf.keras.layers.Dense(k.shape[1], activation="relu" if i < len(dense) - 1 else "softmax")
           for i, (k, _) in enumerate(dense)]
    )
    for layer, (kernel, bias) in zip(model.layers[1:], dense):
        layer.set_weights([kernel, bias])
    return model


def save_tf2(model: tf.keras.Model, path: str) -> None:
    serve = tf.function(lambda features: model(features, training=False),
                        input_signature=[tf.TensorSpec([None, 11], tf.float32, name=INPUT)])
    shutil.rmtree(path, ignore_errors=True)
    tf.saved_model.save(model, path, signatures=serve.get_concrete_function())
    # An empty assets/ directory is not kept by git; the fingerprint is not read by servers.
    for extra in ("assets", "fingerprint.pb"):
        extra = os.path.join(path, extra)
        shutil.rmtree(extra) if os.path.isdir(extra) else os.remove(extra)


def save_tf1(scale, offset, dense, path: str) -> None:
    graph = tf.Graph()
    with graph.as_default():
        features = tf.compat.v1.placeholder(tf.float32, [None, 11], name=INPUT)
        layer = features * scale + offset
        for index, (kernel_value, bias_value) in enumerate(dense):
            kernel = tf.compat.v1.Variable(kernel_value, name=f"dense_{index}/kernel", use_resource=False)
            bias = tf.compat.v1.Variable(bias_value, name=f"dense_{index}/bias", use_resource=True)
            layer = tf.nn.bias_add(tf.matmul(layer, kernel), bias)
            layer = tf.nn.relu(layer) if index < len(dense) - 1 else tf.nn.softmax(layer, name="probabilities")
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            shutil.rmtree(path, ignore_errors=True)
            builder = tf.compat.v1.saved_model.Builder(path)
            signature = tf.compat.v1.saved_model.predict_signature_def({"inputs": features}, {"outputs": layer})
            builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={"predict": signature})
            builder.save()


def run_tf2(path: str, x: np.ndarray) -> np.ndarray:
    """TensorFlow running the `serving_default` signature one row at a time."""
    signature = tf.saved_model.load(path).signatures["serving_default"]
    rows = [next(iter(signature(**{INPUT: tf.constant(x[i:i + 1])}).values())).numpy() for i in range(len(x))]
    return np.concatenate(rows).astype(np.float32)


def run_tf1(path: str, x: np.ndarray, signature_name: str = "predict") -> np.ndarray:
    """TensorFlow 1's SavedModel loader running a signature one row at a time."""
    with tf.compat.v1.Session(graph=tf.Graph()) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
        signature = meta_graph.signature_def[signature_name]
        (source,), (target,) = signature.inputs.values(), signature.outputs.values()
        rows = [session.run(target.name, {source.name: x[i:i + 1]}) for i in range(len(x))]
    return np.concatenate(rows).astype(np.float32)


def write_reference(path: str, outputs: np.ndarray) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["row", "class"] + [f"out_{i}" for i in range(outputs.shape[1])])
        for row, values in enumerate(outputs):
            writer.writerow([row, int(np.argmax(values))] + ["%.9g" % v for v in values])


def top_two_margin(outputs: np.ndarray) -> float:
    ordered = np.sort(outputs, axis=1)
    return float((ordered[:, -1] - ordered[:, -2]).min())


def saved_ops(path: str) -> list[str]:
    """The ops of a SavedModel's graph and of its functions."""
    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    graph_def = saved.meta_graphs[0].graph_def
    return sorted({n.op for n in graph_def.node} | {n.op for f in graph_def.library.function for n in f.node_def})


def files_under(path: str) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs)


def frozen_reference() -> np.ndarray:
    with open(FROZEN_REFERENCE, newline="") as f:
        return np.array([row[2:] for row in list(csv.reader(f))[1:]], dtype=np.float32)


def make_wine_mlps(notes: list[str]) -> None:
    x = read_rows(DATA, ",", header=True)
    scale, offset, dense = frozen_weights()
    frozen = frozen_reference()
    model = keras_model(scale, offset, dense)
    keras_drift = float(np.abs(model.predict(x, verbose=0) - frozen).max())
    print(f"Keras model from wine_mlp.pb: max |predict - wine_mlp.reference.csv| {keras_drift:.2g}")
    assert keras_drift < 1e-5, keras_drift
    for name, save, run, how in [
        ("wine_mlp_v2", lambda path: save_tf2(model, path), run_tf2,
         "`tf.saved_model.save` of the Keras model with a `serving_default` signature (input `features` "
         "float32 [-1, 11], output `output_0` float32 [-1, 9]): TensorFlow 2 functions called by "
         "`StatefulPartitionedCall`, resource variables captured by the calls"),
        ("wine_mlp_v1", lambda path: save_tf1(scale, offset, dense, path), run_tf1,
         "the same weights in a TensorFlow 1 graph saved by `tf.compat.v1.saved_model.Builder` with the "
         "signature `predict` (input `inputs` = `features:0`, output `outputs` = `probabilities:0`): kernels "
         "as `VariableV2` read through `Identity`, biases as resource variables (`VarHandleOp`, "
         "`ReadVariableOp`), the saver's `RestoreV2` graph"),
    ]:
        path = os.path.join(OUT, name)
        save(path)
        outputs = run(path, x)
        write_reference(os.path.join(OUT, f"{name}.reference.csv"), outputs)
        drift = float(np.abs(outputs - frozen).max())
        files = files_under(path)
        size = sum(os.path.getsize(os.path.join(path, f)) for f in files)
        print(f"{name}/: {size} bytes, ops {saved_ops(path)}, max |outputs - wine_mlp.reference.csv| {drift:.2g}")
        notes.append(f"- `{name}/` ({', '.join(f'`{f}`' for f in files)}; {size} bytes): {how}. Ops of the graph "
                     f"and its functions: {', '.join(saved_ops(path))}. `{name}.reference.csv`: TensorFlow running "
                     f"the signature one row at a time on all 1,599 rows of `data/winequality-red.csv` (max "
                     f"difference from `../wine_mlp.reference.csv`: {drift:.2g}; smallest gap between the two "
                     f"best outputs: {top_two_margin(outputs):.3g}).")


def make_seed_reference(seed_dir: str, notes: list[str]) -> None:
    path = os.path.join(seed_dir, "saved_model")
    if not os.path.isdir(path):
        print(f"{path} not found: seed_saved_model.reference.csv not written", file=sys.stderr)
        return
    x = read_rows(os.path.join(seed_dir, "winequality_red.csv"), ";", header=False)
    outputs = run_tf1(path, x)
    write_reference(os.path.join(OUT, "seed_saved_model.reference.csv"), outputs)
    classes = np.bincount(outputs.argmax(axis=1), minlength=outputs.shape[1]).tolist()
    print(f"seed_saved_model.reference.csv: classes {classes}, margin {top_two_margin(outputs):.3g}")
    notes.append(f"- `seed_saved_model.reference.csv`: TensorFlow 1's SavedModel loader running the signature "
                 f"`predict` of the original system's `saved_model/` (tag `serve`, input `dense_1_input:0` "
                 f"float32 [-1, 11], output `dense_3/Sigmoid:0`, `VariableV2` variables restored by its saver; "
                 f"read from the original-files directory, not committed) one row at a time on all 1,599 rows "
                 f"of its `winequality_red.csv`. Predicted classes (count per index 0..8): {classes}; smallest "
                 f"gap between the two best outputs: {top_two_margin(outputs):.3g}.")


def write_readme(notes: list[str]) -> None:
    lines = [
        "# TensorFlow SavedModel test fixtures (wine quality)",
        "",
        "Generated by `scripts/make_saved_models.py`; do not edit by hand. To regenerate, from the repository root:",
        "",
        "```sh",
        "python3 -m venv /tmp/tfvenv",
        "/tmp/tfvenv/bin/pip install -r scripts/requirements-tensorflow.txt   # Python 3.11",
        "scripts/fetch-original.sh   # the original system's files, into target/original/",
        "/tmp/tfvenv/bin/python scripts/make_saved_models.py",
        "```",
        "",
        f"Versions used: Python {sys.version.split()[0]}, TensorFlow {tf.__version__}, "
        f"Keras {tf.keras.__version__}, numpy {np.__version__}.",
        "",
        "Both SavedModels hold the weights of `../wine_mlp.pb` (read from its constants, not retrained), so "
        "their outputs equal the frozen graph's up to float32 rounding. The server freezes them itself "
        "(`src/model/tensorflow/saved_model.rs`); `tests/saved_model.rs` checks its predictions against "
        "these references.",
        "",
        *notes,
        "",
        "SHA-256:",
        "",
        "```",
    ]
    for name in files_under(OUT):
        if name != "README.md":
            with open(os.path.join(OUT, name), "rb") as f:
                lines.append(f"{hashlib.sha256(f.read()).hexdigest()}  {name}")
    lines += ["```", ""]
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seed-dir",
        default=os.environ.get("MODELSERVER_ORIGINAL_DIR", os.path.join(REPO, "target", "original")),
    )
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    os.makedirs(OUT, exist_ok=True)
    notes: list[str] = []
    make_wine_mlps(notes)
    make_seed_reference(args.seed_dir, notes)
    write_readme(notes)


if __name__ == "__main__":
    main()
