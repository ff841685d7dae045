//! The losses of THEORY §9 behind one `Dyn`-sized type, their
//! construction from a specification, and the `μ`-scaling testing aid.

use overlin_core::data;
use overlin_core::deep::DynDeep;
use overlin_core::loss::MatrixSensing;
use overlin_core::nalgebra::{DMatrix, DVector, Dyn, OMatrix};
use overlin_core::{
    DynNet, Evaluation, Loss, LossConstants, LossKind, Real, Rng, RoundingModel, StepRule,
    Tolerance, Trainer, TrainerConfig,
};

use super::build::{generate_x, one_hot_from_user, path_name, to_t, UserData};
use super::{LossInfo, LossName, ProblemSpec, Sizes};
use crate::Result;

/// One loss of THEORY §9 with `Dyn` sizes: the core's registry.
pub use overlin_core::loss::AnyLoss;

/// A problem built in one precision.
#[derive(Clone, Debug)]
pub struct Typed<T: Real> {
    /// The loss.
    pub loss: AnyLoss<T>,
    /// The start (for `depth = 2`, and the first and last layers' sizes).
    pub start: DynNet<T>,
    /// The deep start when the problem has `depth ≥ 3` (THEORY §13).
    pub deep: Option<DynDeep<T>>,
}

impl<T: Real> Typed<T> {
    /// A trainer set up at the start with `rule` that takes at most one
    /// certified step: how the constants at the start (THEORY §2–§5) and
    /// the prediction for a caller's step are computed, by the core itself.
    /// No imbalance, stall or anytime checks; the tolerance is the smallest
    /// positive gap, so only an exact minimum counts as converged.
    pub fn one_step_trainer(
        &self,
        rule: StepRule<T>,
    ) -> Result<Trainer<T, Dyn, Dyn, Dyn, AnyLoss<T>>> {
        Ok(Trainer::new(
            self.start.clone(),
            self.loss.clone(),
            rule,
            Self::one_step_config(),
        )?)
    }

    /// The settings of [`Self::one_step_trainer`] (for any model).
    pub fn one_step_config() -> TrainerConfig<T> {
        TrainerConfig {
            max_iters: 1,
            tol: Tolerance::Absolute(T::MIN_POSITIVE),
            certify: true,
            imbalance_every: 0,
            stall_window: 0,
            anytime_every: 0,
        }
    }

    /// `(X, Y)` in `f64`, as [`Problem::data`](super::Problem::data).
    pub fn data(&self) -> (DMatrix<f64>, DMatrix<f64>) {
        let f = |m: &DMatrix<T>| m.map(|v| v.to_f64());
        match &self.loss {
            AnyLoss::Squared(l) => (f(l.x()), f(l.y())),
            AnyLoss::LogCosh(l) => (f(l.x()), f(l.y())),
            AnyLoss::Softmax(l) => (f(l.x()), f(l.y())),
            AnyLoss::Sensing(l) => {
                let y = l.measurements();
                (
                    f(l.operator()),
                    DMatrix::from_iterator(y.len(), 1, y.iter().map(|v| v.to_f64())),
                )
            }
        }
    }
}

pub(super) fn build_loss<T: Real>(
    spec: &ProblemSpec,
    s: Sizes,
    user: Option<&UserData>,
) -> Result<AnyLoss<T>> {
    let mut rng = Rng::new(spec.data_seed.unwrap_or(spec.seed));
    let theta_std = spec.target_std.unwrap_or(1.0 / (s.n as f64).sqrt());
    let mut theta = DMatrix::<T>::zeros(s.n, s.m);
    let loss = match spec.loss {
        LossName::Sensing => {
            let (a, y) = match user {
                Some(d) => (
                    to_t::<T>(&d.x),
                    DVector::<T>::from_iterator(d.y.nrows(), d.y.iter().map(|&v| T::of(v))),
                ),
                None => {
                    let mut a = DMatrix::<T>::zeros(s.samples, s.n * s.m);
                    data::sensing_operator(&mut a, &mut rng);
                    let mut y = DVector::<T>::zeros(s.samples);
                    data::sensing_measurements(
                        &a, &mut theta, &mut y, theta_std, spec.noise, &mut rng,
                    )?;
                    (a, y)
                }
            };
            AnyLoss::Sensing(MatrixSensing::new(Dyn(s.n), Dyn(s.m), a, y)?)
        }
        kind => {
            let (x, y) = match user {
                Some(d) => {
                    let y = if kind == LossName::Softmax {
                        one_hot_from_user(&d.y, s.m, &path_name(&spec.y, "Y"))?
                    } else {
                        d.y.clone()
                    };
                    (to_t::<T>(&d.x), to_t::<T>(&y))
                }
                None => {
                    let x = generate_x::<T>(spec.kappa, s.samples, s.n, &mut rng)?;
                    let mut y = DMatrix::<T>::zeros(s.samples, s.m);
                    if kind == LossName::Softmax {
                        data::one_hot_labels(
                            &x, &mut theta, &mut y, theta_std, spec.noise, &mut rng,
                        )?;
                    } else {
                        data::linear_targets(
                            &x, &mut theta, &mut y, theta_std, spec.noise, &mut rng,
                        )?;
                    }
                    (x, y)
                }
            };
            let (kind, hyper) = match kind {
                LossName::Squared => (LossKind::Squared, 0.0),
                LossName::Logcosh => (LossKind::LogCosh, spec.gamma),
                LossName::Softmax => (LossKind::Softmax, spec.lambda),
                LossName::Sensing => (LossKind::Sensing, 0.0),
            };
            AnyLoss::from_data(kind, s.n, s.m, x, y, T::of(hyper))?
        }
    };
    Ok(loss)
}

/// The loss with `μ` scaled for the certificate checker (the
/// [`Problem::with_debug_inflated_mu`](super::Problem::with_debug_inflated_mu) testing aid; factor 1 changes nothing).
#[derive(Clone, Debug)]
pub(super) struct CheckedMu<T: Real> {
    loss: AnyLoss<T>,
    constants: LossConstants<T>,
}

impl<T: Real> CheckedMu<T> {
    pub(super) fn new(loss: &AnyLoss<T>, factor: f64) -> Self {
        let mut constants = *loss.constants();
        if factor != 1.0 {
            constants.mu *= T::of(factor);
        }
        Self {
            loss: loss.clone(),
            constants,
        }
    }
}

impl<T: Real> Loss<T, Dyn, Dyn> for CheckedMu<T> {
    fn kind(&self) -> LossKind {
        self.loss.kind()
    }
    fn constants(&self) -> &LossConstants<T> {
        &self.constants
    }
    fn minimizer(&self) -> &OMatrix<T, Dyn, Dyn> {
        self.loss.minimizer()
    }
    fn evaluate(&mut self, w: &OMatrix<T, Dyn, Dyn>) -> Evaluation<T> {
        self.loss.evaluate(w)
    }
    fn evaluate_with_gradient(
        &mut self,
        w: &OMatrix<T, Dyn, Dyn>,
        grad: &mut OMatrix<T, Dyn, Dyn>,
    ) -> Evaluation<T> {
        self.loss.evaluate_with_gradient(w, grad)
    }
    /// The inner loss's rounding: inflating μ must not change the allowance
    /// (the testing aid tests the check, not a different one).
    fn rounding(&self) -> &RoundingModel<T> {
        self.loss.rounding()
    }
}

pub(super) fn loss_info<T: Real>(c: &LossConstants<T>) -> LossInfo {
    LossInfo {
        mu: c.mu.to_f64(),
        k: c.k.to_f64(),
        l_star: c.l_star.to_f64(),
        w_star_spec: c.w_star.spectral.to_f64(),
        w_star_sigma_min: c.w_star.sigma_min.to_f64(),
    }
}
