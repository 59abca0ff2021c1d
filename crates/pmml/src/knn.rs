//! NearestNeighborModel: the training instances in one flat array, the distance to each computed
//! per record, the k nearest (ties to the earlier instance) voting for a class or averaging a
//! value, as JPMML-Evaluator does; the neighbours' ids and distances go to the details.

use super::compile::{Compiler, ScopeId};
use super::error::{Error, Result};
use super::eval::Env;
use super::measure::{Compared, Measure};
use super::models::{Function, Raw};
use super::output::Details;
use super::target::Categories;
use super::value::Val;
use super::xml::El;

/// How the neighbours' values make a regression result.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Continuous {
    Average,
    WeightedAverage,
    Median,
}

/// A compiled NearestNeighborModel.
#[derive(Clone, Debug)]
pub struct NearestNeighbors {
    function: Function,
    measure: Measure,
    inputs: Vec<Compared>,
    /// The instances' input values, one instance after the other.
    instances: Vec<Val>,
    /// The same as numbers, when every input is numeric (the fast path).
    numbers: Option<Vec<f64>>,
    /// Each instance's target: a category index (as a number) or a value.
    targets: Vec<f64>,
    /// Each instance's id.
    ids: Vec<Val>,
    neighbors: usize,
    continuous: Continuous,
    weighted_vote: bool,
    threshold: f64,
    /// How often each category is the target of an instance (for breaking ties).
    category_counts: Vec<f64>,
    /// The record's input values (as numbers too, NaN: missing) and every instance's
    /// (distance, index) (reused).
    values: Vec<Val>,
    record: Vec<f64>,
    distances: Vec<(f64, usize)>,
    scratch: Vec<f64>,
}

impl NearestNeighbors {
    /// Compiles a NearestNeighborModel element.
    pub fn compile(
        c: &mut Compiler<'_, '_>,
        scope: ScopeId,
        element: &El<'_, '_>,
        function: Function,
        target: Option<&str>,
        categories: Option<&mut Categories>,
    ) -> Result<NearestNeighbors> {
        let measure = Measure::read(element)?;
        let inputs_element = element
            .child("KNNInputs")
            .ok_or_else(|| element.invalid("KNNInputs are required"))?;
        let mut inputs = Vec::new();
        let mut names = Vec::new();
        for input in inputs_element.children_named("KNNInput") {
            inputs.push(measure.field(c, scope, &input, "field")?);
            names.push(input.required("field")?);
        }
        let neighbors: usize = element.required_number("numberOfNeighbors")?;
        let mut model = NearestNeighbors {
            function,
            measure,
            inputs,
            instances: Vec::new(),
            numbers: None,
            targets: Vec::new(),
            ids: Vec::new(),
            neighbors,
            continuous: read_continuous(element)?,
            weighted_vote: read_weighted_vote(element)?,
            threshold: element.parsed_or("threshold", 0.001)?,
            category_counts: Vec::new(),
            values: vec![Val::Missing; names.len()],
            record: vec![f64::NAN; names.len()],
            distances: Vec::new(),
            scratch: Vec::new(),
        };
        let table = Table::read(element, &names, target)?;
        model.load(c, element, &table, categories)?;
        if neighbors == 0 || neighbors > model.ids.len() {
            return Err(element.invalid(format!(
                "numberOfNeighbors=\"{neighbors}\" but there are {} instances",
                model.ids.len()
            )));
        }
        Ok(model)
    }

    /// Reads the instances' inputs, targets and ids.
    fn load(
        &mut self,
        c: &mut Compiler<'_, '_>,
        element: &El<'_, '_>,
        table: &Table<'_, '_>,
        categories: Option<&mut Categories>,
    ) -> Result<()> {
        let mut categories = categories;
        for (index, row) in table.rows.iter().enumerate() {
            for (cell, input) in row.inputs.iter().zip(&self.inputs) {
                self.instances
                    .push(c.literal(cell.text(), input.data_type, cell)?);
            }
            self.targets
                .push(match (self.function, categories.as_deref_mut()) {
                    (Function::Classification, Some(categories)) => {
                        categories.index_for(c, row.target.text(), &row.target)? as f64
                    }
                    _ => row.target.text().trim().parse().map_err(|_| {
                        row.target
                            .invalid(format!("`{}` is not a number", row.target.text()))
                    })?,
                });
            let id = match row.id {
                Some(cell) => cell.text().to_owned(),
                None => (index + 1).to_string(),
            };
            self.ids.push(Val::Str(c.program.interner.intern(&id)));
        }
        if let Some(categories) = categories {
            self.category_counts = vec![0.0; categories.len()];
            for target in &self.targets {
                self.category_counts[*target as usize] += 1.0;
            }
            self.scratch = vec![0.0; categories.len()];
        }
        if self.ids.is_empty() {
            return Err(element.invalid("the model has no training instances"));
        }
        if self.inputs.iter().all(|input| input.data_type.is_numeric()) {
            let numbers = self.instances.iter().map(|value| match value {
                Val::Num(number) => *number,
                _ => f64::NAN,
            });
            self.numbers = Some(numbers.collect());
        }
        Ok(())
    }

    /// Scores the current record.
    pub fn evaluate(&mut self, env: &mut Env<'_>, details: &mut Details) -> Result<Raw> {
        self.rank(env)?;
        details.ranked.clear();
        for (distance, index) in &self.distances[..self.neighbors] {
            details.ranked.push((self.ids[*index], *distance));
        }
        match self.function {
            Function::Classification => Ok(self.vote()),
            _ => Ok(Raw::Value(self.average())),
        }
    }

    /// Sorts the instances by distance (ties: the earlier first), the k nearest at the front.
    fn rank(&mut self, env: &mut Env<'_>) -> Result<()> {
        self.measure_distances(env)?;
        let order = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        let k = self.neighbors;
        if k < self.distances.len() {
            self.distances.select_nth_unstable_by(k - 1, order);
        }
        self.distances[..k].sort_unstable_by(order);
        Ok(())
    }

    /// Every instance's distance to the record.
    fn measure_distances(&mut self, env: &mut Env<'_>) -> Result<()> {
        let width = self.inputs.len();
        self.distances.clear();
        if let Some(numbers) = &self.numbers {
            for (value, input) in self.record.iter_mut().zip(&self.inputs) {
                *value = env.number(input.slot)?.unwrap_or(f64::NAN);
            }
            let adjustment = Measure::adjustment_numbers(&self.record).ok_or_else(all_missing)?;
            for (index, instance) in numbers.chunks_exact(width).enumerate() {
                let distance =
                    self.measure
                        .distance_numbers(&self.inputs, &self.record, instance, adjustment);
                self.distances.push((distance, index));
            }
            return Ok(());
        }
        for (value, input) in self.values.iter_mut().zip(&self.inputs) {
            *value = env.value(input.slot)?;
        }
        let adjustment = Measure::adjustment(&self.values).ok_or_else(all_missing)?;
        for index in 0..self.ids.len() {
            let instance = &self.instances[index * width..(index + 1) * width];
            let distance =
                self.measure
                    .distance(env, &self.inputs, &self.values, instance, adjustment)?;
            self.distances.push((distance, index));
        }
        Ok(())
    }

    fn weight(&self, distance: f64) -> f64 {
        1.0 / (distance + self.threshold)
    }

    /// The (weighted) majority vote of the k nearest; ties go to the category more frequent
    /// among all instances, then to the smallest label (as JPMML breaks them).
    fn vote(&mut self) -> Raw {
        let votes = &mut self.scratch;
        votes.iter_mut().for_each(|vote| *vote = 0.0);
        for (distance, index) in &self.distances[..self.neighbors] {
            let weight = if self.weighted_vote {
                1.0 / (distance + self.threshold)
            } else {
                1.0
            };
            votes[self.targets[*index] as usize] += weight;
        }
        let top = votes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut winner = None;
        for (category, vote) in votes.iter().enumerate() {
            if *vote == top
                && winner.is_none_or(|best: usize| {
                    self.category_counts[category] > self.category_counts[best]
                })
            {
                winner = Some(category);
            }
        }
        Raw::Class {
            winner: winner.unwrap_or(0),
            probabilities: false,
        }
    }

    fn average(&mut self) -> f64 {
        let nearest = &self.distances[..self.neighbors];
        match self.continuous {
            Continuous::Average => {
                let sum: f64 = nearest.iter().map(|(_, index)| self.targets[*index]).sum();
                sum / nearest.len() as f64
            }
            Continuous::WeightedAverage => {
                let (mut sum, mut weights) = (0.0, 0.0);
                for (distance, index) in nearest {
                    let weight = self.weight(*distance);
                    sum += weight * self.targets[*index];
                    weights += weight;
                }
                sum / weights
            }
            Continuous::Median => {
                self.scratch.clear();
                self.scratch
                    .extend(nearest.iter().map(|(_, index)| self.targets[*index]));
                super::mining::median(&mut self.scratch)
            }
        }
    }
}

fn all_missing() -> Error {
    Error::scoring("every input of the neighbour search is missing")
}

fn read_continuous(element: &El<'_, '_>) -> Result<Continuous> {
    match element.attr("continuousScoringMethod").unwrap_or("average") {
        "average" => Ok(Continuous::Average),
        "weightedAverage" => Ok(Continuous::WeightedAverage),
        "median" => Ok(Continuous::Median),
        other => Err(element.bad_keyword("continuousScoringMethod", other)),
    }
}

fn read_weighted_vote(element: &El<'_, '_>) -> Result<bool> {
    match element
        .attr("categoricalScoringMethod")
        .unwrap_or("majorityVote")
    {
        "majorityVote" => Ok(false),
        "weightedMajorityVote" => Ok(true),
        other => Err(element.bad_keyword("categoricalScoringMethod", other)),
    }
}

/// One training instance's cells.
struct Row<'a, 'input> {
    inputs: Vec<El<'a, 'input>>,
    target: El<'a, 'input>,
    id: Option<El<'a, 'input>>,
}

/// The TrainingInstances' rows, their cells in the order of the KNN inputs.
struct Table<'a, 'input> {
    rows: Vec<Row<'a, 'input>>,
}

impl<'a, 'input> Table<'a, 'input> {
    fn read(element: &El<'a, 'input>, inputs: &[&str], target: Option<&str>) -> Result<Self> {
        let instances = element
            .child("TrainingInstances")
            .ok_or_else(|| element.invalid("TrainingInstances are required"))?;
        let fields = instances
            .child("InstanceFields")
            .ok_or_else(|| instances.invalid("InstanceFields are required"))?;
        let column = |name: &str| -> Option<String> {
            fields
                .children_named("InstanceField")
                .find(|field| field.attr("field") == Some(name))
                .map(|field| field.attr("column").unwrap_or(name).to_owned())
        };
        let missing = |name: &str| instances.invalid(format!("no InstanceField for `{name}`"));
        let input_columns = inputs
            .iter()
            .map(|name| column(name).ok_or_else(|| missing(name)))
            .collect::<Result<Vec<_>>>()?;
        let target =
            target.ok_or_else(|| element.unsupported("a NearestNeighborModel without a target"))?;
        let target_column = column(target).ok_or_else(|| missing(target))?;
        let id_column = element
            .attr("instanceIdVariable")
            .map(|name| column(name).ok_or_else(|| missing(name)))
            .transpose()?;
        if instances.child("TableLocator").is_some() {
            return Err(instances.unsupported("a TableLocator (external table)"));
        }
        let table = instances
            .child("InlineTable")
            .ok_or_else(|| instances.invalid("an InlineTable is required"))?;
        let mut rows = Vec::new();
        for row in table.children_named("row") {
            let cell = |name: &str| {
                row.all_children()
                    .find(|cell| cell.has_qualified_name(name))
                    .ok_or_else(|| row.invalid(format!("the row has no `{name}` cell")))
            };
            rows.push(Row {
                inputs: input_columns
                    .iter()
                    .map(|name| cell(name))
                    .collect::<Result<_>>()?,
                target: cell(&target_column)?,
                id: id_column.as_deref().map(cell).transpose()?,
            });
        }
        Ok(Table { rows })
    }
}
