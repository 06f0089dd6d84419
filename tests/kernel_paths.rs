//! Every kernel family this CPU has, forced in turn, against the scalar oracle.
//! (One test function: the kernel switch is process-wide.)
mod common;
use common::*;
use multilogit::kernels::{FUSED_MAX_CLASSES, Kernel, Plan, force_kernel};
use multilogit::train::{Workspace, loss_and_grad};
use multilogit::{LogisticClassifierMultinomial, MatRef, Matrix};

fn check_objective<T: multilogit::Float>(n: usize, d: usize, t: usize, stride: usize, tol: f64, seed: u64) {
    let (x, y) = random_problem(n, d, t, seed);
    let mut rng = multilogit::rng::Rng::new(seed ^ 0xabc);
    let w: Vec<f64> = (0..d * t).map(|_| rng.normal() * 0.3).collect();
    let b: Vec<f64> = (0..t).map(|_| rng.normal() * 0.3).collect();
    // X stored with a row stride larger than d (padding filled with garbage that must be ignored).
    let mut xbuf = vec![T::from_f64(1e30); n.saturating_sub(1) * stride + d];
    for i in 0..n {
        for j in 0..d {
            xbuf[i * stride + j] = T::from_f64(x[i * d + j]);
        }
    }
    let xv = MatRef::new(&xbuf, n, d, stride).unwrap();
    let wm = Matrix::from_vec(d, t, w.iter().map(|&v| T::from_f64(v)).collect()).unwrap();
    let bt: Vec<T> = b.iter().map(|&v| T::from_f64(v)).collect();
    let mut ws = Workspace::<T>::new(n, d, t, true).unwrap();
    let (mut gw, mut gb) = (vec![T::ZERO; d * t], vec![T::ZERO; t]);
    let loss = loss_and_grad(
        wm.view(),
        &bt,
        xv,
        &y,
        None,
        T::from_f64(1.0 / n as f64),
        &mut ws,
        &mut gw,
        &mut gb,
    )
    .unwrap();
    // The oracle sees the values the engine saw (rounded to T).
    let xr: Vec<f64> = x.iter().map(|&v| T::from_f64(v).to_f64()).collect();
    let wr: Vec<f64> = w.iter().map(|&v| T::from_f64(v).to_f64()).collect();
    let br: Vec<f64> = b.iter().map(|&v| T::from_f64(v).to_f64()).collect();
    let rows: Vec<usize> = (0..n).collect();
    let (lr, gwr, gbr) = ref_loss_grad(&xr, &y, d, t, &wr, &br, &rows);
    let kernel = Kernel::active().name();
    assert!(
        (loss / n as f64 - lr).abs() <= tol * lr.abs().max(1.0),
        "{kernel} loss at {n}×{d}×{t}"
    );
    let gw64: Vec<f64> = gw.iter().map(|v| v.to_f64()).collect();
    let gb64: Vec<f64> = gb.iter().map(|v| v.to_f64()).collect();
    let scale = max_abs(&gwr).max(0.1);
    assert!(
        max_abs_diff(&gw64, &gwr) <= tol * scale,
        "{kernel} ∇W at {n}×{d}×{t}: {}",
        max_abs_diff(&gw64, &gwr)
    );
    assert!(
        max_abs_diff(&gb64, &gbr) <= tol * max_abs(&gbr).max(0.1),
        "{kernel} ∇b at {n}×{d}×{t}: {gb64:?} vs {gbr:?}"
    );
    // A subset of rows (the mini-batch gather path) against the oracle on those rows.
    let sub: Vec<u32> = (0..n as u32).rev().step_by(3).collect();
    let subr: Vec<usize> = sub.iter().map(|&r| r as usize).collect();
    if !sub.is_empty() {
        let loss = loss_and_grad(
            wm.view(),
            &bt,
            xv,
            &y,
            Some(&sub),
            T::from_f64(1.0 / sub.len() as f64),
            &mut ws,
            &mut gw,
            &mut gb,
        )
        .unwrap();
        let (lr, gwr, _) = ref_loss_grad(&xr, &y, d, t, &wr, &br, &subr);
        assert!((loss / sub.len() as f64 - lr).abs() <= tol * lr.abs().max(1.0));
        let gw64: Vec<f64> = gw.iter().map(|v| v.to_f64()).collect();
        assert!(
            max_abs_diff(&gw64, &gwr) <= tol * max_abs(&gwr).max(0.1),
            "{kernel} subset ∇W at {n}×{d}×{t}"
        );
    }
}

#[test]
fn every_kernel_matches_the_scalar_oracle() {
    let mut ran = Vec::new();
    for kernel in Kernel::ALL.into_iter().filter(|k| k.available()) {
        force_kernel(Some(kernel)).unwrap();
        assert_eq!(Kernel::active(), kernel);
        for &t in &[
            1usize,
            2,
            3,
            7,
            8,
            9,
            10,
            12,
            13,
            16,
            17,
            25,
            FUSED_MAX_CLASSES,
            FUSED_MAX_CLASSES + 1,
        ] {
            let plan = Plan::new::<f32>(20, t);
            assert_eq!(plan.kernel, kernel);
            assert_eq!(
                plan.fused,
                kernel != Kernel::Portable && t <= FUSED_MAX_CLASSES,
                "plan {plan:?} for t = {t}"
            );
            for &d in &[1usize, 3, 4, 7, 8, 9, 16, 17, 33, 70] {
                for &n in &[1usize, 2, 5, 130] {
                    let seed = (t * 10_000 + d * 100 + n) as u64;
                    check_objective::<f64>(n, d, t, d + 3, 1e-11, seed);
                    check_objective::<f32>(n, d, t, d + 5, 2e-5, seed);
                }
            }
        }
        // Whole fits, full batch and mini-batch (one shard, and several shards of rows read
        // in place or gathered), through the model, on two threads.
        let (n, d, t) = (3000, 19, 10);
        let (x, y) = random_problem(n, d, t, 77);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for batch in [None, Some(64), Some(700)] {
            let (wr, _) = ref_train(&x, &y, n, d, t, 0.5, 10, batch, 5);
            let xm = Matrix::from_vec(n, d, x.clone()).unwrap();
            let mut m = LogisticClassifierMultinomial::<f64>::new()
                .learning_rate(0.5)
                .epochs(10)
                .batch_size(batch)
                .seed(5);
            let report = pool.install(|| m.fit(&xm, &y)).unwrap();
            assert!(
                report.kernel.starts_with(if kernel == Kernel::Portable {
                    "matrixmultiply"
                } else {
                    kernel.name()
                }),
                "{}",
                report.kernel
            );
            let w = m.weights().unwrap().as_slice();
            assert!(max_abs_diff(w, &wr) <= 1e-10 * max_abs(&wr), "{kernel:?} fit");
        }
        // A model large enough for class-split mini-batch steps (at least 32 classes and
        // 2¹⁵ weights): f64 and f32 against the oracle, on two threads.
        let (n, d, t) = (500, 1000, 40);
        let (x, y) = random_problem(n, d, t, 78);
        for batch in [Some(100), Some(130)] {
            let (wr, br) = ref_train(&x, &y, n, d, t, 0.5, 3, batch, 6);
            let xm = Matrix::from_vec(n, d, x.clone()).unwrap();
            let mut m = LogisticClassifierMultinomial::<f64>::new()
                .learning_rate(0.5)
                .epochs(3)
                .batch_size(batch)
                .seed(6);
            pool.install(|| m.fit(&xm, &y)).unwrap();
            let w = m.weights().unwrap().as_slice();
            assert!(
                max_abs_diff(w, &wr) <= 1e-10 * max_abs(&wr),
                "{kernel:?} class-split fit"
            );
            let b = m.bias().unwrap();
            assert!(
                max_abs_diff(b, &br) <= 1e-10 * max_abs(&wr),
                "{kernel:?} class-split bias"
            );
            let xf = Matrix::from_vec(n, d, x.iter().map(|&v| v as f32).collect()).unwrap();
            let mut mf = LogisticClassifierMultinomial::<f32>::new()
                .learning_rate(0.5)
                .epochs(3)
                .batch_size(batch)
                .seed(6);
            pool.install(|| mf.fit(&xf, &y)).unwrap();
            let wf: Vec<f64> = mf.weights().unwrap().as_slice().iter().map(|&v| v as f64).collect();
            assert!(
                max_abs_diff(&wf, &wr) <= 1e-4 * max_abs(&wr),
                "{kernel:?} class-split fit f32"
            );
        }
        ran.push(kernel);
    }
    force_kernel(None).unwrap();
    assert!(ran.contains(&Kernel::Portable));
    eprintln!("kernels checked: {ran:?}");
}
