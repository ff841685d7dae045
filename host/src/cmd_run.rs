//! `overlin run`: one training run, records streamed to `--csv`, summary
//! on stdout (text or `--json`), violations loudly on stderr.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::AtomicFile;
use crate::problem::{Problem, ProblemSpec, Record, RunResult, RunSpec, Sizes, CSV_HEADER};
use crate::status::RunStatus;
use crate::{exit, Error, Result};

/// Everything `overlin run` needs.
#[derive(Clone, Debug)]
pub struct RunArgs {
    /// The problem.
    pub problem: ProblemSpec,
    /// The run.
    pub run: RunSpec,
    /// Per-iteration CSV file.
    pub csv: Option<PathBuf>,
    /// Print the summary as JSON.
    pub json: bool,
    /// Overwrite an existing CSV.
    pub force: bool,
    /// Testing aid: give the certificate checker this multiple of `μ`
    /// ([`Problem::with_debug_inflated_mu`]; RELIABILITY.md).
    pub debug_inflate_mu: Option<f64>,
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
    {
        pb.set_style(style);
    }
    pb.set_prefix(what.to_string());
    pb
}

/// Work above which setting up a problem takes about a second or more
/// (floating-point operations, counted as in [`setup_work`]).
const ANNOUNCED_WORK: f64 = 1e9;

/// About how many floating-point operations setting up a problem of sizes
/// `s` takes: the eigenvalues of the `(n+m)²` imbalance matrix (Jacobi,
/// ~10 sweeps of `(n+m)³`), the least squares or `W*` solve on `X`
/// (`N·n²`) and the Grams of the start (`h(n+m)²`).
pub fn setup_work(s: Sizes) -> f64 {
    let (n, m, h, samples) = (s.n as f64, s.m as f64, s.h as f64, s.samples as f64);
    let p = n + m;
    10.0 * p * p * p + samples * n * n + h * p * p
}

/// Says that a problem of sizes `s` is being prepared, until
/// [`ProgressBar::finish_and_clear`]: a spinner on a terminal; otherwise
/// one line on stderr, only when the set-up is large ([`setup_work`] above
/// about a second), so that small runs print nothing extra. Called once the
/// sizes passed their checks, so that a refused problem prints one line.
pub fn preparing(s: Sizes) -> ProgressBar {
    let what = format!(
        "preparing the problem (n = {}, m = {}, h = {}, samples = {}): W*, spectra",
        s.n, s.m, s.h, s.samples
    );
    if !std::io::stderr().is_terminal() {
        if setup_work(s) >= ANNOUNCED_WORK {
            eprintln!("overlin: {what} ...");
        }
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
        pb.set_style(style);
    }
    pb.set_message(what);
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// Writes the CSV header ([`CSV_HEADER`]).
pub fn write_csv_header(w: &mut dyn Write) -> std::io::Result<()> {
    writeln!(w, "{}", CSV_HEADER.join(","))
}

/// Writes one CSV row.
pub fn write_csv_row(w: &mut dyn Write, r: &Record) -> std::io::Result<()> {
    writeln!(w, "{}", r.csv_fields().join(","))
}

/// Prints the loud certificate-violation banner on stderr.
pub fn report_violations(res: &RunResult, first: &[Record]) {
    if !res.violated() {
        return;
    }
    eprintln!(
        "!!! CERTIFICATE VIOLATED: {} of {} checked steps broke their bound (worst measured/bound ratio {:.6} over {} certified steps); \
         {} Lemma 3 imbalance violations; {} of {} steps broke the guarantee from the certified-from step \
         (worst gap/bound {:.6}). This is a bug or a false bound: please report it.",
        res.tally.violations,
        res.tally.steps_checked,
        res.tally.worst_ratio,
        res.tally.classes.certified,
        res.tally.imbalance_violations,
        res.anytime.anytime_violations,
        res.anytime.anytime_steps_checked,
        res.anytime.anytime_worst_ratio
    );
    for r in first {
        eprintln!(
            "!!!   step t={} ({}): gap {:e} -> {:e}, certified rho={:e} (eta={:e}, eta*K_t={:.4}), ratio to bound {:.6}, rounding allowance {:e}",
            r.t, r.class.name(), r.gap, r.next_gap, r.rho, r.eta, r.eta_k_t, r.bound_ratio, r.allowance
        );
    }
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.6e}")).unwrap_or_else(|| "-".into())
}

/// Human-readable summary of a run.
pub fn format_summary(res: &RunResult) -> String {
    let mut s = String::new();
    let status = &res.status;
    let c = &res.constants;
    let z = res.sizes;
    s += &format!(
        "problem      n={} m={} h={} samples={} precision={}  mu={:.6e} K={:.6e} L*={:.6e}\n",
        z.n, z.m, z.h, z.samples, res.precision, c.mu, c.k, c.l_star
    );
    if res.depth > 2 {
        s += &format!(
            "network      depth L={} (W = W1 ... WL, hidden widths h; THEORY §13)\n",
            res.depth
        );
    }
    if let Some(note) = &res.setting_note {
        s += &format!("note         {note}\n");
    }
    s += &format!(
        "start        L0-L*={:.6e}  alpha0={:.6e} beta0={:.6e} alpha0/beta0={:.6e}\n",
        res.initial_gap, res.alpha0, res.beta0, res.alpha0_over_beta0
    );
    if res.depth > 2 && !res.alpha_trace.is_empty() {
        let trace: Vec<String> = res
            .alpha_trace
            .iter()
            .map(|(t, a)| format!("t={t}: {a:.3e}"))
            .collect();
        s += &format!("alpha_t      {}\n", trace.join("  "));
    }
    s += &format!(
        "run          rule={} status={} iterations={} final gap={:.6e} (tol {:.3e})  achieved rate={}  time={:.3}s\n",
        res.rule, status, res.iterations, res.final_gap, res.tol_abs, opt(res.achieved_rate), res.wall_time_s
    );
    let t = &res.tally;
    s += &format!(
        "certificate  steps checked={} violations={}: {}\n",
        t.steps_checked,
        t.violations,
        t.verdict()
    );
    s += &format!("classes      {}\n", t.classes.text());
    let a = &res.apriori;
    if a.certified {
        s += &format!(
            "a-priori     eta_bar={} rho_bar={} alpha_bar={} beta_bar={} T(eps)={}\n",
            opt(a.eta_bar),
            opt(a.rho_bar),
            opt(a.alpha_bar),
            opt(a.beta_bar),
            a.iterations_to_tol
                .map(|v| v.to_string())
                .unwrap_or_else(|| "-".into())
        );
    } else {
        s += &format!(
            "a-priori     {}\n",
            a.reason.as_deref().unwrap_or("unknown")
        );
    }
    s += &format_anytime(res);
    s
}

/// The certified-from step and its guarantee (THEORY §8.2), one or two lines.
pub fn format_anytime(res: &RunResult) -> String {
    let a = &res.anytime;
    if a.anytime_every == 0 {
        return "anytime      off (--anytime-every 0)\n".into();
    }
    if res.depth > 2 {
        // Theorem 2 has no deep analogue yet, so no iterate can have one.
        return format!(
            "anytime      none at depth L = {}: the certificate from an iterate is open for L >= 3 \
             (THEORY §8.2, §13)\n",
            res.depth
        );
    }
    let Some(tc) = a.certified_from else {
        return format!(
            "anytime      no certificate at any checked iterate (every {} steps, {} computed): {}\n",
            a.anytime_every,
            a.anytime_computed,
            a.anytime_last_reason.as_deref().unwrap_or("-")
        );
    };
    let total = a
        .guaranteed_total
        .map(|v| v.to_string())
        .unwrap_or_else(|| "-".into());
    let mut s = format!(
        "anytime      certified from step {tc} (checked every {} steps): guaranteed remaining {} \
         guaranteed total {total} (eta_bar={} rho_bar={}, alpha_bar by {})\n",
        a.anytime_every,
        a.guaranteed_remaining
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-".into()),
        opt(a.anytime_eta_bar),
        opt(a.anytime_rho_bar),
        a.anytime_alpha_source.as_deref().unwrap_or("-"),
    );
    let used = match a.guaranteed_total {
        Some(t) if res.status == RunStatus::Converged && (res.iterations as u64) <= t => {
            format!("the run used {} iterations, within it", res.iterations)
        }
        Some(_) if res.status == RunStatus::Converged => {
            format!("the run used {} iterations, more than it", res.iterations)
        }
        _ => format!(
            "the run stopped after {} iterations ({})",
            res.iterations, res.status
        ),
    };
    s += &if a.anytime_applies {
        format!(
            "             {used}; every step from {tc} on was within eta_bar with at least its decrease, \
             so the guarantee applies and was checked on {} steps: {} violations (worst gap/bound {:.6})\n",
            a.anytime_steps_checked, a.anytime_violations, a.anytime_worst_ratio
        )
    } else {
        format!(
            "             {used}; the guarantee is for steps eta_t = eta_bar (or within eta_bar with at least \
             its decrease): step {} was not, so it does not cover this run (rule {}); {} steps checked before, {} violations\n",
            a.anytime_first_unqualified
                .map(|v| v.to_string())
                .unwrap_or_else(|| "-".into()),
            res.rule,
            a.anytime_steps_checked,
            a.anytime_violations
        )
    };
    s
}

/// Runs `overlin run`; returns the exit code.
pub fn run(args: &RunArgs) -> Result<i32> {
    args.run.validate()?;
    // Refuse an existing --csv before doing any work.
    let mut csv = match &args.csv {
        Some(p) => Some(AtomicFile::create(p, args.force)?),
        None => None,
    };
    let mut prep: Option<ProgressBar> = None;
    let mut problem = Problem::build_with(&args.problem, &mut |s| prep = Some(preparing(s)))?;
    if let Some(factor) = args.debug_inflate_mu {
        problem = problem.with_debug_inflated_mu(factor)?;
    }
    let io_err = |e: std::io::Error| Error::input(format!("cannot write CSV: {e}"));
    if let Some(f) = csv.as_mut() {
        write_csv_header(f).map_err(io_err)?;
    }
    // The trainer's set-up (the start's spectra) is part of preparing: the
    // spinner gives way to the progress bar at the first record.
    let mut pb: Option<ProgressBar> = None;
    let mut violations: Vec<Record> = Vec::new();
    let mut write_error: Option<std::io::Error> = None;
    let res = problem.run(&args.run, &mut |r: &Record| {
        if let Some(s) = prep.take() {
            s.finish_and_clear();
        }
        let pb = pb.get_or_insert_with(|| progress_bar(args.run.iters as u64, "run"));
        if let Some(f) = csv.as_mut() {
            if let Err(e) = write_csv_row(f, r) {
                write_error = Some(e);
                return false;
            }
        }
        if !r.holds && violations.len() < 5 {
            violations.push(*r);
        }
        if r.t.is_multiple_of(16) {
            pb.set_position(r.t as u64);
            pb.set_message(format!("gap {:.3e}", r.next_gap));
        }
        true
    });
    if let Some(s) = prep.take() {
        s.finish_and_clear();
    }
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let res = res?;
    if let Some(e) = write_error {
        return Err(io_err(e));
    }
    // Records up to a divergence or an interruption are kept: the file is whole.
    if let Some(f) = csv {
        f.commit()?;
    }
    if args.json {
        let s = serde_json::to_string_pretty(&res)
            .map_err(|e| Error::Internal(format!("cannot serialize JSON: {e}")))?;
        println!("{s}");
    } else {
        print!("{}", format_summary(&res));
    }
    report_violations(&res, &violations);
    if let Some(msg) = res.status.message(res.iterations, crate::interrupted()) {
        eprintln!("overlin: {msg}");
    }
    Ok(if crate::interrupted() {
        exit::INTERRUPTED
    } else {
        res.exit_code()
    })
}
