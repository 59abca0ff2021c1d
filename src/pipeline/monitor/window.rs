//! The sliding window: what records and results hold becomes differential updates that enter at
//! their tick and leave one window later.
//!
//! A record of ingestion time `t` counts at the tick `⌈t / tick⌉ · tick` and is retracted at
//! that tick plus the window, so the arrangement as of a tick `T` holds exactly the facts of
//! the records ingested in `(T − window − tick, T]`, to the tick.
//!
//! Records and results are observed on their way, by pass-through operators ([`observe`]) that
//! hand every batch on untouched (nothing is copied for the monitor) and count what they see
//! per tick in plain hash maps: a feature's value or a model's answer is one increment. Only
//! when a tick is complete do its counts become facts, one per distinct value, so a window of
//! a classifier's results is a few updates, however many records it saw.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use foldhash::{HashMap, HashMapExt};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

use super::facts::{Answer, Fact, KeyedFact, Value};
use super::numbers::{numbers_per_feature, NumberCounts, MAX_NUMBERS};
use crate::model::Input;
use crate::record::{Origin, Outcome, Record, Role, Scored, Sourced, Time};

/// A fact's update: entering or leaving the window at a tick.
pub type Update = (KeyedFact, Time, isize);

/// The tick a time counts at: the first multiple of `tick` at or after it.
pub fn tick_of(time: Time, tick: u64) -> Time {
    time.div_ceil(tick) * tick
}

/// Builds the batches of a stream of `T`.
type VecBuilder<T> = timely::container::CapacityContainerBuilder<Vec<T>>;

/// The window's ticks and length, in milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Ticks {
    /// How often the window slides.
    pub tick: u64,
    /// Its length: a whole number of ticks, at least one.
    pub window: u64,
}

impl Ticks {
    /// The ticks of a window of `window` sliding every `tick`.
    pub fn new(window: Duration, tick: Duration) -> Self {
        let tick = (tick.as_millis() as u64).max(1);
        let window = tick_of(window.as_millis() as u64, tick).max(tick);
        Ticks { tick, window }
    }
}

/// What an observer counts in one tick, and turns into facts when the tick is complete.
pub trait Counts: Default + 'static {
    /// What it observes.
    type Item: Clone + 'static;
    /// The key an item is of.
    fn key_of(item: &Self::Item) -> &str;
    /// Counts one item, under `key` (its own, or [`OTHER_KEYS`]).
    fn count(&mut self, item: &Self::Item, key: &Arc<str>);
    /// The tick's facts with how many times each occurred.
    fn facts(self, each: impl FnMut(KeyedFact, isize));
}

/// Passes `stream` on untouched, and counts its items per tick with `C`: the second stream has
/// the window's updates of the counted facts.
pub fn observe<'scope, C: Counts>(
    stream: StreamVec<'scope, Time, C::Item>,
    ticks: Ticks,
    name: &str,
) -> (
    StreamVec<'scope, Time, C::Item>,
    StreamVec<'scope, Time, Update>,
) {
    let mut builder = OperatorBuilder::new(name.to_owned(), stream.scope());
    let mut input = builder.new_input(stream, Pipeline);
    let (passed, passed_stream) = builder.new_output();
    let (updates, updates_stream) = builder.new_output();
    let mut passed = OutputBuilder::<Time, VecBuilder<C::Item>>::from(passed);
    let mut updates = OutputBuilder::<Time, VecBuilder<Update>>::from(updates);
    builder.build(move |_capabilities| {
        let mut open: BTreeMap<Time, (Capability<Time>, C)> = BTreeMap::new();
        let mut admitted = Admitted::default();
        move |frontiers| {
            let mut passing = passed.activate();
            input.for_each_stamp(|capability, batches| {
                let time = capability.least().copied().unwrap_or_default();
                let at = tick_of(time, ticks.tick);
                let (_, counts) = open
                    .entry(at)
                    .or_insert_with(|| (capability.delayed(&at, 1), C::default()));
                let mut session = passing.session(&capability);
                for batch in batches {
                    for item in batch.iter() {
                        counts.count(item, admitted.key(C::key_of(item), at));
                    }
                    session.give_container(batch);
                }
            });
            let mut updating = updates.activate();
            while let Some(entry) = open.first_entry() {
                if frontiers[0].less_equal(entry.key()) {
                    break;
                }
                let (entering, counts) = entry.remove();
                admitted.forget_before(entering.time().saturating_sub(ticks.window));
                let leaving = entering.delayed(&(entering.time() + ticks.window));
                let mut facts = Vec::new();
                counts.facts(|fact, n| facts.push((fact, n)));
                let (enter_at, leave_at) = (*entering.time(), *leaving.time());
                let mut session = updating.session(&entering);
                session.give_iterator(facts.iter().map(|(fact, n)| (fact.clone(), enter_at, *n)));
                drop(session);
                let mut session = updating.session(&leaving);
                session.give_iterator(facts.into_iter().map(|(fact, n)| (fact, leave_at, -n)));
            }
        }
    });
    (passed_stream, updates_stream)
}

/// The most keys an observer counts under their own name at once; the records and results of
/// other keys count under [`OTHER_KEYS`], so that a flood of keys bounds what the monitor holds.
pub const MONITORED_KEYS: usize = 1_000;

/// The key the keys beyond [`MONITORED_KEYS`] count under.
pub const OTHER_KEYS: &str = "(other)";

/// The keys an observer counts under their own name, with the last tick each was seen at.
struct Admitted {
    seen: HashMap<Arc<str>, Time>,
    /// The last key admitted, and the tick it was seen at.
    last: Option<(Arc<str>, Time)>,
    other: Arc<str>,
}

impl Default for Admitted {
    fn default() -> Self {
        Admitted {
            seen: HashMap::new(),
            last: None,
            other: Arc::from(OTHER_KEYS),
        }
    }
}

impl Admitted {
    /// The key `name` counts under at tick `at`: its own, while there is room.
    fn key(&mut self, name: &str, at: Time) -> &Arc<str> {
        let hit = (self.last.as_ref()).is_some_and(|(key, seen)| *seen == at && &**key == name);
        if !hit {
            let key = match self.seen.get_key_value(name) {
                Some((key, _)) => key.clone(),
                None if self.seen.len() < MONITORED_KEYS => Arc::from(name),
                None => return &self.other,
            };
            let seen = self.seen.entry(key.clone()).or_default();
            *seen = (*seen).max(at);
            self.last = Some((key, at));
        }
        &self.last.as_ref().expect("a key").0
    }

    /// Makes room: forgets the keys last seen before `tick` (whose records left the window).
    fn forget_before(&mut self, tick: Time) {
        self.seen.retain(|_, seen| *seen >= tick);
        let forgotten = |(key, _): &(Arc<str>, Time)| !self.seen.contains_key(key);
        if self.last.as_ref().is_some_and(forgotten) {
            self.last = None;
        }
    }
}

/// Finds a key's entry among the ones of a tick, remembering the last found (a stream is
/// mostly runs of one key).
struct ByKey<T> {
    entries: Vec<(Arc<str>, T)>,
    index: HashMap<Arc<str>, usize>,
    last: usize,
}

impl<T> Default for ByKey<T> {
    fn default() -> Self {
        ByKey {
            entries: Vec::new(),
            index: HashMap::new(),
            last: 0,
        }
    }
}

impl<T: Default> ByKey<T> {
    fn get(&mut self, key: &Arc<str>) -> &mut T {
        let hit = (self.entries.get(self.last)).is_some_and(|(last, _)| Arc::ptr_eq(last, key));
        if !hit {
            self.last = match self.index.get(key) {
                Some(&at) => at,
                None => {
                    self.index.insert(key.clone(), self.entries.len());
                    self.entries.push((key.clone(), T::default()));
                    self.entries.len() - 1
                }
            };
        }
        &mut self.entries[self.last].1
    }
}

/// One feature's values in a tick.
#[derive(Default)]
struct FeatureCounts {
    name: Arc<str>,
    /// Where the last record's name of the feature was (records of a fixed schema give the
    /// same name every time): an address, compared before the name itself.
    seen_at: usize,
    numbers: NumberCounts,
    categories: HashMap<Box<str>, isize>,
    missing: isize,
}

/// The most categories a tick keeps per feature: a feature of many values (an identifier, say)
/// would otherwise add a fact per record to the window.
pub const MAX_CATEGORIES: usize = 64;

/// The category the rarer categories of a tick count under, beyond [`MAX_CATEGORIES`].
pub const OTHER_CATEGORIES: &str = "(other)";

/// A tick's categories with their counts: all of them if there are at most
/// [`MAX_CATEGORIES`], else the most frequent (ties by name) and [`OTHER_CATEGORIES`] with the
/// counts of the rest.
fn most_frequent(categories: HashMap<Box<str>, isize>) -> Vec<(Arc<str>, isize)> {
    let mut counted: Vec<(Box<str>, isize)> = categories.into_iter().collect();
    if counted.len() > MAX_CATEGORIES {
        counted.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let rest: isize = counted.drain(MAX_CATEGORIES - 1..).map(|(_, n)| n).sum();
        counted.push((OTHER_CATEGORIES.into(), rest));
    }
    counted.into_iter().map(|(c, n)| (c.into(), n)).collect()
}

/// The features of one key's records in a tick, in the order records give them.
#[derive(Default)]
struct KeyFeatures {
    features: Vec<FeatureCounts>,
}

impl KeyFeatures {
    /// The counts of feature `name`, expected at `position`.
    fn feature(&mut self, position: usize, name: &str) -> &mut FeatureCounts {
        let address = name.as_ptr() as usize;
        let expected = self.features.get(position).is_some_and(|feature| {
            (feature.seen_at == address && feature.name.len() == name.len())
                || &*feature.name == name
        });
        let at = match expected {
            true => position,
            false => match self.features.iter().position(|f| &*f.name == name) {
                Some(at) => at,
                None => {
                    self.features.push(FeatureCounts {
                        name: Arc::from(name),
                        ..FeatureCounts::default()
                    });
                    self.features.len() - 1
                }
            },
        };
        let feature = &mut self.features[at];
        feature.seen_at = address;
        feature
    }
}

/// The features of the records of one tick, by key.
pub struct RecordCounts<R> {
    keys: ByKey<KeyFeatures>,
    records: std::marker::PhantomData<R>,
}

impl<R> Default for RecordCounts<R> {
    fn default() -> Self {
        RecordCounts {
            keys: ByKey::default(),
            records: std::marker::PhantomData,
        }
    }
}

impl<R: Record> Counts for RecordCounts<R> {
    type Item = Sourced<R>;

    fn key_of(sourced: &Sourced<R>) -> &str {
        sourced.record.data_type()
    }

    fn count(&mut self, sourced: &Sourced<R>, key: &Arc<str>) {
        let key = self.keys.get(key);
        let mut position = 0;
        sourced.record.for_each_feature(|name, input| {
            let feature = key.feature(position, name);
            position += 1;
            match input {
                Input::Number(number) if !number.is_nan() => feature.numbers.count(number),
                Input::Number(_) | Input::Missing => feature.missing += 1,
                Input::Text(category) => match feature.categories.get_mut(category) {
                    Some(count) => *count += 1,
                    None => {
                        feature.categories.insert(category.into(), 1);
                    }
                },
            }
        });
    }

    fn facts(self, mut each: impl FnMut(KeyedFact, isize)) {
        for (key, counts) in self.keys.entries {
            let most = numbers_per_feature(counts.features.len());
            for feature in counts.features {
                let name = feature.name;
                let fact = |value| Fact::Feature {
                    name: name.clone(),
                    value,
                };
                for (number, n) in feature.numbers.into_counts(most) {
                    each((key.clone(), fact(Value::Number(number))), n);
                }
                for (category, n) in most_frequent(feature.categories) {
                    each((key.clone(), fact(Value::Category(category))), n);
                }
                if feature.missing > 0 {
                    each((key.clone(), fact(Value::Missing)), feature.missing);
                }
            }
        }
    }
}

/// The answers of one model in one role in a tick.
#[derive(Default)]
struct OutputCounts {
    model: Arc<str>,
    role: Role,
    classes: HashMap<Arc<str>, isize>,
    values: NumberCounts,
    failed: isize,
    no_model: isize,
}

impl OutputCounts {
    /// Counts an answer, sharing a class's name rather than copying it.
    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Scored(prediction) => match &prediction.class {
                Some(class) => match self.classes.get_mut(&**class) {
                    Some(count) => *count += 1,
                    None => {
                        self.classes.insert(class.clone(), 1);
                    }
                },
                None if prediction.value.is_nan() => self.failed += 1,
                None => self.values.count(prediction.value),
            },
            Outcome::NoModel => self.no_model += 1,
            Outcome::Failed(_) => self.failed += 1,
        }
    }

    /// The answers counted, with how many times each.
    fn answers(self) -> impl Iterator<Item = (Answer, isize)> {
        let classes = (self.classes.into_iter()).map(|(class, n)| (Answer::Class(class), n));
        let values = self.values.into_counts(MAX_NUMBERS).into_iter();
        let values = values.map(|(v, n)| (Answer::Value(v), n));
        let others = [
            (Answer::Failed, self.failed),
            (Answer::NoModel, self.no_model),
        ];
        classes
            .chain(values)
            .chain(others.into_iter().filter(|(_, n)| *n > 0))
    }
}

/// A result kept to pair a shadow's answer with the live one for the same record.
struct Paired {
    origin: Origin,
    role: Role,
    output: usize,
    answer: Answer,
}

/// The results of one key in a tick.
#[derive(Default)]
struct KeyResults {
    outputs: Vec<OutputCounts>,
    /// Whether a shadow answered in the tick: from then on, results are kept for pairing (a
    /// record's shadow result comes before its live one).
    shadowed: bool,
    paired: Vec<Paired>,
}

impl KeyResults {
    fn output(&mut self, model: Option<&Arc<str>>, role: Role) -> usize {
        let name = model.map_or("", |model| &**model);
        let same = |output: &OutputCounts| {
            output.role == role
                && (model.is_some_and(|model| Arc::ptr_eq(model, &output.model))
                    || &*output.model == name)
        };
        self.outputs.iter().position(same).unwrap_or_else(|| {
            self.outputs.push(OutputCounts {
                model: model.cloned().unwrap_or_else(|| Arc::from("")),
                role,
                ..OutputCounts::default()
            });
            self.outputs.len() - 1
        })
    }

    /// The shadows' agreement with the live (or ensemble) answers, by shadow model.
    fn agreement(&self, mut each: impl FnMut(Fact, isize)) {
        let served: HashMap<Origin, &Answer> = self
            .paired
            .iter()
            .filter(|paired| matches!(paired.role, Role::Live | Role::Ensemble))
            .map(|paired| (paired.origin, &paired.answer))
            .collect();
        let mut counts: HashMap<(usize, bool), isize> = HashMap::new();
        for shadow in self.paired.iter().filter(|p| p.role == Role::Shadow) {
            if let Some(live) = served.get(&shadow.origin) {
                let agreed = shadow.answer.agrees(live);
                *counts.entry((shadow.output, agreed)).or_default() += 1;
            }
        }
        for ((output, agreed), n) in counts {
            let model = self.outputs[output].model.clone();
            each(Fact::Agreement { model, agreed }, n);
        }
    }
}

/// The results of one tick, by key.
#[derive(Default)]
pub struct ResultCounts {
    keys: ByKey<KeyResults>,
}

impl Counts for ResultCounts {
    type Item = Scored;

    fn key_of(scored: &Scored) -> &str {
        &scored.data_type
    }

    fn count(&mut self, scored: &Scored, key: &Arc<str>) {
        let key = self.keys.get(key);
        let output = key.output(scored.model.as_ref().map(|tag| &tag.name), scored.role);
        key.shadowed |= scored.role == Role::Shadow;
        if key.shadowed && scored.role != Role::Canary {
            key.paired.push(Paired {
                origin: scored.origin,
                role: scored.role,
                output,
                answer: Answer::of(&scored.outcome),
            });
        }
        key.outputs[output].count(&scored.outcome);
    }

    fn facts(self, mut each: impl FnMut(KeyedFact, isize)) {
        for (key, results) in self.keys.entries {
            results.agreement(|fact, n| each((key.clone(), fact), n));
            for output in results.outputs {
                let (model, role) = (output.model.clone(), output.role);
                for (answer, n) in output.answers() {
                    let model = model.clone();
                    each(
                        (
                            key.clone(),
                            Fact::Result {
                                model,
                                role,
                                answer,
                            },
                        ),
                        n,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_keeps_its_most_frequent_categories() {
        let few: HashMap<Box<str>, isize> =
            [("a".into(), 2), ("b".into(), 1)].into_iter().collect();
        let mut kept = most_frequent(few);
        kept.sort();
        assert_eq!(kept, vec![(Arc::from("a"), 2), (Arc::from("b"), 1)]);
        let mut many: HashMap<Box<str>, isize> =
            (0..1000).map(|i| (format!("id{i}").into(), 1)).collect();
        many.insert("common".into(), 500);
        let kept = most_frequent(many);
        assert_eq!(kept.len(), MAX_CATEGORIES);
        assert!(kept.contains(&(Arc::from("common"), 500)));
        let other = kept.iter().find(|(c, _)| &**c == OTHER_CATEGORIES).unwrap();
        assert_eq!(other.1, 1000 - (MAX_CATEGORIES as isize - 2));
        assert_eq!(kept.iter().map(|(_, n)| n).sum::<isize>(), 1500);
    }

    #[test]
    fn times_count_at_the_next_tick() {
        assert_eq!(tick_of(0, 1000), 0);
        assert_eq!(tick_of(1, 1000), 1000);
        assert_eq!(tick_of(1000, 1000), 1000);
        assert_eq!(tick_of(1001, 1000), 2000);
        let ticks = Ticks::new(Duration::from_millis(2500), Duration::from_secs(1));
        assert_eq!((ticks.tick, ticks.window), (1000, 3000));
    }
}
