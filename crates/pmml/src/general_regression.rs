//! GeneralRegressionModel: ParameterList, FactorList, CovariateList, PPMatrix and ParamMatrix
//! compiled to per-parameter products over slots; regression, general linear, generalized linear
//! (with link functions), multinomial logistic and ordinal multinomial models.

use std::collections::HashMap;

use super::compile::{Compiler, ScopeId};
use super::error::{Error, Result};
use super::eval::Env;
use super::functions::{equal, normal_cdf};
use super::models::{Function, Raw};
use super::regression::{simplemax, Normalization};
use super::target::{winner, Categories};
use super::value::Val;
use super::xml::El;

/// The kind of GeneralRegressionModel.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// `regression` or `generalLinear`: the dot product itself.
    Linear,
    /// `generalizedLinear` with its link function.
    Generalized(Link),
    /// `multinomialLogistic`.
    Multinomial,
    /// `ordinalMultinomial` with its cumulative link function.
    Ordinal(Normalization),
}

/// A GLM link function (the inverse is applied to the linear predictor).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Link {
    Identity,
    Log,
    Logc,
    Logit,
    Probit,
    Cloglog,
    Loglog,
    Cauchit,
    Power(f64),
    OddsPower(f64),
    NegBin(f64),
}

impl Link {
    fn inverse(self, x: f64) -> f64 {
        match self {
            Link::Identity => x,
            Link::Log => x.exp(),
            Link::Logc => 1.0 - x.exp(),
            Link::Logit => 1.0 / (1.0 + (-x).exp()),
            Link::Probit => normal_cdf(x),
            Link::Cloglog => 1.0 - (-(x.exp())).exp(),
            Link::Loglog => (-((-x).exp())).exp(),
            Link::Cauchit => 0.5 + (1.0 / std::f64::consts::PI) * x.atan(),
            Link::Power(0.0) => x.exp(),
            Link::Power(power) => x.powf(1.0 / power),
            Link::OddsPower(0.0) => 1.0 / (1.0 + (-x).exp()),
            Link::OddsPower(power) => 1.0 / (1.0 + (1.0 + power * x).powf(-(1.0 / power))),
            Link::NegBin(dispersion) => 1.0 / (dispersion * ((-x).exp() - 1.0)),
        }
    }
}

/// A number given either as a constant or by a field.
#[derive(Clone, Copy, Debug)]
enum Amount {
    Value(f64),
    Field(u32),
}

/// The product of the PPMatrix cells of one parameter.
#[derive(Clone, Debug, Default)]
struct Row {
    factors: Vec<(u32, Val)>,
    covariates: Vec<(u32, f64)>,
}

/// One PCell: `beta` times its parameter's row (or times 1 without a row).
#[derive(Clone, Debug)]
struct Cell {
    beta: f64,
    row: Option<usize>,
}

/// A cell's beta and its covariates' (direct input position, float field, exponent).
type DirectTerm = (f64, Vec<(u32, bool, f64)>);

/// A compiled GeneralRegressionModel.
#[derive(Clone, Debug)]
pub struct GeneralRegression {
    kind: Kind,
    classify: bool,
    rows: Vec<Row>,
    /// For a regression: one list of cells. For a classifier: one list per non-reference category,
    /// in evaluation order, each with its category index.
    cells: Vec<(usize, Vec<Cell>)>,
    /// The reference (last) category of a classifier.
    reference: usize,
    offset: Option<Amount>,
    trials: Option<Amount>,
    /// Per-category values in evaluation order (reused between records).
    values: Vec<f64>,
    /// For a regression scored straight from records of numbers: each cell's beta and its
    /// covariates' (direct input position, float field, exponent).
    direct: Vec<DirectTerm>,
}

impl GeneralRegression {
    /// Compiles a GeneralRegressionModel element.
    pub fn compile(
        c: &mut Compiler<'_, '_>,
        scope: ScopeId,
        element: &El<'_, '_>,
        function: Function,
        categories: Option<&mut Categories>,
    ) -> Result<GeneralRegression> {
        let kind = read_kind(element)?;
        let (rows, row_of) = compile_rows(c, scope, element)?;
        let pcells = read_pcells(element)?;
        let mut model = GeneralRegression {
            kind,
            classify: function == Function::Classification,
            rows,
            cells: Vec::new(),
            reference: 0,
            offset: read_amount(c, scope, element, "offsetVariable", "offsetValue")?,
            trials: read_amount(c, scope, element, "trialsVariable", "trialsValue")?,
            values: Vec::new(),
            direct: Vec::new(),
        };
        match (function, categories) {
            (Function::Classification, Some(categories)) => {
                model.assign_categories(c, element, categories, pcells, &row_of)?
            }
            _ => {
                if kind == Kind::Multinomial || matches!(kind, Kind::Ordinal(_)) {
                    return Err(
                        element.invalid("a multinomial or ordinal model must be a classification")
                    );
                }
                let cells = pcells.into_iter().map(|(_, name, beta)| Cell {
                    beta,
                    row: row_of.get(&name).copied(),
                });
                model.cells.push((0, cells.collect()));
            }
        }
        model.values = vec![0.0; model.cells.len() + 1];
        Ok(model)
    }

    /// Groups the PCells by target category and finds the reference category.
    fn assign_categories(
        &mut self,
        c: &mut Compiler<'_, '_>,
        element: &El<'_, '_>,
        categories: &mut Categories,
        pcells: Vec<(Option<String>, String, f64)>,
        row_of: &HashMap<String, usize>,
    ) -> Result<()> {
        let mut by_category: Vec<(Option<usize>, Vec<Cell>)> = Vec::new();
        for (category, name, beta) in pcells {
            let index = category
                .map(|text| categories.index_for(c, &text, element))
                .transpose()?;
            let cell = Cell {
                beta,
                row: row_of.get(&name).copied(),
            };
            match by_category.iter_mut().find(|(known, _)| *known == index) {
                Some((_, cells)) => cells.push(cell),
                None => by_category.push((index, vec![cell])),
            }
        }
        if let Some(text) = element.attr("targetReferenceCategory") {
            categories.index_for(c, text, element)?;
        }
        if categories.len() < 2 {
            return Err(element.invalid("a classification needs at least two target categories"));
        }
        let shared: Vec<Cell> = match by_category
            .iter()
            .position(|(category, _)| category.is_none())
        {
            Some(position) => by_category.remove(position).1,
            None => Vec::new(),
        };
        self.reference = self.reference_category(c, element, categories, &by_category)?;
        for category in (0..categories.len()).filter(|category| *category != self.reference) {
            let own = by_category
                .iter_mut()
                .find(|(known, _)| *known == Some(category))
                .map(|(_, cells)| std::mem::take(cells));
            let cells = self.cells_for(own, &shared, categories.len(), element)?;
            self.cells.push((category, cells));
        }
        Ok(())
    }

    fn reference_category(
        &self,
        c: &mut Compiler<'_, '_>,
        element: &El<'_, '_>,
        categories: &mut Categories,
        by_category: &[(Option<usize>, Vec<Cell>)],
    ) -> Result<usize> {
        if let Some(text) = element.attr("targetReferenceCategory") {
            return categories.index_for(c, text, element);
        }
        if let Kind::Ordinal(_) = self.kind {
            return Ok(categories.len() - 1);
        }
        let unmentioned: Vec<usize> = (0..categories.len())
            .filter(|index| !by_category.iter().any(|(known, _)| *known == Some(*index)))
            .collect();
        match unmentioned.as_slice() {
            [only] => Ok(*only),
            _ if categories.len() == 2 && by_category.is_empty() => Ok(1),
            _ => Err(element.invalid(
                "cannot tell the reference category (the one the ParamMatrix does not mention)",
            )),
        }
    }

    fn cells_for(
        &self,
        own: Option<Vec<Cell>>,
        shared: &[Cell],
        count: usize,
        element: &El<'_, '_>,
    ) -> Result<Vec<Cell>> {
        let copy = |cells: &[Cell]| {
            cells
                .iter()
                .map(|cell| Cell {
                    beta: cell.beta,
                    row: cell.row,
                })
                .collect::<Vec<_>>()
        };
        match (self.kind, own) {
            (Kind::Ordinal(_), Some(intercept)) if intercept.len() == 1 => {
                let mut cells = copy(shared);
                cells.extend(intercept);
                Ok(cells)
            }
            (Kind::Ordinal(_), _) => {
                Err(element.invalid("an ordinal model needs one intercept PCell per category"))
            }
            (_, Some(cells)) => Ok(cells),
            (_, None) if count == 2 && !shared.is_empty() => Ok(copy(shared)),
            (_, None) => Err(element.invalid("the ParamMatrix has no cells for a target category")),
        }
    }

    /// Scores the current record; classifier probabilities go to `probabilities`.
    pub fn evaluate(&mut self, env: &mut Env<'_>, probabilities: &mut [f64]) -> Result<Raw> {
        if !self.classify {
            return self.evaluate_regression(env);
        }
        let count = self.cells.len();
        let mut previous = 0.0;
        for index in 0..count {
            let Some(dot) = self.dot_product(env, index)? else {
                return Ok(Raw::Missing);
            };
            self.values[index] = match self.kind {
                Kind::Generalized(link) => self.apply_link(env, link, dot)?,
                Kind::Multinomial => dot.exp(),
                Kind::Ordinal(link) => {
                    let cumulative = link
                        .inverse_link(dot + self.offset_value(env)?)
                        .unwrap_or(f64::NAN);
                    let value = cumulative - previous;
                    previous = cumulative;
                    value
                }
                Kind::Linear => return Err(Error::scoring("a linear model cannot classify")),
            };
        }
        self.values[count] = match self.kind {
            Kind::Generalized(_) => 1.0 - self.values[count - 1],
            Kind::Multinomial => 1.0,
            _ => 1.0 - previous,
        };
        if self.kind == Kind::Multinomial {
            simplemax(&mut self.values)?;
        }
        probabilities.iter_mut().for_each(|p| *p = 0.0);
        for (index, (category, _)) in self.cells.iter().enumerate() {
            probabilities[*category] = self.values[index];
        }
        probabilities[self.reference] = self.values[count];
        let best = match winner(&self.values) {
            Some(index) if index < count => self.cells[index].0,
            _ => self.reference,
        };
        Ok(Raw::Class {
            winner: best,
            probabilities: true,
        })
    }

    /// Prepares scoring straight from records whose inputs are numbers (`inputs`: slot, record
    /// position, float field): possible for a regression whose parameters multiply input
    /// covariates only (no factors, no offset or trials variable). Returns whether it is.
    pub fn prepare_direct(&mut self, inputs: &[(u32, u32, bool)]) -> bool {
        let variable = |amount: Option<Amount>| matches!(amount, Some(Amount::Field(_)));
        if self.classify || variable(self.offset) || variable(self.trials) {
            return false;
        }
        let Some((_, cells)) = self.cells.first() else {
            return false;
        };
        let mut terms = Vec::with_capacity(cells.len());
        for cell in cells {
            let mut covariates = Vec::new();
            if let Some(row) = cell.row {
                let row = &self.rows[row];
                if !row.factors.is_empty() {
                    return false;
                }
                for (slot, exponent) in &row.covariates {
                    let Some((_, position, float)) =
                        inputs.iter().find(|(known, _, _)| known == slot)
                    else {
                        return false;
                    };
                    covariates.push((*position, *float, *exponent));
                }
            }
            terms.push((cell.beta, covariates));
        }
        self.direct = terms;
        true
    }

    /// Scores a record whose inputs are all present numbers (`number` reads the one at a record
    /// position), after [`GeneralRegression::prepare_direct`]: the same sums in the same order.
    #[inline]
    pub fn evaluate_direct(&self, number: impl Fn(usize) -> f64) -> Result<Raw> {
        let mut dot = 0.0;
        for (beta, covariates) in &self.direct {
            if covariates.is_empty() {
                dot += beta;
                continue;
            }
            let mut product = 1.0;
            for &(position, float, exponent) in covariates {
                let x = number(position as usize);
                let x = if float { f64::from(x as f32) } else { x };
                product *= if exponent == 1.0 { x } else { x.powf(exponent) };
            }
            dot += beta * product;
        }
        Ok(Raw::Value(match self.kind {
            Kind::Generalized(link) => {
                let offset = match self.offset {
                    Some(Amount::Value(value)) => value,
                    _ => 0.0,
                };
                let mut value = link.inverse(dot + offset);
                if let Some(Amount::Value(trials)) = self.trials {
                    value *= trials;
                }
                value
            }
            _ => dot,
        }))
    }

    fn evaluate_regression(&mut self, env: &mut Env<'_>) -> Result<Raw> {
        let Some(dot) = self.dot_product(env, 0)? else {
            return Ok(Raw::Missing);
        };
        Ok(Raw::Value(match self.kind {
            Kind::Generalized(link) => self.apply_link(env, link, dot)?,
            _ => dot,
        }))
    }

    fn apply_link(&self, env: &mut Env<'_>, link: Link, dot: f64) -> Result<f64> {
        let mut value = link.inverse(dot + self.offset_value(env)?);
        if let Some(trials) = self.trials {
            value *= self.amount(env, trials, "trials")?;
        }
        Ok(value)
    }

    fn offset_value(&self, env: &mut Env<'_>) -> Result<f64> {
        self.offset
            .map_or(Ok(0.0), |offset| self.amount(env, offset, "offset"))
    }

    fn amount(&self, env: &mut Env<'_>, amount: Amount, what: &str) -> Result<f64> {
        match amount {
            Amount::Value(value) => Ok(value),
            Amount::Field(slot) => env
                .number(slot)?
                .ok_or_else(|| Error::scoring(format!("the {what} variable is missing"))),
        }
    }

    /// The dot product of one category's cells; `None` when an input is missing.
    fn dot_product(&self, env: &mut Env<'_>, index: usize) -> Result<Option<f64>> {
        let mut sum = 0.0;
        for cell in &self.cells[index].1 {
            match cell.row {
                Some(row) => match self.rows[row].product(env)? {
                    Some(x) => sum += cell.beta * x,
                    None => return Ok(None),
                },
                None => sum += cell.beta,
            }
        }
        Ok(Some(sum))
    }
}

impl Row {
    fn product(&self, env: &mut Env<'_>) -> Result<Option<f64>> {
        let mut product = 1.0;
        for (slot, category) in &self.factors {
            let value = env.value(*slot)?;
            if value.is_missing() {
                return Ok(None);
            }
            if !equal(env, value, *category)? {
                product *= 0.0;
            }
        }
        if product == 0.0 {
            return Ok(Some(product));
        }
        for (slot, exponent) in &self.covariates {
            let Some(x) = env.number(*slot)? else {
                return Ok(None);
            };
            product *= if *exponent == 1.0 {
                x
            } else {
                x.powf(*exponent)
            };
        }
        Ok(Some(product))
    }
}

fn read_kind(element: &El<'_, '_>) -> Result<Kind> {
    Ok(match element.required("modelType")? {
        "regression" | "generalLinear" => Kind::Linear,
        "generalizedLinear" => Kind::Generalized(read_link(element)?),
        "multinomialLogistic" => Kind::Multinomial,
        "ordinalMultinomial" => {
            Kind::Ordinal(match element.attr("cumulativeLink").unwrap_or("logit") {
                "logit" => Normalization::Logit,
                "probit" => Normalization::Probit,
                "cloglog" => Normalization::Cloglog,
                "loglog" => Normalization::Loglog,
                "cauchit" => Normalization::Cauchit,
                other => return Err(element.bad_keyword("cumulativeLink", other)),
            })
        }
        "CoxRegression" => return Err(element.unsupported("modelType=\"CoxRegression\"")),
        other => return Err(element.bad_keyword("modelType", other)),
    })
}

fn read_link(element: &El<'_, '_>) -> Result<Link> {
    let parameter = |name: &str| element.required_number::<f64>(name);
    Ok(match element.required("linkFunction")? {
        "identity" => Link::Identity,
        "log" => Link::Log,
        "logc" => Link::Logc,
        "logit" => Link::Logit,
        "probit" => Link::Probit,
        "cloglog" => Link::Cloglog,
        "loglog" => Link::Loglog,
        "cauchit" => Link::Cauchit,
        "inverse" => Link::Power(-1.0),
        "power" => Link::Power(parameter("linkParameter")?),
        "oddspower" => Link::OddsPower(parameter("linkParameter")?),
        "negbin" => Link::NegBin(parameter("distParameter")?),
        other => return Err(element.bad_keyword("linkFunction", other)),
    })
}

fn read_amount(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    element: &El<'_, '_>,
    variable: &str,
    value: &str,
) -> Result<Option<Amount>> {
    if let Some(name) = element.attr(variable) {
        return Ok(Some(Amount::Field(c.resolve(scope, name, element)?.slot)));
    }
    Ok(element.parsed::<f64>(value)?.map(Amount::Value))
}

/// The PCells of the ParamMatrix: (targetCategory, parameterName, beta).
fn read_pcells(element: &El<'_, '_>) -> Result<Vec<(Option<String>, String, f64)>> {
    let matrix = element
        .child("ParamMatrix")
        .ok_or_else(|| element.invalid("a ParamMatrix is required"))?;
    matrix
        .children_named("PCell")
        .map(|cell| {
            Ok((
                cell.attr("targetCategory").map(str::to_owned),
                cell.required("parameterName")?.to_owned(),
                cell.required_number("beta")?,
            ))
        })
        .collect()
}

/// Compiles the PPMatrix into one product row per parameter name.
fn compile_rows(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    element: &El<'_, '_>,
) -> Result<(Vec<Row>, HashMap<String, usize>)> {
    let factors = predictor_names(element, "FactorList")?;
    let covariates = predictor_names(element, "CovariateList")?;
    let mut rows: Vec<Row> = Vec::new();
    let mut row_of = HashMap::new();
    let Some(matrix) = element.child("PPMatrix") else {
        return Ok((rows, row_of));
    };
    for cell in matrix.children_named("PPCell") {
        if cell.attr("targetCategory").is_some() {
            return Err(cell.unsupported("a PPCell with a targetCategory"));
        }
        let field = cell.required("predictorName")?;
        let info = c.resolve(scope, field, &cell)?;
        let parameter = cell.required("parameterName")?.to_owned();
        let index = *row_of.entry(parameter).or_insert_with(|| {
            rows.push(Row::default());
            rows.len() - 1
        });
        let value = cell.required("value")?;
        if factors.contains(&field) {
            let category = c.literal(value, info.data_type, &cell)?;
            rows[index].factors.push((info.slot, category));
        } else if covariates.contains(&field) {
            let exponent = c.literal(value, super::value::DataType::Double, &cell)?;
            let Val::Num(exponent) = exponent else {
                return Err(cell.invalid("the exponent must be a number"));
            };
            rows[index].covariates.push((info.slot, exponent));
        } else {
            return Err(cell.invalid(format!("`{field}` is neither a factor nor a covariate")));
        }
    }
    Ok((rows, row_of))
}

fn predictor_names<'a>(element: &El<'a, '_>, list: &str) -> Result<Vec<&'a str>> {
    let Some(list) = element.child(list) else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for predictor in list.children_named("Predictor") {
        if predictor.child("Matrix").is_some() {
            return Err(predictor.unsupported("a contrast Matrix"));
        }
        names.push(predictor.required("name")?);
    }
    Ok(names)
}
