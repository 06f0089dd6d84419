//! One full-batch epoch on synthetic data, fused engine vs a naive unfused epoch, and the
//! fused softmax/δ kernel alone.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use multilogit::kernels::{Kernel, force_kernel, gemm, softmax};
use multilogit::rng::Rng;
use multilogit::train::{Workspace, loss_and_grad};
use multilogit::{MatRef, Matrix};
use std::hint::black_box;

fn synthetic(n: usize, d: usize, t: usize, seed: u64) -> (Matrix<f32>, Vec<u32>) {
    let mut rng = Rng::new(seed);
    let centres: Vec<f64> = (0..t * d).map(|_| rng.normal() / (d as f64).sqrt()).collect();
    let mut x = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let k = i % t;
        x.extend((0..d).map(|j| (centres[k * d + j] + rng.normal()) as f32));
        y.push(k as u32);
    }
    (Matrix::from_vec(n, d, x).unwrap(), y)
}

/// The naive epoch: matrixmultiply X·W, a separate softmax pass, matrixmultiply Xᵀ·δ.
fn naive_epoch(
    x: MatRef<'_, f32>,
    y: &[u32],
    w: &mut Matrix<f32>,
    b: &mut [f32],
    z: &mut Matrix<f32>,
    gw: &mut Matrix<f32>,
) -> f64 {
    let (n, t) = (x.rows(), w.cols());
    gemm::xw(x, w.view(), &mut z.view_mut());
    let mut loss = 0.0;
    let mut gb = vec![0.0f32; t];
    for (row, &yi) in z.as_mut_slice().chunks_exact_mut(t).zip(y) {
        for (v, &bb) in row.iter_mut().zip(b.iter()) {
            *v += bb;
        }
        let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let s: f32 = row.iter().map(|v| (v - m).exp()).sum();
        loss += (s.ln() + m - row[yi as usize]) as f64;
        for (k, v) in row.iter_mut().enumerate() {
            *v = ((*v - m).exp() / s - if k == yi as usize { 1.0 } else { 0.0 }) / n as f32;
            gb[k] += *v;
        }
    }
    gemm::xt_delta(x, z.view(), 0.0, &mut gw.view_mut());
    for (p, g) in w.as_mut_slice().iter_mut().zip(gw.as_slice()) {
        *p -= 0.5 * g;
    }
    for (p, g) in b.iter_mut().zip(&gb) {
        *p -= 0.5 * g;
    }
    loss / n as f64
}

fn epoch_benches(c: &mut Criterion) {
    let shapes: &[(&str, usize, usize, usize)] = &[
        ("mnist", 60_000, 784, 10),
        ("tall", 500_000, 64, 8),
        ("wide", 20_000, 2000, 100),
    ];
    // MULTILOGIT_BENCH_SHAPES=mnist,tall,wide (or all) picks the shapes; mnist by default,
    // since the other two take minutes per configuration on two cores.
    let only = std::env::var("MULTILOGIT_BENCH_SHAPES").unwrap_or_else(|_| "mnist".into());
    let mut group = c.benchmark_group("epoch_f32");
    group.sample_size(10);
    for &(name, n, d, t) in shapes
        .iter()
        .filter(|s| only.split(',').any(|o| o == s.0 || o == "all"))
    {
        let (x, y) = synthetic(n, d, t, 7);
        group.throughput(Throughput::Elements((n * d * t * 4) as u64));
        // The default kernel on 1 and 2 threads, then every other kernel family on 2 threads.
        let mut runs: Vec<(Option<Kernel>, usize)> = vec![(None, 1), (None, 2)];
        runs.extend(Kernel::ALL.into_iter().filter(|k| k.available()).map(|k| (Some(k), 2)));
        for (kernel, threads) in runs {
            force_kernel(kernel).unwrap();
            let label = kernel.map_or("fused".to_string(), |k| format!("kernel-{}", k.name()));
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut w = Matrix::<f32>::zeros(d, t).unwrap();
            let mut b = vec![0.0f32; t];
            let mut ws = Workspace::<f32>::new(n, d, t, false).unwrap();
            let (mut gw, mut gb) = (vec![0.0f32; d * t], vec![0.0f32; t]);
            group.bench_function(
                BenchmarkId::new(format!("{name}/{label}"), format!("{threads}t")),
                |bch| {
                    pool.install(|| {
                        bch.iter(|| {
                            let l = loss_and_grad(
                                w.view(),
                                &b,
                                x.view(),
                                &y,
                                None,
                                1.0 / n as f32,
                                &mut ws,
                                &mut gw,
                                &mut gb,
                            )
                            .unwrap();
                            multilogit::train::optim::sgd_step(w.as_mut_slice(), &mut b, &gw, &gb, 0.5);
                            black_box(l)
                        })
                    })
                },
            );
        }
        force_kernel(None).unwrap();
        let mut w = Matrix::<f32>::zeros(d, t).unwrap();
        let mut b = vec![0.0f32; t];
        let mut z = Matrix::<f32>::zeros(n, t).unwrap();
        let mut gw = Matrix::<f32>::zeros(d, t).unwrap();
        group.bench_function(BenchmarkId::new(format!("{name}/naive"), "1t"), |bch| {
            bch.iter(|| black_box(naive_epoch(x.view(), &y, &mut w, &mut b, &mut z, &mut gw)))
        });
    }
    group.finish();
}

fn kernel_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("softmax_delta");
    let rows = 4096;
    for t in [3usize, 10, 100] {
        let mut rng = Rng::new(t as u64);
        let z0: Vec<f32> = (0..rows * t).map(|_| rng.normal() as f32).collect();
        let y: Vec<u32> = (0..rows).map(|_| rng.below(t as u64) as u32).collect();
        let bias = vec![0.0f32; t];
        let mut z = z0.clone();
        let mut gb = vec![0.0f32; t];
        group.throughput(Throughput::Elements((rows * t) as u64));
        group.bench_function(BenchmarkId::new("simd", t), |bch| {
            bch.iter(|| {
                z.copy_from_slice(&z0);
                black_box(softmax::softmax_delta(&mut z, t, &bias, &y, 1.0, &mut gb))
            })
        });
        group.bench_function(BenchmarkId::new("scalar", t), |bch| {
            bch.iter(|| {
                z.copy_from_slice(&z0);
                black_box(softmax::softmax_delta_scalar(&mut z, t, &bias, &y, 1.0, &mut gb))
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Plots off: they need a system font that a fresh machine may lack (and the numbers
    // are what the README quotes).
    config = Criterion::default().without_plots();
    targets = epoch_benches, kernel_benches
}
criterion_main!(benches);
