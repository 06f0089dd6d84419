//! `multilogit`: train, apply and evaluate multinomial logistic regression models from
//! the command line. See `multilogit --help` and the crate README.

mod cli;

fn main() -> std::process::ExitCode {
    cli::install_panic_hook();
    cli::main()
}
