//! One certified iteration (THEORY §1, §2, §5).

use nalgebra::{DefaultAllocator, DimAdd};

use crate::certificate::{LocalConstants, LossRounding, StepCertificate, StepCheck};
use crate::dims::NetAllocator;
use crate::imbalance::ImbalanceSummary;
use crate::kernels;
use crate::loss::{Evaluation, Loss};
use crate::model::Model;
use crate::rules::{Probe, RuleContext};
use crate::scalar::{sqrt, Real};

use super::{Status, StepRecord, Trainer};

/// The model's answers to a rule ([`Probe`]): its own `K_t(η)` (THEORY §4
/// for two layers, §13 for `L`) and the loss after a trial step.
struct ModelProbe<'a, T: Real, N: nalgebra::Dim, M: nalgebra::Dim, Mdl: Model<T, N, M>, L>
where
    DefaultAllocator: nalgebra::allocator::Allocator<N, M>,
{
    net: &'a Mdl,
    ws: &'a mut Mdl::Work,
    loss: &'a mut L,
    local: LocalConstants<T>,
    k: T,
}

impl<T: Real, N: nalgebra::Dim, M: nalgebra::Dim, Mdl: Model<T, N, M>, L: Loss<T, N, M>> Probe<T>
    for ModelProbe<'_, T, N, M, Mdl, L>
where
    DefaultAllocator: nalgebra::allocator::Allocator<N, M>,
{
    fn smoothness(&mut self, eta: T) -> T {
        self.net.smoothness(self.ws, &self.local, self.k, eta)
    }

    fn trial_loss(&mut self, eta: T) -> T {
        self.net.trial_loss(self.ws, self.loss, eta)
    }
}

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
    /// One iteration. Returns `None` when the run has already ended.
    ///
    /// An interrupt ([`crate::cancel::request`]) ends the run
    /// [`Status::Stopped`]: seen before the update, the weights stay as they
    /// were and no record is made; seen during the imbalance spectrum after
    /// the update, the step's record is returned without that spectrum.
    pub fn step(&mut self) -> Option<StepRecord<T>> {
        if self.status.is_final() {
            return None;
        }
        if crate::cancel::requested() {
            self.status = Status::Stopped;
            return None;
        }
        let anytime =
            if self.config.anytime_every > 0 && self.t.is_multiple_of(self.config.anytime_every) {
                Some(self.anytime_now())
            } else {
                None
            };
        let constants = *self.loss.constants();
        let needs_local = self.config.certify || self.rule.fixed_step().is_none();
        // The layers' gradients (THEORY §1, §13) and the local constants.
        let (local, mut norms) = self.net.prepare(&mut self.ws, needs_local);
        norms.grad = self.grad_norm;
        let product_spec = if self.rule.rule().needs_product_norm() {
            self.net.product_spec(&mut self.ws)
        } else {
            T::zero()
        };
        let ctx = RuleContext {
            t: self.t,
            local,
            constants,
            loss_kind: self.loss.kind(),
            gap: self.eval.gap,
            loss: self.eval.value,
            product_spec,
        };
        let eta = {
            let Self {
                net,
                loss,
                ws,
                rule,
                ..
            } = self;
            match net.own_step(ws, &rule.rule(), constants.k) {
                Some(eta) => eta,
                None => rule.step_with(
                    &ctx,
                    &mut ModelProbe {
                        net,
                        ws,
                        loss,
                        local,
                        k: constants.k,
                    },
                ),
            }
        };
        let eta = match eta {
            Ok(eta) => eta,
            Err(why) if self.rule.is_stall(&why, &ctx) => {
                self.status = Status::Stalled;
                return None;
            }
            Err(why) => {
                self.status = Status::RuleUnavailable(why);
                return None;
            }
        };
        // The local constants may be partial (an interrupt inside their
        // spectra): stop before they move anything.
        if crate::cancel::requested() {
            self.status = Status::Stopped;
            return None;
        }
        let k_t = self.net.smoothness(&self.ws, &local, constants.k, eta);
        let cert = StepCertificate::with_smoothness(local, constants.mu, k_t, self.eval.gap, eta);
        if !self.net.apply(&mut self.ws, eta) {
            // Every weight rounded back to itself (a step far below the
            // resolution of the weights, e.g. ‖W₁‖ ≈ 1e30 against ‖W₂‖ ≈ 1):
            // the iterate cannot move, which is the precision floor, not a
            // failure of the certificate (which assumes the update is
            // carried out). Nothing changed, so nothing is recorded.
            self.status = Status::Stalled;
            return None;
        }
        let before = self.eval;
        self.eval = self.net.evaluate(&mut self.ws, &mut self.loss);
        self.grad_norm = sqrt(kernels::sum_sq(Mdl::gradient(&self.ws).as_slice()));
        norms.next_grad = self.grad_norm;
        self.drift += eta * eta * local.grad_sq;
        let rounding = LossRounding {
            gap: self.loss.gap_error(before.gap),
            next_gap: self.loss.gap_error(self.eval.gap),
            grad: self.loss.gradient_error(norms.grad, before.gap),
        };
        let allowance = self.net.allowance(
            &self.ws,
            &cert,
            constants.mu,
            constants.k,
            eta,
            before.gap,
            &norms,
            &rounding,
        );
        let check = if self.config.certify {
            let c = cert.check(before.gap, self.eval.gap, allowance);
            self.tally.record(&cert, &c);
            c
        } else {
            StepCheck {
                ratio: if before.gap > T::zero() {
                    self.eval.gap / before.gap
                } else {
                    T::zero()
                },
                allowance,
                ..StepCheck::default()
            }
        };
        let t = self.t;
        self.check_anytime(t, eta, &cert, allowance, self.eval.gap);
        self.t += 1;
        let imbalance = if self.config.imbalance_every > 0
            && self.t.is_multiple_of(self.config.imbalance_every)
        {
            self.check_imbalance()
        } else {
            None
        };
        self.update_status(t, before, allowance);
        if crate::cancel::requested() && !self.status.is_final() {
            self.status = Status::Stopped;
        }
        Some(StepRecord {
            t,
            loss: before.value,
            gap: before.gap,
            eta,
            cert,
            check,
            certified: self.config.certify,
            next_loss: self.eval.value,
            next_gap: self.eval.gap,
            drift: self.drift,
            imbalance,
            anytime,
        })
    }

    /// Lemma 3 (THEORY §7; for every pair `D_j`, §13): the imbalance moved
    /// no further than the drift accumulated since the last spectrum allows
    /// (the model says how). `None` (nothing checked) when an interrupt cut
    /// the spectrum short.
    pub(super) fn check_imbalance(&mut self) -> Option<ImbalanceSummary<T>> {
        let before = self.last_imbalance;
        let budget = self.drift - self.drift_at_last_imbalance;
        let (now, ok) = self.net.imbalance(&mut self.ws, Some((before, budget)));
        if crate::cancel::requested() {
            return None;
        }
        // Once η²g² has overflowed, the budget is ∞ − ∞ and Lemma 3 bounds
        // nothing: such a spectrum is not counted as a check (nor as a
        // violation), so `imbalance_checks` says how many proved something.
        if budget.finite() {
            self.tally.imbalance_checks += 1;
            if !ok {
                self.tally.imbalance_violations += 1;
            }
        }
        self.last_imbalance = now;
        self.drift_at_last_imbalance = self.drift;
        Some(now)
    }

    /// Ends the run when it diverged (non-finite, or the gap rose by more
    /// than the step's rounding `allowance`, THEORY §11), converged, hit
    /// the iteration cap or stalled.
    pub(super) fn update_status(&mut self, t: usize, before: Evaluation<T>, allowance: T) {
        if !(self.eval.value.finite() && self.eval.gap.finite())
            || self.eval.gap > before.gap + allowance
        {
            self.status = Status::Diverged { at: t };
        } else if self.converged() {
            self.status = Status::Converged;
        } else if self.t >= self.config.max_iters {
            self.status = Status::MaxIters;
        } else {
            // Gaps are computed without cancellation (`loss::Evaluation`), so
            // their rounding is relative: a step that does not lower the best
            // gap by more than a few relative units of ε made no progress.
            // (An absolute allowance would stop f32 runs far above their floor.)
            if self.eval.gap < self.best_gap * (T::one() - T::of(4.0) * T::EPSILON) {
                self.stall = 0;
            } else {
                self.stall += 1;
            }
            if self.eval.gap < self.best_gap {
                self.best_gap = self.eval.gap;
            }
            if self.config.stall_window > 0 && self.stall >= self.config.stall_window {
                self.status = Status::Stalled;
            }
        }
    }
}
