//! Regression tests for what the fuzz targets in `fuzz/` found, each input embedded
//! here and checked against the targets' contract: a typed error, or a result whose
//! numbers are finite (probabilities in [0, 1], rows summing to 1 within 1e-5).
//!
//! The bugs they document are fixed (see fuzz/README.md, "Findings"): a final gradient
//! step whose logits overflow is reported as divergence, `predict_proba` refuses logits
//! that overflow, and CSV names starting with U+FEFF are quoted when written.

#![cfg(feature = "cli")]

use std::io::Cursor;

use multilogit::data::csv::write_csv_to;
use multilogit::data::{read_csv_from, read_libsvm_from};
use multilogit::io::AnyModel;
use multilogit::{Error, Float, LogisticClassifierMultinomial, Matrix};

/// The probability contract of every fuzz target.
fn assert_proba<T: Float>(p: &Matrix<T>, rows: usize, cols: usize) {
    assert_eq!(p.shape(), (rows, cols));
    for (i, row) in p.iter_rows().enumerate() {
        let vals: Vec<f64> = row.iter().map(|v| v.to_f64()).collect();
        assert!(
            vals.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)),
            "row {i} is not a probability vector: {vals:?}"
        );
        let sum: f64 = vals.iter().sum();
        assert!((sum - 1.0).abs() <= 1e-5, "row {i} sums to {sum}: {vals:?}");
    }
}

/// `predict_proba` is a typed error or valid probabilities.
fn proba_ok_or_typed<T: Float>(r: multilogit::Result<Matrix<T>>, rows: usize, cols: usize) {
    match r {
        Ok(p) => assert_proba(&p, rows, cols),
        Err(e) => assert!(
            matches!(e, Error::NonFinite { .. }),
            "expected a NonFinite error, got {e:?}"
        ),
    }
}

// ----------------------------------------------------------------------------------
// fit_predict

/// fuzz/fit_predict: one f64 row `x = 1.7e294`, label 1, learning rate 1, one epoch.
/// The single gradient step gives finite weights (±8.6e293) whose logits on the very
/// training row overflow (x·w = ±inf); `fit` returned `Ok` (the loss it reports is
/// that of the zero weights) and `predict_proba` then returned NaN probabilities.
#[test]
fn fit_last_step_overflow_on_training_rows() {
    let x = Matrix::from_vec(1, 1, vec![1.715_621_039_810_707e294_f64]).unwrap();
    let labels = [1u32];
    let mut model = LogisticClassifierMultinomial::<f64>::new()
        .learning_rate(1.0)
        .epochs(1)
        .seed(251_746_287);
    match model.fit(&x, &labels) {
        // A successful fit must be able to predict its own training rows.
        Ok(_) => assert_proba(&model.predict_proba(&x).unwrap(), 1, 2),
        Err(e) => {
            assert!(matches!(e, Error::Diverged { .. }), "{e:?}");
            // The parameters kept are the last good ones (here: the zero start).
            assert!(model.weights().unwrap().as_slice().iter().all(|v| v.is_finite()));
            assert_proba(&model.predict_proba(&x).unwrap(), 1, 2);
        }
    }
}

/// The same in f32, where the overflow comes much sooner (x = 1e20, lr = 1).
#[test]
fn fit_last_step_overflow_on_training_rows_f32() {
    let x = Matrix::from_vec(2, 1, vec![1e20_f32, -1e20]).unwrap();
    let labels = [0u32, 1];
    let mut model = LogisticClassifierMultinomial::<f32>::new().learning_rate(1.0).epochs(1);
    let fitted = model.fit(&x, &labels);
    let p = model.predict_proba(&x);
    match fitted {
        Ok(_) => assert_proba(&p.unwrap(), 2, 2),
        Err(e) => {
            assert!(matches!(e, Error::Diverged { .. }), "{e:?}");
            proba_ok_or_typed(p, 2, 2);
        }
    }
}

/// fuzz/fit_predict: mini-batches of one row whose losses are each finite (~5e307) but
/// whose sum over the epoch overflows: `fit` returned `Ok` with `inf` in `loss_history`
/// (the epoch mean is Σ step losses / N). Since the divergence criterion
/// (`DIVERGENCE_FACTOR`: a step's mean loss over 100 · ln T) such steps are `Diverged`.
#[test]
fn fit_minibatch_epoch_loss_sum_overflow() {
    let x = Matrix::from_vec(2, 1, vec![1.303_454_618_851_929_2e190_f64; 2]).unwrap();
    let labels = [0u32, 11];
    let mut model = LogisticClassifierMultinomial::<f64>::new()
        .learning_rate(6.107_767_824_853_087e-73)
        .epochs(4)
        .batch_size(Some(1))
        .seed(281_474_976_710_912);
    match model.fit(&x, &labels) {
        Ok(report) => {
            assert!(
                report.loss_history.iter().all(|l| l.is_finite()),
                "fit succeeded with non-finite losses {:?}",
                report.loss_history
            );
            assert_proba(&model.predict_proba(&x).unwrap(), 2, 12);
        }
        Err(e) => assert!(matches!(e, Error::Diverged { .. }), "{e:?}"),
    }
}

/// predict_proba with finite weights and finite features whose logits overflow:
/// softmax of ±inf gave NaN probabilities.
#[test]
fn predict_proba_overflowing_logits() {
    let w = Matrix::from_vec(1, 2, vec![1e300_f64, -1e300]).unwrap();
    let model = LogisticClassifierMultinomial::from_params(w, vec![0.0, 0.0]).unwrap();
    let x = Matrix::from_vec(2, 1, vec![1e10_f64, 0.5]).unwrap();
    proba_ok_or_typed(model.predict_proba(&x), 2, 2);
    // inf − inf inside the product (NaN logit).
    let w = Matrix::from_vec(2, 2, vec![1e300_f64, 0.0, 1e300, 0.0]).unwrap();
    let model = LogisticClassifierMultinomial::from_params(w, vec![0.0, 0.0]).unwrap();
    let x = Matrix::from_vec(1, 2, vec![1e10_f64, -1e10]).unwrap();
    proba_ok_or_typed(model.predict_proba(&x), 1, 2);
}

// ----------------------------------------------------------------------------------
// model_file

/// fuzz/model_file: a valid f32 model file (checksum correct) with weights ±2¹²⁷.
/// Loading succeeds; predicting a row `x = 4` overflowed the logits and gave NaN.
const HUGE_WEIGHTS_F32: &[u8] = br#"{
  "format": "multilogit",
  "version": 1,
  "precision": "f32",
  "n_features": 1,
  "classes": ["a", "b"],
  "weights": [[1.7014118346046923e+38, -1.7014118346046923e+38]],
  "bias": [0.0, 0.0],
  "scaler": null,
  "training": null,
  "checksum": "fnv1a64:26f465ad37e6a982"
}
"#;

#[test]
fn model_file_huge_weights_predict() {
    let AnyModel::F32(m) = AnyModel::from_json(HUGE_WEIGHTS_F32, "huge.json").unwrap() else {
        panic!("an f32 model");
    };
    let x = Matrix::from_vec(3, 1, vec![0.0_f32, 1.0, 4.0]).unwrap();
    proba_ok_or_typed(m.predict_proba(&x), 3, 2);
}

#[test]
fn model_file_huge_weights_loads() {
    // The file itself is valid: the loader must accept it (and the checksum).
    let m = AnyModel::from_json(HUGE_WEIGHTS_F32, "huge.json").unwrap();
    assert_eq!(m.n_features(), 1);
    assert_eq!(m.classes(), ["a", "b"]);
}

// ----------------------------------------------------------------------------------
// csv

/// fuzz/csv: a header that is not on the first line and starts with U+FEFF (a
/// byte-order mark in the middle of a file is an ordinary character). The reader keeps
/// it in the column name; `write_csv_to` wrote the name unquoted at the start of the
/// file, where the reader strips it as a byte-order mark: the name did not round-trip.
#[test]
fn csv_bom_inside_header_round_trips() {
    let input: &[u8] = b"\n\xef\xbb\xbf,<x\n3,4\n";
    let ds = read_csv_from::<f64, _>(Cursor::new(input), "fuzz.csv", None).unwrap();
    assert_eq!(ds.feature_names, ["\u{feff}"]);
    let mut out = Vec::new();
    write_csv_to(&mut out, &ds).unwrap();
    let back = read_csv_from::<f64, _>(Cursor::new(&out), "fuzz.csv", None).unwrap();
    assert_eq!(back.feature_names, ds.feature_names);
    assert_eq!(back.x, ds.x);
    assert_eq!(back.classes, ds.classes);
}

#[test]
fn csv_bom_only_on_the_first_line_is_stripped() {
    let ds = read_csv_from::<f32, _>(Cursor::new(b"\xef\xbb\xbfa,label\n1,x\n"), "f.csv", None).unwrap();
    assert_eq!(ds.feature_names, ["a"]);
    let ds = read_csv_from::<f32, _>(Cursor::new(b"\n\xef\xbb\xbfa,label\n1,x\n"), "f.csv", None).unwrap();
    assert_eq!(ds.feature_names, ["\u{feff}a"]);
}

// ----------------------------------------------------------------------------------
// libsvm

/// fuzz/libsvm: a 319-byte file of 36 lines whose largest index is 3 333 332 makes a
/// dense 36 × 3 333 332 matrix (960 MB of f64). That is within the documented bound
/// (`MAX_DENSE_ELEMENTS` = 2³⁰ elements), so it is not an error; the fuzz target skips
/// such inputs. Beyond the bound the reader must refuse before allocating.
#[test]
fn libsvm_dense_size_beyond_the_bound_is_refused() {
    let line = "1 10000000:1\n";
    // 108 rows × 10⁷ columns = 1.08·10⁹ > 2³⁰ elements.
    let file = line.repeat(108);
    let r = read_libsvm_from::<f64, _>(Cursor::new(file.as_bytes()), "big.libsvm", None);
    assert!(matches!(r, Err(Error::TooLarge { .. })), "{r:?}");
    // An index beyond MAX_LIBSVM_FEATURES is refused at its token.
    let r = read_libsvm_from::<f32, _>(Cursor::new(&b"1 10000001:1\n"[..]), "big.libsvm", None);
    assert!(matches!(r, Err(Error::TooLarge { .. })), "{r:?}");
}
