//! The DataDictionary and MiningSchema: field types, valid/invalid/missing values, intervals, and
//! the treatment of missing, invalid and outlying input values.

use std::collections::HashMap;

use super::error::{Error, Result};
use super::eval::Env;
use super::value::{parse_literal, round_to, DataType, Interner, OpType, Val};
use super::xml::El;
use crate::Input;

/// An interval of numbers with open or closed ends.
#[derive(Clone, Copy, Debug)]
pub struct Interval {
    /// The left end (`-inf` when absent).
    pub left: f64,
    /// The right end (`+inf` when absent).
    pub right: f64,
    /// Whether the left end belongs to the interval.
    pub left_closed: bool,
    /// Whether the right end belongs to the interval.
    pub right_closed: bool,
}

impl Interval {
    /// Reads an `Interval` element.
    pub fn parse(element: &El<'_, '_>) -> Result<Self> {
        let closure = element.required("closure")?;
        let (left_closed, right_closed) = match closure {
            "openClosed" => (false, true),
            "openOpen" => (false, false),
            "closedOpen" => (true, false),
            "closedClosed" => (true, true),
            other => return Err(element.bad_keyword("closure", other)),
        };
        let left = element.parsed("leftMargin")?.unwrap_or(f64::NEG_INFINITY);
        let right = element.parsed("rightMargin")?.unwrap_or(f64::INFINITY);
        Ok(Interval {
            left,
            right,
            left_closed,
            right_closed,
        })
    }

    /// Whether `value` lies in the interval.
    pub fn contains(&self, value: f64) -> bool {
        let above = if self.left_closed {
            value >= self.left
        } else {
            value > self.left
        };
        let below = if self.right_closed {
            value <= self.right
        } else {
            value < self.right
        };
        above && below
    }
}

/// A `DataField` of the DataDictionary.
#[derive(Clone, Debug)]
pub struct DataFieldDef {
    /// The field's data type.
    pub data_type: DataType,
    /// The field's operational type.
    pub op_type: OpType,
    /// The valid values, in document order (empty: any value is valid).
    pub valid: Vec<Val>,
    /// The texts of the valid values, in document order.
    pub valid_texts: Vec<String>,
    /// Values declared invalid.
    pub invalid: Vec<Val>,
    /// Values that stand for a missing value.
    pub missing: Vec<Val>,
    /// The valid ranges of a continuous field (empty: any number).
    pub intervals: Vec<Interval>,
}

/// Reads the DataDictionary into field definitions by name.
pub fn read_data_dictionary(
    dictionary: &El<'_, '_>,
    interner: &mut Interner,
) -> Result<HashMap<String, DataFieldDef>> {
    let mut fields = HashMap::new();
    for element in dictionary.children_named("DataField") {
        let name = element.required("name")?;
        let field = read_data_field(&element, interner)?;
        if fields.insert(name.to_owned(), field).is_some() {
            return Err(element.invalid(format!("the field `{name}` is defined twice")));
        }
    }
    Ok(fields)
}

fn read_data_field(element: &El<'_, '_>, interner: &mut Interner) -> Result<DataFieldDef> {
    let data_type = DataType::from_keyword(element.required("dataType")?, element)?;
    let op_type = OpType::of(element, data_type)?;
    let mut field = DataFieldDef {
        data_type,
        op_type,
        valid: Vec::new(),
        valid_texts: Vec::new(),
        invalid: Vec::new(),
        missing: Vec::new(),
        intervals: Vec::new(),
    };
    for child in element.children() {
        match child.name() {
            "Value" => read_value(&child, &mut field, interner)?,
            "Interval" => field.intervals.push(Interval::parse(&child)?),
            "Taxonomy" => return Err(child.unsupported("a taxonomy")),
            _ => {}
        }
    }
    Ok(field)
}

fn read_value(
    element: &El<'_, '_>,
    field: &mut DataFieldDef,
    interner: &mut Interner,
) -> Result<()> {
    let text = element.required("value")?;
    let value = parse_literal(text, field.data_type, interner).ok_or_else(|| {
        element.invalid(format!(
            "the value `{text}` is not of the field's data type {:?}",
            field.data_type
        ))
    })?;
    match element.attr("property").unwrap_or("valid") {
        "valid" => {
            field.valid.push(value);
            field.valid_texts.push(text.to_owned());
        }
        "invalid" => field.invalid.push(value),
        "missing" => field.missing.push(value),
        other => return Err(element.bad_keyword("property", other)),
    }
    Ok(())
}

/// How a MiningField uses its field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// An input of the model.
    Active,
    /// The model's target.
    Target,
    /// Carried along, not used for scoring.
    Supplementary,
}

/// What to do with an invalid input value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InvalidTreatment {
    /// Fail the record.
    ReturnInvalid,
    /// Use the value as it is.
    AsIs,
    /// Treat it as missing.
    AsMissing,
    /// Replace it with a fixed value.
    AsValue(Val),
}

/// What to do with a valid value outside `[low, high]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outliers {
    /// Keep it.
    Keep,
    /// Treat it as missing.
    Missing {
        /// The lowest accepted value.
        low: f64,
        /// The highest accepted value.
        high: f64,
    },
    /// Clamp it to the bounds.
    Clamp {
        /// The lowest accepted value.
        low: f64,
        /// The highest accepted value.
        high: f64,
    },
}

/// A `MiningField` of a model's MiningSchema.
#[derive(Clone, Debug)]
pub struct MiningFieldDef {
    /// How the model uses the field.
    pub usage: Usage,
    invalid: InvalidTreatment,
    missing_replacement: Option<String>,
    missing_is_error: bool,
    outliers: Outliers,
    op_type: Option<OpType>,
}

/// A MiningField: its name, definition and element.
pub type MiningEntry<'a, 'input> = (String, MiningFieldDef, El<'a, 'input>);

/// Reads a MiningSchema into mining field definitions, in document order.
pub fn read_mining_schema<'a, 'input>(
    schema: &El<'a, 'input>,
    interner: &mut Interner,
) -> Result<Vec<MiningEntry<'a, 'input>>> {
    schema
        .children_named("MiningField")
        .map(|element| {
            let name = element.required("name")?.to_owned();
            Ok((name, read_mining_field(&element, interner)?, element))
        })
        .collect()
}

fn read_mining_field(element: &El<'_, '_>, interner: &mut Interner) -> Result<MiningFieldDef> {
    let usage = match element.attr("usageType").unwrap_or("active") {
        "active" => Usage::Active,
        "target" | "predicted" => Usage::Target,
        "supplementary" | "frequencyWeight" | "analysisWeight" => Usage::Supplementary,
        other => return Err(element.bad_keyword("usageType", other)),
    };
    let invalid = match element
        .attr("invalidValueTreatment")
        .unwrap_or("returnInvalid")
    {
        "returnInvalid" => InvalidTreatment::ReturnInvalid,
        "asIs" => InvalidTreatment::AsIs,
        "asMissing" => InvalidTreatment::AsMissing,
        "asValue" => {
            let text = element.required("invalidValueReplacement")?;
            InvalidTreatment::AsValue(Val::Str(interner.intern(text)))
        }
        other => return Err(element.bad_keyword("invalidValueTreatment", other)),
    };
    let missing_is_error = match element.attr("missingValueTreatment").unwrap_or("asIs") {
        "asIs" | "asMean" | "asMode" | "asMedian" | "asValue" => false,
        "returnInvalid" => true,
        other => return Err(element.bad_keyword("missingValueTreatment", other)),
    };
    Ok(MiningFieldDef {
        usage,
        invalid,
        missing_replacement: element.attr("missingValueReplacement").map(str::to_owned),
        missing_is_error,
        outliers: read_outliers(element)?,
        op_type: element
            .attr("optype")
            .map(|_| OpType::of(element, DataType::Double))
            .transpose()?,
    })
}

fn read_outliers(element: &El<'_, '_>) -> Result<Outliers> {
    let keyword = element.attr("outliers").unwrap_or("asIs");
    if keyword == "asIs" {
        return Ok(Outliers::Keep);
    }
    let low = element.parsed("lowValue")?.unwrap_or(f64::NEG_INFINITY);
    let high = element.parsed("highValue")?.unwrap_or(f64::INFINITY);
    if low > high {
        return Err(element.invalid("lowValue is greater than highValue"));
    }
    match keyword {
        "asMissingValues" => Ok(Outliers::Missing { low, high }),
        "asExtremeValues" => Ok(Outliers::Clamp { low, high }),
        other => Err(element.bad_keyword("outliers", other)),
    }
}

impl MiningFieldDef {
    /// Whether the field passes through unchanged (no replacement, clamping or re-typing), so a
    /// nested model can share its enclosing model's value.
    pub fn is_pass_through(&self) -> bool {
        matches!(
            self.invalid,
            InvalidTreatment::ReturnInvalid | InvalidTreatment::AsIs
        ) && self.missing_replacement.is_none()
            && !self.missing_is_error
            && self.outliers == Outliers::Keep
            && self.op_type.is_none()
    }

    /// The operational type this model gives the field, if it overrides the dictionary's.
    pub fn op_type(&self) -> Option<OpType> {
        self.op_type
    }
}

/// How one input value is checked and treated before a model sees it.
#[derive(Clone, Debug)]
pub struct Preparation {
    name: String,
    data_type: DataType,
    valid: Vec<Val>,
    invalid: Vec<Val>,
    missing: Vec<Val>,
    intervals: Vec<Interval>,
    invalid_treatment: InvalidTreatment,
    missing_replacement: Option<Val>,
    missing_is_error: bool,
    outliers: Outliers,
    /// Whether a number passes unchanged (rounded to `f32` for a float field): a double or float
    /// field without value lists (but NaN as its missing value, which no number equals),
    /// intervals or outlier treatment (the common case, taken without further checks).
    plain_number: bool,
}

impl Preparation {
    /// The preparation of field `name` as `mining` describes it; fails with a message when a
    /// replacement value is not of the field's type.
    pub fn new(
        name: &str,
        field: &DataFieldDef,
        data_type: DataType,
        mining: &MiningFieldDef,
        interner: &mut Interner,
    ) -> Result<Self, String> {
        let literal = |text: &str, interner: &mut Interner| {
            parse_literal(text, data_type, interner)
                .ok_or_else(|| format!("`{text}` is not a valid value of `{name}` ({data_type:?})"))
        };
        let missing_replacement = mining
            .missing_replacement
            .as_deref()
            .map(|text| literal(text, interner))
            .transpose()?;
        let invalid_treatment = match mining.invalid {
            InvalidTreatment::AsValue(Val::Str(id)) => {
                let text = interner.text(id).cloned().unwrap_or_default();
                InvalidTreatment::AsValue(literal(&text, interner)?)
            }
            other => other,
        };
        let plain_number = matches!(data_type, DataType::Double | DataType::Float)
            && field.valid.is_empty()
            && field.invalid.is_empty()
            && field
                .missing
                .iter()
                .all(|value| matches!(value, Val::Num(x) if x.is_nan()))
            && field.intervals.is_empty()
            && mining.outliers == Outliers::Keep;
        Ok(Preparation {
            plain_number,
            name: name.to_owned(),
            data_type,
            valid: field.valid.clone(),
            invalid: field.invalid.clone(),
            missing: field.missing.clone(),
            intervals: field.intervals.clone(),
            invalid_treatment,
            missing_replacement,
            missing_is_error: mining.missing_is_error,
            outliers: mining.outliers,
        })
    }

    /// For a field whose numbers pass unchanged (see `plain_number`): whether they are rounded to
    /// `f32` (a float field).
    pub fn plain_number(&self) -> Option<bool> {
        self.plain_number
            .then_some(self.data_type == DataType::Float)
    }

    /// Prepares a raw input value.
    #[inline]
    pub fn prepare(&self, raw: Input<'_>, env: &mut Env<'_>) -> Result<Val> {
        match raw {
            Input::Number(number) if self.plain_number && !number.is_nan() => {
                Ok(Val::Num(round_to(self.data_type, number)))
            }
            _ => self.prepare_checked(raw, env),
        }
    }

    fn prepare_checked(&self, raw: Input<'_>, env: &mut Env<'_>) -> Result<Val> {
        let converted = match raw {
            Input::Missing => return self.treat_missing(),
            Input::Number(number) if number.is_nan() => return self.treat_missing(),
            Input::Number(number) => self.convert_number(number, env),
            Input::Text(text) => self.convert_text(text, env),
        };
        match converted {
            Some(value) => self.check(value),
            None => self.treat_incompatible(raw),
        }
    }

    /// Prepares a value an enclosing model already prepared (a nested model's own treatment).
    pub fn prepare_value(&self, value: Val, env: &mut Env<'_>) -> Result<Val> {
        match value {
            Val::Missing => self.treat_missing(),
            Val::Str(id) => {
                let text = env.text(id).to_owned();
                self.prepare(Input::Text(&text), env)
            }
            Val::Num(number) => self.prepare(Input::Number(number), env),
            Val::Bool(flag) => self.prepare(Input::Number(f64::from(u8::from(flag))), env),
        }
    }

    fn convert_number(&self, number: f64, env: &mut Env<'_>) -> Option<Val> {
        match self.data_type {
            DataType::Double | DataType::Float => Some(Val::Num(round_to(self.data_type, number))),
            DataType::Integer => (number.fract() == 0.0).then_some(Val::Num(number)),
            DataType::Boolean => match number {
                0.0 => Some(Val::Bool(false)),
                1.0 => Some(Val::Bool(true)),
                _ => None,
            },
            DataType::String => Some(Val::Str(env.intern(&super::value::number_text(number)))),
            DataType::Date | DataType::Time | DataType::DateTime => None,
            _ => Some(Val::Num(number)),
        }
    }

    fn convert_text(&self, text: &str, env: &mut Env<'_>) -> Option<Val> {
        match self.data_type {
            DataType::String => {
                // A few valid values: comparing the text with each is faster than hashing it
                // (ids are unique per text, so the id is the one `intern` would give).
                if self.valid.len() <= 8 {
                    for value in &self.valid {
                        if let Val::Str(id) = *value {
                            if env.text(id) == text {
                                return Some(*value);
                            }
                        }
                    }
                }
                Some(Val::Str(env.intern(text)))
            }
            DataType::Double => text.trim().parse().ok().map(Val::Num),
            DataType::Float => text
                .trim()
                .parse::<f32>()
                .ok()
                .map(|value| Val::Num(f64::from(value))),
            DataType::Integer => super::value::parse_integer(text).map(Val::Num),
            DataType::Boolean => super::value::parse_boolean(text).map(Val::Bool),
            temporal => super::value::parse_temporal(text, temporal).map(Val::Num),
        }
    }

    fn check(&self, value: Val) -> Result<Val> {
        if self.missing.contains(&value) {
            return self.treat_missing();
        }
        let listed_invalid = self.invalid.contains(&value);
        let unlisted = !self.valid.is_empty() && !self.valid.contains(&value);
        let outside = match value {
            Val::Num(number) => {
                !self.intervals.is_empty() && !self.intervals.iter().any(|i| i.contains(number))
            }
            _ => false,
        };
        if listed_invalid || unlisted || outside {
            return self.treat_invalid(value);
        }
        Ok(self.treat_outlier(value))
    }

    fn treat_missing(&self) -> Result<Val> {
        if self.missing_is_error {
            return Err(Error::scoring(format!(
                "field `{}` cannot accept a missing value",
                self.name
            )));
        }
        Ok(self.missing_replacement.unwrap_or(Val::Missing))
    }

    fn treat_invalid(&self, value: Val) -> Result<Val> {
        match self.invalid_treatment {
            InvalidTreatment::ReturnInvalid => Err(Error::scoring(format!(
                "field `{}` cannot accept the invalid value {value:?}",
                self.name
            ))),
            InvalidTreatment::AsIs => Ok(value),
            InvalidTreatment::AsMissing => self.treat_missing(),
            InvalidTreatment::AsValue(replacement) => Ok(replacement),
        }
    }

    fn treat_incompatible(&self, raw: Input<'_>) -> Result<Val> {
        match self.invalid_treatment {
            InvalidTreatment::AsMissing => self.treat_missing(),
            InvalidTreatment::AsValue(replacement) => Ok(replacement),
            InvalidTreatment::ReturnInvalid | InvalidTreatment::AsIs => {
                Err(Error::scoring(format!(
                    "field `{}` ({:?}) cannot accept the value {raw:?}",
                    self.name, self.data_type
                )))
            }
        }
    }

    fn treat_outlier(&self, value: Val) -> Val {
        let Val::Num(number) = value else {
            return value;
        };
        match self.outliers {
            Outliers::Keep => value,
            Outliers::Missing { low, high } if number < low || number > high => {
                self.missing_replacement.unwrap_or(Val::Missing)
            }
            Outliers::Clamp { low, .. } if number < low => Val::Num(round_to(self.data_type, low)),
            Outliers::Clamp { high, .. } if number > high => {
                Val::Num(round_to(self.data_type, high))
            }
            _ => value,
        }
    }
}
