//! The offsets ledger: which input offsets each ingestion time covers, so that offsets are
//! committed only once the output frontier has passed every time that read them.

use std::collections::{BTreeMap, VecDeque};

use crate::record::Time;

/// Next offsets to read, per partition, recorded by ingestion time.
#[derive(Debug, Default)]
pub struct OffsetLedger {
    entries: VecDeque<(Time, BTreeMap<i32, i64>)>,
}

impl OffsetLedger {
    /// Records that the records read at `time` end, for each partition, just before `next`.
    pub fn record(&mut self, time: Time, next: BTreeMap<i32, i64>) {
        if next.is_empty() {
            return;
        }
        match self.entries.back_mut() {
            Some((last, offsets)) if *last == time => offsets.extend(next),
            _ => self.entries.push_back((time, next)),
        }
    }

    /// Takes the offsets that are safe to commit once every time before `frontier` is complete
    /// (`None`: the output is complete), merged per partition.
    pub fn take_complete(&mut self, frontier: Option<Time>) -> BTreeMap<i32, i64> {
        let mut complete = BTreeMap::new();
        while let Some((time, _)) = self.entries.front() {
            if frontier.is_some_and(|frontier| *time >= frontier) {
                break;
            }
            let (_, offsets) = self.entries.pop_front().expect("a front entry");
            complete.extend(offsets);
        }
        complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_times_before_the_frontier_are_committed() {
        let mut ledger = OffsetLedger::default();
        ledger.record(10, BTreeMap::from([(0, 5), (1, 7)]));
        ledger.record(10, BTreeMap::from([(0, 6)]));
        ledger.record(12, BTreeMap::from([(1, 9)]));
        assert_eq!(ledger.take_complete(Some(10)), BTreeMap::new());
        assert_eq!(
            ledger.take_complete(Some(11)),
            BTreeMap::from([(0, 6), (1, 7)])
        );
        assert_eq!(ledger.take_complete(Some(12)), BTreeMap::new());
        assert_eq!(ledger.take_complete(None), BTreeMap::from([(1, 9)]));
    }
}
