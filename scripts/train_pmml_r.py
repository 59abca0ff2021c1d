#!/usr/bin/env python3
"""R models for the PMML suite, exported by JPMML-R and scored with JPMML-Evaluator.

scripts/train_pmml_r.R trains them with R (lm, glm binomial and Poisson, rpart, randomForest on R's
iris data) and writes R's own predictions for the complete rows of data/pmml/suite/iris.csv;
JPMML-R (pmml-rexp 1.5.1 from Maven Central, through scripts/converters' RConverter) converts
each saved model to PMML; JPMML-Evaluator scores iris.csv with it (every output field).

Writes into data/pmml/suite/: r_<model>.pmml, r_<model>.expected.csv (JPMML-Evaluator) and
r_<model>.framework.csv (R's predict).
Usage: python3 scripts/train_pmml_r.py
Requires: Rscript with rpart and randomForest (Debian: r-base-core r-cran-rpart
r-cran-randomforest), Java 17 and Maven.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from training_common import build_jpmml, score_with_jpmml

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "data" / "pmml" / "suite"
CONVERTERS = REPO / "scripts" / "converters"
MODELS = ["r_lm", "r_glm_binomial", "r_glm_poisson", "r_rpart", "r_random_forest"]


def main() -> None:
    build_jpmml()
    subprocess.run(
        ["mvn", "-q", "-f", str(CONVERTERS / "pom.xml"), "package", "dependency:copy-dependencies"],
        check=True,
    )
    classpath = f"{CONVERTERS / 'target' / 'pmml-converters-1.0.jar'}:{CONVERTERS / 'target' / 'dependency'}/*"
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(
            ["Rscript", str(REPO / "scripts" / "train_pmml_r.R"), work, str(OUT / "iris.csv")],
            check=True,
        )
        for name in MODELS:
            document = OUT / f"{name}.pmml"
            subprocess.run(
                ["java", "-cp", classpath, "converters.RConverter", f"{work}/{name}.rds", str(document)],
                check=True,
            )
            drop_timestamp(document)
            shutil.copy(f"{work}/{name}.framework.csv", OUT / f"{name}.framework.csv")
            score_with_jpmml(document, OUT / "iris.csv", OUT / f"{name}.expected.csv", every_output=True)
            print(f"{name}: {document.stat().st_size} bytes", file=sys.stderr)


def drop_timestamp(document: Path) -> None:
    """Removes the export time from the Header, so that a rerun gives identical files."""
    lines = document.read_text().splitlines(keepends=True)
    document.write_text("".join(line for line in lines if "<Timestamp>" not in line))


if __name__ == "__main__":
    main()
