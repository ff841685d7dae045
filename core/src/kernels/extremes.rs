//! The extreme eigenvalues the per-step certificate needs (THEORY §2):
//! reduction to tridiagonal form ([`super::tridiagonal`]), then Laguerre's
//! iteration from outside the spectrum ([`super::laguerre`]).

use super::laguerre::{gather, laguerre, Pivots, ThreeTerm};
// The dispatch macro names `simd::` only on x86-64.
#[cfg(target_arch = "x86_64")]
use super::simd;
use super::tridiagonal::{tridiagonal, tridiagonal_small, Tridiagonal};
use crate::scalar::{abs, Real};

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
/// `T − xI`, the backward-stable recurrence of Sturm-count bisection (for
/// `p ≤ 4` through the division-free three-term recurrence for
/// `det(T − xI)`, as stable and shorter in latency), so each eigenvalue is
/// exact for a matrix within `O(p ε ‖a‖)` of `a`: the absolute accuracy the
/// Gram matrix carries from being formed. The iteration stops once a
/// rigorous bound on the distance to the end (`|G|/H` less the last step)
/// is below rounding. With `want_min = false` only `λ_max` is computed
/// (`λ_min` is returned as 0).
///
/// `a` is destroyed; `work` (length at least `p`) is scratch. Every loop has
/// a fixed order and a fixed stopping rule, so the result is the same bits
/// on every target.
pub fn sym_extremes<T: Real>(a: &mut [T], p: usize, work: &mut [T], want_min: bool) -> (T, T) {
    sym_extremes_from(a, p, work, want_min, StartHints::default())
}

/// Points believed to lie outside the spectrum of a symmetric matrix, from
/// which [`sym_extremes_from`] starts Laguerre's iteration instead of the
/// Gershgorin bounds: typically the previous step's extremes widened by a
/// bound on how far the matrix moved (Weyl: no eigenvalue moves more than
/// the change's norm). A start closer than Gershgorin's saves iterations; a
/// wrong one (inside the spectrum, as the Sturm count at it shows) costs
/// one iteration and the result is the same.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StartHints<T> {
    /// A number at most `λ_min`.
    pub below_min: Option<T>,
    /// A number at least `λ_max`.
    pub above_max: Option<T>,
}

impl<T: Real> StartHints<T> {
    /// `[λ_min − δ, λ_max + δ]` widened by a few roundings: outside the
    /// spectrum of any symmetric matrix within `δ` (2-norm) of one whose
    /// extremes are `λ_min, λ_max`.
    pub fn around(lmin: T, lmax: T, delta: T) -> Self {
        let widen = |v: T| abs(v) * T::of(8.0) * T::EPSILON;
        let ok = |v: T| v.finite().then_some(v);
        Self {
            below_min: ok(lmin - delta - widen(lmin) - widen(delta)),
            above_max: ok(lmax + delta + widen(lmax) + widen(delta)),
        }
    }
}

/// [`sym_extremes`] starting from `hints` where they are tighter than the
/// Gershgorin bounds (see [`StartHints`]).
pub fn sym_extremes_from<T: Real>(
    a: &mut [T],
    p: usize,
    work: &mut [T],
    want_min: bool,
    hints: StartHints<T>,
) -> (T, T) {
    dispatch!(
        extremes_avx512,
        extremes_avx2,
        sym_extremes_body(a, p, work, want_min, hints),
        (a, p, work, want_min, hints)
    )
}

#[inline(always)]
pub(super) fn sym_extremes_body<T: Real>(
    a: &mut [T],
    p: usize,
    work: &mut [T],
    want_min: bool,
    hints: StartHints<T>,
) -> (T, T) {
    let [Some(t)] = tridiagonals([&mut *a], [&mut *work], p) else {
        return (T::zero(), T::zero());
    };
    let (d, e2) = (a.get(..p).unwrap_or(&[]), work.get(..p).unwrap_or(&[]));
    let [lmax, lmin] = laguerre_lanes(
        [d, d],
        [e2, e2],
        p,
        [
            Lane::max(t, hints.above_max),
            Lane::min(t, want_min, hints.below_min),
        ],
    );
    (
        if want_min { t.unscale(lmin) } else { T::zero() },
        t.unscale(lmax),
    )
}

/// [`sym_extremes_from`] of three matrices of the same size at once
/// (`mats[i]` with scratch `works[i]`, `λ_min` only where `want_min[i]`):
/// the same bits as three calls, faster for small `p`, where each call's
/// recurrences wait on their divisions and the three can overlap.
pub fn sym_extremes3<T: Real>(
    mats: [&mut [T]; 3],
    works: [&mut [T]; 3],
    p: usize,
    want_min: [bool; 3],
    hints: [StartHints<T>; 3],
) -> [(T, T); 3] {
    dispatch!(
        extremes3_avx512,
        extremes3_avx2,
        sym_extremes3_body(mats, works, p, want_min, hints),
        (mats, works, p, want_min, hints)
    )
}

#[inline(always)]
pub(super) fn sym_extremes3_body<T: Real>(
    mats: [&mut [T]; 3],
    works: [&mut [T]; 3],
    p: usize,
    want_min: [bool; 3],
    hints: [StartHints<T>; 3],
) -> [(T, T); 3] {
    let [a0, a1, a2] = mats;
    let [w0, w1, w2] = works;
    let ts = tridiagonals(
        [&mut *a0, &mut *a1, &mut *a2],
        [&mut *w0, &mut *w1, &mut *w2],
        p,
    );
    let [Some(t0), Some(t1), Some(t2)] = ts else {
        return [(T::zero(), T::zero()); 3];
    };
    let (a0, a1, a2): (&[T], &[T], &[T]) = (a0, a1, a2);
    let (w0, w1, w2): (&[T], &[T], &[T]) = (w0, w1, w2);
    let [h0, h1, h2] = hints;
    // Eight lanes (two idle): a whole number of vectors at every width.
    let idle = Lane::min(t0, false, None);
    let [m0, n0, m1, n1, m2, n2, _, _] = laguerre_lanes(
        [a0, a0, a1, a1, a2, a2, a0, a0],
        [w0, w0, w1, w1, w2, w2, w0, w0],
        p,
        [
            Lane::max(t0, h0.above_max),
            Lane::min(t0, want_min[0], h0.below_min),
            Lane::max(t1, h1.above_max),
            Lane::min(t1, want_min[1], h1.below_min),
            Lane::max(t2, h2.above_max),
            Lane::min(t2, want_min[2], h2.below_min),
            idle,
            idle,
        ],
    );
    let pick = |t: Tridiagonal<T>, lmin: T, lmax: T, w: bool| {
        (if w { t.unscale(lmin) } else { T::zero() }, t.unscale(lmax))
    };
    [
        pick(t0, n0, m0, want_min[0]),
        pick(t1, n1, m1, want_min[1]),
        pick(t2, n2, m2, want_min[2]),
    ]
}

/// [`tridiagonal`] of `K` matrices of size `p`, together when `p ≤ 4`.
#[inline(always)]
pub(super) fn tridiagonals<T: Real, const K: usize>(
    mats: [&mut [T]; K],
    works: [&mut [T]; K],
    p: usize,
) -> [Option<Tridiagonal<T>>; K] {
    match p {
        1 => tridiagonal_small::<T, 1, K>(mats, works),
        2 => tridiagonal_small::<T, 2, K>(mats, works),
        3 => tridiagonal_small::<T, 3, K>(mats, works),
        4 => tridiagonal_small::<T, 4, K>(mats, works),
        _ => {
            let mut out = [None; K];
            for ((o, a), w) in out.iter_mut().zip(mats).zip(works) {
                *o = tridiagonal(a, p, w);
            }
            out
        }
    }
}

/// [`laguerre`] on the tridiagonals `(d[j], e2[j])` (diagonal and squared
/// off-diagonal, as [`tridiagonal`] lays them out) of size `p`: by the
/// three-term recurrence up to [`THREE_TERM_MAX`](super::laguerre::THREE_TERM_MAX), by pivots above.
#[inline(always)]
pub(super) fn laguerre_lanes<T: Real, const L: usize>(
    d: [&[T]; L],
    e2: [&[T]; L],
    p: usize,
    lanes: [Lane<T>; L],
) -> [T; L] {
    #[inline(always)]
    fn three<T: Real, const L: usize, const P: usize>(
        d: [&[T]; L],
        e2: [&[T]; L],
        lanes: [Lane<T>; L],
    ) -> [T; L] {
        let mut poly = ThreeTerm {
            d: [[T::zero(); L]; P],
            e2: [[T::zero(); L]; P],
        };
        gather(&mut poly.d, &d, 0, P);
        gather(&mut poly.e2, &e2, 0, P);
        laguerre(&poly, P, lanes)
    }
    match p {
        1 => three::<T, L, 1>(d, e2, lanes),
        2 => three::<T, L, 2>(d, e2, lanes),
        3 => three::<T, L, 3>(d, e2, lanes),
        4 => three::<T, L, 4>(d, e2, lanes),
        _ => {
            let pivmin = lanes.map(|l| l.t.pivmin);
            let poly = Pivots {
                d,
                e2,
                p,
                pivmin,
                inv_neg_pivmin: pivmin.map(|v| T::one() / -v),
            };
            laguerre(&poly, p, lanes)
        }
    }
}

/// One lane of [`laguerre`]: which end of which tridiagonal, and where to
/// start.
#[derive(Clone, Copy)]
pub(super) struct Lane<T> {
    pub(super) t: Tridiagonal<T>,
    /// Towards `λ_max` from above (else `λ_min` from below).
    pub(super) above: bool,
    /// The lane runs at all.
    pub(super) on: bool,
    /// Gershgorin's start, outside the spectrum for sure.
    pub(super) safe_start: T,
    /// The start (the hint, scaled, when it is tighter than Gershgorin's).
    pub(super) start: T,
}

impl<T: Real> Lane<T> {
    pub(super) fn max(t: Tridiagonal<T>, hint: Option<T>) -> Self {
        let safe_start = t.hi + t.atol;
        let start = match hint.map(|h| t.scale(h)) {
            Some(h) if h < safe_start && h > t.lo => h,
            _ => safe_start,
        };
        Self {
            t,
            above: true,
            on: true,
            safe_start,
            start,
        }
    }

    pub(super) fn min(t: Tridiagonal<T>, on: bool, hint: Option<T>) -> Self {
        let safe_start = t.lo - t.atol;
        let start = match hint.map(|h| t.scale(h)) {
            Some(h) if h > safe_start && h < t.hi => h,
            _ => safe_start,
        };
        Self {
            t,
            above: false,
            on,
            safe_start,
            start,
        }
    }
}

/// The extremes compiled with wider instruction sets: the same generic
/// bodies.
#[cfg(target_arch = "x86_64")]
mod wide {
    use super::{sym_extremes3_body, sym_extremes_body, Real, StartHints};

    macro_rules! eigen_variant {
        ($feature:literal, $one:ident, $three:ident) => {
            #[target_feature(enable = $feature)]
            pub fn $one<T: Real>(
                a: &mut [T],
                p: usize,
                work: &mut [T],
                want_min: bool,
                hints: StartHints<T>,
            ) -> (T, T) {
                sym_extremes_body(a, p, work, want_min, hints)
            }
            #[target_feature(enable = $feature)]
            pub fn $three<T: Real>(
                mats: [&mut [T]; 3],
                works: [&mut [T]; 3],
                p: usize,
                want_min: [bool; 3],
                hints: [StartHints<T>; 3],
            ) -> [(T, T); 3] {
                sym_extremes3_body(mats, works, p, want_min, hints)
            }
        };
    }
    eigen_variant!("avx2", extremes_avx2, extremes3_avx2);
    eigen_variant!("avx512f", extremes_avx512, extremes3_avx512);
}
