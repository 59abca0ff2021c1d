#!/usr/bin/env python3
"""Writes the iris data set and three iris models with their reference predictions to data/iris/.

The fixtures of the second, non-wine serving app: Fisher's iris data as generic feature records
(`dataType` plus named features), scored by models that name their own inputs (PMML through its
MiningSchema, ONNX through the metadata entry `feature_names`).

Run from anywhere (paths are relative to the repository root):

    python3 scripts/train_iris.py

Writes into data/iris/:
  - iris.csv                       the 150 rows of scikit-learn's bundled copy (load_iris, no
                                   download): sepal_length,sepal_width,petal_length,petal_width,species
  - iris_tree.pmml                 DecisionTreeClassifier(max_depth=3), exported by sklearn2pmml
  - iris_tree.expected.csv         JPMML-Evaluator's predictions (scripts/jpmml) for all 150 rows
  - iris_logistic.onnx             LogisticRegression (multinomial), exported by skl2onnx
  - iris_logistic.reference.csv    onnxruntime's predictions for all 150 rows
  - iris_forest.onnx               RandomForestClassifier(n_estimators=10, max_depth=4), skl2onnx
  - iris_forest.reference.csv      onnxruntime's predictions for all 150 rows
  - README.md                      what the files are, how they were made, versions, SHA-256

Every prediction file has the columns row,label,p_setosa,p_versicolor,p_virginica, where row is
the 0-based data row of iris.csv (header excluded).

The output is byte-for-byte reproducible: the estimators have fixed random states, BLAS/OpenMP
run single-threaded, and the two sources of variation in the exports are removed (sklearn2pmml's
<Timestamp> header element, and the order of skl2onnx's opset_import entries).

Requires the pinned packages of scripts/requirements.txt (numpy, scikit-learn, skl2onnx, onnx,
onnxruntime) and scripts/requirements-pmml.txt (sklearn2pmml, pandas), Java 17 and Maven.
"""

from __future__ import annotations

import os

# Multi-threaded BLAS/OpenMP reductions can change the order of floating-point sums between
# runs. Set before numpy is imported; main() also runs under threadpool_limits(1).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import csv
import hashlib
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import skl2onnx
import sklearn
import sklearn2pmml as sklearn2pmml_module
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from sklearn2pmml import sklearn2pmml
from sklearn2pmml.pipeline import PMMLPipeline
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from training_common import ONNX_OPS as TRACT_OPS, build_jpmml, score_with_jpmml

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "data" / "iris"
JPMML = REPO / "scripts" / "jpmml"  # its pom gives the JPMML-Evaluator version

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
TARGET = "species"
SPECIES = ["setosa", "versicolor", "virginica"]
SEED = 0
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}  # as scripts/train_onnx.py
INPUT_NAME = "float_input"
FEATURE_NAMES_KEY = "feature_names"  # the ONNX metadata entry the server reads (src/model/onnx)
PMML_NS = "http://www.dmg.org/PMML-4_4"
MAX_FILE_SIZE = 300_000


PREDICTION_HEADER = ["row", "label"] + [f"p_{s}" for s in SPECIES]


def fmt(x) -> str:
    """Python's shortest round-trip text of a float (for float32 values: the exact value widened)."""
    return repr(float(x))


# --- data ------------------------------------------------------------------------------------


def write_iris(path: Path) -> None:
    """iris.csv from scikit-learn's bundled copy, species as names."""
    iris = load_iris()
    assert iris.data.shape == (150, 4), iris.data.shape
    assert [str(n) for n in iris.target_names] == SPECIES, iris.target_names
    assert list(iris.feature_names) == [
        "sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"
    ], iris.feature_names
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(FEATURES + [TARGET])
        for values, target in zip(iris.data, iris.target):
            w.writerow([fmt(v) for v in values] + [SPECIES[int(target)]])


def read_iris(path: Path) -> pd.DataFrame:
    """The CSV as written (all models are trained on what the file holds)."""
    frame = pd.read_csv(path)
    assert list(frame.columns) == FEATURES + [TARGET], list(frame.columns)
    assert len(frame) == 150
    assert np.array_equal(frame[FEATURES].to_numpy(np.float64), load_iris().data)
    assert sorted(set(frame[TARGET])) == SPECIES
    return frame


def write_predictions(path: Path, labels, probabilities) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(PREDICTION_HEADER)
        for i, (label, p) in enumerate(zip(labels, probabilities)):
            w.writerow([i, str(label)] + [fmt(v) for v in p])


# --- PMML ------------------------------------------------------------------------------------


def normalize_pmml(text: str) -> str:
    """Makes sklearn2pmml's document reproducible and lists every column as an active field.

    - Removes the optional <Timestamp> header element (the export time).
    - JPMML-SkLearn drops the features a model does not use from the DataDictionary and the
      MiningSchema (it has no option to keep them); the depth-3 tree splits on the petal columns
      only. The app's records carry all four columns and the model names its own inputs, so
      the missing ones are put back, as continuous float fields like the used ones, and both
      lists are put in iris.csv's column order. Unused active fields do not change any
      prediction (JPMML-Evaluator scores the result; see the agreement check in main()).
    """
    text, n = re.subn(r"\n\t\t<Timestamp>[^<]*</Timestamp>", "", text)
    assert n == 1, "expected one <Timestamp> element"

    data_fields = re.findall(r'\n\t\t<DataField name="([^"]+)" optype="continuous" dataType="float"/>', text)
    mining_fields = re.findall(r'\n\t\t\t<MiningField name="([^"]+)"/>', text)
    assert data_fields and set(data_fields) <= set(FEATURES), data_fields
    assert sorted(mining_fields) == sorted(data_fields), (mining_fields, data_fields)

    def one_block(pattern: str, line: str, anchor_after: str) -> str:
        nonlocal text
        text = re.sub(pattern, "", text)
        block = "".join(line.format(name) for name in FEATURES)
        assert text.count(anchor_after) == 1, anchor_after
        return text.replace(anchor_after, anchor_after + block)

    # DataDictionary: the target's DataField (with its <Value>s) first, then the four features.
    text = one_block(
        r'\n\t\t<DataField name="[^"]+" optype="continuous" dataType="float"/>',
        '\n\t\t<DataField name="{}" optype="continuous" dataType="float"/>',
        "\n\t\t</DataField>",
    )
    # MiningSchema: the target first, then the four features.
    text = one_block(
        r'\n\t\t\t<MiningField name="[^"]+"/>',
        '\n\t\t\t<MiningField name="{}"/>',
        f'\n\t\t\t<MiningField name="{TARGET}" usageType="target"/>',
    )
    return text


def pmml_fields(path: Path) -> tuple[list[str], list[str], list[str]]:
    """(DataDictionary fields, MiningSchema active fields, target fields) of a PMML document."""
    ns = {"p": PMML_NS}
    root = ET.parse(path).getroot()
    data = [f.get("name") for f in root.findall("p:DataDictionary/p:DataField", ns)]
    mining = root.findall("p:TreeModel/p:MiningSchema/p:MiningField", ns)
    active = [f.get("name") for f in mining if f.get("usageType", "active") == "active"]
    targets = [f.get("name") for f in mining if f.get("usageType") in ("target", "predicted")]
    return data, active, targets


def train_pmml_tree(frame: pd.DataFrame, iris_csv: Path) -> dict:
    name = "iris_tree"
    print(f"\n=== {name}: DecisionTreeClassifier(max_depth=3, random_state={SEED}), sklearn2pmml")
    pipeline = PMMLPipeline([("classifier", DecisionTreeClassifier(max_depth=3, random_state=SEED))])
    x = frame[FEATURES]
    y = frame[TARGET].rename(TARGET)
    pipeline.fit(x, y)
    tree = pipeline.steps[-1][1]
    assert list(tree.classes_) == SPECIES, tree.classes_
    print(f"  feature importances: {dict(zip(FEATURES, (round(float(v), 6) for v in tree.feature_importances_)))}")

    model = OUT / f"{name}.pmml"
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.pmml"
        sklearn2pmml(pipeline, str(raw))
        text = raw.read_text(encoding="utf-8")
    model.write_text(normalize_pmml(text), encoding="utf-8")

    data, active, targets = pmml_fields(model)
    print(f"  DataDictionary: {data}")
    print(f"  MiningSchema active fields: {active}; target: {targets}")
    assert active == FEATURES, active
    assert targets == [TARGET], targets
    assert data == [TARGET] + FEATURES, data

    expected = OUT / f"{name}.expected.csv"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "jpmml.csv"
        score_with_jpmml(model, iris_csv, out)
        with open(out, newline="") as f:
            rows = list(csv.reader(f))
    assert rows[0] == [TARGET] + [f"probability({s})" for s in SPECIES], rows[0]
    rows = rows[1:]
    assert len(rows) == 150 and all(r[0] != "!error" for r in rows), "JPMML rejected rows"
    labels = [r[0] for r in rows]
    probabilities = np.array([[float(v) for v in r[1:]] for r in rows])
    for r, p in zip(rows, probabilities):  # the CSV keeps JPMML's doubles exactly
        assert [float(fmt(v)) for v in p] == [float(v) for v in r[1:]]
    write_predictions(expected, labels, probabilities)

    sk_label = tree.predict(x)
    sk_proba = tree.predict_proba(x)
    agree = int(sum(a == b for a, b in zip(labels, sk_label)))
    pdiff = float(np.abs(probabilities - sk_proba).max())
    assert agree == 150 and pdiff < 1e-12, (agree, pdiff)
    acc = float(np.mean(sk_label == y.to_numpy()))
    print(f"  JPMML-Evaluator vs sklearn: labels {agree}/150 agree, max |p diff| {pdiff:.2g}")
    print(f"  training accuracy (sklearn): {acc:.4f}; size {model.stat().st_size} bytes")
    return dict(name=name, file=model.name, refs=expected.name, agree=agree, pdiff=pdiff, acc=acc,
                est=f"DecisionTreeClassifier(max_depth=3, random_state={SEED})",
                detail="used splits: " + ", ".join(f for f, v in zip(FEATURES, tree.feature_importances_) if v > 0))


# --- ONNX ------------------------------------------------------------------------------------


def onnx_ops(model: onnx.ModelProto) -> list[str]:
    ops = set()
    for node in model.graph.node:
        ops.add(node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}:{node.op_type}")
    return sorted(ops)


def export_onnx(name: str, estimator) -> tuple[Path, onnx.ModelProto]:
    onx = convert_sklearn(
        estimator,
        name=name,
        initial_types=[(INPUT_NAME, FloatTensorType([None, len(FEATURES)]))],
        target_opset=TARGET_OPSET,
        options={id(estimator): {"zipmap": False}},
    )
    # One opset_import entry per domain, sorted (skl2onnx's order depends on the string hash seed).
    dedup: dict[str, int] = {}
    for imp in onx.opset_import:
        dedup[imp.domain] = max(imp.version, dedup.get(imp.domain, 0))
    del onx.opset_import[:]
    for domain, version in sorted(dedup.items()):
        onx.opset_import.add(domain=domain, version=version)
    # The model names its inputs: the server reads this entry (src/model/onnx, FEATURE_NAMES).
    assert not any(p.key == FEATURE_NAMES_KEY for p in onx.metadata_props)
    onx.metadata_props.add(key=FEATURE_NAMES_KEY, value=",".join(FEATURES))
    onnx.checker.check_model(onx)

    assert len(onx.graph.input) == 1, onx.graph.input
    inp = onx.graph.input[0]
    assert inp.name == INPUT_NAME and inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = inp.type.tensor_type.shape.dim
    assert len(dims) == 2 and not dims[0].HasField("dim_value") and dims[1].dim_value == 4, dims
    outs = [(o.name, o.type.tensor_type.elem_type) for o in onx.graph.output]
    assert outs == [("label", onnx.TensorProto.STRING), ("probabilities", onnx.TensorProto.FLOAT)], outs
    ops = onnx_ops(onx)
    unsupported = [o for o in ops if o.split(":")[-1] not in TRACT_OPS]
    assert not unsupported, f"{name}: ops the server lacks: {unsupported}"
    labels = [n for n in onx.graph.node if n.op_type in ("LinearClassifier", "TreeEnsembleClassifier")]
    assert len(labels) == 1
    strings = [a for a in labels[0].attribute if a.name == "classlabels_strings"]
    assert strings and [s.decode() for s in strings[0].strings] == SPECIES, labels[0]

    path = OUT / f"{name}.onnx"
    path.write_bytes(onx.SerializeToString())
    return path, onx


def train_onnx(name: str, estimator, est_text: str, frame: pd.DataFrame) -> dict:
    print(f"\n=== {name}: {est_text}, skl2onnx")
    # Round to float32 first: training, sklearn's predictions and the float32 ONNX input all see
    # the same values (no disagreement at tree thresholds).
    x32 = frame[FEATURES].to_numpy(np.float64).astype(np.float32)
    y = frame[TARGET].to_numpy().astype(str)
    estimator.fit(x32, y)
    assert list(estimator.classes_) == SPECIES, estimator.classes_
    if hasattr(estimator, "n_iter_"):
        print(f"  solver iterations: {int(np.max(estimator.n_iter_))} (max_iter={estimator.max_iter})")
        assert np.max(estimator.n_iter_) < estimator.max_iter, "did not converge"

    path, onx = export_onnx(name, estimator)
    meta = {p.key: p.value for p in onx.metadata_props}
    opsets = {imp.domain or "ai.onnx": imp.version for imp in onx.opset_import}
    print(f"  ops: {', '.join(onnx_ops(onx))}; opset_import: {opsets}")
    print(f"  input: {onx.graph.input[0].name} float32 [None, 4]; outputs: "
          f"{[o.name for o in onx.graph.output]}; metadata_props: {meta}")

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    label, proba = sess.run(None, {INPUT_NAME: x32})
    assert label.shape == (150,) and proba.dtype == np.float32 and proba.shape == (150, 3)
    label = [str(v) for v in label]
    assert label == [SPECIES[i] for i in proba.argmax(axis=1)], f"{name}: label != argmax(p)"
    refs = OUT / f"{name}.reference.csv"
    write_predictions(refs, label, proba)

    sk_label = estimator.predict(x32)
    sk_proba = estimator.predict_proba(x32)
    agree = int(sum(a == b for a, b in zip(label, sk_label)))
    pdiff = float(np.abs(proba - sk_proba).max())
    acc = float(np.mean(sk_label == y))
    print(f"  onnxruntime vs sklearn: labels {agree}/150 agree, max |p diff| {pdiff:.2g}")
    print(f"  training accuracy (sklearn): {acc:.4f}; size {path.stat().st_size} bytes")
    assert agree == 150 and pdiff < 1e-5, (agree, pdiff)
    return dict(name=name, file=path.name, refs=refs.name, agree=agree, pdiff=pdiff, acc=acc, est=est_text,
                detail="ops: " + ", ".join(onnx_ops(onx)) + "; opset_import: "
                + ", ".join(f"{d} {v}" for d, v in sorted(opsets.items())))


# --- README ----------------------------------------------------------------------------------


def tool_versions() -> dict[str, str]:
    pom = (JPMML / "pom.xml").read_text(encoding="utf-8")
    jpmml = re.search(r"<jpmml.evaluator.version>([^<]+)</jpmml.evaluator.version>", pom).group(1)
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    return {
        "Python": sys.version.split()[0],
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "sklearn2pmml": sklearn2pmml_module.__version__,
        "skl2onnx": skl2onnx.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "JPMML-Evaluator": jpmml,
        "Java": java.replace('"', ""),
    }


def write_readme(summary: list[dict], files: list[str]) -> None:
    versions = tool_versions()
    lines: list[str] = []
    a = lines.append
    a("# Iris fixtures")
    a("")
    a("Fisher's iris data and three classifiers for the generic `FeatureRecord` app (`dataType` plus "
      "named features). The models name their own inputs: the PMML document through its MiningSchema, "
      "the ONNX models through the metadata entry `feature_names`.")
    a("")
    a("Generated by `scripts/train_iris.py`. Do not edit by hand. To regenerate, from the repository root "
      "(Java 17 and Maven on the PATH; the package pins are those of `scripts/requirements.txt` and "
      "`scripts/requirements-pmml.txt`):")
    a("")
    a("```sh")
    a("python3 -m venv /tmp/iris-venv   # Python 3.11")
    a("/tmp/iris-venv/bin/pip install numpy==2.4.6 scikit-learn==1.9.0 skl2onnx==1.20.0 onnx==1.23.2 \\")
    a("    onnxruntime==1.32.0 sklearn2pmml==0.133.1 pandas==3.1.1")
    a("/tmp/iris-venv/bin/python scripts/train_iris.py")
    a("```")
    a("")
    a("Versions used: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".")
    a("")
    a("The script is deterministic (fixed `random_state=0`, single-threaded BLAS/OpenMP, no export "
      "timestamps): a rerun with the same versions writes byte-identical files.")
    a("")
    a("## Data")
    a("")
    a("`iris.csv`: the 150 rows of scikit-learn's bundled copy (`sklearn.datasets.load_iris()`, no "
      "download), in its order. Header `sepal_length,sepal_width,petal_length,petal_width,species`; the "
      "measurements are in cm as in the source (`5.1`), `species` is `setosa`, `versicolor` or `virginica` "
      "(50 each).")
    a("")
    a("All models are trained on all 150 rows (no split): they are serving fixtures, not a benchmark.")
    a("")
    a("## Models")
    a("")
    a("| file | model | details | training accuracy | reference vs sklearn |")
    a("|---|---|---|---|---|")
    for s in summary:
        a(f"| `{s['file']}` | {s['est']} | {s['detail']} | {s['acc']:.4f} | labels {s['agree']}/150, "
          f"max prob diff {s['pdiff']:.2g} |")
    a("")
    a("- `iris_tree.pmml`: a `PMMLPipeline` exported by sklearn2pmml (PMML 4.4, `TreeModel`). Target "
      "`species` (string). MiningSchema active fields, in this order: "
      + ", ".join(f"`{f}`" for f in FEATURES) + ". Two edits after the export, both in the script: the "
      "`<Timestamp>` header element is removed (reproducibility), and `sepal_length` and `sepal_width` are "
      "put back into the DataDictionary and MiningSchema (`optype=\"continuous\" dataType=\"float\"`, like "
      "the petal fields). JPMML-SkLearn drops the features a model does not split on, and this tree only "
      "splits on the petal columns; unused active fields do not change a prediction.")
    a("- `iris_logistic.onnx`, `iris_forest.onnx`: skl2onnx with `zipmap=False`, target opsets `ai.onnx` "
      f"{TARGET_OPSET['']}, `ai.onnx.ml` {TARGET_OPSET['ai.onnx.ml']} (as `scripts/train_onnx.py`). One input "
      f"`{INPUT_NAME}`, float32 `[N, 4]` (N dynamic), columns in the order above. Outputs `label` (string "
      "`[N]`, the species name) and `probabilities` (float32 `[N, 3]`, columns setosa, versicolor, virginica; "
      "`classlabels_strings` on the classifier node). `metadata_props`: `feature_names` = "
      f"`{','.join(FEATURES)}`. The features are rounded to float32 before training, so sklearn and the "
      "float32 ONNX input see the same values. The logistic regression is scikit-learn's default "
      "(lbfgs, multinomial for three classes), unscaled inputs, `max_iter=1000`.")
    a("")
    a("## Predictions")
    a("")
    a("`iris_tree.expected.csv` (JPMML-Evaluator, `scripts/jpmml/`, scoring `iris.csv`), "
      "`iris_logistic.reference.csv` and `iris_forest.reference.csv` (onnxruntime, CPU, on the float32 "
      "features) cover all 150 rows. Columns: `row,label,p_setosa,p_versicolor,p_virginica`; `row` is the "
      "0-based data row of `iris.csv` (header excluded), `label` the predicted species, `p_*` the "
      "probabilities, written with Python's `repr(float(x))` (for the ONNX models, the float32 output "
      "widened exactly to f64; for the PMML model, JPMML-Evaluator's doubles).")
    a("")
    a("## SHA-256")
    a("")
    a("```")
    for fn in files:
        a(f"{hashlib.sha256((OUT / fn).read_bytes()).hexdigest()}  {fn}")
    a("```")
    a("")
    (OUT / "README.md").write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    build_jpmml()

    iris_csv = OUT / "iris.csv"
    write_iris(iris_csv)
    frame = read_iris(iris_csv)

    summary = [train_pmml_tree(frame, iris_csv)]
    summary.append(train_onnx(
        "iris_logistic",
        LogisticRegression(max_iter=1000, random_state=SEED),
        "LogisticRegression(multinomial, lbfgs, C=1.0, max_iter=1000)",
        frame,
    ))
    summary.append(train_onnx(
        "iris_forest",
        RandomForestClassifier(n_estimators=10, max_depth=4, random_state=SEED),
        f"RandomForestClassifier(n_estimators=10, max_depth=4, random_state={SEED})",
        frame,
    ))

    files = ["iris.csv"]
    for s in summary:
        files += [s["file"], s["refs"]]
    write_readme(summary, files)

    print("\nfiles written to data/iris/:")
    for fn in files + ["README.md"]:
        size = (OUT / fn).stat().st_size
        assert size < MAX_FILE_SIZE, f"{fn} is {size} bytes"
        print(f"  {size:>8}  {fn}")


if __name__ == "__main__":
    with threadpool_limits(limits=1):
        main()
