//! Scorecard: the initial score plus one partial score per characteristic (the first attribute
//! whose predicate holds), and the reason codes ranked by the points each characteristic lies
//! below (or above) its baseline, as JPMML-Evaluator ranks them.

use super::compile::{Compiler, ScopeId};
use super::error::{Error, Result};
use super::eval::Env;
use super::expr::{self, Expr};
use super::models::Raw;
use super::output::Details;
use super::predicate::{self, Pred};
use super::value::Val;
use super::xml::El;

/// An attribute's partial score.
#[derive(Clone, Debug)]
enum Score {
    Fixed(f64),
    Computed(Expr),
}

#[derive(Clone, Debug)]
struct Attribute {
    predicate: Pred,
    score: Score,
    /// The reason code (the attribute's, else its characteristic's).
    reason: Option<Val>,
}

#[derive(Clone, Debug)]
struct Characteristic {
    attributes: Vec<Attribute>,
    baseline: Option<f64>,
}

/// A compiled Scorecard.
#[derive(Clone, Debug)]
pub struct Scorecard {
    initial: f64,
    characteristics: Vec<Characteristic>,
    use_reason_codes: bool,
    points_above: bool,
    /// Points by reason code in first-seen order (reused between records).
    points: Vec<(Val, f64)>,
}

impl Scorecard {
    /// Compiles a Scorecard element.
    pub fn compile(
        c: &mut Compiler<'_, '_>,
        scope: ScopeId,
        element: &El<'_, '_>,
    ) -> Result<Scorecard> {
        let use_reason_codes = element.attr("useReasonCodes") != Some("false");
        let points_above = match element.attr("reasonCodeAlgorithm").unwrap_or("pointsBelow") {
            "pointsBelow" => false,
            "pointsAbove" => true,
            other => return Err(element.bad_keyword("reasonCodeAlgorithm", other)),
        };
        let default_baseline: Option<f64> = element.parsed("baselineScore")?;
        let list = element
            .child("Characteristics")
            .ok_or_else(|| element.invalid("Characteristics are required"))?;
        let mut characteristics = Vec::new();
        for characteristic in list.children_named("Characteristic") {
            let compiled = compile_characteristic(c, scope, &characteristic, default_baseline)?;
            if use_reason_codes && compiled.baseline.is_none() {
                return Err(characteristic.invalid("a baselineScore is required"));
            }
            if use_reason_codes && compiled.attributes.iter().any(|a| a.reason.is_none()) {
                return Err(characteristic.invalid("every attribute needs a reasonCode"));
            }
            characteristics.push(compiled);
        }
        Ok(Scorecard {
            initial: element.parsed_or("initialScore", 0.0)?,
            characteristics,
            use_reason_codes,
            points_above,
            points: Vec::new(),
        })
    }

    /// Scores the current record; the ranked reason codes go to `details`.
    pub fn evaluate(&mut self, env: &mut Env<'_>, details: &mut Details) -> Result<Raw> {
        let mut total = self.initial;
        self.points.clear();
        for characteristic in &self.characteristics {
            let (score, reason) = characteristic.evaluate(env)?;
            total += score;
            if let (true, Some(reason), Some(baseline)) =
                (self.use_reason_codes, reason, characteristic.baseline)
            {
                let difference = if self.points_above {
                    score - baseline
                } else {
                    baseline - score
                };
                match self.points.iter_mut().find(|(code, _)| *code == reason) {
                    Some((_, points)) => *points += difference,
                    None => self.points.push((reason, difference)),
                }
            }
        }
        details.reasons.clear();
        if self.use_reason_codes {
            self.points.retain(|(_, points)| *points >= 0.0);
            self.points.sort_by(|a, b| b.1.total_cmp(&a.1));
            details
                .reasons
                .extend(self.points.iter().map(|(code, _)| *code));
        }
        Ok(Raw::Value(total))
    }
}

impl Characteristic {
    /// The partial score and reason code of the first attribute that applies.
    fn evaluate(&self, env: &mut Env<'_>) -> Result<(f64, Option<Val>)> {
        for attribute in &self.attributes {
            if attribute.predicate.eval(env)? != Some(true) {
                continue;
            }
            let score = match &attribute.score {
                Score::Fixed(score) => *score,
                Score::Computed(expr) => {
                    let value = expr.eval(env)?;
                    env.as_number(value)?
                        .ok_or_else(|| Error::scoring("a ComplexPartialScore gave no value"))?
                }
            };
            return Ok((score, attribute.reason));
        }
        Err(Error::scoring("no attribute of a characteristic applies"))
    }
}

fn compile_characteristic(
    c: &mut Compiler<'_, '_>,
    scope: ScopeId,
    element: &El<'_, '_>,
    default_baseline: Option<f64>,
) -> Result<Characteristic> {
    let reason = element.attr("reasonCode");
    let mut attributes = Vec::new();
    for attribute in element.children_named("Attribute") {
        let predicate_element = predicate::find(&attribute)
            .ok_or_else(|| attribute.invalid("the attribute has no predicate"))?;
        let predicate = predicate::compile(c, scope, &predicate_element)?;
        let score = match attribute.child("ComplexPartialScore") {
            Some(complex) => Score::Computed(expr::compile_container(c, scope, &complex)?.expr),
            None => Score::Fixed(attribute.required_number("partialScore")?),
        };
        let reason = attribute
            .attr("reasonCode")
            .or(reason)
            .map(|code| Val::Str(c.program.interner.intern(code)));
        attributes.push(Attribute {
            predicate,
            score,
            reason,
        });
    }
    Ok(Characteristic {
        attributes,
        baseline: element.parsed("baselineScore")?.or(default_baseline),
    })
}
