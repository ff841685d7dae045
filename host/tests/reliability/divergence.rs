//! Divergence, the precision floor and a true certificate violation.

use super::*;

// ---------------------------------------------------------------------------
// Divergence
// ---------------------------------------------------------------------------

#[test]
fn divergence_is_caught_at_the_first_increase_with_exit_3_and_a_whole_csv() {
    // A small balanced start: the constant step 1 is stable while the
    // factors are small and becomes too large as they grow (β_t rises), so
    // the run makes progress for a while and then diverges.
    for precision in ["f64", "f32"] {
        let dir = tempfile::tempdir().unwrap();
        let o = run(
            dir.path(),
            &["--n", "4", "--m", "3", "--h", "12", "--samples", "40"],
            &[
                "--sigma",
                "0",
                "--scale",
                "0.05",
                "--rule",
                "constant:1",
                "--iters",
                "2000",
                "--precision",
                precision,
                "--csv",
                "div.csv",
                "--json",
            ],
        );
        no_panic(&o);
        assert_eq!(code(&o), 3, "{precision}: {}", stderr(&o));
        let j = json(&o);
        assert_eq!(j["status"], "diverged", "{precision}");
        let at = j["diverged_at"].as_u64().unwrap() as usize;
        assert!(
            at >= 5,
            "{precision}: diverged at {at}, expected after some progress"
        );
        assert_eq!(j["iterations"].as_u64().unwrap() as usize, at + 1);
        assert_eq!(
            j["tally"]["violations"], 0,
            "{precision}: a divergence is not a violation"
        );
        let err = stderr(&o);
        assert!(err.contains(&format!("diverged at step {at}")), "{err}");
        assert!(!err.contains("CERTIFICATE VIOLATED"), "{err}");
        // Records up to the divergence, whole.
        let rows = whole_csv(&dir.path().join("div.csv"));
        assert_eq!(
            rows.len(),
            at + 1,
            "{precision}: one row per step up to the divergence"
        );
        // No increase beyond the step's rounding allowance (THEORY §11,
        // the CSV's `allowance` column) before `at`...
        for t in 0..at {
            let (gap, next, allowance) = (rows[t][2], rows[t + 1][2], rows[t][13]);
            assert!(
                next <= gap + allowance,
                "{precision}: step {t} increased {gap} -> {next} but the run went on"
            );
            assert_eq!(rows[t][0], t as f64);
        }
        // ...and at `at` the gap rose beyond it (or stopped being finite).
        let (gap, allowance) = (rows[at][2], rows[at][13]);
        let after = j["final_gap"].as_f64();
        assert!(
            after.is_none_or(|f| !f.is_finite() || !allowance.is_finite() || f > gap + allowance),
            "{precision}: {gap} -> {after:?} is not an increase"
        );
        assert_eq!(files(dir.path()), vec!["div.csv"], "no temporary file left");
    }
}

#[test]
fn overflow_to_a_non_finite_loss_is_a_divergence_not_a_violation() {
    for precision in ["f64", "f32"] {
        let dir = tempfile::tempdir().unwrap();
        let o = run(
            dir.path(),
            SMALL,
            &[
                "--rule",
                "constant:1e30",
                "--precision",
                precision,
                "--csv",
                "inf.csv",
                "--json",
            ],
        );
        no_panic(&o);
        assert_eq!(code(&o), 3, "{precision}: {}", stderr(&o));
        let j = json(&o);
        assert_eq!(j["status"], "diverged");
        assert_eq!(j["diverged_at"], 0);
        assert_eq!(j["tally"]["violations"], 0, "{precision}: {j}");
        assert!(
            !stderr(&o).contains("CERTIFICATE VIOLATED"),
            "{}",
            stderr(&o)
        );
        let rows = whole_csv(&dir.path().join("inf.csv"));
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0][11], 1.0,
            "an overflowed bound predicts nothing: holds"
        );
    }
}

#[test]
fn a_sweep_with_a_diverging_cell_exits_3_and_keeps_every_cell() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("grid.toml"),
        "n = 3\nm = 2\nsamples = 12\nh = 6\nrule = [\"local\", \"constant:50\"]\niters = 300\ntol = 1e-8\n",
    )
    .unwrap();
    let o = overlin(p, &["sweep", "--grid", "grid.toml", "--out", "s"]);
    no_panic(&o);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("1 diverged"), "{}", stderr(&o));
    let o = overlin(p, &["merge", "s", "--out", "m"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let merged = std::fs::read_to_string(p.join("m/merged.csv")).unwrap();
    assert_eq!(merged.lines().count(), 3, "header + both cells");
    let statuses: Vec<&str> = merged
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(9).unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "diverged").count(),
        1,
        "{merged}"
    );
}

// ---------------------------------------------------------------------------
// Precision floor and a true violation
// ---------------------------------------------------------------------------

#[test]
fn f32_precision_floor_stalls_without_counting_rounding_noise() {
    let dir = tempfile::tempdir().unwrap();
    let mut noisy_steps = 0;
    let mut increases = 0;
    for loss in ["squared", "sensing", "logcosh", "softmax"] {
        let csv = format!("{loss}.csv");
        let o = run(
            dir.path(),
            SMALL,
            &[
                "--loss",
                loss,
                "--precision",
                "f32",
                "--tol",
                "1e-30",
                "--iters",
                "100000",
                "--csv",
                &csv,
                "--json",
            ],
        );
        no_panic(&o);
        assert_eq!(code(&o), 0, "{loss}: {}", stderr(&o));
        let j = json(&o);
        assert_eq!(j["status"], "stalled", "{loss}: {j}");
        let iters = j["iterations"].as_u64().unwrap();
        assert_eq!(
            j["tally"]["steps_checked"].as_u64().unwrap(),
            iters,
            "{loss}"
        );
        assert_eq!(j["tally"]["violations"], 0, "{loss}");
        // The floor was reached: the gap fell by orders of magnitude.
        let (g0, g) = (
            j["initial_gap"].as_f64().unwrap(),
            j["final_gap"].as_f64().unwrap(),
        );
        assert!(g <= 1e-5 * g0, "{loss}: stalled at {g} from {g0}");
        // The steps at the floor are counted apart, never as certified.
        assert!(
            j["tally"]["classes"]["below_resolution"].as_u64().unwrap() > 0,
            "{loss}: {}",
            j["tally"]
        );
        let rows = whole_csv(&dir.path().join(&csv));
        assert_eq!(rows.len() as u64, iters);
        for r in &rows {
            assert_eq!(r[11], 1.0, "{loss}: step {} counted as a violation", r[0]);
            // Measured ratio above the certified rho: rounding noise.
            if r[10] > r[9] {
                noisy_steps += 1;
            }
            if r[10] > 1.0 {
                increases += 1;
            }
        }
    }
    // The floor is really there: without THEORY §11's allowance these
    // steps would count as violations (and the increases as divergence).
    assert!(
        noisy_steps > 0,
        "no step above its bound: the floor was not reached"
    );
    assert!(increases > 0, "no rounding increase at the floor");
}

#[test]
fn a_true_violation_is_reported_loudly_and_fails_the_run() {
    // `--debug-inflate-mu F` (hidden testing aid) gives the checker F·μ:
    // every bound ρ_t is then too optimistic, the iterates are unchanged.
    for (precision, tol) in [("f64", "1e-8"), ("f32", "1e-30")] {
        let dir = tempfile::tempdir().unwrap();
        let base = [
            SMALL,
            &[
                "--precision",
                precision,
                "--tol",
                tol,
                "--iters",
                "100000",
                "--json",
            ][..],
        ]
        .concat();
        let honest = run(dir.path(), &base, &[]);
        assert_eq!(code(&honest), 0, "{precision}: {}", stderr(&honest));
        let h = json(&honest);
        assert_eq!(h["tally"]["violations"], 0);
        let lied = run(
            dir.path(),
            &base,
            &["--debug-inflate-mu", "10", "--csv", "v.csv"],
        );
        no_panic(&lied);
        assert_eq!(code(&lied), 4, "{precision}: {}", stderr(&lied));
        let l = json(&lied);
        assert!(
            l["tally"]["violations"].as_u64().unwrap() > 0,
            "{precision}: {l}"
        );
        assert!(l["tally"]["worst_ratio"].as_f64().unwrap() > 1.0);
        let err = stderr(&lied);
        assert!(err.contains("!!! CERTIFICATE VIOLATED"), "{err}");
        assert!(l["setting_note"].as_str().unwrap().contains("testing aid"));
        // Same iterates: only the checker's μ changed.
        for key in ["status", "iterations", "final_gap", "initial_gap"] {
            assert_eq!(l[key], h[key], "{precision}: {key}");
        }
        // The violations happen far above the rounding floor (the
        // allowance does not swallow a real failure), and the worst one is
        // well beyond its bound.
        let rows = whole_csv(&dir.path().join("v.csv"));
        let bad: Vec<&Vec<f64>> = rows.iter().filter(|r| r[11] == 0.0).collect();
        assert_eq!(bad.len() as u64, l["tally"]["violations"].as_u64().unwrap());
        assert!(
            bad[0][2] > 1e-4,
            "{precision}: first violation at gap {}",
            bad[0][2]
        );
        // In allowances (the CSV's column 13) above the bound.
        let excess = |r: &Vec<f64>| (r[10] * r[2] - r[9].max(0.0) * r[2]) / r[13];
        let worst = bad.iter().map(|r| excess(r)).fold(f64::MIN, f64::max);
        assert!(worst > 10.0, "{precision}: worst excess {worst} allowances");
    }
}
