//! Shared test helpers: random data and the plain scalar oracle (the seed's numpy code as loops).
#![allow(dead_code)]

use multilogit::rng::Rng;

/// Random N×D data in f64 with labels in 0..T, every class present when N ≥ T.
pub fn random_problem(n: usize, d: usize, t: usize, seed: u64) -> (Vec<f64>, Vec<u32>) {
    let mut rng = Rng::new(seed);
    let x: Vec<f64> = (0..n * d).map(|_| rng.normal()).collect();
    let y: Vec<u32> = (0..n)
        .map(|i| if i < t { i as u32 } else { rng.below(t as u64) as u32 })
        .collect();
    (x, y)
}

/// Kahan-compensated sum, for reference results.
pub fn ksum(v: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for x in v {
        let y = x - c;
        let t = s + y;
        c = (t - s) - y;
        s = t;
    }
    s
}

/// Scalar oracle: loss (mean) and gradients (mean) of softmax regression at (w, b) over `rows`.
pub fn ref_loss_grad(
    x: &[f64],
    y: &[u32],
    d: usize,
    t: usize,
    w: &[f64],
    b: &[f64],
    rows: &[usize],
) -> (f64, Vec<f64>, Vec<f64>) {
    let m = rows.len() as f64;
    let mut gw = vec![0.0; d * t];
    let mut gb = vec![0.0; t];
    let mut losses = Vec::new();
    for &i in rows {
        let xi = &x[i * d..(i + 1) * d];
        let z: Vec<f64> = (0..t)
            .map(|k| ksum((0..d).map(|j| xi[j] * w[j * t + k])) + b[k])
            .collect();
        let mx = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s = ksum(z.iter().map(|&v| (v - mx).exp()));
        losses.push(s.ln() + mx - z[y[i] as usize]);
        for k in 0..t {
            let p = (z[k] - mx).exp() / s;
            let delta = (p - if k == y[i] as usize { 1.0 } else { 0.0 }) / m;
            gb[k] += delta;
            for j in 0..d {
                gw[j * t + k] += xi[j] * delta;
            }
        }
    }
    (ksum(losses) / m, gw, gb)
}

/// Scalar oracle training: full batch (`batch = None`) or mini-batches in a fresh random
/// order per epoch drawn from the crate's public `Rng` (the same stream the engine documents).
pub fn ref_train(
    x: &[f64],
    y: &[u32],
    n: usize,
    d: usize,
    t: usize,
    lr: f64,
    epochs: usize,
    batch: Option<usize>,
    seed: u64,
) -> (Vec<f64>, Vec<f64>) {
    let mut w = vec![0.0; d * t];
    let mut b = vec![0.0; t];
    let mut rng = Rng::new(seed);
    let mut perm: Vec<u32> = vec![0; n];
    let bs = batch.map_or(n, |v| v.min(n));
    for _ in 0..epochs {
        if bs < n {
            // A fresh order per epoch, as the engine documents it (`order::Order`): a
            // k-bit Feistel network (2^k ≥ n, k smallest), a = ⌊k/2⌋, b = k − a, with
            // 2·⌈16 / max(a, 1)⌉ rounds (at least 4), keyed from `Rng::new(w)` for one
            // word w of the fit's stream (each word gives two keys, low half first);
            // round i with widths (h, l) = (a, b) for even i, (b, a) for odd:
            // x ← (x mod 2^l)·2^h + ((x >> l) ⊕ (F((x mod 2^l) ⊕ Kᵢ) mod 2^h)), F the
            // murmur-style mix below; place p holds the first of E(p), E(E(p)), … below n.
            let k = (0..=32u32).find(|&k| (1u64 << k) >= n as u64).unwrap();
            let (a, b) = (u64::from(k / 2), u64::from(k - k / 2));
            let rounds = (2 * 16u64.div_ceil(a.max(1))).max(4);
            let mut stream = Rng::new(rng.next_u64());
            let keys: Vec<u64> = (0..rounds / 2)
                .flat_map(|_| {
                    let w = stream.next_u64();
                    [w & 0xffff_ffff, w >> 32]
                })
                .collect();
            let f = |v: u64| {
                let v = (v * 0x9E37_79B1) % (1 << 32);
                let v = ((v ^ (v >> 16)) * 0x85EB_CA6B) % (1 << 32);
                v ^ (v >> 16)
            };
            let e = |mut x: u64| {
                for (i, key) in keys.iter().enumerate() {
                    let (h, l) = if i % 2 == 0 { (a, b) } else { (b, a) };
                    let (high, low) = (x >> l, x % (1 << l));
                    x = low * (1 << h) + (high ^ (f(low ^ key) % (1 << h)));
                }
                x
            };
            perm.clear();
            for p in 0..n as u64 {
                let mut x = e(p);
                while x >= n as u64 {
                    x = e(x);
                }
                perm.push(x as u32);
            }
        }
        for chunk in perm.chunks(bs) {
            let rows: Vec<usize> = if bs < n {
                chunk.iter().map(|&r| r as usize).collect()
            } else {
                (0..n).collect()
            };
            let (_, gw, gb) = ref_loss_grad(x, y, d, t, &w, &b, &rows);
            for (p, g) in w.iter_mut().zip(&gw) {
                *p -= lr * g;
            }
            for (p, g) in b.iter_mut().zip(&gb) {
                *p -= lr * g;
            }
        }
    }
    (w, b)
}

pub fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |a, &x| a.max(x.abs()))
}

pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// A fresh, empty temporary directory for one test, removed when the test passes
/// (kept for inspection when it fails).
pub struct TmpDir(pub std::path::PathBuf);

impl std::ops::Deref for TmpDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TmpDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn tmpdir(name: &str) -> TmpDir {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("multilogit-test-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    TmpDir(dir)
}
