#!/usr/bin/env python3
"""Writes hand-made ONNX-ML tree ensembles (TreeEnsembleRegressor, TreeEnsembleClassifier) that
exercise what the trained fixtures do not reach: every node mode (BRANCH_LEQ, LT, GTE, GT, EQ,
NEQ), NaN features with nodes_missing_value_tracks_true, the four aggregate functions, base
values, the five post transforms, several targets, string and integer class labels, every way
onnxruntime reads a two-class ensemble, leaves without weights and children shared by two
parents. Next to each model goes onnxruntime's output on the rows of inputs.csv.

Called by train_onnx.py; usable alone (pins in scripts/requirements.txt):
    python3 scripts/handmade_onnx_trees.py data/onnx/handmade

Deterministic: the trees come from random.Random with fixed seeds, and the thresholds and input
rows from data/winequality-red.csv, so the files are byte-identical from run to run.
"""

from __future__ import annotations

import csv
import hashlib
import os
import random
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data" / "winequality-red.csv"
FEATURES = 11
ROWS = 200  # data rows 0..199; rows 100..199 get NaN cells
BRANCHES = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]


def input_rows() -> np.ndarray:
    """Wine rows 0..199 as float32; in rows 100..199 about one cell in five is NaN."""
    with open(DATA, newline="") as f:
        rows = list(csv.reader(f))[1 : ROWS + 1]
    x = np.array([r[:FEATURES] for r in rows], dtype=np.float64).astype(np.float32)
    rng = random.Random(7)
    for i in range(100, ROWS):
        for j in range(FEATURES):
            if rng.random() < 0.2:
                x[i, j] = np.nan
    return x


class Trees:
    """Builds random trees whose thresholds are values of the input rows (so that EQ, LEQ and
    friends meet equal values), in pre-order with the root listed first."""

    def __init__(self, seed: int, x: np.ndarray):
        self.rng = random.Random(seed)
        self.x = x[:100]  # NaN-free rows
        self.nodes = []  # (tree, node, mode, feature, value, true, false, missing)
        self.weights = []  # (tree, node, column, weight)

    def add(self, count, depth, modes, missing, leaf):
        """`leaf(rng)` returns the (column, weight) pairs of a new leaf."""
        for tree in range(count):
            self._grow(tree, [0], depth, modes, missing, leaf)
        return self

    def _grow(self, tree, next_id, depth, modes, missing, leaf):
        node = next_id[0]
        next_id[0] += 1
        position = len(self.nodes)
        self.nodes.append(None)
        if depth == 0 or (depth < 3 and self.rng.random() < 0.25):
            value = round(self.rng.uniform(-1, 1), 3)  # used by onnxruntime for a 1-target leaf without weights
            self.nodes[position] = (tree, node, "LEAF", 0, value, 0, 0, 0)
            for column, weight in leaf(self.rng):
                self.weights.append((tree, node, column, weight))
            return node
        feature = self.rng.randrange(FEATURES)
        threshold = float(self.x[self.rng.randrange(len(self.x)), feature])
        mode = self.rng.choice(modes)
        tracks = int(missing and self.rng.random() < 0.5)
        true = self._grow(tree, next_id, depth - 1, modes, missing, leaf)
        false = self._grow(tree, next_id, depth - 1, modes, missing, leaf)
        self.nodes[position] = (tree, node, mode, feature, threshold, true, false, tracks)
        return node


def shared_child_trees(x: np.ndarray) -> Trees:
    """LightGBM-style set membership: `f == a or f == b` as two BRANCH_EQ nodes whose true
    branches go to the same leaf."""
    trees = Trees(5, x)
    for tree, feature in enumerate([0, 8, 10]):
        values = sorted(set(float(v) for v in x[:100, feature]))
        a, b = values[len(values) // 3], values[len(values) // 2]
        trees.nodes += [
            (tree, 0, "BRANCH_EQ", feature, a, 3, 1, 0),
            (tree, 1, "BRANCH_EQ", feature, b, 3, 2, 1),
            (tree, 2, "LEAF", 0, 0.0, 0, 0, 0),
            (tree, 3, "LEAF", 0, 0.0, 0, 0, 0),
        ]
        trees.weights += [(tree, 2, 0, -0.5 - tree), (tree, 3, 0, 1.0 + tree)]
    return trees


def node(op: str, trees: Trees, **attributes) -> onnx.NodeProto:
    prefix = "class" if op == "TreeEnsembleClassifier" else "target"
    columns = list(zip(*trees.nodes))
    weights = list(zip(*trees.weights)) if trees.weights else [[], [], [], []]
    outputs = ["label", "probabilities"] if op == "TreeEnsembleClassifier" else ["variable"]
    return helper.make_node(
        op, ["input"], outputs, domain="ai.onnx.ml",
        nodes_treeids=list(columns[0]), nodes_nodeids=list(columns[1]), nodes_modes=list(columns[2]),
        nodes_featureids=list(columns[3]), nodes_values=[float(v) for v in columns[4]],
        nodes_truenodeids=list(columns[5]), nodes_falsenodeids=list(columns[6]),
        nodes_missing_value_tracks_true=list(columns[7]),
        **{f"{prefix}_treeids": list(weights[0]), f"{prefix}_nodeids": list(weights[1]),
           f"{prefix}_ids": list(weights[2]), f"{prefix}_weights": [float(w) for w in weights[3]]},
        **attributes)


def model(op: str, trees: Trees, **attributes) -> onnx.ModelProto:
    columns = attributes.get("n_targets") or len(
        attributes.get("classlabels_int64s") or attributes.get("classlabels_strings"))
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, FEATURES])]
    if op == "TreeEnsembleClassifier":
        label_type = TensorProto.STRING if "classlabels_strings" in attributes else TensorProto.INT64
        outputs = [helper.make_tensor_value_info("label", label_type, [None]),
                   helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, columns])]
    else:
        outputs = [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, columns])]
    graph = helper.make_graph([node(op, trees, **attributes)], "handmade", inputs, outputs)
    onx = helper.make_model(graph, producer_name="handmade_onnx_trees.py",
                            opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    onnx.checker.check_model(onx)
    return onx


def one_weight(low=-1.0, high=1.0, column=0, empty=0.0):
    """A leaf with one weight (or, with probability `empty`, none)."""
    def leaf(rng):
        if rng.random() < empty:
            return []
        return [(column, round(rng.uniform(low, high), 4))]
    return leaf


def some_columns(columns, low=-1.0, high=1.0, at_most=None, at_least=0):
    """A leaf with weights for a random subset of the columns (possibly none). A classifier
    without base values needs at_least=1: onnxruntime's label is undefined when no class is
    reached."""
    def leaf(rng):
        chosen = rng.sample(range(columns), rng.randint(at_least, at_most or columns))
        return [(c, round(rng.uniform(low, high), 4)) for c in sorted(chosen)]
    return leaf


def models(x):
    """(name, what it covers, model)."""
    reg, cls = "TreeEnsembleRegressor", "TreeEnsembleClassifier"
    yield ("regressor_modes", "all six branch modes, NaN tracking, SUM, one base value, leaves without weights "
           "(onnxruntime then adds the leaf's nodes_values entry)",
           model(reg, Trees(1, x).add(6, 4, BRANCHES, True, one_weight(empty=0.2)), n_targets=1, base_values=[0.25]))
    yield ("regressor_average_probit", "AVERAGE, PROBIT, one target",
           model(reg, Trees(2, x).add(5, 4, ["BRANCH_LEQ"], True, one_weight(0.05, 0.95)), n_targets=1,
                 aggregate_function="AVERAGE", post_transform="PROBIT"))
    yield ("regressor_logistic_single", "LOGISTIC on one target (onnxruntime applies no transform but PROBIT to "
           "a single target)",
           model(reg, Trees(3, x).add(4, 3, ["BRANCH_GT"], False, one_weight()), n_targets=1,
                 post_transform="LOGISTIC"))
    yield ("regressor_min_targets", "MIN over three targets, base values, leaves reaching some targets only "
           "(a target no leaf reached is 0)",
           model(reg, Trees(4, x).add(5, 4, ["BRANCH_GTE", "BRANCH_LT"], True, some_columns(3)), n_targets=3,
                 aggregate_function="MIN", base_values=[0.1, 0.2, 0.3]))
    yield ("regressor_max_softmax", "MAX over three targets, SOFTMAX",
           model(reg, Trees(6, x).add(5, 4, ["BRANCH_LT"], True, some_columns(3)), n_targets=3,
                 aggregate_function="MAX", post_transform="SOFTMAX"))
    yield ("regressor_sum_logistic", "SUM over two targets, LOGISTIC, base values, BRANCH_EQ and BRANCH_NEQ",
           model(reg, Trees(8, x).add(5, 4, ["BRANCH_EQ", "BRANCH_NEQ", "BRANCH_LEQ"], True, some_columns(2)),
                 n_targets=2, base_values=[-0.5, 0.5], post_transform="LOGISTIC"))
    yield ("regressor_softmax_zero", "SOFTMAX_ZERO over four targets, some of them 0",
           model(reg, Trees(9, x).add(4, 3, ["BRANCH_LEQ"], False, some_columns(4, at_most=2)), n_targets=4,
                 post_transform="SOFTMAX_ZERO"))
    yield ("regressor_average_probit_targets", "AVERAGE and PROBIT over two targets",
           model(reg, Trees(10, x).add(4, 3, ["BRANCH_GT"], True, some_columns(2, 0.1, 0.9)), n_targets=2,
                 aggregate_function="AVERAGE", post_transform="PROBIT"))
    yield ("regressor_shared_child", "BRANCH_EQ chains whose true branches share a leaf (LightGBM's set "
           "membership)", model(reg, shared_child_trees(x), n_targets=1, base_values=[5.0]))
    yield ("classifier_strings_softmax", "four string labels, SOFTMAX, base values, all branch modes, NaN",
           model(cls, Trees(11, x).add(6, 4, BRANCHES, True, some_columns(4, at_most=2)),
                 classlabels_strings=["a", "b", "c", "d"], base_values=[0.1, -0.1, 0.2, 0.0],
                 post_transform="SOFTMAX"))
    yield ("classifier_softmax_zero", "integer labels, SOFTMAX_ZERO, no base values, classes no leaf reaches",
           model(cls, Trees(12, x).add(5, 4, ["BRANCH_LEQ"], True, some_columns(3, at_most=1, at_least=1)),
                 classlabels_int64s=[10, 20, 30], post_transform="SOFTMAX_ZERO"))
    yield ("classifier_logistic", "LOGISTIC per class, base values",
           model(cls, Trees(13, x).add(5, 4, ["BRANCH_LT"], True, some_columns(3)),
                 classlabels_int64s=[1, 2, 3], base_values=[0.0, 0.5, -0.5], post_transform="LOGISTIC"))
    yield ("classifier_none_unreached", "NONE, no base values: the label is the best class among those a leaf "
           "reached, even below 0",
           model(cls, Trees(14, x).add(3, 3, ["BRANCH_GTE"], True, some_columns(3, -1.0, 0.0, at_most=1, at_least=1)),
                 classlabels_int64s=[0, 1, 2]))
    yield ("classifier_probit", "PROBIT per class",
           model(cls, Trees(15, x).add(3, 3, ["BRANCH_LEQ"], False, some_columns(3, 0.0, 0.3, at_least=1)),
                 classlabels_int64s=[0, 1, 2], post_transform="PROBIT"))
    yield ("binary_probability", "two classes, weights for class 0 only, none negative: the score is class "
           "1's probability ([1 - s, s], class 1 above 0.5); string labels",
           model(cls, Trees(16, x).add(5, 4, BRANCHES, True, one_weight(0.0, 0.2)),
                 classlabels_strings=["no", "yes"]))
    yield ("binary_margin_logistic", "two classes, one class, signed weights, LOGISTIC, one base value "
           "(sklearn's binary gradient boosting)",
           model(cls, Trees(17, x).add(5, 4, ["BRANCH_LEQ", "BRANCH_GT"], True, one_weight()),
                 classlabels_int64s=[0, 1], base_values=[0.3], post_transform="LOGISTIC"))
    yield ("binary_margin_none", "two classes, one class, signed weights, NONE, no base value ([-s, s])",
           model(cls, Trees(18, x).add(4, 4, ["BRANCH_LT"], True, one_weight()), classlabels_int64s=[4, 9]))
    yield ("binary_class1_two_bases", "two classes, weights for class 1 only, two base values (onnxruntime "
           "then ignores the trees: class 1 is base_values[1])",
           model(cls, Trees(19, x).add(3, 3, ["BRANCH_LEQ"], False, one_weight(0.0, 0.3, column=1)),
                 classlabels_int64s=[0, 1], base_values=[0.1, 0.3]))
    yield ("binary_class0_two_bases", "two classes, weights for class 0 only, two base values, LOGISTIC "
           "(\"binary as multiclass\")",
           model(cls, Trees(20, x).add(4, 3, ["BRANCH_GTE"], True, one_weight()),
                 classlabels_int64s=[0, 1], base_values=[-0.2, 0.4], post_transform="LOGISTIC"))
    yield ("binary_both_classes", "two classes, weights for both, SOFTMAX. onnxruntime's label is the number 1 "
           "or 0 by the sign of class 1's score, not a declared label; the server labels with the class of the "
           "higher probability",
           model(cls, Trees(21, x).add(4, 3, ["BRANCH_LEQ"], True, some_columns(2)),
                 classlabels_int64s=[3, 7], post_transform="SOFTMAX"))
    yield ("binary_probit", "two classes, one class, PROBIT: only the first column is written (onnxruntime "
           "leaves the second unwritten; the reference has 0 there)",
           model(cls, Trees(22, x).add(3, 3, ["BRANCH_LEQ"], False, one_weight(0.0, 0.3)),
                 classlabels_int64s=[0, 1], post_transform="PROBIT"))


def fmt(value) -> str:
    return repr(float(value))


def write_reference(path: Path, onx: onnx.ModelProto, x: np.ndarray, name: str):
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"input": x})
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        if len(outputs) == 1:
            (values,) = outputs
            w.writerow(["row"] + [f"y_{j}" for j in range(values.shape[1])])
            for i, row in enumerate(values):
                w.writerow([i] + [fmt(v) for v in row])
            return
        labels, scores = outputs
        if name == "binary_probit":
            scores[:, 1] = 0.0  # unwritten by onnxruntime: whatever was in memory
        w.writerow(["row", "label"] + [f"p_{j}" for j in range(scores.shape[1])])
        for i, (label, row) in enumerate(zip(labels, scores)):
            w.writerow([i, label] + [fmt(v) for v in row])


def write_inputs(path: Path, x: np.ndarray):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([f"x{j}" for j in range(FEATURES)])
        for row in x:
            w.writerow([fmt(v) for v in row])


def main(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    x = input_rows()
    write_inputs(out / "inputs.csv", x)
    files = ["inputs.csv"]
    described = []
    for name, covers, onx in models(x):
        (out / f"{name}.onnx").write_bytes(onx.SerializeToString())
        write_reference(out / f"{name}.reference.csv", onx, x, name)
        files += [f"{name}.onnx", f"{name}.reference.csv"]
        described.append((name, onx.graph.node[0].op_type, covers))
    write_readme(out, described, files)
    total = sum(os.path.getsize(out / f) for f in files)
    print(f"{len(described)} hand-made tree ensembles in {out} ({total} bytes)")


def write_readme(out: Path, described, files):
    lines = [
        "# Hand-made ONNX-ML tree ensembles",
        "",
        "Generated by `scripts/handmade_onnx_trees.py` (run by `scripts/train_onnx.py`). Do not edit by hand.",
        "",
        f"Versions used: onnx {onnx.__version__}, onnxruntime {ort.__version__}, numpy {np.__version__}.",
        "",
        "Each model is a single `TreeEnsembleRegressor` or `TreeEnsembleClassifier` node (opsets `ai.onnx` 17, "
        "`ai.onnx.ml` 3) with input `input`, float32 `[N, 11]`, and output `variable` float32 `[N, targets]` "
        "or `label` (int64 or string) `[N]` and `probabilities` float32 `[N, classes]`. The trees are random, "
        "with thresholds taken from the input values so that equality comparisons are met.",
        "",
        "`inputs.csv` holds the rows: data rows 0..199 of `data/winequality-red.csv` in float32, with about one "
        "cell in five replaced by NaN (`nan`) in rows 100..199. `<model>.reference.csv` holds onnxruntime's "
        "outputs for them: `row,y_0,...` for regressors, `row,label,p_0,...` for classifiers, floats as Python "
        "`repr` of the float32 value.",
        "",
        "| model | operator | covers |",
        "|---|---|---|",
    ]
    lines += [f"| `{name}` | {op} | {covers} |" for name, op, covers in described]
    lines += ["", "SHA-256 of the generated files:", "", "```"]
    for fn in files:
        lines.append(f"{hashlib.sha256((out / fn).read_bytes()).hexdigest()}  {fn}")
    lines += ["```", ""]
    (out / "README.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "data" / "onnx" / "handmade")
