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
    dot_inlined(a, b)
}

/// [`dot`], always inlined: for the fixed-size loops of
/// [`tridiagonal_small`], where a call costs more than the arithmetic.
/// (Inlining every `dot` made the step slower.)
#[inline(always)]
fn dot_inlined<T: Real>(a: &[T], b: &[T]) -> T {
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
fn axpy_inlined<T: Real>(y: &mut [T], s: T, x: &[T]) {
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

// ---------------------------------------------------------------------------
// Matrix products.
//
// Each output entry is a sum in a fixed order: `mm_nn` and `mm_nt` add the
// products `a_{i,kk} b_{kk,j}` for kk = 0, 1, … onto 0 one after the other;
// `mm_tn` is the eight-lane [`dot`] of a column of `A` with a column of `B`.
// Speed comes only from computing many independent outputs at once (a block
// of `MR` rows × `NR` columns of `C` kept in registers), never from
// reordering a sum, so the blocking, the vector width and the instruction
// set change no bit of the result. On x86-64 the same generic bodies are
// also compiled for AVX2 and AVX-512F (wider registers, no FMA: Rust never
// fuses a multiply and an add on its own) and chosen at run time by
// [`simd::level`]; `core/tests/kernels.rs` checks that every level gives the
// bits of the portable one.
// ---------------------------------------------------------------------------

/// `acc[j][i] = init[j][i] + Σ_kk a[i0 + i, kk] · b_kk[j]`, the products
/// added one after the other for kk ascending, where `bk` yields the rows
/// `b_kk` in order: one `MR×NR` block of `C` (`a` is `r×k`, column-major).
/// A sum starts from 0 (`FRESH`) or continues from the partial sum already
/// in `c` (the same additions in the same order: storing a partial sum and
/// loading it back rounds nothing).
#[inline(always)]
fn block_n<T: Real, const MR: usize, const NR: usize, const FRESH: bool>(
    c: &[T],
    a: &[T],
    r: usize,
    i0: usize,
    bk: impl Iterator<Item = [T; NR]>,
) -> [[T; MR]; NR] {
    let mut acc = [[T::zero(); MR]; NR];
    if !FRESH {
        for (accj, c_col) in acc.iter_mut().zip(c.chunks_exact(r)) {
            if let Some(src) = c_col.get(i0..i0 + MR) {
                accj.copy_from_slice(src);
            }
        }
    }
    for (a_col, b) in a.chunks_exact(r).zip(bk) {
        let Some(ab) = a_col.get(i0..i0 + MR) else {
            break;
        };
        for (accj, &bj) in acc.iter_mut().zip(b.iter()) {
            for (cij, &ai) in accj.iter_mut().zip(ab) {
                *cij += ai * bj;
            }
        }
    }
    acc
}

/// Writes the `MR×NR` block `acc` at rows `i0..` of the `r`-row panel `c`.
#[inline(always)]
fn store_block<T: Real, const MR: usize, const NR: usize>(
    c: &mut [T],
    r: usize,
    i0: usize,
    acc: &[[T; MR]; NR],
) {
    for (c_col, accj) in c.chunks_exact_mut(r).zip(acc) {
        if let Some(dst) = c_col.get_mut(i0..i0 + MR) {
            dst.copy_from_slice(accj);
        }
    }
}

/// One panel of `NR` columns of `C = A·B̃`, where `bk` yields the rows of
/// those columns of `B̃` in order: row blocks of `MR`, then 4, then 1.
#[inline(always)]
fn panel_n<T: Real, const MR: usize, const NR: usize>(
    c: &mut [T],
    fresh: bool,
    a: &[T],
    r: usize,
    bk: impl Iterator<Item = [T; NR]> + Clone,
) {
    if fresh {
        panel_rows::<T, MR, NR, true>(c, a, r, bk);
    } else {
        panel_rows::<T, MR, NR, false>(c, a, r, bk);
    }
}

#[inline(always)]
fn panel_rows<T: Real, const MR: usize, const NR: usize, const FRESH: bool>(
    c: &mut [T],
    a: &[T],
    r: usize,
    bk: impl Iterator<Item = [T; NR]> + Clone,
) {
    let mut i0 = 0;
    while i0 + MR <= r {
        let acc = block_n::<T, MR, NR, FRESH>(c, a, r, i0, bk.clone());
        store_block(c, r, i0, &acc);
        i0 += MR;
    }
    while i0 + 4 <= r {
        let acc = block_n::<T, 4, NR, FRESH>(c, a, r, i0, bk.clone());
        store_block(c, r, i0, &acc);
        i0 += 4;
    }
    while i0 < r {
        let acc = block_n::<T, 1, NR, FRESH>(c, a, r, i0, bk.clone());
        store_block(c, r, i0, &acc);
        i0 += 1;
    }
}

/// Length of the slices of the inner index that [`mm_nn`] and [`mm_nt`]
/// sweep over all of `C` before moving on when `A` is too large for the
/// cache (above `KC_ABOVE` entries), so that the slice of `A` (`r × KC`
/// entries) stays in cache while every column panel uses it.
const KC: usize = 256;
const KC_ABOVE: usize = 1 << 16;

/// The slice length of the inner index for an `r×k` `A`.
#[inline(always)]
fn k_slice(r: usize, k: usize) -> usize {
    if r.saturating_mul(k) > KC_ABOVE {
        KC
    } else {
        k.max(1)
    }
}

/// Body of [`mm_nn`] with row blocks of `MR`.
#[inline(always)]
fn mm_nn_body<T: Real, const MR: usize>(c: &mut [T], a: &[T], b: &[T], r: usize, k: usize) {
    let mut k0 = 0;
    while k0 < k {
        let kc = k_slice(r, k).min(k - k0);
        let a_k = a.get(k0 * r..(k0 + kc) * r).unwrap_or(&[]);
        let fresh = k0 == 0;
        // Rows k0..k0+kc of the columns of B.
        let mut bcols = b
            .chunks_exact(k)
            .map(|col| col.get(k0..k0 + kc).unwrap_or(&[]));
        for c_panel in c.chunks_exact_mut(4 * r) {
            let (Some(b0), Some(b1), Some(b2), Some(b3)) =
                (bcols.next(), bcols.next(), bcols.next(), bcols.next())
            else {
                return;
            };
            let rows = b0
                .iter()
                .zip(b1)
                .zip(b2)
                .zip(b3)
                .map(|(((&x0, &x1), &x2), &x3)| [x0, x1, x2, x3]);
            panel_n::<T, MR, 4>(c_panel, fresh, a_k, r, rows);
        }
        let done = c.len() / (4 * r) * 4;
        for (c_col, bcol) in c.chunks_exact_mut(r).skip(done).zip(bcols) {
            panel_n::<T, MR, 1>(c_col, fresh, a_k, r, bcol.iter().map(|&x| [x]));
        }
        k0 += kc;
    }
}

/// Body of [`mm_nt`] with row blocks of `MR`.
#[inline(always)]
fn mm_nt_body<T: Real, const MR: usize>(c: &mut [T], a: &[T], b: &[T], r: usize, k: usize) {
    let cols = c.len() / r;
    if cols == 0 {
        return;
    }
    let mut k0 = 0;
    while k0 < k {
        let kc = k_slice(r, k).min(k - k0);
        let a_k = a.get(k0 * r..(k0 + kc) * r).unwrap_or(&[]);
        let fresh = k0 == 0;
        // Row kk of B̃ = Bᵀ is column kk of B (length `cols`).
        let bcols = b
            .get(k0 * cols..(k0 + kc) * cols)
            .unwrap_or(&[])
            .chunks_exact(cols);
        let mut j0 = 0;
        for c_panel in c.chunks_exact_mut(4 * r) {
            let rows = bcols.clone().map(move |col| match col.get(j0..j0 + 4) {
                Some(&[x0, x1, x2, x3]) => [x0, x1, x2, x3],
                _ => [T::zero(); 4],
            });
            panel_n::<T, MR, 4>(c_panel, fresh, a_k, r, rows);
            j0 += 4;
        }
        for (c_col, jj) in c.chunks_exact_mut(r).skip(j0).zip(j0..cols) {
            let rows = bcols.clone().map(move |col| [rd(col, jj)]);
            panel_n::<T, MR, 1>(c_col, fresh, a_k, r, rows);
        }
        k0 += kc;
    }
}

/// Eight-lane partial sums of `NI×NJ` dot products of columns of `A` and
/// `B` (both `k` rows), in the order of [`dot`], combined by its tree.
#[inline(always)]
fn block_tn<T: Real, const NI: usize, const NJ: usize>(
    a_cols: [&[T]; NI],
    b_cols: [&[T]; NJ],
) -> [[T; NI]; NJ] {
    let mut acc = [[[T::zero(); 8]; NI]; NJ];
    let k = a_cols
        .iter()
        .chain(b_cols.iter())
        .map(|c| c.len())
        .min()
        .unwrap_or(0);
    let full = k / 8 * 8;
    let mut q = 0;
    while q < full {
        let ach: [[T; 8]; NI] = a_cols.map(|c| chunk8(c, q));
        for (accj, bc) in acc.iter_mut().zip(b_cols.iter()) {
            let bch = chunk8(bc, q);
            for (acci, ai) in accj.iter_mut().zip(ach.iter()) {
                for ((s, &x), &y) in acci.iter_mut().zip(ai).zip(&bch) {
                    *s += x * y;
                }
            }
        }
        q += 8;
    }
    for (accj, bc) in acc.iter_mut().zip(b_cols.iter()) {
        let rb = bc.get(full..k).unwrap_or(&[]);
        for (acci, ac) in accj.iter_mut().zip(a_cols.iter()) {
            let ra = ac.get(full..k).unwrap_or(&[]);
            for ((s, &x), &y) in acci.iter_mut().zip(ra).zip(rb) {
                *s += x * y;
            }
        }
    }
    acc.map(|accj| {
        accj.map(|[a0, a1, a2, a3, a4, a5, a6, a7]| {
            ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7))
        })
    })
}

#[inline(always)]
fn chunk8<T: Real>(c: &[T], q: usize) -> [T; 8] {
    match c.get(q..q + 8) {
        Some(&[x0, x1, x2, x3, x4, x5, x6, x7]) => [x0, x1, x2, x3, x4, x5, x6, x7],
        _ => [T::zero(); 8],
    }
}

/// Column `j` of the column-major `m` with `k` rows (empty if missing).
#[inline(always)]
fn col<T>(m: &[T], j: usize, k: usize) -> &[T] {
    m.get(j * k..(j + 1) * k).unwrap_or(&[])
}

/// Rows of `A` that [`tn_rows_across`] holds transposed on the stack.
const TN_KB: usize = 64;

/// `C[i0..i0+MI, :]` of `C = AᵀB` for `k ≤ TN_KB`, vectorized across the
/// `MI` outputs of a column: the block `A[:, i0..i0+MI]` is transposed once
/// onto the stack, then for every column of `B` the eight lane sums of the
/// `MI` dot products advance together (lane `l` of output `i` still sums
/// `a[8q+l, i] b[8q+l, j]` over q ascending, remainder last, then [`dot`]'s
/// tree), so each output has exactly [`dot`]'s bits.
#[inline(always)]
fn tn_rows_across<T: Real, const MI: usize, const KB: usize>(
    c: &mut [T],
    a: &[T],
    b: &[T],
    r: usize,
    k: usize,
    i0: usize,
) {
    let mut at = [[T::zero(); MI]; KB];
    transpose_block(&mut at, a, k, i0);
    let at = at.get(..k).unwrap_or(&[]);
    let full = at.chunks_exact(8);
    let rest = full.remainder();
    for (c_col, bcol) in c.chunks_exact_mut(r).zip(b.chunks_exact(k)) {
        let mut acc = [[T::zero(); MI]; 8];
        let bfull = bcol.chunks_exact(8);
        let brest = bfull.remainder();
        for (atc, bc) in full.clone().zip(bfull) {
            // The eight lanes written out, so that vectors run across the
            // MI outputs (contiguous) and never across lanes (which AVX-512
            // would do with gathers and scatters).
            let (Ok(rows), Ok(bv)) = (<&[[T; MI]; 8]>::try_from(atc), <&[T; 8]>::try_from(bc))
            else {
                break;
            };
            let [a0, a1, a2, a3, a4, a5, a6, a7] = &mut acc;
            let [r0, r1, r2, r3, r4, r5, r6, r7] = rows;
            let [b0, b1, b2, b3, b4, b5, b6, b7] = *bv;
            lane_axpy(a0, r0, b0);
            lane_axpy(a1, r1, b1);
            lane_axpy(a2, r2, b2);
            lane_axpy(a3, r3, b3);
            lane_axpy(a4, r4, b4);
            lane_axpy(a5, r5, b5);
            lane_axpy(a6, r6, b6);
            lane_axpy(a7, r7, b7);
        }
        // The remainder (fewer than eight rows) goes to the first lanes.
        {
            let [a0, a1, a2, a3, a4, a5, a6, a7] = &mut acc;
            let lanes: [&mut [T; MI]; 8] = [a0, a1, a2, a3, a4, a5, a6, a7];
            for (acc_l, (row, &bv)) in lanes.into_iter().zip(rest.iter().zip(brest)) {
                lane_axpy(acc_l, row, bv);
            }
        }
        let [a0, a1, a2, a3, a4, a5, a6, a7] = acc;
        if let Some(dst) = c_col.get_mut(i0..i0 + MI) {
            for (i, d) in dst.iter_mut().enumerate() {
                let l = |v: &[T; MI]| v.get(i).copied().unwrap_or_else(T::zero);
                *d = ((l(&a0) + l(&a4)) + (l(&a1) + l(&a5)))
                    + ((l(&a2) + l(&a6)) + (l(&a3) + l(&a7)));
            }
        }
    }
}

/// `acc[i] += row[i]·b` for the `MI` outputs of one lane.
#[inline(always)]
fn lane_axpy<T: Real, const MI: usize>(acc: &mut [T; MI], row: &[T; MI], b: T) {
    for (s, &x) in acc.iter_mut().zip(row) {
        *s += x * b;
    }
}

/// `at[l][i] = a[l, i0 + i]` (`a` is `k×·`, column-major). Kept out of
/// line, i.e. compiled for the baseline instruction set: its strided stores
/// must not become AVX-512 scatter instructions, which are slow.
#[inline(never)]
fn transpose_block<T: Real, const MI: usize, const KB: usize>(
    at: &mut [[T; MI]; KB],
    a: &[T],
    k: usize,
    i0: usize,
) {
    for (i, acol) in a.chunks_exact(k).skip(i0).take(MI).enumerate() {
        for (row, &x) in at.iter_mut().zip(acol) {
            if let Some(y) = row.get_mut(i) {
                *y = x;
            }
        }
    }
}

/// Body of [`mm_tn`]: for short columns (`k ≤ 64`, e.g. `B = W₁ᵀG` with
/// `k = n`) row blocks of `MI` vectorized across outputs; otherwise, and for
/// the last rows, blocks of 2×2 dot products (each column of `A` and `B`
/// read once per block instead of once per output).
#[inline(always)]
fn mm_tn_body<T: Real, const MI: usize>(c: &mut [T], a: &[T], b: &[T], r: usize, k: usize) {
    let mut i_start = 0;
    // At least one full eight-lane chunk, or the transposition costs more
    // than it saves.
    if k <= TN_KB {
        while i_start + MI <= r {
            // A stack block no taller than needed (it is zeroed each time).
            if k <= 8 {
                tn_rows_across::<T, MI, 8>(c, a, b, r, k, i_start);
            } else if k <= 24 {
                tn_rows_across::<T, MI, 24>(c, a, b, r, k, i_start);
            } else {
                tn_rows_across::<T, MI, TN_KB>(c, a, b, r, k, i_start);
            }
            i_start += MI;
        }
    }
    let cols = c.len() / r;
    let mut j0 = 0;
    while j0 + 2 <= cols {
        let bc = [col(b, j0, k), col(b, j0 + 1, k)];
        let mut i0 = i_start;
        while i0 + 2 <= r {
            let [[c00, c10], [c01, c11]] =
                block_tn::<T, 2, 2>([col(a, i0, k), col(a, i0 + 1, k)], bc);
            wr(c, i0 + j0 * r, c00);
            wr(c, i0 + 1 + j0 * r, c10);
            wr(c, i0 + (j0 + 1) * r, c01);
            wr(c, i0 + 1 + (j0 + 1) * r, c11);
            i0 += 2;
        }
        if i0 < r {
            let [[c0], [c1]] = block_tn::<T, 1, 2>([col(a, i0, k)], bc);
            wr(c, i0 + j0 * r, c0);
            wr(c, i0 + (j0 + 1) * r, c1);
        }
        j0 += 2;
    }
    if j0 < cols {
        let bc = [col(b, j0, k)];
        let mut i0 = i_start;
        while i0 + 2 <= r {
            let [[c0, c1]] = block_tn::<T, 2, 1>([col(a, i0, k), col(a, i0 + 1, k)], bc);
            wr(c, i0 + j0 * r, c0);
            wr(c, i0 + 1 + j0 * r, c1);
            i0 += 2;
        }
        if i0 < r {
            let [[c0]] = block_tn::<T, 1, 1>([col(a, i0, k)], bc);
            wr(c, i0 + j0 * r, c0);
        }
    }
}

/// Which instruction set the matrix products run with (x86-64 only; every
/// level gives the same bits, see the section comment above).
pub mod simd {
    /// Baseline (SSE2 on x86-64; the only level elsewhere).
    pub const BASELINE: u8 = 0;
    /// AVX2 (256-bit registers).
    pub const AVX2: u8 = 1;
    /// AVX-512F (512-bit registers).
    pub const AVX512: u8 = 2;

    #[cfg(target_arch = "x86_64")]
    mod detect {
        use core::sync::atomic::{AtomicU8, Ordering};

        const UNKNOWN: u8 = u8::MAX;
        static DETECTED: AtomicU8 = AtomicU8::new(UNKNOWN);
        static CAP: AtomicU8 = AtomicU8::new(u8::MAX - 1);

        #[target_feature(enable = "xsave")]
        fn xcr0() -> u64 {
            // SAFETY: only called after CPUID reported OSXSAVE, so XGETBV exists.
            unsafe { core::arch::x86_64::_xgetbv(0) }
        }

        fn cpu_level() -> u8 {
            use core::arch::x86_64::{__cpuid, __cpuid_count};
            let leaf1 = __cpuid(1);
            let osxsave = leaf1.ecx & (1 << 27) != 0;
            let avx = leaf1.ecx & (1 << 28) != 0;
            if !(osxsave && avx) || __cpuid(0).eax < 7 {
                return super::BASELINE;
            }
            // SAFETY: OSXSAVE was checked above.
            let xcr0 = unsafe { xcr0() };
            if xcr0 & 0x6 != 0x6 {
                return super::BASELINE;
            }
            let ebx = __cpuid_count(7, 0).ebx;
            if ebx & (1 << 16) != 0 && xcr0 & 0xe0 == 0xe0 {
                super::AVX512
            } else if ebx & (1 << 5) != 0 {
                super::AVX2
            } else {
                super::BASELINE
            }
        }

        pub fn detected() -> u8 {
            let l = DETECTED.load(Ordering::Relaxed);
            if l != UNKNOWN {
                return l;
            }
            let l = cpu_level();
            DETECTED.store(l, Ordering::Relaxed);
            l
        }

        pub fn level() -> u8 {
            detected().min(CAP.load(Ordering::Relaxed))
        }

        pub fn cap(l: u8) {
            CAP.store(l, Ordering::Relaxed);
        }
    }

    /// The level the matrix products use now: the best the CPU and the
    /// operating system support, unless lowered by [`cap_level`].
    pub fn level() -> u8 {
        #[cfg(target_arch = "x86_64")]
        {
            detect::level()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            BASELINE
        }
    }

    /// The best level this machine supports.
    pub fn detected_level() -> u8 {
        #[cfg(target_arch = "x86_64")]
        {
            detect::detected()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            BASELINE
        }
    }

    /// Caps the level (for the tests that compare levels bit for bit, and
    /// for measuring them); results do not depend on it.
    pub fn cap_level(l: u8) {
        #[cfg(target_arch = "x86_64")]
        detect::cap(l);
        #[cfg(not(target_arch = "x86_64"))]
        let _ = l;
    }
}

/// The three products compiled with wider instruction sets: the same
/// generic bodies, wider blocks.
#[cfg(target_arch = "x86_64")]
mod wide {
    use super::{
        mm_nn_body, mm_nt_body, mm_tn_body, sym_extremes3_body, sym_extremes_body, Real, StartHints,
    };

    macro_rules! variant {
        ($feature:literal, $nn:ident, $nt:ident, $tn:ident, $mr:literal, $mi:literal, $mi_wide:literal) => {
            #[target_feature(enable = $feature)]
            pub fn $nn<T: Real>(c: &mut [T], a: &[T], b: &[T], r: usize, k: usize) {
                mm_nn_body::<T, $mr>(c, a, b, r, k)
            }
            #[target_feature(enable = $feature)]
            pub fn $nt<T: Real>(c: &mut [T], a: &[T], b: &[T], r: usize, k: usize) {
                mm_nt_body::<T, $mr>(c, a, b, r, k)
            }
            #[target_feature(enable = $feature)]
            pub fn $tn<T: Real>(c: &mut [T], a: &[T], b: &[T], r: usize, k: usize) {
                // Wider row blocks only pay off with many rows.
                if r >= 8 * $mi_wide {
                    mm_tn_body::<T, $mi_wide>(c, a, b, r, k)
                } else {
                    mm_tn_body::<T, $mi>(c, a, b, r, k)
                }
            }
        };
    }
    variant!("avx2", nn_avx2, nt_avx2, tn_avx2, 4, 4, 4);

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
    variant!("avx512f", nn_avx512, nt_avx512, tn_avx512, 16, 4, 8);
}

/// Runs `$wide` variant for the detected level, else the portable `$body`.
macro_rules! dispatch {
    ($avx512:ident, $avx2:ident, $body:expr, ($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            match simd::level() {
                // SAFETY: the level is at most what CPUID and XCR0 report.
                simd::AVX512 => return unsafe { wide::$avx512($($arg),*) },
                // SAFETY: as above.
                simd::AVX2 => return unsafe { wide::$avx2($($arg),*) },
                _ => {}
            }
        }
        $body
    }};
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
    dispatch!(
        nn_avx512,
        nn_avx2,
        mm_nn_body::<T, 4>(c, a, b, r, k),
        (c, a, b, r, k)
    )
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
    dispatch!(
        tn_avx512,
        tn_avx2,
        mm_tn_body::<T, 2>(c, a, b, r, k),
        (c, a, b, r, k)
    )
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
    dispatch!(
        nt_avx512,
        nt_avx2,
        mm_nt_body::<T, 4>(c, a, b, r, k),
        (c, a, b, r, k)
    )
}

/// `C = AAᵀ` (`r×r`) for the `r×c` column-major `a`: the bits of
/// `mm_nt(out, a, a, r, c)` (each entry the products added onto 0 in
/// column order), each pair computed once; for `r ≤ 8` with the sums in
/// registers.
pub fn gram_nt<T: Real>(out: &mut [T], a: &[T], r: usize, c: usize) {
    match r {
        1 => gram_nt_small::<T, 1>(out, a, c),
        2 => gram_nt_small::<T, 2>(out, a, c),
        3 => gram_nt_small::<T, 3>(out, a, c),
        4 => gram_nt_small::<T, 4>(out, a, c),
        5 => gram_nt_small::<T, 5>(out, a, c),
        6 => gram_nt_small::<T, 6>(out, a, c),
        7 => gram_nt_small::<T, 7>(out, a, c),
        8 => gram_nt_small::<T, 8>(out, a, c),
        _ => mm_nt(out, a, a, r, c),
    }
}

#[allow(clippy::indexing_slicing, clippy::needless_range_loop)] // i, j < R, the arrays' length
fn gram_nt_small<T: Real, const R: usize>(out: &mut [T], a: &[T], c: usize) {
    let mut acc = [[T::zero(); R]; R];
    for x in a.chunks_exact(R).take(c) {
        let x: &[T; R] = match x.try_into() {
            Ok(x) => x,
            Err(_) => return,
        };
        for j in 0..R {
            for i in j..R {
                acc[j][i] += x[i] * x[j];
            }
        }
    }
    for j in 0..R {
        for i in j..R {
            wr(out, i + j * R, acc[j][i]);
            wr(out, j + i * R, acc[j][i]);
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
fn sym_extremes_body<T: Real>(
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
fn sym_extremes3_body<T: Real>(
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
fn tridiagonals<T: Real, const K: usize>(
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
/// three-term recurrence up to [`THREE_TERM_MAX`], by pivots above.
#[inline(always)]
fn laguerre_lanes<T: Real, const L: usize>(
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
struct Lane<T> {
    t: Tridiagonal<T>,
    /// Towards `λ_max` from above (else `λ_min` from below).
    above: bool,
    /// The lane runs at all.
    on: bool,
    /// Gershgorin's start, outside the spectrum for sure.
    safe_start: T,
    /// The start (the hint, scaled, when it is tighter than Gershgorin's).
    start: T,
}

impl<T: Real> Lane<T> {
    fn max(t: Tridiagonal<T>, hint: Option<T>) -> Self {
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

    fn min(t: Tridiagonal<T>, on: bool, hint: Option<T>) -> Self {
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

/// Bounds of the spectrum of a tridiagonal matrix and the tolerances of
/// the iteration on it.
#[derive(Clone, Copy)]
struct Tridiagonal<T> {
    /// Gershgorin interval.
    lo: T,
    hi: T,
    /// Pivots below this are replaced by −pivmin (LAPACK's dstebz).
    pivmin: T,
    /// Absolute accuracy the reduction leaves: ε‖T‖.
    atol: T,
    /// The matrix was scaled by `2^-exp` (exactly): eigenvalues are
    /// `2^exp` times those of `T`.
    exp: i32,
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
    fn scale(&self, v: T) -> T {
        if self.exp == 0 {
            v
        } else {
            T::of(v.to_f64() * pow2(-self.exp))
        }
    }

    /// An eigenvalue of `T` back in the units of the input matrix.
    fn unscale(&self, v: T) -> T {
        if self.exp == 0 {
            v
        } else {
            T::of(v.to_f64() * pow2(self.exp))
        }
    }
}

/// `2^e` in `f64` (0 or ∞ outside the normal range).
fn pow2(e: i32) -> f64 {
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
fn square_safe_sum<T: Real>(sq: T) -> bool {
    let margin = T::of(1_099_511_627_776.0); // 2⁴⁰
    sq > T::MIN_POSITIVE * margin && (sq * margin).finite()
}

/// `true` when a matrix whose largest entry is `amax` can go through the
/// reduction and Laguerre's recurrence unscaled: the recurrence forms cubes
/// of pivot reciprocals, from `1/amax` (must not underflow) down to pivots
/// of `ε·amax` (must not overflow); squares of entries are then in range
/// too. In f64 that is about `1e-90 ≤ amax ≤ 1e90`.
fn scale_safe<T: Real>(amax: T) -> bool {
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
fn pow2_scale<T: Real>(m: T) -> Option<(T, i32)> {
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
/// [`laguerre`]: on return `a[..p]` holds the diagonal `dᵢ` and `work[..p]`
/// the squared off-diagonal `e²ᵢ₋₁` (`e²₋₁ = 0`). `None` when `p = 0`.
#[inline(always)]
fn tridiagonal<T: Real>(a: &mut [T], p: usize, work: &mut [T]) -> Option<Tridiagonal<T>> {
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
/// by `2^-exp`): bounds, tolerances and the layout for [`laguerre`].
#[inline(always)]
fn finish_tridiagonal<T: Real>(a: &mut [T], p: usize, work: &mut [T], exp: i32) -> Tridiagonal<T> {
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

/// The state of [`laguerre`]'s recurrence for `L` lanes after some rows:
/// `r = 1/qᵢ`, `dq = qᵢ'`, `d2q = qᵢ''`, the sums `g = Σ qᵢ'/qᵢ`,
/// `f2 = Σ (qᵢ''/qᵢ − (qᵢ'/qᵢ)²)` and the count of negative pivots (kept
/// as a float so that every lane operation is one vector operation).
struct Recurrence<T, const L: usize> {
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
fn pivot_row<T: Real, const L: usize>(
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
struct LaguerreStep<T, const L: usize> {
    den: [T; L],
    next: [T; L],
    /// Bound on the distance from `next` to the end being sought.
    err: [T; L],
}

#[inline(always)]
#[allow(clippy::indexing_slicing, clippy::needless_range_loop)] // j < L, the arrays' length
fn laguerre_step<T: Real, const L: usize>(
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
const LAGUERRE_ROWS: usize = 8;

/// `G = f'/f`, `H = G² − f''/f` of `f(x) = det(T − xI)` in every lane, and
/// the number of eigenvalues below `x` (Sturm count; a float, so that lane
/// operations stay vector operations).
struct Eval<T, const L: usize> {
    g: [T; L],
    h: [T; L],
    below: [T; L],
}

/// How [`laguerre`] evaluates the characteristic polynomials of its lanes.
trait CharPoly<T: Real, const L: usize> {
    fn eval(&self, x: &[T; L]) -> Eval<T, L>;
}

/// The `LDLᵀ` pivots of `T − xI`, `qᵢ = dᵢ − x − e²ᵢ₋₁/qᵢ₋₁`, and their
/// x-derivatives: the backward-stable recurrence of Sturm-count bisection
/// (LAPACK's dstebz), safe at every size, one division per row.
struct Pivots<'a, T, const L: usize> {
    d: [&'a [T]; L],
    e2: [&'a [T]; L],
    p: usize,
    pivmin: [T; L],
    inv_neg_pivmin: [T; L],
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
fn gather<T: Real, const L: usize, const R: usize>(
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
const THREE_TERM_MAX: usize = 4;

/// `f(x) = det(T − xI)` itself by the three-term recurrence
/// `fᵢ = (dᵢ − x)fᵢ₋₁ − e²ᵢ₋₁fᵢ₋₂` and its x-derivatives, for `P ≤ 4`:
/// no division in the recurrence, so a row costs a multiply and a subtract
/// of latency instead of a division (the recurrence is as backward stable
/// as the pivots', Wilkinson; the pivots are the ratios `fᵢ/fᵢ₋₁`). Its
/// weakness is range, not rounding: on a tridiagonal scaled so that its
/// largest entry is in `[0.5, 1)` (which [`tridiagonal`] does for these
/// sizes), `|fᵢ| ≤ 7⁴` and, with `x` outside the spectrum (interlacing),
/// `|fᵢ| ≥ dist(x, spectrum)⁴`, in range in `f32` down to distances far
/// below rounding; a zero `f` (x on an eigenvalue) reads as "not outside",
/// which ends the lane there.
struct ThreeTerm<T, const L: usize, const P: usize> {
    d: [[T; L]; P],
    e2: [[T; L]; P],
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
fn laguerre<T: Real, const L: usize>(
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
fn tridiagonal_small<T: Real, const P: usize, const K: usize>(
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
#[inline(always)]
fn tridiagonalize<T: Real>(a: &mut [T], p: usize, work: &mut [T]) {
    for k in 0..p.saturating_sub(2) {
        let (left, right) = a.split_at_mut(((k + 1) * p).min(a.len()));
        let Some(col_k) = left.chunks_exact_mut(p).nth(k) else {
            return;
        };
        let Some(x) = col_k.get_mut(k + 1..) else {
            return;
        };
        // The reflector is the same for any multiple of x: work with x
        // scaled by a power of two into [0.5, 1), so that ‖x‖² neither
        // underflows nor overflows (an exact scaling: the bits are those of
        // the unscaled computation whenever that one stays in range). A
        // column too small to scale is below rounding: left as it is.
        let mut nsq = sum_sq(x);
        let s = if square_safe_sum(nsq) {
            T::one()
        } else {
            let cmax = x.iter().fold(T::zero(), |m, &v| max(m, abs(v)));
            let Some((s, _)) = pow2_scale(cmax) else {
                continue;
            };
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
        // The new sub-diagonal entry, −sign(x₀)‖x‖, in the matrix's units.
        let alpha = if s == T::one() {
            alpha
        } else {
            alpha * (T::one() / s)
        };
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
