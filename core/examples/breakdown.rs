//! Where a plain step's time goes at `(n, m, h) = (64, 64, 4096)` and
//! `(20, 20, 1000)`, each phase timed in sequence as in the trainer (fastest
//! of many repetitions): `cargo run --release -p overlin-core --example breakdown`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
use std::time::Instant;

use overlin_core::kernels;

fn main() {
    for &(n, m, h) in &[(20usize, 20usize, 1000usize), (64, 64, 4096)] {
        let mut rng = overlin_core::Rng::new(1);
        let mut v = |len: usize, s: f64| (0..len).map(|_| s * rng.gaussian()).collect::<Vec<f64>>();
        let (mut w1, mut w2, g) = (v(n * h, 0.03), v(h * m, 0.03), v(n * m, 1e-3));
        let (mut p, mut a, mut b) = (vec![0.0; n * m], vec![0.0; n * h], vec![0.0; h * m]);
        let mut t = [f64::INFINITY; 5];
        let iters = if h > 2000 { 100 } else { 1000 };
        for _ in 0..iters {
            let s = Instant::now();
            kernels::mm_nt(&mut a, &g, &w2, n, m);
            let s1 = Instant::now();
            kernels::mm_tn(&mut b, &w1, &g, h, n);
            let s2 = Instant::now();
            let gs = kernels::sum_sq(&a) + kernels::sum_sq(&b);
            let s3 = Instant::now();
            kernels::axpy(&mut w1, -1e-9 * gs.min(1.0), &a);
            kernels::axpy(&mut w2, -1e-9, &b);
            let s4 = Instant::now();
            kernels::mm_nn(&mut p, &w1, &w2, n, h);
            let s5 = Instant::now();
            for (ti, d) in t
                .iter_mut()
                .zip([s1 - s, s2 - s1, s3 - s2, s4 - s3, s5 - s4])
            {
                *ti = ti.min(d.as_secs_f64());
            }
        }
        let f = 2.0 * (n * m * h) as f64;
        let names = ["A=GW2t", "B=W1tG", "g2", "axpys", "P=W1W2"];
        let flops = [
            f,
            f,
            4.0 * (n * h + h * m) as f64 / 2.0,
            4.0 * (n * h + h * m) as f64 / 2.0,
            f,
        ];
        for ((nm, ti), fl) in names.iter().zip(t).zip(flops) {
            println!(
                "({n},{m},{h}) {nm}: {:.1} us, {:.1} GF/s",
                ti * 1e6,
                fl / ti / 1e9
            );
        }
        println!(
            "({n},{m},{h}) sum of fastest phases {:.1} us",
            t.iter().sum::<f64>() * 1e6
        );
    }
}
