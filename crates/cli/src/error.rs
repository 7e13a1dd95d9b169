//! Exit codes and the one error type commands return.

use std::fmt;

/// How a command that did not fail ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Done,
    /// Exit 1: a negative answer ("not found", "ambiguous"), already explained on stdout.
    Negative,
    /// Exit 2: checks failed (`doctor`), already explained on stdout.
    Failed,
}

/// A failed command: the message (printed once by `main`) and its exit code.
pub struct CliError {
    /// 2 for usage or input errors, 3 for the environment (files, stdin, clock, database).
    pub exit_code: u8,
    /// What went wrong, with context. Never contains a secret or a code.
    pub error: anyhow::Error,
}

impl CliError {
    /// Bad input: exit 2.
    pub fn input(error: impl Into<anyhow::Error>) -> Self {
        Self {
            exit_code: 2,
            error: error.into(),
        }
    }

    /// The environment failed: exit 3.
    pub fn env(error: impl Into<anyhow::Error>) -> Self {
        Self {
            exit_code: 3,
            error: error.into(),
        }
    }
}

impl fmt::Debug for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CliError({}: {:#})", self.exit_code, self.error)
    }
}

impl From<tokendesk_otp::InputError> for CliError {
    fn from(e: tokendesk_otp::InputError) -> Self {
        Self::input(e)
    }
}

impl From<tokendesk_otp::ParamError> for CliError {
    fn from(e: tokendesk_otp::ParamError) -> Self {
        Self::input(e)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        Self::env(anyhow::Error::new(e).context("could not write the output"))
    }
}
