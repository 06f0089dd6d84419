//! The training objective: loss and gradient sums over a set of rows, fused and parallel.
//!
//! This is the oracle an embedding program can drive with its own optimizer. With
//! `scale = 1` it returns the *sums* `Σᵢ ℓᵢ`, `Xᵀ(P − Y)` and `1ᵀ(P − Y)`, so shards of rows
//! evaluated by several workers or processes add up to the whole. `scale = 1/N` gives the
//! mean gradient of the seed's `δ = (ŷ − y)/N` directly.
//!
//! Rows are walked in fixed-size blocks; consecutive blocks form shards, one partial
//! gradient per shard; shards run on rayon workers and are reduced in shard order. The
//! partition depends only on the shape (rows, features, classes, precision), never on the
//! thread count, so the result is bit-identical for any number of threads.

use rayon::prelude::*;

use crate::error::{Error, Result, checked_size};
use crate::float::Float;
use crate::kernels::{self, Plan};
use crate::matrix::MatRef;

/// Upper bound on the number of shards (partial gradients reduced in a fixed order).
pub const MAX_SHARDS: usize = 16;
/// Fewest rows per shard: smaller shards cost more in the reduction than they gain in
/// parallelism (measured on mini-batches of 256 rows: 128 beats 32, 64 and 256).
const MIN_SHARD_ROWS: usize = 128;
/// Memory budget for all per-shard partial gradients together, in bytes.
const SHARD_GRADIENT_BUDGET: usize = 64 << 20;
/// Target size of one row block of X, in bytes (it should stay in L2 between the two GEMMs).
const BLOCK_BYTES: usize = 192 << 10;
/// Target size of one row block on the GEMM path (large class counts).
const GEMM_BLOCK_BYTES: usize = 2 << 20;

/// How rows are cut into blocks and blocks into shards. A pure function of the shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// Rows per block (the last block may be shorter).
    pub block_rows: usize,
    /// Number of blocks.
    pub n_blocks: usize,
    /// Number of shards.
    pub n_shards: usize,
}

impl Partition {
    /// The partition for `rows` rows of `d` features and `t` classes of element type `T`.
    pub fn new<T: Float>(rows: usize, d: usize, t: usize) -> Self {
        let (cache_rows, want) = Self::limits::<T>(rows, d, t);
        // Blocks small enough for `want` shards: a mini-batch of a few hundred rows still
        // splits between threads even when one cache-sized block would hold it.
        let per_shard = rows.div_ceil(want);
        // With at most two shards of rows longer than 1 KiB, two blocks per shard (the
        // class-split steps of 20000×2000×100 at batch 256 have run 64-row blocks since
        // stop 11; 128-row blocks measured 1.036× and 0.997×, noise). Short rows keep one
        // block per shard: on an Intel Xeon VM two blocks had measured 0.90× at
        // 500000×64×8, batch 256 (a thread then made the next step's far row requests,
        // which each block's backward pass issues, in two bursts), but on the Zen 4 host
        // one block per shard is faster: 0.976× and 0.934×, 6 interleaved pairs each.
        let short = d.saturating_mul(std::mem::size_of::<T>()) <= crate::kernels::SHORT_ROW_BYTES;
        let per_block = if want <= 2 && !short {
            per_shard.div_ceil(2)
        } else {
            per_shard
        };
        let widest = cache_rows.min(per_block.next_multiple_of(16)).max(16);
        // Shards are runs of whole blocks, so blocks that do not divide a shard's share
        // unbalance the shards (256 rows of 784 features in 48-row blocks: shards of 144
        // and 112 rows, and the step waits for the larger). Take the widest block (a
        // multiple of 16 rows) whose largest shard stays within 1/16 of the even share, or
        // else the widest with the smallest largest shard.
        let largest = |b: usize| {
            let n_blocks = rows.div_ceil(b);
            n_blocks.div_ceil(n_blocks.min(want).max(1)) * b
        };
        let mut block_rows = widest;
        let mut best = largest(widest);
        for b in (16..=widest).rev().step_by(16) {
            let l = largest(b);
            if l < best {
                (block_rows, best) = (b, l);
            }
            if best <= per_shard + per_shard / 16 {
                break;
            }
        }
        let n_blocks = rows.div_ceil(block_rows);
        let n_shards = n_blocks.min(want).max(1);
        Partition {
            block_rows,
            n_blocks,
            n_shards,
        }
    }

    /// Buffer sizes that serve every partition of at most `max_rows` rows: the most rows
    /// per block and the most shards.
    pub fn capacity<T: Float>(max_rows: usize, d: usize, t: usize) -> (usize, usize) {
        Self::limits::<T>(max_rows, d, t)
    }

    /// Rows per cache-sized block, and the shards wanted for `rows` rows (never fewer
    /// for more rows).
    fn limits<T: Float>(rows: usize, d: usize, t: usize) -> (usize, usize) {
        let elem = std::mem::size_of::<T>();
        // Above the fused kernels' class range the GEMM packs W for every block: larger
        // blocks amortise that packing (measured on 20000×2000×100).
        let cache_rows = if t > crate::kernels::FUSED_MAX_CLASSES {
            (GEMM_BLOCK_BYTES / (d.max(1) * elem)).clamp(64, 1024) / 16 * 16
        } else {
            (BLOCK_BYTES / (d.max(1) * elem)).clamp(16, 512) / 16 * 16
        };
        let per_shard = d.saturating_mul(t).saturating_add(t).saturating_mul(elem).max(1);
        let by_memory = (SHARD_GRADIENT_BUDGET / per_shard).max(1);
        let want = (rows / MIN_SHARD_ROWS).min(MAX_SHARDS).min(by_memory).max(1);
        (cache_rows, want)
    }

    /// The blocks of shard `s`: `start..end` block indices.
    pub fn shard_blocks(&self, s: usize) -> std::ops::Range<usize> {
        let lo = s * self.n_blocks / self.n_shards;
        let hi = (s + 1) * self.n_blocks / self.n_shards;
        lo..hi
    }
}

#[derive(Debug, Clone)]
struct Shard<T> {
    z: Vec<T>,
    xg: Vec<T>,
    yg: Vec<u32>,
    gw: Vec<T>,
    gb: Vec<T>,
    loss: f64,
}

/// Buffers for [`loss_and_grad`], sized once for at most `max_rows` rows: nothing is
/// allocated per call.
#[derive(Debug, Clone)]
pub struct Workspace<T> {
    d: usize,
    t: usize,
    max_rows: usize,
    gather: bool,
    wt: Vec<T>,
    shards: Vec<Shard<T>>,
}

impl<T: Float> Workspace<T> {
    /// A workspace for calls over at most `max_rows` rows of `d` features and `t` classes.
    /// `gather` reserves per-shard buffers for calls that pass a row subset (mini-batches).
    pub fn new(max_rows: usize, d: usize, t: usize, gather: bool) -> Result<Self> {
        let (block_rows, n_shards) = Partition::capacity::<T>(max_rows, d, t);
        let zlen = checked_size(block_rows, t, "block logits")?;
        let xlen = if gather {
            checked_size(block_rows, d, "block rows")?
        } else {
            0
        };
        // Room for either layout: d×t (gemm plan) or t×dp (fused plan, dp ≥ d padded).
        let dp = d.div_ceil(T::LANES) * T::LANES;
        let glen = checked_size(dp, t, "gradient")?;
        let shard = Shard {
            z: vec![T::ZERO; zlen],
            xg: vec![T::ZERO; xlen],
            yg: vec![0; if gather { block_rows } else { 0 }],
            gw: vec![T::ZERO; glen],
            gb: vec![T::ZERO; t],
            loss: 0.0,
        };
        Ok(Workspace {
            d,
            t,
            max_rows,
            gather,
            wt: vec![T::ZERO; glen],
            shards: vec![shard; n_shards],
        })
    }

    /// The shape this workspace serves: `(max_rows, d, t)`.
    pub fn shape(&self) -> (usize, usize, usize) {
        (self.max_rows, self.d, self.t)
    }
}

/// Loss and gradient over the rows of `x` (or the subset `rows` of it), fused and parallel.
///
/// Writes `grad_w = scale·Xᵀ(P − Y)` (d×t, row-major) and `grad_b = scale·1ᵀ(P − Y)`;
/// returns `Σᵢ (logsumexp(zᵢ) − zᵢ,yᵢ)` over the rows, in f64 (not scaled).
///
/// `w` is d×t, `b` has t entries, `labels` holds one class per row of `x` (all of `x`,
/// also when `rows` selects a subset). Errors on any shape mismatch, a label ≥ t, a row
/// index out of range, or more rows than the workspace was sized for.
#[allow(clippy::too_many_arguments)]
pub fn loss_and_grad<T: Float>(
    w: MatRef<'_, T>,
    b: &[T],
    x: MatRef<'_, T>,
    labels: &[u32],
    rows: Option<&[u32]>,
    scale: T,
    ws: &mut Workspace<T>,
    grad_w: &mut [T],
    grad_b: &mut [T],
) -> Result<f64> {
    let (n, d) = x.shape();
    let t = w.cols();
    let ctx = "loss_and_grad";
    if w.rows() != d {
        return Err(Error::shape(
            ctx,
            format!("W with {d} rows (features of X)"),
            format!("W {}×{}", w.rows(), t),
        ));
    }
    if b.len() != t || grad_b.len() != t {
        return Err(Error::shape(
            ctx,
            format!("b and grad_b of length {t}"),
            format!("{} and {}", b.len(), grad_b.len()),
        ));
    }
    if grad_w.len() != d * t {
        return Err(Error::shape(
            ctx,
            format!("grad_w of {d}×{t}"),
            format!("{} elements", grad_w.len()),
        ));
    }
    if labels.len() != n {
        return Err(Error::shape(
            ctx,
            format!("{n} labels (rows of X)"),
            format!("{} labels", labels.len()),
        ));
    }
    if (ws.d, ws.t) != (d, t) {
        return Err(Error::shape(
            "workspace",
            format!("d={d}, t={t}"),
            format!("d={}, t={}", ws.d, ws.t),
        ));
    }
    if let Some((row, &l)) = labels.iter().enumerate().find(|&(_, &l)| l as usize >= t) {
        return Err(Error::LabelOutOfRange {
            row,
            label: l as u64,
            n_classes: t,
        });
    }
    let m = match rows {
        Some(r) => {
            if !ws.gather {
                return Err(Error::shape(
                    "workspace",
                    "a workspace made with gather = true",
                    "gather = false",
                ));
            }
            if let Some((i, &ri)) = r.iter().enumerate().find(|&(_, &ri)| ri as usize >= n) {
                return Err(Error::shape(
                    ctx,
                    format!("row indices below {n}"),
                    format!("rows[{i}] = {ri}"),
                ));
            }
            r.len()
        }
        None => n,
    };
    if m > ws.max_rows {
        return Err(Error::shape(
            "workspace",
            format!("at most {} rows", ws.max_rows),
            format!("{m} rows"),
        ));
    }
    // SAFETY-free fast path below: all shapes are now consistent.
    Ok(loss_and_grad_unchecked(
        w, b, x, labels, rows, scale, ws, grad_w, grad_b,
    ))
}

/// [`loss_and_grad`] without the argument checks: the fit loop validates once per fit.
#[allow(clippy::too_many_arguments)]
pub(crate) fn loss_and_grad_unchecked<T: Float>(
    w: MatRef<'_, T>,
    b: &[T],
    x: MatRef<'_, T>,
    labels: &[u32],
    rows: Option<&[u32]>,
    scale: T,
    ws: &mut Workspace<T>,
    grad_w: &mut [T],
    grad_b: &mut [T],
) -> f64 {
    let d = x.cols();
    let t = w.cols();
    let m = rows.map_or(x.rows(), <[u32]>::len);
    let p = Partition::new::<T>(m, d, t);
    let plan = Plan::new::<T>(d, t);
    let glen = plan.grad_len(d, t);
    if plan.fused {
        // Wᵀ, rows zero-padded to dp: the forward kernel reads whole vectors.
        let dp = plan.dp;
        let wt = &mut ws.wt[..t * dp];
        for j in 0..d {
            for (k, &v) in w.row(j).iter().enumerate() {
                wt[k * dp + j] = v;
            }
        }
        for k in 0..t {
            wt[k * dp + d..(k + 1) * dp].iter_mut().for_each(|v| *v = T::ZERO);
        }
    }
    let wt = &ws.wt[..];
    // The workspace holds shards for its largest call; a smaller call uses the first ones.
    let used = p.n_shards.min(ws.shards.len());
    let shards = &mut ws.shards[..used];
    assert_eq!(shards.len(), p.n_shards, "workspace partition");
    shards.par_iter_mut().enumerate().for_each(|(s, sh)| {
        sh.gw[..glen].iter_mut().for_each(|v| *v = T::ZERO);
        sh.gb.iter_mut().for_each(|v| *v = T::ZERO);
        let mut loss = 0.0;
        for blk in p.shard_blocks(s) {
            let lo = blk * p.block_rows;
            let hi = (lo + p.block_rows).min(m);
            loss += match rows {
                None => kernels::block_loss_grad(
                    &plan,
                    x.slice_rows(lo, hi),
                    w,
                    wt,
                    b,
                    &labels[lo..hi],
                    scale,
                    &mut sh.z,
                    &mut sh.gw,
                    &mut sh.gb,
                ),
                Some(r) => {
                    let idx = &r[lo..hi];
                    let k = hi - lo;
                    for (j, &ri) in idx.iter().enumerate() {
                        sh.yg[j] = labels[ri as usize];
                    }
                    if plan.fused {
                        // The fused kernels read the batch's rows of X in place.
                        loss += kernels::block_loss_grad_rows(
                            &plan,
                            x,
                            idx,
                            w,
                            wt,
                            b,
                            &sh.yg[..k],
                            scale,
                            &mut sh.z,
                            &mut sh.gw,
                            &mut sh.gb,
                        );
                        continue;
                    }
                    for (j, &ri) in idx.iter().enumerate() {
                        sh.xg[j * d..(j + 1) * d].copy_from_slice(x.row(ri as usize));
                    }
                    let xb = MatRef::new(&sh.xg[..k * d], k, d, d).expect("gather buffer sized by the workspace");
                    kernels::block_loss_grad(
                        &plan,
                        xb,
                        w,
                        wt,
                        b,
                        &sh.yg[..k],
                        scale,
                        &mut sh.z,
                        &mut sh.gw,
                        &mut sh.gb,
                    )
                }
            };
        }
        sh.loss = loss;
    });
    // Fixed-order reduction: element-wise over shards 0, 1, 2, ... whatever ran where.
    let shards = &*shards;
    if plan.fused {
        // Shards hold Gᵀ (t × dp): reduce and transpose, row j of G from column j of Gᵀ.
        let dp = plan.dp;
        let reduce = |(c, out): (usize, &mut [T])| {
            for (jj, orow) in out.chunks_exact_mut(t).enumerate() {
                let j = c * 64 + jj;
                for (k, o) in orow.iter_mut().enumerate() {
                    let mut acc = shards[0].gw[k * dp + j];
                    for sh in &shards[1..] {
                        acc += sh.gw[k * dp + j];
                    }
                    *o = acc;
                }
            }
        };
        reduce_chunks(grad_w, t * 64, shards.len(), reduce);
    } else {
        reduce_plain(shards, grad_w);
    }
    grad_b.copy_from_slice(&shards[0].gb);
    for sh in &shards[1..] {
        for (o, &v) in grad_b.iter_mut().zip(&sh.gb) {
            *o += v;
        }
    }
    shards.iter().map(|s| s.loss).sum()
}

/// Element-wise sum of the shards' d×t gradients, in shard order.
fn reduce_plain<T: Float>(shards: &[Shard<T>], grad_w: &mut [T]) {
    const CHUNK: usize = 4096;
    let reduce = |(c, out): (usize, &mut [T])| {
        let off = c * CHUNK;
        let len = out.len();
        out.copy_from_slice(&shards[0].gw[off..off + len]);
        for sh in &shards[1..] {
            for (o, &v) in out.iter_mut().zip(&sh.gw[off..off + len]) {
                *o += v;
            }
        }
    };
    reduce_chunks(grad_w, CHUNK, shards.len(), reduce);
}

/// Below this many additions the shard reduction runs on the calling thread.
const SEQUENTIAL_REDUCE: usize = 1 << 18;

/// Runs `reduce` on each `(index, chunk)` of `grad_w`, a reduction over `n_shards` shards:
/// small ones (mini-batch steps) on this thread, since waking the pool costs more than the
/// adds; large ones on the pool. Either way each element is summed in shard order.
fn reduce_chunks<T: Float>(
    grad_w: &mut [T],
    chunk: usize,
    n_shards: usize,
    reduce: impl Fn((usize, &mut [T])) + Sync + Send,
) {
    if grad_w.len() * n_shards < SEQUENTIAL_REDUCE {
        grad_w.chunks_mut(chunk).enumerate().for_each(reduce);
    } else {
        grad_w.par_chunks_mut(chunk).enumerate().for_each(reduce);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of shard `s` of a partition of `rows` rows.
    fn shard_rows(p: &Partition, rows: usize, s: usize) -> usize {
        let b = p.shard_blocks(s);
        (b.end * p.block_rows).min(rows) - (b.start * p.block_rows).min(rows)
    }

    #[test]
    fn shards_share_the_rows_evenly_and_cover_them_once() {
        // (rows, features, classes): mini-batches of long rows, where 48-row blocks once
        // made shards of 144 and 112 rows, and full batches.
        for &(rows, d, t) in &[
            (256usize, 784usize, 10usize),
            (1024, 784, 10),
            (600, 20, 5),
            (256, 64, 8),
            (333, 40, 7),
            (1000, 2000, 100),
            (60000, 784, 10),
            (500000, 64, 8),
            (20000, 2000, 100),
            (7, 3, 3),
        ] {
            let p = Partition::new::<f32>(rows, d, t);
            let per_shard = rows.div_ceil(p.n_shards);
            let sizes: Vec<usize> = (0..p.n_shards).map(|s| shard_rows(&p, rows, s)).collect();
            assert_eq!(sizes.iter().sum::<usize>(), rows, "{rows}×{d}×{t}: {p:?}");
            assert_eq!(p.shard_blocks(p.n_shards - 1).end, p.n_blocks, "{rows}×{d}×{t}: {p:?}");
            let largest = *sizes.iter().max().unwrap();
            // Within 1/16 of the even share, or one 16-row group of it (blocks come in
            // multiples of 16 rows).
            let slack = (per_shard / 16).max(16);
            assert!(largest <= per_shard + slack, "{rows}×{d}×{t}: shards {sizes:?} ({p:?})");
            if (rows, d) == (256, 784) {
                assert_eq!(sizes, [128, 128], "{p:?}");
            }
            let (cap_rows, cap_shards) = Partition::capacity::<f32>(rows, d, t);
            assert!(
                p.block_rows <= cap_rows && p.n_shards <= cap_shards,
                "{rows}×{d}×{t}: {p:?}"
            );
            assert_eq!(p.block_rows % 16, 0);
        }
    }
}
