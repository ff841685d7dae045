//! What a run reports: per-step records, the anytime guarantee, observers
//! and the summary.

use crate::apriori::{AprioriCertificate, NoCertificate};
use crate::certificate::{CertificateTally, StepCertificate, StepCheck};
use crate::imbalance::ImbalanceSummary;
use crate::scalar::Real;

use super::Status;

/// Everything about one iteration `t → t+1`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StepRecord<T> {
    /// Iteration index `t`.
    pub t: usize,
    /// `L_t`.
    pub loss: T,
    /// `L_t − L*`.
    pub gap: T,
    /// Step `η_t` taken.
    pub eta: T,
    /// Predicted quantities (meaningful when `certified`).
    pub cert: StepCertificate<T>,
    /// Measured outcome.
    pub check: StepCheck<T>,
    /// `true` when the certificate was computed and checked.
    pub certified: bool,
    /// `L_{t+1}`.
    pub next_loss: T,
    /// `L_{t+1} − L*`.
    pub next_gap: T,
    /// Cumulative imbalance drift bound `Σ_{s≤t} η_s² g_s²` (Lemma 3).
    pub drift: T,
    /// Imbalance of the new iterate when it was computed at this step.
    pub imbalance: Option<ImbalanceSummary<T>>,
    /// The certificate of Theorem 2 at iterate `t` (THEORY §8.2), when it
    /// was recomputed before this step ([`TrainerConfig::anytime_every`](super::TrainerConfig::anytime_every)).
    pub anytime: Option<AnytimeRecord<T>>,
}

/// A certificate computed at one iterate of a run (THEORY §8.2).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AnytimeRecord<T> {
    /// The certificate for the rest of the run from this iterate, or why
    /// there is none.
    pub certificate: Result<AprioriCertificate<T>, NoCertificate<T>>,
    /// `T_t(ε)`: further iterations after which `L − L* ≤ ε` is guaranteed
    /// (`None` without a certificate or when it does not fit).
    pub remaining: Option<u64>,
}

/// The guarantee of the certified-from step `t_c` and how the run kept it
/// (THEORY §8, §8.2).
///
/// What is guaranteed: from `t_c` on, every step `η_s ≤ η̄` keeps
/// `α_s ≥ ᾱ` and `β_s ≤ β̄`, and a step that also decreases at least as
/// much as `η̄` would, `η_s(2 − η_sK_s(η_s)) ≥ η̄(2 − η̄K̄)` (a step equal to
/// `η̄` always does), contracts the gap by `ρ̄`. Such steps are
/// *qualifying*; while every step since `t_c` qualified, the gap must stay
/// below the chained bound `B_{s+1} = ρ̄B_s + tol_s` (`B_{t_c} = L_{t_c} −
/// L*`, `tol_s` the per-step rounding allowance of THEORY §11), which
/// reaches `ε` plus the accumulated rounding after `T_{t_c}(ε)` steps. A
/// gap above it is a violation (the run needed more iterations than
/// guaranteed). The first step that does not qualify (e.g. a Local step,
/// which is at least `1/K̄ ≥ η̄`) ends the checking: the guarantee is then
/// about a different run and is reported as not applying. A later
/// certificate whose total `t + T_t(ε)` is smaller is as valid and
/// tighter: the chained bound then restarts from it (`B_t = L_t − L*`), so
/// the check is always against the tightest guarantee known.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AnytimeSummary<T> {
    /// `t_c`: the first checked iterate with a certificate.
    pub certified_from: Option<usize>,
    /// The certificate at `t_c`.
    pub certificate: Option<AprioriCertificate<T>>,
    /// `L_{t_c} − L*`.
    pub gap_at: T,
    /// `T_{t_c}(ε)`: guaranteed remaining iterations at `t_c`.
    pub guaranteed_remaining: Option<u64>,
    /// `t_c + T_{t_c}(ε)`: a guaranteed bound on the whole run's length.
    pub guaranteed_total: Option<u64>,
    /// The tightest guaranteed total `t + T_t(ε)` over the certificates
    /// computed so far (each is a valid bound on its own, THEORY §8.2).
    pub best_total: Option<u64>,
    /// The iterate whose certificate gave [`Self::best_total`]; the chained
    /// bound follows that certificate from there on.
    pub best_from: Option<usize>,
    /// The first step from `t_c` on that did not qualify (see above).
    pub first_unqualified: Option<usize>,
    /// Qualifying steps checked against the chained bound.
    pub steps_checked: u32,
    /// Steps whose next gap exceeded the chained bound.
    pub violations: u32,
    /// Largest gap / chained bound seen (at most 1 when the guarantee held).
    pub worst_ratio: T,
    /// Certificates computed during the run.
    pub computed: u32,
}

impl<T: Real> AnytimeSummary<T> {
    /// `true` when a guarantee exists and every step since `t_c` qualified,
    /// so that the guarantee applies to this run.
    pub fn applies(&self) -> bool {
        self.certified_from.is_some() && self.first_unqualified.is_none()
    }
}

/// Receives every step's record; return `false` to stop the run.
pub trait Observer<T> {
    /// Called after every step.
    fn observe(&mut self, record: &StepRecord<T>) -> bool;
}

/// An observer that does nothing.
impl<T> Observer<T> for () {
    fn observe(&mut self, _: &StepRecord<T>) -> bool {
        true
    }
}

impl<T, F: FnMut(&StepRecord<T>) -> bool> Observer<T> for F {
    fn observe(&mut self, record: &StepRecord<T>) -> bool {
        self(record)
    }
}

/// Keeps the last `CAP` records in a fixed buffer (no allocation).
#[derive(Clone, Debug, Default)]
pub struct History<T, const CAP: usize> {
    /// The retained records, oldest first.
    pub records: heapless::Deque<StepRecord<T>, CAP>,
}

impl<T: Copy, const CAP: usize> Observer<T> for History<T, CAP> {
    fn observe(&mut self, record: &StepRecord<T>) -> bool {
        if self.records.is_full() {
            let _ = self.records.pop_front();
        }
        let _ = self.records.push_back(*record);
        true
    }
}

/// The end of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Summary<T> {
    /// Why it stopped.
    pub status: Status,
    /// Steps taken.
    pub iterations: usize,
    /// `L₀ − L*`.
    pub initial_gap: T,
    /// Final `L − L*`.
    pub final_gap: T,
    /// Final `L`.
    pub final_loss: T,
    /// Certificate tally.
    pub tally: CertificateTally<T>,
    /// A-priori certificate at the start, or why none exists.
    pub apriori: Result<AprioriCertificate<T>, NoCertificate<T>>,
    /// Imbalance of the start.
    pub initial_imbalance: ImbalanceSummary<T>,
    /// The certified-from step, its guarantee and its check (THEORY §8.2).
    pub anytime: AnytimeSummary<T>,
}
