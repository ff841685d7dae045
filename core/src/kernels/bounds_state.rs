//! The buffers a trainer keeps for [`super::sym_bounds`]: one factor and
//! one Lanczos basis shared by its symmetric matrices (used one after the
//! other), and each matrix's Ritz vectors, which start the next step's
//! Lanczos process (the matrices move little from step to step).

use alloc::vec;
use alloc::vec::Vec;

use super::inertia::{inertia_applies, sym_bounds, BoundsScratch};
use super::lanczos::LANCZOS_MAX;
use crate::scalar::Real;

/// [`super::sym_bounds`] for up to `K` symmetric matrices of fixed sizes,
/// with the buffers allocated once (run-time sizes only; the firmware's
/// fixed sizes never reach [`super::INERTIA_MIN`]).
#[derive(Clone, Debug)]
pub struct BoundsState<T, const K: usize> {
    sizes: [usize; K],
    fac: Vec<T>,
    basis: Vec<T>,
    ritz: [(Vec<T>, Vec<T>); K],
}

impl<T: Real, const K: usize> BoundsState<T, K> {
    /// Buffers for matrices of the sizes `sizes`; a size where
    /// [`super::inertia_applies`] is false gets none (its extremes come from
    /// the reduction).
    pub fn new(sizes: [usize; K]) -> Self {
        let sizes = sizes.map(|p| if inertia_applies::<T>(p) { p } else { 0 });
        let big = sizes.iter().copied().max().unwrap_or(0);
        Self {
            sizes,
            fac: vec![T::zero(); big * big],
            basis: vec![T::zero(); big * (LANCZOS_MAX + 1)],
            ritz: sizes.map(|p| (vec![T::zero(); p], vec![T::zero(); p])),
        }
    }

    /// `true` when matrix `which` (of size `p`) has buffers.
    pub fn applies(&self, which: usize, p: usize) -> bool {
        self.sizes.get(which).is_some_and(|&s| s == p && p > 0)
    }

    /// [`super::sym_bounds`] of matrix `which`, the symmetric `p×p` `a`:
    /// proven `(s ≤ λ_min, λ_max ≤ t)` (`s = 0` when `!want_min`), or
    /// `None` when it has no buffers or no bound was proven (then the
    /// caller reduces).
    pub fn bounds(&mut self, which: usize, a: &[T], p: usize, want_min: bool) -> Option<(T, T)> {
        if !self.applies(which, p) {
            return None;
        }
        let (rmin, rmax) = self.ritz.get_mut(which)?;
        sym_bounds(
            a,
            p,
            want_min,
            BoundsScratch {
                fac: &mut self.fac,
                basis: &mut self.basis,
                ritz_min: rmin,
                ritz_max: rmax,
            },
        )
    }
}
