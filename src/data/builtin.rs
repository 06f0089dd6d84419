//! The real data sets shipped with the crate, embedded in the binary (so that they work
//! from any directory) and parsed with the CSV reader.
//!
//! All four come from the UCI Machine Learning Repository through scikit-learn's
//! `sklearn.datasets` (exported by `scripts/export_datasets.py`; sources, citations and
//! licences in `data/README.md`).
//!
//! | name | rows | features | classes |
//! |---|---|---|---|
//! | `iris` | 150 | 4 | 3 (`setosa`, `versicolor`, `virginica`) |
//! | `wine` | 178 | 13 | 3 (`0`, `1`, `2`) |
//! | `breast_cancer` | 569 | 30 | 2 (`benign`, `malignant`) |
//! | `digits` | 1797 | 64 (8×8 pixels, 0–16) | 10 (`0`–`9`) |
//!
//! Classes are sorted as everywhere in the crate, so `breast_cancer` has `benign` = 0
//! and `malignant` = 1 (scikit-learn's integer target has them the other way round).

use super::Dataset;
use super::csv::read_csv_from;
use crate::error::{Error, Result};

/// The names [`real_by_name`] accepts.
pub const REAL_NAMES: &[&str] = &["iris", "wine", "breast_cancer", "digits"];

const IRIS: &str = include_str!("../../data/iris.csv");
const WINE: &str = include_str!("../../data/wine.csv");
const BREAST_CANCER: &str = include_str!("../../data/breast_cancer.csv");
const DIGITS: &str = include_str!("../../data/digits.csv");

fn parse(text: &str, name: &str) -> Result<Dataset<f64>> {
    let mut ds = read_csv_from(text.as_bytes(), &format!("{name}.csv"), None)?;
    ds.name = name.to_string();
    Ok(ds)
}

/// Fisher's iris flowers: 150 × 4, 3 classes of 50.
pub fn iris() -> Result<Dataset<f64>> {
    parse(IRIS, "iris")
}

/// Wine recognition: 178 × 13 chemical measurements, 3 cultivars (59, 71, 48 rows).
pub fn wine() -> Result<Dataset<f64>> {
    parse(WINE, "wine")
}

/// Breast Cancer Wisconsin (Diagnostic): 569 × 30, `benign` (357) / `malignant` (212).
pub fn breast_cancer() -> Result<Dataset<f64>> {
    parse(BREAST_CANCER, "breast_cancer")
}

/// Optical recognition of handwritten digits, 8×8 version: 1797 × 64, 10 classes.
pub fn digits() -> Result<Dataset<f64>> {
    parse(DIGITS, "digits")
}

/// A real data set by name (one of [`REAL_NAMES`]; `-` may stand for `_`, case ignored).
pub fn real_by_name(name: &str) -> Result<Dataset<f64>> {
    match name.to_ascii_lowercase().replace('-', "_").as_str() {
        "iris" => iris(),
        "wine" => wine(),
        "breast_cancer" => breast_cancer(),
        "digits" => digits(),
        _ => Err(Error::InvalidHyperparameter {
            name: "dataset",
            value: name.to_string(),
            reason: format!("unknown real data set; expected one of: {}", REAL_NAMES.join(", ")),
        }),
    }
}
