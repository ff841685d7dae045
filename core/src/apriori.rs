//! A-priori certificate from the initialization (Theorem 2, THEORY §8).

use crate::imbalance::ImbalanceSummary;
use crate::scalar::Real;

/// What Theorem 2 needs at `t = 0`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AprioriInputs<T> {
    /// Strong convexity `μ` of `ℓ`.
    pub mu: T,
    /// Smoothness `K` of `ℓ`.
    pub k: T,
    /// `‖W*‖₂`.
    pub w_star_spec: T,
    /// `L₀ − L*`.
    pub gap0: T,
    /// Spectrum summary of `D₀`.
    pub imbalance: ImbalanceSummary<T>,
}

/// A certificate valid for the whole run (THEORY §8).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AprioriCertificate<T> {
    /// Largest allowed step `η̄`.
    pub eta_bar: T,
    /// Guaranteed rate `ρ̄`: `L_t − L* ≤ ρ̄ᵗ (L₀ − L*)`.
    pub rho_bar: T,
    /// Lower bound `ᾱ` on every `α_t`.
    pub alpha_bar: T,
    /// Upper bound `β̄` on every `β_t`.
    pub beta_bar: T,
    /// `K̄`, the local smoothness bound used.
    pub k_bar: T,
    /// Total imbalance drift bound `δ`.
    pub delta: T,
}

/// Why no a-priori certificate exists.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NoCertificate<T> {
    /// `α_imb(D₀) = 0` (e.g. a balanced or spectral start): `ᾱ ≤ 0` for every `η̄`.
    NoImbalanceMargin {
        /// `α_imb(D₀)`.
        alpha_imb: T,
    },
    /// `α_imb(D₀) > 0` but the drift `δ` eats it for every consistent `η̄`.
    DriftExceedsMargin {
        /// `α_imb(D₀)`.
        alpha_imb: T,
    },
    /// The start is already at the minimum (`L₀ = L*`).
    AtMinimum,
    /// An input is not finite or not positive.
    InvalidInputs,
}

/// Finds the best consistent `η̄` (THEORY §8). Placeholder until the search lands.
pub fn apriori_certificate<T: Real>(
    inputs: &AprioriInputs<T>,
) -> Result<AprioriCertificate<T>, NoCertificate<T>> {
    Err(NoCertificate::NoImbalanceMargin {
        alpha_imb: inputs.imbalance.alpha_imb,
    })
}
