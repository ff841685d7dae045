//! The registry of losses: one entry per loss in [`super`] declares its
//! module, its [`LossKind`](super::LossKind) variant and names, and (feature
//! `alloc`) its place in [`AnyLoss`](super::AnyLoss), the run-time dispatch
//! used by the host and the tests. Each loss builds itself through
//! [`LossBuilder`] in its own file. Every `match` written here is
//! exhaustive over the registered losses: no arm silently catches a new one.

#[cfg(feature = "alloc")]
use nalgebra::{DMatrix, Dyn};

#[cfg(feature = "alloc")]
use crate::error::ProblemError;
#[cfg(feature = "alloc")]
use crate::init::Rng;
#[cfg(feature = "alloc")]
use crate::scalar::Real;

/// How synthetic data are drawn (THEORY §9): sizes and the scales of the
/// planted target and the noise.
#[cfg(feature = "alloc")]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Synthetic {
    /// Samples `N` (measurements `p` for sensing).
    pub samples: usize,
    /// Rows of `W`.
    pub n: usize,
    /// Columns of `W` (classes for softmax).
    pub m: usize,
    /// Standard deviation of the planted `Θ`'s entries.
    pub theta_std: f64,
    /// Standard deviation of the noise.
    pub noise: f64,
}

/// Draws a design matrix `X` (`rows×cols`) from the generator; the caller
/// chooses its distribution (Gaussian, given condition number, ...).
#[cfg(feature = "alloc")]
pub type Design<'a, T> =
    &'a mut dyn FnMut(usize, usize, &mut Rng) -> Result<DMatrix<T>, ProblemError>;

/// A loss that can be built at run time (`Dyn` sizes) from data or from
/// synthetic data: what each loss file provides to the registry.
#[cfg(feature = "alloc")]
pub trait LossBuilder<T: Real>: super::Loss<T, Dyn, Dyn> + Sized {
    /// The loss's hyper-parameter and its default, if it has one
    /// (`("gamma", 1.0)`).
    const HYPER: Option<(&'static str, f64)>;

    /// The loss from its data: `x` the design (`N×n`; sensing: the
    /// operator, `p×nm`) and `y` the targets (`N×m`; sensing: the
    /// measurements as a `p×1` column), for `W` of size `n×m`.
    fn from_data(
        n: usize,
        m: usize,
        x: DMatrix<T>,
        y: DMatrix<T>,
        hyper: T,
    ) -> Result<Self, ProblemError>;

    /// `(n, m)` read off the data when the data determine them (sensing
    /// needs one of them given: `nm` alone does not split).
    fn infer_sizes(x: &DMatrix<T>, y: &DMatrix<T>) -> Option<(usize, usize)>;

    /// Synthetic data `(x, y)` in the form [`Self::from_data`] takes, with
    /// the planted `Θ` written to `theta` (`n×m`). Draws in a fixed order
    /// from `rng`, so the same seed gives the same data.
    fn generate(
        s: &Synthetic,
        design: Design<'_, T>,
        theta: &mut DMatrix<T>,
        rng: &mut Rng,
    ) -> Result<(DMatrix<T>, DMatrix<T>), ProblemError>;

    /// The data back, as [`Self::from_data`] took them.
    fn data(&self) -> (DMatrix<T>, DMatrix<T>);
}

/// `X` and `Y` have the `n` and `m` columns a `W` of size `n×m` needs
/// (the regression losses' [`LossBuilder::from_data`] check).
#[cfg(feature = "alloc")]
pub(super) fn check_columns<T: Real>(
    n: usize,
    m: usize,
    x: &DMatrix<T>,
    y: &DMatrix<T>,
) -> Result<(), ProblemError> {
    if (x.ncols(), y.ncols()) != (n, m) {
        return Err(ProblemError::ShapeMismatch {
            what: "X and Y (columns: n and m)",
            expected: (n, m),
            found: (x.ncols(), y.ncols()),
        });
    }
    Ok(())
}

/// Regression data for [`LossBuilder::generate`]: the design, then the
/// targets `Y = XΘ + noise` with `Θ` planted in `theta`, drawn in that
/// order from `rng`.
#[cfg(feature = "alloc")]
pub(super) fn regression_data<T: Real>(
    s: &Synthetic,
    design: Design<'_, T>,
    theta: &mut DMatrix<T>,
    rng: &mut Rng,
) -> Result<(DMatrix<T>, DMatrix<T>), ProblemError> {
    let x = design(s.samples, s.n, rng)?;
    let mut y = DMatrix::<T>::zeros(s.samples, s.m);
    crate::data::linear_targets(&x, theta, &mut y, s.theta_std, s.noise, rng)?;
    Ok((x, y))
}

macro_rules! losses {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $name:literal $( | $alias:literal )* => $module:ident :: $loss:ident,
    )+) => {
        $( mod $module; pub use $module::$loss; )+

        /// Which loss of THEORY §9.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub enum LossKind {
            $( $(#[$doc])* $variant, )+
        }

        impl LossKind {
            /// Every registered loss, in registration order.
            pub const ALL: &'static [LossKind] = &[$( LossKind::$variant ),+];

            /// The loss's name (`squared`, `sensing`, `logcosh`, `softmax`).
            pub fn name(self) -> &'static str {
                match self {
                    $( Self::$variant => $name, )+
                }
            }

            /// The loss named `s` (its name or an alias, ASCII
            /// case-insensitive, surrounding blanks ignored).
            pub fn parse(s: &str) -> Option<Self> {
                let s = s.trim();
                $(
                    if s.eq_ignore_ascii_case($name) $( || s.eq_ignore_ascii_case($alias) )* {
                        return Some(Self::$variant);
                    }
                )+
                None
            }
        }

        /// One registered loss with `Dyn` sizes, behind a single type so
        /// that one [`Trainer`](crate::Trainer) type serves them all.
        // Built once per run, never moved in a loop: the size difference is harmless.
        #[cfg(feature = "alloc")]
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug)]
        pub enum AnyLoss<T: Real> {
            $( $(#[$doc])* $variant($module::Dynamic<T>), )+
        }

        #[cfg(feature = "alloc")]
        impl<T: Real> AnyLoss<T> {
            /// The loss of kind `kind` from its data ([`LossBuilder::from_data`]);
            /// `hyper` is ignored by a loss without a hyper-parameter.
            pub fn from_data(
                kind: LossKind,
                n: usize,
                m: usize,
                x: nalgebra::DMatrix<T>,
                y: nalgebra::DMatrix<T>,
                hyper: T,
            ) -> Result<Self, crate::error::ProblemError> {
                Ok(match kind {
                    $( LossKind::$variant => Self::$variant(
                        <$module::Dynamic<T> as LossBuilder<T>>::from_data(n, m, x, y, hyper)?,
                    ), )+
                })
            }

            /// Synthetic data for `kind` ([`LossBuilder::generate`]).
            pub fn generate(
                kind: LossKind,
                s: &Synthetic,
                design: Design<'_, T>,
                theta: &mut nalgebra::DMatrix<T>,
                rng: &mut crate::init::Rng,
            ) -> Result<(nalgebra::DMatrix<T>, nalgebra::DMatrix<T>), crate::error::ProblemError> {
                match kind {
                    $( LossKind::$variant =>
                        <$module::Dynamic<T> as LossBuilder<T>>::generate(s, design, theta, rng), )+
                }
            }

            /// `(n, m)` from data of `kind` ([`LossBuilder::infer_sizes`]).
            pub fn infer_sizes(
                kind: LossKind,
                x: &nalgebra::DMatrix<T>,
                y: &nalgebra::DMatrix<T>,
            ) -> Option<(usize, usize)> {
                match kind {
                    $( LossKind::$variant => <$module::Dynamic<T> as LossBuilder<T>>::infer_sizes(x, y), )+
                }
            }

            /// The hyper-parameter of `kind` and its default, if any.
            pub fn hyper(kind: LossKind) -> Option<(&'static str, f64)> {
                match kind {
                    $( LossKind::$variant => <$module::Dynamic<T> as LossBuilder<T>>::HYPER, )+
                }
            }

            /// The data the loss was built from ([`LossBuilder::data`]).
            pub fn data(&self) -> (nalgebra::DMatrix<T>, nalgebra::DMatrix<T>) {
                match self {
                    $( Self::$variant(l) => l.data(), )+
                }
            }
        }

        #[cfg(feature = "alloc")]
        impl<T: Real> Loss<T, nalgebra::Dyn, nalgebra::Dyn> for AnyLoss<T> {
            fn kind(&self) -> LossKind {
                match self {
                    $( Self::$variant(l) => l.kind(), )+
                }
            }
            fn constants(&self) -> &LossConstants<T> {
                match self {
                    $( Self::$variant(l) => l.constants(), )+
                }
            }
            fn minimizer(&self) -> &OMatrix<T, nalgebra::Dyn, nalgebra::Dyn> {
                match self {
                    $( Self::$variant(l) => l.minimizer(), )+
                }
            }
            fn evaluate(&mut self, w: &OMatrix<T, nalgebra::Dyn, nalgebra::Dyn>) -> Evaluation<T> {
                match self {
                    $( Self::$variant(l) => l.evaluate(w), )+
                }
            }
            fn evaluate_with_gradient(
                &mut self,
                w: &OMatrix<T, nalgebra::Dyn, nalgebra::Dyn>,
                grad: &mut OMatrix<T, nalgebra::Dyn, nalgebra::Dyn>,
            ) -> Evaluation<T> {
                match self {
                    $( Self::$variant(l) => l.evaluate_with_gradient(w, grad), )+
                }
            }
            fn rounding(&self) -> &RoundingModel<T> {
                match self {
                    $( Self::$variant(l) => l.rounding(), )+
                }
            }
        }
    };
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use nalgebra::DMatrix;

    use super::Synthetic;
    use crate::loss::{AnyLoss, Loss, LossKind};
    use crate::Rng;

    #[test]
    fn every_loss_is_named_built_from_synthetic_data_and_gives_its_data_back() {
        let s = Synthetic {
            samples: 40,
            n: 3,
            m: 2,
            theta_std: 1.0,
            noise: 0.1,
        };
        for &kind in LossKind::ALL {
            assert_eq!(LossKind::parse(kind.name()), Some(kind));
            assert_eq!(
                LossKind::parse(&kind.name().to_ascii_uppercase()),
                Some(kind)
            );
            let mut rng = Rng::new(7);
            let mut theta = DMatrix::<f64>::zeros(s.n, s.m);
            let mut design = |r: usize, c: usize, rng: &mut Rng| {
                let mut x = DMatrix::<f64>::zeros(r, c);
                crate::data::gaussian_data(&mut x, rng);
                Ok(x)
            };
            let (x, y) = AnyLoss::generate(kind, &s, &mut design, &mut theta, &mut rng).unwrap();
            assert!(theta.iter().any(|&t| t != 0.0), "{kind:?}: Θ was planted");
            if let Some((n, m)) = AnyLoss::infer_sizes(kind, &x, &y) {
                assert_eq!((n, m), (s.n, s.m), "{kind:?}");
            }
            let hyper = AnyLoss::<f64>::hyper(kind).map_or(0.0, |(_, d)| d);
            let loss = AnyLoss::from_data(kind, s.n, s.m, x.clone(), y.clone(), hyper).unwrap();
            assert_eq!(loss.kind(), kind);
            assert_eq!(loss.data(), (x, y), "{kind:?}");
            let c = loss.constants();
            assert!(c.mu > 0.0 && c.mu <= c.k, "{kind:?}: {c:?}");
        }
        assert_eq!(LossKind::parse("least-squares"), Some(LossKind::Squared));
        assert_eq!(LossKind::parse("hinge"), None);
    }

    #[test]
    fn data_of_the_wrong_shape_is_refused() {
        let x = DMatrix::<f64>::zeros(10, 3);
        let y = DMatrix::<f64>::zeros(10, 2);
        for &kind in LossKind::ALL {
            let e = AnyLoss::from_data(kind, 4, 2, x.clone(), y.clone(), 0.1);
            assert!(e.is_err(), "{kind:?} accepted n = 4 with 3 columns of X");
        }
    }
}
