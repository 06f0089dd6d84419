//! The fused softmax/δ kernel against its scalar twin, and the GEMM wrappers against loops.
mod common;
use multilogit::kernels::{gemm, softmax};
use multilogit::rng::Rng;
use multilogit::{MatRef, Matrix};

fn case<T: multilogit::Float>(rows: usize, t: usize, seed: u64, scale: f64, tol: f64) {
    let mut rng = Rng::new(seed);
    let z: Vec<T> = (0..rows * t).map(|_| T::from_f64(rng.normal() * scale)).collect();
    let bias: Vec<T> = (0..t).map(|_| T::from_f64(rng.normal())).collect();
    let labels: Vec<u32> = (0..rows).map(|_| rng.below(t as u64) as u32).collect();
    let s = T::from_f64(1.0 / (rows.max(1) as f64));
    let (mut z1, mut z2) = (z.clone(), z.clone());
    let (mut g1, mut g2) = (vec![T::ZERO; t], vec![T::ZERO; t]);
    let l1 = softmax::softmax_delta(&mut z1, t, &bias, &labels, s, &mut g1);
    let l2 = softmax::softmax_delta_scalar(&mut z2, t, &bias, &labels, s, &mut g2);
    assert!(
        (l1 - l2).abs() <= tol * l2.abs().max(1.0),
        "loss {l1} vs {l2} (rows {rows}, t {t})"
    );
    for (i, (a, b)) in z1.iter().zip(&z2).enumerate() {
        let (a, b) = (a.to_f64(), b.to_f64());
        assert!(
            (a - b).abs() <= tol * (b.abs() + s.to_f64()),
            "δ[{i}] {a} vs {b} (rows {rows}, t {t})"
        );
    }
    for (a, b) in g1.iter().zip(&g2) {
        assert!((a.to_f64() - b.to_f64()).abs() <= tol * (1.0 + b.to_f64().abs()));
    }
    // Every δ row sums to ~0 (probabilities sum to 1, minus the one-hot).
    for r in z1.chunks(t.max(1)) {
        let sum: f64 = r.iter().map(|v| v.to_f64()).sum();
        assert!(sum.abs() <= 10.0 * tol * s.to_f64() * t as f64, "row sum {sum}");
    }
}

#[test]
fn fused_kernel_matches_scalar_twin_for_every_t_and_row_count() {
    for t in 1..=64 {
        for rows in 0..=70 {
            let seed = (t * 1000 + rows) as u64;
            case::<f32>(rows, t, seed, 3.0, 2e-5);
            case::<f64>(rows, t, seed, 3.0, 1e-12);
        }
    }
}

#[test]
fn fused_kernel_is_stable_for_huge_logits() {
    for &scale in &[1e2, 1e4] {
        for t in [2usize, 3, 8, 10, 17] {
            case::<f32>(33, t, 7, scale, 2e-5);
            case::<f64>(33, t, 7, scale, 1e-12);
            let mut z = vec![1e4f32, -1e4, 0.0];
            let mut g = vec![0.0f32; 3];
            let l = softmax::softmax_delta(&mut z, 3, &[0.0; 3], &[1], 1.0, &mut g);
            assert!((l - 2e4).abs() < 1.0, "loss {l}");
            assert!(z.iter().all(|v| v.is_finite()));
        }
    }
}

#[test]
fn softmax_rows_and_loss_rows_match_definitions() {
    let mut z = vec![1.0f64, 2.0, 3.0, -1.0, -1.0, -1.0];
    let z0 = z.clone();
    softmax::softmax_rows(&mut z, 3, &[0.0, 0.0, 0.0]);
    let e: f64 = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    assert!((z[2] - (3.0 - e).exp()).abs() < 1e-15);
    assert!((z[4] - 1.0 / 3.0).abs() < 1e-15);
    let mut zz = z0.clone();
    let l = softmax::loss_rows(&mut zz, 3, &[0.0; 3], &[2, 0]);
    assert!((l - ((e - 3.0) + 3f64.ln())).abs() < 1e-14);
}

#[test]
fn gemm_wrappers_match_loops_with_strides() {
    let mut rng = Rng::new(3);
    for &(m, d, t) in &[(1usize, 1usize, 1usize), (7, 5, 3), (33, 17, 10), (64, 100, 2)] {
        let stride = d + 3;
        let xbuf: Vec<f64> = (0..m * stride).map(|_| rng.normal()).collect();
        let x = MatRef::new(&xbuf, m, d, stride).unwrap();
        let w = Matrix::from_vec(d, t, (0..d * t).map(|_| rng.normal()).collect()).unwrap();
        let mut z = Matrix::<f64>::zeros(m, t).unwrap();
        gemm::xw(x, w.view(), &mut z.view_mut());
        for i in 0..m {
            for k in 0..t {
                let r: f64 = (0..d).map(|j| x.get(i, j) * w.get(j, k)).sum();
                assert!((z.get(i, k) - r).abs() < 1e-12);
            }
        }
        let mut g = Matrix::from_vec(d, t, vec![1.0; d * t]).unwrap();
        gemm::xt_delta(x, z.view(), 1.0, &mut g.view_mut());
        for j in 0..d {
            for k in 0..t {
                let r: f64 = 1.0 + (0..m).map(|i| x.get(i, j) * z.get(i, k)).sum::<f64>();
                assert!((g.get(j, k) - r).abs() < 1e-11);
            }
        }
    }
}

#[test]
fn transposed_softmax_twin_matches_the_row_kernel() {
    for t in 1..=64usize {
        for rows in [0usize, 1, 7, 8, 9, 70] {
            let mut rng = Rng::new((t * 100 + rows) as u64);
            let z: Vec<f64> = (0..rows * t).map(|_| rng.normal() * 5.0).collect();
            let bias: Vec<f64> = (0..t).map(|_| rng.normal()).collect();
            let labels: Vec<u32> = (0..rows).map(|_| rng.below(t as u64) as u32).collect();
            let mut zr = z.clone();
            // Zᵀ: element (i, k) at k·rows + i.
            let mut zt = vec![0.0; rows * t];
            for i in 0..rows {
                for k in 0..t {
                    zt[k * rows + i] = z[i * t + k];
                }
            }
            let (mut g1, mut g2) = (vec![0.0; t], vec![0.0; t]);
            let l1 = softmax::softmax_delta_scalar(&mut zr, t, &bias, &labels, 0.25, &mut g1);
            let l2 = softmax::softmax_delta_cols(&mut zt, rows, t, &bias, &labels, 0.25, &mut g2);
            assert!((l1 - l2).abs() <= 1e-12 * l1.abs().max(1.0));
            for i in 0..rows {
                for k in 0..t {
                    assert!((zr[i * t + k] - zt[k * rows + i]).abs() <= 1e-15, "t {t} rows {rows}");
                }
            }
            assert!(g1.iter().zip(&g2).all(|(a, b)| (a - b).abs() <= 1e-14));
        }
    }
}
