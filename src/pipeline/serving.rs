//! The serving operator: one binary operator that keeps the current model per `dataType` and
//! scores every record with it.
//!
//! Both inputs carry ingestion timestamps from the same clock. The operator works through them in
//! time order: the models of time `t` replace the current ones only after every record of an
//! earlier time has been scored, and the records of time `t` are scored only once every model of
//! time `t` or earlier has arrived. A swap is therefore atomic and happens at one instant of the
//! ingestion clock, on every worker alike; a model that fails to build leaves the previous one
//! serving.
//!
//! A record whose key has no model yet waits, holding a capability at its own time, until a model
//! arrives (it is then scored by it), until it has waited `pending_timeout`, until more than
//! `pending_limit` records of its key wait, or until the models input closes: then it leaves as an
//! explicit [`Outcome::NoModel`] result. No record is dropped.
//!
//! The operator keeps each key's [`KeyState`] (the current model's statistics, the history, the
//! swaps, failures and no-model records) beside its model, and logs a [`StateEvent`] when a
//! model loads, replaces another or fails, and every `stats_interval` for the keys whose figures
//! changed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::dataflow::channels::pact::ParallelizationContract;
use timely::dataflow::operators::generic::{Operator, OutputBuilderSession};
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;
use timely::progress::frontier::MutableAntichain;

use crate::model::{build_model, Model, ModelError, Prediction};
use crate::proto::ModelDescriptor;
use crate::record::{clock_ms, ModelTag, Outcome, Record, Scored, Sourced, Time};
use crate::state::{KeyState, LoadFailure, ModelStats, Reporter, StateEvent};

/// How long and how many records may wait for the first model of their key.
#[derive(Clone, Copy, Debug)]
pub struct ServingConfig {
    /// Records of one key that may wait on one worker; the oldest leave as no-model results
    /// beyond that.
    pub pending_limit: usize,
    /// How long a record may wait for a model.
    pub pending_timeout: Duration,
    /// How often the statistics of keys that changed are logged; `None` keeps no statistics
    /// (model loads, swaps and failures are still logged).
    pub stats_interval: Option<Duration>,
}

impl ServingConfig {
    /// The default [`ServingConfig::pending_limit`].
    pub const PENDING_LIMIT: usize = 10_000;
    /// The default [`ServingConfig::pending_timeout`].
    pub const PENDING_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default [`ServingConfig::stats_interval`].
    pub const STATS_INTERVAL: Duration = Duration::from_secs(1);
}

impl Default for ServingConfig {
    fn default() -> Self {
        ServingConfig {
            pending_limit: Self::PENDING_LIMIT,
            pending_timeout: Self::PENDING_TIMEOUT,
            stats_interval: Some(Self::STATS_INTERVAL),
        }
    }
}

/// Scores `data` with the models of `models`, routed by the given contracts: the keyed and flat
/// pipelines differ only in those.
pub fn serve<'scope, R, PD, PM>(
    data: StreamVec<'scope, Time, Sourced<R>>,
    models: StreamVec<'scope, Time, ModelDescriptor>,
    data_pact: PD,
    model_pact: PM,
    config: ServingConfig,
    reporter: Reporter,
) -> StreamVec<'scope, Time, Scored>
where
    R: Record,
    PD: ParallelizationContract<Time, Vec<Sourced<R>>>,
    PM: ParallelizationContract<Time, Vec<ModelDescriptor>>,
{
    let worker = data.scope().index();
    data.binary_frontier(
        models,
        data_pact,
        model_pact,
        "ServeModels",
        move |_capability, _info| {
            let mut state = ServingState::<R>::new(worker, config, reporter);
            move |(data, data_frontier), (models, model_frontier), output| {
                data.for_each_stamp(|capability, batches| {
                    if let Some(capability) = capability.retain_least(0) {
                        state.stash_data(capability, batches.flat_map(std::mem::take));
                    }
                });
                models.for_each_stamp(|capability, batches| {
                    if let Some(time) = capability.least() {
                        state.stash_models(*time, batches.flat_map(std::mem::take));
                    }
                });
                state.advance(data_frontier, model_frontier, output);
            }
        },
    )
    .container::<Vec<_>>()
}

/// A model serving one key on this worker.
struct Served {
    model: Box<dyn Model>,
    tag: ModelTag,
    /// The features the model takes, for records that name theirs.
    inputs: Arc<[Arc<str>]>,
    /// Where each input was found in the last record (lookup hints).
    hints: Vec<usize>,
}

impl Served {
    fn new(model: Box<dyn Model>, tag: ModelTag) -> Self {
        let inputs: Arc<[Arc<str>]> = model.inputs().into();
        let hints = (0..inputs.len()).collect();
        Served {
            model,
            tag,
            inputs,
            hints,
        }
    }

    /// Scores a record that names its features: the model's inputs are looked up by name.
    fn score_named<R: Record>(&mut self, record: &R) -> Result<Prediction, ModelError> {
        let inputs = self
            .inputs
            .iter()
            .zip(self.hints.iter_mut())
            .map(|(name, hint)| {
                record
                    .feature(name, hint)
                    .ok_or_else(|| ModelError::MissingInput(name.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.model.score_inputs(&inputs)
    }
}

/// One key on this worker: its model, if one loaded, and its state.
struct KeySlot {
    served: Option<Served>,
    state: KeyState,
    /// Whether the state changed since it was last logged.
    changed: bool,
}

/// A record waiting for the first model of its key.
struct Waiting<R> {
    time: Time,
    arrived: Instant,
    record: Sourced<R>,
}

type Output<'a> =
    OutputBuilderSession<'a, Time, timely::container::CapacityContainerBuilder<Vec<Scored>>>;

/// One worker's state: its models, the inputs not yet due, and the records waiting for a model.
struct ServingState<R> {
    worker: usize,
    config: ServingConfig,
    reporter: Reporter,
    keys: HashMap<String, KeySlot>,
    next_stats: Instant,
    data_stash: BTreeMap<Time, (Capability<Time>, Vec<Sourced<R>>)>,
    model_stash: BTreeMap<Time, Vec<ModelDescriptor>>,
    waiting: HashMap<String, VecDeque<Waiting<R>>>,
    waiting_count: usize,
    /// Capabilities held for waiting records, with how many records hold each.
    holds: BTreeMap<Time, (Capability<Time>, usize)>,
    features: Vec<f64>,
}

impl<R: Record> ServingState<R> {
    fn new(worker: usize, config: ServingConfig, reporter: Reporter) -> Self {
        ServingState {
            worker,
            config,
            reporter,
            keys: HashMap::new(),
            next_stats: Instant::now(),
            data_stash: BTreeMap::new(),
            model_stash: BTreeMap::new(),
            waiting: HashMap::new(),
            waiting_count: 0,
            holds: BTreeMap::new(),
            features: Vec::new(),
        }
    }

    fn stash_data(
        &mut self,
        capability: Capability<Time>,
        records: impl Iterator<Item = Sourced<R>>,
    ) {
        let time = *capability.time();
        self.data_stash
            .entry(time)
            .or_insert_with(|| (capability, Vec::new()))
            .1
            .extend(records);
    }

    fn stash_models(&mut self, time: Time, descriptors: impl Iterator<Item = ModelDescriptor>) {
        self.model_stash
            .entry(time)
            .or_default()
            .extend(descriptors);
    }

    /// Applies models and scores records in time order, as far as the frontiers allow; then
    /// releases the waiting records that are due.
    fn advance(
        &mut self,
        data_frontier: &MutableAntichain<Time>,
        model_frontier: &MutableAntichain<Time>,
        output: &mut Output<'_>,
    ) {
        loop {
            let next_models = self.model_stash.keys().next().copied();
            let next_data = self.data_stash.keys().next().copied();
            match (next_models, next_data) {
                // Models of time t wait until no record of an earlier time can still arrive.
                (Some(time), data) if data.is_none_or(|data| time <= data) => {
                    if data_frontier.less_than(&time) {
                        break;
                    }
                    let descriptors = self.model_stash.remove(&time).unwrap_or_default();
                    descriptors
                        .into_iter()
                        .for_each(|descriptor| self.apply_model(time, descriptor, output));
                }
                // Records of time t wait until every model of time t or earlier has arrived.
                (_, Some(time)) => {
                    if model_frontier.less_equal(&time) {
                        break;
                    }
                    let (capability, records) = self.data_stash.remove(&time).expect("stashed");
                    self.score_batch(&capability, records, output);
                }
                (_, None) => break,
            }
        }
        self.release_due(model_frontier.is_empty(), output);
        let closed = data_frontier.is_empty() && model_frontier.is_empty();
        self.log_stats_if_due(closed);
    }

    /// The slot of `key`, created empty on first use.
    fn slot(&mut self, key: &str) -> &mut KeySlot {
        if !self.keys.contains_key(key) {
            let slot = KeySlot {
                served: None,
                state: KeyState::new(key, self.worker),
                changed: false,
            };
            self.keys.insert(key.to_owned(), slot);
        }
        self.keys.get_mut(key).expect("just inserted")
    }

    fn apply_model(&mut self, time: Time, descriptor: ModelDescriptor, output: &mut Output<'_>) {
        let key = descriptor.data_type.clone();
        match build_model(&descriptor, R::FEATURES) {
            Ok(model) => {
                self.reporter.counters.models_loaded.inc();
                let kind = model.kind().to_string();
                let tag = ModelTag {
                    name: descriptor.name.as_str().into(),
                    since: time,
                    labels: model.class_labels().into(),
                };
                let slot = self.slot(&key);
                let replaces = slot.served.replace(Served::new(model, tag)).is_some();
                let stats = ModelStats::new(&descriptor.name, &descriptor.description, &kind, time);
                slot.state.install(stats);
                slot.changed = false;
                let (at, state) = (clock_ms(), slot.state.clone());
                self.reporter.log(match replaces {
                    true => StateEvent::ModelSwapped { at, state },
                    false => StateEvent::ModelLoaded { at, state },
                });
                self.score_waiting(&key, output);
            }
            Err(error) => {
                self.reporter.counters.model_load_failures.inc();
                let failure = LoadFailure {
                    name: descriptor.name.clone(),
                    at: time,
                    error: error.to_string(),
                };
                let slot = self.slot(&key);
                slot.state.fail(failure);
                slot.changed = false;
                let (at, state) = (clock_ms(), slot.state.clone());
                self.reporter.log(StateEvent::ModelFailed { at, state });
            }
        }
    }

    fn score_batch(
        &mut self,
        capability: &Capability<Time>,
        records: Vec<Sourced<R>>,
        output: &mut Output<'_>,
    ) {
        let mut session = output.session(capability);
        let keep_stats = self.config.stats_interval.is_some();
        for record in records {
            match self.keys.get_mut(record.record.data_type()) {
                Some(slot) if slot.served.is_some() => session.give(score(
                    slot,
                    record,
                    &mut self.features,
                    self.worker,
                    &self.reporter,
                    keep_stats,
                )),
                _ => {
                    let time = *capability.time();
                    self.holds
                        .entry(time)
                        .or_insert_with(|| (capability.clone(), 0))
                        .1 += 1;
                    let key = record.record.data_type().to_owned();
                    let queue = self.waiting.entry(key).or_default();
                    queue.push_back(Waiting {
                        time,
                        arrived: Instant::now(),
                        record,
                    });
                    self.waiting_count += 1;
                }
            }
        }
    }

    /// Scores the records that waited for the model that now serves `key`.
    fn score_waiting(&mut self, key: &str, output: &mut Output<'_>) {
        let (Some(queue), Some(slot)) = (self.waiting.remove(key), self.keys.get_mut(key)) else {
            return;
        };
        let keep_stats = self.config.stats_interval.is_some();
        for waiting in queue {
            let scored = score(
                slot,
                waiting.record,
                &mut self.features,
                self.worker,
                &self.reporter,
                keep_stats,
            );
            self.waiting_count -= 1;
            emit_held(&mut self.holds, waiting.time, scored, output);
        }
    }

    /// Sends out as no-model results the records that waited too long or in too great a number,
    /// or all of them once no model can arrive any more.
    fn release_due(&mut self, models_closed: bool, output: &mut Output<'_>) {
        if self.waiting_count == 0 {
            return;
        }
        let now = Instant::now();
        let mut waiting = std::mem::take(&mut self.waiting);
        for (key, queue) in waiting.iter_mut() {
            while let Some(first) = queue.front() {
                let overdue = now.duration_since(first.arrived) >= self.config.pending_timeout;
                if !(models_closed || overdue || queue.len() > self.config.pending_limit) {
                    break;
                }
                let record = queue.pop_front().expect("a first record");
                self.waiting_count -= 1;
                self.reporter.counters.no_model.inc();
                let slot = self.slot(key);
                slot.state.no_model += 1;
                slot.changed = true;
                let result = no_model(record.record, self.worker);
                emit_held(&mut self.holds, record.time, result, output);
            }
        }
        waiting.retain(|_, queue| !queue.is_empty());
        self.waiting = waiting;
    }

    /// Logs the state of the keys that changed, every `stats_interval` and once more when both
    /// inputs are closed.
    fn log_stats_if_due(&mut self, closed: bool) {
        let Some(interval) = self.config.stats_interval else {
            return;
        };
        let now = Instant::now();
        if now < self.next_stats && !closed {
            return;
        }
        self.next_stats = now + interval;
        let at = clock_ms();
        for slot in self.keys.values_mut().filter(|slot| slot.changed) {
            slot.changed = false;
            let state = slot.state.clone();
            self.reporter.log(StateEvent::Stats { at, state });
        }
    }
}

/// Emits a result under the capability held for its time, releasing the hold when it was the last.
fn emit_held(
    holds: &mut BTreeMap<Time, (Capability<Time>, usize)>,
    time: Time,
    result: Scored,
    output: &mut Output<'_>,
) {
    let (capability, count) = holds
        .get_mut(&time)
        .expect("a capability is held for every waiting record");
    output.session(&*capability).give(result);
    *count -= 1;
    if *count == 0 {
        holds.remove(&time);
    }
}

fn score<R: Record>(
    slot: &mut KeySlot,
    sourced: Sourced<R>,
    features: &mut Vec<f64>,
    worker: usize,
    reporter: &Reporter,
    keep_stats: bool,
) -> Scored {
    let served = slot.served.as_mut().expect("a key with a model");
    let started;
    let result = match R::FEATURES {
        Some(_) => {
            sourced.record.write_features(features);
            started = Instant::now();
            served.model.score(features)
        }
        None => {
            started = Instant::now();
            served.score_named(&sourced.record)
        }
    };
    let duration_ns = started.elapsed().as_nanos() as u64;
    if keep_stats {
        if let Some(stats) = slot.state.current.as_mut() {
            stats.record(duration_ns);
            slot.changed = true;
        }
    }
    let outcome = match result {
        Ok(prediction) => {
            reporter.counters.scored.inc();
            Outcome::Scored(prediction)
        }
        Err(error) => {
            reporter.counters.scoring_failures.inc();
            Outcome::Failed(error.to_string())
        }
    };
    Scored {
        origin: sourced.origin,
        data_type: sourced.record.data_type().to_owned(),
        model: Some(served.tag.clone()),
        outcome,
        duration_ns,
        worker,
    }
}

fn no_model<R: Record>(sourced: Sourced<R>, worker: usize) -> Scored {
    Scored {
        origin: sourced.origin,
        data_type: sourced.record.data_type().to_owned(),
        model: None,
        outcome: Outcome::NoModel,
        duration_ns: 0,
        worker,
    }
}
