//! A small, portable, seeded random number generator (xoshiro256++ seeded by SplitMix64).
//!
//! Written here rather than taken from `rand` so that the engine keeps to its core
//! dependencies and so that the stream for a given seed can never change under a
//! dependency upgrade: the same seed gives the same shuffles and data sets forever.

/// How many positions ahead of its swaps [`Rng::permutation_part_by`] draws and prefetches.
pub const PERM_AHEAD: usize = 32;

/// Asks for the cache line holding `v`, into L1 (a hint; nothing on other targets).
#[inline(always)]
fn prefetch<E>(v: &E) {
    crate::kernels::prefetch_row::<E, true>(std::slice::from_ref(v));
}

/// xoshiro256++ pseudo-random generator.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut st = seed;
        let s = [
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
        ];
        Rng { s }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (unbiased; `n` must be positive, 0 gives 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's nearly divisionless method.
        let mut m = (self.next_u64() as u128) * (n as u128);
        let mut lo = m as u64;
        if lo < n {
            let threshold = n.wrapping_neg() % n;
            while lo < threshold {
                m = (self.next_u64() as u128) * (n as u128);
                lo = m as u64;
            }
        }
        (m >> 64) as u64
    }

    /// A standard normal deviate (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Shuffles `v` in place (Fisher–Yates: for `i` from `len − 1` down to 1, swap `v[i]`
    /// with `v[j]`, `j = below(i + 1)`). The draws run [`PERM_AHEAD`] positions ahead of
    /// the swaps and each drawn place is prefetched (a large `v` is mostly out of cache);
    /// they are the same draws in the same order, so the result is the plain loop's.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        let len = v.len();
        self.each_draw_ahead(v, (1..len).rev(), |v, i, j| v.swap(i, j));
    }

    /// For each position `i` of `positions`, in order, draws `j = below(i + 1)` and runs
    /// `act(v, i, j)`. The draws are made in the same order, but [`PERM_AHEAD`] positions
    /// before their `act`, and each drawn place of `v` is prefetched then, so a shuffle of
    /// a large, uncached `v` does not wait on memory at every position.
    fn each_draw_ahead<T>(
        &mut self,
        v: &mut [T],
        positions: impl Iterator<Item = usize> + Clone,
        mut act: impl FnMut(&mut [T], usize, usize),
    ) {
        // ring[k % PERM_AHEAD]: the draw of the k-th position, made PERM_AHEAD early.
        let mut ring = [0usize; PERM_AHEAD];
        let mut ahead = positions.clone();
        for (slot, p) in ring.iter_mut().zip(ahead.by_ref()) {
            *slot = self.below(p as u64 + 1) as usize;
            prefetch(&v[*slot]);
        }
        for (k, i) in positions.enumerate() {
            let slot = &mut ring[k % PERM_AHEAD];
            let j = *slot;
            if let Some(p) = ahead.next() {
                *slot = self.below(p as u64 + 1) as usize;
                prefetch(&v[*slot]);
            }
            act(v, i, j);
        }
    }

    /// Builds positions `from..to` of a uniformly random permutation of `0..n` in `out`
    /// (`n = out.len()`), by the inside-out Fisher–Yates method: position `i` draws
    /// `j = below(i + 1)`, then `out[i] = out[j]` and `out[j] = i`. Positions below `from`
    /// must hold the earlier parts (nothing needs initialising), so a caller can build a
    /// permutation in consecutive parts, interleaved with other work, and get exactly the
    /// permutation that one call over `0..n` gives.
    ///
    /// # Panics
    /// If `to > out.len()`, `from > to`, or `n` exceeds `u32::MAX`.
    pub fn permutation_part(&mut self, out: &mut [u32], from: usize, to: usize) {
        self.permutation_part_by(out, from, to, |i| i as u32);
    }

    /// [`Rng::permutation_part`] over entries that carry something along with the index:
    /// position `i` draws the same `j`, then `out[i] = out[j]` and `out[j] = entry(i)`, so
    /// `out[k] = entry(perm[k])` where `perm` is the permutation `permutation_part`
    /// builds (entries such as `[row, label]`).
    ///
    /// The draws run [`PERM_AHEAD`] positions ahead of the swaps, and each drawn place is
    /// prefetched: a swap lands anywhere in the array, which a training epoch has just
    /// pushed out of the caches, so one place at a time would wait on memory at every
    /// position (measured on 500000 rows: see the README).
    ///
    /// # Panics
    /// As [`Rng::permutation_part`].
    pub fn permutation_part_by<E: Copy>(
        &mut self,
        out: &mut [E],
        from: usize,
        to: usize,
        mut entry: impl FnMut(usize) -> E,
    ) {
        assert!(from <= to && to <= out.len() && out.len() <= u32::MAX as usize + 1);
        self.each_draw_ahead(out, from..to, |out, i, j| {
            out[i] = out[j];
            out[j] = entry(i);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_parts_are_one_uniform_permutation() {
        // Parts give the same permutation as one call, and it is a permutation.
        let n = 1000;
        let mut whole = vec![0u32; n];
        Rng::new(5).permutation_part(&mut whole, 0, n);
        let mut parts = vec![7u32; n];
        let mut r = Rng::new(5);
        for (lo, hi) in [(0, 1), (1, 256), (256, 256), (256, 999), (999, 1000)] {
            r.permutation_part(&mut parts, lo, hi);
        }
        assert_eq!(whole, parts);
        // Entries carrying a payload follow the same permutation.
        let value = |i: usize| (i * 7 + 3) as u64;
        let mut out = vec![(0u32, 0u64); n];
        Rng::new(5).permutation_part_by(&mut out, 0, n, |i| (i as u32, value(i)));
        assert!(
            out.iter()
                .zip(&whole)
                .all(|(&(o, p), &w)| o == w && p == value(w as usize))
        );
        // The draws ahead do not change the permutation: it is the plain inside-out
        // Fisher–Yates one, drawn position by position.
        let mut plain = vec![0u32; n];
        let mut r = Rng::new(5);
        for i in 0..n {
            let j = r.below(i as u64 + 1) as usize;
            plain[i] = plain[j];
            plain[j] = i as u32;
        }
        assert_eq!(plain, whole);
        let mut sorted = whole.clone();
        sorted.sort_unstable();
        assert!(sorted.iter().enumerate().all(|(i, &v)| v == i as u32));
        assert_ne!(whole, sorted, "not shuffled");
        // Uniform over the 24 permutations of 4: chi-square with 23 degrees of freedom
        // (the 0.1% critical value is 49.7; a biased method, such as j = below(4) at every
        // position, scores in the thousands).
        let mut counts = std::collections::HashMap::new();
        let mut r = Rng::new(11);
        let draws = 48_000;
        for _ in 0..draws {
            let mut p = [0u32; 4];
            r.permutation_part(&mut p, 0, 4);
            *counts.entry(p).or_insert(0usize) += 1;
        }
        assert_eq!(counts.len(), 24);
        let e = draws as f64 / 24.0;
        let chi2: f64 = counts.values().map(|&c| (c as f64 - e).powi(2) / e).sum();
        assert!(chi2 < 49.7, "chi-square {chi2}");
    }

    #[test]
    fn shuffle_draws_ahead_without_changing_the_result() {
        for len in [0usize, 1, 2, 5, 31, 32, 33, 100, 1000] {
            let mut plain: Vec<u32> = (0..len as u32).collect();
            let mut r = Rng::new(17);
            for i in (1..len).rev() {
                let j = r.below(i as u64 + 1) as usize;
                plain.swap(i, j);
            }
            let mut v: Vec<u32> = (0..len as u32).collect();
            let mut q = Rng::new(17);
            q.shuffle(&mut v);
            assert_eq!(v, plain, "len {len}");
            assert_eq!(q.next_u64(), r.next_u64(), "len {len}");
        }
    }

    #[test]
    fn same_seed_same_stream_and_below_in_range() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut c = Rng::new(43);
        assert_ne!(Rng::new(42).next_u64(), c.next_u64());
        for n in 1..50u64 {
            assert!(a.below(n) < n);
        }
        let mean: f64 = (0..20000).map(|_| a.normal()).sum::<f64>() / 20000.0;
        assert!(mean.abs() < 0.05, "mean {mean}");
        let mut v: Vec<u32> = (0..100).collect();
        a.shuffle(&mut v);
        let mut s = v.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        assert_ne!(v, s);
    }
}
