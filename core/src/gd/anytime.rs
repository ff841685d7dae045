//! The anytime guarantee: a-priori certificates from the current iterate
//! (THEORY §8.2).

use nalgebra::{DefaultAllocator, DimAdd};

use crate::apriori::{
    apriori_certificate, certificate_for_step, AprioriCertificate, AprioriInputs, NoCertificate,
};
use crate::certificate::StepCertificate;
use crate::dims::NetAllocator;
use crate::imbalance::ImbalanceSummary;
use crate::loss::Loss;
use crate::model::Model;
use crate::net::TwoLayer;
use crate::scalar::Real;

use super::{AnytimeRecord, Tolerance, Trainer};

impl<T, N, H, M, L, Mdl> Trainer<T, N, H, M, L, Mdl>
where
    T: Real,
    N: DimAdd<M>,
    H: nalgebra::Dim,
    M: nalgebra::Dim,
    L: Loss<T, N, M>,
    Mdl: Model<T, N, M, Hidden = H>,
    DefaultAllocator: NetAllocator<N, H, M>,
{
    /// The certificate of Theorem 2 with the given gap and imbalance as the
    /// start, or why there is none (for `L ≥ 3` it is open, THEORY §13).
    pub(super) fn apriori_at(
        &self,
        gap: T,
        imbalance: ImbalanceSummary<T>,
    ) -> Result<AprioriCertificate<T>, NoCertificate<T>> {
        match self.inputs_at(gap, imbalance) {
            Some(inputs) => apriori_certificate(&inputs),
            None => Err(self.open_for_depth()),
        }
    }

    fn open_for_depth(&self) -> NoCertificate<T> {
        NoCertificate::OpenForDepth {
            depth: u32::try_from(self.net.depth()).unwrap_or(u32::MAX),
        }
    }

    /// The inputs of Theorem 2 with the given gap and imbalance as the
    /// start (`None` for a model without them).
    pub(super) fn inputs_at(
        &self,
        gap: T,
        imbalance: ImbalanceSummary<T>,
    ) -> Option<AprioriInputs<T>> {
        self.net
            .apriori_inputs(imbalance, gap, self.loss.constants())
    }

    /// The inputs of Theorem 2 at the current iterate (THEORY §8.2), `None`
    /// for a model without an a-priori certificate.
    fn inputs_now_opt(&mut self) -> Option<AprioriInputs<T>> {
        // A model without the certificate is not asked for its imbalance
        // (a deep model's pairs carry their drift budgets between checks).
        if !self.net.has_apriori() {
            return None;
        }
        let (imbalance, _) = self.net.imbalance(&mut self.ws, None);
        self.inputs_at(self.eval.gap, imbalance)
    }

    /// The certificate of Theorem 2 (with the margin of §8.1) for the rest
    /// of the run from the current iterate (THEORY §8.2): GD has no memory,
    /// so the current weights serve as a start. One imbalance spectrum and
    /// one monotone search; no allocation, and the iterates are untouched.
    /// With it, [`AprioriCertificate::iterations_for`] at the current gap
    /// gives `T_t(ε)`. For a deep network (`L ≥ 3`) there is none yet
    /// ([`NoCertificate::OpenForDepth`], THEORY §13).
    pub fn certificate_now(&mut self) -> Result<AprioriCertificate<T>, NoCertificate<T>> {
        match self.inputs_now_opt() {
            Some(inputs) => apriori_certificate(&inputs),
            None => Err(self.open_for_depth()),
        }
    }

    /// `ε` on the gap that [`TrainerConfig::tol`] means for this run.
    pub(super) fn tol_abs(&self) -> T {
        match self.config.tol {
            Tolerance::Absolute(x) => x,
            Tolerance::Relative(x) => x * self.initial_gap,
        }
    }

    /// The certificate at iterate `t` for [`TrainerConfig::anytime_every`]:
    /// for a constant step, the one for that very step (then every step of
    /// the run is exactly `η̄`); otherwise the best one.
    pub(super) fn anytime_now(&mut self) -> AnytimeRecord<T> {
        let certificate = match (self.inputs_now_opt(), self.rule.fixed_step()) {
            (Some(inputs), Some(eta)) => certificate_for_step(&inputs, eta),
            (Some(inputs), None) => apriori_certificate(&inputs),
            (None, _) => Err(self.open_for_depth()),
        };
        let remaining = certificate
            .ok()
            .and_then(|c| c.iterations_for(self.eval.gap, self.tol_abs()));
        self.anytime.computed += 1;
        if let Ok(c) = certificate {
            let total = remaining.and_then(|r| r.checked_add(self.t as u64));
            if self.anytime.certified_from.is_none() {
                self.anytime.certified_from = Some(self.t);
                self.anytime.certificate = Some(c);
                self.anytime.gap_at = self.eval.gap;
                self.anytime.guaranteed_remaining = remaining;
                self.anytime.guaranteed_total = total;
            }
            let tighter = match (total, self.anytime.best_total) {
                (Some(new), Some(old)) => new < old,
                (new, None) => new.is_some() || self.anytime_cert.is_none(),
                (None, Some(_)) => false,
            };
            if tighter {
                self.anytime.best_total = total;
                self.anytime.best_from = Some(self.t);
                self.anytime_cert = Some(c);
                self.anytime_bound = self.eval.gap;
            }
        }
        AnytimeRecord {
            certificate,
            remaining,
        }
    }

    /// Checks one step from `t_c` on against the guarantee of
    /// [`AnytimeSummary`]: whether it qualified, then the chained bound.
    /// Each step contracts by `ρ̄` up to its own rounding `allowance`
    /// (THEORY §11), so the allowances are carried along the chained bound.
    pub(super) fn check_anytime(
        &mut self,
        t: usize,
        eta: T,
        cert: &StepCertificate<T>,
        allowance: T,
        next_gap: T,
    ) {
        let Some(c) = self.anytime_cert else {
            return;
        };
        if self.anytime.first_unqualified.is_some() {
            return;
        }
        let two = T::of(2.0);
        // The decrease of a step η is governed by η(2 − ηK_t(η)) (ρ_t =
        // 1 − μα_t·that); a step equal to η̄ has at least η̄(2 − η̄K̄).
        let phi_bar = c.eta_bar * (two - c.eta_bar * c.k_bar);
        let qualifies = eta == c.eta_bar
            || (eta <= c.eta_bar
                && cert.k_t.finite()
                && cert.k_t > T::zero()
                && eta * (two - eta * cert.k_t) >= phi_bar);
        if !qualifies {
            self.anytime.first_unqualified = Some(t);
            return;
        }
        let bound = c.rho_bar * self.anytime_bound + allowance;
        self.anytime_bound = bound;
        self.anytime.steps_checked += 1;
        if !(next_gap <= bound) {
            self.anytime.violations += 1;
        }
        if bound > T::zero() {
            let r = next_gap / bound;
            if r > self.anytime.worst_ratio || !r.finite() {
                self.anytime.worst_ratio = r;
            }
        }
    }
}

impl<T, N, H, M, L> Trainer<T, N, H, M, L, TwoLayer<T, N, H, M>>
where
    T: Real,
    N: DimAdd<M>,
    H: nalgebra::Dim,
    M: nalgebra::Dim,
    L: Loss<T, N, M>,
    DefaultAllocator: NetAllocator<N, H, M>,
{
    /// The inputs of Theorem 2 with the current iterate as the start
    /// (THEORY §8.2): its gap and the imbalance spectrum of its `D`
    /// (computed here, `O(h(n+m)²)`, no allocation).
    pub fn inputs_now(&mut self) -> AprioriInputs<T> {
        let (imbalance, _) = self.net.imbalance(&mut self.ws, None);
        let c = self.loss.constants();
        let (n, _, m) = self.net.shape();
        AprioriInputs {
            mu: c.mu,
            k: c.k,
            w_star_spec: c.w_star.spectral,
            gap0: self.eval.gap,
            imbalance,
            w_star_sigma_min: c.w_star.sigma_min,
            n,
            m,
        }
    }
}
