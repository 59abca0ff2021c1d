//! The query endpoint of a serving process: its HTTP server ([`StateServer`]) and the
//! Prometheus view of the process ([`Metrics`]).

mod http;
mod metrics;

pub use http::StateServer;
pub use metrics::{Metrics, CONTENT_TYPE};
