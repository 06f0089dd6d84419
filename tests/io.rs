//! Model files: bit-exact save/load round trips, integrity checks (edited, truncated,
//! future-version and foreign files), and atomic saves (a failed save or a killed writer
//! never leaves a half-written model behind).
#![cfg(feature = "cli")]

mod common;
use common::tmpdir;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use multilogit::data::Scaler;
use multilogit::io::{AnyModel, ModelFloat, Precision, TrainedModel, TrainingInfo, write_atomic};
use multilogit::rng::Rng;
use multilogit::{Error, LogisticClassifierMultinomial, Matrix};

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A model fitted on random data (awkward numbers in every field), with a scaler.
fn fitted<T: ModelFloat>(d: usize, t: usize, seed: u64) -> TrainedModel<T> {
    let n = 64;
    let mut rng = Rng::new(seed);
    let x: Vec<T> = (0..n * d)
        .map(|_| T::from_f64(rng.normal() * 3.0 + 1.0 / 3.0))
        .collect();
    let y: Vec<u32> = (0..n).map(|i| (i % t) as u32).collect();
    let x = Matrix::from_vec(n, d, x).unwrap();
    let scaler = Scaler::fit(&x).unwrap();
    let xs = scaler.transform(&x).unwrap();
    let mut m = LogisticClassifierMultinomial::<T>::new()
        .learning_rate(0.37)
        .epochs(20)
        .n_classes(t);
    let report = m.fit(&xs, &y).unwrap();
    let training = TrainingInfo {
        learning_rate: 0.37,
        epochs: 20,
        seed: 0,
        final_loss: report.final_loss(),
        epochs_run: report.epochs_run,
        kernel: report.kernel.to_string(),
        n_train: n,
        train_accuracy: Some(m.score(&xs, &y).unwrap()),
        feature_names: (0..d).map(|j| format!("feature {j}")).collect(),
        ..TrainingInfo::default()
    };
    let classes = (0..t).map(|k| format!("class \"{k}\", ünïcode")).collect();
    TrainedModel::new(m, classes, Some(scaler), Some(training)).unwrap()
}

fn bits<T: ModelFloat>(m: &TrainedModel<T>) -> Vec<u64> {
    let w = m.model.weights().unwrap().as_slice().iter();
    let b = m.model.bias().unwrap().iter();
    w.chain(b).map(|v| v.to_f64().to_bits()).collect()
}

fn round_trip<T: ModelFloat>(dir: &Path) {
    let m = fitted::<T>(7, 4, 11);
    let path = dir.join(format!("model-{}.json", T::NAME));
    m.save(&path).unwrap();
    let back = TrainedModel::<T>::load(&path).unwrap();
    assert_eq!(bits(&back), bits(&m), "weights and bias are bit-equal");
    assert_eq!(back.classes, m.classes);
    let (s0, s1) = (m.scaler.as_ref().unwrap(), back.scaler.as_ref().unwrap());
    let sbits = |s: &Scaler| s.mean.iter().chain(&s.scale).map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(sbits(s0), sbits(s1));
    assert_eq!(back.training, m.training);
    // Saving what was loaded gives the same bytes.
    let again = dir.join(format!("again-{}.json", T::NAME));
    back.save(&again).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&again).unwrap());
    // Predictions agree exactly.
    let x = Matrix::from_vec(2, 7, (0..14).map(|i| T::from_f64(i as f64 * 0.7 - 3.0)).collect()).unwrap();
    let (p0, p1) = (m.predict_proba(&x).unwrap(), back.predict_proba(&x).unwrap());
    assert_eq!(p0, p1);
    // Untyped loading sees the precision.
    let any = AnyModel::load(&path).unwrap();
    assert_eq!(any.precision(), T::PRECISION);
    assert_eq!(any.n_features(), 7);
    assert_eq!(any.classes().len(), 4);
}

#[test]
fn round_trip_is_bit_exact_f32() {
    round_trip::<f32>(&tmpdir("rt32"));
}

#[test]
fn round_trip_is_bit_exact_f64() {
    round_trip::<f64>(&tmpdir("rt64"));
}

#[test]
fn extreme_values_round_trip() {
    let dir = tmpdir("extreme");
    let vals64 = [
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        -f64::MAX,
        0.1 + 0.2,
        -0.0,
        1.0 / 3.0,
        123_456_789.123_456_79,
    ];
    let w = Matrix::from_vec(4, 2, vals64.to_vec()).unwrap();
    let m = LogisticClassifierMultinomial::from_params(w, vec![f64::EPSILON, -1e300]).unwrap();
    let m = TrainedModel::new(m, vec!["a".into(), "b".into()], None, None).unwrap();
    let p = dir.join("m64.json");
    m.save(&p).unwrap();
    assert_eq!(bits(&TrainedModel::<f64>::load(&p).unwrap()), bits(&m));

    let vals32 = [
        f32::MIN_POSITIVE,
        1e-45,
        f32::MAX,
        -f32::MAX,
        0.1,
        -0.0,
        1.0 / 3.0,
        16777217.0,
    ];
    let w = Matrix::from_vec(4, 2, vals32.to_vec()).unwrap();
    let m = LogisticClassifierMultinomial::from_params(w, vec![f32::EPSILON, -3e38]).unwrap();
    let m = TrainedModel::new(m, vec!["a".into(), "b".into()], None, None).unwrap();
    let p = dir.join("m32.json");
    m.save(&p).unwrap();
    assert_eq!(bits(&TrainedModel::<f32>::load(&p).unwrap()), bits(&m));
    // Many random f32 and f64 bit patterns.
    let mut rng = Rng::new(5);
    let w32: Vec<f32> = (0..4000)
        .map(|_| f32::from_bits(rng.next_u64() as u32))
        .map(|v| if v.is_finite() { v } else { 1.5 })
        .collect();
    let m = LogisticClassifierMultinomial::from_params(Matrix::from_vec(1000, 4, w32).unwrap(), vec![0.0; 4]).unwrap();
    let m = TrainedModel::new(m, (0..4).map(|k| k.to_string()).collect(), None, None).unwrap();
    m.save(&p).unwrap();
    assert_eq!(bits(&TrainedModel::<f32>::load(&p).unwrap()), bits(&m));
    let w64: Vec<f64> = (0..4000)
        .map(|_| f64::from_bits(rng.next_u64()))
        .map(|v| if v.is_finite() { v } else { 1.5 })
        .collect();
    let m = LogisticClassifierMultinomial::from_params(Matrix::from_vec(1000, 4, w64).unwrap(), vec![0.0; 4]).unwrap();
    let m = TrainedModel::new(m, (0..4).map(|k| k.to_string()).collect(), None, None).unwrap();
    let p = dir.join("r64.json");
    m.save(&p).unwrap();
    assert_eq!(bits(&TrainedModel::<f64>::load(&p).unwrap()), bits(&m));
}

/// Loads `text` from a file and returns the `InvalidModel` reason.
fn invalid_reason(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    match AnyModel::load(&path) {
        Err(Error::InvalidModel { path: p, reason }) => {
            assert_eq!(p, path.display().to_string(), "the error names the file");
            reason
        }
        other => panic!("{name}: expected InvalidModel, got {other:?}"),
    }
}

#[test]
fn damaged_files_are_refused() {
    let dir = tmpdir("damaged");
    let m = fitted::<f32>(3, 3, 2);
    let path = dir.join("m.json");
    m.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();

    // An edited weight.
    let w = m.model.weights().unwrap().get(1, 2);
    let old = serde_json::to_string(&w).unwrap();
    let new = serde_json::to_string(&(w * 1.5 + 0.25)).unwrap();
    assert!(text.contains(&old));
    let r = invalid_reason(&dir, "edited.json", &text.replacen(&old, &new, 1));
    assert!(r.contains("checksum"), "{r}");
    // An edited class name, scaler value or training record.
    let r = invalid_reason(
        &dir,
        "class.json",
        &text.replacen("class \\\"1\\\"", "class \\\"9\\\"", 1),
    );
    assert!(r.contains("checksum"), "{r}");
    let r = invalid_reason(&dir, "lr.json", &text.replacen("0.37", "0.38", 1));
    assert!(r.contains("checksum"), "{r}");
    let r = invalid_reason(&dir, "sum.json", &text.replacen("fnv1a64:", "fnv1a64:0", 1));
    assert!(r.contains("checksum"), "{r}");

    // Truncated anywhere.
    for cut in [1, text.len() / 3, text.len() / 2, text.len() - 3] {
        let r = invalid_reason(&dir, "cut.json", &text[..cut]);
        assert!(r.contains("truncated") || r.contains("JSON"), "{cut}: {r}");
    }
    let r = invalid_reason(&dir, "empty.json", "");
    assert!(r.contains("truncated"), "{r}");

    // A newer version, another format, another precision tag, no format at all.
    let r = invalid_reason(&dir, "v2.json", &text.replacen("\"version\": 1", "\"version\": 2", 1));
    assert!(r.contains("version 2") && r.contains("newer"), "{r}");
    let r = invalid_reason(&dir, "v0.json", &text.replacen("\"version\": 1", "\"version\": 0", 1));
    assert!(r.contains("version 0"), "{r}");
    let r = invalid_reason(&dir, "fmt.json", &text.replacen("\"multilogit\"", "\"sklearn\"", 1));
    assert!(r.contains("unknown format") && r.contains("sklearn"), "{r}");
    let r = invalid_reason(&dir, "prec.json", &text.replacen("\"f32\"", "\"f16\"", 1));
    assert!(r.contains("precision"), "{r}");
    let r = invalid_reason(&dir, "other.json", "{\"weights\": [[1]]}");
    assert!(r.contains("format"), "{r}");
    let r = invalid_reason(&dir, "array.json", "[1, 2, 3]");
    assert!(!r.is_empty());

    // Shapes and values, caught before the checksum.
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["weights"].as_array_mut().unwrap().pop();
    let r = invalid_reason(&dir, "rows.json", &v.to_string());
    assert!(r.contains("weights has 2 rows"), "{r}");
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["bias"].as_array_mut().unwrap().push(serde_json::json!(0.5));
    let r = invalid_reason(&dir, "bias.json", &v.to_string());
    assert!(r.contains("bias"), "{r}");
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["scaler"]["scale"][1] = serde_json::json!(-1.0);
    let r = invalid_reason(&dir, "scale.json", &v.to_string());
    assert!(r.contains("scale"), "{r}");
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["scaler"]["mean"].as_array_mut().unwrap().pop();
    let r = invalid_reason(&dir, "mean.json", &v.to_string());
    assert!(r.contains("scaler"), "{r}");
    let r = invalid_reason(&dir, "big.json", &text.replacen(&old, "1e39", 1));
    assert!(r.contains("finite") || r.contains("out of range"), "{r}");
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["classes"][1] = v["classes"][0].clone();
    let r = invalid_reason(&dir, "dup.json", &v.to_string());
    assert!(r.contains("twice"), "{r}");
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["extra"] = serde_json::json!(1);
    let r = invalid_reason(&dir, "extra.json", &v.to_string());
    assert!(r.contains("extra"), "{r}");

    // Precision mismatch through the typed loader; a missing file is an I/O error.
    match TrainedModel::<f64>::load(&path) {
        Err(Error::InvalidModel { reason, .. }) => assert!(reason.contains("f32"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(AnyModel::load(&dir.join("nope.json")), Err(Error::Io { .. })));
    assert_eq!(AnyModel::load(&path).unwrap().precision(), Precision::F32);
}

#[test]
fn failed_save_leaves_existing_file_untouched() {
    let dir = tmpdir("failsave");
    let path = dir.join("model.json");
    let good = fitted::<f64>(3, 2, 4);
    good.save(&path).unwrap();
    let before = std::fs::read(&path).unwrap();

    // A model that cannot be written validly (a scale of zero) is refused.
    let mut bad = good.clone();
    bad.scaler.as_mut().unwrap().scale[0] = 0.0;
    match bad.save(&path) {
        Err(Error::InvalidModel { path: p, reason }) => {
            assert_eq!(p, path.display().to_string());
            assert!(reason.contains("scale"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let mut bad = good.clone();
    bad.classes.pop();
    assert!(bad.save(&path).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);

    // A target that cannot be replaced (a directory) or a missing directory.
    std::fs::create_dir(dir.join("taken.json")).unwrap();
    assert!(good.save(&dir.join("taken.json")).is_err());
    assert!(good.save(&dir.join("no/such/dir/m.json")).is_err());
    assert!(write_atomic(&dir.join("taken.json"), b"x").is_err());
    assert_eq!(
        files_in(&dir),
        ["model.json", "taken.json"],
        "no temporary file is left"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// Writes a CSV whose model is a few hundred KiB: 600 features, 30 classes.
fn wide_csv(path: &Path) {
    let mut s: String = (0..600).map(|j| format!("f{j},")).collect();
    s.push_str("label\n");
    for i in 0..60 {
        for j in 0..600 {
            s.push_str(&format!("{},", ((i * 7 + j * 13) % 17) as f64 * 0.125));
        }
        s.push_str(&format!("{}\n", i % 30));
    }
    std::fs::write(path, s).unwrap();
}

/// Starts `train` with a slowed-down save, waits until its temporary file exists, kills
/// it, and returns the names in `dir` afterwards.
fn kill_mid_write(dir: &Path, out: &str) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_multilogit"))
        .args(["train", "--data", "wide.csv", "--epochs", "2", "--quiet", "--out", out])
        .env("MULTILOGIT_TEST_WRITE_DELAY_MS", "300")
        .current_dir(dir)
        .spawn()
        .expect("spawn multilogit");
    let prefix = format!(".{out}.tmp-");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let started = files_in(dir).iter().any(|n| n.starts_with(&prefix))
            && std::fs::read_dir(dir).unwrap().any(|e| {
                let e = e.unwrap();
                e.file_name().to_string_lossy().starts_with(&prefix) && e.metadata().map_or(0, |m| m.len()) > 0
            });
        if started {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the writer finished ({status}) before it could be killed");
        }
        assert!(Instant::now() < deadline, "the writer never started writing");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    files_in(dir)
}

#[test]
fn killed_writer_never_leaves_a_partial_model() {
    let dir = tmpdir("kill");
    wide_csv(&dir.join("wide.csv"));

    // No model yet: after the kill there is still none.
    let names = kill_mid_write(&dir, "fresh.json");
    assert!(!names.contains(&"fresh.json".to_string()), "{names:?}");

    // An existing model: after the kill it is the complete old file.
    let old = fitted::<f32>(600, 30, 1);
    let path = dir.join("model.json");
    old.save(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let names = kill_mid_write(&dir, "model.json");
    assert_eq!(std::fs::read(&path).unwrap(), before, "the old model is intact");
    AnyModel::load(&path).unwrap();

    // Whatever the killed writers left is hidden, not named like a model, and not loadable.
    for n in names.iter().filter(|n| n.contains(".tmp-")) {
        assert!(n.starts_with('.') && !n.ends_with(".json"), "{n}");
        assert!(AnyModel::load(&dir.join(n)).is_err(), "{n} is a partial file");
    }
    // Only the data, the old model and the temporaries are there.
    let visible: Vec<&String> = names.iter().filter(|n| !n.starts_with('.')).collect();
    assert_eq!(visible, ["model.json", "wide.csv"]);

    // Left alone, the slow writer finishes and replaces the model.
    let status = Command::new(env!("CARGO_BIN_EXE_multilogit"))
        .args([
            "train",
            "--data",
            "wide.csv",
            "--epochs",
            "2",
            "--quiet",
            "--out",
            "model.json",
        ])
        .env("MULTILOGIT_TEST_WRITE_DELAY_MS", "1")
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let new = AnyModel::load(&path).unwrap();
    assert_eq!(new.n_features(), 600);
    assert_ne!(std::fs::read(&path).unwrap(), before);
}
