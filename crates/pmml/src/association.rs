//! AssociationModel (items given by the record's fields, not transactions): which items a
//! record holds, which itemsets they make up, which rules' antecedents and consequents hold; the
//! rules then come out through `ruleValue` output fields (and `antecedent`, `consequent`,
//! `rule`, `ruleId`, `support`, `confidence`, `lift`, `leverage`), selected and ranked as
//! JPMML-Evaluator selects and ranks them.

use std::sync::Arc;

use super::compile::{Compiler, ScopeId};
use super::error::{Error, Result};
use super::eval::Env;
use super::functions::equal;
use super::models::Raw;
use super::output::Details;
use super::value::{parse_boolean, Val};
use super::xml::El;

/// How a record holds an item.
#[derive(Clone, Debug)]
struct Item {
    slot: u32,
    /// The category the field must equal; `None`: the field is a flag (`T`/`F`, a boolean).
    category: Option<Val>,
}

/// A rule and its measures.
#[derive(Clone, Debug)]
pub struct Rule {
    antecedent: usize,
    consequent: usize,
    support: f64,
    confidence: f64,
    lift: Option<f64>,
    leverage: Option<f64>,
    affinity: Option<f64>,
    id: Arc<str>,
    /// `{antecedent}->{consequent}`, and the two itemsets' item values, made at load time.
    text: Arc<str>,
    /// The interned ids of `id` and `text`.
    id_string: u32,
    text_string: u32,
    antecedent_items: Vec<Arc<str>>,
    consequent_items: Vec<Arc<str>>,
}

/// The items, itemsets and rules, shared with the output fields.
#[derive(Debug)]
pub struct RuleTable {
    /// Each itemset's items.
    itemsets: Vec<Vec<usize>>,
    rules: Vec<Rule>,
    /// For each numeric measure ([`Measure::numeric_index`]) ascending, then descending: the
    /// rules in the order of a stable sort by it (those that lack it last).
    orders: Vec<Box<[u32]>>,
}

/// A compiled AssociationModel.
#[derive(Clone, Debug)]
pub struct Association {
    items: Vec<Item>,
    table: Arc<RuleTable>,
    /// Which items the record holds, and which itemsets (reused between records).
    held: Vec<bool>,
    itemsets: Vec<bool>,
}

impl Association {
    /// Compiles an AssociationModel element.
    pub fn compile(
        c: &mut Compiler<'_, '_>,
        scope: ScopeId,
        element: &El<'_, '_>,
    ) -> Result<Association> {
        let mut items = Vec::new();
        let mut item_ids = Vec::new();
        let mut item_values: Vec<Arc<str>> = Vec::new();
        for item in element.children_named("Item") {
            items.push(compile_item(c, scope, &item)?);
            item_ids.push(item.required("id")?);
            item_values.push(Arc::from(item.required("value")?));
        }
        let mut itemset_ids = Vec::new();
        let mut itemsets = Vec::new();
        for itemset in element.children_named("Itemset") {
            let mut members = Vec::new();
            for reference in itemset.children_named("ItemRef") {
                let id = reference.required("itemRef")?;
                let index = item_ids
                    .iter()
                    .position(|known| *known == id)
                    .ok_or_else(|| reference.invalid(format!("no Item has the id `{id}`")))?;
                members.push(index);
            }
            itemset_ids.push(itemset.required("id")?);
            itemsets.push(members);
        }
        let mut rules = Vec::new();
        for (index, rule) in element.children_named("AssociationRule").enumerate() {
            let mut compiled = compile_rule(&rule, index, &itemset_ids)?;
            let values = |itemset: usize| -> Vec<Arc<str>> {
                itemsets[itemset]
                    .iter()
                    .map(|item: &usize| item_values[*item].clone())
                    .collect()
            };
            compiled.antecedent_items = values(compiled.antecedent);
            compiled.consequent_items = values(compiled.consequent);
            compiled.text = Arc::from(format!(
                "{{{}}}->{{{}}}",
                compiled.antecedent_items.join(","),
                compiled.consequent_items.join(",")
            ));
            // Interned now, so that output fields store them without a per-record copy.
            compiled.text_string = c.program.interner.intern(&compiled.text);
            compiled.id_string = c.program.interner.intern(&compiled.id);
            rules.push(compiled);
        }
        let held = vec![false; items.len()];
        let itemset_flags = vec![false; itemsets.len()];
        Ok(Association {
            items,
            table: Arc::new(RuleTable::new(itemsets, rules)),
            held,
            itemsets: itemset_flags,
        })
    }

    /// The items, itemsets and rules, for the output fields.
    pub fn table(&self) -> Arc<RuleTable> {
        self.table.clone()
    }

    /// Finds the items the record holds and each rule's antecedent and consequent flags (in
    /// `details`); the model itself predicts nothing.
    pub fn evaluate(&mut self, env: &mut Env<'_>, details: &mut Details) -> Result<Raw> {
        for (held, item) in self.held.iter_mut().zip(&self.items) {
            *held = item.holds(env)?;
        }
        for (flag, members) in self.itemsets.iter_mut().zip(&self.table.itemsets) {
            *flag = members.iter().all(|member| self.held[*member]);
        }
        details.rule_flags.clear();
        details
            .rule_flags
            .extend(self.table.rules.iter().map(|rule| {
                (
                    self.itemsets[rule.antecedent],
                    self.itemsets[rule.consequent],
                )
            }));
        Ok(Raw::Missing)
    }
}

impl Item {
    fn holds(&self, env: &mut Env<'_>) -> Result<bool> {
        let value = env.value(self.slot)?;
        if value.is_missing() {
            return Ok(false);
        }
        if let Some(category) = self.category {
            return equal(env, value, category);
        }
        let flag = match value {
            Val::Str(id) => match env.text(id) {
                "T" => Some(true),
                "F" => Some(false),
                text => parse_boolean(text),
            },
            Val::Bool(flag) => Some(flag),
            Val::Num(number) => parse_boolean(&number.to_string()),
            Val::Missing => None,
        };
        flag.ok_or_else(|| Error::scoring("an item's field holds neither true nor false"))
    }
}

fn compile_item(c: &mut Compiler<'_, '_>, scope: ScopeId, item: &El<'_, '_>) -> Result<Item> {
    let value = item.required("value")?;
    let (field, category) = match (item.attr("field"), item.attr("category")) {
        (Some(field), Some(category)) => (field, Some(category)),
        (Some(_), None) => return Err(item.invalid("an Item with a field needs a category")),
        (None, _) if c.resolve(scope, value, item).is_ok() => (value, None),
        (None, _) => match value.split_once('=') {
            Some((field, category)) => (field, Some(category)),
            None => return Err(item.invalid(format!("`{value}` names no field"))),
        },
    };
    let info = c.resolve(scope, field, item)?;
    let category = category
        .map(|text| c.literal(text, info.data_type, item))
        .transpose()?;
    Ok(Item {
        slot: info.slot,
        category,
    })
}

fn compile_rule(rule: &El<'_, '_>, index: usize, itemsets: &[&str]) -> Result<Rule> {
    let itemset = |attribute: &str| -> Result<usize> {
        let id = rule.required(attribute)?;
        itemsets
            .iter()
            .position(|known| *known == id)
            .ok_or_else(|| rule.invalid(format!("no Itemset has the id `{id}`")))
    };
    Ok(Rule {
        antecedent: itemset("antecedent")?,
        consequent: itemset("consequent")?,
        support: rule.required_number("support")?,
        confidence: rule.required_number("confidence")?,
        lift: rule.parsed("lift")?,
        leverage: rule.parsed("leverage")?,
        affinity: rule.parsed("affinity")?,
        id: Arc::from(match rule.attr("id") {
            Some(id) => id.to_owned(),
            None => (index + 1).to_string(),
        }),
        text: Arc::from(""),
        id_string: 0,
        text_string: 0,
        antecedent_items: Vec::new(),
        consequent_items: Vec::new(),
    })
}

/// Which rules an output field considers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Algorithm {
    /// Rules whose antecedent holds.
    Recommendation,
    /// Rules whose antecedent holds and consequent does not.
    ExclusiveRecommendation,
    /// Rules whose antecedent and consequent hold.
    RuleAssociation,
}

/// What an output field reports of a rule, or ranks rules by.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measure {
    /// The antecedent's item values.
    Antecedent,
    /// The consequent's item values.
    Consequent,
    /// `{antecedent}->{consequent}`.
    Rule,
    /// The rule's id.
    RuleId,
    /// The rule's confidence.
    Confidence,
    /// The rule's support.
    Support,
    /// The rule's lift.
    Lift,
    /// The rule's leverage.
    Leverage,
    /// The rule's affinity.
    Affinity,
}

/// The measures that are numbers, in the order of [`Measure::numeric_index`].
const NUMERIC_MEASURES: [Measure; 5] = [
    Measure::Confidence,
    Measure::Support,
    Measure::Lift,
    Measure::Leverage,
    Measure::Affinity,
];

impl Measure {
    /// The measure's index in [`NUMERIC_MEASURES`], if it is a number.
    fn numeric_index(self) -> Option<usize> {
        NUMERIC_MEASURES.iter().position(|known| *known == self)
    }

    /// Whether the measure is a number (else a text or a list of texts).
    pub fn is_number(self) -> bool {
        !matches!(
            self,
            Measure::Antecedent | Measure::Consequent | Measure::Rule | Measure::RuleId
        )
    }

    /// Reads a `ruleFeature` or `rankBasis` keyword (or a result feature of the same name).
    pub fn from_keyword(keyword: &str) -> Option<Measure> {
        Some(match keyword {
            "antecedent" => Measure::Antecedent,
            "consequent" => Measure::Consequent,
            "rule" => Measure::Rule,
            "ruleId" => Measure::RuleId,
            "confidence" => Measure::Confidence,
            "support" => Measure::Support,
            "lift" => Measure::Lift,
            "leverage" => Measure::Leverage,
            "affinity" => Measure::Affinity,
            _ => return None,
        })
    }
}

/// A rule output field: which rules, ranked how, which rank, what of it.
#[derive(Clone, Copy, Debug)]
pub struct RuleQuery {
    /// What is reported.
    pub feature: Measure,
    /// Which rules are considered.
    pub algorithm: Algorithm,
    /// Which of them (1: the first).
    pub rank: usize,
    /// What they are ranked by.
    pub basis: Measure,
    /// Whether the highest comes first.
    pub descending: bool,
}

impl RuleTable {
    /// The table of these itemsets and rules, with the rules' orders by each measure.
    fn new(itemsets: Vec<Vec<usize>>, rules: Vec<Rule>) -> RuleTable {
        let mut table = RuleTable {
            itemsets,
            rules,
            orders: Vec::new(),
        };
        for measure in NUMERIC_MEASURES {
            for descending in [false, true] {
                let order = table.order_by(measure, descending);
                table.orders.push(order);
            }
        }
        table
    }

    /// The rules in the order of a stable sort by `measure` (those that lack it last).
    fn order_by(&self, measure: Measure, descending: bool) -> Box<[u32]> {
        let mut order: Vec<u32> = (0..self.rules.len() as u32).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (
                self.number(&self.rules[a as usize], measure),
                self.number(&self.rules[b as usize], measure),
            );
            let by_measure = if descending {
                y.total_cmp(&x)
            } else {
                x.total_cmp(&y)
            };
            x.is_nan().cmp(&y.is_nan()).then(by_measure)
        });
        order.into_boxed_slice()
    }

    /// The rule `query` selects in this record (by the rules' flags), if any: the rank-th of
    /// those its algorithm considers, in the order of their measure (ties in document order).
    /// Fails when one of those lacks the measure.
    pub fn select(&self, query: &RuleQuery, flags: &[(bool, bool)]) -> Result<Option<&Rule>> {
        let selected = |(antecedent, consequent): (bool, bool)| match query.algorithm {
            Algorithm::Recommendation => antecedent,
            Algorithm::ExclusiveRecommendation => antecedent && !consequent,
            Algorithm::RuleAssociation => antecedent && consequent,
        };
        let Some(index) = query.basis.numeric_index() else {
            // No rule has a text to rank it by: fails when one is considered.
            return match (0..flags.len()).find(|&rule| selected(flags[rule])) {
                Some(rule) => self.measure(&self.rules[rule], query.basis).map(|_| None),
                None => Ok(None),
            };
        };
        let order = &self.orders[2 * index + usize::from(query.descending)];
        let considered = || {
            order
                .iter()
                .map(|&rule| rule as usize)
                .filter(|&rule| selected(flags[rule]))
        };
        // Those that lack the measure come last: if the last of all does not, none does; else
        // the last one considered tells.
        let lacking = |rule: usize| self.number(&self.rules[rule], query.basis).is_nan();
        if order.last().is_some_and(|&rule| lacking(rule as usize)) {
            if let Some(last) = considered().next_back() {
                self.measure(&self.rules[last], query.basis)?;
            }
        }
        // The rank is at least 1 (checked at load).
        Ok(considered()
            .nth(query.rank - 1)
            .map(|rule| &self.rules[rule]))
    }

    /// What `feature` of `rule` puts in an output field's slot: a number, an interned text, or
    /// missing for the lists of items (which the caller gets from [`RuleTable::report`]).
    pub fn slot_value(&self, rule: &Rule, feature: Measure) -> Val {
        match feature {
            Measure::Antecedent | Measure::Consequent => Val::Missing,
            Measure::Rule => Val::Str(rule.text_string),
            Measure::RuleId => Val::Str(rule.id_string),
            measure => match self.number(rule, measure) {
                number if number.is_nan() => Val::Missing,
                number => Val::Num(number),
            },
        }
    }

    /// The rule's number for `measure` (NaN when the rule lacks it).
    fn number(&self, rule: &Rule, measure: Measure) -> f64 {
        match measure {
            Measure::Support => rule.support,
            Measure::Confidence => rule.confidence,
            Measure::Lift => rule.lift.unwrap_or(f64::NAN),
            Measure::Leverage => rule.leverage.unwrap_or(f64::NAN),
            Measure::Affinity => rule.affinity.unwrap_or(f64::NAN),
            _ => f64::NAN,
        }
    }

    /// Fails when the rule lacks the measure it is ranked by.
    fn measure(&self, rule: &Rule, measure: Measure) -> Result<f64> {
        let number = self.number(rule, measure);
        if number.is_nan() {
            return Err(Error::scoring(format!(
                "the rule `{}` has no {measure:?} to rank it by",
                rule.id
            )));
        }
        Ok(number)
    }

    /// What `feature` reports of `rule`: a number, a text, or a list of item values.
    pub fn report(&self, rule: &Rule, feature: Measure) -> crate::Value {
        use crate::Value;
        let list =
            |items: &[Arc<str>]| Value::List(items.iter().cloned().map(Value::Text).collect());
        match feature {
            Measure::Antecedent => list(&rule.antecedent_items),
            Measure::Consequent => list(&rule.consequent_items),
            Measure::Rule => Value::Text(rule.text.clone()),
            Measure::RuleId => Value::Text(rule.id.clone()),
            measure => match self.number(rule, measure) {
                number if number.is_nan() => Value::Missing,
                number => Value::Number(number),
            },
        }
    }
}
