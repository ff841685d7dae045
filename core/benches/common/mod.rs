//! The benchmark problems, shared by the criterion benches
//! (`core/benches/step.rs`) and the NumPy comparison driver
//! (`core/examples/gd_compare.rs`): squared regression (THEORY §9.1) with
//! Gaussian data and a Gaussian start, generated in `f64` from a seed and
//! rounded to the working precision.
#![allow(dead_code)]

use overlin_core::nalgebra::{Const, DMatrix, Dyn, OMatrix};
use overlin_core::{
    DynNet, Init, Real, Rng, SquaredLoss, StepRule, Tolerance, Trainer, TrainerConfig, TwoLayer,
};

/// The sizes `(n, m, h, N)` of issue 5.
pub const SIZES: [(usize, usize, usize, usize); 4] = [
    (4, 4, 16, 8),
    (20, 20, 1000, 20),
    (20, 1, 500, 20),
    (64, 64, 4096, 128),
];

/// One problem: column-major `f64` data and start.
#[derive(Clone, Debug)]
pub struct Problem {
    pub n: usize,
    pub m: usize,
    pub h: usize,
    pub samples: usize,
    /// `X`, N×n.
    pub x: Vec<f64>,
    /// `Y = XΘ + 0.1 E`, N×m.
    pub y: Vec<f64>,
    /// `W₁(0)`, n×h.
    pub w1: Vec<f64>,
    /// `W₂(0)`, h×m.
    pub w2: Vec<f64>,
}

/// Seeded problem of size `(n, m, h, N)`: `X, Θ, E` standard Gaussian,
/// `Y = XΘ + 0.1E`, start `Init::Gaussian { sigma: 1, std: 1/√h }`.
pub fn problem(n: usize, m: usize, h: usize, samples: usize, seed: u64) -> Problem {
    let mut rng = Rng::new(seed);
    let mut x = DMatrix::<f64>::zeros(samples, n);
    rng.fill_gaussian(&mut x, 1.0);
    let mut theta = DMatrix::<f64>::zeros(n, m);
    rng.fill_gaussian(&mut theta, 1.0);
    let mut e = DMatrix::<f64>::zeros(samples, m);
    rng.fill_gaussian(&mut e, 0.1);
    let mut y = e.clone();
    for j in 0..m {
        for i in 0..samples {
            let mut s = 0.0;
            for k in 0..n {
                s += x[(i, k)] * theta[(k, j)];
            }
            y[(i, j)] += s;
        }
    }
    let net: DynNet<f64> = Init::Gaussian {
        sigma: 1.0,
        std: 1.0 / (h as f64).sqrt(),
    }
    .sample(Dyn(n), Dyn(h), Dyn(m), &mut rng)
    .unwrap();
    Problem {
        n,
        m,
        h,
        samples,
        x: x.as_slice().to_vec(),
        y: y.as_slice().to_vec(),
        w1: net.w1.as_slice().to_vec(),
        w2: net.w2.as_slice().to_vec(),
    }
}

fn conv<T: Real>(v: &[f64]) -> impl Iterator<Item = T> + '_ {
    v.iter().map(|&x| T::of(x))
}

/// A run that never stops by itself: no tolerance reached, no stall stop.
pub fn endless<T: Real>(certify: bool) -> TrainerConfig<T> {
    TrainerConfig {
        max_iters: usize::MAX,
        tol: Tolerance::Absolute(T::MIN_POSITIVE),
        certify,
        imbalance_every: 0,
        stall_window: 0,
        anytime_every: 0,
    }
}

pub type DynTrainer<T> = Trainer<T, Dyn, Dyn, Dyn, SquaredLoss<T, Dyn, Dyn, Dyn>>;

/// The problem as a run-time-size trainer.
pub fn dyn_trainer<T: Real>(
    p: &Problem,
    rule: StepRule<T>,
    cfg: TrainerConfig<T>,
) -> DynTrainer<T> {
    let x = DMatrix::from_iterator(p.samples, p.n, conv::<T>(&p.x));
    let y = DMatrix::from_iterator(p.samples, p.m, conv::<T>(&p.y));
    let w1 = DMatrix::from_iterator(p.n, p.h, conv::<T>(&p.w1));
    let w2 = DMatrix::from_iterator(p.h, p.m, conv::<T>(&p.w2));
    let loss = SquaredLoss::new(x, y).unwrap();
    Trainer::new(TwoLayer::new(w1, w2).unwrap(), loss, rule, cfg).unwrap()
}

/// The fixed-size trainer of the microcontroller size `(4, 4, 16, 8)`.
pub type SmallFixedTrainer<T> =
    Trainer<T, Const<4>, Const<16>, Const<4>, SquaredLoss<T, Const<8>, Const<4>, Const<4>>>;

/// The problem as a fixed-size trainer (stack storage), `(4, 4, 16, 8)` only.
pub fn fixed_trainer<T: Real>(
    p: &Problem,
    rule: StepRule<T>,
    cfg: TrainerConfig<T>,
) -> SmallFixedTrainer<T> {
    assert_eq!((p.n, p.m, p.h, p.samples), (4, 4, 16, 8));
    let x = OMatrix::<T, Const<8>, Const<4>>::from_iterator(conv::<T>(&p.x));
    let y = OMatrix::<T, Const<8>, Const<4>>::from_iterator(conv::<T>(&p.y));
    let w1 = OMatrix::<T, Const<4>, Const<16>>::from_iterator(conv::<T>(&p.w1));
    let w2 = OMatrix::<T, Const<16>, Const<4>>::from_iterator(conv::<T>(&p.w2));
    let loss = SquaredLoss::new(x, y).unwrap();
    Trainer::new(TwoLayer::new(w1, w2).unwrap(), loss, rule, cfg).unwrap()
}

/// A constant step safely inside the stable range at the start: half the
/// Local rule's first step (THEORY §6.2).
pub fn safe_constant<T: Real>(p: &Problem) -> StepRule<T> {
    let mut tr = dyn_trainer::<T>(p, StepRule::Local, endless(true));
    let rec = tr.step().unwrap();
    StepRule::Constant(rec.eta * T::of(0.5))
}

/// Floating-point operations of one step (multiply and add counted
/// separately), for the fraction-of-peak figures:
/// `(plain, certificate extra)`.
///
/// plain: `P = W₁W₂` (2nhm), `A = GW₂ᵀ` and `B = W₁ᵀG` (4nhm), the two
/// updates (4h(n+m)), `g²` (2h(n+m)), the loss and its gradient
/// (`XP`, `Xᵀ R`: 4Nnm, residual sums 4Nm).
/// certificate: the Grams `W₁W₁ᵀ`, `W₂ᵀW₂`, `GᵀG` (2n²h + 2m²h + 2nm²) as
/// the textbook method forms them; the eigen-solves are not counted.
pub fn step_flops(n: usize, m: usize, h: usize, samples: usize) -> (f64, f64) {
    let (n, m, h, s) = (n as f64, m as f64, h as f64, samples as f64);
    let plain = 6.0 * n * h * m + 6.0 * h * (n + m) + 4.0 * s * n * m + 4.0 * s * m;
    let cert = 2.0 * n * n * h + 2.0 * m * m * h + 2.0 * n * m * m;
    (plain, cert)
}
