//! Every error variant the engine returns is reached, and says what and where.
use multilogit::train::{Workspace, loss_and_grad};
use multilogit::{Error, LogisticClassifierMultinomial, Matrix};

fn data() -> (Matrix<f64>, Vec<u32>) {
    (
        Matrix::from_vec(4, 2, vec![0.0, 1.0, 1.0, 0.0, 2.0, 1.0, 1.0, 2.0]).unwrap(),
        vec![0, 1, 2, 1],
    )
}

fn model() -> LogisticClassifierMultinomial<f64> {
    LogisticClassifierMultinomial::new().epochs(5)
}

#[test]
fn rejects_shape_mismatches() {
    let (x, _) = data();
    let e = model().fit(&x, &[0, 1, 2]).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    assert!(
        e.to_string().contains("4 labels") && e.to_string().contains("3 labels"),
        "{e}"
    );
    assert!(matches!(
        Matrix::from_vec(2, 3, vec![0.0f32; 5]),
        Err(Error::ShapeMismatch { .. })
    ));
    let (x, y) = data();
    let mut m = model();
    m.fit(&x, &y).unwrap();
    let wrong = Matrix::from_vec(1, 3, vec![0.0; 3]).unwrap();
    let e = m.predict(&wrong).unwrap_err();
    assert!(
        e.to_string().contains("2 features") && e.to_string().contains("3 columns"),
        "{e}"
    );
}

#[test]
fn rejects_empty_input() {
    let x = Matrix::<f64>::zeros(0, 3).unwrap();
    assert!(matches!(model().fit(&x, &[]), Err(Error::Empty { .. })));
    let x = Matrix::<f64>::zeros(3, 0).unwrap();
    assert!(matches!(model().fit(&x, &[0, 0, 0]), Err(Error::Empty { .. })));
}

#[test]
fn rejects_inf_and_nan_values_with_row_and_column() {
    let (mut x, y) = data();
    x.as_mut_slice()[5] = f64::INFINITY;
    match model().fit(&x, &y) {
        Err(Error::NonFinite { row: 2, col: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    x.as_mut_slice()[5] = f64::NAN;
    assert!(matches!(
        model().fit(&x, &y),
        Err(Error::NonFinite { row: 2, col: 1, .. })
    ));
}

#[test]
fn rejects_labels_out_of_range() {
    let (x, _) = data();
    let e = model().n_classes(3).fit(&x, &[0, 1, 7, 1]).unwrap_err();
    assert_eq!(
        e,
        Error::LabelOutOfRange {
            row: 2,
            label: 7,
            n_classes: 3
        }
    );
    let mut ws = Workspace::<f64>::new(4, 2, 2, false).unwrap();
    let w = Matrix::<f64>::zeros(2, 2).unwrap();
    let (mut gw, mut gb) = (vec![0.0; 4], vec![0.0; 2]);
    let e = loss_and_grad(
        w.view(),
        &[0.0; 2],
        x.view(),
        &[0, 1, 2, 1],
        None,
        1.0,
        &mut ws,
        &mut gw,
        &mut gb,
    )
    .unwrap_err();
    assert!(matches!(e, Error::LabelOutOfRange { row: 2, label: 2, .. }));
    let mut m = model();
    m.fit(&x, &[0, 1, 2, 1]).unwrap();
    assert!(matches!(
        m.loss(&x, &[0, 1, 3, 1]),
        Err(Error::LabelOutOfRange { row: 2, label: 3, .. })
    ));
}

#[test]
fn rejects_invalid_hyperparameters() {
    let (x, y) = data();
    for (m, name) in [
        (model().learning_rate(0.0), "learning_rate"),
        (model().learning_rate(-1.0), "learning_rate"),
        (model().learning_rate(f64::NAN), "learning_rate"),
        (model().learning_rate(f64::INFINITY), "learning_rate"),
        (model().epochs(0), "epochs"),
        (model().batch_size(Some(0)), "batch_size"),
        (model().tol(Some(f64::NAN)), "tol"),
        (model().n_classes(0), "n_classes"),
    ] {
        let mut m = m;
        match m.fit(&x, &y) {
            Err(Error::InvalidHyperparameter { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn not_fitted_is_an_error() {
    let (x, y) = data();
    let m = model();
    assert_eq!(m.predict(&x).unwrap_err(), Error::NotFitted);
    assert_eq!(m.predict_proba(&x).unwrap_err(), Error::NotFitted);
    assert_eq!(m.score(&x, &y).unwrap_err(), Error::NotFitted);
    assert_eq!(m.loss(&x, &y).unwrap_err(), Error::NotFitted);
    assert_eq!(m.weights().unwrap_err(), Error::NotFitted);
    assert_eq!(m.bias().unwrap_err(), Error::NotFitted);
}

#[test]
fn divergence_is_caught_and_the_last_finite_parameters_are_kept() {
    let x = Matrix::from_vec(4, 2, vec![1e3f32, -1e3, -1e3, 1e3, 3e3, 1e3, -2e3, 5e2]).unwrap();
    let y = [0u32, 1, 2, 1];
    let mut m = LogisticClassifierMultinomial::<f32>::new()
        .learning_rate(1e35)
        .epochs(50);
    match m.fit(&x, &y) {
        Err(Error::Diverged {
            epoch,
            learning_rate,
            suggested,
            ..
        }) => {
            assert!((1..=50).contains(&epoch));
            assert_eq!(learning_rate, 1e35);
            assert!(suggested < learning_rate);
        }
        other => panic!("{other:?}"),
    }
    let w = m.weights().unwrap();
    assert!(w.as_slice().iter().all(|v| v.is_finite()));
    assert!(m.bias().unwrap().iter().all(|v| v.is_finite()));
    let msg = m.clone().fit(&x, &y).unwrap_err().to_string();
    assert!(msg.contains("epoch") && msg.contains("learning rate"), "{msg}");
}

#[test]
fn workspace_and_view_errors() {
    assert!(matches!(
        Workspace::<f32>::new(usize::MAX, usize::MAX, 2, true),
        Err(Error::TooLarge { .. })
    ));
    assert!(multilogit::MatRef::new(&[1.0f32; 3], 2, 2, 2).is_err());
}

#[test]
fn an_oversized_learning_rate_on_overlapping_classes_is_divergence_too() {
    // Overlapping classes: gradients stay bounded, so the loss explodes without overflowing.
    let mut rng = multilogit::rng::Rng::new(3);
    let x: Vec<f64> = (0..400).map(|_| rng.normal()).collect();
    let y: Vec<u32> = (0..200).map(|i| (i % 3) as u32).collect();
    let x = Matrix::from_vec(200, 2, x).unwrap();
    let mut m = LogisticClassifierMultinomial::<f64>::new()
        .learning_rate(1e4)
        .epochs(100);
    match m.fit(&x, &y) {
        Err(Error::Diverged { epoch, what, .. }) => {
            assert!(epoch <= 5, "detected late: epoch {epoch}");
            assert!(what.contains("loss"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    // The kept parameters are the last ones whose loss was below the limit.
    let limit = multilogit::train::fit::DIVERGENCE_FACTOR * 3f64.ln();
    assert!(m.loss(&x, &y).unwrap() <= limit);
    // A sane rate on the same data trains normally.
    let mut ok = LogisticClassifierMultinomial::<f64>::new()
        .learning_rate(0.5)
        .epochs(100);
    assert!(ok.fit(&x, &y).is_ok());
}

#[test]
fn divergence_on_a_model_updated_in_several_tasks_keeps_the_last_good_parameters() {
    // 300 features × 10 classes: more parameters than one update task (2048), so the
    // update runs as several tasks, and the rejected step's parameters must stay intact.
    // Each of 50 random points appears once with every label: the classes overlap
    // completely, so an oversized rate makes the loss explode rather than fit.
    let (n, d, t) = (500, 300, 10);
    let mut rng = multilogit::rng::Rng::new(5);
    let points: Vec<f64> = (0..(n / t) * d).map(|_| rng.normal()).collect();
    let x: Vec<f64> = (0..n)
        .flat_map(|i| points[(i / t) * d..(i / t + 1) * d].to_vec())
        .collect();
    let y: Vec<u32> = (0..n).map(|i| (i % t) as u32).collect();
    let x = Matrix::from_vec(n, d, x).unwrap();
    for batch in [None, Some(64)] {
        let mut m = LogisticClassifierMultinomial::<f64>::new()
            .learning_rate(1e4)
            .epochs(100)
            .batch_size(batch);
        match m.fit(&x, &y) {
            Err(Error::Diverged { what, .. }) => assert!(what.contains("loss"), "{what}"),
            other => panic!("batch {batch:?}: {other:?}"),
        }
        let limit = multilogit::train::fit::DIVERGENCE_FACTOR * (t as f64).ln();
        assert!(m.loss(&x, &y).unwrap().is_finite(), "batch {batch:?}");
        if batch.is_none() {
            // Full batch: the kept parameters are the last ones whose loss was checked.
            assert!(m.loss(&x, &y).unwrap() <= limit);
        }
    }
}
