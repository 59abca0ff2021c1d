//! The linear part shared by `LinearClassifier` and `LinearRegressor`: each row's scores are
//! `X · coefficientsᵀ + intercepts`, one per target, the targets of a block of [`LANES`]
//! computed side by side in a loop that the compiler vectorizes.

use anyhow::{bail, ensure, Result};
use tract_onnx::prelude::Tensor;

/// The number of targets whose scores are computed together, one per lane of a loop that the
/// compiler vectorizes.
const LANES: usize = 8;

/// The coefficients and intercepts of a linear model's targets.
#[derive(Debug)]
pub struct Coefficients {
    /// The coefficients of each block of [`LANES`] targets, feature by feature: the weights of
    /// one feature for the block's targets (0 past the last target).
    blocks: Vec<[f32; LANES]>,
    /// The coefficients as given: one row of features per target.
    weights: Vec<f32>,
    intercepts: Vec<f32>,
    features: usize,
}

/// Below this many targets, the scores of [`LANES`] rows are computed side by side instead.
const FEW_TARGETS: usize = LANES / 2;

impl Coefficients {
    /// The model of `coefficients` (one row of features per target) and `intercepts` (one per
    /// target), refused when they do not say the same number of targets.
    pub fn new(coefficients: &[f32], intercepts: Vec<f32>) -> Result<Self> {
        let targets = intercepts.len();
        ensure!(
            targets > 0,
            "no intercepts: the number of targets is unknown"
        );
        ensure!(
            !coefficients.is_empty() && coefficients.len().is_multiple_of(targets),
            "{} coefficients are not one row per target ({targets} intercepts)",
            coefficients.len()
        );
        let features = coefficients.len() / targets;
        Ok(Coefficients {
            blocks: blocks(coefficients, features),
            weights: coefficients.to_vec(),
            intercepts,
            features,
        })
    }

    /// The number of targets.
    pub fn targets(&self) -> usize {
        self.intercepts.len()
    }

    /// The number of features of a row.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Writes one row's scores, `X · coefficientsᵀ + intercepts`, into `output` (one per
    /// target): the targets of a block side by side, each summed feature by feature as
    /// `Iterator::sum` would.
    #[inline]
    pub fn scores(&self, row: &[f32], output: &mut [f32]) {
        let blocks = self.blocks.chunks_exact(self.features);
        let targets = output.chunks_mut(LANES).zip(self.intercepts.chunks(LANES));
        for (block, (output, intercepts)) in blocks.zip(targets) {
            let mut sums = [-0.0f32; LANES];
            for (&value, weights) in row.iter().zip(block) {
                for (sum, &weight) in sums.iter_mut().zip(weights) {
                    *sum += value * weight;
                }
            }
            for ((score, sum), intercept) in output.iter_mut().zip(sums).zip(intercepts) {
                *score = sum + intercept;
            }
        }
    }

    /// Writes the scores of each row of `rows` (of [`Self::features`] values each) into
    /// `output` ([`Self::targets`] values each), each summed as [`Self::scores`] sums it. With
    /// few targets, the rows of a block of [`LANES`] are summed side by side, target by target
    /// (the lanes of a block of targets would be mostly empty, and each sum would wait for the
    /// one before it).
    pub fn scores_rows(&self, rows: &[f32], output: &mut [f32]) {
        let (features, targets) = (self.features, self.targets());
        if targets >= FEW_TARGETS {
            let outputs = output.chunks_exact_mut(targets);
            rows.chunks_exact(features)
                .zip(outputs)
                .for_each(|(row, output)| self.scores(row, output));
            return;
        }
        let mut blocks = rows.chunks_exact(features * LANES);
        let mut outputs = output.chunks_exact_mut(targets * LANES);
        for (rows, output) in (&mut blocks).zip(&mut outputs) {
            let lanes: [&[f32]; LANES] =
                std::array::from_fn(|lane| &rows[lane * features..][..features]);
            let per_target = self.weights.chunks_exact(features).zip(&self.intercepts);
            for (target, (weights, intercept)) in per_target.enumerate() {
                let mut sums = [-0.0f32; LANES];
                for (feature, &weight) in weights.iter().enumerate() {
                    for (sum, row) in sums.iter_mut().zip(&lanes) {
                        *sum += row[feature] * weight;
                    }
                }
                for (lane, sum) in sums.into_iter().enumerate() {
                    output[lane * targets + target] = sum + intercept;
                }
            }
        }
        let rest = blocks.remainder().chunks_exact(features);
        rest.zip(outputs.into_remainder().chunks_exact_mut(targets))
            .for_each(|(row, output)| self.scores(row, output));
    }

    /// The scores of the rows of `input`, a float32 tensor of `N ×` [`Self::features`], as a
    /// tensor of `N ×` [`Self::targets`], after `finish` has run on them; `op` names the
    /// operator in errors.
    pub fn score_tensor(
        &self,
        op: &str,
        input: &Tensor,
        finish: impl FnOnce(&mut [f32]),
    ) -> Result<Tensor> {
        let &[rows, width] = input.shape() else {
            bail!("{op} takes a 2-D input, not {:?}", input.shape());
        };
        self.check_features(op, width)?;
        let values = input.try_as_plain_ram()?;
        let mut output = Tensor::zero::<f32>(&[rows, self.targets()])?;
        let mut scores = output.try_as_plain_ram_mut()?;
        let scores = scores.as_slice_mut::<f32>()?;
        self.scores_rows(values.as_slice::<f32>()?, scores);
        finish(scores);
        Ok(output)
    }

    /// `targets of features`, for an operator's description.
    pub fn describe(&self) -> String {
        format!("{} targets of {} features", self.targets(), self.features)
    }

    /// Fails unless a row of `features` values is what the coefficients take.
    pub fn check_features(&self, op: &str, features: usize) -> Result<()> {
        ensure!(
            features == self.features,
            "{op}: the input has {features} features, the coefficients {}",
            self.features
        );
        Ok(())
    }
}

/// The coefficients (one row of `features` per target) by blocks of [`LANES`] targets, as
/// [`Coefficients::blocks`] holds them.
fn blocks(coefficients: &[f32], features: usize) -> Vec<[f32; LANES]> {
    let targets = coefficients.len() / features;
    let mut blocks = vec![[0.0; LANES]; targets.div_ceil(LANES) * features];
    for (target, weights) in coefficients.chunks_exact(features).enumerate() {
        let block = &mut blocks[target / LANES * features..][..features];
        for (lanes, &weight) in block.iter_mut().zip(weights) {
            lanes[target % LANES] = weight;
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scores_side_by_side_are_the_dot_products_of_each_target() {
        for targets in [1, 6, 8, 11] {
            let coefficients: Vec<f32> = (0..targets * 11)
                .map(|index| ((index * 31) % 17) as f32 * 0.173 - 1.3)
                .collect();
            let intercepts: Vec<f32> = (0..targets).map(|t| t as f32 * 0.7 - 2.0).collect();
            let model = Coefficients::new(&coefficients, intercepts.clone()).expect("valid");
            let row: Vec<f32> = (0..11).map(|index| index as f32 * 1.37 - 4.1).collect();
            let mut scores = vec![0.0; targets];
            model.scores(&row, &mut scores);
            let dot_products = coefficients
                .chunks(11)
                .zip(&intercepts)
                .map(|(w, b)| row.iter().zip(w).map(|(x, w)| x * w).sum::<f32>() + b);
            assert_eq!(
                scores,
                dot_products.collect::<Vec<_>>(),
                "{targets} targets"
            );
        }
    }

    #[test]
    fn rows_scored_side_by_side_are_scored_as_one_by_one() {
        for targets in [1, 2, 3, 4, 6, 9] {
            let coefficients: Vec<f32> = (0..targets * 11)
                .map(|index| ((index * 37) % 19) as f32 * 0.211 - 1.7)
                .collect();
            let intercepts: Vec<f32> = (0..targets).map(|t| t as f32 * 0.3 - 1.0).collect();
            let model = Coefficients::new(&coefficients, intercepts).expect("valid");
            for rows in [0, 1, 7, 8, 9, 21] {
                let values: Vec<f32> = (0..rows * 11)
                    .map(|index| ((index * 13) % 23) as f32 * 0.37 - 3.9)
                    .collect();
                let mut side_by_side = vec![f32::NAN; rows * targets];
                model.scores_rows(&values, &mut side_by_side);
                let mut one_by_one = vec![f32::NAN; rows * targets];
                for (row, output) in values.chunks(11).zip(one_by_one.chunks_mut(targets)) {
                    model.scores(row, output);
                }
                assert_eq!(side_by_side, one_by_one, "{targets} targets, {rows} rows");
            }
        }
    }

    #[test]
    fn coefficients_that_are_not_one_row_per_target_are_refused() {
        assert!(Coefficients::new(&[1.0, 2.0, 3.0], vec![0.0, 0.0]).is_err());
        assert!(Coefficients::new(&[1.0, 2.0], vec![]).is_err());
        assert!(Coefficients::new(&[], vec![0.0]).is_err());
    }
}
