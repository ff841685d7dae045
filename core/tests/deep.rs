#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Property tests of THEORY §13 ("Must hold"): Lemma D1 and Lemma D2 (with
//! Theorem D1) on random depths 2..6, widths including h < n and h < m, all
//! four losses and η sweeps; the gradients against central finite
//! differences; the O(L²) expansion of Q against the sum over subsets; the
//! certified bounds u_j ≥ ‖W_j‖₂; the library's constants against dense
//! SVDs; L = 2 through the deep code against the two-layer code; the
//! balanced start; the exact second-order motion of every imbalance D_j.
//!
//! Everything the lemmas are checked with is recomputed here from dense
//! matrices (nalgebra's SVD), independently of `overlin_core::deep`.

use overlin_core::deep::{spectral_upper_bound, DeepInit, DeepWork, DynDeep, Heap};
use overlin_core::loss::AnyLoss;
use overlin_core::nalgebra::{DMatrix, Dyn};
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
    depth: usize,
    samples: usize,
    seed: u64,
    sigma: f64,
    std: f64,
    /// 0 Gaussian, 1 balanced, 2 orthogonal.
    init: usize,
}

fn instances() -> impl Strategy<Value = Instance> {
    (
        0usize..4,
        (1usize..6, 1usize..6, 1usize..12, 2usize..7, 0usize..5),
        any::<u64>(),
        0usize..3,
        -1.0f64..0.3,
        0usize..3,
    )
        .prop_map(
            |(loss, (n, m, h, depth, extra), seed, s, log_std, init)| Instance {
                loss,
                n,
                m,
                h,
                depth,
                samples: if loss == 1 {
                    n * m + extra
                } else {
                    n + extra + 2 * (loss / 2) * n
                },
                seed,
                sigma: [0.0, 0.5, 3.0][s],
                std: 10f64.powf(log_std),
                init,
            },
        )
}

fn build_loss(inst: &Instance, rng: &mut Rng) -> Option<AnyLoss<f64>> {
    let (n, m, s) = (inst.n, inst.m, inst.samples);
    let mut theta = DMatrix::<f64>::zeros(n, m);
    Some(match inst.loss {
        1 => {
            let mut a = DMatrix::<f64>::zeros(s, n * m);
            data::sensing_operator(&mut a, rng);
            let mut y = overlin_core::nalgebra::DVector::<f64>::zeros(s);
            data::sensing_measurements(&a, &mut theta, &mut y, 1.0, 0.1, rng).ok()?;
            AnyLoss::Sensing(MatrixSensing::new(Dyn(n), Dyn(m), a, y).ok()?)
        }
        k => {
            let mut x = DMatrix::<f64>::zeros(s, n);
            data::gaussian_data(&mut x, rng);
            let mut y = DMatrix::<f64>::zeros(s, m);
            match k {
                0 => {
                    data::linear_targets(&x, &mut theta, &mut y, 1.0, 0.1, rng).ok()?;
                    AnyLoss::Squared(SquaredLoss::new(x, y).ok()?)
                }
                2 => {
                    data::linear_targets(&x, &mut theta, &mut y, 1.0, 0.5, rng).ok()?;
                    AnyLoss::LogCosh(LogCoshRidge::new(x, y, 0.1).ok()?)
                }
                _ => {
                    data::one_hot_labels(&x, &mut theta, &mut y, 1.0, 0.1, rng).ok()?;
                    AnyLoss::Softmax(SoftmaxRidge::new(x, y, 0.05).ok()?)
                }
            }
        }
    })
}

fn build(inst: &Instance) -> Option<(DynDeep<f64>, AnyLoss<f64>)> {
    let mut rng = Rng::new(inst.seed);
    let loss = build_loss(inst, &mut rng)?;
    let init = match inst.init {
        0 => DeepInit::Gaussian {
            sigma: inst.sigma,
            std: inst.std,
        },
        1 => DeepInit::Balanced {
            sigma: inst.sigma,
            std: inst.std,
        },
        _ => DeepInit::Orthogonal {
            sigma: inst.sigma,
            scale: inst.std,
        },
    };
    let net = init
        .sample::<f64, Dyn, Dyn, Dyn, Heap>(
            (Dyn(inst.n), Dyn(inst.h), Dyn(inst.m)),
            inst.depth,
            &mut rng,
        )
        .ok()?;
    Some((net, loss))
}

/// The layers as dense matrices.
fn layers(net: &DynDeep<f64>) -> Vec<DMatrix<f64>> {
    let mut v = vec![net.first.clone()];
    v.extend(net.middle.iter().cloned());
    v.push(net.last.clone());
    v
}

fn product(ws: &[DMatrix<f64>]) -> DMatrix<f64> {
    let mut p = ws[0].clone();
    for w in &ws[1..] {
        p = &p * w;
    }
    p
}

/// `P_j`, `S_j` (0-based layers; identities at the ends).
fn prefix_suffix(ws: &[DMatrix<f64>], j: usize) -> (DMatrix<f64>, DMatrix<f64>) {
    let n = ws[0].nrows();
    let m = ws[ws.len() - 1].ncols();
    let p = if j == 0 {
        DMatrix::identity(n, n)
    } else {
        product(&ws[..j])
    };
    let s = if j + 1 == ws.len() {
        DMatrix::identity(m, m)
    } else {
        product(&ws[j + 1..])
    };
    (p, s)
}

fn singular(w: &DMatrix<f64>) -> Vec<f64> {
    let mut s: Vec<f64> = w
        .clone()
        .svd(false, false)
        .singular_values
        .iter()
        .cloned()
        .collect();
    s.sort_by(|a, b| b.partial_cmp(a).unwrap());
    s
}

/// `σ_k(W)` (1-based), 0 when W has fewer singular values.
fn sigma_k(w: &DMatrix<f64>, k: usize) -> f64 {
    singular(w).get(k - 1).copied().unwrap_or(0.0)
}

struct Dense {
    loss: f64,
    gap: f64,
    g: DMatrix<f64>,
    grads: Vec<DMatrix<f64>>,
    alpha: f64,
    beta: f64,
    grad_spec: f64,
    g2: f64,
}

fn dense(ws: &[DMatrix<f64>], loss: &mut AnyLoss<f64>) -> Dense {
    let (n, m) = (ws[0].nrows(), ws[ws.len() - 1].ncols());
    let p = product(ws);
    let mut g = DMatrix::zeros(n, m);
    let e = loss.evaluate_with_gradient(&p, &mut g);
    let (mut alpha, mut beta, mut g2) = (0.0, 0.0, 0.0);
    let mut grads = Vec::new();
    for j in 0..ws.len() {
        let (pj, sj) = prefix_suffix(ws, j);
        let d = pj.transpose() * &g * sj.transpose();
        g2 += d.norm_squared();
        grads.push(d);
        alpha += sigma_k(&pj, n).powi(2) * sigma_k(&sj.transpose(), m).powi(2);
        beta += sigma_k(&pj, 1).powi(2) * sigma_k(&sj, 1).powi(2);
    }
    Dense {
        loss: e.value,
        gap: e.gap,
        grad_spec: sigma_k(&g, 1),
        g,
        grads,
        alpha,
        beta,
        g2,
    }
}

/// `Q(η)` by its definition: the sum over subsets `S` with `|S| ≥ 2`.
fn q_subsets(f: &[f64], u: &[f64], eta: f64) -> f64 {
    let l = f.len();
    let mut q = 0.0;
    for mask in 0u32..(1 << l) {
        let k = mask.count_ones() as i32;
        if k < 2 {
            continue;
        }
        let mut t = eta.powi(k - 2);
        for j in 0..l {
            t *= if mask & (1 << j) != 0 { f[j] } else { u[j] };
        }
        q += t;
    }
    q
}

fn k_t(k: f64, beta: f64, gspec: f64, g2: f64, q: f64, eta: f64) -> f64 {
    let b = (beta * g2).sqrt() + eta * q;
    (2.0 * gspec * q + k * b * b) / g2
}

fn loss_after(
    ws: &[DMatrix<f64>],
    grads: &[DMatrix<f64>],
    eta: f64,
    loss: &mut AnyLoss<f64>,
) -> f64 {
    let moved: Vec<DMatrix<f64>> = ws.iter().zip(grads).map(|(w, d)| w - d * eta).collect();
    loss.evaluate(&product(&moved)).value
}

/// The library's per-step quantities at `net`.
fn library(net: &DynDeep<f64>, loss: &mut AnyLoss<f64>) -> DeepWork<f64, Dyn, Dyn, Dyn, Heap> {
    let mut w = DeepWork::new(net).unwrap();
    w.forward(net);
    w.evaluate(loss);
    w.gradients(net);
    w.constants(net);
    w
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    /// Lemma D1: g² ≥ α_t‖G‖² ≥ 2μα_t(𝓛 − L*), with α_t from dense SVDs
    /// of every prefix and suffix; and the library's α_t, β_t, ‖G‖₂, f_j,
    /// product and gradients agree with the dense ones.
    #[test]
    fn lemma_d1_and_constants(inst in instances()) {
        let Some((net, mut loss)) = build(&inst) else { return Ok(()) };
        let ws = layers(&net);
        let d = dense(&ws, &mut loss);
        let mu = loss.constants().mu;
        let tol = 1e-12 * (d.g2 + d.alpha * d.g.norm_squared());
        prop_assert!(d.g2 + tol >= d.alpha * d.g.norm_squared(),
            "D1: g² {} < α‖G‖² {}", d.g2, d.alpha * d.g.norm_squared());
        // The gap carries the error each loss states for it (docs/ROUNDING.md
        // R2: rounding, and for the solver-based losses the error of ℓ*).
        let gap_err = loss.gap_error(d.gap);
        prop_assert!(d.g2 + tol + 2.0 * mu * d.alpha * gap_err >= 2.0 * mu * d.alpha * d.gap,
            "D1: g² {} < 2μα gap {}", d.g2, 2.0 * mu * d.alpha * d.gap);
        let w = library(&net, &mut loss);
        let c = w.last_constants().local;
        let rel = |a: f64, b: f64, s: f64| (a - b).abs() <= 1e-9 * s;
        prop_assert!(rel(c.alpha, d.alpha, d.beta), "alpha {} vs dense {}", c.alpha, d.alpha);
        prop_assert!(rel(c.beta, d.beta, d.beta), "beta {} vs dense {}", c.beta, d.beta);
        prop_assert!(rel(c.grad_spec, d.grad_spec, d.g.norm()), "‖G‖₂ {} vs {}", c.grad_spec, d.grad_spec);
        prop_assert!(rel(c.grad_sq, d.g2, d.g2), "g² {} vs {}", c.grad_sq, d.g2);
        prop_assert!((&w.product - product(&ws)).norm() <= 1e-12 * (1.0 + product(&ws).norm()));
        for (j, dj) in d.grads.iter().enumerate() {
            let lib = DMatrix::from_column_slice(dj.nrows(), dj.ncols(), w.gradient(j).unwrap());
            prop_assert!((&lib - dj).norm() <= 1e-12 * (d.g.norm() * (1.0 + dj.norm())),
                "gradient of layer {j}");
        }
    }

    /// Lemma D2 and Theorem D1 for a sweep of η straddling ηK_t(η) = 2,
    /// with Q by the sum over subsets and exact u_j = ‖W_j‖₂ (the tightest
    /// bound the lemma allows); the library's K_t(η) is at least that one
    /// (its u_j are above) and its Q is the subset sum with its own u_j.
    #[test]
    fn lemma_d2_and_theorem_d1(inst in instances(), log_scale in -3.0f64..1.5) {
        let Some((net, mut loss)) = build(&inst) else { return Ok(()) };
        let ws = layers(&net);
        let d = dense(&ws, &mut loss);
        if !(d.g2 > 0.0) { return Ok(()) }
        let c = *loss.constants();
        let f: Vec<f64> = d.grads.iter().map(|x| x.norm()).collect();
        let u: Vec<f64> = ws.iter().map(|w| sigma_k(w, 1)).collect();
        let w = library(&net, &mut loss);
        let lib_u: Vec<f64> = (0..ws.len()).map(|j| w.stats(j).unwrap().upper).collect();
        let lib_f: Vec<f64> = (0..ws.len()).map(|j| w.stats(j).unwrap().grad).collect();
        let k0 = k_t(c.k, d.beta, d.grad_spec, d.g2, q_subsets(&f, &u, 0.0), 0.0);
        let eta = 10f64.powf(log_scale) / k0;
        let q = q_subsets(&f, &u, eta);
        let kt = k_t(c.k, d.beta, d.grad_spec, d.g2, q, eta);
        let q_lib = q_subsets(&lib_f, &lib_u, eta);
        prop_assert!((w.q(eta) - q_lib).abs() <= 1e-10 * q_lib, "Q {} vs subsets {}", w.q(eta), q_lib);
        prop_assert!(w.k_t(c.k, eta) >= kt * (1.0 - 1e-9), "library K_t {} below exact-u K_t {}", w.k_t(c.k, eta), kt);
        let next = loss_after(&ws, &d.grads, eta, &mut loss);
        let next_gap = next - c.l_star;
        let bound = d.gap - eta * d.g2 * (1.0 - eta * kt / 2.0);
        let tol = 64.0 * EPS * (d.gap.abs() + c.l_star.abs() + d.loss.abs() + eta * d.g2 * (1.0 + eta * kt));
        prop_assert!(next_gap <= bound + tol, "D2: next gap {next_gap} > bound {bound} (η = {eta}, L = {})", ws.len());
        if eta * kt < 2.0 {
            let mu_t = c.mu * d.alpha;
            let rho = 1.0 - 2.0 * mu_t * eta + mu_t * kt * eta * eta;
            prop_assert!(next_gap <= rho * d.gap + tol, "D1 contraction: {next_gap} > ρ {rho} · {}", d.gap);
        }
    }

    /// The gradients Δ_j against central finite differences of 𝓛 = ℓ(W₁⋯W_L).
    #[test]
    fn gradients_match_finite_differences(inst in instances()) {
        let inst = Instance { n: inst.n.min(3), m: inst.m.min(3), h: inst.h.min(4), std: inst.std.max(0.3), ..inst };
        let inst = Instance { samples: if inst.loss == 1 { inst.n * inst.m + 2 } else { inst.n + 2 + 2 * (inst.loss / 2) * inst.n }, ..inst };
        let Some((net, mut loss)) = build(&inst) else { return Ok(()) };
        let ws = layers(&net);
        let w = library(&net, &mut loss);
        for j in 0..ws.len() {
            let lib = w.gradient(j).unwrap();
            for (i, &an) in lib.iter().enumerate().take(ws[j].len()) {
                let scale = ws[j].amax().max(1e-3);
                let hstep = 1e-5 * scale;
                let mut plus = ws.clone();
                plus[j].as_mut_slice()[i] += hstep;
                let mut minus = ws.clone();
                minus[j].as_mut_slice()[i] -= hstep;
                let fp = loss.evaluate(&product(&plus)).value;
                let fm = loss.evaluate(&product(&minus)).value;
                let fd = (fp - fm) / (2.0 * hstep);
                prop_assert!((fd - an).abs() <= 1e-5 * (1.0 + an.abs() + fd.abs()),
                    "layer {j} entry {i}: finite difference {fd} vs gradient {an}");
            }
        }
    }

    /// D_j = W_jᵀW_j − W_{j+1}W_{j+1}ᵀ moves by exactly η²(Δ_jᵀΔ_j − Δ_{j+1}Δ_{j+1}ᵀ),
    /// and the library's drift check accepts the step.
    #[test]
    fn imbalances_move_by_second_order_terms(inst in instances(), log_scale in -2.0f64..0.0) {
        let Some((mut net, mut loss)) = build(&inst) else { return Ok(()) };
        let ws = layers(&net);
        let mut w = library(&net, &mut loss);
        let k0 = w.k_t(loss.constants().k, 0.0);
        if !(k0 > 0.0 && k0.is_finite()) { return Ok(()) }
        let eta = 10f64.powf(log_scale) / k0;
        let first = w.imbalance(&net, false);
        prop_assert_eq!(first.checks, 0);
        w.record_drift(eta);
        prop_assert!(w.apply(&mut net, eta) || eta == 0.0 || w.last_constants().local.grad_sq == 0.0);
        let after = layers(&net);
        let grads: Vec<DMatrix<f64>> = (0..ws.len()).map(|j| DMatrix::from_column_slice(ws[j].nrows(), ws[j].ncols(), w.gradient(j).unwrap())).collect();
        for j in 0..ws.len() - 1 {
            let dj = |v: &[DMatrix<f64>]| v[j].transpose() * &v[j] - &v[j + 1] * v[j + 1].transpose();
            let predicted = dj(&ws) + (grads[j].transpose() * &grads[j] - &grads[j + 1] * grads[j + 1].transpose()) * (eta * eta);
            let scale = ws[j].norm_squared() + ws[j + 1].norm_squared() + after[j].norm_squared() + after[j + 1].norm_squared();
            prop_assert!((dj(&after) - &predicted).norm() <= 1e-12 * scale, "pair {j}");
        }
        let second = w.imbalance(&net, true);
        prop_assert_eq!(second.checks as usize, ws.len() - 1);
        prop_assert_eq!(second.violations, 0);
    }

    /// The Local and RateOptimal steps of §13 satisfy ηK_t(η) < 2, RateOptimal's
    /// ρ_t is at most Local's, and the step they take contracts by ρ_t.
    #[test]
    fn local_and_rate_optimal_steps(inst in instances()) {
        let Some((net, mut loss)) = build(&inst) else { return Ok(()) };
        let c = *loss.constants();
        let ws = layers(&net);
        let d = dense(&ws, &mut loss);
        let w = library(&net, &mut loss);
        let Some(local) = w.local_step(c.k) else { return Ok(()) };
        let k0 = w.k_t(c.k, 0.0);
        prop_assert!(local * w.k_t(c.k, local) < 2.0);
        prop_assert!(local == 1.0 / k0 || (local * w.k_t(c.k, local) - 1.0).abs() <= 1e-9,
            "Local is 1/K_t(0) or the root of ηK_t(η) = 1");
        let opt = w.rate_optimal_step(c.k).unwrap();
        prop_assert!(opt * w.k_t(c.k, opt) <= 2.0 - 1e-3);
        let cl = w.certificate(c.mu, c.k, d.gap, local);
        let co = w.certificate(c.mu, c.k, d.gap, opt);
        prop_assert!(co.rho <= cl.rho + 1e-15, "RateOptimal ρ {} > Local ρ {}", co.rho, cl.rho);
        for (eta, cert) in [(local, cl), (opt, co)] {
            let next_gap = loss_after(&ws, &d.grads, eta, &mut loss) - c.l_star;
            let tol = 64.0 * EPS * (d.gap.abs() + c.l_star.abs() + d.loss.abs() + eta * d.g2);
            prop_assert!(next_gap <= cert.rho * d.gap + tol, "{next_gap} > ρ {} · {}", cert.rho, d.gap);
        }
    }

    /// u_j ≥ ‖W_j‖₂ for every layer (middle layers by the bound; the ends
    /// exact up to rounding), on random and on badly scaled matrices.
    #[test]
    fn upper_bounds_are_above(inst in instances(), skew in -3.0f64..3.0) {
        let Some((mut net, mut loss)) = build(&inst) else { return Ok(()) };
        if let Some(mid) = net.middle.first_mut() {
            // A rank-one spike and a skewed column: where the bounds are tight.
            let h = mid.nrows();
            mid[(0, h - 1)] += 10f64.powf(skew);
        }
        let w = library(&net, &mut loss);
        for (j, layer) in layers(&net).iter().enumerate() {
            let exact = sigma_k(layer, 1);
            let u = w.stats(j).unwrap().upper;
            prop_assert!(u >= exact * (1.0 - 1e-12), "layer {j}: u {u} < ‖W‖₂ {exact}");
            if j > 0 && j + 1 < ws_len(&net) {
                prop_assert!(u >= exact, "middle layer {j}: u {u} < ‖W‖₂ {exact}");
                prop_assert!(u <= layer.norm() * (1.0 + 1e-12) + 1e-300, "u_j is the smaller bound");
            }
        }
    }
}

fn ws_len(net: &DynDeep<f64>) -> usize {
    net.depth()
}

/// The bound on fixed matrices where it is exact: a scaled identity and a
/// single entry (‖W‖₂ = the entry; the Hölder bound is exact there).
#[test]
fn upper_bound_exact_cases() {
    let eye = DMatrix::<f64>::identity(5, 5) * 3.0;
    let u = spectral_upper_bound(eye.as_slice(), 5);
    assert!((3.0..=3.0 * (1.0 + 1e-14)).contains(&u), "{u}");
    let mut one = DMatrix::<f64>::zeros(4, 4);
    one[(2, 1)] = -7.0;
    let u = spectral_upper_bound(one.as_slice(), 4);
    assert!((7.0..=7.0 * (1.0 + 1e-14)).contains(&u), "{u}");
    // All-ones: ‖W‖₂ = 4 = √(‖W‖₁‖W‖_∞), Frobenius 4 as well.
    let ones = DMatrix::<f64>::from_element(4, 4, 1.0);
    let u = spectral_upper_bound(ones.as_slice(), 4);
    assert!((4.0..=4.0 * (1.0 + 1e-14)).contains(&u), "{u}");
}

/// The balanced start: W_jᵀW_j = W_{j+1}W_{j+1}ᵀ for every j, and every
/// imbalance extreme is zero up to rounding; the knob unbalances D₁ only.
#[test]
fn balanced_start_is_balanced() {
    for (n, h, m, depth) in [(3, 8, 3, 4), (4, 6, 2, 3), (2, 5, 5, 5), (3, 2, 4, 3)] {
        let mut rng = Rng::new(5);
        let net: DynDeep<f64> = DeepInit::Balanced {
            sigma: 0.0,
            std: 1.0,
        }
        .sample((Dyn(n), Dyn(h), Dyn(m)), depth, &mut rng)
        .unwrap();
        let ws = layers(&net);
        for j in 0..depth - 1 {
            let d = ws[j].transpose() * &ws[j] - &ws[j + 1] * ws[j + 1].transpose();
            assert!(
                d.amax() <= 1e-12 * (1.0 + ws[j].norm_squared()),
                "D_{j} = {}",
                d.amax()
            );
        }
        let mut w = DeepWork::new(&net).unwrap();
        let imb = w.imbalance(&net, false);
        assert!(imb.lambda_max.abs() <= 1e-12 && imb.neg_lambda_max.abs() <= 1e-12);
        let mut rng = Rng::new(5);
        let knob: DynDeep<f64> = DeepInit::Balanced {
            sigma: 2.0,
            std: 1.0,
        }
        .sample((Dyn(n), Dyn(h), Dyn(m)), depth, &mut rng)
        .unwrap();
        let kw = layers(&knob);
        // Same product, D₁ moved, the others untouched.
        assert!((product(&kw) - product(&ws)).norm() <= 1e-12 * product(&ws).norm());
        let d0 = kw[0].transpose() * &kw[0] - &kw[1] * kw[1].transpose();
        assert!(d0.amax() > 0.1, "the knob unbalances D_1");
    }
}

/// L = 2 through the deep code is the two-layer model: the same product
/// and gradient bits, the same α_t, β_t; its own K_t(η) differs from §4's
/// and both bound the step (THEORY §13).
#[test]
fn depth_two_agrees_with_two_layer() {
    for (seed, (n, h, m)) in [
        (1u64, (3, 7, 2)),
        (2, (2, 2, 4)),
        (3, (4, 9, 4)),
        (4, (1, 3, 5)),
    ] {
        let inst = Instance {
            loss: (seed % 4) as usize,
            n,
            m,
            h,
            depth: 2,
            samples: if seed % 4 == 1 {
                n * m + 3
            } else {
                n + 3 + 2 * ((seed as usize % 4) / 2) * n
            },
            seed,
            sigma: 0.5,
            std: 0.7,
            init: 0,
        };
        let (deep, mut loss) = build(&inst).unwrap();
        let two = TwoLayer::new(deep.first.clone(), deep.last.clone()).unwrap();
        let w = library(&deep, &mut loss);
        let mut p = DMatrix::zeros(n, m);
        two.product_into(&mut p);
        assert_eq!(p, w.product, "product bits");
        let mut g = DMatrix::zeros(n, m);
        loss.evaluate_with_gradient(&p, &mut g);
        let a = &g * two.w2.transpose();
        let b = two.w1.transpose() * &g;
        let scale = g.norm() * (1.0 + two.w1.norm() + two.w2.norm());
        assert!(
            (DMatrix::from_column_slice(n, h, w.gradient(0).unwrap()) - a).norm() <= 1e-13 * scale
        );
        assert!(
            (DMatrix::from_column_slice(h, m, w.gradient(1).unwrap()) - b).norm() <= 1e-13 * scale
        );
        let c = *loss.constants();
        let cfg = TrainerConfig {
            max_iters: 1,
            ..Default::default()
        };
        let eta = 0.5 * w.local_step(c.k).unwrap();
        let mut tr = Trainer::new(two, loss, StepRule::Constant(eta), cfg).unwrap();
        let rec = tr.step().unwrap();
        let l = rec.cert.local;
        let rel = |x: f64, y: f64| (x - y).abs() <= 1e-10 * (x.abs() + y.abs() + l.beta);
        let dc = w.last_constants().local;
        assert!(rel(l.alpha, dc.alpha) && rel(l.beta, dc.beta) && rel(l.grad_spec, dc.grad_spec));
        // Both smoothness bounds hold for the step the trainer took.
        let deep_cert = w.certificate(c.mu, c.k, rec.gap, eta);
        let tol = 64.0 * EPS * (rec.gap + c.l_star.abs() + rec.loss.abs());
        assert!(rec.next_gap <= rec.cert.descent_bound + tol);
        assert!(rec.next_gap <= deep_cert.descent_bound + tol);
        assert!(
            deep_cert.k_t != rec.cert.k_t,
            "the two K_t are different bounds"
        );
    }
}

fn squared(n: usize, m: usize, samples: usize, seed: u64) -> AnyLoss<f64> {
    let inst = Instance {
        loss: 0,
        n,
        m,
        h: 1,
        depth: 2,
        samples,
        seed,
        sigma: 0.0,
        std: 1.0,
        init: 0,
    };
    build_loss(&inst, &mut Rng::new(seed)).unwrap()
}

/// L = 2 through the generic trainer with the deep model is the two-layer
/// run: with the same constant steps the weights and gaps are the same
/// bits at every step, and each model's own certificate holds throughout.
#[test]
fn depth_two_trainer_trajectory_matches_two_layer() {
    for (n, h, m) in [(3, 8, 2), (4, 3, 4), (2, 6, 5)] {
        let mut rng = Rng::new(31);
        let deep: DynDeep<f64> = DeepInit::Gaussian {
            sigma: 1.0,
            std: 0.5,
        }
        .sample((Dyn(n), Dyn(h), Dyn(m)), 2, &mut rng)
        .unwrap();
        let two = TwoLayer::new(deep.first.clone(), deep.last.clone()).unwrap();
        let cfg = TrainerConfig {
            max_iters: 200,
            imbalance_every: 10,
            ..Default::default()
        };
        let loss = || squared(n, m, 3 * n + 4, 7);
        let k = loss().constants().k;
        let rule = StepRule::Constant(0.2 / k);
        let mut a = Trainer::new(two, loss(), rule, cfg).unwrap();
        let mut b = Trainer::new(deep, loss(), rule, cfg).unwrap();
        let mut steps = 0;
        loop {
            let (ra, rb) = (a.step(), b.step());
            let (Some(ra), Some(rb)) = (ra, rb) else {
                assert_eq!(a.status(), b.status());
                break;
            };
            steps += 1;
            assert_eq!(ra.gap.to_bits(), rb.gap.to_bits(), "gap at t = {}", ra.t);
            assert_eq!(ra.next_gap.to_bits(), rb.next_gap.to_bits());
            assert_eq!(ra.eta.to_bits(), rb.eta.to_bits());
            assert_eq!(a.net().w1, b.net().first, "W1 at t = {}", ra.t);
            assert_eq!(a.net().w2, b.net().last, "W2 at t = {}", ra.t);
            // Both K_t are bounds of their own; both must hold.
            assert!(
                ra.check.holds && rb.check.holds,
                "t = {}: {:?} / {:?}",
                ra.t,
                ra.check,
                rb.check
            );
        }
        assert!(steps > 20, "{steps} steps");
        let (sa, sb) = (a.summary(), b.summary());
        assert_eq!(sa.tally.violations + sb.tally.violations, 0);
        assert_eq!(sb.tally.imbalance_violations, 0);
        assert!(sb.tally.imbalance_checks > 0);
    }
}

/// Deep runs through the trainer (THEORY §13): every rule of §6 that is
/// defined for depth runs from small, balanced and orthogonal starts at
/// depths 3..5, with widths below and above n, m; no step breaks its
/// certificate, no imbalance pair drifts beyond its bound, and Local
/// converges from every start.
#[test]
fn deep_trainer_runs_hold_their_certificates() {
    // The constant step is half the Local step at the start (a fixed
    // number would be far too large for some depths and scales).
    let rules = [
        StepRule::Local,
        StepRule::RateOptimal,
        StepRule::armijo(),
        StepRule::Constant(0.0),
    ];
    for (depth, (n, h, m)) in [
        (3, (3, 8, 2)),
        (4, (4, 16, 4)),
        (5, (2, 5, 3)),
        (3, (4, 3, 2)),
    ] {
        for init in [
            DeepInit::Gaussian {
                sigma: 0.0,
                std: 0.3,
            },
            DeepInit::Balanced {
                sigma: 0.0,
                std: 0.5,
            },
            DeepInit::Orthogonal {
                sigma: 1.0,
                scale: 0.8,
            },
        ] {
            for rule in rules {
                let mut rng = Rng::new(depth as u64 * 100 + n as u64);
                let net: DynDeep<f64> = init
                    .sample((Dyn(n), Dyn(h), Dyn(m)), depth, &mut rng)
                    .unwrap();
                let rule = match rule {
                    StepRule::Constant(_) => {
                        let mut probe = squared(n, m, 3 * n + 4, 5);
                        let k = probe.constants().k;
                        StepRule::Constant(0.5 * library(&net, &mut probe).local_step(k).unwrap())
                    }
                    r => r,
                };
                let cfg = TrainerConfig {
                    max_iters: 3000,
                    tol: Tolerance::Relative(1e-8),
                    imbalance_every: 7,
                    // Asked for, the anytime certificate must say it is
                    // open and leave the imbalance budgets alone.
                    anytime_every: 5,
                    ..Default::default()
                };
                let mut tr = Trainer::new(net, squared(n, m, 3 * n + 4, 5), rule, cfg).unwrap();
                let s = tr.run(&mut ());
                assert_eq!(
                    s.tally.violations, 0,
                    "L = {depth} {init:?} {rule:?}: {:?}",
                    s.tally
                );
                assert_eq!(
                    s.tally.imbalance_violations, 0,
                    "L = {depth} {init:?} {rule:?}"
                );
                assert!(
                    !matches!(s.status, Status::Diverged { .. }),
                    "L = {depth} {init:?} {rule:?}: {:?}",
                    s.status
                );
                assert!(matches!(s.apriori, Err(NoCertificate::OpenForDepth { .. })));
                let counted: u64 = s.tally.classes.total();
                assert_eq!(counted, s.iterations as u64, "every step is classified");
                if rule == StepRule::Local && h >= n.max(m) {
                    assert!(s.tally.classes.get(StepClass::Certified) > 0);
                    if matches!(init, DeepInit::Balanced { .. }) {
                        // The balanced start's product is a random n×m
                        // matrix whose smallest singular value can be small:
                        // α_t is then small and the run slow, every step
                        // still certified.
                        assert!(
                            s.final_gap < 1e-2 * s.initial_gap,
                            "L = {depth} {init:?}: {s:?}"
                        );
                    } else {
                        assert_eq!(s.status, Status::Converged, "L = {depth} {init:?}: {s:?}");
                    }
                }
            }
        }
    }
}

/// Arora et al. (2019) at depth L: the margin decides, as for two layers.
#[test]
fn arora_step_at_depth() {
    let (n, h, m, depth) = (3, 6, 3, 3);
    let loss = squared(n, m, 20, 3);
    let w_star = loss.minimizer().clone();
    // A balanced start near W* has a positive deficiency margin.
    let mut rng = Rng::new(2);
    let far: DynDeep<f64> = DeepInit::Gaussian {
        sigma: 0.0,
        std: 0.01,
    }
    .sample((Dyn(n), Dyn(h), Dyn(m)), depth, &mut rng)
    .unwrap();
    let cfg = TrainerConfig {
        max_iters: 5,
        ..Default::default()
    };
    let tr = Trainer::new(far, squared(n, m, 20, 3), StepRule::Arora2019, cfg).unwrap();
    let sv = w_star.clone().svd(false, false).singular_values;
    let margin = sv.min() - w_star.norm();
    if margin <= 0.0 {
        assert!(matches!(
            tr.status(),
            Status::RuleUnavailable(RuleUnavailable::AroraMarginNotPositive)
        ));
    }
    let start = overlin_core::rules::StartInfo {
        distance_to_target: 0.1 * sv.min(),
        constants: *loss.constants(),
        loss_kind: LossKind::Squared,
    };
    let eta = overlin_core::deep::arora_step(2, &start).unwrap();
    let c = 0.9 * sv.min();
    let f = loss.constants().w_star.frobenius;
    assert!(
        (eta - c.powi(3) / (49152.0 * f.powi(4))).abs() <= 1e-12 * eta,
        "L = 2 is THEORY §6.4's formula"
    );
    let eta3 = overlin_core::deep::arora_step(3, &start).unwrap();
    let expect = c.powf(10.0 / 3.0) / (6144.0 * 27.0 * f.powf(14.0 / 3.0));
    assert!((eta3 - expect).abs() <= 1e-12 * expect);
}

/// Fixed sizes and depth, f32: the deep trainer without an allocator.
#[test]
fn fixed_size_f32_deep_run() {
    use overlin_core::deep::{DeepNet, Fixed};
    use overlin_core::nalgebra::Const;
    let mut rng = Rng::new(4);
    let net: DeepNet<f32, 4, 16, 4, 1> = DeepInit::Gaussian {
        sigma: 0.0,
        std: 0.3,
    }
    .sample::<f32, Const<4>, Const<16>, Const<4>, Fixed<1>>((Const, Const, Const), 3, &mut rng)
    .unwrap();
    let mut x = overlin_core::nalgebra::SMatrix::<f32, 12, 4>::zeros();
    rng.fill_gaussian(&mut x, 1.0);
    let mut theta = overlin_core::nalgebra::SMatrix::<f32, 4, 4>::zeros();
    rng.fill_gaussian(&mut theta, 0.5);
    let y = x * theta;
    let loss = SquaredLoss::new(x, y).unwrap();
    let cfg = TrainerConfig {
        max_iters: 2000,
        tol: Tolerance::Relative(1e-4),
        ..Default::default()
    };
    let mut tr = Trainer::new(net, loss, StepRule::Local, cfg).unwrap();
    let s = tr.run(&mut ());
    assert_eq!(s.tally.violations, 0, "{s:?}");
    assert_eq!(s.status, Status::Converged, "{s:?}");
    assert!(
        DeepInit::Gaussian {
            sigma: 0.0,
            std: 0.3
        }
        .sample::<f32, Const<4>, Const<16>, Const<4>, Fixed<1>>((Const, Const, Const), 4, &mut rng)
        .is_err(),
        "a fixed stack refuses another depth"
    );
}
