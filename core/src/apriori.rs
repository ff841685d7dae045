//! A-priori certificate from the initialization (Theorem 2, THEORY §8).
//!
//! From `μ, K, ‖W*‖₂`, the initial gap `L₀ − L*` and the spectrum of the
//! initial imbalance `D₀`, [`apriori_certificate`] finds a maximal step `η̄`
//! for which GD keeps `α_t ≥ ᾱ > 0`, `β_t ≤ β̄` and contracts the gap by
//! `ρ̄` at every step, for the whole run. No allocation, a bounded number of
//! iterations, deterministic.
//!
//! The proof (THEORY §7–§8), by induction on `t`, with `c < 2` any number
//! with `η̄K̄(c) ≤ c` (the quantities below depend on `c` through `δ`):
//! the loss never increases, so `‖G_t‖₂ ≤ √(2K(L_t − L*)) ≤ ḡ` and
//! `‖W_t‖₂ ≤ ‖W*‖₂ + √(2(L_t − L*)/μ) ≤ p̄`; the drift of the imbalance so
//! far is at most `δ`, so `α_t ≥ α_imb(D_t) ≥ α_imb(D₀) − δ = ᾱ` and
//! `β_t ≤ β̄` (§7); hence `K_t(η_t) ≤ K̄` for `η_t ≤ η̄` and
//! `η_tK_t(η_t) ≤ η̄K̄ ≤ c < 2`, Lemma 2 applies, and the drift after the
//! step is still at most `δ`. Only `η̄K̄(c) ≤ c` is needed, not equality;
//! the search takes the smallest such `c` it can verify.
//!
//! The rate: `ρ_t(η) = 1 − μα_t φ_t(η)` with `φ_t(η) = η(2 − ηK_t(η))`, so
//! `ρ_t(η̄) ≤ ρ̄ = 1 − μᾱη̄(2 − η̄K̄)`. This bounds every step of size
//! exactly `η̄`, and every step `η_t ≤ η̄` with `φ_t(η_t) ≥ φ_t(η̄)` — for
//! example `min(η_Local, η̄)`, since `φ_t` is concave with its maximum at or
//! below the Local step (see `rules`, RateOptimal). Arbitrarily small steps
//! keep the invariants but not the rate.
//!
//! The margin (THEORY §8.1): while the loss does not increase, the product
//! stays within `√(2(L₀−L*)/μ)` of `W*`, so `σ_min(W₁W₂) ≥ p₀ =
//! [σ_min(W*) − √(2(L₀−L*)/μ)]₊` and `α_t ≥ c p₀²/β_t ≥ c p₀²/β̄` (`c = 4`
//! when `n = m`, else 1). The induction above keeps the loss from rising,
//! so `ᾱ = max(α_imb(D₀) − δ, c p₀²/β̄)` serves as well: a balanced or
//! small start close enough to a well-conditioned `W*` is certified by
//! the margin alone. Applied at any iterate (THEORY §8.2) it certifies the
//! rest of a run: see `Trainer::certificate_now`.

use crate::imbalance::{beta_upper_bound, ImbalanceSummary};
use crate::scalar::{abs, ln, ln_1p, max, min, pos, sqrt, Real};

/// What Theorem 2 needs at `t = 0`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AprioriInputs<T> {
    /// Strong convexity `μ` of `ℓ`.
    pub mu: T,
    /// Smoothness `K` of `ℓ`.
    pub k: T,
    /// `‖W*‖₂`.
    pub w_star_spec: T,
    /// `L₀ − L*`.
    pub gap0: T,
    /// Spectrum summary of `D₀`.
    pub imbalance: ImbalanceSummary<T>,
    /// `σ_min(W*)`, the `min(n, m)`-th singular value (THEORY §8.1); 0
    /// switches the margin term off (the imbalance-only certificate).
    pub w_star_sigma_min: T,
    /// Rows `n` of the product `W₁W₂`: with `m` it fixes the margin
    /// constant `c` (4 when `n = m`, else 1) and the rounding allowance on
    /// `σ_min(W*)`.
    pub n: usize,
    /// Columns `m` of the product `W₁W₂`.
    pub m: usize,
}

impl<T: Real> AprioriInputs<T> {
    /// The same inputs without the margin term (THEORY §8 as first stated):
    /// what the imbalance alone certifies.
    pub fn imbalance_only(&self) -> Self {
        Self {
            w_star_sigma_min: T::zero(),
            ..*self
        }
    }

    /// The margin constant `c` of THEORY §8.1: 4 when `n = m` (harmonic-mean
    /// bound), else 1.
    pub fn margin_constant(&self) -> T {
        if self.n == self.m {
            T::of(4.0)
        } else {
            T::one()
        }
    }

    /// `μ σ_min(W*)²/2`: the gap `L − L*` must fall below it for the margin
    /// `p₀` to be positive (THEORY §8.1).
    pub fn margin_gap(&self) -> T {
        T::of(0.5) * self.mu * self.w_star_sigma_min * self.w_star_sigma_min
    }
}

/// Which lower bound on `α_t` made `ᾱ` positive (THEORY §8, §8.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AlphaSource {
    /// `α_imb(D₀) − δ > 0`; the margin term is 0.
    #[default]
    Imbalance,
    /// `c p₀²/β̄ > 0`; the imbalance term is not positive.
    Margin,
    /// Both terms are positive (`ᾱ` is the larger).
    Both,
}

impl AlphaSource {
    /// `imbalance|margin|both`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Imbalance => "imbalance",
            Self::Margin => "margin",
            Self::Both => "both",
        }
    }
}

/// A certificate valid for the whole run (THEORY §8).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AprioriCertificate<T> {
    /// Largest allowed step `η̄`.
    pub eta_bar: T,
    /// Guaranteed rate `ρ̄`: `L_t − L* ≤ ρ̄ᵗ (L₀ − L*)`.
    pub rho_bar: T,
    /// Lower bound `ᾱ` on every `α_t`: the larger of the two terms below.
    pub alpha_bar: T,
    /// Upper bound `β̄` on every `β_t`.
    pub beta_bar: T,
    /// `K̄`, the local smoothness bound used.
    pub k_bar: T,
    /// Total imbalance drift bound `δ`.
    pub delta: T,
    /// The imbalance term `α_imb(D₀) − δ` (may be negative).
    pub alpha_imbalance: T,
    /// The margin term `c p₀²/β̄` (THEORY §8.1; 0 without a margin).
    pub alpha_margin: T,
    /// The margin `p₀ = [σ_min(W*) − √(2(L₀ − L*)/μ)]₊` used (0 when none).
    pub p0: T,
    /// Which term made `ᾱ` positive.
    pub source: AlphaSource,
}

impl<T: Real> AprioriCertificate<T> {
    /// `T(ε) = ⌈log((L₀ − L*)/ε) / log(1/ρ̄)⌉` (THEORY §8): iterations after
    /// which `L_t − L* ≤ ε` is guaranteed; 0 when `gap0 ≤ eps`. `None` when
    /// the inputs are not finite, `eps ≤ 0`, `ρ̄ ≥ 1`, or the count exceeds
    /// `u64`. Computed in `f64`.
    pub fn iterations_for(&self, gap0: T, eps: T) -> Option<u64> {
        let (g, e, rho) = (gap0.to_f64(), eps.to_f64(), self.rho_bar.to_f64());
        if !(g.is_finite() && e.is_finite() && e > 0.0 && rho.is_finite()) {
            return None;
        }
        if g <= e {
            return Some(0);
        }
        if !(rho < 1.0) {
            return None;
        }
        if !(rho > 0.0) {
            return Some(1);
        }
        // log(1/ρ̄) = −ln(1 + (ρ̄ − 1)); ρ̄ − 1 is exact for ρ̄ ∈ [½, 1].
        let x = ln(g / e) / -ln_1p(rho - 1.0);
        if !(x.is_finite() && (0.0..1.8e19).contains(&x)) {
            return None;
        }
        let n = x as u64;
        Some(if (n as f64) < x { n + 1 } else { n })
    }
}

/// Why no a-priori certificate exists.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NoCertificate<T> {
    /// Neither term gives a margin (THEORY §8, §8.1): `α_imb(D₀) = 0` (e.g.
    /// a balanced or spectral start) and `p₀ = 0` because the start is too
    /// far from `W*` (`L₀ − L* ≥ μ σ_min(W*)²/2`) or `W*` is singular.
    NoMargin {
        /// `α_imb(D₀)`.
        alpha_imb: T,
        /// `L₀ − L*`.
        gap0: T,
        /// `μ σ_min(W*)²/2`: the gap must fall below it for a margin
        /// (0 when `W*` is singular or `σ_min(W*)` was not given).
        margin_gap: T,
    },
    /// There is a margin but no consistent `η̄` keeps `ᾱ > 0` (the drift `δ`
    /// eats the imbalance and there is no margin term to fall back on, or
    /// `η̄K̄ ≥ 2`). In exact arithmetic every margin admits a small enough
    /// `η̄` (about `min(α_imb/(L₀−L*), 2/(Kβ̄₀ + ḡ))/8` is always
    /// consistent), so from [`apriori_certificate`] this only reports over-
    /// or underflow; from [`certificate_for_step`] it means the given step
    /// is too large.
    DriftExceedsMargin {
        /// `α_imb(D₀)`.
        alpha_imb: T,
    },
    /// The start is already at the minimum (`L₀ = L*`).
    AtMinimum,
    /// An input is not finite or not positive, or the inputs are inconsistent
    /// (`μ > K`, or `α_imb > λ₁(D₀) + λ₁(−D₀)`).
    InvalidInputs,
    /// A deep network (`L ≥ 3` layers): an a-priori certificate is open
    /// (THEORY §13: the products' smallest singular values are not
    /// controlled by the imbalances); every step is still certified.
    OpenForDepth {
        /// The number of layers.
        depth: u32,
    },
}

impl<T: Real> core::fmt::Display for NoCertificate<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoMargin {
                alpha_imb,
                gap0,
                margin_gap,
            } => {
                write!(
                    f,
                    "no a-priori certificate: the initial imbalance gives no margin \
                     (alpha_imb(D0) = {alpha_imb}) and "
                )?;
                if *margin_gap > T::zero() {
                    write!(
                        f,
                        "the start is too far from W* for the loss margin: L0 - L* = {gap0} \
                         must fall below mu sigma_min(W*)^2/2 = {margin_gap} ({} times lower; \
                         THEORY §8.1); a run may still get one later (certified-from step, §8.2)",
                        *gap0 / *margin_gap
                    )
                } else {
                    f.write_str("W* is singular (sigma_min(W*) = 0), so there is no loss margin (THEORY §8.1)")
                }
            }
            Self::DriftExceedsMargin { alpha_imb } => write!(
                f,
                "no a-priori certificate: the imbalance drift bound exceeds the margin \
                 alpha_imb(D0) = {alpha_imb} for every step size"
            ),
            Self::AtMinimum => f.write_str("no a-priori certificate needed: L0 = L*"),
            Self::OpenForDepth { depth } => write!(
                f,
                "no a-priori certificate for a deep network (L = {depth}): it is open for L >= 3 \
                 (THEORY §13); the per-step certificate applies to every step"
            ),
            Self::InvalidInputs => {
                f.write_str("no a-priori certificate: an input is not finite or not positive")
            }
        }
    }
}

/// `α_imb(D₀)` at or below this many `ε·β̄₀` is indistinguishable from the
/// rounding of the computed spectrum (and would give `ρ̄ = 1 − O(ε)`, i.e.
/// no usable rate); it counts as no margin. Likewise a loss margin `p₀` at
/// or below this many `ε‖W*‖₂`.
const MARGIN_NOISE_UNITS: f64 = 1024.0;
/// `σ_min(W*)²` comes from the eigenvalues of a computed Gram matrix of
/// `W*`: forming it costs up to `γ_n min(n, m) σ₁²` in norm and a backward
/// stable eigensolver `O(m ε σ₁²)` more, both below `(n + m)² ε σ₁²`. The
/// margin uses `σ_min(W*)² − GRAM_UNITS (n + m)² ε ‖W*‖₂²`, a certain lower
/// bound, so rounding cannot make a margin up.
const GRAM_UNITS: f64 = 4.0;
/// Newton iterations for the consistent `c` of one `η̄`.
const FIXED_POINT_ITERS: usize = 100;
/// Bisection steps for the largest feasible `η̄`.
const BISECT_ITERS: usize = 64;
/// Grid points on `(0, η_max]`.
const GRID: usize = 32;
/// Golden-section steps of the refinement.
const GOLDEN_ITERS: usize = 48;

/// The fixed data of one search.
struct Problem<T> {
    mu: T,
    k: T,
    gap0: T,
    g_bar: T,
    p_bar: T,
    l1: T,
    l2: T,
    /// `α_imb(D₀)`, or 0 when at the rounding level.
    alpha_imb: T,
    /// `c p₀²` (THEORY §8.1), 0 without a margin.
    cp0sq: T,
    /// `p₀`.
    p0: T,
    /// `β̄` at `δ = 0`.
    beta0: T,
}

/// Which lower bound on `α_t` a search scores (the reported certificate
/// always takes the larger of the two).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Term {
    Imbalance,
    Margin,
    Larger,
}

impl<T: Real> Problem<T> {
    /// `η̄K̄(c)`, its derivative in `c`, and the `δ, β̄, K̄` it is made of,
    /// for `0 ≤ c < 2`. `K̄(c)` uses `δ(c) = η̄(L₀ − L*)/(1 − c/2)`; `η̄K̄(c)`
    /// is convex and increasing in `c`. Every use of these numbers goes
    /// through this one function, so a `c` verified here is consistent
    /// bit for bit.
    fn at(&self, eta: T, c: T) -> Option<AtC<T>> {
        let half = T::of(0.5);
        let room = T::one() - half * c;
        if !(room > T::zero()) {
            return None;
        }
        let delta = eta * self.gap0 / room;
        let q = {
            let f = T::one() + half * eta * self.g_bar;
            f * f
        };
        let (x1, x2) = (self.l1 + delta, self.l2 + delta);
        let beta_bar = beta_upper_bound(x1, x2, self.p_bar);
        let four_p2 = T::of(4.0) * self.p_bar * self.p_bar;
        // d/dx ½(x + √(x² + 4p²)) = ½(1 + x/√(x² + 4p²)) (1 when p = 0, x ≥ 0).
        let slope = |x: T| {
            let r = sqrt(x * x + four_p2);
            if r > T::zero() {
                half * (T::one() + x / r)
            } else {
                T::one()
            }
        };
        let dbeta = slope(x1) + slope(x2);
        let ddelta = half * delta / room;
        let k_bar = self.k * beta_bar * q + self.g_bar;
        let f = eta * k_bar;
        let df = eta * self.k * q * dbeta * ddelta;
        if f.finite() && df.finite() {
            Some(AtC {
                f,
                df,
                delta,
                beta_bar,
                k_bar,
            })
        } else {
            None
        }
    }

    /// The smallest `c < 2` with `η̄K̄(c) ≤ c` that can be verified, by
    /// Newton on the convex `G(c) = η̄K̄(c) − c` from `c = 0` (`G(0) > 0`):
    /// the iterates increase monotonically towards the smallest root. When
    /// they stall just below it, `c` is nudged up by `√ε·c` and checked.
    /// `None` when `G` has no root below 2 (the step is too large).
    fn consistent_c(&self, eta: T) -> Option<(T, AtC<T>)> {
        let mut c = T::zero();
        for _ in 0..FIXED_POINT_ITERS {
            let here = self.at(eta, c)?;
            let g = here.f - c;
            if g <= T::zero() {
                return Some((c, here));
            }
            let dg = here.df - T::one();
            // G convex and not decreasing while positive: no root ahead.
            if !(dg < T::zero()) {
                return None;
            }
            let next = c - g / dg;
            if !(next > c + T::of(4.0) * T::EPSILON * c) {
                break;
            }
            c = next;
        }
        let nudged = c + sqrt(T::EPSILON) * max(c, T::EPSILON);
        let here = self.at(eta, nudged)?;
        if here.f <= nudged {
            Some((nudged, here))
        } else {
            None
        }
    }

    /// The certificate of one candidate `η̄` with `ᾱ` from `term`, or `None`
    /// when it is not consistent (`c ≥ 2` or `ᾱ ≤ 0`).
    fn evaluate(&self, eta: T, term: Term) -> Option<AprioriCertificate<T>> {
        if !(eta > T::zero() && eta.finite()) {
            return None;
        }
        let (c, at) = self.consistent_c(eta)?;
        let two = T::of(2.0);
        if !(c < two && at.f <= c) {
            return None;
        }
        let alpha_imbalance = self.alpha_imb - at.delta;
        // β̄ ≥ 2p̄ > 0 whenever there is a margin (p̄ ≥ ‖W*‖₂ > 0).
        let alpha_margin = if self.cp0sq > T::zero() && at.beta_bar > T::zero() {
            self.cp0sq / at.beta_bar
        } else {
            T::zero()
        };
        let alpha_bar = match term {
            Term::Imbalance => alpha_imbalance,
            Term::Margin => alpha_margin,
            Term::Larger => max(alpha_imbalance, alpha_margin),
        };
        if !(alpha_bar > T::zero()) {
            return None;
        }
        let rho_bar = T::one() - self.mu * alpha_bar * eta * (two - at.f);
        if !rho_bar.finite() {
            return None;
        }
        let (imb, mar) = (alpha_imbalance > T::zero(), alpha_margin > T::zero());
        let source = match (imb, mar) {
            (true, true) => AlphaSource::Both,
            (false, true) => AlphaSource::Margin,
            _ => AlphaSource::Imbalance,
        };
        Some(AprioriCertificate {
            eta_bar: eta,
            rho_bar,
            alpha_bar,
            beta_bar: at.beta_bar,
            k_bar: at.k_bar,
            delta: at.delta,
            alpha_imbalance,
            alpha_margin,
            p0: if self.cp0sq > T::zero() {
                self.p0
            } else {
                T::zero()
            },
            source,
        })
    }
}

/// The quantities of one `(η̄, c)`.
struct AtC<T> {
    /// `η̄K̄(c)`.
    f: T,
    /// `d(η̄K̄)/dc`.
    df: T,
    delta: T,
    beta_bar: T,
    k_bar: T,
}

/// Keeps the certificate with the smallest `ρ̄` (the first on ties).
fn better<T: Real>(
    best: Option<AprioriCertificate<T>>,
    cand: Option<AprioriCertificate<T>>,
) -> Option<AprioriCertificate<T>> {
    match (best, cand) {
        (Some(b), Some(c)) if c.rho_bar < b.rho_bar => Some(c),
        (None, c) => c,
        (b, _) => b,
    }
}

/// Checks the inputs and builds the search data, or says why there is no
/// certificate for any step.
fn problem_of<T: Real>(inputs: &AprioriInputs<T>) -> Result<Problem<T>, NoCertificate<T>> {
    let AprioriInputs {
        mu,
        k,
        w_star_spec,
        gap0,
        imbalance,
        w_star_sigma_min,
        n,
        m,
    } = *inputs;
    let all_finite = [
        mu,
        k,
        w_star_spec,
        gap0,
        imbalance.alpha_imb,
        imbalance.lambda_max,
        imbalance.neg_lambda_max,
        w_star_sigma_min,
    ]
    .iter()
    .all(|x| x.finite());
    let nonneg = w_star_spec >= T::zero()
        && imbalance.alpha_imb >= T::zero()
        && imbalance.lambda_max >= T::zero()
        && imbalance.neg_lambda_max >= T::zero()
        && w_star_sigma_min >= T::zero();
    // A spectrum summary has α_imb ≤ λ₁(D) + λ₁(−D) (exactly, as computed by
    // `imbalance::summarize`); one that does not is not a spectrum and would
    // give ᾱ > β̄ and a negative ρ̄.
    let consistent = imbalance.alpha_imb <= imbalance.lambda_max + imbalance.neg_lambda_max;
    if !(all_finite && nonneg && consistent && mu > T::zero() && k >= mu) {
        return Err(NoCertificate::InvalidInputs);
    }
    if !(gap0 > T::zero()) {
        return Err(NoCertificate::AtMinimum);
    }
    let two = T::of(2.0);
    let g_bar = sqrt(two * k * gap0);
    let radius = sqrt(two * gap0 / mu);
    let p_bar = w_star_spec + radius;
    let (l1, l2) = (imbalance.lambda_max, imbalance.neg_lambda_max);
    let beta0 = beta_upper_bound(l1, l2, p_bar);
    if !(g_bar.finite() && p_bar.finite() && beta0.finite()) {
        return Err(NoCertificate::InvalidInputs);
    }
    let noise = T::of(MARGIN_NOISE_UNITS) * T::EPSILON;
    let alpha_imb = if imbalance.alpha_imb > noise * beta0 {
        imbalance.alpha_imb
    } else {
        T::zero()
    };
    // p₀ from a certain lower bound on σ_min(W*) (see GRAM_UNITS), at most
    // ‖W*‖₂ (two computed eigenvalues may be a rounding apart in the wrong
    // order), which keeps c p₀²/β̄ ≤ 4p̄²/(2p̄) ≤ β̄ and ρ̄ ≥ 0.
    let dims = T::of_usize(n.saturating_add(m));
    let s_min = min(w_star_sigma_min, w_star_spec);
    let s_lo = sqrt(pos(s_min * s_min
        - T::of(GRAM_UNITS)
            * dims
            * dims
            * T::EPSILON
            * w_star_spec
            * w_star_spec));
    let p0 = pos(s_lo - radius);
    let cp0sq = if p0 > noise * w_star_spec && p0.finite() {
        inputs.margin_constant() * p0 * p0
    } else {
        T::zero()
    };
    if !(alpha_imb > T::zero() || cp0sq > T::zero()) {
        return Err(NoCertificate::NoMargin {
            alpha_imb: imbalance.alpha_imb,
            gap0,
            margin_gap: inputs.margin_gap(),
        });
    }
    Ok(Problem {
        mu,
        k,
        gap0,
        g_bar,
        p_bar,
        l1,
        l2,
        alpha_imb,
        cp0sq,
        p0,
        beta0,
    })
}

/// The certificate of Theorem 2 (THEORY §8, with the margin of §8.1) for
/// one given maximal step `η̄ = eta_bar` (e.g. to certify a constant step a
/// user chose), or why that step has none
/// ([`NoCertificate::DriftExceedsMargin`] when it is not consistent).
pub fn certificate_for_step<T: Real>(
    inputs: &AprioriInputs<T>,
    eta_bar: T,
) -> Result<AprioriCertificate<T>, NoCertificate<T>> {
    let problem = problem_of(inputs)?;
    problem
        .evaluate(eta_bar, Term::Larger)
        .filter(|c| c.rho_bar < T::one())
        .ok_or(NoCertificate::DriftExceedsMargin {
            alpha_imb: inputs.imbalance.alpha_imb,
        })
}

/// Finds the best consistent `η̄` (THEORY §8, §8.1): the one with the
/// smallest `ρ̄` among those with `η̄K̄ ≤ c < 2` and `ᾱ > 0`.
///
/// With `ḡ = √(2K(L₀−L*))`, `p̄ = ‖W*‖₂ + √(2(L₀−L*)/μ)`, and for a
/// candidate `η̄`: `δ = η̄(L₀−L*)/(1 − c/2)`, `β̄` = the §7 bound at
/// `l₁ + δ, l₂ + δ, p̄`, `ᾱ = max(α_imb(D₀) − δ, c p₀²/β̄)`,
/// `K̄ = Kβ̄(1 + η̄ḡ/2)² + ḡ`, `ρ̄ = 1 − μᾱη̄(2 − η̄K̄)`. The consistent `c`
/// of each `η̄` is found by monotone Newton (see `Problem::consistent_c`).
///
/// Since `ρ̄` with the larger term is the smaller of the two terms' `ρ̄`
/// at every `η̄`, its minimum is the better of the two terms' minima; each
/// is found on its own (where the term exists): feasibility is monotone in
/// `η̄` (`c` grows and both terms shrink with it), so the largest feasible
/// `η_max` is found by bisection on `(0, η_hi]`, where `η_hi = 2/(Kβ̄₀ + ḡ)`
/// (and, for the imbalance term, at most `α_imb/(L₀−L*)`) is infeasible;
/// then `ρ̄` is minimized over a grid of `(0, η_max]` and refined by golden
/// section around the best grid point. About 150 candidate evaluations per
/// term, each a few Newton steps; no allocation.
pub fn apriori_certificate<T: Real>(
    inputs: &AprioriInputs<T>,
) -> Result<AprioriCertificate<T>, NoCertificate<T>> {
    let problem = problem_of(inputs)?;
    let two = T::of(2.0);
    let consistent_hi = two / (problem.k * problem.beta0 + problem.g_bar);
    let mut best = None;
    if problem.alpha_imb > T::zero() {
        // Every feasible η̄ has η̄(L₀−L*) ≤ δ < α_imb.
        let eta_hi = min(consistent_hi, problem.alpha_imb / problem.gap0);
        best = better(best, search(&problem, Term::Imbalance, eta_hi));
    }
    if problem.cp0sq > T::zero() {
        best = better(best, search(&problem, Term::Margin, consistent_hi));
    }
    // A rate that rounds to 1 guarantees nothing (e.g. K so large that η̄
    // underflows): that is the over/underflow case of DriftExceedsMargin.
    best.filter(|c| c.rho_bar < T::one())
        .ok_or(NoCertificate::DriftExceedsMargin {
            alpha_imb: inputs.imbalance.alpha_imb,
        })
}

/// The best `η̄` for the lower bound `term` on `(0, eta_hi]` (see
/// [`apriori_certificate`]); the certificates it returns take the larger
/// term at their `η̄`.
fn search<T: Real>(problem: &Problem<T>, term: Term, eta_hi: T) -> Option<AprioriCertificate<T>> {
    if !(eta_hi > T::zero() && eta_hi.finite()) {
        return None;
    }
    let report = |eta: T| problem.evaluate(eta, Term::Larger);
    let mut best = None;
    let (mut lo, mut hi) = (T::zero(), eta_hi);
    for _ in 0..BISECT_ITERS {
        let mid = T::of(0.5) * (lo + hi);
        if problem.evaluate(mid, term).is_some() {
            lo = mid;
            best = better(best, report(mid));
        } else {
            hi = mid;
        }
        if hi - lo <= T::EPSILON * hi {
            break;
        }
    }
    let eta_max = lo;
    if !(eta_max > T::zero()) {
        return None;
    }
    // Grid on (0, η_max].
    let rho_at = |eta: T| problem.evaluate(eta, term).map(|c| c.rho_bar);
    let grid = |j: usize| eta_max * T::of_usize(j) / T::of_usize(GRID);
    let mut best_j = GRID;
    let mut best_rho = T::one();
    for j in 1..=GRID {
        if let Some(r) = rho_at(grid(j)) {
            if r < best_rho {
                best_rho = r;
                best_j = j;
            }
            best = better(best, report(grid(j)));
        }
    }
    // Golden section on [η_{j−1}, η_{j+1}] ∩ (0, η_max]; an infeasible
    // point counts as ρ̄ = +∞ there.
    let inv_phi = T::of(0.618_033_988_749_894_9);
    let mut a = grid(best_j - 1);
    let mut b = grid((best_j + 1).min(GRID));
    let score = |eta: T| rho_at(eta).unwrap_or(T::MAX);
    let mut x1 = b - inv_phi * (b - a);
    let mut x2 = a + inv_phi * (b - a);
    let (mut f1, mut f2) = (score(x1), score(x2));
    for _ in 0..GOLDEN_ITERS {
        if f1 <= f2 {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - inv_phi * (b - a);
            f1 = score(x1);
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + inv_phi * (b - a);
            f2 = score(x2);
        }
        if abs(b - a) <= T::EPSILON * b {
            break;
        }
    }
    best = better(best, report(x1));
    better(best, report(x2))
}
