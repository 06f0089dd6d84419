//! The model-file loader `io::AnyModel::from_json`, then prediction with what it loaded.
//!
//! Input: byte 0 = options, the rest = the model file (JSON).
//! - bit 0: repair the checksum before loading. The file is parsed as a `SavedModel` of
//!   its precision, its `checksum` field replaced by the true checksum, and the document
//!   written back; this lets the fuzzer reach what lies behind the checksum (shapes,
//!   scalers, extreme weights, prediction) instead of stopping at the mismatch.
//!
//! Contract: a typed error (`InvalidModel` for any bad file), or a model that saves back
//! to a file which loads to the same model, and whose `predict_proba` on small finite
//! matrices is a typed error or valid probabilities.

#![no_main]

use libfuzzer_sys::fuzz_target;
use multilogit::Matrix;
use multilogit::io::{AnyModel, ModelFloat, SavedModel, TrainedModel, checksum};
use multilogit_fuzz::assert_proba;

fuzz_target!(|data: &[u8]| {
    let (opts, file) = multilogit_fuzz::split_options(data);
    let repaired;
    let file = if opts & 1 != 0 {
        match repair(file) {
            Some(r) => {
                repaired = r;
                &repaired[..]
            }
            None => file,
        }
    } else {
        file
    };
    let Ok(any) = AnyModel::from_json(file, "fuzz.json") else {
        return;
    };
    assert!(any.n_features() >= 1, "a model with no features");
    assert!(!any.classes().is_empty(), "a model with no classes");
    // Save and load back: the same document.
    let text = any.to_json().expect("a loaded model saves");
    let again = AnyModel::from_json(text.as_bytes(), "saved.json")
        .unwrap_or_else(|e| panic!("a saved model does not load back: {e}\n{text}"));
    assert_eq!(again.to_json().expect("saves again"), text, "save/load round trip");
    match &any {
        AnyModel::F32(m) => predict(m),
        AnyModel::F64(m) => predict(m),
    }
});

/// The document with its checksum replaced by the true one (`None` if it does not parse
/// as a model document).
fn repair(file: &[u8]) -> Option<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(file).ok()?;
    match v.get("precision")?.as_str()? {
        "f32" => fix::<f32>(file),
        "f64" => fix::<f64>(file),
        _ => None,
    }
}

fn fix<T: ModelFloat>(file: &[u8]) -> Option<Vec<u8>> {
    let mut s: SavedModel<T> = serde_json::from_slice(file).ok()?;
    s.checksum = checksum(&s);
    serde_json::to_vec(&s).ok()
}

fn predict<T: ModelFloat>(m: &TrainedModel<T>) {
    let d = m.n_features();
    let t = m.n_classes();
    // Rows: zeros, ones, a mix of signs and magnitudes.
    let pattern = [0.0, 1.0, -2.5, 3.0, -1.0, 0.5];
    let mut values = Vec::new();
    for r in 0..3 {
        for j in 0..d {
            values.push(T::from_f64(if r == 0 { 0.0 } else { pattern[(r + j) % pattern.len()] }));
        }
    }
    let x = Matrix::from_vec(3, d, values).expect("3×d");
    if let Ok(p) = m.predict_proba(&x) {
        assert_proba(&p, 3, t, "loaded model predict_proba");
        let classes = m.predict(&x).expect("predict after predict_proba");
        assert!(classes.iter().all(|&k| (k as usize) < t));
    }
}
