//! The flat pipeline: every model is broadcast to every worker, and records are spread by their
//! Kafka position over the workers of the process that read them, so that any worker scores any
//! key and no record crosses to another process.

use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::StreamVec;

use std::sync::Arc;

use super::loader::Loader;
use super::serving::{serve, ServingConfig};
use super::stable_hash;
use crate::proto::ModelDescriptor;
use crate::record::{Origin, Record, Scored, Sourced, Time};
use crate::state::Reporter;

/// Broadcasts models, spreads records evenly over `process_workers` (the workers of this
/// worker's process, global indices), and serves them on every worker.
pub fn flat<'scope, R: Record>(
    data: StreamVec<'scope, Time, Sourced<R>>,
    models: StreamVec<'scope, Time, Sourced<ModelDescriptor>>,
    config: ServingConfig,
    reporter: Reporter,
    (loader, process_workers): (Arc<Loader>, Vec<usize>),
) -> StreamVec<'scope, Time, Scored> {
    let count = process_workers.len().max(1) as u64;
    let data_pact = Exchange::new(move |sourced: &Sourced<R>| {
        let local = position_route(&sourced.origin) % count;
        process_workers
            .get(local as usize)
            .map_or(local, |&worker| worker as u64)
    });
    let pacts = (data_pact, Pipeline);
    serve(data, models.broadcast(), pacts, config, reporter, loader)
}

/// The routing value of a record's position: consecutive offsets go to different workers.
pub fn position_route(origin: &Origin) -> u64 {
    let mut position = [0u8; 12];
    position[..4].copy_from_slice(&origin.partition.to_le_bytes());
    position[4..].copy_from_slice(&origin.offset.to_le_bytes());
    stable_hash(&position)
}
