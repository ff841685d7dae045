//! E4 initialization: imbalance knob `σ ∈ {0, 0.01, 0.1, 1, 10,
//! 100}` by scale `ω ∈ {0.01, 0.1, 1, 10}` (scaled Gaussian start, entry std
//! `ω/√h`, THEORY §10) on squared regression with `n = m = 10`, `N = 40`,
//! `κ(X) = 3`, `h = 100`, `Θ ~ N(0, 1/n)`, noise 0.01. Per cell: whether
//! the a-priori certificate of THEORY §8 exists, `ρ̄` (and its `η̄`), and
//! the achieved rate of the `local` rule (to a relative gap of `1e-6`);
//! where a certificate exists the constant step `η̄` is also run and
//! Theorem 2's bound is checked along it. Seeds: `⌈seeds/10⌉` (5 by default).

use serde_json::json;

use super::common::{
    self, csv_num, csv_opt, table_num, table_opt, Csv, Ctx, ExperimentSummary, Outcome, RuleTally,
    Stats,
};
use crate::plot::HeatMap;
use crate::problem::{InitName, Kappa, ProblemSpec, RunResult, StartConstants};
use crate::report::{Figure, Section, Table};
use crate::status::RunStatus;
use crate::Result;

const SIGMAS: [f64; 6] = [0.0, 0.01, 0.1, 1.0, 10.0, 100.0];
const OMEGAS: [f64; 4] = [0.01, 0.1, 1.0, 10.0];

struct Cell {
    start: StartConstants,
    local: (RunResult, Stats),
    eta_bar: Option<(RunResult, bool, u64)>,
}

/// Runs E4.
pub fn run(ctx: &Ctx) -> Result<Outcome> {
    let quick = ctx.quick;
    let seeds = ctx.seeds_for(10);
    let width = if quick { 40 } else { 100 };
    let cap = if quick { 1000 } else { 5000 };
    let rel_tol = 1e-6;
    let mut tasks = Vec::new();
    for si in 0..SIGMAS.len() {
        for oi in 0..OMEGAS.len() {
            for s in 0..seeds {
                tasks.push((si, oi, s));
            }
        }
    }
    let spec_run = common::run_spec(cap, rel_tol, false);
    let done: Vec<Cell> = ctx.par_map("E4", tasks.clone(), |&(si, oi, s)| {
        let spec = ProblemSpec {
            n: Some(10),
            m: Some(10),
            h: Some(width),
            samples: Some(40),
            kappa: Kappa::Value(3.0),
            noise: 0.01,
            init: InitName::Scaled,
            sigma: SIGMAS[si],
            scale: OMEGAS[oi],
            // Same data and start noise in every cell at a seed index.
            seed: common::task_seed("E4", "start", s),
            data_seed: Some(common::task_seed("E4", "data", s)),
            ..ProblemSpec::default()
        };
        let problem = common::build(&spec)?;
        let start = problem.certify(rel_tol)?.start;
        let local = common::run_stats(&problem, "local", &spec_run)?;
        let eta_bar = match local.0.apriori.eta_bar {
            Some(e) if local.0.apriori.certified => {
                let keep = common::run_spec(cap, rel_tol, true);
                let mut r = common::run_rule(&problem, &format!("constant:{e:e}"), &keep)?;
                let recs = r.records.take().unwrap_or_default();
                let (applies, v) = common::apriori_check(&r, &recs);
                Some((r, applies, v))
            }
            _ => None,
        };
        Ok(Cell {
            start,
            local,
            eta_bar,
        })
    })?;

    let mut csv = Csv::new(
        "e4.csv",
        &[
            "sigma",
            "omega",
            "seed",
            "alpha_imb0",
            "alpha0_over_beta0",
            "apriori_certified",
            "reason",
            "eta_bar",
            "rho_bar",
            "iterations_guaranteed",
            "local_status",
            "local_iterations",
            "local_achieved_rate",
            "local_certified_rate",
            "eta_bar_status",
            "eta_bar_iterations",
            "eta_bar_achieved_rate",
            "apriori_violations",
            "violations",
            "worst_ratio",
        ],
    );
    let mut local_tally = RuleTally::default();
    let mut bar_tally = RuleTally::default();
    let mut values = vec![vec![None; OMEGAS.len()]; SIGMAS.len()];
    let mut text = vec![vec![String::new(); OMEGAS.len()]; SIGMAS.len()];
    let mut speeds = Vec::new();
    let mut table = Table {
        caption: "E4: a-priori certificate and rates per (sigma, omega) (medians over seeds)"
            .into(),
        header: [
            "sigma",
            "omega",
            "certificate",
            "rho_bar",
            "local achieved rate",
            "eta-bar achieved rate",
            "local iterations",
            "local converged",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    for (si, &sigma) in SIGMAS.iter().enumerate() {
        for (oi, &omega) in OMEGAS.iter().enumerate() {
            let group: Vec<(usize, &Cell)> = tasks
                .iter()
                .zip(&done)
                .filter(|((a, b, _), _)| *a == si && *b == oi)
                .map(|((_, _, s), c)| (*s, c))
                .collect();
            let mut certified = 0;
            let mut rhob = Vec::new();
            let mut ach = Vec::new();
            let mut bar_ach = Vec::new();
            let mut iters = Vec::new();
            let mut conv = 0;
            let mut reason = None;
            for (s, c) in &group {
                let (r, st) = &c.local;
                local_tally.add(r, 0);
                let mut viol = r.tally.violations as u64;
                let mut worst = r.tally.worst_ratio;
                let mut apv = 0;
                if let Some((b, _, v)) = &c.eta_bar {
                    bar_tally.add(b, *v);
                    viol += b.tally.violations as u64;
                    worst = worst.max(b.tally.worst_ratio);
                    apv = *v;
                    if let Some(a) = b.achieved_rate {
                        bar_ach.push(a);
                    }
                }
                if r.apriori.certified {
                    certified += 1;
                }
                if let Some(x) = r.apriori.rho_bar {
                    rhob.push(x);
                }
                if reason.is_none() {
                    reason = r.apriori.reason.clone();
                }
                if let Some(a) = r.achieved_rate {
                    ach.push(a);
                }
                if r.status == RunStatus::Converged {
                    conv += 1;
                }
                iters.push(r.iterations as f64);
                csv.row(vec![
                    csv_num(sigma),
                    csv_num(omega),
                    s.to_string(),
                    csv_num(c.start.alpha_imb),
                    csv_num(r.alpha0_over_beta0),
                    (r.apriori.certified as u8).to_string(),
                    r.apriori.reason.clone().unwrap_or_default(),
                    csv_opt(r.apriori.eta_bar),
                    csv_opt(r.apriori.rho_bar),
                    r.apriori
                        .iterations_to_tol
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                    r.status.name().to_string(),
                    r.iterations.to_string(),
                    csv_opt(r.achieved_rate),
                    csv_opt(st.certified_rate()),
                    c.eta_bar
                        .as_ref()
                        .map(|b| b.0.status.name().to_string())
                        .unwrap_or_default(),
                    c.eta_bar
                        .as_ref()
                        .map(|b| b.0.iterations.to_string())
                        .unwrap_or_default(),
                    csv_opt(c.eta_bar.as_ref().and_then(|b| b.0.achieved_rate)),
                    apv.to_string(),
                    viol.to_string(),
                    csv_num(worst),
                ])?;
            }
            let med_ach = common::median(&ach);
            let med_rhob = common::median(&rhob);
            // Colour: per-step speed −ln(rate) of the local rule, on a log scale.
            let speed = med_ach.map(|a| -(a.max(1e-300)).ln());
            if let Some(sp) = speed.filter(|v| *v > 0.0 && v.is_finite()) {
                speeds.push(sp.log10());
            }
            values[si][oi] = speed.filter(|v| *v > 0.0 && v.is_finite()).map(f64::log10);
            let cert_txt = if certified == group.len() {
                format!("rho_bar {}", common::rate_opt(med_rhob))
            } else if certified == 0 {
                "no certificate".into()
            } else {
                format!("cert {certified}/{}", group.len())
            };
            text[si][oi] = format!("{cert_txt}\nlocal {}", common::rate_opt(med_ach));
            table.rows.push(vec![
                crate::plot::format_tick(sigma),
                crate::plot::format_tick(omega),
                if certified == group.len() {
                    "yes".into()
                } else if certified == 0 {
                    format!("no: {}", reason.unwrap_or_default())
                } else {
                    format!("{certified}/{} seeds", group.len())
                },
                common::rate_opt(med_rhob),
                common::rate_opt(med_ach),
                common::rate_opt(common::median(&bar_ach)),
                table_opt(common::median(&iters)),
                format!("{conv}/{}", group.len()),
            ]);
        }
    }
    // Normalize the colour to [0, 1] over the cells.
    let (lo, hi) = common::min_max(&speeds).unwrap_or((0.0, 1.0));
    for row in &mut values {
        for v in row.iter_mut() {
            *v = v.map(|x| if hi > lo { (x - lo) / (hi - lo) } else { 0.5 });
        }
    }
    let certified_cells = table.rows.iter().filter(|r| r[2] == "yes").count();
    let mut summary = ExperimentSummary {
        id: "E4".into(),
        title: "Initialization".into(),
        settings: json!({
            "sigmas": SIGMAS, "omegas": OMEGAS, "n": 10, "m": 10, "samples": 40, "h": width,
            "kappa": 3.0, "noise": 0.01, "init": "scaled gaussian, entry std omega/sqrt(h), imbalance knob sigma",
            "rules": ["local", "constant eta_bar (where certified)"], "relative_tolerance": rel_tol,
            "iteration_cap": cap, "seeds": seeds,
        }),
        findings: vec![format!(
            "a-priori certificate in {certified_cells} of {} (sigma, omega) cells",
            SIGMAS.len() * OMEGAS.len()
        )],
        ..Default::default()
    };
    summary.rules.insert("local".into(), local_tally);
    summary.rules.insert("eta-bar".into(), bar_tally);
    summary.finish();
    let map = HeatMap {
        title: format!("E4 initialization: a-priori certificate and local-rule rate (h = {width})"),
        x_label: "scale omega (entry std omega/sqrt(h)) [dimensionless]".into(),
        y_label: "imbalance knob sigma [dimensionless]".into(),
        columns: OMEGAS.iter().map(|&o| crate::plot::format_tick(o)).collect(),
        rows: SIGMAS.iter().map(|&s| crate::plot::format_tick(s)).collect(),
        values,
        text,
        legend: format!(
            "colour: per-step speed -ln(achieved rate) of the local rule, log scale (dark = slow, yellow = fast; 10^{} .. 10^{}); grey: no rate",
            table_num(lo),
            table_num(hi)
        ),
    };
    let svg =
        crate::plot::render_heatmap(&map).map_err(|e| crate::Error::Internal(e.to_string()))?;
    let section = Section {
        description: vec![format!(
            "Squared loss, n = m = 10, N = 40, kappa(X) = 3, h = {width}, Theta ~ N(0, 1/n), noise \
             0.01. Scaled Gaussian start (entry std omega/sqrt(h)) with imbalance knob sigma \
             (THEORY §10); the same noise in every cell. Local rule until L - L* <= {rel_tol:e} \
             (L0 - L*) or {cap} iterations; where Theorem 2 certifies the start, the constant step \
             eta_bar is also run and its bound prod (1 - mu alpha_bar eta (2 - eta K_bar)) is checked \
             at every step. {seeds} seed(s) per cell (medians)."
        )],
        tables: vec![table],
        figures: vec![Figure {
            file: "e4_heatmap.svg".into(),
            caption: "E4: per cell, the a-priori rate rho_bar (or 'no certificate') and the achieved \
                      rate of the local rule"
                .into(),
            svg,
        }],
        ..Default::default()
    };
    Ok(Outcome {
        section,
        csvs: vec![csv],
        timing: Vec::new(),
        summary,
    })
}
