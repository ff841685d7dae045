//! The a-priori certificate (Theorem 2, THEORY §8): its numbers against the
//! formulas, its optimality against a brute-force search, and the theorem
//! itself on real runs from random imbalanced starts (f64).

// Tests may panic: that is how they fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use overlin_core::apriori::{
    apriori_certificate, certificate_for_step, AlphaSource, AprioriInputs, NoCertificate,
};
use overlin_core::imbalance::{beta_upper_bound, ImbalanceSummary};
use overlin_core::nalgebra::{DMatrix, Dyn};
use overlin_core::Rng;
use overlin_core::*;
use proptest::prelude::*;

const EPS: f64 = f64::EPSILON;

type Loss64 = SquaredLoss<f64, Dyn, Dyn, Dyn>;

fn gap_tol(gap: f64, l_star: f64) -> f64 {
    8.0 * EPS * (gap.abs() + l_star.abs() + 1.0)
}

/// The margin `c p₀²` of THEORY §8.1 recomputed here, with the code's
/// rounding rules: `σ_min(W*)²` lowered by `4(n+m)²ε‖W*‖₂²` (the error of a
/// Gram eigenvalue), and a `p₀` at or below `1024 ε ‖W*‖₂` counting as none.
fn margin_cp0sq(inp: &AprioriInputs<f64>) -> f64 {
    let d = (inp.n + inp.m) as f64;
    let s2 = inp.w_star_sigma_min.min(inp.w_star_spec).powi(2)
        - 4.0 * d * d * EPS * inp.w_star_spec.powi(2);
    let p0 = (s2.max(0.0).sqrt() - (2.0 * inp.gap0 / inp.mu).sqrt()).max(0.0);
    let c = if inp.n == inp.m { 4.0 } else { 1.0 };
    if p0 > 1024.0 * EPS * inp.w_star_spec {
        c * p0 * p0
    } else {
        0.0
    }
}

/// `α_imb(D₀)`, or 0 at the rounding level of the spectrum (`1024 ε β̄₀`).
fn effective_alpha_imb(inp: &AprioriInputs<f64>) -> f64 {
    let p_bar = inp.w_star_spec + (2.0 * inp.gap0 / inp.mu).sqrt();
    let im = inp.imbalance;
    let beta0 = beta_upper_bound(im.lambda_max, im.neg_lambda_max, p_bar);
    if im.alpha_imb > 1024.0 * EPS * beta0 {
        im.alpha_imb
    } else {
        0.0
    }
}

/// Checks the certificate's numbers against THEORY §8 recomputed here:
/// `ᾱ = max(α_imb − δ, c p₀²/β̄) > 0` (§8.1), `β̄` the §7 bound at `l + δ`,
/// `K̄`, `η̄K̄ < 2`, `δ ≥ η̄(L₀−L*)/(1 − η̄K̄/2)` (the drift of a `c ≥ η̄K̄`),
/// `ρ̄`, and the reported source of `ᾱ`.
fn check_formulas(inp: &AprioriInputs<f64>, c: &AprioriCertificate<f64>) {
    let tol = 1e-13;
    let g_bar = (2.0 * inp.k * inp.gap0).sqrt();
    let p_bar = inp.w_star_spec + (2.0 * inp.gap0 / inp.mu).sqrt();
    let im = inp.imbalance;
    assert!(c.eta_bar > 0.0);
    assert!(c.alpha_bar > 0.0);
    let beta = beta_upper_bound(im.lambda_max + c.delta, im.neg_lambda_max + c.delta, p_bar);
    assert!((c.beta_bar - beta).abs() <= tol * beta);
    let imb = effective_alpha_imb(inp) - c.delta;
    let margin = margin_cp0sq(inp) / beta;
    assert!((c.alpha_imbalance - imb).abs() <= tol * im.alpha_imb.max(c.delta));
    assert!((c.alpha_margin - margin).abs() <= tol * margin);
    let alpha = imb.max(margin);
    assert!(
        (c.alpha_bar - alpha).abs() <= tol * alpha.max(im.alpha_imb),
        "alpha_bar {} vs {alpha}",
        c.alpha_bar
    );
    let source = match (imb > 0.0, margin > 0.0) {
        (true, true) => AlphaSource::Both,
        (false, true) => AlphaSource::Margin,
        _ => AlphaSource::Imbalance,
    };
    assert_eq!(c.source, source, "{c:?}");
    let f = 1.0 + c.eta_bar * g_bar / 2.0;
    let k_bar = inp.k * beta * f * f + g_bar;
    assert!((c.k_bar - k_bar).abs() <= tol * k_bar);
    let ek = c.eta_bar * k_bar;
    assert!(ek < 2.0, "eta K = {ek}");
    let delta_min = c.eta_bar * inp.gap0 / (1.0 - ek / 2.0);
    assert!(
        c.delta >= delta_min * (1.0 - tol),
        "delta {} < {}",
        c.delta,
        delta_min
    );
    // The drift's c is the smallest verified one: not much above η̄K̄.
    let c_used = 2.0 * (1.0 - c.eta_bar * inp.gap0 / c.delta);
    assert!(
        c_used <= ek * (1.0 + 1e-6) + 1e-12,
        "c {c_used} vs eta K {ek}"
    );
    let rho = 1.0 - inp.mu * c.alpha_bar * c.eta_bar * (2.0 - ek);
    assert!((c.rho_bar - rho).abs() <= 4.0 * EPS);
    assert!(c.rho_bar < 1.0 && c.rho_bar >= 0.0);
}

/// Independent brute force: for `η̄` on a fine grid, the smallest consistent
/// `c` by plain fixed-point iteration `c ← η̄K̄(c)` from 0 (monotone), then
/// `ρ̄`; returns the best `ρ̄` found.
fn brute_force_rho(inp: &AprioriInputs<f64>, eta_hi: f64, points: usize) -> f64 {
    let g_bar = (2.0 * inp.k * inp.gap0).sqrt();
    let p_bar = inp.w_star_spec + (2.0 * inp.gap0 / inp.mu).sqrt();
    let im = inp.imbalance;
    let mut best = 1.0f64;
    for i in 1..=points {
        let eta = eta_hi * i as f64 / points as f64;
        let kbar = |c: f64| {
            let delta = eta * inp.gap0 / (1.0 - c / 2.0);
            let beta = beta_upper_bound(im.lambda_max + delta, im.neg_lambda_max + delta, p_bar);
            let f = 1.0 + eta * g_bar / 2.0;
            (inp.k * beta * f * f + g_bar, delta)
        };
        let mut c = 0.0;
        let mut ok = false;
        for _ in 0..100_000 {
            let next = eta * kbar(c).0;
            if !(next < 2.0) {
                break;
            }
            if next - c <= 1e-15 * next {
                c = next;
                ok = true;
                break;
            }
            c = next;
        }
        if !ok {
            continue;
        }
        let (k, delta) = kbar(c);
        let beta = beta_upper_bound(im.lambda_max + delta, im.neg_lambda_max + delta, p_bar);
        let alpha = (effective_alpha_imb(inp) - delta).max(margin_cp0sq(inp) / beta);
        if alpha <= 0.0 {
            continue;
        }
        best = best.min(1.0 - inp.mu * alpha * eta * (2.0 - eta * k));
    }
    best
}

fn inputs() -> impl Strategy<Value = AprioriInputs<f64>> {
    (
        -2.0f64..0.0,
        -1.0f64..1.0,
        0.0f64..3.0,
        -4.0f64..1.0,
        -1.0f64..2.0,
        -1.0f64..2.0,
        0.0f64..1.0,
        prop_oneof![Just(0.0f64), 0.0f64..1.0],
        prop_oneof![Just((3usize, 3usize)), Just((2, 5)), Just((5, 2))],
    )
        .prop_map(|(lmu, lk, ws, lgap, ll1, ll2, frac, smin, (n, m))| {
            let k = 10f64.powf(lk);
            let (l1, l2) = (10f64.powf(ll1), 10f64.powf(ll2));
            AprioriInputs {
                mu: k * 10f64.powf(lmu),
                k,
                w_star_spec: ws,
                gap0: 10f64.powf(lgap),
                imbalance: ImbalanceSummary {
                    lambda_max: l1,
                    neg_lambda_max: l2,
                    alpha_imb: frac * (l1 + l2),
                },
                w_star_sigma_min: smin * ws,
                n,
                m,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The certificate satisfies THEORY §8's formulas and is at least as good
    /// as a 2000-point brute-force search (within 10⁻⁶ relative in `1 − ρ̄`).
    #[test]
    fn certificate_is_consistent_and_near_optimal(inp in inputs()) {
        match apriori_certificate(&inp) {
            Ok(c) => {
                check_formulas(&inp, &c);
                let g_bar = (2.0 * inp.k * inp.gap0).sqrt();
                let p_bar = inp.w_star_spec + (2.0 * inp.gap0 / inp.mu).sqrt();
                let im = inp.imbalance;
                let beta0 = beta_upper_bound(im.lambda_max, im.neg_lambda_max, p_bar);
                let mut eta_hi = 2.0 / (inp.k * beta0 + g_bar);
                if margin_cp0sq(&inp) == 0.0 {
                    eta_hi = eta_hi.min(im.alpha_imb / inp.gap0);
                }
                // Feasibility is monotone in η̄ (THEORY §8): every smaller step
                // is certified too, and by the same formulas; and at every
                // step the margin-aware ᾱ is at least the imbalance-only one.
                let imb_only = inp.imbalance_only();
                for i in 1..=50 {
                    let eta = c.eta_bar * i as f64 / 50.0;
                    let ci = certificate_for_step(&inp, eta);
                    prop_assert!(ci.is_ok(), "eta {eta} <= eta_bar {} not certified: {ci:?}", c.eta_bar);
                    let ci = ci.unwrap();
                    check_formulas(&inp, &ci);
                    if let Ok(co) = certificate_for_step(&imb_only, eta) {
                        prop_assert!(ci.alpha_bar >= co.alpha_bar && ci.rho_bar <= co.rho_bar,
                            "margin-aware {ci:?} below imbalance-only {co:?}");
                    }
                }
                // The best margin-aware rate is at least the imbalance-only one.
                if let Ok(co) = apriori_certificate(&imb_only) {
                    prop_assert!(c.rho_bar <= co.rho_bar * (1.0 + 1e-12),
                        "margin-aware rho_bar {} > imbalance-only {}", c.rho_bar, co.rho_bar);
                }
                let brute = brute_force_rho(&inp, eta_hi, 2000);
                prop_assert!(1.0 - c.rho_bar >= (1.0 - brute) * (1.0 - 1e-6),
                    "rho_bar {} worse than brute force {}", c.rho_bar, brute);
            }
            Err(NoCertificate::DriftExceedsMargin { .. }) => {
                // Then the brute force finds nothing either.
                let g_bar = (2.0 * inp.k * inp.gap0).sqrt();
                let p_bar = inp.w_star_spec + (2.0 * inp.gap0 / inp.mu).sqrt();
                let im = inp.imbalance;
                let beta0 = beta_upper_bound(im.lambda_max, im.neg_lambda_max, p_bar);
                let eta_hi = 2.0 / (inp.k * beta0 + g_bar);
                prop_assert_eq!(brute_force_rho(&inp, eta_hi, 2000), 1.0);
            }
            Err(NoCertificate::NoMargin { alpha_imb, gap0, margin_gap }) => {
                // No loss margin, and only an imbalance at the rounding level
                // of the spectrum (1024 ε β̄₀).
                prop_assert_eq!(margin_cp0sq(&inp), 0.0);
                prop_assert_eq!(gap0, inp.gap0);
                prop_assert_eq!(margin_gap, 0.5 * inp.mu * inp.w_star_sigma_min.powi(2));
                let p_bar = inp.w_star_spec + (2.0 * inp.gap0 / inp.mu).sqrt();
                let im = inp.imbalance;
                let beta0 = beta_upper_bound(im.lambda_max, im.neg_lambda_max, p_bar);
                prop_assert!(alpha_imb <= 1024.0 * EPS * beta0);
            }
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
    }
}

/// Regression: candidate steps were rejected sporadically when the
/// verified `c` and the reported `K̄` were computed in different orders
/// (one ulp apart), so the search missed the optimum.
#[test]
fn no_sporadic_rejections() {
    let inp = AprioriInputs {
        mu: 0.006287245383243672,
        k: 0.5577664407002464,
        w_star_spec: 2.0899018037383374,
        gap0: 0.006232777977264593,
        imbalance: ImbalanceSummary {
            lambda_max: 1.0,
            neg_lambda_max: 5.871387879825916,
            alpha_imb: 4.68341676393247,
        },
        w_star_sigma_min: 0.0,
        n: 3,
        m: 2,
    };
    for i in 0..=400 {
        let eta = 0.14 + 0.02 * i as f64 / 400.0;
        let c = certificate_for_step(&inp, eta);
        assert!(c.is_ok(), "eta {eta}: {c:?}");
        check_formulas(&inp, &c.unwrap());
    }
    let best = apriori_certificate(&inp).unwrap();
    assert!((best.eta_bar - 0.15049).abs() < 1e-4, "{best:?}");
}

#[test]
fn reasons() {
    let base = AprioriInputs {
        mu: 0.5,
        k: 2.0,
        w_star_spec: 1.0,
        gap0: 0.3,
        imbalance: ImbalanceSummary {
            lambda_max: 4.0,
            neg_lambda_max: 0.5,
            alpha_imb: 2.0,
        },
        w_star_sigma_min: 0.0,
        n: 3,
        m: 2,
    };
    assert!(apriori_certificate(&base).is_ok());
    let no_margin = AprioriInputs {
        imbalance: ImbalanceSummary {
            alpha_imb: 0.0,
            ..base.imbalance
        },
        ..base
    };
    assert_eq!(
        apriori_certificate(&no_margin),
        Err(NoCertificate::NoMargin {
            alpha_imb: 0.0,
            gap0: 0.3,
            margin_gap: 0.0
        })
    );
    // A margin at the rounding level of the spectrum counts as none.
    let noise = AprioriInputs {
        imbalance: ImbalanceSummary {
            alpha_imb: 1e-15,
            ..base.imbalance
        },
        ..base
    };
    assert_eq!(
        apriori_certificate(&noise),
        Err(NoCertificate::NoMargin {
            alpha_imb: 1e-15,
            gap0: 0.3,
            margin_gap: 0.0
        })
    );
    assert_eq!(
        apriori_certificate(&AprioriInputs { gap0: 0.0, ..base }),
        Err(NoCertificate::AtMinimum)
    );
    for bad in [
        AprioriInputs {
            mu: f64::NAN,
            ..base
        },
        AprioriInputs { mu: 0.0, ..base },
        AprioriInputs { k: 0.1, ..base },
        AprioriInputs {
            gap0: f64::INFINITY,
            ..base
        },
        AprioriInputs {
            w_star_spec: -1.0,
            ..base
        },
    ] {
        assert_eq!(
            apriori_certificate(&bad),
            Err(NoCertificate::InvalidInputs),
            "{bad:?}"
        );
    }
    // Any margin above rounding admits a small enough η̄ (η̄ ≤ α_imb/(L₀−L*)),
    // however slow the guaranteed rate.
    let tiny = AprioriInputs {
        gap0: 50.0,
        imbalance: ImbalanceSummary {
            alpha_imb: 1e-6,
            ..base.imbalance
        },
        ..base
    };
    let c = apriori_certificate(&tiny).unwrap();
    check_formulas(&tiny, &c);
    assert!(c.eta_bar < 1e-6 / 50.0);
    assert!(c.rho_bar > 1.0 - 1e-12 && c.rho_bar < 1.0);
    // A given step too large for the margin has no certificate.
    assert_eq!(
        certificate_for_step(&tiny, 1e-3),
        Err(NoCertificate::DriftExceedsMargin { alpha_imb: 1e-6 })
    );
    assert_eq!(certificate_for_step(&tiny, c.eta_bar), Ok(c));
    for e in [
        NoCertificate::NoMargin {
            alpha_imb: 0.0,
            gap0: 1.0,
            margin_gap: 0.5,
        },
        NoCertificate::DriftExceedsMargin { alpha_imb: 1.0 },
        NoCertificate::AtMinimum,
        NoCertificate::InvalidInputs,
    ] {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn iterations_for_counts() {
    let c = AprioriCertificate {
        rho_bar: 0.5,
        ..Default::default()
    };
    assert_eq!(c.iterations_for(1.0, 1.0), Some(0));
    assert_eq!(c.iterations_for(1.0, 2.0), Some(0));
    assert_eq!(c.iterations_for(1.0, 0.25), Some(2));
    assert_eq!(c.iterations_for(1.0, 0.2), Some(3));
    assert_eq!(c.iterations_for(1.0, 0.0), None);
    assert_eq!(c.iterations_for(f64::NAN, 0.1), None);
    let slow = AprioriCertificate {
        rho_bar: 1.0 - 1e-6,
        ..Default::default()
    };
    // ln(10)/−ln(1 − 10⁻⁶) = 2302585.09…/(1 + 5·10⁻⁷ + …) = 2302583.94…
    assert_eq!(slow.iterations_for(10.0, 1.0), Some(2_302_584));
    let none = AprioriCertificate {
        rho_bar: 1.0,
        ..Default::default()
    };
    assert_eq!(none.iterations_for(10.0, 1.0), None);
    assert_eq!(
        AprioriCertificate::<f32> {
            rho_bar: 0.9,
            ..Default::default()
        }
        .iterations_for(1.0, 1e-3),
        Some(66)
    );
}

// ---------------------------------------------------------------- Theorem 2 on real runs

fn problem(seed: u64, samples: usize, n: usize, m: usize) -> Loss64 {
    let mut rng = Rng::new(seed);
    let mut x = DMatrix::<f64>::zeros(samples, n);
    rng.fill_gaussian(&mut x, 1.0);
    let mut theta = DMatrix::<f64>::zeros(n, m);
    rng.fill_gaussian(&mut theta, 1.0);
    let mut noise = DMatrix::<f64>::zeros(samples, m);
    rng.fill_gaussian(&mut noise, 0.1);
    let y = &x * &theta + noise;
    SquaredLoss::new(x, y).unwrap()
}

fn alpha_beta(w1: &DMatrix<f64>, w2: &DMatrix<f64>) -> (f64, f64) {
    let (n, h) = w1.shape();
    let m = w2.ncols();
    let s1 = w1.clone().svd(false, false).singular_values;
    let s2 = w2.clone().svd(false, false).singular_values;
    let mx = |s: &overlin_core::nalgebra::DVector<f64>| s.iter().cloned().fold(0.0, f64::max);
    let mn =
        |s: &overlin_core::nalgebra::DVector<f64>| s.iter().cloned().fold(f64::INFINITY, f64::min);
    let a1 = if h >= n { mn(&s1).powi(2) } else { 0.0 };
    let a2 = if h >= m { mn(&s2).powi(2) } else { 0.0 };
    (a1 + a2, mx(&s1).powi(2) + mx(&s2).powi(2))
}

/// Everything one checked trajectory reports.
struct Outcome {
    iterations: usize,
    reached_eps: bool,
}

/// GD with `η_t = min(1/(Kβ_t + ‖G_t‖₂), η̄)` (Local clipped to `η̄`),
/// stepped by hand with dense linear algebra, checking every iterate
/// against the certificate.
fn clipped_local_run(
    net: &DynNet<f64>,
    loss: &mut Loss64,
    cert: &AprioriCertificate<f64>,
    eps: f64,
    cap: usize,
) -> Outcome {
    let c = *loss.constants();
    let (mut w1, mut w2) = (net.w1.clone(), net.w2.clone());
    let mut g = DMatrix::<f64>::zeros(w1.nrows(), w2.ncols());
    let e0 = loss.evaluate_with_gradient(&(&w1 * &w2), &mut g);
    let gap0 = e0.gap;
    let mut t = 0usize;
    loop {
        let e = loss.evaluate_with_gradient(&(&w1 * &w2), &mut g);
        check_iterate(
            cert,
            t,
            e.gap,
            gap0,
            c.l_star,
            alpha_beta(&w1, &w2),
            w1.ncols(),
        );
        if e.gap <= eps || t >= cap {
            return Outcome {
                iterations: t,
                reached_eps: e.gap <= eps,
            };
        }
        let (_, beta) = alpha_beta(&w1, &w2);
        let s = g
            .clone()
            .svd(false, false)
            .singular_values
            .iter()
            .cloned()
            .fold(0.0, f64::max);
        let eta = (1.0 / (c.k * beta + s)).min(cert.eta_bar);
        let a = &g * w2.transpose();
        let b = w1.transpose() * &g;
        w1 -= a * eta;
        w2 -= b * eta;
        t += 1;
    }
}

/// Theorem 2's claims at iterate `t`, with THEORY §11's rounding allowance
/// on the gap and a spectral allowance of `16 h ε β̄` on `α_t, β_t`.
fn check_iterate(
    cert: &AprioriCertificate<f64>,
    t: usize,
    gap: f64,
    gap0: f64,
    l_star: f64,
    (alpha, beta): (f64, f64),
    h: usize,
) {
    let spec_tol = 16.0 * h as f64 * EPS * cert.beta_bar;
    assert!(
        alpha >= cert.alpha_bar - spec_tol,
        "t={t}: alpha {alpha} < alpha_bar {}",
        cert.alpha_bar
    );
    assert!(
        beta <= cert.beta_bar + spec_tol,
        "t={t}: beta {beta} > beta_bar {}",
        cert.beta_bar
    );
    let bound = cert.rho_bar.powi(t as i32) * gap0;
    assert!(
        gap <= bound + gap_tol(gap, l_star),
        "t={t}: gap {gap} > rho_bar^t gap0 {bound}"
    );
}

/// Theorem 2 (THEORY §8) on random imbalanced Gaussian starts of several
/// shapes: where a certificate exists, GD with `Constant(η̄)` (through the
/// trainer) and with Local clipped to `η̄` (by hand) keeps `α_t ≥ ᾱ`,
/// `β_t ≤ β̄`, `L_t − L* ≤ ρ̄ᵗ(L₀ − L*)` at every iterate and reaches `ε` within
/// `T(ε)` iterations.
#[test]
fn theorem2_holds_on_real_runs() {
    let shapes = [
        (3, 8, 2),
        (2, 8, 3),
        (3, 10, 3),
        (4, 12, 2),
        (2, 5, 2),
        (3, 6, 3),
    ];
    let mut certified = 0;
    let mut tried = 0;
    let mut worst_use = 0.0f64;
    for (si, &(n, h, m)) in shapes.iter().enumerate() {
        let mut found_for_shape = 0;
        for seed in 0..6u64 {
            for &(sigma, std) in &[(30.0, 0.5), (100.0, 0.3), (10.0, 1.0)] {
                tried += 1;
                let mut loss = problem(1000 + 17 * si as u64 + seed, n + 6, n, m);
                let net: DynNet<f64> = Init::Gaussian { sigma, std }
                    .sample(Dyn(n), Dyn(h), Dyn(m), &mut Rng::new(seed * 31 + si as u64))
                    .unwrap();
                let probe = Trainer::new(
                    net.clone(),
                    loss.clone(),
                    StepRule::Local,
                    TrainerConfig::default(),
                )
                .unwrap();
                let Ok(cert) = probe.summary().apriori else {
                    continue;
                };
                let gap0 = probe.summary().initial_gap;
                let c = *loss.constants();
                check_formulas(
                    &AprioriInputs {
                        mu: c.mu,
                        k: c.k,
                        w_star_spec: c.w_star.spectral,
                        gap0,
                        imbalance: probe.summary().initial_imbalance,
                        w_star_sigma_min: c.w_star.sigma_min,
                        n,
                        m,
                    },
                    &cert,
                );
                let eps = 1e-6 * gap0;
                let t_eps = cert.iterations_for(gap0, eps).unwrap() as usize;
                assert!(t_eps > 0);
                if t_eps > 200_000 {
                    continue;
                }
                certified += 1;
                found_for_shape += 1;

                // Constant(η̄) through the trainer.
                let cfg = TrainerConfig {
                    max_iters: t_eps + 1,
                    tol: Tolerance::Absolute(eps),
                    imbalance_every: 1,
                    stall_window: 0,
                    anytime_every: 7,
                    ..Default::default()
                };
                let mut tr = Trainer::new(
                    net.clone(),
                    loss.clone(),
                    StepRule::Constant(cert.eta_bar),
                    cfg,
                )
                .unwrap();
                let s = tr.run(&mut |r: &StepRecord<f64>| {
                    check_iterate(
                        &cert,
                        r.t,
                        r.gap,
                        gap0,
                        c.l_star,
                        (r.cert.local.alpha, r.cert.local.beta),
                        h,
                    );
                    check_iterate(
                        &cert,
                        r.t + 1,
                        r.next_gap,
                        gap0,
                        c.l_star,
                        (cert.alpha_bar, cert.beta_bar),
                        h,
                    );
                    assert!(r.cert.eta_k_t <= cert.eta_bar * cert.k_bar * (1.0 + 1e-12));
                    assert!(
                        r.drift <= cert.delta * (1.0 + 1e-12),
                        "drift {} > delta {}",
                        r.drift,
                        cert.delta
                    );
                    assert!(
                        r.cert.rho <= cert.rho_bar + 4.0 * EPS,
                        "rho_t {} > rho_bar {}",
                        r.cert.rho,
                        cert.rho_bar
                    );
                    if let Some(im) = r.imbalance {
                        assert!(
                            im.alpha_imb >= cert.alpha_bar - 16.0 * h as f64 * EPS * cert.beta_bar
                        );
                    }
                    true
                });
                assert_eq!(s.status, Status::Converged, "{s:?} T(eps) = {t_eps}");
                assert!(s.iterations <= t_eps, "{} > T(eps) = {t_eps}", s.iterations);
                assert_eq!(s.tally.violations, 0);
                assert_eq!(s.tally.imbalance_violations, 0);
                // The anytime check (THEORY §8.2) certifies from t = 0 with the
                // run's own step, every step qualifies, and the bound held.
                let a = s.anytime;
                assert_eq!(a.certified_from, Some(0));
                assert!(a.applies(), "{a:?}");
                assert_eq!(a.certificate, Some(cert));
                assert_eq!(a.violations, 0, "{a:?}");
                assert_eq!(a.steps_checked as usize, s.iterations);
                assert!(s.iterations as u64 <= a.guaranteed_total.unwrap());
                worst_use = worst_use.max(s.iterations as f64 / t_eps as f64);

                // Local clipped to η̄, by hand.
                let out = clipped_local_run(&net, &mut loss, &cert, eps, t_eps);
                assert!(
                    out.reached_eps,
                    "clipped Local did not reach eps in T(eps) = {t_eps}"
                );
                assert!(out.iterations <= t_eps);
            }
        }
        assert!(
            found_for_shape > 0,
            "no certificate for shape {:?}",
            shapes[si]
        );
    }
    println!("certified {certified} of {tried} starts; worst iterations / T(eps) = {worst_use:.3}");
    assert!(
        certified * 2 >= tried,
        "only {certified} of {tried} starts certified"
    );
}

/// A balanced (spectral) start far from `W*` has `D₀ = 0` and no loss
/// margin: no a-priori certificate, for the stated reason; GD still runs certified a posteriori (THEORY §8).
#[test]
fn spectral_start_has_no_margin() {
    for &(n, h, m) in &[(3, 8, 2), (2, 8, 3), (3, 3, 3), (4, 12, 2)] {
        let loss = problem(7 + n as u64, n + 6, n, m);
        let mut target = DMatrix::<f64>::zeros(n, m);
        Rng::new(h as u64).fill_gaussian(&mut target, 1.0);
        let net = spectral_balanced(&target, Dyn(h)).unwrap();
        let mut tr = Trainer::new(
            net,
            loss,
            StepRule::Local,
            TrainerConfig {
                max_iters: 50,
                ..Default::default()
            },
        )
        .unwrap();
        let s = tr.run(&mut ());
        // A random target: far from W*, so no loss margin either; the
        // reason says how far (THEORY §8.1).
        assert!(
            matches!(s.apriori, Err(NoCertificate::NoMargin { gap0, margin_gap, .. })
                if gap0 >= margin_gap && margin_gap > 0.0),
            "{:?}: {:?} (imbalance {:?})",
            (n, h, m),
            s.apriori,
            s.initial_imbalance
        );
        assert_eq!(s.tally.violations, 0);
    }
}

/// The search is generic: in `f32` it finds about the same certificate.
#[test]
fn f32_agrees_with_f64() {
    let base = AprioriInputs {
        mu: 0.5f64,
        k: 2.0,
        w_star_spec: 1.0,
        gap0: 0.3,
        imbalance: ImbalanceSummary {
            lambda_max: 4.0,
            neg_lambda_max: 0.5,
            alpha_imb: 2.0,
        },
        w_star_sigma_min: 0.0,
        n: 3,
        m: 2,
    };
    let c64 = apriori_certificate(&base).unwrap();
    let c32 = apriori_certificate(&AprioriInputs {
        mu: 0.5f32,
        k: 2.0,
        w_star_spec: 1.0,
        gap0: 0.3,
        imbalance: ImbalanceSummary {
            lambda_max: 4.0,
            neg_lambda_max: 0.5,
            alpha_imb: 2.0,
        },
        w_star_sigma_min: 0.0,
        n: 3,
        m: 2,
    })
    .unwrap();
    assert!(
        ((1.0 - c32.rho_bar as f64) / (1.0 - c64.rho_bar) - 1.0).abs() < 1e-4,
        "{c32:?} vs {c64:?}"
    );
    assert!((c32.eta_bar as f64 / c64.eta_bar - 1.0).abs() < 1e-2);
}
