//! x86-64 micro-kernels for the fused step at small class counts.
//!
//! For a block of rows of X (still in cache between the two products):
//! * forward `Z_b = X_b·W`: vectorised along the features (8 f32 or 4 f64 lanes), W read
//!   transposed (`Wᵀ`, t × dp, rows zero-padded to `dp`, a multiple of the lane count), one
//!   accumulator per (row, class), reduced with a transposing horizontal-add tree;
//! * backward `Gᵀ += δ_bᵀ·X_b`: Gᵀ (t × dp) tiles of (classes × 8·Q features) stay in
//!   registers while the block's rows stream past, δ broadcast per (row, class).
//!
//! Each kernel is compiled twice from the same source: for AVX2+FMA (16 vector
//! registers) and for AVX-512F/VL (the same 256-bit instructions, but 32 registers, which
//! allows larger register tiles). The caller picks one after runtime detection.

#![allow(clippy::too_many_arguments)]

use core::arch::x86_64::*;

/// Register-tile shape of one instantiation.
pub(crate) struct Tiles {
    /// Most classes per forward tile.
    pub fwd_classes: usize,
    /// Most classes per backward tile.
    pub bwd_classes: usize,
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
        $mask:ident, $reduce:ident,
        $R:expr, $Q:expr
    ) => {
        pub(crate) mod $modname {
            use super::*;

            pub(crate) const TILES: Tiles = $tiles;
            const L: usize = $lanes;

            /// Forward tile: `R` rows × `C` classes.
            #[target_feature(enable = $features)]
            unsafe fn fwd<const R: usize, const C: usize>(
                x: *const $ty,
                xs: usize,
                d: usize,
                wt: *const $ty,
                dp: usize,
                z: *mut $ty,
                t: usize,
            ) {
                // SAFETY (whole body): the caller guarantees R rows of `d` readable elements
                // at stride `xs` from `x`, C rows of `dp` elements from `wt`, and R rows of
                // at least C writable elements at stride `t` from `z`. Loads past `d` in X
                // use masked loads, which touch no memory in masked lanes.
                unsafe {
                    let mut acc = [[$setzero(); C]; R];
                    let full = d - d % L;
                    let mut j = 0;
                    while j < full {
                        let mut xv = [$setzero(); R];
                        for r in 0..R {
                            xv[r] = $load(x.add(r * xs + j));
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
                            xv[r] = $maskload(x.add(r * xs + j), m);
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
                                *z.add(r * t + k + q) = out[q];
                            }
                            k += L;
                        }
                    }
                }
            }

            /// Backward tile: `C` classes × `Q` vectors of features, over `rows` rows.
            /// `masked` loads X's last vector with a mask of `rem` lanes.
            #[target_feature(enable = $features)]
            unsafe fn bwd<const Q: usize, const C: usize>(
                x: *const $ty,
                xs: usize,
                rows: usize,
                delta: *const $ty,
                t: usize,
                gt: *mut $ty,
                dp: usize,
                rem: usize,
            ) {
                // SAFETY (whole body): `x` points at column j0 of the block's first row, with
                // Q·L readable columns per row (the last vector only `rem` lanes when
                // rem < L, loaded with a mask); `delta` at class k0 of row 0 (stride t);
                // `gt` at (k0, j0) of a t × dp buffer with C rows of Q·L writable elements.
                unsafe {
                    let mut acc = [[$setzero(); Q]; C];
                    for k in 0..C {
                        for q in 0..Q {
                            acc[k][q] = $load(gt.add(k * dp + q * L));
                        }
                    }
                    let m = $mask(rem);
                    for i in 0..rows {
                        let xr = x.add(i * xs);
                        let mut xv = [$setzero(); Q];
                        for q in 0..Q {
                            xv[q] = if q + 1 == Q && rem < L { $maskload(xr.add(q * L), m) } else { $load(xr.add(q * L)) };
                        }
                        let dr = delta.add(i * t);
                        for k in 0..C {
                            let dv = $set1(*dr.add(k));
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

            /// `z (rows × t) = X_b · W` with `wt` = Wᵀ (t × dp).
            ///
            /// # Safety
            /// The CPU supports this module's features; `x` holds `rows` rows of `d`
            /// elements at stride `xs`; `wt.len() ≥ t·dp`, `dp ≥ d`, `dp % L == 0`;
            /// `z.len() ≥ rows·t`.
            #[target_feature(enable = $features)]
            pub(crate) unsafe fn forward(x: *const $ty, xs: usize, rows: usize, d: usize, wt: &[$ty], dp: usize, t: usize, z: &mut [$ty]) {
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
                            by_classes!(c, fwd, $R; x.add(i * xs), xs, d, wp.add(k0 * dp), dp, zp.add(i * t + k0), t);
                            i += $R;
                        }
                        while i < rows {
                            by_classes!(c, fwd, 1; x.add(i * xs), xs, d, wp.add(k0 * dp), dp, zp.add(i * t + k0), t);
                            i += 1;
                        }
                        k0 += c;
                    }
                }
            }

            /// `Gᵀ (t × dp) += δ_bᵀ · X_b` with `delta` rows × t.
            ///
            /// # Safety
            /// As [`forward`], with `gt.len() ≥ t·dp` and `delta.len() ≥ rows·t`.
            #[target_feature(enable = $features)]
            pub(crate) unsafe fn backward(x: *const $ty, xs: usize, rows: usize, d: usize, delta: &[$ty], t: usize, gt: &mut [$ty], dp: usize) {
                let cmax = TILES.bwd_classes;
                let chunks = t.div_ceil(cmax);
                let cw = t.div_ceil(chunks.max(1));
                let (dpt, gp) = (delta.as_ptr(), gt.as_mut_ptr());
                let wide = $Q * L;
                let full = d - d % wide;
                let mut k0 = 0;
                // SAFETY: every tile stays inside the ranges the caller guarantees; the tail
                // vectors past `d` are loaded with masks and land in Gᵀ's zero padding.
                unsafe {
                    while k0 < t {
                        let c = cw.min(t - k0);
                        let mut j = 0;
                        while j < full {
                            by_classes!(c, bwd, $Q; x.add(j), xs, rows, dpt.add(k0), t, gp.add(k0 * dp + j), dp, L);
                            j += wide;
                        }
                        while j < d {
                            let rem = (d - j).min(L);
                            by_classes!(c, bwd, 1; x.add(j), xs, rows, dpt.add(k0), t, gp.add(k0 * dp + j), dp, rem);
                            j += L;
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

isa_kernels!(
    avx2_f32,
    "avx2,fma",
    Tiles {
        fwd_classes: 12,
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
    1,
    2
);
isa_kernels!(
    avx512_f32,
    "avx2,fma,avx512f,avx512vl",
    Tiles {
        fwd_classes: 12,
        bwd_classes: 12
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
    2,
    2
);
isa_kernels!(
    avx2_f64,
    "avx2,fma",
    Tiles {
        fwd_classes: 12,
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
    1,
    2
);
isa_kernels!(
    avx512_f64,
    "avx2,fma,avx512f,avx512vl",
    Tiles {
        fwd_classes: 12,
        bwd_classes: 12
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
    2,
    2
);
