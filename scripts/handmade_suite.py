#!/usr/bin/env python3
"""Hand-written documents of the converter suite (scripts/train_pmml_suite.py): the features that
converters write in ways hard to provoke on demand, each in the form the converters use it
(sklearn2pmml's prefixed InlineTable cells, R's TRUE/FALSE booleans, a boolean split at 0.5,
user-defined functions, model chains whose last segment does not always run), and the rows they
are scored on (mixed.csv).

Usable alone: python3 scripts/handmade_suite.py data/pmml/suite
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<PMML xmlns="http://www.dmg.org/PMML-4_4" xmlns:data="http://jpmml.org/jpmml-model/InlineTable" version="4.4">'

DICTIONARY = """<DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="z" optype="continuous" dataType="double"/>
    <DataField name="colour" optype="categorical" dataType="string"><Value value="red"/><Value value="green"/><Value value="blue"/></DataField>
    <DataField name="flag" optype="categorical" dataType="boolean"><Value value="false"/><Value value="true"/></DataField>
    {target}
  </DataDictionary>"""

REGRESSION = '<DataField name="y" optype="continuous" dataType="double"/>'
SCHEMA = """<MiningSchema>
      <MiningField name="x"/><MiningField name="z"/><MiningField name="colour" invalidValueTreatment="asMissing"/><MiningField name="flag"/>
      <MiningField name="y" usageType="target"/>
    </MiningSchema>"""


def document(body: str, transformations: str = "", target: str = REGRESSION) -> str:
    return f"{HEAD}\n  <Header description=\"hand-made suite document\"/>\n  {DICTIONARY.format(target=target)}\n  {transformations}\n  {body}\n</PMML>\n"


def define_function() -> str:
    """DefineFunctions (with typed parameters, a call of another function, mapMissingTo and
    defaultValue on calls) used by derived fields and an output field."""
    functions = """<TransformationDictionary>
    <DefineFunction name="scale" optype="continuous" dataType="double">
      <ParameterField name="v" dataType="double"/><ParameterField name="lo"/><ParameterField name="hi"/>
      <Apply function="/"><Apply function="-"><FieldRef field="v"/><FieldRef field="lo"/></Apply><Apply function="-"><FieldRef field="hi"/><FieldRef field="lo"/></Apply></Apply>
    </DefineFunction>
    <DefineFunction name="boost" optype="continuous" dataType="double">
      <ParameterField name="on" dataType="boolean"/><ParameterField name="v" dataType="double"/>
      <Apply function="if"><FieldRef field="on"/><Apply function="*"><Apply function="scale"><FieldRef field="v"/><Constant dataType="double">-1</Constant><Constant dataType="double">3</Constant></Apply><Constant dataType="double">2</Constant></Apply><FieldRef field="v"/></Apply>
    </DefineFunction>
    <DefineFunction name="label" optype="categorical" dataType="string">
      <ParameterField name="c" dataType="string"/>
      <Apply function="concat"><Constant dataType="string">c_</Constant><FieldRef field="c"/></Apply>
    </DefineFunction>
    <DerivedField name="scaled_x" optype="continuous" dataType="double"><Apply function="scale" mapMissingTo="-7"><FieldRef field="x"/><Constant>0</Constant><Constant>10</Constant></Apply></DerivedField>
    <DerivedField name="boosted" optype="continuous" dataType="double"><Apply function="boost" mapMissingTo="0.125" defaultValue="0.25"><FieldRef field="flag"/><FieldRef field="z"/></Apply></DerivedField>
    <DerivedField name="colour_label" optype="categorical" dataType="string"><Apply function="label" mapMissingTo="c_none"><FieldRef field="colour"/></Apply></DerivedField>
  </TransformationDictionary>"""
    body = f"""<RegressionModel functionName="regression">
    {SCHEMA}
    <Output>
      <OutputField name="prediction" optype="continuous" dataType="double" feature="predictedValue"/>
      <OutputField name="rescaled" optype="continuous" dataType="double" feature="transformedValue"><Apply function="scale"><FieldRef field="prediction"/><Constant>-5</Constant><Constant>5</Constant></Apply></OutputField>
      <OutputField name="which" optype="categorical" dataType="string" feature="transformedValue"><FieldRef field="colour_label"/></OutputField>
    </Output>
    <RegressionTable intercept="0.5">
      <NumericPredictor name="scaled_x" coefficient="1.5"/><NumericPredictor name="boosted" coefficient="-0.75"/>
      <CategoricalPredictor name="colour_label" value="c_red" coefficient="2"/><CategoricalPredictor name="colour_label" value="c_none" coefficient="-3"/>
    </RegressionTable>
  </RegressionModel>"""
    return document(body, functions)


def inline_table_prefix() -> str:
    """MapValues and an InlineTable with cells in sklearn2pmml's `data:` namespace."""
    rows = "".join(f"<row><data:input>{c}</data:input><data:output>{v}</data:output></row>" for c, v in [("red", 1.5), ("green", -2), ("blue", 4)])
    transformations = f"""<TransformationDictionary>
    <DerivedField name="code" optype="continuous" dataType="double"><MapValues outputColumn="data:output" defaultValue="0" mapMissingTo="-1"><FieldColumnPair field="colour" column="data:input"/><InlineTable>{rows}</InlineTable></MapValues></DerivedField>
  </TransformationDictionary>"""
    body = f"""<RegressionModel functionName="regression">
    {SCHEMA}
    <RegressionTable intercept="1"><NumericPredictor name="code" coefficient="2"/><NumericPredictor name="x" coefficient="0.5"/></RegressionTable>
  </RegressionModel>"""
    return document(body, transformations)


def boolean_features() -> str:
    """A boolean field in numeric contexts: a coefficient, a split at 0.5, a boolean function
    with mapMissingTo read as a number."""
    transformations = """<TransformationDictionary>
    <DerivedField name="big" optype="categorical" dataType="boolean"><Apply function="greaterThan" mapMissingTo="0"><FieldRef field="x"/><Constant>5</Constant></Apply></DerivedField>
    <DerivedField name="both" optype="continuous" dataType="double"><Apply function="if"><FieldRef field="big"/><Constant dataType="double">1.5</Constant><Constant dataType="double">-0.5</Constant></Apply></DerivedField>
  </TransformationDictionary>"""
    tree = """<TreeModel functionName="regression" missingValueStrategy="nullPrediction">
          <MiningSchema><MiningField name="flag"/><MiningField name="z"/><MiningField name="y" usageType="target"/></MiningSchema>
          <Node score="0"><True/>
            <Node score="-1.5"><SimplePredicate field="flag" operator="lessOrEqual" value="0.5"/></Node>
            <Node score="2.5"><SimplePredicate field="z" operator="greaterThan" value="0"/></Node>
            <Node score="4"><True/></Node>
          </Node>
        </TreeModel>"""
    regression = """<RegressionModel functionName="regression">
          <MiningSchema><MiningField name="flag"/><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
          <RegressionTable intercept="0.5"><NumericPredictor name="flag" coefficient="3"/><NumericPredictor name="both" coefficient="-2"/><NumericPredictor name="big" coefficient="0.25"/></RegressionTable>
        </RegressionModel>"""
    body = f"""<MiningModel functionName="regression">
    {SCHEMA}
    <Segmentation multipleModelMethod="sum">
      <Segment id="tree"><True/>{tree}</Segment>
      <Segment id="linear"><True/>{regression}</Segment>
    </Segmentation>
  </MiningModel>"""
    return document(body, transformations)


def chain(last_declares_target: bool, first_declares_target: bool) -> str:
    """A model chain whose last segment runs only for positive x: the chain's result is the last
    segment run's, if that segment gives the chain's target."""
    first_target = '<MiningField name="y" usageType="target"/>' if first_declares_target else ""
    last_target = '<MiningField name="y" usageType="target"/>' if last_declares_target else ""
    body = f"""<MiningModel functionName="regression">
    {SCHEMA}
    <Segmentation multipleModelMethod="modelChain">
      <Segment id="first"><True/>
        <RegressionModel functionName="regression">
          <MiningSchema><MiningField name="z" missingValueReplacement="0.5"/><MiningField name="flag" missingValueReplacement="false"/>{first_target}</MiningSchema>
          <Output><OutputField name="first" optype="continuous" dataType="double" feature="predictedValue"/></Output>
          <RegressionTable intercept="1"><NumericPredictor name="z" coefficient="0.5"/><NumericPredictor name="flag" coefficient="2"/></RegressionTable>
        </RegressionModel>
      </Segment>
      <Segment id="last"><SimplePredicate field="x" operator="greaterThan" value="0"/>
        <TreeModel functionName="regression">
          <MiningSchema><MiningField name="first"/><MiningField name="colour"/>{last_target}</MiningSchema>
          <Output><OutputField name="final" optype="continuous" dataType="double" feature="predictedValue"/></Output>
          <Node score="0"><True/>
            <Node score="5"><SimplePredicate field="first" operator="lessThan" value="1"/></Node>
            <Node score="7"><SimpleSetPredicate field="colour" booleanOperator="isIn"><Array type="string">red blue</Array></SimpleSetPredicate></Node>
            <Node score="9"><True/></Node>
          </Node>
        </TreeModel>
      </Segment>
    </Segmentation>
  </MiningModel>"""
    return document(body)


CLASSES = '<DataField name="y" optype="categorical" dataType="string"><Value value="a"/><Value value="b"/><Value value="c"/></DataField>'


def scorecard(algorithm: str) -> str:
    """A scorecard with fixed and computed partial scores and reason codes (ranked outputs)."""
    body = f"""<Scorecard functionName="regression" useReasonCodes="true" reasonCodeAlgorithm="{algorithm}" initialScore="10" baselineScore="2">
    {SCHEMA.replace('<MiningField name="x"/>', '<MiningField name="x" missingValueReplacement="1"/>').replace('<MiningField name="z"/>', '<MiningField name="z" missingValueReplacement="0"/>')}
    <Output>
      <OutputField name="score" optype="continuous" dataType="double" feature="predictedValue"/>
      <OutputField name="reason 1" optype="categorical" dataType="string" feature="reasonCode"/>
      <OutputField name="reason 2" optype="categorical" dataType="string" feature="reasonCode" rank="2"/>
      <OutputField name="reason 3" optype="categorical" dataType="string" feature="reasonCode" rank="3"/>
    </Output>
    <Characteristics>
      <Characteristic name="x bins" reasonCode="RX" baselineScore="4">
        <Attribute partialScore="-2"><SimplePredicate field="x" operator="lessThan" value="0"/></Attribute>
        <Attribute partialScore="3" reasonCode="RX_MID"><SimplePredicate field="x" operator="lessOrEqual" value="6"/></Attribute>
        <Attribute partialScore="8"><True/></Attribute>
      </Characteristic>
      <Characteristic name="colour" reasonCode="RC">
        <Attribute partialScore="5"><SimpleSetPredicate field="colour" booleanOperator="isIn"><Array type="string">red blue</Array></SimpleSetPredicate></Attribute>
        <Attribute partialScore="1"><SimplePredicate field="colour" operator="equal" value="green"/></Attribute>
        <Attribute partialScore="0"><SimplePredicate field="colour" operator="isMissing"/></Attribute>
      </Characteristic>
      <Characteristic name="z" reasonCode="RZ" baselineScore="0">
        <Attribute reasonCode="RZ_NEG"><SimplePredicate field="z" operator="lessThan" value="0"/><ComplexPartialScore><Apply function="*"><FieldRef field="z"/><Constant>1.5</Constant></Apply></ComplexPartialScore></Attribute>
        <Attribute><True/><ComplexPartialScore><Apply function="-"><Constant>1</Constant><FieldRef field="z"/></Apply></ComplexPartialScore></Attribute>
      </Characteristic>
      <Characteristic name="flag" reasonCode="RX" baselineScore="1">
        <Attribute partialScore="2"><SimplePredicate field="flag" operator="equal" value="true"/></Attribute>
        <Attribute partialScore="-1"><True/></Attribute>
      </Characteristic>
    </Characteristics>
  </Scorecard>"""
    return document(body)


def rule_set(criterion: str) -> str:
    """Simple and compound rules, combined by `criterion`, with confidence and rule id outputs."""
    rules = """<SimpleRule id="low x" score="a" recordCount="10" nbCorrect="8" confidence="0.8" weight="0.5"><SimplePredicate field="x" operator="lessThan" value="2"/></SimpleRule>
      <CompoundRule><SimplePredicate field="colour" operator="equal" value="red"/>
        <SimpleRule id="red big z" score="b" confidence="0.7" weight="0.9"><SimplePredicate field="z" operator="greaterThan" value="0.5"/></SimpleRule>
        <SimpleRule id="red" score="c" confidence="0.55" weight="0.6"><True/></SimpleRule>
      </CompoundRule>
      <SimpleRule score="b" confidence="0.6" weight="0.4"><CompoundPredicate booleanOperator="and"><SimplePredicate field="flag" operator="equal" value="true"/><SimplePredicate field="x" operator="greaterOrEqual" value="5"/></CompoundPredicate></SimpleRule>
      <SimpleRule id="blue" score="a" confidence="0.65" weight="0.7"><SimplePredicate field="colour" operator="equal" value="blue"/></SimpleRule>
      <SimpleRule id="high z" score="c" confidence="0.9" weight="0.3"><SimplePredicate field="z" operator="greaterThan" value="2"/></SimpleRule>"""
    body = f"""<RuleSetModel functionName="classification">
    {SCHEMA}
    <Output>
      <OutputField name="class" optype="categorical" dataType="string" feature="predictedValue"/>
      <OutputField name="rule" optype="categorical" dataType="string" feature="entityId"/>
      <OutputField name="confidence" optype="continuous" dataType="double" feature="confidence"/>
      <OutputField name="confidence c" optype="continuous" dataType="double" feature="confidence" value="c"/>
    </Output>
    <RuleSet defaultScore="b" defaultConfidence="0.25">
      <RuleSelectionMethod criterion="{criterion}"/>
      {rules}
    </RuleSet>
  </RuleSetModel>"""
    return document(body, target=CLASSES)


def naive_bayes_counts() -> str:
    """Naive Bayes over a category (pair counts, a zero count) and a number (Gaussian)."""
    def counts(values: tuple[int, int, int]) -> str:
        return "".join(f'<TargetValueCount value="{c}" count="{n}"/>' for c, n in zip("abc", values))
    pairs = {"red": (10, 2, 0), "green": (3, 12, 5), "blue": (1, 4, 9)}
    body = f"""<NaiveBayesModel functionName="classification" threshold="0.001">
    {SCHEMA}
    <Output>
      <OutputField name="p(a)" optype="continuous" dataType="double" feature="probability" value="a"/>
      <OutputField name="p" optype="continuous" dataType="double" feature="probability"/>
    </Output>
    <BayesInputs>
      <BayesInput fieldName="colour">{"".join(f'<PairCounts value="{v}"><TargetValueCounts>{counts(n)}</TargetValueCounts></PairCounts>' for v, n in pairs.items())}</BayesInput>
      <BayesInput fieldName="x"><TargetValueStats>
        <TargetValueStat value="a"><GaussianDistribution mean="1" variance="4"/></TargetValueStat>
        <TargetValueStat value="b"><GaussianDistribution mean="5" variance="2.5"/></TargetValueStat>
        <TargetValueStat value="c"><GaussianDistribution mean="9" variance="6"/></TargetValueStat>
      </TargetValueStats></BayesInput>
    </BayesInputs>
    <BayesOutput fieldName="y"><TargetValueCounts>{counts((14, 18, 14))}</TargetValueCounts></BayesOutput>
  </NaiveBayesModel>"""
    return document(body, target=CLASSES)


def clustering(measure: str) -> str:
    """Clusters over numbers (one weighted, one compared by delta), with missing values."""
    clusters = [("north", "1 2 0"), ("south", "6 -1 1"), ("east", "9 1.5 1")]
    body = f"""<ClusteringModel functionName="clustering" modelClass="centerBased" numberOfClusters="3">
    {SCHEMA.replace('<MiningField name="y" usageType="target"/>', '')}
    <Output>
      <OutputField name="cluster" optype="categorical" dataType="string" feature="predictedValue"/>
      <OutputField name="index" optype="categorical" dataType="string" feature="clusterId"/>
      <OutputField name="second" optype="categorical" dataType="string" feature="entityId" rank="2"/>
      <OutputField name="second distance" optype="continuous" dataType="double" feature="affinity" rank="2"/>
      <OutputField name="to east" optype="continuous" dataType="double" feature="clusterAffinity" value="east"/>
    </Output>
    <ComparisonMeasure kind="distance">{measure}</ComparisonMeasure>
    <ClusteringField field="x" compareFunction="absDiff"/>
    <ClusteringField field="z" fieldWeight="2.5"/>
    <ClusteringField field="flag" compareFunction="delta" fieldWeight="3"/>
    {"".join(f'<Cluster id="{i}" name="{i}"><Array n="3" type="real">{c}</Array></Cluster>' for i, c in clusters)}
  </ClusteringModel>"""
    return document(body)


def association() -> str:
    """Association rules over items of the record's fields (categories, a boolean, a derived
    flag), reported through ruleValue outputs with every algorithm, rank basis and order."""
    outputs = [
        ("top consequent", 'ruleFeature="consequent"'),
        ("second rule", 'ruleFeature="rule" rank="2"'),
        ("top id", 'ruleFeature="ruleId"'),
        ("top confidence", 'ruleFeature="confidence"'),
        ("recommended", 'ruleFeature="consequent" algorithm="recommendation"'),
        ("recommended antecedent", 'ruleFeature="antecedent" algorithm="recommendation" rank="2"'),
        ("association lift", 'ruleFeature="lift" algorithm="ruleAssociation" rankBasis="lift"'),
        ("least support", 'ruleFeature="support" algorithm="recommendation" rankBasis="support" rankOrder="ascending"'),
        ("leverage", 'ruleFeature="leverage" algorithm="recommendation" rankBasis="leverage"'),
    ]
    fields = "".join(
        f'<OutputField name="{name}" optype="categorical" dataType="string" feature="ruleValue" {extra}/>'
        if "consequent" in extra or "rule\"" in extra or "ruleId" in extra or "antecedent" in extra
        else f'<OutputField name="{name}" optype="continuous" dataType="double" feature="ruleValue" {extra}/>'
        for name, extra in outputs
    )
    items = [("1", 'value="colour=red"'), ("2", 'value="colour=blue"'), ("3", 'value="flag"'),
             ("4", 'value="big"'), ("5", 'value="green" field="colour" category="green"')]
    itemsets = {"a": ["1"], "b": ["3"], "c": ["1", "3"], "d": ["4"], "e": ["2"], "f": ["5", "4"], "g": ["5"]}
    rules = [
        ('id="r1" antecedent="a" consequent="b" support="0.3" confidence="0.6" lift="1.2" leverage="0.05"'),
        ('id="r2" antecedent="b" consequent="d" support="0.2" confidence="0.5" lift="1.5" leverage="0.04"'),
        ('antecedent="c" consequent="d" support="0.15" confidence="0.7" lift="1.1" leverage="0.01"'),
        ('id="r4" antecedent="e" consequent="f" support="0.12" confidence="0.4" lift="2.0" leverage="0.06"'),
        ('id="r5" antecedent="d" consequent="a" support="0.25" confidence="0.6" lift="1.3" leverage="0.03"'),
        ('id="r6" antecedent="g" consequent="b" support="0.18" confidence="0.45" lift="0.9" leverage="0.02"'),
    ]
    body = f"""<AssociationModel functionName="associationRules" numberOfTransactions="100" minimumSupport="0.1" minimumConfidence="0.3" numberOfItems="5" numberOfItemsets="7" numberOfRules="6">
    <MiningSchema><MiningField name="x"/><MiningField name="colour" invalidValueTreatment="asMissing"/><MiningField name="flag"/></MiningSchema>
    <Output>{fields}</Output>
    <LocalTransformations>
      <DerivedField name="big" optype="categorical" dataType="boolean"><Apply function="greaterThan" mapMissingTo="0"><FieldRef field="x"/><Constant>5</Constant></Apply></DerivedField>
    </LocalTransformations>
    {"".join(f'<Item id="{i}" {attrs}/>' for i, attrs in items)}
    {"".join(f'<Itemset id="{i}">' + "".join(f'<ItemRef itemRef="{r}"/>' for r in refs) + "</Itemset>" for i, refs in itemsets.items())}
    {"".join(f"<AssociationRule {r}/>" for r in rules)}
  </AssociationModel>"""
    return document(body)


DATES_DICTIONARY = """<DataDictionary>
    <DataField name="day" optype="continuous" dataType="date"/>
    <DataField name="stamp" optype="continuous" dataType="dateTime"/>
    <DataField name="clock" optype="continuous" dataType="time"/>
    <DataField name="days 1960" optype="continuous" dataType="dateDaysSince[1960]"/>
    <DataField name="seconds 1970" optype="continuous" dataType="dateTimeSecondsSince[1970]"/>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>"""


def dates() -> str:
    """Date, time and dateTime fields, the counting types, the three date functions, and
    predicates comparing dates, as sklearn2pmml's date transformers and R's exports use them."""
    derived = """<LocalTransformations>
      <DerivedField name="days since 1960" optype="continuous" dataType="integer"><Apply function="dateDaysSinceYear" mapMissingTo="-1"><FieldRef field="day"/><Constant dataType="integer">1960</Constant></Apply></DerivedField>
      <DerivedField name="stamp days" optype="continuous" dataType="integer"><Apply function="dateDaysSinceYear" mapMissingTo="-1"><FieldRef field="stamp"/><Constant dataType="integer">2000</Constant></Apply></DerivedField>
      <DerivedField name="seconds since 2000" optype="continuous" dataType="integer"><Apply function="dateSecondsSinceYear" mapMissingTo="-1"><FieldRef field="stamp"/><Constant dataType="integer">2000</Constant></Apply></DerivedField>
      <DerivedField name="clock seconds" optype="continuous" dataType="integer"><Apply function="dateSecondsSinceMidnight" mapMissingTo="-1"><FieldRef field="clock"/></Apply></DerivedField>
      <DerivedField name="stamp seconds" optype="continuous" dataType="integer"><Apply function="dateSecondsSinceMidnight" mapMissingTo="-1"><FieldRef field="stamp"/></Apply></DerivedField>
    </LocalTransformations>"""
    schema = """<MiningSchema>
      <MiningField name="day"/><MiningField name="stamp"/><MiningField name="clock"/><MiningField name="days 1960"/><MiningField name="seconds 1970"/>
      <MiningField name="y" usageType="target"/>
    </MiningSchema>"""
    outputs = "".join(
        f'<OutputField name="{name} out" optype="continuous" dataType="double" feature="transformedValue"><FieldRef field="{name}"/></OutputField>'
        for name in ["days since 1960", "stamp days", "seconds since 2000", "clock seconds", "stamp seconds"]
    )
    regression = f"""<RegressionModel functionName="regression">
          {schema}
          <Output>{outputs}</Output>
          {derived}
          <RegressionTable intercept="1">
            <NumericPredictor name="days since 1960" coefficient="0.001"/><NumericPredictor name="stamp days" coefficient="-0.002"/>
            <NumericPredictor name="seconds since 2000" coefficient="1E-9"/>
            <NumericPredictor name="clock seconds" coefficient="1E-5"/><NumericPredictor name="stamp seconds" coefficient="-2E-5"/>
            <NumericPredictor name="days 1960" coefficient="0.0005"/><NumericPredictor name="seconds 1970" coefficient="1E-10"/>
          </RegressionTable>
        </RegressionModel>"""
    tree = f"""<TreeModel functionName="regression">
          {schema}
          <Node score="0"><True/>
            <Node score="3"><SimplePredicate field="day" operator="greaterThan" value="2010-06-01"/></Node>
            <Node score="-2"><SimplePredicate field="stamp" operator="lessOrEqual" value="1999-12-31T23:59:59"/></Node>
            <Node score="5"><SimplePredicate field="clock" operator="greaterOrEqual" value="12:00:00"/></Node>
            <Node score="1"><True/></Node>
          </Node>
        </TreeModel>"""
    body = f"""<MiningModel functionName="regression">
    {schema}
    <Segmentation multipleModelMethod="sum">
      <Segment id="regression"><True/>{regression}</Segment>
      <Segment id="tree"><True/>{tree}</Segment>
    </Segmentation>
  </MiningModel>"""
    return f"{HEAD}\n  {DATES_DICTIONARY}\n  {body}\n</PMML>\n"


def date_rows(count: int, seed: int) -> list[dict[str, str]]:
    """Dates, moments and times around 2000-2020, some before 1970, with blanks."""
    rng = random.Random(seed)

    def maybe(value: str) -> str:
        return "" if rng.random() < 0.05 else value

    def day() -> str:
        return f"{rng.randint(1955, 2024):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"

    def clock() -> str:
        return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"

    return [
        {
            "day": maybe(day()),
            "stamp": maybe(f"{day()}T{clock()}"),
            "clock": maybe(clock()),
            "days 1960": maybe(day()),
            "seconds 1970": maybe(f"{day()}T{clock()}"),
        }
        for _ in range(count)
    ]


DOCUMENTS = {
    "define_function": define_function,
    "inline_table_prefix": inline_table_prefix,
    "boolean_features": boolean_features,
    "chain_last_segment_skipped": lambda: chain(True, True),
    "chain_last_target_undeclared": lambda: chain(False, True),
    "scorecard_points_below": lambda: scorecard("pointsBelow"),
    "scorecard_points_above": lambda: scorecard("pointsAbove"),
    "rule_set_first_hit": lambda: rule_set("firstHit"),
    "rule_set_weighted_sum": lambda: rule_set("weightedSum"),
    "rule_set_weighted_max": lambda: rule_set("weightedMax"),
    "naive_bayes_counts": naive_bayes_counts,
    "clustering_euclidean": lambda: clustering("<euclidean/>"),
    "clustering_city_block": lambda: clustering("<cityBlock/>"),
    "clustering_chebychev": lambda: clustering("<chebychev/>"),
    "clustering_minkowski": lambda: clustering('<minkowski p-parameter="3"/>'),
    "association_rules": association,
}

BOOLEANS = ["TRUE", "FALSE", "true", "false", "1", "0"]


def mixed_rows(count: int, seed: int) -> list[dict[str, str]]:
    """Rows with numbers, categories (some unknown), booleans written several ways, and blanks."""
    rng = random.Random(seed)

    def maybe(value: str, share: float = 0.06) -> str:
        return "" if rng.random() < share else value

    return [
        {
            "x": maybe(f"{rng.uniform(-4, 12):.3f}"),
            "z": maybe(f"{rng.gauss(0, 2):.3f}"),
            "colour": maybe(rng.choice(["red", "green", "blue", "purple"])),
            "flag": maybe(rng.choice(BOOLEANS)),
        }
        for _ in range(count)
    ]


def write(out: Path) -> list[tuple[str, str]]:
    """Writes every document, mixed.csv and dates.csv; returns (document, input file) pairs."""
    out.mkdir(parents=True, exist_ok=True)
    for name, build in DOCUMENTS.items():
        (out / f"{name}.pmml").write_text(build())
    (out / "dates.pmml").write_text(dates())
    with open(out / "mixed.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["x", "z", "colour", "flag"])
        writer.writeheader()
        writer.writerows(mixed_rows(300, seed=17))
    with open(out / "dates.csv", "w", newline="") as handle:
        rows = date_rows(300, seed=23)
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return [(name, "mixed.csv") for name in DOCUMENTS] + [("dates", "dates.csv")]


if __name__ == "__main__":
    for name, _ in write(Path(sys.argv[1] if len(sys.argv) > 1 else "data/pmml/suite")):
        print(name)
