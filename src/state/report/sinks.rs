//! Where a process's events go: always the tracing log, and on request a JSON-lines file and a
//! further destination of keyed JSON lines (the job forwards them to a Kafka topic), so that
//! another process can follow state changes.

use std::fs::File;
use std::io::{LineWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use super::StateEvent;
use crate::state::monitor::Drift;

/// A further destination of events: it is handed each event's key and JSON line.
pub type Forward = Box<dyn Fn(&str, &str) + Send + Sync>;

/// The destinations of one process's events.
pub struct EventSinks {
    file: Option<Mutex<LineWriter<File>>>,
    forward: Option<Forward>,
}

/// A timely event as written to a file or topic.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TimelyLine<'a, E> {
    worker: usize,
    elapsed_ns: u128,
    timely: &'a E,
}

impl EventSinks {
    /// Events to the tracing log only.
    pub fn tracing_only() -> Self {
        EventSinks {
            file: None,
            forward: None,
        }
    }

    /// Events to the tracing log, and to a JSON-lines file (created or appended to) and
    /// `forward` when given.
    pub fn open(file: Option<&Path>, forward: Option<Forward>) -> Result<Self> {
        let file = file
            .map(|path| {
                File::options()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening the event log {}", path.display()))
            })
            .transpose()?
            .map(|file| Mutex::new(LineWriter::new(file)));
        Ok(EventSinks { file, forward })
    }

    /// Sends a state event everywhere: the tracing log, the file and the forward (keyed by
    /// `dataType`).
    pub fn state(&self, event: &StateEvent) {
        trace_state(event);
        self.write(event.data_type(), event);
    }

    /// Sends one of timely's own events to the file and the forward, or to the tracing log (at
    /// debug level) when neither is set.
    pub fn timely<E: Serialize + std::fmt::Debug>(
        &self,
        worker: usize,
        elapsed: Duration,
        event: &E,
    ) {
        if self.file.is_none() && self.forward.is_none() {
            tracing::debug!(worker, ?elapsed, "timely: {event:?}");
            return;
        }
        let line = TimelyLine {
            worker,
            elapsed_ns: elapsed.as_nanos(),
            timely: event,
        };
        self.write(&format!("timely/{worker}"), &line);
    }

    fn write(&self, key: &str, event: &impl Serialize) {
        let json = match serde_json::to_string(event) {
            Ok(json) => json,
            Err(error) => return tracing::warn!("cannot encode an event: {error}"),
        };
        if let Some(file) = &self.file {
            let mut file = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Err(error) = writeln!(file, "{json}") {
                tracing::warn!("cannot write the event log: {error}");
            }
        }
        if let Some(forward) = &self.forward {
            forward(key, &json);
        }
    }
}

fn trace_state(event: &StateEvent) {
    let state = match event {
        StateEvent::Drift { drift, .. } => return trace_drift(drift),
        other => other.state().expect("a key's state"),
    };
    let (data_type, worker) = (&state.data_type, state.worker);
    let current = state.current.as_ref();
    let model = current.map_or("", |stats| stats.name.as_str());
    match event {
        StateEvent::ModelLoaded { .. } => {
            let since = current.map(|stats| stats.since);
            tracing::info!(worker, %data_type, model, since, "model serving");
        }
        StateEvent::ModelSwapped { .. } => {
            let replaced = state.history.first();
            let replaces = replaced.map_or("", |stats| stats.name.as_str());
            let usage = replaced.map(|stats| stats.usage);
            let since = current.map(|stats| stats.since);
            tracing::info!(worker, %data_type, model, replaces, replaced_usage = usage, since, "model swapped");
        }
        StateEvent::ModelFailed { .. } => {
            let failure = state.last_failure.as_ref();
            let failed = failure.map_or("", |failure| failure.name.as_str());
            let error = failure.map_or("", |failure| failure.error.as_str());
            let keeps = current.map(|stats| stats.name.as_str());
            tracing::warn!(worker, %data_type, model = failed, ?keeps, "model failed to load: {error}");
        }
        StateEvent::LineupChanged { .. } => {
            let lineup = &state.lineup;
            let canary = lineup
                .canary
                .as_ref()
                .map(|(name, share)| format!("{name} ({share} %)"));
            let ensemble = lineup.ensemble.as_ref().map(|e| e.members.join("+"));
            tracing::info!(worker, %data_type, model, pinned = lineup.pinned, ?canary, shadow = ?lineup.shadow, ?ensemble, versions = ?lineup.versions, "lineup changed");
        }
        StateEvent::KeyEvicted { .. } => {
            tracing::debug!(worker, %data_type, no_model = state.no_model, "idle key evicted");
        }
        StateEvent::Stats { .. } => {
            if let Some(stats) = current {
                tracing::debug!(worker, %data_type, model, usage = stats.usage, mean_ns = stats.mean_ns(), min_ns = stats.min_ns, max_ns = stats.max_ns, "model stats");
            }
        }
        StateEvent::Drift { .. } => {}
    }
}

fn trace_drift(drift: &Drift) {
    let Drift {
        data_type,
        worker,
        model,
        role,
        subject,
        psi,
        threshold,
        ..
    } = drift;
    match drift.drifting {
        true => {
            tracing::warn!(worker, %data_type, model, role, subject, psi, threshold, "drift detected")
        }
        false => {
            tracing::info!(worker, %data_type, model, role, subject, psi, threshold, "drift cleared")
        }
    }
}
