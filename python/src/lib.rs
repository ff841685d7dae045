//! The native part of the Python package `overlin` (module
//! `overlin._overlin`): NumPy arrays in, the host library's problems and
//! runs (and so the core's trainer) in between, NumPy arrays and plain dicts
//! out. The Python package (`overlin/__init__.py`) wraps these functions in
//! documented classes; everything numerical happens in `overlin-core`, and
//! problems are built by the same code as the CLI's (`overlin::problem`),
//! so a run from Python and `overlin run` on the same data give the same
//! bits.
//!
//! The GIL is released while the core works (building the loss, running,
//! predicting); a long run still answers Ctrl-C, because the run's observer
//! takes the GIL every tenth of a second to look for pending signals.

use std::time::{Duration, Instant};

use numpy::ndarray::Array2;
use numpy::{
    Element, IntoPyArray, PyArray1, PyArray2, PyArrayDescrMethods, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods,
};
use overlin::problem::{
    generated_start, CertifyResult, Class, InitName, Kappa, LossName, Precision, Problem,
    ProblemSpec, Record, RunResult, RunSpec, Sizes, UserMatrices,
};
use overlin::step_certificate::{Outcome, Prediction, StepPrediction};
use overlin_core::nalgebra::DMatrix;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The host library's error as a Python exception: bad input is a
/// `ValueError`, an interruption a `KeyboardInterrupt`, anything else a bug.
fn py_err(e: overlin::Error) -> PyErr {
    match e {
        overlin::Error::Input(msg) => PyValueError::new_err(msg),
        overlin::Error::Interrupted => {
            pyo3::exceptions::PyKeyboardInterrupt::new_err("interrupted")
        }
        overlin::Error::Internal(msg) => PyRuntimeError::new_err(format!("internal error: {msg}")),
    }
}

/// Floating-point type of an input array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dtype {
    F32,
    F64,
    /// Integer class labels (softmax targets only).
    Int,
}

/// Reads `array` of element type `T` into a column-major `f64` matrix,
/// whatever its memory order (C, Fortran or strided); `None` when it is not
/// of that type.
fn read_as<T: Element + Copy + Into<f64>>(
    obj: &Bound<'_, PyAny>,
    ndim: usize,
    rows: usize,
    cols: usize,
) -> PyResult<Option<DMatrix<f64>>> {
    if ndim == 2 {
        let Ok(a) = obj.cast::<PyArray2<T>>() else {
            return Ok(None);
        };
        let ro = a.try_readonly()?;
        let v = ro.as_array();
        Ok(Some(DMatrix::from_fn(rows, cols, |i, j| v[(i, j)].into())))
    } else {
        let Ok(a) = obj.cast::<PyArray1<T>>() else {
            return Ok(None);
        };
        let ro = a.try_readonly()?;
        let v = ro.as_array();
        Ok(Some(DMatrix::from_fn(rows, 1, |i, _| v[i].into())))
    }
}

/// One input array: a NumPy `float64` or `float32` array (any memory
/// order); `vector_ok` also accepts a 1-D array as a column; `labels_ok`
/// also accepts integer class labels. Errors name the argument (`name`)
/// and what it should be (`what`, e.g. `"n x h"`).
fn read_matrix(
    obj: &Bound<'_, PyAny>,
    name: &str,
    what: &str,
    vector_ok: bool,
    labels_ok: bool,
) -> PyResult<(DMatrix<f64>, Dtype)> {
    let Ok(arr) = obj.cast::<PyUntypedArray>() else {
        let ty = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into());
        return Err(PyTypeError::new_err(format!(
            "{name} must be a NumPy array (numpy.ndarray) of float64 or float32, got {ty}; \
             convert it with numpy.asarray({name})"
        )));
    };
    let shape = arr.shape().to_vec();
    let (rows, cols) = match shape.as_slice() {
        [r, c] => (*r, *c),
        [r] if vector_ok => (*r, 1),
        _ => {
            return Err(PyValueError::new_err(format!(
                "{name} must be a 2-D array ({what}){}, got shape {}",
                if vector_ok { " or 1-D" } else { "" },
                shape_str(&shape)
            )))
        }
    };
    if rows == 0 || cols == 0 {
        return Err(PyValueError::new_err(format!(
            "{name} is empty (shape {}); every size must be at least 1",
            shape_str(&shape)
        )));
    }
    let ndim = shape.len();
    if let Some(m) = read_as::<f64>(obj, ndim, rows, cols)? {
        return Ok((m, Dtype::F64));
    }
    if let Some(m) = read_as::<f32>(obj, ndim, rows, cols)? {
        return Ok((m, Dtype::F32));
    }
    let dtype = arr.dtype();
    let kind = dtype.kind();
    if labels_ok && (kind == b'i' || kind == b'u') {
        let as_f64 = obj.call_method1("astype", ("float64",))?;
        if let Some(m) = read_as::<f64>(&as_f64, ndim, rows, cols)? {
            return Ok((m, Dtype::Int));
        }
    }
    Err(PyTypeError::new_err(format!(
        "{name} must have dtype float64 or float32{}, got {}; convert it with {name}.astype(numpy.float64)",
        if labels_ok {
            " (or integer class labels)"
        } else {
            ""
        },
        dtype
    )))
}

fn shape_str(shape: &[usize]) -> String {
    match shape {
        [a] => format!("({a},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `"f32"`, `"f64"` (also `float32`, `single`, ...), or from the arrays:
/// `f32` when every floating-point input is `float32`, `f64` when every one
/// is `float64`; mixed dtypes must name the precision.
fn precision_of(precision: Option<&str>, inputs: &[(&str, Dtype)]) -> PyResult<Precision> {
    if let Some(p) = precision {
        return match p.trim().to_ascii_lowercase().as_str() {
            "f32" | "float32" | "single" => Ok(Precision::F32),
            "f64" | "float64" | "double" => Ok(Precision::F64),
            other => Err(PyValueError::new_err(format!(
                "precision must be 'f32' or 'f64' (or None: from the arrays' dtype), got '{other}'"
            ))),
        };
    }
    let floats: Vec<&(&str, Dtype)> = inputs.iter().filter(|(_, d)| *d != Dtype::Int).collect();
    let first = floats.first().map(|(_, d)| *d).unwrap_or(Dtype::F64);
    if let Some((name, d)) = floats.iter().find(|(_, d)| *d != first) {
        let (first_name, _) = floats.first().map(|x| **x).unwrap_or(("X", Dtype::F64));
        let dn = |d: Dtype| {
            if d == Dtype::F32 {
                "float32"
            } else {
                "float64"
            }
        };
        return Err(PyTypeError::new_err(format!(
            "{first_name} is {} but {name} is {}: give every array the same dtype, or pass \
             precision='f32' or 'f64'",
            dn(first),
            dn(*d)
        )));
    }
    Ok(if first == Dtype::F32 {
        Precision::F32
    } else {
        Precision::F64
    })
}

fn parse_loss(loss: &str) -> PyResult<LossName> {
    loss.parse::<LossName>().map_err(|_| {
        PyValueError::new_err(format!(
            "loss must be 'squared', 'sensing', 'logcosh' or 'softmax', got '{loss}'"
        ))
    })
}

fn positive(name: &str, v: f64) -> PyResult<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(PyValueError::new_err(format!(
            "{name} must be positive and finite, got {v}"
        )))
    }
}

fn non_negative(name: &str, v: f64) -> PyResult<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(PyValueError::new_err(format!(
            "{name} must be finite and >= 0, got {v}"
        )))
    }
}

/// The problem of user arrays, as `overlin run --x X --y Y --w1 W1 --w2 W2`
/// builds it from files.
#[allow(clippy::too_many_arguments)]
fn user_problem(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    w1: &Bound<'_, PyAny>,
    w2: &Bound<'_, PyAny>,
    loss: &str,
    gamma: f64,
    lam: f64,
    precision: Option<&str>,
) -> PyResult<(Problem, Precision)> {
    let loss = parse_loss(loss)?;
    positive("gamma", gamma)?;
    positive("lam", lam)?;
    let sensing = loss == LossName::Sensing;
    let x_what = if sensing { "p x (n*m)" } else { "N x n" };
    let y_what = match loss {
        LossName::Sensing => "p x 1",
        LossName::Softmax => "N x m one-hot, or N class labels",
        _ => "N x m",
    };
    let (xm, xd) = read_matrix(x, "X", x_what, false, false)?;
    let (ym, yd) = read_matrix(y, "Y", y_what, true, loss == LossName::Softmax)?;
    let (w1m, w1d) = read_matrix(w1, "W1", "n x h", false, false)?;
    let (w2m, w2d) = read_matrix(w2, "W2", "h x m", false, false)?;
    let precision = precision_of(precision, &[("X", xd), ("Y", yd), ("W1", w1d), ("W2", w2d)])?;
    let spec = ProblemSpec {
        loss,
        // The sensing operator does not carry n and m: the start does.
        n: sensing.then_some(w1m.nrows()),
        m: sensing.then_some(w2m.ncols()),
        gamma,
        lambda: lam,
        precision,
        ..ProblemSpec::default()
    };
    let user = UserMatrices {
        x: Some(xm),
        y: Some(ym),
        w1: Some(w1m),
        w2: Some(w2m),
    };
    let problem = py
        .detach(|| Problem::from_matrices(&spec, user))
        .map_err(py_err)?;
    Ok((problem, precision))
}

/// A matrix as a C-ordered NumPy array of the working precision (an `f32`
/// problem's values are exact in `f64`, so the conversion back is exact).
fn to_numpy<'py>(py: Python<'py>, m: &DMatrix<f64>, p: Precision) -> Bound<'py, PyAny> {
    let shape = m.shape();
    match p {
        Precision::F64 => Array2::from_shape_fn(shape, |(i, j)| m[(i, j)])
            .into_pyarray(py)
            .into_any(),
        Precision::F32 => Array2::from_shape_fn(shape, |(i, j)| m[(i, j)] as f32)
            .into_pyarray(py)
            .into_any(),
    }
}

/// `value` as JSON: the host's serialized form, which the Python wrapper
/// reads with every field the host reports (including fields added later).
/// A run's tally and a-priori certificate are read from its summary, so
/// they are serialized once.
fn json<T: serde::Serialize>(value: &T) -> PyResult<String> {
    serde_json::to_string(value)
        .map_err(|e| PyRuntimeError::new_err(format!("internal error: cannot serialize: {e}")))
}

fn sizes_dict<'py>(py: Python<'py>, s: &Sizes) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("n", s.n)?;
    d.set_item("m", s.m)?;
    d.set_item("h", s.h)?;
    d.set_item("samples", s.samples)?;
    Ok(d)
}

fn constants_dict<'py>(
    py: Python<'py>,
    c: &overlin::problem::LossInfo,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("mu", c.mu)?;
    d.set_item("k", c.k)?;
    d.set_item("l_star", c.l_star)?;
    d.set_item("w_star_spec", c.w_star_spec)?;
    d.set_item("w_star_sigma_min", c.w_star_sigma_min)?;
    Ok(d)
}

/// The index of a class in the order the outputs list them
/// (`certified, trivial, below_resolution, descent_only, non_finite`).
fn class_code(c: Class) -> u8 {
    match c {
        Class::Certified => 0,
        Class::Trivial => 1,
        Class::BelowResolution => 2,
        Class::DescentOnly => 3,
        Class::NonFinite => 4,
    }
}

/// Per-step arrays of a run, one entry per step.
fn steps_dict<'py>(py: Python<'py>, records: &[Record]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let col = |f: &dyn Fn(&Record) -> f64| -> Vec<f64> { records.iter().map(f).collect() };
    d.set_item(
        "t",
        records
            .iter()
            .map(|r| r.t as u64)
            .collect::<Vec<_>>()
            .into_pyarray(py),
    )?;
    for (k, v) in [
        ("loss", col(&|r| r.loss)),
        ("gap", col(&|r| r.gap)),
        ("eta", col(&|r| r.eta)),
        ("alpha", col(&|r| r.alpha)),
        ("beta", col(&|r| r.beta)),
        ("grad_spec", col(&|r| r.grad_spec)),
        ("mu_t", col(&|r| r.mu_t)),
        ("k_t", col(&|r| r.k_t)),
        ("rho", col(&|r| r.rho)),
        ("ratio", col(&|r| r.ratio)),
        ("bound_ratio", col(&|r| r.bound_ratio)),
        ("next_gap", col(&|r| r.next_gap)),
        ("eta_k_t", col(&|r| r.eta_k_t)),
        ("drift", col(&|r| r.drift)),
        ("allowance", col(&|r| r.allowance)),
        // NaN where no certificate from the iterate was computed (or none exists).
        ("t_eps", col(&|r| r.t_eps.map_or(f64::NAN, |v| v as f64))),
    ] {
        d.set_item(k, v.into_pyarray(py))?;
    }
    // Classes (THEORY §11) as their index in `overlin.STEP_CLASSES`; the
    // wrapper maps them to a NumPy string array (one vectorized lookup, not
    // a Python string per step).
    d.set_item(
        "class",
        records
            .iter()
            .map(|r| class_code(r.class))
            .collect::<Vec<u8>>()
            .into_pyarray(py),
    )?;
    for (k, v) in [
        (
            "holds",
            records.iter().map(|r| r.holds).collect::<Vec<bool>>(),
        ),
        (
            "contraction_applies",
            records.iter().map(|r| r.contraction_applies).collect(),
        ),
    ] {
        d.set_item(k, v.into_pyarray(py))?;
    }
    Ok(d)
}

fn run_dict<'py>(
    py: Python<'py>,
    res: &RunResult,
    records: &[Record],
    w1: &DMatrix<f64>,
    w2: &DMatrix<f64>,
    precision: Precision,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("status", res.status.name())?;
    d.set_item("diverged_at", res.status.diverged_at())?;
    d.set_item("rule_unavailable", res.status.unavailable_reason())?;
    d.set_item("rule", &res.rule)?;
    d.set_item("precision", &res.precision)?;
    d.set_item("iterations", res.iterations)?;
    d.set_item("initial_gap", res.initial_gap)?;
    d.set_item("final_gap", res.final_gap)?;
    d.set_item("final_loss", res.final_loss)?;
    d.set_item("tol", res.tol_abs)?;
    d.set_item("achieved_rate", res.achieved_rate)?;
    d.set_item("alpha0", res.alpha0)?;
    d.set_item("beta0", res.beta0)?;
    d.set_item("setting_note", res.setting_note.clone())?;
    d.set_item("wall_time_s", res.wall_time_s)?;
    d.set_item("sizes", sizes_dict(py, &res.sizes)?)?;
    d.set_item("constants", constants_dict(py, &res.constants)?)?;
    d.set_item("steps", steps_dict(py, records)?)?;
    d.set_item("W1", to_numpy(py, w1, precision))?;
    d.set_item("W2", to_numpy(py, w2, precision))?;
    d.set_item("summary_json", summary_json(res)?)?;
    Ok(d)
}

/// The run's summary exactly as `overlin run --json` prints it (`res`
/// without its per-step records, which are arrays here).
fn summary_json(res: &RunResult) -> PyResult<String> {
    json(res)
}

/// Certified gradient descent from `(W1, W2)` on the loss of `(X, Y)`;
/// see `overlin.run`.
#[pyfunction]
#[pyo3(signature = (x, y, w1, w2, *, loss, gamma, lam, precision, rule, iters, tol, relative, imbalance_every, stall_window, anytime_every))]
#[allow(clippy::too_many_arguments)]
fn run<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    w1: &Bound<'py, PyAny>,
    w2: &Bound<'py, PyAny>,
    loss: &str,
    gamma: f64,
    lam: f64,
    precision: Option<&str>,
    rule: &str,
    iters: usize,
    tol: f64,
    relative: bool,
    imbalance_every: usize,
    stall_window: usize,
    anytime_every: usize,
) -> PyResult<Bound<'py, PyDict>> {
    if iters == 0 {
        return Err(PyValueError::new_err("iters must be at least 1"));
    }
    positive("tol", tol)?;
    if let Err(e) = overlin_core::StepRule::<f64>::parse(rule) {
        return Err(PyValueError::new_err(format!("rule '{rule}': {e}")));
    }
    let (problem, precision) = user_problem(py, x, y, w1, w2, loss, gamma, lam, precision)?;
    let spec = RunSpec {
        rule: rule.to_string(),
        iters,
        tol,
        relative,
        certify: true,
        imbalance_every,
        stall_window,
        keep_records: true,
        anytime_every,
    };
    let outcome = py.detach(|| {
        let mut signal: Option<PyErr> = None;
        let mut last = Instant::now();
        let res = problem.run_with_weights(&spec, &mut |_: &Record| {
            // Let Ctrl-C stop a long run: look for pending signals (which
            // needs the GIL) every tenth of a second.
            if last.elapsed() >= Duration::from_millis(100) {
                last = Instant::now();
                if let Err(e) = Python::attach(|py| py.check_signals()) {
                    signal = Some(e);
                    return false;
                }
            }
            true
        });
        (res, signal)
    });
    let (res, signal) = outcome;
    if let Some(e) = signal {
        return Err(e);
    }
    let (mut res, weights) = res.map_err(py_err)?;
    let records = res.records.take().unwrap_or_default();
    run_dict(py, &res, &records, &weights.w1, &weights.w2, precision)
}

/// What `overlin certify --json` prints; the Python wrapper builds its
/// `Certificate` from it.
fn certify_dict<'py>(py: Python<'py>, c: &CertifyResult) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("summary_json", json(c)?)?;
    Ok(d)
}

/// The a-priori certificate and the local constants at `(W1, W2)`; see
/// `overlin.certify`.
#[pyfunction]
#[pyo3(signature = (x, y, w1, w2, *, loss, gamma, lam, precision, tol))]
#[allow(clippy::too_many_arguments)]
fn certify<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    w1: &Bound<'py, PyAny>,
    w2: &Bound<'py, PyAny>,
    loss: &str,
    gamma: f64,
    lam: f64,
    precision: Option<&str>,
    tol: f64,
) -> PyResult<Bound<'py, PyDict>> {
    positive("tol", tol)?;
    let (problem, _) = user_problem(py, x, y, w1, w2, loss, gamma, lam, precision)?;
    let c = py.detach(|| problem.certify(tol)).map_err(py_err)?;
    certify_dict(py, &c)
}

/// The prediction for one gradient step from an iterate, ready to check the
/// next iterate; see `overlin.step_certificate`.
#[pyclass(module = "overlin._overlin", name = "StepPrediction")]
struct PyStepPrediction {
    inner: StepPrediction,
    precision: Precision,
}

fn prediction_dict<'py>(py: Python<'py>, p: &Prediction) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in [
        ("loss", p.loss),
        ("gap", p.gap),
        ("eta", p.eta),
        ("alpha", p.alpha),
        ("beta", p.beta),
        ("grad_spec", p.grad_spec),
        ("grad_sq", p.grad_sq),
        ("mu_t", p.mu_t),
        ("k_t", p.k_t),
        ("eta_k_t", p.eta_k_t),
        ("rho", p.rho),
        ("descent_bound", p.descent_bound),
        ("local_eta", p.local_eta),
    ] {
        d.set_item(k, v)?;
    }
    d.set_item("contraction_applies", p.contraction_applies)?;
    Ok(d)
}

fn outcome_dict<'py>(py: Python<'py>, o: &Outcome) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in [
        ("next_loss", o.next_loss),
        ("next_gap", o.next_gap),
        ("ratio", o.ratio),
        ("bound_ratio", o.bound_ratio),
        ("deviation", o.deviation),
    ] {
        d.set_item(k, v)?;
    }
    d.set_item("allowance", o.allowance)?;
    d.set_item("holds", o.holds)?;
    d.set_item("class", o.class.name())?;
    Ok(d)
}

#[pymethods]
impl PyStepPrediction {
    /// The predicted quantities, as a dict.
    fn prediction<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        prediction_dict(py, &self.inner.prediction)
    }

    /// Checks the prediction against the next iterate `(W1, W2)`.
    fn check<'py>(
        &mut self,
        py: Python<'py>,
        w1: &Bound<'py, PyAny>,
        w2: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (w1m, _) = read_matrix(w1, "next_W1", "n x h", false, false)?;
        let (w2m, _) = read_matrix(w2, "next_W2", "h x m", false, false)?;
        let inner = &mut self.inner;
        let o = py.detach(|| inner.check(&w1m, &w2m)).map_err(py_err)?;
        outcome_dict(py, &o)
    }

    /// The core's own gradient step from the iterate, `(W1, W2)`.
    fn gradient_step<'py>(&self, py: Python<'py>) -> (Bound<'py, PyAny>, Bound<'py, PyAny>) {
        let (a, b) = self.inner.gradient_step();
        (
            to_numpy(py, &a, self.precision),
            to_numpy(py, &b, self.precision),
        )
    }
}

/// See `overlin.step_certificate`.
#[pyfunction]
#[pyo3(signature = (x, y, w1, w2, eta, *, loss, gamma, lam, precision))]
#[allow(clippy::too_many_arguments)]
fn step_certificate<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    w1: &Bound<'py, PyAny>,
    w2: &Bound<'py, PyAny>,
    eta: f64,
    loss: &str,
    gamma: f64,
    lam: f64,
    precision: Option<&str>,
) -> PyResult<PyStepPrediction> {
    positive("eta", eta)?;
    let (problem, precision) = user_problem(py, x, y, w1, w2, loss, gamma, lam, precision)?;
    let inner = py
        .detach(|| problem.step_certificate(eta))
        .map_err(py_err)?;
    Ok(PyStepPrediction { inner, precision })
}

fn parse_precision(p: &str) -> PyResult<Precision> {
    precision_of(Some(p), &[])
}

fn parse_init(init: &str) -> PyResult<InitName> {
    init.parse::<InitName>().map_err(|_| {
        PyValueError::new_err(format!(
            "init must be 'gaussian', 'scaled', 'orthogonal', 'spectral' or 'spectral-target', got '{init}'"
        ))
    })
}

fn parse_kappa(kappa: &Bound<'_, PyAny>) -> PyResult<Kappa> {
    let s = if let Ok(v) = kappa.extract::<f64>() {
        v.to_string()
    } else if let Ok(s) = kappa.extract::<String>() {
        s
    } else {
        return Err(PyTypeError::new_err(
            "kappa must be a number >= 1 or 'orthogonal', 'identity' or 'gaussian'",
        ));
    };
    s.parse::<Kappa>().map_err(|_| {
        PyValueError::new_err(format!(
            "kappa must be a number >= 1 or 'orthogonal', 'identity' or 'gaussian', got {s}"
        ))
    })
}

/// A generated problem, as the CLI's flags make it; see `overlin.problem`.
#[pyfunction]
#[pyo3(signature = (*, loss, n, m, h, samples, kappa, noise, target_std, gamma, lam, init, sigma, scale, seed, data_seed, precision))]
#[allow(clippy::too_many_arguments)]
fn problem<'py>(
    py: Python<'py>,
    loss: &str,
    n: usize,
    m: usize,
    h: usize,
    samples: usize,
    kappa: &Bound<'py, PyAny>,
    noise: f64,
    target_std: Option<f64>,
    gamma: f64,
    lam: f64,
    init: &str,
    sigma: f64,
    scale: f64,
    seed: u64,
    data_seed: Option<u64>,
    precision: &str,
) -> PyResult<Bound<'py, PyDict>> {
    for (name, v) in [("n", n), ("m", m), ("h", h), ("samples", samples)] {
        if v == 0 {
            return Err(PyValueError::new_err(format!("{name} must be at least 1")));
        }
    }
    non_negative("noise", noise)?;
    non_negative("sigma", sigma)?;
    non_negative("scale", scale)?;
    if let Some(s) = target_std {
        non_negative("target_std", s)?;
    }
    positive("gamma", gamma)?;
    positive("lam", lam)?;
    let precision = parse_precision(precision)?;
    let spec = ProblemSpec {
        loss: parse_loss(loss)?,
        n: Some(n),
        m: Some(m),
        h: Some(h),
        samples: Some(samples),
        kappa: parse_kappa(kappa)?,
        noise,
        target_std,
        gamma,
        lambda: lam,
        init: parse_init(init)?,
        sigma,
        scale,
        seed,
        data_seed,
        precision,
        ..ProblemSpec::default()
    };
    let p = py.detach(|| Problem::build(&spec)).map_err(py_err)?;
    let (x, y) = p.data();
    let (w1, w2) = p.start();
    let d = PyDict::new(py);
    d.set_item("X", to_numpy(py, &x, precision))?;
    d.set_item("Y", to_numpy(py, &y, precision))?;
    d.set_item("W1", to_numpy(py, &w1, precision))?;
    d.set_item("W2", to_numpy(py, &w2, precision))?;
    d.set_item("sizes", sizes_dict(py, &p.sizes())?)?;
    d.set_item("constants", constants_dict(py, &p.constants())?)?;
    Ok(d)
}

/// A start `(W1, W2)` as the CLI draws it for `--seed`; see `overlin.init`.
#[pyfunction]
#[pyo3(signature = (n, h, m, *, kind, sigma, scale, seed, precision))]
#[allow(clippy::too_many_arguments)]
fn init<'py>(
    py: Python<'py>,
    n: usize,
    h: usize,
    m: usize,
    kind: &str,
    sigma: f64,
    scale: f64,
    seed: u64,
    precision: &str,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    for (name, v) in [("n", n), ("h", h), ("m", m)] {
        if v == 0 {
            return Err(PyValueError::new_err(format!("{name} must be at least 1")));
        }
    }
    non_negative("sigma", sigma)?;
    non_negative("scale", scale)?;
    let precision = parse_precision(precision)?;
    let spec = ProblemSpec {
        init: parse_init(kind)?,
        sigma,
        scale,
        seed,
        precision,
        ..ProblemSpec::default()
    };
    let sizes = Sizes {
        n,
        m,
        h,
        samples: 0,
    };
    let (w1, w2) = py
        .detach(|| -> overlin::Result<_> {
            Ok(match precision {
                Precision::F32 => {
                    let s = generated_start::<f32>(&spec, sizes, None)?;
                    (s.w1.map(f64::from), s.w2.map(f64::from))
                }
                Precision::F64 => {
                    let s = generated_start::<f64>(&spec, sizes, None)?;
                    (s.w1, s.w2)
                }
            })
        })
        .map_err(py_err)?;
    Ok((to_numpy(py, &w1, precision), to_numpy(py, &w2, precision)))
}

/// The native module `overlin._overlin`.
#[pymodule]
fn _overlin(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(certify, m)?)?;
    m.add_function(wrap_pyfunction!(step_certificate, m)?)?;
    m.add_function(wrap_pyfunction!(problem, m)?)?;
    m.add_function(wrap_pyfunction!(init, m)?)?;
    m.add_class::<PyStepPrediction>()?;
    Ok(())
}
