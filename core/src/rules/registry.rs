//! The macro behind the one-line registration of a step rule in
//! [`super`]: from the list of rules it writes the module declarations, the
//! [`super::StepRule`] front end (parse, Display, validation, name) and the
//! dispatch of [`super::PreparedRule`] to each rule's [`super::Rule`] impl.
//! Every `match` it writes is exhaustive over the registered rules, so no
//! arm can silently catch a new one.

/// One entry per rule: its doc, the variant of [`super::StepRule`] with its
/// parameters (none, one positional `name: T`, or named), and `module::Type` of the
/// rule (a file `rules/module.rs` with a type implementing [`super::Rule`]).
macro_rules! step_rules {
    ($(
        $(#[$doc:meta])*
        $variant:ident
        $( ( $param:ident : $pty:ty ) )?
        $( { $( $(#[$fdoc:meta])* $field:ident ),+ $(,)? } )?
        => $module:ident :: $rule:ident,
    )+) => {
        $( pub mod $module; )+

        /// A step-size rule (THEORY §6): the front end that names, parses,
        /// writes and validates a rule and its parameters. What each rule
        /// does lives in its own module behind [`Rule`].
        #[derive(Clone, Copy, Debug, PartialEq)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub enum StepRule<T> {
            $(
                $(#[$doc])*
                $variant
                $( ( $pty ) )?
                $( { $( $(#[$fdoc])* $field: T ),+ } )?,
            )+
        }

        impl<T: Real> StepRule<T> {
            /// `true` when the rule needs `‖W₁W₂‖₂` at every step.
            pub fn needs_product_norm(&self) -> bool {
                match self {
                    $( Self::$variant { .. } => <$module::$rule<T> as Rule<T>>::NEEDS_PRODUCT_NORM, )+
                }
            }

            /// Short name: `local`, `rate-optimal`, `constant`, `arora`, `du`,
            /// `xu2023` or `armijo` (the names [`Self::parse`] accepts).
            pub fn name(&self) -> &'static str {
                match self {
                    $( Self::$variant { .. } => <$module::$rule<T> as Rule<T>>::NAME, )+
                }
            }

            /// Checks the rule's own parameters (THEORY §6) with the rule's
            /// validating constructor: a constant step must be positive and
            /// finite, Xu's `c₁ ≥ 1` and `c₂ ∈ (0, 1]`, Armijo's `c ∈ (0, 1)`,
            /// `shrink ∈ (0, 1)` and `initial > 0`, all finite.
            pub fn validate(&self) -> Result<(), RuleUnavailable> {
                match *self {
                    $(
                        Self::$variant $( ( $param ) )? $( { $( $field ),+ } )? => {
                            <$module::$rule<T> as Rule<T>>::from_params(
                                &[$( $param )? $( $( $field ),+ )?],
                            )
                            .map(|_| ())
                        }
                    )+
                }
            }

            /// Parses `local | rate-optimal | constant:ETA | arora | du |
            /// xu2023[:C1,C2] | armijo[:C,SHRINK,INITIAL]` (ASCII case-insensitive;
            /// `arora2019`, `du2018`, `xu` are accepted too). Parameters are
            /// validated as by [`Self::validate`]. The inverse of the
            /// [`core::fmt::Display`] of a rule.
            pub fn parse(s: &str) -> Result<Self, ParseRuleError> {
                let s = s.trim();
                let (head, args) = match s.split_once(':') {
                    Some((h, a)) => (h.trim(), Some(a)),
                    None => (s, None),
                };
                $(
                    if names_match::<T, $module::$rule<T>>(head) {
                        let names: &[&str] = &[$( stringify!($param) )? $( $( stringify!($field) ),+ )?];
                        let values = read_params::<T, $module::$rule<T>>(args, names.len())?;
                        let _values = &mut values.iter().copied();
                        let rule = Self::$variant
                            $( ( { let _ = stringify!($param); next_param(_values) } ) )?
                            $( { $( $field: next_param(_values) ),+ } )?;
                        rule.validate().map_err(ParseRuleError::Invalid)?;
                        return Ok(rule);
                    }
                )+
                Err(ParseRuleError::UnknownRule)
            }
        }

        /// A rule written so that [`StepRule::parse`] reads it back:
        /// `constant:0.01`, `xu2023:1.5,0.5`, `armijo:0.0001,0.5,1`, or the bare name.
        impl<T: Real> core::fmt::Display for StepRule<T> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                let (name, params): (&str, &[T]) = match *self {
                    $(
                        Self::$variant $( ( $param ) )? $( { $( $field ),+ } )? => (
                            <$module::$rule<T> as Rule<T>>::NAME,
                            &[$( $param )? $( $( $field ),+ )?],
                        ),
                    )+
                };
                f.write_str(name)?;
                for (i, p) in params.iter().enumerate() {
                    f.write_str(if i == 0 { ":" } else { "," })?;
                    write!(f, "{p}")?;
                }
                Ok(())
            }
        }

        /// Each registered rule's name and parameter names, in registration
        /// order, and whether the parameters have defaults (for the parse
        /// errors' lists of what is accepted).
        const REGISTERED: &[(&str, &[&str], bool)] = &[
            $( (
                <$module::$rule<f64> as Rule<f64>>::NAME,
                &[$( stringify!($param) )? $( $( stringify!($field) ),+ )?],
                <$module::$rule<f64> as Rule<f64>>::DEFAULTS.is_some(),
            ), )+
        ];

        /// A registered rule bound to a start.
        #[derive(Clone, Copy, Debug)]
        enum Bound<T> {
            $( $variant($module::$rule<T>), )+
        }

        impl<T: Real> Bound<T> {
            /// Builds the rule from `spec` with its validating constructor
            /// and binds it to `start`.
            fn new(spec: StepRule<T>, start: &StartInfo<T>) -> Result<Self, RuleUnavailable> {
                Ok(match spec {
                    $(
                        StepRule::$variant $( ( $param ) )? $( { $( $field ),+ } )? => {
                            let mut rule = <$module::$rule<T> as Rule<T>>::from_params(
                                &[$( $param )? $( $( $field ),+ )?],
                            )?;
                            rule.bind(start)?;
                            Self::$variant(rule)
                        }
                    )+
                })
            }

            fn step(
                &mut self,
                ctx: &RuleContext<T>,
                probe: &mut dyn Probe<T>,
            ) -> Result<T, RuleUnavailable> {
                match self {
                    $( Self::$variant(rule) => rule.step(ctx, probe), )+
                }
            }

            fn is_stall(&self, why: &RuleUnavailable, ctx: &RuleContext<T>) -> bool {
                match self {
                    $( Self::$variant(rule) => rule.is_stall(why, ctx), )+
                }
            }

            fn fixed_step(&self) -> Option<T> {
                match self {
                    $( Self::$variant(rule) => rule.fixed_step(), )+
                }
            }
        }
    };
}
