#!/usr/bin/env python3
"""The converter suite: models of the model types and features that the wine fixtures do not
reach, exported by JPMML's converters (sklearn2pmml), plus a few hand-written documents for the
features converters write in ways that are hard to provoke on demand, all scored with
JPMML-Evaluator (every target and every output field, `ReferenceScorer --all`).

Writes into data/pmml/suite/ (relative to the repository root):
  - iris.csv, mixed.csv          the input rows (a few hundred each, with missing cells,
                                 unknown categories and booleans written several ways)
  - <name>.pmml                  one document per model
  - <name>.expected.csv          JPMML-Evaluator's predictions and output fields
  - <name>.framework.csv         the training framework's own predictions (scikit-learn's
                                 predict / predict_proba) on the rows without missing cells

Usage: python3 scripts/train_pmml_suite.py
Requires: scripts/requirements-pmml.txt, Java 17 and Maven.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import MultiOutputRegressor
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.svm import SVC, SVR, LinearSVC
from sklearn.tree import DecisionTreeClassifier
from lightgbm import LGBMRegressor
from sklearn2pmml import sklearn2pmml
from sklearn2pmml.pipeline import PMMLPipeline

from xgboost import XGBClassifier, XGBRegressor

import handmade_suite
from training_common import build_jpmml, score_with_jpmml

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "data" / "pmml" / "suite"
IRIS = ["sepal length", "sepal width", "petal length", "petal width"]
SPECIES = {0: "setosa", 1: "versicolor", 2: "virginica"}


def iris_frames() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """The training rows and labels, and 300 scoring rows: jittered iris rows, 4% of cells
    blanked."""
    iris = load_iris(as_frame=True)
    x = iris.data.set_axis(IRIS, axis=1)
    y = iris.target.map(SPECIES).rename("species")
    rng = np.random.default_rng(3)
    rows = x.sample(300, replace=True, random_state=5).reset_index(drop=True)
    rows = (rows + rng.normal(0, 0.25, rows.shape)).round(2)
    mask = rng.random(rows.shape) < 0.04
    return x, y, rows.mask(mask)


def fixtures(x: pd.DataFrame, y: pd.Series):
    """(name, estimator, training inputs, training labels) for every converter fixture."""
    petal = x["petal length"].rename("petal length target")
    x3 = x[IRIS[:2] + IRIS[3:]]
    two = pd.DataFrame({"petal length": x["petal length"], "petal width": x["petal width"]})
    return [
        ("svc_rbf", SVC(gamma=0.3, C=2.0), x, y),
        ("svc_poly_binary", SVC(kernel="poly", degree=2, coef0=1.0), x, (y == "virginica").map({True: "yes", False: "no"})),
        ("linear_svc", LinearSVC(max_iter=5000, random_state=1), x, y),
        ("svr_rbf", SVR(C=3.0), x3, petal),
        ("svr_sigmoid", SVR(kernel="sigmoid", gamma=0.05, coef0=0.5), x3, petal),
        ("knn_classifier", KNeighborsClassifier(5), x, y),
        ("knn_regressor", KNeighborsRegressor(4, weights="distance"), x3, petal),
        ("kmeans", KMeans(3, n_init=3, random_state=1), x, None),
        ("gaussian_nb", GaussianNB(), x, y),
        ("one_vs_rest_logistic", OneVsRestClassifier(LogisticRegression(max_iter=1000)), x, y),
        ("multi_output_regression", MultiOutputRegressor(LinearRegression()), x[IRIS[:2]], two),
        ("tree_classifier", DecisionTreeClassifier(max_depth=4, random_state=1), x, y),
        ("lightgbm_linear_trees", LGBMRegressor(n_estimators=8, num_leaves=4, linear_tree=True, min_child_samples=5, random_state=1, verbose=-1), x3, petal),
        ("xgboost_multiclass", XGBClassifier(n_estimators=12, max_depth=3, random_state=1), x, y.map({"setosa": 0, "versicolor": 1, "virginica": 2})),
        ("xgboost_deep_regressor", XGBRegressor(n_estimators=60, max_depth=5, learning_rate=0.2, random_state=1), x3, petal),
    ]


def framework_predictions(estimator, rows: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The estimator's own predictions on the complete rows (blank for the others)."""
    complete = rows[columns].notna().all(axis=1)
    predicted = pd.Series([None] * len(rows), dtype=object)
    values = estimator.predict(rows.loc[complete, columns])
    if values.ndim == 1:
        predicted[complete.to_numpy()] = values
        return pd.DataFrame({"predicted": predicted})
    frame = pd.DataFrame(index=rows.index, columns=[f"predicted({i})" for i in range(values.shape[1])])
    frame.loc[complete] = values
    return frame


def drop_timestamp(document: Path) -> None:
    """Removes the export time from the Header, so that a rerun gives identical files."""
    lines = document.read_text().splitlines(keepends=True)
    document.write_text("".join(line for line in lines if "<Timestamp>" not in line))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    build_jpmml()
    x, y, rows = iris_frames()
    rows.to_csv(OUT / "iris.csv", index=False)
    for name, estimator, inputs, labels in fixtures(x, y):
        pipeline = PMMLPipeline([("model", estimator)])
        pipeline.fit(inputs, labels)
        document = OUT / f"{name}.pmml"
        sklearn2pmml(pipeline, str(document))
        drop_timestamp(document)
        score_with_jpmml(document, OUT / "iris.csv", OUT / f"{name}.expected.csv", every_output=True)
        framework = framework_predictions(pipeline, rows, list(inputs.columns))
        framework.to_csv(OUT / f"{name}.framework.csv", index=False)
        print(f"{name}: {document.stat().st_size} bytes", file=sys.stderr)
    for name, inputs in handmade_suite.write(OUT):
        score_with_jpmml(OUT / f"{name}.pmml", OUT / inputs, OUT / f"{name}.expected.csv", every_output=True)
        print(f"{name}: hand-made, scored {inputs}", file=sys.stderr)


if __name__ == "__main__":
    main()
