//! x86-64 micro-kernels for the fused step at small class counts.
//!
//! For a block of rows of X (still in cache between the two products):
//! * forward `Z_b = X_b·W`: vectorised along the features, W read transposed (`Wᵀ`,
//!   t × dp, rows zero-padded to `dp`, a multiple of 64 bytes), one accumulator per
//!   (row, class) in tiles of R rows × C classes, reduced with a transposing add tree;
//!   for at most one vector of classes and short rows, classes in lanes instead
//!   (`forward_bcast`: no horizontal sums), and for AVX-512 f32 with at most 8 classes,
//!   four features × four classes per vector (`quads_f32`: a quarter of the broadcasts,
//!   four-lane sums);
//! * backward `Gᵀ += δ_bᵀ·X_b`: Gᵀ (t × dp) tiles of (classes × L·Q features) stay in
//!   registers while the block's rows stream past, δ broadcast per (row, class).
//!
//! Each kernel is compiled from the same source for AVX2+FMA (256-bit vectors: 8 f32 or
//! 4 f64 lanes, 16 registers; forward tiles 2 × 6, backward 6 × 2 vectors) and for
//! AVX-512F (512-bit vectors: 16 f32 or 8 f64 lanes, 32 registers; forward tiles 4 × 6,
//! backward 12 × 2). On Zen 5, whose cores execute 512-bit FMAs at full width, the 512-bit
//! build took 20000×2000×100 from 72 to 53 ms per epoch (2 threads, f32); tile shapes were
//! chosen by measurement there (4 × 6 beat 2 × 12 by 7–15%; for AVX2, forced with
//! `--kernel avx2`, 2 × 6 beat 1 × 12 by 9–13% in f32 and f64). The caller picks one family
//! after runtime detection. The softmax passes are 256-bit, except the AVX-512 pass for at
//! most 16 classes (`softmax_cols_small16`: 16 rows per vector, 7% off a 500000×64×8
//! full-batch epoch on Zen 4).

#![allow(clippy::too_many_arguments)]

use core::arch::x86_64::*;

/// Register-tile shape of one instantiation.
pub(crate) struct Tiles {
    /// Most classes per forward tile.
    pub fwd_classes: usize,
    /// Most classes per backward tile.
    pub bwd_classes: usize,
}

/// The rows of one block of X: consecutive rows at a stride, or the rows an index list
/// names (mini-batches read X in place, with no gathered copy).
#[derive(Clone, Copy)]
pub(crate) struct Rows<T> {
    base: *const T,
    stride: usize,
    idx: *const u32,
    len: usize,
    /// Rows of look-ahead for prefetching: about 16 KiB of X for contiguous rows, or the
    /// index list's rows past the block (see [`Rows::new`]).
    ahead: usize,
}

impl<T> Rows<T> {
    /// The block's first `block` rows; an index list longer than that names in its tail
    /// the rows that come next, and row `i` then prefetches row `i + (len − block)` of the
    /// list (the fit engine passes each gang member's rows of the step followed by its
    /// rows of the next step, so the look-ahead runs on across the step's end).
    #[inline(always)]
    fn new(base: *const T, stride: usize, idx: Option<&[u32]>, block: usize) -> Self {
        let bytes = (stride * core::mem::size_of::<T>()).max(1);
        let len = idx.map_or(block, <[u32]>::len);
        Rows {
            base,
            stride,
            idx: idx.map_or(core::ptr::null(), |i| i.as_ptr()),
            len,
            ahead: if len > block {
                len - block
            } else {
                (16384 / bytes).max(1)
            },
        }
    }

    /// Row `i` of the block.
    ///
    /// # Safety
    /// `i < len`; the caller of the kernel guarantees the row lies inside X.
    #[inline(always)]
    unsafe fn row(&self, i: usize) -> *const T {
        // SAFETY: per the contract above.
        unsafe {
            if self.idx.is_null() {
                self.base.add(i * self.stride)
            } else {
                self.base.add(*self.idx.add(i) as usize * self.stride)
            }
        }
    }

    /// Whether the rows are short and scattered: named by an index list, at most
    /// [`SHORT_ROW_BYTES`](super::SHORT_ROW_BYTES) long. The forward kernels then request each row a tile ahead
    /// into L1 ([`prefetch_l1`]) and leave the far requests to the backward pass
    /// ([`request_line`]).
    #[inline(always)]
    fn near(&self, d: usize) -> bool {
        !self.idx.is_null() && d * core::mem::size_of::<T>() <= super::SHORT_ROW_BYTES
    }

    /// Where to prefetch into L1 for row `i` of a tile of `r` rows: the row at the same
    /// place of the next tile, or row `i` itself past the list (indexed rows only, see
    /// [`prefetch_l1`]).
    ///
    /// # Safety
    /// `i < len`.
    #[inline(always)]
    unsafe fn near_target(&self, i: usize, r: usize) -> *const T {
        // SAFETY: `row` is only called with indices below `len`.
        unsafe { if i + r < self.len { self.row(i + r) } else { self.row(i) } }
    }

    /// Where to prefetch for row `i` of a tile of `r` rows, at least two tiles ahead.
    /// Contiguous rows: about 16 KiB ahead, which may run past the block (into the next
    /// one, or past X: a prefetch never faults, and the address is formed with wrapping
    /// arithmetic). Indexed rows: the list's row `i + ahead` (see [`Rows::new`]); past the
    /// list's end, row `i` itself (already in cache).
    ///
    /// # Safety
    /// `i < len`.
    #[inline(always)]
    unsafe fn prefetch_target(&self, i: usize, r: usize) -> *const T {
        let ahead = self.ahead.max(2 * r);
        // SAFETY: `row` is only called with indices below `len`.
        unsafe {
            if self.idx.is_null() {
                self.base.wrapping_add((i + ahead) * self.stride)
            } else if i + ahead < self.len {
                self.row(i + ahead)
            } else {
                self.row(i)
            }
        }
    }
}

/// How many rows ahead the backward pass of short scattered rows requests its column
/// tile's lines into L1 (the backward tile's own near request; the forward pass makes its
/// own). Measured at 500000×64×8, one block of 128 rows a shard: the backward pass in L3
/// 37.2 → 35.1 cycles a row (a throwaway timing test, 16384 rows, three runs each; 16 rows
/// ahead the same); the epoch, two threads, interleaved: batch 1024 0.981× and 0.971× (6
/// pairs each), batch 256 0.982× in a quiet stretch and 1.004–1.006× in busy ones.
const BWD_NEAR: usize = 8;

/// Asks for the line at `p` into L1 (a hint: it never faults).
///
/// Short scattered rows (mini-batches) get two requests: one far ahead into L2, made by
/// the backward pass of the block before (`backward`, for the rows of the list's
/// look-ahead), and this one, a tile ahead, into L1, made by the forward pass. With the
/// far request alone, a 500000×64×8 batch-256 epoch spent about twice as long in its
/// forward pass with the rows in a random order as in order, as if many far requests never
/// reached L2 in time; the near request took 9–14% off that epoch on one and two threads
/// (batch 256 and 1024). On 784-feature rows it cost 2% (a tile ahead is then 12 KB of
/// L1), so long rows keep the far request alone, in the forward pass; rows in order need
/// no second request (the hardware prefetchers stream them).
#[inline(always)]
unsafe fn prefetch_l1(p: *const i8) {
    // SAFETY: a prefetch never faults and changes nothing the program can observe.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p) }
}

/// The forward kernels' request for the line at element `off` of a row: for short
/// scattered rows (`near`, see [`Rows::near`]), into L1 from the row a tile ahead (`near`,
/// from [`Rows::near_target`]; see [`prefetch_l1`]); otherwise into L2 from the row far
/// ahead (`far`, from [`Rows::prefetch_target`]). The addresses are formed with wrapping
/// arithmetic, so they may run past X: a prefetch never faults.
///
/// Short scattered rows get their far requests from the backward pass instead, spread over
/// its column tiles: issued in the forward pass, where every row is a first read, they
/// left that pass waiting on memory (500000×64×8, batch 256, the forward pass's share of
/// an epoch 14.0 → 9.0 ms of CPU time against 8.2 with the rows in order; the epoch
/// 0.90× on one thread, 0.95× on two, interleaved).
#[inline(always)]
unsafe fn request_line<T>(far: *const T, near: *const T, ask_near: bool, off: usize) {
    // SAFETY: prefetches never fault and change nothing the program can observe.
    unsafe {
        if ask_near {
            prefetch_l1(near.wrapping_add(off) as *const i8);
        } else {
            _mm_prefetch::<_MM_HINT_T1>(far.wrapping_add(off) as *const i8);
        }
    }
}

/// Calls `$f::<gen.., C>(args)` with the runtime class count `c` as a const generic.
macro_rules! by_classes {
    ($c:expr, $f:ident, $($gen:expr),* ; $($arg:expr),*) => {
        match $c {
            1 => $f::<$($gen,)* 1>($($arg),*),
            2 => $f::<$($gen,)* 2>($($arg),*),
            3 => $f::<$($gen,)* 3>($($arg),*),
            4 => $f::<$($gen,)* 4>($($arg),*),
            5 => $f::<$($gen,)* 5>($($arg),*),
            6 => $f::<$($gen,)* 6>($($arg),*),
            7 => $f::<$($gen,)* 7>($($arg),*),
            8 => $f::<$($gen,)* 8>($($arg),*),
            9 => $f::<$($gen,)* 9>($($arg),*),
            10 => $f::<$($gen,)* 10>($($arg),*),
            11 => $f::<$($gen,)* 11>($($arg),*),
            12 => $f::<$($gen,)* 12>($($arg),*),
            _ => unreachable!("class tile wider than 12"),
        }
    };
}

macro_rules! isa_kernels {
    (
        $modname:ident, $features:literal, $tiles:expr,
        $ty:ty, $vec:ty, $lanes:expr,
        $load:ident, $maskload:ident, $fmadd:ident, $set1:ident, $setzero:ident, $store:ident,
        $mask:ident, $reduce:ident, $transpose:ident,
        $R:expr, $Q:expr, $pre:ident
    ) => {
        pub(crate) mod $modname {
            use super::*;

            pub(crate) const TILES: Tiles = $tiles;
            const L: usize = $lanes;

            /// Forward tile: `R` rows × `C` classes.
            #[target_feature(enable = $features)]
            unsafe fn fwd<const R: usize, const C: usize>(
                rows: Rows<$ty>,
                i0: usize,
                d: usize,
                wt: *const $ty,
                dp: usize,
                z: *mut $ty,
                zs: usize,
            ) {
                // SAFETY (whole body): the caller guarantees that rows i0..i0+R of `rows`
                // hold `d` readable elements each, C rows of `dp` elements from `wt`, and C rows of
                // at least R writable elements at stride `zs` from `z` (Zᵀ). Loads past `d` in X
                // use masked loads, which touch no memory in masked lanes.
                unsafe {
                    let mut acc = [[$setzero(); C]; R];
                    let full = d - d % L;
                    let mut xr = [rows.base; R];
                    let mut pfp = [rows.base; R];
                    let mut near = [rows.base; R];
                    let ask_near = rows.near(d);
                    for r in 0..R {
                        xr[r] = rows.row(i0 + r);
                        pfp[r] = rows.prefetch_target(i0 + r, R);
                        near[r] = rows.near_target(i0 + r, R);
                    }
                    let mut j = 0;
                    while j < full {
                        let mut xv = [$setzero(); R];
                        for r in 0..R {
                            xv[r] = $load(xr[r].add(j));
                            // Stream rows further ahead into L2 while this tile computes. A
                            // prefetch never faults; wrapping_add keeps the address computation
                            // defined past the end of X.
                            if j % (64 / core::mem::size_of::<$ty>()) == 0 {
                                request_line(pfp[r], near[r], ask_near, j);
                            }
                        }
                        for k in 0..C {
                            let w = $load(wt.add(k * dp + j));
                            for r in 0..R {
                                acc[r][k] = $fmadd(xv[r], w, acc[r][k]);
                            }
                        }
                        j += L;
                    }
                    if j < d {
                        let m = $mask(d - j);
                        let mut xv = [$setzero(); R];
                        for r in 0..R {
                            xv[r] = $maskload(xr[r].add(j), m);
                        }
                        for k in 0..C {
                            let w = $load(wt.add(k * dp + j));
                            for r in 0..R {
                                acc[r][k] = $fmadd(xv[r], w, acc[r][k]);
                            }
                        }
                    }
                    for r in 0..R {
                        let mut k = 0;
                        while k < C {
                            let mut group = [$setzero(); L];
                            let n = (C - k).min(L);
                            group[..n].copy_from_slice(&acc[r][k..k + n]);
                            let mut out = [0.0 as $ty; L];
                            $store(out.as_mut_ptr(), $reduce(group));
                            for q in 0..n {
                                *z.add((k + q) * zs + r) = out[q];
                            }
                            k += L;
                        }
                    }
                }
            }

            /// Backward tile: `C` classes × `Q` vectors of features, over `rows` rows.
            /// `masked` loads X's last vector with a mask of `rem` lanes. With `FAR`, each row
            /// `i` also requests lines `lines` (of 64 bytes) of `far`'s row far ahead of `i`
            /// into L2 (see [`request_line`]).
            #[target_feature(enable = $features)]
            unsafe fn bwd<const Q: usize, const FAR: bool, const C: usize>(
                x: Rows<$ty>,
                far: Rows<$ty>,
                lines: core::ops::Range<usize>,
                j0: usize,
                rows: usize,
                delta: *const $ty,
                ds: usize,
                gt: *mut $ty,
                dp: usize,
                rem: usize,
                overwrite: bool,
            ) {
                // SAFETY (whole body): each of the `rows` rows of `x` has, from column j0,
                // Q·L readable columns (the last vector only `rem` lanes when
                // rem < L, loaded with a mask); `delta` at class k0 of row 0 of δᵀ (C rows of
                // `rows` elements at stride `ds`);
                // `gt` at (k0, j0) of a t × dp buffer with C rows of Q·L writable elements.
                unsafe {
                    let mut acc = [[$setzero(); Q]; C];
                    for k in 0..C {
                        for q in 0..Q {
                            acc[k][q] = if overwrite { $setzero() } else { $load(gt.add(k * dp + q * L)) };
                        }
                    }
                    let m = $mask(rem);
                    let line = 64 / core::mem::size_of::<$ty>();
                    for i in 0..rows {
                        if FAR {
                            let pf = far.prefetch_target(i, 1);
                            for l in lines.clone() {
                                _mm_prefetch::<_MM_HINT_T1>(pf.wrapping_add(l * line) as *const i8);
                            }
                        }
                        if FAR {
                            // This tile's lines of the row `BWD_NEAR` rows on, into L1: a
                            // block of short rows (128 rows of 64 f32 at batch 256) fills
                            // L1, so its rows come back from L2 here, and scattered ones
                            // with no hardware prefetch (see `BWD_NEAR`).
                            let near = x.near_target(i, BWD_NEAR).add(j0);
                            for q in 0..Q {
                                prefetch_l1(near.wrapping_add(q * L) as *const i8);
                            }
                        }
                        let xr = x.row(i).add(j0);
                        let mut xv = [$setzero(); Q];
                        for q in 0..Q {
                            xv[q] = if q + 1 == Q && rem < L { $maskload(xr.add(q * L), m) } else { $load(xr.add(q * L)) };
                        }
                        for k in 0..C {
                            let dv = $set1(*delta.add(k * ds + i));
                            for q in 0..Q {
                                acc[k][q] = $fmadd(xv[q], dv, acc[k][q]);
                            }
                        }
                    }
                    for k in 0..C {
                        for q in 0..Q {
                            $store(gt.add(k * dp + q * L), acc[k][q]);
                        }
                    }
                }
            }

            /// [`forward`] for at most `L` classes and at most [`BCAST_MAX_D`] features:
            /// each row's logits in one vector (classes in lanes), accumulated from
            /// broadcasts of the row's features, `L` rows at a time, then transposed into
            /// Zᵀ. Unlike the feature-in-lanes tiles this needs no horizontal sums, which
            /// cost as much as the products when rows are short (measured on 500000×64×8).
            ///
            /// # Safety
            /// As [`forward`], with `t ≤ L` and `d ≤ BCAST_MAX_D`.
            #[target_feature(enable = $features)]
            unsafe fn forward_bcast(xrows: Rows<$ty>, rows: usize, d: usize, wt: &[$ty], dp: usize, t: usize, z: &mut [$ty]) {
                debug_assert!(t <= L && d <= BCAST_MAX_D && wt.len() >= t * dp && z.len() >= t * rows);
                // SAFETY (whole body): rows below `rows` hold `d` elements (caller contract);
                // `wt` holds t rows of dp ≥ d elements; Zᵀ stores stay below t·rows; a
                // prefetch never faults (its address is formed with wrapping arithmetic).
                unsafe {
                    // W (d × L): row j holds feature j's weights of every class, zero past t.
                    // Only rows j < d are written and read (the buffer is not zeroed: 8 or
                    // 16 KiB per call).
                    let mut w = [const { core::mem::MaybeUninit::<$vec>::uninit() }; BCAST_MAX_D];
                    for (j, wj) in w.iter_mut().enumerate().take(d) {
                        let mut lane = [0.0 as $ty; L];
                        for (k, v) in lane.iter_mut().enumerate().take(t) {
                            *v = *wt.get_unchecked(k * dp + j);
                        }
                        wj.write($load(lane.as_ptr()));
                    }
                    let w = |j: usize| w[j].assume_init();
                    let zp = z.as_mut_ptr();
                    let line = 64 / core::mem::size_of::<$ty>();
                    let mut i = 0;
                    while i + L <= rows {
                        let mut acc = [$setzero(); L];
                        let mut xr = [xrows.base; L];
                        let mut pf = [xrows.base; L];
                        let mut near = [xrows.base; L];
                        let ask_near = xrows.near(d);
                        for r in 0..L {
                            xr[r] = xrows.row(i + r);
                            pf[r] = xrows.prefetch_target(i + r, L);
                            near[r] = xrows.near_target(i + r, L);
                        }
                        for j in 0..d {
                            if j % line == 0 {
                                for r in 0..L {
                                    request_line(pf[r], near[r], ask_near, j);
                                }
                            }
                            let wj = w(j);
                            for r in 0..L {
                                acc[r] = $fmadd($set1(*xr[r].add(j)), wj, acc[r]);
                            }
                        }
                        let zt = $transpose(acc);
                        for k in 0..t {
                            $store(zp.add(k * rows + i), zt[k]);
                        }
                        i += L;
                    }
                    while i < rows {
                        let xr = xrows.row(i);
                        let mut acc = $setzero();
                        for j in 0..d {
                            acc = $fmadd($set1(*xr.add(j)), w(j), acc);
                        }
                        let mut out = [0.0 as $ty; L];
                        $store(out.as_mut_ptr(), acc);
                        for k in 0..t {
                            *zp.add(k * rows + i) = out[k];
                        }
                        i += 1;
                    }
                }
            }

            /// `Zᵀ (t × rows) = (X_b · W)ᵀ` with `wt` = Wᵀ (t × dp).
            ///
            /// # Safety
            /// The CPU supports this module's features; `x` holds `rows` rows of `d`
            /// elements at stride `xs` (or, with `idx`, X holds every row `idx[i]`, and
            /// `rows ≤ idx.len()`: the block is `idx[..rows]`, later indices are only
            /// prefetched); `wt.len() ≥ t·dp`, `dp ≥ d`, `dp % L == 0`;
            /// `z.len() ≥ rows·t` (Zᵀ, row stride `rows`).
            #[target_feature(enable = $features)]
            pub(crate) unsafe fn forward(x: *const $ty, xs: usize, idx: Option<&[u32]>, rows: usize, d: usize, wt: &[$ty], dp: usize, t: usize, z: &mut [$ty]) {
                // Indices past `rows` name the rows that come next: prefetched, not read.
                let xrows = Rows::new(x, xs, idx, rows);
                // SAFETY: the caller's contract, forwarded.
                if unsafe { $pre(xrows, rows, d, wt, dp, t, z) } {
                    return;
                }
                if t <= L && d <= BCAST_MAX_D {
                    // SAFETY: the caller's contract, and the shape limits just checked.
                    unsafe { forward_bcast(xrows, rows, d, wt, dp, t, z) };
                    return;
                }
                let cmax = TILES.fwd_classes;
                let chunks = t.div_ceil(cmax);
                let cw = t.div_ceil(chunks.max(1));
                let (wp, zp) = (wt.as_ptr(), z.as_mut_ptr());
                let mut k0 = 0;
                // SAFETY: every tile stays inside the ranges the caller guarantees.
                unsafe {
                    while k0 < t {
                        let c = cw.min(t - k0);
                        let mut i = 0;
                        while rows - i >= $R {
                            by_classes!(c, fwd, $R; xrows, i, d, wp.add(k0 * dp), dp, zp.add(k0 * rows + i), rows);
                            i += $R;
                        }
                        while i < rows {
                            by_classes!(c, fwd, 1; xrows, i, d, wp.add(k0 * dp), dp, zp.add(k0 * rows + i), rows);
                            i += 1;
                        }
                        k0 += c;
                    }
                }
            }

            /// `Gᵀ (t × dp) += δ_bᵀ · X_b` with `delta` = δᵀ (t × rows); with `overwrite`,
            /// `Gᵀ = δ_bᵀ · X_b` (every element of the t × dp buffer is written).
            ///
            /// # Safety
            /// As [`forward`], with `gt.len() ≥ t·dp` and `delta.len() ≥ rows·t`.
            #[target_feature(enable = $features)]
            pub(crate) unsafe fn backward(x: *const $ty, xs: usize, idx: Option<&[u32]>, rows: usize, d: usize, delta: &[$ty], t: usize, gt: &mut [$ty], dp: usize, overwrite: bool) {
                // The block's rows were read by the forward pass and are in cache. Short
                // scattered rows request the look-ahead's rows here, far ahead into L2 (see
                // `request_line`); the forward pass requested them into L1.
                let xrows = Rows::new(x, xs, idx.map(|i| &i[..rows]), rows);
                let far = Rows::new(x, xs, idx, rows);
                // SAFETY: the caller's contract, forwarded.
                unsafe {
                    if far.near(d) {
                        backward_by::<true>(xrows, far, rows, d, delta, t, gt, dp, overwrite);
                    } else {
                        backward_by::<false>(xrows, far, rows, d, delta, t, gt, dp, overwrite);
                    }
                }
            }

            /// [`backward`] on `xrows`; with `FAR`, the first class tile's column tiles
            /// share the far requests of `far`'s look-ahead rows, line by line.
            ///
            /// # Safety
            /// As [`backward`].
            #[target_feature(enable = $features)]
            unsafe fn backward_by<const FAR: bool>(xrows: Rows<$ty>, far: Rows<$ty>, rows: usize, d: usize, delta: &[$ty], t: usize, gt: &mut [$ty], dp: usize, overwrite: bool) {
                let cmax = TILES.bwd_classes;
                let chunks = t.div_ceil(cmax);
                let cw = t.div_ceil(chunks.max(1));
                let (dpt, gp) = (delta.as_ptr(), gt.as_mut_ptr());
                let wide = $Q * L;
                let full = d - d % wide;
                // Column tiles per class tile, and the row's 64-byte lines to request.
                let tiles = full / wide + (d - full).div_ceil(L);
                let lines = (d * core::mem::size_of::<$ty>()).div_ceil(64);
                let share = |k0: usize, tile: usize| if k0 == 0 { tile * lines / tiles..(tile + 1) * lines / tiles } else { 0..0 };
                let mut k0 = 0;
                // SAFETY: every tile stays inside the ranges the caller guarantees; the tail
                // vectors past `d` are loaded with masks and land in Gᵀ's zero padding.
                unsafe {
                    while k0 < t {
                        let c = cw.min(t - k0);
                        let mut j = 0;
                        let mut tile = 0;
                        while j < full {
                            by_classes!(c, bwd, $Q, FAR; xrows, far, share(k0, tile), j, rows, dpt.add(k0 * rows), rows, gp.add(k0 * dp + j), dp, L, overwrite);
                            j += wide;
                            tile += 1;
                        }
                        while j < d {
                            let rem = (d - j).min(L);
                            by_classes!(c, bwd, 1, FAR; xrows, far, share(k0, tile), j, rows, dpt.add(k0 * rows), rows, gp.add(k0 * dp + j), dp, rem, overwrite);
                            j += L;
                            tile += 1;
                        }
                        k0 += c;
                    }
                }
            }
        }
    };
}

#[inline(always)]
unsafe fn mask_ps(n: usize) -> __m256i {
    // SAFETY: plain integer vector construction; AVX is implied by every caller's features.
    unsafe {
        let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), idx)
    }
}

#[inline(always)]
unsafe fn mask_pd(n: usize) -> __m256i {
    // SAFETY: as in `mask_ps`.
    unsafe {
        let idx = _mm256_setr_epi64x(0, 1, 2, 3);
        _mm256_cmpgt_epi64(_mm256_set1_epi64x(n as i64), idx)
    }
}

/// Rows of at most this many features use the broadcast forward kernel when the classes
/// fit one vector (longer rows amortise the horizontal sums of the tiled kernel).
pub(crate) const BCAST_MAX_D: usize = 256;

/// 8×8 transpose: lane `k` of input `r` becomes lane `r` of output `k`.
#[inline(always)]
unsafe fn transpose_ps(r: [__m256; 8]) -> [__m256; 8] {
    // SAFETY: register-only shuffles.
    unsafe {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        // Lanes 0–3 of row block 0–3: classes 0,1,2,3 (low halves) and 4,5,6,7 (high).
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }
}

/// 4×4 transpose: lane `k` of input `r` becomes lane `r` of output `k`.
#[inline(always)]
unsafe fn transpose_pd(r: [__m256d; 4]) -> [__m256d; 4] {
    // SAFETY: register-only shuffles.
    unsafe {
        let t0 = _mm256_unpacklo_pd(r[0], r[1]); // r0_0 r1_0 | r0_2 r1_2
        let t1 = _mm256_unpackhi_pd(r[0], r[1]); // r0_1 r1_1 | r0_3 r1_3
        let t2 = _mm256_unpacklo_pd(r[2], r[3]);
        let t3 = _mm256_unpackhi_pd(r[2], r[3]);
        [
            _mm256_permute2f128_pd::<0x20>(t0, t2),
            _mm256_permute2f128_pd::<0x20>(t1, t3),
            _mm256_permute2f128_pd::<0x31>(t0, t2),
            _mm256_permute2f128_pd::<0x31>(t1, t3),
        ]
    }
}

/// Eight 8-lane accumulators → one vector of their eight sums.
#[inline(always)]
unsafe fn reduce_ps(a: [__m256; 8]) -> __m256 {
    // SAFETY: register-only arithmetic.
    unsafe {
        let t0 = _mm256_hadd_ps(a[0], a[1]);
        let t1 = _mm256_hadd_ps(a[2], a[3]);
        let t2 = _mm256_hadd_ps(a[4], a[5]);
        let t3 = _mm256_hadd_ps(a[6], a[7]);
        let u0 = _mm256_hadd_ps(t0, t1);
        let u1 = _mm256_hadd_ps(t2, t3);
        let lo = _mm256_permute2f128_ps(u0, u1, 0x20);
        let hi = _mm256_permute2f128_ps(u0, u1, 0x31);
        _mm256_add_ps(lo, hi)
    }
}

/// Four 4-lane accumulators → one vector of their four sums.
#[inline(always)]
unsafe fn reduce_pd(a: [__m256d; 4]) -> __m256d {
    // SAFETY: register-only arithmetic.
    unsafe {
        let t0 = _mm256_hadd_pd(a[0], a[1]); // [a0_01, a1_01, a0_23, a1_23]
        let t1 = _mm256_hadd_pd(a[2], a[3]);
        let lo = _mm256_permute2f128_pd(t0, t1, 0x20);
        let hi = _mm256_permute2f128_pd(t0, t1, 0x31);
        _mm256_add_pd(lo, hi)
    }
}

/// Lane mask of the first `n` (≤ 16) f32 lanes of a 512-bit vector.
#[inline(always)]
fn mask16(n: usize) -> __mmask16 {
    if n >= 16 {
        0xFFFF
    } else {
        ((1u32 << n) - 1) as __mmask16
    }
}

/// Lane mask of the first `n` (≤ 8) f64 lanes of a 512-bit vector.
#[inline(always)]
fn mask8(n: usize) -> __mmask8 {
    if n >= 8 { 0xFF } else { ((1u32 << n) - 1) as __mmask8 }
}

/// `_mm512_maskz_loadu_ps` with the argument order of `_mm256_maskload_ps`.
///
/// # Safety
/// The lanes selected by `m` are readable from `p`; AVX-512F is enabled in the caller.
#[inline(always)]
unsafe fn maskload16(p: *const f32, m: __mmask16) -> __m512 {
    // SAFETY: masked-off lanes touch no memory; the rest is the caller's contract.
    unsafe { _mm512_maskz_loadu_ps(m, p) }
}

/// `_mm512_maskz_loadu_pd` with the argument order of `_mm256_maskload_pd`.
///
/// # Safety
/// As [`maskload16`].
#[inline(always)]
unsafe fn maskload8(p: *const f64, m: __mmask8) -> __m512d {
    // SAFETY: as in `maskload16`.
    unsafe { _mm512_maskz_loadu_pd(m, p) }
}

/// Sixteen 16-lane accumulators → one vector of their sixteen sums (lane k = sum of
/// `a[k]`): halving the width four times, each step adding two shuffles of two inputs.
#[inline(always)]
unsafe fn reduce16(a: [__m512; 16]) -> __m512 {
    // SAFETY: register-only arithmetic; AVX-512F is enabled in every caller.
    unsafe {
        // The tree below leaves the sum of input q in lane π(q), with π an involution;
        // feeding it a[π(q)] puts the sum of a[k] in lane k.
        let b = [
            a[0], a[2], a[1], a[3], a[8], a[10], a[9], a[11], a[4], a[6], a[5], a[7], a[12], a[14], a[13], a[15],
        ];
        let mut c = [_mm512_setzero_ps(); 8];
        for i in 0..8 {
            c[i] = _mm512_add_ps(
                _mm512_shuffle_f32x4::<0x44>(b[i], b[i + 8]),
                _mm512_shuffle_f32x4::<0xEE>(b[i], b[i + 8]),
            );
        }
        let mut d = [_mm512_setzero_ps(); 4];
        for i in 0..4 {
            d[i] = _mm512_add_ps(
                _mm512_shuffle_f32x4::<0x88>(c[i], c[i + 4]),
                _mm512_shuffle_f32x4::<0xDD>(c[i], c[i + 4]),
            );
        }
        let e0 = _mm512_add_ps(
            _mm512_shuffle_ps::<0x44>(d[0], d[2]),
            _mm512_shuffle_ps::<0xEE>(d[0], d[2]),
        );
        let e1 = _mm512_add_ps(
            _mm512_shuffle_ps::<0x44>(d[1], d[3]),
            _mm512_shuffle_ps::<0xEE>(d[1], d[3]),
        );
        _mm512_add_ps(_mm512_shuffle_ps::<0x88>(e0, e1), _mm512_shuffle_ps::<0xDD>(e0, e1))
    }
}

/// Eight 8-lane accumulators → one vector of their eight sums (as [`reduce16`]).
#[inline(always)]
unsafe fn reduce8(a: [__m512d; 8]) -> __m512d {
    // SAFETY: register-only arithmetic; AVX-512F is enabled in every caller.
    unsafe {
        let b = [a[0], a[1], a[4], a[5], a[2], a[3], a[6], a[7]];
        let mut c = [_mm512_setzero_pd(); 4];
        for i in 0..4 {
            c[i] = _mm512_add_pd(
                _mm512_shuffle_f64x2::<0x44>(b[i], b[i + 4]),
                _mm512_shuffle_f64x2::<0xEE>(b[i], b[i + 4]),
            );
        }
        let d0 = _mm512_add_pd(
            _mm512_shuffle_f64x2::<0x88>(c[0], c[2]),
            _mm512_shuffle_f64x2::<0xDD>(c[0], c[2]),
        );
        let d1 = _mm512_add_pd(
            _mm512_shuffle_f64x2::<0x88>(c[1], c[3]),
            _mm512_shuffle_f64x2::<0xDD>(c[1], c[3]),
        );
        _mm512_add_pd(_mm512_unpacklo_pd(d0, d1), _mm512_unpackhi_pd(d0, d1))
    }
}

/// 16×16 transpose: lane `k` of input `r` becomes lane `r` of output `k`.
#[inline(always)]
unsafe fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
    // SAFETY: register-only shuffles; AVX-512F is enabled in every caller.
    unsafe {
        let mut t = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        // u[4i + m], 128-bit lane q: rows 4i..4i+4 of column 4q + m.
        let mut u = [_mm512_setzero_ps(); 16];
        for i in 0..4 {
            u[4 * i] = _mm512_shuffle_ps::<0x44>(t[4 * i], t[4 * i + 2]);
            u[4 * i + 1] = _mm512_shuffle_ps::<0xEE>(t[4 * i], t[4 * i + 2]);
            u[4 * i + 2] = _mm512_shuffle_ps::<0x44>(t[4 * i + 1], t[4 * i + 3]);
            u[4 * i + 3] = _mm512_shuffle_ps::<0xEE>(t[4 * i + 1], t[4 * i + 3]);
        }
        let mut w = [_mm512_setzero_ps(); 16];
        for h in [0, 8] {
            for k in 0..4 {
                w[h + k] = _mm512_shuffle_f32x4::<0x88>(u[h + k], u[h + k + 4]);
                w[h + k + 4] = _mm512_shuffle_f32x4::<0xDD>(u[h + k], u[h + k + 4]);
            }
        }
        let mut out = [_mm512_setzero_ps(); 16];
        for k in 0..4 {
            out[k] = _mm512_shuffle_f32x4::<0x88>(w[k], w[k + 8]);
            out[k + 8] = _mm512_shuffle_f32x4::<0xDD>(w[k], w[k + 8]);
            out[k + 4] = _mm512_shuffle_f32x4::<0x88>(w[k + 4], w[k + 12]);
            out[k + 12] = _mm512_shuffle_f32x4::<0xDD>(w[k + 4], w[k + 12]);
        }
        out
    }
}

/// 8×8 transpose of f64: lane `k` of input `r` becomes lane `r` of output `k`.
#[inline(always)]
unsafe fn transpose8(r: [__m512d; 8]) -> [__m512d; 8] {
    // SAFETY: register-only shuffles; AVX-512F is enabled in every caller.
    unsafe {
        // t[2i + m], 128-bit lane q: rows 2i, 2i+1 of column 2q + m.
        let mut t = [_mm512_setzero_pd(); 8];
        for i in 0..4 {
            t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
        }
        let mut out = [_mm512_setzero_pd(); 8];
        for m in 0..2 {
            // Rows 0–3 and 4–7: lanes (rows 0–1, 2–3) of columns m, 4+m (v0) and 2+m, 6+m (v1).
            let v0 = _mm512_shuffle_f64x2::<0x88>(t[m], t[2 + m]);
            let v1 = _mm512_shuffle_f64x2::<0xDD>(t[m], t[2 + m]);
            let w0 = _mm512_shuffle_f64x2::<0x88>(t[4 + m], t[6 + m]);
            let w1 = _mm512_shuffle_f64x2::<0xDD>(t[4 + m], t[6 + m]);
            out[m] = _mm512_shuffle_f64x2::<0x88>(v0, w0);
            out[4 + m] = _mm512_shuffle_f64x2::<0xDD>(v0, w0);
            out[2 + m] = _mm512_shuffle_f64x2::<0x88>(v1, w1);
            out[6 + m] = _mm512_shuffle_f64x2::<0xDD>(v1, w1);
        }
        out
    }
}

/// The forward pre-pass of the kernel families that have none: declines every shape.
///
/// # Safety
/// None (it reads nothing); `unsafe` only to share the signature of [`quads_f32`].
#[inline(always)]
unsafe fn no_pre<T>(_: Rows<T>, _: usize, _: usize, _: &[T], _: usize, _: usize, _: &mut [T]) -> bool {
    false
}

/// AVX-512 f32 forward for at most 8 classes and at most [`BCAST_MAX_D`] features: the
/// four-features-per-vector kernel [`quads_f32_by`]. Declines (returns `false`) other
/// shapes.
///
/// It replaced a two-features-per-vector form (one 64-bit broadcast of `x[j..j + 2]` per
/// FMA, no lane sums), which on Zen 4 ran its forward at about 60% of the FMA rate.
/// Interleaved, one thread, in cache (16384 rows): 16384×64×8 0.470 → 0.415 ms per epoch,
/// ×30×3 0.83×, ×17×5 0.92×, ×200×8 0.89×, ×128×4 0.69×, ×64×2 0.66×.
///
/// # Safety
/// As [`avx512_f32::forward`]; AVX-512F is available.
#[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
unsafe fn quads_f32(xrows: Rows<f32>, rows: usize, d: usize, wt: &[f32], dp: usize, t: usize, z: &mut [f32]) -> bool {
    if t > 8 || d > BCAST_MAX_D {
        return false;
    }
    // Scattered rows of whole 16-float lines get their requests spread out (see
    // `quads_f32_by`), in their own instances, so that rows in order run code without
    // that loop (one function with both loops measured 2.5% slower on the full batch).
    let spread = xrows.near(d) && d.is_multiple_of(16);
    // SAFETY: as this function's, with the shape limits just checked.
    unsafe {
        match (spread, t <= 4) {
            (true, true) => quads_f32_by::<true, 1>(xrows, rows, d, wt, dp, t, z),
            (true, false) => quads_f32_by::<true, 2>(xrows, rows, d, wt, dp, t, z),
            (false, true) => quads_f32_by::<false, 1>(xrows, rows, d, wt, dp, t, z),
            (false, false) => quads_f32_by::<false, 2>(xrows, rows, d, wt, dp, t, z),
        }
    }
}

/// Pairs of 4-lane sums: lane block `c` of the result is `[a₀+a₁, a₂+a₃, b₀+b₁, b₂+b₃]`
/// of block `c` of `a` and `b`.
#[inline(always)]
unsafe fn pair_sums(a: __m512, b: __m512) -> __m512 {
    // SAFETY: register-only shuffles; AVX-512F is enabled in every caller.
    unsafe { _mm512_add_ps(_mm512_shuffle_ps::<0x88>(a, b), _mm512_shuffle_ps::<0xDD>(a, b)) }
}

/// AVX-512 f32 forward for at most 8 classes and at most [`BCAST_MAX_D`] features: four
/// features per vector. Lane `4c + e` of group `g` holds class `4g + c` at feature
/// `j + e`; one 128-bit broadcast puts `x[j..j + 4]` in every lane block, so one FMA does
/// sixteen useful products with a quarter of the broadcasts of the one-feature form (the
/// broadcasts, not the FMAs, bounded the two-feature form on Zen 4). `G` groups of four
/// classes (1 for `t ≤ 4`, 2 for `t ≤ 8`). A tile of 16 rows sums each class's four
/// lanes with two rounds of in-block shuffles and a 4×4 transpose of lane blocks into Zᵀ.
///
/// With `SPREAD`, each quad of a half-tile issues two of the half's near line requests
/// (request `s` is line `s / 8` of row `s % 8`), so they trickle out instead of leaving in
/// bursts of eight (500000×64×8 at batch 256, measured on the two-feature form this
/// replaced, with the far requests then beside them: −4% to −7% on two threads).
///
/// # Safety
/// As [`quads_f32`]; `t ≤ 4·G`, `d ≤ BCAST_MAX_D`; with `SPREAD`, the rows are indexed
/// and `d` is a multiple of 16.
#[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
unsafe fn quads_f32_by<const SPREAD: bool, const G: usize>(
    xrows: Rows<f32>,
    rows: usize,
    d: usize,
    wt: &[f32],
    dp: usize,
    t: usize,
    z: &mut [f32],
) -> bool {
    debug_assert!(t <= 4 * G && d <= BCAST_MAX_D && wt.len() >= t * dp && dp >= d && z.len() >= t * rows);
    // SAFETY (whole body): rows below `rows` hold `d` elements (caller contract); a quad
    // load at feature 4q reads 4q..4q+3 < d (the last, partial quad is a masked load);
    // `wt` holds t rows of dp ≥ d elements; Zᵀ stores stay below t·rows; a prefetch never
    // faults (its address is formed with wrapping arithmetic).
    unsafe {
        let nq = d / 4;
        let rem = d % 4;
        let tail: __mmask8 = (1u8 << rem) - 1;
        // w[G·q + g] for every quad q < ⌈d/4⌉ (the last one partial when rem > 0) and group
        // g: class 4g + c's features 4q.. in lane block c (zero past d and past t). Only
        // these entries are written and read (the buffer is not zeroed: 8 KiB per call).
        let mut w = [const { core::mem::MaybeUninit::<__m512>::uninit() }; BCAST_MAX_D / 4 * 2];
        for q in 0..d.div_ceil(4) {
            let m: __mmask8 = if q < nq { 0xF } else { tail };
            let block = |k: usize| {
                if k < t {
                    _mm_maskz_loadu_ps(m, wt.as_ptr().add(k * dp + 4 * q))
                } else {
                    _mm_setzero_ps()
                }
            };
            for g in 0..G {
                let v = _mm512_castps128_ps512(block(4 * g));
                let v = _mm512_insertf32x4::<1>(v, block(4 * g + 1));
                let v = _mm512_insertf32x4::<2>(v, block(4 * g + 2));
                w[G * q + g].write(_mm512_insertf32x4::<3>(v, block(4 * g + 3)));
            }
        }
        let w = |i: usize| w[i].assume_init();
        let quad = |x: *const f32| _mm512_broadcast_f32x4(_mm_loadu_ps(x));
        let last = |x: *const f32| _mm512_broadcast_f32x4(_mm_maskz_loadu_ps(tail, x));
        let zp = z.as_mut_ptr();
        let mut i = 0;
        while i + 16 <= rows {
            // tq[g][m]: lane block c holds rows 4m..4m+3 of the tile for class 4g + c.
            let mut tq = [[_mm512_setzero_ps(); 4]; G];
            // Eight rows at a time, so that their pointers stay in registers.
            for h in [0, 8] {
                let mut xr = [xrows.base; 8];
                let mut pf = [xrows.base; 8];
                let mut near = [xrows.base; 8];
                let ask_near = xrows.near(d);
                for r in 0..8 {
                    xr[r] = xrows.row(i + h + r);
                    pf[r] = xrows.prefetch_target(i + h + r, 16);
                    near[r] = xrows.near_target(i + h + r, 16);
                }
                let mut a = [[_mm512_setzero_ps(); G]; 8];
                for q in 0..nq {
                    if SPREAD {
                        // Two of the half's 8·d/16 lines per quad.
                        for s in [2 * q, 2 * q + 1] {
                            prefetch_l1(near[s % 8].wrapping_add(16 * (s / 8)) as *const i8);
                        }
                    } else if q % 4 == 0 {
                        for r in 0..8 {
                            request_line(pf[r], near[r], ask_near, 4 * q);
                        }
                    }
                    for r in 0..8 {
                        let xb = quad(xr[r].add(4 * q));
                        for (g, ag) in a[r].iter_mut().enumerate() {
                            *ag = _mm512_fmadd_ps(xb, w(G * q + g), *ag);
                        }
                    }
                }
                if rem != 0 {
                    for r in 0..8 {
                        let xb = last(xr[r].add(4 * nq));
                        for (g, ag) in a[r].iter_mut().enumerate() {
                            *ag = _mm512_fmadd_ps(xb, w(G * nq + g), *ag);
                        }
                    }
                }
                for g in 0..G {
                    for m in 0..2 {
                        let s0 = pair_sums(a[4 * m][g], a[4 * m + 1][g]);
                        let s1 = pair_sums(a[4 * m + 2][g], a[4 * m + 3][g]);
                        tq[g][h / 4 + m] = pair_sums(s0, s1);
                    }
                }
            }
            for (g, tg) in tq.iter().enumerate() {
                let u0 = _mm512_shuffle_f32x4::<0x44>(tg[0], tg[1]);
                let u1 = _mm512_shuffle_f32x4::<0xEE>(tg[0], tg[1]);
                let u2 = _mm512_shuffle_f32x4::<0x44>(tg[2], tg[3]);
                let u3 = _mm512_shuffle_f32x4::<0xEE>(tg[2], tg[3]);
                let out = [
                    _mm512_shuffle_f32x4::<0x88>(u0, u2),
                    _mm512_shuffle_f32x4::<0xDD>(u0, u2),
                    _mm512_shuffle_f32x4::<0x88>(u1, u3),
                    _mm512_shuffle_f32x4::<0xDD>(u1, u3),
                ];
                for (c, &v) in out.iter().enumerate() {
                    let k = 4 * g + c;
                    if k < t {
                        _mm512_storeu_ps(zp.add(k * rows + i), v);
                    }
                }
            }
            i += 16;
        }
        while i < rows {
            let xr = xrows.row(i);
            let mut acc = [_mm512_setzero_ps(); G];
            for q in 0..nq {
                let xb = quad(xr.add(4 * q));
                for (g, ag) in acc.iter_mut().enumerate() {
                    *ag = _mm512_fmadd_ps(xb, w(G * q + g), *ag);
                }
            }
            if rem != 0 {
                let xb = last(xr.add(4 * nq));
                for (g, ag) in acc.iter_mut().enumerate() {
                    *ag = _mm512_fmadd_ps(xb, w(G * nq + g), *ag);
                }
            }
            for (g, &v) in acc.iter().enumerate() {
                let mut out = [0.0f32; 16];
                _mm512_storeu_ps(out.as_mut_ptr(), v);
                for c in 0..4 {
                    let k = 4 * g + c;
                    if k < t {
                        *zp.add(k * rows + i) = (out[4 * c] + out[4 * c + 1]) + (out[4 * c + 2] + out[4 * c + 3]);
                    }
                }
            }
            i += 1;
        }
    }
    true
}

isa_kernels!(
    avx2_f32,
    "avx2,fma",
    Tiles {
        fwd_classes: 6,
        bwd_classes: 6
    },
    f32,
    __m256,
    8,
    _mm256_loadu_ps,
    _mm256_maskload_ps,
    _mm256_fmadd_ps,
    _mm256_set1_ps,
    _mm256_setzero_ps,
    _mm256_storeu_ps,
    mask_ps,
    reduce_ps,
    transpose_ps,
    2,
    2,
    no_pre
);
isa_kernels!(
    avx512_f32,
    "avx2,fma,avx512f,avx512vl",
    Tiles {
        fwd_classes: 6,
        bwd_classes: 12
    },
    f32,
    __m512,
    16,
    _mm512_loadu_ps,
    maskload16,
    _mm512_fmadd_ps,
    _mm512_set1_ps,
    _mm512_setzero_ps,
    _mm512_storeu_ps,
    mask16,
    reduce16,
    transpose16,
    4,
    2,
    quads_f32
);
isa_kernels!(
    avx2_f64,
    "avx2,fma",
    Tiles {
        fwd_classes: 6,
        bwd_classes: 6
    },
    f64,
    __m256d,
    4,
    _mm256_loadu_pd,
    _mm256_maskload_pd,
    _mm256_fmadd_pd,
    _mm256_set1_pd,
    _mm256_setzero_pd,
    _mm256_storeu_pd,
    mask_pd,
    reduce_pd,
    transpose_pd,
    2,
    2,
    no_pre
);
isa_kernels!(
    avx512_f64,
    "avx2,fma,avx512f,avx512vl",
    Tiles {
        fwd_classes: 6,
        bwd_classes: 12
    },
    f64,
    __m512d,
    8,
    _mm512_loadu_pd,
    maskload8,
    _mm512_fmadd_pd,
    _mm512_set1_pd,
    _mm512_setzero_pd,
    _mm512_storeu_pd,
    mask8,
    reduce8,
    transpose8,
    4,
    2,
    no_pre
);

/// `exp` on one vector of f32 lanes (Cephes `expf`: range reduction by ln 2, degree-6
/// polynomial; about 1 ulp). Inputs below −87.3 give 2⁻¹²⁶ instead of a denormal or 0. One
/// source for each vector width; the caller enables that width's features.
macro_rules! exp_f32 {
    ($(#[$doc:meta])* $name:ident, $v:ty, $set1:ident, $min:ident, $max:ident, $round:ident, $mul:ident,
     $fnmadd:ident, $fmadd:ident, $add:ident, $scale:ident) => {
        $(#[$doc])*
        #[inline(always)]
        unsafe fn $name(x: $v) -> $v {
            // SAFETY: register-only arithmetic; the caller enables this width's features.
            unsafe {
                let x = $min($max(x, $set1(-87.3)), $set1(88.7));
                let fx = $round($mul(x, $set1(std::f32::consts::LOG2_E)));
                let r = $fnmadd(fx, $set1(0.693_359_4), x);
                let r = $fnmadd(fx, $set1(-2.121_944_4e-4), r);
                let mut p = $set1(1.987_569_1e-4);
                p = $fmadd(p, r, $set1(1.398_199_9e-3));
                p = $fmadd(p, r, $set1(8.333_452e-3));
                p = $fmadd(p, r, $set1(4.166_579_6e-2));
                p = $fmadd(p, r, $set1(1.666_666_5e-1));
                p = $fmadd(p, r, $set1(0.5));
                let r2 = $mul(r, r);
                let y = $add($fmadd(p, r2, r), $set1(1.0));
                $scale(y, fx)
            }
        }
    };
}

/// `y·2^n` for 8 f32 lanes, `n` integral in −126..=128: the exponent built from `n` and
/// multiplied in (exact while the result is normal).
#[inline(always)]
unsafe fn pow2_scale_ps(y: __m256, n: __m256) -> __m256 {
    // SAFETY: register-only; AVX2 is enabled in every caller.
    unsafe {
        let e = _mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)));
        _mm256_mul_ps(y, _mm256_castsi256_ps(e))
    }
}

/// `y·2^n` for 16 f32 lanes, `n` integral: one `vscalefps`, which gives the same bits as
/// [`pow2_scale_ps`]'s product for every normal result, in one instruction instead of four
/// (500000×64×8 full batch, one thread: 0.989× of the epoch, 6 interleaved pairs).
#[inline(always)]
unsafe fn pow2_scale16(y: __m512, n: __m512) -> __m512 {
    // SAFETY: register-only; AVX-512F is enabled in every caller.
    unsafe { _mm512_scalef_ps(y, n) }
}

/// Rounds 8 f32 lanes to the nearest integer.
#[inline(always)]
unsafe fn round_ps(x: __m256) -> __m256 {
    // SAFETY: register-only; AVX is enabled in every caller.
    unsafe { _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x) }
}

/// Rounds 16 f32 lanes to the nearest integer.
#[inline(always)]
unsafe fn round16(x: __m512) -> __m512 {
    // SAFETY: register-only; AVX-512F is enabled in every caller.
    unsafe { _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x) }
}

exp_f32!(
    /// `exp` for 8 f32 lanes.
    exp_ps, __m256, _mm256_set1_ps, _mm256_min_ps, _mm256_max_ps, round_ps, _mm256_mul_ps,
    _mm256_fnmadd_ps, _mm256_fmadd_ps, _mm256_add_ps, pow2_scale_ps
);
exp_f32!(
    /// `exp` for 16 f32 lanes (the 512-bit softmax pass).
    exp16, __m512, _mm512_set1_ps, _mm512_min_ps, _mm512_max_ps, round16, _mm512_mul_ps,
    _mm512_fnmadd_ps, _mm512_fmadd_ps, _mm512_add_ps, pow2_scale16
);

/// `ln` of the product of the 8 f64 lanes of `prod` (then reset to ones): the softmax
/// passes accumulate Σ ln s as ln Π s, flushed every 16 groups of rows (see the bound there).
///
/// # Safety
/// AVX is enabled in the caller.
#[inline(always)]
unsafe fn ln_product(prod: &mut [__m256d; 2]) -> f64 {
    // SAFETY: register and stack-array operations only.
    unsafe {
        let mut pv = [0.0f64; 4];
        _mm256_storeu_pd(pv.as_mut_ptr(), _mm256_mul_pd(prod[0], prod[1]));
        *prod = [_mm256_set1_pd(1.0); 2];
        (pv[0] * pv[1] * (pv[2] * pv[3])).ln()
    }
}

/// The end of a softmax pass: the sum of the per-lane loss terms `lacc`, returned, and
/// each class's gradient lanes `gacc[k]` added into `gb[k]`.
///
/// # Safety
/// AVX is enabled in the caller; `gb.len() ≥ gacc.len()`.
#[inline(always)]
unsafe fn finish_sums(lacc: [__m256d; 2], gacc: &[__m256], gb: &mut [f32]) -> f64 {
    // SAFETY: register and stack-array operations; gb is long enough (contract).
    unsafe {
        let mut lv = [0.0f64; 4];
        _mm256_storeu_pd(lv.as_mut_ptr(), _mm256_add_pd(lacc[0], lacc[1]));
        for (k, acc) in gacc.iter().enumerate() {
            let mut a = [0.0f32; 8];
            _mm256_storeu_ps(a.as_mut_ptr(), *acc);
            *gb.get_unchecked_mut(k) += a.iter().sum::<f32>();
        }
        (lv[0] + lv[1]) + (lv[2] + lv[3])
    }
}

/// [`softmax_cols_f32_avx2`] for `C ≤ 16` classes known at compile time: one pass per
/// group of 8 rows with every class's vector in registers (the general version passes
/// over Zᵀ three times). Same arithmetic, same results.
///
/// # Safety
/// As `softmax_cols_f32_avx2` with `t = C`; AVX2 and FMA are enabled in the caller.
#[inline(always)]
unsafe fn softmax_cols_small<const C: usize>(
    zt: &mut [f32],
    rows: usize,
    bias: &[f32],
    labels: &[u32],
    scale: f32,
    gb: &mut [f32],
) -> f64 {
    let groups = rows / 8;
    let zp = zt.as_mut_ptr();
    let mut loss = 0.0f64;
    // SAFETY (whole block): every access is at k·rows + i with k < C and i < rows, inside
    // `zt`; labels are < C; bias and gb hold C values (caller contract).
    unsafe {
        let mut gacc = [_mm256_setzero_ps(); C];
        let vscale = _mm256_set1_ps(scale);
        let mut lacc = [_mm256_setzero_pd(); 2];
        let one = _mm256_set1_pd(1.0);
        let mut prod = [one; 2];
        for g in 0..groups {
            let i = g * 8;
            let yv = _mm256_loadu_si256(labels.as_ptr().add(i) as *const __m256i);
            let mut v = [_mm256_setzero_ps(); C];
            let mut m = _mm256_set1_ps(f32::NEG_INFINITY);
            let mut zl = _mm256_setzero_ps();
            for (k, vk) in v.iter_mut().enumerate() {
                *vk = _mm256_add_ps(
                    _mm256_loadu_ps(zp.add(k * rows + i)),
                    _mm256_set1_ps(*bias.get_unchecked(k)),
                );
                m = _mm256_max_ps(m, *vk);
                let hot = _mm256_castsi256_ps(_mm256_cmpeq_epi32(yv, _mm256_set1_epi32(k as i32)));
                zl = _mm256_blendv_ps(zl, *vk, hot);
            }
            let lz = _mm256_sub_ps(m, zl);
            lacc[0] = _mm256_add_pd(lacc[0], _mm256_cvtps_pd(_mm256_castps256_ps128(lz)));
            lacc[1] = _mm256_add_pd(lacc[1], _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(lz)));
            let mut s = _mm256_setzero_ps();
            for vk in v.iter_mut() {
                *vk = exp_ps(_mm256_sub_ps(*vk, m));
                s = _mm256_add_ps(s, *vk);
            }
            let f = _mm256_div_ps(vscale, s);
            for k in 0..C {
                let hot = _mm256_castsi256_ps(_mm256_cmpeq_epi32(yv, _mm256_set1_epi32(k as i32)));
                let dlt = _mm256_fmsub_ps(v[k], f, _mm256_and_ps(hot, vscale));
                _mm256_storeu_ps(zp.add(k * rows + i), dlt);
                gacc[k] = _mm256_add_ps(gacc[k], dlt);
            }
            prod[0] = _mm256_mul_pd(prod[0], _mm256_cvtps_pd(_mm256_castps256_ps128(s)));
            prod[1] = _mm256_mul_pd(prod[1], _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(s)));
            // As in the general version: at most C¹²⁸ ≤ 16¹²⁸ before each flush.
            if g % 16 == 15 || g + 1 == groups {
                loss += ln_product(&mut prod);
            }
        }
        loss += finish_sums(lacc, &gacc, gb);
    }
    let done = groups * 8;
    loss + crate::kernels::softmax::softmax_delta_cols_range(zt, rows, done, C, bias, labels, scale, gb)
}

/// The 16 f32 lanes of `v` as two vectors of 8 f64 (lanes 0–7, then 8–15).
#[inline(always)]
unsafe fn widen16(v: __m512) -> [__m512d; 2] {
    // SAFETY: register-only conversions; AVX-512F is enabled in every caller.
    unsafe {
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
        [_mm512_cvtps_pd(_mm512_castps512_ps256(v)), _mm512_cvtps_pd(hi)]
    }
}

/// [`softmax_cols_small`] on 16 rows at a time with 512-bit vectors (AVX-512): the same
/// arithmetic per row, in half the instructions. The loss terms and the per-class
/// gradient sums are added in a different order of lanes, so the last bits of the loss
/// and of the bias gradient differ from the 8-row version's.
///
/// # Safety
/// As `softmax_cols_small`; AVX-512F and AVX-512VL are enabled in the caller.
#[inline(always)]
unsafe fn softmax_cols_small16<const C: usize>(
    zt: &mut [f32],
    rows: usize,
    bias: &[f32],
    labels: &[u32],
    scale: f32,
    gb: &mut [f32],
) -> f64 {
    let groups = rows / 16;
    let zp = zt.as_mut_ptr();
    let mut loss = 0.0f64;
    // SAFETY (whole block): every access is at k·rows + i with k < C and i < rows, inside
    // `zt`; labels are < C; bias and gb hold C values (caller contract).
    unsafe {
        let mut gacc = [_mm512_setzero_ps(); C];
        let vscale = _mm512_set1_ps(scale);
        let mut lacc = [_mm512_setzero_pd(); 2];
        let one = _mm512_set1_pd(1.0);
        let mut prod = [one; 2];
        for g in 0..groups {
            let i = g * 16;
            let yv = _mm512_loadu_si512(labels.as_ptr().add(i) as *const _);
            let mut v = [_mm512_setzero_ps(); C];
            let mut hot = [0 as __mmask16; C];
            let mut m = _mm512_set1_ps(f32::NEG_INFINITY);
            let mut zl = _mm512_setzero_ps();
            for k in 0..C {
                v[k] = _mm512_add_ps(
                    _mm512_loadu_ps(zp.add(k * rows + i)),
                    _mm512_set1_ps(*bias.get_unchecked(k)),
                );
                m = _mm512_max_ps(m, v[k]);
                hot[k] = _mm512_cmpeq_epi32_mask(yv, _mm512_set1_epi32(k as i32));
                zl = _mm512_mask_blend_ps(hot[k], zl, v[k]);
            }
            let lz = widen16(_mm512_sub_ps(m, zl));
            lacc[0] = _mm512_add_pd(lacc[0], lz[0]);
            lacc[1] = _mm512_add_pd(lacc[1], lz[1]);
            let mut s = _mm512_setzero_ps();
            for vk in v.iter_mut() {
                *vk = exp16(_mm512_sub_ps(*vk, m));
                s = _mm512_add_ps(s, *vk);
            }
            let f = _mm512_div_ps(vscale, s);
            for k in 0..C {
                let dlt = _mm512_fmsub_ps(v[k], f, _mm512_maskz_mov_ps(hot[k], vscale));
                _mm512_storeu_ps(zp.add(k * rows + i), dlt);
                gacc[k] = _mm512_add_ps(gacc[k], dlt);
            }
            let sw = widen16(s);
            prod[0] = _mm512_mul_pd(prod[0], sw[0]);
            prod[1] = _mm512_mul_pd(prod[1], sw[1]);
            // Each s is in [1, C ≤ 16]: after 8 groups each lane of prod[0]·prod[1] is at
            // most 16¹⁶ and the product of its 8 lanes at most 16¹²⁸ = 2⁵¹², short of f64
            // overflow.
            if g % 8 == 7 || g + 1 == groups {
                let mut pv = [0.0f64; 8];
                _mm512_storeu_pd(pv.as_mut_ptr(), _mm512_mul_pd(prod[0], prod[1]));
                prod = [one; 2];
                loss += ((pv[0] * pv[1]) * (pv[2] * pv[3]) * ((pv[4] * pv[5]) * (pv[6] * pv[7]))).ln();
            }
        }
        let mut lv = [0.0f64; 8];
        _mm512_storeu_pd(lv.as_mut_ptr(), _mm512_add_pd(lacc[0], lacc[1]));
        loss += lv.iter().sum::<f64>();
        for (k, acc) in gacc.iter().enumerate() {
            let mut a = [0.0f32; 16];
            _mm512_storeu_ps(a.as_mut_ptr(), *acc);
            *gb.get_unchecked_mut(k) += a.iter().sum::<f32>();
        }
    }
    let done = groups * 16;
    loss + crate::kernels::softmax::softmax_delta_cols_range(zt, rows, done, C, bias, labels, scale, gb)
}

macro_rules! softmax_cols_f32 {
    ($name:ident, $features:literal, $small:ident) => {
        /// The fused softmax/δ pass over Zᵀ (`t × rows`, row stride `rows`), vectorised
        /// across 8 rows at a time (16 in the AVX-512 pass for at most 16 classes); the
        /// contract of
        /// [`softmax_delta_cols`](crate::kernels::softmax::softmax_delta_cols).
        ///
        /// # Safety
        /// The CPU supports this function's features. `zt.len() ≥ t·rows`, `bias` and `gb`
        /// hold `t` values, `labels` `rows` values, each `< t`, and `t ≤ 128` (`FUSED_MAX_CLASSES`).
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn $name(
            zt: &mut [f32],
            rows: usize,
            t: usize,
            bias: &[f32],
            labels: &[u32],
            scale: f32,
            gb: &mut [f32],
        ) -> f64 {
            debug_assert!(zt.len() >= t * rows && t <= 128 && bias.len() == t && gb.len() == t && labels.len() == rows);
            if t <= 16 {
                // SAFETY: forwarded contract, with C = t.
                return unsafe {
                    match t {
                        1 => $small::<1>(zt, rows, bias, labels, scale, gb),
                        2 => $small::<2>(zt, rows, bias, labels, scale, gb),
                        3 => $small::<3>(zt, rows, bias, labels, scale, gb),
                        4 => $small::<4>(zt, rows, bias, labels, scale, gb),
                        5 => $small::<5>(zt, rows, bias, labels, scale, gb),
                        6 => $small::<6>(zt, rows, bias, labels, scale, gb),
                        7 => $small::<7>(zt, rows, bias, labels, scale, gb),
                        8 => $small::<8>(zt, rows, bias, labels, scale, gb),
                        9 => $small::<9>(zt, rows, bias, labels, scale, gb),
                        10 => $small::<10>(zt, rows, bias, labels, scale, gb),
                        11 => $small::<11>(zt, rows, bias, labels, scale, gb),
                        12 => $small::<12>(zt, rows, bias, labels, scale, gb),
                        13 => $small::<13>(zt, rows, bias, labels, scale, gb),
                        14 => $small::<14>(zt, rows, bias, labels, scale, gb),
                        15 => $small::<15>(zt, rows, bias, labels, scale, gb),
                        _ => $small::<16>(zt, rows, bias, labels, scale, gb),
                    }
                };
            }
            let groups = rows / 8;
            let zp = zt.as_mut_ptr();
            let mut loss = 0.0f64;
            // SAFETY (whole block): every access is at k·rows + i with k < t and i < rows,
            // inside `zt`; labels are < t (caller contract); `gacc` has 128 ≥ t entries.
            unsafe {
                let mut gacc = [_mm256_setzero_ps(); 128];
                let vscale = _mm256_set1_ps(scale);
                // Per-lane sums in f64: Σ (max − z_true), and Π s (flushed through one ln
                // every 16 groups), so no scalar dependency chain runs per row.
                let mut lacc = [_mm256_setzero_pd(); 2];
                let one = _mm256_set1_pd(1.0);
                let mut prod = [one; 2];
                for g in 0..groups {
                    let i = g * 8;
                    let yv = _mm256_loadu_si256(labels.as_ptr().add(i) as *const __m256i);
                    let mut m = _mm256_set1_ps(f32::NEG_INFINITY);
                    let mut zl = _mm256_setzero_ps();
                    for k in 0..t {
                        let p = zp.add(k * rows + i);
                        let v = _mm256_add_ps(_mm256_loadu_ps(p), _mm256_set1_ps(*bias.get_unchecked(k)));
                        _mm256_storeu_ps(p, v);
                        m = _mm256_max_ps(m, v);
                        let hot = _mm256_castsi256_ps(_mm256_cmpeq_epi32(yv, _mm256_set1_epi32(k as i32)));
                        zl = _mm256_blendv_ps(zl, v, hot);
                    }
                    let lz = _mm256_sub_ps(m, zl);
                    lacc[0] = _mm256_add_pd(lacc[0], _mm256_cvtps_pd(_mm256_castps256_ps128(lz)));
                    lacc[1] = _mm256_add_pd(lacc[1], _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(lz)));
                    let mut s = _mm256_setzero_ps();
                    for k in 0..t {
                        let p = zp.add(k * rows + i);
                        let e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(p), m));
                        _mm256_storeu_ps(p, e);
                        s = _mm256_add_ps(s, e);
                    }
                    let f = _mm256_div_ps(vscale, s);
                    // δ = p·scale − onehot·scale, the one-hot from a lane-wise label compare,
                    // so the bias gradient sums the small δ values (as the scalar twin does).
                    for k in 0..t {
                        let p = zp.add(k * rows + i);
                        let hot = _mm256_castsi256_ps(_mm256_cmpeq_epi32(yv, _mm256_set1_epi32(k as i32)));
                        let dlt = _mm256_fmsub_ps(_mm256_loadu_ps(p), f, _mm256_and_ps(hot, vscale));
                        _mm256_storeu_ps(p, dlt);
                        gacc[k] = _mm256_add_ps(gacc[k], dlt);
                    }
                    prod[0] = _mm256_mul_pd(prod[0], _mm256_cvtps_pd(_mm256_castps256_ps128(s)));
                    prod[1] = _mm256_mul_pd(prod[1], _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(s)));
                    // Σ ln s = ln Π s; each s is in [1, t], so after 16 groups each lane of
                    // prod[0]·prod[1] is at most t³², and the product of its 4 lanes at most
                    // t¹²⁸ ≤ 128¹²⁸ ≈ 5e269, short of f64 overflow (1.8e308).
                    if g % 16 == 15 || g + 1 == groups {
                        loss += ln_product(&mut prod);
                    }
                }
                loss += finish_sums(lacc, &gacc[..t], gb);
            }
            let done = groups * 8;
            loss + crate::kernels::softmax::softmax_delta_cols_range(zt, rows, done, t, bias, labels, scale, gb)
        }
    };
}

softmax_cols_f32!(softmax_cols_f32_avx2, "avx2,fma", softmax_cols_small);
softmax_cols_f32!(
    softmax_cols_f32_avx512,
    "avx2,fma,avx512f,avx512vl",
    softmax_cols_small16
);
