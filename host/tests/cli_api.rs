//! The library API the CLI and the experiments are built on
//! (`overlin::problem`): determinism, observers, records, serde.

use overlin::problem::{InitName, Kappa, Precision, Problem, ProblemSpec, Record, RunSpec};
use overlin::RunStatus;

fn spec() -> ProblemSpec {
    ProblemSpec {
        n: Some(4),
        m: Some(3),
        h: Some(12),
        samples: Some(30),
        sigma: 2.0,
        scale: 0.5,
        seed: 3,
        ..Default::default()
    }
}

fn strip_time(mut r: overlin::RunResult) -> overlin::RunResult {
    r.wall_time_s = 0.0;
    r
}

#[test]
fn same_spec_same_result_and_records_match_the_summary() {
    let run = RunSpec {
        iters: 500,
        tol: 1e-9,
        keep_records: true,
        ..Default::default()
    };
    let a = overlin::run(&spec(), &run, &mut ()).unwrap();
    let b = overlin::run(&spec(), &run, &mut ()).unwrap();
    assert_eq!(strip_time(a.clone()), strip_time(b));
    let recs = a.records.as_ref().unwrap();
    assert_eq!(recs.len(), a.iterations);
    assert_eq!(recs[0].gap, a.initial_gap);
    assert_eq!(recs.last().unwrap().next_gap, a.final_gap);
    assert_eq!(recs[0].alpha, a.alpha0);
    assert!(recs.iter().all(|r| r.holds));
}

#[test]
fn one_problem_runs_several_rules_from_the_same_start() {
    let p = Problem::build(&spec()).unwrap();
    let mut gaps = Vec::new();
    for rule in ["local", "rate-optimal", "xu2023", "armijo"] {
        // xu2023 contracts at about 1 − (μ/K)(α/β)², far slower (THEORY §6.4):
        // it only has to make certified progress here.
        let slow = rule == "xu2023";
        let r = p
            .run(
                &RunSpec {
                    rule: rule.into(),
                    iters: if slow { 300 } else { 3000 },
                    tol: 1e-8,
                    ..Default::default()
                },
                &mut (),
            )
            .unwrap();
        if slow {
            assert!(r.final_gap < 0.5 * r.initial_gap, "{rule}: {r:?}");
        } else {
            assert_eq!(r.status, RunStatus::Converged, "{rule}: {r:?}");
        }
        assert_eq!(r.tally.violations, 0, "{rule}");
        assert_eq!(r.tally.steps_checked as usize, r.iterations, "{rule}");
        gaps.push(r.initial_gap);
    }
    assert!(
        gaps.windows(2).all(|w| w[0] == w[1]),
        "same start: {gaps:?}"
    );
    // The certificate of the built problem agrees with the runs.
    let c = p.certify(1e-8).unwrap();
    assert_eq!(c.start.gap0, gaps[0]);
}

#[test]
fn observer_sees_every_step_and_can_stop_the_run() {
    let p = Problem::build(&spec()).unwrap();
    let mut seen = Vec::new();
    let r = p
        .run(
            &RunSpec {
                iters: 1000,
                tol: 1e-12,
                ..Default::default()
            },
            &mut |rec: &Record| {
                seen.push(rec.t);
                rec.t < 9
            },
        )
        .unwrap();
    assert_eq!(r.status, RunStatus::Stopped);
    assert_eq!(r.iterations, 10);
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    assert_eq!(r.exit_code(), overlin::exit::INTERRUPTED);
}

#[test]
fn f32_and_f64_build_the_same_problem_up_to_rounding() {
    let p64 = Problem::build(&spec()).unwrap();
    let p32 = Problem::build(&ProblemSpec {
        precision: Precision::F32,
        ..spec()
    })
    .unwrap();
    let (c64, c32) = (p64.certify(1e-6).unwrap(), p32.certify(1e-6).unwrap());
    let rel = |a: f64, b: f64| (a - b).abs() / a.abs().max(1e-300);
    assert!(rel(c64.start.gap0, c32.start.gap0) < 1e-5);
    assert!(rel(c64.constants.mu, c32.constants.mu) < 1e-4);
    assert!(rel(c64.start.alpha0, c32.start.alpha0) < 1e-4);
    assert!(p32.as_f32().is_some() && p64.as_f64().is_some());
}

#[test]
fn specs_round_trip_through_json_and_toml_names() {
    let s = ProblemSpec {
        kappa: Kappa::Orthogonal,
        init: InitName::SpectralTarget,
        ..spec()
    };
    let text = serde_json::to_string(&s).unwrap();
    assert!(text.contains(r#""kappa":"orthogonal""#), "{text}");
    assert!(text.contains(r#""init":"spectral-target""#), "{text}");
    let back: ProblemSpec = serde_json::from_str(&text).unwrap();
    assert_eq!(back, s);
    let k: ProblemSpec = serde_json::from_str(r#"{"kappa": 30}"#).unwrap();
    assert_eq!(k.kappa, Kappa::Value(30.0));
    assert!(serde_json::from_str::<ProblemSpec>(r#"{"kappa": 0.5}"#).is_err());
    assert!(serde_json::from_str::<ProblemSpec>(r#"{"widht": 3}"#).is_err());
}

#[test]
fn data_generators_give_the_documented_constants() {
    // κ-conditioned X: K = 1, μ = 1/κ² for the squared loss.
    let c = Problem::build(&ProblemSpec {
        kappa: Kappa::Value(10.0),
        ..spec()
    })
    .unwrap()
    .constants();
    assert!(
        (c.k - 1.0).abs() < 1e-12 && (c.mu - 1e-2).abs() < 1e-12,
        "{c:?}"
    );
    // Orthogonal X (XᵀX = I): μ = K = 1/N.
    let c = Problem::build(&ProblemSpec {
        kappa: Kappa::Orthogonal,
        ..spec()
    })
    .unwrap()
    .constants();
    assert!((c.k - 1.0 / 30.0).abs() < 1e-14 && (c.mu - 1.0 / 30.0).abs() < 1e-14);
    // X = I needs samples = n.
    assert!(Problem::build(&ProblemSpec {
        kappa: Kappa::Identity,
        ..spec()
    })
    .is_err());
    let c = Problem::build(&ProblemSpec {
        kappa: Kappa::Identity,
        samples: Some(4),
        ..spec()
    })
    .unwrap()
    .constants();
    assert_eq!((c.mu, c.k), (0.25, 0.25));
}

#[test]
fn spectral_target_start_at_scale_one_is_the_minimum() {
    let p = Problem::build(&ProblemSpec {
        init: InitName::SpectralTarget,
        scale: 1.0,
        ..spec()
    })
    .unwrap();
    let c = p.certify(1e-10).unwrap();
    assert!(c.start.gap0 < 1e-20, "{}", c.start.gap0);
    let r = p.run(&RunSpec::default(), &mut ()).unwrap();
    assert_eq!(r.status, RunStatus::Converged);
    assert_eq!(r.iterations, 0);
}

/// A caller's step checked with `step_certificate` is classed and checked as
/// the trainer's own (THEORY §11): the gradient step is certified and holds,
/// a step the wrong way breaks the bound, and a finite bound that keeps the
/// loss down followed by a non-finite point is a broken certificate.
#[test]
fn step_certificate_classes_a_callers_step_as_a_run_would() {
    use overlin::problem::Class;
    let p = Problem::build(&spec()).unwrap();
    let mut pred = p.step_certificate(0.01).unwrap();
    assert!(pred.prediction.contraction_applies);
    let (w1, w2) = pred.gradient_step();
    let ok = pred.check(&w1, &w2).unwrap();
    assert_eq!(ok.class, Class::Certified);
    assert!(ok.holds && ok.bound_ratio <= 1.0 && ok.allowance > 0.0);
    // Twice as far from the start as the certified step, the other way.
    let (s1, s2) = p.start();
    let back1 = &s1 * 2.0 - &w1;
    let back2 = &s2 * 2.0 - &w2;
    let bad = pred.check(&back1, &back2).unwrap();
    assert!(!bad.holds && bad.bound_ratio > 1.0, "{bad:?}");
    let inf = w1.map(|_| f64::INFINITY);
    let broken = pred.check(&inf, &w2).unwrap();
    assert_eq!(broken.class, Class::NonFinite);
    assert!(
        !broken.holds,
        "a finite bound followed by a non-finite point"
    );
}
