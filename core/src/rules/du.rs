//! Du, Hu and Lee (2018) (THEORY §6.4): a step decaying like `1/(t+1)`.

use crate::scalar::{sqrt, Real};

use super::{arity_error, Probe, valid, Rule, RuleContext, RuleUnavailable, StartInfo};

/// `η_t = η₀/(t+1)` with `η₀ = 1/(100‖W*‖√(2r))` (`r` the rank of `W*`);
/// unavailable when `W* = 0`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Du2018<T> {
    /// `η₀`, fixed at the start (0 before [`Rule::bind`]).
    eta0: T,
}

impl<T: Real> Rule<T> for Du2018<T> {
    const NAME: &'static str = "du";
    const ALIASES: &'static [&'static str] = &["du2018"];
    const DEFAULTS: Option<&'static [f64]> = Some(&[]);

    fn from_params(params: &[T]) -> Result<Self, RuleUnavailable> {
        match params {
            [] => Ok(Self { eta0: T::zero() }),
            _ => Err(arity_error("du takes no parameters")),
        }
    }

    fn bind(&mut self, start: &StartInfo<T>) -> Result<(), RuleUnavailable> {
        let ws = start.constants.w_star;
        // √(ε/r)/(100‖W*‖^{3/2}) with ε = ‖W*‖/2 is 1/(100‖W*‖√(2r)).
        if !ws.frobenius.finite() {
            return Err(RuleUnavailable::InvalidStep);
        }
        if !(ws.frobenius > T::zero()) || ws.rank == 0 {
            return Err(RuleUnavailable::DuZeroTarget);
        }
        let two_r = T::of_usize(2 * ws.rank);
        self.eta0 = valid(T::one() / (T::of(100.0) * ws.frobenius * sqrt(two_r)))?;
        Ok(())
    }

    fn step(&mut self, ctx: &RuleContext<T>, _: &mut dyn Probe<T>) -> Result<T, RuleUnavailable> {
        valid(self.eta0 / T::of_usize(ctx.t.saturating_add(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{step_at, constants, ctx, flat, start};
    use super::*;
    use crate::loss::LossKind;

    #[test]
    fn the_step_decays_like_one_over_t_and_needs_a_target() {
        let mut rule = Du2018::<f64>::from_params(&[]).unwrap();
        rule.bind(&start(0.0, LossKind::Squared)).unwrap();
        // ‖W*‖ = 2, rank 2.
        let eta0 = 1.0 / (100.0 * 2.0 * 2.0);
        assert_eq!(step_at(&mut rule, &ctx(0), &mut flat), Ok(eta0));
        assert_eq!(step_at(&mut rule, &ctx(3), &mut flat), Ok(eta0 / 4.0));
        let mut zero = start(0.0, LossKind::Squared);
        zero.constants = constants();
        zero.constants.w_star.frobenius = 0.0;
        assert_eq!(rule.bind(&zero), Err(RuleUnavailable::DuZeroTarget));
        assert!(Du2018::<f64>::from_params(&[1.0]).is_err());
    }
}
