//! The subcommands.

pub mod compare;
pub mod eval;
pub mod export;
pub mod generate;
pub mod lr_find;
pub mod predict;
pub mod schedule;
pub mod show;
pub mod sweep;
pub mod train;
pub mod validate;

use crate::args::{Cli, Command};
use crate::error::CliError;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Train(a) => train::train(&a),
        Command::Resume(a) => train::resume(&a),
        Command::Schedule(a) => schedule::schedule(&a),
        Command::Validate(a) => validate::validate(&a),
        Command::LrFind(a) => lr_find::lr_find(&a),
        Command::Compare(a) => compare::compare(&a),
        Command::Sweep(a) => sweep::sweep(&a),
        Command::Generate(a) => generate::generate(&a),
        Command::Eval(a) => eval::eval(&a),
        Command::Predict(a) => predict::predict(&a),
        Command::Export(a) => export::export(&a),
        Command::Show(a) => show::show(&a),
        Command::Schema => {
            let mut schema = schemars::schema_for!(trainer::RunConfig);
            if let Some(root) = schema.as_object_mut() {
                crate::yaml::extends::add_to_schema(root);
            }
            let text = serde_json::to_string_pretty(&schema).map_err(|e| CliError::Other(e.to_string()))?;
            crate::output::line(text)
        }
    }
}
