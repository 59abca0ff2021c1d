//! ClusteringModel (center-based): the distance from the record to every cluster's center, the
//! nearest cluster as the prediction, every cluster's distance as its affinity.

use super::compile::{Compiler, ScopeId};
use super::error::{Error, Result};
use super::eval::Env;
use super::measure::{Compared, Measure};
use super::models::Raw;
use super::output::Details;
use super::predicate::read_array;
use super::target::Categories;
use super::value::{DataType, Val};
use super::xml::El;

/// A compiled ClusteringModel.
#[derive(Clone, Debug)]
pub struct Clustering {
    measure: Measure,
    fields: Vec<Compared>,
    /// Whether the distance is a plain sum of squares ([`Measure::sums_squares`]).
    squares: bool,
    /// The clusters' centers, one after the other.
    centers: Vec<f64>,
    /// Each cluster's id (its `id`, or its 1-based position) as a string value.
    ids: Vec<Val>,
    /// The record's values of the fields, NaN when missing (reused between records).
    values: Vec<f64>,
    /// Whether the clusters are ranked by distance (for output fields that read ranks; else
    /// they stay in document order).
    ranks: bool,
}

impl Clustering {
    /// Compiles a ClusteringModel element; the clusters become the categories.
    pub fn compile(
        c: &mut Compiler<'_, '_>,
        scope: ScopeId,
        element: &El<'_, '_>,
        categories: &mut Categories,
    ) -> Result<Clustering> {
        if element.attr("modelClass") == Some("distributionBased") {
            return Err(element.bad_keyword("modelClass", "distributionBased"));
        }
        if let Some(weights) = element.child("MissingValueWeights") {
            return Err(weights.unsupported("MissingValueWeights"));
        }
        let measure = Measure::read(element)?;
        let mut fields = Vec::new();
        for field in element.children_named("ClusteringField") {
            if field.attr("isCenterField") == Some("false") {
                continue;
            }
            fields.push(measure.field(c, scope, &field, "field")?);
        }
        let mut centers = Vec::new();
        let mut ids = Vec::new();
        for (position, cluster) in element.children_named("Cluster").enumerate() {
            let array = cluster
                .child("Array")
                .ok_or_else(|| cluster.unsupported("a Cluster without an Array"))?;
            let center = read_array(c, &array, DataType::Double)?;
            if center.len() != fields.len() {
                return Err(cluster.invalid(format!(
                    "the center has {} values for {} fields",
                    center.len(),
                    fields.len()
                )));
            }
            centers.extend(center.iter().map(|value| match value {
                Val::Num(number) => *number,
                _ => f64::NAN,
            }));
            let id = match cluster.attr("id") {
                Some(id) => id.to_owned(),
                None => (position + 1).to_string(),
            };
            if categories.index_for(c, &id, &cluster)? != ids.len() {
                return Err(cluster.invalid(format!("the cluster id `{id}` is used twice")));
            }
            ids.push(Val::Str(c.program.interner.intern(&id)));
        }
        if ids.is_empty() {
            return Err(element.invalid("the model has no Cluster"));
        }
        let values = vec![f64::NAN; fields.len()];
        Ok(Clustering {
            squares: measure.sums_squares(&fields),
            measure,
            fields,
            centers,
            ids,
            values,
            ranks: true,
        })
    }

    /// Ranks the clusters by distance only when `ranks` (some output field reads ranks).
    pub fn rank_when(&mut self, ranks: bool) {
        self.ranks = ranks;
    }

    /// Scores the current record: the nearest cluster, every cluster's distance in `details`
    /// (nearest first, when ranked).
    pub fn evaluate(&mut self, env: &mut Env<'_>, details: &mut Details) -> Result<Raw> {
        for (value, field) in self.values.iter_mut().zip(&self.fields) {
            *value = env.number(field.slot)?.unwrap_or(f64::NAN);
        }
        let adjustment = Measure::adjustment_numbers(&self.values)
            .ok_or_else(|| Error::scoring("every clustering field is missing"))?;
        self.distances(adjustment, &mut details.ranked);
        let winner = nearest(&details.ranked);
        if self.ranks {
            details.ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
        }
        Ok(Raw::Class {
            winner,
            probabilities: false,
        })
    }

    /// Every cluster's id and distance from the record's values, in cluster order.
    fn distances(&self, adjustment: f64, ranked: &mut Vec<(Val, f64)>) {
        ranked.clear();
        let width = self.fields.len();
        for (index, id) in self.ids.iter().enumerate() {
            let center = &self.centers[index * width..(index + 1) * width];
            let distance = match self.squares {
                true => Measure::sum_squares(&self.values, center) * adjustment,
                false => {
                    self.measure
                        .distance_numbers(&self.fields, &self.values, center, adjustment)
                }
            };
            ranked.push((*id, distance));
        }
        if self.squares {
            self.measure.root_squares(ranked);
        }
    }
}

/// The index of the nearest cluster (the first of those as near), 0 when none is.
fn nearest(distances: &[(Val, f64)]) -> usize {
    let mut best: Option<(usize, f64)> = None;
    for (index, (_, distance)) in distances.iter().enumerate() {
        if best.is_none_or(|(_, nearest)| *distance < nearest) {
            best = Some((index, *distance));
        }
    }
    best.map_or(0, |(index, _)| index)
}
