//! A fixed step (THEORY §6.1).

use crate::scalar::Real;

use super::{arity_error, Probe, valid, Rule, RuleContext, RuleUnavailable};

/// `η_t = η` at every step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constant<T> {
    eta: T,
}

impl<T: Real> Constant<T> {
    /// The rule with step `eta`, which must be positive and finite.
    pub fn new(eta: T) -> Result<Self, RuleUnavailable> {
        if eta > T::zero() && eta.finite() {
            Ok(Self { eta })
        } else {
            Err(RuleUnavailable::InvalidParameter {
                what: "the constant step must be positive and finite",
            })
        }
    }
}

impl<T: Real> Rule<T> for Constant<T> {
    const NAME: &'static str = "constant";
    const DEFAULTS: Option<&'static [f64]> = None;

    fn from_params(params: &[T]) -> Result<Self, RuleUnavailable> {
        match *params {
            [eta] => Self::new(eta),
            _ => Err(arity_error("constant takes one parameter, the step")),
        }
    }

    fn step(&mut self, _: &RuleContext<T>, _: &mut dyn Probe<T>) -> Result<T, RuleUnavailable> {
        valid(self.eta)
    }

    fn fixed_step(&self) -> Option<T> {
        Some(self.eta)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{step_at, ctx, flat};
    use super::*;

    #[test]
    fn the_step_is_the_given_one_and_bad_steps_are_refused() {
        let mut rule = Constant::new(0.25_f64).unwrap();
        assert_eq!(step_at(&mut rule, &ctx(0), &mut flat), Ok(0.25));
        assert_eq!(step_at(&mut rule, &ctx(7), &mut flat), Ok(0.25));
        assert_eq!(rule.fixed_step(), Some(0.25));
        for eta in [0.0, -1.0, f64::INFINITY, f64::NAN] {
            assert!(matches!(
                Constant::new(eta),
                Err(RuleUnavailable::InvalidParameter { .. })
            ));
        }
        assert!(Constant::<f64>::from_params(&[]).is_err());
        assert!(Constant::<f64>::from_params(&[1.0, 2.0]).is_err());
    }
}
