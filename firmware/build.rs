//! Picks the memory layout (`memory.x`) for the board being built for.
//!
//! `OVERLIN_BOARD` = `microbit` | `lm3s6965` | `mps2-an386` | `mps2-an505` |
//! `stm32f411`; when unset the board follows the target (all QEMU machines):
//! `thumbv6m-none-eabi` → `microbit` (Cortex-M0), `thumbv7m-none-eabi` →
//! `lm3s6965` (Cortex-M3), `thumbv7em-none-eabihf` → `mps2-an386`
//! (Cortex-M4F), `thumbv8m.main-none-eabihf` → `mps2-an505` (Cortex-M33).

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=OVERLIN_BOARD");
    println!("cargo:rerun-if-changed=memory");
    let target = env::var("TARGET").unwrap_or_default();
    let board = match env::var("OVERLIN_BOARD") {
        Ok(b) if !b.is_empty() => b,
        _ => match target.as_str() {
            "thumbv6m-none-eabi" => "microbit".to_string(),
            "thumbv7m-none-eabi" => "lm3s6965".to_string(),
            "thumbv7em-none-eabihf" => "mps2-an386".to_string(),
            "thumbv8m.main-none-eabihf" => "mps2-an505".to_string(),
            other => panic!(
                "no default board for target `{other}`: set OVERLIN_BOARD to one of \
                 microbit, lm3s6965, mps2-an386, mps2-an505, stm32f411"
            ),
        },
    };
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let src = manifest.join("memory").join(format!("{board}.x"));
    let layout = fs::read_to_string(&src).unwrap_or_else(|e| {
        panic!(
            "OVERLIN_BOARD={board}: cannot read {}: {e} (known: microbit, lm3s6965, mps2-an386, mps2-an505, stm32f411)",
            src.display()
        )
    });
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it"));
    fs::write(out.join("memory.x"), layout).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-env=OVERLIN_BOARD_NAME={board}");
}
