//! The compiled program's field table and the per-record scoring environment: one value slot per
//! field, filled eagerly for inputs and lazily (once per record) for derived fields.

use std::sync::Arc;

use super::compile::type_name;
use super::define::UserFunction;
use super::error::{Error, Result};
use super::expr::Expr;
use super::schema::Preparation;
use super::value::{number_text, parse_boolean, parse_temporal, round_to, DataType, Interner, Val};

/// How the value of a slot is obtained.
#[derive(Clone, Debug)]
pub enum SlotDef {
    /// A record's input, written before the model runs.
    Input,
    /// A derived field, computed on first use in a record and cast to its data type.
    Derived {
        /// The field's expression.
        expr: Expr,
        /// The field's declared data type.
        data_type: DataType,
    },
    /// A field of an enclosing model re-prepared by a nested model's own MiningField.
    Prepared {
        /// The slot of the enclosing model's value.
        source: u32,
        /// The nested model's treatment of the value.
        preparation: Box<Preparation>,
    },
    /// An output field of a segment, written by its model after it ran.
    Output,
}

/// A text read as a number: a decimal number, or a boolean (`TRUE`, `false`) as 1 or 0; NaN
/// when it is neither.
fn text_number(text: &str) -> f64 {
    match text.trim().parse() {
        Ok(number) => number,
        Err(_) => parse_boolean(text).map_or(f64::NAN, |flag| f64::from(u8::from(flag))),
    }
}

/// Everything compiled from a document that scoring reads but never changes.
#[derive(Clone, Debug, Default)]
pub struct Program {
    /// How each slot gets its value.
    pub defs: Vec<SlotDef>,
    /// Each slot's field name (for error messages).
    pub names: Vec<Arc<str>>,
    /// The strings of the document.
    pub interner: Interner,
    /// The user-defined functions, compiled.
    pub functions: Vec<UserFunction>,
}

/// A slot's value and the record it was set for.
#[derive(Clone, Copy, Debug)]
struct Entry {
    value: Val,
    stamp: u32,
}

/// Per-record values of every slot, reused from record to record.
#[derive(Clone, Debug, Default)]
pub struct Slots {
    entries: Vec<Entry>,
    stamp: u32,
    dynamic: Vec<String>,
    /// A buffer for the texts string functions build (lent by [`Env::text_buffer`]).
    buffer: String,
}

impl Slots {
    /// Room for `count` slots.
    pub fn new(count: usize) -> Self {
        let empty = Entry {
            value: Val::Missing,
            stamp: 0,
        };
        Slots {
            entries: vec![empty; count],
            stamp: 0,
            dynamic: Vec::new(),
            buffer: String::new(),
        }
    }
}

/// What scoring code works with: the program and the current record's slots.
pub struct Env<'a> {
    /// The compiled program.
    pub program: &'a Program,
    slots: &'a mut Slots,
}

impl<'a> Env<'a> {
    /// Starts a new record: every slot becomes stale.
    pub fn new(program: &'a Program, slots: &'a mut Slots) -> Self {
        slots.stamp = slots.stamp.wrapping_add(1);
        if slots.stamp == 0 {
            slots.entries.iter_mut().for_each(|entry| entry.stamp = 0);
            slots.stamp = 1;
        }
        slots.dynamic.clear();
        Env { program, slots }
    }

    /// Sets the value of `slot` for this record.
    #[inline]
    pub fn set(&mut self, slot: u32, value: Val) {
        let stamp = self.slots.stamp;
        self.slots.entries[slot as usize] = Entry { value, stamp };
    }

    /// The value of `slot` in this record, computing it if needed.
    #[inline]
    pub fn value(&mut self, slot: u32) -> Result<Val> {
        let entry = self.slots.entries[slot as usize];
        if entry.stamp == self.slots.stamp {
            return Ok(entry.value);
        }
        self.compute(slot)
    }

    fn compute(&mut self, slot: u32) -> Result<Val> {
        let index = slot as usize;
        let program = self.program;
        let value = match &program.defs[index] {
            SlotDef::Input | SlotDef::Output => Val::Missing,
            SlotDef::Derived { expr, data_type } => match (expr.eval(self)?, *data_type) {
                (Val::Num(number), DataType::Double) => Val::Num(number),
                (Val::Num(number), DataType::Integer) if number.fract() == 0.0 => Val::Num(number),
                (value, data_type) => self.cast(value, data_type)?,
            },
            SlotDef::Prepared {
                source,
                preparation,
            } => {
                let value = self.value(*source)?;
                preparation.prepare_value(value, self)?
            }
        };
        self.set(slot, value);
        Ok(value)
    }

    /// The value an output field wrote to `slot` in this record (missing when it wrote none).
    #[inline]
    pub fn written(&self, slot: u32) -> &Val {
        let entry = &self.slots.entries[slot as usize];
        match entry.stamp == self.slots.stamp {
            true => &entry.value,
            false => &Val::Missing,
        }
    }

    /// The value of `slot` as a number; `None` when missing.
    #[inline]
    pub fn number(&mut self, slot: u32) -> Result<Option<f64>> {
        let entry = self.slots.entries[slot as usize];
        if let (true, Val::Num(number)) = (entry.stamp == self.slots.stamp, entry.value) {
            return Ok(Some(number));
        }
        let value = self.value(slot)?;
        self.as_number(value)
            .map_err(|error| self.field_error(slot, error))
    }

    /// Reads `value` as a number; `None` when missing.
    #[inline]
    pub fn as_number(&self, value: Val) -> Result<Option<f64>> {
        match value {
            Val::Missing => Ok(None),
            Val::Num(number) => Ok(Some(number)),
            Val::Bool(flag) => Ok(Some(f64::from(u8::from(flag)))),
            Val::Str(id) => self.text_as_number(id),
        }
    }

    /// Reads the string `id` as a number.
    fn text_as_number(&self, id: u32) -> Result<Option<f64>> {
        let number = match self.program.interner.number(id) {
            Some(number) if !number.is_nan() => number,
            _ => text_number(self.text(id)),
        };
        if number.is_nan() {
            Err(Error::scoring(format!(
                "`{}` is not a number",
                self.text(id)
            )))
        } else {
            Ok(Some(number))
        }
    }

    /// Reads `value` as a boolean; `None` when missing.
    pub fn as_bool(&self, value: Val) -> Result<Option<bool>> {
        match value {
            Val::Missing => Ok(None),
            Val::Bool(flag) => Ok(Some(flag)),
            Val::Num(number) => Ok(Some(number != 0.0)),
            Val::Str(id) => parse_boolean(self.text(id))
                .map(Some)
                .ok_or_else(|| Error::scoring(format!("`{}` is not a boolean", self.text(id)))),
        }
    }

    /// The text of a string id (interned at load time or made during this record).
    pub fn text(&self, id: u32) -> &str {
        let interner = &self.program.interner;
        match interner.text(id) {
            Some(text) => text,
            None => &self.slots.dynamic[id as usize - interner.len()],
        }
    }

    /// The text of a string id, shared (a load-time string is not copied).
    pub fn shared_text(&self, id: u32) -> Arc<str> {
        match self.program.interner.text(id) {
            Some(text) => text.clone(),
            None => Arc::from(self.text(id)),
        }
    }

    /// The id of `text`: its load-time id when the document mentions it, else a per-record id.
    pub fn intern(&mut self, text: &str) -> u32 {
        if let Some(id) = self.program.interner.lookup(text) {
            return id;
        }
        let base = self.program.interner.len();
        if let Some(position) = self.slots.dynamic.iter().position(|known| known == text) {
            return (base + position) as u32;
        }
        self.slots.dynamic.push(text.to_owned());
        (base + self.slots.dynamic.len() - 1) as u32
    }

    /// An empty buffer to build a text in, to be given back by [`Env::intern_built`] (so that
    /// building a text allocates nothing once the buffer has grown).
    pub fn text_buffer(&mut self) -> String {
        let mut buffer = std::mem::take(&mut self.slots.buffer);
        buffer.clear();
        buffer
    }

    /// The id of a text built in a buffer from [`Env::text_buffer`] (as [`Env::intern`]
    /// gives it), keeping the buffer for the next text.
    pub fn intern_built(&mut self, text: String) -> u32 {
        let id = self.intern(&text);
        self.slots.buffer = text;
        id
    }

    /// The texts of the strings made during this record (not the document's), in id order.
    pub fn record_texts(&self) -> &[String] {
        &self.slots.dynamic
    }

    /// Makes `texts` this record's own strings again, with the ids they had when
    /// [`Env::record_texts`] gave them (at the start of a record).
    pub fn restore_record_texts(&mut self, texts: &[String]) {
        self.slots.dynamic.extend_from_slice(texts);
    }

    /// Casts `value` to `data_type`, as a derived field's declared type requires.
    #[inline]
    pub fn cast(&mut self, value: Val, data_type: DataType) -> Result<Val> {
        // The common cases, which need no conversion.
        if value.is_missing() || value.has_type(data_type) {
            return Ok(value);
        }
        self.convert(value, data_type)
    }

    /// [`Env::cast`] where the value's type is not the one wanted.
    fn convert(&mut self, value: Val, data_type: DataType) -> Result<Val> {
        Ok(match (value, data_type) {
            (Val::Missing, _) => Val::Missing,
            (Val::Str(_), DataType::String) | (Val::Bool(_), DataType::Boolean) => value,
            (_, DataType::Boolean) => self.as_bool(value)?.map_or(Val::Missing, Val::Bool),
            (Val::Str(id), temporal) if temporal.is_temporal() => {
                let text = self.text(id);
                parse_temporal(text, temporal)
                    .map(Val::Num)
                    .ok_or_else(|| {
                        Error::scoring(format!("`{text}` is not a {}", type_name(temporal)))
                    })?
            }
            (Val::Num(_), temporal) if temporal.is_temporal() => value,
            (Val::Num(number), DataType::String) => Val::Str(self.intern(&number_text(number))),
            (Val::Bool(flag), DataType::String) => {
                Val::Str(self.intern(if flag { "true" } else { "false" }))
            }
            (_, numeric) => {
                let number = self.as_number(value)?.unwrap_or(f64::NAN);
                if numeric == DataType::Integer && number.fract() != 0.0 {
                    return Err(Error::scoring(format!("{number} is not an integer")));
                }
                Val::Num(round_to(numeric, number))
            }
        })
    }

    /// An error about the field in `slot`.
    pub fn field_error(&self, slot: u32, error: Error) -> Error {
        Error::scoring(format!(
            "field `{}`: {error}",
            self.program.names[slot as usize]
        ))
    }
}
