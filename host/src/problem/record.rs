//! Per-step records, their CSV layout, step classes (THEORY §11), the
//! run observer and the certificate tally.

use overlin_core::{ClassCounts, Real, StepClass, StepRecord};

use serde::{Deserialize, Serialize};

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
    /// Overflow: proves nothing, except that a finite bound that keeps the
    /// loss from rising, followed by a non-finite loss, is broken.
    NonFinite,
}

impl Class {
    /// The host's name for a core class.
    pub(crate) fn from_core(c: StepClass) -> Self {
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
    pub(super) fn from_core(c: &ClassCounts) -> Self {
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

/// The CSV header of [`Record`]; `t_eps` is `T_t(ε)` where a
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
    pub(super) fn from_core<T: Real>(r: &StepRecord<T>) -> Self {
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
