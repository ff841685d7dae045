//! Squared regression `ℓ(W) = (1/2N)‖Y − XW‖²` (THEORY §9.1).

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim, OMatrix, OVector};

use super::{Evaluation, Loss, LossConstants, LossKind};
use crate::error::ProblemError;
use crate::kernels;
use crate::linalg::{gram_cols, matrix_norms, SelectedEigen};
use crate::net::check_finite;
use crate::scalar::{pos, Real};

/// Squared regression with data `X` (N×n, full column rank) and targets `Y`
/// (N×m): `μ = σ_min(X)²/N`, `K = σ_max(X)²/N`, `W*` by least squares.
#[derive(Clone, Debug)]
pub struct SquaredLoss<T: Real, S: Dim, N: Dim, M: Dim>
where
    DefaultAllocator: Allocator<S, N> + Allocator<S, M> + Allocator<N, M>,
{
    x: OMatrix<T, S, N>,
    y: OMatrix<T, S, M>,
    w_star: OMatrix<T, N, M>,
    /// `XW* − Y`, so that the gap is `‖(XW − Y) − (XW* − Y)‖²/2N` without
    /// cancellation against `ℓ*`.
    resid_star: OMatrix<T, S, M>,
    resid: OMatrix<T, S, M>,
    constants: LossConstants<T>,
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
            resid: resid_star.clone(),
            x,
            y,
            w_star,
            resid_star,
            constants,
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

    fn residual(&mut self, w: &OMatrix<T, N, M>) -> Evaluation<T> {
        let (samples, n) = self.x.shape();
        kernels::mm_nn(
            self.resid.as_mut_slice(),
            self.x.as_slice(),
            w.as_slice(),
            samples,
            n,
        );
        self.resid -= &self.y;
        let half_inv_n = T::of(0.5) / T::of_usize(samples);
        Evaluation {
            value: kernels::sum_sq(self.resid.as_slice()) * half_inv_n,
            gap: kernels::sum_sq_diff(self.resid.as_slice(), self.resid_star.as_slice())
                * half_inv_n,
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
        // ∇ℓ = Xᵀ(XW − Y)/N
        kernels::mm_tn(
            grad.as_mut_slice(),
            self.x.as_slice(),
            self.resid.as_slice(),
            n,
            samples,
        );
        *grad *= T::one() / T::of_usize(samples);
        e
    }
}
