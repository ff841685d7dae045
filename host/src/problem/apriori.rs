//! Constants at the start and the a-priori certificate (THEORY §2–§5,
//! §8), with the notes for problems outside the paper's setting (THEORY §1).

use overlin_core::model::Model;
use overlin_core::nalgebra::Dyn;
use overlin_core::{Loss, Real, StepRule, Trainer};

use super::loss::loss_info;
use super::result::margin_of;
use super::{AnyLoss, Apriori, CertifyResult, Sizes, StartConstants, Typed};
use crate::Result;

pub(super) fn setting_note(s: Sizes) -> Option<String> {
    let (lo, hi) = (s.n.min(s.m), s.n.max(s.m));
    if s.h >= hi {
        return None;
    }
    Some(if s.h < lo {
        format!(
            "outside the paper's setting: h = {} < max(n, m) = {hi}; since h < min(n, m) = {lo}, \
             alpha_t = 0 at every step, so the per-step certificate (Theorem 1, rho_t = 1) and the \
             a-priori certificate (Theorem 2) are not applicable; they are still computed, and \
             Lemma 2's descent bound is still checked (THEORY §1)",
            s.h
        )
    } else {
        let (dim, term) = if s.h < s.n {
            ("n", "sigma_n(W1)^2")
        } else {
            ("m", "sigma_m(W2)^2")
        };
        format!(
            "outside the paper's setting: h = {} < max(n, m) = {hi}; since h < {dim}, the term \
             {term} of alpha_t is 0 and the certificates rest on the other term alone (not \
             applicable when alpha_t = 0) (THEORY §1)",
            s.h
        )
    })
}

/// Outside the paper's setting (`h < max(n, m)`), a missing a-priori
/// certificate is explained by the width, not by the start (THEORY §1).
pub(super) fn outside_setting_reason(a: &mut Apriori, s: Sizes) {
    let (lo, hi) = (s.n.min(s.m), s.n.max(s.m));
    if a.certified || s.h >= hi {
        return;
    }
    a.reason = Some(if s.h < lo {
        format!(
            "not applicable: h = {} < min(n, m) = {lo}, so alpha_imb(D0) = 0 and alpha_t = 0 \
             (outside the paper's setting h >= max(n, m), THEORY §1)",
            s.h
        )
    } else {
        format!(
            "not applicable outside the paper's setting (h = {} < max(n, m) = {hi}): {}",
            s.h,
            a.reason.as_deref().unwrap_or("no certificate")
        )
    });
}

/// Exact local constants at the start and the a-priori certificate. The
/// core computes them: a trainer with the `local` rule is set up on a copy
/// of the start and takes one step, whose record carries `α₀, β₀, ‖G₀‖₂`,
/// `μ₀`, `K₀(η₀)` and `ρ₀(η₀)` (THEORY §2–§5).
pub(super) fn start_and_apriori<T: Real>(
    p: &Typed<T>,
    tol: f64,
) -> Result<(StartConstants, Apriori)> {
    match &p.deep {
        Some(deep) => constants_of(
            Trainer::new(
                deep.clone(),
                p.loss.clone(),
                StepRule::Local,
                Typed::<T>::one_step_config(),
            )?,
            p,
            tol,
        ),
        None => constants_of(p.one_step_trainer(StepRule::Local)?, p, tol),
    }
}

/// [`start_and_apriori`] from a trainer set up on the start (any model).
fn constants_of<T: Real, Mdl: Model<T, Dyn, Dyn, Hidden = Dyn>>(
    mut trainer: Trainer<T, Dyn, Dyn, Dyn, AnyLoss<T>, Mdl>,
    p: &Typed<T>,
    tol: f64,
) -> Result<(StartConstants, Apriori)> {
    let before = trainer.summary();
    let eval = trainer.evaluation();
    let c = *p.loss.constants();
    let imb = before.initial_imbalance;
    let mut sc = StartConstants {
        loss0: eval.value.to_f64(),
        gap0: eval.gap.to_f64(),
        lambda_max: imb.lambda_max.to_f64(),
        neg_lambda_max: imb.neg_lambda_max.to_f64(),
        alpha_imb: imb.alpha_imb.to_f64(),
        ..StartConstants::default()
    };
    if let Some(r) = trainer.step() {
        let l = r.cert.local;
        sc.alpha0 = l.alpha.to_f64();
        sc.beta0 = l.beta.to_f64();
        sc.alpha_over_beta = if sc.beta0 > 0.0 {
            sc.alpha0 / sc.beta0
        } else {
            0.0
        };
        sc.grad_spec0 = l.grad_spec.to_f64();
        sc.grad_sq0 = l.grad_sq.to_f64();
        sc.mu0 = r.cert.mu_t.to_f64();
        sc.eta_local0 = r.eta.to_f64();
        sc.k0 = r.cert.k_t.to_f64();
        sc.rho0 = r.cert.rho.to_f64();
        let (mu, k) = (c.mu.to_f64(), c.k.to_f64());
        sc.limit_rate0 = 1.0 - (mu / k) * sc.alpha_over_beta;
    }
    let (n, m) = p.loss.minimizer().shape();
    let sizes = Sizes {
        n,
        m,
        ..Sizes::default()
    };
    let apriori = Apriori::from_core(&before.apriori, eval.gap, T::of(tol), margin_of(&c, sizes));
    Ok((sc, apriori))
}

pub(super) fn certify_typed<T: Real>(p: &Typed<T>, tol: f64) -> Result<CertifyResult> {
    let (start, apriori) = start_and_apriori(p, tol)?;
    Ok(CertifyResult {
        sizes: Sizes::default(),
        constants: loss_info(p.loss.constants()),
        start,
        apriori,
        setting_note: None,
        depth: p.deep.as_ref().map_or(2, |d| d.depth()),
    })
}
