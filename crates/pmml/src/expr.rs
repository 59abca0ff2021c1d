//! Expressions of DerivedFields and OutputFields: FieldRef, Constant, NormContinuous,
//! NormDiscrete, Discretize, MapValues and Apply, compiled to a typed tree over slots.

use super::compile::{Compiler, ScopeId};
use super::define::{self, Call};
use super::error::Result;
use super::eval::Env;
use super::functions::{self, Func};
use super::schema::Interval;
use super::value::{DataType, Val};
use super::xml::El;

/// A compiled expression.
#[derive(Clone, Debug)]
pub enum Expr {
    /// A constant.
    Const(Val),
    /// A field's value, or `map_missing` when it is missing.
    Field {
        /// The field's slot.
        slot: u32,
        /// The replacement of a missing value.
        map_missing: Option<Val>,
    },
    /// Piecewise-linear normalization.
    NormContinuous(Box<NormContinuous>),
    /// 1.0 when the field equals a value, else 0.0.
    NormDiscrete {
        /// The field's slot.
        slot: u32,
        /// The value compared with.
        value: Val,
        /// The result for a missing field.
        map_missing: Option<f64>,
    },
    /// Binning of a number into labelled intervals.
    Discretize(Box<Discretize>),
    /// A lookup in an inline table.
    MapValues(Box<MapValues>),
    /// A built-in function.
    Apply(Box<Apply>),
    /// A user-defined function.
    Call(Box<Call>),
    /// `+`, `-`, `*` or `/` on doubles without mapMissingTo or defaultValue (a fast path for
    /// the scalers and linear combinations that exporters write).
    Arithmetic(Box<Arithmetic>),
    /// `(x op a) op b` or `x op a` on a number field and constants (the scalers exporters
    /// write): the same operations, without evaluating sub-expressions.
    Scale(Box<Scale>),
}

/// A compiled `(x op a) op b` (`steps` has one or two (operator, constant) pairs).
#[derive(Clone, Debug)]
pub struct Scale {
    slot: u32,
    steps: Vec<(Func, f64)>,
}

/// A compiled double-precision `+`, `-`, `*` or `/`.
#[derive(Clone, Debug)]
pub struct Arithmetic {
    func: Func,
    left: Expr,
    right: Expr,
}

/// An expression with its static data type.
#[derive(Clone, Debug)]
pub struct Typed {
    /// The expression.
    pub expr: Expr,
    /// The type of its values.
    pub data_type: DataType,
    /// How many nested evaluations it takes, derived fields included.
    pub depth: u32,
}

/// A compiled NormContinuous.
#[derive(Clone, Debug)]
pub struct NormContinuous {
    slot: u32,
    points: Vec<(f64, f64)>,
    outliers: NormOutliers,
    map_missing: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
enum NormOutliers {
    Extrapolate,
    Missing,
    Clamp,
}

/// A compiled Discretize.
#[derive(Clone, Debug)]
pub struct Discretize {
    slot: u32,
    bins: Vec<(Interval, Val)>,
    default: Val,
    map_missing: Val,
}

/// The most input columns a MapValues may have.
const MAX_MAP_COLUMNS: usize = 8;

/// A compiled MapValues: rows of input values followed by the output value.
#[derive(Clone, Debug)]
pub struct MapValues {
    slots: Vec<u32>,
    cells: Vec<Val>,
    default: Val,
    map_missing: Val,
}

/// A compiled Apply.
#[derive(Clone, Debug)]
pub struct Apply {
    /// The function.
    pub func: Func,
    /// The arguments.
    pub args: Vec<Typed>,
    /// The result when an argument is missing.
    pub map_missing: Option<Val>,
    /// The result when the function gives a missing value.
    pub default: Option<Val>,
    /// Whether an undefined result (e.g. integer division by zero) becomes `default` instead of
    /// failing the record.
    pub undefined_as_missing: bool,
    /// The type of the result.
    pub data_type: DataType,
}

/// Compiles the single expression inside `container` (a DerivedField, OutputField, …).
pub fn compile_container(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    container: &El<'_, '_>,
) -> Result<Typed> {
    let mut expressions = container
        .children()
        .filter(|child| is_expression(child.name()));
    let first = expressions
        .next()
        .ok_or_else(|| container.invalid("an expression (FieldRef, Apply, …) is required"))?;
    compile(c, scope, &first)
}

/// Whether `name` is an expression element.
pub fn is_expression(name: &str) -> bool {
    matches!(
        name,
        "Constant"
            | "FieldRef"
            | "NormContinuous"
            | "NormDiscrete"
            | "Discretize"
            | "MapValues"
            | "TextIndex"
            | "Apply"
            | "Aggregate"
            | "Lag"
    )
}

/// Compiles an expression element.
pub fn compile(c: &mut Compiler<'_, '_>, scope: ScopeId, element: &El<'_, '_>) -> Result<Typed> {
    c.enter(element)?;
    let typed = compile_element(c, scope, element);
    c.leave();
    typed
}

fn compile_element(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    element: &El<'_, '_>,
) -> Result<Typed> {
    match element.name() {
        "Constant" => compile_constant(c, element),
        "FieldRef" => compile_field_ref(c, scope, element),
        "NormContinuous" => compile_norm_continuous(c, scope, element),
        "NormDiscrete" => compile_norm_discrete(c, scope, element),
        "Discretize" => compile_discretize(c, scope, element),
        "MapValues" => compile_map_values(c, scope, element),
        "Apply" => compile_apply(c, scope, element),
        other => Err(element.unsupported(format!("the expression <{other}>"))),
    }
}

fn compile_constant(c: &mut Compiler<'_, '_>, element: &El<'_, '_>) -> Result<Typed> {
    let text = element.text();
    if element.attr("missing") == Some("true") {
        let data_type = DataType::of(element, DataType::String)?;
        return Ok(Typed {
            expr: Expr::Const(Val::Missing),
            data_type,
            depth: 1,
        });
    }
    let data_type = match element.attr("dataType") {
        Some(keyword) => DataType::from_keyword(keyword, element)?,
        None => constant_type(text),
    };
    if text.trim().is_empty() && data_type != DataType::String {
        return Ok(Typed {
            expr: Expr::Const(Val::Missing),
            data_type,
            depth: 1,
        });
    }
    let value = c.literal(text, data_type, element)?;
    Ok(Typed {
        expr: Expr::Const(value),
        data_type,
        depth: 1,
    })
}

/// The type of a Constant without a dataType: integer, double or string, by its text.
fn constant_type(text: &str) -> DataType {
    if text.trim().parse::<i64>().is_ok() {
        DataType::Integer
    } else if text.trim().parse::<f64>().is_ok() {
        DataType::Double
    } else {
        DataType::String
    }
}

fn compile_field_ref(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    element: &El<'_, '_>,
) -> Result<Typed> {
    let info = c.resolve(scope, element.required("field")?, element)?;
    let map_missing = element
        .attr("mapMissingTo")
        .map(|text| c.literal(text, info.data_type, element))
        .transpose()?;
    Ok(Typed {
        expr: Expr::Field {
            slot: info.slot,
            map_missing,
        },
        data_type: info.data_type,
        depth: info.depth + 1,
    })
}

fn compile_norm_continuous(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    element: &El<'_, '_>,
) -> Result<Typed> {
    let info = c.resolve(scope, element.required("field")?, element)?;
    let mut points: Vec<(f64, f64)> = Vec::new();
    for norm in element.children_named("LinearNorm") {
        points.push((norm.required_number("orig")?, norm.required_number("norm")?));
    }
    if points.len() < 2 {
        return Err(element.invalid("at least two LinearNorm elements are required"));
    }
    if points
        .windows(2)
        .any(|pair| pair[0].0 >= pair[1].0 || pair.iter().any(|p| p.0.is_nan()))
    {
        return Err(element.invalid("the LinearNorm orig values must increase"));
    }
    let outliers = match element.attr("outliers").unwrap_or("asIs") {
        "asIs" => NormOutliers::Extrapolate,
        "asMissingValues" => NormOutliers::Missing,
        "asExtremeValues" => NormOutliers::Clamp,
        other => return Err(element.bad_keyword("outliers", other)),
    };
    let map_missing = element.parsed("mapMissingTo")?;
    let depth = info.depth + 1;
    let norm = NormContinuous {
        slot: info.slot,
        points,
        outliers,
        map_missing,
    };
    Ok(Typed {
        expr: Expr::NormContinuous(Box::new(norm)),
        data_type: DataType::Double,
        depth,
    })
}

fn compile_norm_discrete(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    element: &El<'_, '_>,
) -> Result<Typed> {
    let info = c.resolve(scope, element.required("field")?, element)?;
    if let Some(method) = element
        .attr("method")
        .filter(|method| *method != "indicator")
    {
        return Err(element.bad_keyword("method", method));
    }
    let value = c.literal(element.required("value")?, info.data_type, element)?;
    let map_missing = element.parsed("mapMissingTo")?;
    Ok(Typed {
        expr: Expr::NormDiscrete {
            slot: info.slot,
            value,
            map_missing,
        },
        data_type: DataType::Double,
        depth: info.depth + 1,
    })
}

fn compile_discretize(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    element: &El<'_, '_>,
) -> Result<Typed> {
    let info = c.resolve(scope, element.required("field")?, element)?;
    let data_type = DataType::of(element, DataType::String)?;
    let mut bins = Vec::new();
    for bin in element.children_named("DiscretizeBin") {
        let interval = bin
            .child("Interval")
            .ok_or_else(|| bin.invalid("an Interval is required"))?;
        let value = c.literal(bin.required("binValue")?, data_type, &bin)?;
        bins.push((Interval::parse(&interval)?, value));
    }
    let default = optional_literal(c, element, "defaultValue", data_type)?;
    let map_missing = optional_literal(c, element, "mapMissingTo", data_type)?;
    let depth = info.depth + 1;
    let discretize = Discretize {
        slot: info.slot,
        bins,
        default,
        map_missing,
    };
    Ok(Typed {
        expr: Expr::Discretize(Box::new(discretize)),
        data_type,
        depth,
    })
}

fn optional_literal(
    c: &mut Compiler<'_, '_>,
    element: &El<'_, '_>,
    attribute: &str,
    data_type: DataType,
) -> Result<Val> {
    match element.attr(attribute) {
        Some(text) => c.literal(text, data_type, element),
        None => Ok(Val::Missing),
    }
}

fn compile_map_values(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    element: &El<'_, '_>,
) -> Result<Typed> {
    let data_type = DataType::of(element, DataType::String)?;
    let output_column = element.required("outputColumn")?;
    let mut columns = Vec::new();
    let mut slots = Vec::new();
    let mut column_types = Vec::new();
    let mut depth = 1;
    for pair in element.children_named("FieldColumnPair") {
        let info = c.resolve(scope, pair.required("field")?, &pair)?;
        depth = depth.max(info.depth + 1);
        columns.push(pair.required("column")?);
        slots.push(info.slot);
        column_types.push(info.data_type);
    }
    if slots.len() > MAX_MAP_COLUMNS {
        return Err(element.unsupported(format!(
            "MapValues with more than {MAX_MAP_COLUMNS} input columns"
        )));
    }
    if let Some(locator) = element.child("TableLocator") {
        return Err(locator.unsupported("a TableLocator (external table)"));
    }
    let table = element
        .child("InlineTable")
        .ok_or_else(|| element.invalid("an InlineTable is required"))?;
    columns.push(output_column);
    column_types.push(data_type);
    let cells = read_inline_table(c, &table, &columns, &column_types)?;
    let default = optional_literal(c, element, "defaultValue", data_type)?;
    let map_missing = optional_literal(c, element, "mapMissingTo", data_type)?;
    let map = MapValues {
        slots,
        cells,
        default,
        map_missing,
    };
    Ok(Typed {
        expr: Expr::MapValues(Box::new(map)),
        data_type,
        depth,
    })
}

/// Reads the rows of an InlineTable: for each row, one value per column in `columns` order.
fn read_inline_table(
    c: &mut Compiler<'_, '_>,
    table: &El<'_, '_>,
    columns: &[&str],
    types: &[DataType],
) -> Result<Vec<Val>> {
    let mut cells = Vec::new();
    for row in table.children_named("row") {
        for (column, data_type) in columns.iter().zip(types) {
            let cell = row
                .all_children()
                .find(|cell| cell.has_qualified_name(column))
                .ok_or_else(|| row.invalid(format!("the row has no `{column}` cell")))?;
            cells.push(c.literal(cell.text(), *data_type, &cell)?);
        }
    }
    Ok(cells)
}

fn compile_apply(c: &mut Compiler<'_, '_>, scope: ScopeId, element: &El<'_, '_>) -> Result<Typed> {
    let name = element.required("function")?;
    let Some(func) = Func::from_name(name) else {
        return define::compile_call(c, scope, element, name);
    };
    let mut args = Vec::new();
    for child in element
        .children()
        .filter(|child| is_expression(child.name()))
    {
        args.push(compile(c, scope, &child)?);
    }
    func.check_arity(args.len())
        .map_err(|message| element.invalid(message))?;
    func.check_types(&args)
        .map_err(|message| element.invalid(message))?;
    let data_type = func.result_type(&args);
    let depth = args.iter().map(|arg| arg.depth).max().unwrap_or(0) + 1;
    let map_missing = optional_value(c, element, "mapMissingTo", data_type)?;
    let default = optional_value(c, element, "defaultValue", data_type)?;
    let undefined_as_missing = match element
        .attr("invalidValueTreatment")
        .unwrap_or("returnInvalid")
    {
        "returnInvalid" | "asIs" => false,
        "asMissing" => true,
        other => return Err(element.bad_keyword("invalidValueTreatment", other)),
    };
    let plain = map_missing.is_none() && default.is_none() && data_type == DataType::Double;
    if plain
        && matches!(
            func,
            Func::Add | Func::Subtract | Func::Multiply | Func::Divide
        )
    {
        let mut operands = args.into_iter().map(|typed| typed.expr);
        if let (Some(left), Some(right)) = (operands.next(), operands.next()) {
            return Ok(Typed {
                expr: scale_or_arithmetic(Arithmetic { func, left, right }),
                data_type,
                depth,
            });
        }
        return Err(element.invalid("an arithmetic function needs two arguments"));
    }
    let apply = Apply {
        func,
        args,
        map_missing,
        default,
        undefined_as_missing,
        data_type,
    };
    Ok(Typed {
        expr: Expr::Apply(Box::new(apply)),
        data_type,
        depth,
    })
}

fn optional_value(
    c: &mut Compiler<'_, '_>,
    element: &El<'_, '_>,
    attribute: &str,
    data_type: DataType,
) -> Result<Option<Val>> {
    element
        .attr(attribute)
        .map(|text| c.literal(text, data_type, element))
        .transpose()
}

impl Expr {
    /// Evaluates the expression for the current record: constants and fields (most operands)
    /// here, without the set-up the other expressions' evaluation takes.
    #[inline]
    pub fn eval(&self, env: &mut Env<'_>) -> Result<Val> {
        match self {
            Expr::Const(value) => Ok(*value),
            Expr::Field { slot, map_missing } => {
                let value = env.value(*slot)?;
                Ok(match (value, map_missing) {
                    (Val::Missing, Some(replacement)) => *replacement,
                    _ => value,
                })
            }
            _ => self.eval_other(env),
        }
    }

    /// [`Expr::eval`] for the expressions that are neither constants nor fields.
    #[inline(never)]
    fn eval_other(&self, env: &mut Env<'_>) -> Result<Val> {
        match self {
            Expr::Const(_) | Expr::Field { .. } => self.eval(env),
            Expr::NormContinuous(norm) => norm.eval(env),
            Expr::NormDiscrete {
                slot,
                value,
                map_missing,
            } => match env.value(*slot)? {
                Val::Missing => Ok(map_missing.map_or(Val::Missing, Val::Num)),
                actual => Ok(Val::Num(if functions::equal(env, actual, *value)? {
                    1.0
                } else {
                    0.0
                })),
            },
            Expr::Discretize(discretize) => discretize.eval(env),
            Expr::MapValues(map) => map.eval(env),
            Expr::Apply(apply) => functions::eval_apply(apply, env),
            Expr::Call(call) => call.eval(env),
            Expr::Arithmetic(arithmetic) => arithmetic.eval(env),
            Expr::Scale(scale) => scale.eval(env),
        }
    }
}

/// An arithmetic on a number field and constants as a [`Scale`], or as it is.
fn scale_or_arithmetic(arithmetic: Arithmetic) -> Expr {
    let Expr::Const(Val::Num(b)) = arithmetic.right else {
        return Expr::Arithmetic(Box::new(arithmetic));
    };
    let func = arithmetic.func;
    match arithmetic.left {
        Expr::Field {
            slot,
            map_missing: None,
        } => Expr::Scale(Box::new(Scale {
            slot,
            steps: vec![(func, b)],
        })),
        Expr::Scale(mut scale) if scale.steps.len() == 1 => {
            scale.steps.push((func, b));
            Expr::Scale(scale)
        }
        left => Expr::Arithmetic(Box::new(Arithmetic {
            func,
            left,
            right: Expr::Const(Val::Num(b)),
        })),
    }
}

impl Scale {
    fn eval(&self, env: &mut Env<'_>) -> Result<Val> {
        let Some(mut x) = env.number(self.slot)? else {
            return Ok(Val::Missing);
        };
        for (func, y) in &self.steps {
            x = match func {
                Func::Add => x + y,
                Func::Subtract => x - y,
                Func::Multiply => x * y,
                _ => x / y,
            };
        }
        Ok(Val::Num(x))
    }
}

impl Arithmetic {
    fn eval(&self, env: &mut Env<'_>) -> Result<Val> {
        let left = self.left.eval(env)?;
        let right = self.right.eval(env)?;
        let (x, y) = match (left, right) {
            (Val::Num(x), Val::Num(y)) => (x, y),
            _ => match (env.as_number(left)?, env.as_number(right)?) {
                (Some(x), Some(y)) => (x, y),
                _ => return Ok(Val::Missing),
            },
        };
        Ok(Val::Num(match self.func {
            Func::Add => x + y,
            Func::Subtract => x - y,
            Func::Multiply => x * y,
            _ => x / y,
        }))
    }
}

impl NormContinuous {
    fn eval(&self, env: &mut Env<'_>) -> Result<Val> {
        let Some(x) = env.number(self.slot)? else {
            return Ok(self.map_missing.map_or(Val::Missing, Val::Num));
        };
        let points = &self.points;
        let last = points.len() - 1;
        let segment = points
            .windows(2)
            .position(|pair| x >= pair[0].0 && x <= pair[1].0);
        let (start, end) = match segment {
            Some(index) => (points[index], points[index + 1]),
            None => match self.outliers {
                NormOutliers::Missing => return Ok(Val::Missing),
                NormOutliers::Clamp if x < points[0].0 => return Ok(Val::Num(points[0].1)),
                NormOutliers::Clamp => return Ok(Val::Num(points[last].1)),
                NormOutliers::Extrapolate if x < points[0].0 => (points[0], points[1]),
                NormOutliers::Extrapolate => (points[last - 1], points[last]),
            },
        };
        Ok(Val::Num(
            start.1 + ((x - start.0) / (end.0 - start.0)) * (end.1 - start.1),
        ))
    }
}

impl Discretize {
    fn eval(&self, env: &mut Env<'_>) -> Result<Val> {
        let Some(x) = env.number(self.slot)? else {
            return Ok(self.map_missing);
        };
        Ok(self
            .bins
            .iter()
            .find(|(interval, _)| interval.contains(x))
            .map_or(self.default, |(_, value)| *value))
    }
}

impl MapValues {
    fn eval(&self, env: &mut Env<'_>) -> Result<Val> {
        let width = self.slots.len() + 1;
        let mut inputs = [Val::Missing; MAX_MAP_COLUMNS];
        for (input, slot) in inputs.iter_mut().zip(&self.slots) {
            *input = env.value(*slot)?;
            if input.is_missing() {
                return Ok(self.map_missing);
            }
        }
        for row in self.cells.chunks_exact(width) {
            if matches_row(env, &inputs[..width - 1], &row[..width - 1])? {
                return Ok(row[width - 1]);
            }
        }
        Ok(self.default)
    }
}

fn matches_row(env: &Env<'_>, inputs: &[Val], row: &[Val]) -> Result<bool> {
    for (input, cell) in inputs.iter().zip(row) {
        if !functions::equal(env, *input, *cell)? {
            return Ok(false);
        }
    }
    Ok(true)
}
