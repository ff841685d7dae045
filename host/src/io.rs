//! Matrix files: `.npy` (f32/f64, also integer for labels; 2-D, or 1-D read
//! as a column; C or Fortran order) and `.csv` (numeric, rectangular, an
//! optional header row whose cells are all non-numeric).
//!
//! Every failure is an [`Error::Input`] whose one-line message names the
//! file and, for a bad entry, its row and column (1-based, as a person
//! counts them in an editor).

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use npyz::{DType, Order, TypeChar, WriterBuilder};
use overlin_core::nalgebra::DMatrix;

use crate::{Error, Result};

/// Largest `.npy` header read (numpy itself refuses headers above 10 000
/// bytes unless told otherwise; a format-2.0 header may announce up to
/// 4 GiB, which would otherwise be allocated before anything is checked).
pub const NPY_HEADER_LIMIT: u64 = 1 << 20;

/// A byte count for messages: `512 bytes`, `1.5 KiB`, `23.4 GiB`.
pub fn human_bytes(n: impl Into<u128>) -> String {
    const UNITS: [&str; 7] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB"];
    let n: u128 = n.into();
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in UNITS.iter().skip(1) {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// A number for a one-line message: as written for ordinary magnitudes
/// (`2.5`, `1000000000`), in exponent form beyond them (`1e300`, `1e-320`),
/// never hundreds of digits.
pub fn short_number(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || !a.is_finite() || (1e-4..1e16).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// What a path is when it is not a regular file, for the refusal message.
fn non_regular_kind(ft: &std::fs::FileType) -> Option<&'static str> {
    if ft.is_file() {
        return None;
    }
    if ft.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return Some("a named pipe (FIFO)");
        }
        if ft.is_char_device() {
            return Some("a character device");
        }
        if ft.is_block_device() {
            return Some("a block device");
        }
        if ft.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

fn refuse_non_regular(name: &str, kind: &str) -> Error {
    if kind == "a directory" {
        return Error::input(format!(
            "{name}: is a directory, not a regular file; give a file"
        ));
    }
    Error::input(format!(
        "{name}: is {kind}, not a regular file; save the data to a file and pass that"
    ))
}

/// Opens an input file for reading, refusing before reading a byte:
/// a missing file, anything that is not a regular file (a pipe or a device
/// such as `/dev/zero` would be read without end, a FIFO would block), and
/// a file larger than `limit` bytes. Returns the open file and its length.
///
/// Every refusal is one line naming the file. Read through
/// [`Read::take`]`(len + 1)` or use [`read_input_bytes`] /
/// [`read_input_text`], which also catch a file that grows while read.
/// Every file overlin reads (matrices, sweep grids and manifests) goes
/// through here.
pub fn open_input_file(path: &Path, limit: u64) -> Result<(File, u64)> {
    let name = path.display().to_string();
    let cannot = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => Error::input(format!("{name}: file not found")),
        _ => Error::input(format!("{name}: cannot read: {e}")),
    };
    // Checked on the path first: opening a FIFO blocks until a writer comes.
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if let Some(kind) = non_regular_kind(&meta.file_type()) {
        return Err(refuse_non_regular(&name, kind));
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        // Should the path be swapped for a FIFO after the check, the open
        // must not block; on a regular file the flag changes nothing.
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let file = opts.open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if let Some(kind) = non_regular_kind(&meta.file_type()) {
        return Err(refuse_non_regular(&name, kind));
    }
    if meta.len() > limit {
        return Err(Error::input(format!(
            "{name}: is {}, more than the {} this kind of file may have; \
             use a smaller file (or raise OVERLIN_MAX_MEMORY for data files)",
            human_bytes(meta.len()),
            human_bytes(limit)
        )));
    }
    Ok((file, meta.len()))
}

/// The whole content of a regular input file of at most `limit` bytes
/// (see [`open_input_file`] for what is refused).
pub fn read_input_bytes(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let name = path.display().to_string();
    let (file, len) = open_input_file(path, limit)?;
    let mut bytes = Vec::new();
    // One byte more than allowed tells a file that grew since the check.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::input(format!("{name}: cannot read: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(Error::input(format!(
            "{name}: grew beyond {} while being read (it was {}); \
             pass a file that is not being written",
            human_bytes(limit),
            human_bytes(len)
        )));
    }
    Ok(bytes)
}

/// The whole content of a regular UTF-8 input file of at most `limit` bytes
/// (see [`open_input_file`]); invalid UTF-8 is a one-line error.
pub fn read_input_text(path: &Path, limit: u64) -> Result<String> {
    let bytes = read_input_bytes(path, limit)?;
    String::from_utf8(bytes).map_err(|e| {
        Error::input(format!(
            "{}: is not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Reads a matrix from `.npy` or `.csv` (by extension), rejecting NaN and
/// infinities with the file, row and column of the first one.
pub fn read_matrix(path: &Path) -> Result<DMatrix<f64>> {
    let name = path.display().to_string();
    let limit = crate::resources::memory_limit()?.bytes;
    // Also refuses a pipe or device before the extension is looked at.
    if open_input_file(path, u64::MAX)?.1 == 0 {
        return Err(Error::input(format!("{name}: file is empty")));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    let m = match ext.as_deref() {
        // A .npy holds its entries at 4 or 8 bytes each: the file bounds the
        // matrix. A CSV entry takes 2 bytes or more and becomes 8 bytes
        // twice over (the rows read, then the matrix): an eighth of the limit.
        Some("npy") => read_npy(path, &name, limit)?,
        Some("csv") | Some("txt") | Some("tsv") => read_csv(path, &name, limit / 8)?,
        _ => {
            return Err(Error::input(format!(
                "{name}: unknown matrix format; use a .npy or .csv file"
            )))
        }
    };
    check_finite(&m, &name)?;
    Ok(m)
}

/// Refuses a matrix with a NaN or infinite entry, naming `name` and the
/// entry's row and column (1-based), as for a file.
pub fn check_finite(m: &DMatrix<f64>, name: &str) -> Result<()> {
    if let Some(i) = m.as_slice().iter().position(|x| !x.is_finite()) {
        let r = m.nrows().max(1);
        let v = m.as_slice().get(i).copied().unwrap_or(f64::NAN);
        return Err(Error::input(format!(
            "{name}: entry at row {}, column {} is {} (must be finite)",
            i % r + 1,
            i / r + 1,
            if v.is_nan() {
                "NaN".to_string()
            } else {
                v.to_string()
            }
        )));
    }
    Ok(())
}

/// A `'shape': (...)` entry of a `.npy` header whose entry count overflows
/// 64 bits, read before npyz parses the header. npyz multiplies the
/// dimensions unchecked (a panic in debug builds, a wrapped count in release
/// builds), so such a header must be refused first. `None` when no shape
/// entry overflows (or none can be parsed: npyz then reports the format
/// error itself).
fn npy_header_overflowing_shape(head: &[u8]) -> Option<Vec<u64>> {
    let (len, start): (usize, usize) = match (head.get(..6), head.get(6).copied()) {
        (Some(b"\x93NUMPY"), Some(1)) => (
            usize::from(u16::from_le_bytes([*head.get(8)?, *head.get(9)?])),
            10,
        ),
        (Some(b"\x93NUMPY"), Some(_)) => (
            u32::from_le_bytes([*head.get(8)?, *head.get(9)?, *head.get(10)?, *head.get(11)?])
                as usize,
            12,
        ),
        _ => return None,
    };
    let end = start.saturating_add(len).min(head.len());
    let text = std::str::from_utf8(head.get(start..end)?).ok()?;
    // The key `'shape'` followed by `:` (a structured dtype may have a field
    // named shape, followed by `,`).
    let mut from = 0;
    while let Some(i) = text.get(from..)?.find("shape") {
        let after = text.get(from + i + 5..)?;
        let after = after
            .strip_prefix(['\'', '"'])
            .unwrap_or(after)
            .trim_start();
        if let Some(rest) = after.strip_prefix(':') {
            // Every `'shape':` key is checked, not only the first: a header
            // may repeat the key (inside a hostile `descr`), and the parser
            // then takes another one than this scan would.
            let dims: Option<Vec<u64>> = rest
                .trim_start()
                .strip_prefix('(')
                .and_then(|rest| rest.get(..rest.find(')')?))
                .and_then(|inner| {
                    inner
                        .split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(|p| p.trim_end_matches('L').parse::<u64>().ok())
                        .collect()
                });
            if let Some(dims) = dims {
                let fits = dims
                    .iter()
                    .filter(|&&d| d != 0)
                    .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                    .is_some();
                if !fits {
                    return Some(dims);
                }
            }
        }
        from += i + 5;
    }
    None
}

/// The length of a `.npy` header as its preamble announces it (magic,
/// version, length field), or `None` when the bytes are not a `.npy`
/// preamble (npyz then names the format error).
fn npy_header_len(head: &[u8]) -> Option<u64> {
    match (head.get(..6), head.get(6).copied()) {
        (Some(b"\x93NUMPY"), Some(1)) => Some(u64::from(u16::from_le_bytes([
            *head.get(8)?,
            *head.get(9)?,
        ]))),
        (Some(b"\x93NUMPY"), Some(_)) => Some(u64::from(u32::from_le_bytes([
            *head.get(8)?,
            *head.get(9)?,
            *head.get(10)?,
            *head.get(11)?,
        ]))),
        _ => None,
    }
}

fn read_npy(path: &Path, name: &str, limit: u64) -> Result<DMatrix<f64>> {
    let (mut file, file_len) = open_input_file(path, limit)?;
    if file_len == 0 {
        return Err(Error::input(format!("{name}: file is empty")));
    }
    // The header that matters lies within the first NPY_HEADER_LIMIT bytes
    // (plus the preamble); a longer one is refused before npyz reads it.
    let mut head = Vec::new();
    (&mut file)
        .take(NPY_HEADER_LIMIT + 12)
        .read_to_end(&mut head)
        .map_err(|e| Error::input(format!("{name}: cannot read: {e}")))?;
    if let Some(len) = npy_header_len(&head).filter(|&l| l > NPY_HEADER_LIMIT) {
        return Err(Error::input(format!(
            "{name}: .npy header announces {}, more than the {} a matrix header may have \
             (corrupt file?)",
            human_bytes(len),
            human_bytes(NPY_HEADER_LIMIT)
        )));
    }
    let data_start = npy_header_len(&head)
        .map(|l| l + if head.get(6) == Some(&1) { 10 } else { 12 })
        .unwrap_or(0);
    if let Some(dims) = npy_header_overflowing_shape(&head) {
        return Err(Error::input(format!(
            "{name}: .npy shape {dims:?} has more entries than can be addressed"
        )));
    }
    let reader = std::io::Cursor::new(head).chain(BufReader::new(file.take(file_len)));
    let npy = npyz::NpyFile::new(reader)
        .map_err(|e| Error::input(format!("{name}: not a valid .npy file: {}", one_line(e))))?;
    let shape: Vec<u64> = npy.shape().to_vec();
    let (rows, cols) = match shape.as_slice() {
        [r, c] => (*r as usize, *c as usize),
        [r] => (*r as usize, 1),
        s => {
            return Err(Error::input(format!(
                "{name}: .npy array has {} dimensions (shape {:?}); a matrix must be 2-D",
                s.len(),
                s
            )))
        }
    };
    if rows == 0 || cols == 0 {
        return Err(Error::input(format!(
            "{name}: matrix is empty (shape {rows}x{cols})"
        )));
    }
    // rows·cols must fit (npyz's own count wraps around in release builds).
    let total = rows
        .checked_mul(cols)
        .filter(|&t| npy.len() == t as u64)
        .ok_or_else(|| {
            Error::input(format!(
                "{name}: .npy shape {rows}x{cols} has more entries than can be addressed"
            ))
        })?;
    let order = npy.order();
    let dtype = npy.dtype();
    // The data must be in the file before anything is allocated for them:
    // a header may announce any shape.
    let item = match &dtype {
        DType::Plain(ts) => ts.size_field(),
        _ => 1,
    };
    if (total as u64)
        .checked_mul(item)
        .is_none_or(|b| b > file_len.saturating_sub(data_start))
    {
        return Err(Error::input(format!(
            "{name}: the data end before the {rows}x{cols} entries the header announces \
             (truncated file?)"
        )));
    }
    let bad = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::input(format!(
                "{name}: the data end before the {rows}x{cols} entries the header announces \
                 (truncated file?)"
            ))
        } else {
            Error::input(format!("{name}: cannot read data: {}", one_line(e)))
        }
    };
    let data: Vec<f64> = match &dtype {
        DType::Plain(ts) => match (ts.type_char(), ts.size_field()) {
            (TypeChar::Float, 8) => npy.into_vec::<f64>().map_err(bad)?,
            (TypeChar::Float, 4) => npy
                .into_vec::<f32>()
                .map_err(bad)?
                .into_iter()
                .map(f64::from)
                .collect(),
            (TypeChar::Int, 8) => npy
                .into_vec::<i64>()
                .map_err(bad)?
                .into_iter()
                .map(|v| v as f64)
                .collect(),
            (TypeChar::Int, 4) => npy
                .into_vec::<i32>()
                .map_err(bad)?
                .into_iter()
                .map(f64::from)
                .collect(),
            _ => {
                return Err(Error::input(format!(
                    "{name}: unsupported .npy dtype '{ts}'; use float32 or float64"
                )))
            }
        },
        other => {
            return Err(Error::input(format!(
                "{name}: unsupported .npy dtype {other:?}; use a plain float32 or float64 array"
            )))
        }
    };
    if data.len() != total {
        return Err(Error::input(format!(
            "{name}: .npy holds {} values but its shape says {rows}x{cols}",
            data.len()
        )));
    }
    Ok(match order {
        Order::Fortran => DMatrix::from_column_slice(rows, cols, &data),
        Order::C => DMatrix::from_row_slice(rows, cols, &data),
    })
}

/// A third-party error message on one line (the .npy header parser reports
/// multi-line diagnostics): its first line, plus any `= expected ...` hint.
fn one_line(e: impl std::fmt::Display) -> String {
    let text = e.to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut out = lines.next().unwrap_or("unknown error").to_string();
    for hint in lines.filter_map(|l| l.strip_prefix("= ")) {
        out.push_str("; ");
        out.push_str(hint);
    }
    out
}

/// A cell as shown in an error: escaped (a quoted CSV cell may hold a line
/// break) and cut to 32 characters.
fn shown(raw: &str) -> String {
    let head: String = raw.chars().take(32).collect();
    let more = if raw.chars().nth(32).is_some() {
        "..."
    } else {
        ""
    };
    format!("{}{more}", head.escape_debug())
}

fn parse_cell(s: &str) -> Option<f64> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        // Parse these so that the finiteness check can name them.
        "nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => t.parse::<f64>().ok(),
    }
}

fn read_csv(path: &Path, name: &str, limit: u64) -> Result<DMatrix<f64>> {
    let (file, len) = open_input_file(path, limit)?;
    if len == 0 {
        return Err(Error::input(format!("{name}: file is empty")));
    }
    let delim = if path.extension().and_then(|e| e.to_str()) == Some("tsv") {
        b'\t'
    } else {
        b','
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delim)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(BufReader::new(file.take(len)));
    // Row-major entries, `width` per row: one flat vector, no per-row
    // allocation (a one-column CSV would otherwise cost ~50 bytes an entry).
    let mut data: Vec<f64> = Vec::new();
    let mut nrows = 0usize;
    let mut width: Option<usize> = None;
    for (i, rec) in rdr.records().enumerate() {
        let rec =
            rec.map_err(|e| Error::input(format!("{name}: malformed CSV: {}", one_line(e))))?;
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(i + 1);
        if rec.iter().all(|c| c.is_empty()) {
            continue;
        }
        let cells: Vec<Option<f64>> = rec.iter().map(parse_cell).collect();
        if nrows == 0 && width.is_none() && cells.iter().all(|c| c.is_none()) {
            // A header row: every cell is a name.
            width = Some(cells.len());
            continue;
        }
        match width {
            Some(w) if w != cells.len() => {
                return Err(Error::input(format!(
                    "{name}: ragged CSV: line {line} has {} columns but earlier lines have {w}",
                    cells.len()
                )))
            }
            _ => width = Some(cells.len()),
        }
        let row_no = nrows + 1;
        for (j, (c, raw)) in cells.iter().zip(rec.iter()).enumerate() {
            match c {
                Some(v) => data.push(*v),
                None => {
                    return Err(Error::input(format!(
                        "{name}: non-numeric value '{}' at row {row_no}, column {} (line {line})",
                        shown(raw),
                        j + 1
                    )))
                }
            }
        }
        nrows += 1;
    }
    let ncols = width.unwrap_or(0);
    if nrows == 0 || ncols == 0 {
        return Err(Error::input(format!("{name}: no numeric rows")));
    }
    Ok(DMatrix::from_row_slice(nrows, ncols, &data))
}

/// Writes `m` as a 2-D little-endian float64 `.npy` (C order) to `w`.
pub fn write_npy_to(w: impl Write, m: &DMatrix<f64>) -> std::io::Result<()> {
    let shape = [m.nrows() as u64, m.ncols() as u64];
    let mut writer = npyz::WriteOptions::<f64>::new()
        .default_dtype()
        .shape(&shape)
        .writer(w)
        .begin_nd()?;
    for i in 0..m.nrows() {
        for j in 0..m.ncols() {
            writer.push(&m[(i, j)])?;
        }
    }
    writer.finish()
}

/// Writes `m` as CSV (no header, full precision) to `w`.
pub fn write_csv_to(mut w: impl Write, m: &DMatrix<f64>) -> std::io::Result<()> {
    for i in 0..m.nrows() {
        let row: Vec<String> = (0..m.ncols()).map(|j| format!("{:e}", m[(i, j)])).collect();
        writeln!(w, "{}", row.join(","))?;
    }
    Ok(())
}

/// Writes `m` to `path` (`.npy` or `.csv` by extension) atomically.
pub fn write_matrix(path: &Path, m: &DMatrix<f64>, force: bool) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("npy") => crate::output::write_atomic(path, force, |w| write_npy_to(w, m)),
        Some("csv") => crate::output::write_atomic(path, force, |w| write_csv_to(w, m)),
        _ => Err(Error::input(format!(
            "{}: unknown matrix format; use .npy or .csv",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        (dir, p)
    }

    #[test]
    fn csv_with_header_comments_blank_lines_and_spaces() {
        let (_d, p) = tmp("a.csv", b"# data\nx1, x2\n\n 1.5 , -2e-3\n3,4\n");
        let m = read_matrix(&p).expect("read");
        assert_eq!(m.shape(), (2, 2));
        assert_eq!(m[(0, 1)], -2e-3);
        assert_eq!(m[(1, 0)], 3.0);
    }

    #[test]
    fn bounded_reads_refuse_large_growing_and_non_regular_files() {
        let (d, p) = tmp("g.toml", b"0123456789");
        assert_eq!(
            read_input_bytes(&p, 10).expect("at the limit"),
            b"0123456789"
        );
        let e = read_input_bytes(&p, 9).expect_err("one byte over");
        assert!(
            e.to_string().contains("is 10 bytes, more than the 9 bytes"),
            "{e}"
        );
        let e = read_input_text(d.path(), 100).expect_err("a folder");
        assert!(
            e.to_string()
                .ends_with("is a directory, not a regular file; give a file"),
            "{e}"
        );
        let e = read_input_bytes(&d.path().join("none"), 100).expect_err("missing");
        assert!(e.to_string().ends_with("none: file not found"), "{e}");
        let e = read_input_bytes(Path::new("/dev/zero"), u64::MAX).expect_err("device");
        assert!(e.to_string().contains("is a character device"), "{e}");
        std::fs::write(&p, [0xff, 0xfe]).expect("write");
        let e = read_input_text(&p, 100).expect_err("not UTF-8");
        assert!(e.to_string().contains("is not UTF-8 text"), "{e}");
    }

    #[test]
    fn byte_counts_read_like_a_person_writes_them() {
        assert_eq!(human_bytes(0u64), "0 bytes");
        assert_eq!(human_bytes(1023u64), "1023 bytes");
        assert_eq!(human_bytes(1536u64), "1.5 KiB");
        assert_eq!(human_bytes(32_000_000_000u64), "29.8 GiB");
    }

    #[test]
    fn tsv_is_tab_separated() {
        let (_d, p) = tmp("a.tsv", b"1\t2\n3\t4\n");
        let m = read_matrix(&p).expect("read");
        assert_eq!(m, DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]));
    }

    #[test]
    fn a_header_alone_is_no_data() {
        let (_d, p) = tmp("h.csv", b"a,b\n");
        let e = read_matrix(&p).expect_err("no rows");
        assert!(e.to_string().contains("no numeric rows"), "{e}");
    }

    #[test]
    fn a_numeric_first_row_is_data_even_with_a_bad_cell() {
        let (_d, p) = tmp("b.csv", b"1,zz\n3,4\n");
        let e = read_matrix(&p).expect_err("bad cell");
        assert!(e.to_string().contains("'zz' at row 1, column 2"), "{e}");
    }

    #[test]
    fn npy_written_here_reads_back_exactly() {
        let m = DMatrix::from_fn(3, 4, |i, j| (i as f64 + 1.0) / (j as f64 + 3.0));
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("m.npy");
        write_matrix(&p, &m, false).expect("write");
        assert_eq!(read_matrix(&p).expect("read"), m);
        let e = write_matrix(&p, &m, false).expect_err("exists");
        assert!(e.to_string().contains("--force"), "{e}");
        let q = dir.path().join("m.csv");
        write_matrix(&q, &m, false).expect("write csv");
        assert_eq!(read_matrix(&q).expect("read csv"), m);
    }

    #[test]
    fn one_dimensional_npy_is_a_column() {
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let mut header = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }".to_string();
        while !(10 + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        for v in [1.0f64, 2.0, 3.0] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let (_d, p) = tmp("v.npy", &bytes);
        let m = read_matrix(&p).expect("read");
        assert_eq!(m.shape(), (3, 1));
        assert_eq!(m[(2, 0)], 3.0);
    }

    #[test]
    fn truncated_npy_is_an_error_not_a_panic() {
        let m = DMatrix::from_element(4, 4, 1.0);
        let mut bytes = Vec::new();
        write_npy_to(&mut bytes, &m).expect("write");
        for cut in [5, 20, bytes.len() - 8] {
            let (_d, p) = tmp("t.npy", &bytes[..cut]);
            assert!(read_matrix(&p).is_err(), "cut at {cut}");
        }
    }
}
