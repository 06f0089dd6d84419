//! Training converges where it must.
mod common;
use multilogit::rng::Rng;
use multilogit::{LogisticClassifierMultinomial, Matrix};

fn blobs(n: usize, d: usize, t: usize, spread: f64, seed: u64) -> (Matrix<f64>, Vec<u32>) {
    let mut rng = Rng::new(seed);
    let centres: Vec<f64> = (0..t * d).map(|_| rng.normal() * spread).collect();
    let mut x = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let k = i % t;
        for j in 0..d {
            x.push(centres[k * d + j] + rng.normal());
        }
        y.push(k as u32);
    }
    (Matrix::from_vec(n, d, x).unwrap(), y)
}

#[test]
fn separated_blobs_reach_99_percent() {
    let (x, y) = blobs(3000, 5, 4, 10.0, 1);
    for batch in [None, Some(128)] {
        let mut m = LogisticClassifierMultinomial::<f64>::new()
            .learning_rate(0.1)
            .epochs(100)
            .batch_size(batch)
            .seed(3);
        m.fit(&x, &y).unwrap();
        let acc = m.score(&x, &y).unwrap();
        assert!(acc >= 0.99, "accuracy {acc} with batch {batch:?}");
    }
    let xf = Matrix::from_vec(3000, 5, x.as_slice().iter().map(|&v| v as f32).collect()).unwrap();
    let mut m = LogisticClassifierMultinomial::<f32>::new()
        .learning_rate(0.1)
        .epochs(100);
    m.fit(&xf, &y).unwrap();
    assert!(m.score(&xf, &y).unwrap() >= 0.99);
}

#[test]
fn full_batch_loss_falls_monotonically_at_small_lr() {
    let (x, y) = blobs(500, 8, 5, 1.0, 2);
    let mut m = LogisticClassifierMultinomial::<f64>::new()
        .learning_rate(0.05)
        .epochs(200);
    let r = m.fit(&x, &y).unwrap();
    assert_eq!(r.epochs_run, 200);
    for w in r.loss_history.windows(2) {
        assert!(w[1] < w[0], "loss rose: {} → {}", w[0], w[1]);
    }
    assert!(r.final_loss() < 0.5 * r.loss_history[0]);
}

#[test]
fn tol_stops_early_and_says_so() {
    let (x, y) = blobs(400, 3, 3, 5.0, 4);
    let mut m = LogisticClassifierMultinomial::<f64>::new()
        .learning_rate(0.5)
        .epochs(10_000)
        .tol(Some(1e-4));
    let r = m.fit(&x, &y).unwrap();
    assert!(r.stopped_by_tol && r.epochs_run < 10_000);
    let h = &r.loss_history;
    assert!(h[h.len() - 2] - h[h.len() - 1] < 1e-4);
    assert!(h.windows(2).rev().skip(1).all(|w| w[0] - w[1] >= 1e-4));
}
