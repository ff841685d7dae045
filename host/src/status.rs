//! How a run ended, as one type: its name in the outputs, its exit code
//! and the one-line message the CLI prints for it.
//!
//! The core's trainer status (THEORY §5, §6) is mapped once, in
//! `problem::run`; every consumer (`run`, `sweep` cells, `merge`,
//! `reproduce`, the Python package) matches on [`RunStatus`] instead of
//! comparing strings, so a new outcome cannot be missed by one of them.

use serde::{Deserialize, Serialize};

use crate::exit;

/// How a run ended.
///
/// Serialized as three fields of the run's JSON, in this order and
/// unchanged from the string form: `status`
/// (`converged|max_iters|stalled|diverged|rule_unavailable|stopped`),
/// `diverged_at` (the step, or `null`) and `rule_unavailable` (the reason,
/// or `null`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "StatusFields", try_from = "StatusFields")]
#[non_exhaustive]
pub enum RunStatus {
    /// The gap reached the tolerance.
    Converged,
    /// The iteration cap was reached first.
    MaxIters,
    /// Machine precision reached: no progress beyond rounding.
    Stalled,
    /// The loss increased beyond rounding or became non-finite.
    Diverged {
        /// The step at which it was detected.
        at: usize,
    },
    /// The step rule gives no step for this problem or start.
    RuleUnavailable {
        /// Why, in one line.
        reason: String,
    },
    /// Stopped by the observer or by an interrupt.
    Stopped,
}

impl RunStatus {
    /// The name written to outputs (`status` in JSON, CSV and tables).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Converged => "converged",
            Self::MaxIters => "max_iters",
            Self::Stalled => "stalled",
            Self::Diverged { .. } => "diverged",
            Self::RuleUnavailable { .. } => "rule_unavailable",
            Self::Stopped => "stopped",
        }
    }

    /// The process exit code of a run that ended this way with every
    /// certificate held (a violation takes precedence, see
    /// [`crate::RunResult::exit_code`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Converged | Self::MaxIters | Self::Stalled => exit::OK,
            Self::Diverged { .. } => exit::DIVERGED,
            Self::RuleUnavailable { .. } => exit::RULE_UNAVAILABLE,
            Self::Stopped => exit::INTERRUPTED,
        }
    }

    /// The line `overlin run` prints to stderr after a run that ended this
    /// way (`None` when the run ended normally). `iterations` is the
    /// number of steps taken; `interrupted` says whether a stop came from
    /// Ctrl-C rather than from the caller's observer.
    pub fn message(&self, iterations: usize, interrupted: bool) -> Option<String> {
        match self {
            Self::Diverged { at } => Some(format!(
                "the run diverged at step {at} (loss increased beyond rounding or became \
                 non-finite); try a smaller constant step or --rule local"
            )),
            Self::RuleUnavailable { reason } => Some(reason.clone()),
            Self::Stopped if interrupted => {
                Some(format!("interrupted after {iterations} iterations"))
            }
            Self::Converged | Self::MaxIters | Self::Stalled | Self::Stopped => None,
        }
    }

    /// The step at which a divergence was detected.
    pub fn diverged_at(&self) -> Option<usize> {
        match self {
            Self::Diverged { at } => Some(*at),
            _ => None,
        }
    }

    /// Why the rule gives no step.
    pub fn unavailable_reason(&self) -> Option<&str> {
        match self {
            Self::RuleUnavailable { reason } => Some(reason),
            _ => None,
        }
    }
}

/// Short form for summaries: the name, with the step of a divergence or
/// the reason a rule gives no step.
impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Diverged { at } => write!(f, "diverged at step {at}"),
            Self::RuleUnavailable { reason } => write!(f, "rule_unavailable ({reason})"),
            s => f.write_str(s.name()),
        }
    }
}

/// The serialized form of [`RunStatus`]: the three fields the outputs have
/// always had, so JSON results and sweep cell files keep their layout.
#[derive(Serialize, Deserialize)]
struct StatusFields {
    status: String,
    diverged_at: Option<usize>,
    rule_unavailable: Option<String>,
}

impl From<RunStatus> for StatusFields {
    fn from(s: RunStatus) -> Self {
        Self {
            status: s.name().to_string(),
            diverged_at: s.diverged_at(),
            rule_unavailable: s.unavailable_reason().map(str::to_string),
        }
    }
}

impl TryFrom<StatusFields> for RunStatus {
    type Error = String;

    fn try_from(f: StatusFields) -> Result<Self, String> {
        Ok(
            match (f.status.as_str(), f.diverged_at, f.rule_unavailable) {
                ("converged", None, None) => Self::Converged,
                ("max_iters", None, None) => Self::MaxIters,
                ("stalled", None, None) => Self::Stalled,
                ("stopped", None, None) => Self::Stopped,
                ("diverged", Some(at), None) => Self::Diverged { at },
                ("rule_unavailable", None, Some(reason)) => Self::RuleUnavailable { reason },
                (s, at, why) => {
                    return Err(format!(
                    "status '{s}' with diverged_at {at:?} and rule_unavailable {why:?} is not a \
                     run outcome (expected converged, max_iters, stalled, stopped, diverged with \
                     its step, or rule_unavailable with its reason)"
                ))
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<RunStatus> {
        vec![
            RunStatus::Converged,
            RunStatus::MaxIters,
            RunStatus::Stalled,
            RunStatus::Diverged { at: 7 },
            RunStatus::RuleUnavailable {
                reason: "no step".into(),
            },
            RunStatus::Stopped,
        ]
    }

    #[test]
    fn json_keeps_the_three_field_layout_and_round_trips() {
        let expected = [
            r#"{"status":"converged","diverged_at":null,"rule_unavailable":null}"#,
            r#"{"status":"max_iters","diverged_at":null,"rule_unavailable":null}"#,
            r#"{"status":"stalled","diverged_at":null,"rule_unavailable":null}"#,
            r#"{"status":"diverged","diverged_at":7,"rule_unavailable":null}"#,
            r#"{"status":"rule_unavailable","diverged_at":null,"rule_unavailable":"no step"}"#,
            r#"{"status":"stopped","diverged_at":null,"rule_unavailable":null}"#,
        ];
        for (s, want) in all().into_iter().zip(expected) {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, want);
            assert_eq!(serde_json::from_str::<RunStatus>(&json).unwrap(), s);
        }
    }

    #[test]
    fn inconsistent_fields_are_refused() {
        for bad in [
            r#"{"status":"diverged","diverged_at":null,"rule_unavailable":null}"#,
            r#"{"status":"converged","diverged_at":3,"rule_unavailable":null}"#,
            r#"{"status":"rule_unavailable","diverged_at":null,"rule_unavailable":null}"#,
            r#"{"status":"running","diverged_at":null,"rule_unavailable":null}"#,
        ] {
            let e = serde_json::from_str::<RunStatus>(bad).unwrap_err();
            assert!(e.to_string().contains("is not a run outcome"), "{bad}: {e}");
        }
    }

    #[test]
    fn exit_codes_and_messages() {
        let codes: Vec<i32> = all().iter().map(RunStatus::exit_code).collect();
        assert_eq!(
            codes,
            [
                exit::OK,
                exit::OK,
                exit::OK,
                exit::DIVERGED,
                exit::RULE_UNAVAILABLE,
                exit::INTERRUPTED
            ]
        );
        assert_eq!(RunStatus::Converged.message(5, true), None);
        assert_eq!(RunStatus::Stopped.message(5, false), None);
        assert_eq!(
            RunStatus::Stopped.message(5, true).as_deref(),
            Some("interrupted after 5 iterations")
        );
        assert!(RunStatus::Diverged { at: 7 }
            .message(8, false)
            .unwrap()
            .starts_with("the run diverged at step 7 "));
        assert_eq!(
            RunStatus::Diverged { at: 7 }.to_string(),
            "diverged at step 7"
        );
    }
}
