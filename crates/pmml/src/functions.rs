//! The built-in functions of `Apply`, with PMML's missing-value rules, and the comparisons and
//! special functions (normal distribution, Java rounding) the models share.

use std::cmp::Ordering;

use super::error::{Error, Result};
use super::eval::Env;
use super::expr::{Apply, Typed};
use super::temporal::{year_start, DAY};
use super::value::{round_to, DataType, Val};

/// A built-in function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// `+`
    Add,
    /// `-`
    Subtract,
    /// `*`
    Multiply,
    /// `/`
    Divide,
    /// `modulo`
    Modulo,
    /// `pow`
    Pow,
    /// `threshold`: 1 when the first argument is greater than the second, else 0.
    Threshold,
    /// `hypot`
    Hypot,
    /// `atan2`
    Atan2,
    /// `min` of the non-missing arguments.
    Min,
    /// `max` of the non-missing arguments.
    Max,
    /// `sum` of the non-missing arguments.
    Sum,
    /// `avg` of the non-missing arguments.
    Avg,
    /// `product` of the non-missing arguments.
    Product,
    /// A one-argument function on doubles (`exp`, `ln`, `sqrt`, …).
    Math(MathFn),
    /// `abs`
    Abs,
    /// `rint`
    Rint,
    /// `floor`
    Floor,
    /// `ceil`
    Ceil,
    /// `round` (half up, as Java's `Math.round`).
    Round,
    /// `isMissing`
    IsMissing,
    /// `isNotMissing`
    IsNotMissing,
    /// `equal`
    Equal,
    /// `notEqual`
    NotEqual,
    /// `lessThan`
    LessThan,
    /// `lessOrEqual`
    LessOrEqual,
    /// `greaterThan`
    GreaterThan,
    /// `greaterOrEqual`
    GreaterOrEqual,
    /// `and`
    And,
    /// `or`
    Or,
    /// `not`
    Not,
    /// `isIn`
    IsIn,
    /// `isNotIn`
    IsNotIn,
    /// `if`
    If,
    /// `uppercase`
    Uppercase,
    /// `lowercase`
    Lowercase,
    /// `trimBlanks`
    TrimBlanks,
    /// `stringLength`
    StringLength,
    /// `substring`
    Substring,
    /// `concat`
    Concat,
    /// `dateDaysSinceYear`: the days from January 1st of a year to a date (or a moment's date).
    DateDaysSinceYear,
    /// `dateSecondsSinceYear`: the seconds from January 1st of a year to a moment (or a date's
    /// midnight).
    DateSecondsSinceYear,
    /// `dateSecondsSinceMidnight`: the seconds from midnight to a time (or a moment's time).
    DateSecondsSinceMidnight,
}

/// One-argument functions computed on doubles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MathFn {
    /// `exp`
    Exp,
    /// `expm1`
    Expm1,
    /// `ln`
    Ln,
    /// `ln1p`
    Ln1p,
    /// `log10`
    Log10,
    /// `sqrt`
    Sqrt,
    /// `sin`
    Sin,
    /// `cos`
    Cos,
    /// `tan`
    Tan,
    /// `asin`
    Asin,
    /// `acos`
    Acos,
    /// `atan`
    Atan,
    /// `sinh`
    Sinh,
    /// `cosh`
    Cosh,
    /// `tanh`
    Tanh,
    /// `erf`
    Erf,
    /// `stdNormalCDF`
    StdNormalCdf,
    /// `stdNormalPDF`
    StdNormalPdf,
    /// `stdNormalIDF`
    StdNormalIdf,
}

impl MathFn {
    fn apply(self, x: f64) -> f64 {
        match self {
            MathFn::Exp => x.exp(),
            MathFn::Expm1 => x.exp_m1(),
            MathFn::Ln => x.ln(),
            MathFn::Ln1p => x.ln_1p(),
            MathFn::Log10 => x.log10(),
            MathFn::Sqrt => x.sqrt(),
            MathFn::Sin => x.sin(),
            MathFn::Cos => x.cos(),
            MathFn::Tan => x.tan(),
            MathFn::Asin => x.asin(),
            MathFn::Acos => x.acos(),
            MathFn::Atan => x.atan(),
            MathFn::Sinh => x.sinh(),
            MathFn::Cosh => x.cosh(),
            MathFn::Tanh => x.tanh(),
            MathFn::Erf => erf(x),
            MathFn::StdNormalCdf => normal_cdf(x),
            MathFn::StdNormalPdf => (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt(),
            MathFn::StdNormalIdf => normal_quantile(x),
        }
    }
}

impl Func {
    /// The function named `name` in PMML.
    pub fn from_name(name: &str) -> Option<Func> {
        use Func::*;
        use MathFn::*;
        Some(match name {
            "+" => Add,
            "-" => Subtract,
            "*" => Multiply,
            "/" => Divide,
            "modulo" => Modulo,
            "pow" => Pow,
            "threshold" => Threshold,
            "hypot" => Hypot,
            "atan2" => Atan2,
            "min" => Min,
            "max" => Max,
            "sum" => Sum,
            "avg" => Avg,
            "product" => Product,
            "exp" => Math(Exp),
            "expm1" => Math(Expm1),
            "ln" => Math(Ln),
            "ln1p" => Math(Ln1p),
            "log10" => Math(Log10),
            "sqrt" => Math(Sqrt),
            "sin" => Math(Sin),
            "cos" => Math(Cos),
            "tan" => Math(Tan),
            "asin" => Math(Asin),
            "acos" => Math(Acos),
            "atan" => Math(Atan),
            "sinh" => Math(Sinh),
            "cosh" => Math(Cosh),
            "tanh" => Math(Tanh),
            "erf" => Math(Erf),
            "stdNormalCDF" => Math(StdNormalCdf),
            "stdNormalPDF" => Math(StdNormalPdf),
            "stdNormalIDF" => Math(StdNormalIdf),
            "abs" => Abs,
            "rint" => Rint,
            "floor" => Floor,
            "ceil" => Ceil,
            "round" => Round,
            "isMissing" => IsMissing,
            "isNotMissing" => IsNotMissing,
            "equal" => Equal,
            "notEqual" => NotEqual,
            "lessThan" => LessThan,
            "lessOrEqual" => LessOrEqual,
            "greaterThan" => GreaterThan,
            "greaterOrEqual" => GreaterOrEqual,
            "and" => And,
            "or" => Or,
            "not" => Not,
            "isIn" => IsIn,
            "isNotIn" => IsNotIn,
            "if" => If,
            "uppercase" => Uppercase,
            "lowercase" => Lowercase,
            "trimBlanks" => TrimBlanks,
            "stringLength" => StringLength,
            "substring" => Substring,
            "concat" => Concat,
            "dateDaysSinceYear" => DateDaysSinceYear,
            "dateSecondsSinceYear" => DateSecondsSinceYear,
            "dateSecondsSinceMidnight" => DateSecondsSinceMidnight,
            _ => return None,
        })
    }

    /// Checks the number of arguments.
    pub fn check_arity(self, count: usize) -> Result<(), String> {
        use Func::*;
        let (min, max) = match self {
            Add | Subtract | Multiply | Divide | Modulo | Pow | Threshold | Hypot | Atan2
            | Equal | NotEqual | LessThan | LessOrEqual | GreaterThan | GreaterOrEqual
            | DateDaysSinceYear | DateSecondsSinceYear => (2, 2),
            Math(_)
            | Abs
            | Rint
            | Floor
            | Ceil
            | Round
            | IsMissing
            | IsNotMissing
            | Not
            | Uppercase
            | Lowercase
            | TrimBlanks
            | StringLength
            | DateSecondsSinceMidnight => (1, 1),
            Substring => (3, 3),
            If => (2, 3),
            And | Or | IsIn | IsNotIn | Concat => (2, usize::MAX),
            Min | Max | Sum | Avg | Product => (1, usize::MAX),
        };
        if count < min || count > max {
            return Err(format!(
                "the function {self:?} takes {min} to {max} arguments, not {count}"
            ));
        }
        Ok(())
    }

    /// Checks the static types of the arguments where the function needs particular ones (the
    /// date functions, as JPMML converts between dates, times and moments).
    pub fn check_types(self, args: &[Typed]) -> Result<(), String> {
        let from = args[0].data_type;
        let accepted = match self {
            Func::DateDaysSinceYear => matches!(from, DataType::Date | DataType::DateTime),
            Func::DateSecondsSinceYear => from == DataType::DateTime,
            Func::DateSecondsSinceMidnight => matches!(from, DataType::Time | DataType::DateTime),
            _ => true,
        };
        if accepted {
            Ok(())
        } else {
            Err(format!(
                "the function {self:?} cannot take a {}",
                super::compile::type_name(from)
            ))
        }
    }

    /// The static type of the result for these arguments.
    pub fn result_type(self, args: &[Typed]) -> DataType {
        use Func::*;
        let common = || {
            args.iter()
                .map(|arg| arg.data_type)
                .reduce(DataType::common)
                .unwrap_or(DataType::Double)
        };
        match self {
            Add | Subtract | Multiply | Divide | Modulo | Pow | Threshold | Min | Max | Sum
            | Product => common(),
            Avg => match common() {
                DataType::Integer => DataType::Double,
                other => other,
            },
            Abs | Rint => args[0].data_type,
            If => args[1].data_type,
            Floor
            | Ceil
            | Round
            | StringLength
            | DateDaysSinceYear
            | DateSecondsSinceYear
            | DateSecondsSinceMidnight => DataType::Integer,
            Math(_) | Hypot | Atan2 => DataType::Double,
            IsMissing | IsNotMissing | Equal | NotEqual | LessThan | LessOrEqual | GreaterThan
            | GreaterOrEqual | And | Or | Not | IsIn | IsNotIn => DataType::Boolean,
            Uppercase | Lowercase | TrimBlanks | Substring | Concat => DataType::String,
        }
    }
}

/// What a function gave: a value, or an undefined result (such as integer division by zero).
enum Outcome {
    Value(Val),
    Undefined(&'static str),
}

/// Evaluates an Apply for the current record.
pub fn eval_apply(apply: &Apply, env: &mut Env<'_>) -> Result<Val> {
    let outcome = match apply.func {
        Func::If => return eval_if(apply, env),
        func if is_streamed(func) => eval_streamed(apply, env)?,
        _ => {
            let mut values = [Val::Missing; 3];
            for (value, arg) in values.iter_mut().zip(&apply.args) {
                *value = arg.expr.eval(env)?;
                if let (Val::Missing, Some(replacement)) = (*value, apply.map_missing) {
                    return Ok(replacement);
                }
            }
            eval_fixed(apply, &values[..apply.args.len()], env)?
        }
    };
    match outcome {
        Outcome::Value(Val::Missing) => Ok(apply.default.unwrap_or(Val::Missing)),
        Outcome::Value(value) => Ok(value),
        Outcome::Undefined(_) if apply.undefined_as_missing => {
            Ok(apply.default.unwrap_or(Val::Missing))
        }
        Outcome::Undefined(reason) => Err(Error::scoring(format!(
            "function {:?}: {reason}",
            apply.func
        ))),
    }
}

fn is_streamed(func: Func) -> bool {
    matches!(
        func,
        Func::And
            | Func::Or
            | Func::IsIn
            | Func::IsNotIn
            | Func::Concat
            | Func::Min
            | Func::Max
            | Func::Sum
            | Func::Avg
            | Func::Product
    )
}

fn eval_if(apply: &Apply, env: &mut Env<'_>) -> Result<Val> {
    let condition = apply.args[0].expr.eval(env)?;
    let Some(flag) = env.as_bool(condition)? else {
        return Ok(apply.map_missing.or(apply.default).unwrap_or(Val::Missing));
    };
    let branch = if flag {
        apply.args.get(1)
    } else {
        apply.args.get(2)
    };
    let value = match branch {
        Some(arg) => arg.expr.eval(env)?,
        None => Val::Missing,
    };
    match (value, apply.map_missing, apply.default) {
        (Val::Missing, Some(replacement), _) if branch.is_some() => Ok(replacement),
        (Val::Missing, _, Some(default)) => Ok(default),
        _ => Ok(cast_numeric(value, apply.data_type)),
    }
}

/// Functions over any number of arguments, evaluated one argument at a time.
fn eval_streamed(apply: &Apply, env: &mut Env<'_>) -> Result<Outcome> {
    let mut fold = Fold::new(apply.func);
    for arg in &apply.args {
        let value = arg.expr.eval(env)?;
        if let (Val::Missing, Some(replacement)) = (value, apply.map_missing) {
            return Ok(Outcome::Value(replacement));
        }
        fold.push(value, env)?;
    }
    Ok(Outcome::Value(fold.finish(apply.data_type, env)))
}

/// The running state of a streamed function.
struct Fold {
    func: Func,
    first: Option<Val>,
    flag: Option<bool>,
    number: f64,
    count: usize,
    text: Option<String>,
}

impl Fold {
    fn new(func: Func) -> Self {
        let number = match func {
            Func::Product => 1.0,
            Func::Min => f64::INFINITY,
            Func::Max => f64::NEG_INFINITY,
            _ => 0.0,
        };
        Fold {
            func,
            first: None,
            flag: None,
            number,
            count: 0,
            text: None,
        }
    }

    fn push(&mut self, value: Val, env: &mut Env<'_>) -> Result<()> {
        match self.func {
            Func::And | Func::Or => {
                let next = env.as_bool(value)?;
                self.flag = match (self.count, self.flag, next) {
                    (0, _, next) => next,
                    (_, Some(acc), Some(next)) if self.func == Func::And => Some(acc && next),
                    (_, Some(acc), Some(next)) => Some(acc || next),
                    _ => None,
                };
                self.count += 1;
            }
            Func::IsIn | Func::IsNotIn => match self.first {
                None => self.first = Some(value),
                Some(first) => {
                    let found = if first.is_missing() {
                        value.is_missing()
                    } else {
                        equal(env, first, value)?
                    };
                    self.flag = Some(self.flag.unwrap_or(false) || found);
                }
            },
            Func::Concat => {
                if !value.is_missing() {
                    let text = self.text.get_or_insert_with(|| env.text_buffer());
                    append_text(env, value, text);
                }
            }
            _ => {
                if let Some(number) = env.as_number(value)? {
                    self.number = match self.func {
                        Func::Min => self.number.min(number),
                        Func::Max => self.number.max(number),
                        Func::Product => self.number * number,
                        _ => self.number + number,
                    };
                    self.count += 1;
                }
            }
        }
        Ok(())
    }

    fn finish(self, data_type: DataType, env: &mut Env<'_>) -> Val {
        match self.func {
            Func::And | Func::Or => self.flag.map_or(Val::Missing, Val::Bool),
            Func::IsIn => Val::Bool(self.flag.unwrap_or(false)),
            Func::IsNotIn => Val::Bool(!self.flag.unwrap_or(false)),
            Func::Concat => Val::Str(match self.text {
                Some(text) => env.intern_built(text),
                None => env.intern(""),
            }),
            _ if self.count == 0 => Val::Missing,
            Func::Avg => Val::Num(round_to(data_type, self.number / self.count as f64)),
            _ => Val::Num(round_to(data_type, self.number)),
        }
    }
}

/// Functions with one to three arguments.
fn eval_fixed(apply: &Apply, values: &[Val], env: &mut Env<'_>) -> Result<Outcome> {
    use Func::*;
    let func = apply.func;
    match func {
        IsMissing => return Ok(Outcome::Value(Val::Bool(values[0].is_missing()))),
        IsNotMissing => return Ok(Outcome::Value(Val::Bool(!values[0].is_missing()))),
        _ => {}
    }
    if values.iter().any(|value| value.is_missing()) {
        return Ok(Outcome::Value(Val::Missing));
    }
    let value = match func {
        Equal => Val::Bool(equal(env, values[0], values[1])?),
        NotEqual => Val::Bool(!equal(env, values[0], values[1])?),
        LessThan => Val::Bool(compare(env, values[0], values[1])? == Ordering::Less),
        LessOrEqual => Val::Bool(compare(env, values[0], values[1])? != Ordering::Greater),
        GreaterThan => Val::Bool(compare(env, values[0], values[1])? == Ordering::Greater),
        GreaterOrEqual => Val::Bool(compare(env, values[0], values[1])? != Ordering::Less),
        Not => Val::Bool(!env.as_bool(values[0])?.unwrap_or(false)),
        Uppercase | Lowercase | TrimBlanks | Substring | StringLength => {
            return eval_string(func, values, env)
        }
        DateDaysSinceYear | DateSecondsSinceYear | DateSecondsSinceMidnight => {
            return eval_date(apply, values, env)
        }
        _ => return eval_numeric(apply, values, env),
    };
    Ok(Outcome::Value(value))
}

fn eval_numeric(apply: &Apply, values: &[Val], env: &mut Env<'_>) -> Result<Outcome> {
    use Func::*;
    let x = env.as_number(values[0])?.unwrap_or(f64::NAN);
    let y = match values.get(1) {
        Some(value) => env.as_number(*value)?.unwrap_or(f64::NAN),
        None => f64::NAN,
    };
    let integers = apply.data_type == DataType::Integer;
    let result = match apply.func {
        Add => x + y,
        Subtract => x - y,
        Multiply => x * y,
        Divide if integers && y == 0.0 => return Ok(Outcome::Undefined("division by zero")),
        Divide if integers => (x / y).trunc(),
        Divide => x / y,
        Modulo if integers && y == 0.0 => return Ok(Outcome::Undefined("division by zero")),
        Modulo => x - (x / y).floor() * y,
        Pow if integers && y < 0.0 => return Ok(Outcome::Undefined("negative integer exponent")),
        Pow => x.powf(y),
        Threshold => f64::from(u8::from(x > y)),
        Hypot => x.hypot(y),
        Atan2 => x.atan2(y),
        Math(function) => function.apply(x),
        Abs => x.abs(),
        Rint => x.round_ties_even(),
        Floor => x.floor(),
        Ceil => x.ceil(),
        Round => java_round(x),
        _ => {
            return Err(Error::scoring(format!(
                "{:?} is not a numeric function",
                apply.func
            )))
        }
    };
    Ok(Outcome::Value(Val::Num(round_to(apply.data_type, result))))
}

fn eval_string(func: Func, values: &[Val], env: &mut Env<'_>) -> Result<Outcome> {
    let text = text_of(env, values[0]);
    let result = match func {
        Func::Uppercase => text.to_uppercase(),
        Func::Lowercase => text.to_lowercase(),
        Func::TrimBlanks => text.trim().to_owned(),
        Func::StringLength => {
            return Ok(Outcome::Value(Val::Num(text.encode_utf16().count() as f64)))
        }
        _ => {
            let start = env.as_number(values[1])?.unwrap_or(f64::NAN);
            let length = env.as_number(values[2])?.unwrap_or(f64::NAN);
            if start.is_nan() || length.is_nan() || start < 1.0 || length < 0.0 {
                return Ok(Outcome::Undefined(
                    "substring needs startPos >= 1 and length >= 0",
                ));
            }
            text.chars()
                .skip(start as usize - 1)
                .take(length as usize)
                .collect()
        }
    };
    Ok(Outcome::Value(Val::Str(env.intern(&result))))
}

/// The date functions, on the static type of their first argument (checked at load time).
fn eval_date(apply: &Apply, values: &[Val], env: &mut Env<'_>) -> Result<Outcome> {
    let from = apply.args[0].data_type;
    let x = env.as_number(values[0])?.unwrap_or(f64::NAN);
    let days = match from {
        DataType::Date => x,
        _ => super::temporal::floor(x / DAY),
    };
    let year = || -> Result<f64> {
        let year = env.as_number(values[1])?.unwrap_or(f64::NAN);
        Ok(year_start(year as i64) as f64)
    };
    let result = match apply.func {
        Func::DateDaysSinceYear => days - year()?,
        Func::DateSecondsSinceYear => x - year()? * DAY,
        // Whole seconds (the usual case) in integers: f64's rem_euclid is a slow software fmod.
        _ if x.fract() == 0.0 && x.abs() < 9.0e15 => (x as i64).rem_euclid(86_400) as f64,
        _ => x.rem_euclid(DAY),
    };
    Ok(Outcome::Value(Val::Num(super::temporal::floor(result))))
}

/// The text of a value, as string functions see it.
fn text_of(env: &Env<'_>, value: Val) -> String {
    let mut text = String::new();
    append_text(env, value, &mut text);
    text
}

/// Appends the text of a value, as string functions see it (nothing for a missing value).
fn append_text(env: &Env<'_>, value: Val, text: &mut String) {
    match value {
        Val::Str(id) => text.push_str(env.text(id)),
        Val::Num(number) => text.push_str(&super::value::number_text(number)),
        Val::Bool(flag) => text.push_str(if flag { "true" } else { "false" }),
        Val::Missing => {}
    }
}

fn cast_numeric(value: Val, data_type: DataType) -> Val {
    match value {
        Val::Num(number) => Val::Num(round_to(data_type, number)),
        other => other,
    }
}

/// Whether two values are equal, comparing numbers numerically and strings by text.
pub fn equal(env: &Env<'_>, left: Val, right: Val) -> Result<bool> {
    Ok(match (left, right) {
        (Val::Str(a), Val::Str(b)) => a == b,
        (Val::Bool(a), Val::Bool(b)) => a == b,
        (Val::Missing, _) | (_, Val::Missing) => left == right,
        _ => compare(env, left, right)? == Ordering::Equal,
    })
}

/// Orders two non-missing values: numerically when either is a number or boolean, else by text.
pub fn compare(env: &Env<'_>, left: Val, right: Val) -> Result<Ordering> {
    match (left, right) {
        (Val::Str(a), Val::Str(b)) => Ok(env.text(a).cmp(env.text(b))),
        _ => {
            let a = env.as_number(left)?.unwrap_or(f64::NAN);
            let b = env.as_number(right)?.unwrap_or(f64::NAN);
            a.partial_cmp(&b)
                .ok_or_else(|| Error::scoring(format!("cannot compare {a} with {b}")))
        }
    }
}

/// Java's `Math.round`: the nearest integer, halves rounded up.
pub fn java_round(x: f64) -> f64 {
    let floor = x.floor();
    if x - floor >= 0.5 {
        floor + 1.0
    } else {
        floor
    }
}

/// The standard normal cumulative distribution function.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// The error function.
pub fn erf(x: f64) -> f64 {
    1.0 - erfc(x)
}

/// The complementary error function (W. J. Cody's rational approximations, ~1e-16 relative).
pub fn erfc(x: f64) -> f64 {
    let ax = x.abs();
    let result = if ax < 0.5 {
        return 1.0 - x * erf_small(x * x);
    } else if ax < 4.0 {
        erfc_middle(ax)
    } else {
        erfc_large(ax)
    };
    if x < 0.0 {
        2.0 - result
    } else {
        result
    }
}

fn erf_small(z: f64) -> f64 {
    const A: [f64; 5] = [
        3.161_123_743_870_565_5,
        1.138_641_541_510_501_6e2,
        3.774_852_376_853_02e2,
        3.209_377_589_138_469_4e3,
        1.857_777_061_846_031_5e-1,
    ];
    const B: [f64; 4] = [
        2.360_129_095_234_412_2e1,
        2.440_246_379_344_441_7e2,
        1.282_616_526_077_372_3e3,
        2.844_236_833_439_171e3,
    ];
    let mut num = A[4] * z;
    let mut den = z;
    for i in 0..3 {
        num = (num + A[i]) * z;
        den = (den + B[i]) * z;
    }
    (num + A[3]) / (den + B[3])
}

fn erfc_middle(y: f64) -> f64 {
    const C: [f64; 9] = [
        5.641_884_969_886_701e-1,
        8.883_149_794_388_377,
        6.611_919_063_714_163e1,
        2.986_351_381_974_001e2,
        8.819_522_212_417_69e2,
        1.712_047_612_634_070_7e3,
        2.051_078_377_826_071_6e3,
        1.230_339_354_797_997_2e3,
        2.153_115_354_744_038_3e-8,
    ];
    const D: [f64; 8] = [
        1.574_492_611_070_983_5e1,
        1.176_939_508_913_125e2,
        5.371_811_018_620_099e2,
        1.621_389_574_566_690_3e3,
        3.290_799_235_733_459_7e3,
        4.362_619_090_143_247e3,
        3.439_367_674_143_721_6e3,
        1.230_339_354_803_749_5e3,
    ];
    let mut num = C[8] * y;
    let mut den = y;
    for i in 0..7 {
        num = (num + C[i]) * y;
        den = (den + D[i]) * y;
    }
    let result = (num + C[7]) / (den + D[7]);
    scaled_exp(y) * result
}

fn erfc_large(y: f64) -> f64 {
    const P: [f64; 6] = [
        3.053_266_349_612_323_6e-1,
        3.603_448_999_498_044_5e-1,
        1.257_817_261_112_292_6e-1,
        1.608_378_514_874_227_5e-2,
        6.587_491_615_298_378e-4,
        1.631_538_713_730_209_7e-2,
    ];
    const Q: [f64; 5] = [
        2.568_520_192_289_822,
        1.872_952_849_923_467_3,
        5.279_051_029_514_285e-1,
        6.051_834_131_244_132e-2,
        2.335_204_976_268_691_8e-3,
    ];
    const SQRT_PI_INV: f64 = 5.641_895_835_477_563e-1;
    if y >= 26.7 {
        return 0.0;
    }
    let z = 1.0 / (y * y);
    let mut num = P[5] * z;
    let mut den = z;
    for i in 0..4 {
        num = (num + P[i]) * z;
        den = (den + Q[i]) * z;
    }
    let result = z * (num + P[4]) / (den + Q[4]);
    let result = (SQRT_PI_INV - result) / y;
    scaled_exp(y) * result
}

/// `exp(-y*y)` computed in two parts to keep precision (as in Cody's algorithm).
fn scaled_exp(y: f64) -> f64 {
    let ysq = (y * 16.0).trunc() / 16.0;
    let del = (y - ysq) * (y + ysq);
    (-ysq * ysq).exp() * (-del).exp()
}

/// The standard normal quantile function (Acklam's algorithm refined by one Halley step).
pub fn normal_quantile(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383_577_518_672_69e2,
        -3.066479806614716e01,
        2.506628277459239e00,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549732539343734e00,
        4.374664141464968e00,
        2.938163982698783e00,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-03,
        3.224671290700398e-01,
        2.445134137142996e00,
        3.754408661907416e00,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    let error = normal_cdf(x) - p;
    let u = error * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}
