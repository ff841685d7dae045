#!/usr/bin/env python3
"""overlin against NumPy and against the machine (issue 5), in one run.

For each size (n, m, h, N): the Rust example `gd_compare` writes the problem
and the start as .npy files, runs overlin's certified GD loop and times it;
bench/gd_numpy.py runs the same loop from the same files. The script checks
that both loss trajectories agree to 1e-9 relative (f64), prints the time
ratio NumPy/overlin for a certified step and a plain step (each side's
time per step is that of its fastest aligned window of 32 consecutive steps (one
period of overlin's exact Gram refresh, GRAM_REFRESH),
so a window that another process preempted does not count; the two sides
alternate run by run), and the fraction
of a single-core dgemm peak (NumPy, one BLAS thread, 1000x1000, measured in
the same run) that overlin's plain and certified steps reach.

Then the sizes users bring (issue 11: up to (N,n,m,h) = (5000,784,10,1024)
and (500,500,500,2000), tall-thin and wide shapes): the set-up (NumPy:
eigvalsh of X^T X and lstsq; overlin: mu, K, W*, the start's imbalance
spectrum and a-priori certificate) and the mean certified step, for
overlin (one thread: the core has no threads), NumPy with one BLAS thread
and with its default threads, and PyTorch (CPU, float64, eager) likewise
where `import torch` works (bench/setup_torch.sh installs it in a separate
virtual environment; without it the PyTorch columns say so). Each NumPy and
PyTorch configuration runs in its own process, so thread settings hold.

Usage: python3 bench/compare.py [--small-only | --large-only]
Environment: CARGO_TARGET_DIR is honoured; OVERLIN_SIMD_CAP=0|1|2 caps
overlin's instruction set (1 = AVX2: what an AVX2-only machine runs).
Exit status 1 if a trajectory disagrees or a certificate was violated.
"""

import os

if os.environ.get("OVERLIN_BENCH_THREADS") != "default":
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"

import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gd_numpy  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# (n, m, h, N), steps per timed run, repetitions (best of). Every run stops
# while the loss is still falling (at (4, 4, 16, 8) the gap after 320 steps
# is ~1e-8 of the start's, and it reaches the rounding floor near step 600):
# overlin starts each step's eigenvalue iteration from the last step's
# extremes, which costs less once the iterate has stopped moving, so steps
# taken after convergence would flatter it.
SIZES = [
    ((4, 4, 16, 8), 320, 15),
    ((20, 20, 1000, 20), 320, 5),
    ((20, 1, 500, 20), 640, 5),
    ((64, 64, 4096, 128), 96, 3),
]


# The sizes users bring: (n, m, h, N) and certified steps per run.
LARGE = [
    ((50, 5, 256, 10000), 12),      # tall-thin data
    ((10, 300, 1024, 400), 8),      # wide output
    ((784, 10, 1024, 5000), 6),     # MNIST-shaped
    ((500, 500, 2000, 500), 4),     # issue 11's large square case
]


def step_flops(n, m, h, s):
    """Same count as core/benches/common/mod.rs::step_flops."""
    plain = 6 * n * h * m + 6 * h * (n + m) + 4 * s * n * m + 4 * s * m
    cert = 2 * n * n * h + 2 * m * m * h + 2 * n * m * m
    return plain, cert


def dgemm_peak(size=1000, reps=30):
    a = np.random.default_rng(0).standard_normal((size, size))
    b = np.random.default_rng(1).standard_normal((size, size))
    t, _ = gd_numpy.best_time(lambda: a @ b, reps)
    return 2.0 * size**3 / t


def worker(kind, d, steps):
    """One library's set-up and certified loop on the files in `d` (run in
    its own process, so that its thread setting holds); prints JSON."""
    import time
    if kind == "numpy":
        lib, load = gd_numpy, np.load
    else:
        import torch
        import gd_torch
        if os.environ.get("OVERLIN_BENCH_THREADS") != "default":
            torch.set_num_threads(1)
        lib = gd_torch
        load = lambda p: torch.from_numpy(np.ascontiguousarray(np.load(p)))  # noqa: E731
    X, Y = load(d / "X.npy"), load(d / "Y.npy")
    W1, W2 = load(d / "W1.npy"), load(d / "W2.npy")
    best_setup = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        consts = lib.setup(X, Y)
        best_setup = min(best_setup, time.perf_counter() - t0)
    losses, viol, stamps = lib.certified_gd(X, Y, W1, W2, steps, consts)
    step = (stamps[-1] - stamps[0]) / steps
    print(json.dumps({"setup_s": best_setup, "cert_step_s": step,
                      "violations": viol, "losses": [float(x) for x in losses]}))


def run_worker(kind, d, steps, threads):
    env = dict(os.environ, OVERLIN_BENCH_THREADS=threads)
    if threads == "default":
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.pop(var, None)
    r = subprocess.run([sys.executable, __file__, "--worker", kind, str(d), str(steps)],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1:] or ["failed"]
    return json.loads(r.stdout), None


def large(exe):
    """The table of issue 11's sizes."""
    have_torch = subprocess.run([sys.executable, "-c", "import torch"],
                                capture_output=True).returncode == 0
    if not have_torch:
        print("PyTorch: not installed for this Python (bench/setup_torch.sh); columns n/a")
    cols = ["numpy-1", "numpy-default"] + (["torch-1", "torch-default"] if have_torch else [])
    print("size (n,m,h,N) | overlin setup | " + " | ".join(f"{c} setup" for c in cols)
          + " | overlin cert step | " + " | ".join(f"{c} step" for c in cols)
          + " | step ratio numpy-1/overlin | step ratio best-other/overlin | max rel dloss")
    failed = False
    with tempfile.TemporaryDirectory(prefix="overlin-bench-") as tmp:
        for (n, m, h, s), steps in LARGE:
            d = Path(tmp) / f"{n}x{m}x{h}x{s}"
            out = subprocess.run([str(exe), *map(str, (n, m, h, s, steps, 1)), str(d)],
                                 check=True, capture_output=True, text=True).stdout
            rust = json.loads(out)
            res = {}
            for c in cols:
                kind, threads = c.split("-")
                res[c], err = run_worker(kind, d, steps, threads if threads == "default" else "1")
                if err:
                    print(f"  {c} failed: {err}")
            a = np.array(rust["losses"])
            rel = 0.0
            for c, r in res.items():
                if r is None:
                    continue
                b = np.array(r["losses"])
                if a.shape != b.shape:
                    rel = float("inf")
                else:
                    rel = max(rel, float(np.max(np.abs(a - b) / np.abs(b))))
                if r["violations"]:
                    failed = True
            if rel > 1e-9 or rust["violations"]:
                failed = True
            fmt = lambda x: f"{x:.3g} s" if x is not None else "n/a"  # noqa: E731
            get = lambda c, k: res[c][k] if res.get(c) else None  # noqa: E731
            others = [get(c, "cert_step_s") for c in cols if get(c, "cert_step_s")]
            print(" | ".join([
                f"({n},{m},{h},{s})",
                fmt(rust["setup_s"]),
                *[fmt(get(c, "setup_s")) for c in cols],
                fmt(rust["cert_step_s"]),
                *[fmt(get(c, "cert_step_s")) for c in cols],
                f"{get('numpy-1', 'cert_step_s') / rust['cert_step_s']:.2f}x"
                if get("numpy-1", "cert_step_s") else "n/a",
                f"{min(others) / rust['cert_step_s']:.2f}x" if others else "n/a",
                f"{rel:.1e}",
            ]), flush=True)
    return failed


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))
        return
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    subprocess.run(
        # `alloc`, as the CLI and the Python package build the core: the run-time
        # sizes' buffers, including the bounds by inertia of the large sizes.
        ["cargo", "build", "--release", "-q", "-p", "overlin-core", "--features", "alloc",
         "--example", "gd_compare"],
        cwd=ROOT,
        check=True,
    )
    exe = target / "release" / "examples" / "gd_compare"
    if "--large-only" in sys.argv:
        sys.exit(1 if large(exe) else 0)
    peak = dgemm_peak()
    print(f"machine: {platform.processor() or platform.machine()}, numpy {np.__version__}, "
          f"BLAS threads 1")
    print(f"single-core dgemm peak (NumPy 1000x1000): {peak / 1e9:.1f} GFLOP/s")
    header = ("size (n,m,h,N)", "cert ratio", "plain ratio", "overlin cert", "overlin plain",
              "cert/plain", "flops/step", "plain %peak", "cert %peak (textbook flops)",
              "max rel dloss")
    print(" | ".join(header))
    failed = False
    with tempfile.TemporaryDirectory(prefix="overlin-bench-") as tmp:
        for (n, m, h, s), steps, reps in SIZES:
            d = Path(tmp) / f"{n}x{m}x{h}x{s}"
            # The two sides alternate run by run, so that a slow spell of
            # the (shared) machine falls on both rather than on one.
            rust = None
            rc = rp = t_cert = t_plain = float("inf")
            losses, viol, consts, eta = None, 0, None, None
            for _ in range(reps):
                out = subprocess.run(
                    [str(exe), *map(str, (n, m, h, s, steps, 1)), str(d)],
                    check=True, capture_output=True, text=True,
                ).stdout
                rust = json.loads(out)
                rc = min(rc, rust["cert_step_s"])
                rp = min(rp, rust["plain_step_s"])
                if consts is None:
                    X, Y = np.load(d / "X.npy"), np.load(d / "Y.npy")
                    W1, W2 = np.load(d / "W1.npy"), np.load(d / "W2.npy")
                    consts = gd_numpy.setup(X, Y)
                    # The plain loop's step: half the Local rule's first step, as in Rust.
                    G0 = X.T @ (X @ (W1 @ W2) - Y) / s
                    eta = 0.5 / (consts[1] * (np.linalg.eigvalsh(W1 @ W1.T)[-1]
                                              + np.linalg.eigvalsh(W2.T @ W2)[-1])
                                 + np.sqrt(np.linalg.eigvalsh(G0.T @ G0)[-1]))
                losses, viol, stamps = gd_numpy.certified_gd(X, Y, W1, W2, steps, consts)
                t_cert = min(t_cert, gd_numpy.best_window(stamps))
                t_plain = min(t_plain,
                              gd_numpy.best_window(gd_numpy.plain_gd(X, Y, W1, W2, steps, eta)))
            a = np.array(rust["losses"])
            b = np.array(losses)
            if a.shape != b.shape:
                print(f"  {n}x{m}x{h}x{s}: trajectory lengths differ {a.shape} {b.shape}")
                failed = True
                rel = float("inf")
            else:
                rel = float(np.max(np.abs(a - b) / np.abs(b)))
            if rel > 1e-9 or viol or rust["violations"]:
                failed = True
            plain_f, cert_f = step_flops(n, m, h, s)
            print(" | ".join([
                f"({n},{m},{h},{s})",
                f"{t_cert / rc:.1f}x",
                f"{t_plain / rp:.1f}x",
                f"{rc * 1e6:.2f} us",
                f"{rp * 1e6:.2f} us",
                f"{rc / rp:.2f}",
                f"{plain_f / 1e6:.3g}M+{cert_f / 1e6:.3g}M",
                f"{100 * plain_f / rp / peak:.1f}%",
                f"{100 * (plain_f + cert_f) / rc / peak:.1f}%",
                f"{rel:.1e}",
            ]), flush=True)
    if "--small-only" not in sys.argv:
        print()
        failed |= large(exe)
    if failed:
        print("FAILED: a trajectory disagreed beyond 1e-9 or a certificate was violated")
        sys.exit(1)


if __name__ == "__main__":
    main()
