//! The serving operator: one binary operator that keeps the current model per `dataType` and
//! scores every record with it.
//!
//! Both inputs carry ingestion timestamps from the same clock. A model of time `t` serves the
//! records of its key from time `t` on: records of an earlier time are scored by the model
//! before it, records of time `t` or later by it. The swap is atomic and happens at one instant
//! of the ingestion clock, on every worker alike.
//!
//! Each key has a lineup ([`Lineup`]): the versions it keeps ready (the last
//! `versions_kept`), the current one, and perhaps a canary, a shadow or an ensemble, changed by
//! the lifecycle operations of the models topic (a plain descriptor makes its model current).
//! The messages of one key at one instant (a restart replaying the models topic) are applied in
//! stream order to plan the key's lineup, and only the models the planned lineup keeps are
//! built. Models are built off the worker's thread, by the [`Loader`], as soon as every model of
//! their time has arrived. While a key's change is under way, only that key's records of its
//! time or later wait (holding capabilities at their times); other keys are scored on. A model
//! that fails to load, or takes longer than `build_timeout`, leaves the previous one serving,
//! and goes to the dead letters, as does an operation that cannot apply.
//!
//! The canary scores the share of the key's records its position picks ([`canary_takes`]: the
//! same record always takes the same path); a shadow scores every record too, its result
//! flagged [`Role::Shadow`] beside the serving one; an ensemble scores every record with each
//! member and decides ([`decide`]), keeping each member's answer in the result.
//!
//! A record whose key has no model yet waits until a model arrives (it is then scored by it),
//! until it has waited `pending_timeout`, until more than `pending_limit` records of its key
//! wait, or until the models input closes: then it leaves as an explicit [`Outcome::NoModel`]
//! result. No record is dropped. A key that has no model and has seen nothing for
//! `key_idle_timeout` is forgotten.
//!
//! Consecutive records of one key that need not wait, and whose model serves alone, are scored
//! together, in one call to the model ([`Model::score_batch`]: one tract run for a batch, where a model takes `N` rows); each
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

use super::ensemble::{answered_in_time, decide};
use super::lifecycle::{canary_takes, Lineup, VERSIONS_KEPT};
use super::loader::{BuildOutcome, BuildRequest, Loader, Ticket};
use crate::model::{contained, Model, ModelError, Prediction};
use crate::proto::lifecycle::{Decider, Operation};
use crate::proto::ModelDescriptor;
use crate::record::{
    clock_ms, DeadLetter, MemberAnswer, ModelTag, Origin, Outcome, PayloadFormat, Record, Role,
    Scored, Sourced, Stage, Time,
};
use crate::state::{
    EnsembleState, KeyState, LineupState, LoadFailure, ModelStats, Reporter, StateEvent,
};

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
    /// How many versions each key keeps ready (more only while more are in use: current,
    /// canary, shadow, ensemble members).
    pub versions_kept: usize,
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
            versions_kept: VERSIONS_KEPT,
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

/// A model kept for one key on this worker: a version of its lineup.
struct Served {
    model: Box<dyn Model>,
    tag: ModelTag,
    /// Its type and description, for its statistics when it becomes current.
    kind: String,
    description: String,
    /// The features the model takes, for records that name theirs.
    inputs: Arc<[Arc<str>]>,
    /// Where each input was found in the last record (lookup hints).
    hints: Vec<usize>,
}

impl Served {
    fn new(model: Box<dyn Model>, descriptor: &ModelDescriptor, since: Time) -> Self {
        let inputs: Arc<[Arc<str>]> = model.inputs().into();
        let hints = (0..inputs.len()).collect();
        let tag = ModelTag {
            name: descriptor.name.as_str().into(),
            since,
            labels: model.class_labels().into(),
        };
        Served {
            kind: model.kind().to_string(),
            description: descriptor.description.clone(),
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

    /// Scores one record (its `features`, for records of a fixed schema), timed and contained.
    fn score_one<R: Record>(
        &mut self,
        record: &R,
        features: &[f64],
    ) -> (Result<Prediction, ModelError>, u64) {
        let kind = self.model.kind();
        let started = Instant::now();
        let result = match R::FEATURES {
            Some(_) => contained(kind, || self.model.score(features)),
            None => contained(kind, || self.score_named(record)),
        };
        (result, started.elapsed().as_nanos() as u64)
    }
}

/// What scores a key's records on this worker: its lineup and the models it names.
#[derive(Default)]
struct Installed {
    lineup: Lineup,
    models: HashMap<Arc<str>, Served>,
    /// What the ensemble's decisions are tagged with, while one serves.
    ensemble_tag: Option<ModelTag>,
}

impl Installed {
    /// The model that scores the key's records alone (no canary, shadow or ensemble beside it),
    /// if one does: its records are then scored in batches.
    fn alone(&mut self) -> Option<&mut Served> {
        let lineup = &self.lineup;
        if lineup.canary.is_some() || lineup.shadow.is_some() || lineup.ensemble.is_some() {
            return None;
        }
        self.models.get_mut(lineup.current.as_ref()?)
    }
}

/// A change of one key's lineup under way: the models of one instant and their operations.
struct PendingChange {
    /// From this time on, the key's records are scored by the changed lineup.
    time: Time,
    /// The lineup planned (every build assumed to succeed).
    lineup: Lineup,
    /// The build of the models it adds, if it adds any.
    ticket: Option<Ticket>,
    /// The descriptors being built.
    candidates: Vec<Sourced<ModelDescriptor>>,
    /// The operations that could not apply, with why.
    refused: Vec<(Sourced<ModelDescriptor>, String)>,
}

/// A record of one key not scored yet: behind a change of its key, or waiting for a first model.
struct Queued<R> {
    time: Time,
    arrived: Instant,
    record: Sourced<R>,
}

/// One key on this worker: its models, its changes under way, its waiting records and its state.
struct KeySlot<R> {
    /// The key, shared with every result of it.
    key: Arc<str>,
    installed: Installed,
    /// The lineup once every change under way is made.
    planned: Lineup,
    changes: VecDeque<PendingChange>,
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
            installed: Installed::default(),
            planned: Lineup::default(),
            changes: VecDeque::new(),
            queue: VecDeque::new(),
            state: KeyState::new(key, worker),
            changed: false,
            last_seen: Instant::now(),
        }
    }

    /// The time of the first queued record, if it can be scored now: the key has a lineup
    /// that serves, and no change of that time or earlier is under way.
    fn releasable(&self) -> Option<Time> {
        let first = self.queue.front()?;
        let held_back = self
            .changes
            .front()
            .is_some_and(|change| change.time <= first.time);
        (self.installed.lineup.serves() && !held_back).then_some(first.time)
    }

    /// Whether a record of `time` must wait: behind older records of its key, or behind a
    /// change of its key of that time or earlier.
    fn must_wait(&self, time: Time) -> bool {
        !self.queue.is_empty()
            || !self.installed.lineup.serves()
            || self
                .changes
                .front()
                .is_some_and(|change| change.time <= time)
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

/// The most queued records (behind a change, or a first model) scored in one activation: the
/// rest wait for the next, so that the results of a long queue leave as they are scored (to
/// the sink, which runs between activations) instead of piling up in the output.
const MAX_DRAIN: usize = 8 * MAX_RUN;

/// What every result of a worker needs: where it reports, which worker it is, how it encodes.
struct Context<'a> {
    reporter: &'a Reporter,
    worker: usize,
    config: &'a ServingConfig,
}

/// One worker's state: its keys, the inputs not yet due, and the capabilities held for waiting
/// records.
struct ServingState<R> {
    worker: usize,
    config: ServingConfig,
    reporter: Reporter,
    loader: Arc<Loader>,
    wake: Wake,
    keys: HashMap<String, KeySlot<R>>,
    /// The keys with changes under way.
    changing: BTreeSet<String>,
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
            changing: BTreeSet::new(),
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

    /// Starts the changes whose time is complete, scores the records that are due, makes the
    /// changes that are ready, then releases the waiting records that are due.
    fn advance(
        &mut self,
        data_frontier: &MutableAntichain<Time>,
        model_frontier: &MutableAntichain<Time>,
        output: &mut Output<'_>,
    ) {
        self.start_changes(model_frontier);
        self.score_due_data(model_frontier, output);
        let mut budget = MAX_DRAIN;
        self.finish_changes(data_frontier, &mut budget, output);
        self.drain_queued(&mut budget, output);
        if budget == 0 {
            self.wake.now.activate();
        }
        self.release_due(model_frontier.is_empty(), output);
        self.evict_idle_keys();
        let closed = data_frontier.is_empty() && model_frontier.is_empty();
        self.log_stats_if_due(closed);
        self.schedule_next_check();
    }

    /// Plans a change for every key of every model time no model can arrive at any more, and
    /// submits the builds of the models it adds.
    fn start_changes(&mut self, model_frontier: &MutableAntichain<Time>) {
        while let Some(time) = self.model_stash.keys().next().copied() {
            if model_frontier.less_equal(&time) {
                break;
            }
            let descriptors = self.model_stash.remove(&time).unwrap_or_default();
            for (key, descriptors) in by_key(descriptors) {
                self.start_change(&key, time, descriptors);
            }
        }
    }

    /// Plans the change the descriptors of one instant make to `key`'s lineup, in stream order,
    /// and submits the builds of the models it keeps (and of the older models of the instant,
    /// newest first, to serve in place of the one it serves should that fail to load).
    fn start_change(&mut self, key: &str, time: Time, descriptors: Vec<Sourced<ModelDescriptor>>) {
        let keep = self.config.versions_kept;
        let slot = self.slot(key);
        let mut lineup = slot.planned.clone();
        let (mut models, mut refused) = (Vec::new(), Vec::new());
        for descriptor in descriptors {
            match lineup.apply(&descriptor.record, keep) {
                Ok(true) => models.push(descriptor),
                Ok(false) => {}
                Err(reason) => refused.push((descriptor, reason)),
            }
        }
        slot.planned = lineup.clone();
        let (mut candidates, fallbacks) = to_build(&lineup, models);
        let request = (!candidates.is_empty()).then(|| BuildRequest {
            candidates: candidates.clone(),
            fallbacks: fallbacks.clone(),
            schema: R::FEATURES,
        });
        let ticket =
            request.map(|request| self.loader.submit(request, self.wake.from_loader.clone()));
        candidates.extend(fallbacks.into_iter().flat_map(|(_, fallbacks)| fallbacks));
        self.slot(key).changes.push_back(PendingChange {
            time,
            lineup,
            ticket,
            candidates,
            refused,
        });
        self.changing.insert(key.to_owned());
    }

    /// Scores, in time order, the records of every time whose models have all arrived (their
    /// changes planned): each is scored now, or queued behind its key.
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
    /// not wait is scored together (in one call to its model, at most [`MAX_RUN`] records,
    /// when that model serves alone); the others queue behind their key.
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

    /// Scores `run` (records of one key that has a lineup that serves), emptying it, into
    /// `session`.
    fn score_run(&mut self, run: &mut Vec<Sourced<R>>, session: &mut Session<'_, '_>) {
        let Some(first) = run.first() else {
            return;
        };
        let context = Context {
            reporter: &self.reporter,
            worker: self.worker,
            config: &self.config,
        };
        let slot = self
            .keys
            .get_mut(first.record.data_type())
            .expect("a key being scored has a slot");
        if R::FEATURES.is_none() || slot.installed.alone().is_none() {
            for record in run.drain(..) {
                let (result, shadow) = score(slot, record, &mut self.features, &context);
                session.give_iterator(shadow.into_iter().chain([result]));
            }
            return;
        }
        let served = slot.installed.alone().expect("a model alone");
        self.features.clear();
        for record in run.iter() {
            record.record.append_features(&mut self.features);
        }
        let started = Instant::now();
        score_rows(served, &self.features, run.len(), &mut self.results);
        let duration_ns = started.elapsed().as_nanos() as u64 / run.len() as u64;
        let tag = served.tag.clone();
        for (record, result) in run.drain(..).zip(self.results.drain(..)) {
            count_live(slot, duration_ns, context.config);
            let answer = Answer {
                tag: Some(tag.clone()),
                role: Role::Live,
                result,
                duration_ns,
                members: Vec::new(),
            };
            session.give(settle(&slot.key, record, answer, &context));
        }
    }

    /// Makes (or records the failure of) every change that is ready or out of time, in time
    /// order per key, once no record before its time can arrive and the key's records before
    /// it are scored; then scores what waited for it (within `budget`: a change behind records
    /// the budget leaves waiting is made in a later activation).
    fn finish_changes(
        &mut self,
        data_frontier: &MutableAntichain<Time>,
        budget: &mut usize,
        output: &mut Output<'_>,
    ) {
        let keys: Vec<String> = self.changing.iter().cloned().collect();
        for key in keys {
            loop {
                self.drain(&key, budget, output);
                if self
                    .keys
                    .get(&key)
                    .is_some_and(|slot| slot.releasable().is_some())
                {
                    break;
                }
                let Some(finished) = self.take_finished_change(&key, data_frontier) else {
                    break;
                };
                self.make_change(&key, finished);
            }
            if self
                .keys
                .get(&key)
                .is_none_or(|slot| slot.changes.is_empty())
            {
                self.changing.remove(&key);
            }
        }
    }

    /// The first change of `key`, with its build's outcome, if its build is done (or out of
    /// time, or it has none) and its time has been reached by the data frontier.
    fn take_finished_change(
        &mut self,
        key: &str,
        data_frontier: &MutableAntichain<Time>,
    ) -> Option<(PendingChange, BuildOutcome)> {
        let timeout = self.config.build_timeout;
        let slot = self.keys.get_mut(key)?;
        let change = slot.changes.front()?;
        if data_frontier.less_than(&change.time) {
            return None;
        }
        let outcome = match &change.ticket {
            None => BuildOutcome {
                built: Vec::new(),
                failures: Vec::new(),
            },
            Some(ticket) => match ticket.take() {
                Some(outcome) => outcome,
                None if ticket.elapsed() >= timeout => BuildOutcome {
                    built: Vec::new(),
                    failures: (0..change.candidates.len())
                        .map(|index| (index, timed_out(timeout)))
                        .collect(),
                },
                None => return None,
            },
        };
        let change = slot.changes.pop_front().expect("a first change");
        Some((change, outcome))
    }

    /// Makes a key's lineup the change's, with the models its build gave; what failed to load
    /// or could not apply goes to the dead letters, and what used it falls back.
    fn make_change(&mut self, key: &str, (change, outcome): (PendingChange, BuildOutcome)) {
        let PendingChange {
            time,
            lineup,
            candidates,
            refused,
            ..
        } = change;
        for (descriptor, reason) in &refused {
            self.refuse(key, time, descriptor, reason);
        }
        for (index, error) in outcome.failures {
            self.fail_model(key, time, &candidates[index], error);
        }
        let mut built: HashMap<Arc<str>, Served> = HashMap::new();
        for (index, model) in outcome.built {
            let descriptor = &candidates[index].record;
            self.reporter.counters.models_loaded.inc();
            let served = Served::new(model, descriptor, time);
            built.insert(served.tag.name.clone(), served);
        }
        let slot = self.slot(key);
        let before = slot.installed.lineup.clone();
        let replaced = before
            .current
            .as_ref()
            .is_some_and(|current| built.contains_key(current));
        slot.installed = install(&mut slot.installed, lineup, built, time);
        let lineup = &slot.installed.lineup;
        slot.state.set_lineup(lineup_state(lineup));
        let event = if lineup.current != before.current || replaced {
            Some(slot.new_current(time))
        } else if *lineup != before || !refused.is_empty() {
            Some(StateEvent::LineupChanged {
                at: clock_ms(),
                state: slot.state.clone(),
            })
        } else {
            None
        };
        slot.changed = false;
        if let Some(event) = event {
            self.reporter.log(event);
        }
    }

    fn fail_model(
        &mut self,
        key: &str,
        time: Time,
        candidate: &Sourced<ModelDescriptor>,
        error: ModelError,
    ) {
        self.reporter.counters.model_load_failures.inc();
        self.give_up(key, time, candidate, Stage::ModelLoad, error.to_string());
        let (at, state) = (clock_ms(), self.slot(key).state.clone());
        self.reporter.log(StateEvent::ModelFailed { at, state });
    }

    /// Sends an operation that could not apply to the dead letters, with why (a plain
    /// descriptor that carries no model is a model that does not load, as in the original).
    fn refuse(
        &mut self,
        key: &str,
        time: Time,
        descriptor: &Sourced<ModelDescriptor>,
        reason: &str,
    ) {
        let operation = descriptor.record.operation();
        if operation == Operation::Serve {
            self.reporter.counters.model_load_failures.inc();
            return self.give_up(key, time, descriptor, Stage::ModelLoad, reason.to_owned());
        }
        let reason = format!("{operation:?} refused: {reason}");
        self.give_up(key, time, descriptor, Stage::Lifecycle, reason);
    }

    /// A models-topic message the key could not take: to the dead letters, and the key's
    /// last failure.
    fn give_up(
        &mut self,
        key: &str,
        time: Time,
        candidate: &Sourced<ModelDescriptor>,
        stage: Stage,
        reason: String,
    ) {
        self.reporter.dead_letter(DeadLetter {
            stage,
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
    }

    /// Scores the queued records of `key` that no change holds back, as long as it has a
    /// lineup that serves, in runs of one time (scored together as data that need not wait
    /// is), at most `budget` records, which it counts down.
    fn drain(&mut self, key: &str, budget: &mut usize, output: &mut Output<'_>) {
        let mut run = std::mem::take(&mut self.run);
        while *budget > 0 {
            let Some(slot) = self.keys.get_mut(key) else {
                break;
            };
            let Some(time) = slot.releasable() else {
                break;
            };
            let most = MAX_RUN.min(*budget);
            while run.len() < most && slot.queue.front().is_some_and(|first| first.time == time) {
                run.push(slot.queue.pop_front().expect("a first record").record);
            }
            *budget -= run.len();
            let (capability, count) = self
                .holds
                .get_mut(&time)
                .expect("a capability is held for every waiting record");
            *count -= run.len();
            let capability = match *count {
                0 => self.holds.remove(&time).expect("held").0,
                _ => capability.clone(),
            };
            self.score_run(&mut run, &mut output.session(&capability));
        }
        self.run = run;
        if self.keys.get(key).is_none_or(|slot| slot.queue.is_empty()) {
            self.queued.remove(key);
        }
    }

    /// Scores the queued records no change holds back, of every key, within `budget`.
    fn drain_queued(&mut self, budget: &mut usize, output: &mut Output<'_>) {
        let keys: Vec<String> = self.queued.iter().cloned().collect();
        for key in keys {
            self.drain(&key, budget, output);
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
            if slot.installed.lineup.serves() || !slot.changes.is_empty() {
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
            let idle = slot.installed.models.is_empty()
                && slot.changes.is_empty()
                && slot.queue.is_empty()
                && now.duration_since(slot.last_seen) >= idle_for;
            if idle {
                let (at, state) = (clock_ms(), slot.state.clone());
                reporter.log(StateEvent::KeyEvicted { at, state });
            }
            !idle
        });
    }

    /// While changes are under way or records wait, asks to be scheduled again soon, so that a
    /// build that runs out of time or a record that waited long enough is dealt with even when
    /// no input arrives; while changes are under way, lets builds stuck behind slow ones start.
    fn schedule_next_check(&self) {
        if !self.changing.is_empty() {
            self.loader.nudge();
        }
        if !self.changing.is_empty() || !self.queued.is_empty() {
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

impl<R> KeySlot<R> {
    /// Starts the statistics of the model that became current at `time`: the event to log.
    fn new_current(&mut self, time: Time) -> StateEvent {
        let lineup = &self.installed.lineup;
        let current = lineup
            .current
            .as_ref()
            .and_then(|c| self.installed.models.get(c));
        let at = clock_ms();
        let Some(served) = current else {
            return StateEvent::LineupChanged {
                at,
                state: self.state.clone(),
            };
        };
        // Models restored at start serve from time 0: their statistics say when they began.
        let since = if time == 0 { at } else { time };
        let stats = ModelStats::new(&served.tag.name, &served.description, &served.kind, since);
        let replaces = self.state.current.is_some();
        self.state.install(stats);
        let state = self.state.clone();
        match replaces {
            true => StateEvent::ModelSwapped { at, state },
            false => StateEvent::ModelLoaded { at, state },
        }
    }
}

/// Of the models of one instant (in stream order), the newest of each version the lineup keeps,
/// to build; and, if the one it serves is among them, the older ones of the instant, newest
/// first, to try in its place should it fail (with its index).
type ToBuild = (
    Vec<Sourced<ModelDescriptor>>,
    Option<(usize, Vec<Sourced<ModelDescriptor>>)>,
);

fn to_build(lineup: &Lineup, models: Vec<Sourced<ModelDescriptor>>) -> ToBuild {
    let (mut candidates, mut older) = (Vec::new(), Vec::new());
    for model in models.into_iter().rev() {
        let name = model.record.name.as_str();
        let seen = |list: &[Sourced<ModelDescriptor>]| list.iter().any(|m| m.record.name == name);
        if seen(&candidates) || seen(&older) {
            continue;
        }
        match lineup.keeps(name) {
            true => candidates.push(model),
            false => older.push(model),
        }
    }
    candidates.reverse();
    let serving = lineup.current.as_ref().and_then(|current| {
        candidates
            .iter()
            .position(|candidate| *candidate.record.name == **current)
    });
    let fallbacks = serving
        .filter(|_| !older.is_empty())
        .map(|serving| (serving, older));
    (candidates, fallbacks)
}

/// The models of a key's new lineup: those just built, and those it keeps from before; the
/// lineup without what failed to load (see [`Lineup::without_missing`]): the current version
/// falls back to the previous one, else to an older model of the instant that loaded.
fn install(
    before: &mut Installed,
    lineup: Lineup,
    mut built: HashMap<Arc<str>, Served>,
    time: Time,
) -> Installed {
    let loaded = |name: &str| built.contains_key(name) || before.models.contains_key(name);
    let mut fallbacks: Vec<Arc<str>> = before.lineup.current.iter().cloned().collect();
    fallbacks.extend(built.keys().filter(|name| !lineup.keeps(name)).cloned());
    let lineup = lineup.without_missing(loaded, &fallbacks);
    let mut models = HashMap::new();
    for name in &lineup.versions {
        if let Some(served) = built.remove(name).or_else(|| before.models.remove(name)) {
            models.insert(name.clone(), served);
        }
    }
    if lineup.current != before.lineup.current {
        if let Some(current) = lineup.current.as_ref().and_then(|c| models.get_mut(c)) {
            current.tag.since = time;
        }
    }
    let ensemble_tag = match (&lineup.ensemble, &before.ensemble_tag) {
        (None, _) => None,
        (Some(ensemble), Some(tag)) if before.lineup.ensemble.as_ref() == Some(ensemble) => {
            Some(tag.clone())
        }
        (Some(ensemble), _) => Some(ModelTag {
            name: ensemble.members.join("+").into(),
            since: time,
            labels: models
                .get(&ensemble.members[0])
                .map(|first| first.tag.labels.clone())
                .unwrap_or_default(),
        }),
    };
    Installed {
        lineup,
        models,
        ensemble_tag,
    }
}

/// What the state reports of a lineup.
fn lineup_state(lineup: &Lineup) -> LineupState {
    let name = |name: &Arc<str>| name.to_string();
    LineupState {
        versions: lineup.versions.iter().map(name).collect(),
        current: lineup.current.as_ref().map(name),
        pinned: lineup.pinned,
        canary: lineup.canary.as_ref().map(|c| (name(&c.model), c.share)),
        shadow: lineup.shadow.as_ref().map(name),
        ensemble: lineup.ensemble.as_ref().map(|e| EnsembleState {
            members: e.members.iter().map(name).collect(),
            decider: match e.decider {
                Decider::Majority => "majority",
                Decider::Mean => "mean",
                Decider::FirstWithin => "first-within",
            }
            .into(),
            budget_ns: e.budget.as_nanos() as u64,
        }),
    }
}

/// The error of a build that ran out of time.
fn timed_out(timeout: Duration) -> ModelError {
    ModelError::Unsupported(format!(
        "the model took longer than {timeout:?} to build (given up)"
    ))
}

/// How often the operator looks again at builds under way and records waiting, when no input
/// wakes it.
const CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The descriptors of one instant grouped by key, in stream order within each key, keys in
/// order of first appearance.
fn by_key(
    descriptors: Vec<Sourced<ModelDescriptor>>,
) -> Vec<(String, Vec<Sourced<ModelDescriptor>>)> {
    let mut keys: Vec<(String, Vec<Sourced<ModelDescriptor>>)> = Vec::new();
    for descriptor in descriptors {
        let key = &descriptor.record.data_type;
        match keys.iter_mut().find(|(known, _)| known == key) {
            Some((_, of_key)) => of_key.push(descriptor),
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

/// What a model (or an ensemble) answered for one record, and in which role.
struct Answer {
    tag: Option<ModelTag>,
    role: Role,
    result: Result<Prediction, ModelError>,
    duration_ns: u64,
    members: Vec<MemberAnswer>,
}

/// Scores one record with its key's lineup: the serving answer (the current model's, the
/// canary's for its share, or the ensemble's), and a shadow's result beside it.
fn score<R: Record>(
    slot: &mut KeySlot<R>,
    sourced: Sourced<R>,
    features: &mut Vec<f64>,
    context: &Context<'_>,
) -> (Scored, Option<Scored>) {
    if R::FEATURES.is_some() {
        features.clear();
        sourced.record.append_features(features);
    }
    let answer = match slot.installed.lineup.ensemble.is_some() {
        true => score_ensemble(slot, &sourced.record, features, context.config),
        false => score_single(
            slot,
            &sourced.origin,
            &sourced.record,
            features,
            context.config,
        ),
    };
    let shadow = score_shadow(slot, &sourced, features, &answer.result, context);
    (settle(&slot.key, sourced, answer, context), shadow)
}

/// The answer of the current model, or of the canary for the records its share takes.
fn score_single<R: Record>(
    slot: &mut KeySlot<R>,
    origin: &Origin,
    record: &R,
    features: &[f64],
    config: &ServingConfig,
) -> Answer {
    let lineup = &slot.installed.lineup;
    let (role, name) = match &lineup.canary {
        Some(canary) if canary_takes(origin, canary.share) => (Role::Canary, &canary.model),
        _ => (
            Role::Live,
            lineup.current.as_ref().expect("a current model"),
        ),
    };
    let served = slot
        .installed
        .models
        .get_mut(name)
        .expect("a model for every name in use");
    let (result, duration_ns) = served.score_one(record, features);
    let tag = served.tag.clone();
    match role {
        Role::Canary if config.stats_interval.is_some() => {
            slot.state
                .count_role(&tag.name, Role::Canary.name(), duration_ns, None);
            slot.changed = true;
        }
        _ => count_live(slot, duration_ns, config),
    }
    Answer {
        tag: Some(tag),
        role,
        result,
        duration_ns,
        members: Vec::new(),
    }
}

/// The ensemble's answer: each member's in turn (a first-within ensemble stops at the first
/// given within its budget), then the decider's.
fn score_ensemble<R: Record>(
    slot: &mut KeySlot<R>,
    record: &R,
    features: &[f64],
    config: &ServingConfig,
) -> Answer {
    let Installed {
        lineup,
        models,
        ensemble_tag,
    } = &mut slot.installed;
    let ensemble = lineup.ensemble.as_ref().expect("an ensemble");
    let (mut members, mut labels) = (Vec::new(), Vec::new());
    for name in &ensemble.members {
        let served = models.get_mut(name).expect("a model for every member");
        let (result, duration_ns) = served.score_one(record, features);
        let member = MemberAnswer {
            model: name.clone(),
            answer: result.map_err(|error| error.to_string()),
            duration_ns,
        };
        labels.push(served.tag.labels.clone());
        let enough = answered_in_time(ensemble.decider, ensemble.budget, &member);
        members.push(member);
        if enough {
            break;
        }
    }
    let duration_ns = members.iter().map(|member| member.duration_ns).sum();
    let result = decide(ensemble.decider, ensemble.budget, &members, &labels)
        .map_err(ModelError::Unsupported);
    let tag = ensemble_tag.clone();
    if config.stats_interval.is_some() {
        for member in &members {
            let agreed = agrees(&member.answer, &result);
            slot.state
                .count_role(&member.model, "member", member.duration_ns, agreed);
        }
        let name = tag.as_ref().map_or("", |tag| &*tag.name);
        slot.state
            .count_role(name, Role::Ensemble.name(), duration_ns, None);
        slot.changed = true;
    }
    Answer {
        tag,
        role: Role::Ensemble,
        result,
        duration_ns,
        members,
    }
}

/// The shadow's result for a record, if the key has a shadow, counted with whether it agreed
/// with the serving answer.
fn score_shadow<R: Record>(
    slot: &mut KeySlot<R>,
    sourced: &Sourced<R>,
    features: &[f64],
    serving: &Result<Prediction, ModelError>,
    context: &Context<'_>,
) -> Option<Scored> {
    let name = slot.installed.lineup.shadow.as_ref()?;
    let served = slot.installed.models.get_mut(name).expect("a shadow model");
    let (result, duration_ns) = served.score_one(&sourced.record, features);
    let tag = served.tag.clone();
    if context.config.stats_interval.is_some() {
        let answer = result.as_ref().map_err(|error| error.to_string()).cloned();
        let agreed = agrees(&answer, serving);
        slot.state
            .count_role(&tag.name, Role::Shadow.name(), duration_ns, agreed);
        slot.changed = true;
    }
    let (outcome, _) = outcome_of(result, context.reporter, false);
    Some(Scored {
        origin: sourced.origin,
        data_type: slot.key.clone(),
        model: Some(tag),
        outcome,
        duration_ns,
        worker: context.worker,
        unscored: None,
        role: Role::Shadow,
        members: Vec::new(),
    })
}

/// Whether two answers agree: the same class, or values equal within 1e-9 relative; two
/// failures agree, a failure and an answer do not.
fn agrees<E>(answer: &Result<Prediction, String>, other: &Result<Prediction, E>) -> Option<bool> {
    Some(match (answer, other) {
        (Ok(one), Ok(other)) => match (&one.class, &other.class) {
            (Some(one), Some(other)) => one == other,
            _ => {
                let scale = one.value.abs().max(other.value.abs()).max(1.0);
                (one.value - other.value).abs() <= 1e-9 * scale
            }
        },
        (one, other) => one.is_err() == other.is_err(),
    })
}

/// Counts a scoring by the current model in the key's statistics (when statistics are kept).
fn count_live<R>(slot: &mut KeySlot<R>, duration_ns: u64, config: &ServingConfig) {
    if config.stats_interval.is_some() {
        if let Some(stats) = slot.state.current.as_mut() {
            stats.record(duration_ns);
            slot.changed = true;
        }
    }
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

/// A result's outcome, counted (when `counted`: shadows are not), and whether the record went
/// unscored.
fn outcome_of(
    result: Result<Prediction, ModelError>,
    reporter: &Reporter,
    counted: bool,
) -> (Outcome, bool) {
    match result {
        Ok(prediction) => {
            if counted {
                reporter.counters.scored.inc();
            }
            (Outcome::Scored(prediction), false)
        }
        Err(error) => {
            if counted {
                reporter.counters.scoring_failures.inc();
            }
            (Outcome::Failed(error.to_string()), true)
        }
    }
}

/// The result of a record its key's lineup scored (or failed on).
fn settle<R: Record>(
    key: &Arc<str>,
    sourced: Sourced<R>,
    answer: Answer,
    context: &Context<'_>,
) -> Scored {
    let (outcome, failed) = outcome_of(answer.result, context.reporter, true);
    let unscored = failed.then(|| sourced.record.encode(context.config.data_format));
    Scored {
        origin: sourced.origin,
        data_type: key.clone(),
        model: answer.tag,
        outcome,
        duration_ns: answer.duration_ns,
        worker: context.worker,
        unscored,
        role: answer.role,
        members: answer.members,
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
        role: Role::Live,
        members: Vec::new(),
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
    fn models_of_one_instant_are_grouped_by_key_in_stream_order() {
        let grouped = by_key(vec![
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
                    vec!["w1".to_owned(), "w2".into(), "w3".into()]
                ),
                ("iris".to_owned(), vec!["i1".to_owned()]),
            ]
        );
    }
}
