//! Which instruction set the matrix products and the eigenvalue kernels
//! run with (x86-64 only; every level gives the same bits, see the
//! module doc of `kernels::gemm`).

/// Baseline (SSE2 on x86-64; the only level elsewhere).
pub const BASELINE: u8 = 0;
/// AVX2 (256-bit registers).
pub const AVX2: u8 = 1;
/// AVX-512F (512-bit registers).
pub const AVX512: u8 = 2;

#[cfg(target_arch = "x86_64")]
mod detect {
    use core::sync::atomic::{AtomicU8, Ordering};

    const UNKNOWN: u8 = u8::MAX;
    static DETECTED: AtomicU8 = AtomicU8::new(UNKNOWN);
    static CAP: AtomicU8 = AtomicU8::new(u8::MAX - 1);

    #[target_feature(enable = "xsave")]
    fn xcr0() -> u64 {
        // SAFETY: only called after CPUID reported OSXSAVE, so XGETBV exists.
        unsafe { core::arch::x86_64::_xgetbv(0) }
    }

    fn cpu_level() -> u8 {
        use core::arch::x86_64::{__cpuid, __cpuid_count};
        let leaf1 = __cpuid(1);
        let osxsave = leaf1.ecx & (1 << 27) != 0;
        let avx = leaf1.ecx & (1 << 28) != 0;
        if !(osxsave && avx) || __cpuid(0).eax < 7 {
            return super::BASELINE;
        }
        // SAFETY: OSXSAVE was checked above.
        let xcr0 = unsafe { xcr0() };
        if xcr0 & 0x6 != 0x6 {
            return super::BASELINE;
        }
        let ebx = __cpuid_count(7, 0).ebx;
        if ebx & (1 << 16) != 0 && xcr0 & 0xe0 == 0xe0 {
            super::AVX512
        } else if ebx & (1 << 5) != 0 {
            super::AVX2
        } else {
            super::BASELINE
        }
    }

    pub fn detected() -> u8 {
        let l = DETECTED.load(Ordering::Relaxed);
        if l != UNKNOWN {
            return l;
        }
        let l = cpu_level();
        DETECTED.store(l, Ordering::Relaxed);
        l
    }

    pub fn level() -> u8 {
        detected().min(CAP.load(Ordering::Relaxed))
    }

    pub fn cap(l: u8) {
        CAP.store(l, Ordering::Relaxed);
    }
}

/// The level the matrix products use now: the best the CPU and the
/// operating system support, unless lowered by [`cap_level`].
pub fn level() -> u8 {
    #[cfg(target_arch = "x86_64")]
    {
        detect::level()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        BASELINE
    }
}

/// The best level this machine supports.
pub fn detected_level() -> u8 {
    #[cfg(target_arch = "x86_64")]
    {
        detect::detected()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        BASELINE
    }
}

/// Caps the level (for the tests that compare levels bit for bit, and
/// for measuring them); results do not depend on it.
pub fn cap_level(l: u8) {
    #[cfg(target_arch = "x86_64")]
    detect::cap(l);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = l;
}
