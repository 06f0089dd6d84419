//! Model files: a trained model with its class names, its standardisation and how it was
//! trained, as one JSON document that anyone can read.
//!
//! ## The format (version 1)
//!
//! ```json
//! {
//!   "format": "multilogit",
//!   "version": 1,
//!   "precision": "f32",
//!   "n_features": 2,
//!   "classes": ["setosa", "versicolor", "virginica"],
//!   "weights": [[0.5, -0.25, 0.125], [1.0, 0.0, -1.0]],
//!   "bias": [0.1, 0.2, -0.3],
//!   "scaler": {"mean": [5.8, 3.0], "scale": [0.8, 0.4]},
//!   "training": {"learning_rate": 0.1, "epochs": 100, "batch_size": null, "seed": 0,
//!                "tol": null, "final_loss": 0.35, "epochs_run": 100, "...": "..."},
//!   "checksum": "fnv1a64:0123456789abcdef"
//! }
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `format` | always `"multilogit"` |
//! | `version` | the format version, `1`; a reader refuses versions it does not know |
//! | `precision` | `"f32"` or `"f64"`: the type the model was trained and predicts in |
//! | `n_features` | D, the number of (raw) input features |
//! | `classes` | the T class names, in the order of the columns of `weights` and of `bias` (sorted: numbers numerically, strings lexicographically) |
//! | `weights` | W as D rows of T numbers: `z = x·W + b` |
//! | `bias` | b, T numbers |
//! | `scaler` | `null`, or the standardisation applied to raw features before `z` is computed: `x'ⱼ = (xⱼ − mean[j]) / scale[j]` (both D numbers, in f64) |
//! | `training` | `null`, or the hyperparameters and results of the fit ([`TrainingInfo`]) |
//! | `checksum` | `fnv1a64:` and 16 hex digits: FNV-1a (64 bit) over the content (see [`checksum`]) |
//!
//! Numbers are written in the shortest decimal form that reads back to the same value
//! of the model's precision, so a save/load round trip is bit-exact.
//!
//! ## Integrity
//!
//! Loading checks everything: the format name and version, the shapes (`weights` is
//! D × T, `bias` has T entries, `scaler` D and D), that every number is finite, that
//! the scales are positive and the class names distinct, and finally the checksum. An
//! edited, truncated or future-version file is an [`Error::InvalidModel`] naming the
//! file and the reason.
//!
//! ## Atomic saves
//!
//! [`write_atomic`] writes to a hidden temporary file in the target's directory
//! (`.NAME.tmp-PID-N`, which never ends in `.json`), flushes it to disk, then renames it
//! over the target: a reader sees either the complete old file or the complete new one,
//! never a partial file, even when the writer is killed. A failed save removes its
//! temporary file and leaves any existing target untouched; only a process killed
//! mid-write can leave a `.NAME.tmp-*` file behind.

use std::borrow::Cow;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::data::Scaler;
use crate::error::{Error, Result};
use crate::float::Float;
use crate::matrix::Matrix;
use crate::model::LogisticClassifierMultinomial;

/// The value of the `format` field.
pub const FORMAT_NAME: &str = "multilogit";
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u64 = 1;
/// The prefix of the `checksum` field.
pub const CHECKSUM_PREFIX: &str = "fnv1a64:";

/// The precision of a model's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Single precision (`f32`).
    F32,
    /// Double precision (`f64`).
    F64,
}

impl Precision {
    /// `"f32"` or `"f64"`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a model was trained: the `training` object of a model file.
///
/// Nothing here depends on the machine or the thread count (no wall time), so that the
/// same data, flags and seed give byte-identical model files.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingInfo {
    /// Learning rate.
    pub learning_rate: f64,
    /// Epochs asked for.
    pub epochs: usize,
    /// Rows per step; `null` for full-batch gradient descent.
    pub batch_size: Option<usize>,
    /// Seed of the mini-batch shuffle and of the train/test split.
    pub seed: u64,
    /// Early-stopping tolerance, if any.
    pub tol: Option<f64>,
    /// Mean cross-entropy of the last epoch.
    pub final_loss: f64,
    /// Epochs actually run (fewer than `epochs` when `tol` stopped the fit).
    pub epochs_run: usize,
    /// Whether `tol` stopped the fit.
    pub stopped_by_tol: bool,
    /// The kernel that computed the steps.
    pub kernel: String,
    /// Number of training rows.
    pub n_train: usize,
    /// Accuracy on the training rows.
    pub train_accuracy: Option<f64>,
    /// Fraction of the data held out for testing, if any.
    pub test_fraction: Option<f64>,
    /// Number of test rows, if any.
    pub n_test: Option<usize>,
    /// Accuracy on the test rows, if any.
    pub test_accuracy: Option<f64>,
    /// Name of the label column of the training CSV file, if it had a header name.
    pub label_column: Option<String>,
    /// Names of the D features (empty when unknown).
    pub feature_names: Vec<String>,
}

/// The JSON document of a model file, field by field (see the [module docs](self)).
///
/// `T` is `f32` or `f64`, as `precision` says. Build one with
/// [`TrainedModel::to_saved`]; check one with [`SavedModel::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedModel<T> {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// [`FORMAT_VERSION`].
    pub version: u64,
    /// The precision of `weights` and `bias`.
    pub precision: Precision,
    /// D, the number of input features.
    pub n_features: usize,
    /// The T class names, indexed like the columns of `weights`.
    pub classes: Vec<String>,
    /// W: D rows of T numbers.
    pub weights: Vec<Vec<T>>,
    /// b: T numbers.
    pub bias: Vec<T>,
    /// Standardisation of the raw features, if the model was trained on standardised data.
    pub scaler: Option<Scaler>,
    /// How the model was trained.
    pub training: Option<TrainingInfo>,
    /// [`CHECKSUM_PREFIX`] and the hex FNV-1a 64 hash of the content ([`checksum`]).
    pub checksum: String,
}

/// FNV-1a, 64 bit.
#[derive(Debug, Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.bytes(s.as_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }
}

/// The checksum of a model's content, as written in the `checksum` field.
///
/// FNV-1a (64 bit) over this byte stream, integers as 8 little-endian bytes, strings as
/// their byte length then their UTF-8 bytes, numbers as the 8 little-endian bytes of
/// their IEEE-754 `f64` bit pattern (an `f32` is widened to `f64` first, exactly): the
/// format name, the version, the precision name, D, T, each class name, the weights row
/// by row, the bias, a byte 0 (no scaler) or 1 followed by the D means and the D scales,
/// and a byte 0 (no training record) or 1 followed by the training record as compact
/// JSON (fields in the order of [`TrainingInfo`]).
pub fn checksum<T: Float + Serialize>(m: &SavedModel<T>) -> String {
    let mut h = Fnv::new();
    h.str(FORMAT_NAME);
    h.u64(m.version);
    h.str(m.precision.name());
    h.u64(m.n_features as u64);
    h.u64(m.classes.len() as u64);
    for c in &m.classes {
        h.str(c);
    }
    for row in &m.weights {
        h.u64(row.len() as u64);
        for &v in row {
            h.f64(v.to_f64());
        }
    }
    h.u64(m.bias.len() as u64);
    for &v in &m.bias {
        h.f64(v.to_f64());
    }
    match &m.scaler {
        None => h.bytes(&[0]),
        Some(s) => {
            h.bytes(&[1]);
            h.u64(s.mean.len() as u64);
            for &v in &s.mean {
                h.f64(v);
            }
            h.u64(s.scale.len() as u64);
            for &v in &s.scale {
                h.f64(v);
            }
        }
    }
    match &m.training {
        None => h.bytes(&[0]),
        Some(t) => {
            h.bytes(&[1]);
            // Serialising a plain struct of numbers and strings cannot fail; an empty
            // string would only make the checksum weaker, never wrong.
            h.str(&serde_json::to_string(t).unwrap_or_default());
        }
    }
    format!("{CHECKSUM_PREFIX}{:016x}", h.0)
}

/// The element types a model file can hold: `f32` and `f64`.
pub trait ModelFloat: Float + Serialize + DeserializeOwned {
    /// The matching [`Precision`].
    const PRECISION: Precision;
    /// Wraps a model of this precision into an [`AnyModel`].
    fn into_any(m: TrainedModel<Self>) -> AnyModel;
    /// The model inside `any` if it has this precision, else `any`'s precision.
    fn from_any(any: AnyModel) -> std::result::Result<TrainedModel<Self>, Precision>;
}

impl ModelFloat for f32 {
    const PRECISION: Precision = Precision::F32;
    fn into_any(m: TrainedModel<f32>) -> AnyModel {
        AnyModel::F32(m)
    }
    fn from_any(any: AnyModel) -> std::result::Result<TrainedModel<f32>, Precision> {
        match any {
            AnyModel::F32(m) => Ok(m),
            other => Err(other.precision()),
        }
    }
}

impl ModelFloat for f64 {
    const PRECISION: Precision = Precision::F64;
    fn into_any(m: TrainedModel<f64>) -> AnyModel {
        AnyModel::F64(m)
    }
    fn from_any(any: AnyModel) -> std::result::Result<TrainedModel<f64>, Precision> {
        match any {
            AnyModel::F64(m) => Ok(m),
            other => Err(other.precision()),
        }
    }
}

/// A fitted classifier with what it needs to predict from raw files: the class names,
/// the standardisation of raw features, and how it was trained.
#[derive(Debug, Clone)]
pub struct TrainedModel<T> {
    /// The fitted weights and bias.
    pub model: LogisticClassifierMultinomial<T>,
    /// The T class names, indexed by class.
    pub classes: Vec<String>,
    /// Standardisation applied to raw features before the model sees them.
    pub scaler: Option<Scaler>,
    /// How the model was trained.
    pub training: Option<TrainingInfo>,
}

impl<T: ModelFloat> TrainedModel<T> {
    /// Bundles a fitted model with its class names, scaler and training record, checking
    /// that they agree (see [`SavedModel::validate`]).
    pub fn new(
        model: LogisticClassifierMultinomial<T>,
        classes: Vec<String>,
        scaler: Option<Scaler>,
        training: Option<TrainingInfo>,
    ) -> Result<Self> {
        let m = TrainedModel {
            model,
            classes,
            scaler,
            training,
        };
        m.to_saved()?.validate().map_err(|reason| Error::InvalidModel {
            path: "(model in memory)".to_string(),
            reason,
        })?;
        Ok(m)
    }

    /// D, the number of raw input features.
    pub fn n_features(&self) -> usize {
        self.model.weights().map_or(0, Matrix::rows)
    }

    /// T, the number of classes.
    pub fn n_classes(&self) -> usize {
        self.classes.len()
    }

    /// The raw features standardised as in training (borrowed when there is no scaler).
    ///
    /// Errors: a column count other than D ([`Error::ShapeMismatch`]); a standardised
    /// value that does not fit `T` ([`Error::NonFinite`]).
    pub fn prepare<'a>(&self, x: &'a Matrix<T>) -> Result<Cow<'a, Matrix<T>>> {
        let d = self.n_features();
        if x.cols() != d {
            return Err(Error::shape(
                "features",
                format!("{d} columns (the model's features)"),
                format!("{} columns", x.cols()),
            ));
        }
        match &self.scaler {
            None => Ok(Cow::Borrowed(x)),
            Some(s) => Ok(Cow::Owned(s.transform(x)?)),
        }
    }

    /// Class probabilities (N × T) for raw features (standardised first if the model has
    /// a scaler).
    pub fn predict_proba(&self, x: &Matrix<T>) -> Result<Matrix<T>> {
        let x = self.prepare(x)?;
        self.model.predict_proba(x.as_ref())
    }

    /// The most probable class index of each row of raw features.
    pub fn predict(&self, x: &Matrix<T>) -> Result<Vec<u32>> {
        let x = self.prepare(x)?;
        self.model.predict(x.as_ref())
    }

    /// The most probable class name of each row of raw features.
    pub fn predict_names(&self, x: &Matrix<T>) -> Result<Vec<&str>> {
        Ok(self
            .predict(x)?
            .into_iter()
            .map(|k| self.classes.get(k as usize).map_or("?", String::as_str))
            .collect())
    }

    /// Accuracy on raw features and class indices.
    pub fn score(&self, x: &Matrix<T>, labels: &[u32]) -> Result<f64> {
        let x = self.prepare(x)?;
        self.model.score(x.as_ref(), labels)
    }

    /// Mean cross-entropy on raw features and class indices.
    pub fn loss(&self, x: &Matrix<T>, labels: &[u32]) -> Result<f64> {
        let x = self.prepare(x)?;
        self.model.loss(x.as_ref(), labels)
    }

    /// The file's JSON document (with its checksum). Errors only when the model is not
    /// fitted.
    pub fn to_saved(&self) -> Result<SavedModel<T>> {
        let w = self.model.weights()?;
        let b = self.model.bias()?;
        let mut s = SavedModel {
            format: FORMAT_NAME.to_string(),
            version: FORMAT_VERSION,
            precision: T::PRECISION,
            n_features: w.rows(),
            classes: self.classes.clone(),
            weights: w.iter_rows().map(<[T]>::to_vec).collect(),
            bias: b.to_vec(),
            scaler: self.scaler.clone(),
            training: self.training.clone(),
            checksum: String::new(),
        };
        s.checksum = checksum(&s);
        Ok(s)
    }

    /// The model of a checked document; `path` names the source in errors.
    pub fn from_saved(saved: SavedModel<T>, path: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidModel {
            path: path.to_string(),
            reason,
        };
        saved.validate().map_err(invalid)?;
        if saved.precision != T::PRECISION {
            return Err(invalid(format!(
                "precision is {}, expected {}",
                saved.precision,
                T::PRECISION
            )));
        }
        let (d, t) = (saved.n_features, saved.classes.len());
        let mut data = Vec::with_capacity(d.saturating_mul(t));
        for row in &saved.weights {
            data.extend_from_slice(row);
        }
        let w = Matrix::from_vec(d, t, data).map_err(|e| invalid(e.to_string()))?;
        let model = LogisticClassifierMultinomial::from_params(w, saved.bias).map_err(|e| invalid(e.to_string()))?;
        Ok(TrainedModel {
            model,
            classes: saved.classes,
            scaler: saved.scaler,
            training: saved.training,
        })
    }

    /// The model file's text (pretty-printed JSON ending in a newline), after checking
    /// that the model can be read back ([`SavedModel::validate`]).
    pub fn to_json(&self) -> Result<String> {
        let saved = self.to_saved()?;
        saved.validate().map_err(|reason| Error::InvalidModel {
            path: "(model being saved)".to_string(),
            reason,
        })?;
        render(&saved).map_err(|e| Error::InvalidModel {
            path: "(model being saved)".to_string(),
            reason: format!("cannot serialise: {e}"),
        })
    }

    /// Saves the model to `path` atomically ([`write_atomic`]): on any error the file at
    /// `path`, if there was one, is left as it was.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = self.to_json().map_err(|e| match e {
            Error::InvalidModel { reason, .. } => Error::InvalidModel {
                path: path.display().to_string(),
                reason: format!("not saved: {reason}"),
            },
            other => other,
        })?;
        write_atomic(path, text.as_bytes())
    }

    /// Loads a model of this precision (a file of the other precision is an
    /// [`Error::InvalidModel`]; use [`AnyModel::load`] to accept either).
    pub fn load(path: &Path) -> Result<Self> {
        T::from_any(AnyModel::load(path)?).map_err(|found| Error::InvalidModel {
            path: path.display().to_string(),
            reason: format!("precision is {found}, expected {}", T::PRECISION),
        })
    }
}

/// The fields of [`TrainingInfo`] in declaration order, for [`render`].
const TRAINING_FIELDS: &[&str] = &[
    "learning_rate",
    "epochs",
    "batch_size",
    "seed",
    "tol",
    "final_loss",
    "epochs_run",
    "stopped_by_tol",
    "kernel",
    "n_train",
    "train_accuracy",
    "test_fraction",
    "n_test",
    "test_accuracy",
    "label_column",
    "feature_names",
];

/// The file's text: one field per line, one row of `weights` per line, the training
/// record indented, a final newline. (`serde_json`'s pretty printer would put every
/// number on its own line.)
fn render<T: Serialize>(m: &SavedModel<T>) -> serde_json::Result<String> {
    use serde_json::to_string as j;
    let mut rows = Vec::with_capacity(m.weights.len());
    for r in &m.weights {
        rows.push(format!("    {}", j(r)?));
    }
    let scaler = match &m.scaler {
        None => "null".to_string(),
        Some(s) => format!("{{\"mean\": {}, \"scale\": {}}}", j(&s.mean)?, j(&s.scale)?),
    };
    let training = match &m.training {
        None => "null".to_string(),
        Some(t) => {
            // One field per line in declaration order, each value compact.
            let serde_json::Value::Object(mut map) = serde_json::to_value(t)? else {
                return j(t);
            };
            let mut lines = Vec::with_capacity(map.len());
            for key in TRAINING_FIELDS {
                if let Some(v) = map.remove(*key) {
                    lines.push(format!("    {}: {}", j(key)?, j(&v)?));
                }
            }
            for (key, v) in &map {
                lines.push(format!("    {}: {}", j(key)?, j(v)?));
            }
            format!("{{\n{}\n  }}", lines.join(",\n"))
        }
    };
    Ok(format!(
        "{{\n  \"format\": {},\n  \"version\": {},\n  \"precision\": {},\n  \"n_features\": {},\n  \
         \"classes\": {},\n  \"weights\": [\n{}\n  ],\n  \"bias\": {},\n  \"scaler\": {},\n  \
         \"training\": {},\n  \"checksum\": {}\n}}\n",
        j(&m.format)?,
        m.version,
        j(&m.precision)?,
        m.n_features,
        j(&m.classes)?,
        rows.join(",\n"),
        j(&m.bias)?,
        scaler,
        training,
        j(&m.checksum)?,
    ))
}

impl<T: ModelFloat> SavedModel<T> {
    /// Checks the document; `Err` holds the reason, for [`Error::InvalidModel`].
    ///
    /// The format name and version, the precision (against `T`), D ≥ 1, T ≥ 1 distinct
    /// class names, `weights` of D rows of T finite numbers, `bias` of T finite numbers,
    /// the scaler's D finite means and D finite positive scales, the training record's
    /// feature names (none or D) and finite numbers, and the checksum.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.format != FORMAT_NAME {
            return Err(format!(
                "unknown format `{}` (expected `{FORMAT_NAME}`)",
                shorten(&self.format)
            ));
        }
        check_version(self.version)?;
        if self.precision != T::PRECISION {
            return Err(format!(
                "precision is {}, but the numbers were read as {}",
                self.precision,
                T::PRECISION
            ));
        }
        let d = self.n_features;
        let t = self.classes.len();
        if d == 0 {
            return Err("n_features is 0".to_string());
        }
        if t == 0 {
            return Err("no classes".to_string());
        }
        let mut sorted: Vec<&str> = self.classes.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("class `{}` is listed twice", shorten(w[0])));
        }
        if self.weights.len() != d {
            return Err(format!(
                "weights has {} rows, expected n_features = {d}",
                self.weights.len()
            ));
        }
        for (i, row) in self.weights.iter().enumerate() {
            if row.len() != t {
                return Err(format!(
                    "weights row {i} has {} numbers, expected {t} (one per class)",
                    row.len()
                ));
            }
            if let Some(j) = row.iter().position(|v| !v.is_finite()) {
                return Err(format!("weights[{i}][{j}] is not a finite {}", T::NAME));
            }
        }
        if self.bias.len() != t {
            return Err(format!(
                "bias has {} numbers, expected {t} (one per class)",
                self.bias.len()
            ));
        }
        if let Some(j) = self.bias.iter().position(|v| !v.is_finite()) {
            return Err(format!("bias[{j}] is not a finite {}", T::NAME));
        }
        if let Some(s) = &self.scaler {
            if s.mean.len() != d || s.scale.len() != d {
                return Err(format!(
                    "scaler has {} means and {} scales, expected n_features = {d} of each",
                    s.mean.len(),
                    s.scale.len()
                ));
            }
            if let Some(j) = s.mean.iter().position(|v| !v.is_finite()) {
                return Err(format!("scaler mean[{j}] is not finite"));
            }
            if let Some(j) = s.scale.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
                return Err(format!("scaler scale[{j}] is not a finite positive number"));
            }
        }
        if let Some(tr) = &self.training {
            if !tr.feature_names.is_empty() && tr.feature_names.len() != d {
                return Err(format!(
                    "training.feature_names has {} names, expected n_features = {d}",
                    tr.feature_names.len()
                ));
            }
            let numbers = [
                ("learning_rate", Some(tr.learning_rate)),
                ("final_loss", Some(tr.final_loss)),
                ("tol", tr.tol),
                ("train_accuracy", tr.train_accuracy),
                ("test_fraction", tr.test_fraction),
                ("test_accuracy", tr.test_accuracy),
            ];
            if let Some((name, _)) = numbers.iter().find(|(_, v)| v.is_some_and(|v| !v.is_finite())) {
                return Err(format!("training.{name} is not finite"));
            }
        }
        let expected = checksum(self);
        if self.checksum != expected {
            return Err(format!(
                "checksum mismatch: the file says `{}` but its content hashes to `{expected}` \
                 (the file was edited or damaged)",
                shorten(&self.checksum)
            ));
        }
        Ok(())
    }
}

fn check_version(v: u64) -> std::result::Result<(), String> {
    match v {
        FORMAT_VERSION => Ok(()),
        v if v > FORMAT_VERSION => Err(format!(
            "format version {v} was written by a newer multilogit; this build reads version {FORMAT_VERSION}"
        )),
        v => Err(format!(
            "unsupported format version {v} (this build reads version {FORMAT_VERSION})"
        )),
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(40).collect::<String>())
    }
}

/// A trained model of either precision.
#[derive(Debug, Clone)]
pub enum AnyModel {
    /// Trained and predicting in `f32`.
    F32(TrainedModel<f32>),
    /// Trained and predicting in `f64`.
    F64(TrainedModel<f64>),
}

/// Just the fields that say what a document is, read leniently so that a file of
/// another format or version is reported as such rather than by its first odd field.
#[derive(Deserialize)]
struct Header {
    format: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
    precision: Option<serde_json::Value>,
}

impl AnyModel {
    /// The precision of the model.
    pub fn precision(&self) -> Precision {
        match self {
            AnyModel::F32(_) => Precision::F32,
            AnyModel::F64(_) => Precision::F64,
        }
    }

    /// The class names.
    pub fn classes(&self) -> &[String] {
        match self {
            AnyModel::F32(m) => &m.classes,
            AnyModel::F64(m) => &m.classes,
        }
    }

    /// D, the number of raw input features.
    pub fn n_features(&self) -> usize {
        match self {
            AnyModel::F32(m) => m.n_features(),
            AnyModel::F64(m) => m.n_features(),
        }
    }

    /// The standardisation of raw features, if any.
    pub fn scaler(&self) -> Option<&Scaler> {
        match self {
            AnyModel::F32(m) => m.scaler.as_ref(),
            AnyModel::F64(m) => m.scaler.as_ref(),
        }
    }

    /// How the model was trained, if recorded.
    pub fn training(&self) -> Option<&TrainingInfo> {
        match self {
            AnyModel::F32(m) => m.training.as_ref(),
            AnyModel::F64(m) => m.training.as_ref(),
        }
    }

    /// The model file's text.
    pub fn to_json(&self) -> Result<String> {
        match self {
            AnyModel::F32(m) => m.to_json(),
            AnyModel::F64(m) => m.to_json(),
        }
    }

    /// Saves atomically (see [`TrainedModel::save`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        match self {
            AnyModel::F32(m) => m.save(path),
            AnyModel::F64(m) => m.save(path),
        }
    }

    /// Reads and checks a model file of either precision.
    ///
    /// Errors: [`Error::Io`] when the file cannot be read; [`Error::InvalidModel`] naming
    /// the file and the reason for anything else (not JSON, truncated, another format or
    /// a newer version, inconsistent shapes, non-finite numbers, a checksum mismatch).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_json(&bytes, &path.display().to_string())
    }

    /// Parses and checks a model file's bytes; `source` names it in errors.
    pub fn from_json(bytes: &[u8], source: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidModel {
            path: source.to_string(),
            reason,
        };
        let header: Header = serde_json::from_slice(bytes).map_err(|e| invalid(json_reason(&e)))?;
        match header.format {
            Some(serde_json::Value::String(f)) if f == FORMAT_NAME => {}
            Some(serde_json::Value::String(f)) => {
                return Err(invalid(format!(
                    "unknown format `{}` (expected `{FORMAT_NAME}`)",
                    shorten(&f)
                )));
            }
            Some(_) => return Err(invalid("the `format` field is not a string".to_string())),
            None => {
                return Err(invalid(format!("no `format` field (not a {FORMAT_NAME} model file)")));
            }
        }
        match header.version {
            Some(serde_json::Value::Number(n)) => match n.as_u64() {
                Some(v) => check_version(v).map_err(invalid)?,
                None => return Err(invalid(format!("unsupported format version {n}"))),
            },
            Some(_) => return Err(invalid("the `version` field is not a number".to_string())),
            None => return Err(invalid("no `version` field".to_string())),
        }
        let precision = match header.precision {
            Some(serde_json::Value::String(p)) if p == "f32" => Precision::F32,
            Some(serde_json::Value::String(p)) if p == "f64" => Precision::F64,
            Some(p) => {
                return Err(invalid(format!("unknown precision {p} (expected \"f32\" or \"f64\")")));
            }
            None => return Err(invalid("no `precision` field".to_string())),
        };
        match precision {
            Precision::F32 => Ok(AnyModel::F32(parse_typed::<f32>(bytes, source)?)),
            Precision::F64 => Ok(AnyModel::F64(parse_typed::<f64>(bytes, source)?)),
        }
    }
}

fn parse_typed<T: ModelFloat>(bytes: &[u8], source: &str) -> Result<TrainedModel<T>> {
    let saved: SavedModel<T> = serde_json::from_slice(bytes).map_err(|e| Error::InvalidModel {
        path: source.to_string(),
        reason: json_reason(&e),
    })?;
    TrainedModel::from_saved(saved, source)
}

fn json_reason(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => format!("the file ends early (truncated?): {e}"),
        Category::Syntax => format!("not valid JSON: {e}"),
        Category::Data => format!("unexpected content: {e}"),
        Category::Io => format!("read error: {e}"),
    }
}

/// Counter making temporary names unique within a process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The temporary file [`write_atomic`] uses for `path`: hidden, in the same directory,
/// never ending in `.json`.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = format!(".{name}.tmp-{}-{n}", std::process::id());
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(tmp),
        _ => PathBuf::from(tmp),
    }
}

/// Test hook: `MULTILOGIT_TEST_WRITE_DELAY_MS=N` makes [`write_atomic`] write in 64 KiB
/// pieces with an N ms pause after each, so that a test can kill a writer mid-write.
fn test_write_delay() -> Option<std::time::Duration> {
    let ms: u64 = std::env::var("MULTILOGIT_TEST_WRITE_DELAY_MS").ok()?.parse().ok()?;
    Some(std::time::Duration::from_millis(ms))
}

/// Writes `bytes` to `path` atomically: into a temporary file in the same directory
/// (`.NAME.tmp-PID-N`), flushed to disk (`fsync`), then renamed over `path` (and the
/// directory flushed, on Unix). Readers see the complete old file or the complete new
/// one. On error the temporary file is removed and an existing `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        let io = |e: std::io::Error| Error::Io {
            path: tmp.display().to_string(),
            message: e.to_string(),
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(io)?;
        match test_write_delay() {
            None => f.write_all(bytes).map_err(io)?,
            Some(delay) => {
                for chunk in bytes.chunks(64 << 10) {
                    f.write_all(chunk).map_err(io)?;
                    f.flush().map_err(io)?;
                    std::thread::sleep(delay);
                }
            }
        }
        f.sync_all().map_err(io)
    })
}

/// Atomic write through a function that writes a file at a given path (for writers
/// that take paths, like the data layer's): `write` gets the temporary path; after it
/// succeeds the file is flushed to disk and renamed over `path`. On error the temporary
/// file is removed and an existing `path` is untouched.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let shown = path.display().to_string();
    if path.is_dir() {
        return Err(Error::Io {
            path: shown,
            message: "is a directory".to_string(),
        });
    }
    let tmp = temp_path(path);
    let result = write(&tmp).and_then(|()| {
        // Flush what `write` wrote (it may not have), then move it into place.
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::Io {
                path: tmp.display().to_string(),
                message: e.to_string(),
            })?;
        std::fs::rename(&tmp, path).map_err(|e| Error::Io {
            path: shown.clone(),
            message: format!("cannot move the new file into place: {e}"),
        })
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    sync_dir(path);
    Ok(())
}

/// Flushes the directory entry of `path` (best effort; Unix only).
fn sync_dir(path: &Path) {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if let Ok(f) = std::fs::File::open(dir) {
            let _ = f.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Short human summary of a model (`f32, 4 features, 3 classes (a, b, c), standardised`).
pub fn describe(m: &AnyModel) -> String {
    let mut s = format!(
        "{}, {} features, {} classes (",
        m.precision(),
        m.n_features(),
        m.classes().len()
    );
    for (i, c) in m.classes().iter().take(8).enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(c);
    }
    if m.classes().len() > 8 {
        s.push_str(", …");
    }
    s.push(')');
    if m.scaler().is_some() {
        s.push_str(", standardised");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> TrainedModel<f64> {
        let w = Matrix::from_vec(2, 3, vec![0.1, -0.2, 0.3, 1e-300, 2.5e10, -0.0]).unwrap();
        let m = LogisticClassifierMultinomial::from_params(w, vec![0.5, 0.25, -1.0 / 3.0]).unwrap();
        TrainedModel::new(
            m,
            vec!["a".into(), "b".into(), "c".into()],
            Some(Scaler {
                mean: vec![1.0 / 7.0, 2.0],
                scale: vec![0.3, 1.0],
            }),
            None,
        )
        .unwrap()
    }

    #[test]
    fn json_round_trip_is_bit_exact() {
        let m = toy();
        let text = m.to_json().unwrap();
        let back = AnyModel::from_json(text.as_bytes(), "mem").unwrap();
        let AnyModel::F64(b) = back else { panic!("precision") };
        let bits = |m: &TrainedModel<f64>| {
            m.model
                .weights()
                .unwrap()
                .as_slice()
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&m), bits(&b));
        assert_eq!(b.scaler, m.scaler);
        assert_eq!(b.to_json().unwrap(), text);
    }

    #[test]
    fn edits_are_caught() {
        let text = toy().to_json().unwrap().replace("0.25", "0.26");
        let e = AnyModel::from_json(text.as_bytes(), "m.json").unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
    }

    #[test]
    fn invalid_scaler_is_not_saved() {
        let mut m = toy();
        m.scaler.as_mut().unwrap().scale[0] = 0.0;
        assert!(m.to_json().is_err());
    }
}
