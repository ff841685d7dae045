"""bench/gd_numpy.py's certified GD loop in PyTorch (CPU, float64, eager):
the same products, torch.linalg.eigvalsh for the local constants and
torch.linalg.eigvalsh / torch.linalg.lstsq for the set-up. Optional: the
benchmark runs it only where `import torch` works (bench/setup_torch.sh).
"""

import time

import torch

EPS = torch.finfo(torch.float64).eps


def setup(X, Y):
    """mu, K, the residual at W* and l* (timed as the set-up)."""
    N = X.shape[0]
    ev = torch.linalg.eigvalsh(X.T @ X)
    mu, K = float(ev[0]) / N, float(ev[-1]) / N
    Wstar = torch.linalg.lstsq(X, Y, driver="gelsd").solution
    Rstar = X @ Wstar - Y
    lstar = 0.5 / N * float(torch.sum(Rstar * Rstar))
    return mu, K, Rstar, lstar


def certified_gd(X, Y, W1, W2, steps, consts):
    """`steps` certified Local-rule steps; returns (losses, violations, stamps)."""
    mu, K, Rstar, lstar = consts
    N = X.shape[0]
    n, h = W1.shape
    m = W2.shape[1]
    W1 = W1.clone()
    W2 = W2.clone()
    R = X @ (W1 @ W2) - Y
    loss = 0.5 / N * float(torch.sum(R * R))
    D = R - Rstar
    gap = 0.5 / N * float(torch.sum(D * D))
    G = X.T @ R / N
    losses = [loss]
    violations = 0
    stamps = [time.perf_counter()]
    for _ in range(steps):
        A = G @ W2.T
        B = W1.T @ G
        e1 = torch.linalg.eigvalsh(W1 @ W1.T)
        e2 = torch.linalg.eigvalsh(W2.T @ W2)
        gspec = max(float(torch.linalg.eigvalsh(G.T @ G)[-1]), 0.0) ** 0.5
        alpha = (max(float(e1[0]), 0.0) if h >= n else 0.0) + \
            (max(float(e2[0]), 0.0) if h >= m else 0.0)
        beta = max(float(e1[-1]), 0.0) + max(float(e2[-1]), 0.0)
        g2 = float(torch.sum(A * A) + torch.sum(B * B))
        eta = 1.0 / (K * beta + gspec)
        f = 1.0 + 0.5 * eta * gspec
        kt = K * beta * f * f + gspec
        mut = mu * alpha
        rho = 1.0 - 2.0 * mut * eta + mut * kt * eta * eta
        descent = gap - eta * g2 + 0.5 * eta * eta * kt * g2
        W1 -= eta * A
        W2 -= eta * B
        R = X @ (W1 @ W2) - Y
        loss = 0.5 / N * float(torch.sum(R * R))
        D = R - Rstar
        new_gap = 0.5 / N * float(torch.sum(D * D))
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
