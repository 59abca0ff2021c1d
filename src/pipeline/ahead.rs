//! Models built before they enter the stream. A model descriptor read while the job serves is
//! held back from the dataflow until the process's [`Loader`] has built its model, and only then
//! given to the models input, at the ingestion time of that moment. The model it replaces
//! therefore serves on while the new one builds, and the swap happens at one instant as before,
//! but at the instant the new model is ready: the key's records never wait for a build (a 50 MB
//! model built in seconds no longer stops its key's output for those seconds). The serving
//! operator's own build request then gets the model built ahead at once.
//!
//! Descriptors are held per key, in the order read: a key's lifecycle operations wait behind its
//! models, other keys are not held up by them. A build that takes longer than `patience` releases
//! its descriptor anyway (the operator then waits for the same build, within its own timeout).
//! A model whose key is served in another process (keyed pipeline) is not held: that process
//! builds it when the descriptor reaches it, and its key's records wait for that build, as do
//! the records of the other processes of a flat job.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use super::loader::{Loader, Prebuild};
use crate::model::FeatureSchema;
use crate::proto::ModelDescriptor;
use crate::record::Sourced;

/// The descriptors of one worker held back while their models build.
pub struct HeldModels {
    loader: Arc<Loader>,
    schema: Option<FeatureSchema>,
    /// The worker to wake when a build is over.
    worker: std::thread::Thread,
    /// How long a descriptor is held at most.
    patience: Duration,
    /// Whether a key's models are served in this process.
    served_here: Box<dyn Fn(&str) -> bool>,
    by_key: BTreeMap<String, VecDeque<Held>>,
}

/// A descriptor held back, and the build it waits for (none for an operation without a model).
struct Held {
    descriptor: Sourced<Arc<ModelDescriptor>>,
    build: Option<Prebuild>,
}

impl HeldModels {
    /// Holds descriptors for the worker running this, building their models on `loader` for
    /// records of `schema`, each at most `patience`; descriptors of keys not `served_here` pass.
    pub fn new(
        loader: Arc<Loader>,
        schema: Option<FeatureSchema>,
        patience: Duration,
        served_here: Box<dyn Fn(&str) -> bool>,
    ) -> Self {
        HeldModels {
            loader,
            schema,
            worker: std::thread::current(),
            patience,
            served_here,
            by_key: BTreeMap::new(),
        }
    }

    /// Holds `descriptor` back, building its model if it carries one; an operation without a
    /// model is held only behind its key's models.
    pub fn hold(
        &mut self,
        descriptor: Sourced<ModelDescriptor>,
    ) -> Option<Sourced<ModelDescriptor>> {
        let key = &descriptor.record.data_type;
        let carries_model = descriptor.record.message_content.is_some();
        let behind_nothing = !self.by_key.contains_key(key);
        if behind_nothing && (!carries_model || !(self.served_here)(key)) {
            return Some(descriptor);
        }
        let queue = self.by_key.entry(key.clone()).or_default();
        let descriptor = Sourced {
            origin: descriptor.origin,
            record: Arc::new(descriptor.record),
        };
        let build = carries_model.then(|| {
            let worker = self.worker.clone();
            self.loader
                .prebuild(descriptor.record.clone(), self.schema, worker)
        });
        queue.push_back(Held { descriptor, build });
        None
    }

    /// Gives `send` the descriptors whose builds are over or out of patience, with what follows
    /// each that needs no build, in order per key; returns how many.
    pub fn release(&mut self, mut send: impl FnMut(Sourced<ModelDescriptor>)) -> usize {
        let mut released = 0;
        let patience = self.patience;
        self.by_key.retain(|_, queue| {
            while let Some(first) = queue.front() {
                let waiting = first
                    .build
                    .as_ref()
                    .is_some_and(|build| !build.is_done() && build.elapsed() < patience);
                if waiting {
                    break;
                }
                let Held { descriptor, .. } = queue.pop_front().expect("a first");
                let record =
                    Arc::try_unwrap(descriptor.record).unwrap_or_else(|shared| (*shared).clone());
                send(Sourced {
                    origin: descriptor.origin,
                    record,
                });
                released += 1;
            }
            !queue.is_empty()
        });
        released
    }

    /// Whether no descriptor is held.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::lifecycle::Operation;
    use crate::proto::model_descriptor::{MessageContent, ModelType};
    use crate::proto::Lifecycle;
    use crate::record::{Origin, Record, WineRecord};

    fn sourced(offset: i64, record: ModelDescriptor) -> Sourced<ModelDescriptor> {
        let origin = Origin {
            partition: 0,
            offset,
        };
        Sourced { origin, record }
    }

    fn model(key: &str, bytes: Vec<u8>) -> ModelDescriptor {
        ModelDescriptor {
            name: format!("model of {key}"),
            data_type: key.into(),
            modeltype: ModelType::Pmml as i32,
            message_content: Some(MessageContent::Data(bytes)),
            ..ModelDescriptor::default()
        }
    }

    fn rollback(key: &str) -> ModelDescriptor {
        let mut lifecycle = Lifecycle::default();
        lifecycle.set_operation(Operation::Rollback);
        ModelDescriptor {
            data_type: key.into(),
            lifecycle: Some(lifecycle),
            ..ModelDescriptor::default()
        }
    }

    fn forest() -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/pmml/random_forest_classifier.pmml"
        );
        std::fs::read(path).expect("the bundled forest")
    }

    /// Holds for a worker of a process that serves every key.
    fn held(loader: &Arc<Loader>, patience: Duration) -> HeldModels {
        HeldModels::new(
            loader.clone(),
            WineRecord::FEATURES,
            patience,
            Box::new(|_| true),
        )
    }

    /// Releases what is due until `wanted` descriptors came out (at most 10 s); returns them.
    fn released(held: &mut HeldModels, wanted: usize) -> Vec<Sourced<ModelDescriptor>> {
        let mut models = Vec::new();
        for _ in 0..1_000 {
            held.release(|model| models.push(model));
            if models.len() >= wanted {
                break;
            }
            std::thread::park_timeout(Duration::from_millis(10));
        }
        models
    }

    /// The offsets of [`released`].
    fn released_offsets(held: &mut HeldModels, wanted: usize) -> Vec<i64> {
        let models = released(held, wanted);
        models.iter().map(|model| model.origin.offset).collect()
    }

    #[test]
    fn a_model_enters_once_built_and_its_keys_operations_wait_behind_it() {
        let loader = Arc::new(Loader::default());
        let patience = Duration::from_secs(30);
        let mut held = held(&loader, patience);
        assert!(
            held.hold(sourced(0, model("red", forest()))).is_none(),
            "a model is held"
        );
        assert!(
            held.hold(sourced(1, rollback("red"))).is_none(),
            "behind its key's model"
        );
        let white = held.hold(sourced(2, rollback("white")));
        assert_eq!(
            white.map(|model| model.origin.offset),
            Some(2),
            "another key passes"
        );
        assert_eq!(
            released_offsets(&mut held, 2),
            [0, 1],
            "in order, once built"
        );
        assert!(held.is_empty());
    }

    #[test]
    fn the_operator_then_gets_the_model_built_ahead_without_building_it_again() {
        let loader = Arc::new(Loader::default());
        let patience = Duration::from_secs(30);
        let mut held = held(&loader, patience);
        held.hold(sourced(0, model("red", forest())));
        let entered = released(&mut held, 1);
        assert_eq!(loader.builds_run(), 1);
        let request = crate::pipeline::loader::BuildRequest {
            candidates: entered,
            fallbacks: None,
            schema: WineRecord::FEATURES,
        };
        let outcome = loader.build_now(request);
        assert_eq!(outcome.built.len(), 1, "the model, forked");
        assert_eq!(loader.builds_run(), 1, "not built again");
    }

    #[test]
    fn a_model_of_a_key_served_in_another_process_passes() {
        let loader = Arc::new(Loader::default());
        let patience = Duration::from_secs(30);
        let elsewhere = Box::new(|key: &str| key != "red");
        let mut held = HeldModels::new(loader.clone(), WineRecord::FEATURES, patience, elsewhere);
        let red = held.hold(sourced(0, model("red", forest())));
        assert_eq!(red.map(|model| model.origin.offset), Some(0));
        assert!(held.is_empty());
        assert_eq!(loader.builds_run(), 0, "not built here");
    }

    #[test]
    fn a_model_that_fails_to_build_is_released_for_the_operator_to_report() {
        let loader = Arc::new(Loader::default());
        let patience = Duration::from_secs(30);
        let mut held = held(&loader, patience);
        held.hold(sourced(0, model("red", b"<PMML".to_vec())));
        held.hold(sourced(1, model("red", forest())));
        assert_eq!(released_offsets(&mut held, 2), [0, 1]);
    }

    #[test]
    fn a_build_out_of_patience_releases_its_model_anyway() {
        let loader = Arc::new(Loader::default());
        let mut held = held(&loader, Duration::ZERO);
        held.hold(sourced(0, model("red", forest())));
        let mut offsets = Vec::new();
        held.release(|model| offsets.push(model.origin.offset));
        assert_eq!(offsets, [0], "released at once");
    }
}
