//! A small, portable, seeded random number generator (xoshiro256++ seeded by SplitMix64).
//!
//! Written here rather than taken from `rand` so that the engine keeps to its core
//! dependencies and so that the stream for a given seed can never change under a
//! dependency upgrade: the same seed gives the same shuffles and data sets forever.

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

    /// Shuffles `v` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
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
        self.permutation_part_with(out, from, to, |_, _| {});
    }

    /// [`Rng::permutation_part`], calling `moved(i, j)` after position `i` drew `j`, so
    /// that the caller can carry a payload along: `p[i] = p[j]; p[j] = value(i)` keeps
    /// `p[k] = value(out[k])` for every built position.
    ///
    /// # Panics
    /// As [`Rng::permutation_part`].
    pub fn permutation_part_with(
        &mut self,
        out: &mut [u32],
        from: usize,
        to: usize,
        mut moved: impl FnMut(usize, usize),
    ) {
        assert!(from <= to && to <= out.len() && out.len() <= u32::MAX as usize + 1);
        for i in from..to {
            let j = self.below(i as u64 + 1) as usize;
            out[i] = out[j];
            out[j] = i as u32;
            moved(i, j);
        }
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
        // A payload carried along follows the permutation.
        let value = |i: usize| (i * 7 + 3) as u64;
        let mut out = vec![0u32; n];
        let mut pay = vec![0u64; n];
        Rng::new(5).permutation_part_with(&mut out, 0, n, |i, j| {
            pay[i] = pay[j];
            pay[j] = value(i);
        });
        assert_eq!(out, whole);
        assert!(out.iter().zip(&pay).all(|(&o, &p)| p == value(o as usize)));
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
