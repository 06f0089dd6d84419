//! `multilogit eval`.

use std::fmt::Write as _;

use multilogit::Error;
use multilogit::io::{AnyModel, ModelFloat, TrainedModel};

use super::data::read_features;
use super::{CliResult, EvalArgs, write_output};

/// Loads the model and prints accuracy, mean log loss and the confusion matrix.
pub fn run(args: &EvalArgs) -> CliResult {
    match AnyModel::load(&args.model)? {
        AnyModel::F32(m) => eval(args, &m),
        AnyModel::F64(m) => eval(args, &m),
    }
}

/// What `eval` measures.
#[derive(Debug, serde::Serialize)]
struct Evaluation<'a> {
    n_samples: usize,
    accuracy: f64,
    log_loss: f64,
    classes: &'a [String],
    /// Rows: true class; columns: predicted class.
    confusion_matrix: Vec<Vec<u64>>,
}

fn eval<T: ModelFloat>(args: &EvalArgs, model: &TrainedModel<T>) -> CliResult {
    let feats = read_features(&args.data, model, true)?;
    let Some(y) = feats.y else {
        return Err(Error::Parse {
            path: args.data.data.display().to_string(),
            location: "labels".to_string(),
            message: format!(
                "no labels to evaluate against: the file has only the model's {} feature columns \
                 (NPY: pass --labels)",
                model.n_features()
            ),
        }
        .into());
    };
    let x = model.prepare(&feats.x)?;
    let pred = model.model.predict(x.as_ref())?;
    let log_loss = model.model.loss(x.as_ref(), &y)?;
    let t = model.n_classes();
    let mut cm = vec![vec![0u64; t]; t];
    let mut hits = 0usize;
    for (&truth, &p) in y.iter().zip(&pred) {
        cm[truth as usize][p as usize] += 1;
        hits += usize::from(truth == p);
    }
    let ev = Evaluation {
        n_samples: y.len(),
        accuracy: hits as f64 / y.len() as f64,
        log_loss,
        classes: &model.classes,
        confusion_matrix: cm,
    };
    let text = if args.json {
        let mut s =
            serde_json::to_string(&ev).map_err(|e| super::CliError(format!("cannot format the result: {e}")))?;
        s.push('\n');
        s
    } else {
        table(&ev, hits)
    };
    write_output(None, text.as_bytes())
}

/// The human-readable report.
fn table(ev: &Evaluation<'_>, hits: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "samples   {}", ev.n_samples);
    let _ = writeln!(s, "accuracy  {:.4} ({hits}/{})", ev.accuracy, ev.n_samples);
    let _ = writeln!(s, "log loss  {:.6}", ev.log_loss);
    let _ = writeln!(s, "confusion matrix (rows: true class, columns: predicted class)");
    let name_w = ev.classes.iter().map(|c| c.chars().count()).max().unwrap_or(0).max(4);
    let cell_w = ev
        .classes
        .iter()
        .map(|c| c.chars().count())
        .chain(ev.confusion_matrix.iter().flatten().map(|v| v.to_string().len()))
        .max()
        .unwrap_or(1);
    let _ = write!(s, "{:name_w$}", "");
    for c in ev.classes {
        let _ = write!(s, "  {c:>cell_w$}");
    }
    s.push('\n');
    for (c, row) in ev.classes.iter().zip(&ev.confusion_matrix) {
        let _ = write!(s, "{c:<name_w$}");
        for v in row {
            let _ = write!(s, "  {v:>cell_w$}");
        }
        s.push('\n');
    }
    s
}
