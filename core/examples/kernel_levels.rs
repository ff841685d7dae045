//! Times the three matrix products of one step at `(n, m, h) = (20, 20, 1000)`,
//! `(64, 64, 4096)` and `(500, 500, 2000)` at every instruction-set level
//! (same bits at all):
//! `cargo run --release -p overlin-core --example kernel_levels`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::Instant;

use overlin_core::kernels::{self, simd};

fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut b = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f();
        b = b.min(t.elapsed().as_secs_f64());
    }
    b
}

fn main() {
    for &(n, m, h) in &[
        (20usize, 20usize, 1000usize),
        (64, 64, 4096),
        (500, 500, 2000),
    ] {
        let mut rng = overlin_core::Rng::new(1);
        let mut v = |len: usize| (0..len).map(|_| rng.gaussian()).collect::<Vec<f64>>();
        let (w1, w2, g) = (v(n * h), v(h * m), v(n * m));
        let (mut p, mut a, mut b) = (vec![0.0; n * m], vec![0.0; n * h], vec![0.0; h * m]);
        let reps = if n >= 500 {
            5
        } else if h > 2000 {
            30
        } else {
            300
        };
        for round in 0..2 {
            for level in 0..=simd::detected_level() {
                simd::cap_level(level);
                let t_nn = best(reps, || kernels::mm_nn(black_box(&mut p), &w1, &w2, n, h));
                let t_nt = best(reps, || kernels::mm_nt(black_box(&mut a), &g, &w2, n, m));
                let t_tn = best(reps, || kernels::mm_tn(black_box(&mut b), &w1, &g, h, n));
                let f = 2.0 * (n * h * m) as f64 / 1e9;
                println!(
                    "({n},{m},{h}) round {round} level {level}: P=W1W2 {:.1} GF/s, A=GW2t {:.1} GF/s, B=W1tG {:.1} GF/s",
                    f / t_nn, f / t_nt, f / t_tn
                );
            }
        }
    }
}
