//! From a [`ProblemSpec`] to core objects: size inference and checks,
//! memory estimate, user data, generated data and starts (THEORY §9, §10).

use std::path::PathBuf;

use overlin_core::data;
use overlin_core::deep::{DeepInit, DynDeep, Heap};
use overlin_core::nalgebra::{DMatrix, Dyn};
use overlin_core::{spectral_balanced, DynNet, Init, Loss, Real, Rng};

use super::loss::build_loss;
use super::{
    InitName, Kappa, LossName, Precision, ProblemSpec, Sizes, Typed, DEFAULT_M, DEFAULT_N,
};
use crate::{Error, Result};

/// User files, read in `f64`.
pub(super) struct UserData {
    pub(super) x: DMatrix<f64>,
    pub(super) y: DMatrix<f64>,
}

pub(super) fn size_or(
    flag: Option<usize>,
    from_file: Option<(usize, &str)>,
    default: usize,
    what: &str,
) -> Result<usize> {
    let v = match (flag, from_file) {
        (Some(f), Some((d, src))) if f != d => {
            return Err(Error::input(format!(
                "size clash: --{what} {f} but {src} gives {what} = {d}"
            )))
        }
        (_, Some((d, _))) => d,
        (Some(f), None) => f,
        (None, None) => default,
    };
    if v == 0 {
        return Err(Error::input(format!(
            "{what} is zero; every size must be at least 1"
        )));
    }
    Ok(v)
}

fn check_param(ok: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::input(msg()))
    }
}

impl ProblemSpec {
    /// Checks the scalar fields and the sizes given (files are checked when
    /// the problem is built).
    pub fn validate(&self) -> Result<()> {
        for (what, v) in [
            ("n", self.n),
            ("m", self.m),
            ("h", self.h),
            ("samples", self.samples),
        ] {
            if v == Some(0) {
                return Err(Error::input(format!(
                    "--{what} is zero; every size must be at least 1"
                )));
            }
        }
        // Deep networks (THEORY §13): at most 64 layers (each an h×h buffer
        // set), started from a generated start only.
        check_param((2..=64).contains(&self.depth), || {
            format!(
                "--depth must be between 2 and 64 (the number of layers of W1 ... WL), got {}",
                self.depth
            )
        })?;
        if self.depth >= 3 && (self.w1.is_some() || self.w2.is_some()) {
            return Err(Error::input(format!(
                "--w1/--w2 give a two-layer start; with --depth {} the start is generated                  (use --init gaussian|scaled|orthogonal|spectral, --scale, --sigma)",
                self.depth
            )));
        }
        if self.depth >= 3 && self.init == InitName::SpectralTarget {
            return Err(Error::input(format!(
                "--init spectral-target factorizes W* into two layers; with --depth {} use                  --init spectral (a balanced start) or gaussian|scaled|orthogonal",
                self.depth
            )));
        }
        check_param(self.noise.is_finite() && self.noise >= 0.0, || {
            format!("--noise must be finite and >= 0, got {}", self.noise)
        })?;
        check_param(self.sigma.is_finite() && self.sigma >= 0.0, || {
            format!("--sigma must be finite and >= 0, got {}", self.sigma)
        })?;
        check_param(self.scale.is_finite() && self.scale >= 0.0, || {
            format!("--scale must be finite and >= 0, got {}", self.scale)
        })?;
        if let Some(s) = self.target_std {
            check_param(s.is_finite() && s >= 0.0, || {
                format!("--target-std must be finite and >= 0, got {s}")
            })?;
        }
        check_param(self.gamma.is_finite() && self.gamma > 0.0, || {
            format!("--gamma must be positive and finite, got {}", self.gamma)
        })?;
        check_param(self.lambda.is_finite() && self.lambda > 0.0, || {
            format!("--lambda must be positive and finite, got {}", self.lambda)
        })?;
        if let Kappa::Value(k) = self.kappa {
            Kappa::checked(k)?;
        }
        if self.x.is_some() != self.y.is_some() {
            return Err(Error::input(
                "user data needs both --x and --y (or neither)",
            ));
        }
        if self.w1.is_some() != self.w2.is_some() {
            return Err(Error::input(
                "a user start needs both --w1 and --w2 (or neither)",
            ));
        }
        Ok(())
    }
}

pub(super) fn path_name(p: &Option<PathBuf>, default: &str) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| default.to_string())
}

/// Sizes `(samples, n, m)` from user data and flags.
pub(super) fn user_sizes(spec: &ProblemSpec, d: &UserData) -> Result<(usize, usize, usize)> {
    let xn = path_name(&spec.x, "X");
    let yn = path_name(&spec.y, "Y");
    let (x, y) = (&d.x, &d.y);
    if x.nrows() != y.nrows() {
        return Err(Error::input(format!(
            "size clash: {xn} has {} rows (samples) but {yn} has {} rows",
            x.nrows(),
            y.nrows()
        )));
    }
    let samples = size_or(spec.samples, Some((x.nrows(), &xn)), 0, "samples")?;
    match spec.loss {
        LossName::Sensing => {
            let n = size_or(spec.n, None, DEFAULT_N, "n")?;
            let m = size_or(spec.m, None, DEFAULT_M, "m")?;
            if x.ncols() != n.saturating_mul(m) {
                return Err(Error::input(format!(
                    "size clash: sensing operator {xn} has {} columns but n*m = {n}*{m} = {} \
                     (give --n and --m)",
                    x.ncols(),
                    n.saturating_mul(m)
                )));
            }
            if y.ncols() != 1 {
                return Err(Error::input(format!(
                    "size clash: sensing measurements {yn} must have 1 column, found {}",
                    y.ncols()
                )));
            }
            Ok((samples, n, m))
        }
        LossName::Softmax if y.ncols() == 1 => {
            let n = size_or(spec.n, Some((x.ncols(), &xn)), 0, "n")?;
            // Class indices: every label is checked before m is inferred
            // from the largest (a label of 1e300 would overflow the count
            // and the error would then blame a valid label).
            let mut max_label = 0usize;
            for (i, &c) in y.iter().enumerate() {
                if !(c >= 0.0 && c.fract() == 0.0 && c < MAX_LABEL) {
                    return Err(Error::input(format!(
                        "{yn}: label {} at row {} is not a class index (a whole number from 0 \
                         to {}); give class indices or an N x m one-hot matrix",
                        crate::io::short_number(c),
                        i + 1,
                        MAX_LABEL - 1.0
                    )));
                }
                max_label = max_label.max(c as usize);
            }
            let m = size_or(
                spec.m.or(Some((max_label + 1).max(2))),
                None,
                DEFAULT_M,
                "m",
            )?;
            Ok((samples, n, m))
        }
        _ => {
            let n = size_or(spec.n, Some((x.ncols(), &xn)), 0, "n")?;
            let m = size_or(spec.m, Some((y.ncols(), &yn)), 0, "m")?;
            Ok((samples, n, m))
        }
    }
}

/// Labels of a softmax `Y` (`N×1`) are below 2³²: `m` is inferred from
/// the largest, and any larger count of classes is far beyond the memory
/// of a machine (the memory check then names the real need).
const MAX_LABEL: f64 = 4_294_967_296.0;

/// The size relations a problem must satisfy, checked before anything of
/// its size is allocated.
pub(super) fn check_size_relations(spec: &ProblemSpec, s: Sizes, user_data: bool) -> Result<()> {
    if user_data || spec.loss == LossName::Sensing {
        return Ok(());
    }
    // The generated X has singular values spread over [1/κ, 1]: XᵀX is
    // resolvable when κ² stays below what the rank test accepts
    // (eigenvalues above 100·n·ε·λ_max; THEORY §9.1).
    if let Kappa::Value(k) = spec.kappa {
        let eps = match spec.precision {
            Precision::F32 => f64::from(f32::EPSILON),
            Precision::F64 => f64::EPSILON,
        };
        let most = (1.0 / (100.0 * s.n as f64 * eps)).sqrt();
        if k >= most {
            let or_f64 = match spec.precision {
                Precision::F32 => " or --precision f64",
                Precision::F64 => "",
            };
            return Err(Error::input(format!(
                "--kappa {}: X^T X would have condition number {}, beyond what {} resolves \
                 for n = {} (kappa below {}); use a smaller --kappa{or_f64}",
                crate::io::short_number(k),
                crate::io::short_number(k * k),
                spec.precision.name(),
                s.n,
                most.floor()
            )));
        }
    }
    match spec.kappa {
        Kappa::Identity if s.samples != s.n => Err(Error::input(format!(
            "size clash: --kappa identity needs samples = n, got samples = {}, n = {}",
            s.samples, s.n
        ))),
        Kappa::Identity => Ok(()),
        _ if s.samples < s.n => Err(Error::input(format!(
            "samples = {} < n = {}: X cannot have full column rank, so the loss is not \
             strongly convex; use more samples, or the log-cosh (ridge) or softmax (ridge) loss",
            s.samples, s.n
        ))),
        _ => Ok(()),
    }
}

/// About how many bytes a problem of sizes `s` takes, set up and running
/// (`None` beyond 64 bits). Counted in entries: the data (`X` and `Y`, held
/// by the loss, copied for the least-squares solve and for the run, and
/// read in `f64` from files), the network (start, iterate, trial step,
/// `A`, `B` and the certificate's copies: `6h(n+m)`) and the Gram and
/// imbalance matrices (`6(n+m)² + 4nm`). A deep network (`depth ≥ 3`,
/// THEORY §13) adds its `L − 2` middle `h×h` layers four times (start,
/// iterate, trial step, gradients), the two `h×h` imbalance buffers, and
/// `3L` prefix/suffix products of `h(n+m)` entries. An estimate that errs
/// high: it is compared with the limit before anything is allocated.
pub fn memory_estimate(
    loss: LossName,
    precision: Precision,
    s: Sizes,
    depth: usize,
    user_data: bool,
) -> Option<u128> {
    let (n, m, h, samples) = (s.n as u128, s.m as u128, s.h as u128, s.samples as u128);
    let x_cols = if loss == LossName::Sensing {
        n.checked_mul(m)?
    } else {
        n
    };
    let y_cols = if loss == LossName::Sensing { 1 } else { m };
    let data = samples.checked_mul(x_cols.checked_add(y_cols)?)?;
    let nm = n.checked_add(m)?;
    let elems = data
        .checked_mul(4)?
        .checked_add(h.checked_mul(nm)?.checked_mul(6)?)?
        .checked_add(nm.checked_mul(nm)?.checked_mul(6)?)?
        .checked_add(n.checked_mul(m)?.checked_mul(4)?)?
        .checked_add(samples.checked_mul(4)?)?;
    let elems = if depth > 2 {
        let depth = depth as u128;
        let hh = h.checked_mul(h)?;
        elems
            .checked_add(hh.checked_mul((depth - 2).checked_mul(4)?.checked_add(2)?)?)?
            .checked_add(h.checked_mul(nm)?.checked_mul(depth.checked_mul(3)?)?)?
    } else {
        elems
    };
    let width: u128 = match precision {
        Precision::F32 => 4,
        Precision::F64 => 8,
    };
    let files = if user_data { data.checked_mul(8)? } else { 0 };
    elems.checked_mul(width)?.checked_add(files)
}

/// `h` from a user start, checking it against `n` and `m`.
pub(super) fn user_h(
    spec: &ProblemSpec,
    w1: &DMatrix<f64>,
    w2: &DMatrix<f64>,
    n: usize,
    m: usize,
) -> Result<usize> {
    let a = path_name(&spec.w1, "W1");
    let b = path_name(&spec.w2, "W2");
    if w1.nrows() != n {
        return Err(Error::input(format!(
            "size clash: {a} has {} rows but n = {n}",
            w1.nrows()
        )));
    }
    if w2.ncols() != m {
        return Err(Error::input(format!(
            "size clash: {b} has {} columns but m = {m}",
            w2.ncols()
        )));
    }
    if w1.ncols() != w2.nrows() {
        return Err(Error::input(format!(
            "size clash: {a} has {} columns (h) but {b} has {} rows",
            w1.ncols(),
            w2.nrows()
        )));
    }
    size_or(spec.h, Some((w1.ncols(), &a)), 0, "h")
}

/// User data and start already in memory (what the files of a
/// [`ProblemSpec`] hold once read), for callers that have arrays rather
/// than files, such as the Python package. Error messages name them `X`,
/// `Y`, `W1`, `W2`. Layouts are those of the files: `X` is `N×n` (the
/// `p×(n·m)` operator for sensing), `Y` is `N×m` (`p×1` measurements for
/// sensing; class indices `N×1` or one-hot `N×m` for softmax), `W1` is
/// `n×h`, `W2` is `h×m`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserMatrices {
    /// `X`.
    pub x: Option<DMatrix<f64>>,
    /// `Y`.
    pub y: Option<DMatrix<f64>>,
    /// `W1`.
    pub w1: Option<DMatrix<f64>>,
    /// `W2`.
    pub w2: Option<DMatrix<f64>>,
}

pub(super) fn to_t<T: Real>(m: &DMatrix<f64>) -> DMatrix<T> {
    m.map(T::of)
}

/// `X` (N×n) by the core generators (THEORY §9; `data::*`).
pub(super) fn generate_x<T: Real>(
    kappa: Kappa,
    samples: usize,
    n: usize,
    rng: &mut Rng,
) -> Result<DMatrix<T>> {
    if samples < n && !matches!(kappa, Kappa::Identity) {
        return Err(Error::input(format!(
            "samples = {samples} < n = {n}: X cannot have full column rank, so the loss is not \
             strongly convex; use more samples, or the log-cosh (ridge) or softmax (ridge) loss"
        )));
    }
    let mut x = DMatrix::<T>::zeros(samples, n);
    match kappa {
        Kappa::Identity => {
            if samples != n {
                return Err(Error::input(format!(
                    "size clash: --kappa identity needs samples = n, got samples = {samples}, n = {n}"
                )));
            }
            x.fill_with_identity();
        }
        Kappa::Orthogonal => data::orthogonal_data(&mut x, 1.0, rng)?,
        Kappa::Value(k) => data::conditioned_data(&mut x, k, rng)?,
        Kappa::Gaussian => data::gaussian_data(&mut x, rng),
    }
    Ok(x)
}

/// Softmax targets from user `Y`: `N×1` class indices become one-hot
/// `N×m`; an `N×m` matrix is passed on (the core checks it is one-hot).
pub(super) fn one_hot_from_user(y: &DMatrix<f64>, m: usize, name: &str) -> Result<DMatrix<f64>> {
    if y.ncols() != 1 || m == 1 {
        if y.ncols() != m {
            return Err(Error::input(format!(
                "size clash: softmax targets {name} have {} columns but m = {m}; give N x 1 \
                 class indices or an N x m one-hot matrix",
                y.ncols()
            )));
        }
        // Named here, with the row and the classes, rather than by the
        // core's generic "not a class index 0..m".
        for (i, row) in y.row_iter().enumerate() {
            let ones = row.iter().filter(|&&v| v == 1.0).count();
            if ones != 1 || row.iter().any(|&v| v != 0.0 && v != 1.0) {
                return Err(Error::input(format!(
                    "{name}: row {} is not one-hot (one 1 and {} zeros for m = {m} classes); \
                     give an N x {m} one-hot matrix or N x 1 class indices 0..{}",
                    i + 1,
                    m - 1,
                    m - 1
                )));
            }
        }
        return Ok(y.clone());
    }
    let mut out = DMatrix::<f64>::zeros(y.nrows(), m);
    for (i, &c) in y.iter().enumerate() {
        if !(c >= 0.0 && c.fract() == 0.0 && (c as usize) < m) {
            return Err(Error::input(format!(
                "{name}: label {c} at row {} is not a class index 0..{}",
                i + 1,
                m - 1
            )));
        }
        out[(i, c as usize)] = 1.0;
    }
    Ok(out)
}

/// Refuses user data whose Gram matrix `XᵀX` leaves the range of `T`
/// (an entry near `√MAX`, or every entry below `√MIN_POSITIVE`): its rank
/// and conditioning cannot be measured, and the core would report a rank
/// deficiency ("use more samples") where the cure is to rescale.
fn check_scale<T: Real>(x: &DMatrix<f64>, name: &str) -> Result<()> {
    let max = x.iter().fold(0.0f64, |a, &v| a.max(v.abs()));
    let rows = x.nrows().max(1) as f64;
    let prec = if T::MAX.to_f64() < f64::MAX {
        "f32"
    } else {
        "f64"
    };
    if max > (T::MAX.to_f64() / rows).sqrt() {
        return Err(Error::input(format!(
            "{name}: the data are badly scaled: an entry of {} makes X^T X overflow {prec}; \
             rescale X (e.g. standardize its columns)",
            crate::io::short_number(max)
        )));
    }
    if max > 0.0 && max < T::MIN_POSITIVE.to_f64().sqrt() {
        return Err(Error::input(format!(
            "{name}: the data are badly scaled: every entry is below {} in magnitude, so \
             X^T X underflows {prec}; rescale X (e.g. standardize its columns)",
            crate::io::short_number(T::MIN_POSITIVE.to_f64().sqrt())
        )));
    }
    Ok(())
}

/// `true` when `x` with its columns, then its rows, scaled to unit largest
/// entry has the full column rank the precision `T` resolves (the core's
/// threshold: `σ_min² > 100 n ε σ_max²`). A diagonal scaling does not change
/// the exact rank, so then the rank deficiency the core measured comes from
/// the scale of the entries (one entry of 1e39 among entries of 1), not from
/// too few or dependent samples.
fn rescaling_gives_full_rank<T: Real>(x: &DMatrix<f64>) -> bool {
    let (rows, cols) = x.shape();
    if rows < cols {
        return false;
    }
    let mut s = x.clone();
    for mut c in s.column_iter_mut() {
        let max = c.iter().fold(0.0f64, |a, &v| a.max(v.abs()));
        if max > 0.0 {
            c /= max;
        }
    }
    for mut r in s.row_iter_mut() {
        let max = r.iter().fold(0.0f64, |a, &v| a.max(v.abs()));
        if max > 0.0 {
            r /= max;
        }
    }
    let sv = s.singular_values();
    let max = sv.iter().fold(0.0f64, |a, &v| a.max(v));
    let min = sv.iter().fold(f64::INFINITY, |a, &v| a.min(v));
    max > 0.0 && min * min > 100.0 * cols as f64 * T::EPSILON.to_f64() * max * max
}

/// The median magnitude of the entries of `x` (for a message).
fn median_magnitude(x: &DMatrix<f64>) -> f64 {
    let mut v: Vec<f64> = x.iter().map(|v| v.abs()).collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Refuses a file entry that is finite in `f64` but beyond the range of the
/// working precision `T` (it would become infinite), naming the file, row
/// and column (1-based, as the readers do).
fn check_range<T: Real>(m: &DMatrix<f64>, name: &str) -> Result<()> {
    let max = T::MAX.to_f64();
    let rows = m.nrows().max(1);
    match m.as_slice().iter().position(|v| v.abs() > max) {
        Some(i) => Err(Error::input(format!(
            "{name}: entry at row {}, column {} is {:e}, beyond the range of {} (|x| <= {max:e}); \
             rescale the data or use --precision f64",
            i % rows + 1,
            i / rows + 1,
            m.as_slice().get(i).copied().unwrap_or(f64::NAN),
            if max < f64::MAX { "f32" } else { "f64" }
        ))),
        None => Ok(()),
    }
}

pub(super) fn build_typed<T: Real>(
    spec: &ProblemSpec,
    s: Sizes,
    user: Option<&UserData>,
    start: Option<(DMatrix<f64>, DMatrix<f64>)>,
) -> Result<Typed<T>> {
    if let Some(d) = user {
        check_range::<T>(&d.x, &path_name(&spec.x, "X"))?;
        check_range::<T>(&d.y, &path_name(&spec.y, "Y"))?;
    }
    if let Some((a, b)) = &start {
        check_range::<T>(a, &path_name(&spec.w1, "W1"))?;
        check_range::<T>(b, &path_name(&spec.w2, "W2"))?;
    }
    if let Some(d) = user {
        check_scale::<T>(&d.x, &path_name(&spec.x, "X"))?;
    }
    let loss = build_loss::<T>(spec, s, user).map_err(|e| match (e, user) {
        (Error::Input(msg), _) if msg.contains("did not converge") => {
            let (flag, v) = match spec.loss {
                LossName::Softmax => ("--lambda", spec.lambda),
                _ => ("--gamma", spec.gamma),
            };
            Error::input(format!(
                "{msg} with {flag} {}: the ridge weight is far from the scale of the data \
                 (or the data are badly scaled); use a {flag} nearer the eigenvalues of X^T X / N",
                crate::io::short_number(v)
            ))
        }
        // A numerical rank deficiency that rescaling the rows and columns
        // of X removes is bad scaling, not too few samples.
        (Error::Input(msg), Some(d))
            if msg.contains("has rank") && rescaling_gives_full_rank::<T>(&d.x) =>
        {
            Error::input(format!(
                "{}: the data are badly scaled: entries of magnitude up to {} against a median \
                 of {} leave X^T X more ill-conditioned than {} resolves, so X looks \
                 rank-deficient although it is not; rescale X (e.g. standardize its columns)",
                path_name(&spec.x, "X"),
                crate::io::short_number(d.x.iter().fold(0.0f64, |a, &v| a.max(v.abs()))),
                crate::io::short_number(median_magnitude(&d.x)),
                spec.precision.name()
            ))
        }
        // Name the files when the core rejects user data (rank, NaN, labels).
        (Error::Input(msg), Some(_)) => Error::Input(format!(
            "{msg} (X = {}, Y = {})",
            path_name(&spec.x, "X"),
            path_name(&spec.y, "Y")
        )),
        (e, _) => e,
    })?;
    let user_start = start.is_some();
    let start = match start {
        Some((a, b)) => DynNet::new(to_t::<T>(&a), to_t::<T>(&b))
            .map_err(|e| Error::input(format!("user start: {e}")))?,
        // A start that overflows comes from --scale and --sigma: name them
        // rather than the matrix the core found non-finite.
        None => generated_start::<T>(spec, s, Some(loss.minimizer())).map_err(|e| match e {
            Error::Input(msg) if msg.contains("NaN or infinite") => Error::input(format!(
                "--scale {} with --sigma {} makes the start overflow {} (its entries grow \
                 like scale * sqrt(sigma)); use smaller values",
                crate::io::short_number(spec.scale),
                crate::io::short_number(spec.sigma),
                spec.precision.name()
            )),
            e => e,
        })?,
    };
    // A start whose loss is not finite is refused like targets whose L*
    // overflows: it is an input out of range, not a divergence at step 0.
    if spec.depth < 3 {
        let at_start = loss.clone().evaluate(&(&start.w1 * &start.w2));
        if !(at_start.value.finite() && at_start.gap.finite()) {
            let what = if user_start {
                format!(
                    "the start {} · {}",
                    path_name(&spec.w1, "W1"),
                    path_name(&spec.w2, "W2")
                )
            } else {
                format!("--scale {}", crate::io::short_number(spec.scale))
            };
            return Err(Error::input(format!(
                "{what} gives a loss that overflows {} (W1·W2 or the loss is not finite there); \
                 use a smaller start",
                spec.precision.name()
            )));
        }
    }
    let deep = (spec.depth >= 3)
        .then(|| generated_deep_start::<T>(spec, s))
        .transpose()?;
    Ok(Typed { loss, start, deep })
}

/// The deep start `spec` asks for (THEORY §10 carried to depth, §13), from
/// the same seeded stream as [`generated_start`]: `gaussian` (entries
/// `N(0, scale²)`), `scaled` (`N(0, scale²/h)`), `orthogonal` (every layer
/// orthonormal times `scale`), `spectral` (the balanced start of Arora et
/// al.: `W_jᵀW_j = W_{j+1}W_{j+1}ᵀ`, product a Gaussian `n×m` with entries
/// `N(0, scale²/n)`); `sigma` unbalances the first pair.
pub fn generated_deep_start<T: Real>(spec: &ProblemSpec, s: Sizes) -> Result<DynDeep<T>> {
    let mut rng = Rng::new(spec.seed ^ 0x9E37_79B9_7F4A_7C15);
    let init = match spec.init {
        InitName::Gaussian => DeepInit::Gaussian {
            sigma: spec.sigma,
            std: spec.scale,
        },
        InitName::Scaled => DeepInit::Gaussian {
            sigma: spec.sigma,
            std: spec.scale / (s.h as f64).sqrt(),
        },
        InitName::Orthogonal => DeepInit::Orthogonal {
            sigma: spec.sigma,
            scale: spec.scale,
        },
        InitName::Spectral | InitName::SpectralTarget => DeepInit::Balanced {
            sigma: spec.sigma,
            std: spec.scale / (s.n as f64).sqrt(),
        },
    };
    Ok(init.sample::<T, Dyn, Dyn, Dyn, Heap>(
        (Dyn(s.n), Dyn(s.h), Dyn(s.m)),
        spec.depth,
        &mut rng,
    )?)
}

/// The start `spec` asks for (THEORY §10), drawn as the CLI draws it: from
/// the seeded stream `spec.seed ^ 0x9E3779B97F4A7C15` (its own stream, so the
/// data do not depend on the init). `target` is the minimizer `W*` that the
/// `spectral-target` start factorizes; without it that start is an input
/// error.
pub fn generated_start<T: Real>(
    spec: &ProblemSpec,
    s: Sizes,
    target: Option<&DMatrix<T>>,
) -> Result<DynNet<T>> {
    let mut rng = Rng::new(spec.seed ^ 0x9E37_79B9_7F4A_7C15);
    let (n, h, m) = (Dyn(s.n), Dyn(s.h), Dyn(s.m));
    Ok(match spec.init {
        InitName::Gaussian => Init::Gaussian {
            sigma: spec.sigma,
            std: spec.scale,
        }
        .sample(n, h, m, &mut rng)?,
        InitName::Scaled => Init::Scaled {
            sigma: spec.sigma,
            omega: spec.scale,
        }
        .sample(n, h, m, &mut rng)?,
        InitName::Orthogonal => Init::Orthogonal {
            sigma: spec.sigma,
            scale: spec.scale,
        }
        .sample(n, h, m, &mut rng)?,
        InitName::Spectral => {
            let mut r = DMatrix::<T>::zeros(s.n, s.m);
            rng.fill_gaussian(&mut r, spec.scale / (s.n as f64).sqrt());
            spectral_balanced(&r, h)?
        }
        InitName::SpectralTarget => match target {
            Some(target) => spectral_balanced(&(target * T::of(spec.scale)), h)?,
            None => {
                return Err(Error::input(
                    "the spectral-target start factorizes the problem's minimizer W*: \
                     build it with a problem, not alone",
                ))
            }
        },
    })
}
