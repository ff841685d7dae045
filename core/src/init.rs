//! Seeded random numbers and initializations (THEORY §10).

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim, OMatrix};
use rand_xoshiro::rand_core::{Rng as _, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::error::ProblemError;
use crate::kernels;
use crate::net::TwoLayer;
use crate::scalar::{sqrt, Real};

/// The project's random source: `xoshiro256++` seeded by a `u64`, with
/// Gaussian samples by Box–Muller in `f64` through `libm`, so a seed gives
/// the same numbers on every platform (THEORY §10). Samples are drawn in
/// `f64` and rounded to the working precision, so `f32` and `f64` runs
/// from one seed start from the same point up to rounding.
#[derive(Clone, Debug)]
pub struct Rng {
    inner: Xoshiro256PlusPlus,
    spare: Option<f64>,
}

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self {
            inner: Xoshiro256PlusPlus::seed_from_u64(seed),
            spare: None,
        }
    }

    /// Uniform in `(0, 1]` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        ((self.inner.next_u64() >> 11) as f64 + 1.0) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// A standard normal sample (Box–Muller, `libm`).
    pub fn gaussian(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let u1 = self.uniform();
        let u2 = self.uniform();
        let r = libm::sqrt(-2.0 * libm::log(u1));
        let theta = 2.0 * core::f64::consts::PI * u2;
        self.spare = Some(r * libm::sin(theta));
        r * libm::cos(theta)
    }

    /// Fills `m` with independent `N(0, std²)` entries, column by column.
    pub fn fill_gaussian<T: Real, R: Dim, C: Dim>(&mut self, m: &mut OMatrix<T, R, C>, std: f64)
    where
        DefaultAllocator: Allocator<R, C>,
    {
        for x in m.as_mut_slice() {
            *x = T::of(std * self.gaussian());
        }
    }
}

/// How to start a run (THEORY §10).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Init {
    /// `W₁ = r U₀`, `W₂ = V₀ / r`, entries of `U₀, V₀` i.i.d. `N(0, std²)`,
    /// `r² − r⁻² = sigma` (the imbalance knob; 0 is statistically balanced).
    Gaussian {
        /// Imbalance knob `σ ≥ 0`.
        sigma: f64,
        /// Entry standard deviation `s`.
        std: f64,
    },
    /// Gaussian with `std = omega/√h` (small to large `ω`), imbalance knob `sigma`.
    Scaled {
        /// Imbalance knob `σ ≥ 0`.
        sigma: f64,
        /// Scale `ω > 0`.
        omega: f64,
    },
    /// Orthonormal rows of `W₁` and columns of `W₂` (QR of Gaussians),
    /// times `scale`, with the imbalance knob applied as in `Gaussian`.
    Orthogonal {
        /// Imbalance knob `σ ≥ 0`.
        sigma: f64,
        /// Multiplier of the orthonormal factors.
        scale: f64,
    },
}

/// `r` with `r² − r⁻² = σ`: `r = √((σ + √(σ² + 4))/2)` (THEORY §10).
pub fn imbalance_factor(sigma: f64) -> f64 {
    libm::sqrt((sigma + libm::sqrt(sigma * sigma + 4.0)) / 2.0)
}

fn check_param(ok: bool, what: &'static str) -> Result<(), ProblemError> {
    if ok {
        Ok(())
    } else {
        Err(ProblemError::InvalidParameter { what })
    }
}

impl Init {
    /// Draws a network of the given sizes from `rng`.
    pub fn sample<T: Real, N: Dim, H: Dim, M: Dim>(
        &self,
        n: N,
        h: H,
        m: M,
        rng: &mut Rng,
    ) -> Result<TwoLayer<T, N, H, M>, ProblemError>
    where
        DefaultAllocator: Allocator<N, H> + Allocator<H, M> + Allocator<N, M> + Allocator<H, N>,
    {
        let mut net = TwoLayer::zeros_generic(n, h, m);
        let sigma = match *self {
            Init::Gaussian { sigma, std } => {
                check_param(
                    std.is_finite() && std >= 0.0,
                    "std must be finite and non-negative",
                )?;
                rng.fill_gaussian(&mut net.w1, std);
                rng.fill_gaussian(&mut net.w2, std);
                sigma
            }
            Init::Scaled { sigma, omega } => {
                check_param(
                    omega.is_finite() && omega > 0.0,
                    "omega must be positive and finite",
                )?;
                let std = omega / libm::sqrt(h.value() as f64);
                rng.fill_gaussian(&mut net.w1, std);
                rng.fill_gaussian(&mut net.w2, std);
                sigma
            }
            Init::Orthogonal { sigma, scale } => {
                check_param(
                    scale.is_finite() && scale > 0.0,
                    "scale must be positive and finite",
                )?;
                orthogonal_into(&mut net.w1, rng)?;
                orthogonal_into(&mut net.w2, rng)?;
                net.w1 *= T::of(scale);
                net.w2 *= T::of(scale);
                sigma
            }
        };
        check_param(
            sigma.is_finite() && sigma >= 0.0,
            "sigma (imbalance) must be finite and non-negative",
        )?;
        let r = imbalance_factor(sigma);
        net.w1 *= T::of(r);
        net.w2 *= T::of(1.0 / r);
        TwoLayer::new(net.w1, net.w2)
    }
}

/// Fills `w` (r×c) with a random matrix with orthonormal columns when
/// `r ≥ c`, orthonormal rows otherwise (Gram–Schmidt of a Gaussian, the Q
/// of its QR).
pub fn orthogonal_into<T: Real, R: Dim, C: Dim>(
    w: &mut OMatrix<T, R, C>,
    rng: &mut Rng,
) -> Result<(), ProblemError>
where
    DefaultAllocator: Allocator<R, C>,
{
    let (r, c) = w.shape();
    // Draw until full rank (a Gaussian matrix is full rank with probability 1).
    for _attempt in 0..4 {
        rng.fill_gaussian(w, 1.0);
        let ok = if r >= c {
            kernels::orthonormalize_columns(w.as_mut_slice(), r)
        } else {
            // Orthonormalize the rows: work on the transpose in place by
            // gathering each row, which needs a scratch row per column pass.
            orthonormalize_rows(w)
        };
        if ok {
            return Ok(());
        }
    }
    Err(ProblemError::SolverFailed {
        what: "orthogonal initialization",
    })
}

fn orthonormalize_rows<T: Real, R: Dim, C: Dim>(w: &mut OMatrix<T, R, C>) -> bool
where
    DefaultAllocator: Allocator<R, C>,
{
    let rows = w.nrows();
    let data = w.as_mut_slice();
    // Row dot products in column order, the same order on every target.
    let row_dot = |data: &[T], a: usize, b: usize| -> T {
        kernels::compensated_sum(data.chunks_exact(rows).map(|col| {
            col.get(a).copied().unwrap_or_else(T::zero)
                * col.get(b).copied().unwrap_or_else(T::zero)
        }))
    };
    for i in 0..rows {
        for _pass in 0..2 {
            for q in 0..i {
                let s = row_dot(data, i, q);
                for col in data.chunks_exact_mut(rows) {
                    let xq = col.get(q).copied().unwrap_or_else(T::zero);
                    if let Some(xi) = col.get_mut(i) {
                        *xi -= s * xq;
                    }
                }
            }
        }
        let nrm = sqrt(row_dot(data, i, i));
        if !(nrm > T::zero()) {
            return false;
        }
        let inv = T::one() / nrm;
        for col in data.chunks_exact_mut(rows) {
            if let Some(x) = col.get_mut(i) {
                *x *= inv;
            }
        }
    }
    true
}

/// Spectral balanced start (THEORY §10): `W₁ = U√S`, `W₂ = √S Vᵀ` from the
/// SVD of `target = U S Vᵀ`, zero-padded (or truncated) to width `h`, so
/// that `W₁W₂` equals the target's best rank-`h` approximation and `D = 0`.
pub fn spectral_balanced<T: Real, N: Dim, H: Dim, M: Dim>(
    target: &OMatrix<T, N, M>,
    h: H,
) -> Result<TwoLayer<T, N, H, M>, ProblemError>
where
    DefaultAllocator:
        Allocator<N, H> + Allocator<H, M> + Allocator<N, M> + Allocator<M, M> + Allocator<M>,
{
    crate::net::check_finite("spectral target", target)?;
    let (nd, md) = target.shape_generic();
    let (n, m) = target.shape();
    let mut gram = OMatrix::<T, M, M>::zeros_generic(md, md);
    let mut v = OMatrix::<T, M, M>::zeros_generic(md, md);
    let mut s2 = nalgebra::OVector::<T, M>::zeros_generic(md, nalgebra::U1);
    crate::linalg::gram_cols(target, &mut gram);
    kernels::sym_eigen(
        gram.as_mut_slice(),
        m,
        s2.as_mut_slice(),
        Some(v.as_mut_slice()),
    );
    let mut net = TwoLayer::zeros_generic(nd, h, md);
    let smax = crate::scalar::pos(s2.as_slice().first().copied().unwrap_or_else(T::zero));
    let cutoff = T::of_usize(n.max(m)) * T::EPSILON * smax;
    let k = n.min(m).min(h.value());
    for j in 0..k {
        let s2j = s2.as_slice().get(j).copied().unwrap_or_else(T::zero);
        if !(s2j > cutoff) {
            break;
        }
        let sj = sqrt(s2j);
        let root = sqrt(sj);
        // u_j = target v_j / s_j; W₁[:, j] = √s_j u_j = target v_j / √s_j.
        let vj = v.as_slice().get(j * m..(j + 1) * m).unwrap_or(&[]);
        for i in 0..n {
            if let Some(x) = net.w1.get_mut((i, j)) {
                // (target v_j)_i in column order.
                let tv_i = kernels::compensated_sum(
                    target
                        .as_slice()
                        .chunks_exact(n)
                        .zip(vj)
                        .map(|(col, &vc)| col.get(i).copied().unwrap_or_else(T::zero) * vc),
                );
                *x = tv_i / root;
            }
        }
        for c in 0..m {
            if let Some(x) = net.w2.get_mut((j, c)) {
                *x = root * vj.get(c).copied().unwrap_or_else(T::zero);
            }
        }
    }
    TwoLayer::new(net.w1, net.w2)
}
