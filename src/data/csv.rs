//! CSV: a streaming reader for labelled data and feature-only files, and a writer.
//!
//! The dialect: comma-separated, a header row, UTF-8 (a leading byte-order mark is
//! skipped), LF or CRLF line ends, RFC 4180 quoting (`"a, b"`, `"say ""hi"""`) within one
//! line. Blank lines are skipped. Whitespace around unquoted fields is ignored. Feature
//! values are decimal numbers as Rust parses them (`1`, `-2.5`, `1e-3`, `.5`); missing
//! values, NaN and infinities are rejected.
//!
//! Files are read line by line: memory is the parsed matrix plus one line (a line
//! longer than [`MAX_LINE_BYTES`] is an [`Error::TooLarge`]).
//!
//! Errors name the place in the file, with 1-based physical line numbers counting the
//! header as line 1 and 1-based column numbers followed by the column's header name:
//! `data.csv: line 7, column 3 (petal length): `abc` is not a number`.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use super::{Dataset, LabelInterner, io_err, labels_to_indices, parse_float, preview, push_float, shorten, stem};
use crate::error::{Error, Result};
use crate::float::Float;
use crate::matrix::Matrix;

/// The longest line the readers accept, in bytes (256 MiB).
pub const MAX_LINE_BYTES: usize = 256 << 20;

/// Which column of a CSV file holds the class labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelColumn {
    /// The column with this header name (which must be unique).
    Name(String),
    /// The column at this 0-based position.
    Index(usize),
}

impl std::fmt::Display for LabelColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabelColumn::Name(n) => write!(f, "`{n}`"),
            LabelColumn::Index(i) => write!(f, "index {i}"),
        }
    }
}

/// Reads a labelled data set from a CSV file: features in every column but the label
/// column (`label_column`, by default the last), labels as strings or numbers (classes
/// sorted as in the [module documentation](super)). The data set is named after the
/// file stem.
///
/// Errors, all naming the file: [`Error::Io`] if it cannot be read; [`Error::Empty`] for
/// an empty file or a header with no data rows; [`Error::Parse`] for a missing or
/// ambiguous label column (`header`), fewer than two columns, a row with the wrong
/// number of fields, a value that is not a finite number of type `T` (including values
/// that overflow `T`), an empty label, a badly quoted field or invalid UTF-8 (`line N`,
/// `line N, column J (name)`); [`Error::TooLarge`] for an overlong line.
pub fn read_csv<T: Float>(path: &Path, label_column: Option<&LabelColumn>) -> Result<Dataset<T>> {
    let file = File::open(path).map_err(|e| io_err(path, &e))?;
    let mut ds = read_csv_from(BufReader::new(file), &path.display().to_string(), label_column)?;
    ds.name = stem(path);
    Ok(ds)
}

/// [`read_csv`] from any buffered reader; `source` names the input in errors (and,
/// through its file stem, the data set).
pub fn read_csv_from<T: Float, R: BufRead>(
    reader: R,
    source: &str,
    label_column: Option<&LabelColumn>,
) -> Result<Dataset<T>> {
    let mut lines = Lines::new(reader, source);
    let (header_line, header) = read_header(&mut lines)?;
    if header.len() < 2 {
        return Err(lines.err(
            format!("line {header_line} (header)"),
            format!("need at least 2 columns (features and a label), found {}", header.len()),
        ));
    }
    let label = resolve_label(
        &lines,
        header_line,
        &header,
        label_column.unwrap_or(&LabelColumn::Index(header.len() - 1)),
    )?;
    let body = read_body::<T, R>(&mut lines, &header, Some(label))?;
    let feature_names: Vec<String> = header
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != label)
        .map(|(_, h)| h.clone())
        .collect();
    let mut y = body.label_ids;
    let classes = body.interner.finish(&mut y);
    Dataset::new(body.x, y, classes, feature_names, stem(Path::new(source)))
}

/// A feature matrix read from a CSV file at prediction time, with the file's labels
/// when it has a label column (see [`read_csv_features`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureTable<T> {
    /// The features, one row per data row of the file.
    pub x: Matrix<T>,
    /// The header names of the feature columns.
    pub feature_names: Vec<String>,
    /// The label column's header name, when the file had one.
    pub label_name: Option<String>,
    /// The raw labels (trimmed, as spelled in the file), one per row, when the file had
    /// a label column. Map them to a model's classes with [`FeatureTable::label_indices`].
    pub labels: Option<Vec<String>>,
}

impl<T> FeatureTable<T> {
    /// The file's labels as indices into `classes` (a trained model's class names),
    /// numbers compared numerically (`"1.0"` is class `"1"`); `Ok(None)` when the file
    /// had no label column. An unknown label is an [`Error::Parse`] naming `source` and
    /// the 0-based data row.
    pub fn label_indices(&self, classes: &[String], source: &str) -> Result<Option<Vec<u32>>> {
        self.labels
            .as_ref()
            .map(|l| labels_to_indices(l, classes, source))
            .transpose()
    }
}

/// Reads the features of a CSV file for prediction or evaluation, with or without a
/// label column.
///
/// With `n_features = Some(d)` (a model's feature count) the file must have `d`
/// columns (all features, no labels) or `d + 1` (one is the label column: `label_column`,
/// by default the last; it is dropped from the features and returned as
/// [`FeatureTable::labels`]). Any other width is an [`Error::Parse`] at the header, as is
/// a file of `d` columns one of which has the name given as `LabelColumn::Name`.
///
/// With `n_features = None`, `label_column = Some(c)` drops column `c` and returns its
/// labels; `label_column = None` reads every column as a feature.
///
/// Feature values are checked as in [`read_csv`]; label values are taken as text.
pub fn read_csv_features<T: Float>(
    path: &Path,
    n_features: Option<usize>,
    label_column: Option<&LabelColumn>,
) -> Result<FeatureTable<T>> {
    let file = File::open(path).map_err(|e| io_err(path, &e))?;
    read_csv_features_from(
        BufReader::new(file),
        &path.display().to_string(),
        n_features,
        label_column,
    )
}

/// [`read_csv_features`] from any buffered reader; `source` names the input in errors.
pub fn read_csv_features_from<T: Float, R: BufRead>(
    reader: R,
    source: &str,
    n_features: Option<usize>,
    label_column: Option<&LabelColumn>,
) -> Result<FeatureTable<T>> {
    let mut lines = Lines::new(reader, source);
    let (header_line, header) = read_header(&mut lines)?;
    let w = header.len();
    let label: Option<usize> = match n_features {
        Some(0) => return Err(Error::hyper("n_features", 0, "need at least one feature")),
        Some(d) if w == d => {
            if let Some(LabelColumn::Name(n)) = label_column
                && header.iter().any(|h| h == n)
            {
                return Err(lines.err(
                    format!("line {header_line} (header)"),
                    format!(
                        "column `{n}` is named as the label column, but the file has {w} columns, \
                         as many as the model has features ({d})"
                    ),
                ));
            }
            None
        }
        Some(d) if w == d + 1 => Some(resolve_label(
            &lines,
            header_line,
            &header,
            label_column.unwrap_or(&LabelColumn::Index(w - 1)),
        )?),
        Some(d) => {
            return Err(lines.err(
                format!("line {header_line} (header)"),
                format!(
                    "expected {d} columns (the model's features) or {} (features and a label), found {w}",
                    d + 1
                ),
            ));
        }
        None => match label_column {
            Some(c) => Some(resolve_label(&lines, header_line, &header, c)?),
            None => None,
        },
    };
    if label.is_some() && w < 2 {
        return Err(lines.err(
            format!("line {header_line} (header)"),
            "the only column is the label column: no features".to_string(),
        ));
    }
    let body = read_body::<T, R>(&mut lines, &header, label)?;
    let feature_names = header
        .iter()
        .enumerate()
        .filter(|&(j, _)| Some(j) != label)
        .map(|(_, h)| h.clone())
        .collect();
    let labels = label.map(|_| {
        let raw = body.interner.raw_labels();
        body.label_ids.iter().map(|&i| raw[i as usize].clone()).collect()
    });
    Ok(FeatureTable {
        x: body.x,
        feature_names,
        label_name: label.map(|j| header[j].clone()),
        labels,
    })
}

/// Writes `ds` as CSV: a header of the feature names and `label`, then one row per
/// sample with the features in shortest round-trip form and the class name as label.
/// Fields are quoted where CSV requires. [`read_csv`] reads the file back to the same
/// data set (up to classes with no rows, which are not written).
pub fn write_csv<T: Float>(path: &Path, ds: &Dataset<T>) -> Result<()> {
    let file = File::create(path).map_err(|e| io_err(path, &e))?;
    let mut w = BufWriter::new(file);
    write_csv_to(&mut w, ds).map_err(|e| io_err(path, &e))?;
    w.flush().map_err(|e| io_err(path, &e))
}

/// [`write_csv`] to any writer. The data set must pass [`Dataset::validate`] (an
/// invalid one is reported as an [`std::io::ErrorKind::InvalidInput`] error).
pub fn write_csv_to<T: Float, W: Write>(w: &mut W, ds: &Dataset<T>) -> std::io::Result<()> {
    ds.validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let mut line = String::new();
    for name in &ds.feature_names {
        line.push_str(&quote(name));
        line.push(',');
    }
    line.push_str("label\n");
    w.write_all(line.as_bytes())?;
    let classes: Vec<Cow<'_, str>> = ds.classes.iter().map(|c| quote(c)).collect();
    for (row, &label) in ds.x.iter_rows().zip(&ds.y) {
        line.clear();
        for &v in row {
            push_float(&mut line, v);
            line.push(',');
        }
        line.push_str(&classes[label as usize]);
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// `s` quoted for CSV when it needs to be.
fn quote(s: &str) -> Cow<'_, str> {
    let needs = s.is_empty()
        || s.contains([',', '"', '\n', '\r'])
        || s.starts_with(char::is_whitespace)
        || s.starts_with('\u{feff}')
        || s.ends_with(char::is_whitespace);
    if needs {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

/// What the body of a file parsed into.
struct Body<T> {
    x: Matrix<T>,
    label_ids: Vec<u32>,
    interner: LabelInterner,
}

/// Reads the first non-blank line as the header.
fn read_header<R: BufRead>(lines: &mut Lines<R>) -> Result<(usize, Vec<String>)> {
    let source = lines.source.clone();
    let Some((n, line)) = lines.next_line()? else {
        return Err(Error::empty(format!("{source}: empty file (a header row is required)")));
    };
    let mut header = Vec::new();
    for f in Fields::new(line) {
        match f {
            Ok(s) => header.push(s.into_owned()),
            Err(msg) => {
                return Err(Error::Parse {
                    path: source,
                    location: format!("line {n} (header)"),
                    message: msg,
                });
            }
        }
    }
    Ok((n, header))
}

fn resolve_label<R>(lines: &Lines<R>, header_line: usize, header: &[String], col: &LabelColumn) -> Result<usize> {
    let loc = format!("line {header_line} (header)");
    match col {
        LabelColumn::Index(i) if *i < header.len() => Ok(*i),
        LabelColumn::Index(i) => Err(lines.err(
            loc,
            format!(
                "label column index {i} is out of range: the file has {} columns (indices 0..{})",
                header.len(),
                header.len()
            ),
        )),
        LabelColumn::Name(name) => {
            let mut hits = header.iter().enumerate().filter(|(_, h)| *h == name);
            match (hits.next(), hits.next()) {
                (Some((j, _)), None) => Ok(j),
                (Some(_), Some(_)) => Err(lines.err(loc, format!("more than one column is named `{name}`"))),
                (None, _) => Err(lines.err(
                    loc,
                    format!(
                        "no column named `{}`; the columns are: {}",
                        shorten(name),
                        preview(header)
                    ),
                )),
            }
        }
    }
}

/// Parses the data rows: features into a matrix, the `label` column (if any) interned.
fn read_body<T: Float, R: BufRead>(lines: &mut Lines<R>, header: &[String], label: Option<usize>) -> Result<Body<T>> {
    let w = header.len();
    let d = w - usize::from(label.is_some());
    let mut data: Vec<T> = Vec::new();
    let mut label_ids = Vec::new();
    let mut interner = LabelInterner::new();
    let mut rows = 0usize;
    let source = lines.source.clone();
    while let Some((n, line)) = lines.next_line()? {
        let col_loc = |j: usize| match header.get(j) {
            Some(h) => format!("line {n}, column {} ({})", j + 1, shorten(h)),
            None => format!("line {n}, column {}", j + 1),
        };
        let mut fields: Vec<Cow<'_, str>> = Vec::with_capacity(w);
        for f in Fields::new(line) {
            match f {
                Ok(f) => fields.push(f),
                Err(message) => {
                    return Err(Error::Parse {
                        path: source.clone(),
                        location: col_loc(fields.len()),
                        message,
                    });
                }
            }
        }
        if fields.len() != w {
            return Err(Error::Parse {
                path: source.clone(),
                location: format!("line {n}"),
                message: format!("expected {w} fields (as in the header), found {}", fields.len()),
            });
        }
        for (j, f) in fields.iter().enumerate() {
            if Some(j) == label {
                if f.is_empty() {
                    return Err(Error::Parse {
                        path: source.clone(),
                        location: col_loc(j),
                        message: "empty label".to_string(),
                    });
                }
                label_ids.push(interner.intern(f)?);
            } else {
                let v = parse_float::<T>(f).map_err(|message| Error::Parse {
                    path: source.clone(),
                    location: col_loc(j),
                    message,
                })?;
                data.push(v);
            }
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(Error::empty(format!(
            "{source}: the file has a header but no data rows"
        )));
    }
    data.shrink_to_fit();
    Ok(Body {
        x: Matrix::from_vec(rows, d, data)?,
        label_ids,
        interner,
    })
}

/// A line reader: numbered, blank lines skipped, terminators and a leading BOM
/// stripped, UTF-8 checked, length bounded.
pub(crate) struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    line_no: usize,
    pub(crate) source: String,
}

impl<R> Lines<R> {
    pub(crate) fn err(&self, location: String, message: String) -> Error {
        Error::Parse {
            path: self.source.clone(),
            location,
            message,
        }
    }
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(reader: R, source: &str) -> Self {
        Lines {
            reader,
            buf: Vec::new(),
            line_no: 0,
            source: source.to_string(),
        }
    }

    /// The next non-blank line and its 1-based number, or `None` at the end.
    pub(crate) fn next_line(&mut self) -> Result<Option<(usize, &str)>> {
        let (start, end) = loop {
            self.buf.clear();
            let got = (&mut self.reader)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| Error::Io {
                    path: self.source.clone(),
                    message: e.to_string(),
                })?;
            if got == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            let mut end = self.buf.len();
            if self.buf[end - 1] == b'\n' {
                end -= 1;
            } else if end > MAX_LINE_BYTES {
                return Err(Error::TooLarge {
                    what: format!(
                        "{}: line {} is longer than {MAX_LINE_BYTES} bytes",
                        self.source, self.line_no
                    ),
                });
            }
            if end > 0 && self.buf[end - 1] == b'\r' {
                end -= 1;
            }
            let start = if self.line_no == 1 && self.buf[..end].starts_with(b"\xEF\xBB\xBF") {
                3
            } else {
                0
            };
            if self.buf[start..end].iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            break (start, end);
        };
        match std::str::from_utf8(&self.buf[start..end]) {
            Ok(s) => Ok(Some((self.line_no, s))),
            Err(e) => Err(Error::Parse {
                path: self.source.clone(),
                location: format!("line {}", self.line_no),
                message: format!("invalid UTF-8 at byte {} of the line", e.valid_up_to() + start + 1),
            }),
        }
    }
}

/// The fields of one CSV line, RFC 4180 quoting; unquoted fields trimmed.
struct Fields<'a> {
    line: &'a str,
    pos: usize,
    done: bool,
}

impl<'a> Fields<'a> {
    fn new(line: &'a str) -> Self {
        Fields {
            line,
            pos: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = std::result::Result<Cow<'a, str>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = &self.line[self.pos..];
        let lead = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        if rest[lead..].starts_with('"') {
            // Quoted field: up to the closing quote, `""` standing for `"`.
            let body_start = self.pos + lead + 1;
            let bytes = self.line.as_bytes();
            let mut i = body_start;
            let mut owned: Option<String> = None;
            let mut seg = body_start;
            loop {
                match self.line[i..].find('"') {
                    None => {
                        self.done = true;
                        return Some(Err(
                            "unterminated quoted field (quoted fields spanning lines are not supported)".to_string(),
                        ));
                    }
                    Some(off) => {
                        let q = i + off;
                        if bytes.get(q + 1) == Some(&b'"') {
                            owned.get_or_insert_with(String::new).push_str(&self.line[seg..=q]);
                            i = q + 2;
                            seg = i;
                        } else {
                            let value = match owned {
                                Some(mut s) => {
                                    s.push_str(&self.line[seg..q]);
                                    Cow::Owned(s)
                                }
                                None => Cow::Borrowed(&self.line[body_start..q]),
                            };
                            let after = &self.line[q + 1..];
                            let trimmed = after.trim_start_matches([' ', '\t']);
                            if trimmed.is_empty() {
                                self.done = true;
                            } else if let Some(r) = trimmed.strip_prefix(',') {
                                self.pos = self.line.len() - r.len();
                            } else {
                                self.done = true;
                                return Some(Err(format!(
                                    "unexpected text `{}` after a closing quote",
                                    shorten(trimmed)
                                )));
                            }
                            return Some(Ok(value));
                        }
                    }
                }
            }
        }
        match rest.find(',') {
            Some(c) => {
                self.pos += c + 1;
                Some(Ok(Cow::Borrowed(rest[..c].trim())))
            }
            None => {
                self.done = true;
                Some(Ok(Cow::Borrowed(rest.trim())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(s: &str) -> Vec<std::result::Result<String, String>> {
        Fields::new(s).map(|f| f.map(|c| c.into_owned())).collect()
    }

    #[test]
    fn splits_quoted_and_plain_fields() {
        assert_eq!(fields("a,b"), vec![Ok("a".into()), Ok("b".into())]);
        assert_eq!(fields(" a , b ,"), vec![Ok("a".into()), Ok("b".into()), Ok("".into())]);
        assert_eq!(
            fields(r#""x, y","say ""hi""",3"#),
            vec![Ok("x, y".into()), Ok(r#"say "hi""#.into()), Ok("3".into())]
        );
        assert_eq!(fields(r#""""#), vec![Ok("".into())]);
        assert!(fields(r#""abc"#)[0].is_err());
        assert!(fields(r#""a"b,c"#)[0].is_err());
        assert_eq!(fields(r#" "é" ,1"#), vec![Ok("é".into()), Ok("1".into())]);
    }
}
