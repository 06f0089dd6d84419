//! End-to-end tests of the `multilogit` binary: train → predict → eval round trips on
//! CSV, LIBSVM and NPY, the training options, reproducibility across thread counts, and
//! every bad-input path (exit code 2, one line `error: ...`, nothing overwritten).
#![cfg(feature = "cli")]

mod common;
use common::tmpdir;

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_multilogit");

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run multilogit")
}

/// Runs a command that must succeed; returns its stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "multilogit {args:?} failed ({:?}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Runs a command that must fail with exit code 2 and one line `error: ...` on stderr
/// (no backtrace, nothing on stdout); returns that line.
fn fail(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(2),
        "multilogit {args:?}: expected exit 2, stderr:\n{err}"
    );
    assert_eq!(
        err.lines().count(),
        1,
        "multilogit {args:?}: expected one line, got:\n{err}"
    );
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    err
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("read json")).expect("parse json")
}

fn eval_json(dir: &Path, model: &str, data: &[&str]) -> serde_json::Value {
    let mut args = vec!["eval", "--model", model, "--json"];
    args.extend_from_slice(data);
    let out = ok(dir, &args);
    assert_eq!(out.lines().count(), 1, "{out}");
    serde_json::from_str(&out).expect("eval --json prints one JSON object")
}

/// train → predict (labels and probabilities) → eval on one data file.
fn round_trip(dir: &Path, data: &[&str], n: usize, classes: &[&str], min_acc: f64) {
    let mut train = vec!["train", "--out", "model.json", "--epochs", "200", "--lr", "0.5"];
    train.extend_from_slice(data);
    let summary = ok(dir, &train);
    assert!(
        summary.contains("final loss") && summary.contains("wall time"),
        "{summary}"
    );
    assert!(summary.contains("kernel"), "{summary}");

    let model = json(&dir.join("model.json"));
    assert_eq!(model["format"], "multilogit");
    assert_eq!(model["version"], 1);
    let names: Vec<&str> = model["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(names, classes);

    let mut predict = vec!["predict", "--model", "model.json"];
    predict.extend_from_slice(data);
    let labels = ok(dir, &predict);
    assert_eq!(labels.lines().count(), n);
    assert!(labels.lines().all(|l| classes.contains(&l)), "{labels}");

    let mut proba = predict.clone();
    proba.push("--proba");
    let p = ok(dir, &proba);
    let mut lines = p.lines();
    assert_eq!(lines.next(), Some(classes.join(",").as_str()));
    let mut rows = 0;
    for line in lines {
        let v: Vec<f64> = line.split(',').map(|s| s.parse().unwrap()).collect();
        assert_eq!(v.len(), classes.len());
        assert!(v.iter().all(|p| (0.0..=1.0).contains(p)));
        assert!((v.iter().sum::<f64>() - 1.0).abs() < 1e-5, "{line}");
        rows += 1;
    }
    assert_eq!(rows, n);

    // --out writes the same thing to a file.
    let mut to_file = predict.clone();
    to_file.extend_from_slice(&["--out", "pred.txt"]);
    assert_eq!(ok(dir, &to_file), "");
    assert_eq!(std::fs::read_to_string(dir.join("pred.txt")).unwrap(), labels);

    let ev = eval_json(dir, "model.json", data);
    assert_eq!(ev["n_samples"], n);
    let acc = ev["accuracy"].as_f64().unwrap();
    assert!(acc >= min_acc, "accuracy {acc}");
    assert!(ev["log_loss"].as_f64().unwrap().is_finite());
    let cm = ev["confusion_matrix"].as_array().unwrap();
    assert_eq!(cm.len(), classes.len());
    let total: u64 = cm
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total as usize, n);

    let mut table = vec!["eval", "--model", "model.json"];
    table.extend_from_slice(data);
    let t = ok(dir, &table);
    assert!(
        t.contains("accuracy") && t.contains("log loss") && t.contains("confusion matrix"),
        "{t}"
    );
}

#[test]
fn csv_round_trip() {
    let dir = tmpdir("csv");
    ok(
        &dir,
        &[
            "generate",
            "--dataset",
            "blobs",
            "--n",
            "300",
            "--seed",
            "1",
            "--out",
            "blobs.csv",
        ],
    );
    round_trip(&dir, &["--data", "blobs.csv"], 300, &["0", "1", "2"], 0.9);
}

#[test]
fn libsvm_round_trip() {
    let dir = tmpdir("libsvm");
    ok(
        &dir,
        &[
            "generate",
            "--dataset",
            "blobs",
            "--n",
            "200",
            "--classes",
            "4",
            "--out",
            "blobs.libsvm",
        ],
    );
    round_trip(&dir, &["--data", "blobs.libsvm"], 200, &["0", "1", "2", "3"], 0.8);
    // Other extensions and an explicit format.
    std::fs::copy(dir.join("blobs.libsvm"), dir.join("blobs.svm")).unwrap();
    ok(&dir, &["train", "--data", "blobs.svm", "--out", "m2.json"]);
    std::fs::copy(dir.join("blobs.libsvm"), dir.join("blobs.data")).unwrap();
    ok(
        &dir,
        &[
            "train",
            "--data",
            "blobs.data",
            "--format",
            "libsvm",
            "--out",
            "m3.json",
        ],
    );
    let e = fail(&dir, &["train", "--data", "blobs.data", "--out", "m4.json"]);
    assert!(e.contains("--format"), "{e}");
}

#[test]
fn npy_round_trip() {
    let dir = tmpdir("npy");
    let out = ok(
        &dir,
        &["generate", "--dataset", "moons", "--n", "150", "--out", "x.npy"],
    );
    assert!(out.contains("x.labels.npy"), "{out}");
    assert!(dir.join("x.labels.npy").is_file());
    // The sibling label file is found on its own ...
    round_trip(&dir, &["--data", "x.npy"], 150, &["0", "1"], 0.75);
    // ... or named with --labels.
    std::fs::rename(dir.join("x.labels.npy"), dir.join("y.npy")).unwrap();
    ok(
        &dir,
        &["train", "--data", "x.npy", "--labels", "y.npy", "--out", "m2.json"],
    );
    let ev = eval_json(&dir, "m2.json", &["--data", "x.npy", "--labels", "y.npy"]);
    assert!(ev["accuracy"].as_f64().unwrap() > 0.75);
    let e = fail(&dir, &["train", "--data", "x.npy", "--out", "m3.json"]);
    assert!(e.contains("--labels"), "{e}");
    assert!(!dir.join("m3.json").exists());
    // predict needs no labels.
    assert_eq!(
        ok(&dir, &["predict", "--model", "m2.json", "--data", "x.npy"])
            .lines()
            .count(),
        150
    );
}

#[test]
fn string_labels_and_label_column() {
    let dir = tmpdir("labels");
    let mut csv = String::from("species,a,b\n");
    for i in 0..60 {
        let (name, x) = match i % 3 {
            0 => ("setosa", 0.0),
            1 => ("versicolor", 5.0),
            _ => ("virginica", 10.0),
        };
        csv.push_str(&format!("{name},{},{}\n", x + (i % 5) as f64 * 0.1, -x));
    }
    std::fs::write(dir.join("flowers.csv"), &csv).unwrap();
    ok(
        &dir,
        &[
            "train",
            "--data",
            "flowers.csv",
            "--label-column",
            "species",
            "--standardize",
            "--out",
            "m.json",
        ],
    );
    let m = json(&dir.join("m.json"));
    assert_eq!(m["classes"], serde_json::json!(["setosa", "versicolor", "virginica"]));
    assert_eq!(m["training"]["label_column"], "species");
    // The same file, label column first: the model knows which column to drop.
    let pred = ok(&dir, &["predict", "--model", "m.json", "--data", "flowers.csv"]);
    let expected: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(pred.lines().collect::<Vec<_>>(), expected);
    // By index too.
    ok(
        &dir,
        &[
            "train",
            "--data",
            "flowers.csv",
            "--label-column",
            "0",
            "--out",
            "m2.json",
        ],
    );
    assert_eq!(json(&dir.join("m2.json"))["training"]["label_column"], "species");
    // A feature-only file (no label column) predicts as well; eval then needs labels.
    let feats: String = csv
        .lines()
        .map(|l| l.split_once(',').unwrap().1.to_string() + "\n")
        .collect();
    std::fs::write(dir.join("feats.csv"), feats).unwrap();
    assert_eq!(ok(&dir, &["predict", "--model", "m.json", "--data", "feats.csv"]), pred);
    let e = fail(&dir, &["eval", "--model", "m.json", "--data", "feats.csv"]);
    assert!(e.contains("no labels"), "{e}");
}

#[test]
fn standardize_and_test_fraction() {
    let dir = tmpdir("std");
    ok(
        &dir,
        &[
            "generate",
            "--dataset",
            "gaussians",
            "--n",
            "400",
            "--seed",
            "3",
            "--out",
            "g.csv",
        ],
    );
    ok(&dir, &["train", "--data", "g.csv", "--out", "raw.json"]);
    assert!(json(&dir.join("raw.json"))["scaler"].is_null());
    let out = ok(
        &dir,
        &[
            "train",
            "--data",
            "g.csv",
            "--standardize",
            "--test-fraction",
            "0.25",
            "--out",
            "std.json",
        ],
    );
    assert!(out.contains("test accuracy"), "{out}");
    let m = json(&dir.join("std.json"));
    let scaler = &m["scaler"];
    assert_eq!(scaler["mean"].as_array().unwrap().len(), 20);
    assert!(
        scaler["scale"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s.as_f64().unwrap() > 0.0)
    );
    let t = &m["training"];
    assert_eq!(t["n_train"].as_u64().unwrap() + t["n_test"].as_u64().unwrap(), 400);
    assert!((90..=110).contains(&t["n_test"].as_u64().unwrap()));
    assert!(t["test_accuracy"].as_f64().unwrap() > 0.3);
    // Prediction on raw features applies the stored standardisation.
    let ev = eval_json(&dir, "std.json", &["--data", "g.csv"]);
    assert!(ev["accuracy"].as_f64().unwrap() > 0.35, "{ev}");
    // The split is seeded: same seed, same model; another seed, another split.
    ok(
        &dir,
        &[
            "train",
            "--data",
            "g.csv",
            "--standardize",
            "--test-fraction",
            "0.25",
            "--out",
            "std2.json",
        ],
    );
    assert_eq!(
        std::fs::read(dir.join("std.json")).unwrap(),
        std::fs::read(dir.join("std2.json")).unwrap()
    );
    ok(
        &dir,
        &[
            "train",
            "--data",
            "g.csv",
            "--standardize",
            "--test-fraction",
            "0.25",
            "--seed",
            "9",
            "--out",
            "std3.json",
        ],
    );
    assert_ne!(
        std::fs::read(dir.join("std.json")).unwrap(),
        std::fs::read(dir.join("std3.json")).unwrap()
    );
    let e = fail(
        &dir,
        &[
            "train",
            "--data",
            "g.csv",
            "--test-fraction",
            "1.5",
            "--out",
            "bad.json",
        ],
    );
    assert!(e.contains("test-fraction"), "{e}");
}

#[test]
fn thread_count_does_not_change_the_model() {
    let dir = tmpdir("threads");
    ok(
        &dir,
        &[
            "generate",
            "--dataset",
            "gaussians",
            "--n",
            "3000",
            "--classes",
            "7",
            "--out",
            "g.csv",
        ],
    );
    for (precision, batch) in [("f32", None), ("f64", Some("64"))] {
        let mut files = Vec::new();
        for threads in ["1", "2", "3"] {
            let out = format!("m-{precision}-{threads}.json");
            let mut args = vec![
                "train",
                "--data",
                "g.csv",
                "--standardize",
                "--epochs",
                "30",
                "--precision",
                precision,
            ];
            args.extend_from_slice(&["--threads", threads, "--out", &out, "--quiet"]);
            if let Some(b) = batch {
                args.extend_from_slice(&["--batch-size", b]);
            }
            assert_eq!(ok(&dir, &args), "", "--quiet prints nothing");
            files.push(std::fs::read(dir.join(&out)).unwrap());
        }
        assert_eq!(files[0], files[1], "{precision}: --threads 1 vs 2");
        assert_eq!(files[0], files[2], "{precision}: --threads 1 vs 3");
        assert_eq!(json(&dir.join(format!("m-{precision}-1.json")))["precision"], precision);
    }
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = tmpdir("bad");
    ok(
        &dir,
        &["generate", "--dataset", "blobs", "--n", "90", "--out", "good.csv"],
    );
    ok(&dir, &["train", "--data", "good.csv", "--out", "model.json"]);

    let e = fail(&dir, &["train", "--data", "missing.csv", "--out", "m.json"]);
    assert!(e.contains("missing.csv"), "{e}");

    std::fs::write(dir.join("ragged.csv"), "a,b,label\n1,2,x\n3,y\n").unwrap();
    let e = fail(&dir, &["train", "--data", "ragged.csv", "--out", "m.json"]);
    assert!(e.contains("ragged.csv") && e.contains("line 3"), "{e}");

    std::fs::write(dir.join("nan.csv"), "a,b,label\n1,2,x\n3,NaN,y\n").unwrap();
    let e = fail(&dir, &["train", "--data", "nan.csv", "--out", "m.json"]);
    assert!(
        e.contains("nan.csv") && e.contains("line 3") && e.contains("column 2"),
        "{e}"
    );

    let e = fail(
        &dir,
        &[
            "train",
            "--data",
            "good.csv",
            "--label-column",
            "nope",
            "--out",
            "m.json",
        ],
    );
    assert!(e.contains("nope"), "{e}");
    let e = fail(
        &dir,
        &["train", "--data", "good.csv", "--label-column", "17", "--out", "m.json"],
    );
    assert!(e.contains("17"), "{e}");

    for lr in ["0", "--lr=-1", "nan", "inf"] {
        let args: Vec<&str> = if lr.starts_with("--") {
            vec!["train", "--data", "good.csv", lr, "--out", "m.json"]
        } else {
            vec!["train", "--data", "good.csv", "--lr", lr, "--out", "m.json"]
        };
        let e = fail(&dir, &args);
        assert!(e.contains("learning_rate"), "{e}");
    }
    let e = fail(&dir, &["train", "--data", "good.csv", "--lr", "abc", "--out", "m.json"]);
    assert!(e.contains("abc"), "{e}");
    fail(
        &dir,
        &["train", "--data", "good.csv", "--epochs", "0", "--out", "m.json"],
    );
    fail(
        &dir,
        &["train", "--data", "good.csv", "--threads", "0", "--out", "m.json"],
    );
    fail(
        &dir,
        &[
            "train",
            "--data",
            "good.csv",
            "--label-column",
            "label",
            "--labels",
            "y.npy",
            "--out",
            "m.json",
        ],
    );
    fail(&dir, &["train", "--data", "good.csv"]);
    fail(&dir, &["trian"]);
    fail(
        &dir,
        &["generate", "--dataset", "nonsense", "--n", "10", "--out", "x.csv"],
    );
    assert!(!dir.join("m.json").exists(), "no model written by failed commands");
    assert!(!dir.join("x.csv").exists());

    // Predict time: wrong feature count (CSV and NPY), unknown labels, bad model files.
    std::fs::write(dir.join("wide.csv"), "a,b,c,d\n1,2,3,4\n").unwrap();
    let e = fail(&dir, &["predict", "--model", "model.json", "--data", "wide.csv"]);
    assert!(e.contains("wide.csv") && e.contains("expected 2 columns"), "{e}");
    ok(
        &dir,
        &["generate", "--dataset", "gaussians", "--n", "20", "--out", "g.npy"],
    );
    let e = fail(&dir, &["predict", "--model", "model.json", "--data", "g.npy"]);
    assert!(e.contains("g.npy") && e.contains("dimension 1"), "{e}");
    std::fs::write(dir.join("unknown.csv"), "f0,f1,label\n1,2,0\n3,4,banana\n").unwrap();
    let e = fail(&dir, &["eval", "--model", "model.json", "--data", "unknown.csv"]);
    assert!(e.contains("banana") && e.contains("row 1"), "{e}");
    let e = fail(&dir, &["predict", "--model", "missing.json", "--data", "good.csv"]);
    assert!(e.contains("missing.json"), "{e}");
    std::fs::write(dir.join("junk.json"), "{\"format\": \"multilogit\", \"version\": 1").unwrap();
    let e = fail(&dir, &["predict", "--model", "junk.json", "--data", "good.csv"]);
    assert!(e.contains("junk.json") && e.contains("invalid model file"), "{e}");
    let e = fail(
        &dir,
        &["predict", "--model", "model.json", "--data", "good.csv", "--out", "."],
    );
    assert!(e.contains("directory"), "{e}");
}

#[test]
fn divergence_exits_2_and_writes_nothing() {
    let dir = tmpdir("diverge");
    // Large, overlapping features: one step of lr 1e30 overflows the logits.
    let mut csv = String::from("a,b,label\n");
    for i in 0..40 {
        csv.push_str(&format!(
            "{},{},{}\n",
            1e6 * (i % 7) as f64,
            -1e6 * (i % 5) as f64,
            i % 2
        ));
    }
    std::fs::write(dir.join("big.csv"), csv).unwrap();
    let e = fail(
        &dir,
        &["train", "--data", "big.csv", "--lr", "1e30", "--out", "new.json"],
    );
    assert!(
        e.contains("diverged") && e.contains("epoch") && e.contains("learning rate"),
        "{e}"
    );
    assert!(!dir.join("new.json").exists());
    // An existing model is left untouched.
    ok(
        &dir,
        &[
            "train", "--data", "big.csv", "--lr", "1e-15", "--epochs", "5", "--out", "old.json",
        ],
    );
    let before = std::fs::read(dir.join("old.json")).unwrap();
    fail(
        &dir,
        &["train", "--data", "big.csv", "--lr", "1e30", "--out", "old.json"],
    );
    assert_eq!(std::fs::read(dir.join("old.json")).unwrap(), before);
    fail(&dir, &["train", "--data", "missing.csv", "--out", "old.json"]);
    assert_eq!(std::fs::read(dir.join("old.json")).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(&*dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn help_and_version_succeed() {
    let dir = tmpdir("help");
    for args in [
        &["--help"][..],
        &["--version"],
        &["train", "--help"],
        &["experiment", "--help"],
        &["bench", "--help"],
    ] {
        let out = ok(&dir, args);
        assert!(!out.is_empty());
    }
}
