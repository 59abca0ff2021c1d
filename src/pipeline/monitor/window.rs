//! The sliding window: the facts of records and results become differential updates that enter
//! at their tick and leave one window later.
//!
//! A record of ingestion time `t` counts at the tick `⌈t / tick⌉ · tick` and is retracted at
//! that tick plus the window, so the arrangement as of a tick `T` holds exactly the facts of
//! the records ingested in `(T − window − tick, T]`, to the tick. Facts are consolidated per tick
//! before they leave the worker: a window of a classifier's results is a few counts, however
//! many records it saw.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;
use timely::progress::frontier::MutableAntichain;

use super::facts::{agreement_facts, result_fact, KeyedFact};
use crate::record::{Origin, Role, Scored, Time};

/// A fact's update: entering or leaving the window at a tick.
pub type Update = (KeyedFact, Time, isize);

/// The tick a time counts at: the first multiple of `tick` at or after it.
pub fn tick_of(time: Time, tick: u64) -> Time {
    time.div_ceil(tick) * tick
}

/// The window's updates of the facts of `records` (one per record feature) and of `results`.
pub fn windowed<'scope>(
    records: StreamVec<'scope, Time, KeyedFact>,
    results: StreamVec<'scope, Time, Scored>,
    window: Duration,
    tick: Duration,
) -> StreamVec<'scope, Time, Update> {
    let tick = (tick.as_millis() as u64).max(1);
    let window = tick_of(window.as_millis() as u64, tick).max(tick);
    records
        .binary_frontier(
            results,
            Pipeline,
            Pipeline,
            "MonitorWindow",
            move |_capability, _info| {
                let mut ticks = Ticks::default();
                move |(records, records_frontier), (results, results_frontier), output| {
                    records.for_each_stamp(|capability, batches| {
                        let counts = ticks.at(&capability, tick);
                        for fact in batches.flat_map(|batch| batch.drain(..)) {
                            *counts.facts.entry(fact).or_default() += 1;
                        }
                    });
                    results.for_each_stamp(|capability, batches| {
                        let counts = ticks.at(&capability, tick);
                        for scored in batches.flat_map(|batch| batch.drain(..)) {
                            let fact = result_fact(&scored);
                            counts.shadowed |= scored.role == Role::Shadow;
                            counts.results.push((scored.origin, fact.clone()));
                            *counts.facts.entry(fact).or_default() += 1;
                        }
                    });
                    for (capability, facts) in ticks.complete(records_frontier, results_frontier) {
                        let leaves = capability.delayed(&(capability.time() + window));
                        let mut entering = output.session(&capability);
                        entering.give_iterator(
                            facts
                                .iter()
                                .map(|(fact, &n)| (fact.clone(), *capability.time(), n)),
                        );
                        drop(entering);
                        let mut leaving = output.session(&leaves);
                        let time = *leaves.time();
                        leaving.give_iterator(facts.into_iter().map(|(fact, n)| (fact, time, -n)));
                    }
                }
            },
        )
        .container::<Vec<_>>()
}

/// The facts of one tick so far.
struct TickCounts {
    capability: Capability<Time>,
    facts: HashMap<KeyedFact, isize>,
    /// The tick's result facts by record, kept to pair shadows with live answers when the tick
    /// completes.
    results: Vec<(Origin, KeyedFact)>,
    /// Whether any of them is a shadow's.
    shadowed: bool,
}

/// The ticks not yet complete.
#[derive(Default)]
struct Ticks {
    open: BTreeMap<Time, TickCounts>,
}

impl Ticks {
    /// The counts of the tick of `capability`'s time.
    fn at(
        &mut self,
        capability: &timely::dataflow::operators::InputCapability<Time>,
        tick: u64,
    ) -> &mut TickCounts {
        let time = capability.least().copied().unwrap_or_default();
        let at = tick_of(time, tick);
        self.open.entry(at).or_insert_with(|| TickCounts {
            capability: capability.delayed(&at, 0),
            facts: HashMap::new(),
            results: Vec::new(),
            shadowed: false,
        })
    }

    /// Takes the ticks both inputs have passed, with their facts (shadow agreements included).
    fn complete(
        &mut self,
        records: &MutableAntichain<Time>,
        results: &MutableAntichain<Time>,
    ) -> Vec<(Capability<Time>, HashMap<KeyedFact, isize>)> {
        let mut complete = Vec::new();
        while let Some(entry) = self.open.first_entry() {
            let at = *entry.key();
            if records.less_equal(&at) || results.less_equal(&at) {
                break;
            }
            let TickCounts {
                capability,
                mut facts,
                results,
                shadowed,
            } = entry.remove();
            if shadowed {
                agreement_facts(&results, |fact| *facts.entry(fact).or_default() += 1);
            }
            facts.retain(|_, n| *n != 0);
            complete.push((capability, facts));
        }
        complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_count_at_the_next_tick() {
        assert_eq!(tick_of(0, 1000), 0);
        assert_eq!(tick_of(1, 1000), 1000);
        assert_eq!(tick_of(1000, 1000), 1000);
        assert_eq!(tick_of(1001, 1000), 2000);
    }
}
