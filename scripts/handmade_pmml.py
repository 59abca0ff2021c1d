#!/usr/bin/env python3
"""Writes small hand-made PMML documents that exercise the parts of PMML the trained fixtures do
not reach (transformations and built-in functions, tree missing-value strategies, predicates,
regression normalizations, GeneralRegressionModel variants, neural activations, segmentation
methods), plus the input rows they are scored on (with missing, invalid and string values).

Called by train_pmml.py, which scores every document with JPMML-Evaluator; usable alone:
    python3 scripts/handmade_pmml.py data/pmml/handmade
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

NS = "http://www.dmg.org/PMML-4_4"


def dictionary(target: str) -> str:
    """The DataDictionary shared by every document; `target` is the y field's definition."""
    return f"""<DataDictionary>
    <DataField name="x1" optype="continuous" dataType="double"><Interval closure="closedClosed" leftMargin="-10" rightMargin="100"/></DataField>
    <DataField name="x2" optype="continuous" dataType="double"/>
    <DataField name="x3" optype="continuous" dataType="integer"/>
    <DataField name="color" optype="categorical" dataType="string">
      <Value value="red"/><Value value="green"/><Value value="blue"/><Value value="NA" property="missing"/>
    </DataField>
    {target}
  </DataDictionary>"""


REGRESSION_TARGET = '<DataField name="y" optype="continuous" dataType="double"/>'
CLASS_TARGET = '<DataField name="y" optype="categorical" dataType="string"><Value value="a"/><Value value="b"/><Value value="c"/></DataField>'
BINARY_TARGET = '<DataField name="y" optype="categorical" dataType="string"><Value value="yes"/><Value value="no"/></DataField>'
ORDINAL_TARGET = '<DataField name="y" optype="ordinal" dataType="string"><Value value="low"/><Value value="mid"/><Value value="high"/></DataField>'


def document(target: str, model: str, transformations: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="{NS}" version="4.4">
  <Header description="hand-made test document"/>
  {dictionary(target)}
  {transformations}
  {model}
</PMML>
"""


def schema(color: str = 'invalidValueTreatment="asMissing"', extra: str = "") -> str:
    return f"""<MiningSchema>
      <MiningField name="x1" invalidValueTreatment="asMissing"/>
      <MiningField name="x2" missingValueReplacement="1.5" outliers="asExtremeValues" lowValue="-5" highValue="5"/>
      <MiningField name="x3" outliers="asMissingValues" lowValue="0" highValue="8"/>
      <MiningField name="color" {color}/>
      <MiningField name="y" usageType="target"/>{extra}
    </MiningSchema>"""


def derived(name: str, expression: str, data_type: str = "double", optype: str = "continuous") -> str:
    return f'<DerivedField name="{name}" optype="{optype}" dataType="{data_type}">{expression}</DerivedField>'


TRANSFORMS = [
    derived("norm_x1", '<NormContinuous field="x1" mapMissingTo="-1"><LinearNorm orig="0" norm="0"/><LinearNorm orig="10" norm="1"/><LinearNorm orig="50" norm="2"/></NormContinuous>'),
    derived("norm_x2", '<NormContinuous field="x2" outliers="asExtremeValues"><LinearNorm orig="-2" norm="-1"/><LinearNorm orig="2" norm="1"/></NormContinuous>'),
    derived("norm_x1_missing", '<Apply function="if" mapMissingTo="7"><Apply function="isMissing"><NormContinuous field="x1" outliers="asMissingValues"><LinearNorm orig="0" norm="0"/><LinearNorm orig="30" norm="1"/></NormContinuous></Apply><Constant dataType="double">1</Constant><Constant dataType="double">0</Constant></Apply>'),
    derived("is_red", '<NormDiscrete field="color" value="red" mapMissingTo="0.5"/>'),
    derived("bin_x1", '<Discretize field="x1" mapMissingTo="0" defaultValue="9" dataType="double"><DiscretizeBin binValue="1"><Interval closure="openClosed" rightMargin="10"/></DiscretizeBin><DiscretizeBin binValue="2"><Interval closure="openClosed" leftMargin="10" rightMargin="30"/></DiscretizeBin></Discretize>'),
    derived("color_code", '<MapValues outputColumn="code" dataType="double" defaultValue="0" mapMissingTo="-1"><FieldColumnPair field="color" column="name"/><InlineTable><row><name>red</name><code>1</code></row><row><name>green</name><code>2</code></row><row><name>blue</name><code>3</code></row></InlineTable></MapValues>'),
    derived("int_division", '<Apply function="if"><Apply function="isMissing"><FieldRef field="x3"/></Apply><Constant dataType="integer">0</Constant><Apply function="/"><Apply function="pow"><FieldRef field="x3"/><Constant>2</Constant></Apply><Constant>3</Constant></Apply></Apply>', "integer"),
    derived("math", '<Apply function="+" mapMissingTo="0"><Apply function="exp"><Apply function="/"><FieldRef field="x2"/><Constant>10</Constant></Apply></Apply><Apply function="+"><Apply function="if"><Apply function="isMissing"><FieldRef field="x1"/></Apply><Constant dataType="double">0</Constant><Apply function="ln"><Apply function="+"><Apply function="abs"><FieldRef field="x1"/></Apply><Constant>1</Constant></Apply></Apply></Apply><Apply function="sqrt"><Apply function="abs"><FieldRef field="x2"/></Apply></Apply></Apply></Apply>'),
    derived("log_x1", '<Apply function="if"><Apply function="isMissing"><FieldRef field="x1"/></Apply><Constant dataType="double">1</Constant><Apply function="log10"><Apply function="+"><Apply function="abs"><FieldRef field="x1"/></Apply><Constant>1</Constant></Apply></Apply></Apply>'),
    derived("aggregates", '<Apply function="+"><Apply function="+"><Apply function="threshold"><FieldRef field="x2"/><Constant>0.5</Constant></Apply><Apply function="min"><FieldRef field="x1"/><FieldRef field="x2"/><FieldRef field="x3"/></Apply></Apply><Apply function="+"><Apply function="max"><FieldRef field="x1"/><FieldRef field="x2"/></Apply><Apply function="+"><Apply function="sum"><FieldRef field="x2"/><FieldRef field="x3"/></Apply><Apply function="avg"><FieldRef field="x1"/><FieldRef field="x3"/></Apply></Apply></Apply></Apply>'),
    derived("rounding", '<Apply function="+" mapMissingTo="0"><Apply function="round"><Apply function="*"><FieldRef field="x2"/><Constant>3.3</Constant></Apply></Apply><Apply function="+"><Apply function="floor"><FieldRef field="x2"/></Apply><Apply function="if"><Apply function="isMissing"><FieldRef field="x1"/></Apply><Constant dataType="integer">0</Constant><Apply function="ceil"><FieldRef field="x1"/></Apply></Apply></Apply></Apply>'),
    derived("logic", '<Apply function="if"><Apply function="or"><Apply function="isMissing"><FieldRef field="x1"/></Apply><Apply function="isMissing"><FieldRef field="color"/></Apply></Apply><Constant dataType="double">5</Constant><Apply function="if"><Apply function="and"><Apply function="greaterThan"><FieldRef field="x1"/><Constant>10</Constant></Apply><Apply function="or"><Apply function="equal"><FieldRef field="color"/><Constant>red</Constant></Apply><Apply function="not"><Apply function="lessThan"><FieldRef field="x2"/><Constant>0</Constant></Apply></Apply></Apply></Apply><Constant dataType="double">1</Constant><Constant dataType="double">2</Constant></Apply></Apply>'),
    derived("membership", '<Apply function="if"><Apply function="isIn"><FieldRef field="color"/><Constant>red</Constant><Constant>blue</Constant></Apply><Constant dataType="double">3</Constant><Constant dataType="double">-3</Constant></Apply>'),
    derived("comparisons", '<Apply function="if"><Apply function="or"><Apply function="isMissing"><FieldRef field="x3"/></Apply><Apply function="isMissing"><FieldRef field="x1"/></Apply></Apply><Constant dataType="double">0</Constant><Apply function="if"><Apply function="notEqual"><FieldRef field="x3"/><Constant>4</Constant></Apply><Apply function="if"><Apply function="greaterOrEqual"><FieldRef field="x1"/><FieldRef field="x2"/></Apply><Constant dataType="double">1</Constant><Apply function="if"><Apply function="lessOrEqual"><FieldRef field="x1"/><Constant>0</Constant></Apply><Constant dataType="double">2</Constant><Constant dataType="double">3</Constant></Apply></Apply><Constant dataType="double">4</Constant></Apply></Apply>'),
    derived("text", '<Apply function="if"><Apply function="isMissing"><FieldRef field="color"/></Apply><Constant dataType="string">none</Constant><Apply function="concat"><Apply function="lowercase"><FieldRef field="color"/></Apply><Apply function="uppercase"><Apply function="substring"><FieldRef field="color"/><Constant>1</Constant><Constant>2</Constant></Apply></Apply></Apply></Apply>', "string", "categorical"),
    derived("text_code", '<Apply function="if" mapMissingTo="0"><Apply function="equal"><FieldRef field="text"/><Constant>redRE</Constant></Apply><Constant dataType="double">11</Constant><Apply function="if"><Apply function="isNotMissing"><FieldRef field="color"/></Apply><Constant dataType="double">12</Constant><Constant dataType="double">13</Constant></Apply></Apply>'),
    derived("trig", '<Apply function="+" mapMissingTo="0"><Apply function="tanh"><FieldRef field="x2"/></Apply><Apply function="atan"><FieldRef field="x2"/></Apply></Apply>'),
]

PREDICTORS = [
    ("norm_x1", 1.1), ("norm_x2", -0.7), ("norm_x1_missing", 0.3), ("is_red", 2.0), ("bin_x1", 0.25),
    ("color_code", 1.5), ("int_division", 0.01), ("math", 0.9), ("log_x1", 1.3), ("aggregates", 0.05),
    ("rounding", 0.2), ("logic", 0.6), ("membership", 0.4), ("comparisons", 0.35), ("text_code", 0.15), ("trig", 0.45),
]


def transformations_model() -> str:
    predictors = "\n      ".join(f'<NumericPredictor name="{name}" coefficient="{c}"/>' for name, c in PREDICTORS)
    model = f"""<RegressionModel functionName="regression">
    {schema('invalidValueTreatment="asIs"')}
    <LocalTransformations>
      {chr(10).join(TRANSFORMS)}
    </LocalTransformations>
    <RegressionTable intercept="0.5">
      {predictors}
      <NumericPredictor name="x2" exponent="2" coefficient="0.03"/>
      <CategoricalPredictor name="color" value="green" coefficient="0.8"/>
      <CategoricalPredictor name="color" value="blue" coefficient="-0.8"/>
      <PredictorTerm coefficient="0.02"><FieldRef field="x2"/><FieldRef field="norm_x1"/></PredictorTerm>
    </RegressionTable>
  </RegressionModel>"""
    return document(REGRESSION_TARGET, model)


def tree(strategy: str, no_true_child: str, function: str = "classification", extra: str = "") -> str:
    """A small tree with compound, set and missing-aware predicates."""
    def node(score: str, predicate: str, children: str = "", node_id: str = "", default: str = "") -> str:
        distribution = ""
        if function == "classification":
            weights = {"a": (6, 3, 1), "b": (2, 7, 1), "c": (1, 2, 7)}[score]
            distribution = "".join(f'<ScoreDistribution value="{v}" recordCount="{w}"/>' for v, w in zip("abc", weights))
        else:
            score = {"a": "1.5", "b": "2.5", "c": "-4"}[score]
        attrs = f' id="{node_id}"' if node_id else ""
        attrs += f' defaultChild="{default}"' if default else ""
        count = ' recordCount="10"'
        return f'<Node score="{score}"{attrs}{count}>{predicate}{distribution}{children}</Node>'
    leaf_a = node("a", '<SimplePredicate field="x2" operator="lessThan" value="0"/>', node_id="n3")
    leaf_b = node("b", '<SimplePredicate field="x2" operator="greaterOrEqual" value="0"/>', node_id="n4")
    left = node("a", '<CompoundPredicate booleanOperator="surrogate"><SimplePredicate field="x1" operator="lessOrEqual" value="20"/><SimplePredicate field="x3" operator="lessThan" value="4"/></CompoundPredicate>', leaf_a + leaf_b, "n1", "n3")
    set_leaf = node("c", '<SimpleSetPredicate field="color" booleanOperator="isIn"><Array n="2" type="string">red "blue"</Array></SimpleSetPredicate>', node_id="n5")
    xor_leaf = node("b", '<CompoundPredicate booleanOperator="xor"><SimplePredicate field="x3" operator="greaterThan" value="5"/><SimplePredicate field="color" operator="equal" value="green"/></CompoundPredicate>', node_id="n6")
    not_in_leaf = node("a", '<CompoundPredicate booleanOperator="and"><SimpleSetPredicate field="x3" booleanOperator="isNotIn"><Array type="int">1 2 3</Array></SimpleSetPredicate><SimplePredicate field="x2" operator="isNotMissing"/></CompoundPredicate>', node_id="n7")
    right = node("b", '<CompoundPredicate booleanOperator="or"><SimplePredicate field="x1" operator="greaterThan" value="20"/><SimplePredicate field="x1" operator="isMissing"/></CompoundPredicate>', set_leaf + xor_leaf + not_in_leaf, "n2", "n6")
    root = node("c", "<True/>", left + right, "n0", "n1")
    model = f"""<TreeModel functionName="{function}" missingValueStrategy="{strategy}" noTrueChildStrategy="{no_true_child}" splitCharacteristic="multiSplit"{extra}>
    {schema()}
    {root}
  </TreeModel>"""
    target = CLASS_TARGET if function == "classification" else REGRESSION_TARGET
    return document(target, model)


def regression_classifier(method: str, target: str, categories: list[str], ordinal: bool = False) -> str:
    tables = []
    for index, category in enumerate(categories[:-1] if ordinal else categories):
        tables.append(f"""<RegressionTable intercept="{0.3 * index - 0.2}" targetCategory="{category}">
      <NumericPredictor name="x1" coefficient="{0.02 * (index + 1)}"/>
      <NumericPredictor name="x2" coefficient="{-0.1 * (index - 1)}"/>
      <CategoricalPredictor name="color" value="red" coefficient="{0.4 - index * 0.3}"/>
    </RegressionTable>""")
    if ordinal:
        tables.append(f'<RegressionTable intercept="0" targetCategory="{categories[-1]}"/>')
    model = f"""<RegressionModel functionName="classification" normalizationMethod="{method}">
    {schema()}
    {chr(10).join(tables)}
  </RegressionModel>"""
    return document(target, model)


def general_regression(kind: str) -> str:
    factor_cells = '<PPCell value="red" predictorName="color" parameterName="p2"/><PPCell value="green" predictorName="color" parameterName="p3"/>'
    covariate_cells = '<PPCell value="1" predictorName="x1" parameterName="p1"/><PPCell value="2" predictorName="x2" parameterName="p4"/><PPCell value="1" predictorName="x2" parameterName="p5"/><PPCell value="1" predictorName="x1" parameterName="p5"/>'
    lists = """<ParameterList><Parameter name="p0" label="(intercept)"/><Parameter name="p1"/><Parameter name="p2"/><Parameter name="p3"/><Parameter name="p4"/><Parameter name="p5"/></ParameterList>
    <FactorList><Predictor name="color"/></FactorList>
    <CovariateList><Predictor name="x1"/><Predictor name="x2"/></CovariateList>"""
    betas = [0.4, 0.03, -0.5, 0.25, 0.01, -0.004]
    def cells(category: str | None, scale: float) -> str:
        attr = f' targetCategory="{category}"' if category else ""
        return "".join(f'<PCell parameterName="p{i}"{attr} beta="{b * scale}"/>' for i, b in enumerate(betas))
    if kind == "multinomial":
        head = 'modelType="multinomialLogistic" functionName="classification"'
        params, target = cells("a", 1.0) + cells("b", -0.7), CLASS_TARGET
    elif kind == "ordinal":
        head = 'modelType="ordinalMultinomial" functionName="classification" cumulativeLink="logit"'
        params = "".join(f'<PCell parameterName="p{i}" beta="{b}"/>' for i, b in enumerate(betas) if i > 0)
        params += '<PCell parameterName="p0" targetCategory="low" beta="-0.5"/><PCell parameterName="p0" targetCategory="mid" beta="0.8"/>'
        target = ORDINAL_TARGET
    elif kind == "binomial_logit":
        head = 'modelType="generalizedLinear" functionName="classification" linkFunction="logit" targetReferenceCategory="no"'
        params, target = cells(None, 1.0), BINARY_TARGET
    elif kind == "power":
        head = 'modelType="generalizedLinear" functionName="regression" linkFunction="power" linkParameter="0.5" offsetValue="2"'
        params, target = cells(None, 0.3).replace('beta="0.12"', 'beta="1.2"'), REGRESSION_TARGET
    else:
        head = 'modelType="generalizedLinear" functionName="regression" linkFunction="log" offsetVariable="x2" trialsValue="3"'
        params, target = cells(None, 0.5), REGRESSION_TARGET
    model = f"""<GeneralRegressionModel {head}>
    {schema()}
    {lists}
    <PPMatrix>{factor_cells}{covariate_cells}</PPMatrix>
    <ParamMatrix>{params}</ParamMatrix>
  </GeneralRegressionModel>"""
    return document(target, model)


def neural(activations: list[str], normalization: str, function: str) -> str:
    inputs = "".join(
        f'<NeuralInput id="i{k}"><DerivedField optype="continuous" dataType="double">{expr}</DerivedField></NeuralInput>'
        for k, expr in enumerate([
            '<NormContinuous field="x1" mapMissingTo="0"><LinearNorm orig="0" norm="-1"/><LinearNorm orig="50" norm="1"/></NormContinuous>',
            '<FieldRef field="x2"/>',
            '<NormDiscrete field="color" value="green" mapMissingTo="0"/>',
        ])
    )
    layers = []
    previous = [f"i{k}" for k in range(3)]
    for depth, activation in enumerate(activations):
        size = 3 if depth < len(activations) - 1 else (3 if function == "classification" else 1)
        neurons = []
        for n in range(size):
            cons = "".join(f'<Con from="{src}" weight="{0.3 * ((n + j) % 3) - 0.4 + 0.1 * depth}"/>' for j, src in enumerate(previous))
            neurons.append(f'<Neuron id="l{depth}n{n}" bias="{0.05 * n - 0.1}">{cons}</Neuron>')
        norm = f' normalizationMethod="{normalization}"' if depth == len(activations) - 1 else ""
        extra = ' threshold="0.1"' if activation == "threshold" else ""
        extra += ' ' if activation == "rectifier" else ""
        layers.append(f'<NeuralLayer activationFunction="{activation}"{norm}{extra}>{"".join(neurons)}</NeuralLayer>')
        previous = [f"l{depth}n{n}" for n in range(size)]
    last = len(activations) - 1
    if function == "classification":
        outputs = "".join(f'<NeuralOutput outputNeuron="l{last}n{n}"><DerivedField optype="categorical" dataType="string"><NormDiscrete field="y" value="{v}"/></DerivedField></NeuralOutput>' for n, v in enumerate("abc"))
        target = CLASS_TARGET
    else:
        outputs = f'<NeuralOutput outputNeuron="l{last}n0"><DerivedField optype="continuous" dataType="double"><NormContinuous field="y"><LinearNorm orig="0" norm="-5"/><LinearNorm orig="10" norm="5"/></NormContinuous></DerivedField></NeuralOutput>'
        target = REGRESSION_TARGET
    model = f"""<NeuralNetwork functionName="{function}" activationFunction="logistic">
    {schema()}
    <NeuralInputs>{inputs}</NeuralInputs>
    {"".join(layers)}
    <NeuralOutputs>{outputs}</NeuralOutputs>
  </NeuralNetwork>"""
    return document(target, model)


def segment_tree(index: int, function: str) -> str:
    threshold = 5 + 12 * index
    if function == "classification":
        low = '<ScoreDistribution value="a" recordCount="5"/><ScoreDistribution value="b" recordCount="3"/><ScoreDistribution value="c" recordCount="2"/>'
        high = '<ScoreDistribution value="a" recordCount="1"/><ScoreDistribution value="b" recordCount="4"/><ScoreDistribution value="c" recordCount="5"/>'
        scores = ("a", "c") if index % 2 == 0 else ("b", "c")
    else:
        low = high = ""
        scores = (str(1.0 + index), str(-2.5 * index))
    return f"""<TreeModel functionName="{function}" missingValueStrategy="lastPrediction">
          <MiningSchema><MiningField name="x1"/><MiningField name="x2"/><MiningField name="y" usageType="target"/></MiningSchema>
          <Node score="{scores[0]}"><True/>{low}
            <Node score="{scores[0]}"><SimplePredicate field="x1" operator="lessThan" value="{threshold}"/>{low}</Node>
            <Node score="{scores[1]}"><SimplePredicate field="x1" operator="greaterOrEqual" value="{threshold}"/>{high}</Node>
          </Node>
        </TreeModel>"""


def mining(method: str, function: str, predicates: bool = False) -> str:
    segments = []
    for index in range(4):
        predicate = "<True/>"
        if predicates and index < 3:
            predicate = f'<SimplePredicate field="x2" operator="lessThan" value="{index - 1}"/>'
        segments.append(f'<Segment id="s{index}" weight="{1 + index * 0.5}">{predicate}{segment_tree(index, function)}</Segment>')
    target = CLASS_TARGET if function == "classification" else REGRESSION_TARGET
    targets = '<Targets><Target field="y" rescaleFactor="2" rescaleConstant="1" min="-3" max="8" castInteger="round"/></Targets>' if function == "regression" and method == "weightedAverage" else ""
    model = f"""<MiningModel functionName="{function}">
    {schema(extra="")}
    {targets}
    <Segmentation multipleModelMethod="{method}" missingPredictionTreatment="skipSegment">{"".join(segments)}</Segmentation>
  </MiningModel>"""
    return document(target, model)


def model_chain() -> str:
    """A chain: a classifier's probability and a tree's transformed score feed a final regression."""
    classifier = f"""<Segment id="first"><True/>{segment_tree(0, "classification").replace(
        'name="y" usageType', 'name="kind" usageType').replace(
        "<MiningSchema>", '<Output><OutputField name="p_c" optype="continuous" dataType="double" feature="probability" value="c"/>'
        '<OutputField name="label" optype="categorical" dataType="string" feature="predictedValue"/></Output><MiningSchema>', 1)}</Segment>"""
    scorer = f"""<Segment id="second"><True/>{segment_tree(1, "regression").replace(
        '<MiningField name="y" usageType="target"/>', "").replace(
        "<MiningSchema>", '<Output><OutputField name="score" optype="continuous" dataType="double" feature="predictedValue"/>'
        '<OutputField name="scaled" optype="continuous" dataType="double" feature="transformedValue">'
        '<Apply function="*"><FieldRef field="score"/><Constant dataType="double">2</Constant></Apply></OutputField></Output><MiningSchema>', 1)}</Segment>"""
    final = """<Segment id="last"><True/><RegressionModel functionName="regression">
        <MiningSchema><MiningField name="p_c"/><MiningField name="scaled"/><MiningField name="label"/><MiningField name="x2"/><MiningField name="y" usageType="target"/></MiningSchema>
        <RegressionTable intercept="0.25"><NumericPredictor name="p_c" coefficient="3"/><NumericPredictor name="scaled" coefficient="0.5"/>
          <NumericPredictor name="x2" coefficient="-0.2"/><CategoricalPredictor name="label" value="c" coefficient="1.75"/></RegressionTable>
      </RegressionModel></Segment>"""
    model = f"""<MiningModel functionName="regression">
    {schema()}
    <Segmentation multipleModelMethod="modelChain">{classifier}{scorer}{final}</Segmentation>
  </MiningModel>"""
    return document(REGRESSION_TARGET + CLASS_TARGET.replace('name="y"', 'name="kind"'), model)


DOCUMENTS = {
    "transformations": transformations_model,
    "tree_default_child": lambda: tree("defaultChild", "returnNullPrediction"),
    "tree_last_prediction": lambda: tree("lastPrediction", "returnLastPrediction"),
    "tree_null_prediction": lambda: tree("nullPrediction", "returnLastPrediction", "regression"),
    "tree_none": lambda: tree("none", "returnNullPrediction", "regression"),
    "regression_softmax": lambda: regression_classifier("softmax", CLASS_TARGET, ["a", "b", "c"]),
    "regression_simplemax": lambda: regression_classifier("simplemax", CLASS_TARGET, ["a", "b", "c"]),
    "regression_none_multinomial": lambda: regression_classifier("none", CLASS_TARGET, ["a", "b", "c"]),
    "regression_probit_binary": lambda: regression_classifier("probit", BINARY_TARGET, ["yes", "no"]),
    "regression_cloglog_binary": lambda: regression_classifier("cloglog", BINARY_TARGET, ["yes", "no"]),
    "regression_loglog_binary": lambda: regression_classifier("loglog", BINARY_TARGET, ["yes", "no"]),
    "regression_cauchit_binary": lambda: regression_classifier("cauchit", BINARY_TARGET, ["yes", "no"]),
    "regression_ordinal_logit": lambda: regression_classifier("logit", ORDINAL_TARGET, ["low", "mid", "high"], ordinal=True),
    "glm_multinomial": lambda: general_regression("multinomial"),
    "glm_ordinal": lambda: general_regression("ordinal"),
    "glm_binomial_logit": lambda: general_regression("binomial_logit"),
    "glm_power_offset": lambda: general_regression("power"),
    "glm_log_offset_trials": lambda: general_regression("log"),
    "neural_mixed_classifier": lambda: neural(["tanh", "rectifier", "identity"], "softmax", "classification"),
    "neural_exotic_classifier": lambda: neural(["Elliott", "arctan", "Gauss", "logistic"], "simplemax", "classification"),
    "neural_periodic_regression": lambda: neural(["sine", "cosine", "square", "identity"], "none", "regression"),
    "neural_threshold_regression": lambda: neural(["threshold", "exponential", "reciprocal", "identity"], "none", "regression"),
    "mining_majority_vote": lambda: mining("majorityVote", "classification"),
    "mining_weighted_majority_vote": lambda: mining("weightedMajorityVote", "classification", predicates=True),
    "mining_average_classifier": lambda: mining("average", "classification"),
    "mining_weighted_average_classifier": lambda: mining("weightedAverage", "classification"),
    "mining_max_classifier": lambda: mining("max", "classification"),
    "mining_median_classifier": lambda: mining("median", "classification"),
    "mining_select_first": lambda: mining("selectFirst", "classification", predicates=True),
    "mining_weighted_average_targets": lambda: mining("weightedAverage", "regression"),
    "mining_median_regression": lambda: mining("median", "regression", predicates=True),
    "mining_weighted_median": lambda: mining("weightedMedian", "regression", predicates=True),
    "mining_select_all_regression": lambda: mining("selectAll", "regression", predicates=True).replace('missingPredictionTreatment="skipSegment"', 'missingPredictionTreatment="continue"'),
    "mining_select_all_classifier": lambda: mining("selectAll", "classification", predicates=True).replace('missingPredictionTreatment="skipSegment"', 'missingPredictionTreatment="returnMissing"'),
    "mining_weighted_sum": lambda: mining("weightedSum", "regression"),
    "mining_model_chain": model_chain,
}


def inputs(rows: int, seed: int) -> list[dict[str, str]]:
    """Random records with missing cells, out-of-range numbers and unknown categories."""
    rng = random.Random(seed)
    records = []
    for _ in range(rows):
        def maybe(value: str, share: float = 0.08) -> str:
            return "" if rng.random() < share else value
        records.append({
            "x1": maybe(f"{rng.uniform(-20, 70):.3f}"),
            "x2": maybe(f"{rng.gauss(0, 3):.3f}"),
            "x3": maybe(str(rng.randint(-1, 10))),
            "color": maybe(rng.choice(["red", "green", "blue", "NA", "purple"]), 0.05),
        })
    return records


def write(out: Path) -> list[str]:
    """Writes every document and the shared input file; returns the document names."""
    out.mkdir(parents=True, exist_ok=True)
    for name, build in DOCUMENTS.items():
        (out / f"{name}.pmml").write_text(build())
    with open(out / "inputs.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["x1", "x2", "x3", "color"])
        writer.writeheader()
        writer.writerows(inputs(300, seed=5))
    return list(DOCUMENTS)


if __name__ == "__main__":
    print("\n".join(write(Path(sys.argv[1] if len(sys.argv) > 1 else "data/pmml/handmade"))))
