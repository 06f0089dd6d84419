//! The fit loop's step engine: parameters kept in the kernels' layout for the whole fit,
//! double-buffered, and one [`Team`] running each step's two phases.
//!
//! A step is (1) the loss and partial gradients of the current parameters, one task per
//! shard of the batch ([`Partition`]), then (2) the update, one task per chunk of the
//! parameter vector: `next = cur − lr·(G₀ + G₁ + …)`, the shard gradients summed in shard
//! order. Both phases are a pure function of the shape, so the result is bit-identical for
//! any number of threads. The update writes the other buffer, so the parameters before
//! the step stay available when the step diverges.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Result, checked_size};
use crate::float::Float;
use crate::kernels::{self, Plan};
use crate::matrix::{MatRef, Matrix};
use crate::train::objective::Partition;
use crate::train::team::{Shared, Team};

/// Parameters per update task: large enough to amortise a claim, small enough to share
/// the update of a mini-batch step between threads.
const UPDATE_CHUNK: usize = 2048;
/// Bytes of a mini-batch shard's first rows prefetched before its first block.
const PREFETCH_BYTES: usize = 16 << 10;

struct ShardBuf<T> {
    z: Vec<T>,
    xg: Vec<T>,
    yg: Vec<u32>,
    /// The shard's gradient: `plen` weights in the plan's layout, then `t` biases.
    g: Vec<T>,
    loss: f64,
}

/// Training state for one fit over `x` (see the module docs).
pub(crate) struct Engine<'a, T> {
    plan: Plan,
    x: MatRef<'a, T>,
    labels: &'a [u32],
    t: usize,
    /// Weights in the plan's layout (`Wᵀ`, `t × dp`, or `W`, `d × t`).
    plen: usize,
    /// Two parameter vectors (`plen` weights, then `t` biases): current and previous.
    params: [Vec<T>; 2],
    cur: usize,
    shards: Vec<ShardBuf<T>>,
}

impl<'a, T: Float> Engine<'a, T> {
    /// An engine for steps of at most `max_rows` rows of `x`, starting from `w` (d×t) and
    /// `b`. `gather` reserves per-shard buffers for row subsets on the gemm plan.
    pub(crate) fn new(x: MatRef<'a, T>, labels: &'a [u32], w: &Matrix<T>, b: &[T], max_rows: usize) -> Result<Self> {
        let (d, t) = (w.rows(), w.cols());
        let plan = Plan::new::<T>(d, t);
        let plen = checked_size(if plan.fused { plan.dp } else { d }, t, "gradient")?;
        let mut p0 = vec![T::ZERO; plen + t];
        store(&plan, &mut p0, w, b);
        let (block_rows, n_shards) = Partition::capacity::<T>(max_rows, d, t);
        let gather = max_rows < x.rows() && !plan.fused;
        let shard = || -> Result<ShardBuf<T>> {
            Ok(ShardBuf {
                z: vec![T::ZERO; checked_size(block_rows, t, "block logits")?],
                xg: vec![
                    T::ZERO;
                    if gather {
                        checked_size(block_rows, d, "block rows")?
                    } else {
                        0
                    }
                ],
                yg: vec![0; if max_rows < x.rows() { block_rows } else { 0 }],
                g: vec![T::ZERO; plen + t],
                loss: 0.0,
            })
        };
        let shards = (0..n_shards).map(|_| shard()).collect::<Result<Vec<_>>>()?;
        Ok(Engine {
            plan,
            x,
            labels,
            t,
            plen,
            params: [p0.clone(), p0],
            cur: 0,
            shards,
        })
    }

    /// The most tasks one phase can have: for sizing the team.
    pub(crate) fn max_tasks(&self) -> usize {
        self.shards.len().max((self.plen + self.t).div_ceil(UPDATE_CHUNK))
    }

    /// The plan the kernels run.
    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Phase 1: the loss sum of the current parameters over `rows` (all rows when `None`)
    /// and the shards' gradients of the mean loss.
    pub(crate) fn loss_grad(&mut self, team: &Team, rows: Option<&[u32]>) -> f64 {
        let x = self.x;
        let (d, t, plen) = (x.cols(), self.t, self.plen);
        let m = rows.map_or(x.rows(), <[u32]>::len);
        let p = Partition::new::<T>(m, d, t);
        let scale = T::ONE / T::from_usize(m);
        let plan = self.plan;
        let labels = self.labels;
        let (wp, bp) = self.params[self.cur].split_at(plen);
        assert!(p.n_shards <= self.shards.len(), "engine sized for fewer rows");
        let shards = Shared::new(&mut self.shards[..p.n_shards]);
        team.run(p.n_shards, &|s| {
            // SAFETY: task s is the only one touching shard s in this job.
            let sh = unsafe { shards.get_mut(s) };
            let (gw, gb) = sh.g.split_at_mut(plen);
            gb.iter_mut().for_each(|v| *v = T::ZERO);
            let mut loss = 0.0;
            let blocks = p.shard_blocks(s);
            let shard_end = (blocks.end * p.block_rows).min(m);
            if let (Some(r), true) = (rows, plan.fused) {
                // Start the shard's first rows on their way; the kernel then keeps about
                // 16 KiB of rows in flight ahead of itself.
                kernels::prefetch_rows(x, &r[(blocks.start * p.block_rows).min(m)..shard_end], PREFETCH_BYTES);
            }
            let first = blocks.start;
            for blk in blocks {
                let overwrite = blk == first;
                let lo = blk * p.block_rows;
                let hi = (lo + p.block_rows).min(m);
                loss += match rows {
                    None => kernels::block_step(
                        &plan,
                        x.slice_rows(lo, hi),
                        None,
                        wp,
                        t,
                        bp,
                        &labels[lo..hi],
                        scale,
                        &mut sh.z,
                        gw,
                        gb,
                        overwrite,
                    ),
                    Some(r) => {
                        let idx = &r[lo..hi];
                        let k = hi - lo;
                        for (j, &ri) in idx.iter().enumerate() {
                            sh.yg[j] = labels[ri as usize];
                        }
                        if plan.fused {
                            // The fused kernels read the batch's rows of X in place.
                            let ahead = (&r[lo..shard_end], k);
                            kernels::block_step(
                                &plan,
                                x,
                                Some(ahead),
                                wp,
                                t,
                                bp,
                                &sh.yg[..k],
                                scale,
                                &mut sh.z,
                                gw,
                                gb,
                                overwrite,
                            )
                        } else {
                            for (j, &ri) in idx.iter().enumerate() {
                                sh.xg[j * d..(j + 1) * d].copy_from_slice(x.row(ri as usize));
                            }
                            let xb = MatRef::new(&sh.xg[..k * d], k, d, d).expect("gather buffer sized by the engine");
                            kernels::block_step(
                                &plan,
                                xb,
                                None,
                                wp,
                                t,
                                bp,
                                &sh.yg[..k],
                                scale,
                                &mut sh.z,
                                gw,
                                gb,
                                overwrite,
                            )
                        }
                    }
                };
            }
            sh.loss = loss;
        });
        // Fixed order, whichever thread ran which shard.
        self.shards[..p.n_shards].iter().map(|s| s.loss).sum()
    }

    /// Phase 2: `next = cur − lr·ΣG` over the shards of the last [`Engine::loss_grad`] on
    /// `m` rows. Makes `next` current and returns `true`, or returns `false` (and keeps
    /// the current parameters) when an updated parameter is not finite.
    pub(crate) fn update(&mut self, team: &Team, m: usize, lr: T) -> bool {
        let n_shards = Partition::new::<T>(m, self.x.cols(), self.t).n_shards;
        let len = self.plen + self.t;
        let [p0, p1] = &mut self.params;
        let (cur, next) = if self.cur == 0 { (&*p0, p1) } else { (&*p1, p0) };
        let shards = &self.shards[..n_shards];
        let next = Shared::new(&mut next[..]);
        let bad = AtomicBool::new(false);
        team.run(len.div_ceil(UPDATE_CHUNK), &|c| {
            let lo = c * UPDATE_CHUNK;
            let hi = (lo + UPDATE_CHUNK).min(len);
            // SAFETY: task c is the only one touching elements lo..hi of `next` in this job.
            let out = unsafe { next.range_mut(lo, hi) };
            out.copy_from_slice(&shards[0].g[lo..hi]);
            for sh in &shards[1..] {
                for (o, &g) in out.iter_mut().zip(&sh.g[lo..hi]) {
                    *o += g;
                }
            }
            let mut finite = true;
            for (o, &p) in out.iter_mut().zip(&cur[lo..hi]) {
                let v = p - lr * *o;
                *o = v;
                finite &= v.is_finite();
            }
            if !finite {
                bad.store(true, Ordering::Relaxed);
            }
        });
        if bad.load(Ordering::Relaxed) {
            return false;
        }
        self.cur ^= 1;
        true
    }

    /// Writes the current (`previous = false`) or the previous parameters to `w` and `b`.
    pub(crate) fn write(&self, previous: bool, w: &mut Matrix<T>, b: &mut [T]) {
        let p = &self.params[self.cur ^ usize::from(previous)];
        let (d, t) = (w.rows(), w.cols());
        let (wp, bp) = p.split_at(self.plen);
        if self.plan.fused {
            let dp = self.plan.dp;
            let out = w.as_mut_slice();
            for k in 0..t {
                for j in 0..d {
                    out[j * t + k] = wp[k * dp + j];
                }
            }
        } else {
            w.as_mut_slice().copy_from_slice(&wp[..d * t]);
        }
        b.copy_from_slice(bp);
    }
}

/// `w`, `b` into a parameter vector in the plan's layout (padding zero).
fn store<T: Float>(plan: &Plan, p: &mut [T], w: &Matrix<T>, b: &[T]) {
    let (d, t) = (w.rows(), w.cols());
    let plen = p.len() - t;
    if plan.fused {
        let dp = plan.dp;
        for j in 0..d {
            for (k, &v) in w.row(j).iter().enumerate() {
                p[k * dp + j] = v;
            }
        }
    } else {
        p[..d * t].copy_from_slice(w.as_slice());
    }
    p[plen..].copy_from_slice(b);
}
