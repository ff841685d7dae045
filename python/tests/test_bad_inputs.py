"""Bad input raises TypeError (type, dtype) or ValueError (shape, NaN, sizes,
parameters), naming the argument; good input in any memory order works."""

import numpy as np
import pytest

import overlin


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 4))
    Y = rng.standard_normal((20, 3))
    W1 = 0.5 * rng.standard_normal((4, 12))
    W2 = 0.5 * rng.standard_normal((12, 3))
    return X, Y, W1, W2


def call(X, Y, W1, W2, **kw):
    return overlin.run(X, Y, W1, W2, iters=5, **kw)


def test_not_an_array(data):
    X, Y, W1, W2 = data
    with pytest.raises(TypeError, match=r"^X must be a NumPy array.*got list"):
        call(X.tolist(), Y, W1, W2)


@pytest.mark.parametrize("dtype", [np.int64, np.complex128, np.float16, object])
def test_wrong_dtype(data, dtype):
    X, Y, W1, W2 = data
    with pytest.raises(TypeError, match=r"^W1 must have dtype float64 or float32"):
        call(X, Y, W1.astype(dtype), W2)


def test_wrong_ndim(data):
    X, Y, W1, W2 = data
    with pytest.raises(ValueError, match=r"^W2 must be a 2-D array \(h x m\), got shape \(12, 3, 1\)"):
        call(X, Y, W1, W2[:, :, None])
    with pytest.raises(ValueError, match=r"^X must be a 2-D array"):
        call(X[:, 0], Y, W1, W2)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite(data, bad):
    X, Y, W1, W2 = data
    W2 = W2.copy()
    W2[4, 1] = bad
    with pytest.raises(ValueError, match=r"^W2: entry at row 5, column 2 is"):
        call(X, Y, W1, W2)
    Y = Y.copy()
    Y[0, 0] = bad
    with pytest.raises(ValueError, match=r"^Y: entry at row 1, column 1"):
        overlin.certify(X, Y, W1, data[3])


def test_size_clashes(data):
    X, Y, W1, W2 = data
    with pytest.raises(ValueError, match=r"X has 20 rows \(samples\) but Y has 19 rows"):
        call(X, Y[:19], W1, W2)
    with pytest.raises(ValueError, match=r"W1 has 3 rows but n = 4"):
        call(X, Y, W1[:3], W2)
    with pytest.raises(ValueError, match=r"W1 has 12 columns \(h\) but W2 has 11 rows"):
        call(X, Y, W1, W2[:11])
    with pytest.raises(ValueError, match=r"is empty"):
        call(X, Y, W1[:, :0], W2[:0])


def test_mixed_dtypes(data):
    X, Y, W1, W2 = data
    with pytest.raises(TypeError, match=r"X is float64 but W1 is float32"):
        call(X, Y, W1.astype(np.float32), W2)
    # Naming the precision converts.
    assert call(X, Y, W1.astype(np.float32), W2, precision="f64").precision == "f64"


def test_bad_parameters(data):
    X, Y, W1, W2 = data
    with pytest.raises(ValueError, match=r"^loss must be"):
        call(X, Y, W1, W2, loss="hinge")
    with pytest.raises(ValueError, match=r"^rule 'fast'"):
        call(X, Y, W1, W2, rule="fast")
    with pytest.raises(ValueError, match=r"^rule 'constant:-1'"):
        call(X, Y, W1, W2, rule="constant:-1")
    with pytest.raises(ValueError, match=r"^tol must be positive"):
        call(X, Y, W1, W2, tol=0.0)
    with pytest.raises(ValueError, match=r"^iters must be at least 1"):
        overlin.run(X, Y, W1, W2, iters=0)
    with pytest.raises(ValueError, match=r"^eta must be positive"):
        overlin.step_certificate(X, Y, W1, W2, -0.1)
    with pytest.raises(ValueError, match=r"^eta must be positive"):
        overlin.step_certificate(X, Y, W1, W2, float("nan"))
    with pytest.raises(ValueError, match=r"^precision must be"):
        call(X, Y, W1, W2, precision="f16")
    with pytest.raises(ValueError, match=r"^gamma must be positive"):
        call(X, Y, W1, W2, loss="logcosh", gamma=0.0)
    with pytest.raises(ValueError, match=r"^kappa must be"):
        overlin.problem(kappa=0.5)
    with pytest.raises(ValueError, match=r"^init must be"):
        overlin.init(3, 5, 2, kind="xavier")
    with pytest.raises(ValueError, match=r"spectral-target"):
        overlin.init(3, 5, 2, kind="spectral-target")


def test_rank_deficient_data(data):
    X, Y, W1, W2 = data
    X = X.copy()
    X[:, 3] = X[:, 2]
    with pytest.raises(ValueError, match=r"rank"):
        call(X, Y, W1, W2)


def test_check_shapes(data):
    X, Y, W1, W2 = data
    cert = overlin.step_certificate(X, Y, W1, W2, 0.01)
    with pytest.raises(ValueError, match=r"next W1 has shape 4 x 11"):
        cert.check(W1[:, :11], W2)
    with pytest.raises(TypeError, match=r"^next_W2 must be a NumPy array"):
        cert.check(W1, None)


def test_memory_orders_give_the_same_bits(data):
    X, Y, W1, W2 = data
    ref = call(X, Y, W1, W2)
    fortran = call(*(np.asfortranarray(a) for a in (X, Y, W1, W2)))
    # Strided views (every other row of a larger array).
    big = np.zeros((40, 4))
    big[::2] = X
    strided = call(big[::2], Y, W1, W2)
    for r in (fortran, strided):
        assert np.array_equal(r.gap, ref.gap) and np.array_equal(r.W1, ref.W1)
    assert ref.W1.flags["C_CONTIGUOUS"]


def test_one_dimensional_targets(data):
    X, Y, W1, W2 = data
    r1 = call(X, Y[:, 0], W1, W2[:, :1])
    r2 = call(X, Y[:, :1], W1, W2[:, :1])
    assert np.array_equal(r1.gap, r2.gap)


def test_start_whose_loss_overflows(data):
    X, Y, W1, W2 = data
    with pytest.raises(ValueError, match=r"^the start W1 · W2 gives a loss that overflows f64"):
        overlin.step_certificate(X, Y, W1 * 1e200, W2 * 1e200, 0.01)
    with pytest.raises(ValueError, match=r"^the start W1 · W2 gives a loss that overflows f64"):
        overlin.run(X, Y, W1 * 1e200, W2 * 1e200)
