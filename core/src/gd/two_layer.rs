//! [`TwoLayer`] as a [`Model`] of the trainer (THEORY §1–§7): the
//! two-layer step with its carried Grams and imbalance spectrum.

use nalgebra::{DefaultAllocator, DimAdd, OMatrix, OVector, U1};

use crate::apriori::AprioriInputs;
use crate::certificate::{
    local_smoothness, rounding_allowance, LocalConstants, LossRounding, StepCertificate, StepNorms,
    StepShape,
};
use crate::dims::NetAllocator;
use crate::error::ProblemError;
use crate::imbalance::{imbalance_spectrum, ImbalanceSummary, ImbalanceWorkspace};
use crate::kernels;
use crate::linalg::{gram_cols, gram_rows};
use crate::loss::{Evaluation, Loss, LossConstants};
use crate::model::Model;
use crate::net::TwoLayer;
use crate::rules::{RuleUnavailable, StartInfo, StepRule};
use crate::scalar::{pos, sqrt, Real};

use super::gram::{Bounds, GramState, SpectrumMemory};

/// The buffers of one two-layer step, created once with the trainer.
#[derive(Clone, Debug)]
pub struct TwoLayerWork<T: Real, N: DimAdd<M>, H: nalgebra::Dim, M: nalgebra::Dim>
where
    DefaultAllocator: NetAllocator<N, H, M>,
{
    p: OMatrix<T, N, M>,
    g: OMatrix<T, N, M>,
    a: OMatrix<T, N, H>,
    b: OMatrix<T, H, M>,
    gram_n: OMatrix<T, N, N>,
    gram_m: OMatrix<T, M, M>,
    eig_n: OVector<T, N>,
    eig_m: OVector<T, M>,
    trial: TwoLayer<T, N, H, M>,
    imbalance: ImbalanceWorkspace<T, N, H, M>,
    grams: GramState<T, N, M>,
    spectra: SpectrumMemory<T, N, M>,
    /// Proven bounds on the extremes of `Γ₁`, `Γ₂` and the gradient's Gram
    /// at large sizes ([`kernels::sym_bounds`]).
    bounds: Bounds<T>,
}

impl<T: Real, N: DimAdd<M>, H: nalgebra::Dim, M: nalgebra::Dim> TwoLayer<T, N, H, M>
where
    DefaultAllocator: NetAllocator<N, H, M>,
{
    /// Local constants `α_t, β_t, ‖G‖₂, g²` at the current iterate (THEORY §2).
    /// Uses `A`, `B`, `G` and `P` from the workspace, which must be current.
    ///
    /// `α_t, β_t` come from the extreme eigenvalues of the carried Grams
    /// ([`GramState`]); `‖G‖₂² = λ_max` of the smaller of `GᵀG`, `GGᵀ`.
    fn local_constants(
        &self,
        ws: &mut TwoLayerWork<T, N, H, M>,
    ) -> (LocalConstants<T>, StepNorms<T>) {
        let (n, h, m) = self.shape();
        ws.grams.current(self);
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
}

impl<T: Real, N: DimAdd<M>, H: nalgebra::Dim, M: nalgebra::Dim> Model<T, N, M>
    for TwoLayer<T, N, H, M>
where
    DefaultAllocator: NetAllocator<N, H, M>,
{
    type Hidden = H;
    type Work = TwoLayerWork<T, N, H, M>;

    fn validate(&self) -> Result<(), ProblemError> {
        TwoLayer::validate(&self.w1, &self.w2)
    }

    fn shape(&self) -> (usize, usize, usize) {
        TwoLayer::shape(self)
    }

    fn depth(&self) -> usize {
        2
    }

    #[inline(always)]
    fn new_work(&self) -> Result<Self::Work, ProblemError> {
        let (nd, hd) = self.w1.shape_generic();
        let (_, md) = self.w2.shape_generic();
        Ok(TwoLayerWork {
            p: OMatrix::zeros_generic(nd, md),
            g: OMatrix::zeros_generic(nd, md),
            a: OMatrix::zeros_generic(nd, hd),
            b: OMatrix::zeros_generic(hd, md),
            gram_n: OMatrix::zeros_generic(nd, nd),
            gram_m: OMatrix::zeros_generic(md, md),
            eig_n: OVector::zeros_generic(nd, U1),
            eig_m: OVector::zeros_generic(md, U1),
            trial: TwoLayer::zeros_generic(nd, hd, md),
            imbalance: ImbalanceWorkspace::new(nd, hd, md),
            grams: GramState::new(nd, md, hd.value()),
            spectra: SpectrumMemory::new(nd, md),
            bounds: Bounds::new([nd.value(), md.value(), nd.value().min(md.value())]),
        })
    }

    fn evaluate<L: Loss<T, N, M>>(&self, ws: &mut Self::Work, loss: &mut L) -> Evaluation<T> {
        self.product_into(&mut ws.p);
        loss.evaluate_with_gradient(&ws.p, &mut ws.g)
    }

    fn product(ws: &Self::Work) -> &OMatrix<T, N, M> {
        &ws.p
    }

    fn gradient(ws: &Self::Work) -> &OMatrix<T, N, M> {
        &ws.g
    }

    fn prepare(&self, ws: &mut Self::Work, local: bool) -> (LocalConstants<T>, StepNorms<T>) {
        let (n, h, m) = self.shape();
        // A = G W₂ᵀ, B = W₁ᵀ G (THEORY §1).
        kernels::mm_nt(
            ws.a.as_mut_slice(),
            ws.g.as_slice(),
            self.w2.as_slice(),
            n,
            m,
        );
        kernels::mm_tn(
            ws.b.as_mut_slice(),
            self.w1.as_slice(),
            ws.g.as_slice(),
            h,
            n,
        );
        if local {
            return self.local_constants(ws);
        }
        let (a_sq, b_sq) = (
            kernels::sum_sq(ws.a.as_slice()),
            kernels::sum_sq(ws.b.as_slice()),
        );
        // No Grams without the local constants: the norms the allowance of
        // the divergence test needs come from the weights (β_t bounded by
        // ‖W₁‖² + ‖W₂‖²).
        let w1 = kernels::sum_sq(self.w1.as_slice());
        let w2 = kernels::sum_sq(self.w2.as_slice());
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
    }

    fn smoothness(&self, _ws: &Self::Work, local: &LocalConstants<T>, k: T, eta: T) -> T {
        local_smoothness(k, local.beta, local.grad_spec, eta)
    }

    fn own_step(
        &self,
        _ws: &Self::Work,
        _rule: &StepRule<T>,
        _k: T,
    ) -> Option<Result<T, RuleUnavailable>> {
        None
    }

    fn own_fixed_step(
        &self,
        _rule: &StepRule<T>,
        _start: &StartInfo<T>,
    ) -> Option<Result<T, RuleUnavailable>> {
        None
    }

    fn trial_loss<L: Loss<T, N, M>>(&self, ws: &mut Self::Work, loss: &mut L, eta: T) -> T {
        ws.trial.copy_from(self);
        kernels::axpy(ws.trial.w1.as_mut_slice(), -eta, ws.a.as_slice());
        kernels::axpy(ws.trial.w2.as_mut_slice(), -eta, ws.b.as_slice());
        ws.trial.product_into(&mut ws.p);
        loss.evaluate(&ws.p).value
    }

    fn apply(&mut self, ws: &mut Self::Work, eta: T) -> bool {
        let moved1 = kernels::axpy_moved(self.w1.as_mut_slice(), -eta, ws.a.as_slice());
        let moved2 = kernels::axpy_moved(self.w2.as_mut_slice(), -eta, ws.b.as_slice());
        let moved = moved1 || moved2;
        if moved {
            // The carried Grams follow the step (or go stale when no local
            // constants were computed for it).
            ws.grams.advance(eta);
        }
        moved
    }

    fn product_spec(&self, ws: &mut Self::Work) -> T {
        let m = ws.p.ncols();
        gram_cols(&ws.p, &mut ws.gram_m);
        let (_, lmax) =
            kernels::sym_extremes(ws.gram_m.as_mut_slice(), m, ws.eig_m.as_mut_slice(), false);
        sqrt(pos(lmax))
    }

    fn allowance(
        &self,
        _ws: &Self::Work,
        cert: &StepCertificate<T>,
        mu: T,
        k: T,
        eta: T,
        gap: T,
        norms: &StepNorms<T>,
        rounding: &LossRounding<T>,
    ) -> T {
        let (n, h, m) = self.shape();
        rounding_allowance(
            cert,
            mu,
            k,
            eta,
            gap,
            StepShape { n, h, m },
            norms,
            rounding,
        )
    }

    /// Lemma 3 (THEORY §7): since the last spectrum, `α_imb` fell and the
    /// extreme eigenvalues rose by at most the accumulated `Σ η² g²`.
    fn imbalance(
        &self,
        ws: &mut Self::Work,
        check: Option<(ImbalanceSummary<T>, T)>,
    ) -> (ImbalanceSummary<T>, bool) {
        let Some((before, budget)) = check else {
            return (imbalance_spectrum(self, &mut ws.imbalance), true);
        };
        // Exact Grams again after every checked imbalance spectrum.
        ws.grams.invalidate();
        let now = imbalance_spectrum(self, &mut ws.imbalance);
        let scale = before.lambda_max + before.neg_lambda_max + budget;
        let tol = T::of(64.0) * T::of_usize(self.shape().1) * T::EPSILON * (scale + T::one());
        let ok = now.alpha_imb + budget + tol >= before.alpha_imb
            && now.lambda_max <= before.lambda_max + budget + tol
            && now.neg_lambda_max <= before.neg_lambda_max + budget + tol;
        (now, ok)
    }

    fn apriori_inputs(
        &self,
        imbalance: ImbalanceSummary<T>,
        gap: T,
        c: &LossConstants<T>,
    ) -> Option<AprioriInputs<T>> {
        let (n, _, m) = self.shape();
        Some(AprioriInputs {
            mu: c.mu,
            k: c.k,
            w_star_spec: c.w_star.spectral,
            gap0: gap,
            imbalance,
            w_star_sigma_min: c.w_star.sigma_min,
            n,
            m,
        })
    }
}
