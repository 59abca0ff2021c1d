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
}
