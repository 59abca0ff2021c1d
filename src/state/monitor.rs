//! What the monitoring dataflow reports: per key, the distributions of the last window of the
//! stream ([`KeyMonitor`]), and the drift events it raises ([`Drift`]).
//!
//! The figures are computed by the monitoring dataflow (`pipeline::monitor`) from its
//! arrangement, as of one ingestion time per key; a process keeps the latest figures of the keys
//! its workers monitor in [`Monitors`], which its endpoint serves as `GET /monitor`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::lock;
use crate::record::Time;

/// The figures of one key over the window that ends at `as_of`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyMonitor {
    /// The key.
    pub data_type: String,
    /// The worker (global index) whose arrangement holds the key's figures.
    pub worker: usize,
    /// The ingestion time the figures are consistent as of, in ms since the Unix epoch: they
    /// count every record ingested in the window that ends there, and nothing else.
    pub as_of: Time,
    /// The window's length, in milliseconds.
    pub window_ms: u64,
    /// Records of the key in the window.
    pub records: u64,
    /// What each model did in each role, live first.
    pub outputs: Vec<OutputFigures>,
    /// The records' features, by name.
    pub features: Vec<FeatureFigures>,
    /// How often each shadow gave the live answer, for the records they both scored.
    pub agreement: Vec<Agreement>,
}

/// What one model did in one role over the window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputFigures {
    /// The model's name (empty for records that found no model).
    pub model: String,
    /// `live`, `canary`, `shadow` or `ensemble`.
    pub role: String,
    /// Its results in the window (failed scorings and no-model results included).
    pub results: u64,
    /// Records it rejected.
    pub failed: u64,
    /// Records that found no model (counted under an empty model name).
    pub no_model: u64,
    /// `failed / results`.
    pub failure_rate: f64,
    /// `no_model / results`.
    pub no_model_rate: f64,
    /// For a classifier: how many records it gave each class, most frequent first.
    pub classes: Vec<Count>,
    /// For a regression: the distribution of its values.
    pub values: Option<Distribution>,
    /// Population stability index of this window's outputs against the reference window (the
    /// first window the model served in this role entirely); `None` until there is one.
    pub drift: Option<f64>,
    /// For a canary, a shadow or an ensemble: the population stability index of its answers
    /// against the live model's in the same window (how differently it answers the same kind of
    /// records); `None` for the live model, or when no live model answered.
    #[serde(default)]
    pub vs_live: Option<f64>,
}

/// A value and how many times it occurs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Count {
    /// The value (a class label, a category).
    pub value: String,
    /// How many records had it.
    pub count: u64,
}

/// The distribution of a number over the window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Distribution {
    /// How many numbers.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// Their (population) variance.
    pub variance: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// Counts over [`HISTOGRAM_BINS`] bins of equal width from `min` to `max` (the last bin
    /// includes `max`).
    pub histogram: Vec<u64>,
}

/// How many bins a [`Distribution`]'s histogram has.
pub const HISTOGRAM_BINS: usize = 20;

/// One feature of the key's records over the window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureFigures {
    /// The feature's name.
    pub name: String,
    /// Records that had it.
    pub count: u64,
    /// Records where it was missing (or NaN).
    pub missing: u64,
    /// The distribution of its numbers, if it had any.
    pub numbers: Option<Distribution>,
    /// Its categories, most frequent first, if it had any.
    pub categories: Vec<Count>,
    /// Population stability index of this window against the reference window (the first
    /// window that the live model served entirely); `None` until there is one.
    pub drift: Option<f64>,
}

/// How often a shadow agreed with the live answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agreement {
    /// The shadow model.
    pub model: String,
    /// Records both scored.
    pub compared: u64,
    /// Of those, the ones where they gave the same answer.
    pub agreed: u64,
    /// `agreed / compared`.
    pub rate: f64,
}

/// A drift crossing its threshold, either way: logged on the state log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// The key.
    pub data_type: String,
    /// The worker that monitors the key.
    pub worker: usize,
    /// The model whose reference the window is compared with.
    pub model: String,
    /// The role of that model (`live` for features).
    pub role: String,
    /// What drifted: `output:MODEL:ROLE`, or `feature:NAME`.
    pub subject: String,
    /// The population stability index.
    pub psi: f64,
    /// The threshold it crossed.
    pub threshold: f64,
    /// Whether it is now above the threshold (`false`: it came back below).
    pub drifting: bool,
    /// The ingestion time of the window.
    pub as_of: Time,
}

/// What `GET /monitor` answers: the figures of the keys a process's workers monitor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonitorReport {
    /// The process index in the job.
    pub process: usize,
    /// Whether the process monitors at all (`serve --no-monitor` turns it off).
    pub enabled: bool,
    /// The population stability index above which a window has drifted.
    pub drift_threshold: f64,
    /// The latest figures of every key it monitors.
    pub keys: Vec<KeyMonitor>,
}

/// A key's figures at one tick, as charts show them over time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPoint {
    /// The tick.
    pub as_of: Time,
    /// Records in the window.
    pub records: u64,
    /// The drift of each subject with a reference (`output:MODEL:ROLE`, `feature:NAME`).
    pub drift: BTreeMap<String, f64>,
    /// Each shadow's agreement rate.
    pub agreement: BTreeMap<String, f64>,
}

impl HistoryPoint {
    /// The point of a key's figures.
    pub fn of(figures: &KeyMonitor) -> Self {
        let outputs = figures.outputs.iter().filter_map(|output| {
            let subject = format!("output:{}:{}", output.model, output.role);
            Some((subject, output.drift?))
        });
        let features = figures
            .features
            .iter()
            .filter_map(|feature| Some((format!("feature:{}", feature.name), feature.drift?)));
        HistoryPoint {
            as_of: figures.as_of,
            records: figures.records,
            drift: outputs.chain(features).collect(),
            agreement: (figures.agreement.iter())
                .map(|agreement| (agreement.model.clone(), agreement.rate))
                .collect(),
        }
    }
}

/// How many ticks of history a key keeps.
pub const HISTORY_POINTS: usize = 240;

/// How many keys keep a history (the first monitored; a key that leaves the window frees its
/// place).
pub const HISTORY_KEYS: usize = 20;

/// The latest figures of the keys monitored by one process's workers, and their recent history.
#[derive(Debug, Default)]
pub struct Monitors {
    latest: Mutex<BTreeMap<String, KeyMonitor>>,
    history: Mutex<BTreeMap<String, VecDeque<HistoryPoint>>>,
    /// The drift threshold of the monitors that publish here (`None`: no worker monitors).
    drift_threshold: Mutex<Option<f64>>,
}

impl Monitors {
    /// Notes that a worker monitors, judging drift by `threshold`.
    pub fn set_drift_threshold(&self, threshold: f64) {
        *lock(&self.drift_threshold) = Some(threshold);
    }

    /// The threshold the figures' drift is judged by; `None` when no worker monitors.
    pub fn drift_threshold(&self) -> Option<f64> {
        *lock(&self.drift_threshold)
    }

    /// Replaces a key's figures, and adds them to its history.
    pub fn publish(&self, figures: KeyMonitor) {
        let point = HistoryPoint::of(&figures);
        let mut history = lock(&self.history);
        if history.contains_key(&figures.data_type) || history.len() < HISTORY_KEYS {
            let points = history.entry(figures.data_type.clone()).or_default();
            if points.len() == HISTORY_POINTS {
                points.pop_front();
            }
            points.push_back(point);
        }
        drop(history);
        lock(&self.latest).insert(figures.data_type.clone(), figures);
    }

    /// Forgets a key that left the window entirely.
    pub fn forget(&self, data_type: &str) {
        lock(&self.latest).remove(data_type);
        lock(&self.history).remove(data_type);
    }

    /// The history of every key that keeps one.
    pub fn history(&self) -> BTreeMap<String, VecDeque<HistoryPoint>> {
        lock(&self.history).clone()
    }

    /// The latest figures of every key, or of one key.
    pub fn latest(&self, data_type: Option<&str>) -> Vec<KeyMonitor> {
        lock(&self.latest)
            .values()
            .filter(|key| data_type.is_none_or(|wanted| key.data_type == wanted))
            .cloned()
            .collect()
    }
}
