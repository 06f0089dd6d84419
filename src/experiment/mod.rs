//! `multilogit experiment`: the seed's task on toy and real data sets.
//!
//! For every data set: a stratified, seeded train/test split (30 % test), standardisation
//! fitted on the training rows, full-batch gradient descent with the same
//! hyperparameters everywhere, and two references on the same split — the majority-class
//! rate and k nearest neighbours (k = 5, [`knn`]) — so that "fits poorly" is a measured
//! statement. The results go to stdout as a Markdown table and into the output folder
//! as `results.md`, `results.json`, one decision-boundary PNG per 2-D data set,
//! `loss_curves.png` and `report.md`, whose verdicts ([`verdict`]) are computed from the
//! numbers of that run.

pub mod knn;
pub mod summary;
pub mod verdict;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Scaler, builtin, toy, train_test_split};
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::model::LogisticClassifierMultinomial;
use crate::report::{self, BoundaryPlot, LossCurve};

pub use verdict::Verdict;

/// Arguments of `multilogit experiment`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExperimentArgs {
    /// Output folder for the table, pictures and report (created if missing).
    #[arg(long, default_value = "experiment")]
    pub out: PathBuf,
    /// Small sizes (for tests): smaller toy data sets and pictures; still every file.
    #[arg(long)]
    pub quick: bool,
    /// Seed for the toy generators and the train/test splits.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Only these data sets (comma-separated; default: all of them).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub datasets: Vec<String>,
}

impl ExperimentArgs {
    /// The defaults of the command line, writing into `out`.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        ExperimentArgs {
            out: out.into(),
            quick: false,
            seed: 42,
            datasets: Vec::new(),
        }
    }
}

/// Every data set of the experiment, toy ones first, in table order.
pub const DATASET_NAMES: &[&str] = &[
    "blobs",
    "blobs_overlap",
    "moons",
    "circles",
    "xor",
    "spirals",
    "gaussians",
    "iris",
    "wine",
    "breast_cancer",
    "digits",
];

/// The hyperparameters of a run, the same for every data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Seed of the toy generators and the splits (the fit itself is deterministic).
    pub seed: u64,
    /// Fraction of each class sent to the test side.
    pub test_fraction: f64,
    /// Gradient-descent learning rate.
    pub learning_rate: f64,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Early stopping: stop when the training loss improves by less than this.
    pub tol: f64,
    /// Neighbours in the kNN reference.
    pub knn_k: usize,
    /// Rows generated for each 2-D toy data set.
    pub toy_rows: usize,
    /// Rows generated for the high-dimensional Gaussian data set.
    pub gaussian_rows: usize,
    /// Whether this was a `--quick` run.
    pub quick: bool,
}

impl Settings {
    /// The settings for a full or a `--quick` run.
    pub fn new(quick: bool, seed: u64) -> Self {
        Settings {
            seed,
            test_fraction: 0.3,
            learning_rate: 0.5,
            epochs: 1000,
            tol: 1e-6,
            knn_k: 5,
            toy_rows: if quick { 300 } else { 1000 },
            gaussian_rows: if quick { 500 } else { 2000 },
            quick,
        }
    }
}

/// The measurements on one data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetResult {
    /// Short name (a row of the table).
    pub name: String,
    /// `"toy"` (generated) or `"real"` (shipped).
    pub kind: String,
    /// What the data set is.
    pub description: String,
    /// Training rows.
    pub n_train: usize,
    /// Test rows.
    pub n_test: usize,
    /// Features.
    pub n_features: usize,
    /// Classes.
    pub n_classes: usize,
    /// Logistic regression: accuracy on the training rows.
    pub train_accuracy: f64,
    /// Logistic regression: accuracy on the test rows.
    pub test_accuracy: f64,
    /// Logistic regression: mean cross-entropy on the test rows.
    pub test_log_loss: f64,
    /// Logistic regression: training loss after the last epoch's update.
    pub final_train_loss: f64,
    /// Epochs run (fewer than the maximum when the tolerance stopped training).
    pub epochs_run: usize,
    /// Whether the tolerance stopped training.
    pub stopped_by_tol: bool,
    /// Wall time of the fit in seconds.
    pub fit_seconds: f64,
    /// Test rows of the training side's most common class, as a fraction.
    pub majority_rate: f64,
    /// kNN (k = [`Settings::knn_k`]) accuracy on the test rows.
    pub knn_accuracy: f64,
    /// Wall time of the kNN predictions in seconds.
    pub knn_seconds: f64,
    /// The verdict on logistic regression for this data set.
    pub verdict: Verdict,
    /// File name of the decision-boundary picture (2-D data sets only).
    pub boundary_png: Option<String>,
    /// Training loss per epoch (entry `e`: the loss before epoch `e + 1`'s update).
    pub loss_history: Vec<f64>,
}

/// Everything a run measured, as written to `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentResults {
    /// The hyperparameters.
    pub settings: Settings,
    /// One entry per data set, in table order.
    pub datasets: Vec<DatasetResult>,
    /// Data set names by test accuracy, best first (ties: by name).
    pub ranking: Vec<String>,
    /// The data set with the highest test accuracy.
    pub best: String,
    /// Data sets where logistic regression works best ([`Verdict::Good`]).
    pub works_best: Vec<String>,
    /// Data sets where it fits poorly ([`Verdict::Poor`]).
    pub fits_poorly: Vec<String>,
    /// File name of the loss-curve picture.
    pub loss_curves_png: String,
    /// Whether the pictures contain text (titles, axes, legends).
    pub text_in_pictures: bool,
    /// Wall time of the whole run in seconds (data, fits, references, pictures).
    pub wall_seconds: f64,
}

/// Runs the experiment, printing the table and writing the report into `args.out`.
pub fn run(args: &ExperimentArgs) -> Result<()> {
    let start = Instant::now();
    let names = selected_names(&args.datasets)?;
    let settings = Settings::new(args.quick, args.seed);
    std::fs::create_dir_all(&args.out).map_err(|e| io_err(&args.out, e))?;
    let mut results = Vec::with_capacity(names.len());
    for name in &names {
        results.push(run_one(name, &settings, &args.out)?);
    }
    let mut all = finish(settings, results, start.elapsed().as_secs_f64());
    write_pictures_and_files(&mut all, &args.out, start)?;
    print!("{}", summary::results_table(&all));
    println!();
    println!(
        "Best: {} (test accuracy {:.3}). Works best: {}. Fits poorly: {}.",
        all.best,
        all.datasets
            .iter()
            .find(|d| d.name == all.best)
            .map_or(f64::NAN, |d| d.test_accuracy),
        list_or_none(&all.works_best),
        list_or_none(&all.fits_poorly),
    );
    println!(
        "Wrote {} (wall time {:.2} s).",
        args.out.join("report.md").display(),
        all.wall_seconds
    );
    Ok(())
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() { "none".to_string() } else { v.join(", ") }
}

/// The data sets to run: all of them, or the validated selection in table order.
pub fn selected_names(requested: &[String]) -> Result<Vec<&'static str>> {
    let wanted: Vec<String> = requested
        .iter()
        .map(|s| s.trim().to_ascii_lowercase().replace('-', "_"))
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(bad) = wanted.iter().find(|w| !DATASET_NAMES.contains(&w.as_str())) {
        return Err(Error::InvalidHyperparameter {
            name: "datasets",
            value: bad.clone(),
            reason: format!("unknown data set; expected some of: {}", DATASET_NAMES.join(", ")),
        });
    }
    Ok(DATASET_NAMES
        .iter()
        .copied()
        .filter(|n| wanted.is_empty() || wanted.iter().any(|w| w == n))
        .collect())
}

/// Loads or generates data set `name` with its description.
pub fn load(name: &str, settings: &Settings) -> Result<(Dataset<f64>, &'static str, &'static str)> {
    let (n, seed) = (settings.toy_rows, settings.seed);
    let (mut ds, kind, what) = match name {
        "blobs" => (
            toy::blobs(n, 3, 2, 1.0, seed)?,
            "toy",
            "3 well-separated Gaussian blobs, 2-D",
        ),
        "blobs_overlap" => (
            toy::blobs(n, 3, 2, 3.0, seed)?,
            "toy",
            "3 overlapping Gaussian blobs, 2-D",
        ),
        "moons" => (toy::moons(n, 0.15, seed)?, "toy", "two interleaving half circles, 2-D"),
        "circles" => (toy::circles(n, 0.08, 0.5, seed)?, "toy", "a ring around a disc, 2-D"),
        "xor" => (
            toy::xor(n, 0.3, seed)?,
            "toy",
            "XOR: four clusters, opposite corners share a class, 2-D",
        ),
        "spirals" => (
            toy::spirals(n, 3, 0.05, seed)?,
            "toy",
            "three interleaved spiral arms, 2-D",
        ),
        "gaussians" => (
            toy::gaussians_overlap(settings.gaussian_rows, 5, 20, 2.0, seed)?,
            "toy",
            "5 overlapping Gaussian classes, 20-D",
        ),
        "iris" => (builtin::iris()?, "real", "iris flowers, 4 measurements"),
        "wine" => (builtin::wine()?, "real", "wine cultivars, 13 chemical measurements"),
        "breast_cancer" => (
            builtin::breast_cancer()?,
            "real",
            "breast cancer (Wisconsin diagnostic), 30 features",
        ),
        "digits" => (builtin::digits()?, "real", "handwritten digits, 8×8 pixels"),
        _ => {
            return Err(Error::InvalidHyperparameter {
                name: "datasets",
                value: name.to_string(),
                reason: format!("unknown data set; expected one of: {}", DATASET_NAMES.join(", ")),
            });
        }
    };
    ds.name = name.to_string();
    Ok((ds, kind, what))
}

/// The test rows' fraction of the training side's most common class (ties: the lowest
/// class index).
pub fn majority_rate(train_y: &[u32], test_y: &[u32], n_classes: usize) -> f64 {
    let mut counts = vec![0usize; n_classes.max(1)];
    for &l in train_y {
        if let Some(c) = counts.get_mut(l as usize) {
            *c += 1;
        }
    }
    let top = counts.iter().copied().max().unwrap_or(0);
    let majority = counts.iter().position(|&c| c == top).unwrap_or(0) as u32;
    if test_y.is_empty() {
        return 0.0;
    }
    test_y.iter().filter(|&&l| l == majority).count() as f64 / test_y.len() as f64
}

/// Splits, standardises, fits and measures one data set; draws its decision boundary
/// into `out` when it has two features.
pub fn run_one(name: &str, settings: &Settings, out: &Path) -> Result<DatasetResult> {
    let (ds, kind, description) = load(name, settings)?;
    let (train, test) = train_test_split(&ds, settings.test_fraction, settings.seed)?;
    let scaler = Scaler::fit(&train.x)?;
    let xtr = scaler.transform(&train.x)?;
    let xte = scaler.transform(&test.x)?;
    let t = ds.n_classes();

    let mut model = LogisticClassifierMultinomial::<f64>::new()
        .learning_rate(settings.learning_rate)
        .epochs(settings.epochs)
        .batch_size(None)
        .seed(settings.seed)
        .tol(Some(settings.tol))
        .n_classes(t);
    let fit = model.fit(&xtr, &train.y)?;
    let train_accuracy = model.score(&xtr, &train.y)?;
    let test_accuracy = model.score(&xte, &test.y)?;
    let test_log_loss = model.loss(&xte, &test.y)?;
    let final_train_loss = model.loss(&xtr, &train.y)?;

    let knn_start = Instant::now();
    let knn = knn::Knn::fit(&xtr, &train.y, settings.knn_k, t)?;
    let knn_accuracy = knn.score(&xte, &test.y)?;
    let knn_seconds = knn_start.elapsed().as_secs_f64();
    let majority = majority_rate(&train.y, &test.y, t);

    let boundary_png = if ds.n_features() == 2 {
        let file = format!("boundary_{name}.png");
        let title = format!("{name}: test accuracy {test_accuracy:.3}");
        let size = if settings.quick { 420 } else { 640 };
        let plot = BoundaryPlot {
            title: &title,
            axis_labels: [&ds.feature_names[0], &ds.feature_names[1]],
            class_names: &ds.classes,
            train: (&train.x, &train.y),
            test: (&test.x, &test.y),
            size,
            cell: 2,
        };
        let proba = |g: &Matrix<f64>| model.predict_proba(&scaler.transform(g)?);
        report::decision_boundary_png(&out.join(&file), &plot, &proba)?;
        Some(file)
    } else {
        None
    };

    let mut r = DatasetResult {
        name: name.to_string(),
        kind: kind.to_string(),
        description: description.to_string(),
        n_train: train.n_samples(),
        n_test: test.n_samples(),
        n_features: ds.n_features(),
        n_classes: t,
        train_accuracy,
        test_accuracy,
        test_log_loss,
        final_train_loss,
        epochs_run: fit.epochs_run,
        stopped_by_tol: fit.stopped_by_tol,
        fit_seconds: fit.wall_time.as_secs_f64(),
        majority_rate: majority,
        knn_accuracy,
        knn_seconds,
        verdict: Verdict::Fair,
        boundary_png,
        loss_history: fit.loss_history,
    };
    r.verdict = verdict::judge(&r);
    Ok(r)
}

/// Ranks the results and collects the verdicts.
pub fn finish(settings: Settings, datasets: Vec<DatasetResult>, wall_seconds: f64) -> ExperimentResults {
    let ranking = verdict::ranking(&datasets);
    let pick = |v: Verdict| -> Vec<String> {
        ranking
            .iter()
            .filter(|n| datasets.iter().any(|d| &d.name == *n && d.verdict == v))
            .cloned()
            .collect()
    };
    ExperimentResults {
        best: ranking.first().cloned().unwrap_or_default(),
        works_best: pick(Verdict::Good),
        fits_poorly: pick(Verdict::Poor),
        ranking,
        settings,
        datasets,
        loss_curves_png: "loss_curves.png".to_string(),
        text_in_pictures: report::text_enabled(),
        wall_seconds,
    }
}

/// Draws the loss curves and writes `results.md`, `results.json` and `report.md`.
fn write_pictures_and_files(all: &mut ExperimentResults, out: &Path, start: Instant) -> Result<()> {
    let curves: Vec<LossCurve<'_>> = all
        .datasets
        .iter()
        .map(|d| LossCurve {
            name: &d.name,
            losses: &d.loss_history,
        })
        .collect();
    let panel = if all.settings.quick { (260, 190) } else { (340, 240) };
    let layout = report::loss_curves_png(&out.join(&all.loss_curves_png), &curves, 4, panel)?;
    all.wall_seconds = start.elapsed().as_secs_f64();
    write_file(&out.join("results.md"), &summary::results_table(all))?;
    let json = serde_json::to_string_pretty(all).map_err(|e| Error::Io {
        path: out.join("results.json").display().to_string(),
        message: e.to_string(),
    })?;
    write_file(&out.join("results.json"), &(json + "\n"))?;
    write_file(&out.join("report.md"), &summary::report_markdown(all, &layout))?;
    Ok(())
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| io_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_rate_uses_the_training_side() {
        // Training majority is class 2; the test side has one row of it in four.
        assert_eq!(majority_rate(&[2, 2, 1], &[0, 1, 2, 1], 3), 0.25);
        // Ties go to the lowest class.
        assert_eq!(majority_rate(&[1, 0], &[0, 0, 1], 2), 2.0 / 3.0);
        assert_eq!(majority_rate(&[0], &[], 1), 0.0);
    }

    #[test]
    fn selection_is_validated_and_kept_in_table_order() {
        assert_eq!(selected_names(&[]).unwrap(), DATASET_NAMES.to_vec());
        let s = selected_names(&["XOR".into(), "breast-cancer".into(), " iris".into()]).unwrap();
        assert_eq!(s, vec!["xor", "iris", "breast_cancer"]);
        assert!(matches!(
            selected_names(&["nope".into()]),
            Err(Error::InvalidHyperparameter { name: "datasets", .. })
        ));
    }
}
