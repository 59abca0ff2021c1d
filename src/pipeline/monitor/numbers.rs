//! The numbers of one feature (or one model's values) in one tick, in bounded memory.
//!
//! A continuous feature gives a new number with nearly every record: counted exactly, a tick at
//! 100,000 records/s would add 100,000 facts per feature to the window and hold them for the
//! whole window. So a tick keeps at most [`MAX_NUMBERS`] numbers per feature, and fewer when a
//! key's records have many features ([`numbers_per_feature`]): beyond that its numbers are
//! folded, in order, into groups of about equal counts, each counted at its mean; the smallest
//! and the largest number stay exact. The window's count and mean stay exact (to rounding), its
//! minimum and maximum too; its deciles and histogram come from the numbers kept (up to 128 a
//! tick: 7,680 in a window of 60 ticks).

use foldhash::HashMap;

use super::facts::Number;

/// The most numbers a tick keeps per feature (or per model's values).
pub const MAX_NUMBERS: usize = 128;

/// The fewest numbers a tick keeps per feature, however many features a key's records have.
pub const MIN_NUMBERS: usize = 8;

/// The numbers a tick keeps per key, shared by its features (each keeping between
/// [`MIN_NUMBERS`] and [`MAX_NUMBERS`]): records of 16 features keep 128 numbers of each, of
/// 784 features (an image's pixels) 8.
pub const KEY_NUMBERS: usize = 2048;

/// How many numbers a tick keeps of each of a key's `features`.
pub fn numbers_per_feature(features: usize) -> usize {
    (KEY_NUMBERS / features.max(1)).clamp(MIN_NUMBERS, MAX_NUMBERS)
}

/// How many distinct numbers are counted exactly before they are folded (bounds a tick's
/// memory however many records it sees).
const FOLD_AT: usize = 4096;

/// Numbers counted in a tick: distinct ones exactly, until there are too many to keep.
#[derive(Default)]
pub struct NumberCounts {
    exact: HashMap<u64, isize>,
    folded: Vec<(f64, isize)>,
}

impl NumberCounts {
    /// Counts `number` once (never NaN).
    pub fn count(&mut self, number: f64) {
        *self.exact.entry(Number::new(number).bits()).or_default() += 1;
        if self.exact.len() >= FOLD_AT {
            self.fold_exact();
        }
    }

    /// The tick's numbers with their counts: every distinct number if there are at most `most`
    /// (at least 3), else at most `most` groups (see the module).
    pub fn into_counts(mut self, most: usize) -> Vec<(Number, isize)> {
        if self.folded.is_empty() && self.exact.len() <= most {
            let exact = self.exact.into_iter();
            return exact
                .map(|(bits, n)| (Number::from_bits(bits), n))
                .collect();
        }
        self.fold_exact();
        let folded = fold(self.folded, most).into_iter();
        folded.map(|(value, n)| (Number::new(value), n)).collect()
    }

    /// Folds the numbers counted exactly so far into the folded ones.
    fn fold_exact(&mut self) {
        let exact = self.exact.drain();
        self.folded
            .extend(exact.map(|(bits, n)| (f64::from_bits(bits), n)));
        self.folded = fold(std::mem::take(&mut self.folded), MAX_NUMBERS);
    }
}

/// At most `most` (at least 3) numbers with the counts of `counted`: the smallest and the
/// largest as they are, the others, in order, in groups of about equal counts, each at its mean.
fn fold(mut counted: Vec<(f64, isize)>, most: usize) -> Vec<(f64, isize)> {
    if counted.len() <= most {
        return counted;
    }
    counted.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let (smallest, largest) = (counted[0], counted[counted.len() - 1]);
    let middle = &counted[1..counted.len() - 1];
    let total: isize = middle.iter().map(|(_, n)| n).sum();
    let groups = (most - 2) as isize;
    let mut folded = Vec::with_capacity(most);
    folded.push(smallest);
    let (mut sum, mut count, mut seen, mut group) = (0.0, 0, 0, 1);
    for &(value, n) in middle {
        sum += value * n as f64;
        count += n;
        seen += n;
        // The group closes once the counts seen reach its share of the total; a large count
        // may fill several groups' shares at once.
        if seen * groups >= group * total {
            folded.push((sum / count as f64, count));
            (sum, count) = (0.0, 0);
            while group <= groups && seen * groups >= group * total {
                group += 1;
            }
        }
    }
    folded.push(largest);
    folded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(numbers: impl IntoIterator<Item = f64>) -> Vec<(f64, isize)> {
        let mut counts = NumberCounts::default();
        numbers.into_iter().for_each(|number| counts.count(number));
        let mut counted: Vec<(f64, isize)> = (counts.into_counts(MAX_NUMBERS).into_iter())
            .map(|(number, n)| (number.get(), n))
            .collect();
        counted.sort_by(|a, b| a.0.total_cmp(&b.0));
        counted
    }

    #[test]
    fn few_numbers_are_counted_exactly() {
        let numbers = [3.0, 1.0, 3.0, -0.0, 0.0, 2.5];
        assert_eq!(
            counted(numbers),
            vec![(0.0, 2), (1.0, 1), (2.5, 1), (3.0, 2)]
        );
    }

    #[test]
    fn many_numbers_keep_their_count_mean_and_extremes() {
        // 100,000 distinct numbers: folded more than once on the way.
        let numbers: Vec<f64> = (0..100_000)
            .map(|i| (i as f64 * 0.618).sin() * 7.0)
            .collect();
        let folded = counted(numbers.iter().copied());
        assert_eq!(folded.len(), MAX_NUMBERS);
        let count: isize = folded.iter().map(|(_, n)| n).sum();
        assert_eq!(count, 100_000);
        let mean = folded.iter().map(|(v, n)| v * *n as f64).sum::<f64>() / count as f64;
        let exact = numbers.iter().sum::<f64>() / numbers.len() as f64;
        assert!((mean - exact).abs() < 1e-9, "{mean} vs {exact}");
        let smallest = numbers.iter().copied().fold(f64::INFINITY, f64::min);
        let largest = numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(
            (folded[0].0, folded[MAX_NUMBERS - 1].0),
            (smallest, largest)
        );
        // The groups between hold about equal counts: at most two shares (a group folded
        // earlier is not split again).
        let share = 100_000 / (MAX_NUMBERS as isize - 2);
        for (_, n) in &folded[1..MAX_NUMBERS - 1] {
            assert!(*n <= 2 * share, "{n} vs {share}");
        }
    }

    #[test]
    fn wide_records_keep_fewer_numbers_of_each_feature() {
        assert_eq!(numbers_per_feature(11), MAX_NUMBERS);
        assert_eq!(numbers_per_feature(16), 128);
        assert_eq!(numbers_per_feature(64), 32);
        assert_eq!(numbers_per_feature(784), MIN_NUMBERS);
        let mut counts = NumberCounts::default();
        (0..10_000).for_each(|i| counts.count(f64::from(i)));
        let kept = counts.into_counts(numbers_per_feature(784));
        assert_eq!(kept.len(), MIN_NUMBERS);
        assert_eq!(kept.iter().map(|(_, n)| n).sum::<isize>(), 10_000);
    }

    #[test]
    fn a_number_counted_often_keeps_its_weight() {
        let mut numbers: Vec<f64> = (0..1_000).map(f64::from).collect();
        numbers.extend(std::iter::repeat_n(500.25, 5_000));
        let folded = counted(numbers);
        assert!(folded.len() <= MAX_NUMBERS);
        assert_eq!(folded.iter().map(|(_, n)| n).sum::<isize>(), 6_000);
        let heaviest = folded.iter().max_by_key(|(_, n)| *n).unwrap();
        assert!(heaviest.1 >= 5_000, "{heaviest:?}");
        assert!((heaviest.0 - 500.25).abs() < 1.0, "{heaviest:?}");
    }
}
