//! NeuralNetwork: inputs from DerivedFields, layers of neurons with flat connection arrays, the
//! activation functions and layer normalizations of PMML, and outputs mapped to target
//! categories (NormDiscrete) or to a continuous target (FieldRef or NormContinuous).

use super::compile::{Compiler, ScopeId};
use super::error::{Error, Result};
use super::eval::Env;
use super::models::{Function, Raw};
use super::regression::{simplemax, softmax};
use super::target::Categories;
use super::xml::El;

/// A neuron activation function.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Activation {
    Threshold(f64),
    Logistic,
    Tanh,
    Identity,
    Exponential,
    Reciprocal,
    Square,
    Gauss,
    Sine,
    Cosine,
    Elliott,
    Arctan,
    Rectifier(Option<f64>),
    RadialBasis { altitude: f64, width: Option<f64> },
}

impl Activation {
    fn apply(self, x: f64) -> f64 {
        match self {
            Activation::Threshold(threshold) => f64::from(u8::from(x > threshold)),
            Activation::Logistic => 1.0 / (1.0 + (-x).exp()),
            Activation::Tanh => x.tanh(),
            Activation::Identity | Activation::RadialBasis { .. } => x,
            Activation::Exponential => x.exp(),
            Activation::Reciprocal => 1.0 / x,
            Activation::Square => x * x,
            Activation::Gauss => (-(x * x)).exp(),
            Activation::Sine => x.sin(),
            Activation::Cosine => x.cos(),
            Activation::Elliott => x / (1.0 + x.abs()),
            Activation::Arctan => (2.0 * x.atan()) / std::f64::consts::PI,
            Activation::Rectifier(Some(leakage)) if x <= 0.0 => x * leakage,
            Activation::Rectifier(_) => x.max(0.0),
        }
    }
}

/// How a layer's outputs are normalized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LayerNorm {
    None,
    Softmax,
    Simplemax,
}

#[derive(Clone, Debug)]
struct Layer {
    first: usize,
    end: usize,
    activation: Activation,
    norm: LayerNorm,
}

#[derive(Clone, Debug)]
struct Neuron {
    bias: f64,
    width: Option<f64>,
    first_connection: usize,
    end_connection: usize,
}

/// Where the model's result comes from.
#[derive(Clone, Debug)]
enum Outputs {
    /// A continuous target: one neuron, optionally denormalized by (orig, norm) points.
    Value {
        neuron: usize,
        points: Vec<(f64, f64)>,
    },
    /// Target categories: (neuron, category) in NeuralOutputs order.
    Classes(Vec<(usize, usize)>),
}

/// A compiled NeuralNetwork.
#[derive(Clone, Debug)]
pub struct NeuralNetwork {
    inputs: Vec<u32>,
    layers: Vec<Layer>,
    neurons: Vec<Neuron>,
    sources: Vec<usize>,
    weights: Vec<f64>,
    outputs: Outputs,
    /// Activations of inputs then neurons (reused between records).
    activations: Vec<f64>,
}

/// Builds the entity index (inputs then neurons, by id) while reading the layers.
struct Entities {
    ids: std::collections::HashMap<String, usize>,
}

impl Entities {
    fn add(&mut self, element: &El<'_, '_>) -> Result<()> {
        let id = element.required("id")?;
        let index = self.ids.len();
        if self.ids.insert(id.to_owned(), index).is_some() {
            return Err(element.invalid(format!("the neural id `{id}` is used twice")));
        }
        Ok(())
    }

    fn index(&self, id: &str, at: &El<'_, '_>) -> Result<usize> {
        self.ids
            .get(id)
            .copied()
            .ok_or_else(|| at.invalid(format!("no neuron or input has the id `{id}`")))
    }
}

impl NeuralNetwork {
    /// Compiles a NeuralNetwork element.
    pub fn compile(
        c: &mut Compiler<'_, '_>,
        scope: ScopeId,
        element: &El<'_, '_>,
        function: Function,
        categories: Option<&mut Categories>,
    ) -> Result<NeuralNetwork> {
        let mut entities = Entities {
            ids: std::collections::HashMap::new(),
        };
        let inputs_element = element
            .child("NeuralInputs")
            .ok_or_else(|| element.invalid("NeuralInputs are required"))?;
        let mut inputs = Vec::new();
        for input in inputs_element.children_named("NeuralInput") {
            entities.add(&input)?;
            let derived = input
                .child("DerivedField")
                .ok_or_else(|| input.invalid("a DerivedField is required"))?;
            inputs.push(
                c.anonymous_derived(scope, &derived, input.required("id")?)?
                    .slot,
            );
        }
        let mut network = NeuralNetwork {
            inputs,
            layers: Vec::new(),
            neurons: Vec::new(),
            sources: Vec::new(),
            weights: Vec::new(),
            outputs: Outputs::Classes(Vec::new()),
            activations: Vec::new(),
        };
        for layer in element.children_named("NeuralLayer") {
            network.add_layer(element, &layer, &mut entities)?;
        }
        if network.layers.is_empty() {
            return Err(element.invalid("the network has no NeuralLayer"));
        }
        let outputs = element
            .child("NeuralOutputs")
            .ok_or_else(|| element.invalid("NeuralOutputs are required"))?;
        network.outputs = read_outputs(c, scope, &outputs, &entities, function, categories)?;
        network.activations = vec![0.0; entities.ids.len()];
        Ok(network)
    }

    fn add_layer(
        &mut self,
        network: &El<'_, '_>,
        layer: &El<'_, '_>,
        entities: &mut Entities,
    ) -> Result<()> {
        let activation = read_activation(network, layer)?;
        let norm = match layer
            .attr("normalizationMethod")
            .or(network.attr("normalizationMethod"))
            .unwrap_or("none")
        {
            "none" => LayerNorm::None,
            "softmax" => LayerNorm::Softmax,
            "simplemax" => LayerNorm::Simplemax,
            other => return Err(layer.bad_keyword("normalizationMethod", other)),
        };
        let first = self.inputs.len() + self.neurons.len();
        for neuron in layer.children_named("Neuron") {
            let first_connection = self.sources.len();
            for connection in neuron.children_named("Con") {
                self.sources
                    .push(entities.index(connection.required("from")?, &connection)?);
                self.weights.push(connection.required_number("weight")?);
            }
            entities.add(&neuron)?;
            self.neurons.push(Neuron {
                bias: neuron.parsed_or("bias", 0.0)?,
                width: neuron.parsed("width")?,
                first_connection,
                end_connection: self.sources.len(),
            });
        }
        let end = self.inputs.len() + self.neurons.len();
        if let Activation::RadialBasis { width: None, .. } = activation {
            if self.neurons[first - self.inputs.len()..]
                .iter()
                .any(|neuron| neuron.width.is_none())
            {
                return Err(layer.invalid("radialBasis needs a width"));
            }
        }
        self.layers.push(Layer {
            first,
            end,
            activation,
            norm,
        });
        Ok(())
    }

    /// Scores the current record; classifier probabilities go to `probabilities`.
    pub fn evaluate(&mut self, env: &mut Env<'_>, probabilities: &mut [f64]) -> Result<Raw> {
        for (index, slot) in self.inputs.iter().enumerate() {
            match env.number(*slot)? {
                Some(x) => self.activations[index] = x,
                None => return Ok(Raw::Missing),
            }
        }
        for layer in &self.layers {
            for entity in layer.first..layer.end {
                let neuron = &self.neurons[entity - self.inputs.len()];
                self.activations[entity] = self.activate(neuron, layer.activation);
            }
            let outputs = &mut self.activations[layer.first..layer.end];
            match layer.norm {
                LayerNorm::None => {}
                LayerNorm::Softmax => softmax(outputs)?,
                LayerNorm::Simplemax => simplemax(outputs)?,
            }
        }
        match &self.outputs {
            Outputs::Value { neuron, points } => {
                Ok(Raw::Value(denormalize(self.activations[*neuron], points)?))
            }
            Outputs::Classes(classes) => {
                probabilities.iter_mut().for_each(|p| *p = 0.0);
                let mut best: Option<(usize, f64)> = None;
                for (neuron, category) in classes {
                    let value = self.activations[*neuron];
                    probabilities[*category] = value;
                    if best.is_none_or(|(_, top)| value > top) {
                        best = Some((*category, value));
                    }
                }
                Ok(Raw::Class {
                    winner: best.map_or(0, |(category, _)| category),
                    probabilities: true,
                })
            }
        }
    }

    fn activate(&self, neuron: &Neuron, activation: Activation) -> f64 {
        let connections = neuron.first_connection..neuron.end_connection;
        if let Activation::RadialBasis { altitude, width } = activation {
            let mut sum = 0.0;
            for (source, weight) in self.sources[connections.clone()]
                .iter()
                .zip(&self.weights[connections.clone()])
            {
                let difference = self.activations[*source] - weight;
                sum += difference * difference;
            }
            let width = neuron.width.or(width).unwrap_or(f64::NAN);
            let mut value = sum / (width * width * -2.0);
            if altitude != 1.0 {
                value += altitude.ln() * connections.len() as f64;
            }
            return value.exp();
        }
        let mut sum = 0.0;
        for (source, weight) in self.sources[connections.clone()]
            .iter()
            .zip(&self.weights[connections])
        {
            sum += weight * self.activations[*source];
        }
        if neuron.bias != 0.0 {
            sum += neuron.bias;
        }
        activation.apply(sum)
    }
}

fn read_activation(network: &El<'_, '_>, layer: &El<'_, '_>) -> Result<Activation> {
    let attribute =
        |name: &str| -> Result<Option<f64>> { Ok(layer.parsed(name)?.or(network.parsed(name)?)) };
    let keyword = layer
        .attr("activationFunction")
        .or(network.attr("activationFunction"));
    let keyword =
        keyword.ok_or_else(|| network.invalid("the attribute `activationFunction` is required"))?;
    Ok(match keyword {
        "threshold" => Activation::Threshold(attribute("threshold")?.unwrap_or(0.0)),
        "logistic" => Activation::Logistic,
        "tanh" => Activation::Tanh,
        "identity" => Activation::Identity,
        "exponential" => Activation::Exponential,
        "reciprocal" => Activation::Reciprocal,
        "square" => Activation::Square,
        "Gauss" => Activation::Gauss,
        "sine" => Activation::Sine,
        "cosine" => Activation::Cosine,
        "Elliott" => Activation::Elliott,
        "arctan" => Activation::Arctan,
        "rectifier" => Activation::Rectifier(attribute("leakage")?),
        "radialBasis" => Activation::RadialBasis {
            altitude: attribute("altitude")?.unwrap_or(1.0),
            width: attribute("width")?,
        },
        other => return Err(layer.bad_keyword("activationFunction", other)),
    })
}

fn read_outputs(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    outputs: &El<'_, '_>,
    entities: &Entities,
    function: Function,
    categories: Option<&mut Categories>,
) -> Result<Outputs> {
    let mut categories = categories;
    let mut classes = Vec::new();
    for output in outputs.children_named("NeuralOutput") {
        let neuron = entities.index(output.required("outputNeuron")?, &output)?;
        let expression = output_expression(c, scope, &output)?;
        match (function, expression.name(), categories.as_deref_mut()) {
            (Function::Classification, "NormDiscrete", Some(categories)) => {
                classes.push((
                    neuron,
                    categories.index_for(c, expression.required("value")?, &expression)?,
                ));
            }
            (Function::Regression, "FieldRef", _) => {
                return Ok(Outputs::Value {
                    neuron,
                    points: Vec::new(),
                })
            }
            (Function::Regression, "NormContinuous", _) => {
                let mut points = Vec::new();
                for norm in expression.children_named("LinearNorm") {
                    points.push((norm.required_number("orig")?, norm.required_number("norm")?));
                }
                return Ok(Outputs::Value { neuron, points });
            }
            (_, other, _) => {
                return Err(expression.unsupported(format!("a NeuralOutput given by <{other}>")))
            }
        }
    }
    if classes.is_empty() {
        return Err(outputs.invalid("no NeuralOutput gives the model's result"));
    }
    Ok(Outputs::Classes(classes))
}

/// The expression of a NeuralOutput's DerivedField, following a FieldRef to a derived field.
fn output_expression<'a, 'input>(
    c: &Compiler<'a, 'input>,
    scope: ScopeId,
    output: &El<'a, 'input>,
) -> Result<El<'a, 'input>> {
    let derived = output
        .child("DerivedField")
        .ok_or_else(|| output.invalid("a DerivedField is required"))?;
    let expression = derived
        .children()
        .next()
        .ok_or_else(|| derived.invalid("an expression is required"))?;
    if expression.name() == "FieldRef" {
        if let Some(target) = c.derived_element(scope, expression.required("field")?) {
            return target
                .children()
                .next()
                .ok_or_else(|| target.invalid("an expression is required"));
        }
    }
    Ok(expression)
}

/// Maps a normalized output back to the target's scale.
fn denormalize(value: f64, points: &[(f64, f64)]) -> Result<f64> {
    if points.is_empty() {
        return Ok(value);
    }
    for pair in points.windows(2) {
        let ((left_orig, left_norm), (right_orig, right_norm)) = (pair[0], pair[1]);
        if value >= left_norm && value <= right_norm {
            return Ok(
                ((value - left_norm) / (right_norm - left_norm)) * (right_orig - left_orig)
                    + left_orig,
            );
        }
    }
    Err(Error::scoring(format!(
        "the network output {value} is outside the NormContinuous range"
    )))
}
