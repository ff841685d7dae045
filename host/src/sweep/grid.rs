//! A grid of runs: its axes, its canonical form and hash, and each cell's
//! parameters, problem and run, made from the cell's index.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::problem::{ProblemSpec, RunSpec};
use crate::{Error, Result};

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

pub(super) fn one_line(s: &str) -> String {
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
    pub(super) fn from_canonical(grid: &Map<String, Value>) -> Option<Self> {
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

pub(super) fn params_id(params: &Map<String, Value>) -> String {
    stable_hash(Value::Object(params.clone()).to_string().as_bytes())
}

/// A cell's problem and run from its parameters, validated.
pub(super) fn parse_params(params: &Map<String, Value>) -> Result<(ProblemSpec, RunSpec)> {
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

pub(super) fn describe(params: &Map<String, Value>) -> String {
    params
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
