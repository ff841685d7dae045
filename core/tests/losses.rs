//! Properties of the losses of THEORY §9 (f64 unless stated), of their
//! constructors and of the problem generators of `overlin_core::data`.
//!
//! Tolerances follow THEORY §11: "a few units of ε" times the magnitude of
//! the quantities that are added up. `ℓ` is a compensated sum of
//! non-negative terms, each with a relative error of a few ulps, so one
//! evaluation is off by at most about `4ε·ℓ`; the constant `C = 16` below
//! covers the sums of two or three such evaluations with a margin.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

use overlin_core::data::{
    conditioned_data, gaussian_data, linear_targets, one_hot_labels, orthogonal_data,
    sensing_measurements, sensing_operator,
};
use overlin_core::nalgebra::{Const, DMatrix, DVector, Dyn, OMatrix, OVector, SymmetricEigen};
use overlin_core::*;

const EPS: f64 = f64::EPSILON;
const C: f64 = 16.0;

/// The shapes (N, n, m): n < m, n = m, n > m.
const SHAPES: [(usize, usize, usize); 3] = [(11, 2, 5), (12, 4, 4), (16, 6, 3)];

fn gaussian(rows: usize, cols: usize, std: f64, rng: &mut Rng) -> DMatrix<f64> {
    let mut x = DMatrix::<f64>::zeros(rows, cols);
    rng.fill_gaussian(&mut x, std);
    x
}

fn sensing(n: usize, m: usize, seed: u64) -> MatrixSensing<f64, Dyn, Dyn, Dyn, Dyn> {
    let mut rng = Rng::new(seed);
    let p = n * m + 4;
    let mut a = DMatrix::<f64>::zeros(p, n * m);
    sensing_operator(&mut a, &mut rng);
    let mut theta = DMatrix::<f64>::zeros(n, m);
    let mut y = DVector::<f64>::zeros(p);
    sensing_measurements(&a, &mut theta, &mut y, 1.0, 0.5, &mut rng).unwrap();
    MatrixSensing::<f64, _, _, _, _>::new(Dyn(n), Dyn(m), a, y).unwrap()
}

fn logcosh(
    samples: usize,
    n: usize,
    m: usize,
    gamma: f64,
    seed: u64,
) -> LogCoshRidge<f64, Dyn, Dyn, Dyn> {
    let mut rng = Rng::new(seed);
    let x = gaussian(samples, n, 1.0, &mut rng);
    let mut theta = DMatrix::<f64>::zeros(n, m);
    let mut y = DMatrix::<f64>::zeros(samples, m);
    linear_targets(&x, &mut theta, &mut y, 1.0, 2.0, &mut rng).unwrap();
    LogCoshRidge::new(x, y, gamma).unwrap()
}

fn softmax(
    samples: usize,
    n: usize,
    m: usize,
    lambda: f64,
    seed: u64,
) -> SoftmaxRidge<f64, Dyn, Dyn, Dyn> {
    let mut rng = Rng::new(seed);
    let x = gaussian(samples, n, 1.0, &mut rng);
    let mut theta = DMatrix::<f64>::zeros(n, m);
    let mut y = DMatrix::<f64>::zeros(samples, m);
    one_hot_labels(&x, &mut theta, &mut y, 1.5, 0.5, &mut rng).unwrap();
    SoftmaxRidge::new(x, y, lambda).unwrap()
}

/// Every loss of this file on every shape (the squared loss has its own tests).
fn all_losses(mut f: impl FnMut(&str, &mut dyn FnMut() -> Box<dyn LossDyn>)) {
    for (i, &(samples, n, m)) in SHAPES.iter().enumerate() {
        let s = i as u64;
        f("sensing", &mut || Box::new(sensing(n, m, 10 + s)));
        f("logcosh", &mut || {
            Box::new(logcosh(samples, n, m, 0.3, 20 + s))
        });
        f("softmax", &mut || {
            Box::new(softmax(samples, n, m, 0.05, 30 + s))
        });
    }
}

/// Object-safe view of `Loss<f64, Dyn, Dyn>` for the table-driven tests.
trait LossDyn {
    fn consts(&self) -> LossConstants<f64>;
    fn w_star(&self) -> DMatrix<f64>;
    fn eval(&mut self, w: &DMatrix<f64>) -> Evaluation<f64>;
    fn eval_grad(&mut self, w: &DMatrix<f64>) -> (Evaluation<f64>, DMatrix<f64>);
}

impl<L: Loss<f64, Dyn, Dyn>> LossDyn for L {
    fn consts(&self) -> LossConstants<f64> {
        *Loss::constants(self)
    }
    fn w_star(&self) -> DMatrix<f64> {
        Loss::minimizer(self).clone()
    }
    fn eval(&mut self, w: &DMatrix<f64>) -> Evaluation<f64> {
        self.evaluate(w)
    }
    fn eval_grad(&mut self, w: &DMatrix<f64>) -> (Evaluation<f64>, DMatrix<f64>) {
        let mut g = DMatrix::zeros(w.nrows(), w.ncols());
        let e = self.evaluate_with_gradient(w, &mut g);
        (e, g)
    }
}

/// The Bregman divergence `ℓ(V) − ℓ(W) − ⟨∇ℓ(W), V − W⟩` and its rounding
/// tolerance.
fn bregman(loss: &mut dyn LossDyn, w: &DMatrix<f64>, v: &DMatrix<f64>) -> (f64, f64) {
    let (ew, g) = loss.eval_grad(w);
    let ev = loss.eval(v);
    let lin = g.dot(&(v - w));
    let b = ev.value - ew.value - lin;
    (b, C * EPS * (ev.value.abs() + ew.value.abs() + lin.abs()))
}

#[test]
fn minimizer_is_stationary_and_has_zero_gap() {
    all_losses(|name, make| {
        let mut loss = make();
        let c = loss.consts();
        let w_star = loss.w_star();
        let (e, g) = loss.eval_grad(&w_star);
        // The rounding floor of a computed gradient at W* is a few ε times
        // K‖W*‖ + ‖∇ of the individual terms‖; 100 ε K (‖W*‖ + 1) bounds it
        // with room and is ~1e-13 relative, far below any unconverged solve.
        let rel = g.norm() / (c.k * (w_star.norm() + 1.0));
        println!(
            "{name}: |grad l(W*)| / (K(|W*|+1)) = {:.2} eps, gap(W*) = {:e}",
            rel / EPS,
            e.gap
        );
        assert!(rel <= 100.0 * EPS, "{name}: gradient at W* {rel:e}");
        assert_eq!(e.gap, 0.0, "{name}: gap at W*");
        assert!((e.value - c.l_star).abs() <= C * EPS * c.l_star.abs());
        assert!((c.w_star.frobenius - w_star.norm()).abs() <= 1e-12 * w_star.norm());
        assert!(c.mu > 0.0 && c.k >= c.mu);
    });
}

#[test]
fn gap_matches_value_minus_minimum_and_is_nonnegative() {
    all_losses(|name, make| {
        let mut loss = make();
        let c = loss.consts();
        let (n, m) = loss.w_star().shape();
        let mut rng = Rng::new(7);
        let mut worst: f64 = 0.0;
        for k in 0..30 {
            let scale = [0.01, 0.1, 1.0, 3.0][k % 4];
            let w = loss.w_star() + gaussian(n, m, scale, &mut rng);
            let e = loss.eval(&w);
            assert!(e.gap >= 0.0, "{name}: negative gap");
            let diff = (e.gap - (e.value - c.l_star)).abs();
            let tol = C * EPS * (e.value.abs() + c.l_star.abs());
            worst = worst.max(diff / (EPS * (e.value.abs() + c.l_star.abs())));
            assert!(
                diff <= tol,
                "{name}: gap {} vs value - l* {}",
                e.gap,
                e.value - c.l_star
            );
        }
        println!("{name} n={n} m={m}: worst |gap - (l - l*)| = {worst:.2} eps (l + l*)");
    });
}

/// Near `W*` the gap is the quadratic `½ dᵀ∇²ℓ d`, between `μ/2‖d‖²` and
/// `K/2‖d‖²`, down to `‖d‖ = 1e-9`, where `value − ℓ*` is pure rounding
/// (`ε ℓ* ≫ K‖d‖²`): the gap is summed without cancellation (THEORY §11).
#[test]
fn gap_is_accurate_near_the_minimum() {
    all_losses(|name, make| {
        let mut loss = make();
        let c = loss.consts();
        let w_star = loss.w_star();
        let (n, m) = w_star.shape();
        let mut rng = Rng::new(9);
        let mut worst: f64 = 0.0;
        for delta in [1e-3, 1e-6, 1e-9] {
            let mut d = gaussian(n, m, 1.0, &mut rng);
            d *= delta / d.norm();
            let w = &w_star + &d;
            let d = &w - &w_star; // exact (Sterbenz)
            let q = d.norm_squared() / 2.0;
            let gap = loss.eval(&w).gap;
            // Relative error of the gap here: rounding of X(W − W*) or of
            // r − r* (≲ ε|r|/|Xd| ≈ 1e-6 for ‖d‖ = 1e-9), the first-order
            // term ⟨∇ℓ(W*), d⟩ (≲ ε K‖W*‖‖d‖, ~1e-7 relative) and the
            // third-order term (~‖d‖); 1e-5 bounds their sum.
            let slack = 1e-5;
            assert!(
                gap >= c.mu * q * (1.0 - slack) && gap <= c.k * q * (1.0 + slack),
                "{name} delta={delta}: gap {gap:e} outside [{:e}, {:e}]",
                c.mu * q,
                c.k * q
            );
            // Quadratic scaling: the gap at W* + 2d is four times that at
            // W* + d, up to the third-order term, of relative size about
            // (max|ℓ‴|/μ)‖X‖‖d‖ ≈ 10‖d‖ here, so only checked for ‖d‖ ≤ 1e-6.
            if delta > 1e-6 {
                continue;
            }
            let gap2 = loss.eval(&(&w_star + &d * 2.0)).gap;
            let ratio = gap2 / gap;
            worst = worst.max((ratio / 4.0 - 1.0).abs());
            assert!(
                (ratio / 4.0 - 1.0).abs() <= slack,
                "{name} delta={delta}: ratio {ratio}"
            );
        }
        println!("{name} n={n} m={m}: worst |gap(2d)/4gap(d) - 1| = {worst:.1e}");
    });
}

#[test]
fn strong_convexity_and_smoothness_hold_on_random_pairs() {
    all_losses(|name, make| {
        let mut loss = make();
        let c = loss.consts();
        let (n, m) = loss.w_star().shape();
        let mut rng = Rng::new(11);
        let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
        for k in 0..40 {
            let scale = [0.05, 0.5, 2.0, 6.0][k % 4];
            let w = gaussian(n, m, scale, &mut rng);
            let v = &w + gaussian(n, m, [0.01, 0.3, 3.0][k % 3], &mut rng);
            let q = (&v - &w).norm_squared() / 2.0;
            let (b, tol) = bregman(loss.as_mut(), &w, &v);
            lo = lo.min(b / (c.mu * q));
            hi = hi.max(b / (c.k * q));
            assert!(
                b >= c.mu * q - tol,
                "{name}: strong convexity fails: {b:e} < {:e}",
                c.mu * q
            );
            assert!(
                b <= c.k * q + tol,
                "{name}: smoothness fails: {b:e} > {:e}",
                c.k * q
            );
        }
        println!("{name} n={n} m={m}: min B/(mu q) = {lo:.3}, max B/(K q) = {hi:.3}");
    });
}

/// Top and bottom right singular vectors of `x` (unit length).
fn extreme_singular_vectors(x: &DMatrix<f64>) -> (DVector<f64>, DVector<f64>) {
    let e = SymmetricEigen::new(x.transpose() * x);
    let imax = e.eigenvalues.imax();
    let imin = e.eigenvalues.imin();
    (
        e.eigenvectors.column(imax).into_owned(),
        e.eigenvectors.column(imin).into_owned(),
    )
}

/// The constants are attained, not just valid bounds: each is met by the
/// curvature `B(W, W + d)/(‖d‖²/2)` along a direction where THEORY §9 says
/// it is tight.
#[test]
fn constants_are_tight() {
    // Sensing: ℓ is quadratic; along the extreme eigenvectors of 𝒜ᵀ𝒜/p the
    // curvature is exactly μ and K.
    for &(_, n, m) in &SHAPES {
        let mut loss = sensing(n, m, 40);
        let c = *Loss::constants(&loss);
        let (vmax, vmin) = extreme_singular_vectors(loss.operator());
        let w = Loss::minimizer(&loss).clone();
        for (v, target) in [(vmax, c.k), (vmin, c.mu)] {
            let d = DMatrix::from_column_slice(n, m, v.as_slice());
            let (b, tol) = bregman(&mut loss, &w, &(&w + &d));
            assert!(
                (b - target / 2.0).abs() <= tol + 1e-12 * target,
                "sensing: {b} vs {}",
                target / 2.0
            );
        }
    }
    // Log-cosh, K: at r = 0 (Y = XΘ exactly, W = Θ) the scalar curvature is
    // 1 + γ; along v_max in one column, B = K t²/2 (1 − O(t²)).
    let gamma = 0.3;
    {
        let mut rng = Rng::new(41);
        let (samples, n, m) = (12, 4, 3);
        let x = gaussian(samples, n, 1.0, &mut rng);
        let mut theta = DMatrix::zeros(n, m);
        let mut y = DMatrix::zeros(samples, m);
        linear_targets(&x, &mut theta, &mut y, 1.0, 0.0, &mut rng).unwrap();
        let (vmax, _) = extreme_singular_vectors(&x);
        let mut loss = LogCoshRidge::new(x, y, gamma).unwrap();
        let k = Loss::constants(&loss).k;
        let t = 1e-3;
        let mut d = DMatrix::zeros(n, m);
        d.column_mut(1).copy_from(&(vmax * t));
        let (b, _) = bregman(&mut loss, &theta, &(&theta + &d));
        let ratio = b / (k * t * t / 2.0);
        assert!(
            (1.0 - 1e-5..=1.0 + 1e-9).contains(&ratio),
            "logcosh K ratio {ratio}"
        );
    }
    // Log-cosh, μ: square X (N = n, condition 3); W with every residual of
    // column 0 equal to 30, where sech² ≈ 4e-26, so along v_min the
    // curvature is γ σ_min²/N = μ.
    {
        let mut rng = Rng::new(42);
        let (n, m) = (4, 2);
        let mut x = DMatrix::zeros(n, n);
        conditioned_data(&mut x, 3.0, &mut rng).unwrap();
        let y = gaussian(n, m, 1.0, &mut rng);
        let (_, vmin) = extreme_singular_vectors(&x);
        let mut loss = LogCoshRidge::new(x.clone(), y.clone(), gamma).unwrap();
        let mu = Loss::constants(&loss).mu;
        let mut target = y.clone();
        target.column_mut(0).add_scalar_mut(30.0);
        let w = x.clone().lu().solve(&target).unwrap();
        let mut d = DMatrix::zeros(n, m);
        d.column_mut(0).copy_from(&vmin);
        let (b, tol) = bregman(&mut loss, &w, &(&w + &d));
        let ratio = b / (mu / 2.0);
        assert!(
            (ratio - 1.0).abs() <= 1e-8 + tol / (mu / 2.0),
            "logcosh mu ratio {ratio}"
        );
    }
    // Softmax, μ: logsumexp is linear along z ↦ z + c·1, so along
    // d = u·1ᵀ (the same u in every class column) the curvature is λ.
    // K: with m = 2 at W = 0 (p = (½, ½)), along v_max·(1, −1)/√2 the
    // Hessian of logsumexp contributes exactly ½, so the curvature → K.
    {
        let mut loss = softmax(14, 3, 4, 0.05, 43);
        let lambda = Loss::constants(&loss).mu;
        let mut rng = Rng::new(44);
        let w = gaussian(3, 4, 1.0, &mut rng);
        let u = gaussian(3, 1, 1.0, &mut rng);
        let d = DMatrix::from_fn(3, 4, |i, _| u[i]);
        let (b, tol) = bregman(&mut loss, &w, &(&w + &d));
        let q = d.norm_squared() / 2.0;
        assert!(
            (b - lambda * q).abs() <= tol,
            "softmax mu: {b} vs {}",
            lambda * q
        );
    }
    {
        let mut loss = softmax(14, 3, 2, 0.05, 45);
        let k = Loss::constants(&loss).k;
        let (vmax, _) = extreme_singular_vectors(loss.x());
        let t = 1e-3 / 2f64.sqrt();
        let d = DMatrix::from_fn(3, 2, |i, j| if j == 0 { vmax[i] * t } else { -vmax[i] * t });
        let w = DMatrix::zeros(3, 2);
        let (b, _) = bregman(&mut loss, &w, &d);
        let ratio = b / (k * d.norm_squared() / 2.0);
        assert!(
            (1.0 - 1e-5..=1.0 + 1e-9).contains(&ratio),
            "softmax K ratio {ratio}"
        );
    }
}

#[test]
fn sensing_minimizer_is_least_squares() {
    // Noise-free measurements: W* is the ground truth and ℓ* ≈ 0.
    let mut rng = Rng::new(50);
    let (n, m, p) = (3, 2, 9);
    let mut a = DMatrix::zeros(p, n * m);
    sensing_operator(&mut a, &mut rng);
    let mut theta = DMatrix::zeros(n, m);
    let mut y = DVector::zeros(p);
    sensing_measurements(&a, &mut theta, &mut y, 1.0, 0.0, &mut rng).unwrap();
    // ⟨A_k, Θ⟩ with A_k the row k reshaped column-major.
    for k in 0..p {
        let ak: DMatrix<f64> = DMatrix::from_fn(n, m, |i, j| a[(k, i + j * n)]);
        assert!((ak.dot(&theta) - y[k]).abs() <= 1e-14 * (1.0 + y[k].abs()));
    }
    let loss = MatrixSensing::<f64, _, _, _, _>::new(Dyn(n), Dyn(m), a, y).unwrap();
    assert!((Loss::minimizer(&loss) - &theta).norm() <= 1e-13 * theta.norm());
    assert!(Loss::constants(&loss).l_star <= 1e-28);
}

#[test]
fn solver_reaches_the_floor_quickly_for_moderate_conditioning() {
    // Iterations ≈ κ ln(1/ε) at most; the floor is usually reached sooner.
    let loss = logcosh(16, 6, 3, 0.3, 60);
    let c = *Loss::constants(&loss);
    let kappa = c.k / c.mu;
    println!(
        "logcosh kappa={kappa:.1} iterations={}",
        loss.solver_iterations()
    );
    assert!((loss.solver_iterations() as f64) <= kappa * 46.0 + 1000.0);
    let loss = softmax(16, 6, 3, 0.05, 61);
    let c = *Loss::constants(&loss);
    let kappa = c.k / c.mu;
    println!(
        "softmax kappa={kappa:.1} iterations={}",
        loss.solver_iterations()
    );
    assert!((loss.solver_iterations() as f64) <= kappa * 46.0 + 1000.0);
}

#[test]
fn softmax_accepts_rank_deficient_data() {
    // The ridge makes ℓ strongly convex whatever the rank of X (THEORY §9.4).
    let mut rng = Rng::new(70);
    let mut x = gaussian(8, 3, 1.0, &mut rng);
    let c0 = x.column(0).into_owned();
    x.column_mut(2).copy_from(&c0);
    let mut y = DMatrix::zeros(8, 3);
    for i in 0..8 {
        y[(i, i % 3)] = 1.0;
    }
    let loss = SoftmaxRidge::new(x, y, 0.1).unwrap();
    assert_eq!(Loss::constants(&loss).mu, 0.1);
}

#[test]
fn constructor_errors() {
    let mut rng = Rng::new(80);
    let x = gaussian(6, 2, 1.0, &mut rng);
    let y = gaussian(6, 3, 1.0, &mut rng);
    let mut onehot = DMatrix::zeros(6, 3);
    for i in 0..6 {
        onehot[(i, i % 3)] = 1.0;
    }

    // Zero sizes.
    let zero = |e: ProblemError| matches!(e, ProblemError::ZeroSize { .. });
    assert!(zero(
        LogCoshRidge::new(DMatrix::zeros(0, 2), DMatrix::zeros(0, 3), 1.0).unwrap_err()
    ));
    assert!(zero(
        LogCoshRidge::new(DMatrix::zeros(6, 0), y.clone(), 1.0).unwrap_err()
    ));
    assert!(zero(
        LogCoshRidge::new(x.clone(), DMatrix::zeros(6, 0), 1.0).unwrap_err()
    ));
    assert!(zero(
        SoftmaxRidge::new(DMatrix::zeros(0, 2), DMatrix::zeros(0, 3), 1.0).unwrap_err()
    ));
    assert!(zero(
        SoftmaxRidge::new(DMatrix::zeros(6, 0), onehot.clone(), 1.0).unwrap_err()
    ));
    assert!(zero(
        SoftmaxRidge::new(x.clone(), DMatrix::zeros(6, 0), 1.0).unwrap_err()
    ));
    assert!(zero(
        MatrixSensing::<f64, _, _, _, _>::new(
            Dyn(0),
            Dyn(2),
            DMatrix::zeros(4, 0),
            DVector::zeros(4)
        )
        .unwrap_err()
    ));
    assert!(zero(
        MatrixSensing::<f64, _, _, _, _>::new(
            Dyn(2),
            Dyn(0),
            DMatrix::zeros(4, 0),
            DVector::zeros(4)
        )
        .unwrap_err()
    ));
    assert!(zero(
        MatrixSensing::<f64, _, _, _, _>::new(
            Dyn(2),
            Dyn(2),
            DMatrix::zeros(0, 4),
            DVector::zeros(0)
        )
        .unwrap_err()
    ));

    // Shapes.
    let shape = |e: ProblemError| matches!(e, ProblemError::ShapeMismatch { .. });
    assert!(shape(
        LogCoshRidge::new(x.clone(), gaussian(5, 3, 1.0, &mut rng), 1.0).unwrap_err()
    ));
    assert!(shape(
        SoftmaxRidge::new(x.clone(), DMatrix::zeros(5, 3), 1.0).unwrap_err()
    ));
    let a = gaussian(10, 6, 1.0, &mut rng);
    assert!(shape(
        MatrixSensing::<f64, _, _, _, _>::new(Dyn(2), Dyn(2), a.clone(), DVector::zeros(10))
            .unwrap_err()
    ));
    assert!(shape(
        MatrixSensing::<f64, _, _, _, _>::new(Dyn(2), Dyn(3), a.clone(), DVector::zeros(9))
            .unwrap_err()
    ));

    // Non-finite entries, with their position.
    let mut bad_x = x.clone();
    bad_x[(4, 1)] = f64::NAN;
    assert_eq!(
        LogCoshRidge::new(bad_x.clone(), y.clone(), 1.0).unwrap_err(),
        ProblemError::NonFinite {
            what: "X",
            row: 4,
            col: 1
        }
    );
    assert_eq!(
        SoftmaxRidge::new(bad_x, onehot.clone(), 1.0).unwrap_err(),
        ProblemError::NonFinite {
            what: "X",
            row: 4,
            col: 1
        }
    );
    let mut bad_y = y.clone();
    bad_y[(2, 2)] = f64::INFINITY;
    assert_eq!(
        LogCoshRidge::new(x.clone(), bad_y, 1.0).unwrap_err(),
        ProblemError::NonFinite {
            what: "Y",
            row: 2,
            col: 2
        }
    );
    let mut bad_a = a.clone();
    bad_a[(7, 5)] = f64::NAN;
    assert_eq!(
        MatrixSensing::<f64, _, _, _, _>::new(Dyn(2), Dyn(3), bad_a, DVector::zeros(10))
            .unwrap_err(),
        ProblemError::NonFinite {
            what: "sensing operator",
            row: 7,
            col: 5
        }
    );
    let mut bad_m = DVector::zeros(10);
    bad_m[3] = f64::NAN;
    assert_eq!(
        MatrixSensing::<f64, _, _, _, _>::new(Dyn(2), Dyn(3), a.clone(), bad_m).unwrap_err(),
        ProblemError::NonFinite {
            what: "y (measurements)",
            row: 3,
            col: 0
        }
    );

    // Rank deficiency.
    let rank = |e: ProblemError| matches!(e, ProblemError::RankDeficient { .. });
    let mut dup = gaussian(6, 3, 1.0, &mut rng);
    let c0 = dup.column(0) * 2.0;
    dup.column_mut(2).copy_from(&c0);
    assert!(rank(LogCoshRidge::new(dup, y.clone(), 1.0).unwrap_err()));
    // Too few measurements (p < nm), and p ≥ nm with repeated rows.
    assert!(rank(
        MatrixSensing::<f64, _, _, _, _>::new(
            Dyn(2),
            Dyn(3),
            gaussian(5, 6, 1.0, &mut rng),
            DVector::zeros(5)
        )
        .unwrap_err()
    ));
    let mut rep = gaussian(8, 6, 1.0, &mut rng);
    for k in 4..8 {
        let r = rep.row(k - 4).into_owned();
        rep.row_mut(k).copy_from(&r);
    }
    assert_eq!(
        MatrixSensing::<f64, _, _, _, _>::new(Dyn(2), Dyn(3), rep, DVector::zeros(8)).unwrap_err(),
        ProblemError::RankDeficient {
            what: "sensing operator",
            rank: 4,
            needed: 6
        }
    );

    // Labels that are not one-hot name their row.
    for (row, bad) in [
        (1usize, [1.0, 1.0, 0.0]),
        (3, [0.0, 0.0, 0.0]),
        (4, [0.5, 0.5, 0.0]),
        (5, [-1.0, 1.0, 0.0]),
        (0, [0.0, 2.0, 0.0]),
    ] {
        let mut yl = onehot.clone();
        for (j, &v) in bad.iter().enumerate() {
            yl[(row, j)] = v;
        }
        assert_eq!(
            SoftmaxRidge::new(x.clone(), yl, 1.0).unwrap_err(),
            ProblemError::LabelOutOfRange { row }
        );
    }

    // Parameters.
    let param = |e: ProblemError| matches!(e, ProblemError::InvalidParameter { .. });
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(param(
            LogCoshRidge::new(x.clone(), y.clone(), bad).unwrap_err()
        ));
        assert!(param(
            SoftmaxRidge::new(x.clone(), onehot.clone(), bad).unwrap_err()
        ));
    }
}

/// The losses and the generators instantiate with fixed sizes (`Const`, no
/// allocator needed), and a fixed-size and a run-time-size problem from
/// one seed give bit-identical `W*`, values and gradients (f32, the
/// firmware's precision; the kernels fix the summation order).
#[test]
fn fixed_sizes_match_dynamic_sizes_bitwise_f32() {
    type X = OMatrix<f32, Const<10>, Const<3>>;
    type Y = OMatrix<f32, Const<10>, Const<2>>;
    type W = OMatrix<f32, Const<3>, Const<2>>;

    fn fixed(seed: u64) -> (X, Y, Y, W) {
        let mut rng = Rng::new(seed);
        let mut x = X::zeros();
        conditioned_data(&mut x, 4.0, &mut rng).unwrap();
        let mut theta = W::zeros();
        let mut y = Y::zeros();
        linear_targets(&x, &mut theta, &mut y, 1.0, 1.0, &mut rng).unwrap();
        let mut labels = Y::zeros();
        one_hot_labels(&x, &mut theta, &mut labels, 1.0, 0.3, &mut rng).unwrap();
        (x, y, labels, theta)
    }
    fn dynamic(seed: u64) -> (DMatrix<f32>, DMatrix<f32>, DMatrix<f32>, DMatrix<f32>) {
        let mut rng = Rng::new(seed);
        let mut x = DMatrix::zeros(10, 3);
        conditioned_data(&mut x, 4.0, &mut rng).unwrap();
        let mut theta = DMatrix::zeros(3, 2);
        let mut y = DMatrix::zeros(10, 2);
        linear_targets(&x, &mut theta, &mut y, 1.0, 1.0, &mut rng).unwrap();
        let mut labels = DMatrix::zeros(10, 2);
        one_hot_labels(&x, &mut theta, &mut labels, 1.0, 0.3, &mut rng).unwrap();
        (x, y, labels, theta)
    }
    fn bits<L: Loss<f32, N, M>, N: overlin_core::nalgebra::Dim, M: overlin_core::nalgebra::Dim>(
        loss: &mut L,
        w: &OMatrix<f32, N, M>,
        g: &mut OMatrix<f32, N, M>,
    ) -> Vec<u32>
    where
        overlin_core::nalgebra::DefaultAllocator:
            overlin_core::nalgebra::allocator::Allocator<N, M>,
    {
        let e = loss.evaluate_with_gradient(w, g);
        let c = loss.constants();
        let mut v = vec![
            e.value.to_bits(),
            e.gap.to_bits(),
            c.mu.to_bits(),
            c.k.to_bits(),
            c.l_star.to_bits(),
        ];
        v.extend(loss.minimizer().iter().map(|x| x.to_bits()));
        v.extend(g.iter().map(|x| x.to_bits()));
        v
    }

    let (xf, yf, lf, tf) = fixed(90);
    let (xd, yd, ld, _) = dynamic(90);
    assert_eq!(xf.as_slice(), xd.as_slice());
    assert_eq!(yf.as_slice(), yd.as_slice());
    assert_eq!(lf.as_slice(), ld.as_slice());
    let wf = tf * 0.5;
    let wd = DMatrix::from_column_slice(3, 2, wf.as_slice());
    let mut gf = W::zeros();
    let mut gd = DMatrix::zeros(3, 2);

    let mut a = LogCoshRidge::new(xf, yf, 0.5f32).unwrap();
    let mut b = LogCoshRidge::new(xd.clone(), yd, 0.5f32).unwrap();
    assert_eq!(bits(&mut a, &wf, &mut gf), bits(&mut b, &wd, &mut gd));

    let mut a = SoftmaxRidge::new(xf, lf, 0.1f32).unwrap();
    let mut b = SoftmaxRidge::new(xd, ld, 0.1f32).unwrap();
    assert_eq!(bits(&mut a, &wf, &mut gf), bits(&mut b, &wd, &mut gd));

    let mut rng = Rng::new(91);
    let mut op = OMatrix::<f32, Const<8>, Const<6>>::zeros();
    sensing_operator(&mut op, &mut rng);
    let mut theta = W::zeros();
    let mut meas = OVector::<f32, Const<8>>::zeros();
    sensing_measurements(&op, &mut theta, &mut meas, 1.0, 0.1, &mut rng).unwrap();
    let opd = DMatrix::from_column_slice(8, 6, op.as_slice());
    let measd = DVector::from_column_slice(meas.as_slice());
    let mut a = MatrixSensing::new(Const::<3>, Const::<2>, op, meas).unwrap();
    let mut b = MatrixSensing::new(Dyn(3), Dyn(2), opd, measd).unwrap();
    assert_eq!(bits(&mut a, &wf, &mut gf), bits(&mut b, &wd, &mut gd));
}

/// f32 solves agree with f64 ones to the f32 precision of the problem.
#[test]
fn f32_minimizers_agree_with_f64() {
    let mut rng = Rng::new(95);
    let x = gaussian(20, 4, 1.0, &mut rng);
    let mut theta = DMatrix::zeros(4, 3);
    let mut y = DMatrix::zeros(20, 3);
    linear_targets(&x, &mut theta, &mut y, 1.0, 1.0, &mut rng).unwrap();
    let mut labels = DMatrix::zeros(20, 3);
    one_hot_labels(&x, &mut theta, &mut labels, 1.0, 0.3, &mut rng).unwrap();
    let x32 = x.map(|v| v as f32);
    let lc64 = LogCoshRidge::new(x.clone(), y.clone(), 0.5).unwrap();
    let lc32 = LogCoshRidge::new(x32.clone(), y.map(|v| v as f32), 0.5f32).unwrap();
    let sm64 = SoftmaxRidge::new(x, labels.clone(), 0.1).unwrap();
    let sm32 = SoftmaxRidge::new(x32, labels.map(|v| v as f32), 0.1f32).unwrap();
    for (name, w64, w32, c) in [
        (
            "logcosh",
            Loss::minimizer(&lc64).clone(),
            Loss::minimizer(&lc32).map(f64::from),
            *Loss::constants(&lc64),
        ),
        (
            "softmax",
            Loss::minimizer(&sm64).clone(),
            Loss::minimizer(&sm32).map(f64::from),
            *Loss::constants(&sm64),
        ),
    ] {
        // ‖δW*‖ ≲ κ · (rounding of the f32 gradient ~ few ε₃₂ K‖W*‖)/K.
        let rel = (&w64 - &w32).norm() / w64.norm();
        let kappa = c.k / c.mu;
        println!("{name}: f32 vs f64 W* relative difference {rel:.2e} (kappa {kappa:.1})");
        assert!(rel <= 16.0 * f32::EPSILON as f64 * kappa, "{name}: {rel:e}");
    }
}

#[test]
fn generators_have_the_documented_spectra() {
    let mut rng = Rng::new(100);
    // Orthogonal, N = n, scale 1: XᵀX = I.
    let mut x = DMatrix::<f64>::zeros(5, 5);
    orthogonal_data(&mut x, 1.0, &mut rng).unwrap();
    assert!((x.transpose() * &x - DMatrix::identity(5, 5)).amax() <= 1e-14);
    // Orthogonal, scale √N: XᵀX/N = I.
    let mut x = DMatrix::<f64>::zeros(9, 4);
    orthogonal_data(&mut x, 3.0, &mut rng).unwrap();
    assert!((x.transpose() * &x / 9.0 - DMatrix::identity(4, 4)).amax() <= 1e-14);
    // Conditioned: σ_max²/N = 1, σ_max/σ_min = κ, log-spaced.
    let mut x = DMatrix::<f64>::zeros(12, 4);
    conditioned_data(&mut x, 100.0, &mut rng).unwrap();
    let mut s: Vec<f64> = x
        .clone()
        .svd(false, false)
        .singular_values
        .iter()
        .copied()
        .collect();
    s.sort_by(|a, b| b.partial_cmp(a).unwrap());
    assert!((s[0] * s[0] / 12.0 - 1.0).abs() <= 1e-13);
    assert!((s[0] / s[3] - 100.0).abs() <= 1e-10);
    assert!((s[0] / s[1] - 100f64.powf(1.0 / 3.0)).abs() <= 1e-12);
    // Its squared loss has K = 1, μ = 1/κ².
    let y = gaussian(12, 2, 1.0, &mut rng);
    let sq = SquaredLoss::new(x, y).unwrap();
    let c = Loss::constants(&sq);
    assert!((c.k - 1.0).abs() <= 1e-13 && (c.mu * 1e4 - 1.0).abs() <= 1e-9);
    // Gaussian data: E[XᵀX/N] = I, so a tall draw is close to it.
    let mut x = DMatrix::<f64>::zeros(4000, 3);
    gaussian_data(&mut x, &mut rng);
    assert!((x.transpose() * &x / 4000.0 - DMatrix::identity(3, 3)).amax() <= 0.1);
}

#[test]
fn generators_are_deterministic_and_consistent() {
    let run = |seed| {
        let mut rng = Rng::new(seed);
        let mut x = DMatrix::<f64>::zeros(7, 3);
        gaussian_data(&mut x, &mut rng);
        let mut theta = DMatrix::zeros(3, 4);
        let mut y = DMatrix::zeros(7, 4);
        linear_targets(&x, &mut theta, &mut y, 2.0, 0.0, &mut rng).unwrap();
        (x, theta, y)
    };
    let (x, theta, y) = run(5);
    let (x2, theta2, y2) = run(5);
    assert_eq!((x.clone(), theta.clone(), y.clone()), (x2, theta2, y2));
    assert_ne!(run(6).0, x);
    assert!((&x * &theta - &y).amax() <= 1e-14);

    // One-hot labels: each row exactly one 1, at the argmax of XΘ (no noise).
    let mut rng = Rng::new(8);
    let mut theta = DMatrix::zeros(3, 4);
    let mut labels = DMatrix::zeros(7, 4);
    one_hot_labels(&x, &mut theta, &mut labels, 1.0, 0.0, &mut rng).unwrap();
    let scores = &x * &theta;
    for i in 0..7 {
        assert_eq!(labels.row(i).sum(), 1.0);
        assert!(labels.row(i).iter().all(|&v| v == 0.0 || v == 1.0));
        assert_eq!(
            labels.row(i).transpose().imax(),
            scores.row(i).transpose().imax()
        );
    }

    // Errors.
    let mut short = DMatrix::<f64>::zeros(3, 4);
    assert!(matches!(
        orthogonal_data(&mut short, 1.0, &mut rng),
        Err(ProblemError::RankDeficient { .. })
    ));
    assert!(matches!(
        conditioned_data(&mut short, 2.0, &mut rng),
        Err(ProblemError::RankDeficient { .. })
    ));
    let mut sq = DMatrix::<f64>::zeros(4, 4);
    assert!(matches!(
        conditioned_data(&mut sq, 0.5, &mut rng),
        Err(ProblemError::InvalidParameter { .. })
    ));
    assert!(matches!(
        orthogonal_data(&mut sq, -1.0, &mut rng),
        Err(ProblemError::InvalidParameter { .. })
    ));
    let mut wrong = DMatrix::zeros(6, 4);
    assert!(matches!(
        linear_targets(&x, &mut theta, &mut wrong, 1.0, 0.0, &mut rng),
        Err(ProblemError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        linear_targets(&x, &mut theta, &mut labels, f64::NAN, 0.0, &mut rng),
        Err(ProblemError::InvalidParameter { .. })
    ));
    let a = DMatrix::<f64>::zeros(8, 5);
    let mut t = DMatrix::zeros(2, 3);
    let mut meas = DVector::zeros(8);
    assert!(matches!(
        sensing_measurements(&a, &mut t, &mut meas, 1.0, 0.0, &mut rng),
        Err(ProblemError::ShapeMismatch { .. })
    ));
}

mod counting {
    //! A counting global allocator for this test binary: allocations made
    //! by this thread while armed are counted.
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    struct Counting;

    thread_local! {
        static ARMED: Cell<bool> = const { Cell::new(false) };
        static COUNT: Cell<usize> = const { Cell::new(0) };
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if ARMED.with(|a| a.get()) {
                COUNT.with(|c| c.set(c.get() + 1));
            }
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if ARMED.with(|a| a.get()) {
                COUNT.with(|c| c.set(c.get() + 1));
            }
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    pub fn allocations_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
        COUNT.with(|c| c.set(0));
        ARMED.with(|a| a.set(true));
        let r = f();
        ARMED.with(|a| a.set(false));
        (r, COUNT.with(|c| c.get()))
    }
}

/// `evaluate` and `evaluate_with_gradient` never allocate, with run-time
/// sizes (`Dyn`, the only path that could): every scratch buffer is made
/// by the constructor.
#[test]
fn evaluations_do_not_allocate() {
    fn check<L: Loss<f64, Dyn, Dyn>>(name: &str, mut loss: L) {
        let (n, m) = loss.minimizer().shape();
        let mut rng = Rng::new(120);
        let points: Vec<DMatrix<f64>> = (0..6)
            .map(|k| gaussian(n, m, [0.01, 1.0, 4.0][k % 3], &mut rng))
            .collect();
        let mut g = DMatrix::zeros(n, m);
        let (sum, allocs) = counting::allocations_during(|| {
            let mut s = 0.0;
            for w in &points {
                s += loss.evaluate(w).gap;
                s += loss.evaluate_with_gradient(w, &mut g).value;
            }
            s
        });
        assert!(sum.is_finite());
        assert_eq!(allocs, 0, "{name}: {allocs} allocations");
        // The counter sees allocations at all.
        let (_, seen) = counting::allocations_during(|| std::hint::black_box(vec![0u8; 32]));
        assert!(seen >= 1);
    }
    check("sensing", sensing(3, 4, 121));
    check("logcosh", logcosh(12, 3, 4, 0.3, 122));
    check("softmax", softmax(12, 3, 4, 0.05, 123));
}
