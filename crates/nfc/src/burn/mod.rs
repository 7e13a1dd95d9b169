//! The host side of a burn, exactly as design note §4.4: info → model check → challenge →
//! auth (never retried) → config with the host clock read just before sending → seed.
//! A write whose reply never arrived is reported as "outcome unknown", never as success.

use core::fmt;

use crate::apdu::{self, CommandApdu, Response, StatusWord};
use crate::config::TokenConfig;
use crate::crypto::DeviceKey;
use crate::info::{self, InfoParseError, Model, TimeSync, TokenInfo};
use crate::seed::Seed;

/// Moves APDUs to a card and back inside one connect session.
pub trait CardTransport {
    /// Sends one command APDU and returns the raw response, status word included.
    ///
    /// # Errors
    /// [`TransportError`] when the exchange did not complete; the command may or may not have
    /// reached the card.
    fn transmit(&mut self, apdu: &CommandApdu) -> Result<Vec<u8>, TransportError>;
}

/// Why an exchange with the card did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The card left the field or the reader reset it.
    #[error("the token left the reader")]
    Removed,
    /// The reader gave up waiting for the card.
    #[error("the reader timed out waiting for the token")]
    Timeout,
    /// The reader or service reported a failure of the exchange.
    #[error("the exchange with the token failed: {0}")]
    Failed(String),
}

/// One step of the burn sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// GET INFO.
    GetInfo,
    /// GET CHALLENGE.
    GetChallenge,
    /// AUTH.
    Authenticate,
    /// WRITE CONFIG (clock and settings).
    WriteConfig,
    /// WRITE SEED.
    WriteSeed,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::GetInfo => "info read",
            Self::GetChallenge => "challenge request",
            Self::Authenticate => "authentication",
            Self::WriteConfig => "config write",
            Self::WriteSeed => "seed write",
        })
    }
}

/// Why a burn, info read or time sync stopped. No variant carries seed or key bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BurnError {
    /// The exchange failed before anything was written; the token is unchanged.
    #[error("{step} failed before anything was written ({reason}); the token is unchanged")]
    Transport {
        /// Where it failed.
        step: Step,
        /// The transport's reason.
        reason: TransportError,
    },
    /// A write was sent but its reply never arrived.
    #[error(
        "outcome unknown: re-read the token and verify (the {step} was interrupted: {reason}); \
         if the token's code does not match, burn it again"
    )]
    OutcomeUnknown {
        /// The interrupted write.
        step: Step,
        /// The transport's reason.
        reason: TransportError,
    },
    /// The token answered GET INFO with something unreadable.
    #[error("the token's info reply is unreadable: {0}")]
    BadInfo(InfoParseError),
    /// The challenge was not 8 bytes.
    #[error(
        "the token sent a {len}-byte challenge instead of 8; is this a programmable Token2 token?"
    )]
    BadChallenge {
        /// Length received.
        len: usize,
    },
    /// The serial prefix is not a known programmable model.
    #[error(
        "serial {serial} is not a known programmable Token2 model, so nothing was written; \
         check that the right token is on the reader, or pass --force-unknown-model"
    )]
    UnknownModel {
        /// The serial read from the token.
        serial: String,
    },
    /// A status word other than 9000 before any write.
    #[error("the token refused the {step} with SW {sw} ({}); the token is unchanged", .sw.meaning())]
    Refused {
        /// The refused step.
        step: Step,
        /// Its status word.
        sw: StatusWord,
    },
    /// Authentication was refused. It is never retried: repeated failures can lock a token.
    #[error(
        "the token refused authentication with SW {sw} ({}); not retried, because repeated \
         failures can lock the token permanently; check that this is a single-profile Token2 \
         token (Molto models use another key) before trying again", .sw.meaning()
    )]
    AuthRejected {
        /// Its status word.
        sw: StatusWord,
    },
    /// The config write was refused.
    #[error(
        "the token refused the config write with SW {sw} ({}); the seed was not sent{}",
        .sw.meaning(),
        if *.seed_wiped_possible { "; this model may already have erased its old seed" } else { "" }
    )]
    ConfigRejected {
        /// Its status word.
        sw: StatusWord,
        /// Whether the model wipes its seed on config writes.
        seed_wiped_possible: bool,
    },
    /// The seed write was refused after the config was written.
    #[error(
        "the token refused the seed with SW {sw} ({}){}; burn it again",
        .sw.meaning(),
        if *.seed_wiped { ", and its old seed was erased by the config write" } else { "" }
    )]
    SeedRejected {
        /// Its status word.
        sw: StatusWord,
        /// Whether the config write already erased the previous seed.
        seed_wiped: bool,
    },
    /// The host clock does not fit the token's u32 seconds.
    #[error("the host clock ({unix_secs} s) is outside the token's range; fix the system time")]
    HostClockOutOfRange {
        /// The host clock.
        unix_secs: u64,
    },
    /// Time sync on a model whose config write erases the seed.
    #[error(
        "{model} has restricted time sync: setting its clock erases the seed; burn it again \
         with `tokendesk nfc burn` instead, which sets the clock and the seed together"
    )]
    RestrictedTimeSync {
        /// The model.
        model: Model,
    },
    /// Time sync on a token whose model (and so whose time-sync behaviour) is unknown.
    #[error(
        "serial {serial} is not a known model, so it is unknown whether setting its clock \
         erases the seed; refusing to sync"
    )]
    TimeSyncUnknownModel {
        /// The serial read from the token.
        serial: String,
    },
}

/// What a successful burn or sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BurnReport {
    /// Serial and clock read before writing.
    pub info: TokenInfo,
    /// The model, if the serial prefix is known.
    pub model: Option<Model>,
    /// Token clock minus host clock before the write, seconds.
    pub drift_secs: i64,
    /// The clock value written, Unix seconds.
    pub clock_set_unix_secs: u32,
    /// The settings written.
    pub config: TokenConfig,
}

/// What to burn.
#[derive(Debug)]
pub struct BurnRequest<'a> {
    /// The seed.
    pub seed: &'a Seed,
    /// Algorithm, period and display timeout.
    pub config: TokenConfig,
    /// Write even if the serial prefix is not in the model table.
    pub allow_unknown_model: bool,
}

/// Sends a command and parses its reply. A failed or garbled exchange becomes `on_failure`:
/// [`BurnError::Transport`] for reads (nothing was written), [`BurnError::OutcomeUnknown`] for
/// writes (the command may have landed).
fn exchange(
    transport: &mut dyn CardTransport,
    step: Step,
    apdu: &CommandApdu,
    on_failure: fn(Step, TransportError) -> BurnError,
) -> Result<Response, BurnError> {
    let raw = transport
        .transmit(apdu)
        .map_err(|reason| on_failure(step, reason))?;
    Response::parse(&raw).ok_or_else(|| {
        on_failure(
            step,
            TransportError::Failed("reply shorter than a status word".into()),
        )
    })
}

fn exchange_read(
    transport: &mut dyn CardTransport,
    step: Step,
    apdu: &CommandApdu,
) -> Result<Response, BurnError> {
    exchange(transport, step, apdu, |step, reason| BurnError::Transport {
        step,
        reason,
    })
}

fn exchange_write(
    transport: &mut dyn CardTransport,
    step: Step,
    apdu: &CommandApdu,
) -> Result<Response, BurnError> {
    exchange(transport, step, apdu, |step, reason| {
        BurnError::OutcomeUnknown { step, reason }
    })
}

/// Reads serial and clock (GET INFO). No authentication; changes nothing.
///
/// # Errors
/// [`BurnError::Transport`], [`BurnError::Refused`] or [`BurnError::BadInfo`].
pub fn read_info(transport: &mut dyn CardTransport) -> Result<TokenInfo, BurnError> {
    let reply = exchange_read(transport, Step::GetInfo, &apdu::get_info())?;
    if !reply.sw().is_ok() {
        return Err(BurnError::Refused {
            step: Step::GetInfo,
            sw: reply.sw(),
        });
    }
    info::parse_info(reply.data()).map_err(BurnError::BadInfo)
}

/// GET CHALLENGE then AUTH, once. Never retried.
fn authenticate(transport: &mut dyn CardTransport, key: &DeviceKey) -> Result<(), BurnError> {
    let reply = exchange_read(transport, Step::GetChallenge, &apdu::get_challenge())?;
    if !reply.sw().is_ok() {
        return Err(BurnError::Refused {
            step: Step::GetChallenge,
            sw: reply.sw(),
        });
    }
    let challenge: &[u8; 8] = reply
        .data()
        .try_into()
        .map_err(|_| BurnError::BadChallenge {
            len: reply.data().len(),
        })?;
    let reply = exchange_read(
        transport,
        Step::Authenticate,
        &apdu::authenticate(key, challenge),
    )?;
    if !reply.sw().is_ok() {
        return Err(BurnError::AuthRejected { sw: reply.sw() });
    }
    Ok(())
}

/// WRITE CONFIG with the clock read from `now` immediately before the APDU is built.
fn write_config(
    transport: &mut dyn CardTransport,
    key: &DeviceKey,
    config: TokenConfig,
    wipes_seed: bool,
    now: &dyn Fn() -> u64,
) -> Result<u32, BurnError> {
    let unix_secs = now();
    let clock =
        u32::try_from(unix_secs).map_err(|_| BurnError::HostClockOutOfRange { unix_secs })?;
    let command = apdu::write_config(key, &config.to_tlv(clock));
    let reply = exchange_write(transport, Step::WriteConfig, &command)?;
    if !reply.sw().is_ok() {
        return Err(BurnError::ConfigRejected {
            sw: reply.sw(),
            seed_wiped_possible: wipes_seed,
        });
    }
    Ok(clock)
}

/// Burns a seed: the whole §4.4 sequence in one session. `now` returns the host's Unix time;
/// it is read for the drift and again just before the config write.
///
/// # Errors
/// Every [`BurnError`] except the time-sync ones. Only [`BurnError::OutcomeUnknown`] leaves
/// the token in an unknown state.
pub fn burn(
    transport: &mut dyn CardTransport,
    key: &DeviceKey,
    request: &BurnRequest<'_>,
    now: &dyn Fn() -> u64,
) -> Result<BurnReport, BurnError> {
    let info = read_info(transport)?;
    let drift_secs = info.drift_secs(now());
    let model = info.model();
    if model.is_none() && !request.allow_unknown_model {
        return Err(BurnError::UnknownModel {
            serial: info.serial,
        });
    }
    // Unknown models are assumed to wipe their seed on config writes (the common case).
    let wipes_seed = model.is_none_or(|m| m.time_sync() == TimeSync::Restricted);
    authenticate(transport, key)?;
    let clock_set_unix_secs = write_config(transport, key, request.config, wipes_seed, now)?;
    let reply = exchange_write(
        transport,
        Step::WriteSeed,
        &apdu::write_seed(key, request.seed),
    )?;
    if !reply.sw().is_ok() {
        return Err(BurnError::SeedRejected {
            sw: reply.sw(),
            seed_wiped: wipes_seed,
        });
    }
    Ok(BurnReport {
        info,
        model,
        drift_secs,
        clock_set_unix_secs,
        config: request.config,
    })
}

/// Sets the clock (and the settings, which the TLV always carries) on a model with
/// unrestricted time sync, keeping its seed. Refuses restricted and unknown models before
/// authenticating.
///
/// # Errors
/// [`BurnError::RestrictedTimeSync`], [`BurnError::TimeSyncUnknownModel`], or any error of the
/// shared steps.
pub fn sync_time(
    transport: &mut dyn CardTransport,
    key: &DeviceKey,
    config: TokenConfig,
    now: &dyn Fn() -> u64,
) -> Result<BurnReport, BurnError> {
    let info = read_info(transport)?;
    let drift_secs = info.drift_secs(now());
    let Some(model) = info.model() else {
        return Err(BurnError::TimeSyncUnknownModel {
            serial: info.serial,
        });
    };
    if model.time_sync() == TimeSync::Restricted {
        return Err(BurnError::RestrictedTimeSync { model });
    }
    authenticate(transport, key)?;
    let clock_set_unix_secs = write_config(transport, key, config, false, now)?;
    Ok(BurnReport {
        info,
        model: Some(model),
        drift_secs,
        clock_set_unix_secs,
        config,
    })
}

#[cfg(test)]
mod tests;
