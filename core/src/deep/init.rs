//! Starts for deep networks (THEORY §10 carried to depth, §13).

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim, OMatrix};

use super::{DeepLinear, Stack};
use crate::error::ProblemError;
use crate::init::{imbalance_factor, orthogonal_into, Rng};
use crate::kernels;
use crate::scalar::{pos, Real};

/// How to start a deep run. Every kind takes the imbalance knob `sigma ≥ 0`
/// of THEORY §10: the first layer is multiplied by `r` and the last divided
/// by `r` (`r² − r⁻² = σ`), which leaves the product unchanged and makes
/// `D₁` (and only it) unbalanced.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DeepInit {
    /// Every entry i.i.d. `N(0, std²)` (a small `std` is the small start
    /// whose product is near the saddle at 0).
    Gaussian {
        /// Imbalance knob `σ ≥ 0`.
        sigma: f64,
        /// Entry standard deviation.
        std: f64,
    },
    /// Balanced (Arora, Cohen, Golowich, Hu 2019): from the SVD
    /// `A = UΣVᵀ` of a Gaussian `n×m` matrix with entries `N(0, std²)`,
    /// `W₁ = UΣ^{1/L}`, middle layers `Σ^{1/L}`, `W_L = Σ^{1/L}Vᵀ`, each
    /// zero-padded to width `h`: `W_jᵀW_j = W_{j+1}W_{j+1}ᵀ` for every `j`
    /// and the product is `A` (its best rank-`h` part).
    Balanced {
        /// Imbalance knob `σ ≥ 0` (0 keeps the start exactly balanced).
        sigma: f64,
        /// Entry standard deviation of `A`.
        std: f64,
    },
    /// Every layer with orthonormal rows or columns (QR of a Gaussian),
    /// times `scale`.
    Orthogonal {
        /// Imbalance knob `σ ≥ 0`.
        sigma: f64,
        /// Multiplier of every layer.
        scale: f64,
    },
}

fn check(ok: bool, what: &'static str) -> Result<(), ProblemError> {
    if ok {
        Ok(())
    } else {
        Err(ProblemError::InvalidParameter { what })
    }
}

impl DeepInit {
    /// Draws a network of the given sizes and depth from `rng`.
    pub fn sample<T: Real, N: Dim, H: Dim, M: Dim, S: Stack>(
        &self,
        (n, h, m): (N, H, M),
        depth: usize,
        rng: &mut Rng,
    ) -> Result<DeepLinear<T, N, H, M, S>, ProblemError>
    where
        DefaultAllocator: Allocator<N, H>
            + Allocator<H, H>
            + Allocator<H, M>
            + Allocator<N, M>
            + Allocator<M, M>
            + Allocator<M>,
    {
        check(depth >= 2, "depth must be at least 2")?;
        let mut net = DeepLinear::<T, N, H, M, S>::zeros_generic(n, h, m, depth).ok_or(
            ProblemError::InvalidParameter {
                what: "depth does not match the network's fixed number of layers",
            },
        )?;
        let sigma = match *self {
            DeepInit::Gaussian { sigma, std } => {
                check(
                    std.is_finite() && std >= 0.0,
                    "std must be finite and non-negative",
                )?;
                rng.fill_gaussian(&mut net.first, std);
                for w in net.middle.as_mut() {
                    rng.fill_gaussian(w, std);
                }
                rng.fill_gaussian(&mut net.last, std);
                sigma
            }
            DeepInit::Orthogonal { sigma, scale } => {
                check(
                    scale.is_finite() && scale > 0.0,
                    "scale must be positive and finite",
                )?;
                orthogonal_into(&mut net.first, rng)?;
                for w in net.middle.as_mut() {
                    orthogonal_into(w, rng)?;
                }
                orthogonal_into(&mut net.last, rng)?;
                let s = T::of(scale);
                net.first *= s;
                for w in net.middle.as_mut() {
                    *w *= s;
                }
                net.last *= s;
                sigma
            }
            DeepInit::Balanced { sigma, std } => {
                check(
                    std.is_finite() && std > 0.0,
                    "std must be positive and finite",
                )?;
                balanced_into(&mut net, rng, std)?;
                sigma
            }
        };
        check(
            sigma.is_finite() && sigma >= 0.0,
            "sigma (imbalance) must be finite and non-negative",
        )?;
        let r = imbalance_factor(sigma);
        net.first *= T::of(r);
        net.last *= T::of(1.0 / r);
        net.validate()?;
        Ok(net)
    }
}

/// The balanced factorization of a Gaussian `A` into `net` (see
/// [`DeepInit::Balanced`]), through the eigen-decomposition of `AᵀA`.
fn balanced_into<T: Real, N: Dim, H: Dim, M: Dim, S: Stack>(
    net: &mut DeepLinear<T, N, H, M, S>,
    rng: &mut Rng,
    std: f64,
) -> Result<(), ProblemError>
where
    DefaultAllocator: Allocator<N, H>
        + Allocator<H, H>
        + Allocator<H, M>
        + Allocator<N, M>
        + Allocator<M, M>
        + Allocator<M>,
{
    let (nd, _) = net.first.shape_generic();
    let md = net.last.shape_generic().1;
    let (n, h, m) = net.shape();
    let depth = net.depth();
    let mut a = OMatrix::<T, N, M>::zeros_generic(nd, md);
    rng.fill_gaussian(&mut a, std);
    let mut gram = OMatrix::<T, M, M>::zeros_generic(md, md);
    let mut v = OMatrix::<T, M, M>::zeros_generic(md, md);
    let mut s2 = nalgebra::OVector::<T, M>::zeros_generic(md, nalgebra::U1);
    crate::linalg::gram_cols(&a, &mut gram);
    kernels::sym_eigen(
        gram.as_mut_slice(),
        m,
        s2.as_mut_slice(),
        Some(v.as_mut_slice()),
    );
    let smax = pos(s2.as_slice().first().copied().unwrap_or_else(T::zero));
    let cutoff = T::of_usize(n.max(m)) * T::EPSILON * smax;
    let k = n.min(m).min(h);
    let inv_depth = 1.0 / depth as f64;
    for j in 0..k {
        let s2j = s2.as_slice().get(j).copied().unwrap_or_else(T::zero);
        if !(s2j > cutoff) {
            break;
        }
        let sj = libm::sqrt(s2j.to_f64());
        // Σ^{1/L} entry, and U_j Σ^{1/L} = A v_j s_j^{1/L − 1}.
        let root = T::of(libm::pow(sj, inv_depth));
        let col_scale = T::of(libm::pow(sj, inv_depth - 1.0));
        let vj = v.as_slice().get(j * m..(j + 1) * m).unwrap_or(&[]);
        for i in 0..n {
            let av = kernels::compensated_sum(
                a.as_slice()
                    .chunks_exact(n)
                    .zip(vj)
                    .map(|(col, &vc)| col.get(i).copied().unwrap_or_else(T::zero) * vc),
            );
            if let Some(x) = net.first.get_mut((i, j)) {
                *x = av * col_scale;
            }
        }
        for w in net.middle.as_mut() {
            if let Some(x) = w.get_mut((j, j)) {
                *x = root;
            }
        }
        for c in 0..m {
            if let Some(x) = net.last.get_mut((j, c)) {
                *x = root * vj.get(c).copied().unwrap_or_else(T::zero);
            }
        }
    }
    Ok(())
}
