//! `multilogit train`.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use multilogit::data::{self, Scaler};
use multilogit::io::{ModelFloat, TrainedModel, TrainingInfo};
use multilogit::{Error, LogisticClassifierMultinomial};

use super::data::read_labelled;
use super::{CliError, CliResult, PrecisionArg, TrainArgs, usage};

/// Trains in the precision asked for, in a pool of `--threads` threads if given.
pub fn run(args: &TrainArgs, quiet: bool) -> CliResult {
    // Check the hyperparameters before reading any data.
    let probe = LogisticClassifierMultinomial::<f64>::new()
        .learning_rate(args.lr)
        .epochs(args.epochs)
        .batch_size(args.batch_size)
        .seed(args.seed)
        .tol(args.tol);
    probe.config()?;
    if let Some(f) = args.test_fraction
        && !(f > 0.0 && f < 1.0)
    {
        return Err(usage(format!("--test-fraction {f}: must be strictly between 0 and 1")));
    }
    let go = || match args.precision {
        PrecisionArg::F32 => train::<f32>(args, quiet),
        PrecisionArg::F64 => train::<f64>(args, quiet),
    };
    match args.threads {
        None => go(),
        Some(0) => Err(usage("--threads 0: must be at least 1")),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| CliError(format!("cannot start {n} threads: {e}")))?;
            pool.install(go)
        }
    }
}

fn progress_bar(epochs: usize, quiet: bool) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = ProgressBar::with_draw_target(Some(epochs as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("epoch {pos:>5}/{len} [{bar:30}] {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    pb.set_style(style);
    Some(pb)
}

fn train<T: ModelFloat>(args: &TrainArgs, quiet: bool) -> CliResult {
    let start = Instant::now();
    let loaded = read_labelled::<T>(&args.data)?;
    let ds = loaded.ds;
    let (mut train_ds, mut test_ds) = match args.test_fraction {
        Some(f) => {
            let (a, b) = data::train_test_split(&ds, f, args.seed)?;
            (a, Some(b))
        }
        None => (ds, None),
    };
    let scaler = if args.standardize {
        let s = Scaler::fit(&train_ds.x)?;
        s.transform_in_place(&mut train_ds.x)?;
        if let Some(t) = test_ds.as_mut() {
            s.transform_in_place(&mut t.x)?;
        }
        Some(s)
    } else {
        None
    };
    let mut model = LogisticClassifierMultinomial::<T>::new()
        .learning_rate(args.lr)
        .epochs(args.epochs)
        .batch_size(args.batch_size)
        .seed(args.seed)
        .tol(args.tol)
        .n_classes(train_ds.n_classes());
    let pb = progress_bar(args.epochs, quiet);
    let fitted = model.fit_with_callback(&train_ds.x, &train_ds.y, &mut |epoch, loss| {
        if let Some(pb) = &pb {
            pb.set_position(epoch as u64);
            pb.set_message(format!("loss {loss:.6}"));
        }
    });
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let report = match fitted {
        Ok(r) => r,
        Err(e @ Error::Diverged { .. }) => {
            return Err(CliError(format!("{e}; no model was written to {}", args.out.display())));
        }
        Err(e) => return Err(e.into()),
    };
    let train_acc = model.score(&train_ds.x, &train_ds.y)?;
    let test_acc = match &test_ds {
        Some(t) => Some(model.score(&t.x, &t.y)?),
        None => None,
    };
    let training = TrainingInfo {
        learning_rate: args.lr,
        epochs: args.epochs,
        batch_size: args.batch_size,
        seed: args.seed,
        tol: args.tol,
        final_loss: report.final_loss(),
        epochs_run: report.epochs_run,
        stopped_by_tol: report.stopped_by_tol,
        kernel: report.kernel.to_string(),
        n_train: train_ds.n_samples(),
        train_accuracy: Some(train_acc),
        test_fraction: args.test_fraction,
        n_test: test_ds.as_ref().map(|t| t.n_samples()),
        test_accuracy: test_acc,
        label_column: loaded.label_name,
        feature_names: train_ds.feature_names.clone(),
    };
    let (n, d, t) = (train_ds.n_samples(), train_ds.n_features(), train_ds.n_classes());
    let trained = TrainedModel::new(model, train_ds.classes, scaler, Some(training))?;
    trained.save(&args.out)?;
    if !quiet {
        let batch = args
            .batch_size
            .map_or_else(|| "full batch".to_string(), |b| format!("batch {b}"));
        println!(
            "trained on {n} rows × {d} features, {t} classes ({}, lr {}, {batch}, {} of {} epochs{})",
            T::NAME,
            short_num(args.lr),
            report.epochs_run,
            args.epochs,
            if report.stopped_by_tol {
                ", stopped by --tol"
            } else {
                ""
            }
        );
        print!(
            "final loss {:.6}   train accuracy {:.4}",
            report.final_loss(),
            train_acc
        );
        match (test_acc, &test_ds) {
            (Some(a), Some(ts)) => println!("   test accuracy {a:.4} ({} rows)", ts.n_samples()),
            _ => println!(),
        }
        println!(
            "wall time {:.3} s (fit {:.3} s)   kernel {}   threads {}",
            start.elapsed().as_secs_f64(),
            report.wall_time.as_secs_f64(),
            report.kernel,
            rayon::current_num_threads()
        );
        println!("model written to {}", args.out.display());
    }
    Ok(())
}

/// `v` in plain notation when it is short, in exponent notation otherwise.
fn short_num(v: f64) -> String {
    let plain = format!("{v}");
    if plain.len() <= 10 { plain } else { format!("{v:e}") }
}
