//! The scalar type of the core and its elementary functions.
//!
//! Every transcendental function the core evaluates goes through [`libm`],
//! never the platform's math library, so that the same seed gives the same
//! bits on a desktop and on a Cortex-M (THEORY §10, "Random numbers").
//! nalgebra's own `sqrt`/`exp` (via simba) are deliberately not used: with
//! the `std` feature enabled anywhere in a build they switch to the
//! platform's functions.

use nalgebra::RealField;

/// A floating-point scalar the core computes in: `f32` or `f64`.
pub trait Real:
    RealField + Copy + Default + core::fmt::Debug + core::fmt::Display + 'static
{
    /// Machine epsilon (distance from 1 to the next representable number).
    const EPSILON: Self;
    /// Smallest positive normal number.
    const MIN_POSITIVE: Self;
    /// Largest finite number.
    const MAX: Self;
    /// Converts an `f64` constant, rounding to nearest.
    fn of(x: f64) -> Self;
    /// Converts to `f64` exactly (`f32` values are exact in `f64`).
    fn to_f64(self) -> f64;
    /// Converts a count.
    fn of_usize(x: usize) -> Self {
        Self::of(x as f64)
    }
    /// `true` unless NaN or infinite.
    fn finite(self) -> bool;
    #[doc(hidden)]
    fn libm_sqrt(self) -> Self;
    #[doc(hidden)]
    fn libm_exp(self) -> Self;
    #[doc(hidden)]
    fn libm_ln(self) -> Self;
    #[doc(hidden)]
    fn libm_ln_1p(self) -> Self;
    #[doc(hidden)]
    fn libm_cos(self) -> Self;
    #[doc(hidden)]
    fn libm_abs(self) -> Self;
    #[doc(hidden)]
    fn libm_tanh(self) -> Self;
}

/// `√x`, correctly rounded (IEEE 754), hence the same bits everywhere. On
/// x86-64 the SSE2 instruction through `core::arch` (what libm itself
/// executes there, but visible to the optimizer, which can then vectorize
/// independent square roots); libm elsewhere.
macro_rules! sqrt_impl {
    (sqrt, $x:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            use core::arch::x86_64::{_mm_cvtsd_f64, _mm_set_sd, _mm_sqrt_sd};
            // SAFETY: SSE2 is part of every x86-64 CPU (the target's baseline).
            unsafe {
                let v = _mm_set_sd($x);
                _mm_cvtsd_f64(_mm_sqrt_sd(v, v))
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            libm::sqrt($x)
        }
    }};
    (sqrtf, $x:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            use core::arch::x86_64::{_mm_cvtss_f32, _mm_set_ss, _mm_sqrt_ss};
            // SAFETY: SSE is part of every x86-64 CPU (the target's baseline).
            unsafe { _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss($x))) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            libm::sqrtf($x)
        }
    }};
}

macro_rules! impl_real {
    ($t:ty, $sqrt:ident, $exp:ident, $ln:ident, $ln1p:ident, $cos:ident, $abs:ident, $tanh:ident) => {
        impl Real for $t {
            const EPSILON: Self = <$t>::EPSILON;
            const MIN_POSITIVE: Self = <$t>::MIN_POSITIVE;
            const MAX: Self = <$t>::MAX;
            #[inline]
            fn of(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline]
            fn libm_sqrt(self) -> Self {
                sqrt_impl!($sqrt, self)
            }
            #[inline]
            fn libm_exp(self) -> Self {
                libm::$exp(self)
            }
            #[inline]
            fn libm_ln(self) -> Self {
                libm::$ln(self)
            }
            #[inline]
            fn libm_ln_1p(self) -> Self {
                libm::$ln1p(self)
            }
            #[inline]
            fn libm_cos(self) -> Self {
                libm::$cos(self)
            }
            #[inline]
            fn libm_abs(self) -> Self {
                libm::$abs(self)
            }
            #[inline]
            fn libm_tanh(self) -> Self {
                libm::$tanh(self)
            }
        }
    };
}
impl_real!(f32, sqrtf, expf, logf, log1pf, cosf, fabsf, tanhf);
impl_real!(f64, sqrt, exp, log, log1p, cos, fabs, tanh);

/// `√x` (libm).
#[inline]
pub fn sqrt<T: Real>(x: T) -> T {
    x.libm_sqrt()
}
/// `eˣ` (libm).
#[inline]
pub fn exp<T: Real>(x: T) -> T {
    x.libm_exp()
}
/// Natural logarithm (libm).
#[inline]
pub fn ln<T: Real>(x: T) -> T {
    x.libm_ln()
}
/// `ln(1 + x)`, accurate for small `x` (libm).
#[inline]
pub fn ln_1p<T: Real>(x: T) -> T {
    x.libm_ln_1p()
}
/// Cosine (libm).
#[inline]
pub fn cos<T: Real>(x: T) -> T {
    x.libm_cos()
}
/// `|x|` (libm).
#[inline]
pub fn abs<T: Real>(x: T) -> T {
    x.libm_abs()
}
/// Hyperbolic tangent (libm).
#[inline]
pub fn tanh<T: Real>(x: T) -> T {
    x.libm_tanh()
}
/// The larger of two numbers; NaN-propagating in the first argument.
#[inline]
pub fn max<T: Real>(a: T, b: T) -> T {
    if a < b {
        b
    } else {
        a
    }
}
/// The smaller of two numbers; NaN-propagating in the first argument.
#[inline]
pub fn min<T: Real>(a: T, b: T) -> T {
    if b < a {
        b
    } else {
        a
    }
}
/// `[x]₊ = max(x, 0)` (THEORY notation).
#[inline]
pub fn pos<T: Real>(x: T) -> T {
    if x > T::zero() {
        x
    } else {
        T::zero()
    }
}
/// `log cosh(x)` without overflow: `|x| + ln(1 + e^{−2|x|}) − ln 2` (THEORY §9.3).
#[inline]
pub fn log_cosh<T: Real>(x: T) -> T {
    let a = abs(x);
    a + ln_1p(exp(-(a + a))) - T::of(core::f64::consts::LN_2)
}
