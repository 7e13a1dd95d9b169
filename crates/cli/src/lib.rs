//! The `tokendesk` and `t2otp` command lines: argument parsing, terminal output and exit codes.
//! This is the only crate that reads the system clock, the environment and standard input.

mod assets_cmd;
mod backup_timer;
mod bulk_cmd;
mod capture;
mod clock;
mod config;
mod config_cmd;
mod desk_cmd;
mod doctor;
mod drift_cmd;
mod error;
mod nfc_cmd;
mod otp_cmd;
mod outbound_config;
mod scan_cmd;
mod seed_arg;
mod seed_cmd;
mod seed_qr_cmd;
mod serve_cmd;
mod serve_config;
mod timefmt;
mod vault_cmd;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use assets_cmd::T2otpArgs;
pub use clock::{Clock, SystemClock};
pub use config::{GlobalArgs, VaultOptions};
pub use error::{CliError, Outcome};
pub use vault_cmd::VaultCommand;

/// tokendesk: an encrypted seed vault and helpdesk tool for programmable TOTP hardware tokens.
#[derive(Debug, Parser)]
#[command(name = "tokendesk", bin_name = "tokendesk", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Configuration file, vault location and key options (used by the vault commands).
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// The subcommands. Each lives in its own module; this enum only wires them up.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print TOTP/HOTP codes for a secret or otpauth URI (now, at a time, past and future).
    Otp(otp_cmd::OtpArgs),
    /// Generate a seed, or show one in every form with what accepts it.
    #[command(subcommand)]
    Seed(seed_cmd::SeedCommand),
    /// Find how far a token's clock has drifted from the code(s) on its display.
    Drift(drift_cmd::DriftArgs),
    /// Find QR codes in screenshots, on the screen or the clipboard, and show the seeds
    Scan(scan_cmd::ScanArgs),
    /// Run the helpdesk web app and JSON API (creates the vault on first start).
    Serve(serve_config::ServeArgs),
    /// Check the installation: key file, database and schema, audit chain, disk, TLS
    /// certificate, pcscd, clock. Exit 0 all OK, 1 a warning, 2 a failure.
    Doctor(doctor::DoctorArgs),
    /// Check the configuration and print the settings in effect (secrets redacted).
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Program Token2 NFC tokens through a PC/SC reader: readers, info, burn, sync-time.
    Nfc(nfc_cmd::NfcArgs),
    /// Sign this desk in to a tokendesk server: shows a code to confirm in the browser, keeps
    /// the desk token in the user's profile (owner-only).
    Login(desk_cmd::LoginArgs),
    /// Sign this desk out: the desk token is revoked on the server and deleted here.
    Logout(desk_cmd::LogoutArgs),
    /// Records on the server this desk is signed in to: search, show, move, reveal.
    Remote(desk_cmd::RemoteArgs),
    /// Provision a team: generate seeds for a CSV of users, then burn a stack of tokens (resumable).
    Bulk(bulk_cmd::BulkArgs),
    /// The seed vault: init, add, list, show, code, lifecycle, audit, key, import, export.
    #[command(flatten)]
    Vault(VaultCommand),
    /// Write the man pages and shell completions of both programs into DIR (for packaging).
    #[command(hide = true)]
    GenerateAssets(assets_cmd::AssetsArgs),
}

/// Runs one parsed command, writing its output to `out`.
///
/// # Errors
/// A [`CliError`] carrying the exit code (2 for bad input, 3 for the environment).
pub fn run(cli: Cli, clock: &dyn Clock, out: &mut dyn Write) -> Result<Outcome, CliError> {
    timefmt::with_utc(cli.global.utc, || run_command(cli, clock, out))
}

fn run_command(cli: Cli, clock: &dyn Clock, out: &mut dyn Write) -> Result<Outcome, CliError> {
    match cli.command {
        Command::Otp(args) => otp_cmd::run(&args, clock, out),
        Command::Seed(cmd) => seed_cmd::run(&cmd, clock, out),
        Command::Drift(args) => drift_cmd::run(&args, clock, out),
        Command::Scan(args) => scan_cmd::run(&args, clock, out),
        Command::Serve(args) => {
            let (opts, file) = config::load(&cli.global)?;
            serve_cmd::run(&args, &opts, &file, out)
        }
        Command::GenerateAssets(args) => assets_cmd::run(&args, out),
        Command::Doctor(args) => doctor::run(&args, &cli.global, out),
        Command::Config(cmd) => config_cmd::run(&cmd, &cli.global, out),
        Command::Nfc(args) => nfc_cmd::run(&args, &config::load(&cli.global)?.0, clock, out),
        Command::Login(args) => desk_cmd::login(&args, clock, out),
        Command::Logout(args) => desk_cmd::logout(&args, out),
        Command::Remote(args) => desk_cmd::remote::run(&args, out),
        Command::Bulk(args) => bulk_cmd::run(&args, &config::load(&cli.global)?.0, clock, out),
        Command::Vault(cmd) => vault_cmd::run(&cmd, &config::load(&cli.global)?.0, clock, out),
    }
}

/// Shared `main` of both binaries: prints an error once, as `PROGRAM: error: …`, and maps the
/// outcome to the documented exit codes (0 ok, 1 negative answer, 2 input, 3 environment).
pub fn finish(program: &str, result: Result<Outcome, CliError>) -> ExitCode {
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Negative) => ExitCode::from(1),
        Ok(Outcome::Failed) => ExitCode::from(2),
        Err(err) => {
            eprintln!("{program}: error: {:#}", err.error);
            ExitCode::from(err.exit_code)
        }
    }
}
