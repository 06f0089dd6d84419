//! The same seed gives the same bits whatever the thread count, and across runs.
mod common;
use common::random_problem;
use multilogit::{LogisticClassifierMultinomial, Matrix};

fn fit_in_pool(threads: usize, x: &Matrix<f32>, y: &[u32], batch: Option<usize>) -> (Vec<u32>, Vec<u32>, Vec<u64>) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let mut m = LogisticClassifierMultinomial::<f32>::new()
            .learning_rate(0.5)
            .epochs(8)
            .batch_size(batch)
            .seed(42);
        let r = m.fit(x, y).unwrap();
        let w = m.weights().unwrap().as_slice().iter().map(|v| v.to_bits()).collect();
        let b = m.bias().unwrap().iter().map(|v| v.to_bits()).collect();
        let l = r.loss_history.iter().map(|v| v.to_bits()).collect();
        (w, b, l)
    })
}

#[test]
fn bit_identical_across_thread_counts_and_runs() {
    // Large enough for many blocks and the full number of shards.
    let (n, d, t) = (20_000, 40, 7);
    let (x, y) = random_problem(n, d, t, 8);
    let x = Matrix::from_vec(n, d, x.iter().map(|&v| v as f32).collect()).unwrap();
    let p = multilogit::train::Partition::new::<f32>(n, d, t);
    assert!(p.n_shards > 1 && p.n_blocks > p.n_shards, "{p:?}");
    for batch in [None, Some(1000), Some(333)] {
        let base = fit_in_pool(1, &x, &y, batch);
        for threads in [2, 3, 8] {
            assert_eq!(
                fit_in_pool(threads, &x, &y, batch),
                base,
                "threads {threads}, batch {batch:?}"
            );
        }
        assert_eq!(fit_in_pool(1, &x, &y, batch), base, "second run");
    }
}

#[test]
fn class_split_steps_are_bit_identical_across_thread_counts() {
    // At least 32 classes and 2¹⁵ weights on mini-batches: the steps split by classes.
    let (n, d, t) = (600, 1000, 40);
    let (x, y) = random_problem(n, d, t, 9);
    let x = Matrix::from_vec(n, d, x.iter().map(|&v| v as f32).collect()).unwrap();
    let base = fit_in_pool(1, &x, &y, Some(128));
    for threads in [2, 3] {
        assert_eq!(fit_in_pool(threads, &x, &y, Some(128)), base, "threads {threads}");
    }
}
