//! The sweep folder on disk: the manifest, one file per finished cell, and
//! the checks that refuse a folder holding something else.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::grid::one_line;
use super::{Grid, MAX_CELL_BYTES, MAX_GRID_BYTES, VERSION};
use crate::problem::RunResult;
use crate::{Error, Result};

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
pub(super) struct Manifest {
    pub(super) format: String,
    pub(super) grid_hash: String,
    #[serde(default)]
    pub(super) version: String,
    pub(super) cells: usize,
    pub(super) grid: Map<String, Value>,
}

/// What a folder's `sweep.json` holds.
pub(super) enum ManifestState {
    Missing,
    Found(Manifest),
    /// Present but unreadable as a manifest; the detail says why.
    Corrupt(String),
}

pub(super) const MANIFEST: &str = "sweep.json";
pub(super) const CELLS: &str = "cells";
const FORMAT: &str = "overlin-sweep-2";

fn cell_name(index: usize, id: &str) -> String {
    format!("{index:06}-{id}.json")
}

pub(super) fn cell_path(dir: &Path, index: usize, id: &str) -> PathBuf {
    dir.join(CELLS).join(cell_name(index, id))
}

/// `(index, id)` from a cell file name, `None` for any other name.
pub(super) fn parse_cell_name(name: &str) -> Option<(usize, &str)> {
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

pub(super) fn read_cell(path: &Path) -> Result<CellFile> {
    let text = crate::io::read_input_text(path, MAX_CELL_BYTES)?;
    serde_json::from_str(&text).map_err(|e| {
        Error::input(format!(
            "{}: not a valid cell file ({}); rerun the sweep to recompute it",
            path.display(),
            one_line(&e.to_string())
        ))
    })
}

pub(super) fn read_manifest(dir: &Path) -> Result<ManifestState> {
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
pub(super) fn prepare_dir(dir: &Path, grid: &Grid, force: bool) -> Result<()> {
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
