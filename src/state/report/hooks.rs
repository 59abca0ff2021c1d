//! Timely logging hooks: the actions a worker registers in its log registry before it builds its
//! dataflow, for the project's state log and, on request, for timely's own event streams.

use std::sync::Arc;

use serde::Serialize;
use timely::logging::{TimelyEventBuilder, TimelyProgressEventBuilder};
use timely::worker::Worker;

use super::{EventSinks, StateEventBuilder, STATE_LOG};
use crate::record::Time;
use crate::state::ProcessState;

/// A timely progress event as written out (timely's own type is not serializable).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProgressLine<'a> {
    is_send: bool,
    source: usize,
    channel: usize,
    seq_no: usize,
    identifier: usize,
    messages: &'a [(usize, usize, Time, i64)],
    internal: &'a [(usize, usize, Time, i64)],
}

/// Registers on `worker` the state-log action, which updates `process` and sends every event to
/// `sinks`; with `timely_events`, also actions that send timely's own events (operators,
/// channels, scheduling, messages, progress) to `sinks`. Call before building the dataflow.
pub fn register(
    worker: &mut Worker,
    process: Arc<ProcessState>,
    sinks: Arc<EventSinks>,
    timely_events: bool,
) {
    let index = worker.index();
    let Some(mut registry) = worker.log_register() else {
        tracing::warn!(
            worker = index,
            "timely logging is off: no model-state events"
        );
        return;
    };
    registry.insert::<StateEventBuilder, _>(STATE_LOG, {
        let sinks = sinks.clone();
        move |_elapsed, batch| {
            for (_, event) in batch.iter_mut().flat_map(|events| events.drain(..)) {
                process.apply(&event);
                sinks.state(&event);
            }
        }
    });
    if !timely_events {
        return;
    }
    registry.insert::<TimelyEventBuilder, _>("timely", {
        let sinks = sinks.clone();
        move |_elapsed, batch| {
            for (elapsed, event) in batch.iter().flatten() {
                sinks.timely(index, *elapsed, event);
            }
        }
    });
    let progress_log = format!("timely/progress/{}", std::any::type_name::<Time>());
    registry.insert::<TimelyProgressEventBuilder<Time>, _>(
        &progress_log,
        move |_elapsed, batch| {
            for (elapsed, event) in batch.iter().flatten() {
                let line = ProgressLine {
                    is_send: event.is_send,
                    source: event.source,
                    channel: event.channel,
                    seq_no: event.seq_no,
                    identifier: event.identifier,
                    messages: &event.messages,
                    internal: &event.internal,
                };
                sinks.timely(index, *elapsed, &line);
            }
        },
    );
}
