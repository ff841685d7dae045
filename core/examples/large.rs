//! Where setup and a certified step spend their time at user sizes:
//! `cargo run --release -p overlin-core --example large -- n m h N steps`
//! prints the wall time of the loss set-up (`μ, K, W*`), of the trainer's
//! set-up (start, imbalance spectrum, a-priori certificate) and per step.
//! Profile it with `perf record` for the breakdown by kernel.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../benches/common/mod.rs"]
mod common;

use std::time::Instant;

use common::{endless, problem};
use overlin_core::nalgebra::DMatrix;
use overlin_core::{SquaredLoss, StepRule, Trainer, TrainerConfig, TwoLayer};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .take(5)
        .map(|a| a.parse().expect("n m h N steps"))
        .collect();
    let [n, m, h, samples, steps] = args[..] else {
        panic!("usage: large n m h N steps");
    };
    if let Some(cap) = std::env::var("OVERLIN_SIMD_CAP")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        overlin_core::kernels::simd::cap_level(cap);
    }
    let p = problem(n, m, h, samples, 2025);
    let x = DMatrix::from_column_slice(samples, n, &p.x);
    let y = DMatrix::from_column_slice(samples, m, &p.y);
    let w1 = DMatrix::from_column_slice(n, h, &p.w1);
    let w2 = DMatrix::from_column_slice(h, m, &p.w2);
    let t0 = Instant::now();
    let loss = SquaredLoss::new(x, y).unwrap();
    let t1 = Instant::now();
    let cfg = TrainerConfig {
        max_iters: steps,
        ..endless::<f64>(true)
    };
    let mut tr = Trainer::new(TwoLayer::new(w1, w2).unwrap(), loss, StepRule::Local, cfg).unwrap();
    let t2 = Instant::now();
    let mut last = f64::NAN;
    let mut worst = 0.0f64;
    while let Some(r) = tr.step() {
        last = r.next_loss;
        worst = worst.max(r.check.ratio);
    }
    let t3 = Instant::now();
    let s = tr.summary();
    println!(
        "(N,n,m,h)=({samples},{n},{m},{h}) loss setup {:.3} s, trainer setup {:.3} s, {} steps {:.4} s/step, final loss {last:.6e}, violations {}",
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        s.iterations,
        (t3 - t2).as_secs_f64() / s.iterations.max(1) as f64,
        s.tally.violations
    );
}
