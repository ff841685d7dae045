//! Ridge-regularized softmax classification (THEORY §9.4).

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim, OMatrix, OVector, U1};

use super::{
    clamp_gap, dot_units, expm1, minimize_gd, sqrt_usize, Evaluation, Loss, LossConstants,
    LossKind, RoundingModel,
};
use crate::error::ProblemError;
use crate::kernels;
use crate::linalg::{gram_cols, matrix_norms, SelectedEigen};
use crate::net::check_finite;
use crate::scalar::{abs, exp, ln, ln_1p, max, pos, sqrt, Real};

/// `ℓ(W) = (1/N) Σ_i [logsumexp(x_iᵀW) − x_iᵀW e_{c_i}] + (λ/2)‖W‖²` with
/// data `X` (N×n), labels `c_i ∈ 0..m` given one-hot as `Y` (N×m) and
/// `λ > 0` (THEORY §9.4).
///
/// `∇ℓ(W) = Xᵀ(softmax(XW) − Y)/N + λW`. The Hessian of `logsumexp` is
/// `diag(p) − ppᵀ ⪯ I/2`, so `μ = λ` and `K = σ_max(X)²/(2N) + λ`; `X` need
/// not have full rank (the ridge makes `ℓ` strongly convex). `logsumexp` is
/// evaluated stably (the row maximum is subtracted). `W*` comes from
/// gradient descent on `ℓ` itself with step `1/K`, run to machine precision.
///
/// Sums are compensated, and the gap is summed sample by sample from
/// `d = X(W − W*)` (computed from `W − W*`, not as a difference of rounded
/// scores) with `logsumexp(z* + d) − logsumexp(z*) = ln(1 + Σ_j p*_j (e^{d_j} − 1))`,
/// `p* = softmax(z*)`, so it stays accurate near the minimum (THEORY §11).
#[derive(Clone, Debug)]
pub struct SoftmaxRidge<T: Real, S: Dim, N: Dim, M: Dim>
where
    DefaultAllocator: Allocator<S, N> + Allocator<S, M> + Allocator<N, M> + Allocator<S>,
{
    x: OMatrix<T, S, N>,
    y: OMatrix<T, S, M>,
    labels: OVector<usize, S>,
    lambda: T,
    w_star: OMatrix<T, N, M>,
    /// `XW` at the last evaluation.
    z: OMatrix<T, S, M>,
    /// `softmax(XW)` row by row, then `softmax(XW) − Y`.
    prob: OMatrix<T, S, M>,
    /// `W − W*`.
    dw: OMatrix<T, N, M>,
    /// `X(W − W*)`.
    dz: OMatrix<T, S, M>,
    /// `softmax(XW*)`.
    p_star: OMatrix<T, S, M>,
    /// Per-sample loss `logsumexp(z_i) − z_{i c_i}` at the last evaluation.
    terms: OVector<T, S>,
    /// Per-sample contribution to the gap.
    gap_terms: OVector<T, S>,
    /// Per-sample loss at `W*`.
    terms_star: OVector<T, S>,
    constants: LossConstants<T>,
    rounding: RoundingModel<T>,
    solver_iters: usize,
}

/// Checks that `y` is one-hot (each row one `1`, the rest `0`) and writes
/// the class of each row into `labels`.
fn one_hot_labels<T: Real, S: Dim, M: Dim>(
    y: &OMatrix<T, S, M>,
    labels: &mut OVector<usize, S>,
) -> Result<(), ProblemError>
where
    DefaultAllocator: Allocator<S, M> + Allocator<S>,
{
    for (row, (yr, c)) in y.row_iter().zip(labels.iter_mut()).enumerate() {
        let mut class = None;
        for (j, &v) in yr.iter().enumerate() {
            if v == T::one() && class.is_none() {
                class = Some(j);
            } else if v != T::zero() {
                return Err(ProblemError::LabelOutOfRange { row });
            }
        }
        *c = class.ok_or(ProblemError::LabelOutOfRange { row })?;
    }
    Ok(())
}

impl<T: Real, S: Dim, N: Dim, M: Dim> SoftmaxRidge<T, S, N, M>
where
    DefaultAllocator: Allocator<S, N>
        + Allocator<S, M>
        + Allocator<N, M>
        + Allocator<S>
        + Allocator<N, N>
        + Allocator<N>
        + Allocator<M, M>
        + Allocator<M>,
{
    /// Builds the loss from data `x` (N×n), one-hot labels `y` (N×m) and
    /// the ridge weight `λ`, and solves for `W*` (THEORY §9.4).
    ///
    /// Errors: a zero size ([`ProblemError::ZeroSize`]); `Y` with another
    /// number of rows than `X` ([`ProblemError::ShapeMismatch`]); a NaN or
    /// infinite entry ([`ProblemError::NonFinite`]); a row of `Y` that is
    /// not one-hot ([`ProblemError::LabelOutOfRange`] with that row); `λ`
    /// not positive and finite ([`ProblemError::InvalidParameter`]); the
    /// solve for `W*` not reaching machine precision
    /// ([`ProblemError::SolverFailed`]).
    pub fn new(x: OMatrix<T, S, N>, y: OMatrix<T, S, M>, lambda: T) -> Result<Self, ProblemError> {
        let (samples, n) = x.shape();
        if samples == 0 {
            return Err(ProblemError::ZeroSize {
                what: "N (number of samples)",
            });
        }
        if n == 0 {
            return Err(ProblemError::ZeroSize {
                what: "n (columns of X)",
            });
        }
        if y.ncols() == 0 {
            return Err(ProblemError::ZeroSize {
                what: "m (columns of Y, classes)",
            });
        }
        if y.nrows() != samples {
            return Err(ProblemError::ShapeMismatch {
                what: "Y",
                expected: (samples, y.ncols()),
                found: y.shape(),
            });
        }
        check_finite("X", &x)?;
        check_finite("Y", &y)?;
        let (sd, nd) = x.shape_generic();
        let (_, md) = y.shape_generic();
        let mut labels = OVector::<usize, S>::zeros_generic(sd, U1);
        one_hot_labels(&y, &mut labels)?;
        if !(lambda > T::zero() && lambda.finite()) {
            return Err(ProblemError::InvalidParameter {
                what: "lambda (softmax ridge weight) must be positive and finite",
            });
        }
        // σ_max(X)² = λ_max(XᵀX); no rank condition here.
        let mut gram = OMatrix::<T, N, N>::zeros_generic(nd, nd);
        let mut eig = OVector::<T, N>::zeros_generic(nd, U1);
        gram_cols(&x, &mut gram);
        let n = gram.nrows();
        let lmax = pos(SelectedEigen::new(gram.as_mut_slice(), n, eig.as_mut_slice()).largest(0));
        let mu = lambda;
        let k = lmax / T::of_usize(2 * samples) + lambda;
        let zeros_sm = OMatrix::<T, S, M>::zeros_generic(sd, md);
        let zeros_s = OVector::<T, S>::zeros_generic(sd, U1);
        let mut this = Self {
            x,
            y,
            labels,
            lambda,
            w_star: OMatrix::<T, N, M>::zeros_generic(nd, md),
            z: zeros_sm.clone(),
            prob: zeros_sm.clone(),
            dw: OMatrix::<T, N, M>::zeros_generic(nd, md),
            dz: zeros_sm.clone(),
            p_star: zeros_sm,
            terms: zeros_s.clone(),
            gap_terms: zeros_s.clone(),
            terms_star: zeros_s,
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
        this.solver_iters = minimize_gd(mu, k, &mut w, "softmax W* (gradient descent)", |w, g| {
            this.gradient(w, g)
        })?;
        this.forward(&w, false, true);
        this.p_star.copy_from(&this.prob);
        this.terms_star.copy_from(&this.terms);
        this.constants.l_star = this.value(&w);
        this.constants.w_star = matrix_norms(&w);
        this.w_star = w;
        this.rounding = this.rounding_model(lmax);
        super::check_constants(&this.constants)?;
        Ok(this)
    }
}

impl<T: Real, S: Dim, N: Dim, M: Dim> SoftmaxRidge<T, S, N, M>
where
    DefaultAllocator: Allocator<S, N> + Allocator<S, M> + Allocator<N, M> + Allocator<S>,
{
    /// The data matrix `X`.
    pub fn x(&self) -> &OMatrix<T, S, N> {
        &self.x
    }

    /// The one-hot labels `Y`.
    pub fn y(&self) -> &OMatrix<T, S, M> {
        &self.y
    }

    /// The class `c_i` of each sample.
    pub fn labels(&self) -> &OVector<usize, S> {
        &self.labels
    }

    /// The ridge weight `λ`.
    pub fn lambda(&self) -> T {
        self.lambda
    }

    /// Gradient steps the solve for `W*` took.
    pub fn solver_iterations(&self) -> usize {
        self.solver_iters
    }

    /// The rounding model of docs/ROUNDING.md R2.3 from `λ_max(XᵀX)`, `ℓ*`,
    /// `‖W*‖` and the largest row norm of `X`.
    fn rounding_model(&self, lmax: T) -> RoundingModel<T> {
        let (samples, n) = self.x.shape();
        let c = &self.constants;
        let mu = c.mu;
        let lambda = self.lambda;
        let inv_n = T::one() / T::of_usize(samples);
        let smax = sqrt(lmax);
        let root_n = sqrt_usize::<T>(samples);
        let ws = c.w_star.frobenius;
        let e_rel = dot_units::<T>(n) * sqrt_usize::<T>(n) + T::of(0.5);
        let xmax_sq = self
            .x
            .row_iter()
            .map(|r| kernels::compensated_sum(r.iter().map(|&v| v * v)))
            .fold(T::zero(), max);
        // |d_ij| ≤ ‖x_i‖ ‖W − W*‖ and gap ≥ (μ/2)‖W − W*‖²: the subtracting
        // branch (some |d_ij| > 1) needs gap ≥ μ/(2 max‖x_i‖²); half of it
        // covers the rounding of the computed gap.
        let offset_from = if xmax_sq > T::zero() {
            mu / (T::of(4.0) * xmax_sq)
        } else {
            T::MAX
        };
        let half = T::of(0.5);
        RoundingModel {
            gap_relative: T::of(8.0) * lmax * inv_n / mu + T::of(14.0),
            gap_cross: sqrt((T::one() + T::one()) / mu)
                * ((T::of(4.0) + sqrt(T::of(2.0)) * e_rel) * smax / root_n
                    + T::of(4.0) * lambda * ws),
            gap_offset: T::of(8.0) * abs(c.l_star),
            offset_from,
            // The parts that grow with ‖W − W*‖ ≤ √(2ĝ/μ).
            grad_relative: T::of(2.0),
            grad_cross: (half * e_rel * lmax * inv_n + lambda) * sqrt((T::one() + T::one()) / mu),
            grad_offset: (smax * (T::of(4.0) * root_n + half * e_rel * smax * ws)
                + dot_units::<T>(samples) * sqrt_usize::<T>(n) * smax * sqrt(T::of(2.0)) * root_n)
                * inv_n
                + lambda * ws,
        }
    }

    /// `z ← XW`; per sample the loss term `logsumexp(z_i) − z_{i c_i}`
    /// (stable: the row maximum is subtracted); with `want_gap` the gap
    /// term; with `want_prob` the row `softmax(z_i)` into `prob`.
    fn forward(&mut self, w: &OMatrix<T, N, M>, want_gap: bool, want_prob: bool) {
        let (samples, n) = self.x.shape();
        kernels::mm_nn(
            self.z.as_mut_slice(),
            self.x.as_slice(),
            w.as_slice(),
            samples,
            n,
        );
        if want_gap {
            // Slice copy: never panics on a caller's wrongly sized `Dyn` matrix.
            for (d, &x) in self.dw.as_mut_slice().iter_mut().zip(w.as_slice()) {
                *d = x;
            }
            self.dw -= &self.w_star;
            kernels::mm_nn(
                self.dz.as_mut_slice(),
                self.x.as_slice(),
                self.dw.as_slice(),
                samples,
                n,
            );
        }
        let rows = self
            .z
            .row_iter()
            .zip(self.labels.iter())
            .zip(self.terms.iter_mut())
            .zip(self.gap_terms.iter_mut())
            .zip(self.prob.row_iter_mut())
            .zip(self.dz.row_iter())
            .zip(self.p_star.row_iter())
            .zip(self.terms_star.iter());
        for (((((((zr, &c), term), gap), mut pr), dr), ps), &term_star) in rows {
            let first = zr.iter().next().copied().unwrap_or_else(T::zero);
            let mx = zr.iter().fold(first, |a, &b| max(a, b));
            let mut sum = T::zero();
            for &zj in zr.iter() {
                sum += exp(zj - mx);
            }
            let zc = zr.iter().nth(c).copied().unwrap_or_else(T::zero);
            *term = mx + ln(sum) - zc;
            if want_gap {
                let dmax = dr.iter().fold(T::zero(), |a, &dj| max(a, abs(dj)));
                *gap = if dmax <= T::one() {
                    // logsumexp(z* + d) − logsumexp(z*) = ln(1 + Σ_j p*_j (e^{d_j} − 1))
                    let mut s = T::zero();
                    for (&dj, &pj) in dr.iter().zip(ps.iter()) {
                        s += pj * expm1(dj);
                    }
                    let dc = dr.iter().nth(c).copied().unwrap_or_else(T::zero);
                    ln_1p(s) - dc
                } else {
                    *term - term_star
                };
            }
            if want_prob {
                let inv = T::one() / sum;
                for (p, &zj) in pr.iter_mut().zip(zr.iter()) {
                    *p = exp(zj - mx) * inv;
                }
            }
        }
    }

    /// `ℓ(W)` from the per-sample terms of the last [`Self::forward`].
    fn value(&self, w: &OMatrix<T, N, M>) -> T {
        let inv_n = T::one() / T::of_usize(self.x.nrows());
        let half_lambda = self.lambda * T::of(0.5);
        kernels::compensated_sum(
            self.terms
                .iter()
                .map(|&t| t * inv_n)
                .chain(w.iter().map(|&wi| half_lambda * wi * wi)),
        )
    }

    /// `ℓ(W) − ℓ*` from the gap terms and `W − W*` of the last
    /// [`Self::forward`] (THEORY §11): the ridge part as
    /// `(λ/2) Σ δ(2w* + δ)`, `δ = w − w*`.
    fn gap(&self) -> T {
        let inv_n = T::one() / T::of_usize(self.x.nrows());
        let half_lambda = self.lambda * T::of(0.5);
        clamp_gap(kernels::compensated_sum(
            self.gap_terms.iter().map(|&t| t * inv_n).chain(
                self.dw
                    .iter()
                    .zip(self.w_star.iter())
                    .map(|(&d, &s)| half_lambda * d * (s + s + d)),
            ),
        ))
    }

    /// `grad ← Xᵀ(softmax(XW) − Y)/N + λW` from `prob` of the last
    /// [`Self::forward`] (which it overwrites).
    fn gradient_from_prob(&mut self, w: &OMatrix<T, N, M>, grad: &mut OMatrix<T, N, M>) {
        self.prob -= &self.y;
        let (samples, n) = self.x.shape();
        kernels::mm_tn(
            grad.as_mut_slice(),
            self.x.as_slice(),
            self.prob.as_slice(),
            n,
            samples,
        );
        *grad *= T::one() / T::of_usize(samples);
        kernels::axpy(grad.as_mut_slice(), self.lambda, w.as_slice());
    }

    fn gradient(&mut self, w: &OMatrix<T, N, M>, grad: &mut OMatrix<T, N, M>) {
        self.forward(w, false, true);
        self.gradient_from_prob(w, grad);
    }
}

impl<T: Real, S: Dim, N: Dim, M: Dim> Loss<T, N, M> for SoftmaxRidge<T, S, N, M>
where
    DefaultAllocator: Allocator<S, N> + Allocator<S, M> + Allocator<N, M> + Allocator<S>,
{
    fn kind(&self) -> LossKind {
        LossKind::Softmax
    }

    fn constants(&self) -> &LossConstants<T> {
        &self.constants
    }

    fn minimizer(&self) -> &OMatrix<T, N, M> {
        &self.w_star
    }

    fn evaluate(&mut self, w: &OMatrix<T, N, M>) -> Evaluation<T> {
        self.forward(w, true, false);
        Evaluation {
            value: self.value(w),
            gap: self.gap(),
        }
    }

    fn evaluate_with_gradient(
        &mut self,
        w: &OMatrix<T, N, M>,
        grad: &mut OMatrix<T, N, M>,
    ) -> Evaluation<T> {
        self.forward(w, true, true);
        let e = Evaluation {
            value: self.value(w),
            gap: self.gap(),
        };
        self.gradient_from_prob(w, grad);
        e
    }

    fn rounding(&self) -> &RoundingModel<T> {
        &self.rounding
    }
}

/// The softmax loss with run-time sizes, as the registry holds it.
#[cfg(feature = "alloc")]
pub(super) type Dynamic<T> = SoftmaxRidge<T, nalgebra::Dyn, nalgebra::Dyn, nalgebra::Dyn>;

#[cfg(feature = "alloc")]
impl<T: Real> super::LossBuilder<T> for Dynamic<T> {
    const HYPER: Option<(&'static str, f64)> = Some(("lambda", 0.01));

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
        let x = design(s.samples, s.n, rng)?;
        let mut y = nalgebra::DMatrix::<T>::zeros(s.samples, s.m);
        crate::data::one_hot_labels(&x, theta, &mut y, s.theta_std, s.noise, rng)?;
        Ok((x, y))
    }

    fn data(&self) -> (nalgebra::DMatrix<T>, nalgebra::DMatrix<T>) {
        (self.x().clone(), self.y().clone())
    }
}
