//! What an operator asks for in a reveal, typed once at the edge: how the caller was verified,
//! what the codes are for, the ticket, the times. The web pages, the JSON API and the CLI parse
//! their input into a [`RevealRequest`]; the vault checks nothing of it a second time.

use std::fmt;
use std::str::FromStr;

use crate::error::{Result, RevealError, VaultError, WindowRefusal};
use crate::invalid::Invalid;

/// How the operator verified the caller before a reveal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verification {
    /// The operator called the user back on a number known from the directory.
    CallBack,
    /// The caller said the passphrase recorded at capture (checked by the vault).
    Passphrase,
    /// Another operator approved this reveal (four-eyes).
    SecondApprover,
}

impl Verification {
    /// Every method, in the order forms offer them.
    pub const ALL: [Verification; 3] = [
        Verification::CallBack,
        Verification::Passphrase,
        Verification::SecondApprover,
    ];

    /// The name in forms, the API and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::CallBack => "call-back",
            Verification::Passphrase => "passphrase",
            Verification::SecondApprover => "second-approver",
        }
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Verification {
    type Err = VaultError;

    fn from_str(s: &str) -> Result<Self> {
        Verification::ALL
            .into_iter()
            .find(|v| v.as_str() == s.trim())
            .ok_or_else(|| {
                VaultError::Invalid(Invalid::UnknownMethod {
                    given: s.to_owned(),
                })
            })
    }
}

/// What the revealed codes are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Read out on the phone now: the current code and the next one.
    ReadOut,
    /// Sent by e-mail for a later time.
    Email,
    /// Sent in a chat message.
    Chat,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 3] = [Purpose::ReadOut, Purpose::Email, Purpose::Chat];

    /// The name in forms, the API and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::ReadOut => "read-out",
            Purpose::Email => "email",
            Purpose::Chat => "chat",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Purpose {
    type Err = VaultError;

    fn from_str(s: &str) -> Result<Self> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s.trim())
            .ok_or_else(|| {
                VaultError::Invalid(Invalid::UnknownPurpose {
                    given: s.to_owned(),
                })
            })
    }
}

/// A ticket or incident reference: trimmed, not empty, at most [`Ticket::MAX_CHARS`] characters,
/// no control characters. Built only by [`Ticket::new`], so a request holding one has a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket(String);

impl Ticket {
    /// Longest reference accepted.
    pub const MAX_CHARS: usize = 200;

    /// Checks and trims a ticket reference.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] when it is empty, too long or holds control characters.
    pub fn new(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.is_empty() {
            return Err(VaultError::Invalid(Invalid::TicketMissing));
        }
        if text.chars().count() > Self::MAX_CHARS || text.chars().any(char::is_control) {
            return Err(VaultError::Invalid(Invalid::TicketTooLong {
                max: Self::MAX_CHARS,
            }));
        }
        Ok(Self(text.to_owned()))
    }

    /// The reference.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Id of a four-eyes approval.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApprovalId(pub String);

impl fmt::Display for ApprovalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the operator states before a reveal. Stored in the audit trail; never the code.
#[derive(Debug, Clone)]
pub struct RevealRequest {
    /// Subject user. May be left empty when `record_id` is given.
    pub upn: String,
    /// Ticket or incident reference.
    pub ticket: Ticket,
    /// How the caller was verified (a reveal is only asked for after a verification passed;
    /// failures are recorded with [`crate::Vault::record_failed_verification`]).
    pub method: Verification,
    /// What the codes are for.
    pub purpose: Purpose,
    /// Unix times whose codes are disclosed (one per step).
    pub at_unix_secs: Vec<i64>,
    /// Also disclose the codes of this many steps after the last of `at_unix_secs` (a read-out
    /// gives the current and the next code), in the token's own time step. At most 60.
    pub following_steps: u32,
    /// A four-eyes approval. Whenever one is named, under the daily quota or over it, it must
    /// exist, be approved by another person than the one revealing, be unused and unexpired and
    /// belong to this user's record; it is then consumed in the reveal's transaction.
    /// Otherwise the reveal is refused (and the refusal audited).
    pub approval: Option<ApprovalId>,
    /// The record the operator is looking at. When set, that record is revealed (or the reveal
    /// refused and audited, if it is no longer active), never another record of the user, so an
    /// old record's page cannot reveal a newer token's codes. A non-empty `upn` must match it.
    pub record_id: Option<String>,
}

/// How many of the token's steps before now a reveal may reach back (a code just read out
/// that the user did not manage to type). Further back is refused.
pub const REVEAL_PAST_STEPS: i64 = 3;

/// Refuses any time outside the reveal window: at most [`REVEAL_PAST_STEPS`] steps of the
/// token before `now`, at most `max_future_secs` after it. The message names the limit.
pub(super) fn check_window(
    times: &[i64],
    now: i64,
    period: i64,
    max_future_secs: i64,
) -> Result<()> {
    let back = REVEAL_PAST_STEPS.saturating_mul(period);
    let (earliest, latest) = (
        now.saturating_sub(back),
        now.saturating_add(max_future_secs),
    );
    if let Some(&t) = times.iter().find(|t| **t > latest) {
        return Err(VaultError::Reveal(RevealError::OutsideRevealWindow(
            WindowRefusal::Ahead {
                ahead_secs: t.saturating_sub(now),
                max_secs: max_future_secs,
            },
        )));
    }
    if let Some(&t) = times.iter().find(|t| **t < earliest) {
        return Err(VaultError::Reveal(RevealError::OutsideRevealWindow(
            WindowRefusal::Past {
                ago_secs: now.saturating_sub(t),
                steps: REVEAL_PAST_STEPS,
                back_secs: back,
            },
        )));
    }
    Ok(())
}

/// What is checked before a reveal is queued (and again in the batch, for direct callers of
/// `reveal_batch`): a user name unless a record is named, and the times. Returns the
/// normalised user name, if one was given.
pub(super) fn check_request(request: &RevealRequest) -> Result<Option<String>> {
    let upn = if request.record_id.is_none() || !request.upn.is_empty() {
        Some(crate::records::normalise_upn(&request.upn)?)
    } else {
        None
    };
    if request.at_unix_secs.is_empty() || request.following_steps > 60 {
        return Err(VaultError::Invalid(Invalid::RevealSteps));
    }
    if request.at_unix_secs.iter().any(|t| *t < 0) {
        return Err(VaultError::Invalid(Invalid::BeforeEpoch));
    }
    Ok(upn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_purposes_round_trip_and_unknown_ones_are_explained() {
        for v in Verification::ALL {
            assert_eq!(v.as_str().parse::<Verification>().unwrap(), v);
        }
        for p in Purpose::ALL {
            assert_eq!(p.as_str().parse::<Purpose>().unwrap(), p);
        }
        let err = "trust-me".parse::<Verification>().unwrap_err().to_string();
        assert!(
            err.contains("call-back, passphrase or second-approver"),
            "{err}"
        );
        let err = "fax".parse::<Purpose>().unwrap_err().to_string();
        assert!(err.contains("read-out, email or chat"), "{err}");
    }

    #[test]
    fn tickets_are_trimmed_bounded_and_printable() {
        assert_eq!(Ticket::new("  INC-42 ").unwrap().as_str(), "INC-42");
        assert!(Ticket::new("   ").is_err());
        assert!(Ticket::new("INC\n42").is_err());
        assert!(Ticket::new(&"x".repeat(Ticket::MAX_CHARS)).is_ok());
        let err = Ticket::new(&"x".repeat(Ticket::MAX_CHARS + 1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 200"), "{err}");
    }
}
