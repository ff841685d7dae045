"""A training loop written in plain NumPy, certified step by step with
overlin.step_certificate; the prediction is the core's (the same numbers as
a run with the same constant step), and the check can fail."""

import numpy as np
import pytest

import overlin


def grads(X, Y, W1, W2):
    """Gradients of L = ||X W1 W2 - Y||^2 / 2N (THEORY §1, §9.1)."""
    G = X.T @ (X @ (W1 @ W2) - Y) / X.shape[0]
    return G @ W2.T, W1.T @ G


def make(seed=0, N=40, n=6, m=4, h=32, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, n))
    Y = X @ rng.standard_normal((n, m)) / np.sqrt(n)
    W1 = 0.5 * rng.standard_normal((n, h))
    W2 = 0.5 * rng.standard_normal((h, m))
    return [a.astype(dtype) for a in (X, Y, W1, W2)]


def test_numpy_loop_certified_every_step():
    X, Y, W1, W2 = make()
    eta = None
    classes = []
    for t in range(60):
        if eta is None:
            # The step a user might pick: 0.9 of the Local rule's at the start.
            eta = 0.9 * overlin.step_certificate(X, Y, W1, W2, 1e-3).local_eta
        cert = overlin.step_certificate(X, Y, W1, W2, eta)
        A, B = grads(X, Y, W1, W2)
        W1, W2 = W1 - eta * A, W2 - eta * B
        chk = cert.check(W1, W2)
        assert chk.holds, (t, chk)
        # NumPy's gradient step and the core's agree to rounding: relative to
        # the step, which shrinks with the gradient while the rounding of the
        # gradient (a residual computed by cancellation) does not, so the
        # relative difference grows from ~1e-16 toward convergence.
        assert chk.deviation < 1e-9, (t, chk.deviation)
        classes.append(chk.cls)
        if chk.cls == "certified":
            assert cert.contraction_applies
            assert chk.bound_ratio <= 1.0
            assert chk.ratio <= cert.rho + 1e-12
        assert chk.next_gap <= cert.descent_bound * (1 + 1e-12) + 1e-300
    assert classes.count("certified") > 0


def test_prediction_is_the_cores_first_step():
    X, Y, W1, W2 = make(seed=1)
    eta = 0.02
    cert = overlin.step_certificate(X, Y, W1, W2, eta)
    res = overlin.run(X, Y, W1, W2, rule=f"constant:{eta!r}", iters=1)
    for k in ("alpha", "beta", "grad_spec", "mu_t", "k_t", "rho", "eta_k_t", "gap", "loss"):
        assert getattr(cert, k) == getattr(res, k)[0], k
    # Checking the core's own gradient step reproduces the run's check exactly.
    chk = cert.check(*cert.gradient_step())
    assert chk.deviation == 0.0
    assert chk.ratio == res.ratio[0] and chk.bound_ratio == res.bound_ratio[0]
    assert chk.next_gap == res.next_gap[0]


def test_local_constants_match_numpy():
    X, Y, W1, W2 = make(seed=2)
    cert = overlin.step_certificate(X, Y, W1, W2, 0.01)
    n, h = W1.shape
    m = W2.shape[1]
    e1 = np.linalg.eigvalsh(W1 @ W1.T)
    e2 = np.linalg.eigvalsh(W2.T @ W2)
    G = X.T @ (X @ (W1 @ W2) - Y) / X.shape[0]
    assert cert.alpha == pytest.approx(e1[0] + e2[0], rel=1e-10)
    assert cert.beta == pytest.approx(e1[-1] + e2[-1], rel=1e-10)
    assert cert.grad_spec == pytest.approx(np.linalg.norm(G, 2), rel=1e-10)
    A, B = grads(X, Y, W1, W2)
    assert cert.grad_sq == pytest.approx(np.vdot(A, A) + np.vdot(B, B), rel=1e-10)
    mu = np.linalg.eigvalsh(X.T @ X)[0] / X.shape[0]
    assert cert.mu_t == pytest.approx(mu * cert.alpha, rel=1e-9)


def test_check_fails_for_a_step_that_breaks_the_bound():
    X, Y, W1, W2 = make(seed=3)
    eta = 0.01
    cert = overlin.step_certificate(X, Y, W1, W2, eta)
    assert cert.contraction_applies
    # The weights moved the wrong way: the loss rises, the bound is broken.
    A, B = grads(X, Y, W1, W2)
    chk = cert.check(W1 + eta * A, W2 + eta * B)
    assert not chk.holds
    assert chk.ratio > 1.0 and chk.bound_ratio > 1.0
    assert chk.deviation == pytest.approx(2.0, rel=1e-6)
    # A non-finite iterate is a broken bound, not an error: the bound was
    # finite and kept the loss down (eta K_t < 2).
    chk = cert.check(np.full_like(W1, np.inf), W2)
    assert not chk.holds and chk.cls == "non_finite"
    chk = cert.check(np.full_like(W1, np.nan), W2)
    assert not chk.holds and chk.cls == "non_finite"


def test_step_check_classes():
    X, Y, W1, W2 = make(seed=6)
    # The gradient step at a step Theorem 1 covers: certified.
    cert = overlin.step_certificate(X, Y, W1, W2, 0.01)
    chk = cert.check(*cert.gradient_step())
    assert chk.cls == "certified" == chk.class_ == getattr(chk, "class")
    assert chk.holds and 0.0 < chk.bound_ratio <= 1.0 and chk.allowance > 0.0
    # Past eta K_t = 2: only Lemma 2 applies, and no bound ratio is reported.
    big = 3.0 * cert.local_eta
    cert = overlin.step_certificate(X, Y, W1, W2, big)
    assert not cert.contraction_applies
    chk = cert.check(*cert.gradient_step())
    assert chk.cls == "descent_only" and chk.bound_ratio == 0.0
    # h < n: alpha_t = 0, rho_t = 1: trivial.
    rng = np.random.default_rng(7)
    V1, V2 = 0.5 * rng.standard_normal((6, 3)), 0.5 * rng.standard_normal((3, 4))
    cert = overlin.step_certificate(X, Y, V1, V2, 0.01)
    assert cert.alpha == 0.0
    chk = cert.check(*cert.gradient_step())
    assert chk.cls == "trivial" and chk.holds
    # Every class name is one of the five.
    assert set(overlin.STEP_CLASSES) == {"certified", "trivial", "below_resolution",
                                         "descent_only", "non_finite"}


def test_a_different_step_is_flagged_by_deviation():
    X, Y, W1, W2 = make(seed=4)
    eta = 0.01
    cert = overlin.step_certificate(X, Y, W1, W2, eta)
    A, B = grads(X, Y, W1, W2)
    # Half the certified step: it may well satisfy the bound, but it is not
    # the step that was certified, and the deviation says so.
    chk = cert.check(W1 - 0.5 * eta * A, W2 - 0.5 * eta * B)
    assert chk.deviation == pytest.approx(0.5, rel=1e-6)


def test_f32_loop():
    X, Y, W1, W2 = make(seed=5, dtype=np.float32)
    eta = np.float32(0.02)
    for _ in range(20):
        cert = overlin.step_certificate(X, Y, W1, W2, float(eta))
        A, B = grads(X, Y, W1, W2)
        W1, W2 = W1 - eta * A, W2 - eta * B
        assert W1.dtype == np.float32
        chk = cert.check(W1, W2)
        # f32 rounding, relative to a shrinking step (see above).
        assert chk.deviation < 1e-3
        assert chk.holds
