//! Bounds on extreme eigenvalues by inertia (`kernels::inertia_bound`,
//! `kernels::sym_bounds`): they enclose the spectrum, they are tight, a
//! shift on the wrong side of an end is refused, and the rounding margin
//! (docs/ROUNDING.md, "Bounds by inertia") holds where it is large enough
//! to be checked against an exact reference: in f32 against f64.

#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)] // test helpers index and unwrap freely

use overlin_core::kernels::{self, BoundsScratch, End, LANCZOS_MAX};
use overlin_core::nalgebra::{DMatrix, SymmetricEigen};
use overlin_core::Rng;

/// `W Wᵀ / h` for a `p×h` standard Gaussian `W`: a Wishart matrix whose
/// extremes sit at the edges of the Marchenko–Pastur law, where the top
/// and bottom eigenvalues crowd together (the hard case for Lanczos).
fn wishart(p: usize, h: usize, seed: u64) -> DMatrix<f64> {
    let mut rng = Rng::new(seed);
    let w = DMatrix::from_fn(p, h, |_, _| rng.gaussian());
    &w * w.transpose() / h as f64
}

fn dense_extremes(a: &DMatrix<f64>) -> (f64, f64) {
    let e = SymmetricEigen::new(a.clone()).eigenvalues;
    (e.min(), e.max())
}

struct Scratch {
    fac: Vec<f64>,
    basis: Vec<f64>,
    rmin: Vec<f64>,
    rmax: Vec<f64>,
}

impl Scratch {
    fn new(p: usize) -> Self {
        Self {
            fac: vec![0.0; p * p],
            basis: vec![0.0; p * (LANCZOS_MAX + 1)],
            rmin: vec![0.0; p],
            rmax: vec![0.0; p],
        }
    }
    fn get(&mut self) -> BoundsScratch<'_, f64> {
        BoundsScratch {
            fac: &mut self.fac,
            basis: &mut self.basis,
            ritz_min: &mut self.rmin,
            ritz_max: &mut self.rmax,
        }
    }
}

/// Proven bounds enclose the dense extremes and are tight: within
/// `p²ε` of the largest eigenvalue, far inside the `1e-9` that the
/// benchmark's trajectory check allows.
#[test]
fn bounds_enclose_and_are_tight() {
    for (p, h, seed) in [
        (100, 400, 1),
        (150, 160, 2),
        (200, 1000, 3),
        (120, 60, 4),
        (300, 400, 5),
    ] {
        let a = wishart(p, h, seed);
        let (lmin, lmax) = dense_extremes(&a);
        let want_min = h >= p;
        let mut s = Scratch::new(p);
        // A cold start (no Ritz vectors yet) may take more than one call;
        // the Ritz vectors carried between calls finish the job, as they
        // do from step to step.
        let mut got = None;
        for _ in 0..4 {
            got = kernels::sym_bounds(a.as_slice(), p, want_min, s.get());
            if got.is_some() {
                break;
            }
        }
        let (lo, hi) = got.unwrap_or_else(|| panic!("p={p} h={h}: no bound in 4 calls"));
        let slack = 4.0 * (p * (p + 1)) as f64 * f64::EPSILON * lmax;
        assert!(hi >= lmax, "p={p}: upper bound {hi} below λ_max {lmax}");
        assert!(
            hi - lmax <= slack,
            "p={p}: upper bound {hi} loose (λ_max {lmax})"
        );
        if want_min {
            assert!(lo <= lmin, "p={p}: lower bound {lo} above λ_min {lmin}");
            assert!(
                lmin - lo <= slack,
                "p={p}: lower bound {lo} loose (λ_min {lmin})"
            );
        } else {
            assert_eq!(lo, 0.0);
        }
    }
}

/// A warm start: the matrix moved a little, the last call's Ritz vectors
/// start the next, and the bounds follow in one call each.
#[test]
fn warm_start_follows_a_moving_matrix() {
    let p = 160;
    let mut a = wishart(p, 640, 7);
    let d = wishart(p, 640, 8);
    let mut s = Scratch::new(p);
    let mut first = true;
    for step in 0..6 {
        let got = kernels::sym_bounds(a.as_slice(), p, true, s.get());
        if first {
            first = false;
            if got.is_none() {
                continue;
            }
        }
        let (lo, hi) = got.unwrap_or_else(|| panic!("step {step}: no bound from a warm start"));
        let (lmin, lmax) = dense_extremes(&a);
        assert!(
            lo <= lmin && hi >= lmax,
            "step {step}: [{lo}, {hi}] vs [{lmin}, {lmax}]"
        );
        a = &a * 0.999 + &d * 0.001;
    }
}

/// A shift inside the spectrum, or on an eigenvalue, is refused at both
/// ends; a shift outside is accepted and its bound holds.
#[test]
fn wrong_shift_is_refused() {
    let p = 120;
    let a = wishart(p, 480, 11);
    let (lmin, lmax) = dense_extremes(&a);
    let mut fac = vec![0.0; p * p];
    let gap = 1e-6 * lmax;
    for shift in [lmax - gap, 0.5 * (lmin + lmax), lmin + gap] {
        assert_eq!(
            kernels::inertia_bound(a.as_slice(), p, shift, End::Above, &mut fac),
            None,
            "accepted λ_max ≤ {shift} + margin with λ_max = {lmax}"
        );
        assert_eq!(
            kernels::inertia_bound(a.as_slice(), p, shift, End::Below, &mut fac),
            None,
            "accepted λ_min ≥ {shift} − margin with λ_min = {lmin}"
        );
    }
    let t = kernels::inertia_bound(a.as_slice(), p, lmax + gap, End::Above, &mut fac).unwrap();
    assert!(t >= lmax + gap);
    let s = kernels::inertia_bound(a.as_slice(), p, lmin - gap, End::Below, &mut fac).unwrap();
    assert!(s <= lmin - gap);
    // Exactly on an eigenvalue (a diagonal matrix: exact pivots).
    let diag = DMatrix::from_diagonal(&overlin_core::nalgebra::DVector::from_fn(p, |i, _| {
        1.0 + i as f64
    }));
    assert_eq!(
        kernels::inertia_bound(diag.as_slice(), p, p as f64, End::Above, &mut fac),
        None
    );
    assert_eq!(
        kernels::inertia_bound(diag.as_slice(), p, 1.0, End::Below, &mut fac),
        None
    );
    // Not finite.
    let mut bad = a.clone();
    bad[(3, 1)] = f64::NAN;
    assert_eq!(
        kernels::inertia_bound(bad.as_slice(), p, lmax + 1.0, End::Above, &mut fac),
        None
    );
}

/// The rounding margin, checked where it is large: f32 matrices (whose
/// entries are exact in f64) scanned with shifts from well inside to well
/// outside each end; every bound that is returned holds against the f64
/// eigenvalues (accurate to ~1e-13, far below the f32 margin).
#[test]
fn f32_bounds_hold_at_every_shift_near_an_end() {
    for (p, h, seed) in [(40, 160, 21), (97, 100, 22), (64, 64, 23)] {
        let a64 = wishart(p, h, seed).map(|v| v as f32 as f64);
        let (lmin, lmax) = dense_extremes(&a64);
        let a32: Vec<f32> = a64.iter().map(|&v| v as f32).collect();
        let mut fac = vec![0.0f32; p * p];
        // The margin's size at these ends (the scan spans three of it).
        let scale =
            kernels::inertia_margin::<f32>(p, (p as f64 * (lmax - lmin)) as f32, lmax as f32)
                .unwrap() as f64;
        let (mut accepted, mut refused) = (0, 0);
        for k in -200..=200 {
            let off = 3.0 * scale * k as f64 / 200.0;
            for end in [End::Above, End::Below] {
                let shift = match end {
                    End::Above => (lmax + off) as f32,
                    End::Below => (lmin - off) as f32,
                };
                match kernels::inertia_bound(&a32, p, shift, end, &mut fac) {
                    Some(b) => {
                        accepted += 1;
                        match end {
                            End::Above => assert!(
                                b as f64 >= lmax,
                                "p={p}: f32 bound {b} < λ_max {lmax} (shift {shift})"
                            ),
                            End::Below => assert!(
                                b as f64 <= lmin,
                                "p={p}: f32 bound {b} > λ_min {lmin} (shift {shift})"
                            ),
                        }
                    }
                    None => refused += 1,
                }
            }
        }
        // The scan crosses both ends: some shifts refused, some accepted.
        assert!(
            accepted > 0 && refused > 0,
            "p={p}: {accepted} accepted, {refused} refused"
        );
    }
}

/// Every instruction-set level gives the same bits (from the same state),
/// as the products do: the host's `OVERLIN_SIMD_CAP` changes speed only.
#[test]
fn same_bits_at_every_level() {
    let p = 130;
    let a = wishart(p, 300, 31);
    let mut results = Vec::new();
    for level in 0..=kernels::simd::detected_level() {
        kernels::simd::cap_level(level);
        let mut s = Scratch::new(p);
        let mut calls = Vec::new();
        for _ in 0..3 {
            calls.push(kernels::sym_bounds(a.as_slice(), p, true, s.get()));
        }
        let mut fac = vec![0.0; p * p];
        let shift = a.diagonal().max() * 2.0;
        calls.push(
            kernels::inertia_bound(a.as_slice(), p, shift, End::Above, &mut fac).map(|t| (t, t)),
        );
        results.push((calls, s.rmin.clone(), s.rmax.clone(), fac));
    }
    kernels::simd::cap_level(kernels::simd::detected_level());
    for r in &results[1..] {
        assert_eq!(r, &results[0]);
    }
    assert!(results[0].0.iter().any(|c| c.is_some()));
}

/// In a run at large sizes (run-time sizes, feature `alloc`) the trainer's
/// `α_t`, `β_t` are proven bounds: against the dense extremes of Grams
/// formed afresh from each iterate they are on the safe side up to the
/// rounding of forming a Gram (`h·ε·β`), and tight (within `4p²ε·β` more).
/// Most steps use the bounds (visible as `β_t` above the eigenvalue by
/// more than rounding of the reduction would explain) rather than falling
/// back to the reduction.
#[cfg(feature = "alloc")]
#[test]
fn trainer_uses_tight_proven_bounds_at_large_sizes() {
    use overlin_core::nalgebra::Dyn;
    use overlin_core::*;
    for &(n, m, h, samples, seed) in &[
        (120usize, 100usize, 900usize, 150usize, 1u64),
        (160, 10, 400, 300, 2),
    ] {
        let mut rng = Rng::new(seed);
        let mut x = DMatrix::<f64>::zeros(samples, n);
        rng.fill_gaussian(&mut x, 1.0);
        let mut theta = DMatrix::<f64>::zeros(n, m);
        rng.fill_gaussian(&mut theta, 1.0);
        let y = &x * &theta;
        let loss = SquaredLoss::new(x, y).unwrap();
        let net: DynNet<f64> = Init::Gaussian {
            sigma: 1.0,
            std: 1.0 / (h as f64).sqrt(),
        }
        .sample(Dyn(n), Dyn(h), Dyn(m), &mut rng)
        .unwrap();
        let cfg = TrainerConfig {
            max_iters: 40,
            tol: Tolerance::Absolute(1e-300),
            stall_window: 0,
            ..Default::default()
        };
        let mut tr = Trainer::new(net, loss, StepRule::Local, cfg).unwrap();
        let p = n.max(m) as f64;
        let (mut steps, mut above) = (0, 0);
        loop {
            let net = tr.net().clone();
            let g1 = &net.w1 * net.w1.transpose();
            let g2 = net.w2.transpose() * &net.w2;
            let (a1, b1) = dense_extremes(&g1);
            let (a2, b2) = dense_extremes(&g2);
            let Some(rec) = tr.step() else { break };
            steps += 1;
            let beta = b1 + b2;
            let alpha =
                (if h >= n { a1.max(0.0) } else { 0.0 }) + (if h >= m { a2.max(0.0) } else { 0.0 });
            let l = rec.cert.local;
            let form = h as f64 * f64::EPSILON * beta;
            let tight = 4.0 * p * p * f64::EPSILON * beta;
            assert!(
                l.beta >= beta - form,
                "({n},{m},{h}) step {}: β {} below {beta}",
                rec.t,
                l.beta
            );
            assert!(
                l.beta <= beta + form + tight,
                "({n},{m},{h}) step {}: β {} loose ({beta})",
                rec.t,
                l.beta
            );
            assert!(
                l.alpha <= alpha + form,
                "({n},{m},{h}) step {}: α {} above {alpha}",
                rec.t,
                l.alpha
            );
            assert!(
                l.alpha >= alpha - form - tight,
                "({n},{m},{h}) step {}: α {} loose ({alpha})",
                rec.t,
                l.alpha
            );
            if l.beta > beta + 64.0 * p * f64::EPSILON * beta {
                above += 1;
            }
        }
        assert_eq!(steps, 40);
        assert!(above >= 30, "({n},{m},{h}): only {above} of {steps} steps above the eigenvalue by more than the reduction's rounding");
    }
}
