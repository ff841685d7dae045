//! Rounding: regressions found by the core fuzz, certificate classes and
//! the scale-covariant allowance (THEORY §11).

use super::*;

// ---------------------------------------------------------------------------
// Regressions found by the core fuzz (RELIABILITY.md)
// ---------------------------------------------------------------------------

/// In `f32`, on this start (entries of `W₂` near 10⁸, a one-column `X`) every
/// step used to be reported as a violation: the Gram matrices' entries are
/// near 10¹⁶, their squares leave the `f32` range inside the Householder
/// reduction of `kernels::sym_extremes`, and `β_t` came out wrong, so the
/// predicted bound was too tight. The exact power-of-two scaling of the
/// matrix and of each Householder column fixed it; the same steps hold in
/// `f64` and in `f32`.
#[test]
fn f32_rounding_of_a_tight_descent_bound_is_not_reported_as_a_violation() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let x = "0\n0\n0\n0\n0\n-0.385338919319807\n";
    let y = "0,0,0\n".repeat(6);
    let w1 = "0,-1.1395701794648991,0,1.8797734635331662,0\n";
    let w2 = "-77399427.82267001,0,131062378.06401375\n0,0,0\n\
              -23607093.794290803,0,-74060207.8960379\n\
              178610242.85764956,-99033619.14170225,-76950749.33559461\n\
              0,0,176524164.54548365\n";
    for (name, text) in [("x.csv", x), ("y.csv", &y), ("w1.csv", w1), ("w2.csv", w2)] {
        std::fs::write(p.join(name), text).unwrap();
    }
    let files = [
        "--x", "x.csv", "--y", "y.csv", "--w1", "w1.csv", "--w2", "w2.csv", "--iters", "7",
        "--rule", "xu2023", "--json",
    ];
    let o = run(p, &files, &["--precision", "f64"]);
    assert_eq!(json(&o)["tally"]["violations"], 0, "f64 holds");
    let o = run(p, &files, &["--precision", "f32"]);
    assert_eq!(json(&o)["tally"]["violations"], 0, "f32: {}", stderr(&o));
}

/// The CLI face of the `kernels::sym_extremes` bug (RELIABILITY.md, core
/// test `extreme_eigenvalues_are_accurate_at_extreme_scales`): a user start
/// with one entry of 1e-155 gets `β₀` = 2.8e-4 instead of 0.104, so the
/// "certified" Local step is 380 times too large, the run diverges and the
/// checker reports a violation. With the entry 1e-20 the same run is fine.
/// Fixed by the exact power-of-two scaling in `sym_extremes`.
#[test]
fn a_tiny_start_entry_does_not_break_the_local_rule() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let x = "0,0,0\n0,0,0\n0,0,0\n0,0,-0.5920311347200556\n0,-1.5974621883100637,0\n\
             -0.9056461126509752,0,0\n";
    std::fs::write(p.join("x.csv"), x).unwrap();
    std::fs::write(p.join("y.csv"), "0,0\n".repeat(6)).unwrap();
    std::fs::write(p.join("w2.csv"), "0.016600561695726972,0\n").unwrap();
    for tiny in ["1e-20", "1e-155"] {
        std::fs::write(
            p.join("w1.csv"),
            format!("{tiny}\n0\n0.32227103674501045\n"),
        )
        .unwrap();
        let o = run(
            p,
            &[
                "--x", "x.csv", "--y", "y.csv", "--w1", "w1.csv", "--w2", "w2.csv",
            ],
            &["--rule", "local", "--iters", "20", "--json"],
        );
        let j = json(&o);
        let beta0 = j["beta0"].as_f64().unwrap();
        assert!((beta0 - 0.1041).abs() < 1e-3, "{tiny}: beta0 {beta0}");
        assert_eq!(code(&o), 0, "{tiny}: {}", stderr(&o));
    }
}

// ---------------------------------------------------------------------------
// Certificate classes and the scale-covariant allowance (THEORY §11)
// ---------------------------------------------------------------------------

/// Writes `X` (30×4), `Y`, `W₁` (4×10), `W₂` (10×3) of a squared-loss
/// problem: the targets' fittable part and the start scaled so that the loss
/// is scaled by `s²`, plus an unfittable component (orthogonal to the range
/// of `X`) that makes `L*` about `l_star`.
fn write_scaled_problem(dir: &Path, s: f64, l_star: f64) {
    use overlin_core::nalgebra::DMatrix;
    let mut rng = Lcg(0x9e37_79b9_7f4a_7c15);
    let dm = |m: &Mat| DMatrix::from_row_slice(m.rows, m.cols, &m.data);
    let mat = |m: &DMatrix<f64>| Mat {
        rows: m.nrows(),
        cols: m.ncols(),
        data: m.transpose().as_slice().to_vec(),
    };
    let x = Mat::random(30, 4, &mut rng);
    let w_true = Mat::random(4, 3, &mut rng);
    let w1 = Mat::random(4, 10, &mut rng);
    let w2 = Mat::random(10, 3, &mut rng);
    let z = dm(&Mat::random(30, 3, &mut rng));
    let xd = dm(&x);
    let q = xd.clone().qr().q();
    let z_perp = &z - &q * (q.transpose() * &z);
    // L* = ‖c Z⊥‖²/2N.
    let c = (2.0 * 30.0 * l_star).sqrt() / z_perp.norm();
    let y = &xd * dm(&w_true) * s + z_perp * c;
    let root = s.sqrt();
    for (name, m) in [
        ("x.csv", x),
        ("y.csv", mat(&y)),
        ("w1.csv", mat(&(dm(&w1) * root))),
        ("w2.csv", mat(&(dm(&w2) * root))),
    ] {
        std::fs::write(dir.join(name), m.csv()).unwrap();
    }
}

/// μ inflated ×10 (a certificate wrong by 10×) is
/// caught, exit 4, on the problem rescaled so that its loss is ~1e-12 and on
/// the same problem with `L* ≈ 1e12` (the trajectory is unchanged), as on
/// the plain one; with the true μ the same runs certify steps and report no
/// violation.
#[test]
fn inflated_mu_is_caught_on_rescaled_and_large_l_star_problems() {
    let files = [
        "--x",
        "x.csv",
        "--y",
        "y.csv",
        "--w1",
        "w1.csv",
        "--w2",
        "w2.csv",
        "--iters",
        "400",
        "--tol",
        "1e-300",
        "--relative",
        "--json",
    ];
    for (s, l_star) in [(1.0, 0.0), (1e-6, 0.0), (1.0, 1e12), (1e-6, 1e12)] {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        write_scaled_problem(p, s, l_star);
        let honest = run(p, &files, &[]);
        no_panic(&honest);
        assert_eq!(code(&honest), 0, "s={s} L*={l_star}: {}", stderr(&honest));
        let h = json(&honest);
        assert_eq!(h["tally"]["violations"], 0, "s={s} L*={l_star}");
        assert!(
            h["tally"]["classes"]["certified"].as_u64().unwrap() > 100,
            "s={s} L*={l_star}: {}",
            h["tally"]
        );
        let got = h["constants"]["l_star"].as_f64().unwrap();
        assert!(
            (got - l_star).abs() <= 1e-6 * l_star.max(1e-20),
            "L* {got} vs {l_star}"
        );
        let lied = run(p, &files, &["--debug-inflate-mu", "10"]);
        no_panic(&lied);
        assert_eq!(code(&lied), 4, "s={s} L*={l_star}: {}", stderr(&lied));
        let l = json(&lied);
        let v = l["tally"]["violations"].as_u64().unwrap();
        assert!(v > 100, "s={s} L*={l_star}: only {v} of 400 steps flagged");
        assert!(stderr(&lied).contains("!!! CERTIFICATE VIOLATED"));
    }
}

/// `h < min(n, m)`: `α_t = 0`, every step is trivial, nothing is certified,
/// and neither the text nor the JSON claims that a certificate held.
#[test]
fn zero_alpha_run_certifies_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let narrow = ["--n", "4", "--m", "6", "--h", "3", "--samples", "30"];
    let o = run(p, &narrow, &["--iters", "300", "--json", "--csv", "t.csv"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&o);
    let iters = j["iterations"].as_u64().unwrap();
    assert_eq!(iters, 300);
    let c = &j["tally"]["classes"];
    assert_eq!(c["certified"], 0, "{c}");
    assert_eq!(c["trivial"].as_u64().unwrap(), iters, "{c}");
    assert_eq!(j["tally"]["worst_ratio"], 0.0);
    let (_, classes) = whole_csv_with_classes(&p.join("t.csv"));
    assert!(classes.iter().all(|c| c == "trivial"));
    let o = run(p, &narrow, &["--iters", "300"]);
    let text = stdout(&o);
    assert!(text.contains("no step was certified"), "{text}");
    assert!(!text.contains("held"), "{text}");
    assert!(
        text.contains("certified=0 trivial=300 below_resolution=0"),
        "{text}"
    );
}

/// At the rounding floor of a large scale the run ends
/// `stalled`, exit 0, with no false alarm (the allowance of THEORY §11
/// scales with the problem). With `--scale 1e5` the constant step 1e-6 is
/// far above 2/K_t: that run diverges at its first step, honestly, and it
/// is not a certificate violation either.
#[test]
fn large_scales_stall_at_the_floor_without_a_false_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "--n",
        "4",
        "--m",
        "3",
        "--h",
        "10",
        "--samples",
        "30",
        "--iters",
        "20000",
        "--json",
    ];
    for extra in [
        &["--scale", "1e5"][..],
        &["--scale", "1e5", "--rule", "rate-optimal"],
        &["--scale", "100", "--precision", "f32"],
        &[
            "--scale",
            "100",
            "--precision",
            "f32",
            "--rule",
            "rate-optimal",
        ],
        &[
            "--scale",
            "100",
            "--precision",
            "f32",
            "--rule",
            "constant:1e-6",
        ],
    ] {
        let o = run(dir.path(), &base, extra);
        no_panic(&o);
        let err = stderr(&o);
        assert_eq!(code(&o), 0, "{extra:?}: {err}");
        assert!(!err.contains("CERTIFICATE VIOLATED"), "{extra:?}: {err}");
        let j = json(&o);
        assert_eq!(j["status"], "stalled", "{extra:?}: {j}");
        assert_eq!(j["tally"]["violations"], 0, "{extra:?}");
        assert!(
            j["tally"]["classes"]["below_resolution"].as_u64().unwrap() > 0,
            "{extra:?}: the floor was reached"
        );
    }
    let o = run(
        dir.path(),
        &base,
        &["--scale", "1e5", "--rule", "constant:1e-6"],
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["status"], "diverged");
    assert_eq!(j["diverged_at"], 0);
    assert_eq!(j["tally"]["violations"], 0);
    assert_eq!(j["tally"]["classes"]["descent_only"], 1);
}

/// At `--scale 1e60` the squared gradient norms overflow: every step's
/// certificate is non-finite (it proves nothing) and Lemma 3's drift budget
/// is ∞ − ∞. Such imbalance spectra are not counted as checks, so no NaN
/// comparison is reported as "CERTIFICATE VIOLATED" (was: 9 imbalance
/// violations, exit 4). The same problem at `--scale 1e30` checks the
/// imbalance every 10 steps and certifies every step.
#[test]
fn an_overflowed_drift_budget_is_no_imbalance_violation() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["--json"], &["--scale", "1e60"]);
    no_panic(&o);
    let err = stderr(&o);
    assert_eq!(code(&o), 0, "{err}");
    assert!(!err.contains("CERTIFICATE VIOLATED"), "{err}");
    let j = json(&o);
    let t = &j["tally"];
    assert_eq!(t["imbalance_violations"], 0, "{j}");
    assert_eq!(t["imbalance_checks"], 0, "{j}");
    assert_eq!(t["classes"]["certified"], 0, "{j}");
    assert_eq!(
        t["classes"]["non_finite"].as_u64().unwrap(),
        j["iterations"].as_u64().unwrap(),
        "{j}"
    );
    let o = run(dir.path(), &["--json"], &["--scale", "1e30"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&o);
    let t = &j["tally"];
    assert_eq!(t["imbalance_checks"], 100, "{j}");
    assert_eq!(t["imbalance_violations"], 0, "{j}");
    assert_eq!(t["classes"]["certified"], j["iterations"], "{j}");
}
