//! RegressionModel: linear predictors (numeric with exponents, categorical, interaction terms)
//! and the normalization methods that turn them into a value or class probabilities.

use super::compile::{Compiler, ScopeId};
use super::error::{Error, Result};
use super::eval::Env;
use super::functions::{equal, normal_cdf};
use super::models::{Function, Raw};
use super::target::{winner, Categories};
use super::value::{OpType, Val};
use super::xml::El;

/// How raw linear predictor values become the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalization {
    /// No change.
    None,
    /// Softmax (multinomial) or inverse logit (single value).
    Softmax,
    /// Inverse logit.
    Logit,
    /// Inverse probit.
    Probit,
    /// Inverse complementary log-log.
    Cloglog,
    /// Inverse log-log.
    Loglog,
    /// Inverse Cauchit.
    Cauchit,
    /// Exponential.
    Exp,
    /// Division by the sum.
    Simplemax,
}

impl Normalization {
    /// Reads a `normalizationMethod` attribute.
    pub fn read(element: &El<'_, '_>) -> Result<Self> {
        Ok(
            match element.attr("normalizationMethod").unwrap_or("none") {
                "none" => Normalization::None,
                "softmax" => Normalization::Softmax,
                "logit" => Normalization::Logit,
                "probit" => Normalization::Probit,
                "cloglog" => Normalization::Cloglog,
                "loglog" => Normalization::Loglog,
                "cauchit" => Normalization::Cauchit,
                "exp" => Normalization::Exp,
                "simplemax" => Normalization::Simplemax,
                other => return Err(element.bad_keyword("normalizationMethod", other)),
            },
        )
    }

    /// The inverse link applied to a single value (`None` for methods that need all values).
    pub fn inverse_link(self, x: f64) -> Option<f64> {
        Some(match self {
            Normalization::None => x,
            Normalization::Softmax | Normalization::Logit => 1.0 / (1.0 + (-x).exp()),
            Normalization::Probit => normal_cdf(x),
            Normalization::Cloglog => 1.0 - (-(x.exp())).exp(),
            Normalization::Loglog => (-((-x).exp())).exp(),
            Normalization::Cauchit => 0.5 + (1.0 / std::f64::consts::PI) * x.atan(),
            Normalization::Exp => x.exp(),
            Normalization::Simplemax => return None,
        })
    }
}

/// Softmax in place (shifted by the maximum, as JPMML does).
pub fn softmax(values: &mut [f64]) -> Result<()> {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for value in values.iter_mut() {
        *value = (*value - max).exp();
        sum += *value;
    }
    divide_by_sum(values, sum)
}

/// Division by the sum in place.
pub fn simplemax(values: &mut [f64]) -> Result<()> {
    let sum = values.iter().sum();
    divide_by_sum(values, sum)
}

fn divide_by_sum(values: &mut [f64], sum: f64) -> Result<()> {
    if sum == 1.0 {
        return Ok(());
    }
    if sum == 0.0 {
        return Err(Error::scoring(
            "cannot normalize values that add up to zero",
        ));
    }
    values.iter_mut().for_each(|value| *value /= sum);
    Ok(())
}

#[derive(Clone, Debug)]
struct NumericTerm {
    slot: u32,
    /// The index of the slot in the model's gathered numbers.
    feature: usize,
    exponent: i32,
    coefficient: f64,
}

/// The CategoricalPredictors of one field (consecutive in the table).
#[derive(Clone, Debug)]
struct CategoricalGroup {
    slot: u32,
    cases: Vec<(Val, f64)>,
}

#[derive(Clone, Debug)]
struct InteractionTerm {
    slots: Vec<u32>,
    coefficient: f64,
}

/// A RegressionTable.
#[derive(Clone, Debug)]
struct Table {
    intercept: f64,
    numeric: Vec<NumericTerm>,
    categorical: Vec<CategoricalGroup>,
    interactions: Vec<InteractionTerm>,
    category: usize,
}

/// A compiled RegressionModel.
#[derive(Clone, Debug)]
pub struct RegressionModel {
    function: Function,
    tables: Vec<Table>,
    normalization: Normalization,
    ordinal: bool,
    binary_as_logit: bool,
    /// Whether to compute in 32-bit floats (`x-mathContext="float"`).
    float: bool,
    /// Table values in table order (reused between records).
    values: Vec<f64>,
    /// The slots the tables' numeric terms read, each once, and their values in this record
    /// (reused): read once for all tables.
    features: Vec<u32>,
    numbers: Vec<f64>,
    /// For scoring straight from records of numbers: each feature's direct input position and whether
    /// it is a float field (empty: not prepared).
    positions: Vec<(u32, bool)>,
}

/// Rounds an intermediate result to `f32` when computing in floats. Each `+ - * /` of two `f32`
/// values done in `f64` and rounded once equals the `f32` operation.
#[inline]
fn round(float: bool, x: f64) -> f64 {
    if float {
        f64::from(x as f32)
    } else {
        x
    }
}

/// `exp` as JPMML computes it in float context: `(float) Math.pow(2.7182817, x)`.
fn float_exp(x: f64) -> f64 {
    round(true, 2.718_281_7_f64.powf(x))
}

impl RegressionModel {
    /// Compiles a RegressionModel element.
    pub fn compile(
        c: &mut Compiler<'_, '_>,
        scope: ScopeId,
        element: &El<'_, '_>,
        function: Function,
        categories: Option<&mut Categories>,
        target_op_type: OpType,
        float: bool,
    ) -> Result<RegressionModel> {
        let normalization = Normalization::read(element)?;
        let mut categories = categories;
        let mut tables = Vec::new();
        for table in element.children_named("RegressionTable") {
            let category = match (function, categories.as_deref_mut()) {
                (Function::Classification, Some(categories)) => {
                    categories.index_for(c, table.required("targetCategory")?, &table)?
                }
                _ => 0,
            };
            tables.push(compile_table(c, scope, &table, category)?);
        }
        let features = gather_features(&mut tables);
        let ordinal = target_op_type == OpType::Ordinal;
        check_tables(element, function, &tables, normalization, ordinal)?;
        let binary_as_logit =
            tables.len() == 2 && normalization == Normalization::Softmax && is_default(&tables[1]);
        let values = vec![0.0; tables.len()];
        Ok(RegressionModel {
            function,
            tables,
            normalization,
            ordinal,
            binary_as_logit,
            float,
            values,
            numbers: vec![0.0; features.len()],
            features,
            positions: Vec::new(),
        })
    }

    /// Prepares scoring straight from records whose inputs are numbers: possible when the tables
    /// have numeric terms only, over `inputs` (slot, direct input position, float field). Returns
    /// whether it is.
    pub fn prepare_direct(&mut self, inputs: &[(u32, u32, bool)]) -> bool {
        let numeric_only = self
            .tables
            .iter()
            .all(|table| table.categorical.is_empty() && table.interactions.is_empty());
        let positions: Option<Vec<(u32, bool)>> = self
            .features
            .iter()
            .map(|slot| {
                inputs
                    .iter()
                    .find(|(known, _, _)| known == slot)
                    .map(|(_, position, float)| (*position, *float))
            })
            .collect();
        match positions {
            Some(positions) if numeric_only && !positions.is_empty() => {
                self.positions = positions;
                true
            }
            _ => false,
        }
    }

    /// Scores a record whose inputs are all present numbers (`number` reads the one at a record
    /// position), after [`RegressionModel::prepare_direct`].
    #[inline]
    pub fn evaluate_direct(
        &mut self,
        number: impl Fn(usize) -> f64,
        probabilities: &mut [f64],
    ) -> Result<Raw> {
        for (value, (position, float)) in self.numbers.iter_mut().zip(&self.positions) {
            let x = number(*position as usize);
            *value = if *float { f64::from(x as f32) } else { x };
        }
        for (value, table) in self.values.iter_mut().zip(&self.tables) {
            *value = table.numeric_sum(self.float, &self.numbers);
        }
        self.conclude(probabilities)
    }

    /// Scores the current record; classifier probabilities go to `probabilities`.
    pub fn evaluate(&mut self, env: &mut Env<'_>, probabilities: &mut [f64]) -> Result<Raw> {
        for (number, slot) in self.numbers.iter_mut().zip(&self.features) {
            match env.number(*slot)? {
                Some(x) => *number = x,
                None => return Ok(Raw::Missing),
            }
        }
        for (value, table) in self.values.iter_mut().zip(&self.tables) {
            match table.evaluate(env, self.float, Some(&self.numbers))? {
                Some(result) => *value = result,
                None => return Ok(Raw::Missing),
            }
        }
        self.conclude(probabilities)
    }

    /// The result from the tables' values: a regression value, or normalized probabilities.
    fn conclude(&mut self, probabilities: &mut [f64]) -> Result<Raw> {
        if self.function == Function::Regression {
            let value = match (self.float, self.normalization) {
                (true, Normalization::Logit | Normalization::Softmax) => {
                    float_logistic(self.values[0])
                }
                (true, Normalization::Exp) => float_exp(self.values[0]),
                (float, method) => round(
                    float,
                    method.inverse_link(self.values[0]).unwrap_or(f64::NAN),
                ),
            };
            return Ok(Raw::Value(value));
        }
        if self.float {
            self.normalize_float()?;
        } else {
            self.normalize()?;
        }
        probabilities.iter_mut().for_each(|p| *p = 0.0);
        for (table, value) in self.tables.iter().zip(&self.values) {
            probabilities[table.category] = *value;
        }
        let best = winner(&self.values).map_or(0, |index| self.tables[index].category);
        Ok(Raw::Class {
            winner: best,
            probabilities: true,
        })
    }

    /// The float-context normalizations JPMML computes in `f32` (XGBoost's logit and softmax);
    /// the others are computed in `f64` and rounded.
    fn normalize_float(&mut self) -> Result<()> {
        let binary_logit = self.values.len() == 2
            && !self.ordinal
            && (self.normalization == Normalization::Logit || self.binary_as_logit);
        if binary_logit {
            self.values[0] = float_logistic(self.values[0]);
            self.values[1] = round(true, 1.0 - self.values[0]);
            return Ok(());
        }
        if self.normalization == Normalization::Softmax && !self.ordinal {
            let max = self
                .values
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            for value in self.values.iter_mut() {
                *value = float_exp(round(true, *value - max));
                sum = round(true, sum + *value);
            }
            if sum != 1.0 {
                self.values
                    .iter_mut()
                    .for_each(|value| *value = round(true, *value / sum));
            }
            return Ok(());
        }
        self.normalize()?;
        self.values
            .iter_mut()
            .for_each(|value| *value = round(true, *value));
        Ok(())
    }

    fn normalize(&mut self) -> Result<()> {
        let method = self.normalization;
        let values = &mut self.values;
        let last = values.len() - 1;
        if self.ordinal {
            let mut cumulative = 0.0;
            for value in values[..last].iter_mut() {
                let probability = method.inverse_link(*value).unwrap_or(f64::NAN);
                let probability = if method == Normalization::None {
                    probability.clamp(0.0, 1.0)
                } else {
                    probability
                };
                *value = probability - cumulative;
                cumulative = probability;
            }
            values[last] = 1.0 - cumulative;
            return Ok(());
        }
        if values.len() == 2
            && (method != Normalization::Softmax || self.binary_as_logit)
            && method != Normalization::Simplemax
        {
            let link = if self.binary_as_logit {
                Normalization::Logit
            } else {
                method
            };
            let first = link.inverse_link(values[0]).unwrap_or(f64::NAN);
            values[0] = if link == Normalization::None {
                first.clamp(0.0, 1.0)
            } else {
                first
            };
            values[1] = 1.0 - values[0];
            return Ok(());
        }
        match method {
            Normalization::None => {
                let sum: f64 = values[..last].iter().sum();
                values[last] = 1.0 - sum;
                Ok(())
            }
            Normalization::Softmax => softmax(values),
            Normalization::Logit => {
                values
                    .iter_mut()
                    .for_each(|value| *value = 1.0 / (1.0 + (-*value).exp()));
                simplemax(values)
            }
            _ => simplemax(values),
        }
    }
}

/// A `Regression` embedded in a tree node (LightGBM's linear trees): one table and a
/// normalization, giving the node's value.
#[derive(Clone, Debug)]
pub struct EmbeddedRegression {
    table: Table,
    normalization: Normalization,
}

impl EmbeddedRegression {
    /// Compiles a `Regression` element of a tree node (a regression, without Targets or Output,
    /// as JPMML evaluates them).
    pub fn compile(
        c: &mut Compiler<'_, '_>,
        scope: ScopeId,
        element: &El<'_, '_>,
    ) -> Result<EmbeddedRegression> {
        if element.required("functionName")? != "regression" {
            return Err(element.unsupported("an embedded Regression that does not do regression"));
        }
        if let Some(extra) = element
            .children()
            .find(|child| matches!(child.name(), "Targets" | "Output" | "LocalTransformations"))
        {
            return Err(extra.unsupported(format!("<{}> in an embedded Regression", extra.name())));
        }
        let normalization = Normalization::read(element)?;
        let mut tables = element.children_named("RegressionTable");
        let (Some(table), None) = (tables.next(), tables.next()) else {
            return Err(element.invalid("an embedded Regression needs exactly one RegressionTable"));
        };
        if normalization == Normalization::Simplemax {
            return Err(element.invalid("simplemax cannot normalize a regression"));
        }
        Ok(EmbeddedRegression {
            table: compile_table(c, scope, &table, 0)?,
            normalization,
        })
    }

    /// The node's value; `None` when an input is missing (the node's score applies then).
    pub fn evaluate(&self, env: &mut Env<'_>) -> Result<Option<f64>> {
        Ok(self
            .table
            .evaluate(env, false, None)?
            .and_then(|value| self.normalization.inverse_link(value)))
    }
}

/// A numeric term's value for `x` (in `f32` with `float`).
#[inline]
fn term_value(term: &NumericTerm, float: bool, x: f64) -> f64 {
    let (coefficient, x) = (round(float, term.coefficient), round(float, x));
    if term.exponent == 1 {
        round(float, coefficient * x)
    } else {
        round(
            float,
            coefficient * round(float, x.powf(f64::from(term.exponent))),
        )
    }
}

/// The distinct slots of the tables' numeric terms, in first-use order; sets each term's index
/// among them.
fn gather_features(tables: &mut [Table]) -> Vec<u32> {
    let mut features: Vec<u32> = Vec::new();
    for term in tables.iter_mut().flat_map(|table| table.numeric.iter_mut()) {
        term.feature = match features.iter().position(|slot| *slot == term.slot) {
            Some(index) => index,
            None => {
                features.push(term.slot);
                features.len() - 1
            }
        };
    }
    features
}

/// Rejects combinations of table count and normalization that PMML does not define.
fn check_tables(
    element: &El<'_, '_>,
    function: Function,
    tables: &[Table],
    method: Normalization,
    ordinal: bool,
) -> Result<()> {
    let invalid = |message: String| Err(element.invalid(message));
    match function {
        Function::Regression if tables.len() != 1 => invalid(format!(
            "a regression needs 1 RegressionTable, not {}",
            tables.len()
        )),
        Function::Regression if method == Normalization::Simplemax => {
            invalid("simplemax cannot normalize a regression".into())
        }
        Function::Classification if tables.len() < 2 => {
            invalid("a classification needs at least 2 RegressionTables".into())
        }
        Function::Classification
            if ordinal
                && matches!(
                    method,
                    Normalization::Softmax | Normalization::Simplemax | Normalization::Exp
                ) =>
        {
            invalid(format!("{method:?} cannot normalize an ordinal target"))
        }
        Function::Classification if method == Normalization::Exp => {
            invalid("exp cannot normalize a classification".into())
        }
        Function::Classification
            if !ordinal
                && tables.len() > 2
                && !matches!(
                    method,
                    Normalization::None
                        | Normalization::Softmax
                        | Normalization::Simplemax
                        | Normalization::Logit
                ) =>
        {
            invalid(format!(
                "{method:?} cannot normalize more than two categories"
            ))
        }
        _ => Ok(()),
    }
}

fn is_default(table: &Table) -> bool {
    table.numeric.is_empty()
        && table.categorical.is_empty()
        && table.interactions.is_empty()
        && table.intercept == 0.0
}

fn compile_table(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    element: &El<'_, '_>,
    category: usize,
) -> Result<Table> {
    let mut table = Table {
        intercept: element.required_number("intercept")?,
        numeric: Vec::new(),
        categorical: Vec::new(),
        interactions: Vec::new(),
        category,
    };
    for child in element.children() {
        match child.name() {
            "NumericPredictor" => table.numeric.push(NumericTerm {
                slot: c.resolve(scope, child.required("name")?, &child)?.slot,
                feature: 0,
                exponent: child.parsed_or("exponent", 1)?,
                coefficient: child.required_number("coefficient")?,
            }),
            "CategoricalPredictor" => add_categorical(c, scope, &child, &mut table.categorical)?,
            "PredictorTerm" => table
                .interactions
                .push(compile_interaction(c, scope, &child)?),
            _ => {}
        }
    }
    Ok(table)
}

fn add_categorical(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    element: &El<'_, '_>,
    groups: &mut Vec<CategoricalGroup>,
) -> Result<()> {
    let info = c.resolve(scope, element.required("name")?, element)?;
    let value = c.literal(element.required("value")?, info.data_type, element)?;
    let coefficient = element.required_number("coefficient")?;
    match groups.last_mut() {
        Some(group) if group.slot == info.slot => group.cases.push((value, coefficient)),
        _ => groups.push(CategoricalGroup {
            slot: info.slot,
            cases: vec![(value, coefficient)],
        }),
    }
    Ok(())
}

fn compile_interaction(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    element: &El<'_, '_>,
) -> Result<InteractionTerm> {
    let mut slots = Vec::new();
    for field in element.children_named("FieldRef") {
        slots.push(c.resolve(scope, field.required("field")?, &field)?.slot);
    }
    if slots.is_empty() {
        return Err(element.invalid("a PredictorTerm needs at least one FieldRef"));
    }
    Ok(InteractionTerm {
        slots,
        coefficient: element.required_number("coefficient")?,
    })
}

/// The logistic function in float context: `1f / (1f + exp(-x))`.
fn float_logistic(x: f64) -> f64 {
    round(true, 1.0 / round(true, 1.0 + float_exp(-x)))
}

impl Table {
    /// The linear predictor of a table of numeric terms only, over the model's gathered
    /// numbers (as [`Table::evaluate`] computes it).
    fn numeric_sum(&self, float: bool, numbers: &[f64]) -> f64 {
        let mut sum = 0.0;
        for term in &self.numeric {
            sum = round(float, sum + term_value(term, float, numbers[term.feature]));
        }
        if self.intercept != 0.0 {
            sum = round(float, sum + round(float, self.intercept));
        }
        sum
    }

    /// The table's linear predictor; `None` when a numeric input is missing. With `float`, the
    /// sum is computed in `f32`, term by term. The numeric terms read `numbers` (the model's
    /// gathered values, all present) when given, else their slots.
    fn evaluate(
        &self,
        env: &mut Env<'_>,
        float: bool,
        numbers: Option<&[f64]>,
    ) -> Result<Option<f64>> {
        let mut sum = 0.0;
        for term in &self.numeric {
            let x = match numbers {
                Some(numbers) => numbers[term.feature],
                None => match env.number(term.slot)? {
                    Some(x) => x,
                    None => return Ok(None),
                },
            };
            sum = round(float, sum + term_value(term, float, x));
        }
        for group in &self.categorical {
            let value = env.value(group.slot)?;
            if value.is_missing() {
                continue;
            }
            for (case, coefficient) in &group.cases {
                if equal(env, value, *case)? {
                    sum = round(float, sum + round(float, *coefficient));
                    break;
                }
            }
        }
        for term in &self.interactions {
            let mut product = round(float, term.coefficient);
            for slot in &term.slots {
                let Some(x) = env.number(*slot)? else {
                    return Ok(None);
                };
                product = round(float, product * round(float, x));
            }
            sum = round(float, sum + product);
        }
        if self.intercept != 0.0 {
            sum = round(float, sum + round(float, self.intercept));
        }
        Ok(Some(sum))
    }
}
