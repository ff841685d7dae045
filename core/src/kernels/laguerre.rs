//! Laguerre's iteration on the characteristic polynomial of a symmetric
//! tridiagonal matrix, in lockstep over lanes, with the polynomial
//! evaluated by `LDLᵀ` pivots or (small sizes) the three-term recurrence.

use super::extremes::Lane;
use crate::scalar::{abs, max, min, sqrt, Real};

/// The state of [`laguerre`]'s recurrence for `L` lanes after some rows:
/// `r = 1/qᵢ`, `dq = qᵢ'`, `d2q = qᵢ''`, the sums `g = Σ qᵢ'/qᵢ`,
/// `f2 = Σ (qᵢ''/qᵢ − (qᵢ'/qᵢ)²)` and the count of negative pivots (kept
/// as a float so that every lane operation is one vector operation).
pub(super) struct Recurrence<T, const L: usize> {
    r: [T; L],
    dq: [T; L],
    d2q: [T; L],
    g: [T; L],
    f2: [T; L],
    below: [T; L],
}

impl<T: Real, const L: usize> Default for Recurrence<T, L> {
    fn default() -> Self {
        let z = [T::zero(); L];
        Self {
            r: z,
            dq: z,
            d2q: z,
            g: z,
            f2: z,
            below: z,
        }
    }
}

/// One row `i` of the pivot recurrence, in every lane: `qᵢ = dᵢ − x −
/// e²ᵢ₋₁/qᵢ₋₁` and its first two x-derivatives. Written lane by lane
/// over fixed-size arrays with no branch, so that the lanes become vector
/// operations; each lane's arithmetic is the scalar recurrence's.
#[inline(always)]
#[allow(clippy::indexing_slicing, clippy::needless_range_loop)] // j < L, the arrays' length, in every loop
pub(super) fn pivot_row<T: Real, const L: usize>(
    s: &mut Recurrence<T, L>,
    x: &[T; L],
    d: &[T; L],
    e2: &[T; L],
    pivmin: &[T; L],
    inv_neg_pivmin: &[T; L],
) {
    for j in 0..L {
        let (r, dq, d2q, e2) = (s.r[j], s.dq[j], s.d2q[j], e2[j]);
        let r2 = r * r;
        let q = d[j] - x[j] - e2 * r;
        let dqi = e2 * dq * r2 - T::one();
        let d2qi = e2 * (d2q * r2 - (dq + dq) * dq * r2 * r);
        // A pivot too small to divide by counts as −pivmin (LAPACK's
        // dstebz); the division starts before that test settles.
        let tiny = abs(q) < pivmin[j];
        let inv = T::one() / q;
        let qc = if tiny { -pivmin[j] } else { q };
        s.below[j] += if qc < T::zero() { T::one() } else { T::zero() };
        let rn = if tiny { inv_neg_pivmin[j] } else { inv };
        s.r[j] = rn;
        s.dq[j] = dqi;
        s.d2q[j] = d2qi;
        let sv = dqi * rn;
        s.g[j] += sv;
        s.f2[j] += d2qi * rn - sv * sv;
    }
}

/// Laguerre's step in every lane (computed for idle lanes too, so that it
/// is a few vector operations): the denominator `G ± √((p−1)(pH − G²))`
/// with the sign of `G`, and the next iterate `x − p/den`.
pub(super) struct LaguerreStep<T, const L: usize> {
    den: [T; L],
    next: [T; L],
    /// Bound on the distance from `next` to the end being sought.
    err: [T; L],
}

#[inline(always)]
#[allow(clippy::indexing_slicing, clippy::needless_range_loop)] // j < L, the arrays' length
pub(super) fn laguerre_step<T: Real, const L: usize>(
    ev: &Eval<T, L>,
    x: &[T; L],
    pt: T,
) -> LaguerreStep<T, L> {
    let mut out = LaguerreStep {
        den: [T::zero(); L],
        next: [T::zero(); L],
        err: [T::zero(); L],
    };
    for j in 0..L {
        let (gj, h) = (ev.g[j], ev.h[j]);
        let disc = sqrt(max(T::zero(), (pt - T::one()) * (pt * h - gj * gj)));
        let den = if gj >= T::zero() {
            gj + disc
        } else {
            gj - disc
        };
        let step = pt / den;
        out.den[j] = den;
        out.next[j] = x[j] - step;
        // With uᵢ = 1/(x − λᵢ), all of one sign outside the spectrum,
        // G = Σuᵢ and H = Σuᵢ² ≤ |u_end|·|G|, so the end is within |G|/H
        // of x (and within p/|G|, the weaker bound when H is lost to
        // rounding); Laguerre's step p/|den| is a lower bound on that
        // distance (it never passes the end), so the end is within
        // `err` of the next iterate: the stopping test needs no further
        // evaluation.
        let ag = abs(gj);
        let bound = if h > T::zero() {
            min(pt / ag, ag / h)
        } else {
            pt / ag
        };
        out.err[j] = bound - abs(step);
    }
    out
}

/// Rows of the tridiagonals that [`Pivots`] gathers at a time.
pub(super) const LAGUERRE_ROWS: usize = 8;

/// `G = f'/f`, `H = G² − f''/f` of `f(x) = det(T − xI)` in every lane, and
/// the number of eigenvalues below `x` (Sturm count; a float, so that lane
/// operations stay vector operations).
pub(super) struct Eval<T, const L: usize> {
    g: [T; L],
    h: [T; L],
    below: [T; L],
}

/// How [`laguerre`] evaluates the characteristic polynomials of its lanes.
pub(super) trait CharPoly<T: Real, const L: usize> {
    fn eval(&self, x: &[T; L]) -> Eval<T, L>;
}

/// The `LDLᵀ` pivots of `T − xI`, `qᵢ = dᵢ − x − e²ᵢ₋₁/qᵢ₋₁`, and their
/// x-derivatives: the backward-stable recurrence of Sturm-count bisection
/// (LAPACK's dstebz), safe at every size, one division per row.
pub(super) struct Pivots<'a, T, const L: usize> {
    pub(super) d: [&'a [T]; L],
    pub(super) e2: [&'a [T]; L],
    pub(super) p: usize,
    pub(super) pivmin: [T; L],
    pub(super) inv_neg_pivmin: [T; L],
}

impl<T: Real, const L: usize> CharPoly<T, L> for Pivots<'_, T, L> {
    #[inline(always)]
    fn eval(&self, x: &[T; L]) -> Eval<T, L> {
        // Starting from r = 1/q₋₁ = 0, q₋₁' = q₋₁'' = 0, which gives
        // q₀ = d₀ − x exactly.
        let mut rec = Recurrence::<T, L>::default();
        let mut i0 = 0;
        while i0 < self.p {
            // The next rows of every lane, gathered into fixed-size blocks
            // so that the recurrence runs on registers, across lanes.
            let len = (self.p - i0).min(LAGUERRE_ROWS);
            let mut dblk = [[T::zero(); L]; LAGUERRE_ROWS];
            let mut eblk = [[T::zero(); L]; LAGUERRE_ROWS];
            gather(&mut dblk, &self.d, i0, len);
            gather(&mut eblk, &self.e2, i0, len);
            for (row_d, row_e) in dblk.iter().zip(eblk.iter()).take(len) {
                pivot_row(
                    &mut rec,
                    x,
                    row_d,
                    row_e,
                    &self.pivmin,
                    &self.inv_neg_pivmin,
                );
            }
            i0 += len;
        }
        Eval {
            g: rec.g,
            h: rec.f2.map(|v| -v),
            below: rec.below,
        }
    }
}

/// `blk[r][j] = src[j][i0 + r]` for `r < len`.
#[inline(always)]
pub(super) fn gather<T: Real, const L: usize, const R: usize>(
    blk: &mut [[T; L]; R],
    src: &[&[T]; L],
    i0: usize,
    len: usize,
) {
    for (j, sj) in src.iter().enumerate() {
        let col = sj.get(i0..i0 + len).unwrap_or(&[]);
        for (row, &v) in blk.iter_mut().zip(col) {
            if let Some(y) = row.get_mut(j) {
                *y = v;
            }
        }
    }
}

/// Largest size evaluated by [`ThreeTerm`].
pub(super) const THREE_TERM_MAX: usize = 4;

/// `f(x) = det(T − xI)` itself by the three-term recurrence
/// `fᵢ = (dᵢ − x)fᵢ₋₁ − e²ᵢ₋₁fᵢ₋₂` and its x-derivatives, for `P ≤ 4`:
/// no division in the recurrence, so a row costs a multiply and a subtract
/// of latency instead of a division (the recurrence is as backward stable
/// as the pivots', Wilkinson; the pivots are the ratios `fᵢ/fᵢ₋₁`). Its
/// weakness is range, not rounding: on a tridiagonal scaled so that its
/// largest entry is in `[0.5, 1)` (which [`tridiagonal`](super::tridiagonal::tridiagonal) does for these
/// sizes), `|fᵢ| ≤ 7⁴` and, with `x` outside the spectrum (interlacing),
/// `|fᵢ| ≥ dist(x, spectrum)⁴`, in range in `f32` down to distances far
/// below rounding; a zero `f` (x on an eigenvalue) reads as "not outside",
/// which ends the lane there.
pub(super) struct ThreeTerm<T, const L: usize, const P: usize> {
    pub(super) d: [[T; L]; P],
    pub(super) e2: [[T; L]; P],
}

impl<T: Real, const L: usize, const P: usize> CharPoly<T, L> for ThreeTerm<T, L, P> {
    #[inline(always)]
    #[allow(clippy::indexing_slicing, clippy::needless_range_loop)] // j < L, the arrays' length
    fn eval(&self, x: &[T; L]) -> Eval<T, L> {
        let z = [T::zero(); L];
        let (mut f, mut df, mut d2f) = ([T::one(); L], z, z);
        let (mut f1, mut df1, mut d2f1) = (z, z, z);
        let mut below = z;
        for (d, e2) in self.d.iter().zip(self.e2.iter()) {
            for j in 0..L {
                let a = d[j] - x[j];
                let fi = a * f[j] - e2[j] * f1[j];
                let dfi = (a * df[j] - f[j]) - e2[j] * df1[j];
                let d2fi = (a * d2f[j] - (df[j] + df[j])) - e2[j] * d2f1[j];
                // A sign change between fᵢ₋₁ and fᵢ is a negative pivot.
                let change = (fi < T::zero()) != (f[j] < T::zero()) || fi == T::zero();
                below[j] += if change { T::one() } else { T::zero() };
                (f1[j], df1[j], d2f1[j]) = (f[j], df[j], d2f[j]);
                (f[j], df[j], d2f[j]) = (fi, dfi, d2fi);
            }
        }
        let mut g = z;
        let mut h = z;
        for j in 0..L {
            let inv = T::one() / f[j];
            g[j] = df[j] * inv;
            h[j] = g[j] * g[j] - d2f[j] * inv;
        }
        Eval { g, h, below }
    }
}

/// Laguerre's iteration for `L` independent lanes in lockstep (the
/// divisions of one lane overlap those of the others). Lane `j` works
/// towards one end of the spectrum of its tridiagonal (of size `p`, its
/// characteristic polynomial evaluated by `poly`) as `lanes[j]` says (see
/// [`Lane`]); an idle lane (`on == false`) is computed and ignored. Each
/// lane's arithmetic is the same whatever the other lanes do. A lane
/// started from a hint that the first Sturm count puts inside the spectrum
/// (or where the step is not defined) restarts from Gershgorin's bound.
#[inline(always)]
pub(super) fn laguerre<T: Real, const L: usize>(
    poly: &impl CharPoly<T, L>,
    p: usize,
    lanes: [Lane<T>; L],
) -> [T; L] {
    let pt = T::of_usize(p);
    let mut x = lanes.map(|l| l.start);
    let mut active = lanes.map(|l| l.on);
    // A lane still at a hinted start, not yet known to be outside.
    let mut unverified = lanes.map(|l| l.start != l.safe_start);
    for _ in 0..128 {
        let ev = poly.eval(&x);
        let step = laguerre_step(&ev, &x, pt);
        for ((((xj, act), unv), lane), ((&bj, &err), (&den, &next))) in x
            .iter_mut()
            .zip(active.iter_mut())
            .zip(unverified.iter_mut())
            .zip(lanes.iter())
            .zip(
                ev.below
                    .iter()
                    .zip(&step.err)
                    .zip(step.den.iter().zip(&step.next)),
            )
        {
            if !*act {
                continue;
            }
            let Lane { t, above, .. } = *lane;
            // Monotone from outside in exact arithmetic: x inside the
            // spectrum means rounding carried it past the end, within the
            // last (rounding-sized) step, or that a hint was wrong.
            let outside = if above { bj == pt } else { bj == T::zero() };
            let usable = outside && abs(den) > T::zero() && den.finite();
            if core::mem::take(unv) && !usable {
                *xj = lane.safe_start;
                continue;
            }
            if !usable {
                *act = false;
                continue;
            }
            if !(err > T::EPSILON * abs(next) + t.atol) || next == *xj {
                *act = false;
            }
            *xj = next;
        }
        if !active.iter().any(|&a| a) {
            break;
        }
    }
    // The Gershgorin interval holds every eigenvalue.
    let mut out = x;
    for (v, lane) in out.iter_mut().zip(lanes.iter()) {
        *v = max(lane.t.lo, min(lane.t.hi, *v));
    }
    out
}
