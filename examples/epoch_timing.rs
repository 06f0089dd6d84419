//! Quick per-kernel epoch timing (median of E epochs) for a shape: a development aid.
//! `cargo run --release --example epoch_timing -- 60000 784 10 [epochs] [threads]`
use multilogit::Matrix;
use multilogit::kernels::{Kernel, force_kernel};
use multilogit::rng::Rng;
use multilogit::train::{Workspace, loss_and_grad};
use std::time::Instant;

fn main() {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().expect("numbers"))
        .collect();
    let (n, d, t) = (a[0], a[1], a[2]);
    let epochs = a.get(3).copied().unwrap_or(10);
    let threads = a.get(4).copied().unwrap_or(2);
    let mut rng = Rng::new(1);
    let x = Matrix::from_vec(n, d, (0..n * d).map(|_| rng.normal() as f32).collect()).unwrap();
    let y: Vec<u32> = (0..n).map(|_| rng.below(t as u64) as u32).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    for k in Kernel::ALL.into_iter().filter(|k| k.available()) {
        force_kernel(Some(k)).unwrap();
        let mut ws = Workspace::<f32>::new(n, d, t, false).unwrap();
        let w = Matrix::<f32>::zeros(d, t).unwrap();
        let b = vec![0.0f32; t];
        let (mut gw, mut gb) = (vec![0.0; d * t], vec![0.0; t]);
        let mut times: Vec<f64> = pool.install(|| {
            (0..epochs)
                .map(|_| {
                    let s = Instant::now();
                    loss_and_grad(
                        w.view(),
                        &b,
                        x.view(),
                        &y,
                        None,
                        1.0,
                        &mut ws,
                        &mut gw,
                        &mut gb,
                    )
                    .unwrap();
                    s.elapsed().as_secs_f64() * 1e3
                })
                .collect()
        });
        times.sort_by(f64::total_cmp);
        let gf = 4.0 * (n * d * t) as f64 / times[times.len() / 2] / 1e6;
        println!(
            "{:>9} {n}×{d}×{t} {threads}t: median {:.2} ms  min {:.2} ms  {gf:.1} GFLOP/s",
            k.name(),
            times[times.len() / 2],
            times[0]
        );
    }
}
