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

/// Largest size whose set-up eigenvalues come from the cyclic Jacobi
/// method ([`kernels::sym_eigen`], every eigenvalue, high relative accuracy,
/// several `O(p³)` sweeps with strided access); above it they come from one
/// reduction to tridiagonal form and bisection ([`kernels::sym_spectrum`]),
/// which is what makes the set-up of large problems take a fraction of a
/// second instead of tens of seconds. The paper's experiments and the
/// firmware stay below it and keep their bits.
pub const JACOBI_MAX: usize = 64;

/// Eigenvalue queries on a symmetric matrix (THEORY §2): every eigenvalue
/// by Jacobi up to [`JACOBI_MAX`], selected ones by bisection above.
#[derive(Debug)]
pub enum SelectedEigen<'a, T> {
    /// Every eigenvalue, descending.
    All(&'a [T]),
    /// The tridiagonal form, for counts and bisection.
    Bisect(kernels::SymSpectrum<'a, T>),
}

impl<'a, T: Real> SelectedEigen<'a, T> {
    /// Prepares the queries on the symmetric `p×p` `a` (destroyed), with
    /// `eig` (length at least `p`) as storage.
    pub fn new(a: &'a mut [T], p: usize, eig: &'a mut [T]) -> Self {
        if p <= JACOBI_MAX {
            kernels::sym_eigen(a, p, eig, None);
            return Self::All(eig.get(..p).unwrap_or(&[]));
        }
        match kernels::sym_spectrum(a, p, eig) {
            Some(s) => Self::Bisect(s),
            None => Self::All(&[]),
        }
    }

    /// Size of the matrix.
    pub fn size(&self) -> usize {
        match self {
            Self::All(e) => e.len(),
            Self::Bisect(s) => s.size(),
        }
    }

    /// The `k`-th largest eigenvalue (`k = 0`: `λ_max`); 0 past the end.
    pub fn largest(&self, k: usize) -> T {
        match self {
            Self::All(e) => e.get(k).copied().unwrap_or_else(T::zero),
            Self::Bisect(s) => s.largest(k),
        }
    }

    /// The `k`-th smallest eigenvalue (`k = 0`: `λ_min`); 0 past the end.
    pub fn smallest(&self, k: usize) -> T {
        let p = self.size();
        if k >= p {
            return T::zero();
        }
        self.largest(p - 1 - k)
    }

    /// The number of eigenvalues above `x`.
    pub fn count_above(&self, x: T) -> usize {
        match self {
            Self::All(e) => e.iter().filter(|&&l| l > x).count(),
            Self::Bisect(s) => s.size() - s.count_below(x),
        }
    }
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
    gram_cols(w, &mut gram);
    let eig = SelectedEigen::new(gram.as_mut_slice(), c, s2.as_mut_slice());
    let spectral = sqrt(pos(eig.largest(0)));
    let k = r.min(c);
    let sigma_min = if k == 0 {
        T::zero()
    } else {
        sqrt(pos(eig.largest(k - 1)))
    };
    // Singular values from a Gram matrix resolve down to about √ε·σ₁.
    let thresh = T::of_usize(r.max(c)) * sqrt(T::EPSILON) * spectral;
    let rank = match &eig {
        SelectedEigen::All(e) => e.iter().take(k).filter(|&&x| sqrt(pos(x)) > thresh).count(),
        SelectedEigen::Bisect(_) => eig.count_above(thresh * thresh).min(k),
    };
    MatrixNorms {
        spectral,
        frobenius: sqrt(kernels::sum_sq(w.as_slice())),
        sigma_min,
        rank,
    }
}
