//! `overlin reproduce`: the standard experiments E1–E6 and E7
//! (guarantees from any iterate, THEORY §8.2) on a
//! built-in default, written to one folder as CSVs, SVG plots,
//! `summary.json` and a self-contained `report.html`.
//!
//! Determinism: every run's data and start come from a seed derived from
//! (experiment, configuration, seed index) ([`common::task_seed`]); runs are
//! independent and collected in input order, so every CSV is identical
//! whatever `--jobs`. Wall times go to separate files (`timing.csv`,
//! `e2_timing.csv`) so that this can be checked byte for byte.
//!
//! `--quick` (documented in [`QUICK_CHANGES`]) shrinks widths, seeds and
//! iteration caps so that the whole run takes seconds.

pub mod common;
pub mod e1;
pub mod e2;
pub mod e3;
pub mod e4;
pub mod e5;
pub mod e6;
pub mod e7;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::problem::Classes;
use crate::report::{self, Header};
use crate::{exit, output, Error, Result};
use common::{Ctx, ExperimentSummary, Outcome};

/// Arguments of `overlin reproduce`.
#[derive(Clone, Debug, Default)]
pub struct ReproduceArgs {
    /// Seconds instead of minutes.
    pub quick: bool,
    /// Output folder (default `results/`).
    pub out: std::path::PathBuf,
    /// Seeds per configuration (default per experiment).
    pub seeds: Option<usize>,
    /// Only these experiments, e.g. `["E1", "E3"]`.
    pub only: Option<Vec<String>>,
    /// Worker threads (default: all cores).
    pub jobs: Option<usize>,
    /// Overwrite an existing output folder.
    pub force: bool,
}

/// Seeds of E1 by default (the paper's 50); E2–E6 use `⌈seeds/10⌉` (5).
pub const DEFAULT_SEEDS: usize = 50;
/// Seeds of E1 with `--quick`.
pub const QUICK_SEEDS: usize = 3;

/// What `--quick` changes, exactly (also printed in the report).
pub const QUICK_CHANGES: &[&str] = &[
    "seeds: 3 instead of 50 for E1 (the other experiments derive theirs from --seeds: 1 each)",
    "E1: width h = 100 instead of 1000 (iterations still 300)",
    "E2: (a) h = 100 instead of 500, cap 1000 instead of 3000; (b) h = 100 instead of 200, kappa 3 instead of 10, cap 3000 instead of 20000; tuned-constant grid of 5 instead of 11 points",
    "E3: widths {20, 40, 100, 200} instead of {20, ..., 2000}; tolerance 1e-4 instead of 1e-6 relative; cap 3000 instead of 20000",
    "E4: width 40 instead of 100; cap 1000 instead of 5000",
    "E5: cap 2000 instead of 20000; tolerance 1e-4 instead of 1e-6 relative",
    "E6: kappa in {1, 3, 10} instead of {1, 3, 10, 30, 100}; tolerance 1e-4 instead of 1e-6 relative",
    "E7: cap 20000 instead of 100000",
];

/// The experiments, in order.
pub const ALL: [&str; 7] = ["E1", "E2", "E3", "E4", "E5", "E6", "E7"];

/// The run-wide part of summary.json.
#[derive(Serialize)]
struct Summary<'a> {
    overlin_version: &'static str,
    mode: &'static str,
    seeds: usize,
    quick_changes: Vec<&'static str>,
    experiments: &'a [ExperimentSummary],
    total_violations: u64,
    /// Checked steps of every experiment by class (THEORY §11).
    classes: Classes,
    /// No violation, and at least one step was certified.
    all_certificates_held: bool,
}

fn parse_only(only: &Option<Vec<String>>) -> Result<Vec<&'static str>> {
    let Some(list) = only else {
        return Ok(ALL.to_vec());
    };
    let mut chosen = Vec::new();
    for item in list {
        let t = item.trim();
        if t.is_empty() {
            continue;
        }
        let Some(id) = ALL.iter().find(|e| e.eq_ignore_ascii_case(t)) else {
            return Err(Error::input(format!(
                "--only: unknown experiment '{t}'; expected a comma-separated list of E1,E2,E3,E4,E5,E6,E7"
            )));
        };
        if !chosen.contains(id) {
            chosen.push(*id);
        }
    }
    if chosen.is_empty() {
        return Err(Error::input(
            "--only: no experiment given; expected e.g. E1,E3",
        ));
    }
    chosen.sort_by_key(|id| ALL.iter().position(|e| e == id));
    Ok(chosen)
}

fn run_experiment(id: &str, ctx: &Ctx) -> Result<Outcome> {
    match id {
        "E1" => e1::run(ctx),
        "E2" => e2::run(ctx),
        "E3" => e3::run(ctx),
        "E4" => e4::run(ctx),
        "E5" => e5::run(ctx),
        "E6" => e6::run(ctx),
        "E7" => e7::run(ctx),
        other => Err(Error::Internal(format!("unknown experiment {other}"))),
    }
}

fn write_outcome(dir: &Path, o: &Outcome) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for c in o.csvs.iter().chain(&o.timing) {
        output::write_string(&dir.join(&c.name), true, &c.text())?;
        files.push(c.name.clone());
    }
    for fig in &o.section.figures {
        output::write_string(&dir.join(&fig.file), true, &fig.svg)?;
        files.push(fig.file.clone());
    }
    Ok(files)
}

/// Runs the selected experiments and writes the output folder; returns
/// the process exit code ([`exit::VIOLATION`] when any certificate was
/// violated, printed loudly on stderr).
pub fn reproduce(args: &ReproduceArgs) -> Result<i32> {
    let chosen = parse_only(&args.only)?;
    if args.seeds == Some(0) {
        return Err(Error::input("--seeds must be at least 1"));
    }
    let threads = crate::resources::worker_threads(args.jobs)?;
    let out = if args.out.as_os_str().is_empty() {
        std::path::PathBuf::from("results")
    } else {
        args.out.clone()
    };
    // An empty folder holds nothing to overwrite (an earlier attempt may
    // have left one when it failed before writing anything).
    if out.exists() && !args.force && !output::is_empty_dir(&out) {
        return Err(Error::input(format!(
            "output folder {} already exists; pass --force to overwrite it",
            out.display()
        )));
    }
    let seeds = args.seeds.unwrap_or(if args.quick {
        QUICK_SEEDS
    } else {
        DEFAULT_SEEDS
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Internal(format!("thread pool: {e}")))?;
    let created = !out.exists();
    output::create_dir(&out, true)?;
    let done = reproduce_into(args, &out, &chosen, seeds, pool);
    // A run that ends before writing anything (Ctrl-C before the first
    // experiment finished, a full disk) leaves no empty folder behind; a
    // folder with files is kept (they are whole).
    if done.is_err() && created && output::is_empty_dir(&out) {
        let _ = std::fs::remove_dir(&out);
    }
    done
}

/// [`reproduce`] once the checks are made and the folder exists.
fn reproduce_into(
    args: &ReproduceArgs,
    out: &Path,
    chosen: &[&'static str],
    seeds: usize,
    pool: rayon::ThreadPool,
) -> Result<i32> {
    let ctx = Ctx {
        quick: args.quick,
        seeds,
        pool: Arc::new(pool),
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };

    let mode = if args.quick { "quick" } else { "default" };
    eprintln!(
        "overlin reproduce: {} ({mode}, {seeds} seeds for E1) -> {}",
        chosen.join(","),
        out.display()
    );
    let mut summaries = Vec::new();
    let mut sections = Vec::new();
    let mut timing = common::Csv::new("timing.csv", &["experiment", "runs", "wall_seconds"]);
    let mut walls = Vec::new();
    for id in chosen {
        let started = Instant::now();
        let mut o = run_experiment(id, &ctx)?;
        if crate::interrupted() {
            return Err(Error::Interrupted);
        }
        let wall = started.elapsed().as_secs_f64();
        let files = write_outcome(out, &o)?;
        o.summary.files = files.clone();
        o.section.files = files;
        o.summary.fill_section(&mut o.section);
        timing.row(vec![
            id.to_string(),
            o.summary.runs.to_string(),
            format!("{wall:.3}"),
        ])?;
        eprintln!(
            "{id}: {} runs, {} steps checked ({}), {} violation(s), worst ratio {:.6} ({wall:.1} s)",
            o.summary.runs,
            o.summary.steps_checked,
            o.summary.classes.text(),
            o.summary.violations,
            o.summary.worst_ratio
        );
        if o.summary.violations > 0 {
            eprintln!(
                "!!! CERTIFICATE VIOLATION in {id}: {} step(s) exceeded their certified bound \
                 (worst measured/bound ratio {:.6}). This is a bug or a false theorem; see {}.",
                o.summary.violations,
                o.summary.worst_ratio,
                out.join("report.html").display()
            );
        }
        walls.push(wall);
        summaries.push(o.summary);
        sections.push(o.section);
    }

    let total: u64 = summaries.iter().map(|s| s.violations).sum();
    let mut classes = Classes::default();
    for s in &summaries {
        classes.add(&s.classes);
    }
    let summary = Summary {
        overlin_version: env!("CARGO_PKG_VERSION"),
        mode,
        seeds,
        quick_changes: if args.quick {
            QUICK_CHANGES.to_vec()
        } else {
            Vec::new()
        },
        experiments: &summaries,
        total_violations: total,
        classes,
        all_certificates_held: total == 0 && classes.certified > 0,
    };
    output::write_json(&out.join("summary.json"), true, &summary)?;
    output::write_string(&out.join("timing.csv"), true, &timing.text())?;
    let mut command = String::from("overlin reproduce");
    if args.quick {
        command.push_str(" --quick");
    }
    let _ = write!(command, " --out {}", out.display());
    if let Some(s) = args.seeds {
        let _ = write!(command, " --seeds {s}");
    }
    if args.only.is_some() {
        let _ = write!(command, " --only {}", chosen.join(","));
    }
    let header = Header {
        command,
        mode: mode.into(),
        seeds,
        version: env!("CARGO_PKG_VERSION").into(),
        notes: if args.quick {
            std::iter::once("--quick changes:".to_string())
                .chain(QUICK_CHANGES.iter().map(|s| format!("• {s}")))
                .collect()
        } else {
            Vec::new()
        },
    };
    output::write_string(
        &out.join("report.html"),
        true,
        &report::render(&header, &sections),
    )?;

    print!("{}", summary_table(&summaries, &walls));
    println!(
        "wrote {} (report.html, summary.json, timing.csv and per-experiment CSV/SVG files)",
        out.display()
    );
    if total > 0 {
        eprintln!(
            "!!! {total} CERTIFICATE VIOLATION(S) in total: a measured ratio exceeded its bound \
             (exit code {}).",
            exit::VIOLATION
        );
        return Ok(exit::VIOLATION);
    }
    Ok(exit::OK)
}

/// The table printed on stdout.
pub fn summary_table(s: &[ExperimentSummary], walls: &[f64]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<4} {:<34} {:>6} {:>9} {:>10} {:>10} {:>8} {:>10} {:>8} {:>8} {:>10} {:>12} {:>8}",
        "exp",
        "title",
        "runs",
        "converged",
        "steps",
        "certified",
        "trivial",
        "below_res",
        "descent",
        "non_fin",
        "violations",
        "worst ratio",
        "wall s"
    );
    for (i, e) in s.iter().enumerate() {
        let conv: u64 = e.rules.values().map(|r| r.converged).sum();
        let title: String = e.title.chars().take(34).collect();
        let _ = writeln!(
            t,
            "{:<4} {:<34} {:>6} {:>9} {:>10} {:>10} {:>8} {:>10} {:>8} {:>8} {:>10} {:>12.6} {:>8.1}",
            e.id,
            title,
            e.runs,
            conv,
            e.steps_checked,
            e.classes.certified,
            e.classes.trivial,
            e.classes.below_resolution,
            e.classes.descent_only,
            e.classes.non_finite,
            e.violations,
            e.worst_ratio,
            walls.get(i).copied().unwrap_or(f64::NAN)
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_parses_case_insensitively_in_order() {
        let v = parse_only(&Some(vec!["e3".into(), "E1".into(), "e3".into()])).unwrap();
        assert_eq!(v, vec!["E1", "E3"]);
        assert!(parse_only(&Some(vec!["E9".into()])).is_err());
        assert!(parse_only(&Some(vec![" ".into()])).is_err());
        assert_eq!(parse_only(&None).unwrap().len(), ALL.len());
    }
}
