//! Strongly convex, smooth losses `ℓ(W)` of the non-overparametrized model
//! (THEORY §1, §9).

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim, OMatrix};

use crate::error::ProblemError;
use crate::kernels;
use crate::linalg::MatrixNorms;
use crate::scalar::{abs, exp, sqrt, tanh, Real};

#[macro_use]
mod registry;

#[cfg(feature = "alloc")]
use registry::{check_columns, regression_data};
#[cfg(feature = "alloc")]
pub use registry::{Design, LossBuilder, Synthetic};

losses! {
    /// §9.1 `(1/2N)‖Y − XW‖²`.
    Squared = "squared" | "ls" | "least-squares" => squared::SquaredLoss,
    /// §9.2 `(1/2p) Σ (⟨A_k, W⟩ − y_k)²`.
    Sensing = "sensing" | "matrix-sensing" => sensing::MatrixSensing,
    /// §9.3 log-cosh with ridge on the residual.
    LogCosh = "logcosh" | "log-cosh" => logcosh::LogCoshRidge,
    /// §9.4 ridge-regularized softmax classification.
    Softmax = "softmax" => softmax::SoftmaxRidge,
}

/// The global constants of `ℓ` the analysis is built on (THEORY §1).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LossConstants<T> {
    /// Strong convexity `μ`.
    pub mu: T,
    /// Smoothness `K`.
    pub k: T,
    /// Minimum value `ℓ* = ℓ(W*)`.
    pub l_star: T,
    /// Norms of the minimizer `W*`.
    pub w_star: MatrixNorms<T>,
}

/// Loss value and gap to the minimum at one point.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Evaluation<T> {
    /// `ℓ(W)`.
    pub value: T,
    /// `ℓ(W) − ℓ*`, computed as accurately as the loss allows (for the
    /// quadratic losses directly from `W − W*`, without cancellation).
    pub gap: T,
}

/// A `μ`-strongly convex, `K`-smooth loss on `n×m` matrices (THEORY §1).
///
/// Implementations own their data and every scratch buffer, so evaluating
/// never allocates.
pub trait Loss<T: Real, N: Dim, M: Dim>
where
    DefaultAllocator: Allocator<N, M>,
{
    /// Which loss this is.
    fn kind(&self) -> LossKind;
    /// `μ, K, ℓ*` and the norms of `W*`.
    fn constants(&self) -> &LossConstants<T>;
    /// The unique minimizer `W*`.
    fn minimizer(&self) -> &OMatrix<T, N, M>;
    /// `ℓ(W)` and the gap.
    fn evaluate(&mut self, w: &OMatrix<T, N, M>) -> Evaluation<T>;
    /// `ℓ(W)`, the gap, and `∇ℓ(W)` written into `grad`.
    fn evaluate_with_gradient(
        &mut self,
        w: &OMatrix<T, N, M>,
        grad: &mut OMatrix<T, N, M>,
    ) -> Evaluation<T>;
    /// How this loss computes its gap and gradient, as bounds on their
    /// rounding errors (THEORY §11, docs/ROUNDING.md R2): the terms of the
    /// step check's allowance that come from the loss. A loss that computes
    /// its gap as `ℓ(W) − ℓ*` by subtraction has a `|ℓ*|` term
    /// ([`RoundingModel::gap_offset`]); one that computes it without
    /// cancellation has none. Wrappers must pass their inner loss's model on.
    fn rounding(&self) -> &RoundingModel<T>;
    /// Bound on `|ĝ − g|`, the rounding error of a computed gap `ĝ = gap`
    /// (docs/ROUNDING.md R2), from [`Loss::rounding`].
    fn gap_error(&self, gap: T) -> T {
        self.rounding().gap_error(gap)
    }
    /// Bound on `‖Ĝ − ∇ℓ(W)‖_F` for a computed gradient of norm `grad_norm`
    /// at a point of computed gap `gap` (docs/ROUNDING.md R2), from
    /// [`Loss::rounding`].
    fn gradient_error(&self, grad_norm: T, gap: T) -> T {
        self.rounding().gradient_error(grad_norm, gap)
    }
}

/// A loss's rounding model (THEORY §11; derived per loss in
/// docs/ROUNDING.md R2). With `ε = ε_mach`, the computed gap `ĝ` of a point
/// and its computed gradient `Ĝ` satisfy
///
/// `|ĝ − g| ≤ ε (gap_relative·ĝ + gap_cross·√ĝ + [ĝ ≥ offset_from]·gap_offset)`,
/// `‖Ĝ − ∇ℓ‖ ≤ ε (grad_relative·‖Ĝ‖ + grad_cross·√ĝ + grad_offset)`.
///
/// Each coefficient is homogeneous in the problem's scale (`gap_cross` is in
/// units of `√ℓ`, `gap_offset` of `ℓ`, `grad_cross` of `∇ℓ/√ℓ`,
/// `grad_offset` of `∇ℓ`), so the bounds
/// scale with the loss; none is an absolute constant.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RoundingModel<T> {
    /// Relative error of the gap, in units of `ε`.
    pub gap_relative: T,
    /// First-order terms that cancel in the exact gap but not in their
    /// rounding (the gap summed term by term): coefficient of `ε√ĝ`.
    pub gap_cross: T,
    /// The part of the gap computed by subtraction of two loss values:
    /// coefficient of `ε` (a multiple of `|ℓ*|`); 0 for a cancellation-free gap.
    pub gap_offset: T,
    /// Gaps from which [`Self::gap_offset`] applies (the subtraction is
    /// only used far from `W*`); 0 when it always applies.
    pub offset_from: T,
    /// Relative error of the gradient, in units of `ε`.
    pub grad_relative: T,
    /// Error of the gradient that shrinks with the distance to `W*`,
    /// measured through the gap (`‖W − W*‖ ≤ √(2ĝ/μ)`): coefficient of `ε√ĝ`.
    pub grad_cross: T,
    /// Error of the gradient that does not vanish with it (rounding of
    /// per-sample terms that cancel at `W*`): coefficient of `ε`.
    pub grad_offset: T,
}

impl<T: Real> RoundingModel<T> {
    /// The gap's rounding error bound at computed gap `gap` (see the type).
    pub fn gap_error(&self, gap: T) -> T {
        let g = if gap > T::zero() { gap } else { T::zero() };
        let offset = if g >= self.offset_from {
            self.gap_offset
        } else {
            T::zero()
        };
        T::EPSILON * (self.gap_relative * g + self.gap_cross * sqrt(g) + offset)
    }

    /// The gradient's rounding error bound at computed norm `grad_norm` and
    /// computed gap `gap`.
    pub fn gradient_error(&self, grad_norm: T, gap: T) -> T {
        let g = if gap > T::zero() { gap } else { T::zero() };
        T::EPSILON
            * (self.grad_relative * abs(grad_norm) + self.grad_cross * sqrt(g) + self.grad_offset)
    }
}

/// `DOT_UNITS·√k` ([`crate::certificate::DOT_UNITS`]): units of `ε` of an
/// inner product of length `k` (docs/ROUNDING.md R1).
pub(crate) fn dot_units<T: Real>(k: usize) -> T {
    T::of(crate::certificate::DOT_UNITS) * sqrt(T::of_usize(k.max(1)))
}

/// `√x` of a non-negative count.
pub(crate) fn sqrt_usize<T: Real>(k: usize) -> T {
    sqrt(T::of_usize(k))
}

/// Rejects constants that overflowed the working precision (e.g. targets so
/// large that `ℓ* = ‖XW* − Y‖²/2N` is infinite): the analysis needs
/// `0 < μ ≤ K < ∞`, a finite `ℓ*` and finite norms of `W*` (THEORY §1). A
/// loss is only returned when this holds, so a run never starts from
/// constants that make every certificate NaN.
pub(crate) fn check_constants<T: Real>(c: &LossConstants<T>) -> Result<(), ProblemError> {
    let ok = c.mu > T::zero()
        && c.k >= c.mu
        && c.k.finite()
        && c.l_star.finite()
        && c.w_star.spectral.finite()
        && c.w_star.frobenius.finite();
    if ok {
        Ok(())
    } else {
        Err(ProblemError::InvalidParameter {
            what: "the data overflow the working precision (mu, K, L* or ||W*|| is not finite); \
                   rescale X and Y or use f64",
        })
    }
}

/// Consecutive gradient evaluations without a new smallest `‖∇ℓ‖` after
/// which [`minimize_gd`] decides it has reached the rounding floor.
const STALL_WINDOW: usize = 64;

/// Hard cap on the iterations of [`minimize_gd`], whatever `κ = K/μ`.
const MAX_SOLVER_ITERS: usize = 4_000_000;

/// The convex solve for `W*` of the losses without a closed form
/// (THEORY §9.3, §9.4): gradient descent on `ℓ` itself with step `1/K`.
///
/// With step `1/K` the gradient contracts at every step,
/// `∇ℓ(W⁺) = (I − H̄/K)∇ℓ(W)` with `H̄` the mean Hessian on the segment and
/// `μ I ⪯ H̄ ⪯ K I` (THEORY §1), so `‖∇ℓ‖` decreases by at least the factor
/// `1 − μ/K` per step in exact arithmetic. In floating point it stops
/// decreasing at the rounding floor of the gradient; the solver stops when
/// no new smallest `‖∇ℓ‖` has been seen for [`STALL_WINDOW`] steps (or
/// `∇ℓ = 0` exactly) and returns the iterate with the smallest gradient.
///
/// `w` holds the start on entry and the minimizer on success. `gradient`
/// writes `∇ℓ(W)` into its second argument. Returns the number of gradient
/// steps taken.
///
/// Fails with [`ProblemError::SolverFailed`] when a gradient is not finite,
/// when the iteration cap `κ·(ln(1/ε) + 10) + 1000` (at most
/// [`MAX_SOLVER_ITERS`]) is reached before the floor — the exact-arithmetic
/// rate needs `κ·ln(1/ε)` steps to gain the full precision — or when the
/// floor lies above `√ε·‖∇ℓ(W₀)‖`, i.e. the problem is too ill-conditioned
/// for the working precision; with [`ProblemError::Cancelled`] on an
/// interrupt ([`crate::cancel`]).
pub(crate) fn minimize_gd<T: Real, N: Dim, M: Dim>(
    mu: T,
    k: T,
    w: &mut OMatrix<T, N, M>,
    what: &'static str,
    mut gradient: impl FnMut(&OMatrix<T, N, M>, &mut OMatrix<T, N, M>),
) -> Result<usize, ProblemError>
where
    DefaultAllocator: Allocator<N, M>,
{
    let failed = Err(ProblemError::SolverFailed { what });
    if !(mu > T::zero() && k >= mu && k.finite()) {
        return failed;
    }
    let (nd, md) = w.shape_generic();
    let mut g = OMatrix::<T, N, M>::zeros_generic(nd, md);
    let mut best = w.clone();
    gradient(w, &mut g);
    let g0 = sqrt(kernels::sum_sq(g.as_slice()));
    if !g0.finite() {
        return failed;
    }
    let kappa = (k / mu).to_f64();
    let digits = -libm::log(T::EPSILON.to_f64()) + 10.0;
    let cap_f = kappa * digits + 1000.0;
    let cap = if cap_f < MAX_SOLVER_ITERS as f64 {
        cap_f as usize
    } else {
        MAX_SOLVER_ITERS
    };
    let step = -(T::one() / k);
    let mut best_norm = g0;
    let mut since_best = 0;
    let mut iters = 0;
    let mut floor_reached = g0 == T::zero();
    while !floor_reached && iters < cap {
        if crate::cancel::requested() {
            return Err(ProblemError::Cancelled);
        }
        kernels::axpy(w.as_mut_slice(), step, g.as_slice());
        gradient(w, &mut g);
        iters += 1;
        let norm = sqrt(kernels::sum_sq(g.as_slice()));
        if !norm.finite() {
            return failed;
        }
        if norm < best_norm {
            best_norm = norm;
            best.copy_from(w);
            since_best = 0;
            floor_reached = norm == T::zero();
        } else {
            since_best += 1;
            floor_reached = since_best >= STALL_WINDOW;
        }
    }
    if !floor_reached || best_norm > sqrt(T::EPSILON) * g0 {
        return failed;
    }
    w.copy_from(&best);
    Ok(iters)
}

/// `eˣ − 1` without cancellation for small `x`, through `tanh`
/// (`eˣ − 1 = 2t/(1 − t)` with `t = tanh(x/2)`), since [`crate::scalar`]
/// has no `expm1`. Relative error a few ulps. Used by the cancellation-free
/// gap of the softmax loss (THEORY §9.4, §11).
pub(crate) fn expm1<T: Real>(x: T) -> T {
    if abs(x) < T::of(0.5) {
        let t = tanh(x * T::of(0.5));
        (t + t) / (T::one() - t)
    } else {
        exp(x) - T::one()
    }
}

/// `x` if it is not negative, else 0; NaN is kept (so that a diverged
/// evaluation stays visible). The gaps of the non-quadratic losses are
/// sums whose exact value is `≥ 0` but whose rounding may dip below.
pub(crate) fn clamp_gap<T: Real>(x: T) -> T {
    if x < T::zero() {
        T::zero()
    } else {
        x
    }
}
