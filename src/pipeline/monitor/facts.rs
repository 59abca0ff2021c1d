//! What the monitoring dataflow counts: one [`Fact`] per feature of a record, per result, and
//! per shadow result compared with the live one; each under its record's key.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::Input;
use crate::record::{Origin, Outcome, Record, Role, Scored};

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

/// The facts of one record: one per feature.
pub fn record_facts<R: Record>(
    record: &R,
    names: &mut FeatureNames,
    mut each: impl FnMut(KeyedFact),
) {
    let key = names.name(record.data_type());
    record.for_each_feature(|name, input| {
        let value = match input {
            Input::Number(number) if !number.is_nan() => Value::Number(Number::new(number)),
            Input::Number(_) | Input::Missing => Value::Missing,
            Input::Text(category) => Value::Category(names.name(category)),
        };
        let name = names.name(name);
        each((key.clone(), Fact::Feature { name, value }));
    });
}

/// The fact of one result.
pub fn result_fact(scored: &Scored) -> KeyedFact {
    let model = scored
        .model
        .as_ref()
        .map_or_else(|| Arc::from(""), |tag| tag.name.clone());
    let fact = Fact::Result {
        model,
        role: scored.role,
        answer: Answer::of(&scored.outcome),
    };
    (scored.data_type.clone(), fact)
}

/// The shadows' agreement facts of the result facts of one tick, by record: each shadow's
/// answer against the live (or ensemble) answer for the same record.
pub fn agreement_facts(results: &[(Origin, KeyedFact)], mut each: impl FnMut(KeyedFact)) {
    let mut served: HashMap<(Origin, &str), &Answer> = HashMap::new();
    for (origin, (key, fact)) in results {
        if let Fact::Result {
            role: Role::Live | Role::Ensemble,
            answer,
            ..
        } = fact
        {
            served.insert((*origin, key), answer);
        }
    }
    for (origin, (key, fact)) in results {
        let Fact::Result {
            model,
            role: Role::Shadow,
            answer,
        } = fact
        else {
            continue;
        };
        if let Some(live) = served.get(&(*origin, &**key)) {
            let agreed = answer.agrees(live);
            let model = model.clone();
            each((key.clone(), Fact::Agreement { model, agreed }));
        }
    }
}

/// Shares the strings of keys, feature names and categories among facts, so that a record's
/// facts do not each allocate them.
#[derive(Default)]
pub struct FeatureNames {
    interned: HashMap<Box<str>, Arc<str>>,
}

/// How many distinct strings are shared before the table starts over (a bound on what a
/// stream of ever-new categories can make it hold).
const MOST_INTERNED: usize = 100_000;

impl FeatureNames {
    fn name(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.interned.get(name) {
            return shared.clone();
        }
        if self.interned.len() >= MOST_INTERNED {
            self.interned.clear();
        }
        let shared: Arc<str> = Arc::from(name);
        self.interned.insert(name.into(), shared.clone());
        shared
    }
}
