//! Dense kernels on column-major slices: the one place where the core's
//! floating-point work happens.
//!
//! Every reduction has a fixed summation order that does not depend on the
//! matrix dimension type (`Const` or `Dyn`), on the target or on the
//! optimizer's vectorization: sums over the inner index run in index order,
//! except [`dot`], which uses eight interleaved partial sums combined by a
//! fixed tree. That is what makes a fixed-size run on a Cortex-M and a
//! run-time-size run on a desktop produce identical bits.
//!
//! Nothing here indexes with `[]`: sizes are trusted from the typed callers,
//! and a slice that is too short truncates the loop instead of panicking.

// One file a subsystem; the public items are re-exported here, so callers
// name them `kernels::dot`, `kernels::mm_nn`, `kernels::simd::level`, ….

use crate::scalar::Real;

/// Runs `$wide` variant for the detected level, else the portable `$body`.
macro_rules! dispatch {
    ($avx512:ident, $avx2:ident, $body:expr, ($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            match simd::level() {
                // SAFETY: the level is at most what CPUID and XCR0 report.
                simd::AVX512 => return unsafe { wide::$avx512($($arg),*) },
                // SAFETY: as above.
                simd::AVX2 => return unsafe { wide::$avx2($($arg),*) },
                _ => {}
            }
        }
        $body
    }};
}

mod blas1;
#[cfg(feature = "alloc")]
mod bounds_state;
mod extremes;
mod factor;
mod gemm;
mod inertia;
mod laguerre;
mod lanczos;
pub mod simd;
mod spectrum;
mod tridiagonal;

pub use blas1::{axpy, axpy_moved, compensated_sum, dot, sum_sq, sum_sq_diff};
use blas1::{axpy_inlined, dot_inlined};
#[cfg(feature = "alloc")]
pub use bounds_state::BoundsState;
pub use extremes::{sym_extremes, sym_extremes3, sym_extremes_from, StartHints};
pub use factor::{
    back_substitute, householder_qr, householder_qr_blocked, orthonormalize_columns, sym_eigen,
    QR_UNBLOCKED_MAX,
};
pub use gemm::{gram_nt, mm_nn, mm_nt, mm_tn};
pub use inertia::{
    inertia_applies, inertia_bound, inertia_margin, sym_bounds, BoundsScratch, End, INERTIA_MIN,
};
pub use lanczos::{lanczos_ends, symv, RitzEnds, LANCZOS_MAX};
pub use spectrum::{sym_spectrum, SymSpectrum};

#[inline]
pub(super) fn rd<T: Real>(a: &[T], i: usize) -> T {
    a.get(i).copied().unwrap_or_else(T::zero)
}

#[inline]
pub(super) fn wr<T: Real>(a: &mut [T], i: usize, v: T) {
    if let Some(x) = a.get_mut(i) {
        *x = v;
    }
}
