//! Runs that go wrong: divergence, the precision floor, a true
//! certificate violation, the narrow-width setting, bad steps and
//! tolerances, data beyond the working precision, interruption (SIGINT,
//! SIGTERM, SIGKILL) of `run` and `reproduce`, and outputs that must not be
//! overwritten. The bad-input cases already covered by `cli_io.rs`,
//! `cli_run.rs` and `cli_sweep.rs` are not repeated here; RELIABILITY.md
//! lists every case with the test that shows it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

mod divergence;
mod inputs;
mod interrupts;
mod resources;
mod rounding;

fn run(dir: &Path, base: &[&str], extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run"];
    args.extend_from_slice(base);
    args.extend_from_slice(extra);
    overlin(dir, &args)
}

/// Reads a per-iteration CSV and checks it is whole: the header, 13 numeric
/// fields on every row (inf and NaN allowed: a diverged step), `t_eps`
/// (empty or a whole number), the step's rounding allowance and its class,
/// and a final newline. Returns the 13 fields and the allowance (index 13).
fn whole_csv(path: &Path) -> Vec<Vec<f64>> {
    whole_csv_with_classes(path).0
}

/// [`whole_csv`] and the class of every row.
fn whole_csv_with_classes(path: &Path) -> (Vec<Vec<f64>>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.ends_with('\n'),
        "{} does not end with a newline",
        path.display()
    );
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(CSV_HEADER), "{}", path.display());
    let mut classes = Vec::new();
    let rows = lines
        .enumerate()
        .map(|(i, l)| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), 16, "row {i}: {l:?}");
            let t_eps = cells[13];
            assert!(
                t_eps.is_empty() || t_eps.parse::<u64>().is_ok(),
                "row {i}: t_eps {t_eps:?}"
            );
            let class = cells[15];
            assert!(CLASSES.contains(&class), "row {i}: class {class:?}");
            classes.push(class.to_string());
            let row: Vec<f64> = cells[..13]
                .iter()
                .chain(std::iter::once(&cells[14]))
                .map(|c| {
                    c.parse::<f64>()
                        .unwrap_or_else(|_| panic!("row {i}: {c:?} in {l:?}"))
                })
                .collect();
            assert_eq!(row.len(), 14, "row {i}: {l:?}");
            row
        })
        .collect();
    (rows, classes)
}

fn no_panic(o: &std::process::Output) {
    let err = stderr(o);
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("overlin"))
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// Waits until `ready()` or `secs` seconds; panics if the child ended first.
fn wait_until(child: &mut Child, secs: u64, mut ready: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the command ended before the signal"
        );
        assert!(t0.elapsed() < Duration::from_secs(secs), "timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn temp_files(dir: &Path) -> Vec<String> {
    files(dir)
        .into_iter()
        .filter(|f| f.starts_with(".overlin-tmp"))
        .collect()
}

/// Every file under a final (non-hidden) name in `dir` is whole.
fn all_whole(dir: &Path) -> Vec<String> {
    let names: Vec<String> = files(dir)
        .into_iter()
        .filter(|f| !f.starts_with('.'))
        .collect();
    for f in &names {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        let what = format!("{f} is not whole");
        if f.ends_with(".csv") {
            assert!(text.ends_with('\n'), "{what}");
            let widths: Vec<usize> = text.lines().map(|l| l.split(',').count()).collect();
            assert!(
                widths.len() >= 2 && widths.iter().all(|&w| w == widths[0]),
                "{what}"
            );
        } else if f.ends_with(".svg") {
            assert!(
                text.starts_with("<svg") && text.trim_end().ends_with("</svg>"),
                "{what}"
            );
        } else if f.ends_with(".json") {
            serde_json::from_str::<serde_json::Value>(&text).expect(&what);
        } else if f.ends_with(".html") {
            assert!(text.trim_end().ends_with("</html>"), "{what}");
        } else {
            panic!("unexpected file {f}");
        }
    }
    names
}
