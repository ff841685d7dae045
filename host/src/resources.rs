//! Machine resources a command may use: the memory a problem may take and
//! the number of worker threads. Both are checked before any allocation or
//! thread is made, so an impossible request is a one-line input error
//! (exit 2) instead of an abort inside the allocator or a machine brought to
//! its knees.

use crate::io::human_bytes;
use crate::{Error, Result};

/// The environment variable that overrides the memory limit (`2G`, `512M`,
/// `1.5GiB`, or a plain byte count).
pub const MEMORY_ENV: &str = "OVERLIN_MAX_MEMORY";

/// How much memory overlin lets one command use, and where the figure
/// comes from (named in every refusal, so the user knows what to change).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryLimit {
    /// The limit in bytes.
    pub bytes: u64,
    /// `true` when set by [`MEMORY_ENV`], `false` for the physical memory.
    pub from_env: bool,
}

impl MemoryLimit {
    /// The limit and its origin, for messages: `23.4 GiB (the physical
    /// memory; set OVERLIN_MAX_MEMORY to change it)`.
    pub fn describe(&self) -> String {
        if self.from_env {
            format!("{} (set by {MEMORY_ENV})", human_bytes(self.bytes))
        } else {
            format!(
                "{} (the physical memory; set {MEMORY_ENV} to change it)",
                human_bytes(self.bytes)
            )
        }
    }
}

/// Parses a size such as `2G`, `512M`, `1.5GiB`, `4096` (bytes). Units are
/// binary (`K` = 1024) whether or not the `i` is written.
pub fn parse_bytes(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return None,
    };
    let bytes = v * f64::from(1u32 << (shift / 2)) * f64::from(1u32 << (shift - shift / 2));
    (1.0..1.8e19).contains(&bytes).then_some(bytes as u64)
}

/// The physical memory of the machine, if the platform says.
fn physical_memory() -> Option<u64> {
    #[cfg(unix)]
    {
        // SAFETY: sysconf only reads system configuration values.
        let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
        // SAFETY: as above.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if pages > 0 && size > 0 {
            return (pages as u64).checked_mul(size as u64);
        }
    }
    None
}

/// The memory limit: [`MEMORY_ENV`] when set (a bad value is an input
/// error naming the variable), otherwise the physical memory (16 GiB when
/// the platform does not say).
pub fn memory_limit() -> Result<MemoryLimit> {
    match std::env::var(MEMORY_ENV) {
        Ok(v) => parse_bytes(&v)
            .map(|bytes| MemoryLimit {
                bytes,
                from_env: true,
            })
            .ok_or_else(|| {
                Error::input(format!(
                    "{MEMORY_ENV}='{v}' is not a size; use e.g. 8G, 512M or a byte count"
                ))
            }),
        Err(_) => Ok(MemoryLimit {
            bytes: physical_memory().unwrap_or(16 << 30),
            from_env: false,
        }),
    }
}

/// Refuses a request for `need` bytes beyond the memory limit, saying how
/// much `what` needs and the limit (exit 2). `None` means the count itself
/// overflows 128 bits.
pub fn check_memory(need: Option<u128>, what: &str) -> Result<()> {
    let limit = memory_limit()?;
    match need {
        Some(b) if b <= u128::from(limit.bytes) => Ok(()),
        Some(b) => Err(Error::input(format!(
            "{what} needs about {} of memory, more than the limit of {}; use smaller sizes",
            human_bytes(b),
            limit.describe()
        ))),
        None => Err(Error::input(format!(
            "{what} needs more memory than can be counted, more than the limit of {}; use smaller sizes",
            limit.describe()
        ))),
    }
}

/// The largest `--jobs` accepted. Beyond it the request is surely a
/// mistake (thousands of threads brought a 2-core machine to a load above
/// 1,000 for minutes); values up to it are capped at the cores.
pub const MAX_JOBS: usize = 1024;

/// The cores this process may use (1 when the platform does not say).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The number of worker threads for `--jobs` (`None`: all cores). Zero
/// and values above [`MAX_JOBS`] are input errors; values above the cores
/// are capped at the cores, which is said on stderr (more workers than
/// cores add no speed, only memory and contention). Results never depend on
/// the number of workers.
pub fn worker_threads(jobs: Option<usize>) -> Result<usize> {
    let cores = cores();
    match jobs {
        None => Ok(cores),
        Some(0) => Err(Error::input("--jobs must be at least 1")),
        Some(j) if j > MAX_JOBS => Err(Error::input(format!(
            "--jobs {j} is more than the {MAX_JOBS} worker threads overlin accepts; \
             this machine has {cores} cores: use --jobs {cores} or leave --jobs out"
        ))),
        Some(j) if j > cores => {
            eprintln!("overlin: --jobs {j} capped at {cores}, the number of cores of this machine");
            Ok(cores)
        }
        Some(j) => Ok(j),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_bytes("4096"), Some(4096));
        assert_eq!(parse_bytes("2G"), Some(2 << 30));
        assert_eq!(parse_bytes("512 MiB"), Some(512 << 20));
        assert_eq!(parse_bytes("1.5k"), Some(1536));
        for bad in ["", "G", "-1G", "1X", "1e3", "0", "nan"] {
            assert_eq!(parse_bytes(bad), None, "{bad}");
        }
    }
}
