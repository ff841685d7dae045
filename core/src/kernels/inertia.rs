//! Proven bounds on the extreme eigenvalues of a symmetric matrix by
//! inertia (Sylvester's law, THEORY §2): a Cholesky factorization of
//! `A − sI` that runs to completion in floating point proves `λ_min(A) ≥ s`
//! up to a rounding margin, and one of `tI − A` proves `λ_max(A) ≤ t`,
//! with `p³/3` multiply-adds each and no reduction to tridiagonal form.
//! The margin is the backward error of Cholesky (docs/ROUNDING.md,
//! "Bounds by inertia"), so the returned bound is a proof about the stored
//! matrix, whatever the shift's quality: a shift on the wrong side of the
//! end makes a pivot non-positive and the bound is refused.

// The dispatch macro names `simd::` only on x86-64.
#[cfg(target_arch = "x86_64")]
use super::simd;
use super::{axpy, rd, wr};
use crate::scalar::{abs, max, sqrt, Real};

/// Columns factored together before their update of the rest is applied
/// as one register-blocked pass (the pass that holds the `p³/3` work);
/// 64 rather than 32 halves the passes over a trailing matrix that no
/// longer fits in L2 (p = 784: 15.5 → 10.3 ms with AVX2, BENCHMARKS.md).
const PANEL: usize = 64;

/// Which end of the spectrum [`inertia_bound`] bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// A lower bound on `λ_min` (factor `A − sI`).
    Below,
    /// An upper bound on `λ_max` (factor `tI − A`).
    Above,
}

/// A proven bound on one end of the spectrum of the symmetric `p×p` `a`
/// (full column-major storage, only the lower triangle is read) from the
/// inertia of `a` shifted by `shift`: with [`End::Below`], `Some(s)` with
/// `s ≤ λ_min(a)` when the Cholesky factorization of `fl(a − shift·I)`
/// runs to completion (`s` is `shift` less the rounding margin), `None`
/// when a pivot is not positive (the shift is not below the spectrum, or
/// not by more than rounding) or an entry is not finite. [`End::Above`]
/// likewise gives `t ≥ λ_max(a)` from `fl(shift·I − a)`.
///
/// The margin is `γ/(1−γ)·tr(Ã) + u·max|Ã_ii| + 4p(2(p+1) + max Ã_ii)·η`
/// (`γ = (p+1)u/(1−(p+1)u)`, `u` the unit roundoff, `η` the smallest
/// subnormal), widened by `1/64` and by `2ε|shift|` for its own
/// evaluation: Demmel's bound on the backward error of a Cholesky
/// factorization that completes, plus the rounding of the shifted diagonal
/// and Rump's allowance for underflow (docs/ROUNDING.md). It holds for any
/// order of the sums, so the blocked order here and every instruction-set
/// level (which give the same bits anyway) are covered.
///
/// `fac` (length at least `p²`) is scratch. Costs `p³/3` multiply-adds.
pub fn inertia_bound<T: Real>(a: &[T], p: usize, shift: T, end: End, fac: &mut [T]) -> Option<T> {
    dispatch!(
        bound_avx512,
        bound_avx2,
        inertia_bound_body::<T, 4>(a, p, shift, end, fac),
        (a, p, shift, end, fac)
    )
}

/// The rounding margin of [`inertia_bound`] for a factored matrix of size
/// `p` with diagonal sum `trace` and largest diagonal entry `dmax` (both of
/// the shifted matrix), before the allowance for the shift's own rounding.
/// `None` when `p` is so large that the backward-error bound is void.
pub fn inertia_margin<T: Real>(p: usize, trace: T, dmax: T) -> Option<T> {
    let u = T::EPSILON * T::of(0.5);
    let g = T::of_usize(p + 1) * u;
    if !(g < T::of(0.25)) {
        return None;
    }
    let gamma = g / (T::one() - g);
    let demmel = gamma / (T::one() - gamma) * trace;
    let eta = T::MIN_POSITIVE * T::EPSILON;
    let pt = T::of_usize(p);
    let underflow = T::of(4.0) * pt * (T::of(2.0) * (pt + T::one()) + dmax) * eta;
    let c = (demmel + u * dmax + underflow) * (T::one() + T::of(1.0 / 64.0));
    c.finite().then_some(c)
}

#[inline(always)]
fn inertia_bound_body<T: Real, const MR: usize>(
    a: &[T],
    p: usize,
    shift: T,
    end: End,
    fac: &mut [T],
) -> Option<T> {
    if p == 0 || a.len() < p * p || fac.len() < p * p || !shift.finite() {
        return None;
    }
    // Ã = fl(a − shift·I) or fl(shift·I − a) = −fl(a − shift·I) (rounding
    // to nearest is symmetric): the lower triangle, all entries finite.
    let above = end == End::Above;
    let mut trace = T::zero();
    let mut dmax = T::zero();
    for j in 0..p {
        for i in j..p {
            let v = rd(a, i + j * p);
            let v = if i == j { v - shift } else { v };
            let v = if above { -v } else { v };
            if !v.finite() {
                return None;
            }
            wr(fac, i + j * p, v);
        }
        let d = rd(fac, j + j * p);
        // A non-positive diagonal entry is a non-positive pivot already.
        if !(d > T::zero()) {
            return None;
        }
        trace += d;
        dmax = max(dmax, d);
    }
    cholesky_lower::<T, MR>(fac, p)?;
    let c = inertia_margin(p, trace, dmax)? + T::of(2.0) * T::EPSILON * abs(shift);
    let bound = if above { shift + c } else { shift - c };
    bound.finite().then_some(bound)
}

/// In-place lower Cholesky factorization of the `p×p` `f` (lower triangle
/// read and written; the strict upper triangle is scratch). `None` as soon
/// as a pivot is not positive (or not a number).
#[inline(always)]
fn cholesky_lower<T: Real, const MR: usize>(f: &mut [T], p: usize) -> Option<()> {
    let mut k0 = 0;
    while k0 < p {
        let k1 = (k0 + PANEL).min(p);
        // The panel's columns, each updated by the panel's earlier ones.
        for j in k0..k1 {
            let (left, right) = f.split_at_mut(((j + 1) * p).min(f.len()));
            let colj = left.get_mut(j * p..)?;
            let d = rd(colj, j);
            if !(d > T::zero()) || !d.finite() {
                return None;
            }
            let r = sqrt(d);
            wr(colj, j, r);
            for x in colj.get_mut(j + 1..)? {
                *x /= r;
            }
            let colj: &[T] = colj;
            for (c, colc) in (j + 1..k1).zip(right.chunks_exact_mut(p)) {
                axpy(colc.get_mut(c..)?, -rd(colj, c), colj.get(c..)?);
            }
        }
        if k1 < p {
            let (left, right) = f.split_at_mut(k1 * p);
            let panel = left.get(k0 * p..)?;
            syrk_sub::<T, MR>(right, panel, p, k1, k1 - k0);
        }
        k0 = k1;
    }
    Some(())
}

/// `A₂₂ ← A₂₂ − L Lᵀ` on the lower triangle of the trailing columns
/// `k1..p` (`right`, column `c` at `(c − k1)·p`), `L` the rows `k1..p` of
/// the `kb ≤ PANEL` columns of `panel`: `MR×4` blocks of sums kept in
/// registers over the panel, each entry's sum in panel order (the same bits
/// at every vector width).
#[inline(always)]
#[allow(clippy::indexing_slicing, clippy::needless_range_loop)] // jj < 4, ii < MR, l < PANEL: the arrays' lengths
fn syrk_sub<T: Real, const MR: usize>(
    right: &mut [T],
    panel: &[T],
    p: usize,
    k1: usize,
    kb: usize,
) {
    let kb = kb.min(PANEL);
    let ncols = p - k1;
    let mut c0 = 0;
    while c0 < ncols {
        let nc = (ncols - c0).min(4);
        let cg = k1 + c0;
        let mut b = [[T::zero(); 4]; PANEL];
        for (l, bl) in b.iter_mut().enumerate().take(kb) {
            for jj in 0..nc {
                bl[jj] = rd(panel, l * p + cg + jj);
            }
        }
        let mut i0 = cg;
        while i0 < p {
            let mr = (p - i0).min(MR);
            let mut acc = [[T::zero(); MR]; 4];
            if mr == MR {
                for (l, bl) in b.iter().enumerate().take(kb) {
                    let x: &[T; MR] = match panel
                        .get(l * p + i0..l * p + i0 + MR)
                        .and_then(|s| s.try_into().ok())
                    {
                        Some(x) => x,
                        None => return,
                    };
                    for jj in 0..4 {
                        for ii in 0..MR {
                            acc[jj][ii] += x[ii] * bl[jj];
                        }
                    }
                }
            } else {
                for (l, bl) in b.iter().enumerate().take(kb) {
                    let x = panel.get(l * p + i0..l * p + i0 + mr).unwrap_or(&[]);
                    for jj in 0..4 {
                        for (s, &xi) in acc[jj].iter_mut().zip(x) {
                            *s += xi * bl[jj];
                        }
                    }
                }
            }
            for jj in 0..nc {
                let off = (c0 + jj) * p + i0;
                if let Some(col) = right.get_mut(off..off + mr) {
                    for (y, &s) in col.iter_mut().zip(acc[jj].iter()) {
                        *y -= s;
                    }
                }
            }
            i0 += mr;
        }
        c0 += nc;
    }
}

/// [`inertia_bound`] compiled with wider instruction sets: the same
/// generic body, taller register blocks.
#[cfg(target_arch = "x86_64")]
mod wide {
    use super::{inertia_bound_body, End, Real};

    #[target_feature(enable = "avx2")]
    pub fn bound_avx2<T: Real>(a: &[T], p: usize, shift: T, end: End, fac: &mut [T]) -> Option<T> {
        inertia_bound_body::<T, 8>(a, p, shift, end, fac)
    }

    #[target_feature(enable = "avx512f")]
    pub fn bound_avx512<T: Real>(
        a: &[T],
        p: usize,
        shift: T,
        end: End,
        fac: &mut [T],
    ) -> Option<T> {
        inertia_bound_body::<T, 16>(a, p, shift, end, fac)
    }
}

/// Smallest matrix size whose per-step extremes [`sym_bounds`] proves
/// (below it the reduction to tridiagonal form is as cheap, and the
/// firmware's sizes keep their path and bits).
pub const INERTIA_MIN: usize = 96;

/// `true` when [`sym_bounds`] is worth trying on a `p×p` matrix in `T`:
/// `p ≥ INERTIA_MIN` and the margin's relative size `p(p+1)ε` is at most
/// `2⁻³⁰`, so a proven bound is within about `1e-9` (relative) of the
/// eigenvalue (f64 up to `p ≈ 2000`; never in f32, whose margin would
/// shorten the steps).
pub fn inertia_applies<T: Real>(p: usize) -> bool {
    p >= INERTIA_MIN
        && T::EPSILON * T::of_usize(p) * T::of_usize(p + 1) <= T::of(1.0 / 1_073_741_824.0)
}

/// Scratch of [`sym_bounds`] for a `p×p` matrix; `ritz_*` persist from
/// call to call (they start the next call's Lanczos process).
#[derive(Debug)]
pub struct BoundsScratch<'a, T> {
    /// `p²`: the shifted matrix and its factor.
    pub fac: &'a mut [T],
    /// `p·(LANCZOS_MAX + 1)`: the Lanczos basis.
    pub basis: &'a mut [T],
    /// `p`: the last Ritz vector of `λ_min` (zero before the first call).
    pub ritz_min: &'a mut [T],
    /// `p`: the last Ritz vector of `λ_max`.
    pub ritz_max: &'a mut [T],
}

/// Proven bounds `(s, t)` with `s ≤ λ_min(a)` and `λ_max(a) ≤ t` for the
/// symmetric `p×p` `a` (not modified; `s = 0` when `!want_min`): shifts
/// from a Lanczos estimate ([`super::lanczos_ends`], started from the last
/// call's Ritz vectors), each proven by [`inertia_bound`]. The shift is
/// placed outside the Ritz value by twice the estimate's error and one
/// rounding margin, so a proven bound is within a few margins
/// (`≈ p²ε‖a‖`) of the eigenvalue. `None` when the estimate did not
/// converge to a quarter margin in [`LANCZOS_MAX`](super::LANCZOS_MAX)
/// steps or a bound is refused: the caller falls back to the full
/// reduction.
pub fn sym_bounds<T: Real>(
    a: &[T],
    p: usize,
    want_min: bool,
    scratch: BoundsScratch<'_, T>,
) -> Option<(T, T)> {
    let BoundsScratch {
        fac,
        basis,
        ritz_min,
        ritz_max,
    } = scratch;
    if p == 0 || a.len() < p * p {
        return None;
    }
    let mut tr = T::zero();
    let mut dlo = rd(a, 0);
    let mut dhi = dlo;
    for i in 0..p {
        let d = rd(a, i + i * p);
        tr += d;
        dlo = crate::scalar::min(dlo, d);
        dhi = max(dhi, d);
    }
    let pt = T::of_usize(p);
    let rel_tol = T::EPSILON * pt * (pt + T::one()) * T::of(0.25);
    let est = super::lanczos_ends(
        a,
        p,
        basis,
        [&mut *ritz_min, &mut *ritz_max],
        super::LANCZOS_MAX,
        want_min,
        rel_tol,
    )?;
    let tol = rel_tol * max(abs(est.min), abs(est.max));
    let (fac, work) = (fac, basis.get_mut(..p)?);
    let hi = end_bound(
        a,
        p,
        End::Above,
        (est.max, est.err_max, est.gap_max),
        ritz_max,
        fac,
        work,
        (tr, dlo),
        tol,
    )?;
    let lo = if want_min {
        end_bound(
            a,
            p,
            End::Below,
            (est.min, est.err_min, est.gap_min),
            ritz_min,
            fac,
            work,
            (tr, dhi),
            tol,
        )?
    } else {
        T::zero()
    };
    Some((lo, hi))
}

/// One end of [`sym_bounds`]: the Ritz value `theta` (error estimate
/// `err`, gap to the next Ritz value `gap`) moved outwards by twice the
/// error and a margin, proven by [`inertia_bound`]. When the estimate had
/// not converged to `tol`, that first bound is loose: the factor it leaves
/// (of `±(a − shift·I)`, definite, with the end's eigenvalue now by far
/// the nearest to the shift) drives three steps of inverse iteration from
/// the Ritz vector, whose Rayleigh quotient is then proven the same way.
/// `None` unless the bound is within about `2·tol` plus two margins of the
/// end: a loose bound would shorten the step, so the caller reduces
/// instead. `diag` is `(tr a, min aᵢᵢ)` for the upper end, `(tr a, max
/// aᵢᵢ)` for the lower.
#[allow(clippy::too_many_arguments)]
fn end_bound<T: Real>(
    a: &[T],
    p: usize,
    end: End,
    (theta, err, gap): (T, T, T),
    ritz: &mut [T],
    fac: &mut [T],
    work: &mut [T],
    (tr, d_far): (T, T),
    tol: T,
) -> Option<T> {
    let pt = T::of_usize(p);
    let four_eps = T::of(4.0) * T::EPSILON;
    let shift_for = |theta: T, err: T| -> Option<T> {
        let (trace, dmax) = match end {
            End::Above => (pt * theta - tr, theta - d_far),
            End::Below => (tr - pt * theta, d_far - theta),
        };
        let out = T::of(2.0) * err + inertia_margin(p, trace, dmax)? + four_eps * abs(theta);
        Some(match end {
            End::Above => theta + out,
            End::Below => theta - out,
        })
    };
    let bound = inertia_bound(a, p, shift_for(theta, err)?, end, fac)?;
    if err <= tol {
        return Some(bound);
    }
    let x = ritz.get_mut(..p)?;
    for _ in 0..3 {
        cholesky_solve(fac, p, x);
        let n = super::sum_sq(x);
        if !(n > T::zero()) || !n.finite() {
            return None;
        }
        let inv = T::one() / sqrt(n);
        for v in x.iter_mut() {
            *v *= inv;
        }
    }
    super::symv(work, a, x, p);
    let rq = super::dot(x, work);
    axpy(work, -rq, x);
    let r = sqrt(super::sum_sq(work));
    let err = if gap > r { r * r / gap } else { r };
    if !(err <= tol) {
        return None;
    }
    inertia_bound(a, p, shift_for(rq, err)?, end, fac)
}

/// `x ← (L Lᵀ)⁻¹ x` for the lower Cholesky factor `L` in `fac` (`p×p`).
fn cholesky_solve<T: Real>(fac: &[T], p: usize, x: &mut [T]) {
    // L z = x, column by column.
    for (j, col) in fac.chunks_exact(p).enumerate().take(p) {
        let zj = rd(x, j) / rd(col, j);
        wr(x, j, zj);
        if let (Some(xs), Some(ls)) = (x.get_mut(j + 1..), col.get(j + 1..)) {
            axpy(xs, -zj, ls);
        }
    }
    // Lᵀ y = z, from the last row up.
    for (j, col) in fac.chunks_exact(p).enumerate().take(p).rev() {
        let tail = match (col.get(j + 1..), x.get(j + 1..)) {
            (Some(l), Some(y)) => super::dot(l, y),
            _ => T::zero(),
        };
        let yj = (rd(x, j) - tail) / rd(col, j);
        wr(x, j, yj);
    }
}
