//! Statistics of served models: what the serving operator keeps per model while it scores, and
//! the view of one key on one worker that it publishes.
//!
//! Keeping them costs a few integer operations per record: the operator measures every scoring
//! call anyway (results carry the duration), and [`ModelStats::record`] only adds that duration
//! to a sum, a minimum, a maximum and one power-of-two histogram bucket.

use serde::{Deserialize, Serialize};

/// Scoring durations by power of two: bucket `b` counts durations of `b` significant bits, that
/// is in `[2^(b-1), 2^b)` nanoseconds (bucket 0 counts zero).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Vec<Bucket>", from = "Vec<Bucket>")]
pub struct LatencyHistogram {
    counts: [u64; BUCKETS],
}

const BUCKETS: usize = 65;

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: [0; BUCKETS],
        }
    }
}

/// One non-empty histogram bucket, as serialized: durations below `below_ns` (and at or above
/// the previous bucket's bound).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    /// The exclusive upper bound, in nanoseconds.
    pub below_ns: u64,
    /// Durations in the bucket.
    pub count: u64,
}

impl LatencyHistogram {
    /// Counts one duration.
    #[inline]
    pub fn record(&mut self, duration_ns: u64) {
        self.counts[(u64::BITS - duration_ns.leading_zeros()) as usize] += 1;
    }

    /// The count of every bucket: index `b` counts durations in `[2^(b-1), 2^b)` ns.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The non-empty buckets, in increasing order of bound.
    pub fn buckets(&self) -> impl Iterator<Item = Bucket> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(bits, count)| Bucket {
                below_ns: 1u64.checked_shl(bits as u32).unwrap_or(u64::MAX),
                count: *count,
            })
    }
}

impl From<LatencyHistogram> for Vec<Bucket> {
    fn from(histogram: LatencyHistogram) -> Self {
        histogram.buckets().collect()
    }
}

impl From<Vec<Bucket>> for LatencyHistogram {
    fn from(buckets: Vec<Bucket>) -> Self {
        let mut histogram = LatencyHistogram::default();
        for bucket in buckets {
            let bits = match bucket.below_ns {
                u64::MAX => BUCKETS - 1,
                bound => (bound.trailing_zeros() as usize).min(BUCKETS - 1),
            };
            histogram.counts[bits] += bucket.count;
        }
        histogram
    }
}

/// What one model did while it served one key on one worker; reset when it is replaced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelStats {
    /// The model's name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its type (`onnx`, `pmml`, …).
    pub model_type: String,
    /// When it became current, in milliseconds since the Unix epoch (the ingestion clock).
    pub since: u64,
    /// When it stopped serving, if it was replaced.
    pub until: Option<u64>,
    /// Records it scored (failed scorings included).
    pub usage: u64,
    /// Total scoring time, in nanoseconds.
    pub total_ns: u64,
    /// The shortest scoring time, in nanoseconds (0 before the first record).
    pub min_ns: u64,
    /// The longest scoring time, in nanoseconds.
    pub max_ns: u64,
    /// Scoring times by power of two.
    pub latency: LatencyHistogram,
}

impl ModelStats {
    /// Statistics of a model that becomes current at `since`.
    pub fn new(name: &str, description: &str, model_type: &str, since: u64) -> Self {
        ModelStats {
            name: name.to_owned(),
            description: description.to_owned(),
            model_type: model_type.to_owned(),
            since,
            until: None,
            usage: 0,
            total_ns: 0,
            min_ns: 0,
            max_ns: 0,
            latency: LatencyHistogram::default(),
        }
    }

    /// Counts one scoring that took `duration_ns`.
    #[inline]
    pub fn record(&mut self, duration_ns: u64) {
        self.min_ns = if self.usage == 0 {
            duration_ns
        } else {
            self.min_ns.min(duration_ns)
        };
        self.max_ns = self.max_ns.max(duration_ns);
        self.usage += 1;
        self.total_ns += duration_ns;
        self.latency.record(duration_ns);
    }

    /// The mean scoring time in nanoseconds (0 before the first record).
    pub fn mean_ns(&self) -> f64 {
        if self.usage == 0 {
            0.0
        } else {
            self.total_ns as f64 / self.usage as f64
        }
    }
}

/// A model that failed to load for a key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadFailure {
    /// The model's name.
    pub name: String,
    /// When it arrived, in milliseconds since the Unix epoch.
    pub at: u64,
    /// Why it failed.
    pub error: String,
}

/// The state of one key (`dataType`) on one worker: the current model and what came before it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyState {
    /// The key.
    pub data_type: String,
    /// The worker (global index) that keeps this state.
    pub worker: usize,
    /// The model serving now, with its statistics since it became current.
    pub current: Option<ModelStats>,
    /// The final statistics of the models it replaced, newest first (a short history).
    pub history: Vec<ModelStats>,
    /// How many times a new model replaced a current one.
    pub swaps: u64,
    /// Models that failed to load (the current model kept serving).
    pub load_failures: u64,
    /// The latest such failure.
    pub last_failure: Option<LoadFailure>,
    /// Records that left without a model.
    pub no_model: u64,
    /// The key's model lifecycle: versions kept, pinned or not, canary, shadow, ensemble.
    #[serde(default)]
    pub lineup: LineupState,
    /// What the models other than the live one did, per model and role, since they took it.
    #[serde(default)]
    pub roles: Vec<RoleStats>,
}

/// The model lifecycle of one key, by model name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineupState {
    /// The versions kept ready, oldest first.
    pub versions: Vec<String>,
    /// The version that serves (when no ensemble does).
    pub current: Option<String>,
    /// Whether newly published models are staged instead of served.
    pub pinned: bool,
    /// The canary and its share of the records, in percent.
    pub canary: Option<(String, f64)>,
    /// The shadow.
    pub shadow: Option<String>,
    /// The ensemble's members and decider, when one serves.
    pub ensemble: Option<EnsembleState>,
}

/// An ensemble that serves a key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnsembleState {
    /// The members, in order.
    pub members: Vec<String>,
    /// `majority`, `mean` or `first-within`.
    pub decider: String,
    /// The time budget of `first-within`, in nanoseconds.
    pub budget_ns: u64,
}

/// What one model did in one role other than live (canary, shadow, ensemble member, or the
/// ensemble's decision), since it took the role.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleStats {
    /// The model's name.
    pub model: String,
    /// `canary`, `shadow`, `member` or `ensemble`.
    pub role: String,
    /// Records it scored (failed scorings included).
    pub usage: u64,
    /// Total scoring time, in nanoseconds.
    pub total_ns: u64,
    /// Records whose answer was compared with the live answer (shadows and members).
    pub compared: u64,
    /// Of those, the ones where it gave the same answer.
    pub agreed: u64,
}

impl RoleStats {
    /// The share of compared records where it agreed with the live answer.
    pub fn agreement(&self) -> Option<f64> {
        (self.compared > 0).then(|| self.agreed as f64 / self.compared as f64)
    }
}

/// How many replaced models a key's history keeps.
pub const HISTORY: usize = 4;

impl KeyState {
    /// A key with no model yet.
    pub fn new(data_type: &str, worker: usize) -> Self {
        KeyState {
            data_type: data_type.to_owned(),
            worker,
            ..KeyState::default()
        }
    }

    /// Makes `stats` current at its `since`; the replaced model's figures go to the history.
    pub fn install(&mut self, stats: ModelStats) {
        if let Some(mut replaced) = self.current.replace(stats) {
            replaced.until = self.current.as_ref().map(|current| current.since);
            self.history.insert(0, replaced);
            self.history.truncate(HISTORY);
            self.swaps += 1;
        }
    }

    /// Counts a model that failed to load.
    pub fn fail(&mut self, failure: LoadFailure) {
        self.load_failures += 1;
        self.last_failure = Some(failure);
    }

    /// Counts one scoring by `model` in `role` that took `duration_ns`, and whether its answer
    /// agreed with the live one, when compared.
    pub fn count_role(&mut self, model: &str, role: &str, duration_ns: u64, agreed: Option<bool>) {
        let at = match self
            .roles
            .iter()
            .position(|stats| stats.model == model && stats.role == role)
        {
            Some(at) => at,
            None => {
                self.roles.push(RoleStats {
                    model: model.to_owned(),
                    role: role.to_owned(),
                    ..RoleStats::default()
                });
                self.roles.len() - 1
            }
        };
        let stats = &mut self.roles[at];
        stats.usage += 1;
        stats.total_ns += duration_ns;
        if let Some(agreed) = agreed {
            stats.compared += 1;
            stats.agreed += u64::from(agreed);
        }
    }

    /// Sets the lineup, dropping the figures of models that left the roles they had.
    pub fn set_lineup(&mut self, lineup: LineupState) {
        self.roles.retain(|stats| match stats.role.as_str() {
            "canary" => lineup
                .canary
                .as_ref()
                .is_some_and(|(m, _)| *m == stats.model),
            "shadow" => lineup.shadow.as_ref() == Some(&stats.model),
            "ensemble" => lineup
                .ensemble
                .as_ref()
                .is_some_and(|e| e.members.join("+") == stats.model),
            _ => lineup
                .ensemble
                .as_ref()
                .is_some_and(|e| e.members.contains(&stats.model)),
        });
        self.lineup = lineup;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_keep_count_extremes_and_mean() {
        let mut stats = ModelStats::new("m", "", "onnx", 5);
        for duration in [300, 100, 200] {
            stats.record(duration);
        }
        assert_eq!((stats.usage, stats.min_ns, stats.max_ns), (3, 100, 300));
        assert_eq!(stats.mean_ns(), 200.0);
        let buckets: Vec<_> = stats.latency.buckets().collect();
        assert_eq!(
            buckets,
            vec![
                Bucket {
                    below_ns: 128,
                    count: 1
                },
                Bucket {
                    below_ns: 256,
                    count: 1
                },
                Bucket {
                    below_ns: 512,
                    count: 1
                }
            ]
        );
    }

    #[test]
    fn histogram_survives_json() {
        let mut histogram = LatencyHistogram::default();
        for duration in [0, 1, 2, 3, 1_000, 1_000_000, u64::MAX] {
            histogram.record(duration);
        }
        let json = serde_json::to_string(&histogram).unwrap();
        assert_eq!(
            serde_json::from_str::<LatencyHistogram>(&json).unwrap(),
            histogram
        );
    }

    #[test]
    fn install_keeps_a_short_history_newest_first() {
        let mut key = KeyState::new("wine", 1);
        for since in 0..6 {
            key.install(ModelStats::new(&format!("m{since}"), "", "pmml", since));
        }
        assert_eq!(key.swaps, 5);
        assert_eq!(key.current.as_ref().unwrap().name, "m5");
        let history: Vec<_> = key
            .history
            .iter()
            .map(|stats| (stats.name.as_str(), stats.until))
            .collect();
        assert_eq!(
            history,
            vec![
                ("m4", Some(5)),
                ("m3", Some(4)),
                ("m2", Some(3)),
                ("m1", Some(2))
            ]
        );
    }
}
