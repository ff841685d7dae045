//! The overparametrized model `W = W₁W₂` (THEORY §1).

use nalgebra::allocator::Allocator;
use nalgebra::{Const, DefaultAllocator, Dim, Dyn, OMatrix};

use crate::error::ProblemError;
use crate::kernels;
use crate::scalar::Real;

/// A two-layer linear network `W₁ ∈ ℝ^{n×h}`, `W₂ ∈ ℝ^{h×m}` (THEORY §1).
///
/// The type parameters are in product order: `N` rows of `W₁`, hidden width
/// `H`, `M` columns of `W₂`.
#[derive(Clone, Debug, PartialEq)]
pub struct TwoLayer<T: Real, N: Dim, H: Dim, M: Dim>
where
    DefaultAllocator: Allocator<N, H> + Allocator<H, M>,
{
    /// First layer `W₁` (n×h).
    pub w1: OMatrix<T, N, H>,
    /// Second layer `W₂` (h×m).
    pub w2: OMatrix<T, H, M>,
}

/// A fixed-size network, e.g. `Net<f32, 4, 16, 4>` for `n = 4`, `h = 16`,
/// `m = 4`: no allocator needed.
pub type Net<T, const N: usize, const H: usize, const M: usize> =
    TwoLayer<T, Const<N>, Const<H>, Const<M>>;

/// A network whose sizes are chosen at run time (feature `alloc`).
pub type DynNet<T> = TwoLayer<T, Dyn, Dyn, Dyn>;

/// The first non-finite entry of a column-major matrix, as (row, column).
pub fn first_non_finite<T: Real, R: Dim, C: Dim>(m: &OMatrix<T, R, C>) -> Option<(usize, usize)>
where
    DefaultAllocator: Allocator<R, C>,
{
    let rows = m.nrows().max(1);
    m.as_slice()
        .iter()
        .position(|x| !x.finite())
        .map(|i| (i % rows, i / rows))
}

/// Rejects a matrix with a non-finite entry, naming it.
pub fn check_finite<T: Real, R: Dim, C: Dim>(
    what: &'static str,
    m: &OMatrix<T, R, C>,
) -> Result<(), ProblemError>
where
    DefaultAllocator: Allocator<R, C>,
{
    match first_non_finite(m) {
        Some((row, col)) => Err(ProblemError::NonFinite { what, row, col }),
        None => Ok(()),
    }
}

impl<T: Real, N: Dim, H: Dim, M: Dim> TwoLayer<T, N, H, M>
where
    DefaultAllocator: Allocator<N, H> + Allocator<H, M> + Allocator<N, M>,
{
    /// Builds a network from its layers, checking that the run-time sizes
    /// agree, are non-zero, and that every entry is finite.
    pub fn new(w1: OMatrix<T, N, H>, w2: OMatrix<T, H, M>) -> Result<Self, ProblemError> {
        Self::validate(&w1, &w2)?;
        Ok(Self { w1, w2 })
    }

    /// The checks of [`TwoLayer::new`] on borrowed factors.
    pub(crate) fn validate(
        w1: &OMatrix<T, N, H>,
        w2: &OMatrix<T, H, M>,
    ) -> Result<(), ProblemError> {
        if w1.nrows() == 0 {
            return Err(ProblemError::ZeroSize {
                what: "n (rows of W1)",
            });
        }
        if w1.ncols() == 0 {
            return Err(ProblemError::ZeroSize {
                what: "h (hidden width)",
            });
        }
        if w2.ncols() == 0 {
            return Err(ProblemError::ZeroSize {
                what: "m (columns of W2)",
            });
        }
        if w2.nrows() != w1.ncols() {
            return Err(ProblemError::ShapeMismatch {
                what: "W2",
                expected: (w1.ncols(), w2.ncols()),
                found: (w2.nrows(), w2.ncols()),
            });
        }
        check_finite("W1", w1)?;
        check_finite("W2", w2)?;
        Ok(())
    }

    /// A network of zeros with the given sizes (a buffer to fill).
    pub fn zeros_generic(n: N, h: H, m: M) -> Self {
        Self {
            w1: OMatrix::zeros_generic(n, h),
            w2: OMatrix::zeros_generic(h, m),
        }
    }

    /// `(n, h, m)`.
    pub fn shape(&self) -> (usize, usize, usize) {
        (self.w1.nrows(), self.w1.ncols(), self.w2.ncols())
    }

    /// The end-to-end matrix `W₁W₂` written into `p` (n×m), no allocation.
    pub fn product_into(&self, p: &mut OMatrix<T, N, M>) {
        let (n, h, _) = self.shape();
        kernels::mm_nn(
            p.as_mut_slice(),
            self.w1.as_slice(),
            self.w2.as_slice(),
            n,
            h,
        );
    }

    /// Copies another network of the same shape into this one.
    pub fn copy_from(&mut self, other: &Self) {
        self.w1
            .as_mut_slice()
            .copy_from_slice_checked(other.w1.as_slice());
        self.w2
            .as_mut_slice()
            .copy_from_slice_checked(other.w2.as_slice());
    }
}

/// `copy_from_slice` that copies the common prefix instead of panicking on
/// a length mismatch.
pub(crate) trait CopyChecked<T: Copy> {
    fn copy_from_slice_checked(&mut self, src: &[T]);
}
impl<T: Copy> CopyChecked<T> for [T] {
    #[inline]
    fn copy_from_slice_checked(&mut self, src: &[T]) {
        for (d, &s) in self.iter_mut().zip(src) {
            *d = s;
        }
    }
}
