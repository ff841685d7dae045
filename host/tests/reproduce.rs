//! End-to-end tests of `overlin reproduce --quick`: exit code,
//! summary.json content, CSV headers and rows, self-contained report,
//! `--only`, refusing an existing folder, and `--jobs` independence.
//!
//! One quick run (`--jobs 2`) is shared by the content tests; the
//! determinism test makes a second one with `--jobs 1` and compares every
//! CSV byte for byte (wall times live in `timing.csv` and `e2_timing.csv`,
//! which are excluded).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;

use crate::common::class_total;

fn overlin() -> Command {
    Command::cargo_bin("overlin").unwrap()
}

/// The shared `reproduce --quick --jobs 2` output folder.
fn quick_run() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, out) = DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("tmp");
        let o = overlin()
            .args(["reproduce", "--quick", "--jobs", "2", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "stdout: {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let stdout = String::from_utf8_lossy(&o.stdout);
        // The summary table names every experiment.
        for id in ["E1", "E2", "E3", "E4", "E5", "E6", "E7"] {
            assert!(stdout.contains(id), "summary table lacks {id}: {stdout}");
        }
        (tmp, out)
    });
    out
}

fn csvs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".csv") && !name.contains("timing") {
            m.insert(name, fs::read(&p).unwrap());
        }
    }
    m
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = fs::read_to_string(path).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let header = rdr.headers().unwrap().iter().map(String::from).collect();
    let rows = rdr
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

#[test]
fn summary_says_local_converged_on_e1_without_violations() {
    let dir = quick_run();
    let s: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["mode"], "quick");
    assert_eq!(s["total_violations"], 0);
    assert_eq!(s["all_certificates_held"], true);
    // Every checked step is in one class; steps were certified.
    assert!(
        s["classes"]["certified"].as_u64().unwrap() > 0,
        "{}",
        s["classes"]
    );
    let exps = s["experiments"].as_array().unwrap();
    let ids: Vec<&str> = exps.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["E1", "E2", "E3", "E4", "E5", "E6", "E7"]);
    let e1 = &exps[0];
    let local = &e1["rules"]["local"];
    // 3 sigmas x 3 quick seeds, all converged, none violated.
    assert_eq!(local["runs"], 9);
    assert_eq!(local["converged"], 9);
    assert_eq!(local["violations"], 0);
    assert_eq!(local["imbalance_violations"], 0);
    assert!(local["steps_checked"].as_u64().unwrap() > 0);
    let worst = local["worst_ratio"].as_f64().unwrap();
    assert!(worst > 0.0 && worst <= 1.0, "worst ratio {worst}");
    assert_eq!(
        class_total(&local["classes"]),
        local["steps_checked"].as_u64().unwrap()
    );
    for e in exps {
        assert_eq!(e["violations"], 0, "{}", e["id"]);
        assert_eq!(
            class_total(&e["classes"]),
            e["steps_checked"].as_u64().unwrap(),
            "{}",
            e["id"]
        );
        assert!(e["runs"].as_u64().unwrap() > 0, "{}", e["id"]);
        assert!(!e["files"].as_array().unwrap().is_empty());
    }
}

#[test]
fn every_csv_has_its_header_and_rows() {
    let dir = quick_run();
    // (file, header prefix, expected rows or 0 for "at least one")
    let expect: [(&str, &[&str], usize); 10] = [
        (
            "e1.csv",
            &[
                "sigma",
                "rule",
                "t",
                "runs",
                "gap_geomean",
                "gap_min",
                "gap_max",
            ],
            0,
        ),
        // 3 sigmas x 4 rules (eta-bar where certified) x 3 seeds.
        (
            "e1_runs.csv",
            &["sigma", "rule", "seed", "status", "iterations"],
            0,
        ),
        (
            "e2.csv",
            &[
                "problem",
                "rule",
                "seed",
                "eta",
                "eta0_local",
                "status",
                "iterations",
            ],
            0,
        ),
        (
            "e2_grid.csv",
            &["problem", "seed", "factor", "eta", "status", "iterations"],
            10,
        ),
        ("e2_trace.csv", &["problem", "rule", "t", "gap", "eta"], 0),
        // 2 variances x 4 widths x 1 seed.
        (
            "e3.csv",
            &[
                "variance",
                "h",
                "seed",
                "alpha0",
                "beta0",
                "alpha0_over_beta0",
            ],
            8,
        ),
        // 6 sigmas x 4 omegas x 1 seed.
        ("e4.csv", &["sigma", "omega", "seed", "alpha_imb0"], 24),
        // 4 losses x 3 rules x 1 seed.
        (
            "e5.csv",
            &["loss", "rule", "seed", "status", "iterations"],
            12,
        ),
        // 3 kappas x 1 seed.
        (
            "e6.csv",
            &["kappa", "seed", "mu_over_k", "alpha0_over_beta0"],
            3,
        ),
        // 4 starts x 2 rules x 1 seed.
        ("e7.csv", &["start", "seed", "rule", "apriori_certified"], 8),
    ];
    for (file, prefix, rows) in expect {
        let (header, body) = read_csv(&dir.join(file));
        assert_eq!(&header[..prefix.len()], prefix, "{file} header");
        if rows > 0 {
            assert_eq!(body.len(), rows, "{file} rows");
        } else {
            assert!(!body.is_empty(), "{file} has no rows");
        }
        for r in &body {
            assert_eq!(r.len(), header.len(), "{file}: ragged row {r:?}");
        }
    }
    // E1 runs: 3 sigmas x 3 seeds for each of local, rate-optimal, xu2023.
    let (h, rows) = read_csv(&dir.join("e1_runs.csv"));
    let rule = h.iter().position(|c| c == "rule").unwrap();
    let status = h.iter().position(|c| c == "status").unwrap();
    let viol = h.iter().position(|c| c == "violations").unwrap();
    for name in ["local", "rate-optimal", "xu2023"] {
        assert_eq!(rows.iter().filter(|r| r[rule] == name).count(), 9, "{name}");
    }
    for r in rows.iter().filter(|r| r[rule] == "local") {
        assert_eq!(r[status], "converged");
        assert_eq!(r[viol], "0");
    }
    // E5 built all four losses.
    let (h, rows) = read_csv(&dir.join("e5.csv"));
    let loss = h.iter().position(|c| c == "loss").unwrap();
    let status = h.iter().position(|c| c == "status").unwrap();
    for name in ["squared", "sensing", "logcosh", "softmax"] {
        let mine: Vec<_> = rows.iter().filter(|r| r[loss] == name).collect();
        assert_eq!(mine.len(), 3, "{name}");
        assert!(mine.iter().all(|r| r[status] != "unavailable"), "{name}");
    }
    // Timing is kept apart from the deterministic CSVs.
    let (h, _) = read_csv(&dir.join("e2_timing.csv"));
    assert!(h.contains(&"wall_seconds".to_string()));
    let (h, rows) = read_csv(&dir.join("timing.csv"));
    assert_eq!(h, ["experiment", "runs", "wall_seconds"]);
    assert_eq!(rows.len(), 7);
    // E7 (THEORY §8.2): every run got a certificate at some iterate, and
    // the constant-step runs, whose guarantee applies, kept it.
    let (h, rows) = read_csv(&dir.join("e7.csv"));
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let (rule, tc, applies, viol, within) = (
        col("rule"),
        col("certified_from"),
        col("guarantee_applies"),
        col("guarantee_violations"),
        col("within_guarantee"),
    );
    for r in &rows {
        assert!(!r[tc].is_empty(), "{r:?}");
        assert_eq!(r[viol], "0", "{r:?}");
        assert_eq!(r[within], "1", "{r:?}");
        assert_eq!(
            r[applies],
            if r[rule] == "constant" { "1" } else { "0" },
            "{r:?}"
        );
    }
}

#[test]
fn report_inlines_one_svg_per_plot_and_no_external_resource() {
    let dir = quick_run();
    let html = fs::read_to_string(dir.join("report.html")).unwrap();
    let svgs: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".svg"))
        .collect();
    assert!(svgs.len() >= 13, "plots: {svgs:?}");
    assert_eq!(html.matches("<svg").count(), svgs.len());
    for name in &svgs {
        assert!(html.contains(name.as_str()), "report does not show {name}");
        let svg = fs::read_to_string(dir.join(name)).unwrap();
        assert!(svg.starts_with("<svg"), "{name}");
    }
    for bad in [
        "http://", "https://", "src=", "<script", "<link", "@import", "url(",
    ] {
        assert!(!html.contains(bad), "report contains {bad}");
    }
    for id in ["E1", "E2", "E3", "E4", "E5", "E6", "E7"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id} section");
    }
    assert!(html.contains("worst measured/bound"));
    assert!(html.contains("all certified steps held"));
    assert!(html.contains("<th>below resolution</th>"));
}

#[test]
fn only_e1_writes_only_e1_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("only");
    overlin()
        .args(["reproduce", "--quick", "--only", "E1", "--out"])
        .arg(&out)
        .assert()
        .code(0);
    let mut names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    for n in &names {
        assert!(
            n.starts_with("e1")
                || ["report.html", "summary.json", "timing.csv"].contains(&n.as_str()),
            "unexpected file {n}"
        );
        assert!(!n.starts_with(".overlin-tmp"), "temporary file left: {n}");
    }
    assert!(names.contains(&"e1.csv".to_string()));
    assert!(names.contains(&"e1_runs.csv".to_string()));
    let s: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["experiments"].as_array().unwrap().len(), 1);
    // E1 is byte-identical to the E1 of the full run (same seeds).
    let full = quick_run();
    assert_eq!(
        fs::read(out.join("e1.csv")).unwrap(),
        fs::read(full.join("e1.csv")).unwrap()
    );
}

#[test]
fn existing_output_folder_without_force_fails_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("exists");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("keep.txt"), "mine").unwrap();
    let o = overlin()
        .args(["reproduce", "--quick", "--only", "E6", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one error line: {err}");
    let names: Vec<_> = fs::read_dir(&out).unwrap().collect();
    assert_eq!(names.len(), 1);
    assert_eq!(fs::read_to_string(out.join("keep.txt")).unwrap(), "mine");
    // An existing empty folder holds nothing to overwrite: it is used
    // (a failed earlier attempt may have left it).
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    overlin()
        .args(["reproduce", "--quick", "--only", "E6", "--out"])
        .arg(&empty)
        .assert()
        .code(0);
    assert!(empty.join("e6.csv").exists());
    // With --force it runs.
    overlin()
        .args(["reproduce", "--quick", "--only", "E6", "--force", "--out"])
        .arg(&out)
        .assert()
        .code(0);
    assert!(out.join("e6.csv").exists());
    assert_eq!(fs::read_to_string(out.join("keep.txt")).unwrap(), "mine");
}

#[test]
fn bad_only_and_zero_jobs_are_input_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        vec!["--only", "E9"],
        vec!["--jobs", "0"],
        vec!["--seeds", "0"],
    ] {
        let out = tmp.path().join("x");
        let o = overlin()
            .args(["reproduce", "--quick", "--out"])
            .arg(&out)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(!out.exists(), "{args:?} created the folder");
    }
}

#[test]
fn results_do_not_depend_on_jobs() {
    let full = quick_run();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("j1");
    overlin()
        .args(["reproduce", "--quick", "--jobs", "1", "--out"])
        .arg(&out)
        .assert()
        .code(0);
    let a = csvs(full);
    let b = csvs(&out);
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "same CSV files"
    );
    assert!(a.len() >= 9);
    for (name, bytes) in &a {
        assert!(
            bytes == &b[name],
            "{name} differs between --jobs 2 and --jobs 1"
        );
    }
    // summary.json carries no timing: identical too.
    assert_eq!(
        fs::read(full.join("summary.json")).unwrap(),
        fs::read(out.join("summary.json")).unwrap()
    );
}
