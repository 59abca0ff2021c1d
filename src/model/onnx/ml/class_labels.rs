//! Class labels, as the ONNX-ML classifiers and `ZipMap` declare them: integers or strings, in
//! the order of the score columns.

use anyhow::{bail, Result};
use tract_onnx::prelude::*;

use super::attributes::Attributes;

/// A classifier's labels (`classlabels_int64s`, `classlabels_ints` or `classlabels_strings`).
#[derive(Clone, Debug)]
pub enum ClassLabels {
    /// Integer labels.
    Ints(Vec<i64>),
    /// String labels.
    Strings(Vec<String>),
}

impl ClassLabels {
    /// The labels of a node that gives them either as integers, in the attribute `ints`, or as
    /// strings, in `classlabels_strings`.
    pub fn read(attributes: &Attributes, ints: &str) -> Result<Self> {
        let (integers, strings) = (
            attributes.ints(ints)?,
            attributes.strings("classlabels_strings")?,
        );
        Ok(match (integers.is_empty(), strings.is_empty()) {
            (false, true) => ClassLabels::Ints(integers.to_vec()),
            (true, false) => ClassLabels::Strings(strings.into_iter().map(String::from).collect()),
            (true, true) => bail!("neither {ints} nor classlabels_strings is given"),
            (false, false) => bail!("both {ints} and classlabels_strings are given"),
        })
    }

    /// The number of labels.
    pub fn len(&self) -> usize {
        match self {
            ClassLabels::Ints(labels) => labels.len(),
            ClassLabels::Strings(labels) => labels.len(),
        }
    }

    /// The data type of a label tensor.
    pub fn datum_type(&self) -> DatumType {
        match self {
            ClassLabels::Ints(_) => DatumType::I64,
            ClassLabels::Strings(_) => DatumType::String,
        }
    }

    /// The label tensor for the predicted class indices.
    pub fn tensor(&self, classes: &[usize]) -> Tensor {
        match self {
            ClassLabels::Ints(labels) => {
                tensor1(&classes.iter().map(|&c| labels[c]).collect::<Vec<_>>())
            }
            ClassLabels::Strings(labels) => tensor1(
                &classes
                    .iter()
                    .map(|&c| labels[c].clone())
                    .collect::<Vec<_>>(),
            ),
        }
    }
}
