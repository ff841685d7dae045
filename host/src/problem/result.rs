//! What runs and certifications return: a-priori and anytime
//! certificates (THEORY §8), constants, sizes and the run outcome.

use overlin_core::{AprioriCertificate, LossConstants, NoCertificate, Real};

use serde::{Deserialize, Serialize};

use super::{Record, Tally};
use crate::status::RunStatus;

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
    pub(super) fn from_core<T: Real>(
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
pub(super) fn margin_of<T: Real>(c: &LossConstants<T>, s: Sizes) -> (f64, f64) {
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
    pub(super) fn from_core<T: Real>(a: &overlin_core::AnytimeSummary<T>, every: usize) -> Self {
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

/// What [`Problem::certify`](super::Problem::certify) returns.
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
    /// Number of layers `L` (2: the two-layer model; THEORY §13 beyond). For
    /// `L ≥ 3` the imbalance figures in `start` are the extremes over every
    /// pair `D_j` and no margin or a-priori certificate applies.
    #[serde(default = "two")]
    pub depth: usize,
}

fn two() -> usize {
    2
}

/// The outcome of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// How the run ended; in JSON the fields `status`, `diverged_at` and
    /// `rule_unavailable`.
    #[serde(flatten)]
    pub status: RunStatus,
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
    /// Number of layers `L` (2: the two-layer model; THEORY §13 beyond).
    #[serde(default = "two")]
    pub depth: usize,
    /// `(t, α_t)` at `t = 0, 1, 2, 4, 8, …` and the last step: how the local
    /// PL factor grows from a small start (THEORY §13: `α_t ≈ 0` on the
    /// plateau near the saddle at 0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alpha_trace: Vec<(usize, f64)>,
    /// Every step, when [`RunSpec::keep_records`](super::RunSpec::keep_records).
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

    /// The exit code this result maps to (see [`crate::exit`]): a
    /// violated certificate first, then how the run ended.
    pub fn exit_code(&self) -> i32 {
        if self.violated() {
            crate::exit::VIOLATION
        } else {
            self.status.exit_code()
        }
    }
}
