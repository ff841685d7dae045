//! `overlin sweep` and `overlin merge`: a grid of runs, one atomic file per
//! cell, resumable, shardable over machines, merged into one table.
//!
//! Folder layout of `--out DIR`:
//! - `DIR/sweep.json`: the manifest (canonical grid, its hash, cell count,
//!   the overlin version); a folder holding another grid, or made by
//!   another version, is refused.
//! - `DIR/cells/<index:06>-<id>.json`: one finished cell (parameters, grid
//!   hash, overlin version and [`RunResult`], or the one-line error that
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

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::problem::{Problem, ProblemSpec, RunResult, RunSpec};
use crate::{exit, Error, Result};

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
const LISTED: usize = 20;

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

/// A grid: the sorted keys and, per key, its values.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// Key → values (at least one each), keys sorted.
    pub axes: BTreeMap<String, Vec<Value>>,
}

/// One cell of a grid.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Position in the fixed cell order.
    pub index: usize,
    /// Stable hash of `params`.
    pub id: String,
    /// Every key of the grid with this cell's value.
    pub params: Map<String, Value>,
    /// The problem.
    pub problem: ProblemSpec,
    /// The run.
    pub run: RunSpec,
}

/// A finished cell as stored on disk.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CellFile {
    /// Position in the cell order.
    pub index: usize,
    /// Stable hash of `params`.
    pub id: String,
    /// Hash of the whole grid the cell belongs to (see [`Grid::hash`]).
    #[serde(default)]
    pub grid_hash: String,
    /// The overlin version that computed the cell.
    #[serde(default)]
    pub version: String,
    /// The cell's parameters.
    pub params: Map<String, Value>,
    /// The run's result, unless the cell could not be run.
    pub result: Option<RunResult>,
    /// Why the cell could not be run (its parameters are invalid, or the
    /// problem could not be built).
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Manifest {
    format: String,
    grid_hash: String,
    #[serde(default)]
    version: String,
    cells: usize,
    grid: Map<String, Value>,
}

/// What a folder's `sweep.json` holds.
enum ManifestState {
    Missing,
    Found(Manifest),
    /// Present but unreadable as a manifest; the detail says why.
    Corrupt(String),
}

const MANIFEST: &str = "sweep.json";
const CELLS: &str = "cells";
const FORMAT: &str = "overlin-sweep-2";

/// 64-bit FNV-1a of `bytes`, as 16 hex digits (stable across platforms and versions).
pub fn stable_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn keys_of<T: Serialize>(v: &T) -> Vec<String> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// The keys a grid may use: every [`ProblemSpec`] and [`RunSpec`] field
/// except `keep_records`.
pub fn known_keys() -> (Vec<String>, Vec<String>) {
    let p = keys_of(&ProblemSpec::default());
    let r = keys_of(&RunSpec::default())
        .into_iter()
        .filter(|k| k != "keep_records")
        .collect();
    (p, r)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Grid {
    /// Parses a TOML grid; `base` resolves relative file paths (`x`, `y`,
    /// `w1`, `w2`). Only the grid's shape is checked here (keys, lists, the
    /// cell count); each cell's values are checked when the cell is run.
    pub fn parse(text: &str, name: &str, base: &Path) -> Result<Self> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            Error::input(format!("{name}: invalid TOML: {}", one_line(e.message())))
        })?;
        let (pk, rk) = known_keys();
        let mut axes = BTreeMap::new();
        for (key, value) in table {
            if !pk.contains(&key) && !rk.contains(&key) {
                return Err(Error::input(format!(
                    "{name}: unknown key '{key}'; known keys: {}, {}",
                    pk.join(", "),
                    rk.join(", ")
                )));
            }
            let json = serde_json::to_value(&value)
                .map_err(|e| Error::input(format!("{name}: key '{key}': {e}")))?;
            let values = match json {
                Value::Array(list) => list,
                Value::Object(_) => {
                    return Err(Error::input(format!(
                        "{name}: key '{key}' is a table; give a value or a list of values"
                    )))
                }
                v => vec![v],
            };
            if values.is_empty() {
                return Err(Error::input(format!(
                    "{name}: key '{key}' has an empty list, so the grid has no cells"
                )));
            }
            let values = values
                .into_iter()
                .map(|v| resolve_path(&key, v, base))
                .collect();
            axes.insert(key, values);
        }
        let grid = Self { axes };
        if grid.len_checked().is_none() {
            return Err(Error::input(format!(
                "{name}: the grid has more cells than can be counted ({} values multiplied)",
                grid.axes
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.len()))
                    .collect::<Vec<_>>()
                    .join(" x ")
            )));
        }
        Ok(grid)
    }

    /// Rebuilds a grid from a manifest's canonical form.
    fn from_canonical(grid: &Map<String, Value>) -> Option<Self> {
        let mut axes = BTreeMap::new();
        for (k, v) in grid {
            match v {
                Value::Array(list) if !list.is_empty() => {
                    axes.insert(k.clone(), list.clone());
                }
                _ => return None,
            }
        }
        let g = Self { axes };
        g.len_checked().map(|_| g)
    }

    fn len_checked(&self) -> Option<usize> {
        self.axes
            .values()
            .try_fold(1usize, |n, v| n.checked_mul(v.len()))
    }

    /// Number of cells (saturating; [`Grid::parse`] refuses a grid whose
    /// count overflows).
    pub fn len(&self) -> usize {
        self.len_checked().unwrap_or(usize::MAX)
    }

    /// `true` when the grid has no cell.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Canonical JSON of the grid (sorted keys).
    pub fn canonical(&self) -> Map<String, Value> {
        self.axes
            .iter()
            .map(|(k, v)| (k.clone(), Value::Array(v.clone())))
            .collect()
    }

    /// Stable hash of the canonical grid: the identity of a sweep.
    pub fn hash(&self) -> String {
        stable_hash(Value::Object(self.canonical()).to_string().as_bytes())
    }

    /// The parameters of cell `index` (last key varies fastest).
    pub fn params(&self, index: usize) -> Map<String, Value> {
        let mut rest = index;
        let mut out = Map::new();
        for (k, vals) in self.axes.iter().rev() {
            let len = vals.len().max(1);
            let v = vals.get(rest % len).cloned().unwrap_or(Value::Null);
            rest /= len;
            out.insert(k.clone(), v);
        }
        out
    }

    /// The stable id of cell `index` (hash of its parameters).
    pub fn id(&self, index: usize) -> String {
        params_id(&self.params(index))
    }

    /// Cell `index`, with its problem and run parsed and validated.
    pub fn cell(&self, index: usize, name: &str) -> Result<Cell> {
        let params = self.params(index);
        let (problem, run) = parse_params(&params).map_err(|e| {
            Error::input(format!("{name}: cell {index} ({}): {e}", describe(&params)))
        })?;
        let id = params_id(&params);
        Ok(Cell {
            index,
            id,
            params,
            problem,
            run,
        })
    }
}

fn params_id(params: &Map<String, Value>) -> String {
    stable_hash(Value::Object(params.clone()).to_string().as_bytes())
}

/// A cell's problem and run from its parameters, validated.
fn parse_params(params: &Map<String, Value>) -> Result<(ProblemSpec, RunSpec)> {
    let (pk, _) = known_keys();
    let mut p = Map::new();
    let mut r = Map::new();
    for (k, v) in params {
        if pk.contains(k) {
            p.insert(k.clone(), v.clone());
        } else {
            r.insert(k.clone(), v.clone());
        }
    }
    // serde's message does not name the field: find the key that fails alone.
    let bad = |e: serde_json::Error, part: &Map<String, Value>, problem: bool| {
        let culprit = part.iter().find(|(k, v)| {
            let one = Value::Object(Map::from_iter([((*k).clone(), (*v).clone())]));
            if problem {
                serde_json::from_value::<ProblemSpec>(one).is_err()
            } else {
                serde_json::from_value::<RunSpec>(one).is_err()
            }
        });
        let msg = one_line(&e.to_string());
        Error::input(match culprit {
            Some((k, v)) => format!("{k} = {v}: {msg}"),
            None => msg,
        })
    };
    let problem: ProblemSpec =
        serde_json::from_value(Value::Object(p.clone())).map_err(|e| bad(e, &p, true))?;
    let run: RunSpec =
        serde_json::from_value(Value::Object(r.clone())).map_err(|e| bad(e, &r, false))?;
    problem.validate()?;
    run.validate()?;
    Ok((problem, run))
}

fn resolve_path(key: &str, v: Value, base: &Path) -> Value {
    match (key, &v) {
        ("x" | "y" | "w1" | "w2", Value::String(s)) => {
            let p = Path::new(s);
            if p.is_relative() {
                Value::String(base.join(p).display().to_string())
            } else {
                v
            }
        }
        _ => v,
    }
}

fn describe(params: &Map<String, Value>) -> String {
    params
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn cell_name(index: usize, id: &str) -> String {
    format!("{index:06}-{id}.json")
}

fn cell_path(dir: &Path, index: usize, id: &str) -> PathBuf {
    dir.join(CELLS).join(cell_name(index, id))
}

/// `(index, id)` from a cell file name, `None` for any other name.
fn parse_cell_name(name: &str) -> Option<(usize, &str)> {
    let stem = name.strip_suffix(".json")?;
    let (index, id) = stem.split_once('-')?;
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((index.parse().ok()?, id))
}

fn read_cell(path: &Path) -> Result<CellFile> {
    let text = crate::io::read_input_text(path, MAX_CELL_BYTES)?;
    serde_json::from_str(&text).map_err(|e| {
        Error::input(format!(
            "{}: not a valid cell file ({}); rerun the sweep to recompute it",
            path.display(),
            one_line(&e.to_string())
        ))
    })
}

fn read_manifest(dir: &Path) -> Result<ManifestState> {
    let p = dir.join(MANIFEST);
    match std::fs::symlink_metadata(&p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ManifestState::Missing),
        _ => {}
    }
    let text = match crate::io::read_input_text(&p, MAX_GRID_BYTES) {
        Ok(t) => t,
        // Not UTF-8 is damage like any other.
        Err(Error::Input(m)) if m.contains("not UTF-8") => {
            return Ok(ManifestState::Corrupt("not UTF-8 text".into()))
        }
        Err(e) => return Err(e),
    };
    let m: Manifest = match serde_json::from_str(&text) {
        Ok(m) => m,
        Err(e) => return Ok(ManifestState::Corrupt(one_line(&e.to_string()))),
    };
    match Grid::from_canonical(&m.grid) {
        Some(g) if g.hash() == m.grid_hash && g.len() == m.cells => Ok(ManifestState::Found(m)),
        _ => Ok(ManifestState::Corrupt(
            "its grid does not match its hash or cell count".into(),
        )),
    }
}

/// Whether `dir` holds anything but what a starting sweep puts there (a
/// `cells` folder, hidden temporary files): another shard may be creating
/// the same folder at this moment.
fn has_foreign_entries(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(|e| e.ok()).any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name != CELLS && name != MANIFEST && !name.starts_with(".overlin-tmp-")
    })
}

/// Creates or checks `dir` as the folder of `grid`. Several processes may
/// do this at once on the same folder (shards of one job array): the
/// manifest is written without replacing one that appeared meanwhile, and
/// one that did is accepted when it is of the same grid and version.
fn prepare_dir(dir: &Path, grid: &Grid, force: bool) -> Result<()> {
    let hash = grid.hash();
    let manifest = Manifest {
        format: FORMAT.into(),
        grid_hash: hash.clone(),
        version: VERSION.into(),
        cells: grid.len(),
        grid: grid.canonical(),
    };
    if dir.exists() && !dir.is_dir() {
        return Err(Error::input(format!(
            "{} exists and is not a folder",
            dir.display()
        )));
    }
    let ours = |m: &Manifest| m.grid_hash == hash && m.version == VERSION;
    match read_manifest(dir)? {
        ManifestState::Found(m) if ours(&m) => {}
        ManifestState::Found(m) if !force => {
            return Err(Error::input(if m.grid_hash != hash {
                format!(
                    "{} holds a sweep of another grid; use another --out (or --force to start over)",
                    dir.display()
                )
            } else {
                format!(
                    "{} holds a sweep made by overlin {}, this is overlin {VERSION}; \
                     their cells would not merge: use another --out (or --force to start over)",
                    dir.display(),
                    if m.version.is_empty() {
                        "< 0.1.0"
                    } else {
                        &m.version
                    }
                )
            }))
        }
        ManifestState::Corrupt(why) if !force => {
            return Err(Error::input(format!(
                "{}: the sweep manifest is corrupted ({why}); rerun with --force to start this \
                 folder over (its finished cells are recomputed), or use another --out",
                dir.join(MANIFEST).display()
            )))
        }
        ManifestState::Found(_) | ManifestState::Corrupt(_) => {
            // --force on a folder of another grid or a damaged one: drop its cells.
            let _ = std::fs::remove_dir_all(dir.join(CELLS));
            crate::output::write_json(&dir.join(MANIFEST), true, &manifest)?;
        }
        ManifestState::Missing => {
            if has_foreign_entries(dir) && !force {
                return Err(Error::input(format!(
                    "{} already exists and is not a sweep folder; pass --force to use it anyway",
                    dir.display()
                )));
            }
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::input(format!("{}: cannot create folder: {e}", dir.display()))
            })?;
            if let Err(e) = crate::output::write_json(&dir.join(MANIFEST), false, &manifest) {
                // Another shard wrote it first: fine if it is the same.
                match read_manifest(dir)? {
                    ManifestState::Found(m) if ours(&m) => {}
                    _ => return Err(e),
                }
            }
        }
    }
    std::fs::create_dir_all(dir.join(CELLS))
        .map_err(|e| Error::input(format!("{}: cannot create folder: {e}", dir.display())))?;
    Ok(())
}

/// Counts of a sweep's cells, and the first few problem cells by index.
#[derive(Default)]
struct Tally {
    finished: usize,
    already: usize,
    not_run: usize,
    diverged: usize,
    failed: usize,
    violated: usize,
    unavailable: usize,
    /// Checked steps of every finished cell by class (THEORY §11).
    classes: crate::problem::Classes,
    /// Up to [`LISTED`] lines about problem cells, by index.
    listed: BTreeMap<usize, Vec<String>>,
    /// Problem cells beyond those listed.
    unlisted: usize,
}

impl Tally {
    fn count(&mut self, f: &CellFile, now: bool) {
        if now {
            self.finished += 1;
        } else {
            self.already += 1;
        }
        let mut lines = Vec::new();
        let label = || describe(&f.params);
        if let Some(r) = &f.result {
            self.classes.add(&r.tally.classes);
            if r.violated() {
                self.violated += 1;
                lines.push(format!(
                    "!!! CERTIFICATE VIOLATED in cell {} ({}): {} of {} steps, worst measured/bound ratio {:.6}; {}",
                    f.index,
                    label(),
                    r.tally.violations,
                    r.tally.steps_checked,
                    r.tally.worst_ratio,
                    r.tally.classes.text()
                ));
            }
            if r.status == "diverged" {
                self.diverged += 1;
            }
            if r.status == "rule_unavailable" {
                self.unavailable += 1;
                lines.push(format!(
                    "overlin: cell {} ({}): the rule does not apply: {}",
                    f.index,
                    label(),
                    r.rule_unavailable.as_deref().unwrap_or("it gives no step")
                ));
            }
        }
        if let Some(e) = &f.error {
            self.failed += 1;
            lines.push(format!("overlin: cell {} ({}): {e}", f.index, label()));
        }
        if lines.is_empty() {
            return;
        }
        self.listed.insert(f.index, lines);
        if self.listed.len() > LISTED {
            self.listed.pop_last();
            self.unlisted += 1;
        }
    }
}

/// Runs one cell; `None` when it was interrupted (nothing to keep).
fn run_cell(grid: &Grid, grid_hash: &str, index: usize) -> Option<CellFile> {
    let params = grid.params(index);
    let mut file = CellFile {
        index,
        id: params_id(&params),
        grid_hash: grid_hash.to_string(),
        version: VERSION.into(),
        params,
        result: None,
        error: None,
    };
    let outcome = parse_params(&file.params)
        .and_then(|(problem, run)| Problem::build(&problem).and_then(|p| p.run(&run, &mut ())));
    match outcome {
        Ok(res) => {
            if res.status == "stopped" {
                return None;
            }
            file.result = Some(res);
        }
        Err(Error::Interrupted) => return None,
        Err(e) => file.error = Some(e.to_string()),
    }
    Some(file)
}

/// Runs `overlin sweep`; returns the exit code.
pub fn sweep(args: &SweepArgs) -> Result<i32> {
    let name = args.grid.display().to_string();
    let text = crate::io::read_input_text(&args.grid, MAX_GRID_BYTES)?;
    let base = args
        .grid
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let grid = Grid::parse(&text, &name, &base)?;
    let threads = crate::resources::worker_threads(args.jobs)?;
    let total = grid.len();
    let limit = args.max_cells.unwrap_or(DEFAULT_MAX_CELLS);
    if total > limit {
        return Err(Error::input(format!(
            "{name}: the grid has {total} cells, more than the limit of {limit}; \
             pass --max-cells {total} to run it anyway (each cell writes a file of about 2 KB)"
        )));
    }
    // A grid none of whose cells can run is refused before any output; in
    // any other grid a bad cell is recorded as failed and the others run.
    // The scan stops at the first valid cell (almost always cell 0).
    if !(0..total).any(|i| grid.cell(i, &name).is_ok()) {
        return Err(match grid.cell(0, &name) {
            Err(e) => e,
            Ok(_) => Error::input(format!("{name}: the grid has no cells")),
        });
    }
    prepare_dir(&args.out, &grid, args.force)?;
    let shard = args.shard.unwrap_or(Shard { index: 1, count: 1 });
    let count = shard.len_of(total);
    let grid_hash = grid.hash();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Internal(format!("thread pool: {e}")))?;
    let pb = crate::cmd_run::progress_bar(count as u64, "sweep");
    let tally = Mutex::new(Tally::default());
    let write_error: Mutex<Option<Error>> = Mutex::new(None);
    let stop = AtomicBool::new(false);
    let add = |f: &CellFile, now: bool| {
        if let Ok(mut t) = tally.lock() {
            t.count(f, now);
        }
    };
    let not_run = || {
        if let Ok(mut t) = tally.lock() {
            t.not_run += 1;
        }
    };
    pool.install(|| {
        (0..count).into_par_iter().for_each(|j| {
            if crate::interrupted() || stop.load(Ordering::Relaxed) {
                not_run();
                return;
            }
            let index = shard.nth(j);
            let path = cell_path(&args.out, index, &grid.id(index));
            // Cells finished by an earlier invocation count towards the
            // exit code and the summary as much as the ones run now.
            if !args.force {
                if let Ok(f) = read_cell(&path) {
                    if f.result.is_some() && f.index == index {
                        add(&f, false);
                        pb.inc(1);
                        return;
                    }
                }
            }
            let Some(file) = run_cell(&grid, &grid_hash, index) else {
                not_run();
                return;
            };
            // A cell finished before the signal was seen is whole: kept.
            // No sync per cell (it would cost more than the cell on a busy
            // disk): the folder is flushed once at the end, and a cell file
            // an OS crash cut short does not parse, so a rerun recomputes it.
            if let Err(e) = crate::output::write_json_unsynced(&path, true, &file) {
                stop.store(true, Ordering::Relaxed);
                if let Ok(mut w) = write_error.lock() {
                    w.get_or_insert(e);
                }
                not_run();
                return;
            }
            add(&file, true);
            pb.inc(1);
        })
    });
    pb.finish_and_clear();
    if let Some(e) = write_error.into_inner().ok().flatten() {
        return Err(e);
    }
    crate::output::sync_folder(&args.out.join(CELLS))?;
    let t = tally
        .into_inner()
        .map_err(|_| Error::Internal("sweep tally poisoned".into()))?;
    for line in t.listed.values().flatten() {
        eprintln!("{line}");
    }
    if t.unlisted > 0 {
        eprintln!(
            "overlin: {} more cells with a problem are not listed (`overlin merge` tables them all)",
            t.unlisted
        );
    }
    let shard_text = args
        .shard
        .map(|s| format!(" (shard {}/{})", s.index, s.count))
        .unwrap_or_default();
    eprintln!(
        "sweep: {count} cells{shard_text}: {} finished now, {} already done, {} not run; \
         of all finished, {} diverged, {} could not be run, {} where the rule does not apply, \
         {} with certificate violations; folder {}",
        t.finished,
        t.already,
        t.not_run,
        t.diverged,
        t.failed,
        t.unavailable,
        t.violated,
        args.out.display()
    );
    eprintln!(
        "sweep: steps of all finished cells by class: {}",
        t.classes.text()
    );
    Ok(if crate::interrupted() || t.not_run > 0 {
        eprintln!("overlin: interrupted; rerun the same command to resume");
        exit::INTERRUPTED
    } else if t.violated > 0 {
        exit::VIOLATION
    } else if t.failed > 0 {
        exit::INPUT
    } else if t.diverged > 0 {
        exit::DIVERGED
    } else if t.unavailable > 0 {
        exit::RULE_UNAVAILABLE
    } else {
        exit::OK
    })
}

/// Result columns of the merged table, after `index`, `id` and the grid keys.
pub const MERGED_RESULT_COLUMNS: [&str; 27] = [
    "status",
    "error",
    "iterations",
    "initial_gap",
    "final_gap",
    "steps_checked",
    "violations",
    "worst_ratio",
    "certified",
    "trivial",
    "below_resolution",
    "descent_only",
    "non_finite",
    "imbalance_violations",
    "diverged_at",
    "achieved_rate",
    "alpha0",
    "beta0",
    "alpha0_over_beta0",
    "mu",
    "k",
    "l_star",
    "apriori_certified",
    "eta_bar",
    "rho_bar",
    "iterations_to_tol",
    "apriori_reason",
];

/// Shortest round-trip text of `x` (`5.0e-32`, not 32 zeros); `NaN`, `inf` as such.
fn num(x: f64) -> String {
    if x.is_finite() {
        serde_json::to_string(&x).unwrap_or_else(|_| format!("{x:e}"))
    } else {
        format!("{x}")
    }
}

fn result_fields(f: &CellFile) -> Vec<String> {
    let e = String::new;
    match &f.result {
        None => {
            let mut v = vec!["error".to_string(), f.error.clone().unwrap_or_default()];
            v.resize(MERGED_RESULT_COLUMNS.len(), String::new());
            v
        }
        Some(r) => {
            let o = |x: Option<f64>| x.map(num).unwrap_or_else(e);
            vec![
                r.status.clone(),
                r.rule_unavailable.clone().unwrap_or_default(),
                r.iterations.to_string(),
                num(r.initial_gap),
                num(r.final_gap),
                r.tally.steps_checked.to_string(),
                r.tally.violations.to_string(),
                num(r.tally.worst_ratio),
                r.tally.classes.certified.to_string(),
                r.tally.classes.trivial.to_string(),
                r.tally.classes.below_resolution.to_string(),
                r.tally.classes.descent_only.to_string(),
                r.tally.classes.non_finite.to_string(),
                r.tally.imbalance_violations.to_string(),
                r.diverged_at.map(|v| v.to_string()).unwrap_or_default(),
                o(r.achieved_rate),
                num(r.alpha0),
                num(r.beta0),
                num(r.alpha0_over_beta0),
                num(r.constants.mu),
                num(r.constants.k),
                num(r.constants.l_star),
                r.apriori.certified.to_string(),
                o(r.apriori.eta_bar),
                o(r.apriori.rho_bar),
                r.apriori
                    .iterations_to_tol
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                r.apriori.reason.clone().unwrap_or_default(),
            ]
        }
    }
}

fn param_field(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The sweep folders `dirs` of one grid, checked against each other: their
/// manifest, the grid it describes, and every cell file by index (in the
/// first folder that has it), sorted. Only file names are held, not cells.
struct Shards {
    manifest: Manifest,
    grid: Grid,
    /// `(index, folder)` of each cell file, sorted, one per index.
    files: Vec<(usize, usize)>,
}

impl Shards {
    fn open(dirs: &[PathBuf]) -> Result<Self> {
        let mut first: Option<(Manifest, PathBuf)> = None;
        let mut files: Vec<(usize, usize, String)> = Vec::new();
        for (d, dir) in dirs.iter().enumerate() {
            let m = match read_manifest(dir)? {
                ManifestState::Found(m) => m,
                ManifestState::Missing => {
                    return Err(Error::input(format!(
                        "{}: not a sweep folder (no {MANIFEST})",
                        dir.display()
                    )))
                }
                ManifestState::Corrupt(why) => {
                    return Err(Error::input(format!(
                    "{}: the sweep manifest is corrupted ({why}); rerun `overlin sweep` on this \
                         folder with its grid and --force, or leave the folder out of the merge",
                    dir.join(MANIFEST).display()
                )))
                }
            };
            match &first {
                Some((f, fdir)) if f.grid_hash != m.grid_hash => {
                    return Err(Error::input(format!(
                        "{} and {} hold sweeps of different grids",
                        fdir.display(),
                        dir.display()
                    )))
                }
                Some((f, fdir)) if f.version != m.version => {
                    return Err(Error::input(format!(
                        "{} was made by overlin {} and {} by overlin {}; rerun one of them with \
                         the other's version (--force) so that all cells come from one version",
                        fdir.display(),
                        f.version,
                        dir.display(),
                        m.version
                    )))
                }
                Some(_) => {}
                None => first = Some((m.clone(), dir.clone())),
            }
            let cdir = dir.join(CELLS);
            let Ok(entries) = std::fs::read_dir(&cdir) else {
                continue;
            };
            for e in entries {
                let e =
                    e.map_err(|e| Error::input(format!("{}: cannot list: {e}", cdir.display())))?;
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') || !name.ends_with(".json") {
                    continue;
                }
                let Some((index, id)) = parse_cell_name(&name) else {
                    return Err(Error::input(format!(
                        "{}: not a cell file name (<index>-<id>.json); move it out of the folder",
                        cdir.join(&*name).display()
                    )));
                };
                files.push((index, d, id.to_string()));
            }
        }
        let (manifest, _) =
            first.ok_or_else(|| Error::input("merge needs at least one sweep folder"))?;
        let grid = Grid::from_canonical(&manifest.grid)
            .ok_or_else(|| Error::Internal("manifest grid checked when read".into()))?;
        files.sort_unstable();
        let mut unique: Vec<(usize, usize)> = Vec::with_capacity(files.len());
        for (index, d, id) in &files {
            let path = || {
                let dir = dirs.get(*d).map(PathBuf::as_path).unwrap_or(Path::new("."));
                cell_path(dir, *index, id)
            };
            if *index >= manifest.cells {
                return Err(Error::input(format!(
                    "{}: cell {index} is beyond the grid's {} cells; move it out of the folder",
                    path().display(),
                    manifest.cells
                )));
            }
            if *id != grid.id(*index) {
                return Err(Error::input(format!(
                    "{}: cell {index} has parameters that differ from the grid's; \
                     move it out of the folder",
                    path().display()
                )));
            }
            // The same cell in several folders (a rerun shard): one kept.
            if unique.last().is_none_or(|&(i, _)| i != *index) {
                unique.push((*index, *d));
            }
        }
        Ok(Self {
            manifest,
            grid,
            files: unique,
        })
    }
}

/// Runs `overlin merge`; returns the exit code.
pub fn merge(args: &MergeArgs) -> Result<i32> {
    let shards = Shards::open(&args.dirs)?;
    let total = shards.manifest.cells;
    let missing_count = total - shards.files.len();
    // The first few missing indices, found by walking the sorted files.
    let mut missing: Vec<usize> = Vec::new();
    let mut next = 0usize;
    for &(index, _) in shards.files.iter().chain(std::iter::once(&(total, 0))) {
        while next < index && missing.len() < 10 {
            missing.push(next);
            next += 1;
        }
        next = index + 1;
        if missing.len() >= 10 {
            break;
        }
    }
    if missing_count > 0 && !args.partial {
        let shown: Vec<String> = missing.iter().map(|i| i.to_string()).collect();
        return Err(Error::input(format!(
            "{missing_count} of {total} cells are missing (e.g. {}{}); run the missing shards or pass --partial",
            shown.join(", "),
            if missing_count > shown.len() { ", ..." } else { "" }
        )));
    }
    let out = args
        .out
        .clone()
        .or_else(|| args.dirs.first().cloned())
        .unwrap_or_else(|| PathBuf::from("."));
    let csv_path = out.join("merged.csv");
    let json_path = out.join("merged.json");
    crate::output::check_new(&csv_path, args.force)?;
    crate::output::check_new(&json_path, args.force)?;
    std::fs::create_dir_all(&out)
        .map_err(|e| Error::input(format!("{}: cannot create folder: {e}", out.display())))?;

    let keys: Vec<String> = shards.manifest.grid.keys().cloned().collect();
    let mut csv_file = crate::output::AtomicFile::create(&csv_path, args.force)?;
    let mut json_file = crate::output::AtomicFile::create(&json_path, args.force)?;
    let csv_err =
        |e: csv::Error| Error::input(format!("{}: cannot write: {e}", csv_path.display()));
    let json_err =
        |e: serde_json::Error| Error::input(format!("{}: cannot write: {e}", json_path.display()));
    let mut violated = 0usize;
    {
        let mut w = csv::Writer::from_writer(&mut csv_file);
        let mut header: Vec<String> = vec!["index".into(), "id".into()];
        header.extend(keys.iter().cloned());
        header.extend(MERGED_RESULT_COLUMNS.iter().map(|s| s.to_string()));
        w.write_record(&header).map_err(csv_err)?;
        // Streamed row by row: the same bytes `to_string_pretty` gives for
        // the whole array, without holding it.
        let mut ser = serde_json::Serializer::with_formatter(
            &mut json_file,
            serde_json::ser::PrettyFormatter::new(),
        );
        let mut seq = ser.serialize_seq(None).map_err(json_err)?;
        for &(index, d) in &shards.files {
            if crate::interrupted() {
                return Err(Error::Interrupted);
            }
            let dir = args
                .dirs
                .get(d)
                .map(PathBuf::as_path)
                .unwrap_or(Path::new("."));
            let path = cell_path(dir, index, &shards.grid.id(index));
            let mut f = read_cell(&path)?;
            if f.index != index || f.id != shards.grid.id(index) {
                return Err(Error::input(format!(
                    "{}: holds cell {} ({}), not the cell its name says; remove it and rerun the sweep",
                    path.display(),
                    f.index,
                    f.id
                )));
            }
            if f.grid_hash != shards.manifest.grid_hash {
                return Err(Error::input(format!(
                    "{}: the cell is of another grid (hash {}, the folder's is {}); \
                     remove it and rerun the sweep",
                    path.display(),
                    if f.grid_hash.is_empty() {
                        "none"
                    } else {
                        &f.grid_hash
                    },
                    shards.manifest.grid_hash
                )));
            }
            if f.version != shards.manifest.version {
                return Err(Error::input(format!(
                    "{}: the cell was made by overlin {}, the sweep by overlin {}; \
                     remove it and rerun the sweep so that all cells come from one version",
                    path.display(),
                    if f.version.is_empty() {
                        "< 0.1.0"
                    } else {
                        &f.version
                    },
                    shards.manifest.version
                )));
            }
            if f.result.as_ref().is_some_and(|r| r.violated()) {
                violated += 1;
            }
            let mut rec = vec![f.index.to_string(), f.id.clone()];
            rec.extend(keys.iter().map(|k| param_field(f.params.get(k))));
            rec.extend(result_fields(&f));
            w.write_record(&rec).map_err(csv_err)?;
            if let Some(r) = f.result.as_mut() {
                // Wall time depends on the machine and on --jobs: not part of the table.
                r.wall_time_s = 0.0;
            }
            let mut v = serde_json::to_value(&f).map_err(|e| Error::Internal(e.to_string()))?;
            if let Some(Value::Object(r)) = v.get_mut("result") {
                r.remove("wall_time_s");
            }
            seq.serialize_element(&v).map_err(json_err)?;
        }
        seq.end().map_err(json_err)?;
        w.flush()
            .map_err(|e| Error::input(format!("{}: cannot write: {e}", csv_path.display())))?;
    }
    json_file
        .write_all(b"\n")
        .map_err(|e| Error::input(format!("{}: cannot write: {e}", json_path.display())))?;
    csv_file.commit()?;
    json_file.commit()?;
    if missing_count > 0 {
        eprintln!("merge: {missing_count} of {total} cells missing (merged anyway with --partial)");
    }
    if violated > 0 {
        eprintln!("!!! CERTIFICATE VIOLATED in {violated} cells (see the violations column)");
    }
    eprintln!(
        "merge: {} cells -> {} and {}",
        shards.files.len(),
        csv_path.display(),
        json_path.display()
    );
    Ok(if violated > 0 {
        exit::VIOLATION
    } else {
        exit::OK
    })
}
