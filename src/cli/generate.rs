//! `multilogit generate`.

use multilogit::data;
use multilogit::io::write_atomic_with;

use super::data::{format_of, labels_sibling};
use super::{CliResult, Format, GenerateArgs};

/// Generates a toy data set and writes it in the format of `--out`.
///
/// NPY output is two files: the features as a 2-D float64 array at `--out`, and the
/// class indices as a 1-D int64 array at the sibling `STEM.labels.npy` (which `train`,
/// `predict` and `eval` find on their own).
pub fn run(args: &GenerateArgs, quiet: bool) -> CliResult {
    let format = format_of(&args.out, args.format)?;
    let ds = data::by_name(&args.dataset, args.n, args.noise, args.classes, args.seed)?;
    match format {
        Format::Csv => write_atomic_with(&args.out, |p| data::write_csv(p, &ds))?,
        Format::Libsvm => write_atomic_with(&args.out, |p| data::write_libsvm(p, &ds))?,
        Format::Npy => {
            let labels = labels_sibling(&args.out);
            write_atomic_with(&labels, |p| data::write_npy_labels(p, &ds.y))?;
            write_atomic_with(&args.out, |p| data::write_npy_matrix(p, &ds.x))?;
        }
    }
    if !quiet {
        print!(
            "wrote {} ({} rows × {} features, {} classes) to {}",
            ds.name,
            ds.n_samples(),
            ds.n_features(),
            ds.n_classes(),
            args.out.display()
        );
        if format == Format::Npy {
            print!(" and its labels to {}", labels_sibling(&args.out).display());
        }
        println!();
    }
    Ok(())
}
