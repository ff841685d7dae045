//! Armijo backtracking line search (THEORY §6.4).

use crate::scalar::Real;

use super::{arity_error, Probe, nonneg_finite, Rule, RuleContext, RuleUnavailable, StepRule};

/// Backtracking stops after at most this many trials (besides the floor of
/// 60 halvings' worth of reduction).
const ARMIJO_MAX_TRIALS: usize = 1024;

/// The first trial is `initial` at the first step and twice the last
/// accepted step afterwards; it is multiplied by `shrink` until
/// `trial_loss(η) ≤ L_t − c η g²`, for at most the reduction of 60 halvings
/// (and at most 1024 trials).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Armijo<T> {
    c: T,
    shrink: T,
    initial: T,
    /// The last accepted step (0 before the first).
    last: T,
}

impl<T: Real> Armijo<T> {
    /// The search with sufficient-decrease constant `c ∈ (0, 1)`,
    /// backtracking factor `shrink ∈ (0, 1)` and first trial `initial > 0`,
    /// all finite.
    pub fn new(c: T, shrink: T, initial: T) -> Result<Self, RuleUnavailable> {
        let fail = |what| Err(RuleUnavailable::InvalidParameter { what });
        let one = T::one();
        if !(c > T::zero() && c < one) {
            return fail("armijo needs its sufficient-decrease constant c in (0, 1)");
        }
        if !(shrink > T::zero() && shrink < one) {
            return fail("armijo needs its backtracking factor shrink in (0, 1)");
        }
        if !(initial > T::zero() && initial.finite()) {
            return fail("armijo needs a positive, finite first trial step");
        }
        Ok(Self {
            c,
            shrink,
            initial,
            last: T::zero(),
        })
    }
}

impl<T: Real> StepRule<T> {
    /// Armijo with `c = 10⁻⁴`, halving, first trial 1.
    pub fn armijo() -> Self {
        Self::Armijo {
            c: T::of(1e-4),
            shrink: T::of(0.5),
            initial: T::one(),
        }
    }
}

impl<T: Real> Rule<T> for Armijo<T> {
    const NAME: &'static str = "armijo";
    const DEFAULTS: Option<&'static [f64]> = Some(&[1e-4, 0.5, 1.0]);

    fn from_params(params: &[T]) -> Result<Self, RuleUnavailable> {
        match *params {
            [c, shrink, initial] => Self::new(c, shrink, initial),
            _ => Err(arity_error("armijo takes three parameters, c, shrink and initial")),
        }
    }

    fn step(
        &mut self,
        ctx: &RuleContext<T>,
        probe: &mut dyn Probe<T>,
    ) -> Result<T, RuleUnavailable> {
        let g2 = ctx.local.grad_sq;
        if !(nonneg_finite(g2) && ctx.loss.finite()) {
            return Err(RuleUnavailable::InvalidStep);
        }
        let doubled = self.last + self.last;
        let first = if self.last > T::zero() && doubled.finite() {
            doubled
        } else if self.last > T::zero() {
            self.last
        } else {
            self.initial
        };
        // 2⁻⁶⁰
        let smallest = first * T::of(1.0 / 1_152_921_504_606_846_976.0);
        let mut eta = first;
        for _ in 0..ARMIJO_MAX_TRIALS {
            if !(eta >= smallest && eta > T::zero()) {
                break;
            }
            if probe.trial_loss(eta) <= ctx.loss - self.c * eta * g2 {
                self.last = eta;
                return Ok(eta);
            }
            eta *= self.shrink;
        }
        Err(RuleUnavailable::ArmijoNoDecrease)
    }

    /// A search that finds no decrease after progress was made has hit the
    /// precision floor: that is a stall, not a rule failure.
    fn is_stall(&self, why: &RuleUnavailable, ctx: &RuleContext<T>) -> bool {
        *why == RuleUnavailable::ArmijoNoDecrease && ctx.t > 0
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{step_at, ctx, flat};
    use super::*;

    #[test]
    fn accepts_the_first_sufficient_decrease_then_starts_from_twice_it() {
        let mut rule = Armijo::new(1e-4, 0.5, 1.0).unwrap();
        // L(η) = (η − 0.1)² + 0.1 − 0.01 around L_t = 0.1 with g² = 1:
        // only η ≤ 0.2 − 10⁻⁴ decreases enough.
        let mut quad = |eta: f64| (eta - 0.1) * (eta - 0.1) + 0.09;
        let c = ctx(0);
        let eta = step_at(&mut rule, &c, &mut quad).unwrap();
        assert_eq!(eta, 0.125);
        let mut trials = [0.0; 2];
        let mut n = 0;
        let mut record = |eta: f64| {
            if let Some(slot) = trials.get_mut(n) {
                *slot = eta;
            }
            n += 1;
            quad(eta)
        };
        assert_eq!(step_at(&mut rule, &ctx(1), &mut record), Ok(0.125));
        assert_eq!(trials, [0.25, 0.125]);
    }

    #[test]
    fn no_decrease_is_unavailable_at_the_start_and_a_stall_later() {
        let mut rule = Armijo::new(1e-4, 0.5, 1.0).unwrap();
        let why = step_at(&mut rule, &ctx(0), &mut flat).unwrap_err();
        assert_eq!(why, RuleUnavailable::ArmijoNoDecrease);
        assert!(!rule.is_stall(&why, &ctx(0)));
        assert!(rule.is_stall(&why, &ctx(5)));
        assert!(!rule.is_stall(&RuleUnavailable::InvalidStep, &ctx(5)));
    }

    #[test]
    fn parameters_out_of_range_are_refused() {
        for (c, s, i) in [(0.0, 0.5, 1.0), (1.0, 0.5, 1.0), (0.1, 1.0, 1.0), (0.1, 0.0, 1.0), (0.1, 0.5, 0.0), (0.1, 0.5, f64::INFINITY)] {
            assert!(
                matches!(Armijo::new(c, s, i), Err(RuleUnavailable::InvalidParameter { .. })),
                "{c}, {s}, {i}"
            );
        }
    }
}
