//! Stratified train/test split and standardisation.
#![cfg(feature = "cli")]

use multilogit::data::{Dataset, Scaler, builtin, toy, train_test_split};
use multilogit::{Error, Matrix};

/// A data set whose single feature is the row index, with the given class sizes.
fn indexed(sizes: &[usize]) -> Dataset<f64> {
    let mut y = Vec::new();
    for (c, &m) in sizes.iter().enumerate() {
        y.extend(std::iter::repeat_n(c as u32, m));
    }
    let n = y.len();
    let x = Matrix::from_vec(n, 1, (0..n).map(|i| i as f64).collect()).unwrap();
    let classes = (0..sizes.len()).map(|c| format!("c{c}")).collect();
    Dataset::new(x, y, classes, vec!["id".into()], "indexed").unwrap()
}

fn ids(ds: &Dataset<f64>) -> Vec<usize> {
    ds.x.as_slice().iter().map(|&v| v as usize).collect()
}

#[test]
fn split_is_a_stratified_partition() {
    let sizes = [10, 7, 3, 1, 40];
    let ds = indexed(&sizes);
    for (frac, seed) in [(0.25, 1u64), (0.5, 2), (0.1, 3), (0.9, 4)] {
        let (tr, te) = train_test_split(&ds, frac, seed).unwrap();
        // A partition of the rows, labels carried along.
        let mut all = ids(&tr);
        all.extend(ids(&te));
        all.sort_unstable();
        assert_eq!(all, (0..61).collect::<Vec<_>>());
        for part in [&tr, &te] {
            for (i, &l) in ids(part).iter().zip(&part.y) {
                assert_eq!(ds.y[*i], l);
            }
            assert_eq!(part.classes, ds.classes);
            assert_eq!(part.feature_names, ds.feature_names);
        }
        let (ctr, cte) = (tr.class_counts(), te.class_counts());
        for (c, &m) in sizes.iter().enumerate() {
            let exact = m as f64 * frac;
            if m >= 2 {
                assert!((cte[c] as f64 - exact).abs() <= 1.0, "class {c}: {} vs {exact}", cte[c]);
                assert!(cte[c] >= 1 && ctr[c] >= 1, "class {c} missing from a side");
            } else {
                assert_eq!((ctr[c], cte[c]), (1, 0), "singleton class goes to training");
            }
        }
    }
    // Hand-computed: round(10·0.25)=3 (half away from zero), round(1.75)=2,
    // round(0.75)=1, singleton 0, round(10)=10.
    let (_, te) = train_test_split(&ds, 0.25, 9).unwrap();
    assert_eq!(te.class_counts(), vec![3, 2, 1, 0, 10]);
}

#[test]
fn split_is_seeded_and_shuffled() {
    let ds = indexed(&[50, 50]);
    let (a_tr, a_te) = train_test_split(&ds, 0.3, 5).unwrap();
    let (b_tr, b_te) = train_test_split(&ds, 0.3, 5).unwrap();
    let (c_tr, _) = train_test_split(&ds, 0.3, 6).unwrap();
    assert_eq!((&a_tr, &a_te), (&b_tr, &b_te));
    assert_ne!(ids(&a_tr), ids(&c_tr));
    assert_eq!(a_te.class_counts(), vec![15, 15]);
    // Classes interleaved, not in blocks.
    assert!(a_tr.y[..10].iter().any(|&l| l != a_tr.y[0]));
}

#[test]
fn split_on_iris() {
    let iris = builtin::iris().unwrap();
    let (tr, te) = train_test_split(&iris, 0.2, 42).unwrap();
    assert_eq!(tr.class_counts(), vec![40, 40, 40]);
    assert_eq!(te.class_counts(), vec![10, 10, 10]);
}

#[test]
fn split_rejects_bad_fractions_and_tiny_sets() {
    let ds = indexed(&[5, 5]);
    for f in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
        match train_test_split(&ds, f, 0) {
            Err(Error::InvalidHyperparameter {
                name: "test_fraction", ..
            }) => {}
            other => panic!("{f}: {other:?}"),
        }
    }
    match train_test_split(&indexed(&[1, 1]), 0.5, 0) {
        Err(Error::Empty { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn scaler_hand_computed() {
    let x = Matrix::from_rows(&[[1.0, 10.0, 5.0], [2.0, 20.0, 5.0], [3.0, 30.0, 5.0], [4.0, 40.0, 5.0]]).unwrap();
    let s = Scaler::fit(&x).unwrap();
    assert_eq!(s.mean, vec![2.5, 25.0, 5.0]);
    let sd = 1.25f64.sqrt(); // population std of 1, 2, 3, 4
    assert!((s.scale[0] - sd).abs() < 1e-15);
    assert!((s.scale[1] - 10.0 * sd).abs() < 1e-13);
    assert_eq!(s.scale[2], 1.0, "constant column");
    let t = s.transform(&x).unwrap();
    let z0 = -1.5 / sd;
    for (a, b) in t.row(0).iter().zip([z0, z0, 0.0]) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    assert!((t.get(3, 1) - 1.5 / sd).abs() < 1e-12);
    let back = s.inverse_transform(&t).unwrap();
    for (a, b) in back.as_slice().iter().zip(x.as_slice()) {
        assert!((a - b).abs() < 1e-12);
    }
    let mut y = x.clone();
    s.transform_in_place(&mut y).unwrap();
    assert_eq!(y, t);
}

#[test]
fn scaler_fit_on_train_standardises_train() {
    let ds = toy::gaussians_overlap(500, 3, 7, 4.0, 1).unwrap();
    let (tr, te) = train_test_split(&ds, 0.3, 1).unwrap();
    let s = Scaler::fit(&tr.x).unwrap();
    let z = s.transform(&tr.x).unwrap();
    let n = z.rows() as f64;
    for j in 0..z.cols() {
        let m: f64 = z.iter_rows().map(|r| r[j]).sum::<f64>() / n;
        let v: f64 = z.iter_rows().map(|r| (r[j] - m).powi(2)).sum::<f64>() / n;
        assert!(m.abs() < 1e-12, "column {j} mean {m}");
        assert!((v - 1.0).abs() < 1e-12, "column {j} variance {v}");
    }
    // The test side is transformed with the training statistics (not re-fitted).
    let zt = s.transform(&te.x).unwrap();
    assert_eq!(zt.get(0, 0), (te.x.get(0, 0) - s.mean[0]) / s.scale[0]);
}

#[test]
fn scaler_f32_constant_columns_and_errors() {
    // 0.1 is not exact: the computed std of a constant column may be a rounding
    // residue; it must still count as constant.
    let x = Matrix::from_vec(3, 2, vec![0.1f32, 1.0, 0.1, 2.0, 0.1, 3.0]).unwrap();
    let s = Scaler::fit(&x).unwrap();
    assert_eq!(s.scale[0], 1.0);
    let t = s.transform(&x).unwrap();
    assert!(t.as_slice().iter().all(|v| v.is_finite()));
    assert!(t.get(0, 0).abs() < 1e-6);
    // Shape check.
    let wrong = Matrix::from_vec(1, 3, vec![1.0f32; 3]).unwrap();
    assert!(matches!(s.transform(&wrong), Err(Error::ShapeMismatch { .. })));
    // Empty and non-finite inputs.
    assert!(matches!(
        Scaler::fit(&Matrix::<f64>::zeros(0, 3).unwrap()),
        Err(Error::Empty { .. })
    ));
    let nan = Matrix::from_vec(2, 2, vec![1.0, 2.0, f64::NAN, 4.0]).unwrap();
    assert!(matches!(
        Scaler::fit(&nan),
        Err(Error::NonFinite { row: 1, col: 0, .. })
    ));
    // Huge values: no overflow in the variance.
    let big = Matrix::from_vec(2, 1, vec![-1e300, 1e300]).unwrap();
    let s = Scaler::fit(&big).unwrap();
    assert!((s.scale[0] - 1e300).abs() < 1e286, "{}", s.scale[0]);
    // A scaler edited into nonsense is refused rather than dividing by zero.
    let bad = Scaler {
        mean: vec![0.0],
        scale: vec![0.0],
    };
    assert!(bad.transform(&big).is_err());
}

#[test]
fn scaler_serde_round_trip() {
    let x = Matrix::from_rows(&[[1.0, 2.0], [3.0, 5.0]]).unwrap();
    let s = Scaler::fit(&x).unwrap();
    let json = serde_json::to_string(&s).unwrap();
    let back: Scaler = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
}
