//! OutputFields: the results a model reports besides its prediction (probabilities, transformed
//! values, entity and cluster ids, affinities, reason codes), written to slots after the model
//! ran, so that later segments, later output fields and the caller can read them.

use std::sync::Arc;

use super::association::{Algorithm, Choice, Measure, RuleChoices};
use super::compile::{Compiler, FieldInfo, ScopeId};
use super::error::Result;
use super::eval::{Env, SlotDef};
use super::expr::{self, Expr};
use super::target::Categories;
use super::value::{DataType, OpType, Val};
use super::xml::El;
use crate::Value;

/// What a model reports besides its prediction, for OutputFields; filled by the model types that
/// have such results, reused between records.
#[derive(Clone, Debug, Default)]
pub struct Details {
    /// Entities (neighbours, clusters) best first, each with its affinity (a distance or a
    /// similarity, as the model measures).
    pub ranked: Vec<(Val, f64)>,
    /// Reason codes, most important first.
    pub reasons: Vec<Val>,
    /// Each category's confidence, for a rule set.
    pub confidences: Vec<f64>,
    /// For an association model: the rules its output fields choose, and which each chose in
    /// this record.
    pub rules: Option<RuleChoices>,
}

/// What an OutputField reports.
#[derive(Clone, Debug)]
enum OutputKind {
    /// The predicted value (regression value or class).
    Predicted,
    /// The probability of a category (of the predicted class when `None`).
    Probability(Option<usize>),
    /// An expression over the model's fields and earlier output fields.
    Transformed(Expr),
    /// The id of the entity (neighbour, cluster) of a rank (1: the best).
    Entity(usize),
    /// The winning cluster's id (as JPMML reports `clusterId`).
    Cluster,
    /// The affinity of the entity with an id, or of a rank.
    Affinity(EntityRef),
    /// The reason code of a rank.
    Reason(usize),
    /// The confidence of a category (of the predicted class when `None`).
    Confidence(Option<usize>),
    /// Something of the rule an association model's choice (by index) picked.
    Rule { feature: Measure, choice: usize },
}

/// Which entity an affinity is about.
#[derive(Clone, Debug)]
enum EntityRef {
    Id(Val),
    Rank(usize),
}

/// An OutputField, written to its slot after its model ran.
#[derive(Clone, Debug)]
pub struct OutputDef {
    /// The field's name.
    pub name: Arc<str>,
    /// The slot the value goes to.
    pub slot: u32,
    kind: OutputKind,
    /// The declared data type (none: the value as the feature gives it).
    data_type: Option<DataType>,
    /// Whether the value is computed when it is reported, not stored when the model ran:
    /// nothing reads the slot, and computing it cannot fail ([`OutputDef::settle`]).
    computed: bool,
}

/// A model's OutputFields: those it computes, and those whose feature is not supported (which
/// fail the document if anything, later segments or the caller, needs them).
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    /// The fields computed, in document order.
    pub fields: Vec<OutputDef>,
    /// The first unsupported field: its name, line and why.
    pub unsupported: Option<Box<(String, u32, String)>>,
}

/// Compiles the OutputFields of `model`. Each supported field becomes visible in the model's own
/// scope (for later output fields) and in `parent` (for later segments). For an association
/// model (`rules`), the rule features apply, and the fields' choices of rules are added to
/// `rules`.
pub fn compile_outputs(
    c: &mut Compiler<'_, '_>,
    model: &El<'_, '_>,
    scope: ScopeId,
    parent: Option<ScopeId>,
    categories: Option<&mut Categories>,
    mut rules: Option<&mut RuleChoices>,
) -> Result<Outputs> {
    let mut outputs = Outputs::default();
    let Some(output) = model.child("Output") else {
        return Ok(outputs);
    };
    let mut categories = categories;
    for field in output.children_named("OutputField") {
        let name = field.required("name")?;
        let compiled = match rules.as_deref_mut() {
            Some(rules) => rule_query(&field).map(|(feature, choice)| OutputKind::Rule {
                feature,
                choice: rules.add(choice),
            }),
            None => compile_kind(c, scope, &field, categories.as_deref_mut()),
        };
        let kind = match compiled {
            Ok(kind) => kind,
            Err(reason) => {
                c.unsupported_output(name, reason.clone());
                if outputs.unsupported.is_none() {
                    outputs.unsupported = Some(Box::new((name.to_owned(), field.line(), reason)));
                }
                continue;
            }
        };
        let declared = field
            .attr("dataType")
            .map(|keyword| DataType::from_keyword(keyword, &field))
            .transpose()?;
        let data_type = declared.unwrap_or_else(|| kind.default_type(categories.as_deref()));
        let op_type = OpType::of(&field, data_type)?;
        let slot = c.new_slot(name, SlotDef::Output);
        let info = FieldInfo {
            slot,
            data_type,
            op_type,
            depth: 0,
        };
        c.add_segment_output(scope, name, info.clone());
        if let Some(parent) = parent {
            c.add_segment_output(parent, name, info);
        }
        outputs.fields.push(OutputDef {
            name: Arc::from(name),
            slot,
            kind,
            data_type: declared,
            computed: false,
        });
    }
    Ok(outputs)
}

/// What `field` reports, or why that is not supported.
fn compile_kind(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    field: &El<'_, '_>,
    categories: Option<&mut Categories>,
) -> Result<OutputKind, String> {
    let rank = || -> Result<usize, String> {
        match field.parsed::<usize>("rank") {
            Ok(Some(0)) => Err("rank=\"0\"".to_owned()),
            Ok(rank) => Ok(rank.unwrap_or(1)),
            Err(error) => Err(error.to_string()),
        }
    };
    let feature = field.attr("feature").unwrap_or("predictedValue");
    Ok(match feature {
        "predictedValue" | "predictedDisplayValue" => OutputKind::Predicted,
        "probability" => OutputKind::Probability(match (field.attr("value"), categories) {
            (Some(text), Some(categories)) => Some(
                categories
                    .index_for(c, text, field)
                    .map_err(|error| error.to_string())?,
            ),
            _ => None,
        }),
        "transformedValue" | "decision" => expr::compile_container(c, scope, field)
            .map(|typed| OutputKind::Transformed(typed.expr))
            .map_err(|error| error.to_string())?,
        "entityId" => OutputKind::Entity(rank()?),
        "clusterId" => OutputKind::Cluster,
        "affinity" | "clusterAffinity" | "entityAffinity" => {
            OutputKind::Affinity(match field.attr("value") {
                Some(id) => EntityRef::Id(Val::Str(c.program.interner.intern(id))),
                None => EntityRef::Rank(rank()?),
            })
        }
        "reasonCode" => OutputKind::Reason(rank()?),
        "confidence" => OutputKind::Confidence(match (field.attr("value"), categories) {
            (Some(text), Some(categories)) => Some(
                categories
                    .index_for(c, text, field)
                    .map_err(|error| error.to_string())?,
            ),
            _ => None,
        }),
        other => return Err(format!("the output feature `{other}`")),
    })
}

/// What an association model's output field reports, of which rule.
fn rule_query(field: &El<'_, '_>) -> Result<(Measure, Choice), String> {
    let keyword = |name: &str, default: &'static str| field.attr(name).unwrap_or(default);
    let measure = |name: &str, default: &'static str| {
        let text = keyword(name, default);
        Measure::from_keyword(text).ok_or_else(|| format!("{name}=\"{text}\""))
    };
    let feature = match keyword("feature", "predictedValue") {
        "ruleValue" => measure("ruleFeature", "consequent")?,
        "entityId" => Measure::RuleId,
        other => Measure::from_keyword(other)
            .ok_or_else(|| format!("the output feature `{other}` of an association model"))?,
    };
    let algorithm = match keyword("algorithm", "exclusiveRecommendation") {
        "recommendation" => Algorithm::Recommendation,
        "exclusiveRecommendation" => Algorithm::ExclusiveRecommendation,
        "ruleAssociation" => Algorithm::RuleAssociation,
        other => return Err(format!("algorithm=\"{other}\"")),
    };
    if keyword("isMultiValued", "0") != "0" {
        return Err("isMultiValued=\"1\" (lists of rules)".to_owned());
    }
    let descending = match keyword("rankOrder", "descending") {
        "descending" => true,
        "ascending" => false,
        other => return Err(format!("rankOrder=\"{other}\"")),
    };
    let rank = match field.parsed::<usize>("rank") {
        Ok(Some(0)) | Err(_) => return Err("a rank that is not a positive integer".to_owned()),
        Ok(rank) => rank.unwrap_or(1),
    };
    let choice = Choice {
        algorithm,
        rank,
        basis: measure("rankBasis", "confidence")?,
        descending,
    };
    Ok((feature, choice))
}

impl OutputKind {
    /// The data type of the values of a field that does not declare one.
    fn default_type(&self, categories: Option<&Categories>) -> DataType {
        match self {
            OutputKind::Predicted => categories.map_or(DataType::Double, |c| c.data_type),
            OutputKind::Entity(_) | OutputKind::Reason(_) | OutputKind::Cluster => DataType::String,
            OutputKind::Rule { feature, .. } if !feature.is_number() => DataType::String,
            _ => DataType::Double,
        }
    }
}

/// A model's result for its output fields: the predicted value, and the class probabilities with
/// the winner's index when the model gave them.
#[derive(Clone, Copy)]
pub struct Results<'r> {
    /// The predicted value (a class's value where its categories keep it).
    pub predicted: &'r Val,
    /// The class probabilities and the predicted class's index.
    pub probabilities: Option<(&'r [f64], usize)>,
    /// The predicted class's index.
    pub winner: Option<usize>,
    /// Entities, clusters and reason codes.
    pub details: &'r Details,
}

impl OutputDef {
    /// Computes and stores the field's value for the current record (a list of items, which a
    /// slot cannot hold, is stored as missing: [`OutputDef::list_value`] reports it).
    pub fn write(&self, env: &mut Env<'_>, results: Results<'_>) -> Result<()> {
        // A number is stored from its parts where it is made, a value kept elsewhere is copied
        // whole from there: a value assembled on the stack and then copied whole stalls (its
        // parts were written separately).
        let value = match self.number(results)? {
            Some(number) if self.keeps(Val::Num(0.0)) => {
                env.set(self.slot, number.map_or(Val::Missing, Val::Num));
                return Ok(());
            }
            Some(number) => number.map_or(Val::Missing, Val::Num),
            None => match self.stored(results)? {
                Some(value) if self.keeps(*value) => {
                    env.set(self.slot, *value);
                    return Ok(());
                }
                Some(value) => *value,
                None => match &self.kind {
                    OutputKind::Transformed(expr) => expr.eval(env)?,
                    _ => Val::Missing,
                },
            },
        };
        let value = match self.data_type {
            Some(data_type) => env.cast(value, data_type)?,
            None => value,
        };
        env.set(self.slot, value);
        Ok(())
    }

    /// Decides, once the whole document is compiled (`read`: whether anything reads the
    /// field's slot), whether the value is computed when reported: for a field nothing reads
    /// whose value follows from the model's results and whose conversion cannot fail.
    pub fn settle(
        &mut self,
        read: bool,
        categories: Option<&Categories>,
        rules: Option<&RuleChoices>,
    ) {
        let predicted = categories.map_or(DataType::Double, |c| c.data_type);
        let numbers = |kind: &OutputKind| match kind {
            OutputKind::Probability(_) | OutputKind::Affinity(_) | OutputKind::Confidence(_) => {
                true
            }
            OutputKind::Rule { feature, .. } => feature.is_number(),
            OutputKind::Predicted => predicted == DataType::Double,
            _ => false,
        };
        let cannot_fail = match (&self.kind, self.data_type) {
            (OutputKind::Transformed(_), _) => false,
            (OutputKind::Rule { choice, .. }, _)
                if !rules.is_some_and(|rules| rules.cannot_fail(*choice)) =>
            {
                false
            }
            // Anything converts to a string.
            (_, None | Some(DataType::String)) => true,
            (kind, Some(DataType::Double)) => numbers(kind),
            (OutputKind::Predicted, Some(data_type)) => {
                data_type == predicted && data_type == DataType::Boolean
            }
            _ => false,
        };
        self.computed = !read && cannot_fail;
    }

    /// Whether the field reads the entities by rank (which must then be ranked).
    pub fn reads_ranks(&self) -> bool {
        matches!(
            self.kind,
            OutputKind::Entity(_) | OutputKind::Cluster | OutputKind::Affinity(EntityRef::Rank(_))
        )
    }

    /// Whether the value is computed when reported (never stored).
    pub fn is_computed(&self) -> bool {
        self.computed
    }

    /// Computes the value of a field [`OutputDef::is_computed`] says is computed when reported,
    /// into `value`, as the caller sees it: what [`OutputDef::write`] would have stored.
    pub fn compute(
        &self,
        env: &mut Env<'_>,
        results: Results<'_>,
        value: &mut Value,
    ) -> Result<()> {
        // As `write` stores them: numbers from their parts, kept values from where they are.
        let computed = match self.number(results)? {
            Some(Some(number)) if self.keeps(Val::Num(number)) => {
                *value = Value::Number(number);
                return Ok(());
            }
            Some(number) => number.map_or(Val::Missing, Val::Num),
            None => match self.stored(results)? {
                Some(stored) if self.keeps(*stored) => {
                    put(env, stored, value);
                    return Ok(());
                }
                stored => stored.copied().unwrap_or(Val::Missing),
            },
        };
        let converted = match self.data_type {
            Some(data_type) => env.cast(computed, data_type)?,
            None => computed,
        };
        put(env, &converted, value);
        Ok(())
    }

    /// Whether the field stores a value of this kind as it is (it declares no type, or that
    /// of the value, or the value is missing).
    fn keeps(&self, value: Val) -> bool {
        self.data_type
            .is_none_or(|data_type| value.is_missing() || value.has_type(data_type))
    }

    /// The number the field reports, for the kinds that report one (`Some(None)`: missing).
    #[inline(always)]
    fn number(&self, results: Results<'_>) -> Result<Option<Option<f64>>> {
        let details = results.details;
        Ok(Some(match &self.kind {
            OutputKind::Predicted => match *results.predicted {
                Val::Num(number) => Some(number),
                Val::Missing => None,
                _ => return Ok(None),
            },
            OutputKind::Probability(category) => match (results.probabilities, category) {
                (Some((probabilities, _)), Some(index)) => Some(probabilities[*index]),
                (Some((probabilities, winner)), None) => Some(probabilities[winner]),
                (None, _) => None,
            },
            OutputKind::Affinity(EntityRef::Rank(rank)) => {
                details.ranked.get(rank - 1).map(|(_, affinity)| *affinity)
            }
            OutputKind::Affinity(EntityRef::Id(id)) => details
                .ranked
                .iter()
                .find(|(entity, _)| entity == id)
                .map(|(_, affinity)| *affinity),
            OutputKind::Confidence(category) => category
                .or(results.winner)
                .and_then(|index| details.confidences.get(index))
                .copied(),
            OutputKind::Rule { feature, choice } if feature.is_number() => match &details.rules {
                Some(rules) => rules.number(*choice, *feature)?,
                None => None,
            },
            _ => return Ok(None),
        }))
    }

    /// The value the field reports as it is kept elsewhere, for the kinds that report one
    /// (predicted classes, entities, reason codes, rules' texts).
    #[inline(always)]
    fn stored<'r>(&self, results: Results<'r>) -> Result<Option<&'r Val>> {
        let details = results.details;
        let entity = |rank: usize| {
            details
                .ranked
                .get(rank - 1)
                .map_or(&Val::Missing, |(id, _)| id)
        };
        Ok(Some(match &self.kind {
            OutputKind::Predicted => results.predicted,
            OutputKind::Entity(rank) => entity(*rank),
            OutputKind::Cluster => entity(1),
            OutputKind::Reason(rank) => details.reasons.get(rank - 1).unwrap_or(&Val::Missing),
            OutputKind::Rule { feature, choice } => match &details.rules {
                Some(rules) => rules.text(*choice, *feature)?,
                None => &Val::Missing,
            },
            _ => return Ok(None),
        }))
    }
}

impl OutputDef {
    /// Whether the field's value follows from the prediction alone (a predicted value or a
    /// probability, not converted to another type), so that a record scored straight from its
    /// inputs can report it without slots.
    pub fn is_direct(&self, categories: Option<&Categories>) -> bool {
        let predicted_type = categories.map_or(DataType::Double, |c| c.data_type);
        match (&self.kind, self.data_type) {
            (OutputKind::Predicted, None) => true,
            (OutputKind::Predicted, Some(data_type)) => data_type == predicted_type,
            (OutputKind::Probability(_), None | Some(DataType::Double)) => true,
            _ => false,
        }
    }

    /// The field's value from the prediction, for a field [`OutputDef::is_direct`] accepts:
    /// `predicted` as the caller sees it, the probabilities with the winner's index.
    pub fn direct_value(&self, predicted: &Value, probabilities: Option<(&[f64], usize)>) -> Value {
        match (&self.kind, probabilities) {
            (OutputKind::Predicted, _) => predicted.clone(),
            (OutputKind::Probability(Some(index)), Some((probabilities, _))) => {
                Value::Number(probabilities[*index])
            }
            (OutputKind::Probability(None), Some((probabilities, winner))) => {
                Value::Number(probabilities[winner])
            }
            _ => Value::Missing,
        }
    }
}

impl OutputDef {
    /// The value of a rule output whose value is a list of items (antecedent, consequent), which
    /// the caller gets instead of the slot's.
    pub fn list_value(&self, details: &Details) -> Result<Option<Value>> {
        match (&self.kind, &details.rules) {
            (
                OutputKind::Rule {
                    feature: feature @ (Measure::Antecedent | Measure::Consequent),
                    choice,
                },
                Some(rules),
            ) => rules.report(*choice, *feature).map(Some),
            _ => Ok(None),
        }
    }
}

/// Sets `value` to what a caller sees of `stored`, kind by kind (a value assembled first and
/// then copied whole would wait for its parts to be stored).
#[inline(always)]
pub fn put(env: &Env<'_>, stored: &Val, value: &mut Value) {
    match stored {
        Val::Num(number) => *value = Value::Number(*number),
        Val::Str(id) => *value = Value::Text(env.shared_text(*id)),
        Val::Bool(flag) => *value = Value::Boolean(*flag),
        Val::Missing => *value = Value::Missing,
    }
}
