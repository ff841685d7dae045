//! Building a [`Trainer`], its accessors and the run loop.

use core::mem::MaybeUninit;

use nalgebra::{DefaultAllocator, DimAdd};

use crate::apriori::AprioriCertificate;
use crate::certificate::CertificateTally;
use crate::dims::NetAllocator;
use crate::error::ProblemError;
use crate::imbalance::ImbalanceSummary;
use crate::kernels;
use crate::loss::{Evaluation, Loss};
use crate::model::Model;
use crate::rules::{PreparedRule, StartInfo, StepRule};
use crate::scalar::{sqrt, Real};

use super::{AnytimeSummary, Observer, Status, Summary, Tolerance, Trainer, TrainerConfig};

impl<T, N, H, M, L, Mdl> Trainer<T, N, H, M, L, Mdl>
where
    T: Real,
    N: DimAdd<M>,
    H: nalgebra::Dim,
    M: nalgebra::Dim,
    L: Loss<T, N, M>,
    Mdl: Model<T, N, M, Hidden = H>,
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
        net: Mdl,
        loss: L,
        rule: StepRule<T>,
        config: TrainerConfig<T>,
    ) -> Result<Self, ProblemError> {
        Self::check(&net, &loss, &config)?;
        let mut this = Self::blank(net, loss, config)?;
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
        net: Mdl,
        loss: L,
        rule: StepRule<T>,
        config: TrainerConfig<T>,
    ) -> Result<&mut Self, ProblemError> {
        Self::check(&net, &loss, &config)?;
        match slot.write(Self::blank(net, loss, config)?).start(rule) {
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
    pub(super) fn check(
        net: &Mdl,
        loss: &L,
        config: &TrainerConfig<T>,
    ) -> Result<(), ProblemError> {
        net.validate()?;
        let (nd, _, md) = net.shape();
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
    pub(super) fn blank(net: Mdl, loss: L, config: TrainerConfig<T>) -> Result<Self, ProblemError> {
        let ws = net.new_work()?;
        Ok(Self {
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
            _hidden: core::marker::PhantomData,
        })
    }

    /// Evaluates the start, its imbalance and a-priori certificate, and
    /// prepares the rule (what [`Trainer::new`] does once the buffers exist).
    pub(super) fn start(&mut self, rule: StepRule<T>) -> Result<(), ProblemError> {
        let eval = self.net.evaluate(&mut self.ws, &mut self.loss);
        self.grad_norm = sqrt(kernels::sum_sq(Mdl::gradient(&self.ws).as_slice()));
        let constants = *self.loss.constants();
        let (initial_imbalance, _) = self.net.imbalance(&mut self.ws, None);
        // The spectrum (or the loss's set-up before it) may have been cut
        // short by an interrupt: nothing computed from it is trustworthy.
        if crate::cancel::requested() {
            return Err(ProblemError::Cancelled);
        }
        // ‖W − W*‖ for the rules defined by the start.
        let distance_to_target = sqrt(kernels::sum_sq_diff(
            Mdl::product(&self.ws).as_slice(),
            self.loss.minimizer().as_slice(),
        ));
        let apriori = self.apriori_at(eval.gap, initial_imbalance);
        let start = StartInfo {
            distance_to_target,
            constants,
            loss_kind: self.loss.kind(),
        };
        // A rule defined by the start whose step depends on the model
        // (Arora et al. at depth L) is prepared as that constant step.
        let prepared = match self.net.own_fixed_step(&rule, &start) {
            Some(Ok(eta)) => PreparedRule::prepare(StepRule::Constant(eta), &start),
            Some(Err(why)) => Err(why),
            None => PreparedRule::prepare(rule, &start),
        };
        let (rule, status) = match prepared {
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

    pub(super) fn converged(&self) -> bool {
        let target = match self.config.tol {
            Tolerance::Absolute(x) => x,
            Tolerance::Relative(x) => x * self.initial_gap,
        };
        self.eval.gap <= target
    }

    /// The current network.
    pub fn net(&self) -> &Mdl {
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
    pub fn into_parts(self) -> (Mdl, L) {
        (self.net, self.loss)
    }
}
