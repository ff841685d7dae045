//! Gradient descent on `L(W₁, W₂) = ℓ(W₁W₂)` with a certificate at every
//! step (THEORY §1, §5), driven like an executor: [`Trainer::step`] does one
//! iteration and returns its record; [`Trainer::run`] loops until a stop
//! condition and hands every record to an [`Observer`].

use nalgebra::{DefaultAllocator, DimAdd};

use crate::apriori::{AprioriCertificate, NoCertificate};
use crate::certificate::CertificateTally;
use crate::dims::NetAllocator;
use crate::imbalance::ImbalanceSummary;
use crate::loss::{Evaluation, Loss};
use crate::model::Model;
use crate::net::TwoLayer;
use crate::rules::PreparedRule;
use crate::scalar::Real;

mod anytime;
mod config;
mod gram;
mod records;
mod step;
mod trainer;
mod two_layer;

pub use config::{Status, Tolerance, TrainerConfig};
pub use gram::GRAM_REFRESH;
pub use records::{AnytimeRecord, AnytimeSummary, History, Observer, StepRecord, Summary};
pub use two_layer::TwoLayerWork;

/// Certified gradient descent on one problem from one start, for any
/// [`Model`]: the two-layer network (the default, THEORY §1–§8) or a deep
/// one ([`crate::deep::DeepLinear`], THEORY §13). The loop, the rules, the
/// check, the tally, the observer and the statuses are the same for both.
#[derive(Clone, Debug)]
pub struct Trainer<
    T: Real,
    N: DimAdd<M>,
    H: nalgebra::Dim,
    M: nalgebra::Dim,
    L: Loss<T, N, M>,
    Mdl: Model<T, N, M, Hidden = H> = TwoLayer<T, N, H, M>,
> where
    DefaultAllocator: NetAllocator<N, H, M>,
{
    net: Mdl,
    loss: L,
    rule: PreparedRule<T>,
    config: TrainerConfig<T>,
    ws: Mdl::Work,
    t: usize,
    eval: Evaluation<T>,
    initial_gap: T,
    best_gap: T,
    stall: usize,
    drift: T,
    drift_at_last_imbalance: T,
    last_imbalance: ImbalanceSummary<T>,
    tally: CertificateTally<T>,
    /// `‖G‖_F` of the gradient at the current iterate (for the allowance).
    grad_norm: T,
    status: Status,
    summary_apriori: Result<AprioriCertificate<T>, NoCertificate<T>>,
    initial_imbalance: ImbalanceSummary<T>,
    anytime: AnytimeSummary<T>,
    /// The certificate the chained bound follows (the tightest so far).
    anytime_cert: Option<AprioriCertificate<T>>,
    /// The chained bound `B_t` of [`AnytimeSummary`] at the current iterate.
    anytime_bound: T,
    _hidden: core::marker::PhantomData<H>,
}
