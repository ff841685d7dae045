//! Per-step certificate: local PL constant, local smoothness and the
//! one-step contraction factor (THEORY §2–§5, §11).

use crate::scalar::{abs, max, Real};

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

/// Units of `ε_mach` a measured quantity may exceed its bound by before a
/// check fails (THEORY §11: "a few units").
pub const TOLERANCE_UNITS: f64 = 8.0;

/// Rounding allowance of a check at gap `gap`: `8 ε (gap + |L*| + 1)` (THEORY §11).
#[inline]
pub fn rounding_tolerance<T: Real>(gap: T, l_star: T) -> T {
    T::of(TOLERANCE_UNITS) * T::EPSILON * (abs(gap) + abs(l_star) + T::one())
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
        let mu_t = local_pl_constant(mu, local.alpha);
        let k_t = local_smoothness(k, local.beta, local.grad_spec, eta);
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

    /// Checks the step after it was taken: the measured `next_gap` against
    /// Lemma 2 always and against Theorem 1 when it applies, each with the
    /// rounding allowance of THEORY §11.
    ///
    /// A finite bound is violated by a larger or a non-finite `next_gap`. A
    /// certificate computed from quantities that overflowed (`g²`, `β_t`,
    /// `‖G‖₂`, `K_t(η)`, `ρ_t` or the bound itself not finite, e.g. for a
    /// step so large that the run diverges) predicts nothing and cannot be
    /// violated: the trainer reports such a step as a divergence, not as a
    /// false certificate.
    pub fn check(&self, gap: T, next_gap: T, l_star: T) -> StepCheck<T> {
        let ratio = if gap > T::zero() {
            next_gap / gap
        } else {
            T::zero()
        };
        let predicted = [
            self.local.alpha,
            self.local.beta,
            self.local.grad_spec,
            self.local.grad_sq,
            self.mu_t,
            self.k_t,
            self.rho,
            self.descent_bound,
        ]
        .iter()
        .all(|x| x.finite());
        if !predicted {
            return StepCheck {
                ratio,
                bound_ratio: T::zero(),
                holds: true,
            };
        }
        let tol = rounding_tolerance(gap, l_star);
        let descent_ok = next_gap <= self.descent_bound + tol;
        let (contraction_ok, bound_ratio) = if self.contraction_applies {
            let bound = max(self.rho, T::zero()) * gap;
            (next_gap <= bound + tol, next_gap / (bound + tol))
        } else {
            (true, T::zero())
        };
        StepCheck {
            ratio,
            bound_ratio,
            holds: descent_ok && contraction_ok,
        }
    }
}

/// The outcome of checking one step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StepCheck<T> {
    /// Achieved ratio `(L_{t+1} − L*) / (L_t − L*)`.
    pub ratio: T,
    /// Measured over certified: `(L_{t+1} − L*) / (ρ_t (L_t − L*) + tol)`;
    /// at most 1 when Theorem 1 holds (0 when it does not apply).
    pub bound_ratio: T,
    /// Lemma 2 and (when it applies) Theorem 1 held within tolerance.
    pub holds: bool,
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
    /// Largest measured/bound ratio seen (at most 1 when all held).
    pub worst_ratio: T,
    /// Lemma 3 checks of the imbalance drift that were made.
    pub imbalance_checks: u32,
    /// Lemma 3 checks that failed beyond rounding.
    pub imbalance_violations: u32,
}

impl<T: Real> CertificateTally<T> {
    /// Adds one checked step.
    pub fn record(&mut self, cert: &StepCertificate<T>, check: &StepCheck<T>) {
        self.steps_checked += 1;
        if cert.contraction_applies {
            self.contraction_steps += 1;
        }
        if !check.holds {
            self.violations += 1;
        }
        self.worst_ratio = max(self.worst_ratio, check.bound_ratio);
    }

    /// `true` when no bound was violated.
    pub fn all_held(&self) -> bool {
        self.violations == 0 && self.imbalance_violations == 0
    }
}

/// The Local rule's step `1/(Kβ_t + ‖G_t‖₂)` (THEORY §6.2).
#[inline]
pub fn local_step<T: Real>(k: T, local: &LocalConstants<T>) -> T {
    T::one() / (k * local.beta + local.grad_spec)
}
