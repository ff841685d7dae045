//! User data (`.npy`, `.csv`) round trips and bad input:
//! every bad input gives exit code 2, one line on stderr, no panic and no
//! output file.

use std::path::Path;

use crate::common::*;

const N: usize = 30;
const NF: usize = 4;
const M: usize = 3;
const H: usize = 10;

struct Data {
    x: Mat,
    y: Mat,
    w1: Mat,
    w2: Mat,
}

fn data() -> Data {
    let mut rng = Lcg(0x1234_5678_9abc_def1);
    let x = Mat::random(N, NF, &mut rng);
    let theta = Mat::random(NF, M, &mut rng);
    let y = x.mul(&theta);
    let w1 = Mat::random(NF, H, &mut rng);
    let w2 = Mat::random(H, M, &mut rng);
    Data { x, y, w1, w2 }
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn run_files(dir: &Path, x: &str, y: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run", "--x", x, "--y", y, "--h", "10", "--iters", "3000", "--tol", "1e-9",
    ];
    args.extend_from_slice(extra);
    args.push("--json");
    overlin(dir, &args)
}

#[test]
fn npy_c_and_fortran_and_csv_give_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = data();
    write(dir.path(), "x.npy", d.x.npy("<f8", false));
    write(dir.path(), "y.npy", d.y.npy("<f8", false));
    write(dir.path(), "xf.npy", d.x.npy("<f8", true));
    write(dir.path(), "yf.npy", d.y.npy("<f8", true));
    write(dir.path(), "x.csv", d.x.csv());
    write(dir.path(), "y.csv", format!("a,b,c\n{}", d.y.csv()));
    let a = run_files(dir.path(), "x.npy", "y.npy", &[]);
    let b = run_files(dir.path(), "xf.npy", "yf.npy", &[]);
    let c = run_files(dir.path(), "x.csv", "y.csv", &[]);
    let (ja, jb, jc) = (json(&a), json(&b), json(&c));
    assert_eq!(code(&a), 0, "{}", stderr(&a));
    assert_eq!(ja["status"], "converged");
    assert_eq!(ja["sizes"]["n"], NF as u64);
    assert_eq!(ja["sizes"]["m"], M as u64);
    assert_eq!(ja["sizes"]["samples"], N as u64);
    // Same numbers whatever the file format and order: identical runs.
    for key in ["iterations", "initial_gap", "final_gap"] {
        assert_eq!(ja[key], jb[key], "{key} (Fortran order)");
        assert_eq!(ja[key], jc[key], "{key} (CSV)");
    }
    // Y = XΘ exactly representable up to rounding: L* ≈ 0.
    assert!(ja["constants"]["l_star"].as_f64().unwrap() < 1e-20);
}

#[test]
fn f32_npy_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = data();
    write(dir.path(), "x.npy", d.x.npy("<f4", false));
    write(dir.path(), "y.npy", d.y.npy("<f4", true));
    let o = run_files(dir.path(), "x.npy", "y.npy", &["--tol", "1e-6"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["status"], "converged");
}

#[test]
fn user_start_sets_the_initial_loss() {
    let dir = tempfile::tempdir().unwrap();
    let d = data();
    write(dir.path(), "x.npy", d.x.npy("<f8", false));
    write(dir.path(), "y.npy", d.y.npy("<f8", false));
    write(dir.path(), "w1.csv", d.w1.csv());
    write(dir.path(), "w2.npy", d.w2.npy("<f8", true));
    let o = run_files(
        dir.path(),
        "x.npy",
        "y.npy",
        &["--w1", "w1.csv", "--w2", "w2.npy", "--iters", "1"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&o);
    // L₀ = (1/2N)‖Y − X W₁W₂‖², computed here independently.
    let r = d.x.mul(&d.w1.mul(&d.w2));
    let l0: f64 = r
        .data
        .iter()
        .zip(&d.y.data)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        / (2.0 * N as f64);
    let gap0 = j["initial_gap"].as_f64().unwrap();
    let l_star = j["constants"]["l_star"].as_f64().unwrap();
    assert!(((gap0 + l_star) - l0).abs() <= 1e-12 * l0, "{gap0} vs {l0}");
    assert_eq!(j["sizes"]["h"], H as u64);
}

/// Runs `overlin run` with `args` plus `--csv out.csv` and checks the clean
/// failure: exit 2, one line naming `needle`, no output, no temp file.
fn bad(dir: &Path, args: &[&str], needle: &str) {
    let before = files(dir);
    let mut a = vec!["run"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--csv", "out.csv"]);
    let o = overlin(dir, &a);
    assert_one_line_error(&o, 2, needle);
    assert_eq!(files(dir), before, "a file was created for {args:?}");
}

#[test]
fn bad_files_give_one_clear_line_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let d = data();
    write(p, "x.npy", d.x.npy("<f8", false));
    write(p, "y.npy", d.y.npy("<f8", false));
    write(p, "y.csv", d.y.csv());
    let mut nan = d.x.clone();
    nan.data[NF + 2] = f64::NAN;
    let mut inf = d.x.clone();
    inf.data[5 * NF] = f64::INFINITY;
    let broken: [(&str, Vec<u8>); 9] = [
        ("empty.csv", Vec::new()),
        ("nan.csv", nan.csv().into_bytes()),
        ("inf.npy", inf.npy("<f8", false)),
        ("ragged.csv", b"1,2,3\n4,5\n".to_vec()),
        ("text.csv", b"1,2\n3,x7\n".to_vec()),
        ("3d.npy", npy_bytes("<f8", false, &[2, 2, 2], &[0.0; 8])),
        (
            "i1.npy",
            npy_bytes("|i1", false, &[N, NF], &vec![1.0; N * NF]),
        ),
        ("junk.npy", b"this is not numpy".to_vec()),
        ("x.txt2", b"1".to_vec()),
    ];
    for (name, bytes) in &broken {
        write(p, name, bytes);
    }
    // X file given with y.npy → what the one error line must say.
    let cases = [
        ("nope.npy", "nope.npy: file not found"),
        ("empty.csv", "empty.csv: file is empty"),
        // NaN in CSV, infinity in .npy: file, row and column named.
        ("nan.csv", "nan.csv: entry at row 2, column 3 is NaN"),
        ("inf.npy", "inf.npy: entry at row 6, column 1 is inf"),
        ("ragged.csv", "ragged"),
        ("text.csv", "non-numeric value 'x7' at row 2, column 2"),
        // Wrong rank and dtype in .npy, garbage, unknown extension.
        ("3d.npy", "3 dimensions"),
        ("i1.npy", "dtype"),
        ("junk.npy", "not a valid .npy"),
        ("x.txt2", "unknown matrix format"),
    ];
    for (x, needle) in cases {
        bad(p, &["--x", x, "--y", "y.npy"], needle);
    }
    // Only one of --x / --y.
    bad(p, &["--x", "x.npy"], "both --x and --y");
}

#[test]
fn bad_shapes_and_problems_give_one_clear_line_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let d = data();
    write(p, "x.npy", d.x.npy("<f8", false));
    write(p, "y.npy", d.y.npy("<f8", false));
    // Y with another number of rows: both sizes named.
    let short = Mat {
        rows: N - 1,
        cols: M,
        data: d.y.data[..(N - 1) * M].to_vec(),
    };
    write(p, "short.npy", short.npy("<f8", false));
    bad(
        p,
        &["--x", "x.npy", "--y", "short.npy"],
        "x.npy has 30 rows (samples) but short.npy has 29",
    );
    // A flag that contradicts the file.
    bad(
        p,
        &["--x", "x.npy", "--y", "y.npy", "--n", "5"],
        "--n 5 but x.npy gives n = 4",
    );
    // W1/W2 that do not fit.
    write(p, "w1.npy", d.w1.npy("<f8", false));
    let w2bad = Mat::random(H + 1, M, &mut Lcg(9));
    write(p, "w2.npy", w2bad.npy("<f8", false));
    bad(
        p,
        &[
            "--x", "x.npy", "--y", "y.npy", "--w1", "w1.npy", "--w2", "w2.npy",
        ],
        "w1.npy has 10 columns (h) but w2.npy has 11 rows",
    );
    // Rank-deficient X: say so and suggest the ridge losses.
    let mut x = d.x.clone();
    for i in 0..N {
        x.data[i * NF + 3] = 2.0 * x.data[i * NF];
    }
    write(p, "rank.npy", x.npy("<f8", false));
    bad(p, &["--x", "rank.npy", "--y", "y.npy"], "log-cosh");
    bad(p, &["--n", "8", "--samples", "5"], "not strongly convex");
    // Zero sizes, tolerance, rules, parameters: flag, value → the error line.
    let cases = [
        ("--n", "0", "--n is zero"),
        ("--h", "0", "--h is zero"),
        ("--tol", "0", "--tol must be positive"),
        ("--tol", "-1", "--tol must be positive"),
        ("--tol", "nan", "--tol must be positive"),
        ("--iters", "0", "--iters"),
        ("--rule", "fastest", "unknown step rule"),
        ("--rule", "constant:0", "positive"),
        ("--rule", "constant:-2", "positive"),
        ("--rule", "constant:inf", "positive"),
        ("--rule", "constant:abc", "not a number"),
        ("--sigma", "-1", "--sigma"),
        ("--kappa", "0.5", "--kappa"),
        ("--loss", "hinge", "hinge"),
        ("--precision", "f16", "f16"),
        ("--n", "many", "--n"),
    ];
    for (flag, value, needle) in cases {
        bad(p, &[flag, value], needle);
    }
    // Output folder that does not exist.
    let o = overlin(p, &["run", "--iters", "2", "--csv", "nodir/out.csv"]);
    assert_one_line_error(&o, 2, "does not exist");
}

#[test]
fn softmax_reads_class_indices() {
    let dir = tempfile::tempdir().unwrap();
    let d = data();
    let labels = Mat {
        rows: N,
        cols: 1,
        data: (0..N).map(|i| (i % 3) as f64).collect(),
    };
    write(dir.path(), "x.npy", d.x.npy("<f8", false));
    write(dir.path(), "c.csv", labels.csv());
    let o = run_files(
        dir.path(),
        "x.npy",
        "c.csv",
        &["--loss", "softmax", "--tol", "1e-7"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["sizes"]["m"], 3);
    assert_eq!(j["status"], "converged");
    // A label that is not a class index is named with its row.
    let mut bad_labels = labels.clone();
    bad_labels.data[4] = 1.5;
    write(dir.path(), "bad.csv", bad_labels.csv());
    let o = overlin(
        dir.path(),
        &[
            "run", "--loss", "softmax", "--x", "x.npy", "--y", "bad.csv", "--m", "3",
        ],
    );
    assert_one_line_error(&o, 2, "label 1.5 at row 5");
}
