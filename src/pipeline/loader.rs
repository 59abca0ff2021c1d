//! Model builds off the workers' threads. The serving operator hands each build to the
//! [`Loader`], which runs it on a thread of its own and wakes the operator when it is done; a
//! slow or runaway build therefore never stalls the scoring of other keys, and a build that
//! takes longer than the job allows is given up by the operator (the thread's eventual result is
//! dropped).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use timely::scheduling::SyncActivator;

use crate::model::{build_model, FeatureSchema, Model, ModelError, ModelSource};
use crate::proto::ModelDescriptor;
use crate::record::Sourced;

/// Builds models for the workers of one process.
#[derive(Debug, Default)]
pub struct Loader {
    source: ModelSource,
}

/// The models of one key that arrived at one instant: only the newest can serve, so they are
/// tried newest first until one loads.
pub struct BuildRequest {
    /// The descriptors, newest first.
    pub candidates: Vec<Sourced<ModelDescriptor>>,
    /// The record type's features, if it has a fixed schema.
    pub schema: Option<FeatureSchema>,
}

/// What became of a build request.
pub struct BuildOutcome {
    /// The model that loaded, with its index among the candidates.
    pub built: Option<(usize, Box<dyn Model>)>,
    /// The candidates that were tried and failed, by index, with why.
    pub failures: Vec<(usize, ModelError)>,
}

/// A build under way: its outcome once the loader thread is done.
pub struct Ticket {
    outcome: Arc<Mutex<Option<BuildOutcome>>>,
    started: Instant,
}

impl Ticket {
    /// The outcome, once the build is done (taken: later calls return `None`).
    pub fn take(&self) -> Option<BuildOutcome> {
        self.outcome
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    /// How long the build has been running.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Loader {
    /// A loader that reads models as `source` allows.
    pub fn new(source: ModelSource) -> Self {
        Loader { source }
    }

    /// Starts building `request` on a thread of its own; `wake` is activated when it is done.
    pub fn submit(&self, request: BuildRequest, wake: SyncActivator) -> Ticket {
        let outcome = Arc::new(Mutex::new(None));
        let ticket = Ticket {
            outcome: outcome.clone(),
            started: Instant::now(),
        };
        let source = self.source.clone();
        let spawned = std::thread::Builder::new()
            .name("model-build".into())
            .spawn({
                let outcome = outcome.clone();
                move || {
                    let built = build(&request, &source);
                    *outcome
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(built);
                    let _ = wake.activate();
                }
            });
        if let Err(error) = spawned {
            let failure = ModelError::Unsupported(format!("no thread to build the model: {error}"));
            *outcome
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(BuildOutcome {
                built: None,
                failures: vec![(0, failure)],
            });
        }
        ticket
    }
}

/// Tries the candidates, newest first, until one loads.
fn build(request: &BuildRequest, source: &ModelSource) -> BuildOutcome {
    let mut failures = Vec::new();
    for (index, candidate) in request.candidates.iter().enumerate() {
        match build_model(&candidate.record, request.schema, source) {
            Ok(model) => {
                return BuildOutcome {
                    built: Some((index, model)),
                    failures,
                }
            }
            Err(error) => failures.push((index, error)),
        }
    }
    BuildOutcome {
        built: None,
        failures,
    }
}
