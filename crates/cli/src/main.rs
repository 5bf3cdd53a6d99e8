//! `cargo run -p cli -- …`: parse the arguments, run the command, print an error once.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // SAFETY: first thing in main, before any thread is spawned.
    unsafe { trainer::device::pin_cpu_threads() };
    let args = cli::args::with_default_subcommand(std::env::args().collect());
    let parsed = cli::args::Cli::parse_from(args);
    match cli::commands::run(parsed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
