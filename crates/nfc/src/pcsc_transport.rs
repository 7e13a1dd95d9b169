//! The PC/SC transport (feature `pcsc`): reader listing and selection, waiting for a token,
//! one connect session per burn, `LeaveCard` on disconnect, and PC/SC errors turned into
//! messages that say what to do.

use std::ffi::CString;
use std::time::{Duration, Instant};

use pcsc::{Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};

use crate::apdu::CommandApdu;
use crate::burn::{CardTransport, TransportError};

/// What to install or start when the PC/SC service is missing, per platform.
pub const SERVICE_HELP: &str = if cfg!(target_os = "windows") {
    "start the \"Smart Card\" service (SCardSvr): `sc start SCardSvr`"
} else if cfg!(target_os = "macos") {
    "PC/SC is part of macOS; reconnect the reader and try again"
} else {
    "install and start pcscd and the CCID reader driver: on Debian/Ubuntu \
     `sudo apt-get install pcscd libccid` then `sudo systemctl start pcscd.socket` \
     (without systemd: `sudo pcscd`); on Fedora `sudo dnf install pcsc-lite pcsc-lite-ccid` \
     then `sudo systemctl start pcscd.socket`"
};

/// Why the PC/SC layer could not give us a card session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PcscError {
    /// No PC/SC service.
    #[error("the PC/SC service (pcscd) is not running; {SERVICE_HELP}")]
    NoService,
    /// No reader attached.
    #[error(
        "no smart-card reader is connected; plug in a PC/SC contactless reader (ACR122U, \
         ACR1252U, TOKEN2 MFA NFC Reader) and check `tokendesk nfc readers`"
    )]
    NoReaders,
    /// `--reader` names no attached reader.
    #[error("no reader matches \"{wanted}\"; attached readers: {available}")]
    UnknownReader {
        /// The name asked for.
        wanted: String,
        /// Attached reader names, comma-separated.
        available: String,
    },
    /// Several readers could be meant.
    #[error("several readers could hold the token ({candidates}); choose one with --reader NAME")]
    AmbiguousReader {
        /// Candidate names, comma-separated.
        candidates: String,
    },
    /// No token arrived in time.
    #[error(
        "no token on {reader} after {waited_secs} s; switch the token on (press its button) and \
         hold it flat on the reader"
    )]
    NoCard {
        /// The reader waited on.
        reader: String,
        /// How long we waited.
        waited_secs: u64,
    },
    /// The token left during connect.
    #[error("the token left the reader while connecting; hold it still and try again")]
    Removed,
    /// Another program holds the reader exclusively.
    #[error("another program is using {reader}; close other smart-card tools and try again")]
    Busy {
        /// The reader.
        reader: String,
    },
    /// Anything else PC/SC reported.
    #[error("PC/SC error: {0}")]
    Other(String),
}

fn map_err(e: pcsc::Error) -> PcscError {
    match e {
        pcsc::Error::NoReadersAvailable => PcscError::NoReaders,
        pcsc::Error::NoService | pcsc::Error::ServiceStopped => PcscError::NoService,
        pcsc::Error::RemovedCard | pcsc::Error::ResetCard => PcscError::Removed,
        other => PcscError::Other(other.to_string()),
    }
}

/// A reader and whether a card is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderStatus {
    /// The PC/SC reader name.
    pub name: String,
    /// Whether a card (token) is present.
    pub card_present: bool,
}

/// A PC/SC context.
pub struct Pcsc {
    ctx: Context,
}

impl Pcsc {
    /// Connects to the PC/SC service.
    ///
    /// # Errors
    /// [`PcscError::NoService`] when pcscd (or SCardSvr) is not running.
    pub fn establish() -> Result<Self, PcscError> {
        let ctx = Context::establish(Scope::User).map_err(map_err)?;
        Ok(Self { ctx })
    }

    /// Attached readers and whether each holds a card. Empty when none is attached.
    ///
    /// # Errors
    /// [`PcscError`] when the service fails.
    pub fn readers(&self) -> Result<Vec<ReaderStatus>, PcscError> {
        let names = match self.ctx.list_readers_owned() {
            Ok(names) => names,
            Err(pcsc::Error::NoReadersAvailable) => return Ok(Vec::new()),
            Err(e) => return Err(map_err(e)),
        };
        let mut states: Vec<ReaderState> = names
            .into_iter()
            .map(|n| ReaderState::new(n, State::UNAWARE))
            .collect();
        if states.is_empty() {
            return Ok(Vec::new());
        }
        match self
            .ctx
            .get_status_change(Some(Duration::ZERO), &mut states)
        {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(e) => return Err(map_err(e)),
        }
        Ok(states
            .iter()
            .map(|s| ReaderStatus {
                name: s.name().to_string_lossy().into_owned(),
                card_present: is_present(s.event_state()),
            })
            .collect())
    }

    /// Picks the reader: the one named (exactly, or the only one containing `wanted`), else
    /// the only reader holding a card, else the only reader.
    ///
    /// # Errors
    /// [`PcscError::NoReaders`], [`PcscError::UnknownReader`], [`PcscError::AmbiguousReader`].
    pub fn choose_reader(&self, wanted: Option<&str>) -> Result<String, PcscError> {
        let readers = self.readers()?;
        if readers.is_empty() {
            return Err(PcscError::NoReaders);
        }
        let join = |it: &mut dyn Iterator<Item = &ReaderStatus>| {
            it.map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
        };
        if let Some(wanted) = wanted {
            if let Some(r) = readers.iter().find(|r| r.name == wanted) {
                return Ok(r.name.clone());
            }
            let matching: Vec<&ReaderStatus> =
                readers.iter().filter(|r| r.name.contains(wanted)).collect();
            return match matching.as_slice() {
                [one] => Ok(one.name.clone()),
                [] => Err(PcscError::UnknownReader {
                    wanted: wanted.to_owned(),
                    available: join(&mut readers.iter()),
                }),
                _ => Err(PcscError::AmbiguousReader {
                    candidates: join(&mut matching.into_iter()),
                }),
            };
        }
        let with_card: Vec<&ReaderStatus> = readers.iter().filter(|r| r.card_present).collect();
        match (with_card.as_slice(), readers.as_slice()) {
            ([one], _) => Ok(one.name.clone()),
            ([], [one]) => Ok(one.name.clone()),
            ([], _) => Err(PcscError::AmbiguousReader {
                candidates: join(&mut readers.iter()),
            }),
            (_, _) => Err(PcscError::AmbiguousReader {
                candidates: join(&mut with_card.into_iter()),
            }),
        }
    }

    /// Waits until `reader` holds a card, up to `timeout`.
    ///
    /// # Errors
    /// [`PcscError::NoCard`] on timeout; [`PcscError`] for service failures.
    pub fn wait_for_card(&self, reader: &str, timeout: Duration) -> Result<(), PcscError> {
        self.wait_for(reader, timeout, true)
    }

    /// Waits until `reader` is empty, up to `timeout` (tests use it between virtual cards).
    ///
    /// # Errors
    /// [`PcscError::NoCard`] (reused for "still present") on timeout; service failures.
    pub fn wait_for_removal(&self, reader: &str, timeout: Duration) -> Result<(), PcscError> {
        self.wait_for(reader, timeout, false)
    }

    fn wait_for(&self, reader: &str, timeout: Duration, present: bool) -> Result<(), PcscError> {
        let name = CString::new(reader).map_err(|_| PcscError::UnknownReader {
            wanted: reader.replace('\0', ""),
            available: String::new(),
        })?;
        let deadline = Instant::now() + timeout;
        let mut states = [ReaderState::new(name, State::UNAWARE)];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.ctx.get_status_change(Some(left), &mut states) {
                Ok(()) => {}
                Err(pcsc::Error::Timeout) => {
                    return Err(PcscError::NoCard {
                        reader: reader.to_owned(),
                        waited_secs: timeout.as_secs(),
                    });
                }
                Err(pcsc::Error::UnknownReader) => {
                    return Err(PcscError::UnknownReader {
                        wanted: reader.to_owned(),
                        available: String::new(),
                    });
                }
                Err(e) => return Err(map_err(e)),
            }
            let [state] = &mut states;
            if is_present(state.event_state()) == present {
                return Ok(());
            }
            state.sync_current_state();
        }
    }

    /// Opens one exclusive session with the card in `reader`; use it for the whole sequence.
    ///
    /// # Errors
    /// [`PcscError`] when there is no card, the reader is busy or the service fails.
    pub fn connect(&self, reader: &str) -> Result<PcscCard, PcscError> {
        let name = CString::new(reader).map_err(|_| PcscError::UnknownReader {
            wanted: reader.replace('\0', ""),
            available: String::new(),
        })?;
        match self
            .ctx
            .connect(&name, ShareMode::Exclusive, Protocols::ANY)
        {
            Ok(card) => Ok(PcscCard { card: Some(card) }),
            Err(pcsc::Error::NoSmartcard) => Err(PcscError::NoCard {
                reader: reader.to_owned(),
                waited_secs: 0,
            }),
            Err(pcsc::Error::SharingViolation) => Err(PcscError::Busy {
                reader: reader.to_owned(),
            }),
            Err(e) => Err(map_err(e)),
        }
    }
}

fn is_present(state: State) -> bool {
    state.contains(State::PRESENT) && !state.contains(State::MUTE)
}

/// A connected card. Dropping it disconnects with `LeaveCard` (the `pcsc` crate's own `Drop`
/// would reset the card).
pub struct PcscCard {
    card: Option<pcsc::Card>,
}

impl PcscCard {
    /// Ends the session, leaving the card powered as it is.
    ///
    /// # Errors
    /// [`PcscError`] if PC/SC refuses; the handle is released regardless.
    pub fn disconnect(mut self) -> Result<(), PcscError> {
        match self.card.take() {
            Some(card) => card
                .disconnect(Disposition::LeaveCard)
                .map_err(|(_, e)| map_err(e)),
            None => Ok(()),
        }
    }
}

impl Drop for PcscCard {
    fn drop(&mut self) {
        if let Some(card) = self.card.take() {
            // Best effort; on failure the crate's Drop resets the card, which is harmless here.
            let _ = card.disconnect(Disposition::LeaveCard);
        }
    }
}

impl CardTransport for PcscCard {
    fn transmit(&mut self, apdu: &CommandApdu) -> Result<Vec<u8>, TransportError> {
        let card = self.card.as_ref().ok_or(TransportError::Removed)?;
        let mut buf = [0u8; pcsc::MAX_BUFFER_SIZE];
        match card.transmit(apdu.as_bytes(), &mut buf) {
            Ok(reply) => Ok(reply.to_vec()),
            Err(pcsc::Error::RemovedCard | pcsc::Error::ResetCard | pcsc::Error::NoSmartcard) => {
                Err(TransportError::Removed)
            }
            Err(pcsc::Error::Timeout) => Err(TransportError::Timeout),
            Err(e) => Err(TransportError::Failed(e.to_string())),
        }
    }
}
