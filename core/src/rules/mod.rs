//! Step-size rules (THEORY §6), one file a rule.
//!
//! Each rule is a type implementing [`Rule`] in its own module (a
//! validating constructor, what it fixes at the start, `η_t`, its own stall)
//! and is registered with one entry in the list at the end of this file,
//! which also makes it a variant of the [`StepRule`] front end (parse,
//! Display, defmt). A [`StepRule`] is bound to a problem and a start by
//! [`PreparedRule::prepare`], then asked for `η_t` at every iteration by
//! [`PreparedRule::step`]. Nothing here allocates or panics; a rule that
//! does not apply says so with a [`RuleUnavailable`].
//!
//! Rules see only model-agnostic inputs ([`RuleContext`], [`StartInfo`]):
//! the local constants `α_t, β_t, ‖G‖₂, g²`, the loss's `μ, K` and the gap,
//! never the weights, so a model other than the two-layer network can reuse
//! them by supplying those quantities.

use crate::certificate::{local_smoothness, LocalConstants};
use crate::loss::{LossConstants, LossKind};
use crate::scalar::Real;

#[macro_use]
mod registry;
mod cubic;

pub use rate_optimal::RATE_OPTIMAL_CAP;

/// A step-size rule (THEORY §6): one type in one file, registered in the
/// list at the end of this module.
///
/// Implementations never panic and never allocate; a rule that cannot give a
/// step says why with a [`RuleUnavailable`].
pub trait Rule<T: Real>: Copy + core::fmt::Debug {
    /// The name [`StepRule::parse`] accepts and [`core::fmt::Display`] writes.
    const NAME: &'static str;
    /// Further names [`StepRule::parse`] accepts.
    const ALIASES: &'static [&'static str] = &[];
    /// The parameters meant when the rule is written without any (`None`:
    /// they must be written).
    const DEFAULTS: Option<&'static [f64]>;
    /// `true` when [`RuleContext::product_spec`] must be computed for it.
    const NEEDS_PRODUCT_NORM: bool = false;

    /// The validating constructor from the rule's parameters in the order
    /// of its [`StepRule`] variant.
    fn from_params(params: &[T]) -> Result<Self, RuleUnavailable>;

    /// Fixes what the rule fixes at `t = 0`, or says why it does not apply
    /// to this problem or start.
    fn bind(&mut self, start: &StartInfo<T>) -> Result<(), RuleUnavailable> {
        let _ = start;
        Ok(())
    }

    /// The step `η_t` from the context and, where the rule needs more of
    /// the model, from `probe` (`K_t(η)`, or the loss after a trial step).
    fn step(
        &mut self,
        ctx: &RuleContext<T>,
        probe: &mut dyn Probe<T>,
    ) -> Result<T, RuleUnavailable>;

    /// `true` when the failure `why` of [`Self::step`] at `ctx` means the run
    /// has reached the precision floor (a stall) rather than that the rule
    /// does not apply.
    fn is_stall(&self, why: &RuleUnavailable, ctx: &RuleContext<T>) -> bool {
        let _ = (why, ctx);
        false
    }

    /// The step when the user fixed it and it is the same at every
    /// iteration of every problem (then a run's whole-run guarantee can be
    /// stated for exactly that step, THEORY §8.2).
    fn fixed_step(&self) -> Option<T> {
        None
    }
}

/// What a rule may ask of the model at the current iterate beyond the
/// numbers of [`RuleContext`]: the model's local smoothness and the loss
/// after a trial step. The two-layer trainer answers with THEORY §4's
/// `K_t(η)`; a deeper model answers with its own (THEORY §13).
pub trait Probe<T> {
    /// `K_t(η)`: the smoothness of the loss along the step `η` (Lemma 2,
    /// THEORY §4).
    fn smoothness(&mut self, eta: T) -> T;
    /// `L(W − η∇L)`, the loss after a step `η` from the current iterate,
    /// which is left unchanged (for line searches).
    fn trial_loss(&mut self, eta: T) -> T;
}

/// The two-layer answers (THEORY §4's `K_t(η)` from the context's local
/// constants) with the trial loss of a closure.
pub struct TwoLayerProbe<'a, T> {
    k: T,
    local: LocalConstants<T>,
    trial_loss: &'a mut dyn FnMut(T) -> T,
}

impl<'a, T: Real> TwoLayerProbe<'a, T> {
    /// The probe at `ctx`, with `trial_loss(η) = L(W₁ − ηA, W₂ − ηB)`.
    pub fn new(ctx: &RuleContext<T>, trial_loss: &'a mut dyn FnMut(T) -> T) -> Self {
        Self {
            k: ctx.constants.k,
            local: ctx.local,
            trial_loss,
        }
    }
}

impl<T: Real> Probe<T> for TwoLayerProbe<'_, T> {
    fn smoothness(&mut self, eta: T) -> T {
        local_smoothness(self.k, self.local.beta, self.local.grad_spec, eta)
    }

    fn trial_loss(&mut self, eta: T) -> T {
        (self.trial_loss)(eta)
    }
}

/// Why [`StepRule::parse`] rejected its input.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ParseRuleError {
    /// Not one of the rule names.
    UnknownRule,
    /// The rule got the wrong number of `:`-parameters.
    WrongArity,
    /// A parameter is not a number.
    BadNumber,
    /// A parameter is out of its range.
    Invalid(RuleUnavailable),
}

/// Writes a parameter name in upper case (`eta` → `ETA`).
fn write_upper(f: &mut core::fmt::Formatter<'_>, s: &str) -> core::fmt::Result {
    use core::fmt::Write;
    s.chars()
        .try_for_each(|c| f.write_char(c.to_ascii_uppercase()))
}

/// `name:P1,P2` (`name[:P1,P2]` when the parameters have defaults).
fn write_usage(
    f: &mut core::fmt::Formatter<'_>,
    (name, params, defaults): (&str, &[&str], bool),
    brackets: bool,
) -> core::fmt::Result {
    f.write_str(name)?;
    if params.is_empty() {
        return Ok(());
    }
    let optional = brackets && defaults;
    f.write_str(if optional { "[:" } else { ":" })?;
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write_upper(f, p)?;
    }
    f.write_str(if optional { "]" } else { "" })
}

impl core::fmt::Display for ParseRuleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnknownRule => {
                f.write_str("unknown step rule; expected ")?;
                let last = REGISTERED.len().saturating_sub(1);
                for (i, &entry) in REGISTERED.iter().enumerate() {
                    if i > 0 {
                        f.write_str(if i == last { " or " } else { ", " })?;
                    }
                    write_usage(f, entry, true)?;
                }
                Ok(())
            }
            Self::WrongArity => {
                f.write_str("wrong number of step-rule parameters: ")?;
                let with_params = REGISTERED.iter().filter(|(_, p, _)| !p.is_empty());
                for (i, &entry) in with_params.enumerate() {
                    let count = match entry.1.len() {
                        1 => "one",
                        2 => "two",
                        3 => "three",
                        _ => "four",
                    };
                    f.write_str(entry.0)?;
                    f.write_str(if i == 0 { " takes " } else { " " })?;
                    f.write_str(count)?;
                    f.write_str(" (")?;
                    write_usage(f, entry, false)?;
                    f.write_str("), ")?;
                }
                f.write_str("the others none")
            }
            Self::BadNumber => f.write_str("a step-rule parameter is not a number"),
            Self::Invalid(why) => write!(f, "{why}"),
        }
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
    /// A parameter of the rule itself is out of range (see [`StepRule::validate`]).
    InvalidParameter {
        /// Which parameter, and the range it must lie in.
        what: &'static str,
    },
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
            Self::InvalidParameter { what } => {
                return write!(f, "invalid step-rule parameter: {what}");
            }
        })
    }
}

impl core::error::Error for RuleUnavailable {}

/// What the rules may look at when choosing `η_t`: quantities any model
/// with the local PL inequality and descent lemma provides (THEORY §2–§4).
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
    bound: Bound<T>,
}

impl<T: Real> PreparedRule<T> {
    /// A stand-in until the real rule is prepared (the trainer's fields
    /// exist before the start's constants are computed).
    pub(crate) fn placeholder() -> Self {
        Self {
            rule: StepRule::Local,
            bound: Bound::Local(local::Local::default()),
        }
    }

    /// Binds `rule` to a start, or says why it does not apply: invalid
    /// parameters ([`StepRule::validate`]), or the rule's own conditions on
    /// the problem and start ([`Rule::bind`]).
    pub fn prepare(rule: StepRule<T>, start: &StartInfo<T>) -> Result<Self, RuleUnavailable> {
        Ok(Self {
            rule,
            bound: Bound::new(rule, start)?,
        })
    }

    /// The rule this was prepared from.
    pub fn rule(&self) -> StepRule<T> {
        self.rule
    }

    /// The step `η_t` of the two-layer model (THEORY §6, [`Rule::step`]).
    /// `trial_loss(η)` evaluates `L(W₁ − ηA, W₂ − ηB)` (used by line
    /// searches only).
    pub fn step(
        &mut self,
        ctx: &RuleContext<T>,
        trial_loss: &mut dyn FnMut(T) -> T,
    ) -> Result<T, RuleUnavailable> {
        self.bound
            .step(ctx, &mut TwoLayerProbe::new(ctx, trial_loss))
    }

    /// The step `η_t` with the model's own answers in `probe`.
    pub fn step_with(
        &mut self,
        ctx: &RuleContext<T>,
        probe: &mut dyn Probe<T>,
    ) -> Result<T, RuleUnavailable> {
        self.bound.step(ctx, probe)
    }

    /// Whether the failure `why` of [`Self::step`] is the rule's stall
    /// ([`Rule::is_stall`]).
    pub fn is_stall(&self, why: &RuleUnavailable, ctx: &RuleContext<T>) -> bool {
        self.bound.is_stall(why, ctx)
    }

    /// The step fixed by the user, if every step is that number
    /// ([`Rule::fixed_step`]).
    pub fn fixed_step(&self) -> Option<T> {
        self.bound.fixed_step()
    }
}

/// `eta` when it is a usable step (positive and finite).
fn valid<T: Real>(eta: T) -> Result<T, RuleUnavailable> {
    if eta > T::zero() && eta.finite() {
        Ok(eta)
    } else {
        Err(RuleUnavailable::InvalidStep)
    }
}

fn nonneg_finite<T: Real>(x: T) -> bool {
    x >= T::zero() && x.finite()
}

/// The error of a [`Rule::from_params`] given the wrong number of parameters.
fn arity_error(what: &'static str) -> RuleUnavailable {
    RuleUnavailable::InvalidParameter { what }
}

/// `head` is the rule's name or one of its aliases (ASCII case-insensitive).
fn names_match<T: Real, R: Rule<T>>(head: &str) -> bool {
    head.eq_ignore_ascii_case(R::NAME) || R::ALIASES.iter().any(|a| head.eq_ignore_ascii_case(a))
}

/// Most parameters a rule may take.
const MAX_PARAMS: usize = 4;

/// The `arity` parameters written after `name:` (or the rule's defaults
/// when none are written), in the first `arity` entries.
fn read_params<T: Real, R: Rule<T>>(
    args: Option<&str>,
    arity: usize,
) -> Result<[T; MAX_PARAMS], ParseRuleError> {
    let mut out = [T::zero(); MAX_PARAMS];
    let slots = out.get_mut(..arity).ok_or(ParseRuleError::WrongArity)?;
    match (args, R::DEFAULTS) {
        (Some(a), _) => numbers(a, slots)?,
        (None, Some(d)) if d.len() == arity => {
            for (slot, &x) in slots.iter_mut().zip(d) {
                *slot = T::of(x);
            }
        }
        (None, _) => return Err(ParseRuleError::WrongArity),
    }
    Ok(out)
}

fn next_param<T: Real>(values: &mut impl Iterator<Item = T>) -> T {
    values.next().unwrap_or_else(T::zero)
}

/// Exactly `out.len()` comma-separated numbers.
fn numbers<T: Real>(s: &str, out: &mut [T]) -> Result<(), ParseRuleError> {
    let mut parts = s.split(',');
    for slot in out.iter_mut() {
        let part = parts.next().ok_or(ParseRuleError::WrongArity)?;
        let x: f64 = part.trim().parse().map_err(|_| ParseRuleError::BadNumber)?;
        *slot = T::of(x);
    }
    if parts.next().is_some() {
        return Err(ParseRuleError::WrongArity);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A context and a start for the rules' unit tests.
    use super::*;
    use crate::linalg::MatrixNorms;

    /// `μ = 0.5`, `K = 2`, `W*` with `σ_min = 1`, `‖W*‖ = 2`, rank 2.
    pub fn constants() -> LossConstants<f64> {
        LossConstants {
            mu: 0.5,
            k: 2.0,
            l_star: 0.0,
            w_star: MatrixNorms {
                spectral: 1.5,
                frobenius: 2.0,
                sigma_min: 1.0,
                rank: 2,
            },
        }
    }

    /// `α = 0.25`, `β = 4`, `‖G‖₂ = 0.5`, `g² = 1`, gap 0.1, loss 0.1.
    pub fn ctx(t: usize) -> RuleContext<f64> {
        RuleContext {
            t,
            local: LocalConstants {
                alpha: 0.25,
                beta: 4.0,
                grad_spec: 0.5,
                grad_sq: 1.0,
            },
            constants: constants(),
            loss_kind: LossKind::Squared,
            gap: 0.1,
            loss: 0.1,
            product_spec: 1.5,
        }
    }

    /// A start at distance `distance` from `W*`.
    pub fn start(distance: f64, loss_kind: LossKind) -> StartInfo<f64> {
        StartInfo {
            distance_to_target: distance,
            constants: constants(),
            loss_kind,
        }
    }

    /// `rule.step` with the two-layer probe and `trial_loss`.
    pub fn step_at<R: Rule<f64>>(
        rule: &mut R,
        ctx: &RuleContext<f64>,
        trial_loss: &mut dyn FnMut(f64) -> f64,
    ) -> Result<f64, RuleUnavailable> {
        rule.step(ctx, &mut TwoLayerProbe::new(ctx, trial_loss))
    }

    /// A loss that no step decreases.
    pub fn flat(_: f64) -> f64 {
        1.0
    }
}

step_rules! {
    /// §6.2 `η_t = 1/(Kβ_t + ‖G_t‖₂)`, certified at every step.
    Local => local::Local,
    /// §6.3 `argmin_η ρ_t(η)` subject to `η K_t(η) ≤ 2 − 10⁻³`.
    RateOptimal => rate_optimal::RateOptimal,
    /// §6.1 a fixed step.
    Constant(eta: T) => constant::Constant,
    /// §6.4 Arora, Cohen, Golowich, Hu (2019), constant from the deficiency margin.
    Arora2019 => arora::Arora2019,
    /// §6.4 Du, Hu, Lee (2018), decaying.
    Du2018 => du::Du2018,
    /// §6.4 Xu et al. (2023), squared loss, with slack constants `c₁ ≥ 1 ≥ c₂`.
    Xu2023 {
        /// `c₁ ≥ 1` (1.5 in the 2023 experiments).
        c1,
        /// `c₂ ≤ 1` (0.5 in the 2023 experiments).
        c2,
    } => xu2023::Xu2023,
    /// §6.4 Armijo backtracking line search.
    Armijo {
        /// Sufficient-decrease constant `c ∈ (0, 1)`.
        c,
        /// Backtracking factor in `(0, 1)`.
        shrink,
        /// First trial step; later trials start from twice the last accepted step.
        initial,
    } => armijo::Armijo,
}

#[cfg(test)]
mod tests {
    extern crate alloc;
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn parse_errors_list_every_registered_rule() {
        assert_eq!(
            ParseRuleError::UnknownRule.to_string(),
            "unknown step rule; expected local, rate-optimal, constant:ETA, arora, du, \
             xu2023[:C1,C2] or armijo[:C,SHRINK,INITIAL]"
        );
        assert_eq!(
            ParseRuleError::WrongArity.to_string(),
            "wrong number of step-rule parameters: constant takes one (constant:ETA), \
             xu2023 two (xu2023:C1,C2), armijo three (armijo:C,SHRINK,INITIAL), \
             the others none"
        );
    }

    #[test]
    fn every_registered_rule_parses_its_own_display() {
        for entry in REGISTERED {
            let (name, params, defaults) = *entry;
            assert!(params.len() <= MAX_PARAMS, "{name}");
            let written = match (name, defaults) {
                ("constant", _) => "constant:0.125".to_string(),
                (_, true) => name.to_string(),
                (_, false) => panic!("{name} has parameters without defaults: add a case"),
            };
            let rule = StepRule::<f64>::parse(&written).unwrap();
            assert_eq!(rule.name(), name);
            assert_eq!(StepRule::<f64>::parse(&rule.to_string()), Ok(rule));
        }
    }
}
