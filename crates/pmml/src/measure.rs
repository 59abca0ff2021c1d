//! ComparisonMeasure distances (euclidean, squared euclidean, city block, Chebyshev, Minkowski)
//! over compared fields, with the adjustment for missing inputs, as JPMML-Evaluator's
//! `MeasureUtil` computes them; shared by ClusteringModel and NearestNeighborModel.

use super::compile::{Compiler, ScopeId};
use super::error::Result;
use super::eval::Env;
use super::functions::equal;
use super::value::{DataType, Val};
use super::xml::El;

/// How two values of one field are compared.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Compare {
    /// `|x - y|`
    AbsDiff,
    /// 0 when equal, else 1.
    Delta,
    /// 1 when equal, else 0.
    Equal,
}

/// A compared field: its slot, comparison and weight.
#[derive(Clone, Debug)]
pub struct Compared {
    /// The field's slot.
    pub slot: u32,
    /// The field's data type.
    pub data_type: DataType,
    compare: Compare,
    weight: Option<f64>,
}

/// How the compared fields' terms make a distance.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// `(sum of |d|^p)^(1/outer)` (euclidean: p = outer = 2; squared: 2, 1; city block: 1, 1).
    Power { inner: f64, outer: f64 },
    /// The largest term.
    Chebychev,
}

/// A compiled distance measure.
#[derive(Clone, Debug)]
pub struct Measure {
    kind: Kind,
    default_compare: Compare,
}

impl Measure {
    /// Reads the ComparisonMeasure of `model`.
    pub fn read(model: &El<'_, '_>) -> Result<Measure> {
        let measure = model
            .child("ComparisonMeasure")
            .ok_or_else(|| model.invalid("a ComparisonMeasure is required"))?;
        if measure.attr("kind") != Some("distance") {
            return Err(measure.unsupported("a similarity measure"));
        }
        let function = measure
            .children()
            .next()
            .ok_or_else(|| measure.invalid("a measure is required"))?;
        let kind = match function.name() {
            "euclidean" => Kind::Power {
                inner: 2.0,
                outer: 2.0,
            },
            "squaredEuclidean" => Kind::Power {
                inner: 2.0,
                outer: 1.0,
            },
            "cityBlock" => Kind::Power {
                inner: 1.0,
                outer: 1.0,
            },
            "chebychev" => Kind::Chebychev,
            "minkowski" => {
                let p: f64 = function.required_number("p-parameter")?;
                if p.is_nan() || p < 0.0 {
                    return Err(function.invalid("the p-parameter must not be negative"));
                }
                Kind::Power { inner: p, outer: p }
            }
            other => return Err(function.unsupported(format!("the measure <{other}>"))),
        };
        Ok(Measure {
            kind,
            default_compare: read_compare(&measure, "compareFunction", Compare::AbsDiff)?,
        })
    }

    /// Compiles a compared field (a ClusteringField or KNNInput) named by `attribute`.
    pub fn field(
        &self,
        c: &mut Compiler<'_, '_>,
        scope: ScopeId,
        element: &El<'_, '_>,
        attribute: &str,
    ) -> Result<Compared> {
        let info = c.resolve(scope, element.required(attribute)?, element)?;
        Ok(Compared {
            slot: info.slot,
            data_type: info.data_type,
            compare: read_compare(element, "compareFunction", self.default_compare)?,
            weight: element.parsed("fieldWeight")?,
        })
    }

    /// The adjustment for missing values: the number of fields over the number present (`None`
    /// when all are missing).
    pub fn adjustment(values: &[Val]) -> Option<f64> {
        let present = values.iter().filter(|value| !value.is_missing()).count();
        (present > 0).then(|| values.len() as f64 / present as f64)
    }

    /// The distance between `values` and `reference`, skipping missing values.
    pub fn distance(
        &self,
        env: &Env<'_>,
        fields: &[Compared],
        values: &[Val],
        reference: &[Val],
        adjustment: f64,
    ) -> Result<f64> {
        let inner = match self.kind {
            Kind::Power { inner, .. } => inner,
            Kind::Chebychev => 1.0,
        };
        let mut total = 0.0;
        let mut largest = f64::NEG_INFINITY;
        for ((field, value), other) in fields.iter().zip(values).zip(reference) {
            if value.is_missing() {
                continue;
            }
            let mut term = match field.compare {
                Compare::AbsDiff => {
                    let x = env.as_number(*value)?.unwrap_or(f64::NAN);
                    let y = env.as_number(*other)?.unwrap_or(f64::NAN);
                    (x - y).abs()
                }
                Compare::Delta => f64::from(u8::from(!equal(env, *value, *other)?)),
                Compare::Equal => f64::from(u8::from(equal(env, *value, *other)?)),
            };
            term = term.powf(inner);
            if let Some(weight) = field.weight {
                term *= weight;
            }
            total += term;
            largest = largest.max(term);
        }
        Ok(match self.kind {
            Kind::Power { outer: 1.0, .. } => total * adjustment,
            Kind::Power { outer, .. } => (total * adjustment).powf(1.0 / outer),
            Kind::Chebychev => largest * adjustment,
        })
    }
}

impl Measure {
    /// [`Measure::adjustment`] for numbers (NaN: missing).
    pub fn adjustment_numbers(values: &[f64]) -> Option<f64> {
        let present = values.iter().filter(|value| !value.is_nan()).count();
        match present {
            0 => None,
            // The quotient, without dividing.
            _ if present == values.len() => Some(1.0),
            _ => Some(values.len() as f64 / present as f64),
        }
    }

    /// Whether the distance over `fields` is a sum of squared differences (euclidean or squared
    /// euclidean, every field compared by absolute difference and unweighted), which
    /// [`Measure::sum_squares`] computes without looking at each field's comparison.
    pub fn sums_squares(&self, fields: &[Compared]) -> bool {
        matches!(
            self.kind,
            Kind::Power {
                inner: 2.0,
                outer: 1.0 | 2.0
            }
        ) && fields
            .iter()
            .all(|field| field.compare == Compare::AbsDiff && field.weight.is_none())
    }

    /// The sum of squared differences between `values` (NaN: missing, skipped) and
    /// `reference`: [`Measure::distance_numbers`]'s terms for fields [`Measure::sums_squares`]
    /// accepts, summed in the same order; times the adjustment, the squared euclidean distance,
    /// the square of the euclidean one (see [`Measure::root_squares`]).
    #[inline]
    pub fn sum_squares(values: &[f64], reference: &[f64]) -> f64 {
        let mut total = 0.0;
        for (x, y) in values.iter().zip(reference) {
            if !x.is_nan() {
                let difference = x - y;
                total += difference * difference;
            }
        }
        total
    }

    /// Turns the adjusted sums of [`Measure::sum_squares`] (each entity's, in `distances`) into
    /// distances: their square roots for the euclidean distance, as they are for the squared
    /// one (no root taken in vain).
    pub fn root_squares<T>(&self, distances: &mut [(T, f64)]) {
        if let Kind::Power { outer: 2.0, .. } = self.kind {
            for (_, distance) in distances {
                *distance = distance.sqrt();
            }
        }
    }

    /// The distance between numbers `values` (NaN: missing, skipped) and `reference`, as
    /// [`Measure::distance`] computes it for numeric fields.
    pub fn distance_numbers(
        &self,
        fields: &[Compared],
        values: &[f64],
        reference: &[f64],
        adjustment: f64,
    ) -> f64 {
        let inner = match self.kind {
            Kind::Power { inner, .. } => inner,
            Kind::Chebychev => 1.0,
        };
        let mut total = 0.0;
        let mut largest = f64::NEG_INFINITY;
        for ((field, x), y) in fields.iter().zip(values).zip(reference) {
            if x.is_nan() {
                continue;
            }
            let mut term = match field.compare {
                Compare::AbsDiff => (x - y).abs(),
                Compare::Delta => f64::from(u8::from(x != y)),
                Compare::Equal => f64::from(u8::from(x == y)),
            };
            term = match inner {
                1.0 => term,
                2.0 => term * term,
                power => term.powf(power),
            };
            if let Some(weight) = field.weight {
                term *= weight;
            }
            total += term;
            largest = largest.max(term);
        }
        match self.kind {
            Kind::Power { outer: 1.0, .. } => total * adjustment,
            Kind::Power { outer: 2.0, .. } => (total * adjustment).sqrt(),
            Kind::Power { outer, .. } => (total * adjustment).powf(1.0 / outer),
            Kind::Chebychev => largest * adjustment,
        }
    }
}

fn read_compare(element: &El<'_, '_>, attribute: &str, default: Compare) -> Result<Compare> {
    match element.attr(attribute) {
        None => Ok(default),
        Some("absDiff") => Ok(Compare::AbsDiff),
        Some("delta") => Ok(Compare::Delta),
        Some("equal") => Ok(Compare::Equal),
        Some(other) => Err(element.bad_keyword(attribute, other)),
    }
}
