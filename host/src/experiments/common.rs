//! Shared machinery of the experiments: deterministic seeds, the parallel
//! map, CSV text, statistics, per-rule tallies.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use crate::problem::{Classes, Problem, ProblemSpec, Record, RunResult, RunSpec};
use crate::report::{Figure, Section};
use crate::status::RunStatus;
use crate::Result;

/// Everything an experiment needs from the command line.
pub struct Ctx {
    /// `--quick`.
    pub quick: bool,
    /// `--seeds` (or the default: 50, quick 3); the number of seeds of E1,
    /// the others derive theirs from it (see [`Ctx::seeds_for`]).
    pub seeds: usize,
    /// The worker pool (`--jobs`).
    pub pool: Arc<rayon::ThreadPool>,
    /// Draw progress bars (stderr is a terminal).
    pub progress: bool,
}

impl Ctx {
    /// Seeds of an experiment: `⌈seeds / divisor⌉`, at least 1.
    pub fn seeds_for(&self, divisor: usize) -> usize {
        self.seeds.div_ceil(divisor.max(1)).max(1)
    }

    /// Maps `f` over `items` on the worker pool, results in input order
    /// (so output never depends on `--jobs`), with a progress bar.
    pub fn par_map<I, O, F>(&self, label: &str, items: Vec<I>, f: F) -> Result<Vec<O>>
    where
        I: Send + Sync,
        O: Send,
        F: Fn(&I) -> Result<O> + Send + Sync,
    {
        let bar = if self.progress {
            let b = ProgressBar::new(items.len() as u64);
            b.set_draw_target(ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix:>4} [{bar:30}] {pos}/{len} runs  {elapsed_precise} (eta {eta})",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_prefix(label.to_string());
            b
        } else {
            ProgressBar::hidden()
        };
        let out: Vec<Result<O>> = self.pool.install(|| {
            items
                .par_iter()
                .map(|it| {
                    let r = if crate::interrupted() {
                        Err(crate::Error::Interrupted)
                    } else {
                        f(it)
                    };
                    bar.inc(1);
                    r
                })
                .collect()
        });
        bar.finish_and_clear();
        out.into_iter().collect()
    }
}

/// A 64-bit seed from an experiment name, a configuration key and a seed
/// index (SplitMix64 over the bytes): the same task always gets the same
/// numbers, whatever the order or thread it runs in.
pub fn task_seed(experiment: &str, key: &str, index: usize) -> u64 {
    let mut h: u64 = 0x243F_6A88_85A3_08D3;
    let mut mix = |x: u64| {
        h = h.wrapping_add(x).wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h = z ^ (z >> 31);
    };
    for b in experiment.bytes().chain([0xFF]).chain(key.bytes()) {
        mix(b as u64);
    }
    mix(index as u64);
    h
}

/// Builds a problem and runs one rule on it.
pub fn run_rule(problem: &Problem, rule: &str, spec: &RunSpec) -> Result<RunResult> {
    let run = RunSpec {
        rule: rule.to_string(),
        ..spec.clone()
    };
    problem.run(&run, &mut ())
}

/// What [`run_stats`] gathers while a run goes (no stored records).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// `Σ ln ρ_t` over the steps where Theorem 1 applied.
    pub log_rho_sum: f64,
    /// Steps where Theorem 1 applied.
    pub contraction_steps: u64,
    /// `α_t/β_t` at the last step.
    pub last_alpha_over_beta: Option<f64>,
}

impl Stats {
    /// Geometric mean of the certified `ρ_t`.
    pub fn certified_rate(&self) -> Option<f64> {
        (self.contraction_steps > 0)
            .then(|| (self.log_rho_sum / self.contraction_steps as f64).exp())
    }
}

/// Runs one rule, gathering [`Stats`] on the fly.
pub fn run_stats(problem: &Problem, rule: &str, spec: &RunSpec) -> Result<(RunResult, Stats)> {
    let run = RunSpec {
        rule: rule.to_string(),
        keep_records: false,
        ..spec.clone()
    };
    let mut st = Stats::default();
    let mut obs = |r: &Record| {
        if r.contraction_applies && r.rho > 0.0 {
            st.log_rho_sum += r.rho.ln();
            st.contraction_steps += 1;
        }
        if r.beta > 0.0 {
            st.last_alpha_over_beta = Some(r.alpha / r.beta);
        }
        true
    };
    let res = problem.run(&run, &mut obs)?;
    Ok((res, st))
}

/// A spec of a run with the given cap and relative tolerance.
pub fn run_spec(iters: usize, rel_tol: f64, keep_records: bool) -> RunSpec {
    RunSpec {
        rule: "local".into(),
        iters,
        tol: rel_tol,
        relative: true,
        certify: true,
        imbalance_every: 10,
        stall_window: 20,
        keep_records,
        anytime_every: 0,
    }
}

/// Builds a problem with one-line context on failure.
pub fn build(spec: &ProblemSpec) -> Result<Problem> {
    Problem::build(spec)
}

/// A float for a CSV cell: shortest round-trip form; empty for `None`.
pub fn csv_num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:e}")
    } else if x.is_nan() {
        "nan".into()
    } else if x > 0.0 {
        "inf".into()
    } else {
        "-inf".into()
    }
}

/// An optional float for a CSV cell.
pub fn csv_opt(x: Option<f64>) -> String {
    x.map(csv_num).unwrap_or_default()
}

/// A float for a human table: 4 significant digits.
pub fn table_num(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let a = x.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

/// A rate for a human table: `1-2.3e-5` when it is within `1e-4` of 1.
pub fn rate(x: f64) -> String {
    if x.is_finite() && x > 0.9999 && x < 1.0 {
        format!("1-{:.1e}", 1.0 - x)
    } else {
        table_num(x)
    }
}

/// An optional rate for a human table.
pub fn rate_opt(x: Option<f64>) -> String {
    x.map(rate).unwrap_or_else(|| "—".into())
}

/// An optional float for a human table (`—` when absent).
pub fn table_opt(x: Option<f64>) -> String {
    x.map(table_num).unwrap_or_else(|| "—".into())
}

/// A CSV document with a fixed header.
pub struct Csv {
    /// File name.
    pub name: String,
    header: Vec<&'static str>,
    body: String,
    rows: usize,
}

impl Csv {
    /// An empty CSV with this header.
    pub fn new(name: &str, header: &[&'static str]) -> Self {
        Self {
            name: name.to_string(),
            header: header.to_vec(),
            body: String::new(),
            rows: 0,
        }
    }

    /// Appends a row; its length must match the header.
    pub fn row(&mut self, cells: Vec<String>) -> Result<()> {
        if cells.len() != self.header.len() {
            return Err(crate::Error::Internal(format!(
                "{}: row of {} cells for a header of {}",
                self.name,
                cells.len(),
                self.header.len()
            )));
        }
        let cells: Vec<String> = cells.into_iter().map(|c| quote(&c)).collect();
        let _ = writeln!(self.body, "{}", cells.join(","));
        self.rows += 1;
        Ok(())
    }

    /// Rows so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// `true` when no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The whole document.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.header.join(","), self.body)
    }
}

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Geometric mean of the positive values (`None` when there are none).
pub fn geomean(v: &[f64]) -> Option<f64> {
    let logs: Vec<f64> = v
        .iter()
        .filter(|x| x.is_finite() && **x > 0.0)
        .map(|x| x.ln())
        .collect();
    (!logs.is_empty()).then(|| (logs.iter().sum::<f64>() / logs.len() as f64).exp())
}

/// Median of the finite values.
pub fn median(v: &[f64]) -> Option<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let k = s.len();
    Some(if k % 2 == 1 {
        s[k / 2]
    } else {
        0.5 * (s[k / 2 - 1] + s[k / 2])
    })
}

/// Arithmetic mean of the finite values.
pub fn mean(v: &[f64]) -> Option<f64> {
    let s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    (!s.is_empty()).then(|| s.iter().sum::<f64>() / s.len() as f64)
}

/// Min and max of the finite values.
pub fn min_max(v: &[f64]) -> Option<(f64, f64)> {
    let s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    let lo = s.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (!s.is_empty()).then_some((lo, hi))
}

/// Mean certified rate of a run: geometric mean of its `ρ_t` where
/// Theorem 1 applied.
pub fn certified_rate(records: &[Record]) -> Option<f64> {
    let rhos: Vec<f64> = records
        .iter()
        .filter(|r| r.contraction_applies)
        .map(|r| r.rho)
        .collect();
    geomean(&rhos)
}

/// Checks the a-priori certificate along a run (THEORY §8): while every
/// step so far was at most `η̄`, the invariants `α_s ≥ ᾱ`, `K_s(η_s) ≤ K̄`
/// hold, so each step contracts the gap by at least
/// `ρ̄(η_s) = 1 − μᾱη_s(2 − η_sK̄)` (which is `ρ̄` at `η_s = η̄`; smaller
/// steps keep the invariants but not the rate `ρ̄`), and
/// `L_t − L* ≤ ∏_{s<t} ρ̄(η_s) (L₀ − L*)` must hold (with the rounding
/// allowance of THEORY §11). Returns whether the theorem covered the whole
/// run (every `η_t ≤ η̄`) and the number of violations.
pub fn apriori_check(res: &RunResult, records: &[Record]) -> (bool, u64) {
    let a = &res.apriori;
    let (Some(eta_bar), Some(alpha_bar), Some(k_bar)) = (a.eta_bar, a.alpha_bar, a.k_bar) else {
        return (false, 0);
    };
    if !a.certified {
        return (false, 0);
    }
    let mu = res.constants.mu;
    let l_star = res.constants.l_star;
    let mut bound = res.initial_gap;
    let mut violations = 0u64;
    let mut applies = !records.is_empty();
    for r in records {
        if r.eta > eta_bar {
            applies = false;
            break;
        }
        bound *= apriori_factor(mu, alpha_bar, k_bar, r.eta);
        let tol = 8.0 * f64::EPSILON * (r.next_gap.abs() + l_star.abs() + 1.0);
        if r.next_gap > bound + tol {
            violations += 1;
        }
    }
    (applies, violations)
}

/// Theorem 2's guaranteed factor of one step `η ≤ η̄`:
/// `1 − μᾱη(2 − ηK̄)`, clamped to `[0, 1]` (THEORY §8).
pub fn apriori_factor(mu: f64, alpha_bar: f64, k_bar: f64, eta: f64) -> f64 {
    (1.0 - mu * alpha_bar * eta * (2.0 - eta * k_bar)).clamp(0.0, 1.0)
}

/// Counts of one rule (or configuration) over its runs, for summary.json.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RuleTally {
    /// Runs.
    pub runs: u64,
    /// Runs that reached the tolerance.
    pub converged: u64,
    /// Runs that hit the iteration cap.
    pub max_iters: u64,
    /// Runs that stalled at the precision floor.
    pub stalled: u64,
    /// Runs that diverged.
    pub diverged: u64,
    /// Runs whose rule gives no step here.
    pub rule_unavailable: u64,
    /// Runs that were stopped (interrupt).
    pub stopped: u64,
    /// Steps whose certificate was checked.
    pub steps_checked: u64,
    /// Per-step (Theorem 1 / Lemma 2) violations.
    pub violations: u64,
    /// Lemma 3 violations.
    pub imbalance_violations: u64,
    /// A-priori (Theorem 2) violations, where checked.
    pub apriori_violations: u64,
    /// Worst measured/bound ratio over certified steps.
    pub worst_ratio: f64,
    /// Checked steps by class (THEORY §11).
    pub classes: Classes,
    /// Median iterations of the converged runs.
    pub median_iterations: Option<f64>,
    /// Why the rule was unavailable (first reason seen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable_reason: Option<String>,
    #[serde(skip)]
    iters: Vec<f64>,
}

impl RuleTally {
    /// Adds a run (and its a-priori violations).
    pub fn add(&mut self, r: &RunResult, apriori_violations: u64) {
        self.runs += 1;
        match &r.status {
            RunStatus::Converged => {
                self.converged += 1;
                self.iters.push(r.iterations as f64);
            }
            RunStatus::MaxIters => self.max_iters += 1,
            RunStatus::Stalled => self.stalled += 1,
            RunStatus::Diverged { .. } => self.diverged += 1,
            RunStatus::RuleUnavailable { reason } => {
                self.rule_unavailable += 1;
                if self.unavailable_reason.is_none() {
                    self.unavailable_reason = Some(reason.clone());
                }
            }
            RunStatus::Stopped => self.stopped += 1,
        }
        self.steps_checked += r.tally.steps_checked as u64;
        self.classes.add(&r.tally.classes);
        // A broken guarantee from the certified-from step (THEORY §8.2)
        // counts like a per-step violation.
        self.violations += r.tally.violations as u64 + u64::from(r.anytime.anytime_violations);
        self.imbalance_violations += r.tally.imbalance_violations as u64;
        self.apriori_violations += apriori_violations;
        if r.tally.worst_ratio > self.worst_ratio || r.tally.worst_ratio.is_nan() {
            self.worst_ratio = r.tally.worst_ratio;
        }
        self.median_iterations = median(&self.iters);
    }

    /// All violations.
    pub fn all_violations(&self) -> u64 {
        self.violations + self.imbalance_violations + self.apriori_violations
    }
}

/// What one experiment hands back.
pub struct Outcome {
    /// Section of the report (with tables, figures, findings).
    pub section: Section,
    /// CSV files with deterministic content.
    pub csvs: Vec<Csv>,
    /// CSV files with wall times (not deterministic).
    pub timing: Vec<Csv>,
    /// The experiment's entry of summary.json.
    pub summary: ExperimentSummary,
}

/// An experiment in summary.json.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ExperimentSummary {
    /// `E1` … `E6`.
    pub id: String,
    /// Title.
    pub title: String,
    /// The settings actually used (sizes, seeds, caps).
    pub settings: serde_json::Value,
    /// Runs made.
    pub runs: u64,
    /// Steps whose certificate was checked.
    pub steps_checked: u64,
    /// All violations (per-step, Lemma 3, a-priori).
    pub violations: u64,
    /// Worst measured/bound ratio over the certified steps of every run.
    pub worst_ratio: f64,
    /// Checked steps by class (THEORY §11).
    pub classes: Classes,
    /// Per rule (or loss, or configuration) tallies.
    pub rules: BTreeMap<String, RuleTally>,
    /// Findings, one line each.
    pub findings: Vec<String>,
    /// Files written.
    pub files: Vec<String>,
}

impl ExperimentSummary {
    /// Totals from the per-rule tallies.
    pub fn finish(&mut self) {
        self.runs = self.rules.values().map(|t| t.runs).sum();
        self.steps_checked = self.rules.values().map(|t| t.steps_checked).sum();
        self.classes = Classes::default();
        for t in self.rules.values() {
            self.classes.add(&t.classes);
        }
        self.violations = self.rules.values().map(|t| t.all_violations()).sum();
        self.worst_ratio = self
            .rules
            .values()
            .map(|t| t.worst_ratio)
            .fold(0.0, |a, b| if b > a || b.is_nan() { b } else { a });
    }

    /// Fills the certificate facts of a report section from this summary.
    pub fn fill_section(&self, s: &mut Section) {
        s.id = self.id.clone();
        s.title = self.title.clone();
        s.steps_checked = self.steps_checked;
        s.classes = self.classes;
        s.violations = self.violations;
        s.worst_ratio = self.worst_ratio;
        s.findings = self.findings.clone();
    }
}

/// Renders a line plot into a [`Figure`].
pub fn figure(file: &str, caption: &str, plot: &crate::plot::LinePlot) -> Result<Figure> {
    Ok(Figure {
        file: file.to_string(),
        caption: caption.to_string(),
        svg: crate::plot::render_line(plot).map_err(|e| crate::Error::Internal(e.to_string()))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_by_key_and_index_and_are_stable() {
        let a = task_seed("E1", "sigma=1", 0);
        assert_eq!(a, task_seed("E1", "sigma=1", 0));
        assert_ne!(a, task_seed("E1", "sigma=1", 1));
        assert_ne!(a, task_seed("E1", "sigma=5", 0));
        assert_ne!(a, task_seed("E2", "sigma=1", 0));
        // The separator keeps ("E1", "x") and ("E1x", "") apart.
        assert_ne!(task_seed("E1", "x", 0), task_seed("E1x", "", 0));
    }

    #[test]
    fn stats() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert!((geomean(&[1.0, 100.0]).unwrap() - 10.0).abs() < 1e-12);
        assert_eq!(geomean(&[0.0, -1.0]), None);
        assert_eq!(min_max(&[2.0, f64::NAN, -1.0]), Some((-1.0, 2.0)));
    }

    #[test]
    fn csv_quotes_and_checks_width() {
        let mut c = Csv::new("x.csv", &["a", "b"]);
        c.row(vec!["1".into(), "x,y".into()]).unwrap();
        assert!(c.row(vec!["1".into()]).is_err());
        assert_eq!(c.text(), "a,b\n1,\"x,y\"\n");
    }
}
