//! End-to-end tests of `overlin sweep` and `overlin merge` (issues 3, 6):
//! resume after an interruption, independence from `--jobs`, shards.

mod cli_support;

use std::path::Path;
use std::time::{Duration, Instant};

use cli_support::*;

const GRID: &str = r#"
n = 3
m = 2
samples = 12
h = [6, 8]
sigma = [0.0, 1.0, 5.0]
rule = ["local", "rate-optimal"]
iters = 300
tol = 1e-8
"#;

const CELLS: usize = 12;

fn sweep(dir: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["sweep", "--grid", "grid.toml", "--out", out];
    args.extend_from_slice(extra);
    overlin(dir, &args)
}

fn merged(dir: &Path, dirs: &[&str], out: &str) -> (String, String) {
    let mut args = vec!["merge"];
    args.extend_from_slice(dirs);
    args.extend_from_slice(&["--out", out]);
    let o = overlin(dir, &args);
    assert_eq!(code(&o), 0, "merge: {}", stderr(&o));
    let d = dir.join(out);
    (
        std::fs::read_to_string(d.join("merged.csv")).unwrap(),
        std::fs::read_to_string(d.join("merged.json")).unwrap(),
    )
}

fn cell_files(dir: &Path) -> Vec<String> {
    if !dir.join("cells").is_dir() {
        return Vec::new();
    }
    files(&dir.join("cells"))
        .into_iter()
        .filter(|f| f.ends_with(".json") && !f.starts_with('.'))
        .collect()
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("grid.toml"), GRID).unwrap();
    dir
}

/// The full sweep with one worker, merged: the reference table.
fn reference(dir: &Path) -> (String, String) {
    let o = sweep(dir, "ref", &["--jobs", "1"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    merged(dir, &["ref"], "ref-merged")
}

#[test]
fn merged_table_has_every_cell_in_order_with_results() {
    let dir = setup();
    let (csv, json_text) = reference(dir.path());
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        &header[..10],
        &["index", "id", "h", "iters", "m", "n", "rule", "samples", "sigma", "tol"]
    );
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), CELLS);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], i.to_string());
        assert_eq!(r[col("violations")], "0");
        assert!(
            ["converged", "max_iters"].contains(&r[col("status")]),
            "{r:?}"
        );
    }
    // Last key varies fastest: sigma, then rule, then h (sorted keys).
    assert_eq!(rows[0][col("h")], "6");
    assert_eq!(rows[0][col("rule")], "local");
    assert_eq!(rows[1][col("sigma")], "1.0");
    assert_eq!(rows[3][col("rule")], "rate-optimal");
    assert_eq!(rows[6][col("h")], "8");
    // σ = 0 is a statistically balanced start; σ = 5 is imbalanced and certified.
    assert_eq!(rows[2][col("apriori_certified")], "true");
    let j: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(j.as_array().unwrap().len(), CELLS);
    assert!(
        j[0]["result"].get("wall_time_s").is_none(),
        "wall time is not part of the table"
    );
    assert_eq!(j[5]["params"]["sigma"], 5.0);
}

#[test]
fn jobs_and_shards_do_not_change_the_table() {
    let dir = setup();
    let p = dir.path();
    let reference = reference(p);
    let o = sweep(p, "two", &["--jobs", "2"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        merged(p, &["two"], "two-merged"),
        reference,
        "--jobs 2 vs 1"
    );
    for (i, out) in [(1, "s1"), (2, "s2")] {
        let shard = format!("{i}/2");
        let o = sweep(p, out, &["--shard", &shard]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(cell_files(&p.join(out)).len(), CELLS / 2);
    }
    assert_eq!(
        merged(p, &["s1", "s2"], "shards-merged"),
        reference,
        "shards 1/2 + 2/2"
    );
    // Shards may also share one folder, as on a cluster file system.
    for i in 1..=3 {
        let shard = format!("{i}/3");
        assert_eq!(code(&sweep(p, "shared", &["--shard", &shard])), 0);
    }
    assert_eq!(
        merged(p, &["shared"], "shared-merged"),
        reference,
        "3 shards, one folder"
    );
}

#[test]
fn partial_sweep_is_refused_by_merge_then_resumed() {
    let dir = setup();
    let p = dir.path();
    let reference = reference(p);
    // An interrupted sweep: only a third of the cells finished.
    assert_eq!(code(&sweep(p, "r", &["--shard", "1/3"])), 0);
    let o = overlin(p, &["merge", "r", "--out", "m"]);
    assert_one_line_error(&o, 2, "8 of 12 cells are missing");
    assert!(!p.join("m").join("merged.csv").exists());
    // Finished cells are kept untouched by the rerun.
    let before: Vec<(String, Vec<u8>)> = cell_files(&p.join("r"))
        .into_iter()
        .map(|f| {
            let b = std::fs::read(p.join("r/cells").join(&f)).unwrap();
            (f, b)
        })
        .collect();
    let o = sweep(p, "r", &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("8 finished now, 4 already done"),
        "{}",
        stderr(&o)
    );
    for (f, b) in before {
        assert_eq!(
            std::fs::read(p.join("r/cells").join(&f)).unwrap(),
            b,
            "{f} rewritten"
        );
    }
    assert_eq!(merged(p, &["r"], "r-merged"), reference);
    // A third run has nothing to do.
    let o = sweep(p, "r", &[]);
    assert!(stderr(&o).contains("0 finished now, 12 already done"));
}

#[test]
fn killed_sweep_resumes_to_the_same_table() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // Cells slow enough (in a debug build) to be caught in the middle.
    let grid = "n = 6\nm = 4\nh = 48\nsamples = 40\nsigma = [0.5, 1.0, 2.0, 3.0, 4.0, 5.0]\n\
                iters = 4000\ntol = 1e-300\nstall_window = 0\n";
    std::fs::write(p.join("grid.toml"), grid).unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("overlin"))
        .current_dir(p)
        .args(["sweep", "--grid", "grid.toml", "--out", "k", "--jobs", "1"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let cells = p.join("k");
    while cell_files(&cells).is_empty() && t0.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    let _ = child.wait();
    let done = cell_files(&cells).len();
    assert!((1..6).contains(&done), "killed after {done} of 6 cells");
    // Every file present is a whole cell.
    for f in cell_files(&cells) {
        let text = std::fs::read_to_string(cells.join("cells").join(&f)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(v["result"]["status"].is_string(), "{f}");
    }
    let o = overlin(
        p,
        &["sweep", "--grid", "grid.toml", "--out", "k", "--jobs", "2"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("{done} already done")),
        "{done}: {}",
        stderr(&o)
    );
    let o = overlin(
        p,
        &[
            "sweep",
            "--grid",
            "grid.toml",
            "--out",
            "full",
            "--jobs",
            "2",
        ],
    );
    assert_eq!(code(&o), 0);
    assert_eq!(
        merged(p, &["k"], "k-merged"),
        merged(p, &["full"], "full-merged")
    );
}

#[test]
fn interrupt_with_ctrl_c_leaves_whole_cells_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let grid = "n = 6\nm = 4\nh = 48\nsamples = 40\nsigma = [0.5, 1.0, 2.0, 3.0]\n\
                iters = 4000\ntol = 1e-300\nstall_window = 0\n";
    std::fs::write(p.join("grid.toml"), grid).unwrap();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("overlin"))
        .current_dir(p)
        .args(["sweep", "--grid", "grid.toml", "--out", "c", "--jobs", "1"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while cell_files(&p.join("c")).is_empty() && t0.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let done = cell_files(&p.join("c")).len();
    assert!((1..4).contains(&done), "stopped after {done} of 4 cells");
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("rerun the same command to resume"), "{err}");
    // No temporary file is left behind by a graceful stop.
    assert!(
        files(&p.join("c/cells"))
            .iter()
            .all(|f| !f.starts_with(".overlin-tmp")),
        "{:?}",
        files(&p.join("c/cells"))
    );
    let o = overlin(p, &["sweep", "--grid", "grid.toml", "--out", "c"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(cell_files(&p.join("c")).len(), 4);
}

#[test]
fn impossible_grids_are_refused_before_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let cases = [
        ("h = [4, 8]\nwidth = 3\n", "unknown key 'width'"),
        ("h = []\n", "empty list"),
        ("h = [4, \"wide\"]\n", "cell 1"),
        ("tol = [1e-8, -1.0]\n", "--tol must be positive"),
        ("n = [3, 0]\n", "--n is zero"),
        ("rule = [\"local\", \"bogus\"]\n", "unknown step rule"),
        ("[problem]\nn = 3\n", "unknown key 'problem'"),
        ("n = = 3\n", "invalid TOML"),
    ];
    for (text, needle) in cases {
        std::fs::write(p.join("grid.toml"), text).unwrap();
        let o = overlin(p, &["sweep", "--grid", "grid.toml", "--out", "out"]);
        assert_one_line_error(&o, 2, needle);
        assert!(!p.join("out").exists(), "output created for {text:?}");
    }
    let o = overlin(p, &["sweep", "--grid", "missing.toml", "--out", "out"]);
    assert_one_line_error(&o, 2, "missing.toml: file not found");
    std::fs::write(p.join("grid.toml"), "h = 4\n").unwrap();
    let o = overlin(
        p,
        &[
            "sweep",
            "--grid",
            "grid.toml",
            "--out",
            "out",
            "--shard",
            "3/2",
        ],
    );
    assert_one_line_error(&o, 2, "--shard");
}

#[test]
fn a_folder_of_another_grid_is_not_mixed_in() {
    let dir = setup();
    let p = dir.path();
    assert_eq!(code(&sweep(p, "x", &["--shard", "1/4"])), 0);
    std::fs::write(
        p.join("grid.toml"),
        GRID.replace("iters = 300", "iters = 200"),
    )
    .unwrap();
    let o = sweep(p, "x", &[]);
    assert_one_line_error(&o, 2, "another grid");
    // And a non-sweep folder with files in it is not used either.
    std::fs::create_dir(p.join("docs")).unwrap();
    std::fs::write(p.join("docs/notes.txt"), "mine").unwrap();
    let o = sweep(p, "docs", &[]);
    assert_one_line_error(&o, 2, "not a sweep folder");
    // Merging folders of different grids is refused.
    assert_eq!(code(&sweep(p, "y", &[])), 0);
    let o = overlin(p, &["merge", "x", "y", "--partial", "--out", "xy"]);
    assert_one_line_error(&o, 2, "different grids");
}

/// A resumed sweep's exit code and summary count the cells finished by an
/// earlier invocation too: rerunning a finished sweep with a diverged cell
/// exits 3 again (it used to exit 0, having run nothing itself).
#[test]
fn resumed_sweep_reports_cells_finished_earlier() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let grid =
        "n = 3\nm = 2\nh = 8\nsamples = 12\nrule = [\"local\", \"constant:50\"]\niters = 200\n";
    std::fs::write(p.join("grid.toml"), grid).unwrap();
    let first = overlin(p, &["sweep", "--grid", "grid.toml", "--out", "d"]);
    assert_eq!(code(&first), 3, "{}", stderr(&first));
    let again = overlin(p, &["sweep", "--grid", "grid.toml", "--out", "d"]);
    assert_eq!(code(&again), 3, "{}", stderr(&again));
    let err = stderr(&again);
    assert!(err.contains("0 finished now, 2 already done"), "{err}");
    assert!(err.contains("1 diverged"), "{err}");
}
