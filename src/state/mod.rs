//! What a running job can tell about itself.

mod counters;

pub use counters::{Counter, Counters};
