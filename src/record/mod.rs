//! The records a job scores: the [`Record`] trait the pipelines are generic over, the wine-quality
//! [`WineRecord`] of the original system, the generic [`FeatureRecord`] (a key and named
//! features, for any data set), and [`Sourced`], a record with the Kafka position it came from.
//!
//! Also the vocabulary every layer above shares: the ingestion [`clock`] that stamps records,
//! what became of a record once scored ([`Scored`]), what the job gave up on ([`DeadLetter`]),
//! and how far a job is behind its topics ([`lag`]).

pub mod clock;
mod dead_letter;
mod features;
pub mod lag;
mod scored;
mod wine;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::{FeatureSchema, Input};
pub use crate::proto::{Feature, FeatureRecord, WineRecord};
pub use clock::{clock_ms, until_next_ms, Time};
pub use dead_letter::{DeadLetter, Stage};
pub use scored::{MemberAnswer, ModelTag, Outcome, Role, Scored};
pub use wine::WINE_FEATURES;

/// A record type that a serving job can decode from the data topic and hand to models.
pub trait Record: Clone + Send + Serialize + DeserializeOwned + 'static {
    /// The features every record of the type has, in [`Record::append_features`] order: models
    /// are built to take them so. `None` when each record names its own features: models then
    /// take the features they (or their descriptors) name, looked up by [`Record::feature`].
    const FEATURES: Option<FeatureSchema>;

    /// Decodes one data-topic payload.
    fn decode(payload: &[u8], format: PayloadFormat) -> Result<Self, RecordError>;

    /// Encodes the record as a data-topic payload ([`Record::decode`] reads it back).
    fn encode(&self, format: PayloadFormat) -> Vec<u8>;

    /// The key that selects the model: the record's `dataType`.
    fn data_type(&self) -> &str;

    /// The value of feature `name`, if the record has it. `hint` is where to look first (where
    /// the previous lookup of this name found it); it is updated.
    fn feature(&self, name: &str, hint: &mut usize) -> Option<Input<'_>>;

    /// Calls `each` with the name and value of every feature of the record: those of
    /// [`Record::FEATURES`], in order, or the ones the record names.
    fn for_each_feature(&self, mut each: impl FnMut(&str, Input<'_>)) {
        let names = Self::FEATURES.map_or(&[][..], |schema| schema.names);
        for (position, name) in names.iter().enumerate() {
            let mut hint = position;
            each(
                name,
                self.feature(name, &mut hint).unwrap_or(Input::Missing),
            );
        }
    }

    /// Appends the values of [`Record::FEATURES`], in order, to `out` (records scored together
    /// are written one after another); a feature that is not a number is written as NaN.
    fn append_features(&self, out: &mut Vec<f64>) {
        let names = Self::FEATURES.map_or(&[][..], |schema| schema.names);
        out.extend(names.iter().enumerate().map(|(position, name)| {
            let mut hint = position;
            match self.feature(name, &mut hint) {
                Some(Input::Number(number)) => number,
                _ => f64::NAN,
            }
        }));
    }
}

/// How data-topic payloads are encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PayloadFormat {
    /// Protocol Buffers (the wire format of `proto/`).
    #[default]
    Protobuf,
    /// JSON: for a [`FeatureRecord`], `{"dataType": "iris", "features": {"name": 5.1, ...}}`.
    Json,
}

impl std::str::FromStr for PayloadFormat {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "protobuf" => Ok(PayloadFormat::Protobuf),
            "json" => Ok(PayloadFormat::Json),
            other => Err(format!(
                "unknown payload format `{other}` (expected protobuf or json)"
            )),
        }
    }
}

impl std::fmt::Display for PayloadFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PayloadFormat::Protobuf => "protobuf",
            PayloadFormat::Json => "json",
        })
    }
}

/// Why a payload is not a record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Not a protobuf message of the record type.
    #[error("not a protobuf record: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// Not JSON of the record type.
    #[error("not a JSON record: {0}")]
    Json(#[from] serde_json::Error),
    /// Decodes, but does not make a record.
    #[error("not a valid record: {0}")]
    Invalid(String),
}

/// Where a record was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    /// The data-topic partition.
    pub partition: i32,
    /// The record's offset in that partition.
    pub offset: i64,
}

/// A record with the position it was read from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sourced<R> {
    /// Where it was read from.
    pub origin: Origin,
    /// The record itself.
    pub record: R,
}
