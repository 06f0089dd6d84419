//! NumPy `.npy` files: 2-D float feature matrices and 1-D integer label vectors.
//!
//! The header (format versions 1.0, 2.0 and 3.0) is a Python dict literal with the keys
//! `descr`, `fortran_order` and `shape`, parsed here by hand. Supported: C order,
//! little-endian `<f4`/`<f8` features and `<i1 <i2 <i4 <i8 <u1 <u2 <u4 <u8` (or `|i1`,
//! `|u1`) labels.
//!
//! Hostile files cannot make the reader allocate more than the file holds: the data
//! size implied by the header is computed with checked arithmetic and compared with the
//! bytes actually present (the file length, or what the reader yields) before any
//! buffer for it is allocated.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use super::{Dataset, classes_from_i64, io_err, shorten, stem};
use crate::error::{Error, Result, checked_size};
use crate::float::Float;
use crate::matrix::Matrix;

const MAGIC: &[u8] = b"\x93NUMPY";
/// The longest header accepted, in bytes (NumPy itself refuses headers over 10 000
/// bytes by default).
pub const MAX_HEADER_BYTES: usize = 1 << 20;

/// The element types the readers know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    F4,
    F8,
    I(usize),
    U(usize),
}

impl Dtype {
    fn size(self) -> usize {
        match self {
            Dtype::F4 => 4,
            Dtype::F8 => 8,
            Dtype::I(s) | Dtype::U(s) => s,
        }
    }
}

/// A parsed `.npy` header.
#[derive(Debug)]
struct Header {
    descr: String,
    dtype: Option<Dtype>,
    shape: Vec<usize>,
    /// Bytes of data the header announces (checked product).
    data_bytes: usize,
}

fn perr(source: &str, location: &str, message: impl Into<String>) -> Error {
    Error::Parse {
        path: source.to_string(),
        location: location.to_string(),
        message: message.into(),
    }
}

/// Reads exactly `buf.len()` bytes, or reports a truncated file.
fn read_exact_or(r: &mut impl Read, buf: &mut [u8], source: &str, what: &str) -> Result<()> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => {
                return Err(perr(
                    source,
                    what,
                    format!("truncated file: expected {} bytes, found {got}", buf.len()),
                ));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Error::Io {
                    path: source.to_string(),
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Reads the magic, version and header dict; returns the header and its total length
/// in bytes (where the data starts).
fn read_header(r: &mut impl Read, source: &str) -> Result<(Header, usize)> {
    let mut pre = [0u8; 8];
    read_exact_or(r, &mut pre, source, "header")?;
    if &pre[..6] != MAGIC {
        return Err(perr(source, "header", "not a .npy file (bad magic bytes)"));
    }
    let (major, minor) = (pre[6], pre[7]);
    let (len, prefix) = match major {
        1 => {
            let mut b = [0u8; 2];
            read_exact_or(r, &mut b, source, "header")?;
            (u16::from_le_bytes(b) as usize, 10)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            read_exact_or(r, &mut b, source, "header")?;
            (u32::from_le_bytes(b) as usize, 12)
        }
        _ => {
            return Err(perr(
                source,
                "header",
                format!("unsupported .npy format version {major}.{minor} (1.0, 2.0 and 3.0 are supported)"),
            ));
        }
    };
    if len > MAX_HEADER_BYTES {
        return Err(Error::TooLarge {
            what: format!("{source}: .npy header of {len} bytes (at most {MAX_HEADER_BYTES})"),
        });
    }
    let mut text = vec![0u8; len];
    read_exact_or(r, &mut text, source, "header")?;
    let text = if major == 3 {
        std::str::from_utf8(&text).map_err(|_| perr(source, "header", "header is not valid UTF-8"))?
    } else {
        if !text.is_ascii() {
            return Err(perr(source, "header", "header is not ASCII"));
        }
        std::str::from_utf8(&text).map_err(|_| perr(source, "header", "header is not ASCII"))?
    };
    let header = parse_dict(text, source)?;
    Ok((header, prefix + len))
}

/// A Python literal value, as far as `.npy` headers need.
#[derive(Debug)]
enum Lit {
    Str(String),
    Bool(bool),
    Int(Option<u64>),
    Tuple(Vec<Lit>),
    Other,
}

struct LitParser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

impl LitParser<'_> {
    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn value(&mut self) -> std::result::Result<Lit, String> {
        self.ws();
        self.depth += 1;
        if self.depth > 32 {
            return Err("header nested too deeply".to_string());
        }
        let r = match self.s.get(self.pos) {
            None => Err("unexpected end of header".to_string()),
            Some(&q @ (b'\'' | b'"')) => {
                let start = self.pos + 1;
                let end = self.s[start..]
                    .iter()
                    .position(|&c| c == q)
                    .ok_or("unterminated string in header")?;
                self.pos = start + end + 1;
                Ok(Lit::Str(
                    String::from_utf8_lossy(&self.s[start..start + end]).into_owned(),
                ))
            }
            Some(b'(' | b'[') => {
                let close = if self.s[self.pos] == b'(' { b')' } else { b']' };
                let is_tuple = close == b')';
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    if self.eat(close) {
                        break;
                    }
                    items.push(self.value()?);
                    if self.eat(b',') {
                        continue;
                    }
                    if self.eat(close) {
                        break;
                    }
                    return Err(format!("expected `,` or `{}` in header", close as char));
                }
                Ok(if is_tuple { Lit::Tuple(items) } else { Lit::Other })
            }
            Some(b'{') => {
                // A nested dict (structured dtypes): skip it, balanced.
                self.pos += 1;
                loop {
                    if self.eat(b'}') {
                        break;
                    }
                    self.value()?;
                    if !self.eat(b':') {
                        return Err("expected `:` in header".to_string());
                    }
                    self.value()?;
                    if self.eat(b',') {
                        continue;
                    }
                    if self.eat(b'}') {
                        break;
                    }
                    return Err("expected `,` or `}` in header".to_string());
                }
                Ok(Lit::Other)
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
                    self.pos += 1;
                }
                // L suffix of Python 2 longs.
                if self.s.get(self.pos) == Some(&b'L') {
                    self.pos += 1;
                }
                let digits = std::str::from_utf8(&self.s[start..self.pos])
                    .unwrap_or("")
                    .trim_end_matches('L');
                Ok(Lit::Int(digits.parse().ok()))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.pos < self.s.len() && (self.s[self.pos].is_ascii_alphanumeric() || self.s[self.pos] == b'_')
                {
                    self.pos += 1;
                }
                Ok(match &self.s[start..self.pos] {
                    b"True" => Lit::Bool(true),
                    b"False" => Lit::Bool(false),
                    _ => Lit::Other,
                })
            }
            Some(&c) => Err(format!("unexpected character `{}` in header", c.escape_ascii())),
        };
        self.depth -= 1;
        r
    }
}

fn parse_dict(text: &str, source: &str) -> Result<Header> {
    let bad = |m: String| perr(source, "header", m);
    let mut p = LitParser {
        s: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    if !p.eat(b'{') {
        return Err(bad("header is not a dict literal".to_string()));
    }
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        if p.eat(b'}') {
            break;
        }
        let key = match p.value().map_err(&bad)? {
            Lit::Str(k) => k,
            _ => return Err(bad("header keys must be strings".to_string())),
        };
        if !p.eat(b':') {
            return Err(bad(format!("expected `:` after key '{}'", shorten(&key))));
        }
        let v = p.value().map_err(&bad)?;
        match key.as_str() {
            "descr" => descr = Some(v),
            "fortran_order" => fortran = Some(v),
            "shape" => shape = Some(v),
            _ => {}
        }
        if p.eat(b',') {
            continue;
        }
        if p.eat(b'}') {
            break;
        }
        return Err(bad("expected `,` or `}` in the header dict".to_string()));
    }
    let descr = match descr {
        Some(Lit::Str(s)) => s,
        Some(_) => {
            return Err(bad(
                "structured dtypes are not supported ('descr' is not a string)".to_string()
            ));
        }
        None => return Err(bad("missing key 'descr'".to_string())),
    };
    match fortran {
        Some(Lit::Bool(false)) => {}
        Some(Lit::Bool(true)) => {
            return Err(bad(
                "Fortran-order arrays are not supported; save a C-order array (np.ascontiguousarray)".to_string(),
            ));
        }
        Some(_) => return Err(bad("'fortran_order' must be True or False".to_string())),
        None => return Err(bad("missing key 'fortran_order'".to_string())),
    }
    let dims = match shape {
        Some(Lit::Tuple(items)) => items,
        Some(_) => return Err(bad("'shape' must be a tuple".to_string())),
        None => return Err(bad("missing key 'shape'".to_string())),
    };
    let mut shape = Vec::with_capacity(dims.len());
    for (i, d) in dims.iter().enumerate() {
        match d {
            Lit::Int(Some(v)) => match usize::try_from(*v) {
                Ok(v) => shape.push(v),
                Err(_) => {
                    return Err(Error::TooLarge {
                        what: format!("{source}: dimension {i} of the .npy shape is {v}"),
                    });
                }
            },
            Lit::Int(None) => {
                return Err(Error::TooLarge {
                    what: format!("{source}: dimension {i} of the .npy shape overflows"),
                });
            }
            _ => {
                return Err(perr(
                    source,
                    &format!("dimension {i}"),
                    "shape entries must be non-negative integers",
                ));
            }
        }
    }
    let dtype = parse_descr(&descr);
    let mut count = 1usize;
    for &d in &shape {
        count = checked_size(count, d, &format!("{source}: .npy element count"))?;
    }
    let data_bytes = checked_size(
        count,
        dtype.map_or(1, Dtype::size),
        &format!("{source}: .npy data size"),
    )?;
    Ok(Header {
        descr,
        dtype,
        shape,
        data_bytes,
    })
}

/// The dtype of a little-endian (or byte-order-free) descr; `None` for anything else.
fn parse_descr(d: &str) -> Option<Dtype> {
    let (order, code) = d.split_at_checked(1)?;
    let t = match code {
        "f4" => Dtype::F4,
        "f8" => Dtype::F8,
        "i1" => Dtype::I(1),
        "i2" => Dtype::I(2),
        "i4" => Dtype::I(4),
        "i8" => Dtype::I(8),
        "u1" => Dtype::U(1),
        "u2" => Dtype::U(2),
        "u4" => Dtype::U(4),
        "u8" => Dtype::U(8),
        _ => return None,
    };
    let ok = match order {
        "<" => true,
        "|" => t.size() == 1,
        "=" => cfg!(target_endian = "little") || t.size() == 1,
        ">" => t.size() == 1,
        _ => false,
    };
    ok.then_some(t)
}

fn dtype_message(descr: &str, wanted: &str) -> String {
    let big = descr.starts_with('>');
    if big {
        format!(
            "big-endian dtype '{}' is not supported; expected {wanted} (convert with arr.astype(arr.dtype.newbyteorder('<')))",
            shorten(descr)
        )
    } else {
        format!("unsupported dtype '{}'; expected {wanted}", shorten(descr))
    }
}

/// Reads the data after the header: exactly `h.data_bytes`, with no allocation beyond
/// what the input holds. `available`: the bytes left in the input when known.
fn read_data(r: &mut impl Read, h: &Header, available: Option<u64>, source: &str) -> Result<Vec<u8>> {
    let need = h.data_bytes;
    if let Some(av) = available {
        if av < need as u64 {
            return Err(perr(
                source,
                "data",
                format!(
                    "truncated file: the header announces shape {:?} ({need} bytes of data), but only {av} bytes follow",
                    h.shape
                ),
            ));
        }
        if av > need as u64 {
            return Err(perr(
                source,
                "data",
                format!(
                    "{} unexpected bytes after the data (shape {:?})",
                    av - need as u64,
                    h.shape
                ),
            ));
        }
        let mut buf = vec![0u8; need];
        read_exact_or(r, &mut buf, source, "data")?;
        return Ok(buf);
    }
    // Unknown length: grow with what actually arrives.
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    while buf.len() < need {
        let want = (need - buf.len()).min(chunk.len());
        match r.read(&mut chunk[..want]) {
            Ok(0) => {
                return Err(perr(
                    source,
                    "data",
                    format!(
                        "truncated file: the header announces shape {:?} ({need} bytes of data), but only {} bytes follow",
                        h.shape,
                        buf.len()
                    ),
                ));
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Error::Io {
                    path: source.to_string(),
                    message: e.to_string(),
                });
            }
        }
    }
    let mut extra = [0u8; 1];
    loop {
        match r.read(&mut extra) {
            Ok(0) => return Ok(buf),
            Ok(_) => {
                return Err(perr(
                    source,
                    "data",
                    format!("unexpected bytes after the data (shape {:?})", h.shape),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Error::Io {
                    path: source.to_string(),
                    message: e.to_string(),
                });
            }
        }
    }
}

/// Opens `path`; its length when it is a regular file (pipes and devices are read
/// without a known length).
fn open(path: &Path) -> Result<(BufReader<File>, Option<u64>)> {
    let f = File::open(path).map_err(|e| io_err(path, &e))?;
    let meta = f.metadata().map_err(|e| io_err(path, &e))?;
    let len = meta.is_file().then_some(meta.len());
    Ok((BufReader::new(f), len))
}

/// Reads a 2-D, C-order `<f4` or `<f8` array as a matrix of `T`.
///
/// Errors: [`Error::Io`]; [`Error::Parse`] at `header` for bad magic, an unsupported
/// version, a malformed header, Fortran order, another dtype or a big-endian one (named
/// in the message), a shape that is not 2-D; at `data` for a file shorter (or longer)
/// than the shape requires; at `row i, column j` (0-based) for a NaN, an infinity or a
/// value that overflows `T`; [`Error::TooLarge`] for a shape whose size overflows;
/// [`Error::Empty`] for zero rows or columns.
pub fn read_npy_matrix<T: Float>(path: &Path) -> Result<Matrix<T>> {
    let (mut r, len) = open(path)?;
    npy_matrix(&mut r, len, &path.display().to_string())
}

/// [`read_npy_matrix`] from the bytes of a file.
pub fn read_npy_matrix_from_bytes<T: Float>(bytes: &[u8], source: &str) -> Result<Matrix<T>> {
    npy_matrix(&mut &bytes[..], Some(bytes.len() as u64), source)
}

/// [`read_npy_matrix`] from any reader (length unknown: memory still grows only with
/// the bytes actually read).
pub fn read_npy_matrix_from<T: Float, R: Read>(mut reader: R, source: &str) -> Result<Matrix<T>> {
    npy_matrix(&mut reader, None, source)
}

fn npy_matrix<T: Float>(r: &mut impl Read, total: Option<u64>, source: &str) -> Result<Matrix<T>> {
    let (h, hlen) = read_header(r, source)?;
    let dtype = match h.dtype {
        Some(t @ (Dtype::F4 | Dtype::F8)) => t,
        _ => {
            return Err(perr(
                source,
                "header",
                dtype_message(&h.descr, "'<f4' or '<f8' features"),
            ));
        }
    };
    let &[rows, cols] = h.shape.as_slice() else {
        return Err(perr(
            source,
            "header",
            format!("expected a 2-D array (samples × features), found shape {:?}", h.shape),
        ));
    };
    if rows == 0 || cols == 0 {
        return Err(Error::empty(format!("{source}: a {rows}×{cols} array")));
    }
    let bytes = read_data(r, &h, total.map(|t| t.saturating_sub(hlen as u64)), source)?;
    let mut m = Matrix::<T>::zeros(rows, cols)?;
    let out = m.as_mut_slice();
    let bad = |k: usize, v: f64| {
        let what = if v.is_finite() {
            format!("value {v:e} overflows {}", T::NAME)
        } else {
            format!("non-finite value {v}")
        };
        perr(source, &format!("row {}, column {}", k / cols, k % cols), what)
    };
    match dtype {
        Dtype::F4 => {
            for (k, c) in bytes.chunks_exact(4).enumerate() {
                let v = f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                let t = T::from_f64(v);
                if !t.is_finite() {
                    return Err(bad(k, v));
                }
                out[k] = t;
            }
        }
        _ => {
            for (k, c) in bytes.chunks_exact(8).enumerate() {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                let v = f64::from_le_bytes(a);
                let t = T::from_f64(v);
                if !t.is_finite() {
                    return Err(bad(k, v));
                }
                out[k] = t;
            }
        }
    }
    Ok(m)
}

/// Reads a 1-D integer array (`<i1 <i2 <i4 <i8 <u1 <u2 <u4 <u8`, `|i1`, `|u1`) as `i64`
/// labels; a 2-D array with one column is accepted too.
///
/// Errors as for [`read_npy_matrix`]; also a `u8` value above `i64::MAX` (at `element i`)
/// and a float dtype, which must be converted first (`y.astype(np.int64)`).
pub fn read_npy_labels(path: &Path) -> Result<Vec<i64>> {
    let (mut r, len) = open(path)?;
    npy_labels(&mut r, len, &path.display().to_string())
}

/// [`read_npy_labels`] from the bytes of a file.
pub fn read_npy_labels_from_bytes(bytes: &[u8], source: &str) -> Result<Vec<i64>> {
    npy_labels(&mut &bytes[..], Some(bytes.len() as u64), source)
}

/// [`read_npy_labels`] from any reader.
pub fn read_npy_labels_from<R: Read>(mut reader: R, source: &str) -> Result<Vec<i64>> {
    npy_labels(&mut reader, None, source)
}

fn npy_labels(r: &mut impl Read, total: Option<u64>, source: &str) -> Result<Vec<i64>> {
    let (h, hlen) = read_header(r, source)?;
    let dtype = match h.dtype {
        Some(t @ (Dtype::I(_) | Dtype::U(_))) => t,
        _ => {
            return Err(perr(
                source,
                "header",
                dtype_message(
                    &h.descr,
                    "an integer dtype such as '<i8' for labels (use y.astype(np.int64))",
                ),
            ));
        }
    };
    let n = match h.shape.as_slice() {
        &[n] | &[n, 1] => n,
        s => {
            return Err(perr(
                source,
                "header",
                format!("expected a 1-D array of labels, found shape {s:?}"),
            ));
        }
    };
    if n == 0 {
        return Err(Error::empty(format!("{source}: no labels")));
    }
    let bytes = read_data(r, &h, total.map(|t| t.saturating_sub(hlen as u64)), source)?;
    let size = dtype.size();
    let mut out = Vec::with_capacity(n);
    for (k, c) in bytes.chunks_exact(size).enumerate() {
        let mut a = [0u8; 8];
        a[..size].copy_from_slice(c);
        let v = match dtype {
            Dtype::I(s) => {
                // Sign-extend from `s` bytes.
                let shift = 64 - 8 * s as u32;
                ((u64::from_le_bytes(a) << shift) as i64) >> shift
            }
            _ => {
                let u = u64::from_le_bytes(a);
                i64::try_from(u)
                    .map_err(|_| perr(source, &format!("element {k}"), format!("label {u} is above i64::MAX")))?
            }
        };
        out.push(v);
    }
    Ok(out)
}

/// Reads a data set from a feature file and a label file (as [`read_npy_matrix`] and
/// [`read_npy_labels`]): the sorted distinct label values become the classes. Features
/// are named `f0`, `f1`, ...; the data set is named after the feature file's stem.
/// Different row counts are an [`Error::ShapeMismatch`].
pub fn read_npy_dataset<T: Float>(x_path: &Path, y_path: &Path) -> Result<Dataset<T>> {
    let x = read_npy_matrix::<T>(x_path)?;
    let raw = read_npy_labels(y_path)?;
    if raw.len() != x.rows() {
        return Err(Error::shape(
            format!("{} and {}", x_path.display(), y_path.display()),
            format!("{} labels (one per row of the features)", x.rows()),
            format!("{} labels", raw.len()),
        ));
    }
    let (classes, y) = classes_from_i64(&raw)?;
    let d = x.cols();
    Dataset::new(x, y, classes, (0..d).map(|j| format!("f{j}")).collect(), stem(x_path))
}

/// Builds a version 1.0 header (padded so that the data starts at a multiple of 64).
fn header_bytes(descr: &str, shape: &[usize]) -> Vec<u8> {
    let shape_s = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
        ),
    };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_s}, }}");
    let unpadded = 10 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    dict.extend(std::iter::repeat_n(' ', pad));
    dict.push('\n');
    let mut out = Vec::with_capacity(10 + dict.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Writes `x` as a 2-D C-order `.npy` array: `<f4` for `f32`, `<f8` for `f64`.
pub fn write_npy_matrix<T: Float>(path: &Path, x: &Matrix<T>) -> Result<()> {
    let f = File::create(path).map_err(|e| io_err(path, &e))?;
    let mut w = BufWriter::new(f);
    write_npy_matrix_to(&mut w, x).map_err(|e| io_err(path, &e))?;
    w.flush().map_err(|e| io_err(path, &e))
}

/// [`write_npy_matrix`] to any writer.
pub fn write_npy_matrix_to<T: Float, W: Write>(w: &mut W, x: &Matrix<T>) -> std::io::Result<()> {
    let f32s = T::NAME == "f32";
    w.write_all(&header_bytes(if f32s { "<f4" } else { "<f8" }, &[x.rows(), x.cols()]))?;
    let mut buf = Vec::with_capacity(x.cols() * 8);
    for row in x.iter_rows() {
        buf.clear();
        for &v in row {
            if f32s {
                buf.extend_from_slice(&(v.to_f64() as f32).to_le_bytes());
            } else {
                buf.extend_from_slice(&v.to_f64().to_le_bytes());
            }
        }
        w.write_all(&buf)?;
    }
    Ok(())
}

/// Writes labels as a 1-D `<i8` (int64) `.npy` array, NumPy's default integer type.
pub fn write_npy_labels(path: &Path, y: &[u32]) -> Result<()> {
    let f = File::create(path).map_err(|e| io_err(path, &e))?;
    let mut w = BufWriter::new(f);
    write_npy_labels_to(&mut w, y).map_err(|e| io_err(path, &e))?;
    w.flush().map_err(|e| io_err(path, &e))
}

/// [`write_npy_labels`] to any writer.
pub fn write_npy_labels_to<W: Write>(w: &mut W, y: &[u32]) -> std::io::Result<()> {
    w.write_all(&header_bytes("<i8", &[y.len()]))?;
    for &v in y {
        w.write_all(&i64::from(v).to_le_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_64_aligned_and_parses() {
        let h = header_bytes("<f8", &[3, 4]);
        assert_eq!(h.len() % 64, 0);
        let (hd, len) = read_header(&mut &h[..], "t").unwrap();
        assert_eq!(len, h.len());
        assert_eq!(hd.shape, vec![3, 4]);
        assert_eq!(hd.dtype, Some(Dtype::F8));
        assert_eq!(hd.data_bytes, 96);
    }

    #[test]
    fn descr_parsing() {
        assert_eq!(parse_descr("<f4"), Some(Dtype::F4));
        assert_eq!(parse_descr("|u1"), Some(Dtype::U(1)));
        assert_eq!(parse_descr(">f8"), None);
        assert_eq!(parse_descr("|f8"), None);
        assert_eq!(parse_descr("<c16"), None);
        assert_eq!(parse_descr(""), None);
        assert_eq!(parse_descr("é"), None);
    }
}
