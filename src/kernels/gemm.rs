//! GEMM entry points over `matrixmultiply`, with strides so that no transposed copy is made.

use crate::float::Float;
use crate::matrix::{MatMut, MatRef};

/// `Z = X·W` (overwrites `z`). `x` is m×d, `w` d×t, `z` m×t.
///
/// # Panics
/// When the shapes disagree (a caller bug: the model and objective check user input first).
pub fn xw<T: Float>(x: MatRef<'_, T>, w: MatRef<'_, T>, z: &mut MatMut<'_, T>) {
    let (m, d) = x.shape();
    let t = w.cols();
    assert!(w.rows() == d && z.rows() == m && z.cols() == t, "xw: shape mismatch");
    if m == 0 || t == 0 {
        return;
    }
    let (zs, zp) = (z.stride(), z.as_mut_slice().as_mut_ptr());
    // SAFETY: the views were bounds-checked at construction (rows, cols, stride fit
    // their buffers), the shapes agree (asserted above), and `z` is borrowed mutably,
    // so it cannot alias `x` or `w`.
    unsafe {
        T::gemm_raw(
            m,
            d,
            t,
            T::ONE,
            x.as_slice().as_ptr(),
            x.stride() as isize,
            1,
            w.as_slice().as_ptr(),
            w.stride() as isize,
            1,
            T::ZERO,
            zp,
            zs as isize,
            1,
        )
    }
}

/// `G = Xᵀ·δ + β·G`. `x` is m×d, `delta` m×t, `g` d×t. `X` is read through swapped
/// strides: no transposed copy is made.
///
/// # Panics
/// When the shapes disagree.
pub fn xt_delta<T: Float>(x: MatRef<'_, T>, delta: MatRef<'_, T>, beta: T, g: &mut MatMut<'_, T>) {
    let (m, d) = x.shape();
    let t = delta.cols();
    assert!(
        delta.rows() == m && g.rows() == d && g.cols() == t,
        "xt_delta: shape mismatch"
    );
    if d == 0 || t == 0 {
        return;
    }
    let (gs, gp) = (g.stride(), g.as_mut_slice().as_mut_ptr());
    // SAFETY: as in `xw`; Xᵀ is X with row and column strides swapped, which is the same
    // set of valid addresses. With m == 0 matrixmultiply only scales G by β.
    unsafe {
        T::gemm_raw(
            d,
            m,
            t,
            T::ONE,
            x.as_slice().as_ptr(),
            1,
            x.stride() as isize,
            delta.as_slice().as_ptr(),
            delta.stride() as isize,
            1,
            beta,
            gp,
            gs as isize,
            1,
        )
    }
}
