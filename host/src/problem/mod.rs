//! Problems with run-time sizes: specification, construction, runs and
//! a-priori certificates.
//!
//! A [`ProblemSpec`] says which loss (THEORY §9), which data (generated from
//! a seed or read from files), which start (THEORY §10) and which precision.
//! [`Problem::build`] turns it into core objects with `Dyn` sizes;
//! [`Problem::run`] drives the core [`Trainer`](overlin_core::Trainer) with a [`RunSpec`] and
//! returns a [`RunResult`]; [`Problem::certify`] returns the a-priori
//! certificate of THEORY §8 next to the exact local constants at the start
//! (THEORY §2–§5). The free functions [`run()`] and [`certify()`] do both steps.
//!
//! Every number leaves this module as `f64`, whatever the precision of the
//! run (`f32` values are exact in `f64`).

mod apriori;
mod build;
mod loss;
mod record;
mod result;
mod run;
mod spec;

pub use build::{generated_deep_start, generated_start, memory_estimate, UserMatrices};
pub use loss::{AnyLoss, Typed};
pub use record::{Class, Classes, Record, RunObserver, Tally, CLASS_COLUMNS, CSV_HEADER};
pub use result::{Anytime, Apriori, CertifyResult, LossInfo, RunResult, Sizes, StartConstants};
pub use run::FinalWeights;
pub use spec::{
    parse_rule, InitName, Kappa, LossName, Precision, ProblemSpec, RunSpec, DEFAULT_ANYTIME_EVERY,
    DEFAULT_H, DEFAULT_M, DEFAULT_N, DEFAULT_SAMPLES,
};

use std::path::PathBuf;

use overlin_core::nalgebra::DMatrix;
use overlin_core::{Loss, Real};

use crate::{Error, Result};
use apriori::{certify_typed, outside_setting_reason, setting_note};
use build::{build_typed, check_size_relations, path_name, size_or, user_h, user_sizes, UserData};
use loss::loss_info;
use run::run_typed;

#[derive(Clone, Debug)]
enum Inner {
    F32(Typed<f32>),
    F64(Typed<f64>),
}

/// A built problem: data, loss and start, ready to run any number of rules.
#[derive(Clone, Debug)]
pub struct Problem {
    spec: ProblemSpec,
    sizes: Sizes,
    inner: Inner,
    /// Testing aid: the factor applied to `μ` for the certificate checker
    /// (1 unless [`Problem::with_debug_inflated_mu`]).
    mu_factor: f64,
}

impl Problem {
    /// Builds the data, the loss and the start described by `spec`.
    ///
    /// An interrupt during the build ([`crate::interrupted`]) is
    /// [`Error::Interrupted`], whatever the cut-short computation returned.
    pub fn build(spec: &ProblemSpec) -> Result<Self> {
        Self::build_with(spec, &mut |_| {})
    }

    /// [`Problem::build`], calling `sized` once the sizes are known and
    /// have passed their checks (relations, memory), just before the data
    /// and the start are made: where a long set-up can be announced.
    pub fn build_with(spec: &ProblemSpec, sized: &mut dyn FnMut(Sizes)) -> Result<Self> {
        let built = Self::build_uninterrupted(spec, sized);
        if crate::interrupted() {
            return Err(Error::Interrupted);
        }
        built
    }

    fn build_uninterrupted(spec: &ProblemSpec, sized: &mut dyn FnMut(Sizes)) -> Result<Self> {
        spec.validate()?;
        let read = |p: &Option<PathBuf>| p.as_ref().map(|p| crate::io::read_matrix(p)).transpose();
        let user = UserMatrices {
            x: read(&spec.x)?,
            y: read(&spec.y)?,
            w1: read(&spec.w1)?,
            w2: read(&spec.w2)?,
        };
        Self::build_from(spec, user, sized)
    }

    /// [`Problem::build`] with the user data and start given as matrices
    /// instead of files (`spec`'s file fields must then be unset). The
    /// matrices are checked as files are: finite entries, sizes that agree
    /// with each other and with the sizes in `spec`.
    pub fn from_matrices(spec: &ProblemSpec, user: UserMatrices) -> Result<Self> {
        spec.validate()?;
        if spec.x.is_some() || spec.y.is_some() || spec.w1.is_some() || spec.w2.is_some() {
            return Err(Error::input(
                "give the user data and start either as files or as matrices, not both",
            ));
        }
        if user.x.is_some() != user.y.is_some() {
            return Err(Error::input("user data needs both X and Y (or neither)"));
        }
        if user.w1.is_some() != user.w2.is_some() {
            return Err(Error::input(
                "a user start needs both W1 and W2 (or neither)",
            ));
        }
        for (m, name) in [
            (&user.x, "X"),
            (&user.y, "Y"),
            (&user.w1, "W1"),
            (&user.w2, "W2"),
        ] {
            if let Some(m) = m {
                if m.is_empty() {
                    return Err(Error::input(format!(
                        "{name} is empty ({} x {}); every size must be at least 1",
                        m.nrows(),
                        m.ncols()
                    )));
                }
                crate::io::check_finite(m, name)?;
            }
        }
        Self::build_from(spec, user, &mut |_| {})
    }

    fn build_from(
        spec: &ProblemSpec,
        user: UserMatrices,
        sized: &mut dyn FnMut(Sizes),
    ) -> Result<Self> {
        let UserMatrices { x, y, w1, w2 } = user;
        let user = match (x, y) {
            (Some(x), Some(y)) => Some(UserData { x, y }),
            _ => None,
        };
        let (samples, n, m) = match &user {
            Some(d) => user_sizes(spec, d)?,
            None => (
                size_or(spec.samples, None, DEFAULT_SAMPLES, "samples")?,
                size_or(spec.n, None, DEFAULT_N, "n")?,
                size_or(spec.m, None, DEFAULT_M, "m")?,
            ),
        };
        let h = match (&w1, &w2) {
            (Some(a), Some(b)) => user_h(spec, a, b, n, m)?,
            _ => size_or(spec.h, None, DEFAULT_H, "h")?,
        };
        let sizes = Sizes { n, m, h, samples };
        check_size_relations(spec, sizes, user.is_some())?;
        crate::resources::check_memory(
            memory_estimate(spec.loss, spec.precision, sizes, spec.depth, user.is_some()),
            &format!(
                "this problem (n = {n}, m = {m}{}, h = {h}{}, samples = {samples}, {})",
                if spec.loss == LossName::Softmax && spec.m.is_none() && user.is_some() {
                    format!(" from the largest label in {}", path_name(&spec.y, "Y"))
                } else {
                    String::new()
                },
                if spec.depth > 2 {
                    format!(", depth = {}", spec.depth)
                } else {
                    String::new()
                },
                spec.precision.name()
            ),
        )?;
        sized(sizes);
        let start = w1.zip(w2);
        let inner = match spec.precision {
            Precision::F32 => Inner::F32(build_typed::<f32>(spec, sizes, user.as_ref(), start)?),
            Precision::F64 => Inner::F64(build_typed::<f64>(spec, sizes, user.as_ref(), start)?),
        };
        Ok(Self {
            spec: spec.clone(),
            sizes,
            inner,
            mu_factor: 1.0,
        })
    }

    /// Testing aid (`overlin run --debug-inflate-mu FACTOR`, see
    /// RELIABILITY.md): runs give the trainer `FACTOR·μ` instead of the
    /// loss's `μ`, so every per-step bound `ρ_t` (THEORY §5) and the
    /// a-priori certificate are computed from a false constant. With a
    /// factor well above 1 the bounds are too optimistic and the checker
    /// must report violations: this is how the tests show that a true
    /// violation is caught. The iterates of rules that do not use `μ`
    /// (local, constant, arora, du, xu2023, armijo) are unchanged. The run's
    /// `setting_note` says the factor was applied. Never use it for results.
    pub fn with_debug_inflated_mu(mut self, factor: f64) -> Result<Self> {
        if !(factor.is_finite() && factor > 0.0) {
            return Err(Error::input(format!(
                "--debug-inflate-mu must be positive and finite, got {factor}"
            )));
        }
        self.mu_factor = factor;
        Ok(self)
    }

    /// The specification this was built from.
    pub fn spec(&self) -> &ProblemSpec {
        &self.spec
    }

    /// Resolved sizes.
    pub fn sizes(&self) -> Sizes {
        self.sizes
    }

    /// `μ, K, L*, ‖W*‖₂`.
    pub fn constants(&self) -> LossInfo {
        match &self.inner {
            Inner::F32(p) => loss_info(p.loss.constants()),
            Inner::F64(p) => loss_info(p.loss.constants()),
        }
    }

    /// The data `(X, Y)` the loss was built from, in the layout of
    /// [`UserMatrices`] (softmax targets one-hot), in `f64` (exact for an
    /// `f32` problem): generated problems hand their data out this way.
    pub fn data(&self) -> (DMatrix<f64>, DMatrix<f64>) {
        match &self.inner {
            Inner::F32(p) => p.data(),
            Inner::F64(p) => p.data(),
        }
    }

    /// The start `(W1, W2)` in `f64` (exact for an `f32` problem).
    pub fn start(&self) -> (DMatrix<f64>, DMatrix<f64>) {
        match &self.inner {
            Inner::F32(p) => (
                p.start.w1.map(|v| v.to_f64()),
                p.start.w2.map(|v| v.to_f64()),
            ),
            Inner::F64(p) => (p.start.w1.clone(), p.start.w2.clone()),
        }
    }

    /// The problem in `f64`, when built in `f64`.
    pub fn as_f64(&self) -> Option<&Typed<f64>> {
        match &self.inner {
            Inner::F64(p) => Some(p),
            Inner::F32(_) => None,
        }
    }

    /// The problem in `f32`, when built in `f32`.
    pub fn as_f32(&self) -> Option<&Typed<f32>> {
        match &self.inner {
            Inner::F32(p) => Some(p),
            Inner::F64(_) => None,
        }
    }

    /// Runs `run` from the problem's start, streaming records to `observer`.
    pub fn run(&self, run: &RunSpec, observer: &mut dyn RunObserver) -> Result<RunResult> {
        Ok(self.run_with_weights(run, observer)?.0)
    }

    /// [`Problem::run`], also returning the weights the run ended with.
    pub fn run_with_weights(
        &self,
        run: &RunSpec,
        observer: &mut dyn RunObserver,
    ) -> Result<(RunResult, FinalWeights)> {
        run.validate()?;
        let (mut res, weights) = match &self.inner {
            Inner::F32(p) => run_typed(p, run, self.mu_factor, observer)?,
            Inner::F64(p) => run_typed(p, run, self.mu_factor, observer)?,
        };
        res.precision = self.spec.precision.name().into();
        res.sizes = self.sizes;
        res.setting_note = setting_note(self.sizes);
        outside_setting_reason(&mut res.apriori, self.sizes);
        if self.mu_factor != 1.0 {
            let aid = format!(
                "testing aid --debug-inflate-mu {f}: the certificates were computed with {f} \
                 times the true mu, so violations are expected",
                f = self.mu_factor
            );
            res.setting_note = Some(match res.setting_note.take() {
                Some(note) => format!("{aid}; {note}"),
                None => aid,
            });
        }
        Ok((res, weights))
    }

    /// The a-priori certificate (THEORY §8) for reaching `L − L* ≤ tol`,
    /// next to the exact local constants at the start.
    pub fn certify(&self, tol: f64) -> Result<CertifyResult> {
        if !(tol.is_finite() && tol > 0.0) {
            return Err(Error::input(format!(
                "--tol must be positive and finite, got {tol}"
            )));
        }
        let mut res = match &self.inner {
            Inner::F32(p) => certify_typed(p, tol)?,
            Inner::F64(p) => certify_typed(p, tol)?,
        };
        res.sizes = self.sizes;
        res.setting_note = setting_note(self.sizes);
        outside_setting_reason(&mut res.apriori, self.sizes);
        Ok(res)
    }
}

/// Builds `spec` and runs `run` on it.
pub fn run(spec: &ProblemSpec, run: &RunSpec, observer: &mut dyn RunObserver) -> Result<RunResult> {
    run.validate()?;
    Problem::build(spec)?.run(run, observer)
}

/// Builds `spec` and certifies it for the tolerance `tol` on `L − L*`.
pub fn certify(spec: &ProblemSpec, tol: f64) -> Result<CertifyResult> {
    Problem::build(spec)?.certify(tol)
}
