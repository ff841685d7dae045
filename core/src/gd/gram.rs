//! Memory carried between steps to make the certificate cheap: the Gram
//! matrices and the last extreme eigenvalues.

use nalgebra::{DefaultAllocator, OMatrix, OVector, U1};

use crate::kernels;
use crate::linalg::{gram_cols, gram_rows};
use crate::net::TwoLayer;
use crate::scalar::{sqrt, Real};

/// The symmetric matrices whose extreme eigenvalues the last step's
/// certificate computed, and those extremes: this step starts Laguerre's
/// iteration from them ([`kernels::StartHints`]), widened by the Frobenius
/// norm of the change (≥ its 2-norm, so by Weyl's inequality no eigenvalue
/// moved further). Late in a run the matrices barely move and one or two
/// iterations replace the four to six a Gershgorin start needs; the result
/// is converged to rounding either way.
#[derive(Clone, Debug)]
pub(super) struct SpectrumMemory<T: Real, N: nalgebra::Dim, M: nalgebra::Dim>
where
    DefaultAllocator: nalgebra::allocator::Allocator<N, N> + nalgebra::allocator::Allocator<M, M>,
{
    /// `Γ₁`, `Γ₂`, and `GGᵀ` or `GᵀG` (whichever is smaller; `GᵀG` when `n = m`).
    pub(super) gram_n: OMatrix<T, N, N>,
    pub(super) gram_m: OMatrix<T, M, M>,
    pub(super) grad_n: OMatrix<T, N, N>,
    pub(super) grad_m: OMatrix<T, M, M>,
    /// `(λ_min, λ_max)` of the three, in that order, once computed.
    pub(super) extremes: [Option<(T, T)>; 3],
}

impl<T: Real, N: nalgebra::Dim, M: nalgebra::Dim> SpectrumMemory<T, N, M>
where
    DefaultAllocator: nalgebra::allocator::Allocator<N, N> + nalgebra::allocator::Allocator<M, M>,
{
    pub(super) fn new(n: N, m: M) -> Self {
        Self {
            gram_n: OMatrix::zeros_generic(n, n),
            gram_m: OMatrix::zeros_generic(m, m),
            grad_n: OMatrix::zeros_generic(n, n),
            grad_m: OMatrix::zeros_generic(m, m),
            extremes: [None; 3],
        }
    }

    /// Hints for matrix `which` (0: `Γ₁`, 1: `Γ₂`, 2: the gradient's Gram),
    /// now `current`, whose last value is in `last`; `current` becomes
    /// the last value.
    pub(super) fn hints(
        extremes: Option<(T, T)>,
        last: &mut [T],
        current: &[T],
    ) -> kernels::StartHints<T> {
        let hints = match extremes {
            Some((lmin, lmax)) => {
                let delta = sqrt(kernels::sum_sq_diff(current, last));
                kernels::StartHints::around(lmin, lmax, delta)
            }
            None => kernels::StartHints::default(),
        };
        for (l, &c) in last.iter_mut().zip(current) {
            *l = c;
        }
        hints
    }

    /// Extremes of the square `mat` (matrix `which`, destroyed): proven
    /// bounds by inertia where `bounds` has them ([`kernels::sym_bounds`]:
    /// `λ_min` from below, `λ_max` from above, within `≈ 2p²ε‖mat‖`), else
    /// [`kernels::sym_extremes_from`] started from [`Self::hints`].
    pub(super) fn extremes(
        extremes: Option<(T, T)>,
        last: &mut [T],
        mat: &mut [T],
        work: &mut [T],
        want_min: bool,
        (bounds, which): (&mut Bounds<T>, usize),
    ) -> (T, T) {
        let hints = Self::hints(extremes, last, mat);
        let p = work.len();
        if let Some(b) = bounds.bounds(which, mat, p, want_min) {
            return b;
        }
        kernels::sym_extremes_from(mat, p, work, want_min, hints)
    }
}

/// Bounds by inertia for the three matrices of [`SpectrumMemory`] (run-time
/// sizes from [`kernels::INERTIA_MIN`] on).
#[cfg(feature = "alloc")]
pub(super) type Bounds<T> = kernels::BoundsState<T, 3>;

/// Without `alloc` (fixed sizes: the firmware's) every extreme comes from
/// the reduction.
#[cfg(not(feature = "alloc"))]
#[derive(Clone, Debug)]
pub(super) struct Bounds<T>(core::marker::PhantomData<T>);

#[cfg(not(feature = "alloc"))]
impl<T: Real> Bounds<T> {
    pub(super) fn new(_: [usize; 3]) -> Self {
        Self(core::marker::PhantomData)
    }
    pub(super) fn applies(&self, _: usize, _: usize) -> bool {
        false
    }
    pub(super) fn bounds(&mut self, _: usize, _: &[T], _: usize, _: bool) -> Option<(T, T)> {
        None
    }
}

/// Exact Gram matrices are formed every this many steps (and after every
/// imbalance spectrum, and whenever a step ran without the local constants);
/// in between they follow each step's exact update in small dimensions.
/// The period keeps the f32 drift within twice the error of forming a Gram
/// (the measurements are in BENCHMARKS.md, `gram_drift`).
pub const GRAM_REFRESH: usize = 32;

/// The Gram matrices `Γ₁ = W₁W₁ᵀ` (n×n) and `Γ₂ = W₂ᵀW₂` (m×m) whose
/// extreme eigenvalues give `α_t, β_t` (THEORY §2), carried from step to
/// step. Expanding `W₁' = W₁ − ηGW₂ᵀ`, `W₂' = W₂ − ηW₁ᵀG` (THEORY §1) with
/// `P = W₁W₂`:
///
/// `Γ₁' = Γ₁ − η(GPᵀ + PGᵀ) + η² GΓ₂Gᵀ`,  `Γ₂' = Γ₂ − η(GᵀP + PᵀG) + η² GᵀΓ₁G`,
///
/// exact identities that cost `O(nm(n+m))` instead of the `O(h(n²+m²))` of
/// forming the Grams (used where [`carry_pays`]). The η-free parts `S = GPᵀ + PGᵀ`, `Q = GΓ₂Gᵀ` (and
/// their `m×m` twins) are prepared before the rule picks `η`, while `P` is
/// current; `Q` is symmetrized so the Grams stay exactly symmetric. Rounding
/// drift is bounded by re-forming them every [`GRAM_REFRESH`] steps.
#[derive(Clone, Debug)]
pub(super) struct GramState<T: Real, N: nalgebra::Dim, M: nalgebra::Dim>
where
    DefaultAllocator: nalgebra::allocator::Allocator<N, N>
        + nalgebra::allocator::Allocator<M, M>
        + nalgebra::allocator::Allocator<N, M>
        + nalgebra::allocator::Allocator<M>,
{
    pub(super) g1: OMatrix<T, N, N>,
    pub(super) g2: OMatrix<T, M, M>,
    pub(super) s1: OMatrix<T, N, N>,
    pub(super) q1: OMatrix<T, N, N>,
    pub(super) s2: OMatrix<T, M, M>,
    pub(super) q2: OMatrix<T, M, M>,
    pub(super) tmp: OMatrix<T, N, M>,
    /// `GᵀG` and its scratch when `n = m` (the three eigenproblems together).
    pub(super) gg: OMatrix<T, M, M>,
    pub(super) gg_work: OVector<T, M>,
    /// Steps since the Grams were last formed.
    pub(super) age: usize,
    /// `g1`, `g2` belong to the current iterate.
    pub(super) valid: bool,
    /// `s*`, `q*` are prepared for the step being taken.
    pub(super) pending: bool,
    /// The hidden width `h`.
    pub(super) hidden: usize,
}

impl<T: Real, N: nalgebra::Dim, M: nalgebra::Dim> GramState<T, N, M>
where
    DefaultAllocator: nalgebra::allocator::Allocator<N, N>
        + nalgebra::allocator::Allocator<M, M>
        + nalgebra::allocator::Allocator<N, M>
        + nalgebra::allocator::Allocator<M>,
{
    pub(super) fn new(n: N, m: M, hidden: usize) -> Self {
        Self {
            g1: OMatrix::zeros_generic(n, n),
            g2: OMatrix::zeros_generic(m, m),
            s1: OMatrix::zeros_generic(n, n),
            q1: OMatrix::zeros_generic(n, n),
            s2: OMatrix::zeros_generic(m, m),
            q2: OMatrix::zeros_generic(m, m),
            tmp: OMatrix::zeros_generic(n, m),
            gg: OMatrix::zeros_generic(m, m),
            gg_work: OVector::zeros_generic(m, U1),
            age: 0,
            valid: false,
            pending: false,
            hidden,
        }
    }

    /// Makes `g1`, `g2` the Grams of `net`, forming them when they are stale.
    pub(super) fn current<H: nalgebra::Dim>(&mut self, net: &TwoLayer<T, N, H, M>)
    where
        DefaultAllocator:
            nalgebra::allocator::Allocator<N, H> + nalgebra::allocator::Allocator<H, M>,
    {
        if !self.valid || self.age >= GRAM_REFRESH {
            gram_rows(&net.w1, &mut self.g1);
            gram_cols(&net.w2, &mut self.g2);
            self.age = 0;
            self.valid = true;
        }
    }

    /// Prepares the η-free parts of the update from `G` and `P = W₁W₂` of
    /// the current iterate (skipped when the next step re-forms anyway).
    pub(super) fn prepare(&mut self, g: &OMatrix<T, N, M>, p: &OMatrix<T, N, M>) {
        let (n, m) = g.shape();
        // Worth it only when h is well above n + m (`hidden` is h).
        self.pending = self.valid && self.age + 1 < GRAM_REFRESH && carry_pays(n, m, self.hidden);
        if !self.pending {
            return;
        }
        let (g, p) = (g.as_slice(), p.as_slice());
        // S₁ = GPᵀ + (GPᵀ)ᵀ, Q₁ = (GΓ₂)Gᵀ.
        kernels::mm_nt(self.s1.as_mut_slice(), g, p, n, m);
        symmetrize(self.s1.as_mut_slice(), n, false);
        kernels::mm_nn(self.tmp.as_mut_slice(), g, self.g2.as_slice(), n, m);
        kernels::mm_nt(self.q1.as_mut_slice(), self.tmp.as_slice(), g, n, m);
        symmetrize(self.q1.as_mut_slice(), n, true);
        // S₂ = GᵀP + (GᵀP)ᵀ, Q₂ = Gᵀ(Γ₁G).
        kernels::mm_tn(self.s2.as_mut_slice(), g, p, m, n);
        symmetrize(self.s2.as_mut_slice(), m, false);
        kernels::mm_nn(self.tmp.as_mut_slice(), self.g1.as_slice(), g, n, n);
        kernels::mm_tn(self.q2.as_mut_slice(), g, self.tmp.as_slice(), m, n);
        symmetrize(self.q2.as_mut_slice(), m, true);
    }

    /// After the step of size `eta`: `Γ ← (Γ − ηS) + η²Q`, or mark the Grams
    /// stale when nothing was prepared.
    pub(super) fn advance(&mut self, eta: T) {
        if !self.pending {
            self.valid = false;
            return;
        }
        let eta2 = eta * eta;
        let upd = |g: &mut [T], s: &[T], q: &[T]| {
            for ((gi, &si), &qi) in g.iter_mut().zip(s).zip(q) {
                *gi = (*gi - eta * si) + eta2 * qi;
            }
        };
        upd(
            self.g1.as_mut_slice(),
            self.s1.as_slice(),
            self.q1.as_slice(),
        );
        upd(
            self.g2.as_mut_slice(),
            self.s2.as_slice(),
            self.q2.as_slice(),
        );
        self.age += 1;
        self.pending = false;
    }

    /// Forces the Grams to be formed afresh at the next use.
    pub(super) fn invalidate(&mut self) {
        self.valid = false;
        self.pending = false;
    }
}

/// `X ← X + Xᵀ` (`average = false`) or `X ← (X + Xᵀ)/2` on a `p×p`
/// column-major matrix; either result is exactly symmetric.
pub(super) fn symmetrize<T: Real>(x: &mut [T], p: usize, average: bool) {
    let half = T::of(0.5);
    for j in 0..p {
        for i in j..p {
            let (Some(&a), Some(&b)) = (x.get(i + j * p), x.get(j + i * p)) else {
                return;
            };
            let s = if average { half * (a + b) } else { a + b };
            if let Some(y) = x.get_mut(i + j * p) {
                *y = s;
            }
            if let Some(y) = x.get_mut(j + i * p) {
                *y = s;
            }
        }
    }
}

/// `true` when carrying the Grams ([`GramState`]) is worth it at `(n, m, h)`:
/// when `h ≥ 4(n + m)`, and at large sizes (from [`kernels::INERTIA_MIN`])
/// whenever the update's `≈ 3(n²m + m²n)` multiply-adds are at most ¾ of
/// forming's `h(n² + m²)`: e.g. at the MNIST shape `(784, 10, 1024)` the
/// update costs 4 % of forming `W₁W₁ᵀ`. (Small sizes keep the first rule
/// and their bits.)
fn carry_pays(n: usize, m: usize, h: usize) -> bool {
    h >= 4 * (n + m)
        || (n.max(m) >= kernels::INERTIA_MIN && 4 * (n * n * m + m * m * n) <= h * (n * n + m * m))
}
