//! `overlin merge`: streams the cell files of one grid into one table.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::ser::{SerializeSeq, Serializer};
use serde_json::Value;

use super::cells::{
    cell_path, parse_cell_name, read_cell, read_manifest, Manifest, ManifestState, CELLS, MANIFEST,
};
use super::{CellFile, Grid, MergeArgs};
use crate::{exit, Error, Result};

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
                r.status.name().to_string(),
                r.status
                    .unavailable_reason()
                    .map(str::to_string)
                    .unwrap_or_default(),
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
                r.status
                    .diverged_at()
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
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
