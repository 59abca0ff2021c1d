#!/usr/bin/env python3
"""Train the wine-quality models and export the ONNX test fixtures in data/onnx/.

Run from the repository root:

    python3 scripts/train_onnx.py

Package versions are pinned in scripts/requirements.txt. The output is
deterministic: every estimator has a fixed random_state and the script uses no
other randomness. Running it twice writes byte-identical files.

Besides scikit-learn's models, it exports XGBoost's and LightGBM's regressors
(converted by onnxmltools through skl2onnx's converter registry), and a
classifier with skl2onnx's default ZipMap output, which this server cannot load
(the fixture for the "operator not implemented" error). It then runs
scripts/handmade_onnx_trees.py, which writes hand-made tree ensembles that cover
the ONNX-ML tree semantics the trained models do not reach.

Training data: ALL 1,599 rows of data/winequality-red.csv (no train/test split).
These are serving fixtures, not a model-quality benchmark. The reference rows
0..299 are therefore part of the training set.

The features are rounded to float32 *before* training. The models therefore see
the same values that the server sends (the ONNX input is float32). This keeps the
float32 ONNX input and sklearn's float64 predict() from disagreeing at tree
thresholds.

For every model the script:
  * exports it with skl2onnx (input "input", float32 [None, 11], opsets
    {'': 17, 'ai.onnx.ml': 3}; classifiers with zipmap=False, so the outputs are
    "label" int64 [N] and "probabilities" float32 [N, n_classes]; regressors
    output "variable" float32 [N, 1]; StandardScaler with div='div', so the graph
    uses Sub/Div and not the Scaler op);
  * prints the ONNX ops it uses and checks them against the ops that tract-onnx
    0.23 registers;
  * computes reference predictions with onnxruntime on data rows 0..299 and
    writes data/onnx/<model>.reference.csv;
  * keeps every file well under 1 MB (few, shallow trees);
  * checks onnxruntime against sklearn's own predict()/predict_proba().
It then writes data/onnx/README.md.
"""

from __future__ import annotations

import os

# Multi-threaded BLAS/OpenMP reductions can change the order of floating-point
# sums between runs. This is a precaution, and single-threaded math is fast enough
# here. Set it before numpy is imported. The __main__ block also uses
# threadpool_limits(1).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import csv
import hashlib
import subprocess
import sys
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import sklearn
import skl2onnx
import lightgbm
import onnxmltools
import xgboost
from lightgbm import LGBMRegressor
from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
from skl2onnx import convert_sklearn, update_registered_converter
from skl2onnx.common.data_types import FloatTensorType
from skl2onnx.common.shape_calculator import calculate_linear_regressor_output_shapes
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits  # installed with scikit-learn
from xgboost import XGBRegressor

from training_common import ONNX_OPS as TRACT_OPS, WINE_FEATURES as FEATURES

# onnxmltools converts XGBoost and LightGBM models; registering its converters with
# skl2onnx lets convert_sklearn export them with the same interface as the others.
update_registered_converter(XGBRegressor, "XGBoostXGBRegressor",
                            calculate_linear_regressor_output_shapes, convert_xgboost)
update_registered_converter(LGBMRegressor, "LightGbmLGBMRegressor",
                            calculate_linear_regressor_output_shapes, convert_lightgbm,
                            options={"split": None})

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "data", "winequality-red.csv")
OUT = os.path.join(REPO, "data", "onnx")

TARGET = "quality"
N_REFERENCE_ROWS = 300  # reference predictions cover data rows 0..299
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
INPUT_NAME = "input"
SEED = 0

WINE_CLASSES = [3, 4, 5, 6, 7, 8]


def load_data():
    with open(DATA, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header != FEATURES + [TARGET]:
            sys.exit(f"unexpected header in {DATA}: {header}")
        rows = [r for r in reader if r]
    raw = np.array(rows, dtype=np.float64)
    # Round to float32 once. Training, sklearn's predict() and the ONNX input all
    # use exactly the same values.
    x32 = raw[:, :11].astype(np.float32)
    y = raw[:, 11].astype(np.int64)
    if not np.array_equal(raw[:, 11], y):
        sys.exit("quality column is not integral")
    return x32, y


def onnx_ops(model: onnx.ModelProto) -> list[str]:
    ops = set()

    def walk(graph):
        for node in graph.node:
            ops.add(node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}:{node.op_type}")
            for attr in node.attribute:
                if attr.g is not None and attr.g.node:
                    walk(attr.g)
                for g in attr.graphs:
                    walk(g)

    walk(model.graph)
    return sorted(ops)


def bare(op: str) -> str:
    return op.split(":")[-1]


def export(name, estimator, options, classes, expect_unsupported=()):
    """Convert with skl2onnx, check the interface and the ops, and save it.

    With expect_unsupported, the model is a load-error fixture: it must use exactly
    those ops that the server lacks, and its outputs are not checked."""
    onx = convert_sklearn(
        estimator,
        name=name,
        initial_types=[(INPUT_NAME, FloatTensorType([None, len(FEATURES)]))],
        target_opset=TARGET_OPSET,
        options=options,
    )
    # skl2onnx sometimes lists the same domain twice in opset_import (e.g. two
    # '' entries for a model that only uses ai.onnx.ml). Its order also depends on
    # Python's per-process string hash seed. Keep one entry per domain, sorted,
    # so the file is byte-for-byte reproducible.
    dedup = {}
    for imp in onx.opset_import:
        dedup[imp.domain] = max(imp.version, dedup.get(imp.domain, 0))
    del onx.opset_import[:]
    for domain, version in sorted(dedup.items()):
        onx.opset_import.add(domain=domain, version=version)
    onnx.checker.check_model(onx)

    # Interface checks: one float32 [N, 11] input called "input".
    assert len(onx.graph.input) == 1, onx.graph.input
    inp = onx.graph.input[0]
    assert inp.name == INPUT_NAME
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = inp.type.tensor_type.shape.dim
    assert len(dims) == 2 and not dims[0].HasField("dim_value") and dims[1].dim_value == 11, dims
    outs = {o.name: o.type.tensor_type.elem_type for o in onx.graph.output}
    if expect_unsupported:
        pass
    elif classes is not None:
        assert outs == {"label": onnx.TensorProto.INT64, "probabilities": onnx.TensorProto.FLOAT}, outs
        assert [o.name for o in onx.graph.output] == ["label", "probabilities"]
    else:
        assert outs == {"variable": onnx.TensorProto.FLOAT}, outs

    ops = onnx_ops(onx)
    unsupported = sorted(o for o in ops if bare(o) not in TRACT_OPS)
    forbidden = sorted(o for o in ops if bare(o) in ("ZipMap", "Scaler"))
    if forbidden and not expect_unsupported:
        sys.exit(f"{name}: forbidden ops {forbidden}")
    if sorted(unsupported) != sorted(expect_unsupported):
        sys.exit(f"{name}: ops not supported by tract 0.23: {unsupported} (expected {list(expect_unsupported)})")

    path = os.path.join(OUT, f"{name}.onnx")
    data = onx.SerializeToString()
    with open(path, "wb") as f:
        f.write(data)
    opsets = {imp.domain or "ai.onnx": imp.version for imp in onx.opset_import}
    return path, ops, unsupported, len(data), dict(sorted(opsets.items()))


def fmt(x) -> str:
    return repr(float(x))


def check_classes(name, estimator, y, expected_classes):
    classes = [int(c) for c in estimator.classes_]
    expected = sorted(int(c) for c in set(y.tolist()))
    assert classes == expected, f"{name}: classes {classes} != sorted training labels {expected}"
    assert classes == expected_classes, f"{name}: unexpected classes {classes}"
    return classes


def run_classifier(name, estimator, options, x, y, summary, expected_classes=WINE_CLASSES):
    print(f"\n=== {name}: {describe(estimator)}")
    estimator.fit(x, y)
    classes = check_classes(name, estimator, y, expected_classes)
    path, ops, _, size, opsets = export(name, estimator, options, classes)
    print(f"  ops: {', '.join(ops)}")
    print(f"  opset_import: {opsets}")
    last = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    if hasattr(last, "n_iter_"):
        print(f"  solver iterations: {np.max(last.n_iter_)} (max_iter={last.max_iter})")

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    onames = [o.name for o in sess.get_outputs()]
    assert onames == ["label", "probabilities"], onames

    label_all, proba_all = sess.run(None, {INPUT_NAME: x})
    assert label_all.dtype == np.int64 and label_all.shape == (len(x),), (label_all.dtype, label_all.shape)
    assert proba_all.dtype == np.float32 and proba_all.shape == (len(x), len(classes)), proba_all.shape
    # onnxruntime's label must be the class with the highest probability.
    assert np.array_equal(label_all, np.array(classes)[proba_all.argmax(axis=1)]), f"{name}: label != argmax(p)"

    sk_label = estimator.predict(x.astype(np.float64))
    sk_proba = estimator.predict_proba(x.astype(np.float64))
    n = N_REFERENCE_ROWS
    agree_ref = int((label_all[:n] == sk_label[:n]).sum())
    agree_all = int((label_all == sk_label).sum())
    pdiff_ref = float(np.abs(proba_all[:n] - sk_proba[:n]).max())
    pdiff_all = float(np.abs(proba_all - sk_proba).max())
    acc = float((sk_label == y).mean())
    print(f"  classes (probability column order): {classes}")
    print(f"  onnxruntime vs sklearn predict(): rows 0..{n - 1}: {agree_ref}/{n} agree "
          f"({n - agree_ref} differ); all {len(x)} rows: {agree_all}/{len(x)} ({len(x) - agree_all} differ)")
    print(f"  max |p_onnx - predict_proba|: rows 0..{n - 1}: {pdiff_ref:.3g}; all rows: {pdiff_all:.3g}")
    print(f"  training accuracy (sklearn): {acc:.4f}; predicted label counts rows 0..{n - 1}: "
          f"{dict(sorted(Counter(label_all[:n].tolist()).items()))}")
    print(f"  size: {size} bytes")

    ref = os.path.join(OUT, f"{name}.reference.csv")
    with open(ref, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["row", "label", "value"] + [f"p_{c}" for c in classes])
        for i in range(n):
            w.writerow([i, int(label_all[i]), fmt(label_all[i])] + [fmt(p) for p in proba_all[i]])

    summary.append(dict(name=name, kind="classifier", est=describe(estimator), ops=ops, classes=classes,
                        size=size, opsets=opsets, agree_ref=agree_ref, agree_all=agree_all, pdiff_ref=pdiff_ref,
                        pdiff_all=pdiff_all, n_all=len(x), unsupported=[]))


def run_regressor(name, estimator, x, y, summary):
    print(f"\n=== {name}: {describe(estimator)}")
    estimator.fit(x, y.astype(np.float64))
    path, ops, unsupported, size, opsets = export(name, estimator, None, None)
    print(f"  ops: {', '.join(ops)}")
    print(f"  opset_import: {opsets}")

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["variable"]
    (pred_all,) = sess.run(None, {INPUT_NAME: x})
    assert pred_all.dtype == np.float32 and pred_all.shape == (len(x), 1), (pred_all.dtype, pred_all.shape)
    pred_all = pred_all[:, 0]

    sk = estimator.predict(x.astype(np.float64))
    n = N_REFERENCE_ROWS
    diff_ref = float(np.abs(pred_all[:n] - sk[:n]).max())
    diff_all = float(np.abs(pred_all - sk).max())
    rmse = float(np.sqrt(np.mean((sk - y) ** 2)))
    print(f"  max |onnx - sklearn predict()|: rows 0..{n - 1}: {diff_ref:.3g}; all {len(x)} rows: {diff_all:.3g}")
    print(f"  training RMSE (sklearn): {rmse:.4f}")
    print(f"  size: {size} bytes")

    ref = os.path.join(OUT, f"{name}.reference.csv")
    with open(ref, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["row", "value"])
        for i in range(n):
            w.writerow([i, fmt(pred_all[i])])

    summary.append(dict(name=name, kind="regressor", est=describe(estimator), ops=ops, classes=None,
                        size=size, opsets=opsets, diff_ref=diff_ref, diff_all=diff_all, n_all=len(x),
                        unsupported=unsupported))


def run_unloadable(name, estimator, options, x, y, summary, missing_op):
    """Export a model that uses an op the server lacks (no reference predictions)."""
    print(f"\n=== {name}: {describe(estimator)}")
    estimator.fit(x, y)
    _, ops, unsupported, size, opsets = export(name, estimator, options, WINE_CLASSES,
                                               expect_unsupported=[missing_op])
    print(f"  ops: {', '.join(ops)} (not loadable: {', '.join(unsupported)})")
    summary.append(dict(name=name, kind="unloadable", est=describe(estimator), ops=ops, classes=None,
                        size=size, opsets=opsets, n_all=len(x), unsupported=unsupported))


def describe(est) -> str:
    def one(e):
        keys = {
            "DecisionTreeClassifier": ["max_depth", "random_state"],
            "RandomForestClassifier": ["n_estimators", "max_depth", "min_samples_leaf", "random_state"],
            "RandomForestRegressor": ["n_estimators", "max_depth", "random_state"],
            "GradientBoostingClassifier": ["n_estimators", "max_depth", "learning_rate", "random_state"],
            "GradientBoostingRegressor": ["n_estimators", "max_depth", "learning_rate", "random_state"],
            "XGBRegressor": ["n_estimators", "max_depth", "learning_rate", "random_state"],
            "LGBMRegressor": ["n_estimators", "num_leaves", "learning_rate", "random_state"],
            "LogisticRegression": ["C", "solver", "max_iter"],
            "MLPClassifier": ["hidden_layer_sizes", "activation", "alpha", "max_iter", "random_state"],
            "LinearRegression": [],
            "StandardScaler": [],
        }[type(e).__name__]
        params = e.get_params()
        return f"{type(e).__name__}({', '.join(f'{k}={params[k]!r}' for k in keys)})"

    if isinstance(est, Pipeline):
        return " -> ".join(one(s) for _, s in est.steps)
    return one(est)


def write_readme(summary, files):
    def cls_row(s):
        return ", ".join(str(c) for c in s["classes"])

    lines = []
    a = lines.append
    a("# ONNX test fixtures (wine quality)")
    a("")
    a("Generated by `scripts/train_onnx.py`. Do not edit by hand. To regenerate, run this from the repository root:")
    a("")
    a("```sh")
    a("pip install -r scripts/requirements.txt   # Python 3.11")
    a("python3 scripts/train_onnx.py")
    a("```")
    a("")
    a(f"Versions used: Python {sys.version.split()[0]}, numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
      f"skl2onnx {skl2onnx.__version__}, onnxmltools {onnxmltools.__version__}, xgboost {xgboost.__version__}, "
      f"lightgbm {lightgbm.__version__}, onnx {onnx.__version__}, onnxruntime {ort.__version__}. "
      f"Target opsets: `ai.onnx` {TARGET_OPSET['']}, `ai.onnx.ml` {TARGET_OPSET['ai.onnx.ml']}. skl2onnx writes "
      "the lowest opset each model actually needs (see the opset_import column).")
    a("")
    a("## How it was produced")
    a("")
    a("- Data: `data/winequality-red.csv`, all 1,599 rows (no split). Features are the first 11 columns "
      "in file order. Target is `quality`.")
    a("- The features are rounded to float32 before training, so sklearn and the float32 ONNX input see the same "
      "values. All estimators use `random_state=0`. BLAS/OpenMP run single-threaded, so the output is byte-for-byte "
      "reproducible with the same packages on the same machine. Another CPU or BLAS build may change the last "
      "bits of the linear/MLP weights.")
    a("- Classifiers are exported with `zipmap=False`. StandardScaler is exported with `div='div'` "
      "(Sub/Div, no `Scaler` op).")
    a("- Reference predictions (`*.reference.csv`) are computed by **onnxruntime** on data rows 0..299 "
      "(0-based data-row index, header excluded). These rows are part of the training data.")
    a("")
    a("## Interface (all models)")
    a("")
    a("- Input: `input`, float32, shape `[N, 11]` (N dynamic). Columns: " + ", ".join(f"`{c}`" for c in FEATURES) + ".")
    a("- Classifiers: `label` int64 `[N]` (the quality class itself, not an index; for the two-class models, "
      "1 when quality >= 6, else 0), `probabilities` float32 `[N, classes]`. The columns follow the class order "
      "below.")
    a("- Regressors: `variable` float32 `[N, 1]`.")
    a("")
    a("Reference CSV columns:")
    a("")
    a("- classifiers: `row,label,value,p_3,p_4,p_5,p_6,p_7,p_8` (two-class models: `p_0,p_1`). `label` is the "
      "int64 label, `value` is the same number as a float, and `p_<class>` are the probabilities in class order.")
    a("- regressors: `row,value`")
    a("")
    a("Floats are written with Python `repr(float(x))` of the float32 output. This is the exact float32 value "
      "widened to f64, so a Rust `f32` comparison can be exact or use a small tolerance.")
    a("")
    a("## Files")
    a("")
    a("| file | model | ONNX ops | opset_import | class order | size | onnxruntime vs sklearn |")
    a("|---|---|---|---|---|---|---|")
    for s in summary:
        if s["kind"] == "unloadable":
            ops = ", ".join(s["ops"])
            opsets = ", ".join(f"{d} {v}" for d, v in s["opsets"].items())
            a(f"| `{s['name']}.onnx` | {s['est']}, exported with skl2onnx's default ZipMap output (which tract "
              f"lacks; the server's own `ZipMap` loads it). No reference predictions: the exports with default "
              f"options in [`ml/`](ml/README.md) have them. | {ops} | {opsets} | - | {s['size']} B | - |")
            continue
        if s["kind"] == "classifier":
            agree = (f"labels: {s['agree_ref']}/{N_REFERENCE_ROWS} (rows 0..299), {s['agree_all']}/{s['n_all']} (all); "
                     f"max prob diff {s['pdiff_all']:.2g}")
            order = cls_row(s)
        else:
            agree = f"max abs diff {s['diff_all']:.2g}"
            order = "-"
        ops = ", ".join(s["ops"])
        opsets = ", ".join(f"{d} {v}" for d, v in s["opsets"].items())
        a(f"| `{s['name']}.onnx` | {s['est']} | {ops} | {opsets} | {order} | {s['size']} B | {agree} |")
    a("")
    a("Each `<model>.onnx` but the ZipMap one has a matching `<model>.reference.csv` (300 rows).")
    a("")
    a("`TreeEnsembleRegressor` and `TreeEnsembleClassifier` are evaluated by the server's own implementation "
      "(`src/model/onnx/ml/tree_ensemble/`), not tract's. The hand-made ensembles in [`handmade/`](handmade/README.md) "
      "cover the parts of their semantics that these trained models do not reach. The server's other ONNX-ML "
      "operators (`LinearClassifier` with string labels, `Scaler`, `ZipMap`, the ONNX-ML 5 `TreeEnsemble`) are "
      "tested on the exports with default options and the hand-made models of [`ml/`](ml/README.md), written by "
      "`scripts/onnx_ml_fixtures.py`.")
    a("")
    a("SHA-256 of the generated files:")
    a("")
    a("```")
    for fn in files:
        with open(os.path.join(OUT, fn), "rb") as f:
            a(f"{hashlib.sha256(f.read()).hexdigest()}  {fn}")
    a("```")
    a("")
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("\n".join(lines))


def main():
    os.makedirs(OUT, exist_ok=True)
    x, y = load_data()
    print(f"data: {x.shape[0]} rows x {x.shape[1]} features; quality counts "
          f"{dict(sorted(Counter(y.tolist()).items()))}")
    assert x.shape == (1599, 11)

    summary = []

    tree = DecisionTreeClassifier(max_depth=6, random_state=SEED)
    run_classifier("wine_tree_classifier", tree, {id(tree): {"zipmap": False}}, x, y, summary)

    forest = RandomForestClassifier(n_estimators=20, max_depth=8, min_samples_leaf=2, random_state=SEED, n_jobs=1)
    run_classifier("wine_forest_classifier", forest, {id(forest): {"zipmap": False}}, x, y, summary)

    scaler = StandardScaler()
    logreg = LogisticRegression(C=1.0, solver="lbfgs", max_iter=5000)  # multinomial (lbfgs default)
    pipe = Pipeline([("scaler", scaler), ("logreg", logreg)])
    run_classifier("wine_logistic", pipe,
                   {id(scaler): {"div": "div"}, id(logreg): {"zipmap": False}}, x, y, summary)

    run_regressor("wine_linear_regression", LinearRegression(), x, y, summary)

    scaler = StandardScaler()
    mlp = MLPClassifier(hidden_layer_sizes=(16,), activation="relu", alpha=1e-3, max_iter=1000,
                        random_state=SEED)
    pipe = Pipeline([("scaler", scaler), ("mlp", mlp)])
    run_classifier("wine_mlp_classifier", pipe,
                   {id(scaler): {"div": "div"}, id(mlp): {"zipmap": False}}, x, y, summary)

    rfr = RandomForestRegressor(n_estimators=10, max_depth=6, random_state=SEED, n_jobs=1)
    run_regressor("wine_forest_regressor", rfr, x, y, summary)

    gbr = GradientBoostingRegressor(n_estimators=30, max_depth=3, learning_rate=0.1, random_state=SEED)
    run_regressor("wine_gbm_regressor", gbr, x, y, summary)

    xgbr = XGBRegressor(n_estimators=30, max_depth=3, learning_rate=0.1, random_state=SEED, n_jobs=1)
    run_regressor("wine_xgb_regressor", xgbr, x, y, summary)

    lgbmr = LGBMRegressor(n_estimators=30, num_leaves=8, learning_rate=0.1, random_state=SEED, n_jobs=1,
                          deterministic=True, force_row_wise=True, verbose=-1)
    run_regressor("wine_lgbm_regressor", lgbmr, x, y, summary)

    gbc = GradientBoostingClassifier(n_estimators=10, max_depth=3, learning_rate=0.1, random_state=SEED)
    run_classifier("wine_gbm_classifier", gbc, {id(gbc): {"zipmap": False}}, x, y, summary)

    # Two classes: good wine (quality >= 6) or not.
    good = (y >= 6).astype(np.int64)
    gbb = GradientBoostingClassifier(n_estimators=20, max_depth=3, learning_rate=0.1, random_state=SEED)
    run_classifier("wine_gbm_binary", gbb, {id(gbb): {"zipmap": False}}, x, good, summary, expected_classes=[0, 1])

    rfb = RandomForestClassifier(n_estimators=10, max_depth=6, random_state=SEED, n_jobs=1)
    run_classifier("wine_forest_binary", rfb, {id(rfb): {"zipmap": False}}, x, good, summary,
                   expected_classes=[0, 1])

    zipped = DecisionTreeClassifier(max_depth=3, random_state=SEED)
    run_unloadable("wine_tree_classifier_zipmap", zipped, None, x, y, summary, "ai.onnx.ml:ZipMap")

    files = []
    for s in summary:
        files.append(f"{s['name']}.onnx")
        if s["kind"] != "unloadable":
            files.append(f"{s['name']}.reference.csv")
    write_readme(summary, files)
    for fn in files:
        assert os.path.getsize(os.path.join(OUT, fn)) < 1_000_000, f"{fn} is larger than 1 MB"

    handmade = os.path.join(REPO, "scripts", "handmade_onnx_trees.py")
    subprocess.run([sys.executable, handmade, os.path.join(OUT, "handmade")], check=True)

    print("\nfiles written to data/onnx/:")
    total = 0
    for fn in files + ["README.md"]:
        size = os.path.getsize(os.path.join(OUT, fn))
        total += size
        print(f"  {size:>9}  {fn}")
    print(f"  {total:>9}  total")
    assert total < 2_000_000, "fixtures are larger than 2 MB"


if __name__ == "__main__":
    with threadpool_limits(limits=1):
        main()
