//! Atomic output files: everything is written to a temporary file in the
//! destination's folder and renamed into place only when complete, so an
//! interruption never leaves a half-written file under the final name. An
//! existing file is never replaced without `force`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::{Error, Result};

/// Fails with a one-line input error when `path` exists and `force` is off,
/// or is a folder (which `--force` cannot replace with a file: refused
/// before any work rather than when the finished file is renamed).
///
/// A path that is a device, a pipe or a socket is refused too, with and
/// without `force`: the finished file is renamed into place, which would
/// replace the device node with a regular file (as root, `/dev/null`
/// itself), and writing through it would not give a whole file either.
pub fn check_new(path: &Path, force: bool) -> Result<()> {
    if path.is_dir() {
        return Err(Error::input(format!(
            "{} is a folder; give a file name",
            path.display()
        )));
    }
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() {
            return Err(Error::input(format!(
                "{} is {}, not a regular file; give the name of a file to write",
                path.display(),
                special_kind(&meta.file_type())
            )));
        }
    }
    if !force && path.exists() {
        return Err(Error::input(format!(
            "{} already exists; pass --force to overwrite it",
            path.display()
        )));
    }
    Ok(())
}

/// What a special file is, for messages.
fn special_kind(ft: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    let _ = ft;
    "a special file"
}

/// `true` when `dir` is a folder with no entries.
pub fn is_empty_dir(dir: &Path) -> bool {
    dir.is_dir()
        && std::fs::read_dir(dir)
            .map(|mut it| it.next().is_none())
            .unwrap_or(false)
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A file being written under a temporary name; [`AtomicFile::commit`]
/// renames it into place, dropping it without committing removes it.
pub struct AtomicFile {
    path: PathBuf,
    force: bool,
    sync: bool,
    tmp: Option<BufWriter<NamedTempFile>>,
}

impl AtomicFile {
    /// Starts writing `path` (its folder must exist). Fails at once when
    /// `path` exists and `force` is off.
    pub fn create(path: &Path, force: bool) -> Result<Self> {
        check_new(path, force)?;
        let dir = parent_of(path);
        if !dir.is_dir() {
            return Err(Error::input(format!(
                "{}: folder {} does not exist",
                path.display(),
                dir.display()
            )));
        }
        let tmp = tempfile::Builder::new()
            .prefix(".overlin-tmp-")
            .tempfile_in(&dir)
            .map_err(|e| Error::input(format!("{}: cannot create: {e}", path.display())))?;
        Ok(Self {
            path: path.to_path_buf(),
            force,
            sync: true,
            tmp: Some(BufWriter::new(tmp)),
        })
    }

    /// Commits without waiting for the data to reach the disk. The rename
    /// stays atomic, so a killed process still leaves nothing under the
    /// final name; only an operating-system crash can leave the file empty
    /// or cut. For files that their reader checks and can recompute (sweep
    /// cells, a few KB each, where one sync per file costs milliseconds on
    /// a busy or network disk: more than computing the cell).
    pub fn without_sync(mut self) -> Self {
        self.sync = false;
        self
    }

    /// The destination.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and renames into place.
    pub fn commit(mut self) -> Result<()> {
        let name = self.path.display().to_string();
        let io = |e: std::io::Error| Error::input(format!("{name}: cannot write: {e}"));
        let w = self
            .tmp
            .take()
            .ok_or_else(|| Error::Internal("atomic file committed twice".into()))?;
        let tmp = w.into_inner().map_err(|e| io(e.into_error()))?;
        // Temporary files are created private (0600); a result file is not.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = tmp
                .as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644));
        }
        if self.sync {
            tmp.as_file().sync_all().map_err(io)?;
        }
        if self.force {
            tmp.persist(&self.path).map_err(|e| io(e.error))?;
        } else {
            // Refuse to clobber a file that appeared meanwhile.
            tmp.persist_noclobber(&self.path).map_err(|e| {
                if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::input(format!(
                        "{name} already exists; pass --force to overwrite it"
                    ))
                } else {
                    io(e.error)
                }
            })?;
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.tmp.as_mut() {
            Some(w) => w.write(buf),
            None => Err(std::io::Error::other("atomic file already committed")),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.tmp.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

/// Writes `path` atomically with the bytes `fill` produces.
pub fn write_atomic(
    path: &Path,
    force: bool,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let mut f = AtomicFile::create(path, force)?;
    fill(&mut f).map_err(|e| Error::input(format!("{}: cannot write: {e}", path.display())))?;
    f.commit()
}

/// Writes a string atomically.
pub fn write_string(path: &Path, force: bool, s: &str) -> Result<()> {
    write_atomic(path, force, |w| w.write_all(s.as_bytes()))
}

/// Writes a value as pretty JSON atomically (with a final newline).
pub fn write_json<T: serde::Serialize>(path: &Path, force: bool, value: &T) -> Result<()> {
    let s = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Internal(format!("cannot serialize JSON: {e}")))?;
    write_string(path, force, &(s + "\n"))
}

/// Writes a value as pretty JSON atomically, without a sync (see
/// [`AtomicFile::without_sync`]).
pub fn write_json_unsynced<T: serde::Serialize>(path: &Path, force: bool, value: &T) -> Result<()> {
    let s = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Internal(format!("cannot serialize JSON: {e}")))?;
    let mut f = AtomicFile::create(path, force)?.without_sync();
    f.write_all(s.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .map_err(|e| Error::input(format!("{}: cannot write: {e}", path.display())))?;
    f.commit()
}

/// Flushes every file written to the file system holding `dir` to the disk
/// at once (Linux `syncfs`; elsewhere a sync of `dir` itself): one wait
/// for a whole sweep's unsynced cell files instead of one per file.
pub fn sync_folder(dir: &Path) -> Result<()> {
    let name = dir.display().to_string();
    let f = File::open(dir).map_err(|e| Error::input(format!("{name}: cannot open: {e}")))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open for the duration of the call.
        if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
            return Err(Error::input(format!(
                "{name}: cannot flush to disk: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    f.sync_all()
        .map_err(|e| Error::input(format!("{name}: cannot flush to disk: {e}")))
}

/// Creates an output folder. An existing non-empty folder is an error
/// without `force` (it is then reused, files in it overwritten one by one).
pub fn create_dir(dir: &Path, force: bool) -> Result<()> {
    if dir.exists() {
        if !dir.is_dir() {
            return Err(Error::input(format!(
                "{} exists and is not a folder",
                dir.display()
            )));
        }
        let non_empty = std::fs::read_dir(dir)
            .map(|mut it| it.next().is_some())
            .unwrap_or(true);
        if non_empty && !force {
            return Err(Error::input(format!(
                "output folder {} already exists; pass --force to overwrite it",
                dir.display()
            )));
        }
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::input(format!("{}: cannot create folder: {e}", dir.display())))
}

/// Opens a file for reading with a one-line error naming it.
pub fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::input(format!("{}: file not found", path.display())),
        _ => Error::input(format!("{}: cannot read: {e}", path.display())),
    })
}
