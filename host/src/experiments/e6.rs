//! E6 conditioning: `κ(X) ∈ {1, 3, 10, 30, 100}` (the generated
//! `X` has `K = 1`, `μ = 1/κ²`), squared loss with `n = m = 5`, `N = 20`,
//! `h = 40`, `Θ ~ N(0, 1/n)`, noise 0.01, Gaussian start (entry std
//! `1/√h`, `σ = 1`), `local` rule to a relative gap `ε = 1e-6`. Compares
//! the iterations with the prediction `log(1/ε) / −log(1 − (μ/K)(α/β))`
//! (THEORY §5's limit rate), with `α/β` taken at the start and at the end of
//! the run. Seeds: `⌈seeds/10⌉` (5 by default).

use serde_json::json;

use super::common::{
    self, csv_num, csv_opt, table_opt, Csv, Ctx, ExperimentSummary, Outcome, RuleTally, Stats,
};
use crate::plot::{LinePlot, Series, Style};
use crate::problem::{InitName, Kappa, ProblemSpec, RunResult};
use crate::report::{Section, Table};
use crate::Result;

const WIDTH: usize = 40;

fn kappas(quick: bool) -> Vec<f64> {
    if quick {
        vec![1.0, 3.0, 10.0]
    } else {
        vec![1.0, 3.0, 10.0, 30.0, 100.0]
    }
}

/// `log(1/ε) / −log(1 − (μ/K) r)`, `None` when the rate is not in `(0, 1)`.
pub fn predicted_iterations(eps: f64, mu_over_k: f64, alpha_over_beta: f64) -> Option<f64> {
    let q = mu_over_k * alpha_over_beta;
    (q > 0.0 && q < 1.0 && eps > 0.0 && eps < 1.0).then(|| (1.0 / eps).ln() / -(-q).ln_1p())
}

/// Runs E6.
pub fn run(ctx: &Ctx) -> Result<Outcome> {
    let quick = ctx.quick;
    let seeds = ctx.seeds_for(10);
    let eps = if quick { 1e-4 } else { 1e-6 };
    let ks = kappas(quick);
    let mut tasks = Vec::new();
    for ki in 0..ks.len() {
        for s in 0..seeds {
            tasks.push((ki, s));
        }
    }
    let ks2 = ks.clone();
    let done: Vec<(RunResult, Stats, Option<f64>)> =
        ctx.par_map("E6", tasks.clone(), |&(ki, s)| {
            let kappa = ks2[ki];
            let spec = ProblemSpec {
                n: Some(5),
                m: Some(5),
                h: Some(WIDTH),
                samples: Some(20),
                kappa: if kappa == 1.0 {
                    Kappa::Orthogonal
                } else {
                    Kappa::Value(kappa)
                },
                noise: 0.01,
                init: InitName::Gaussian,
                sigma: 1.0,
                scale: 1.0 / (WIDTH as f64).sqrt(),
                // The same start at every κ; the data differ only by their spectrum.
                seed: common::task_seed("E6", "start", s),
                data_seed: Some(common::task_seed("E6", "data", s)),
                ..ProblemSpec::default()
            };
            let problem = common::build(&spec)?;
            let start = problem.certify(eps)?.start;
            let c = problem.constants();
            let pred = predicted_iterations(eps, c.mu / c.k, start.alpha_over_beta);
            // Cap: 4 × the prediction from the start (+ 1000), at most 3·10⁶.
            let cap = pred
                .map(|p| (4.0 * p + 1000.0).min(3e6) as usize)
                .unwrap_or(100_000);
            let (res, st) =
                common::run_stats(&problem, "local", &common::run_spec(cap, eps, false))?;
            Ok((res, st, pred))
        })?;

    let mut csv = Csv::new(
        "e6.csv",
        &[
            "kappa",
            "seed",
            "mu_over_k",
            "alpha0_over_beta0",
            "alphaT_over_betaT",
            "predicted_from_start",
            "predicted_from_end",
            "iterations",
            "status",
            "achieved_rate",
            "limit_rate0",
            "certified_rate",
            "steps_checked",
            "violations",
            "worst_ratio",
        ],
    );
    let mut table = Table {
        caption: format!(
            "E6: iterations to a {eps:e} relative gap against the prediction (medians over seeds)"
        ),
        header: [
            "kappa",
            "mu/K",
            "alpha0/beta0",
            "alphaT/betaT",
            "predicted (start)",
            "predicted (end)",
            "measured",
            "measured / predicted (end)",
            "converged",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    let mut tally = RuleTally::default();
    let (mut meas, mut p0, mut p1) = (Vec::new(), Vec::new(), Vec::new());
    for (ki, &kappa) in ks.iter().enumerate() {
        let mut per = RuleTally::default();
        let (mut it, mut a0, mut a1, mut ps, mut pe, mut mk) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for ((k, s), (r, st, pred)) in tasks.iter().zip(&done) {
            if *k != ki {
                continue;
            }
            tally.add(r, 0);
            per.add(r, 0);
            let mu_k = r.constants.mu / r.constants.k;
            let end = st.last_alpha_over_beta;
            let pred_end = end.and_then(|e| predicted_iterations(eps, mu_k, e));
            it.push(r.iterations as f64);
            a0.push(r.alpha0_over_beta0);
            if let Some(e) = end {
                a1.push(e);
            }
            if let Some(p) = pred {
                ps.push(*p);
            }
            if let Some(p) = pred_end {
                pe.push(p);
            }
            mk.push(mu_k);
            csv.row(vec![
                csv_num(kappa),
                s.to_string(),
                csv_num(mu_k),
                csv_num(r.alpha0_over_beta0),
                csv_opt(end),
                csv_opt(*pred),
                csv_opt(pred_end),
                r.iterations.to_string(),
                r.status.name().to_string(),
                csv_opt(r.achieved_rate),
                csv_num(1.0 - mu_k * r.alpha0_over_beta0),
                csv_opt(st.certified_rate()),
                r.tally.steps_checked.to_string(),
                r.tally.violations.to_string(),
                csv_num(r.tally.worst_ratio),
            ])?;
        }
        let med = |v: &[f64]| common::median(v);
        if let Some(v) = med(&it) {
            meas.push((kappa, v));
        }
        if let Some(v) = med(&ps) {
            p0.push((kappa, v));
        }
        if let Some(v) = med(&pe) {
            p1.push((kappa, v));
        }
        let ratio = match (med(&it), med(&pe)) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        table.rows.push(vec![
            crate::plot::format_tick(kappa),
            table_opt(med(&mk)),
            table_opt(med(&a0)),
            table_opt(med(&a1)),
            table_opt(med(&ps)),
            table_opt(med(&pe)),
            table_opt(med(&it)),
            table_opt(ratio),
            format!("{}/{}", per.converged, per.runs),
        ]);
    }
    let mut summary = ExperimentSummary {
        id: "E6".into(),
        title: "Conditioning".into(),
        settings: json!({
            "kappas": ks, "n": 5, "m": 5, "samples": 20, "h": WIDTH, "noise": 0.01,
            "init": "gaussian, entry std 1/sqrt(h), sigma = 1", "rule": "local",
            "relative_tolerance": eps, "iteration_cap": "4 x predicted(start) + 1000, at most 3e6",
            "seeds": seeds,
        }),
        ..Default::default()
    };
    for r in &table.rows {
        summary.findings.push(format!(
            "kappa = {}: measured {} iterations, predicted {} (alpha/beta at the start) / {} (at the end)",
            r[0], r[6], r[4], r[5]
        ));
    }
    summary.rules.insert("local".into(), tally);
    summary.finish();
    let mut section = Section {
        description: vec![format!(
            "Squared loss, n = m = 5, N = 20, h = {WIDTH}, X generated with condition number kappa \
             (K = 1, mu = 1/kappa^2), Theta ~ N(0, 1/n), noise 0.01; Gaussian start (entry std \
             1/sqrt(h), sigma = 1), the same for every kappa. Local rule until L - L* <= eps (L0 - \
             L*), eps = {eps:e}. Prediction: log(1/eps) / -log(1 - (mu/K)(alpha/beta)) (THEORY §5), \
             with alpha/beta at the start and at the end of the run. {seeds} seed(s) (medians)."
        )],
        tables: vec![table],
        ..Default::default()
    };
    section.figures.push(common::figure(
        "e6_conditioning.svg",
        "E6: iterations of the local rule against kappa(X), with the predicted iterations",
        &LinePlot {
            title: "E6 iterations vs condition number".into(),
            x_label: "condition number kappa(X) [dimensionless, log scale]".into(),
            y_label: "iterations to the target [steps, log scale]".into(),
            log_x: true,
            log_y: true,
            series: vec![
                Series::new("measured (median)", 0, Style::Markers, meas),
                Series::new("predicted, alpha/beta at start", 1, Style::Dashed, p0),
                Series::new("predicted, alpha/beta at end", 2, Style::Dashed, p1),
            ],
        },
    )?);
    Ok(Outcome {
        section,
        csvs: vec![csv],
        timing: Vec::new(),
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prediction_matches_closed_form() {
        // q = 0.1: log(1e6)/-log(0.9) = 131.1...
        let p = predicted_iterations(1e-6, 0.5, 0.2).unwrap();
        assert!((p - (1e6f64).ln() / -(0.9f64).ln()).abs() < 1e-9);
        assert_eq!(predicted_iterations(1e-6, 0.0, 0.5), None);
        assert_eq!(predicted_iterations(1e-6, 1.0, 1.0), None);
    }
}
