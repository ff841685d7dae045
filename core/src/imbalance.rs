//! The imbalance `D = W₁ᵀW₁ − W₂W₂ᵀ` through a thin QR, never as an h×h
//! matrix (THEORY §2, §7).

use nalgebra::{DefaultAllocator, Dim, DimAdd, DimSum, OMatrix, OVector, U1};

use crate::dims::NetAllocator;
use crate::kernels;
use crate::linalg::SelectedEigen;
use crate::net::TwoLayer;
use crate::scalar::{pos, sqrt, Real};

/// Extreme eigenvalues of `D` and the imbalance lower bound on `α`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ImbalanceSummary<T> {
    /// `λ₁(D)` (0 when `D` has no positive eigenvalue).
    pub lambda_max: T,
    /// `λ₁(−D)` (0 when `D` has no negative eigenvalue).
    pub neg_lambda_max: T,
    /// `α_imb(D) = [λ_n(D)]₊ + [λ_m(−D)]₊`, eigenvalues of the full h×h `D`.
    pub alpha_imb: T,
}

/// Buffers for [`imbalance_spectrum`], created once.
#[derive(Clone, Debug)]
pub struct ImbalanceWorkspace<T: Real, N: DimAdd<M>, H: Dim, M: Dim>
where
    DefaultAllocator: NetAllocator<N, H, M>,
{
    f: OMatrix<T, H, DimSum<N, M>>,
    s: OMatrix<T, DimSum<N, M>, DimSum<N, M>>,
    eig: OVector<T, DimSum<N, M>>,
    /// `eig` holds every eigenvalue (`n + m ≤ JACOBI_MAX`).
    all: bool,
    n: usize,
    m: usize,
}

impl<T: Real, N: DimAdd<M>, H: Dim, M: Dim> ImbalanceWorkspace<T, N, H, M>
where
    DefaultAllocator: NetAllocator<N, H, M>,
{
    /// Buffers for an `n×h · h×m` network.
    pub fn new(n: N, h: H, m: M) -> Self {
        let p = n.add(m);
        Self {
            f: OMatrix::zeros_generic(h, p),
            s: OMatrix::zeros_generic(p, p),
            eig: OMatrix::zeros_generic(p, U1),
            all: false,
            n: n.value(),
            m: m.value(),
        }
    }

    /// The `n+m` eigenvalues of `R J Rᵀ` from the last call, descending.
    /// With `h ≥ n+m` they are the eigenvalues of `D` other than its
    /// `h − n − m` structural zeros; with smaller `h` the list carries
    /// `n + m − h` extra zeros, which change none of the summaries.
    /// Above [`crate::linalg::JACOBI_MAX`] only the summaries are computed
    /// (by bisection) and the list is empty.
    pub fn eigenvalues(&self) -> &[T] {
        if self.all {
            self.eig.as_slice()
        } else {
            &[]
        }
    }
}

/// Computes the spectrum of `D` by the thin-QR method of THEORY §2: with
/// `F = [W₁ᵀ, W₂] = QR`, `D = F J Fᵀ` has the eigenvalues of the small
/// `R J Rᵀ`, `J = diag(I_n, −I_m)`. Costs `O(h(n+m)²)`, no allocation.
pub fn imbalance_spectrum<T: Real, N: DimAdd<M>, H: Dim, M: Dim>(
    net: &TwoLayer<T, N, H, M>,
    ws: &mut ImbalanceWorkspace<T, N, H, M>,
) -> ImbalanceSummary<T>
where
    DefaultAllocator: NetAllocator<N, H, M>,
{
    let (n, h, m) = net.shape();
    let p = n + m;
    // F's first n columns are the rows of W₁, the last m the columns of W₂.
    {
        let f = ws.f.as_mut_slice();
        let w1 = net.w1.as_slice();
        for (i, col) in f.chunks_exact_mut(h.max(1)).take(n).enumerate() {
            for (k, x) in col.iter_mut().enumerate() {
                *x = w1.get(i + k * n).copied().unwrap_or_else(T::zero);
            }
        }
        for (dst, src) in f
            .chunks_exact_mut(h.max(1))
            .skip(n)
            .zip(net.w2.as_slice().chunks_exact(h.max(1)))
        {
            dst.copy_from_slice(src);
        }
    }
    // S is free until R J Rᵀ is formed: the panels of the blocked QR use it.
    kernels::householder_qr_blocked(ws.f.as_mut_slice(), h, p, None, ws.s.as_mut_slice());
    // R is the leading min(h, p) rows of the factored F (zero below).
    rjr(ws.s.as_mut_slice(), ws.f.as_slice(), h, p, n);
    let eig = SelectedEigen::new(ws.s.as_mut_slice(), p, ws.eig.as_mut_slice());
    ws.all = matches!(eig, SelectedEigen::All(_));
    summarize_with(p, |i| eig.largest(i), ws.n, ws.m)
}

/// `S = R J Rᵀ` (`p×p`, both triangles), `R` the leading rows of the
/// factored `F` (`h×p`, upper triangular), `J = diag(I_n, −I_m)`:
/// `S_ij = Σ_{k ≥ max(i,j)} J_k R_ik R_jk`, the terms added onto 0 for `k`
/// ascending. Four columns of `S` at a time, so that each column of `R` is
/// read once per four columns of `S` instead of once per column.
fn rjr<T: Real>(s: &mut [T], f: &[T], h: usize, p: usize, n: usize) {
    if p == 0 || h == 0 {
        return;
    }
    s.fill(T::zero());
    // Column k of R: rows 0..=min(k, h-1) of column k of F.
    let r_col = |k: usize| f.get(k * h..k * h + (k + 1).min(h)).unwrap_or(&[]);
    let mut j0 = 0;
    while j0 < p {
        let jb = (p - j0).min(4);
        for k in j0..p {
            let rk = r_col(k);
            let neg = k >= n;
            for j in j0..j0 + jb {
                if j > k {
                    break;
                }
                // Only rows i ≤ j (the upper triangle), and R_ik = 0 for i > k.
                let Some(&rjk) = rk.get(j) else {
                    continue;
                };
                let c = if neg { -rjk } else { rjk };
                if let Some(col) = s.get_mut(j * p..j * p + j + 1) {
                    kernels::axpy(col, c, rk.get(..j + 1).unwrap_or(&[]));
                }
            }
        }
        j0 += jb;
    }
    // Mirror the upper triangle (the sums are symmetric term by term).
    for j in 0..p {
        for i in 0..j {
            let v = s.get(i + j * p).copied().unwrap_or_else(T::zero);
            if let Some(x) = s.get_mut(j + i * p) {
                *x = v;
            }
        }
    }
}

/// Summaries of a descending list of `D`'s eigenvalues (missing entries are
/// the structural zeros of the full h×h matrix).
pub fn summarize<T: Real>(eig: &[T], n: usize, m: usize) -> ImbalanceSummary<T> {
    summarize_with(
        eig.len(),
        |i| eig.get(i).copied().unwrap_or_else(T::zero),
        n,
        m,
    )
}

/// [`summarize`] of `len` eigenvalues given by `at(i)`, the `i`-th largest.
fn summarize_with<T: Real>(
    len: usize,
    at: impl Fn(usize) -> T,
    n: usize,
    m: usize,
) -> ImbalanceSummary<T> {
    // λ_n(D): n-th largest; λ_m(−D) = −(m-th smallest of D).
    let lambda_n = if n == 0 { T::zero() } else { at(n - 1) };
    let neg_lambda_m = if m == 0 || m > len {
        T::zero()
    } else {
        -at(len - m)
    };
    let last = if len == 0 { T::zero() } else { at(len - 1) };
    ImbalanceSummary {
        lambda_max: pos(at(0)),
        neg_lambda_max: pos(-last),
        alpha_imb: pos(lambda_n) + pos(neg_lambda_m),
    }
}

/// Upper bound on `β` from the imbalance and the product (THEORY §7):
/// `β ≤ ½(l₁ + √(l₁² + 4p²)) + ½(l₂ + √(l₂² + 4p²))` with `p ≥ ‖W₁W₂‖₂`.
pub fn beta_upper_bound<T: Real>(l1: T, l2: T, p: T) -> T {
    let four_p2 = T::of(4.0) * p * p;
    let half = T::of(0.5);
    half * (l1 + sqrt(l1 * l1 + four_p2)) + half * (l2 + sqrt(l2 * l2 + four_p2))
}
