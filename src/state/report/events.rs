//! The project's own timely log stream: model-state events, logged by the serving operator
//! through the worker's log registry under [`STATE_LOG`].
//!
//! Whoever registers an action for that name receives every event (see [`super::hooks`]): the
//! process's [`ProcessState`](crate::state::ProcessState), which answers queries, and the chosen event sinks. The
//! operator only logs; a worker with nothing registered drops the events at no cost.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::logging_core::Logger;
use timely::worker::Worker;

use super::{Counters, KeyState};
use crate::record::DeadLetter;
use crate::state::monitor::Drift;

/// The name of the model-state log stream in a worker's log registry.
pub const STATE_LOG: &str = "modelserver/state";

/// How state events are batched by the logger.
pub type StateEventBuilder = CapacityContainerBuilder<Vec<(Duration, StateEvent)>>;

/// A worker's logger of state events.
pub type StateLogger = Logger<StateEventBuilder>;

/// A change in the state of one key on one worker, carrying that key's whole state after it; or
/// a drift the monitoring dataflow found in the key's window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum StateEvent {
    /// The first model of a key became current.
    ModelLoaded {
        /// Wall-clock milliseconds since the Unix epoch.
        at: u64,
        /// The key's state after the event.
        state: KeyState,
    },
    /// A new model replaced the current one (its final figures head the history).
    ModelSwapped {
        /// Wall-clock milliseconds since the Unix epoch.
        at: u64,
        /// The key's state after the event.
        state: KeyState,
    },
    /// A model failed to load; the current one, if any, keeps serving.
    ModelFailed {
        /// Wall-clock milliseconds since the Unix epoch.
        at: u64,
        /// The key's state after the event.
        state: KeyState,
    },
    /// A lifecycle operation changed the key's lineup (versions, pin, canary, shadow, ensemble)
    /// without changing its current model, or was refused.
    LineupChanged {
        /// Wall-clock milliseconds since the Unix epoch.
        at: u64,
        /// The key's state after the event.
        state: KeyState,
    },
    /// The key's figures, sent periodically while they change.
    Stats {
        /// Wall-clock milliseconds since the Unix epoch.
        at: u64,
        /// The key's state.
        state: KeyState,
    },
    /// The key had no model and saw nothing for a while: its state was dropped.
    KeyEvicted {
        /// Wall-clock milliseconds since the Unix epoch.
        at: u64,
        /// The key's last state.
        state: KeyState,
    },
    /// The drift of an output or a feature of the key crossed its threshold, either way.
    Drift {
        /// Wall-clock milliseconds since the Unix epoch.
        at: u64,
        /// What drifted, by how much.
        drift: Drift,
    },
}

impl StateEvent {
    /// The key's state after the event (a drift event carries none).
    pub fn state(&self) -> Option<&KeyState> {
        match self {
            StateEvent::ModelLoaded { state, .. }
            | StateEvent::ModelSwapped { state, .. }
            | StateEvent::ModelFailed { state, .. }
            | StateEvent::LineupChanged { state, .. }
            | StateEvent::Stats { state, .. }
            | StateEvent::KeyEvicted { state, .. } => Some(state),
            StateEvent::Drift { .. } => None,
        }
    }

    /// The key the event is about.
    pub fn data_type(&self) -> &str {
        match self {
            StateEvent::Drift { drift, .. } => &drift.data_type,
            other => &other.state().expect("a key's state").data_type,
        }
    }
}

/// Where the inputs a job gives up on go (the dead-letter topic, in a job).
pub type DeadLetters = Arc<dyn Fn(DeadLetter) + Send + Sync>;

/// What the serving operator reports to: the process's counters, the worker's state log, and
/// the dead letters.
#[derive(Clone)]
pub struct Reporter {
    /// The process's counters.
    pub counters: Arc<Counters>,
    /// The worker's state log, when an action is registered for [`STATE_LOG`].
    pub events: Option<StateLogger>,
    /// Where models that do not load go, if anywhere.
    pub dead_letters: Option<DeadLetters>,
}

impl Reporter {
    /// Reports to `counters` and to the state log registered on `worker`, if any (register it
    /// before building the dataflow).
    pub fn for_worker(worker: &Worker, counters: Arc<Counters>) -> Self {
        Reporter {
            counters,
            events: worker.logger_for::<StateEventBuilder>(STATE_LOG),
            dead_letters: None,
        }
    }

    /// Sends models that do not load to `dead_letters` too.
    pub fn with_dead_letters(mut self, dead_letters: DeadLetters) -> Self {
        self.dead_letters = Some(dead_letters);
        self
    }

    /// Gives up on an input.
    pub fn dead_letter(&self, letter: DeadLetter) {
        if let Some(dead_letters) = &self.dead_letters {
            dead_letters(letter);
        }
    }

    /// Logs a state event.
    pub fn log(&self, event: StateEvent) {
        if let Some(events) = &self.events {
            events.log(event);
        }
    }
}
