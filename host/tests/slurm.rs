//! Slurm end to end: a one-node Slurm cluster started on this
//! machine runs `scripts/slurm/submit.sh` (the job array of
//! `scripts/slurm/sweep.sbatch` and the dependent merge); the merged table
//! equals a one-process sweep's byte for byte; a task cancelled mid-run
//! leaves the merge unrun, and submitting again finishes the sweep with no
//! cell lost or computed twice.
//!
//! The cluster (`scripts/slurm/local-cluster.sh`: munged, slurmctld and
//! slurmd from Debian's `munge` and `slurm-wlm`, installed by
//! `scripts/setup.sh`) keeps all its state in a temporary folder and uses
//! free ports; its daemons are stopped by the pids in their pid files when
//! the test ends, also when it fails. When Slurm cannot start (not
//! installed, not root) the test fails with the reason: it is never skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ is inside the workspace")
        .to_path_buf()
}

fn script(name: &str) -> PathBuf {
    root().join("scripts/slurm").join(name)
}

/// A port `p` with `p` and `p + 1` free now (slurmctld and slurmd).
fn free_port_pair() -> u16 {
    for _ in 0..200 {
        let Ok(l) = std::net::TcpListener::bind(("0.0.0.0", 0)) else {
            continue;
        };
        let Ok(addr) = l.local_addr() else { continue };
        let p = addr.port();
        if p < 65000 && std::net::TcpListener::bind(("0.0.0.0", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no two adjacent free TCP ports for slurmctld and slurmd");
}

/// The running cluster; dropping it stops the daemons by their pids.
struct Cluster {
    dir: PathBuf,
}

impl Cluster {
    fn start(dir: &Path) -> Self {
        // The guard exists before any daemon does, so a start that fails
        // half-way still stops what it started.
        let cluster = Self {
            dir: dir.to_path_buf(),
        };
        let port = free_port_pair().to_string();
        let o = Command::new(script("local-cluster.sh"))
            .args(["start", &dir.display().to_string(), &port])
            .output()
            .expect("run scripts/slurm/local-cluster.sh");
        assert!(
            o.status.success(),
            "Slurm could not start, so the job-array scripts cannot be tested \
             (scripts/setup.sh installs slurm-wlm and munge; the test needs root):\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        cluster
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("slurm.conf")
    }

    /// A Slurm client command (or a script calling them) run in `cwd`.
    fn cmd(&self, program: &Path, cwd: &Path) -> Command {
        let mut c = Command::new(program);
        c.current_dir(cwd)
            .env("SLURM_CONF", self.conf())
            .env("OVERLIN", assert_cmd::cargo::cargo_bin("overlin"));
        c
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        self.cmd(Path::new(program), &self.dir)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    /// Submits GRID into OUT as K shards; returns the array and merge job ids.
    fn submit(&self, cwd: &Path, grid: &str, out: &str, k: usize) -> (String, String) {
        let o = self
            .cmd(&script("submit.sh"), cwd)
            .args([grid, out, &k.to_string()])
            .output()
            .expect("run submit.sh");
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "submit.sh: {text}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        // "submitted: sweep 5 (...), merge 6 (...)"
        let id_after = |word: &str| {
            text.split(word)
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .unwrap_or_else(|| panic!("no '{word}' job id in {text:?}"))
                .to_string()
        };
        (id_after("sweep "), id_after("merge "))
    }

    /// Jobs in the queue (pending or running), as `id state` lines.
    fn queue(&self) -> String {
        let o = self.run("squeue", &["-h", "-o", "%i %T"]);
        assert!(o.status.success(), "squeue: {}", stderr(&o));
        stdout(&o)
    }

    fn wait_until_idle(&self, what: &str) {
        let t0 = Instant::now();
        loop {
            let q = self.queue();
            if q.trim().is_empty() {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(600),
                "{what}: jobs still queued after 10 minutes:\n{q}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A job's state as `scontrol` has it (kept for 5 minutes after it ends).
    fn state(&self, job: &str) -> String {
        let o = self.run("scontrol", &["show", "job", job]);
        stdout(&o)
            .split_whitespace()
            .find_map(|w| w.strip_prefix("JobState="))
            .unwrap_or("unknown")
            .to_string()
    }

    fn logs(&self) -> String {
        ["log/slurmctld.log", "log/slurmd.log"]
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                format!(
                    "--- {f}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for pid_file in ["run/slurmd.pid", "run/slurmctld.pid", "munge/munged.pid"] {
            let Ok(pid) = std::fs::read_to_string(self.dir.join(pid_file)) else {
                continue;
            };
            let pid = pid.trim().to_string();
            if pid.parse::<u32>().is_err() {
                continue;
            }
            let alive = |sig: &str| {
                Command::new("kill")
                    .args([sig, &pid])
                    .stderr(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if alive("-TERM") {
                let t0 = Instant::now();
                while alive("-0") && t0.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                alive("-KILL");
            }
        }
    }
}

/// merged.csv and merged.json of a one-process sweep of `grid`.
fn reference(p: &Path, grid: &str, out: &str) -> (Vec<u8>, Vec<u8>) {
    let o = overlin(p, &["sweep", "--grid", grid, "--out", out, "--jobs", "2"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = overlin(p, &["merge", out]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    merged(&p.join(out))
}

fn merged(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let read = |f: &str| {
        std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()))
    };
    (read("merged.csv"), read("merged.json"))
}

/// `(finished now, already done)` summed over the logs of array `job`'s tasks.
fn task_counts(p: &Path, job: &str) -> (usize, usize) {
    let mut sum = (0, 0);
    for f in files(p) {
        if !f.starts_with(&format!("overlin-sweep-{job}_")) {
            continue;
        }
        let text = std::fs::read_to_string(p.join(&f)).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("sweep: "))
            .unwrap_or_else(|| panic!("{f}: no summary line:\n{text}"));
        let count = |after: &str| -> usize {
            let head = line.split(after).next().unwrap();
            head.rsplit(' ').next().unwrap().parse().unwrap()
        };
        sum.0 += count(" finished now");
        sum.1 += count(" already done");
    }
    sum
}

#[test]
fn slurm_job_array_merges_like_one_process_and_resumes_a_cancelled_task() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path();
    let cluster = Cluster::start(&p.join("slurm"));

    // 1. A small grid in 4 array tasks, merged by the dependent job.
    std::fs::write(
        p.join("grid.toml"),
        "n = 3\nm = 2\nsamples = 12\nh = [6, 8]\nsigma = [0.0, 1.0, 5.0]\n\
         rule = [\"local\", \"rate-optimal\"]\niters = 300\ntol = 1e-8\n",
    )
    .unwrap();
    let (array, merge) = cluster.submit(p, "grid.toml", "runs", 4);
    cluster.wait_until_idle("first sweep");
    assert_eq!(cluster.state(&merge), "COMPLETED", "{}", cluster.logs());
    assert_eq!(task_counts(p, &array), (12, 0));
    assert_eq!(
        merged(&p.join("runs")),
        reference(p, "grid.toml", "ref"),
        "Slurm's merged table differs from a one-process sweep's"
    );

    // 2. Cells of about a second; one task is cancelled after its first cell.
    std::fs::write(
        p.join("slow.toml"),
        "n = 6\nm = 4\nh = 48\nsamples = 40\nsigma = [0.5, 1.0, 2.0, 3.0]\nseed = [1, 2, 3]\n\
         iters = 40000\ntol = 1e-300\nstall_window = 0\n",
    )
    .unwrap();
    let total = 12;
    let (array, merge) = cluster.submit(p, "slow.toml", "slow", 3);
    let task = format!("{array}_0");
    // Shard 1/3 holds cells 0, 3, 6 and 9.
    let shard_cells = |names: &[String]| {
        names
            .iter()
            .filter(|n| n[..6].parse::<usize>().unwrap() % 3 == 0)
            .count()
    };
    let t0 = Instant::now();
    while shard_cells(&cell_files(&p.join("slow"))) == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "task {task} wrote no cell in 5 minutes:\n{}\n{}",
            cluster.queue(),
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = cluster.run("scancel", &[&task]);
    assert!(o.status.success(), "scancel: {}", stderr(&o));
    cluster.wait_until_idle("cancelled sweep");
    assert_eq!(cluster.state(&task), "CANCELLED");
    let before = cell_files(&p.join("slow"));
    let cut = shard_cells(&before);
    assert!(
        (1..4).contains(&cut),
        "the cancelled task had finished {cut} of its 4 cells: not cancelled mid-run"
    );
    assert_eq!(
        before.len(),
        total - 4 + cut,
        "the other two shards finished"
    );
    assert_ne!(cluster.state(&merge), "COMPLETED");
    assert!(
        !p.join("slow/merged.csv").exists(),
        "the merge ran although a shard failed"
    );
    let kept: Vec<Vec<u8>> = before
        .iter()
        .map(|f| std::fs::read(p.join("slow/cells").join(f)).unwrap())
        .collect();

    // 3. The same submission again: only the missing cells run.
    let (array, merge) = cluster.submit(p, "slow.toml", "slow", 3);
    cluster.wait_until_idle("resubmitted sweep");
    assert_eq!(cluster.state(&merge), "COMPLETED", "{}", cluster.logs());
    assert_eq!(
        task_counts(p, &array),
        (total - before.len(), before.len()),
        "(finished now, already done) over the resubmitted tasks"
    );
    let after = cell_files(&p.join("slow"));
    let indices: Vec<usize> = after.iter().map(|n| n[..6].parse().unwrap()).collect();
    assert_eq!(indices, (0..total).collect::<Vec<_>>(), "one file per cell");
    for (f, bytes) in before.iter().zip(&kept) {
        assert_eq!(
            &std::fs::read(p.join("slow/cells").join(f)).unwrap(),
            bytes,
            "{f} was rewritten"
        );
    }
    assert_eq!(
        merged(&p.join("slow")),
        reference(p, "slow.toml", "slow-ref"),
        "the resumed Slurm sweep's table differs from a one-process sweep's"
    );
    drop(cluster);
}
