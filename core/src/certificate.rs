//! Per-step certificate: local PL constant, local smoothness and the
//! one-step contraction factor (THEORY §2–§5, §11).

use crate::scalar::{abs, max, sqrt, Real};

/// Local constants at the current iterate (THEORY §2).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LocalConstants<T> {
    /// `α_t = σ_n(W₁)² + σ_m(W₂)²` (a term is 0 when `h` is below its size).
    pub alpha: T,
    /// `β_t = σ₁(W₁)² + σ₁(W₂)²`.
    pub beta: T,
    /// `‖G‖₂`, spectral norm of `∇ℓ(W₁W₂)`.
    pub grad_spec: T,
    /// `g² = ‖∇L‖² = ‖A‖² + ‖B‖²`.
    pub grad_sq: T,
}

/// Local smoothness `K_t(η) = K β_t (1 + η‖G‖₂/2)² + ‖G‖₂` (Lemma 2, THEORY §4).
#[inline]
pub fn local_smoothness<T: Real>(k: T, beta: T, grad_spec: T, eta: T) -> T {
    let f = T::one() + eta * grad_spec * T::of(0.5);
    k * beta * f * f + grad_spec
}

/// Local PL constant `μ_t = μ α_t` (Lemma 1, THEORY §3).
#[inline]
pub fn local_pl_constant<T: Real>(mu: T, alpha: T) -> T {
    mu * alpha
}

/// Contraction factor `ρ_t(η) = 1 − 2μ_tη + μ_t K_t(η) η²` (Theorem 1, THEORY §5).
#[inline]
pub fn contraction_factor<T: Real>(mu_t: T, k_t: T, eta: T) -> T {
    T::one() - (mu_t + mu_t) * eta + mu_t * k_t * eta * eta
}

/// Units of `ε_mach` for evaluating the check's own bounds: `ρ_t (L_t − L*)`
/// and Lemma 2's bound are a handful of operations on rounded inputs
/// (docs/ROUNDING.md R4).
pub const BOUND_EVAL_UNITS: f64 = 8.0;

/// Units of `ε_mach` for one rounded inner product or sum of `k` terms, per
/// `√k` (docs/ROUNDING.md R1: the probabilistic model with `λ = 8`, `u = ε/2`).
pub const DOT_UNITS: f64 = 4.0;

/// A step's predicted decrease must exceed its rounding allowance this many
/// times over for the step to count as certified (THEORY §11: "below a
/// tenth of the predicted decrease").
pub const RESOLUTION_FACTOR: f64 = 10.0;

/// `DOT_UNITS·√k·ε`: the rounding of an inner product of length `k`
/// (docs/ROUNDING.md R1).
#[inline]
pub fn dot_rounding<T: Real>(k: usize) -> T {
    T::of(DOT_UNITS) * sqrt(T::of_usize(k.max(1))) * T::EPSILON
}

/// The norms a step's rounding allowance is built from, all of them
/// quantities the trainer has at hand (docs/ROUNDING.md R3). Frobenius norms
/// unless said otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StepNorms<T> {
    /// `‖W₁‖` at `t`.
    pub w1: T,
    /// `‖W₂‖` at `t`.
    pub w2: T,
    /// `‖A‖ = ‖G W₂ᵀ‖` at `t`.
    pub a: T,
    /// `‖B‖ = ‖W₁ᵀ G‖` at `t`.
    pub b: T,
    /// `‖G_t‖` of the computed `∇ℓ(W₁W₂)` at `t`.
    pub grad: T,
    /// `‖G_{t+1}‖` at the stored next iterate.
    pub next_grad: T,
    /// `σ₁(W₁)² + σ₁(W₂)²` (`β_t`; spectral).
    pub beta: T,
}

/// What the loss says about its own rounding at the two points of a step
/// (from [`crate::loss::Loss::gap_error`] and
/// [`crate::loss::Loss::gradient_error`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LossRounding<T> {
    /// Bound on the rounding error of the computed gap at `t`.
    pub gap: T,
    /// The same at `t + 1`.
    pub next_gap: T,
    /// Bound on `‖Ĝ_t − ∇ℓ(P_t)‖` of the computed gradient at `t`.
    pub grad: T,
}

/// The sizes that set how long the inner products of a step are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StepShape {
    /// Rows of `W₁` (`n`).
    pub n: usize,
    /// Hidden width (`h`).
    pub h: usize,
    /// Columns of `W₂` (`m`).
    pub m: usize,
}

/// The rounding allowance of one step's check (THEORY §11; the analysis and
/// its constants are in docs/ROUNDING.md). A bound on how far the computed
/// `L_{t+1} − L*` can exceed `ρ_t (L_t − L*)` (or Lemma 2's bound) through
/// rounding alone when the exact step satisfies the bound:
///
/// * the loss's own bound on the error of each computed gap (`|L*|` enters
///   only for a loss that computes its gap by subtraction);
/// * forming `P = W₁W₂` at both iterates: `‖G‖·γ̃_h‖W₁‖‖W₂‖`;
/// * the stored step: `W⁺` is rounded, and so are `A`, `B` and the
///   gradient they come from, a loss change of at most
///   `‖G⁺‖ (ε(‖W₁‖‖W₂‖ + η(‖A‖‖W₂‖ + ‖W₁‖‖B‖)) + η β_t ‖ΔG‖ + …)`;
/// * the second-order terms `K‖ΔP‖²/2` of those perturbations;
/// * the rounding of the computed `α_t, β_t, ‖G‖₂` (a Gram matrix and its
///   extreme eigenvalues) propagated through `ρ_t`, and of evaluating the
///   bound itself.
///
/// Every term is proportional to `ε` and homogeneous in the problem's scale:
/// scaling the loss by `s` scales it by `s`; there is no absolute constant.
#[allow(clippy::too_many_arguments)]
pub fn rounding_allowance<T: Real>(
    cert: &StepCertificate<T>,
    mu: T,
    k: T,
    eta: T,
    gap: T,
    shape: StepShape,
    norms: &StepNorms<T>,
    loss: &LossRounding<T>,
) -> T {
    let eps = T::EPSILON;
    let half = T::of(0.5);
    let gh = dot_rounding::<T>(shape.h);
    // Forming P = W₁W₂ at t and at t + 1 (‖W⁺‖ ≤ ‖W‖ + η‖A‖ up to rounding).
    let w1n = norms.w1 + eta * norms.a;
    let w2n = norms.w2 + eta * norms.b;
    let dp = gh * norms.w1 * norms.w2;
    let dp_next = gh * w1n * w2n;
    // The stored step W⁺ = fl(W − η∇̂): the update's own rounding (u = ε/2
    // per operation, two operations), A = fl(G W₂ᵀ) and B = fl(W₁ᵀ G), and
    // the computed gradient against ∇ℓ at the exact product.
    let dw1 = eps * (half * norms.w1 + eta * norms.a)
        + eta * dot_rounding::<T>(shape.m) * norms.grad * norms.w2;
    let dw2 = eps * (half * norms.w2 + eta * norms.b)
        + eta * dot_rounding::<T>(shape.n) * norms.grad * norms.w1;
    let dgrad = loss.grad + k * dp;
    let dp_step = dw1 * w2n + w1n * dw2 + eta * dgrad * norms.beta;
    let first_order = norms.next_grad * (dp_next + dp_step)
        + (norms.grad + loss.grad) * dp
        + loss.gap
        + loss.next_gap;
    let second_order = half * k * (dp * dp + (dp_next + dp_step) * (dp_next + dp_step));
    // α_t, β_t from Grams (formed with γ̃_h, or carried: drift ≤ a few ε β)
    // and their extreme eigenvalues (a few ε of the largest); ‖G‖₂ likewise.
    let p = shape.n + shape.m;
    let d_lambda = gh * (norms.w1 * norms.w1 + norms.w2 * norms.w2)
        + T::of(8.0) * T::of_usize(p) * eps * norms.beta;
    let d_gspec = T::of(8.0) * T::of_usize(p) * eps * norms.grad;
    let f = T::one() + half * eta * cert.local.grad_spec;
    let d_rho = (mu + mu) * eta * d_lambda
        + cert.mu_t
            * eta
            * eta
            * (k * f * f * d_lambda + (k * cert.local.beta * f * eta + T::one()) * d_gspec);
    // Each term of Lemma 2's bound `ĝ − ηg² + (η/2)(ηK_t)g²` (and of
    // `ρ_t ĝ`, whose terms are smaller when `ηK_t < 2`) is rounded in
    // proportion to its own size; past `ηK_t = 2` the last one dominates.
    let bound_eval = T::of(BOUND_EVAL_UNITS)
        * eps
        * (abs(gap) + eta * cert.local.grad_sq * (T::one() + half * abs(cert.eta_k_t)));
    first_order + second_order + d_rho * abs(gap) + bound_eval
}

/// What the theory predicts for one step, computed before it is taken.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StepCertificate<T> {
    /// The local constants at `t`.
    pub local: LocalConstants<T>,
    /// `μ_t = μ α_t`.
    pub mu_t: T,
    /// `K_t(η_t)`.
    pub k_t: T,
    /// `η_t K_t(η_t)`; Theorem 1 applies when it is below 2.
    pub eta_k_t: T,
    /// `ρ_t(η_t)`.
    pub rho: T,
    /// `true` when `η_t K_t(η_t) < 2`, so `ρ_t` bounds the step (Theorem 1).
    pub contraction_applies: bool,
    /// Lemma 2's bound on the next gap, valid for every `η`:
    /// `(L_t − L*) − η g² + (η²/2) K_t(η) g²`.
    pub descent_bound: T,
}

impl<T: Real> StepCertificate<T> {
    /// The certificate of a step of size `eta` from local constants `local`
    /// of a loss with constants `mu`, `k`, at gap `gap`.
    pub fn predict(local: LocalConstants<T>, mu: T, k: T, gap: T, eta: T) -> Self {
        let k_t = local_smoothness(k, local.beta, local.grad_spec, eta);
        Self::with_smoothness(local, mu, k_t, gap, eta)
    }

    /// The certificate of a step of size `eta` whose local smoothness
    /// `K_t(η)` was computed elsewhere (THEORY §13: a deep network's `K_t`
    /// comes from Lemma D2; the contraction has the same form).
    pub fn with_smoothness(local: LocalConstants<T>, mu: T, k_t: T, gap: T, eta: T) -> Self {
        let mu_t = local_pl_constant(mu, local.alpha);
        let eta_k_t = eta * k_t;
        let rho = contraction_factor(mu_t, k_t, eta);
        let two = T::one() + T::one();
        Self {
            local,
            mu_t,
            k_t,
            eta_k_t,
            rho,
            contraction_applies: eta_k_t < two,
            descent_bound: gap - eta * local.grad_sq + T::of(0.5) * eta * eta_k_t * local.grad_sq,
        }
    }

    /// Classifies the step and checks it after it was taken (THEORY §11):
    /// the measured `next_gap` against Lemma 2 for every class but
    /// [`StepClass::NonFinite`], and against Theorem 1 for a
    /// [`StepClass::Certified`] step, each with the step's rounding
    /// `allowance` ([`rounding_allowance`]).
    ///
    /// A step with a non-finite number is [`StepClass::NonFinite`], and
    /// what it proves depends on where the overflow is (THEORY §11,
    /// docs/ROUNDING.md "Non-finite steps"):
    ///
    /// * the certificate or the gap at `t` overflowed: the step predicts
    ///   nothing and cannot be violated (the trainer reports the run as
    ///   diverged);
    /// * the prediction is finite and does not rise above the gap at `t`
    ///   (Lemma 2's bound `≤ L_t − L*`, i.e. `η K_t ≤ 2`), but the measured
    ///   next gap is not finite: the bound is broken, a violation. The next
    ///   loss was certified to be no larger than a loss just evaluated
    ///   without overflow, so its overflow is not the size of the loss;
    /// * the prediction is finite but above the gap at `t` (`η K_t > 2`,
    ///   Lemma 2 allows the loss to grow, possibly past the largest
    ///   float): the overflow of the next loss cannot be told from its
    ///   size, so it is a divergence, not a violation;
    /// * only the allowance overflowed (it depends on the next gradient): the
    ///   check has no tolerance to be checked with and proves nothing.
    pub fn check(&self, gap: T, next_gap: T, allowance: T) -> StepCheck<T> {
        let ratio = if gap > T::zero() {
            next_gap / gap
        } else {
            T::zero()
        };
        let prediction_finite = [
            self.local.alpha,
            self.local.beta,
            self.local.grad_spec,
            self.local.grad_sq,
            self.mu_t,
            self.k_t,
            self.rho,
            self.descent_bound,
            gap,
        ]
        .iter()
        .all(|x| x.finite());
        if !(prediction_finite && next_gap.finite() && allowance.finite()) {
            // A finite bound that does not let the loss rise, followed by a
            // non-finite loss: broken (see above). Every other overflow
            // proves nothing either way.
            let broken = prediction_finite && !next_gap.finite() && self.descent_bound <= gap;
            return StepCheck {
                ratio,
                bound_ratio: T::zero(),
                holds: !broken,
                class: StepClass::NonFinite,
                allowance,
            };
        }
        let predicted_decrease = (T::one() - self.rho) * gap;
        let class = if !(self.mu_t > T::zero()) {
            StepClass::Trivial
        } else if !self.contraction_applies {
            StepClass::DescentOnly
        } else if !(T::of(RESOLUTION_FACTOR) * allowance < predicted_decrease) {
            StepClass::BelowResolution
        } else {
            StepClass::Certified
        };
        let descent_ok = next_gap <= self.descent_bound + allowance;
        let (contraction_ok, bound_ratio) = if class == StepClass::Certified {
            let bound = max(self.rho, T::zero()) * gap;
            let bound_ratio = if bound > T::zero() {
                next_gap / bound
            } else if next_gap > T::zero() {
                T::MAX
            } else {
                T::zero()
            };
            (next_gap <= bound + allowance, bound_ratio)
        } else {
            (true, T::zero())
        };
        StepCheck {
            ratio,
            bound_ratio,
            holds: descent_ok && contraction_ok,
            class,
            allowance,
        }
    }
}

/// What a step's check counts as (THEORY §11). Every checked step is in
/// exactly one class; only a [`StepClass::Certified`] step's check of
/// Theorem 1 could have failed with a wrong certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum StepClass {
    /// `α_t > 0`, `η K_t < 2`, finite, and the rounding allowance below a
    /// tenth of the predicted decrease `(1 − ρ_t)(L_t − L*)`: the measured
    /// gap was checked against `ρ_t (L_t − L*)`.
    Certified,
    /// `α_t = 0` (`h` below `n` or `m`, or a start at a saddle), so `ρ_t = 1`:
    /// only "the loss did not rise" (Lemma 2) was checked. Also the class of
    /// records of steps that were not checked at all.
    #[default]
    Trivial,
    /// The allowance is not small against the predicted decrease: the
    /// precision floor, where Theorem 1 cannot be told from rounding.
    BelowResolution,
    /// `η K_t ≥ 2`: Theorem 1 does not apply, only Lemma 2 was checked.
    DescentOnly,
    /// The certificate, the measured gap or the allowance overflowed. Such
    /// a step is a violation only when a finite bound that does not let the
    /// loss rise is followed by a non-finite gap ([`StepCertificate::check`]).
    NonFinite,
}

impl StepClass {
    /// Every class, in the order outputs list them.
    pub const ALL: [StepClass; 5] = [
        Self::Certified,
        Self::Trivial,
        Self::BelowResolution,
        Self::DescentOnly,
        Self::NonFinite,
    ];

    /// Short name, as in `--json`'s `classes` object and the CSV's `class`
    /// column: `certified|trivial|below_resolution|descent_only|non_finite`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Certified => "certified",
            Self::Trivial => "trivial",
            Self::BelowResolution => "below_resolution",
            Self::DescentOnly => "descent_only",
            Self::NonFinite => "non_finite",
        }
    }

    /// A small code, for logs that carry numbers only (the firmware's
    /// records): the index in [`StepClass::ALL`].
    pub fn code(&self) -> u32 {
        match self {
            Self::Certified => 0,
            Self::Trivial => 1,
            Self::BelowResolution => 2,
            Self::DescentOnly => 3,
            Self::NonFinite => 4,
        }
    }
}

/// The outcome of checking one step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StepCheck<T> {
    /// Achieved ratio `(L_{t+1} − L*) / (L_t − L*)`.
    pub ratio: T,
    /// Measured over bound: `(L_{t+1} − L*) / (ρ_t (L_t − L*))`, no allowance
    /// in the denominator; at most 1 (up to the allowance) when Theorem 1
    /// holds. 0 unless the step is [`StepClass::Certified`].
    pub bound_ratio: T,
    /// Lemma 2 and (for a certified step) Theorem 1 held within the allowance.
    pub holds: bool,
    /// What the check counts as.
    pub class: StepClass,
    /// The rounding allowance the step was checked with ([`rounding_allowance`]).
    pub allowance: T,
}

/// Steps counted by [`StepClass`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClassCounts {
    /// [`StepClass::Certified`] steps.
    pub certified: u32,
    /// [`StepClass::Trivial`] steps.
    pub trivial: u32,
    /// [`StepClass::BelowResolution`] steps.
    pub below_resolution: u32,
    /// [`StepClass::DescentOnly`] steps.
    pub descent_only: u32,
    /// [`StepClass::NonFinite`] steps.
    pub non_finite: u32,
}

impl ClassCounts {
    /// The count of one class.
    pub fn get(&self, class: StepClass) -> u32 {
        match class {
            StepClass::Certified => self.certified,
            StepClass::Trivial => self.trivial,
            StepClass::BelowResolution => self.below_resolution,
            StepClass::DescentOnly => self.descent_only,
            StepClass::NonFinite => self.non_finite,
        }
    }

    /// Adds one step of class `class` (saturating).
    pub fn add(&mut self, class: StepClass) {
        let c = match class {
            StepClass::Certified => &mut self.certified,
            StepClass::Trivial => &mut self.trivial,
            StepClass::BelowResolution => &mut self.below_resolution,
            StepClass::DescentOnly => &mut self.descent_only,
            StepClass::NonFinite => &mut self.non_finite,
        };
        *c = c.saturating_add(1);
    }

    /// Adds another tally's counts (for merged runs).
    pub fn merge(&mut self, other: &ClassCounts) {
        self.certified = self.certified.saturating_add(other.certified);
        self.trivial = self.trivial.saturating_add(other.trivial);
        self.below_resolution = self.below_resolution.saturating_add(other.below_resolution);
        self.descent_only = self.descent_only.saturating_add(other.descent_only);
        self.non_finite = self.non_finite.saturating_add(other.non_finite);
    }

    /// All steps counted.
    pub fn total(&self) -> u64 {
        StepClass::ALL.iter().map(|&c| u64::from(self.get(c))).sum()
    }
}

/// What a tally says in one word (THEORY §11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict {
    /// A bound (or Lemma 3's imbalance drift) was violated beyond rounding.
    Violated,
    /// Nothing was violated and at least one step was certified.
    Held,
    /// Nothing was violated, but no step was certified: the checks were
    /// vacuous (trivial, below resolution, descent only or non-finite).
    NothingCertified,
}

/// Running count of checked steps (what a run reports).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CertificateTally<T> {
    /// Steps whose certificate was checked.
    pub steps_checked: u32,
    /// Steps where Theorem 1 applied (`η K_t < 2`).
    pub contraction_steps: u32,
    /// Steps where a bound was violated beyond rounding.
    pub violations: u32,
    /// Largest measured/bound ratio over certified steps, without the
    /// allowance in the denominator (0 when no step was certified).
    pub worst_ratio: T,
    /// The checked steps by class.
    pub classes: ClassCounts,
    /// Lemma 3 checks of the imbalance drift that were made.
    pub imbalance_checks: u32,
    /// Lemma 3 checks that failed beyond rounding.
    pub imbalance_violations: u32,
}

impl<T: Real> CertificateTally<T> {
    /// Adds one checked step.
    pub fn record(&mut self, cert: &StepCertificate<T>, check: &StepCheck<T>) {
        self.steps_checked = self.steps_checked.saturating_add(1);
        if cert.contraction_applies {
            self.contraction_steps = self.contraction_steps.saturating_add(1);
        }
        if !check.holds {
            self.violations = self.violations.saturating_add(1);
        }
        self.classes.add(check.class);
        if check.class == StepClass::Certified {
            self.worst_ratio = max(self.worst_ratio, check.bound_ratio);
        }
    }

    /// `true` when no bound was violated (which says nothing when no step
    /// was certified: see [`CertificateTally::verdict`]).
    pub fn all_held(&self) -> bool {
        self.violations == 0 && self.imbalance_violations == 0
    }

    /// Violated, held (with at least one certified step), or nothing certified.
    pub fn verdict(&self) -> Verdict {
        if !self.all_held() {
            Verdict::Violated
        } else if self.classes.certified == 0 {
            Verdict::NothingCertified
        } else {
            Verdict::Held
        }
    }
}

/// The Local rule's step `1/(Kβ_t + ‖G_t‖₂)` (THEORY §6.2).
#[inline]
pub fn local_step<T: Real>(k: T, local: &LocalConstants<T>) -> T {
    T::one() / (k * local.beta + local.grad_spec)
}
