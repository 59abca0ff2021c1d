//! What a job gives up on: an input that could not be decoded, scored or loaded, or a result
//! that could not be produced. It goes to the dead-letter topic with its bytes, where it came
//! from and why, and the job moves on.

use super::Origin;

/// Where in the job an input was given up on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// A data record did not decode.
    RecordDecode,
    /// A model rejected a data record.
    Scoring,
    /// No model for the record's key arrived in time.
    NoModel,
    /// A model message did not decode, or was too large.
    ModelDecode,
    /// A model did not load (or took too long to).
    ModelLoad,
    /// A lifecycle operation could not apply (e.g. a rollback to a version the key does not
    /// keep).
    Lifecycle,
    /// A result could not be produced to the results topic.
    Delivery,
}

impl Stage {
    /// The stage's name, as written in the `modelserver.stage` header.
    pub fn name(self) -> &'static str {
        match self {
            Stage::RecordDecode => "record-decode",
            Stage::Scoring => "scoring",
            Stage::NoModel => "no-model",
            Stage::ModelDecode => "model-decode",
            Stage::ModelLoad => "model-load",
            Stage::Lifecycle => "lifecycle",
            Stage::Delivery => "delivery",
        }
    }

    /// Whether the input came from the models topic (else from the data topic, or, for
    /// [`Stage::Delivery`], is a result).
    pub fn is_model(self) -> bool {
        matches!(
            self,
            Stage::ModelDecode | Stage::ModelLoad | Stage::Lifecycle
        )
    }
}

/// One input the job gave up on.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    /// Where it was given up on.
    pub stage: Stage,
    /// Where it was read from, when it was read from a topic.
    pub origin: Option<Origin>,
    /// Its key (the `dataType`, when known).
    pub key: String,
    /// Its bytes: as read for a message that did not decode, re-encoded for one that did.
    pub payload: Vec<u8>,
    /// Why.
    pub reason: String,
}
