//! Runtime values, PMML data and operational types, and the string interner that lets scoring
//! compare categorical values as integers.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::error::Result;
use super::temporal;
use super::xml::{parse_number, El};

/// A PMML data type the engine evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    /// Text.
    String,
    /// A whole number (kept as `f64`; integer-only arithmetic is chosen at load time).
    Integer,
    /// A 32-bit float: values are rounded to `f32` when they enter a field of this type.
    Float,
    /// A 64-bit float.
    Double,
    /// `true` or `false`.
    Boolean,
    /// A day: days since 1970-01-01.
    Date,
    /// A time of day: seconds since midnight.
    Time,
    /// A moment: seconds since 1970-01-01T00:00:00.
    DateTime,
    /// `dateDaysSince[YEAR]`: days since January 1st of the year.
    DateDaysSince(i16),
    /// `timeSeconds`: seconds since midnight.
    TimeSeconds,
    /// `dateTimeSecondsSince[YEAR]`: seconds since January 1st of the year.
    DateTimeSecondsSince(i16),
}

impl DataType {
    /// Reads a `dataType` attribute value.
    pub fn from_keyword(keyword: &str, element: &El<'_, '_>) -> Result<Self> {
        match keyword {
            "string" => Ok(DataType::String),
            "integer" => Ok(DataType::Integer),
            "float" => Ok(DataType::Float),
            "double" => Ok(DataType::Double),
            "boolean" => Ok(DataType::Boolean),
            "date" => Ok(DataType::Date),
            "time" => Ok(DataType::Time),
            "dateTime" => Ok(DataType::DateTime),
            "timeSeconds" => Ok(DataType::TimeSeconds),
            other => since_year(other)
                .ok_or_else(|| element.unsupported(format!("dataType=\"{other}\""))),
        }
    }

    /// Whether values of this type are dates, times or counts of days or seconds since an origin.
    pub fn is_temporal(self) -> bool {
        matches!(
            self,
            DataType::Date
                | DataType::Time
                | DataType::DateTime
                | DataType::DateDaysSince(_)
                | DataType::TimeSeconds
                | DataType::DateTimeSecondsSince(_)
        )
    }

    /// The `dataType` attribute of `element`, or `default` when absent.
    pub fn of(element: &El<'_, '_>, default: DataType) -> Result<Self> {
        element.attr("dataType").map_or(Ok(default), |keyword| {
            DataType::from_keyword(keyword, element)
        })
    }

    /// Whether values of this type are numbers.
    pub fn is_numeric(self) -> bool {
        matches!(self, DataType::Integer | DataType::Float | DataType::Double)
    }

    /// The type of an arithmetic result on operands of types `self` and `other`.
    pub fn common(self, other: DataType) -> DataType {
        use DataType::*;
        match (self, other) {
            (Integer, Integer) => Integer,
            (Double, _) | (_, Double) => Double,
            (Float, _) | (_, Float) => Float,
            _ => Double,
        }
    }
}

/// `dateDaysSince[YEAR]` or `dateTimeSecondsSince[YEAR]` for the years PMML names.
fn since_year(keyword: &str) -> Option<DataType> {
    let (kind, rest) = keyword.split_once('[')?;
    let year: i16 = match rest.strip_suffix(']')? {
        year @ ("0" | "1960" | "1970" | "1980") => year.parse().ok()?,
        _ => return None,
    };
    match kind {
        "dateDaysSince" => Some(DataType::DateDaysSince(year)),
        "dateTimeSecondsSince" => Some(DataType::DateTimeSecondsSince(year)),
        _ => None,
    }
}

/// Reads a text as a value of a temporal type: a date, time or dateTime as written in ISO 8601
/// (for the counting types too, as JPMML reads texts; numbers come as numbers).
pub fn parse_temporal(text: &str, data_type: DataType) -> Option<f64> {
    let since = |year: i16| temporal::year_start(i64::from(year)) as f64;
    match data_type {
        DataType::Date => temporal::parse_date(text),
        DataType::Time | DataType::TimeSeconds => temporal::parse_time(text),
        DataType::DateTime => temporal::parse_date_time(text),
        DataType::DateDaysSince(year) => Some(temporal::parse_date(text)? - since(year)),
        DataType::DateTimeSecondsSince(year) => {
            Some(temporal::parse_date_time(text)? - since(year) * temporal::DAY)
        }
        _ => None,
    }
}

/// A PMML operational type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpType {
    /// Unordered categories.
    Categorical,
    /// Ordered categories.
    Ordinal,
    /// Numbers on a scale.
    Continuous,
}

impl OpType {
    /// The `optype` attribute of `element`, or the default for `data_type` when absent.
    pub fn of(element: &El<'_, '_>, data_type: DataType) -> Result<Self> {
        match element.attr("optype") {
            Some("categorical") => Ok(OpType::Categorical),
            Some("ordinal") => Ok(OpType::Ordinal),
            Some("continuous") => Ok(OpType::Continuous),
            Some(other) => Err(element.bad_keyword("optype", other)),
            None if data_type.is_numeric() => Ok(OpType::Continuous),
            None => Ok(OpType::Categorical),
        }
    }
}

/// A value during scoring. Strings are interned: equal strings have equal ids.
///
/// The tag is a whole word, so that a value is copied as two words (a byte tag makes the
/// compiler copy the payload in unaligned pieces, which stalls store forwarding on every slot
/// write: that was most of the cost of preparing a record's inputs).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(u64)]
pub enum Val {
    /// No value.
    Missing,
    /// A number (integer, float or double field).
    Num(f64),
    /// A string, by interned id.
    Str(u32),
    /// A boolean.
    Bool(bool),
}

impl Val {
    /// Whether the value is missing.
    pub fn is_missing(self) -> bool {
        matches!(self, Val::Missing)
    }

    /// Whether the value is present and of `data_type` as such (a number of a double field, a
    /// string of a string field, a boolean of a boolean field).
    #[inline]
    pub fn has_type(self, data_type: DataType) -> bool {
        matches!(
            (self, data_type),
            (Val::Num(_), DataType::Double)
                | (Val::Str(_), DataType::String)
                | (Val::Bool(_), DataType::Boolean)
        )
    }
}

/// Rounds `value` to the precision of `data_type` (float fields hold `f32` values).
pub fn round_to(data_type: DataType, value: f64) -> f64 {
    if data_type == DataType::Float {
        f64::from(value as f32)
    } else {
        value
    }
}

/// FNV-1a: a fast hash for the short strings of categorical inputs, looked up on every record
/// (the interner's keys are the document's own strings, not an attacker's choice of keys).
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

/// The strings a model mentions, each with a stable id and its numeric reading.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: HashMap<Arc<str>, u32, BuildHasherDefault<Fnv>>,
    texts: Vec<Arc<str>>,
    numbers: Vec<f64>,
}

impl Interner {
    /// The id of `text`, adding it when new.
    pub fn intern(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        let id = self.texts.len() as u32;
        let shared: Arc<str> = Arc::from(text);
        self.ids.insert(shared.clone(), id);
        self.texts.push(shared);
        self.numbers.push(parse_number(text).unwrap_or(f64::NAN));
        id
    }

    /// The id of `text` if it was interned at load time.
    pub fn lookup(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    /// How many strings were interned at load time.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// The text of a load-time id.
    pub fn text(&self, id: u32) -> Option<&Arc<str>> {
        self.texts.get(id as usize)
    }

    /// The numeric reading of a load-time id (NaN when the text is not a number).
    pub fn number(&self, id: u32) -> Option<f64> {
        self.numbers.get(id as usize).copied()
    }
}

/// Reads `text` as a value of `data_type`; `None` when it is not one.
pub fn parse_literal(text: &str, data_type: DataType, interner: &mut Interner) -> Option<Val> {
    match data_type {
        DataType::String => Some(Val::Str(interner.intern(text))),
        DataType::Double => parse_number::<f64>(text).map(Val::Num),
        DataType::Float => parse_number::<f32>(text).map(|value| Val::Num(f64::from(value))),
        DataType::Integer => parse_integer(text).map(Val::Num),
        DataType::Boolean => parse_boolean(text).map(Val::Bool),
        temporal => parse_temporal(text, temporal).map(Val::Num),
    }
}

/// Reads an integer, accepting an integral decimal such as `5.0`.
pub fn parse_integer(text: &str) -> Option<f64> {
    if let Some(value) = parse_number::<i64>(text) {
        return Some(value as f64);
    }
    parse_number::<f64>(text).filter(|value| value.fract() == 0.0)
}

/// Reads a boolean as JPMML does: `true`/`false` (any case, so R's `TRUE`/`FALSE` too) or a
/// number equal to 1 or 0 (`1`, `0.0`).
pub fn parse_boolean(text: &str) -> Option<bool> {
    match text.trim() {
        t if t.eq_ignore_ascii_case("true") => Some(true),
        t if t.eq_ignore_ascii_case("false") => Some(false),
        t => match parse_number::<f64>(t) {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
    }
}

/// The text of a number as a categorical label: integral values without a fraction (`5`), other
/// values in Rust's shortest round-trip form.
pub fn number_text(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}
