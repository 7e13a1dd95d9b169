//! `t2otp SECRET`: a drop-in for Token2's command-line tool. Prints the current SHA-1, 6-digit,
//! 30-second code and nothing else (an otpauth link brings its own parameters).

use std::process::ExitCode;

use clap::Parser;
use tokendesk_cli::{Cli, Command, SystemClock, finish, run};

/// Print the current TOTP code for a secret, like Token2's t2otp.
#[derive(Parser)]
#[command(name = "t2otp", bin_name = "t2otp", version)]
struct Args {
    /// Base32 secret (spaces and lowercase are fine), otpauth:// link, or `-` for standard input
    #[arg(value_name = "SECRET")]
    secret: String,
    /// Accept secrets shorter than 80 bits
    #[arg(long)]
    allow_short: bool,
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    // Reuse `tokendesk otp` so both programs read secrets and compute codes identically.
    let mut argv = vec!["tokendesk", "otp"];
    if args.allow_short {
        argv.push("--allow-short");
    }
    argv.extend(["--", args.secret.as_str()]);
    let cli = Cli::try_parse_from(argv);
    let cli = match cli {
        Ok(Cli {
            command: Command::Otp(otp),
            global,
        }) => Cli {
            command: Command::Otp(otp),
            global,
        },
        Ok(_) | Err(_) => {
            eprintln!("t2otp: error: could not read the arguments");
            return ExitCode::from(2);
        }
    };
    // The parsed command holds its own zeroizing copy; wipe this one.
    zeroize::Zeroize::zeroize(&mut args.secret);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    finish("t2otp", run(cli, &SystemClock, &mut out))
}
