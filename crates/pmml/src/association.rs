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
struct Rule {
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
    /// `id` and `text` as interned values.
    id_value: Val,
    text_value: Val,
    antecedent_items: Vec<Arc<str>>,
    consequent_items: Vec<Arc<str>>,
}

/// The items, itemsets and rules, shared with the output fields.
#[derive(Debug)]
pub struct RuleTable {
    /// Each itemset's items.
    itemsets: Vec<Vec<usize>>,
    rules: Vec<Rule>,
    /// The orders rules are ranked in ([`RuleTable::ranking`]).
    rankings: Vec<Ranking>,
}

/// An order of the rules, those that lack its measure last.
#[derive(Debug)]
struct Ranking {
    order: Box<[u32]>,
    /// Where in `order` the rules that lack the measure begin.
    lacking: usize,
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
            compiled.text_value = Val::Str(c.program.interner.intern(&compiled.text));
            compiled.id_value = Val::Str(c.program.interner.intern(&compiled.id));
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

    /// Finds the items the record holds, each rule's antecedent and consequent flags, and the
    /// rule each of the output fields' choices picks (in `details`); the model itself predicts
    /// nothing.
    pub fn evaluate(&mut self, env: &mut Env<'_>, details: &mut Details) -> Result<Raw> {
        for (held, item) in self.held.iter_mut().zip(&self.items) {
            *held = item.holds(env)?;
        }
        for (flag, members) in self.itemsets.iter_mut().zip(&self.table.itemsets) {
            *flag = members.iter().all(|member| self.held[*member]);
        }
        if let Some(choices) = &mut details.rules {
            choices.choose(&self.itemsets);
        }
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
        id_value: Val::Missing,
        text_value: Val::Missing,
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

impl Algorithm {
    /// The bit of a rule's per-record mask ([`RuleChoices::choose`]) that says whether the
    /// algorithm considers it.
    fn bit(self) -> u8 {
        match self {
            Algorithm::Recommendation => 1,
            Algorithm::ExclusiveRecommendation => 2,
            Algorithm::RuleAssociation => 4,
        }
    }
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

/// Which rule an output field reports: which rules are considered, ranked how, which rank.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Choice {
    /// Which rules are considered.
    pub algorithm: Algorithm,
    /// Which of them (1: the first).
    pub rank: usize,
    /// What they are ranked by.
    pub basis: Measure,
    /// Whether the highest comes first.
    pub descending: bool,
}

/// What a choice picked in the current record.
#[derive(Clone, Copy, Debug)]
enum Chosen {
    /// No rule.
    Nothing,
    /// The rule of this index.
    Rule(u32),
    /// A rule it considers (this one) lacks the measure they are ranked by.
    Failed(u32),
}

/// The distinct choices an association model's output fields make, and what each picked in the
/// current record: each is made once per record, however many output fields report it.
#[derive(Clone, Debug)]
pub struct RuleChoices {
    table: Arc<RuleTable>,
    /// Each choice, with the index of its ranking.
    choices: Vec<(Choice, usize)>,
    /// Each choice's rule in the current record.
    chosen: Vec<Chosen>,
    /// Each rule's mask of the algorithms that consider it in the current record
    /// ([`Algorithm::bit`]).
    masks: Vec<u8>,
}

impl RuleChoices {
    /// No choices yet, over the rules of `table`.
    pub fn new(table: Arc<RuleTable>) -> RuleChoices {
        RuleChoices {
            table,
            choices: Vec::new(),
            chosen: Vec::new(),
            masks: Vec::new(),
        }
    }

    /// The index of `choice` among the distinct choices (added when new).
    pub fn add(&mut self, choice: Choice) -> usize {
        if let Some(index) = self.choices.iter().position(|(known, _)| *known == choice) {
            return index;
        }
        let ranking = RuleTable::ranking(choice.basis, choice.descending);
        self.choices.push((choice, ranking));
        self.chosen.push(Chosen::Nothing);
        self.choices.len() - 1
    }

    /// Whether the choice of this index never fails (every rule has the measure it ranks by).
    pub fn cannot_fail(&self, index: usize) -> bool {
        let ranking = &self.table.rankings[self.choices[index].1];
        ranking.lacking == ranking.order.len()
    }

    /// Sets each rule's mask from which `itemsets` the record holds, and makes every choice.
    fn choose(&mut self, itemsets: &[bool]) {
        self.masks.clear();
        self.masks.extend(self.table.rules.iter().map(|rule| {
            let (antecedent, consequent) = (itemsets[rule.antecedent], itemsets[rule.consequent]);
            u8::from(antecedent)
                | u8::from(antecedent && !consequent) << 1
                | u8::from(antecedent && consequent) << 2
        }));
        for (chosen, (choice, ranking)) in self.chosen.iter_mut().zip(&self.choices) {
            *chosen = self.table.select(*ranking, choice, &self.masks);
        }
    }

    /// The rule the choice of this index picked in the current record, if any; fails when one
    /// of the rules it considers lacks the measure they are ranked by.
    #[inline]
    fn chosen(&self, index: usize) -> Result<Option<&Rule>> {
        let rules = &self.table.rules;
        match self.chosen[index] {
            Chosen::Nothing => Ok(None),
            Chosen::Rule(rule) => Ok(Some(&rules[rule as usize])),
            Chosen::Failed(rule) => Err(lacks(&rules[rule as usize], self.choices[index].0.basis)),
        }
    }

    /// The number `feature` (a numeric measure) of the rule the choice `index` picked: `None`
    /// when none was picked or the rule lacks it.
    pub fn number(&self, index: usize, feature: Measure) -> Result<Option<f64>> {
        Ok(self
            .chosen(index)?
            .map(|rule| self.table.number(rule, feature))
            .filter(|number| !number.is_nan()))
    }

    /// The text `feature` (the rule or its id) of the rule the choice `index` picked, as kept
    /// interned; missing when none was picked, or for a list of items (which
    /// [`RuleChoices::report`] gives).
    pub fn text(&self, index: usize, feature: Measure) -> Result<&Val> {
        Ok(match (self.chosen(index)?, feature) {
            (Some(rule), Measure::Rule) => &rule.text_value,
            (Some(rule), Measure::RuleId) => &rule.id_value,
            _ => &Val::Missing,
        })
    }

    /// What `feature` reports of the rule the choice `index` picked: a number, a text, a list of
    /// item values, or missing when none was picked.
    pub fn report(&self, index: usize, feature: Measure) -> Result<crate::Value> {
        Ok(match self.chosen(index)? {
            Some(rule) => self.table.report(rule, feature),
            None => crate::Value::Missing,
        })
    }
}

impl RuleTable {
    /// The table of these itemsets and rules, with the rules' rankings.
    fn new(itemsets: Vec<Vec<usize>>, rules: Vec<Rule>) -> RuleTable {
        let mut table = RuleTable {
            itemsets,
            rules,
            rankings: Vec::new(),
        };
        for measure in NUMERIC_MEASURES {
            for descending in [false, true] {
                let ranking = table.rank_by(measure, descending);
                table.rankings.push(ranking);
            }
        }
        // Ranked by a text, which no rule has: every rule lacks it, and the one named is the
        // first considered in document order (the last in this one).
        table.rankings.push(Ranking {
            order: (0..table.rules.len() as u32).rev().collect(),
            lacking: 0,
        });
        table
    }

    /// The index of the ranking by `basis`, highest first when `descending`.
    fn ranking(basis: Measure, descending: bool) -> usize {
        match basis.numeric_index() {
            Some(index) => 2 * index + usize::from(descending),
            None => 2 * NUMERIC_MEASURES.len(),
        }
    }

    /// The rules in the order of a stable sort by `measure` (those that lack it last).
    fn rank_by(&self, measure: Measure, descending: bool) -> Ranking {
        let mut order: Vec<u32> = (0..self.rules.len() as u32).collect();
        let number = |rule: u32| self.number(&self.rules[rule as usize], measure);
        order.sort_by(|&a, &b| {
            let (x, y) = (number(a), number(b));
            let by_measure = if descending {
                y.total_cmp(&x)
            } else {
                x.total_cmp(&y)
            };
            x.is_nan().cmp(&y.is_nan()).then(by_measure)
        });
        let lacking = order.partition_point(|&rule| !number(rule).is_nan());
        Ranking {
            order: order.into_boxed_slice(),
            lacking,
        }
    }

    /// The rule `choice` picks in this record (by the rules' masks): the rank-th of those its
    /// algorithm considers, in the order of its ranking (ties in document order); failed when
    /// one of those lacks the measure (the last such, in that order).
    #[inline]
    fn select(&self, ranking: usize, choice: &Choice, masks: &[u8]) -> Chosen {
        let ranking = &self.rankings[ranking];
        let bit = choice.algorithm.bit();
        let considered = |rule: &&u32| masks[**rule as usize] & bit != 0;
        let (ranked, lacking) = ranking.order.split_at(ranking.lacking);
        if let Some(rule) = lacking.iter().rev().find(considered) {
            return Chosen::Failed(*rule);
        }
        // The rank is at least 1 (checked at load).
        ranked
            .iter()
            .filter(considered)
            .nth(choice.rank - 1)
            .map_or(Chosen::Nothing, |rule| Chosen::Rule(*rule))
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

    /// What `feature` reports of `rule`: a number, a text, or a list of item values.
    fn report(&self, rule: &Rule, feature: Measure) -> crate::Value {
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

/// The error of a rule that lacks the measure it is ranked by.
fn lacks(rule: &Rule, measure: Measure) -> Error {
    Error::scoring(format!(
        "the rule `{}` has no {measure:?} to rank it by",
        rule.id
    ))
}
