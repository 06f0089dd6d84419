//! The fit loop: full-batch gradient descent or seeded mini-batch SGD, fused and parallel,
//! with divergence detection and early stopping. Nothing is allocated inside the epoch loop.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::float::Float;
use crate::matrix::{MatRef, Matrix};
use crate::rng::Rng;
use crate::train::engine::{Engine, StepFault};
use crate::train::objective::{Workspace, loss_and_grad_unchecked};
use crate::train::order::{Order, StepRows};
use crate::train::team::{helpers_for, with_team};

/// Training stops as diverged when a step's mean loss exceeds this multiple of `ln T`,
/// the loss of the zero initial parameters (or when any loss or parameter is not finite).
pub const DIVERGENCE_FACTOR: f64 = 100.0;

/// Validated training hyperparameters (see [`FitConfig::validate`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FitConfig {
    /// Learning rate, finite and > 0.
    pub learning_rate: f64,
    /// Number of epochs, ≥ 1.
    pub epochs: usize,
    /// Rows per step; `None` is the full batch.
    pub batch_size: Option<usize>,
    /// Seed for the per-epoch shuffle of mini-batches.
    pub seed: u64,
    /// Stop when the loss improves by less than this from one epoch to the next.
    pub tol: Option<f64>,
}

impl FitConfig {
    /// Checks every hyperparameter once, so the training loop never re-validates.
    pub fn validate(self) -> Result<Self> {
        let lr = self.learning_rate;
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::hyper("learning_rate", lr, "must be a finite number > 0"));
        }
        if self.epochs == 0 {
            return Err(Error::hyper("epochs", 0, "must be at least 1"));
        }
        if self.batch_size == Some(0) {
            return Err(Error::hyper(
                "batch_size",
                0,
                "must be at least 1 (or None for the full batch)",
            ));
        }
        if let Some(tol) = self.tol
            && !(tol.is_finite() && tol >= 0.0)
        {
            return Err(Error::hyper("tol", tol, "must be a finite number ≥ 0"));
        }
        Ok(self)
    }
}

/// What a fit did.
#[derive(Debug, Clone, PartialEq)]
pub struct FitReport {
    /// Epochs run (fewer than asked when `tol` stopped the fit).
    pub epochs_run: usize,
    /// Mean cross-entropy per epoch: for full-batch GD the loss of the parameters the
    /// epoch started with; for mini-batches the mean over the epoch's steps.
    pub loss_history: Vec<f64>,
    /// Whether the `tol` criterion stopped training.
    pub stopped_by_tol: bool,
    /// Wall-clock time of the fit.
    pub wall_time: Duration,
    /// The kernel that computed the steps.
    pub kernel: String,
}

impl FitReport {
    /// The last epoch's loss (NaN if no epoch ran).
    pub fn final_loss(&self) -> f64 {
        self.loss_history.last().copied().unwrap_or(f64::NAN)
    }
}

/// Trains `w` (d×t) and `b` (t) in place on validated input. `labels` must be < t and
/// `x` finite and non-empty (the model checks this). On divergence the parameters are
/// restored to the last ones whose loss was finite and [`Error::Diverged`] is returned.
pub(crate) fn fit<T: Float>(
    w: &mut Matrix<T>,
    b: &mut [T],
    x: MatRef<'_, T>,
    labels: &[u32],
    cfg: &FitConfig,
    on_epoch: &mut dyn FnMut(usize, f64),
) -> Result<FitReport> {
    let start = Instant::now();
    let n = x.rows();
    let (d, t) = (w.rows(), w.cols());
    let batch = cfg.batch_size.map_or(n, |bs| bs.min(n));
    let minibatch = batch < n;
    let mut engine = Engine::new(x, labels, w, b, batch)?;
    let kernel = engine.plan().describe::<T>();
    // Mini-batch order: a fresh pseudo-random permutation of the rows every epoch, keyed
    // from one seeded stream and computed where it is read (`order::Order`): no state per
    // row. Gang epochs (fused mini-batches) compute each thread's places of each step
    // (`Engine::epoch`); other mini-batch steps compute their rows, and the next step's
    // (which the class-split kernels prefetch), and gather their labels, in `step_rows`.
    let mut rng = Rng::new(cfg.seed);
    let mut order = if minibatch { Some(Order::new(n)?) } else { None };
    let per_step = minibatch && !engine.gang_epochs();
    let mut step_rows = StepRows::new(if per_step { batch } else { 0 });
    let lr = T::from_f64(cfg.learning_rate);
    let mut history = Vec::with_capacity(cfg.epochs);
    let mut stopped_by_tol = false;
    // Training starts at W = 0, b = 0, whose loss is ln T per row; gradient descent at a
    // workable rate never comes near a hundred times that. (Softmax gradients are bounded,
    // so an oversized rate often oscillates at a huge but finite loss rather than overflow.)
    let explode = DIVERGENCE_FACTOR * (t as f64).ln().max(f64::MIN_POSITIVE);
    let diverged = |epoch: usize, last_good: usize, what: &str| Error::Diverged {
        epoch,
        last_good_epoch: last_good,
        what: what.to_string(),
        learning_rate: cfg.learning_rate,
        suggested: cfg.learning_rate / 10.0,
    };

    let helpers = helpers_for(engine.max_tasks());
    engine.set_threads(helpers + 1);
    let outcome = with_team(helpers, |team| -> Result<()> {
        for epoch in 1..=cfg.epochs {
            let mut epoch_loss = 0.0;
            let steps = if minibatch { n.div_ceil(batch) } else { 1 };
            if let Some(order) = &mut order {
                order.reseed(&mut rng);
            }
            // A step whose loss is not finite or exploded: go back one step (the current
            // parameters already give it).
            let bad_loss = |engine: &Engine<'_, T>, w: &mut Matrix<T>, b: &mut [T], loss: f64, m: usize| {
                engine.write(true, w, b);
                let what = if loss.is_finite() {
                    format!(
                        "the loss reached {:.3e}, over {DIVERGENCE_FACTOR} times its starting value ln T",
                        loss / m as f64
                    )
                } else {
                    "the loss became non-finite".to_string()
                };
                diverged(epoch, epoch.saturating_sub(2), &what)
            };
            let bad_weights = |engine: &Engine<'_, T>, w: &mut Matrix<T>, b: &mut [T]| {
                engine.write(false, w, b);
                diverged(epoch, epoch - 1, "the weights became non-finite")
            };
            if let (true, Some(order)) = (engine.gang_epochs(), &order) {
                match engine.epoch(team, order, batch, lr, explode) {
                    Ok(sum) => epoch_loss = sum,
                    Err(StepFault::Loss { loss, rows, .. }) => return Err(bad_loss(&engine, w, b, loss, rows)),
                    Err(StepFault::Weights { .. }) => return Err(bad_weights(&engine, w, b)),
                }
            } else {
                for step in 0..steps {
                    let (rows, m) = if let Some(order) = &order {
                        let lo = step * batch;
                        let hi = (lo + batch).min(n);
                        // This step's rows (computed by the step before, or at the epoch's
                        // start), then the next step's, which the kernels prefetch.
                        if step == 0 {
                            step_rows.start(order, lo..hi);
                        }
                        if hi < n {
                            step_rows.follow(order, hi..(hi + batch).min(n), labels);
                        }
                        (Some(step_rows.step(labels, batch)), hi - lo)
                    } else {
                        (None, n)
                    };
                    let loss = engine.loss_grad(team, rows);
                    if !loss.is_finite() || loss / m as f64 > explode {
                        return Err(bad_loss(&engine, w, b, loss, m));
                    }
                    epoch_loss += loss;
                    if !engine.update(team, rows, lr) {
                        return Err(bad_weights(&engine, w, b));
                    }
                    step_rows.advance();
                }
            }
            let mean = epoch_loss / n as f64;
            on_epoch(epoch, mean);
            if let (Some(tol), Some(&prev)) = (cfg.tol, history.last()) {
                history.push(mean);
                if prev - mean < tol {
                    stopped_by_tol = true;
                    break;
                }
            } else {
                history.push(mean);
            }
        }
        Ok(())
    });
    outcome?;
    engine.write(false, w, b);
    // The last update's parameters have not been evaluated yet. If their logits might
    // overflow (|z| ≤ max row ‖x‖₁ · max |W| + max |b|), evaluate them once; a non-finite
    // loss there is divergence too, and the previous parameters are kept.
    let max_abs = |v: &[T]| v.iter().fold(0.0f64, |m, &p| m.max(p.to_f64().abs()));
    let bound = max_row_l1(x) * max_abs(w.as_slice()) + max_abs(b);
    // (NaN cannot occur: parameters and X are finite here.)
    if bound >= T::MAX / 4.0 {
        let mut ws = Workspace::<T>::new(batch, d, t, minibatch)?;
        let mut gw = vec![T::ZERO; d * t];
        let mut gb = vec![T::ZERO; t];
        let mut total = 0.0;
        let all: Vec<u32> = (0..n as u32).collect();
        for chunk in all.chunks(batch) {
            let rows = if minibatch { Some(chunk) } else { None };
            total += loss_and_grad_unchecked(w.view(), b, x, labels, rows, T::ONE, &mut ws, &mut gw, &mut gb);
        }
        if !total.is_finite() {
            engine.write(true, w, b);
            let last = history.len();
            return Err(diverged(
                last,
                last.saturating_sub(1),
                "the logits of the final parameters overflow",
            ));
        }
    }
    Ok(FitReport {
        epochs_run: history.len(),
        loss_history: history,
        stopped_by_tol,
        wall_time: start.elapsed(),
        kernel,
    })
}

/// max over rows of ‖xᵢ‖₁ (f64 sums in a fixed order per row, so the result does not depend
/// on the thread count), over the rayon pool.
fn max_row_l1<T: Float>(x: MatRef<'_, T>) -> f64 {
    use rayon::prelude::*;
    (0..x.rows())
        .into_par_iter()
        .with_min_len(256)
        .map(|i| {
            let r = x.row(i);
            let mut acc = [0.0f64; 8];
            let mut chunks = r.chunks_exact(8);
            for c in &mut chunks {
                for (a, v) in acc.iter_mut().zip(c) {
                    *a += v.to_f64().abs();
                }
            }
            let tail: f64 = chunks.remainder().iter().map(|v| v.to_f64().abs()).sum();
            acc.iter().sum::<f64>() + tail
        })
        .reduce(|| 0.0, f64::max)
}
