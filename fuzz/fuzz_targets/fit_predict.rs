//! `LogisticClassifierMultinomial::fit` then `predict_proba`, on arbitrary small
//! matrices, labels and hyperparameters, in `f32` and `f64`.
//!
//! The input is decoded with `arbitrary::Unstructured`: precision, N ≤ 64 rows, D ≤ 16
//! features, T ≤ 12 classes, epochs ≤ 20, a learning rate (usually sensible, sometimes
//! any `f64` bit pattern: huge, tiny, negative, NaN), batch size, seed, tolerance and
//! `n_classes` (each sometimes absent or out of range), labels (sometimes out of range),
//! features (small integers, scaled values, or any bit pattern, NaN and infinities
//! included) and a second matrix to predict on.
//!
//! Contract: `fit` returns a typed error or a report whose losses are finite; the
//! parameters it keeps (also after `Diverged`) are finite; after a successful fit,
//! `predict_proba` on the training matrix gives valid probabilities (finite, in [0, 1],
//! rows summing to 1 within 1e-5); otherwise, and on the second matrix, `predict_proba`
//! gives a typed error or valid probabilities.

#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use multilogit::{Error, Float, LogisticClassifierMultinomial, Matrix};
use multilogit_fuzz::{assert_finite, assert_proba};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = if u.arbitrary::<bool>().unwrap_or(false) {
        run::<f64>(&mut u)
    } else {
        run::<f32>(&mut u)
    };
});

/// A value for a feature: mostly tame, sometimes any bit pattern.
fn feature(u: &mut Unstructured<'_>) -> Result<f64> {
    Ok(match u.int_in_range(0u8..=7)? {
        0..=3 => f64::from(u.int_in_range(-4i8..=4)?),
        4 | 5 => f64::from(u.arbitrary::<i16>()?) / 256.0,
        6 => f64::from(u.arbitrary::<i16>()?) * 10f64.powi(i32::from(u.int_in_range(-30i8..=30)?)),
        _ => f64::from_bits(u.arbitrary()?),
    })
}

fn learning_rate(u: &mut Unstructured<'_>) -> Result<f64> {
    Ok(match u.int_in_range(0u8..=4)? {
        0 => 0.1,
        1 => 1.0,
        2 => 10f64.powi(i32::from(u.int_in_range(-8i8..=8)?)),
        3 => 10f64.powi(i32::from(u.int_in_range(-300i16..=300)?)),
        _ => f64::from_bits(u.arbitrary()?),
    })
}

/// `FUZZ_VERBOSE=1` prints each decoded case (for reproducing a crash by hand).
fn verbose() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var_os("FUZZ_VERBOSE").is_some())
}

fn run<T: Float>(u: &mut Unstructured<'_>) -> Result<()> {
    let n: usize = u.int_in_range(1..=64)?;
    let d: usize = u.int_in_range(1..=16)?;
    let t: usize = u.int_in_range(1..=12)?;
    let lr = learning_rate(u)?;
    let epochs: usize = u.int_in_range(0..=20)?;
    let batch_size: Option<usize> = if u.arbitrary()? {
        Some(u.int_in_range(0..=70)?)
    } else {
        None
    };
    let seed: u64 = u.arbitrary()?;
    let tol: Option<f64> = match u.int_in_range(0u8..=3)? {
        0 | 1 => None,
        2 => Some(10f64.powi(-i32::from(u.int_in_range(0u8..=12)?))),
        _ => Some(f64::from_bits(u.arbitrary()?)),
    };
    let n_classes: Option<usize> = if u.arbitrary()? {
        Some(u.int_in_range(0..=13)?)
    } else {
        None
    };
    // Labels below t, and now and then one at t (out of range when n_classes = t).
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        labels.push(
            u.int_in_range(0..=t as u32)?
                .min(t as u32 - u32::from(u.ratio(15, 16)?)),
        );
    }
    let mut xs = Vec::with_capacity(n * d);
    for _ in 0..n * d {
        xs.push(T::from_f64(feature(u)?));
    }
    let m2: usize = u.int_in_range(1..=8)?;
    let mut x2s = Vec::with_capacity(m2 * d);
    for _ in 0..m2 * d {
        x2s.push(T::from_f64(feature(u)?));
    }
    let x = Matrix::from_vec(n, d, xs).expect("n×d");
    let x2 = Matrix::from_vec(m2, d, x2s).expect("m2×d");

    if verbose() {
        eprintln!(
            "{}: n={n} d={d} t={t} lr={lr:e} epochs={epochs} batch_size={batch_size:?} seed={seed} \
             tol={tol:?} n_classes={n_classes:?}\nlabels={labels:?}\nx={:?}\nx2={:?}",
            T::NAME,
            x.as_slice().iter().map(|v| v.to_f64()).collect::<Vec<_>>(),
            x2.as_slice().iter().map(|v| v.to_f64()).collect::<Vec<_>>()
        );
    }
    let mut model = LogisticClassifierMultinomial::<T>::new()
        .learning_rate(lr)
        .epochs(epochs)
        .batch_size(batch_size)
        .seed(seed)
        .tol(tol);
    if let Some(k) = n_classes {
        model = model.n_classes(k);
    }
    let fitted = model.fit(&x, &labels);
    if verbose() {
        eprintln!("fit: {fitted:?}");
    }
    let converged = match fitted {
        Ok(report) => {
            assert!(report.epochs_run >= 1 && report.epochs_run <= epochs);
            assert_eq!(report.loss_history.len(), report.epochs_run);
            assert!(
                report.loss_history.iter().all(|l| l.is_finite() && *l >= -1e-6),
                "fit succeeded with a non-finite or negative loss: {:?}",
                report.loss_history
            );
            true
        }
        Err(Error::Diverged { .. }) => false,
        Err(_) => {
            // Rejected input: nothing was fitted.
            assert!(matches!(model.predict_proba(&x), Err(Error::NotFitted)));
            return Ok(());
        }
    };
    let w = model.weights().expect("fitted");
    assert_finite(w, "weights after fit");
    let b = model.bias().expect("fitted");
    assert!(
        b.iter().all(|v| v.is_finite()),
        "bias after fit: {:?}",
        b.iter().map(|v| v.to_f64()).collect::<Vec<_>>()
    );
    let classes = w.cols();
    match model.predict_proba(&x) {
        Ok(p) => assert_proba(&p, n, classes, "predict_proba on the training matrix"),
        // After a successful fit the model must predict its own training rows; after
        // `Diverged` the kept parameters are finite but (with mini-batches, checked on
        // one batch only) may overflow on other rows: a typed error is enough.
        Err(e) if converged => panic!("fit succeeded, but predict_proba on the training matrix failed: {e}"),
        Err(e) => assert!(matches!(e, Error::NonFinite { .. }), "unexpected error {e}"),
    }
    // A second matrix: any finite or non-finite values; a typed error is fine.
    if let Ok(p) = model.predict_proba(&x2) {
        assert_proba(&p, m2, classes, "predict_proba on a second matrix");
    }
    Ok(())
}
