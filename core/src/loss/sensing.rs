//! Matrix sensing `ℓ(W) = (1/2p) Σ_k (⟨A_k, W⟩ − y_k)²` (THEORY §9.2).

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim, OMatrix, OVector, U1};

use super::squared::data_spectrum;
use super::squared::quadratic_rounding;
use super::{Evaluation, Loss, LossConstants, LossKind, RoundingModel};
use crate::error::ProblemError;
use crate::kernels;
use crate::linalg::matrix_norms;
use crate::net::check_finite;
use crate::scalar::{sqrt, Real};

/// Matrix sensing with `p ≥ nm` sensing matrices `A_k ∈ ℝ^{n×m}` and
/// measurements `y ∈ ℝ^p` (THEORY §9.2).
///
/// The operator is stored as the `p×(nm)` matrix `𝒜` whose row `k` is
/// `vec(A_k)ᵀ`, with `vec` stacking columns (the column-major layout of
/// nalgebra): entry `(k, i + j·n)` is `(A_k)_{ij}`. Then
/// `ℓ(W) = ‖𝒜 vec(W) − y‖²/2p`, `∇ℓ(W) = 𝒜ᵀ(𝒜 vec(W) − y)/p` reshaped to
/// `n×m`, `μ` and `K` are the extreme eigenvalues of `𝒜ᵀ𝒜/p`, and `W*` is
/// the least-squares solution (Householder QR). `NM` is the dimension type
/// of `n·m` (`Const<{n·m}>` for fixed sizes, `Dyn` otherwise); the
/// constructor checks that it equals `n·m`.
#[derive(Clone, Debug)]
pub struct MatrixSensing<T: Real, P: Dim, N: Dim, M: Dim, NM: Dim>
where
    DefaultAllocator: Allocator<P, NM> + Allocator<P> + Allocator<N, M>,
{
    a: OMatrix<T, P, NM>,
    y: OVector<T, P>,
    w_star: OMatrix<T, N, M>,
    /// `W − W*` at the last evaluation.
    dw: OMatrix<T, N, M>,
    /// `e = 𝒜 vec(W − W*)` at the last evaluation: the gap is `‖e‖²/2p`,
    /// the gradient `𝒜ᵀe/p` and the value `ℓ* + gap`, without cancellation
    /// against `y` or `ℓ*` (as for the squared loss, docs/ROUNDING.md R2.1).
    e: OVector<T, P>,
    constants: LossConstants<T>,
    rounding: RoundingModel<T>,
}

impl<T: Real, P: Dim, N: Dim, M: Dim, NM: Dim> MatrixSensing<T, P, N, M, NM>
where
    DefaultAllocator: Allocator<P, NM>
        + Allocator<P>
        + Allocator<N, M>
        + Allocator<NM, NM>
        + Allocator<NM>
        + Allocator<M, M>
        + Allocator<M>,
{
    /// Builds the loss for `W ∈ ℝ^{n×m}` from the operator `a` (`p×nm`,
    /// row `k` is `vec(A_k)ᵀ`, see the type's documentation) and the
    /// measurements `y` (length `p`).
    ///
    /// Errors: a zero size; `a` not `p×(n·m)` or `y` not of length `p`
    /// ([`ProblemError::ShapeMismatch`]); a NaN or infinite entry
    /// ([`ProblemError::NonFinite`], for the operator `row = k` and
    /// `col = i + j·n`); `p < nm` or `𝒜` not of full column rank, so that
    /// `μ = 0` ([`ProblemError::RankDeficient`], THEORY §1).
    pub fn new(n: N, m: M, a: OMatrix<T, P, NM>, y: OVector<T, P>) -> Result<Self, ProblemError> {
        let (p, nm) = a.shape();
        if n.value() == 0 {
            return Err(ProblemError::ZeroSize {
                what: "n (rows of W)",
            });
        }
        if m.value() == 0 {
            return Err(ProblemError::ZeroSize {
                what: "m (columns of W)",
            });
        }
        if p == 0 {
            return Err(ProblemError::ZeroSize {
                what: "p (number of measurements)",
            });
        }
        let want = n.value().saturating_mul(m.value());
        if nm != want {
            return Err(ProblemError::ShapeMismatch {
                what: "sensing operator",
                expected: (p, want),
                found: (p, nm),
            });
        }
        if y.nrows() != p {
            return Err(ProblemError::ShapeMismatch {
                what: "y (measurements)",
                expected: (p, 1),
                found: y.shape(),
            });
        }
        check_finite("sensing operator", &a)?;
        check_finite("y (measurements)", &y)?;
        if p < nm {
            return Err(ProblemError::RankDeficient {
                what: "sensing operator",
                rank: p,
                needed: nm,
            });
        }
        // Extreme eigenvalues of 𝒜ᵀ𝒜 with the full-rank check of §9.1; the
        // only error left after the checks above is a rank deficiency.
        let (lmin, lmax) = data_spectrum(&a).map_err(|e| match e {
            ProblemError::RankDeficient { rank, needed, .. } => ProblemError::RankDeficient {
                what: "sensing operator",
                rank,
                needed,
            },
            other => other,
        })?;
        let (pd, _) = a.shape_generic();
        let mut qr = a.clone();
        let mut qty = y.clone();
        kernels::householder_qr(qr.as_mut_slice(), p, nm, Some(qty.as_mut_slice()));
        if !kernels::back_substitute(qr.as_slice(), p, nm, qty.as_mut_slice(), p) {
            return Err(ProblemError::RankDeficient {
                what: "sensing operator",
                rank: 0,
                needed: nm,
            });
        }
        let mut w_star = OMatrix::<T, N, M>::zeros_generic(n, m);
        for (d, s) in w_star.as_mut_slice().iter_mut().zip(qty.as_slice()) {
            *d = *s;
        }
        check_finite("W* (least squares)", &w_star)?;
        let mut resid_star = OVector::<T, P>::zeros_generic(pd, U1);
        kernels::mm_nn(
            resid_star.as_mut_slice(),
            a.as_slice(),
            w_star.as_slice(),
            p,
            nm,
        );
        resid_star -= &y;
        let inv_p = T::one() / T::of_usize(p);
        let constants = LossConstants {
            mu: lmin * inv_p,
            k: lmax * inv_p,
            l_star: kernels::sum_sq(resid_star.as_slice()) * inv_p * T::of(0.5),
            w_star: matrix_norms(&w_star),
        };
        super::check_constants(&constants)?;
        Ok(Self {
            dw: OMatrix::<T, N, M>::zeros_generic(n, m),
            e: resid_star,
            a,
            y,
            w_star,
            constants,
            rounding: quadratic_rounding(p, nm, 1, sqrt(lmax / lmin), sqrt(lmax)),
        })
    }
}

impl<T: Real, P: Dim, N: Dim, M: Dim, NM: Dim> MatrixSensing<T, P, N, M, NM>
where
    DefaultAllocator: Allocator<P, NM> + Allocator<P> + Allocator<N, M>,
{
    /// The operator `𝒜` (`p×nm`, row `k` is `vec(A_k)ᵀ`).
    pub fn operator(&self) -> &OMatrix<T, P, NM> {
        &self.a
    }

    /// The measurements `y`.
    pub fn measurements(&self) -> &OVector<T, P> {
        &self.y
    }

    /// `e ← 𝒜 vec(W − W*)`; the gap `‖e‖²/2p` and the value `ℓ* + gap`.
    fn residual(&mut self, w: &OMatrix<T, N, M>) -> Evaluation<T> {
        let (p, nm) = self.a.shape();
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
            self.a.as_slice(),
            self.dw.as_slice(),
            p,
            nm,
        );
        let half_inv_p = T::of(0.5) / T::of_usize(p);
        let gap = kernels::sum_sq(self.e.as_slice()) * half_inv_p;
        Evaluation {
            value: self.constants.l_star + gap,
            gap,
        }
    }
}

impl<T: Real, P: Dim, N: Dim, M: Dim, NM: Dim> Loss<T, N, M> for MatrixSensing<T, P, N, M, NM>
where
    DefaultAllocator: Allocator<P, NM> + Allocator<P> + Allocator<N, M>,
{
    fn kind(&self) -> LossKind {
        LossKind::Sensing
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
        let (p, nm) = self.a.shape();
        // vec(∇ℓ) = 𝒜ᵀ(𝒜 vec(W) − y)/p = 𝒜ᵀ𝒜 vec(W − W*)/p (normal equations).
        kernels::mm_tn(
            grad.as_mut_slice(),
            self.a.as_slice(),
            self.e.as_slice(),
            nm,
            p,
        );
        *grad *= T::one() / T::of_usize(p);
        e
    }

    fn rounding(&self) -> &RoundingModel<T> {
        &self.rounding
    }
}

/// Matrix sensing with run-time sizes, as the registry holds it.
#[cfg(feature = "alloc")]
pub(super) type Dynamic<T> = MatrixSensing<T, nalgebra::Dyn, nalgebra::Dyn, nalgebra::Dyn, nalgebra::Dyn>;

#[cfg(feature = "alloc")]
impl<T: Real> super::LossBuilder<T> for Dynamic<T> {
    const HYPER: Option<(&'static str, f64)> = None;

    /// `x` is the operator (`p×nm`), `y` the measurements as one column.
    fn from_data(
        n: usize,
        m: usize,
        x: nalgebra::DMatrix<T>,
        y: nalgebra::DMatrix<T>,
        hyper: T,
    ) -> Result<Self, ProblemError> {
        let _ = hyper;
        if y.ncols() != 1 {
            return Err(ProblemError::ShapeMismatch {
                what: "sensing measurements (one column)",
                expected: (x.nrows(), 1),
                found: y.shape(),
            });
        }
        let y = nalgebra::DVector::from_column_slice(y.as_slice());
        Self::new(nalgebra::Dyn(n), nalgebra::Dyn(m), x, y)
    }

    fn infer_sizes(_: &nalgebra::DMatrix<T>, _: &nalgebra::DMatrix<T>) -> Option<(usize, usize)> {
        None
    }

    /// The operator is Gaussian whatever `design` would draw (THEORY §9.2).
    fn generate(
        s: &super::Synthetic,
        _: super::Design<'_, T>,
        theta: &mut nalgebra::DMatrix<T>,
        rng: &mut crate::init::Rng,
    ) -> Result<(nalgebra::DMatrix<T>, nalgebra::DMatrix<T>), ProblemError> {
        let mut a = nalgebra::DMatrix::<T>::zeros(s.samples, s.n.saturating_mul(s.m));
        crate::data::sensing_operator(&mut a, rng);
        let mut y = nalgebra::DVector::<T>::zeros(s.samples);
        crate::data::sensing_measurements(&a, theta, &mut y, s.theta_std, s.noise, rng)?;
        let y = nalgebra::DMatrix::from_column_slice(s.samples, 1, y.as_slice());
        Ok((a, y))
    }

    fn data(&self) -> (nalgebra::DMatrix<T>, nalgebra::DMatrix<T>) {
        let y = self.measurements();
        (
            self.operator().clone(),
            nalgebra::DMatrix::from_column_slice(y.len(), 1, y.as_slice()),
        )
    }
}
