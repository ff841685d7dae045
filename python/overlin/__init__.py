"""overlin: certified gradient descent for overparametrized two-layer linear
models ``W = W1 @ W2``, and certificates for the steps of your own training
loop.

Every number comes from the same Rust core as the ``overlin`` command-line
program (the same data, starts and trajectories, bit for bit); the
mathematics, with the section numbers cited below (THEORY §N), is
``docs/THEORY.md`` in the repository.

Main entry points:

* :func:`run` -- certified gradient descent from ``(W1, W2)`` on the loss of
  ``(X, Y)``: per-step arrays, final weights, status, tally and the a-priori
  certificate (:class:`RunResult`).
* :func:`certify` -- the a-priori certificate (THEORY §8) and the local
  constants at a start (:class:`Certificate`).
* :func:`step_certificate` -- what THEORY §2-§5 guarantee for one gradient
  step of size ``eta`` from your iterate; ``.check(next_W1, next_W2)`` checks
  the step your code took (:class:`StepCertificate`, :class:`StepCheck`).
* :func:`problem` and :func:`init` -- the generated problems and starts of
  the command line (same seeds, same numbers).

Arrays are NumPy ``float64`` or ``float32`` (C or Fortran order); the run
is in the arrays' precision unless ``precision=`` says otherwise. Bad
input raises ``TypeError`` (wrong type or dtype) or ``ValueError`` (shape,
NaN, sizes that disagree, parameters out of range), naming the argument.
The GIL is released while the core computes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from . import _overlin

__all__ = [
    "run",
    "certify",
    "step_certificate",
    "problem",
    "init",
    "RunResult",
    "Tally",
    "Apriori",
    "Certificate",
    "StepCertificate",
    "StepCheck",
    "Problem",
    "STEP_COLUMNS",
    "STEP_CLASSES",
]

__version__ = "0.1.0"

#: The per-step arrays of a :class:`RunResult`, in the order of ``to_pandas()``.
STEP_COLUMNS = (
    "t",
    "loss",
    "gap",
    "eta",
    "alpha",
    "beta",
    "grad_spec",
    "mu_t",
    "k_t",
    "rho",
    "ratio",
    "bound_ratio",
    "holds",
    "next_gap",
    "eta_k_t",
    "contraction_applies",
    "drift",
    "class",
    "allowance",
    "t_eps",
)

#: The classes of a checked step (THEORY §11), in the order outputs list them.
#: Only a ``certified`` step's check of Theorem 1 could have failed with a
#: wrong certificate; ``trivial`` (``alpha_t = 0``, so ``rho_t = 1``: only "the
#: loss did not rise" was checked), ``below_resolution`` (the rounding
#: allowance is not small against the predicted decrease: the precision
#: floor), ``descent_only`` (``eta K_t >= 2``: only Lemma 2 applies) and
#: ``non_finite`` (overflow) are counted apart.
STEP_CLASSES = ("certified", "trivial", "below_resolution", "descent_only", "non_finite")
_CLASS_NAMES = np.array(STEP_CLASSES, dtype="U16")


@dataclass(frozen=True)
class Tally:
    """Counts of a run's checked steps (THEORY §5, §7, §11)."""

    steps_checked: int
    """Steps whose certificate was checked."""
    contraction_steps: int
    """Steps where Theorem 1 applied (``eta * K_t < 2``)."""
    violations: int
    """Steps whose bound was violated beyond rounding (0 in a correct run)."""
    worst_ratio: float
    """Largest measured/certified ratio ``(L_{t+1} - L*)/(rho_t (L_t - L*))``
    over **certified** steps, with no rounding allowance in the denominator
    (at most 1 up to rounding when every bound held; 0 when no step was
    certified)."""
    imbalance_checks: int
    """Lemma 3 imbalance-drift checks made (THEORY §7)."""
    imbalance_violations: int
    """Lemma 3 checks that failed."""
    classes: Optional[Dict[str, int]] = None
    """Checked steps counted by class (THEORY §11): the keys of
    ``STEP_CLASSES`` (``certified``, ``trivial``, ``below_resolution``,
    ``descent_only``, ``non_finite``)."""

    def all_held(self) -> bool:
        """``True`` when no per-step or Lemma 3 bound was violated. This says
        nothing when no step was certified: see :meth:`verdict`."""
        return self.violations == 0 and self.imbalance_violations == 0

    def verdict(self) -> str:
        """``"violated"`` (a bound was broken), ``"held"`` (none was, and at
        least one step was certified) or ``"nothing_certified"`` (none was
        broken, but every check was vacuous: trivial, below resolution,
        descent only or non-finite), as ``overlin run`` says it."""
        if not self.all_held():
            return "violated"
        if (self.classes or {}).get("certified", 0) == 0:
            return "nothing_certified"
        return "held"


@dataclass(frozen=True)
class Apriori:
    """The a-priori certificate of Theorem 2 (THEORY §8) from a start, or
    why none exists (``certified`` False and ``reason`` set)."""

    certified: bool
    """A certificate exists."""
    eta_bar: Optional[float]
    """Largest step the certificate allows."""
    rho_bar: Optional[float]
    """Guaranteed contraction of ``L - L*`` per step with steps ``<= eta_bar``."""
    alpha_bar: Optional[float]
    """Lower bound on every ``alpha_t``."""
    beta_bar: Optional[float]
    """Upper bound on every ``beta_t``."""
    k_bar: Optional[float]
    """``K_bar``, the smoothness bound along the run."""
    delta: Optional[float]
    """Bound on the imbalance drift."""
    iterations_to_tol: Optional[int]
    """``T(eps)``: iterations guaranteed to reach ``L - L* <= tol``."""
    tol: float
    """The tolerance ``eps`` on ``L - L*`` that ``iterations_to_tol`` refers to."""
    reason: Optional[str]
    """Why no certificate exists."""
    alpha_imbalance: Optional[float] = None
    """The imbalance term ``alpha_imb(D0) - delta`` of ``alpha_bar`` (THEORY
    §8), when the core reports it."""
    alpha_margin: Optional[float] = None
    """The margin term ``c p0^2 / beta_bar`` of ``alpha_bar`` (THEORY §8.1),
    when the core reports it."""
    p0: Optional[float] = None
    """The margin ``p0 = [sigma_min(W*) - sqrt(2 (L0 - L*)/mu)]_+`` (THEORY §8.1)."""
    alpha_source: Optional[str] = None
    """Which term made ``alpha_bar`` positive: ``imbalance``, ``margin`` or ``both``."""
    margin_gap: Optional[float] = None
    """``mu sigma_min(W*)^2 / 2``: the gap must be below it for a margin."""
    margin_c: Optional[float] = None
    """The constant ``c`` of the margin term (4 when ``n = m``, else 1)."""


@dataclass(frozen=True)
class Certificate:
    """What :func:`certify` returns: the a-priori certificate (THEORY §8)
    next to the exact local constants at the start (THEORY §2-§5) and the
    imbalance terms (THEORY §2, §7)."""

    apriori: Apriori
    """The a-priori certificate, or why none exists."""
    start: Dict[str, float]
    """Local constants at the start: ``loss0, gap0, alpha0, beta0,
    alpha_over_beta, grad_spec0, grad_sq0, mu0, eta_local0, k0, rho0,
    limit_rate0`` and the imbalance terms ``lambda_max`` (of ``D0``),
    ``neg_lambda_max`` (of ``-D0``), ``alpha_imb`` (as ``overlin certify
    --json`` reports them)."""
    constants: Dict[str, float]
    """The loss's ``mu, k, l_star, w_star_spec, w_star_sigma_min``."""
    sizes: Dict[str, int]
    """``n, m, h, samples``."""
    setting_note: Optional[str]
    """Set when ``h < max(n, m)`` (outside the paper's setting), with why."""
    summary_json: str = field(default="{}", repr=False)

    @property
    def summary(self) -> Dict[str, Any]:
        """Everything ``overlin certify --json`` prints, as a dict."""
        return json.loads(self.summary_json)


def _known(cls: Any, d: Dict[str, Any]) -> Dict[str, Any]:
    """The entries of ``d`` that are fields of the dataclass ``cls`` (the
    host may report more; they stay in the ``summary`` dicts)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}


def _apriori(d: Dict[str, Any]) -> Apriori:
    return Apriori(**_known(Apriori, d))


def _tally(d: Dict[str, Any]) -> Tally:
    return Tally(**_known(Tally, d))


@dataclass(frozen=True)
class RunResult:
    """The outcome of :func:`run`.

    Per-step arrays (one entry per step ``t -> t+1``) are in ``steps`` and
    also attributes: ``t, loss, gap, eta, alpha, beta, grad_spec, mu_t, k_t,
    rho, ratio, bound_ratio, holds, next_gap, eta_k_t, contraction_applies,
    drift, class, allowance, t_eps`` (see ``STEP_COLUMNS``); ``ratio`` is the
    achieved ``(L_{t+1} - L*)/(L_t - L*)``, ``bound_ratio`` the measured over
    the certified bound (0 unless the step is certified, THEORY §11),
    ``class`` the step's class (a string array, values in
    ``STEP_CLASSES``), ``allowance`` the rounding allowance the step was
    checked with (docs/ROUNDING.md), ``t_eps`` the further iterations
    guaranteed by the certificate computed at that iterate (THEORY §8.2;
    NaN where none was computed or none exists, see ``anytime_every``).
    """

    status: str
    """``converged``, ``max_iters``, ``diverged``, ``stalled``,
    ``rule_unavailable`` or ``stopped``."""
    iterations: int
    """Steps taken."""
    W1: np.ndarray
    """Final ``W1`` (``n x h``), in the run's precision."""
    W2: np.ndarray
    """Final ``W2`` (``h x m``)."""
    tally: Tally
    """Counts of checked steps and violations."""
    apriori: Apriori
    """The a-priori certificate from the start."""
    initial_gap: float
    """``L_0 - L*``."""
    final_gap: float
    """Final ``L - L*``."""
    final_loss: float
    """Final ``L``."""
    tol: float
    """The absolute tolerance on ``L - L*`` used."""
    rule: str
    """The step rule."""
    precision: str
    """``f32`` or ``f64``."""
    achieved_rate: Optional[float]
    """Geometric-mean rate ``(final_gap/initial_gap)^(1/iterations)``."""
    alpha0: float
    """``alpha_0`` (THEORY §2)."""
    beta0: float
    """``beta_0``."""
    constants: Dict[str, float]
    """The loss's ``mu, k, l_star, w_star_spec, w_star_sigma_min``."""
    sizes: Dict[str, int]
    """``n, m, h, samples``."""
    wall_time_s: float
    """Seconds spent iterating (excludes building the problem)."""
    diverged_at: Optional[int] = None
    """Step at which a divergence was detected."""
    rule_unavailable: Optional[str] = None
    """Why the rule gives no step (status ``rule_unavailable``)."""
    setting_note: Optional[str] = None
    """Set when ``h < max(n, m)``."""
    steps: Dict[str, np.ndarray] = field(default_factory=dict)
    """Per-step arrays by name."""
    summary_json: str = field(default="{}", repr=False)

    @property
    def summary(self) -> Dict[str, Any]:
        """Everything ``overlin run --json`` prints, as a dict (the same keys)."""
        return json.loads(self.summary_json)

    def __getattr__(self, name: str) -> np.ndarray:
        steps = self.__dict__.get("steps", {})
        if name in steps:
            return steps[name]
        raise AttributeError(name)

    @property
    def anytime(self) -> Optional[Dict[str, Any]]:
        """Certificates from later iterates (THEORY §8.2): ``certified_from``
        (the first step from which Theorem 2 certified the rest of the run),
        ``guaranteed_remaining``, ``guaranteed_total`` and the ``anytime_*``
        details, as ``overlin run --json`` reports them; ``None`` when the
        core does not report them."""
        s = self.summary
        if "certified_from" not in s:
            return None
        keys = ("certified_from", "guaranteed_remaining", "guaranteed_total")
        return {k: v for k, v in s.items() if k in keys or k.startswith("anytime_")}

    @property
    def violated(self) -> bool:
        """``True`` when some certificate was violated."""
        return not self.tally.all_held()

    def to_pandas(self):
        """The per-step arrays as a ``pandas.DataFrame`` (one row per step,
        columns ``STEP_COLUMNS``). Needs pandas (``pip install pandas``)."""
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas() needs pandas: pip install pandas") from e
        return pd.DataFrame({k: self.steps[k] for k in STEP_COLUMNS if k in self.steps})

    def plot(self, ax=None):
        """Draws ``L_t - L*`` against ``t`` (log scale) with the certified
        bounds: each step's ``rho_t (L_t - L*)`` (THEORY §5) and, when the
        start has one, the a-priori bound ``rho_bar^t (L_0 - L*)`` (THEORY
        §8). Needs matplotlib; returns the axes."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("plot() needs matplotlib: pip install matplotlib") from e
        if ax is None:
            _, ax = plt.subplots()
        s = self.steps
        t = np.append(s["t"], len(s["t"])).astype(float)
        gap = np.append(s["gap"], self.final_gap)
        ax.semilogy(t, gap, label="L - L*", color="black")
        bound = np.where(s["class"] == "certified", np.maximum(s["rho"], 0.0) * s["gap"], np.nan)
        ax.semilogy(s["t"] + 1.0, bound, "--", label="certified rho_t (L_t - L*)")
        if self.apriori.certified and self.apriori.rho_bar is not None:
            ax.semilogy(t, self.initial_gap * self.apriori.rho_bar ** t, ":",
                        label="a-priori rho_bar^t (L_0 - L*)")
        ax.set_xlabel("iteration t")
        ax.set_ylabel("L - L*")
        ax.set_title(f"rule {self.rule}: {self.status} after {self.iterations} steps")
        ax.legend()
        return ax

    def __repr__(self) -> str:
        a = self.apriori
        ap = (f"eta_bar={a.eta_bar:.4e} rho_bar={a.rho_bar:.4e} T(eps)={a.iterations_to_tol}"
              if a.certified else f"none ({a.reason})")
        t = self.tally
        classes = " ".join(f"{k}={v}" for k, v in (t.classes or {}).items())
        return (f"RunResult(status={self.status!r}, iterations={self.iterations}, "
                f"final_gap={self.final_gap:.6e}, steps checked={t.steps_checked} "
                f"({classes}), violations={t.violations}, "
                f"worst measured/bound over certified steps={t.worst_ratio:.6f}, "
                f"verdict={t.verdict()}, a-priori: {ap})")


@dataclass(frozen=True)
class StepCheck:
    """The check of one step against its :class:`StepCertificate`."""

    holds: bool
    """Lemma 2 and (for a ``certified`` step) Theorem 1 held within the
    rounding allowance (THEORY §11). A finite bound that keeps the loss down
    (``eta K_t <= 2``) followed by a non-finite next loss does not hold."""
    cls: str
    """The step's class, one of ``STEP_CLASSES`` (also readable as
    ``check.class_`` and ``getattr(check, "class")``): only a ``certified``
    step's check of Theorem 1 could have failed with a wrong certificate."""
    allowance: float
    """The rounding allowance the step was checked with (docs/ROUNDING.md)."""
    ratio: float
    """Achieved ``(L_{t+1} - L*)/(L_t - L*)``."""
    bound_ratio: float
    """Measured over certified (at most 1 when Theorem 1 held; 0 when it does
    not apply)."""
    next_loss: float
    """``L_{t+1}`` at your next iterate."""
    next_gap: float
    """``L_{t+1} - L*``."""
    deviation: float
    """Distance of your next iterate from the core's gradient step, relative
    to the step's length. For a plain gradient step computed by another
    library it is rounding: ~1e-16 (f64) or ~1e-7 (f32) early in a run,
    growing as the gradient shrinks (its rounding does not shrink with it),
    yet far below 1. Near 1 or above, your step was not the gradient step of
    size ``eta`` that was certified (momentum, another loss, another
    ``eta``), and the prediction does not apply to it."""

    @property
    def class_(self) -> str:
        """The step's class (``cls``)."""
        return self.cls

    def __getattr__(self, name: str) -> Any:
        if name == "class":
            return self.cls
        raise AttributeError(name)


class StepCertificate:
    """What THEORY §2-§5 guarantee for one gradient step
    ``W1 -= eta * dL/dW1, W2 -= eta * dL/dW2`` from an iterate, computed
    before the step (see :func:`step_certificate`).

    Attributes: ``loss`` and ``gap`` (``L_t``, ``L_t - L*``), ``eta``,
    ``alpha, beta, grad_spec, grad_sq`` (the local constants, THEORY §2),
    ``mu_t`` (Lemma 1), ``k_t`` (``K_t(eta)``, Lemma 2), ``eta_k_t``, ``rho``
    (``rho_t(eta)``, Theorem 1), ``contraction_applies``
    (``eta K_t(eta) < 2``), ``descent_bound`` (Lemma 2's bound on
    ``L_{t+1} - L*``), ``local_eta`` (the Local rule's step
    ``1/(K beta_t + ||G_t||_2)``, which always has ``eta K_t < 2``).
    """

    def __init__(self, native: Any) -> None:
        self._native = native
        self._p = native.prediction()

    def __getattr__(self, name: str) -> Any:
        p = self.__dict__.get("_p", {})
        if name in p:
            return p[name]
        raise AttributeError(name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._p))

    def as_dict(self) -> Dict[str, Any]:
        """The predicted quantities by name."""
        return dict(self._p)

    def check(self, next_W1: np.ndarray, next_W2: np.ndarray) -> StepCheck:
        """Checks the prediction against the iterate your step produced.
        A non-finite next iterate is not an error: the step broke its bound."""
        d = self._native.check(next_W1, next_W2)
        d["cls"] = d.pop("class")
        return StepCheck(**d)

    def gradient_step(self) -> Tuple[np.ndarray, np.ndarray]:
        """The core's own gradient step ``(W1 - eta A, W2 - eta B)``."""
        return self._native.gradient_step()

    def __repr__(self) -> str:
        return (f"StepCertificate(gap={self.gap:.6e}, eta={self.eta:.6e}, alpha={self.alpha:.6e}, "
                f"beta={self.beta:.6e}, mu_t={self.mu_t:.6e}, k_t={self.k_t:.6e}, "
                f"rho={self.rho:.6e}, contraction_applies={self.contraction_applies})")


def run(X: np.ndarray, Y: np.ndarray, W1: np.ndarray, W2: np.ndarray, *,
        loss: str = "squared", gamma: float = 0.1, lam: float = 0.01,
        rule: str = "local", iters: int = 1000, tol: float = 1e-10,
        relative: bool = False, imbalance_every: int = 10, stall_window: int = 20,
        anytime_every: int = 10, precision: Optional[str] = None) -> RunResult:
    """Certified gradient descent on ``L(W1, W2) = loss(W1 @ W2)`` from
    ``(W1, W2)``, every step certified (THEORY §5) -- what ``overlin run
    --x X --y Y --w1 W1 --w2 W2`` does, with the same bits.

    Args:
        X: data, ``N x n`` (for ``loss="sensing"`` the ``p x (n*m)`` operator
            whose row ``k`` is ``vec(A_k)`` in column-major order).
        Y: targets ``N x m`` (sensing: ``p`` measurements; softmax: ``N``
            integer class labels or an ``N x m`` one-hot matrix).
        W1: start of the first layer, ``n x h``.
        W2: start of the second layer, ``h x m``.
        loss: ``"squared"``, ``"sensing"``, ``"logcosh"`` (ridge ``gamma``) or
            ``"softmax"`` (ridge ``lam``) (THEORY §9).
        rule: ``"local"``, ``"rate-optimal"``, ``"constant:ETA"``, ``"arora"``,
            ``"du"``, ``"xu2023"``, ``"armijo"`` (THEORY §6).
        iters: iteration cap.
        tol: tolerance on ``L - L*`` (relative to ``L_0 - L*`` when
            ``relative``).
        imbalance_every: check Lemma 3's imbalance drift every this many
            steps (0: never).
        stall_window: steps without progress before status ``stalled``.
        anytime_every: recompute the certificate of Theorem 2 at the current
            iterate every this many steps (THEORY §8.2; 0: never); the
            certified-from step and its guarantee are in ``anytime``.
        precision: ``"f32"`` or ``"f64"``; default: the arrays' dtype.

    Returns:
        A :class:`RunResult`. A violated certificate is reported there
        (``tally.violations``), not raised. Ctrl-C stops the run and raises
        ``KeyboardInterrupt``.
    """
    d = _overlin.run(X, Y, W1, W2, loss=loss, gamma=float(gamma), lam=float(lam),
                     precision=precision, rule=rule, iters=int(iters), tol=float(tol),
                     relative=bool(relative), imbalance_every=int(imbalance_every),
                     stall_window=int(stall_window), anytime_every=int(anytime_every))
    summary = json.loads(d["summary_json"])
    d["tally"] = _tally(summary["tally"])
    d["apriori"] = _apriori(summary["apriori"])
    steps = d["steps"]
    steps["class"] = _CLASS_NAMES[steps["class"]]
    return RunResult(**d)


def certify(X: np.ndarray, Y: np.ndarray, W1: np.ndarray, W2: np.ndarray, *,
            loss: str = "squared", gamma: float = 0.1, lam: float = 0.01,
            tol: float = 1e-10, precision: Optional[str] = None) -> Certificate:
    """The a-priori certificate (THEORY §8) for reaching ``L - L* <= tol``
    from ``(W1, W2)``, next to the exact local constants at the start and the
    imbalance terms -- what ``overlin certify`` prints. Arguments as for
    :func:`run`."""
    summary_json = _overlin.certify(X, Y, W1, W2, loss=loss, gamma=float(gamma),
                                    lam=float(lam), precision=precision,
                                    tol=float(tol))["summary_json"]
    d = json.loads(summary_json)
    d["apriori"] = _apriori(d["apriori"])
    return Certificate(summary_json=summary_json, **_known(Certificate, d))


def step_certificate(X: np.ndarray, Y: np.ndarray, W1: np.ndarray, W2: np.ndarray,
                     eta: float, *, loss: str = "squared", gamma: float = 0.1,
                     lam: float = 0.01, precision: Optional[str] = None) -> StepCertificate:
    """The certificate of one gradient step of size ``eta`` from your iterate
    ``(W1, W2)``, computed before you take it: the local constants, ``mu_t``,
    ``K_t(eta)``, ``rho_t(eta)`` and Lemma 2's bound (THEORY §2-§5). Take the
    step in your own code (NumPy, PyTorch, JAX, ...), then call
    ``.check(next_W1, next_W2)`` to check it. Arguments as for :func:`run`.

    Example::

        cert = overlin.step_certificate(X, Y, W1, W2, eta)
        W1, W2 = my_gradient_step(W1, W2, eta)
        print(cert.rho, cert.check(W1, W2).ratio)
    """
    return StepCertificate(_overlin.step_certificate(
        X, Y, W1, W2, float(eta), loss=loss, gamma=float(gamma), lam=float(lam),
        precision=precision))


@dataclass(frozen=True)
class Problem:
    """A generated problem: data, start and loss, as :func:`problem` made it.
    ``run``, ``certify`` and ``step_certificate`` call the module functions
    with them."""

    X: np.ndarray
    """Data (``N x n``; the sensing operator ``p x (n*m)``)."""
    Y: np.ndarray
    """Targets (``N x m``; sensing ``p x 1``; softmax one-hot ``N x m``)."""
    W1: np.ndarray
    """Start, ``n x h``."""
    W2: np.ndarray
    """Start, ``h x m``."""
    loss: str
    """The loss's name."""
    gamma: float
    """Log-cosh ridge."""
    lam: float
    """Softmax ridge."""
    constants: Dict[str, float]
    """The loss's ``mu, k, l_star, w_star_spec, w_star_sigma_min``."""
    sizes: Dict[str, int]
    """``n, m, h, samples``."""

    def _kw(self) -> Dict[str, Any]:
        return {"loss": self.loss, "gamma": self.gamma, "lam": self.lam}

    def run(self, **kwargs: Any) -> RunResult:
        """:func:`run` on this problem (keyword arguments as there)."""
        return run(self.X, self.Y, self.W1, self.W2, **self._kw(), **kwargs)

    def certify(self, **kwargs: Any) -> Certificate:
        """:func:`certify` on this problem."""
        return certify(self.X, self.Y, self.W1, self.W2, **self._kw(), **kwargs)

    def step_certificate(self, eta: float, **kwargs: Any) -> StepCertificate:
        """:func:`step_certificate` from this problem's start."""
        return step_certificate(self.X, self.Y, self.W1, self.W2, eta, **self._kw(), **kwargs)


def problem(*, loss: str = "squared", n: int = 10, m: int = 5, h: int = 64,
            samples: int = 200, kappa: Union[float, str] = 10.0, noise: float = 0.0,
            target_std: Optional[float] = None, gamma: float = 0.1, lam: float = 0.01,
            init: str = "gaussian", sigma: float = 1.0, scale: float = 1.0, seed: int = 0,
            data_seed: Optional[int] = None, precision: str = "f64") -> Problem:
    """The problem the command line generates for the same flags (same
    seeds, same numbers): ``overlin.problem(n=20, m=20, h=1000, samples=20,
    kappa="orthogonal", sigma=5, scale=0.2)`` is ``overlin run --n 20 --m 20
    --h 1000 --samples 20 --kappa orthogonal --sigma 5 --scale 0.2``.

    Args:
        loss: ``"squared"``, ``"sensing"``, ``"logcosh"``, ``"softmax"`` (THEORY §9).
        n, m, h, samples: sizes (``samples`` is ``N``, or ``p`` for sensing).
        kappa: condition number of the generated ``X``, or ``"orthogonal"``,
            ``"identity"``, ``"gaussian"``.
        noise: standard deviation of the target noise.
        target_std: standard deviation of the planted ``Theta`` (default ``1/sqrt(n)``).
        gamma, lam: log-cosh and softmax ridges.
        init: ``"gaussian"``, ``"scaled"``, ``"orthogonal"``, ``"spectral"``,
            ``"spectral-target"`` (THEORY §10).
        sigma: imbalance knob; scale: entry scale.
        seed: seed of the start (and of the data unless ``data_seed``).
        precision: ``"f32"`` or ``"f64"`` (the arrays' dtype).
    """
    d = _overlin.problem(loss=loss, n=int(n), m=int(m), h=int(h), samples=int(samples),
                         kappa=kappa, noise=float(noise),
                         target_std=None if target_std is None else float(target_std),
                         gamma=float(gamma), lam=float(lam), init=init, sigma=float(sigma),
                         scale=float(scale), seed=int(seed),
                         data_seed=None if data_seed is None else int(data_seed),
                         precision=precision)
    return Problem(loss=loss, gamma=float(gamma), lam=float(lam), **d)


def init(n: int, h: int, m: int, *, kind: str = "gaussian", sigma: float = 1.0,
         scale: float = 1.0, seed: int = 0,
         precision: str = "f64") -> Tuple[np.ndarray, np.ndarray]:
    """A start ``(W1, W2)`` (``n x h``, ``h x m``) as the command line draws
    it for ``--init KIND --sigma --scale --seed`` (THEORY §10): ``"gaussian"``
    (entries ``N(0, scale^2)``), ``"scaled"`` (``N(0, scale^2/h)``),
    ``"orthogonal"`` (each then rebalanced by the imbalance knob ``sigma``),
    or ``"spectral"`` (balanced). The ``"spectral-target"`` start needs the
    problem's minimizer: use :func:`problem`."""
    return _overlin.init(int(n), int(h), int(m), kind=kind, sigma=float(sigma),
                         scale=float(scale), seed=int(seed), precision=precision)
