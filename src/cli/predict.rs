//! `multilogit predict`.

use std::fmt::Write as _;

use multilogit::io::{AnyModel, ModelFloat, TrainedModel};

use super::data::read_features;
use super::{CliResult, PredictArgs, write_output};

/// Loads the model and writes one class name per row, or the class probabilities.
pub fn run(args: &PredictArgs) -> CliResult {
    match AnyModel::load(&args.model)? {
        AnyModel::F32(m) => predict(args, &m),
        AnyModel::F64(m) => predict(args, &m),
    }
}

/// `s` as a CSV field (quoted when it holds a comma, a quote or surrounding spaces).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.trim() != s {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn predict<T: ModelFloat>(args: &PredictArgs, model: &TrainedModel<T>) -> CliResult {
    let feats = read_features(&args.data, model, false)?;
    let mut out = String::new();
    if args.proba {
        let p = model.predict_proba(&feats.x)?;
        let header: Vec<String> = model.classes.iter().map(|c| csv_field(c)).collect();
        out.push_str(&header.join(","));
        out.push('\n');
        for row in p.iter_rows() {
            for (k, v) in row.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{v}");
            }
            out.push('\n');
        }
    } else {
        for name in model.predict_names(&feats.x)? {
            out.push_str(name);
            out.push('\n');
        }
    }
    write_output(args.out.as_deref(), out.as_bytes())
}
