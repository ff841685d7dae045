//! The firmware under QEMU equals the host, bit for bit (issue 4).
//!
//! Each test builds the firmware with `scripts/firmware.sh` (rustup's target
//! or Debian's toolchain, whichever exists), runs it in QEMU with a time
//! limit, decodes its `defmt` output with `defmt-print`, runs the same
//! configuration on the host through the same code
//! (`overlin_core::embedded`: same generator, same fixed-size `f32`
//! trainer, same record encoding), and compares.
//!
//! Why bit-identity can hold: every floating-point operation of the core is
//! an IEEE-754 basic operation (`+ − × ÷`, `sqrt`) in round-to-nearest, in
//! a fixed order ([`overlin_core::kernels`]), and every transcendental
//! function is `libm`'s portable code. The host (SSE), the Cortex-M3
//! (software floating point from `compiler-builtins`) and the Cortex-M4F
//! (single-precision FPU; `f64` in software) all round those operations
//! correctly. Rust never contracts `a*b + c` into a fused multiply-add on
//! its own, and the `vmla`/`vmls` instructions LLVM emits on the M4F round
//! the product before the addition, so they give the bits of separate
//! operations. No tolerance is used: any difference fails.
//!
//! When the toolchain, QEMU or `defmt-print` is missing these tests fail
//! with the list of what to install (`scripts/setup.sh` installs it); they
//! never skip.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use overlin_core::embedded::{
    self, large, record_words, run_logged, small, summary_words, FirmwareConfig, RunKind,
    RECORD_WORDS, SUMMARY_WORDS,
};
use overlin_core::Status;

/// Firmware builds share one cargo target directory; a build and the copy
/// of its ELF must not interleave with another build.
static BUILD: Mutex<()> = Mutex::new(());

/// Every build-time setting the firmware reads; cleared before each build
/// so the caller's environment cannot leak into a variant.
const SETTINGS: [&str; 5] = [
    "OVERLIN_SEED",
    "OVERLIN_LOG_EVERY",
    "OVERLIN_CONSTANT_STEP",
    "OVERLIN_FAULT",
    "OVERLIN_BOARD",
];

/// Wall-clock limit of one QEMU run (the runs take well under a second).
const QEMU_TIMEOUT_S: u64 = 60;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

fn script() -> PathBuf {
    root().join("scripts").join("firmware.sh")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// Cortex-M0, `thumbv6m-none-eabi` (no FPU, no atomic read-modify-write),
    /// QEMU `-machine microbit` (16 KiB RAM).
    M0,
    M3,
    M4F,
    /// Cortex-M33 with FPU, `thumbv8m.main-none-eabihf`, QEMU `-machine mps2-an505`.
    M33,
}

impl Target {
    fn arg(self) -> &'static str {
        match self {
            Target::M0 => "m0",
            Target::M3 => "m3",
            Target::M4F => "m4f",
            Target::M33 => "m33",
        }
    }
}

/// RAM of the micro:bit (nRF51822): static data and stack must fit in it.
const MICROBIT_RAM: u64 = 16 * 1024;

/// One firmware build: target, experiment size and build-time settings.
struct Variant<'a> {
    name: &'a str,
    target: Target,
    config: &'a str,
    settings: &'a [(&'a str, &'a str)],
}

impl Variant<'_> {
    fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// The configuration the firmware parses, parsed here from the same strings.
    fn firmware_config(&self) -> FirmwareConfig {
        FirmwareConfig::parse(
            self.setting("OVERLIN_SEED"),
            self.setting("OVERLIN_LOG_EVERY"),
            self.setting("OVERLIN_CONSTANT_STEP"),
        )
        .expect("the variant's settings parse")
    }
}

fn command_failure(what: &str, out: &std::process::Output) -> String {
    format!(
        "{what} failed ({}).\n--- stdout\n{}\n--- stderr\n{}\n\
         Install the Cortex-M toolchain, QEMU and defmt-print: scripts/setup.sh, or\n  \
         apt-get install -y rustc-web cargo-web rust-web-src binutils-arm-none-eabi qemu-system-arm\n  \
         cargo install --locked defmt-print",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Builds a variant and returns its ELF (a copy private to the variant).
fn build(v: &Variant) -> PathBuf {
    let elf = root()
        .join("target")
        .join("firmware-elf")
        .join(format!("{}.elf", v.name));
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let mut cmd = Command::new("bash");
    cmd.arg(script())
        .args(["build", v.target.arg(), "--config", v.config, "--out"])
        .arg(&elf)
        .env_remove("CARGO_TARGET_DIR");
    for key in SETTINGS {
        cmd.env_remove(key);
    }
    for (k, val) in v.settings {
        cmd.env(k, val);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start bash {}: {e}", script().display()));
    assert!(
        out.status.success(),
        "{}",
        command_failure(&format!("building firmware variant `{}`", v.name), &out)
    );
    elf
}

/// What one QEMU run printed.
struct Run {
    exit: i32,
    text: String,
    elapsed: Duration,
}

fn run(v: &Variant, elf: &Path) -> Run {
    let start = Instant::now();
    let out = Command::new("bash")
        .arg(script())
        .args(["run", v.target.arg(), "--elf"])
        .arg(elf)
        .args(["--timeout", &QEMU_TIMEOUT_S.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("cannot start bash {}: {e}", script().display()));
    let elapsed = start.elapsed();
    let exit = out.status.code().unwrap_or(-1);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        exit != 124,
        "variant `{}` hung: QEMU was stopped after {QEMU_TIMEOUT_S}s\n{text}",
        v.name
    );
    assert!(
        exit != 127 && exit != 125,
        "{}",
        command_failure(&format!("running firmware variant `{}`", v.name), &out)
    );
    eprintln!(
        "firmware variant `{}`: QEMU run took {:.3}s, exit {exit}",
        v.name,
        elapsed.as_secs_f64()
    );
    Run {
        exit,
        text,
        elapsed,
    }
}

/// Records and summaries of both runs, keyed by run code.
#[derive(Debug, Default, PartialEq)]
struct Trajectory {
    records: BTreeMap<u32, Vec<[u32; RECORD_WORDS]>>,
    summaries: BTreeMap<u32, [u32; SUMMARY_WORDS]>,
}

fn words<const K: usize>(list: &str, line: &str) -> [u32; K] {
    let inner = list
        .trim()
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or_else(|| panic!("malformed word list in `{line}`"));
    let v: Vec<u32> = inner
        .split(',')
        .map(|w| {
            w.trim()
                .parse()
                .unwrap_or_else(|_| panic!("bad word in `{line}`"))
        })
        .collect();
    v.try_into()
        .unwrap_or_else(|v: Vec<u32>| panic!("expected {K} words, got {} in `{line}`", v.len()))
}

fn parse_trajectory(text: &str) -> Trajectory {
    let mut t = Trajectory::default();
    for line in text.lines() {
        let (tag, rest) = match line.split_once(' ') {
            Some(x) => x,
            None => continue,
        };
        if tag != "REC" && tag != "SUM" {
            continue;
        }
        let (code, list) = rest
            .split_once(' ')
            .unwrap_or_else(|| panic!("malformed line `{line}`"));
        let code: u32 = code.parse().expect("run code");
        if tag == "REC" {
            t.records
                .entry(code)
                .or_default()
                .push(words::<RECORD_WORDS>(list, line));
        } else {
            let old = t.summaries.insert(code, words::<SUMMARY_WORDS>(list, line));
            assert!(old.is_none(), "two summaries for run {code}");
        }
    }
    t
}

/// `key=value` pairs of the first line starting with `tag`.
fn fields(text: &str, tag: &str) -> BTreeMap<String, u64> {
    let line = text
        .lines()
        .find(|l| l.starts_with(tag))
        .unwrap_or_else(|| panic!("no `{tag}` line in:\n{text}"));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| v.parse().ok().map(|v| (k.to_string(), v)))
        .collect()
}

/// The host run of the same configuration through the same code.
macro_rules! host_trajectory {
    ($size:ident, $config:expr) => {{
        let config: FirmwareConfig = $config;
        let mut t = Trajectory::default();
        let mut statuses = Vec::new();
        for kind in RunKind::ALL {
            let mut trainer = embedded::firmware_trainer::<
                { $size::S },
                { $size::N },
                { $size::H },
                { $size::M },
            >(&config, kind)
            .expect("the experiment builds on the host");
            let mut recs = Vec::new();
            let (summary, tracker) =
                run_logged(&mut trainer, &config, |r| recs.push(record_words(r)));
            t.records.insert(kind.code(), recs);
            t.summaries
                .insert(kind.code(), summary_words(&summary, &tracker));
            statuses.push(summary.status);
        }
        (t, statuses)
    }};
}

fn host_for(v: &Variant) -> (Trajectory, Vec<Status>) {
    let config = v.firmware_config();
    match v.config {
        "small" => host_trajectory!(small, config),
        "large" => host_trajectory!(large, config),
        other => panic!("unknown config {other}"),
    }
}

/// Field names of [`record_words`], for failure messages.
const RECORD_FIELDS: [&str; RECORD_WORDS] = [
    "t",
    "loss",
    "gap",
    "eta",
    "alpha",
    "beta",
    "grad_spec",
    "grad_sq",
    "mu_t",
    "k_t",
    "rho",
    "ratio",
    "bound_ratio",
    "next_gap",
    "drift",
    "flags",
];

fn assert_identical(v: &Variant, fw: &Trajectory, host: &Trajectory) {
    for kind in RunKind::ALL {
        let code = kind.code();
        let none = Vec::new();
        let f = fw.records.get(&code).unwrap_or(&none);
        let h = host.records.get(&code).unwrap_or(&none);
        for (i, (a, b)) in f.iter().zip(h).enumerate() {
            if a != b {
                let diffs: Vec<String> = a
                    .iter()
                    .zip(b)
                    .zip(RECORD_FIELDS)
                    .filter(|((x, y), _)| x != y)
                    .map(|((x, y), name)| {
                        format!(
                            "{name}: firmware {x:#010x} ({}) host {y:#010x} ({})",
                            f32::from_bits(*x),
                            f32::from_bits(*y)
                        )
                    })
                    .collect();
                panic!(
                    "variant `{}`, run {}: logged record {i} (t = {}) differs:\n  {}",
                    v.name,
                    kind.name(),
                    b[0],
                    diffs.join("\n  ")
                );
            }
        }
        assert_eq!(
            f.len(),
            h.len(),
            "variant `{}`, run {}: number of logged records",
            v.name,
            kind.name()
        );
        assert_eq!(
            fw.summaries.get(&code),
            host.summaries.get(&code),
            "variant `{}`, run {}: summary words",
            v.name,
            kind.name()
        );
    }
}

/// Builds, runs, and checks a successful variant against the host; returns
/// the firmware output.
fn check_matches_host(v: &Variant) -> Run {
    let elf = build(v);
    let (host, statuses) = host_for(v);
    for s in &statuses {
        assert_eq!(*s, Status::Converged, "the host run converges");
    }
    let r = run(v, &elf);
    assert_eq!(
        r.exit, 0,
        "variant `{}` must exit with success\n{}",
        v.name, r.text
    );
    assert!(r.text.contains("RESULT ok exit=0"), "{}", r.text);
    let fw = parse_trajectory(&r.text);
    assert_identical(v, &fw, &host);
    // The certified-from step t_c (THEORY §8.2) and its guaranteed total
    // are reported (words 18, 19; equal to the host's by the comparison
    // above), and the run kept the guarantee (word 21: violations).
    for (code, w) in &fw.summaries {
        assert_ne!(
            w[18],
            embedded::NONE_WORD,
            "variant `{}`, run {code}: no t_c",
            v.name
        );
        assert_eq!(
            w[21], 0,
            "variant `{}`, run {code}: guarantee violated",
            v.name
        );
    }
    assert!(r.text.contains("certified from step"), "{}", r.text);
    check_classes(v, &fw);
    check_memory(v, &elf, &r);
    r
}

/// The firmware's summary counts every checked step in exactly one class
/// (words 22–26: certified, trivial, below resolution, descent only,
/// non-finite; word 5: steps checked), and a successful run certified at
/// least one step (THEORY §11).
fn check_classes(v: &Variant, fw: &Trajectory) {
    for kind in RunKind::ALL {
        let s = &fw.summaries[&kind.code()];
        let classes: u32 = s[22..27].iter().sum();
        assert_eq!(
            classes,
            s[5],
            "variant `{}`, run {}: class counts {:?} vs {} steps checked",
            v.name,
            kind.name(),
            &s[22..27],
            s[5]
        );
        assert!(
            s[22] > 0,
            "variant `{}`, run {}: no step certified",
            v.name,
            kind.name()
        );
    }
}

/// The memory the firmware reports (`MEM` line: linker symbols and stack
/// paint) agrees with `arm-none-eabi-size`, the M3 leaves a quarter of its
/// RAM and flash free, and on the M0 static RAM plus the peak stack fit the
/// micro:bit's 16 KiB.
fn check_memory(v: &Variant, elf: &Path, r: &Run) {
    let mem = fields(&r.text, "MEM ");
    let out = Command::new("bash")
        .arg(script())
        .args(["size", v.target.arg(), "--elf"])
        .arg(elf)
        .output()
        .expect("run firmware.sh size");
    assert!(
        out.status.success(),
        "{}",
        command_failure("firmware.sh size", &out)
    );
    let size = fields(&String::from_utf8_lossy(&out.stdout), "flash=");
    let flash_sections = size["flash"];
    assert_eq!(
        mem["static_ram"], size["static_ram"],
        "static RAM from the linker symbols vs the section sizes"
    );
    // The device measures the flash image from the vector table to the end
    // of .data's load image; the section sum leaves out the alignment
    // padding between the (4-byte aligned) sections.
    assert!(
        mem["flash"] >= flash_sections && mem["flash"] - flash_sections < 16,
        "flash from the linker symbols ({}) vs the section sizes ({flash_sections})",
        mem["flash"]
    );
    assert!(mem["stack_peak"] > 0 && mem["stack_peak"] < mem["stack_size"]);
    eprintln!(
        "firmware variant `{}` ({} {}): flash {} B, static RAM {} B (.data {} + .bss {}), peak stack {} B of {} B, QEMU {:.3}s",
        v.name,
        v.target.arg(),
        v.config,
        mem["flash"],
        mem["static_ram"],
        mem["data"],
        mem["bss"],
        mem["stack_peak"],
        mem["stack_size"],
        r.elapsed.as_secs_f64()
    );
    if v.target == Target::M3 && v.config == "small" {
        // lm3s6965: 256 KiB flash, 64 KiB RAM; at least a quarter free.
        let (flash, ram) = (256 * 1024u64, 64 * 1024u64);
        assert!(
            mem["flash"] * 4 <= flash * 3,
            "M3 flash use {} leaves less than a quarter of {flash}",
            mem["flash"]
        );
        assert!(
            (mem["static_ram"] + mem["stack_peak"]) * 4 <= ram * 3,
            "M3 RAM use {} + stack {} leaves less than a quarter of {ram}",
            mem["static_ram"],
            mem["stack_peak"]
        );
    }
    if v.target == Target::M0 {
        assert!(
            mem["static_ram"] + mem["stack_peak"] < MICROBIT_RAM,
            "M0: static RAM {} + peak stack {} must be under {MICROBIT_RAM} B",
            mem["static_ram"],
            mem["stack_peak"]
        );
        // The linker script gives the stack whatever static RAM leaves of
        // the 16 KiB; a different split would mean the image was linked for
        // another memory.
        assert_eq!(
            mem["static_ram"] + mem["stack_size"],
            MICROBIT_RAM,
            "M0: static RAM + stack region"
        );
    }
}

#[test]
fn m3_small_every_step_matches_host_bit_for_bit() {
    check_matches_host(&Variant {
        name: "m3-small-k1",
        target: Target::M3,
        config: "small",
        settings: &[("OVERLIN_LOG_EVERY", "1")],
    });
}

/// The large configuration (n = m = 8, h = 64, N = 32) fits the M3's
/// 64 KiB since the trainer is built in place (`Trainer::new_in`): its
/// static trainer and peak stack are measured inside the RAM (the peak
/// stack below the stack's size is asserted for every variant).
#[test]
fn m3_large_every_step_matches_host_bit_for_bit() {
    check_matches_host(&Variant {
        name: "m3-large-k1",
        target: Target::M3,
        config: "large",
        settings: &[("OVERLIN_LOG_EVERY", "1")],
    });
}

#[test]
fn m4f_large_every_step_matches_host_bit_for_bit() {
    check_matches_host(&Variant {
        name: "m4f-large-k1",
        target: Target::M4F,
        config: "large",
        settings: &[("OVERLIN_LOG_EVERY", "1")],
    });
}

#[test]
fn m4f_small_every_step_matches_host_bit_for_bit() {
    check_matches_host(&Variant {
        name: "m4f-small-k1",
        target: Target::M4F,
        config: "small",
        settings: &[("OVERLIN_LOG_EVERY", "1")],
    });
}

/// The Cortex-M0 has no FPU: every `f32` and `f64` operation is
/// `compiler-builtins`' ARMv6-M software floating point, which rounds
/// correctly like the M3's. The whole run (static trainer and records, the
/// stack, defmt's state) fits the micro:bit's 16 KiB of RAM, checked from
/// the measured peak stack in [`check_memory`].
#[test]
fn m0_small_every_step_matches_host_bit_for_bit() {
    check_matches_host(&Variant {
        name: "m0-small-k1",
        target: Target::M0,
        config: "small",
        settings: &[("OVERLIN_LOG_EVERY", "1")],
    });
}

/// The Cortex-M33's single-precision FPU (ARMv8-M Mainline, hard-float
/// ABI) rounds like the M4F's.
#[test]
fn m33_small_every_step_matches_host_bit_for_bit() {
    check_matches_host(&Variant {
        name: "m33-small-k1",
        target: Target::M33,
        config: "small",
        settings: &[("OVERLIN_LOG_EVERY", "1")],
    });
}

#[test]
fn m33_large_every_step_matches_host_bit_for_bit() {
    check_matches_host(&Variant {
        name: "m33-large-k1",
        target: Target::M33,
        config: "large",
        settings: &[("OVERLIN_LOG_EVERY", "1")],
    });
}

/// The default build logs every 10th step and the last one, and those
/// records are the host's.
#[test]
fn m3_default_build_logs_every_tenth_step_and_the_last() {
    let v = Variant {
        name: "m3-small-default",
        target: Target::M3,
        config: "small",
        settings: &[],
    };
    let r = check_matches_host(&v);
    let fw = parse_trajectory(&r.text);
    for kind in RunKind::ALL {
        let ts: Vec<u32> = fw.records[&kind.code()].iter().map(|w| w[0]).collect();
        let iterations = fw.summaries[&kind.code()][1];
        let mut expected: Vec<u32> = (0..iterations)
            .filter(|t| t % embedded::DEFAULT_LOG_EVERY == 0)
            .collect();
        if expected.last() != Some(&(iterations - 1)) {
            expected.push(iterations - 1);
        }
        assert_eq!(ts, expected, "run {}: logged steps", kind.name());
    }
}

/// An invalid constant step reaches the core, which refuses it: the
/// firmware logs the reason and exits with failure (code 1), the `local`
/// run still converges, and the host agrees record for record.
#[test]
fn invalid_constant_step_fails_through_defmt_not_a_hang() {
    check_invalid_constant_step(Target::M3, &[("m3-step-nan", "NaN"), ("m3-step-zero", "0")]);
}

/// The same on the Cortex-M0.
#[test]
fn m0_invalid_constant_step_fails_through_defmt_not_a_hang() {
    check_invalid_constant_step(Target::M0, &[("m0-step-nan", "NaN")]);
}

fn check_invalid_constant_step(target: Target, cases: &[(&str, &str)]) {
    for &(name, step) in cases {
        let v = Variant {
            name,
            target,
            config: "small",
            settings: &[("OVERLIN_CONSTANT_STEP", step)],
        };
        let elf = build(&v);
        let r = run(&v, &elf);
        assert_eq!(r.exit, 1, "step {step}: exit code\n{}", r.text);
        assert!(
            r.text
                .contains("ERROR run constant: the step rule gives no step: "),
            "step {step}: the reason is logged\n{}",
            r.text
        );
        assert!(r.text.contains("RESULT fail exit=1"), "{}", r.text);
        let fw = parse_trajectory(&r.text);
        let (host, statuses) = host_for(&v);
        assert_eq!(statuses[0], Status::Converged);
        assert!(
            matches!(statuses[1], Status::RuleUnavailable(_)),
            "the core refuses step {step}: {:?}",
            statuses[1]
        );
        assert_identical(&v, &fw, &host);
    }
}

/// A setting that does not parse is a configuration error (exit 2).
#[test]
fn unparsable_setting_is_a_configuration_error() {
    check_unparsable_setting(Target::M3, "m3-step-garbage");
}

/// The same on the Cortex-M0.
#[test]
fn m0_unparsable_setting_is_a_configuration_error() {
    check_unparsable_setting(Target::M0, "m0-step-garbage");
}

fn check_unparsable_setting(target: Target, name: &str) {
    let v = Variant {
        name,
        target,
        config: "small",
        settings: &[("OVERLIN_CONSTANT_STEP", "fast")],
    };
    assert_eq!(
        FirmwareConfig::parse(None, None, Some("fast")),
        Err(embedded::ConfigError::ConstantStep)
    );
    let elf = build(&v);
    let r = run(&v, &elf);
    assert_eq!(r.exit, 2, "{}", r.text);
    assert!(
        r.text.contains("ERROR configuration error: ConstantStep"),
        "{}",
        r.text
    );
    assert!(r.text.contains("RESULT fail exit=2"), "{}", r.text);
    assert!(!r.text.contains("REC "), "no run starts");
}

/// A panic and a HardFault are reported through defmt and end the run with
/// a failing exit code instead of hanging.
#[test]
fn panic_and_hardfault_report_and_exit_with_failure() {
    check_faults(Target::M3);
}

/// The same on the Cortex-M0, where the undefined instruction escalates to
/// a HardFault directly (ARMv6-M has no UsageFault) and the fault flag is
/// set in a critical section (no atomic swap).
#[test]
fn m0_panic_and_hardfault_report_and_exit_with_failure() {
    check_faults(Target::M0);
}

fn check_faults(target: Target) {
    let t = target.arg();
    for (fault, code, needle) in [
        ("panic", 3, "ERROR panic: panicked at src/main.rs"),
        ("hardfault", 4, "ERROR HardFault: pc="),
    ] {
        let name = format!("{t}-{fault}");
        let v = Variant {
            name: &name,
            target,
            config: "small",
            settings: &[("OVERLIN_FAULT", fault)],
        };
        let elf = build(&v);
        let r = run(&v, &elf);
        assert_eq!(r.exit, code, "{fault}: exit code\n{}", r.text);
        assert!(r.text.contains(needle), "{fault}: report\n{}", r.text);
        assert!(
            r.text.contains(&format!("RESULT fail exit={code}")),
            "{}",
            r.text
        );
    }
}

/// `scripts/firmware.sh cost` (feature `step-cost`, QEMU `-icount shift=0`)
/// measures what the READMEs say it does. This asserts no speed: under
/// `-icount` the counts are a deterministic function of the code. It checks
/// the instrument: the calibration loop of 2²¹ instructions takes 2²¹ ns of
/// virtual time, i.e. 2²¹ / 62.5 ticks of the micro:bit's 16 MHz SysTick
/// (so one instruction is one virtual nanosecond and the conversion to
/// instructions is right), the counted runs are the logged runs (as many
/// steps as the summary's iterations; records and summaries equal to the
/// host's), and every step's count is positive and within min ≤ mean ≤ max.
#[test]
fn m0_step_cost_counts_the_instructions_of_the_certified_steps() {
    let v = Variant {
        name: "m0-cost",
        target: Target::M0,
        config: "small",
        settings: &[],
    };
    let out = {
        let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
        let mut cmd = Command::new("bash");
        cmd.arg(script())
            .args(["cost", "m0", "--config", "small", "--timeout"])
            .arg(QEMU_TIMEOUT_S.to_string())
            .env_remove("CARGO_TARGET_DIR");
        for key in SETTINGS {
            cmd.env_remove(key);
        }
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot start bash {}: {e}", script().display()))
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        command_failure("firmware.sh cost m0", &out)
    );
    assert!(text.contains("RESULT ok exit=0"), "{text}");

    let cal: Vec<u64> = text
        .lines()
        .find_map(|l| l.strip_prefix("CAL "))
        .unwrap_or_else(|| panic!("no CAL line in:\n{text}"))
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [ticks, insns] = cal[..] else {
        panic!("malformed CAL line: {cal:?}");
    };
    assert_eq!(insns, 1 << 21, "calibration length");
    // 62.5 instructions (ns) per tick at 16 MHz: |2·ticks·62.5 − 2·insns| ≤ 2·62.5.
    assert!(
        (ticks * 125).abs_diff(insns * 2) <= 125,
        "{ticks} ticks for {insns} instructions: not 1 ns per instruction at 16 MHz"
    );

    let fw = parse_trajectory(&text);
    let (host, _) = host_for(&v);
    assert_identical(&v, &fw, &host);
    for kind in RunKind::ALL {
        let cost = fields(&text, &format!("COST {} ", kind.name()));
        let iterations = u64::from(fw.summaries[&kind.code()][1]);
        assert_eq!(
            cost["steps"],
            iterations,
            "run {}: steps counted",
            kind.name()
        );
        assert!(
            0 < cost["min"] && cost["min"] <= cost["mean"] && cost["mean"] <= cost["max"],
            "run {}: {cost:?}",
            kind.name()
        );
        eprintln!(
            "M0 small, run {}: {} certified steps, instructions per step mean {} (min {}, max {})",
            kind.name(),
            cost["steps"],
            cost["mean"],
            cost["min"],
            cost["max"]
        );
    }
}

/// Versions of a package in a `Cargo.lock`.
fn locked_versions(lock: &Path, name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(lock)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", lock.display()));
    let header = format!("name = \"{name}\"\nversion = \"");
    text.split("[[package]]\n")
        .filter_map(|p| p.strip_prefix(&header))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

/// The firmware is its own workspace with its own `Cargo.lock`; the crates
/// whose floating-point code the trajectories run through must be the same
/// versions as the host's, or bit-identity would be comparing two programs.
#[test]
fn firmware_lock_pins_the_hosts_numeric_crates() {
    let root_lock = root().join("Cargo.lock");
    let fw_lock = root().join("firmware").join("Cargo.lock");
    for name in [
        "libm",
        "nalgebra",
        "simba",
        "num-traits",
        "num-complex",
        "approx",
        "rand_core",
        "rand_xoshiro",
        "heapless",
    ] {
        let host = locked_versions(&root_lock, name);
        let fw = locked_versions(&fw_lock, name);
        assert!(!fw.is_empty(), "{name} is not in firmware/Cargo.lock");
        assert_eq!(
            host, fw,
            "{name}: workspace Cargo.lock has {host:?}, firmware/Cargo.lock has {fw:?} \
             (run `cargo update -p {name} --precise ...` in firmware/)"
        );
    }
}
