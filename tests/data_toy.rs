//! Toy generators: reproducibility, shapes, balance, geometry, parameter checks.
#![cfg(feature = "cli")]

use multilogit::Error;
use multilogit::data::Dataset;
use multilogit::data::toy::{self, TOY_NAMES, by_name};

fn counts(ds: &Dataset<f64>) -> Vec<usize> {
    ds.class_counts()
}

#[test]
fn every_named_toy_is_seeded_and_reproducible() {
    for &name in TOY_NAMES {
        let a = by_name(name, 203, None, None, 7).unwrap();
        let b = by_name(name, 203, None, None, 7).unwrap();
        let c = by_name(name, 203, None, None, 8).unwrap();
        assert_eq!(a, b, "{name}: same seed, different data");
        assert_ne!(a.x, c.x, "{name}: different seeds, same data");
        assert_eq!(a.x.rows(), 203);
        assert_eq!(a.y.len(), 203);
        assert_eq!(a.name, name);
        assert_eq!(a.feature_names.len(), a.x.cols());
        assert_eq!(a.feature_names[0], "f0");
        a.validate().unwrap();
        assert!(a.x.view().check_finite("x").is_ok());
        // Balanced: n / k each, the remainder to the first classes.
        let k = a.n_classes();
        let cs = counts(&a);
        for (cl, &m) in cs.iter().enumerate() {
            assert_eq!(m, 203 / k + usize::from(cl < 203 % k), "{name}: class {cl} of {cs:?}");
        }
        assert_eq!(a.classes, (0..k).map(|c| c.to_string()).collect::<Vec<_>>());
        // Rows are shuffled: the first 20 labels are not all the same class.
        assert!(a.y[..20].iter().any(|&l| l != a.y[0]), "{name}: rows not shuffled");
    }
}

#[test]
fn shapes_and_class_counts() {
    let b = toy::blobs(101, 4, 3, 1.0, 1).unwrap();
    assert_eq!(b.x.shape(), (101, 3));
    assert_eq!(counts(&b), vec![26, 25, 25, 25]);
    let m = toy::moons(11, 0.1, 1).unwrap();
    assert_eq!((m.x.shape(), counts(&m)), ((11, 2), vec![6, 5]));
    let s = toy::spirals(10, 3, 0.1, 1).unwrap();
    assert_eq!((s.x.shape(), counts(&s)), ((10, 2), vec![4, 3, 3]));
    let g = toy::gaussians_overlap(50, 5, 30, 2.0, 1).unwrap();
    assert_eq!((g.x.shape(), counts(&g)), ((50, 30), vec![10; 5]));
    let x = toy::xor(9, 0.1, 1).unwrap();
    assert_eq!(counts(&x), vec![5, 4]);
    let c = toy::circles(2, 0.0, 0.5, 1).unwrap();
    assert_eq!(counts(&c), vec![1, 1]);
    let d = by_name("gaussians", 40, None, Some(4), 0).unwrap();
    assert_eq!((d.x.cols(), d.n_classes()), (20, 4));
    let d = by_name("blobs", 40, Some(0.5), Some(6), 0).unwrap();
    assert_eq!((d.x.cols(), d.n_classes()), (2, 6));
}

/// Class means from the data, then nearest-mean classification.
fn nearest_mean_accuracy(ds: &Dataset<f64>) -> f64 {
    let (k, d) = (ds.n_classes(), ds.x.cols());
    let mut means = vec![vec![0.0; d]; k];
    let cs = counts(ds);
    for (row, &l) in ds.x.iter_rows().zip(&ds.y) {
        for (m, v) in means[l as usize].iter_mut().zip(row) {
            *m += v / cs[l as usize] as f64;
        }
    }
    let mut right = 0;
    for (row, &l) in ds.x.iter_rows().zip(&ds.y) {
        let dist = |m: &Vec<f64>| m.iter().zip(row).map(|(a, b)| (a - b) * (a - b)).sum::<f64>();
        let best = (0..k)
            .min_by(|&a, &b| dist(&means[a]).total_cmp(&dist(&means[b])))
            .unwrap();
        right += usize::from(best == l as usize);
    }
    right as f64 / ds.y.len() as f64
}

#[test]
fn well_spread_blobs_are_separable_and_overlapping_gaussians_are_not() {
    for seed in 0..5 {
        let b = toy::blobs(600, 5, 2, 0.3, seed).unwrap();
        assert_eq!(nearest_mean_accuracy(&b), 1.0, "seed {seed}");
        let b = toy::blobs(400, 4, 10, 0.5, seed).unwrap();
        assert_eq!(nearest_mean_accuracy(&b), 1.0, "seed {seed}, 10-D");
    }
    let g = toy::gaussians_overlap(2000, 4, 20, 1.5, 3).unwrap();
    let acc = nearest_mean_accuracy(&g);
    assert!(acc > 0.3 && acc < 0.95, "overlapping gaussians accuracy {acc}");
}

#[test]
fn gaussian_means_are_about_separation_apart() {
    let g = toy::gaussians_overlap(4000, 2, 200, 3.0, 11).unwrap();
    let mut m = [vec![0.0; 200], vec![0.0; 200]];
    for (row, &l) in g.x.iter_rows().zip(&g.y) {
        for (a, v) in m[l as usize].iter_mut().zip(row) {
            *a += v / 2000.0;
        }
    }
    let dist = m[0]
        .iter()
        .zip(&m[1])
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt();
    assert!((2.4..3.6).contains(&dist), "distance {dist}");
}

#[test]
fn noiseless_geometry() {
    let m = toy::moons(100, 0.0, 2).unwrap();
    for (r, &l) in m.x.iter_rows().zip(&m.y) {
        let (x, y) = (r[0], r[1]);
        if l == 0 {
            assert!((x * x + y * y - 1.0).abs() < 1e-12 && y >= -1e-12);
        } else {
            assert!(((x - 1.0).powi(2) + (y - 0.5).powi(2) - 1.0).abs() < 1e-12 && y <= 0.5 + 1e-12);
        }
    }
    let c = toy::circles(100, 0.0, 0.3, 2).unwrap();
    for (r, &l) in c.x.iter_rows().zip(&c.y) {
        let rad = (r[0] * r[0] + r[1] * r[1]).sqrt();
        assert!((rad - if l == 0 { 1.0 } else { 0.3 }).abs() < 1e-12);
    }
    let x = toy::xor(100, 0.0, 2).unwrap();
    for (r, &l) in x.x.iter_rows().zip(&x.y) {
        assert_eq!(r[0] * r[1], if l == 0 { 1.0 } else { -1.0 });
    }
    // Both clusters of each class are used.
    assert!(x.x.iter_rows().any(|r| r[0] > 0.0 && r[1] > 0.0));
    assert!(x.x.iter_rows().any(|r| r[0] < 0.0 && r[1] < 0.0));
    let s = toy::spirals(90, 3, 0.0, 2).unwrap();
    for r in s.x.iter_rows() {
        let rad = (r[0] * r[0] + r[1] * r[1]).sqrt();
        assert!((0.1 - 1e-12..=1.1 + 1e-12).contains(&rad), "radius {rad}");
    }
}

#[test]
fn invalid_parameters_are_typed_errors() {
    let bad = |r: multilogit::Result<Dataset<f64>>, which: &str| match r {
        Err(Error::InvalidHyperparameter { name, .. }) => assert_eq!(name, which),
        other => panic!("expected InvalidHyperparameter({which}), got {other:?}"),
    };
    bad(toy::blobs(0, 3, 2, 1.0, 0), "n");
    bad(toy::blobs(2, 3, 2, 1.0, 0), "n");
    bad(toy::blobs(10, 1, 2, 1.0, 0), "classes");
    bad(toy::blobs(10, 2, 0, 1.0, 0), "dim");
    bad(toy::blobs(10, 2, 2, -1.0, 0), "cluster_std");
    bad(toy::moons(10, f64::NAN, 0), "noise");
    bad(toy::moons(1, 0.1, 0), "n");
    bad(toy::circles(10, 0.1, 1.0, 0), "factor");
    bad(toy::circles(10, 0.1, 0.0, 0), "factor");
    bad(toy::xor(10, f64::INFINITY, 0), "noise");
    bad(toy::spirals(10, 1, 0.1, 0), "classes");
    bad(toy::gaussians_overlap(10, 2, 5, -1.0, 0), "separation");
    bad(by_name("nope", 10, None, None, 0), "dataset");
    bad(by_name("moons", 10, None, Some(3), 0), "classes");
    assert!(by_name("moons", 10, None, Some(2), 0).is_ok());
    match toy::blobs(usize::MAX, 2, 4, 1.0, 0) {
        Err(Error::TooLarge { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn cast_to_f32_and_overflow() {
    let d = toy::blobs(30, 3, 2, 1.0, 5).unwrap();
    let f = d.cast::<f32>().unwrap();
    assert_eq!(f.y, d.y);
    for (a, b) in f.x.as_slice().iter().zip(d.x.as_slice()) {
        assert_eq!(*a, *b as f32);
    }
    let mut big = d.clone();
    big.x.as_mut_slice()[5] = 1e39;
    match big.cast::<f32>() {
        Err(Error::NonFinite { row: 2, col: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
}
