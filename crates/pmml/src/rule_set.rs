//! RuleSetModel: simple and compound rules flattened in document order; the rules that fire
//! are combined by the first selection method (firstHit, weightedSum, weightedMax) into a class,
//! each fired class's confidence and the winning rule's id, as JPMML-Evaluator does.

use super::compile::{Compiler, ScopeId};
use super::error::Result;
use super::eval::Env;
use super::models::Raw;
use super::output::Details;
use super::predicate::{self, Pred};
use super::target::Categories;
use super::value::Val;
use super::xml::El;

/// How fired rules make the result.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Criterion {
    FirstHit,
    WeightedSum,
    WeightedMax,
}

/// A rule: its predicate, and for a simple rule the index of its class, weight, confidence and
/// id; a compound rule's children follow it, `skip` tells how many.
#[derive(Clone, Debug)]
struct Rule {
    predicate: Pred,
    simple: Option<usize>,
    skip: usize,
}

#[derive(Clone, Debug)]
struct Simple {
    category: usize,
    weight: f64,
    confidence: f64,
    id: Val,
}

/// A compiled RuleSetModel.
#[derive(Clone, Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    simples: Vec<Simple>,
    criterion: Criterion,
    default: Option<(usize, f64)>,
    /// The simple rules fired in this record, by index (reused between records).
    fired: Vec<usize>,
}

impl RuleSet {
    /// Compiles a RuleSetModel element.
    pub fn compile(
        c: &mut Compiler<'_, '_>,
        scope: ScopeId,
        element: &El<'_, '_>,
        categories: &mut Categories,
    ) -> Result<RuleSet> {
        let set = element
            .child("RuleSet")
            .ok_or_else(|| element.invalid("a RuleSet is required"))?;
        let method = set
            .child("RuleSelectionMethod")
            .ok_or_else(|| set.invalid("a RuleSelectionMethod is required"))?;
        let criterion = match method.required("criterion")? {
            "firstHit" => Criterion::FirstHit,
            "weightedSum" => Criterion::WeightedSum,
            "weightedMax" => Criterion::WeightedMax,
            other => return Err(method.bad_keyword("criterion", other)),
        };
        let default = match set.attr("defaultScore") {
            Some(text) => Some((
                categories.index_for(c, text, &set)?,
                set.parsed_or("defaultConfidence", 0.0)?,
            )),
            None => None,
        };
        let mut builder = Builder {
            c,
            scope,
            categories,
            rules: Vec::new(),
            simples: Vec::new(),
        };
        builder.add_rules(&set, 0)?;
        Ok(RuleSet {
            rules: builder.rules,
            simples: builder.simples,
            criterion,
            default,
            fired: Vec::new(),
        })
    }

    /// Scores the current record: the class, and in `details` each of the `count` classes'
    /// confidence (0 for those no rule gave, as JPMML reports them) and the winning rule's id.
    pub fn evaluate(
        &mut self,
        env: &mut Env<'_>,
        details: &mut Details,
        count: usize,
    ) -> Result<Raw> {
        self.fire(env)?;
        let confidences = &mut details.confidences;
        confidences.clear();
        confidences.resize(count, 0.0);
        details.ranked.clear();
        if self.fired.is_empty() {
            return Ok(match self.default {
                Some((category, confidence)) => {
                    confidences[category] = confidence;
                    Raw::Class {
                        winner: category,
                        probabilities: false,
                    }
                }
                None => Raw::Missing,
            });
        }
        let winner = match self.criterion {
            Criterion::FirstHit => self.first_hit(confidences),
            _ => self.weighted(confidences),
        };
        let simple = &self.simples[winner];
        details
            .ranked
            .push((simple.id, confidences[simple.category]));
        Ok(Raw::Class {
            winner: simple.category,
            probabilities: false,
        })
    }

    fn simple(&self, fired: usize) -> &Simple {
        &self.simples[fired]
    }

    /// Collects the simple rules that fire, in document order.
    fn fire(&mut self, env: &mut Env<'_>) -> Result<()> {
        self.fired.clear();
        let mut index = 0;
        while index < self.rules.len() {
            let rule = &self.rules[index];
            if rule.predicate.eval(env)? != Some(true) {
                index += 1 + rule.skip;
                continue;
            }
            if let Some(simple) = rule.simple {
                self.fired.push(simple);
            }
            index += 1;
        }
        Ok(())
    }

    /// The first fired rule wins; each class's confidence is its first fired rule's.
    fn first_hit(&self, confidences: &mut [f64]) -> usize {
        for rule in self.fired.iter().rev() {
            let simple = self.simple(*rule);
            confidences[simple.category] = simple.confidence;
        }
        self.fired[0]
    }

    /// Per class, the heaviest fired rule; its value is the class's total weight over the fired
    /// rules (weightedSum) or its confidence (weightedMax); the rule of the best value wins.
    fn weighted(&self, confidences: &mut [f64]) -> usize {
        let mut best: Option<(usize, f64)> = None;
        for (position, rule) in self.fired.iter().enumerate() {
            let category = self.simple(*rule).category;
            let earlier = self.fired[..position]
                .iter()
                .any(|other| self.simple(*other).category == category);
            if earlier {
                continue;
            }
            let (heaviest, total) = self.heaviest(category);
            let value = match self.criterion {
                Criterion::WeightedSum => total / self.fired.len() as f64,
                _ => self.simple(heaviest).confidence,
            };
            confidences[category] = value;
            if best.is_none_or(|(_, top)| value > top) {
                best = Some((heaviest, value));
            }
        }
        best.map_or(self.fired[0], |(rule, _)| rule)
    }

    /// The first of the heaviest fired rules of `category`, and their total weight.
    fn heaviest(&self, category: usize) -> (usize, f64) {
        let mut heaviest: Option<usize> = None;
        let mut total = 0.0;
        for rule in &self.fired {
            let simple = self.simple(*rule);
            if simple.category != category {
                continue;
            }
            total += simple.weight;
            if heaviest.is_none_or(|top| self.simple(top).weight < simple.weight) {
                heaviest = Some(*rule);
            }
        }
        (heaviest.unwrap_or(self.fired[0]), total)
    }
}

/// Flattens the rules in document order.
struct Builder<'c, 'a, 'input, 'k> {
    c: &'c mut Compiler<'a, 'input>,
    scope: ScopeId,
    categories: &'k mut Categories,
    rules: Vec<Rule>,
    simples: Vec<Simple>,
}

impl Builder<'_, '_, '_, '_> {
    fn add_rules(&mut self, parent: &El<'_, '_>, depth: usize) -> Result<()> {
        if depth > super::xml::MAX_DEPTH {
            return Err(parent.invalid("rules nest too deep"));
        }
        for rule in parent.children() {
            match rule.name() {
                "SimpleRule" => self.add_simple(&rule)?,
                "CompoundRule" => {
                    let index = self.rules.len();
                    let predicate = self.predicate(&rule)?;
                    self.rules.push(Rule {
                        predicate,
                        simple: None,
                        skip: 0,
                    });
                    self.add_rules(&rule, depth + 1)?;
                    self.rules[index].skip = self.rules.len() - index - 1;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn predicate(&mut self, rule: &El<'_, '_>) -> Result<Pred> {
        let element =
            predicate::find(rule).ok_or_else(|| rule.invalid("the rule has no predicate"))?;
        predicate::compile(self.c, self.scope, &element)
    }

    fn add_simple(&mut self, rule: &El<'_, '_>) -> Result<()> {
        let id = match rule.attr("id") {
            Some(id) => id.to_owned(),
            None => (self.simples.len() + 1).to_string(),
        };
        let simple = Simple {
            category: self
                .categories
                .index_for(self.c, rule.required("score")?, rule)?,
            weight: rule.parsed_or("weight", 1.0)?,
            confidence: rule.parsed_or("confidence", 1.0)?,
            id: Val::Str(self.c.program.interner.intern(&id)),
        };
        let predicate = self.predicate(rule)?;
        self.rules.push(Rule {
            predicate,
            simple: Some(self.simples.len()),
            skip: 0,
        });
        self.simples.push(simple);
        Ok(())
    }
}
