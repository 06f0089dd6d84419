//! Compute kernels: pure functions over slices and shapes, each with a scalar twin.
//!
//! [`block_loss_grad`] is the one entry point the training objective calls per row block;
//! it is where a kernel implementation is chosen.

pub mod gemm;
pub mod softmax;

use crate::float::Float;
use crate::matrix::{MatMut, MatRef};

/// One row block of the fused training step.
///
/// `Z = X_b·W` into `z` (`rows × t`), then the fused softmax/δ pass
/// ([`softmax::softmax_delta`], adding `bias`, accumulating the bias gradient into `gb`),
/// then `gw += X_bᵀ·δ` (`gw` is `d × t`, row-major). Returns the block's loss sum.
///
/// # Panics
/// When the buffers do not match the shapes (callers validate user input first).
#[allow(clippy::too_many_arguments)]
pub fn block_loss_grad<T: Float>(
    x_b: MatRef<'_, T>,
    w: MatRef<'_, T>,
    bias: &[T],
    labels: &[u32],
    scale: T,
    z: &mut [T],
    gw: &mut [T],
    gb: &mut [T],
) -> f64 {
    let (m, d) = x_b.shape();
    let t = w.cols();
    let z = &mut z[..m * t];
    let mut zm = MatMut::new(z, m, t, t).expect("block buffer sized by the workspace");
    gemm::xw(x_b, w, &mut zm);
    let loss = softmax::softmax_delta(zm.as_mut_slice(), t, bias, labels, scale, gb);
    let delta = zm.as_ref();
    let mut g = MatMut::new(gw, d, t, t).expect("gradient buffer sized by the workspace");
    gemm::xt_delta(x_b, delta, T::ONE, &mut g);
    loss
}

/// The name of the kernel that [`block_loss_grad`] runs for `T` on this CPU.
pub fn kernel_name<T: Float>() -> &'static str {
    if T::NAME == "f32" {
        "matrixmultiply+wide f32x8"
    } else {
        "matrixmultiply+wide f64x4"
    }
}
