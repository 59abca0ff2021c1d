//! The wire format: messages of `proto/*.proto`, generated at build time by `prost`.
#![allow(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/modelserver.rs"));
