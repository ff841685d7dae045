//! Xu et al. (2023) (THEORY §6.4): the step minimizing their contraction
//! bound for the squared loss, with slack constants `c₁ ≥ 1 ≥ c₂`. The
//! derivation of the cubic it solves is in `docs/RULES.md`.

use crate::certificate::LocalConstants;
use crate::loss::LossKind;
use crate::scalar::{pos, sqrt, Real};

use super::cubic::unit_cubic_root;
use super::{
    arity_error, nonneg_finite, Probe, valid, Rule, RuleContext, RuleUnavailable, StartInfo, StepRule,
};

/// The positive root of `dρ/dη = 0` for
/// `ρ(η) = 1 − 2μc₂αη + μη²[a + K(b + ηq)²]`; squared loss only.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Xu2023<T> {
    c1: T,
    c2: T,
}

impl<T: Real> Xu2023<T> {
    /// The rule with `c₁ ≥ 1` and `c₂ ∈ (0, 1]`, both finite.
    pub fn new(c1: T, c2: T) -> Result<Self, RuleUnavailable> {
        let fail = |what| Err(RuleUnavailable::InvalidParameter { what });
        if !(c1 >= T::one() && c1.finite()) {
            return fail("xu2023 needs c1 >= 1 (finite)");
        }
        if !(c2 > T::zero() && c2 <= T::one()) {
            return fail("xu2023 needs c2 in (0, 1]");
        }
        Ok(Self { c1, c2 })
    }
}

impl<T: Real> StepRule<T> {
    /// Xu et al. with the constants of their experiments (`c₁ = 1.5`, `c₂ = 0.5`).
    pub fn xu2023() -> Self {
        Self::Xu2023 {
            c1: T::of(1.5),
            c2: T::of(0.5),
        }
    }
}

impl<T: Real> Rule<T> for Xu2023<T> {
    const NAME: &'static str = "xu2023";
    const ALIASES: &'static [&'static str] = &["xu"];
    const DEFAULTS: Option<&'static [f64]> = Some(&[1.5, 0.5]);
    const NEEDS_PRODUCT_NORM: bool = true;

    fn from_params(params: &[T]) -> Result<Self, RuleUnavailable> {
        match *params {
            [c1, c2] => Self::new(c1, c2),
            _ => Err(arity_error("xu2023 takes two parameters, c1 and c2")),
        }
    }

    fn bind(&mut self, start: &StartInfo<T>) -> Result<(), RuleUnavailable> {
        if start.loss_kind == LossKind::Squared {
            Ok(())
        } else {
            Err(RuleUnavailable::XuNeedsSquaredLoss)
        }
    }

    fn step(&mut self, ctx: &RuleContext<T>, _: &mut dyn Probe<T>) -> Result<T, RuleUnavailable> {
        xu2023_step(ctx, self.c1, self.c2)
    }
}

/// With `a = √(8KL)p₂`, `b = c₁β`, `q = √(2KL)p₂`, `L = [L_t − L*]₊`,
/// `p₂ = ‖W₁W₂‖₂` and `η₁ = c₂α/(a + Kb²)`, the step is `η₁x` for the root
/// `x ∈ (0, 1]` of `c₃x³ + c₂'x² + x − 1`, `c₂' = 3Kbqη₁/(a + Kb²)`,
/// `c₃ = 2Kq²η₁²/(a + Kb²)` (`docs/RULES.md`).
fn xu2023_step<T: Real>(ctx: &RuleContext<T>, c1: T, c2: T) -> Result<T, RuleUnavailable> {
    let k = ctx.constants.k;
    let LocalConstants { alpha, beta, .. } = ctx.local;
    let gap = pos(ctx.gap);
    let p2 = ctx.product_spec;
    let inputs_ok = [k, alpha, beta, gap, p2].into_iter().all(nonneg_finite);
    if !inputs_ok {
        return Err(RuleUnavailable::InvalidStep);
    }
    if !(alpha > T::zero()) {
        return Err(RuleUnavailable::XuNoPositiveStep);
    }
    let a = sqrt(T::of(8.0) * k * gap) * p2;
    let b = c1 * beta;
    let q = sqrt(T::of(2.0) * k * gap) * p2;
    let lin = a + k * b * b;
    if !(lin > T::zero() && lin.finite()) {
        return Err(RuleUnavailable::InvalidStep);
    }
    let eta1 = c2 * alpha / lin;
    let cc2 = T::of(3.0) * k * b * q * eta1 / lin;
    let cc3 = T::of(2.0) * k * q * q * eta1 * eta1 / lin;
    let x = unit_cubic_root(cc2, cc3).ok_or(RuleUnavailable::InvalidStep)?;
    valid(x * eta1)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{step_at, ctx, flat, start};
    use super::*;

    #[test]
    fn the_step_is_stationary_for_the_bound_on_the_squared_loss_only() {
        let (c1, c2) = (1.5, 0.5);
        let mut rule = Xu2023::new(c1, c2).unwrap();
        rule.bind(&start(0.0, LossKind::Squared)).unwrap();
        let c = ctx(0);
        let eta = step_at(&mut rule, &c, &mut flat).unwrap();
        let (k, mu, alpha, beta) = (c.constants.k, c.constants.mu, c.local.alpha, c.local.beta);
        let l = c.gap;
        let p2 = c.product_spec;
        let (a, b, q) = ((8.0 * k * l).sqrt() * p2, c1 * beta, (2.0 * k * l).sqrt() * p2);
        let d_rho = |e: f64| {
            mu * (-2.0 * c2 * alpha + (2.0 * a + 2.0 * k * b * b) * e
                + 6.0 * k * b * q * e * e
                + 4.0 * k * q * q * e * e * e)
        };
        assert!(d_rho(eta).abs() <= 1e-12 * (2.0 * mu * c2 * alpha), "{}", d_rho(eta));
        assert_eq!(
            rule.bind(&start(0.0, LossKind::LogCosh)),
            Err(RuleUnavailable::XuNeedsSquaredLoss)
        );
        let mut flat_alpha = c;
        flat_alpha.local.alpha = 0.0;
        assert_eq!(step_at(&mut rule, &flat_alpha, &mut flat), Err(RuleUnavailable::XuNoPositiveStep));
    }

    #[test]
    fn constants_out_of_range_are_refused() {
        for (c1, c2) in [(0.5, 0.5), (f64::INFINITY, 0.5), (1.5, 0.0), (1.5, 1.5), (1.5, f64::NAN)] {
            assert!(
                matches!(Xu2023::new(c1, c2), Err(RuleUnavailable::InvalidParameter { .. })),
                "c1 = {c1}, c2 = {c2}"
            );
        }
        assert!(Xu2023::<f64>::from_params(&[1.5]).is_err());
    }
}
