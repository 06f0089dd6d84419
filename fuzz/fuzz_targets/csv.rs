//! The CSV readers: `read_csv_from` (labelled data sets) and `read_csv_features_from`
//! (prediction-time feature tables), in `f32` and `f64`, from memory and through a
//! reader that returns a few bytes at a time.
//!
//! Input: byte 0 = flags, byte 1 = a small number, the rest = the CSV file.
//! - flags bit 0: `f64` (else `f32`); bit 1: `read_csv_features_from` (else `read_csv_from`);
//!   bits 2–3: label column (None, `Index(k)`, `Name("label")`, `Name("y")`);
//!   bit 4: read through a small-step reader; bit 5: `n_features = None` for the features
//!   reader (else `Some(k)`).
//! - byte 1: `k` (low 3 bits) and the reader's step (the rest).
//!
//! Contract: a typed error, or a data set that passes `validate`, has only finite
//! features, and reads back to itself after `write_csv_to`.

#![no_main]

use std::io::{BufReader, Cursor};

use libfuzzer_sys::fuzz_target;
use multilogit::Float;
use multilogit::data::csv::write_csv_to;
use multilogit::data::{Dataset, LabelColumn, read_csv_features_from, read_csv_from};
use multilogit_fuzz::{Trickle, assert_finite};

fuzz_target!(|data: &[u8]| {
    let (flags, rest) = multilogit_fuzz::split_options(data);
    let (num, file) = multilogit_fuzz::split_options(rest);
    if flags & 1 == 0 {
        run::<f32>(flags, num, file);
    } else {
        run::<f64>(flags, num, file);
    }
});

fn run<T: Float>(flags: u8, num: u8, file: &[u8]) {
    let k = usize::from(num & 7);
    let label = match (flags >> 2) & 3 {
        0 => None,
        1 => Some(LabelColumn::Index(k)),
        2 => Some(LabelColumn::Name("label".to_string())),
        _ => Some(LabelColumn::Name("y".to_string())),
    };
    let step = usize::from(num >> 3) + 1;
    let trickle = flags & 0x10 != 0;
    if flags & 2 == 0 {
        let r = if trickle {
            read_csv_from::<T, _>(
                BufReader::with_capacity(step, Trickle::new(file, step)),
                "fuzz.csv",
                label.as_ref(),
            )
        } else {
            read_csv_from::<T, _>(Cursor::new(file), "fuzz.csv", label.as_ref())
        };
        if let Ok(ds) = r {
            check_dataset(&ds);
        }
    } else {
        let n_features = if flags & 0x20 != 0 { None } else { Some(k) };
        let r = if trickle {
            read_csv_features_from::<T, _>(
                BufReader::with_capacity(step, Trickle::new(file, step)),
                "fuzz.csv",
                n_features,
                label.as_ref(),
            )
        } else {
            read_csv_features_from::<T, _>(Cursor::new(file), "fuzz.csv", n_features, label.as_ref())
        };
        if let Ok(ft) = r {
            assert_finite(&ft.x, "csv features");
            assert!(ft.x.rows() >= 1, "a feature table with no rows");
            assert_eq!(ft.feature_names.len(), ft.x.cols(), "one name per feature column");
            if let Some(d) = n_features {
                assert_eq!(ft.x.cols(), d, "features as the model has");
            }
            assert_eq!(ft.label_name.is_some(), ft.labels.is_some());
            if let Some(labels) = &ft.labels {
                assert_eq!(labels.len(), ft.x.rows(), "one label per row");
                // Every label maps onto the file's own distinct labels.
                let mut classes = labels.clone();
                classes.sort();
                classes.dedup();
                let idx = ft
                    .label_indices(&classes, "fuzz.csv")
                    .expect("a file's labels map onto its own classes")
                    .expect("labels present");
                assert!(idx.iter().all(|&i| (i as usize) < classes.len()));
            }
        }
    }
}

fn check_dataset<T: Float>(ds: &Dataset<T>) {
    ds.validate().expect("a data set read from CSV is valid");
    assert_finite(&ds.x, "csv features");
    assert!(ds.x.rows() >= 1 && ds.x.cols() >= 1, "empty data set");
    assert!(!ds.classes.is_empty());
    // Round trip: what write_csv_to writes, read_csv_from reads back to the same data.
    let mut out = Vec::new();
    write_csv_to(&mut out, ds).expect("writing a valid data set to memory");
    let back = read_csv_from::<T, _>(Cursor::new(&out), "fuzz.csv", None).unwrap_or_else(|e| {
        panic!(
            "written CSV does not read back: {e}\n--- written ---\n{}",
            String::from_utf8_lossy(&out)
        )
    });
    assert_eq!(back.feature_names, ds.feature_names, "feature names round trip");
    assert_eq!(back.x.shape(), ds.x.shape(), "shape round trip");
    for (k, (a, b)) in back.x.as_slice().iter().zip(ds.x.as_slice()).enumerate() {
        assert!(
            a.to_f64() == b.to_f64(),
            "value {k} round trip: wrote {}, read {}",
            b.to_f64(),
            a.to_f64()
        );
    }
    let names = |d: &Dataset<T>| -> Vec<String> { d.y.iter().map(|&l| d.classes[l as usize].clone()).collect() };
    assert_eq!(names(&back), names(ds), "labels round trip");
}
