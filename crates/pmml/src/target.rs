//! A model's target: its categories (for classifiers), the Targets post-processing (rescaling,
//! casting, clamping, default values and prior probabilities) and the OutputFields that nested
//! models hand to later segments.

use std::sync::Arc;

use super::compile::{Compiler, FieldInfo, ScopeId};
use super::error::Result;
use super::eval::{Env, SlotDef};
use super::expr::{self, Expr};
use super::functions::java_round;
use super::value::{DataType, OpType, Val};
use super::xml::El;

/// The categories of a classifier's target, in a fixed order.
#[derive(Clone, Debug)]
pub struct Categories {
    /// Each category's label as the document writes it.
    pub labels: Vec<Arc<str>>,
    /// Each category's value, in the target's data type.
    pub values: Vec<Val>,
    /// The target's data type.
    pub data_type: DataType,
    /// Whether the list is closed (the target's DataField lists its values).
    closed: bool,
}

impl Categories {
    /// The categories a target field declares (closed), or an open list to fill from the model.
    pub fn for_target(c: &Compiler<'_, '_>, target: Option<&str>) -> Categories {
        let field = target.and_then(|name| c.data_fields.get(name));
        match field {
            Some(field) if !field.valid.is_empty() => Categories {
                labels: field
                    .valid_texts
                    .iter()
                    .map(|text| Arc::from(text.as_str()))
                    .collect(),
                values: field.valid.clone(),
                data_type: field.data_type,
                closed: true,
            },
            Some(field) => Categories {
                labels: Vec::new(),
                values: Vec::new(),
                data_type: field.data_type,
                closed: false,
            },
            None => Categories {
                labels: Vec::new(),
                values: Vec::new(),
                data_type: DataType::String,
                closed: false,
            },
        }
    }

    /// The index of the category written `text`, adding it to an open list.
    pub fn index_for(
        &mut self,
        c: &mut Compiler<'_, '_>,
        text: &str,
        at: &El<'_, '_>,
    ) -> Result<usize> {
        let value = c.literal(text, self.data_type, at)?;
        if let Some(index) = self.index_of(value) {
            return Ok(index);
        }
        if self.closed {
            return Err(at.invalid(format!("`{text}` is not a category of the target field")));
        }
        self.labels.push(Arc::from(text));
        self.values.push(value);
        Ok(self.values.len() - 1)
    }

    /// The index of a category value.
    pub fn index_of(&self, value: Val) -> Option<usize> {
        self.values.iter().position(|known| *known == value)
    }

    /// How many categories there are.
    pub fn len(&self) -> usize {
        self.values.len()
    }
}

/// The first category with the highest probability (ties go to the earlier category).
pub fn winner(probabilities: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (index, probability) in probabilities.iter().enumerate() {
        if best.is_none_or(|current| *probability > probabilities[current]) {
            best = Some(index);
        }
    }
    best
}

/// The Targets post-processing of a regression result, and the defaults for a missing result.
#[derive(Clone, Debug, Default)]
pub struct TargetTransform {
    min: Option<f64>,
    max: Option<f64>,
    factor: f64,
    constant: f64,
    cast: Option<Cast>,
    float: bool,
    /// The result when the model gives none (a regression's defaultValue).
    pub default_value: Option<f64>,
    /// Prior probabilities by category value, for a classifier that gives no result.
    pub priors: Vec<(String, f64)>,
}

#[derive(Clone, Copy, Debug)]
enum Cast {
    Round,
    Ceiling,
    Floor,
}

impl TargetTransform {
    /// Reads the `Target` of `model`'s Targets element that applies to `target` (if any).
    pub fn read(
        model: &El<'_, '_>,
        target: Option<&str>,
        float: bool,
    ) -> Result<Option<TargetTransform>> {
        let Some(targets) = model.child("Targets") else {
            return Ok(None);
        };
        let chosen = targets.children_named("Target").find(|element| {
            match (element.attr("field"), target) {
                (Some(field), Some(target)) => field == target,
                _ => true,
            }
        });
        chosen
            .map(|element| Self::read_target(&element, float))
            .transpose()
    }

    fn read_target(element: &El<'_, '_>, float: bool) -> Result<TargetTransform> {
        let cast = match element.attr("castInteger") {
            None => None,
            Some("round") => Some(Cast::Round),
            Some("ceiling") => Some(Cast::Ceiling),
            Some("floor") => Some(Cast::Floor),
            Some(other) => return Err(element.bad_keyword("castInteger", other)),
        };
        let mut transform = TargetTransform {
            min: element.parsed("min")?,
            max: element.parsed("max")?,
            factor: element.parsed_or("rescaleFactor", 1.0)?,
            constant: element.parsed_or("rescaleConstant", 0.0)?,
            cast,
            float,
            default_value: None,
            priors: Vec::new(),
        };
        for value in element.children_named("TargetValue") {
            transform.default_value = transform.default_value.or(value.parsed("defaultValue")?);
            if let Some(prior) = value.parsed::<f64>("priorProbability")? {
                transform
                    .priors
                    .push((value.required("value")?.to_owned(), prior));
            }
        }
        Ok(transform)
    }

    /// Applies clamping, rescaling and integer casting to a regression result.
    pub fn apply(&self, value: f64) -> f64 {
        let clamped = value
            .max(self.min.unwrap_or(f64::NEG_INFINITY))
            .min(self.max.unwrap_or(f64::INFINITY));
        let rescaled = if self.float {
            f64::from(clamped as f32 * self.factor as f32 + self.constant as f32)
        } else {
            clamped * self.factor + self.constant
        };
        match self.cast {
            None => rescaled,
            Some(Cast::Round) => java_round(rescaled),
            Some(Cast::Ceiling) => rescaled.ceil(),
            Some(Cast::Floor) => rescaled.floor(),
        }
    }
}

/// What an OutputField reports.
#[derive(Debug)]
pub enum OutputKind {
    /// The predicted value (regression value or class).
    Predicted,
    /// The probability of a category (of the predicted class when `None`).
    Probability(Option<usize>),
    /// An expression over the model's fields and earlier output fields.
    Transformed(Expr),
}

/// An OutputField of a nested model, written to its slot after the model ran.
#[derive(Debug)]
pub struct OutputDef {
    /// The slot the value goes to.
    pub slot: u32,
    /// What it reports.
    pub kind: OutputKind,
    /// The declared data type.
    pub data_type: DataType,
}

/// Compiles the OutputFields of a nested model whose results later segments may use. Each
/// supported field becomes visible in the model's own scope (for later output fields) and in
/// `parent` (for later segments); unsupported ones fail only if something refers to them.
pub fn compile_outputs(
    c: &mut Compiler<'_, '_>,
    model: &El<'_, '_>,
    scope: ScopeId,
    parent: ScopeId,
    categories: Option<&mut Categories>,
) -> Result<Vec<OutputDef>> {
    let Some(output) = model.child("Output") else {
        return Ok(Vec::new());
    };
    let mut categories = categories;
    let mut outputs = Vec::new();
    for field in output.children_named("OutputField") {
        let name = field.required("name")?;
        let kind = match field.attr("feature").unwrap_or("predictedValue") {
            "predictedValue" => OutputKind::Predicted,
            "probability" => {
                OutputKind::Probability(match (field.attr("value"), categories.as_deref_mut()) {
                    (Some(text), Some(categories)) => Some(categories.index_for(c, text, &field)?),
                    _ => None,
                })
            }
            "transformedValue" | "decision" => match expr::compile_container(c, scope, &field) {
                Ok(typed) => OutputKind::Transformed(typed.expr),
                Err(error) => {
                    c.unsupported_output(name, error.to_string());
                    continue;
                }
            },
            other => {
                c.unsupported_output(name, format!("the output feature `{other}`"));
                continue;
            }
        };
        let data_type = DataType::of(&field, DataType::Double)?;
        let op_type = OpType::of(&field, data_type)?;
        let slot = c.new_slot(name, SlotDef::Output);
        let info = FieldInfo {
            slot,
            data_type,
            op_type,
            depth: 0,
        };
        c.add_segment_output(scope, name, info.clone());
        c.add_segment_output(parent, name, info);
        outputs.push(OutputDef {
            slot,
            kind,
            data_type,
        });
    }
    Ok(outputs)
}

impl OutputDef {
    /// Computes and stores the field's value for the current record.
    pub fn write(
        &self,
        env: &mut Env<'_>,
        predicted: Val,
        probabilities: Option<(&[f64], usize)>,
    ) -> Result<()> {
        let value = match &self.kind {
            OutputKind::Predicted => predicted,
            OutputKind::Probability(category) => match (probabilities, category) {
                (Some((probabilities, _)), Some(index)) => Val::Num(probabilities[*index]),
                (Some((probabilities, winner)), None) => Val::Num(probabilities[winner]),
                (None, _) => Val::Missing,
            },
            OutputKind::Transformed(expr) => expr.eval(env)?,
        };
        let value = match (value, self.data_type) {
            (Val::Num(_), DataType::Double) => value,
            _ => env.cast(value, self.data_type)?,
        };
        env.set(self.slot, value);
        Ok(())
    }
}
