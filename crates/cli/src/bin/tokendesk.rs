//! The `tokendesk` program.

use std::process::ExitCode;

use clap::Parser;
use tokendesk_cli::{Cli, SystemClock, finish, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    finish("tokendesk", run(cli, &SystemClock, &mut out))
}
