//! Dense kernels on column-major slices: the one place where the core's
//! floating-point work happens.
//!
//! Every reduction has a fixed summation order that does not depend on the
//! matrix dimension type (`Const` or `Dyn`), on the target or on the
//! optimizer's vectorization: sums over the inner index run in index order,
//! except [`dot`], which uses eight interleaved partial sums combined by a
//! fixed tree. That is what makes a fixed-size run on a Cortex-M and a
//! run-time-size run on a desktop produce identical bits.
//!
//! Nothing here indexes with `[]`: sizes are trusted from the typed callers,
//! and a slice that is too short truncates the loop instead of panicking.

use crate::scalar::{abs, sqrt, Real};

/// Eight-lane dot product with a fixed combination order.
#[inline]
pub fn dot<T: Real>(a: &[T], b: &[T]) -> T {
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
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += s * xi;
    }
}

/// `C = A·B` with `A: r×k`, `B: k×c`, `C: r×c`.
pub fn mm_nn<T: Real>(c: &mut [T], a: &[T], b: &[T], r: usize, k: usize) {
    if r == 0 {
        return;
    }
    if k == 0 {
        c.fill(T::zero());
        return;
    }
    for (c_col, b_col) in c.chunks_exact_mut(r).zip(b.chunks_exact(k)) {
        c_col.fill(T::zero());
        for (a_col, &bkj) in a.chunks_exact(r).zip(b_col) {
            axpy(c_col, bkj, a_col);
        }
    }
}

/// `C = Aᵀ·B` with `A: k×r`, `B: k×c`, `C: r×c` (dot products of columns).
pub fn mm_tn<T: Real>(c: &mut [T], a: &[T], b: &[T], r: usize, k: usize) {
    if r == 0 {
        return;
    }
    if k == 0 {
        c.fill(T::zero());
        return;
    }
    for (c_col, b_col) in c.chunks_exact_mut(r).zip(b.chunks_exact(k)) {
        for (cij, a_col) in c_col.iter_mut().zip(a.chunks_exact(k)) {
            *cij = dot(a_col, b_col);
        }
    }
}

/// `C = A·Bᵀ` with `A: r×k`, `B: c×k`, `C: r×c`.
pub fn mm_nt<T: Real>(c: &mut [T], a: &[T], b: &[T], r: usize, k: usize) {
    if r == 0 {
        return;
    }
    if k == 0 {
        c.fill(T::zero());
        return;
    }
    let cols = c.len() / r;
    for (j, c_col) in c.chunks_exact_mut(r).enumerate() {
        c_col.fill(T::zero());
        for (kk, a_col) in a.chunks_exact(r).enumerate() {
            let bjk = b.get(j + kk * cols).copied().unwrap_or_else(T::zero);
            axpy(c_col, bjk, a_col);
        }
    }
}

#[inline]
fn rd<T: Real>(a: &[T], i: usize) -> T {
    a.get(i).copied().unwrap_or_else(T::zero)
}

#[inline]
fn wr<T: Real>(a: &mut [T], i: usize, v: T) {
    if let Some(x) = a.get_mut(i) {
        *x = v;
    }
}

/// Householder QR in place (THEORY §2, thin QR of `F`).
///
/// On return the upper triangle of `a` (`rows×cols`, column-major) holds
/// `R`, everything below the diagonal is zero, and `Qᵀ` has been applied to
/// the companion matrix `b` (`rows×q`) when one is given. Columns that are
/// already zero below the diagonal are left as they are, so rank-deficient
/// inputs are fine.
pub fn householder_qr<T: Real>(a: &mut [T], rows: usize, cols: usize, mut b: Option<&mut [T]>) {
    if rows == 0 {
        return;
    }
    let steps = rows.min(cols);
    for k in 0..steps {
        let (left, right) = a.split_at_mut(((k + 1) * rows).min(a.len()));
        let Some(col_k) = left.chunks_exact_mut(rows).nth(k) else {
            return;
        };
        let Some(x) = col_k.get_mut(k..) else {
            return;
        };
        let norm = sqrt(sum_sq(x));
        let x0 = rd(x, 0);
        if norm == T::zero() {
            continue;
        }
        let alpha = if x0 > T::zero() { -norm } else { norm };
        let v0 = x0 - alpha;
        // ‖v‖² = ‖x‖² − x0² + v0² = 2 norm (norm + |x0|), computed without cancellation.
        let vnorm_sq = (norm + norm) * (norm + abs(x0));
        wr(x, 0, v0);
        let tau = (T::one() + T::one()) / vnorm_sq;
        let v: &[T] = x;
        for col_j in right.chunks_exact_mut(rows) {
            if let Some(y) = col_j.get_mut(k..) {
                let s = tau * dot(v, y);
                axpy(y, -s, v);
            }
        }
        if let Some(b) = b.as_deref_mut() {
            for col_j in b.chunks_exact_mut(rows) {
                if let Some(y) = col_j.get_mut(k..) {
                    let s = tau * dot(v, y);
                    axpy(y, -s, v);
                }
            }
        }
        x.fill(T::zero());
        wr(x, 0, alpha);
    }
}

/// Solves the upper-triangular system `R X = B` in place of `B`, where `R` is
/// the leading `p×p` block of `r` (leading dimension `ldr`) and `B` is
/// `p×q` inside a matrix of leading dimension `ldb`. Returns `false` when a
/// diagonal entry is zero.
pub fn back_substitute<T: Real>(r: &[T], ldr: usize, p: usize, b: &mut [T], ldb: usize) -> bool {
    if ldb == 0 {
        return true;
    }
    for col in b.chunks_exact_mut(ldb) {
        for i in (0..p).rev() {
            let mut s = rd(col, i);
            for j in i + 1..p {
                s -= rd(r, i + j * ldr) * rd(col, j);
            }
            let d = rd(r, i + i * ldr);
            if d == T::zero() {
                return false;
            }
            wr(col, i, s / d);
        }
    }
    true
}

/// Eigenvalues (and optionally eigenvectors) of the symmetric `p×p` matrix
/// `a` by the cyclic Jacobi method, which is accurate to high relative
/// precision on the positive semi-definite Gram matrices of THEORY §2.
///
/// `a` is destroyed. On return `eig` (length `p`) holds the eigenvalues in
/// descending order and, if given, the columns of `v` (`p×p`) the matching
/// orthonormal eigenvectors. Returns the number of sweeps used.
pub fn sym_eigen<T: Real>(a: &mut [T], p: usize, eig: &mut [T], mut v: Option<&mut [T]>) -> usize {
    if let Some(v) = v.as_deref_mut() {
        v.fill(T::zero());
        for i in 0..p {
            wr(v, i + i * p, T::one());
        }
    }
    let mut sweeps = 0;
    while sweeps < 64 {
        sweeps += 1;
        let mut rotated = false;
        for q in 1..p {
            for pp in 0..q {
                let apq = rd(a, pp + q * p);
                let app = rd(a, pp + pp * p);
                let aqq = rd(a, q + q * p);
                // Skip entries that are negligible against the diagonal: this
                // threshold gives the relative accuracy of Jacobi's method.
                if apq == T::zero()
                    || abs(apq) <= T::EPSILON * sqrt(abs(app) * abs(aqq)) * T::of(0.5)
                {
                    if apq != T::zero() {
                        wr(a, pp + q * p, T::zero());
                        wr(a, q + pp * p, T::zero());
                    }
                    continue;
                }
                rotated = true;
                let theta = (aqq - app) / (apq + apq);
                let t = if abs(theta) > T::one() / T::EPSILON {
                    T::one() / (theta + theta)
                } else {
                    let s = sqrt(theta * theta + T::one());
                    let t = T::one() / (abs(theta) + s);
                    if theta < T::zero() {
                        -t
                    } else {
                        t
                    }
                };
                let c = T::one() / sqrt(t * t + T::one());
                let s = t * c;
                for k in 0..p {
                    let akp = rd(a, k + pp * p);
                    let akq = rd(a, k + q * p);
                    wr(a, k + pp * p, c * akp - s * akq);
                    wr(a, k + q * p, s * akp + c * akq);
                }
                for k in 0..p {
                    let apk = rd(a, pp + k * p);
                    let aqk = rd(a, q + k * p);
                    wr(a, pp + k * p, c * apk - s * aqk);
                    wr(a, q + k * p, s * apk + c * aqk);
                }
                wr(a, pp + q * p, T::zero());
                wr(a, q + pp * p, T::zero());
                if let Some(v) = v.as_deref_mut() {
                    for k in 0..p {
                        let vkp = rd(v, k + pp * p);
                        let vkq = rd(v, k + q * p);
                        wr(v, k + pp * p, c * vkp - s * vkq);
                        wr(v, k + q * p, s * vkp + c * vkq);
                    }
                }
            }
        }
        if !rotated {
            break;
        }
    }
    for (i, e) in eig.iter_mut().enumerate().take(p) {
        *e = rd(a, i + i * p);
    }
    // Insertion sort, descending, carrying eigenvectors along (p is small).
    for i in 1..p.min(eig.len()) {
        let mut j = i;
        while j > 0 && rd(eig, j - 1) < rd(eig, j) {
            eig.swap(j - 1, j);
            if let Some(v) = v.as_deref_mut() {
                for k in 0..p {
                    let x = rd(v, k + (j - 1) * p);
                    let y = rd(v, k + j * p);
                    wr(v, k + (j - 1) * p, y);
                    wr(v, k + j * p, x);
                }
            }
            j -= 1;
        }
    }
    sweeps
}

/// Modified Gram–Schmidt with one re-orthogonalization pass on the columns
/// of `a` (`rows×cols`, `rows ≥ cols`). Returns `false` if a column became
/// numerically zero (the input was rank-deficient).
pub fn orthonormalize_columns<T: Real>(a: &mut [T], rows: usize) -> bool {
    if rows == 0 {
        return true;
    }
    let cols = a.len() / rows;
    for k in 0..cols {
        let (done, rest) = a.split_at_mut(k * rows);
        let Some(col) = rest.get_mut(..rows) else {
            return false;
        };
        for _pass in 0..2 {
            for q in done.chunks_exact(rows) {
                let s = dot(q, col);
                axpy(col, -s, q);
            }
        }
        let n = sqrt(sum_sq(col));
        if !(n > T::zero()) {
            return false;
        }
        let inv = T::one() / n;
        for x in col.iter_mut() {
            *x *= inv;
        }
    }
    true
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
