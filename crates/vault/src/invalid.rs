//! Why input cannot be stored ([`Invalid`], carried by [`crate::VaultError::Invalid`]): one
//! variant per rule, with the values a message names (a user, a state, a number), never a
//! secret. The English wording is the `Display`, which the CLI and the JSON API print; the web
//! words each variant in the reader's language from its fields. Deliberately not
//! `#[non_exhaustive]`: the web's mapping is an exhaustive `match`, so a new variant does not
//! compile until it has its words in every language.

use tokendesk_otp::{ParamError, TimeError};

use crate::state::State;

/// Input that cannot be stored, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    // ---- records: users, contact details, token parameters ----
    /// An e-mail address that does not look like one.
    #[error("{email:?} is not an e-mail address (name@example.com)")]
    Email {
        /// What was given.
        email: String,
    },
    /// Not the shape of an IANA time zone name.
    #[error("{zone:?} is not a time zone name; use an IANA name such as Europe/Berlin")]
    TimeZone {
        /// What was given.
        zone: String,
    },
    /// Not the shape of a language tag.
    #[error("{tag:?} is not a language tag; use one such as de or fr")]
    LanguageTag {
        /// What was given.
        tag: String,
    },
    /// No user name at all.
    #[error("the user (UPN) is empty")]
    UpnEmpty,
    /// A user name with whitespace or control characters.
    #[error("the user {upn:?} contains spaces or control characters")]
    UpnSpaces {
        /// The user name, lowercased.
        upn: String,
    },
    /// A user name without exactly one inner `@`.
    #[error("the user {upn:?} is not a UPN like alice@contoso.com")]
    NotUpn {
        /// The user name, lowercased.
        upn: String,
    },
    /// A user name longer than 256 characters.
    #[error("the user (UPN) is longer than 256 characters")]
    UpnTooLong,
    /// A new record's user name that Entra ID would not accept.
    #[error("the user {upn:?} is not a valid Entra ID user name: {rule}")]
    EntraUpn {
        /// The user name, lowercased.
        upn: String,
        /// The first rule it breaks.
        rule: UpnRule,
    },
    /// A digit count tokens do not have.
    #[error("{digits} digits is not supported; use 6 or 8")]
    Digits {
        /// What was asked for.
        digits: u32,
    },
    /// A period tokens do not have.
    #[error("a period of {secs} s is not supported; use 30 or 60")]
    Period {
        /// What was asked for, in seconds.
        secs: u32,
    },
    /// A stored parameter the TOTP generator refuses.
    #[error(transparent)]
    Param(ParamError),
    /// One item of a batch (1-based) is invalid; nothing of the batch was stored.
    #[error("item {item}: {reason}")]
    Item {
        /// The item's 1-based position.
        item: usize,
        /// Why it is invalid.
        reason: Box<Invalid>,
    },
    /// Two items of a batch name the same user.
    #[error("a user in this batch already has an active record")]
    BatchActiveRecord,
    /// The insert returned no record (the database misbehaved).
    #[error("the record was not stored")]
    NotStored,
    /// Another writer changed the record between its read and its update.
    #[error("the record of {upn} changed meanwhile; try again")]
    ChangedMeanwhile {
        /// The user.
        upn: String,
    },
    /// A page link whose cursor names no record.
    #[error("the page link names no record; start again from the first page")]
    PageLinkStale,
    /// A token code that matches several steps of the seed.
    #[error("the code matches several steps; read the next code from the token and try again")]
    CodeAmbiguous,

    // ---- bulk burning: binding a seed to a token ----
    /// Only captured records are burned.
    #[error("the record of {upn} is {state}; only captured records are burned")]
    ClaimNotCaptured {
        /// The user.
        upn: String,
        /// The record's state.
        state: State,
    },
    /// The seed is bound to another token.
    #[error("the seed of {upn} is bound to token {serial}; burn it onto that token")]
    BoundToOtherToken {
        /// The user.
        upn: String,
        /// The token it is bound to.
        serial: String,
    },
    /// The token carries another user's seed.
    #[error("token {serial} already belongs to {upn} ({state})")]
    TokenTaken {
        /// The token.
        serial: String,
        /// The user whose active record has it.
        upn: String,
        /// That record's state.
        state: State,
    },

    // ---- reveals, caller passphrases, approvals, exports ----
    /// A time before the Unix epoch.
    #[error("a time before 1970")]
    BeforeEpoch,
    /// A time TOTP cannot express.
    #[error(transparent)]
    Time(TimeError),
    /// A verification method that does not exist.
    #[error("unknown verification method {given:?}; use call-back, passphrase or second-approver")]
    UnknownMethod {
        /// What was given.
        given: String,
    },
    /// A purpose that does not exist.
    #[error("unknown purpose {given:?}; use read-out, email or chat")]
    UnknownPurpose {
        /// What was given.
        given: String,
    },
    /// A reveal without a ticket reference.
    #[error("a reveal needs a ticket reference")]
    TicketMissing,
    /// A ticket reference too long or with control characters.
    #[error("a ticket reference is at most {max} characters, without control characters")]
    TicketTooLong {
        /// The limit.
        max: usize,
    },
    /// A reveal naming no time or too many steps.
    #[error("a reveal names at least one time and at most 60 following steps")]
    RevealSteps,
    /// A caller passphrase that is not UTF-8.
    #[error("the passphrase is not valid UTF-8")]
    PassphraseUtf8,
    /// A caller passphrase too short.
    #[error("a caller passphrase needs at least {min} characters")]
    PassphraseTooShort {
        /// The minimum.
        min: usize,
    },
    /// A caller passphrase for a record that is no longer active.
    #[error("{upn}'s record is {state}; a passphrase can only be set on an active record")]
    PassphraseInactive {
        /// The user.
        upn: String,
        /// The record's state.
        state: State,
    },
    /// A passphrase check for a record without one.
    #[error("no caller passphrase was recorded for {upn}; verify the caller by call-back")]
    NoPassphrase {
        /// The user.
        upn: String,
    },
    /// An approval request without ticket or reason.
    #[error("an approval request needs a ticket reference and a reason")]
    ApprovalRequestIncomplete,
    /// An export of a state whose records have no seed.
    #[error("records in state {state} have no seed (purged); nothing can be exported")]
    ExportPurged {
        /// The state asked for.
        state: State,
    },
    /// Microsoft Graph's requirements refuse a record (`tokendesk_formats::graph`).
    #[error("{reason}; nothing exported")]
    ExportRefused {
        /// Graph's reason.
        reason: tokendesk_formats::graph::GraphError,
    },
    /// A note for the audit trail that it does not take.
    #[error("{action:?} is not a note the trail takes")]
    NoteAction {
        /// The action given.
        action: String,
    },

    // ---- staff accounts, sign-in, desks ----
    /// A staff user name of the wrong shape.
    #[error("a user name is 1 to 64 characters of a-z, 0-9, '.', '_', '@' and '-'")]
    UserName,
    /// A display name of the wrong shape.
    #[error("a display name is 1 to 200 printable characters")]
    DisplayName,
    /// A password that is not UTF-8.
    #[error("the password is not valid UTF-8")]
    PasswordUtf8,
    /// A password too short.
    #[error("a password needs at least {min} characters")]
    PasswordTooShort {
        /// The minimum.
        min: usize,
    },
    /// A password too long.
    #[error("a password may be at most 1024 bytes")]
    PasswordTooLong,
    /// A password equal to the user name.
    #[error("the password must not be the user name")]
    PasswordIsUserName,
    /// A new password equal to the old one.
    #[error("the new password must differ from the old one")]
    PasswordUnchanged,
    /// A second-factor code sent with no enrolment under way.
    #[error("no authenticator is being enrolled; start enrolment again")]
    EnrolmentMissing,
    /// An API key name of the wrong shape.
    #[error("an API key name is 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'")]
    ApiKeyName,
    /// A desk name of the wrong shape.
    #[error("a desk name is 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'")]
    DeskName,
    /// No unused desk sign-in code was found.
    #[error("could not pick a free sign-in code; try again")]
    NoFreeDeskCode,
    /// A time zone preference of the wrong shape.
    #[error("a time zone is at most 64 characters without spaces")]
    PreferenceZone,
    /// A language preference of the wrong shape.
    #[error("a language is at most 64 characters without spaces")]
    PreferenceLanguage,
    /// The first-admin setup asked for while staff exist.
    #[error("staff accounts exist already; an admin adds further accounts")]
    StaffExistAlready,
    /// A setup link lifetime that is not positive.
    #[error("the setup link needs a positive lifetime")]
    SetupLifetime,

    // ---- bulk provisioning ----
    /// Bulk seeds are made for tokens showing 6 digits.
    #[error("bulk seeds are for tokens that show 6 digits")]
    BulkDigits,
    /// A bulk list without users.
    #[error("the list names no users")]
    EmptyUserList,
    /// A desk's fetch without the serial of the token on its reader.
    #[error("give the serial of the token on the reader")]
    SerialMissing,

    // ---- the operator's tools ----
    /// Backup, restore, key file and key rotation details, worded for the operator at the
    /// command line (paths, I/O errors). Only the CLI meets these; no page shows them, so they
    /// stay English.
    #[error("{0}")]
    Operator(String),
}

/// The Entra ID rule a new record's user name breaks ([`Invalid::EntraUpn`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpnRule {
    /// No `@`.
    #[error("it needs an @")]
    NeedsAt,
    /// A character not allowed before the `@`.
    #[error("{0:?} is not allowed before the @ (letters, digits and ' . - _ ! # ^ ~ are)")]
    LocalChar(char),
    /// More than 64 characters before the `@`.
    #[error("more than 64 characters before the @")]
    LocalTooLong,
    /// A dot at the start or end of the part before the `@`.
    #[error("the part before the @ may not start or end with a dot")]
    LocalDot,
    /// More than 48 characters after the `@`.
    #[error("more than 48 characters after the @")]
    DomainTooLong,
    /// A character not allowed in the domain.
    #[error("{0:?} is not allowed in the domain (letters, digits, - and . are)")]
    DomainChar(char),
    /// A domain without two labels, or with an empty or hyphen-edged one.
    #[error("the domain must look like contoso.com")]
    DomainShape,
}

impl From<Invalid> for crate::VaultError {
    fn from(i: Invalid) -> Self {
        crate::VaultError::Invalid(i)
    }
}
