//! Step-size rules (THEORY §6).
//!
//! A [`StepRule`] is bound to a problem and a start by
//! [`PreparedRule::prepare`] (which validates its parameters and fixes what
//! the rule fixes at `t = 0`), then asked for `η_t` at every iteration by
//! [`PreparedRule::step`]. Nothing here allocates or panics; a rule that does
//! not apply says so with a [`RuleUnavailable`].

use crate::certificate::{local_smoothness, local_step, LocalConstants, StepCertificate};
use crate::loss::{LossConstants, LossKind};
use crate::scalar::{abs, pos, sqrt, Real};

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

/// The bound `η K_t(η) ≤ 2 − 10⁻³` RateOptimal respects (THEORY §6.3).
pub const RATE_OPTIMAL_CAP: f64 = 2.0 - 1e-3;

/// Newton iterations of the cubic solvers (they converge in a handful;
/// the cap only bounds the work).
const CUBIC_ITERS: usize = 64;

/// Armijo: backtracking stops once the trial is `2⁻⁶⁰` times the first one
/// (60 halvings' worth of reduction), and after at most this many trials.
const ARMIJO_MAX_TRIALS: usize = 1024;

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

    /// Short name: `local`, `rate-optimal`, `constant`, `arora`, `du`,
    /// `xu2023` or `armijo` (the names [`Self::parse`] accepts).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Constant(_) => "constant",
            Self::Local => "local",
            Self::RateOptimal => "rate-optimal",
            Self::Arora2019 => "arora",
            Self::Du2018 => "du",
            Self::Xu2023 { .. } => "xu2023",
            Self::Armijo { .. } => "armijo",
        }
    }

    /// Checks the rule's own parameters (THEORY §6): a constant step must be
    /// positive and finite, Xu's `c₁ ≥ 1` and `c₂ ∈ (0, 1]`, Armijo's
    /// `c ∈ (0, 1)`, `shrink ∈ (0, 1)` and `initial > 0`, all finite.
    pub fn validate(&self) -> Result<(), RuleUnavailable> {
        let fail = |what| Err(RuleUnavailable::InvalidParameter { what });
        let one = T::one();
        match *self {
            Self::Constant(eta) if !(eta > T::zero() && eta.finite()) => {
                fail("the constant step must be positive and finite")
            }
            Self::Xu2023 { c1, .. } if !(c1 >= one && c1.finite()) => {
                fail("xu2023 needs c1 >= 1 (finite)")
            }
            Self::Xu2023 { c2, .. } if !(c2 > T::zero() && c2 <= one) => {
                fail("xu2023 needs c2 in (0, 1]")
            }
            Self::Armijo { c, .. } if !(c > T::zero() && c < one) => {
                fail("armijo needs its sufficient-decrease constant c in (0, 1)")
            }
            Self::Armijo { shrink, .. } if !(shrink > T::zero() && shrink < one) => {
                fail("armijo needs its backtracking factor shrink in (0, 1)")
            }
            Self::Armijo { initial, .. } if !(initial > T::zero() && initial.finite()) => {
                fail("armijo needs a positive, finite first trial step")
            }
            _ => Ok(()),
        }
    }

    /// Parses `local | rate-optimal | constant:ETA | arora | du |
    /// xu2023[:C1,C2] | armijo[:C,SHRINK,INITIAL]` (ASCII case-insensitive;
    /// `arora2019`, `du2018`, `xu` are accepted too). Parameters are
    /// validated as by [`Self::validate`]. The inverse of the
    /// [`core::fmt::Display`] of a rule.
    pub fn parse(s: &str) -> Result<Self, ParseRuleError> {
        let s = s.trim();
        let (head, args) = match s.split_once(':') {
            Some((h, a)) => (h.trim(), Some(a)),
            None => (s, None),
        };
        let is = |name: &str| head.eq_ignore_ascii_case(name);
        let rule = if is("local") {
            no_args(args, Self::Local)?
        } else if is("rate-optimal") || is("rate_optimal") || is("rateoptimal") {
            no_args(args, Self::RateOptimal)?
        } else if is("arora") || is("arora2019") {
            no_args(args, Self::Arora2019)?
        } else if is("du") || is("du2018") {
            no_args(args, Self::Du2018)?
        } else if is("constant") {
            let [eta] = numbers::<T, 1>(args.ok_or(ParseRuleError::WrongArity)?)?;
            Self::Constant(eta)
        } else if is("xu2023") || is("xu") {
            match args {
                None => Self::xu2023(),
                Some(a) => {
                    let [c1, c2] = numbers::<T, 2>(a)?;
                    Self::Xu2023 { c1, c2 }
                }
            }
        } else if is("armijo") {
            match args {
                None => Self::armijo(),
                Some(a) => {
                    let [c, shrink, initial] = numbers::<T, 3>(a)?;
                    Self::Armijo { c, shrink, initial }
                }
            }
        } else {
            return Err(ParseRuleError::UnknownRule);
        };
        rule.validate().map_err(ParseRuleError::Invalid)?;
        Ok(rule)
    }
}

fn no_args<R>(args: Option<&str>, rule: R) -> Result<R, ParseRuleError> {
    match args {
        None => Ok(rule),
        Some(_) => Err(ParseRuleError::WrongArity),
    }
}

/// Exactly `K` comma-separated numbers.
fn numbers<T: Real, const K: usize>(s: &str) -> Result<[T; K], ParseRuleError> {
    let mut out = [T::zero(); K];
    let mut parts = s.split(',');
    for slot in out.iter_mut() {
        let part = parts.next().ok_or(ParseRuleError::WrongArity)?;
        let x: f64 = part.trim().parse().map_err(|_| ParseRuleError::BadNumber)?;
        *slot = T::of(x);
    }
    if parts.next().is_some() {
        return Err(ParseRuleError::WrongArity);
    }
    Ok(out)
}

/// A rule written so that [`StepRule::parse`] reads it back:
/// `constant:0.01`, `xu2023:1.5,0.5`, `armijo:0.0001,0.5,1`, or the bare name.
impl<T: Real> core::fmt::Display for StepRule<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Constant(eta) => write!(f, "constant:{eta}"),
            Self::Xu2023 { c1, c2 } => write!(f, "xu2023:{c1},{c2}"),
            Self::Armijo { c, shrink, initial } => write!(f, "armijo:{c},{shrink},{initial}"),
            other => f.write_str(other.name()),
        }
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

impl core::fmt::Display for ParseRuleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnknownRule => f.write_str(
                "unknown step rule; expected local, rate-optimal, constant:ETA, arora, du, \
                 xu2023[:C1,C2] or armijo[:C,SHRINK,INITIAL]",
            ),
            Self::WrongArity => f.write_str(
                "wrong number of step-rule parameters: constant takes one (constant:ETA), \
                 xu2023 two (xu2023:C1,C2), armijo three (armijo:C,SHRINK,INITIAL), \
                 the others none",
            ),
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
    /// Step fixed at the start (Constant, Arora), the scale `η₀` of Du's
    /// `η₀/(t+1)`, or the last accepted step (Armijo; 0 before the first).
    fixed: T,
}

impl<T: Real> PreparedRule<T> {
    /// A stand-in until the real rule is prepared (the trainer's fields
    /// exist before the start's constants are computed).
    pub(crate) fn placeholder() -> Self {
        Self {
            rule: StepRule::Local,
            fixed: T::zero(),
        }
    }
}

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

/// The root in `(0, 1]` of `h(x) = c₃x³ + c₂x² + x − 1` for `c₂, c₃ ≥ 0`
/// (`h(0) = −1`, `h(1) = c₂ + c₃ ≥ 0`). `h` is convex and increasing on
/// `x ≥ 0` with `h' ≥ 1`, so Newton from `x = 1` decreases monotonically to
/// the root; a bisection safeguard keeps it in the bracket under rounding.
/// At most [`CUBIC_ITERS`] iterations, deterministic. `None` when a
/// coefficient is negative or not finite.
fn unit_cubic_root<T: Real>(c2: T, c3: T) -> Option<T> {
    if !(nonneg_finite(c2) && nonneg_finite(c3)) {
        return None;
    }
    let one = T::one();
    let (mut lo, mut hi) = (T::zero(), one);
    let mut x = one;
    for _ in 0..CUBIC_ITERS {
        let hx = ((c3 * x + c2) * x + one) * x - one;
        if hx > T::zero() {
            hi = x;
        } else if hx < T::zero() {
            lo = x;
        } else {
            return Some(x);
        }
        let dh = (T::of(3.0) * c3 * x + c2 + c2) * x + one;
        let newton = x - hx / dh;
        let next = if newton > lo && newton < hi {
            newton
        } else {
            T::of(0.5) * (lo + hi)
        };
        let moved = abs(next - x);
        x = next;
        if moved <= T::of(2.0) * T::EPSILON * x {
            break;
        }
    }
    Some(x)
}

/// RateOptimal (THEORY §6.3). With `a = Kβ_t`, `s = ‖G_t‖₂`, write
/// `ρ_t(η) = 1 − μ_t φ(η)`, `φ(η) = η(2 − ηK_t(η))`. `φ` is concave
/// (`ηK_t(η)` is convex and increasing), and `φ'(η) = 0` reads
/// `aη(1 + sη)(1 + sη/2) + sη = 1`; in `x = η(a + s)`, `u = s/(a + s)`:
/// `x − 1 + u(1−u)x²(3/2 + ux/2) = 0`, a cubic with its root in `[½, 1]`.
/// So the minimizer of `ρ_t` does not depend on `μ_t`, lies at or below the
/// Local step `1/(a+s)` (equal when `s = 0`), and has `ηK_t(η) ≤ 1`: with
/// `f(η) = ηK_t(η)` the root has `f + ηf' = 2`, and `ηf' ≥ f` because
/// `f/η = K_t` is increasing. So the cap `2 − 10⁻³` never binds; it is
/// still checked.
/// When `α_t = 0` (`μ_t = 0`), `ρ_t ≡ 1` and the same `η` is taken: it
/// maximizes Lemma 2's guaranteed decrease `g² φ(η)/2`. The result is then
/// compared with the Local step in `ρ_t` (in `φ` when `μ_t = 0`) and the
/// better one is returned, so RateOptimal is never worse than Local even
/// under rounding.
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

/// Xu et al. (2023) (THEORY §6.4): the positive root of `dρ/dη = 0` for
/// `ρ(η) = 1 − 2μc₂αη + μη²[a + K(b + ηq)²]`, `a = √(8KL)p₂`, `b = c₁β`,
/// `q = √(2KL)p₂`, `L = [L_t − L*]₊`, `p₂ = ‖W₁W₂‖₂`:
/// `dρ/dη / μ = −2c₂α + (2a + 2Kb²)η + 6Kbqη² + 4Kq²η³`. All coefficients
/// but the constant are non-negative, so the root is unique and below
/// `η₁ = c₂α/(a + Kb²)`; in `x = η/η₁` it is the root in `(0, 1]` of
/// `c₃x³ + c₂'x² + x − 1` with `c₂' = 3Kbqη₁/(a + Kb²)`,
/// `c₃ = 2Kq²η₁²/(a + Kb²)`.
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

impl<T: Real> PreparedRule<T> {
    /// Binds `rule` to a start, or says why it does not apply: invalid
    /// parameters ([`StepRule::validate`]), Arora's margin (THEORY §6.4:
    /// `η = c³/(49152‖W*‖⁴)`, `c = [σ_min(W*) − ‖W₁W₂ − W*‖]₊`, Frobenius
    /// `‖W*‖`), Du's zero target, Xu's squared-loss restriction.
    pub fn prepare(rule: StepRule<T>, start: &StartInfo<T>) -> Result<Self, RuleUnavailable> {
        rule.validate()?;
        let ws = start.constants.w_star;
        let fixed = match rule {
            StepRule::Constant(eta) => valid(eta)?,
            StepRule::Arora2019 => {
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
                valid(r * r * r / (T::of(49152.0) * ws.frobenius))?
            }
            StepRule::Du2018 => {
                // √(ε/r)/(100‖W*‖^{3/2}) with ε = ‖W*‖/2 is 1/(100‖W*‖√(2r)).
                if !ws.frobenius.finite() {
                    return Err(RuleUnavailable::InvalidStep);
                }
                if !(ws.frobenius > T::zero()) || ws.rank == 0 {
                    return Err(RuleUnavailable::DuZeroTarget);
                }
                let two_r = T::of_usize(2 * ws.rank);
                valid(T::one() / (T::of(100.0) * ws.frobenius * sqrt(two_r)))?
            }
            StepRule::Xu2023 { .. } => {
                if start.loss_kind != LossKind::Squared {
                    return Err(RuleUnavailable::XuNeedsSquaredLoss);
                }
                T::zero()
            }
            StepRule::Local | StepRule::RateOptimal | StepRule::Armijo { .. } => T::zero(),
        };
        Ok(Self { rule, fixed })
    }

    /// The rule this was prepared from.
    pub fn rule(&self) -> StepRule<T> {
        self.rule
    }

    /// The step `η_t` (THEORY §6). `trial_loss(η)` evaluates
    /// `L(W₁ − ηA, W₂ − ηB)` (used by the line search only).
    ///
    /// Armijo: the first trial is `initial` at the first call and twice the
    /// last accepted step afterwards; it is multiplied by `shrink` until
    /// `trial_loss(η) ≤ L_t − c η g²`, for at most the reduction of 60
    /// halvings (and at most 1024 trials), else
    /// [`RuleUnavailable::ArmijoNoDecrease`].
    pub fn step(
        &mut self,
        ctx: &RuleContext<T>,
        trial_loss: &mut dyn FnMut(T) -> T,
    ) -> Result<T, RuleUnavailable> {
        match self.rule {
            StepRule::Constant(_) | StepRule::Arora2019 => valid(self.fixed),
            StepRule::Local => valid(local_step(ctx.constants.k, &ctx.local)),
            StepRule::RateOptimal => rate_optimal_step(ctx),
            StepRule::Du2018 => valid(self.fixed / T::of_usize(ctx.t.saturating_add(1))),
            StepRule::Xu2023 { c1, c2 } => xu2023_step(ctx, c1, c2),
            StepRule::Armijo { c, shrink, initial } => {
                let g2 = ctx.local.grad_sq;
                if !(nonneg_finite(g2) && ctx.loss.finite()) {
                    return Err(RuleUnavailable::InvalidStep);
                }
                let doubled = self.fixed + self.fixed;
                let first = if self.fixed > T::zero() && doubled.finite() {
                    doubled
                } else if self.fixed > T::zero() {
                    self.fixed
                } else {
                    initial
                };
                // 2⁻⁶⁰
                let smallest = first * T::of(1.0 / 1_152_921_504_606_846_976.0);
                let mut eta = first;
                for _ in 0..ARMIJO_MAX_TRIALS {
                    if !(eta >= smallest && eta > T::zero()) {
                        break;
                    }
                    if trial_loss(eta) <= ctx.loss - c * eta * g2 {
                        self.fixed = eta;
                        return Ok(eta);
                    }
                    eta *= shrink;
                }
                Err(RuleUnavailable::ArmijoNoDecrease)
            }
        }
    }
}

impl core::error::Error for RuleUnavailable {}
