//! Job-wide event counters, shared by the workers of one process. Each is declared once, in
//! [`Counters`]: its field, its Prometheus name, its help text and its words in the summary
//! come from that one declaration.

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

/// One counter as the outside sees it: its metric name and help, and its words in the summary.
#[derive(Clone, Copy, Debug)]
pub struct CounterInfo {
    /// The Prometheus metric name (without `_total`).
    pub metric: &'static str,
    /// What it counts (the metric's help text).
    pub help: &'static str,
    /// Its words in [`Counters::summary`].
    pub summary: &'static str,
}

/// Declares [`Counters`], one field per counter, and [`Counters::all`], which lists them.
macro_rules! counters {
    ($($field:ident: $metric:literal, $summary:literal, $help:literal;)*) => {
        /// What happened to the records and models a process read.
        #[derive(Debug, Default)]
        pub struct Counters {
            $(
                #[doc = $help]
                pub $field: Counter,
            )*
        }

        impl Counters {
            /// Every counter with what describes it, in declaration order.
            pub fn all(&self) -> Vec<(CounterInfo, &Counter)> {
                vec![$((
                    CounterInfo { metric: $metric, help: $help, summary: $summary },
                    &self.$field,
                )),*]
            }
        }
    };
}

counters! {
    records_read: "modelserver_records_read", "records read",
        "Data records read from Kafka.";
    malformed_records: "modelserver_malformed_records", "malformed",
        "Data records that did not decode (skipped).";
    scored: "modelserver_records_scored", "scored",
        "Records a model scored.";
    no_model: "modelserver_no_model", "no model",
        "Records that left without a model.";
    scoring_failures: "modelserver_scoring_failures", "scoring failures",
        "Records a model rejected.";
    models_loaded: "modelserver_models_loaded", "models loaded",
        "Models built and made current.";
    model_load_failures: "modelserver_model_load_failures", "models failed",
        "Models that failed to build (the previous model kept serving).";
    malformed_models: "modelserver_malformed_models", "malformed models",
        "Model messages that did not decode (skipped).";
    results_written: "modelserver_results_written", "results written",
        "Results handed to the results topic.";
}

impl Counters {
    /// A one-line summary for logs: every counter's words and count, comma-separated.
    pub fn summary(&self) -> String {
        self.all()
            .iter()
            .map(|(info, counter)| format!("{} {}", info.summary, counter.get()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_lists_every_counter_once() {
        let counters = Counters::default();
        counters.scored.add(400);
        counters.records_read.add(401);
        counters.malformed_records.inc();
        assert_eq!(
            counters.summary(),
            "records read 401, malformed 1, scored 400, no model 0, scoring failures 0, \
             models loaded 0, models failed 0, malformed models 0, results written 0"
        );
        let metrics: Vec<&str> = counters.all().iter().map(|(info, _)| info.metric).collect();
        assert_eq!(metrics.len(), 9);
        assert!(metrics.iter().all(|name| name.starts_with("modelserver_")));
    }
}
