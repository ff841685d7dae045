//! Criterion benchmarks of issue 5: one plain GD step (Constant rule,
//! certificate off), one certified step (Local rule, certificate on), the
//! imbalance spectrum (thin QR of THEORY §2 against a dense h×h symmetric
//! eigen-decomposition) and whole runs, at the four sizes `(n, m, h, N)` of
//! `common::SIZES`, in `f32` and `f64`, run-time sizes (`Dyn`) everywhere
//! and fixed sizes (`Const`) at `(4, 4, 16, 8)`.
//!
//! Fixed sizes only at the microcontroller size: a fixed-size trainer keeps
//! every buffer on the stack (about 1.5 MB at `(20, 20, 1000, 20)` and far
//! beyond the 8 MB main stack at `(64, 64, 4096, 128)`, where `n + m = 128`
//! also exceeds typenum's 127 for the stacked dimension), and the kernels
//! are the same slice code for both, so the larger fixed sizes add compile
//! time and no information.
//!
//! `cargo bench -p overlin-core --bench step` (a few minutes); a filter
//! such as `-- certified_step/f64` selects a part.
// A measurement program, not core code: panicking on a broken set-up is fine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{dyn_trainer, endless, fixed_trainer, problem, safe_constant, Problem, SIZES};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use overlin_core::nalgebra::{DMatrix, Dyn, SymmetricEigen};
use overlin_core::{
    imbalance_spectrum, ImbalanceWorkspace, Real, StepRule, Tolerance, TrainerConfig,
};

fn label(p: &Problem) -> String {
    format!("{}x{}x{}x{}", p.n, p.m, p.h, p.samples)
}

fn problems() -> Vec<Problem> {
    SIZES
        .iter()
        .map(|&(n, m, h, s)| problem(n, m, h, s, 2025))
        .collect()
}

/// Steps a timed run takes from the start before it starts over (untimed)
/// from a fresh clone: every timed step is one of a run that is still
/// making progress. The certified step starts its eigenvalue iteration from
/// the previous step's extremes, which converges faster once the iterate
/// stops moving, so steps taken after convergence would flatter it (at
/// (4, 4, 16, 8) the gap reaches the rounding floor near step 600).
const HORIZON: u64 = 256;

/// Times `iters` steps of a trainer that never stops by itself, in runs of
/// at most [`HORIZON`] consecutive steps from the start (a fresh clone
/// replaces it, untimed, after each run or if the run ever ends).
macro_rules! time_steps {
    ($fresh:expr, $iters:expr) => {{
        let fresh = $fresh;
        let mut total = Duration::ZERO;
        let mut left: u64 = $iters;
        while left > 0 {
            let mut tr = fresh.clone();
            let mut taken = 0;
            let start = Instant::now();
            while taken < left.min(HORIZON) && black_box(tr.step()).is_some() {
                taken += 1;
            }
            total += start.elapsed();
            assert!(taken > 0, "the benchmark trainer stopped at its first step");
            left -= taken;
        }
        total
    }};
}

fn steps_for<T: Real>(c: &mut Criterion, ty: &str, certified: bool) {
    let name = if certified {
        format!("certified_step/{ty}")
    } else {
        format!("plain_step/{ty}")
    };
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(20);
    for p in problems() {
        let rule = if certified {
            StepRule::Local
        } else {
            safe_constant::<T>(&p)
        };
        let cfg = endless::<T>(certified);
        let tr = dyn_trainer::<T>(&p, rule, cfg);
        g.bench_function(BenchmarkId::new("dyn", label(&p)), |b| {
            b.iter_custom(|iters| time_steps!(&tr, iters))
        });
        if (p.n, p.m, p.h, p.samples) == (4, 4, 16, 8) {
            let tr = fixed_trainer::<T>(&p, rule, cfg);
            g.bench_function(BenchmarkId::new("fixed", label(&p)), |b| {
                b.iter_custom(|iters| time_steps!(&tr, iters))
            });
        }
    }
    g.finish();
}

fn imbalance_for<T: Real>(c: &mut Criterion, ty: &str) {
    let mut g = c.benchmark_group(format!("imbalance/{ty}"));
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(10);
    for p in problems() {
        let tr = dyn_trainer::<T>(&p, StepRule::Local, endless(true));
        let net = tr.net().clone();
        let mut ws = ImbalanceWorkspace::new(Dyn(p.n), Dyn(p.h), Dyn(p.m));
        g.bench_function(BenchmarkId::new("thin_qr", label(&p)), |b| {
            b.iter(|| imbalance_spectrum(black_box(&net), &mut ws))
        });
        // The dense h×h eigen-decomposition is O(h³): about 10 s a call at
        // h = 4096, so it is measured up to h = 1000 only.
        if p.h <= 1000 {
            g.bench_function(BenchmarkId::new("dense_eigen", label(&p)), |b| {
                b.iter(|| {
                    let d: DMatrix<T> = net.w1.transpose() * &net.w1 - &net.w2 * net.w2.transpose();
                    SymmetricEigen::new(black_box(d)).eigenvalues
                })
            });
        }
    }
    g.finish();
}

/// A whole run: `Trainer::new` (start evaluation, imbalance spectrum,
/// a-priori certificate) and 100 certified Local steps with the imbalance
/// checked every 10 steps.
fn runs_for<T: Real>(c: &mut Criterion, ty: &str) {
    let mut g = c.benchmark_group(format!("run100/{ty}"));
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(2000))
        .sample_size(10);
    for p in problems() {
        let cfg = TrainerConfig {
            max_iters: 100,
            tol: Tolerance::Absolute(T::MIN_POSITIVE),
            certify: true,
            imbalance_every: 10,
            stall_window: 0,
            anytime_every: 0,
        };
        g.bench_function(BenchmarkId::new("dyn", label(&p)), |b| {
            b.iter(|| {
                let mut tr = dyn_trainer::<T>(&p, StepRule::Local, cfg);
                tr.run(&mut ())
            })
        });
        if (p.n, p.m, p.h, p.samples) == (4, 4, 16, 8) {
            g.bench_function(BenchmarkId::new("fixed", label(&p)), |b| {
                b.iter(|| {
                    let mut tr = fixed_trainer::<T>(&p, StepRule::Local, cfg);
                    tr.run(&mut ())
                })
            });
        }
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    steps_for::<f64>(c, "f64", false);
    steps_for::<f64>(c, "f64", true);
    steps_for::<f32>(c, "f32", false);
    steps_for::<f32>(c, "f32", true);
    imbalance_for::<f64>(c, "f64");
    imbalance_for::<f32>(c, "f32");
    runs_for::<f64>(c, "f64");
    runs_for::<f32>(c, "f32");
}

criterion_group!(step, benches);
criterion_main!(step);
