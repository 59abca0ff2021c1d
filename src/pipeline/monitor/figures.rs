//! From the facts of one key's window, as the arrangement holds them, to the figures users read
//! ([`KeyMonitor`]); and the population stability index that compares a window with a reference.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::facts::{Answer, Fact, Value};
use crate::record::{Role, Time};
use crate::state::monitor::{
    Agreement, Count, Distribution, FeatureFigures, KeyMonitor, OutputFigures, HISTOGRAM_BINS,
};

/// The facts of one key's window with how many times each occurs.
pub type WindowFacts = Vec<(Fact, u64)>;

/// What a distribution is compared on: its values (numbers or categories) and their counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Numbers and their counts, in no order.
    pub numbers: Vec<(f64, u64)>,
    /// Categories (classes) and their counts.
    pub categories: BTreeMap<Arc<str>, u64>,
}

impl Sample {
    fn add_number(&mut self, number: f64, count: u64) {
        self.numbers.push((number, count));
    }

    fn add_category(&mut self, category: &Arc<str>, count: u64) {
        *self.categories.entry(category.clone()).or_default() += count;
    }

    /// How many values, numbers and categories.
    pub fn total(&self) -> u64 {
        self.numbers.iter().map(|(_, n)| n).sum::<u64>() + self.categories.values().sum::<u64>()
    }
}

/// What a window is compared on, by subject: the outputs of each (model, role), and each
/// feature.
#[derive(Debug, Default)]
pub struct Samples {
    /// The outputs of each model in each role.
    pub outputs: BTreeMap<(Arc<str>, Role), Sample>,
    /// The values of each feature.
    pub features: BTreeMap<Arc<str>, Sample>,
}

/// The figures of a key's window, and the samples its drift is measured on.
pub fn figures(
    data_type: &str,
    worker: usize,
    as_of: Time,
    window_ms: u64,
    facts: &WindowFacts,
) -> (KeyMonitor, Samples) {
    let mut outputs: BTreeMap<(Arc<str>, Role), OutputFigures> = BTreeMap::new();
    let mut samples = Samples::default();
    let mut features: BTreeMap<Arc<str>, FeatureFigures> = BTreeMap::new();
    let mut agreement: BTreeMap<Arc<str>, Agreement> = BTreeMap::new();
    for (fact, count) in facts {
        let count = *count;
        match fact {
            Fact::Result {
                model,
                role,
                answer,
            } => {
                let key = (model.clone(), *role);
                let figures = outputs.entry(key.clone()).or_default();
                figures.results += count;
                let sample = samples.outputs.entry(key).or_default();
                match answer {
                    Answer::Class(class) => sample.add_category(class, count),
                    Answer::Value(value) => sample.add_number(value.get(), count),
                    Answer::Failed => figures.failed += count,
                    Answer::NoModel => figures.no_model += count,
                }
            }
            Fact::Feature { name, value } => {
                let figures = features.entry(name.clone()).or_default();
                figures.count += count;
                let sample = samples.features.entry(name.clone()).or_default();
                match value {
                    Value::Number(number) => sample.add_number(number.get(), count),
                    Value::Category(category) => sample.add_category(category, count),
                    Value::Missing => figures.missing += count,
                }
            }
            Fact::Agreement { model, agreed } => {
                let figures = agreement.entry(model.clone()).or_default();
                figures.compared += count;
                figures.agreed += if *agreed { count } else { 0 };
            }
        }
    }
    let records = outputs
        .iter()
        .filter(|((_, role), _)| *role != Role::Shadow)
        .map(|(_, figures)| figures.results)
        .sum();
    let live = live_reference(&samples);
    let outputs = outputs
        .into_iter()
        .map(|((model, role), mut figures)| {
            figures.model = model.to_string();
            figures.role = role.name().to_owned();
            figures.failure_rate = ratio(figures.failed, figures.results);
            figures.no_model_rate = ratio(figures.no_model, figures.results);
            let sample = &samples.outputs[&(model, role)];
            figures.classes = counts(&sample.categories);
            figures.values = distribution(&sample.numbers);
            figures.vs_live = match &live {
                Some(live) if role != Role::Live && sample.total() > 0 => {
                    Some(live.stability_index(sample))
                }
                _ => None,
            };
            figures
        })
        .collect();
    let features = features
        .into_iter()
        .map(|(name, mut figures)| {
            figures.name = name.to_string();
            let sample = &samples.features[&name];
            figures.numbers = distribution(&sample.numbers);
            figures.categories = counts(&sample.categories);
            figures
        })
        .collect();
    let agreement = agreement
        .into_iter()
        .map(|(model, mut figures)| {
            figures.model = model.to_string();
            figures.rate = ratio(figures.agreed, figures.compared);
            figures
        })
        .collect();
    let monitor = KeyMonitor {
        data_type: data_type.to_owned(),
        worker,
        as_of,
        window_ms,
        records,
        outputs,
        features,
        agreement,
    };
    (monitor, samples)
}

/// The reference the other roles' answers are compared with: the answers of the live model
/// that answered most in the window.
fn live_reference(samples: &Samples) -> Option<Reference> {
    let (_, sample) = samples
        .outputs
        .iter()
        .filter(|((model, role), sample)| {
            *role == Role::Live && !model.is_empty() && sample.total() > 0
        })
        .max_by_key(|(_, sample)| sample.total())?;
    Some(Reference::of(sample))
}

fn ratio(part: u64, whole: u64) -> f64 {
    match whole {
        0 => 0.0,
        whole => part as f64 / whole as f64,
    }
}

/// Categories and their counts, most frequent first (ties by name).
fn counts(categories: &BTreeMap<Arc<str>, u64>) -> Vec<Count> {
    let mut counts: Vec<Count> = categories
        .iter()
        .map(|(value, &count)| Count {
            value: value.to_string(),
            count,
        })
        .collect();
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    counts
}

/// The distribution of numbers given with their counts; `None` when there are none.
pub fn distribution(numbers: &[(f64, u64)]) -> Option<Distribution> {
    let count: u64 = numbers.iter().map(|(_, n)| n).sum();
    if count == 0 {
        return None;
    }
    let mut sorted = numbers.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = count as f64;
    let mean = sorted.iter().map(|(v, n)| v * *n as f64).sum::<f64>() / total;
    let variance = sorted
        .iter()
        .map(|(v, n)| (v - mean) * (v - mean) * *n as f64)
        .sum::<f64>()
        / total;
    let (min, max) = (sorted[0].0, sorted[sorted.len() - 1].0);
    let mut histogram = vec![0; HISTOGRAM_BINS];
    let width = (max - min) / HISTOGRAM_BINS as f64;
    for (value, n) in &sorted {
        let bin = match width > 0.0 {
            true => (((value - min) / width) as usize).min(HISTOGRAM_BINS - 1),
            false => 0,
        };
        histogram[bin] += n;
    }
    Some(Distribution {
        count,
        mean,
        variance,
        min,
        max,
        histogram,
    })
}

/// The bins a reference window sets, and its share of each.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    /// Upper bounds of the number bins (the last bin is open): the reference's deciles.
    edges: Vec<f64>,
    /// The reference's share of each number bin, then of each category.
    shares: Vec<f64>,
    /// The categories, in the order of their shares.
    categories: Vec<Arc<str>>,
}

/// How many number bins a reference has at most (its deciles).
const NUMBER_BINS: usize = 10;

/// The smallest share a bin counts with, so that an empty bin on either side keeps the index
/// finite.
const SMALLEST_SHARE: f64 = 1e-4;

impl Reference {
    /// The reference a sample makes: bins at its deciles, and its categories.
    pub fn of(sample: &Sample) -> Self {
        let mut sorted = sample.numbers.clone();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: u64 = sorted.iter().map(|(_, n)| n).sum();
        let mut edges: Vec<f64> = Vec::new();
        let mut seen = 0;
        let mut decile = 1;
        for (value, n) in &sorted {
            seen += n;
            while decile < NUMBER_BINS && seen * NUMBER_BINS as u64 >= decile as u64 * total {
                if edges.last() != Some(value) {
                    edges.push(*value);
                }
                decile += 1;
            }
        }
        let categories: Vec<Arc<str>> = sample.categories.keys().cloned().collect();
        let mut reference = Reference {
            edges,
            shares: Vec::new(),
            categories,
        };
        reference.shares = reference.shares_of(sample);
        reference
    }

    /// The share of a sample in each of the reference's bins (numbers beyond the last edge in
    /// the open bin; categories the reference did not have in none).
    fn shares_of(&self, sample: &Sample) -> Vec<f64> {
        let mut counts = vec![0u64; self.edges.len() + 1 + self.categories.len()];
        for (value, n) in &sample.numbers {
            let bin = self.edges.partition_point(|edge| edge < value);
            counts[bin] += n;
        }
        let numbers = self.edges.len() + 1;
        for (at, category) in self.categories.iter().enumerate() {
            counts[numbers + at] += sample.categories.get(category).copied().unwrap_or(0);
        }
        let total = sample.total().max(1) as f64;
        counts.iter().map(|&n| n as f64 / total).collect()
    }

    /// The population stability index of `sample` against the reference:
    /// `Σ (actual − expected) · ln(actual / expected)` over the bins, shares floored at 1e-4;
    /// categories the reference never saw count as one more bin. 0 for the same
    /// distribution; above 0.2 is commonly taken as a significant shift.
    pub fn stability_index(&self, sample: &Sample) -> f64 {
        let mut actual = self.shares_of(sample);
        let unseen = sample
            .categories
            .iter()
            .filter(|(category, _)| !self.categories.contains(category))
            .map(|(_, n)| *n)
            .sum::<u64>();
        actual.push(unseen as f64 / sample.total().max(1) as f64);
        let expected = self.shares.iter().copied().chain([0.0]);
        actual
            .iter()
            .zip(expected)
            .map(|(&actual, expected)| {
                let (a, e) = (actual.max(SMALLEST_SHARE), expected.max(SMALLEST_SHARE));
                (a - e) * (a / e).ln()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(values: &[(f64, u64)]) -> Sample {
        Sample {
            numbers: values.to_vec(),
            categories: BTreeMap::new(),
        }
    }

    #[test]
    fn a_distribution_weighs_each_number_by_its_count() {
        let figures = distribution(&[(1.0, 3), (3.0, 1)]).unwrap();
        assert_eq!(figures.count, 4);
        assert_eq!(figures.mean, 1.5);
        assert_eq!(figures.variance, (3.0 * 0.25 + 2.25) / 4.0);
        assert_eq!((figures.min, figures.max), (1.0, 3.0));
        assert_eq!(figures.histogram[0], 3);
        assert_eq!(figures.histogram[HISTOGRAM_BINS - 1], 1);
        assert_eq!(distribution(&[]), None);
    }

    #[test]
    fn the_same_distribution_does_not_drift_and_a_shifted_one_does() {
        let reference: Vec<(f64, u64)> = (0..100).map(|v| (v as f64, 1)).collect();
        let reference = Reference::of(&numbers(&reference));
        let same: Vec<(f64, u64)> = (0..100).map(|v| (v as f64, 3)).collect();
        assert!(reference.stability_index(&numbers(&same)).abs() < 1e-12);
        let shifted: Vec<(f64, u64)> = (50..150).map(|v| (v as f64, 1)).collect();
        let psi = reference.stability_index(&numbers(&shifted));
        assert!(psi > 1.0, "{psi}");
    }

    #[test]
    fn categories_compare_by_share_and_new_ones_count() {
        let sample = |pairs: &[(&str, u64)]| Sample {
            numbers: Vec::new(),
            categories: pairs.iter().map(|(c, n)| (Arc::from(*c), *n)).collect(),
        };
        let reference = Reference::of(&sample(&[("a", 50), ("b", 50)]));
        assert!(
            reference
                .stability_index(&sample(&[("a", 5), ("b", 5)]))
                .abs()
                < 1e-12
        );
        let expected = (0.9 - 0.5) * (0.9f64 / 0.5).ln() + (0.1 - 0.5) * (0.1f64 / 0.5).ln();
        let psi = reference.stability_index(&sample(&[("a", 9), ("b", 1)]));
        assert!((psi - expected).abs() < 1e-12, "{psi} vs {expected}");
        assert!(reference.stability_index(&sample(&[("c", 10)])) > 1.0);
    }
}
