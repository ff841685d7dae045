//! Arora, Cohen, Golowich and Hu (2019) (THEORY §6.4): a constant step fixed
//! at the start from the deficiency margin.

use crate::scalar::Real;

use super::{arity_error, Probe, valid, Rule, RuleContext, RuleUnavailable, StartInfo};

/// `η = c³/(49152‖W*‖⁴)`, `c = σ_min(W*) − ‖W₁(0)W₂(0) − W*‖ > 0`
/// (Frobenius `‖W*‖`); unavailable when the margin is not positive.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Arora2019<T> {
    /// The step fixed at the start (0 before [`Rule::bind`]).
    eta: T,
}

impl<T: Real> Rule<T> for Arora2019<T> {
    const NAME: &'static str = "arora";
    const ALIASES: &'static [&'static str] = &["arora2019"];
    const DEFAULTS: Option<&'static [f64]> = Some(&[]);

    fn from_params(params: &[T]) -> Result<Self, RuleUnavailable> {
        match params {
            [] => Ok(Self { eta: T::zero() }),
            _ => Err(arity_error("arora takes no parameters")),
        }
    }

    fn bind(&mut self, start: &StartInfo<T>) -> Result<(), RuleUnavailable> {
        let ws = start.constants.w_star;
        let margin = ws.sigma_min - start.distance_to_target;
        if !(margin.finite() && ws.frobenius.finite()) {
            return Err(RuleUnavailable::InvalidStep);
        }
        if !(margin > T::zero()) {
            return Err(RuleUnavailable::AroraMarginNotPositive);
        }
        // c ≤ σ_min ≤ ‖W*‖, so (c/‖W*‖)³ / (49152 ‖W*‖) neither
        // overflows nor loses range.
        let r = margin / ws.frobenius;
        self.eta = valid(r * r * r / (T::of(49152.0) * ws.frobenius))?;
        Ok(())
    }

    fn step(&mut self, _: &RuleContext<T>, _: &mut dyn Probe<T>) -> Result<T, RuleUnavailable> {
        valid(self.eta)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{step_at, ctx, flat, start};
    use super::*;
    use crate::loss::LossKind;

    #[test]
    fn the_step_follows_the_margin_and_needs_it_positive() {
        let mut rule = Arora2019::<f64>::from_params(&[]).unwrap();
        // Unbound: no step.
        assert_eq!(step_at(&mut rule, &ctx(0), &mut flat), Err(RuleUnavailable::InvalidStep));
        // σ_min = 1, ‖W*‖ = 2, distance 0.5: c = 0.5.
        rule.bind(&start(0.5, LossKind::Squared)).unwrap();
        let expected = 0.25_f64.powi(3) / (49152.0 * 2.0);
        assert_eq!(step_at(&mut rule, &ctx(3), &mut flat), Ok(expected));
        assert_eq!(
            rule.bind(&start(1.0, LossKind::Squared)),
            Err(RuleUnavailable::AroraMarginNotPositive)
        );
        assert!(Arora2019::<f64>::from_params(&[1.0]).is_err());
    }
}
