//! Shared helpers and fixtures of the host integration tests (`main.rs` and
//! its modules, and `slurm.rs`): running the binary, reading its output,
//! the one-line error contract, test data, and the flag lists, CSV header
//! and step classes several modules check against.
#![allow(dead_code)]

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

/// The `overlin` binary with `args`, run in `dir`.
pub fn overlin(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("overlin")
        .expect("binary")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run overlin")
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// stdout parsed as one JSON value.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            stdout(o),
            stderr(o)
        )
    })
}

/// Exit code.
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Asserts a clean input error: the given exit code, exactly one line on
/// stderr containing `needle` (case-insensitive), no panic, nothing on stdout.
pub fn assert_one_line_error(o: &Output, exit: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(code(o), exit, "exit code; stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one stderr line, got: {err:?}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(
        err.to_lowercase().contains(&needle.to_lowercase()),
        "stderr {err:?} does not mention {needle:?}"
    );
    assert!(o.stdout.is_empty(), "stdout not empty: {}", stdout(o));
}

/// Files in `dir` (names), sorted.
pub fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A tiny deterministic pseudo-random generator for test data (xorshift).
pub struct Lcg(pub u64);

impl Lcg {
    /// Uniform in (-1, 1).
    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// Row-major matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Mat {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Mat {
    pub fn random(rows: usize, cols: usize, rng: &mut Lcg) -> Self {
        Self {
            rows,
            cols,
            data: (0..rows * cols).map(|_| rng.next()).collect(),
        }
    }

    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.cols + j]
    }

    pub fn mul(&self, o: &Mat) -> Mat {
        assert_eq!(self.cols, o.rows);
        let mut d = vec![0.0; self.rows * o.cols];
        for i in 0..self.rows {
            for j in 0..o.cols {
                d[i * o.cols + j] = (0..self.cols).map(|k| self.at(i, k) * o.at(k, j)).sum();
            }
        }
        Mat {
            rows: self.rows,
            cols: o.cols,
            data: d,
        }
    }

    /// CSV with `{:e}` (exact round trip).
    pub fn csv(&self) -> String {
        let mut s = String::new();
        for i in 0..self.rows {
            let row: Vec<String> = (0..self.cols)
                .map(|j| format!("{:e}", self.at(i, j)))
                .collect();
            s += &row.join(",");
            s += "\n";
        }
        s
    }

    /// `.npy` bytes: `descr` is `<f8` or `<f4`; `fortran` stores columns first.
    pub fn npy(&self, descr: &str, fortran: bool) -> Vec<u8> {
        npy_bytes(
            descr,
            fortran,
            &[self.rows, self.cols],
            &self.ordered(fortran),
        )
    }

    fn ordered(&self, fortran: bool) -> Vec<f64> {
        if !fortran {
            return self.data.clone();
        }
        let mut v = Vec::with_capacity(self.data.len());
        for j in 0..self.cols {
            for i in 0..self.rows {
                v.push(self.at(i, j));
            }
        }
        v
    }
}

/// Hand-made `.npy` (format 1.0) so the reader is tested against the
/// format itself, not against the project's own writer.
pub fn npy_bytes(descr: &str, fortran: bool, shape: &[usize], values: &[f64]) -> Vec<u8> {
    let shape_txt = match shape {
        [a] => format!("({a},)"),
        s => format!(
            "({})",
            s.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape_txt}, }}",
        if fortran { "True" } else { "False" }
    );
    // Pad so that magic(6) + version(2) + len(2) + header is a multiple of 64, ending in \n.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in values {
        match descr {
            "<f8" => out.extend_from_slice(&v.to_le_bytes()),
            "<f4" => out.extend_from_slice(&(v as f32).to_le_bytes()),
            "|i1" => out.push(v as i8 as u8),
            "<i8" => out.extend_from_slice(&(v as i64).to_le_bytes()),
            other => panic!("test npy writer: unsupported {other}"),
        }
    }
    out
}

/// A small problem that converges in a few hundred steps.
pub const SMALL: &[&str] = &[
    "--n",
    "4",
    "--m",
    "3",
    "--h",
    "12",
    "--samples",
    "40",
    "--sigma",
    "2",
    "--scale",
    "0.5",
];

/// The header of `run --csv`, written out rather than taken from the
/// library so that a change of the file format fails the tests.
pub const CSV_HEADER: &str =
    "t,loss,gap,eta,alpha,beta,grad_spec,mu_t,k_t,rho,ratio,holds,drift,t_eps,allowance,class";

/// The classes a checked step can fall in (THEORY §11), as CSV rows and
/// the JSON tallies name them.
pub const CLASSES: [&str; 5] = [
    "certified",
    "trivial",
    "below_resolution",
    "descent_only",
    "non_finite",
];

/// The steps counted in a JSON `classes` object, over every class of
/// [`CLASSES`] (each must be present).
pub fn class_total(classes: &serde_json::Value) -> u64 {
    CLASSES
        .iter()
        .map(|k| {
            classes[k]
                .as_u64()
                .unwrap_or_else(|| panic!("class {k} missing in {classes}"))
        })
        .sum()
}

/// The cell files of sweep folder `dir`, by name (none before the sweep
/// made its `cells` folder).
pub fn cell_files(dir: &Path) -> Vec<String> {
    if !dir.join("cells").is_dir() {
        return Vec::new();
    }
    files(&dir.join("cells"))
        .into_iter()
        .filter(|f| f.ends_with(".json") && !f.starts_with('.'))
        .collect()
}
