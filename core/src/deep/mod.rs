//! Deep linear networks `W = W₁W₂⋯W_L` (THEORY §13): the model, its
//! per-step constants ([`DeepWork`]) and its starts ([`DeepInit`]).
//!
//! The layers have equal hidden widths (`d₁ = … = d_{L−1} = h`), so a
//! network is a first layer `n×h`, `L − 2` middle layers `h×h` and a last
//! layer `h×m`. The middle layers live in a [`Stack`]: a fixed-size array
//! ([`Fixed`], depth fixed at compile time, no allocator) or a vector
//! ([`Heap`], feature `alloc`, depth chosen at run time). Every buffer a
//! step needs (prefixes, suffixes, gradients, Grams) is created with the
//! network; nothing allocates while iterating.

use nalgebra::allocator::Allocator;
use nalgebra::{Const, DefaultAllocator, Dim, OMatrix};

use crate::error::ProblemError;
use crate::kernels;
use crate::net::{check_finite, CopyChecked};
use crate::scalar::Real;

mod init;
mod model;
mod work;

pub use init::DeepInit;
pub use model::arora_step;
pub use work::{
    deep_rounding_allowance, DeepConstants, DeepImbalance, DeepWork, LayerStats, ETA_ITERS,
};

/// Storage for a run of same-shaped items (the middle layers and their
/// per-step buffers): a fixed-size array or a vector.
///
/// Generic code builds all its stacks through [`Stack::build`] with the same
/// count, so a network's buffers always agree with its depth.
pub trait Stack: Clone + core::fmt::Debug + PartialEq {
    /// The container of `X`.
    type Of<X: Clone + core::fmt::Debug + PartialEq>: AsRef<[X]>
        + AsMut<[X]>
        + Clone
        + core::fmt::Debug
        + PartialEq;

    /// `count` items from `f(0), f(1), …`; `None` when this stack cannot
    /// hold `count` items (a fixed array of another length).
    fn build<X: Clone + core::fmt::Debug + PartialEq>(
        count: usize,
        f: impl FnMut(usize) -> X,
    ) -> Option<Self::Of<X>>;
}

/// `K` middle layers in an array (depth `L = K + 2` fixed at compile time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fixed<const K: usize>;

impl<const K: usize> Stack for Fixed<K> {
    type Of<X: Clone + core::fmt::Debug + PartialEq> = [X; K];

    fn build<X: Clone + core::fmt::Debug + PartialEq>(
        count: usize,
        f: impl FnMut(usize) -> X,
    ) -> Option<[X; K]> {
        (count == K).then(|| core::array::from_fn(f))
    }
}

/// Middle layers in a vector (depth chosen at run time; feature `alloc`).
#[cfg(any(feature = "alloc", test))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heap;

#[cfg(any(feature = "alloc", test))]
impl Stack for Heap {
    type Of<X: Clone + core::fmt::Debug + PartialEq> = alloc::vec::Vec<X>;

    fn build<X: Clone + core::fmt::Debug + PartialEq>(
        count: usize,
        f: impl FnMut(usize) -> X,
    ) -> Option<alloc::vec::Vec<X>> {
        Some((0..count).map(f).collect())
    }
}

/// A deep linear network `W = W₁W₂⋯W_L` with `W₁ ∈ ℝ^{n×h}`, middle layers
/// `W_j ∈ ℝ^{h×h}` and `W_L ∈ ℝ^{h×m}` (THEORY §13).
///
/// The type parameters are in product order: `N` rows of `W₁`, hidden width
/// `H`, `M` columns of `W_L`, and the [`Stack`] `S` of the `L − 2` middle
/// layers.
#[derive(Clone, Debug, PartialEq)]
pub struct DeepLinear<T: Real, N: Dim, H: Dim, M: Dim, S: Stack>
where
    DefaultAllocator: Allocator<N, H> + Allocator<H, H> + Allocator<H, M>,
{
    /// `W₁` (n×h).
    pub first: OMatrix<T, N, H>,
    /// `W₂ … W_{L−1}` (h×h each).
    pub middle: S::Of<OMatrix<T, H, H>>,
    /// `W_L` (h×m).
    pub last: OMatrix<T, H, M>,
}

/// A fixed-size deep network with `K` middle layers (depth `K + 2`), e.g.
/// `DeepNet<f32, 4, 16, 4, 1>` for `L = 3`: no allocator needed.
pub type DeepNet<T, const N: usize, const H: usize, const M: usize, const K: usize> =
    DeepLinear<T, Const<N>, Const<H>, Const<M>, Fixed<K>>;

/// A deep network whose sizes and depth are chosen at run time (feature `alloc`).
#[cfg(any(feature = "alloc", test))]
pub type DynDeep<T> = DeepLinear<T, nalgebra::Dyn, nalgebra::Dyn, nalgebra::Dyn, Heap>;

impl<T: Real, N: Dim, H: Dim, M: Dim, S: Stack> DeepLinear<T, N, H, M, S>
where
    DefaultAllocator: Allocator<N, H> + Allocator<H, H> + Allocator<H, M> + Allocator<N, M>,
{
    /// Builds a network from its layers, checking that the run-time sizes
    /// agree, are non-zero, and that every entry is finite.
    pub fn new(
        first: OMatrix<T, N, H>,
        middle: S::Of<OMatrix<T, H, H>>,
        last: OMatrix<T, H, M>,
    ) -> Result<Self, ProblemError> {
        let net = Self {
            first,
            middle,
            last,
        };
        net.validate()?;
        Ok(net)
    }

    /// The checks of [`DeepLinear::new`].
    pub fn validate(&self) -> Result<(), ProblemError> {
        let (n, h) = self.first.shape();
        if n == 0 {
            return Err(ProblemError::ZeroSize {
                what: "n (rows of W1)",
            });
        }
        if h == 0 {
            return Err(ProblemError::ZeroSize {
                what: "h (hidden width)",
            });
        }
        if self.last.ncols() == 0 {
            return Err(ProblemError::ZeroSize {
                what: "m (columns of the last layer)",
            });
        }
        for w in self.middle.as_ref() {
            if w.shape() != (h, h) {
                return Err(ProblemError::ShapeMismatch {
                    what: "middle layer",
                    expected: (h, h),
                    found: w.shape(),
                });
            }
        }
        if self.last.nrows() != h {
            return Err(ProblemError::ShapeMismatch {
                what: "last layer",
                expected: (h, self.last.ncols()),
                found: self.last.shape(),
            });
        }
        check_finite("W1", &self.first)?;
        for w in self.middle.as_ref() {
            check_finite("middle layer", w)?;
        }
        check_finite("last layer", &self.last)?;
        Ok(())
    }

    /// A network of zeros with `depth ≥ 2` layers (a buffer to fill);
    /// `None` when the stack cannot hold `depth − 2` middle layers.
    pub fn zeros_generic(n: N, h: H, m: M, depth: usize) -> Option<Self> {
        let middle = S::build(depth.checked_sub(2)?, |_| OMatrix::zeros_generic(h, h))?;
        Some(Self {
            first: OMatrix::zeros_generic(n, h),
            middle,
            last: OMatrix::zeros_generic(h, m),
        })
    }

    /// The depth `L` (number of layers, at least 2).
    pub fn depth(&self) -> usize {
        self.middle.as_ref().len() + 2
    }

    /// `(n, h, m)`.
    pub fn shape(&self) -> (usize, usize, usize) {
        (self.first.nrows(), self.first.ncols(), self.last.ncols())
    }

    /// Layer `j` (0-based, `0 ≤ j < L`) as a column-major slice with its
    /// `(rows, columns)`.
    pub fn layer(&self, j: usize) -> Option<(&[T], usize, usize)> {
        let depth = self.depth();
        if j == 0 {
            Some((
                self.first.as_slice(),
                self.first.nrows(),
                self.first.ncols(),
            ))
        } else if j + 1 == depth {
            Some((self.last.as_slice(), self.last.nrows(), self.last.ncols()))
        } else {
            let w = self.middle.as_ref().get(j.checked_sub(1)?)?;
            Some((w.as_slice(), w.nrows(), w.ncols()))
        }
    }

    /// Layer `j` mutably (see [`Self::layer`]).
    pub fn layer_mut(&mut self, j: usize) -> Option<&mut [T]> {
        let depth = self.depth();
        if j == 0 {
            Some(self.first.as_mut_slice())
        } else if j + 1 == depth {
            Some(self.last.as_mut_slice())
        } else {
            let w = self.middle.as_mut().get_mut(j.checked_sub(1)?)?;
            Some(w.as_mut_slice())
        }
    }

    /// The end-to-end product `W₁⋯W_L` written into `p` (n×m), using
    /// `scratch` (two n×h buffers) for the running prefix; no allocation.
    /// For `L = 2` it is exactly [`crate::TwoLayer::product_into`]'s
    /// arithmetic.
    pub fn product_into(&self, p: &mut OMatrix<T, N, M>, scratch: &mut [OMatrix<T, N, H>; 2]) {
        let (n, h, _) = self.shape();
        let mid = self.middle.as_ref();
        let Some((last_mid, rest)) = mid.split_last() else {
            kernels::mm_nn(
                p.as_mut_slice(),
                self.first.as_slice(),
                self.last.as_slice(),
                n,
                h,
            );
            return;
        };
        let [a, b] = scratch;
        a.as_mut_slice()
            .copy_from_slice_checked(self.first.as_slice());
        for w in rest {
            kernels::mm_nn(b.as_mut_slice(), a.as_slice(), w.as_slice(), n, h);
            core::mem::swap(a, b);
        }
        kernels::mm_nn(b.as_mut_slice(), a.as_slice(), last_mid.as_slice(), n, h);
        kernels::mm_nn(p.as_mut_slice(), b.as_slice(), self.last.as_slice(), n, h);
    }

    /// Copies another network of the same shape into this one.
    pub fn copy_from(&mut self, other: &Self) {
        self.first
            .as_mut_slice()
            .copy_from_slice_checked(other.first.as_slice());
        for (d, s) in self.middle.as_mut().iter_mut().zip(other.middle.as_ref()) {
            d.as_mut_slice().copy_from_slice_checked(s.as_slice());
        }
        self.last
            .as_mut_slice()
            .copy_from_slice_checked(other.last.as_slice());
    }
}

/// `u ≥ ‖W‖₂` for a middle layer (THEORY §13, Lemma D2 needs any certified
/// upper bound): `min(‖W‖_F, √(‖W‖₁‖W‖_∞))`, each a classical bound on the
/// spectral norm (`‖W‖₂ ≤ ‖W‖_F` since `‖W‖₂² = σ₁² ≤ Σσ_i²`; and
/// `‖W‖₂² = λ_max(WᵀW) ≤ ‖WᵀW‖₁ ≤ ‖W‖₁‖W‖_∞` as any induced norm bounds
/// the spectral radius). Both cost one pass over `W` (`O(h²)`, against the
/// `O(h³)` of an eigenproblem of `WᵀW` in the step). Each is computed with
/// a relative rounding error below `(h + 2)ε` (sums of `h²` resp. `h`
/// non-negative terms, then a square root), so the result is enlarged by
/// `(1 + 2(h + 2)ε)` to stay above the exact bound.
pub fn spectral_upper_bound<T: Real>(w: &[T], rows: usize) -> T {
    let rows = rows.max(1);
    let cols = w.len() / rows;
    let fro = crate::scalar::sqrt(kernels::sum_sq(w));
    // ‖W‖₁: largest column sum of |w|; ‖W‖_∞: largest row sum.
    let mut one = T::zero();
    for col in w.chunks_exact(rows) {
        let s = col
            .iter()
            .fold(T::zero(), |acc, &x| acc + crate::scalar::abs(x));
        one = crate::scalar::max(one, s);
    }
    let mut inf = T::zero();
    for i in 0..rows {
        let s = w.chunks_exact(rows).fold(T::zero(), |acc, col| {
            acc + crate::scalar::abs(col.get(i).copied().unwrap_or_else(T::zero))
        });
        inf = crate::scalar::max(inf, s);
    }
    let holder = crate::scalar::sqrt(one * inf);
    let bound = crate::scalar::min(fro, holder);
    let widen = T::one() + T::of(2.0) * T::of_usize(rows.max(cols) + 2) * T::EPSILON;
    bound * widen
}
