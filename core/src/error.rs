//! Errors and reasons, as values (the core never panics on its inputs).

use core::fmt;

/// Why a problem, a network or a configuration was rejected.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ProblemError {
    /// A dimension is zero.
    ZeroSize {
        /// Which dimension.
        what: &'static str,
    },
    /// Two run-time sizes that must agree do not.
    ShapeMismatch {
        /// Which object has the wrong shape.
        what: &'static str,
        /// The shape it must have (rows, columns).
        expected: (usize, usize),
        /// The shape it has.
        found: (usize, usize),
    },
    /// An entry is NaN or infinite.
    NonFinite {
        /// Which matrix.
        what: &'static str,
        /// Row of the first bad entry (0-based).
        row: usize,
        /// Column of the first bad entry (0-based).
        col: usize,
    },
    /// The data matrix does not have full column rank, so the loss is not
    /// strongly convex (`μ = 0`, THEORY §1).
    RankDeficient {
        /// Which matrix.
        what: &'static str,
        /// Its numerical rank.
        rank: usize,
        /// The rank it needs.
        needed: usize,
    },
    /// A scalar parameter is out of range.
    InvalidParameter {
        /// Which parameter, and the range it must lie in.
        what: &'static str,
    },
    /// A label is not a class index `0..m`.
    LabelOutOfRange {
        /// Sample index.
        row: usize,
    },
    /// An iterative solve for `W*` did not reach machine precision.
    SolverFailed {
        /// Which solver.
        what: &'static str,
    },
    /// The computation was cancelled ([`crate::cancel::request`]); its
    /// partial results were thrown away.
    Cancelled,
}

impl fmt::Display for ProblemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroSize { what } => write!(f, "{what} is zero; every size must be at least 1"),
            Self::ShapeMismatch {
                what,
                expected,
                found,
            } => write!(
                f,
                "{what} has shape {}x{} but must be {}x{} to fit the other inputs",
                found.0, found.1, expected.0, expected.1
            ),
            Self::NonFinite { what, row, col } => {
                write!(
                    f,
                    "{what} has a NaN or infinite entry at row {row}, column {col} (0-based)"
                )
            }
            Self::RankDeficient { what, rank, needed } => write!(
                f,
                "{what} has rank {rank} < {needed}: the loss is not strongly convex (mu = 0); \
                 use more samples, or the log-cosh (ridge) or softmax (ridge) loss"
            ),
            Self::InvalidParameter { what } => write!(f, "invalid parameter: {what}"),
            Self::LabelOutOfRange { row } => {
                write!(f, "label of sample {row} is not a class index 0..m")
            }
            Self::SolverFailed { what } => {
                write!(f, "{what} did not converge to machine precision")
            }
            Self::Cancelled => write!(f, "cancelled (an interrupt was requested)"),
        }
    }
}

impl core::error::Error for ProblemError {}
