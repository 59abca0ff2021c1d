#!/usr/bin/env python3
"""Trains small wine-quality models, exports them to PMML and scores them with JPMML-Evaluator.

Writes into data/pmml/ (relative to the repository root):
  - <name>.pmml            one PMML document per model (sklearn2pmml, PMML 4.4)
  - wine_test.csv          the held-out rows the references are computed on (comma-separated,
                           quoted UCI header, plus the derived string column "alcohol level")
  - wine_test_missing.csv  the same rows with some cells blanked out (missing values)
  - <name>.expected.csv    JPMML-Evaluator's predictions for each fixture's test file
  - seed/<name>.expected.csv  JPMML-Evaluator's predictions for the original system's seed PMML
                           files on all 1,599 rows of their winequality_red.csv
  - handmade/<name>.pmml, handmade/inputs.csv, handmade/<name>.expected.csv: small hand-made
                           documents (scripts/handmade_pmml.py) for the PMML features the
                           trained models do not use, with JPMML-Evaluator's predictions

The reference evaluator is scripts/jpmml (JPMML-Evaluator from Maven Central), not our own code.

Usage: python3 scripts/train_pmml.py [--data data/winequality-red.csv] [--seed-dir DIR]

The original system's files are read from --seed-dir, by default $MODELSERVER_ORIGINAL_DIR or
target/original (scripts/fetch-original.sh downloads them there).
Requires: scripts/requirements-pmml.txt, Java 17 and Maven.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, PoissonRegressor
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
import statsmodels.api as sm
from lightgbm import LGBMClassifier
from sklearn2pmml import sklearn2pmml
from sklearn2pmml.pipeline import PMMLPipeline
from sklearn2pmml.statsmodels import StatsModelsRegressor
from xgboost import XGBClassifier, XGBRegressor

import handmade_pmml
from training_common import WINE_FEATURES as FEATURES, build_jpmml, score_with_jpmml

REPO = Path(__file__).resolve().parent.parent
TARGET = "quality"
LEVEL = "alcohol level"
TEST_ROWS = 400
GOOD = "good"  # the binary target: 1 when quality >= 6, else 0
SEED_MODELS = [
    "winequalityDecisionTreeClassification",
    "winequalityDesisionTreeRegression",
    "winequalityGeneralizedLinearRegressionGamma",
    "winequalityGeneralizedLinearRegressionGaussian",
    "winequalityLinearRegression",
    "winequalityMultilayerPerceptron",
    "winequalityRandonForrestClassification",
]


def alcohol_level(alcohol: pd.Series) -> pd.Series:
    """The derived categorical column: alcohol binned into four named levels (strings)."""
    bins = [-np.inf, 9.5, 10.5, 11.5, np.inf]
    labels = ["low", "medium", "high", "very high"]
    return pd.cut(alcohol, bins=bins, labels=labels).astype(str)


def blank_cells(frame: pd.DataFrame, columns: list[str], share: float, seed: int) -> pd.DataFrame:
    """A copy of `frame` with about `share` of the cells in `columns` set to missing."""
    rng = np.random.default_rng(seed)
    blanked = frame.copy()
    for column in columns:
        mask = rng.random(len(blanked)) < share
        if pd.api.types.is_numeric_dtype(blanked[column]):
            blanked.loc[mask, column] = np.nan
        else:
            blanked[column] = blanked[column].astype(object)
            blanked.loc[mask, column] = None
    return blanked


def numeric_pipeline_steps() -> ColumnTransformer:
    """Imputation + scaling for the numbers, imputation + one-hot for the derived level."""
    numeric = Pipeline(
        [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
    )
    categorical = Pipeline(
        [("impute", SimpleImputer(strategy="most_frequent")), ("onehot", OneHotEncoder())]
    )
    return ColumnTransformer([("num", numeric, FEATURES), ("cat", categorical, [LEVEL])])


def fixtures(train: pd.DataFrame, train_missing: pd.DataFrame):
    """(name, pipeline, training frame, input columns, test file) for every fixture."""
    x_cols = FEATURES
    return [
        ("decision_tree_classifier", PMMLPipeline([("m", DecisionTreeClassifier(max_depth=5, random_state=1))]), train, x_cols, "wine_test.csv"),
        ("decision_tree_regressor", PMMLPipeline([("m", DecisionTreeRegressor(max_depth=5, random_state=1))]), train, x_cols, "wine_test.csv"),
        ("random_forest_classifier", PMMLPipeline([("m", RandomForestClassifier(n_estimators=5, max_depth=4, random_state=1))]), train, x_cols, "wine_test.csv"),
        ("random_forest_regressor", PMMLPipeline([("m", RandomForestRegressor(n_estimators=5, max_depth=4, random_state=1))]), train, x_cols, "wine_test.csv"),
        ("gradient_boosting_regressor", PMMLPipeline([("m", GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=1))]), train, x_cols, "wine_test.csv"),
        ("gradient_boosting_classifier", PMMLPipeline([("m", GradientBoostingClassifier(n_estimators=8, max_depth=2, random_state=1))]), train, x_cols, "wine_test.csv"),
        ("linear_regression", PMMLPipeline([("m", LinearRegression())]), train, x_cols, "wine_test.csv"),
        ("logistic_regression", PMMLPipeline([("scale", StandardScaler()), ("m", LogisticRegression(max_iter=2000))]), train, x_cols, "wine_test.csv"),
        ("poisson_glm", PMMLPipeline([("scale", StandardScaler()), ("m", PoissonRegressor(alpha=1e-3, max_iter=1000))]), train, x_cols, "wine_test.csv"),
        ("mlp_classifier", PMMLPipeline([("scale", StandardScaler()), ("m", MLPClassifier(hidden_layer_sizes=(8,), max_iter=600, random_state=1))]), train, x_cols, "wine_test.csv"),
        ("pipeline_onehot_logistic", PMMLPipeline([("prep", numeric_pipeline_steps()), ("m", LogisticRegression(max_iter=2000))]), train_missing, x_cols + [LEVEL], "wine_test_missing.csv"),
        ("hist_gradient_boosting_missing", PMMLPipeline([("m", HistGradientBoostingRegressor(max_iter=10, max_depth=3, random_state=1))]), train_missing, x_cols, "wine_test_missing.csv"),
        ("statsmodels_poisson_glm", PMMLPipeline([("m", StatsModelsRegressor(sm.GLM, family=sm.families.Poisson()))]), train, x_cols, "wine_test.csv"),
        ("lightgbm_classifier", PMMLPipeline([("m", LGBMClassifier(n_estimators=6, num_leaves=6, random_state=1, verbose=-1))]), train, x_cols, "wine_test.csv"),
        ("xgboost_regressor_missing", PMMLPipeline([("m", XGBRegressor(n_estimators=5, max_depth=3, random_state=1))]), train_missing, x_cols, "wine_test_missing.csv"),
        ("gradient_boosting_binary", PMMLPipeline([("m", GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=1))]), train, x_cols, "wine_test.csv", GOOD),
        ("xgboost_binary_classifier", PMMLPipeline([("m", XGBClassifier(n_estimators=5, max_depth=3, random_state=1))]), train, x_cols, "wine_test.csv", GOOD),
    ]


def seed_references(seed_dir: Path, out_dir: Path) -> None:
    """References for the seed PMML files on every row of the seed CSV (`;`, no header)."""
    rows = pd.read_csv(seed_dir / "winequality_red.csv", sep=";", header=None, names=FEATURES + [TARGET])
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "seed.csv"
        rows.to_csv(inputs, index=False)
        for name in SEED_MODELS:
            score_with_jpmml(seed_dir / f"{name}.pmml", inputs, out_dir / f"{name}.expected.csv")
            print(f"seed/{name}: {len(rows)} rows scored", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "data" / "winequality-red.csv")
    parser.add_argument("--seed-dir", type=Path, default=Path(os.environ.get("MODELSERVER_ORIGINAL_DIR", REPO / "target" / "original")))
    parser.add_argument("--out", type=Path, default=REPO / "data" / "pmml")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    build_jpmml()

    wine = pd.read_csv(args.data)
    wine[LEVEL] = alcohol_level(wine["alcohol"])
    train, test = train_test_split(wine, test_size=TEST_ROWS, random_state=7)
    train_missing = blank_cells(train, FEATURES[:6] + [LEVEL], share=0.05, seed=11)
    test_missing = blank_cells(test, FEATURES + [LEVEL], share=0.1, seed=13)
    test.to_csv(args.out / "wine_test.csv", index=False)
    test_missing.to_csv(args.out / "wine_test_missing.csv", index=False)

    for name, pipeline, frame, columns, test_file, *target in fixtures(train, train_missing):
        labels = (frame[TARGET] >= 6).astype(int).rename(GOOD) if target else frame[TARGET]
        pipeline.fit(frame[columns], labels)
        model = args.out / f"{name}.pmml"
        sklearn2pmml(pipeline, str(model))
        score_with_jpmml(model, args.out / test_file, args.out / f"{name}.expected.csv")
        print(f"{name}: {model.stat().st_size} bytes, scored {test_file}", file=sys.stderr)

    handmade = args.out / "handmade"
    for name in handmade_pmml.write(handmade):
        score_with_jpmml(handmade / f"{name}.pmml", handmade / "inputs.csv", handmade / f"{name}.expected.csv")
        print(f"handmade/{name}: scored", file=sys.stderr)

    if args.seed_dir.is_dir():
        seed_references(args.seed_dir, args.out / "seed")
    else:
        print(f"no seed directory at {args.seed_dir}; seed references not regenerated", file=sys.stderr)


if __name__ == "__main__":
    main()
