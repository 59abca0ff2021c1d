//! SupportVectorMachineModel: the support vectors in one flat array (coordinate by coordinate, so
//! that the kernels of all vectors are computed together, vectorized), the kernel of each computed
//! once per record and shared by every machine, one-against-one votes or one-against-all
//! distances, in JPMML-Evaluator's order of operations.

use std::collections::HashMap;

use super::compile::{Compiler, ScopeId};
use super::error::{Error, Result};
use super::eval::Env;
use super::fastmath::exp_in_place;
use super::functions::{equal, java_round};
use super::models::{Function, Raw};
use super::predicate::read_array;
use super::target::Categories;
use super::value::{DataType, Val};
use super::xml::El;

/// A kernel function.
#[derive(Clone, Copy, Debug)]
enum Kernel {
    Linear,
    Polynomial { gamma: f64, coef0: f64, degree: f64 },
    RadialBasis { gamma: f64 },
    Sigmoid { gamma: f64, coef0: f64 },
}

/// One coordinate of the input vector.
#[derive(Clone, Debug)]
enum Coordinate {
    /// A number field.
    Field(u32),
    /// 1 when a field equals a category, else 0.
    Indicator(u32, Val),
}

/// One SupportVectorMachine.
#[derive(Clone, Debug)]
struct Machine {
    /// (support vector index, coefficient) pairs.
    terms: Vec<(usize, f64)>,
    absolute: f64,
    /// The category a value below the threshold votes for (or that the distance is for).
    target: usize,
    /// The category a value at or above the threshold votes for.
    alternate: Option<usize>,
    threshold: f64,
}

/// How the machines' values make a class.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Method {
    /// Each machine votes; probabilities are the vote shares.
    OneAgainstOne,
    /// The category of the machine with the smallest value wins.
    OneAgainstAll,
}

/// A compiled SupportVectorMachineModel.
#[derive(Clone, Debug)]
pub struct SupportVectorMachine {
    function: Function,
    kernel: Kernel,
    method: Method,
    /// With an `alternateBinaryTargetCategory`: that category (a rounded value of 0 votes for
    /// it, 1 for the machine's target).
    binary_alternate: Option<usize>,
    coordinates: Vec<Coordinate>,
    /// The support vectors by coordinate: the first coordinate of every vector, then the
    /// second, ...
    columns: Vec<f64>,
    machines: Vec<Machine>,
    /// The input vector, then each support vector's kernel value (reused between records).
    input: Vec<f64>,
    kernels: Vec<f64>,
    /// Categories in the order they first received a vote (reused between records).
    vote_order: Vec<usize>,
}

impl SupportVectorMachine {
    /// Compiles a SupportVectorMachineModel element.
    pub fn compile(
        c: &mut Compiler<'_, '_>,
        scope: ScopeId,
        element: &El<'_, '_>,
        function: Function,
        categories: Option<&mut Categories>,
        float: bool,
    ) -> Result<SupportVectorMachine> {
        if float {
            return Err(element.unsupported("a support vector machine in float mathContext"));
        }
        if let Some(representation) = element
            .attr("svmRepresentation")
            .filter(|keyword| *keyword != "SupportVectors")
        {
            return Err(element.bad_keyword("svmRepresentation", representation));
        }
        let method = match element
            .attr("classificationMethod")
            .unwrap_or("OneAgainstAll")
        {
            "OneAgainstOne" => Method::OneAgainstOne,
            "OneAgainstAll" => Method::OneAgainstAll,
            other => return Err(element.bad_keyword("classificationMethod", other)),
        };
        let kernel = read_kernel(element)?;
        let dictionary = element
            .child("VectorDictionary")
            .ok_or_else(|| element.invalid("a VectorDictionary is required"))?;
        let coordinates = read_coordinates(c, scope, &dictionary)?;
        let (vectors, ids) = read_vectors(c, &dictionary, coordinates.len())?;
        let mut model = SupportVectorMachine {
            function,
            kernel,
            method,
            binary_alternate: None,
            coordinates,
            kernels: vec![0.0; ids.len()],
            columns: by_coordinate(&vectors, ids.len()),
            machines: Vec::new(),
            input: Vec::new(),
            vote_order: Vec::new(),
        };
        model.input = vec![0.0; model.coordinates.len()];
        let mut categories = categories;
        if let (Some(text), Some(categories)) = (
            element.attr("alternateBinaryTargetCategory"),
            categories.as_deref_mut(),
        ) {
            model.binary_alternate = Some(categories.index_for(c, text, element)?);
        }
        let threshold = element.parsed_or("threshold", 0.0)?;
        for machine in element.children_named("SupportVectorMachine") {
            let compiled = read_machine(c, &machine, &ids, categories.as_deref_mut(), threshold)?;
            model.machines.push(compiled);
        }
        model.check(element)?;
        Ok(model)
    }

    fn check(&self, element: &El<'_, '_>) -> Result<()> {
        match self.function {
            Function::Regression if self.machines.len() != 1 => {
                Err(element.invalid("a regression needs exactly one SupportVectorMachine"))
            }
            Function::Classification
                if self.method == Method::OneAgainstOne
                    && self.binary_alternate.is_none()
                    && self.machines.iter().any(|m| m.alternate.is_none()) =>
            {
                Err(element.invalid("one-against-one machines need an alternateTargetCategory"))
            }
            _ if self.machines.is_empty() => Err(element.invalid("no SupportVectorMachine")),
            _ => Ok(()),
        }
    }

    /// Scores the current record; classifier probabilities go to `probabilities`.
    pub fn evaluate(&mut self, env: &mut Env<'_>, probabilities: &mut [f64]) -> Result<Raw> {
        self.read_input(env)?;
        self.kernel
            .apply_all(&self.input, &self.columns, &mut self.kernels);
        if self.function == Function::Regression {
            return Ok(Raw::Value(self.machine_value(0)));
        }
        match self.method {
            Method::OneAgainstOne => self.vote(probabilities),
            Method::OneAgainstAll => Ok(self.nearest()),
        }
    }

    fn read_input(&mut self, env: &mut Env<'_>) -> Result<()> {
        for (value, coordinate) in self.input.iter_mut().zip(&self.coordinates) {
            let slot = match coordinate {
                Coordinate::Field(slot) | Coordinate::Indicator(slot, _) => *slot,
            };
            let field = env.value(slot)?;
            if field.is_missing() {
                return Err(env.field_error(slot, Error::scoring("a missing value")));
            }
            *value = match coordinate {
                Coordinate::Field(slot) => env.number(*slot)?.unwrap_or(f64::NAN),
                Coordinate::Indicator(_, category) => {
                    f64::from(u8::from(equal(env, field, *category)?))
                }
            };
        }
        Ok(())
    }

    fn machine_value(&self, index: usize) -> f64 {
        let machine = &self.machines[index];
        let mut sum = 0.0;
        for (vector, coefficient) in &machine.terms {
            sum += coefficient * self.kernels[*vector];
        }
        sum + machine.absolute
    }

    fn vote(&mut self, probabilities: &mut [f64]) -> Result<Raw> {
        probabilities.iter_mut().for_each(|p| *p = 0.0);
        self.vote_order.clear();
        for index in 0..self.machines.len() {
            let value = self.machine_value(index);
            let machine = &self.machines[index];
            let category = match (self.binary_alternate, machine.alternate) {
                (Some(binary), _) => match java_round(value) {
                    0.0 => binary,
                    1.0 => machine.target,
                    other => {
                        return Err(Error::scoring(format!(
                            "a binary machine gave {other}, not 0 or 1"
                        )))
                    }
                },
                (None, Some(_)) if value < machine.threshold => machine.target,
                (None, alternate) => alternate.unwrap_or(machine.target),
            };
            if !self.vote_order.contains(&category) {
                self.vote_order.push(category);
            }
            probabilities[category] += 1.0;
        }
        let winner = self
            .vote_order
            .iter()
            .copied()
            .reduce(|best, next| {
                if probabilities[next] > probabilities[best] {
                    next
                } else {
                    best
                }
            })
            .unwrap_or(0);
        let total = self.machines.len() as f64;
        probabilities.iter_mut().for_each(|p| *p /= total);
        Ok(Raw::Class {
            winner,
            probabilities: true,
        })
    }

    fn nearest(&self) -> Raw {
        let mut best: Option<(usize, f64)> = None;
        for index in 0..self.machines.len() {
            let value = self.machine_value(index);
            if best.is_none_or(|(_, smallest)| value < smallest) {
                best = Some((self.machines[index].target, value));
            }
        }
        Raw::Class {
            winner: best.map_or(0, |(category, _)| category),
            probabilities: false,
        }
    }
}

impl Kernel {
    /// Each support vector's kernel value with `x`, into `kernels` (`columns`: the vectors by
    /// coordinate). Sums run over the coordinates in order, as for one vector at a time.
    fn apply_all(self, x: &[f64], columns: &[f64], kernels: &mut [f64]) {
        let count = kernels.len();
        kernels.iter_mut().for_each(|kernel| *kernel = 0.0);
        let radial = matches!(self, Kernel::RadialBasis { .. });
        for (coordinate, &value) in x.iter().enumerate() {
            let column = &columns[coordinate * count..(coordinate + 1) * count];
            if radial {
                for (sum, y) in kernels.iter_mut().zip(column) {
                    let difference = value - y;
                    *sum += difference * difference;
                }
            } else {
                for (sum, y) in kernels.iter_mut().zip(column) {
                    *sum += value * y;
                }
            }
        }
        match self {
            Kernel::Linear => {}
            Kernel::Polynomial {
                gamma,
                coef0,
                degree,
            } => kernels
                .iter_mut()
                .for_each(|dot| *dot = (*dot * gamma + coef0).powf(degree)),
            Kernel::RadialBasis { gamma } => {
                kernels.iter_mut().for_each(|sum| *sum = -*sum * gamma);
                exp_in_place(kernels);
            }
            Kernel::Sigmoid { gamma, coef0 } => kernels
                .iter_mut()
                .for_each(|dot| *dot = (*dot * gamma + coef0).tanh()),
        }
    }
}

/// The vectors (one after the other, `count` of them) by coordinate.
fn by_coordinate(vectors: &[f64], count: usize) -> Vec<f64> {
    let width = vectors.len().checked_div(count).unwrap_or(0);
    let mut columns = Vec::with_capacity(vectors.len());
    for coordinate in 0..width {
        columns.extend((0..count).map(|vector| vectors[vector * width + coordinate]));
    }
    columns
}

fn read_kernel(element: &El<'_, '_>) -> Result<Kernel> {
    let kernel = element
        .children()
        .find(|child| child.name().ends_with("KernelType"))
        .ok_or_else(|| element.invalid("a kernel is required"))?;
    let gamma = || kernel.parsed_or("gamma", 1.0);
    let coef0 = || kernel.parsed_or("coef0", 1.0);
    Ok(match kernel.name() {
        "LinearKernelType" => Kernel::Linear,
        "PolynomialKernelType" => Kernel::Polynomial {
            gamma: gamma()?,
            coef0: coef0()?,
            degree: kernel.parsed_or("degree", 1.0)?,
        },
        "RadialBasisKernelType" => Kernel::RadialBasis { gamma: gamma()? },
        "SigmoidKernelType" => Kernel::Sigmoid {
            gamma: gamma()?,
            coef0: coef0()?,
        },
        other => return Err(kernel.unsupported(format!("the kernel <{other}>"))),
    })
}

fn read_coordinates(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    dictionary: &El<'_, '_>,
) -> Result<Vec<Coordinate>> {
    let fields = dictionary
        .child("VectorFields")
        .ok_or_else(|| dictionary.invalid("VectorFields are required"))?;
    let mut coordinates = Vec::new();
    for field in fields.children() {
        coordinates.push(match field.name() {
            "FieldRef" => {
                Coordinate::Field(c.resolve(scope, field.required("field")?, &field)?.slot)
            }
            "CategoricalPredictor" => {
                if field.parsed_or("coefficient", 1.0)? != 1.0 {
                    return Err(field.invalid("the coefficient must be 1"));
                }
                let info = c.resolve(scope, field.required("name")?, &field)?;
                let value = c.literal(field.required("value")?, info.data_type, &field)?;
                Coordinate::Indicator(info.slot, value)
            }
            other => return Err(field.unsupported(format!("<{other}> in VectorFields"))),
        });
    }
    Ok(coordinates)
}

/// The support vectors (flat) and their index by id.
fn read_vectors(
    c: &mut Compiler<'_, '_>,
    dictionary: &El<'_, '_>,
    width: usize,
) -> Result<(Vec<f64>, HashMap<String, usize>)> {
    let mut vectors = Vec::new();
    let mut ids = HashMap::new();
    for instance in dictionary.children_named("VectorInstance") {
        let array = instance
            .child("Array")
            .ok_or_else(|| instance.unsupported("a VectorInstance without an Array"))?;
        let values = read_array(c, &array, DataType::Double)?;
        if values.len() != width {
            return Err(instance.invalid(format!(
                "the vector has {} values for {width} fields",
                values.len()
            )));
        }
        vectors.extend(values.iter().map(|value| match value {
            Val::Num(number) => *number,
            _ => f64::NAN,
        }));
        let id = instance.required("id")?;
        if ids.insert(id.to_owned(), ids.len()).is_some() {
            return Err(instance.invalid(format!("the vector id `{id}` is used twice")));
        }
    }
    Ok((vectors, ids))
}

fn read_machine(
    c: &mut Compiler<'_, '_>,
    machine: &El<'_, '_>,
    ids: &HashMap<String, usize>,
    categories: Option<&mut Categories>,
    threshold: f64,
) -> Result<Machine> {
    let (target, alternate) = match categories {
        Some(categories) => (
            categories.index_for(c, machine.required("targetCategory")?, machine)?,
            machine
                .attr("alternateTargetCategory")
                .map(|text| categories.index_for(c, text, machine))
                .transpose()?,
        ),
        None => (0, None),
    };
    let vectors = machine
        .child("SupportVectors")
        .ok_or_else(|| machine.invalid("SupportVectors are required"))?;
    let coefficients = machine
        .child("Coefficients")
        .ok_or_else(|| machine.invalid("Coefficients are required"))?;
    let mut terms = Vec::new();
    let mut pairs = vectors
        .children_named("SupportVector")
        .zip(coefficients.children_named("Coefficient"));
    for (vector, coefficient) in pairs.by_ref() {
        let id = vector.required("vectorId")?;
        let index = *ids
            .get(id)
            .ok_or_else(|| vector.invalid(format!("no vector has the id `{id}`")))?;
        terms.push((index, coefficient.parsed_or("value", 0.0)?));
    }
    let declared = vectors.children_named("SupportVector").count();
    if declared != coefficients.children_named("Coefficient").count() {
        return Err(machine.invalid("one Coefficient per SupportVector is required"));
    }
    Ok(Machine {
        terms,
        absolute: coefficients.parsed_or("absoluteValue", 0.0)?,
        target,
        alternate,
        threshold: machine.parsed_or("threshold", threshold)?,
    })
}
