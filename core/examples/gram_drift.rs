//! Rounding drift of the Gram matrices carried across steps (gd.rs,
//! `GramState`, re-formed every `GRAM_REFRESH` steps): over a certified run
//! at two benchmark sizes, in `f32` and `f64`, the largest difference
//! between `α_t, β_t` from the carried Grams and from Grams formed afresh
//! from the iterate, relative to `β_t`; beside it, the error of forming the
//! Grams at all (formed in `T` against formed in `f64` from the same
//! iterate). `cargo run --release -p overlin-core --example gram_drift`
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

#[path = "../benches/common/mod.rs"]
mod common;

use common::{dyn_trainer, endless, problem};
use overlin_core::gd::GRAM_REFRESH;
use overlin_core::{kernels, Real, StepRule, TrainerConfig};

fn extremes<T: Real>(w1: &[T], w2: &[T], n: usize, h: usize, m: usize) -> (f64, f64) {
    let mut g1 = vec![T::zero(); n * n];
    kernels::mm_nt(&mut g1, w1, w1, n, h);
    let mut g2 = vec![T::zero(); m * m];
    kernels::mm_tn(&mut g2, w2, w2, m, h);
    let mut work = vec![T::zero(); n.max(m)];
    let (a1, b1) = kernels::sym_extremes(&mut g1, n, &mut work, true);
    let (a2, b2) = kernels::sym_extremes(&mut g2, m, &mut work, true);
    let p = |x: T| x.to_f64().max(0.0);
    (p(a1) + p(a2), p(b1) + p(b2))
}

fn run<T: Real>(name: &str, size: (usize, usize, usize, usize), steps: usize) {
    let (n, m, h, s) = size;
    let p = problem(n, m, h, s, 2025);
    let cfg = TrainerConfig {
        max_iters: steps,
        ..endless::<T>(true)
    };
    let mut tr = dyn_trainer::<T>(&p, StepRule::Local, cfg);
    let (mut drift, mut forming) = (0.0f64, 0.0f64);
    loop {
        let net = tr.net().clone();
        let (w1, w2) = (net.w1.as_slice(), net.w2.as_slice());
        let fresh = extremes(w1, w2, n, h, m);
        let w1_64: Vec<f64> = w1.iter().map(|x| x.to_f64()).collect();
        let w2_64: Vec<f64> = w2.iter().map(|x| x.to_f64()).collect();
        let exact = extremes(&w1_64, &w2_64, n, h, m);
        let Some(rec) = tr.step() else { break };
        let l = rec.cert.local;
        let beta = fresh.1;
        let d = (l.alpha.to_f64() - fresh.0)
            .abs()
            .max((l.beta.to_f64() - fresh.1).abs());
        drift = drift.max(d / beta);
        let f = (fresh.0 - exact.0).abs().max((fresh.1 - exact.1).abs());
        forming = forming.max(f / beta);
    }
    println!(
        "{name} (n,m,h,N)=({n},{m},{h},{s}), {steps} steps, refresh every {GRAM_REFRESH}: \
         carried vs fresh {drift:.1e} beta; fresh in {name} vs f64 {forming:.1e} beta; eps = {:.1e}",
        T::EPSILON.to_f64()
    );
}

fn main() {
    for (size, steps) in [
        ((20, 20, 1000, 20), 400),
        ((20, 1, 500, 20), 400),
        ((64, 64, 4096, 128), 64),
    ] {
        run::<f64>("f64", size, steps);
        run::<f32>("f32", size, steps);
    }
}
