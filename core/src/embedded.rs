//! The fixed-size experiment the firmware runs, shared with the
//! host so that both execute literally the same code.
//!
//! Everything a firmware run depends on lives here: the problem generator
//! (squared loss of THEORY §9.1 from a seed), the start (THEORY §10), the
//! two step rules (`local` and a constant step, THEORY §6.1–§6.2), the stop
//! rule, the build-time configuration parser, the check of the a-priori
//! certificate along the run (THEORY §8), and the exact encoding of a step
//! record and a summary as words of bits. The firmware logs those words over
//! `defmt`; the host test builds the same words from a host run of the same
//! functions and compares them bit for bit.
//!
//! All sizes are `Const`, so nothing here needs an allocator.

use nalgebra::{Const, DefaultAllocator, DimAdd, OMatrix};

use crate::apriori::{AprioriCertificate, NoCertificate};
use crate::certificate::Verdict;
use crate::data;
use crate::dims::NetAllocator;
use crate::error::ProblemError;
use crate::gd::{Status, StepRecord, Summary, Tolerance, Trainer, TrainerConfig};
use crate::init::{Init, Rng};
use crate::loss::SquaredLoss;
use crate::net::Net;
use crate::rules::{RuleUnavailable, StepRule};
use crate::scalar::Real;

/// Sizes of one experiment: `N` samples, `n×m` model, hidden width `h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sizes {
    /// Samples `N` (rows of `X` and `Y`).
    pub samples: usize,
    /// Input dimension `n` (columns of `X`, rows of `W₁`).
    pub n: usize,
    /// Hidden width `h`.
    pub h: usize,
    /// Output dimension `m` (columns of `Y`, `W₂`).
    pub m: usize,
}

/// The configuration that fits the smallest target (Cortex-M3, 64 KiB RAM):
/// `N = 8`, `n = m = 4`, `h = 16`.
pub mod small {
    /// Samples `N`.
    pub const S: usize = 8;
    /// `n`.
    pub const N: usize = 4;
    /// `h`.
    pub const H: usize = 16;
    /// `m`.
    pub const M: usize = 4;
}

/// The larger configuration (Cortex-M4F): `N = 32`, `n = m = 8`, `h = 64`.
pub mod large {
    /// Samples `N`.
    pub const S: usize = 32;
    /// `n`.
    pub const N: usize = 8;
    /// `h`.
    pub const H: usize = 64;
    /// `m`.
    pub const M: usize = 8;
}

/// The squared loss of an experiment with fixed sizes.
pub type FixedSquaredLoss<T, const S: usize, const N: usize, const M: usize> =
    SquaredLoss<T, Const<S>, Const<N>, Const<M>>;

/// The trainer of an experiment with fixed sizes.
pub type FixedTrainer<T, const S: usize, const N: usize, const H: usize, const M: usize> =
    Trainer<T, Const<N>, Const<H>, Const<M>, FixedSquaredLoss<T, S, N, M>>;

/// Default seed of the firmware experiment.
pub const DEFAULT_SEED: u64 = 2025;
/// Default: log every this many steps.
pub const DEFAULT_LOG_EVERY: u32 = 10;
/// Default constant step of the `constant` run.
pub const DEFAULT_CONSTANT_STEP: f64 = 0.1;
/// Iteration cap of the experiment.
pub const MAX_ITERS: usize = 200;
/// Relative gap at which a run counts as converged.
pub const RELATIVE_TOLERANCE: f64 = 1e-6;

/// Condition number `σ_max(X)/σ_min(X)` of the data.
const DATA_KAPPA: f64 = 2.0;
/// Entry standard deviation of the regression coefficients `Θ`.
const THETA_STD: f64 = 1.0;
/// Standard deviation of the label noise (so that `L* > 0`).
const NOISE_STD: f64 = 0.1;
/// Imbalance knob `σ` of the start (THEORY §10); positive so that
/// `α_imb(D₀) > 0` and Theorem 2 can apply.
const INIT_SIGMA: f64 = 2.0;
/// Scale of the orthogonal start.
const INIT_SCALE: f64 = 1.0;

/// The squared-regression problem of the experiment (THEORY §9.1), from
/// `rng`: `X` with condition number `κ = 2` ([`data::conditioned_data`]:
/// `σ(X)²/N ∈ [1/4, 1]`, so `μ = 1/4`, `K = 1`), then `Θ` with standard
/// entries and `Y = XΘ + 0.1·E` ([`data::linear_targets`], so `L* > 0`).
/// The generators use the core's fixed-order kernels, so the data are the
/// same bits on every target.
pub fn squared_problem<T: Real, const S: usize, const N: usize, const M: usize>(
    rng: &mut Rng,
) -> Result<FixedSquaredLoss<T, S, N, M>, ProblemError> {
    let mut x = OMatrix::<T, Const<S>, Const<N>>::zeros();
    data::conditioned_data(&mut x, DATA_KAPPA, rng)?;
    let mut theta = OMatrix::<T, Const<N>, Const<M>>::zeros();
    let mut y = OMatrix::<T, Const<S>, Const<M>>::zeros();
    data::linear_targets(&x, &mut theta, &mut y, THETA_STD, NOISE_STD, rng)?;
    SquaredLoss::new(x, y)
}

/// The whole experiment from a seed: the problem, then the start (an
/// orthogonal start with imbalance knob `σ = 2`, THEORY §10), both drawn
/// from one [`Rng`] in that order.
pub fn firmware_experiment<
    T: Real,
    const S: usize,
    const N: usize,
    const H: usize,
    const M: usize,
>(
    seed: u64,
) -> Result<(Net<T, N, H, M>, FixedSquaredLoss<T, S, N, M>), ProblemError> {
    let mut rng = Rng::new(seed);
    let loss = squared_problem::<T, S, N, M>(&mut rng)?;
    let net = Init::Orthogonal {
        sigma: INIT_SIGMA,
        scale: INIT_SCALE,
    }
    .sample(Const::<N>, Const::<H>, Const::<M>, &mut rng)?;
    Ok((net, loss))
}

/// Which of the experiment's two runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RunKind {
    /// THEORY §6.2, `η_t = 1/(Kβ_t + ‖G_t‖₂)`.
    Local,
    /// THEORY §6.1, the configured constant step.
    Constant,
}

impl RunKind {
    /// Both runs, in the order the firmware performs them.
    pub const ALL: [RunKind; 2] = [RunKind::Local, RunKind::Constant];

    /// A small code for the log (`0` local, `1` constant).
    pub fn code(self) -> u32 {
        match self {
            RunKind::Local => 0,
            RunKind::Constant => 1,
        }
    }

    /// `local` or `constant`.
    pub fn name(self) -> &'static str {
        match self {
            RunKind::Local => "local",
            RunKind::Constant => "constant",
        }
    }
}

/// The build-time configuration of a firmware run.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FirmwareConfig {
    /// Seed of the problem and the start.
    pub seed: u64,
    /// Log every this many steps (≥ 1); the last step is always logged.
    pub log_every: u32,
    /// The constant step of the `constant` run. Not validated here: an
    /// invalid step (zero, negative, NaN) must reach the core, which
    /// refuses it ([`RuleUnavailable::InvalidStep`]).
    pub constant_step: f32,
}

/// Why a build-time configuration string was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConfigError {
    /// `OVERLIN_SEED` is not a `u64`.
    Seed,
    /// `OVERLIN_LOG_EVERY` is not an integer ≥ 1.
    LogEvery,
    /// `OVERLIN_CONSTANT_STEP` is not a number.
    ConstantStep,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Seed => "OVERLIN_SEED must be an unsigned 64-bit integer",
            Self::LogEvery => "OVERLIN_LOG_EVERY must be an integer >= 1",
            Self::ConstantStep => "OVERLIN_CONSTANT_STEP must be a number",
        })
    }
}

impl Default for FirmwareConfig {
    fn default() -> Self {
        Self {
            seed: DEFAULT_SEED,
            log_every: DEFAULT_LOG_EVERY,
            constant_step: DEFAULT_CONSTANT_STEP as f32,
        }
    }
}

impl FirmwareConfig {
    /// Parses the build-time settings (`OVERLIN_SEED`, `OVERLIN_LOG_EVERY`,
    /// `OVERLIN_CONSTANT_STEP`; `None` or empty = default). The firmware passes
    /// `option_env!(..)`, the host test the same strings.
    pub fn parse(
        seed: Option<&str>,
        log_every: Option<&str>,
        constant_step: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let mut c = Self::default();
        // An empty setting (`OVERLIN_SEED=`) means "not set".
        fn set(s: Option<&str>) -> Option<&str> {
            s.map(str::trim).filter(|s| !s.is_empty())
        }
        let (seed, log_every, constant_step) = (set(seed), set(log_every), set(constant_step));
        if let Some(s) = seed {
            c.seed = s.parse().map_err(|_| ConfigError::Seed)?;
        }
        if let Some(s) = log_every {
            c.log_every = s.parse().map_err(|_| ConfigError::LogEvery)?;
            if c.log_every == 0 {
                return Err(ConfigError::LogEvery);
            }
        }
        if let Some(s) = constant_step {
            c.constant_step = s.parse().map_err(|_| ConfigError::ConstantStep)?;
        }
        Ok(c)
    }

    /// The step rule of a run.
    pub fn rule(&self, kind: RunKind) -> StepRule<f32> {
        match kind {
            RunKind::Local => StepRule::Local,
            RunKind::Constant => StepRule::Constant(self.constant_step),
        }
    }

    /// `true` when step `t` is logged (every `log_every`-th, and the last).
    pub fn logs(&self, record: &StepRecord<f32>, last: bool) -> bool {
        last || (record.t as u64).is_multiple_of(u64::from(self.log_every.max(1)))
    }
}

/// The certificate from the current iterate (THEORY §8.2) is recomputed
/// every this many steps: the certified-from step `t_c` and its guarantee
/// are part of the summary the firmware logs.
pub const ANYTIME_EVERY: usize = 10;

/// Stop rule of the experiment: 200 iterations or a `10⁻⁶` relative gap,
/// every step certified, the certificate from the iterate every
/// [`ANYTIME_EVERY`] steps.
pub fn trainer_config<T: Real>() -> TrainerConfig<T> {
    TrainerConfig {
        max_iters: MAX_ITERS,
        tol: Tolerance::Relative(T::of(RELATIVE_TOLERANCE)),
        certify: true,
        anytime_every: ANYTIME_EVERY,
        ..TrainerConfig::default()
    }
}

/// Builds the trainer of one run of the experiment.
pub fn firmware_trainer<const S: usize, const N: usize, const H: usize, const M: usize>(
    config: &FirmwareConfig,
    kind: RunKind,
) -> Result<FixedTrainer<f32, S, N, H, M>, ProblemError>
where
    Const<N>: DimAdd<Const<M>>,
    DefaultAllocator: NetAllocator<Const<N>, Const<H>, Const<M>>,
{
    let (net, loss) = firmware_experiment::<f32, S, N, H, M>(config.seed)?;
    Trainer::new(net, loss, config.rule(kind), trainer_config())
}

/// [`firmware_trainer`], built directly in `slot` ([`Trainer::new_in`]):
/// what the firmware runs, so that the trainer is never on the stack.
pub fn firmware_trainer_in<'s, const S: usize, const N: usize, const H: usize, const M: usize>(
    slot: &'s mut core::mem::MaybeUninit<FixedTrainer<f32, S, N, H, M>>,
    config: &FirmwareConfig,
    kind: RunKind,
) -> Result<&'s mut FixedTrainer<f32, S, N, H, M>, ProblemError>
where
    Const<N>: DimAdd<Const<M>>,
    DefaultAllocator: NetAllocator<Const<N>, Const<H>, Const<M>>,
{
    let (net, loss) = firmware_experiment::<f32, S, N, H, M>(config.seed)?;
    Trainer::new_in(slot, net, loss, config.rule(kind), trainer_config())
}

/// Runs a trainer to its end, exactly as the firmware does: every step
/// goes through [`Trainer::step`], the a-priori bound is checked along the
/// way, and `log` receives the records [`FirmwareConfig::logs`] selects.
/// Returns the summary and the a-priori tracker.
pub fn run_logged<const S: usize, const N: usize, const H: usize, const M: usize>(
    trainer: &mut FixedTrainer<f32, S, N, H, M>,
    config: &FirmwareConfig,
    mut log: impl FnMut(&StepRecord<f32>),
) -> (Summary<f32>, AprioriTracker<f32>)
where
    Const<N>: DimAdd<Const<M>>,
    DefaultAllocator: NetAllocator<Const<N>, Const<H>, Const<M>>,
{
    let start = trainer.summary();
    let mut tracker = AprioriTracker::new(&start.apriori, start.initial_gap);
    while let Some(record) = trainer.step() {
        tracker.observe(&record);
        if config.logs(&record, trainer.status().is_final()) {
            log(&record);
        }
    }
    (trainer.summary(), tracker)
}

/// Checks Theorem 2 (THEORY §8) along a run: while every step is at most
/// `η̄`, the gap must stay below `ρ̄ᵗ (L₀ − L*)` (with the rounding
/// allowance of THEORY §11).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AprioriTracker<T> {
    cert: Option<AprioriCertificate<T>>,
    gap0: T,
    power: T,
    /// Rounding carried along the run: `Σ_s ρ̄^{t−s} · allowance_s`.
    slack: T,
    /// The certificate's premise `η_t ≤ η̄` held at every step so far.
    pub premise_held: bool,
    /// Steps at which the bound was checked.
    pub checked: u32,
    /// Steps at which the gap exceeded `ρ̄ᵗ⁺¹ (L₀ − L*)` beyond rounding.
    pub violations: u32,
}

impl<T: Real> AprioriTracker<T> {
    /// A tracker for a run with this summary's a-priori result.
    pub fn new(apriori: &Result<AprioriCertificate<T>, NoCertificate<T>>, gap0: T) -> Self {
        Self {
            cert: apriori.ok(),
            gap0,
            power: T::one(),
            slack: T::zero(),
            premise_held: true,
            checked: 0,
            violations: 0,
        }
    }

    /// Checks one step.
    pub fn observe(&mut self, r: &StepRecord<T>) {
        let Some(c) = self.cert else { return };
        if !(r.eta <= c.eta_bar) {
            self.premise_held = false;
        }
        if !self.premise_held {
            return;
        }
        self.power *= c.rho_bar;
        let bound = self.power * self.gap0;
        // Each step contracts by ρ̄ up to its own rounding allowance
        // (THEORY §11), so the allowances add up, each contracted by the
        // steps after it.
        self.slack = c.rho_bar * self.slack + r.check.allowance;
        self.checked += 1;
        if !(r.next_gap <= bound + self.slack) {
            self.violations += 1;
        }
    }
}

/// Number of words in an encoded step record.
pub const RECORD_WORDS: usize = 16;

/// A step record as words of bits, exactly as the firmware logs it:
/// `t, L_t, L_t − L*, η_t, α_t, β_t, ‖G‖₂, g², μ_t, K_t, ρ_t, ratio,
/// bound_ratio, L_{t+1} − L*, drift, flags` (flags: bit 0 certificate held,
/// bit 1 contraction applies, bits 2–4 the step's class code,
/// [`crate::certificate::StepClass::code`]). `f32` values are their IEEE bits.
pub fn record_words(r: &StepRecord<f32>) -> [u32; RECORD_WORDS] {
    let flags = u32::from(r.check.holds)
        | (u32::from(r.cert.contraction_applies) << 1)
        | (r.check.class.code() << 2);
    [
        r.t as u32,
        r.loss.to_bits(),
        r.gap.to_bits(),
        r.eta.to_bits(),
        r.cert.local.alpha.to_bits(),
        r.cert.local.beta.to_bits(),
        r.cert.local.grad_spec.to_bits(),
        r.cert.local.grad_sq.to_bits(),
        r.cert.mu_t.to_bits(),
        r.cert.k_t.to_bits(),
        r.cert.rho.to_bits(),
        r.check.ratio.to_bits(),
        r.check.bound_ratio.to_bits(),
        r.next_gap.to_bits(),
        r.drift.to_bits(),
        flags,
    ]
}

/// A status as a code: `0` running, `1` converged, `2` max_iters, `3`
/// diverged, `4` stalled, `5` rule unavailable, `6` stopped.
pub fn status_code(s: &Status) -> u32 {
    match s {
        Status::Running => 0,
        Status::Converged => 1,
        Status::MaxIters => 2,
        Status::Diverged { .. } => 3,
        Status::Stalled => 4,
        Status::RuleUnavailable(_) => 5,
        Status::Stopped => 6,
    }
}

/// Number of words in an encoded summary.
pub const SUMMARY_WORDS: usize = 27;

/// `u32::MAX` for "none" in a summary word.
pub const NONE_WORD: u32 = u32::MAX;

/// A run's summary as words of bits: `status, iterations, L₀ − L*, final gap,
/// final loss, steps checked, contraction steps, violations, worst ratio,
/// a-priori (1 = certificate, 0 = none), η̄, ρ̄, ᾱ, β̄, K̄, δ, a-priori
/// checks, a-priori violations` (those two from an [`AprioriTracker`]),
/// then the certificate from the iterate (THEORY §8.2): `t_c, guaranteed
/// total t_c + T_{t_c}(ε)` ([`NONE_WORD`] when none), `steps checked
/// against it, its violations`, then the steps by class: `certified,
/// trivial, below resolution, descent only, non-finite` (THEORY §11).
pub fn summary_words(s: &Summary<f32>, tracker: &AprioriTracker<f32>) -> [u32; SUMMARY_WORDS] {
    let (has, c) = match s.apriori {
        Ok(c) => (1, c),
        Err(_) => (0, AprioriCertificate::default()),
    };
    [
        status_code(&s.status),
        s.iterations as u32,
        s.initial_gap.to_bits(),
        s.final_gap.to_bits(),
        s.final_loss.to_bits(),
        s.tally.steps_checked,
        s.tally.contraction_steps,
        s.tally.violations,
        s.tally.worst_ratio.to_bits(),
        has,
        c.eta_bar.to_bits(),
        c.rho_bar.to_bits(),
        c.alpha_bar.to_bits(),
        c.beta_bar.to_bits(),
        c.k_bar.to_bits(),
        c.delta.to_bits(),
        tracker.checked,
        tracker.violations,
        s.anytime
            .certified_from
            .map_or(NONE_WORD, |t| u32::try_from(t).unwrap_or(NONE_WORD)),
        s.anytime
            .guaranteed_total
            .map_or(NONE_WORD, |t| u32::try_from(t).unwrap_or(NONE_WORD)),
        s.anytime.steps_checked,
        s.anytime.violations,
        s.tally.classes.certified,
        s.tally.classes.trivial,
        s.tally.classes.below_resolution,
        s.tally.classes.descent_only,
        s.tally.classes.non_finite,
    ]
}

/// `true` when a run may count as a success: it converged, at least one
/// step was certified, every per-step
/// certificate and imbalance check held, and so did the a-priori bound and
/// the guarantee from the certified-from step wherever they applied.
pub fn run_succeeded<T: Real>(s: &Summary<T>, tracker: &AprioriTracker<T>) -> bool {
    s.status == Status::Converged
        && s.tally.verdict() == Verdict::Held
        && tracker.violations == 0
        && s.anytime.violations == 0
}

/// Why a run gave no step, for the log (when the status is
/// [`Status::RuleUnavailable`]).
pub fn unavailable_reason(s: &Status) -> Option<RuleUnavailable> {
    match s {
        Status::RuleUnavailable(why) => Some(*why),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_defaults_empty_and_errors() {
        let d = FirmwareConfig::default();
        assert_eq!(FirmwareConfig::parse(None, None, None), Ok(d));
        assert_eq!(FirmwareConfig::parse(Some(""), Some(" "), Some("")), Ok(d));
        let c = FirmwareConfig::parse(Some("7"), Some("3"), Some("0.25")).unwrap();
        assert_eq!((c.seed, c.log_every, c.constant_step), (7, 3, 0.25));
        assert_eq!(
            FirmwareConfig::parse(Some("-1"), None, None),
            Err(ConfigError::Seed)
        );
        assert_eq!(
            FirmwareConfig::parse(None, Some("0"), None),
            Err(ConfigError::LogEvery)
        );
        assert_eq!(
            FirmwareConfig::parse(None, None, Some("fast")),
            Err(ConfigError::ConstantStep)
        );
        // Invalid steps parse: the core must be the one to refuse them.
        let nan = FirmwareConfig::parse(None, None, Some("NaN")).unwrap();
        assert!(nan.constant_step.is_nan());
    }

    #[test]
    fn both_runs_of_both_sizes_converge_with_every_certificate_held() {
        let config = FirmwareConfig::default();
        for kind in RunKind::ALL {
            let mut tr =
                firmware_trainer::<{ small::S }, { small::N }, { small::H }, { small::M }>(
                    &config, kind,
                )
                .unwrap();
            let (s, t) = run_logged(&mut tr, &config, |_| {});
            assert!(run_succeeded(&s, &t), "small {kind:?}: {s:?}");
            // The QEMU test expects a certified-from step in every run.
            assert!(s.anytime.certified_from.is_some(), "small {kind:?}: {s:?}");
            let mut tr =
                firmware_trainer::<{ large::S }, { large::N }, { large::H }, { large::M }>(
                    &config, kind,
                )
                .unwrap();
            let (s, t) = run_logged(&mut tr, &config, |_| {});
            assert!(run_succeeded(&s, &t), "large {kind:?}: {s:?}");
            assert!(s.anytime.certified_from.is_some(), "large {kind:?}: {s:?}");
        }
    }

    #[test]
    fn invalid_constant_step_is_refused_by_the_core() {
        for step in ["0", "-0.1", "NaN", "inf"] {
            let config = FirmwareConfig::parse(None, None, Some(step)).unwrap();
            let mut tr =
                firmware_trainer::<{ small::S }, { small::N }, { small::H }, { small::M }>(
                    &config,
                    RunKind::Constant,
                )
                .unwrap();
            let (s, t) = run_logged(&mut tr, &config, |_| {});
            assert!(
                matches!(s.status, Status::RuleUnavailable(_)),
                "step {step}: {:?}",
                s.status
            );
            assert_eq!(s.iterations, 0);
            assert!(!run_succeeded(&s, &t));
        }
    }

    #[test]
    fn logs_every_kth_step_and_the_last() {
        let config = FirmwareConfig::parse(None, Some("4"), None).unwrap();
        let mut tr = firmware_trainer::<{ small::S }, { small::N }, { small::H }, { small::M }>(
            &config,
            RunKind::Local,
        )
        .unwrap();
        let mut logged = heapless::Vec::<usize, 64>::new();
        let (s, _) = run_logged(&mut tr, &config, |r| {
            let _ = logged.push(r.t);
        });
        let last = s.iterations - 1;
        for (i, &t) in logged.iter().enumerate() {
            assert!(t % 4 == 0 || (t == last && i == logged.len() - 1), "{t}");
        }
        assert_eq!(logged.last(), Some(&last));
        assert_eq!(logged.len(), last / 4 + 1 + usize::from(last % 4 != 0));
    }

    #[test]
    fn record_words_hold_the_bits() {
        let r = StepRecord {
            t: 5,
            loss: 1.5f32,
            eta: -0.0,
            ..StepRecord::default()
        };
        let w = record_words(&r);
        assert_eq!(w[0], 5);
        assert_eq!(w[1], 1.5f32.to_bits());
        assert_eq!(w[3], 0x8000_0000);
        // Not held, no contraction, class trivial (code 1) in bits 2–4.
        assert_eq!(w[RECORD_WORDS - 1], 1 << 2);
        let mut held = r;
        held.check.holds = true;
        held.check.class = crate::certificate::StepClass::NonFinite;
        held.cert.contraction_applies = true;
        assert_eq!(record_words(&held)[RECORD_WORDS - 1], 1 | 2 | (4 << 2));
    }
}
