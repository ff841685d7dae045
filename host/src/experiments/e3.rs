//! E3 width: `h ∈ {20, 40, 100, 200, 500, 1000, 2000}`,
//! `n = m = 20`, `N = 40`, `κ(X) = 10` (`μ/K = 1/100`), `Θ ~ N(0, 1/n)`,
//! noise 0.01; Gaussian start with imbalance knob `σ = 1` and entry
//! variance `1/h` or the fixed variance `1/100`; `local` rule to a relative
//! gap of `1e-6`. Reports `α₀/β₀`, the certified rate (geometric mean of
//! `ρ_t`, THEORY §5), the achieved rate, the limit `1 − (μ/K)(α₀/β₀)` and
//! the iterations. Seeds: `⌈seeds/10⌉` (5 by default).

use serde_json::json;

use super::common::{
    self, csv_num, csv_opt, table_opt, Csv, Ctx, ExperimentSummary, Outcome, RuleTally, Stats,
};
use crate::plot::{LinePlot, Series, Style};
use crate::problem::{InitName, Kappa, ProblemSpec, RunResult};
use crate::report::{Section, Table};
use crate::Result;

const FIXED_VARIANCE: f64 = 0.01;
const KINDS: [&str; 2] = ["1/h", "fixed 0.01"];

fn widths(quick: bool) -> Vec<usize> {
    if quick {
        vec![20, 40, 100, 200]
    } else {
        vec![20, 40, 100, 200, 500, 1000, 2000]
    }
}

/// Runs E3.
pub fn run(ctx: &Ctx) -> Result<Outcome> {
    let quick = ctx.quick;
    let seeds = ctx.seeds_for(10);
    let hs = widths(quick);
    let rel_tol = if quick { 1e-4 } else { 1e-6 };
    let cap = if quick { 3000 } else { 20000 };
    let mut tasks = Vec::new();
    for kind in 0..KINDS.len() {
        for &w in &hs {
            for s in 0..seeds {
                tasks.push((kind, w, s));
            }
        }
    }
    let spec_run = common::run_spec(cap, rel_tol, false);
    let done: Vec<(RunResult, Stats)> = ctx.par_map("E3", tasks.clone(), |&(kind, w, s)| {
        let variance = if kind == 0 {
            1.0 / w as f64
        } else {
            FIXED_VARIANCE
        };
        let spec = ProblemSpec {
            n: Some(20),
            m: Some(20),
            h: Some(w),
            samples: Some(40),
            kappa: Kappa::Value(10.0),
            noise: 0.01,
            init: InitName::Gaussian,
            sigma: 1.0,
            scale: variance.sqrt(),
            // Same data for every width and variance at a seed index.
            seed: common::task_seed("E3", &format!("start-h{w}-{kind}"), s),
            data_seed: Some(common::task_seed("E3", "data", s)),
            ..ProblemSpec::default()
        };
        let problem = common::build(&spec)?;
        common::run_stats(&problem, "local", &spec_run)
    })?;

    let mut csv = Csv::new(
        "e3.csv",
        &[
            "variance",
            "h",
            "seed",
            "alpha0",
            "beta0",
            "alpha0_over_beta0",
            "limit_rate0",
            "apriori_certified",
            "rho_bar",
            "certified_rate",
            "achieved_rate",
            "status",
            "iterations",
            "steps_checked",
            "violations",
            "worst_ratio",
        ],
    );
    let mut summary = ExperimentSummary {
        id: "E3".into(),
        title: "Width".into(),
        settings: json!({
            "h": hs, "n": 20, "m": 20, "samples": 40, "kappa": 10.0, "noise": 0.01,
            "init": "gaussian, sigma = 1, entry variance 1/h or 0.01", "rule": "local",
            "relative_tolerance": rel_tol, "iteration_cap": cap, "seeds": seeds,
        }),
        ..Default::default()
    };
    let mut table = Table {
        caption: "E3: medians over seeds per width and start variance".into(),
        header: [
            "variance",
            "h",
            "alpha0/beta0",
            "limit 1-(mu/K)(a0/b0)",
            "a-priori rho_bar",
            "certified rate",
            "achieved rate",
            "iterations",
            "converged",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    let mut ab_series = Vec::new();
    let mut it_series = Vec::new();
    let mut rate_series = Vec::new();
    for (kind, kname) in KINDS.iter().enumerate() {
        let mut ab_pts = Vec::new();
        let mut it_pts = Vec::new();
        let mut cert_pts = Vec::new();
        let mut ach_pts = Vec::new();
        let mut lim_pts = Vec::new();
        let mut tally = RuleTally::default();
        for &w in &hs {
            let group: Vec<&(RunResult, Stats)> = tasks
                .iter()
                .zip(&done)
                .filter(|((k, ww, _), _)| *k == kind && *ww == w)
                .map(|(_, d)| d)
                .collect();
            let mut per = RuleTally::default();
            let mut abs = Vec::new();
            let mut lims = Vec::new();
            let mut certs = Vec::new();
            let mut achs = Vec::new();
            let mut rhob = Vec::new();
            let mut iters = Vec::new();
            for (s, (r, st)) in group.iter().enumerate() {
                tally.add(r, 0);
                per.add(r, 0);
                let mu_k = r.constants.mu / r.constants.k;
                let lim = 1.0 - mu_k * r.alpha0_over_beta0;
                abs.push(r.alpha0_over_beta0);
                lims.push(lim);
                if let Some(c) = st.certified_rate() {
                    certs.push(c);
                }
                if let Some(a) = r.achieved_rate {
                    achs.push(a);
                }
                if let Some(rb) = r.apriori.rho_bar {
                    rhob.push(rb);
                }
                iters.push(r.iterations as f64);
                csv.row(vec![
                    kname.to_string(),
                    w.to_string(),
                    s.to_string(),
                    csv_num(r.alpha0),
                    csv_num(r.beta0),
                    csv_num(r.alpha0_over_beta0),
                    csv_num(lim),
                    (r.apriori.certified as u8).to_string(),
                    csv_opt(r.apriori.rho_bar),
                    csv_opt(st.certified_rate()),
                    csv_opt(r.achieved_rate),
                    r.status.name().to_string(),
                    r.iterations.to_string(),
                    r.tally.steps_checked.to_string(),
                    r.tally.violations.to_string(),
                    csv_num(r.tally.worst_ratio),
                ])?;
            }
            let x = w as f64;
            let med = |v: &[f64]| common::median(v);
            if let Some(v) = med(&abs) {
                ab_pts.push((x, v));
            }
            if let Some(v) = med(&iters) {
                it_pts.push((x, v));
            }
            // Plotted as 1 − rate (the per-step decrease), log scale.
            if let Some(v) = med(&certs) {
                cert_pts.push((x, 1.0 - v));
            }
            if let Some(v) = med(&achs) {
                ach_pts.push((x, 1.0 - v));
            }
            if let Some(v) = med(&lims) {
                lim_pts.push((x, 1.0 - v));
            }
            table.rows.push(vec![
                kname.to_string(),
                w.to_string(),
                table_opt(med(&abs)),
                table_opt(med(&lims)),
                if rhob.is_empty() {
                    "none".into()
                } else {
                    table_opt(med(&rhob))
                },
                table_opt(med(&certs)),
                table_opt(med(&achs)),
                table_opt(med(&iters)),
                format!("{}/{}", per.converged, per.runs),
            ]);
        }
        let c = kind * 3;
        ab_series.push(Series::new(
            format!("variance {kname}"),
            kind,
            Style::LineMarkers,
            ab_pts,
        ));
        it_series.push(Series::new(
            format!("variance {kname}"),
            kind,
            Style::LineMarkers,
            it_pts,
        ));
        rate_series.push(Series::new(
            format!("{kname}: achieved"),
            c,
            Style::LineMarkers,
            ach_pts,
        ));
        rate_series.push(Series::new(
            format!("{kname}: certified (mean rho_t)"),
            c + 1,
            Style::Dashed,
            cert_pts,
        ));
        rate_series.push(Series::new(
            format!("{kname}: limit (mu/K)(a0/b0)"),
            c + 2,
            Style::Dashed,
            lim_pts,
        ));
        summary.findings.push(format!(
            "variance {kname}: {}/{} runs converged, median {} iterations",
            tally.converged,
            tally.runs,
            table_opt(tally.median_iterations)
        ));
        summary
            .rules
            .insert(format!("local, variance {kname}"), tally);
    }
    if let (Some(first), Some(last)) = (table.rows.first(), table.rows.get(hs.len() - 1)) {
        summary.findings.push(format!(
            "variance 1/h: alpha0/beta0 grows from {} at h = {} to {} at h = {}",
            first[2], first[1], last[2], last[1]
        ));
    }
    summary.finish();
    let mut section = Section {
        description: vec![format!(
            "Squared loss, n = m = 20, N = 40, kappa(X) = 10 (mu/K = 0.01), Theta ~ N(0, 1/n), \
             noise 0.01; Gaussian start with sigma = 1 and entry variance 1/h or the fixed 0.01; \
             local rule until L - L* <= {rel_tol:e} (L0 - L*) or {cap} iterations; {seeds} seed(s) \
             per point (medians). Rates are per step: certified = geometric mean of rho_t \
             (THEORY §5), achieved = (gap_T/gap_0)^(1/T), limit = 1 - (mu/K)(alpha0/beta0); the \
             plot shows 1 - rate (larger = faster)."
        )],
        tables: vec![table],
        ..Default::default()
    };
    section.figures.push(common::figure(
        "e3_conditioning.svg",
        "E3: conditioning alpha0/beta0 of the start against the width h",
        &LinePlot {
            title: "E3 start conditioning vs width".into(),
            x_label: "hidden width h [units, log scale]".into(),
            y_label: "alpha0 / beta0 [dimensionless, log scale]".into(),
            log_x: true,
            log_y: true,
            series: ab_series,
        },
    )?);
    section.figures.push(common::figure(
        "e3_rates.svg",
        "E3: per-step decrease 1 - rate (achieved, certified, limit) against the width h",
        &LinePlot {
            title: "E3 rates vs width (1 - rate, larger is faster)".into(),
            x_label: "hidden width h [units, log scale]".into(),
            y_label: "1 - rate [per step, log scale]".into(),
            log_x: true,
            log_y: true,
            series: rate_series,
        },
    )?);
    section.figures.push(common::figure(
        "e3_iterations.svg",
        "E3: iterations of the local rule to the target against the width h",
        &LinePlot {
            title: "E3 iterations vs width".into(),
            x_label: "hidden width h [units, log scale]".into(),
            y_label: "iterations to the target [steps, log scale]".into(),
            log_x: true,
            log_y: true,
            series: it_series,
        },
    )?);
    Ok(Outcome {
        section,
        csvs: vec![csv],
        timing: Vec::new(),
        summary,
    })
}
