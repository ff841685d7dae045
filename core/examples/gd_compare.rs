//! The overlin side of `bench/compare.py` (issue 5): writes one benchmark
//! problem as `.npy` files for the NumPy implementation, runs the same
//! certified GD loop (Local rule, THEORY §6.2, certificate on) and prints
//! one JSON line: the loss trajectory and the time per certified step and
//! per plain step (Constant rule, certificate off), each the fastest aligned
//! window of `GRAM_REFRESH` consecutive steps over `reps` runs.
//!
//! `cargo run --release -p overlin-core --example gd_compare -- n m h N steps reps outdir`
// A measurement program, not core code: panicking on a broken set-up is fine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../benches/common/mod.rs"]
mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use common::{dyn_trainer, endless, problem, safe_constant};
use overlin_core::{StepRule, TrainerConfig};

/// Writes a column-major `f64` matrix as a version-1 `.npy` file.
fn write_npy(path: &Path, data: &[f64], rows: usize, cols: usize) {
    let mut header =
        format!("{{'descr': '<f8', 'fortran_order': True, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 8 * data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for x in data {
        out.extend_from_slice(&x.to_le_bytes());
    }
    fs::File::create(path).unwrap().write_all(&out).unwrap();
}

/// Steps per timing window: one period of the Gram refresh, so every
/// window holds the same work (one exact Gram formation).
const WINDOW: usize = overlin_core::gd::GRAM_REFRESH;

/// Time per step of the fastest aligned window of `WINDOW` steps: on a
/// shared machine the fastest window is the one nobody preempted. Runs
/// shorter than a window (the large sizes) give their mean step.
fn best_window(stamps: &[Instant]) -> f64 {
    if stamps.len() <= WINDOW {
        let (Some(a), Some(b)) = (stamps.first(), stamps.last()) else {
            return f64::INFINITY;
        };
        return (*b - *a).as_secs_f64() / (stamps.len() - 1).max(1) as f64;
    }
    stamps
        .iter()
        .step_by(WINDOW)
        .zip(stamps.iter().skip(WINDOW).step_by(WINDOW))
        .map(|(a, b)| (*b - *a).as_secs_f64() / WINDOW as f64)
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .take(6)
        .map(|a| a.parse().expect("n m h N steps reps outdir"))
        .collect();
    let [n, m, h, samples, steps, reps] = args[..] else {
        panic!("usage: gd_compare n m h N steps reps outdir");
    };
    let outdir = std::env::args().nth(7).expect("outdir");
    // OVERLIN_SIMD_CAP=0|1|2 measures a lower instruction-set level (same bits).
    if let Some(cap) = std::env::var("OVERLIN_SIMD_CAP")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        overlin_core::kernels::simd::cap_level(cap);
    }
    let dir = Path::new(&outdir);
    fs::create_dir_all(dir).unwrap();
    let p = problem(n, m, h, samples, 2025);
    write_npy(&dir.join("X.npy"), &p.x, samples, n);
    write_npy(&dir.join("Y.npy"), &p.y, samples, m);
    write_npy(&dir.join("W1.npy"), &p.w1, n, h);
    write_npy(&dir.join("W2.npy"), &p.w2, h, m);

    let cfg = TrainerConfig {
        max_iters: steps,
        ..endless::<f64>(true)
    };
    let mut losses = Vec::new();
    let mut best_cert = f64::INFINITY;
    let mut violations = 0;
    let mut best_setup = f64::INFINITY;
    for _ in 0..reps {
        // The set-up: μ, K, W* (the loss), the start's imbalance spectrum
        // and a-priori certificate (the trainer).
        let t0 = Instant::now();
        let mut tr = dyn_trainer::<f64>(&p, StepRule::Local, cfg);
        best_setup = best_setup.min(t0.elapsed().as_secs_f64());
        let mut rec = Vec::with_capacity(steps + 1);
        let mut stamps = Vec::with_capacity(steps + 1);
        stamps.push(Instant::now());
        while let Some(r) = tr.step() {
            stamps.push(Instant::now());
            rec.push(r.loss);
            if tr.status().is_final() {
                rec.push(r.next_loss);
            }
        }
        best_cert = best_cert.min(best_window(&stamps));
        violations = tr.summary().tally.violations;
        losses = rec;
    }
    let plain_rule = safe_constant::<f64>(&p);
    let plain_cfg = TrainerConfig {
        max_iters: steps,
        ..endless::<f64>(false)
    };
    let mut best_plain = f64::INFINITY;
    for _ in 0..reps {
        let mut tr = dyn_trainer::<f64>(&p, plain_rule, plain_cfg);
        let mut stamps = Vec::with_capacity(steps + 1);
        stamps.push(Instant::now());
        while tr.step().is_some() {
            stamps.push(Instant::now());
        }
        best_plain = best_plain.min(best_window(&stamps));
    }
    let losses: Vec<String> = losses.iter().map(|x| format!("{x:?}")).collect();
    println!(
        "{{\"setup_s\": {best_setup:?}, \"cert_step_s\": {best_cert:?}, \"plain_step_s\": {best_plain:?}, \"violations\": {violations}, \"losses\": [{}]}}",
        losses.join(", ")
    );
}
