//! Job-wide event counters, shared by the workers of one process.

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `amount`.
    pub fn add(&self, amount: u64) {
        self.0.fetch_add(amount, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What happened to the records and models a process read.
#[derive(Debug, Default)]
pub struct Counters {
    /// Data records read from the data topic.
    pub records_read: Counter,
    /// Data payloads that did not decode (logged and skipped).
    pub malformed_records: Counter,
    /// Model payloads that did not decode (logged and skipped).
    pub malformed_models: Counter,
    /// Models built and made current.
    pub models_loaded: Counter,
    /// Models that failed to build (the previous model kept serving).
    pub model_load_failures: Counter,
    /// Records a model scored.
    pub scored: Counter,
    /// Records a model rejected.
    pub scoring_failures: Counter,
    /// Records that left without a model.
    pub no_model: Counter,
    /// Results handed to the results topic.
    pub results_written: Counter,
}

impl Counters {
    /// A one-line summary for logs.
    pub fn summary(&self) -> String {
        format!(
            "read {} records ({} malformed), scored {}, no model {}, scoring failures {}, models loaded {} ({} failed, {} malformed), results written {}",
            self.records_read.get(),
            self.malformed_records.get(),
            self.scored.get(),
            self.no_model.get(),
            self.scoring_failures.get(),
            self.models_loaded.get(),
            self.model_load_failures.get(),
            self.malformed_models.get(),
            self.results_written.get(),
        )
    }
}
