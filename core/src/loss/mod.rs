//! Strongly convex, smooth losses `ℓ(W)` of the non-overparametrized model
//! (THEORY §1, §9).

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim, OMatrix};

use crate::linalg::MatrixNorms;
use crate::scalar::Real;

// mod logcosh;
// mod sensing;
// mod softmax;
mod squared;

// pub use logcosh::LogCoshRidge;
// pub use sensing::MatrixSensing;
// pub use softmax::SoftmaxRidge;
pub use squared::SquaredLoss;

/// Which loss of THEORY §9.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LossKind {
    /// §9.1 `(1/2N)‖Y − XW‖²`.
    Squared,
    /// §9.2 `(1/2p) Σ (⟨A_k, W⟩ − y_k)²`.
    Sensing,
    /// §9.3 log-cosh with ridge on the residual.
    LogCosh,
    /// §9.4 ridge-regularized softmax classification.
    Softmax,
}

/// The global constants of `ℓ` the analysis is built on (THEORY §1).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LossConstants<T> {
    /// Strong convexity `μ`.
    pub mu: T,
    /// Smoothness `K`.
    pub k: T,
    /// Minimum value `ℓ* = ℓ(W*)`.
    pub l_star: T,
    /// Norms of the minimizer `W*`.
    pub w_star: MatrixNorms<T>,
}

/// Loss value and gap to the minimum at one point.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Evaluation<T> {
    /// `ℓ(W)`.
    pub value: T,
    /// `ℓ(W) − ℓ*`, computed as accurately as the loss allows (for the
    /// quadratic losses directly from `W − W*`, without cancellation).
    pub gap: T,
}

/// A `μ`-strongly convex, `K`-smooth loss on `n×m` matrices (THEORY §1).
///
/// Implementations own their data and every scratch buffer, so evaluating
/// never allocates.
pub trait Loss<T: Real, N: Dim, M: Dim>
where
    DefaultAllocator: Allocator<N, M>,
{
    /// Which loss this is.
    fn kind(&self) -> LossKind;
    /// `μ, K, ℓ*` and the norms of `W*`.
    fn constants(&self) -> &LossConstants<T>;
    /// The unique minimizer `W*`.
    fn minimizer(&self) -> &OMatrix<T, N, M>;
    /// `ℓ(W)` and the gap.
    fn evaluate(&mut self, w: &OMatrix<T, N, M>) -> Evaluation<T>;
    /// `ℓ(W)`, the gap, and `∇ℓ(W)` written into `grad`.
    fn evaluate_with_gradient(
        &mut self,
        w: &OMatrix<T, N, M>,
        grad: &mut OMatrix<T, N, M>,
    ) -> Evaluation<T>;
}
