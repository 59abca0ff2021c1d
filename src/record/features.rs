//! The generic record: a key and named features, numeric or categorical, so that a new data set
//! is served with no code (models name the features they take).

use serde_json::Value;

use super::{FeatureRecord, PayloadFormat, Record, RecordError};
use crate::model::{FeatureSchema, Input};
use crate::proto::feature;
use crate::proto::Feature;

impl Record for FeatureRecord {
    const FEATURES: Option<FeatureSchema> = None;

    /// Protobuf, or JSON of the form
    /// `{"dataType": "iris", "features": {"sepal_length": 5.1, "colour": "red", "x": null}}`.
    fn decode(payload: &[u8], format: PayloadFormat) -> Result<Self, RecordError> {
        match format {
            PayloadFormat::Protobuf => Ok(prost::Message::decode(payload)?),
            PayloadFormat::Json => FeatureRecord::from_json(&serde_json::from_slice(payload)?),
        }
    }

    fn encode(&self, format: PayloadFormat) -> Vec<u8> {
        match format {
            PayloadFormat::Protobuf => prost::Message::encode_to_vec(self),
            PayloadFormat::Json => self.to_json().to_string().into_bytes(),
        }
    }

    fn data_type(&self) -> &str {
        &self.data_type
    }

    fn feature(&self, name: &str, hint: &mut usize) -> Option<Input<'_>> {
        let at_hint = self
            .features
            .get(*hint)
            .filter(|feature| feature.name == name);
        let feature = match at_hint {
            Some(feature) => feature,
            None => {
                *hint = self
                    .features
                    .iter()
                    .position(|feature| feature.name == name)?;
                &self.features[*hint]
            }
        };
        Some(input_of(feature))
    }

    fn for_each_feature(&self, mut each: impl FnMut(&str, Input<'_>)) {
        for feature in &self.features {
            each(&feature.name, input_of(feature));
        }
    }
}

/// A feature's value as a model input.
fn input_of(feature: &Feature) -> Input<'_> {
    match &feature.value {
        Some(feature::Value::Number(number)) => Input::Number(*number),
        Some(feature::Value::Category(category)) => Input::Text(category),
        None => Input::Missing,
    }
}

impl FeatureRecord {
    /// A record of key `data_type` with the given features.
    pub fn new(data_type: &str, features: impl IntoIterator<Item = Feature>) -> Self {
        FeatureRecord {
            data_type: data_type.to_owned(),
            features: features.into_iter().collect(),
            ts: 0,
        }
    }

    /// The record a JSON object describes: `dataType` (a string) and `features` (an object of
    /// numbers, strings and nulls).
    pub fn from_json(json: &Value) -> Result<Self, RecordError> {
        let invalid = |reason: &str| RecordError::Invalid(reason.to_owned());
        let data_type = json
            .get("dataType")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("`dataType` must be a string"))?;
        let features = json
            .get("features")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("`features` must be an object"))?;
        let features = features
            .iter()
            .map(|(name, value)| Ok(Feature::new(name, json_value(name, value)?)))
            .collect::<Result<Vec<_>, RecordError>>()?;
        let mut record = FeatureRecord::new(data_type, features);
        record.ts = json.get("ts").and_then(Value::as_i64).unwrap_or(0);
        Ok(record)
    }
}

impl FeatureRecord {
    /// The record as the JSON object [`FeatureRecord::from_json`] reads.
    pub fn to_json(&self) -> Value {
        let features: serde_json::Map<String, Value> = self
            .features
            .iter()
            .map(|feature| {
                let value = match &feature.value {
                    Some(feature::Value::Number(number)) => Value::from(*number),
                    Some(feature::Value::Category(category)) => Value::from(category.as_str()),
                    None => Value::Null,
                };
                (feature.name.clone(), value)
            })
            .collect();
        serde_json::json!({ "dataType": self.data_type, "features": features, "ts": self.ts })
    }
}

impl Feature {
    /// A feature named `name` with `value` (`None`: missing).
    pub fn new(name: &str, value: Option<feature::Value>) -> Self {
        Feature {
            name: name.to_owned(),
            value,
        }
    }

    /// A numeric feature.
    pub fn number(name: &str, number: f64) -> Self {
        Feature::new(name, Some(feature::Value::Number(number)))
    }

    /// A categorical feature.
    pub fn category(name: &str, category: &str) -> Self {
        Feature::new(name, Some(feature::Value::Category(category.to_owned())))
    }
}

fn json_value(name: &str, value: &Value) -> Result<Option<feature::Value>, RecordError> {
    match value {
        Value::Null => Ok(None),
        Value::Number(number) => Ok(number.as_f64().map(feature::Value::Number)),
        Value::String(text) => Ok(Some(feature::Value::Category(text.clone()))),
        _ => Err(RecordError::Invalid(format!(
            "feature `{name}` must be a number, a string or null"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_protobuf_give_the_same_record() {
        let json =
            br#"{"dataType":"iris","features":{"petal_width":0.2,"colour":"blue","x":null}}"#;
        let record = FeatureRecord::decode(json, PayloadFormat::Json).unwrap();
        let bytes = prost::Message::encode_to_vec(&record);
        assert_eq!(
            FeatureRecord::decode(&bytes, PayloadFormat::Protobuf).unwrap(),
            record
        );
        assert_eq!(record.data_type(), "iris");
        let mut hint = 0;
        assert_eq!(
            record.feature("colour", &mut hint),
            Some(Input::Text("blue"))
        );
        assert_eq!(
            record.feature("petal_width", &mut hint),
            Some(Input::Number(0.2))
        );
        assert_eq!(record.feature("x", &mut hint), Some(Input::Missing));
        assert_eq!(record.feature("absent", &mut hint), None);
    }

    #[test]
    fn a_lookup_uses_and_updates_its_hint() {
        let record =
            FeatureRecord::new("k", [Feature::number("a", 1.0), Feature::number("b", 2.0)]);
        let mut hint = 0;
        assert_eq!(record.feature("b", &mut hint), Some(Input::Number(2.0)));
        assert_eq!(hint, 1);
        assert_eq!(record.feature("b", &mut hint), Some(Input::Number(2.0)));
    }

    #[test]
    fn json_that_is_not_a_record_is_an_error() {
        for json in [
            r#"{"features":{}}"#,
            r#"{"dataType":"k","features":[1,2]}"#,
            r#"{"dataType":"k","features":{"a":[1]}}"#,
            "not json",
        ] {
            assert!(
                FeatureRecord::decode(json.as_bytes(), PayloadFormat::Json).is_err(),
                "{json}"
            );
        }
    }
}
