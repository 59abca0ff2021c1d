//! The Prometheus view of a process (`GET /metrics`), rendered at scrape time from the counters,
//! the key states and the consumer lag the process already keeps: nothing is added to the hot
//! path for it.
//!
//! Rates are the counters' `rate()`: records in per second is
//! `rate(modelserver_records_read_total[1m])`, out `rate(modelserver_results_written_total[1m])`.
//!
//! Series per key are bounded: the [`TOP_KEYS`] keys (and workers) that scored most have their
//! own; the counters of all others add up under `data_type="(other)"`, so that `/metrics` stays
//! small however many keys the job sees.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::record::lag::PartitionLag;
use crate::state::monitor::{FeatureFigures, KeyMonitor, OutputFigures};
use crate::state::{KeyState, LatencyHistogram, ProcessState, RoleStats};

/// The metrics of one process, ready to render.
pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    /// Metrics over `process`.
    pub fn new(process: Arc<ProcessState>) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ProcessCollector(process)));
        Metrics { registry }
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        text
    }
}

/// The MIME type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug)]
struct ProcessCollector(Arc<ProcessState>);

type Labels = Vec<(&'static str, String)>;

/// A metric family read off each item of a list: name, help, and the value of one item.
type Family<T, V> = (&'static str, &'static str, fn(&T) -> V);

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let process = &self.0;
        for (info, counter) in process.counters().all() {
            let metric =
                encoder.encode_descriptor(info.metric, info.help, None, MetricType::Counter)?;
            ConstCounter::new(counter.get()).encode(metric)?;
        }
        let keys = process.report(None).keys;
        let all_keys = ConstGauge::new(keys.len() as i64);
        let help = "Keys (dataType and worker) the process keeps a state of.";
        all_keys.encode(encoder.encode_descriptor(
            "modelserver_keys",
            help,
            None,
            MetricType::Gauge,
        )?)?;
        let (top, others) = top_keys(keys);
        encode_key_counters(&mut encoder, &top, others.as_ref())?;
        encode_models(&mut encoder, &top)?;
        encode_lifecycle(&mut encoder, &top)?;
        encode_monitor(&mut encoder, &process.monitor_report(None).keys)?;
        encode_lag(&mut encoder, process)
    }
}

fn key_labels(key: &KeyState) -> Labels {
    vec![
        ("data_type", key.data_type.clone()),
        ("worker", key.worker.to_string()),
    ]
}

/// How many keys have series of their own.
pub const TOP_KEYS: usize = 50;

/// The [`TOP_KEYS`] keys that scored most, and the others' counts added up (if any).
fn top_keys(mut keys: Vec<KeyState>) -> (Vec<KeyState>, Option<KeyState>) {
    if keys.len() <= TOP_KEYS {
        return (keys, None);
    }
    let usage = |key: &KeyState| key.current.as_ref().map_or(0, |stats| stats.usage);
    keys.sort_by_key(|key| std::cmp::Reverse(usage(key)));
    let rest = keys.split_off(TOP_KEYS);
    let mut others = KeyState::new("(other)", 0);
    for key in rest {
        others.swaps += key.swaps;
        others.load_failures += key.load_failures;
        others.no_model += key.no_model;
    }
    (keys, Some(others))
}

fn encode_key_counters(
    encoder: &mut DescriptorEncoder,
    keys: &[KeyState],
    others: Option<&KeyState>,
) -> Result<(), std::fmt::Error> {
    let families: [Family<KeyState, u64>; 3] = [
        (
            "modelserver_model_swaps",
            "Times a new model replaced the current one.",
            |key| key.swaps,
        ),
        (
            "modelserver_key_load_failures",
            "Models of the key that failed to load.",
            |key| key.load_failures,
        ),
        (
            "modelserver_key_no_model",
            "Records of the key that left without a model.",
            |key| key.no_model,
        ),
    ];
    for (name, help, value) in families {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for key in keys {
            let labels = key_labels(key);
            ConstCounter::new(value(key)).encode(family.encode_family(&labels)?)?;
        }
        if let Some(others) = others {
            let labels: Labels = vec![("data_type", others.data_type.clone())];
            ConstCounter::new(value(others)).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

fn encode_models(
    encoder: &mut DescriptorEncoder,
    keys: &[KeyState],
) -> Result<(), std::fmt::Error> {
    let current = || {
        keys.iter().filter_map(|key| {
            let stats = key.current.as_ref()?;
            let mut labels = key_labels(key);
            labels.push(("model", stats.name.clone()));
            Some((labels, stats))
        })
    };
    let mut family = encoder.encode_descriptor(
        "modelserver_scoring_duration",
        "Time the current model of a key took to score a record.",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    for (labels, stats) in current() {
        let sum = stats.total_ns as f64 / 1e9;
        let buckets = prometheus_buckets(&stats.latency);
        family
            .encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(sum, stats.usage, &buckets, None)?;
    }
    let mut family = encoder.encode_descriptor(
        "modelserver_model_since",
        "When the current model of a key became current (Unix time).",
        Some(&Unit::Seconds),
        MetricType::Gauge,
    )?;
    for (labels, stats) in current() {
        ConstGauge::new(stats.since as f64 / 1e3).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Per key: versions kept, pinned, canary share; per model in a role other than live (canary,
/// shadow, ensemble member or decision): usage, scoring time, agreement with the live answer.
fn encode_lifecycle(
    encoder: &mut DescriptorEncoder,
    keys: &[KeyState],
) -> Result<(), std::fmt::Error> {
    let lineup: [Family<KeyState, f64>; 3] = [
        (
            "modelserver_versions_kept",
            "Versions of a key's model kept ready.",
            |key| key.lineup.versions.len() as f64,
        ),
        (
            "modelserver_pinned",
            "Whether a key is pinned (1: newly published models are staged).",
            |key| f64::from(u8::from(key.lineup.pinned)),
        ),
        (
            "modelserver_canary_share",
            "The share of a key's records its canary scores, in percent.",
            |key| key.lineup.canary.as_ref().map_or(0.0, |(_, share)| *share),
        ),
    ];
    for (name, help, value) in lineup {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for key in keys.iter().filter(|key| !key.lineup.versions.is_empty()) {
            ConstGauge::new(value(key)).encode(family.encode_family(&key_labels(key))?)?;
        }
    }
    let roles: [Family<RoleStats, Option<f64>>; 3] = [
        (
            "modelserver_role_usage",
            "Records a model scored in a role other than live.",
            |stats| Some(stats.usage as f64),
        ),
        (
            "modelserver_role_scoring_seconds",
            "Time a model spent scoring in a role other than live.",
            |stats| Some(stats.total_ns as f64 / 1e9),
        ),
        (
            "modelserver_role_agreement",
            "The share of records where a shadow or ensemble member agreed with the answer served.",
            RoleStats::agreement,
        ),
    ];
    for (name, help, value) in roles {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for key in keys {
            for stats in &key.roles {
                let Some(value) = value(stats) else { continue };
                let mut labels = key_labels(key);
                labels.push(("model", stats.model.clone()));
                labels.push(("role", stats.role.clone()));
                ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
            }
        }
    }
    Ok(())
}

/// How many classes of an output, and features of a key, have series of their own.
pub const TOP_VALUES: usize = 20;

/// How many monitored keys have series of their own (the window's figures of all keys are in
/// `GET /monitor`).
pub const TOP_MONITORED_KEYS: usize = 10;

/// The monitoring dataflow's figures over the window, for the [`TOP_MONITORED_KEYS`] keys with
/// the most records in it: per key; per model and role; per class; per feature (mean and drift);
/// per shadow.
fn encode_monitor(
    encoder: &mut DescriptorEncoder,
    keys: &[KeyMonitor],
) -> Result<(), std::fmt::Error> {
    let mut keys: Vec<&KeyMonitor> = keys.iter().collect();
    keys.sort_by_key(|key| std::cmp::Reverse(key.records));
    keys.truncate(TOP_MONITORED_KEYS);
    let labels = |key: &KeyMonitor| -> Labels { vec![("data_type", key.data_type.clone())] };
    let mut family = encoder.encode_descriptor(
        "modelserver_monitor_records",
        "Records of a key in the monitoring window.",
        None,
        MetricType::Gauge,
    )?;
    for key in &keys {
        ConstGauge::new(key.records as i64).encode(family.encode_family(&labels(key))?)?;
    }
    let outputs = || {
        keys.iter().flat_map(move |key| {
            key.outputs.iter().map(move |output| {
                let mut labels = labels(key);
                labels.push(("model", output.model.clone()));
                labels.push(("role", output.role.clone()));
                (labels, output)
            })
        })
    };
    let output_families: [Family<OutputFigures, Option<f64>>; 7] = [
        ("modelserver_monitor_results", "Results of a model in a role in the window.", |o| {
            Some(o.results as f64)
        }),
        ("modelserver_monitor_failure_rate", "Share of a model's results in the window that failed.", |o| {
            Some(o.failure_rate)
        }),
        ("modelserver_monitor_no_model_rate", "Share of a key's results in the window that found no model.", |o| {
            Some(o.no_model_rate)
        }),
        ("modelserver_monitor_value_mean", "Mean of a regression's values in the window.", |o| {
            o.values.as_ref().map(|values| values.mean)
        }),
        ("modelserver_monitor_value_stddev", "Standard deviation of a regression's values in the window.", |o| {
            o.values.as_ref().map(|values| values.variance.sqrt())
        }),
        ("modelserver_monitor_output_drift", "Population stability index of a model's outputs in the window against its reference window.", |o| o.drift),
        ("modelserver_monitor_vs_live", "Population stability index of a canary's, shadow's or ensemble's answers in the window against the live model's.", |o| o.vs_live),
    ];
    for (name, help, value) in output_families {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (labels, output) in outputs() {
            let Some(value) = value(output) else { continue };
            ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
        }
    }
    let mut family = encoder.encode_descriptor(
        "modelserver_monitor_class_share",
        "Share of a classifier's results in the window that gave a class.",
        None,
        MetricType::Gauge,
    )?;
    for (labels, output) in outputs() {
        for class in output.classes.iter().take(TOP_VALUES) {
            let mut labels = labels.clone();
            labels.push(("class", class.value.clone()));
            let share = class.count as f64 / output.results.max(1) as f64;
            ConstGauge::new(share).encode(family.encode_family(&labels)?)?;
        }
    }
    let feature_families: [Family<FeatureFigures, Option<f64>>; 2] = [
        ("modelserver_monitor_feature_mean", "Mean of a numeric feature in the window.", |f| {
            f.numbers.as_ref().map(|numbers| numbers.mean)
        }),
        ("modelserver_monitor_feature_drift", "Population stability index of a feature in the window against the live model's reference window.", |f| f.drift),
    ];
    for (name, help, value) in feature_families {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for key in &keys {
            for feature in key.features.iter().take(TOP_VALUES) {
                let Some(value) = value(feature) else {
                    continue;
                };
                let mut labels = labels(key);
                labels.push(("feature", feature.name.clone()));
                ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
            }
        }
    }
    let mut family = encoder.encode_descriptor(
        "modelserver_monitor_agreement",
        "Share of the records in the window where a shadow gave the live answer.",
        None,
        MetricType::Gauge,
    )?;
    for key in &keys {
        for agreement in &key.agreement {
            let mut labels = labels(key);
            labels.push(("model", agreement.model.clone()));
            ConstGauge::new(agreement.rate).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// Bucket bounds from 2^7 ns (128 ns) to 2^34 ns (17 s), then +Inf: counts per bucket, not
/// cumulative (the encoder accumulates).
fn prometheus_buckets(histogram: &LatencyHistogram) -> Vec<(f64, u64)> {
    const FIRST: usize = 7;
    const LAST: usize = 34;
    let counts = histogram.counts();
    let mut buckets = vec![(2f64.powi(FIRST as i32) / 1e9, counts[..=FIRST].iter().sum())];
    buckets.extend((FIRST + 1..=LAST).map(|bits| (2f64.powi(bits as i32) / 1e9, counts[bits])));
    buckets.push((f64::INFINITY, counts[LAST + 1..].iter().sum()));
    buckets
}

fn encode_lag(
    encoder: &mut DescriptorEncoder,
    process: &ProcessState,
) -> Result<(), std::fmt::Error> {
    let lag = process.lag().snapshot();
    let families: [Family<PartitionLag, Option<i64>>; 2] = [
        (
            "modelserver_consumer_unread",
            "Messages of a partition the job has not read yet.",
            |lag| Some(lag.unread),
        ),
        (
            "modelserver_consumer_lag",
            "Messages of a partition after the group's committed offset.",
            |lag| lag.uncommitted,
        ),
    ];
    for (name, help, value) in families {
        let unit = Unit::Other("messages".into());
        let mut family = encoder.encode_descriptor(name, help, Some(&unit), MetricType::Gauge)?;
        for ((topic, partition), lag) in &lag {
            let Some(value) = value(lag) else { continue };
            let labels: Labels = vec![
                ("topic", topic.clone()),
                ("partition", partition.to_string()),
            ];
            ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}
