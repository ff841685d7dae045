//! Gradients of every loss of THEORY §9 against central finite differences
//! (THEORY §11), in f64, on random instances of the shapes `n < m`, `n = m`,
//! `n > m`; and the gradients `A = G W₂ᵀ`, `B = W₁ᵀ G` of
//! `L(W₁, W₂) = ℓ(W₁W₂)` (THEORY §1) against finite differences of `L`.
//!
//! Tolerance. With step `h`, the central difference
//! `(ℓ(W + hE) − ℓ(W − hE))/2h` differs from the directional derivative by
//! the truncation error `h² |∂³ℓ|/6` plus the rounding error
//! `≈ δ/h`, where `δ ≈ 4ε·(Σ|terms of ℓ|)` is the absolute error of one
//! evaluation (compensated sums; each term a few ulps). On the instances
//! below (entries of `X`, `W`, `𝒜` of order 1, `ℓ ≤ 50`, `|∂³ℓ| ≤ 10` along
//! a coordinate) with `h = 1e-5` (≈ ε^{1/3}), this is at most
//! `1e-10·10/6 + 4·2.2e-16·50/1e-5 ≈ 6e-9` per entry. The check
//! `max_ij |FD − ∇ℓ| ≤ 1e-7·(1 + max_ij |∇ℓ|)` leaves a margin of more than
//! ten over that estimate, while any real mistake (a lost factor, sign,
//! transpose or term such as the ridge `λW`) changes entries by `O(|∇ℓ|)`,
//! about 1e-2 or more here; each test also checks that the gradient is not
//! small, so the comparison is meaningful.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

use overlin_core::data::{linear_targets, one_hot_labels, sensing_measurements, sensing_operator};
use overlin_core::nalgebra::{DMatrix, DVector, Dyn};
use overlin_core::*;

const H: f64 = 1e-5;
const REL_TOL: f64 = 1e-7;

/// The shapes (N, n, m): n < m, n = m, n > m.
const SHAPES: [(usize, usize, usize); 3] = [(11, 2, 5), (12, 4, 4), (16, 6, 3)];

fn squared(samples: usize, n: usize, m: usize, seed: u64) -> SquaredLoss<f64, Dyn, Dyn, Dyn> {
    let mut rng = Rng::new(seed);
    let mut x = DMatrix::<f64>::zeros(samples, n);
    rng.fill_gaussian(&mut x, 1.0);
    let mut theta = DMatrix::<f64>::zeros(n, m);
    let mut y = DMatrix::<f64>::zeros(samples, m);
    linear_targets(&x, &mut theta, &mut y, 1.0, 0.5, &mut rng).unwrap();
    SquaredLoss::new(x, y).unwrap()
}

fn sensing(n: usize, m: usize, seed: u64) -> MatrixSensing<f64, Dyn, Dyn, Dyn, Dyn> {
    let mut rng = Rng::new(seed);
    let p = n * m + 3;
    let mut a = DMatrix::<f64>::zeros(p, n * m);
    sensing_operator(&mut a, &mut rng);
    let mut theta = DMatrix::<f64>::zeros(n, m);
    let mut y = DVector::<f64>::zeros(p);
    sensing_measurements(&a, &mut theta, &mut y, 1.0, 0.5, &mut rng).unwrap();
    MatrixSensing::new(Dyn(n), Dyn(m), a, y).unwrap()
}

fn logcosh(samples: usize, n: usize, m: usize, seed: u64) -> LogCoshRidge<f64, Dyn, Dyn, Dyn> {
    let mut rng = Rng::new(seed);
    let mut x = DMatrix::<f64>::zeros(samples, n);
    rng.fill_gaussian(&mut x, 1.0);
    let mut theta = DMatrix::<f64>::zeros(n, m);
    let mut y = DMatrix::<f64>::zeros(samples, m);
    // Noise 2 puts residuals in both regimes of log cosh (|r| < 1, |r| > 2).
    linear_targets(&x, &mut theta, &mut y, 1.0, 2.0, &mut rng).unwrap();
    LogCoshRidge::new(x, y, 0.3).unwrap()
}

fn softmax(samples: usize, n: usize, m: usize, seed: u64) -> SoftmaxRidge<f64, Dyn, Dyn, Dyn> {
    let mut rng = Rng::new(seed);
    let mut x = DMatrix::<f64>::zeros(samples, n);
    rng.fill_gaussian(&mut x, 1.0);
    let mut theta = DMatrix::<f64>::zeros(n, m);
    let mut y = DMatrix::<f64>::zeros(samples, m);
    one_hot_labels(&x, &mut theta, &mut y, 1.0, 0.5, &mut rng).unwrap();
    SoftmaxRidge::new(x, y, 0.1).unwrap()
}

/// Largest entrywise error of the central differences of `ℓ` against the
/// gradient at `w`, relative to `1 + max |∇ℓ|`; also returns `max |∇ℓ|`.
fn fd_error<L: Loss<f64, Dyn, Dyn>>(loss: &mut L, w: &DMatrix<f64>) -> (f64, f64) {
    let mut g = DMatrix::<f64>::zeros(w.nrows(), w.ncols());
    loss.evaluate_with_gradient(w, &mut g);
    let gmax = g.amax();
    let mut worst: f64 = 0.0;
    for idx in 0..w.len() {
        let mut wp = w.clone();
        wp[idx] += H;
        let mut wm = w.clone();
        wm[idx] -= H;
        let fd = (loss.evaluate(&wp).value - loss.evaluate(&wm).value) / (2.0 * H);
        worst = worst.max((fd - g[idx]).abs());
    }
    (worst / (1.0 + gmax), gmax)
}

fn check_all_points<L: Loss<f64, Dyn, Dyn>>(name: &str, loss: &mut L, seed: u64) {
    let (n, m) = loss.minimizer().shape();
    let mut rng = Rng::new(seed);
    for scale in [0.3, 1.0, 2.0] {
        let mut w = DMatrix::<f64>::zeros(n, m);
        rng.fill_gaussian(&mut w, scale);
        let (err, gmax) = fd_error(loss, &w);
        println!("{name} n={n} m={m} scale={scale}: max|grad|={gmax:.3e} rel FD error={err:.2e}");
        assert!(
            gmax > 1e-2,
            "{name}: gradient too small for a meaningful check"
        );
        assert!(err <= REL_TOL, "{name} n={n} m={m}: FD error {err:e}");
    }
}

#[test]
fn squared_gradient_matches_finite_differences() {
    for (i, &(samples, n, m)) in SHAPES.iter().enumerate() {
        check_all_points("squared", &mut squared(samples, n, m, 10 + i as u64), 100);
    }
}

#[test]
fn sensing_gradient_matches_finite_differences() {
    for (i, &(_, n, m)) in SHAPES.iter().enumerate() {
        check_all_points("sensing", &mut sensing(n, m, 20 + i as u64), 200);
    }
}

#[test]
fn logcosh_gradient_matches_finite_differences() {
    for (i, &(samples, n, m)) in SHAPES.iter().enumerate() {
        check_all_points("logcosh", &mut logcosh(samples, n, m, 30 + i as u64), 300);
    }
}

#[test]
fn softmax_gradient_matches_finite_differences() {
    for (i, &(samples, n, m)) in SHAPES.iter().enumerate() {
        check_all_points("softmax", &mut softmax(samples, n, m, 40 + i as u64), 400);
    }
    // Two classes, the case where the bound K of THEORY §9.4 is tight.
    check_all_points("softmax m=2", &mut softmax(9, 3, 2, 44), 404);
}

/// `∇_{W₁}L = G W₂ᵀ`, `∇_{W₂}L = W₁ᵀ G` with `G = ∇ℓ(W₁W₂)` (THEORY §1),
/// against central differences of `L(W₁, W₂) = ℓ(W₁W₂)` in every entry of
/// `W₁` and `W₂`, for the (non-quadratic) log-cosh and softmax losses.
#[test]
fn two_layer_gradients_match_finite_differences() {
    fn check<L: Loss<f64, Dyn, Dyn>>(name: &str, loss: &mut L, h: usize, seed: u64) {
        let (n, m) = loss.minimizer().shape();
        let mut rng = Rng::new(seed);
        let mut w1 = DMatrix::<f64>::zeros(n, h);
        let mut w2 = DMatrix::<f64>::zeros(h, m);
        rng.fill_gaussian(&mut w1, 0.6);
        rng.fill_gaussian(&mut w2, 0.6);
        let mut g = DMatrix::<f64>::zeros(n, m);
        loss.evaluate_with_gradient(&(&w1 * &w2), &mut g);
        let a = &g * w2.transpose();
        let b = w1.transpose() * &g;
        let gmax = a.amax().max(b.amax());
        assert!(
            gmax > 1e-2,
            "{name}: gradient too small for a meaningful check"
        );
        let mut worst: f64 = 0.0;
        for idx in 0..w1.len() {
            let (mut p, mut q) = (w1.clone(), w1.clone());
            p[idx] += H;
            q[idx] -= H;
            let fd =
                (loss.evaluate(&(&p * &w2)).value - loss.evaluate(&(&q * &w2)).value) / (2.0 * H);
            worst = worst.max((fd - a[idx]).abs());
        }
        for idx in 0..w2.len() {
            let (mut p, mut q) = (w2.clone(), w2.clone());
            p[idx] += H;
            q[idx] -= H;
            let fd =
                (loss.evaluate(&(&w1 * &p)).value - loss.evaluate(&(&w1 * &q)).value) / (2.0 * H);
            worst = worst.max((fd - b[idx]).abs());
        }
        let err = worst / (1.0 + gmax);
        println!("{name} two-layer n={n} h={h} m={m}: max|grad|={gmax:.3e} rel FD error={err:.2e}");
        assert!(err <= REL_TOL, "{name}: two-layer FD error {err:e}");
    }
    check("logcosh", &mut logcosh(11, 2, 5, 50), 6, 500);
    check("logcosh", &mut logcosh(16, 6, 3, 51), 7, 501);
    check("softmax", &mut softmax(12, 4, 4, 52), 5, 502);
}
