//! [`DeepLinear`] as a [`Model`] of the generic trainer (THEORY §13).

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim, OMatrix};

use super::work::{deep_rounding_allowance, DeepWork};
use super::{DeepLinear, Stack};
use crate::apriori::AprioriInputs;
use crate::certificate::{LocalConstants, LossRounding, StepCertificate, StepNorms};
use crate::error::ProblemError;
use crate::imbalance::ImbalanceSummary;
use crate::kernels;
use crate::loss::{Evaluation, Loss, LossConstants};
use crate::model::Model;
use crate::rules::{RuleUnavailable, StartInfo, StepRule};
use crate::scalar::Real;

/// The step of Arora, Cohen, Golowich and Hu (ICLR 2019, Theorem 1) for a
/// depth-`L` linear network: `η = c^{(4L−2)/L} / (6144 L³ ‖W*‖^{(6L−4)/L})`
/// with the deficiency margin `c = σ_min(W*) − ‖W(0) − W*‖` (Frobenius
/// `‖W*‖`); for `L = 2` it is THEORY §6.4's `c³/(49152‖W*‖⁴)`. Written as
/// `(c/‖W*‖)^{(4L−2)/L} ‖W*‖^{−2(L−1)/L} / (6144L³)` so that neither
/// power overflows.
pub fn arora_step<T: Real>(depth: usize, start: &StartInfo<T>) -> Result<T, RuleUnavailable> {
    let ws = start.constants.w_star;
    let margin = ws.sigma_min - start.distance_to_target;
    if !(margin.finite() && ws.frobenius.finite()) {
        return Err(RuleUnavailable::InvalidStep);
    }
    if !(margin > T::zero()) {
        return Err(RuleUnavailable::AroraMarginNotPositive);
    }
    let l = depth as f64;
    let r = (margin / ws.frobenius).to_f64();
    let eta = libm::pow(r, (4.0 * l - 2.0) / l)
        * libm::pow(ws.frobenius.to_f64(), -2.0 * (l - 1.0) / l)
        / (6144.0 * l * l * l);
    let eta = T::of(eta);
    if eta > T::zero() && eta.finite() {
        Ok(eta)
    } else {
        Err(RuleUnavailable::InvalidStep)
    }
}

impl<T: Real, N: Dim, H: Dim, M: Dim, S: Stack> Model<T, N, M> for DeepLinear<T, N, H, M, S>
where
    DefaultAllocator: Allocator<N, H>
        + Allocator<H, H>
        + Allocator<H, M>
        + Allocator<N, M>
        + Allocator<N, N>
        + Allocator<M, M>
        + Allocator<N>
        + Allocator<M>
        + Allocator<H>,
{
    type Hidden = H;
    type Work = DeepWork<T, N, H, M, S>;

    fn validate(&self) -> Result<(), ProblemError> {
        DeepLinear::validate(self)
    }

    fn shape(&self) -> (usize, usize, usize) {
        DeepLinear::shape(self)
    }

    fn depth(&self) -> usize {
        DeepLinear::depth(self)
    }

    fn new_work(&self) -> Result<Self::Work, ProblemError> {
        DeepWork::new(self).ok_or(ProblemError::InvalidParameter {
            what: "the network's depth does not fit its layer stack",
        })
    }

    fn evaluate<L: Loss<T, N, M>>(&self, work: &mut Self::Work, loss: &mut L) -> Evaluation<T> {
        work.forward(self);
        work.evaluate(loss)
    }

    fn product(work: &Self::Work) -> &OMatrix<T, N, M> {
        &work.product
    }

    fn gradient(work: &Self::Work) -> &OMatrix<T, N, M> {
        &work.grad
    }

    fn prepare(&self, work: &mut Self::Work, local: bool) -> (LocalConstants<T>, StepNorms<T>) {
        work.gradients(self);
        let depth = DeepLinear::depth(self);
        if local {
            let c = work.constants(self).local;
            let norms = StepNorms {
                beta: c.beta,
                ..StepNorms::default()
            };
            (c, norms)
        } else {
            let grad_sq = (0..depth)
                .filter_map(|j| work.stats(j))
                .fold(T::zero(), |acc, s| acc + s.grad * s.grad);
            // No Grams without the local constants: β_t ≤ Π-free bound
            // Σ_j Π_{i≠j} ‖W_i‖² (Frobenius) for the divergence test.
            let fro: T = (0..depth)
                .filter_map(|j| self.layer(j))
                .fold(T::zero(), |acc, (w, _, _)| acc + kernels::sum_sq(w));
            (
                LocalConstants {
                    grad_sq,
                    ..LocalConstants::default()
                },
                StepNorms {
                    beta: fro,
                    ..StepNorms::default()
                },
            )
        }
    }

    fn smoothness(&self, work: &Self::Work, _local: &LocalConstants<T>, k: T, eta: T) -> T {
        work.k_t(k, eta)
    }

    fn own_step(
        &self,
        work: &Self::Work,
        rule: &StepRule<T>,
        k: T,
    ) -> Option<Result<T, RuleUnavailable>> {
        match rule {
            StepRule::Local => Some(work.local_step(k).ok_or(RuleUnavailable::InvalidStep)),
            StepRule::RateOptimal => Some(
                work.rate_optimal_step(k)
                    .ok_or(RuleUnavailable::InvalidStep),
            ),
            StepRule::Xu2023 { .. } | StepRule::Du2018 => {
                Some(Err(RuleUnavailable::InvalidParameter {
                    what: "xu2023 and du2018 are derived for two layers; for a deep network use \
                           local, rate-optimal, armijo, arora2019 or constant",
                }))
            }
            _ => None,
        }
    }

    fn own_fixed_step(
        &self,
        rule: &StepRule<T>,
        start: &StartInfo<T>,
    ) -> Option<Result<T, RuleUnavailable>> {
        match rule {
            StepRule::Arora2019 => Some(arora_step(DeepLinear::depth(self), start)),
            _ => None,
        }
    }

    fn trial_loss<L: Loss<T, N, M>>(&self, work: &mut Self::Work, loss: &mut L, eta: T) -> T {
        work.trial_product(self, eta);
        loss.evaluate(&work.product).value
    }

    fn apply(&mut self, work: &mut Self::Work, eta: T) -> bool {
        work.record_drift(eta);
        work.apply(self, eta)
    }

    fn product_spec(&self, work: &mut Self::Work) -> T {
        work.product_spec()
    }

    fn allowance(
        &self,
        work: &Self::Work,
        cert: &StepCertificate<T>,
        mu: T,
        k: T,
        eta: T,
        gap: T,
        norms: &StepNorms<T>,
        rounding: &LossRounding<T>,
    ) -> T {
        let (n, h, m) = DeepLinear::shape(self);
        let depth = DeepLinear::depth(self);
        let mut layers = (0..depth).filter_map(|j| work.stats(j).copied());
        deep_rounding_allowance(
            cert,
            mu,
            k,
            eta,
            gap,
            (n, h, m, depth),
            &mut layers,
            (norms.grad, norms.next_grad),
            rounding,
        )
    }

    fn imbalance(
        &self,
        work: &mut Self::Work,
        check: Option<(ImbalanceSummary<T>, T)>,
    ) -> (ImbalanceSummary<T>, bool) {
        let d = work.imbalance(self, check.is_some());
        (
            ImbalanceSummary {
                lambda_max: d.lambda_max,
                neg_lambda_max: d.neg_lambda_max,
                // No analogue of α_imb bounds α_t for L ≥ 3 (THEORY §13).
                alpha_imb: T::zero(),
            },
            d.violations == 0,
        )
    }

    fn has_apriori(&self) -> bool {
        false
    }

    fn apriori_inputs(
        &self,
        _imbalance: ImbalanceSummary<T>,
        _gap: T,
        _constants: &LossConstants<T>,
    ) -> Option<AprioriInputs<T>> {
        None
    }
}
