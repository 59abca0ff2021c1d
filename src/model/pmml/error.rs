//! Errors raised while loading or scoring a PMML document, and their mapping onto [`ModelError`].

use crate::model::{ModelError, ModelKind};

/// Why a PMML document could not be loaded, or a record could not be scored. Boxed, so that the
/// results of scoring functions stay small.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PmmlError(Box<ErrorKind>);

/// The kinds of [`PmmlError`].
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// The bytes are not well-formed XML (or use a forbidden XML feature such as a DTD).
    #[error("malformed XML: {0}")]
    Xml(#[from] roxmltree::Error),
    /// The document is not UTF-8 text.
    #[error("the document is not UTF-8 text: {0}")]
    Encoding(#[from] std::str::Utf8Error),
    /// The document exceeds the size limit.
    #[error("the document has {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// The document's size in bytes.
        size: usize,
        /// The largest accepted size in bytes.
        limit: usize,
    },
    /// An element is nested deeper than the limit.
    #[error(
        "<{element}> at line {line} is nested {depth} levels deep, more than the limit of {limit}"
    )]
    TooDeep {
        /// The element's local name.
        element: String,
        /// The element's line (1-based).
        line: u32,
        /// The element's depth.
        depth: usize,
        /// The deepest accepted nesting.
        limit: usize,
    },
    /// The document breaks a rule of PMML.
    #[error("<{element}> at line {line}: {message}")]
    Invalid {
        /// The local name of the offending element.
        element: String,
        /// The element's line (1-based).
        line: u32,
        /// What is wrong.
        message: String,
    },
    /// The document uses a part of PMML this engine does not implement.
    #[error("<{element}> at line {line}: {what} is not supported")]
    Unsupported {
        /// The local name of the offending element.
        element: String,
        /// The element's line (1-based).
        line: u32,
        /// What is not supported.
        what: String,
    },
    /// The model needs an input field that the record's schema does not have.
    #[error("the model needs input `{0}`, which the record does not have")]
    MissingInput(String),
    /// A record could not be scored.
    #[error("{0}")]
    Scoring(String),
}

/// Results of this module.
pub type Result<T, E = PmmlError> = std::result::Result<T, E>;

impl PmmlError {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// A record could not be scored, for `reason`.
    pub fn scoring(reason: impl Into<String>) -> Self {
        ErrorKind::Scoring(reason.into()).into()
    }
}

impl From<ErrorKind> for PmmlError {
    fn from(kind: ErrorKind) -> Self {
        PmmlError(Box::new(kind))
    }
}

impl From<roxmltree::Error> for PmmlError {
    fn from(error: roxmltree::Error) -> Self {
        ErrorKind::Xml(error).into()
    }
}

impl From<std::str::Utf8Error> for PmmlError {
    fn from(error: std::str::Utf8Error) -> Self {
        ErrorKind::Encoding(error).into()
    }
}

impl From<PmmlError> for ModelError {
    fn from(error: PmmlError) -> Self {
        match *error.0 {
            ErrorKind::Unsupported { .. } => ModelError::Unsupported(error.to_string()),
            ErrorKind::MissingInput(name) => ModelError::MissingInput(name),
            ErrorKind::Scoring(reason) => ModelError::Scoring(reason),
            other => ModelError::Invalid {
                kind: ModelKind::Pmml,
                reason: other.to_string(),
            },
        }
    }
}
