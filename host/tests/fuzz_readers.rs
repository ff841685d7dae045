//! No-panic fuzz of the matrix file readers (`overlin::io::read_matrix`,
//! `.npy` and `.csv`).
//!
//! Inputs: arbitrary bytes; valid files (every supported and several
//! unsupported dtypes, C and Fortran order, 1-D to 3-D shapes, finite and
//! non-finite values, CSV with headers, comments, blank lines, spaces)
//! mutated by byte flips, insertions, deletions, truncations and
//! duplications; and `.npy` headers built from hostile pieces (huge, zero,
//! negative and overflowing dimensions, odd dtypes and orders, data of the
//! wrong length). Every read must return a matrix or a one-line error that
//! starts with the file's name; never panic. A returned matrix is non-empty
//! and finite; an unmutated valid file reads back exactly, and a non-finite
//! entry is named by its row and column.
//!
//! Cases per target: `OVERLIN_FUZZ_CASES` (default small, so that `cargo
//! test` takes seconds); each target prints the number of cases, the time
//! and how many reads succeeded (`-- --nocapture`). Long run (RELIABILITY.md):
//! `OVERLIN_FUZZ_CASES=200000 cargo test --release -p overlin --test
//! fuzz_readers -- --nocapture`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use overlin::io::read_matrix;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

type Res = Result<(), TestCaseError>;

fn cases(default: u32) -> u32 {
    std::env::var("OVERLIN_FUZZ_CASES")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

/// Counts of the reads of the running target: (ok, err).
#[derive(Default)]
struct Counts {
    ok: u64,
    err: u64,
}

thread_local! {
    static COUNTS: std::cell::RefCell<Counts> = Default::default();
}

/// Runs `body` on `cases(default)` inputs; a failure (an assertion, or a
/// panic inside the reader) fails the test with the shrunk input.
fn fuzz<S: Strategy>(name: &str, default: u32, strategy: S, body: impl Fn(S::Value) -> Res)
where
    S::Value: std::fmt::Debug,
{
    let n = cases(default);
    let mut runner = TestRunner::new(Config {
        cases: n,
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..Config::default()
    });
    COUNTS.with(|c| *c.borrow_mut() = Counts::default());
    let t0 = Instant::now();
    let result = runner.run(&strategy, body);
    let secs = t0.elapsed().as_secs_f64();
    let (ok, err) = COUNTS.with(|c| (c.borrow().ok, c.borrow().err));
    eprintln!("fuzz {name}: {n} cases in {secs:.2} s; {ok} read as a matrix, {err} refused");
    if let Err(e) = result {
        panic!("fuzz {name} failed: {e}");
    }
}

/// A scratch folder per test thread, and the file `f.<ext>` in it.
fn scratch(ext: &str) -> PathBuf {
    thread_local! {
        static DIR: tempfile::TempDir = tempfile::tempdir().expect("tempdir");
    }
    DIR.with(|d| d.path().join(format!("f.{ext}")))
}

/// Writes `bytes` to `f.<ext>` and reads it; checks the contract of
/// `read_matrix` and returns the matrix, if any.
fn read(
    ext: &str,
    bytes: &[u8],
) -> Result<Option<overlin_core::nalgebra::DMatrix<f64>>, TestCaseError> {
    let path = scratch(ext);
    std::fs::write(&path, bytes).expect("write");
    check(&path, read_matrix(&path))
}

fn check(
    path: &Path,
    r: overlin::Result<overlin_core::nalgebra::DMatrix<f64>>,
) -> Result<Option<overlin_core::nalgebra::DMatrix<f64>>, TestCaseError> {
    match r {
        Ok(m) => {
            COUNTS.with(|c| c.borrow_mut().ok += 1);
            prop_assert!(
                m.nrows() >= 1 && m.ncols() >= 1,
                "empty matrix {:?}",
                m.shape()
            );
            prop_assert!(m.iter().all(|x| x.is_finite()), "non-finite entry accepted");
            Ok(Some(m))
        }
        Err(e) => {
            COUNTS.with(|c| c.borrow_mut().err += 1);
            prop_assert_eq!(e.exit_code(), 2, "not an input error: {}", e);
            let msg = e.to_string();
            prop_assert!(!msg.contains('\n'), "multi-line error: {:?}", msg);
            let name = path.display().to_string();
            prop_assert!(
                msg.starts_with(&name),
                "error does not name the file: {:?}",
                msg
            );
            prop_assert!(msg.len() > name.len() + 2, "empty reason: {:?}", msg);
            Ok(None)
        }
    }
}

// ---------------------------------------------------------------------------
// Values and valid files
// ---------------------------------------------------------------------------

fn value() -> BoxedStrategy<f64> {
    prop_oneof![
        8 => -5.0..5.0f64,
        1 => prop_oneof![
            Just(0.0),
            Just(-0.0),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::MAX),
            Just(f64::MIN_POSITIVE),
            Just(5e-324),
            Just(1e300),
            Just(3.5e38),
        ],
        1 => any::<f64>(),
    ]
    .boxed()
}

/// An `.npy` dtype: (descr, bytes per item, supported by the reader).
const DTYPES: &[(&str, usize, bool)] = &[
    ("<f8", 8, true),
    ("<f4", 4, true),
    ("<i8", 8, true),
    ("<i4", 4, true),
    (">f8", 8, true),
    (">f4", 4, true),
    ("|i1", 1, false),
    ("<u2", 2, false),
    ("<c16", 16, false),
    ("|b1", 1, false),
    ("<U3", 12, false),
    ("|O", 8, false),
    ("<f2", 2, false),
];

fn encode(descr: &str, v: f64) -> Vec<u8> {
    match descr {
        "<f8" => v.to_le_bytes().to_vec(),
        ">f8" => v.to_be_bytes().to_vec(),
        "<f4" => (v as f32).to_le_bytes().to_vec(),
        ">f4" => (v as f32).to_be_bytes().to_vec(),
        "<i8" => (v as i64).to_le_bytes().to_vec(),
        "<i4" => (v as i32).to_le_bytes().to_vec(),
        _ => {
            let size = DTYPES.iter().find(|d| d.0 == descr).map_or(8, |d| d.1);
            (0..size)
                .map(|i| (v.to_bits() >> (8 * (i % 8))) as u8)
                .collect()
        }
    }
}

/// The value an encoded entry decodes to.
fn decoded(descr: &str, v: f64) -> f64 {
    match descr {
        "<f4" | ">f4" => f64::from(v as f32),
        "<i8" => (v as i64) as f64,
        "<i4" => f64::from(v as i32),
        _ => v,
    }
}

/// A `.npy` file, format 1.0 (or 2.0 with `v2`), header `header_text`.
fn npy_with_header(header_text: &str, v2: bool, data: &[u8]) -> Vec<u8> {
    let mut header = header_text.to_string();
    let pre = if v2 { 12 } else { 10 };
    while !(pre + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    if v2 {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    } else {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn shape_text(dims: &[String]) -> String {
    match dims {
        [a] => format!("({a},)"),
        d => format!("({})", d.join(", ")),
    }
}

#[derive(Clone, Debug)]
struct NpyCase {
    dtype: usize,
    fortran: bool,
    v2: bool,
    rows: usize,
    cols: usize,
    /// 1 = a vector (read as a column), 2 = a matrix, 3 = a 3-D array.
    ndim: usize,
    values: Vec<f64>,
}

fn npy_case() -> impl Strategy<Value = NpyCase> {
    (
        prop_oneof![6 => 0usize..6, 1 => 0..DTYPES.len()],
        any::<bool>(),
        prop_oneof![4 => Just(false), 1 => Just(true)],
        prop_oneof![1 => Just(0usize), 8 => 1usize..7],
        prop_oneof![1 => Just(0usize), 8 => 1usize..7],
        prop_oneof![2 => Just(1usize), 6 => Just(2usize), 1 => Just(3usize)],
    )
        .prop_flat_map(|(dtype, fortran, v2, rows, cols, ndim)| {
            let len = match ndim {
                1 => rows,
                2 => rows * cols,
                _ => rows * cols * 2,
            };
            prop::collection::vec(value(), len).prop_map(move |values| NpyCase {
                dtype,
                fortran,
                v2,
                rows,
                cols,
                ndim,
                values,
            })
        })
}

impl NpyCase {
    fn bytes(&self) -> Vec<u8> {
        let (descr, _, _) = DTYPES[self.dtype];
        let dims: Vec<String> = match self.ndim {
            1 => vec![self.rows.to_string()],
            2 => vec![self.rows.to_string(), self.cols.to_string()],
            _ => vec![self.rows.to_string(), self.cols.to_string(), "2".into()],
        };
        let header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {}, }}",
            if self.fortran { "True" } else { "False" },
            shape_text(&dims)
        );
        let data: Vec<u8> = self.values.iter().flat_map(|&v| encode(descr, v)).collect();
        npy_with_header(&header, self.v2, &data)
    }

    /// The matrix the file holds, `None` when the reader must refuse it.
    fn expected(&self) -> Option<overlin_core::nalgebra::DMatrix<f64>> {
        let (descr, _, supported) = DTYPES[self.dtype];
        let cols = if self.ndim == 1 { 1 } else { self.cols };
        if !supported || self.ndim == 3 || self.rows == 0 || cols == 0 {
            return None;
        }
        let vals: Vec<f64> = self.values.iter().map(|&v| decoded(descr, v)).collect();
        let m = if self.fortran {
            overlin_core::nalgebra::DMatrix::from_column_slice(self.rows, cols, &vals)
        } else {
            overlin_core::nalgebra::DMatrix::from_row_slice(self.rows, cols, &vals)
        };
        m.iter().all(|x| x.is_finite()).then_some(m)
    }
}

/// The first non-finite entry in column-major order, 1-based (as the
/// reader names it).
fn first_bad(m: &overlin_core::nalgebra::DMatrix<f64>) -> Option<(usize, usize)> {
    let r = m.nrows();
    m.as_slice()
        .iter()
        .position(|x| !x.is_finite())
        .map(|i| (i % r + 1, i / r + 1))
}

#[derive(Clone, Debug)]
struct CsvCase {
    rows: usize,
    cols: usize,
    values: Vec<f64>,
    style: Vec<u8>,
    header: bool,
    comment: bool,
    blank: bool,
    tsv: bool,
}

fn csv_case() -> impl Strategy<Value = CsvCase> {
    (1usize..7, 1usize..6).prop_flat_map(|(rows, cols)| {
        (
            prop::collection::vec(value(), rows * cols),
            prop::collection::vec(0u8..6, rows * cols),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop_oneof![5 => Just(false), 1 => Just(true)],
        )
            .prop_map(
                move |(values, style, header, comment, blank, tsv)| CsvCase {
                    rows,
                    cols,
                    values,
                    style,
                    header,
                    comment,
                    blank,
                    tsv,
                },
            )
    })
}

/// A cell as people write them; every style parses back to the same value
/// (`{}` and `{:e}` round-trip exactly).
fn cell(v: f64, style: u8) -> String {
    if v.is_nan() {
        return ["nan", "NaN", " NAN"][usize::from(style % 3)].into();
    }
    if v.is_infinite() {
        let s = ["inf", "Infinity", "+inf"][usize::from(style % 3)];
        return if v < 0.0 {
            format!("-{}", s.trim_start_matches('+'))
        } else {
            s.into()
        };
    }
    match style {
        0 => format!("{v}"),
        1 => format!("{v:e}"),
        2 => format!(" {v:e} "),
        3 => format!("{v:E}"),
        4 => format!("\t{v}"),
        _ => format!("{v:+e}"),
    }
}

impl CsvCase {
    fn text(&self) -> String {
        let sep = if self.tsv { "\t" } else { "," };
        let mut s = String::new();
        if self.comment {
            s += "# exported by a test\n";
        }
        if self.header {
            let names: Vec<String> = (0..self.cols).map(|j| format!("x{j}")).collect();
            s += &names.join(sep);
            s += "\n";
        }
        for i in 0..self.rows {
            let row: Vec<String> = (0..self.cols)
                .map(|j| {
                    let k = i * self.cols + j;
                    // Tabs inside cells would split a TSV row.
                    let st = if self.tsv && self.style[k] == 4 {
                        0
                    } else {
                        self.style[k]
                    };
                    cell(self.values[k], st)
                })
                .collect();
            s += &row.join(sep);
            s += "\n";
            if self.blank && i == 0 {
                s += "\n";
            }
        }
        s
    }

    fn matrix(&self) -> overlin_core::nalgebra::DMatrix<f64> {
        overlin_core::nalgebra::DMatrix::from_row_slice(self.rows, self.cols, &self.values)
    }
}

// ---------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    Duplicate(usize, usize),
    /// Replace a digit run by a large or odd number (shape, values).
    Number(usize, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        2 => (any::<usize>(), prop_oneof![any::<u8>(), Just(b','), Just(b'\n'), Just(b'"'), Just(b'('), Just(b')'), Just(b'\'')]).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => any::<usize>().prop_map(Mutation::Delete),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Mutation::Duplicate(i, j)),
        2 => (any::<usize>(), prop_oneof![
            Just("4294967296"),
            Just("18446744073709551615"),
            Just("18446744073709551616"),
            Just("99999999999999999999999"),
            Just("-1"),
            Just("0"),
            Just("3037000500"),
            Just("1e400"),
            Just("nan"),
            Just("65536"),
        ]).prop_map(|(i, s)| Mutation::Number(i, s)),
    ]
}

fn mutate(mut b: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        let n = b.len();
        match *m {
            Mutation::Flip(i, x) if n > 0 => b[i % n] ^= x | 1,
            Mutation::Insert(i, x) => b.insert(i % (n + 1), x),
            Mutation::Delete(i) if n > 0 => {
                b.remove(i % n);
            }
            Mutation::Truncate(i) => b.truncate(i % (n + 1)),
            Mutation::Duplicate(i, j) if n > 0 => {
                let lo = i % n;
                let hi = (lo + 1 + j % 64).min(n);
                let piece = b[lo..hi].to_vec();
                b.splice(hi..hi, piece);
            }
            Mutation::Number(i, s) if n > 0 => {
                // The digit run at or after i.
                let start = (i % n..n).find(|&k| b[k].is_ascii_digit());
                if let Some(st) = start {
                    let end = (st..n).find(|&k| !b[k].is_ascii_digit()).unwrap_or(n);
                    b.splice(st..end, s.bytes());
                }
            }
            _ => {}
        }
    }
    b
}

// ---------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------

fn ext() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("npy"),
        Just("csv"),
        Just("tsv"),
        Just("txt"),
        Just("NPY"),
        Just("dat")
    ]
}

#[test]
fn arbitrary_bytes_never_panic() {
    let bytes = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..512),
        // Printable, CSV-looking text.
        2 => "[0-9eE+\\-., \\t\\nnaif#\"]{0,256}".prop_map(String::into_bytes),
        // The .npy magic followed by anything.
        2 => prop::collection::vec(any::<u8>(), 0..256).prop_map(|t| {
            let mut v = b"\x93NUMPY".to_vec();
            v.extend(t);
            v
        }),
    ];
    fuzz("arbitrary bytes", 1000, (ext(), bytes), |(e, b)| {
        read(e, &b)?;
        Ok(())
    });
}

#[test]
fn valid_npy_reads_back_and_mutants_never_panic() {
    fuzz("valid .npy", 300, npy_case(), |c| {
        let m = read("npy", &c.bytes())?;
        match (c.expected(), m) {
            (Some(want), Some(got)) => prop_assert_eq!(got, want),
            (None, None) => {}
            (want, got) => prop_assert!(
                false,
                "expected {:?}, read {:?}",
                want.map(|m| m.shape()),
                got.map(|m| m.shape())
            ),
        }
        Ok(())
    });
    fuzz(
        "mutated .npy",
        500,
        (npy_case(), prop::collection::vec(mutation(), 1..5)),
        |(c, ms)| {
            read("npy", &mutate(c.bytes(), &ms))?;
            Ok(())
        },
    );
}

#[test]
fn non_finite_npy_entries_are_named_by_row_and_column() {
    fuzz("non-finite .npy", 300, npy_case(), |c| {
        let (descr, _, supported) = DTYPES[c.dtype];
        if !supported || c.ndim != 2 || c.rows == 0 || c.cols == 0 || descr.contains('i') {
            return Ok(());
        }
        let vals: Vec<f64> = c.values.iter().map(|&v| decoded(descr, v)).collect();
        let m = if c.fortran {
            overlin_core::nalgebra::DMatrix::from_column_slice(c.rows, c.cols, &vals)
        } else {
            overlin_core::nalgebra::DMatrix::from_row_slice(c.rows, c.cols, &vals)
        };
        let path = scratch("npy");
        std::fs::write(&path, c.bytes()).expect("write");
        let r = check(&path, read_matrix(&path))?;
        if let Some((row, col)) = first_bad(&m) {
            prop_assert!(r.is_none(), "a non-finite entry was accepted");
            let msg = read_matrix(&path).expect_err("refused").to_string();
            prop_assert!(
                msg.contains(&format!("row {row}, column {col}")),
                "{:?} does not name row {} column {}",
                msg,
                row,
                col
            );
        } else {
            prop_assert_eq!(r, Some(m), "finite file refused or misread");
        }
        Ok(())
    });
}

#[test]
fn hostile_npy_headers_never_panic() {
    let dim = prop_oneof![
        4 => (0u64..5).prop_map(|d| d.to_string()),
        1 => prop_oneof![
            Just("4294967296".to_string()),
            Just("4294967297".to_string()),
            Just("18446744073709551615".to_string()),
            Just("18446744073709551616".to_string()),
            Just("9223372036854775808".to_string()),
            Just("3037000500".to_string()),
            Just("-1".to_string()),
            Just("2L".to_string()),
            Just("1.5".to_string()),
            Just("".to_string()),
            Just("None".to_string()),
        ],
    ];
    let descr = prop_oneof![
        4 => (0..DTYPES.len()).prop_map(|i| format!("'{}'", DTYPES[i].0)),
        1 => prop_oneof![
            Just("[('a', '<f8'), ('b', '<f4')]".to_string()),
            Just("[('shape', '<f8')]".to_string()),
            Just("'<f8', 'shape': (1, 1)".to_string()),
            Just("('<f8', (2, 2))".to_string()),
            Just("'<V8'".to_string()),
            Just("'>c8'".to_string()),
            Just("'<M8[s]'".to_string()),
            Just("3".to_string()),
            Just("'<f99999999999999999999'".to_string()),
        ],
    ];
    let order = prop_oneof![Just("True"), Just("False"), Just("1"), Just("'x'")];
    let case = (
        prop::collection::vec(dim, 0..4),
        descr,
        order,
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..96),
        0u8..4,
    );
    fuzz(
        "hostile .npy headers",
        1000,
        case,
        |(dims, descr, order, v2, data, layout)| {
            let shape = shape_text(&dims);
            let header = match layout {
                0 => format!("{{'descr': {descr}, 'fortran_order': {order}, 'shape': {shape}, }}"),
                1 => format!("{{'shape': {shape}, 'fortran_order': {order}, 'descr': {descr}}}"),
                2 => format!("{{'descr': {descr}, 'shape': {shape}}}"),
                _ => {
                    format!("{{\"descr\": {descr}, \"fortran_order\": {order}, \"shape\":{shape}}}")
                }
            };
            read("npy", &npy_with_header(&header, v2, &data))?;
            Ok(())
        },
    );
}

#[test]
fn valid_csv_reads_back_and_mutants_never_panic() {
    fuzz("valid .csv", 300, csv_case(), |c| {
        let ext = if c.tsv { "tsv" } else { "csv" };
        let path = scratch(ext);
        std::fs::write(&path, c.text()).expect("write");
        let r = check(&path, read_matrix(&path))?;
        let want = c.matrix();
        match first_bad(&want) {
            None => prop_assert_eq!(r, Some(want)),
            Some((row, col)) => {
                prop_assert!(r.is_none());
                let msg = read_matrix(&path).expect_err("refused").to_string();
                prop_assert!(
                    msg.contains(&format!("row {row}, column {col}")),
                    "{:?} does not name row {} column {}",
                    msg,
                    row,
                    col
                );
            }
        }
        Ok(())
    });
    fuzz(
        "mutated .csv",
        500,
        (csv_case(), prop::collection::vec(mutation(), 1..5)),
        |(c, ms)| {
            let ext = if c.tsv { "tsv" } else { "csv" };
            read(ext, &mutate(c.text().into_bytes(), &ms))?;
            Ok(())
        },
    );
}

/// The headers the fuzz found (regressions): an entry count that
/// overflows 64 bits panicked (debug builds: inside npyz; release builds:
/// in nalgebra, after npyz's count wrapped to 0), a data section shorter
/// than the shape said gave an opaque message, and the header parser's
/// multi-line diagnostic broke the one-line rule.
#[test]
fn overflowing_truncated_and_unparsable_npy_headers_are_named_on_one_line() {
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "(4294967296, 4294967296)",
            &[],
            "more entries than can be addressed",
        ),
        (
            "(18446744073709551615, 2)",
            &[0; 16],
            "more entries than can be addressed",
        ),
        (
            "(4294967296, 4294967296, 0)",
            &[],
            "more entries than can be addressed",
        ),
        ("(3000000000, 3000000000)", &[0; 16], "the data end before"),
        ("(3, 2)", &[0; 40], "the data end before the 3x2 entries"),
        ("(2L,)", &[0; 16], "not a valid .npy file"),
        ("(-1, 2)", &[0; 16], "not a valid .npy file"),
    ];
    for (shape, data, needle) in cases {
        let header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
        let path = scratch("npy");
        std::fs::write(&path, npy_with_header(&header, false, data)).expect("write");
        let e = read_matrix(&path).expect_err(shape);
        let msg = e.to_string();
        assert!(msg.contains(needle), "{shape}: {msg:?}");
        assert!(!msg.contains('\n'), "{shape}: {msg:?}");
        assert!(msg.starts_with(&path.display().to_string()), "{msg}");
    }
}

/// Regression (found by `hostile_npy_headers_never_panic` in CI): a header
/// whose `descr` smuggles a first `'shape': (1, 1)` before the real,
/// overflowing shape must be refused, not reach npyz's unchecked product.
#[test]
fn repeated_shape_key_with_an_overflowing_shape_is_refused() {
    let header = "{'descr': '<f8', 'shape': (1, 1), 'fortran_order': True, 'shape': (2, 18446744073709551615), }";
    let r = read("npy", &npy_with_header(header, false, &[]));
    assert!(matches!(r, Ok(None)), "{r:?}");
}
