//! RateOptimal (THEORY §6.3): the step that minimizes the certified
//! contraction factor `ρ_t(η)`. The derivation of the cubic it solves is in
//! `docs/RULES.md`.

use core::marker::PhantomData;

use crate::certificate::{local_smoothness, local_step, LocalConstants, StepCertificate};
use crate::scalar::Real;

use super::cubic::unit_cubic_root;
use super::{arity_error, Probe, nonneg_finite, valid, Rule, RuleContext, RuleUnavailable};

/// The bound `η K_t(η) ≤ 2 − 10⁻³` RateOptimal respects (THEORY §6.3).
pub const RATE_OPTIMAL_CAP: f64 = 2.0 - 1e-3;

/// `argmin_η ρ_t(η)` subject to `η K_t(η) ≤ 2 − 10⁻³`; never worse than
/// the Local step in `ρ_t`, even under rounding.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RateOptimal<T>(PhantomData<T>);

impl<T: Real> Rule<T> for RateOptimal<T> {
    const NAME: &'static str = "rate-optimal";
    const ALIASES: &'static [&'static str] = &["rate_optimal", "rateoptimal"];
    const DEFAULTS: Option<&'static [f64]> = Some(&[]);

    fn from_params(params: &[T]) -> Result<Self, RuleUnavailable> {
        match params {
            [] => Ok(Self(PhantomData)),
            _ => Err(arity_error("rate-optimal takes no parameters")),
        }
    }

    fn step(&mut self, ctx: &RuleContext<T>, _: &mut dyn Probe<T>) -> Result<T, RuleUnavailable> {
        rate_optimal_step(ctx)
    }
}

/// With `a = Kβ_t`, `s = ‖G_t‖₂`, `x = η(a + s)`, `u = s/(a + s)`, the
/// minimizer of `ρ_t` is the root in `[½, 1]` of
/// `x − 1 + u(1−u)x²(3/2 + ux/2) = 0`, at or below the Local step; it is
/// compared with the Local step in `ρ_t` (in `φ(η) = η(2 − ηK_t(η))` when
/// `μ_t = 0`) and the better one is returned. See `docs/RULES.md`.
fn rate_optimal_step<T: Real>(ctx: &RuleContext<T>) -> Result<T, RuleUnavailable> {
    let k = ctx.constants.k;
    let mu = ctx.constants.mu;
    let LocalConstants {
        alpha,
        beta,
        grad_spec: s,
        ..
    } = ctx.local;
    let inputs_ok = [k, mu, alpha, beta, s].into_iter().all(nonneg_finite);
    if !inputs_ok {
        return Err(RuleUnavailable::InvalidStep);
    }
    let a = k * beta;
    let sum = a + s;
    if !(sum > T::zero() && sum.finite()) {
        return Err(RuleUnavailable::InvalidStep);
    }
    let u = s / sum;
    let w = a / sum;
    let x = unit_cubic_root(T::of(1.5) * u * w, T::of(0.5) * u * u * w)
        .ok_or(RuleUnavailable::InvalidStep)?;
    let eta_opt = valid(x / sum)?;
    let eta_local = valid(local_step(k, &ctx.local))?;
    // Compare in ρ_t (or in φ when μ_t = 0) with the arithmetic of the certificate.
    let mu_cmp = if mu * alpha > T::zero() { mu } else { T::one() };
    let alpha_cmp = if mu * alpha > T::zero() {
        alpha
    } else {
        T::one()
    };
    let local_cmp = LocalConstants {
        alpha: alpha_cmp,
        ..ctx.local
    };
    let rho = |eta: T| StepCertificate::predict(local_cmp, mu_cmp, k, ctx.gap, eta).rho;
    let eta = if rho(eta_local) < rho(eta_opt) {
        eta_local
    } else {
        eta_opt
    };
    if eta * local_smoothness(k, beta, s, eta) <= T::of(RATE_OPTIMAL_CAP) {
        Ok(eta)
    } else {
        Err(RuleUnavailable::InvalidStep)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{step_at, ctx, flat};
    use super::*;
    use crate::certificate::StepCertificate;

    #[test]
    fn the_step_is_no_worse_than_local_and_within_the_cap() {
        let c = ctx(0);
        let mut rule = RateOptimal::<f64>::from_params(&[]).unwrap();
        let eta = step_at(&mut rule, &c, &mut flat).unwrap();
        let local = local_step(c.constants.k, &c.local);
        assert!(eta <= local);
        let rho = |e| StepCertificate::predict(c.local, c.constants.mu, c.constants.k, c.gap, e).rho;
        assert!(rho(eta) <= rho(local));
        // Stationary: a nearby step is no better.
        assert!(rho(eta) <= rho(eta * 1.001) && rho(eta) <= rho(eta * 0.999));
        assert!(eta * local_smoothness(c.constants.k, c.local.beta, c.local.grad_spec, eta) <= 1.0);
        let mut bad = c;
        bad.local.alpha = -1.0;
        assert_eq!(step_at(&mut rule, &bad, &mut flat), Err(RuleUnavailable::InvalidStep));
        assert!(RateOptimal::<f64>::from_params(&[1.0]).is_err());
    }
}
