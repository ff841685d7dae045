//! Dimension plumbing: one bound that names every buffer shape the
//! algorithms need, for fixed (`Const`) and run-time (`Dyn`) sizes alike.

use nalgebra::allocator::Allocator;
use nalgebra::{Const, DefaultAllocator, Dim, DimAdd, DimSum, OMatrix, OVector};

/// Every allocation shape an `n×h · h×m` network and its certificates use.
///
/// It is implemented for nalgebra's `DefaultAllocator` whenever all the
/// shapes are available, so code writes the single bound
/// `DefaultAllocator: NetAllocator<N, H, M>` (with `N: DimAdd<M>`, the
/// stacked dimension `n+m` of the imbalance factor `F = [W₁ᵀ, W₂]`, THEORY §2).
/// For fixed sizes nalgebra computes `n+m` through `typenum`, so fixed-size
/// networks need `n + m ≤ 127`; run-time sizes (`Dyn`) have no such limit.
pub trait NetAllocator<N: DimAdd<M>, H: Dim, M: Dim>:
    Allocator<N, H>
    + Allocator<H, M>
    + Allocator<N, M>
    + Allocator<M, N>
    + Allocator<N, N>
    + Allocator<M, M>
    + Allocator<N>
    + Allocator<M>
    + Allocator<H>
    + Allocator<H, DimSum<N, M>>
    + Allocator<DimSum<N, M>, DimSum<N, M>>
    + Allocator<DimSum<N, M>>
{
}

impl<N: DimAdd<M>, H: Dim, M: Dim> NetAllocator<N, H, M> for DefaultAllocator where
    DefaultAllocator: Allocator<N, H>
        + Allocator<H, M>
        + Allocator<N, M>
        + Allocator<M, N>
        + Allocator<N, N>
        + Allocator<M, M>
        + Allocator<N>
        + Allocator<M>
        + Allocator<H>
        + Allocator<H, DimSum<N, M>>
        + Allocator<DimSum<N, M>, DimSum<N, M>>
        + Allocator<DimSum<N, M>>
{
}

/// Fixed-size matrix, `R×C`.
pub type Mat<T, const R: usize, const C: usize> = OMatrix<T, Const<R>, Const<C>>;
/// Fixed-size column vector.
pub type Vect<T, const R: usize> = OVector<T, Const<R>>;
