//! Interruption (SIGINT, SIGTERM, SIGKILL) of `run` and `reproduce`, and
//! outputs that must not be overwritten.

use super::*;

// ---------------------------------------------------------------------------
// Interruption
// ---------------------------------------------------------------------------

/// A long run writing a CSV.
const LONG_RUN: &[&str] = &[
    "run",
    "--n",
    "6",
    "--m",
    "4",
    "--h",
    "48",
    "--samples",
    "40",
    "--iters",
    "100000000",
    "--tol",
    "1e-300",
    "--stall-window",
    "0",
    "--csv",
    "trace.csv",
    "--json",
];

#[test]
fn sigkill_during_run_leaves_no_half_written_csv_and_a_rerun_works() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let mut child = spawn(p, LONG_RUN);
    // Wait until the CSV is being written under its temporary name.
    wait_until(&mut child, 60, || {
        temp_files(p).iter().any(|f| {
            std::fs::metadata(p.join(f))
                .map(|m| m.len() > 4096)
                .unwrap_or(false)
        })
    });
    child.kill().unwrap(); // SIGKILL: no handler runs
    let _ = child.wait();
    // Nothing under the final name; only the hidden temporary file.
    assert!(
        !p.join("trace.csv").exists(),
        "a partial CSV under the final name"
    );
    assert!(
        files(p).iter().all(|f| f.starts_with(".overlin-tmp")),
        "{:?}",
        files(p)
    );
    // The final name is free: a rerun needs no --force and writes it whole.
    let o = overlin(p, &["run", "--iters", "7", "--csv", "trace.csv"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(whole_csv(&p.join("trace.csv")).len(), 7);
}

#[test]
fn sigterm_during_run_stops_cleanly_like_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let mut child = spawn(p, LONG_RUN);
    wait_until(&mut child, 60, || !temp_files(p).is_empty());
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "-TERM");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["status"], "stopped");
    let rows = whole_csv(&p.join("trace.csv"));
    assert_eq!(rows.len() as u64, j["iterations"].as_u64().unwrap());
    assert_eq!(files(p), vec!["trace.csv"], "no temporary file left");
}

/// A reproduce long enough to be caught after its first experiment.
const REPRODUCE: &[&str] = &[
    "reproduce",
    "--only",
    "E1,E3,E6",
    "--seeds",
    "2",
    "--out",
    "r",
];

#[test]
fn ctrl_c_during_reproduce_keeps_finished_files_whole() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let mut child = spawn(p, REPRODUCE);
    wait_until(&mut child, 120, || p.join("r/e1.csv").exists());
    signal(&child, "-INT");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let r = p.join("r");
    let names = all_whole(&r);
    assert!(names.contains(&"e1.csv".to_string()), "{names:?}");
    // An interrupted reproduce claims no summary and leaves no temporary file.
    assert!(!r.join("summary.json").exists() && !r.join("report.html").exists());
    assert!(temp_files(&r).is_empty(), "{:?}", files(&r));
    // The folder is kept: a rerun needs --force, then completes.
    let o = overlin(p, REPRODUCE);
    assert_one_line_error(&o, 2, "--force");
    let o = overlin(p, &[REPRODUCE, &["--force"]].concat());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let names = all_whole(&r);
    assert!(names.contains(&"summary.json".to_string()), "{names:?}");
}

#[test]
fn sigkill_during_reproduce_leaves_only_whole_files_at_any_moment() {
    for delay_ms in [0u64, 150, 600, 1500] {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        let mut child = spawn(p, REPRODUCE);
        wait_until(&mut child, 120, || p.join("r").is_dir());
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // Files under their final names are whole; anything cut short is a
        // hidden temporary file.
        all_whole(&p.join("r"));
    }
}

// ---------------------------------------------------------------------------
// Existing outputs
// ---------------------------------------------------------------------------

#[test]
fn existing_outputs_are_never_overwritten_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("grid.toml"),
        "n = 3\nm = 2\nsamples = 12\nh = [6, 8]\niters = 200\ntol = 1e-8\n",
    )
    .unwrap();
    assert_eq!(
        code(&overlin(p, &["sweep", "--grid", "grid.toml", "--out", "s"])),
        0
    );
    // merge into a folder whose tables exist: refused, files untouched.
    std::fs::create_dir(p.join("m")).unwrap();
    std::fs::write(p.join("m/merged.csv"), "mine\n").unwrap();
    let o = overlin(p, &["merge", "s", "--out", "m"]);
    assert_one_line_error(&o, 2, "--force");
    assert_eq!(
        std::fs::read_to_string(p.join("m/merged.csv")).unwrap(),
        "mine\n"
    );
    assert_eq!(files(&p.join("m")), vec!["merged.csv"]);
    let o = overlin(p, &["merge", "s", "--out", "m", "--force"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(p.join("m/merged.csv"))
            .unwrap()
            .lines()
            .count(),
        3
    );
    // run --csv onto a folder: refused before the run (the message is the
    // up-front check's, not a failed rename after it), even with --force,
    // nothing left over.
    std::fs::create_dir(p.join("d")).unwrap();
    for force in [false, true] {
        let mut args = vec!["run", "--iters", "3", "--csv", "d"];
        if force {
            args.push("--force");
        }
        let o = overlin(p, &args);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        no_panic(&o);
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
        assert!(stderr(&o).contains("is a folder"), "{}", stderr(&o));
        assert!(p.join("d").is_dir() && files(&p.join("d")).is_empty());
        assert!(temp_files(p).is_empty(), "{:?}", files(p));
    }
}
