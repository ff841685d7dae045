//! The `overlin` command line. All the work is in the library;
//! this file only parses flags and maps results to exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use overlin::problem::{InitName, Kappa, LossName, Precision, ProblemSpec};
use overlin::{exit, Error};

const EXIT_CODES: &str = "\
Exit codes:
  0    success: runs ended (converged, max_iters or stalled), every certificate held
  1    internal error (a bug)
  2    bad input: flags, files, shapes, NaN, rank-deficient X, existing output without --force
  3    a run diverged (loss increased beyond rounding or became non-finite)
  4    a certificate was violated (measured ratio above its bound; printed on stderr)
  5    the step rule does not apply to this problem or start
  130  interrupted (Ctrl-C); finished files are whole, `sweep` resumes on rerun";

/// Certified gradient descent for overparametrized two-layer linear models
/// W = W1 W2 (local PL inequality and descent lemma; see THEORY.md).
#[derive(Parser, Debug)]
#[command(name = "overlin", version, after_help = EXIT_CODES, propagate_version = true, args_override_self = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Reproduce the standard experiments (E1-E6, and E7: guarantees from any iterate): CSVs, SVG plots, summary.json, report.html.
    #[command(after_help = EXIT_CODES)]
    Reproduce(ReproduceCli),
    /// One training run with a certificate at every step.
    #[command(after_help = EXIT_CODES)]
    Run(RunCli),
    /// The a-priori certificate (THEORY §8) next to the exact local constants at the start.
    #[command(after_help = EXIT_CODES)]
    Certify(CertifyCli),
    /// Run a grid of problems and rules; each cell is written atomically, a rerun resumes.
    #[command(after_help = SWEEP_HELP)]
    Sweep(overlin::sweep::SweepArgs),
    /// Join the cells of one or more sweep folders (shards) into merged.csv and merged.json.
    #[command(after_help = EXIT_CODES)]
    Merge(overlin::sweep::MergeArgs),
}

const SWEEP_HELP: &str = "\
Grid file (TOML): any problem or run field, a value or a list of values; the
cells are the cartesian product, numbered in a fixed order (keys sorted).

  loss = \"squared\"
  n = 10
  m = 5
  h = [16, 64]
  sigma = [0.0, 1.0, 10.0]
  seed = [0, 1, 2]
  rule = [\"local\", \"rate-optimal\"]
  iters = 500
  tol = 1e-8

Grids of more than 1000000 cells are refused unless --max-cells raises the
limit (each cell writes a file of about 2 KB). A cell whose values are
invalid or whose problem cannot be built is recorded as failed and the
others run; a grid none of whose cells can run is refused before any output.

Cluster job array: shard I of K runs the cells whose index is I-1 modulo K.
Every shard may write to the same shared folder or to its own; then merge:

  # Slurm (scripts/slurm/): submit.sh grid.toml runs/ 8
  sbatch --array=0-7 scripts/slurm/sweep.sbatch grid.toml runs/
  # GNU parallel / xargs on one machine:
  parallel overlin sweep --grid grid.toml --out runs/ --shard {}/8 --jobs 1 ::: 1 2 3 4 5 6 7 8
  seq 1 8 | xargs -P 8 -I{} overlin sweep --grid grid.toml --out runs/ --shard {}/8 --jobs 1
  overlin merge runs/

Exit codes:
  0    all cells finished and every certificate held
  2    bad input (grid file, flags) or some cells could not be run (listed)
  3    some run diverged      4  some certificate was violated
  5    the step rule does not apply in some cell (listed)
  130  interrupted (rerun the same command to resume)";

#[derive(Args, Debug)]
struct ReproduceCli {
    /// Small sizes and few seeds: seconds instead of minutes.
    #[arg(long)]
    quick: bool,
    /// Output folder.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Seeds per configuration (default per experiment).
    #[arg(long, allow_negative_numbers = true)]
    seeds: Option<usize>,
    /// Only these experiments, comma-separated (e.g. E1,E3).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, allow_negative_numbers = true)]
    jobs: Option<usize>,
    /// Overwrite an existing output folder.
    #[arg(long)]
    force: bool,
}

/// Problem flags shared by `run` and `certify`.
#[derive(Args, Debug, Clone)]
struct ProblemCli {
    /// Loss: squared|sensing|logcosh|softmax (THEORY §9).
    #[arg(long, default_value = "squared")]
    loss: LossName,
    /// Rows of W1 (features); from --x when given.
    #[arg(long, allow_negative_numbers = true)]
    n: Option<usize>,
    /// Columns of W2 (outputs / classes); from --y when given.
    #[arg(long, allow_negative_numbers = true)]
    m: Option<usize>,
    /// Hidden width h; from --w1 when given.
    #[arg(long, allow_negative_numbers = true)]
    h: Option<usize>,
    /// Layers L >= 2 of W = W1 W2 ... WL, every hidden width h (THEORY §13).
    #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
    depth: usize,
    /// Samples N (sensing: measurements p); from --x when given.
    #[arg(long, allow_negative_numbers = true)]
    samples: Option<usize>,
    /// Condition number of the generated X (>= 1), or orthogonal|identity|gaussian.
    #[arg(long, default_value = "10", allow_hyphen_values = true)]
    kappa: Kappa,
    /// Standard deviation of the target noise.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    noise: f64,
    /// Standard deviation of the planted Theta entries [default: 1/sqrt(n)].
    #[arg(long, allow_hyphen_values = true)]
    target_std: Option<f64>,
    /// Ridge gamma of the log-cosh loss.
    #[arg(long, default_value_t = 0.1, allow_hyphen_values = true)]
    gamma: f64,
    /// Ridge lambda of the softmax loss.
    #[arg(long, default_value_t = 0.01, allow_hyphen_values = true)]
    lambda: f64,
    /// Start: gaussian|scaled|orthogonal|spectral|spectral-target (THEORY §10) [default: gaussian].
    #[arg(long)]
    init: Option<InitName>,
    /// Imbalance knob sigma >= 0 (W1 <- r W1, W2 <- W2 / r, r^2 - r^-2 = sigma) [default: 1].
    #[arg(long, allow_hyphen_values = true)]
    sigma: Option<f64>,
    /// Entry std (gaussian), omega (scaled: std omega/sqrt(h)), multiplier (orthogonal, spectral) [default: 1; 0.1 with --depth >= 3].
    #[arg(long, allow_hyphen_values = true)]
    scale: Option<f64>,
    /// Seed of the start.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: u64,
    /// Seed of the generated data [default: --seed].
    #[arg(long, allow_negative_numbers = true)]
    data_seed: Option<u64>,
    /// Working precision: f32|f64.
    #[arg(long, default_value = "f64")]
    precision: Precision,
    /// User data X (.npy or .csv), N x n (sensing: p x n*m operator, row k = vec(A_k)).
    #[arg(long)]
    x: Option<PathBuf>,
    /// User targets Y (.npy or .csv), N x m (softmax: N x 1 labels or one-hot; sensing: p x 1).
    #[arg(long)]
    y: Option<PathBuf>,
    /// User start W1 (.npy or .csv), n x h.
    #[arg(long)]
    w1: Option<PathBuf>,
    /// User start W2 (.npy or .csv), h x m.
    #[arg(long)]
    w2: Option<PathBuf>,
}

impl ProblemCli {
    /// Says on stderr which start flags a user start (`--w1/--w2`) makes
    /// moot, so that a run is not mistaken for one from that start.
    fn warn_ignored(&self) {
        if self.w1.is_none() && self.w2.is_none() {
            return;
        }
        let ignored: Vec<&str> = [
            ("--init", self.init.is_some()),
            ("--sigma", self.sigma.is_some()),
            ("--scale", self.scale.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect();
        if !ignored.is_empty() {
            eprintln!(
                "overlin: warning: {} ignored: the start is read from --w1/--w2",
                ignored.join(", ")
            );
        }
    }

    fn spec(&self) -> ProblemSpec {
        ProblemSpec {
            loss: self.loss,
            n: self.n,
            m: self.m,
            h: self.h,
            depth: self.depth,
            samples: self.samples,
            kappa: self.kappa,
            noise: self.noise,
            target_std: self.target_std,
            gamma: self.gamma,
            lambda: self.lambda,
            init: self.init.unwrap_or_default(),
            sigma: self.sigma.unwrap_or(1.0),
            // Deep networks start small by default (THEORY §13: the
            // plateau near the saddle at 0, then α_t grows).
            scale: self
                .scale
                .unwrap_or(if self.depth >= 3 { 0.1 } else { 1.0 }),
            seed: self.seed,
            data_seed: self.data_seed,
            precision: self.precision,
            x: self.x.clone(),
            y: self.y.clone(),
            w1: self.w1.clone(),
            w2: self.w2.clone(),
        }
    }
}

#[derive(Args, Debug)]
struct RunCli {
    #[command(flatten)]
    problem: ProblemCli,
    /// Step rule: local|rate-optimal|constant:ETA|arora|du|xu2023|armijo (THEORY §6).
    #[arg(long, default_value = "local")]
    rule: String,
    /// Iteration cap [default: 1000; 20000 with --depth >= 3, whose small
    /// starts leave the saddle at 0 slowly (THEORY §13)].
    #[arg(long, allow_negative_numbers = true)]
    iters: Option<usize>,
    /// Tolerance on L - L* (absolute; see --relative).
    #[arg(long, default_value_t = 1e-10, allow_hyphen_values = true)]
    tol: f64,
    /// Make --tol relative: stop when L - L* <= tol (L0 - L*).
    #[arg(long)]
    relative: bool,
    /// Write one row per iteration: t,loss,gap,eta,alpha,beta,grad_spec,mu_t,k_t,rho,ratio,holds,drift,allowance,class.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Print the final summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Check Lemma 3's imbalance drift every N steps (0 = never); the
    /// spectrum costs O(h(n+m)^2), about one step's work.
    #[arg(long, default_value_t = 10, allow_negative_numbers = true)]
    imbalance_every: usize,
    /// Steps without progress before status `stalled`.
    #[arg(long, default_value_t = 20, allow_negative_numbers = true)]
    stall_window: usize,
    /// Recompute the a-priori certificate at the current iterate every K
    /// steps (THEORY §8.2; 0 = never): reports the certified-from step and a
    /// guaranteed total, and checks the run against it. One imbalance
    /// spectrum and one monotone search each time.
    #[arg(long, value_name = "K", default_value_t = overlin::problem::DEFAULT_ANYTIME_EVERY, allow_negative_numbers = true)]
    anytime_every: usize,
    /// Overwrite an existing --csv file.
    #[arg(long)]
    force: bool,
    /// Testing aid, hidden: certify with FACTOR times the true mu, so that
    /// violations must be reported (RELIABILITY.md). Never for results.
    #[arg(long, hide = true, value_name = "FACTOR", allow_hyphen_values = true)]
    debug_inflate_mu: Option<f64>,
}

#[derive(Args, Debug)]
struct CertifyCli {
    #[command(flatten)]
    problem: ProblemCli,
    /// Tolerance on L - L* for the guaranteed iteration count T(eps).
    #[arg(long, default_value_t = 1e-10, allow_hyphen_values = true)]
    tol: f64,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

fn dispatch(cli: Cli) -> overlin::Result<i32> {
    match cli.command {
        Command::Reproduce(r) => {
            let args = overlin::experiments::ReproduceArgs {
                quick: r.quick,
                out: r.out,
                seeds: r.seeds,
                only: r.only,
                jobs: r.jobs,
                force: r.force,
            };
            overlin::experiments::reproduce(&args)
        }
        Command::Run(r) => {
            r.problem.warn_ignored();
            let run = overlin::problem::RunSpec {
                rule: r.rule.clone(),
                iters: r
                    .iters
                    .unwrap_or(if r.problem.depth >= 3 { 20_000 } else { 1000 }),
                tol: r.tol,
                relative: r.relative,
                certify: true,
                imbalance_every: r.imbalance_every,
                stall_window: r.stall_window,
                keep_records: false,
                anytime_every: r.anytime_every,
            };
            overlin::cmd_run::run(&overlin::cmd_run::RunArgs {
                problem: r.problem.spec(),
                run,
                csv: r.csv,
                json: r.json,
                force: r.force,
                debug_inflate_mu: r.debug_inflate_mu,
            })
        }
        Command::Certify(c) => {
            c.problem.warn_ignored();
            overlin::cmd_certify::certify(&c.problem.spec(), c.tol, c.json)
        }
        Command::Sweep(s) => overlin::sweep::sweep(&s),
        Command::Merge(m) => overlin::sweep::merge(&m),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
                _ => {
                    // One line: clap's first line, without usage and tips.
                    let text = e.render().to_string();
                    let line = text
                        .lines()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("invalid arguments")
                        .trim()
                        .to_string();
                    let line = line.strip_prefix("error: ").unwrap_or(&line);
                    eprintln!("overlin: {line} (see overlin --help)");
                    return ExitCode::from(exit::INPUT as u8);
                }
            }
        }
    };
    overlin::install_interrupt_handler();
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            match &e {
                Error::Interrupted => eprintln!("overlin: interrupted"),
                other => eprintln!("overlin: error: {other}"),
            }
            e.exit_code()
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
