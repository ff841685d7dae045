#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Property tests that try to break the lemmas of THEORY §3–§7 on random
//! instances (THEORY §11): shapes with n < m, n = m, n > m, random widths
//! (including h below max(n, m)), scales and imbalances, in f64.
//!
//! The bounds are recomputed here from the formulas of THEORY, independently
//! of `overlin_core::certificate`, and compared with what the trainer
//! measures. Tolerance (THEORY §11, docs/ROUNDING.md): a gap is compared
//! with its loss's own rounding bound (`Loss::gap_error`, R2: scale-covariant,
//! `|L*|` only where the gap is a subtraction), a step's next gap with the
//! step's rounding allowance (R5, the one the trainer checks with), and the
//! spectral quantities `8 ε (|lhs| + |rhs|)`-relative.

use overlin_core::loss::AnyLoss;
use overlin_core::nalgebra::{DMatrix, Dyn, SymmetricEigen};
use overlin_core::Rng;
use overlin_core::*;
use proptest::prelude::*;

const EPS: f64 = f64::EPSILON;

#[derive(Clone, Debug)]
struct Instance {
    /// 0 squared, 1 sensing, 2 log-cosh, 3 softmax (THEORY §9).
    loss: usize,
    n: usize,
    m: usize,
    h: usize,
    samples: usize,
    seed: u64,
    sigma: f64,
    std: f64,
    noise: f64,
}

fn instances() -> impl Strategy<Value = Instance> {
    (
        0usize..4,
        (1usize..7, 1usize..7, 1usize..24, 0usize..6),
        any::<u64>(),
        0usize..5,
        -2.0f64..0.7,
        prop::bool::ANY,
    )
        .prop_map(
            |(loss, (n, m, h, extra), seed, s, log_std, noisy)| Instance {
                loss,
                n,
                // softmax needs at least two classes to be interesting; one is allowed too
                m,
                h,
                samples: if loss == 1 {
                    n * m + extra
                } else {
                    n + extra + 2 * (loss / 2) * n
                },
                seed,
                sigma: [0.0, 0.1, 1.0, 5.0, 100.0][s],
                std: 10f64.powf(log_std),
                noise: if noisy { 0.3 } else { 0.0 },
            },
        )
}

fn build(inst: &Instance) -> Option<(DynNet<f64>, AnyLoss<f64>)> {
    let (n, m, s) = (inst.n, inst.m, inst.samples);
    let mut rng = Rng::new(inst.seed);
    let mut theta = DMatrix::<f64>::zeros(n, m);
    // Constructors reject the rare numerically rank-deficient draw (they
    // say so); such instances are skipped.
    let loss = match inst.loss {
        1 => {
            let mut a = DMatrix::<f64>::zeros(s, n * m);
            data::sensing_operator(&mut a, &mut rng);
            let mut y = overlin_core::nalgebra::DVector::<f64>::zeros(s);
            data::sensing_measurements(&a, &mut theta, &mut y, 1.0, inst.noise, &mut rng).ok()?;
            AnyLoss::Sensing(MatrixSensing::new(Dyn(n), Dyn(m), a, y).ok()?)
        }
        k => {
            let mut x = DMatrix::<f64>::zeros(s, n);
            data::gaussian_data(&mut x, &mut rng);
            let mut y = DMatrix::<f64>::zeros(s, m);
            match k {
                0 => {
                    data::linear_targets(&x, &mut theta, &mut y, 1.0, inst.noise, &mut rng).ok()?;
                    AnyLoss::Squared(SquaredLoss::new(x, y).ok()?)
                }
                2 => {
                    data::linear_targets(&x, &mut theta, &mut y, 1.0, inst.noise + 0.5, &mut rng)
                        .ok()?;
                    AnyLoss::LogCosh(LogCoshRidge::new(x, y, 0.1).ok()?)
                }
                _ => {
                    data::one_hot_labels(&x, &mut theta, &mut y, 1.0, inst.noise, &mut rng).ok()?;
                    AnyLoss::Softmax(SoftmaxRidge::new(x, y, 0.05).ok()?)
                }
            }
        }
    };
    let net = Init::Gaussian {
        sigma: inst.sigma,
        std: inst.std,
    }
    .sample(Dyn(n), Dyn(inst.h), Dyn(m), &mut rng)
    .ok()?;
    Some((net, loss))
}

fn one_step(
    net: DynNet<f64>,
    loss: AnyLoss<f64>,
    rule: StepRule<f64>,
) -> (StepRecord<f64>, DynNet<f64>) {
    let cfg = TrainerConfig {
        max_iters: 1,
        ..Default::default()
    };
    let mut tr = Trainer::new(net, loss, rule, cfg).unwrap();
    let rec = tr.step().unwrap();
    (rec, tr.into_parts().0)
}

/// Independent local constants from dense SVDs (THEORY §2).
fn dense_alpha_beta(net: &DynNet<f64>) -> (f64, f64) {
    let (n, h, m) = net.shape();
    let s1 = net.w1.clone().svd(false, false).singular_values;
    let s2 = net.w2.clone().svd(false, false).singular_values;
    let max1 = s1.iter().cloned().fold(0.0, f64::max);
    let max2 = s2.iter().cloned().fold(0.0, f64::max);
    let min1 = if h >= n {
        s1.iter().cloned().fold(f64::INFINITY, f64::min)
    } else {
        0.0
    };
    let min2 = if h >= m {
        s2.iter().cloned().fold(f64::INFINITY, f64::min)
    } else {
        0.0
    };
    (min1 * min1 + min2 * min2, max1 * max1 + max2 * max2)
}

fn dense_imbalance(net: &DynNet<f64>) -> Vec<f64> {
    let d = net.w1.transpose() * &net.w1 - &net.w2 * net.w2.transpose();
    let mut e: Vec<f64> = SymmetricEigen::new(d).eigenvalues.iter().cloned().collect();
    e.sort_by(|a, b| b.partial_cmp(a).unwrap());
    e
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Lemma 1 (THEORY §3): ‖∇L‖² ≥ 2 μ α_t (L − L*), and α_t, β_t agree
    /// with dense SVDs.
    #[test]
    fn lemma1_local_pl(inst in instances()) {
        let Some((net, loss)) = build(&inst) else { return Ok(()) };
        let c = *loss.constants();
        let (alpha, beta) = dense_alpha_beta(&net);
        let rounding = *loss.rounding();
        let (rec, _) = one_step(net, loss, StepRule::Local);
        let gap_error = rounding.gap_error(rec.gap);
        let l = rec.cert.local;
        prop_assert!((l.alpha - alpha).abs() <= 1e-10 * (beta + 1.0), "alpha {} vs dense {}", l.alpha, alpha);
        prop_assert!((l.beta - beta).abs() <= 1e-10 * (beta + 1.0), "beta {} vs dense {}", l.beta, beta);
        let bound = 2.0 * c.mu * l.alpha * rec.gap;
        // The gap is measured with THEORY §11's allowance; the bound inherits
        // it (PL is tight for softmax along the all-ones class direction,
        // where ℓ is exactly the ridge, so equality up to rounding occurs).
        let tol = 2.0 * c.mu * l.alpha * gap_error + 8.0 * EPS * (l.grad_sq + bound);
        prop_assert!(l.grad_sq >= bound - tol, "g2 {} < 2 mu alpha gap {}", l.grad_sq, bound);
    }

    /// Lemma 2 (THEORY §4) for a sweep of η over six orders of magnitude,
    /// and Theorem 1 (THEORY §5) whenever η K_t(η) < 2.
    #[test]
    fn lemma2_and_theorem1(inst in instances(), log_scale in -3.0f64..1.5) {
        let Some((net, loss)) = build(&inst) else { return Ok(()) };
        let c = *loss.constants();
        // Scale the trial step by the local step so the sweep straddles η K_t = 2.
        let (_, beta) = dense_alpha_beta(&net);
        let probe = build(&inst).unwrap();
        let (r0, _) = one_step(probe.0, probe.1, StepRule::Local);
        let eta = 10f64.powf(log_scale) / (c.k * beta + r0.cert.local.grad_spec);
        let (rec, _) = one_step(net, loss, StepRule::Constant(eta));
        let l = rec.cert.local;
        let f = 1.0 + eta * l.grad_spec / 2.0;
        let k_t = c.k * l.beta * f * f + l.grad_spec;
        let descent = rec.gap - eta * l.grad_sq + 0.5 * eta * eta * k_t * l.grad_sq;
        // The step's rounding allowance (docs/ROUNDING.md R5).
        let tol = rec.check.allowance;
        prop_assert!(tol.is_finite() && tol > 0.0, "allowance {}", tol);
        prop_assert!(rec.next_gap <= descent + tol, "Lemma 2: next gap {} > bound {} + {}", rec.next_gap, descent, tol);
        if eta * k_t < 2.0 {
            let mu_t = c.mu * l.alpha;
            let rho = 1.0 - 2.0 * mu_t * eta + mu_t * k_t * eta * eta;
            prop_assert!(rec.next_gap <= rho * rec.gap + tol,
                "Theorem 1: next gap {} > rho {} * gap {}", rec.next_gap, rho, rec.gap);
            prop_assert!(rec.check.holds);
        }
    }

    /// Lemma 3 (THEORY §7): D_{t+1} = D_t + η²(AᵀA − BBᵀ) exactly, the Weyl
    /// consequences for α_imb and λ₁(±D), and α_t ≥ α_imb(D_t).
    #[test]
    fn lemma3_imbalance_dynamics(inst in instances(), log_scale in -2.0f64..0.3) {
        let Some((net, loss)) = build(&inst) else { return Ok(()) };
        let (n, h, m) = net.shape();
        let mut p = DMatrix::zeros(n, m);
        net.product_into(&mut p);
        let mut g = DMatrix::zeros(n, m);
        let mut l2 = build(&inst).unwrap().1;
        l2.evaluate_with_gradient(&p, &mut g);
        let a = &g * net.w2.transpose();
        let b = net.w1.transpose() * &g;
        let (_, beta) = dense_alpha_beta(&net);
        let eta = 10f64.powf(log_scale) / (loss.constants().k * beta + 1.0);
        let d0 = net.w1.transpose() * &net.w1 - &net.w2 * net.w2.transpose();
        let mut ws = ImbalanceWorkspace::new(Dyn(n), Dyn(h), Dyn(m));
        let s0 = imbalance_spectrum(&net, &mut ws);
        let (alpha0, _) = dense_alpha_beta(&net);
        prop_assert!(alpha0 + 1e-10 * (beta + 1.0) >= s0.alpha_imb, "alpha {} < alpha_imb {}", alpha0, s0.alpha_imb);
        let (rec, net1) = one_step(net, loss, StepRule::Constant(eta));
        let d1 = net1.w1.transpose() * &net1.w1 - &net1.w2 * net1.w2.transpose();
        let predicted = &d0 + (a.transpose() * &a - &b * b.transpose()) * (eta * eta);
        let scale = d0.norm() + (eta * eta) * (a.norm_squared() + b.norm_squared()) + beta;
        prop_assert!((d1 - predicted).norm() <= 64.0 * EPS * scale * (h as f64), "Lemma 3 identity");
        let s1 = imbalance_spectrum(&net1, &mut ws);
        let budget = eta * eta * rec.cert.local.grad_sq;
        let tol = 64.0 * EPS * (h as f64) * (scale + 1.0);
        prop_assert!(s1.alpha_imb >= s0.alpha_imb - budget - tol);
        prop_assert!(s1.lambda_max <= s0.lambda_max + budget + tol);
        prop_assert!(s1.neg_lambda_max <= s0.neg_lambda_max + budget + tol);
    }

    /// THEORY §2: the thin-QR spectrum equals a dense h×h eigen-decomposition.
    #[test]
    fn imbalance_qr_matches_dense(inst in instances()) {
        let Some((net, _)) = build(&inst) else { return Ok(()) };
        let (n, h, m) = net.shape();
        let mut ws = ImbalanceWorkspace::new(Dyn(n), Dyn(h), Dyn(m));
        let s = imbalance_spectrum(&net, &mut ws);
        let dense = dense_imbalance(&net);
        let scale = dense.iter().fold(0.0f64, |a, &x| a.max(x.abs())) + 1e-300;
        // Merge the QR eigenvalues with the structural zeros to h values.
        let mut qr: Vec<f64> = ws.eigenvalues().to_vec();
        qr.resize(h.max(n + m), 0.0);
        qr.sort_by(|a, b| b.partial_cmp(a).unwrap());
        // Extra zeros (h < n+m) sit between the positive and negative ones.
        let pos_qr: Vec<f64> = qr.iter().cloned().filter(|&x| x > 1e-9 * scale).collect();
        let pos_dense: Vec<f64> = dense.iter().cloned().filter(|&x| x > 1e-9 * scale).collect();
        let neg_qr: Vec<f64> = qr.iter().cloned().filter(|&x| x < -1e-9 * scale).collect();
        let neg_dense: Vec<f64> = dense.iter().cloned().filter(|&x| x < -1e-9 * scale).collect();
        prop_assert_eq!(pos_qr.len(), pos_dense.len());
        prop_assert_eq!(neg_qr.len(), neg_dense.len());
        for (a, b) in pos_qr.iter().zip(&pos_dense).chain(neg_qr.iter().zip(&neg_dense)) {
            prop_assert!((a - b).abs() <= 1e-11 * scale * (h as f64), "{} vs {}", a, b);
        }
        let lambda_n = if n <= dense.len() { dense[n - 1].max(0.0) } else { 0.0 };
        let lambda_m_neg = if m <= dense.len() { (-dense[dense.len() - m]).max(0.0) } else { 0.0 };
        prop_assert!((s.alpha_imb - (lambda_n + lambda_m_neg)).abs() <= 1e-11 * scale * (h as f64));
    }

    /// THEORY §7: β ≤ ½(l₁ + √(l₁² + 4p²)) + ½(l₂ + √(l₂² + 4p²)), p = ‖W₁W₂‖₂.
    #[test]
    fn beta_bound(inst in instances()) {
        let Some((net, _)) = build(&inst) else { return Ok(()) };
        let (_, beta) = dense_alpha_beta(&net);
        let p = (&net.w1 * &net.w2).svd(false, false).singular_values.iter().cloned().fold(0.0, f64::max);
        let dense = dense_imbalance(&net);
        let l1 = dense.first().cloned().unwrap_or(0.0).max(0.0);
        let l2 = (-dense.last().cloned().unwrap_or(0.0)).max(0.0);
        let bound = 0.5 * (l1 + (l1 * l1 + 4.0 * p * p).sqrt()) + 0.5 * (l2 + (l2 * l2 + 4.0 * p * p).sqrt());
        prop_assert!(beta <= bound * (1.0 + 1e-12) + 1e-300, "beta {} > bound {}", beta, bound);
        let core_bound = overlin_core::imbalance::beta_upper_bound(l1, l2, p);
        prop_assert!((core_bound - bound).abs() <= 1e-12 * bound);
    }
}

/// Determinism (issue 2): a fixed seed gives a bit-identical trajectory
/// across two runs, including the certificate fields.
#[test]
fn same_seed_same_bits() {
    let inst = Instance {
        loss: 0,
        n: 5,
        m: 3,
        h: 40,
        samples: 9,
        seed: 42,
        sigma: 5.0,
        std: 0.3,
        noise: 0.1,
    };
    let run = || {
        let (net, loss) = build(&inst).unwrap();
        let cfg = TrainerConfig {
            max_iters: 200,
            imbalance_every: 10,
            ..Default::default()
        };
        let mut tr = Trainer::new(net, loss, StepRule::Local, cfg).unwrap();
        let mut bits = Vec::new();
        let s = tr.run(&mut |r: &StepRecord<f64>| {
            bits.extend(
                [
                    r.loss,
                    r.gap,
                    r.eta,
                    r.cert.rho,
                    r.cert.k_t,
                    r.check.ratio,
                    r.drift,
                ]
                .map(f64::to_bits),
            );
            true
        });
        (bits, s.final_gap.to_bits())
    };
    let a = run();
    assert!(a.0.len() > 7 * 20);
    assert_eq!(a, run());
}
