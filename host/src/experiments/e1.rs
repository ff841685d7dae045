//! E1 rate validation: `N = n = m = 20`, `h = 1000`, orthogonal
//! `X` (`XᵀX = N·I`, so `μ = K = 1`), `Θ ~ N(0, 1/n)`, `Y = XΘ` (`L* = 0`),
//! Gaussian start with entry std `1/√h` and imbalance knob
//! `σ ∈ {1, 5, 100}` (THEORY §10), 50 seeds, 300 iterations, rules
//! `local`, `rate-optimal`, `xu2023`. A run stops at a relative gap of
//! `1e-12` (or at the precision floor). Plots `L − L*` (geometric mean over
//! seeds, min–max band) against the per-step certified bound
//! `∏_{s<t} ρ_s (L₀ − L*)` (THEORY §5) and the a-priori bound
//! `ρ̄ᵗ (L₀ − L*)` (THEORY §8), which is also checked along every run whose
//! steps all stayed below `η̄`.

use serde_json::json;

use super::common::{
    self, csv_num, csv_opt, table_num, table_opt, Csv, Ctx, ExperimentSummary, Outcome, RuleTally,
};
use crate::plot::{LinePlot, Series, Style};
use crate::problem::{InitName, Kappa, ProblemSpec, Record, RunResult};
use crate::report::{Section, Table};
use crate::Result;

const SIGMAS: [f64; 3] = [1.0, 5.0, 100.0];
/// The rules; `eta-bar` is the constant step `η̄` of the run's a-priori
/// certificate (THEORY §8), the step that the bound `ρ̄ᵗ` is about.
const RULES: [&str; 4] = ["local", "rate-optimal", "xu2023", "eta-bar"];
const ITERS: usize = 300;
const REL_TOL: f64 = 1e-12;

struct Run {
    res: RunResult,
    records: Vec<Record>,
    apriori_applies: bool,
    apriori_violations: u64,
}

/// Runs E1.
pub fn run(ctx: &Ctx) -> Result<Outcome> {
    let width = if ctx.quick { 100 } else { 1000 };
    let seeds = ctx.seeds;
    let tasks: Vec<(usize, usize)> = (0..SIGMAS.len())
        .flat_map(|si| (0..seeds).map(move |s| (si, s)))
        .collect();
    let spec_run = common::run_spec(ITERS, REL_TOL, true);
    let results: Vec<Vec<Option<Run>>> = ctx.par_map("E1", tasks.clone(), |&(si, s)| {
        let sigma = SIGMAS.get(si).copied().unwrap_or(1.0);
        // Same data and start noise for every σ at a given seed index.
        let spec = ProblemSpec {
            n: Some(20),
            m: Some(20),
            h: Some(width),
            samples: Some(20),
            kappa: Kappa::Orthogonal,
            init: InitName::Gaussian,
            sigma,
            scale: 1.0 / (width as f64).sqrt(),
            seed: common::task_seed("E1", "start", s),
            data_seed: Some(common::task_seed("E1", "data", s)),
            ..ProblemSpec::default()
        };
        let problem = common::build(&spec)?;
        let mut eta_bar = None;
        let mut out = Vec::new();
        for rule in RULES {
            let rule = if rule == "eta-bar" {
                match eta_bar {
                    // Shortest round-trip text: the run uses η̄ exactly.
                    Some(e) => format!("constant:{e:e}"),
                    None => {
                        out.push(None);
                        continue;
                    }
                }
            } else {
                rule.to_string()
            };
            let mut res = common::run_rule(&problem, &rule, &spec_run)?;
            eta_bar = res.apriori.eta_bar;
            let records = res.records.take().unwrap_or_default();
            let (apriori_applies, apriori_violations) = common::apriori_check(&res, &records);
            out.push(Some(Run {
                res,
                records,
                apriori_applies,
                apriori_violations,
            }));
        }
        Ok(out)
    })?;

    let mut runs_csv = Csv::new(
        "e1_runs.csv",
        &[
            "sigma",
            "rule",
            "seed",
            "status",
            "iterations",
            "initial_gap",
            "final_gap",
            "alpha0",
            "beta0",
            "alpha0_over_beta0",
            "apriori_certified",
            "eta_bar",
            "rho_bar",
            "apriori_applies",
            "apriori_violations",
            "steps_checked",
            "violations",
            "worst_ratio",
            "achieved_rate",
            "certified_rate",
        ],
    );
    let mut curve_csv = Csv::new(
        "e1.csv",
        &[
            "sigma",
            "rule",
            "t",
            "runs",
            "gap_geomean",
            "gap_min",
            "gap_max",
            "certified_bound_geomean",
            "apriori_bound_geomean",
        ],
    );
    let mut summary = ExperimentSummary {
        id: "E1".into(),
        title: "Rate validation".into(),
        settings: json!({
            "n": 20, "m": 20, "samples": 20, "h": width, "X": "orthogonal (X^T X = N I, mu = K = 1)",
            "theta_std": 1.0 / 20f64.sqrt(), "noise": 0.0,
            "init": "gaussian, entry std 1/sqrt(h), imbalance knob sigma",
            "sigmas": SIGMAS, "rules": RULES, "seeds": seeds, "iterations": ITERS,
            "relative_tolerance": REL_TOL,
        }),
        ..Default::default()
    };
    let mut section = Section {
        description: vec![
            format!(
                "Squared loss, N = n = m = 20, h = {width}, orthogonal X (X^T X = N I, so mu = K = 1), \
                 Theta ~ N(0, 1/n), Y = X Theta (L* = 0). Gaussian start with entry std 1/sqrt(h) \
                 and imbalance knob sigma (W1 = r U, W2 = V / r, r^2 - r^-2 = sigma; THEORY §10). \
                 {seeds} seeds per sigma (the same data and start noise for every sigma), at most \
                 {ITERS} iterations, stop at L - L* <= {REL_TOL:e} (L0 - L*)."
            ),
            "Plots: L - L* (geometric mean over seeds, band = min..max over seeds) of each rule, \
             its per-step certified bound prod_{s<t} rho_s (L0 - L*) (dashed, THEORY §5), and the \
             a-priori bound rho_bar^t (L0 - L*) of THEORY §8 (black dashed; it covers runs whose \
             steps all stay below eta_bar, and is checked on those)."
                .into(),
        ],
        ..Default::default()
    };
    let mut ab_table = Table {
        caption: "E1: conditioning of the start and a-priori certificate per sigma".into(),
        header: [
            "sigma",
            "alpha0/beta0 mean",
            "min",
            "max",
            "a-priori certificate",
            "rho_bar (mean)",
            "eta_bar (mean)",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    let mut rule_table = Table {
        caption: "E1: per sigma and rule (iterations to the 1e-12 relative gap; rates are geometric means per step)".into(),
        header: [
            "sigma",
            "rule",
            "converged",
            "median iterations",
            "achieved rate",
            "certified rate",
            "a-priori applied",
            "violations",
            "worst ratio",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };

    for (si, &sigma) in SIGMAS.iter().enumerate() {
        let group: Vec<&Vec<Option<Run>>> = tasks
            .iter()
            .zip(&results)
            .filter(|((s, _), _)| *s == si)
            .map(|(_, r)| r)
            .collect();
        // α₀/β₀ and a-priori per σ (same for every rule: taken from the first).
        let ab: Vec<f64> = group
            .iter()
            .filter_map(|rs| rs.first().and_then(Option::as_ref))
            .map(|r| r.res.alpha0_over_beta0)
            .collect();
        let cert: Vec<&RunResult> = group
            .iter()
            .filter_map(|rs| rs.first().and_then(Option::as_ref))
            .map(|r| &r.res)
            .filter(|r| r.apriori.certified)
            .collect();
        let rho_bars: Vec<f64> = cert.iter().filter_map(|r| r.apriori.rho_bar).collect();
        let eta_bars: Vec<f64> = cert.iter().filter_map(|r| r.apriori.eta_bar).collect();
        let (lo, hi) = common::min_max(&ab).unwrap_or((f64::NAN, f64::NAN));
        let reason = group
            .iter()
            .filter_map(|rs| rs.first().and_then(Option::as_ref))
            .find_map(|r| r.res.apriori.reason.clone());
        ab_table.rows.push(vec![
            crate::plot::format_tick(sigma),
            table_opt(common::mean(&ab)),
            table_num(lo),
            table_num(hi),
            if cert.len() == group.len() {
                format!("all {} seeds", group.len())
            } else {
                format!(
                    "{}/{} seeds{}",
                    cert.len(),
                    group.len(),
                    reason.map(|r| format!(" ({r})")).unwrap_or_default()
                )
            },
            table_opt(common::mean(&rho_bars)),
            table_opt(common::mean(&eta_bars)),
        ]);
        summary.findings.push(format!(
            "sigma = {}: alpha0/beta0 = {} (min {}, max {}); a-priori certificate for {}/{} seeds{}",
            crate::plot::format_tick(sigma),
            table_opt(common::mean(&ab)),
            table_num(lo),
            table_num(hi),
            cert.len(),
            group.len(),
            common::mean(&rho_bars)
                .map(|r| format!(", mean rho_bar = {}", table_num(r)))
                .unwrap_or_default()
        ));

        let mut series = Vec::new();
        for (ri, rule) in RULES.iter().enumerate() {
            let runs: Vec<&Run> = group
                .iter()
                .filter_map(|rs| rs.get(ri).and_then(Option::as_ref))
                .collect();
            if runs.is_empty() {
                continue;
            }
            let tally = summary.rules.entry(rule.to_string()).or_default();
            let mut per_sigma = RuleTally::default();
            for (s, r) in runs.iter().enumerate() {
                tally.add(&r.res, r.apriori_violations);
                per_sigma.add(&r.res, r.apriori_violations);
                let ab = r.res.alpha0_over_beta0;
                runs_csv.row(vec![
                    csv_num(sigma),
                    rule.to_string(),
                    s.to_string(),
                    r.res.status.name().to_string(),
                    r.res.iterations.to_string(),
                    csv_num(r.res.initial_gap),
                    csv_num(r.res.final_gap),
                    csv_num(r.res.alpha0),
                    csv_num(r.res.beta0),
                    csv_num(ab),
                    (r.res.apriori.certified as u8).to_string(),
                    csv_opt(r.res.apriori.eta_bar),
                    csv_opt(r.res.apriori.rho_bar),
                    (r.apriori_applies as u8).to_string(),
                    r.apriori_violations.to_string(),
                    r.res.tally.steps_checked.to_string(),
                    r.res.tally.violations.to_string(),
                    csv_num(r.res.tally.worst_ratio),
                    csv_opt(r.res.achieved_rate),
                    csv_opt(common::certified_rate(&r.records)),
                ])?;
            }
            // Curves: gap_t, certified bound B_t = gap0 ∏ ρ_s, a-priori ρ̄ᵗ gap0.
            let len = runs.iter().map(|r| r.records.len()).max().unwrap_or(0);
            let mut measured = Vec::new();
            let mut band = Vec::new();
            let mut certified = Vec::new();
            let mut apriori = Vec::new();
            let bounds: Vec<Vec<f64>> = runs
                .iter()
                .map(|r| {
                    let mut b = vec![r.res.initial_gap];
                    let mut acc = r.res.initial_gap;
                    for rec in &r.records {
                        acc *= rec.rho.max(0.0);
                        b.push(acc);
                    }
                    b
                })
                .collect();
            for t in 0..=len {
                let gaps: Vec<f64> = runs.iter().filter_map(|r| gap_at(r, t)).collect();
                if gaps.is_empty() {
                    continue;
                }
                let cb: Vec<f64> = runs
                    .iter()
                    .zip(&bounds)
                    .filter(|(r, _)| gap_at(r, t).is_some())
                    .filter_map(|(_, b)| b.get(t).copied())
                    .collect();
                let ap: Vec<f64> = runs
                    .iter()
                    .filter(|r| gap_at(r, t).is_some())
                    .filter_map(|r| {
                        r.res
                            .apriori
                            .rho_bar
                            .map(|rho| r.res.initial_gap * rho.powi(t as i32))
                    })
                    .collect();
                let g = common::geomean(&gaps);
                let (mn, mx) = common::min_max(&gaps).unwrap_or((f64::NAN, f64::NAN));
                let cbg = common::geomean(&cb);
                let apg = if *rule == "eta-bar" {
                    common::geomean(&ap)
                } else {
                    None
                };
                curve_csv.row(vec![
                    csv_num(sigma),
                    rule.to_string(),
                    t.to_string(),
                    gaps.len().to_string(),
                    csv_opt(g),
                    csv_num(mn),
                    csv_num(mx),
                    csv_opt(cbg),
                    csv_opt(apg),
                ])?;
                // The mean curves only while every seed's run is going
                // (runs stop at the tolerance at different times).
                let x = t as f64;
                let all = gaps.len() == runs.len();
                if let (Some(g), true) = (g, all) {
                    measured.push((x, g));
                }
                band.push((x, mn, mx));
                if let (Some(c), true) = (cbg, all) {
                    certified.push((x, c));
                }
                if let (Some(a), true) = (apg, all) {
                    apriori.push((x, a));
                }
            }
            series.push(
                Series::new(format!("{rule}: L - L*"), ri, Style::Solid, measured).with_band(band),
            );
            if *rule != "eta-bar" {
                series.push(Series::new(
                    format!("{rule}: certified bound"),
                    ri,
                    Style::Dashed,
                    certified,
                ));
            }
            if !apriori.is_empty() {
                series.push(Series::new(
                    "a-priori bound rho_bar^t (for eta-bar)",
                    6,
                    Style::Dashed,
                    apriori,
                ));
            }
            let ach: Vec<f64> = runs.iter().filter_map(|r| r.res.achieved_rate).collect();
            let cr: Vec<f64> = runs
                .iter()
                .filter_map(|r| common::certified_rate(&r.records))
                .collect();
            let applied = runs.iter().filter(|r| r.apriori_applies).count();
            rule_table.rows.push(vec![
                crate::plot::format_tick(sigma),
                rule.to_string(),
                format!("{}/{}", per_sigma.converged, per_sigma.runs),
                table_opt(per_sigma.median_iterations),
                table_opt(common::median(&ach)),
                table_opt(common::median(&cr)),
                format!("{applied}/{}", runs.len()),
                per_sigma.all_violations().to_string(),
                table_num(per_sigma.worst_ratio),
            ]);
            if let Some(reason) = &per_sigma.unavailable_reason {
                summary.findings.push(format!(
                    "sigma = {}: {rule} unavailable: {reason}",
                    crate::plot::format_tick(sigma)
                ));
            }
        }
        let file = format!("e1_gap_sigma{}.svg", sigma as u64);
        section.figures.push(common::figure(
            &file,
            &format!(
                "E1, sigma = {sigma}: L - L* over {seeds} seeds (geometric mean while every run \
                 is going, min..max band) against the per-step certified bound and the a-priori bound"
            ),
            &LinePlot {
                title: format!("E1 rate validation, sigma = {sigma}, h = {width}"),
                x_label: "iteration t [steps]".into(),
                y_label: "L - L* [loss units, log scale]".into(),
                log_x: false,
                log_y: true,
                series,
            },
        )?);
    }
    summary.finish();
    for (rule, t) in &summary.rules {
        summary.findings.push(format!(
            "{rule}: {}/{} runs converged, median {} iterations, {} violation(s), worst ratio {}",
            t.converged,
            t.runs,
            table_opt(t.median_iterations),
            t.all_violations(),
            table_num(t.worst_ratio)
        ));
    }
    section.tables = vec![ab_table, rule_table];
    Ok(Outcome {
        section,
        csvs: vec![curve_csv, runs_csv],
        timing: Vec::new(),
        summary,
    })
}

/// `L_t − L*` of a run at iteration `t` (`t = 0` is the start; `None`
/// after the run ended).
fn gap_at(r: &Run, t: usize) -> Option<f64> {
    if t == 0 {
        return Some(r.res.initial_gap);
    }
    r.records.get(t - 1).map(|rec| rec.next_gap)
}
