//! `multilogit experiment --quick`: every file is produced, and report.md's claims follow
//! the numbers in results.json.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::Command;

use multilogit::experiment::verdict::{CLOSE_TO_KNN, GOOD_ACCURACY, NEAR_MAJORITY, POOR_GAP};
use multilogit::experiment::{self, DATASET_NAMES, ExperimentArgs, ExperimentResults, Verdict};

/// A fresh, empty folder under the target directory (kept after the test for
/// inspection; removed before each run).
fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() > 1000, "{} is only {} bytes", path.display(), bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
    // IHDR: width and height, big-endian, at bytes 16..24.
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(w >= 100 && h >= 100, "{} is {w}×{h}", path.display());
}

/// Checks every output file of a quick run in `out`, and that report.md's statements
/// match results.json; returns the parsed results.
fn check_outputs(out: &Path, stdout: Option<&str>) -> ExperimentResults {
    let results: ExperimentResults =
        serde_json::from_str(&read(&out.join("results.json"))).expect("results.json parses");
    let table = read(&out.join("results.md"));
    let report = read(&out.join("report.md"));
    assert!(results.settings.quick);

    // One table row per data set, in the table file, report.md and on stdout.
    let names: Vec<&str> = results.datasets.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, DATASET_NAMES.to_vec());
    for name in &names {
        let row = format!("| {name} ");
        assert_eq!(
            table.lines().filter(|l| l.starts_with(&row)).count(),
            1,
            "row for {name} in results.md"
        );
        assert!(report.contains(&row), "row for {name} in report.md");
        if let Some(stdout) = stdout {
            assert!(stdout.lines().any(|l| l.starts_with(&row)), "row for {name} on stdout");
        }
    }
    assert_eq!(table.lines().count(), names.len() + 2);

    // Pictures: one decision boundary per 2-D data set, plus the loss curves; all linked.
    let mut pictures = vec![results.loss_curves_png.clone()];
    for d in &results.datasets {
        assert_eq!(d.boundary_png.is_some(), d.n_features == 2, "{}", d.name);
        pictures.extend(d.boundary_png.clone());
    }
    assert!(pictures.len() >= 7, "{pictures:?}");
    for p in &pictures {
        assert_png(&out.join(p));
        assert!(report.contains(&format!("]({p})")), "report.md links {p}");
    }

    // The numbers are sane.
    for d in &results.datasets {
        for v in [d.train_accuracy, d.test_accuracy, d.majority_rate, d.knn_accuracy] {
            assert!((0.0..=1.0).contains(&v), "{}: {v}", d.name);
        }
        assert!(d.test_log_loss.is_finite() && d.test_log_loss > 0.0);
        assert_eq!(d.loss_history.len(), d.epochs_run);
        assert!(d.epochs_run >= 1 && d.epochs_run <= results.settings.epochs);
        assert!(d.n_train > d.n_test && d.n_test > 0);
    }

    // Ranking and "best" follow the measured test accuracies.
    let best = results
        .datasets
        .iter()
        .find(|d| d.name == results.best)
        .expect("best is a data set");
    for d in &results.datasets {
        assert!(
            best.test_accuracy >= d.test_accuracy,
            "best {} < {}",
            results.best,
            d.name
        );
    }
    let acc = |n: &str| results.datasets.iter().find(|d| d.name == n).unwrap().test_accuracy;
    assert_eq!(results.ranking.len(), results.datasets.len());
    assert!(results.ranking.windows(2).all(|w| acc(&w[0]) >= acc(&w[1])));
    assert!(report.contains(&format!("Best: **{}**", results.best)));
    // The ranking list in report.md is in that order.
    let mut pos = 0;
    for (i, n) in results.ranking.iter().enumerate() {
        let item = format!("{}. **{n}** — {:.3}", i + 1, acc(n));
        let at = report[pos..]
            .find(&item)
            .unwrap_or_else(|| panic!("ranking item {item:?} in report.md"));
        pos += at + item.len();
    }

    // Verdicts follow the thresholds, and report.md lists each data set in its section.
    let section = |title: &str| -> String {
        let start = report.find(title).unwrap_or_else(|| panic!("section {title:?}"));
        let rest = &report[start + title.len()..];
        rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
    };
    let good_section = section("## Where logistic regression works best");
    let poor_section = section("## Where it fits poorly, and why");
    for d in &results.datasets {
        let gap = d.knn_accuracy - d.test_accuracy;
        let poor = gap > POOR_GAP || d.test_accuracy - d.majority_rate <= NEAR_MAJORITY;
        let good = !poor && d.test_accuracy >= GOOD_ACCURACY && gap <= CLOSE_TO_KNN;
        let want = if poor {
            Verdict::Poor
        } else if good {
            Verdict::Good
        } else {
            Verdict::Fair
        };
        assert_eq!(
            d.verdict, want,
            "{}: test {}, kNN {}, majority {}",
            d.name, d.test_accuracy, d.knn_accuracy, d.majority_rate
        );
        let bullet = format!("- **{}** (", d.name);
        assert_eq!(
            good_section.contains(&bullet),
            want == Verdict::Good,
            "{} in the works-best section",
            d.name
        );
        assert_eq!(
            poor_section.contains(&bullet),
            want == Verdict::Poor,
            "{} in the fits-poorly section",
            d.name
        );
        assert_eq!(results.works_best.contains(&d.name), want == Verdict::Good);
        assert_eq!(results.fits_poorly.contains(&d.name), want == Verdict::Poor);
    }
    // The linear-boundary explanation appears exactly when a gap to kNN was measured.
    let gap_poor = results
        .datasets
        .iter()
        .any(|d| d.verdict == Verdict::Poor && d.knn_accuracy - d.test_accuracy > POOR_GAP);
    assert_eq!(poor_section.contains("every class region is convex"), gap_poor);
    results
}

/// The measured facts the seed's task is about, on this seed: XOR and circles are far
/// below kNN (and so flagged), separable blobs are a good fit.
fn check_expected_findings(results: &ExperimentResults) {
    let get = |n: &str| results.datasets.iter().find(|d| d.name == n).unwrap();
    for n in ["xor", "circles"] {
        let d = get(n);
        assert!(
            d.knn_accuracy - d.test_accuracy > POOR_GAP,
            "{n}: LR {} vs kNN {}",
            d.test_accuracy,
            d.knn_accuracy
        );
        assert_eq!(d.verdict, Verdict::Poor, "{n}");
    }
    assert_eq!(get("blobs").verdict, Verdict::Good);
}

#[test]
fn quick_experiment_through_the_library() {
    let out = fresh_dir("experiment-lib");
    let mut args = ExperimentArgs::new(&out);
    args.quick = true;
    let start = std::time::Instant::now();
    experiment::run(&args).expect("experiment runs");
    let secs = start.elapsed().as_secs_f64();
    let results = check_outputs(&out, None);
    check_expected_findings(&results);
    assert!(secs < 30.0, "quick run took {secs:.1} s");
}

#[test]
fn quick_experiment_through_the_binary() {
    let out = fresh_dir("experiment-bin");
    let output = Command::new(env!("CARGO_BIN_EXE_multilogit"))
        .args(["experiment", "--quick", "--out"])
        .arg(&out)
        .output()
        .expect("the binary starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let results = check_outputs(&out, Some(&stdout));
    check_expected_findings(&results);
}

#[test]
fn a_selection_runs_only_those_data_sets() {
    let out = fresh_dir("experiment-subset");
    let mut args = ExperimentArgs::new(&out);
    args.quick = true;
    args.datasets = vec!["iris".into(), "xor".into()];
    experiment::run(&args).expect("experiment runs");
    let results: ExperimentResults = serde_json::from_str(&read(&out.join("results.json"))).unwrap();
    let names: Vec<&str> = results.datasets.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["xor", "iris"]);
    assert!(out.join("boundary_xor.png").exists());
    assert!(!out.join("boundary_moons.png").exists());

    args.datasets = vec!["nonsense".into()];
    let err = experiment::run(&args).unwrap_err().to_string();
    assert!(err.contains("nonsense") && err.contains("xor"), "{err}");
}
