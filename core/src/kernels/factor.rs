//! Dense factorizations of small matrices: Householder QR, triangular
//! solves, cyclic Jacobi eigenvalues and Gram–Schmidt (THEORY §2).

use super::{axpy, dot, rd, sum_sq, wr};
use crate::scalar::{abs, sqrt, Real};

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
