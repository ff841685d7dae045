//! Squared regression `ℓ(W) = (1/2N)‖Y − XW‖²` (THEORY §9.1).

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim, OMatrix, OVector};

use super::{dot_units, sqrt_usize, Evaluation, Loss, LossConstants, LossKind, RoundingModel};
use crate::error::ProblemError;
use crate::kernels;
use crate::linalg::{gram_cols, matrix_norms, SelectedEigen};
use crate::net::check_finite;
use crate::scalar::{pos, sqrt, Real};

/// Squared regression with data `X` (N×n, full column rank) and targets `Y`
/// (N×m): `μ = σ_min(X)²/N`, `K = σ_max(X)²/N`, `W*` by least squares.
///
/// Evaluated around `W*` without cancellation (THEORY §11, docs/ROUNDING.md
/// R2.1): with `E = X(W − W*)`, the gap is `‖E‖²/2N`, the gradient
/// `XᵀE/N` and the value `ℓ* + ‖E‖²/2N`. These are the exact quadratic
/// `ℓ(W) = ℓ* + ‖X(W − W*)‖²/2N` (normal equations) with the computed `W*` as
/// its minimizer; neither the gap nor the gradient rounds against `Y`, so a
/// large `ℓ*` (targets with a large unfittable part) costs no accuracy.
#[derive(Clone, Debug)]
pub struct SquaredLoss<T: Real, S: Dim, N: Dim, M: Dim>
where
    DefaultAllocator: Allocator<S, N> + Allocator<S, M> + Allocator<N, M>,
{
    x: OMatrix<T, S, N>,
    y: OMatrix<T, S, M>,
    w_star: OMatrix<T, N, M>,
    /// `W − W*` at the last evaluation.
    dw: OMatrix<T, N, M>,
    /// `E = X(W − W*)` at the last evaluation.
    e: OMatrix<T, S, M>,
    constants: LossConstants<T>,
    rounding: RoundingModel<T>,
}

/// Rounding model of a quadratic loss `ℓ* + ‖𝒳 vec(W − W*)‖²/2N` whose
/// operator has `N` rows (`rows`), inner dimension `k` and condition number
/// `κ = σ_max/σ_min`, largest singular value `σ_max`
/// (docs/ROUNDING.md R2.1), evaluated as
/// `E = 𝒳 fl(W − W*)`, gap `‖E‖²/2N`, gradient `𝒳ᵀE/N` (with `cols` right-hand
/// sides).
pub(crate) fn quadratic_rounding<T: Real>(
    rows: usize,
    k: usize,
    cols: usize,
    kappa: T,
    sigma_max: T,
) -> RoundingModel<T> {
    // ‖Ê − E‖ ≤ ((DOT_UNITS√k)·√k + ½) κ ‖E‖ (‖|𝒳|‖ ≤ √k ‖𝒳‖, and the
    // rounding of W − W*).
    let e_rel = dot_units::<T>(k) * sqrt_usize::<T>(k) + T::of(0.5);
    RoundingModel {
        gap_relative: (e_rel + e_rel) * kappa
            + dot_units::<T>(rows.saturating_mul(cols))
            + T::of(2.0),
        gap_cross: T::zero(),
        gap_offset: T::zero(),
        offset_from: T::zero(),
        // ‖Ĝ − ∇ℓ‖ ≤ ε(4√(Nk) + e_rel κ) σ_max ‖E‖/N with ‖E‖ = √(2N ĝ).
        grad_relative: T::of(2.0),
        grad_cross: (dot_units::<T>(rows) * sqrt_usize::<T>(k) + e_rel * kappa)
            * sigma_max
            * sqrt(T::of(2.0) / T::of_usize(rows)),
        grad_offset: T::zero(),
    }
}

/// Checks that `X` (N×n) has full column rank and returns the extreme
/// eigenvalues `(λ_min, λ_max)` of `XᵀX`. Shared by the losses whose
/// constants come from `σ(X)` (THEORY §9.1, §9.3, §9.4).
pub(crate) fn data_spectrum<T: Real, S: Dim, N: Dim>(
    x: &OMatrix<T, S, N>,
) -> Result<(T, T), ProblemError>
where
    DefaultAllocator: Allocator<S, N> + Allocator<N, N> + Allocator<N>,
{
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
    check_finite("X", x)?;
    let (_, nd) = x.shape_generic();
    let mut g = OMatrix::<T, N, N>::zeros_generic(nd, nd);
    let mut e = OVector::<T, N>::zeros_generic(nd, nalgebra::U1);
    gram_cols(x, &mut g);
    let eig = SelectedEigen::new(g.as_mut_slice(), n, e.as_mut_slice());
    let lmax = pos(eig.largest(0));
    let lmin = pos(eig.smallest(0));
    // Eigenvalues of XᵀX carry an absolute error of about n·ε·λ_max from
    // the eigen-solver; the threshold is the conditioning the working
    // precision resolves (with a factor 100 of margin), independent of N:
    // a bound growing with N refused well-conditioned f32 data from ~84k
    // samples on (100·N·ε ≥ 1), and the rounding of the sums forming XᵀX
    // grows far more slowly than N·ε (fixed-order blocked sums, THEORY §11).
    let thresh = T::of(100.0) * T::of_usize(n) * T::EPSILON * lmax;
    let rank = eig.count_above(thresh);
    if rank < n || !(lmin > thresh) {
        return Err(ProblemError::RankDeficient {
            what: "X",
            rank,
            needed: n,
        });
    }
    Ok((lmin, lmax))
}

/// Validates regression data `X` (N×n, full column rank) and targets `Y`
/// (N×m) and returns the extreme eigenvalues of `XᵀX` (THEORY §9.1, §9.3).
pub(crate) fn regression_data<T: Real, S: Dim, N: Dim, M: Dim>(
    x: &OMatrix<T, S, N>,
    y: &OMatrix<T, S, M>,
) -> Result<(T, T), ProblemError>
where
    DefaultAllocator: Allocator<S, N> + Allocator<S, M> + Allocator<N, N> + Allocator<N>,
{
    let samples = x.nrows();
    if y.ncols() == 0 {
        return Err(ProblemError::ZeroSize {
            what: "m (columns of Y)",
        });
    }
    if y.nrows() != samples {
        return Err(ProblemError::ShapeMismatch {
            what: "Y",
            expected: (samples, y.ncols()),
            found: y.shape(),
        });
    }
    let spectrum = data_spectrum(x)?;
    check_finite("Y", y)?;
    Ok(spectrum)
}

impl<T: Real, S: Dim, N: Dim, M: Dim> SquaredLoss<T, S, N, M>
where
    DefaultAllocator: Allocator<S, N>
        + Allocator<S, M>
        + Allocator<N, M>
        + Allocator<N, N>
        + Allocator<N>
        + Allocator<M, M>
        + Allocator<M>,
{
    /// Builds the loss, solving for `W*` by Householder least squares.
    pub fn new(x: OMatrix<T, S, N>, y: OMatrix<T, S, M>) -> Result<Self, ProblemError> {
        let (samples, n) = x.shape();
        let (lmin, lmax) = regression_data(&x, &y)?;
        let (sd, nd) = x.shape_generic();
        let (_, md) = y.shape_generic();
        let mut qr = x.clone();
        let mut qty = y.clone();
        // Scratch for the panels of the blocked QR (used above
        // `QR_UNBLOCKED_MAX` columns when it holds them).
        let mut scratch = OMatrix::<T, N, N>::zeros_generic(nd, nd);
        kernels::householder_qr_blocked(
            qr.as_mut_slice(),
            samples,
            n,
            Some(qty.as_mut_slice()),
            scratch.as_mut_slice(),
        );
        drop(scratch);
        if !kernels::back_substitute(qr.as_slice(), samples, n, qty.as_mut_slice(), samples) {
            return Err(ProblemError::RankDeficient {
                what: "X",
                rank: 0,
                needed: n,
            });
        }
        let mut w_star = OMatrix::<T, N, M>::zeros_generic(nd, md);
        for (mut dst, src) in w_star.column_iter_mut().zip(qty.column_iter()) {
            for (d, s) in dst.iter_mut().zip(src.iter()) {
                *d = *s;
            }
        }
        check_finite("W* (least squares)", &w_star)?;
        let mut resid_star = OMatrix::<T, S, M>::zeros_generic(sd, md);
        let rounding = quadratic_rounding(samples, n, y.ncols(), sqrt(lmax / lmin), sqrt(lmax));
        kernels::mm_nn(
            resid_star.as_mut_slice(),
            x.as_slice(),
            w_star.as_slice(),
            samples,
            n,
        );
        resid_star -= &y;
        let inv_n = T::one() / T::of_usize(samples);
        let l_star = kernels::sum_sq(resid_star.as_slice()) * inv_n * T::of(0.5);
        let constants = LossConstants {
            mu: lmin * inv_n,
            k: lmax * inv_n,
            l_star,
            w_star: matrix_norms(&w_star),
        };
        super::check_constants(&constants)?;
        Ok(Self {
            dw: OMatrix::<T, N, M>::zeros_generic(nd, md),
            e: resid_star,
            x,
            y,
            w_star,
            constants,
            rounding,
        })
    }

    /// The data matrix `X`.
    pub fn x(&self) -> &OMatrix<T, S, N> {
        &self.x
    }

    /// The targets `Y`.
    pub fn y(&self) -> &OMatrix<T, S, M> {
        &self.y
    }

    /// `E ← X(W − W*)`; the gap `‖E‖²/2N` and the value `ℓ* + gap`.
    fn residual(&mut self, w: &OMatrix<T, N, M>) -> Evaluation<T> {
        let (samples, n) = self.x.shape();
        // Slice copy: never panics on a caller's wrongly sized `Dyn` matrix.
        for ((d, &x), &s) in self
            .dw
            .as_mut_slice()
            .iter_mut()
            .zip(w.as_slice())
            .zip(self.w_star.as_slice())
        {
            *d = x - s;
        }
        kernels::mm_nn(
            self.e.as_mut_slice(),
            self.x.as_slice(),
            self.dw.as_slice(),
            samples,
            n,
        );
        let half_inv_n = T::of(0.5) / T::of_usize(samples);
        let gap = kernels::sum_sq(self.e.as_slice()) * half_inv_n;
        Evaluation {
            value: self.constants.l_star + gap,
            gap,
        }
    }
}

impl<T: Real, S: Dim, N: Dim, M: Dim> Loss<T, N, M> for SquaredLoss<T, S, N, M>
where
    DefaultAllocator: Allocator<S, N>
        + Allocator<S, M>
        + Allocator<N, M>
        + Allocator<N, N>
        + Allocator<N>
        + Allocator<M, M>
        + Allocator<M>,
{
    fn kind(&self) -> LossKind {
        LossKind::Squared
    }

    fn constants(&self) -> &LossConstants<T> {
        &self.constants
    }

    fn minimizer(&self) -> &OMatrix<T, N, M> {
        &self.w_star
    }

    fn evaluate(&mut self, w: &OMatrix<T, N, M>) -> Evaluation<T> {
        self.residual(w)
    }

    fn evaluate_with_gradient(
        &mut self,
        w: &OMatrix<T, N, M>,
        grad: &mut OMatrix<T, N, M>,
    ) -> Evaluation<T> {
        let e = self.residual(w);
        let (samples, n) = self.x.shape();
        // ∇ℓ = Xᵀ(XW − Y)/N = XᵀX(W − W*)/N (normal equations).
        kernels::mm_tn(
            grad.as_mut_slice(),
            self.x.as_slice(),
            self.e.as_slice(),
            n,
            samples,
        );
        *grad *= T::one() / T::of_usize(samples);
        e
    }

    fn rounding(&self) -> &RoundingModel<T> {
        &self.rounding
    }
}

/// The squared loss with run-time sizes, as the registry holds it.
#[cfg(feature = "alloc")]
pub(super) type Dynamic<T> = SquaredLoss<T, nalgebra::Dyn, nalgebra::Dyn, nalgebra::Dyn>;

#[cfg(feature = "alloc")]
impl<T: Real> super::LossBuilder<T> for Dynamic<T> {
    const HYPER: Option<(&'static str, f64)> = None;

    /// `n×m` must be the sizes `X` (`N×n`) and `Y` (`N×m`) imply.
    fn from_data(
        n: usize,
        m: usize,
        x: nalgebra::DMatrix<T>,
        y: nalgebra::DMatrix<T>,
        _hyper: T,
    ) -> Result<Self, ProblemError> {
        super::check_columns(n, m, &x, &y)?;
        Self::new(x, y)
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
