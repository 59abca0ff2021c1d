//! A result on the wire: the `ServingResult` message ([`to_wire`]), and its bytes written
//! straight from the result ([`encode_result`]), with no message built and nothing allocated
//! but the output's growth: the hot path of every job.

use prost::encoding::{encode_key, encode_varint, WireType};

use crate::proto::serving_result::{Outcome as WireOutcome, Role as WireRole};
use crate::proto::{ClassProbability, MemberAnswer as WireMember, ServingResult};
use crate::record::{MemberAnswer, Outcome, Role, Scored};

/// The wire form of a result.
pub fn to_wire(scored: &Scored, source_topic: &str) -> ServingResult {
    let mut result = ServingResult {
        data_type: scored.data_type.to_string(),
        model_name: scored
            .model
            .as_ref()
            .map(|tag| tag.name.to_string())
            .unwrap_or_default(),
        model_since: scored.model.as_ref().map_or(0, |tag| tag.since as i64),
        duration_ns: scored.duration_ns as i64,
        source_topic: source_topic.to_owned(),
        source_partition: scored.origin.partition,
        source_offset: scored.origin.offset,
        worker: scored.worker as i32,
        role: wire_role(scored.role) as i32,
        members: scored.members.iter().map(wire_member).collect(),
        ..ServingResult::default()
    };
    match &scored.outcome {
        Outcome::Scored(prediction) => {
            let labels = scored
                .model
                .as_ref()
                .map(|tag| &tag.labels[..])
                .unwrap_or_default();
            result.set_outcome(WireOutcome::Scored);
            result.value = prediction.value;
            result.label = prediction.class.as_deref().unwrap_or_default().to_owned();
            result.probabilities = prediction
                .probabilities
                .iter()
                .zip(labels)
                .map(|(probability, label)| ClassProbability {
                    label: label.to_string(),
                    probability: *probability,
                })
                .collect();
        }
        Outcome::NoModel => {
            result.set_outcome(WireOutcome::NoModel);
            result.error = no_model_error(&scored.data_type);
        }
        Outcome::Failed(reason) => {
            result.set_outcome(WireOutcome::ScoringFailed);
            result.error = reason.clone();
        }
    }
    result
}

/// Appends to `out` the bytes of `to_wire(scored, source_topic)`, exactly as prost encodes that
/// message (fields in tag order, proto3 defaults left out), without building it.
pub fn encode_result(scored: &Scored, source_topic: &str, out: &mut Vec<u8>) {
    let tag = scored.model.as_ref();
    text(1, &scored.data_type, out);
    text(2, tag.map_or("", |tag| &tag.name), out);
    int64(3, tag.map_or(0, |tag| tag.since as i64), out);
    let outcome = match &scored.outcome {
        Outcome::Scored(_) => WireOutcome::Scored,
        Outcome::NoModel => WireOutcome::NoModel,
        Outcome::Failed(_) => WireOutcome::ScoringFailed,
    };
    int64(4, outcome as i64, out);
    if let Outcome::Scored(prediction) = &scored.outcome {
        double(5, prediction.value, out);
        text(6, prediction.class.as_deref().unwrap_or_default(), out);
        let labels = tag.map(|tag| &tag.labels[..]).unwrap_or_default();
        for (probability, label) in prediction.probabilities.iter().zip(labels) {
            class_probability(label, *probability, out);
        }
    }
    int64(8, scored.duration_ns as i64, out);
    text(9, source_topic, out);
    int64(10, i64::from(scored.origin.partition), out);
    int64(11, scored.origin.offset, out);
    match &scored.outcome {
        Outcome::Scored(_) => {}
        Outcome::NoModel => text(12, &no_model_error(&scored.data_type), out),
        Outcome::Failed(reason) => text(12, reason, out),
    }
    int64(13, scored.worker as i64, out);
    int64(14, wire_role(scored.role) as i64, out);
    for member in &scored.members {
        member_answer(member, out);
    }
}

/// A role as the wire names it.
fn wire_role(role: Role) -> WireRole {
    match role {
        Role::Live => WireRole::Live,
        Role::Canary => WireRole::Canary,
        Role::Shadow => WireRole::Shadow,
        Role::Ensemble => WireRole::Ensemble,
    }
}

/// An ensemble member's answer as a `MemberAnswer` message.
fn wire_member(member: &MemberAnswer) -> WireMember {
    let mut wire = WireMember {
        model_name: member.model.to_string(),
        duration_ns: member.duration_ns as i64,
        ..WireMember::default()
    };
    match &member.answer {
        Ok(prediction) => {
            wire.value = prediction.value;
            wire.label = prediction.class.as_deref().unwrap_or_default().to_owned();
        }
        Err(error) => wire.error = error.clone(),
    }
    wire
}

/// Field 15: one `MemberAnswer` (rare: ensembles only, so built and encoded by prost).
fn member_answer(member: &MemberAnswer, out: &mut Vec<u8>) {
    prost::encoding::message::encode(15, &wire_member(member), out);
}

/// The error a no-model result carries.
fn no_model_error(data_type: &str) -> String {
    format!("no model for dataType `{data_type}`")
}

/// Field 7: one `ClassProbability`, a message of its own (written even when empty, as a
/// repeated message's elements are).
fn class_probability(label: &str, probability: f64, out: &mut Vec<u8>) {
    let label_len = if label.is_empty() {
        0
    } else {
        1 + varint_len(label.len() as u64) + label.len()
    };
    let probability_len = if probability != 0.0 { 1 + 8 } else { 0 };
    encode_key(7, WireType::LengthDelimited, out);
    encode_varint((label_len + probability_len) as u64, out);
    text(1, label, out);
    double(2, probability, out);
}

/// A string field, left out when empty.
fn text(tag: u32, value: &str, out: &mut Vec<u8>) {
    if !value.is_empty() {
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(value.len() as u64, out);
        out.extend_from_slice(value.as_bytes());
    }
}

/// An `int32`, `int64` or enum field (negative values sign-extended to ten bytes), left out
/// when zero.
fn int64(tag: u32, value: i64, out: &mut Vec<u8>) {
    if value != 0 {
        encode_key(tag, WireType::Varint, out);
        encode_varint(value as u64, out);
    }
}

/// A `double` field, left out when zero.
fn double(tag: u32, value: f64, out: &mut Vec<u8>) {
    if value != 0.0 {
        encode_key(tag, WireType::SixtyFourBit, out);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn varint_len(value: u64) -> usize {
    prost::encoding::encoded_len_varint(value)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use prost::Message as _;

    use super::*;
    use crate::model::Prediction;
    use crate::record::{MemberAnswer, ModelTag, Origin, Role};

    fn scored(outcome: Outcome, labels: &[&str]) -> Scored {
        Scored {
            origin: Origin {
                partition: 3,
                offset: 1_234_567,
            },
            data_type: "wine".into(),
            model: Some(ModelTag {
                name: "forest".into(),
                since: 1_796_000_000_000,
                labels: labels.iter().map(|&label| Arc::from(label)).collect(),
            }),
            outcome,
            duration_ns: 912,
            worker: 1,
            unscored: None,
            role: Role::Live,
            members: Vec::new(),
        }
    }

    fn assert_same_bytes(scored: &Scored) {
        let mut direct = Vec::new();
        encode_result(scored, "wine-data", &mut direct);
        assert_eq!(
            direct,
            to_wire(scored, "wine-data").encode_to_vec(),
            "{scored:?}"
        );
    }

    #[test]
    fn a_classification_is_written_as_prost_writes_it() {
        let probabilities = vec![0.25, 0.0, 0.75, f64::NAN];
        let prediction = Prediction::classification("6".into(), probabilities);
        assert_same_bytes(&scored(Outcome::Scored(prediction), &["5", "", "6", "7"]));
    }

    #[test]
    fn regressions_failures_and_edge_values_are_written_as_prost_writes_them() {
        let negative = Prediction::regression(-0.5);
        assert_same_bytes(&scored(Outcome::Scored(negative), &[]));
        assert_same_bytes(&scored(Outcome::Scored(Prediction::regression(0.0)), &[]));
        assert_same_bytes(&scored(Outcome::Failed("needs `ph`".into()), &[]));
        let mut no_model = scored(Outcome::NoModel, &[]);
        no_model.model = None;
        no_model.worker = 0;
        no_model.origin = Origin {
            partition: -1,
            offset: -2,
        };
        assert_same_bytes(&no_model);
        let mut long = scored(Outcome::Failed("é".repeat(300)), &[]);
        long.duration_ns = u64::MAX >> 1;
        assert_same_bytes(&long);
    }

    #[test]
    fn roles_and_ensemble_members_are_written_as_prost_writes_them() {
        let mut shadow = scored(Outcome::Scored(Prediction::regression(1.5)), &[]);
        shadow.role = Role::Shadow;
        assert_same_bytes(&shadow);
        let vote = Prediction::classification("6".into(), vec![]);
        let mut ensemble = scored(Outcome::Scored(vote.clone()), &[]);
        ensemble.role = Role::Ensemble;
        ensemble.members = vec![
            MemberAnswer {
                model: "a".into(),
                answer: Ok(vote),
                duration_ns: 40,
            },
            MemberAnswer {
                model: "b".into(),
                answer: Err("needs `ph`".into()),
                duration_ns: 0,
            },
        ];
        assert_same_bytes(&ensemble);
        let wire = to_wire(&ensemble, "wine-data");
        assert_eq!(wire.role(), WireRole::Ensemble);
        assert_eq!(
            (&wire.members[0].label[..], &wire.members[1].error[..]),
            ("6", "needs `ph`")
        );
    }
}
