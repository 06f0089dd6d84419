//! Mini-batch epoch orders: a fresh uniformly random permutation of the rows every epoch,
//! each entry carrying its row's label, built by the team in two halves side by side.
//!
//! Each entry carries its row's label along, so a step reads its labels in order instead
//! of gathering them from scattered places, and a swap while shuffling moves one entry.
//! An entry is one `u32` (`row << 8 | label`) when the rows fit in 24 bits and the labels
//! in 8, which covers every data set up to 16.7 million rows and 256 classes, and a
//! `[row, label]` pair otherwise ([`Entry`]). The packed entry halves the bytes that the
//! listing writes, the shuffle moves and the epoch's layout reads (500000×64×8 at batch
//! 256, two threads: the order's build 0.88 → 0.55–0.60 ms per epoch together with
//! [`Rng::shuffle_pairs`], see README *Performance*).

use crate::rng::Rng;
use crate::train::team::{Shared, Team};

/// One place of an epoch's order: a row of X and its label.
pub(crate) trait Entry: Copy + Default + Send + Sync {
    /// The labels as the listing reads them (see [`Order::new`]).
    type Label: Copy + Into<u32> + Sync;
    /// The entry of `row`, whose label is `label`.
    fn new(row: usize, label: u32) -> Self;
    /// Its row.
    fn row(self) -> u32;
    /// Its row's label.
    fn label(self) -> u32;
    /// Lists, in increasing order, the rows `64·k + b` for which bit `b` of `masks[k]` is
    /// set, as entries into `dst` (exactly as many as the masks have bits set); `labels`
    /// holds every listed row's label.
    fn list(masks: impl Iterator<Item = u64>, labels: &[Self::Label], dst: &mut [Self]) {
        list_scalar(masks, labels, dst);
    }
}

/// Rows below 2²⁴ with labels below 2⁸, packed as `row << 8 | label`; listed from byte
/// labels.
impl Entry for u32 {
    type Label = u8;
    #[inline(always)]
    fn new(row: usize, label: u32) -> Self {
        debug_assert!(row < 1 << 24 && label < 1 << 8);
        ((row as u32) << 8) | label
    }
    #[inline(always)]
    fn row(self) -> u32 {
        self >> 8
    }
    #[inline(always)]
    fn label(self) -> u32 {
        self & 0xff
    }
    fn list(masks: impl Iterator<Item = u64>, labels: &[u8], dst: &mut [Self]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            let mut at = 0;
            for (k, m) in masks.enumerate() {
                let n = m.count_ones() as usize;
                assert!(at + n <= dst.len(), "more rows listed than places");
                // The vector reads the 16 labels from the group's first row on.
                assert!(m == 0 || 64 * k + 64 - 16 * ((m.leading_zeros() as usize) / 16) <= labels.len());
                // SAFETY: the CPU has AVX-512F (checked above); the labels of every
                // 16-row group with a listed row are readable (asserted just above: the
                // last such group ends within `labels`), and the word's n entries land in
                // dst[at..at + n] (asserted in bounds).
                unsafe { list_word_avx512(m, 64 * k, labels.as_ptr(), dst.as_mut_ptr().add(at)) };
                at += n;
            }
            return;
        }
        list_scalar(masks, labels, dst);
    }
}

/// Any row and label, as a pair.
impl Entry for [u32; 2] {
    type Label = u32;
    #[inline(always)]
    fn new(row: usize, label: u32) -> Self {
        [row as u32, label]
    }
    #[inline(always)]
    fn row(self) -> u32 {
        self[0]
    }
    #[inline(always)]
    fn label(self) -> u32 {
        self[1]
    }
}

/// [`Entry::list`], one set bit at a time.
fn list_scalar<E: Entry>(masks: impl Iterator<Item = u64>, labels: &[E::Label], dst: &mut [E]) {
    let mut at = 0;
    for (k, mut m) in masks.enumerate() {
        while m != 0 {
            let row = 64 * k + m.trailing_zeros() as usize;
            dst[at] = E::new(row, labels[row].into());
            at += 1;
            m &= m - 1;
        }
    }
}

/// The packed entries of the rows `base + b` for the set bits `b` of `m`, in increasing
/// order, written to `dst[..popcount(m)]`: sixteen rows at a time, their entries built in
/// one vector and compressed to the listed ones. (One set bit at a time, the loop's exit
/// mispredicts once per word: listing a half of 500000 rows took 0.31 ms that way, 0.19
/// this way, measured in the epochs of 500000×64×8 at batch 256.)
///
/// # Safety
/// The CPU has AVX-512F; `labels` is readable for the 16 rows from `base + 16c` for every
/// group `c` of `m` with a set bit; `dst` writable for `popcount(m)` entries.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn list_word_avx512(m: u64, base: usize, labels: *const u8, dst: *mut u32) {
    use std::arch::x86_64::*;
    let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let mut at = 0;
    for c in 0..4 {
        let sub = (m >> (16 * c)) as u16;
        if sub == 0 {
            continue;
        }
        let first = base + 16 * c;
        // SAFETY: the group's 16 labels are readable (the caller's contract); masked-off
        // lanes are not written; the `popcount(sub)` lanes written are the next places of
        // dst (the caller's contract).
        unsafe {
            let rows = _mm512_add_epi32(iota, _mm512_set1_epi32(first as i32));
            let lab = _mm512_cvtepu8_epi32(_mm_loadu_si128(labels.add(first).cast()));
            let e = _mm512_or_si512(_mm512_slli_epi32::<8>(rows), lab);
            let packed = _mm512_maskz_compress_epi32(sub, e);
            let n = sub.count_ones();
            _mm512_mask_storeu_epi32(dst.add(at).cast(), ((1u32 << n) - 1) as u16, packed);
            at += n as usize;
        }
    }
}

/// An epoch's order, in the entry type the data allows (see [`Entry`]).
pub(crate) enum Order<'l> {
    /// Packed entries, and the labels as bytes (N of them, then 16 spare bytes that the
    /// vector listing may read past the last row): a quarter of the bytes that the two
    /// threads read every epoch to list their halves.
    Packed(Vec<u32>, Vec<u8>),
    Pairs(Vec<[u32; 2]>, &'l [u32]),
}

impl<'l> Order<'l> {
    /// An order with a place for each of `labels` (no places for full batches), each
    /// label below `t`.
    pub(crate) fn new(labels: &'l [u32], t: usize, minibatch: bool) -> Order<'l> {
        let n = labels.len();
        if !minibatch {
            return Order::Pairs(Vec::new(), labels);
        }
        if n <= 1 << 24 && t <= 1 << 8 {
            let bytes = labels.iter().map(|&l| l as u8).chain([0; 16]).collect();
            Order::Packed(vec![0; n], bytes)
        } else {
            Order::Pairs(vec![[0; 2]; n], labels)
        }
    }

    /// Builds the next epoch's order from `rng` (see [`build_order`]); `bits` holds N/64
    /// words (allocated once per fit).
    pub(crate) fn build(&mut self, team: &Team, rng: &mut Rng, bits: &mut [u64]) {
        match self {
            Order::Packed(o, labels) => build_order(team, rng, bits, o, labels),
            Order::Pairs(o, labels) => build_order(team, rng, bits, o, labels),
        }
    }

    /// The rows of places `lo..ahead` into `rows`, and the labels of places `lo..hi` into
    /// `labels` (both cleared first).
    pub(crate) fn step_lists(&self, lo: usize, hi: usize, ahead: usize, rows: &mut Vec<u32>, labels: &mut Vec<u32>) {
        fn lists<E: Entry>(o: &[E], lo: usize, hi: usize, ahead: usize, rows: &mut Vec<u32>, labels: &mut Vec<u32>) {
            rows.clear();
            rows.extend(o[lo..ahead].iter().map(|e| e.row()));
            labels.clear();
            labels.extend(o[lo..hi].iter().map(|e| e.label()));
        }
        match self {
            Order::Packed(o, _) => lists(o, lo, hi, ahead, rows, labels),
            Order::Pairs(o, _) => lists(o, lo, hi, ahead, rows, labels),
        }
    }

    /// Asks for the entries of places `lo..hi` into L2.
    pub(crate) fn prefetch(&self, lo: usize, hi: usize) {
        match self {
            Order::Packed(o, _) => crate::kernels::prefetch_row::<_, false>(&o[lo..hi]),
            Order::Pairs(o, _) => crate::kernels::prefetch_row::<_, false>(&o[lo..hi]),
        }
    }
}

/// One epoch's order of the rows (`out[k]` = the entry of the row at place `k`), a
/// uniformly random permutation drawn from `rng`, built by the team in two halves side by
/// side (Rao and Sandelius's method with two buckets):
/// 1. `base = rng.next_u64()`; row `i` goes to half `b_i`, bit `i mod 64` of word
///    `i div 64` of `Rng::new(base)`'s stream (one `next_u64` per 64 rows, in order);
/// 2. the rows of half 0, in increasing order, fill places `0..c₀`, those of half 1 the
///    rest;
/// 3. half `h` is shuffled by [`Rng::shuffle_pairs`] on `Rng::new(base + 1 + h)`.
///
/// Each row's half is a fair coin and each half is shuffled uniformly, so every order is
/// equally likely; the result depends on the stream only, not on which thread builds which
/// half. `bits` holds N/64 words.
pub(crate) fn build_order<E: Entry>(team: &Team, rng: &mut Rng, bits: &mut [u64], out: &mut [E], labels: &[E::Label]) {
    let n = out.len();
    debug_assert_eq!(bits.len(), n.div_ceil(64));
    let base = rng.next_u64();
    let mut coins = Rng::new(base);
    for w in bits.iter_mut() {
        *w = coins.next_u64();
    }
    // The rows of the last word (all 64 bits when N is a multiple of 64).
    let tail = if n.is_multiple_of(64) {
        u64::MAX
    } else {
        (1u64 << (n % 64)) - 1
    };
    if let Some(last) = bits.last_mut() {
        *last &= tail;
    }
    let c1: usize = bits.iter().map(|w| w.count_ones() as usize).sum();
    let split = n - c1;
    let bits = &*bits;
    let out = Shared::new(out);
    team.run(2, &|half| {
        let (lo, hi) = if half == 0 { (0, split) } else { (split, n) };
        // SAFETY: the two tasks take the disjoint places 0..split and split..n.
        let dst = unsafe { out.range_mut(lo, hi) };
        // This half's rows of each word (past N, the complement's high bits are not rows).
        let last = bits.len().saturating_sub(1);
        let masks = bits.iter().enumerate().map(|(k, &w)| {
            if half == 1 {
                w
            } else if k == last {
                !w & tail
            } else {
                !w
            }
        });
        E::list(masks, labels, dst);
        Rng::new(base.wrapping_add(1 + half as u64)).shuffle_pairs(dst);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::team::with_team;

    /// The documented order, written out plainly (rows only).
    fn plain(seed: u64, n: usize) -> Vec<u32> {
        let base = Rng::new(seed).next_u64();
        let mut coins = Rng::new(base);
        let mut halves = [Vec::new(), Vec::new()];
        let mut word = 0;
        for i in 0..n {
            if i % 64 == 0 {
                word = coins.next_u64();
            }
            halves[((word >> (i % 64)) & 1) as usize].push(i as u32);
        }
        let mut out = Vec::new();
        for (h, rows) in halves.iter_mut().enumerate() {
            Rng::new(base.wrapping_add(1 + h as u64)).shuffle_pairs(rows);
            out.extend_from_slice(rows);
        }
        out
    }

    fn built(seed: u64, n: usize, helpers: usize, packed: bool) -> Vec<u32> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let labels: Vec<u32> = (0..n as u32).map(|i| i % 7).collect();
        let mut order = Order::new(&labels, 7, true);
        assert_eq!(matches!(order, Order::Packed(..)), n <= 1 << 24);
        if !packed {
            order = Order::Pairs(vec![[0, 6]; n], &labels);
        }
        let mut bits = vec![0u64; n.div_ceil(64)];
        pool.install(|| with_team(helpers, |team| order.build(team, &mut Rng::new(seed), &mut bits)));
        let (mut rows, mut out_labels) = (Vec::new(), Vec::new());
        order.step_lists(0, n, n, &mut rows, &mut out_labels);
        assert!(
            rows.iter().zip(&out_labels).all(|(r, l)| *l == r % 7),
            "labels travel with their rows"
        );
        rows
    }

    #[test]
    fn the_order_is_the_documented_one_with_or_without_a_helper() {
        for n in [1usize, 2, 63, 64, 65, 200, 5000] {
            let want = plain(9, n);
            let mut sorted = want.clone();
            sorted.sort_unstable();
            assert!(sorted.iter().enumerate().all(|(i, &r)| r as usize == i), "n {n}");
            for helpers in [0, 1] {
                assert_eq!(built(9, n, helpers, true), want, "n {n}, helpers {helpers}");
                assert_eq!(built(9, n, helpers, false), want, "n {n}, helpers {helpers}");
            }
        }
    }

    #[test]
    fn the_vector_listing_equals_the_scalar_one() {
        // Masks with empty, full and partial 16-row groups, a last word short of 64 rows.
        let n: usize = 64 * 5 + 37;
        // Byte labels with the 16 spare bytes that `Order::new` adds.
        let labels: Vec<u8> = (0..n).map(|i| ((i * 37) % 251) as u8).chain([0; 16]).collect();
        let masks = [
            0u64,
            u64::MAX,
            0x8000_0000_0001_ffff,
            0x0123_4567_89ab_cdef,
            (1 << 37) - 2,
            (1 << 37) - 1,
        ];
        for take in 1..=masks.len() {
            let words = &masks[masks.len() - take..];
            let words: Vec<u64> = words
                .iter()
                .copied()
                .chain(std::iter::repeat(0))
                .take(n.div_ceil(64))
                .collect();
            let count: usize = words.iter().map(|w| w.count_ones() as usize).sum();
            // One spare place each side: the listing writes exactly `count` entries.
            let mut fast = vec![u32::MAX; count + 1];
            <u32 as Entry>::list(words.iter().copied(), &labels, &mut fast[..count]);
            let mut slow = vec![u32::MAX; count + 1];
            list_scalar::<u32>(words.iter().copied(), &labels, &mut slow[..count]);
            assert_eq!(fast, slow, "masks {words:x?}");
            assert_eq!(fast[count], u32::MAX);
            let rows: Vec<u32> = fast[..count].iter().map(|e| e.row()).collect();
            assert!(rows.windows(2).all(|w| w[0] < w[1]));
            assert!(
                fast[..count]
                    .iter()
                    .all(|e| e.label() == u32::from(labels[e.row() as usize]))
            );
        }
    }

    #[test]
    fn orders_are_uniform() {
        // All 24 orders of 4 rows equally often: chi-square with 23 degrees of freedom
        // (0.1% critical value 49.7), for the documented order, which the test above shows
        // the engine builds. A biased order (say, halves not shuffled) fails.
        let draws = 24_000u64;
        let mut counts = std::collections::HashMap::new();
        for seed in 0..draws {
            *counts.entry(plain(seed, 4)).or_insert(0usize) += 1;
        }
        assert_eq!(counts.len(), 24);
        let e = draws as f64 / 24.0;
        let chi2: f64 = counts.values().map(|&c| (c as f64 - e).powi(2) / e).sum();
        assert!(chi2 < 49.7, "chi-square {chi2}");
    }
}
