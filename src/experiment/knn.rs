//! k nearest neighbours: the experiment's nonlinear reference classifier.
//!
//! Euclidean distance, majority vote among the `k` nearest training rows; a tie in the
//! vote goes to the tied class whose member is nearest to the query. Equal distances are
//! ordered by training row index, so the result is deterministic. Queries run in
//! parallel (rayon), each one a brute-force scan of the training rows.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::matrix::Matrix;

/// A fitted k-nearest-neighbours classifier (it stores the training rows).
#[derive(Debug, Clone)]
pub struct Knn {
    k: usize,
    x: Matrix<f64>,
    y: Vec<u32>,
    n_classes: usize,
}

impl Knn {
    /// Stores the training rows `x` (N×d) and their labels for `k`-neighbour votes.
    ///
    /// `n_classes` is the number of classes (labels must be below it). When `k` exceeds
    /// the number of training rows, all of them vote.
    ///
    /// Errors: `k == 0` or `n_classes == 0` ([`Error::InvalidHyperparameter`]), no rows
    /// or columns ([`Error::Empty`]), a label count other than N
    /// ([`Error::ShapeMismatch`]), a label out of range ([`Error::LabelOutOfRange`]), a
    /// non-finite value ([`Error::NonFinite`]).
    pub fn fit(x: &Matrix<f64>, y: &[u32], k: usize, n_classes: usize) -> Result<Knn> {
        if k == 0 {
            return Err(Error::InvalidHyperparameter {
                name: "k",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        if n_classes == 0 {
            return Err(Error::InvalidHyperparameter {
                name: "n_classes",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        let (n, d) = x.shape();
        if n == 0 || d == 0 {
            return Err(Error::Empty {
                what: format!("kNN training data has shape {n}×{d}"),
            });
        }
        if y.len() != n {
            return Err(Error::ShapeMismatch {
                context: "kNN labels".into(),
                expected: format!("{n} labels (rows of X)"),
                found: format!("{} labels", y.len()),
            });
        }
        if let Some((row, &l)) = y.iter().enumerate().find(|&(_, &l)| l as usize >= n_classes) {
            return Err(Error::LabelOutOfRange {
                row,
                label: l as u64,
                n_classes,
            });
        }
        x.view().check_finite("kNN training data")?;
        Ok(Knn {
            k,
            x: x.clone(),
            y: y.to_vec(),
            n_classes,
        })
    }

    /// The number of neighbours that vote.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The predicted class of each row of `x` (same number of columns as in `fit`).
    pub fn predict(&self, x: &Matrix<f64>) -> Result<Vec<u32>> {
        if x.cols() != self.x.cols() {
            return Err(Error::ShapeMismatch {
                context: "kNN query".into(),
                expected: format!("{} columns (as in training)", self.x.cols()),
                found: format!("{} columns", x.cols()),
            });
        }
        x.view().check_finite("kNN query")?;
        let k = self.k.min(self.x.rows());
        Ok((0..x.rows())
            .into_par_iter()
            .map_init(
                || (Vec::with_capacity(k + 1), vec![0usize; self.n_classes]),
                |(best, counts), i| self.predict_row(x.row(i), k, best, counts),
            )
            .collect())
    }

    /// Accuracy on `x` with labels `y`.
    pub fn score(&self, x: &Matrix<f64>, y: &[u32]) -> Result<f64> {
        if y.len() != x.rows() {
            return Err(Error::ShapeMismatch {
                context: "kNN score: labels".into(),
                expected: format!("{} labels (rows of X)", x.rows()),
                found: format!("{} labels", y.len()),
            });
        }
        if y.is_empty() {
            return Err(Error::Empty {
                what: "kNN score: X has no rows".into(),
            });
        }
        let pred = self.predict(x)?;
        Ok(accuracy(&pred, y))
    }

    /// One query: keeps the `k` best `(distance², index)` pairs in sorted order.
    fn predict_row(&self, q: &[f64], k: usize, best: &mut Vec<(f64, usize)>, counts: &mut [usize]) -> u32 {
        best.clear();
        for (j, row) in self.x.iter_rows().enumerate() {
            let d2: f64 = row.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum();
            if best.len() == k {
                // Strictly closer only: an equal distance keeps the lower index.
                if d2 >= best[k - 1].0 {
                    continue;
                }
                best.pop();
            }
            // Insert after every entry with distance ≤ d2 (earlier indices stay first).
            let pos = best.partition_point(|&(d, _)| d <= d2);
            best.insert(pos, (d2, j));
        }
        vote(best.iter().map(|&(_, j)| self.y[j]), counts)
    }
}

/// Majority vote over labels given nearest first; a tie goes to the tied class that
/// appears first (the nearest).
fn vote(labels: impl Iterator<Item = u32> + Clone, counts: &mut [usize]) -> u32 {
    counts.iter_mut().for_each(|c| *c = 0);
    for l in labels.clone() {
        counts[l as usize] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(0);
    labels.into_iter().find(|&l| counts[l as usize] == top).unwrap_or(0)
}

/// The fraction of positions where `pred` equals `truth` (0 for empty input).
pub fn accuracy(pred: &[u32], truth: &[u32]) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    pred.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / truth.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The definition, written as plainly as possible: sort every training row by
    /// (distance, index), take k, count, break ties by the nearest.
    fn brute_force(xtr: &[Vec<f64>], ytr: &[u32], q: &[f64], k: usize, t: usize) -> u32 {
        let mut all: Vec<(f64, usize)> = xtr
            .iter()
            .enumerate()
            .map(|(j, r)| (r.iter().zip(q).map(|(a, b)| (a - b).powi(2)).sum::<f64>(), j))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let near: Vec<u32> = all.iter().take(k).map(|&(_, j)| ytr[j]).collect();
        let mut counts = vec![0; t];
        for &l in &near {
            counts[l as usize] += 1;
        }
        let top = *counts.iter().max().unwrap();
        *near.iter().find(|&&l| counts[l as usize] == top).unwrap()
    }

    fn mat(rows: &[Vec<f64>]) -> Matrix<f64> {
        Matrix::from_rows(rows).unwrap()
    }

    #[test]
    fn matches_brute_force_on_random_tiny_data() {
        let mut rng = Rng::new(7);
        for case in 0..200 {
            let n = 1 + case % 13;
            let d = 1 + case % 3;
            let t = 1 + case % 4;
            // Coarse integer coordinates make equal distances (ties) common.
            let coord = |rng: &mut Rng| (rng.next_u64() % 5) as f64;
            let xtr: Vec<Vec<f64>> = (0..n).map(|_| (0..d).map(|_| coord(&mut rng)).collect()).collect();
            let ytr: Vec<u32> = (0..n).map(|_| (rng.next_u64() % t as u64) as u32).collect();
            let xq: Vec<Vec<f64>> = (0..9).map(|_| (0..d).map(|_| coord(&mut rng)).collect()).collect();
            for k in [1, 2, 3, 5, 20] {
                let knn = Knn::fit(&mat(&xtr), &ytr, k, t).unwrap();
                let got = knn.predict(&mat(&xq)).unwrap();
                let want: Vec<u32> = xq.iter().map(|q| brute_force(&xtr, &ytr, q, k.min(n), t)).collect();
                assert_eq!(got, want, "case {case}, k {k}");
            }
        }
    }

    #[test]
    fn hand_checked_votes() {
        // Training points on a line: 0,1,2 are class 0; 10,11 class 1.
        let xtr = mat(&[vec![0.0], vec![1.0], vec![2.0], vec![10.0], vec![11.0]]);
        let y = [0, 0, 0, 1, 1];
        let knn = Knn::fit(&xtr, &y, 3, 2).unwrap();
        assert_eq!(
            knn.predict(&mat(&[vec![0.5], vec![10.5], vec![6.5]])).unwrap(),
            vec![0, 1, 1]
        );
        // k = 2 at 6.5: neighbours 10 (class 1, 3.5 away) and 2 (class 0, 4.5 away):
        // a 1–1 tie goes to the nearest, class 1.
        let knn2 = Knn::fit(&xtr, &y, 2, 2).unwrap();
        assert_eq!(knn2.predict(&mat(&[vec![6.5]])).unwrap(), vec![1]);
        // k = 1 reproduces the training labels.
        let knn1 = Knn::fit(&xtr, &y, 1, 2).unwrap();
        assert_eq!(knn1.predict(&xtr).unwrap(), y.to_vec());
        assert_eq!(knn1.score(&xtr, &y).unwrap(), 1.0);
    }

    #[test]
    fn equal_distances_prefer_the_lower_index() {
        // Two training points equally far from the query: k = 1 takes the first.
        let xtr = mat(&[vec![-1.0], vec![1.0]]);
        let q = mat(&[vec![0.0]]);
        assert_eq!(Knn::fit(&xtr, &[1, 0], 1, 2).unwrap().predict(&q).unwrap(), vec![1]);
        assert_eq!(Knn::fit(&xtr, &[0, 1], 1, 2).unwrap().predict(&q).unwrap(), vec![0]);
    }

    #[test]
    fn bad_input_is_an_error() {
        let x = mat(&[vec![0.0, 1.0], vec![1.0, 0.0]]);
        assert!(matches!(
            Knn::fit(&x, &[0, 1], 0, 2),
            Err(Error::InvalidHyperparameter { .. })
        ));
        assert!(matches!(Knn::fit(&x, &[0], 1, 2), Err(Error::ShapeMismatch { .. })));
        assert!(matches!(
            Knn::fit(&x, &[0, 2], 1, 2),
            Err(Error::LabelOutOfRange { .. })
        ));
        let nan = mat(&[vec![0.0, f64::NAN]]);
        assert!(matches!(Knn::fit(&nan, &[0], 1, 1), Err(Error::NonFinite { .. })));
        let knn = Knn::fit(&x, &[0, 1], 1, 2).unwrap();
        assert!(matches!(
            knn.predict(&mat(&[vec![0.0]])),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(knn.score(&x, &[0]), Err(Error::ShapeMismatch { .. })));
    }
}
