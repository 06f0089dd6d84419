//! The NPY readers: `read_npy_matrix_from_bytes` / `read_npy_matrix_from` (features, `f32`
//! and `f64`) and `read_npy_labels_from_bytes` / `read_npy_labels_from` (labels), from
//! memory (known length) and through a reader that returns a few bytes at a time
//! (unknown length).
//!
//! Input: byte 0 = options, the rest = the `.npy` file.
//! - bits 0–1: 0 = matrix as `f32`, 1 = matrix as `f64`, 2 or 3 = labels;
//!   bit 2: streaming reader (else from bytes); bits 3–7: the reader's step − 1.
//!
//! Contract: a typed error, or a matrix of the announced shape with only finite values
//! (which `write_npy_matrix_to` writes back to a file that reads to the same matrix), or
//! a non-empty label vector no longer than the file can hold.

#![no_main]

use libfuzzer_sys::fuzz_target;
use multilogit::Float;
use multilogit::data::npy::{
    read_npy_labels_from, read_npy_labels_from_bytes, read_npy_matrix_from, read_npy_matrix_from_bytes,
    write_npy_matrix_to,
};
use multilogit_fuzz::{Trickle, assert_finite};

fuzz_target!(|data: &[u8]| {
    let (opts, file) = multilogit_fuzz::split_options(data);
    let stream = opts & 4 != 0;
    let step = usize::from(opts >> 3) + 1;
    match opts & 3 {
        0 => matrix::<f32>(file, stream, step),
        1 => matrix::<f64>(file, stream, step),
        _ => {
            let r = if stream {
                read_npy_labels_from(Trickle::new(file, step), "fuzz.npy")
            } else {
                read_npy_labels_from_bytes(file, "fuzz.npy")
            };
            if let Ok(y) = r {
                assert!(!y.is_empty(), "an empty label vector");
                assert!(y.len() <= file.len(), "{} labels from {} bytes", y.len(), file.len());
            }
        }
    }
});

fn matrix<T: Float>(file: &[u8], stream: bool, step: usize) {
    let r = if stream {
        read_npy_matrix_from::<T, _>(Trickle::new(file, step), "fuzz.npy")
    } else {
        read_npy_matrix_from_bytes::<T>(file, "fuzz.npy")
    };
    let Ok(m) = r else { return };
    assert_finite(&m, "npy matrix");
    let (n, d) = m.shape();
    assert!(n >= 1 && d >= 1, "empty matrix {n}×{d}");
    assert_eq!(m.as_slice().len(), n * d);
    assert!(n * d <= file.len(), "{n}×{d} values from {} bytes", file.len());
    // Both reading paths agree.
    let other = if stream {
        read_npy_matrix_from_bytes::<T>(file, "fuzz.npy")
    } else {
        read_npy_matrix_from::<T, _>(Trickle::new(file, step), "fuzz.npy")
    };
    assert_eq!(other.as_ref().ok(), Some(&m), "bytes and stream readers disagree");
    // Round trip through the writer.
    let mut out = Vec::new();
    write_npy_matrix_to(&mut out, &m).expect("writing to memory");
    let back = read_npy_matrix_from_bytes::<T>(&out, "written.npy")
        .unwrap_or_else(|e| panic!("written .npy does not read back: {e}"));
    assert_eq!(back.shape(), m.shape());
    for (a, b) in back.as_slice().iter().zip(m.as_slice()) {
        assert!(a.to_f64().to_bits() == b.to_f64().to_bits(), "value round trip");
    }
}
