//! Selected eigenvalues of a symmetric matrix: one reduction to tridiagonal
//! form (`≈ 4p³/3` flops), then each eigenvalue by bisection on Sturm
//! counts (`O(p)` a count), for the set-up quantities that need a few
//! eigenvalues of a large matrix (THEORY §2, §9: `μ`, `K`, the rank of
//! `X`, `‖W*‖₂`, the imbalance summaries) where the cyclic Jacobi method
//! would take several `O(p³)` sweeps.
//!
//! The count is the number of negative `LDLᵀ` pivots of `T − xI` with
//! LAPACK's `dstebz` safeguard (a pivot below `pivmin` counts as
//! `−pivmin`), backward stable: each eigenvalue is found to the absolute
//! accuracy `O(p ε ‖a‖)` that the input matrix carries from being formed.

// The dispatch macro names `simd::` only on x86-64.
#[cfg(target_arch = "x86_64")]
use super::simd;
use super::tridiagonal::{tridiagonal, Tridiagonal};
use crate::scalar::{abs, max, min, Real};

/// A symmetric matrix reduced to tridiagonal form (see the module doc):
/// counts and bisects its eigenvalues without further `O(p³)` work.
#[derive(Debug)]
pub struct SymSpectrum<'a, T> {
    /// Diagonal of the (scaled) tridiagonal.
    d: &'a [T],
    /// Squared off-diagonal, `e2[0] = 0`.
    e2: &'a [T],
    p: usize,
    t: Tridiagonal<T>,
}

/// Reduces the symmetric `p×p` `a` (full column-major storage, destroyed)
/// to tridiagonal form for [`SymSpectrum`]; `work` (length at least `p`)
/// holds part of the result. `None` when `p = 0` or a slice is too short.
pub fn sym_spectrum<'a, T: Real>(
    a: &'a mut [T],
    p: usize,
    work: &'a mut [T],
) -> Option<SymSpectrum<'a, T>> {
    let t = reduce(a, p, work)?;
    Some(SymSpectrum {
        d: a.get(..p)?,
        e2: work.get(..p)?,
        p,
        t,
    })
}

/// [`tridiagonal`] compiled for the detected instruction set.
fn reduce<T: Real>(a: &mut [T], p: usize, work: &mut [T]) -> Option<Tridiagonal<T>> {
    dispatch!(
        reduce_avx512,
        reduce_avx2,
        tridiagonal(a, p, work),
        (a, p, work)
    )
}

impl<T: Real> SymSpectrum<'_, T> {
    /// Size of the matrix.
    pub fn size(&self) -> usize {
        self.p
    }

    /// Number of negative pivots of `T − xI`, `x` in the scaled units.
    fn count_scaled(&self, x: T) -> usize {
        let pivmin = self.t.pivmin;
        let mut q = T::one();
        let mut count = 0;
        for (&d, &e2) in self.d.iter().zip(self.e2) {
            // e2[0] = 0 makes the first pivot d₀ − x exactly.
            q = (d - x) - e2 / q;
            if abs(q) < pivmin {
                q = -pivmin;
            }
            if q < T::zero() {
                count += 1;
            }
        }
        count
    }

    /// The number of eigenvalues below `x` (Sylvester's law of inertia on
    /// the computed `LDLᵀ` of `T − xI`; exact for a matrix within
    /// `O(p ε ‖a‖)` of the input).
    pub fn count_below(&self, x: T) -> usize {
        self.count_scaled(self.t.scale(x))
    }

    /// The `k`-th smallest eigenvalue (`k = 0` is `λ_min`), by bisection
    /// from the Gershgorin interval down to the rounding of the count;
    /// 0 when `k ≥ p`.
    pub fn smallest(&self, k: usize) -> T {
        if k >= self.p {
            return T::zero();
        }
        let t = &self.t;
        // Invariant: count(lo) ≤ k < count(hi).
        let mut lo = t.lo - t.atol;
        let mut hi = t.hi + t.atol;
        for _ in 0..256 {
            let tol = T::of(2.0) * T::EPSILON * max(abs(lo), abs(hi)) + t.pivmin;
            if !(hi - lo > tol) {
                break;
            }
            let mid = lo + T::of(0.5) * (hi - lo);
            if mid <= lo || mid >= hi {
                break;
            }
            if self.count_scaled(mid) > k {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let v = lo + T::of(0.5) * (hi - lo);
        t.unscale(max(t.lo, min(t.hi, v)))
    }

    /// The `k`-th largest eigenvalue (`k = 0` is `λ_max`); 0 when `k ≥ p`.
    pub fn largest(&self, k: usize) -> T {
        if k >= self.p {
            return T::zero();
        }
        self.smallest(self.p - 1 - k)
    }
}

/// The reduction compiled with wider instruction sets (the same bits).
#[cfg(target_arch = "x86_64")]
mod wide {
    use super::{tridiagonal, Real, Tridiagonal};

    #[target_feature(enable = "avx2")]
    pub fn reduce_avx2<T: Real>(a: &mut [T], p: usize, work: &mut [T]) -> Option<Tridiagonal<T>> {
        tridiagonal(a, p, work)
    }

    #[target_feature(enable = "avx512f")]
    pub fn reduce_avx512<T: Real>(a: &mut [T], p: usize, work: &mut [T]) -> Option<Tridiagonal<T>> {
        tridiagonal(a, p, work)
    }
}
