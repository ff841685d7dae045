//! `overlin sweep` and `overlin merge`: a grid of runs, one atomic file per
//! cell, resumable, shardable over machines, merged into one table.
//!
//! Folder layout of `--out DIR`:
//! - `DIR/sweep.json`: the manifest (canonical grid, its hash, cell count);
//!   a folder holding another grid is refused.
//! - `DIR/cells/<index:06>-<id>.json`: one finished cell (parameters and
//!   [`RunResult`], or the one-line error that prevented building it).
//!   `id` is a stable hash of the cell's parameters. A rerun skips every
//!   cell whose file exists; an interrupted cell leaves no file.
//!
//! Cell order is fixed: keys sorted by name, the cartesian product with the
//! last key varying fastest. Results do not depend on `--jobs` (every run
//! is single-threaded and deterministic); wall times, which do, are kept in
//! the cell files but left out of the merged table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::problem::{Problem, ProblemSpec, RunResult, RunSpec};
use crate::{exit, Error, Result};

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
    /// The cell's parameters.
    pub params: Map<String, Value>,
    /// The run's result, unless the problem could not be built.
    pub result: Option<RunResult>,
    /// Why the problem could not be built.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Manifest {
    format: String,
    grid_hash: String,
    cells: usize,
    grid: Map<String, Value>,
}

const MANIFEST: &str = "sweep.json";
const CELLS: &str = "cells";
const MAX_CELLS: usize = 10_000_000;

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
    /// `w1`, `w2`).
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
        let n = grid.len_checked().ok_or_else(|| {
            Error::input(format!("{name}: the grid has more than {MAX_CELLS} cells"))
        })?;
        if n == 0 {
            return Err(Error::input(format!("{name}: the grid has no cells")));
        }
        Ok(grid)
    }

    fn len_checked(&self) -> Option<usize> {
        let mut n: usize = 1;
        for v in self.axes.values() {
            n = n.checked_mul(v.len())?;
            if n > MAX_CELLS {
                return None;
            }
        }
        Some(n)
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.len_checked().unwrap_or(0)
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

    /// Cell `index`, with its problem and run parsed and validated.
    pub fn cell(&self, index: usize, name: &str) -> Result<Cell> {
        let params = self.params(index);
        let (pk, _) = known_keys();
        let mut p = Map::new();
        let mut r = Map::new();
        for (k, v) in &params {
            if pk.contains(k) {
                p.insert(k.clone(), v.clone());
            } else {
                r.insert(k.clone(), v.clone());
            }
        }
        let label = || describe(&params);
        let problem: ProblemSpec = serde_json::from_value(Value::Object(p)).map_err(|e| {
            Error::input(format!(
                "{name}: cell {index} ({}): {}",
                label(),
                one_line(&e.to_string())
            ))
        })?;
        let run: RunSpec = serde_json::from_value(Value::Object(r)).map_err(|e| {
            Error::input(format!(
                "{name}: cell {index} ({}): {}",
                label(),
                one_line(&e.to_string())
            ))
        })?;
        problem
            .validate()
            .and_then(|_| run.validate())
            .map_err(|e| Error::input(format!("{name}: cell {index} ({}): {e}", label())))?;
        let id = stable_hash(Value::Object(params.clone()).to_string().as_bytes());
        Ok(Cell {
            index,
            id,
            params,
            problem,
            run,
        })
    }
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

fn cell_path(dir: &Path, index: usize, id: &str) -> PathBuf {
    dir.join(CELLS).join(format!("{index:06}-{id}.json"))
}

fn read_cell(path: &Path) -> Option<CellFile> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let p = dir.join(MANIFEST);
    if !p.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&p)
        .map_err(|e| Error::input(format!("{}: cannot read: {e}", p.display())))?;
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Error::input(format!(
            "{}: not a sweep manifest: {}",
            p.display(),
            one_line(&e.to_string())
        ))
    })
}

/// Creates or checks `dir` as the folder of `grid`.
fn prepare_dir(dir: &Path, grid: &Grid, force: bool) -> Result<()> {
    let canonical = grid.canonical();
    let hash = stable_hash(Value::Object(canonical.clone()).to_string().as_bytes());
    let manifest = Manifest {
        format: "overlin-sweep-1".into(),
        grid_hash: hash.clone(),
        cells: grid.len(),
        grid: canonical,
    };
    if dir.exists() && !dir.is_dir() {
        return Err(Error::input(format!(
            "{} exists and is not a folder",
            dir.display()
        )));
    }
    match read_manifest(dir)? {
        Some(m) if m.grid_hash == hash => {}
        Some(_) if !force => {
            return Err(Error::input(format!(
                "{} holds a sweep of another grid; use another --out (or --force to start over)",
                dir.display()
            )))
        }
        other => {
            let non_empty = dir.is_dir()
                && std::fs::read_dir(dir)
                    .map(|mut it| it.next().is_some())
                    .unwrap_or(false);
            if other.is_none() && non_empty && !force {
                return Err(Error::input(format!(
                    "{} already exists and is not a sweep folder; pass --force to use it anyway",
                    dir.display()
                )));
            }
            if other.is_some() {
                // --force on a folder of another grid: drop its cells.
                let _ = std::fs::remove_dir_all(dir.join(CELLS));
            }
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::input(format!("{}: cannot create folder: {e}", dir.display()))
            })?;
            crate::output::write_json(&dir.join(MANIFEST), true, &manifest)?;
        }
    }
    std::fs::create_dir_all(dir.join(CELLS))
        .map_err(|e| Error::input(format!("{}: cannot create folder: {e}", dir.display())))?;
    Ok(())
}

enum Outcome {
    Skipped,
    Done(Box<CellFile>),
    Interrupted,
}

fn run_cell(cell: &Cell) -> Option<CellFile> {
    let mut file = CellFile {
        index: cell.index,
        id: cell.id.clone(),
        params: cell.params.clone(),
        result: None,
        error: None,
    };
    match Problem::build(&cell.problem).and_then(|p| p.run(&cell.run, &mut ())) {
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
    let text = std::fs::read_to_string(&args.grid).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::input(format!("{name}: file not found")),
        _ => Error::input(format!("{name}: cannot read: {e}")),
    })?;
    let base = args
        .grid
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let grid = Grid::parse(&text, &name, &base)?;
    if args.jobs == Some(0) {
        return Err(Error::input("--jobs must be at least 1"));
    }
    // Parse and validate every cell before running any.
    let total = grid.len();
    let mut cells = Vec::new();
    for i in 0..total {
        if args.shard.is_none_or(|s| s.contains(i)) {
            cells.push(grid.cell(i, &name)?);
        }
    }
    prepare_dir(&args.out, &grid, args.force)?;
    // Cells finished by an earlier invocation count towards the exit code
    // and the summary as much as the ones run now.
    let mut earlier: Vec<CellFile> = Vec::new();
    let mut todo: Vec<&Cell> = Vec::new();
    for c in &cells {
        match read_cell(&cell_path(&args.out, c.index, &c.id)) {
            Some(f) if !args.force && f.id == c.id => earlier.push(f),
            _ => todo.push(c),
        }
    }
    let already = earlier.len();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .map_err(|e| Error::Internal(format!("thread pool: {e}")))?;
    let pb = crate::cmd_run::progress_bar(todo.len() as u64, "sweep");
    let done = AtomicUsize::new(0);
    let write_errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let outcomes: Vec<Outcome> = pool.install(|| {
        todo.par_iter()
            .map(|cell| {
                if crate::interrupted() {
                    return Outcome::Interrupted;
                }
                let Some(file) = run_cell(cell) else {
                    return Outcome::Interrupted;
                };
                if crate::interrupted() {
                    // Finished before the signal was seen: still whole, keep it.
                }
                let path = cell_path(&args.out, cell.index, &cell.id);
                if let Err(e) = crate::output::write_json(&path, true, &file) {
                    if let Ok(mut w) = write_errors.lock() {
                        w.push(e.to_string());
                    }
                    return Outcome::Skipped;
                }
                done.fetch_add(1, Ordering::Relaxed);
                pb.inc(1);
                Outcome::Done(Box::new(file))
            })
            .collect()
    });
    pb.finish_and_clear();
    if let Some(e) = write_errors
        .into_inner()
        .ok()
        .and_then(|v| v.into_iter().next())
    {
        return Err(Error::input(e));
    }
    let mut finished = 0usize;
    let (mut violated, mut diverged, mut failed, mut interrupted) = (0, 0, 0, 0);
    let mut results: Vec<&CellFile> = earlier.iter().collect();
    for o in &outcomes {
        match o {
            Outcome::Done(f) => {
                finished += 1;
                results.push(f);
            }
            Outcome::Interrupted => interrupted += 1,
            Outcome::Skipped => {}
        }
    }
    results.sort_by_key(|f| f.index);
    for f in results {
        if let Some(r) = &f.result {
            if r.violated() {
                violated += 1;
                eprintln!(
                    "!!! CERTIFICATE VIOLATED in cell {} ({}): {} of {} steps, worst measured/bound ratio {:.6}",
                    f.index,
                    describe(&f.params),
                    r.tally.violations,
                    r.tally.steps_checked,
                    r.tally.worst_ratio
                );
            }
            if r.status == "diverged" {
                diverged += 1;
            }
        }
        if let Some(e) = &f.error {
            failed += 1;
            eprintln!("overlin: cell {} ({}): {e}", f.index, describe(&f.params));
        }
    }
    let shard = args
        .shard
        .map(|s| format!(" (shard {}/{})", s.index, s.count))
        .unwrap_or_default();
    eprintln!(
        "sweep: {} cells{shard}: {finished} finished now, {already} already done, {interrupted} not run; \
         of all finished, {diverged} diverged, {failed} could not be built, {violated} with certificate violations; folder {}",
        cells.len(),
        args.out.display()
    );
    Ok(if crate::interrupted() || interrupted > 0 {
        eprintln!("overlin: interrupted; rerun the same command to resume");
        exit::INTERRUPTED
    } else if violated > 0 {
        exit::VIOLATION
    } else if failed > 0 {
        exit::INPUT
    } else if diverged > 0 {
        exit::DIVERGED
    } else {
        exit::OK
    })
}

/// Result columns of the merged table, after `index`, `id` and the grid keys.
pub const MERGED_RESULT_COLUMNS: [&str; 22] = [
    "status",
    "error",
    "iterations",
    "initial_gap",
    "final_gap",
    "steps_checked",
    "violations",
    "worst_ratio",
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

/// Reads every finished cell of the sweep folders `dirs` (one grid), by index.
pub fn collect_cells(dirs: &[PathBuf]) -> Result<(usize, BTreeMap<usize, CellFile>, Vec<String>)> {
    let mut manifest: Option<(Manifest, PathBuf)> = None;
    let mut cells: BTreeMap<usize, CellFile> = BTreeMap::new();
    for dir in dirs {
        let m = read_manifest(dir)?.ok_or_else(|| {
            Error::input(format!(
                "{}: not a sweep folder (no {MANIFEST})",
                dir.display()
            ))
        })?;
        match &manifest {
            Some((first, fdir)) if first.grid_hash != m.grid_hash => {
                return Err(Error::input(format!(
                    "{} and {} hold sweeps of different grids",
                    fdir.display(),
                    dir.display()
                )))
            }
            Some(_) => {}
            None => manifest = Some((m, dir.clone())),
        }
        let cdir = dir.join(CELLS);
        let Ok(entries) = std::fs::read_dir(&cdir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|e| e == "json")
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.starts_with('.'))
            })
            .collect();
        paths.sort();
        for p in paths {
            let Some(f) = read_cell(&p) else {
                return Err(Error::input(format!(
                    "{}: not a valid cell file",
                    p.display()
                )));
            };
            match cells.get(&f.index) {
                Some(prev) if prev.id != f.id => {
                    return Err(Error::input(format!(
                        "{}: cell {} has parameters that differ from another folder's",
                        p.display(),
                        f.index
                    )))
                }
                Some(_) => {}
                None => {
                    cells.insert(f.index, f);
                }
            }
        }
    }
    let (m, _) = manifest.ok_or_else(|| Error::input("merge needs at least one sweep folder"))?;
    let keys: Vec<String> = m.grid.keys().cloned().collect();
    Ok((m.cells, cells, keys))
}

/// Runs `overlin merge`; returns the exit code.
pub fn merge(args: &MergeArgs) -> Result<i32> {
    let (total, cells, keys) = collect_cells(&args.dirs)?;
    let missing: Vec<usize> = (0..total).filter(|i| !cells.contains_key(i)).collect();
    if !missing.is_empty() && !args.partial {
        let shown: Vec<String> = missing.iter().take(10).map(|i| i.to_string()).collect();
        return Err(Error::input(format!(
            "{} of {total} cells are missing (e.g. {}{}); run the missing shards or pass --partial",
            missing.len(),
            shown.join(", "),
            if missing.len() > 10 { ", ..." } else { "" }
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

    let mut rows: Vec<Value> = Vec::with_capacity(cells.len());
    let mut csv = Vec::new();
    {
        let mut w = csv::Writer::from_writer(&mut csv);
        let mut header: Vec<String> = vec!["index".into(), "id".into()];
        header.extend(keys.iter().cloned());
        header.extend(MERGED_RESULT_COLUMNS.iter().map(|s| s.to_string()));
        w.write_record(&header)
            .map_err(|e| Error::Internal(e.to_string()))?;
        for f in cells.values() {
            let mut rec = vec![f.index.to_string(), f.id.clone()];
            rec.extend(keys.iter().map(|k| param_field(f.params.get(k))));
            rec.extend(result_fields(f));
            w.write_record(&rec)
                .map_err(|e| Error::Internal(e.to_string()))?;
            let mut clean = f.clone();
            if let Some(r) = clean.result.as_mut() {
                // Wall time depends on the machine and on --jobs: not part of the table.
                r.wall_time_s = 0.0;
            }
            let mut v = serde_json::to_value(&clean).map_err(|e| Error::Internal(e.to_string()))?;
            if let Some(Value::Object(r)) = v.get_mut("result") {
                r.remove("wall_time_s");
            }
            rows.push(v);
        }
        w.flush().map_err(|e| Error::Internal(e.to_string()))?;
    }
    crate::output::write_atomic(&csv_path, args.force, |w| w.write_all(&csv))?;
    crate::output::write_json(&json_path, args.force, &Value::Array(rows))?;
    if !missing.is_empty() {
        eprintln!(
            "merge: {} of {total} cells missing (merged anyway with --partial)",
            missing.len()
        );
    }
    let violated = cells
        .values()
        .filter(|f| f.result.as_ref().is_some_and(|r| r.violated()))
        .count();
    if violated > 0 {
        eprintln!("!!! CERTIFICATE VIOLATED in {violated} cells (see the violations column)");
    }
    eprintln!(
        "merge: {} cells -> {} and {}",
        cells.len(),
        csv_path.display(),
        json_path.display()
    );
    Ok(if violated > 0 {
        exit::VIOLATION
    } else {
        exit::OK
    })
}
