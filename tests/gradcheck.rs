//! Analytic gradients of the objective against central finite differences (f64).
mod common;
use common::ksum;
use multilogit::Matrix;
use multilogit::rng::Rng;
use multilogit::train::{Workspace, loss_and_grad};
use proptest::prelude::*;

/// Mean loss at (w, b) computed independently of the engine (scalar, Kahan sums).
fn loss_at(x: &[f64], y: &[u32], n: usize, d: usize, t: usize, w: &[f64], b: &[f64]) -> f64 {
    let mut total = Vec::with_capacity(n);
    for i in 0..n {
        let z: Vec<f64> = (0..t)
            .map(|k| ksum((0..d).map(|j| x[i * d + j] * w[j * t + k])) + b[k])
            .collect();
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s = ksum(z.iter().map(|v| (v - m).exp()));
        total.push(s.ln() + m - z[y[i] as usize]);
    }
    ksum(total) / n as f64
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn gradient_matches_central_differences(
        n in 1usize..=64, d in 1usize..=16, t in 2usize..=12,
        log_scale in -2.0f64..3.0, seed in any::<u64>(),
    ) {
        let scale = 10f64.powf(log_scale); // logits up to ~1e3
        let mut rng = Rng::new(seed);
        let x: Vec<f64> = (0..n * d).map(|_| rng.normal()).collect();
        let y: Vec<u32> = (0..n).map(|_| rng.below(t as u64) as u32).collect();
        let w: Vec<f64> = (0..d * t).map(|_| rng.normal() * scale / (d as f64).sqrt()).collect();
        let b: Vec<f64> = (0..t).map(|_| rng.normal() * scale).collect();
        let xm = Matrix::from_vec(n, d, x.clone()).unwrap();
        let wm = Matrix::from_vec(d, t, w.clone()).unwrap();
        let mut ws = Workspace::<f64>::new(n, d, t, false).unwrap();
        let (mut gw, mut gb) = (vec![0.0; d * t], vec![0.0; t]);
        let loss = loss_and_grad(wm.view(), &b, xm.view(), &y, None, 1.0 / n as f64, &mut ws, &mut gw, &mut gb).unwrap();
        prop_assert!((loss / n as f64 - loss_at(&x, &y, n, d, t, &w, &b)).abs() <= 1e-9 * loss.abs().max(1.0));

        // Step relative to the logit scale: the loss is smooth on that scale.
        let h = 1e-5 * scale.max(1.0);
        let fd = |wp: &[f64], bp: &[f64]| loss_at(&x, &y, n, d, t, wp, bp);
        let mut num_w = vec![0.0; d * t];
        // Five-point central differences (truncation error O(h⁴)): near-saturated softmax
        // at logits ~1e3 has third derivatives large enough that the three-point rule's
        // O(h²) error alone reached 1.2e-6 of |g| (n=21 d=8 t=9, scale 805).
        let five = |f: &dyn Fn(f64) -> f64| (8.0 * (f(h) - f(-h)) - (f(2.0 * h) - f(-2.0 * h))) / (12.0 * h);
        for i in 0..d * t {
            num_w[i] = five(&|s| {
                let mut a = w.clone();
                a[i] += s;
                fd(&a, &b)
            });
        }
        let mut num_b = vec![0.0; t];
        for k in 0..t {
            num_b[k] = five(&|s| {
                let mut a = b.clone();
                a[k] += s;
                fd(&w, &a)
            });
        }
        for (ana, num, what) in [(&gw, &num_w, "W"), (&gb, &num_b, "b")] {
            let diff: Vec<f64> = ana.iter().zip(num.iter()).map(|(a, b)| a - b).collect();
            let (e, s) = (norm(&diff), norm(num).max(norm(ana)));
            // Where the gradient itself is near zero (saturated softmax), fall back to absolute.
            let ok = if s < 1e-3 { e <= 1e-9 } else { e / s <= 1e-6 };
            prop_assert!(ok, "{what}: |Δ| = {e:e}, |g| = {s:e}, n={n} d={d} t={t} scale={scale}");
        }
    }
}

#[test]
fn gradient_check_catches_a_wrong_gradient() {
    // The check itself must be able to fail: perturb the analytic gradient and see it rejected.
    let (n, d, t) = (8, 3, 4);
    let mut rng = Rng::new(1);
    let x: Vec<f64> = (0..n * d).map(|_| rng.normal()).collect();
    let y: Vec<u32> = (0..n).map(|i| (i % t) as u32).collect();
    let w = vec![0.1; d * t];
    let b = vec![0.0; t];
    let xm = Matrix::from_vec(n, d, x.clone()).unwrap();
    let wm = Matrix::from_vec(d, t, w.clone()).unwrap();
    let mut ws = Workspace::<f64>::new(n, d, t, false).unwrap();
    let (mut gw, mut gb) = (vec![0.0; d * t], vec![0.0; t]);
    loss_and_grad(
        wm.view(),
        &b,
        xm.view(),
        &y,
        None,
        1.0 / n as f64,
        &mut ws,
        &mut gw,
        &mut gb,
    )
    .unwrap();
    let h = 1e-5;
    let mut a = w.clone();
    a[0] += h;
    let mut c = w.clone();
    c[0] -= h;
    let num = (loss_at(&x, &y, n, d, t, &a, &b) - loss_at(&x, &y, n, d, t, &c, &b)) / (2.0 * h);
    assert!((gw[0] - num).abs() < 1e-8);
    assert!((gw[0] * 1.001 - num).abs() > 1e-8 * num.abs().max(1e-3) || num == 0.0);
}
