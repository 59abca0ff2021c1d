//! The keyed pipeline: records and models are exchanged by `dataType`, so that each key's model
//! lives on exactly one worker, which scores every record of that key.

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::StreamVec;

use std::sync::Arc;

use super::loader::Loader;
use super::serving::{serve, ServingConfig};
use super::stable_hash;
use crate::proto::ModelDescriptor;
use crate::record::{Record, Scored, Sourced, Time};
use crate::state::Reporter;

/// Routes records and models by key to the worker that owns the key, and serves them there.
pub fn keyed<'scope, R: Record>(
    data: StreamVec<'scope, Time, Sourced<R>>,
    models: StreamVec<'scope, Time, Sourced<ModelDescriptor>>,
    config: ServingConfig,
    reporter: Reporter,
    loader: Arc<Loader>,
) -> StreamVec<'scope, Time, Scored> {
    let data_pact = Exchange::new(|sourced: &Sourced<R>| key_route(sourced.record.data_type()));
    let model_pact = Exchange::new(|descriptor: &Sourced<ModelDescriptor>| {
        key_route(&descriptor.record.data_type)
    });
    serve(
        data,
        models,
        (data_pact, model_pact),
        config,
        reporter,
        loader,
    )
}

/// The routing value of a key: records and models of one key meet on one worker.
pub fn key_route(data_type: &str) -> u64 {
    stable_hash(data_type.as_bytes())
}

/// The worker, among `peers`, that a key's records and models meet on (as timely's exchange
/// maps [`key_route`] onto its workers).
pub fn worker_of(data_type: &str, peers: usize) -> usize {
    (key_route(data_type) % peers as u64) as usize
}
