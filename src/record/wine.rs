//! The original system's record: eleven wine-quality features and a key.

use super::{PayloadFormat, Record, RecordError, WineRecord};
use crate::model::{FeatureSchema, Input};

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
    const FEATURES: Option<FeatureSchema> = Some(WineRecord::SCHEMA);

    /// Protobuf, or JSON with the generated struct's field names (`fixed_acidity`, …, `p_h`,
    /// `data_type`, `ts`).
    fn decode(payload: &[u8], format: PayloadFormat) -> Result<Self, RecordError> {
        Ok(match format {
            PayloadFormat::Protobuf => prost::Message::decode(payload)?,
            PayloadFormat::Json => serde_json::from_slice(payload)?,
        })
    }

    fn encode(&self, format: PayloadFormat) -> Vec<u8> {
        match format {
            PayloadFormat::Protobuf => prost::Message::encode_to_vec(self),
            PayloadFormat::Json => serde_json::to_vec(self).expect("a wine record serializes"),
        }
    }

    fn data_type(&self) -> &str {
        &self.data_type
    }

    fn feature(&self, name: &str, hint: &mut usize) -> Option<Input<'_>> {
        *hint = WINE_FEATURES.iter().position(|feature| *feature == name)?;
        Some(Input::Number(self.features()[*hint]))
    }

    fn for_each_feature(&self, mut each: impl FnMut(&str, Input<'_>)) {
        for (name, value) in WINE_FEATURES.iter().zip(self.features()) {
            each(name, Input::Number(value));
        }
    }

    fn append_features(&self, out: &mut Vec<f64>) {
        out.extend_from_slice(&self.features());
    }
}

impl WineRecord {
    /// The features of every wine record, in [`WINE_FEATURES`] order.
    pub const SCHEMA: FeatureSchema = FeatureSchema {
        names: &WINE_FEATURES,
    };

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
