//! The command line: argument definitions (clap derive), error reporting and dispatch.
//!
//! Every failure is reported as one line `error: ...` on stderr with exit code 2
//! (usage errors included); a panic, which no user input should cause, is reported as
//! one line with exit code 101.

mod data;
mod eval;
mod generate;
mod predict;
mod train;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit code for bad input, bad usage and failed commands.
pub const EXIT_FAILURE: u8 = 2;
/// Exit code of the last-resort panic hook.
pub const EXIT_PANIC: i32 = 101;

/// Fast multinomial logistic regression (softmax regression).
#[derive(Debug, Parser)]
#[command(name = "multilogit", version, about, long_about = None)]
pub struct Cli {
    /// No progress bar and no summary: only results (predictions, evaluations) and errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model on a CSV, LIBSVM or NPY file and save it as JSON.
    Train(TrainArgs),
    /// Predict the class (or the class probabilities) of every row of a file.
    Predict(PredictArgs),
    /// Accuracy, mean log loss and confusion matrix of a model on a labelled file.
    Eval(EvalArgs),
    /// Write a seeded toy data set (blobs, moons, circles, xor, spirals, gaussians).
    Generate(GenerateArgs),
    /// Run the seed's experiment on toy and real data sets: table, pictures, report.
    Experiment(multilogit::experiment::ExperimentArgs),
    /// Time training epochs against this machine's measured floor.
    Bench(multilogit::bench::BenchArgs),
}

/// A data file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header row (`.csv`).
    Csv,
    /// Sparse text `label index:value ...`, 1-based indices (`.libsvm`, `.svm`, `.txt`).
    Libsvm,
    /// NumPy array: 2-D C-order float32/float64 features (`.npy`); labels in a second file.
    Npy,
}

/// The precision to train in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    /// Single precision (faster).
    F32,
    /// Double precision.
    F64,
}

/// Where a data file is and how to read it.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// The data file: .csv, .libsvm/.svm/.txt or .npy (see --format).
    #[arg(long, value_name = "PATH")]
    pub data: PathBuf,
    /// Labels for NPY features: a 1-D integer .npy file [default: the sibling
    /// STEM.labels.npy of --data, when it exists].
    #[arg(long, value_name = "PATH")]
    pub labels: Option<PathBuf>,
    /// The CSV label column, by header name or 0-based index [default: the last column;
    /// at predict/eval time the training label column's name when the file has it].
    #[arg(long, value_name = "NAME|INDEX")]
    pub label_column: Option<String>,
    /// The file format [default: from the extension].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// `multilogit train`.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// The training data.
    #[command(flatten)]
    pub data: DataArgs,
    /// Standardise features (mean 0, variance 1), fitted on the training rows only and
    /// stored in the model.
    #[arg(long, alias = "standardise")]
    pub standardize: bool,
    /// Number of epochs (passes over the training rows).
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    /// Learning rate (> 0).
    #[arg(long, alias = "learning-rate", default_value_t = 0.1, allow_negative_numbers = true)]
    pub lr: f64,
    /// Rows per step (mini-batch SGD, shuffled with --seed) [default: the full batch].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Stop when the loss improves by less than this from one epoch to the next.
    #[arg(long, allow_negative_numbers = true)]
    pub tol: Option<f64>,
    /// Seed of the mini-batch shuffle and of the train/test split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads [default: all cores]. The model does not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// The precision to train and predict in.
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: PrecisionArg,
    /// Hold out this fraction of the rows (stratified, seeded) and report test accuracy.
    #[arg(long, allow_negative_numbers = true)]
    pub test_fraction: Option<f64>,
    /// Where to write the model (JSON, written atomically).
    #[arg(long, value_name = "MODEL.json")]
    pub out: PathBuf,
}

/// `multilogit predict`.
#[derive(Debug, Clone, Args)]
pub struct PredictArgs {
    /// The model file.
    #[arg(long, value_name = "MODEL.json")]
    pub model: PathBuf,
    /// The rows to classify (a CSV file may keep its label column; it is ignored).
    #[command(flatten)]
    pub data: DataArgs,
    /// Print T comma-separated class probabilities per row, after a header of class names.
    #[arg(long)]
    pub proba: bool,
    /// Write to this file (atomically) instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

/// `multilogit eval`.
#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// The model file.
    #[arg(long, value_name = "MODEL.json")]
    pub model: PathBuf,
    /// The labelled rows to evaluate on.
    #[command(flatten)]
    pub data: DataArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `multilogit generate`.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// The toy data set: blobs, moons, circles, xor, spirals or gaussians.
    #[arg(long, value_name = "NAME")]
    pub dataset: String,
    /// Number of rows.
    #[arg(long)]
    pub n: usize,
    /// Noise level (its meaning and default depend on the data set).
    #[arg(long)]
    pub noise: Option<f64>,
    /// Number of classes (blobs, spirals, gaussians).
    #[arg(long)]
    pub classes: Option<usize>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file: .csv, .libsvm/.svm/.txt, or .npy (features; the labels go to the
    /// sibling STEM.labels.npy as int64).
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// The output format [default: from the extension].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// A command's failure: printed as one line after `error: `.
#[derive(Debug)]
pub struct CliError(pub String);

impl From<multilogit::Error> for CliError {
    fn from(e: multilogit::Error) -> Self {
        CliError(e.to_string())
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `Result` of a command.
pub type CliResult<T = ()> = std::result::Result<T, CliError>;

/// A usage error.
pub fn usage(msg: impl Into<String>) -> CliError {
    CliError(msg.into())
}

/// `s` on one line: line breaks and other control characters become spaces.
pub fn one_line(s: &str) -> String {
    let mut out: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    out.truncate(out.trim_end().len());
    out
}

/// Prints `error: MSG` (one line) on stderr.
fn report(msg: &str) {
    let msg = one_line(msg);
    let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
    let _ = writeln!(std::io::stderr().lock(), "error: {msg}");
}

/// Installs a panic hook that prints one line and exits with code 101: no backtrace
/// ever reaches the user.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        report(&format!(
            "internal error (a bug in multilogit; please report it): {msg}{place}"
        ));
        std::process::exit(EXIT_PANIC);
    }));
}

/// Parses the command line, runs the command and turns its outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
                _ => {
                    let text = e.to_string();
                    let first = text
                        .lines()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("invalid arguments");
                    report(&format!("{first} (see `multilogit --help`)"));
                    return ExitCode::from(EXIT_FAILURE);
                }
            }
        }
    };
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e.0);
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Runs a parsed command.
pub fn run(cli: &Cli) -> CliResult {
    match &cli.command {
        Command::Train(a) => train::run(a, cli.quiet),
        Command::Predict(a) => predict::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Generate(a) => generate::run(a, cli.quiet),
        Command::Experiment(a) => Ok(multilogit::experiment::run(a)?),
        Command::Bench(a) => Ok(multilogit::bench::run(a)?),
    }
}

/// Writes `bytes` to `out` atomically, or to stdout (a closed pipe is not an error).
pub fn write_output(out: Option<&std::path::Path>, bytes: &[u8]) -> CliResult {
    match out {
        Some(path) => Ok(multilogit::io::write_atomic(path, bytes)?),
        None => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(CliError(format!("<stdout>: {e}"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_definitions_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn messages_are_one_line() {
        assert_eq!(one_line("a\nb\r\n"), "a b");
    }
}
