"""Result objects: certify, the tally, the a-priori certificate, to_pandas()
and plot() (when pandas and matplotlib are installed)."""

import numpy as np
import pytest

import overlin


@pytest.fixture(scope="module")
def prob():
    return overlin.problem(n=20, m=20, h=1000, samples=20, kappa="orthogonal", sigma=5,
                           scale=0.2)


def test_readme_problem(prob):
    # The README's `overlin run` example: converged in 13 steps, a-priori T(eps) = 43.
    res = prob.run()
    assert res.status == "converged" and res.iterations == 13
    assert res.tally.all_held() and not res.violated
    assert res.apriori.certified and res.apriori.iterations_to_tol == 43
    assert res.apriori.eta_bar == pytest.approx(5.553430e-2, rel=1e-6)
    assert len(res.gap) == 13 and res.gap[0] == res.initial_gap
    assert np.all(res.holds)
    assert "converged" in repr(res)


def test_certify(prob):
    c = prob.certify()
    assert c.apriori.certified
    assert c.apriori.rho_bar == pytest.approx(5.470210e-1, rel=1e-6)
    assert c.start["alpha0"] == pytest.approx(1.573672e2, rel=1e-6)
    assert c.start["alpha_imb"] > 0
    assert c.sizes == {"n": 20, "m": 20, "h": 1000, "samples": 20}
    # A balanced (spectral) start has no imbalance margin.
    spectral = overlin.problem(n=20, m=20, h=1000, samples=20, kappa="orthogonal",
                               init="spectral", scale=0.2)
    c = spectral.certify()
    assert not c.apriori.certified and c.apriori.reason


def test_to_pandas(prob):
    pd = pytest.importorskip("pandas")
    df = prob.run().to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == list(overlin.STEP_COLUMNS)
    assert len(df) == 13


def test_plot(prob, tmp_path):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    ax = prob.run().plot()
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[0] == "L - L*" and len(labels) == 3
    ax.figure.savefig(tmp_path / "gap.png")
    assert (tmp_path / "gap.png").stat().st_size > 1000


@pytest.mark.parametrize("loss", ["sensing", "logcosh", "softmax"])
def test_every_loss_runs_certified(loss):
    p = overlin.problem(loss=loss, n=5, m=3, h=24, samples=60, seed=3, scale=0.5)
    res = p.run(iters=400)
    assert res.status in ("converged", "stalled", "max_iters")
    assert res.tally.violations == 0 and res.tally.steps_checked == res.iterations > 0
    assert np.all(np.diff(np.append(res.gap, res.final_gap)) <= 1e-12 * res.initial_gap)
    c = p.certify()
    assert c.constants["mu"] > 0 and c.start["gap0"] == res.initial_gap
    cert = p.step_certificate(0.5 * c.start["eta_local0"])
    assert cert.contraction_applies
    chk = cert.check(*cert.gradient_step())
    assert chk.holds and chk.deviation == 0.0


def test_margin_certificate_and_anytime():
    # A balanced start close to W*: no imbalance, but within the loss margin
    # (THEORY §8.1), so certify gives a certificate from the margin term.
    p = overlin.problem(n=6, m=3, h=40, samples=30, init="spectral-target", scale=0.95, seed=2)
    c = p.certify()
    assert c.apriori.certified and c.apriori.alpha_source == "margin"
    assert c.apriori.alpha_margin > 0 and c.apriori.p0 > 0
    assert c.start["gap0"] < c.apriori.margin_gap
    res = p.run()
    a = res.anytime
    assert a["certified_from"] == 0
    assert res.iterations <= a["guaranteed_total"]
    # Farther away: no certificate, and the reason says how far.
    far = overlin.problem(n=6, m=3, h=40, samples=30, init="spectral-target", scale=0.9, seed=2)
    c = far.certify()
    assert not c.apriori.certified and "must fall below" in c.apriori.reason


def test_step_classes_tally_and_verdict():
    # alpha_t = 0 (h < max(n, m)): every step is trivial, nothing certified,
    # and the result does not claim that a certificate held.
    narrow = overlin.problem(n=4, m=6, h=3, samples=30, seed=1)
    res = narrow.run(iters=50)
    assert res.iterations > 0
    assert list(np.unique(res.steps["class"])) == ["trivial"]
    assert res.tally.classes["trivial"] == res.iterations
    assert res.tally.classes["certified"] == 0 and res.tally.worst_ratio == 0.0
    assert res.tally.verdict() == "nothing_certified"
    assert np.all(res.bound_ratio == 0.0)
    assert "verdict=nothing_certified" in repr(res)
    # A run to the f32 floor: certified steps, then steps below resolution.
    p = overlin.problem(n=4, m=3, h=10, samples=30, seed=3, precision="f32")
    res = p.run(iters=5000, tol=1e-30)
    cls = res.steps["class"]
    assert cls.dtype.kind == "U" and set(cls) <= set(overlin.STEP_CLASSES)
    assert res.tally.classes == {c: int(np.sum(cls == c)) for c in overlin.STEP_CLASSES}
    assert res.tally.classes["certified"] > 0 and res.tally.classes["below_resolution"] > 0
    assert res.tally.verdict() == "held"
    # bound_ratio is reported for certified steps only.
    assert np.all(res.bound_ratio[cls != "certified"] == 0.0)
    assert np.all(res.bound_ratio[cls == "certified"] > 0.0)
    assert np.all(res.allowance > 0.0)


def test_t_eps_from_anytime_certificates():
    # A balanced start near W*: certified from step 0 by the margin term; the
    # certificate is recomputed every `anytime_every` steps (THEORY §8.2).
    p = overlin.problem(n=6, m=3, h=40, samples=30, init="spectral-target", scale=0.95, seed=2)
    res = p.run(anytime_every=5)
    t_eps = res.t_eps
    assert t_eps.dtype == np.float64 and len(t_eps) == res.iterations
    computed = ~np.isnan(t_eps)
    assert computed[0] and np.all(np.flatnonzero(computed) % 5 == 0)
    assert np.all(t_eps[computed] >= 0) and np.all(t_eps[computed] == np.round(t_eps[computed]))
    # The guarantee from step 0 covers the run.
    assert res.iterations <= t_eps[0]
    off = p.run(anytime_every=0)
    assert np.all(np.isnan(off.t_eps))
