//! What a problem and a run are made of: loss, data, start, precision
//! (THEORY §9, §10) and the trainer settings, each with its parser.

use std::path::PathBuf;
use std::str::FromStr;

use overlin_core::{Real, StepRule};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Which loss of THEORY §9.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossName {
    /// §9.1 squared regression `(1/2N)‖Y − XW‖²`.
    #[default]
    Squared,
    /// §9.2 matrix sensing with `samples` Gaussian sensing matrices.
    Sensing,
    /// §9.3 log-cosh with ridge `γ` on the residual.
    Logcosh,
    /// §9.4 ridge-regularized softmax classification (`m` classes, ridge `λ`).
    Softmax,
}

impl LossName {
    /// `squared|sensing|logcosh|softmax`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Squared => "squared",
            Self::Sensing => "sensing",
            Self::Logcosh => "logcosh",
            Self::Softmax => "softmax",
        }
    }
}

impl FromStr for LossName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "squared" | "ls" | "least-squares" => Ok(Self::Squared),
            "sensing" | "matrix-sensing" => Ok(Self::Sensing),
            "logcosh" | "log-cosh" => Ok(Self::Logcosh),
            "softmax" => Ok(Self::Softmax),
            other => Err(Error::input(format!(
                "unknown loss '{other}'; expected squared|sensing|logcosh|softmax"
            ))),
        }
    }
}

/// Condition number of the generated data matrix `X`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "KappaRepr", into = "KappaRepr")]
pub enum Kappa {
    /// `κ(X) = value ≥ 1`: singular values `√N·κ^{−(i−1)/(n−1)}`, so the
    /// squared loss has `K = 1`, `μ = 1/κ²` (core `data::conditioned_data`).
    Value(f64),
    /// `X` with orthonormal columns, `XᵀX = I` (the paper's orthogonal X;
    /// `μ = K = 1/N` for the squared loss).
    Orthogonal,
    /// `X = I` (needs `samples = n`), as in the paper's step-size experiment.
    Identity,
    /// i.i.d. `N(0, 1)` entries (`E[XᵀX/N] = I`).
    Gaussian,
}

impl Default for Kappa {
    fn default() -> Self {
        Self::Value(10.0)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum KappaRepr {
    Num(f64),
    Name(String),
}

impl TryFrom<KappaRepr> for Kappa {
    type Error = String;
    fn try_from(r: KappaRepr) -> std::result::Result<Self, String> {
        match r {
            KappaRepr::Num(v) => Kappa::checked(v).map_err(|e| e.to_string()),
            KappaRepr::Name(s) => s.parse::<Kappa>().map_err(|e| e.to_string()),
        }
    }
}

impl From<Kappa> for KappaRepr {
    fn from(k: Kappa) -> Self {
        match k {
            Kappa::Value(v) => KappaRepr::Num(v),
            Kappa::Orthogonal => KappaRepr::Name("orthogonal".into()),
            Kappa::Identity => KappaRepr::Name("identity".into()),
            Kappa::Gaussian => KappaRepr::Name("gaussian".into()),
        }
    }
}

impl Kappa {
    pub(super) fn checked(v: f64) -> Result<Self> {
        if v.is_finite() && v >= 1.0 {
            Ok(Self::Value(v))
        } else {
            Err(Error::input(format!(
                "--kappa must be a finite number >= 1 (or orthogonal|identity|gaussian), got {v}"
            )))
        }
    }
}

impl FromStr for Kappa {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "orthogonal" | "orth" => Ok(Self::Orthogonal),
            "identity" | "eye" | "i" => Ok(Self::Identity),
            "gaussian" | "normal" => Ok(Self::Gaussian),
            t => match t.parse::<f64>() {
                Ok(v) => Self::checked(v),
                Err(_) => Err(Error::input(format!(
                    "--kappa must be a number >= 1, 'orthogonal', 'identity' or 'gaussian', got '{s}'"
                ))),
            },
        }
    }
}

/// How to start (THEORY §10).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitName {
    /// Entries `N(0, scale²)`, then the imbalance knob `σ` (`W₁ ← rW₁`, `W₂ ← W₂/r`).
    #[default]
    Gaussian,
    /// Entries `N(0, scale²/h)` (`scale` is `ω`), then the imbalance knob.
    Scaled,
    /// Orthonormal rows/columns times `scale`, then the imbalance knob.
    Orthogonal,
    /// Spectral balanced (`D = 0`) factorization of `scale · R`, `R` an
    /// `n×m` Gaussian with entries `N(0, 1/n)` drawn from the init seed.
    Spectral,
    /// Spectral balanced factorization of `scale · W*` (aligned with the
    /// minimizer; `scale = 1` starts at the minimum).
    SpectralTarget,
}

impl InitName {
    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gaussian => "gaussian",
            Self::Scaled => "scaled",
            Self::Orthogonal => "orthogonal",
            Self::Spectral => "spectral",
            Self::SpectralTarget => "spectral-target",
        }
    }
}

impl FromStr for InitName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "gaussian" => Ok(Self::Gaussian),
            "scaled" => Ok(Self::Scaled),
            "orthogonal" => Ok(Self::Orthogonal),
            "spectral" => Ok(Self::Spectral),
            "spectral-target" | "spectral_target" => Ok(Self::SpectralTarget),
            other => Err(Error::input(format!(
                "unknown init '{other}'; expected gaussian|scaled|orthogonal|spectral|spectral-target"
            ))),
        }
    }
}

/// Working precision of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Single precision.
    F32,
    /// Double precision.
    #[default]
    F64,
}

impl Precision {
    /// `f32|f64`.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F64 => "f64",
        }
    }
}

impl FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "single" => Ok(Self::F32),
            "f64" | "double" => Ok(Self::F64),
            other => Err(Error::input(format!(
                "unknown precision '{other}'; expected f32|f64"
            ))),
        }
    }
}

/// A problem: loss, data, start, precision. Every field has a default
/// (`n = 10, m = 5, h = 64, samples = 200`, squared loss, `κ = 10`,
/// Gaussian start with `σ = 1`, `scale = 1`), so callers write
/// `ProblemSpec { n: Some(20), ..Default::default() }`.
///
/// With user data (`x`, `y`), `n`, `m` and `samples` come from the files;
/// a size given here that disagrees with a file is an input error naming
/// both sizes. With a user start (`w1`, `w2`), `h` comes from the files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProblemSpec {
    /// Which loss.
    pub loss: LossName,
    /// Rows of `W₁` / columns of `X` (default 10).
    pub n: Option<usize>,
    /// Columns of `W₂` / `Y` / classes (default 5).
    pub m: Option<usize>,
    /// Hidden width (default 64).
    pub h: Option<usize>,
    /// Number of layers `L ≥ 2` of `W = W₁⋯W_L` with equal hidden widths
    /// (default 2; THEORY §13 for `L ≥ 3`).
    pub depth: usize,
    /// Samples `N` (rows of `X`), or sensing measurements `p` (default 200).
    pub samples: Option<usize>,
    /// Condition number of the generated `X` (ignored for sensing and user data).
    pub kappa: Kappa,
    /// Standard deviation of the additive target noise (default 0).
    pub noise: f64,
    /// Standard deviation of the entries of the planted `Θ` (default `1/√n`).
    pub target_std: Option<f64>,
    /// Ridge `γ` on the residual for log-cosh (default 0.1).
    pub gamma: f64,
    /// Ridge `λ` for softmax (default 0.01).
    pub lambda: f64,
    /// Start kind.
    pub init: InitName,
    /// Imbalance knob `σ ≥ 0` of the Gaussian/scaled/orthogonal starts (default 1).
    pub sigma: f64,
    /// Entry std (gaussian), `ω` (scaled), multiplier (orthogonal, spectral); default 1.
    pub scale: f64,
    /// Seed of the start (default 0).
    pub seed: u64,
    /// Seed of the data (default: `seed`).
    pub data_seed: Option<u64>,
    /// Working precision.
    pub precision: Precision,
    /// User data `X` (`.npy` or `.csv`); for sensing, the `p×(n·m)` operator
    /// whose row `k` is `vec(A_k)` (column-major).
    pub x: Option<PathBuf>,
    /// User targets `Y`; for softmax, labels (`N×1` class indices) or one-hot `N×m`.
    pub y: Option<PathBuf>,
    /// User start `W₁` (`n×h`).
    pub w1: Option<PathBuf>,
    /// User start `W₂` (`h×m`).
    pub w2: Option<PathBuf>,
}

impl Default for ProblemSpec {
    fn default() -> Self {
        Self {
            loss: LossName::Squared,
            n: None,
            m: None,
            h: None,
            depth: 2,
            samples: None,
            kappa: Kappa::default(),
            noise: 0.0,
            target_std: None,
            gamma: 0.1,
            lambda: 0.01,
            init: InitName::Gaussian,
            sigma: 1.0,
            scale: 1.0,
            seed: 0,
            data_seed: None,
            precision: Precision::F64,
            x: None,
            y: None,
            w1: None,
            w2: None,
        }
    }
}

/// Default sizes when neither a flag nor a file gives them.
pub const DEFAULT_N: usize = 10;
/// Default `m`.
pub const DEFAULT_M: usize = 5;
/// Default `h`.
pub const DEFAULT_H: usize = 64;
/// Default `samples`.
pub const DEFAULT_SAMPLES: usize = 200;

/// Default of `overlin run --anytime-every`: the certificate from the
/// current iterate (THEORY §8.2) costs one imbalance spectrum
/// (`O(h(n+m)²)`, like `--imbalance-every`) and one monotone search of a
/// few hundred scalar evaluations; every 10 steps resolves the
/// certified-from step to 10 iterations.
pub const DEFAULT_ANYTIME_EVERY: usize = 10;

/// How to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunSpec {
    /// Step rule, as on the command line:
    /// `local|rate-optimal|constant:ETA|arora|du|xu2023|armijo`.
    pub rule: String,
    /// Iteration cap (default 1000).
    pub iters: usize,
    /// Tolerance on `L − L*` (default 1e-10).
    pub tol: f64,
    /// `true`: the tolerance is relative, `L − L* ≤ tol·(L₀ − L*)`.
    pub relative: bool,
    /// Check the per-step certificate (default true).
    pub certify: bool,
    /// Check Lemma 3's imbalance drift every this many steps (0 = never).
    pub imbalance_every: usize,
    /// Steps without progress before `stalled` (default 20).
    pub stall_window: usize,
    /// Keep every [`Record`](super::Record) in [`RunResult::records`](super::RunResult::records).
    pub keep_records: bool,
    /// Recompute the certificate of Theorem 2 at the current iterate every
    /// this many steps (THEORY §8.2; 0 = never).
    pub anytime_every: usize,
}

impl Default for RunSpec {
    fn default() -> Self {
        Self {
            rule: "local".into(),
            iters: 1000,
            tol: 1e-10,
            relative: false,
            certify: true,
            imbalance_every: 0,
            stall_window: 20,
            keep_records: false,
            anytime_every: 0,
        }
    }
}

impl RunSpec {
    /// Checks the fields that do not depend on the problem.
    pub fn validate(&self) -> Result<()> {
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(Error::input(format!(
                "--tol must be positive and finite, got {}",
                self.tol
            )));
        }
        if self.iters == 0 {
            return Err(Error::input("--iters must be at least 1"));
        }
        parse_rule::<f64>(&self.rule)?;
        Ok(())
    }
}

/// Parses a step rule with the core's parser (THEORY §6): `local`,
/// `rate-optimal`, `constant:ETA`, `arora`, `du`, `xu2023[:C1,C2]`,
/// `armijo[:C,SHRINK,INITIAL]`; a one-line input error otherwise.
pub fn parse_rule<T: Real>(s: &str) -> Result<StepRule<T>> {
    StepRule::parse(s).map_err(|e| Error::input(format!("--rule '{s}': {e}")))
}
