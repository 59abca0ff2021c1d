//! What arrives from Kafka never takes a job down: random and mutated bytes, as data records (of
//! both types, in both formats), as model descriptors, and as models of every kind, decode or
//! load into an error, never a panic, an abort or a hang. A short run here; `scripts/fuzz.sh
//! SECONDS` runs the same properties with many more cases.

use modelserver::model::{load_model, InputNames, ModelKind};
use modelserver::proto::ModelDescriptor;
use modelserver::record::{FeatureRecord, PayloadFormat, Record, WineRecord};
use proptest::prelude::*;

/// Cases per property: 64 in the normal test run, more for `scripts/fuzz.sh`.
fn cases() -> u32 {
    std::env::var("MODELSERVER_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(64)
}

/// Model files of each kind, to mutate.
fn fixtures() -> Vec<(ModelKind, Vec<u8>)> {
    let root = env!("CARGO_MANIFEST_DIR");
    [
        (ModelKind::Onnx, "data/onnx/wine_tree_classifier.onnx"),
        (ModelKind::Onnx, "data/onnx/wine_logistic.onnx"),
        (ModelKind::Pmml, "data/pmml/decision_tree_classifier.pmml"),
        (ModelKind::TensorFlow, "data/tensorflow/wine_mlp.pb"),
    ]
    .into_iter()
    .map(|(kind, path)| {
        (
            kind,
            std::fs::read(format!("{root}/{path}")).expect("a fixture"),
        )
    })
    .collect()
}

fn load(kind: ModelKind, bytes: &[u8]) {
    let _ = load_model(kind, bytes, InputNames::Schema(WineRecord::SCHEMA));
}

fn kind() -> impl Strategy<Value = ModelKind> {
    prop_oneof![
        Just(ModelKind::Onnx),
        Just(ModelKind::Pmml),
        Just(ModelKind::TensorFlow)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn data_records_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for format in [PayloadFormat::Protobuf, PayloadFormat::Json] {
            let _ = WineRecord::decode(&bytes, format);
            let _ = FeatureRecord::decode(&bytes, format);
        }
    }

    #[test]
    fn model_descriptors_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = <ModelDescriptor as prost::Message>::decode(bytes.as_slice());
    }

    #[test]
    fn random_models_never_escape(kind in kind(), bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        modelserver::job::quiet_contained_panics();
        load(kind, &bytes);
    }

    #[test]
    fn mutated_models_never_escape(
        which in 0usize..4,
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        cut in any::<prop::sample::Index>(),
    ) {
        modelserver::job::quiet_contained_panics();
        let (kind, mut bytes) = fixtures().swap_remove(which);
        for (at, value) in mutations {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        load(kind, &bytes);
        bytes.truncate(cut.index(bytes.len() + 1));
        load(kind, &bytes);
    }
}
