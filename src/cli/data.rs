//! Reading data files for the commands: the format from the extension, labelled data
//! sets for training, and feature matrices (with optional labels) for a trained model.

use std::path::{Path, PathBuf};

use multilogit::data::{self, Dataset, LabelColumn, LabelInterner};
use multilogit::io::{ModelFloat, TrainedModel};
use multilogit::{Error, Matrix};

use super::{CliResult, DataArgs, Format, usage};

/// The format of `path`: `explicit` if given, else from the extension (`.csv`;
/// `.libsvm`, `.svm`, `.txt`; `.npy`, case ignored).
pub fn format_of(path: &Path, explicit: Option<Format>) -> CliResult<Format> {
    if let Some(f) = explicit {
        return Ok(f);
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "csv" => Ok(Format::Csv),
        "libsvm" | "svm" | "txt" => Ok(Format::Libsvm),
        "npy" => Ok(Format::Npy),
        _ => Err(usage(format!(
            "{}: cannot tell the format from the file name (expected .csv, .libsvm, .svm, .txt or .npy); use --format csv|libsvm|npy",
            path.display()
        ))),
    }
}

/// The sibling label file of NPY features `X.npy`: `X.labels.npy`.
pub fn labels_sibling(x: &Path) -> PathBuf {
    x.with_extension("labels.npy")
}

/// `NAME|INDEX`: a non-negative integer is a 0-based index, anything else a name.
pub fn label_column(s: &str) -> LabelColumn {
    match s.trim().parse::<usize>() {
        Ok(i) => LabelColumn::Index(i),
        Err(_) => LabelColumn::Name(s.to_string()),
    }
}

/// Refuses options that do not apply to `format`.
fn check_options(args: &DataArgs, format: Format) -> CliResult {
    if args.label_column.is_some() && format != Format::Csv {
        return Err(usage("--label-column applies to CSV files only"));
    }
    if args.labels.is_some() && format != Format::Npy {
        return Err(usage(
            "--labels applies to NPY files only (CSV and LIBSVM files hold their labels)",
        ));
    }
    Ok(())
}

/// The NPY label file: `--labels`, else the sibling if it exists.
fn npy_labels_path(args: &DataArgs, required: bool) -> CliResult<Option<PathBuf>> {
    if let Some(p) = &args.labels {
        return Ok(Some(p.clone()));
    }
    let sib = labels_sibling(&args.data);
    if sib.is_file() {
        Ok(Some(sib))
    } else if required {
        Err(usage(format!(
            "{}: NPY features need labels: pass --labels PATH (a 1-D integer .npy) or put them in {}",
            args.data.display(),
            sib.display()
        )))
    } else {
        Ok(None)
    }
}

/// A labelled data set and, for CSV files, the name of the label column.
pub struct Labelled<T> {
    /// The data.
    pub ds: Dataset<T>,
    /// The label column's header name (CSV only).
    pub label_name: Option<String>,
}

/// Reads a labelled data set for training.
pub fn read_labelled<T: ModelFloat>(args: &DataArgs) -> CliResult<Labelled<T>> {
    let path = &args.data;
    let format = format_of(path, args.format)?;
    check_options(args, format)?;
    let shown = path.display().to_string();
    let (ds, label_name) = match format {
        Format::Csv => match args.label_column.as_deref().map(label_column) {
            None => (data::read_csv::<T>(path, None)?, None),
            Some(col) => read_csv_labelled::<T>(path, &col)?,
        },
        Format::Libsvm => (data::read_libsvm::<T>(path, None)?, None),
        Format::Npy => {
            let labels = npy_labels_path(args, true)?.unwrap_or_default();
            (data::read_npy_dataset::<T>(path, &labels)?, None)
        }
    };
    if ds.n_samples() == 0 {
        return Err(Error::Empty {
            what: format!("{shown}: no data rows"),
        }
        .into());
    }
    Ok(Labelled { ds, label_name })
}

/// A CSV file's features and labels from column `col`, the classes sorted as
/// [`data::read_csv`] sorts them, and the label column's header name.
fn read_csv_labelled<T: ModelFloat>(path: &Path, col: &LabelColumn) -> CliResult<(Dataset<T>, Option<String>)> {
    let ft = data::read_csv_features::<T>(path, None, Some(col))?;
    let raw = ft.labels.unwrap_or_default();
    let mut interner = LabelInterner::new();
    let mut ids = Vec::with_capacity(raw.len());
    for l in &raw {
        ids.push(interner.intern(l)?);
    }
    let classes = interner.finish(&mut ids);
    let ds = Dataset::new(ft.x, ids, classes, ft.feature_names, stem(path))?;
    Ok((ds, ft.label_name))
}

/// The file stem of `path`, for data set names.
fn stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned())
}

/// Feature rows for a trained model and, when asked for and present, their labels as
/// the model's class indices.
pub struct Features<T> {
    /// Raw features, N × D.
    pub x: Matrix<T>,
    /// Class indices into the model's classes, when the file had labels.
    pub y: Option<Vec<u32>>,
}

/// Reads the rows to predict on or evaluate. `want_labels`: map the file's labels to
/// the model's classes (an unknown label is an error naming the row); otherwise labels
/// are ignored. A feature count other than the model's is an error naming the file.
pub fn read_features<T: ModelFloat>(
    args: &DataArgs,
    model: &TrainedModel<T>,
    want_labels: bool,
) -> CliResult<Features<T>> {
    let path = &args.data;
    let shown = path.display().to_string();
    let format = format_of(path, args.format)?;
    check_options(args, format)?;
    let d = model.n_features();
    let classes = &model.classes;
    let (x, y) = match format {
        Format::Csv => {
            let ft = match args.label_column.as_deref() {
                Some(c) => data::read_csv_features::<T>(path, Some(d), Some(&label_column(c)))?,
                None => {
                    let trained = model.training.as_ref().and_then(|t| t.label_column.clone());
                    match trained {
                        None => data::read_csv_features::<T>(path, Some(d), None)?,
                        Some(name) => match data::read_csv_features::<T>(path, Some(d), Some(&LabelColumn::Name(name)))
                        {
                            // The file does not have the training label column's name:
                            // fall back to the default (the last column).
                            Err(Error::Parse { message, .. }) if message.starts_with("no column named") => {
                                data::read_csv_features::<T>(path, Some(d), None)?
                            }
                            other => other?,
                        },
                    }
                }
            };
            let y = if want_labels {
                ft.label_indices(classes, &shown)?
            } else {
                None
            };
            (ft.x, y)
        }
        Format::Libsvm => {
            let ds = data::read_libsvm::<T>(path, Some(d))?;
            let y = if want_labels {
                let names: Vec<String> = ds.y.iter().map(|&k| ds.classes[k as usize].clone()).collect();
                Some(data::labels_to_indices(&names, classes, &shown)?)
            } else {
                None
            };
            (ds.x, y)
        }
        Format::Npy => {
            let x = data::read_npy_matrix::<T>(path)?;
            if x.cols() != d {
                return Err(Error::Parse {
                    path: shown,
                    location: "dimension 1".to_string(),
                    message: format!("{} columns, but the model has {d} features", x.cols()),
                }
                .into());
            }
            let y = match npy_labels_path(args, false)?.filter(|_| want_labels) {
                None => None,
                Some(lp) => {
                    let raw = data::read_npy_labels(&lp)?;
                    if raw.len() != x.rows() {
                        return Err(Error::Parse {
                            path: lp.display().to_string(),
                            location: "dimension 0".to_string(),
                            message: format!("{} labels, but {shown} has {} rows", raw.len(), x.rows()),
                        }
                        .into());
                    }
                    let names: Vec<String> = raw.iter().map(i64::to_string).collect();
                    Some(data::labels_to_indices(&names, classes, &lp.display().to_string())?)
                }
            };
            (x, y)
        }
    };
    if x.rows() == 0 {
        return Err(Error::Empty {
            what: format!("{shown}: no data rows"),
        }
        .into());
    }
    Ok(Features { x, y })
}
