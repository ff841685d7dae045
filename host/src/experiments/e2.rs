//! E2 step sizes. Two problems:
//! (a) `N = n = 20, m = 1, h = 500`, `X = I`, `Θ ~ N(0, 0.5²)`,
//! `Y = XΘ + 0.04·noise`, spectral balanced start (`D₀ = 0`, THEORY §10)
//! factorizing `0.1·R` with `R ~ N(0, 1/n)` entries (a small random matrix:
//! starting from a factorization of `W*` itself would be trivial);
//! (b) squared loss with `κ(X) = 10`, `n = m = 20`, `N = 40`, `h = 200`,
//! `Θ ~ N(0, 1/n)`, noise 0.01, Gaussian start (entry std `1/√h`, `σ = 1`).
//! Every rule of THEORY §6; constant steps at ¼, ½, 1, 2, 4 × the initial
//! `local` step `η₀ = 1/(Kβ₀ + ‖G₀‖₂)`; the best constant over the
//! geometric grid `η₀·2^{k/2}`, `k = −2..8` (the oracle "best tuned").
//! Target: a relative gap of `1e-10`. Seeds: `⌈seeds/10⌉` (5 by default).

use serde_json::json;

use super::common::{
    self, csv_num, csv_opt, table_num, table_opt, Csv, Ctx, ExperimentSummary, Outcome, RuleTally,
};
use crate::plot::{LinePlot, Series, Style};
use crate::problem::{InitName, Kappa, ProblemSpec, Record, RunResult};
use crate::report::{Section, Table};
use crate::status::RunStatus;
use crate::Result;

const REL_TOL: f64 = 1e-10;
const NAMED: [&str; 6] = ["local", "rate-optimal", "xu2023", "arora", "du", "armijo"];
const MULTIPLES: [f64; 5] = [0.25, 0.5, 1.0, 2.0, 4.0];

#[derive(Clone, Copy)]
struct Prob {
    key: &'static str,
    spec: fn(quick: bool) -> ProblemSpec,
    iters: fn(quick: bool) -> usize,
    what: fn(quick: bool) -> String,
}

fn spec_a(quick: bool) -> ProblemSpec {
    ProblemSpec {
        n: Some(20),
        m: Some(1),
        h: Some(if quick { 100 } else { 500 }),
        samples: Some(20),
        kappa: Kappa::Identity,
        target_std: Some(0.5),
        noise: 0.04,
        init: InitName::Spectral,
        scale: 0.1,
        ..ProblemSpec::default()
    }
}

fn spec_b(quick: bool) -> ProblemSpec {
    let width = if quick { 100 } else { 200 };
    ProblemSpec {
        n: Some(20),
        m: Some(20),
        h: Some(width),
        samples: Some(40),
        kappa: Kappa::Value(if quick { 3.0 } else { 10.0 }),
        noise: 0.01,
        init: InitName::Gaussian,
        sigma: 1.0,
        scale: 1.0 / (width as f64).sqrt(),
        ..ProblemSpec::default()
    }
}

const PROBS: [Prob; 2] = [
    Prob {
        key: "a",
        spec: spec_a,
        iters: |q| if q { 1000 } else { 3000 },
        what: |q| {
            format!(
                "(a) N = n = 20, m = 1, h = {}, X = I, Theta ~ N(0, 0.5^2), Y = X Theta + 0.04 noise; \
                 spectral balanced start (D0 = 0) factorizing 0.1 R, R ~ N(0, 1/n)",
                if q { 100 } else { 500 }
            )
        },
    },
    Prob {
        key: "b",
        spec: spec_b,
        iters: |q| if q { 3000 } else { 20000 },
        what: |q| {
            format!(
                "(b) squared loss, kappa(X) = {}, n = m = 20, N = 40, h = {}, Theta ~ N(0, 1/n), \
                 noise 0.01; Gaussian start (entry std 1/sqrt(h), sigma = 1)",
                if q { 3 } else { 10 },
                if q { 100 } else { 200 }
            )
        },
    },
];

fn grid(quick: bool) -> Vec<f64> {
    if quick {
        (-1..=3).map(|k| 2f64.powi(k)).collect()
    } else {
        (-2..=8).map(|k| 2f64.powf(k as f64 / 2.0)).collect()
    }
}

/// One run of the experiment.
#[derive(Clone, Debug)]
enum Which {
    Named(&'static str),
    Multiple(f64),
    Grid(f64),
}

impl Which {
    fn label(&self) -> String {
        match self {
            Which::Named(n) => n.to_string(),
            Which::Multiple(x) => format!("constant x{x}"),
            Which::Grid(x) => format!("grid x{}", crate::plot::format_tick(*x)),
        }
    }
}

struct Task {
    prob: usize,
    seed: usize,
    which: Which,
}

struct Done {
    eta0: f64,
    res: RunResult,
    records: Vec<Record>,
}

fn problem_spec(p: &Prob, quick: bool, seed: usize) -> ProblemSpec {
    ProblemSpec {
        seed: common::task_seed("E2", &format!("{}-start", p.key), seed),
        data_seed: Some(common::task_seed("E2", &format!("{}-data", p.key), seed)),
        ..(p.spec)(quick)
    }
}

/// Runs E2.
pub fn run(ctx: &Ctx) -> Result<Outcome> {
    let seeds = ctx.seeds_for(10);
    let grid = grid(ctx.quick);
    let mut tasks = Vec::new();
    for prob in 0..PROBS.len() {
        for seed in 0..seeds {
            for n in NAMED {
                tasks.push(Task {
                    prob,
                    seed,
                    which: Which::Named(n),
                });
            }
            for x in MULTIPLES {
                tasks.push(Task {
                    prob,
                    seed,
                    which: Which::Multiple(x),
                });
            }
            for &x in &grid {
                tasks.push(Task {
                    prob,
                    seed,
                    which: Which::Grid(x),
                });
            }
        }
    }
    let quick = ctx.quick;
    let done: Vec<Done> = ctx.par_map("E2", tasks, |t| {
        let p = &PROBS[t.prob];
        let problem = common::build(&problem_spec(p, quick, t.seed))?;
        let eta0 = problem.certify(1e-10)?.start.eta_local0;
        let rule = match &t.which {
            Which::Named(n) => n.to_string(),
            Which::Multiple(x) | Which::Grid(x) => format!("constant:{:e}", x * eta0),
        };
        // Traces for the plots: seed 0, named rules and multiples.
        let keep = t.seed == 0 && !matches!(t.which, Which::Grid(_));
        let spec = common::run_spec((p.iters)(quick), REL_TOL, keep);
        let mut res = common::run_rule(&problem, &rule, &spec)?;
        let records = res.records.take().unwrap_or_default();
        Ok(Done { eta0, res, records })
    })?;
    // Re-create the task list (par_map consumed it) in the same order.
    let mut labels = Vec::new();
    for prob in 0..PROBS.len() {
        for seed in 0..seeds {
            for n in NAMED {
                labels.push((prob, seed, Which::Named(n)));
            }
            for x in MULTIPLES {
                labels.push((prob, seed, Which::Multiple(x)));
            }
            for &x in &grid {
                labels.push((prob, seed, Which::Grid(x)));
            }
        }
    }

    let mut runs_csv = Csv::new(
        "e2.csv",
        &[
            "problem",
            "rule",
            "seed",
            "eta",
            "eta0_local",
            "status",
            "iterations",
            "iterations_to_1e-10",
            "final_relative_gap",
            "steps_checked",
            "contraction_steps",
            "violations",
            "worst_ratio",
            "note",
        ],
    );
    let mut grid_csv = Csv::new(
        "e2_grid.csv",
        &["problem", "seed", "factor", "eta", "status", "iterations"],
    );
    let mut trace_csv = Csv::new("e2_trace.csv", &["problem", "rule", "t", "gap", "eta"]);
    let mut timing = Csv::new(
        "e2_timing.csv",
        &["problem", "rule", "seed", "iterations", "wall_seconds"],
    );
    let mut summary = ExperimentSummary {
        id: "E2".into(),
        title: "Step sizes".into(),
        settings: json!({
            "problems": PROBS.iter().map(|p| (p.what)(quick)).collect::<Vec<_>>(),
            "rules": NAMED, "constant_multiples_of_eta0": MULTIPLES, "tuned_grid_factors": grid,
            "relative_tolerance": REL_TOL, "seeds": seeds,
            "iteration_caps": PROBS.iter().map(|p| (p.iters)(quick)).collect::<Vec<_>>(),
        }),
        ..Default::default()
    };
    let mut section = Section {
        description: vec![
            (PROBS[0].what)(quick),
            (PROBS[1].what)(quick),
            format!(
                "Every rule of THEORY §6; constant steps at 1/4, 1/2, 1, 2, 4 x the initial local \
                 step eta0 = 1/(K beta0 + ||G0||); 'best constant' = the constant step of the grid \
                 eta0 x 2^(k/2) ({} points) that reaches the target in the fewest iterations (an \
                 oracle). Target: L - L* <= {REL_TOL:e} (L0 - L*). {seeds} seed(s); plots show seed 0. \
                 Wall times are in e2_timing.csv (they depend on the machine and on --jobs).",
                grid.len()
            ),
        ],
        ..Default::default()
    };

    for (pi, p) in PROBS.iter().enumerate() {
        let mut rows: Vec<(String, Vec<&Done>)> = Vec::new();
        let mut best_per_seed: Vec<Option<(f64, &Done)>> = vec![None; seeds];
        let mut grid_tally = RuleTally::default();
        for ((prob, seed, which), d) in labels.iter().zip(&done) {
            if *prob != pi {
                continue;
            }
            let eta = d.records.first().map(|r| r.eta);
            let conv = d.res.status == RunStatus::Converged;
            timing.row(vec![
                p.key.into(),
                which.label(),
                seed.to_string(),
                d.res.iterations.to_string(),
                format!("{:.6}", d.res.wall_time_s),
            ])?;
            match which {
                Which::Grid(x) => {
                    grid_tally.add(&d.res, 0);
                    grid_csv.row(vec![
                        p.key.into(),
                        seed.to_string(),
                        csv_num(*x),
                        csv_num(x * d.eta0),
                        d.res.status.name().to_string(),
                        d.res.iterations.to_string(),
                    ])?;
                    if conv {
                        let slot = &mut best_per_seed[*seed];
                        let better = match slot {
                            Some((_, b)) => d.res.iterations < b.res.iterations,
                            None => true,
                        };
                        if better {
                            *slot = Some((*x, d));
                        }
                    }
                }
                _ => {
                    row(&mut runs_csv, p.key, &which.label(), *seed, d, eta)?;
                    push(&mut rows, which.label(), d);
                }
            }
        }
        for (seed, b) in best_per_seed.iter().enumerate() {
            if let Some((x, d)) = b {
                let label = format!("best constant (x{})", crate::plot::format_tick(*x));
                row(&mut runs_csv, p.key, &label, seed, d, Some(x * d.eta0))?;
                push(&mut rows, "best constant".into(), d);
            }
        }
        let mut table = Table {
            caption: format!(
                "E2 {}: iterations to a {REL_TOL:e} relative gap (median over seeds) and wall time",
                p.key
            ),
            header: [
                "rule",
                "converged",
                "median iterations",
                "first step eta_0",
                "median wall ms",
                "violations",
                "worst ratio",
                "note",
            ]
            .map(String::from)
            .to_vec(),
            rows: Vec::new(),
        };
        let mut gap_series = Vec::new();
        let mut eta_series = Vec::new();
        for (k, (label, ds)) in rows.iter().enumerate() {
            let mut t = RuleTally::default();
            for d in ds {
                t.add(&d.res, 0);
            }
            let walls: Vec<f64> = ds.iter().map(|d| d.res.wall_time_s * 1e3).collect();
            let eta_first: Vec<f64> = ds
                .iter()
                .filter_map(|d| d.records.first().map(|r| r.eta))
                .collect();
            table.rows.push(vec![
                label.clone(),
                format!("{}/{}", t.converged, t.runs),
                table_opt(t.median_iterations),
                table_opt(common::median(&eta_first)),
                table_opt(common::median(&walls)),
                t.all_violations().to_string(),
                table_num(t.worst_ratio),
                note(&ds[0].res),
            ]);
            summary.findings.push(format!(
                "{}: {label}: {}/{} converged, median {} iterations",
                p.key,
                t.converged,
                t.runs,
                table_opt(t.median_iterations)
            ));
            // The best constant is one of the grid runs, tallied there.
            if label != "best constant" {
                summary.rules.insert(format!("{}:{label}", p.key), t);
            }
            // Seed-0 traces (the best constant has none: grid runs keep no records).
            if let Some(d) = ds.first() {
                if d.records.is_empty() {
                    continue;
                }
                let style = if label.starts_with("constant") {
                    Style::Dashed
                } else {
                    Style::Solid
                };
                let color = k % 8;
                let stride = (d.records.len() / 600).max(1);
                let mut gaps = vec![(0.0, d.res.initial_gap)];
                let mut etas = Vec::new();
                for (i, r) in d.records.iter().enumerate() {
                    if i % stride == 0 || i + 1 == d.records.len() {
                        gaps.push(((r.t + 1) as f64, r.next_gap));
                        etas.push((r.t as f64, r.eta));
                        trace_csv.row(vec![
                            p.key.into(),
                            label.clone(),
                            r.t.to_string(),
                            csv_num(r.gap),
                            csv_num(r.eta),
                        ])?;
                    }
                }
                gap_series.push(Series::new(label.clone(), color, style, gaps));
                eta_series.push(Series::new(label.clone(), color, style, etas));
            }
        }
        summary
            .rules
            .insert(format!("{}:tuned grid (all points)", p.key), grid_tally);
        section.tables.push(table);
        section.figures.push(common::figure(
            &format!("e2{}_gap.svg", p.key),
            &format!(
                "E2 {}: L - L* against iterations, every rule (seed 0)",
                p.key
            ),
            &LinePlot {
                title: format!("E2 ({}) loss gap by step-size rule", p.key),
                x_label: "iteration t + 1 [steps, log scale]".into(),
                y_label: "L - L* [loss units, log scale]".into(),
                log_x: true,
                log_y: true,
                series: shift_x(gap_series),
            },
        )?);
        section.figures.push(common::figure(
            &format!("e2{}_step.svg", p.key),
            &format!("E2 {}: step size eta_t against iterations (seed 0)", p.key),
            &LinePlot {
                title: format!("E2 ({}) step size by rule", p.key),
                x_label: "iteration t + 1 [steps, log scale]".into(),
                y_label: "step size eta_t [weight^2/loss, log scale]".into(),
                log_x: true,
                log_y: true,
                series: shift_x(eta_series),
            },
        )?);
    }
    summary.finish();
    Ok(Outcome {
        section,
        csvs: vec![runs_csv, grid_csv, trace_csv],
        timing: vec![timing],
        summary,
    })
}

fn push<'a>(rows: &mut Vec<(String, Vec<&'a Done>)>, label: String, d: &'a Done) {
    if let Some(e) = rows.iter_mut().find(|(l, _)| *l == label) {
        e.1.push(d);
    } else {
        rows.push((label, vec![d]));
    }
}

/// Log x axes need `t + 1`.
fn shift_x(series: Vec<Series>) -> Vec<Series> {
    series
        .into_iter()
        .map(|mut s| {
            for p in &mut s.points {
                p.0 += 1.0;
            }
            s
        })
        .collect()
}

fn note(r: &RunResult) -> String {
    match &r.status {
        RunStatus::RuleUnavailable { reason } => reason.clone(),
        RunStatus::MaxIters => format!("cap of {} iterations reached", r.iterations),
        RunStatus::Diverged { at } => format!("diverged at step {at}"),
        RunStatus::Stalled => format!(
            "stalled: no decrease beyond rounding for 20 steps (gap {:.3e})",
            r.final_gap
        ),
        RunStatus::Converged | RunStatus::Stopped => String::new(),
    }
}

fn row(
    csv: &mut Csv,
    prob: &str,
    label: &str,
    seed: usize,
    d: &Done,
    eta: Option<f64>,
) -> Result<()> {
    let conv = d.res.status == RunStatus::Converged;
    let rel = if d.res.initial_gap > 0.0 {
        d.res.final_gap / d.res.initial_gap
    } else {
        0.0
    };
    csv.row(vec![
        prob.into(),
        label.into(),
        seed.to_string(),
        csv_opt(eta),
        csv_num(d.eta0),
        d.res.status.name().to_string(),
        d.res.iterations.to_string(),
        if conv {
            d.res.iterations.to_string()
        } else {
            String::new()
        },
        csv_num(rel),
        d.res.tally.steps_checked.to_string(),
        d.res.tally.contraction_steps.to_string(),
        d.res.tally.violations.to_string(),
        csv_num(d.res.tally.worst_ratio),
        note(&d.res),
    ])
}
