//! `t2otp SECRET`: a drop-in for Token2's command-line tool. Prints the current SHA-1, 6-digit,
//! 30-second code and nothing else (an otpauth link brings its own parameters).

use std::process::ExitCode;

use clap::Parser;
use tokendesk_cli::{Cli, Command, SystemClock, T2otpArgs, finish, run};

fn main() -> ExitCode {
    let mut args = T2otpArgs::parse();
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
