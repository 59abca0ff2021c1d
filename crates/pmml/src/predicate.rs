//! Predicates of tree nodes and segments, pre-typed at load time, evaluated with PMML's
//! three-valued logic (`None` is UNKNOWN).

use std::cmp::Ordering;

use super::compile::{Compiler, ScopeId};
use super::error::Result;
use super::eval::Env;
use super::functions::compare;
use super::value::{parse_boolean, DataType, Val};
use super::xml::parse_number;
use super::xml::El;

/// A comparison operator of a SimplePredicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
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
}

impl CmpOp {
    fn holds(self, order: Ordering) -> bool {
        match self {
            CmpOp::Equal => order == Ordering::Equal,
            CmpOp::NotEqual => order != Ordering::Equal,
            CmpOp::LessThan => order == Ordering::Less,
            CmpOp::LessOrEqual => order != Ordering::Greater,
            CmpOp::GreaterThan => order == Ordering::Greater,
            CmpOp::GreaterOrEqual => order != Ordering::Less,
        }
    }

    /// Whether `x op y` holds.
    #[inline]
    pub fn holds_for_numbers(self, x: f64, y: f64) -> bool {
        match self {
            CmpOp::Equal => x == y,
            CmpOp::NotEqual => x != y,
            CmpOp::LessThan => x < y,
            CmpOp::LessOrEqual => x <= y,
            CmpOp::GreaterThan => x > y,
            CmpOp::GreaterOrEqual => x >= y,
        }
    }
}

/// A boolean operator of a CompoundPredicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoolOp {
    /// All children true.
    And,
    /// Any child true.
    Or,
    /// An odd number of children true.
    Xor,
    /// The first child that is not UNKNOWN decides.
    Surrogate,
}

/// A compiled predicate.
#[derive(Clone, Debug)]
pub enum Pred {
    /// Always true.
    True,
    /// Always false.
    False,
    /// A number field compared with a number.
    Number {
        /// The field's slot.
        slot: u32,
        /// The operator.
        op: CmpOp,
        /// The threshold, in the field's type.
        value: f64,
    },
    /// A non-numeric field compared with a value.
    Value {
        /// The field's slot.
        slot: u32,
        /// The operator.
        op: CmpOp,
        /// The value, in the field's type.
        value: Val,
    },
    /// `isMissing` (or `isNotMissing` when `negate`).
    Missing {
        /// The field's slot.
        slot: u32,
        /// Whether this is `isNotMissing`.
        negate: bool,
    },
    /// A SimpleSetPredicate.
    Set {
        /// The field's slot.
        slot: u32,
        /// Whether this is `isNotIn`.
        negate: bool,
        /// The set's values, in the field's type.
        values: Box<[Val]>,
    },
    /// A CompoundPredicate.
    Compound {
        /// The operator.
        op: BoolOp,
        /// The child predicates.
        children: Box<[Pred]>,
    },
}

/// The predicate element among the children of `parent` (a Node or Segment), if any.
pub fn find<'a, 'input>(parent: &El<'a, 'input>) -> Option<El<'a, 'input>> {
    parent.children().find(|child| {
        matches!(
            child.name(),
            "True" | "False" | "SimplePredicate" | "CompoundPredicate" | "SimpleSetPredicate"
        )
    })
}

/// Compiles a predicate element.
pub fn compile(c: &mut Compiler<'_, '_>, scope: ScopeId, element: &El<'_, '_>) -> Result<Pred> {
    match element.name() {
        "True" => Ok(Pred::True),
        "False" => Ok(Pred::False),
        "SimplePredicate" => compile_simple(c, scope, element),
        "SimpleSetPredicate" => compile_set(c, scope, element),
        "CompoundPredicate" => compile_compound(c, scope, element),
        other => Err(element.unsupported(format!("the predicate <{other}>"))),
    }
}

fn compile_simple(c: &mut Compiler<'_, '_>, scope: ScopeId, element: &El<'_, '_>) -> Result<Pred> {
    let info = c.resolve(scope, element.required("field")?, element)?;
    let op = match element.required("operator")? {
        "isMissing" => {
            return Ok(Pred::Missing {
                slot: info.slot,
                negate: false,
            })
        }
        "isNotMissing" => {
            return Ok(Pred::Missing {
                slot: info.slot,
                negate: true,
            })
        }
        "equal" => CmpOp::Equal,
        "notEqual" => CmpOp::NotEqual,
        "lessThan" => CmpOp::LessThan,
        "lessOrEqual" => CmpOp::LessOrEqual,
        "greaterThan" => CmpOp::GreaterThan,
        "greaterOrEqual" => CmpOp::GreaterOrEqual,
        other => return Err(element.bad_keyword("operator", other)),
    };
    let text = element.required("value")?;
    let value = match (info.data_type, parse_number::<f64>(text)) {
        // A boolean compared with a number (`flag <= 0.5`, as tree learners split): as 1 or 0.
        (DataType::Boolean, Some(number)) if parse_boolean(text).is_none() => {
            return Ok(Pred::Number {
                slot: info.slot,
                op,
                value: number,
            })
        }
        _ => c.literal(text, info.data_type, element)?,
    };
    Ok(match value {
        Val::Num(number) if info.data_type.is_numeric() => Pred::Number {
            slot: info.slot,
            op,
            value: number,
        },
        _ => Pred::Value {
            slot: info.slot,
            op,
            value,
        },
    })
}

fn compile_set(c: &mut Compiler<'_, '_>, scope: ScopeId, element: &El<'_, '_>) -> Result<Pred> {
    let info = c.resolve(scope, element.required("field")?, element)?;
    let negate = match element.required("booleanOperator")? {
        "isIn" => false,
        "isNotIn" => true,
        other => return Err(element.bad_keyword("booleanOperator", other)),
    };
    let array = element
        .child("Array")
        .ok_or_else(|| element.invalid("an Array is required"))?;
    let values = read_array(c, &array, info.data_type)?;
    Ok(Pred::Set {
        slot: info.slot,
        negate,
        values: values.into_boxed_slice(),
    })
}

/// Reads the values of an `Array` element as values of `data_type`.
pub fn read_array(
    c: &mut Compiler<'_, '_>,
    array: &El<'_, '_>,
    data_type: DataType,
) -> Result<Vec<Val>> {
    match array.attr("type") {
        Some("int" | "real" | "string") | None => {}
        Some(other) => return Err(array.bad_keyword("type", other)),
    }
    let tokens =
        split_array(array.text()).ok_or_else(|| array.invalid("an unterminated quoted string"))?;
    let values = tokens
        .iter()
        .map(|token| c.literal(token, data_type, array))
        .collect::<Result<Vec<_>>>()?;
    if let Some(count) = array.parsed::<usize>("n")? {
        if count != values.len() {
            return Err(array.invalid(format!(
                "n=\"{count}\" but the array has {} values",
                values.len()
            )));
        }
    }
    Ok(values)
}

/// Splits an Array's text on whitespace; double-quoted tokens may contain spaces and `\"`.
fn split_array(text: &str) -> Option<Vec<String>> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&first) = chars.peek() {
        if first.is_whitespace() {
            chars.next();
            continue;
        }
        let mut token = String::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next()? {
                    '\\' if chars.peek() == Some(&'"') => token.push(chars.next()?),
                    '"' => break,
                    other => token.push(other),
                }
            }
        } else {
            while let Some(&next) = chars.peek().filter(|next| !next.is_whitespace()) {
                token.push(next);
                chars.next();
            }
        }
        tokens.push(token);
    }
    Some(tokens)
}

fn compile_compound(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    element: &El<'_, '_>,
) -> Result<Pred> {
    let op = match element.required("booleanOperator")? {
        "and" => BoolOp::And,
        "or" => BoolOp::Or,
        "xor" => BoolOp::Xor,
        "surrogate" => BoolOp::Surrogate,
        other => return Err(element.bad_keyword("booleanOperator", other)),
    };
    let mut children = Vec::new();
    for child in element.children() {
        children.push(compile(c, scope, &child)?);
    }
    if children.len() < 2 {
        return Err(element.invalid("a CompoundPredicate needs at least two predicates"));
    }
    Ok(Pred::Compound {
        op,
        children: children.into_boxed_slice(),
    })
}

impl Pred {
    /// Evaluates the predicate: `Some(true)`, `Some(false)` or `None` (UNKNOWN). The common
    /// number comparison is inlined into the caller.
    #[inline(always)]
    pub fn eval(&self, env: &mut Env<'_>) -> Result<Option<bool>> {
        match self {
            Pred::Number { slot, op, value } => {
                Ok(env.number(*slot)?.map(|x| op.holds_for_numbers(x, *value)))
            }
            Pred::True => Ok(Some(true)),
            _ => self.eval_other(env),
        }
    }

    fn eval_other(&self, env: &mut Env<'_>) -> Result<Option<bool>> {
        match self {
            Pred::True => Ok(Some(true)),
            Pred::False => Ok(Some(false)),
            Pred::Number { slot, op, value } => {
                Ok(env.number(*slot)?.map(|x| op.holds_for_numbers(x, *value)))
            }
            Pred::Value { slot, op, value } => match env.value(*slot)? {
                Val::Missing => Ok(None),
                actual if *op == CmpOp::Equal || *op == CmpOp::NotEqual => {
                    let equal = super::functions::equal(env, actual, *value)?;
                    Ok(Some(equal == (*op == CmpOp::Equal)))
                }
                actual => Ok(Some(op.holds(compare(env, actual, *value)?))),
            },
            Pred::Missing { slot, negate } => Ok(Some(env.value(*slot)?.is_missing() != *negate)),
            Pred::Set {
                slot,
                negate,
                values,
            } => match env.value(*slot)? {
                Val::Missing => Ok(None),
                actual => {
                    let mut found = false;
                    for value in values.iter() {
                        found |= super::functions::equal(env, actual, *value)?;
                    }
                    Ok(Some(found != *negate))
                }
            },
            Pred::Compound { op, children } => eval_compound(*op, children, env),
        }
    }
}

fn eval_compound(op: BoolOp, children: &[Pred], env: &mut Env<'_>) -> Result<Option<bool>> {
    match op {
        BoolOp::And => {
            let mut unknown = false;
            for child in children {
                match child.eval(env)? {
                    Some(false) => return Ok(Some(false)),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            Ok(if unknown { None } else { Some(true) })
        }
        BoolOp::Or => {
            let mut unknown = false;
            for child in children {
                match child.eval(env)? {
                    Some(true) => return Ok(Some(true)),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            Ok(if unknown { None } else { Some(false) })
        }
        BoolOp::Xor => {
            let mut parity = false;
            for child in children {
                match child.eval(env)? {
                    Some(flag) => parity ^= flag,
                    None => return Ok(None),
                }
            }
            Ok(Some(parity))
        }
        BoolOp::Surrogate => {
            for child in children {
                if let Some(flag) = child.eval(env)? {
                    return Ok(Some(flag));
                }
            }
            Ok(None)
        }
    }
}
