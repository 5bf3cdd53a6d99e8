//! The command-line front end as a library: config loading with located errors, and the
//! subcommands. `main.rs` only parses arguments and prints errors once.

pub mod args;
pub mod commands;
pub mod error;
pub mod interrupt;
pub mod invocation;
pub mod load;
pub mod lr_find;
pub mod output;
pub mod preview;
pub mod progress;
pub mod report;
pub mod runs;
pub mod target;
pub mod tensorboard;
pub mod yaml;
