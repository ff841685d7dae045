//! Times the per-step extreme eigenvalues of a `p×p` Gram `W Wᵀ/h` at
//! every instruction-set level: the reduction to tridiagonal form with
//! Laguerre (`sym_extremes`), against the proven bounds by inertia
//! (`inertia_bound`, one shifted Cholesky) and the Lanczos estimate that
//! places the shifts (`lanczos_ends`, warm-started as in a run):
//! `cargo run --release -p overlin-core --example bounds_speed [p h]...`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::Instant;

use overlin_core::kernels::{self, simd, End, LANCZOS_MAX};

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
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let sizes: Vec<(usize, usize)> = if args.len() >= 2 {
        args.chunks_exact(2).map(|c| (c[0], c[1])).collect()
    } else {
        vec![(200, 800), (500, 2000), (784, 1024)]
    };
    for (p, h) in sizes {
        let mut rng = overlin_core::Rng::new(1);
        let w: Vec<f64> = (0..p * h).map(|_| rng.gaussian()).collect();
        let mut a = vec![0.0; p * p];
        kernels::mm_nt(&mut a, &w, &w, p, h);
        let (mut buf, mut work, mut fac) = (vec![0.0; p * p], vec![0.0; p], vec![0.0; p * p]);
        let mut basis = vec![0.0; p * (LANCZOS_MAX + 1)];
        let (mut rmin, mut rmax) = (vec![0.0; p], vec![0.0; p]);
        let reps = if p >= 500 { 5 } else { 20 };
        for level in 0..=simd::detected_level() {
            simd::cap_level(level);
            let t_red = best(reps, || {
                buf.copy_from_slice(&a);
                black_box(kernels::sym_extremes(&mut buf, p, &mut work, true));
            });
            buf.copy_from_slice(&a);
            let (lmin, lmax) = kernels::sym_extremes(&mut buf, p, &mut work, true);
            let t_chol = best(reps, || {
                black_box(kernels::inertia_bound(
                    &a,
                    p,
                    lmax * 1.001,
                    End::Above,
                    &mut fac,
                ));
            });
            // Warm: the Ritz vectors of a converged call start the next.
            for _ in 0..4 {
                kernels::sym_bounds(
                    &a,
                    p,
                    true,
                    kernels::BoundsScratch {
                        fac: &mut fac,
                        basis: &mut basis,
                        ritz_min: &mut rmin,
                        ritz_max: &mut rmax,
                    },
                );
            }
            let mut got = None;
            let t_bounds = best(reps, || {
                got = kernels::sym_bounds(
                    &a,
                    p,
                    true,
                    kernels::BoundsScratch {
                        fac: &mut fac,
                        basis: &mut basis,
                        ritz_min: &mut rmin,
                        ritz_max: &mut rmax,
                    },
                );
            });
            let chol_gf = (p * p * p) as f64 / 3.0 * 2.0 / t_chol / 1e9;
            println!(
                "p={p} h={h} level {level}: reduction {:.2} ms, one shifted Cholesky {:.2} ms ({chol_gf:.1} GF/s), sym_bounds (warm) {:.2} ms; [{lmin:.6e}, {lmax:.6e}] vs bounds {got:?}",
                t_red * 1e3,
                t_chol * 1e3,
                t_bounds * 1e3
            );
        }
    }
}
