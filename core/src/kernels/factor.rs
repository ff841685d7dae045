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
        // Tall data (millions of rows) make each column long: see `cancel`.
        if crate::cancel::requested() {
            return;
        }
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
    'sweeps: while sweeps < 64 {
        sweeps += 1;
        let mut rotated = false;
        for q in 1..p {
            // A sweep of a large matrix takes seconds: an interrupt is seen
            // between rows (the result is then partial, see `cancel`).
            if crate::cancel::requested() {
                break 'sweeps;
            }
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
        // Partial on an interrupt (see `cancel`).
        if crate::cancel::requested() {
            return false;
        }
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

/// Columns of a panel in [`householder_qr_blocked`], and columns of the
/// trailing matrix updated at a time.
const QR_BLOCKS: [(usize, usize); 2] = [(32, 32), (16, 16)];

/// Scratch length [`householder_qr_blocked`] needs for panels of `nb`
/// columns and trailing chunks of `jc` columns of a matrix with `rows` rows.
const fn qr_scratch(rows: usize, nb: usize, jc: usize) -> usize {
    rows * (nb + 2 * jc) + nb * jc + nb * nb
}

/// [`householder_qr`] by panels (LAPACK's `dgeqrf`): each panel of `nb`
/// columns is factored as before, its reflectors gathered into the compact
/// form `H₁⋯H_nb = I − V T Vᵀ`, and `Qᵀ = I − V Tᵀ Vᵀ` applied to the rest
/// of `a` and to `b` by matrix products, so that most of the `2·rows·cols²`
/// flops run at the speed of [`mm_tn`](super::mm_tn) and
/// [`mm_nn`](super::mm_nn) instead of that of `dot` and `axpy`.
///
/// The same factorization in exact arithmetic, different roundings: used
/// only when `cols > `[`QR_UNBLOCKED_MAX`] and `work` holds the panels
/// (about `rows·96` entries, or `rows·48` for half-width panels); otherwise
/// this is [`householder_qr`], bit for bit. The choice depends on the
/// sizes alone, so the result is the same bits for the same input.
pub fn householder_qr_blocked<T: Real>(
    a: &mut [T],
    rows: usize,
    cols: usize,
    mut b: Option<&mut [T]>,
    work: &mut [T],
) {
    let blocks = QR_BLOCKS
        .iter()
        .copied()
        .find(|&(nb, jc)| work.len() >= qr_scratch(rows, nb, jc));
    let Some((nb, jc)) = blocks.filter(|_| cols > QR_UNBLOCKED_MAX && rows > 0) else {
        householder_qr(a, rows, cols, b);
        return;
    };
    let steps = rows.min(cols);
    let mut k0 = 0;
    while k0 < steps {
        let nbe = nb.min(steps - k0);
        let len = rows - k0;
        let (vbuf, rest) = work.split_at_mut(len * nbe);
        let (tbuf, rest) = rest.split_at_mut(nbe * nbe);
        let (wbuf, rest) = rest.split_at_mut(nbe * jc);
        let (cbuf, rest) = rest.split_at_mut(len * jc);
        let tmp = rest.get_mut(..len * jc).unwrap_or(&mut []);
        panel(a, rows, k0, nbe, vbuf, tbuf);
        // Qᵀ applied to the columns right of the panel, then to b.
        let trailing = a.get_mut((k0 + nbe) * rows..).unwrap_or(&mut []);
        let companion = b.as_deref_mut().unwrap_or(&mut []);
        for c in trailing
            .chunks_mut(jc * rows)
            .chain(companion.chunks_mut(jc * rows))
        {
            apply_block(c, rows, k0, nbe, vbuf, tbuf, wbuf, cbuf, tmp);
        }
        k0 += nbe;
    }
}

/// Largest number of columns factored by [`householder_qr`] itself in
/// [`householder_qr_blocked`] (the sizes of the paper's experiments and of
/// the firmware keep their bits).
pub const QR_UNBLOCKED_MAX: usize = 64;

/// Factors columns `k0..k0+nb` of `a` (rows `k0..`) as [`householder_qr`]
/// does, leaving the reflectors in `v` (`(rows−k0)×nb`, unit part
/// included, zeros above) and the triangular factor `T` of
/// `H₁⋯H_nb = I − V T Vᵀ` in `t` (`nb×nb`, column-major).
fn panel<T: Real>(a: &mut [T], rows: usize, k0: usize, nb: usize, v: &mut [T], t: &mut [T]) {
    let len = rows - k0;
    v.fill(T::zero());
    t.fill(T::zero());
    for j in 0..nb {
        let k = k0 + j;
        let (left, right) = a.split_at_mut(((k + 1) * rows).min(a.len()));
        let Some(x) = left
            .chunks_exact_mut(rows)
            .nth(k)
            .and_then(|c| c.get_mut(k..))
        else {
            return;
        };
        let norm = sqrt(sum_sq(x));
        let x0 = rd(x, 0);
        if norm == T::zero() {
            // The identity: v = 0, τ = 0 (T's column stays zero).
            continue;
        }
        let alpha = if x0 > T::zero() { -norm } else { norm };
        let vnorm_sq = (norm + norm) * (norm + abs(x0));
        wr(x, 0, x0 - alpha);
        let tau = (T::one() + T::one()) / vnorm_sq;
        let xv: &[T] = x;
        // The rest of the panel.
        let panel_right = right.get_mut(..(nb - 1 - j) * rows).unwrap_or(&mut []);
        for col in panel_right.chunks_exact_mut(rows) {
            if let Some(y) = col.get_mut(k..) {
                let s = tau * dot(xv, y);
                axpy(y, -s, xv);
            }
        }
        if let Some(vj) = v
            .get_mut(j * len..(j + 1) * len)
            .and_then(|c| c.get_mut(j..))
        {
            vj.copy_from_slice(xv);
        }
        // T[0..j, j] = −τ T[0..j, 0..j] (V[:, 0..j]ᵀ v_j); T[j, j] = τ.
        let vj = v.get(j * len..(j + 1) * len).unwrap_or(&[]);
        let mut z = [T::zero(); 32];
        for (l, zl) in z.iter_mut().enumerate().take(j) {
            *zl = dot(v.get(l * len..(l + 1) * len).unwrap_or(&[]), vj);
        }
        for l in 0..j {
            let mut s = T::zero();
            for (lp, &zlp) in z.iter().enumerate().take(j).skip(l) {
                s += rd(t, l + lp * nb) * zlp;
            }
            wr(t, l + j * nb, -tau * s);
        }
        wr(t, j + j * nb, tau);
        x.fill(T::zero());
        wr(x, 0, alpha);
    }
}

/// `C ← (I − V Tᵀ Vᵀ) C` on rows `k0..` of the columns `c` (leading
/// dimension `rows`), through contiguous copies for the products.
#[allow(clippy::too_many_arguments)]
fn apply_block<T: Real>(
    c: &mut [T],
    rows: usize,
    k0: usize,
    nb: usize,
    v: &[T],
    t: &[T],
    w: &mut [T],
    cbuf: &mut [T],
    tmp: &mut [T],
) {
    let len = rows - k0;
    let ncols = c.len() / rows;
    if ncols == 0 || len == 0 {
        return;
    }
    let cb = cbuf.get_mut(..len * ncols).unwrap_or(&mut []);
    for (dst, src) in cb.chunks_exact_mut(len).zip(c.chunks_exact(rows)) {
        dst.copy_from_slice(src.get(k0..).unwrap_or(&[]));
    }
    // W = Vᵀ C (nb × ncols), then W ← Tᵀ W (Tᵀ lower triangular, in place
    // from the last row up).
    let w = w.get_mut(..nb * ncols).unwrap_or(&mut []);
    super::mm_tn(w, v, cb, nb, len);
    for wc in w.chunks_exact_mut(nb) {
        for i in (0..nb).rev() {
            let mut s = T::zero();
            for l in 0..=i {
                s += rd(t, l + i * nb) * rd(wc, l);
            }
            wr(wc, i, s);
        }
    }
    // C ← C − V W.
    let tm = tmp.get_mut(..len * ncols).unwrap_or(&mut []);
    super::mm_nn(tm, v, w, len, nb);
    for (col, upd) in c.chunks_exact_mut(rows).zip(tm.chunks_exact(len)) {
        if let Some(y) = col.get_mut(k0..) {
            for (yi, &u) in y.iter_mut().zip(upd) {
                *yi -= u;
            }
        }
    }
}
