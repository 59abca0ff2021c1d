//! A model's target: its categories (for classifiers) and the Targets post-processing
//! (rescaling, casting, clamping, default values and prior probabilities).

use std::sync::Arc;

use super::compile::Compiler;
use super::error::Result;
use super::functions::java_round;
use super::value::{DataType, Val};
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

    /// The same list, open to more categories (for a segment's model that does not declare the
    /// target it inherits: its categories may be others, e.g. one-vs-rest labels).
    pub fn extensible(mut self) -> Categories {
        self.closed = false;
        self
    }

    /// The index of the category written `text`, if it is one.
    pub fn find(
        &self,
        c: &mut Compiler<'_, '_>,
        text: &str,
        at: &El<'_, '_>,
    ) -> Result<Option<usize>> {
        let value = c.literal(text, self.data_type, at)?;
        Ok(self.index_of(value))
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

    /// Whether `other` has the same categories, in the same order, of the same type.
    pub fn same(&self, other: &Categories) -> bool {
        self.data_type == other.data_type
            && self.values == other.values
            && self.labels == other.labels
    }

    /// The list without room to grow.
    pub fn shrunk(mut self) -> Categories {
        self.labels.shrink_to_fit();
        self.values.shrink_to_fit();
        self
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
