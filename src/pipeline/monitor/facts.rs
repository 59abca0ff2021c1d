//! What the monitoring dataflow counts, under a record's key: the value of each feature of a
//! record, the answer of each result, and whether a shadow agreed with the live answer.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::record::{Outcome, Role};

/// A number, by its bits so that it can be ordered and hashed (NaN is never stored: a NaN
/// feature is [`Value::Missing`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Number(u64);

impl Number {
    /// `value` as a number fact (`-0.0` counts as `0.0`).
    pub fn new(value: f64) -> Self {
        Number((value + 0.0).to_bits())
    }

    /// The number.
    pub fn get(self) -> f64 {
        f64::from_bits(self.0)
    }

    /// Its bits (equal numbers have equal bits).
    pub fn bits(self) -> u64 {
        self.0
    }

    /// The number of these bits.
    pub fn from_bits(bits: u64) -> Self {
        Number(bits)
    }
}

/// A feature's value in one record.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Value {
    /// A number.
    Number(Number),
    /// A category.
    Category(Arc<str>),
    /// No value (or NaN).
    Missing,
}

/// What a model answered for one record.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Answer {
    /// A classifier's class.
    Class(Arc<str>),
    /// A regression's value (or a classifier's without a label).
    Value(Number),
    /// The model rejected the record (or answered NaN).
    Failed,
    /// No model for the record's key.
    NoModel,
}

impl Answer {
    /// What `outcome` answered.
    pub fn of(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Scored(prediction) => match &prediction.class {
                Some(class) => Answer::Class(class.clone()),
                None if prediction.value.is_nan() => Answer::Failed,
                None => Answer::Value(Number::new(prediction.value)),
            },
            Outcome::NoModel => Answer::NoModel,
            Outcome::Failed(_) => Answer::Failed,
        }
    }

    /// Whether two answers agree: the same class, values equal within 1e-9 relative (as the
    /// serving operator compares a shadow's answers), or both failed.
    pub fn agrees(&self, other: &Answer) -> bool {
        match (self, other) {
            (Answer::Value(one), Answer::Value(other)) => {
                let (one, other) = (one.get(), other.get());
                let scale = one.abs().max(other.abs()).max(1.0);
                (one - other).abs() <= 1e-9 * scale
            }
            (one, other) => one == other,
        }
    }
}

/// One thing the monitoring dataflow counts, under a key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Fact {
    /// A result: which model gave it, in which role, and what it was (a no-model result has
    /// an empty model name and the live role).
    Result {
        /// The model's name.
        model: Arc<str>,
        /// Its role.
        role: Role,
        /// Its answer.
        answer: Answer,
    },
    /// A record's value of one feature.
    Feature {
        /// The feature's name.
        name: Arc<str>,
        /// Its value.
        value: Value,
    },
    /// Whether a shadow gave the live answer for a record both scored.
    Agreement {
        /// The shadow model.
        model: Arc<str>,
        /// Whether it agreed.
        agreed: bool,
    },
}

/// A fact under its key.
pub type KeyedFact = (Arc<str>, Fact);
