//! The command-line front end as a library: config loading with located errors, and the
//! subcommands. `main.rs` only parses arguments and prints errors once.

pub mod yaml;
