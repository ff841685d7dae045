"""Certify your own training loop, step by step.

A two-layer linear model W = W1 @ W2 trained by plain gradient descent
written in NumPy (it could be PyTorch or JAX: overlin only sees the arrays).
Before each step, overlin.step_certificate predicts what the theory
guarantees for a gradient step of size eta from the current iterate (the
contraction rho_t of L - L*, THEORY §5); after the step, .check() measures
what the step achieved, checks the prediction, and says what the check
counts as (THEORY §11):

  certified         the contraction bound was checked, and the check could fail
  trivial           alpha_t = 0 (h < n or m, or a saddle): only "the loss did not rise"
  below_resolution  the predicted decrease is within rounding (the precision floor)
  descent_only      eta K_t >= 2: Theorem 1 does not apply, only Lemma 2's bound
  non_finite        overflow

Run:  python python/examples/certify_my_loop.py
"""

import sys
from collections import Counter

import numpy as np

import overlin

rng = np.random.default_rng(0)
N, n, m, h = 50, 8, 5, 64
X = rng.standard_normal((N, n))
Y = X @ rng.standard_normal((n, m)) / np.sqrt(n) + 0.01 * rng.standard_normal((N, m))
W1 = 0.3 * rng.standard_normal((n, h))
W2 = 0.3 * rng.standard_normal((h, m))


def loss_and_grads(W1, W2):
    """L = ||X W1 W2 - Y||^2 / 2N and its gradients (THEORY §1, §9.1)."""
    R = X @ (W1 @ W2) - Y
    G = X.T @ R / N
    return 0.5 * np.vdot(R, R) / N, G @ W2.T, W1.T @ G


eta = 0.05  # the step this loop uses; the certificate says whether it is safe
steps = 120
print(f"{'t':>3} {'L_t - L*':>12} {'rho_t':>10} {'eta*K_t':>8} {'ratio':>10} "
      f"{'measured/bound':>14} {'class':>16} {'holds':>5}")
classes = Counter()
held = 0
for t in range(steps):
    cert = overlin.step_certificate(X, Y, W1, W2, eta)  # before the step
    _, A, B = loss_and_grads(W1, W2)
    W1, W2 = W1 - eta * A, W2 - eta * B  # your step, in your code
    chk = cert.check(W1, W2)  # after the step
    held += chk.holds
    classes[chk.cls] += 1
    # Every step until the class changes, then every tenth.
    if t < 4 or t % 10 == 9 or (t > 0 and chk.cls != prev):
        print(f"{t:>3} {cert.gap:>12.4e} {cert.rho:>10.6f} {cert.eta_k_t:>8.4f} "
              f"{chk.ratio:>10.6f} {chk.bound_ratio:>14.6f} {chk.cls:>16} {str(chk.holds):>5}")
    prev = chk.cls
print(f"{held} of {steps} steps held their check; final L - L* = {chk.next_gap:.4e}")
print("classes: " + " ".join(f"{c}={classes[c]}" for c in overlin.STEP_CLASSES))
sys.exit(0 if held == steps and classes["certified"] > 0 else 1)
