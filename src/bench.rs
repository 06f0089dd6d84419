//! `multilogit bench`: full-batch epoch timings against this machine's measured floor.
//!
//! The floor of one epoch is the larger of two lower bounds measured on the spot:
//! `4·N·D·T` flops at the machine's GEMM peak (matrixmultiply on a cache-friendly square
//! product, run on every thread at once) and `N·D·size_of::<T>()` bytes at its read
//! bandwidth (a parallel sum over a buffer far larger than the caches). No implementation
//! can beat it; the report gives the measured time as a multiple of it.

use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;

use crate::data::npy::{read_npy_labels, read_npy_matrix};
use crate::error::{Error, Result};
use crate::float::Float;
use crate::kernels::{Kernel, force_kernel};
use crate::matrix::{MatRef, Matrix};
use crate::model::LogisticClassifierMultinomial;
use crate::rng::Rng;

/// Arguments of `multilogit bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// mnist (60000×784×10), tall (500000×64×8), wide (20000×2000×100) or N×D×T (also NxDxT).
    #[arg(long, default_value = "mnist")]
    pub shape: String,
    /// Features as a 2-D .npy file (instead of a synthetic shape).
    #[arg(long, requires = "labels")]
    pub data: Option<PathBuf>,
    /// Integer labels as a 1-D .npy file (with --data).
    #[arg(long, requires = "data")]
    pub labels: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Epochs to run; the first is a warm-up and is not timed.
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.5)]
    pub lr: f64,
    /// Mini-batch size (default: full batch).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// f32 or f64.
    #[arg(long, default_value = "f32")]
    pub precision: String,
    /// auto, portable, avx2 or avx512.
    #[arg(long, default_value = "auto")]
    pub kernel: String,
    /// Skip measuring the machine's floor.
    #[arg(long)]
    pub no_floor: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What one benchmark measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// `N×D×T`.
    pub shape: String,
    /// The kernel that ran.
    pub kernel: String,
    /// Threads used.
    pub threads: usize,
    /// Epochs run (including the untimed first).
    pub epochs: usize,
    /// Median ms per timed epoch.
    pub ms_median: f64,
    /// Fastest epoch, ms.
    pub ms_min: f64,
    /// Slowest epoch, ms.
    pub ms_max: f64,
    /// Every timed epoch, ms.
    pub ms_epochs: Vec<f64>,
    /// Mean cross-entropy at the parameters after all epochs.
    pub final_loss: f64,
    /// `4·N·D·T` flops per median epoch, in GFLOP/s.
    pub gflops: f64,
    /// Bytes of X per median epoch, in GB/s.
    pub gbps: f64,
    /// Measured GEMM peak of all threads, GFLOP/s (0 with --no-floor).
    pub peak_gflops: f64,
    /// Measured read bandwidth, GB/s (0 with --no-floor).
    pub bandwidth_gbps: f64,
    /// The floor, ms (0 with --no-floor).
    pub floor_ms: f64,
    /// `ms_median / floor_ms` (0 with --no-floor).
    pub floor_multiple: f64,
    /// Mini-batch runs: one pass reading every row of X once in a fresh random order, all
    /// threads, software-prefetched, best of 3, ms (0 for the full batch or --no-floor). A
    /// shuffled epoch must read X this way, so for mini-batches the floor is the larger of
    /// this and `floor_ms`.
    pub shuffled_read_ms: f64,
    /// `ms_median / max(floor_ms, shuffled_read_ms)` for mini-batch runs (0 otherwise).
    pub minibatch_floor_multiple: f64,
    /// Peak resident memory of the process, MiB (Linux), and the size of X, MiB.
    pub peak_rss_mib: f64,
    /// Size of X in MiB.
    pub x_mib: f64,
}

/// Parses `mnist`, `tall`, `wide`, or `N×D×T` / `NxDxT`.
pub fn parse_shape(s: &str) -> Result<(usize, usize, usize)> {
    match s {
        "mnist" => return Ok((60_000, 784, 10)),
        "tall" => return Ok((500_000, 64, 8)),
        "wide" => return Ok((20_000, 2000, 100)),
        _ => {}
    }
    let parts: Vec<&str> = s.split(['x', '×', 'X']).collect();
    let bad = || Error::hyper("shape", s, "expected mnist, tall, wide or N×D×T with positive integers");
    if parts.len() != 3 {
        return Err(bad());
    }
    let v: Vec<usize> = parts
        .iter()
        .map(|p| p.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    if v.contains(&0) {
        return Err(bad());
    }
    crate::error::checked_size(v[0], v[1], "bench shape")?;
    Ok((v[0], v[1], v[2]))
}

/// Runs the benchmark and prints its report (text, or JSON with `--json`).
pub fn run(args: &BenchArgs) -> Result<()> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        return Err(Error::hyper("threads", 0, "must be at least 1"));
    }
    let kernel = match args.kernel.as_str() {
        "auto" => None,
        "portable" => Some(Kernel::Portable),
        "avx2" => Some(Kernel::Avx2),
        "avx512" => Some(Kernel::Avx512),
        other => return Err(Error::hyper("kernel", other, "expected auto, portable, avx2 or avx512")),
    };
    force_kernel(kernel)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::hyper("threads", threads, e.to_string()))?;
    let report = match args.precision.as_str() {
        "f32" => pool.install(|| bench::<f32>(args, threads))?,
        "f64" => pool.install(|| bench::<f64>(args, threads))?,
        other => return Err(Error::hyper("precision", other, "expected f32 or f64")),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| Error::Io {
                path: "stdout".into(),
                message: e.to_string()
            })?
        );
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

impl BenchReport {
    /// A human-readable summary.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "shape {}  kernel {}  threads {}  epochs {} (first untimed)\n\
             ms/epoch: median {:.2}  min {:.2}  max {:.2}\n\
             throughput: {:.1} GFLOP/s, {:.1} GB/s of X\n",
            self.shape,
            self.kernel,
            self.threads,
            self.epochs,
            self.ms_median,
            self.ms_min,
            self.ms_max,
            self.gflops,
            self.gbps
        );
        if self.floor_ms > 0.0 {
            s += &format!(
                "floor: {:.2} ms (GEMM peak {:.1} GFLOP/s, read bandwidth {:.1} GB/s); measured = {:.2}× floor\n",
                self.floor_ms, self.peak_gflops, self.bandwidth_gbps, self.floor_multiple
            );
        }
        if self.shuffled_read_ms > 0.0 {
            s += &format!(
                "shuffled-order read of X: {:.2} ms; mini-batch floor {:.2} ms; measured = {:.2}× mini-batch floor\n",
                self.shuffled_read_ms,
                self.floor_ms.max(self.shuffled_read_ms),
                self.minibatch_floor_multiple
            );
        }
        s += &format!(
            "final loss {:.6}  peak RSS {:.0} MiB (X is {:.0} MiB)\n",
            self.final_loss, self.peak_rss_mib, self.x_mib
        );
        s
    }
}

fn synthetic<T: Float>(n: usize, d: usize, t: usize, seed: u64) -> Result<(Matrix<T>, Vec<u32>)> {
    // Overlapping Gaussian classes: centres ~ N(0, 1/D), unit noise.
    let mut rng = Rng::new(seed);
    let centres: Vec<f64> = (0..t * d).map(|_| rng.normal() / (d as f64).sqrt()).collect();
    let mut x = Matrix::<T>::zeros(n, d)?;
    let y: Vec<u32> = (0..n).map(|i| (i % t) as u32).collect();
    // Rows from independent per-chunk streams, so generation is parallel yet seeded.
    x.as_mut_slice()
        .par_chunks_mut(4096 * d)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut r = Rng::new(seed ^ (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            for (i, row) in chunk.chunks_exact_mut(d).enumerate() {
                let k = (c * 4096 + i) % t;
                for (j, v) in row.iter_mut().enumerate() {
                    *v = T::from_f64(centres[k * d + j] + r.normal());
                }
            }
        });
    Ok((x, y))
}

fn load<T: Float>(args: &BenchArgs) -> Result<(Matrix<T>, Vec<u32>, String)> {
    if let (Some(xp), Some(yp)) = (&args.data, &args.labels) {
        let x = read_npy_matrix::<T>(xp)?;
        let raw = read_npy_labels(yp)?;
        let (_, y) = crate::data::classes_from_i64(&raw)?;
        if y.len() != x.rows() {
            return Err(Error::shape(
                "bench --labels",
                format!("{} labels (rows of --data)", x.rows()),
                format!("{} labels", y.len()),
            ));
        }
        let t = y.iter().copied().max().map_or(0, |m| m as usize + 1);
        let shape = format!("{}×{}×{}", x.rows(), x.cols(), t);
        Ok((x, y, shape))
    } else {
        let (n, d, t) = parse_shape(&args.shape)?;
        let (x, y) = synthetic::<T>(n, d, t, 7)?;
        Ok((x, y, format!("{n}×{d}×{t}")))
    }
}

fn bench<T: Float>(args: &BenchArgs, threads: usize) -> Result<BenchReport> {
    if args.epochs < 2 {
        return Err(Error::hyper(
            "epochs",
            args.epochs,
            "bench needs at least 2 (the first is untimed)",
        ));
    }
    let (x, y, shape) = load::<T>(args)?;
    let (n, d) = x.shape();
    let t = y.iter().copied().max().map_or(1, |m| m as usize + 1);
    let mut model = LogisticClassifierMultinomial::<T>::new()
        .learning_rate(args.lr)
        .epochs(args.epochs)
        .batch_size(args.batch_size)
        .n_classes(t);
    let mut stamps = Vec::with_capacity(args.epochs + 1);
    stamps.push(Instant::now());
    let report = model.fit_with_callback(&x, &y, &mut |_, _| stamps.push(Instant::now()))?;
    let mut ms: Vec<f64> = stamps
        .windows(2)
        .skip(1)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1e3)
        .collect();
    let ms_epochs = ms.clone();
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    let final_loss = model.loss(&x, &y)?;
    // Before the floor measurement, whose 512 MiB buffer would dominate the peak.
    let peak_rss = peak_rss_mib();
    let flops = 4.0 * (n * d * t) as f64;
    let bytes = (n * d * std::mem::size_of::<T>()) as f64;
    let (peak, bw) = if args.no_floor {
        (0.0, 0.0)
    } else {
        (gemm_peak::<T>(), read_bandwidth())
    };
    let floor_ms = if args.no_floor {
        0.0
    } else {
        (flops / (peak * 1e9)).max(bytes / (bw * 1e9)) * 1e3
    };
    let shuffled_read_ms = if args.no_floor || args.batch_size.is_none_or(|b| b >= n) {
        0.0
    } else {
        shuffled_read_ms(x.view())
    };
    Ok(BenchReport {
        shape,
        kernel: report.kernel,
        threads,
        epochs: args.epochs,
        ms_median: median,
        ms_min: ms[0],
        ms_max: ms[ms.len() - 1],
        ms_epochs,
        final_loss,
        gflops: flops / median / 1e6,
        gbps: bytes / median / 1e6,
        peak_gflops: peak,
        bandwidth_gbps: bw,
        floor_ms,
        floor_multiple: if floor_ms > 0.0 { median / floor_ms } else { 0.0 },
        shuffled_read_ms,
        minibatch_floor_multiple: if shuffled_read_ms > 0.0 {
            median / floor_ms.max(shuffled_read_ms)
        } else {
            0.0
        },
        peak_rss_mib: peak_rss,
        x_mib: bytes / (1 << 20) as f64,
    })
}

/// GEMM peak of all threads of the current pool together, GFLOP/s: every thread runs
/// its own 768³ product through matrixmultiply, best of 12 rounds after a warm-up round.
pub fn gemm_peak<T: Float>() -> f64 {
    let s = 768;
    let threads = rayon::current_num_threads();
    let a: Vec<T> = (0..s * s).map(|i| T::from_f64((i % 7) as f64 * 0.1)).collect();
    let mut best = 0.0f64;
    for round in 0..13 {
        let start = Instant::now();
        (0..threads).into_par_iter().for_each(|_| {
            let mut c = vec![T::ZERO; s * s];
            // SAFETY: a is s×s, c is s×s, both contiguous row-major and distinct.
            unsafe {
                T::gemm_raw(
                    s,
                    s,
                    s,
                    T::ONE,
                    a.as_ptr(),
                    s as isize,
                    1,
                    a.as_ptr(),
                    s as isize,
                    1,
                    T::ZERO,
                    c.as_mut_ptr(),
                    s as isize,
                    1,
                )
            };
            std::hint::black_box(&c);
        });
        let secs = start.elapsed().as_secs_f64();
        if round > 0 {
            best = best.max(2.0 * (s * s * s * threads) as f64 / secs / 1e9);
        }
    }
    best
}

/// Time to read every row of `x` once in a random order, ms: the order cut into one
/// contiguous part per thread of the current pool, each thread summing its rows with the
/// row 32 places ahead prefetched (as the kernels do), best of 3 passes over fresh orders.
pub fn shuffled_read_ms<T: Float>(x: MatRef<'_, T>) -> f64 {
    let n = x.rows();
    let mut perm = vec![0u32; n];
    let mut rng = Rng::new(0x5eed);
    let threads = rayon::current_num_threads().max(1);
    let part = n.div_ceil(threads).max(1);
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        rng.permutation_part(&mut perm, 0, n);
        let start = Instant::now();
        let s: f64 = perm
            .par_chunks(part)
            .map(|order| {
                let mut acc = [T::ZERO; 16];
                for (k, &r) in order.iter().enumerate() {
                    if let Some(&ahead) = order.get(k + 32) {
                        crate::kernels::prefetch_row::<T, false>(x.row(ahead as usize));
                    }
                    // Whole 16-element chunks, then the tail: a loop the compiler turns
                    // into vector adds (with `chunks(16)` it did not, and the pass measured
                    // 9.3 ms instead of 7.3 at 500000×64 on two threads).
                    let row = x.row(r as usize);
                    let mut chunks = row.chunks_exact(16);
                    for c in &mut chunks {
                        for (a, &v) in acc.iter_mut().zip(c) {
                            *a += v;
                        }
                    }
                    for (a, &v) in acc.iter_mut().zip(chunks.remainder()) {
                        *a += v;
                    }
                }
                acc.iter().map(|v| v.to_f64()).sum::<f64>()
            })
            .sum();
        std::hint::black_box(s);
        best = best.min(start.elapsed().as_secs_f64() * 1e3);
    }
    best
}

/// Read bandwidth of all threads of the current pool, GB/s: parallel integer sums over
/// 512 MiB (integer adds vectorise, so the sum is limited by memory, not by add latency),
/// best of 5.
pub fn read_bandwidth() -> f64 {
    let len = (512usize << 20) / 8;
    let buf: Vec<u64> = (0..len).into_par_iter().map(|i| (i & 15) as u64).collect();
    let mut best = 0.0f64;
    for _ in 0..5 {
        let start = Instant::now();
        let s: u64 = buf
            .par_chunks(1 << 16)
            .map(|c| c.iter().fold(0u64, |a, &v| a.wrapping_add(v)))
            .reduce(|| 0, u64::wrapping_add);
        std::hint::black_box(s);
        best = best.max((len * 8) as f64 / start.elapsed().as_secs_f64() / 1e9);
    }
    best
}

/// Peak resident set size of this process in MiB (Linux `VmHWM`; 0 elsewhere).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_and_reject() {
        assert_eq!(parse_shape("mnist").unwrap(), (60_000, 784, 10));
        assert_eq!(parse_shape("10x3x2").unwrap(), (10, 3, 2));
        assert_eq!(parse_shape("10×3×2").unwrap(), (10, 3, 2));
        for bad in ["", "10x3", "0x3x2", "ax3x2", "10x3x2x1"] {
            assert!(parse_shape(bad).is_err(), "{bad}");
        }
    }

    fn args(batch: Option<usize>) -> BenchArgs {
        BenchArgs {
            shape: "3000x16x4".into(),
            data: None,
            labels: None,
            threads: Some(2),
            epochs: 3,
            lr: 0.5,
            batch_size: batch,
            precision: "f32".into(),
            kernel: "auto".into(),
            no_floor: false,
            json: true,
        }
    }

    #[test]
    fn minibatch_reports_carry_the_shuffled_read_floor() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let mini = pool.install(|| bench::<f32>(&args(Some(256)), 2)).unwrap();
        assert!(mini.shuffled_read_ms > 0.0 && mini.shuffled_read_ms.is_finite());
        let floor = mini.floor_ms.max(mini.shuffled_read_ms);
        assert!(
            (mini.minibatch_floor_multiple - mini.ms_median / floor).abs() <= 1e-12 * mini.minibatch_floor_multiple
        );
        assert!(mini.to_text().contains("shuffled-order read of X"));
        // The full batch reads X in order: no shuffled floor.
        let full = pool.install(|| bench::<f32>(&args(None), 2)).unwrap();
        assert_eq!((full.shuffled_read_ms, full.minibatch_floor_multiple), (0.0, 0.0));
        assert!(!full.to_text().contains("shuffled-order"));
    }
}
