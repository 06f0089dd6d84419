//! Parameter updates.

use crate::float::Float;

/// Plain gradient descent: `w −= lr·gw`, `b −= lr·gb`. Returns `false` if any updated
/// parameter is not finite (the caller decides what to do about divergence).
pub fn sgd_step<T: Float>(w: &mut [T], b: &mut [T], gw: &[T], gb: &[T], lr: T) -> bool {
    let mut finite = T::ZERO;
    for (p, &g) in w.iter_mut().zip(gw).chain(b.iter_mut().zip(gb)) {
        *p -= lr * g;
        finite += *p * T::ZERO;
    }
    // Σ p·0 is 0 for finite p and NaN as soon as one p is NaN or infinite.
    finite.is_finite()
}
