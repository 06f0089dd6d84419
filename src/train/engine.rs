//! The fit loop's step engine: parameters kept in the kernels' layout for the whole fit,
//! double-buffered, and one [`Team`] running the steps.
//!
//! A step is (1) the loss and partial gradients of the current parameters, one per shard
//! of the batch ([`Partition`]), then (2) the update `next = cur − lr·(G₀ + G₁ + …)`, the
//! shard gradients summed in shard order (gang epochs: by a fixed tree over the shards,
//! see `Tree`). Both are a pure function of the shape, so the
//! result is bit-identical for any number of threads. The update writes the other buffer,
//! so the parameters before the step stay available when the step diverges.
//!
//! Full batches, and mini-batches on the GEMM or class-split plans, run each phase as a
//! team job ([`Engine::loss_grad`], [`Engine::update`]). Mini-batches on the fused plan run
//! a whole epoch as one gang job ([`Engine::epoch`]): each thread keeps its own copy of the
//! parameters and meets the others once per step.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Result, checked_size};
use crate::float::Float;
use crate::kernels::{self, Plan};
use crate::matrix::{MatRef, Matrix};
use crate::train::objective::Partition;
use crate::train::order::{Places, StepRows};
use crate::train::team::{MAX_GANG, Member, Shared, Team};

/// Parameters per update task: large enough to amortise a claim, small enough to share
/// the update of a mini-batch step between threads.
const UPDATE_CHUNK: usize = 2048;
/// Bytes of a mini-batch shard's first rows prefetched before its first block.
const PREFETCH_BYTES: usize = 16 << 10;

/// The rows of one step: `None` for every row of X, or a batch's row indices and, in the
/// same order, their labels. The index list may run on past the batch (it is longer than
/// the labels): its tail names the rows of the steps that follow, which the fused kernels
/// prefetch (see [`shard_lookahead`] and [`lookahead`]).
pub(crate) type Batch<'b> = Option<(&'b [u32], &'b [u32])>;

/// One shard's buffers. Aligned to two cache lines: shards (and their losses) of a step
/// are written by different threads, which must not share a line.
#[repr(align(128))]
struct ShardBuf<T> {
    z: Vec<T>,
    xg: Vec<T>,
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
    /// Shard buffers: `shard_cap` of them, twice over for gang epochs (one set per step
    /// parity, see [`Engine::epoch`]).
    shards: Vec<ShardBuf<T>>,
    /// The shards' gradients (`plen` weights in the plan's layout, then `t` biases), shard
    /// `i`'s at `grad_ranges()(i)`: each on its own cache lines, at an address known
    /// without reading anything another thread writes.
    grads: Vec<T>,
    /// Where the first gradient starts in `grads` (a 128-byte boundary), and the distance
    /// from one to the next.
    grad_at: usize,
    grad_stride: usize,
    /// The most shards a step has.
    shard_cap: usize,
    /// Class-split state, when the model is split by classes instead of rows.
    split: Option<Split<T>>,
    /// Whether mini-batch epochs run as gang jobs (see [`Engine::gang_epochs`]).
    gang: bool,
    /// Gang epochs (fused row shards on mini-batches, see [`Engine::epoch`]): one lane per
    /// gang member; empty otherwise.
    lanes: Vec<Lane<T>>,
    /// The most rows a step has.
    max_rows: usize,
}

/// A gang member's own state for [`Engine::epoch`] (aligned like [`ShardBuf`]: each
/// member writes its own at every step).
#[repr(align(128))]
struct Lane<T> {
    /// Its copy of the parameters, current and previous (every member's are equal).
    params: [Vec<T>; 2],
    cur: usize,
    /// Sums of shards that span members (see [`Tree::update`]); none for two members.
    scratch: Vec<Vec<T>>,
    /// Its rows and labels of a step, and its rows of the next (see [`Engine::epoch`]):
    /// room for its most places in a step.
    steps: StepRows,
}

/// Why [`Engine::epoch`] stopped before the epoch's end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum StepFault {
    /// Step `step`'s loss sum over its `rows` rows was not finite or exceeded the limit;
    /// the engine's current parameters are those that gave it.
    Loss { step: usize, loss: f64, rows: usize },
    /// An update of step `step` gave a non-finite parameter; the engine's current
    /// parameters are those before it.
    Weights { step: usize },
}

/// Class-split steps, for large models on mini-batches: each task owns a group of
/// classes, computes their logits, softmax statistics, gradient and update for all rows of
/// the batch, and no gradient or parameter crosses between threads. (Row shards would
/// all-reduce the whole gradient and the whole parameter vector every step; at
/// 20000×2000×100, batch 256, that exchange cost more than the products on two cores.)
struct Split<T> {
    /// Class boundaries of the groups (`groups + 1` entries).
    bounds: Vec<usize>,
    groups: Vec<GroupBuf<T>>,
    /// Per batch row: softmax maximum and sum over all classes.
    mx: Vec<T>,
    sx: Vec<T>,
    /// Bytes of X per chunk of a step ([`SPLIT_CHUNK_BYTES`]; tests set others).
    chunk_bytes: usize,
}

struct GroupBuf<T> {
    /// Exponentials, then δ, of the group's classes, block after block (each `tg × rows`).
    z: Vec<T>,
    /// Per batch row: the group's maximum, sum, label logit, and scale factor.
    pm: Vec<T>,
    ps: Vec<T>,
    zy: Vec<T>,
    f: Vec<T>,
    /// The group's `Gᵀ` rows (`tg × dp`), then its bias gradient.
    g: Vec<T>,
}

/// Class-split steps run when the model has at least this many classes and weights …
const SPLIT_MIN_CLASSES: usize = 32;
const SPLIT_MIN_WEIGHTS: usize = 1 << 15;

impl<'a, T: Float> Engine<'a, T> {
    /// An engine for steps of at most `max_rows` rows of `x`, starting from `w` (d×t) and
    /// `b`. Mini-batches (`max_rows` below the rows of X) on the gemm plan get per-shard
    /// buffers to gather their rows into.
    pub(crate) fn new(x: MatRef<'a, T>, labels: &'a [u32], w: &Matrix<T>, b: &[T], max_rows: usize) -> Result<Self> {
        let (d, t) = (w.rows(), w.cols());
        let plan = Plan::new::<T>(d, t);
        let plen = checked_size(if plan.fused { plan.dp } else { d }, t, "gradient")?;
        let mut p0 = vec![T::ZERO; plen + t];
        store(&plan, &mut p0, w, b);
        let (block_rows, n_shards) = Partition::capacity::<T>(max_rows, d, t);
        // A block never has more rows than a step (a 256-row batch need not pay for
        // 512-row blocks).
        let block_rows = block_rows.min(max_rows.max(1));
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
                loss: 0.0,
            })
        };
        let minibatch = max_rows < x.rows();
        let split = if plan.fused && minibatch && t >= SPLIT_MIN_CLASSES && d * t >= SPLIT_MIN_WEIGHTS {
            let n_groups = split_groups(t);
            let bounds: Vec<usize> = (0..=n_groups).map(|g| g * t / n_groups).collect();
            let tg = t.div_ceil(n_groups);
            let group = || -> Result<GroupBuf<T>> {
                Ok(GroupBuf {
                    z: vec![T::ZERO; checked_size(tg, max_rows, "group logits")?],
                    pm: vec![T::ZERO; max_rows],
                    ps: vec![T::ZERO; max_rows],
                    zy: vec![T::ZERO; max_rows],
                    f: vec![T::ZERO; max_rows],
                    g: vec![T::ZERO; checked_size(tg, plan.dp + 1, "group gradient")?],
                })
            };
            Some(Split {
                bounds,
                groups: (0..n_groups).map(|_| group()).collect::<Result<Vec<_>>>()?,
                mx: vec![T::ZERO; max_rows],
                sx: vec![T::ZERO; max_rows],
                chunk_bytes: SPLIT_CHUNK_BYTES,
            })
        } else {
            None
        };
        let gang = minibatch && plan.fused && split.is_none();
        // Gang epochs keep two sets of shard buffers, one per step parity (see `epoch`).
        let shards = if split.is_some() {
            Vec::new()
        } else {
            let sets = if gang { 2 } else { 1 };
            (0..sets * n_shards).map(|_| shard()).collect::<Result<Vec<_>>>()?
        };
        let per_line = (128 / std::mem::size_of::<T>()).max(1);
        let grad_stride = (plen + t).next_multiple_of(per_line);
        let n_grads = shards.len().max(1);
        let mut grads = vec![T::ZERO; checked_size(n_grads, grad_stride, "gradients")?.saturating_add(per_line)];
        let grad_at = (128 - grads.as_ptr() as usize % 128) % 128 / std::mem::size_of::<T>();
        grads.truncate(grad_at + n_grads * grad_stride);
        Ok(Engine {
            plan,
            x,
            labels,
            t,
            plen,
            params: [p0.clone(), p0],
            cur: 0,
            shards,
            shard_cap: n_shards,
            grads,
            grad_at,
            grad_stride,
            split,
            gang,
            lanes: Vec::new(),
            max_rows,
        })
    }

    /// The most tasks one phase can have: for sizing the team.
    pub(crate) fn max_tasks(&self) -> usize {
        match &self.split {
            Some(sp) => sp.groups.len(),
            None => self.shard_cap.max((self.plen + self.t).div_ceil(UPDATE_CHUNK)),
        }
    }

    /// Tells the engine how many threads its team has: gang epochs then get a lane per
    /// thread (at most one per shard). (Only who runs a shard changes, not the shards or
    /// their order of reduction: the result is the same for any value.)
    pub(crate) fn set_threads(&mut self, threads: usize) {
        if self.gang_epochs() {
            let members = threads.min(MAX_GANG).min(self.shard_cap).max(1);
            let p = &self.params[self.cur];
            let depth = self.shard_cap.next_power_of_two().trailing_zeros() as usize;
            let scratch = if members > 2 { depth + 2 } else { 0 };
            let (n, d, t, batch) = (self.x.rows(), self.x.cols(), self.t, self.max_rows);
            let most = |rank| member_places::<T>(n, d, t, batch, rank, members);
            self.lanes = (0..members)
                .map(|rank| Lane {
                    params: [p.clone(), p.clone()],
                    cur: 0,
                    scratch: vec![p.clone(); scratch],
                    steps: StepRows::new(most(rank)),
                })
                .collect();
        }
    }

    /// Where shard buffer `i`'s gradient lies in `grads`, as a function of `i`.
    fn grad_ranges(&self) -> impl Fn(usize) -> std::ops::Range<usize> + Copy + Sync + use<T> {
        let (at, stride, len) = (self.grad_at, self.grad_stride, self.plen + self.t);
        move |i| at + i * stride..at + i * stride + len
    }

    /// Whether the fit loop runs whole epochs through [`Engine::epoch`]: mini-batches on
    /// the fused plan in row shards.
    pub(crate) fn gang_epochs(&self) -> bool {
        self.gang
    }

    /// One epoch of mini-batch steps over `order` (the rows of its places, in steps of
    /// `batch` rows, the last one shorter; the labels are the engine's), run by a gang of
    /// the team: each member keeps
    /// its own copy of the parameters, computes its run of each step's row shards, meets
    /// the others at one barrier per step, and then applies the whole update to its own
    /// copy (the shards' gradients summed by a fixed tree, see `Tree`), so no parameter
    /// crosses between cores and a step costs one hand-off instead of a job to publish, a
    /// reduction, and a second job. Every member computes the same values in the same
    /// order, so the result is the same for any gang size. While a member waits at a
    /// barrier it only spins.
    ///
    /// Returns the sum of the steps' loss sums, or where and why it stopped (a loss over
    /// `explode` per row, or not finite; a non-finite update).
    pub(crate) fn epoch<O: Places + ?Sized>(
        &mut self,
        team: &Team,
        order: &O,
        batch: usize,
        lr: T,
        explode: f64,
    ) -> Result<f64, StepFault> {
        debug_assert!(self.gang_epochs() && !self.lanes.is_empty());
        let (x, y) = (self.x, self.labels);
        let (n, d, t, plen) = (order.len(), x.cols(), self.t, self.plen);
        // Every row the kernels get from the order, checked once (the kernels do not).
        // (Checking each step's list instead cost 0.1 ms of each thread's epoch at
        // 500000×64×8, batch 256.)
        assert!(order.rows_below() <= x.rows(), "row index out of range");
        assert_eq!(y.len(), x.rows(), "a label per row");
        let plan = self.plan;
        let steps = n.div_ceil(batch);
        let last_m = n - (steps - 1) * batch;
        let parts = [Partition::new::<T>(batch, d, t), Partition::new::<T>(last_m, d, t)];
        let cap = self.shard_cap;
        assert!(parts.iter().all(|p| p.n_shards <= cap), "engine sized for fewer rows");
        let ahead_max = shard_lookahead::<T>(d);
        let (start, before) = (&self.params[self.cur], &self.params[self.cur ^ 1]);
        let gr = self.grad_ranges();
        let shards = Shared::new(&mut self.shards[..]);
        let grads = Shared::new(&mut self.grads[..]);
        let members = self.lanes.len();
        let lanes = Shared::new(&mut self.lanes[..]);
        let outcome = std::sync::Mutex::new(Ok(0.0));
        team.gang(members, &|member: &Member<'_>| {
            let (rank, size) = (member.rank(), member.size());
            // SAFETY: member `rank` alone uses lane `rank` (ranks < size ≤ lanes).
            let lane = unsafe { lanes.get_mut(rank) };
            lane.params[0].copy_from_slice(start);
            lane.params[1].copy_from_slice(before);
            lane.cur = 0;
            // The member's rows of this step, then of the next, and this step's labels
            // (`StepRows`): lists of the member's places only, reused every step.
            // (Requested two steps ahead, the labels took as long to gather: 0.23 ms of each
            // thread's epoch at 500000×64×8, batch 256, either way.) Sized by `set_threads`
            // for a fit's epochs; other epochs, in tests, may need more.
            let rows = &mut lane.steps;
            rows.reserve(member_places::<T>(n, d, t, batch, rank, size));
            let places = |step: usize| -> std::ops::Range<usize> {
                let lo = step * batch;
                let m = batch.min(n - lo);
                let (_, t_lo, t_hi) = span(parts[usize::from(m != batch)], m, rank, size);
                lo + t_lo..lo + t_hi
            };
            rows.start(order, places(0));
            let mut sum = 0.0;
            let mut result = Ok(());
            for step in 0..steps {
                let lo = step * batch;
                let hi = (lo + batch).min(n);
                let m = hi - lo;
                let p = parts[usize::from(m != batch)];
                let scale = T::ONE / T::from_usize(m);
                // Shard s of this step lives in buffer s (even steps) or cap + s (odd):
                // members read a step's shards after its barrier while the fastest already
                // writes the next step's.
                let base = (step & 1) * cap;
                let (own, t_lo, t_hi) = span(p, m, rank, size);
                let tree = Tree {
                    shards: p.n_shards,
                    members: size,
                };
                // The next step's rows after this one's.
                if step + 1 < steps && !rows.followed() {
                    rows.follow(order, places(step + 1), y);
                }
                debug_assert_eq!(rows.len(), t_hi - t_lo);
                if !own.is_empty() {
                    let (s0, s1) = (own.start, own.end);
                    // The member's rows, then the first `dist` rows it reads at the next
                    // step, so row `i` of the sequence starts row `i + dist` on its way,
                    // across the step's end.
                    let len = rows.len();
                    let dist = ahead_max.min(len).min(rows.next_len());
                    let (seq, labels) = rows.step(y, dist);
                    if step == 0 {
                        kernels::prefetch_rows(x, &seq[..len], PREFETCH_BYTES);
                    }
                    let cur = &lane.params[lane.cur];
                    let (wp, bp) = cur.split_at(plen);
                    for s in s0..s1 {
                        // SAFETY: shard s of this step belongs to this member alone until
                        // the step's barrier; no member reads it before then.
                        let sh = unsafe { shards.get_mut(base + s) };
                        // SAFETY: as for the shard above: its gradient is its own.
                        let g = unsafe { grads.range_mut(gr(base + s).start, gr(base + s).end) };
                        let (gw, gb) = g.split_at_mut(plen);
                        gb.iter_mut().for_each(|v| *v = T::ZERO);
                        let mut loss = 0.0;
                        let blocks = p.shard_blocks(s);
                        let first = blocks.start;
                        for blk in blocks {
                            let b_lo = blk * p.block_rows - t_lo;
                            let b_hi = ((blk + 1) * p.block_rows).min(m) - t_lo;
                            let ahead = &seq[b_lo..(b_hi + dist).min(seq.len())];
                            // SAFETY: `ahead` holds rows of `order`, each below its
                            // `rows_below()` (the `Places` contract), checked against X's
                            // rows at the epoch's start.
                            loss += unsafe {
                                kernels::fused_step_unscanned(
                                    &plan,
                                    x,
                                    ahead,
                                    b_hi - b_lo,
                                    wp,
                                    t,
                                    bp,
                                    &labels[b_lo..b_hi],
                                    scale,
                                    &mut sh.z,
                                    gw,
                                    gb,
                                    blk == first,
                                )
                            };
                        }
                        sh.loss = loss;
                    }
                    // The tree's sums over this member's shards, in place (see `Tree`).
                    // SAFETY: the member's own buffers, as above.
                    tree.reduce_own(s0, s1, 0, p.n_shards, &mut |to, from| unsafe {
                        let src = grads.range(gr(base + from).start, gr(base + from).end);
                        let dst = grads.range_mut(gr(base + to).start, gr(base + to).end);
                        dst.iter_mut().zip(src).for_each(|(d, &v)| *d += v);
                    });
                }
                rows.advance();
                // While waiting for the others: the next step's labels, and the rows of
                // the step after it (else both come when the next step starts).
                member.sync_or(step as u64 + 1, || {
                    if step + 2 < steps {
                        rows.follow(order, places(step + 2), y);
                    }
                    rows.gather(y);
                });
                // SAFETY: after the barrier no member writes this step's shards (the next
                // step writes the other buffers, and the one after that waits for the next
                // barrier, which every member reaches only after this reading).
                let shard = |s: usize| unsafe { shards.get(base + s) };
                // SAFETY: as above.
                let grad = |s: usize| unsafe { grads.range(gr(base + s).start, gr(base + s).end) };
                // The other members' sums: every line requested at once.
                tree.published(0, p.n_shards, &mut |s| {
                    if !own.contains(&s) {
                        kernels::prefetch_row::<_, true>(grad(s));
                    }
                });
                let loss: f64 = (0..p.n_shards).map(|s| shard(s).loss).sum();
                if !loss.is_finite() || loss / m as f64 > explode {
                    result = Err(StepFault::Loss { step, loss, rows: m });
                    break;
                }
                let [p0, p1] = &mut lane.params;
                let (cur, next) = if lane.cur == 0 { (&*p0, p1) } else { (&*p1, p0) };
                let finite = tree.update(cur, next, grad, &mut lane.scratch, lr);
                if !finite {
                    result = Err(StepFault::Weights { step });
                    break;
                }
                lane.cur ^= 1;
                sum += loss;
            }
            if rank == 0 {
                *outcome.lock().unwrap_or_else(|e| e.into_inner()) = result.map(|()| sum);
            }
        });
        // The lead's lane (every lane is equal) becomes the engine's parameters.
        let lane = &self.lanes[0];
        self.params[self.cur].copy_from_slice(&lane.params[lane.cur]);
        self.params[self.cur ^ 1].copy_from_slice(&lane.params[lane.cur ^ 1]);
        outcome.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// The plan the kernels run.
    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Phase 1: the loss sum of the current parameters over the step's rows, and what the
    /// update needs (the shards' or the class groups' gradients of the mean loss).
    pub(crate) fn loss_grad(&mut self, team: &Team, batch: Batch<'_>) -> f64 {
        if self.split.is_some() {
            self.split_loss(team, batch)
        } else {
            self.shard_loss_grad(team, batch)
        }
    }

    /// The step's row indices (`None`: all rows of X, in order) and their labels.
    fn rows_and_labels<'b>(&self, batch: Batch<'b>) -> (Option<&'b [u32]>, &'b [u32])
    where
        'a: 'b,
    {
        match batch {
            Some((rows, labels)) => {
                debug_assert!(rows.len() >= labels.len());
                (Some(rows), labels)
            }
            None => (None, self.labels),
        }
    }

    /// Phase 2 after [`Engine::loss_grad`] on the same `batch`: `next = cur − lr·∇`. Makes
    /// `next` current and returns `true`, or returns `false` (and keeps the current
    /// parameters) when an updated parameter is not finite.
    pub(crate) fn update(&mut self, team: &Team, batch: Batch<'_>, lr: T) -> bool {
        let finite = if self.split.is_some() {
            self.split_update(team, lr)
        } else {
            let m = self.rows_and_labels(batch).1.len();
            self.shard_update(team, m, lr)
        };
        if finite {
            self.cur ^= 1;
        }
        finite
    }

    fn shard_loss_grad(&mut self, team: &Team, batch: Batch<'_>) -> f64 {
        let x = self.x;
        let (d, t, plen) = (x.cols(), self.t, self.plen);
        let (rows, labels) = self.rows_and_labels(batch);
        debug_assert!(
            rows.is_none() || !self.plan.fused,
            "fused mini-batches run as gang epochs"
        );
        let m = labels.len();
        let p = Partition::new::<T>(m, d, t);
        let scale = T::ONE / T::from_usize(m);
        let plan = self.plan;
        let (wp, bp) = self.params[self.cur].split_at(plen);
        assert!(p.n_shards <= self.shards.len(), "engine sized for fewer rows");
        let gr = self.grad_ranges();
        let shards = Shared::new(&mut self.shards[..p.n_shards]);
        let grads = Shared::new(&mut self.grads[..]);
        team.run(p.n_shards, &|s| {
            // SAFETY: shard s, and its gradient, belong to this task alone in this job.
            let (sh, g) = unsafe { (shards.get_mut(s), grads.range_mut(gr(s).start, gr(s).end)) };
            let (gw, gb) = g.split_at_mut(plen);
            gb.iter_mut().for_each(|v| *v = T::ZERO);
            let mut loss = 0.0;
            let blocks = p.shard_blocks(s);
            let first = blocks.start;
            for blk in blocks {
                let lo = blk * p.block_rows;
                let hi = (lo + p.block_rows).min(m);
                let k = hi - lo;
                let xb = match rows {
                    None => x.slice_rows(lo, hi),
                    // The gemm plan reads the batch's rows gathered into a block.
                    Some(r) => {
                        for (j, &ri) in r[lo..hi].iter().enumerate() {
                            sh.xg[j * d..(j + 1) * d].copy_from_slice(x.row(ri as usize));
                        }
                        MatRef::new(&sh.xg[..k * d], k, d, d).expect("gather buffer sized by the engine")
                    }
                };
                loss += kernels::block_step(
                    &plan,
                    xb,
                    None,
                    wp,
                    t,
                    bp,
                    &labels[lo..hi],
                    scale,
                    &mut sh.z,
                    gw,
                    gb,
                    blk == first,
                );
            }
            sh.loss = loss;
        });
        // Fixed order, whichever thread ran which shard.
        self.shards[..p.n_shards].iter().map(|s| s.loss).sum()
    }

    /// `next = cur − lr·ΣG` over the shards of the last loss on `m` rows; `false` when a
    /// parameter is not finite.
    fn shard_update(&mut self, team: &Team, m: usize, lr: T) -> bool {
        let n_shards = Partition::new::<T>(m, self.x.cols(), self.t).n_shards;
        let len = self.plen + self.t;
        let gr = self.grad_ranges();
        let grads = &self.grads;
        let [p0, p1] = &mut self.params;
        let (cur, next) = if self.cur == 0 { (&*p0, p1) } else { (&*p1, p0) };
        let next = Shared::new(&mut next[..]);
        let bad = AtomicBool::new(false);
        team.run(len.div_ceil(UPDATE_CHUNK), &|c| {
            let lo = c * UPDATE_CHUNK;
            let hi = (lo + UPDATE_CHUNK).min(len);
            // SAFETY: task c is the only one touching elements lo..hi of `next` in this job.
            let out = unsafe { next.range_mut(lo, hi) };
            out.copy_from_slice(&grads[gr(0)][lo..hi]);
            for s in 1..n_shards {
                for (o, &g) in out.iter_mut().zip(&grads[gr(s)][lo..hi]) {
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
        !bad.load(Ordering::Relaxed)
    }

    /// Class-split phase 1, a chunk of blocks after another (see [`split_chunk_blocks`]):
    /// each group's logits, exponentials and statistics of the chunk's rows; then, on
    /// this thread, each of those rows' softmax maximum and sum over the groups (in group
    /// order) and its loss; then each group's δ of the chunk and its gradient, added to
    /// the group's (the chunk's rows of X are read again while still in cache). Returns
    /// the loss sum; [`Engine::split_update`] applies the gradients.
    ///
    /// Every value is computed as in one pass over the whole batch, in the same order
    /// (rows, blocks and groups), so the chunks change no bit of the result.
    fn split_loss(&mut self, team: &Team, batch: Batch<'_>) -> f64 {
        let x = self.x;
        let (d, t, plen, dp) = (x.cols(), self.t, self.plen, self.plan.dp);
        let (rows, yb) = self.rows_and_labels(batch);
        let m = yb.len();
        let p = Partition::new::<T>(m, d, t);
        let scale = T::ONE / T::from_usize(m);
        let plan = self.plan;
        let (wp, bp) = self.params[self.cur].split_at(plen);
        let sp = self.split.as_mut().expect("class-split engine");
        let dist = lookahead::<T>(m, d);
        let per_chunk = split_chunk_blocks::<T>(sp.chunk_bytes, p.block_rows, d);
        let mut loss = 0.0;
        for c_lo in (0..p.n_blocks).step_by(per_chunk) {
            let blocks = c_lo..(c_lo + per_chunk).min(p.n_blocks);
            let (r_lo, r_hi) = (blocks.start * p.block_rows, (blocks.end * p.block_rows).min(m));
            // Block `blk`'s rows `lo..hi` of the batch, their count and their rows of X.
            let block = |blk: usize| {
                let lo = blk * p.block_rows;
                let hi = (lo + p.block_rows).min(m);
                let (xb, idx) = block_rows(x, rows, lo, hi, dist);
                (lo, hi, hi - lo, xb, idx)
            };
            for_groups(team, &sp.bounds, &mut sp.groups, &|gb, k0, k1| {
                let tg = k1 - k0;
                for blk in blocks.clone() {
                    let (lo, hi, k, xb, idx) = block(blk);
                    let z = &mut gb.z[lo * tg..hi * tg];
                    kernels::split_forward(&plan, xb, idx, &wp[k0 * dp..k1 * dp], tg, z);
                    kernels::softmax::split_stats(
                        z,
                        k,
                        k0,
                        tg,
                        &bp[k0..k1],
                        &yb[lo..hi],
                        &mut gb.pm[lo..hi],
                        &mut gb.ps[lo..hi],
                        &mut gb.zy[lo..hi],
                    );
                }
            });
            // M = max over groups; S = Σ_g s_g·exp(m_g − M), each group's factor
            // exp(m_g − M) kept in its `f`. (Chunks start at multiples of 16 rows, so
            // `exp_sub` takes the same vector and scalar paths per row as over the batch.)
            let (mx, sx) = (&mut sp.mx[r_lo..r_hi], &mut sp.sx[r_lo..r_hi]);
            mx.copy_from_slice(&sp.groups[0].pm[r_lo..r_hi]);
            for gb in &sp.groups[1..] {
                for (a, &v) in mx.iter_mut().zip(&gb.pm[r_lo..r_hi]) {
                    *a = a.max(v);
                }
            }
            sx.iter_mut().for_each(|v| *v = T::ZERO);
            for gb in sp.groups.iter_mut() {
                let f = &mut gb.f[r_lo..r_hi];
                f.copy_from_slice(&gb.pm[r_lo..r_hi]);
                T::exp_sub(f, mx);
                for ((s, &e), &ps) in sx.iter_mut().zip(f.iter()).zip(&gb.ps[r_lo..r_hi]) {
                    *s += ps * e;
                }
            }
            for (i, &y) in (r_lo..r_hi).zip(&yb[r_lo..r_hi]) {
                let y = y as usize;
                let g = sp.bounds.partition_point(|&k| k <= y) - 1;
                loss += (sp.mx[i] + sp.sx[i].ln() - sp.groups[g].zy[i]).to_f64();
            }
            let sx = &sp.sx[r_lo..r_hi];
            for_groups(team, &sp.bounds, &mut sp.groups, &|gb, k0, k1| {
                let tg = k1 - k0;
                // f = scale·exp(m_g − M)/S: the group's exponentials to probabilities·scale.
                for (f, &s) in gb.f[r_lo..r_hi].iter_mut().zip(sx) {
                    *f = *f * scale / s;
                }
                let (gw, gbias) = gb.g.split_at_mut(tg * dp);
                let gbias = &mut gbias[..tg];
                if blocks.start == 0 {
                    gbias.iter_mut().for_each(|v| *v = T::ZERO);
                }
                for blk in blocks.clone() {
                    // The look-ahead runs on here too: the backward kernel requests short
                    // scattered rows far ahead (see `kernels::x86`).
                    let (lo, hi, k, xb, idx) = block(blk);
                    let z = &mut gb.z[lo * tg..hi * tg];
                    kernels::softmax::split_delta(z, k, k0, tg, &yb[lo..hi], &gb.f[lo..hi], scale, gbias);
                    kernels::split_backward(&plan, xb, idx, z, tg, gw, blk == 0);
                }
            });
        }
        loss
    }

    /// Class-split phase 2, after [`Engine::split_loss`]: each group's update of its own
    /// classes.
    fn split_update(&mut self, team: &Team, lr: T) -> bool {
        let dp = self.plan.dp;
        let plen = self.plen;
        let [p0, p1] = &mut self.params;
        let (cur, next) = if self.cur == 0 { (&*p0, p1) } else { (&*p1, p0) };
        let next = Shared::new(&mut next[..]);
        let sp = self.split.as_ref().expect("class-split engine");
        let (bounds, groups) = (&sp.bounds, &sp.groups);
        let bad = AtomicBool::new(false);
        team.run(bounds.len() - 1, &|g| {
            let gb = &groups[g];
            let (k0, k1) = (bounds[g], bounds[g + 1]);
            let tg = k1 - k0;
            let (gw, gbias) = gb.g.split_at(tg * dp);
            // SAFETY: groups own disjoint class ranges: rows k0..k1 of Wᵀ and biases k0..k1.
            let (nw, nb) = unsafe { (next.range_mut(k0 * dp, k1 * dp), next.range_mut(plen + k0, plen + k1)) };
            let mut finite = true;
            for ((o, &c), &gv) in nw.iter_mut().zip(&cur[k0 * dp..k1 * dp]).zip(gw.iter()) {
                *o = c - lr * gv;
                finite &= o.is_finite();
            }
            for ((o, &c), &gv) in nb.iter_mut().zip(&cur[plen + k0..plen + k1]).zip(&gbias[..tg]) {
                *o = c - lr * gv;
                finite &= o.is_finite();
            }
            if !finite {
                bad.store(true, Ordering::Relaxed);
            }
        });
        !bad.load(Ordering::Relaxed)
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

/// The most places member `rank` of `members` has in a step of an epoch of `n` places,
/// in steps of `batch` rows (the last one shorter), `d` features and `t` classes.
fn member_places<T: Float>(n: usize, d: usize, t: usize, batch: usize, rank: usize, members: usize) -> usize {
    let last_m = n - (n.div_ceil(batch) - 1) * batch;
    [batch, last_m]
        .iter()
        .map(|&m| {
            let (_, lo, hi) = span(Partition::new::<T>(m, d, t), m, rank, members);
            hi - lo
        })
        .max()
        .unwrap_or(0)
}

/// A gang member's part of a step of `m` rows in partition `p`: its shards and its rows
/// `t_lo..t_hi` of the step (members `0..size` take consecutive runs of shards; members
/// beyond the shard count take none).
fn span(p: Partition, m: usize, rank: usize, size: usize) -> (std::ops::Range<usize>, usize, usize) {
    let tasks = p.n_shards.min(size);
    if rank >= tasks {
        return (0..0, 0, 0);
    }
    let (s0, s1) = (rank * p.n_shards / tasks, (rank + 1) * p.n_shards / tasks);
    let t_lo = (p.shard_blocks(s0).start * p.block_rows).min(m);
    let t_hi = (p.shard_blocks(s1 - 1).end * p.block_rows).min(m);
    (s0..s1, t_lo, t_hi)
}

/// How a gang step sums its shards' gradients: by a fixed binary tree over the shards (the
/// sum over shards `lo..hi` is the sum over `lo..mid` plus the sum over `mid..hi`, with
/// `mid = (lo + hi) / 2`), which depends on the shard count only, so the result does not
/// depend on the gang's size. Each member sums the nodes that lie within its own run of
/// shards in place (a node's sum in the buffer of its first shard); after the barrier every
/// member reads only the largest such nodes of the others (one buffer per other member
/// when the runs are nodes, as two members' runs always are) and sums the nodes that span
/// members itself. (Summing the shards in order instead had each member read every other
/// shard's gradient: at batch 1024, four 2 KiB buffers per step from the other core.)
#[derive(Clone, Copy)]
struct Tree {
    shards: usize,
    members: usize,
}

impl Tree {
    /// The member whose run holds shard `s`.
    fn owner(&self, s: usize) -> usize {
        let tasks = self.shards.min(self.members).max(1);
        (0..tasks).rev().find(|&q| q * self.shards / tasks <= s).unwrap_or(0)
    }

    /// Whether one member holds all of shards `lo..hi`.
    fn covered(&self, lo: usize, hi: usize) -> bool {
        self.owner(lo) == self.owner(hi - 1)
    }

    /// The nodes under `lo..hi` that lie within the run `a..b`, bottom up: `add(to, from)`
    /// adds the sum in buffer `from` to the one in buffer `to`.
    fn reduce_own(&self, a: usize, b: usize, lo: usize, hi: usize, add: &mut impl FnMut(usize, usize)) {
        if hi - lo <= 1 || b <= lo || hi <= a {
            return;
        }
        let mid = (lo + hi) / 2;
        self.reduce_own(a, b, lo, mid, add);
        self.reduce_own(a, b, mid, hi, add);
        if a <= lo && hi <= b {
            add(lo, mid);
        }
    }

    /// Calls `f` with the buffer of each largest one-member node under `lo..hi`.
    fn published(&self, lo: usize, hi: usize, f: &mut impl FnMut(usize)) {
        if self.covered(lo, hi) {
            f(lo);
        } else {
            let mid = (lo + hi) / 2;
            self.published(lo, mid, f);
            self.published(mid, hi, f);
        }
    }

    /// `next = cur − lr·(sum of all shards)`, reading the published sums through `grad`
    /// (`scratch`: buffers for the nodes that span members, at least the tree's depth
    /// plus two when there are more than two members); `false` when a result is not
    /// finite.
    fn update<'g, T: Float>(
        &self,
        cur: &[T],
        next: &mut [T],
        grad: impl Fn(usize) -> &'g [T],
        scratch: &mut [Vec<T>],
        lr: T,
    ) -> bool {
        let n = self.shards;
        if self.covered(0, n) {
            return apply_update(cur, next, grad(0), None, lr);
        }
        let mid = n / 2;
        if self.covered(0, mid) && self.covered(mid, n) {
            // As with two members, whose runs are the root's two halves.
            return apply_update(cur, next, grad(0), Some(grad(mid)), lr);
        }
        let [a, b, tmp @ ..] = scratch else {
            panic!("no scratch for sums spanning {} members", self.members);
        };
        let a: &[T] = if self.covered(0, mid) {
            grad(0)
        } else {
            self.sum_into(0, mid, &grad, a, tmp);
            a
        };
        let b: &[T] = if self.covered(mid, n) {
            grad(mid)
        } else {
            self.sum_into(mid, n, &grad, b, tmp);
            b
        };
        apply_update(cur, next, a, Some(b), lr)
    }

    /// The sum over shards `lo..hi`, a node that spans members, into `dst`.
    fn sum_into<'g, T: Float>(
        &self,
        lo: usize,
        hi: usize,
        grad: &impl Fn(usize) -> &'g [T],
        dst: &mut [T],
        tmp: &mut [Vec<T>],
    ) {
        let mid = (lo + hi) / 2;
        let left = self.covered(lo, mid);
        if !left {
            self.sum_into(lo, mid, grad, dst, tmp);
        }
        let (t0, rest) = tmp.split_first_mut().expect("scratch for the tree's depth");
        let right: &[T] = if self.covered(mid, hi) {
            grad(mid)
        } else {
            self.sum_into(mid, hi, grad, t0, rest);
            t0
        };
        if left {
            for ((d, &l), &r) in dst.iter_mut().zip(grad(lo)).zip(right) {
                *d = l + r;
            }
        } else {
            for (d, &r) in dst.iter_mut().zip(right) {
                *d += r;
            }
        }
    }
}

/// `next = cur − lr·a`, or `cur − lr·(a + b)`; `false` when a result is not finite. In
/// AVX-512 code where the CPU has it (the crate builds for baseline x86-64, whose SSE2
/// code this loop otherwise gets; it runs once per step on every member's path).
fn apply_update<T: Float>(cur: &[T], next: &mut [T], a: &[T], b: Option<&[T]>, lr: T) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, checked just above.
        return unsafe { apply_update_avx512(cur, next, a, b, lr) };
    }
    apply_update_body(cur, next, a, b, lr)
}

/// [`apply_update`] compiled for AVX-512.
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn apply_update_avx512<T: Float>(cur: &[T], next: &mut [T], a: &[T], b: Option<&[T]>, lr: T) -> bool {
    apply_update_body(cur, next, a, b, lr)
}

#[inline(always)]
fn apply_update_body<T: Float>(cur: &[T], next: &mut [T], a: &[T], b: Option<&[T]>, lr: T) -> bool {
    let mut finite = true;
    let mut step = |o: &mut T, c: T, sum: T| {
        let v = c - lr * sum;
        *o = v;
        finite &= v.is_finite();
    };
    match b {
        None => {
            for ((o, &c), &a) in next.iter_mut().zip(cur).zip(a) {
                step(o, c, a);
            }
        }
        Some(b) => {
            for (((o, &c), &a), &b) in next.iter_mut().zip(cur).zip(a).zip(b) {
                step(o, c, a + b);
            }
        }
    }
    finite
}

/// How many class groups a class-split step uses for `t` classes: a function of the shape
/// only, even so the two-core machine's threads share the groups evenly.
fn split_groups(t: usize) -> usize {
    if t >= 4 * SPLIT_MIN_CLASSES { 4 } else { 2 }
}

/// Runs `f(group, k0, k1)` for each class group (classes `k0..k1`), a task each.
fn for_groups<T: Send>(
    team: &Team,
    bounds: &[usize],
    groups: &mut [GroupBuf<T>],
    f: &(dyn Fn(&mut GroupBuf<T>, usize, usize) + Sync),
) {
    let groups = Shared::new(groups);
    team.run(bounds.len() - 1, &|g| {
        // SAFETY: task g is the only one touching group g in this job.
        let gb = unsafe { groups.get_mut(g) };
        f(gb, bounds[g], bounds[g + 1]);
    });
}

/// Bytes of X a class-split step reads in one chunk (see [`split_chunk_blocks`]).
/// Measured at 20000×2000×100 on the Zen 4 host, 2 threads, against whole-step passes
/// (interleaved pairs, median ratios): batch 2048 0.918× (4 pairs, 93.1 → 85.4 ms);
/// batch 1024 0.983× (6 pairs: equal in quiet pairs, 102.3 and 100.8 → 89.2 and 87.1 ms
/// in busy ones, when the whole step's 8 MB of rows no longer stayed in the shared L3
/// between its two passes); batch 256 (one chunk: the code of before) 1.008×, noise.
/// 1 MiB chunks measured the same as 2 MiB, 512 KiB 1.030× at batch 1024.
const SPLIT_CHUNK_BYTES: usize = 2 << 20;

/// Blocks of `block_rows` rows of `d` features per chunk of a class-split step: about
/// `bytes` of X ([`SPLIT_CHUNK_BYTES`]), at least one block. Each chunk runs its forward pass,
/// softmax and backward pass before the next starts, so the backward pass reads the
/// chunk's rows again from cache, not from memory.
fn split_chunk_blocks<T>(bytes: usize, block_rows: usize, d: usize) -> usize {
    let block_bytes = block_rows
        .saturating_mul(d)
        .saturating_mul(std::mem::size_of::<T>())
        .max(1);
    (bytes / block_bytes).max(1)
}

/// Rows `lo..hi` of a batch: a contiguous view of `x` for the full batch, or `x` with the
/// batch's index list from `lo`, running on `dist` rows past `hi` (those only prefetched).
fn block_rows<'x, 'r, T: Float>(
    x: MatRef<'x, T>,
    rows: Option<&'r [u32]>,
    lo: usize,
    hi: usize,
    dist: usize,
) -> (MatRef<'x, T>, Option<(&'r [u32], usize)>) {
    match rows {
        None => (x.slice_rows(lo, hi), None),
        Some(r) => (x, Some((&r[lo..(hi + dist).min(r.len())], hi - lo))),
    }
}

/// Bytes of X a row shard keeps in flight ahead of the row it computes …
const SHARD_AHEAD_BYTES: usize = 100 << 10;
/// … in at most this many rows.
const SHARD_AHEAD_MAX_ROWS: usize = 256;

/// How many rows of its prefetch sequence a mini-batch task (a run of row shards) of `d`
/// features runs ahead (at most the task's rows, applied by the caller): about 100 KiB of
/// X, at least 16 rows and at most 256. (Short rows have many in flight: 500000×64×8 at
/// batch 1024, 2 threads, on the Zen 4 host, 256 rows ahead against 400: 0.981× and
/// 0.961×, 160 rows 0.989×, 64 rows 1.34×, 6 and 5 interleaved pairs; long rows never
/// reach the cap: 60000×784×10 runs 32 rows ahead, and 20 rows measured 1.05–1.09×.) The
/// sequence continues into the next step's rows at the task's
/// places, so the prefetch stream never stops at a step's end and never requests rows
/// another core will read. (60000×784×10, 2 threads: 32 rows ahead against the whole step ahead
/// that this replaced, which kept two steps' rows in a 1 MiB L2, and against a fixed
/// distance in the batch order, which near each shard's end prefetched the next shard's
/// rows into the wrong core.)
fn shard_lookahead<T>(d: usize) -> usize {
    let row_bytes = (d * std::mem::size_of::<T>()).max(1);
    (SHARD_AHEAD_BYTES / row_bytes).clamp(16, SHARD_AHEAD_MAX_ROWS)
}

/// Most bytes of X one class-split step may have in flight for the next: beyond this a
/// step's rows and the next step's would crowd each other out of the cores' L2.
const STEP_AHEAD_MAX_BYTES: usize = 1 << 20;

/// How far ahead, in rows of the batch order, a class-split step of `m` rows of `d`
/// features prefetches (every group reads every row): one whole step (row `i` of the
/// order starts row `i + m`, the row at the same place of the next step), so the next
/// step's reads overlap this step's arithmetic; for steps too large for that, about
/// 16 KiB ahead and at least 16 rows (for long rows, 16 KiB is one or two rows: the list
/// then ended before the kernels' own two-tile minimum distance, and prefetching stopped
/// short of each block's end; 20000×2000×100 at batch 256 ran 86.6 ms against 83.5).
fn lookahead<T>(m: usize, d: usize) -> usize {
    let row_bytes = (d * std::mem::size_of::<T>()).max(1);
    if m * row_bytes <= STEP_AHEAD_MAX_BYTES {
        m
    } else {
        (16384 / row_bytes).max(16)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::train::team::with_team;

    /// A random problem with features scaled by `scale`, and a fixed order of its rows.
    fn problem(n: usize, d: usize, t: usize, scale: f32) -> (Matrix<f32>, Vec<u32>, Vec<u32>) {
        let mut rng = Rng::new(11);
        let x: Vec<f32> = (0..n * d).map(|_| scale * rng.normal() as f32).collect();
        let y: Vec<u32> = (0..n).map(|_| rng.below(t as u64) as u32).collect();
        let order = (0..n).map(|i| ((i * 7919) % n) as u32).collect();
        (Matrix::from_vec(n, d, x).unwrap(), y, order)
    }

    /// Runs `epochs` (order, lr, explode) in turn on one engine over `x` from zero
    /// parameters, on a pool of `threads`; returns each epoch's result and the engine's
    /// current and previous parameters after each.
    #[allow(clippy::type_complexity)]
    fn epochs(
        threads: usize,
        x: &Matrix<f32>,
        y: &[u32],
        batch: usize,
        runs: &[(&[u32], f32, f64)],
    ) -> Vec<(Result<f64, StepFault>, Vec<u32>, Vec<u32>)> {
        let (d, t) = (x.cols(), 5);
        let w = Matrix::<f32>::zeros(d, t).unwrap();
        let b = vec![0f32; t];
        let mut engine = Engine::new(x.view(), y, &w, &b, batch).unwrap();
        assert!(engine.gang_epochs());
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            // As many threads as asked, even beyond the cores: gangs of three and more.
            let helpers = threads - 1;
            engine.set_threads(threads);
            with_team(helpers, |team| {
                let mut out = Vec::new();
                for &(order, lr, explode) in runs {
                    let r = engine.epoch(team, order, batch, lr, explode);
                    let bits = |previous: bool| {
                        let (mut w, mut b) = (Matrix::<f32>::zeros(d, t).unwrap(), vec![0f32; t]);
                        engine.write(previous, &mut w, &mut b);
                        w.as_slice().iter().chain(&b).map(|v| v.to_bits()).collect::<Vec<_>>()
                    };
                    out.push((r, bits(false), bits(true)));
                }
                out
            })
        })
    }

    #[test]
    fn a_gang_epoch_stops_at_its_fault_with_the_right_parameters() {
        // Steps of 512 rows in 4 shards; the last step has 464 rows.
        let (n, batch) = (2000, 512);
        let (x, y, order) = problem(n, 24, 5, 1.0);
        assert_eq!(Partition::new::<f32>(batch, 24, 5).n_shards, 4);
        let first = &order[..n - 464];
        let mut one = None;
        for threads in [1, 2, 3] {
            let runs = epochs(
                threads,
                &x,
                &y,
                batch,
                &[(&order, 0.5, f64::INFINITY), (&order, 0.5, -1.0)],
            );
            // Gangs of one, two and three members (whose tree sums of the 4 shards are read
            // differently) give the same bits.
            assert_eq!(one.get_or_insert_with(|| runs.clone()), &runs, "threads {threads}");
            // The epoch without its last step ends where the whole one's last step began.
            let short = epochs(threads, &x, &y, batch, &[(first, 0.5, f64::INFINITY)]);
            let (ok, after, before) = &runs[0];
            assert!(ok.as_ref().is_ok_and(|l| l.is_finite() && *l > 0.0), "{ok:?}");
            assert_eq!(before, &short[0].1, "threads {threads}");
            assert_ne!(before, after);
            // Every loss over the limit: the first step of the next epoch stops it, with the
            // parameters that gave that loss current and the ones before them kept.
            let (fault, cur, prev) = &runs[1];
            assert!(
                matches!(fault, Err(StepFault::Loss { step: 0, rows: 512, loss }) if *loss > 0.0),
                "{fault:?}"
            );
            assert_eq!((cur, prev), (after, before), "threads {threads}");
        }
    }

    #[test]
    fn the_tree_sum_is_the_same_for_every_gang_size() {
        // Each member sums its own run in place; the update then reads what they publish.
        // Every gang size must give the bits of one member's whole tree, and that is the
        // tree's sum of the shards in exact arithmetic (checked against f64 sums).
        let mut rng = Rng::new(3);
        let len = 37;
        for shards in 1..=16 {
            let g: Vec<Vec<f32>> = (0..shards)
                .map(|_| (0..len).map(|_| rng.normal() as f32).collect())
                .collect();
            let cur: Vec<f32> = (0..len).map(|_| rng.normal() as f32).collect();
            let run = |members: usize| {
                let tree = Tree { shards, members };
                let mut bufs = g.clone();
                for q in 0..members.min(shards) {
                    let (a, b) = (q * shards / members.min(shards), (q + 1) * shards / members.min(shards));
                    tree.reduce_own(a, b, 0, shards, &mut |to, from| {
                        let src = bufs[from].clone();
                        bufs[to].iter_mut().zip(&src).for_each(|(d, &v)| *d += v);
                    });
                }
                let mut seen = Vec::new();
                tree.published(0, shards, &mut |s| seen.push(s));
                assert!(seen.len() <= members.min(shards) * 4, "{seen:?}");
                let mut next = vec![0f32; len];
                let mut scratch = vec![vec![0f32; len]; if members > 2 { 6 } else { 0 }];
                assert!(tree.update(&cur, &mut next, |s| &bufs[s][..], &mut scratch, 0.5));
                next
            };
            let one = run(1);
            for members in 2..=7 {
                assert_eq!(run(members), one, "{shards} shards, {members} members");
            }
            for (i, &v) in one.iter().enumerate() {
                let exact = cur[i] as f64 - 0.5 * g.iter().map(|s| s[i] as f64).sum::<f64>();
                assert!(
                    (v as f64 - exact).abs() < 1e-5 * (1.0 + exact.abs()),
                    "{shards} shards: {v} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn a_gang_epoch_checks_its_rows_and_panics_on_one_outside_x() {
        // The kernels then skip the per-block scan of the index lists. The check comes
        // before anything reads at the row (its label, say).
        let (n, batch) = (1000, 256);
        let (x, y, mut order) = problem(n, 16, 5, 1.0);
        order[700] = n as u32;
        for threads in [1, 2] {
            let r = std::panic::catch_unwind(|| epochs(threads, &x, &y, batch, &[(&order, 0.5, f64::INFINITY)]));
            let err = r.expect_err("a row outside X");
            let msg = err
                .downcast_ref::<&str>()
                .map(|m| m.to_string())
                .or_else(|| err.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            assert!(msg.contains("row index out of range"), "threads {threads}: {msg}");
        }
    }

    #[test]
    fn a_gang_epoch_rejects_a_non_finite_update_and_keeps_the_parameters() {
        let (n, batch) = (1000, 256);
        let (x, y, order) = problem(n, 16, 5, 1e3);
        for threads in [1, 2] {
            let runs = epochs(threads, &x, &y, batch, &[(&order, 1e37, f64::INFINITY)]);
            let (fault, cur, _) = &runs[0];
            assert_eq!(fault, &Err(StepFault::Weights { step: 0 }));
            assert!(cur.iter().all(|&v| v == 0), "the zero start is kept");
        }
    }

    /// Class-split steps (`batch` rows a step of `order`, lr 0.5) on `threads` threads
    /// with chunks of `chunk_bytes`: each step's loss sum and the parameters after it, in
    /// the plan's layout, as bits.
    fn split_steps(
        threads: usize,
        x: &Matrix<f32>,
        y: &[u32],
        t: usize,
        order: &[u32],
        batch: usize,
        chunk_bytes: usize,
    ) -> Vec<(u64, Vec<u32>)> {
        let d = x.cols();
        let w = Matrix::<f32>::zeros(d, t).unwrap();
        let b = vec![0f32; t];
        let mut engine = Engine::new(x.view(), y, &w, &b, batch).unwrap();
        engine.split.as_mut().expect("a class-split engine").chunk_bytes = chunk_bytes;
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            with_team(threads - 1, |team| {
                order
                    .chunks(batch)
                    .map(|rows| {
                        let labels: Vec<u32> = rows.iter().map(|&r| y[r as usize]).collect();
                        let loss = engine.loss_grad(team, Some((rows, &labels)));
                        assert!(engine.update(team, Some((rows, &labels)), 0.5));
                        (
                            loss.to_bits(),
                            engine.params[engine.cur].iter().map(|v| v.to_bits()).collect(),
                        )
                    })
                    .collect()
            })
        })
    }

    #[test]
    fn class_split_chunks_change_no_bit_and_match_a_scalar_step() {
        // 40 classes of 1000 features: class-split steps. 176-row steps in 16-row blocks
        // (the last step 96 rows): a chunk of one block, of three, or the whole step.
        let (n, d, t, batch) = (448, 1000, 40, 176);
        let (x, y, _) = problem(n, d, t, 0.05);
        let y: Vec<u32> = y.iter().map(|&v| v * 7 % t as u32).collect();
        let order: Vec<u32> = (0..n).map(|i| ((i * 263) % n) as u32).collect();
        let p = Partition::new::<f32>(batch, d, t);
        let block = p.block_rows * d * 4;
        assert!(p.n_blocks >= 4, "several blocks a step: {p:?}");
        let whole = split_steps(2, &x, &y, t, &order, batch, usize::MAX);
        for (threads, bytes) in [(2, 1), (2, 3 * block), (1, 1), (1, usize::MAX)] {
            assert!(
                split_steps(threads, &x, &y, t, &order, batch, bytes) == whole,
                "threads {threads}, chunk {bytes} B"
            );
        }
        // The oracle: plain f64 steps from zero, the softmax of each row in full.
        let (mut w, mut bias) = (vec![0f64; d * t], vec![0f64; t]);
        for (rows, (loss_bits, params)) in order.chunks(batch).zip(&whole) {
            let m = rows.len() as f64;
            let (mut gw, mut gb, mut loss) = (vec![0f64; d * t], vec![0f64; t], 0.0);
            for &r in rows {
                let xr = x.row(r as usize);
                let z: Vec<f64> = (0..t)
                    .map(|k| bias[k] + (0..d).map(|j| f64::from(xr[j]) * w[j * t + k]).sum::<f64>())
                    .collect();
                let mx = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = z.iter().map(|v| (v - mx).exp()).sum();
                let yr = y[r as usize] as usize;
                loss += mx + s.ln() - z[yr];
                for k in 0..t {
                    let delta = ((z[k] - mx).exp() / s - f64::from(u8::from(k == yr))) / m;
                    gb[k] += delta;
                    for j in 0..d {
                        gw[j * t + k] += f64::from(xr[j]) * delta;
                    }
                }
            }
            w.iter_mut().zip(&gw).for_each(|(v, g)| *v -= 0.5 * g);
            bias.iter_mut().zip(&gb).for_each(|(v, g)| *v -= 0.5 * g);
            let got = f64::from_bits(*loss_bits);
            assert!((got - loss).abs() <= 1e-5 * loss, "loss {got} against {loss}");
            // The engine's layout: Wᵀ (t rows of dp), then the biases.
            let dp = (params.len() - t) / t;
            for k in 0..t {
                for j in 0..d {
                    let v = f64::from(f32::from_bits(params[k * dp + j]));
                    assert!(
                        (v - w[j * t + k]).abs() <= 1e-5,
                        "w[{j},{k}] {v} against {}",
                        w[j * t + k]
                    );
                }
                let v = f64::from(f32::from_bits(params[t * dp + k]));
                assert!((v - bias[k]).abs() <= 1e-5, "b[{k}] {v} against {}", bias[k]);
            }
        }
    }
}
