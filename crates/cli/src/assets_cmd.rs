//! `tokendesk generate-assets DIR` (hidden): the man pages and bash/zsh/fish completions of both
//! programs, generated from their clap definitions so they never drift from `--help`. The
//! Debian package is built from its output (`scripts/package`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::error::{CliError, Outcome};

/// Arguments of `tokendesk generate-assets`.
#[derive(Debug, Args)]
pub struct AssetsArgs {
    /// Folder to write `man/` and `completions/` into (created if missing).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

// The command line of `t2otp`, kept in the library so its man page and completions can be
// generated; its doc comment is the program's `--help` text.
/// Print the current TOTP code for a secret, like Token2's t2otp.
#[derive(Debug, clap::Parser)]
#[command(name = "t2otp", bin_name = "t2otp", version)]
pub struct T2otpArgs {
    /// Base32 secret (spaces and lowercase are fine), otpauth:// link, or `-` for standard input
    #[arg(value_name = "SECRET")]
    pub secret: String,
    /// Accept secrets shorter than 80 bits
    #[arg(long)]
    pub allow_short: bool,
}

fn io_error(what: &Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |e| {
        CliError::env(anyhow::Error::new(e).context(format!("cannot write {}", what.display())))
    }
}

/// Writes `DIR/man/*.1` (one page per visible subcommand) and `DIR/completions/` (bash: the
/// program's name, zsh: `_NAME`, fish: `NAME.fish`) for `tokendesk` and `t2otp`.
///
/// # Errors
/// Exit 3 when a file cannot be written.
pub(crate) fn run(args: &AssetsArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let man = args.dir.join("man");
    let completions = args.dir.join("completions");
    for dir in [&man, &completions] {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    }
    for cmd in [crate::Cli::command(), T2otpArgs::command()] {
        clap_mangen::generate_to(cmd.clone(), &man).map_err(io_error(&man))?;
        let name = cmd.get_name().to_owned();
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut cmd = cmd.clone();
            let path = clap_complete::generate_to(shell, &mut cmd, &name, &completions)
                .map_err(io_error(&completions))?;
            // bash-completion looks the file up by the program's bare name.
            if shell == Shell::Bash {
                let bare = completions.join(&name);
                std::fs::rename(&path, &bare)
                    .with_context(|| format!("cannot rename {}", path.display()))
                    .map_err(CliError::env)?;
            }
        }
    }
    writeln!(
        out,
        "man pages in {}, completions in {}",
        man.display(),
        completions.display()
    )?;
    Ok(Outcome::Done)
}
