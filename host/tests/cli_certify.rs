//! End-to-end tests of `overlin certify` (THEORY §8).

use crate::common::*;

const PROBLEM: &[&str] = &["--n", "4", "--m", "3", "--h", "16", "--samples", "20"];

fn certify(dir: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["certify"];
    args.extend_from_slice(PROBLEM);
    args.extend_from_slice(extra);
    args.push("--json");
    let o = overlin(dir, &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    json(&o)
}

#[test]
fn imbalanced_gaussian_start_is_certified_and_the_guarantee_holds() {
    let dir = tempfile::tempdir().unwrap();
    let tol = 1e-6;
    let c = certify(
        dir.path(),
        &["--sigma", "50", "--scale", "0.5", "--tol", "1e-6"],
    );
    let a = &c["apriori"];
    assert_eq!(a["certified"], true, "{c}");
    let eta_bar = a["eta_bar"].as_f64().unwrap();
    let rho_bar = a["rho_bar"].as_f64().unwrap();
    let alpha_bar = a["alpha_bar"].as_f64().unwrap();
    let beta_bar = a["beta_bar"].as_f64().unwrap();
    let t_eps = a["iterations_to_tol"].as_u64().unwrap();
    assert!(eta_bar > 0.0 && (0.0..1.0).contains(&rho_bar));
    let s = &c["start"];
    let (alpha0, beta0, alpha_imb) = (
        s["alpha0"].as_f64().unwrap(),
        s["beta0"].as_f64().unwrap(),
        s["alpha_imb"].as_f64().unwrap(),
    );
    // ᾱ ≤ α_imb(D₀) ≤ α₀ ≤ β₀ ≤ β̄ (THEORY §7, §8).
    assert!(
        alpha_bar > 0.0 && alpha_bar <= alpha_imb,
        "{alpha_bar} {alpha_imb}"
    );
    assert!(alpha_imb <= alpha0 * (1.0 + 1e-12), "{alpha_imb} {alpha0}");
    assert!(
        alpha0 <= beta0 && beta0 <= beta_bar,
        "{alpha0} {beta0} {beta_bar}"
    );
    // T(ε) is the formula of THEORY §8.
    let gap0 = s["gap0"].as_f64().unwrap();
    let expect = ((gap0 / tol).ln() / (1.0 / rho_bar).ln()).ceil() as u64;
    assert_eq!(t_eps, expect);
    // Theorem 2: any steps ≤ η̄ reach the tolerance within T(ε) iterations.
    let rule = format!("constant:{eta_bar:e}");
    let iters = t_eps.to_string();
    let mut args = vec!["run"];
    args.extend_from_slice(PROBLEM);
    args.extend_from_slice(&[
        "--sigma", "50", "--scale", "0.5", "--tol", "1e-6", "--rule", &rule, "--iters", &iters,
        "--json",
    ]);
    let o = overlin(dir.path(), &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["status"], "converged", "{r}");
    assert!(r["iterations"].as_u64().unwrap() <= t_eps);
    assert_eq!(r["tally"]["violations"], 0);
    // The run reports the same a-priori certificate.
    assert_eq!(r["apriori"]["eta_bar"].as_f64().unwrap(), eta_bar);
}

#[test]
fn spectral_start_has_no_certificate_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let c = certify(dir.path(), &["--init", "spectral"]);
    let a = &c["apriori"];
    assert_eq!(a["certified"], false);
    assert!(a["eta_bar"].is_null());
    let reason = a["reason"].as_str().unwrap();
    assert!(reason.contains("imbalance"), "{reason}");
    // Too far from W* for the loss margin (THEORY §8.1): says how far.
    assert!(
        reason.contains("must fall below mu sigma_min(W*)^2/2"),
        "{reason}"
    );
    let gap0 = c["start"]["gap0"].as_f64().unwrap();
    let mg = a["margin_gap"].as_f64().unwrap();
    assert!(mg > 0.0 && gap0 > mg, "{a}");
    let s = &c["start"];
    // D₀ = 0 up to rounding: no margin, yet α₀ > 0 (the per-step certificate still works).
    assert!(s["alpha_imb"].as_f64().unwrap() == 0.0);
    assert!(s["lambda_max"].as_f64().unwrap().abs() < 1e-10);
    assert!(s["alpha0"].as_f64().unwrap() > 0.0);
    // Text output says the same in words.
    let mut args = vec!["certify", "--init", "spectral"];
    args.extend_from_slice(PROBLEM);
    let o = overlin(dir.path(), &args);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert!(out.contains("no a-priori certificate"), "{out}");
    assert!(out.contains("alpha0"), "{out}");
}

#[test]
fn start_constants_match_the_first_step_of_a_local_run() {
    let dir = tempfile::tempdir().unwrap();
    let c = certify(dir.path(), &["--sigma", "3"]);
    let mut args = vec!["run"];
    args.extend_from_slice(PROBLEM);
    args.extend_from_slice(&["--sigma", "3", "--iters", "1", "--csv", "one.csv"]);
    let o = overlin(dir.path(), &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = std::fs::read_to_string(dir.path().join("one.csv")).unwrap();
    let row: Vec<f64> = text
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        // The last column is the step's class (a name).
        .filter_map(|v| v.parse().ok())
        .collect();
    let s = &c["start"];
    // Same core computation: equal to the last bit (CSV uses round-trip formatting).
    assert_eq!(row[2], s["gap0"].as_f64().unwrap());
    assert_eq!(row[3], s["eta_local0"].as_f64().unwrap());
    assert_eq!(row[4], s["alpha0"].as_f64().unwrap());
    assert_eq!(row[5], s["beta0"].as_f64().unwrap());
    assert_eq!(row[9], s["rho0"].as_f64().unwrap());
}

#[test]
fn certify_rejects_a_non_positive_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let o = overlin(dir.path(), &["certify", "--tol", "-1e-3"]);
    assert_one_line_error(&o, 2, "--tol");
}

/// A balanced start close to `W*` (a spectral factorization of `0.98 W*`,
/// `D₀ = 0`) is certified by the loss margin alone (THEORY §8.1), and the
/// text shows both terms of `ᾱ`.
#[test]
fn balanced_start_near_w_star_is_certified_by_the_margin() {
    let dir = tempfile::tempdir().unwrap();
    let p = [
        "--init",
        "spectral-target",
        "--scale",
        "0.98",
        "--kappa",
        "2",
    ];
    let c = certify(dir.path(), &p);
    let a = &c["apriori"];
    assert_eq!(a["certified"], true, "{a}");
    assert_eq!(a["alpha_source"], "margin");
    assert_eq!(c["start"]["alpha_imb"].as_f64().unwrap(), 0.0);
    let margin = a["alpha_margin"].as_f64().unwrap();
    assert!(margin > 0.0 && a["alpha_imbalance"].as_f64().unwrap() <= 0.0);
    assert_eq!(a["alpha_bar"].as_f64().unwrap(), margin);
    assert!(c["start"]["gap0"].as_f64().unwrap() < a["margin_gap"].as_f64().unwrap());
    let mut args = vec!["certify"];
    args.extend_from_slice(&p);
    args.extend_from_slice(PROBLEM);
    let o = overlin(dir.path(), &args);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert!(out.contains("positive by: margin"), "{out}");
    assert!(out.contains("margin term"), "{out}");
    assert!(out.contains("imbalance term"), "{out}");
}

/// At depth L ≥ 3 the a-priori certificate is open (THEORY §13): `certify`
/// says so, reports the depth, shows the imbalance extremes over every pair
/// `D_j` and leaves out the two-layer loss margin of §8.1; at depth 2 the
/// margin line is there and the JSON says depth 2.
#[test]
fn deep_certify_reports_every_pair_and_no_two_layer_margin() {
    let dir = tempfile::tempdir().unwrap();
    let deep = certify(dir.path(), &["--depth", "3"]);
    assert_eq!(deep["depth"], 3, "{deep}");
    assert_eq!(deep["apriori"]["certified"], false, "{deep}");
    let reason = deep["apriori"]["reason"].as_str().unwrap();
    assert!(reason.contains("open for L >= 3"), "{reason}");
    assert!(
        deep["start"]["lambda_max"].as_f64().unwrap() > 0.0,
        "{deep}"
    );
    assert_eq!(certify(dir.path(), &[])["depth"], 2);

    let text = |extra: &[&str]| {
        let mut args = vec!["certify"];
        args.extend_from_slice(PROBLEM);
        args.extend_from_slice(extra);
        let o = overlin(dir.path(), &args);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        stdout(&o)
    };
    let t3 = text(&["--depth", "3"]);
    assert!(t3.contains("imbalances D_1..D_2: max lambda_max="), "{t3}");
    assert!(!t3.contains("loss margin"), "{t3}");
    let t2 = text(&[]);
    assert!(t2.contains("imbalance D0: lambda_max="), "{t2}");
    assert!(t2.contains("loss margin"), "{t2}");
}
