#!/usr/bin/env python3
"""Spark ML models for the PMML suite, exported by JPMML-SparkML and scored with JPMML-Evaluator.

Trains Spark ML pipelines (local Spark, one core) on data/winequality-red.csv: a decision tree and
a multinomial logistic regression classifying the quality (as a category), a random forest, a
gradient-boosted trees and a linear regression predicting it as a number; exports each with
pyspark2pmml (JPMML-SparkML 3.4, whose jars the package ships), writes Spark's own predictions
for data/pmml/wine_test.csv, and scores that file with JPMML-Evaluator (every output field).

Writes into data/pmml/suite/: spark_<model>.pmml, .expected.csv (JPMML-Evaluator) and
.framework.csv (Spark's transform).
Usage: python3 scripts/train_pmml_sparkml.py
Requires: scripts/requirements-sparkml.txt in a virtual environment (pyspark 4.2, which
pyspark2pmml 0.12 supports; 4.3 it does not), Java 17 and Maven.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pyspark2pmml
from pyspark.ml import Pipeline
from pyspark.ml.classification import DecisionTreeClassifier, LogisticRegression
from pyspark.ml.feature import StringIndexer, VectorAssembler
from pyspark.ml.regression import GBTRegressor, LinearRegression, RandomForestRegressor
from pyspark.sql import SparkSession

from training_common import build_jpmml, score_with_jpmml

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "data" / "pmml" / "suite"
TRAIN = REPO / "data" / "winequality-red.csv"
TEST = REPO / "data" / "pmml" / "wine_test.csv"
FEATURES = [
    "fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",
    "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates", "alcohol",
]


def read(path: Path, label: bool) -> list[tuple]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        tuple(float(row[name]) for name in FEATURES)
        + ((float(row["quality"]), str(int(float(row["quality"])))) if label else ())
        for row in rows
    ]


def main() -> None:
    build_jpmml()
    spark = (
        SparkSession.builder.master("local[1]")
        .config("spark.jars", pyspark2pmml.spark_jars())
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    train = spark.createDataFrame(read(TRAIN, label=True), FEATURES + ["quality", "grade"])
    test = spark.createDataFrame(read(TEST, label=False), FEATURES)
    assembler = VectorAssembler(inputCols=FEATURES, outputCol="features")
    indexer = StringIndexer(inputCol="grade", outputCol="label", stringOrderType="alphabetAsc")
    models = {
        "spark_decision_tree": (
            [indexer, assembler, DecisionTreeClassifier(labelCol="label", maxDepth=5, seed=1)],
            "grade",
        ),
        "spark_logistic_regression": (
            [indexer, assembler, LogisticRegression(labelCol="label", maxIter=50, regParam=0.01)],
            "grade",
        ),
        "spark_random_forest": (
            [assembler, RandomForestRegressor(labelCol="quality", numTrees=10, maxDepth=5, seed=1)],
            "quality",
        ),
        "spark_gbt": (
            [assembler, GBTRegressor(labelCol="quality", maxIter=10, maxDepth=3, seed=1)],
            "quality",
        ),
        "spark_linear_regression": (
            [assembler, LinearRegression(labelCol="quality", regParam=0.01)],
            "quality",
        ),
    }
    for name, (stages, target) in models.items():
        frame = train.select(*FEATURES, target)
        model = Pipeline(stages=stages).fit(frame)
        document = OUT / f"{name}.pmml"
        pyspark2pmml.PMMLBuilder(frame, model).buildFile(str(document))
        drop_timestamp(document)
        predictions = [row["prediction"] for row in model.transform(test).select("prediction").collect()]
        if target == "grade":
            labels = model.stages[0].labelsArray[0]
            predictions = [labels[int(index)] for index in predictions]
        else:
            predictions = [repr(float(value)) for value in predictions]
        (OUT / f"{name}.framework.csv").write_text("predicted\n" + "\n".join(predictions) + "\n")
        score_with_jpmml(document, TEST, OUT / f"{name}.expected.csv", every_output=True)
        print(f"{name}: {document.stat().st_size} bytes", file=sys.stderr)
    spark.stop()


def drop_timestamp(document: Path) -> None:
    """Removes the export time from the Header, so that a rerun gives identical files."""
    lines = document.read_text().splitlines(keepends=True)
    document.write_text("".join(line for line in lines if "<Timestamp>" not in line))


if __name__ == "__main__":
    main()
