//! `cargo run -p cli -- …`: parse the arguments, run the command, print an error once, exit with
//! the error's status (see `CliError::exit_status`).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // SAFETY: first thing in main, before any thread is spawned.
    unsafe { trainer::device::pin_cpu_threads() };
    trainer::allocator::tune();
    let args = cli::args::with_default_subcommand(std::env::args().collect());
    let parsed = cli::args::Cli::parse_from(args);
    match cli::commands::run(parsed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.is_printed() {
                // Not eprintln!: it panics when standard error is closed too.
                let _ = writeln!(std::io::stderr(), "error: {e}");
            }
            ExitCode::from(e.exit_status())
        }
    }
}
