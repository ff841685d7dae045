"""overlin.run from NumPy arrays gives the trajectory of `overlin run` on the
same data saved as .npy files, to the last bit; overlin.problem and
overlin.init give the data and starts the CLI generates for the same flags."""

import csv
import json
import subprocess

import numpy as np
import pytest

import overlin

# The CLI's first --csv columns, in order (host/src/problem/record.rs CSV_HEADER).
CSV_COLUMNS = ["t", "loss", "gap", "eta", "alpha", "beta", "grad_spec", "mu_t", "k_t", "rho",
               "ratio", "holds", "drift"]


def cli_run(bin_, tmp_path, args):
    out = tmp_path / "steps.csv"
    p = subprocess.run([str(bin_), "run", *args, "--csv", str(out), "--json", "--force"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:len(CSV_COLUMNS)] == CSV_COLUMNS
    cols = {k: np.array([float(r[i]) for r in rows[1:]]) for i, k in enumerate(CSV_COLUMNS)}
    # The columns after them, by name: the step's class, its rounding
    # allowance and T_t(eps) (empty where none was computed).
    header = rows[0]
    for k in ("allowance", "t_eps"):
        i = header.index(k)
        cols[k] = np.array([float(r[i]) if r[i] else np.nan for r in rows[1:]])
    i = header.index("class")
    cols["class"] = np.array([r[i] for r in rows[1:]])
    return summary, cols


def assert_same_bits(res, summary, cols):
    assert res.status == summary["status"]
    assert res.iterations == summary["iterations"] == len(cols["t"])
    assert res.final_gap == summary["final_gap"]
    assert res.final_loss == summary["final_loss"]
    assert res.tally.steps_checked == summary["tally"]["steps_checked"]
    assert res.tally.violations == summary["tally"]["violations"] == 0
    for k in CSV_COLUMNS + ["allowance", "t_eps"]:
        ours = np.asarray(getattr(res, k), dtype=np.float64)
        # Bit for bit: the CLI writes {:e}, which round-trips an f64.
        assert np.array_equal(ours, cols[k], equal_nan=True), k
    assert list(res.steps["class"]) == list(cols["class"])
    assert summary["tally"]["classes"] == res.tally.classes
    counts = {c: int(np.sum(res.steps["class"] == c)) for c in overlin.STEP_CLASSES}
    assert counts == res.tally.classes


def save(tmp_path, **arrays):
    paths = {}
    for k, v in arrays.items():
        paths[k] = tmp_path / f"{k}.npy"
        np.save(paths[k], v)
    return paths


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rule", ["local", "rate-optimal", "constant:0.05"])
def test_user_arrays_same_trajectory_as_cli(overlin_bin, tmp_path, dtype, rule):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 6)).astype(dtype)
    Y = rng.standard_normal((30, 4)).astype(dtype)
    W1 = (0.5 * rng.standard_normal((6, 24))).astype(dtype)
    W2 = (0.5 * rng.standard_normal((24, 4))).astype(dtype)
    p = save(tmp_path, X=X, Y=Y, W1=W1, W2=W2)
    prec = "f32" if dtype == np.float32 else "f64"
    summary, cols = cli_run(overlin_bin, tmp_path, [
        "--x", str(p["X"]), "--y", str(p["Y"]), "--w1", str(p["W1"]), "--w2", str(p["W2"]),
        "--rule", rule, "--iters", "300", "--tol", "1e-9", "--precision", prec])
    res = overlin.run(X, Y, W1, W2, rule=rule, iters=300, tol=1e-9)
    assert res.precision == prec
    assert res.W1.dtype == dtype and res.W1.shape == W1.shape
    assert_same_bits(res, summary, cols)


@pytest.mark.parametrize("loss,extra", [("logcosh", ["--gamma", "0.3"]),
                                        ("softmax", ["--lambda", "0.05"])])
def test_other_losses_same_trajectory_as_cli(overlin_bin, tmp_path, loss, extra):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 5))
    if loss == "softmax":
        Y = rng.integers(0, 3, size=40)  # class labels
        m = 3
    else:
        Y = rng.standard_normal((40, 3))
        m = 3
    W1 = 0.3 * rng.standard_normal((5, 16))
    W2 = 0.3 * rng.standard_normal((16, m))
    p = save(tmp_path, X=X, Y=Y.reshape(-1, 1) if Y.ndim == 1 else Y, W1=W1, W2=W2)
    summary, cols = cli_run(overlin_bin, tmp_path, [
        "--loss", loss, *extra, "--x", str(p["X"]), "--y", str(p["Y"]), "--w1", str(p["W1"]),
        "--w2", str(p["W2"]), "--iters", "200"])
    kw = {"gamma": 0.3} if loss == "logcosh" else {"lam": 0.05}
    res = overlin.run(X, Y, W1, W2, loss=loss, iters=200, **kw)
    assert_same_bits(res, summary, cols)


def test_generated_problem_same_as_cli(overlin_bin, tmp_path):
    flags = ["--n", "8", "--m", "6", "--h", "40", "--samples", "30", "--kappa", "orthogonal",
             "--sigma", "2", "--scale", "0.3", "--seed", "11"]
    summary, cols = cli_run(overlin_bin, tmp_path, [*flags, "--iters", "200"])
    prob = overlin.problem(n=8, m=6, h=40, samples=30, kappa="orthogonal", sigma=2, scale=0.3,
                           seed=11)
    assert prob.X.shape == (30, 8) and prob.W1.shape == (8, 40) and prob.W2.shape == (40, 6)
    res = prob.run(iters=200)
    assert_same_bits(res, summary, cols)
    # The start alone, drawn by overlin.init for the same seed and knobs.
    W1, W2 = overlin.init(8, 40, 6, kind="gaussian", sigma=2, scale=0.3, seed=11)
    assert np.array_equal(W1, prob.W1) and np.array_equal(W2, prob.W2)


def test_sensing_same_as_cli(overlin_bin, tmp_path):
    flags = ["--loss", "sensing", "--n", "4", "--m", "3", "--h", "12", "--samples", "40",
             "--seed", "2", "--scale", "0.5"]
    summary, cols = cli_run(overlin_bin, tmp_path, [*flags, "--iters", "150"])
    prob = overlin.problem(loss="sensing", n=4, m=3, h=12, samples=40, seed=2, scale=0.5)
    assert prob.X.shape == (40, 12) and prob.Y.shape == (40, 1)
    assert_same_bits(prob.run(iters=150), summary, cols)


def test_f32_problem_and_init():
    prob = overlin.problem(n=5, m=4, h=20, samples=25, precision="f32", seed=4)
    assert prob.X.dtype == np.float32 and prob.W1.dtype == np.float32
    res = prob.run(iters=100)
    assert res.precision == "f32" and res.W2.dtype == np.float32
    W1, W2 = overlin.init(5, 20, 4, kind="orthogonal", scale=0.5, seed=9, precision="f32")
    assert W1.dtype == np.float32
    W1b, _ = overlin.init(5, 20, 4, kind="orthogonal", scale=0.5, seed=9)
    # The f32 start is the f64 one rounded: the same stream of draws.
    assert np.max(np.abs(W1b - W1.astype(np.float64))) < 1e-6


def test_same_seed_same_bits_different_seed_differs():
    a = overlin.init(6, 30, 5, kind="scaled", sigma=1.5, scale=1.0, seed=21)
    b = overlin.init(6, 30, 5, kind="scaled", sigma=1.5, scale=1.0, seed=21)
    c = overlin.init(6, 30, 5, kind="scaled", sigma=1.5, scale=1.0, seed=22)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_summary_is_the_clis_json(overlin_bin, tmp_path):
    rng = np.random.default_rng(8)
    X, Y = rng.standard_normal((25, 5)), rng.standard_normal((25, 3))
    W1, W2 = 0.4 * rng.standard_normal((5, 20)), 0.4 * rng.standard_normal((20, 3))
    p = save(tmp_path, X=X, Y=Y, W1=W1, W2=W2)
    summary, _ = cli_run(overlin_bin, tmp_path, [
        "--x", str(p["X"]), "--y", str(p["Y"]), "--w1", str(p["W1"]), "--w2", str(p["W2"]),
        "--iters", "100"])
    ours = overlin.run(X, Y, W1, W2, iters=100).summary
    # Everything but the wall time is the same, key for key.
    for d in (ours, summary):
        d.pop("wall_time_s")
    assert ours == summary
