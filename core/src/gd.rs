//! Gradient descent on `L(W₁, W₂) = ℓ(W₁W₂)` with a certificate at every
//! step (THEORY §1, §5), driven like an executor: [`Trainer::step`] does one
//! iteration and returns its record; [`Trainer::run`] loops until a stop
//! condition and hands every record to an [`Observer`].

use core::mem::MaybeUninit;

use nalgebra::{DefaultAllocator, DimAdd, OMatrix, OVector, U1};

use crate::apriori::{
    apriori_certificate, certificate_for_step, AprioriCertificate, AprioriInputs, NoCertificate,
};
use crate::certificate::{
    rounding_allowance, CertificateTally, LocalConstants, LossRounding, StepCertificate, StepCheck,
    StepNorms, StepShape,
};
use crate::dims::NetAllocator;
use crate::error::ProblemError;
use crate::imbalance::{imbalance_spectrum, ImbalanceSummary, ImbalanceWorkspace};
use crate::kernels;
use crate::linalg::{gram_cols, gram_rows};
use crate::loss::{Evaluation, Loss};
use crate::net::TwoLayer;
use crate::rules::{PreparedRule, RuleContext, RuleUnavailable, StartInfo, StepRule};
use crate::scalar::{pos, sqrt, Real};

/// When a run counts as converged.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Tolerance<T> {
    /// `L − L* ≤ ε`.
    Absolute(T),
    /// `L − L* ≤ ε (L₀ − L*)`.
    Relative(T),
}

/// Settings of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TrainerConfig<T> {
    /// Iteration cap.
    pub max_iters: usize,
    /// Convergence tolerance on the gap.
    pub tol: Tolerance<T>,
    /// Check the per-step certificate (THEORY §5). Rules that need the local
    /// constants compute them anyway.
    pub certify: bool,
    /// Compute the imbalance spectrum every this many steps and check
    /// Lemma 3's drift bound (THEORY §7); 0 = only at the start.
    pub imbalance_every: usize,
    /// Stop as `Stalled` after this many consecutive steps that do not
    /// improve the best gap beyond rounding (the precision floor).
    pub stall_window: usize,
    /// Recompute the certificate of Theorem 2 at the current iterate every
    /// this many steps (THEORY §8.2; 0 = never): the first iterate that has
    /// one is the certified-from step `t_c`, and the rest of the run is
    /// checked against its guarantee ([`AnytimeSummary`]). Costs one
    /// imbalance spectrum and one monotone search; it never changes the
    /// iterates.
    pub anytime_every: usize,
}

impl<T: Real> Default for TrainerConfig<T> {
    fn default() -> Self {
        Self {
            max_iters: 1000,
            tol: Tolerance::Relative(T::of(1e-10)),
            certify: true,
            imbalance_every: 0,
            stall_window: 20,
            anytime_every: 0,
        }
    }
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Status {
    /// Still iterating.
    Running,
    /// The gap reached the tolerance.
    Converged,
    /// The iteration cap was reached first.
    MaxIters,
    /// The loss became non-finite or increased beyond rounding at this step.
    Diverged {
        /// The step at which it happened.
        at: usize,
    },
    /// Machine precision reached: the gap stopped improving over the stall
    /// window, an Armijo search found no decrease after progress, or a
    /// step changed no weight at all (every update below the weights'
    /// resolution).
    Stalled,
    /// The step rule gives no step here.
    RuleUnavailable(RuleUnavailable),
    /// The observer asked to stop.
    Stopped,
}

impl Status {
    /// Short name: `running|converged|max_iters|diverged|stalled|rule_unavailable|stopped`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Converged => "converged",
            Self::MaxIters => "max_iters",
            Self::Diverged { .. } => "diverged",
            Self::Stalled => "stalled",
            Self::RuleUnavailable(_) => "rule_unavailable",
            Self::Stopped => "stopped",
        }
    }

    /// `true` once the run has ended.
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Running)
    }
}

/// Everything about one iteration `t → t+1`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StepRecord<T> {
    /// Iteration index `t`.
    pub t: usize,
    /// `L_t`.
    pub loss: T,
    /// `L_t − L*`.
    pub gap: T,
    /// Step `η_t` taken.
    pub eta: T,
    /// Predicted quantities (meaningful when `certified`).
    pub cert: StepCertificate<T>,
    /// Measured outcome.
    pub check: StepCheck<T>,
    /// `true` when the certificate was computed and checked.
    pub certified: bool,
    /// `L_{t+1}`.
    pub next_loss: T,
    /// `L_{t+1} − L*`.
    pub next_gap: T,
    /// Cumulative imbalance drift bound `Σ_{s≤t} η_s² g_s²` (Lemma 3).
    pub drift: T,
    /// Imbalance of the new iterate when it was computed at this step.
    pub imbalance: Option<ImbalanceSummary<T>>,
    /// The certificate of Theorem 2 at iterate `t` (THEORY §8.2), when it
    /// was recomputed before this step ([`TrainerConfig::anytime_every`]).
    pub anytime: Option<AnytimeRecord<T>>,
}

/// A certificate computed at one iterate of a run (THEORY §8.2).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AnytimeRecord<T> {
    /// The certificate for the rest of the run from this iterate, or why
    /// there is none.
    pub certificate: Result<AprioriCertificate<T>, NoCertificate<T>>,
    /// `T_t(ε)`: further iterations after which `L − L* ≤ ε` is guaranteed
    /// (`None` without a certificate or when it does not fit).
    pub remaining: Option<u64>,
}

/// The guarantee of the certified-from step `t_c` and how the run kept it
/// (THEORY §8, §8.2).
///
/// What is guaranteed: from `t_c` on, every step `η_s ≤ η̄` keeps
/// `α_s ≥ ᾱ` and `β_s ≤ β̄`, and a step that also decreases at least as
/// much as `η̄` would, `η_s(2 − η_sK_s(η_s)) ≥ η̄(2 − η̄K̄)` (a step equal to
/// `η̄` always does), contracts the gap by `ρ̄`. Such steps are
/// *qualifying*; while every step since `t_c` qualified, the gap must stay
/// below the chained bound `B_{s+1} = ρ̄B_s + tol_s` (`B_{t_c} = L_{t_c} −
/// L*`, `tol_s` the per-step rounding allowance of THEORY §11), which
/// reaches `ε` plus the accumulated rounding after `T_{t_c}(ε)` steps. A
/// gap above it is a violation (the run needed more iterations than
/// guaranteed). The first step that does not qualify (e.g. a Local step,
/// which is at least `1/K̄ ≥ η̄`) ends the checking: the guarantee is then
/// about a different run and is reported as not applying. A later
/// certificate whose total `t + T_t(ε)` is smaller is as valid and
/// tighter: the chained bound then restarts from it (`B_t = L_t − L*`), so
/// the check is always against the tightest guarantee known.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AnytimeSummary<T> {
    /// `t_c`: the first checked iterate with a certificate.
    pub certified_from: Option<usize>,
    /// The certificate at `t_c`.
    pub certificate: Option<AprioriCertificate<T>>,
    /// `L_{t_c} − L*`.
    pub gap_at: T,
    /// `T_{t_c}(ε)`: guaranteed remaining iterations at `t_c`.
    pub guaranteed_remaining: Option<u64>,
    /// `t_c + T_{t_c}(ε)`: a guaranteed bound on the whole run's length.
    pub guaranteed_total: Option<u64>,
    /// The tightest guaranteed total `t + T_t(ε)` over the certificates
    /// computed so far (each is a valid bound on its own, THEORY §8.2).
    pub best_total: Option<u64>,
    /// The iterate whose certificate gave [`Self::best_total`]; the chained
    /// bound follows that certificate from there on.
    pub best_from: Option<usize>,
    /// The first step from `t_c` on that did not qualify (see above).
    pub first_unqualified: Option<usize>,
    /// Qualifying steps checked against the chained bound.
    pub steps_checked: u32,
    /// Steps whose next gap exceeded the chained bound.
    pub violations: u32,
    /// Largest gap / chained bound seen (at most 1 when the guarantee held).
    pub worst_ratio: T,
    /// Certificates computed during the run.
    pub computed: u32,
}

impl<T: Real> AnytimeSummary<T> {
    /// `true` when a guarantee exists and every step since `t_c` qualified,
    /// so that the guarantee applies to this run.
    pub fn applies(&self) -> bool {
        self.certified_from.is_some() && self.first_unqualified.is_none()
    }
}

/// Receives every step's record; return `false` to stop the run.
pub trait Observer<T> {
    /// Called after every step.
    fn observe(&mut self, record: &StepRecord<T>) -> bool;
}

/// An observer that does nothing.
impl<T> Observer<T> for () {
    fn observe(&mut self, _: &StepRecord<T>) -> bool {
        true
    }
}

impl<T, F: FnMut(&StepRecord<T>) -> bool> Observer<T> for F {
    fn observe(&mut self, record: &StepRecord<T>) -> bool {
        self(record)
    }
}

/// Keeps the last `CAP` records in a fixed buffer (no allocation).
#[derive(Clone, Debug, Default)]
pub struct History<T, const CAP: usize> {
    /// The retained records, oldest first.
    pub records: heapless::Deque<StepRecord<T>, CAP>,
}

impl<T: Copy, const CAP: usize> Observer<T> for History<T, CAP> {
    fn observe(&mut self, record: &StepRecord<T>) -> bool {
        if self.records.is_full() {
            let _ = self.records.pop_front();
        }
        let _ = self.records.push_back(*record);
        true
    }
}

/// The end of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Summary<T> {
    /// Why it stopped.
    pub status: Status,
    /// Steps taken.
    pub iterations: usize,
    /// `L₀ − L*`.
    pub initial_gap: T,
    /// Final `L − L*`.
    pub final_gap: T,
    /// Final `L`.
    pub final_loss: T,
    /// Certificate tally.
    pub tally: CertificateTally<T>,
    /// A-priori certificate at the start, or why none exists.
    pub apriori: Result<AprioriCertificate<T>, NoCertificate<T>>,
    /// Imbalance of the start.
    pub initial_imbalance: ImbalanceSummary<T>,
    /// The certified-from step, its guarantee and its check (THEORY §8.2).
    pub anytime: AnytimeSummary<T>,
}

/// Buffers of one iteration, created once.
#[derive(Clone, Debug)]
struct Workspace<T: Real, N: DimAdd<M>, H: nalgebra::Dim, M: nalgebra::Dim>
where
    DefaultAllocator: NetAllocator<N, H, M>,
{
    p: OMatrix<T, N, M>,
    g: OMatrix<T, N, M>,
    a: OMatrix<T, N, H>,
    b: OMatrix<T, H, M>,
    gram_n: OMatrix<T, N, N>,
    gram_m: OMatrix<T, M, M>,
    eig_n: OVector<T, N>,
    eig_m: OVector<T, M>,
    trial: TwoLayer<T, N, H, M>,
    imbalance: ImbalanceWorkspace<T, N, H, M>,
    grams: GramState<T, N, M>,
    spectra: SpectrumMemory<T, N, M>,
}

/// The symmetric matrices whose extreme eigenvalues the last step's
/// certificate computed, and those extremes: this step starts Laguerre's
/// iteration from them ([`kernels::StartHints`]), widened by the Frobenius
/// norm of the change (≥ its 2-norm, so by Weyl's inequality no eigenvalue
/// moved further). Late in a run the matrices barely move and one or two
/// iterations replace the four to six a Gershgorin start needs; the result
/// is converged to rounding either way.
#[derive(Clone, Debug)]
struct SpectrumMemory<T: Real, N: nalgebra::Dim, M: nalgebra::Dim>
where
    DefaultAllocator: nalgebra::allocator::Allocator<N, N> + nalgebra::allocator::Allocator<M, M>,
{
    /// `Γ₁`, `Γ₂`, and `GGᵀ` or `GᵀG` (whichever is smaller; `GᵀG` when `n = m`).
    gram_n: OMatrix<T, N, N>,
    gram_m: OMatrix<T, M, M>,
    grad_n: OMatrix<T, N, N>,
    grad_m: OMatrix<T, M, M>,
    /// `(λ_min, λ_max)` of the three, in that order, once computed.
    extremes: [Option<(T, T)>; 3],
}

impl<T: Real, N: nalgebra::Dim, M: nalgebra::Dim> SpectrumMemory<T, N, M>
where
    DefaultAllocator: nalgebra::allocator::Allocator<N, N> + nalgebra::allocator::Allocator<M, M>,
{
    fn new(n: N, m: M) -> Self {
        Self {
            gram_n: OMatrix::zeros_generic(n, n),
            gram_m: OMatrix::zeros_generic(m, m),
            grad_n: OMatrix::zeros_generic(n, n),
            grad_m: OMatrix::zeros_generic(m, m),
            extremes: [None; 3],
        }
    }

    /// Hints for matrix `which` (0: `Γ₁`, 1: `Γ₂`, 2: the gradient's Gram),
    /// now `current`, whose last value is in `last`; `current` becomes
    /// the last value.
    fn hints(extremes: Option<(T, T)>, last: &mut [T], current: &[T]) -> kernels::StartHints<T> {
        let hints = match extremes {
            Some((lmin, lmax)) => {
                let delta = sqrt(kernels::sum_sq_diff(current, last));
                kernels::StartHints::around(lmin, lmax, delta)
            }
            None => kernels::StartHints::default(),
        };
        for (l, &c) in last.iter_mut().zip(current) {
            *l = c;
        }
        hints
    }

    /// [`kernels::sym_extremes_from`] of the square `mat` (destroyed),
    /// started from [`Self::hints`].
    fn extremes(
        extremes: Option<(T, T)>,
        last: &mut [T],
        mat: &mut [T],
        work: &mut [T],
        want_min: bool,
    ) -> (T, T) {
        let hints = Self::hints(extremes, last, mat);
        kernels::sym_extremes_from(mat, work.len(), work, want_min, hints)
    }
}

/// Exact Gram matrices are formed every this many steps (and after every
/// imbalance spectrum, and whenever a step ran without the local constants);
/// in between they follow each step's exact update in small dimensions.
/// Measured (`core/examples/gram_drift.rs`, BENCHMARKS.md): even with no
/// refresh at all, `α_t, β_t` from the carried Grams stay within
/// `1.1e-15 β_t` (f64) of those from freshly formed Grams over 400 steps,
/// and the f32 drift grows from the `2–4e-7 β_t` that forming a Gram costs
/// anyway to `1.2e-6 β_t`; with this period it stays below `5.5e-7 β_t`,
/// within twice the forming error.
pub const GRAM_REFRESH: usize = 32;

/// The Gram matrices `Γ₁ = W₁W₁ᵀ` (n×n) and `Γ₂ = W₂ᵀW₂` (m×m) whose
/// extreme eigenvalues give `α_t, β_t` (THEORY §2), carried from step to
/// step. Expanding `W₁' = W₁ − ηGW₂ᵀ`, `W₂' = W₂ − ηW₁ᵀG` (THEORY §1) with
/// `P = W₁W₂`:
///
/// `Γ₁' = Γ₁ − η(GPᵀ + PGᵀ) + η² GΓ₂Gᵀ`,  `Γ₂' = Γ₂ − η(GᵀP + PᵀG) + η² GᵀΓ₁G`,
///
/// exact identities that cost `O(nm(n+m))` instead of the `O(h(n²+m²))` of
/// forming the Grams (used when `h ≥ 4(n+m)`; below that forming is as cheap). The η-free parts `S = GPᵀ + PGᵀ`, `Q = GΓ₂Gᵀ` (and
/// their `m×m` twins) are prepared before the rule picks `η`, while `P` is
/// current; `Q` is symmetrized so the Grams stay exactly symmetric. Rounding
/// drift is bounded by re-forming them every [`GRAM_REFRESH`] steps.
#[derive(Clone, Debug)]
struct GramState<T: Real, N: nalgebra::Dim, M: nalgebra::Dim>
where
    DefaultAllocator: nalgebra::allocator::Allocator<N, N>
        + nalgebra::allocator::Allocator<M, M>
        + nalgebra::allocator::Allocator<N, M>
        + nalgebra::allocator::Allocator<M>,
{
    g1: OMatrix<T, N, N>,
    g2: OMatrix<T, M, M>,
    s1: OMatrix<T, N, N>,
    q1: OMatrix<T, N, N>,
    s2: OMatrix<T, M, M>,
    q2: OMatrix<T, M, M>,
    tmp: OMatrix<T, N, M>,
    /// `GᵀG` and its scratch when `n = m` (the three eigenproblems together).
    gg: OMatrix<T, M, M>,
    gg_work: OVector<T, M>,
    /// Steps since the Grams were last formed.
    age: usize,
    /// `g1`, `g2` belong to the current iterate.
    valid: bool,
    /// `s*`, `q*` are prepared for the step being taken.
    pending: bool,
    /// The hidden width `h`.
    hidden: usize,
}

impl<T: Real, N: nalgebra::Dim, M: nalgebra::Dim> GramState<T, N, M>
where
    DefaultAllocator: nalgebra::allocator::Allocator<N, N>
        + nalgebra::allocator::Allocator<M, M>
        + nalgebra::allocator::Allocator<N, M>
        + nalgebra::allocator::Allocator<M>,
{
    fn new(n: N, m: M, hidden: usize) -> Self {
        Self {
            g1: OMatrix::zeros_generic(n, n),
            g2: OMatrix::zeros_generic(m, m),
            s1: OMatrix::zeros_generic(n, n),
            q1: OMatrix::zeros_generic(n, n),
            s2: OMatrix::zeros_generic(m, m),
            q2: OMatrix::zeros_generic(m, m),
            tmp: OMatrix::zeros_generic(n, m),
            gg: OMatrix::zeros_generic(m, m),
            gg_work: OVector::zeros_generic(m, U1),
            age: 0,
            valid: false,
            pending: false,
            hidden,
        }
    }

    /// Makes `g1`, `g2` the Grams of `net`, forming them when they are stale.
    fn current<H: nalgebra::Dim>(&mut self, net: &TwoLayer<T, N, H, M>)
    where
        DefaultAllocator:
            nalgebra::allocator::Allocator<N, H> + nalgebra::allocator::Allocator<H, M>,
    {
        if !self.valid || self.age >= GRAM_REFRESH {
            gram_rows(&net.w1, &mut self.g1);
            gram_cols(&net.w2, &mut self.g2);
            self.age = 0;
            self.valid = true;
        }
    }

    /// Prepares the η-free parts of the update from `G` and `P = W₁W₂` of
    /// the current iterate (skipped when the next step re-forms anyway).
    fn prepare(&mut self, g: &OMatrix<T, N, M>, p: &OMatrix<T, N, M>) {
        let (n, m) = g.shape();
        // Worth it only when h is well above n + m (`hidden` is h).
        self.pending = self.valid && self.age + 1 < GRAM_REFRESH && self.hidden >= 4 * (n + m);
        if !self.pending {
            return;
        }
        let (g, p) = (g.as_slice(), p.as_slice());
        // S₁ = GPᵀ + (GPᵀ)ᵀ, Q₁ = (GΓ₂)Gᵀ.
        kernels::mm_nt(self.s1.as_mut_slice(), g, p, n, m);
        symmetrize(self.s1.as_mut_slice(), n, false);
        kernels::mm_nn(self.tmp.as_mut_slice(), g, self.g2.as_slice(), n, m);
        kernels::mm_nt(self.q1.as_mut_slice(), self.tmp.as_slice(), g, n, m);
        symmetrize(self.q1.as_mut_slice(), n, true);
        // S₂ = GᵀP + (GᵀP)ᵀ, Q₂ = Gᵀ(Γ₁G).
        kernels::mm_tn(self.s2.as_mut_slice(), g, p, m, n);
        symmetrize(self.s2.as_mut_slice(), m, false);
        kernels::mm_nn(self.tmp.as_mut_slice(), self.g1.as_slice(), g, n, n);
        kernels::mm_tn(self.q2.as_mut_slice(), g, self.tmp.as_slice(), m, n);
        symmetrize(self.q2.as_mut_slice(), m, true);
    }

    /// After the step of size `eta`: `Γ ← (Γ − ηS) + η²Q`, or mark the Grams
    /// stale when nothing was prepared.
    fn advance(&mut self, eta: T) {
        if !self.pending {
            self.valid = false;
            return;
        }
        let eta2 = eta * eta;
        let upd = |g: &mut [T], s: &[T], q: &[T]| {
            for ((gi, &si), &qi) in g.iter_mut().zip(s).zip(q) {
                *gi = (*gi - eta * si) + eta2 * qi;
            }
        };
        upd(
            self.g1.as_mut_slice(),
            self.s1.as_slice(),
            self.q1.as_slice(),
        );
        upd(
            self.g2.as_mut_slice(),
            self.s2.as_slice(),
            self.q2.as_slice(),
        );
        self.age += 1;
        self.pending = false;
    }

    /// Forces the Grams to be formed afresh at the next use.
    fn invalidate(&mut self) {
        self.valid = false;
        self.pending = false;
    }
}

/// `X ← X + Xᵀ` (`average = false`) or `X ← (X + Xᵀ)/2` on a `p×p`
/// column-major matrix; either result is exactly symmetric.
fn symmetrize<T: Real>(x: &mut [T], p: usize, average: bool) {
    let half = T::of(0.5);
    for j in 0..p {
        for i in j..p {
            let (Some(&a), Some(&b)) = (x.get(i + j * p), x.get(j + i * p)) else {
                return;
            };
            let s = if average { half * (a + b) } else { a + b };
            if let Some(y) = x.get_mut(i + j * p) {
                *y = s;
            }
            if let Some(y) = x.get_mut(j + i * p) {
                *y = s;
            }
        }
    }
}

/// Certified gradient descent on one problem from one start.
#[derive(Clone, Debug)]
pub struct Trainer<T: Real, N: DimAdd<M>, H: nalgebra::Dim, M: nalgebra::Dim, L: Loss<T, N, M>>
where
    DefaultAllocator: NetAllocator<N, H, M>,
{
    net: TwoLayer<T, N, H, M>,
    loss: L,
    rule: PreparedRule<T>,
    config: TrainerConfig<T>,
    ws: Workspace<T, N, H, M>,
    t: usize,
    eval: Evaluation<T>,
    initial_gap: T,
    best_gap: T,
    stall: usize,
    drift: T,
    drift_at_last_imbalance: T,
    last_imbalance: ImbalanceSummary<T>,
    tally: CertificateTally<T>,
    /// `‖G‖_F` of the gradient at the current iterate (for the allowance).
    grad_norm: T,
    status: Status,
    summary_apriori: Result<AprioriCertificate<T>, NoCertificate<T>>,
    initial_imbalance: ImbalanceSummary<T>,
    anytime: AnytimeSummary<T>,
    /// The certificate the chained bound follows (the tightest so far).
    anytime_cert: Option<AprioriCertificate<T>>,
    /// The chained bound `B_t` of [`AnytimeSummary`] at the current iterate.
    anytime_bound: T,
}

impl<T, N, H, M, L> Trainer<T, N, H, M, L>
where
    T: Real,
    N: DimAdd<M>,
    H: nalgebra::Dim,
    M: nalgebra::Dim,
    L: Loss<T, N, M>,
    DefaultAllocator: NetAllocator<N, H, M>,
{
    /// Sets up a run: evaluates the start, the imbalance of `D₀`, the
    /// a-priori certificate, and binds the rule to the start. All buffers
    /// are created here; [`Self::step`] never allocates.
    ///
    /// Errors when the loss and network sizes disagree or the start is not
    /// finite. A rule that does not apply to this start is not an error: the
    /// run ends at once with [`Status::RuleUnavailable`].
    pub fn new(
        net: TwoLayer<T, N, H, M>,
        loss: L,
        rule: StepRule<T>,
        config: TrainerConfig<T>,
    ) -> Result<Self, ProblemError> {
        Self::check(&net, &loss, &config)?;
        let mut this = Self::blank(net, loss, config);
        this.start(rule)?;
        Ok(this)
    }

    /// [`Trainer::new`], building the trainer directly in `slot` (a static
    /// or otherwise long-lived place) instead of returning it: on a
    /// microcontroller the trainer can be a large part of RAM, and
    /// returning it by value puts up to two more copies of it on the stack
    /// while it is built. On an error the slot is left uninitialized.
    pub fn new_in(
        slot: &mut MaybeUninit<Self>,
        net: TwoLayer<T, N, H, M>,
        loss: L,
        rule: StepRule<T>,
        config: TrainerConfig<T>,
    ) -> Result<&mut Self, ProblemError> {
        Self::check(&net, &loss, &config)?;
        match slot.write(Self::blank(net, loss, config)).start(rule) {
            // SAFETY: `write` above initialized the slot.
            Ok(()) => Ok(unsafe { slot.assume_init_mut() }),
            Err(e) => {
                // SAFETY: initialized by `write` above, and not used again.
                unsafe { slot.assume_init_drop() };
                Err(e)
            }
        }
    }

    /// The checks of [`Trainer::new`] that need no buffers.
    fn check(
        net: &TwoLayer<T, N, H, M>,
        loss: &L,
        config: &TrainerConfig<T>,
    ) -> Result<(), ProblemError> {
        TwoLayer::validate(&net.w1, &net.w2)?;
        let (nd, md) = (net.w1.nrows(), net.w2.ncols());
        let (ln, lm) = loss.minimizer().shape();
        if (ln, lm) != (nd, md) {
            return Err(ProblemError::ShapeMismatch {
                what: "network product W1 W2",
                expected: (ln, lm),
                found: (nd, md),
            });
        }
        if config.max_iters == 0 {
            return Err(ProblemError::InvalidParameter {
                what: "max_iters must be at least 1",
            });
        }
        let tol_ok = match config.tol {
            Tolerance::Absolute(x) | Tolerance::Relative(x) => x > T::zero() && x.finite(),
        };
        if !tol_ok {
            return Err(ProblemError::InvalidParameter {
                what: "tol must be positive and finite",
            });
        }
        Ok(())
    }

    /// The trainer's fields with zero buffers and stand-ins for what
    /// [`Trainer::start`] computes.
    #[inline(always)]
    fn blank(net: TwoLayer<T, N, H, M>, loss: L, config: TrainerConfig<T>) -> Self {
        let (nd, hd) = net.w1.shape_generic();
        let (_, md) = net.w2.shape_generic();
        let ws = Workspace {
            p: OMatrix::zeros_generic(nd, md),
            g: OMatrix::zeros_generic(nd, md),
            a: OMatrix::zeros_generic(nd, hd),
            b: OMatrix::zeros_generic(hd, md),
            gram_n: OMatrix::zeros_generic(nd, nd),
            gram_m: OMatrix::zeros_generic(md, md),
            eig_n: OVector::zeros_generic(nd, U1),
            eig_m: OVector::zeros_generic(md, U1),
            trial: TwoLayer::zeros_generic(nd, hd, md),
            imbalance: ImbalanceWorkspace::new(nd, hd, md),
            grams: GramState::new(nd, md, hd.value()),
            spectra: SpectrumMemory::new(nd, md),
        };
        Self {
            net,
            loss,
            rule: PreparedRule::placeholder(),
            config,
            ws,
            t: 0,
            eval: Evaluation::default(),
            initial_gap: T::zero(),
            best_gap: T::zero(),
            stall: 0,
            drift: T::zero(),
            drift_at_last_imbalance: T::zero(),
            last_imbalance: ImbalanceSummary::default(),
            tally: CertificateTally::default(),
            grad_norm: T::zero(),
            status: Status::Running,
            summary_apriori: Ok(AprioriCertificate::default()),
            initial_imbalance: ImbalanceSummary::default(),
            anytime: AnytimeSummary::default(),
            anytime_cert: None,
            anytime_bound: T::zero(),
        }
    }

    /// Evaluates the start, its imbalance and a-priori certificate, and
    /// prepares the rule (what [`Trainer::new`] does once the buffers exist).
    fn start(&mut self, rule: StepRule<T>) -> Result<(), ProblemError> {
        let ws = &mut self.ws;
        self.net.product_into(&mut ws.p);
        let eval = self.loss.evaluate_with_gradient(&ws.p, &mut ws.g);
        self.grad_norm = sqrt(kernels::sum_sq(ws.g.as_slice()));
        let constants = *self.loss.constants();
        let initial_imbalance = imbalance_spectrum(&self.net, &mut ws.imbalance);
        // The spectrum (or the loss's set-up before it) may have been cut
        // short by an interrupt: nothing computed from it is trustworthy.
        if crate::cancel::requested() {
            return Err(ProblemError::Cancelled);
        }
        // ‖W₁W₂ − W*‖ for the rules defined by the start.
        let distance_to_target = sqrt(kernels::sum_sq_diff(
            ws.p.as_slice(),
            self.loss.minimizer().as_slice(),
        ));
        let apriori = apriori_certificate(&self.inputs_at(eval.gap, initial_imbalance));
        let start = StartInfo {
            distance_to_target,
            constants,
            loss_kind: self.loss.kind(),
        };
        let (rule, status) = match PreparedRule::prepare(rule, &start) {
            Ok(r) => (r, Status::Running),
            Err(why) => (
                PreparedRule::prepare(StepRule::Local, &start)
                    .map_err(|_| ProblemError::InvalidParameter { what: "step rule" })?,
                Status::RuleUnavailable(why),
            ),
        };
        self.rule = rule;
        self.eval = eval;
        self.initial_gap = eval.gap;
        self.best_gap = eval.gap;
        self.last_imbalance = initial_imbalance;
        self.status = status;
        self.summary_apriori = apriori;
        self.initial_imbalance = initial_imbalance;
        if !(eval.value.finite() && eval.gap.finite()) {
            self.status = Status::Diverged { at: 0 };
        } else if self.status == Status::Running && self.converged() {
            self.status = Status::Converged;
        }
        Ok(())
    }

    fn converged(&self) -> bool {
        let target = match self.config.tol {
            Tolerance::Absolute(x) => x,
            Tolerance::Relative(x) => x * self.initial_gap,
        };
        self.eval.gap <= target
    }

    /// The inputs of Theorem 2 with the given gap and imbalance as the start.
    fn inputs_at(&self, gap: T, imbalance: ImbalanceSummary<T>) -> AprioriInputs<T> {
        let c = self.loss.constants();
        let (n, _, m) = self.net.shape();
        AprioriInputs {
            mu: c.mu,
            k: c.k,
            w_star_spec: c.w_star.spectral,
            gap0: gap,
            imbalance,
            w_star_sigma_min: c.w_star.sigma_min,
            n,
            m,
        }
    }

    /// The inputs of Theorem 2 with the current iterate as the start
    /// (THEORY §8.2): its gap and the imbalance spectrum of its `D`
    /// (computed here, `O(h(n+m)²)`, no allocation).
    pub fn inputs_now(&mut self) -> AprioriInputs<T> {
        let imbalance = imbalance_spectrum(&self.net, &mut self.ws.imbalance);
        self.inputs_at(self.eval.gap, imbalance)
    }

    /// The certificate of Theorem 2 (with the margin of §8.1) for the rest
    /// of the run from the current iterate (THEORY §8.2): GD has no memory,
    /// so the current `W₁, W₂` serve as a start. One imbalance spectrum and
    /// one monotone search; no allocation, and the iterates are untouched.
    /// With it, [`AprioriCertificate::iterations_for`] at the current gap
    /// gives `T_t(ε)`.
    pub fn certificate_now(&mut self) -> Result<AprioriCertificate<T>, NoCertificate<T>> {
        let inputs = self.inputs_now();
        apriori_certificate(&inputs)
    }

    /// `ε` on the gap that [`TrainerConfig::tol`] means for this run.
    fn tol_abs(&self) -> T {
        match self.config.tol {
            Tolerance::Absolute(x) => x,
            Tolerance::Relative(x) => x * self.initial_gap,
        }
    }

    /// The certificate at iterate `t` for [`TrainerConfig::anytime_every`]:
    /// for a constant step, the one for that very step (then every step of
    /// the run is exactly `η̄`); otherwise the best one.
    fn anytime_now(&mut self) -> AnytimeRecord<T> {
        let inputs = self.inputs_now();
        let certificate = match self.rule.rule() {
            StepRule::Constant(eta) => certificate_for_step(&inputs, eta),
            _ => apriori_certificate(&inputs),
        };
        let remaining = certificate
            .ok()
            .and_then(|c| c.iterations_for(self.eval.gap, self.tol_abs()));
        self.anytime.computed += 1;
        if let Ok(c) = certificate {
            let total = remaining.and_then(|r| r.checked_add(self.t as u64));
            if self.anytime.certified_from.is_none() {
                self.anytime.certified_from = Some(self.t);
                self.anytime.certificate = Some(c);
                self.anytime.gap_at = self.eval.gap;
                self.anytime.guaranteed_remaining = remaining;
                self.anytime.guaranteed_total = total;
            }
            let tighter = match (total, self.anytime.best_total) {
                (Some(new), Some(old)) => new < old,
                (new, None) => new.is_some() || self.anytime_cert.is_none(),
                (None, Some(_)) => false,
            };
            if tighter {
                self.anytime.best_total = total;
                self.anytime.best_from = Some(self.t);
                self.anytime_cert = Some(c);
                self.anytime_bound = self.eval.gap;
            }
        }
        AnytimeRecord {
            certificate,
            remaining,
        }
    }

    /// Checks one step from `t_c` on against the guarantee of
    /// [`AnytimeSummary`]: whether it qualified, then the chained bound.
    /// Each step contracts by `ρ̄` up to its own rounding `allowance`
    /// (THEORY §11), so the allowances are carried along the chained bound.
    fn check_anytime(
        &mut self,
        t: usize,
        eta: T,
        cert: &StepCertificate<T>,
        allowance: T,
        next_gap: T,
    ) {
        let Some(c) = self.anytime_cert else {
            return;
        };
        if self.anytime.first_unqualified.is_some() {
            return;
        }
        let two = T::of(2.0);
        // The decrease of a step η is governed by η(2 − ηK_t(η)) (ρ_t =
        // 1 − μα_t·that); a step equal to η̄ has at least η̄(2 − η̄K̄).
        let phi_bar = c.eta_bar * (two - c.eta_bar * c.k_bar);
        let qualifies = eta == c.eta_bar
            || (eta <= c.eta_bar
                && cert.k_t.finite()
                && cert.k_t > T::zero()
                && eta * (two - eta * cert.k_t) >= phi_bar);
        if !qualifies {
            self.anytime.first_unqualified = Some(t);
            return;
        }
        let bound = c.rho_bar * self.anytime_bound + allowance;
        self.anytime_bound = bound;
        self.anytime.steps_checked += 1;
        if !(next_gap <= bound) {
            self.anytime.violations += 1;
        }
        if bound > T::zero() {
            let r = next_gap / bound;
            if r > self.anytime.worst_ratio || !r.finite() {
                self.anytime.worst_ratio = r;
            }
        }
    }

    /// The current network.
    pub fn net(&self) -> &TwoLayer<T, N, H, M> {
        &self.net
    }

    /// The loss.
    pub fn loss(&self) -> &L {
        &self.loss
    }

    /// Loss value and gap at the current iterate.
    pub fn evaluation(&self) -> Evaluation<T> {
        self.eval
    }

    /// Current status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Steps taken so far.
    pub fn iterations(&self) -> usize {
        self.t
    }

    /// Local constants `α_t, β_t, ‖G‖₂, g²` at the current iterate (THEORY §2).
    /// Uses `A`, `B`, `G` and `P` from the workspace, which must be current.
    ///
    /// `α_t, β_t` come from the extreme eigenvalues of the carried Grams
    /// ([`GramState`]); `‖G‖₂² = λ_max` of the smaller of `GᵀG`, `GGᵀ`.
    fn local_constants(&mut self) -> (LocalConstants<T>, StepNorms<T>) {
        let ws = &mut self.ws;
        let (n, h, m) = self.net.shape();
        ws.grams.current(&self.net);
        ws.gram_n.copy_from(&ws.grams.g1);
        ws.gram_m.copy_from(&ws.grams.g2);
        let mem = &mut ws.spectra;
        let [x1, x2, xg] = mem.extremes;
        let ((min1, max1), (min2, max2), grad_sq_max) = if n == m {
            // All three eigenproblems are n×n: solve them together.
            gram_cols(&ws.g, &mut ws.grams.gg);
            let hints = [
                SpectrumMemory::<T, N, M>::hints(
                    x1,
                    mem.gram_n.as_mut_slice(),
                    ws.gram_n.as_slice(),
                ),
                SpectrumMemory::<T, N, M>::hints(
                    x2,
                    mem.gram_m.as_mut_slice(),
                    ws.gram_m.as_slice(),
                ),
                SpectrumMemory::<T, N, M>::hints(
                    xg,
                    mem.grad_m.as_mut_slice(),
                    ws.grams.gg.as_slice(),
                ),
            ];
            let [e1, e2, eg] = kernels::sym_extremes3(
                [
                    ws.gram_n.as_mut_slice(),
                    ws.gram_m.as_mut_slice(),
                    ws.grams.gg.as_mut_slice(),
                ],
                [
                    ws.eig_n.as_mut_slice(),
                    ws.eig_m.as_mut_slice(),
                    ws.grams.gg_work.as_mut_slice(),
                ],
                n,
                [h >= n, h >= m, false],
                hints,
            );
            (e1, e2, eg)
        } else {
            let e1 = SpectrumMemory::<T, N, M>::extremes(
                x1,
                mem.gram_n.as_mut_slice(),
                ws.gram_n.as_mut_slice(),
                ws.eig_n.as_mut_slice(),
                h >= n,
            );
            let e2 = SpectrumMemory::<T, N, M>::extremes(
                x2,
                mem.gram_m.as_mut_slice(),
                ws.gram_m.as_mut_slice(),
                ws.eig_m.as_mut_slice(),
                h >= m,
            );
            let eg = if m <= n {
                gram_cols(&ws.g, &mut ws.gram_m);
                SpectrumMemory::<T, N, M>::extremes(
                    xg,
                    mem.grad_m.as_mut_slice(),
                    ws.gram_m.as_mut_slice(),
                    ws.eig_m.as_mut_slice(),
                    false,
                )
            } else {
                gram_rows(&ws.g, &mut ws.gram_n);
                SpectrumMemory::<T, N, M>::extremes(
                    xg,
                    mem.grad_n.as_mut_slice(),
                    ws.gram_n.as_mut_slice(),
                    ws.eig_n.as_mut_slice(),
                    false,
                )
            };
            (e1, e2, eg)
        };
        ws.spectra.extremes = [Some((min1, max1)), Some((min2, max2)), Some(grad_sq_max)];
        let grad_sq_max = grad_sq_max.1;
        // σ_n(W₁)² is 0 when h < n (rank), likewise σ_m(W₂)² (THEORY §1).
        let a1 = if h >= n { pos(min1) } else { T::zero() };
        let a2 = if h >= m { pos(min2) } else { T::zero() };
        let beta = pos(max1) + pos(max2);
        let grad_spec = sqrt(pos(grad_sq_max));
        let (a_sq, b_sq) = (
            kernels::sum_sq(ws.a.as_slice()),
            kernels::sum_sq(ws.b.as_slice()),
        );
        // ‖W₁‖², ‖W₂‖² are the traces of the Grams: O(n + m), no pass over W.
        let norms = StepNorms {
            w1: sqrt(pos(ws.grams.g1.trace())),
            w2: sqrt(pos(ws.grams.g2.trace())),
            a: sqrt(a_sq),
            b: sqrt(b_sq),
            beta,
            ..StepNorms::default()
        };
        ws.grams.prepare(&ws.g, &ws.p);
        (
            LocalConstants {
                alpha: a1 + a2,
                beta,
                grad_spec,
                grad_sq: a_sq + b_sq,
            },
            norms,
        )
    }

    fn product_spec(&mut self) -> T {
        let ws = &mut self.ws;
        let m = ws.p.ncols();
        gram_cols(&ws.p, &mut ws.gram_m);
        let (_, lmax) =
            kernels::sym_extremes(ws.gram_m.as_mut_slice(), m, ws.eig_m.as_mut_slice(), false);
        sqrt(pos(lmax))
    }

    /// One iteration. Returns `None` when the run has already ended.
    ///
    /// An interrupt ([`crate::cancel::request`]) ends the run
    /// [`Status::Stopped`]: seen before the update, the weights stay as they
    /// were and no record is made; seen during the imbalance spectrum after
    /// the update, the step's record is returned without that spectrum.
    pub fn step(&mut self) -> Option<StepRecord<T>> {
        if self.status.is_final() {
            return None;
        }
        if crate::cancel::requested() {
            self.status = Status::Stopped;
            return None;
        }
        let anytime =
            if self.config.anytime_every > 0 && self.t.is_multiple_of(self.config.anytime_every) {
                Some(self.anytime_now())
            } else {
                None
            };
        let (n, h, m) = self.net.shape();
        // A = G W₂ᵀ, B = W₁ᵀ G (THEORY §1).
        kernels::mm_nt(
            self.ws.a.as_mut_slice(),
            self.ws.g.as_slice(),
            self.net.w2.as_slice(),
            n,
            m,
        );
        kernels::mm_tn(
            self.ws.b.as_mut_slice(),
            self.net.w1.as_slice(),
            self.ws.g.as_slice(),
            h,
            n,
        );
        let constants = *self.loss.constants();
        let needs_local = self.config.certify || !matches!(self.rule.rule(), StepRule::Constant(_));
        let (local, mut norms) = if needs_local {
            self.local_constants()
        } else {
            let (a_sq, b_sq) = (
                kernels::sum_sq(self.ws.a.as_slice()),
                kernels::sum_sq(self.ws.b.as_slice()),
            );
            // No Grams without the local constants: the norms the
            // allowance of the divergence test needs come from the weights
            // (β_t bounded by ‖W₁‖² + ‖W₂‖²).
            let w1 = kernels::sum_sq(self.net.w1.as_slice());
            let w2 = kernels::sum_sq(self.net.w2.as_slice());
            (
                LocalConstants {
                    grad_sq: a_sq + b_sq,
                    ..LocalConstants::default()
                },
                StepNorms {
                    w1: sqrt(w1),
                    w2: sqrt(w2),
                    a: sqrt(a_sq),
                    b: sqrt(b_sq),
                    beta: w1 + w2,
                    ..StepNorms::default()
                },
            )
        };
        norms.grad = self.grad_norm;
        let product_spec = if self.rule.rule().needs_product_norm() {
            self.product_spec()
        } else {
            T::zero()
        };
        let ctx = RuleContext {
            t: self.t,
            local,
            constants,
            loss_kind: self.loss.kind(),
            gap: self.eval.gap,
            loss: self.eval.value,
            product_spec,
        };
        let eta = {
            let Self {
                net,
                loss,
                ws,
                rule,
                ..
            } = self;
            let mut trial_loss = |eta: T| -> T {
                ws.trial.copy_from(net);
                kernels::axpy(ws.trial.w1.as_mut_slice(), -eta, ws.a.as_slice());
                kernels::axpy(ws.trial.w2.as_mut_slice(), -eta, ws.b.as_slice());
                ws.trial.product_into(&mut ws.p);
                loss.evaluate(&ws.p).value
            };
            rule.step(&ctx, &mut trial_loss)
        };
        let eta = match eta {
            Ok(eta) => eta,
            // A line search that finds no decrease after progress was made
            // has hit the precision floor: that is a stall, not a rule failure.
            Err(RuleUnavailable::ArmijoNoDecrease) if self.t > 0 => {
                self.status = Status::Stalled;
                return None;
            }
            Err(why) => {
                self.status = Status::RuleUnavailable(why);
                return None;
            }
        };
        // The local constants may be partial (an interrupt inside their
        // spectra): stop before they move anything.
        if crate::cancel::requested() {
            self.status = Status::Stopped;
            return None;
        }
        let cert = StepCertificate::predict(local, constants.mu, constants.k, self.eval.gap, eta);
        let moved1 = kernels::axpy_moved(self.net.w1.as_mut_slice(), -eta, self.ws.a.as_slice());
        let moved2 = kernels::axpy_moved(self.net.w2.as_mut_slice(), -eta, self.ws.b.as_slice());
        if !(moved1 || moved2) {
            // Every weight rounded back to itself (a step far below the
            // resolution of the weights, e.g. ‖W₁‖ ≈ 1e30 against ‖W₂‖ ≈ 1):
            // the iterate cannot move, which is the precision floor, not a
            // failure of the certificate (which assumes the update is
            // carried out). Nothing changed, so nothing is recorded.
            self.status = Status::Stalled;
            return None;
        }
        // The carried Grams follow the step (or go stale when no local
        // constants were computed for it).
        self.ws.grams.advance(eta);
        self.net.product_into(&mut self.ws.p);
        let before = self.eval;
        self.eval = self.loss.evaluate_with_gradient(&self.ws.p, &mut self.ws.g);
        self.grad_norm = sqrt(kernels::sum_sq(self.ws.g.as_slice()));
        norms.next_grad = self.grad_norm;
        self.drift += eta * eta * local.grad_sq;
        let rounding = LossRounding {
            gap: self.loss.gap_error(before.gap),
            next_gap: self.loss.gap_error(self.eval.gap),
            grad: self.loss.gradient_error(norms.grad, before.gap),
        };
        let allowance = rounding_allowance(
            &cert,
            constants.mu,
            constants.k,
            eta,
            before.gap,
            StepShape { n, h, m },
            &norms,
            &rounding,
        );
        let check = if self.config.certify {
            let c = cert.check(before.gap, self.eval.gap, allowance);
            self.tally.record(&cert, &c);
            c
        } else {
            StepCheck {
                ratio: if before.gap > T::zero() {
                    self.eval.gap / before.gap
                } else {
                    T::zero()
                },
                allowance,
                ..StepCheck::default()
            }
        };
        let t = self.t;
        self.check_anytime(t, eta, &cert, allowance, self.eval.gap);
        self.t += 1;
        let imbalance = if self.config.imbalance_every > 0
            && self.t.is_multiple_of(self.config.imbalance_every)
        {
            // Exact Grams again after every imbalance spectrum.
            self.ws.grams.invalidate();
            self.check_imbalance()
        } else {
            None
        };
        self.update_status(t, before, allowance);
        if crate::cancel::requested() && !self.status.is_final() {
            self.status = Status::Stopped;
        }
        Some(StepRecord {
            t,
            loss: before.value,
            gap: before.gap,
            eta,
            cert,
            check,
            certified: self.config.certify,
            next_loss: self.eval.value,
            next_gap: self.eval.gap,
            drift: self.drift,
            imbalance,
            anytime,
        })
    }

    /// Lemma 3 (THEORY §7): since the last spectrum, `α_imb` fell and the
    /// extreme eigenvalues rose by at most the accumulated `Σ η² g²`.
    /// `None` (nothing checked) when an interrupt cut the spectrum short.
    fn check_imbalance(&mut self) -> Option<ImbalanceSummary<T>> {
        let now = imbalance_spectrum(&self.net, &mut self.ws.imbalance);
        if crate::cancel::requested() {
            return None;
        }
        let before = self.last_imbalance;
        let budget = self.drift - self.drift_at_last_imbalance;
        let scale = before.lambda_max + before.neg_lambda_max + budget;
        let tol = T::of(64.0) * T::of_usize(self.net.shape().1) * T::EPSILON * (scale + T::one());
        let ok = now.alpha_imb + budget + tol >= before.alpha_imb
            && now.lambda_max <= before.lambda_max + budget + tol
            && now.neg_lambda_max <= before.neg_lambda_max + budget + tol;
        self.tally.imbalance_checks += 1;
        if !ok {
            self.tally.imbalance_violations += 1;
        }
        self.last_imbalance = now;
        self.drift_at_last_imbalance = self.drift;
        Some(now)
    }

    /// Ends the run when it diverged (non-finite, or the gap rose by more
    /// than the step's rounding `allowance`, THEORY §11), converged, hit
    /// the iteration cap or stalled.
    fn update_status(&mut self, t: usize, before: Evaluation<T>, allowance: T) {
        if !(self.eval.value.finite() && self.eval.gap.finite())
            || self.eval.gap > before.gap + allowance
        {
            self.status = Status::Diverged { at: t };
        } else if self.converged() {
            self.status = Status::Converged;
        } else if self.t >= self.config.max_iters {
            self.status = Status::MaxIters;
        } else {
            // Gaps are computed without cancellation (`loss::Evaluation`), so
            // their rounding is relative: a step that does not lower the best
            // gap by more than a few relative units of ε made no progress.
            // (An absolute allowance would stop f32 runs far above their floor.)
            if self.eval.gap < self.best_gap * (T::one() - T::of(4.0) * T::EPSILON) {
                self.stall = 0;
            } else {
                self.stall += 1;
            }
            if self.eval.gap < self.best_gap {
                self.best_gap = self.eval.gap;
            }
            if self.config.stall_window > 0 && self.stall >= self.config.stall_window {
                self.status = Status::Stalled;
            }
        }
    }

    /// Runs until a stop condition, handing every record to `observer`.
    pub fn run(&mut self, observer: &mut impl Observer<T>) -> Summary<T> {
        while let Some(record) = self.step() {
            if !observer.observe(&record) && !self.status.is_final() {
                self.status = Status::Stopped;
            }
        }
        self.summary()
    }

    /// The summary so far.
    pub fn summary(&self) -> Summary<T> {
        Summary {
            status: self.status,
            iterations: self.t,
            initial_gap: self.initial_gap,
            final_gap: self.eval.gap,
            final_loss: self.eval.value,
            tally: self.tally,
            apriori: self.summary_apriori,
            initial_imbalance: self.initial_imbalance,
            anytime: self.anytime,
        }
    }

    /// Takes the network and loss back.
    pub fn into_parts(self) -> (TwoLayer<T, N, H, M>, L) {
        (self.net, self.loss)
    }
}
