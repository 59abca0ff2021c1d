//! TimeSeriesModel, as JPMML-Evaluator 1.7 evaluates it: a `StateSpaceModel` only (the other
//! algorithms, `ARIMA`, `ExponentialSmoothing`, `SeasonalTrendDecomposition`, `SpectralAnalysis`
//! and `GARCH`, are refused at load, as JPMML refuses them). The forecast for a horizon of `h`
//! steps (the one supplementary MiningField, 1 when there is none or its value is missing) is
//! `M·s + c`, then `M·(T·s) + c`, ...; the model's result is the first step's value, which is
//! what JPMML reports as the target (its later steps are not reported). The value does not depend
//! on the record, so it is computed at load time; the horizon is still checked on every record
//! (0 or less is an error, as is more than 1 without a TransitionMatrix). PMML 4.4 gives a
//! TimeSeriesModel no Targets; one is refused, as JPMML refuses it.

use super::compile::{Compiler, ScopeId};
use super::error::{Error, Result};
use super::eval::Env;
use super::models::Raw;
use super::predicate::read_array;
use super::value::{DataType, Val};
use super::xml::El;

/// A matrix, row after row.
#[derive(Debug)]
struct Matrix {
    rows: usize,
    columns: usize,
    values: Vec<f64>,
}

/// A compiled TimeSeriesModel.
#[derive(Clone, Debug)]
pub struct TimeSeries {
    /// The first step's forecast, `(M·s + c)[0]`.
    first: f64,
    /// Whether the model has a TransitionMatrix (needed for horizons over 1).
    transition: bool,
    /// The slot of the forecast horizon (the supplementary field), if any.
    horizon: Option<u32>,
}

impl TimeSeries {
    /// Compiles a TimeSeriesModel element.
    pub fn compile(
        c: &mut Compiler<'_, '_>,
        scope: ScopeId,
        element: &El<'_, '_>,
    ) -> Result<TimeSeries> {
        match element.required("bestFit")? {
            "StateSpaceModel" => {}
            other @ ("ARIMA"
            | "ExponentialSmoothing"
            | "SeasonalTrendDecomposition"
            | "SpectralAnalysis"
            | "GARCH") => {
                return Err(element.unsupported(format!(
                    "a TimeSeriesModel with bestFit=\"{other}\" (only StateSpaceModel is \
                     evaluated, as by JPMML-Evaluator)"
                )))
            }
            other => return Err(element.bad_keyword("bestFit", other)),
        }
        if let Some(targets) = element.child("Targets") {
            return Err(targets.invalid("a TimeSeriesModel has no Targets (PMML 4.4, JPMML)"));
        }
        let model = element.child("StateSpaceModel").ok_or_else(|| {
            element.invalid("bestFit=\"StateSpaceModel\" needs a StateSpaceModel")
        })?;
        let state = array_of(c, &model, "StateVector")?;
        let measurement = matrix_of(c, &model, "MeasurementMatrix")?
            .ok_or_else(|| model.invalid("a StateSpaceModel needs a MeasurementMatrix"))?;
        if measurement.columns != state.len() {
            return Err(model.invalid(format!(
                "the MeasurementMatrix has {} columns for a state of {}",
                measurement.columns,
                state.len()
            )));
        }
        let intercept: f64 = model.parsed_or("intercept", 0.0)?;
        let intercepts = match model.child("InterceptVector") {
            Some(_) if intercept != 0.0 => {
                return Err(model.invalid("both an intercept and an InterceptVector"))
            }
            Some(_) => array_of(c, &model, "InterceptVector")?,
            None => vec![intercept],
        };
        if intercepts.len() != measurement.rows {
            return Err(model.invalid(format!(
                "{} intercepts for a MeasurementMatrix of {} rows",
                intercepts.len(),
                measurement.rows
            )));
        }
        let transition = matrix_of(c, &model, "TransitionMatrix")?;
        if let Some(matrix) = &transition {
            if matrix.rows != state.len() || matrix.columns != state.len() {
                return Err(model.invalid(format!(
                    "the TransitionMatrix is {}×{} for a state of {}",
                    matrix.rows,
                    matrix.columns,
                    state.len()
                )));
            }
        }
        // As commons-math computes it: the row's products summed from the first, then the
        // intercept added.
        let mut sum = 0.0;
        for (m, s) in measurement.values[..measurement.columns].iter().zip(&state) {
            sum += m * s;
        }
        let first = sum + intercepts[0];
        Ok(TimeSeries {
            first,
            transition: transition.is_some(),
            horizon: horizon_slot(c, scope, element)?,
        })
    }

    /// Scores the current record.
    pub fn evaluate(&self, env: &mut Env<'_>) -> Result<Raw> {
        if let Some(slot) = self.horizon {
            let horizon = env.number(slot)?.unwrap_or(1.0);
            if horizon.fract() != 0.0 {
                return Err(Error::scoring(format!(
                    "the forecast horizon {horizon} is not an integer"
                )));
            }
            if horizon < 1.0 {
                return Err(Error::scoring(format!(
                    "the forecast horizon {horizon} is not positive"
                )));
            }
            if horizon > 1.0 && !self.transition {
                return Err(Error::scoring(format!(
                    "a forecast horizon of {horizon} needs a TransitionMatrix"
                )));
            }
        }
        Ok(Raw::Value(self.first))
    }
}

/// The slot of the model's supplementary MiningField (the forecast horizon), if it has one.
fn horizon_slot(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    element: &El<'_, '_>,
) -> Result<Option<u32>> {
    let Some(schema) = element.child("MiningSchema") else {
        return Ok(None);
    };
    let supplementary: Vec<El<'_, '_>> = schema
        .children_named("MiningField")
        .filter(|field| field.attr("usageType") == Some("supplementary"))
        .collect();
    match supplementary.as_slice() {
        [] => Ok(None),
        [field] => {
            let info = c.resolve(scope, field.required("name")?, field)?;
            Ok(Some(info.slot))
        }
        _ => Err(schema.invalid(
            "a TimeSeriesModel has at most one supplementary MiningField (the forecast horizon)",
        )),
    }
}

/// The numbers of the Array of the child `name` of `parent`.
fn array_of(c: &mut Compiler<'_, '_>, parent: &El<'_, '_>, name: &str) -> Result<Vec<f64>> {
    let element = parent
        .child(name)
        .ok_or_else(|| parent.invalid(format!("a {name} is required")))?;
    let array = element
        .child("Array")
        .ok_or_else(|| element.invalid("an Array is required"))?;
    numbers(c, &array)
}

fn numbers(c: &mut Compiler<'_, '_>, array: &El<'_, '_>) -> Result<Vec<f64>> {
    read_array(c, array, DataType::Double)?
        .into_iter()
        .map(|value| match value {
            Val::Num(number) => Ok(number),
            _ => Err(array.invalid("the Array holds a value that is not a number")),
        })
        .collect()
}

/// The Matrix of the child `name` of `parent`, if there is one: `kind="any"` (an Array per row, or
/// MatCells with defaults), `"diagonal"` (one Array) or `"symmetric"` (the lower triangle's rows).
fn matrix_of(c: &mut Compiler<'_, '_>, parent: &El<'_, '_>, name: &str) -> Result<Option<Matrix>> {
    let Some(holder) = parent.child(name) else {
        return Ok(None);
    };
    let matrix = holder
        .child("Matrix")
        .ok_or_else(|| holder.invalid("a Matrix is required"))?;
    let arrays: Vec<Vec<f64>> = matrix
        .children_named("Array")
        .map(|array| numbers(c, &array))
        .collect::<Result<_>>()?;
    let declared_rows: Option<usize> = matrix.parsed("nbRows")?;
    let declared_columns: Option<usize> = matrix.parsed("nbCols")?;
    let (rows, columns, values) = match matrix.attr("kind").unwrap_or("any") {
        "diagonal" => {
            let [diagonal] = arrays.as_slice() else {
                return Err(matrix.invalid("a diagonal Matrix has one Array"));
            };
            let n = diagonal.len();
            let mut values = vec![0.0; n * n];
            for (i, value) in diagonal.iter().enumerate() {
                values[i * n + i] = *value;
            }
            (n, n, values)
        }
        "symmetric" => {
            let n = arrays.len();
            let mut values = vec![0.0; n * n];
            for (i, row) in arrays.iter().enumerate() {
                if row.len() != i + 1 {
                    return Err(matrix.invalid(format!(
                        "row {} of a symmetric Matrix has {} values, not {}",
                        i + 1,
                        row.len(),
                        i + 1
                    )));
                }
                for (j, value) in row.iter().enumerate() {
                    values[i * n + j] = *value;
                    values[j * n + i] = *value;
                }
            }
            (n, n, values)
        }
        "any" if arrays.is_empty() => cells(&matrix, declared_rows, declared_columns)?,
        "any" => {
            let columns = arrays[0].len();
            if arrays.iter().any(|row| row.len() != columns) {
                return Err(matrix.invalid("the Matrix's rows differ in length"));
            }
            (arrays.len(), columns, arrays.concat())
        }
        other => return Err(matrix.bad_keyword("kind", other)),
    };
    if declared_rows.is_some_and(|declared| declared != rows)
        || declared_columns.is_some_and(|declared| declared != columns)
    {
        return Err(matrix.invalid(format!(
            "the Matrix is {rows}×{columns}, not as nbRows and nbCols declare"
        )));
    }
    Ok(Some(Matrix {
        rows,
        columns,
        values,
    }))
}

/// A Matrix given by MatCells (1-based row and col) and its diagDefault and offDiagDefault.
fn cells(
    matrix: &El<'_, '_>,
    rows: Option<usize>,
    columns: Option<usize>,
) -> Result<(usize, usize, Vec<f64>)> {
    let mut entries = Vec::new();
    for cell in matrix.children_named("MatCell") {
        let row: usize = cell.required_number("row")?;
        let column: usize = cell.required_number("col")?;
        let value: f64 = cell
            .text()
            .trim()
            .parse()
            .map_err(|_| cell.invalid("a MatCell holds a number"))?;
        if row == 0 || column == 0 {
            return Err(cell.invalid("MatCell rows and columns count from 1"));
        }
        entries.push((row - 1, column - 1, value));
    }
    let rows = rows.unwrap_or_else(|| entries.iter().map(|e| e.0 + 1).max().unwrap_or(0));
    let columns = columns.unwrap_or_else(|| entries.iter().map(|e| e.1 + 1).max().unwrap_or(0));
    if rows.saturating_mul(columns) > 1 << 24 {
        return Err(matrix.unsupported(format!("a {rows}×{columns} Matrix")));
    }
    let diagonal: Option<f64> = matrix.parsed("diagDefault")?;
    let off_diagonal: Option<f64> = matrix.parsed("offDiagDefault")?;
    let mut values = vec![f64::NAN; rows * columns];
    for i in 0..rows {
        for j in 0..columns {
            let default = if i == j { diagonal } else { off_diagonal };
            values[i * columns + j] = default.unwrap_or(f64::NAN);
        }
    }
    for (row, column, value) in entries {
        if row >= rows || column >= columns {
            return Err(matrix.invalid("a MatCell lies outside the Matrix"));
        }
        values[row * columns + column] = value;
    }
    if values.iter().any(|value| value.is_nan()) {
        return Err(matrix.invalid("the Matrix has cells without a value or default"));
    }
    Ok((rows, columns, values))
}
