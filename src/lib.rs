//! Streaming model serving on timely dataflow and Kafka.
//!
//! Two Kafka streams meet in a timely dataflow job: data records and model descriptors. A binary
//! operator ([`pipeline::serving`]) keeps the current model per `dataType` and scores every record;
//! a model published on the models topic replaces the current one while data keeps flowing.
//!
//! - [`model`]: the [`model::Model`] trait and the model kinds that score a record;
//! - [`pipeline`]: the keyed and flat pipelines around the serving operator;
//! - [`kafka`]: sources, offsets, the results sink and topic administration;
//! - [`job`]: a whole serving job over Kafka, on any number of workers and processes;
//! - [`record`], [`dataset`]: the records served (wine records, generic feature records) and the
//!   bundled wine-quality data;
//! - [`app`]: what serving apps need around a job (embedded or real Kafka, predictions read back);
//! - [`state`]: what a running job can tell about itself.
//!
//! The modules form a one-way stack, each using only those below it: [`proto`] < [`model`] <
//! [`record`] (and [`dataset`]) < [`kafka`] and [`state`] (which do not use each other) <
//! [`pipeline`] < [`job`] < [`app`]. The binaries (`jobs/`) sit on top, with the command line.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod dataset;
pub mod job;
pub mod kafka;
pub mod model;
pub mod pipeline;
pub mod proto;
pub mod record;
pub mod state;
