#!/usr/bin/env python3
"""overlin.run called from Python against the NumPy loop of bench/compare.py
(issue 16), in one script: does the call overhead of the Python package eat
the core's lead?

For each size of bench/compare.py (same problems: the Rust example
`gd_compare` writes them as .npy files), and the same number of steps, two
whole computations are timed, alternating run by run, best of the
repetitions:

* NumPy: bench/gd_numpy.certified_gd, the certified Local-rule loop a careful
  NumPy user writes (its set-up of mu, K, W* is done once, outside the
  timing, which favours NumPy);
* overlin: one call overlin.run(X, Y, W1, W2, rule="local", ...) with the
  same work (certificate on, no Lemma 3 checks, no certificates from later
  iterates, no stall stop, a tolerance
  that is never reached), including everything the call does: reading the
  arrays, building the loss (mu, K, W*), the start's imbalance and a-priori
  certificate, the steps, and the per-step result arrays and final weights.

The loss trajectories must agree to 1e-9 relative (as in compare.py).

Usage: python3 bench/python_vs_numpy.py [n,m,h,N ...]   (from the repository
root, with the package installed: pip install ./python); sizes given as
arguments restrict the run to them. BLAS is pinned to one thread.
Exit status 1 if a trajectory disagrees or a certificate was violated.
"""

import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402
import gd_numpy  # noqa: E402

import overlin  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "overlin-core", "--example", "gd_compare"],
        cwd=ROOT, check=True,
    )
    exe = target / "release" / "examples" / "gd_compare"
    print(f"machine: {cpu_name()}, numpy {np.__version__}, BLAS threads 1, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(" | ".join(("size (n,m,h,N)", "steps", "NumPy loop", "overlin.run call",
                      "of which iterating", "call overhead", "ratio", "max rel dloss")))
    failed = False
    with tempfile.TemporaryDirectory(prefix="overlin-pybench-") as tmp:
        wanted = set(sys.argv[1:])
        for (n, m, h, s), steps, reps in compare.SIZES:
            if wanted and f"{n},{m},{h},{s}" not in wanted:
                continue
            d = Path(tmp) / f"{n}x{m}x{h}x{s}"
            subprocess.run([str(exe), *map(str, (n, m, h, s, steps, 1)), str(d)], check=True,
                           capture_output=True)
            X, Y = np.load(d / "X.npy"), np.load(d / "Y.npy")
            W1, W2 = np.load(d / "W1.npy"), np.load(d / "W2.npy")
            consts = gd_numpy.setup(X, Y)
            t_np = t_ov = t_iter = float("inf")
            losses = res = None
            for _ in range(max(reps, 5)):
                t0 = time.perf_counter()
                losses, viol, _ = gd_numpy.certified_gd(X, Y, W1, W2, steps, consts)
                t_np = min(t_np, time.perf_counter() - t0)
                t0 = time.perf_counter()
                res = overlin.run(X, Y, W1, W2, rule="local", iters=steps, tol=1e-300,
                                  imbalance_every=0, stall_window=0, anytime_every=0)
                dt = time.perf_counter() - t0
                if dt < t_ov:
                    t_ov, t_iter = dt, res.wall_time_s
            ours = np.append(res.loss, res.final_loss)
            theirs = np.array(losses)
            if ours.shape != theirs.shape:
                print(f"  {n}x{m}x{h}x{s}: trajectory lengths differ {ours.shape} "
                      f"{theirs.shape} (status {res.status})")
                failed = True
                rel = float("inf")
            else:
                rel = float(np.max(np.abs(ours - theirs) / np.abs(theirs)))
            if rel > 1e-9 or viol or res.tally.violations:
                failed = True
            print(" | ".join([
                f"({n},{m},{h},{s})", str(steps), f"{t_np * 1e3:.2f} ms", f"{t_ov * 1e3:.3f} ms",
                f"{t_iter * 1e3:.3f} ms", f"{(t_ov - t_iter) * 1e3:.3f} ms",
                f"{t_np / t_ov:.1f}x", f"{rel:.1e}",
            ]), flush=True)
    if failed:
        print("FAILED: a trajectory disagreed beyond 1e-9 or a certificate was violated")
        sys.exit(1)


if __name__ == "__main__":
    main()
