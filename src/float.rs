//! The [`Float`] trait: what the engine needs of `f32` and `f64`.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point element type the engine can train in: `f32` or `f64`.
///
/// The trait is sealed; it carries the handful of operations the kernels need plus
/// the entry point into the blocked GEMM of `matrixmultiply` for this precision.
pub trait Float:
    sealed::Sealed
    + Copy
    + Send
    + Sync
    + Default
    + Debug
    + Display
    + PartialOrd
    + PartialEq
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + Sum
    + 'static
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// The name of the type: `"f32"` or `"f64"`.
    const NAME: &'static str;
    /// The largest finite value, as f64.
    const MAX: f64;

    /// Converts from `f64` (rounding to nearest for `f32`).
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64` (exact).
    fn to_f64(self) -> f64;
    /// Converts from `usize` (rounding for large values).
    fn from_usize(v: usize) -> Self {
        Self::from_f64(v as f64)
    }
    /// `e^self`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// `true` unless NaN or ±∞.
    fn is_finite(self) -> bool;
    /// The larger of two values (NaN-ignoring as `f32::max`).
    fn max(self, other: Self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;

    /// `v[i] = exp(v[i] − m[i])` with `wide` vectors.
    #[doc(hidden)]
    fn exp_sub(v: &mut [Self], m: &[Self]);

    /// The SIMD fused softmax/δ kernel for this type (see
    /// [`crate::kernels::softmax::softmax_delta`]).
    #[doc(hidden)]
    fn softmax_delta_simd(z: &mut [Self], t: usize, bias: &[Self], labels: &[u32], scale: Self, gb: &mut [Self])
    -> f64;

    /// Fused-kernel forward `Z = X_b·W` from `Wᵀ` (see `kernels::x86`).
    ///
    /// # Safety
    /// `kernel` is available on this CPU and the pointers/lengths satisfy the x86
    /// kernels' contract (with `idx`, the block's rows are X's rows `idx[i]`, `i < rows`; later
    /// indices are rows to prefetch) (checked by `kernels::block_loss_grad`).
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn simd_forward(
        kernel: crate::kernels::Kernel,
        x: *const Self,
        xs: usize,
        idx: Option<&[u32]>,
        rows: usize,
        d: usize,
        wt: &[Self],
        dp: usize,
        t: usize,
        z: &mut [Self],
    );

    /// Fused-kernel backward `Gᵀ += δᵀ·X_b`, or `Gᵀ = δᵀ·X_b` with `overwrite` (see `kernels::x86`).
    ///
    /// # Safety
    /// As [`Float::simd_forward`].
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn simd_backward(
        kernel: crate::kernels::Kernel,
        x: *const Self,
        xs: usize,
        idx: Option<&[u32]>,
        rows: usize,
        d: usize,
        delta: &[Self],
        t: usize,
        gt: &mut [Self],
        dp: usize,
        overwrite: bool,
    );

    /// Fused softmax/δ over a transposed block (see
    /// [`crate::kernels::softmax::softmax_delta_cols`]), vectorised where the type has a kernel.
    ///
    /// # Safety
    /// `kernel` is available on this CPU, `zt.len() ≥ t·rows`, every label is `< t`,
    /// `t ≤ 128` (`FUSED_MAX_CLASSES`), and `bias`/`gb` hold `t` values.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn simd_softmax_cols(
        kernel: crate::kernels::Kernel,
        zt: &mut [Self],
        rows: usize,
        t: usize,
        bias: &[Self],
        labels: &[u32],
        scale: Self,
        gb: &mut [Self],
    ) -> f64;

    /// Elements per 64 bytes (16 f32, 8 f64): the padding unit of `Wᵀ`'s rows, one
    /// 512-bit vector.
    #[doc(hidden)]
    const LANES: usize;

    /// `C ← α·A·B + β·C` through `matrixmultiply`, with explicit strides.
    ///
    /// # Safety
    /// The pointers and strides must describe valid, non-overlapping (for C) matrices of
    /// the given sizes: `a` is m×k, `b` is k×n, `c` is m×n, as in `matrixmultiply::sgemm`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

macro_rules! impl_float {
    ($t:ty, $name:literal, $gemm:path, $softmax:path, $expsub:path, $lanes:expr, $avx2:ident, $avx512:ident, $cols:path) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NAME: &'static str = $name;
            const MAX: f64 = <$t>::MAX as f64;
            const LANES: usize = $lanes;
            unsafe fn simd_softmax_cols(kernel: crate::kernels::Kernel, zt: &mut [Self], rows: usize, t: usize, bias: &[Self], labels: &[u32], scale: Self, gb: &mut [Self]) -> f64 {
                // SAFETY: forwarded contract.
                unsafe { $cols(kernel, zt, rows, t, bias, labels, scale, gb) }
            }
            #[allow(unused_variables)]
            unsafe fn simd_forward(
                kernel: crate::kernels::Kernel,
                x: *const Self,
                xs: usize,
                idx: Option<&[u32]>,
                rows: usize,
                d: usize,
                wt: &[Self],
                dp: usize,
                t: usize,
                z: &mut [Self],
            ) {
                use crate::kernels::Kernel;
                match kernel {
                    // SAFETY: forwarded contract (CPU features checked when `kernel` was chosen).
                    #[cfg(target_arch = "x86_64")]
                    Kernel::Avx2 => unsafe {
                        crate::kernels::x86::$avx2::forward(x, xs, idx, rows, d, wt, dp, t, z)
                    },
                    // SAFETY: as above.
                    #[cfg(target_arch = "x86_64")]
                    Kernel::Avx512 => unsafe {
                        crate::kernels::x86::$avx512::forward(x, xs, idx, rows, d, wt, dp, t, z)
                    },
                    _ => unreachable!("no SIMD forward kernel {kernel:?}"),
                }
            }
            #[allow(unused_variables)]
            unsafe fn simd_backward(
                kernel: crate::kernels::Kernel,
                x: *const Self,
                xs: usize,
                idx: Option<&[u32]>,
                rows: usize,
                d: usize,
                delta: &[Self],
                t: usize,
                gt: &mut [Self],
                dp: usize,
                overwrite: bool,
            ) {
                use crate::kernels::Kernel;
                match kernel {
                    // SAFETY: forwarded contract (CPU features checked when `kernel` was chosen).
                    #[cfg(target_arch = "x86_64")]
                    Kernel::Avx2 => unsafe {
                        crate::kernels::x86::$avx2::backward(x, xs, idx, rows, d, delta, t, gt, dp, overwrite)
                    },
                    // SAFETY: as above.
                    #[cfg(target_arch = "x86_64")]
                    Kernel::Avx512 => unsafe {
                        crate::kernels::x86::$avx512::backward(x, xs, idx, rows, d, delta, t, gt, dp, overwrite)
                    },
                    _ => unreachable!("no SIMD backward kernel {kernel:?}"),
                }
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn exp_sub(v: &mut [Self], m: &[Self]) {
                $expsub(v, m)
            }
            #[inline(always)]
            fn softmax_delta_simd(
                z: &mut [Self],
                t: usize,
                bias: &[Self],
                labels: &[u32],
                scale: Self,
                gb: &mut [Self],
            ) -> f64 {
                $softmax(z, t, bias, labels, scale, gb)
            }
            #[inline(always)]
            unsafe fn gemm_raw(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                // SAFETY: forwarded contract; the caller guarantees valid pointers and strides.
                unsafe { $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
        }
    };
}

impl_float!(
    f32,
    "f32",
    matrixmultiply::sgemm,
    crate::kernels::softmax::softmax_delta_f32,
    crate::kernels::softmax::exp_sub_f32,
    16,
    avx2_f32,
    avx512_f32,
    crate::kernels::cols_f32
);
impl_float!(
    f64,
    "f64",
    matrixmultiply::dgemm,
    crate::kernels::softmax::softmax_delta_f64,
    crate::kernels::softmax::exp_sub_f64,
    8,
    avx2_f64,
    avx512_f64,
    crate::kernels::cols_f64
);
