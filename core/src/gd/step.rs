//! One certified iteration (THEORY §1, §2, §5).

use nalgebra::{DefaultAllocator, DimAdd};

use crate::certificate::{
    rounding_allowance, LocalConstants, LossRounding, StepCertificate, StepCheck, StepNorms,
    StepShape,
};
use crate::dims::NetAllocator;
use crate::imbalance::{imbalance_spectrum, ImbalanceSummary};
use crate::kernels;
use crate::linalg::{gram_cols, gram_rows};
use crate::loss::{Evaluation, Loss};
use crate::rules::RuleContext;
use crate::scalar::{pos, sqrt, Real};

use super::{SpectrumMemory, Status, StepRecord, Trainer};

impl<T, N, H, M, L> Trainer<T, N, H, M, L>
where
    T: Real,
    N: DimAdd<M>,
    H: nalgebra::Dim,
    M: nalgebra::Dim,
    L: Loss<T, N, M>,
    DefaultAllocator: NetAllocator<N, H, M>,
{
    /// Local constants `α_t, β_t, ‖G‖₂, g²` at the current iterate (THEORY §2).
    /// Uses `A`, `B`, `G` and `P` from the workspace, which must be current.
    ///
    /// `α_t, β_t` come from the extreme eigenvalues of the carried Grams
    /// ([`GramState`]); `‖G‖₂² = λ_max` of the smaller of `GᵀG`, `GGᵀ`.
    pub(super) fn local_constants(&mut self) -> (LocalConstants<T>, StepNorms<T>) {
        let ws = &mut self.ws;
        let (n, h, m) = self.net.shape();
        ws.grams.current(&self.net);
        ws.gram_n.copy_from(&ws.grams.g1);
        ws.gram_m.copy_from(&ws.grams.g2);
        let mem = &mut ws.spectra;
        let [x1, x2, xg] = mem.extremes;
        let ((min1, max1), (min2, max2), grad_sq_max) = if n == m && !ws.bounds.applies(0, n) {
            // All three eigenproblems are n×n: solve them together.
            gram_cols(&ws.g, &mut ws.grams.gg);
            let hints = [
                SpectrumMemory::<T, N, M>::hints(
                    x1,
                    mem.gram_n.as_mut_slice(),
                    ws.gram_n.as_slice(),
                ),
                SpectrumMemory::<T, N, M>::hints(
                    x2,
                    mem.gram_m.as_mut_slice(),
                    ws.gram_m.as_slice(),
                ),
                SpectrumMemory::<T, N, M>::hints(
                    xg,
                    mem.grad_m.as_mut_slice(),
                    ws.grams.gg.as_slice(),
                ),
            ];
            let [e1, e2, eg] = kernels::sym_extremes3(
                [
                    ws.gram_n.as_mut_slice(),
                    ws.gram_m.as_mut_slice(),
                    ws.grams.gg.as_mut_slice(),
                ],
                [
                    ws.eig_n.as_mut_slice(),
                    ws.eig_m.as_mut_slice(),
                    ws.grams.gg_work.as_mut_slice(),
                ],
                n,
                [h >= n, h >= m, false],
                hints,
            );
            (e1, e2, eg)
        } else {
            let e1 = SpectrumMemory::<T, N, M>::extremes(
                x1,
                mem.gram_n.as_mut_slice(),
                ws.gram_n.as_mut_slice(),
                ws.eig_n.as_mut_slice(),
                h >= n,
                (&mut ws.bounds, 0),
            );
            let e2 = SpectrumMemory::<T, N, M>::extremes(
                x2,
                mem.gram_m.as_mut_slice(),
                ws.gram_m.as_mut_slice(),
                ws.eig_m.as_mut_slice(),
                h >= m,
                (&mut ws.bounds, 1),
            );
            let eg = if m <= n {
                gram_cols(&ws.g, &mut ws.gram_m);
                SpectrumMemory::<T, N, M>::extremes(
                    xg,
                    mem.grad_m.as_mut_slice(),
                    ws.gram_m.as_mut_slice(),
                    ws.eig_m.as_mut_slice(),
                    false,
                    (&mut ws.bounds, 2),
                )
            } else {
                gram_rows(&ws.g, &mut ws.gram_n);
                SpectrumMemory::<T, N, M>::extremes(
                    xg,
                    mem.grad_n.as_mut_slice(),
                    ws.gram_n.as_mut_slice(),
                    ws.eig_n.as_mut_slice(),
                    false,
                    (&mut ws.bounds, 2),
                )
            };
            (e1, e2, eg)
        };
        ws.spectra.extremes = [Some((min1, max1)), Some((min2, max2)), Some(grad_sq_max)];
        let grad_sq_max = grad_sq_max.1;
        // σ_n(W₁)² is 0 when h < n (rank), likewise σ_m(W₂)² (THEORY §1).
        let a1 = if h >= n { pos(min1) } else { T::zero() };
        let a2 = if h >= m { pos(min2) } else { T::zero() };
        let beta = pos(max1) + pos(max2);
        let grad_spec = sqrt(pos(grad_sq_max));
        let (a_sq, b_sq) = (
            kernels::sum_sq(ws.a.as_slice()),
            kernels::sum_sq(ws.b.as_slice()),
        );
        // ‖W₁‖², ‖W₂‖² are the traces of the Grams: O(n + m), no pass over W.
        let norms = StepNorms {
            w1: sqrt(pos(ws.grams.g1.trace())),
            w2: sqrt(pos(ws.grams.g2.trace())),
            a: sqrt(a_sq),
            b: sqrt(b_sq),
            beta,
            ..StepNorms::default()
        };
        ws.grams.prepare(&ws.g, &ws.p);
        (
            LocalConstants {
                alpha: a1 + a2,
                beta,
                grad_spec,
                grad_sq: a_sq + b_sq,
            },
            norms,
        )
    }

    pub(super) fn product_spec(&mut self) -> T {
        let ws = &mut self.ws;
        let m = ws.p.ncols();
        gram_cols(&ws.p, &mut ws.gram_m);
        let (_, lmax) =
            kernels::sym_extremes(ws.gram_m.as_mut_slice(), m, ws.eig_m.as_mut_slice(), false);
        sqrt(pos(lmax))
    }

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
        let (n, h, m) = self.net.shape();
        // A = G W₂ᵀ, B = W₁ᵀ G (THEORY §1).
        kernels::mm_nt(
            self.ws.a.as_mut_slice(),
            self.ws.g.as_slice(),
            self.net.w2.as_slice(),
            n,
            m,
        );
        kernels::mm_tn(
            self.ws.b.as_mut_slice(),
            self.net.w1.as_slice(),
            self.ws.g.as_slice(),
            h,
            n,
        );
        let constants = *self.loss.constants();
        let needs_local = self.config.certify || self.rule.fixed_step().is_none();
        let (local, mut norms) = if needs_local {
            self.local_constants()
        } else {
            let (a_sq, b_sq) = (
                kernels::sum_sq(self.ws.a.as_slice()),
                kernels::sum_sq(self.ws.b.as_slice()),
            );
            // No Grams without the local constants: the norms the
            // allowance of the divergence test needs come from the weights
            // (β_t bounded by ‖W₁‖² + ‖W₂‖²).
            let w1 = kernels::sum_sq(self.net.w1.as_slice());
            let w2 = kernels::sum_sq(self.net.w2.as_slice());
            (
                LocalConstants {
                    grad_sq: a_sq + b_sq,
                    ..LocalConstants::default()
                },
                StepNorms {
                    w1: sqrt(w1),
                    w2: sqrt(w2),
                    a: sqrt(a_sq),
                    b: sqrt(b_sq),
                    beta: w1 + w2,
                    ..StepNorms::default()
                },
            )
        };
        norms.grad = self.grad_norm;
        let product_spec = if self.rule.rule().needs_product_norm() {
            self.product_spec()
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
            let mut trial_loss = |eta: T| -> T {
                ws.trial.copy_from(net);
                kernels::axpy(ws.trial.w1.as_mut_slice(), -eta, ws.a.as_slice());
                kernels::axpy(ws.trial.w2.as_mut_slice(), -eta, ws.b.as_slice());
                ws.trial.product_into(&mut ws.p);
                loss.evaluate(&ws.p).value
            };
            rule.step(&ctx, &mut trial_loss)
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
        let cert = StepCertificate::predict(local, constants.mu, constants.k, self.eval.gap, eta);
        let moved1 = kernels::axpy_moved(self.net.w1.as_mut_slice(), -eta, self.ws.a.as_slice());
        let moved2 = kernels::axpy_moved(self.net.w2.as_mut_slice(), -eta, self.ws.b.as_slice());
        if !(moved1 || moved2) {
            // Every weight rounded back to itself (a step far below the
            // resolution of the weights, e.g. ‖W₁‖ ≈ 1e30 against ‖W₂‖ ≈ 1):
            // the iterate cannot move, which is the precision floor, not a
            // failure of the certificate (which assumes the update is
            // carried out). Nothing changed, so nothing is recorded.
            self.status = Status::Stalled;
            return None;
        }
        // The carried Grams follow the step (or go stale when no local
        // constants were computed for it).
        self.ws.grams.advance(eta);
        self.net.product_into(&mut self.ws.p);
        let before = self.eval;
        self.eval = self.loss.evaluate_with_gradient(&self.ws.p, &mut self.ws.g);
        self.grad_norm = sqrt(kernels::sum_sq(self.ws.g.as_slice()));
        norms.next_grad = self.grad_norm;
        self.drift += eta * eta * local.grad_sq;
        let rounding = LossRounding {
            gap: self.loss.gap_error(before.gap),
            next_gap: self.loss.gap_error(self.eval.gap),
            grad: self.loss.gradient_error(norms.grad, before.gap),
        };
        let allowance = rounding_allowance(
            &cert,
            constants.mu,
            constants.k,
            eta,
            before.gap,
            StepShape { n, h, m },
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
            // Exact Grams again after every imbalance spectrum.
            self.ws.grams.invalidate();
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

    /// Lemma 3 (THEORY §7): since the last spectrum, `α_imb` fell and the
    /// extreme eigenvalues rose by at most the accumulated `Σ η² g²`.
    /// `None` (nothing checked) when an interrupt cut the spectrum short.
    pub(super) fn check_imbalance(&mut self) -> Option<ImbalanceSummary<T>> {
        let now = imbalance_spectrum(&self.net, &mut self.ws.imbalance);
        if crate::cancel::requested() {
            return None;
        }
        let before = self.last_imbalance;
        let budget = self.drift - self.drift_at_last_imbalance;
        let scale = before.lambda_max + before.neg_lambda_max + budget;
        let tol = T::of(64.0) * T::of_usize(self.net.shape().1) * T::EPSILON * (scale + T::one());
        let ok = now.alpha_imb + budget + tol >= before.alpha_imb
            && now.lambda_max <= before.lambda_max + budget + tol
            && now.neg_lambda_max <= before.neg_lambda_max + budget + tol;
        self.tally.imbalance_checks += 1;
        if !ok {
            self.tally.imbalance_violations += 1;
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
