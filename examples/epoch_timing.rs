//! Quick per-kernel epoch timing (median of E epochs) for a shape: a development aid.
//! `cargo run --release --example epoch_timing -- 60000 784 10 [epochs] [threads]`
use multilogit::Matrix;
use multilogit::kernels::{Kernel, force_kernel};
use multilogit::rng::Rng;
use multilogit::train::{Workspace, loss_and_grad};
use std::time::Instant;

fn main() {
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().expect("numbers")).collect();
    let (n, d, t) = (a[0], a[1], a[2]);
    let epochs = a.get(3).copied().unwrap_or(10);
    let threads = a.get(4).copied().unwrap_or(2);
    let mut rng = Rng::new(1);
    let x = Matrix::from_vec(n, d, (0..n * d).map(|_| rng.normal() as f32).collect()).unwrap();
    let y: Vec<u32> = (0..n).map(|_| rng.below(t as u64) as u32).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let only = std::env::var("KERNEL").unwrap_or_default();
    for k in Kernel::ALL
        .into_iter()
        .filter(|k| k.available() && (only.is_empty() || only == k.name()))
    {
        force_kernel(Some(k)).unwrap();
        let mut ws = Workspace::<f32>::new(n, d, t, false).unwrap();
        let w = Matrix::<f32>::zeros(d, t).unwrap();
        let b = vec![0.0f32; t];
        let (mut gw, mut gb) = (vec![0.0; d * t], vec![0.0; t]);
        let cpu0 = cpu_seconds();
        let wall0 = Instant::now();
        let mut times: Vec<f64> = pool.install(|| {
            (0..epochs)
                .map(|_| {
                    let s = Instant::now();
                    loss_and_grad(w.view(), &b, x.view(), &y, None, 1.0, &mut ws, &mut gw, &mut gb).unwrap();
                    s.elapsed().as_secs_f64() * 1e3
                })
                .collect()
        });
        let (cpu, wall) = (cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64());
        times.sort_by(f64::total_cmp);
        let gf = 4.0 * (n * d * t) as f64 / times[times.len() / 2] / 1e6;
        println!(
            "{:>9} {n}×{d}×{t} {threads}t: median {:.2} ms  min {:.2} ms  {gf:.1} GFLOP/s; {:.1} GFLOP per CPU-second (cpu {cpu:.2} s, wall {wall:.2} s)",
            k.name(),
            times[times.len() / 2],
            times[0],
            4.0 * (n * d * t * epochs) as f64 / cpu / 1e9
        );
    }
}

/// User + system CPU time of this process (Linux /proc; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after.split_whitespace().map(|v| v.parse().unwrap_or(0.0)).collect();
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name.
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}
