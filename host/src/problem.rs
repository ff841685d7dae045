//! Problems with run-time sizes: specification, construction, runs and
//! a-priori certificates.
//!
//! A [`ProblemSpec`] says which loss (THEORY §9), which data (generated from
//! a seed or read from files), which start (THEORY §10) and which precision.
//! [`Problem::build`] turns it into core objects with `Dyn` sizes;
//! [`Problem::run`] drives the core [`Trainer`] with a [`RunSpec`] and
//! returns a [`RunResult`]; [`Problem::certify`] returns the a-priori
//! certificate of THEORY §8 next to the exact local constants at the start
//! (THEORY §2–§5). The free functions [`run`] and [`certify`] do both steps.
//!
//! Every number leaves this module as `f64`, whatever the precision of the
//! run (`f32` values are exact in `f64`).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use overlin_core::data;
use overlin_core::loss::{LogCoshRidge, MatrixSensing, SoftmaxRidge};
use overlin_core::nalgebra::{DMatrix, DVector, Dyn, OMatrix};
use overlin_core::{
    spectral_balanced, AprioriCertificate, ClassCounts, DynNet, Evaluation, Init, Loss,
    LossConstants, LossKind, NoCertificate, Real, Rng, RoundingModel, SquaredLoss, StepClass,
    StepRecord, StepRule, Summary, Tolerance, Trainer, TrainerConfig,
};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

// ---------------------------------------------------------------------------
// Specification
// ---------------------------------------------------------------------------

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
    fn checked(v: f64) -> Result<Self> {
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
    /// Keep every [`Record`] in [`RunResult::records`].
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

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

/// One iteration, as written to `--csv` (the first 13 fields, in order:
/// `t,loss,gap,eta,alpha,beta,grad_spec,mu_t,k_t,rho,ratio,holds,drift,allowance,class`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Iteration `t`.
    pub t: usize,
    /// `L_t`.
    pub loss: f64,
    /// `L_t − L*`.
    pub gap: f64,
    /// Step `η_t`.
    pub eta: f64,
    /// `α_t` (THEORY §2).
    pub alpha: f64,
    /// `β_t`.
    pub beta: f64,
    /// `‖G_t‖₂`.
    pub grad_spec: f64,
    /// `μ_t = μ α_t` (Lemma 1).
    pub mu_t: f64,
    /// `K_t(η_t)` (Lemma 2).
    pub k_t: f64,
    /// `ρ_t(η_t)` (Theorem 1).
    pub rho: f64,
    /// Achieved `(L_{t+1} − L*)/(L_t − L*)`.
    pub ratio: f64,
    /// The step's certificate held (within THEORY §11 rounding).
    pub holds: bool,
    /// What the step's check counts as (THEORY §11).
    pub class: Class,
    /// Cumulative imbalance drift bound `Σ η_s² g_s²` (Lemma 3).
    pub drift: f64,
    /// `L_{t+1} − L*`.
    pub next_gap: f64,
    /// Measured over certified bound, `(L_{t+1} − L*)/(ρ_t(L_t − L*))`, no
    /// allowance in the denominator (0 unless the step is certified).
    pub bound_ratio: f64,
    /// The step's rounding allowance (THEORY §11, docs/ROUNDING.md).
    pub allowance: f64,
    /// `η_t K_t(η_t)`; Theorem 1 applies below 2.
    pub eta_k_t: f64,
    /// Whether Theorem 1 applied at this step.
    pub contraction_applies: bool,
    /// `T_t(ε)`: further iterations guaranteed by the certificate computed
    /// at this iterate (THEORY §8.2), when one was computed and exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t_eps: Option<u64>,
}

/// What a step's check counts as (THEORY §11; core [`StepClass`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Theorem 1 checked, and the check could fail.
    Certified,
    /// `α_t = 0`: only "the loss did not rise" was checked (also unchecked steps).
    #[default]
    Trivial,
    /// The rounding allowance is not small against the predicted decrease.
    BelowResolution,
    /// `η K_t ≥ 2`: only Lemma 2 was checked.
    DescentOnly,
    /// Overflow: nothing was checked.
    NonFinite,
}

impl Class {
    fn from_core(c: StepClass) -> Self {
        match c {
            StepClass::Certified => Self::Certified,
            StepClass::Trivial => Self::Trivial,
            StepClass::BelowResolution => Self::BelowResolution,
            StepClass::DescentOnly => Self::DescentOnly,
            // Any class a later core adds is reported as not finite (checked
            // for nothing) rather than as certified.
            _ => Self::NonFinite,
        }
    }

    /// The name in the CSV and JSON: `certified|trivial|below_resolution|descent_only|non_finite`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Certified => "certified",
            Self::Trivial => "trivial",
            Self::BelowResolution => "below_resolution",
            Self::DescentOnly => "descent_only",
            Self::NonFinite => "non_finite",
        }
    }
}

/// Steps counted by class (THEORY §11): `--json`'s `classes` object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classes {
    /// Certified steps (Theorem 1 checked, and the check could fail).
    pub certified: u64,
    /// `α_t = 0` steps.
    pub trivial: u64,
    /// Steps at the precision floor.
    pub below_resolution: u64,
    /// `η K_t ≥ 2` steps.
    pub descent_only: u64,
    /// Steps whose certificate overflowed.
    pub non_finite: u64,
}

impl Classes {
    fn from_core(c: &ClassCounts) -> Self {
        Self {
            certified: c.certified.into(),
            trivial: c.trivial.into(),
            below_resolution: c.below_resolution.into(),
            descent_only: c.descent_only.into(),
            non_finite: c.non_finite.into(),
        }
    }

    /// Adds another run's counts.
    pub fn add(&mut self, o: &Classes) {
        self.certified += o.certified;
        self.trivial += o.trivial;
        self.below_resolution += o.below_resolution;
        self.descent_only += o.descent_only;
        self.non_finite += o.non_finite;
    }

    /// All steps counted.
    pub fn total(&self) -> u64 {
        self.certified + self.trivial + self.below_resolution + self.descent_only + self.non_finite
    }

    /// `certified=… trivial=… below_resolution=… descent_only=… non_finite=…`.
    pub fn text(&self) -> String {
        format!(
            "certified={} trivial={} below_resolution={} descent_only={} non_finite={}",
            self.certified, self.trivial, self.below_resolution, self.descent_only, self.non_finite
        )
    }

    /// The five counts in the order of [`Classes::text`].
    pub fn counts(&self) -> [u64; 5] {
        [
            self.certified,
            self.trivial,
            self.below_resolution,
            self.descent_only,
            self.non_finite,
        ]
    }
}

/// The column names of [`Classes::counts`] in the tables.
pub const CLASS_COLUMNS: [&str; 5] = [
    "certified",
    "trivial",
    "below_resolution",
    "descent_only",
    "non_finite",
];

/// The CSV header of [`Record`] (issue 3); `t_eps` is `T_t(ε)` where a
/// certificate from the iterate was computed (THEORY §8.2), else empty;
/// then the step's rounding allowance and class (THEORY §11).
pub const CSV_HEADER: [&str; 16] = [
    "t",
    "loss",
    "gap",
    "eta",
    "alpha",
    "beta",
    "grad_spec",
    "mu_t",
    "k_t",
    "rho",
    "ratio",
    "holds",
    "drift",
    "t_eps",
    "allowance",
    "class",
];

impl Record {
    fn from_core<T: Real>(r: &StepRecord<T>) -> Self {
        Self {
            t: r.t,
            loss: r.loss.to_f64(),
            gap: r.gap.to_f64(),
            eta: r.eta.to_f64(),
            alpha: r.cert.local.alpha.to_f64(),
            beta: r.cert.local.beta.to_f64(),
            grad_spec: r.cert.local.grad_spec.to_f64(),
            mu_t: r.cert.mu_t.to_f64(),
            k_t: r.cert.k_t.to_f64(),
            rho: r.cert.rho.to_f64(),
            ratio: r.check.ratio.to_f64(),
            holds: !r.certified || r.check.holds,
            class: Class::from_core(r.check.class),
            drift: r.drift.to_f64(),
            next_gap: r.next_gap.to_f64(),
            bound_ratio: r.check.bound_ratio.to_f64(),
            allowance: r.check.allowance.to_f64(),
            eta_k_t: r.cert.eta_k_t.to_f64(),
            contraction_applies: r.cert.contraction_applies,
            t_eps: r.anytime.and_then(|a| a.remaining),
        }
    }

    /// The 16 CSV fields, formatted with full precision (`{:e}` round-trips).
    pub fn csv_fields(&self) -> [String; 16] {
        let f = |x: f64| format!("{x:e}");
        [
            self.t.to_string(),
            f(self.loss),
            f(self.gap),
            f(self.eta),
            f(self.alpha),
            f(self.beta),
            f(self.grad_spec),
            f(self.mu_t),
            f(self.k_t),
            f(self.rho),
            f(self.ratio),
            (self.holds as u8).to_string(),
            f(self.drift),
            self.t_eps.map(|v| v.to_string()).unwrap_or_default(),
            f(self.allowance),
            self.class.name().to_string(),
        ]
    }
}

/// Receives every [`Record`] while a run goes; return `false` to stop it
/// (status `stopped`). Runs also stop on their own when
/// [`crate::interrupted`] becomes true.
pub trait RunObserver {
    /// Called after every step.
    fn on_record(&mut self, record: &Record) -> bool;
}

impl RunObserver for () {
    fn on_record(&mut self, _: &Record) -> bool {
        true
    }
}

impl<F: FnMut(&Record) -> bool> RunObserver for F {
    fn on_record(&mut self, record: &Record) -> bool {
        self(record)
    }
}

/// Certificate tally of a run (THEORY §5, §7, §11).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// Steps whose certificate was checked.
    pub steps_checked: u32,
    /// Steps where Theorem 1 applied (`η K_t < 2`).
    pub contraction_steps: u32,
    /// Steps whose bound was violated beyond rounding.
    pub violations: u32,
    /// Largest measured/bound ratio over certified steps, no allowance in
    /// the denominator (0 when no step was certified).
    pub worst_ratio: f64,
    /// Lemma 3 imbalance checks made.
    pub imbalance_checks: u32,
    /// Lemma 3 checks that failed.
    pub imbalance_violations: u32,
    /// The checked steps by class (THEORY §11).
    #[serde(default)]
    pub classes: Classes,
}

impl Tally {
    /// One line: violated, no step certified, or all certified steps held.
    pub fn verdict(&self) -> String {
        if self.violations > 0 || self.imbalance_violations > 0 {
            format!(
                "VIOLATED ({} steps, {} imbalance checks)",
                self.violations, self.imbalance_violations
            )
        } else if self.classes.certified == 0 {
            "no step was certified (no check could have failed; see the classes)".to_string()
        } else {
            format!(
                "all {} certified steps held (worst measured/bound {:.6})",
                self.classes.certified, self.worst_ratio
            )
        }
    }
}

/// The a-priori certificate of THEORY §8, or why none exists.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Apriori {
    /// `true` when a certificate exists.
    pub certified: bool,
    /// Largest allowed step `η̄`.
    pub eta_bar: Option<f64>,
    /// Guaranteed rate `ρ̄`.
    pub rho_bar: Option<f64>,
    /// Lower bound `ᾱ` on every `α_t`.
    pub alpha_bar: Option<f64>,
    /// Upper bound `β̄` on every `β_t`.
    pub beta_bar: Option<f64>,
    /// `K̄`.
    pub k_bar: Option<f64>,
    /// Drift bound `δ`.
    pub delta: Option<f64>,
    /// `T(ε)`: iterations guaranteed to reach the tolerance
    /// (`⌈log((L₀−L*)/ε)/log(1/ρ̄)⌉`, 0 when already there).
    pub iterations_to_tol: Option<u64>,
    /// The tolerance `ε` on `L − L*` that `iterations_to_tol` refers to.
    pub tol: f64,
    /// Why no certificate exists.
    pub reason: Option<String>,
    /// The imbalance term `α_imb(D₀) − δ` of `ᾱ` (THEORY §8).
    #[serde(default)]
    pub alpha_imbalance: Option<f64>,
    /// The margin term `c p₀²/β̄` of `ᾱ` (THEORY §8.1).
    #[serde(default)]
    pub alpha_margin: Option<f64>,
    /// The margin `p₀ = [σ_min(W*) − √(2(L₀ − L*)/μ)]₊` used.
    #[serde(default)]
    pub p0: Option<f64>,
    /// Which term made `ᾱ` positive: `imbalance|margin|both`.
    #[serde(default)]
    pub alpha_source: Option<String>,
    /// `μ σ_min(W*)²/2`: the gap must be below it for a loss margin.
    #[serde(default)]
    pub margin_gap: f64,
    /// The constant `c` of the margin term (4 when `n = m`, else 1).
    #[serde(default)]
    pub margin_c: f64,
}

impl Apriori {
    fn from_core<T: Real>(
        a: &std::result::Result<AprioriCertificate<T>, NoCertificate<T>>,
        gap0: T,
        tol: T,
        margin: (f64, f64),
    ) -> Self {
        let (margin_gap, margin_c) = margin;
        let base = match a {
            Ok(c) => Self {
                certified: true,
                eta_bar: Some(c.eta_bar.to_f64()),
                rho_bar: Some(c.rho_bar.to_f64()),
                alpha_bar: Some(c.alpha_bar.to_f64()),
                beta_bar: Some(c.beta_bar.to_f64()),
                k_bar: Some(c.k_bar.to_f64()),
                delta: Some(c.delta.to_f64()),
                iterations_to_tol: c.iterations_for(gap0, tol),
                tol: tol.to_f64(),
                reason: None,
                alpha_imbalance: Some(c.alpha_imbalance.to_f64()),
                alpha_margin: Some(c.alpha_margin.to_f64()),
                p0: Some(c.p0.to_f64()),
                alpha_source: Some(c.source.name().into()),
                ..Self::default()
            },
            Err(why) => Self {
                certified: false,
                tol: tol.to_f64(),
                reason: Some(why.to_string()),
                ..Self::default()
            },
        };
        Self {
            margin_gap,
            margin_c,
            ..base
        }
    }
}

/// `(μ σ_min(W*)²/2, c)` of THEORY §8.1 for a loss with these constants
/// and an `n×m` product.
fn margin_of<T: Real>(c: &LossConstants<T>, s: Sizes) -> (f64, f64) {
    let (mu, smin) = (c.mu.to_f64(), c.w_star.sigma_min.to_f64());
    (0.5 * mu * smin * smin, if s.n == s.m { 4.0 } else { 1.0 })
}

/// The certificate from the iterate (THEORY §8.2) of a run: the
/// certified-from step `t_c`, its guarantee, and how the run kept it
/// ([`overlin_core::AnytimeSummary`]). The first three keys are the ones
/// the JSON promises: `certified_from`, `guaranteed_remaining`,
/// `guaranteed_total`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Anytime {
    /// `t_c`: the first checked iterate with a certificate.
    pub certified_from: Option<usize>,
    /// `T_{t_c}(ε)`: iterations guaranteed after `t_c`.
    pub guaranteed_remaining: Option<u64>,
    /// `t_c + T_{t_c}(ε)`: a guaranteed bound on the run's length.
    pub guaranteed_total: Option<u64>,
    /// The certificate was recomputed every this many steps (0 = never).
    pub anytime_every: usize,
    /// Certificates computed.
    pub anytime_computed: u32,
    /// `η̄` of the certificate at `t_c`.
    pub anytime_eta_bar: Option<f64>,
    /// `ρ̄` of the certificate at `t_c`.
    pub anytime_rho_bar: Option<f64>,
    /// Which term made its `ᾱ` positive (`imbalance|margin|both`).
    pub anytime_alpha_source: Option<String>,
    /// Every step from `t_c` on qualified (at most `η̄`, and a decrease at
    /// least that of `η̄`), so the guarantee applies to this run.
    pub anytime_applies: bool,
    /// The first step from `t_c` on that did not qualify.
    pub anytime_first_unqualified: Option<usize>,
    /// Steps checked against the chained bound.
    pub anytime_steps_checked: u32,
    /// Steps whose gap broke the chained bound (counted as violations).
    pub anytime_violations: u32,
    /// Largest gap / chained bound (≤ 1 when the guarantee held).
    pub anytime_worst_ratio: f64,
    /// The tightest guaranteed total `t + T_t(ε)` over the run.
    pub anytime_best_total: Option<u64>,
    /// The iterate that gave it.
    pub anytime_best_from: Option<usize>,
    /// Why the last certificate computed before `t_c` (or at all) did not exist.
    pub anytime_last_reason: Option<String>,
}

impl Anytime {
    fn from_core<T: Real>(a: &overlin_core::AnytimeSummary<T>, every: usize) -> Self {
        Self {
            certified_from: a.certified_from,
            guaranteed_remaining: a.guaranteed_remaining,
            guaranteed_total: a.guaranteed_total,
            anytime_every: every,
            anytime_computed: a.computed,
            anytime_eta_bar: a.certificate.map(|c| c.eta_bar.to_f64()),
            anytime_rho_bar: a.certificate.map(|c| c.rho_bar.to_f64()),
            anytime_alpha_source: a.certificate.map(|c| c.source.name().to_string()),
            anytime_applies: a.applies(),
            anytime_first_unqualified: a.first_unqualified,
            anytime_steps_checked: a.steps_checked,
            anytime_violations: a.violations,
            anytime_worst_ratio: a.worst_ratio.to_f64(),
            anytime_best_total: a.best_total,
            anytime_best_from: a.best_from,
            anytime_last_reason: None,
        }
    }
}

/// Global constants of the loss (THEORY §1, §9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LossInfo {
    /// Strong convexity `μ`.
    pub mu: f64,
    /// Smoothness `K`.
    pub k: f64,
    /// `L* = ℓ(W*)`.
    pub l_star: f64,
    /// `‖W*‖₂`.
    pub w_star_spec: f64,
    /// `σ_min(W*)`.
    pub w_star_sigma_min: f64,
}

/// Resolved sizes of a built problem.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sizes {
    /// `n`.
    pub n: usize,
    /// `m`.
    pub m: usize,
    /// `h`.
    pub h: usize,
    /// `N` (or `p` for sensing).
    pub samples: usize,
}

/// Exact local constants at the start (THEORY §2–§5), with the quantities
/// of the `local` step `η₀ = 1/(Kβ₀ + ‖G₀‖₂)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StartConstants {
    /// `L₀`.
    pub loss0: f64,
    /// `L₀ − L*`.
    pub gap0: f64,
    /// `α₀`.
    pub alpha0: f64,
    /// `β₀`.
    pub beta0: f64,
    /// `α₀/β₀`, the conditioning of the factorization.
    pub alpha_over_beta: f64,
    /// `‖G₀‖₂`.
    pub grad_spec0: f64,
    /// `g₀² = ‖∇L‖²`.
    pub grad_sq0: f64,
    /// `μ₀ = μ α₀`.
    pub mu0: f64,
    /// The `local` rule's first step `η₀`.
    pub eta_local0: f64,
    /// `K₀(η₀)`.
    pub k0: f64,
    /// `ρ₀(η₀)`.
    pub rho0: f64,
    /// Limit rate `1 − (μ/K)(α₀/β₀)` (THEORY §5).
    pub limit_rate0: f64,
    /// `λ₁(D₀)`.
    pub lambda_max: f64,
    /// `λ₁(−D₀)`.
    pub neg_lambda_max: f64,
    /// `α_imb(D₀)`.
    pub alpha_imb: f64,
}

/// What [`Problem::certify`] returns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CertifyResult {
    /// Resolved sizes.
    pub sizes: Sizes,
    /// `μ, K, L*, ‖W*‖₂`.
    pub constants: LossInfo,
    /// Exact local constants at the start.
    pub start: StartConstants,
    /// A-priori certificate (THEORY §8) or why none exists.
    pub apriori: Apriori,
    /// Set when `h < max(n, m)` (outside the paper's setting), with the reason.
    pub setting_note: Option<String>,
}

/// The outcome of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// `converged|max_iters|diverged|stalled|rule_unavailable|stopped`.
    pub status: String,
    /// Step at which a divergence was detected.
    pub diverged_at: Option<usize>,
    /// Why the rule gives no step (status `rule_unavailable`).
    pub rule_unavailable: Option<String>,
    /// The rule as given.
    pub rule: String,
    /// `f32|f64`.
    pub precision: String,
    /// Steps taken.
    pub iterations: usize,
    /// `L₀ − L*`.
    pub initial_gap: f64,
    /// Final `L − L*`.
    pub final_gap: f64,
    /// Final `L`.
    pub final_loss: f64,
    /// The tolerance on `L − L*` used (absolute).
    pub tol_abs: f64,
    /// Certificate tally.
    pub tally: Tally,
    /// A-priori certificate at the start.
    pub apriori: Apriori,
    /// Certificates from the iterates (THEORY §8.2): `certified_from`,
    /// `guaranteed_remaining`, `guaranteed_total` and their check.
    #[serde(flatten)]
    pub anytime: Anytime,
    /// Resolved sizes.
    pub sizes: Sizes,
    /// `μ, K, L*, ‖W*‖₂`.
    pub constants: LossInfo,
    /// `α₀`.
    pub alpha0: f64,
    /// `β₀`.
    pub beta0: f64,
    /// `α₀/β₀`.
    pub alpha0_over_beta0: f64,
    /// Geometric-mean achieved rate `(final_gap/initial_gap)^(1/iterations)`.
    pub achieved_rate: Option<f64>,
    /// Set when `h < max(n, m)` (outside the paper's setting), with the reason.
    pub setting_note: Option<String>,
    /// Wall time of the iterations (seconds; excludes building the problem).
    pub wall_time_s: f64,
    /// Every step, when [`RunSpec::keep_records`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<Vec<Record>>,
}

impl RunResult {
    /// `true` when some certificate (per-step, Lemma 3, or the guarantee
    /// from the certified-from step) was violated.
    pub fn violated(&self) -> bool {
        self.tally.violations > 0
            || self.tally.imbalance_violations > 0
            || self.anytime.anytime_violations > 0
    }

    /// The exit code this result maps to (see [`crate::exit`]).
    pub fn exit_code(&self) -> i32 {
        if self.violated() {
            crate::exit::VIOLATION
        } else if self.status == "diverged" {
            crate::exit::DIVERGED
        } else if self.status == "rule_unavailable" {
            crate::exit::RULE_UNAVAILABLE
        } else if self.status == "stopped" {
            crate::exit::INTERRUPTED
        } else {
            crate::exit::OK
        }
    }
}

// ---------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------

/// One loss of THEORY §9 with `Dyn` sizes, behind a single type so that one
/// [`Trainer`] type serves them all.
// Built once per run, never moved in a loop: the size difference is harmless.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum AnyLoss<T: Real> {
    /// §9.1 squared regression.
    Squared(SquaredLoss<T, Dyn, Dyn, Dyn>),
    /// §9.2 matrix sensing.
    Sensing(MatrixSensing<T, Dyn, Dyn, Dyn, Dyn>),
    /// §9.3 log-cosh with ridge.
    LogCosh(LogCoshRidge<T, Dyn, Dyn, Dyn>),
    /// §9.4 softmax with ridge.
    Softmax(SoftmaxRidge<T, Dyn, Dyn, Dyn>),
}

macro_rules! each_loss {
    ($self:expr, $l:ident => $e:expr) => {
        match $self {
            AnyLoss::Squared($l) => $e,
            AnyLoss::Sensing($l) => $e,
            AnyLoss::LogCosh($l) => $e,
            AnyLoss::Softmax($l) => $e,
        }
    };
}

impl<T: Real> Loss<T, Dyn, Dyn> for AnyLoss<T> {
    fn kind(&self) -> LossKind {
        each_loss!(self, l => l.kind())
    }
    fn constants(&self) -> &LossConstants<T> {
        each_loss!(self, l => l.constants())
    }
    fn minimizer(&self) -> &OMatrix<T, Dyn, Dyn> {
        each_loss!(self, l => l.minimizer())
    }
    fn evaluate(&mut self, w: &OMatrix<T, Dyn, Dyn>) -> Evaluation<T> {
        each_loss!(self, l => l.evaluate(w))
    }
    fn evaluate_with_gradient(
        &mut self,
        w: &OMatrix<T, Dyn, Dyn>,
        grad: &mut OMatrix<T, Dyn, Dyn>,
    ) -> Evaluation<T> {
        each_loss!(self, l => l.evaluate_with_gradient(w, grad))
    }
    fn rounding(&self) -> &RoundingModel<T> {
        each_loss!(self, l => l.rounding())
    }
}

/// A problem built in one precision.
#[derive(Clone, Debug)]
pub struct Typed<T: Real> {
    /// The loss.
    pub loss: AnyLoss<T>,
    /// The start.
    pub start: DynNet<T>,
}

impl<T: Real> Typed<T> {
    /// `(X, Y)` in `f64`, as [`Problem::data`].
    pub fn data(&self) -> (DMatrix<f64>, DMatrix<f64>) {
        let f = |m: &DMatrix<T>| m.map(|v| v.to_f64());
        match &self.loss {
            AnyLoss::Squared(l) => (f(l.x()), f(l.y())),
            AnyLoss::LogCosh(l) => (f(l.x()), f(l.y())),
            AnyLoss::Softmax(l) => (f(l.x()), f(l.y())),
            AnyLoss::Sensing(l) => {
                let y = l.measurements();
                (
                    f(l.operator()),
                    DMatrix::from_iterator(y.len(), 1, y.iter().map(|v| v.to_f64())),
                )
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Inner {
    F32(Typed<f32>),
    F64(Typed<f64>),
}

/// A built problem: data, loss and start, ready to run any number of rules.
#[derive(Clone, Debug)]
pub struct Problem {
    spec: ProblemSpec,
    sizes: Sizes,
    inner: Inner,
    /// Testing aid: the factor applied to `μ` for the certificate checker
    /// (1 unless [`Problem::with_debug_inflated_mu`]).
    mu_factor: f64,
}

/// User files, read in `f64`.
struct UserData {
    x: DMatrix<f64>,
    y: DMatrix<f64>,
}

fn size_or(
    flag: Option<usize>,
    from_file: Option<(usize, &str)>,
    default: usize,
    what: &str,
) -> Result<usize> {
    let v = match (flag, from_file) {
        (Some(f), Some((d, src))) if f != d => {
            return Err(Error::input(format!(
                "size clash: --{what} {f} but {src} gives {what} = {d}"
            )))
        }
        (_, Some((d, _))) => d,
        (Some(f), None) => f,
        (None, None) => default,
    };
    if v == 0 {
        return Err(Error::input(format!(
            "{what} is zero; every size must be at least 1"
        )));
    }
    Ok(v)
}

fn check_param(ok: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::input(msg()))
    }
}

impl ProblemSpec {
    /// Checks the scalar fields and the sizes given (files are checked when
    /// the problem is built).
    pub fn validate(&self) -> Result<()> {
        for (what, v) in [
            ("n", self.n),
            ("m", self.m),
            ("h", self.h),
            ("samples", self.samples),
        ] {
            if v == Some(0) {
                return Err(Error::input(format!(
                    "--{what} is zero; every size must be at least 1"
                )));
            }
        }
        check_param(self.noise.is_finite() && self.noise >= 0.0, || {
            format!("--noise must be finite and >= 0, got {}", self.noise)
        })?;
        check_param(self.sigma.is_finite() && self.sigma >= 0.0, || {
            format!("--sigma must be finite and >= 0, got {}", self.sigma)
        })?;
        check_param(self.scale.is_finite() && self.scale >= 0.0, || {
            format!("--scale must be finite and >= 0, got {}", self.scale)
        })?;
        if let Some(s) = self.target_std {
            check_param(s.is_finite() && s >= 0.0, || {
                format!("--target-std must be finite and >= 0, got {s}")
            })?;
        }
        check_param(self.gamma.is_finite() && self.gamma > 0.0, || {
            format!("--gamma must be positive and finite, got {}", self.gamma)
        })?;
        check_param(self.lambda.is_finite() && self.lambda > 0.0, || {
            format!("--lambda must be positive and finite, got {}", self.lambda)
        })?;
        if let Kappa::Value(k) = self.kappa {
            Kappa::checked(k)?;
        }
        if self.x.is_some() != self.y.is_some() {
            return Err(Error::input(
                "user data needs both --x and --y (or neither)",
            ));
        }
        if self.w1.is_some() != self.w2.is_some() {
            return Err(Error::input(
                "a user start needs both --w1 and --w2 (or neither)",
            ));
        }
        Ok(())
    }
}

fn path_name(p: &Option<PathBuf>, default: &str) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| default.to_string())
}

/// Sizes `(samples, n, m)` from user data and flags.
fn user_sizes(spec: &ProblemSpec, d: &UserData) -> Result<(usize, usize, usize)> {
    let xn = path_name(&spec.x, "X");
    let yn = path_name(&spec.y, "Y");
    let (x, y) = (&d.x, &d.y);
    if x.nrows() != y.nrows() {
        return Err(Error::input(format!(
            "size clash: {xn} has {} rows (samples) but {yn} has {} rows",
            x.nrows(),
            y.nrows()
        )));
    }
    let samples = size_or(spec.samples, Some((x.nrows(), &xn)), 0, "samples")?;
    match spec.loss {
        LossName::Sensing => {
            let n = size_or(spec.n, None, DEFAULT_N, "n")?;
            let m = size_or(spec.m, None, DEFAULT_M, "m")?;
            if x.ncols() != n.saturating_mul(m) {
                return Err(Error::input(format!(
                    "size clash: sensing operator {xn} has {} columns but n*m = {n}*{m} = {} \
                     (give --n and --m)",
                    x.ncols(),
                    n.saturating_mul(m)
                )));
            }
            if y.ncols() != 1 {
                return Err(Error::input(format!(
                    "size clash: sensing measurements {yn} must have 1 column, found {}",
                    y.ncols()
                )));
            }
            Ok((samples, n, m))
        }
        LossName::Softmax if y.ncols() == 1 => {
            let n = size_or(spec.n, Some((x.ncols(), &xn)), 0, "n")?;
            // Class indices: every label is checked before m is inferred
            // from the largest (a label of 1e300 would overflow the count
            // and the error would then blame a valid label).
            let mut max_label = 0usize;
            for (i, &c) in y.iter().enumerate() {
                if !(c >= 0.0 && c.fract() == 0.0 && c < MAX_LABEL) {
                    return Err(Error::input(format!(
                        "{yn}: label {} at row {} is not a class index (a whole number from 0 \
                         to {}); give class indices or an N x m one-hot matrix",
                        crate::io::short_number(c),
                        i + 1,
                        MAX_LABEL - 1.0
                    )));
                }
                max_label = max_label.max(c as usize);
            }
            let m = size_or(
                spec.m.or(Some((max_label + 1).max(2))),
                None,
                DEFAULT_M,
                "m",
            )?;
            Ok((samples, n, m))
        }
        _ => {
            let n = size_or(spec.n, Some((x.ncols(), &xn)), 0, "n")?;
            let m = size_or(spec.m, Some((y.ncols(), &yn)), 0, "m")?;
            Ok((samples, n, m))
        }
    }
}

/// Labels of a softmax `Y` (`N×1`) are below 2³²: `m` is inferred from
/// the largest, and any larger count of classes is far beyond the memory
/// of a machine (the memory check then names the real need).
const MAX_LABEL: f64 = 4_294_967_296.0;

/// The size relations a problem must satisfy, checked before anything of
/// its size is allocated.
fn check_size_relations(spec: &ProblemSpec, s: Sizes, user_data: bool) -> Result<()> {
    if user_data || spec.loss == LossName::Sensing {
        return Ok(());
    }
    // The generated X has singular values spread over [1/κ, 1]: XᵀX is
    // resolvable when κ² stays below what the rank test accepts
    // (eigenvalues above 100·n·ε·λ_max; THEORY §9.1).
    if let Kappa::Value(k) = spec.kappa {
        let eps = match spec.precision {
            Precision::F32 => f64::from(f32::EPSILON),
            Precision::F64 => f64::EPSILON,
        };
        let most = (1.0 / (100.0 * s.n as f64 * eps)).sqrt();
        if k >= most {
            return Err(Error::input(format!(
                "--kappa {}: X^T X would have condition number {}, beyond what {} resolves \
                 for n = {} (kappa below {}); use a smaller --kappa or --precision f64",
                crate::io::short_number(k),
                crate::io::short_number(k * k),
                spec.precision.name(),
                s.n,
                most.floor()
            )));
        }
    }
    match spec.kappa {
        Kappa::Identity if s.samples != s.n => Err(Error::input(format!(
            "size clash: --kappa identity needs samples = n, got samples = {}, n = {}",
            s.samples, s.n
        ))),
        Kappa::Identity => Ok(()),
        _ if s.samples < s.n => Err(Error::input(format!(
            "samples = {} < n = {}: X cannot have full column rank, so the loss is not \
             strongly convex; use more samples, or the log-cosh (ridge) or softmax (ridge) loss",
            s.samples, s.n
        ))),
        _ => Ok(()),
    }
}

/// About how many bytes a problem of sizes `s` takes, set up and running
/// (`None` beyond 64 bits). Counted in entries: the data (`X` and `Y`, held
/// by the loss, copied for the least-squares solve and for the run, and
/// read in `f64` from files), the network (start, iterate, trial step,
/// `A`, `B` and the certificate's copies: `6h(n+m)`) and the Gram and
/// imbalance matrices (`6(n+m)² + 4nm`). An estimate that errs high: it
/// is compared with the limit before anything is allocated.
pub fn memory_estimate(
    loss: LossName,
    precision: Precision,
    s: Sizes,
    user_data: bool,
) -> Option<u128> {
    let (n, m, h, samples) = (s.n as u128, s.m as u128, s.h as u128, s.samples as u128);
    let x_cols = if loss == LossName::Sensing {
        n.checked_mul(m)?
    } else {
        n
    };
    let y_cols = if loss == LossName::Sensing { 1 } else { m };
    let data = samples.checked_mul(x_cols.checked_add(y_cols)?)?;
    let nm = n.checked_add(m)?;
    let elems = data
        .checked_mul(4)?
        .checked_add(h.checked_mul(nm)?.checked_mul(6)?)?
        .checked_add(nm.checked_mul(nm)?.checked_mul(6)?)?
        .checked_add(n.checked_mul(m)?.checked_mul(4)?)?
        .checked_add(samples.checked_mul(4)?)?;
    let width: u128 = match precision {
        Precision::F32 => 4,
        Precision::F64 => 8,
    };
    let files = if user_data { data.checked_mul(8)? } else { 0 };
    elems.checked_mul(width)?.checked_add(files)
}

/// `h` from a user start, checking it against `n` and `m`.
fn user_h(
    spec: &ProblemSpec,
    w1: &DMatrix<f64>,
    w2: &DMatrix<f64>,
    n: usize,
    m: usize,
) -> Result<usize> {
    let a = path_name(&spec.w1, "W1");
    let b = path_name(&spec.w2, "W2");
    if w1.nrows() != n {
        return Err(Error::input(format!(
            "size clash: {a} has {} rows but n = {n}",
            w1.nrows()
        )));
    }
    if w2.ncols() != m {
        return Err(Error::input(format!(
            "size clash: {b} has {} columns but m = {m}",
            w2.ncols()
        )));
    }
    if w1.ncols() != w2.nrows() {
        return Err(Error::input(format!(
            "size clash: {a} has {} columns (h) but {b} has {} rows",
            w1.ncols(),
            w2.nrows()
        )));
    }
    size_or(spec.h, Some((w1.ncols(), &a)), 0, "h")
}

/// User data and start already in memory (what the files of a
/// [`ProblemSpec`] hold once read), for callers that have arrays rather
/// than files, such as the Python package. Error messages name them `X`,
/// `Y`, `W1`, `W2`. Layouts are those of the files: `X` is `N×n` (the
/// `p×(n·m)` operator for sensing), `Y` is `N×m` (`p×1` measurements for
/// sensing; class indices `N×1` or one-hot `N×m` for softmax), `W1` is
/// `n×h`, `W2` is `h×m`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserMatrices {
    /// `X`.
    pub x: Option<DMatrix<f64>>,
    /// `Y`.
    pub y: Option<DMatrix<f64>>,
    /// `W1`.
    pub w1: Option<DMatrix<f64>>,
    /// `W2`.
    pub w2: Option<DMatrix<f64>>,
}

/// The final weights of a run, in `f64` (exact for an `f32` run).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FinalWeights {
    /// `W1` (`n×h`).
    pub w1: DMatrix<f64>,
    /// `W2` (`h×m`).
    pub w2: DMatrix<f64>,
}

impl Problem {
    /// Builds the data, the loss and the start described by `spec`.
    ///
    /// An interrupt during the build ([`crate::interrupted`]) is
    /// [`Error::Interrupted`], whatever the cut-short computation returned.
    pub fn build(spec: &ProblemSpec) -> Result<Self> {
        Self::build_with(spec, &mut |_| {})
    }

    /// [`Problem::build`], calling `sized` once the sizes are known and
    /// have passed their checks (relations, memory), just before the data
    /// and the start are made: where a long set-up can be announced.
    pub fn build_with(spec: &ProblemSpec, sized: &mut dyn FnMut(Sizes)) -> Result<Self> {
        let built = Self::build_uninterrupted(spec, sized);
        if crate::interrupted() {
            return Err(Error::Interrupted);
        }
        built
    }

    fn build_uninterrupted(spec: &ProblemSpec, sized: &mut dyn FnMut(Sizes)) -> Result<Self> {
        spec.validate()?;
        let read = |p: &Option<PathBuf>| p.as_ref().map(|p| crate::io::read_matrix(p)).transpose();
        let user = UserMatrices {
            x: read(&spec.x)?,
            y: read(&spec.y)?,
            w1: read(&spec.w1)?,
            w2: read(&spec.w2)?,
        };
        Self::build_from(spec, user, sized)
    }

    /// [`Problem::build`] with the user data and start given as matrices
    /// instead of files (`spec`'s file fields must then be unset). The
    /// matrices are checked as files are: finite entries, sizes that agree
    /// with each other and with the sizes in `spec`.
    pub fn from_matrices(spec: &ProblemSpec, user: UserMatrices) -> Result<Self> {
        spec.validate()?;
        if spec.x.is_some() || spec.y.is_some() || spec.w1.is_some() || spec.w2.is_some() {
            return Err(Error::input(
                "give the user data and start either as files or as matrices, not both",
            ));
        }
        if user.x.is_some() != user.y.is_some() {
            return Err(Error::input("user data needs both X and Y (or neither)"));
        }
        if user.w1.is_some() != user.w2.is_some() {
            return Err(Error::input(
                "a user start needs both W1 and W2 (or neither)",
            ));
        }
        for (m, name) in [
            (&user.x, "X"),
            (&user.y, "Y"),
            (&user.w1, "W1"),
            (&user.w2, "W2"),
        ] {
            if let Some(m) = m {
                if m.is_empty() {
                    return Err(Error::input(format!(
                        "{name} is empty ({} x {}); every size must be at least 1",
                        m.nrows(),
                        m.ncols()
                    )));
                }
                crate::io::check_finite(m, name)?;
            }
        }
        Self::build_from(spec, user, &mut |_| {})
    }

    fn build_from(
        spec: &ProblemSpec,
        user: UserMatrices,
        sized: &mut dyn FnMut(Sizes),
    ) -> Result<Self> {
        let UserMatrices { x, y, w1, w2 } = user;
        let user = match (x, y) {
            (Some(x), Some(y)) => Some(UserData { x, y }),
            _ => None,
        };
        let (samples, n, m) = match &user {
            Some(d) => user_sizes(spec, d)?,
            None => (
                size_or(spec.samples, None, DEFAULT_SAMPLES, "samples")?,
                size_or(spec.n, None, DEFAULT_N, "n")?,
                size_or(spec.m, None, DEFAULT_M, "m")?,
            ),
        };
        let h = match (&w1, &w2) {
            (Some(a), Some(b)) => user_h(spec, a, b, n, m)?,
            _ => size_or(spec.h, None, DEFAULT_H, "h")?,
        };
        let sizes = Sizes { n, m, h, samples };
        check_size_relations(spec, sizes, user.is_some())?;
        crate::resources::check_memory(
            memory_estimate(spec.loss, spec.precision, sizes, user.is_some()),
            &format!(
                "this problem (n = {n}, m = {m}{}, h = {h}, samples = {samples}, {})",
                if spec.loss == LossName::Softmax && spec.m.is_none() && user.is_some() {
                    format!(" from the largest label in {}", path_name(&spec.y, "Y"))
                } else {
                    String::new()
                },
                spec.precision.name()
            ),
        )?;
        sized(sizes);
        let start = w1.zip(w2);
        let inner = match spec.precision {
            Precision::F32 => Inner::F32(build_typed::<f32>(spec, sizes, user.as_ref(), start)?),
            Precision::F64 => Inner::F64(build_typed::<f64>(spec, sizes, user.as_ref(), start)?),
        };
        Ok(Self {
            spec: spec.clone(),
            sizes,
            inner,
            mu_factor: 1.0,
        })
    }

    /// Testing aid (`overlin run --debug-inflate-mu FACTOR`, see
    /// RELIABILITY.md): runs give the trainer `FACTOR·μ` instead of the
    /// loss's `μ`, so every per-step bound `ρ_t` (THEORY §5) and the
    /// a-priori certificate are computed from a false constant. With a
    /// factor well above 1 the bounds are too optimistic and the checker
    /// must report violations: this is how the tests show that a true
    /// violation is caught. The iterates of rules that do not use `μ`
    /// (local, constant, arora, du, xu2023, armijo) are unchanged. The run's
    /// `setting_note` says the factor was applied. Never use it for results.
    pub fn with_debug_inflated_mu(mut self, factor: f64) -> Result<Self> {
        if !(factor.is_finite() && factor > 0.0) {
            return Err(Error::input(format!(
                "--debug-inflate-mu must be positive and finite, got {factor}"
            )));
        }
        self.mu_factor = factor;
        Ok(self)
    }

    /// The specification this was built from.
    pub fn spec(&self) -> &ProblemSpec {
        &self.spec
    }

    /// Resolved sizes.
    pub fn sizes(&self) -> Sizes {
        self.sizes
    }

    /// `μ, K, L*, ‖W*‖₂`.
    pub fn constants(&self) -> LossInfo {
        match &self.inner {
            Inner::F32(p) => loss_info(p.loss.constants()),
            Inner::F64(p) => loss_info(p.loss.constants()),
        }
    }

    /// The data `(X, Y)` the loss was built from, in the layout of
    /// [`UserMatrices`] (softmax targets one-hot), in `f64` (exact for an
    /// `f32` problem): generated problems hand their data out this way.
    pub fn data(&self) -> (DMatrix<f64>, DMatrix<f64>) {
        match &self.inner {
            Inner::F32(p) => p.data(),
            Inner::F64(p) => p.data(),
        }
    }

    /// The start `(W1, W2)` in `f64` (exact for an `f32` problem).
    pub fn start(&self) -> (DMatrix<f64>, DMatrix<f64>) {
        match &self.inner {
            Inner::F32(p) => (
                p.start.w1.map(|v| v.to_f64()),
                p.start.w2.map(|v| v.to_f64()),
            ),
            Inner::F64(p) => (p.start.w1.clone(), p.start.w2.clone()),
        }
    }

    /// The problem in `f64`, when built in `f64`.
    pub fn as_f64(&self) -> Option<&Typed<f64>> {
        match &self.inner {
            Inner::F64(p) => Some(p),
            Inner::F32(_) => None,
        }
    }

    /// The problem in `f32`, when built in `f32`.
    pub fn as_f32(&self) -> Option<&Typed<f32>> {
        match &self.inner {
            Inner::F32(p) => Some(p),
            Inner::F64(_) => None,
        }
    }

    /// Runs `run` from the problem's start, streaming records to `observer`.
    pub fn run(&self, run: &RunSpec, observer: &mut dyn RunObserver) -> Result<RunResult> {
        Ok(self.run_with_weights(run, observer)?.0)
    }

    /// [`Problem::run`], also returning the weights the run ended with.
    pub fn run_with_weights(
        &self,
        run: &RunSpec,
        observer: &mut dyn RunObserver,
    ) -> Result<(RunResult, FinalWeights)> {
        run.validate()?;
        let (mut res, weights) = match &self.inner {
            Inner::F32(p) => run_typed(p, run, self.mu_factor, observer)?,
            Inner::F64(p) => run_typed(p, run, self.mu_factor, observer)?,
        };
        res.precision = self.spec.precision.name().into();
        res.sizes = self.sizes;
        res.setting_note = setting_note(self.sizes);
        outside_setting_reason(&mut res.apriori, self.sizes);
        if self.mu_factor != 1.0 {
            let aid = format!(
                "testing aid --debug-inflate-mu {f}: the certificates were computed with {f} \
                 times the true mu, so violations are expected",
                f = self.mu_factor
            );
            res.setting_note = Some(match res.setting_note.take() {
                Some(note) => format!("{aid}; {note}"),
                None => aid,
            });
        }
        Ok((res, weights))
    }

    /// The a-priori certificate (THEORY §8) for reaching `L − L* ≤ tol`,
    /// next to the exact local constants at the start.
    pub fn certify(&self, tol: f64) -> Result<CertifyResult> {
        if !(tol.is_finite() && tol > 0.0) {
            return Err(Error::input(format!(
                "--tol must be positive and finite, got {tol}"
            )));
        }
        let mut res = match &self.inner {
            Inner::F32(p) => certify_typed(p, tol)?,
            Inner::F64(p) => certify_typed(p, tol)?,
        };
        res.sizes = self.sizes;
        res.setting_note = setting_note(self.sizes);
        outside_setting_reason(&mut res.apriori, self.sizes);
        Ok(res)
    }
}

/// Builds `spec` and runs `run` on it.
pub fn run(spec: &ProblemSpec, run: &RunSpec, observer: &mut dyn RunObserver) -> Result<RunResult> {
    run.validate()?;
    Problem::build(spec)?.run(run, observer)
}

/// Builds `spec` and certifies it for the tolerance `tol` on `L − L*`.
pub fn certify(spec: &ProblemSpec, tol: f64) -> Result<CertifyResult> {
    Problem::build(spec)?.certify(tol)
}

fn setting_note(s: Sizes) -> Option<String> {
    let (lo, hi) = (s.n.min(s.m), s.n.max(s.m));
    if s.h >= hi {
        return None;
    }
    Some(if s.h < lo {
        format!(
            "outside the paper's setting: h = {} < max(n, m) = {hi}; since h < min(n, m) = {lo}, \
             alpha_t = 0 at every step, so the per-step certificate (Theorem 1, rho_t = 1) and the \
             a-priori certificate (Theorem 2) are not applicable; they are still computed, and \
             Lemma 2's descent bound is still checked (THEORY §1)",
            s.h
        )
    } else {
        let (dim, term) = if s.h < s.n {
            ("n", "sigma_n(W1)^2")
        } else {
            ("m", "sigma_m(W2)^2")
        };
        format!(
            "outside the paper's setting: h = {} < max(n, m) = {hi}; since h < {dim}, the term \
             {term} of alpha_t is 0 and the certificates rest on the other term alone (not \
             applicable when alpha_t = 0) (THEORY §1)",
            s.h
        )
    })
}

/// Outside the paper's setting (`h < max(n, m)`), a missing a-priori
/// certificate is explained by the width, not by the start (THEORY §1).
fn outside_setting_reason(a: &mut Apriori, s: Sizes) {
    let (lo, hi) = (s.n.min(s.m), s.n.max(s.m));
    if a.certified || s.h >= hi {
        return;
    }
    a.reason = Some(if s.h < lo {
        format!(
            "not applicable: h = {} < min(n, m) = {lo}, so alpha_imb(D0) = 0 and alpha_t = 0 \
             (outside the paper's setting h >= max(n, m), THEORY §1)",
            s.h
        )
    } else {
        format!(
            "not applicable outside the paper's setting (h = {} < max(n, m) = {hi}): {}",
            s.h,
            a.reason.as_deref().unwrap_or("no certificate")
        )
    });
}

fn loss_info<T: Real>(c: &LossConstants<T>) -> LossInfo {
    LossInfo {
        mu: c.mu.to_f64(),
        k: c.k.to_f64(),
        l_star: c.l_star.to_f64(),
        w_star_spec: c.w_star.spectral.to_f64(),
        w_star_sigma_min: c.w_star.sigma_min.to_f64(),
    }
}

fn to_t<T: Real>(m: &DMatrix<f64>) -> DMatrix<T> {
    m.map(T::of)
}

/// `X` (N×n) by the core generators (THEORY §9; `data::*`).
fn generate_x<T: Real>(
    kappa: Kappa,
    samples: usize,
    n: usize,
    rng: &mut Rng,
) -> Result<DMatrix<T>> {
    if samples < n && !matches!(kappa, Kappa::Identity) {
        return Err(Error::input(format!(
            "samples = {samples} < n = {n}: X cannot have full column rank, so the loss is not \
             strongly convex; use more samples, or the log-cosh (ridge) or softmax (ridge) loss"
        )));
    }
    let mut x = DMatrix::<T>::zeros(samples, n);
    match kappa {
        Kappa::Identity => {
            if samples != n {
                return Err(Error::input(format!(
                    "size clash: --kappa identity needs samples = n, got samples = {samples}, n = {n}"
                )));
            }
            x.fill_with_identity();
        }
        Kappa::Orthogonal => data::orthogonal_data(&mut x, 1.0, rng)?,
        Kappa::Value(k) => data::conditioned_data(&mut x, k, rng)?,
        Kappa::Gaussian => data::gaussian_data(&mut x, rng),
    }
    Ok(x)
}

/// Softmax targets from user `Y`: `N×1` class indices become one-hot
/// `N×m`; an `N×m` matrix is passed on (the core checks it is one-hot).
fn one_hot_from_user(y: &DMatrix<f64>, m: usize, name: &str) -> Result<DMatrix<f64>> {
    if y.ncols() != 1 || m == 1 {
        if y.ncols() != m {
            return Err(Error::input(format!(
                "size clash: softmax targets {name} have {} columns but m = {m}; give N x 1 \
                 class indices or an N x m one-hot matrix",
                y.ncols()
            )));
        }
        // Named here, with the row and the classes, rather than by the
        // core's generic "not a class index 0..m".
        for (i, row) in y.row_iter().enumerate() {
            let ones = row.iter().filter(|&&v| v == 1.0).count();
            if ones != 1 || row.iter().any(|&v| v != 0.0 && v != 1.0) {
                return Err(Error::input(format!(
                    "{name}: row {} is not one-hot (one 1 and {} zeros for m = {m} classes); \
                     give an N x {m} one-hot matrix or N x 1 class indices 0..{}",
                    i + 1,
                    m - 1,
                    m - 1
                )));
            }
        }
        return Ok(y.clone());
    }
    let mut out = DMatrix::<f64>::zeros(y.nrows(), m);
    for (i, &c) in y.iter().enumerate() {
        if !(c >= 0.0 && c.fract() == 0.0 && (c as usize) < m) {
            return Err(Error::input(format!(
                "{name}: label {c} at row {} is not a class index 0..{}",
                i + 1,
                m - 1
            )));
        }
        out[(i, c as usize)] = 1.0;
    }
    Ok(out)
}

fn build_loss<T: Real>(
    spec: &ProblemSpec,
    s: Sizes,
    user: Option<&UserData>,
) -> Result<AnyLoss<T>> {
    let mut rng = Rng::new(spec.data_seed.unwrap_or(spec.seed));
    let theta_std = spec.target_std.unwrap_or(1.0 / (s.n as f64).sqrt());
    let mut theta = DMatrix::<T>::zeros(s.n, s.m);
    let loss = match spec.loss {
        LossName::Sensing => {
            let (a, y) = match user {
                Some(d) => (
                    to_t::<T>(&d.x),
                    DVector::<T>::from_iterator(d.y.nrows(), d.y.iter().map(|&v| T::of(v))),
                ),
                None => {
                    let mut a = DMatrix::<T>::zeros(s.samples, s.n * s.m);
                    data::sensing_operator(&mut a, &mut rng);
                    let mut y = DVector::<T>::zeros(s.samples);
                    data::sensing_measurements(
                        &a, &mut theta, &mut y, theta_std, spec.noise, &mut rng,
                    )?;
                    (a, y)
                }
            };
            AnyLoss::Sensing(MatrixSensing::new(Dyn(s.n), Dyn(s.m), a, y)?)
        }
        kind => {
            let (x, y) = match user {
                Some(d) => {
                    let y = if kind == LossName::Softmax {
                        one_hot_from_user(&d.y, s.m, &path_name(&spec.y, "Y"))?
                    } else {
                        d.y.clone()
                    };
                    (to_t::<T>(&d.x), to_t::<T>(&y))
                }
                None => {
                    let x = generate_x::<T>(spec.kappa, s.samples, s.n, &mut rng)?;
                    let mut y = DMatrix::<T>::zeros(s.samples, s.m);
                    if kind == LossName::Softmax {
                        data::one_hot_labels(
                            &x, &mut theta, &mut y, theta_std, spec.noise, &mut rng,
                        )?;
                    } else {
                        data::linear_targets(
                            &x, &mut theta, &mut y, theta_std, spec.noise, &mut rng,
                        )?;
                    }
                    (x, y)
                }
            };
            match kind {
                LossName::Logcosh => AnyLoss::LogCosh(LogCoshRidge::new(x, y, T::of(spec.gamma))?),
                LossName::Softmax => AnyLoss::Softmax(SoftmaxRidge::new(x, y, T::of(spec.lambda))?),
                _ => AnyLoss::Squared(SquaredLoss::new(x, y)?),
            }
        }
    };
    Ok(loss)
}

/// Refuses user data whose Gram matrix `XᵀX` leaves the range of `T`
/// (an entry near `√MAX`, or every entry below `√MIN_POSITIVE`): its rank
/// and conditioning cannot be measured, and the core would report a rank
/// deficiency ("use more samples") where the cure is to rescale.
fn check_scale<T: Real>(x: &DMatrix<f64>, name: &str) -> Result<()> {
    let max = x.iter().fold(0.0f64, |a, &v| a.max(v.abs()));
    let rows = x.nrows().max(1) as f64;
    let prec = if T::MAX.to_f64() < f64::MAX {
        "f32"
    } else {
        "f64"
    };
    if max > (T::MAX.to_f64() / rows).sqrt() {
        return Err(Error::input(format!(
            "{name}: the data are badly scaled: an entry of {} makes X^T X overflow {prec}; \
             rescale X (e.g. standardize its columns)",
            crate::io::short_number(max)
        )));
    }
    if max > 0.0 && max < T::MIN_POSITIVE.to_f64().sqrt() {
        return Err(Error::input(format!(
            "{name}: the data are badly scaled: every entry is below {} in magnitude, so \
             X^T X underflows {prec}; rescale X (e.g. standardize its columns)",
            crate::io::short_number(T::MIN_POSITIVE.to_f64().sqrt())
        )));
    }
    Ok(())
}

/// Refuses a file entry that is finite in `f64` but beyond the range of the
/// working precision `T` (it would become infinite), naming the file, row
/// and column (1-based, as the readers do).
fn check_range<T: Real>(m: &DMatrix<f64>, name: &str) -> Result<()> {
    let max = T::MAX.to_f64();
    let rows = m.nrows().max(1);
    match m.as_slice().iter().position(|v| v.abs() > max) {
        Some(i) => Err(Error::input(format!(
            "{name}: entry at row {}, column {} is {:e}, beyond the range of {} (|x| <= {max:e}); \
             rescale the data or use --precision f64",
            i % rows + 1,
            i / rows + 1,
            m.as_slice().get(i).copied().unwrap_or(f64::NAN),
            if max < f64::MAX { "f32" } else { "f64" }
        ))),
        None => Ok(()),
    }
}

fn build_typed<T: Real>(
    spec: &ProblemSpec,
    s: Sizes,
    user: Option<&UserData>,
    start: Option<(DMatrix<f64>, DMatrix<f64>)>,
) -> Result<Typed<T>> {
    if let Some(d) = user {
        check_range::<T>(&d.x, &path_name(&spec.x, "X"))?;
        check_range::<T>(&d.y, &path_name(&spec.y, "Y"))?;
    }
    if let Some((a, b)) = &start {
        check_range::<T>(a, &path_name(&spec.w1, "W1"))?;
        check_range::<T>(b, &path_name(&spec.w2, "W2"))?;
    }
    if let Some(d) = user {
        check_scale::<T>(&d.x, &path_name(&spec.x, "X"))?;
    }
    let loss = build_loss::<T>(spec, s, user).map_err(|e| match (e, user) {
        (Error::Input(msg), _) if msg.contains("did not converge") => {
            let (flag, v) = match spec.loss {
                LossName::Softmax => ("--lambda", spec.lambda),
                _ => ("--gamma", spec.gamma),
            };
            Error::input(format!(
                "{msg} with {flag} {}: the ridge weight is far from the scale of the data \
                 (or the data are badly scaled); use a {flag} nearer the eigenvalues of X^T X / N",
                crate::io::short_number(v)
            ))
        }
        // Name the files when the core rejects user data (rank, NaN, labels).
        (Error::Input(msg), Some(_)) => Error::Input(format!(
            "{msg} (X = {}, Y = {})",
            path_name(&spec.x, "X"),
            path_name(&spec.y, "Y")
        )),
        (e, _) => e,
    })?;
    let start = match start {
        Some((a, b)) => DynNet::new(to_t::<T>(&a), to_t::<T>(&b))
            .map_err(|e| Error::input(format!("user start: {e}")))?,
        // A start that overflows comes from --scale and --sigma: name them
        // rather than the matrix the core found non-finite.
        None => generated_start::<T>(spec, s, Some(loss.minimizer())).map_err(|e| match e {
            Error::Input(msg) if msg.contains("NaN or infinite") => Error::input(format!(
                "--scale {} with --sigma {} makes the start overflow {} (its entries grow \
                 like scale * sqrt(sigma)); use smaller values",
                crate::io::short_number(spec.scale),
                crate::io::short_number(spec.sigma),
                spec.precision.name()
            )),
            e => e,
        })?,
    };
    Ok(Typed { loss, start })
}

/// The start `spec` asks for (THEORY §10), drawn as the CLI draws it: from
/// the seeded stream `spec.seed ^ 0x9E3779B97F4A7C15` (its own stream, so the
/// data do not depend on the init). `target` is the minimizer `W*` that the
/// `spectral-target` start factorizes; without it that start is an input
/// error.
pub fn generated_start<T: Real>(
    spec: &ProblemSpec,
    s: Sizes,
    target: Option<&DMatrix<T>>,
) -> Result<DynNet<T>> {
    let mut rng = Rng::new(spec.seed ^ 0x9E37_79B9_7F4A_7C15);
    let (n, h, m) = (Dyn(s.n), Dyn(s.h), Dyn(s.m));
    Ok(match spec.init {
        InitName::Gaussian => Init::Gaussian {
            sigma: spec.sigma,
            std: spec.scale,
        }
        .sample(n, h, m, &mut rng)?,
        InitName::Scaled => Init::Scaled {
            sigma: spec.sigma,
            omega: spec.scale,
        }
        .sample(n, h, m, &mut rng)?,
        InitName::Orthogonal => Init::Orthogonal {
            sigma: spec.sigma,
            scale: spec.scale,
        }
        .sample(n, h, m, &mut rng)?,
        InitName::Spectral => {
            let mut r = DMatrix::<T>::zeros(s.n, s.m);
            rng.fill_gaussian(&mut r, spec.scale / (s.n as f64).sqrt());
            spectral_balanced(&r, h)?
        }
        InitName::SpectralTarget => match target {
            Some(target) => spectral_balanced(&(target * T::of(spec.scale)), h)?,
            None => {
                return Err(Error::input(
                    "the spectral-target start factorizes the problem's minimizer W*: \
                     build it with a problem, not alone",
                ))
            }
        },
    })
}

fn config<T: Real>(run: &RunSpec) -> TrainerConfig<T> {
    TrainerConfig {
        max_iters: run.iters,
        tol: if run.relative {
            Tolerance::Relative(T::of(run.tol))
        } else {
            Tolerance::Absolute(T::of(run.tol))
        },
        certify: run.certify,
        imbalance_every: run.imbalance_every,
        stall_window: run.stall_window,
        anytime_every: run.anytime_every,
    }
}

/// The loss with `μ` scaled for the certificate checker (the
/// [`Problem::with_debug_inflated_mu`] testing aid; factor 1 changes nothing).
#[derive(Clone, Debug)]
struct CheckedMu<T: Real> {
    loss: AnyLoss<T>,
    constants: LossConstants<T>,
}

impl<T: Real> CheckedMu<T> {
    fn new(loss: &AnyLoss<T>, factor: f64) -> Self {
        let mut constants = *loss.constants();
        if factor != 1.0 {
            constants.mu *= T::of(factor);
        }
        Self {
            loss: loss.clone(),
            constants,
        }
    }
}

impl<T: Real> Loss<T, Dyn, Dyn> for CheckedMu<T> {
    fn kind(&self) -> LossKind {
        self.loss.kind()
    }
    fn constants(&self) -> &LossConstants<T> {
        &self.constants
    }
    fn minimizer(&self) -> &OMatrix<T, Dyn, Dyn> {
        self.loss.minimizer()
    }
    fn evaluate(&mut self, w: &OMatrix<T, Dyn, Dyn>) -> Evaluation<T> {
        self.loss.evaluate(w)
    }
    fn evaluate_with_gradient(
        &mut self,
        w: &OMatrix<T, Dyn, Dyn>,
        grad: &mut OMatrix<T, Dyn, Dyn>,
    ) -> Evaluation<T> {
        self.loss.evaluate_with_gradient(w, grad)
    }
    /// The inner loss's rounding: inflating μ must not change the allowance
    /// (the testing aid tests the check, not a different one).
    fn rounding(&self) -> &RoundingModel<T> {
        self.loss.rounding()
    }
}

fn run_typed<T: Real>(
    p: &Typed<T>,
    run: &RunSpec,
    mu_factor: f64,
    observer: &mut dyn RunObserver,
) -> Result<(RunResult, FinalWeights)> {
    let rule = parse_rule::<T>(&run.rule)?;
    let loss = CheckedMu::new(&p.loss, mu_factor);
    let (n, m) = p.loss.minimizer().shape();
    let sizes = Sizes {
        n,
        m,
        ..Sizes::default()
    };
    let mut trainer = Trainer::new(p.start.clone(), loss, rule, config::<T>(run))?;
    let mut records = run.keep_records.then(Vec::new);
    let mut alpha0_beta0: Option<(f64, f64)> = None;
    let mut last_reason: Option<String> = None;
    let mut certified = false;
    let started = Instant::now();
    let summary: Summary<T> = trainer.run(&mut |r: &StepRecord<T>| {
        if let Some(a) = r.anytime {
            match a.certificate {
                Ok(_) => certified = true,
                Err(why) if !certified => last_reason = Some(why.to_string()),
                Err(_) => {}
            }
        }
        let rec = Record::from_core(r);
        if alpha0_beta0.is_none() {
            alpha0_beta0 = Some((rec.alpha, rec.beta));
        }
        if let Some(v) = records.as_mut() {
            v.push(rec);
        }
        observer.on_record(&rec) && !crate::interrupted()
    });
    let wall = started.elapsed().as_secs_f64();
    let weights = FinalWeights {
        w1: trainer.net().w1.map(|v| v.to_f64()),
        w2: trainer.net().w2.map(|v| v.to_f64()),
    };
    let (alpha0, beta0) = match alpha0_beta0 {
        Some(ab) => ab,
        None => {
            let (sc, _) = start_and_apriori(p, run.tol)?;
            (sc.alpha0, sc.beta0)
        }
    };
    let initial_gap = summary.initial_gap.to_f64();
    let final_gap = summary.final_gap.to_f64();
    let tol_abs = if run.relative {
        run.tol * initial_gap
    } else {
        run.tol
    };
    let (status, diverged_at, unavailable) = match summary.status {
        overlin_core::Status::Diverged { at } => ("diverged".to_string(), Some(at), None),
        overlin_core::Status::RuleUnavailable(why) => {
            ("rule_unavailable".to_string(), None, Some(why.to_string()))
        }
        // A stall before any step is no precision floor reached by
        // progress: the rule's first step cannot move this start.
        overlin_core::Status::Stalled if summary.iterations == 0 => (
            "rule_unavailable".to_string(),
            None,
            Some(no_first_step_reason(p)),
        ),
        s => (s.name().to_string(), None, None),
    };
    let achieved_rate = (summary.iterations > 0 && initial_gap > 0.0 && final_gap >= 0.0)
        .then(|| (final_gap / initial_gap).powf(1.0 / summary.iterations as f64));
    let t = summary.tally;
    Ok((
        RunResult {
            status,
            diverged_at,
            rule_unavailable: unavailable,
            rule: run.rule.clone(),
            precision: String::new(),
            iterations: summary.iterations,
            initial_gap,
            final_gap,
            final_loss: summary.final_loss.to_f64(),
            tol_abs,
            tally: Tally {
                steps_checked: t.steps_checked,
                contraction_steps: t.contraction_steps,
                violations: t.violations,
                worst_ratio: t.worst_ratio.to_f64(),
                imbalance_checks: t.imbalance_checks,
                imbalance_violations: t.imbalance_violations,
                classes: Classes::from_core(&t.classes),
            },
            apriori: Apriori::from_core(
                &summary.apriori,
                summary.initial_gap,
                T::of(tol_abs),
                margin_of(trainer.loss().constants(), sizes),
            ),
            anytime: Anytime {
                anytime_last_reason: last_reason,
                ..Anytime::from_core(&summary.anytime, run.anytime_every)
            },
            sizes: Sizes::default(),
            constants: loss_info(p.loss.constants()),
            alpha0,
            beta0,
            alpha0_over_beta0: if beta0 > 0.0 { alpha0 / beta0 } else { 0.0 },
            achieved_rate,
            setting_note: None,
            wall_time_s: wall,
            records,
        },
        weights,
    ))
}

/// Why the first step of a run left the start exactly where it was: either
/// the gradients with respect to both factors, `A = G W₂ᵀ` and `B = W₁ᵀ G`
/// (THEORY §1), are zero (a critical point: `W₁ = W₂ = 0` is a saddle of
/// every loss here), or the step `η·A, η·B` is below the resolution of the
/// weights (every entry of `W − ηA` rounds back to `W`).
fn no_first_step_reason<T: Real>(p: &Typed<T>) -> String {
    let (w1, w2) = (&p.start.w1, &p.start.w2);
    let mut loss = p.loss.clone();
    let prod = w1 * w2;
    let mut g = prod.clone();
    loss.evaluate_with_gradient(&prod, &mut g);
    let a = &g * w2.transpose();
    let b = w1.transpose() * &g;
    if a.iter().chain(b.iter()).all(|v| *v == T::zero()) {
        "the start is a critical point (the gradient with respect to W1 and W2 is zero, or \
         too small to represent): no step moves it; start elsewhere (e.g. a larger --scale)"
            .to_string()
    } else {
        "the step is below the weights' resolution: every entry of the update rounds back to \
         the same weights; use a larger step (--rule) or a better-scaled start"
            .to_string()
    }
}

/// Exact local constants at the start and the a-priori certificate. The
/// core computes them: a trainer with the `local` rule is set up on a copy
/// of the start and takes one step, whose record carries `α₀, β₀, ‖G₀‖₂`,
/// `μ₀`, `K₀(η₀)` and `ρ₀(η₀)` (THEORY §2–§5).
fn start_and_apriori<T: Real>(p: &Typed<T>, tol: f64) -> Result<(StartConstants, Apriori)> {
    let cfg = TrainerConfig {
        max_iters: 1,
        tol: Tolerance::Absolute(T::MIN_POSITIVE),
        certify: true,
        imbalance_every: 0,
        stall_window: 0,
        anytime_every: 0,
    };
    let mut trainer = Trainer::new(p.start.clone(), p.loss.clone(), StepRule::Local, cfg)?;
    let before = trainer.summary();
    let eval = trainer.evaluation();
    let c = *p.loss.constants();
    let imb = before.initial_imbalance;
    let mut sc = StartConstants {
        loss0: eval.value.to_f64(),
        gap0: eval.gap.to_f64(),
        lambda_max: imb.lambda_max.to_f64(),
        neg_lambda_max: imb.neg_lambda_max.to_f64(),
        alpha_imb: imb.alpha_imb.to_f64(),
        ..StartConstants::default()
    };
    if let Some(r) = trainer.step() {
        let l = r.cert.local;
        sc.alpha0 = l.alpha.to_f64();
        sc.beta0 = l.beta.to_f64();
        sc.alpha_over_beta = if sc.beta0 > 0.0 {
            sc.alpha0 / sc.beta0
        } else {
            0.0
        };
        sc.grad_spec0 = l.grad_spec.to_f64();
        sc.grad_sq0 = l.grad_sq.to_f64();
        sc.mu0 = r.cert.mu_t.to_f64();
        sc.eta_local0 = r.eta.to_f64();
        sc.k0 = r.cert.k_t.to_f64();
        sc.rho0 = r.cert.rho.to_f64();
        let (mu, k) = (c.mu.to_f64(), c.k.to_f64());
        sc.limit_rate0 = 1.0 - (mu / k) * sc.alpha_over_beta;
    }
    let (n, m) = p.loss.minimizer().shape();
    let sizes = Sizes {
        n,
        m,
        ..Sizes::default()
    };
    let apriori = Apriori::from_core(&before.apriori, eval.gap, T::of(tol), margin_of(&c, sizes));
    Ok((sc, apriori))
}

fn certify_typed<T: Real>(p: &Typed<T>, tol: f64) -> Result<CertifyResult> {
    let (start, apriori) = start_and_apriori(p, tol)?;
    Ok(CertifyResult {
        sizes: Sizes::default(),
        constants: loss_info(p.loss.constants()),
        start,
        apriori,
        setting_note: None,
    })
}
