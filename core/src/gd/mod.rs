//! Gradient descent on `L(W₁, W₂) = ℓ(W₁W₂)` with a certificate at every
//! step (THEORY §1, §5), driven like an executor: [`Trainer::step`] does one
//! iteration and returns its record; [`Trainer::run`] loops until a stop
//! condition and hands every record to an [`Observer`].

use nalgebra::{DefaultAllocator, DimAdd, OMatrix, OVector};

use crate::apriori::{AprioriCertificate, NoCertificate};
use crate::certificate::CertificateTally;
use crate::dims::NetAllocator;
use crate::imbalance::{ImbalanceSummary, ImbalanceWorkspace};
use crate::loss::{Evaluation, Loss};
use crate::net::TwoLayer;
use crate::rules::PreparedRule;
use crate::scalar::Real;

mod anytime;
mod config;
mod gram;
mod records;
mod step;
mod trainer;

pub use config::{Status, Tolerance, TrainerConfig};
pub use gram::GRAM_REFRESH;
use gram::{Bounds, GramState, SpectrumMemory};
pub use records::{AnytimeRecord, AnytimeSummary, History, Observer, StepRecord, Summary};

/// Buffers of one iteration, created once.
#[derive(Clone, Debug)]
struct Workspace<T: Real, N: DimAdd<M>, H: nalgebra::Dim, M: nalgebra::Dim>
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

/// Certified gradient descent on one problem from one start.
#[derive(Clone, Debug)]
pub struct Trainer<T: Real, N: DimAdd<M>, H: nalgebra::Dim, M: nalgebra::Dim, L: Loss<T, N, M>>
where
    DefaultAllocator: NetAllocator<N, H, M>,
{
    net: TwoLayer<T, N, H, M>,
    loss: L,
    rule: PreparedRule<T>,
    config: TrainerConfig<T>,
    ws: Workspace<T, N, H, M>,
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
}
