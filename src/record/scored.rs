//! The result of scoring one record.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Origin, Time};
use crate::model::Prediction;

/// The model that scored a record, and since when it serves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelTag {
    /// The model's name, from its descriptor.
    pub name: Arc<str>,
    /// The ingestion time at which it became current on its worker.
    pub since: Time,
    /// Its class labels, in the order of its predictions' probabilities (empty for regression).
    pub labels: Arc<[Arc<str>]>,
}

/// What became of a record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// The model scored it.
    Scored(Prediction),
    /// No model for its key arrived in time.
    NoModel,
    /// The model rejected it.
    Failed(String),
}

/// One record's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// Where the record was read from.
    pub origin: Origin,
    /// The record's key (shared with every result of that key on the worker).
    pub data_type: Arc<str>,
    /// The model that scored it; `None` for a no-model result.
    pub model: Option<ModelTag>,
    /// The outcome.
    pub outcome: Outcome,
    /// Time spent scoring, in nanoseconds.
    pub duration_ns: u64,
    /// The worker that scored it.
    pub worker: usize,
    /// For a record that was not scored (no model, or the model rejected it): the record
    /// re-encoded, for the dead-letter topic.
    pub unscored: Option<Vec<u8>>,
    /// The role the model played.
    pub role: Role,
    /// For an ensemble's decision: each member's answer, in member order (empty otherwise).
    pub members: Vec<MemberAnswer>,
}

/// The role of the model that scored a record (see the model lifecycle in `proto/`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum Role {
    /// The key's current model.
    #[default]
    Live,
    /// The canary, for its share of the key's records.
    Canary,
    /// A shadow: its result comes beside the live one, which it does not affect.
    Shadow,
    /// An ensemble's decision.
    Ensemble,
}

impl Role {
    /// The role's name, as the state reports it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Live => "live",
            Role::Canary => "canary",
            Role::Shadow => "shadow",
            Role::Ensemble => "ensemble",
        }
    }
}

/// What one member of an ensemble answered for a record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberAnswer {
    /// The member's model name.
    pub model: Arc<str>,
    /// Its prediction, or why it gave none.
    pub answer: Result<Prediction, String>,
    /// Time it spent, in nanoseconds.
    pub duration_ns: u64,
}
