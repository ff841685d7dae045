//! Householder reduction of a symmetric matrix to tridiagonal form, with
//! the exact power-of-two scalings that keep it in range, and the
//! Gershgorin bounds and tolerances Laguerre's iteration starts from.

use super::laguerre::THREE_TERM_MAX;
use super::{axpy, axpy_inlined, dot, dot_inlined, rd, sum_sq, wr};
use crate::scalar::{abs, max, sqrt, Real};

/// Bounds of the spectrum of a tridiagonal matrix and the tolerances of
/// the iteration on it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tridiagonal<T> {
    /// Gershgorin interval.
    pub(super) lo: T,
    pub(super) hi: T,
    /// Pivots below this are replaced by −pivmin (LAPACK's dstebz).
    pub(super) pivmin: T,
    /// Absolute accuracy the reduction leaves: ε‖T‖.
    pub(super) atol: T,
    /// The matrix was scaled by `2^-exp` (exactly): eigenvalues are
    /// `2^exp` times those of `T`.
    pub(super) exp: i32,
}

impl<T: Real> Tridiagonal<T> {
    /// Gershgorin bounds and tolerances of the `p×p` tridiagonal with
    /// diagonal `d(i)` and off-diagonal `e(i)` (between rows `i`, `i+1`).
    #[inline(always)]
    fn bound(p: usize, d: impl Fn(usize) -> T, e: impl Fn(usize) -> T, exp: i32) -> Self {
        let mut lo = T::zero();
        let mut hi = T::zero();
        let mut emax_sq = T::zero();
        for i in 0..p {
            let left = if i > 0 { abs(e(i - 1)) } else { T::zero() };
            let right = if i + 1 < p { abs(e(i)) } else { T::zero() };
            let r = left + right;
            let di = d(i);
            if i == 0 || di - r < lo {
                lo = di - r;
            }
            if i == 0 || di + r > hi {
                hi = di + r;
            }
            if i + 1 < p {
                emax_sq = max(emax_sq, e(i) * e(i));
            }
        }
        let pivmin = T::MIN_POSITIVE * max(T::one(), emax_sq);
        Tridiagonal {
            lo,
            hi,
            pivmin,
            atol: T::EPSILON * max(abs(lo), abs(hi)) + pivmin,
            exp,
        }
    }

    /// A number in the units of the input matrix in those of `T`.
    pub(super) fn scale(&self, v: T) -> T {
        if self.exp == 0 {
            v
        } else {
            T::of(v.to_f64() * pow2(-self.exp))
        }
    }

    /// An eigenvalue of `T` back in the units of the input matrix.
    pub(super) fn unscale(&self, v: T) -> T {
        if self.exp == 0 {
            v
        } else {
            T::of(v.to_f64() * pow2(self.exp))
        }
    }
}

/// `2^e` in `f64` (0 or ∞ outside the normal range).
pub(super) fn pow2(e: i32) -> f64 {
    if e > 1023 {
        f64::INFINITY
    } else if e < -1022 {
        0.0
    } else {
        f64::from_bits(((1023 + e) as u64) << 52)
    }
}

/// `true` when a sum of squares is comfortably inside the normal range of
/// `T` (a margin of 2⁴⁰ on both sides), so its square root and the
/// Householder factor built from it are accurate and finite.
pub(super) fn square_safe_sum<T: Real>(sq: T) -> bool {
    let margin = T::of(1_099_511_627_776.0); // 2⁴⁰
    sq > T::MIN_POSITIVE * margin && (sq * margin).finite()
}

/// `true` when a matrix whose largest entry is `amax` can go through the
/// reduction and Laguerre's recurrence unscaled: the recurrence forms cubes
/// of pivot reciprocals, from `1/amax` (must not underflow) down to pivots
/// of `ε·amax` (must not overflow); squares of entries are then in range
/// too. In f64 that is about `1e-90 ≤ amax ≤ 1e90`.
pub(super) fn scale_safe<T: Real>(amax: T) -> bool {
    let margin = T::of(1_099_511_627_776.0); // 2⁴⁰
    let u = T::one() / amax;
    let t = u / T::EPSILON;
    u * u * u > T::MIN_POSITIVE * margin && (t * t * t * margin).finite()
}

/// The power of two `2^-e` that brings `m > 0` into `[0.5, 1)`, with `e`;
/// `None` when `m` is zero, not finite, subnormal, or the power is not
/// representable in `T`. Multiplying by it is exact (barring underflow of
/// much smaller numbers), so scaling a matrix by it changes no bit of what
/// follows.
pub(super) fn pow2_scale<T: Real>(m: T) -> Option<(T, i32)> {
    if !(m > T::zero()) || !m.finite() {
        return None;
    }
    let biased = ((m.to_f64().to_bits() >> 52) & 0x7ff) as i32;
    if biased == 0 {
        return None;
    }
    let e = biased - 1022;
    let s = T::of(pow2(-e));
    (s.finite() && s > T::zero()).then_some((s, e))
}

/// Reduces the symmetric `p×p` `a` to tridiagonal form and lays it out for
/// [`laguerre`](super::laguerre::laguerre): on return `a[..p]` holds the diagonal `dᵢ` and `work[..p]`
/// the squared off-diagonal `e²ᵢ₋₁` (`e²₋₁ = 0`). `None` when `p = 0`.
#[inline(always)]
pub(super) fn tridiagonal<T: Real>(
    a: &mut [T],
    p: usize,
    work: &mut [T],
) -> Option<Tridiagonal<T>> {
    if p == 0 || a.len() < p * p || work.len() < p {
        return None;
    }
    // Scale by a power of two so the largest entry is in [0.5, 1): squares
    // of entries can then neither overflow nor (for the entries that
    // matter) underflow, whatever the scale of the input.
    let amax = a.iter().take(p * p).fold(T::zero(), |m, &x| max(m, abs(x)));
    // (Always for the sizes whose characteristic polynomial is evaluated
    // by the three-term recurrence, whose range depends on it.)
    let scale = if p > THREE_TERM_MAX && scale_safe(amax) {
        None
    } else {
        pow2_scale(amax)
    };
    let exp = match scale {
        Some((s, e)) => {
            for x in a.iter_mut().take(p * p) {
                *x *= s;
            }
            e
        }
        None => 0,
    };
    tridiagonalize(a, p, work);
    Some(finish_tridiagonal(a, p, work, exp))
}

/// The tail of [`tridiagonal`] once `a` holds the reduced matrix (scaled
/// by `2^-exp`): bounds, tolerances and the layout for [`laguerre`](super::laguerre::laguerre).
#[inline(always)]
pub(super) fn finish_tridiagonal<T: Real>(
    a: &mut [T],
    p: usize,
    work: &mut [T],
    exp: i32,
) -> Tridiagonal<T> {
    // Diagonal d_i = a_ii, off-diagonal e_i = a_{i+1,i}.
    let t = Tridiagonal::bound(p, |i| rd(a, i + i * p), |i| rd(a, i + 1 + i * p), exp);
    for (w, i) in work.iter_mut().zip(0..p) {
        *w = if i > 0 {
            let e = rd(a, i + (i - 1) * p);
            e * e
        } else {
            T::zero()
        };
    }
    // dᵢ moves to a[i]; the diagonal entries still to be read sit at
    // j(p+1) > i, so none is overwritten before it is read.
    for i in 0..p {
        let di = rd(a, i + i * p);
        wr(a, i, di);
    }
    t
}

/// [`tridiagonal`] of `K` matrices of size `P ≤ 4` at once, on copies in
/// fixed-size arrays: the same operations in the same order as `K` calls
/// (the same bits), but the `K` chains of dependent operations (a
/// reflector needs the square root and the division of the one before)
/// interleaved, and none of the bounds and loop bookkeeping that dominate
/// the general code at these sizes. A matrix with a column that would need
/// the general routine's rescaling goes through [`tridiagonal`] instead.
/// Out of line, so compiled for the baseline instruction set: wider
/// instruction sets turn these short loops into masked moves, which are
/// slow on some processors.
#[inline(never)]
#[allow(clippy::indexing_slicing, clippy::needless_range_loop)] // every index is below P or K, the arrays' lengths
pub(super) fn tridiagonal_small<T: Real, const P: usize, const K: usize>(
    mats: [&mut [T]; K],
    works: [&mut [T]; K],
) -> [Option<Tridiagonal<T>>; K] {
    let mut out = [None; K];
    if mats.iter().any(|a| a.len() < P * P) || works.iter().any(|w| w.len() < P) {
        return out;
    }
    // m[q][column][row].
    let mut m = [[[T::zero(); P]; P]; K];
    let mut exp = [0i32; K];
    for q in 0..K {
        for (col, src) in m[q].iter_mut().zip(mats[q].chunks_exact(P)) {
            col.copy_from_slice(src);
        }
        let mut amax = T::zero();
        for col in &m[q] {
            for &x in col {
                amax = max(amax, abs(x));
            }
        }
        if let Some((sc, e)) = pow2_scale(amax) {
            exp[q] = e;
            for col in m[q].iter_mut() {
                for x in col.iter_mut() {
                    *x *= sc;
                }
            }
        }
    }
    let mut ok = [true; K];
    for k in 0..P.saturating_sub(2) {
        let len = P - k - 1;
        let mut v = [[T::zero(); P]; K];
        let mut nsq = [T::zero(); K];
        for q in 0..K {
            v[q][..len].copy_from_slice(&m[q][k][k + 1..]);
            nsq[q] = dot_inlined(&v[q][..len], &v[q][..len]);
            ok[q] &= square_safe_sum(nsq[q]);
        }
        let mut alpha = [T::zero(); K];
        let mut tau = [T::zero(); K];
        for q in 0..K {
            let norm = sqrt(nsq[q]);
            let x0 = v[q][0];
            alpha[q] = if x0 > T::zero() { -norm } else { norm };
            v[q][0] = x0 - alpha[q];
            tau[q] = (T::one() + T::one()) / ((norm + norm) * (norm + abs(x0)));
        }
        let mut w = [[T::zero(); P]; K];
        for q in 0..K {
            for i in 0..len {
                w[q][i] = tau[q] * dot_inlined(&m[q][k + 1 + i][k + 1..], &v[q][..len]);
            }
        }
        for q in 0..K {
            let kk = T::of(0.5) * tau[q] * dot_inlined(&w[q][..len], &v[q][..len]);
            axpy_inlined(&mut w[q][..len], -kk, &v[q][..len]);
        }
        for q in 0..K {
            for j in 0..len {
                let col = &mut m[q][k + 1 + j][k + 1..];
                axpy_inlined(col, -w[q][j], &v[q][..len]);
                axpy_inlined(col, -v[q][j], &w[q][..len]);
            }
            m[q][k][k + 1..].fill(T::zero());
            m[q][k][k + 1] = alpha[q];
        }
    }
    for (q, (a, work)) in mats.into_iter().zip(works).enumerate() {
        out[q] = if ok[q] {
            // `finish_tridiagonal` on the arrays.
            let d = |i: usize| m[q][i][i];
            let e = |i: usize| m[q][i][i + 1];
            let t = Tridiagonal::bound(P, d, e, exp[q]);
            for (i, (ai, wi)) in a.iter_mut().zip(work.iter_mut()).take(P).enumerate() {
                *ai = d(i);
                *wi = if i > 0 {
                    e(i - 1) * e(i - 1)
                } else {
                    T::zero()
                };
            }
            Some(t)
        } else {
            tridiagonal(a, P, work)
        };
    }
    out
}

/// Householder reduction of the symmetric `p×p` `a` to tridiagonal form in
/// place: on return the diagonal and first sub-diagonal of `a` hold the
/// tridiagonal matrix (the rest is not meaningful). `work` (length ≥ `p`)
/// is scratch.
///
/// One pass over the trailing matrix a step: while step `k` applies its
/// rank-2 update column by column, the product `τ A₂₂ v` of step `k + 1`
/// is accumulated from each column just updated (its reflector comes from
/// column `k + 1`, which is updated first). Every entry and every dot
/// product sees the same operations in the same order as in two passes, so
/// the bits are those of the textbook order; the memory traffic is halved.
/// The next step's product is parked in row `k` of the upper triangle,
/// which no later step reads.
#[inline(always)]
fn tridiagonalize<T: Real>(a: &mut [T], p: usize, work: &mut [T]) {
    // The reflector of the step about to run, its product already parked.
    let mut ready: Option<Reflector<T>> = None;
    for k in 0..p.saturating_sub(2) {
        let (left, right) = a.split_at_mut(((k + 1) * p).min(a.len()));
        let Some(col_k) = left.chunks_exact_mut(p).nth(k) else {
            return;
        };
        let len = p - k - 1;
        let Some(w) = work.get_mut(..len) else {
            return;
        };
        let refl = match ready.take() {
            Some(r) => {
                // q = τ A₂₂ v, parked in row k − 1 by the previous step.
                for (i, wi) in w.iter_mut().enumerate() {
                    *wi = rd(right, k - 1 + i * p);
                }
                r
            }
            None => {
                let Some(x) = col_k.get_mut(k + 1..) else {
                    return;
                };
                let Some(r) = reflector(x) else {
                    continue;
                };
                let v: &[T] = x;
                // q = τ A₂₂ v (A₂₂ symmetric: its columns are its rows).
                for (wi, col) in w.iter_mut().zip(right.chunks_exact(p)) {
                    *wi = r.tau * dot(col.get(k + 1..).unwrap_or(&[]), v);
                }
                r
            }
        };
        let Some(v) = col_k.get(k + 1..) else {
            return;
        };
        // w = q − (τ/2)(qᵀv) v.
        let kk = T::of(0.5) * refl.tau * dot(w, v);
        axpy(w, -kk, v);
        // A₂₂ ← A₂₂ − v wᵀ − w vᵀ, column k + 1 first: it gives the next
        // reflector, whose product the other columns then feed.
        let mut cols = right.chunks_exact_mut(p).zip(w.iter().zip(v));
        let mut next: Option<(Reflector<T>, usize)> = None;
        if let Some((col, (&wj, &vj))) = cols.next() {
            if let Some(c) = col.get_mut(k + 1..) {
                axpy(c, -wj, v);
                axpy(c, -vj, w);
            }
            if k + 1 < p.saturating_sub(2) {
                if let Some(x) = col.get_mut(k + 2..) {
                    next = reflector(x).map(|r| (r, k + 1));
                }
            }
            let vn: &[T] = match next {
                Some(_) => col.get(k + 2..).unwrap_or(&[]),
                None => &[],
            };
            for (col2, (&wj, &vj)) in cols {
                if let Some(c) = col2.get_mut(k + 1..) {
                    axpy(c, -wj, v);
                    axpy(c, -vj, w);
                }
                if let Some((r, _)) = next {
                    let q = r.tau * dot(col2.get(k + 2..).unwrap_or(&[]), vn);
                    if let Some(slot) = col2.get_mut(k) {
                        *slot = q;
                    }
                }
            }
        }
        if let Some(x) = col_k.get_mut(k + 1..) {
            x.fill(T::zero());
            wr(x, 0, refl.alpha);
        }
        ready = next.map(|(r, _)| r);
    }
}

/// A Householder reflector `I − τ v vᵀ` prepared in place of the column
/// segment `x` (which then holds `v`), and the new sub-diagonal entry.
#[derive(Clone, Copy)]
struct Reflector<T> {
    tau: T,
    /// `−sign(x₀)‖x‖` in the matrix's units.
    alpha: T,
}

/// Turns `x` into the Householder vector `v` of [`Reflector`]. The
/// reflector is the same for any multiple of x: it is built from x scaled
/// by a power of two into [0.5, 1), so that ‖x‖² neither underflows nor
/// overflows (an exact scaling: the bits are those of the unscaled
/// computation whenever that one stays in range). `None` (x untouched)
/// for a column too small to scale, which is below rounding: left as it is.
#[inline(always)]
fn reflector<T: Real>(x: &mut [T]) -> Option<Reflector<T>> {
    let mut nsq = sum_sq(x);
    let s = if square_safe_sum(nsq) {
        T::one()
    } else {
        let cmax = x.iter().fold(T::zero(), |m, &v| max(m, abs(v)));
        let (s, _) = pow2_scale(cmax)?;
        for xi in x.iter_mut() {
            *xi *= s;
        }
        nsq = sum_sq(x);
        s
    };
    let norm = sqrt(nsq);
    let x0 = rd(x, 0);
    let alpha = if x0 > T::zero() { -norm } else { norm };
    wr(x, 0, x0 - alpha);
    let tau = (T::one() + T::one()) / ((norm + norm) * (norm + abs(x0)));
    let alpha = if s == T::one() {
        alpha
    } else {
        alpha * (T::one() / s)
    };
    Some(Reflector { tau, alpha })
}
