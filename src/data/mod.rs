//! Data sets: the [`Dataset`] type, toy generators, the real data sets shipped with the
//! crate, a stratified train/test split, standardisation, and readers and writers for
//! CSV, LIBSVM and NPY files.
//!
//! Every reader is written to survive hostile input: it never panics, it reports the
//! place of the first problem (`line 3, column 2`, `row 4, column 0`, `header`, ...) in an
//! [`Error::Parse`], it refuses sizes that overflow or that the file cannot back with
//! [`Error::TooLarge`], and its memory is bounded by what it actually parsed.
//!
//! ## Class labels
//!
//! Labels are stored as class indices `0..classes.len()` into [`Dataset::classes`], which
//! holds the class names sorted as scikit-learn's `LabelEncoder` sorts them: when every
//! raw label parses as a finite number the classes are sorted numerically and printed in
//! canonical form (`"1.0"`, `"+1"` and `"1"` are all the class `"1"`; `"0.50"` is
//! `"0.5"`), otherwise they are sorted as strings (byte-wise lexicographic order).

pub mod builtin;
pub mod csv;
pub mod libsvm;
pub mod npy;
pub mod scale;
pub mod split;
pub mod toy;

pub use builtin::{REAL_NAMES, real_by_name};
pub use csv::{
    FeatureTable, LabelColumn, read_csv, read_csv_features, read_csv_features_from, read_csv_from, write_csv,
};
pub use libsvm::{read_libsvm, read_libsvm_from, write_libsvm};
pub use npy::{read_npy_dataset, read_npy_labels, read_npy_matrix, write_npy_labels, write_npy_matrix};
pub use scale::Scaler;
pub use split::train_test_split;
pub use toy::{TOY_NAMES, by_name};

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::float::Float;
use crate::matrix::Matrix;

/// A labelled data set: a feature matrix and one class index per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset<T> {
    /// Features, one row per sample (`n × d`).
    pub x: Matrix<T>,
    /// Class indices, one per row of `x`, each in `0..classes.len()`.
    pub y: Vec<u32>,
    /// Class names, indexed by the values of `y` (sorted as described in the
    /// [module documentation](self)).
    pub classes: Vec<String>,
    /// One name per column of `x`.
    pub feature_names: Vec<String>,
    /// A short name for reports (`"iris"`, `"moons"`, a file stem, ...).
    pub name: String,
}

impl<T> Dataset<T> {
    /// Builds a data set, checking that the parts agree: one label per row, one name
    /// per column, every label below `classes.len()`.
    pub fn new(
        x: Matrix<T>,
        y: Vec<u32>,
        classes: Vec<String>,
        feature_names: Vec<String>,
        name: impl Into<String>,
    ) -> Result<Self> {
        let ds = Dataset {
            x,
            y,
            classes,
            feature_names,
            name: name.into(),
        };
        ds.validate()?;
        Ok(ds)
    }

    /// Checks the invariants that [`Dataset::new`] checks (useful after editing the
    /// public fields).
    pub fn validate(&self) -> Result<()> {
        if self.y.len() != self.x.rows() {
            return Err(Error::shape(
                format!("data set {}", self.name),
                format!("{} labels (one per row)", self.x.rows()),
                format!("{} labels", self.y.len()),
            ));
        }
        if self.feature_names.len() != self.x.cols() {
            return Err(Error::shape(
                format!("data set {}", self.name),
                format!("{} feature names (one per column)", self.x.cols()),
                format!("{} feature names", self.feature_names.len()),
            ));
        }
        let k = self.classes.len();
        if let Some((row, &label)) = self.y.iter().enumerate().find(|&(_, &l)| l as usize >= k) {
            return Err(Error::LabelOutOfRange {
                row,
                label: u64::from(label),
                n_classes: k,
            });
        }
        Ok(())
    }

    /// Number of classes (`classes.len()`, which may include classes with no rows).
    pub fn n_classes(&self) -> usize {
        self.classes.len()
    }

    /// Number of samples (rows).
    pub fn n_samples(&self) -> usize {
        self.x.rows()
    }

    /// Number of features (columns).
    pub fn n_features(&self) -> usize {
        self.x.cols()
    }

    /// How many rows each class has, indexed by class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.classes.len()];
        for &l in &self.y {
            if let Some(c) = counts.get_mut(l as usize) {
                *c += 1;
            }
        }
        counts
    }
}

impl<T: Copy + Default> Dataset<T> {
    /// A new data set made of the rows `indices` (in that order, repeats allowed), with
    /// the same classes, feature names and name. An index out of range is an
    /// [`Error::ShapeMismatch`].
    pub fn select_rows(&self, indices: &[usize]) -> Result<Self> {
        let (n, d) = self.x.shape();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            return Err(Error::shape(
                format!("select_rows on data set {}", self.name),
                format!("row indices below {n}"),
                format!("index {bad}"),
            ));
        }
        let mut x = Matrix::zeros(indices.len(), d)?;
        let mut y = Vec::with_capacity(indices.len());
        for (j, &i) in indices.iter().enumerate() {
            x.row_mut(j).copy_from_slice(self.x.row(i));
            y.push(self.y[i]);
        }
        Ok(Dataset {
            x,
            y,
            classes: self.classes.clone(),
            feature_names: self.feature_names.clone(),
            name: self.name.clone(),
        })
    }
}

impl<T: Float> Dataset<T> {
    /// The same data set in another precision (`f64` → `f32` rounds to nearest).
    ///
    /// A value that does not fit the target type (for example `1e39` as `f32`) or that
    /// is already NaN or infinite is an [`Error::NonFinite`] naming its row and column.
    pub fn cast<U: Float>(&self) -> Result<Dataset<U>> {
        let (n, d) = self.x.shape();
        let mut x = Matrix::<U>::zeros(n, d)?;
        for (idx, (&v, out)) in self.x.as_slice().iter().zip(x.as_mut_slice()).enumerate() {
            let u = U::from_f64(v.to_f64());
            if !u.is_finite() {
                return Err(Error::NonFinite {
                    what: format!("data set {} converted to {}", self.name, U::NAME),
                    row: idx / d.max(1),
                    col: idx % d.max(1),
                    value: v.to_f64(),
                });
            }
            *out = u;
        }
        Ok(Dataset {
            x,
            y: self.y.clone(),
            classes: self.classes.clone(),
            feature_names: self.feature_names.clone(),
            name: self.name.clone(),
        })
    }
}

/// The canonical spelling of a numeric label, or `None` when `s` is not a finite number.
///
/// Integral values within ±2⁵³ print as integers (`"1.0"` → `"1"`, `"-0"` → `"0"`),
/// other values in Rust's shortest round-trip form (`"0.50"` → `"0.5"`).
pub fn canonical_number(s: &str) -> Option<String> {
    let v: f64 = s.trim().parse().ok()?;
    if !v.is_finite() {
        return None;
    }
    Some(format_number(v))
}

fn format_number(v: f64) -> String {
    if v == v.trunc() && v.abs() < 9_007_199_254_740_992.0 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Turns raw label strings into classes and class indices while reading a file row by
/// row: labels are interned in first-seen order, then [`LabelInterner::finish`] sorts the
/// classes (numerically when every label is a number) and renumbers the rows.
#[derive(Debug, Default)]
pub struct LabelInterner {
    map: HashMap<String, u32>,
    raw: Vec<String>,
}

impl LabelInterner {
    /// An empty interner.
    pub fn new() -> Self {
        Self::default()
    }

    /// The provisional index of `label` (first-seen order).
    pub fn intern(&mut self, label: &str) -> Result<u32> {
        if let Some(&i) = self.map.get(label) {
            return Ok(i);
        }
        let i = u32::try_from(self.raw.len()).map_err(|_| Error::TooLarge {
            what: "more than 2^32 distinct class labels".to_string(),
        })?;
        self.map.insert(label.to_string(), i);
        self.raw.push(label.to_string());
        Ok(i)
    }

    /// Number of distinct raw labels seen so far.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// The distinct raw labels in first-seen order (indexed by provisional index).
    pub fn raw_labels(&self) -> &[String] {
        &self.raw
    }

    /// `true` when no label was seen.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Sorts the classes and rewrites `ids` (provisional indices from
    /// [`LabelInterner::intern`]) into indices of the returned class list.
    pub fn finish(self, ids: &mut [u32]) -> Vec<String> {
        let (classes, remap) = sort_classes(&self.raw);
        for id in ids.iter_mut() {
            *id = remap[*id as usize];
        }
        classes
    }
}

/// Sorts distinct raw labels into classes: numerically in canonical form when all are
/// finite numbers (merging spellings of the same number), else as strings. Returns the
/// classes and, for each raw label, its class index.
fn sort_classes(raw: &[String]) -> (Vec<String>, Vec<u32>) {
    let numeric: Option<Vec<f64>> = raw
        .iter()
        .map(|s| s.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect();
    match numeric {
        Some(vals) => {
            // -0.0 and 0.0 are the same class: normalise before sorting.
            let vals: Vec<f64> = vals.into_iter().map(|v| if v == 0.0 { 0.0 } else { v }).collect();
            let mut uniq = vals.clone();
            uniq.sort_by(f64::total_cmp);
            uniq.dedup();
            let classes = uniq.iter().map(|&v| format_number(v)).collect();
            let remap = vals
                .iter()
                .map(|v| uniq.binary_search_by(|u| u.total_cmp(v)).unwrap_or(0) as u32)
                .collect();
            (classes, remap)
        }
        None => {
            let mut order: Vec<usize> = (0..raw.len()).collect();
            order.sort_by(|&a, &b| raw[a].cmp(&raw[b]));
            let mut remap = vec![0u32; raw.len()];
            for (rank, &i) in order.iter().enumerate() {
                remap[i] = rank as u32;
            }
            (order.iter().map(|&i| raw[i].clone()).collect(), remap)
        }
    }
}

/// Classes and class indices from integer labels: the sorted distinct values become the
/// classes (printed as integers), each label its index among them.
pub fn classes_from_i64(labels: &[i64]) -> Result<(Vec<String>, Vec<u32>)> {
    let mut uniq = labels.to_vec();
    uniq.sort_unstable();
    uniq.dedup();
    if u32::try_from(uniq.len()).is_err() {
        return Err(Error::TooLarge {
            what: "more than 2^32 distinct class labels".to_string(),
        });
    }
    let y = labels
        .iter()
        .map(|v| uniq.binary_search(v).unwrap_or(0) as u32)
        .collect();
    Ok((uniq.iter().map(|v| v.to_string()).collect(), y))
}

/// Maps label strings (as read by [`read_csv_features`], in any spelling) to indices
/// into `classes` (for example a trained model's class names), comparing numbers
/// numerically when `classes` are all numeric. An unknown label is an [`Error::Parse`]
/// in `source` at `data row i` (0-based).
pub fn labels_to_indices(labels: &[String], classes: &[String], source: &str) -> Result<Vec<u32>> {
    let numeric = !classes.is_empty() && classes.iter().all(|c| canonical_number(c).is_some());
    let mut map: HashMap<String, u32> = HashMap::with_capacity(classes.len());
    for (i, c) in classes.iter().enumerate() {
        let key = if numeric {
            canonical_number(c).unwrap_or_else(|| c.clone())
        } else {
            c.clone()
        };
        map.entry(key).or_insert(i as u32);
    }
    labels
        .iter()
        .enumerate()
        .map(|(row, l)| {
            let key = if numeric {
                canonical_number(l).unwrap_or_else(|| l.clone())
            } else {
                l.clone()
            };
            map.get(&key).copied().ok_or_else(|| Error::Parse {
                path: source.to_string(),
                location: format!("data row {row}"),
                message: format!(
                    "label `{l}` is not one of the {} known classes ({})",
                    classes.len(),
                    preview(classes)
                ),
            })
        })
        .collect()
}

/// `a, b, c` or `a, b, c, … (N in all)` for messages.
pub(crate) fn preview(names: &[String]) -> String {
    const SHOW: usize = 8;
    let head: Vec<&str> = names.iter().take(SHOW).map(String::as_str).collect();
    if names.len() > SHOW {
        format!("{}, … ({} in all)", head.join(", "), names.len())
    } else {
        head.join(", ")
    }
}

/// The file stem of `path` as a data set name.
pub(crate) fn stem(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// An [`Error::Io`] for `path`.
pub(crate) fn io_err(path: &std::path::Path, e: &std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Parses `s` as `T`, rounding once (an `f32` is parsed as `f32`, not through `f64`).
/// `Err` carries the reason: not a number, NaN/infinite, or out of range for `T`.
pub(crate) fn parse_float<T: Float>(s: &str) -> std::result::Result<T, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty value (missing values are not supported)".to_string());
    }
    let v = if T::NAME == "f32" {
        s.parse::<f32>().map(|v| T::from_f64(f64::from(v)))
    } else {
        s.parse::<f64>().map(T::from_f64)
    };
    match v {
        Err(_) => Err(format!("`{}` is not a number", shorten(s))),
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => {
            let lower = s.to_ascii_lowercase();
            if lower.contains("nan") || lower.contains("inf") {
                Err(format!("`{}` is not a finite number", shorten(s)))
            } else {
                Err(format!("`{}` overflows {}", shorten(s), T::NAME))
            }
        }
    }
}

/// At most 40 characters of `s`, for messages about hostile input.
pub(crate) fn shorten(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_string()
    } else {
        let head: String = s.chars().take(40).collect();
        format!("{head}…")
    }
}

/// Appends a float to `out` in the shortest form that reads back to the same value
/// (exponent form for very small and very large magnitudes).
pub(crate) fn push_float<T: Float>(out: &mut String, v: T) {
    use std::fmt::Write;
    let a = v.abs().to_f64();
    // Writing to a String cannot fail.
    let _ = if a == 0.0 || (1e-5..1e16).contains(&a) {
        write!(out, "{v}")
    } else if T::NAME == "f32" {
        write!(out, "{:e}", v.to_f64() as f32)
    } else {
        write!(out, "{:e}", v.to_f64())
    };
}
