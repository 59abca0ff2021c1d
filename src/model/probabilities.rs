//! A prediction's class probabilities, held in the prediction itself for up to
//! [`Probabilities::INLINE`] classes: scoring a batch of a classifier's records then allocates
//! nothing per record.

use std::ops::Deref;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// One probability per class label, in the order of the model's labels (empty for a regression,
/// or a classifier that gives none). Reads as a slice.
///
/// ```
/// use modelserver::model::Probabilities;
///
/// let probabilities = Probabilities::from([0.25, 0.75].as_slice());
/// assert_eq!(&*probabilities, &[0.25, 0.75]);
/// assert!(Probabilities::default().is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Probabilities(SmallVec<[f64; Probabilities::INLINE]>);

impl Probabilities {
    /// The most classes held without an allocation of their own.
    pub const INLINE: usize = 8;

    /// The probabilities of one output row, each converted to `f64`.
    pub fn from_row<T: Copy + Into<f64>>(row: &[T]) -> Self {
        if row.len() > Self::INLINE {
            return row.iter().map(|&value| value.into()).collect();
        }
        let mut inline = [0.0; Self::INLINE];
        for (probability, &value) in inline.iter_mut().zip(row) {
            *probability = value.into();
        }
        Probabilities(SmallVec::from_buf_and_len(inline, row.len()))
    }
}

impl Deref for Probabilities {
    type Target = [f64];

    fn deref(&self) -> &[f64] {
        &self.0
    }
}

impl From<&[f64]> for Probabilities {
    fn from(probabilities: &[f64]) -> Self {
        Self::from_row(probabilities)
    }
}

/// Takes the vector's own memory when it has more than [`Probabilities::INLINE`] classes.
impl From<Vec<f64>> for Probabilities {
    fn from(probabilities: Vec<f64>) -> Self {
        Probabilities(SmallVec::from_vec(probabilities))
    }
}

impl FromIterator<f64> for Probabilities {
    fn from_iter<I: IntoIterator<Item = f64>>(probabilities: I) -> Self {
        Probabilities(probabilities.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Probabilities {
    type Item = &'a f64;
    type IntoIter = std::slice::Iter<'a, f64>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
