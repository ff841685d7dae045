//! `overlin sweep`: runs the cells of this shard that have no file yet.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use super::cells::{cell_path, prepare_dir, read_cell, CELLS};
use super::grid::{describe, params_id, parse_params};
use super::{CellFile, Grid, Shard, SweepArgs, DEFAULT_MAX_CELLS, LISTED, MAX_GRID_BYTES, VERSION};
use crate::problem::Problem;
use crate::status::RunStatus;
use crate::{exit, Error, Result};

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
            match &r.status {
                RunStatus::Diverged { .. } => self.diverged += 1,
                RunStatus::RuleUnavailable { reason } => {
                    self.unavailable += 1;
                    lines.push(format!(
                        "overlin: cell {} ({}): the rule does not apply: {reason}",
                        f.index,
                        label(),
                    ));
                }
                RunStatus::Converged
                | RunStatus::MaxIters
                | RunStatus::Stalled
                | RunStatus::Stopped => {}
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
            if res.status == RunStatus::Stopped {
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
