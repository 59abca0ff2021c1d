#!/usr/bin/env python3
"""Writes the ONNX fixtures of the server's own ONNX-ML operators beyond the tree ensembles of
opsets 1-3 (LinearClassifier with string labels, ZipMap, Scaler, TreeEnsemble of ONNX-ML 5) into
data/onnx/ml/, each with onnxruntime's outputs:

  * exports of scikit-learn models made by skl2onnx with its default options (ZipMap on, the
    StandardScaler as `Scaler`, string class labels kept), scored on wine rows 0..299;
  * the trained tree-ensemble regressors of data/onnx/ rewritten as ONNX-ML 5 `TreeEnsemble`
    nodes (no exporter writes that operator yet: `to_opset5` converts the attributes, and
    onnxruntime must give the same outputs for both forms);
  * hand-made models for what those do not reach (BRANCH_MEMBER sets, the aggregate functions
    and post transforms of TreeEnsemble, a tree that is a single leaf, two-class linear
    classifiers of one score, linear regressors of several targets or none of their intercepts, a Scaler of one offset and scale, ZipMap with integer keys),
    scored on the rows of data/onnx/handmade/inputs.csv (some cells NaN).

Run from the repository root (pins in scripts/requirements.txt):
    python3 scripts/onnx_ml_fixtures.py

Reference CSV columns: `row`, then for a classifier `label` (onnxruntime's, as text) and one
`p_<label>` per class in the model's label order, for a regressor `y_0`...`y_<n-1>`. Floats are
`repr(float(x))` of float32 outputs.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import csv
import hashlib
import random
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import skl2onnx
import sklearn
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from training_common import WINE_FEATURES as FEATURES

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data" / "winequality-red.csv"
OUT = REPO / "data" / "onnx" / "ml"
HANDMADE_INPUTS = REPO / "data" / "onnx" / "handmade" / "inputs.csv"
REFERENCE_ROWS = 300
SEED = 0
GRADE_NAMES = {3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}


def wine_rows() -> tuple[np.ndarray, np.ndarray]:
    with open(DATA, newline="") as f:
        rows = list(csv.reader(f))[1:]
    values = np.array(rows, dtype=np.float64)
    return values[:, :11].astype(np.float32), values[:, 11].astype(np.int64)


def handmade_rows() -> np.ndarray:
    with open(HANDMADE_INPUTS, newline="") as f:
        rows = list(csv.reader(f))[1:]
    return np.array(rows, dtype=np.float32)


def fmt(value) -> str:
    return repr(float(value))


def ops_of(model: onnx.ModelProto) -> list[str]:
    return sorted({(f"{n.domain}:" if n.domain not in ("", "ai.onnx") else "") + n.op_type
                   for n in model.graph.node})


def run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


def classifier_table(model: onnx.ModelProto, x: np.ndarray, labels: list) -> tuple[list[str], list[list[str]]]:
    """onnxruntime's label and probabilities, one row per input row (a ZipMap output read in
    label order)."""
    label, probabilities = run(model, x)[:2]
    if isinstance(probabilities, list):  # ZipMap: one dict per row
        probabilities = np.array([[row[key] for key in labels] for row in probabilities], dtype=np.float32)
    header = ["row", "label"] + [f"p_{key}" for key in labels]
    table = [[str(i), str(label[i])] + [fmt(p) for p in probabilities[i]] for i in range(len(x))]
    return header, table


def regressor_table(model: onnx.ModelProto, x: np.ndarray) -> tuple[list[str], list[list[str]]]:
    (y,) = run(model, x)
    header = ["row"] + [f"y_{j}" for j in range(y.shape[1])]
    return header, [[str(i)] + [fmt(v) for v in y[i]] for i in range(len(x))]


def save(name: str, model: onnx.ModelProto, header, table, notes: list[str], what: str) -> None:
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    (OUT / f"{name}.onnx").write_bytes(data)
    with open(OUT / f"{name}.reference.csv", "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(table)
    opsets = ", ".join(f"{i.domain or 'ai.onnx'} {i.version}" for i in model.opset_import)
    notes.append(f"| `{name}.onnx` | {what} | {', '.join(ops_of(model))} | {opsets} | {len(table)} | {len(data)} B |")
    print(f"{name}: {', '.join(ops_of(model))}; {len(table)} rows")


def labels_of(model: onnx.ModelProto) -> list:
    for node in model.graph.node:
        if node.op_type == "ZipMap":
            for attribute in node.attribute:
                if attribute.name == "classlabels_strings":
                    return [s.decode() for s in attribute.strings]
                if attribute.name == "classlabels_int64s":
                    return list(attribute.ints)
    raise ValueError("no ZipMap")


def export_default(name: str, estimator, x, y, notes, what: str) -> None:
    """Trains, exports with skl2onnx's defaults (no options), and checks onnxruntime's labels
    against scikit-learn's."""
    estimator.fit(x, y)
    model = convert_sklearn(estimator, name=name, initial_types=[("input", FloatTensorType([None, 11]))])
    model.metadata_props.add(key="feature_names", value=",".join(FEATURES))
    labels = labels_of(model)
    rows = x[:REFERENCE_ROWS]
    header, table = classifier_table(model, rows, labels)
    agree = sum(row[1] == str(expected) for row, expected in zip(table, estimator.predict(rows)))
    assert agree == len(rows), f"{name}: onnxruntime and scikit-learn agree on {agree} labels"
    save(name, model, header, table, notes, f"{what}; labels {labels}")


def to_opset5(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with its TreeEnsembleRegressor (ONNX-ML 1-3) rewritten as a TreeEnsemble
    (ONNX-ML 5): the same trees, nodes in the original order, each leaf a leaf entry."""
    (node,) = [n for n in model.graph.node if n.op_type == "TreeEnsembleRegressor"]
    a = {attr.name: helper.get_attribute_value(attr) for attr in node.attribute}
    modes = [m.decode() for m in a["nodes_modes"]]
    keys = list(zip(a["nodes_treeids"], a["nodes_nodeids"]))
    index = {key: i for i, key in enumerate(keys)}
    branches = [i for i, m in enumerate(modes) if m != "LEAF"]
    branch_index = {i: k for k, i in enumerate(branches)}
    leaves = {}
    for tree, nid, target, weight in zip(a["target_treeids"], a["target_nodeids"], a["target_ids"],
                                         a["target_weights"]):
        assert (tree, nid) not in leaves, "one weight per leaf"
        leaves[(tree, nid)] = (target, weight)
    leaf_keys = [key for key, m in zip(keys, modes) if m == "LEAF"]
    leaf_index = {key: k for k, key in enumerate(leaf_keys)}
    mode_codes = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3, "BRANCH_EQ": 4, "BRANCH_NEQ": 5}

    def child(tree, nid):
        key = (tree, nid)
        return (leaf_index[key], 1) if modes[index[key]] == "LEAF" else (branch_index[index[key]], 0)

    true_children = [child(keys[i][0], a["nodes_truenodeids"][i]) for i in branches]
    false_children = [child(keys[i][0], a["nodes_falsenodeids"][i]) for i in branches]
    roots = [branch_index[index[(t, 0)]] for t in sorted(set(a["nodes_treeids"]))]
    missing = a.get("nodes_missing_value_tracks_true")
    attributes = dict(
        n_targets=a["n_targets"],
        aggregate_function={"AVERAGE": 0, "SUM": 1, "MIN": 2, "MAX": 3}[a.get("aggregate_function", b"SUM").decode()],
        post_transform=0,
        tree_roots=roots,
        nodes_featureids=[a["nodes_featureids"][i] for i in branches],
        nodes_modes=numpy_helper.from_array(np.array([mode_codes[modes[i]] for i in branches], np.uint8)),
        nodes_splits=numpy_helper.from_array(np.array([a["nodes_values"][i] for i in branches], np.float32)),
        nodes_truenodeids=[c for c, _ in true_children],
        nodes_trueleafs=[leaf for _, leaf in true_children],
        nodes_falsenodeids=[c for c, _ in false_children],
        nodes_falseleafs=[leaf for _, leaf in false_children],
        leaf_targetids=[leaves[k][0] for k in leaf_keys],
        leaf_weights=numpy_helper.from_array(np.array([leaves[k][1] for k in leaf_keys], np.float32)),
    )
    if missing:
        attributes["nodes_missing_value_tracks_true"] = [missing[i] for i in branches]
    assert not a.get("base_values") or not any(a["base_values"]), "no base values in ONNX-ML 5"
    new = helper.make_node("TreeEnsemble", list(node.input), list(node.output), domain="ai.onnx.ml", **attributes)
    graph = helper.make_graph([new if n is node else n for n in model.graph.node], model.graph.name,
                              list(model.graph.input), list(model.graph.output), list(model.graph.initializer))
    imports = [helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)]
    converted = helper.make_model(graph, opset_imports=imports, producer_name="onnx_ml_fixtures.py")
    converted.ir_version = 10
    converted.metadata_props.add(key="feature_names", value=",".join(FEATURES))
    return converted


def convert_trained(notes: list[str], x: np.ndarray) -> None:
    rows = x[:REFERENCE_ROWS]
    # The other trained regressors have base values, which ONNX-ML 5 no longer has.
    for source in ["wine_forest_regressor", "wine_lgbm_regressor"]:
        original = onnx.load(str(REPO / "data" / "onnx" / f"{source}.onnx"))
        converted = to_opset5(original)
        (before,), (after,) = run(original, rows), run(converted, rows)
        assert np.array_equal(before, after), f"{source}: opset 5 differs by {np.abs(before - after).max()}"
        header, table = regressor_table(converted, rows)
        save(f"{source}_opset5", converted, header, table, notes,
             f"`../{source}.onnx` rewritten as a `TreeEnsemble` (ONNX-ML 5); onnxruntime gives the same outputs "
             "for both forms")


def graph_model(node, outputs, name: str) -> onnx.ModelProto:
    """A model of one ai.onnx.ml node taking `input` float32 [N, 11]."""
    graph = helper.make_graph([node], name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 11])],
                              outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)],
                              producer_name="onnx_ml_fixtures.py")
    model.ir_version = 10
    return model


def random_opset5(seed: int, x: np.ndarray, trees: int, targets: int, **attributes) -> onnx.NodeProto:
    """Random trees in ONNX-ML 5 form, every mode (BRANCH_MEMBER sets of values the rows hold)
    and NaN tracking, the first tree a single leaf."""
    rng = random.Random(seed)
    clean = x[~np.isnan(x).any(axis=1)]
    nodes = dict(featureids=[], modes=[], splits=[], true=[], false=[], true_leaf=[], false_leaf=[], missing=[])
    leaf_targets, leaf_weights, members, roots = [], [], [], []

    def leaf():
        leaf_targets.append(rng.randrange(targets))
        leaf_weights.append(round(rng.uniform(-2, 2), 3))
        return len(leaf_targets) - 1, 1

    def grow(depth):
        if depth == 0 or (depth < 4 and rng.random() < 0.3):
            return leaf()
        position = len(nodes["modes"])
        feature = rng.randrange(11)
        mode = rng.randrange(7)
        for key, value in [("featureids", feature), ("modes", mode), ("missing", int(rng.random() < 0.5)),
                           ("splits", float(clean[rng.randrange(len(clean)), feature]))]:
            nodes[key].append(value)
        for key in ("true", "false", "true_leaf", "false_leaf"):
            nodes[key].append(0)
        if mode == 6:
            column = clean[:, feature]
            members.extend(sorted({float(column[rng.randrange(len(column))]) for _ in range(rng.randint(1, 4))}))
            members.append(np.nan)
        nodes["true"][position], nodes["true_leaf"][position] = grow(depth - 1)
        nodes["false"][position], nodes["false_leaf"][position] = grow(depth - 1)
        return position, 0

    # Tree 0 is a single leaf: a root node whose children are that leaf, which is the leaf at the
    # root's own index (node 0, leaf 0).
    leaf()
    for key, value in [("featureids", 0), ("modes", 0), ("missing", 0), ("splits", 0.0), ("true", 0),
                       ("false", 0), ("true_leaf", 1), ("false_leaf", 1)]:
        nodes[key].append(value)
    roots.append(0)
    for _ in range(1, trees):
        root, is_leaf = grow(5)
        assert not is_leaf
        roots.append(root)
    return helper.make_node(
        "TreeEnsemble", ["input"], ["y"], domain="ai.onnx.ml", n_targets=targets, tree_roots=roots,
        nodes_featureids=nodes["featureids"],
        nodes_modes=numpy_helper.from_array(np.array(nodes["modes"], np.uint8)),
        nodes_splits=numpy_helper.from_array(np.array(nodes["splits"], np.float32)),
        nodes_truenodeids=nodes["true"], nodes_trueleafs=nodes["true_leaf"],
        nodes_falsenodeids=nodes["false"], nodes_falseleafs=nodes["false_leaf"],
        nodes_missing_value_tracks_true=nodes["missing"],
        membership_values=numpy_helper.from_array(np.array(members, np.float32)),
        leaf_targetids=leaf_targets, leaf_weights=numpy_helper.from_array(np.array(leaf_weights, np.float32)),
        **attributes)


def handmade_opset5(notes: list[str], x: np.ndarray) -> None:
    cases = [
        ("opset5_sum_none", 1, dict(trees=4, targets=1)),
        ("opset5_average_probit", 2, dict(trees=3, targets=1, aggregate_function=0, post_transform=4)),
        ("opset5_min_targets", 3, dict(trees=5, targets=3, aggregate_function=2)),
        # onnxruntime reads post_transform 1 as LOGISTIC and 2 as SOFTMAX (the specification has
        # them the other way round); the names say what onnxruntime computes.
        ("opset5_max_logistic", 4, dict(trees=4, targets=3, aggregate_function=3, post_transform=1)),
        ("opset5_sum_softmax_targets", 5, dict(trees=4, targets=2, post_transform=2)),
        ("opset5_softmax_zero", 6, dict(trees=3, targets=4, post_transform=3)),
    ]
    for name, seed, spec in cases:
        targets = spec["targets"]
        node = random_opset5(seed, x, **spec)
        model = graph_model(node, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, targets])], name)
        header, table = regressor_table(model, x)
        save(name, model, header, table, notes, f"hand-made `TreeEnsemble`: {spec}")


def linear(name, notes, x, labels, coefficients, intercepts, post_transform, strings):
    label_attribute = "classlabels_strings" if strings else "classlabels_ints"
    label_type = TensorProto.STRING if strings else TensorProto.INT64
    node = helper.make_node("LinearClassifier", ["input"], ["label", "probabilities"], domain="ai.onnx.ml",
                            coefficients=coefficients, intercepts=intercepts, post_transform=post_transform,
                            **{label_attribute: labels})
    columns = max(len(intercepts), 2)
    outputs = [helper.make_tensor_value_info("label", label_type, [None]),
               helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, columns])]
    model = graph_model(node, outputs, name)
    header, table = classifier_table(model, x, labels)
    save(name, model, header, table, notes, f"hand-made `LinearClassifier`, {post_transform}, labels {labels}")


def handmade_linear(notes: list[str], x: np.ndarray) -> None:
    rng = np.random.default_rng(11)
    scale = 1 / np.nan_to_num(x, nan=1).std(axis=0).clip(1e-3)

    def coefficients(targets):
        return (rng.normal(size=(targets, 11)) * scale).astype(np.float32).ravel().tolist()

    linear("linear_binary_strings", notes, x, ["bad", "good"], coefficients(1), [0.1], "NONE", True)
    linear("linear_binary_logistic", notes, x, [0, 1], coefficients(1), [0.5], "LOGISTIC", False)
    linear("linear_logistic_strings", notes, x, ["a", "b", "c"], coefficients(3), [0.0, 0.5, -0.5], "LOGISTIC", True)
    linear("linear_softmax_zero", notes, x, [10, 20, 30, 40], coefficients(4), [0.0, 0.0, 1.0, -1.0],
           "SOFTMAX_ZERO", False)


def linear_regressor(name, notes, x, coefficients, intercepts, targets, post_transform):
    attributes = {"coefficients": coefficients, "targets": targets, "post_transform": post_transform}
    if intercepts is not None:
        attributes["intercepts"] = intercepts
    node = helper.make_node("LinearRegressor", ["input"], ["variable"], domain="ai.onnx.ml", **attributes)
    outputs = [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, targets])]
    model = graph_model(node, outputs, name)
    header, table = regressor_table(model, x)
    what = f"hand-made `LinearRegressor`, {targets} targets, {post_transform}"
    save(name, model, header, table, notes, what + ("" if intercepts is not None else ", no intercepts"))


def handmade_linear_regressor(notes: list[str], x: np.ndarray) -> None:
    rng = np.random.default_rng(17)
    scale = 1 / np.nan_to_num(x, nan=1).std(axis=0).clip(1e-3)

    def coefficients(targets):
        return (rng.normal(size=(targets, 11)) * scale).astype(np.float32).ravel().tolist()

    linear_regressor("linear_regressor_targets", notes, x, coefficients(3), [0.5, -1.0, 2.0], 3, "NONE")
    linear_regressor("linear_regressor_no_intercepts", notes, x, coefficients(1), None, 1, "NONE")
    linear_regressor("linear_regressor_wide", notes, x, coefficients(9), [0.1 * i for i in range(9)], 9, "NONE")
    linear_regressor("linear_regressor_logistic", notes, x, coefficients(2), [0.0, 0.3], 2, "LOGISTIC")
    linear_regressor("linear_regressor_logistic_one", notes, x, coefficients(1), [0.2], 1, "LOGISTIC")
    linear_regressor("linear_regressor_softmax", notes, x, coefficients(3), [0.0, 0.3, -0.3], 3, "SOFTMAX")
    linear_regressor("linear_regressor_softmax_one", notes, x, coefficients(1), [0.2], 1, "SOFTMAX")
    linear_regressor("linear_regressor_softmax_zero", notes, x, coefficients(3), [0.0, 0.0, 1.0], 3, "SOFTMAX_ZERO")
    probit = [c * 0.01 for c in coefficients(2)]
    linear_regressor("linear_regressor_probit", notes, x, probit, [0.5, 0.4], 2, "PROBIT")
    linear_regressor("linear_regressor_probit_one", notes, x, probit[:11], [0.5], 1, "PROBIT")


def handmade_scaler_zipmap(notes: list[str], x: np.ndarray) -> None:
    scaler = helper.make_node("Scaler", ["input"], ["scaled"], domain="ai.onnx.ml", offset=[5.0], scale=[0.25])
    linear_node = helper.make_node("LinearClassifier", ["scaled"], ["label", "scores"], domain="ai.onnx.ml",
                                   coefficients=np.random.default_rng(3).normal(size=33).astype(np.float32).tolist(),
                                   intercepts=[0.0, 0.1, 0.2], post_transform="SOFTMAX", classlabels_ints=[3, 5, 7])
    zipmap = helper.make_node("ZipMap", ["scores"], ["probabilities"], domain="ai.onnx.ml", classlabels_int64s=[3, 5, 7])
    graph = helper.make_graph(
        [scaler, linear_node, zipmap], "scaler_zipmap",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 11])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
         helper.make_value_info("probabilities", helper.make_sequence_type_proto(
             helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, []))))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 1)],
                              producer_name="onnx_ml_fixtures.py")
    model.ir_version = 10
    header, table = classifier_table(model, x, [3, 5, 7])
    save("scaler_one_value_zipmap_ints", model, header, table, notes,
         "hand-made `Scaler` of one offset and one scale, `LinearClassifier` (SOFTMAX), `ZipMap` with integer keys")


def write_readme(notes: list[str]) -> None:
    files = sorted(p.name for p in OUT.iterdir() if p.name != "README.md")
    lines = [
        "# ONNX-ML operator fixtures",
        "",
        "Generated by `scripts/onnx_ml_fixtures.py`; do not edit by hand. To regenerate, from the repository root:",
        "",
        "```sh",
        "pip install -r scripts/requirements.txt   # Python 3.11",
        "python3 scripts/onnx_ml_fixtures.py",
        "```",
        "",
        f"Versions used: Python {sys.version.split()[0]}, numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
        f"skl2onnx {skl2onnx.__version__}, onnx {onnx.__version__}, onnxruntime {ort.__version__}.",
        "",
        "The `wine_*` models are trained on all 1,599 rows of `data/winequality-red.csv` (features rounded to "
        "float32) and exported by skl2onnx with its default options and target opset: `ZipMap` on the "
        "probabilities, `StandardScaler` as `Scaler`, string labels as the classifier's `classlabels_strings`. "
        "Their references are onnxruntime's outputs on rows 0..299. The `*_opset5` models are the trained "
        "regressors of `data/onnx/` rewritten as ONNX-ML 5 `TreeEnsemble` nodes; the others are hand-made and "
        "scored on the 200 rows of `../handmade/inputs.csv` (rows 100..199 have NaN cells).",
        "",
        "Reference CSV columns: `row`, then for a classifier `label` (onnxruntime's) and `p_<label>` per class in "
        "the model's label order (a ZipMap's maps read in that order), for a regressor `y_0`...; floats are "
        "`repr(float(x))` of the float32 outputs.",
        "",
        "| file | model | ops | opset_import | reference rows | size |",
        "|---|---|---|---|---|---|",
        *notes,
        "",
        "SHA-256:",
        "",
        "```",
        *[f"{hashlib.sha256((OUT / name).read_bytes()).hexdigest()}  {name}" for name in files],
        "```",
        "",
    ]
    (OUT / "README.md").write_text("\n".join(lines))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    x, y = wine_rows()
    names = np.array([GRADE_NAMES[int(grade)] for grade in y])
    good = np.where(y >= 6, "good", "bad")
    notes: list[str] = []
    export_default("wine_logistic_strings", Pipeline([("scaler", StandardScaler()),
                                                      ("logreg", LogisticRegression(max_iter=5000))]),
                   x, names, notes, "StandardScaler -> LogisticRegression(max_iter=5000), grades named in words")
    export_default("wine_logistic_binary_strings", Pipeline([("scaler", StandardScaler()),
                                                             ("logreg", LogisticRegression(max_iter=5000))]),
                   x, good, notes, "StandardScaler -> LogisticRegression(max_iter=5000), `good` when quality >= 6")
    export_default("wine_forest_zipmap", RandomForestClassifier(n_estimators=10, max_depth=6, random_state=SEED,
                                                                n_jobs=1),
                   x, y, notes, "RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0), integer grades")
    export_default("wine_tree_strings", DecisionTreeClassifier(max_depth=5, random_state=SEED), x, good, notes,
                   "DecisionTreeClassifier(max_depth=5, random_state=0), `good` when quality >= 6")
    convert_trained(notes, x)
    rows = handmade_rows()
    handmade_opset5(notes, rows)
    handmade_linear(notes, rows)
    handmade_linear_regressor(notes, rows)
    handmade_scaler_zipmap(notes, rows)
    write_readme(notes)


if __name__ == "__main__":
    with threadpool_limits(limits=1):
        main()
