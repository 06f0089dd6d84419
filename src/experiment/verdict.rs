//! Verdicts computed from the measured numbers: where logistic regression works best and
//! where it fits poorly.

use serde::{Deserialize, Serialize};

use super::DatasetResult;

/// Test accuracy at or above which logistic regression "works best" (with
/// [`CLOSE_TO_KNN`]).
pub const GOOD_ACCURACY: f64 = 0.95;
/// "Close to kNN": logistic regression's test accuracy is at most this much below kNN's.
pub const CLOSE_TO_KNN: f64 = 0.03;
/// "Well below kNN": a gap larger than this makes a poor fit.
pub const POOR_GAP: f64 = 0.10;
/// "Near the majority rate": a test accuracy at most this much above the majority-class
/// rate makes a poor fit.
pub const NEAR_MAJORITY: f64 = 0.05;

/// The verdict on logistic regression for one data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Test accuracy ≥ [`GOOD_ACCURACY`] and at most [`CLOSE_TO_KNN`] below kNN.
    Good,
    /// Neither good nor poor.
    Fair,
    /// Test accuracy more than [`POOR_GAP`] below kNN, or at most [`NEAR_MAJORITY`]
    /// above the majority-class rate.
    Poor,
}

impl Verdict {
    /// `good`, `fair` or `poor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Good => "good",
            Verdict::Fair => "fair",
            Verdict::Poor => "poor",
        }
    }
}

/// How far logistic regression's test accuracy is below kNN's (negative: above).
pub fn knn_gap(r: &DatasetResult) -> f64 {
    r.knn_accuracy - r.test_accuracy
}

/// Whether the test accuracy is within [`NEAR_MAJORITY`] of the majority-class rate.
pub fn near_majority(r: &DatasetResult) -> bool {
    r.test_accuracy - r.majority_rate <= NEAR_MAJORITY
}

/// The verdict from the numbers (see [`Verdict`]).
pub fn judge(r: &DatasetResult) -> Verdict {
    if knn_gap(r) > POOR_GAP || near_majority(r) {
        Verdict::Poor
    } else if r.test_accuracy >= GOOD_ACCURACY && knn_gap(r) <= CLOSE_TO_KNN {
        Verdict::Good
    } else {
        Verdict::Fair
    }
}

/// Names by test accuracy, best first; ties by kNN gap (smaller first), then by name.
pub fn ranking(results: &[DatasetResult]) -> Vec<String> {
    let mut order: Vec<&DatasetResult> = results.iter().collect();
    order.sort_by(|a, b| {
        b.test_accuracy
            .total_cmp(&a.test_accuracy)
            .then(knn_gap(a).total_cmp(&knn_gap(b)))
            .then(a.name.cmp(&b.name))
    });
    order.into_iter().map(|r| r.name.clone()).collect()
}

/// Why a linear softmax classifier fails on a data set whose geometry is known (the toy
/// ones), or `None` for the others.
pub fn geometric_reason(name: &str) -> Option<&'static str> {
    Some(match name {
        "xor" => {
            "each class sits in two opposite corners, and the segment joining one class's corners \
             crosses the segment joining the other's at the centre. A linear classifier's class \
             regions are convex (intersections of half-planes), so both regions would have to \
             contain the centre, which is impossible"
        }
        "circles" => {
            "one class is a ring around the other. The inner class would need a closed, round \
             boundary; a linear classifier can only cut the plane with straight lines, and the ring \
             is not a convex region"
        }
        "moons" => {
            "the two half-moons interleave: each moon's tip reaches into the hollow of the other. \
             A straight line separates the bodies of the moons but cuts off both tips, which land on \
             the wrong side"
        }
        "spirals" => {
            "the arms wind around each other. Any straight boundary crosses every arm several \
             times, so whole stretches of each arm fall in another class's region"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, test: f64, knn: f64, majority: f64) -> DatasetResult {
        DatasetResult {
            name: name.into(),
            kind: "toy".into(),
            description: String::new(),
            n_train: 10,
            n_test: 5,
            n_features: 2,
            n_classes: 2,
            train_accuracy: test,
            test_accuracy: test,
            test_log_loss: 0.1,
            final_train_loss: 0.1,
            epochs_run: 1,
            stopped_by_tol: false,
            fit_seconds: 0.0,
            majority_rate: majority,
            knn_accuracy: knn,
            knn_seconds: 0.0,
            verdict: Verdict::Fair,
            boundary_png: None,
            loss_history: vec![],
        }
    }

    #[test]
    fn verdicts_follow_the_thresholds() {
        assert_eq!(judge(&result("a", 0.98, 0.99, 0.5)), Verdict::Good);
        assert_eq!(judge(&result("a", 0.96, 1.00, 0.5)), Verdict::Fair); // 0.04 below kNN
        assert_eq!(judge(&result("a", 0.85, 0.90, 0.5)), Verdict::Fair);
        assert_eq!(judge(&result("a", 0.50, 0.97, 0.5)), Verdict::Poor); // far below kNN
        assert_eq!(judge(&result("a", 0.54, 0.56, 0.5)), Verdict::Poor); // near majority
        assert_eq!(judge(&result("a", 0.80, 0.70, 0.4)), Verdict::Fair); // beats kNN
    }

    #[test]
    fn ranking_is_by_test_accuracy() {
        let rs = [
            result("b", 0.9, 0.9, 0.5),
            result("a", 0.9, 0.95, 0.5),
            result("c", 1.0, 1.0, 0.5),
        ];
        assert_eq!(ranking(&rs), vec!["c", "b", "a"]);
    }
}
