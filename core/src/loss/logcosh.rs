//! Robust regression: log-cosh with ridge on the residual (THEORY §9.3).

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim, OMatrix};

use super::squared::regression_data;
use super::{
    clamp_gap, dot_units, minimize_gd, sqrt_usize, Evaluation, Loss, LossConstants, LossKind,
    RoundingModel,
};
use crate::error::ProblemError;
use crate::kernels;
use crate::linalg::matrix_norms;
use crate::scalar::{abs, ln_1p, log_cosh, sqrt, tanh, Real};

/// `ℓ(W) = (1/N) Σ_ij [log cosh(r_ij) + (γ/2) r_ij²]` with `r = XW − Y`,
/// data `X` (N×n, full column rank), targets `Y` (N×m), `γ > 0`
/// (THEORY §9.3).
///
/// `∇ℓ(W) = Xᵀ(tanh(r) + γ r)/N`. The second derivative of the scalar
/// function lies in `[γ, 1 + γ]`, so `μ = γ σ_min(X)²/N` and
/// `K = (1 + γ) σ_max(X)²/N`. `W*` comes from gradient descent on `ℓ`
/// itself with step `1/K`, run to machine precision.
///
/// Sums are compensated, and the gap `ℓ(W) − ℓ*` is summed term by term
/// from `r* = XW* − Y` and `e = X(W − W*)` (computed from `W − W*`, not as
/// the difference of two rounded residuals) with a cancellation-free
/// formula for `log cosh(r* + e) − log cosh(r*)`, so it stays accurate near
/// the minimum (THEORY §11) instead of being a difference of two rounded
/// totals.
#[derive(Clone, Debug)]
pub struct LogCoshRidge<T: Real, S: Dim, N: Dim, M: Dim>
where
    DefaultAllocator: Allocator<S, N> + Allocator<S, M> + Allocator<N, M>,
{
    x: OMatrix<T, S, N>,
    y: OMatrix<T, S, M>,
    gamma: T,
    w_star: OMatrix<T, N, M>,
    /// `XW* − Y`.
    resid_star: OMatrix<T, S, M>,
    /// `XW − Y`, then `tanh(r) + γ r`.
    resid: OMatrix<T, S, M>,
    /// `W − W*`.
    dw: OMatrix<T, N, M>,
    /// `X(W − W*)`.
    dr: OMatrix<T, S, M>,
    constants: LossConstants<T>,
    rounding: RoundingModel<T>,
    solver_iters: usize,
}

/// `log cosh(b + e) − log cosh(b)` without cancellation when `e` is small
/// (THEORY §9.3, §11). With `t = tanh(e/2)`,
/// `cosh(b + e)/cosh(b) = cosh e + tanh(b) sinh e = 1 + 2t(t + tanh b)/(1 − t²)`,
/// whose logarithm is taken by `ln_1p`; every factor has a small relative
/// error. For `|e| > 2` the plain difference is as accurate.
fn log_cosh_step<T: Real>(b: T, e: T) -> T {
    if abs(e) <= T::of(2.0) {
        let t = tanh(e * T::of(0.5));
        let tb = tanh(b);
        ln_1p((t + t) * (t + tb) / ((T::one() - t) * (T::one() + t)))
    } else {
        log_cosh(b + e) - log_cosh(b)
    }
}

impl<T: Real, S: Dim, N: Dim, M: Dim> LogCoshRidge<T, S, N, M>
where
    DefaultAllocator: Allocator<S, N>
        + Allocator<S, M>
        + Allocator<N, M>
        + Allocator<N, N>
        + Allocator<N>
        + Allocator<M, M>
        + Allocator<M>,
{
    /// Builds the loss and solves for `W*` (THEORY §9.3).
    ///
    /// Errors: a zero size ([`ProblemError::ZeroSize`]); `Y` with another
    /// number of rows than `X` ([`ProblemError::ShapeMismatch`]); a NaN or
    /// infinite entry ([`ProblemError::NonFinite`]); `X` without full
    /// column rank ([`ProblemError::RankDeficient`]); `γ` not positive and
    /// finite ([`ProblemError::InvalidParameter`]); the solve for `W*` not
    /// reaching machine precision ([`ProblemError::SolverFailed`]).
    pub fn new(x: OMatrix<T, S, N>, y: OMatrix<T, S, M>, gamma: T) -> Result<Self, ProblemError> {
        let samples = x.nrows();
        let (lmin, lmax) = regression_data(&x, &y)?;
        if !(gamma > T::zero() && gamma.finite()) {
            return Err(ProblemError::InvalidParameter {
                what: "gamma (log-cosh ridge weight) must be positive and finite",
            });
        }
        let (sd, nd) = x.shape_generic();
        let (_, md) = y.shape_generic();
        let inv_n = T::one() / T::of_usize(samples);
        let mu = gamma * lmin * inv_n;
        let k = (T::one() + gamma) * lmax * inv_n;
        let mut this = Self {
            x,
            y,
            gamma,
            w_star: OMatrix::<T, N, M>::zeros_generic(nd, md),
            resid_star: OMatrix::<T, S, M>::zeros_generic(sd, md),
            resid: OMatrix::<T, S, M>::zeros_generic(sd, md),
            dw: OMatrix::<T, N, M>::zeros_generic(nd, md),
            dr: OMatrix::<T, S, M>::zeros_generic(sd, md),
            constants: LossConstants {
                mu,
                k,
                l_star: T::zero(),
                w_star: Default::default(),
            },
            rounding: RoundingModel::default(),
            solver_iters: 0,
        };
        let mut w = OMatrix::<T, N, M>::zeros_generic(nd, md);
        this.solver_iters =
            minimize_gd(mu, k, &mut w, "log-cosh W* (gradient descent)", |w, g| {
                this.gradient(w, g)
            })?;
        this.set_residual(&w);
        this.resid_star.copy_from(&this.resid);
        this.constants.l_star = this.value();
        this.constants.w_star = matrix_norms(&w);
        this.w_star = w;
        this.rounding = this.rounding_model(lmin, lmax);
        super::check_constants(&this.constants)?;
        Ok(this)
    }
}

impl<T: Real, S: Dim, N: Dim, M: Dim> LogCoshRidge<T, S, N, M>
where
    DefaultAllocator: Allocator<S, N> + Allocator<S, M> + Allocator<N, M>,
{
    /// The data matrix `X`.
    pub fn x(&self) -> &OMatrix<T, S, N> {
        &self.x
    }

    /// The targets `Y`.
    pub fn y(&self) -> &OMatrix<T, S, M> {
        &self.y
    }

    /// The ridge weight `γ`.
    pub fn gamma(&self) -> T {
        self.gamma
    }

    /// Gradient steps the solve for `W*` took.
    pub fn solver_iterations(&self) -> usize {
        self.solver_iters
    }

    /// The rounding model of docs/ROUNDING.md R2.2 from `r* = XW* − Y`
    /// (in `resid_star`) and the extreme eigenvalues of `XᵀX`.
    fn rounding_model(&self, lmin: T, lmax: T) -> RoundingModel<T> {
        let (samples, n) = self.x.shape();
        let gamma = self.gamma;
        let one = T::one();
        let inv_n = one / T::of_usize(samples);
        let kx = sqrt(lmax / lmin);
        let smax = sqrt(lmax);
        // R₁ = rms of |tanh r*| + (1 + 2γ)|r*| (the first-order coefficients
        // of a term and of its rounding) and Ψ = rms of ψ(r*) = tanh r* + γr*,
        // both per sample (sums over the N×m entries divided by N).
        let r1 = sqrt(
            kernels::compensated_sum(self.resid_star.iter().map(|&r| {
                let t = abs(tanh(r)) + (one + gamma + gamma) * abs(r);
                t * t
            })) * inv_n,
        );
        let psi_sq = kernels::compensated_sum(self.resid_star.iter().map(|&r| {
            let t = tanh(r) + gamma * r;
            t * t
        }));
        let psi = sqrt(psi_sq * inv_n);
        let e_rel = dot_units::<T>(n) * sqrt_usize::<T>(n) + T::of(0.5);
        let two_over_gamma = (one + one) / gamma;
        let y_norm = sqrt(kernels::sum_sq(self.y.as_slice()));
        let dot_n = dot_units::<T>(samples) * sqrt_usize::<T>(n);
        let four_n = T::of(4.0) * T::of_usize(n);
        RoundingModel {
            gap_relative: (T::of(4.0) + e_rel * kx) * (one + gamma) * two_over_gamma + T::of(2.0),
            gap_cross: sqrt(two_over_gamma) * (T::of(4.0) * r1 + e_rel * kx * psi),
            gap_offset: T::zero(),
            offset_from: T::zero(),
            // The parts that grow with ‖W − W*‖ ≤ √(2ĝ/μ), μ = γλ_min/N.
            grad_relative: T::of(2.0),
            grad_cross: (one + gamma) * (four_n + T::of(2.0) + dot_n) * lmax * inv_n
                / sqrt(gamma * lmin * inv_n / (one + one)),
            grad_offset: (smax
                * ((one + gamma)
                    * (four_n * smax * self.constants.w_star.frobenius + T::of(0.5) * y_norm)
                    + T::of(2.0) * sqrt(psi_sq))
                + dot_n * smax * sqrt(psi_sq))
                * inv_n,
        }
    }

    /// `resid ← XW − Y`.
    fn set_residual(&mut self, w: &OMatrix<T, N, M>) {
        let (samples, n) = self.x.shape();
        kernels::mm_nn(
            self.resid.as_mut_slice(),
            self.x.as_slice(),
            w.as_slice(),
            samples,
            n,
        );
        self.resid -= &self.y;
    }

    /// `ℓ` from the current residual (compensated sum).
    fn value(&self) -> T {
        let half_gamma = self.gamma * T::of(0.5);
        let s =
            kernels::compensated_sum(self.resid.iter().map(|&r| log_cosh(r) + half_gamma * r * r));
        s / T::of_usize(self.x.nrows())
    }

    /// `ℓ(W) − ℓ*`, term by term from `r*` and `e = X(W − W*)` (THEORY §11):
    /// `log cosh(r* + e) − log cosh(r*) + (γ/2) e (2r* + e)`.
    fn gap(&mut self, w: &OMatrix<T, N, M>) -> T {
        let (samples, n) = self.x.shape();
        // Slice copy: never panics on a caller's wrongly sized `Dyn` matrix.
        for (d, &x) in self.dw.as_mut_slice().iter_mut().zip(w.as_slice()) {
            *d = x;
        }
        self.dw -= &self.w_star;
        kernels::mm_nn(
            self.dr.as_mut_slice(),
            self.x.as_slice(),
            self.dw.as_slice(),
            samples,
            n,
        );
        let half_gamma = self.gamma * T::of(0.5);
        let s = kernels::compensated_sum(
            self.resid_star
                .iter()
                .zip(self.dr.iter())
                .map(|(&rs, &e)| log_cosh_step(rs, e) + half_gamma * e * (rs + rs + e)),
        );
        clamp_gap(s / T::of_usize(samples))
    }

    /// `grad ← Xᵀ(tanh(r) + γ r)/N` from the current residual, which it
    /// overwrites.
    fn gradient_from_residual(&mut self, grad: &mut OMatrix<T, N, M>) {
        let gamma = self.gamma;
        for r in self.resid.iter_mut() {
            *r = tanh(*r) + gamma * *r;
        }
        let (samples, n) = self.x.shape();
        kernels::mm_tn(
            grad.as_mut_slice(),
            self.x.as_slice(),
            self.resid.as_slice(),
            n,
            samples,
        );
        *grad *= T::one() / T::of_usize(samples);
    }

    fn gradient(&mut self, w: &OMatrix<T, N, M>, grad: &mut OMatrix<T, N, M>) {
        self.set_residual(w);
        self.gradient_from_residual(grad);
    }
}

impl<T: Real, S: Dim, N: Dim, M: Dim> Loss<T, N, M> for LogCoshRidge<T, S, N, M>
where
    DefaultAllocator: Allocator<S, N> + Allocator<S, M> + Allocator<N, M>,
{
    fn kind(&self) -> LossKind {
        LossKind::LogCosh
    }

    fn constants(&self) -> &LossConstants<T> {
        &self.constants
    }

    fn minimizer(&self) -> &OMatrix<T, N, M> {
        &self.w_star
    }

    fn evaluate(&mut self, w: &OMatrix<T, N, M>) -> Evaluation<T> {
        self.set_residual(w);
        Evaluation {
            value: self.value(),
            gap: self.gap(w),
        }
    }

    fn evaluate_with_gradient(
        &mut self,
        w: &OMatrix<T, N, M>,
        grad: &mut OMatrix<T, N, M>,
    ) -> Evaluation<T> {
        let e = self.evaluate(w);
        self.gradient_from_residual(grad);
        e
    }

    fn rounding(&self) -> &RoundingModel<T> {
        &self.rounding
    }
}

/// The log-cosh loss with run-time sizes, as the registry holds it.
#[cfg(feature = "alloc")]
pub(super) type Dynamic<T> = LogCoshRidge<T, nalgebra::Dyn, nalgebra::Dyn, nalgebra::Dyn>;

#[cfg(feature = "alloc")]
impl<T: Real> super::LossBuilder<T> for Dynamic<T> {
    const HYPER: Option<(&'static str, f64)> = Some(("gamma", 0.1));

    /// `n×m` must be the sizes `X` (`N×n`) and `Y` (`N×m`) imply.
    fn from_data(
        n: usize,
        m: usize,
        x: nalgebra::DMatrix<T>,
        y: nalgebra::DMatrix<T>,
        hyper: T,
    ) -> Result<Self, ProblemError> {
        super::check_columns(n, m, &x, &y)?;
        Self::new(x, y, hyper)
    }

    fn infer_sizes(x: &nalgebra::DMatrix<T>, y: &nalgebra::DMatrix<T>) -> Option<(usize, usize)> {
        Some((x.ncols(), y.ncols()))
    }

    fn generate(
        s: &super::Synthetic,
        design: super::Design<'_, T>,
        theta: &mut nalgebra::DMatrix<T>,
        rng: &mut crate::init::Rng,
    ) -> Result<(nalgebra::DMatrix<T>, nalgebra::DMatrix<T>), ProblemError> {
        super::regression_data(s, design, theta, rng)
    }

    fn data(&self) -> (nalgebra::DMatrix<T>, nalgebra::DMatrix<T>) {
        (self.x().clone(), self.y().clone())
    }
}
