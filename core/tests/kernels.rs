//! The fast kernels of issue 5 against references: `sym_extremes` against
//! nalgebra's dense symmetric eigen-decomposition, and the Gram matrices the
//! trainer carries between steps (gd.rs, `GramState`) against Grams formed
//! afresh from the iterate, over many steps.

#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)] // test helpers index and unwrap freely

use overlin_core::kernels;
use overlin_core::nalgebra::{DMatrix, Dyn, SymmetricEigen};
use overlin_core::Rng;
use overlin_core::*;
use proptest::prelude::*;

fn dense_extremes(a: &DMatrix<f64>) -> (f64, f64) {
    let e = SymmetricEigen::new(a.clone()).eigenvalues;
    (e.min(), e.max())
}

fn check_extremes(a: &DMatrix<f64>) -> Result<(), TestCaseError> {
    let p = a.nrows();
    let (lmin, lmax) = dense_extremes(a);
    let mut buf = a.as_slice().to_vec();
    let mut work = vec![0.0; p];
    let (mn, mx) = kernels::sym_extremes(&mut buf, p, &mut work, true);
    let scale = lmin.abs().max(lmax.abs()) + f64::MIN_POSITIVE;
    let tol = 16.0 * (p as f64) * f64::EPSILON * scale;
    prop_assert!((mx - lmax).abs() <= tol, "p={p} max {mx} vs {lmax}");
    prop_assert!((mn - lmin).abs() <= tol, "p={p} min {mn} vs {lmin}");
    // λ_max alone gives the same bits as with λ_min.
    let mut buf = a.as_slice().to_vec();
    let (_, mx2) = kernels::sym_extremes(&mut buf, p, &mut work, false);
    prop_assert_eq!(mx.to_bits(), mx2.to_bits());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Random Grams (PSD, rank-deficient when h < p) and random indefinite
    /// symmetric matrices, entries from 1e-150 to 1e150 (Grams to 1e±300).
    #[test]
    fn extremes_match_dense(p in 1usize..40, h in 1usize..60, seed in any::<u64>(), log_s in -150.0f64..150.0, psd in any::<bool>()) {
        let mut rng = Rng::new(seed);
        let s = 10f64.powf(log_s);
        let a = if psd {
            let mut w = DMatrix::<f64>::zeros(p, h);
            rng.fill_gaussian(&mut w, s);
            &w * w.transpose()
        } else {
            let mut b = DMatrix::<f64>::zeros(p, p);
            rng.fill_gaussian(&mut b, s);
            &b + b.transpose()
        };
        check_extremes(&a)?;
    }
}

/// Multiple and clustered eigenvalues (balanced and orthogonal starts give
/// `Γ = s²I`), zero matrices, diagonal matrices.
#[test]
fn extremes_of_structured_matrices() {
    for p in [1usize, 2, 3, 4, 7, 20, 64] {
        for s in [0.0, 1e-300, 1e-8, 1.0, 3.5, 1e8] {
            check_extremes(&(DMatrix::<f64>::identity(p, p) * s)).unwrap();
        }
        let d =
            DMatrix::<f64>::from_diagonal(&overlin_core::nalgebra::DVector::from_fn(p, |i, _| {
                (i as f64 - 2.0) * 0.5
            }));
        check_extremes(&d).unwrap();
        // A tight cluster at the top and a simple bottom eigenvalue.
        let mut c = DMatrix::<f64>::identity(p, p);
        c[(0, 0)] = 1e-3;
        for i in 1..p {
            c[(i, i)] = 1.0 + 1e-12 * i as f64;
        }
        let mut q = DMatrix::<f64>::zeros(p, p);
        Rng::new(p as u64).fill_gaussian(&mut q, 1.0);
        let q = q.qr().q();
        check_extremes(&(&q * c * q.transpose())).unwrap();
    }
}

/// Same bits for f32 through `Const` and `Dyn` is guarded by smoke.rs; here
/// the f32 kernel is checked against f64 at f32 accuracy.
#[test]
fn extremes_f32() {
    let mut rng = Rng::new(5);
    for p in [1usize, 3, 4, 16, 20] {
        let mut w = DMatrix::<f64>::zeros(p, 2 * p + 1);
        rng.fill_gaussian(&mut w, 1.0);
        let a = &w * w.transpose();
        let (lmin, lmax) = dense_extremes(&a);
        let mut buf: Vec<f32> = a.iter().map(|&x| x as f32).collect();
        let mut work = vec![0.0f32; p];
        let (mn, mx) = kernels::sym_extremes(&mut buf, p, &mut work, true);
        let tol = 16.0 * p as f64 * f32::EPSILON as f64 * lmax;
        assert!((mx as f64 - lmax).abs() <= tol, "{mx} {lmax}");
        assert!((mn as f64 - lmin).abs() <= tol, "{mn} {lmin}");
    }
}

/// α_t, β_t of every step (from the carried Grams) against α, β from Grams
/// formed afresh from the iterate, over 300 steps (many refresh periods),
/// for shapes where the carried update is used (h ≥ 4(n+m)) and an
/// imbalanced start. The bound is the accuracy of forming a Gram at all.
#[test]
fn carried_grams_track_fresh_grams() {
    for &(n, m, h, samples, seed) in &[
        (5usize, 3usize, 64usize, 8usize, 1u64),
        (3, 6, 80, 9, 2),
        (4, 1, 40, 6, 3),
        (8, 8, 200, 10, 4),
    ] {
        let mut rng = Rng::new(seed);
        let mut x = DMatrix::<f64>::zeros(samples, n);
        rng.fill_gaussian(&mut x, 1.0);
        let mut theta = DMatrix::<f64>::zeros(n, m);
        rng.fill_gaussian(&mut theta, 1.0);
        let y = &x * &theta;
        let loss = SquaredLoss::new(x, y).unwrap();
        let net: DynNet<f64> = Init::Gaussian {
            sigma: 2.0,
            std: 0.3,
        }
        .sample(Dyn(n), Dyn(h), Dyn(m), &mut rng)
        .unwrap();
        let cfg = TrainerConfig {
            max_iters: 300,
            tol: Tolerance::Absolute(1e-300),
            stall_window: 0,
            ..Default::default()
        };
        let mut tr = Trainer::new(net, loss, StepRule::Local, cfg).unwrap();
        let mut worst = 0.0f64;
        let mut steps = 0;
        loop {
            let net = tr.net().clone();
            let g1 = &net.w1 * net.w1.transpose();
            let g2 = net.w2.transpose() * &net.w2;
            let (a1, b1) = dense_extremes(&g1);
            let (a2, b2) = dense_extremes(&g2);
            let Some(rec) = tr.step() else { break };
            steps += 1;
            let beta = b1 + b2;
            let alpha = a1.max(0.0) + a2.max(0.0);
            let l = rec.cert.local;
            let dev = ((l.alpha - alpha).abs()).max((l.beta - beta).abs()) / beta;
            worst = worst.max(dev);
            // Forming a Gram from h terms carries up to h·ε·β.
            assert!(
                dev <= (h as f64) * f64::EPSILON,
                "({n},{m},{h}) step {}: alpha {} vs {alpha}, beta {} vs {beta}",
                rec.t,
                l.alpha,
                l.beta
            );
        }
        assert!(steps >= 100, "{steps} steps");
        println!("({n},{m},{h}): worst |Δα|,|Δβ| / β over {steps} steps = {worst:.2e}");
    }
}

/// The summation orders the products promise (kernels/gemm.rs, "Matrix
/// products"), written as plain loops.
fn ref_nn(a: &[f64], b: &[f64], r: usize, k: usize, c: usize) -> Vec<f64> {
    let mut out = vec![0.0; r * c];
    for j in 0..c {
        for i in 0..r {
            let mut s = 0.0;
            for kk in 0..k {
                s += a[i + kk * r] * b[kk + j * k];
            }
            out[i + j * r] = s;
        }
    }
    out
}

fn ref_nt(a: &[f64], b: &[f64], r: usize, k: usize, c: usize) -> Vec<f64> {
    let mut out = vec![0.0; r * c];
    for j in 0..c {
        for i in 0..r {
            let mut s = 0.0;
            for kk in 0..k {
                s += a[i + kk * r] * b[j + kk * c];
            }
            out[i + j * r] = s;
        }
    }
    out
}

fn ref_tn(a: &[f64], b: &[f64], r: usize, k: usize, c: usize) -> Vec<f64> {
    let mut out = vec![0.0; r * c];
    for j in 0..c {
        for i in 0..r {
            out[i + j * r] = kernels::dot(&a[i * k..(i + 1) * k], &b[j * k..(j + 1) * k]);
        }
    }
    out
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Every instruction-set level gives the bits of the plain loops, for sizes
/// around every block edge; the f32 path through the same bodies too.
#[test]
fn products_same_bits_at_every_level() {
    let detected = kernels::simd::detected_level();
    let mut rng = Rng::new(9);
    let mut levels_run = 0;
    // (The instruction-set cap is global: every level comparison lives in
    // this one test, so that no other test changes it meanwhile.)
    let mut w = DMatrix::<f64>::zeros(120, 90);
    rng.fill_gaussian(&mut w, 1.0);
    let gram = &w * w.transpose();
    let mut spectrum_bits = None;
    for level in 0..=detected {
        kernels::simd::cap_level(level);
        assert_eq!(kernels::simd::level(), level);
        levels_run += 1;
        // The set-up spectrum (reduction compiled per level): same bits.
        let mut buf = gram.as_slice().to_vec();
        let mut work = vec![0.0; 120];
        let sp = kernels::sym_spectrum(&mut buf, 120, &mut work).unwrap();
        let eig: Vec<u64> = (0..120).map(|k| sp.smallest(k).to_bits()).collect();
        match &spectrum_bits {
            None => spectrum_bits = Some(eig),
            Some(base) => assert_eq!(&eig, base, "spectrum level {level}"),
        }
        for &(r, k, c) in &[
            (1usize, 1usize, 1usize),
            (3, 5, 2),
            (4, 16, 4),
            (5, 9, 7),
            (17, 33, 6),
            (20, 20, 21),
            (33, 7, 9),
            (64, 3, 5),
            (20, 600, 5),
            (7, 1000, 3),
            (13, 100, 11),
            (70, 130, 9),
            (9, 257, 14),
            (300, 1000, 9),
        ] {
            let mut a = vec![0.0; r * k];
            let mut b = vec![0.0; k * c];
            for x in a.iter_mut().chain(b.iter_mut()) {
                *x = rng.gaussian();
            }
            let mut out = vec![f64::NAN; r * c];
            kernels::mm_nn(&mut out, &a, &b, r, k);
            assert_eq!(
                bits(&out),
                bits(&ref_nn(&a, &b, r, k, c)),
                "nn {r} {k} {c} level {level}"
            );
            kernels::mm_nt(&mut out, &a, &b, r, k);
            assert_eq!(
                bits(&out),
                bits(&ref_nt(&a, &b, r, k, c)),
                "nt {r} {k} {c} level {level}"
            );
            let mut at = vec![0.0; k * r];
            at.copy_from_slice(&a);
            kernels::mm_tn(&mut out, &at, &b, r, k);
            assert_eq!(
                bits(&out),
                bits(&ref_tn(&at, &b, r, k, c)),
                "tn {r} {k} {c} level {level}"
            );
            // f32 through the same bodies: compare against level 0.
            let a32: Vec<f32> = a.iter().map(|&x| x as f32).collect();
            let b32: Vec<f32> = b.iter().map(|&x| x as f32).collect();
            let mut o32 = vec![0.0f32; r * c];
            kernels::mm_nn(&mut o32, &a32, &b32, r, k);
            let cur = kernels::simd::level();
            kernels::simd::cap_level(0);
            let mut base32 = vec![0.0f32; r * c];
            kernels::mm_nn(&mut base32, &a32, &b32, r, k);
            kernels::simd::cap_level(cur);
            assert_eq!(o32, base32);
            assert!(o32
                .iter()
                .zip(&base32)
                .all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }
    kernels::simd::cap_level(u8::MAX - 1);
    println!("levels compared: {levels_run} (detected {detected})");
}

/// `sym_extremes3` gives the bits of three `sym_extremes_from` calls, with
/// and without start hints, on both evaluation paths (three-term up to
/// p = 4, pivots above).
#[test]
fn extremes3_same_bits_as_single() {
    let mut rng = Rng::new(21);
    for p in [1usize, 2, 3, 4, 5, 9, 20] {
        let mats: Vec<Vec<f64>> = (0..3)
            .map(|i| {
                let mut w = DMatrix::<f64>::zeros(p, p + i);
                rng.fill_gaussian(&mut w, 1.0 + i as f64);
                (&w * w.transpose()).as_slice().to_vec()
            })
            .collect();
        let want = [true, false, true];
        let cold = [kernels::StartHints::default(); 3];
        // Hints from the exact extremes, one of them wrong (inside).
        let mut warm = [kernels::StartHints::default(); 3];
        for (h, a) in warm.iter_mut().zip(&mats) {
            let (lo, hi) = dense_extremes(&DMatrix::from_column_slice(p, p, a));
            *h = kernels::StartHints::around(lo, hi, 1e-3 * hi);
        }
        warm[1].above_max = warm[1].above_max.map(|v| 0.5 * v);
        for hints in [cold, warm] {
            let single: Vec<(f64, f64)> = mats
                .iter()
                .zip(want)
                .zip(hints)
                .map(|((a, w), h)| {
                    kernels::sym_extremes_from(&mut a.clone(), p, &mut vec![0.0; p], w, h)
                })
                .collect();
            let (mut a0, mut a1, mut a2) = (mats[0].clone(), mats[1].clone(), mats[2].clone());
            let (mut w0, mut w1, mut w2) = (vec![0.0; p], vec![0.0; p], vec![0.0; p]);
            let three = kernels::sym_extremes3(
                [&mut a0, &mut a1, &mut a2],
                [&mut w0, &mut w1, &mut w2],
                p,
                want,
                hints,
            );
            for (s, t) in single.iter().zip(three.iter()) {
                assert_eq!(
                    (s.0.to_bits(), s.1.to_bits()),
                    (t.0.to_bits(), t.1.to_bits()),
                    "p={p}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Start hints as the trainer makes them (the extremes of a matrix,
    /// widened by the Frobenius norm of its change) and hints that are
    /// wrong (inside the spectrum, or absurdly far out) give the extremes
    /// of the new matrix to the accuracy of a cold start, in f64 and f32.
    #[test]
    fn hinted_extremes_match_dense(p in 1usize..24, seed in any::<u64>(), log_s in -100.0f64..100.0, log_step in -12.0f64..0.0, wrong in 0usize..4) {
        let mut rng = Rng::new(seed);
        let s = 10f64.powf(log_s);
        let mut w = DMatrix::<f64>::zeros(p, p + 3);
        rng.fill_gaussian(&mut w, s);
        let a = &w * w.transpose();
        let mut dw = DMatrix::<f64>::zeros(p, p + 3);
        rng.fill_gaussian(&mut dw, s * 10f64.powf(log_step));
        let w2 = &w + dw;
        let b = &w2 * w2.transpose();
        let (alo, ahi) = dense_extremes(&a);
        let (blo, bhi) = dense_extremes(&b);
        // (Scaled: the squares of the entries may overflow.)
        let delta = ((&b - &a) / (s * s)).norm() * (s * s);
        let mut hints = kernels::StartHints::around(alo, ahi, delta);
        prop_assert!(hints.below_min.unwrap() <= blo && hints.above_max.unwrap() >= bhi);
        match wrong {
            1 => hints.above_max = Some(0.5 * (blo + bhi)),
            2 => hints.below_min = Some(0.5 * (blo + bhi)),
            3 => hints = kernels::StartHints { below_min: Some(-1e300), above_max: Some(1e300) },
            _ => {}
        }
        let tol = 16.0 * (p as f64) * f64::EPSILON * bhi.abs().max(blo.abs());
        let mut buf = b.as_slice().to_vec();
        let (mn, mx) = kernels::sym_extremes_from(&mut buf, p, &mut vec![0.0; p], true, hints);
        prop_assert!((mx - bhi).abs() <= tol, "p={p} max {mx} vs {bhi}");
        prop_assert!((mn - blo).abs() <= tol, "p={p} min {mn} vs {blo}");
        // f32, hints rounded to f32.
        let h32 = kernels::StartHints {
            below_min: hints.below_min.map(|v| v as f32),
            above_max: hints.above_max.map(|v| v as f32),
        };
        if (s * s) > 1e-30 && (s * s) < 1e30 {
            let mut b32: Vec<f32> = b.iter().map(|&x| x as f32).collect();
            let (mn, mx) = kernels::sym_extremes_from(&mut b32, p, &mut vec![0f32; p], true, h32);
            let tol32 = 16.0 * (p as f64) * f64::from(f32::EPSILON) * bhi.abs().max(blo.abs());
            prop_assert!((f64::from(mx) - bhi).abs() <= tol32, "f32 p={p} max {mx} vs {bhi}");
            prop_assert!((f64::from(mn) - blo).abs() <= tol32, "f32 p={p} min {mn} vs {blo}");
        }
    }
}

/// Scales whose squares leave the floating-point range (found by the API
/// fuzz, core/tests/fuzz_api.rs): a Gram column whose norm² underflows, and
/// entries near √MAX, in f64 and f32.
#[test]
fn extremes_at_extreme_scales() {
    let close = |got: f64, want: f64, tol: f64| (got - want).abs() <= tol * want.abs().max(1e-300);
    // W₁W₁ᵀ of W₁ = (1e-155, 0, 0.322)ᵀ: eigenvalues 0.1039, 0, 0.
    let w = [1e-155f64, 0.0, 0.322_271_036_745_010_45];
    let mut g: Vec<f64> = (0..9).map(|k| w[k % 3] * w[k / 3]).collect();
    let (lo, hi) = kernels::sym_extremes(&mut g, 3, &mut [0.0; 3], true);
    assert!(close(hi, w[2] * w[2], 1e-12), "lambda_max {hi:e}");
    assert!(lo.abs() <= 1e-15 * hi, "lambda_min {lo:e}");
    // [[1, 0.3], [0.3, 2]]·s, eigenvalues (1.5 ± √0.34)·s, up to s near √MAX and beyond.
    for s in [1e-300f64, 1e-160, 1e160, 1e207, 1e300] {
        let mut a = [s, 0.3 * s, 0.3 * s, 2.0 * s];
        let (lo, hi) = kernels::sym_extremes(&mut a, 2, &mut [0.0; 2], true);
        let r = 0.34f64.sqrt();
        assert!(
            close(hi, (1.5 + r) * s, 1e-12),
            "s = {s:e}: lambda_max {hi:e}"
        );
        assert!(
            close(lo, (1.5 - r) * s, 1e-12),
            "s = {s:e}: lambda_min {lo:e}"
        );
    }
    // f32 Gram with entries ~4e16 (squares beyond f32's range).
    let w2 = [[-109_096_374.0f32, -191_359_120.0], [0.0, 113_578_016.0]];
    let mut a = [0f32; 4];
    for i in 0..2 {
        for j in 0..2 {
            a[i + 2 * j] = (0..2).map(|k| w2[k][i] * w2[k][j]).sum();
        }
    }
    let (t, d) = (
        f64::from(a[0]) + f64::from(a[3]),
        f64::from(a[0]) * f64::from(a[3]) - f64::from(a[1]) * f64::from(a[2]),
    );
    let want_lo = 0.5 * (t - (t * t - 4.0 * d).sqrt());
    let (lo, _) = kernels::sym_extremes(&mut a, 2, &mut [0f32; 2], true);
    assert!(
        close(f64::from(lo), want_lo, 1e-3),
        "f32 lambda_min {lo:e}, want {want_lo:e}"
    );
    // A 20×20 Gram at 1e±150 per entry (1e±300 per Gram entry).
    let mut rng = Rng::new(4);
    for s in [1e-150f64, 1e150] {
        let mut wm = DMatrix::<f64>::zeros(20, 30);
        rng.fill_gaussian(&mut wm, 1.0);
        let g1 = &wm * wm.transpose();
        let (dl, dh) = dense_extremes(&g1);
        let mut gs: Vec<f64> = g1.iter().map(|&x| x * s * s).collect();
        let (lo, hi) = kernels::sym_extremes(&mut gs, 20, &mut [0.0; 20], true);
        assert!(
            close(hi, dh * s * s, 1e-12),
            "s={s:e}: {hi:e} vs {:e}",
            dh * s * s
        );
        assert!(
            close(lo, dl * s * s, 1e-10),
            "s={s:e}: {lo:e} vs {:e}",
            dl * s * s
        );
    }
}

/// `gram_nt` (each pair once, sums in registers for r ≤ 8) gives the bits
/// of the general product `mm_nt(A, Aᵀ)`, in f64 and f32.
#[test]
fn gram_nt_same_bits_as_product() {
    let mut rng = Rng::new(33);
    for r in 1usize..=10 {
        for c in [1usize, 3, 16, 40, 300] {
            let mut w = DMatrix::<f64>::zeros(r, c);
            rng.fill_gaussian(&mut w, 1.0);
            let mut want = vec![0.0; r * r];
            kernels::mm_nt(&mut want, w.as_slice(), w.as_slice(), r, c);
            let mut got = vec![f64::NAN; r * r];
            kernels::gram_nt(&mut got, w.as_slice(), r, c);
            assert!(
                want.iter()
                    .zip(&got)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "r={r} c={c}"
            );
            let w32: Vec<f32> = w.iter().map(|&x| x as f32).collect();
            let mut want32 = vec![0f32; r * r];
            kernels::mm_nt(&mut want32, &w32, &w32, r, c);
            let mut got32 = vec![f32::NAN; r * r];
            kernels::gram_nt(&mut got32, &w32, r, c);
            assert!(want32
                .iter()
                .zip(&got32)
                .all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }
}

/// Every eigenvalue of `a` by bisection ([`kernels::sym_spectrum`]) against
/// nalgebra's dense decomposition, and the counts between them.
fn check_spectrum(a: &DMatrix<f64>) -> Result<(), TestCaseError> {
    let p = a.nrows();
    let mut dense: Vec<f64> = SymmetricEigen::new(a.clone())
        .eigenvalues
        .iter()
        .cloned()
        .collect();
    dense.sort_by(|x, y| x.partial_cmp(y).unwrap());
    let scale = dense.iter().fold(0.0f64, |m, &x| m.max(x.abs())) + f64::MIN_POSITIVE;
    let tol = 16.0 * (p as f64) * f64::EPSILON * scale;
    let mut buf = a.as_slice().to_vec();
    let mut work = vec![0.0; p];
    let s = kernels::sym_spectrum(&mut buf, p, &mut work).unwrap();
    prop_assert_eq!(s.size(), p);
    for (k, &l) in dense.iter().enumerate() {
        let got = s.smallest(k);
        prop_assert!((got - l).abs() <= tol, "p={p} k={k}: {got} vs {l}");
        prop_assert_eq!(s.largest(p - 1 - k).to_bits(), got.to_bits());
    }
    // Counts at points well between eigenvalues are exact.
    for w in dense.windows(2) {
        if w[1] - w[0] > 4.0 * tol {
            let mid = 0.5 * (w[0] + w[1]);
            let below = dense.iter().filter(|&&l| l < mid).count();
            prop_assert_eq!(s.count_below(mid), below, "p={} at {}", p, mid);
        }
    }
    // (Counts resolve down to the pivot safeguard, about 1e-308.)
    let off = 4.0 * tol + scale * 1e-3 + 1e-300;
    prop_assert_eq!(s.count_below(dense[p - 1] + off), p);
    prop_assert_eq!(s.count_below(dense[0] - off), 0);
    prop_assert_eq!(s.smallest(p), 0.0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 120, ..ProptestConfig::default() })]

    /// Random Grams (rank-deficient when h < p) and indefinite matrices at
    /// sizes around the Jacobi limit, entries from 1e-150 to 1e150.
    #[test]
    fn spectrum_matches_dense(p in 1usize..90, h in 1usize..100, seed in any::<u64>(), log_s in -150.0f64..150.0, psd in any::<bool>()) {
        let mut rng = Rng::new(seed);
        let s = 10f64.powf(log_s);
        let a = if psd {
            let mut w = DMatrix::<f64>::zeros(p, h);
            rng.fill_gaussian(&mut w, s);
            &w * w.transpose()
        } else {
            let mut b = DMatrix::<f64>::zeros(p, p);
            rng.fill_gaussian(&mut b, s);
            &b + b.transpose()
        };
        check_spectrum(&a)?;
    }
}

/// Multiple eigenvalues, a zero matrix, a diagonal one and a large one.
#[test]
fn spectrum_of_structured_matrices() {
    let run = |a: DMatrix<f64>| check_spectrum(&a).unwrap();
    run(DMatrix::identity(70, 70) * 3.0);
    run(DMatrix::zeros(5, 5));
    run(DMatrix::from_diagonal(
        &overlin_core::nalgebra::DVector::from_fn(97, |i, _| (i as f64 - 40.0) * 0.5),
    ));
    let mut rng = Rng::new(7);
    let mut w = DMatrix::<f64>::zeros(200, 150);
    rng.fill_gaussian(&mut w, 1.0);
    run(&w * w.transpose());
}

/// Above `JACOBI_MAX` the set-up constants come from bisection: the data
/// spectrum of a squared loss (`μ`, `K`, rank check), `‖W*‖₂` and the
/// imbalance summaries agree with dense decompositions, and a rank-deficient
/// `X` is still refused.
#[test]
fn large_setup_constants_match_dense() {
    use overlin_core::linalg::JACOBI_MAX;
    let (samples, n, m, h) = (150, 80, 70, 160);
    assert!(n > JACOBI_MAX && n + m > JACOBI_MAX);
    let mut rng = Rng::new(11);
    let mut x = DMatrix::<f64>::zeros(samples, n);
    rng.fill_gaussian(&mut x, 1.0);
    let mut y = DMatrix::<f64>::zeros(samples, m);
    rng.fill_gaussian(&mut y, 1.0);
    let loss = SquaredLoss::new(x.clone(), y.clone()).unwrap();
    let c = *loss.constants();
    let (lmin, lmax) = dense_extremes(&(x.transpose() * &x));
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
    assert!(
        rel(c.mu * samples as f64, lmin) < 1e-10,
        "{} vs {lmin}",
        c.mu
    );
    assert!(rel(c.k * samples as f64, lmax) < 1e-12);
    let ws = loss.minimizer().clone();
    let svd = ws.clone().svd(false, false).singular_values;
    assert!(rel(c.w_star.spectral, svd.max()) < 1e-12);
    assert!(rel(c.w_star.sigma_min, svd.min()) < 1e-8);
    assert_eq!(c.w_star.rank, m);
    // A repeated column: rank n − 1, refused with the rank named.
    let mut xd = x.clone();
    let c0 = xd.column(0).clone_owned();
    xd.set_column(1, &c0);
    match SquaredLoss::new(xd, y) {
        Err(ProblemError::RankDeficient { rank, needed, .. }) => {
            assert_eq!((rank, needed), (n - 1, n));
        }
        other => panic!("expected rank deficiency, got {other:?}"),
    }
    // Imbalance summaries (n + m = 150 > JACOBI_MAX) against the dense h×h D.
    let mut w1 = DMatrix::<f64>::zeros(n, h);
    rng.fill_gaussian(&mut w1, 0.3);
    let mut w2 = DMatrix::<f64>::zeros(h, m);
    rng.fill_gaussian(&mut w2, 0.5);
    let net = TwoLayer::new(w1.clone(), w2.clone()).unwrap();
    let mut iws = ImbalanceWorkspace::new(Dyn(n), Dyn(h), Dyn(m));
    let s = imbalance_spectrum(&net, &mut iws);
    assert!(iws.eigenvalues().is_empty());
    let d = w1.transpose() * &w1 - &w2 * w2.transpose();
    let mut e: Vec<f64> = SymmetricEigen::new(d).eigenvalues.iter().cloned().collect();
    e.sort_by(|a, b| b.partial_cmp(a).unwrap());
    let dense = overlin_core::imbalance::summarize(&e, n, m);
    let scale = e[0].abs().max(e[h - 1].abs());
    for (got, want) in [
        (s.lambda_max, dense.lambda_max),
        (s.neg_lambda_max, dense.neg_lambda_max),
        (s.alpha_imb, dense.alpha_imb),
    ] {
        assert!((got - want).abs() <= 1e-11 * scale, "{got} vs {want}");
    }
    assert!(s.alpha_imb > 0.0 || dense.alpha_imb <= 1e-11 * scale);
}

/// The blocked Householder QR against the unblocked one: the same `R` and
/// `Qᵀb` to rounding at awkward sizes (tall, square, wide, partial last
/// panel, a zero column, a rank-deficient block), and the very same bits
/// when it falls back (few columns, or too little scratch).
#[test]
fn blocked_qr_matches_unblocked() {
    let cases = [
        (70usize, 65usize, 3usize),
        (65, 65, 0),
        (200, 100, 7),
        (100, 150, 2),
        (300, 97, 33),
        (129, 80, 1),
        (50, 40, 5),
    ];
    for (case, &(rows, cols, q)) in cases.iter().enumerate() {
        let mut rng = Rng::new(case as u64 + 100);
        let mut a = DMatrix::<f64>::zeros(rows, cols);
        rng.fill_gaussian(&mut a, 1.0);
        if cols > 10 {
            // A zero column and a repeated one (rank-deficient).
            a.column_mut(3).fill(0.0);
            let c = a.column(5).clone_owned();
            a.set_column(9, &c);
        }
        let mut b = DMatrix::<f64>::zeros(rows, q);
        rng.fill_gaussian(&mut b, 1.0);
        let (mut a0, mut b0) = (a.clone(), b.clone());
        kernels::householder_qr(a0.as_mut_slice(), rows, cols, Some(b0.as_mut_slice()));
        let (mut a1, mut b1) = (a.clone(), b.clone());
        let mut work = vec![0.0; rows * 96 + 2048];
        kernels::householder_qr_blocked(
            a1.as_mut_slice(),
            rows,
            cols,
            Some(b1.as_mut_slice()),
            &mut work,
        );
        let scale = a.norm() + b.norm();
        let diff = (&a1 - &a0).abs().max().max((&b1 - &b0).abs().max());
        if cols <= kernels::QR_UNBLOCKED_MAX {
            assert_eq!(bits(a1.as_slice()), bits(a0.as_slice()), "case {case}");
            assert_eq!(bits(b1.as_slice()), bits(b0.as_slice()), "case {case}");
        } else {
            assert!(diff <= 1e-13 * scale, "case {case}: {diff:e}");
            assert!(a1 != a0, "case {case}: the blocked path did not run");
        }
        // Below the diagonal: exact zeros, as the unblocked routine leaves.
        for j in 0..cols {
            for i in (j + 1)..rows {
                assert_eq!(a1[(i, j)], 0.0, "case {case} ({i},{j})");
            }
        }
        // Half-width panels (less scratch): the same to rounding.
        let (mut a3, mut b3) = (a.clone(), b.clone());
        let mut half = vec![0.0; rows * 48 + 512];
        kernels::householder_qr_blocked(
            a3.as_mut_slice(),
            rows,
            cols,
            Some(b3.as_mut_slice()),
            &mut half,
        );
        let diff3 = (&a3 - &a0).abs().max().max((&b3 - &b0).abs().max());
        assert!(diff3 <= 1e-13 * scale, "case {case}: {diff3:e}");
        // Too little scratch: the unblocked bits.
        let (mut a2, mut b2) = (a.clone(), b.clone());
        let mut short = vec![0.0; rows * 40];
        kernels::householder_qr_blocked(
            a2.as_mut_slice(),
            rows,
            cols,
            Some(b2.as_mut_slice()),
            &mut short,
        );
        assert_eq!(bits(a2.as_slice()), bits(a0.as_slice()), "case {case}");
        assert_eq!(bits(b2.as_slice()), bits(b0.as_slice()), "case {case}");
    }
}
