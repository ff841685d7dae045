//! End-to-end tests of `overlin sweep` and `overlin merge`:
//! resume after an interruption, independence from `--jobs`, shards.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

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
    // Grid-level faults, and grids none of whose cells can run (a grid
    // with some runnable cells runs them: see a_bad_cell_is_reported...).
    let cases = [
        ("h = [4, 8]\nwidth = 3\n", "unknown key 'width'"),
        ("h = []\n", "empty list"),
        (
            "h = \"wide\"\n",
            "cell 0 (h=wide): h = \"wide\": invalid type",
        ),
        ("tol = [-1e-8, -1.0]\n", "--tol must be positive"),
        ("n = 0\n", "--n is zero"),
        ("rule = [\"bogus\", \"worse\"]\n", "unknown step rule"),
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

/// One bad cell (`h = 4e9` is a float in TOML, not a size; `h = 4000000000`
/// a size too large for memory) is recorded and listed as failed; the other
/// cells run. The same for each kind of invalid value. A rerun tries the
/// failed cell again.
#[test]
fn a_bad_cell_is_reported_and_the_others_run() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let base = "n = 3\nm = 2\nsamples = 12\niters = 200\n";
    std::fs::write(p.join("grid.toml"), format!("{base}h = [10, 20, 4e9]\n")).unwrap();
    let o = overlin(p, &["sweep", "--grid", "grid.toml", "--out", "b"]);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(
        err.contains(
            "cell 2 (h=4000000000.0 iters=200 m=2 n=3 samples=12): h = 4000000000.0: invalid type"
        ),
        "{err}"
    );
    assert!(err.contains("3 finished now, 0 already done"), "{err}");
    assert!(err.contains("1 could not be run"), "{err}");
    assert_eq!(cell_files(&p.join("b")).len(), 3);
    let (csv, _) = merged(p, &["b"], "b-merged");
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 3);
    assert!(
        rows[0].contains(",max_iters,") || rows[0].contains(",converged,"),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].contains(",max_iters,") || rows[1].contains(",converged,"),
        "{}",
        rows[1]
    );
    assert!(
        rows[2].contains(",error,\"h = 4000000000.0: invalid type"),
        "{}",
        rows[2]
    );
    // The failed cell is tried again, the finished ones are not.
    let o = overlin(p, &["sweep", "--grid", "grid.toml", "--out", "b"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("1 finished now, 2 already done"),
        "{}",
        stderr(&o)
    );
    // The same width as an integer is a valid size whose problem does not
    // fit in memory: that cell fails on the memory check (before allocating
    // anything), the others run.
    std::fs::write(
        p.join("grid.toml"),
        format!("{base}h = [10, 20, 4000000000]\n"),
    )
    .unwrap();
    let o = overlin(p, &["sweep", "--grid", "grid.toml", "--out", "big"]);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("cell 2"))
        .unwrap_or_default();
    assert!(
        line.contains("h = 4000000000") && line.contains("of memory, more than the limit"),
        "{err}"
    );
    assert!(err.contains("3 finished now"), "{err}");
    assert!(err.contains("1 could not be run"), "{err}");
    assert_eq!(cell_files(&p.join("big")).len(), 3);
    let cases = [
        ("n = [3, 0]\n", "cell 1", "--n is zero"),
        ("tol = [1e-8, -1.0]\n", "cell 1", "--tol must be positive"),
        (
            "rule = [\"local\", \"bogus\"]\n",
            "cell 1",
            "unknown step rule",
        ),
        (
            "h = [4, \"wide\"]\n",
            "cell 1",
            "h = \"wide\": invalid type",
        ),
    ];
    for (i, (axis, cell, needle)) in cases.into_iter().enumerate() {
        let text = format!("{}{axis}", base.replace("n = 3\n", ""));
        let text = if axis.starts_with("n =") {
            text
        } else {
            format!("n = 3\n{text}")
        };
        std::fs::write(p.join("grid.toml"), &text).unwrap();
        let out = format!("c{i}");
        let o = overlin(p, &["sweep", "--grid", "grid.toml", "--out", &out]);
        let err = stderr(&o);
        assert_eq!(code(&o), 2, "{text}: {err}");
        let line = err.lines().find(|l| l.contains(cell)).unwrap_or_default();
        assert!(line.contains(needle), "{text}: {err}");
        assert!(err.contains("2 finished now"), "{text}: {err}");
        assert_eq!(cell_files(&p.join(&out)).len(), 2, "{text}");
    }
}

/// A cell whose rule does not apply is listed and the
/// sweep exits 5, as `run` does, also when resumed.
#[test]
fn a_cell_whose_rule_does_not_apply_exits_5() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let grid = "n = 3\nm = 2\nh = 8\nsamples = 12\nrule = [\"local\", \"arora\"]\niters = 200\n";
    std::fs::write(p.join("grid.toml"), grid).unwrap();
    let run = overlin(
        p,
        &[
            "run",
            "--n",
            "3",
            "--m",
            "2",
            "--h",
            "8",
            "--samples",
            "12",
            "--rule",
            "arora",
            "--iters",
            "200",
        ],
    );
    assert_eq!(code(&run), 5, "run: {}", stderr(&run));
    for again in [false, true] {
        let o = overlin(p, &["sweep", "--grid", "grid.toml", "--out", "u"]);
        let err = stderr(&o);
        assert_eq!(code(&o), 5, "{err}");
        assert!(
            err.contains(
                "cell 1 (h=8 iters=200 m=2 n=3 rule=arora samples=12): the rule does not apply"
            ),
            "{err}"
        );
        assert!(err.contains("1 where the rule does not apply"), "{err}");
        assert_eq!(err.contains("2 already done"), again, "{err}");
    }
}

/// The README's `xargs -P8` recipe, eight shards started
/// at once on one folder that does not exist yet, succeeds every time.
#[test]
fn eight_concurrent_shards_share_one_new_folder() {
    let dir = setup();
    let p = dir.path();
    let reference = reference(p);
    for trial in 0..4 {
        let out = format!("par{trial}");
        let children: Vec<_> = (1..=8)
            .map(|i| {
                std::process::Command::new(assert_cmd::cargo::cargo_bin("overlin"))
                    .current_dir(p)
                    .args(["sweep", "--grid", "grid.toml", "--out", &out, "--jobs", "1"])
                    .args(["--shard", &format!("{i}/8")])
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (i, c) in children.into_iter().enumerate() {
            let o = c.wait_with_output().unwrap();
            assert_eq!(
                o.status.code(),
                Some(0),
                "trial {trial}, shard {}: {}",
                i + 1,
                String::from_utf8_lossy(&o.stderr)
            );
        }
        assert_eq!(cell_files(&p.join(&out)).len(), CELLS);
        let merged_out = format!("par{trial}-merged");
        assert_eq!(merged(p, &[&out], &merged_out), reference, "trial {trial}");
    }
}

/// A damaged sweep.json says what to do, and the advice
/// (`--force`) works; `merge` says what to do too.
#[test]
fn a_corrupted_manifest_says_what_to_do() {
    let dir = setup();
    let p = dir.path();
    let reference = reference(p);
    assert_eq!(code(&sweep(p, "c", &["--shard", "1/2"])), 0);
    for damage in ["{\"format\": \"overlin-sw", "\u{0}\u{0}\u{0}", "{}"] {
        std::fs::write(p.join("c/sweep.json"), damage).unwrap();
        let o = sweep(p, "c", &[]);
        assert_one_line_error(&o, 2, "the sweep manifest is corrupted");
        assert!(stderr(&o).contains("rerun with --force"), "{}", stderr(&o));
        let o = overlin(p, &["merge", "c", "--partial"]);
        assert_one_line_error(&o, 2, "leave the folder out of the merge");
    }
    // Invalid UTF-8 is damage as well.
    std::fs::write(p.join("c/sweep.json"), [0xff, 0xfe, b'{']).unwrap();
    assert_one_line_error(&sweep(p, "c", &[]), 2, "corrupted (not UTF-8 text)");
    let o = sweep(p, "c", &["--force"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("12 finished now"), "{}", stderr(&o));
    assert_eq!(merged(p, &["c"], "c-merged"), reference);
}

fn edit_json(path: &Path, key: &str, value: &str) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v[key] = serde_json::Value::String(value.into());
    std::fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// Every cell records the grid hash and the overlin version; `merge`
/// refuses cells of another grid or version, and so does a resume.
#[test]
fn merge_refuses_other_grids_and_versions() {
    let dir = setup();
    let p = dir.path();
    for s in ["a", "b"] {
        assert_eq!(code(&sweep(p, s, &[])), 0);
    }
    let cell0 = |s: &str| p.join(s).join("cells").join(&cell_files(&p.join(s))[0]);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cell0("a")).unwrap()).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["grid_hash"].as_str().unwrap().len(), 16);
    edit_json(&cell0("a"), "version", "0.0.9");
    let o = overlin(p, &["merge", "a", "--out", "m"]);
    assert_one_line_error(&o, 2, "the cell was made by overlin 0.0.9");
    edit_json(&cell0("a"), "version", env!("CARGO_PKG_VERSION"));
    edit_json(&cell0("a"), "grid_hash", "0123456789abcdef");
    let o = overlin(p, &["merge", "a", "--out", "m"]);
    assert_one_line_error(&o, 2, "the cell is of another grid (hash 0123456789abcdef");
    assert!(!p.join("m/merged.csv").exists() && !p.join("m/merged.json").exists());
    // A folder whose manifest says another version: merge and resume refuse.
    edit_json(&p.join("b/sweep.json"), "version", "0.0.9");
    let o = overlin(p, &["merge", "a", "b", "--out", "m"]);
    assert_one_line_error(&o, 2, "by overlin 0.0.9");
    let o = sweep(p, "b", &[]);
    assert_one_line_error(&o, 2, "made by overlin 0.0.9");
}

/// A stated cell limit, raised by --max-cells, and
/// grid files that are not regular files or are too large are refused.
#[test]
fn grid_size_limits_and_non_regular_files() {
    let dir = setup();
    let p = dir.path();
    let o = sweep(p, "small", &["--max-cells", "11"]);
    assert_one_line_error(
        &o,
        2,
        "the grid has 12 cells, more than the limit of 11; pass --max-cells 12",
    );
    assert!(!p.join("small").exists());
    assert_eq!(code(&sweep(p, "small", &["--max-cells", "12"])), 0);
    // 1001 x 1000 cells: over the default limit, refused at once.
    let list = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
    std::fs::write(
        p.join("big.toml"),
        format!("seed = [{}]\nh = [{}]\n", list(1001), list(1000)),
    )
    .unwrap();
    let o = overlin(p, &["sweep", "--grid", "big.toml", "--out", "big"]);
    assert_one_line_error(&o, 2, "1001000 cells, more than the limit of 1000000");
    assert!(!p.join("big").exists());
    // A count that overflows is refused as such.
    let axes: String = (0..8)
        .map(|k| {
            format!(
                "{} = [{}]\n",
                ["n", "m", "h", "samples", "seed", "iters", "sigma", "noise"][k],
                list(400)
            )
        })
        .collect();
    std::fs::write(p.join("huge.toml"), axes).unwrap();
    let o = overlin(p, &["sweep", "--grid", "huge.toml", "--out", "huge"]);
    assert_one_line_error(&o, 2, "more cells than can be counted");
    let o = overlin(p, &["sweep", "--grid", "/dev/zero", "--out", "z"]);
    assert_one_line_error(&o, 2, "/dev/zero: is a");
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    let fifo = p.join("fifo.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let o = overlin(p, &["sweep", "--grid", "fifo.toml", "--out", "f"]);
    assert_one_line_error(&o, 2, "not a regular file");
    let o = overlin(p, &["sweep", "--grid", ".", "--out", "f"]);
    assert_one_line_error(&o, 2, "not a regular file");
    // Larger than a grid may be (16 MiB): refused before reading it.
    let f = std::fs::File::create(p.join("fat.toml")).unwrap();
    f.set_len((16 << 20) + 1).unwrap();
    let o = overlin(p, &["sweep", "--grid", "fat.toml", "--out", "f"]);
    assert_one_line_error(&o, 2, "fat.toml: is");
    assert!(!p.join("f").exists());
}

/// Cell files are not synced one by one (the folder is flushed once at the
/// end), so an operating-system crash may leave one empty or cut short:
/// `merge` names it and says to rerun, and the rerun recomputes it.
#[test]
fn a_cut_cell_file_is_named_by_merge_and_recomputed_by_the_rerun() {
    let dir = setup();
    let p = dir.path();
    let reference = reference(p);
    assert_eq!(code(&sweep(p, "cut", &[])), 0);
    let names = cell_files(&p.join("cut"));
    let victim = p.join("cut/cells").join(&names[4]);
    let whole = std::fs::read(&victim).unwrap();
    for damage in [
        &whole[..whole.len() / 2],
        &[][..],
        &vec![0u8; whole.len()][..],
    ] {
        std::fs::write(&victim, damage).unwrap();
        let o = overlin(p, &["merge", "cut", "--out", "m", "--force"]);
        assert_one_line_error(&o, 2, "not a valid cell file");
        assert!(stderr(&o).contains(&names[4]), "{}", stderr(&o));
        assert!(stderr(&o).contains("rerun the sweep"), "{}", stderr(&o));
        let o = sweep(p, "cut", &[]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(
            stderr(&o).contains("1 finished now, 11 already done"),
            "{}",
            stderr(&o)
        );
        assert_eq!(
            without_wall_time(&std::fs::read(&victim).unwrap()),
            without_wall_time(&whole),
            "the recomputed cell differs"
        );
    }
    assert_eq!(merged(p, &["cut"], "cut-merged"), reference);
}

/// A cell file without its wall time (which differs from run to run).
fn without_wall_time(bytes: &[u8]) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    v["result"]["wall_time_s"] = serde_json::Value::Null;
    v
}
