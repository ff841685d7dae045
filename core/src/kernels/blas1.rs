//! Vector kernels (BLAS level 1) with the fixed summation order of
//! [`dot`]: eight interleaved partial sums combined by a fixed tree.

use crate::scalar::{abs, Real};

/// Eight-lane dot product with a fixed combination order.
#[inline]
pub fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    dot_inlined(a, b)
}

/// [`dot`], always inlined: for the fixed-size loops of
/// [`tridiagonal_small`](super::tridiagonal::tridiagonal_small), where a call costs more than the arithmetic.
/// (Inlining every `dot` made the step slower.)
#[inline(always)]
pub(super) fn dot_inlined<T: Real>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::zero(); 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for ((s, &xi), &yi) in acc.iter_mut().zip(x).zip(y) {
            *s += xi * yi;
        }
    }
    for ((s, &xi), &yi) in acc.iter_mut().zip(ra).zip(rb) {
        *s += xi * yi;
    }
    let [a0, a1, a2, a3, a4, a5, a6, a7] = acc;
    ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7))
}

/// `Σ aᵢ²` with the order of [`dot`].
#[inline]
pub fn sum_sq<T: Real>(a: &[T]) -> T {
    dot(a, a)
}

/// `y ← y + s·x`.
#[inline]
pub fn axpy<T: Real>(y: &mut [T], s: T, x: &[T]) {
    axpy_inlined(y, s, x)
}

/// [`axpy`], always inlined (as [`dot_inlined`]).
#[inline(always)]
pub(super) fn axpy_inlined<T: Real>(y: &mut [T], s: T, x: &[T]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += s * xi;
    }
}

/// [`axpy`] (the same bits), returning whether any entry of `y` changed:
/// `false` when every `s·xᵢ` is below the resolution of `yᵢ`.
#[inline]
pub fn axpy_moved<T: Real>(y: &mut [T], s: T, x: &[T]) -> bool {
    let mut moved = false;
    for (yi, &xi) in y.iter_mut().zip(x) {
        let v = *yi + s * xi;
        moved |= v != *yi;
        *yi = v;
    }
    moved
}

/// `Σ (aᵢ − bᵢ)²` with the order of [`dot`].
#[inline]
pub fn sum_sq_diff<T: Real>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::zero(); 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for ((s, &xi), &yi) in acc.iter_mut().zip(x).zip(y) {
            let d = xi - yi;
            *s += d * d;
        }
    }
    for ((s, &xi), &yi) in acc.iter_mut().zip(ra).zip(rb) {
        let d = xi - yi;
        *s += d * d;
    }
    let [a0, a1, a2, a3, a4, a5, a6, a7] = acc;
    ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7))
}

/// Compensated (Neumaier) sum of an iterator: the error does not grow with
/// the number of terms, which keeps `ℓ − ℓ*` meaningful near the minimum
/// for the losses whose gap is a difference of two sums (THEORY §11).
#[inline]
pub fn compensated_sum<T: Real>(terms: impl IntoIterator<Item = T>) -> T {
    let mut s = T::zero();
    let mut c = T::zero();
    for x in terms {
        let t = s + x;
        if abs(s) >= abs(x) {
            c += (s - t) + x;
        } else {
            c += (x - t) + s;
        }
        s = t;
    }
    s + c
}
