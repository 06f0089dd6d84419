//! Compute kernels: pure functions over slices and shapes, each with a scalar twin.
//!
//! [`block_loss_grad`] is the one entry point the training objective calls per row block.
//! Two implementations sit behind it:
//!
//! * **gemm**: `matrixmultiply` for `X_b·W` and `X_bᵀ·δ` (strided, no transposed copy)
//!   around the fused softmax/δ pass. Portable; the best choice at large class counts.
//! * **fused x86 micro-kernels** ([`Kernel::Avx2`], [`Kernel::Avx512`]): for class
//!   counts up to [`FUSED_MAX_CLASSES`], register-tiled products that read the cached block
//!   of X directly (no packing), with W and the gradient held transposed.
//!
//! The CPU is inspected once ([`Kernel::detected`]); [`force_kernel`] overrides the
//! choice (tests use it to run every kernel against the scalar oracle).

pub mod gemm;
pub mod softmax;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::{Error, Result};
use crate::float::Float;
use crate::matrix::{MatMut, MatRef};

/// Class counts up to this use the fused micro-kernels (when the CPU has them); above it,
/// `matrixmultiply`'s packed GEMM wins (measured: see README, "Performance").
pub const FUSED_MAX_CLASSES: usize = 128;

/// Rows of at most this many bytes are short. Scattered short rows (mini-batches) get
/// their far requests from the backward pass and a near request in the forward pass (see
/// `x86`), and a mini-batch shard of them runs as one block (see
/// [`crate::train::Partition::new`]).
pub(crate) const SHORT_ROW_BYTES: usize = 1024;

/// A kernel family for the training step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// `matrixmultiply` GEMMs + `wide` softmax: runs everywhere.
    Portable,
    /// Fused micro-kernels for AVX2 + FMA (16 vector registers).
    Avx2,
    /// The same micro-kernels compiled for AVX-512F/VL (32 vector registers).
    Avx512,
}

impl Kernel {
    /// All kernel families, best first.
    pub const ALL: [Kernel; 3] = [Kernel::Avx512, Kernel::Avx2, Kernel::Portable];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
        }
    }

    /// Whether this CPU can run it.
    pub fn available(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => {
                Kernel::Avx2.available()
                    && std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The best kernel this CPU has, detected once and cached.
    pub fn detected() -> Kernel {
        static DETECTED: OnceLock<Kernel> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            Kernel::ALL
                .into_iter()
                .find(|k| k.available())
                .unwrap_or(Kernel::Portable)
        })
    }

    /// The kernel in use: the forced one if any, else [`Kernel::detected`].
    pub fn active() -> Kernel {
        match FORCED.load(Ordering::Relaxed) {
            1 => Kernel::Portable,
            2 => Kernel::Avx2,
            3 => Kernel::Avx512,
            _ => Kernel::detected(),
        }
    }
}

static FORCED: AtomicU8 = AtomicU8::new(0);

/// Forces a kernel family for the whole process (`None` returns to detection). Fails if
/// the CPU lacks it. Meant for tests and benchmarks; results differ between kernels only
/// by rounding.
pub fn force_kernel(kernel: Option<Kernel>) -> Result<()> {
    let code = match kernel {
        None => 0,
        Some(k) if !k.available() => {
            return Err(Error::hyper("kernel", k.name(), "this CPU does not support it"));
        }
        Some(Kernel::Portable) => 1,
        Some(Kernel::Avx2) => 2,
        Some(Kernel::Avx512) => 3,
    };
    FORCED.store(code, Ordering::Relaxed);
    Ok(())
}

/// How one training step is computed for a shape: a pure function of the shape, the
/// element type and the active kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The kernel family.
    pub kernel: Kernel,
    /// Whether the fused micro-kernels run (else the gemm path).
    pub fused: bool,
    /// Padded feature count of the transposed buffers (`Wᵀ`, `Gᵀ`) when fused.
    pub dp: usize,
}

impl Plan {
    /// The plan for `d` features and `t` classes of element type `T`.
    pub fn new<T: Float>(d: usize, t: usize) -> Plan {
        let kernel = Kernel::active();
        let fused = kernel != Kernel::Portable && t <= FUSED_MAX_CLASSES && d > 0;
        let dp = d.div_ceil(T::LANES) * T::LANES;
        Plan { kernel, fused, dp }
    }

    /// A report name: `"avx512 fused f32"`, `"portable gemm f64"`, ...
    pub fn describe<T: Float>(&self) -> String {
        let path = if self.fused { "fused" } else { "gemm" };
        let kernel = if self.fused {
            self.kernel.name()
        } else {
            "matrixmultiply"
        };
        format!("{kernel} {path} {}", T::NAME)
    }

    /// Length of a gradient buffer for this plan: `d·t` (gemm) or `t·dp` (fused, `Gᵀ`).
    pub fn grad_len(&self, d: usize, t: usize) -> usize {
        if self.fused { t * self.dp } else { d * t }
    }
}

/// One row block of the fused training step.
///
/// `Z = X_b·W` into `z` (`rows × t`), then the fused softmax/δ pass
/// ([`softmax::softmax_delta`], adding `bias`, accumulating the bias gradient into `gb`),
/// then the weight gradient: `gw += X_bᵀ·δ` as `d × t` (gemm plan) or `gw += δᵀ·X_b` as
/// `Gᵀ`, `t × dp` (fused plan, with `wt` = Wᵀ zero-padded to `t × dp`). Returns the
/// block's loss sum.
///
/// # Panics
/// When the buffers do not match the shapes (callers validate user input first).
#[allow(clippy::too_many_arguments)]
pub fn block_loss_grad<T: Float>(
    plan: &Plan,
    x_b: MatRef<'_, T>,
    w: MatRef<'_, T>,
    wt: &[T],
    bias: &[T],
    labels: &[u32],
    scale: T,
    z: &mut [T],
    gw: &mut [T],
    gb: &mut [T],
) -> f64 {
    let (m, d) = x_b.shape();
    let t = w.cols();
    if plan.fused {
        let (idx, m) = checked_rows(plan, x_b, None);
        return fused_block(plan, x_b, idx, m, t, wt, bias, labels, scale, z, gw, gb, false);
    }
    let z = &mut z[..m * t];
    let mut zm = MatMut::new(z, m, t, t).expect("block buffer sized by the workspace");
    gemm::xw(x_b, w, &mut zm);
    let loss = softmax::softmax_delta(zm.as_mut_slice(), t, bias, labels, scale, gb);
    let delta = zm.as_ref();
    let mut g = MatMut::new(&mut gw[..d * t], d, t, t).expect("gradient buffer sized by the workspace");
    gemm::xt_delta(x_b, delta, T::ONE, &mut g);
    loss
}

/// [`block_loss_grad`] on the fused plan for the rows `idx` of `x` (a mini-batch block read
/// in place, without a gathered copy); `labels` are those rows' labels.
///
/// # Panics
/// When the plan is not fused, an index is out of range, or the buffers do not match.
#[allow(clippy::too_many_arguments)]
pub fn block_loss_grad_rows<T: Float>(
    plan: &Plan,
    x: MatRef<'_, T>,
    idx: &[u32],
    w: MatRef<'_, T>,
    wt: &[T],
    bias: &[T],
    labels: &[u32],
    scale: T,
    z: &mut [T],
    gw: &mut [T],
    gb: &mut [T],
) -> f64 {
    let (idx, m) = checked_rows(plan, x, Some((idx, idx.len())));
    fused_block(plan, x, idx, m, w.cols(), wt, bias, labels, scale, z, gw, gb, false)
}

/// One row block with the weights in the plan's own layout, as the fit loop keeps them:
/// `params` is `Wᵀ` (`t × dp`, fused plan) or `W` (`d × t`, gemm plan). `idx = (ahead, m)`
/// selects the rows `ahead[..m]` of `x` in place and names in `ahead[m..]` the rows that
/// come next, which the kernel prefetches (fused plan only; the gemm plan takes gathered,
/// contiguous rows). With `overwrite` the weight gradient is stored, not added (the first
/// block of a shard: no zeroing pass over a buffer another core last read). Otherwise as
/// [`block_loss_grad`].
///
/// # Panics
/// When the buffers do not match the shapes, or `idx` is given on the gemm plan.
#[allow(clippy::too_many_arguments)]
pub(crate) fn block_step<T: Float>(
    plan: &Plan,
    x: MatRef<'_, T>,
    idx: Option<(&[u32], usize)>,
    params: &[T],
    t: usize,
    bias: &[T],
    labels: &[u32],
    scale: T,
    z: &mut [T],
    gw: &mut [T],
    gb: &mut [T],
    overwrite: bool,
) -> f64 {
    if plan.fused {
        let (idx, m) = checked_rows(plan, x, idx);
        return fused_block(plan, x, idx, m, t, params, bias, labels, scale, z, gw, gb, overwrite);
    }
    assert!(idx.is_none(), "the gemm plan reads gathered rows");
    let d = x.cols();
    let w = MatRef::new(&params[..d * t], d, t, t).expect("parameters sized by the fit loop");
    if overwrite {
        gw[..d * t].iter_mut().for_each(|v| *v = T::ZERO);
    }
    block_loss_grad(plan, x, w, &[], bias, labels, scale, z, gw, gb)
}

/// The fused kernels on one block: forward, softmax/δ, backward. `idx` and `m` come from
/// [`checked_rows`], which every caller runs first (the kernels' safety rests on it).
#[allow(clippy::too_many_arguments)]
fn fused_block<T: Float>(
    plan: &Plan,
    x: MatRef<'_, T>,
    idx: Option<&[u32]>,
    m: usize,
    t: usize,
    wt: &[T],
    bias: &[T],
    labels: &[u32],
    scale: T,
    z: &mut [T],
    gw: &mut [T],
    gb: &mut [T],
    overwrite: bool,
) -> f64 {
    // The rows (idx[..m], or all of x) were checked by `checked_rows`.
    let d = x.cols();
    assert!(
        wt.len() >= t * plan.dp && gw.len() >= t * plan.dp && z.len() >= m * t,
        "fused kernel buffers do not match the shape"
    );
    if m == 0 {
        if overwrite {
            gw[..t * plan.dp].iter_mut().for_each(|v| *v = T::ZERO);
        }
        return 0.0;
    }
    assert!(t <= FUSED_MAX_CLASSES && labels.len() == m && labels.iter().all(|&l| (l as usize) < t));
    let z = &mut z[..m * t];
    let (xp, xs) = (x.as_slice().as_ptr(), x.stride());
    // SAFETY: the kernel is available on this CPU, X holds every row the block names, each
    // with d elements at stride xs, and dp ≥ d is a multiple of the lane count (all checked
    // by `checked_rows`, which every caller runs first); wt and gw hold t·dp elements and z
    // m·t, used as Zᵀ (t × m); labels are < t ≤ FUSED_MAX_CLASSES (asserted).
    unsafe {
        T::simd_forward(plan.kernel, xp, xs, idx, m, d, wt, plan.dp, t, z);
        let loss = T::simd_softmax_cols(plan.kernel, z, m, t, bias, labels, scale, gb);
        T::simd_backward(plan.kernel, xp, xs, idx, m, d, z, t, gw, plan.dp, overwrite);
        loss
    }
}

/// The class-split forward on one block: `Zᵀ (tg × m) = (X_b · W_g)ᵀ` for a group of `tg`
/// classes, `wt` holding their rows of `Wᵀ` (`tg × dp`). Rows as in [`block_step`].
///
/// # Panics
/// When the plan is not fused or the buffers do not match the shapes.
pub(crate) fn split_forward<T: Float>(
    plan: &Plan,
    x: MatRef<'_, T>,
    idx: Option<(&[u32], usize)>,
    wt: &[T],
    tg: usize,
    z: &mut [T],
) {
    let (idx, m) = checked_rows(plan, x, idx);
    assert!(tg <= FUSED_MAX_CLASSES && wt.len() >= tg * plan.dp && z.len() >= m * tg);
    if m == 0 || tg == 0 {
        return;
    }
    // SAFETY: the kernel is available and every row the block names lies inside X with
    // `d` elements (checked by `checked_rows`); wt holds tg·dp elements, dp ≥ d a multiple
    // of the lane count; z holds m·tg elements (asserted).
    unsafe {
        T::simd_forward(
            plan.kernel,
            x.as_slice().as_ptr(),
            x.stride(),
            idx,
            m,
            x.cols(),
            wt,
            plan.dp,
            tg,
            z,
        )
    };
}

/// The class-split backward on one block: `Gᵀ_g (tg × dp) += δᵀ·X_b` (or `=` with
/// `overwrite`), `delta` = δᵀ (`tg × m`). Rows as in [`block_step`].
///
/// # Panics
/// When the plan is not fused or the buffers do not match the shapes.
pub(crate) fn split_backward<T: Float>(
    plan: &Plan,
    x: MatRef<'_, T>,
    idx: Option<(&[u32], usize)>,
    delta: &[T],
    tg: usize,
    gt: &mut [T],
    overwrite: bool,
) {
    let (idx, m) = checked_rows(plan, x, idx);
    assert!(tg <= FUSED_MAX_CLASSES && gt.len() >= tg * plan.dp && delta.len() >= m * tg);
    if tg == 0 {
        return;
    }
    if m == 0 {
        if overwrite {
            gt[..tg * plan.dp].iter_mut().for_each(|v| *v = T::ZERO);
        }
        return;
    }
    // SAFETY: as in `split_forward`; gt holds tg·dp elements, delta m·tg (asserted).
    unsafe {
        T::simd_backward(
            plan.kernel,
            x.as_slice().as_ptr(),
            x.stride(),
            idx,
            m,
            x.cols(),
            delta,
            tg,
            gt,
            plan.dp,
            overwrite,
        )
    };
}

/// [`block_step`] on the fused plan for rows `ahead[..m]` of `x` (and `ahead[m..]` to
/// prefetch), without scanning the index list: for a caller that checked every index of
/// the lists it passes once (the gang epochs check each member's list for the epoch as
/// they lay it out; the scan per block, a few hundred indices, cost about 2% of a
/// 500000×64×8 epoch at batch 256).
///
/// # Safety
/// Every index in `ahead` is below `x.rows()`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn fused_step_unscanned<T: Float>(
    plan: &Plan,
    x: MatRef<'_, T>,
    ahead: &[u32],
    m: usize,
    params: &[T],
    t: usize,
    bias: &[T],
    labels: &[u32],
    scale: T,
    z: &mut [T],
    gw: &mut [T],
    gb: &mut [T],
    overwrite: bool,
) -> f64 {
    checked_plan(plan, x);
    assert!(m <= ahead.len(), "block longer than its index list");
    fused_block(
        plan,
        x,
        Some(ahead),
        m,
        t,
        params,
        bias,
        labels,
        scale,
        z,
        gw,
        gb,
        overwrite,
    )
}

/// Checks what the fused kernels assume of the rows of a block: the plan is fused and its
/// kernel available, the padded width fits, every indexed row (block and look-ahead) is a
/// row of `x`. Returns the index list and the block's row count.
fn checked_rows<'i, T: Float>(
    plan: &Plan,
    x: MatRef<'_, T>,
    idx: Option<(&'i [u32], usize)>,
) -> (Option<&'i [u32]>, usize) {
    checked_plan(plan, x);
    match idx {
        Some((ahead, m)) => {
            assert!(m <= ahead.len(), "block longer than its index list");
            assert!(
                max_index(ahead).is_none_or(|max| (max as usize) < x.rows()),
                "row index out of range"
            );
            (Some(ahead), m)
        }
        None => (None, x.rows()),
    }
}

/// The largest index of `idx` (`None` when empty), as a reduction the compiler vectorises
/// (`all` stops at the first failure, so it checks one index at a time: a third of a
/// millisecond per 500000-row epoch on one thread).
pub(crate) fn max_index(idx: &[u32]) -> Option<u32> {
    (!idx.is_empty()).then(|| idx.iter().fold(0u32, |m, &i| m.max(i)))
}

/// What the fused kernels assume of the plan and of `x`, short of the rows: the plan is
/// fused and its kernel available, the padded width fits, X's buffer holds its rows.
fn checked_plan<T: Float>(plan: &Plan, x: MatRef<'_, T>) {
    let d = x.cols();
    assert!(plan.fused && plan.kernel.available() && plan.dp >= d && plan.dp.is_multiple_of(T::LANES));
    assert!(x.rows() == 0 || x.as_slice().len() >= (x.rows() - 1) * x.stride() + d);
}

/// Asks for every cache line of `row`: into L1 with `L1`, else into L2 (a hint).
pub(crate) fn prefetch_row<T, const L1: bool>(row: &[T]) {
    let step = (64 / std::mem::size_of::<T>().max(1)).max(1);
    for j in (0..row.len()).step_by(step) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint: it never faults and changes no state visible to
        // the program; the address is inside `row`.
        unsafe {
            use std::arch::x86_64::{_MM_HINT_T0, _MM_HINT_T1, _mm_prefetch};
            let p = row.as_ptr().add(j).cast();
            if L1 {
                _mm_prefetch::<_MM_HINT_T0>(p);
            } else {
                _mm_prefetch::<_MM_HINT_T1>(p);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = j;
    }
}

/// Prefetches the rows `idx` of `x` into the cache, whole rows, until about `bytes` bytes
/// are requested: a cold mini-batch block then waits for its first rows once, in parallel,
/// not row by row. Indices must be rows of `x` (checked).
pub(crate) fn prefetch_rows<T: Float>(x: MatRef<'_, T>, idx: &[u32], bytes: usize) {
    let row_bytes = (x.cols() * std::mem::size_of::<T>()).max(1);
    for &i in idx.iter().take(bytes.div_ceil(row_bytes)) {
        prefetch_row::<T, true>(x.row(i as usize));
    }
}

/// f32 fused softmax over Zᵀ: the vectorised x86 pass when a SIMD kernel runs.
///
/// # Safety
/// As [`Float::simd_softmax_cols`].
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn cols_f32(
    kernel: Kernel,
    zt: &mut [f32],
    rows: usize,
    t: usize,
    bias: &[f32],
    labels: &[u32],
    scale: f32,
    gb: &mut [f32],
) -> f64 {
    match kernel {
        // SAFETY: forwarded contract; the kernel's features were detected.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { x86::softmax_cols_f32_avx2(zt, rows, t, bias, labels, scale, gb) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => unsafe { x86::softmax_cols_f32_avx512(zt, rows, t, bias, labels, scale, gb) },
        _ => softmax::softmax_delta_cols(zt, rows, t, bias, labels, scale, gb),
    }
}

/// f64 fused softmax over Zᵀ (scalar: f64 exp in SIMD is not worth its accuracy cost here).
///
/// # Safety
/// None beyond the safe function's panics; `unsafe` only to share the signature.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn cols_f64(
    _kernel: Kernel,
    zt: &mut [f64],
    rows: usize,
    t: usize,
    bias: &[f64],
    labels: &[u32],
    scale: f64,
    gb: &mut [f64],
) -> f64 {
    softmax::softmax_delta_cols(zt, rows, t, bias, labels, scale, gb)
}

/// The name of the plan [`block_loss_grad`] runs for `T` at `d × t` on this CPU.
pub fn kernel_name<T: Float>(d: usize, t: usize) -> String {
    Plan::new::<T>(d, t).describe::<T>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_outside_x_panics_in_the_block_or_its_look_ahead() {
        let (n, d, t) = (40, 64, 8);
        let x = vec![0.5f32; n * d];
        let x = MatRef::new(&x, n, d, d).unwrap();
        let plan = Plan::new::<f32>(d, t);
        if !plan.fused {
            return;
        }
        let params = vec![0.0f32; t * plan.dp];
        let bias = vec![0.0f32; t];
        let labels = vec![0u32; 4];
        let run = |list: Vec<u32>| {
            std::panic::catch_unwind(|| {
                let (mut z, mut gw, mut gb) = (vec![0.0f32; 4 * t], vec![0.0f32; t * plan.dp], vec![0.0f32; t]);
                block_step(
                    &plan,
                    x,
                    Some((&list, 4)),
                    &params,
                    t,
                    &bias,
                    &labels,
                    0.25,
                    &mut z,
                    &mut gw,
                    &mut gb,
                    true,
                )
            })
        };
        assert!(run(vec![0, 1, 39, 2, 3, 39]).is_ok());
        assert!(run(vec![0, 40, 1, 2]).is_err(), "an index in the block");
        assert!(run(vec![0, 1, 2, 3, 5, 40]).is_err(), "an index in the look-ahead");
        assert!(run(vec![u32::MAX, 1, 2, 3]).is_err(), "the largest index");
    }

    #[test]
    fn look_ahead_rows_are_prefetched_not_read() {
        // A block named by an index list that runs on past it (as the fit loop passes the
        // next step's rows) gives the same bits as the exact list, on every fused kernel
        // this CPU has, for the four-feature (spread and not, one and two class groups,
        // a partial last quad), broadcast and tiled forward shapes.
        for (d, t) in [(64, 8), (20, 5), (32, 4), (18, 3), (300, 12)] {
            let n = 700;
            let x: Vec<f32> = (0..n * d).map(|v| ((v * 37 % 101) as f32 - 50.0) / 40.0).collect();
            let x = MatRef::new(&x, n, d, d).unwrap();
            let rows: Vec<u32> = (0..n as u32).map(|i| (i * 389 + 11) % n as u32).collect();
            let (m, ahead) = (128, 256);
            let labels: Vec<u32> = rows[..m].iter().map(|&r| r % t as u32).collect();
            for kernel in [Kernel::Avx512, Kernel::Avx2] {
                if !kernel.available() {
                    continue;
                }
                let dp = d.div_ceil(<f32 as Float>::LANES) * <f32 as Float>::LANES;
                let plan = Plan {
                    kernel,
                    fused: true,
                    dp,
                };
                let params: Vec<f32> = (0..t * dp).map(|v| ((v * 13 % 29) as f32 - 14.0) / 50.0).collect();
                let bias: Vec<f32> = (0..t).map(|k| k as f32 / 10.0).collect();
                let step = |xs: MatRef<'_, f32>, idx: Option<(&[u32], usize)>| {
                    let (mut z, mut gw, mut gb) = (vec![0.0f32; m * t], vec![0.0f32; t * dp], vec![0.0f32; t]);
                    let loss = block_step(
                        &plan,
                        xs,
                        idx,
                        &params,
                        t,
                        &bias,
                        &labels,
                        1.0 / m as f32,
                        &mut z,
                        &mut gw,
                        &mut gb,
                        true,
                    );
                    (loss.to_bits(), gw, gb)
                };
                let run = |list: &[u32]| step(x, Some((list, m)));
                let exact = run(&rows[..m]);
                let longer = run(&rows[..m + ahead]);
                assert!(exact == longer, "{kernel:?} d={d} t={t}");
                // The same rows copied out in order (no index list: the kernels' in-order
                // instances, whose prefetching differs) give the same bits too.
                let gathered: Vec<f32> = rows[..m].iter().flat_map(|&r| x.row(r as usize).to_vec()).collect();
                let xg = MatRef::new(&gathered, m, d, d).unwrap();
                assert!(exact == step(xg, None), "in order: {kernel:?} d={d} t={t}");
                // And the block really is the first m rows: another block differs.
                assert!(exact != run(&rows[1..m + 1]), "{kernel:?} d={d} t={t}");
            }
        }
    }
}
