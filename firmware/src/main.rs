//! overlin on a Cortex-M: certified gradient descent on a two-layer linear
//! model, with the core in static memory, reporting over `defmt`.
//!
//! The experiment (problem, start, rules, stop rule, record encoding) is
//! `overlin_core::embedded`, the same code the host test runs. This file
//! only owns the hardware side: static storage, logging, memory
//! measurement, exit status, and the fault handlers.
//!
//! Build-time settings (environment variables read by `option_env!`):
//! `OVERLIN_SEED`, `OVERLIN_LOG_EVERY`, `OVERLIN_CONSTANT_STEP` (parsed by
//! [`FirmwareConfig::parse`]), and `OVERLIN_FAULT=panic|hardfault` to check
//! the fault paths. Exit codes: see [`exit_code`].
#![no_std]
#![no_main]

use core::cell::{Cell, UnsafeCell};
use core::mem::MaybeUninit;

use critical_section::Mutex;

use cortex_m_rt::{entry, exception, ExceptionFrame};
use overlin_core::embedded::{self, FirmwareConfig, FixedTrainer, RunKind};

#[cfg(all(feature = "semihosting", feature = "rtt"))]
compile_error!("choose one defmt transport: feature `semihosting` (QEMU) or `rtt` (probe-rs)");
#[cfg(not(any(feature = "semihosting", feature = "rtt")))]
compile_error!("choose a defmt transport: feature `semihosting` (QEMU) or `rtt` (probe-rs)");

#[cfg(feature = "rtt")]
use defmt_rtt as _;
#[cfg(feature = "semihosting")]
use defmt_semihosting as _;

#[cfg(feature = "large")]
use embedded::large as size;
#[cfg(not(feature = "large"))]
use embedded::small as size;

/// The trainer of this build's configuration.
type Run = FixedTrainer<f32, { size::S }, { size::N }, { size::H }, { size::M }>;

/// Exit codes reported through semihosting.
mod exit_code {
    /// Both runs converged and every certificate held.
    pub const SUCCESS: i32 = 0;
    /// A run ended without converging, or a certificate was violated.
    pub const RUN_FAILED: i32 = 1;
    /// The build-time configuration or the problem was rejected.
    pub const CONFIG: i32 = 2;
    /// A panic.
    pub const PANIC: i32 = 3;
    /// A HardFault or an unexpected exception.
    pub const FAULT: i32 = 4;
}

/// Static storage of the trainer (`.bss`): the whole run lives here, not on
/// the stack and not on a heap.
struct Slot(UnsafeCell<MaybeUninit<Run>>);
// SAFETY: single core, no interrupt touches the slot; `main` takes it once.
unsafe impl Sync for Slot {}
static TRAINER: Slot = Slot(UnsafeCell::new(MaybeUninit::uninit()));
static TRAINER_TAKEN: Flag = Flag::new();

/// A flag that is set once and reports whether it was already set.
///
/// The Cortex-M0 (ARMv6-M) has no atomic read-modify-write instructions, so
/// `AtomicBool::swap` does not exist there; a critical section
/// (`critical-section` with `cortex-m`'s single-core implementation: the
/// interrupts are masked while the flag is tested and set) gives the same
/// guarantee on every core this firmware builds for.
struct Flag(Mutex<Cell<bool>>);

impl Flag {
    const fn new() -> Self {
        Flag(Mutex::new(Cell::new(false)))
    }

    /// Sets the flag; `true` when it was set before.
    fn test_and_set(&self) -> bool {
        critical_section::with(|cs| self.0.borrow(cs).replace(true))
    }
}

fn take_trainer_slot() -> Option<&'static mut MaybeUninit<Run>> {
    if TRAINER_TAKEN.test_and_set() {
        return None;
    }
    // SAFETY: the flag above hands out this reference at most once.
    Some(unsafe { &mut *TRAINER.0.get() })
}

#[entry]
fn main() -> ! {
    let code = run();
    let mem = memory::measure();
    defmt::println!(
        "MEM flash={=u32} static_ram={=u32} data={=u32} bss={=u32} stack_peak={=u32} stack_size={=u32}",
        mem.flash,
        mem.data + mem.bss,
        mem.data,
        mem.bss,
        mem.stack_peak,
        mem.stack_size
    );
    defmt::println!(
        "RESULT {=str} exit={=i32}",
        if code == exit_code::SUCCESS {
            "ok"
        } else {
            "fail"
        },
        code
    );
    finish(code)
}

fn run() -> i32 {
    fault_hook();
    defmt::println!(
        "overlin-firmware board={=str} N={=usize} n={=usize} h={=usize} m={=usize} f32",
        env!("OVERLIN_BOARD_NAME"),
        size::S,
        size::N,
        size::H,
        size::M
    );
    let config = match FirmwareConfig::parse(
        option_env!("OVERLIN_SEED"),
        option_env!("OVERLIN_LOG_EVERY"),
        option_env!("OVERLIN_CONSTANT_STEP"),
    ) {
        Ok(c) => c,
        Err(e) => {
            defmt::error!("configuration error: {}", e);
            return exit_code::CONFIG;
        }
    };
    defmt::println!(
        "CONFIG seed={=u64} log_every={=u32} constant_step={=u32:x} ({=f32}) max_iters={=usize} rel_tol={=f64}",
        config.seed,
        config.log_every,
        config.constant_step.to_bits(),
        config.constant_step,
        embedded::MAX_ITERS,
        embedded::RELATIVE_TOLERANCE
    );
    let Some(slot) = take_trainer_slot() else {
        defmt::error!("trainer storage taken twice");
        return exit_code::FAULT;
    };
    let mut code = exit_code::SUCCESS;
    for kind in RunKind::ALL {
        let trainer: &mut Run = match embedded::firmware_trainer_in(slot, &config, kind) {
            Ok(t) => t,
            Err(e) => {
                defmt::error!("run {=str}: problem rejected: {}", kind.name(), e);
                return exit_code::CONFIG;
            }
        };
        let (summary, tracker) = embedded::run_logged(trainer, &config, |r| {
            defmt::println!(
                "REC {=u32} {=[?]}",
                kind.code(),
                &embedded::record_words(r)[..]
            );
            defmt::println!(
                "  {=str} t={=usize} gap={=f32} eta={=f32} rho={=f32} ratio={=f32} class={} held={=bool}",
                kind.name(),
                r.t,
                r.gap,
                r.eta,
                r.cert.rho,
                r.check.ratio,
                r.check.class,
                r.check.holds
            );
        });
        defmt::println!(
            "SUM {=u32} {=[?]}",
            kind.code(),
            &embedded::summary_words(&summary, &tracker)[..]
        );
        let ok = embedded::run_succeeded(&summary, &tracker);
        let rel = if summary.initial_gap > 0.0 {
            summary.final_gap / summary.initial_gap
        } else {
            0.0
        };
        defmt::println!(
            "run {=str}: {=str} after {=usize} steps, gap {=f32} (relative {=f32}); certificates: {=u32} checked, {=u32} contraction, {=u32} violations, worst ratio {=f32}; classes: {=u32} certified, {=u32} trivial, {=u32} below resolution, {=u32} descent only, {=u32} non-finite",
            kind.name(),
            summary.status.name(),
            summary.iterations,
            summary.final_gap,
            rel,
            summary.tally.steps_checked,
            summary.tally.contraction_steps,
            summary.tally.violations,
            summary.tally.worst_ratio,
            summary.tally.classes.certified,
            summary.tally.classes.trivial,
            summary.tally.classes.below_resolution,
            summary.tally.classes.descent_only,
            summary.tally.classes.non_finite
        );
        match summary.apriori {
            Ok(c) => defmt::println!(
                "run {=str}: a-priori certificate eta_bar={=f32} rho_bar={=f32} alpha_bar={=f32} beta_bar={=f32}; {=u32} steps checked, {=u32} violations{=str}",
                kind.name(),
                c.eta_bar,
                c.rho_bar,
                c.alpha_bar,
                c.beta_bar,
                tracker.checked,
                tracker.violations,
                if tracker.premise_held {
                    ""
                } else {
                    " (a step exceeded eta_bar; the rest is not covered)"
                }
            ),
            Err(why) => defmt::println!("run {=str}: no a-priori certificate: {}", kind.name(), why),
        }
        match summary.anytime.certified_from {
            Some(tc) => defmt::println!(
                "run {=str}: certified from step {=usize} (every {=usize} steps): guaranteed total {=u64}; {=u32} steps checked against it, {=u32} violations{=str}",
                kind.name(),
                tc,
                embedded::ANYTIME_EVERY,
                summary.anytime.guaranteed_total.unwrap_or(u64::MAX),
                summary.anytime.steps_checked,
                summary.anytime.violations,
                if summary.anytime.applies() {
                    ""
                } else {
                    " (a later step exceeded eta_bar; the rest is not covered)"
                }
            ),
            None => defmt::println!(
                "run {=str}: no certificate at any checked iterate",
                kind.name()
            ),
        }
        if let Some(why) = embedded::unavailable_reason(&summary.status) {
            defmt::error!(
                "run {=str}: the step rule gives no step: {}",
                kind.name(),
                why
            );
        }
        if !ok {
            defmt::error!(
                "run {=str} failed: status {=str}, {=u32} certificate violations, {=u32} a-priori violations",
                kind.name(),
                summary.status.name(),
                summary.tally.violations + summary.tally.imbalance_violations,
                tracker.violations
            );
            code = exit_code::RUN_FAILED;
        }
    }
    #[cfg(feature = "step-cost")]
    cost::report(slot, &config);
    code
}

/// `OVERLIN_FAULT=panic|hardfault` (build time) exercises the fault paths.
fn fault_hook() {
    match option_env!("OVERLIN_FAULT") {
        Some("panic") => panic!("OVERLIN_FAULT=panic requested"),
        Some("hardfault") => cortex_m::asm::udf(),
        _ => {}
    }
}

/// Instructions per certified step (feature `step-cost`), counted by QEMU
/// run with `-icount shift=0` (`scripts/firmware.sh cost`): there every
/// guest instruction advances the virtual clock by 1 ns, and SysTick,
/// clocked by the core clock, counts that virtual clock. A loop of a known
/// number of instructions converts ticks into instructions, so the
/// machine's clock frequency need not be known. QEMU does not model
/// cycles (pipeline, wait states, the M0's multi-cycle loads and
/// branches): these are instruction counts, not cycle counts. Without
/// `-icount` SysTick follows the host's clock and the numbers mean nothing.
#[cfg(feature = "step-cost")]
mod cost {
    use core::sync::atomic::{compiler_fence, Ordering};

    use cortex_m::peripheral::{syst::SystClkSource, SYST};
    use overlin_core::embedded::{self, FirmwareConfig, RunKind};

    use super::Run;

    /// SysTick counts down through 24 bits.
    const RELOAD: u32 = 0x00FF_FFFF;
    /// Iterations of the calibration loop's short and long runs; the
    /// difference, `2 · (LONG − SHORT)` instructions (`subs`, `bne`), cancels
    /// the fixed cost of reading the clock.
    const SHORT: u32 = 1 << 20;
    const LONG: u32 = 1 << 21;
    const CALIBRATION_INSNS: u64 = 2 * (LONG - SHORT) as u64;

    fn now() -> u32 {
        compiler_fence(Ordering::SeqCst);
        let t = SYST::get_current();
        compiler_fence(Ordering::SeqCst);
        t
    }

    /// Ticks since `start` (the counter counts down and wraps at 24 bits;
    /// every interval measured here is far shorter than one wrap).
    fn since(start: u32) -> u32 {
        start.wrapping_sub(now()) & RELOAD
    }

    /// Ticks of `n` iterations of a two-instruction loop.
    fn spin(n: u32) -> u32 {
        let t0 = now();
        // SAFETY: only r0 and the flags are changed, both declared.
        unsafe {
            core::arch::asm!("2:", "subs r0, #1", "bne 2b", inout("r0") n => _, options(nomem, nostack));
        }
        since(t0)
    }

    pub fn report(slot: &mut core::mem::MaybeUninit<Run>, config: &FirmwareConfig) {
        let Some(peripherals) = cortex_m::Peripherals::take() else {
            defmt::error!("COST: core peripherals already taken");
            return;
        };
        let mut syst = peripherals.SYST;
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_counter();
        let short = spin(SHORT);
        let long = spin(LONG);
        let ticks = long.saturating_sub(short);
        defmt::println!(
            "CAL {=u32} ticks for {=u64} instructions",
            ticks,
            CALIBRATION_INSNS
        );
        if ticks == 0 {
            defmt::error!("COST: SysTick does not count on this machine");
            return;
        }
        let insns = |t: u32| u64::from(t) * CALIBRATION_INSNS / u64::from(ticks);
        for kind in RunKind::ALL {
            let trainer: &mut Run = match embedded::firmware_trainer_in(slot, config, kind) {
                Ok(t) => t,
                Err(e) => {
                    defmt::error!("COST {=str}: problem rejected: {}", kind.name(), e);
                    return;
                }
            };
            let (mut steps, mut total, mut min, mut max) = (0u32, 0u64, u64::MAX, 0u64);
            loop {
                let t0 = now();
                let record = trainer.step();
                let dt = since(t0);
                if record.is_none() {
                    break;
                }
                let n = insns(dt);
                steps += 1;
                total += n;
                min = min.min(n);
                max = max.max(n);
            }
            if steps == 0 {
                defmt::error!("COST {=str}: no step taken", kind.name());
                continue;
            }
            defmt::println!(
                "COST {=str} steps={=u32} mean={=u64} min={=u64} max={=u64} (instructions per certified step)",
                kind.name(),
                steps,
                total / u64::from(steps),
                min,
                max
            );
        }
    }
}

/// Memory use, from the linker's symbols and the stack paint
/// (`cortex-m-rt` feature `paint-stack` fills the stack with
/// `0xCCCC_CCCC` before `main`).
mod memory {
    extern "C" {
        static __vector_table: u32;
        static __sidata: u32;
        static __sdata: u32;
        static __edata: u32;
        static __sbss: u32;
        static __ebss: u32;
        static _stack_start: u32;
        static _stack_end: u32;
    }

    pub struct Usage {
        /// Bytes of flash the image occupies (vector table, code, read-only
        /// data, and the initial values of `.data`).
        pub flash: u32,
        /// `.data` bytes.
        pub data: u32,
        /// `.bss` bytes.
        pub bss: u32,
        /// Deepest stack use seen, in bytes.
        pub stack_peak: u32,
        /// Bytes between the end of static RAM and the top of the stack.
        pub stack_size: u32,
    }

    fn addr(s: &u32) -> u32 {
        s as *const u32 as u32
    }

    pub fn measure() -> Usage {
        // SAFETY: only the addresses of the linker symbols are taken, and
        // the stack region [_stack_end, _stack_start) is read word by word.
        unsafe {
            let data = addr(&__edata) - addr(&__sdata);
            let flash = addr(&__sidata) - addr(&__vector_table) + data;
            let bss = addr(&__ebss) - addr(&__sbss);
            let bottom = addr(&_stack_end);
            let top = addr(&_stack_start);
            let mut p = bottom;
            while p < top
                && core::ptr::read_volatile(p as *const u32) == cortex_m_rt::STACK_PAINT_VALUE
            {
                p += 4;
            }
            Usage {
                flash,
                data,
                bss,
                stack_peak: top - p,
                stack_size: top - bottom,
            }
        }
    }
}

/// Set by the first fault handler, so that a fault inside a fault report
/// (e.g. a panic while logging a panic) exits instead of recursing.
static IN_FAULT: Flag = Flag::new();

/// Ends the program with `code` through semihosting (QEMU, or probe-rs on a
/// board). On a board running without a debugger there is nobody to take
/// the exit call (the breakpoint would fault), so the core parks instead;
/// the log stays in the RTT buffer.
fn finish(code: i32) -> ! {
    #[cfg(feature = "rtt")]
    if !cortex_m::peripheral::DCB::is_debugger_attached() {
        loop {
            cortex_m::asm::wfi();
        }
    }
    semihosting::process::exit(code)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    if !IN_FAULT.test_and_set() {
        defmt::error!("panic: {}", defmt::Display2Format(info));
        defmt::println!("RESULT fail exit={=i32}", exit_code::PANIC);
    }
    finish(exit_code::PANIC)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    if !IN_FAULT.test_and_set() {
        defmt::error!(
            "HardFault: pc={=u32:#x} lr={=u32:#x} xpsr={=u32:#x}",
            frame.pc(),
            frame.lr(),
            frame.xpsr()
        );
        defmt::println!("RESULT fail exit={=i32}", exit_code::FAULT);
    }
    finish(exit_code::FAULT)
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if !IN_FAULT.test_and_set() {
        defmt::error!("unexpected exception or interrupt {=i16}", irqn);
        defmt::println!("RESULT fail exit={=i32}", exit_code::FAULT);
    }
    finish(exit_code::FAULT)
}
