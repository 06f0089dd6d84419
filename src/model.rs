//! [`LogisticClassifierMultinomial`]: the model a user meets.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::float::Float;
use crate::kernels::{gemm, softmax};
use crate::matrix::{MatMut, MatRef, Matrix};
use crate::train::fit::{self, FitConfig, FitReport};
use crate::train::optim::sgd_step;

/// Rows per block in prediction (parallel, independent of the thread count).
const PREDICT_BLOCK: usize = 256;

impl<'a, T> From<&'a Matrix<T>> for MatRef<'a, T> {
    fn from(m: &'a Matrix<T>) -> Self {
        m.view()
    }
}

/// Multinomial logistic regression (softmax regression) trained by gradient descent.
///
/// `z = X·W + b`, `ŷ = softmax(z)`, `J = −(1/N) Σ y·log ŷ`; `W` is d×t and `b` has t
/// entries, both starting at zero. See the crate documentation for the equations and the
/// functions that compute them.
///
/// ```
/// use multilogit::{LogisticClassifierMultinomial, Matrix};
/// let x = Matrix::from_vec(4, 1, vec![-2.0f64, -1.0, 1.0, 2.0])?;
/// let y = [0u32, 0, 1, 1];
/// let mut model = LogisticClassifierMultinomial::<f64>::new().learning_rate(1.0).epochs(200);
/// model.fit(&x, &y)?;
/// assert_eq!(model.predict(&x)?, y);
/// # Ok::<(), multilogit::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LogisticClassifierMultinomial<T> {
    learning_rate: f64,
    epochs: usize,
    batch_size: Option<usize>,
    seed: u64,
    tol: Option<f64>,
    n_classes: Option<usize>,
    params: Option<(Matrix<T>, Vec<T>)>,
}

impl<T: Float> Default for LogisticClassifierMultinomial<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Float> LogisticClassifierMultinomial<T> {
    /// An unfitted model with the seed's defaults: learning rate 0.1, 100 epochs, full
    /// batch, seed 0, no early stopping, classes taken from the labels.
    pub fn new() -> Self {
        LogisticClassifierMultinomial {
            learning_rate: 0.1,
            epochs: 100,
            batch_size: None,
            seed: 0,
            tol: None,
            n_classes: None,
            params: None,
        }
    }

    /// Sets the learning rate (finite, > 0; checked by `fit`).
    pub fn learning_rate(mut self, lr: f64) -> Self {
        self.learning_rate = lr;
        self
    }
    /// Sets the number of epochs (≥ 1; checked by `fit`).
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }
    /// `None` (the default) is full-batch gradient descent; `Some(B)` takes shuffled steps
    /// of `B` rows (the last one shorter), in a fresh order every epoch: a pseudo-random
    /// permutation of the rows keyed from the seed and computed as the steps read it, so
    /// mini-batches keep no state per row.
    pub fn batch_size(mut self, batch_size: Option<usize>) -> Self {
        self.batch_size = batch_size;
        self
    }
    /// Fixes the shuffling of mini-batches (the initial weights are zero).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Stops when the loss improves by less than `tol` from one epoch to the next.
    pub fn tol(mut self, tol: Option<f64>) -> Self {
        self.tol = tol;
        self
    }
    /// Fixes the number of classes T (otherwise max label + 1). A class absent from the
    /// training rows still gets its column.
    pub fn n_classes(mut self, t: usize) -> Self {
        self.n_classes = Some(t);
        self
    }

    /// The validated training configuration.
    pub fn config(&self) -> Result<FitConfig> {
        FitConfig {
            learning_rate: self.learning_rate,
            epochs: self.epochs,
            batch_size: self.batch_size,
            seed: self.seed,
            tol: self.tol,
        }
        .validate()
    }

    /// A fitted model from given parameters: `w` is d×t, `b` has t entries.
    pub fn from_params(w: Matrix<T>, b: Vec<T>) -> Result<Self> {
        if b.len() != w.cols() {
            return Err(Error::shape(
                "from_params",
                format!("bias of length {}", w.cols()),
                format!("length {}", b.len()),
            ));
        }
        if w.rows() == 0 || w.cols() == 0 {
            return Err(Error::empty(format!("weights of shape {}×{}", w.rows(), w.cols())));
        }
        w.view().check_finite("weights")?;
        MatRef::new(&b, 1, b.len(), b.len())?.check_finite("bias")?;
        let mut m = Self::new();
        m.n_classes = Some(w.cols());
        m.params = Some((w, b));
        Ok(m)
    }

    /// Trains from zero weights on `x` (N×d) and `labels` (N classes in `0..T`).
    pub fn fit<'a>(&mut self, x: impl Into<MatRef<'a, T>>, labels: &[u32]) -> Result<FitReport> {
        self.fit_with_callback(x, labels, &mut |_, _| {})
    }

    /// As [`fit`](Self::fit), calling `on_epoch(epoch, loss)` after every epoch (for
    /// progress bars).
    pub fn fit_with_callback<'a>(
        &mut self,
        x: impl Into<MatRef<'a, T>>,
        labels: &[u32],
        on_epoch: &mut dyn FnMut(usize, f64),
    ) -> Result<FitReport> {
        let x = x.into();
        let cfg = self.config()?;
        let (n, d) = x.shape();
        if n == 0 || d == 0 {
            return Err(Error::empty(format!("training data X has shape {n}×{d}")));
        }
        if labels.len() != n {
            return Err(Error::shape(
                "fit: labels",
                format!("{n} labels (rows of X)"),
                format!("{} labels", labels.len()),
            ));
        }
        let max_label = labels.iter().copied().max().unwrap_or(0) as usize;
        let t = match self.n_classes {
            Some(0) => return Err(Error::hyper("n_classes", 0, "must be at least 1")),
            Some(t) => t,
            None => max_label + 1,
        };
        if let Some((row, &l)) = labels.iter().enumerate().find(|&(_, &l)| l as usize >= t) {
            return Err(Error::LabelOutOfRange {
                row,
                label: l as u64,
                n_classes: t,
            });
        }
        x.check_finite("training data X")?;
        let mut w = Matrix::zeros(d, t)?;
        let mut b = vec![T::ZERO; t];
        let result = fit::fit(&mut w, &mut b, x, labels, &cfg, on_epoch);
        // Keep the (restored, finite) parameters even when training diverged.
        self.params = Some((w, b));
        result
    }

    /// The seed's backward step: `∇W = Xᵀ·δ` (d×t) and `∇b = 1ᵀ·δ` (t) for a given δ (N×t).
    pub fn compute_loss_grad<'a, 'b>(
        &self,
        x: impl Into<MatRef<'a, T>>,
        delta: impl Into<MatRef<'b, T>>,
    ) -> Result<(Matrix<T>, Vec<T>)> {
        let (x, delta) = (x.into(), delta.into());
        if x.rows() != delta.rows() {
            return Err(Error::shape(
                "compute_loss_grad",
                format!("δ with {} rows (rows of X)", x.rows()),
                format!("{}×{}", delta.rows(), delta.cols()),
            ));
        }
        if let Some((w, _)) = &self.params
            && (x.cols(), delta.cols()) != w.shape()
        {
            return Err(Error::shape(
                "compute_loss_grad",
                format!("X with {} columns and δ with {}", w.rows(), w.cols()),
                format!("{} and {}", x.cols(), delta.cols()),
            ));
        }
        let mut gw = Matrix::zeros(x.cols(), delta.cols())?;
        gemm::xt_delta(x, delta, T::ZERO, &mut gw.view_mut());
        let mut gb = vec![T::ZERO; delta.cols()];
        for i in 0..delta.rows() {
            for (g, &v) in gb.iter_mut().zip(delta.row(i)) {
                *g += v;
            }
        }
        Ok((gw, gb))
    }

    /// The seed's forward step and error term: `δ = (softmax(X·W + b) − onehot(y))/N`.
    /// Returns δ (N×t) and the mean loss.
    pub fn compute_delta<'a>(&self, x: impl Into<MatRef<'a, T>>, labels: &[u32]) -> Result<(Matrix<T>, f64)> {
        let x = x.into();
        let (w, b) = self.checked_params(x)?;
        let t = w.cols();
        check_labels(labels, x.rows(), t)?;
        let mut z = Matrix::zeros(x.rows(), t)?;
        gemm::xw(x, w.view(), &mut z.view_mut());
        let scale = T::ONE / T::from_usize(x.rows().max(1));
        let mut gb = vec![T::ZERO; t];
        let loss = softmax::softmax_delta(z.as_mut_slice(), t, b, labels, scale, &mut gb);
        Ok((z, loss / x.rows().max(1) as f64))
    }

    /// The seed's update step: `W −= lr·∇W`, `b −= lr·∇b`. Refuses (and changes nothing)
    /// if the result would not be finite.
    pub fn update_params(&mut self, grad_w: &Matrix<T>, grad_b: &[T]) -> Result<()> {
        let lr = self.config()?.learning_rate;
        let (w, b) = self.params.as_mut().ok_or(Error::NotFitted)?;
        if grad_w.shape() != w.shape() || grad_b.len() != b.len() {
            return Err(Error::shape(
                "update_params",
                format!("∇W {}×{} and ∇b of {}", w.rows(), w.cols(), b.len()),
                format!("∇W {}×{} and ∇b of {}", grad_w.rows(), grad_w.cols(), grad_b.len()),
            ));
        }
        let (old_w, old_b) = (w.clone(), b.clone());
        if !sgd_step(w.as_mut_slice(), b, grad_w.as_slice(), grad_b, T::from_f64(lr)) {
            *w = old_w;
            *b = old_b;
            return Err(Error::Diverged {
                epoch: 0,
                last_good_epoch: 0,
                what: "the weights became non-finite".into(),
                learning_rate: lr,
                suggested: lr / 10.0,
            });
        }
        Ok(())
    }

    /// Class probabilities, N×T; each row sums to 1.
    pub fn predict_proba<'a>(&self, x: impl Into<MatRef<'a, T>>) -> Result<Matrix<T>> {
        let x = x.into();
        let (w, b) = self.checked_params(x)?;
        x.check_finite("X")?;
        let t = w.cols();
        let mut z = Matrix::zeros(x.rows(), t)?;
        z.as_mut_slice()
            .par_chunks_mut(PREDICT_BLOCK * t)
            .enumerate()
            .for_each(|(i, zb)| {
                let lo = i * PREDICT_BLOCK;
                let xb = x.slice_rows(lo, lo + zb.len() / t);
                let rows = xb.rows();
                let mut zm = MatMut::new(zb, rows, t, t).expect("block sized from X");
                gemm::xw(xb, w.view(), &mut zm);
                softmax::softmax_rows(zm.as_mut_slice(), t, b);
            });
        // Finite X and finite parameters can still overflow in X·W + b.
        z.view()
            .check_finite("class probabilities (the logits X·W + b overflow)")?;
        Ok(z)
    }

    /// The most probable class of each row (ties: the lowest index).
    pub fn predict<'a>(&self, x: impl Into<MatRef<'a, T>>) -> Result<Vec<u32>> {
        let p = self.predict_proba(x)?;
        Ok(p.iter_rows()
            .map(|r| {
                let mut best = 0;
                for (k, &v) in r.iter().enumerate() {
                    if v > r[best] {
                        best = k;
                    }
                }
                best as u32
            })
            .collect())
    }

    /// Accuracy: the fraction of rows whose predicted class equals the label.
    pub fn score<'a>(&self, x: impl Into<MatRef<'a, T>>, labels: &[u32]) -> Result<f64> {
        let x = x.into();
        if labels.len() != x.rows() {
            return Err(Error::shape(
                "score: labels",
                format!("{} labels (rows of X)", x.rows()),
                format!("{} labels", labels.len()),
            ));
        }
        if x.rows() == 0 {
            return Err(Error::empty("score: X has no rows"));
        }
        let pred = self.predict(x)?;
        let hits = pred.iter().zip(labels).filter(|(p, l)| p == l).count();
        Ok(hits as f64 / labels.len() as f64)
    }

    /// Mean cross-entropy `−(1/N) Σ log ŷᵢ,yᵢ`, computed stably as logsumexp − z_true.
    pub fn loss<'a>(&self, x: impl Into<MatRef<'a, T>>, labels: &[u32]) -> Result<f64> {
        let x = x.into();
        let (w, b) = self.checked_params(x)?;
        let t = w.cols();
        if x.rows() == 0 {
            return Err(Error::empty("loss: X has no rows"));
        }
        check_labels(labels, x.rows(), t)?;
        x.check_finite("X")?;
        let nblocks = x.rows().div_ceil(PREDICT_BLOCK);
        let partial: Vec<f64> = (0..nblocks)
            .into_par_iter()
            .map(|i| {
                let lo = i * PREDICT_BLOCK;
                let hi = (lo + PREDICT_BLOCK).min(x.rows());
                let mut z = vec![T::ZERO; (hi - lo) * t];
                let mut zm = MatMut::new(&mut z, hi - lo, t, t).expect("block sized from X");
                gemm::xw(x.slice_rows(lo, hi), w.view(), &mut zm);
                softmax::loss_rows(&mut z, t, b, &labels[lo..hi])
            })
            .collect();
        Ok(partial.iter().sum::<f64>() / x.rows() as f64)
    }

    /// The weights W (d×t).
    pub fn weights(&self) -> Result<&Matrix<T>> {
        self.params.as_ref().map(|(w, _)| w).ok_or(Error::NotFitted)
    }
    /// The bias b (t).
    pub fn bias(&self) -> Result<&[T]> {
        self.params.as_ref().map(|(_, b)| b.as_slice()).ok_or(Error::NotFitted)
    }
    /// Number of classes T of the fitted model.
    pub fn classes(&self) -> Result<usize> {
        Ok(self.weights()?.cols())
    }

    fn checked_params(&self, x: MatRef<'_, T>) -> Result<(&Matrix<T>, &[T])> {
        let (w, b) = self.params.as_ref().ok_or(Error::NotFitted)?;
        if x.cols() != w.rows() {
            return Err(Error::shape(
                "X",
                format!("{} features (as in training)", w.rows()),
                format!("{} columns", x.cols()),
            ));
        }
        Ok((w, b))
    }
}

fn check_labels(labels: &[u32], n: usize, t: usize) -> Result<()> {
    if labels.len() != n {
        return Err(Error::shape(
            "labels",
            format!("{n} labels (rows of X)"),
            format!("{} labels", labels.len()),
        ));
    }
    if let Some((row, &l)) = labels.iter().enumerate().find(|&(_, &l)| l as usize >= t) {
        return Err(Error::LabelOutOfRange {
            row,
            label: l as u64,
            n_classes: t,
        });
    }
    Ok(())
}
