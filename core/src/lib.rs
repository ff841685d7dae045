//! # overlin-core
//!
//! Gradient descent on overparametrized two-layer linear models
//! `L(W₁, W₂) = ℓ(W₁W₂)`, with every step certified by the local
//! Polyak–Łojasiewicz inequality and local descent lemma of Xu, Min,
//! Tarmoun, Mallada and Vidal (2025). Formulas cite the sections of
//! `THEORY.md` (the project's mathematical reference).
//!
//! `#![no_std]`, no allocation: fixed sizes (`Const`) need no allocator at
//! all; run-time sizes (`Dyn`, feature `alloc`) allocate their buffers once,
//! when a [`gd::Trainer`] is built, never while it iterates.
//!
//! Data flow: a [`loss::Loss`] (data, `μ`, `K`, `W*`) and a start from
//! [`init`] go into a [`gd::Trainer`] with a [`rules::StepRule`]; each
//! [`gd::Trainer::step`] computes the local constants ([`certificate`]),
//! asks the rule for `η_t`, predicts `ρ_t`, steps, checks the prediction and
//! hands a [`gd::StepRecord`] to an [`gd::Observer`]. [`apriori`] gives the
//! whole-run guarantee of Theorem 2 from the start alone.
#![no_std]
#![warn(missing_docs)]

#[cfg(any(feature = "alloc", test))]
extern crate alloc;

pub mod apriori;
pub mod cancel;
pub mod certificate;
pub mod data;
pub mod deep;
pub mod dims;
pub mod embedded;
pub mod error;
pub mod gd;
pub mod imbalance;
pub mod init;
pub mod kernels;
pub mod linalg;
pub mod loss;
pub mod model;
pub mod net;
pub mod rules;
pub mod scalar;

pub use nalgebra;

pub use apriori::{
    apriori_certificate, AlphaSource, AprioriCertificate, AprioriInputs, NoCertificate,
};
pub use certificate::{
    CertificateTally, ClassCounts, LocalConstants, StepCertificate, StepCheck, StepClass, Verdict,
};
pub use dims::NetAllocator;
pub use error::ProblemError;
pub use gd::{
    AnytimeRecord, AnytimeSummary, History, Observer, Status, StepRecord, Summary, Tolerance,
    Trainer, TrainerConfig,
};
pub use imbalance::{imbalance_spectrum, ImbalanceSummary, ImbalanceWorkspace};
pub use init::{spectral_balanced, Init, Rng};
#[cfg(feature = "alloc")]
pub use loss::AnyLoss;
pub use loss::{
    Evaluation, LogCoshRidge, Loss, LossConstants, LossKind, MatrixSensing, RoundingModel,
    SoftmaxRidge, SquaredLoss,
};
pub use net::{DynNet, Net, TwoLayer};
pub use rules::{RuleUnavailable, StepRule};
pub use scalar::Real;
