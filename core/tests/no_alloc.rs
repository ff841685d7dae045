#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! No allocation inside the iteration loop (issue 2): a counting global
//! allocator records every allocation this thread makes while a flag is
//! set; the flag is set only around `Trainer::step` calls, after the
//! trainer (and its workspaces) were built with run-time sizes (`Dyn`, the
//! only path that can allocate at all).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use overlin_core::nalgebra::{DMatrix, DVector, Dyn};
use overlin_core::*;

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

fn allocations_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (r, COUNT.with(|c| c.get()))
}

/// The counter works: an allocation while armed is seen.
#[test]
fn counter_sees_allocations() {
    let (_, n) = allocations_during(|| std::hint::black_box(vec![1u8; 64]));
    assert!(n >= 1);
}

fn squared_problem(
    n: usize,
    h: usize,
    m: usize,
    samples: usize,
) -> (DynNet<f64>, SquaredLoss<f64, Dyn, Dyn, Dyn>) {
    let mut rng = Rng::new(11);
    let mut x = DMatrix::<f64>::zeros(samples, n);
    rng.fill_gaussian(&mut x, 1.0);
    let mut theta = DMatrix::<f64>::zeros(n, m);
    rng.fill_gaussian(&mut theta, 1.0);
    let y = &x * &theta;
    let loss = SquaredLoss::new(x, y).unwrap();
    let net = Init::Gaussian {
        sigma: 3.0,
        std: 0.3,
    }
    .sample(Dyn(n), Dyn(h), Dyn(m), &mut rng)
    .unwrap();
    (net, loss)
}

fn assert_steps_do_not_allocate<L: Loss<f64, Dyn, Dyn>>(
    net: DynNet<f64>,
    loss: L,
    rule: StepRule<f64>,
) {
    let cfg = TrainerConfig {
        max_iters: 60,
        imbalance_every: 7,
        // The certificate from the current iterate (THEORY §8.2) is part
        // of the step when asked for: it must not allocate either.
        anytime_every: 3,
        ..Default::default()
    };
    let mut tr = Trainer::new(net, loss, rule, cfg).unwrap();
    let mut history = History::<f64, 16>::default();
    let (steps, allocs) = allocations_during(|| {
        let mut k = 0;
        while let Some(r) = tr.step() {
            history.observe(&r);
            k += 1;
        }
        k
    });
    assert!(
        steps > 5,
        "{rule:?} took only {steps} steps ({:?})",
        tr.status()
    );
    assert_eq!(allocs, 0, "{rule:?}: {allocs} allocations in {steps} steps");
}

#[test]
fn squared_loss_steps_do_not_allocate_for_every_rule() {
    for rule in [
        StepRule::Local,
        StepRule::Constant(0.01),
        StepRule::RateOptimal,
        StepRule::xu2023(),
        StepRule::armijo(),
        StepRule::Du2018,
    ] {
        let (net, loss) = squared_problem(5, 30, 4, 12);
        assert_steps_do_not_allocate(net, loss, rule);
    }
}

#[test]
fn every_loss_steps_do_not_allocate() {
    let (n, h, m, s) = (4, 24, 3, 30);
    let mut rng = Rng::new(5);
    let mut x = DMatrix::<f64>::zeros(s, n);
    data::gaussian_data(&mut x, &mut rng);
    let mut theta = DMatrix::<f64>::zeros(n, m);
    let mut y = DMatrix::<f64>::zeros(s, m);
    data::linear_targets(&x, &mut theta, &mut y, 1.0, 0.5, &mut rng).unwrap();
    let start = |rng: &mut Rng| {
        Init::Gaussian {
            sigma: 2.0,
            std: 0.3,
        }
        .sample(Dyn(n), Dyn(h), Dyn(m), rng)
        .unwrap()
    };
    for rule in [StepRule::Local, StepRule::RateOptimal, StepRule::armijo()] {
        let lc = LogCoshRidge::new(x.clone(), y.clone(), 0.1).unwrap();
        assert_steps_do_not_allocate(start(&mut rng), lc, rule);
        let mut labels = DMatrix::<f64>::zeros(s, m);
        data::one_hot_labels(&x, &mut theta, &mut labels, 1.0, 0.1, &mut rng).unwrap();
        let sm = SoftmaxRidge::new(x.clone(), labels, 0.05).unwrap();
        assert_steps_do_not_allocate(start(&mut rng), sm, rule);
        let mut a = DMatrix::<f64>::zeros(n * m + 5, n * m);
        data::sensing_operator(&mut a, &mut rng);
        let mut yv = DVector::<f64>::zeros(n * m + 5);
        data::sensing_measurements(&a, &mut theta, &mut yv, 1.0, 0.1, &mut rng).unwrap();
        let se = MatrixSensing::new(Dyn(n), Dyn(m), a, yv).unwrap();
        assert_steps_do_not_allocate(start(&mut rng), se, rule);
    }
}

/// The deep step (THEORY §13) with run-time sizes and depth (`Dyn`, a
/// vector of middle layers): forward products, loss and gradient, every
/// Δ_j, the local constants and Q, both step rules, the certificate, a
/// line-search trial, the update and the imbalance check make no
/// allocation once the buffers exist.
#[cfg(feature = "alloc")]
#[test]
fn deep_steps_do_not_allocate() {
    use overlin_core::deep::{DeepInit, DeepWork, DynDeep, Heap};
    let (n, h, m, s) = (4, 12, 3, 30);
    let mut rng = Rng::new(9);
    let mut x = DMatrix::<f64>::zeros(s, n);
    data::gaussian_data(&mut x, &mut rng);
    let mut theta = DMatrix::<f64>::zeros(n, m);
    let mut y = DMatrix::<f64>::zeros(s, m);
    data::linear_targets(&x, &mut theta, &mut y, 1.0, 0.1, &mut rng).unwrap();
    let mut loss = SquaredLoss::new(x, y).unwrap();
    let c = *loss.constants();
    for depth in [2, 3, 5] {
        let mut net: DynDeep<f64> = DeepInit::Gaussian {
            sigma: 1.0,
            std: 0.5,
        }
        .sample::<f64, Dyn, Dyn, Dyn, Heap>((Dyn(n), Dyn(h), Dyn(m)), depth, &mut rng)
        .unwrap();
        let mut w = DeepWork::new(&net).unwrap();
        w.imbalance(&net, false);
        let (steps, allocs) = allocations_during(|| {
            let mut gaps = 0.0;
            for t in 0..40 {
                w.forward(&net);
                let e = w.evaluate(&mut loss);
                w.gradients(&net);
                w.constants(&net);
                let eta = if t % 2 == 0 {
                    w.local_step(c.k).unwrap()
                } else {
                    w.rate_optimal_step(c.k).unwrap()
                };
                let cert = w.certificate(c.mu, c.k, e.gap, eta);
                gaps += cert.rho;
                w.trial_product(&net, eta);
                gaps += loss.evaluate(&w.product).gap;
                w.record_drift(eta);
                w.apply(&mut net, eta);
                if t % 5 == 4 {
                    w.imbalance(&net, true);
                }
            }
            gaps
        });
        assert!(steps.is_finite());
        assert_eq!(allocs, 0, "depth {depth}: {allocs} allocations in 40 steps");
    }
}

/// The generic trainer over a deep network (`Dyn` sizes, depth 4, a vector
/// of middle layers): no allocation in any step, for every rule defined at
/// depth, with the imbalance of every pair checked every 7 steps.
#[cfg(feature = "alloc")]
#[test]
fn deep_trainer_steps_do_not_allocate() {
    use overlin_core::deep::{DeepInit, DynDeep, Heap};
    let (n, h, m) = (4, 12, 3);
    for rule in [
        StepRule::Local,
        StepRule::RateOptimal,
        StepRule::armijo(),
        StepRule::Constant(1e-3),
    ] {
        let (_, loss) = squared_problem(n, h, m, 20);
        let mut rng = Rng::new(3);
        let net: DynDeep<f64> = DeepInit::Gaussian {
            sigma: 0.5,
            std: 0.4,
        }
        .sample::<f64, Dyn, Dyn, Dyn, Heap>((Dyn(n), Dyn(h), Dyn(m)), 4, &mut rng)
        .unwrap();
        let cfg = TrainerConfig {
            max_iters: 60,
            imbalance_every: 7,
            ..Default::default()
        };
        let mut tr = Trainer::new(net, loss, rule, cfg).unwrap();
        let (steps, allocs) = allocations_during(|| {
            let mut k = 0;
            while tr.step().is_some() {
                k += 1;
            }
            k
        });
        assert!(steps > 5, "{rule:?}: {steps} steps ({:?})", tr.status());
        assert_eq!(allocs, 0, "{rule:?}: {allocs} allocations in {steps} steps");
    }
}
