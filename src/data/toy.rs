//! Seeded toy data sets for tests, benchmarks and demonstrations.
//!
//! Every generator is a pure function of its arguments: the same seed gives the same
//! data on every platform (the generator is [`crate::rng::Rng`]). Classes are balanced:
//! `n` rows are split evenly, the remainder going to the first classes. Rows are
//! shuffled, so classes are interleaved. Features are named `f0`, `f1`, ...
//!
//! | name | generator | classes | features |
//! |---|---|---|---|
//! | `blobs` | [`blobs`] | `k` (3) | `dim` (2) |
//! | `moons` | [`moons`] | 2 | 2 |
//! | `circles` | [`circles`] | 2 | 2 |
//! | `xor` | [`xor`] | 2 | 2 |
//! | `spirals` | [`spirals`] | `k` (3) | 2 |
//! | `gaussians` | [`gaussians_overlap`] | `k` (5) | `dim` (20) |

use std::f64::consts::{PI, TAU};

use super::Dataset;
use crate::error::{Error, Result, checked_size};
use crate::matrix::Matrix;
use crate::rng::Rng;

/// The names [`by_name`] accepts (the CLI's `generate --dataset NAME`).
pub const TOY_NAMES: &[&str] = &["blobs", "moons", "circles", "xor", "spirals", "gaussians"];

/// The `n` rows, `dim` columns and class list of a data set being generated.
struct Builder {
    data: Vec<f64>,
    y: Vec<u32>,
    dim: usize,
    k: usize,
}

impl Builder {
    fn new(n: usize, k: usize, dim: usize) -> Result<Self> {
        let len = checked_size(n, dim, "toy data set size")?;
        let mut data = Vec::new();
        data.try_reserve_exact(len).map_err(|_| Error::TooLarge {
            what: format!("toy data set of {n} rows × {dim} features"),
        })?;
        let mut y = Vec::new();
        y.try_reserve_exact(n).map_err(|_| Error::TooLarge {
            what: format!("toy data set of {n} rows"),
        })?;
        Ok(Builder { data, y, dim, k })
    }

    fn push(&mut self, row: &[f64], class: usize) {
        debug_assert_eq!(row.len(), self.dim);
        self.data.extend_from_slice(row);
        self.y.push(class as u32);
    }

    /// Shuffles the rows (seeded) and wraps them up.
    fn finish(self, name: &str, rng: &mut Rng) -> Result<Dataset<f64>> {
        let n = self.y.len();
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        let mut data = Vec::with_capacity(self.data.len());
        let mut y = Vec::with_capacity(n);
        for &i in &order {
            data.extend_from_slice(&self.data[i * self.dim..(i + 1) * self.dim]);
            y.push(self.y[i]);
        }
        Dataset::new(
            Matrix::from_vec(n, self.dim, data)?,
            y,
            (0..self.k).map(|c| c.to_string()).collect(),
            (0..self.dim).map(|j| format!("f{j}")).collect(),
            name,
        )
    }
}

/// Rows per class: `n / k`, the first `n % k` classes one more.
fn per_class(n: usize, k: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..k).map(move |c| (c, n / k + usize::from(c < n % k)))
}

fn check_n(n: usize, k: usize) -> Result<()> {
    if n < k.max(1) {
        return Err(Error::hyper(
            "n",
            n,
            format!("need at least one row per class ({k} classes)"),
        ));
    }
    Ok(())
}

fn check_k(k: usize) -> Result<()> {
    if k < 2 {
        return Err(Error::hyper("classes", k, "need at least 2 classes"));
    }
    if k > 100_000 {
        return Err(Error::hyper("classes", k, "at most 100000 classes"));
    }
    Ok(())
}

fn check_dim(dim: usize) -> Result<()> {
    if dim == 0 {
        return Err(Error::hyper("dim", dim, "need at least one feature"));
    }
    Ok(())
}

fn check_noise(name: &'static str, v: f64) -> Result<()> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(Error::hyper(name, v, "must be finite and non-negative"));
    }
    Ok(())
}

/// `i`-th of `m` evenly spaced points in `[0, 1]` (0.5 when `m == 1`).
fn linspace01(i: usize, m: usize) -> f64 {
    if m <= 1 { 0.5 } else { i as f64 / (m - 1) as f64 }
}

/// Isotropic Gaussian blobs, like scikit-learn's `make_blobs`: `k` centres drawn
/// uniformly in the box `[-10, 10]^dim`, then each point is its class centre plus
/// `N(0, cluster_std²)` noise per coordinate.
///
/// Centres are drawn by rejection so that no two are closer than
/// `min(8, 20 / k^(1/dim))` (up to 1000 tries each, then the farthest candidate is
/// kept), so with a small `cluster_std` (≲ 1) the classes are linearly separable.
pub fn blobs(n: usize, k: usize, dim: usize, cluster_std: f64, seed: u64) -> Result<Dataset<f64>> {
    check_k(k)?;
    check_dim(dim)?;
    check_n(n, k)?;
    check_noise("cluster_std", cluster_std)?;
    let mut rng = Rng::new(seed);
    let min_dist = (20.0 / (k as f64).powf(1.0 / dim as f64)).min(8.0);
    let mut centres: Vec<Vec<f64>> = Vec::with_capacity(k);
    for _ in 0..k {
        let mut best: Option<(f64, Vec<f64>)> = None;
        for _ in 0..1000 {
            let c: Vec<f64> = (0..dim).map(|_| rng.uniform() * 20.0 - 10.0).collect();
            let d = centres
                .iter()
                .map(|o| o.iter().zip(&c).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt())
                .fold(f64::INFINITY, f64::min);
            let better = best.as_ref().is_none_or(|(bd, _)| d > *bd);
            if better {
                best = Some((d, c));
            }
            if d >= min_dist {
                break;
            }
        }
        if let Some((_, c)) = best {
            centres.push(c);
        }
    }
    let mut b = Builder::new(n, k, dim)?;
    let mut row = vec![0.0; dim];
    for (c, m) in per_class(n, k) {
        for _ in 0..m {
            for (r, &mu) in row.iter_mut().zip(&centres[c]) {
                *r = mu + cluster_std * rng.normal();
            }
            b.push(&row, c);
        }
    }
    b.finish("blobs", &mut rng)
}

/// Two interleaving half circles, like scikit-learn's `make_moons`: class 0 on
/// `(cos t, sin t)`, class 1 on `(1 − cos t, ½ − sin t)`, `t` evenly spaced in `[0, π]`,
/// plus `N(0, noise²)` per coordinate.
pub fn moons(n: usize, noise: f64, seed: u64) -> Result<Dataset<f64>> {
    check_n(n, 2)?;
    check_noise("noise", noise)?;
    let mut rng = Rng::new(seed);
    let mut b = Builder::new(n, 2, 2)?;
    for (c, m) in per_class(n, 2) {
        for i in 0..m {
            let t = PI * linspace01(i, m);
            let (x0, x1) = if c == 0 {
                (t.cos(), t.sin())
            } else {
                (1.0 - t.cos(), 0.5 - t.sin())
            };
            b.push(&[x0 + noise * rng.normal(), x1 + noise * rng.normal()], c);
        }
    }
    b.finish("moons", &mut rng)
}

/// Two concentric circles, like scikit-learn's `make_circles`: class 0 on the unit
/// circle, class 1 on the circle of radius `factor` (in `(0, 1)`), angles evenly spaced,
/// plus `N(0, noise²)` per coordinate.
pub fn circles(n: usize, noise: f64, factor: f64, seed: u64) -> Result<Dataset<f64>> {
    check_n(n, 2)?;
    check_noise("noise", noise)?;
    if !(factor > 0.0 && factor < 1.0) {
        return Err(Error::hyper("factor", factor, "must be in (0, 1)"));
    }
    let mut rng = Rng::new(seed);
    let mut b = Builder::new(n, 2, 2)?;
    for (c, m) in per_class(n, 2) {
        let r = if c == 0 { 1.0 } else { factor };
        for i in 0..m {
            let t = TAU * i as f64 / m as f64;
            b.push(
                &[r * t.cos() + noise * rng.normal(), r * t.sin() + noise * rng.normal()],
                c,
            );
        }
    }
    b.finish("circles", &mut rng)
}

/// The XOR problem: four Gaussian clusters at `(±1, ±1)` with standard deviation
/// `noise`; class 0 at `(1, 1)` and `(−1, −1)`, class 1 at `(1, −1)` and `(−1, 1)`.
/// Not linearly separable.
pub fn xor(n: usize, noise: f64, seed: u64) -> Result<Dataset<f64>> {
    check_n(n, 2)?;
    check_noise("noise", noise)?;
    let mut rng = Rng::new(seed);
    let mut b = Builder::new(n, 2, 2)?;
    for (c, m) in per_class(n, 2) {
        for i in 0..m {
            // Alternate the two clusters of the class.
            let s = if i % 2 == 0 { 1.0 } else { -1.0 };
            let (cx, cy) = if c == 0 { (s, s) } else { (s, -s) };
            b.push(&[cx + noise * rng.normal(), cy + noise * rng.normal()], c);
        }
    }
    b.finish("xor", &mut rng)
}

/// `k_arms` interleaved spirals: arm `c` is `r·(cos θ, sin θ)` with `r = 0.1 + s`,
/// `θ = 2πc/k + 3πs` for `s` evenly spaced in `[0, 1]` (one and a half turns), plus
/// `N(0, noise²)` per coordinate.
pub fn spirals(n: usize, k_arms: usize, noise: f64, seed: u64) -> Result<Dataset<f64>> {
    check_k(k_arms)?;
    check_n(n, k_arms)?;
    check_noise("noise", noise)?;
    let mut rng = Rng::new(seed);
    let mut b = Builder::new(n, k_arms, 2)?;
    for (c, m) in per_class(n, k_arms) {
        for i in 0..m {
            let s = linspace01(i, m);
            let r = 0.1 + s;
            let th = TAU * c as f64 / k_arms as f64 + 3.0 * PI * s;
            b.push(
                &[r * th.cos() + noise * rng.normal(), r * th.sin() + noise * rng.normal()],
                c,
            );
        }
    }
    b.finish("spirals", &mut rng)
}

/// Overlapping Gaussian classes in `dim` dimensions with unit variance: class means
/// have independent `N(0, separation² / (2·dim))` coordinates, so two means are about
/// `separation` apart. `separation ≈ 1–3` gives heavily overlapping classes (no
/// classifier reaches 100 %), larger values easier ones.
pub fn gaussians_overlap(n: usize, k_classes: usize, dim: usize, separation: f64, seed: u64) -> Result<Dataset<f64>> {
    gaussians(n, k_classes, dim, separation, 1.0, seed)
}

fn gaussians(n: usize, k: usize, dim: usize, separation: f64, std: f64, seed: u64) -> Result<Dataset<f64>> {
    check_k(k)?;
    check_dim(dim)?;
    check_n(n, k)?;
    check_noise("separation", separation)?;
    check_noise("noise", std)?;
    let mut rng = Rng::new(seed);
    let s = separation / (2.0 * dim as f64).sqrt();
    let means: Vec<Vec<f64>> = (0..k).map(|_| (0..dim).map(|_| s * rng.normal()).collect()).collect();
    let mut b = Builder::new(n, k, dim)?;
    let mut row = vec![0.0; dim];
    for (c, m) in per_class(n, k) {
        for _ in 0..m {
            for (r, &mu) in row.iter_mut().zip(&means[c]) {
                *r = mu + std * rng.normal();
            }
            b.push(&row, c);
        }
    }
    b.finish("gaussians", &mut rng)
}

/// A toy data set by name (one of [`TOY_NAMES`]), for the command line.
///
/// `noise` and `classes` default per data set; a class count for a data set with a
/// fixed number of classes must be 2 (or absent).
///
/// | name | `noise` means (default) | `classes` (default) | other settings |
/// |---|---|---|---|
/// | `blobs` | cluster standard deviation (1.0) | 3 | 2 features |
/// | `moons` | noise standard deviation (0.1) | 2 only | |
/// | `circles` | noise standard deviation (0.05) | 2 only | factor 0.5 |
/// | `xor` | cluster standard deviation (0.3) | 2 only | |
/// | `spirals` | noise standard deviation (0.05) | 3 | |
/// | `gaussians` | within-class standard deviation (1.0) | 5 | 20 features, means ≈ 2 apart |
pub fn by_name(name: &str, n: usize, noise: Option<f64>, classes: Option<usize>, seed: u64) -> Result<Dataset<f64>> {
    let two_only = |what: &str| -> Result<()> {
        match classes {
            None | Some(2) => Ok(()),
            Some(k) => Err(Error::hyper(
                "classes",
                k,
                format!("the {what} data set has exactly 2 classes"),
            )),
        }
    };
    match name.to_ascii_lowercase().as_str() {
        "blobs" => blobs(n, classes.unwrap_or(3), 2, noise.unwrap_or(1.0), seed),
        "moons" => {
            two_only("moons")?;
            moons(n, noise.unwrap_or(0.1), seed)
        }
        "circles" => {
            two_only("circles")?;
            circles(n, noise.unwrap_or(0.05), 0.5, seed)
        }
        "xor" => {
            two_only("xor")?;
            xor(n, noise.unwrap_or(0.3), seed)
        }
        "spirals" => spirals(n, classes.unwrap_or(3), noise.unwrap_or(0.05), seed),
        "gaussians" | "gaussians_overlap" => gaussians(n, classes.unwrap_or(5), 20, 2.0, noise.unwrap_or(1.0), seed),
        _ => Err(Error::hyper(
            "dataset",
            name,
            format!("unknown toy data set; expected one of: {}", TOY_NAMES.join(", ")),
        )),
    }
}
