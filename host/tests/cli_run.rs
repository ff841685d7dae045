//! End-to-end tests of `overlin run`: convergence with zero
//! certificate violations for every loss, the per-iteration CSV, statuses
//! and exit codes.

use crate::common::*;

fn run_json(dir: &std::path::Path, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    let mut args = vec!["run"];
    args.extend_from_slice(SMALL);
    args.extend_from_slice(extra);
    args.push("--json");
    let o = overlin(dir, &args);
    let j = json(&o);
    (o, j)
}

#[test]
fn every_loss_converges_with_zero_violations() {
    let dir = tempfile::tempdir().unwrap();
    for loss in ["squared", "sensing", "logcosh", "softmax"] {
        let (o, j) = run_json(
            dir.path(),
            &["--loss", loss, "--iters", "20000", "--tol", "1e-8"],
        );
        assert_eq!(code(&o), 0, "{loss}: {}", stderr(&o));
        assert_eq!(j["status"], "converged", "{loss}: {j}");
        let iters = j["iterations"].as_u64().unwrap();
        assert!(iters > 1, "{loss}: {iters}");
        assert_eq!(j["tally"]["violations"], 0, "{loss}");
        assert_eq!(
            j["tally"]["steps_checked"].as_u64().unwrap(),
            iters,
            "{loss}"
        );
        let worst = j["tally"]["worst_ratio"].as_f64().unwrap();
        assert!(worst > 0.0 && worst <= 1.0, "{loss}: worst ratio {worst}");
        // Every checked step is in one class, and steps were certified.
        let c = &j["tally"]["classes"];
        let total = class_total(c);
        assert_eq!(total, iters, "{loss}: {c}");
        assert!(c["certified"].as_u64().unwrap() > 0, "{loss}: {c}");
        let final_gap = j["final_gap"].as_f64().unwrap();
        assert!((0.0..=1e-8).contains(&final_gap), "{loss}: {final_gap}");
        assert!(j["initial_gap"].as_f64().unwrap() > 1e-8, "{loss}");
        // The summary names the a-priori certificate either way.
        assert!(j["apriori"]["certified"].is_boolean(), "{loss}");
        let mu = j["constants"]["mu"].as_f64().unwrap();
        let k = j["constants"]["k"].as_f64().unwrap();
        assert!(mu > 0.0 && mu <= k, "{loss}: mu {mu} K {k}");
        assert!(j.get("records").is_none(), "records must not be printed");
    }
}

#[test]
fn f32_run_converges_without_violations() {
    let dir = tempfile::tempdir().unwrap();
    let (o, j) = run_json(
        dir.path(),
        &["--precision", "f32", "--iters", "20000", "--tol", "1e-4"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(j["precision"], "f32");
    assert_eq!(j["status"], "converged", "{j}");
    assert_eq!(j["tally"]["violations"], 0);
}

#[test]
fn csv_has_the_issue_header_and_one_row_per_iteration() {
    let dir = tempfile::tempdir().unwrap();
    let (o, j) = run_json(
        dir.path(),
        &[
            "--iters",
            "200",
            "--tol",
            "1e-6",
            "--csv",
            "trace.csv",
            "--rule",
            "rate-optimal",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = std::fs::read_to_string(dir.path().join("trace.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), CSV_HEADER);
    // T_t(eps) is filled every --anytime-every (10) rows where a certificate
    // exists (this start is certified from t = 0); then the step's rounding
    // allowance and class (THEORY §11).
    let mut classes = Vec::new();
    let rows: Vec<Vec<f64>> = lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let t: usize = cells[0].parse().unwrap();
            assert_eq!(
                cells[13].is_empty(),
                !t.is_multiple_of(10),
                "t_eps of row {t}"
            );
            classes.push(cells[15].to_string());
            cells[..13]
                .iter()
                .chain(std::iter::once(&cells[14]))
                .map(|c| c.parse::<f64>().unwrap())
                .collect()
        })
        .collect();
    let certified = classes.iter().filter(|c| *c == "certified").count();
    assert_eq!(
        certified as u64,
        j["tally"]["classes"]["certified"].as_u64().unwrap()
    );
    assert!(classes
        .iter()
        .all(|c| ["certified", "below_resolution"].contains(&c.as_str())));
    let iters = j["iterations"].as_u64().unwrap() as usize;
    assert_eq!(rows.len(), iters);
    let mu = j["constants"]["mu"].as_f64().unwrap();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.len(), 14);
        assert_eq!(r[0], i as f64, "t is 0, 1, 2, ...");
        let (gap, eta, alpha, beta, mu_t, rho, ratio, holds, allowance) =
            (r[2], r[3], r[4], r[5], r[7], r[9], r[10], r[11], r[13]);
        assert!(eta > 0.0 && alpha > 0.0 && beta >= alpha);
        assert_eq!(holds, 1.0, "row {i}");
        assert!(
            allowance > 0.0 && allowance < gap,
            "row {i}: allowance {allowance}"
        );
        if classes[i] == "certified" {
            // Theorem 1 within the step's rounding allowance (THEORY §11).
            assert!(
                ratio * gap <= rho * gap + allowance,
                "row {i}: ratio {ratio} > rho {rho}"
            );
            assert!(10.0 * allowance < (1.0 - rho) * gap, "row {i}");
        }
        assert!(
            (mu_t - mu * alpha).abs() <= 1e-12 * mu_t.abs().max(1.0),
            "mu_t = mu alpha"
        );
        if let Some(next) = rows.get(i + 1) {
            // The next row's gap is this row's gap times the achieved ratio.
            assert!((next[2] - ratio * gap).abs() <= 1e-12 * gap, "row {i}");
            assert!(next[12] >= r[12], "drift is cumulative");
        }
    }
    // The first row's gap is the initial gap of the summary.
    assert_eq!(rows[0][2], j["initial_gap"].as_f64().unwrap());
}

#[test]
fn divergence_is_reported_with_its_own_exit_code_and_records_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (o, j) = run_json(
        dir.path(),
        &[
            "--rule",
            "constant:50",
            "--iters",
            "100",
            "--csv",
            "div.csv",
        ],
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(j["status"], "diverged");
    let at = j["diverged_at"].as_u64().unwrap();
    assert!(stderr(&o).contains("diverged"));
    let text = std::fs::read_to_string(dir.path().join("div.csv")).unwrap();
    let last = text.lines().last().unwrap();
    assert_eq!(last.split(',').next().unwrap(), at.to_string());
    assert_eq!(
        text.lines().count() as u64,
        at + 2,
        "header + rows up to the divergence"
    );
}

#[test]
fn inapplicable_rule_has_its_own_exit_code_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    // xu2023 is derived for the squared loss only.
    let (o, j) = run_json(dir.path(), &["--loss", "logcosh", "--rule", "xu2023"]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert_eq!(j["status"], "rule_unavailable");
    assert!(j["rule_unavailable"].as_str().unwrap().contains("squared"));
    assert_eq!(j["iterations"], 0);
}

#[test]
fn relative_tolerance_and_max_iters() {
    let dir = tempfile::tempdir().unwrap();
    let (o, j) = run_json(dir.path(), &["--iters", "5", "--tol", "1e-12"]);
    assert_eq!(code(&o), 0);
    assert_eq!(j["status"], "max_iters");
    assert_eq!(j["iterations"], 5);
    let (o, j) = run_json(
        dir.path(),
        &["--tol", "0.5", "--relative", "--iters", "10000"],
    );
    assert_eq!(code(&o), 0);
    assert_eq!(j["status"], "converged");
    let g0 = j["initial_gap"].as_f64().unwrap();
    assert!(j["final_gap"].as_f64().unwrap() <= 0.5 * g0);
    assert_eq!(j["tol_abs"].as_f64().unwrap(), 0.5 * g0);
}

#[test]
fn narrow_hidden_layer_runs_and_says_it_is_outside_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let o = overlin(
        dir.path(),
        &[
            "run",
            "--n",
            "6",
            "--m",
            "4",
            "--h",
            "3",
            "--samples",
            "30",
            "--iters",
            "50",
            "--json",
        ],
    );
    assert_ne!(code(&o), 1, "{}", stderr(&o));
    let j = json(&o);
    assert!(j["setting_note"]
        .as_str()
        .unwrap()
        .contains("h = 3 < max(n, m) = 6"));
    assert_eq!(j["alpha0"].as_f64().unwrap(), 0.0, "alpha_t = 0 when h < n");
    assert_eq!(j["tally"]["violations"], 0);
}

#[test]
fn existing_csv_is_kept_without_force_and_replaced_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.csv");
    std::fs::write(&p, "keep me\n").unwrap();
    let mut args = vec!["run"];
    args.extend_from_slice(SMALL);
    args.extend_from_slice(&["--iters", "3", "--csv", "out.csv"]);
    let o = overlin(dir.path(), &args);
    assert_one_line_error(&o, 2, "--force");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "keep me\n");
    args.push("--force");
    let o = overlin(dir.path(), &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = std::fs::read_to_string(&p).unwrap();
    assert_eq!(text.lines().count(), 4, "header + 3 rows");
    assert_eq!(files(dir.path()), vec!["out.csv"], "no temporary file left");
}

#[test]
fn text_summary_names_status_tally_and_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["run"];
    args.extend_from_slice(SMALL);
    args.extend_from_slice(&["--iters", "20000", "--tol", "1e-8"]);
    let o = overlin(dir.path(), &args);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert!(out.contains("status=converged"), "{out}");
    assert!(out.contains("violations=0"), "{out}");
    assert!(out.contains("a-priori"), "{out}");
}

#[test]
fn help_documents_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let o = overlin(dir.path(), &["run", "--help"]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    for needle in [
        "--rule",
        "--csv",
        "Exit codes",
        "certificate was violated",
        "diverged",
    ] {
        assert!(out.contains(needle), "help lacks {needle}");
    }
}

#[test]
fn ctrl_c_stops_the_run_and_keeps_a_whole_csv() {
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("overlin"))
        .current_dir(dir.path())
        .args([
            // Large enough that the run is still going after 1.5 s: it
            // reaches its precision floor only after tens of seconds.
            "run",
            "--n",
            "20",
            "--m",
            "12",
            "--h",
            "400",
            "--samples",
            "60",
            "--iters",
            "10000000",
            "--tol",
            "1e-300",
            "--stall-window",
            "0",
            "--csv",
            "trace.csv",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["status"], "stopped");
    let iters = j["iterations"].as_u64().unwrap();
    assert!(iters > 0 && iters < 10_000_000);
    let text = std::fs::read_to_string(dir.path().join("trace.csv")).unwrap();
    assert_eq!(
        text.lines().count() as u64,
        iters + 1,
        "header + one row per step"
    );
    assert!(text.ends_with('\n'));
    assert_eq!(
        files(dir.path()),
        vec!["trace.csv"],
        "no temporary file left"
    );
}

/// By default `run` also checks Lemma 3 (THEORY §7) every 10 steps: the
/// imbalance spectrum moves by at most the accumulated `Σ η² g²`.
#[test]
fn lemma3_is_checked_every_ten_steps_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let (o, j) = run_json(dir.path(), &["--iters", "35", "--tol", "1e-300"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(j["iterations"], 35, "{j}");
    assert_eq!(j["tally"]["imbalance_checks"], 3, "{j}");
    assert_eq!(j["tally"]["imbalance_violations"], 0, "{j}");
    let (_, j) = run_json(
        dir.path(),
        &["--iters", "35", "--tol", "1e-300", "--imbalance-every", "0"],
    );
    assert_eq!(j["tally"]["imbalance_checks"], 0, "{j}");
}

/// A negative count is refused by name (clap would otherwise read `-1` as
/// an unknown flag and not say which option was wrong): exit 2, the flag
/// named, nothing written.
#[test]
fn negative_counts_name_their_flag() {
    let dir = tempfile::tempdir().unwrap();
    for flag in [
        "--iters",
        "--imbalance-every",
        "--stall-window",
        "--seed",
        "--h",
    ] {
        let o = overlin(dir.path(), &["run", flag, "-1", "--csv", "out.csv"]);
        assert_eq!(code(&o), 2, "{flag}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(flag) && err.contains("-1"), "{flag}: {err}");
        assert!(!dir.path().join("out.csv").exists());
    }
    let o = overlin(dir.path(), &["reproduce", "--seeds", "-2", "--out", "r"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--seeds"), "{}", stderr(&o));
    assert!(!dir.path().join("r").exists());
}

/// A balanced (spectral) start has no certificate at t = 0 but gets one at
/// a later iterate (THEORY §8.2): the JSON carries `certified_from`,
/// `guaranteed_remaining` and `guaranteed_total`; a constant step is
/// certified for itself, so the guarantee applies, is checked at every
/// step and holds; Local steps exceed eta_bar, so for them it is reported
/// as not applying.
#[test]
fn spectral_start_is_certified_from_a_later_step() {
    let dir = tempfile::tempdir().unwrap();
    let p = [
        "run",
        "--n",
        "5",
        "--m",
        "5",
        "--h",
        "20",
        "--samples",
        "40",
        "--kappa",
        "2",
        "--init",
        "spectral",
        "--json",
    ];
    for (rule, applies) in [("local", false), ("constant:0.1", true)] {
        let mut args = p.to_vec();
        args.extend_from_slice(&["--rule", rule]);
        let o = overlin(dir.path(), &args);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let j = json(&o);
        assert_eq!(j["status"], "converged", "{j}");
        assert_eq!(j["apriori"]["certified"], false);
        let tc = j["certified_from"].as_u64().unwrap();
        assert!(tc > 0 && tc.is_multiple_of(10), "{j}");
        let rem = j["guaranteed_remaining"].as_u64().unwrap();
        let total = j["guaranteed_total"].as_u64().unwrap();
        assert_eq!(total, tc + rem);
        assert!(j["iterations"].as_u64().unwrap() <= total);
        assert_eq!(j["anytime_alpha_source"], "margin");
        assert_eq!(j["anytime_applies"], applies, "{rule}: {j}");
        assert_eq!(j["anytime_violations"], 0);
        if applies {
            let checked = j["anytime_steps_checked"].as_u64().unwrap();
            assert_eq!(checked, j["iterations"].as_u64().unwrap() - tc);
        } else {
            assert_eq!(j["anytime_first_unqualified"].as_u64().unwrap(), tc);
        }
    }
    // Text: the certified-from step and the guaranteed total.
    let o = overlin(dir.path(), &p[..p.len() - 1]);
    let out = stdout(&o);
    assert!(out.contains("certified from step"), "{out}");
    assert!(out.contains("guaranteed total"), "{out}");
    // Off on request.
    let mut args = p.to_vec();
    args.extend_from_slice(&["--anytime-every", "0"]);
    let j = json(&overlin(dir.path(), &args));
    assert!(j["certified_from"].is_null());
}

/// Deep networks (THEORY §13): `--depth 4` from a small start runs with
/// every step certified or classified and no violation, the summary names
/// the depth and prints α_t's growth, `certify` says the a-priori
/// certificate is open for L ≥ 3, and a deep start from files or a depth
/// below 2 is refused with one line.
#[test]
fn deep_runs_certify_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let deep = [
        "--depth",
        "4",
        "--n",
        "5",
        "--m",
        "4",
        "--h",
        "16",
        "--samples",
        "30",
        "--scale",
        "0.3",
        "--iters",
        "20000",
        "--tol",
        "1e-8",
    ];
    for rule in ["local", "rate-optimal", "armijo"] {
        let mut args = vec!["run", "--rule", rule, "--json"];
        args.extend_from_slice(&deep);
        let o = overlin(dir.path(), &args);
        let j = json(&o);
        assert_eq!(code(&o), 0, "{rule}: {}", stderr(&o));
        assert_eq!(j["status"], "converged", "{rule}: {j}");
        assert_eq!(j["depth"], 4);
        assert_eq!(j["tally"]["violations"], 0, "{rule}");
        let iters = j["iterations"].as_u64().unwrap();
        assert_eq!(class_total(&j["tally"]["classes"]), iters, "{rule}");
        // Armijo's accepted steps lie beyond ηK_t(η) < 2 (descent only:
        // Lemma D2 is checked, Theorem D1 does not apply); Local and
        // RateOptimal are certified by construction.
        if rule != "armijo" {
            assert_eq!(
                j["tally"]["classes"]["certified"].as_u64().unwrap(),
                iters,
                "{rule}"
            );
        }
        assert_eq!(j["apriori"]["certified"], false);
        let trace = j["alpha_trace"].as_array().unwrap();
        assert_eq!(trace[0][0], 0);
        assert_eq!(trace.last().unwrap()[0].as_u64().unwrap(), iters - 1);
    }
    let mut args = vec!["run", "--rule", "local"];
    args.extend_from_slice(&deep);
    let o = overlin(dir.path(), &args);
    let out = stdout(&o);
    assert!(out.contains("depth L=4"), "{out}");
    assert!(out.contains("alpha_t      t=0: "), "{out}");
    assert!(out.contains("open for L >= 3"), "{out}");
    assert!(
        out.contains("anytime      none at depth L = 4: the certificate from an iterate is open"),
        "{out}"
    );
    assert!(!out.contains("computed)"), "{out}");
    let mut args = vec!["certify"];
    args.extend_from_slice(&deep[..10]);
    let o = overlin(dir.path(), &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("open for L >= 3"), "{}", stdout(&o));
    assert_one_line_error(&overlin(dir.path(), &["run", "--depth", "1"]), 2, "--depth");
    std::fs::write(dir.path().join("w1.csv"), "1,0\n0,1\n").unwrap();
    std::fs::write(dir.path().join("w2.csv"), "1,0\n0,1\n").unwrap();
    assert_one_line_error(
        &overlin(
            dir.path(),
            &["run", "--depth", "3", "--w1", "w1.csv", "--w2", "w2.csv"],
        ),
        2,
        "--w1/--w2",
    );
}
