//! Driving the core trainer over a built problem (THEORY §5–§8).

use std::time::Instant;

use overlin_core::model::Model;
use overlin_core::nalgebra::{DMatrix, Dyn};
use overlin_core::{Loss, Real, StepRecord, Tolerance, Trainer, TrainerConfig};

use super::apriori::start_and_apriori;
use super::loss::{loss_info, CheckedMu};
use super::result::margin_of;
use super::{
    parse_rule, Anytime, Apriori, Classes, Record, RunObserver, RunResult, RunSpec, Sizes, Tally,
    Typed,
};
use crate::status::RunStatus;
use crate::Result;

/// The final weights of a run, in `f64` (exact for an `f32` run).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FinalWeights {
    /// `W1` (`n×h`).
    pub w1: DMatrix<f64>,
    /// `W2` (`h×m`); for a deep network, the last layer `W_L`.
    pub w2: DMatrix<f64>,
    /// The middle layers `W2 … W_{L−1}` of a deep network (empty for two
    /// layers, when `w1`, `w2` are the first and last layers).
    pub middle: Vec<DMatrix<f64>>,
}

fn config<T: Real>(run: &RunSpec) -> TrainerConfig<T> {
    TrainerConfig {
        max_iters: run.iters,
        tol: if run.relative {
            Tolerance::Relative(T::of(run.tol))
        } else {
            Tolerance::Absolute(T::of(run.tol))
        },
        certify: run.certify,
        imbalance_every: run.imbalance_every,
        stall_window: run.stall_window,
        anytime_every: run.anytime_every,
    }
}

/// What driving a trainer collected from its records.
struct Drive {
    records: Option<Vec<Record>>,
    alpha0_beta0: Option<(f64, f64)>,
    last_reason: Option<String>,
    alpha_trace: Vec<(usize, f64)>,
    wall: f64,
}

/// Runs `trainer` to its end (any model: two layers or deep), streaming the
/// records to `observer`.
fn drive<T: Real, L: Loss<T, Dyn, Dyn>, Mdl: Model<T, Dyn, Dyn, Hidden = Dyn>>(
    trainer: &mut Trainer<T, Dyn, Dyn, Dyn, L, Mdl>,
    run: &RunSpec,
    observer: &mut dyn RunObserver,
) -> Drive {
    let mut records = run.keep_records.then(Vec::new);
    let mut alpha0_beta0: Option<(f64, f64)> = None;
    let mut last_reason: Option<String> = None;
    let mut certified = false;
    let mut alpha_trace = Vec::new();
    let mut last_alpha: Option<(usize, f64)> = None;
    let started = Instant::now();
    trainer.run(&mut |r: &StepRecord<T>| {
        if let Some(a) = r.anytime {
            match a.certificate {
                Ok(_) => certified = true,
                Err(why) if !certified => last_reason = Some(why.to_string()),
                Err(_) => {}
            }
        }
        let rec = Record::from_core(r);
        if alpha0_beta0.is_none() {
            alpha0_beta0 = Some((rec.alpha, rec.beta));
        }
        if r.t == 0 || r.t.is_power_of_two() {
            alpha_trace.push((r.t, rec.alpha));
        }
        last_alpha = Some((r.t, rec.alpha));
        if let Some(v) = records.as_mut() {
            v.push(rec);
        }
        observer.on_record(&rec) && !crate::interrupted()
    });
    if let Some(last) = last_alpha {
        if alpha_trace.last().map(|&(t, _)| t) != Some(last.0) {
            alpha_trace.push(last);
        }
    }
    Drive {
        records,
        alpha0_beta0,
        last_reason,
        alpha_trace,
        wall: started.elapsed().as_secs_f64(),
    }
}

pub(super) fn run_typed<T: Real>(
    p: &Typed<T>,
    run: &RunSpec,
    mu_factor: f64,
    observer: &mut dyn RunObserver,
) -> Result<(RunResult, FinalWeights)> {
    let rule = parse_rule::<T>(&run.rule)?;
    let loss = CheckedMu::new(&p.loss, mu_factor);
    let (n, m) = p.loss.minimizer().shape();
    let sizes = Sizes {
        n,
        m,
        ..Sizes::default()
    };
    let cfg = config::<T>(run);
    let (summary, drive, weights) = match &p.deep {
        Some(deep) => {
            let mut trainer = Trainer::new(deep.clone(), loss, rule, cfg)?;
            let drive = drive(&mut trainer, run, observer);
            let net = trainer.net();
            let weights = FinalWeights {
                w1: net.first.map(|v| v.to_f64()),
                w2: net.last.map(|v| v.to_f64()),
                middle: net.middle.iter().map(|w| w.map(|v| v.to_f64())).collect(),
            };
            (trainer.summary(), drive, weights)
        }
        None => {
            let mut trainer = Trainer::new(p.start.clone(), loss, rule, cfg)?;
            let drive = drive(&mut trainer, run, observer);
            let weights = FinalWeights {
                w1: trainer.net().w1.map(|v| v.to_f64()),
                w2: trainer.net().w2.map(|v| v.to_f64()),
                middle: Vec::new(),
            };
            (trainer.summary(), drive, weights)
        }
    };
    let Drive {
        records,
        alpha0_beta0,
        last_reason,
        alpha_trace,
        wall,
    } = drive;
    let (alpha0, beta0) = match alpha0_beta0 {
        Some(ab) => ab,
        None => {
            let (sc, _) = start_and_apriori(p, run.tol)?;
            (sc.alpha0, sc.beta0)
        }
    };
    let initial_gap = summary.initial_gap.to_f64();
    let final_gap = summary.final_gap.to_f64();
    let tol_abs = if run.relative {
        run.tol * initial_gap
    } else {
        run.tol
    };
    let status = match summary.status {
        overlin_core::Status::Converged => RunStatus::Converged,
        overlin_core::Status::MaxIters => RunStatus::MaxIters,
        overlin_core::Status::Diverged { at } => RunStatus::Diverged { at },
        overlin_core::Status::RuleUnavailable(why) => RunStatus::RuleUnavailable {
            reason: why.to_string(),
        },
        // A stall before any step is no precision floor reached by
        // progress: the rule's first step cannot move this start.
        overlin_core::Status::Stalled if summary.iterations == 0 => RunStatus::RuleUnavailable {
            reason: no_first_step_reason(p),
        },
        // Steps that were all trivial (α_t = 0) and left the loss bit for bit
        // where it started made no progress at all: the start is a critical
        // point in floating point (its product rounds to zero), not a
        // precision floor reached by progress.
        overlin_core::Status::Stalled
            if summary.final_gap == summary.initial_gap
                && summary.tally.classes.trivial == summary.tally.steps_checked =>
        {
            RunStatus::RuleUnavailable {
                reason: format!(
                    "the start is a critical point in floating point: its product W1·W2 rounds to \
                     zero (alpha_t = beta_t = 0), and {} steps left the loss exactly where it \
                     started; start elsewhere (e.g. a larger --scale)",
                    summary.iterations
                ),
            }
        }
        overlin_core::Status::Stalled => RunStatus::Stalled,
        overlin_core::Status::Stopped => RunStatus::Stopped,
        overlin_core::Status::Running => {
            return Err(crate::Error::Internal(
                "the trainer returned while still running".into(),
            ))
        }
    };
    let achieved_rate = (summary.iterations > 0 && initial_gap > 0.0 && final_gap >= 0.0)
        .then(|| (final_gap / initial_gap).powf(1.0 / summary.iterations as f64));
    let t = summary.tally;
    Ok((
        RunResult {
            status,
            rule: run.rule.clone(),
            precision: String::new(),
            iterations: summary.iterations,
            initial_gap,
            final_gap,
            final_loss: summary.final_loss.to_f64(),
            tol_abs,
            tally: Tally {
                steps_checked: t.steps_checked,
                contraction_steps: t.contraction_steps,
                violations: t.violations,
                worst_ratio: t.worst_ratio.to_f64(),
                imbalance_checks: t.imbalance_checks,
                imbalance_violations: t.imbalance_violations,
                classes: Classes::from_core(&t.classes),
            },
            apriori: Apriori::from_core(
                &summary.apriori,
                summary.initial_gap,
                T::of(tol_abs),
                margin_of(p.loss.constants(), sizes),
            ),
            anytime: Anytime {
                anytime_last_reason: last_reason,
                ..Anytime::from_core(&summary.anytime, run.anytime_every)
            },
            sizes: Sizes::default(),
            constants: loss_info(p.loss.constants()),
            alpha0,
            beta0,
            alpha0_over_beta0: if beta0 > 0.0 { alpha0 / beta0 } else { 0.0 },
            achieved_rate,
            setting_note: None,
            wall_time_s: wall,
            depth: p.deep.as_ref().map_or(2, |d| d.depth()),
            alpha_trace,
            records,
        },
        weights,
    ))
}

/// Why the first step of a run left the start exactly where it was: either
/// the gradients with respect to both factors, `A = G W₂ᵀ` and `B = W₁ᵀ G`
/// (THEORY §1), are zero (a critical point: `W₁ = W₂ = 0` is a saddle of
/// every loss here), or the step `η·A, η·B` is below the resolution of the
/// weights (every entry of `W − ηA` rounds back to `W`).
fn no_first_step_reason<T: Real>(p: &Typed<T>) -> String {
    let (w1, w2) = (&p.start.w1, &p.start.w2);
    let mut loss = p.loss.clone();
    let prod = w1 * w2;
    let mut g = prod.clone();
    loss.evaluate_with_gradient(&prod, &mut g);
    let a = &g * w2.transpose();
    let b = w1.transpose() * &g;
    if a.iter().chain(b.iter()).all(|v| *v == T::zero()) {
        "the start is a critical point (the gradient with respect to W1 and W2 is zero, or \
         too small to represent): no step moves it; start elsewhere (e.g. a larger --scale)"
            .to_string()
    } else {
        "the step is below the weights' resolution: every entry of the update rounds back to \
         the same weights; use a larger step (--rule) or a better-scaled start"
            .to_string()
    }
}
