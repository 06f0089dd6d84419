//! CSV, LIBSVM and NPY readers and writers: round trips, the shipped data sets, and
//! hostile input (each case must give the right error variant at the right place).
#![cfg(feature = "cli")]

use std::path::PathBuf;

use multilogit::data::csv::{read_csv_features_from, read_csv_from, write_csv_to};
use multilogit::data::libsvm::{MAX_LIBSVM_FEATURES, read_libsvm_from};
use multilogit::data::npy::{
    read_npy_labels_from_bytes, read_npy_matrix_from, read_npy_matrix_from_bytes, write_npy_labels_to,
    write_npy_matrix_to,
};
use multilogit::data::{
    self, Dataset, LabelColumn, builtin, read_csv, read_libsvm, read_npy_dataset, read_npy_labels, read_npy_matrix,
    toy, write_csv, write_libsvm, write_npy_labels, write_npy_matrix,
};
use multilogit::rng::Rng;
use multilogit::{Error, Matrix};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("multilogit-data-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn csv<T: multilogit::Float>(text: &str) -> multilogit::Result<Dataset<T>> {
    read_csv_from(text.as_bytes(), "t.csv", None)
}

/// Asserts a `Parse` error at `location` whose message contains `needle`.
#[track_caller]
fn parse_err<T: std::fmt::Debug>(r: multilogit::Result<T>, location: &str, needle: &str) {
    match r {
        Err(Error::Parse {
            location: l, message, ..
        }) => {
            assert_eq!(l, location, "message: {message}");
            assert!(message.contains(needle), "`{message}` lacks `{needle}`");
        }
        other => panic!("expected Parse at {location}, got {other:?}"),
    }
}

#[track_caller]
fn empty_err<T: std::fmt::Debug>(r: multilogit::Result<T>) {
    assert!(matches!(r, Err(Error::Empty { .. })), "expected Empty, got {r:?}");
}

#[track_caller]
fn too_large<T: std::fmt::Debug>(r: multilogit::Result<T>) {
    assert!(matches!(r, Err(Error::TooLarge { .. })), "expected TooLarge, got {r:?}");
}

// ---------------------------------------------------------------- CSV

#[test]
fn csv_round_trip_f64_and_f32() {
    let ds = toy::blobs(57, 3, 4, 1.5, 9).unwrap();
    let path = tmp("blobs.csv");
    write_csv(&path, &ds).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("f0,f1,f2,f3,label\n"), "{}", &text[..40]);
    let back: Dataset<f64> = read_csv(&path, None).unwrap();
    assert_eq!(back, ds, "exact round trip");
    assert_eq!(back.name, "blobs");

    let f = ds.cast::<f32>().unwrap();
    let mut buf = Vec::new();
    write_csv_to(&mut buf, &f).unwrap();
    let back32: Dataset<f32> = read_csv_from(&buf[..], "blobs.csv", None).unwrap();
    assert_eq!(back32.x, f.x);
    // Extreme magnitudes survive too (exponent form).
    let x = Matrix::from_vec(1, 4, vec![1e-300, -2.5e300, 123456789.125, 5e-324]).unwrap();
    let tiny = Dataset::new(
        x,
        vec![0],
        vec!["a b,\"c\"".into()],
        vec!["x,1".into(), "y".into(), " z".into(), "w".into()],
        "t",
    )
    .unwrap();
    let mut buf = Vec::new();
    write_csv_to(&mut buf, &tiny).unwrap();
    let back: Dataset<f64> = read_csv_from(&buf[..], "t.csv", None).unwrap();
    assert_eq!(back, tiny);
}

#[test]
fn csv_bom_crlf_quotes_blank_lines() {
    let text = "\u{FEFF}a,\"b, c\",label\r\n1,2,x\r\n\r\n  \n 3 , 4.5 ,\"y \"\"q\"\"\"\r\n-1e2,.5,x";
    let ds: Dataset<f64> = csv(text).unwrap();
    assert_eq!(ds.feature_names, vec!["a", "b, c"]);
    assert_eq!(ds.classes, vec!["x", "y \"q\""]);
    assert_eq!(ds.y, vec![0, 1, 0]);
    assert_eq!(ds.x.as_slice(), &[1.0, 2.0, 3.0, 4.5, -100.0, 0.5]);
}

#[test]
fn csv_class_sorting() {
    // All numeric: numeric order, canonical spelling, spellings merged.
    let ds: Dataset<f64> = csv("a,y\n1,10\n2,2\n3,1.0\n4,2.5\n5,1\n6,+2\n").unwrap();
    assert_eq!(ds.classes, vec!["1", "2", "2.5", "10"]);
    assert_eq!(ds.y, vec![3, 1, 0, 2, 0, 1]);
    let ds: Dataset<f64> = csv("a,y\n1,+1\n2,-1\n3,-0\n").unwrap();
    assert_eq!(ds.classes, vec!["-1", "0", "1"]);
    assert_eq!(ds.y, vec![2, 0, 1]);
    // Any non-number: string order (byte-wise), spellings kept.
    let ds: Dataset<f64> = csv("a,y\n1,b\n2,a\n3,B\n4,10\n5,9\n").unwrap();
    assert_eq!(ds.classes, vec!["10", "9", "B", "a", "b"]);
    assert_eq!(ds.y, vec![4, 3, 2, 0, 1]);
    // NaN is not a number label: string order.
    let ds: Dataset<f64> = csv("a,y\n1,NaN\n2,1\n").unwrap();
    assert_eq!(ds.classes, vec!["1", "NaN"]);
}

#[test]
fn csv_label_column_choice() {
    let text = "lab,a,b\nx,1,2\ny,3,4\n";
    let by_name: Dataset<f32> =
        read_csv_from(text.as_bytes(), "t.csv", Some(&LabelColumn::Name("lab".into()))).unwrap();
    let by_idx: Dataset<f32> = read_csv_from(text.as_bytes(), "t.csv", Some(&LabelColumn::Index(0))).unwrap();
    assert_eq!(by_name, by_idx);
    assert_eq!(by_name.feature_names, vec!["a", "b"]);
    assert_eq!(by_name.x.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
    let r = read_csv_from::<f32, _>(text.as_bytes(), "t.csv", Some(&LabelColumn::Name("zz".into())));
    parse_err(r, "line 1 (header)", "no column named `zz`");
    let r = read_csv_from::<f32, _>(text.as_bytes(), "t.csv", Some(&LabelColumn::Index(3)));
    parse_err(r, "line 1 (header)", "out of range");
    let r = read_csv_from::<f32, _>(&b"a,a,b\n1,2,3\n"[..], "t.csv", Some(&LabelColumn::Name("a".into())));
    parse_err(r, "line 1 (header)", "more than one column");
}

#[test]
fn csv_hostile_inputs() {
    empty_err(csv::<f64>(""));
    empty_err(csv::<f64>("\n\n  \r\n"));
    empty_err(csv::<f64>("a,b,label\n"));
    empty_err(csv::<f64>("\u{FEFF}a,b,label\r\n\r\n"));
    parse_err(csv::<f64>("label\nx\n"), "line 1 (header)", "at least 2 columns");
    // Ragged rows: too few and too many fields.
    parse_err(
        csv::<f64>("a,b,label\n1,2,x\n3,y\n"),
        "line 3",
        "expected 3 fields (as in the header), found 2",
    );
    parse_err(csv::<f64>("a,b,label\n1,2,x,9,9\n"), "line 2", "found 5");
    // Line numbers count blank lines and the header.
    parse_err(
        csv::<f64>("a,b,label\n\n1,2,x\n\n1,abc,x\n"),
        "line 5, column 2 (b)",
        "`abc` is not a number",
    );
    parse_err(csv::<f64>("a,b,label\n1,,x\n"), "line 2, column 2 (b)", "empty value");
    parse_err(
        csv::<f64>("a,b,label\nNaN,1,x\n"),
        "line 2, column 1 (a)",
        "not a finite number",
    );
    parse_err(
        csv::<f64>("a,b,label\n1,-inf,x\n"),
        "line 2, column 2 (b)",
        "not a finite number",
    );
    parse_err(
        csv::<f64>("a,b,label\n1,1e400,x\n"),
        "line 2, column 2 (b)",
        "overflows f64",
    );
    parse_err(
        csv::<f32>("a,b,label\n1,1e39,x\n"),
        "line 2, column 2 (b)",
        "overflows f32",
    );
    assert_eq!(csv::<f64>("a,b,label\n1,1e39,x\n").unwrap().x.get(0, 1), 1e39);
    parse_err(
        csv::<f64>("a,b,label\n1,2,\n"),
        "line 2, column 3 (label)",
        "empty label",
    );
    parse_err(
        csv::<f64>("a,b,label\n1,\"2,x\n"),
        "line 2, column 2 (b)",
        "unterminated quoted field",
    );
    parse_err(
        csv::<f64>("a,b,label\n1,\"2\"3,x\n"),
        "line 2, column 2 (b)",
        "after a closing quote",
    );
    parse_err(csv::<f64>("a,\"b,label\n1,2,x\n"), "line 1 (header)", "unterminated");
    // Invalid UTF-8 names the line.
    let r = read_csv_from::<f64, _>(&b"a,label\n1,x\n\xff\xfe,y\n"[..], "t.csv", None);
    parse_err(r, "line 3", "invalid UTF-8");
    // A missing file is an I/O error naming it.
    match read_csv::<f64>(&tmp("does-not-exist.csv"), None) {
        Err(Error::Io { path, .. }) => assert!(path.contains("does-not-exist.csv")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn csv_features_for_prediction() {
    let with = "a,b,label\n1,2,1.0\n3,4,2\n";
    let t = read_csv_features_from::<f64, _>(with.as_bytes(), "p.csv", Some(2), None).unwrap();
    assert_eq!(t.x.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(t.feature_names, vec!["a", "b"]);
    assert_eq!(t.label_name.as_deref(), Some("label"));
    assert_eq!(t.labels, Some(vec!["1.0".to_string(), "2".to_string()]));
    let classes = vec!["1".to_string(), "2".to_string()];
    assert_eq!(t.label_indices(&classes, "p.csv").unwrap(), Some(vec![0, 1]));
    parse_err(
        t.label_indices(&["1".to_string(), "3".to_string()], "p.csv"),
        "data row 1",
        "label `2`",
    );
    // Label column elsewhere, by name.
    let t = read_csv_features_from::<f32, _>(
        &b"y,a,b\nu,1,2\n"[..],
        "p.csv",
        Some(2),
        Some(&LabelColumn::Name("y".into())),
    )
    .unwrap();
    assert_eq!(
        (t.x.as_slice(), t.labels),
        (&[1.0f32, 2.0][..], Some(vec!["u".to_string()]))
    );
    // Features only.
    let t = read_csv_features_from::<f64, _>(&b"a,b\n1,2\n"[..], "p.csv", Some(2), None).unwrap();
    assert_eq!((t.x.shape(), &t.labels, &t.label_name), ((1, 2), &None, &None));
    assert!(t.label_indices(&classes, "p.csv").unwrap().is_none());
    // Wrong widths.
    parse_err(
        read_csv_features_from::<f64, _>(&b"a,b,c,d\n1,2,3,4\n"[..], "p.csv", Some(2), None),
        "line 1 (header)",
        "expected 2 columns",
    );
    parse_err(
        read_csv_features_from::<f64, _>(
            &b"a,label\n1,2\n"[..],
            "p.csv",
            Some(2),
            Some(&LabelColumn::Name("label".into())),
        ),
        "line 1 (header)",
        "named as the label column",
    );
    // No feature count: everything, or everything but the named label.
    let t = read_csv_features_from::<f64, _>(&b"a,b,c\n1,2,3\n"[..], "p.csv", None, None).unwrap();
    assert_eq!(t.x.cols(), 3);
    let t =
        read_csv_features_from::<f64, _>(&b"a,b,c\n1,2,x\n"[..], "p.csv", None, Some(&LabelColumn::Index(2))).unwrap();
    assert_eq!((t.x.cols(), t.labels.unwrap()), (2, vec!["x".to_string()]));
    // Feature values are still checked.
    parse_err(
        read_csv_features_from::<f64, _>(&b"a,b\n1,x\n"[..], "p.csv", Some(2), None),
        "line 2, column 2 (b)",
        "not a number",
    );
}

#[test]
fn shipped_real_data_sets() {
    let iris = builtin::iris().unwrap();
    assert_eq!(iris.x.shape(), (150, 4));
    assert_eq!(iris.classes, vec!["setosa", "versicolor", "virginica"]);
    assert_eq!(iris.class_counts(), vec![50, 50, 50]);
    assert_eq!(iris.x.row(0), &[5.1, 3.5, 1.4, 0.2]);
    assert_eq!(iris.y[0], 0);
    assert_eq!(iris.feature_names[0], "sepal length (cm)");
    let wine = builtin::wine().unwrap();
    assert_eq!(wine.x.shape(), (178, 13));
    assert_eq!(wine.classes, vec!["0", "1", "2"]);
    assert_eq!(wine.class_counts(), vec![59, 71, 48]);
    assert_eq!(wine.x.get(0, 12), 1065.0);
    let bc = builtin::breast_cancer().unwrap();
    assert_eq!(bc.x.shape(), (569, 30));
    assert_eq!(bc.classes, vec!["benign", "malignant"]);
    assert_eq!(bc.class_counts(), vec![357, 212]);
    assert_eq!(bc.x.get(0, 0), 17.99);
    let dg = builtin::digits().unwrap();
    assert_eq!(dg.x.shape(), (1797, 64));
    assert_eq!(dg.n_classes(), 10);
    assert_eq!(dg.classes, (0..10).map(|c| c.to_string()).collect::<Vec<_>>());
    assert!(
        dg.x.as_slice()
            .iter()
            .all(|&v| (0.0..=16.0).contains(&v) && v == v.trunc())
    );
    assert_eq!(dg.class_counts().iter().sum::<usize>(), 1797);
    for &n in data::REAL_NAMES {
        assert_eq!(data::real_by_name(n).unwrap().name, n);
    }
    assert_eq!(data::real_by_name("Breast-Cancer").unwrap().name, "breast_cancer");
    assert!(matches!(
        data::real_by_name("mnist"),
        Err(Error::InvalidHyperparameter { .. })
    ));
}

// ---------------------------------------------------------------- LIBSVM

fn svm<T: multilogit::Float>(text: &str, d: Option<usize>) -> multilogit::Result<Dataset<T>> {
    read_libsvm_from(text.as_bytes(), "t.svm", d)
}

#[test]
fn libsvm_densifies() {
    let text = "1 1:0.5 3:2\n-1 2:1 # a comment\n# only a comment\n\n+1 3:-1.5 qid:4\n1.0 4:1e-3 1:1\n";
    let ds: Dataset<f64> = svm(text, None).unwrap();
    assert_eq!(ds.x.shape(), (4, 4));
    assert_eq!(
        ds.x.as_slice(),
        &[
            0.5, 0.0, 2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.5, 0.0, 1.0, 0.0, 0.0, 1e-3
        ]
    );
    assert_eq!(ds.classes, vec!["-1", "1"]);
    assert_eq!(ds.y, vec![1, 0, 1, 1]);
    assert_eq!(ds.feature_names, vec!["f0", "f1", "f2", "f3"]);
    let wide: Dataset<f32> = svm(text, Some(6)).unwrap();
    assert_eq!(wide.x.shape(), (4, 6));
    let strs: Dataset<f64> = svm("cat 1:1\ndog 2:1\ncat\n", None).unwrap();
    assert_eq!(
        (strs.classes.clone(), strs.y.clone()),
        (vec!["cat".to_string(), "dog".to_string()], vec![0, 1, 0])
    );
    assert_eq!(strs.x.row(2), &[0.0, 0.0]);
}

#[test]
fn libsvm_round_trip() {
    let mut ds = toy::blobs(40, 3, 5, 1.0, 2).unwrap();
    ds.x.as_mut_slice()[7] = 0.0; // a zero, omitted in the file
    let path = tmp("blobs.svm");
    write_libsvm(&path, &ds).unwrap();
    let back: Dataset<f64> = read_libsvm(&path, Some(5)).unwrap();
    assert_eq!(back.x, ds.x);
    assert_eq!(back.y, ds.y);
    assert_eq!(back.classes, ds.classes);
    assert_eq!(back.name, "blobs");
    let mut bad = ds.clone();
    bad.classes[0] = "two words".into();
    parse_err(write_libsvm(&tmp("bad.svm"), &bad), "class 0", "cannot be written");
}

#[test]
fn libsvm_hostile_inputs() {
    parse_err(svm::<f64>("1 0:1\n", None), "line 1, field 2", "index 0");
    parse_err(
        svm::<f64>("1 1:1\n2 2:1 5:1 2:3\n", None),
        "line 2",
        "feature index 2 appears more than once",
    );
    parse_err(
        svm::<f64>("1 1:1\n2 abc\n", None),
        "line 2, field 2",
        "expected `index:value`",
    );
    parse_err(svm::<f64>("1 x:1\n", None), "line 1, field 2", "not a positive integer");
    parse_err(
        svm::<f64>("1 -3:1\n", None),
        "line 1, field 2",
        "not a positive integer",
    );
    parse_err(svm::<f64>("1 1:nan\n", None), "line 1, field 2", "not a finite number");
    parse_err(svm::<f32>("1 2:1 3:1e39\n", None), "line 1, field 3", "overflows f32");
    parse_err(svm::<f64>("1 1:\n", None), "line 1, field 2", "empty value");
    parse_err(
        svm::<f64>("1 7:1\n", Some(5)),
        "line 1, field 2",
        "exceeds the number of features 5",
    );
    parse_err(
        read_libsvm_from::<f64, _>(&b"1 1:1\n\xc3\x28 1:1\n"[..], "t.svm", None),
        "line 2",
        "invalid UTF-8",
    );
    too_large(svm::<f64>(&format!("1 {}:1\n", MAX_LIBSVM_FEATURES + 1), None));
    too_large(svm::<f64>("1 99999999999999999999999999:1\n", None));
    too_large(svm::<f64>("1 1:1\n", Some(usize::MAX)));
    // A 30 kB file describing a 2000 × 10^7 dense matrix.
    let bomb = format!("1 {MAX_LIBSVM_FEATURES}:1\n").repeat(2000);
    too_large(svm::<f64>(&bomb, None));
    empty_err(svm::<f64>("", None));
    empty_err(svm::<f64>("# nothing\n\n", None));
    empty_err(svm::<f64>("1\n2\n", None));
}

// ---------------------------------------------------------------- NPY

/// A version-1.0 `.npy` file with the given header fields and raw data.
fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}\n",
        if fortran { "True" } else { "False" }
    );
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend_from_slice(data);
    out
}

fn f64s(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn npy_round_trips() {
    let x = Matrix::from_vec(3, 2, vec![1.5f64, -2.0, 1e-300, 4.0, 5.0, f64::MAX]).unwrap();
    let p = tmp("x64.npy");
    write_npy_matrix(&p, &x).unwrap();
    assert_eq!(read_npy_matrix::<f64>(&p).unwrap(), x);
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    assert!(
        String::from_utf8_lossy(&bytes[10..128]).contains("'descr': '<f8', 'fortran_order': False, 'shape': (3, 2)")
    );
    // f64::MAX does not fit f32.
    parse_err(read_npy_matrix::<f32>(&p), "row 2, column 1", "overflows f32");

    let x32 = Matrix::from_vec(2, 2, vec![0.1f32, 2.0, -3.0, 1e30]).unwrap();
    let mut buf = Vec::new();
    write_npy_matrix_to(&mut buf, &x32).unwrap();
    assert_eq!(read_npy_matrix_from_bytes::<f32>(&buf, "b").unwrap(), x32);
    let as64 = read_npy_matrix_from_bytes::<f64>(&buf, "b").unwrap();
    assert_eq!(as64.get(0, 0), f64::from(0.1f32));
    assert_eq!(read_npy_matrix_from::<f32, _>(&buf[..], "r").unwrap(), x32);

    let y = vec![3u32, 0, 7, u32::MAX];
    let p = tmp("y.npy");
    write_npy_labels(&p, &y).unwrap();
    assert_eq!(read_npy_labels(&p).unwrap(), vec![3, 0, 7, i64::from(u32::MAX)]);
    let mut buf = Vec::new();
    write_npy_labels_to(&mut buf, &y).unwrap();
    assert_eq!(buf.len() % 64, 32, "64-byte aligned header + 4 × 8 bytes");
}

#[test]
fn npy_dataset_from_two_files() {
    let x = Matrix::from_vec(4, 1, vec![1.0f64, 2.0, 3.0, 4.0]).unwrap();
    let (px, py) = (tmp("dx.npy"), tmp("dy.npy"));
    write_npy_matrix(&px, &x).unwrap();
    std::fs::write(
        &py,
        npy("<i4", false, "(4,)", &[5, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 9, 0, 0, 0]),
    )
    .unwrap();
    let ds: Dataset<f32> = read_npy_dataset(&px, &py).unwrap();
    assert_eq!(ds.classes, vec!["2", "5", "9"]);
    assert_eq!(ds.y, vec![1, 0, 1, 2]);
    assert_eq!(ds.name, "dx");
    std::fs::write(&py, npy("<i4", false, "(3,)", &[0; 12])).unwrap();
    assert!(matches!(
        read_npy_dataset::<f64>(&px, &py),
        Err(Error::ShapeMismatch { .. })
    ));
}

#[test]
fn npy_label_dtypes() {
    let l = |b: &[u8]| read_npy_labels_from_bytes(b, "y.npy");
    assert_eq!(
        l(&npy(
            "<i4",
            false,
            "(3,)",
            &[3, 0, 0, 0, 255, 255, 255, 255, 7, 0, 0, 0]
        ))
        .unwrap(),
        vec![3, -1, 7]
    );
    assert_eq!(l(&npy("|u1", false, "(2,)", &[255, 1])).unwrap(), vec![255, 1]);
    assert_eq!(l(&npy("|i1", false, "(2,)", &[255, 1])).unwrap(), vec![-1, 1]);
    assert_eq!(l(&npy("<i2", false, "(1,)", &[0x00, 0x80])).unwrap(), vec![-32768]);
    assert_eq!(l(&npy("<u2", false, "(1,)", &[0x00, 0x80])).unwrap(), vec![32768]);
    assert_eq!(
        l(&npy("<u4", false, "(3, 1)", &[1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0])).unwrap(),
        vec![1, 2, 3]
    );
    assert_eq!(
        l(&npy("<i8", false, "(1,)", &i64::MIN.to_le_bytes())).unwrap(),
        vec![i64::MIN]
    );
    parse_err(
        l(&npy("<u8", false, "(1,)", &u64::MAX.to_le_bytes())),
        "element 0",
        "above i64::MAX",
    );
    parse_err(l(&npy("<f8", false, "(1,)", &f64s(&[1.0]))), "header", "'<f8'");
    parse_err(l(&npy(">i4", false, "(1,)", &[0; 4])), "header", "big-endian");
    parse_err(l(&npy("<i4", false, "(2, 2)", &[0; 16])), "header", "1-D");
    empty_err(l(&npy("<i4", false, "(0,)", &[])));
}

#[test]
fn npy_versions_2_and_3() {
    for (major, descr) in [(2u8, "<f8"), (3, "<f8")] {
        let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (1, 2), }}\n");
        let mut b = vec![0x93, b'N', b'U', b'M', b'P', b'Y', major, 0];
        b.extend_from_slice(&(dict.len() as u32).to_le_bytes());
        b.extend_from_slice(dict.as_bytes());
        b.extend_from_slice(&f64s(&[1.0, 2.0]));
        assert_eq!(
            read_npy_matrix_from_bytes::<f64>(&b, "v").unwrap().as_slice(),
            &[1.0, 2.0]
        );
    }
    // Key order and spacing are free; Python 2 `L` suffixes are accepted.
    let b = npy("<f8", false, "(1L, 1L)", &f64s(&[7.0]));
    assert_eq!(read_npy_matrix_from_bytes::<f64>(&b, "v").unwrap().as_slice(), &[7.0]);
    let dict = "{\"shape\":(1,1),\"fortran_order\":False,\"descr\":\"<f8\"}\n";
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    b.extend_from_slice(dict.as_bytes());
    b.extend_from_slice(&f64s(&[8.0]));
    assert_eq!(read_npy_matrix_from_bytes::<f64>(&b, "v").unwrap().as_slice(), &[8.0]);
}

#[test]
fn npy_hostile_inputs() {
    let m = |b: &[u8]| read_npy_matrix_from_bytes::<f64>(b, "x.npy");
    // A header claiming 10^12 rows over 32 bytes of data: an error, without allocating
    // the 32 TB (the test would abort if it tried), both from bytes and from a reader.
    let bomb = npy("<f8", false, "(1000000000000, 4)", &f64s(&[1.0; 4]));
    parse_err(m(&bomb), "data", "truncated");
    parse_err(read_npy_matrix_from::<f64, _>(&bomb[..], "x.npy"), "data", "truncated");
    let p = tmp("bomb.npy");
    std::fs::write(&p, &bomb).unwrap();
    parse_err(read_npy_matrix::<f64>(&p), "data", "truncated");
    // Sizes that overflow.
    too_large(m(&npy("<f8", false, "(100000000000000000000, 4)", &[])));
    too_large(m(&npy("<f8", false, "(4294967296, 4294967296)", &[])));
    too_large(m(&npy("<f8", false, "(2305843009213693952, 1)", &[])));
    // Layout and dtype.
    parse_err(m(&npy("<f8", true, "(2, 2)", &f64s(&[0.0; 4]))), "header", "Fortran");
    parse_err(m(&npy("<i4", false, "(1, 1)", &[0; 4])), "header", "'<i4'");
    parse_err(
        m(&npy(">f8", false, "(1, 1)", &[0; 8])),
        "header",
        "big-endian dtype '>f8'",
    );
    parse_err(m(&npy("<c16", false, "(1, 1)", &[0; 16])), "header", "'<c16'");
    parse_err(m(&npy("<f8", false, "(4,)", &f64s(&[0.0; 4]))), "header", "2-D");
    parse_err(m(&npy("<f8", false, "[2, 2]", &f64s(&[0.0; 4]))), "header", "tuple");
    parse_err(m(&npy("<f8", false, "(2, -2)", &[])), "header", "unexpected character");
    parse_err(
        m(&npy("<f8", false, "(2, 'a')", &[])),
        "dimension 1",
        "non-negative integers",
    );
    empty_err(m(&npy("<f8", false, "(0, 3)", &[])));
    // Truncated and over-long data.
    parse_err(m(&npy("<f8", false, "(2, 2)", &f64s(&[0.0; 3]))), "data", "truncated");
    parse_err(
        m(&npy("<f8", false, "(1, 2)", &f64s(&[0.0; 3]))),
        "data",
        "unexpected bytes",
    );
    parse_err(
        read_npy_matrix_from::<f64, _>(&npy("<f8", false, "(1, 2)", &f64s(&[0.0; 3]))[..], "x.npy"),
        "data",
        "unexpected bytes",
    );
    // Non-finite values named by place.
    parse_err(
        m(&npy("<f8", false, "(2, 2)", &f64s(&[0.0, 1.0, f64::NAN, 2.0]))),
        "row 1, column 0",
        "non-finite",
    );
    parse_err(
        m(&npy(
            "<f4",
            false,
            "(1, 3)",
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x7f],
        )),
        "row 0, column 2",
        "non-finite",
    );
    // Broken headers.
    parse_err(m(b"\x93NUMPZ\x01\x00\x00\x00"), "header", "bad magic");
    parse_err(m(b"\x93NUM"), "header", "truncated");
    parse_err(m(b"\x93NUMPY\x01\x00\xff\x00{'descr'"), "header", "truncated");
    parse_err(m(b"\x93NUMPY\x09\x00\x00\x00"), "header", "version 9.0");
    parse_err(m(&npy("<f8", false, "(1, 1", &[0; 8])), "header", "expected");
    too_large(m(b"\x93NUMPY\x02\x00\xff\xff\xff\xff"));
    let mut no_shape = b"\x93NUMPY\x01\x00".to_vec();
    let dict = "{'descr': '<f8', 'fortran_order': False}\n";
    no_shape.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    no_shape.extend_from_slice(dict.as_bytes());
    parse_err(m(&no_shape), "header", "missing key 'shape'");
    let mut deep = b"\x93NUMPY\x01\x00".to_vec();
    let dict = format!("{{'descr': {}'<f8'{}}}", "(".repeat(200), ")".repeat(200));
    deep.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    deep.extend_from_slice(dict.as_bytes());
    parse_err(m(&deep), "header", "nested too deeply");
}

// ---------------------------------------------------------------- fuzz smoke test

/// Mutated valid files must give `Ok` or `Err`, never a panic or a huge allocation.
#[test]
fn readers_survive_random_corruption() {
    let ds = toy::blobs(20, 3, 3, 1.0, 1).unwrap();
    let mut csv_bytes = Vec::new();
    write_csv_to(&mut csv_bytes, &ds).unwrap();
    let svm_text: String =
        ds.x.iter_rows()
            .zip(&ds.y)
            .map(|(r, l)| format!("{l} 1:{} 2:{} 3:{}\n", r[0], r[1], r[2]))
            .collect();
    let mut npy_bytes = Vec::new();
    write_npy_matrix_to(&mut npy_bytes, &ds.x).unwrap();
    let mut lab_bytes = Vec::new();
    write_npy_labels_to(&mut lab_bytes, &ds.y).unwrap();
    let svm_bytes = svm_text.into_bytes();
    let mut rng = Rng::new(99);
    let specials = [
        b'"', b',', b'\n', b'\r', b':', b'#', b'(', b')', b'\'', 0xff, b'9', b'0', b' ', b'-', b'e',
    ];
    for _ in 0..3000 {
        for (kind, base) in [(0, &csv_bytes), (1, &svm_bytes), (2, &npy_bytes), (3, &lab_bytes)] {
            let mut b = base.clone();
            let edits = 1 + rng.below(4) as usize;
            for _ in 0..edits {
                let at = rng.below(b.len() as u64) as usize;
                match rng.below(4) {
                    0 => b[at] = specials[rng.below(specials.len() as u64) as usize],
                    1 => b[at] = rng.below(256) as u8,
                    2 => b.truncate(at),
                    _ => b.insert(at, specials[rng.below(specials.len() as u64) as usize]),
                }
                if b.is_empty() {
                    break;
                }
            }
            match kind {
                0 => {
                    let _ = read_csv_from::<f32, _>(&b[..], "f.csv", None);
                    let _ = read_csv_features_from::<f64, _>(&b[..], "f.csv", Some(3), None);
                }
                1 => {
                    let _ = read_libsvm_from::<f64, _>(&b[..], "f.svm", None);
                }
                2 => {
                    let _ = read_npy_matrix_from_bytes::<f32>(&b, "f.npy");
                    let _ = read_npy_matrix_from::<f64, _>(&b[..], "f.npy");
                }
                _ => {
                    let _ = read_npy_labels_from_bytes(&b, "f.npy");
                }
            }
        }
    }
}
