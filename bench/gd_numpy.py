"""The certified GD loop of overlin (THEORY §1-§6) in NumPy, written the way
a careful Python user would: BLAS matrix products, the local constants from
the eigenvalues of the small Gram matrices (numpy.linalg.eigvalsh, THEORY §2),
the Local step rule (THEORY §6.2) and the per-step check of Lemma 2 and
Theorem 1 (THEORY §4, §5) with the rounding allowance of THEORY §11.

Problem: squared regression l(W) = ||XW - Y||^2 / 2N (THEORY §9.1).
"""

import time

import numpy as np

EPS = np.finfo(np.float64).eps


def setup(X, Y):
    """mu, K, the residual at W* and l* (done once, outside the timed loop)."""
    N = X.shape[0]
    ev = np.linalg.eigvalsh(X.T @ X)
    mu, K = ev[0] / N, ev[-1] / N
    Wstar = np.linalg.lstsq(X, Y, rcond=None)[0]
    Rstar = X @ Wstar - Y
    lstar = 0.5 / N * np.vdot(Rstar, Rstar)
    return mu, K, Rstar, lstar


def certified_gd(X, Y, W1, W2, steps, consts):
    """`steps` certified Local-rule steps; returns (losses, violations)."""
    mu, K, Rstar, lstar = consts
    N = X.shape[0]
    n, h = W1.shape
    m = W2.shape[1]
    W1 = W1.copy()
    W2 = W2.copy()
    R = X @ (W1 @ W2) - Y
    loss = 0.5 / N * np.vdot(R, R)
    D = R - Rstar
    gap = 0.5 / N * np.vdot(D, D)
    G = X.T @ R / N
    losses = [loss]
    violations = 0
    stamps = [time.perf_counter()]
    for _ in range(steps):
        A = G @ W2.T
        B = W1.T @ G
        e1 = np.linalg.eigvalsh(W1 @ W1.T)
        e2 = np.linalg.eigvalsh(W2.T @ W2)
        gspec = np.sqrt(max(np.linalg.eigvalsh(G.T @ G)[-1], 0.0))
        alpha = (max(e1[0], 0.0) if h >= n else 0.0) + (max(e2[0], 0.0) if h >= m else 0.0)
        beta = max(e1[-1], 0.0) + max(e2[-1], 0.0)
        g2 = np.vdot(A, A) + np.vdot(B, B)
        eta = 1.0 / (K * beta + gspec)
        f = 1.0 + 0.5 * eta * gspec
        kt = K * beta * f * f + gspec
        mut = mu * alpha
        rho = 1.0 - 2.0 * mut * eta + mut * kt * eta * eta
        descent = gap - eta * g2 + 0.5 * eta * eta * kt * g2
        W1 -= eta * A
        W2 -= eta * B
        R = X @ (W1 @ W2) - Y
        loss = 0.5 / N * np.vdot(R, R)
        D = R - Rstar
        new_gap = 0.5 / N * np.vdot(D, D)
        G = X.T @ R / N
        tol = 8.0 * EPS * (abs(gap) + abs(lstar) + 1.0)
        ok = new_gap <= descent + tol
        if eta * kt < 2.0:
            ok = ok and new_gap <= max(rho, 0.0) * gap + tol
        if not ok:
            violations += 1
        gap = new_gap
        losses.append(loss)
        stamps.append(time.perf_counter())
    return losses, violations, stamps


def plain_gd(X, Y, W1, W2, steps, eta):
    """`steps` constant-step GD steps, no certificate."""
    N = X.shape[0]
    W1 = W1.copy()
    W2 = W2.copy()
    R = X @ (W1 @ W2) - Y
    G = X.T @ R / N
    stamps = [time.perf_counter()]
    for _ in range(steps):
        A = G @ W2.T
        B = W1.T @ G
        W1 -= eta * A
        W2 -= eta * B
        R = X @ (W1 @ W2) - Y
        G = X.T @ R / N
        stamps.append(time.perf_counter())
    return stamps


WINDOW = 32  # = overlin's GRAM_REFRESH: the Rust side times the same windows


def best_window(stamps):
    """Time per step of the fastest aligned window of WINDOW steps."""
    return min((stamps[i + WINDOW] - stamps[i]) / WINDOW
               for i in range(0, len(stamps) - WINDOW, WINDOW))


def best_time(f, reps):
    best = float("inf")
    out = None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t0)
    return best, out
