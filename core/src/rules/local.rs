//! The Local rule (THEORY §6.2): `η_t = 1/K_t(0)`, for two layers
//! `1/(Kβ_t + ‖G_t‖₂)`, for which `η_t K_t(η_t) ≤ 9/8` and so the step is
//! certified at every iteration.

use core::marker::PhantomData;

use crate::scalar::Real;

use super::{arity_error, Probe, valid, Rule, RuleContext, RuleUnavailable};

/// `η_t = 1/K_t(0)` from the model's local smoothness ([`Probe::smoothness`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Local<T>(PhantomData<T>);

impl<T: Real> Rule<T> for Local<T> {
    const NAME: &'static str = "local";
    const DEFAULTS: Option<&'static [f64]> = Some(&[]);

    fn from_params(params: &[T]) -> Result<Self, RuleUnavailable> {
        match params {
            [] => Ok(Self(PhantomData)),
            _ => Err(arity_error("local takes no parameters")),
        }
    }

    fn step(&mut self, _: &RuleContext<T>, probe: &mut dyn Probe<T>) -> Result<T, RuleUnavailable> {
        valid(T::one() / probe.smoothness(T::zero()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{step_at, ctx, flat};
    use super::*;
    use crate::certificate::local_step;

    #[test]
    fn the_step_is_one_over_k_beta_plus_the_gradient_norm() {
        let mut rule = Local::<f64>::from_params(&[]).unwrap();
        // K = 2, β = 4, ‖G‖₂ = 0.5.
        assert_eq!(step_at(&mut rule, &ctx(0), &mut flat), Ok(1.0 / 8.5));
        // The same bits as the closed form the certificate uses.
        assert_eq!(step_at(&mut rule, &ctx(0), &mut flat), Ok(local_step(2.0, &ctx(0).local)));
        assert_eq!(rule.fixed_step(), None);
        let mut bad = ctx(0);
        bad.local.beta = f64::NAN;
        assert_eq!(step_at(&mut rule, &bad, &mut flat), Err(RuleUnavailable::InvalidStep));
        assert!(Local::<f64>::from_params(&[1.0]).is_err());
    }
}
