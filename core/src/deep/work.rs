//! One step's worth of deep-network quantities (THEORY §13): prefixes,
//! suffixes, gradients, the local constants from small Grams, the
//! polynomial `Q` of Lemma D2 and the step sizes built on `K_t(η)`.

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim, OMatrix, OVector, U1};

use super::{spectral_upper_bound, DeepLinear, Stack};
use crate::certificate::{
    dot_rounding, LocalConstants, LossRounding, StepCertificate, BOUND_EVAL_UNITS,
};
use crate::kernels;
use crate::linalg::{gram_cols, gram_rows};
use crate::loss::{Evaluation, Loss};
use crate::net::CopyChecked;
use crate::scalar::{abs, pos, sqrt, Real};

/// Bisection steps of the step-size solvers: each halves a bracket whose
/// ends differ by a factor of at most `2⁶⁴`, so 200 reach the resolution of
/// `f64` with room to spare; the loop stops earlier once the ends meet.
pub const ETA_ITERS: usize = 200;

/// What the step knows about one layer `W_j` and the prefix
/// `P_j = W₁⋯W_{j−1}` and suffix `S_j = W_{j+1}⋯W_L` around it (THEORY §13).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LayerStats<T> {
    /// `f_j = ‖Δ_j‖` (Frobenius) of the gradient `Δ_j = P_jᵀ G S_jᵀ`.
    pub grad: T,
    /// `u_j ≥ ‖W_j‖₂`: exact (from the small Grams) for the first and last
    /// layer, [`spectral_upper_bound`] for the middle ones.
    pub upper: T,
    /// `‖W_j‖` (Frobenius).
    pub fro: T,
    /// `σ_n(P_j)²` (1 for `j = 1`; 0 when `h < n`).
    pub prefix_min_sq: T,
    /// `‖P_j‖₂²`.
    pub prefix_max_sq: T,
    /// `‖P_j‖²` (Frobenius).
    pub prefix_fro_sq: T,
    /// `σ_m(S_j)²` (1 for `j = L`; 0 when `h < m`).
    pub suffix_min_sq: T,
    /// `‖S_j‖₂²`.
    pub suffix_max_sq: T,
    /// `‖S_j‖²` (Frobenius).
    pub suffix_fro_sq: T,
    /// `λ_min, λ_max` of `D_j = W_jᵀW_j − W_{j+1}W_{j+1}ᵀ` at the last
    /// imbalance check (`j < L`).
    pub imbalance: (T, T),
    /// `Σ η² λ_max(Δ_jᵀΔ_j) ≤ Σ η² f_j²` since that check: how far
    /// `λ_max(D_j)` may have risen (Weyl, THEORY §13 and §7).
    pub drift_up: T,
    /// `Σ η² f_{j+1}²` since that check: how far `λ_min(D_j)` may have fallen.
    pub drift_down: T,
}

/// The largest imbalance over the pairs `D_j` (THEORY §13).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeepImbalance<T> {
    /// `max_j λ_max(D_j)`.
    pub lambda_max: T,
    /// `max_j λ_max(−D_j)`.
    pub neg_lambda_max: T,
    /// Pairs checked against the drift bound (0 for the first spectrum).
    pub checks: u32,
    /// Pairs whose extremes moved further than the drift bound allows.
    pub violations: u32,
}

/// The per-step constants of Lemmas D1 and D2 (THEORY §13).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeepConstants<T> {
    /// `α_t, β_t, ‖G‖₂, g²` (the model-agnostic part).
    pub local: LocalConstants<T>,
    /// `Q(0)`: the coefficient of `η⁰` of Lemma D2's polynomial.
    pub q0: T,
}

/// Buffers and results of one deep step, created once with the network.
///
/// Layers are counted from 0 here (`W₀ … W_{L−1}`), so the prefix of layer
/// `j` is `P_j = W₀⋯W_{j−1}` (`P₀ = I_n`) and its suffix
/// `S_j = W_{j+1}⋯W_{L−1}` (`S_{L−1} = I_m`). Stored are the prefixes
/// `P₂ … P_{L−1}` and suffixes `S₀ … S_{L−3}` (`P₁ = W₀` and
/// `S_{L−2} = W_{L−1}` are the layers themselves): each is one product with
/// the one before it, so all of them cost `2(L−2)` products per step.
#[derive(Clone, Debug)]
pub struct DeepWork<T: Real, N: Dim, H: Dim, M: Dim, S: Stack>
where
    DefaultAllocator: Allocator<N, H>
        + Allocator<H, H>
        + Allocator<H, M>
        + Allocator<N, M>
        + Allocator<N, N>
        + Allocator<M, M>
        + Allocator<N>
        + Allocator<M>
        + Allocator<H>,
{
    /// The product `W₀⋯W_{L−1}` (n×m) of the last [`Self::forward`].
    pub product: OMatrix<T, N, M>,
    /// `G = ∇ℓ(W)` (n×m), written by the caller after [`Self::forward`].
    pub grad: OMatrix<T, N, M>,
    prefix: S::Of<OMatrix<T, N, H>>,
    suffix: S::Of<OMatrix<T, H, M>>,
    d_first: OMatrix<T, N, H>,
    d_mid: S::Of<OMatrix<T, H, H>>,
    d_last: OMatrix<T, H, M>,
    tmp: OMatrix<T, H, M>,
    gram_n: OMatrix<T, N, N>,
    gram_m: OMatrix<T, M, M>,
    work_n: OVector<T, N>,
    work_m: OVector<T, M>,
    imb: OMatrix<T, H, H>,
    imb2: OMatrix<T, H, H>,
    work_h: OVector<T, H>,
    scratch: [OMatrix<T, N, H>; 2],
    stats_first: LayerStats<T>,
    stats_mid: S::Of<LayerStats<T>>,
    stats_last: LayerStats<T>,
    /// Coefficients `c₂ … c_{L−1}` of `Π_j (u_j + x f_j)`; `c_L` is `coef_top`.
    coef: S::Of<T>,
    coef_top: T,
    constants: DeepConstants<T>,
    /// The network the trial steps of a line search are written into.
    trial: DeepLinear<T, N, H, M, S>,
}

impl<T: Real, N: Dim, H: Dim, M: Dim, S: Stack> DeepWork<T, N, H, M, S>
where
    DefaultAllocator: Allocator<N, H>
        + Allocator<H, H>
        + Allocator<H, M>
        + Allocator<N, M>
        + Allocator<N, N>
        + Allocator<M, M>
        + Allocator<N>
        + Allocator<M>
        + Allocator<H>,
{
    /// Buffers for `net`'s sizes and depth (the only allocation, with `Dyn`
    /// sizes or a [`super::Heap`] stack). `None` when the stack cannot hold
    /// the network's depth.
    pub fn new(net: &DeepLinear<T, N, H, M, S>) -> Option<Self> {
        let (nd, hd) = net.first.shape_generic();
        let md = net.last.shape_generic().1;
        let k = net.depth() - 2;
        Some(Self {
            product: OMatrix::zeros_generic(nd, md),
            grad: OMatrix::zeros_generic(nd, md),
            prefix: S::build(k, |_| OMatrix::zeros_generic(nd, hd))?,
            suffix: S::build(k, |_| OMatrix::zeros_generic(hd, md))?,
            d_first: OMatrix::zeros_generic(nd, hd),
            d_mid: S::build(k, |_| OMatrix::zeros_generic(hd, hd))?,
            d_last: OMatrix::zeros_generic(hd, md),
            tmp: OMatrix::zeros_generic(hd, md),
            gram_n: OMatrix::zeros_generic(nd, nd),
            gram_m: OMatrix::zeros_generic(md, md),
            work_n: OVector::zeros_generic(nd, U1),
            work_m: OVector::zeros_generic(md, U1),
            imb: OMatrix::zeros_generic(hd, hd),
            imb2: OMatrix::zeros_generic(hd, hd),
            work_h: OVector::zeros_generic(hd, U1),
            scratch: [
                OMatrix::zeros_generic(nd, hd),
                OMatrix::zeros_generic(nd, hd),
            ],
            stats_first: LayerStats::default(),
            stats_mid: S::build(k, |_| LayerStats::default())?,
            stats_last: LayerStats::default(),
            coef: S::build(k, |_| T::zero())?,
            coef_top: T::zero(),
            constants: DeepConstants::default(),
            trial: net.clone(),
        })
    }

    /// The statistics of layer `j` (0-based).
    pub fn stats(&self, j: usize) -> Option<&LayerStats<T>> {
        let depth = self.stats_mid.as_ref().len() + 2;
        if j == 0 {
            Some(&self.stats_first)
        } else if j + 1 == depth {
            Some(&self.stats_last)
        } else {
            self.stats_mid.as_ref().get(j.checked_sub(1)?)
        }
    }

    fn stats_mut(&mut self, j: usize) -> Option<&mut LayerStats<T>> {
        let depth = self.stats_mid.as_ref().len() + 2;
        if j == 0 {
            Some(&mut self.stats_first)
        } else if j + 1 == depth {
            Some(&mut self.stats_last)
        } else {
            self.stats_mid.as_mut().get_mut(j.checked_sub(1)?)
        }
    }

    /// The constants of the last [`Self::constants`].
    pub fn last_constants(&self) -> DeepConstants<T> {
        self.constants
    }

    /// The gradient `Δ_j` of layer `j` (0-based) from the last
    /// [`Self::gradients`], column-major.
    pub fn gradient(&self, j: usize) -> Option<&[T]> {
        let depth = self.d_mid.as_ref().len() + 2;
        if j == 0 {
            Some(self.d_first.as_slice())
        } else if j + 1 == depth {
            Some(self.d_last.as_slice())
        } else {
            self.d_mid
                .as_ref()
                .get(j.checked_sub(1)?)
                .map(|d| d.as_slice())
        }
    }

    /// Prefixes `P₂ … P_{L−1}`, suffixes `S₀ … S_{L−3}` and the product of
    /// `net` (THEORY §13), each from the one before it. For `L = 2` the
    /// product is [`crate::TwoLayer::product_into`]'s arithmetic.
    pub fn forward(&mut self, net: &DeepLinear<T, N, H, M, S>) {
        let (n, h, _) = net.shape();
        let mid = net.middle.as_ref();
        let pre = self.prefix.as_mut();
        for i in 0..mid.len() {
            let (done, rest) = pre.split_at_mut(i);
            let (Some(out), Some(w)) = (rest.first_mut(), mid.get(i)) else {
                return;
            };
            let left = done.last().map_or(net.first.as_slice(), |p| p.as_slice());
            kernels::mm_nn(out.as_mut_slice(), left, w.as_slice(), n, h);
        }
        let suf = self.suffix.as_mut();
        for i in (0..mid.len()).rev() {
            let (head, done) = suf.split_at_mut(i + 1);
            let (Some(out), Some(w)) = (head.last_mut(), mid.get(i)) else {
                return;
            };
            let right = done.first().map_or(net.last.as_slice(), |s| s.as_slice());
            kernels::mm_nn(out.as_mut_slice(), w.as_slice(), right, h, h);
        }
        let left = pre.last().map_or(net.first.as_slice(), |p| p.as_slice());
        kernels::mm_nn(self.product.as_mut_slice(), left, net.last.as_slice(), n, h);
    }

    /// The gradients `Δ_j = P_jᵀ G S_jᵀ` from [`Self::grad`] and the last
    /// [`Self::forward`] (THEORY §13), and `f_j = ‖Δ_j‖`. For `L = 2` these
    /// are the two-layer `A = G W₂ᵀ`, `B = W₁ᵀ G` with the same kernels.
    pub fn gradients(&mut self, net: &DeepLinear<T, N, H, M, S>) {
        let (n, h, m) = net.shape();
        let depth = net.depth();
        let g = self.grad.as_slice();
        // Δ₀ = G S₀ᵀ.
        let s0 = match self.suffix.as_ref().first() {
            Some(s) => s.as_slice(),
            None => net.last.as_slice(),
        };
        kernels::mm_nt(self.d_first.as_mut_slice(), g, s0, n, m);
        // Middle: Δ_j = (P_jᵀ G) S_jᵀ.
        for j in 1..depth - 1 {
            let p = match j {
                1 => net.first.as_slice(),
                _ => match self.prefix.as_ref().get(j - 2) {
                    Some(p) => p.as_slice(),
                    None => return,
                },
            };
            let s = if j + 2 == depth {
                net.last.as_slice()
            } else {
                match self.suffix.as_ref().get(j) {
                    Some(s) => s.as_slice(),
                    None => return,
                }
            };
            kernels::mm_tn(self.tmp.as_mut_slice(), p, g, h, n);
            let Some(d) = self.d_mid.as_mut().get_mut(j - 1) else {
                return;
            };
            kernels::mm_nt(d.as_mut_slice(), self.tmp.as_slice(), s, h, m);
        }
        // Δ_{L−1} = P_{L−1}ᵀ G.
        let p_last = self
            .prefix
            .as_ref()
            .last()
            .map_or(net.first.as_slice(), |p| p.as_slice());
        kernels::mm_tn(self.d_last.as_mut_slice(), p_last, g, h, n);
        for j in 0..depth {
            let f = self
                .gradient(j)
                .map_or(T::zero(), |d| sqrt(kernels::sum_sq(d)));
            if let Some(s) = self.stats_mut(j) {
                s.grad = f;
            }
        }
    }

    /// `α_t, β_t, ‖G‖₂, g²` (Lemma D1, THEORY §13) and the coefficients of
    /// Lemma D2's polynomial `Q`, after [`Self::gradients`]. Every
    /// singular value comes from an `n×n` or `m×m` Gram (`P_jP_jᵀ`,
    /// `S_jᵀS_j`, and the smaller of `GGᵀ`, `GᵀG`), never from an `h×h`
    /// eigenproblem; the middle layers' `u_j` from
    /// [`spectral_upper_bound`].
    pub fn constants(&mut self, net: &DeepLinear<T, N, H, M, S>) -> DeepConstants<T> {
        let (n, h, m) = net.shape();
        let depth = net.depth();
        let (mut alpha, mut beta, mut grad_sq) = (T::zero(), T::zero(), T::zero());
        for j in 0..depth {
            let (pmin, pmax, pfro) = match j {
                0 => (T::one(), T::one(), T::zero()),
                1 => {
                    kernels::gram_nt(self.gram_n.as_mut_slice(), net.first.as_slice(), n, h);
                    self.finish_n(h >= n)
                }
                _ => {
                    let Some(p) = self.prefix.as_ref().get(j - 2) else {
                        continue;
                    };
                    kernels::gram_nt(self.gram_n.as_mut_slice(), p.as_slice(), n, h);
                    self.finish_n(h >= n)
                }
            };
            let (smin, smax, sfro) = if j + 1 == depth {
                (T::one(), T::one(), T::zero())
            } else if j + 2 == depth {
                let last = net.last.as_slice();
                kernels::mm_tn(self.gram_m.as_mut_slice(), last, last, m, h);
                self.finish_m(h >= m)
            } else {
                let Some(s) = self.suffix.as_ref().get(j) else {
                    continue;
                };
                kernels::mm_tn(self.gram_m.as_mut_slice(), s.as_slice(), s.as_slice(), m, h);
                self.finish_m(h >= m)
            };
            // σ_n(P_j)² is 0 when h < n (rank), likewise σ_m(S_j)².
            let pmin = if j > 0 && h < n { T::zero() } else { pmin };
            let smin = if j + 1 < depth && h < m {
                T::zero()
            } else {
                smin
            };
            alpha += pmin * smin;
            beta += pmax * smax;
            let (w, rows, _) = net.layer(j).unwrap_or((&[], 1, 1));
            let fro = sqrt(kernels::sum_sq(w));
            // The first and last layers' exact norms are set below, from
            // the neighbouring prefix and suffix Grams.
            let upper = if j == 0 || j + 1 == depth {
                T::zero()
            } else {
                spectral_upper_bound(w, rows)
            };
            if let Some(s) = self.stats_mut(j) {
                s.prefix_min_sq = pmin;
                s.prefix_max_sq = pmax;
                s.prefix_fro_sq = pfro;
                s.suffix_min_sq = smin;
                s.suffix_max_sq = smax;
                s.suffix_fro_sq = sfro;
                s.fro = fro;
                s.upper = upper;
                grad_sq += s.grad * s.grad;
            }
        }
        // ‖W₀‖₂ = √λ_max(P₁P₁ᵀ) and ‖W_{L−1}‖₂ = √λ_max(S_{L−2}ᵀS_{L−2}):
        // exact, from Grams already formed.
        let w0 = self.stats(1).map_or(T::zero(), |s| s.prefix_max_sq);
        let wl = self.stats(depth - 2).map_or(T::zero(), |s| s.suffix_max_sq);
        self.stats_first.upper = sqrt(w0);
        self.stats_last.upper = sqrt(wl);
        let grad_spec = self.grad_spectral(n, m);
        self.expand_q();
        self.constants = DeepConstants {
            local: LocalConstants {
                alpha,
                beta,
                grad_spec,
                grad_sq,
            },
            q0: self.q(T::zero()),
        };
        self.constants
    }

    fn finish_n(&mut self, want_min: bool) -> (T, T, T) {
        let n = self.gram_n.nrows();
        let tr = self.gram_n.trace();
        let (lo, hi) = kernels::sym_extremes(
            self.gram_n.as_mut_slice(),
            n,
            self.work_n.as_mut_slice(),
            want_min,
        );
        (pos(lo), pos(hi), pos(tr))
    }

    fn finish_m(&mut self, want_min: bool) -> (T, T, T) {
        let m = self.gram_m.nrows();
        let tr = self.gram_m.trace();
        let (lo, hi) = kernels::sym_extremes(
            self.gram_m.as_mut_slice(),
            m,
            self.work_m.as_mut_slice(),
            want_min,
        );
        (pos(lo), pos(hi), pos(tr))
    }

    /// `‖G‖₂` from the smaller of `GᵀG` (m×m) and `GGᵀ` (n×n).
    fn grad_spectral(&mut self, n: usize, m: usize) -> T {
        let lmax = if m <= n {
            gram_cols(&self.grad, &mut self.gram_m);
            kernels::sym_extremes(
                self.gram_m.as_mut_slice(),
                m,
                self.work_m.as_mut_slice(),
                false,
            )
            .1
        } else {
            gram_rows(&self.grad, &mut self.gram_n);
            kernels::sym_extremes(
                self.gram_n.as_mut_slice(),
                n,
                self.work_n.as_mut_slice(),
                false,
            )
            .1
        };
        sqrt(pos(lmax))
    }

    /// Coefficient `k` of `Π_j (u_j + x f_j)` (`0 ≤ k ≤ L`), with `c₀, c₁`
    /// passed in (they are not stored).
    fn coef_at(&self, lo: [T; 2], k: usize) -> T {
        let mid = self.coef.as_ref();
        match k {
            0 | 1 => lo.get(k).copied().unwrap_or_else(T::zero),
            _ if k - 2 < mid.len() => mid.get(k - 2).copied().unwrap_or_else(T::zero),
            _ if k - 2 == mid.len() => self.coef_top,
            _ => T::zero(),
        }
    }

    fn set_coef(&mut self, lo: &mut [T; 2], k: usize, v: T) {
        let len = self.coef.as_ref().len();
        match k {
            0 | 1 => {
                if let Some(x) = lo.get_mut(k) {
                    *x = v;
                }
            }
            _ if k - 2 < len => {
                if let Some(x) = self.coef.as_mut().get_mut(k - 2) {
                    *x = v;
                }
            }
            _ if k - 2 == len => self.coef_top = v,
            _ => {}
        }
    }

    /// The coefficients of `Π_j (u_j + x f_j)` by multiplying in one factor
    /// at a time (`O(L²)`, THEORY §13); those of degree ≥ 2 are `Q`'s.
    fn expand_q(&mut self) {
        let depth = self.stats_mid.as_ref().len() + 2;
        let mut lo = [T::one(), T::zero()];
        for k in 2..=depth {
            self.set_coef(&mut lo, k, T::zero());
        }
        for j in 0..depth {
            let Some(&LayerStats {
                grad: f, upper: u, ..
            }) = self.stats(j)
            else {
                continue;
            };
            // After j factors the degree is j; multiply by (u + x f).
            for k in (1..=j + 1).rev() {
                let v = self.coef_at(lo, k) * u + self.coef_at(lo, k - 1) * f;
                self.set_coef(&mut lo, k, v);
            }
            let v0 = self.coef_at(lo, 0) * u;
            self.set_coef(&mut lo, 0, v0);
        }
    }

    /// `Q(η) = Σ_{k≥2} c_k η^{k−2}` (Horner; non-decreasing in `η ≥ 0`).
    pub fn q(&self, eta: T) -> T {
        let mut acc = self.coef_top;
        for &c in self.coef.as_ref().iter().rev() {
            acc = acc * eta + c;
        }
        acc
    }

    /// `R(η) = η²Q(η)` and its derivative `R'(η) = Σ k c_k η^{k−1}`.
    fn r_and_slope(&self, eta: T) -> (T, T) {
        let depth = self.coef.as_ref().len() + 2;
        let q = self.q(eta);
        // R' = Σ_{k≥2} k c_k η^{k−1}, by Horner on k c_k.
        let mut acc = self.coef_top * T::of_usize(depth);
        for (i, &c) in self.coef.as_ref().iter().enumerate().rev() {
            acc = acc * eta + c * T::of_usize(i + 2);
        }
        (eta * eta * q, acc * eta)
    }

    /// `K_t(η) = [2‖G‖₂ Q(η) + K(√β_t g + ηQ(η))²] / g²` (Lemma D2, THEORY
    /// §13) for a loss that is `k`-smooth; `K β_t` when `g = 0` (its limit:
    /// every term of `Q` has two gradient factors).
    pub fn k_t(&self, k: T, eta: T) -> T {
        let LocalConstants {
            beta,
            grad_spec,
            grad_sq,
            ..
        } = self.constants.local;
        if !(grad_sq > T::zero()) {
            return k * beta;
        }
        let q = self.q(eta);
        let b = sqrt(beta * grad_sq) + eta * q;
        ((grad_spec + grad_spec) * q + k * b * b) / grad_sq
    }

    /// The certificate of a step `eta` (Theorem D1: the same `ρ_t` form as
    /// §5, with this `K_t(η)`).
    pub fn certificate(&self, mu: T, k: T, gap: T, eta: T) -> StepCertificate<T> {
        StepCertificate::with_smoothness(self.constants.local, mu, self.k_t(k, eta), gap, eta)
    }

    /// The smallest `η ∈ [0, hi]` with `ηK_t(η) ≥ target` by bisection
    /// (`ηK_t(η)` increases from 0), given `hi·K_t(hi) ≥ target`; returns
    /// the lower end, so `ηK_t(η) ≤ target` at the result.
    fn solve_increasing(&self, k: T, target: T, hi: T) -> T {
        let (mut lo, mut hi) = (T::zero(), hi);
        for _ in 0..ETA_ITERS {
            let mid = T::of(0.5) * (lo + hi);
            if !(mid > lo && mid < hi) {
                break;
            }
            if mid * self.k_t(k, mid) < target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The Local rule for depth (THEORY §13): `η = 1/K_t(0)`, or, when that
    /// step has `ηK_t(η) ≥ 2`, the root of `ηK_t(η) = 1` (unique: the left
    /// side increases from 0), so Theorem D1 always applies. `None` when
    /// `K_t(0)` is not positive and finite.
    pub fn local_step(&self, k: T) -> Option<T> {
        let k0 = self.k_t(k, T::zero());
        if !(k0 > T::zero() && k0.finite()) {
            return None;
        }
        let eta = T::one() / k0;
        let f = eta * self.k_t(k, eta);
        if !f.finite() {
            return None;
        }
        if f < T::of(2.0) {
            return Some(eta);
        }
        let root = self.solve_increasing(k, T::one(), eta);
        (root > T::zero()).then_some(root)
    }

    /// RateOptimal for depth (THEORY §13, §6.3): `ρ_t(η) = 1 − μα_t φ(η)`
    /// with `φ(η) = 2η − η²K_t(η)`; `η²K_t(η) = [2‖G‖₂R + K(bη + R)²]/g²`
    /// (`R = η²Q(η)`, `b = √β_t g`) is a polynomial with non-negative
    /// coefficients, so `φ` is concave and its maximizer on
    /// `ηK_t(η) ≤ 2 − 10⁻³` is found by bisection on the sign of `φ'`.
    /// It does not depend on `μα_t`; with `α_t = 0` it maximizes Lemma D2's
    /// guaranteed decrease. The better of it and [`Self::local_step`] (in
    /// `φ`) is returned, so it is never worse than Local under rounding.
    pub fn rate_optimal_step(&self, k: T) -> Option<T> {
        let local = self.local_step(k)?;
        let LocalConstants {
            beta,
            grad_spec,
            grad_sq,
            ..
        } = self.constants.local;
        let cap = T::of(crate::rules::RATE_OPTIMAL_CAP);
        let phi = |eta: T| eta * (T::of(2.0) - eta * self.k_t(k, eta));
        if !(grad_sq > T::zero()) {
            return Some(local);
        }
        // Upper end: η with ηK_t(η) ≥ cap, by doubling from the Local step.
        let mut hi = local;
        let mut found = false;
        for _ in 0..64 {
            if hi * self.k_t(k, hi) >= cap {
                found = true;
                break;
            }
            hi = hi + hi;
        }
        if !found {
            return Some(local);
        }
        let hi = self.solve_increasing(k, cap, hi);
        let b = sqrt(beta * grad_sq);
        let slope = |eta: T| {
            let (r, dr) = self.r_and_slope(eta);
            ((grad_spec + grad_spec) * dr + (k + k) * (b * eta + r) * (b + dr)) / grad_sq
                - T::of(2.0)
        };
        let eta = if slope(hi) <= T::zero() {
            hi
        } else {
            let (mut lo, mut up) = (T::zero(), hi);
            for _ in 0..ETA_ITERS {
                let mid = T::of(0.5) * (lo + up);
                if !(mid > lo && mid < up) {
                    break;
                }
                if slope(mid) < T::zero() {
                    lo = mid;
                } else {
                    up = mid;
                }
            }
            lo
        };
        let eta = if eta > T::zero() && phi(eta) >= phi(local) {
            eta
        } else {
            local
        };
        (eta * self.k_t(k, eta) <= cap).then_some(eta)
    }

    /// `W_j ← W_j − ηΔ_j` for every layer (all from the same iterate);
    /// `false` when no weight changed at all (the step is below the
    /// weights' resolution).
    pub fn apply(&self, net: &mut DeepLinear<T, N, H, M, S>, eta: T) -> bool {
        let mut moved = false;
        for j in 0..net.depth() {
            if let (Some(w), Some(d)) = (net.layer_mut(j), self.gradient(j)) {
                moved |= kernels::axpy_moved(w, -eta, d);
            }
        }
        moved
    }

    /// The product of `net` after a step `eta`, written into
    /// [`Self::product`] (for line searches; `net` is untouched).
    pub fn trial_product(&mut self, net: &DeepLinear<T, N, H, M, S>, eta: T) {
        self.trial.copy_from(net);
        for j in 0..net.depth() {
            if let (Some(w), Some(d)) = (
                self.trial.layer_mut(j),
                match j {
                    0 => Some(self.d_first.as_slice()),
                    _ if j + 1 == net.depth() => Some(self.d_last.as_slice()),
                    _ => self.d_mid.as_ref().get(j - 1).map(|d| d.as_slice()),
                },
            ) {
                kernels::axpy(w, -eta, d);
            }
        }
        self.trial
            .product_into(&mut self.product, &mut self.scratch);
    }

    /// Adds one step's drift `η²f_j²`, `η²f_{j+1}²` to every pair's budget
    /// (THEORY §13: `D_j` moves by exactly `η²(Δ_jᵀΔ_j − Δ_{j+1}Δ_{j+1}ᵀ)`).
    pub fn record_drift(&mut self, eta: T) {
        let depth = self.stats_mid.as_ref().len() + 2;
        let e2 = eta * eta;
        for j in 0..depth.saturating_sub(1) {
            let next = self.stats(j + 1).map_or(T::zero(), |s| s.grad);
            if let Some(s) = self.stats_mut(j) {
                s.drift_up += e2 * s.grad * s.grad;
                s.drift_down += e2 * next * next;
            }
        }
    }

    /// The extremes of every `D_j` (an `h×h` eigenproblem each, so this is
    /// for every k-th step, not every step), checked against the drift
    /// recorded since the last call when `check` is set: `λ_max(D_j)` may
    /// have risen by at most `drift_up`, `λ_min(D_j)` fallen by at most
    /// `drift_down` (Weyl), up to the rounding of forming `D_j`.
    pub fn imbalance(&mut self, net: &DeepLinear<T, N, H, M, S>, check: bool) -> DeepImbalance<T> {
        let (_, h, _) = net.shape();
        let depth = net.depth();
        let mut out = DeepImbalance::default();
        for j in 0..depth - 1 {
            let (Some((a, ra, _)), Some((b, _, cb))) = (net.layer(j), net.layer(j + 1)) else {
                continue;
            };
            // D_j = W_jᵀW_j − W_{j+1}W_{j+1}ᵀ (h×h).
            kernels::mm_tn(self.imb.as_mut_slice(), a, a, h, ra);
            kernels::mm_nt(self.imb2.as_mut_slice(), b, b, h, cb);
            for (x, &y) in self.imb.as_mut_slice().iter_mut().zip(self.imb2.as_slice()) {
                *x -= y;
            }
            let scale = kernels::sum_sq(a) + kernels::sum_sq(b);
            let (lo, hi) =
                kernels::sym_extremes(self.imb.as_mut_slice(), h, self.work_h.as_mut_slice(), true);
            let Some(s) = self.stats_mut(j) else {
                continue;
            };
            if check {
                let (plo, phi) = s.imbalance;
                // Forming D_j rounds each entry by γ̃ of its inner products
                // (≤ γ̃·scale in 2-norm), the eigenvalues by a few ε·h of it.
                let tol = (dot_rounding::<T>(h.max(ra).max(cb))
                    + T::of(8.0) * T::of_usize(h) * T::EPSILON)
                    * (scale + abs(plo) + abs(phi) + s.drift_up + s.drift_down);
                let ok = hi <= phi + s.drift_up + tol && lo >= plo - s.drift_down - tol;
                out.checks += 1;
                if !ok {
                    out.violations += 1;
                }
            }
            s.imbalance = (lo, hi);
            s.drift_up = T::zero();
            s.drift_down = T::zero();
            out.lambda_max = crate::scalar::max(out.lambda_max, hi);
            out.neg_lambda_max = crate::scalar::max(out.neg_lambda_max, -lo);
        }
        out
    }

    /// `‖W‖₂` of the product of the last [`Self::forward`] (from its `m×m`
    /// Gram).
    pub fn product_spec(&mut self) -> T {
        let m = self.product.ncols();
        gram_cols(&self.product, &mut self.gram_m);
        let (_, lmax) = kernels::sym_extremes(
            self.gram_m.as_mut_slice(),
            m,
            self.work_m.as_mut_slice(),
            false,
        );
        sqrt(pos(lmax))
    }

    /// `ℓ` and `G = ∇ℓ` at the product of the last [`Self::forward`] (or
    /// [`Self::trial_product`]), `G` into [`Self::grad`].
    pub fn evaluate<L: Loss<T, N, M>>(&mut self, loss: &mut L) -> Evaluation<T> {
        loss.evaluate_with_gradient(&self.product, &mut self.grad)
    }

    /// Copies `src` into the product buffer (used by callers that evaluate
    /// the loss at a product they computed elsewhere).
    pub fn set_product(&mut self, src: &OMatrix<T, N, M>) {
        self.product
            .as_mut_slice()
            .copy_from_slice_checked(src.as_slice());
    }
}

/// The rounding allowance of one deep step's check (THEORY §11 applied to
/// §13; docs/ROUNDING.md R6): the two-layer analysis (R3) with the product
/// of `L` factors in place of `W₁W₂`:
///
/// * forming `P = W₀⋯W_{L−1}` at both iterates: `(L−1)γ̃_h Π_j‖W_j‖`;
/// * the stored step of every layer (`ε(½‖W_j‖ + ηf_j)` and the rounding
///   of `Δ_j`, a product of `L` factors: `(L−1)γ̃_h ‖G‖ Π_{i≠j}‖W_i‖`),
///   propagated through the other factors;
/// * the gradient's error through the step `η β_t ‖ΔG‖` (Cauchy–Schwarz
///   as in Lemma D2);
/// * the second-order terms `K‖ΔP‖²/2`;
/// * the rounding of `α_t, β_t, ‖G‖₂` (Grams of prefixes and suffixes,
///   each a product of up to `L − 1` factors) and of `K_t` (relative, a
///   few `L` roundings of its inputs) through `ρ_t`, and of evaluating the
///   bound.
///
/// Every term is a multiple of `ε` and homogeneous in the loss's scale.
#[allow(clippy::too_many_arguments)]
pub fn deep_rounding_allowance<T: Real>(
    cert: &StepCertificate<T>,
    mu: T,
    k: T,
    eta: T,
    gap: T,
    (n, h, m, depth): (usize, usize, usize, usize),
    layers: &mut dyn Iterator<Item = LayerStats<T>>,
    (grad, next_grad): (T, T),
    loss: &LossRounding<T>,
) -> T {
    let eps = T::EPSILON;
    let half = T::of(0.5);
    let lf = T::of_usize(depth.saturating_sub(1).max(1));
    let gh = dot_rounding::<T>(h) * lf;
    // Π‖W_j‖ now and after the step; Σ_j of the step's rounding of layer j
    // times the other factors.
    let (mut prod, mut prod_next) = (T::one(), T::one());
    let mut sum_dw_rel = T::zero();
    let mut d_lambda = T::zero();
    let p = n.max(m);
    let gp = dot_rounding::<T>(h) * lf + T::of(8.0) * T::of_usize(p) * eps;
    for s in layers {
        let w = s.fro;
        let wn = s.fro + eta * s.grad;
        prod *= w;
        prod_next *= wn;
        // Relative to ‖W_j⁺‖: the update's rounding and Δ_j's.
        let dw = eps * (half * w + eta * s.grad) + eta * gh * grad * (s.upper_fro_bound());
        if wn > T::zero() {
            sum_dw_rel += dw / wn;
        }
        d_lambda += gp * (s.prefix_fro_sq * s.suffix_max_sq + s.prefix_max_sq * s.suffix_fro_sq);
    }
    let dp = gh * prod;
    let dp_next = gh * prod_next;
    let dgrad = loss.grad + k * dp;
    let dp_step = sum_dw_rel * prod_next + eta * dgrad * cert.local.beta;
    let first_order =
        next_grad * (dp_next + dp_step) + (grad + loss.grad) * dp + loss.gap + loss.next_gap;
    let second_order = half * k * (dp * dp + (dp_next + dp_step) * (dp_next + dp_step));
    // K_t from β_t, ‖G‖₂, f_j, u_j: a relative error of a few (L + 2)
    // roundings of its inputs (each relative gp).
    let d_k = T::of(2.0) * T::of_usize(depth + 2) * gp * abs(cert.k_t);
    let d_rho = (mu + mu) * eta * d_lambda + cert.mu_t * eta * eta * d_k;
    // Lemma 2's last term `(η/2)(ηK_t)g²` is rounded in proportion to its
    // size, which dominates past `ηK_t = 2` (docs/ROUNDING.md R4).
    let bound_eval = T::of(BOUND_EVAL_UNITS)
        * T::of_usize(depth)
        * eps
        * (abs(gap) + eta * cert.local.grad_sq * (T::one() + half * abs(cert.eta_k_t)));
    first_order + second_order + d_rho * abs(gap) + bound_eval
}

impl<T: Real> LayerStats<T> {
    /// `‖P_j‖_F ‖S_j‖_F`: bounds `‖Δ_j‖/‖G‖` and the other factors around
    /// layer `j` in the rounding analysis.
    fn upper_fro_bound(&self) -> T {
        sqrt(self.prefix_fro_sq * self.suffix_fro_sq)
    }
}
