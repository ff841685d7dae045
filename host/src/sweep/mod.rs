//! `overlin sweep` and `overlin merge`: a grid of runs, one atomic file per
//! cell, resumable, shardable over machines, merged into one table.
//!
//! Folder layout of `--out DIR`:
//! - `DIR/sweep.json`: the manifest (canonical grid, its hash, cell count,
//!   the overlin version); a folder holding another grid, or made by
//!   another version, is refused.
//! - `DIR/cells/<index:06>-<id>.json`: one finished cell (parameters, grid
//!   hash, overlin version and [`RunResult`](crate::problem::RunResult), or the one-line error that
//!   prevented running it). `id` is a stable hash of the cell's parameters.
//!   A rerun skips every cell whose result file exists (a cell that failed
//!   is tried again); an interrupted cell leaves no file.
//!
//! Cell order is fixed: keys sorted by name, the cartesian product with the
//! last key varying fastest. Results do not depend on `--jobs` (every run
//! is single-threaded and deterministic); wall times, which do, are kept in
//! the cell files but left out of the merged table.
//!
//! Nothing holds all cells at once: `sweep` computes each cell's parameters
//! from its index when a worker takes it, and `merge` streams the cell
//! files into the table in index order. Memory stays flat in the number of
//! cells and no step is worse than `n log n` (the sort of file names).

mod cells;
mod grid;
mod merge;
mod run;

pub use cells::CellFile;
pub use grid::{known_keys, stable_hash, Cell, Grid};
pub use merge::{merge, MERGED_RESULT_COLUMNS};
pub use run::sweep;

use std::path::PathBuf;
use std::str::FromStr;

use crate::{Error, Result};

/// The overlin version recorded in every manifest and cell file; `merge`
/// refuses to mix cells of different versions.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Grids larger than this are refused unless `--max-cells` raises the limit:
/// every cell writes a file of about 2 KB, so a million cells is about 2 GB
/// and a million inodes, more than a grid typed by hand is meant to produce.
pub const DEFAULT_MAX_CELLS: usize = 1_000_000;

/// Largest grid or manifest file read (a grid listing 10⁵ seeds is under
/// 1 MiB); anything larger is not a grid typed or generated on purpose.
pub const MAX_GRID_BYTES: u64 = 16 << 20;

/// Largest cell file read by a resume or `merge` (cells are about 2 KB).
pub const MAX_CELL_BYTES: u64 = 1 << 20;

/// How many problem cells (violated, failed, rule unavailable) are listed
/// one per line; the rest are counted (the merged table has them all).
pub(super) const LISTED: usize = 20;

/// `overlin sweep` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct SweepArgs {
    /// Grid file (TOML): problem and run fields, each a value or a list.
    #[arg(long)]
    pub grid: PathBuf,
    /// Output folder (created; an existing one of the same grid is resumed).
    #[arg(long)]
    pub out: PathBuf,
    /// Run only shard I of K (1-based): the cells whose index is I-1 mod K.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Worker threads [default: all cores]. Results do not depend on it.
    #[arg(long, allow_negative_numbers = true)]
    pub jobs: Option<usize>,
    /// Recompute cells that are already finished.
    #[arg(long)]
    pub force: bool,
    /// Accept grids of up to this many cells [default: 1000000].
    #[arg(long)]
    pub max_cells: Option<usize>,
}

/// `overlin merge` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct MergeArgs {
    /// Sweep folders (shards) of one grid.
    #[arg(required = true, num_args = 1..)]
    pub dirs: Vec<PathBuf>,
    /// Folder for merged.csv and merged.json [default: the first DIR].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Merge even when some cells are missing (they are listed on stderr).
    #[arg(long)]
    pub partial: bool,
    /// Overwrite existing merged.csv / merged.json.
    #[arg(long)]
    pub force: bool,
}

/// Shard `I/K` (1-based `I`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// `I`, 1-based.
    pub index: usize,
    /// `K`.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::input(format!("--shard must be I/K with 1 <= I <= K, got '{s}'"));
        let (i, k) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = k.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl Shard {
    /// Whether cell `i` (0-based) belongs to this shard.
    pub fn contains(&self, i: usize) -> bool {
        i % self.count == self.index - 1
    }

    /// How many of the cells `0..total` belong to this shard.
    pub fn len_of(&self, total: usize) -> usize {
        let first = self.index - 1;
        if total <= first {
            0
        } else {
            (total - first).div_ceil(self.count)
        }
    }

    /// The `j`-th cell index (0-based) of this shard.
    pub fn nth(&self, j: usize) -> usize {
        j * self.count + (self.index - 1)
    }
}
