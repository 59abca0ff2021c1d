//! Model builds off the workers' threads. The serving operator hands each build to the
//! [`Loader`], which runs it on a thread of its own and wakes the operator when it is done; a
//! slow or runaway build therefore never stalls the scoring of other keys, and a build that
//! takes longer than the job allows is given up by the operator (the thread's eventual result is
//! dropped).
//!
//! Identical builds are shared. A model whose content (type, bytes, inputs) is being built, or
//! was built a moment ago, for another worker or another key, is not built again: each
//! requester gets a fork of it ([`Model::fork`]: ONNX and TensorFlow models share their tract
//! plan, a PMML model is copied without being parsed again). In the flat pipeline, where every
//! worker serves every model, a model is thus built once per process, not once per worker.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use timely::scheduling::SyncActivator;

use crate::model::{
    build_from_content, FeatureSchema, Model, ModelContent, ModelError, ModelSource,
};
use crate::proto::ModelDescriptor;
use crate::record::Sourced;

/// Builds models for the workers of one process.
pub struct Loader {
    source: ModelSource,
    shared: Arc<SharedBuilds>,
    threads: Arc<BuildThreads>,
}

impl Default for Loader {
    fn default() -> Self {
        Loader::new(ModelSource::default())
    }
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Loader")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The models of one key to build at one instant (the versions it keeps that it does not have).
pub struct BuildRequest {
    /// The descriptors.
    pub candidates: Vec<Sourced<ModelDescriptor>>,
    /// Should the candidate at this index (the one to serve) fail: the descriptors to try in
    /// its place, in order, until one loads (older models of the same instant).
    pub fallbacks: Option<(usize, Vec<Sourced<ModelDescriptor>>)>,
    /// The record type's features, if it has a fixed schema.
    pub schema: Option<FeatureSchema>,
}

/// What became of a build request.
pub struct BuildOutcome {
    /// The models that loaded, with their index among the candidates (then the fallbacks).
    pub built: Vec<(usize, Box<dyn Model>)>,
    /// The candidates that were tried and failed, by index, with why.
    pub failures: Vec<(usize, ModelError)>,
}

/// A build under way: its outcome once the loader thread is done.
pub struct Ticket {
    outcome: Arc<Mutex<Option<BuildOutcome>>>,
    started: Instant,
}

impl Ticket {
    /// The outcome, once the build is done (taken: later calls return `None`).
    pub fn take(&self) -> Option<BuildOutcome> {
        lock(&self.outcome).take()
    }

    /// How long the build has been running.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Loader {
    /// A loader that reads models as `source` allows.
    pub fn new(source: ModelSource) -> Self {
        let shared = Arc::new(SharedBuilds::default());
        Loader {
            source,
            threads: Arc::new(BuildThreads::new(shared.clone())),
            shared,
        }
    }

    /// Starts building `request` on a build thread; `wake` is activated when it is done.
    pub fn submit(&self, request: BuildRequest, wake: SyncActivator) -> Ticket {
        let outcome = Arc::new(Mutex::new(None));
        let ticket = Ticket {
            outcome: outcome.clone(),
            started: Instant::now(),
        };
        let (source, shared) = (self.source.clone(), self.shared.clone());
        let started = self.threads.run(Box::new({
            let outcome = outcome.clone();
            move || {
                let built = build(&request, &source, &shared);
                *lock(&outcome) = Some(built);
                let _ = wake.activate();
            }
        }));
        if let Err(error) = started {
            let failure = ModelError::Unsupported(format!("no thread to build the model: {error}"));
            *lock(&outcome) = Some(BuildOutcome {
                built: Vec::new(),
                failures: vec![(0, failure)],
            });
        }
        ticket
    }
}

#[cfg(test)]
impl Loader {
    /// How many models it built (the other requests were given forks).
    pub(crate) fn builds_run(&self) -> usize {
        self.shared.runs.load(Ordering::Relaxed)
    }

    /// Builds `request` on the caller's thread.
    pub(crate) fn build_now(&self, request: BuildRequest) -> BuildOutcome {
        build(&request, &self.source, &self.shared)
    }
}

/// A model being built ahead of the request for it ([`Loader::prebuild`]).
pub struct Prebuild {
    done: Arc<AtomicBool>,
    started: Instant,
}

impl Prebuild {
    /// Whether the build is over (the model built or failed, or not built ahead at all).
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// How long the build has been running.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Loader {
    /// Starts building `descriptor`'s model ahead of the request for it: a request made within
    /// [`KEEP_BUILT`] of the build's end gets a fork of it (or its error) at once. A model that
    /// shares nothing (a SavedModel directory) is not built ahead. `wake` is unparked once the
    /// build is over.
    pub fn prebuild(
        &self,
        descriptor: Arc<ModelDescriptor>,
        schema: Option<FeatureSchema>,
        wake: std::thread::Thread,
    ) -> Prebuild {
        let done = Arc::new(AtomicBool::new(false));
        let prebuild = Prebuild {
            done: done.clone(),
            started: Instant::now(),
        };
        let (source, shared) = (self.source.clone(), self.shared.clone());
        let started = self.threads.run(Box::new(move || {
            shared.build_ahead(&descriptor, schema, &source);
            drop(descriptor);
            done.store(true, Ordering::Release);
            wake.unpark();
        }));
        if started.is_err() {
            prebuild.done.store(true, Ordering::Release);
        }
        prebuild
    }

    /// Lets the builds that wait behind slow ones start beside them (called while builds are
    /// under way: a build is slow once it has run for [`SLOW_BUILD`]).
    pub fn nudge(&self) {
        self.threads.nudge();
    }
}

/// A build to run.
type Job = Box<dyn FnOnce() + Send>;

/// The threads that build models. A thread is kept after its build, for the next (idle ones
/// leave after [`IDLE_FOR`]): its allocator heap, where the last build's parse left its garbage,
/// then serves the next build, instead of being abandoned with a few of the built model's
/// blocks in each of its pages. At most [`BUSY_THREADS`] build at once, unless the oldest of
/// them has been at it for [`SLOW_BUILD`]: a slow or runaway build never holds the others back.
/// Idle threads forget the shared builds kept long enough.
struct BuildThreads {
    state: Mutex<ThreadsState>,
    work: Condvar,
    shared: Arc<SharedBuilds>,
}

#[derive(Default)]
struct ThreadsState {
    queue: VecDeque<Job>,
    /// Build threads alive (busy, idle, or starting).
    live: usize,
    /// Threads waiting for a build.
    idle: usize,
    /// When each busy thread's build started, by thread.
    busy: HashMap<std::thread::ThreadId, Instant>,
}

/// The most threads that build at once while no build is slow.
const BUSY_THREADS: usize = 4;
/// How long a build may run before another thread is started beside it.
const SLOW_BUILD: Duration = Duration::from_secs(1);
/// How long a build thread waits for a build before it leaves.
const IDLE_FOR: Duration = Duration::from_secs(60);

impl BuildThreads {
    fn new(shared: Arc<SharedBuilds>) -> Self {
        BuildThreads {
            state: Mutex::default(),
            work: Condvar::new(),
            shared,
        }
    }

    /// Runs `job` on an idle thread, a new one, or the first to be free.
    fn run(self: &Arc<Self>, job: Job) -> std::io::Result<()> {
        let mut state = lock(&self.state);
        state.queue.push_back(job);
        self.start_if_needed(state).inspect_err(|_| {
            lock(&self.state).queue.pop_back();
        })
    }

    /// Starts a thread if builds wait and none is idle for them, and either fewer than
    /// [`BUSY_THREADS`] are alive or the oldest build is slow.
    fn start_if_needed(
        self: &Arc<Self>,
        mut state: MutexGuard<'_, ThreadsState>,
    ) -> std::io::Result<()> {
        if state.idle >= state.queue.len() {
            self.work.notify_one();
            return Ok(());
        }
        let slow = state
            .busy
            .values()
            .min()
            .is_some_and(|started| started.elapsed() >= SLOW_BUILD);
        if state.live >= BUSY_THREADS && !slow {
            return Ok(());
        }
        state.live += 1;
        drop(state);
        let threads = self.clone();
        std::thread::Builder::new()
            .name("model-build".into())
            .spawn(move || threads.serve())
            .map(drop)
            .inspect_err(|_| lock(&self.state).live -= 1)
    }

    /// Starts a thread for the builds that wait behind slow ones, if any do.
    fn nudge(self: &Arc<Self>) {
        let state = lock(&self.state);
        if !state.queue.is_empty() {
            if let Err(error) = self.start_if_needed(state) {
                tracing::warn!("no thread to build models on: {error}");
            }
        }
    }

    /// A build thread's life: builds while there are builds to run.
    fn serve(&self) {
        let id = std::thread::current().id();
        while let Some(job) = self.next(id) {
            job();
        }
    }

    /// The next build, once there is one; `None` once none came for [`IDLE_FOR`]. While it
    /// waits, forgets the shared builds kept long enough.
    fn next(&self, id: std::thread::ThreadId) -> Option<Job> {
        let mut state = lock(&self.state);
        state.busy.remove(&id);
        let idle_since = Instant::now();
        loop {
            if let Some(job) = state.queue.pop_front() {
                state.busy.insert(id, Instant::now());
                return Some(job);
            }
            if idle_since.elapsed() >= IDLE_FOR {
                state.live -= 1;
                return None;
            }
            state.idle += 1;
            state = self
                .work
                .wait_timeout(state, KEEP_BUILT)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
            state.idle -= 1;
            self.shared.forget_expired();
        }
    }
}

/// Builds every candidate, and, should the one to serve fail, the fallbacks until one loads.
fn build(request: &BuildRequest, source: &ModelSource, shared: &SharedBuilds) -> BuildOutcome {
    let mut outcome = BuildOutcome {
        built: Vec::new(),
        failures: Vec::new(),
    };
    let try_one =
        |outcome: &mut BuildOutcome, index, candidate: &Sourced<ModelDescriptor>| match shared
            .build(&candidate.record, request.schema, source)
        {
            Ok(model) => outcome.built.push((index, model)),
            Err(error) => outcome.failures.push((index, error)),
        };
    for (index, candidate) in request.candidates.iter().enumerate() {
        try_one(&mut outcome, index, candidate);
    }
    let Some((serving, fallbacks)) = &request.fallbacks else {
        return outcome;
    };
    let first = request.candidates.len();
    for (offset, fallback) in fallbacks.iter().enumerate() {
        if outcome
            .built
            .iter()
            .any(|(index, _)| index == serving || *index >= first)
        {
            break;
        }
        try_one(&mut outcome, first + offset, fallback);
    }
    outcome
}

/// How long a build's outcome is kept for other requesters (a model to fork, or the error):
/// the workers of a flat pipeline ask for a model within moments of each other (one that
/// comes later builds its own).
const KEEP_BUILT: Duration = Duration::from_secs(2);

/// What identifies a build: a 128-bit digest of the model's type, content and inputs.
type BuildId = (u64, u64);

/// The builds of one process under way or just done, by what they build.
#[derive(Default)]
struct SharedBuilds {
    digests: (RandomState, RandomState),
    builds: Mutex<HashMap<BuildId, Arc<SharedBuild>>>,
    /// How many models were built (the other requests were given forks).
    runs: AtomicUsize,
}

/// One build that several requesters may wait for.
#[derive(Default)]
struct SharedBuild {
    state: Mutex<Shared>,
    done: Condvar,
}

/// Where a shared build is.
#[derive(Default)]
enum Shared {
    #[default]
    Building,
    /// Built at that instant: forks of the model are handed out.
    Built(Box<dyn Model>, Instant),
    /// Failed at that instant: the same model fails the same way.
    Failed(ModelError, Instant),
    /// Its model shares nothing: each requester builds its own.
    Own,
}

impl SharedBuilds {
    /// Builds `descriptor`'s model, or forks the same model built (or being built) for
    /// another requester.
    fn build(
        &self,
        descriptor: &ModelDescriptor,
        schema: Option<FeatureSchema>,
        source: &ModelSource,
    ) -> Result<Box<dyn Model>, ModelError> {
        let content = source.content(descriptor)?;
        let Some(id) = self.id(descriptor, &content, schema) else {
            return self.run(descriptor, content, schema, source);
        };
        let (build, builder) = self.join(id);
        if builder {
            let built = self.run(descriptor, content, schema, source);
            return self.finish(id, &build, built);
        }
        match build.outcome() {
            Some(outcome) => {
                tracing::debug!(model = %descriptor.name, key = %descriptor.data_type, "the outcome of an identical build");
                outcome
            }
            None => self.run(descriptor, content, schema, source),
        }
    }

    /// Builds `descriptor`'s model to be kept for the request that follows, if its build can
    /// be shared (or waits for the same build under way); what it gives (or why it fails) is
    /// that request's. It keeps the model built and forks none itself: the request's fork is
    /// the only copy made.
    fn build_ahead(
        &self,
        descriptor: &ModelDescriptor,
        schema: Option<FeatureSchema>,
        source: &ModelSource,
    ) {
        let Ok(content) = source.content(descriptor) else {
            return;
        };
        let Some(id) = self.id(descriptor, &content, schema) else {
            return;
        };
        let (build, builder) = self.join(id);
        if !builder {
            return build.wait();
        }
        let built = self.run(descriptor, content, schema, source);
        let now = Instant::now();
        let outcome = match built {
            Ok(model) => Shared::Built(model, now),
            Err(error) => Shared::Failed(error, now),
        };
        self.settle(id, &build, Some(outcome));
    }

    /// Builds the model (counted).
    fn run(
        &self,
        descriptor: &ModelDescriptor,
        content: ModelContent<'_>,
        schema: Option<FeatureSchema>,
        source: &ModelSource,
    ) -> Result<Box<dyn Model>, ModelError> {
        self.runs.fetch_add(1, Ordering::Relaxed);
        build_from_content(descriptor, content, schema, source)
    }

    /// The build's identity: the model's type, the inputs it is built for and its bytes. A
    /// directory (a SavedModel) is not shared.
    fn id(
        &self,
        descriptor: &ModelDescriptor,
        content: &ModelContent<'_>,
        schema: Option<FeatureSchema>,
    ) -> Option<BuildId> {
        let ModelContent::Bytes(bytes) = content else {
            return None;
        };
        let digest = |state: &RandomState| {
            let mut hasher = state.build_hasher();
            descriptor.modeltype.hash(&mut hasher);
            match schema {
                Some(schema) => schema.names.hash(&mut hasher),
                None => descriptor.inputs.hash(&mut hasher),
            }
            bytes.hash(&mut hasher);
            hasher.finish()
        };
        Some((digest(&self.digests.0), digest(&self.digests.1)))
    }

    /// The build of `id`, and whether the caller is to build it (no one else is, or did a
    /// moment ago). Forgets the builds kept long enough.
    fn join(&self, id: BuildId) -> (Arc<SharedBuild>, bool) {
        self.forget_expired();
        let mut builds = lock(&self.builds);
        if let Some(build) = builds.get(&id) {
            return (build.clone(), false);
        }
        let build = Arc::new(SharedBuild::default());
        builds.insert(id, build.clone());
        (build, true)
    }

    /// Forgets the builds kept long enough.
    fn forget_expired(&self) {
        lock(&self.builds).retain(|_, build| !build.expired());
    }

    /// Records what the build of `id` gave, wakes those waiting for it, and returns the
    /// builder's model: a fork of the one built, which is kept for the others. The fork is made
    /// once the build's garbage (the parsed document, the compiler's drafts) is freed, so its
    /// blocks lie closer together than those of the model built among that garbage, and the
    /// model served holds fewer of the allocator's pages: `scripts/bench.sh --only memory`,
    /// 1,000 keys of 100-tree forests, settled RSS 299–300 → 254–260 MiB (two runs each).
    fn finish(
        &self,
        id: BuildId,
        build: &SharedBuild,
        built: Result<Box<dyn Model>, ModelError>,
    ) -> Result<Box<dyn Model>, ModelError> {
        let now = Instant::now();
        let (outcome, built) = match built {
            Ok(model) => match model.fork() {
                Some(fork) => (Some(Shared::Built(model, now)), Ok(fork)),
                None => (None, Ok(model)),
            },
            Err(error) => (Some(Shared::Failed(error.clone(), now)), Err(error)),
        };
        self.settle(id, build, outcome);
        built
    }

    /// Keeps the outcome of the build of `id` for other requesters (`None`: its model shares
    /// nothing, each builds its own) and wakes those waiting for it.
    fn settle(&self, id: BuildId, build: &SharedBuild, outcome: Option<Shared>) {
        let shared = outcome.is_some();
        *lock(&build.state) = outcome.unwrap_or(Shared::Own);
        build.done.notify_all();
        if !shared {
            lock(&self.builds).remove(&id);
        }
    }
}

impl SharedBuild {
    /// Its state, once the build is done.
    fn settled(&self) -> MutexGuard<'_, Shared> {
        let mut state = lock(&self.state);
        while matches!(*state, Shared::Building) {
            state = self
                .done
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        state
    }

    /// Returns once the build is done.
    fn wait(&self) {
        drop(self.settled());
    }

    /// Once the build is done, a fork of its model or its error; `None` if the requester must
    /// build its own.
    fn outcome(&self) -> Option<Result<Box<dyn Model>, ModelError>> {
        let state = self.settled();
        match &*state {
            Shared::Built(model, _) => model.fork().map(Ok),
            Shared::Failed(error, _) => Some(Err(error.clone())),
            Shared::Building | Shared::Own => None,
        }
    }

    /// Whether it is done and was kept long enough.
    fn expired(&self) -> bool {
        match &*lock(&self.state) {
            Shared::Building => false,
            Shared::Built(_, at) | Shared::Failed(_, at) => at.elapsed() >= KEEP_BUILT,
            Shared::Own => true,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::model_descriptor::{MessageContent, ModelType};
    use crate::record::{Record, WineRecord};

    fn descriptor(key: &str, file: &str, model_type: ModelType) -> ModelDescriptor {
        let path = format!("{}/data/{file}", env!("CARGO_MANIFEST_DIR"));
        ModelDescriptor {
            name: file.into(),
            data_type: key.into(),
            modeltype: model_type as i32,
            message_content: Some(MessageContent::Data(
                std::fs::read(path).expect("a fixture"),
            )),
            ..ModelDescriptor::default()
        }
    }

    const ROW: [f64; 11] = [
        7.4, 0.7, 0.0, 1.9, 0.076, 11.0, 34.0, 0.9978, 3.51, 0.56, 9.4,
    ];

    fn build(shared: &SharedBuilds, descriptor: &ModelDescriptor) -> Box<dyn Model> {
        shared
            .build(descriptor, WineRecord::FEATURES, &ModelSource::default())
            .expect("the model builds")
    }

    #[test]
    fn the_same_onnx_model_for_two_keys_is_built_once_and_forked() {
        let shared = SharedBuilds::default();
        let mut first = build(
            &shared,
            &descriptor("red", "onnx/wine_mlp_classifier.onnx", ModelType::Onnx),
        );
        let mut second = build(
            &shared,
            &descriptor("white", "onnx/wine_mlp_classifier.onnx", ModelType::Onnx),
        );
        assert_eq!(
            shared.runs.load(Ordering::Relaxed),
            1,
            "one build serves both"
        );
        let (first, second) = (first.score(&ROW).unwrap(), second.score(&ROW).unwrap());
        assert_eq!(first, second);
    }

    #[test]
    fn different_models_are_built_apart() {
        let shared = SharedBuilds::default();
        build(
            &shared,
            &descriptor("red", "onnx/wine_mlp_classifier.onnx", ModelType::Onnx),
        );
        build(
            &shared,
            &descriptor("red", "onnx/wine_logistic.onnx", ModelType::Onnx),
        );
        assert_eq!(shared.runs.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_model_that_fails_fails_once_for_every_requester() {
        let shared = SharedBuilds::default();
        let mut broken = descriptor("red", "onnx/wine_logistic.onnx", ModelType::Onnx);
        broken.message_content = Some(MessageContent::Data(b"not a model".to_vec()));
        let schema = WineRecord::FEATURES;
        let first = shared.build(&broken, schema, &ModelSource::default());
        let second = shared.build(&broken, schema, &ModelSource::default());
        let (first, second) = (first.err().unwrap(), second.err().unwrap());
        assert_eq!(first.to_string(), second.to_string());
        assert_eq!(shared.runs.load(Ordering::Relaxed), 1, "built once");
    }

    #[test]
    fn build_threads_run_at_most_a_few_builds_at_once_and_are_kept() {
        let threads = Arc::new(BuildThreads::new(Arc::default()));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (done, finished) = std::sync::mpsc::channel();
        for _ in 0..40 {
            let (running, most, done) = (running.clone(), most.clone(), done.clone());
            let job: Job = Box::new(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
                running.fetch_sub(1, Ordering::SeqCst);
                done.send(()).unwrap();
            });
            threads.run(job).unwrap();
        }
        for _ in 0..40 {
            finished
                .recv_timeout(Duration::from_secs(10))
                .expect("every build runs");
        }
        assert!(most.load(Ordering::SeqCst) <= BUSY_THREADS);
        std::thread::sleep(Duration::from_millis(50));
        let state = lock(&threads.state);
        assert!((1..=BUSY_THREADS).contains(&state.idle), "threads are kept");
    }

    #[test]
    fn builds_behind_slow_ones_start_beside_them() {
        let threads = Arc::new(BuildThreads::new(Arc::default()));
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let stuck = Arc::new(Mutex::new(stuck));
        for _ in 0..BUSY_THREADS {
            let stuck = stuck.clone();
            threads
                .run(Box::new(move || {
                    let _ = lock(&stuck).recv_timeout(Duration::from_secs(30));
                }))
                .unwrap();
        }
        let (done, finished) = std::sync::mpsc::channel();
        threads
            .run(Box::new(move || done.send(()).unwrap()))
            .unwrap();
        assert!(
            finished.recv_timeout(Duration::from_millis(200)).is_err(),
            "it waits"
        );
        std::thread::sleep(SLOW_BUILD);
        threads.nudge();
        finished
            .recv_timeout(Duration::from_secs(5))
            .expect("it runs beside the slow builds");
        drop(release);
    }

    #[test]
    fn a_pmml_model_is_parsed_once_and_copied() {
        let shared = SharedBuilds::default();
        let pmml = descriptor("red", "pmml/decision_tree_classifier.pmml", ModelType::Pmml);
        let mut first = build(&shared, &pmml);
        let mut second = build(&shared, &pmml);
        assert_eq!(shared.runs.load(Ordering::Relaxed), 1, "built once");
        let (first, second) = (first.score(&ROW).unwrap(), second.score(&ROW).unwrap());
        assert_eq!(first, second);
    }

    #[test]
    fn requesters_that_arrive_during_a_build_wait_for_it() {
        let shared = Arc::new(SharedBuilds::default());
        let onnx = descriptor("red", "onnx/wine_forest_classifier.onnx", ModelType::Onnx);
        let models: Vec<Box<dyn Model>> = std::thread::scope(|scope| {
            let builds: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| build(&shared, &onnx)))
                .collect();
            builds
                .into_iter()
                .map(|build| build.join().unwrap())
                .collect()
        });
        assert_eq!(models.len(), 4);
        assert_eq!(
            shared.runs.load(Ordering::Relaxed),
            1,
            "built once for all four"
        );
    }
}
