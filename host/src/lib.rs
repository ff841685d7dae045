//! # overlin (host)
//!
//! The desktop side of overlin: builds problems with run-time sizes (`Dyn`)
//! from flags, grid files or user data, runs the core's certified
//! [`overlin_core::Trainer`] on them and formats the results. All the
//! mathematics lives in `overlin-core` (THEORY.md is the reference); this
//! crate only builds inputs, drives runs and writes outputs.
//!
//! Library entry points:
//! - [`problem::ProblemSpec`] + [`problem::RunSpec`] → [`problem::run`] →
//!   [`problem::RunResult`] (per-step [`problem::Record`]s streamed to a
//!   [`problem::RunObserver`]);
//! - [`problem::certify`] → [`problem::CertifyResult`] (THEORY §8 next to
//!   the exact local constants at the start, THEORY §2–§5);
//! - [`problem::Problem`] to build once and run several rules from the same
//!   data and start;
//! - [`io`] matrix readers/writers (`.npy`, `.csv`), [`output`] atomic files.

pub mod cmd_certify;
pub mod cmd_run;
pub mod experiments;
pub mod io;
pub mod output;
pub mod plot;
pub mod problem;
pub mod report;
pub mod resources;
pub mod status;
pub mod step_certificate;
pub mod sweep;

pub use problem::{
    certify, run, CertifyResult, Kappa, LossName, Precision, Problem, ProblemSpec, Record,
    RunObserver, RunResult, RunSpec, StartConstants, UserMatrices,
};
pub use status::RunStatus;

/// Process exit codes of the `overlin` binary (also listed in `--help`).
pub mod exit {
    /// Success: every run ended (converged, max_iters or stalled) and every
    /// certificate held.
    pub const OK: i32 = 0;
    /// Internal error (a bug; please report it).
    pub const INTERNAL: i32 = 1;
    /// Bad input: flags, files, shapes, NaN, rank, an existing output.
    pub const INPUT: i32 = 2;
    /// A run diverged (loss increased beyond rounding or became non-finite).
    pub const DIVERGED: i32 = 3;
    /// A certificate was violated (a measured ratio exceeded its bound).
    pub const VIOLATION: i32 = 4;
    /// The step rule does not apply to this problem or start.
    pub const RULE_UNAVAILABLE: i32 = 5;
    /// Interrupted (Ctrl-C / SIGTERM); finished files are whole.
    pub const INTERRUPTED: i32 = 130;
}

/// What went wrong, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input from the user (exit code 2). The message is one line.
    #[error("{0}")]
    Input(String),
    /// The run was interrupted (exit code 130).
    #[error("interrupted")]
    Interrupted,
    /// A bug (exit code 1).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// An input error from anything printable.
    pub fn input(msg: impl std::fmt::Display) -> Self {
        Self::Input(msg.to_string())
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Input(_) => exit::INPUT,
            Self::Interrupted => exit::INTERRUPTED,
            Self::Internal(_) => exit::INTERNAL,
        }
    }
}

impl From<overlin_core::ProblemError> for Error {
    fn from(e: overlin_core::ProblemError) -> Self {
        match e {
            overlin_core::ProblemError::Cancelled => Self::Interrupted,
            e => Self::Input(e.to_string()),
        }
    }
}

/// Result with the host's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `true` once Ctrl-C (or SIGTERM) was received. Long loops poll this and
/// stop cleanly: runs end with status `stopped`, sweeps finish no new cell.
/// It is the core's cancellation flag ([`overlin_core::cancel`]), so the
/// set-up of a large problem (spectra, least squares, `W*` solves) and its
/// steps stop within a fraction of a second too.
pub fn interrupted() -> bool {
    overlin_core::cancel::requested()
}

/// Marks the process as interrupted (the Ctrl-C handler calls this; tests may too).
pub fn set_interrupted() {
    overlin_core::cancel::request();
}

/// Installs the Ctrl-C / SIGTERM handler that sets [`interrupted`]. A
/// second Ctrl-C exits at once: a file being written then stays under its
/// hidden temporary name (`.overlin-tmp-*`), never under its final name.
pub fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if interrupted() {
            std::process::exit(exit::INTERRUPTED);
        }
        set_interrupted();
    });
}
