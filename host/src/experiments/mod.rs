//! Standard experiments E1–E6 and `overlin reproduce` (placeholder; the
//! reproduce helper owns this module).

/// Arguments of `overlin reproduce` (issue 3).
#[derive(Clone, Debug, Default)]
pub struct ReproduceArgs {
    /// Seconds instead of minutes.
    pub quick: bool,
    /// Output folder (default `results/`).
    pub out: std::path::PathBuf,
    /// Seeds per configuration (default per experiment).
    pub seeds: Option<usize>,
    /// Only these experiments, e.g. `["E1", "E3"]`.
    pub only: Option<Vec<String>>,
    /// Worker threads (default: all cores).
    pub jobs: Option<usize>,
    /// Overwrite an existing output folder.
    pub force: bool,
}

/// Runs the standard experiments; returns the process exit code.
pub fn reproduce(args: &ReproduceArgs) -> crate::Result<i32> {
    let _ = args;
    Err(crate::Error::Input("reproduce: not yet built".into()))
}
