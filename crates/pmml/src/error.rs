//! Errors raised while loading or scoring a PMML document.

/// Why a PMML document could not be loaded, or a record could not be scored: see
/// [`Error::kind`]. Boxed, so that the results of scoring functions stay small.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(Box<ErrorKind>);

/// The kinds of [`Error`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    #[error("unsupported: <{element}> at line {line}: {what} is not supported")]
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

pub(crate) use crate::Result;

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// A record could not be scored, for `reason`.
    pub(crate) fn scoring(reason: impl Into<String>) -> Self {
        ErrorKind::Scoring(reason.into()).into()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error(Box::new(kind))
    }
}

impl From<roxmltree::Error> for Error {
    fn from(error: roxmltree::Error) -> Self {
        ErrorKind::Xml(error).into()
    }
}

impl From<std::str::Utf8Error> for Error {
    fn from(error: std::str::Utf8Error) -> Self {
        ErrorKind::Encoding(error).into()
    }
}
