//! Matrix products.
//!
//! Each output entry is a sum in a fixed order: `mm_nn` and `mm_nt` add the
//! products `a_{i,kk} b_{kk,j}` for kk = 0, 1, … onto 0 one after the other;
//! `mm_tn` is the eight-lane [`dot`](super::dot) of a column of `A` with a column of `B`.
//! Speed comes only from computing many independent outputs at once (a block
//! of `MR` rows × `NR` columns of `C` kept in registers), never from
//! reordering a sum, so the blocking, the vector width and the instruction
//! set change no bit of the result. On x86-64 the same generic bodies are
//! also compiled for AVX2 and AVX-512F (wider registers, no FMA: Rust never
//! fuses a multiply and an add on its own) and chosen at run time by
//! [`simd::level`]; `core/tests/kernels.rs` checks that every level gives the
//! bits of the portable one.

// The dispatch macro names `simd::` only on x86-64.
#[cfg(target_arch = "x86_64")]
use super::simd;
use super::{rd, wr};
use crate::scalar::Real;

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
    rows: (usize, usize),
    bk: impl Iterator<Item = [T; NR]> + Clone,
) {
    if fresh {
        panel_rows::<T, MR, NR, true>(c, a, r, rows, bk);
    } else {
        panel_rows::<T, MR, NR, false>(c, a, r, rows, bk);
    }
}

#[inline(always)]
fn panel_rows<T: Real, const MR: usize, const NR: usize, const FRESH: bool>(
    c: &mut [T],
    a: &[T],
    r: usize,
    (lo, hi): (usize, usize),
    bk: impl Iterator<Item = [T; NR]> + Clone,
) {
    let mut i0 = lo;
    while i0 + MR <= hi {
        let acc = block_n::<T, MR, NR, FRESH>(c, a, r, i0, bk.clone());
        store_block(c, r, i0, &acc);
        i0 += MR;
    }
    while i0 + 4 <= hi {
        let acc = block_n::<T, 4, NR, FRESH>(c, a, r, i0, bk.clone());
        store_block(c, r, i0, &acc);
        i0 += 4;
    }
    while i0 < hi {
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

/// Bytes of `A` that [`mm_nn`] and [`mm_nt`] keep in the (L2) cache while
/// every column panel of `C` uses them: the rows of a `k`-slice are taken
/// `row_block` at a time. Blocking changes the order in which outputs are
/// computed, never the order of any output's sum.
const BLOCK_BYTES: usize = 192 * 1024;

/// Rows of a `kc`-long slice of `A` that fit [`BLOCK_BYTES`]: a multiple of
/// 48 (every row-block height `MR` divides it), at least 48.
#[inline(always)]
fn row_block<T>(kc: usize) -> usize {
    let rows = BLOCK_BYTES / (kc.max(1) * core::mem::size_of::<T>()).max(1);
    (rows / 48).max(1) * 48
}

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
        let mc = row_block::<T>(kc);
        let mut lo = 0;
        while lo < r {
            let rows_ab = (lo, (lo + mc).min(r));
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
                panel_n::<T, MR, 4>(c_panel, fresh, a_k, r, rows_ab, rows);
            }
            let done = c.len() / (4 * r) * 4;
            for (c_col, bcol) in c.chunks_exact_mut(r).skip(done).zip(bcols) {
                panel_n::<T, MR, 1>(c_col, fresh, a_k, r, rows_ab, bcol.iter().map(|&x| [x]));
            }
            lo = rows_ab.1;
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
        let mc = row_block::<T>(kc);
        let mut lo = 0;
        while lo < r {
            let rows_ab = (lo, (lo + mc).min(r));
            let mut j0 = 0;
            for c_panel in c.chunks_exact_mut(4 * r) {
                let rows = bcols.clone().map(move |col| match col.get(j0..j0 + 4) {
                    Some(&[x0, x1, x2, x3]) => [x0, x1, x2, x3],
                    _ => [T::zero(); 4],
                });
                panel_n::<T, MR, 4>(c_panel, fresh, a_k, r, rows_ab, rows);
                j0 += 4;
            }
            for (c_col, jj) in c.chunks_exact_mut(r).skip(j0).zip(j0..cols) {
                let rows = bcols.clone().map(move |col| [rd(col, jj)]);
                panel_n::<T, MR, 1>(c_col, fresh, a_k, r, rows_ab, rows);
            }
            lo = rows_ab.1;
        }
        k0 += kc;
    }
}

/// Eight-lane partial sums of `NI×NJ` dot products of columns of `A` and
/// `B` (both `k` rows), in the order of [`dot`](super::dot), combined by its tree.
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
/// `a[8q+l, i] b[8q+l, j]` over q ascending, remainder last, then [`dot`](super::dot)'s
/// tree), so each output has exactly [`dot`](super::dot)'s bits.
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
/// the last rows, blocks of `NI×NJ` dot products (each column of `A` and `B`
/// read once per block instead of once per output), over cache-sized
/// groups of columns of `A`.
#[inline(always)]
fn mm_tn_body<T: Real, const MI: usize, const NI: usize, const NJ: usize>(
    c: &mut [T],
    a: &[T],
    b: &[T],
    r: usize,
    k: usize,
) {
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
    // Columns of A taken at a time so that they stay in the (L2) cache
    // while every column of B meets them (a multiple of NI).
    let ib = ((BLOCK_BYTES / (k.max(1) * core::mem::size_of::<T>()).max(1)) / NI).max(1) * NI;
    let mut lo = i_start;
    while lo < r {
        let hi = (lo + ib).min(r);
        tn_tiles::<T, NI, NJ>(c, a, b, r, k, (lo, hi), cols);
        lo = hi;
    }
}

/// Rows `lo..hi` of `C = AᵀB` (all `cols` columns) by blocks of `NI×NJ`
/// dot products ([`block_tn`]), then narrower blocks at the edges: each
/// output is [`dot`](super::dot)'s sum whatever the block.
#[inline(always)]
fn tn_tiles<T: Real, const NI: usize, const NJ: usize>(
    c: &mut [T],
    a: &[T],
    b: &[T],
    r: usize,
    k: usize,
    (lo, hi): (usize, usize),
    cols: usize,
) {
    let mut j0 = 0;
    while j0 + NJ <= cols {
        let bc: [&[T]; NJ] = core::array::from_fn(|q| col(b, j0 + q, k));
        let mut i0 = lo;
        while i0 + NI <= hi {
            let acc = block_tn::<T, NI, NJ>(core::array::from_fn(|q| col(a, i0 + q, k)), bc);
            store_tn(c, r, i0, j0, &acc);
            i0 += NI;
        }
        while i0 < hi {
            let acc = block_tn::<T, 1, NJ>([col(a, i0, k)], bc);
            store_tn(c, r, i0, j0, &acc);
            i0 += 1;
        }
        j0 += NJ;
    }
    while j0 < cols {
        let bc = [col(b, j0, k)];
        let mut i0 = lo;
        while i0 + NI <= hi {
            let acc = block_tn::<T, NI, 1>(core::array::from_fn(|q| col(a, i0 + q, k)), bc);
            store_tn(c, r, i0, j0, &acc);
            i0 += NI;
        }
        while i0 < hi {
            let acc = block_tn::<T, 1, 1>([col(a, i0, k)], bc);
            store_tn(c, r, i0, j0, &acc);
            i0 += 1;
        }
        j0 += 1;
    }
}

/// Writes `acc[jj][ii]` to `C[i0 + ii, j0 + jj]`.
#[inline(always)]
fn store_tn<T: Real, const NI: usize, const NJ: usize>(
    c: &mut [T],
    r: usize,
    i0: usize,
    j0: usize,
    acc: &[[T; NI]; NJ],
) {
    for (jj, accj) in acc.iter().enumerate() {
        if let Some(dst) = c.get_mut(i0 + (j0 + jj) * r..i0 + NI + (j0 + jj) * r) {
            dst.copy_from_slice(accj);
        }
    }
}

/// The three products compiled with wider instruction sets: the same
/// generic bodies, wider blocks.
#[cfg(target_arch = "x86_64")]
mod wide {
    use super::{mm_nn_body, mm_nt_body, mm_tn_body, Real};

    macro_rules! variant {
        ($feature:literal, $nn:ident, $nt:ident, $tn:ident, $mr:literal, $mr_nt:literal, $mi:literal, $mi_wide:literal, $ni:literal, $nj:literal) => {
            #[target_feature(enable = $feature)]
            pub fn $nn<T: Real>(c: &mut [T], a: &[T], b: &[T], r: usize, k: usize) {
                mm_nn_body::<T, $mr>(c, a, b, r, k)
            }
            #[target_feature(enable = $feature)]
            pub fn $nt<T: Real>(c: &mut [T], a: &[T], b: &[T], r: usize, k: usize) {
                mm_nt_body::<T, $mr_nt>(c, a, b, r, k)
            }
            #[target_feature(enable = $feature)]
            pub fn $tn<T: Real>(c: &mut [T], a: &[T], b: &[T], r: usize, k: usize) {
                // Wider row blocks only pay off with many rows.
                if r >= 8 * $mi_wide {
                    mm_tn_body::<T, $mi_wide, $ni, $nj>(c, a, b, r, k)
                } else {
                    mm_tn_body::<T, $mi, $ni, $nj>(c, a, b, r, k)
                }
            }
        };
    }
    // AVX2: 16 registers. `mm_nt` keeps 8×4 sums (8 of them) in registers;
    // `mm_nn` 4×4, which measured faster where B's columns are far apart
    // (e.g. k = 4096), where 8 rows ran several times slower.
    variant!("avx2", nn_avx2, nt_avx2, tn_avx2, 4, 8, 4, 4, 2, 3);

    variant!("avx512f", nn_avx512, nt_avx512, tn_avx512, 16, 16, 4, 8, 4, 4);
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
        mm_tn_body::<T, 2, 2, 2>(c, a, b, r, k),
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
