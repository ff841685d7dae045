//! Small dense linear algebra on typed matrices, built on [`crate::kernels`].

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim, OMatrix, OVector};

use crate::kernels;
use crate::scalar::{pos, sqrt, Real};

/// Norms and extreme singular values of a small matrix.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MatrixNorms<T> {
    /// `‖W‖₂ = σ₁(W)`.
    pub spectral: T,
    /// `‖W‖` (Frobenius).
    pub frobenius: T,
    /// `σ_min(W)`, the `min(r, c)`-th singular value.
    pub sigma_min: T,
    /// Numerical rank: singular values above `max(r, c)·ε·σ₁`.
    pub rank: usize,
}

/// `C = WᵀW` (c×c).
pub fn gram_cols<T: Real, R: Dim, C: Dim>(w: &OMatrix<T, R, C>, out: &mut OMatrix<T, C, C>)
where
    DefaultAllocator: Allocator<R, C> + Allocator<C, C>,
{
    let (r, c) = w.shape();
    kernels::mm_tn(out.as_mut_slice(), w.as_slice(), w.as_slice(), c, r);
}

/// `C = WWᵀ` (r×r).
pub fn gram_rows<T: Real, R: Dim, C: Dim>(w: &OMatrix<T, R, C>, out: &mut OMatrix<T, R, R>)
where
    DefaultAllocator: Allocator<R, C> + Allocator<R, R>,
{
    let (r, c) = w.shape();
    kernels::gram_nt(out.as_mut_slice(), w.as_slice(), r, c);
}

/// Eigenvalues (descending) of the symmetric `a`, which is destroyed.
pub fn sym_eigenvalues<T: Real, D: Dim>(a: &mut OMatrix<T, D, D>, eig: &mut OVector<T, D>)
where
    DefaultAllocator: Allocator<D, D> + Allocator<D>,
{
    let p = a.nrows();
    kernels::sym_eigen(a.as_mut_slice(), p, eig.as_mut_slice(), None);
}

/// Squared singular values of `w` (descending, length `c`) from the
/// eigenvalues of `WᵀW`, using `gram` as scratch. Rounding negatives are
/// clamped to zero.
pub fn singular_values_sq<T: Real, R: Dim, C: Dim>(
    w: &OMatrix<T, R, C>,
    gram: &mut OMatrix<T, C, C>,
    out: &mut OVector<T, C>,
) where
    DefaultAllocator: Allocator<R, C> + Allocator<C, C> + Allocator<C>,
{
    gram_cols(w, gram);
    sym_eigenvalues(gram, out);
    for x in out.iter_mut() {
        *x = pos(*x);
    }
}

/// Norms of `w`. Allocates its scratch (use at set-up, not in a loop).
pub fn matrix_norms<T: Real, R: Dim, C: Dim>(w: &OMatrix<T, R, C>) -> MatrixNorms<T>
where
    DefaultAllocator: Allocator<R, C> + Allocator<C, C> + Allocator<C>,
{
    let (r, c) = w.shape();
    let (_, cd) = w.shape_generic();
    let mut gram = OMatrix::<T, C, C>::zeros_generic(cd, cd);
    let mut s2 = OVector::<T, C>::zeros_generic(cd, nalgebra::U1);
    singular_values_sq(w, &mut gram, &mut s2);
    let spectral = sqrt(s2.as_slice().first().copied().unwrap_or_else(T::zero));
    let k = r.min(c);
    let sigma_min = if k == 0 {
        T::zero()
    } else {
        sqrt(s2.as_slice().get(k - 1).copied().unwrap_or_else(T::zero))
    };
    // Singular values from a Gram matrix resolve down to about √ε·σ₁.
    let thresh = T::of_usize(r.max(c)) * sqrt(T::EPSILON) * spectral;
    let rank = s2.iter().take(k).filter(|&&x| sqrt(x) > thresh).count();
    MatrixNorms {
        spectral,
        frobenius: sqrt(kernels::sum_sq(w.as_slice())),
        sigma_min,
        rank,
    }
}
