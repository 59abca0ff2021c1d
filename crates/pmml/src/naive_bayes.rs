//! NaiveBayesModel: log prior counts plus, per input, the log of a Gaussian density or of a
//! count share (a category's, or a Discretize bin's), floored at the model's threshold, then a
//! softmax, as JPMML-Evaluator computes them. Missing inputs are skipped.

use super::compile::{Compiler, ScopeId};
use super::error::Result;
use super::eval::Env;
use super::functions::equal;
use super::models::Raw;
use super::regression::softmax;
use super::target::{winner, Categories};
use super::value::Val;
use super::xml::El;

/// How one input contributes.
#[derive(Clone, Debug)]
enum Likelihood {
    /// A Gaussian density per category: (mean, standard deviation, log of the standard deviation
    /// plus half the log of 2π).
    Gaussian(Vec<(f64, f64, f64)>),
    /// For each of the input's values, one probability per category (counts over their sum,
    /// the threshold for a zero count).
    Counts(Vec<(Val, Vec<f64>)>),
}

#[derive(Clone, Debug)]
struct Input {
    slot: u32,
    likelihood: Likelihood,
}

/// A compiled NaiveBayesModel.
#[derive(Clone, Debug)]
pub struct NaiveBayes {
    threshold: f64,
    /// The log of each category's prior count.
    priors: Vec<f64>,
    inputs: Vec<Input>,
}

impl NaiveBayes {
    /// Compiles a NaiveBayesModel element.
    pub fn compile(
        c: &mut Compiler<'_, '_>,
        scope: ScopeId,
        element: &El<'_, '_>,
        categories: &mut Categories,
    ) -> Result<NaiveBayes> {
        let threshold = element.required_number("threshold")?;
        let output = element
            .child("BayesOutput")
            .ok_or_else(|| element.invalid("a BayesOutput is required"))?;
        let prior_counts = read_counts(c, &output, categories)?;
        let inputs_element = element
            .child("BayesInputs")
            .ok_or_else(|| element.invalid("BayesInputs are required"))?;
        let mut inputs = Vec::new();
        for input in inputs_element.children_named("BayesInput") {
            inputs.push(compile_input(c, scope, &input, categories)?);
        }
        let count = categories.len();
        let mut priors = vec![f64::NEG_INFINITY; count];
        for (category, prior) in prior_counts {
            priors[category] = prior.ln();
        }
        for input in &mut inputs {
            input.likelihood.fit(count, threshold);
        }
        Ok(NaiveBayes {
            threshold,
            priors,
            inputs,
        })
    }

    /// Scores the current record; the class probabilities go to `probabilities`.
    pub fn evaluate(&self, env: &mut Env<'_>, probabilities: &mut [f64]) -> Result<Raw> {
        // Categories added after the model (by output fields) get no probability.
        probabilities.fill(f64::NEG_INFINITY);
        probabilities[..self.priors.len()].copy_from_slice(&self.priors);
        for input in &self.inputs {
            let value = env.value(input.slot)?;
            if value.is_missing() {
                continue;
            }
            match &input.likelihood {
                Likelihood::Gaussian(parameters) => {
                    let Some(x) = env.as_number(value)? else {
                        continue;
                    };
                    for (log, (mean, deviation, offset)) in probabilities.iter_mut().zip(parameters)
                    {
                        if deviation.is_nan() {
                            continue;
                        }
                        let z = (x - mean) / deviation;
                        let density = (-0.5 * z * z - offset).exp();
                        *log += density.max(self.threshold).ln();
                    }
                }
                Likelihood::Counts(rows) => {
                    for (case, shares) in rows {
                        if equal(env, value, *case)? {
                            probabilities
                                .iter_mut()
                                .zip(shares)
                                .filter(|(_, share)| !share.is_nan())
                                .for_each(|(log, share)| *log += share.ln());
                            break;
                        }
                    }
                }
            }
        }
        softmax(probabilities)?;
        Ok(Raw::Class {
            winner: winner(probabilities).unwrap_or(0),
            probabilities: true,
        })
    }
}

impl Likelihood {
    /// Pads the per-category rows to `count` categories (NaN: a category the row does not
    /// mention, which it leaves alone) and turns counts into shares (the threshold for a zero
    /// count, as JPMML does).
    fn fit(&mut self, count: usize, threshold: f64) {
        match self {
            Likelihood::Gaussian(parameters) => {
                parameters.resize(count, (0.0, f64::NAN, f64::NAN));
            }
            Likelihood::Counts(rows) => {
                let mut sums = vec![0.0; count];
                for (_, counts) in rows.iter_mut() {
                    counts.resize(count, f64::NAN);
                    for (sum, count) in sums.iter_mut().zip(counts.iter()) {
                        if !count.is_nan() {
                            *sum += count;
                        }
                    }
                }
                for (_, counts) in rows.iter_mut() {
                    for (share, sum) in counts.iter_mut().zip(&sums) {
                        if *share == 0.0 {
                            *share = threshold;
                        } else {
                            *share /= sum;
                        }
                    }
                }
            }
        }
    }
}

fn compile_input(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    input: &El<'_, '_>,
    categories: &mut Categories,
) -> Result<Input> {
    let field = input.required("fieldName")?;
    if input.child("DerivedField").is_some() {
        return Err(input.unsupported("a BayesInput with a DerivedField"));
    }
    let info = c.resolve(scope, field, input)?;
    if let Some(stats) = input.child("TargetValueStats") {
        let mut parameters = Vec::new();
        for stat in stats.children_named("TargetValueStat") {
            let category = categories.index_for(c, stat.required("value")?, &stat)?;
            let gaussian = stat
                .child("GaussianDistribution")
                .ok_or_else(|| stat.unsupported("a distribution other than Gaussian"))?;
            let mean: f64 = gaussian.required_number("mean")?;
            let variance: f64 = gaussian.required_number("variance")?;
            if variance.is_nan() || variance <= 0.0 {
                return Err(gaussian.invalid("the variance must be positive"));
            }
            let deviation = variance.sqrt();
            let offset = deviation.ln() + 0.5 * (2.0 * std::f64::consts::PI).ln();
            if parameters.len() <= category {
                parameters.resize(category + 1, (0.0, f64::NAN, f64::NAN));
            }
            parameters[category] = (mean, deviation, offset);
        }
        return Ok(Input {
            slot: info.slot,
            likelihood: Likelihood::Gaussian(parameters),
        });
    }
    let mut rows = Vec::new();
    for pair in input.children_named("PairCounts") {
        let value = c.literal(pair.required("value")?, info.data_type, &pair)?;
        let counts = pair
            .child("TargetValueCounts")
            .ok_or_else(|| pair.invalid("TargetValueCounts are required"))?;
        let mut dense = Vec::new();
        for (category, count) in read_counts_in(c, &counts, categories)? {
            if dense.len() <= category {
                dense.resize(category + 1, f64::NAN);
            }
            dense[category] = count;
        }
        rows.push((value, dense));
    }
    Ok(Input {
        slot: info.slot,
        likelihood: Likelihood::Counts(rows),
    })
}

/// The (category, count) pairs of the TargetValueCounts inside `parent`.
fn read_counts(
    c: &mut Compiler<'_, '_>,
    parent: &El<'_, '_>,
    categories: &mut Categories,
) -> Result<Vec<(usize, f64)>> {
    let counts = parent
        .child("TargetValueCounts")
        .ok_or_else(|| parent.invalid("TargetValueCounts are required"))?;
    read_counts_in(c, &counts, categories)
}

fn read_counts_in(
    c: &mut Compiler<'_, '_>,
    counts: &El<'_, '_>,
    categories: &mut Categories,
) -> Result<Vec<(usize, f64)>> {
    counts
        .children_named("TargetValueCount")
        .map(|count| {
            Ok((
                categories.index_for(c, count.required("value")?, &count)?,
                count.required_number("count")?,
            ))
        })
        .collect()
}
