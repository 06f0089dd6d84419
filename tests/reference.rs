//! The engine against the plain scalar oracle (the seed's numpy code written as loops).
mod common;
use common::*;
use multilogit::{LogisticClassifierMultinomial, Matrix};

fn engine_f64(
    x: &[f64],
    y: &[u32],
    n: usize,
    d: usize,
    lr: f64,
    epochs: usize,
    batch: Option<usize>,
    seed: u64,
) -> (Vec<f64>, Vec<f64>) {
    let xm = Matrix::from_vec(n, d, x.to_vec()).unwrap();
    let mut m = LogisticClassifierMultinomial::<f64>::new()
        .learning_rate(lr)
        .epochs(epochs)
        .batch_size(batch)
        .seed(seed);
    m.fit(&xm, y).unwrap();
    (m.weights().unwrap().as_slice().to_vec(), m.bias().unwrap().to_vec())
}

fn engine_f32(
    x: &[f64],
    y: &[u32],
    n: usize,
    d: usize,
    lr: f64,
    epochs: usize,
    batch: Option<usize>,
    seed: u64,
) -> (Vec<f64>, Vec<f64>) {
    let xm = Matrix::from_vec(n, d, x.iter().map(|&v| v as f32).collect()).unwrap();
    let mut m = LogisticClassifierMultinomial::<f32>::new()
        .learning_rate(lr)
        .epochs(epochs)
        .batch_size(batch)
        .seed(seed);
    m.fit(&xm, y).unwrap();
    let w = m.weights().unwrap().as_slice().iter().map(|&v| v as f64).collect();
    let b = m.bias().unwrap().iter().map(|&v| v as f64).collect();
    (w, b)
}

fn rel(a: &[f64], r: &[f64]) -> f64 {
    max_abs_diff(a, r) / max_abs(r)
}

#[test]
fn full_batch_gd_matches_scalar_oracle_f64_and_f32() {
    // Shapes that cross block, shard and SIMD-tail boundaries.
    for &(n, d, t, seed) in &[
        (200usize, 7usize, 3usize, 1u64),
        (1500, 33, 10, 2),
        (97, 5, 13, 3),
        (40, 1, 2, 4),
    ] {
        let (x, y) = random_problem(n, d, t, seed);
        let (wr, br) = ref_train(&x, &y, n, d, t, 0.5, 30, None, 0);
        let (w, b) = engine_f64(&x, &y, n, d, 0.5, 30, None, 0);
        assert!(rel(&w, &wr) <= 1e-10, "f64 W rel err {} at {n}×{d}×{t}", rel(&w, &wr));
        assert!(rel(&b, &br) <= 1e-10, "f64 b rel err {}", rel(&b, &br));
        let (w, b) = engine_f32(&x, &y, n, d, 0.5, 30, None, 0);
        assert!(rel(&w, &wr) <= 1e-5, "f32 W rel err {} at {n}×{d}×{t}", rel(&w, &wr));
        // b is a sum of near-cancelling terms: measure it on the parameters' scale.
        let scale = max_abs(&wr).max(max_abs(&br));
        let eb = max_abs_diff(&b, &br) / scale;
        assert!(
            eb <= 1e-5,
            "f32 b err {eb} at {n}×{d}×{t} (|b| {}, |W| {})",
            max_abs(&br),
            max_abs(&wr)
        );
    }
}

#[test]
fn minibatch_sgd_matches_scalar_oracle_with_the_same_seed() {
    for &(n, d, t, bs, seed) in &[
        (300usize, 6usize, 4usize, 32usize, 11u64),
        (1000, 20, 10, 100, 12),
        (50, 3, 3, 7, 13),
        // Several row shards per step (600 rows) and a short last step: each shard's
        // look-ahead list (its rows, then the next step's) must name the right rows.
        (2000, 20, 5, 600, 14),
        // More than 256 classes: steps on the GEMM plan, which compute their rows (and the
        // next step's) from the order themselves.
        (700, 4, 300, 64, 15),
    ] {
        let (x, y) = random_problem(n, d, t, seed);
        let (wr, br) = ref_train(&x, &y, n, d, t, 0.3, 5, Some(bs), 99);
        let (w, b) = engine_f64(&x, &y, n, d, 0.3, 5, Some(bs), 99);
        assert!(rel(&w, &wr) <= 1e-10, "f64 W rel err {}", rel(&w, &wr));
        assert!(rel(&b, &br) <= 1e-10, "f64 b rel err {}", rel(&b, &br));
        let (w, b) = engine_f32(&x, &y, n, d, 0.3, 5, Some(bs), 99);
        assert!(rel(&w, &wr) <= 1e-5, "f32 W rel err {}", rel(&w, &wr));
        assert!(rel(&b, &br) <= 1e-5, "f32 b rel err {}", rel(&b, &br));
        // A different seed gives a different path: the seed is really used.
        let (w2, _) = engine_f64(&x, &y, n, d, 0.3, 5, Some(bs), 100);
        assert!(rel(&w2, &wr) > 1e-8);
    }
}

#[test]
fn loss_and_predict_proba_match_the_oracle() {
    let (n, d, t) = (123, 9, 5);
    let (x, y) = random_problem(n, d, t, 21);
    let xm = Matrix::from_vec(n, d, x.clone()).unwrap();
    let mut m = LogisticClassifierMultinomial::<f64>::new()
        .learning_rate(0.5)
        .epochs(10);
    let report = m.fit(&xm, &y).unwrap();
    let w = m.weights().unwrap().as_slice().to_vec();
    let b = m.bias().unwrap().to_vec();
    let rows: Vec<usize> = (0..n).collect();
    let (lr, _, _) = ref_loss_grad(&x, &y, d, t, &w, &b, &rows);
    assert!((m.loss(&xm, &y).unwrap() - lr).abs() <= 1e-12 * lr.abs().max(1.0));
    // Full-batch history: epoch 1 is the loss of the zero weights, ln T.
    assert!((report.loss_history[0] - (t as f64).ln()).abs() < 1e-12);
    let p = m.predict_proba(&xm).unwrap();
    for (i, r) in p.iter_rows().enumerate() {
        assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let xi = &x[i * d..(i + 1) * d];
        let z: Vec<f64> = (0..t)
            .map(|k| (0..d).map(|j| xi[j] * w[j * t + k]).sum::<f64>() + b[k])
            .collect();
        let mx = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = z.iter().map(|v| (v - mx).exp()).sum();
        for k in 0..t {
            assert!((r[k] - (z[k] - mx).exp() / s).abs() < 1e-12);
        }
    }
    let acc = m.score(&xm, &y).unwrap();
    let pred = m.predict(&xm).unwrap();
    let hits = pred.iter().zip(&y).filter(|(a, b)| a == b).count();
    assert_eq!(acc, hits as f64 / n as f64);
}

#[test]
fn seed_steps_compose_to_one_gd_epoch() {
    // compute_delta → compute_loss_grad → update_params equals one epoch of fit.
    let (n, d, t) = (64, 4, 3);
    let (x, y) = random_problem(n, d, t, 5);
    let xm = Matrix::from_vec(n, d, x.clone()).unwrap();
    let mut stepwise = LogisticClassifierMultinomial::<f64>::from_params(Matrix::zeros(d, t).unwrap(), vec![0.0; t])
        .unwrap()
        .learning_rate(0.5);
    for _ in 0..3 {
        let (delta, _) = stepwise.compute_delta(&xm, &y).unwrap();
        let (gw, gb) = stepwise.compute_loss_grad(&xm, &delta).unwrap();
        stepwise.update_params(&gw, &gb).unwrap();
    }
    let (wr, br) = ref_train(&x, &y, n, d, t, 0.5, 3, None, 0);
    assert!(max_abs_diff(stepwise.weights().unwrap().as_slice(), &wr) < 1e-12);
    assert!(max_abs_diff(stepwise.bias().unwrap(), &br) < 1e-12);
}

#[test]
fn absent_class_keeps_its_column() {
    let x = Matrix::from_vec(4, 1, vec![0.0f64, 1.0, 2.0, 3.0]).unwrap();
    let y = [0u32, 0, 2, 2];
    let mut m = LogisticClassifierMultinomial::<f64>::new().n_classes(5).epochs(3);
    m.fit(&x, &y).unwrap();
    assert_eq!(m.weights().unwrap().shape(), (1, 5));
    let mut m = LogisticClassifierMultinomial::<f64>::new().epochs(3);
    m.fit(&x, &y).unwrap();
    assert_eq!(m.bias().unwrap().len(), 3);
    // The unseen class 1 gets pushed down, never up.
    assert!(m.bias().unwrap()[1] < 0.0);
}
