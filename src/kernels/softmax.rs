//! Row-wise softmax kernels: the fused softmax + loss + δ pass, and plain softmax.
//!
//! Each SIMD kernel has a scalar twin (`*_scalar`) that the tests use as the oracle.
//! Rows are `t` contiguous logits; the SIMD kernels vectorise across the classes of a row
//! with `wide` (8 lanes for f32, 4 for f64) and finish the tail in scalar code.

use crate::float::Float;
use wide::{f32x8, f64x4};

/// Fused pass over `rows = labels.len()` rows of `z` (row-major, `t` columns).
///
/// For every row: `z += bias`; `m = max z`; `s = Σ exp(z − m)`;
/// `loss += ln s + m − z[y]`; `z ← (exp(z − m)/s − onehot(y))·scale`; `gb += z`.
/// Returns the loss sum over the rows (accumulated in f64). `z` becomes `δ` in place.
///
/// # Panics
/// When `z.len() != labels.len()·t`, `bias.len() != t`, `gb.len() != t`, or a label ≥ t.
pub fn softmax_delta<T: Float>(z: &mut [T], t: usize, bias: &[T], labels: &[u32], scale: T, gb: &mut [T]) -> f64 {
    T::softmax_delta_simd(z, t, bias, labels, scale, gb)
}

/// The scalar twin of [`softmax_delta`]: the same contract, computed plainly.
pub fn softmax_delta_scalar<T: Float>(
    z: &mut [T],
    t: usize,
    bias: &[T],
    labels: &[u32],
    scale: T,
    gb: &mut [T],
) -> f64 {
    check(z.len(), t, bias.len(), labels.len());
    assert_eq!(gb.len(), t, "softmax_delta: bias gradient length");
    let mut loss = 0.0f64;
    for (row, &y) in z.chunks_exact_mut(t.max(1)).zip(labels) {
        let y = y as usize;
        assert!(y < t, "label {y} out of range for {t} classes");
        let mut m = T::from_f64(f64::NEG_INFINITY);
        for (v, &bb) in row.iter_mut().zip(bias) {
            *v += bb;
            m = m.max(*v);
        }
        let zy = row[y];
        let mut s = T::ZERO;
        for v in row.iter_mut() {
            *v = (*v - m).exp();
            s += *v;
        }
        loss += (s.ln() + m - zy).to_f64();
        let inv = T::ONE / s;
        for (k, v) in row.iter_mut().enumerate() {
            let p = *v * inv;
            *v = (if k == y { p - T::ONE } else { p }) * scale;
            gb[k] += *v;
        }
    }
    loss
}

/// The fused pass over a **transposed** block: `zt` is Zᵀ (`t × rows`, row stride `rows`),
/// so element `(i, k)` lives at `zt[k·rows + i]`. Same contract as [`softmax_delta`]
/// otherwise; `zt` becomes δᵀ. The scalar twin of the x86 kernels' vectorised pass.
///
/// # Panics
/// When `zt.len() < t·rows`, `labels.len() != rows`, a label ≥ t, or bias/gb lengths ≠ t.
pub fn softmax_delta_cols<T: Float>(
    zt: &mut [T],
    rows: usize,
    t: usize,
    bias: &[T],
    labels: &[u32],
    scale: T,
    gb: &mut [T],
) -> f64 {
    softmax_delta_cols_range(zt, rows, 0, t, bias, labels, scale, gb)
}

/// [`softmax_delta_cols`] for rows `start..rows` only.
#[allow(clippy::too_many_arguments)]
pub(crate) fn softmax_delta_cols_range<T: Float>(
    zt: &mut [T],
    rows: usize,
    start: usize,
    t: usize,
    bias: &[T],
    labels: &[u32],
    scale: T,
    gb: &mut [T],
) -> f64 {
    assert!(zt.len() >= t * rows && labels.len() == rows && bias.len() == t && gb.len() == t);
    let mut loss = 0.0f64;
    for i in start..rows {
        let y = labels[i] as usize;
        assert!(y < t, "label {y} out of range for {t} classes");
        let mut m = T::from_f64(f64::NEG_INFINITY);
        for k in 0..t {
            let v = &mut zt[k * rows + i];
            *v += bias[k];
            m = m.max(*v);
        }
        let zy = zt[y * rows + i];
        let mut s = T::ZERO;
        for k in 0..t {
            let v = &mut zt[k * rows + i];
            *v = (*v - m).exp();
            s += *v;
        }
        loss += (s.ln() + m - zy).to_f64();
        let inv = T::ONE / s;
        for k in 0..t {
            let v = &mut zt[k * rows + i];
            let p = *v * inv;
            *v = (if k == y { p - T::ONE } else { p }) * scale;
            gb[k] += *v;
        }
    }
    loss
}

/// Softmax in place over each row of `z` after adding `bias`: rows become probabilities.
pub fn softmax_rows<T: Float>(z: &mut [T], t: usize, bias: &[T]) {
    check(z.len(), t, bias.len(), z.len() / t.max(1));
    for row in z.chunks_exact_mut(t.max(1)) {
        let mut m = T::from_f64(f64::NEG_INFINITY);
        for (v, &bb) in row.iter_mut().zip(bias) {
            *v += bb;
            m = m.max(*v);
        }
        let mut s = T::ZERO;
        for v in row.iter_mut() {
            *v = (*v - m).exp();
            s += *v;
        }
        let inv = T::ONE / s;
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

/// Cross-entropy sum `Σᵢ (logsumexp(zᵢ + b) − (zᵢ + b)[yᵢ])` without forming δ (`z` is
/// left with the bias added).
pub fn loss_rows<T: Float>(z: &mut [T], t: usize, bias: &[T], labels: &[u32]) -> f64 {
    check(z.len(), t, bias.len(), labels.len());
    let mut loss = 0.0f64;
    for (row, &y) in z.chunks_exact_mut(t.max(1)).zip(labels) {
        let y = y as usize;
        assert!(y < t, "label {y} out of range for {t} classes");
        let mut m = T::from_f64(f64::NEG_INFINITY);
        for (v, &bb) in row.iter_mut().zip(bias) {
            *v += bb;
            m = m.max(*v);
        }
        let s: T = row.iter().map(|&v| (v - m).exp()).sum();
        loss += (s.ln() + m - row[y]).to_f64();
    }
    loss
}

fn check(zlen: usize, t: usize, blen: usize, rows: usize) {
    assert_eq!(blen, t, "softmax: bias length must equal the class count");
    assert_eq!(zlen, rows * t, "softmax: z must hold rows × t values");
}

macro_rules! simd_softmax_delta {
    ($name:ident, $t:ty, $v:ty, $lanes:expr) => {
        pub(crate) fn $name(z: &mut [$t], t: usize, bias: &[$t], labels: &[u32], scale: $t, gb: &mut [$t]) -> f64 {
            const L: usize = $lanes;
            if t < L {
                return softmax_delta_scalar(z, t, bias, labels, scale, gb);
            }
            check(z.len(), t, bias.len(), labels.len());
            assert_eq!(gb.len(), t, "softmax_delta: bias gradient length");
            let body = t - t % L;
            let mut loss = 0.0f64;
            for (row, &y) in z.chunks_exact_mut(t).zip(labels) {
                let y = y as usize;
                assert!(y < t, "label {y} out of range for {t} classes");
                // z += b; m = max z
                let mut vmax = <$v>::splat(<$t>::NEG_INFINITY);
                for c in (0..body).step_by(L) {
                    let v = <$v>::from(<[$t; L]>::try_from(&row[c..c + L]).unwrap())
                        + <$v>::from(<[$t; L]>::try_from(&bias[c..c + L]).unwrap());
                    row[c..c + L].copy_from_slice(&v.to_array());
                    vmax = vmax.max(v);
                }
                let mut m = vmax
                    .to_array()
                    .iter()
                    .copied()
                    .fold(<$t>::NEG_INFINITY, <$t>::max);
                for c in body..t {
                    row[c] += bias[c];
                    m = m.max(row[c]);
                }
                let zy = row[y];
                // e = exp(z − m); s = Σ e
                let vm = <$v>::splat(m);
                let mut vs = <$v>::splat(0.0);
                for c in (0..body).step_by(L) {
                    let e = (<$v>::from(<[$t; L]>::try_from(&row[c..c + L]).unwrap()) - vm).exp();
                    row[c..c + L].copy_from_slice(&e.to_array());
                    vs += e;
                }
                let mut s: $t = vs.reduce_add();
                for v in &mut row[body..] {
                    *v = (*v - m).exp();
                    s += *v;
                }
                loss += (s.ln() + m - zy) as f64;
                // δ = (e/s − onehot)·scale; gb += δ
                let f = scale / s;
                let vf = <$v>::splat(f);
                for c in (0..body).step_by(L) {
                    let d = <$v>::from(<[$t; L]>::try_from(&row[c..c + L]).unwrap()) * vf;
                    row[c..c + L].copy_from_slice(&d.to_array());
                    let g = <$v>::from(<[$t; L]>::try_from(&gb[c..c + L]).unwrap()) + d;
                    gb[c..c + L].copy_from_slice(&g.to_array());
                }
                for c in body..t {
                    row[c] *= f;
                    gb[c] += row[c];
                }
                row[y] -= scale;
                gb[y] -= scale;
            }
            loss
        }
    };
}

simd_softmax_delta!(softmax_delta_f32, f32, f32x8, 8);
simd_softmax_delta!(softmax_delta_f64, f64, f64x4, 4);

macro_rules! simd_exp_sub {
    ($name:ident, $t:ty, $v:ty, $lanes:expr) => {
        /// `v[i] = exp(v[i] − m[i])`, `wide` vectors with a scalar tail.
        pub(crate) fn $name(v: &mut [$t], m: &[$t]) {
            const L: usize = $lanes;
            assert_eq!(v.len(), m.len(), "exp_sub: lengths");
            let body = v.len() - v.len() % L;
            for (c, mc) in v[..body].chunks_exact_mut(L).zip(m[..body].chunks_exact(L)) {
                let e = (<$v>::from(<[$t; L]>::try_from(&*c).unwrap()) - <$v>::from(<[$t; L]>::try_from(mc).unwrap()))
                    .exp();
                c.copy_from_slice(&e.to_array());
            }
            for (x, &mi) in v[body..].iter_mut().zip(&m[body..]) {
                *x = (*x - mi).exp();
            }
        }
    };
}

simd_exp_sub!(exp_sub_f32, f32, f32x8, 8);
simd_exp_sub!(exp_sub_f64, f64, f64x4, 4);

/// Class-split softmax, pass 1, on one block of `Zᵀ` for the classes `k0..k0 + tg`
/// (`tg × rows`, row stride `rows`): adds the group's biases, writes each row's group
/// maximum `pm[i]`, replaces each logit by `exp(z − pm[i])`, writes the group sum `ps[i]`,
/// and, for rows whose label is in the group, the biased logit of the label in `zy[i]`.
///
/// # Panics
/// When the buffers do not match the shapes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn split_stats<T: Float>(
    zt: &mut [T],
    rows: usize,
    k0: usize,
    tg: usize,
    bias: &[T],
    labels: &[u32],
    pm: &mut [T],
    ps: &mut [T],
    zy: &mut [T],
) {
    assert!(zt.len() >= tg * rows && bias.len() == tg && labels.len() == rows);
    assert!(pm.len() == rows && ps.len() == rows && zy.len() == rows);
    pm.iter_mut().for_each(|v| *v = T::from_f64(f64::NEG_INFINITY));
    for (k, row) in zt.chunks_exact_mut(rows).take(tg).enumerate() {
        let b = bias[k];
        for (v, m) in row.iter_mut().zip(pm.iter_mut()) {
            *v += b;
            *m = m.max(*v);
        }
    }
    for (i, &y) in labels.iter().enumerate() {
        let y = y as usize;
        if (k0..k0 + tg).contains(&y) {
            zy[i] = zt[(y - k0) * rows + i];
        }
    }
    ps.iter_mut().for_each(|v| *v = T::ZERO);
    for row in zt.chunks_exact_mut(rows).take(tg) {
        T::exp_sub(row, pm);
        for (s, &e) in ps.iter_mut().zip(row.iter()) {
            *s += e;
        }
    }
}

/// Class-split softmax, pass 2: with `f[i] = scale·exp(pm[i] − M[i]) / S[i]` (the row's
/// factor from its group statistics to the whole softmax), turns the exponentials of
/// [`split_stats`] into `δ = (p − onehot)·scale` in place and adds each class's `δ` sum to
/// `gb`.
///
/// # Panics
/// When the buffers do not match the shapes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn split_delta<T: Float>(
    zt: &mut [T],
    rows: usize,
    k0: usize,
    tg: usize,
    labels: &[u32],
    f: &[T],
    scale: T,
    gb: &mut [T],
) {
    assert!(zt.len() >= tg * rows && labels.len() == rows && f.len() == rows && gb.len() == tg);
    for (k, row) in zt.chunks_exact_mut(rows).take(tg).enumerate() {
        let class = (k0 + k) as u32;
        let mut acc = T::ZERO;
        for ((v, &fi), &y) in row.iter_mut().zip(f).zip(labels) {
            let hot = if y == class { scale } else { T::ZERO };
            *v = *v * fi - hot;
            acc += *v;
        }
        gb[k] += acc;
    }
}
