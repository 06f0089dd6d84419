//! LIBSVM / SVMlight text format: `label index:value index:value ...`, one sample per
//! line, 1-based feature indices, densified on reading.
//!
//! Blank lines are skipped and `#` starts a comment. Labels may be numbers (`+1`, `-1`,
//! `3`) or strings; classes are sorted as in the [module documentation](super). Indices
//! need not be sorted but may not repeat within a line; `qid:N` tokens (ranking data)
//! are ignored. Column `j` of the dense matrix is index `j + 1` and is named `f{j}`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use super::csv::Lines;
use super::{Dataset, LabelInterner, io_err, parse_float, push_float, shorten, stem};
use crate::error::{Error, Result, checked_size};
use crate::float::Float;
use crate::matrix::Matrix;

/// The largest feature index accepted (10 million).
pub const MAX_LIBSVM_FEATURES: usize = 10_000_000;

/// The largest dense matrix the reader builds, in elements (2³⁰: 8 GiB of `f64`). A
/// small sparse file can describe a huge dense matrix; this bound turns that into an
/// [`Error::TooLarge`] instead of an allocation failure.
pub const MAX_DENSE_ELEMENTS: usize = 1 << 30;

/// Reads a LIBSVM file into a dense data set named after the file stem.
///
/// `n_features`: the width of the matrix (an index above it is an error); by default
/// the largest index in the file.
///
/// Errors: [`Error::Io`]; [`Error::Empty`] when there are no samples or no features;
/// [`Error::Parse`] at `line N, field K` (1-based, the label being field 1) for a token
/// that is not `index:value`, index 0, a repeated index, an index above `n_features`, or a
/// value that is not a finite number of type `T`; [`Error::TooLarge`] for an index above
/// [`MAX_LIBSVM_FEATURES`] or a dense size above [`MAX_DENSE_ELEMENTS`].
pub fn read_libsvm<T: Float>(path: &Path, n_features: Option<usize>) -> Result<Dataset<T>> {
    let file = File::open(path).map_err(|e| io_err(path, &e))?;
    let mut ds = read_libsvm_from(BufReader::new(file), &path.display().to_string(), n_features)?;
    ds.name = stem(path);
    Ok(ds)
}

/// [`read_libsvm`] from any buffered reader; `source` names the input in errors.
pub fn read_libsvm_from<T: Float, R: BufRead>(
    reader: R,
    source: &str,
    n_features: Option<usize>,
) -> Result<Dataset<T>> {
    if let Some(d) = n_features
        && d > MAX_LIBSVM_FEATURES
    {
        return Err(Error::TooLarge {
            what: format!("{source}: {d} features requested (at most {MAX_LIBSVM_FEATURES})"),
        });
    }
    let mut lines = Lines::new(reader, source);
    let source = source.to_string();
    // Sparse rows: row_start[i]..row_start[i + 1] into (idx, val).
    let mut row_start = vec![0usize];
    let mut idx: Vec<u32> = Vec::new();
    let mut val: Vec<T> = Vec::new();
    let mut label_ids = Vec::new();
    let mut interner = LabelInterner::new();
    let mut width = 0usize;
    while let Some((n, line)) = lines.next_line()? {
        let content = line.split('#').next().unwrap_or("");
        let mut tokens = content.split_ascii_whitespace();
        let Some(label) = tokens.next() else {
            continue; // a comment-only line
        };
        let err = |k: usize, message: String| Error::Parse {
            path: source.clone(),
            location: format!("line {n}, field {k}"),
            message,
        };
        let first = idx.len();
        for (t, tok) in tokens.enumerate() {
            let k = t + 2;
            let Some((is, vs)) = tok.split_once(':') else {
                return Err(err(k, format!("expected `index:value`, found `{}`", shorten(tok))));
            };
            if is == "qid" {
                continue;
            }
            let i: usize = match is.parse::<u64>() {
                Ok(i) if i > MAX_LIBSVM_FEATURES as u64 => {
                    return Err(Error::TooLarge {
                        what: format!(
                            "{source}: line {n}, field {k}: feature index {i} (at most {MAX_LIBSVM_FEATURES})"
                        ),
                    });
                }
                Ok(0) => return Err(err(k, "feature index 0: indices are 1-based".to_string())),
                Ok(i) => i as usize,
                Err(_) if !is.is_empty() && is.bytes().all(|b| b.is_ascii_digit()) => {
                    return Err(Error::TooLarge {
                        what: format!("{source}: line {n}, field {k}: feature index {} overflows", shorten(is)),
                    });
                }
                Err(_) => {
                    return Err(err(
                        k,
                        format!("feature index `{}` is not a positive integer", shorten(is)),
                    ));
                }
            };
            if let Some(d) = n_features
                && i > d
            {
                return Err(err(k, format!("feature index {i} exceeds the number of features {d}")));
            }
            let v = parse_float::<T>(vs).map_err(|m| err(k, m))?;
            width = width.max(i);
            idx.push((i - 1) as u32);
            val.push(v);
        }
        // Duplicates: sort this row's entries by index and compare neighbours.
        let mut order: Vec<usize> = (first..idx.len()).collect();
        order.sort_by_key(|&p| idx[p]);
        if let Some(w) = order.windows(2).find(|w| idx[w[0]] == idx[w[1]]) {
            return Err(Error::Parse {
                path: source.clone(),
                location: format!("line {n}"),
                message: format!("feature index {} appears more than once", idx[w[1]] + 1),
            });
        }
        label_ids.push(interner.intern(label)?);
        row_start.push(idx.len());
    }
    let rows = label_ids.len();
    if rows == 0 {
        return Err(Error::empty(format!("{source}: no samples")));
    }
    let d = n_features.unwrap_or(width);
    if d == 0 {
        return Err(Error::empty(format!("{source}: no features (every sample is empty)")));
    }
    let total = checked_size(rows, d, "LIBSVM dense matrix")?;
    if total > MAX_DENSE_ELEMENTS {
        return Err(Error::TooLarge {
            what: format!(
                "{source}: the dense matrix would have {rows} × {d} = {total} elements (at most {MAX_DENSE_ELEMENTS})"
            ),
        });
    }
    let mut x = Matrix::<T>::zeros(rows, d)?;
    for r in 0..rows {
        let out = x.row_mut(r);
        for p in row_start[r]..row_start[r + 1] {
            out[idx[p] as usize] = val[p];
        }
    }
    let classes = interner.finish(&mut label_ids);
    Dataset::new(
        x,
        label_ids,
        classes,
        (0..d).map(|j| format!("f{j}")).collect(),
        stem(Path::new(&source)),
    )
}

/// Writes `ds` in LIBSVM format: the class name, then `index:value` for each non-zero
/// feature (1-based indices, shortest round-trip values).
///
/// A class name containing whitespace, `#` or nothing cannot be written and is an
/// [`Error::Parse`] naming the class (nothing is written then).
pub fn write_libsvm<T: Float>(path: &Path, ds: &Dataset<T>) -> Result<()> {
    ds.validate()?;
    let shown = path.display().to_string();
    if let Some((k, c)) = ds
        .classes
        .iter()
        .enumerate()
        .find(|(_, c)| c.is_empty() || c.contains('#') || c.chars().any(char::is_whitespace))
    {
        return Err(Error::Parse {
            path: shown,
            location: format!("class {k}"),
            message: format!("class name `{}` cannot be written in LIBSVM format", shorten(c)),
        });
    }
    let file = File::create(path).map_err(|e| io_err(path, &e))?;
    let mut w = BufWriter::new(file);
    let mut line = String::new();
    for (row, &label) in ds.x.iter_rows().zip(&ds.y) {
        line.clear();
        line.push_str(&ds.classes[label as usize]);
        for (j, &v) in row.iter().enumerate() {
            if v != T::ZERO {
                line.push(' ');
                line.push_str(&(j + 1).to_string());
                line.push(':');
                push_float(&mut line, v);
            }
        }
        line.push('\n');
        w.write_all(line.as_bytes()).map_err(|e| io_err(path, &e))?;
    }
    w.flush().map_err(|e| io_err(path, &e))
}
