//! The records a job scores: the [`Record`] trait the pipelines are generic over, its
//! implementation for the wine-quality [`WineRecord`], and [`Sourced`], a record together with the
//! Kafka position it was read from.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::FeatureSchema;
pub use crate::proto::WineRecord;

/// A record type that a serving job can decode from the data topic and hand to models.
pub trait Record: Clone + Send + Serialize + DeserializeOwned + 'static {
    /// The names of the features, in the order of [`Record::write_features`].
    const SCHEMA: FeatureSchema;

    /// Decodes one data-topic payload.
    fn decode(payload: &[u8]) -> Result<Self, prost::DecodeError>;

    /// The key that selects the model: the record's `dataType`.
    fn data_type(&self) -> &str;

    /// Writes the features, in schema order, into `out` (which is cleared first).
    fn write_features(&self, out: &mut Vec<f64>);
}

/// The UCI names of the wine-quality features, as the wine models name their inputs.
pub const WINE_FEATURES: [&str; 11] = [
    "fixed acidity",
    "volatile acidity",
    "citric acid",
    "residual sugar",
    "chlorides",
    "free sulfur dioxide",
    "total sulfur dioxide",
    "density",
    "pH",
    "sulphates",
    "alcohol",
];

impl Record for WineRecord {
    const SCHEMA: FeatureSchema = FeatureSchema {
        names: &WINE_FEATURES,
    };

    fn decode(payload: &[u8]) -> Result<Self, prost::DecodeError> {
        prost::Message::decode(payload)
    }

    fn data_type(&self) -> &str {
        &self.data_type
    }

    fn write_features(&self, out: &mut Vec<f64>) {
        out.clear();
        out.extend_from_slice(&self.features());
    }
}

impl WineRecord {
    /// The record with the given features (in [`WINE_FEATURES`] order) and key.
    pub fn from_features(features: [f64; 11], data_type: &str) -> Self {
        let [fixed_acidity, volatile_acidity, citric_acid, residual_sugar, chlorides, free_sulfur_dioxide, total_sulfur_dioxide, density, p_h, sulphates, alcohol] =
            features;
        WineRecord {
            fixed_acidity,
            volatile_acidity,
            citric_acid,
            residual_sugar,
            chlorides,
            free_sulfur_dioxide,
            total_sulfur_dioxide,
            density,
            p_h,
            sulphates,
            alcohol,
            data_type: data_type.to_owned(),
            ts: 0,
        }
    }

    /// The features in [`WINE_FEATURES`] order.
    pub fn features(&self) -> [f64; 11] {
        [
            self.fixed_acidity,
            self.volatile_acidity,
            self.citric_acid,
            self.residual_sugar,
            self.chlorides,
            self.free_sulfur_dioxide,
            self.total_sulfur_dioxide,
            self.density,
            self.p_h,
            self.sulphates,
            self.alcohol,
        ]
    }
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
