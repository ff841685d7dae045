//! How a run is configured and how it ended.

use crate::rules::RuleUnavailable;
use crate::scalar::Real;

/// When a run counts as converged.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Tolerance<T> {
    /// `L − L* ≤ ε`.
    Absolute(T),
    /// `L − L* ≤ ε (L₀ − L*)`.
    Relative(T),
}

/// Settings of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TrainerConfig<T> {
    /// Iteration cap.
    pub max_iters: usize,
    /// Convergence tolerance on the gap.
    pub tol: Tolerance<T>,
    /// Check the per-step certificate (THEORY §5). Rules that need the local
    /// constants compute them anyway.
    pub certify: bool,
    /// Compute the imbalance spectrum every this many steps and check
    /// Lemma 3's drift bound (THEORY §7); 0 = only at the start.
    pub imbalance_every: usize,
    /// Stop as `Stalled` after this many consecutive steps that do not
    /// improve the best gap beyond rounding (the precision floor).
    pub stall_window: usize,
    /// Recompute the certificate of Theorem 2 at the current iterate every
    /// this many steps (THEORY §8.2; 0 = never): the first iterate that has
    /// one is the certified-from step `t_c`, and the rest of the run is
    /// checked against its guarantee ([`AnytimeSummary`](super::AnytimeSummary)). Costs one
    /// imbalance spectrum and one monotone search; it never changes the
    /// iterates.
    pub anytime_every: usize,
}

impl<T: Real> Default for TrainerConfig<T> {
    fn default() -> Self {
        Self {
            max_iters: 1000,
            tol: Tolerance::Relative(T::of(1e-10)),
            certify: true,
            imbalance_every: 0,
            stall_window: 20,
            anytime_every: 0,
        }
    }
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Status {
    /// Still iterating.
    Running,
    /// The gap reached the tolerance.
    Converged,
    /// The iteration cap was reached first.
    MaxIters,
    /// The loss became non-finite or increased beyond rounding at this step.
    Diverged {
        /// The step at which it happened.
        at: usize,
    },
    /// Machine precision reached: the gap stopped improving over the stall
    /// window, an Armijo search found no decrease after progress, or a
    /// step changed no weight at all (every update below the weights'
    /// resolution).
    Stalled,
    /// The step rule gives no step here.
    RuleUnavailable(RuleUnavailable),
    /// The observer asked to stop.
    Stopped,
}

impl Status {
    /// Short name: `running|converged|max_iters|diverged|stalled|rule_unavailable|stopped`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Converged => "converged",
            Self::MaxIters => "max_iters",
            Self::Diverged { .. } => "diverged",
            Self::Stalled => "stalled",
            Self::RuleUnavailable(_) => "rule_unavailable",
            Self::Stopped => "stopped",
        }
    }

    /// `true` once the run has ended.
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Running)
    }
}
