//! The certificate of one gradient step taken by someone else's loop.
//!
//! [`Problem::step_certificate`] predicts, from the problem's start (the
//! caller's current iterate), what THEORY §2–§5 guarantee for one gradient
//! step `W₁ ← W₁ − η∇₁L`, `W₂ ← W₂ − η∇₂L` of size `η`: the local constants,
//! `μ_t`, `K_t(η)`, `ρ_t(η)` and Lemma 2's bound. [`StepPrediction::check`]
//! then takes the iterate the caller's own code produced and checks the
//! prediction against it, exactly as the core's trainer checks its own steps
//! (THEORY §11). This is how a training loop written in any framework is
//! certified step by step.
//!
//! The prediction is the core's: a [`Trainer`] with the constant rule `η`
//! is set up at the iterate and takes the step, so the numbers are those of
//! `overlin run --rule constant:η` at its first step, and the core's own
//! next iterate is kept to measure how far the caller's step is from the
//! gradient step that was certified.

use overlin_core::nalgebra::DMatrix;
use overlin_core::{DynNet, Loss, Real, Status, StepCertificate, StepRule};

use crate::problem::{AnyLoss, Class, Problem, Typed};
use crate::{Error, Result};

/// What THEORY §2–§5 predict for one gradient step, in `f64`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Prediction {
    /// `L_t`.
    pub loss: f64,
    /// `L_t − L*`.
    pub gap: f64,
    /// The step `η` (rounded to the working precision).
    pub eta: f64,
    /// `α_t` (THEORY §2).
    pub alpha: f64,
    /// `β_t`.
    pub beta: f64,
    /// `‖G_t‖₂`.
    pub grad_spec: f64,
    /// `g² = ‖∇L‖²`.
    pub grad_sq: f64,
    /// `μ_t = μ α_t` (Lemma 1, THEORY §3).
    pub mu_t: f64,
    /// `K_t(η)` (Lemma 2, THEORY §4).
    pub k_t: f64,
    /// `η K_t(η)`; Theorem 1 applies below 2.
    pub eta_k_t: f64,
    /// `ρ_t(η)` (Theorem 1, THEORY §5).
    pub rho: f64,
    /// `true` when `η K_t(η) < 2`, so `ρ_t` bounds the step.
    pub contraction_applies: bool,
    /// Lemma 2's bound on the next gap `L_{t+1} − L*`.
    pub descent_bound: f64,
    /// The Local rule's step `1/(Kβ_t + ‖G_t‖₂)` at this iterate (THEORY §6.2).
    pub local_eta: f64,
}

/// The check of a step against its [`Prediction`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Outcome {
    /// `L_{t+1}` at the caller's next iterate.
    pub next_loss: f64,
    /// `L_{t+1} − L*`.
    pub next_gap: f64,
    /// Achieved `(L_{t+1} − L*)/(L_t − L*)`.
    pub ratio: f64,
    /// Measured over certified, as the core reports it (THEORY §11).
    pub bound_ratio: f64,
    /// Lemma 2 and (for a certified step) Theorem 1 held within rounding.
    pub holds: bool,
    /// What the check counts as (THEORY §11): only a
    /// [`Class::Certified`] step's check of Theorem 1 could have failed
    /// with a wrong certificate.
    pub class: Class,
    /// The rounding allowance the step was checked with (docs/ROUNDING.md).
    pub allowance: f64,
    /// `‖(W₁', W₂') − (W₁ − ηA, W₂ − ηB)‖_F / ‖(ηA, ηB)‖_F`: how far the
    /// caller's next iterate is from the gradient step the prediction is
    /// about, relative to the step's length. Rounding differences between
    /// frameworks give values far below 1 (~1e-16 in f64 early in a run, growing
    /// as the gradient shrinks toward its rounding level); a value near 1 or above
    /// means the caller took another step (momentum, a different `η`, a
    /// different loss) and the prediction does not apply to it.
    pub deviation: f64,
}

#[derive(Clone, Debug)]
struct TypedPrediction<T: Real> {
    cert: StepCertificate<T>,
    gap: T,
    /// The rounding allowance of the core's own step from this iterate
    /// (THEORY §11, docs/ROUNDING.md).
    allowance: T,
    loss: AnyLoss<T>,
    start: DynNet<T>,
    gd_next: DynNet<T>,
    product: DMatrix<T>,
}

#[derive(Clone, Debug)]
enum Inner {
    F32(TypedPrediction<f32>),
    F64(TypedPrediction<f64>),
}

/// A prediction for one step, ready to check the caller's next iterate.
#[derive(Clone, Debug)]
pub struct StepPrediction {
    /// The predicted quantities.
    pub prediction: Prediction,
    inner: Inner,
}

impl Problem {
    /// The certificate of one gradient step of size `eta` from the
    /// problem's start (see the module documentation).
    ///
    /// Errors when `eta` is not positive and finite in the working
    /// precision, when the start is already at the minimum (`L − L* = 0`:
    /// there is nothing to contract), and when the step is below the
    /// resolution of the weights (no weight would change).
    pub fn step_certificate(&self, eta: f64) -> Result<StepPrediction> {
        if !(eta.is_finite() && eta > 0.0) {
            return Err(Error::input(format!(
                "eta must be positive and finite, got {eta}"
            )));
        }
        if let Some(p) = self.as_f64() {
            let (prediction, tp) = predict(p, eta)?;
            return Ok(StepPrediction {
                prediction,
                inner: Inner::F64(tp),
            });
        }
        match self.as_f32() {
            Some(p) => {
                let (prediction, tp) = predict(p, eta)?;
                Ok(StepPrediction {
                    prediction,
                    inner: Inner::F32(tp),
                })
            }
            None => Err(Error::Internal("problem built in no precision".into())),
        }
    }
}

impl StepPrediction {
    /// Checks the prediction against the caller's next iterate `(w1, w2)`
    /// (same shapes as the start). A non-finite next iterate is not an
    /// error: its step violated the prediction.
    pub fn check(&mut self, w1: &DMatrix<f64>, w2: &DMatrix<f64>) -> Result<Outcome> {
        match &mut self.inner {
            Inner::F32(p) => p.check(w1, w2),
            Inner::F64(p) => p.check(w1, w2),
        }
    }

    /// The core's own gradient step `(W₁ − ηA, W₂ − ηB)` from the start, in
    /// `f64` (exact for an `f32` problem).
    pub fn gradient_step(&self) -> (DMatrix<f64>, DMatrix<f64>) {
        match &self.inner {
            Inner::F64(p) => (p.gd_next.w1.clone(), p.gd_next.w2.clone()),
            Inner::F32(p) => (
                p.gd_next.w1.map(|v| v.to_f64()),
                p.gd_next.w2.map(|v| v.to_f64()),
            ),
        }
    }
}

fn predict<T: Real>(p: &Typed<T>, eta: f64) -> Result<(Prediction, TypedPrediction<T>)> {
    let eta_t = T::of(eta);
    if !(eta_t.finite() && eta_t > T::zero()) {
        return Err(Error::input(format!(
            "eta = {eta:e} is outside the range of the working precision (it rounds to {:e})",
            eta_t.to_f64()
        )));
    }
    let mut trainer = p.one_step_trainer(StepRule::Constant(eta_t))?;
    let before = trainer.evaluation();
    let Some(r) = trainer.step() else {
        return Err(match trainer.status() {
            Status::Converged => Error::input(
                "the iterate is at the minimum (L - L* = 0): there is no step to certify",
            ),
            Status::Stalled => Error::input(format!(
                "a step of size eta = {eta:e} changes no weight (it is below the resolution of \
                 the weights): there is no step to certify"
            )),
            Status::RuleUnavailable(why) => Error::input(format!("eta = {eta:e}: {why}")),
            Status::Diverged { .. } if !before.gap.finite() => Error::input(format!(
                "the loss at this iterate is not finite (L - L* = {:e}: W1·W2 or the loss \
                 overflows the working precision): there is no step to certify; rescale W1 and W2",
                before.gap.to_f64()
            )),
            other => Error::input(format!(
                "the iterate cannot be stepped from (status {})",
                other.name()
            )),
        });
    };
    let c = r.cert;
    let constants = *p.loss.constants();
    let local_eta = overlin_core::certificate::local_step(constants.k, &c.local);
    let prediction = Prediction {
        loss: before.value.to_f64(),
        gap: before.gap.to_f64(),
        eta: eta_t.to_f64(),
        alpha: c.local.alpha.to_f64(),
        beta: c.local.beta.to_f64(),
        grad_spec: c.local.grad_spec.to_f64(),
        grad_sq: c.local.grad_sq.to_f64(),
        mu_t: c.mu_t.to_f64(),
        k_t: c.k_t.to_f64(),
        eta_k_t: c.eta_k_t.to_f64(),
        rho: c.rho.to_f64(),
        contraction_applies: c.contraction_applies,
        descent_bound: c.descent_bound.to_f64(),
        local_eta: local_eta.to_f64(),
    };
    let (n, _, m) = p.start.shape();
    let (gd_next, _) = trainer.into_parts();
    Ok((
        prediction,
        TypedPrediction {
            cert: c,
            gap: before.gap,
            allowance: r.check.allowance,
            loss: p.loss.clone(),
            start: p.start.clone(),
            gd_next,
            product: DMatrix::zeros(n, m),
        },
    ))
}

impl<T: Real> TypedPrediction<T> {
    fn check(&mut self, w1: &DMatrix<f64>, w2: &DMatrix<f64>) -> Result<Outcome> {
        for (name, found, expected) in [
            ("next W1", w1.shape(), self.start.w1.shape()),
            ("next W2", w2.shape(), self.start.w2.shape()),
        ] {
            if found != expected {
                return Err(Error::input(format!(
                    "{name} has shape {} x {} but the iterate it follows has {} x {}",
                    found.0, found.1, expected.0, expected.1
                )));
            }
        }
        // No validation of finiteness: a step to a non-finite iterate is a
        // violated prediction, reported as such.
        let next = DynNet {
            w1: w1.map(T::of),
            w2: w2.map(T::of),
        };
        next.product_into(&mut self.product);
        let eval = self.loss.evaluate(&self.product);
        // The core's step's allowance, plus the rounding of the gap at the
        // caller's point (which is not the core's next point).
        let allowance = self.allowance + self.loss.gap_error(eval.gap);
        // The core's check, as in a run: a finite prediction that does not
        // let the loss rise, followed by a non-finite point, is broken.
        let check = self.cert.check(self.gap, eval.gap, allowance);
        Ok(Outcome {
            next_loss: eval.value.to_f64(),
            next_gap: eval.gap.to_f64(),
            ratio: check.ratio.to_f64(),
            bound_ratio: check.bound_ratio.to_f64(),
            holds: check.holds,
            class: Class::from_core(check.class),
            allowance: check.allowance.to_f64(),
            deviation: self.deviation(&next),
        })
    }

    /// See [`Outcome::deviation`]; computed in `f64`.
    fn deviation(&self, next: &DynNet<T>) -> f64 {
        let diff = |a: &DMatrix<T>, b: &DMatrix<T>| -> f64 {
            a.iter()
                .zip(b.iter())
                .map(|(x, y)| {
                    let d = x.to_f64() - y.to_f64();
                    d * d
                })
                .sum()
        };
        let off = diff(&next.w1, &self.gd_next.w1) + diff(&next.w2, &self.gd_next.w2);
        let step = diff(&self.start.w1, &self.gd_next.w1) + diff(&self.start.w2, &self.gd_next.w2);
        if step > 0.0 {
            (off / step).sqrt()
        } else if off == 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    }
}
