//! The margin bound and certificates from any iterate (THEORY §8.1, §8.2),
//! on real runs of every loss and shape, balanced starts included (f64,
//! with an independent SVD for `α_t, β_t`), and the anytime guarantee's
//! check: it holds on true constants and fails on a false `μ`.

// Tests may panic: that is how they fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use overlin_core::apriori::certificate_for_step;
use overlin_core::loss::AnyLoss;
use overlin_core::loss::{Evaluation, LossConstants};
use overlin_core::nalgebra::{Const, DMatrix, DVector, Dyn, OMatrix};
use overlin_core::*;

const EPS: f64 = f64::EPSILON;

/// `(α_t, β_t)` of THEORY §2 by nalgebra's SVD (independent of the code
/// under test).
fn alpha_beta(w1: &DMatrix<f64>, w2: &DMatrix<f64>) -> (f64, f64) {
    let (n, h) = w1.shape();
    let m = w2.ncols();
    let s1 = w1.clone().svd(false, false).singular_values;
    let s2 = w2.clone().svd(false, false).singular_values;
    let mx = |s: &DVector<f64>| s.iter().cloned().fold(0.0, f64::max);
    let mn = |s: &DVector<f64>| s.iter().cloned().fold(f64::INFINITY, f64::min);
    let a1 = if h >= n { mn(&s1).powi(2) } else { 0.0 };
    let a2 = if h >= m { mn(&s2).powi(2) } else { 0.0 };
    (a1 + a2, mx(&s1).powi(2) + mx(&s2).powi(2))
}

fn sigma_min(w: &DMatrix<f64>) -> f64 {
    w.clone()
        .svd(false, false)
        .singular_values
        .iter()
        .cloned()
        .fold(f64::INFINITY, f64::min)
}

/// The four losses of THEORY §9 on one random instance of shape `n×m`.
fn losses(seed: u64, n: usize, m: usize) -> Vec<(&'static str, AnyLoss<f64>)> {
    let mut rng = Rng::new(seed);
    let s = 3 * (n + m);
    let mut x = DMatrix::<f64>::zeros(s, n);
    data::conditioned_data(&mut x, 2.0, &mut rng).unwrap();
    let mut theta = DMatrix::<f64>::zeros(n, m);
    let mut y = DMatrix::<f64>::zeros(s, m);
    data::linear_targets(&x, &mut theta, &mut y, 1.0, 0.1, &mut rng).unwrap();
    let mut labels = DMatrix::<f64>::zeros(s, m);
    data::one_hot_labels(&x, &mut theta, &mut labels, 2.0, 0.1, &mut rng).unwrap();
    let p = n * m + 4;
    let mut a = DMatrix::<f64>::zeros(p, n * m);
    data::sensing_operator(&mut a, &mut rng);
    let mut yv = DVector::<f64>::zeros(p);
    data::sensing_measurements(&a, &mut theta, &mut yv, 1.0, 0.05, &mut rng).unwrap();
    vec![
        (
            "squared",
            AnyLoss::Squared(SquaredLoss::new(x.clone(), y.clone()).unwrap()),
        ),
        (
            "sensing",
            AnyLoss::Sensing(MatrixSensing::new(Dyn(n), Dyn(m), a, yv).unwrap()),
        ),
        (
            "logcosh",
            AnyLoss::LogCosh(LogCoshRidge::new(x.clone(), y, 0.5).unwrap()),
        ),
        (
            "softmax",
            AnyLoss::Softmax(SoftmaxRidge::new(x, labels, 0.2).unwrap()),
        ),
    ]
}

/// A loss whose reported `μ` is `factor` times the true one and whose `W*`
/// is claimed perfectly conditioned (`σ_min(W*) = ‖W*‖₂`): false constants,
/// so guarantees built on them must be caught (THEORY §11).
#[derive(Clone, Debug)]
struct FalseMu {
    loss: AnyLoss<f64>,
    constants: LossConstants<f64>,
}

impl FalseMu {
    fn new(loss: AnyLoss<f64>, factor: f64) -> Self {
        let mut constants = *loss.constants();
        constants.mu *= factor;
        constants.k = constants.k.max(constants.mu);
        constants.w_star.sigma_min = constants.w_star.spectral;
        Self { loss, constants }
    }
}

impl Loss<f64, Dyn, Dyn> for FalseMu {
    fn kind(&self) -> LossKind {
        self.loss.kind()
    }
    fn constants(&self) -> &LossConstants<f64> {
        &self.constants
    }
    fn minimizer(&self) -> &DMatrix<f64> {
        self.loss.minimizer()
    }
    fn evaluate(&mut self, w: &DMatrix<f64>) -> Evaluation<f64> {
        self.loss.evaluate(w)
    }
    fn evaluate_with_gradient(
        &mut self,
        w: &DMatrix<f64>,
        g: &mut DMatrix<f64>,
    ) -> Evaluation<f64> {
        self.loss.evaluate_with_gradient(w, g)
    }
    fn rounding(&self) -> &RoundingModel<f64> {
        self.loss.rounding()
    }
}

/// Ridge softmax's `W*` has rows summing to 0 (the logits are shift
/// invariant and the ridge picks the smallest `W`), so it is singular when
/// `n ≥ m`: then there is no loss margin (THEORY §8.1).
fn softmax_singular(name: &str, n: usize, m: usize) -> bool {
    name == "softmax" && n >= m
}

const SHAPES: [(usize, usize, usize); 4] = [(2, 8, 4), (3, 9, 3), (4, 10, 2), (3, 3, 3)];

/// Starts near and far from `W*`: balanced (`D = 0`) factorizations of
/// `s·W*` and of a random target, and slightly imbalanced Gaussian
/// perturbations of a balanced factorization of `W*`.
fn starts(loss: &AnyLoss<f64>, h: usize, seed: u64) -> Vec<(String, DynNet<f64>)> {
    let w_star = loss.minimizer().clone();
    let (n, m) = w_star.shape();
    let mut out = Vec::new();
    for s in [0.9, 0.97, 1.03, 1.2] {
        out.push((
            format!("balanced {s} W*"),
            spectral_balanced(&(&w_star * s), Dyn(h)).unwrap(),
        ));
    }
    let mut rng = Rng::new(seed);
    let mut r = DMatrix::<f64>::zeros(n, m);
    rng.fill_gaussian(&mut r, 1.0);
    out.push((
        "balanced random".into(),
        spectral_balanced(&r, Dyn(h)).unwrap(),
    ));
    let base = spectral_balanced(&w_star, Dyn(h)).unwrap();
    for std in [0.02, 0.1] {
        let mut d1 = DMatrix::<f64>::zeros(n, h);
        let mut d2 = DMatrix::<f64>::zeros(h, m);
        rng.fill_gaussian(&mut d1, std);
        rng.fill_gaussian(&mut d2, std);
        out.push((
            format!("perturbed {std}"),
            DynNet::new(&base.w1 + d1, &base.w2 + d2).unwrap(),
        ));
    }
    // A small balanced Gaussian start (the saddle region).
    out.push((
        "small gaussian".into(),
        Init::Gaussian {
            sigma: 0.0,
            std: 0.05,
        }
        .sample(Dyn(n), Dyn(h), Dyn(m), &mut rng)
        .unwrap(),
    ));
    out
}

/// THEORY §8.1 must hold: along runs whose loss does not rise (Local
/// steps, THEORY §6), `α_t ≥ c p₀²/β_t` with `p₀ = [σ_min(W*) −
/// √(2(L₀ − L*)/μ)]₊` and `c = 4` if `n = m` else 1, for every loss and
/// shape (`n < m`, `n = m`, `n > m`), balanced starts included. `σ_min(W*)`
/// comes from nalgebra's SVD, `α_t, β_t` from SVDs of the iterates.
#[test]
fn margin_lower_bound_holds_along_runs() {
    let mut with_margin = 0;
    let mut checked = 0;
    let mut tightest = 0.0f64;
    for (si, &(n, h, m)) in SHAPES.iter().enumerate() {
        for (name, loss) in losses(40 + si as u64, n, m) {
            let c = *loss.constants();
            let s_star = sigma_min(loss.minimizer());
            let cm = if n == m { 4.0 } else { 1.0 };
            let mut margin_here = 0;
            for (start, net) in starts(&loss, h, 7 + si as u64) {
                let mut tr = Trainer::new(
                    net,
                    loss.clone(),
                    StepRule::Local,
                    TrainerConfig {
                        max_iters: 60,
                        stall_window: 0,
                        ..Default::default()
                    },
                )
                .unwrap();
                let gap0 = tr.evaluation().gap;
                let p0 = (s_star - (2.0 * gap0 / c.mu).sqrt()).max(0.0);
                if p0 > 0.0 {
                    margin_here += 1;
                }
                let mut last_gap = gap0;
                loop {
                    let (alpha, beta) = alpha_beta(&tr.net().w1, &tr.net().w2);
                    let bound = cm * p0 * p0 / beta;
                    let tol = 16.0 * h as f64 * EPS * beta;
                    assert!(
                        alpha >= bound - tol,
                        "{name} {start} {:?} t={}: alpha {alpha} < c p0^2/beta {bound}",
                        (n, h, m),
                        tr.iterations()
                    );
                    if bound > 0.0 {
                        tightest = tightest.max(bound / alpha);
                    }
                    checked += 1;
                    if tr.step().is_none() {
                        break;
                    }
                    let gap = tr.evaluation().gap;
                    // The premise: the loss did not rise (beyond rounding).
                    assert!(gap <= last_gap * (1.0 + 8.0 * EPS) + 8.0 * EPS * c.l_star.abs());
                    last_gap = gap;
                }
            }
            if softmax_singular(name, n, m) {
                // Ridge softmax has W* 1 = 0 (the logits are shift
                // invariant), so σ_min(W*) = 0 when n ≥ m: no margin.
                assert!(
                    s_star <= 1e-6 * c.w_star.spectral,
                    "{name}: sigma_min(W*) = {s_star}"
                );
                assert_eq!(margin_here, 0);
                continue;
            }
            assert!(
                margin_here > 0,
                "{name} {:?}: no start with a margin, the test checks nothing",
                (n, h, m)
            );
            with_margin += margin_here;
        }
    }
    println!("{checked} iterates, {with_margin} runs with p0 > 0, tightest c p0^2/beta / alpha = {tightest:.3}");
    assert!(tightest > 0.0);
}

/// Theorem 2 with the margin (THEORY §8.1) on real runs: balanced starts
/// near `W*` (`α_imb(D₀) = 0`) are certified by the margin alone, and GD
/// with `Constant(η̄)` keeps `α_t ≥ ᾱ`, `β_t ≤ β̄`, `L_t − L* ≤ ρ̄ᵗ(L₀ − L*)`
/// and reaches `ε` within `T(ε)`, for every loss and shape.
#[test]
fn margin_certificate_holds_on_balanced_starts() {
    let mut certified = 0;
    for (si, &(n, h, m)) in SHAPES.iter().enumerate() {
        for (name, loss) in losses(70 + si as u64, n, m) {
            for (start, net) in starts(&loss, h, 3) {
                let tr = Trainer::new(
                    net.clone(),
                    loss.clone(),
                    StepRule::Local,
                    TrainerConfig::default(),
                )
                .unwrap();
                let s0 = tr.summary();
                let Ok(cert) = s0.apriori else {
                    // No margin: the reason names the gap and the threshold.
                    match s0.apriori {
                        Err(NoCertificate::NoMargin {
                            gap0, margin_gap, ..
                        }) => assert!(gap0 >= margin_gap, "{name} {start}"),
                        other => {
                            // An imbalanced start may still be refused for
                            // drift only in over/underflow.
                            panic!("{name} {start}: {other:?}")
                        }
                    }
                    continue;
                };
                if start.starts_with("balanced") {
                    assert_eq!(cert.source, AlphaSource::Margin, "{name} {start}");
                }
                let gap0 = s0.initial_gap;
                let eps = 1e-6 * gap0;
                let t_eps = cert.iterations_for(gap0, eps).unwrap() as usize;
                if t_eps > 100_000 {
                    continue;
                }
                certified += 1;
                let l_star = loss.constants().l_star;
                let mut tr = Trainer::new(
                    net,
                    loss.clone(),
                    StepRule::Constant(cert.eta_bar),
                    TrainerConfig {
                        max_iters: t_eps + 1,
                        tol: Tolerance::Absolute(eps),
                        stall_window: 0,
                        anytime_every: 5,
                        ..Default::default()
                    },
                )
                .unwrap();
                let mut power = 1.0f64;
                loop {
                    let (alpha, beta) = alpha_beta(&tr.net().w1, &tr.net().w2);
                    let tol = 16.0 * h as f64 * EPS * cert.beta_bar;
                    let t = tr.iterations();
                    assert!(
                        alpha >= cert.alpha_bar - tol,
                        "{name} {start} t={t}: alpha {alpha} < {}",
                        cert.alpha_bar
                    );
                    assert!(
                        beta <= cert.beta_bar + tol,
                        "{name} {start} t={t}: beta {beta} > {}",
                        cert.beta_bar
                    );
                    let gap = tr.evaluation().gap;
                    assert!(
                        gap <= power * gap0 + 8.0 * EPS * (gap + l_star.abs()),
                        "{name} {start} t={t}: gap {gap} > rho_bar^t gap0 {}",
                        power * gap0
                    );
                    power *= cert.rho_bar;
                    if tr.step().is_none() {
                        break;
                    }
                }
                let s = tr.summary();
                assert_eq!(s.status, Status::Converged, "{name} {start}: {s:?}");
                assert!(s.iterations <= t_eps);
                assert_eq!(s.tally.violations, 0);
                let a = s.anytime;
                assert_eq!(a.certified_from, Some(0), "{name} {start}");
                assert!(a.applies() && a.violations == 0, "{name} {start}: {a:?}");
            }
        }
    }
    assert!(certified >= 16, "only {certified} margin certificates");
}

/// THEORY §8.2 on starts with no certificate at `t = 0` (balanced far from
/// `W*`, small balanced Gaussian): a run gets one at a later iterate `t_c`,
/// and `t_c + T_{t_c}(ε)` bounds its length. A constant step is certified
/// for that very step, so every step qualifies and the guarantee is
/// checked (and held); Local steps exceed `η̄` (they are at least `1/K̄`),
/// so the guarantee is reported as not applying from `t_c` on.
#[test]
fn certified_from_step_bounds_the_run() {
    let mut late = 0;
    for (si, &(n, h, m)) in SHAPES.iter().enumerate() {
        for (name, loss) in losses(90 + si as u64, n, m) {
            for (start, net) in starts(&loss, h, 11) {
                if !(start == "balanced random" || start == "small gaussian") {
                    continue;
                }
                if softmax_singular(name, n, m) {
                    continue;
                }
                let c = *loss.constants();
                let cfg = TrainerConfig {
                    max_iters: 20_000,
                    tol: Tolerance::Relative(1e-8),
                    anytime_every: 4,
                    ..Default::default()
                };
                let mut local =
                    Trainer::new(net.clone(), loss.clone(), StepRule::Local, cfg).unwrap();
                let sl = local.run(&mut ());
                assert_eq!(sl.status, Status::Converged, "{name} {start}: {sl:?}");
                let Some(tc) = sl.anytime.certified_from else {
                    panic!("{name} {start}: never certified ({:?})", sl.anytime)
                };
                assert!(tc.is_multiple_of(4));
                assert_eq!(sl.anytime.first_unqualified, Some(tc), "{name} {start}");
                assert_eq!(sl.anytime.violations, 0);
                if tc > 0 {
                    late += 1;
                    assert!(matches!(sl.apriori, Err(NoCertificate::NoMargin { .. })));
                }
                // A constant step: half of the largest step that keeps
                // Lemma 2's factor below 2 near the minimum.
                let beta_star = 2.0 * c.w_star.spectral;
                let eta = 0.5 / (c.k * beta_star);
                let mut tr = Trainer::new(net, loss.clone(), StepRule::Constant(eta), cfg).unwrap();
                let mut t_c_gap = None;
                let s = tr.run(&mut |r: &StepRecord<f64>| {
                    if let Some(a) = r.anytime {
                        if let (None, Ok(cert)) = (t_c_gap, a.certificate) {
                            assert_eq!(cert.eta_bar, eta);
                            t_c_gap = Some(r.gap);
                        }
                    }
                    true
                });
                assert_eq!(s.status, Status::Converged, "{name} {start}: {s:?}");
                let a = s.anytime;
                let Some(tc) = a.certified_from else {
                    continue;
                };
                assert_eq!(Some(a.gap_at), t_c_gap);
                assert!(a.applies(), "{name} {start}: {a:?}");
                assert_eq!(a.violations, 0, "{name} {start}: {a:?}");
                assert!(a.worst_ratio <= 1.0);
                assert_eq!(a.steps_checked as usize, s.iterations - tc);
                let total = a.guaranteed_total.unwrap();
                assert_eq!(total, tc as u64 + a.guaranteed_remaining.unwrap());
                assert!(
                    s.iterations as u64 <= total,
                    "{name} {start}: {} iterations > guaranteed {total}",
                    s.iterations
                );
                // The guarantee is the certificate for that step at t_c.
                let cert = a.certificate.unwrap();
                assert_eq!(cert.eta_bar, eta);
            }
        }
    }
    assert!(late >= 8, "only {late} runs certified late");
}

/// The anytime check can fail: with `μ` reported 10 times too large and
/// `W*` claimed perfectly conditioned, the guarantees are false and the
/// chained bound catches it, for the quadratic losses (squared, sensing),
/// whose `μ` is the curvature of some direction everywhere. (Log-cosh and
/// softmax are left out: their `μ` is a global worst case, and near `W*`
/// their curvature is larger — up to `(1 + γ)/γ` times for log-cosh — so
/// a tenfold `μ` there need not be false.) The honest constants never
/// trip it.
#[test]
fn false_constants_break_the_anytime_guarantee() {
    let mut caught = 0;
    let mut cases = 0;
    for (si, &(n, h, m)) in SHAPES.iter().enumerate() {
        for (name, loss) in losses(120 + si as u64, n, m) {
            if softmax_singular(name, n, m) {
                continue;
            }
            let net = spectral_balanced(&(loss.minimizer() * 0.8), Dyn(h)).unwrap();
            let c = *loss.constants();
            let eta = 0.5 / (c.k * 2.0 * c.w_star.spectral);
            let cfg = TrainerConfig {
                max_iters: 5000,
                tol: Tolerance::Relative(1e-8),
                anytime_every: 1,
                certify: false,
                ..Default::default()
            };
            let honest = Trainer::new(net.clone(), loss.clone(), StepRule::Constant(eta), cfg)
                .unwrap()
                .run(&mut ());
            assert_eq!(honest.anytime.violations, 0, "{name}: {:?}", honest.anytime);
            let s = Trainer::new(net, FalseMu::new(loss, 10.0), StepRule::Constant(eta), cfg)
                .unwrap()
                .run(&mut ());
            assert!(s.anytime.certified_from.is_some(), "{name} {:?}", (n, h, m));
            if name == "squared" || name == "sensing" {
                cases += 1;
                assert!(
                    s.anytime.violations > 0 && s.anytime.worst_ratio > 1.0,
                    "{name} {:?}: false guarantee not caught: {:?}",
                    (n, h, m),
                    s.anytime
                );
                caught += 1;
            }
        }
    }
    assert_eq!(caught, cases);
    assert_eq!(cases, 2 * SHAPES.len());
}

/// `Trainer::certificate_now` is generic: `f32` and fixed sizes, and it
/// agrees with the a-priori certificate at the start.
#[test]
fn certificate_now_f32_fixed_sizes() {
    let mut rng = Rng::new(3);
    let mut x = OMatrix::<f32, Const<12>, Const<3>>::zeros();
    data::conditioned_data(&mut x, 2.0, &mut rng).unwrap();
    let mut theta = OMatrix::<f32, Const<3>, Const<3>>::zeros();
    let mut y = OMatrix::<f32, Const<12>, Const<3>>::zeros();
    data::linear_targets(&x, &mut theta, &mut y, 1.0, 0.0, &mut rng).unwrap();
    let loss = SquaredLoss::new(x, y).unwrap();
    let target = loss.minimizer() * 0.98f32;
    let net = spectral_balanced(&target, Const::<8>).unwrap();
    let mut tr = Trainer::new(net, loss, StepRule::Local, TrainerConfig::default()).unwrap();
    let start = tr.summary().apriori.unwrap();
    assert_eq!(start.source, AlphaSource::Margin);
    assert_eq!(tr.certificate_now(), Ok(start));
    for _ in 0..20 {
        tr.step().unwrap();
    }
    let later = tr.certificate_now().unwrap();
    // Closer to W*: a better guaranteed rate.
    assert!(later.rho_bar < start.rho_bar, "{later:?} vs {start:?}");
    let inputs = tr.inputs_now();
    assert_eq!(inputs.n, 3);
    assert_eq!(certificate_for_step(&inputs, later.eta_bar), Ok(later));
}
