//! Records prepared once for a model and scored any number of times: their inputs parsed,
//! checked and typed as the model's fields say, as JPMML-Evaluator's `InputField.prepare`
//! prepares a record's arguments before `Evaluator.evaluate`.

use super::error::{Error, Result};
use super::eval::Env;
use super::value::Val;
use super::{prepare_inputs, score_env, score_numbers, Input, Model, Prediction};

/// A record prepared for one model by [`Model::prepare`]: each input's value parsed (a
/// category, a number written out, a boolean, a date), checked against its field (valid,
/// invalid and missing values treated as the MiningSchema says) and bound to the model's own
/// layout, so that [`Model::score_prepared`] does nothing of that again. For records scored
/// more than once, or prepared away from the scoring thread.
#[derive(Clone, Debug)]
pub struct PreparedRecord {
    /// Each input's prepared value, in the order of the model's inputs.
    values: Box<[Val]>,
    /// The texts of the values that are not among the document's strings (their ids follow
    /// the document's, in this order).
    texts: Box<[String]>,
    /// For a model that scores records of numbers directly: the inputs' numbers at their
    /// slots, when every one is a present number.
    numbers: Option<Box<[f64]>>,
}

impl Model {
    /// Prepares a record of typed values, in the order of [`Model::fields`], for
    /// [`Model::score_prepared`] (with this model, or one loaded from the same document for
    /// the same fields). Fails as scoring it would for a value its field rejects.
    pub fn prepare(&mut self, values: &[Input<'_>]) -> Result<PreparedRecord> {
        self.check_width(values.len())?;
        let value_at = |position: usize| values[position];
        let numbers = (self.direct && self.gather_numbers(&value_at))
            .then(|| self.numbers.clone().into_boxed_slice());
        let mut env = Env::new(&self.program, &mut self.slots);
        prepare_inputs(&self.inputs, &self.plain, &self.other, &value_at, &mut env)?;
        let values = self
            .inputs
            .iter()
            .map(|input| env.value(input.slot))
            .collect::<Result<_>>()?;
        Ok(PreparedRecord {
            values,
            texts: env.record_texts().into(),
            numbers,
        })
    }

    /// Scores a record [`Model::prepare`] prepared: the values are copied to the model's slots
    /// as they are (or read where they are, for a model that scores numbers directly).
    pub fn score_prepared(&mut self, record: &PreparedRecord) -> Result<Prediction> {
        if record.values.len() != self.inputs.len() {
            return Err(Error::scoring(format!(
                "the record was prepared for a model of {} inputs, not {}",
                record.values.len(),
                self.inputs.len()
            )));
        }
        if let (true, Some(numbers)) = (self.direct, &record.numbers) {
            return score_numbers(&mut self.root, numbers, &self.reporting);
        }
        let mut env = Env::new(&self.program, &mut self.slots);
        env.restore_record_texts(&record.texts);
        for (input, value) in self.inputs.iter().zip(&record.values) {
            env.set(input.slot, *value);
        }
        score_env(&mut self.root, &mut env, &self.reporting)
    }
}
