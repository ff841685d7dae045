//! The seam between the trainer and a network: what one certified step
//! needs from a model, whatever its depth (THEORY §1–§5 for two layers,
//! §13 for `L` layers).
//!
//! The trainer ([`crate::gd::Trainer`]) owns the loop, the step rules, the
//! check, the tally, the observer and the statuses; a [`Model`] owns its
//! layers and the buffers of one step ([`Model::Work`], created once), and
//! answers in model-agnostic terms: the local constants `α_t, β_t, ‖G‖₂,
//! g²`, the local smoothness `K_t(η)`, the rounding allowance of a step, and
//! the imbalance it carries.

use nalgebra::{Dim, OMatrix};

use crate::apriori::AprioriInputs;
use crate::certificate::{LocalConstants, LossRounding, StepCertificate, StepNorms};
use crate::error::ProblemError;
use crate::imbalance::ImbalanceSummary;
use crate::loss::{Evaluation, Loss};
use crate::rules::{RuleUnavailable, StartInfo, StepRule};
use crate::scalar::Real;

/// A network `W = W₁⋯W_L` that the generic trainer can drive (THEORY §1,
/// §13). Implementations: [`crate::TwoLayer`] and
/// [`crate::deep::DeepLinear`].
pub trait Model<T: Real, N: Dim, M: Dim>: Clone + core::fmt::Debug
where
    nalgebra::DefaultAllocator: nalgebra::allocator::Allocator<N, M>,
{
    /// The hidden width's dimension type.
    type Hidden: Dim;

    /// The buffers of one step; [`Model::new_work`] is the only place a
    /// model allocates (with run-time sizes).
    type Work: Clone + core::fmt::Debug;

    /// Checks sizes (non-zero, agreeing) and finiteness of the layers.
    fn validate(&self) -> Result<(), ProblemError>;

    /// `(n, h, m)`: rows of the product, hidden width, columns.
    fn shape(&self) -> (usize, usize, usize);

    /// The number of layers `L ≥ 2`.
    fn depth(&self) -> usize;

    /// Creates the step buffers for this model's sizes.
    fn new_work(&self) -> Result<Self::Work, ProblemError>;

    /// Forms the product `W` in `work` and evaluates `ℓ` and `G = ∇ℓ(W)`
    /// there.
    fn evaluate<L: Loss<T, N, M>>(&self, work: &mut Self::Work, loss: &mut L) -> Evaluation<T>;

    /// The product `W` of the last [`Model::evaluate`].
    fn product(work: &Self::Work) -> &OMatrix<T, N, M>;

    /// `G = ∇ℓ(W)` at the last [`Model::evaluate`].
    fn gradient(work: &Self::Work) -> &OMatrix<T, N, M>;

    /// The layers' gradients at the current iterate and, when `local`, the
    /// local constants `α_t, β_t, ‖G‖₂, g²` (THEORY §2, §13); otherwise
    /// only `g²`. Also the norms the rounding allowance is built from.
    fn prepare(&self, work: &mut Self::Work, local: bool) -> (LocalConstants<T>, StepNorms<T>);

    /// `K_t(η)` for a `k`-smooth loss at the iterate of the last
    /// [`Model::prepare`], whose constants are `local` (Lemma 2, THEORY §4;
    /// Lemma D2, §13).
    fn smoothness(&self, work: &Self::Work, local: &LocalConstants<T>, k: T, eta: T) -> T;

    /// The step of a rule whose definition depends on the model (THEORY
    /// §13: Local and RateOptimal from this model's `K_t(η)`); `None` to
    /// use the rule's own definition from the local constants.
    fn own_step(
        &self,
        work: &Self::Work,
        rule: &StepRule<T>,
        k: T,
    ) -> Option<Result<T, RuleUnavailable>>;

    /// The fixed step of a rule that is defined by the start and depends on
    /// the depth (Arora et al. 2019); `None` to use the rule's own.
    fn own_fixed_step(
        &self,
        rule: &StepRule<T>,
        start: &StartInfo<T>,
    ) -> Option<Result<T, RuleUnavailable>>;

    /// `ℓ` after a step `eta` from the current iterate, which is left
    /// unchanged (for line searches).
    fn trial_loss<L: Loss<T, N, M>>(&self, work: &mut Self::Work, loss: &mut L, eta: T) -> T;

    /// `W_j ← W_j − ηΔ_j` for every layer; `false` when no weight changed.
    fn apply(&mut self, work: &mut Self::Work, eta: T) -> bool;

    /// `‖W‖₂` of the product at the last [`Model::evaluate`].
    fn product_spec(&self, work: &mut Self::Work) -> T;

    /// The rounding allowance of the step just taken (THEORY §11,
    /// docs/ROUNDING.md).
    #[allow(clippy::too_many_arguments)]
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
    ) -> T;

    /// The imbalance of the current iterate (THEORY §2, §13). `check`: also
    /// check it against the drift since the last call, `budget` being
    /// `Σ η² g²` over those steps (Lemma 3); returns the summary and
    /// whether the check held (`true` when not checked).
    fn imbalance(
        &self,
        work: &mut Self::Work,
        check: Option<(ImbalanceSummary<T>, T)>,
    ) -> (ImbalanceSummary<T>, bool);

    /// `false` when the model has no a-priori certificate at all (THEORY
    /// §13: open for `L ≥ 3`), so that nobody computes its inputs.
    fn has_apriori(&self) -> bool {
        true
    }

    /// The inputs of the a-priori certificate (THEORY §8) at the current
    /// iterate with the given gap, or `None` when the model has none (it is
    /// open for `L ≥ 3`, THEORY §13).
    fn apriori_inputs(
        &self,
        imbalance: ImbalanceSummary<T>,
        gap: T,
        constants: &crate::loss::LossConstants<T>,
    ) -> Option<AprioriInputs<T>>;
}
