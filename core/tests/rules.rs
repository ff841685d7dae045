//! Step-size rules (THEORY §6): bounds on random local constants, the
//! prior-work baselines against their formulas, Armijo in a real run, full
//! runs of every rule, and the parser.

// Tests may panic: that is how they fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use overlin_core::certificate::{contraction_factor, local_smoothness, local_step};
use overlin_core::linalg::MatrixNorms;
use overlin_core::nalgebra::{DMatrix, Dyn};
use overlin_core::rules::{ParseRuleError, PreparedRule, RuleContext, StartInfo};
use overlin_core::Rng;
use overlin_core::*;
use proptest::prelude::*;

const EPS: f64 = f64::EPSILON;

/// The sharp maximum of `ηK_t(η)` under the Local rule:
/// `max_{u∈[0,1]} (1−u)(1+u/2)² + u = (7/6)√(7/3) − 1/2 ≈ 1.28211`
/// at `u = √(7/3) − 1` (THEORY §6.2 rounds this to 1.28).
fn local_sharp_bound() -> f64 {
    7.0 / 6.0 * (7.0f64 / 3.0).sqrt() - 0.5
}

fn constants(mu: f64, k: f64) -> LossConstants<f64> {
    LossConstants {
        mu,
        k,
        l_star: 0.0,
        w_star: MatrixNorms {
            spectral: 1.0,
            frobenius: 1.0,
            sigma_min: 1.0,
            rank: 1,
        },
    }
}

fn start(c: LossConstants<f64>, kind: LossKind) -> StartInfo<f64> {
    StartInfo {
        distance_to_target: 0.0,
        constants: c,
        loss_kind: kind,
    }
}

fn ctx(c: LossConstants<f64>, local: LocalConstants<f64>, gap: f64, p2: f64) -> RuleContext<f64> {
    RuleContext {
        t: 0,
        local,
        constants: c,
        loss_kind: LossKind::Squared,
        gap,
        loss: gap,
        product_spec: p2,
    }
}

fn step_of(rule: StepRule<f64>, c: &RuleContext<f64>) -> Result<f64, RuleUnavailable> {
    let mut r = PreparedRule::prepare(rule, &start(c.constants, c.loss_kind))?;
    r.step(c, &mut |_| f64::NAN)
}

/// `ρ_t(η)` exactly as the certificate computes it.
fn rho(c: &RuleContext<f64>, eta: f64) -> f64 {
    StepCertificate::predict(c.local, c.constants.mu, c.constants.k, c.gap, eta).rho
}

fn log_uniform(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    (lo..hi).prop_map(|e| 10f64.powf(e))
}

/// Random local constants: `K, β, ‖G‖₂` over many orders of magnitude, or
/// with the ratio `u = ‖G‖₂/(Kβ + ‖G‖₂)` uniform in `[0, 1]` (where the
/// Local bound is attained); `α ∈ [0, β]`, `μ ∈ (0, K]`.
fn locals() -> impl Strategy<Value = RuleContext<f64>> {
    let spread = (
        log_uniform(-6.0, 6.0),
        log_uniform(-6.0, 6.0),
        log_uniform(-8.0, 8.0),
    );
    let banded =
        (log_uniform(-6.0, 6.0), log_uniform(-6.0, 6.0), 0.0f64..=1.0).prop_map(|(k, scale, u)| {
            // a = Kβ = (1−u)·scale, s = u·scale; keep β > 0.
            let beta = ((1.0 - u) * scale / k).max(1e-300);
            (k, beta, u * scale)
        });
    (
        prop_oneof![spread, banded],
        0.0f64..=1.0,
        0.0f64..=1.0,
        prop::bool::weighted(0.1),
        log_uniform(-8.0, 4.0),
        log_uniform(-3.0, 3.0),
    )
        .prop_map(|((k, beta, s), ar, mr, zero_alpha, gap, p2)| {
            let alpha = if zero_alpha { 0.0 } else { ar * beta };
            let mu = (mr * k).max(k * 1e-9);
            ctx(
                constants(mu, k),
                LocalConstants {
                    alpha,
                    beta,
                    grad_spec: s,
                    grad_sq: 1.0,
                },
                gap,
                p2,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// THEORY §6.2: the Local step has `ηK_t(η) ≤ (7/6)√(7/3) − ½ ≈ 1.2821 < 2`.
    #[test]
    fn local_eta_k_bounded(c in locals()) {
        let eta = step_of(StepRule::Local, &c).unwrap();
        let l = c.local;
        let ek = eta * local_smoothness(c.constants.k, l.beta, l.grad_spec, eta);
        prop_assert!(ek <= local_sharp_bound() * (1.0 + 8.0 * EPS), "eta K_t = {ek}");
        prop_assert!(ek >= 1.0 - 8.0 * EPS, "eta K_t = {ek} below 1");
    }

    /// THEORY §6.3: RateOptimal is admissible (`ηK_t ≤ 2 − 10⁻³`, in fact
    /// `≤ 1`), never worse than Local in `ρ_t`, and a minimizer of `ρ_t`
    /// over the admissible steps (checked on an independent grid and by
    /// stationarity of `ρ_t`).
    #[test]
    fn rate_optimal_beats_local(c in locals()) {
        let eta = step_of(StepRule::RateOptimal, &c).unwrap();
        let eta_l = step_of(StepRule::Local, &c).unwrap();
        let (k, l) = (c.constants.k, c.local);
        let kt = |e: f64| local_smoothness(k, l.beta, l.grad_spec, e);
        let ek = eta * kt(eta);
        prop_assert!(ek <= 2.0 - 1e-3, "eta K_t = {ek}");
        // The rule returns the Local step itself only when Local's ρ_t is
        // lower in floating point (a rounding tie near ‖G‖₂ → 0).
        let fell_back = eta == eta_l;
        prop_assert!(eta <= eta_l * (1.0 + 4.0 * EPS), "eta {eta} above Local {eta_l}");
        let r = rho(&c, eta);
        prop_assert!(r <= rho(&c, eta_l), "rho {} > Local's {}", r, rho(&c, eta_l));
        // φ(η) = η(2 − ηK_t(η)) is what ρ_t = 1 − μ_t φ minimizes; compare on
        // a grid of admissible steps (independent of μ_t, also when α = 0).
        let phi = |e: f64| e * (2.0 - e * kt(e));
        let best = phi(eta);
        for i in 1..=400 {
            let e = eta_l * 1.6 * i as f64 / 400.0;
            if e * kt(e) <= 2.0 - 1e-3 {
                prop_assert!(phi(e) <= best * (1.0 + 16.0 * EPS), "phi({e}) = {} > phi(opt) = {best}", phi(e));
            }
        }
        // Stationarity: dφ/dη = 2 − 2ηK_t − η²K_t' = 0, K_t' = Kβs(1 + ηs/2),
        // and then ηK_t ≤ 1.
        if !fell_back {
            prop_assert!(ek <= 1.0 + 16.0 * EPS, "eta K_t = {ek} above 1");
            let s = l.grad_spec;
            let dphi = 2.0 - 2.0 * ek - eta * eta * k * l.beta * s * (1.0 + eta * s / 2.0);
            prop_assert!(dphi.abs() <= 1e-12, "dphi = {dphi}");
        }
        if c.constants.mu * l.alpha > 0.0 {
            let mu_t = c.constants.mu * l.alpha;
            let direct = contraction_factor(mu_t, kt(eta), eta);
            prop_assert_eq!(direct, r);
        }
    }

    /// THEORY §6.4 (Xu et al. 2023): the step is the stationary point of its
    /// `ρ(η) = 1 − 2μc₂αη + μη²[√(8KL)p₂ + K(c₁β + η√(2KL)p₂)²]`.
    #[test]
    fn xu2023_is_stationary(c in locals(), c1 in 1.0f64..3.0, c2 in 0.05f64..=1.0) {
        let rule = StepRule::Xu2023 { c1, c2 };
        let l = c.local;
        let r = step_of(rule, &c);
        if l.alpha == 0.0 {
            prop_assert_eq!(r, Err(RuleUnavailable::XuNoPositiveStep));
            return Ok(());
        }
        let eta = r.unwrap();
        let (k, mu) = (c.constants.k, c.constants.mu);
        let big_l = c.gap;
        let a = (8.0 * k * big_l).sqrt() * c.product_spec;
        let b = c1 * l.beta;
        let q = (2.0 * k * big_l).sqrt() * c.product_spec;
        // dρ/dη / μ, and the scale of its terms.
        let terms = [
            -2.0 * c2 * l.alpha,
            (2.0 * a + 2.0 * k * b * b) * eta,
            6.0 * k * b * q * eta * eta,
            4.0 * k * q * q * eta * eta * eta,
        ];
        let d: f64 = terms.iter().sum();
        prop_assert!(d.abs() <= 64.0 * EPS * 2.0 * c2 * l.alpha, "drho/deta = {d}, terms {terms:?}");
        // And a minimum of ρ, by its own formula.
        let xrho = |e: f64| 1.0 - 2.0 * mu * c2 * l.alpha * e + mu * e * e * (a + k * (b + e * q).powi(2));
        for f in [0.5, 0.9, 0.999, 1.001, 1.1, 2.0] {
            let gap = xrho(eta * f) - xrho(eta);
            prop_assert!(gap >= -8.0 * EPS, "rho({f} eta) below rho(eta) by {gap}");
        }
    }
}

/// THEORY §6.2's "≤ 1.28" is a rounding of the sharp bound: at
/// `u = √(7/3) − 1` the Local step has `ηK_t = 1.28211…` (still < 2).
#[test]
fn local_bound_is_attained() {
    let u = (7.0f64 / 3.0).sqrt() - 1.0;
    let c = ctx(
        constants(0.5, 1.0),
        LocalConstants {
            alpha: 0.5,
            beta: 1.0 - u,
            grad_spec: u,
            grad_sq: 1.0,
        },
        1.0,
        1.0,
    );
    let eta = step_of(StepRule::Local, &c).unwrap();
    let ek = eta * local_smoothness(1.0, 1.0 - u, u, eta);
    assert!((ek - local_sharp_bound()).abs() <= 1e-14, "{ek}");
    assert!(ek > 1.282 && ek < 1.2822);
}

/// At `‖G‖₂ = 0` RateOptimal is the Local step `1/(Kβ)`; with `α = 0` it
/// still gives the step that maximizes Lemma 2's decrease.
#[test]
fn rate_optimal_edge_cases() {
    let l = LocalConstants {
        alpha: 0.3,
        beta: 2.0,
        grad_spec: 0.0,
        grad_sq: 1.0,
    };
    let c = ctx(constants(0.1, 3.0), l, 1.0, 1.0);
    assert_eq!(step_of(StepRule::RateOptimal, &c).unwrap(), 1.0 / 6.0);
    let c0 = ctx(
        constants(0.1, 3.0),
        LocalConstants {
            alpha: 0.0,
            grad_spec: 0.7,
            ..l
        },
        1.0,
        1.0,
    );
    let c1 = ctx(
        constants(0.1, 3.0),
        LocalConstants {
            alpha: 0.3,
            grad_spec: 0.7,
            ..l
        },
        1.0,
        1.0,
    );
    let e0 = step_of(StepRule::RateOptimal, &c0).unwrap();
    let e1 = step_of(StepRule::RateOptimal, &c1).unwrap();
    assert_eq!(e0, e1);
    assert!(e0 < local_step(3.0, &c1.local));
    for bad in [f64::NAN, f64::INFINITY, -1.0] {
        let c = ctx(
            constants(0.1, 3.0),
            LocalConstants {
                grad_spec: bad,
                ..l
            },
            1.0,
            1.0,
        );
        assert_eq!(
            step_of(StepRule::RateOptimal, &c),
            Err(RuleUnavailable::InvalidStep)
        );
    }
    let zero = ctx(
        constants(0.1, 3.0),
        LocalConstants {
            alpha: 0.0,
            beta: 0.0,
            grad_spec: 0.0,
            grad_sq: 0.0,
        },
        1.0,
        1.0,
    );
    assert_eq!(
        step_of(StepRule::RateOptimal, &zero),
        Err(RuleUnavailable::InvalidStep)
    );
}

/// Xu et al.'s limiting rate at `L = L*`: `η = c₂α/(Kc₁²β²)` and
/// `ρ = 1 − (μ/K)(c₂α/(c₁β))²`, i.e. `1 − (μ/K)(α/β)²` for `c₁ = c₂ = 1`
/// (THEORY §6.4), against Local's limit `1 − (μ/K)(α/β)` (§5).
#[test]
fn xu2023_limiting_rate() {
    let (mu, k, alpha, beta) = (0.2, 5.0, 0.7, 3.0);
    let l = LocalConstants {
        alpha,
        beta,
        grad_spec: 0.0,
        grad_sq: 1.0,
    };
    let c = ctx(constants(mu, k), l, 0.0, 4.0);
    for (c1, c2) in [(1.0, 1.0), (1.5, 0.5)] {
        let eta = step_of(StepRule::Xu2023 { c1, c2 }, &c).unwrap();
        let want = c2 * alpha / (k * c1 * c1 * beta * beta);
        assert!((eta - want).abs() <= 4.0 * EPS * want, "{eta} vs {want}");
        let rate = 1.0 - 2.0 * mu * c2 * alpha * eta + mu * eta * eta * k * (c1 * beta).powi(2);
        let limit = 1.0 - (mu / k) * (c2 * alpha / (c1 * beta)).powi(2);
        assert!((rate - limit).abs() <= 8.0 * EPS, "{rate} vs {limit}");
    }
    // Local's certified rate at the same point is the better 1 − (μ/K)(α/β).
    let eta_l = step_of(StepRule::Local, &c).unwrap();
    let local_rate = rho(&c, eta_l);
    assert!((local_rate - (1.0 - (mu / k) * (alpha / beta))).abs() <= 8.0 * EPS);
}

#[test]
fn xu2023_needs_squared_loss_and_valid_constants() {
    let c = constants(0.2, 5.0);
    for kind in [LossKind::Sensing, LossKind::LogCosh, LossKind::Softmax] {
        assert_eq!(
            PreparedRule::prepare(StepRule::xu2023(), &start(c, kind)).err(),
            Some(RuleUnavailable::XuNeedsSquaredLoss)
        );
    }
    assert!(PreparedRule::prepare(StepRule::xu2023(), &start(c, LossKind::Squared)).is_ok());
    for (c1, c2) in [
        (0.9, 0.5),
        (1.5, 0.0),
        (1.5, 1.1),
        (f64::NAN, 0.5),
        (f64::INFINITY, 0.5),
    ] {
        assert!(matches!(
            PreparedRule::prepare(StepRule::Xu2023 { c1, c2 }, &start(c, LossKind::Squared)),
            Err(RuleUnavailable::InvalidParameter { .. })
        ));
    }
}

#[test]
fn invalid_parameters_are_rejected() {
    let s = start(constants(0.2, 5.0), LossKind::Squared);
    let bad = [
        StepRule::Constant(0.0),
        StepRule::Constant(-1.0),
        StepRule::Constant(f64::NAN),
        StepRule::Constant(f64::INFINITY),
        StepRule::Armijo {
            c: 0.0,
            shrink: 0.5,
            initial: 1.0,
        },
        StepRule::Armijo {
            c: 1.0,
            shrink: 0.5,
            initial: 1.0,
        },
        StepRule::Armijo {
            c: 0.1,
            shrink: 1.0,
            initial: 1.0,
        },
        StepRule::Armijo {
            c: 0.1,
            shrink: 0.0,
            initial: 1.0,
        },
        StepRule::Armijo {
            c: 0.1,
            shrink: 0.5,
            initial: 0.0,
        },
        StepRule::Armijo {
            c: 0.1,
            shrink: 0.5,
            initial: f64::INFINITY,
        },
    ];
    for rule in bad {
        let e = PreparedRule::prepare(rule, &s).err();
        assert!(
            matches!(e, Some(RuleUnavailable::InvalidParameter { .. })),
            "{rule:?}: {e:?}"
        );
        assert!(!e.unwrap().to_string().is_empty());
    }
}

// ---------------------------------------------------------------- real problems

type Loss64 = SquaredLoss<f64, Dyn, Dyn, Dyn>;

/// `X` (N×n) Gaussian, `W* = Θ` well conditioned (identity plus noise).
fn problem(seed: u64, samples: usize, n: usize, m: usize) -> Loss64 {
    let mut rng = Rng::new(seed);
    let mut x = DMatrix::<f64>::zeros(samples, n);
    rng.fill_gaussian(&mut x, 1.0);
    let mut theta = DMatrix::<f64>::zeros(n, m);
    rng.fill_gaussian(&mut theta, 0.2);
    for i in 0..n.min(m) {
        theta[(i, i)] += 1.0;
    }
    let y = &x * &theta;
    SquaredLoss::new(x, y).unwrap()
}

fn gaussian_start(seed: u64, n: usize, h: usize, m: usize, sigma: f64, std: f64) -> DynNet<f64> {
    Init::Gaussian { sigma, std }
        .sample(Dyn(n), Dyn(h), Dyn(m), &mut Rng::new(seed))
        .unwrap()
}

/// A balanced start whose product is `W* + E` with `‖E‖ = size`.
fn near_start(loss: &Loss64, h: usize, size: f64, seed: u64) -> DynNet<f64> {
    let w = loss.minimizer();
    let mut e = DMatrix::<f64>::zeros(w.nrows(), w.ncols());
    Rng::new(seed).fill_gaussian(&mut e, 1.0);
    let e = e.scale(size / e.norm());
    spectral_balanced(&(w + e), Dyn(h)).unwrap()
}

fn distance(net: &DynNet<f64>, loss: &Loss64) -> f64 {
    (&net.w1 * &net.w2 - loss.minimizer()).norm()
}

fn start_of(net: &DynNet<f64>, loss: &Loss64) -> StartInfo<f64> {
    StartInfo {
        distance_to_target: distance(net, loss),
        constants: *loss.constants(),
        loss_kind: loss.kind(),
    }
}

/// THEORY §6.4: Arora et al.'s margin is not positive from a far start,
/// and the step is `c³/(49152‖W*‖⁴)` from a close one.
#[test]
fn arora_far_and_close() {
    let loss = problem(11, 12, 3, 2);
    let far = gaussian_start(5, 3, 8, 2, 10.0, 1.0);
    assert!(distance(&far, &loss) > loss.constants().w_star.sigma_min);
    assert_eq!(
        PreparedRule::prepare(StepRule::Arora2019, &start_of(&far, &loss)).err(),
        Some(RuleUnavailable::AroraMarginNotPositive)
    );
    let cfg = TrainerConfig {
        max_iters: 10,
        ..Default::default()
    };
    let tr = Trainer::new(far, loss.clone(), StepRule::Arora2019, cfg).unwrap();
    assert_eq!(
        tr.status(),
        Status::RuleUnavailable(RuleUnavailable::AroraMarginNotPositive)
    );

    let close = near_start(&loss, 8, 0.05, 3);
    let ws = loss.constants().w_star;
    let margin = ws.sigma_min - distance(&close, &loss);
    assert!(margin > 0.0);
    let want = margin.powi(3) / (49152.0 * ws.frobenius.powi(4));
    let s = start_of(&close, &loss);
    let mut r = PreparedRule::prepare(StepRule::Arora2019, &s).unwrap();
    let c = ctx(*loss.constants(), LocalConstants::default(), 1.0, 0.0);
    for t in [0, 1, 100] {
        let eta = r.step(&RuleContext { t, ..c }, &mut |_| f64::NAN).unwrap();
        assert!((eta - want).abs() <= 16.0 * EPS * want, "{eta} vs {want}");
    }
}

/// THEORY §6.4: Du et al.'s step is `√(ε/r)/(100(t+1)‖W*‖^{3/2})`,
/// `ε = ‖W*‖/2`, decaying like `1/(t+1)`; `W* = 0` has no scale.
#[test]
fn du_decays_like_one_over_t() {
    let loss = problem(2, 10, 3, 3);
    let ws = loss.constants().w_star;
    assert_eq!(ws.rank, 3);
    let eps = ws.frobenius / 2.0;
    let eta0 = (eps / ws.rank as f64).sqrt() / (100.0 * ws.frobenius.powf(1.5));
    let s = start(*loss.constants(), LossKind::Squared);
    let mut r = PreparedRule::prepare(StepRule::Du2018, &s).unwrap();
    let c = ctx(*loss.constants(), LocalConstants::default(), 1.0, 0.0);
    for t in [0usize, 1, 2, 9, 99, 12345] {
        let eta = r.step(&RuleContext { t, ..c }, &mut |_| f64::NAN).unwrap();
        let want = eta0 / (t + 1) as f64;
        assert!(
            (eta - want).abs() <= 16.0 * EPS * want,
            "t={t}: {eta} vs {want}"
        );
    }
    let mut zero = *loss.constants();
    zero.w_star = MatrixNorms {
        spectral: 0.0,
        frobenius: 0.0,
        sigma_min: 0.0,
        rank: 0,
    };
    assert_eq!(
        PreparedRule::prepare(StepRule::Du2018, &start(zero, LossKind::Squared)).err(),
        Some(RuleUnavailable::DuZeroTarget)
    );
    // A real zero target.
    let mut rng = Rng::new(4);
    let mut x = DMatrix::<f64>::zeros(8, 3);
    rng.fill_gaussian(&mut x, 1.0);
    let zl = SquaredLoss::new(x, DMatrix::<f64>::zeros(8, 2)).unwrap();
    let net = gaussian_start(1, 3, 6, 2, 1.0, 0.5);
    let tr = Trainer::new(net, zl, StepRule::Du2018, TrainerConfig::default()).unwrap();
    assert_eq!(
        tr.status(),
        Status::RuleUnavailable(RuleUnavailable::DuZeroTarget)
    );
}

/// THEORY §6.4: every Armijo step of a real run has sufficient decrease
/// `L_{t+1} ≤ L_t − c η g²`, starts from `initial` then at most twice the
/// last step, and the run converges.
#[test]
fn armijo_sufficient_decrease_in_a_run() {
    let loss = problem(21, 16, 4, 3);
    let net = gaussian_start(9, 4, 10, 3, 2.0, 0.5);
    let (c, shrink, initial) = (0.3, 0.5, 4.0);
    let cfg = TrainerConfig {
        max_iters: 5000,
        tol: Tolerance::Relative(1e-9),
        ..Default::default()
    };
    let mut tr = Trainer::new(net, loss, StepRule::Armijo { c, shrink, initial }, cfg).unwrap();
    let mut prev_eta: Option<f64> = None;
    let mut backtracked = 0;
    let s = tr.run(&mut |r: &StepRecord<f64>| {
        let g2 = r.cert.local.grad_sq;
        assert!(
            r.next_loss <= r.loss - c * r.eta * g2,
            "t={}: {} > {} - c {} {}",
            r.t,
            r.next_loss,
            r.loss,
            r.eta,
            g2
        );
        let first = prev_eta.map_or(initial, |p| 2.0 * p);
        assert!(r.eta <= first);
        // The accepted step is the first trial times a power of `shrink`.
        let k = (first / r.eta).log2().round();
        assert!((first / 2f64.powf(k) - r.eta).abs() <= 1e-12 * r.eta);
        if k > 0.0 {
            backtracked += 1;
        }
        prev_eta = Some(r.eta);
        true
    });
    assert_eq!(s.status, Status::Converged, "{s:?}");
    assert!(backtracked > 0, "the line search never backtracked");
    assert_eq!(s.tally.violations, 0);
}

/// Every rule's full run on a small squared-loss problem ends Converged or
/// MaxIters with no certificate violation (THEORY §5, Lemma 2 checked at
/// every step, Theorem 1 where `ηK_t < 2`) and no Lemma 3 violation.
#[test]
fn every_rule_runs_certified() {
    let loss = problem(31, 12, 3, 2);
    let far = gaussian_start(8, 3, 8, 2, 3.0, 0.7);
    let close = near_start(&loss, 8, 0.05, 1);
    let rules: [(StepRule<f64>, bool); 7] = [
        (StepRule::Local, true),
        (StepRule::RateOptimal, true),
        (StepRule::Constant(0.02), true),
        (StepRule::Arora2019, false),
        (StepRule::Du2018, false),
        (StepRule::xu2023(), true),
        (StepRule::armijo(), true),
    ];
    for (rule, must_converge) in rules {
        let net = if rule == StepRule::Arora2019 {
            close.clone()
        } else {
            far.clone()
        };
        let cfg = TrainerConfig {
            max_iters: 3000,
            tol: Tolerance::Relative(1e-8),
            imbalance_every: 7,
            ..Default::default()
        };
        let mut tr = Trainer::new(net, loss.clone(), rule, cfg).unwrap();
        let mut all_contract = true;
        let s = tr.run(&mut |r: &StepRecord<f64>| {
            all_contract &= r.cert.contraction_applies;
            true
        });
        println!(
            "{:>12}: {:?} after {} its, gap {:.3e}, worst {:.3}",
            rule.name(),
            s.status,
            s.iterations,
            s.final_gap,
            s.tally.worst_ratio
        );
        assert!(
            matches!(s.status, Status::Converged | Status::MaxIters),
            "{rule:?}: {s:?}"
        );
        if must_converge {
            assert_eq!(s.status, Status::Converged, "{rule:?}: {s:?}");
        }
        assert_eq!(s.tally.violations, 0, "{rule:?}");
        assert_eq!(s.tally.imbalance_violations, 0, "{rule:?}");
        assert!(s.tally.imbalance_checks > 0);
        assert!(
            s.tally.worst_ratio <= 1.0,
            "{rule:?}: {}",
            s.tally.worst_ratio
        );
        if matches!(rule, StepRule::Local | StepRule::RateOptimal) {
            assert!(all_contract, "{rule:?}: a step with eta K_t >= 2");
            assert_eq!(s.tally.contraction_steps as usize, s.iterations);
        }
    }
}

/// RateOptimal is never slower per step than Local in its certified rate on
/// a real trajectory, and reaches the tolerance in no more iterations here.
#[test]
fn rate_optimal_vs_local_run() {
    let loss = problem(41, 14, 3, 3);
    let net = gaussian_start(2, 3, 9, 3, 5.0, 0.6);
    let run = |rule| {
        let cfg = TrainerConfig {
            max_iters: 20000,
            tol: Tolerance::Relative(1e-8),
            ..Default::default()
        };
        let mut tr = Trainer::new(net.clone(), loss.clone(), rule, cfg).unwrap();
        let mut worst_gain = f64::NEG_INFINITY;
        let s = tr.run(&mut |r: &StepRecord<f64>| {
            // ρ_t of the Local step at the same iterate.
            let k = loss.constants().k;
            let el = local_step(k, &r.cert.local);
            let rl = StepCertificate::predict(r.cert.local, loss.constants().mu, k, r.gap, el).rho;
            worst_gain = worst_gain.max(r.cert.rho - rl);
            true
        });
        (s, worst_gain)
    };
    let (sl, _) = run(StepRule::Local);
    let (so, gain) = run(StepRule::RateOptimal);
    assert_eq!(sl.status, Status::Converged);
    assert_eq!(so.status, Status::Converged);
    assert!(gain <= 0.0, "RateOptimal's rho exceeded Local's by {gain}");
    println!(
        "local {} its, rate-optimal {} its",
        sl.iterations, so.iterations
    );
}

// ---------------------------------------------------------------- parser

#[test]
fn parse_names_and_round_trip() {
    let rules: [StepRule<f64>; 9] = [
        StepRule::Local,
        StepRule::RateOptimal,
        StepRule::Constant(0.015),
        StepRule::Arora2019,
        StepRule::Du2018,
        StepRule::xu2023(),
        StepRule::Xu2023 { c1: 2.0, c2: 0.25 },
        StepRule::armijo(),
        StepRule::Armijo {
            c: 0.1,
            shrink: 0.7,
            initial: 3.5,
        },
    ];
    for r in rules {
        let text = r.to_string();
        assert_eq!(StepRule::<f64>::parse(&text), Ok(r), "{text}");
        assert!(text.starts_with(r.name()));
    }
    let names = [
        "local",
        "rate-optimal",
        "constant",
        "arora",
        "du",
        "xu2023",
        "xu2023",
        "armijo",
        "armijo",
    ];
    for (r, n) in rules.iter().zip(names) {
        assert_eq!(r.name(), n);
    }
    assert_eq!(StepRule::<f64>::parse("local"), Ok(StepRule::Local));
    assert_eq!(
        StepRule::<f64>::parse(" Rate-Optimal "),
        Ok(StepRule::RateOptimal)
    );
    assert_eq!(
        StepRule::<f64>::parse("constant:1e-3"),
        Ok(StepRule::Constant(1e-3))
    );
    assert_eq!(
        StepRule::<f32>::parse("constant: 0.5"),
        Ok(StepRule::Constant(0.5f32))
    );
    assert_eq!(StepRule::<f64>::parse("arora2019"), Ok(StepRule::Arora2019));
    assert_eq!(StepRule::<f64>::parse("DU"), Ok(StepRule::Du2018));
    assert_eq!(StepRule::<f64>::parse("xu2023"), Ok(StepRule::xu2023()));
    assert_eq!(StepRule::<f64>::parse("armijo"), Ok(StepRule::armijo()));
}

#[test]
fn parse_errors() {
    let p = StepRule::<f64>::parse;
    assert_eq!(p("newton"), Err(ParseRuleError::UnknownRule));
    assert_eq!(p(""), Err(ParseRuleError::UnknownRule));
    assert_eq!(p("constant"), Err(ParseRuleError::WrongArity));
    assert_eq!(p("constant:1,2"), Err(ParseRuleError::WrongArity));
    assert_eq!(p("local:1"), Err(ParseRuleError::WrongArity));
    assert_eq!(p("xu2023:1.5"), Err(ParseRuleError::WrongArity));
    assert_eq!(p("armijo:0.1,0.5"), Err(ParseRuleError::WrongArity));
    assert_eq!(p("constant:abc"), Err(ParseRuleError::BadNumber));
    assert_eq!(p("constant:"), Err(ParseRuleError::BadNumber));
    for bad in [
        "constant:0",
        "constant:-1",
        "constant:inf",
        "constant:nan",
        "xu2023:0.5,0.5",
        "xu2023:1.5,2",
        "armijo:0.1,1.5,1",
        "armijo:1,0.5,1",
        "armijo:0.1,0.5,-1",
    ] {
        let e = p(bad);
        assert!(
            matches!(
                e,
                Err(ParseRuleError::Invalid(
                    RuleUnavailable::InvalidParameter { .. }
                ))
            ),
            "{bad}: {e:?}"
        );
    }
    for e in [
        ParseRuleError::UnknownRule,
        ParseRuleError::WrongArity,
        ParseRuleError::BadNumber,
    ] {
        assert!(!e.to_string().is_empty());
    }
}
