//! The post transforms of the ONNX-ML operators (`post_transform`), computed in float32 with
//! onnxruntime's formulas (`ml_common.h`).

/// What is applied to the aggregated scores (`post_transform`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostTransform {
    /// `NONE`.
    None,
    /// `LOGISTIC`: `1 / (1 + exp(-x))` per column.
    Logistic,
    /// `SOFTMAX` over the columns.
    Softmax,
    /// `SOFTMAX_ZERO`: a softmax that leaves columns equal to 0 at 0.
    SoftmaxZero,
    /// `PROBIT`: the inverse of the standard normal distribution function, per column.
    Probit,
}

impl PostTransform {
    /// The transform a `post_transform` attribute names; `NONE` when absent.
    pub fn from_name(name: Option<&str>) -> anyhow::Result<Self> {
        Ok(match name {
            None | Some("NONE") => PostTransform::None,
            Some("LOGISTIC") => PostTransform::Logistic,
            Some("SOFTMAX") => PostTransform::Softmax,
            Some("SOFTMAX_ZERO") => PostTransform::SoftmaxZero,
            Some("PROBIT") => PostTransform::Probit,
            Some(other) => {
                anyhow::bail!("post_transform `{other}` is not an ONNX-ML post transform")
            }
        })
    }

    /// The transform an integer `post_transform` attribute (ONNX-ML 5) names as onnxruntime
    /// reads it; `NONE` when absent. onnxruntime (1.32) reads the codes in the order of its own
    /// enumeration, 1 as `LOGISTIC` and 2 as `SOFTMAX`, where the ONNX specification has
    /// `SOFTMAX` = 1 and `LOGISTIC` = 2; the others agree.
    pub fn from_code(code: Option<i64>) -> anyhow::Result<Self> {
        Ok(match code {
            None | Some(0) => PostTransform::None,
            Some(1) => PostTransform::Logistic,
            Some(2) => PostTransform::Softmax,
            Some(3) => PostTransform::SoftmaxZero,
            Some(4) => PostTransform::Probit,
            Some(other) => {
                anyhow::bail!("post_transform {other} is not an ONNX-ML post transform (0 to 4)")
            }
        })
    }

    /// Applies the transform to each row of `columns` scores of `values`, in place: as
    /// [`Self::apply`] row by row, the softmax's exponentials in one loop.
    pub fn apply_rows(self, values: &mut [f32], columns: usize) {
        if self == PostTransform::Softmax && columns > 1 {
            softmax_rows(values, columns);
        } else if columns > 0 {
            values
                .chunks_exact_mut(columns)
                .for_each(|row| self.apply(row));
        }
    }

    /// Applies the transform to one row of scores in place. A single score only takes `PROBIT`,
    /// as in onnxruntime.
    pub fn apply(self, values: &mut [f32]) {
        if values.len() == 1 {
            if self == PostTransform::Probit {
                values[0] = probit(values[0]);
            }
            return;
        }
        match self {
            PostTransform::None => {}
            PostTransform::Logistic => values.iter_mut().for_each(|v| *v = logistic(*v)),
            PostTransform::Softmax => softmax(values),
            PostTransform::SoftmaxZero => softmax_zero(values),
            PostTransform::Probit => values.iter_mut().for_each(|v| *v = probit(*v)),
        }
    }
}

/// The logistic function, computed on `|x|` for stability.
pub fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 {
        1.0 - v
    } else {
        v
    }
}

fn largest(values: &[f32]) -> f32 {
    values
        .iter()
        .fold(-f32::MAX, |max, &v| if v > max { v } else { max })
}

/// The softmax of `values`, in place: `exp(v - max) / sum`, with [`exp_of_nonpositive`].
pub fn softmax(values: &mut [f32]) {
    softmax_rows(values, values.len());
}

/// The softmax of each row of `row` values of `values`, in place: `exp(v - max) / sum`, with
/// [`exp_of_nonpositive`], the exponentials of all rows in one loop (which the compiler
/// vectorizes).
pub fn softmax_rows(values: &mut [f32], row: usize) {
    if row == 0 {
        return;
    }
    for values in values.chunks_exact_mut(row) {
        let max = largest(values);
        values.iter_mut().for_each(|value| *value -= max);
    }
    values
        .iter_mut()
        .for_each(|value| *value = exp_of_nonpositive(*value));
    for values in values.chunks_exact_mut(row) {
        let sum = values.iter().fold(0.0f32, |sum, value| sum + value);
        values.iter_mut().for_each(|value| *value /= sum);
    }
}

/// `exp(x)` for `x <= 0` (a score less the row's largest), within one unit in the last place of
/// the exact value (Cephes' `expf`: `2^n · p(r)`, `r = x - n·ln 2` in two parts, `p` of degree
/// 7), written without calls, branches or saturating conversions so that a loop of it is
/// vectorized. Below the smallest normal float's logarithm it is 0 (where `f32::exp` gives
/// subnormals, under 1.2e-38), and is computed from that logarithm so that no intermediate
/// value is subnormal; NaN stays NaN.
pub fn exp_of_nonpositive(x: f32) -> f32 {
    /// Adding 1.5 · 2²³ to a float below 2²² rounds it to the nearest integer, which the sum's
    /// low mantissa bits hold (as an offset from the constant's own bits).
    const ROUNDER: f32 = 12_582_912.0;
    const LN2_HIGH: f32 = 0.693_359_4;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    /// `ln(2⁻¹²⁶)`: below it, `2^n` is not a normal float.
    const SMALLEST: f32 = -87.336_55;
    let bounded = if x < SMALLEST { SMALLEST } else { x };
    let shifted = bounded * std::f32::consts::LOG2_E + ROUNDER;
    let n = shifted - ROUNDER;
    let r = bounded - n * LN2_HIGH - n * LN2_LOW;
    let p = [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5,
    ]
    .into_iter()
    .fold(1.987_569_1e-4f32, |p, coefficient| p * r + coefficient);
    let mantissa = p * r * r + r + 1.0;
    // `2^n`, its biased exponent `n + 127` (1 to 127 here) taken from `shifted`'s bits.
    let exponent = shifted.to_bits().wrapping_sub(ROUNDER.to_bits());
    let power = f32::from_bits(exponent.wrapping_add(127) << 23);
    // A product rather than a choice, so that the computation is not moved to `x` itself.
    let kept = if x < SMALLEST { 0.0 } else { 1.0 };
    mantissa * power * kept
}

/// A softmax over the non-zero scores (those within 1e-7 of 0 stay near 0).
fn softmax_zero(values: &mut [f32]) {
    let max = largest(values);
    let scale_of_zero = (-max).exp();
    let mut sum = 0.0f32;
    for value in values.iter_mut() {
        if *value > 0.000_000_1 || *value < -0.000_000_1 {
            *value = (*value - max).exp();
            sum += *value;
        } else {
            *value *= scale_of_zero;
        }
    }
    values.iter_mut().for_each(|value| *value /= sum);
}

/// `sqrt(2) * erfinv(2p - 1)`, with the approximation of the inverse error function that
/// onnxruntime uses (Winitzki's, a = 0.147).
pub fn probit(p: f32) -> f32 {
    std::f32::consts::SQRT_2 * inverse_erf(2.0 * p - 1.0)
}

fn inverse_erf(x: f32) -> f32 {
    const A: f32 = 0.147;
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let ln = ((1.0 - x) * (1.0 + x)).ln();
    let v = 2.0 / (std::f32::consts::PI * A) + 0.5 * ln;
    let v2 = 1.0 / A * ln;
    sign * (-v + (v * v - v2).sqrt()).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms_match_onnxruntime_formulas() {
        let mut values = [1.0, 2.0, 0.0];
        PostTransform::Softmax.apply(&mut values);
        assert!((values[1] - 0.665_240_94).abs() < 1e-7, "{values:?}");
        let mut values = [1.0, 2.0, 0.0];
        PostTransform::SoftmaxZero.apply(&mut values);
        assert!((values[1] - 0.731_058_6).abs() < 1e-7 && values[2] == 0.0);
        assert!((logistic(-2.0) - 0.119_202_92).abs() < 1e-7);
        // The approximation is close to, but not exactly, the normal quantile.
        assert!((probit(0.975) - 1.959_964).abs() < 2e-3);
        assert_eq!(probit(0.5), 0.0);
        let mut single = [0.3];
        PostTransform::Logistic.apply(&mut single);
        assert_eq!(single, [0.3]);
    }

    #[test]
    fn the_exponential_is_within_a_unit_in_the_last_place() {
        for step in 0..=1_000_000 {
            let x = -87.3 * step as f32 / 1e6;
            let (got, exact) = (exp_of_nonpositive(x), f64::from(x).exp());
            let ulp = f64::from(f32::EPSILON) * exact;
            assert!(
                (f64::from(got) - exact).abs() <= ulp,
                "exp({x}) = {got}, not {exact}"
            );
        }
        assert_eq!(exp_of_nonpositive(0.0), 1.0);
        assert_eq!(exp_of_nonpositive(-100.0), 0.0);
        assert_eq!(exp_of_nonpositive(f32::NEG_INFINITY), 0.0);
        assert!(exp_of_nonpositive(f32::NAN).is_nan());
    }

    #[test]
    fn a_batch_of_softmaxes_is_the_softmax_of_each_row() {
        let rows: Vec<f32> = (0..7 * 6)
            .map(|index| ((index * 37) % 101) as f32 * 0.37 - 15.0)
            .collect();
        let mut batch = rows.clone();
        PostTransform::Softmax.apply_rows(&mut batch, 6);
        for (row, batched) in rows.chunks(6).zip(batch.chunks(6)) {
            let mut alone = row.to_vec();
            PostTransform::Softmax.apply(&mut alone);
            assert_eq!(alone, batched);
        }
    }
}
