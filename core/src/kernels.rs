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

use crate::scalar::{abs, max, min, sqrt, Real};

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

/// Extreme eigenvalues `(λ_min, λ_max)` of the symmetric `p×p` matrix `a`
/// (full column-major storage), the only ones the per-step certificate needs
/// (THEORY §2: `α_t`, `β_t`, `‖G‖₂`).
///
/// Householder reduction to tridiagonal form (`≈ 2p³` flops, against
/// `≈ 15p³` for a few Jacobi sweeps), then Laguerre's iteration on the
/// characteristic polynomial from outside the Gershgorin interval, which for
/// a polynomial with real roots converges monotonically to the extreme root
/// (cubically for a simple one, in one step for a multiple one). The
/// polynomial and its derivatives are evaluated through the `LDLᵀ` pivots of
/// `T − xI`, the backward-stable recurrence of Sturm-count bisection, so each
/// eigenvalue is exact for a matrix within `O(p ε ‖a‖)` of `a`: the absolute
/// accuracy the Gram matrix carries from being formed. With
/// `want_min = false` only `λ_max` is computed (`λ_min` is returned as 0).
///
/// `a` is destroyed; `work` (length at least `p`) is scratch. Every loop has
/// a fixed order and a fixed stopping rule, so the result is the same bits
/// on every target.
pub fn sym_extremes<T: Real>(a: &mut [T], p: usize, work: &mut [T], want_min: bool) -> (T, T) {
    if p == 0 {
        return (T::zero(), T::zero());
    }
    tridiagonalize(a, p, work);
    // Diagonal d_i = a_ii, off-diagonal e_i = a_{i+1,i}.
    let d = |i: usize| rd(a, i + i * p);
    let e = |i: usize| rd(a, i + 1 + i * p);
    let mut lo = T::zero();
    let mut hi = T::zero();
    let mut emax_sq = T::zero();
    for i in 0..p {
        let left = if i > 0 { abs(e(i - 1)) } else { T::zero() };
        let right = if i + 1 < p { abs(e(i)) } else { T::zero() };
        let r = left + right;
        if i == 0 || d(i) - r < lo {
            lo = d(i) - r;
        }
        if i == 0 || d(i) + r > hi {
            hi = d(i) + r;
        }
        if i + 1 < p {
            emax_sq = max(emax_sq, e(i) * e(i));
        }
    }
    // Pivots below `pivmin` are replaced by −pivmin (LAPACK's dstebz).
    let pivmin = T::MIN_POSITIVE * max(T::one(), emax_sq);
    let atol = T::EPSILON * max(abs(lo), abs(hi)) + pivmin;
    let pt = T::of_usize(p);
    // Laguerre from outside the spectrum towards each wanted end; the two
    // ends are independent recurrences run in lockstep (their divisions
    // overlap), each stopping on its own rule.
    let mut x = [hi + atol, lo - atol];
    let mut active = [true, want_min];
    for _ in 0..128 {
        // G = f'/f and f''/f of f(x) = det(T − xI) = Π qᵢ, from the pivots
        // qᵢ = dᵢ − x − e²ᵢ₋₁/qᵢ₋₁ and their x-derivatives.
        let mut g = [T::zero(); 2];
        let mut f2 = [T::zero(); 2];
        let mut r = [T::zero(); 2];
        let mut dq = [T::zero(); 2];
        let mut d2q = [T::zero(); 2];
        // Negative pivots: the number of eigenvalues below x (Sturm count).
        let mut below = [0usize; 2];
        for i in 0..p {
            let di = d(i);
            let e2 = if i > 0 {
                e(i - 1) * e(i - 1)
            } else {
                T::zero()
            };
            for ((((xj, rj), dqj), d2qj), ((gj, f2j), bj)) in x
                .iter()
                .zip(r.iter_mut())
                .zip(dq.iter_mut())
                .zip(d2q.iter_mut())
                .zip(g.iter_mut().zip(f2.iter_mut()).zip(below.iter_mut()))
            {
                let (q, dqi, d2qi) = if i == 0 {
                    (di - *xj, -T::one(), T::zero())
                } else {
                    let r2 = *rj * *rj;
                    (
                        di - *xj - e2 * *rj,
                        e2 * *dqj * r2 - T::one(),
                        e2 * (*d2qj * r2 - (*dqj + *dqj) * *dqj * r2 * *rj),
                    )
                };
                let q = if abs(q) < pivmin { -pivmin } else { q };
                if q < T::zero() {
                    *bj += 1;
                }
                *rj = T::one() / q;
                *dqj = dqi;
                *d2qj = d2qi;
                let s = dqi * *rj;
                *gj += s;
                *f2j += d2qi * *rj - s * s;
            }
        }
        let outside = [below[0] == p, below[1] == 0];
        for ((((xj, act), &gj), &f2j), &out) in x
            .iter_mut()
            .zip(active.iter_mut())
            .zip(&g)
            .zip(&f2)
            .zip(&outside)
        {
            if !*act {
                continue;
            }
            // Monotone from outside in exact arithmetic: x inside the
            // spectrum means rounding carried it past the end, within the
            // last (rounding-sized) step.
            if !out {
                *act = false;
                continue;
            }
            // H = G² − f''/f = −Σ (qᵢ'/qᵢ)'.
            let disc = sqrt(max(T::zero(), (pt - T::one()) * (-pt * f2j - gj * gj)));
            let den = if gj >= T::zero() {
                gj + disc
            } else {
                gj - disc
            };
            if !(abs(den) > T::zero()) || !den.finite() {
                *act = false;
                continue;
            }
            // From outside the spectrum |G| = Σ 1/|x − λᵢ| ≥ 1/dist, so the
            // end is within p/|G| of x: stop once that is below rounding
            // (a step-size rule would stop early near a multiple root,
            // where Laguerre converges only linearly).
            let dist_bound = pt / abs(gj);
            let next = *xj - pt / den;
            if !(dist_bound > T::EPSILON * abs(next) + atol) || next == *xj {
                *act = false;
            }
            *xj = next;
        }
        if !(active[0] || active[1]) {
            break;
        }
    }
    // The Gershgorin interval holds every eigenvalue.
    let clamp = |v: T| max(lo, min(hi, v));
    let [lmax, lmin] = x;
    (if want_min { clamp(lmin) } else { T::zero() }, clamp(lmax))
}

/// Householder reduction of the symmetric `p×p` `a` to tridiagonal form in
/// place: on return the diagonal and first sub-diagonal of `a` hold the
/// tridiagonal matrix (the rest is not meaningful). `work` (length ≥ `p`)
/// is scratch.
fn tridiagonalize<T: Real>(a: &mut [T], p: usize, work: &mut [T]) {
    for k in 0..p.saturating_sub(2) {
        let (left, right) = a.split_at_mut(((k + 1) * p).min(a.len()));
        let Some(col_k) = left.chunks_exact_mut(p).nth(k) else {
            return;
        };
        let Some(x) = col_k.get_mut(k + 1..) else {
            return;
        };
        let norm = sqrt(sum_sq(x));
        if norm == T::zero() {
            continue;
        }
        let x0 = rd(x, 0);
        let alpha = if x0 > T::zero() { -norm } else { norm };
        wr(x, 0, x0 - alpha);
        let tau = (T::one() + T::one()) / ((norm + norm) * (norm + abs(x0)));
        let v: &[T] = x;
        let len = p - k - 1;
        let Some(w) = work.get_mut(..len) else {
            return;
        };
        // q = τ A₂₂ v (A₂₂ symmetric: its columns are its rows).
        for (wi, col) in w.iter_mut().zip(right.chunks_exact(p)) {
            *wi = tau * dot(col.get(k + 1..).unwrap_or(&[]), v);
        }
        // w = q − (τ/2)(qᵀv) v.
        let kk = T::of(0.5) * tau * dot(w, v);
        axpy(w, -kk, v);
        // A₂₂ ← A₂₂ − v wᵀ − w vᵀ.
        for (col, (&wj, &vj)) in right.chunks_exact_mut(p).zip(w.iter().zip(v)) {
            if let Some(c) = col.get_mut(k + 1..) {
                axpy(c, -wj, v);
                axpy(c, -vj, w);
            }
        }
        if let Some(x) = col_k.get_mut(k + 1..) {
            x.fill(T::zero());
            wr(x, 0, alpha);
        }
    }
}
