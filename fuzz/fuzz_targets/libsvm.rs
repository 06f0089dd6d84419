//! The LIBSVM reader `read_libsvm_from`, in `f32` and `f64`, with and without a given
//! feature count, from memory and through a reader that returns a few bytes at a time.
//!
//! Input: byte 0 = options, the rest = the LIBSVM file.
//! - bit 0: `f64` (else `f32`); bit 1: small-step reader; bit 2: `n_features = Some(n)`
//!   with `n` = bits 3–7 (0..=31), else `None`.
//!
//! Contract: a typed error, or a data set that passes `validate`, has only finite
//! features and as many columns as asked for. Inputs that describe a dense matrix of
//! 2²⁴ to 2³⁰ elements (legitimate by design, see `MAX_DENSE_ELEMENTS`) are skipped.

#![no_main]

use std::io::{BufReader, Cursor};

use libfuzzer_sys::fuzz_target;
use multilogit::Float;
use multilogit::data::libsvm::{MAX_DENSE_ELEMENTS, MAX_LIBSVM_FEATURES};
use multilogit::data::read_libsvm_from;
use multilogit_fuzz::{Trickle, assert_finite};

fuzz_target!(|data: &[u8]| {
    let (opts, file) = multilogit_fuzz::split_options(data);
    if opts & 1 == 0 {
        run::<f32>(opts, file);
    } else {
        run::<f64>(opts, file);
    }
});

/// Dense sizes the target lets the reader build (2²⁴ elements: 128 MiB of `f64`).
const DENSE_BUDGET: u64 = 1 << 24;

/// An upper bound of the dense matrix the reader would build: (lines) × (largest
/// `digits:` index outside comments), or `n_features` when given; and that largest index.
fn dense_upper_bound(file: &[u8], n_features: Option<usize>) -> (u64, u64) {
    let lines = file.split(|&b| b == b'\n').count() as u64;
    let mut max_index = 0u64;
    let mut run: Option<u64> = Some(0);
    let mut digits = 0usize;
    let mut comment = false;
    for &b in file {
        if b == b'\n' {
            comment = false;
        } else if comment || b == b'#' {
            comment = true;
            continue;
        }
        if b.is_ascii_digit() {
            run = run.and_then(|r| r.checked_mul(10)?.checked_add(u64::from(b - b'0')));
            digits += 1;
        } else {
            if b == b':' && digits > 0 {
                max_index = max_index.max(run.unwrap_or(u64::MAX));
            }
            run = Some(0);
            digits = 0;
        }
    }
    let width = n_features.map_or(max_index, |d| d as u64);
    (lines.saturating_mul(width), max_index)
}

fn run<T: Float>(opts: u8, file: &[u8]) {
    let n_features = (opts & 4 != 0).then_some(usize::from(opts >> 3));
    // Densifying is by design: a short file with a large index legitimately describes a
    // large matrix, up to MAX_DENSE_ELEMENTS (2³⁰) elements. Sizes between the budget and
    // that bound would only measure the allocator, so they are skipped; sizes beyond the
    // bound, and indices beyond MAX_LIBSVM_FEATURES, must still give TooLarge without
    // allocating.
    let (bound, max_index) = dense_upper_bound(file, n_features);
    if bound > DENSE_BUDGET && bound <= MAX_DENSE_ELEMENTS as u64 && max_index <= MAX_LIBSVM_FEATURES as u64 {
        return;
    }
    let r = if opts & 2 != 0 {
        let step = usize::from(opts >> 3) + 1;
        read_libsvm_from::<T, _>(
            BufReader::with_capacity(step, Trickle::new(file, step)),
            "fuzz.libsvm",
            n_features,
        )
    } else {
        read_libsvm_from::<T, _>(Cursor::new(file), "fuzz.libsvm", n_features)
    };
    let Ok(ds) = r else { return };
    ds.validate().expect("a data set read from LIBSVM is valid");
    assert_finite(&ds.x, "libsvm features");
    let (n, d) = ds.x.shape();
    assert!(n >= 1 && d >= 1, "empty data set {n}×{d}");
    if let Some(want) = n_features {
        assert_eq!(d, want, "width as asked");
    }
    assert_eq!(ds.feature_names.len(), d);
    assert!(!ds.classes.is_empty());
}
