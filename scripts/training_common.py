"""What the training scripts share: the wine feature names, the ONNX operators the server loads,
and the reference scorer JPMML-Evaluator (scripts/jpmml, from Maven Central)."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
JPMML = REPO / "scripts" / "jpmml"

# The wine features in the UCI order, as the wine models name their inputs (src/record/wine.rs).
WINE_FEATURES = [
    "fixed acidity",
    "volatile acidity",
    "citric acid",
    "residual sugar",
    "chlorides",
    "free sulfur dioxide",
    "total sulfur dioxide",
    "density",
    "pH",
    "sulphates",
    "alcohol",
]

# Op types that this server loads: those tract-onnx 0.23.9 registers (taken from
# its src/ops/**), of which only the subset that skl2onnx can emit for these
# models matters, with TreeEnsembleRegressor and TreeEnsembleClassifier
# evaluated by the server's own implementation (src/model/onnx/tree_ensemble/).
# Not available in tract-onnx 0.23: ZipMap (unimplemented) and Scaler.
ONNX_OPS = {
    "Abs", "Add", "ArgMax", "ArgMin", "ArrayFeatureExtractor", "Cast", "CastLike",
    "CategoryMapper", "Clip", "Concat", "Constant", "ConstantOfShape", "Div",
    "Equal", "Exp", "Expand", "Flatten", "Gather", "Gemm", "Greater", "Identity",
    "Less", "LinearClassifier", "LinearRegressor", "Log", "LogSoftmax", "MatMul",
    "Max", "Min", "Mul", "Neg", "Normalizer", "Not", "Reciprocal", "ReduceMax",
    "ReduceSum", "Relu", "Reshape", "Shape", "Sigmoid", "Slice", "Softmax",
    "Sqrt", "Squeeze", "Sub", "Sum", "Tanh", "Transpose", "TreeEnsembleClassifier",
    "TreeEnsembleRegressor", "Unsqueeze", "Where",
}


def build_jpmml() -> None:
    """Compiles the reference scorer and copies its dependencies (JPMML-Evaluator)."""
    subprocess.run(
        ["mvn", "-q", "-f", str(JPMML / "pom.xml"), "package", "dependency:copy-dependencies"],
        check=True,
    )


def score_with_jpmml(model: Path, inputs: Path, output: Path, every_output: bool = False) -> None:
    """Runs JPMML-Evaluator on `inputs`, writing its predictions to `output` (with every target
    and output field when `every_output`)."""
    classpath = f"{JPMML / 'target' / 'classes'}:{JPMML / 'target' / 'dependency'}/*"
    flags = ["--all"] if every_output else []
    subprocess.run(
        ["java", "-cp", classpath, "reference.ReferenceScorer", *flags, str(model), str(inputs), str(output)],
        check=True,
    )
