//! The serving operator: one binary operator that keeps the current model per `dataType` and
//! scores every record with it.
//!
//! Both inputs carry ingestion timestamps from the same clock. A model of time `t` serves the
//! records of its key from time `t` on: records of an earlier time are scored by the model
//! before it, records of time `t` or later by it. The swap is atomic and happens at one instant
//! of the ingestion clock, on every worker alike.
//!
//! Models are built off the worker's thread, by the [`Loader`], as soon as every model of their
//! time has arrived. While a key's model builds, only that key's records of its time or later
//! wait (holding capabilities at their times); other keys are scored on. The models of one key
//! that arrive at one instant (a restart replaying the models topic) are tried newest first, and
//! only the first that loads is built. A model that fails to load, or takes longer than
//! `build_timeout`, leaves the previous one serving, and goes to the dead letters.
//!
//! A record whose key has no model yet waits until a model arrives (it is then scored by it),
//! until it has waited `pending_timeout`, until more than `pending_limit` records of its key
//! wait, or until the models input closes: then it leaves as an explicit [`Outcome::NoModel`]
//! result. No record is dropped. A key that has no model and has seen nothing for
//! `key_idle_timeout` is forgotten.
//!
//! Consecutive records of one key that need not wait are scored together, in one call to the
//! model ([`Model::score_batch`]: one tract run for a batch, where a model takes `N` rows); each
//! is then counted as taking an equal share of the call's time.
//!
//! The operator keeps each key's [`KeyState`] (the current model's statistics, the history, the
//! swaps, failures and no-model records) beside its model, and logs a [`StateEvent`] when a
//! model loads, replaces another or fails, and every `stats_interval` for the keys whose figures
//! changed.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::dataflow::channels::pact::ParallelizationContract;
use timely::dataflow::operators::generic::{Operator, OutputBuilderSession};
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;
use timely::progress::frontier::MutableAntichain;
use timely::scheduling::{Activator, SyncActivator};

use super::loader::{BuildOutcome, BuildRequest, Loader, Ticket};
use crate::model::{contained, Model, ModelError, Prediction};
use crate::proto::ModelDescriptor;
use crate::record::{
    clock_ms, DeadLetter, ModelTag, Outcome, PayloadFormat, Record, Scored, Sourced, Stage, Time,
};
use crate::state::{KeyState, LoadFailure, ModelStats, Reporter, StateEvent};

/// How records wait for models, and how long models may take to build.
#[derive(Clone, Copy, Debug)]
pub struct ServingConfig {
    /// Records of one key that may wait for its first model on one worker; the oldest leave as
    /// no-model results beyond that.
    pub pending_limit: usize,
    /// How long a record may wait for a first model.
    pub pending_timeout: Duration,
    /// How often the statistics of keys that changed are logged; `None` keeps no statistics
    /// (model loads, swaps and failures are still logged).
    pub stats_interval: Option<Duration>,
    /// How long a model may take to build before it is given up (the previous model serves on).
    pub build_timeout: Duration,
    /// How long a key with no model may see nothing before its state is forgotten.
    pub key_idle_timeout: Duration,
    /// How records are encoded on the data topic (records that are not scored are re-encoded so
    /// for the dead letters).
    pub data_format: PayloadFormat,
}

impl ServingConfig {
    /// The default [`ServingConfig::pending_limit`].
    pub const PENDING_LIMIT: usize = 10_000;
    /// The default [`ServingConfig::pending_timeout`].
    pub const PENDING_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default [`ServingConfig::stats_interval`].
    pub const STATS_INTERVAL: Duration = Duration::from_secs(1);
    /// The default [`ServingConfig::build_timeout`].
    pub const BUILD_TIMEOUT: Duration = Duration::from_secs(30);
    /// The default [`ServingConfig::key_idle_timeout`].
    pub const KEY_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
}

impl Default for ServingConfig {
    fn default() -> Self {
        ServingConfig {
            pending_limit: Self::PENDING_LIMIT,
            pending_timeout: Self::PENDING_TIMEOUT,
            stats_interval: Some(Self::STATS_INTERVAL),
            build_timeout: Self::BUILD_TIMEOUT,
            key_idle_timeout: Self::KEY_IDLE_TIMEOUT,
            data_format: PayloadFormat::Protobuf,
        }
    }
}

/// Scores `data` with the models of `models`, routed by the given contracts (the keyed and flat
/// pipelines differ only in those), building models on `loader`.
pub fn serve<'scope, R, PD, PM>(
    data: StreamVec<'scope, Time, Sourced<R>>,
    models: StreamVec<'scope, Time, Sourced<ModelDescriptor>>,
    (data_pact, model_pact): (PD, PM),
    config: ServingConfig,
    reporter: Reporter,
    loader: Arc<Loader>,
) -> StreamVec<'scope, Time, Scored>
where
    R: Record,
    PD: ParallelizationContract<Time, Vec<Sourced<R>>>,
    PM: ParallelizationContract<Time, Vec<Sourced<ModelDescriptor>>>,
{
    let scope = data.scope();
    let worker = scope.index();
    data.binary_frontier(
        models,
        data_pact,
        model_pact,
        "ServeModels",
        move |_capability, info| {
            let wake = Wake {
                now: scope.activator_for(info.address.clone()),
                from_loader: scope.worker().sync_activator_for(info.address.to_vec()),
            };
            let mut state = ServingState::<R>::new(worker, config, reporter, loader, wake);
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

/// How the operator gets scheduled again: by a timer, or by the loader when a build is done.
struct Wake {
    now: Activator,
    from_loader: SyncActivator,
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

/// A model build of one key under way.
struct PendingBuild {
    /// From this time on, the key's records are scored by what the build gives.
    time: Time,
    ticket: Ticket,
    /// The candidates, newest first.
    candidates: Vec<Sourced<ModelDescriptor>>,
}

/// A record of one key not scored yet: behind a build of its key, or waiting for a first model.
struct Queued<R> {
    time: Time,
    arrived: Instant,
    record: Sourced<R>,
}

/// One key on this worker: its model, its builds, its waiting records and its state.
struct KeySlot<R> {
    /// The key, shared with every result of it.
    key: Arc<str>,
    served: Option<Served>,
    builds: VecDeque<PendingBuild>,
    queue: VecDeque<Queued<R>>,
    state: KeyState,
    /// Whether the state changed since it was last logged.
    changed: bool,
    last_seen: Instant,
}

impl<R> KeySlot<R> {
    fn new(key: &str, worker: usize) -> Self {
        KeySlot {
            key: key.into(),
            served: None,
            builds: VecDeque::new(),
            queue: VecDeque::new(),
            state: KeyState::new(key, worker),
            changed: false,
            last_seen: Instant::now(),
        }
    }

    /// Whether a record of `time` must wait: behind older records of its key, or behind a build
    /// of its key of that time or earlier.
    fn must_wait(&self, time: Time) -> bool {
        !self.queue.is_empty()
            || self.served.is_none()
            || self.builds.front().is_some_and(|build| build.time <= time)
    }
}

type Output<'a> =
    OutputBuilderSession<'a, Time, timely::container::CapacityContainerBuilder<Vec<Scored>>>;

/// A session of [`Output`] at one capability.
type Session<'a, 'b> = timely::dataflow::operators::generic::Session<
    'a,
    'b,
    Time,
    timely::container::CapacityContainerBuilder<Vec<Scored>>,
    Capability<Time>,
>;

/// The most records scored in one call to a model.
const MAX_RUN: usize = 1024;

/// One worker's state: its keys, the inputs not yet due, and the capabilities held for waiting
/// records.
struct ServingState<R> {
    worker: usize,
    config: ServingConfig,
    reporter: Reporter,
    loader: Arc<Loader>,
    wake: Wake,
    keys: HashMap<String, KeySlot<R>>,
    /// The keys with builds under way.
    building: BTreeSet<String>,
    /// The keys with queued records.
    queued: BTreeSet<String>,
    next_stats: Instant,
    next_eviction: Instant,
    data_stash: BTreeMap<Time, (Capability<Time>, Vec<Sourced<R>>)>,
    model_stash: BTreeMap<Time, Vec<Sourced<ModelDescriptor>>>,
    /// Capabilities held for queued records, with how many records hold each.
    holds: BTreeMap<Time, (Capability<Time>, usize)>,
    /// Records of one key to be scored together, and their features and results.
    run: Vec<Sourced<R>>,
    features: Vec<f64>,
    results: Vec<Result<Prediction, ModelError>>,
}

impl<R: Record> ServingState<R> {
    fn new(
        worker: usize,
        config: ServingConfig,
        reporter: Reporter,
        loader: Arc<Loader>,
        wake: Wake,
    ) -> Self {
        ServingState {
            worker,
            config,
            reporter,
            loader,
            wake,
            keys: HashMap::new(),
            building: BTreeSet::new(),
            queued: BTreeSet::new(),
            next_stats: Instant::now(),
            next_eviction: Instant::now() + config.key_idle_timeout,
            data_stash: BTreeMap::new(),
            model_stash: BTreeMap::new(),
            holds: BTreeMap::new(),
            run: Vec::new(),
            features: Vec::new(),
            results: Vec::new(),
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

    fn stash_models(
        &mut self,
        time: Time,
        descriptors: impl Iterator<Item = Sourced<ModelDescriptor>>,
    ) {
        self.model_stash
            .entry(time)
            .or_default()
            .extend(descriptors);
    }

    /// Starts the builds whose time is complete, scores the records that are due, installs the
    /// builds that are done, then releases the waiting records that are due.
    fn advance(
        &mut self,
        data_frontier: &MutableAntichain<Time>,
        model_frontier: &MutableAntichain<Time>,
        output: &mut Output<'_>,
    ) {
        self.start_builds(model_frontier);
        self.score_due_data(model_frontier, output);
        self.finish_builds(data_frontier, output);
        self.release_due(model_frontier.is_empty(), output);
        self.evict_idle_keys();
        let closed = data_frontier.is_empty() && model_frontier.is_empty();
        self.log_stats_if_due(closed);
        self.schedule_next_check();
    }

    /// Submits a build for every key of every model time no model can arrive at any more.
    fn start_builds(&mut self, model_frontier: &MutableAntichain<Time>) {
        while let Some(time) = self.model_stash.keys().next().copied() {
            if model_frontier.less_equal(&time) {
                break;
            }
            let descriptors = self.model_stash.remove(&time).unwrap_or_default();
            for (key, candidates) in newest_first_by_key(descriptors) {
                let request = BuildRequest {
                    candidates: candidates.clone(),
                    schema: R::FEATURES,
                };
                let ticket = self.loader.submit(request, self.wake.from_loader.clone());
                let slot = self.slot(&key);
                slot.builds.push_back(PendingBuild {
                    time,
                    ticket,
                    candidates,
                });
                self.building.insert(key);
            }
        }
    }

    /// Scores, in time order, the records of every time whose models have all arrived (their
    /// builds started): each is scored now, or queued behind its key.
    fn score_due_data(&mut self, model_frontier: &MutableAntichain<Time>, output: &mut Output<'_>) {
        while let Some(time) = self.data_stash.keys().next().copied() {
            if model_frontier.less_equal(&time) {
                break;
            }
            let (capability, records) = self.data_stash.remove(&time).expect("stashed");
            self.score_batch(&capability, records, output);
        }
    }

    /// Scores the records of one time: each run of consecutive records of one key that need
    /// not wait is scored in one call to its model (at most [`MAX_RUN`] records); the others
    /// queue behind their key.
    fn score_batch(
        &mut self,
        capability: &Capability<Time>,
        records: Vec<Sourced<R>>,
        output: &mut Output<'_>,
    ) {
        let time = *capability.time();
        let mut session = output.session(capability);
        let now = Instant::now();
        let mut run = std::mem::take(&mut self.run);
        for record in records {
            let key = record.record.data_type();
            let other_key = run
                .first()
                .is_some_and(|first: &Sourced<R>| first.record.data_type() != key);
            if other_key || run.len() == MAX_RUN {
                self.score_run(&mut run, &mut session);
            }
            let slot = match self.keys.get_mut(key) {
                Some(slot) => slot,
                None => self
                    .keys
                    .entry(key.to_owned())
                    .or_insert_with(|| KeySlot::new(key, self.worker)),
            };
            slot.last_seen = now;
            if !slot.must_wait(time) {
                run.push(record);
                continue;
            }
            self.holds
                .entry(time)
                .or_insert_with(|| (capability.clone(), 0))
                .1 += 1;
            if slot.queue.is_empty() {
                self.queued.insert(key.to_owned());
            }
            slot.queue.push_back(Queued {
                time,
                arrived: now,
                record,
            });
        }
        self.score_run(&mut run, &mut session);
        self.run = run;
    }

    /// Scores `run` (records of one key that has a model), emptying it, into `session`.
    fn score_run(&mut self, run: &mut Vec<Sourced<R>>, session: &mut Session<'_, '_>) {
        let Some(first) = run.first() else {
            return;
        };
        let slot = self
            .keys
            .get_mut(first.record.data_type())
            .expect("a key being scored has a slot");
        if R::FEATURES.is_none() {
            for record in run.drain(..) {
                let scored = score(
                    slot,
                    record,
                    &mut self.features,
                    &self.reporter,
                    self.worker,
                    &self.config,
                );
                session.give(scored);
            }
            return;
        }
        let served = slot.served.as_mut().expect("a key with a model");
        self.features.clear();
        for record in run.iter() {
            record.record.append_features(&mut self.features);
        }
        let started = Instant::now();
        score_rows(served, &self.features, run.len(), &mut self.results);
        let duration_ns = started.elapsed().as_nanos() as u64 / run.len() as u64;
        for (record, result) in run.drain(..).zip(self.results.drain(..)) {
            let scored = settle(
                slot,
                record,
                result,
                duration_ns,
                &self.reporter,
                self.worker,
                &self.config,
            );
            session.give(scored);
        }
    }

    /// Installs (or records the failure of) every build that is done or out of time, in time
    /// order per key, once no record before its time can arrive; then scores what waited for it.
    fn finish_builds(&mut self, data_frontier: &MutableAntichain<Time>, output: &mut Output<'_>) {
        let keys: Vec<String> = self.building.iter().cloned().collect();
        for key in keys {
            while let Some(outcome) = self.take_finished_build(&key, data_frontier) {
                let (time, outcome, candidates) = outcome;
                self.apply_outcome(&key, time, outcome, &candidates);
                self.drain(&key, output);
            }
            if self
                .keys
                .get(&key)
                .is_none_or(|slot| slot.builds.is_empty())
            {
                self.building.remove(&key);
            }
        }
    }

    /// The first build of `key`, with its outcome, if it is done (or out of time) and its time
    /// has been reached by the data frontier.
    fn take_finished_build(
        &mut self,
        key: &str,
        data_frontier: &MutableAntichain<Time>,
    ) -> Option<(Time, BuildOutcome, Vec<Sourced<ModelDescriptor>>)> {
        let timeout = self.config.build_timeout;
        let slot = self.keys.get_mut(key)?;
        let build = slot.builds.front()?;
        if data_frontier.less_than(&build.time) {
            return None;
        }
        let outcome = match build.ticket.take() {
            Some(outcome) => outcome,
            None if build.ticket.elapsed() >= timeout => BuildOutcome {
                built: None,
                failures: vec![(
                    0,
                    ModelError::Unsupported(format!(
                        "the model took longer than {timeout:?} to build (given up)"
                    )),
                )],
            },
            None => return None,
        };
        let build = slot.builds.pop_front().expect("a first build");
        Some((build.time, outcome, build.candidates))
    }

    /// Makes the model a build gave current at `time`, or records why none could be.
    fn apply_outcome(
        &mut self,
        key: &str,
        time: Time,
        outcome: BuildOutcome,
        candidates: &[Sourced<ModelDescriptor>],
    ) {
        for (index, error) in outcome.failures {
            self.fail_model(key, time, &candidates[index], error);
        }
        let Some((index, model)) = outcome.built else {
            return;
        };
        let descriptor = &candidates[index].record;
        self.reporter.counters.models_loaded.inc();
        let kind = model.kind().to_string();
        let tag = ModelTag {
            name: descriptor.name.as_str().into(),
            since: time,
            labels: model.class_labels().into(),
        };
        let slot = self.slot(key);
        let replaces = slot.served.replace(Served::new(model, tag)).is_some();
        let stats = ModelStats::new(&descriptor.name, &descriptor.description, &kind, time);
        slot.state.install(stats);
        slot.changed = false;
        let (at, state) = (clock_ms(), slot.state.clone());
        self.reporter.log(match replaces {
            true => StateEvent::ModelSwapped { at, state },
            false => StateEvent::ModelLoaded { at, state },
        });
    }

    fn fail_model(
        &mut self,
        key: &str,
        time: Time,
        candidate: &Sourced<ModelDescriptor>,
        error: ModelError,
    ) {
        self.reporter.counters.model_load_failures.inc();
        let reason = error.to_string();
        self.reporter.dead_letter(DeadLetter {
            stage: Stage::ModelLoad,
            origin: Some(candidate.origin),
            key: key.to_owned(),
            payload: prost::Message::encode_to_vec(&candidate.record),
            reason: reason.clone(),
        });
        let slot = self.slot(key);
        slot.state.fail(LoadFailure {
            name: candidate.record.name.clone(),
            at: time,
            error: reason,
        });
        slot.changed = false;
        let (at, state) = (clock_ms(), slot.state.clone());
        self.reporter.log(StateEvent::ModelFailed { at, state });
    }

    /// Scores the queued records of `key` that no build holds back, as long as it has a model.
    fn drain(&mut self, key: &str, output: &mut Output<'_>) {
        let Some(slot) = self.keys.get_mut(key) else {
            return;
        };
        while let Some(first) = slot.queue.front() {
            let held_back = slot
                .builds
                .front()
                .is_some_and(|build| build.time <= first.time);
            if held_back || slot.served.is_none() {
                break;
            }
            let queued = slot.queue.pop_front().expect("a first record");
            let scored = score(
                slot,
                queued.record,
                &mut self.features,
                &self.reporter,
                self.worker,
                &self.config,
            );
            emit_held(&mut self.holds, queued.time, scored, output);
        }
        if slot.queue.is_empty() {
            self.queued.remove(key);
        }
    }

    /// Sends out as no-model results the records that waited for a first model too long or in
    /// too great a number, or all of them once no model can arrive any more.
    fn release_due(&mut self, models_closed: bool, output: &mut Output<'_>) {
        let now = Instant::now();
        let (timeout, limit) = (self.config.pending_timeout, self.config.pending_limit);
        let mut emptied = Vec::new();
        for key in &self.queued {
            let slot = self.keys.get_mut(key).expect("a queued key has a slot");
            if slot.served.is_some() || !slot.builds.is_empty() {
                continue;
            }
            while let Some(first) = slot.queue.front() {
                let overdue = now.duration_since(first.arrived) >= timeout;
                if !(models_closed || overdue || slot.queue.len() > limit) {
                    break;
                }
                let queued = slot.queue.pop_front().expect("a first record");
                self.reporter.counters.no_model.inc();
                slot.state.no_model += 1;
                slot.changed = true;
                let result = no_model(&slot.key, queued.record, self.worker, &self.config);
                emit_held(&mut self.holds, queued.time, result, output);
            }
            if slot.queue.is_empty() {
                emptied.push(key.clone());
            }
        }
        for key in emptied {
            self.queued.remove(&key);
        }
    }

    /// Forgets the keys that have no model, nothing under way, and have seen nothing for
    /// `key_idle_timeout` (junk keys must not hold memory for good).
    fn evict_idle_keys(&mut self) {
        let now = Instant::now();
        if now < self.next_eviction {
            return;
        }
        let idle_for = self.config.key_idle_timeout;
        self.next_eviction = now + idle_for / 4;
        let reporter = &self.reporter;
        self.keys.retain(|_, slot| {
            let idle = slot.served.is_none()
                && slot.builds.is_empty()
                && slot.queue.is_empty()
                && now.duration_since(slot.last_seen) >= idle_for;
            if idle {
                let (at, state) = (clock_ms(), slot.state.clone());
                reporter.log(StateEvent::KeyEvicted { at, state });
            }
            !idle
        });
    }

    /// While builds are under way or records wait, asks to be scheduled again soon, so that a
    /// build that runs out of time or a record that waited long enough is dealt with even when
    /// no input arrives; while builds are under way, lets those stuck behind slow ones start.
    fn schedule_next_check(&self) {
        if !self.building.is_empty() {
            self.loader.nudge();
        }
        if !self.building.is_empty() || !self.queued.is_empty() {
            self.wake.now.activate_after(CHECK_INTERVAL);
        }
    }

    /// The slot of `key`, created empty on first use.
    fn slot(&mut self, key: &str) -> &mut KeySlot<R> {
        let worker = self.worker;
        self.keys
            .entry(key.to_owned())
            .or_insert_with(|| KeySlot::new(key, worker))
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

/// How often the operator looks again at builds under way and records waiting, when no input
/// wakes it.
const CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The descriptors of one instant grouped by key, newest first within each key (later in the
/// stream is newer), keys in order of first appearance.
fn newest_first_by_key(
    descriptors: Vec<Sourced<ModelDescriptor>>,
) -> Vec<(String, Vec<Sourced<ModelDescriptor>>)> {
    let mut keys: Vec<(String, Vec<Sourced<ModelDescriptor>>)> = Vec::new();
    for descriptor in descriptors {
        let key = &descriptor.record.data_type;
        match keys.iter_mut().find(|(known, _)| known == key) {
            Some((_, candidates)) => candidates.insert(0, descriptor),
            None => keys.push((key.clone(), vec![descriptor])),
        }
    }
    keys
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

/// Scores one record with its key's model.
fn score<R: Record>(
    slot: &mut KeySlot<R>,
    sourced: Sourced<R>,
    features: &mut Vec<f64>,
    reporter: &Reporter,
    worker: usize,
    config: &ServingConfig,
) -> Scored {
    let served = slot.served.as_mut().expect("a key with a model");
    let kind = served.model.kind();
    let started;
    let result = match R::FEATURES {
        Some(_) => {
            features.clear();
            sourced.record.append_features(features);
            started = Instant::now();
            contained(kind, || served.model.score(features))
        }
        None => {
            started = Instant::now();
            contained(kind, || served.score_named(&sourced.record))
        }
    };
    let duration_ns = started.elapsed().as_nanos() as u64;
    settle(slot, sourced, result, duration_ns, reporter, worker, config)
}

/// Scores `count` rows of features in one call to the model, one result per row into `results`;
/// should the model panic, the rows are scored again one by one, each contained.
fn score_rows(
    served: &mut Served,
    rows: &[f64],
    count: usize,
    results: &mut Vec<Result<Prediction, ModelError>>,
) {
    let kind = served.model.kind();
    results.clear();
    let batch = contained(kind, || {
        served.model.score_batch(rows, count, results);
        Ok(())
    });
    if batch.is_ok() && results.len() == count {
        return;
    }
    results.clear();
    let width = rows.len() / count.max(1);
    for row in rows.chunks(width.max(1)).take(count) {
        results.push(contained(kind, || served.model.score(row)));
    }
}

/// The result of a record the model scored (or failed on): counted, and in the key's statistics.
fn settle<R: Record>(
    slot: &mut KeySlot<R>,
    sourced: Sourced<R>,
    result: Result<Prediction, ModelError>,
    duration_ns: u64,
    reporter: &Reporter,
    worker: usize,
    config: &ServingConfig,
) -> Scored {
    if config.stats_interval.is_some() {
        if let Some(stats) = slot.state.current.as_mut() {
            stats.record(duration_ns);
            slot.changed = true;
        }
    }
    let (outcome, unscored) = match result {
        Ok(prediction) => {
            reporter.counters.scored.inc();
            (Outcome::Scored(prediction), None)
        }
        Err(error) => {
            reporter.counters.scoring_failures.inc();
            let encoded = sourced.record.encode(config.data_format);
            (Outcome::Failed(error.to_string()), Some(encoded))
        }
    };
    let tag = slot.served.as_ref().map(|served| served.tag.clone());
    Scored {
        origin: sourced.origin,
        data_type: slot.key.clone(),
        model: tag,
        outcome,
        duration_ns,
        worker,
        unscored,
    }
}

fn no_model<R: Record>(
    key: &Arc<str>,
    sourced: Sourced<R>,
    worker: usize,
    config: &ServingConfig,
) -> Scored {
    Scored {
        origin: sourced.origin,
        data_type: key.clone(),
        model: None,
        outcome: Outcome::NoModel,
        duration_ns: 0,
        worker,
        unscored: Some(sourced.record.encode(config.data_format)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Origin;

    fn descriptor(name: &str, key: &str, offset: i64) -> Sourced<ModelDescriptor> {
        Sourced {
            origin: Origin {
                partition: 0,
                offset,
            },
            record: ModelDescriptor {
                name: name.into(),
                data_type: key.into(),
                ..ModelDescriptor::default()
            },
        }
    }

    #[test]
    fn models_of_one_instant_are_grouped_by_key_newest_first() {
        let grouped = newest_first_by_key(vec![
            descriptor("w1", "wine", 0),
            descriptor("i1", "iris", 1),
            descriptor("w2", "wine", 2),
            descriptor("w3", "wine", 3),
        ]);
        let names: Vec<(String, Vec<String>)> = grouped
            .into_iter()
            .map(|(key, candidates)| {
                let names = candidates.into_iter().map(|c| c.record.name).collect();
                (key, names)
            })
            .collect();
        assert_eq!(
            names,
            [
                (
                    "wine".to_owned(),
                    vec!["w3".to_owned(), "w2".into(), "w1".into()]
                ),
                ("iris".to_owned(), vec!["i1".to_owned()]),
            ]
        );
    }
}
