#!/usr/bin/env python3
"""Hand-written TimeSeriesModel documents, scored with JPMML-Evaluator 1.7.7.

JPMML-Evaluator evaluates a TimeSeriesModel only when its bestFit is a StateSpaceModel (its
TimeSeriesModelEvaluator refuses ARIMA, ExponentialSmoothing and the others): the forecast is
M·s + c for the first step, M·(T·s) + c for the next, ...; the forecast horizon is the model's one
supplementary MiningField (1 when it has none or the value is missing), and the target's value is
the first step's forecast. No converter exports such documents (statsmodels' state space models
have no PMML exporter), so they are written here, in the forms PMML 4.4 allows (matrices as rows,
diagonal, symmetric, MatCells with defaults; a scalar intercept or an InterceptVector), and
scored on ts.csv, whose horizons include a missing one and the 0 and -1 JPMML rejects.

Writes into data/pmml/suite/: ts.csv, time_series_*.pmml and their .expected.csv.
Usage: python3 scripts/handmade_time_series.py        (needs Java 17 and Maven)
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from training_common import build_jpmml, score_with_jpmml

OUT = Path(__file__).resolve().parent.parent / "data" / "pmml" / "suite"

HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">'


def document(model: str, horizon: bool = True) -> str:
    schema = '<MiningField name="y" usageType="target"/>'
    if horizon:
        schema += '<MiningField name="h" usageType="supplementary"/>'
    return f"""{HEAD}
  <Header description="hand-made TimeSeriesModel"/>
  <DataDictionary>
    <DataField name="y" optype="continuous" dataType="double"/>
    <DataField name="h" optype="continuous" dataType="integer"/>
  </DataDictionary>
  <TimeSeriesModel modelName="series" functionName="timeSeries" bestFit="StateSpaceModel">
    <MiningSchema>{schema}</MiningSchema>
    <Output>
      <OutputField name="forecast" optype="continuous" dataType="double" feature="predictedValue"/>
      <OutputField name="doubled" optype="continuous" dataType="double" feature="transformedValue">
        <Apply function="*"><FieldRef field="forecast"/><Constant dataType="double">2</Constant></Apply>
      </OutputField>
    </Output>
    {model}
  </TimeSeriesModel>
</PMML>
"""


DOCUMENTS = {
    # A local linear trend (level and slope) and a scalar intercept.
    "time_series_linear_trend": document(
        """<StateSpaceModel intercept="0.5" variance="1.25">
      <StateVector><Array type="real" n="2">10.25 2.125</Array></StateVector>
      <TransitionMatrix><Matrix nbRows="2" nbCols="2"><Array type="real">1 1</Array><Array type="real">0 1</Array></Matrix></TransitionMatrix>
      <MeasurementMatrix><Matrix nbRows="1" nbCols="2"><Array type="real">1 0.5</Array></Matrix></MeasurementMatrix>
    </StateSpaceModel>"""
    ),
    # An InterceptVector, a diagonal transition and three states with awkward decimals.
    "time_series_intercept_vector": document(
        """<StateSpaceModel>
      <StateVector><Array type="real">0.1 -0.7 3.3333333333333335</Array></StateVector>
      <TransitionMatrix><Matrix kind="diagonal"><Array type="real">0.9 0.5 1</Array></Matrix></TransitionMatrix>
      <MeasurementMatrix><Matrix><Array type="real">0.3 1.7 -0.2</Array></Matrix></MeasurementMatrix>
      <InterceptVector><Array type="real">-1.125</Array></InterceptVector>
    </StateSpaceModel>"""
    ),
    # Matrices given by MatCells with defaults, and a symmetric transition.
    "time_series_matrix_cells": document(
        """<StateSpaceModel intercept="-2">
      <StateVector><Array type="real">4 5 6</Array></StateVector>
      <TransitionMatrix><Matrix kind="symmetric"><Array type="real">1</Array><Array type="real">0.5 1</Array><Array type="real">0 0.25 1</Array></Matrix></TransitionMatrix>
      <MeasurementMatrix><Matrix nbRows="1" nbCols="3" offDiagDefault="0.125" diagDefault="1"><MatCell row="1" col="3">-0.75</MatCell></Matrix></MeasurementMatrix>
    </StateSpaceModel>"""
    ),
    # No TransitionMatrix: a horizon of 1 (or a missing one) only.
    "time_series_no_transition": document(
        """<StateSpaceModel>
      <StateVector><Array type="real">7.5</Array></StateVector>
      <MeasurementMatrix><Matrix><Array type="real">1.5</Array></Matrix></MeasurementMatrix>
    </StateSpaceModel>"""
    ),
    # No horizon field: always one step.
    "time_series_no_horizon": document(
        """<StateSpaceModel intercept="0.001">
      <StateVector><Array type="real">1e3 -20</Array></StateVector>
      <MeasurementMatrix><Matrix><Array type="real">0.001 0.05</Array></Matrix></MeasurementMatrix>
    </StateSpaceModel>""",
        horizon=False,
    ),
}

def horizons(count: int, seed: int) -> list[str]:
    """Forecast horizons: mostly 1 to 40, some missing, some 0 or negative (which JPMML rejects)."""
    rng = random.Random(seed)
    values = ["1", "2", "", "0", "-1"]
    while len(values) < count:
        draw = rng.random()
        values.append("" if draw < 0.08 else str(rng.randint(-3, 0)) if draw < 0.14 else str(rng.randint(1, 40)))
    return values


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    build_jpmml()
    rows = [f"{number},{horizon}" for number, horizon in enumerate(horizons(300, seed=29), 1)]
    (OUT / "ts.csv").write_text("row,h\n" + "\n".join(rows) + "\n")
    for name, text in DOCUMENTS.items():
        (OUT / f"{name}.pmml").write_text(text)
        score_with_jpmml(OUT / f"{name}.pmml", OUT / "ts.csv", OUT / f"{name}.expected.csv", every_output=True)
        print(f"{name}: scored ts.csv", file=sys.stderr)


if __name__ == "__main__":
    main()
