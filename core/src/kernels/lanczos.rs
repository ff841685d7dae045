//! Estimates of the extreme eigenvalues of a symmetric matrix by the
//! Lanczos process (fully reorthogonalized), started from the previous
//! estimate's Ritz vectors: the shifts that [`super::inertia_bound`]
//! then turns into proofs. Nothing here needs to be right for the
//! certificate to hold; an estimate that is off only costs a refused
//! bound and the full reduction instead.

// The dispatch macro names `simd::` only on x86-64.
#[cfg(target_arch = "x86_64")]
use super::simd;
use super::{axpy, dot, rd, sum_sq, wr};
use crate::scalar::{abs, max, min, sqrt, Real};

/// Most Lanczos steps a call takes (the basis has one more column).
pub const LANCZOS_MAX: usize = 48;

/// Steps between convergence checks.
const CHECK_EVERY: usize = 6;

/// Ritz estimates of the two ends of a spectrum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RitzEnds<T> {
    /// Smallest Ritz value (`≥ λ_min` in exact arithmetic).
    pub min: T,
    /// Largest Ritz value (`≤ λ_max` in exact arithmetic).
    pub max: T,
    /// Estimated distance from `min` down to `λ_min`: `‖r‖²/gap` (the
    /// Kato–Temple estimate with the Ritz gap), or `‖r‖` when the gap is
    /// not larger than the residual.
    pub err_min: T,
    /// Estimated distance from `max` up to `λ_max`, likewise.
    pub err_max: T,
    /// Distance from `min` to the next Ritz value (0 with one step).
    pub gap_min: T,
    /// Distance from `max` to the next Ritz value below it.
    pub gap_max: T,
}

/// `y = A x` for the symmetric `p×p` `a` (column-major): `yᵢ` the [`dot`]
/// of column `i` with `x`.
pub fn symv<T: Real>(y: &mut [T], a: &[T], x: &[T], p: usize) {
    dispatch!(symv_avx512, symv_avx2, symv_body(y, a, x, p), (y, a, x, p))
}

#[inline(always)]
fn symv_body<T: Real>(y: &mut [T], a: &[T], x: &[T], p: usize) {
    for (yi, col) in y.iter_mut().zip(a.chunks_exact(p.max(1))).take(p) {
        *yi = super::dot_inlined(col, x);
    }
}

/// Lanczos on the symmetric `p×p` `a`, at most `steps ≤ LANCZOS_MAX`
/// steps, stopped once both wanted ends' error estimates are at most
/// `rel_tol` times the larger end's magnitude. The start is `ritz[0] + ritz[1]` (the last call's Ritz vectors
/// for `λ_min`, `λ_max`; `ritz[0]` only when `want_min`), or a fixed
/// pseudo-random vector when that is zero; on return `ritz` holds the new
/// Ritz vectors (unit length). `basis` (length at least
/// `p·(LANCZOS_MAX + 1)`) is scratch. `None` for empty or non-finite
/// input.
pub fn lanczos_ends<T: Real>(
    a: &[T],
    p: usize,
    basis: &mut [T],
    ritz: [&mut [T]; 2],
    steps: usize,
    want_min: bool,
    rel_tol: T,
) -> Option<RitzEnds<T>> {
    let steps = steps.clamp(1, LANCZOS_MAX);
    if p == 0 || a.len() < p * p || basis.len() < p * (steps + 1) {
        return None;
    }
    let [ritz_min, ritz_max] = ritz;
    if ritz_min.len() < p || ritz_max.len() < p {
        return None;
    }
    // The start vector.
    {
        let q0 = basis.get_mut(..p)?;
        for ((q, &xmax), &xmin) in q0.iter_mut().zip(ritz_max.iter()).zip(ritz_min.iter()) {
            *q = if want_min { xmax + xmin } else { xmax };
        }
        let mut nsq = sum_sq(q0);
        if !(nsq > T::zero()) || !nsq.finite() {
            let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
            for q in q0.iter_mut() {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                *q = T::of((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5);
            }
            nsq = sum_sq(q0);
        }
        let inv = T::one() / sqrt(nsq);
        for q in q0.iter_mut() {
            *q *= inv;
        }
    }
    let mut alpha = [T::zero(); LANCZOS_MAX];
    let mut beta = [T::zero(); LANCZOS_MAX];
    let mut k = 0;
    let mut out = None;
    while k < steps {
        let (done, rest) = basis.split_at_mut((k + 1) * p);
        let w = rest.get_mut(..p)?;
        let qk = done.get(k * p..)?;
        symv(w, a, qk, p);
        let ak = dot(qk, w);
        if !ak.finite() {
            return None;
        }
        axpy(w, -ak, qk);
        if k > 0 {
            let bprev = rd(&beta, k - 1);
            axpy(w, -bprev, done.get((k - 1) * p..k * p)?);
        }
        // Full reorthogonalization (one pass of modified Gram–Schmidt).
        for qj in done.chunks_exact(p) {
            let c = dot(qj, w);
            axpy(w, -c, qj);
        }
        let bk = sqrt(sum_sq(w));
        wr(&mut alpha, k, ak);
        wr(&mut beta, k, bk);
        k += 1;
        // An invariant subspace: the Ritz values are eigenvalues.
        let bprev = if k >= 2 { rd(&beta, k - 2) } else { T::zero() };
        let exhausted = !(bk > T::EPSILON * (abs(ak) + bprev));
        if !exhausted {
            let inv = T::one() / bk;
            for x in w.iter_mut() {
                *x *= inv;
            }
        }
        if exhausted || k == steps || k % CHECK_EVERY == 0 {
            let bk_eff = if exhausted { T::zero() } else { bk };
            let est = ritz_ends(&alpha, &beta, k, bk_eff)?;
            out = Some(est.ends);
            let tol = rel_tol * max(abs(est.ends.min), abs(est.ends.max));
            let conv = est.ends.err_max <= tol && (!want_min || est.ends.err_min <= tol);
            if conv || exhausted || k == steps {
                // Ritz vectors x = Q y.
                let q = basis.get(..k * p)?;
                for (slot, y) in [(&mut *ritz_min, &est.y_min), (&mut *ritz_max, &est.y_max)] {
                    let slot = slot.get_mut(..p)?;
                    slot.fill(T::zero());
                    for (qj, &yj) in q.chunks_exact(p).zip(y.iter()) {
                        axpy(slot, yj, qj);
                    }
                    let n = sum_sq(slot);
                    if n > T::zero() && n.finite() {
                        let inv = T::one() / sqrt(n);
                        for x in slot.iter_mut() {
                            *x *= inv;
                        }
                    }
                }
                return Some(est.ends);
            }
        }
    }
    out
}

/// The ends of the Ritz spectrum and their eigenvectors in the Lanczos
/// basis.
struct Estimate<T> {
    ends: RitzEnds<T>,
    y_min: [T; LANCZOS_MAX],
    y_max: [T; LANCZOS_MAX],
}

/// Extreme eigenvalues of the `k×k` tridiagonal `(alpha, beta)` by Sturm
/// bisection, the second ones (for the gaps), their eigenvectors by
/// inverse iteration, and the residual estimates `b_k·|y_k|`.
fn ritz_ends<T: Real>(
    alpha: &[T; LANCZOS_MAX],
    beta: &[T; LANCZOS_MAX],
    k: usize,
    bk: T,
) -> Option<Estimate<T>> {
    let k = k.min(LANCZOS_MAX);
    if k == 0 {
        return None;
    }
    // Gershgorin interval.
    let mut lo = T::zero();
    let mut hi = T::zero();
    let mut emax = T::zero();
    for i in 0..k {
        let l = if i > 0 {
            abs(rd(beta, i - 1))
        } else {
            T::zero()
        };
        let r = if i + 1 < k {
            abs(rd(beta, i))
        } else {
            T::zero()
        };
        let d = rd(alpha, i);
        lo = if i == 0 {
            d - l - r
        } else {
            min(lo, d - l - r)
        };
        hi = if i == 0 {
            d + l + r
        } else {
            max(hi, d + l + r)
        };
        if i + 1 < k {
            emax = max(emax, abs(rd(beta, i)));
        }
    }
    let tnorm = max(abs(lo), abs(hi));
    let pivmin = T::MIN_POSITIVE * max(T::one(), emax * emax);
    // Eigenvalues below x (LAPACK dstebz's count).
    let count = |x: T| -> usize {
        let mut q = T::one();
        let mut c = 0;
        for i in 0..k {
            let e2 = if i > 0 {
                let e = rd(beta, i - 1);
                e * e
            } else {
                T::zero()
            };
            q = rd(alpha, i) - x - if i > 0 { e2 / q } else { T::zero() };
            if abs(q) < pivmin {
                q = -pivmin;
            }
            if q < T::zero() {
                c += 1;
            }
        }
        c
    };
    // The eigenvalue of index j (ascending) by bisection.
    let nth = |j: usize| -> T {
        let (mut a, mut b) = (lo - tnorm * T::EPSILON, hi + tnorm * T::EPSILON);
        for _ in 0..200 {
            let mid = T::of(0.5) * (a + b);
            if !(b - a > T::of(2.0) * T::EPSILON * max(abs(a), abs(b)) + pivmin)
                || mid == a
                || mid == b
            {
                break;
            }
            if count(mid) > j {
                b = mid;
            } else {
                a = mid;
            }
        }
        T::of(0.5) * (a + b)
    };
    let tmax = nth(k - 1);
    let tmin = nth(0);
    let (t2max, t2min) = if k > 1 {
        (nth(k - 2), nth(1))
    } else {
        (tmax, tmin)
    };
    // Inverse iteration just outside each end: T − σI is definite there,
    // so its LDLᵀ needs no pivoting.
    let off = T::of(4.0) * T::EPSILON * tnorm + pivmin;
    let y_max = inverse_iteration(alpha, beta, k, tmax + off);
    let y_min = inverse_iteration(alpha, beta, k, tmin - off);
    let err = |y: &[T; LANCZOS_MAX], gap: T| {
        let r = abs(bk * rd(y, k - 1));
        if gap > r {
            r * r / gap
        } else {
            r
        }
    };
    Some(Estimate {
        ends: RitzEnds {
            min: tmin,
            max: tmax,
            err_min: err(&y_min, t2min - tmin),
            err_max: err(&y_max, tmax - t2max),
            gap_min: t2min - tmin,
            gap_max: tmax - t2max,
        },
        y_min,
        y_max,
    })
}

/// Two steps of inverse iteration with `T − σI` (`σ` outside the spectrum
/// of the tridiagonal `T`), from the vector of ones; unit length.
fn inverse_iteration<T: Real>(
    alpha: &[T; LANCZOS_MAX],
    beta: &[T; LANCZOS_MAX],
    k: usize,
    sigma: T,
) -> [T; LANCZOS_MAX] {
    let mut y = [T::zero(); LANCZOS_MAX];
    for v in y.iter_mut().take(k) {
        *v = T::one();
    }
    let mut piv = [T::zero(); LANCZOS_MAX];
    for _ in 0..2 {
        // LDLᵀ of T − σI: pivots dᵢ = aᵢ − σ − e²ᵢ₋₁/dᵢ₋₁, forward
        // substitution, then back substitution.
        let mut prev = T::zero();
        for i in 0..k {
            let mut d = rd(alpha, i) - sigma;
            if i > 0 {
                let e = rd(beta, i - 1);
                d -= e * e / prev;
                let l = e / prev;
                let yi = rd(&y, i) - l * rd(&y, i - 1);
                wr(&mut y, i, yi);
            }
            if d == T::zero() {
                d = T::MIN_POSITIVE;
            }
            wr(&mut piv, i, d);
            prev = d;
        }
        for i in (0..k).rev() {
            let mut v = rd(&y, i) / rd(&piv, i);
            if i + 1 < k {
                let e = rd(beta, i);
                v -= e / rd(&piv, i) * rd(&y, i + 1);
            }
            wr(&mut y, i, v);
        }
        let n = y.iter().take(k).fold(T::zero(), |s, &v| s + v * v);
        if !(n > T::zero()) || !n.finite() {
            // Overflow in the solve: the direction is lost; ones again.
            for v in y.iter_mut().take(k) {
                *v = T::one();
            }
            continue;
        }
        let inv = T::one() / sqrt(n);
        for v in y.iter_mut().take(k) {
            *v *= inv;
        }
    }
    y
}

/// [`symv`] compiled with wider instruction sets (the same body).
#[cfg(target_arch = "x86_64")]
mod wide {
    use super::{symv_body, Real};

    #[target_feature(enable = "avx2")]
    pub fn symv_avx2<T: Real>(y: &mut [T], a: &[T], x: &[T], p: usize) {
        symv_body(y, a, x, p)
    }

    #[target_feature(enable = "avx512f")]
    pub fn symv_avx512<T: Real>(y: &mut [T], a: &[T], x: &[T], p: usize) {
        symv_body(y, a, x, p)
    }
}
