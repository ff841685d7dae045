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

/// Reads a matrix from `.npy` or `.csv` (by extension), rejecting NaN and
/// infinities with the file, row and column of the first one.
pub fn read_matrix(path: &Path) -> Result<DMatrix<f64>> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::input(format!("{name}: file not found")),
        _ => Error::input(format!("{name}: cannot read: {e}")),
    })?;
    if meta.is_dir() {
        return Err(Error::input(format!(
            "{name}: is a directory, not a matrix file"
        )));
    }
    if meta.len() == 0 {
        return Err(Error::input(format!("{name}: file is empty")));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    let m = match ext.as_deref() {
        Some("npy") => read_npy(path, &name)?,
        Some("csv") | Some("txt") | Some("tsv") => read_csv(path, &name)?,
        _ => {
            return Err(Error::input(format!(
                "{name}: unknown matrix format; use a .npy or .csv file"
            )))
        }
    };
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
    Ok(m)
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

fn read_npy(path: &Path, name: &str) -> Result<DMatrix<f64>> {
    let mut file =
        File::open(path).map_err(|e| Error::input(format!("{name}: cannot read: {e}")))?;
    // At most the first 1 MiB holds the header that matters here.
    let mut head = Vec::new();
    (&mut file)
        .take(1 << 20)
        .read_to_end(&mut head)
        .map_err(|e| Error::input(format!("{name}: cannot read: {e}")))?;
    if let Some(dims) = npy_header_overflowing_shape(&head) {
        return Err(Error::input(format!(
            "{name}: .npy shape {dims:?} has more entries than can be addressed"
        )));
    }
    let reader = std::io::Cursor::new(head).chain(BufReader::new(file));
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

fn read_csv(path: &Path, name: &str) -> Result<DMatrix<f64>> {
    let mut text = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| Error::input(format!("{name}: cannot read: {e}")))?;
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
        .from_reader(text.as_bytes());
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let mut width: Option<usize> = None;
    for (i, rec) in rdr.records().enumerate() {
        let rec =
            rec.map_err(|e| Error::input(format!("{name}: malformed CSV: {}", one_line(e))))?;
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(i + 1);
        if rec.iter().all(|c| c.is_empty()) {
            continue;
        }
        let cells: Vec<Option<f64>> = rec.iter().map(parse_cell).collect();
        if rows.is_empty() && width.is_none() && cells.iter().all(|c| c.is_none()) {
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
        let row_no = rows.len() + 1;
        let mut row = Vec::with_capacity(cells.len());
        for (j, (c, raw)) in cells.iter().zip(rec.iter()).enumerate() {
            match c {
                Some(v) => row.push(*v),
                None => {
                    return Err(Error::input(format!(
                        "{name}: non-numeric value '{}' at row {row_no}, column {} (line {line})",
                        shown(raw),
                        j + 1
                    )))
                }
            }
        }
        rows.push(row);
    }
    let ncols = width.unwrap_or(0);
    if rows.is_empty() || ncols == 0 {
        return Err(Error::input(format!("{name}: no numeric rows")));
    }
    let nrows = rows.len();
    Ok(DMatrix::from_fn(nrows, ncols, |i, j| {
        rows.get(i)
            .and_then(|r| r.get(j))
            .copied()
            .unwrap_or(f64::NAN)
    }))
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

/// The whole content of a regular UTF-8 input file of at most `limit`
/// bytes. Refused with one line naming the file, before reading a byte:
/// a missing file, anything that is not a regular file (a pipe or a device
/// such as `/dev/zero` would be read without end) and a file larger than
/// `limit`; a file that grows past `limit` while read is refused too.
pub fn read_input_text(path: &Path, limit: u64) -> Result<String> {
    let name = path.display().to_string();
    let cannot = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => Error::input(format!("{name}: file not found")),
        _ => Error::input(format!("{name}: cannot read: {e}")),
    };
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        return Err(Error::input(format!(
            "{name}: is {}, not a regular file; save the content to a file and pass that",
            if meta.is_dir() {
                "a directory"
            } else {
                "a pipe, device or socket"
            }
        )));
    }
    if meta.len() > limit {
        return Err(Error::input(format!(
            "{name}: is {} bytes, more than the {limit} this kind of file may have",
            meta.len()
        )));
    }
    let mut bytes = Vec::new();
    File::open(path)
        .map_err(cannot)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > limit {
        return Err(Error::input(format!(
            "{name}: grew beyond {limit} bytes while being read; pass a file that is not being written"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        Error::input(format!(
            "{name}: is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
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
