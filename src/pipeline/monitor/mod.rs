//! Live model monitoring, in differential dataflow: what the models predicted and what their
//! records held over a sliding window of ingestion time, per key, model and role, maintained
//! incrementally and read from an arrangement as of one time.
//!
//! - [`facts`]: what is counted: each record's features, each result, and each shadow's
//!   agreement with the live answer for the same record;
//! - [`window`]: records and results are counted on their way through the pipeline, per tick;
//!   a complete tick's facts enter the window, and leave it as retractions one window later;
//! - [`numbers`]: a tick keeps at most 128 numbers per feature, fewer when records have many
//!   features (and [`window`] its 63 most frequent categories, the rest as one), so the
//!   window's memory does not grow with the record rate;
//! - the facts are arranged by key (`arrange_by_key`): each key's window lives on one worker,
//!   which reads it with a cursor as of its latest complete tick ([`Monitor::publish`]);
//! - [`figures`]: from a key's facts to the figures users read (counts per class,
//!   distributions, failure and no-model rates, agreement), and the population stability index
//!   of the window against a reference window, which raises drift events.

pub mod facts;
pub mod figures;
pub mod numbers;
pub mod window;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::cursor::{cursor_list, Cursor};
use differential_dataflow::trace::implementations::ValSpine;
use differential_dataflow::trace::TraceReader;
use differential_dataflow::AsCollection;
use timely::dataflow::operators::Concat;
use timely::dataflow::StreamVec;
use timely::progress::frontier::{Antichain, AntichainRef};

use self::facts::Fact;
use self::figures::{Reference, Samples, WindowFacts};
use self::window::{RecordCounts, ResultCounts, Ticks};
use crate::record::{clock_ms, Record, Role, Scored, Sourced, Time};
use crate::state::monitor::{Drift, KeyMonitor, Monitors};
use crate::state::{Reporter, StateEvent};

/// How a job monitors what it serves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MonitorConfig {
    /// The window's length.
    pub window: Duration,
    /// How often the window slides (and the figures are read).
    pub tick: Duration,
    /// The population stability index above which a window has drifted from its reference.
    pub drift_threshold: f64,
}

impl Default for MonitorConfig {
    /// A window of the last 60 s, sliding every second; drift above 0.2.
    fn default() -> Self {
        MonitorConfig {
            window: Duration::from_secs(60),
            tick: Duration::from_secs(1),
            drift_threshold: 0.2,
        }
    }
}

/// The arrangement of the window's facts by key.
pub type FactTrace = TraceAgent<ValSpine<Arc<str>, Fact, Time, isize>>;

/// Builds `pipeline` on `records`, with the monitoring dataflow around it: the records on their
/// way in and the results on their way out are observed (and passed on untouched), and their
/// facts arranged by key over the window. Returns the pipeline's results and the trace of the
/// window's arrangement, for a [`Monitor`] to read.
pub fn around<'scope, R: Record>(
    records: StreamVec<'scope, Time, Sourced<R>>,
    config: &MonitorConfig,
    pipeline: impl FnOnce(StreamVec<'scope, Time, Sourced<R>>) -> StreamVec<'scope, Time, Scored>,
) -> (StreamVec<'scope, Time, Scored>, FactTrace) {
    let ticks = Ticks::new(config.window, config.tick);
    let (records, record_updates) =
        window::observe::<RecordCounts<R>>(records, ticks, "MonitorRecords");
    let results = pipeline(records);
    let (results, result_updates) =
        window::observe::<ResultCounts>(results, ticks, "MonitorResults");
    let updates = record_updates.concat(result_updates);
    let trace = updates.as_collection().arrange_by_key().trace;
    (results, trace)
}

/// A model in a role.
type Subject = (Arc<str>, Role);

/// The references of a key's features: those of the first whole window of one live model.
struct FeatureReferences {
    model: Arc<str>,
    by_name: BTreeMap<Arc<str>, Reference>,
}

/// A stability index measured on one subject: what it measured, against whose reference.
struct Measured {
    subject: String,
    reference: Subject,
    psi: f64,
}

/// What a worker's monitor keeps between readings of one key: when each model was first seen
/// in a role, the reference windows, and which subjects are drifting.
#[derive(Default)]
struct KeyTrack {
    first_seen: HashMap<Subject, Time>,
    output_references: HashMap<Subject, Reference>,
    features: Option<FeatureReferences>,
    drifting: HashSet<String>,
}

impl KeyTrack {
    /// Notes the subjects in the window, and forgets those no longer in it.
    fn see(&mut self, samples: &Samples, as_of: Time) {
        self.first_seen
            .retain(|subject, _| samples.outputs.contains_key(subject));
        self.output_references
            .retain(|subject, _| samples.outputs.contains_key(subject));
        for subject in samples.outputs.keys() {
            self.first_seen.entry(subject.clone()).or_insert(as_of);
        }
    }

    /// The drift of each output against its reference (taken once the subject has served a
    /// whole window), set on the figures.
    fn output_drift(
        &mut self,
        monitor: &mut KeyMonitor,
        samples: &Samples,
        whole: impl Fn(Time) -> bool,
    ) -> Vec<Measured> {
        let mut measured = Vec::new();
        // The outputs' figures come in the samples' order: by model, then role.
        for (figures, (subject, sample)) in monitor.outputs.iter_mut().zip(&samples.outputs) {
            if sample.total() == 0 {
                continue;
            }
            if !self.output_references.contains_key(subject) && whole(self.first_seen[subject]) {
                let reference = Reference::of(sample);
                self.output_references.insert(subject.clone(), reference);
            }
            if let Some(reference) = self.output_references.get(subject) {
                let psi = reference.stability_index(sample);
                figures.drift = Some(psi);
                let (model, role) = subject;
                measured.push(Measured {
                    subject: format!("output:{model}:{}", role.name()),
                    reference: subject.clone(),
                    psi,
                });
            }
        }
        measured
    }

    /// The drift of each feature against the first whole window of the live model (taken
    /// again when another live model has served a whole window alone), set on the figures.
    fn feature_drift(
        &mut self,
        monitor: &mut KeyMonitor,
        samples: &Samples,
        whole: impl Fn(Time) -> bool,
    ) -> Vec<Measured> {
        if let Some(live) = sole_live_model(samples) {
            let is_new = self.features.as_ref().is_none_or(|refs| refs.model != live);
            if is_new && whole(self.first_seen[&(live.clone(), Role::Live)]) {
                let by_name = samples
                    .features
                    .iter()
                    .map(|(name, sample)| (name.clone(), Reference::of(sample)))
                    .collect();
                self.features = Some(FeatureReferences {
                    model: live,
                    by_name,
                });
            }
        }
        let Some(references) = &self.features else {
            return Vec::new();
        };
        let mut measured = Vec::new();
        for figures in &mut monitor.features {
            let name = figures.name.as_str();
            let reference = references.by_name.get(name);
            let (Some(reference), Some(sample)) = (reference, samples.features.get(name)) else {
                continue;
            };
            let psi = reference.stability_index(sample);
            figures.drift = Some(psi);
            measured.push(Measured {
                subject: format!("feature:{name}"),
                reference: (references.model.clone(), Role::Live),
                psi,
            });
        }
        measured
    }

    /// The measures that crossed the threshold since the last reading, either way.
    fn crossings(&mut self, measured: Vec<Measured>, threshold: f64) -> Vec<(Measured, bool)> {
        let mut crossed = Vec::new();
        for measure in measured {
            let drifting = measure.psi > threshold;
            let changed = match drifting {
                true => self.drifting.insert(measure.subject.clone()),
                false => self.drifting.remove(&measure.subject),
            };
            if changed {
                crossed.push((measure, drifting));
            }
        }
        crossed
    }
}

/// A worker's reader of the window's arrangement: at each complete tick it computes the figures
/// of the keys it holds, publishes them to the process, and logs drift events.
pub struct Monitor {
    trace: FactTrace,
    config: MonitorConfig,
    ticks: Ticks,
    worker: usize,
    reporter: Reporter,
    monitors: Arc<Monitors>,
    published: Option<Time>,
    keys: HashMap<Arc<str>, KeyTrack>,
    upper: Antichain<Time>,
}

impl Monitor {
    /// A reader of `trace` on `worker`, publishing to `monitors` and logging to `reporter`.
    pub fn new(
        trace: FactTrace,
        config: MonitorConfig,
        worker: usize,
        reporter: Reporter,
        monitors: Arc<Monitors>,
    ) -> Self {
        monitors.set_drift_threshold(config.drift_threshold);
        Monitor {
            trace,
            ticks: Ticks::new(config.window, config.tick),
            config,
            worker,
            reporter,
            monitors,
            published: None,
            keys: HashMap::new(),
            upper: Antichain::new(),
        }
    }

    /// Reads the window as of the latest tick the arrangement has complete, if it is newer than
    /// the last one read, and publishes every key's figures; returns that tick.
    pub fn publish(&mut self) -> Option<Time> {
        self.trace.read_upper(&mut self.upper);
        let upper = *self.upper.first()?;
        let tick = self.ticks.tick;
        let as_of = upper.checked_sub(1)? / tick * tick;
        if self.published.is_some_and(|published| published >= as_of) {
            return None;
        }
        let windows = self.read()?;
        self.trace
            .set_logical_compaction(AntichainRef::new(&[as_of]));
        let upper = self.upper.clone();
        self.trace.set_physical_compaction(upper.borrow());
        self.published = Some(as_of);
        let gone: Vec<Arc<str>> = self
            .keys
            .keys()
            .filter(|key| !windows.contains_key(*key))
            .cloned()
            .collect();
        for key in gone {
            self.keys.remove(&key);
            self.monitors.forget(&key);
        }
        for (key, facts) in windows {
            let monitor = self.key_figures(&key, as_of, &facts);
            self.monitors.publish(monitor);
        }
        Some(as_of)
    }

    /// The window's facts of every key, accumulated through the arrangement's upper.
    fn read(&mut self) -> Option<BTreeMap<Arc<str>, WindowFacts>> {
        let batches = self.trace.batches_through(self.upper.borrow())?;
        let (mut cursor, storage) = cursor_list(batches);
        let mut windows = BTreeMap::new();
        while let Some(key) = cursor.get_key(&storage) {
            let mut facts = WindowFacts::new();
            while let Some(fact) = cursor.get_val(&storage) {
                let mut count = 0isize;
                cursor.map_times(&storage, |_time, diff| count += *diff);
                if count > 0 {
                    facts.push((fact.clone(), count as u64));
                }
                cursor.step_val(&storage);
            }
            if !facts.is_empty() {
                windows.insert(key.clone(), facts);
            }
            cursor.step_key(&storage);
        }
        Some(windows)
    }

    /// One key's figures, with the drift of its outputs and features against their references;
    /// logs the drifts that crossed the threshold.
    fn key_figures(&mut self, key: &Arc<str>, as_of: Time, facts: &WindowFacts) -> KeyMonitor {
        let window_ms = self.ticks.window;
        let (mut monitor, samples) = figures::figures(key, self.worker, as_of, window_ms, facts);
        let threshold = self.config.drift_threshold;
        // Whether a subject first seen at `first_seen` has served the whole window (to the tick).
        let tick = self.ticks.tick;
        let whole = |first_seen: Time| as_of >= first_seen + window_ms + tick;
        let track = self.keys.entry(key.clone()).or_default();
        track.see(&samples, as_of);
        let mut measured = track.output_drift(&mut monitor, &samples, whole);
        measured.extend(track.feature_drift(&mut monitor, &samples, whole));
        for (measure, drifting) in track.crossings(measured, threshold) {
            let (model, role) = measure.reference;
            let drift = Drift {
                data_type: key.to_string(),
                worker: self.worker,
                model: model.to_string(),
                role: role.name().to_owned(),
                subject: measure.subject,
                psi: measure.psi,
                threshold,
                drifting,
                as_of,
            };
            let at = clock_ms();
            self.reporter.log(StateEvent::Drift { at, drift });
        }
        monitor
    }
}

/// The one model that served the key live over the whole window, if one did alone.
fn sole_live_model(samples: &Samples) -> Option<Arc<str>> {
    let mut live = samples
        .outputs
        .iter()
        .filter(|((_, role), sample)| *role == Role::Live && sample.total() > 0)
        .map(|((model, _), _)| model);
    let model = live.next()?;
    (live.next().is_none() && !model.is_empty()).then(|| model.clone())
}
