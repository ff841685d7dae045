//! Deterministic problem generators shared by the host CLI and the firmware
//! (THEORY §9, §10).
//!
//! Every generator writes into matrices the caller owns, works for fixed
//! (`Const`) and run-time (`Dyn`) sizes alike, and draws its random numbers
//! from an [`Rng`]: Gaussian samples in `f64`, rounded to the working
//! precision `T` (as [`Rng::fill_gaussian`]), in the documented order
//! (entries column by column). The same seed thus gives the same problem on
//! every platform, and `f32` and `f64` problems from one seed agree up to
//! rounding. Products (`XΘ`, `𝒜 vec(Θ)`) use [`crate::kernels`], whose
//! summation order is fixed. Only [`conditioned_data`] needs an `n×n`
//! scratch matrix: on the stack for fixed sizes, allocated by nalgebra for
//! `Dyn` (set-up only, never in an iteration loop).

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim, OMatrix, OVector};

use crate::error::ProblemError;
use crate::init::{orthogonal_into, Rng};
use crate::kernels;
use crate::scalar::Real;

fn check_param(ok: bool, what: &'static str) -> Result<(), ProblemError> {
    if ok {
        Ok(())
    } else {
        Err(ProblemError::InvalidParameter { what })
    }
}

fn check_nonempty(rows: usize, cols: usize, what: &'static str) -> Result<(), ProblemError> {
    if rows == 0 || cols == 0 {
        Err(ProblemError::ZeroSize { what })
    } else {
        Ok(())
    }
}

/// Gaussian data: the entries of `x` (N×n) i.i.d. `N(0, 1)`, so that
/// `E[XᵀX/N] = I` (THEORY §9, default data of the experiments).
pub fn gaussian_data<T: Real, S: Dim, N: Dim>(x: &mut OMatrix<T, S, N>, rng: &mut Rng)
where
    DefaultAllocator: Allocator<S, N>,
{
    rng.fill_gaussian(x, 1.0);
}

/// Orthogonal data: `X = scale·Q` with `Q` (N×n, `N ≥ n`) having
/// orthonormal columns (Gram–Schmidt of a Gaussian, [`orthogonal_into`]),
/// so `XᵀX = scale²·I` and the squared loss has `μ = K = scale²/N`
/// (THEORY §9.1).
///
/// `scale = 1` gives the paper's "orthogonal X" (with `N = n`, `X` is an
/// orthogonal matrix, `XᵀX = I`); `scale = √N` gives `XᵀX/N = I`, the
/// expected spectrum of [`gaussian_data`].
///
/// Errors: a zero size; `N < n` ([`ProblemError::RankDeficient`]: `n`
/// orthonormal columns need `N ≥ n`); `scale` not positive and finite.
pub fn orthogonal_data<T: Real, S: Dim, N: Dim>(
    x: &mut OMatrix<T, S, N>,
    scale: f64,
    rng: &mut Rng,
) -> Result<(), ProblemError>
where
    DefaultAllocator: Allocator<S, N>,
{
    let (samples, n) = x.shape();
    check_nonempty(samples, n, "data matrix X (N or n)")?;
    check_param(
        scale.is_finite() && scale > 0.0,
        "scale of orthogonal data must be positive and finite",
    )?;
    if samples < n {
        return Err(ProblemError::RankDeficient {
            what: "orthogonal X (needs N >= n)",
            rank: samples,
            needed: n,
        });
    }
    orthogonal_into(x, rng)?;
    *x *= T::of(scale);
    Ok(())
}

/// Data with a prescribed condition number `κ = σ_max(X)/σ_min(X)`:
/// `X = U diag(s) Vᵀ` with `U` (N×n, orthonormal columns) and `Vᵀ` (n×n,
/// orthogonal) from [`orthogonal_into`] (drawn in that order), and singular
/// values log-spaced, `s_i = √N · κ^{−(i−1)/(n−1)}`, `i = 1..n`.
///
/// Normalization: `σ_max(X)²/N = 1` and `σ_min(X)²/N = 1/κ²`, so the
/// squared loss (THEORY §9.1) has `K = 1`, `μ = 1/κ²` (its condition number
/// is `κ²`). With `n = 1` the single singular value is `√N`.
///
/// Errors: a zero size; `N < n` ([`ProblemError::RankDeficient`]); `κ` not
/// finite or `< 1`.
pub fn conditioned_data<T: Real, S: Dim, N: Dim>(
    x: &mut OMatrix<T, S, N>,
    kappa: f64,
    rng: &mut Rng,
) -> Result<(), ProblemError>
where
    DefaultAllocator: Allocator<S, N> + Allocator<N, N> + Allocator<N>,
{
    let (samples, n) = x.shape();
    check_nonempty(samples, n, "data matrix X (N or n)")?;
    check_param(
        kappa.is_finite() && kappa >= 1.0,
        "condition number kappa must be finite and >= 1",
    )?;
    if samples < n {
        return Err(ProblemError::RankDeficient {
            what: "conditioned X (needs N >= n)",
            rank: samples,
            needed: n,
        });
    }
    let (_, nd) = x.shape_generic();
    let mut vt = OMatrix::<T, N, N>::zeros_generic(nd, nd);
    let mut row = OVector::<T, N>::zeros_generic(nd, nalgebra::U1);
    orthogonal_into(x, rng)?;
    orthogonal_into(&mut vt, rng)?;
    // U ← U diag(s), column by column.
    let root_n = libm::sqrt(samples as f64);
    let log_kappa = libm::log(kappa);
    for (i, col) in x.as_mut_slice().chunks_exact_mut(samples).enumerate() {
        let frac = if n > 1 {
            i as f64 / (n - 1) as f64
        } else {
            0.0
        };
        let s = T::of(root_n * libm::exp(-frac * log_kappa));
        for e in col.iter_mut() {
            *e *= s;
        }
    }
    // X ← (U diag(s)) Vᵀ one row at a time: (row·Vᵀ)_j = dot(row, column j of Vᵀ).
    for mut xr in x.row_iter_mut() {
        for (t, &e) in row.iter_mut().zip(xr.iter()) {
            *t = e;
        }
        for (e, vcol) in xr.iter_mut().zip(vt.as_slice().chunks_exact(n)) {
            *e = kernels::dot(row.as_slice(), vcol);
        }
    }
    Ok(())
}

/// Regression targets `Y = XΘ + noise·E` (THEORY §9.1, §9.3): fills
/// `theta` (n×m, the ground truth) with i.i.d. `N(0, theta_std²)`, then adds
/// i.i.d. `N(0, noise²)` to `XΘ` in `y` (N×m). Draws: `Θ` first, then `E`,
/// each column by column.
///
/// Errors: a zero size; shapes that do not fit `X`
/// ([`ProblemError::ShapeMismatch`]); `theta_std` or `noise` negative or
/// not finite.
pub fn linear_targets<T: Real, S: Dim, N: Dim, M: Dim>(
    x: &OMatrix<T, S, N>,
    theta: &mut OMatrix<T, N, M>,
    y: &mut OMatrix<T, S, M>,
    theta_std: f64,
    noise: f64,
    rng: &mut Rng,
) -> Result<(), ProblemError>
where
    DefaultAllocator: Allocator<S, N> + Allocator<N, M> + Allocator<S, M>,
{
    scores(x, theta, y, theta_std, noise, rng)
}

/// `y ← XΘ + noise·E` with `Θ` drawn into `theta`; shared by
/// [`linear_targets`] and [`one_hot_labels`].
fn scores<T: Real, S: Dim, N: Dim, M: Dim>(
    x: &OMatrix<T, S, N>,
    theta: &mut OMatrix<T, N, M>,
    y: &mut OMatrix<T, S, M>,
    theta_std: f64,
    noise: f64,
    rng: &mut Rng,
) -> Result<(), ProblemError>
where
    DefaultAllocator: Allocator<S, N> + Allocator<N, M> + Allocator<S, M>,
{
    let (samples, n) = x.shape();
    let m = theta.ncols();
    check_nonempty(samples, n, "data matrix X (N or n)")?;
    check_nonempty(m, m, "m (columns of Theta and Y)")?;
    if theta.nrows() != n {
        return Err(ProblemError::ShapeMismatch {
            what: "Theta",
            expected: (n, m),
            found: theta.shape(),
        });
    }
    if y.shape() != (samples, m) {
        return Err(ProblemError::ShapeMismatch {
            what: "Y",
            expected: (samples, m),
            found: y.shape(),
        });
    }
    check_param(
        theta_std.is_finite() && theta_std >= 0.0,
        "theta_std must be finite and non-negative",
    )?;
    check_param(
        noise.is_finite() && noise >= 0.0,
        "noise must be finite and non-negative",
    )?;
    rng.fill_gaussian(theta, theta_std);
    kernels::mm_nn(y.as_mut_slice(), x.as_slice(), theta.as_slice(), samples, n);
    add_noise(y.as_mut_slice(), noise, rng);
    Ok(())
}

fn add_noise<T: Real>(y: &mut [T], noise: f64, rng: &mut Rng) {
    for e in y.iter_mut() {
        *e += T::of(noise * rng.gaussian());
    }
}

/// One-hot labels for softmax classification (THEORY §9.4): draws `Θ`
/// (n×m, i.i.d. `N(0, theta_std²)`) into `theta` and the noise `E` (N×m,
/// i.i.d. `N(0, noise²)`) as [`linear_targets`] does, and sets row `i` of
/// `y` to `e_{c_i}` with `c_i = argmax_j (XΘ + E)_{ij}` (the lowest index
/// on a tie). Some classes may receive no sample; the ridge keeps the loss
/// strongly convex regardless.
///
/// Errors: as [`linear_targets`].
pub fn one_hot_labels<T: Real, S: Dim, N: Dim, M: Dim>(
    x: &OMatrix<T, S, N>,
    theta: &mut OMatrix<T, N, M>,
    y: &mut OMatrix<T, S, M>,
    theta_std: f64,
    noise: f64,
    rng: &mut Rng,
) -> Result<(), ProblemError>
where
    DefaultAllocator: Allocator<S, N> + Allocator<N, M> + Allocator<S, M>,
{
    scores(x, theta, y, theta_std, noise, rng)?;
    for mut row in y.row_iter_mut() {
        let mut best = 0;
        let mut best_v = T::zero();
        for (j, &v) in row.iter().enumerate() {
            if j == 0 || v > best_v {
                best = j;
                best_v = v;
            }
        }
        for (j, e) in row.iter_mut().enumerate() {
            *e = if j == best { T::one() } else { T::zero() };
        }
    }
    Ok(())
}

/// A random sensing operator (THEORY §9.2) in the layout of
/// [`crate::loss::MatrixSensing`] (`p×nm`, row `k` is `vec(A_k)ᵀ`): entries
/// i.i.d. `N(0, 1)`, so that `E[𝒜ᵀ𝒜/p] = I`.
pub fn sensing_operator<T: Real, P: Dim, NM: Dim>(a: &mut OMatrix<T, P, NM>, rng: &mut Rng)
where
    DefaultAllocator: Allocator<P, NM>,
{
    rng.fill_gaussian(a, 1.0);
}

/// Sensing measurements `y_k = ⟨A_k, Θ⟩ + noise·e_k` (THEORY §9.2): draws
/// the ground truth `theta` (n×m, i.i.d. `N(0, theta_std²)`), then the
/// noise, into `y` (length `p`).
///
/// Errors: a zero size; `a` not `p×nm` with `nm = n·m`, or `y` not of
/// length `p` ([`ProblemError::ShapeMismatch`]); `theta_std` or `noise`
/// negative or not finite.
pub fn sensing_measurements<T: Real, P: Dim, NM: Dim, N: Dim, M: Dim>(
    a: &OMatrix<T, P, NM>,
    theta: &mut OMatrix<T, N, M>,
    y: &mut OVector<T, P>,
    theta_std: f64,
    noise: f64,
    rng: &mut Rng,
) -> Result<(), ProblemError>
where
    DefaultAllocator: Allocator<P, NM> + Allocator<N, M> + Allocator<P>,
{
    let (p, nm) = a.shape();
    let (n, m) = theta.shape();
    check_nonempty(p, nm, "sensing operator (p or nm)")?;
    check_nonempty(n, m, "Theta (n or m)")?;
    if nm != n.saturating_mul(m) {
        return Err(ProblemError::ShapeMismatch {
            what: "sensing operator",
            expected: (p, n.saturating_mul(m)),
            found: (p, nm),
        });
    }
    if y.nrows() != p {
        return Err(ProblemError::ShapeMismatch {
            what: "y (measurements)",
            expected: (p, 1),
            found: y.shape(),
        });
    }
    check_param(
        theta_std.is_finite() && theta_std >= 0.0,
        "theta_std must be finite and non-negative",
    )?;
    check_param(
        noise.is_finite() && noise >= 0.0,
        "noise must be finite and non-negative",
    )?;
    rng.fill_gaussian(theta, theta_std);
    kernels::mm_nn(y.as_mut_slice(), a.as_slice(), theta.as_slice(), p, nm);
    add_noise(y.as_mut_slice(), noise, rng);
    Ok(())
}
