//! A stratified, seeded train/test split.

use super::Dataset;
use crate::error::{Error, Result};
use crate::rng::Rng;

/// Splits `ds` into `(train, test)`, stratified by class and reproducible from `seed`.
///
/// Each class with `n_c` rows sends `round(n_c · test_fraction)` of them to the test
/// side, clamped so that a class with at least 2 rows has at least one row on each side;
/// a class with a single row goes to the training side. So each side's class counts are
/// within one row of the exact proportions, and the test side's total is close to (not
/// always exactly) `round(n · test_fraction)`. Which rows of a class are chosen is
/// random, and both sides are shuffled so that classes are interleaved. Both sides keep
/// the full class list, feature names and name of `ds`.
///
/// Errors: `test_fraction` outside the open interval `(0, 1)` is an
/// [`Error::InvalidHyperparameter`]; a split that leaves either side empty (fewer than
/// two rows in every class) is an [`Error::Empty`]; `ds` failing
/// [`Dataset::validate`] is reported as such.
pub fn train_test_split<T: Copy + Default>(
    ds: &Dataset<T>,
    test_fraction: f64,
    seed: u64,
) -> Result<(Dataset<T>, Dataset<T>)> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(Error::hyper(
            "test_fraction",
            test_fraction,
            "must be strictly between 0 and 1",
        ));
    }
    ds.validate()?;
    let k = ds.n_classes();
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (i, &c) in ds.y.iter().enumerate() {
        by_class[c as usize].push(i);
    }
    let mut rng = Rng::new(seed);
    let mut train = Vec::with_capacity(ds.y.len());
    let mut test = Vec::new();
    for rows in &mut by_class {
        let m = rows.len();
        if m == 0 {
            continue;
        }
        rng.shuffle(rows);
        let exact = m as f64 * test_fraction;
        let mut t = exact.round() as usize;
        if m >= 2 {
            t = t.clamp(1, m - 1);
        } else {
            t = 0;
        }
        test.extend_from_slice(&rows[..t]);
        train.extend_from_slice(&rows[t..]);
    }
    if train.is_empty() || test.is_empty() {
        return Err(Error::empty(format!(
            "train/test split of data set {} ({} rows) with test fraction {test_fraction} leaves the {} side empty",
            ds.name,
            ds.y.len(),
            if test.is_empty() { "test" } else { "training" }
        )));
    }
    rng.shuffle(&mut train);
    rng.shuffle(&mut test);
    Ok((ds.select_rows(&train)?, ds.select_rows(&test)?))
}
