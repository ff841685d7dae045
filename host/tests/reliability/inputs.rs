//! Input that the run cannot honour: outside the paper's setting, bad
//! steps, tolerances and parameters, data beyond the working precision,
//! extreme parameters and badly scaled data.

use super::*;

// ---------------------------------------------------------------------------
// Outside the paper's setting
// ---------------------------------------------------------------------------

#[test]
fn narrow_width_certificates_say_not_applicable_and_are_still_computed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // h = 3 < min(n, m) = 4: α_t = 0 at every step.
    let narrow = ["--n", "6", "--m", "4", "--h", "3", "--samples", "30"];
    let o = run(
        p,
        &narrow,
        &["--iters", "60", "--csv", "narrow.csv", "--json"],
    );
    no_panic(&o);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&o);
    let note = j["setting_note"].as_str().unwrap();
    assert!(note.contains("h = 3 < max(n, m) = 6"), "{note}");
    assert!(note.contains("alpha_t = 0 at every step"), "{note}");
    assert!(note.contains("not applicable"), "{note}");
    assert_eq!(j["apriori"]["certified"], false);
    let reason = j["apriori"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("not applicable: h = 3 < min(n, m) = 4"),
        "{reason}"
    );
    // Still computed at every step: vacuous (ρ_t = 1), never violated,
    // and counted as trivial, not certified.
    let iters = j["iterations"].as_u64().unwrap();
    assert_eq!(j["tally"]["steps_checked"].as_u64().unwrap(), iters);
    assert_eq!(j["tally"]["violations"], 0);
    assert_eq!(j["tally"]["classes"]["trivial"].as_u64().unwrap(), iters);
    let rows = whole_csv(&p.join("narrow.csv"));
    assert_eq!(rows.len() as u64, iters);
    for r in &rows {
        assert_eq!(
            (r[4], r[7], r[9], r[11]),
            (0.0, 0.0, 1.0, 1.0),
            "alpha, mu_t, rho, holds"
        );
        assert!(r[3] > 0.0 && r[5] > 0.0, "eta and beta are computed");
    }
    // The text output of run and certify say it too.
    let o = run(p, &narrow, &["--iters", "5"]);
    assert!(stdout(&o).contains("not applicable"), "{}", stdout(&o));
    let o = overlin(p, &[&["certify"][..], &narrow].concat());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert_eq!(
        text.matches("not applicable").count(),
        2,
        "note and a-priori: {text}"
    );
    let o = overlin(p, &[&["certify", "--json"][..], &narrow].concat());
    let c = json(&o);
    assert!(c["apriori"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("not applicable"));
    assert!(c["setting_note"]
        .as_str()
        .unwrap()
        .contains("not applicable"));
    assert_eq!(c["start"]["alpha0"], 0.0);

    // m <= h < n: one term of α_t survives, the certificate is informative.
    let o = run(
        p,
        &["--n", "6", "--m", "2", "--h", "4", "--samples", "30"],
        &["--iters", "60", "--json"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&o);
    let note = j["setting_note"].as_str().unwrap();
    assert!(note.contains("h = 4 < max(n, m) = 6"), "{note}");
    assert!(note.contains("sigma_n(W1)^2 of alpha_t is 0"), "{note}");
    assert!(j["alpha0"].as_f64().unwrap() > 0.0, "sigma_m(W2)^2 > 0");
    assert_eq!(j["tally"]["violations"], 0);
}

// ---------------------------------------------------------------------------
// Bad steps, tolerances, parameters, data beyond the precision
// ---------------------------------------------------------------------------

/// `run` with `args` and `--csv out.csv`: exit 2, one line naming
/// `needle`, nothing on stdout, the folder unchanged.
fn refused(dir: &Path, args: &[&str], needle: &str) {
    let before = files(dir);
    let mut a = vec!["run"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--iters", "5", "--csv", "out.csv"]);
    let o = overlin(dir, &a);
    assert_one_line_error(&o, 2, needle);
    assert_eq!(files(dir), before, "a file was created for {args:?}");
}

#[test]
fn bad_steps_tolerances_and_parameters_give_one_line_and_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let cases: &[(&[&str], &str)] = &[
        // Steps: zero, negative, not finite, under/overflowing.
        (&["--rule", "constant:nan"], "positive and finite"),
        (&["--rule", "constant:-inf"], "positive and finite"),
        (&["--rule", "constant:-0"], "positive and finite"),
        (&["--rule", "constant:1e-400"], "positive and finite"),
        (&["--rule", "constant:1e400"], "positive and finite"),
        (
            &["--rule", "constant:1e-50", "--precision", "f32"],
            "positive and finite",
        ),
        (&["--rule", "constant"], "wrong number"),
        (&["--rule", "constant:1,2"], "wrong number"),
        (&["--rule", "xu2023:0.5,0.5"], "c1 >= 1"),
        (&["--rule", "xu2023:1.5,0"], "c2 in (0, 1]"),
        (&["--rule", "armijo:2,0.5,1"], "(0, 1)"),
        (&["--rule", "armijo:0.1,1,1"], "(0, 1)"),
        (&["--rule", "armijo:0.1,0.5,0"], "positive"),
        // Tolerances.
        (&["--tol", "inf"], "--tol must be positive"),
        (&["--tol", "-0"], "--tol must be positive"),
        (&["--tol", "1e-400"], "--tol must be positive"),
        (
            &["--tol", "1e-50", "--precision", "f32"],
            "tol must be positive",
        ),
        // Sizes and counts.
        (&["--m", "0"], "--m is zero"),
        (&["--samples", "0"], "--samples is zero"),
        (&["--iters", "-1"], "'-1'"),
        (&["--stall-window", "x"], "--stall-window"),
        // Problem parameters.
        (&["--loss", "logcosh", "--gamma", "0"], "--gamma"),
        (&["--loss", "softmax", "--lambda", "-1"], "--lambda"),
        (&["--noise", "nan"], "--noise"),
        (&["--kappa", "inf"], "--kappa"),
        (&["--scale", "-1"], "--scale"),
        (&["--target-std", "nan"], "--target-std"),
        (
            &[
                "--loss",
                "sensing",
                "--n",
                "3",
                "--m",
                "3",
                "--samples",
                "5",
            ],
            "not strongly convex",
        ),
        // The testing aid validates its factor too.
        (&["--debug-inflate-mu", "0"], "--debug-inflate-mu"),
        (&["--debug-inflate-mu", "nan"], "--debug-inflate-mu"),
    ];
    for (args, needle) in cases {
        refused(p, args, needle);
    }
    // certify: the same checks, no file involved.
    for (args, needle) in [
        (&["--tol", "inf"][..], "--tol must be positive"),
        (&["--h", "0"][..], "--h is zero"),
    ] {
        let o = overlin(p, &[&["certify"][..], args].concat());
        assert_one_line_error(&o, 2, needle);
    }
}

#[test]
fn data_beyond_the_working_precision_is_an_input_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let mut rng = Lcg(5);
    let x = Mat::random(12, 3, &mut rng);
    let y = Mat::random(12, 2, &mut rng);
    std::fs::write(p.join("x.csv"), x.csv()).unwrap();
    std::fs::write(p.join("y.csv"), y.csv()).unwrap();
    // An entry finite in f64 but beyond the f32 range: named, 1-based.
    let mut big = x.clone();
    big.data[3 * 4 + 1] = 1e39;
    std::fs::write(p.join("big.csv"), big.csv()).unwrap();
    refused(
        p,
        &["--x", "big.csv", "--y", "y.csv", "--precision", "f32"],
        "big.csv: entry at row 5, column 2 is 1e39, beyond the range of f32",
    );
    // Targets so large that L* overflows: refused before the run (not a
    // divergence at step 0).
    let huge = Mat {
        data: y.data.iter().map(|v| v * 1e200).collect(),
        ..y.clone()
    };
    std::fs::write(p.join("huge.csv"), huge.csv()).unwrap();
    refused(
        p,
        &["--x", "x.csv", "--y", "huge.csv"],
        "overflow the working precision",
    );
    // The same data in range run fine.
    let o = run(
        p,
        &["--x", "x.csv", "--y", "y.csv", "--h", "8"],
        &["--iters", "5"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// Parameters and data that used to get a message about something else
/// ("W1 has a NaN or infinite entry", "rank 1 … use more samples",
/// "W* did not converge", "unexpected argument") now name the flag or the
/// file and what to do.
#[test]
fn extreme_parameters_and_badly_scaled_data_name_the_flag_or_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let y = "1\n2\n3\n4\n5\n6\n";
    std::fs::write(p.join("y.csv"), y).unwrap();
    std::fs::write(p.join("tiny.csv"), "1e-320,2e-320\n3e-320,1e-320\n2e-320,2e-320\n1e-320,5e-320\n4e-320,1e-320\n1e-320,1e-320\n").unwrap();
    std::fs::write(
        p.join("huge.csv"),
        "1e308,0.5\n0.3,1\n0.2,0.7\n1,0.1\n0.5,0.5\n0.9,0.2\n",
    )
    .unwrap();
    // One entry far above the others (in range, but X^T X cannot resolve
    // the rest): numerically rank 1, yet full rank once rescaled.
    std::fs::write(
        p.join("one.csv"),
        "0.3,0.5\n0.3,1e39\n0.2,0.7\n1,0.1\n0.5,0.5\n0.9,0.2\n",
    )
    .unwrap();
    std::fs::write(
        p.join("one32.csv"),
        "0.3,0.5\n0.3,1e10\n0.2,0.7\n1,0.1\n0.5,0.5\n0.9,0.2\n",
    )
    .unwrap();
    let row = |k: usize| vec!["1e200"; k].join(",");
    std::fs::write(p.join("big1.csv"), vec![row(20); 10].join("\n") + "\n").unwrap();
    std::fs::write(p.join("big2.csv"), vec![row(5); 20].join("\n") + "\n").unwrap();
    // Truly dependent columns stay a rank deficiency, whatever the scale.
    std::fs::write(p.join("dup.csv"), "1e30,2e30\n3,6\n2,4\n1,2\n5,10\n9,18\n").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--x", "one.csv", "--y", "y.csv"],
            "one.csv: the data are badly scaled: entries of magnitude up to 1e39 against a median \
             of 0.5 leave X^T X more ill-conditioned than f64 resolves",
        ),
        (
            &["--x", "one32.csv", "--y", "y.csv", "--precision", "f32"],
            "one32.csv: the data are badly scaled: entries of magnitude up to 10000000000 against a \
             median of 0.5 leave X^T X more ill-conditioned than f32 resolves",
        ),
        (
            &["--x", "dup.csv", "--y", "y.csv"],
            "X has rank 1 < 2: the loss is not strongly convex (mu = 0); use more samples",
        ),
        (
            &["--scale", "1e308"],
            "--scale 1e308 with --sigma 1 makes the start overflow f64",
        ),
        (
            &["--sigma", "1e308"],
            "--scale 1 with --sigma 1e308 makes the start overflow f64",
        ),
        // A start whose loss overflows is an input out of range, refused
        // before the run (was: "diverged at step 0").
        (
            &["--scale", "1e160"],
            "--scale 1e160 gives a loss that overflows f64 (W1·W2 or the loss is not finite there)",
        ),
        (
            &["--w1", "big1.csv", "--w2", "big2.csv"],
            "the start big1.csv · big2.csv gives a loss that overflows f64",
        ),
        (
            &["--kappa", "1e308"],
            "--kappa 1e308: X^T X would have condition number inf, beyond what f64 resolves for n = 10 (kappa below 2122168); use a smaller --kappa\n",
        ),
        (&["--kappa", "-0"], "--kappa must be a finite number >= 1"),
        (
            &["--loss", "logcosh", "--gamma", "1e308"],
            "with --gamma 1e308: the ridge weight is far from the scale of the data",
        ),
        (
            &["--x", "tiny.csv", "--y", "y.csv"],
            "tiny.csv: the data are badly scaled: every entry is below",
        ),
        (
            &["--x", "huge.csv", "--y", "y.csv"],
            "huge.csv: the data are badly scaled: an entry of 1e308 makes X^T X overflow f64",
        ),
    ];
    for (args, needle) in cases {
        let mut a = vec!["run", "--iters", "3"];
        a.extend_from_slice(args);
        assert_one_line_error(&overlin(p, &a), 2, needle);
    }
}

/// The f32 rank test is based on the conditioning f32 can resolve
/// (eigenvalues of `XᵀX` above `100·n·ε·λ_max`), not on the number of
/// samples: these well-conditioned problems were refused as rank-deficient.
#[test]
fn f32_problems_with_many_samples_are_not_called_rank_deficient() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for args in [
        &["--n", "4", "--m", "3", "--h", "12", "--samples", "90000"][..],
        &["--kappa", "2.5", "--samples", "30000"][..],
        &["--samples", "300", "--kappa", "20"][..],
    ] {
        let mut a = vec!["run", "--precision", "f32", "--iters", "3", "--json"];
        a.extend_from_slice(args);
        let o = overlin(p, &a);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        assert_eq!(json(&o)["iterations"], 3, "{args:?}");
    }
    // Beyond what f32 resolves, the flag is named (not "use more samples").
    let o = overlin(p, &["run", "--precision", "f32", "--kappa", "1000"]);
    assert_one_line_error(&o, 2, "--kappa 1000: X^T X would have condition number 1000000, beyond what f32 resolves for n = 10 (kappa below 91); use a smaller --kappa or --precision f64");
}
