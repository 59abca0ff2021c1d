//! From the leaves a row reaches to the output row: aggregation, base values, the post transform,
//! and a classifier's label, all in float32 and in the order onnxruntime computes them
//! (`tree_ensemble_aggregator.h`, `ml_common.h`), quirks included.
//!
//! A column that no leaf (and no base value, for a classifier of three or more classes) reached
//! is written as 0, whatever its base value: onnxruntime reads such a column as 0.

use tract_onnx::prelude::TVec;

use super::super::transform::{logistic, probit, PostTransform};
use super::forest::Weight;

/// How the trees' weights for one column are combined (`aggregate_function`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    /// `SUM`.
    Sum,
    /// `AVERAGE`: the sum divided by the number of trees.
    Average,
    /// `MIN`.
    Min,
    /// `MAX`.
    Max,
}

/// The scores of one row, and which columns a leaf reached.
pub struct RowScores<'a> {
    values: &'a mut [f32],
    reached: TVec<u64>,
}

impl<'a> RowScores<'a> {
    /// Zeroed scores written into `values`, one per column.
    pub fn new(values: &'a mut [f32]) -> Self {
        values.fill(0.0);
        let reached = std::iter::repeat_n(0, values.len().div_ceil(64)).collect();
        RowScores { values, reached }
    }

    fn is_reached(&self, column: usize) -> bool {
        self.reached[column / 64] & (1 << (column % 64)) != 0
    }

    fn reach(&mut self, column: usize) {
        self.reached[column / 64] |= 1 << (column % 64);
    }

    /// Adds one leaf's weights.
    pub fn add(&mut self, weights: &[Weight], aggregate: Aggregate) {
        for weight in weights {
            let column = weight.column as usize;
            let first = !self.is_reached(column);
            let score = &mut self.values[column];
            *score = match aggregate {
                Aggregate::Sum | Aggregate::Average => *score + weight.value,
                Aggregate::Min if first || weight.value < *score => weight.value,
                Aggregate::Max if first || weight.value > *score => weight.value,
                Aggregate::Min | Aggregate::Max => *score,
            };
            self.reach(column);
        }
    }

    /// Finishes a regression row: the average, the base values, the post transform.
    pub fn finish_regression(
        mut self,
        aggregate: Aggregate,
        trees: usize,
        base_values: &[f32],
        transform: PostTransform,
    ) {
        for (column, score) in self.values.iter_mut().enumerate() {
            if aggregate == Aggregate::Average {
                *score /= trees as f32;
            }
            if let Some(base) = base_values.get(column) {
                *score += base;
            }
        }
        self.zero_unreached();
        transform.apply(self.values);
    }

    /// Finishes a classifier row of three or more classes and returns the index of the predicted
    /// class: the first highest score among the classes reached, after adding the base values
    /// (which reach every class they are given for).
    pub fn finish_classes(mut self, base_values: &[f32], transform: PostTransform) -> usize {
        for (column, base) in base_values.iter().enumerate() {
            self.values[column] += base;
            self.reach(column);
        }
        let best = self.best_reached().unwrap_or(0);
        self.zero_unreached();
        transform.apply(self.values);
        best
    }

    /// Finishes a two-class row and returns the predicted class (0 or 1). `layout` is `None` when
    /// the weights go to both classes; the class is then the higher of the two outputs (where
    /// onnxruntime returns the number 1 when class 1's score is positive, 0 otherwise).
    pub fn finish_binary(
        mut self,
        layout: Option<BinaryLayout>,
        base_values: &[f32],
        transform: PostTransform,
    ) -> usize {
        let one_score = self.add_binary_base_values(base_values);
        let positive = if !one_score && self.is_reached(1) {
            self.values[1]
        } else if self.is_reached(0) {
            self.values[0]
        } else {
            0.0
        };
        self.zero_unreached();
        if one_score {
            let spread = match layout {
                Some(BinaryLayout::Probability) => Spread::Complement,
                Some(BinaryLayout::Margin) => Spread::Opposite,
                None if base_values.is_empty() => Spread::Opposite,
                None => Spread::FirstOnly,
            };
            spread.write(self.values, transform);
        } else {
            transform.apply(self.values);
        }
        match layout {
            Some(layout) => layout.class_of(positive),
            None => usize::from(self.values[1] > self.values[0]),
        }
    }

    /// Adds a two-class row's base values as onnxruntime does, and says whether the row is left
    /// with a single score (class 0's) to spread over the two outputs.
    fn add_binary_base_values(&mut self, base_values: &[f32]) -> bool {
        match *base_values {
            [_, base_1] if self.is_reached(1) => {
                // onnxruntime ignores base_values[0] and class 1's own sum here.
                self.values[1] = base_1 + self.values[0];
                self.values[0] = -self.values[1];
                false
            }
            [base_0, base_1] => {
                self.values[0] += base_0;
                self.values[1] += base_1;
                false
            }
            [base_0] => {
                self.values[0] += base_0;
                !self.is_reached(1)
            }
            _ => !self.is_reached(1),
        }
    }

    fn best_reached(&self) -> Option<usize> {
        (0..self.values.len())
            .filter(|&column| self.is_reached(column))
            .reduce(|best, column| {
                if self.values[column] > self.values[best] {
                    column
                } else {
                    best
                }
            })
    }

    fn zero_unreached(&mut self) {
        for column in 0..self.values.len() {
            if !self.is_reached(column) {
                self.values[column] = 0.0;
            }
        }
    }
}

/// How a two-class ensemble whose weights all go to one class is read (onnxruntime's
/// "binary case"): its single score is either a probability (no negative weight; class 1 above
/// 0.5) or a margin (class 1 above 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryLayout {
    /// No weight is negative: the score is class 1's probability.
    Probability,
    /// Some weights are negative: the score is class 1's margin.
    Margin,
}

impl BinaryLayout {
    fn class_of(self, positive: f32) -> usize {
        let threshold = match self {
            BinaryLayout::Probability => 0.5,
            BinaryLayout::Margin => 0.0,
        };
        usize::from(positive > threshold)
    }
}

/// How a single two-class score becomes the two outputs.
#[derive(Clone, Copy)]
enum Spread {
    /// `[1 - s, s]`.
    Complement,
    /// `[-s, s]`, or `[logistic(-s), logistic(s)]` under `LOGISTIC`.
    Opposite,
    /// `[s, 0]` (onnxruntime leaves the second output unwritten).
    FirstOnly,
}

impl Spread {
    /// Writes the two outputs from the single score in `values[0]`.
    fn write(self, values: &mut [f32], transform: PostTransform) {
        let score = values[0];
        let pair = match (transform, self) {
            (PostTransform::Probit, _) => [probit(score), 0.0],
            (_, Spread::Complement) => [1.0 - score, score],
            (PostTransform::Logistic, Spread::Opposite) => [logistic(-score), logistic(score)],
            (_, Spread::Opposite) => [-score, score],
            (_, Spread::FirstOnly) => [score, 0.0],
        };
        values.copy_from_slice(&pair);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(pairs: &[(u32, f32)]) -> Vec<Weight> {
        pairs
            .iter()
            .map(|&(column, value)| Weight { column, value })
            .collect()
    }

    #[test]
    fn aggregates_per_column() {
        let leaves = [weights(&[(0, 2.0), (1, -1.0)]), weights(&[(0, 4.0)])];
        let run = |aggregate| {
            let mut values = [9.0; 3];
            let mut scores = RowScores::new(&mut values);
            leaves.iter().for_each(|leaf| scores.add(leaf, aggregate));
            scores.finish_regression(aggregate, 2, &[0.5, 0.5, 0.5], PostTransform::None);
            values
        };
        assert_eq!(run(Aggregate::Sum), [6.5, -0.5, 0.0]);
        assert_eq!(run(Aggregate::Average), [3.5, 0.0, 0.0]);
        assert_eq!(run(Aggregate::Min), [2.5, -0.5, 0.0]);
        assert_eq!(run(Aggregate::Max), [4.5, -0.5, 0.0]);
    }

    #[test]
    fn classes_take_the_first_best_reached_class() {
        let mut values = [0.0; 3];
        let mut scores = RowScores::new(&mut values);
        scores.add(&weights(&[(1, -0.2)]), Aggregate::Sum);
        assert_eq!(scores.finish_classes(&[], PostTransform::None), 1);
        assert_eq!(values, [0.0, -0.2, 0.0]);
    }

    #[test]
    fn binary_probability_layout_complements_the_score() {
        let mut values = [0.0; 2];
        let mut scores = RowScores::new(&mut values);
        scores.add(&weights(&[(0, 0.75)]), Aggregate::Sum);
        let class = scores.finish_binary(Some(BinaryLayout::Probability), &[], PostTransform::None);
        assert_eq!((class, values), (1, [0.25, 0.75]));
    }

    #[test]
    fn binary_margin_layout_uses_the_logistic_of_both_signs() {
        let mut values = [0.0; 2];
        let mut scores = RowScores::new(&mut values);
        scores.add(&weights(&[(0, -1.0)]), Aggregate::Sum);
        let class =
            scores.finish_binary(Some(BinaryLayout::Margin), &[0.5], PostTransform::Logistic);
        assert_eq!(class, 0);
        assert!(
            (values[0] - logistic(0.5)).abs() < 1e-7 && (values[1] - logistic(-0.5)).abs() < 1e-7
        );
    }
}
