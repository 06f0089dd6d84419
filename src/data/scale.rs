//! Standardisation: `(x − mean) / std` per column, fitted on training data.

use crate::error::{Error, Result};
use crate::float::Float;
use crate::matrix::Matrix;

/// Per-column standardisation, like scikit-learn's `StandardScaler`.
///
/// `transform` maps `x[i][j]` to `(x[i][j] − mean[j]) / scale[j]`. Statistics are kept
/// in `f64` whatever the data's precision.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scaler {
    /// Column means.
    pub mean: Vec<f64>,
    /// Column population standard deviations (divisor `n`), with 1.0 in place of zero
    /// for constant columns so that nothing is ever divided by zero.
    pub scale: Vec<f64>,
}

impl Scaler {
    /// Fits means and population standard deviations to the columns of `x`.
    ///
    /// A column whose standard deviation is zero, or below `10·ε·|mean|` (a constant
    /// column up to rounding), gets scale 1.0: it is centred, not divided.
    ///
    /// Errors: no rows or no columns ([`Error::Empty`]); a NaN or infinite value
    /// ([`Error::NonFinite`]).
    pub fn fit<T: Float>(x: &Matrix<T>) -> Result<Scaler> {
        let (n, d) = x.shape();
        if n == 0 || d == 0 {
            return Err(Error::empty(format!("cannot fit a scaler to a {n}×{d} matrix")));
        }
        x.view().check_finite("scaler input")?;
        let nf = n as f64;
        // Means as Σ x / n; if that overflows (values near f64::MAX), as Σ (x / n).
        let mut mean = vec![0.0f64; d];
        for row in x.iter_rows() {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v.to_f64();
            }
        }
        for (j, m) in mean.iter_mut().enumerate() {
            if m.is_finite() {
                *m /= nf;
            } else {
                *m = x.iter_rows().map(|r| r[j].to_f64() / nf).sum();
            }
        }
        // Standard deviations scaled by the largest deviation, so squares cannot overflow.
        let mut maxdev = vec![0.0f64; d];
        for row in x.iter_rows() {
            for ((md, &v), &m) in maxdev.iter_mut().zip(row).zip(&mean) {
                *md = md.max((v.to_f64() - m).abs());
            }
        }
        let mut ss = vec![0.0f64; d];
        for row in x.iter_rows() {
            for (((s, &v), &m), &md) in ss.iter_mut().zip(row).zip(&mean).zip(&maxdev) {
                if md > 0.0 && md.is_finite() {
                    let t = (v.to_f64() - m) / md;
                    *s += t * t;
                }
            }
        }
        let scale = ss
            .iter()
            .zip(&maxdev)
            .zip(&mean)
            .map(|((&s, &md), &m)| {
                let std = if md.is_finite() { md * (s / nf).sqrt() } else { f64::MAX };
                if std == 0.0 || std < 10.0 * f64::EPSILON * m.abs() || !std.is_finite() {
                    1.0
                } else {
                    std
                }
            })
            .collect();
        Ok(Scaler { mean, scale })
    }

    /// Number of columns the scaler was fitted to.
    pub fn n_features(&self) -> usize {
        self.mean.len()
    }

    /// Checks that `mean` and `scale` agree in length and hold finite values with
    /// positive scales (for a scaler read from a file).
    pub fn validate(&self) -> Result<()> {
        if self.mean.len() != self.scale.len() {
            return Err(Error::shape(
                "scaler",
                format!("{} scales (one per mean)", self.mean.len()),
                format!("{} scales", self.scale.len()),
            ));
        }
        if let Some(j) = self.mean.iter().position(|m| !m.is_finite()) {
            return Err(Error::NonFinite {
                what: "scaler mean".to_string(),
                row: 0,
                col: j,
                value: self.mean[j],
            });
        }
        if let Some(j) = self.scale.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::hyper(
                "scale",
                self.scale[j],
                format!("scaler scale of column {j} must be finite and positive"),
            ));
        }
        Ok(())
    }

    fn check_shape<T>(&self, x: &Matrix<T>) -> Result<()> {
        self.validate()?;
        if x.cols() != self.mean.len() {
            return Err(Error::shape(
                "Scaler::transform",
                format!("{} columns (as fitted)", self.mean.len()),
                format!("{} columns", x.cols()),
            ));
        }
        Ok(())
    }

    /// `(x − mean) / scale`, as a new matrix.
    ///
    /// Errors: a column count other than the fitted one ([`Error::ShapeMismatch`]); a
    /// result that does not fit `T` ([`Error::NonFinite`]).
    pub fn transform<T: Float>(&self, x: &Matrix<T>) -> Result<Matrix<T>> {
        let mut out = x.clone();
        self.transform_in_place(&mut out)?;
        Ok(out)
    }

    /// `(x − mean) / scale`, in place. On error `x` may be partly transformed.
    pub fn transform_in_place<T: Float>(&self, x: &mut Matrix<T>) -> Result<()> {
        self.check_shape(x)?;
        for i in 0..x.rows() {
            let row = x.row_mut(i);
            for (j, ((v, &m), &s)) in row.iter_mut().zip(&self.mean).zip(&self.scale).enumerate() {
                let t = T::from_f64((v.to_f64() - m) / s);
                if !t.is_finite() {
                    return Err(Error::NonFinite {
                        what: "standardised features".to_string(),
                        row: i,
                        col: j,
                        value: v.to_f64(),
                    });
                }
                *v = t;
            }
        }
        Ok(())
    }

    /// `x · scale + mean`, the inverse of [`Scaler::transform`], as a new matrix.
    pub fn inverse_transform<T: Float>(&self, x: &Matrix<T>) -> Result<Matrix<T>> {
        self.check_shape(x)?;
        let mut out = x.clone();
        for i in 0..out.rows() {
            for (j, ((v, &m), &s)) in out.row_mut(i).iter_mut().zip(&self.mean).zip(&self.scale).enumerate() {
                let t = T::from_f64(v.to_f64() * s + m);
                if !t.is_finite() {
                    return Err(Error::NonFinite {
                        what: "inverse-standardised features".to_string(),
                        row: i,
                        col: j,
                        value: v.to_f64(),
                    });
                }
                *v = t;
            }
        }
        Ok(out)
    }
}
