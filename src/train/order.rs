//! Mini-batch epoch orders: a fresh keyed pseudo-random permutation of the rows every
//! epoch, computed where it is read, so that training keeps no state per row.
//!
//! Place `p` of an epoch holds row `π(p)`, where `π` is a Feistel network over the
//! `k`-bit integers (`2^k` the smallest power of two ≥ N) restricted to `0..N` by cycle
//! walking ([`Order`] states it exactly). Each thread computes its own places of a step
//! a step ahead into a short list (so the kernels' look-ahead runs on into the next
//! step's rows, and the labels' lines are requested early), and gathers their labels from
//! the caller's labels when the step comes.
//!
//! The order used to be a Fisher–Yates shuffle built whole at each epoch's start: 13 bytes
//! of index state per row (the order, the threads' lists of their places, a byte copy of
//! the labels), 6.5 MB at 500000 rows. Now a mini-batch fit allocates less than one batch
//! of X beyond X (`tests/memory.rs`). The work per place is about the same: at
//! 500000×64×8, batch 256, each thread spent about 0.7 ms of its epoch building and laying
//! out the shuffle, and now spends 0.32–0.38 ms computing places, 0.13–0.17 requesting
//! their labels and about 0.23 gathering them (README *Performance* has the side-by-side
//! epochs).
//!
//! A Feistel network with independent random round functions is a pseudo-random
//! permutation (Luby and Rackoff): its orders are not exactly uniform over the N! orders,
//! as a Fisher–Yates shuffle's are, but the tests find places, rows and neighbours spread
//! evenly. They also caught what was too weak: three rounds at 2¹⁶ rows and more (the
//! gaps between consecutive places' rows), a round function of one product (neighbours),
//! and four rounds on 2-bit halves (places); hence [`rounds`].

use std::ops::Range;

use crate::error::{Error, Result};
use crate::rng::Rng;

/// The most Feistel rounds an epoch's permutation takes (see [`rounds`]).
const MAX_ROUNDS: usize = 32;

/// The rounds of the network over `k`-bit integers: 4 from 16 bits on, more for smaller
/// domains, whose halves of `⌊k/2⌋` bits (and round functions of few values) mix less per
/// round: `2·⌈16 / ⌊k/2⌋⌉` (32 for `k ≤ 3`).
fn rounds(k: u32) -> usize {
    (2 * 16u32.div_ceil((k / 2).max(1))).max(4) as usize
}

/// The rows of an epoch's places, computed on demand: a keyed permutation of `0..n`.
///
/// With `k` the number of bits of `n − 1` (0 for `n = 1`), `a = ⌊k/2⌋` and `b = k − a`,
/// the network maps a `k`-bit `x` through rounds `i = 0..R` (`R` = [`rounds`]`(k)`, even,
/// at least 4), with key `K_i` and widths
/// `(h, l) = (a, b)` for even `i` and `(b, a)` for odd `i`:
///
/// `L = x >> l`, `R = x mod 2^l`, `x ← R·2^h + (L ⊕ (F(R ⊕ K_i) mod 2^h))`,
///
/// where `F(v)`, on 32 bits with wrapping products, is `v·0x9E3779B1`, then `v ⊕= v >> 16`,
/// `v·0x85EBCA6B`, `v ⊕= v >> 16`. Each round is a bijection of the `k`-bit integers (it
/// can be undone from its output), and so is the network `E`. Place `p` of `0..n` holds
/// `π(p) = E(p)` if that is below `n`, else `E(E(p))` if that is, and so on (cycle walking:
/// `π` is a bijection of `0..n`). The keys come from one `next_u64` word `w` of the fit's
/// seeded stream per epoch: `K_0, K_1` are the low and high halves of the first word of
/// `Rng::new(w)`'s stream, `K_2, K_3` of the second, and so on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Order {
    /// The last row, `n − 1`.
    last: u32,
    /// `a` and `b` (see above).
    a: u32,
    b: u32,
    keys: [u32; MAX_ROUNDS],
    rounds: usize,
}

impl Order {
    /// The most places an order has: rows are `u32`.
    const MAX_PLACES: u64 = 1 << 32;

    /// An order of `n` places, keyed by zeros until [`Order::reseed`];
    /// [`Error::TooLarge`] over [`Order::MAX_PLACES`] places.
    ///
    /// # Panics
    /// If `n` is 0 (training never asks: X is not empty).
    pub(crate) fn new(n: usize) -> Result<Order> {
        assert!(n >= 1, "an order of no places");
        if n as u64 > Self::MAX_PLACES {
            return Err(Error::TooLarge {
                what: format!(
                    "mini-batch training over {n} rows (rows are indexed by 32 bits: at most {})",
                    Self::MAX_PLACES
                ),
            });
        }
        let k = usize::BITS - (n - 1).leading_zeros();
        Ok(Order {
            // At most 2³² places, so n − 1 fits.
            last: (n - 1) as u32,
            a: k / 2,
            b: k - k / 2,
            keys: [0; MAX_ROUNDS],
            rounds: rounds(k),
        })
    }

    /// The number of places.
    pub(crate) fn len(&self) -> usize {
        self.last as usize + 1
    }

    /// Draws the next epoch's keys from `rng` (one `next_u64`, see [`Order`]).
    pub(crate) fn reseed(&mut self, rng: &mut Rng) {
        let mut keys = Rng::new(rng.next_u64());
        for pair in self.keys[..self.rounds].chunks_mut(2) {
            let w = keys.next_u64();
            pair[0] = w as u32;
            pair[1] = (w >> 32) as u32;
        }
    }

    /// The row at place `p` (`p < len`).
    #[inline(always)]
    pub(crate) fn row(&self, p: usize) -> u32 {
        debug_assert!(p <= self.last as usize);
        let mut x = self.network(p as u32);
        while x > self.last {
            x = self.network(x);
        }
        x
    }

    /// The network `E` (see [`Order`]).
    #[inline(always)]
    fn network(&self, mut x: u32) -> u32 {
        let (mut h, mut l) = (self.a, self.b);
        for &key in &self.keys[..self.rounds] {
            x = round(x, key, h, l);
            (h, l) = (l, h);
        }
        x
    }

    /// The rows of places `lo..lo + out.len()` into `out`.
    ///
    /// # Panics
    /// If the places run past the order's end.
    pub(crate) fn rows(&self, lo: usize, out: &mut [u32]) {
        assert!(lo + out.len() <= self.len(), "places past the order's end");
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F (checked just above).
                return unsafe { self.rows_avx512(lo, out) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked just above).
                return unsafe { self.rows_avx2(lo, out) };
            }
        }
        self.rows_lanes(lo, out);
    }

    /// [`Order::rows`] with AVX-512: sixteen places a vector, four vectors' rounds
    /// interleaved, each round as in [`Order::network`]; places that come out at or past
    /// `n` are set aside and walk on sixteen at a time. About 1.1 ns a place on one core of
    /// the Zen 4 host (500000 places in runs of 128; 0.85 ns where no place walks on). (The
    /// lanes' loop compiled for AVX-512 used 128- and 256-bit vectors and took about 3 ns;
    /// a pass over all 64 lanes while any walked on, 1.15 ns.)
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn rows_avx512(&self, lo: usize, out: &mut [u32]) {
        use std::arch::x86_64::*;
        // The network on G vectors side by side (their rounds interleaved: one vector's
        // round is a chain of about 15 cycles of latency).
        #[target_feature(enable = "avx512f")]
        #[inline]
        fn network<const G: usize>(x: &mut [__m512i; G], keys: &[u32], a: u32, b: u32) {
            let (mut h, mut l) = (a, b);
            // (Safe intrinsics: the function enables AVX-512F.)
            for &key in keys {
                let ml = _mm512_set1_epi32(mask(l) as i32);
                let (sh, sl) = (_mm_cvtsi32_si128(h as i32), _mm_cvtsi32_si128(l as i32));
                let mh = _mm512_set1_epi32(mask(h) as i32);
                let k = _mm512_set1_epi32(key as i32);
                for v in x.iter_mut() {
                    let r = _mm512_and_si512(*v, ml);
                    let m = _mm512_mullo_epi32(_mm512_xor_si512(r, k), _mm512_set1_epi32(M1 as i32));
                    let m = _mm512_mullo_epi32(
                        _mm512_xor_si512(m, _mm512_srli_epi32::<16>(m)),
                        _mm512_set1_epi32(M2 as i32),
                    );
                    let f = _mm512_and_si512(_mm512_xor_si512(m, _mm512_srli_epi32::<16>(m)), mh);
                    *v = _mm512_or_si512(_mm512_sll_epi32(r, sh), _mm512_xor_si512(_mm512_srl_epi32(*v, sl), f));
                }
                (h, l) = (l, h);
            }
        }
        /// Places not yet below `n` after one pass: their values and where they go.
        struct Pending {
            x: [u32; SEGMENT + LANES],
            at: [u32; SEGMENT + LANES],
            len: usize,
        }
        /// One pass of the network over the `16·G` places from `p`, into `dst` (the
        /// segment's places from `at`); lanes at or past `n` are also appended to `pend`.
        #[target_feature(enable = "avx512f")]
        #[inline]
        fn pass<const G: usize>(o: &Order, keys: &[u32], p: u32, dst: &mut [u32], at: usize, pend: &mut Pending) {
            assert!(dst.len() == LANES * G && at + LANES * G <= SEGMENT);
            let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            let last = _mm512_set1_epi32(o.last as i32);
            let mut x: [__m512i; G] = std::array::from_fn(|g| {
                _mm512_add_epi32(iota, _mm512_set1_epi32(p.wrapping_add(16 * g as u32) as i32))
            });
            network(&mut x, keys, o.a, o.b);
            for (g, v) in x.iter().enumerate() {
                let over = _mm512_cmpgt_epu32_mask(*v, last);
                // SAFETY: dst has 16·G places; the pending arrays have room for 16 past
                // their `len ≤ at + 16g ≤ SEGMENT − 16` entries (each place of the segment
                // is appended at most once, and only places before `at + 16g` so far).
                // (Without a branch: whether a vector has such lanes is a coin toss at 500000
                // rows.)
                unsafe {
                    _mm512_storeu_si512(dst.as_mut_ptr().add(16 * g).cast(), *v);
                    let where_ = _mm512_add_epi32(iota, _mm512_set1_epi32((at + 16 * g) as i32));
                    let n = pend.len;
                    _mm512_storeu_si512(pend.x.as_mut_ptr().add(n).cast(), _mm512_maskz_compress_epi32(over, *v));
                    _mm512_storeu_si512(
                        pend.at.as_mut_ptr().add(n).cast(),
                        _mm512_maskz_compress_epi32(over, where_),
                    );
                    pend.len += over.count_ones() as usize;
                }
            }
        }
        let keys = &self.keys[..self.rounds];
        let last = _mm512_set1_epi32(self.last as i32);
        for (k, seg) in out.chunks_mut(SEGMENT).enumerate() {
            let base = (lo + k * SEGMENT) as u32;
            let mut pend = Pending {
                x: [0; SEGMENT + LANES],
                at: [0; SEGMENT + LANES],
                len: 0,
            };
            let full = seg.len() / LANES * LANES;
            let mut i = 0;
            while i + 4 * LANES <= full {
                pass::<4>(
                    self,
                    keys,
                    base.wrapping_add(i as u32),
                    &mut seg[i..i + 4 * LANES],
                    i,
                    &mut pend,
                );
                i += 4 * LANES;
            }
            while i < full {
                pass::<1>(
                    self,
                    keys,
                    base.wrapping_add(i as u32),
                    &mut seg[i..i + LANES],
                    i,
                    &mut pend,
                );
                i += LANES;
            }
            for (j, v) in seg[full..].iter_mut().enumerate() {
                *v = self.row(base as usize + full + j);
            }
            // The places that walk on, sixteen at a time (about 5% of them at 500000 rows; a
            // pass over every lane of a group while any walked on took 1.15 ns a place
            // against 1.12).
            for start in (0..pend.len).step_by(LANES) {
                let count = (pend.len - start).min(LANES);
                let lanes = ((1u32 << count) - 1) as __mmask16;
                // SAFETY: `start + 16 ≤ len + 15 < SEGMENT + 16`, the arrays' length.
                let mut x = [unsafe { _mm512_loadu_si512(pend.x.as_ptr().add(start).cast()) }];
                let mut over = lanes;
                while over != 0 {
                    let mut y = x;
                    network(&mut y, keys, self.a, self.b);
                    x[0] = _mm512_mask_mov_epi32(x[0], over, y[0]);
                    over = _mm512_cmpgt_epu32_mask(x[0], last) & lanes;
                }
                let mut done = [0u32; LANES];
                // SAFETY: 16 lanes into 16 places.
                unsafe { _mm512_storeu_si512(done.as_mut_ptr().cast(), x[0]) };
                for j in 0..count {
                    seg[pend.at[start + j] as usize] = done[j];
                }
            }
        }
    }

    /// [`Order::rows`] for AVX2.
    ///
    /// # Safety
    /// The CPU has AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn rows_avx2(&self, lo: usize, out: &mut [u32]) {
        self.rows_lanes(lo, out);
    }

    /// [`Order::rows`], sixteen places side by side (each lane walks until every lane is
    /// below `n`; a lane that is done keeps its row), the rest one at a time: the AVX2 and
    /// portable path, written for the compiler to vectorise (the lanes' loop inside the
    /// rounds' loop).
    #[inline(always)]
    fn rows_lanes(&self, lo: usize, out: &mut [u32]) {
        let mut chunks = out.chunks_exact_mut(LANES);
        let mut p = lo as u32;
        for chunk in &mut chunks {
            let mut x = [0u32; LANES];
            for (i, v) in x.iter_mut().enumerate() {
                *v = p.wrapping_add(i as u32);
            }
            self.network_lanes(&mut x);
            while x.iter().fold(false, |any, &v| any | (v > self.last)) {
                let mut e = x;
                self.network_lanes(&mut e);
                for (v, e) in x.iter_mut().zip(e) {
                    *v = if *v > self.last { e } else { *v };
                }
            }
            chunk.copy_from_slice(&x);
            p = p.wrapping_add(LANES as u32);
        }
        for (i, v) in chunks.into_remainder().iter_mut().enumerate() {
            *v = self.row(p as usize + i);
        }
    }

    /// The network `E` of each lane.
    #[inline(always)]
    fn network_lanes(&self, x: &mut [u32; LANES]) {
        let (mut h, mut l) = (self.a, self.b);
        for &key in &self.keys[..self.rounds] {
            for v in x.iter_mut() {
                *v = round(*v, key, h, l);
            }
            (h, l) = (l, h);
        }
    }
}

/// The rows of an epoch's places, read in runs: an [`Order`], or a list of rows (tests).
///
/// # Safety
/// Every row that [`Places::rows`] writes is below [`Places::rows_below`]: an epoch checks
/// that bound against X once and then hands the rows to kernels that do not check them.
pub(crate) unsafe trait Places: Sync {
    /// The number of places.
    fn len(&self) -> usize;
    /// A bound on the rows: each is below it.
    fn rows_below(&self) -> usize;
    /// The rows of places `lo..lo + out.len()` into `out`.
    fn rows(&self, lo: usize, out: &mut [u32]);
}

// SAFETY: `Order::rows` writes only rows below `len`: each place's walk through the network
// stops only at a value at most `last` (the scalar walk's and the vector walk's exit
// conditions, tested against a plain statement of the permutation).
unsafe impl Places for Order {
    fn len(&self) -> usize {
        Order::len(self)
    }
    fn rows_below(&self) -> usize {
        Order::len(self)
    }
    fn rows(&self, lo: usize, out: &mut [u32]) {
        Order::rows(self, lo, out);
    }
}

// SAFETY: the bound is the list's largest row plus one.
unsafe impl Places for [u32] {
    fn len(&self) -> usize {
        <[u32]>::len(self)
    }
    fn rows_below(&self) -> usize {
        self.iter().max().map_or(0, |&m| m as usize + 1)
    }
    fn rows(&self, lo: usize, out: &mut [u32]) {
        out.copy_from_slice(&self[lo..lo + out.len()]);
    }
}

/// What a mini-batch step reads of an epoch's order: the step's rows followed by the next
/// step's, computed a step ahead (the kernels' look-ahead runs on into the next step's
/// rows, and the next step's labels are requested early), and the step's labels, gathered
/// from the caller's labels. Room for a number of places a step, allocated once and rolled
/// forward step by step. Gang members keep one each for their places of every step; other
/// mini-batch steps keep one for whole steps.
#[derive(Debug, Default)]
pub(crate) struct StepRows {
    /// The step's rows, then the next step's (room for two steps).
    rows: Vec<u32>,
    /// The step's labels.
    labels: Vec<u32>,
    /// How many of `rows` are the step's, and how many after them the next step's.
    cur: usize,
    next: usize,
    /// Whether the next step's rows are in place, and the step's labels gathered.
    followed: bool,
    gathered: bool,
    /// Every row held is below this (the orders' [`Places::rows_below`]).
    below: usize,
}

impl StepRows {
    /// Room for `most` places a step.
    pub(crate) fn new(most: usize) -> StepRows {
        StepRows {
            rows: vec![0; 2 * most],
            labels: vec![0; most],
            ..StepRows::default()
        }
    }

    /// At least room for `most` places a step (allocates only to grow).
    pub(crate) fn reserve(&mut self, most: usize) {
        if self.labels.len() < most {
            *self = StepRows::new(most);
        }
    }

    /// Starts an epoch: the rows of `order`'s `places` are the current step's.
    pub(crate) fn start<O: Places + ?Sized>(&mut self, order: &O, places: Range<usize>) {
        self.below = order.rows_below();
        (self.cur, self.next) = (places.len(), 0);
        (self.followed, self.gathered) = (false, false);
        order.rows(places.start, &mut self.rows[..self.cur]);
    }

    /// Puts the rows of `order`'s `places` (the next step's) after the current step's, and
    /// requests their labels' lines from `y` into L2.
    ///
    /// # Panics
    /// If the order's rows may reach past `y`.
    pub(crate) fn follow<O: Places + ?Sized>(&mut self, order: &O, places: Range<usize>, y: &[u32]) {
        self.below = self.below.max(order.rows_below());
        assert!(self.below <= y.len(), "rows without labels");
        self.next = places.len();
        self.followed = true;
        let next = &mut self.rows[self.cur..self.cur + self.next];
        order.rows(places.start, next);
        // SAFETY: every row is below `self.below ≤ y.len()` (the `Places` contract).
        unsafe { prefetch_labels(y, next) };
    }

    /// The current step's places.
    pub(crate) fn len(&self) -> usize {
        self.cur
    }

    /// The next step's places (0 until [`StepRows::follow`]).
    pub(crate) fn next_len(&self) -> usize {
        self.next
    }

    /// Whether [`StepRows::follow`] has put the next step's rows in place.
    pub(crate) fn followed(&self) -> bool {
        self.followed
    }

    /// Gathers the current step's labels from `y` now, so that [`StepRows::step`] need not.
    ///
    /// # Panics
    /// If the rows may reach past `y`.
    pub(crate) fn gather(&mut self, y: &[u32]) {
        assert!(self.below <= y.len(), "rows without labels");
        let labels = &mut self.labels[..self.cur];
        // SAFETY: every row is below `self.below ≤ y.len()` (the `Places` contract).
        unsafe { gather_labels(y, &self.rows, labels) };
        self.gathered = true;
    }

    /// The current step's rows followed by the first `ahead` rows of the next step's (at
    /// most all of them), and the current step's labels, gathered from `y`.
    ///
    /// # Panics
    /// If the rows may reach past `y`.
    pub(crate) fn step(&mut self, y: &[u32], ahead: usize) -> (&[u32], &[u32]) {
        if !self.gathered {
            self.gather(y);
        }
        (&self.rows[..self.cur + ahead.min(self.next)], &self.labels[..self.cur])
    }

    /// Makes the next step's rows the current ones.
    pub(crate) fn advance(&mut self) {
        self.rows.copy_within(self.cur..self.cur + self.next, 0);
        (self.cur, self.next) = (self.next, 0);
        (self.followed, self.gathered) = (false, false);
    }
}

/// `out[i] = labels[rows[i]]` for every `i` of `out` (sixteen at a time by AVX-512
/// gathers where the CPU has AVX-512F).
///
/// # Safety
/// `rows` has at least `out.len()` entries, each below `labels.len()`.
unsafe fn gather_labels(labels: &[u32], rows: &[u32], out: &mut [u32]) {
    debug_assert!(rows.len() >= out.len() && rows[..out.len()].iter().all(|&r| (r as usize) < labels.len()));
    // (The vector gather's offsets are signed 32-bit: only below 2³¹ rows.)
    #[cfg(target_arch = "x86_64")]
    if labels.len() <= i32::MAX as usize && std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F (checked just above); the labels fit the gather's offsets; the
        // caller's contract.
        return unsafe { gather_labels_avx512(labels, rows, out) };
    }
    for (o, &r) in out.iter_mut().zip(rows) {
        // SAFETY: `r < labels.len()` (the caller's contract).
        *o = unsafe { *labels.get_unchecked(r as usize) };
    }
}

/// [`gather_labels`] with AVX-512.
///
/// # Safety
/// As [`gather_labels`]; the CPU has AVX-512F, and `labels` has at most 2³¹ − 1 entries
/// (each row is a signed 32-bit offset).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gather_labels_avx512(labels: &[u32], rows: &[u32], out: &mut [u32]) {
    use std::arch::x86_64::*;
    let n = out.len();
    let mut i = 0;
    while i + LANES <= n {
        // SAFETY: rows[i..i + 16] and out[i..i + 16] are in bounds (i + 16 ≤ n ≤ rows.len());
        // every gathered row is below labels.len() (the caller's contract).
        unsafe {
            let idx = _mm512_loadu_si512(rows.as_ptr().add(i).cast());
            let v = _mm512_i32gather_epi32::<4>(idx, labels.as_ptr().cast());
            _mm512_storeu_si512(out.as_mut_ptr().add(i).cast(), v);
        }
        i += LANES;
    }
    for (o, &r) in out[i..].iter_mut().zip(&rows[i..]) {
        // SAFETY: `r < labels.len()` (the caller's contract).
        *o = unsafe { *labels.get_unchecked(r as usize) };
    }
}

/// Asks for the cache line of `labels[r]`, for each `r` of `rows`, into L2 (a hint).
///
/// # Safety
/// Every row is below `labels.len()`.
unsafe fn prefetch_labels(labels: &[u32], rows: &[u32]) {
    for &r in rows {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch never faults; the address is inside `labels` (the caller's
        // contract).
        unsafe {
            use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T1>(labels.as_ptr().add(r as usize).cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (labels, r);
    }
}

/// Places computed side by side in [`Order::rows`].
const LANES: usize = 16;
/// Places per segment of [`Order::rows`]'s AVX-512 walk (those that walk on are finished
/// segment by segment).
const SEGMENT: usize = 256;

/// `2^bits − 1` for `bits ≤ 16`.
#[inline(always)]
fn mask(bits: u32) -> u32 {
    (1 << bits) - 1
}

/// One round of the network (see [`Order`]): `x`'s high part of `h` bits and low part `R`
/// of `l` bits become `R·2^h + (high ⊕ (F(R ⊕ key) mod 2^h))`.
#[inline(always)]
fn round(x: u32, key: u32, h: u32, l: u32) -> u32 {
    let r = x & mask(l);
    (r << h) | ((x >> l) ^ mix(r ^ key, h))
}

/// The round function's multipliers.
const M1: u32 = 0x9E37_79B1;
const M2: u32 = 0x85EB_CA6B;

/// The round function `F(v) mod 2^h` (see [`Order`]).
#[inline(always)]
fn mix(v: u32, h: u32) -> u32 {
    let v = v.wrapping_mul(M1);
    let v = (v ^ (v >> 16)).wrapping_mul(M2);
    (v ^ (v >> 16)) & mask(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented permutation, written out plainly from its definition.
    fn plain(seed: u64, n: usize) -> Vec<u32> {
        let k = (0..=32).find(|&k| (1u64 << k) >= n as u64).unwrap();
        let (a, b) = (k / 2, k - k / 2);
        let rounds = (2 * 16u64.div_ceil(a.max(1))).max(4);
        let mut stream = Rng::new(Rng::new(seed).next_u64());
        let keys: Vec<u64> = (0..rounds / 2)
            .flat_map(|_| {
                let w = stream.next_u64();
                [w & 0xffff_ffff, w >> 32]
            })
            .collect();
        let f = |v: u64, h: u64| {
            let v = (v * 0x9E37_79B1) % (1 << 32);
            let v = ((v ^ (v >> 16)) * 0x85EB_CA6B) % (1 << 32);
            (v ^ (v >> 16)) % (1 << h)
        };
        let e = |mut x: u64| {
            for (i, key) in keys.iter().enumerate() {
                let (h, l) = if i % 2 == 0 { (a, b) } else { (b, a) };
                let (big, small) = (x >> l, x % (1 << l));
                x = small * (1 << h) + (big ^ f(small ^ key, h));
            }
            x
        };
        (0..n as u64)
            .map(|p| {
                let mut x = e(p);
                while x >= n as u64 {
                    x = e(x);
                }
                x as u32
            })
            .collect()
    }

    fn built(seed: u64, n: usize) -> Vec<u32> {
        let mut order = Order::new(n).unwrap();
        order.reseed(&mut Rng::new(seed));
        let mut out = vec![0; n];
        order.rows(0, &mut out);
        out
    }

    #[test]
    fn the_order_is_the_documented_permutation() {
        for n in [
            1usize, 2, 3, 4, 5, 15, 16, 17, 31, 33, 63, 64, 65, 200, 1000, 4097, 70000,
        ] {
            let want = plain(9, n);
            let mut sorted = want.clone();
            sorted.sort_unstable();
            assert!(sorted.iter().enumerate().all(|(i, &r)| r as usize == i), "n {n}");
            assert_eq!(built(9, n), want, "n {n}");
            // Any run of places, at any offset, is the same run of the order.
            let order = {
                let mut o = Order::new(n).unwrap();
                o.reseed(&mut Rng::new(9));
                o
            };
            for (lo, len) in [(0, n), (n / 3, n - n / 3), (n - 1, 1), (n / 2, n.min(37) / 2)] {
                let mut part = vec![u32::MAX; len];
                order.rows(lo, &mut part);
                assert_eq!(part, want[lo..lo + len], "n {n}, places {lo}+{len}");
                assert!((0..len).all(|i| order.row(lo + i) == want[lo + i]));
            }
            // Every SIMD path against the lanes' loop as written and the scalar walk.
            #[cfg(target_arch = "x86_64")]
            {
                let mut lanes = vec![0; n];
                order.rows_lanes(0, &mut lanes);
                assert_eq!(lanes, want, "n {n}");
                if std::arch::is_x86_feature_detected!("avx512f") {
                    let mut v = vec![0; n];
                    // SAFETY: AVX-512F checked just above.
                    unsafe { order.rows_avx512(0, &mut v) };
                    assert_eq!(v, want, "n {n}, AVX-512");
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    let mut v = vec![0; n];
                    // SAFETY: AVX2 checked just above.
                    unsafe { order.rows_avx2(0, &mut v) };
                    assert_eq!(v, want, "n {n}, AVX2");
                }
            }
        }
        // One place more than rows can index is an error, not a panic.
        assert!(matches!(Order::new((1 << 32) + 1), Err(Error::TooLarge { .. })));
        // The largest order: 2³² places, 32 bits in two 16-bit halves.
        let mut big = Order::new(1 << 32).unwrap();
        big.reseed(&mut Rng::new(3));
        let mut v = [0u32; 40];
        big.rows((1 << 32) - 40, &mut v);
        assert!((0..40).all(|i| big.row((1 << 32) - 40 + i) == v[i]));
    }

    #[test]
    fn places_rows_and_neighbours_are_spread_evenly() {
        // Over many epochs of 12 rows: each row at each place equally often (chi-square,
        // 121 degrees of freedom, 0.1% critical value 173.6), and each ordered pair of
        // rows in neighbouring places equally often (131 degrees of freedom: 185.0). An
        // unkeyed or weakly mixed network fails both (a rotation of the rows, say).
        let (n, epochs) = (12usize, 24_000u64);
        let mut at = vec![0u64; n * n];
        let mut next = vec![0u64; n * n];
        let mut order = Order::new(n).unwrap();
        let mut rng = Rng::new(77);
        let mut rows = vec![0; n];
        for _ in 0..epochs {
            order.reseed(&mut rng);
            order.rows(0, &mut rows);
            for (p, &r) in rows.iter().enumerate() {
                at[p * n + r as usize] += 1;
            }
            for w in rows.windows(2) {
                next[w[0] as usize * n + w[1] as usize] += 1;
            }
        }
        let chi2 =
            |cells: &[u64], expect: f64| cells.iter().map(|&c| (c as f64 - expect).powi(2) / expect).sum::<f64>();
        let spread = chi2(&at, epochs as f64 / n as f64);
        assert!(spread < 173.6, "places: chi-square {spread}");
        let pairs: Vec<u64> = (0..n * n).filter(|i| i / n != i % n).map(|i| next[i]).collect();
        let neighbours = chi2(&pairs, epochs as f64 * (n - 1) as f64 / (n * (n - 1)) as f64);
        assert!(neighbours < 185.0, "neighbours: chi-square {neighbours}");
        // Every order of 4 rows occurs.
        let mut seen = std::collections::HashSet::new();
        let mut four = Order::new(4).unwrap();
        let mut v = [0u32; 4];
        for _ in 0..4000 {
            four.reseed(&mut rng);
            four.rows(0, &mut v);
            seen.insert(v);
        }
        assert_eq!(seen.len(), 24);
    }

    #[test]
    fn large_orders_spread_rows_and_steps_evenly() {
        // Four rounds from 16-bit halves on: over 4000 epochs, a run of 257 places (at a
        // different offset each epoch) has its rows spread evenly over 64 bins of the rows,
        // and so are the gaps from each row to the next (chi-square, 63 degrees of
        // freedom, 0.1% critical value 103.4). Consecutive places that stayed close (a
        // network that mixes the low bits little) fail the second.
        for n in [65536usize, 70000, 500000] {
            let mut order = Order::new(n).unwrap();
            assert_eq!(order.rounds, 4);
            let mut rng = Rng::new(5);
            let mut rows = vec![0u32; 257];
            let bins = 64;
            let (mut gaps, mut spread) = (vec![0u64; bins], vec![0u64; bins]);
            for e in 0..4000 {
                order.reseed(&mut rng);
                order.rows((e * 7919) % (n - 257), &mut rows);
                for w in rows.windows(2) {
                    gaps[(w[1] as usize + n - w[0] as usize) % n * bins / n] += 1;
                    spread[w[0] as usize * bins / n] += 1;
                }
            }
            let chi2 = |c: &[u64]| {
                let e = c.iter().sum::<u64>() as f64 / c.len() as f64;
                c.iter().map(|&x| (x as f64 - e).powi(2) / e).sum::<f64>()
            };
            assert!(chi2(&spread) < 103.4, "n {n}: rows, chi-square {}", chi2(&spread));
            assert!(chi2(&gaps) < 103.4, "n {n}: gaps, chi-square {}", chi2(&gaps));
        }
    }

    #[test]
    fn step_rows_serve_each_step_however_early_their_work_is_done() {
        // A gang member that waits at a barrier follows the step after next and gathers
        // the next step's labels early; one that does not does both at the step's start.
        let (n, batch, seed) = (1000, 96, 5);
        let order = plain(seed, n);
        let labels: Vec<u32> = (0..n as u32).map(|i| i.wrapping_mul(2654435761) % 7).collect();
        let mut built = Order::new(n).unwrap();
        built.reseed(&mut Rng::new(seed));
        let steps = n.div_ceil(batch);
        let places = |s: usize| s * batch..((s + 1) * batch).min(n);
        for early in [[false; 2], [true; 2], [true, false], [false, true]] {
            let mut rows = StepRows::new(batch);
            rows.start(&built, places(0));
            for step in 0..steps {
                if step + 1 < steps && !rows.followed() {
                    rows.follow(&built, places(step + 1), &labels);
                }
                let (seq, got) = rows.step(&labels, batch);
                let (lo, hi) = (step * batch, ((step + 2) * batch).min(n));
                assert_eq!(seq, &order[lo..hi], "{early:?}, step {step}: rows and the next step's");
                let want: Vec<u32> = order[places(step)].iter().map(|&r| labels[r as usize]).collect();
                assert_eq!(got, &want[..], "{early:?}, step {step}: labels");
                rows.advance();
                if early[step % 2] {
                    if step + 2 < steps {
                        rows.follow(&built, places(step + 2), &labels);
                    }
                    rows.gather(&labels);
                }
            }
        }
    }

    #[test]
    fn labels_are_gathered_from_their_rows() {
        let labels: Vec<u32> = (0..1000u32).map(|i| i.wrapping_mul(2654435761) % 300).collect();
        let rows: Vec<u32> = (0..70u32).map(|i| (i * 7919) % 1000).collect();
        for len in [0, 1, 15, 16, 17, 32, 47, 70] {
            let want: Vec<u32> = rows[..len].iter().map(|&r| labels[r as usize]).collect();
            let mut got = vec![u32::MAX; len + 1];
            // SAFETY: every row is below 1000 = labels.len().
            unsafe {
                prefetch_labels(&labels, &rows);
                gather_labels(&labels, &rows, &mut got[..len]);
            }
            assert_eq!(got[..len], want[..], "len {len}");
            assert_eq!(got[len], u32::MAX, "len {len}: nothing written past out");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx512f") {
                let mut v = vec![0; len];
                // SAFETY: AVX-512F checked just above; rows as above, 1000 labels (below 2³¹).
                unsafe { gather_labels_avx512(&labels, &rows, &mut v) };
                assert_eq!(v, want, "len {len}, AVX-512");
            }
        }
    }
}
