//! Resources and files: sizes beyond the memory limit, inputs and outputs
//! that are not regular files, worker counts, interrupts of a large set-up,
//! start flags, announcements and the test script's prerequisites.

use super::*;

// ---------------------------------------------------------------------------
// Round two: resources, sizes, files that are not files
// ---------------------------------------------------------------------------

/// Environment variables set for one command.
type Env<'a> = &'a [(&'a str, &'a str)];

/// `overlin` with extra environment variables.
fn overlin_env(dir: &Path, env: Env, args: &[&str]) -> std::process::Output {
    let mut c = assert_cmd::Command::cargo_bin("overlin").unwrap();
    c.current_dir(dir).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// A `.npy` preamble (format 2.0) announcing a header of `len` bytes,
/// followed by a few bytes only.
fn npy_v2_with_header_len(len: u32) -> Vec<u8> {
    let mut b = b"\x93NUMPY\x02\x00".to_vec();
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(b"{'descr': '<f8', ");
    b
}

/// Every input file is a bounded read of a regular file: pipes and devices
/// are refused before a byte is read (a FIFO would block, `/dev/zero` would
/// be read until the kernel kills the process), and files or `.npy` headers
/// larger than their limit are refused with the size and the limit.
#[test]
fn input_files_that_are_not_regular_or_too_large_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("y.csv"), "1\n2\n3\n4\n5\n").unwrap();
    let fifo = p.join("pipe.csv");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo");
    std::fs::create_dir(p.join("folder.csv")).unwrap();
    std::fs::write(p.join("hdr.npy"), npy_v2_with_header_len(4_000_000_000)).unwrap();
    // 5 rows of 60 entries: 1200 bytes of text.
    let row = vec!["0.5"; 60].join(",");
    std::fs::write(p.join("wide.csv"), format!("{row}\n").repeat(5)).unwrap();
    let cases: &[(Env, &str, &str)] = &[
        (
            &[],
            "pipe.csv",
            "pipe.csv: is a named pipe (FIFO), not a regular file",
        ),
        (
            &[],
            "/dev/zero",
            "/dev/zero: is a character device, not a regular file",
        ),
        (&[], "folder.csv", "folder.csv: is a directory"),
        (
            &[],
            "hdr.npy",
            "hdr.npy: .npy header announces 3.7 GiB, more than the 1.0 MiB",
        ),
        // The CSV limit is an eighth of the memory limit: 128 bytes here.
        (
            &[("OVERLIN_MAX_MEMORY", "1K")],
            "wide.csv",
            "wide.csv: is 1.2 KiB, more than the 128 bytes this kind of file may have",
        ),
        (
            &[("OVERLIN_MAX_MEMORY", "lots")],
            "y.csv",
            "OVERLIN_MAX_MEMORY='lots' is not a size",
        ),
    ];
    for (env, x, needle) in cases {
        let t0 = Instant::now();
        let o = overlin_env(
            p,
            env,
            &[
                "run", "--x", x, "--y", "y.csv", "--iters", "3", "--csv", "out.csv",
            ],
        );
        assert_one_line_error(&o, 2, needle);
        assert!(t0.elapsed() < Duration::from_secs(20), "{x}: too slow");
        assert!(!p.join("out.csv").exists(), "{x}: output written");
    }
}

/// Sizes whose problem cannot fit are refused before anything of their size
/// is allocated: the size relations first (`samples < n`), then the memory
/// estimate against the limit, saying both (was: an abort in the allocator,
/// exit 134, after up to 100 s of allocating).
#[test]
fn sizes_beyond_the_memory_limit_are_refused_at_once_with_need_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let big = "1000000000";
    let cases: &[(Env, &[&str], &str)] = &[
        (
            &[],
            &["run", "--n", "4", "--m", "3", "--h", big, "--samples", "30"],
            "this problem (n = 4, m = 3, h = 1000000000, samples = 30, f64) needs about 312.9 GiB of memory, more than the limit of",
        ),
        (
            &[],
            &["certify", "--n", "4", "--m", "3", "--h", big, "--samples", "30"],
            "needs about 312.9 GiB of memory",
        ),
        (
            &[],
            &["run", "--n", "4", "--m", "3", "--h", "10", "--samples", big],
            "needs about 238.4 GiB of memory",
        ),
        (
            &[],
            &["run", "--n", big, "--samples", "30"],
            "samples = 30 < n = 1000000000: X cannot have full column rank",
        ),
        (
            &[],
            &["run", "--loss", "sensing", "--n", "100000", "--m", "100000", "--samples", "10"],
            "needs about 4.9 TiB of memory",
        ),
        // The middle h×h layers of a deep network count: as two layers
        // these sizes need ~30 MB; 38 middle layers of 30000² need ~1 TiB.
        (
            &[],
            &["run", "--depth", "40", "--n", "10", "--m", "10", "--h", "30000", "--samples", "40"],
            "this problem (n = 10, m = 10, h = 30000, depth = 40, samples = 40, f64) needs about 1.0 TiB of memory",
        ),
        (
            &[("OVERLIN_MAX_MEMORY", "64K")],
            &["run"],
            "needs about 157.1 KiB of memory, more than the limit of 64.0 KiB (set by OVERLIN_MAX_MEMORY)",
        ),
    ];
    for (env, args, needle) in cases {
        let t0 = Instant::now();
        let mut a = args.to_vec();
        if a[0] == "run" {
            a.extend_from_slice(&["--csv", "out.csv"]);
        }
        let o = overlin_env(p, env, &a);
        assert_one_line_error(&o, 2, needle);
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{args:?}: took {:?}",
            t0.elapsed()
        );
        assert!(files(p).is_empty(), "{args:?}: {:?}", files(p));
    }
    // The physical memory is the default limit, and it is named.
    let o = overlin(p, cases[0].1);
    assert!(stderr(&o).contains("(the physical memory; set OVERLIN_MAX_MEMORY to change it)"));
    // Under the limit the same defaults run.
    let o = overlin_env(p, &[("OVERLIN_MAX_MEMORY", "1M")], &["run", "--iters", "3"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// Softmax class indices are checked before the number of classes is
/// inferred from the largest: a huge label makes a problem whose memory is
/// refused with the label's file named, a label beyond any count (`1e300`,
/// which overflowed the count and blamed a valid label) or not whole is
/// named with its row; a one-hot `Y` names the row and the real `m`.
#[test]
fn softmax_labels_are_checked_before_the_class_count_is_inferred() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("x.csv"), "1,2\n3,4\n5,7\n7,8\n").unwrap();
    for (name, text) in [
        ("huge.csv", "0\n1\n1000000000\n2\n"),
        ("over.csv", "0\n1\n1e300\n2\n"),
        ("half.csv", "0\n2.5\n1\n2\n"),
        ("neg.csv", "0\n1\n-1\n2\n"),
        ("hot.csv", "1,0,0\n0,1,0\n0,0.5,0.5\n0,0,1\n"),
    ] {
        std::fs::write(p.join(name), text).unwrap();
    }
    let cases: &[(&str, &str)] = &[
        ("huge.csv", "(n = 2, m = 1000000001 from the largest label in huge.csv, h = 64, samples = 4, f64) needs about"),
        ("over.csv", "over.csv: label 1e300 at row 3 is not a class index"),
        ("half.csv", "half.csv: label 2.5 at row 2 is not a class index"),
        ("neg.csv", "neg.csv: label -1 at row 3 is not a class index"),
        ("hot.csv", "hot.csv: row 3 is not one-hot (one 1 and 2 zeros for m = 3 classes); give an N x 3 one-hot matrix or N x 1 class indices 0..2"),
    ];
    for (y, needle) in cases {
        let o = overlin(
            p,
            &[
                "run", "--loss", "softmax", "--x", "x.csv", "--y", y, "--iters", "3",
            ],
        );
        assert_one_line_error(&o, 2, needle);
    }
    std::fs::write(p.join("ok.csv"), "0\n1\n2\n1\n").unwrap();
    let o = overlin(
        p,
        &[
            "run", "--loss", "softmax", "--x", "x.csv", "--y", "ok.csv", "--iters", "3", "--json",
        ],
    );
    assert!(code(&o) == 0 || code(&o) == 2, "{}", stderr(&o));
    if code(&o) == 0 {
        assert_eq!(json(&o)["sizes"]["m"], 3);
    }
}

/// Ctrl-C and SIGTERM while a large problem is set up (spectra of
/// `(n+m)²` matrices, least squares) or stepped are noticed within a
/// couple of seconds (was: 72 s, after the set-up and a whole step): exit
/// 130, one line, and no CSV or temporary file left behind, or a whole one.
#[test]
fn interrupts_during_the_setup_and_steps_of_a_large_problem_are_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let args = [
        "run",
        "--n",
        "400",
        "--m",
        "400",
        "--h",
        "1600",
        "--samples",
        "400",
        "--iters",
        "100000",
        "--tol",
        "1e-300",
        "--csv",
        "big.csv",
    ];
    for (sig, after_ms) in [("-INT", 1500), ("-TERM", 1500), ("-INT", 6000)] {
        let mut child = spawn(p, &args);
        std::thread::sleep(Duration::from_millis(after_ms));
        assert!(child.try_wait().unwrap().is_none(), "ended before {sig}");
        signal(&child, sig);
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "{sig} at {after_ms} ms not noticed in 20 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let waited = t0.elapsed();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(status.code(), Some(130), "{sig}: {err}");
        assert!(err.contains("interrupted"), "{sig}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        // The promise is "a second or two"; the machine running
        // the tests may be loaded, so the assertion allows some slack and
        // the time is printed for the record.
        eprintln!("{sig} at {after_ms} ms: exited after {waited:?}");
        assert!(waited < Duration::from_secs(5), "{sig}: {waited:?}");
        assert!(temp_files(p).is_empty(), "{:?}", files(p));
        if p.join("big.csv").exists() {
            whole_csv(&p.join("big.csv"));
            std::fs::remove_file(p.join("big.csv")).unwrap();
        }
    }
}

/// `--jobs` above the cores is capped at the cores and said; zero and
/// absurd values (thousands of threads took a 2-core machine to a load
/// above 1,000) are refused before any output.
#[test]
fn jobs_are_capped_at_the_cores_and_absurd_values_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("g.toml"),
        "n = 3\nm = 2\nsamples = 12\nh = 6\niters = 50\n",
    )
    .unwrap();
    for args in [
        &["reproduce", "--quick", "--jobs", "100000", "--out", "r"][..],
        &["sweep", "--grid", "g.toml", "--out", "s", "--jobs", "5000"][..],
    ] {
        let o = overlin(p, args);
        assert_one_line_error(
            &o,
            2,
            "is more than the 1024 worker threads overlin accepts",
        );
        assert_eq!(files(p), vec!["g.toml"], "{args:?}");
    }
    for args in [
        &["reproduce", "--quick", "--jobs", "0", "--out", "r"][..],
        &["sweep", "--grid", "g.toml", "--out", "s", "--jobs", "0"][..],
    ] {
        assert_one_line_error(&overlin(p, args), 2, "--jobs must be at least 1");
    }
    let cores = std::thread::available_parallelism().unwrap().get();
    let o = overlin(
        p,
        &["sweep", "--grid", "g.toml", "--out", "s", "--jobs", "1024"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    if cores < 1024 {
        assert!(
            stderr(&o).contains(&format!(
                "overlin: --jobs 1024 capped at {cores}, the number of cores of this machine"
            )),
            "{}",
            stderr(&o)
        );
    }
}

/// An output path that is a device, a pipe or a link to one is refused,
/// with and without `--force`, and left as it was (was: `--force` renamed
/// a regular file over the device node).
#[test]
fn outputs_that_are_devices_or_pipes_are_refused_and_left_alone() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::os::unix::fs::symlink("/dev/null", p.join("mynull")).unwrap();
    let made = Command::new("mkfifo")
        .arg(p.join("fifo.csv"))
        .status()
        .unwrap();
    assert!(made.success());
    for (out, needle) in [
        ("mynull", "mynull is a character device, not a regular file"),
        (
            "/dev/null",
            "/dev/null is a character device, not a regular file",
        ),
        (
            "fifo.csv",
            "fifo.csv is a named pipe (FIFO), not a regular file",
        ),
    ] {
        for force in [false, true] {
            let mut args = vec!["run", "--iters", "3", "--csv", out];
            if force {
                args.push("--force");
            }
            assert_one_line_error(&overlin(p, &args), 2, needle);
        }
    }
    let link = std::fs::symlink_metadata(p.join("mynull")).unwrap();
    assert!(link.file_type().is_symlink());
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(std::fs::metadata(p.join("fifo.csv"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(temp_files(p).is_empty(), "{:?}", files(p));
}

/// Ctrl-C before the first experiment of `reproduce` is written leaves no
/// empty output folder behind, and an empty folder (left by an older
/// version, or made by the user) is accepted without `--force` (was:
/// refused as "already exists").
#[test]
fn reproduce_leaves_no_empty_folder_and_accepts_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let mut child = spawn(p, &["reproduce", "--quick", "--out", "r"]);
    wait_until(&mut child, 30, || p.join("r").exists());
    signal(&child, "-INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    if p.join("r").exists() {
        // An experiment had finished: its files are whole and kept.
        assert!(!files(&p.join("r")).is_empty());
        all_whole(&p.join("r"));
    }
    std::fs::create_dir(p.join("empty")).unwrap();
    let o = overlin(
        p,
        &["reproduce", "--quick", "--only", "E3", "--out", "empty"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(p.join("empty/summary.json").exists());
}

/// `--w1/--w2` make `--init`, `--sigma` and `--scale` moot: a warning
/// names the flags given; without them, nothing is said.
#[test]
fn start_flags_ignored_with_a_user_start_are_named_in_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let w1 = ["0.1,0.2,0.3,0.4,0.5,0.6"; 10].join("\n") + "\n";
    let w2 = ["0.3,-0.1,0.2,0.1,0.5"; 6].join("\n") + "\n";
    std::fs::write(p.join("w1.csv"), w1).unwrap();
    std::fs::write(p.join("w2.csv"), w2).unwrap();
    let base = ["--w1", "w1.csv", "--w2", "w2.csv", "--iters", "3"];
    let mut a = vec!["run"];
    a.extend_from_slice(&base);
    a.extend_from_slice(&["--init", "scaled", "--sigma", "2"]);
    let o = overlin(p, &a);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "overlin: warning: --init, --sigma ignored: the start is read from --w1/--w2"
        ),
        "{}",
        stderr(&o)
    );
    let mut a = vec!["certify"];
    a.extend_from_slice(&base[..4]);
    a.extend_from_slice(&["--scale", "3"]);
    let o = overlin(p, &a);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: --scale ignored"),
        "{}",
        stderr(&o)
    );
    let mut a = vec!["run"];
    a.extend_from_slice(&base);
    let o = overlin(p, &a);
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
}

/// A start from which the first step cannot move (a critical point, or a
/// step below the weights' resolution) is no "stalled" run of 0
/// iterations: the rule gives no usable step there, exit 5, with the
/// reason.
#[test]
fn a_start_that_no_step_can_move_is_explained_with_exit_5() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("z1.csv"), ["0,0,0,0,0,0"; 10].join("\n") + "\n").unwrap();
    std::fs::write(p.join("z2.csv"), ["0,0,0,0,0"; 6].join("\n") + "\n").unwrap();
    let critical = "the start is a critical point (the gradient with respect to W1 and W2 is zero";
    let below = "the step is below the weights' resolution";
    let cases: &[(&[&str], &str)] = &[
        (&["--scale", "0"], critical),
        (&["--w1", "z1.csv", "--w2", "z2.csv"], critical),
        (&["--rule", "constant:1e-320"], below),
    ];
    for (args, needle) in cases {
        let mut a = vec!["run", "--json"];
        a.extend_from_slice(args);
        let o = overlin(p, &a);
        assert_eq!(code(&o), 5, "{args:?}: {}", stderr(&o));
        let j = json(&o);
        assert_eq!(j["status"], "rule_unavailable", "{args:?}");
        assert_eq!(j["iterations"], 0);
        assert!(
            j["rule_unavailable"].as_str().unwrap().contains(needle),
            "{args:?}: {j}"
        );
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
    // --scale 1e-300: the product W1·W2 underflows to zero, so every step
    // is trivial and the loss never moves; the weights do move (by ~1e-300),
    // so this is found after the stall window, not before the first step.
    let o = overlin(p, &["run", "--json", "--scale", "1e-300"]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["status"], "rule_unavailable", "{j}");
    let r = j["rule_unavailable"].as_str().unwrap();
    assert!(
        r.contains("the start is a critical point in floating point"),
        "{r}"
    );
    assert!(stderr(&o).contains("rounds to zero"), "{}", stderr(&o));
}

/// The set-up of a large problem is announced: one line on stderr when it
/// is not a terminal, a spinner on a terminal; small runs print nothing
/// extra.
#[test]
fn a_long_setup_is_announced_and_a_short_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let child = spawn(
        p,
        &[
            "run",
            "--n",
            "300",
            "--m",
            "300",
            "--h",
            "1200",
            "--samples",
            "300",
            "--iters",
            "2",
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "-INT");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.lines().next().unwrap_or("").starts_with(
            "overlin: preparing the problem (n = 300, m = 300, h = 1200, samples = 300): W*, spectra ..."
        ),
        "{err}"
    );
    let o = overlin(p, &["run", "--iters", "3"]);
    assert_eq!(code(&o), 0);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    // On a terminal (a pseudo-terminal from `script`): the spinner, drawn
    // while the set-up lasts (a fraction of a second at these sizes) and
    // cleared; its frames stay in the terminal's byte stream.
    let bin = assert_cmd::cargo::cargo_bin("overlin");
    let cmd = format!(
        "{} run --n 150 --m 150 --h 600 --samples 150 --iters 1",
        bin.display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(p)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{shown:?}");
    assert!(
        shown.contains("preparing the problem (n = 150"),
        "{shown:?}"
    );
}

/// On a machine that lacks a tool, `scripts/test.sh` installs it itself
/// through the installer (`scripts/setup.sh`; here a stand-in that says
/// what it installs and links the real tool), checks again and goes on
/// (`--prereqs` stops there); with `OVERLIN_NO_SETUP=1` it only reports.
/// The missing tool is simulated by a `PATH` of links to every program
/// except `qemu-system-arm`.
#[test]
fn test_script_installs_missing_prerequisites_itself() {
    let real_qemu = std::env::var("PATH")
        .unwrap()
        .split(':')
        .map(|d| Path::new(d).join("qemu-system-arm"))
        .find(|p| p.exists())
        .expect("qemu-system-arm (scripts/setup.sh installs it)");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for d in std::env::var("PATH").unwrap().split(':') {
        let Ok(entries) = std::fs::read_dir(d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let to = bin.join(&name);
            if name != "qemu-system-arm" && !to.exists() {
                let _ = std::os::unix::fs::symlink(e.path(), to);
            }
        }
    }
    let setup = dir.path().join("setup.sh");
    std::fs::write(
        &setup,
        format!(
            "#!/bin/sh\necho \"setup: installing Debian packages: qemu-system-arm\"\nln -s {} {}\n",
            real_qemu.display(),
            bin.join("qemu-system-arm").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&setup, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = repo.join("scripts/test.sh");
    let o = Command::new("bash")
        .args([script.to_str().unwrap(), "--prereqs"])
        .env("PATH", &bin)
        .env("OVERLIN_NO_SETUP", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("test.sh: 'qemu-system-arm' not found"),
        "{err}"
    );
    assert!(!bin.join("qemu-system-arm").exists());
    let o = Command::new("bash")
        .args([script.to_str().unwrap(), "--prereqs"])
        .env("PATH", &bin)
        .env("OVERLIN_SETUP", &setup)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        err.contains("test.sh: prerequisites missing; installing them with"),
        "{err}"
    );
    assert!(
        out.contains("setup: installing Debian packages: qemu-system-arm"),
        "{out}"
    );
    assert!(out.contains("test.sh: prerequisites present"), "{out}");
    assert!(bin.join("qemu-system-arm").exists());
}
