//! The crate's one error type.

/// Everything that can go wrong, each variant saying what and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two shapes that must agree do not.
    #[error("shape mismatch in {context}: expected {expected}, found {found}")]
    ShapeMismatch {
        /// Where the shapes met (an argument or a file).
        context: String,
        /// The shape that was required.
        expected: String,
        /// The shape that was given.
        found: String,
    },
    /// Input with no rows, no columns or no classes.
    #[error("empty input: {what}")]
    Empty {
        /// What was empty.
        what: String,
    },
    /// A NaN or infinite value in a matrix.
    #[error("non-finite value {value} in {what} at row {row}, column {col}")]
    NonFinite {
        /// Which matrix.
        what: String,
        /// Row index (0-based).
        row: usize,
        /// Column index (0-based).
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// A class label outside `0..n_classes`.
    #[error("label {label} at row {row} is out of range: the model has {n_classes} classes (labels 0..{n_classes})")]
    LabelOutOfRange {
        /// Row index (0-based).
        row: usize,
        /// The label found.
        label: u64,
        /// The number of classes.
        n_classes: usize,
    },
    /// A hyperparameter outside its valid range.
    #[error("invalid hyperparameter {name} = {value}: {reason}")]
    InvalidHyperparameter {
        /// Its name, as in the builder method.
        name: &'static str,
        /// The value given.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// Prediction or inspection before `fit`.
    #[error("the model is not fitted: call fit first")]
    NotFitted,
    /// The loss or a parameter became non-finite during training, or the loss exploded
    /// (see `train::fit::DIVERGENCE_FACTOR`).
    #[error(
        "training diverged at epoch {epoch}: {what} with learning rate {learning_rate}; \
         the last good parameters (after epoch {last_good_epoch}) were kept; try a learning rate of {suggested} or smaller"
    )]
    Diverged {
        /// The 1-based epoch in which divergence was detected.
        epoch: usize,
        /// The number of epochs whose parameters were finite (0: the initial ones).
        last_good_epoch: usize,
        /// What happened (`"the loss became non-finite"`, `"the weights became non-finite"`,
        /// `"the loss reached …"`).
        what: String,
        /// The learning rate that was used.
        learning_rate: f64,
        /// A smaller learning rate to try.
        suggested: f64,
    },
    /// A file that could not be parsed, with the place in it.
    #[error("{path}: {location}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// Where in it: `line 3, column 2`, `header`, `dimension 1`, ...
        location: String,
        /// What is wrong.
        message: String,
    },
    /// An operating-system error while reading or writing a file.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The system's message.
        message: String,
    },
    /// A model file that is not valid (edited, truncated, another version).
    #[error("invalid model file {path}: {reason}")]
    InvalidModel {
        /// The file.
        path: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A size computation that would overflow or exceed what can be allocated.
    #[error("size too large: {what}")]
    TooLarge {
        /// What was too large.
        what: String,
    },
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn shape(context: impl Into<String>, expected: impl Into<String>, found: impl Into<String>) -> Self {
        Error::ShapeMismatch {
            context: context.into(),
            expected: expected.into(),
            found: found.into(),
        }
    }
    pub(crate) fn empty(what: impl Into<String>) -> Self {
        Error::Empty { what: what.into() }
    }
    pub(crate) fn hyper(name: &'static str, value: impl ToString, reason: impl Into<String>) -> Self {
        Error::InvalidHyperparameter {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// `a * b` checked, as a [`Error::TooLarge`] naming `what` on overflow.
pub fn checked_size(a: usize, b: usize, what: &str) -> Result<usize> {
    a.checked_mul(b).ok_or_else(|| Error::TooLarge {
        what: format!("{what}: {a} × {b} overflows usize"),
    })
}
