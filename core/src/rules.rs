//! Step-size rules (THEORY §6).

use crate::certificate::{local_step, LocalConstants};
use crate::loss::{LossConstants, LossKind};
use crate::scalar::Real;

/// A step-size rule (THEORY §6).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StepRule<T> {
    /// §6.1 a fixed step.
    Constant(T),
    /// §6.2 `η_t = 1/(Kβ_t + ‖G_t‖₂)`, certified at every step.
    Local,
    /// §6.3 `argmin_η ρ_t(η)` subject to `η K_t(η) ≤ 2 − 10⁻³`.
    RateOptimal,
    /// §6.4 Arora, Cohen, Golowich, Hu (2019), constant from the deficiency margin.
    Arora2019,
    /// §6.4 Du, Hu, Lee (2018), decaying.
    Du2018,
    /// §6.4 Xu et al. (2023), squared loss, with slack constants `c₁ ≥ 1 ≥ c₂`.
    Xu2023 {
        /// `c₁ ≥ 1` (1.5 in the 2023 experiments).
        c1: T,
        /// `c₂ ≤ 1` (0.5 in the 2023 experiments).
        c2: T,
    },
    /// §6.4 Armijo backtracking line search.
    Armijo {
        /// Sufficient-decrease constant `c ∈ (0, 1)`.
        c: T,
        /// Backtracking factor in `(0, 1)`.
        shrink: T,
        /// First trial step; later trials start from twice the last accepted step.
        initial: T,
    },
}

impl<T: Real> StepRule<T> {
    /// Xu et al. with the constants of their experiments (`c₁ = 1.5`, `c₂ = 0.5`).
    pub fn xu2023() -> Self {
        Self::Xu2023 {
            c1: T::of(1.5),
            c2: T::of(0.5),
        }
    }

    /// Armijo with `c = 10⁻⁴`, halving, first trial 1.
    pub fn armijo() -> Self {
        Self::Armijo {
            c: T::of(1e-4),
            shrink: T::of(0.5),
            initial: T::one(),
        }
    }

    /// `true` when the rule needs `‖W₁W₂‖₂` at every step.
    pub fn needs_product_norm(&self) -> bool {
        matches!(self, Self::Xu2023 { .. })
    }
}

/// Why a rule gives no step for this problem or start (a value, not a panic).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RuleUnavailable {
    /// Arora et al.: the deficiency margin `c = σ_min(W*) − ‖W₁W₂ − W*‖` is not positive at the start.
    AroraMarginNotPositive,
    /// Du et al.: `W* = 0`, so the rule's scale is undefined.
    DuZeroTarget,
    /// Xu et al. (2023) is derived for the squared loss only.
    XuNeedsSquaredLoss,
    /// The rule's cubic has no positive root (`α = 0`).
    XuNoPositiveStep,
    /// Armijo found no step with sufficient decrease down to the smallest trial.
    ArmijoNoDecrease,
    /// The step the rule produced is zero, negative or not finite.
    InvalidStep,
}

impl core::fmt::Display for RuleUnavailable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::AroraMarginNotPositive => {
                "arora2019 does not apply: the deficiency margin sigma_min(W*) - ||W1 W2 - W*|| is not positive at the start"
            }
            Self::DuZeroTarget => "du2018 does not apply: W* = 0",
            Self::XuNeedsSquaredLoss => "xu2023 applies to the squared loss only",
            Self::XuNoPositiveStep => "xu2023 has no positive step (alpha = 0)",
            Self::ArmijoNoDecrease => "armijo found no step with sufficient decrease",
            Self::InvalidStep => "the step size is zero, negative or not finite",
        })
    }
}

/// What the rules may look at when choosing `η_t`.
#[derive(Clone, Copy, Debug)]
pub struct RuleContext<T> {
    /// Iteration `t` (0-based).
    pub t: usize,
    /// Local constants at `t` (THEORY §2).
    pub local: LocalConstants<T>,
    /// Global constants of `ℓ`.
    pub constants: LossConstants<T>,
    /// Which loss.
    pub loss_kind: LossKind,
    /// `L_t − L*`.
    pub gap: T,
    /// `L_t`.
    pub loss: T,
    /// `‖W₁W₂‖₂` when [`StepRule::needs_product_norm`], else 0.
    pub product_spec: T,
}

/// Facts about the start that some rules are defined by.
#[derive(Clone, Copy, Debug)]
pub struct StartInfo<T> {
    /// `‖W₁(0)W₂(0) − W*‖` (Frobenius).
    pub distance_to_target: T,
    /// Global constants of `ℓ` (including the norms of `W*`).
    pub constants: LossConstants<T>,
    /// Which loss.
    pub loss_kind: LossKind,
}

/// A rule bound to a problem and a start, with whatever it fixed there.
#[derive(Clone, Copy, Debug)]
pub struct PreparedRule<T> {
    rule: StepRule<T>,
    /// Step fixed at the start (Constant, Arora) or last accepted (Armijo).
    fixed: T,
}

fn valid<T: Real>(eta: T) -> Result<T, RuleUnavailable> {
    if eta > T::zero() && eta.finite() {
        Ok(eta)
    } else {
        Err(RuleUnavailable::InvalidStep)
    }
}

impl<T: Real> PreparedRule<T> {
    /// Binds `rule` to a start, or says why it does not apply.
    pub fn prepare(rule: StepRule<T>, start: &StartInfo<T>) -> Result<Self, RuleUnavailable> {
        let _ = start;
        let fixed = match rule {
            StepRule::Constant(eta) => valid(eta)?,
            _ => T::zero(),
        };
        Ok(Self { rule, fixed })
    }

    /// The rule this was prepared from.
    pub fn rule(&self) -> StepRule<T> {
        self.rule
    }

    /// The step `η_t`. `trial_loss(η)` evaluates `L(W₁ − ηA, W₂ − ηB)`
    /// (used by line searches only).
    pub fn step(
        &mut self,
        ctx: &RuleContext<T>,
        trial_loss: &mut dyn FnMut(T) -> T,
    ) -> Result<T, RuleUnavailable> {
        let _ = trial_loss;
        match self.rule {
            StepRule::Constant(_) => valid(self.fixed),
            StepRule::Local => valid(local_step(ctx.constants.k, &ctx.local)),
            _ => Err(RuleUnavailable::InvalidStep),
        }
    }
}
