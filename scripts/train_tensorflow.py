#!/usr/bin/env python3
"""Train a small Keras MLP on the wine data, freeze it to a TensorFlow GraphDef, and write the
TensorFlow test fixtures in data/tensorflow/.

Run from the repository root, in a virtual environment with scripts/requirements-tensorflow.txt:

    python3 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install -r scripts/requirements-tensorflow.txt
    /tmp/tfvenv/bin/python scripts/train_tensorflow.py [--seed-dir DIR]

It writes:
  * data/tensorflow/wine_mlp.pb: the frozen graph (convert_variables_to_constants_v2). Input
    `features` float32 [N, 11] (the wine features in file order), output `Identity` float32 [N, 9]:
    softmax probabilities of the quality grades 0..8, so that the arg-max index is the grade, as in
    the original model server's graph.
  * data/tensorflow/wine_mlp.reference.csv: TensorFlow running the frozen graph (not the Keras
    model), one row at a time as the server does, on all 1,599 rows of data/winequality-red.csv.
  * data/tensorflow/seed_reference.csv: TensorFlow running the original system's frozen graph
    (SEED_DIR/optimized_WineQuality.pb, input `dense_1_input`, output `dense_3/Sigmoid`) on all
    1,599 rows of SEED_DIR/winequality_red.csv. Skipped, with a note, when the seed is absent.
  * data/tensorflow/README.md.

Reference CSV columns: `row,class,out_0,...,out_8`, where `class` is numpy's arg-max of the
output vector (the first on ties) and the outputs are float32 printed with 9 significant digits
(enough to round-trip). Training is seeded and single-threaded with deterministic ops, so a rerun
with the same packages on the same machine gives the same weights.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "data", "winequality-red.csv")
OUT = os.path.join(REPO, "data", "tensorflow")
GRADES = 9  # outputs for quality grades 0..8; the data has grades 3..8
INPUT = "features"
SEED = 0
EPOCHS = 80
# Op types that tract-tensorflow 0.23.9 registers (from its src/ops/**); the server refuses others.
TRACT_OPS = {
    "Abs", "Add", "AddN", "AddV2", "AvgPool", "BatchToSpaceND", "BiasAdd", "BlockLSTM", "Cast", "Ceil",
    "ConcatV2", "Const", "Conv2D", "DepthwiseConv2dNative", "Div", "Enter", "Equal", "Exit", "ExpandDims",
    "FakeQuantWithMinMaxVars", "Fill", "FloorMod", "FusedBatchNorm", "GatherNd", "GatherV2", "Greater",
    "GreaterEqual", "Identity", "Less", "LessEqual", "Log", "LogicalAnd", "LogicalOr", "LoopCond", "MatMul",
    "Max", "MaxPool", "Maximum", "Mean", "Merge", "Min", "Minimum", "Mul", "Neg", "NoOp", "Pack", "Pad",
    "Placeholder", "Pow", "Prod", "RandomUniform", "RandomUniformInt", "Range", "RealDiv", "Relu", "Relu6",
    "Reshape", "Rsqrt", "Shape", "Sigmoid", "Slice", "Softmax", "SpaceToBatchND", "Squeeze", "StridedSlice",
    "Sub", "Sum", "Switch", "Tanh", "Tile", "Transpose",
}
SEED_GRAPH = "optimized_WineQuality.pb"
SEED_INPUT = "dense_1_input"
SEED_OUTPUT = "dense_3/Sigmoid"


def read_rows(path: str, separator: str, header: bool) -> tuple[np.ndarray, np.ndarray]:
    """Features (rounded to float32, as the server sends them) and integer quality grades."""
    with open(path, newline="") as f:
        rows = [row for row in csv.reader(f, delimiter=separator) if row]
    if header:
        rows = rows[1:]
    values = np.array(rows, dtype=np.float64)
    assert values.shape == (1599, 12), values.shape
    return values[:, :11].astype(np.float32), values[:, 11].astype(np.int64)


def train(x: np.ndarray, y: np.ndarray) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    # Standardize with Rescaling (Mul, AddV2): Keras's Normalization layer emits Sqrt, which
    # tract-tensorflow 0.23 does not implement.
    mean, std = x.mean(axis=0), x.std(axis=0)
    model = tf.keras.Sequential(
        [
            tf.keras.Input(shape=(11,), name=INPUT),
            tf.keras.layers.Rescaling(scale=1.0 / std, offset=-mean / std),
            tf.keras.layers.Dense(32, activation="relu"),
            tf.keras.layers.Dense(16, activation="relu"),
            tf.keras.layers.Dense(GRADES, activation="softmax"),
        ]
    )
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=EPOCHS, batch_size=64, shuffle=True, verbose=0)
    print(f"training: {EPOCHS} epochs, final loss {history.history['loss'][-1]:.4f}, "
          f"accuracy {history.history['accuracy'][-1]:.4f}")
    return model


def freeze(model: tf.keras.Model) -> tf.compat.v1.GraphDef:
    function = tf.function(lambda features: model(features, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec([None, 11], tf.float32, name=INPUT))
    return convert_variables_to_constants_v2(concrete).graph.as_graph_def()


def run_frozen(graph_def: tf.compat.v1.GraphDef, input_name: str, output_name: str,
               x: np.ndarray) -> np.ndarray:
    """TensorFlow running the frozen graph one row at a time; returns [rows, outputs] float32."""
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        rows = [session.run(f"{output_name}:0", {f"{input_name}:0": x[i:i + 1]}) for i in range(len(x))]
    return np.concatenate(rows).astype(np.float32)


def output_name(graph_def: tf.compat.v1.GraphDef) -> str:
    """The single node no other node reads (the rule the server applies)."""
    read = {name.lstrip("^").split(":")[0] for node in graph_def.node for name in node.input}
    terminals = [n.name for n in graph_def.node
                 if n.name not in read and n.op not in ("Placeholder", "Const", "NoOp")]
    assert len(terminals) == 1, terminals
    return terminals[0]


def write_reference(path: str, outputs: np.ndarray) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["row", "class"] + [f"out_{i}" for i in range(outputs.shape[1])])
        for row, values in enumerate(outputs):
            writer.writerow([row, int(np.argmax(values))] + ["%.9g" % v for v in values])


def top_two_margin(outputs: np.ndarray) -> float:
    """The smallest gap between the best and second-best output: how close a class is to a tie."""
    ordered = np.sort(outputs, axis=1)
    return float((ordered[:, -1] - ordered[:, -2]).min())


def make_wine_mlp(notes: list[str]) -> None:
    x, y = read_rows(DATA, ",", header=True)
    model = train(x, y)
    graph_def = freeze(model)
    ops = sorted({node.op for node in graph_def.node})
    if not set(ops) <= TRACT_OPS:
        sys.exit(f"ops tract-tensorflow 0.23 lacks: {sorted(set(ops) - TRACT_OPS)}")
    output = output_name(graph_def)
    with open(os.path.join(OUT, "wine_mlp.pb"), "wb") as f:
        f.write(graph_def.SerializeToString(deterministic=True))
    outputs = run_frozen(graph_def, INPUT, output, x)
    keras_outputs = model.predict(x, verbose=0)
    drift = float(np.abs(outputs - keras_outputs).max())
    write_reference(os.path.join(OUT, "wine_mlp.reference.csv"), outputs)
    accuracy = float((outputs.argmax(axis=1) == y).mean())
    print(f"wine_mlp.pb: ops {ops}, output `{output}`, {outputs.shape[1]} outputs; "
          f"max |frozen - keras| {drift:.2g}; accuracy {accuracy:.4f}; "
          f"smallest top-two margin {top_two_margin(outputs):.3g}")
    notes.append(f"- `wine_mlp.pb`: Keras `Sequential`: `Rescaling` to zero mean and unit variance (Keras's `Normalization` emits `Sqrt`, which tract-tensorflow 0.23 lacks), "
                 f"`Dense(32, relu)`, `Dense(16, relu)`, `Dense({GRADES}, softmax)`; Adam 1e-2, sparse "
                 f"categorical cross-entropy, {EPOCHS} epochs, batch 64, seed {SEED}, on all 1,599 rows. "
                 f"Frozen with `convert_variables_to_constants_v2`: input `{INPUT}` float32 [N, 11], output "
                 f"`{output}` float32 [N, {GRADES}] (softmax over grades 0..8, so the arg-max is the grade). "
                 f"Ops: {', '.join(ops)}. Training accuracy {accuracy:.4f}.")
    notes.append(f"- `wine_mlp.reference.csv`: TensorFlow running the frozen graph, one row at a time, on all "
                 f"1,599 rows of `data/winequality-red.csv` (max difference from Keras's own predict: "
                 f"{drift:.2g}; smallest gap between the two best outputs: {top_two_margin(outputs):.3g}).")


def make_seed_reference(seed_dir: str, notes: list[str]) -> None:
    graph_path = os.path.join(seed_dir, SEED_GRAPH)
    if not os.path.exists(graph_path):
        print(f"{graph_path} not found: seed_reference.csv not written", file=sys.stderr)
        return
    graph_def = tf.compat.v1.GraphDef()
    with open(graph_path, "rb") as f:
        graph_def.ParseFromString(f.read())
    assert output_name(graph_def) == SEED_OUTPUT
    x, _ = read_rows(os.path.join(seed_dir, "winequality_red.csv"), ";", header=False)
    outputs = run_frozen(graph_def, SEED_INPUT, SEED_OUTPUT, x)
    write_reference(os.path.join(OUT, "seed_reference.csv"), outputs)
    classes = np.bincount(outputs.argmax(axis=1), minlength=outputs.shape[1]).tolist()
    print(f"seed_reference.csv: {outputs.shape}, classes {classes}, "
          f"smallest top-two margin {top_two_margin(outputs):.3g}")
    notes.append(f"- `seed_reference.csv`: TensorFlow running the original system's `{SEED_GRAPH}` (input "
                 f"`{SEED_INPUT}` float32 [?, 11], output `{SEED_OUTPUT}` float32 [?, 9], read from the seed "
                 f"directory, not committed) one row at a time on all 1,599 rows of the seed's "
                 f"`winequality_red.csv`. Predicted classes (count per index 0..8): {classes}; smallest gap "
                 f"between the two best outputs: {top_two_margin(outputs):.3g}.")


def write_readme(notes: list[str]) -> None:
    files = sorted(name for name in os.listdir(OUT) if name != "README.md")
    lines = [
        "# TensorFlow test fixtures (wine quality)",
        "",
        "Generated by `scripts/train_tensorflow.py`; do not edit by hand. To regenerate, from the repository root:",
        "",
        "```sh",
        "python3 -m venv /tmp/tfvenv",
        "/tmp/tfvenv/bin/pip install -r scripts/requirements-tensorflow.txt   # Python 3.11",
        "scripts/fetch-original.sh   # the original system's files, into target/original/",
        "/tmp/tfvenv/bin/python scripts/train_tensorflow.py",
        "```",
        "",
        f"Versions used: Python {sys.version.split()[0]}, TensorFlow {tf.__version__}, "
        f"Keras {tf.keras.__version__}, numpy {np.__version__}.",
        "",
        *notes,
        "",
        "Reference CSV columns: `row,class,out_0,...,out_8`: the 0-based data row, numpy's arg-max of the "
        "outputs (the first on ties), and the float32 outputs with 9 significant digits.",
        "",
        "SavedModels are served natively (`TENSORFLOWSAVED`, by the location of their directory); their fixtures "
        "are in [`saved/`](saved/README.md), written by `scripts/make_saved_models.py`. "
        "`scripts/freeze_saved_model.py SAVED_MODEL_DIR model.pb` remains an alternative that freezes one with "
        "TensorFlow into a graph like these (on the seed's `saved_model/`: signature `predict`, Placeholder "
        "`dense_1_input`, output `dense_3/Sigmoid`).",
        "",
        "SHA-256:",
        "",
        "```",
    ]
    for name in files:
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
    make_wine_mlp(notes)
    make_seed_reference(args.seed_dir, notes)
    write_readme(notes)
    for name in sorted(os.listdir(OUT)):
        print(f"  {os.path.getsize(os.path.join(OUT, name)):>8}  data/tensorflow/{name}")


if __name__ == "__main__":
    main()
