//! The words of a refusal's detail in the reader's language: each reason the vault gives
//! ([`Invalid`], [`ApprovalRefusal`], [`BurnGrantRefusal`]) and each reason the seed parser
//! gives ([`InputError`], [`ParamError`], [`TimeError`], [`SeedProblem`]) as a catalogue
//! message (`detail-*`) with its values as arguments. The English catalogue text equals the
//! `Display` the JSON API and the CLI print. The vault's reasons are matched exhaustively (a new
//! one does not compile until it is worded here); the seed parser's enums are another crate's
//! `#[non_exhaustive]` API, so a future variant falls back to its English `Display`. No message
//! carries a secret: the values are user names, states, numbers and rejected characters.

use tokendesk_formats::graph::GraphError;
use tokendesk_otp::{InputError, Malformed, ParamError, TimeError};
use tokendesk_vault::{
    ApprovalRefusal, BurnGrantRefusal, Invalid, RecordError, RevealError, StaffError,
    TransitionError, UpnRule, VaultError, WindowRefusal,
};

use crate::i18n::{Arg, Msg};
use crate::toolset::SeedProblem;

/// The page wording of a vault error, where the vault words a detail: `None` for errors the
/// catalogue words by their code (`problem-*`).
pub(crate) fn vault(err: &VaultError) -> Option<Msg> {
    match err {
        VaultError::Invalid(i) => Some(Msg::new("detail-invalid-input").arg("detail", invalid(i))),
        VaultError::Reveal(RevealError::ApprovalInvalid { id, reason }) => Some(
            Msg::new("detail-approval")
                .arg("id", id)
                .arg("reason", approval(*reason)),
        ),
        VaultError::Staff(StaffError::BurnGrantRefused { reason }) => Some(burn_grant(*reason)),
        VaultError::Record(RecordError::Transition(t)) => Some(transition(t)),
        VaultError::Reveal(RevealError::OutsideRevealWindow(w)) => Some(window(w)),
        VaultError::Record(RecordError::ActiveRecordExists { upn, state }) => Some(
            Msg::new("detail-active-record-exists")
                .arg("upn", upn)
                .arg("state", *state),
        ),
        VaultError::Record(RecordError::CodeMismatch { upn, window_steps }) => Some(
            Msg::new("detail-code-mismatch")
                .arg("upn", upn)
                .arg("steps", *window_steps),
        ),
        VaultError::Staff(StaffError::NoRole { login }) => {
            Some(Msg::new("detail-no-role").arg("login", login))
        }
        VaultError::Staff(StaffError::LinkedElsewhere { username }) => {
            Some(Msg::new("detail-linked-elsewhere").arg("username", quoted(username)))
        }
        VaultError::Staff(StaffError::ProviderLoginUnusable { login, reason }) => Some(
            Msg::new("detail-provider-login-unusable")
                .arg("login", quoted(login))
                .arg("reason", invalid(reason)),
        ),
        VaultError::Staff(StaffError::Disabled) => Some(Msg::new("detail-account-disabled")),
        VaultError::Staff(StaffError::FlowInvalid) => Some(Msg::new("detail-flow-invalid")),
        // The rest is worded by its code (`problem-*`), or is the server's own failure.
        _ => None,
    }
}

/// Why Microsoft Graph's requirements refuse a token (a public enum of another crate: a
/// variant added there later is shown in English until it is worded here).
fn graph(e: &GraphError) -> Msg {
    match e {
        GraphError::Algorithm { upn, algorithm } => Msg::new("detail-graph-algorithm")
            .arg("upn", upn)
            .arg("algorithm", algorithm.as_str()),
        GraphError::Period { upn, period_secs } => Msg::new("detail-graph-period")
            .arg("upn", upn)
            .arg("secs", i64::from(*period_secs)),
        GraphError::Missing { upn, field } => Msg::new("detail-graph-missing")
            .arg("upn", upn)
            .arg("field", *field),
        GraphError::SecretTooLong { upn } => {
            Msg::new("detail-graph-secret-too-long").arg("upn", upn)
        }
        GraphError::Serialise => Msg::new("detail-graph-serialise"),
        other => Msg::new("detail-untranslated").arg("text", other.to_string()),
    }
}

/// A time outside the reveal window (durations as `2 h` or `90 s`, the same in every language).
fn window(w: &WindowRefusal) -> Msg {
    let d = WindowRefusal::duration;
    match w {
        WindowRefusal::Ahead {
            ahead_secs,
            max_secs,
        } => Msg::new("detail-window-ahead")
            .arg("ahead", d(*ahead_secs))
            .arg("max", d(*max_secs)),
        WindowRefusal::Past {
            ago_secs,
            steps,
            back_secs,
        } => Msg::new("detail-window-past")
            .arg("ago", d(*ago_secs))
            .arg("steps", *steps)
            .arg("back", *back_secs),
    }
}

/// A move the lifecycle does not allow, with the states named in the reader's language.
fn transition(t: &TransitionError) -> Msg {
    let allowed: Vec<&'static str> = t.from.next_states().iter().map(|s| s.as_str()).collect();
    let msg = if allowed.is_empty() {
        Msg::new("detail-transition-final")
    } else {
        Msg::new("detail-transition").arg("allowed", Arg::States(allowed))
    };
    msg.arg("from", t.from).arg("to", t.to)
}

/// `{value:?}`: the vault quotes user input the way Rust's `Debug` does.
fn quoted(value: &str) -> String {
    format!("{value:?}")
}

/// Why input cannot be stored.
pub(crate) fn invalid(i: &Invalid) -> Msg {
    match i {
        Invalid::Email { email } => Msg::new("detail-email").arg("email", quoted(email)),
        Invalid::TimeZone { zone } => Msg::new("detail-time-zone").arg("zone", quoted(zone)),
        Invalid::LanguageTag { tag } => Msg::new("detail-language-tag").arg("tag", quoted(tag)),
        Invalid::UpnEmpty => Msg::new("detail-upn-empty"),
        Invalid::UpnSpaces { upn } => Msg::new("detail-upn-spaces").arg("upn", quoted(upn)),
        Invalid::NotUpn { upn } => Msg::new("detail-not-upn").arg("upn", quoted(upn)),
        Invalid::UpnTooLong => Msg::new("detail-upn-too-long"),
        Invalid::EntraUpn { upn, rule } => Msg::new("detail-entra-upn")
            .arg("upn", quoted(upn))
            .arg("rule", upn_rule(rule)),
        Invalid::Digits { digits } => Msg::new("detail-digits").arg("digits", *digits),
        Invalid::Period { secs } => Msg::new("detail-period").arg("secs", *secs),
        Invalid::Param(e) => param(e),
        Invalid::Item { item, reason } => Msg::new("detail-item")
            .arg("item", *item)
            .arg("reason", invalid(reason)),
        Invalid::BatchActiveRecord => Msg::new("detail-batch-active-record"),
        Invalid::NotStored => Msg::new("detail-not-stored"),
        Invalid::ChangedMeanwhile { upn } => Msg::new("detail-changed-meanwhile").arg("upn", upn),
        Invalid::PageLinkStale => Msg::new("detail-page-link-stale"),
        Invalid::CodeAmbiguous => Msg::new("detail-code-ambiguous"),
        Invalid::ClaimNotCaptured { upn, state } => Msg::new("detail-claim-not-captured")
            .arg("upn", upn)
            .arg("state", *state),
        Invalid::BoundToOtherToken { upn, serial } => Msg::new("detail-bound-to-other-token")
            .arg("upn", upn)
            .arg("serial", serial),
        Invalid::TokenTaken { serial, upn, state } => Msg::new("detail-token-taken")
            .arg("serial", serial)
            .arg("upn", upn)
            .arg("state", *state),
        Invalid::BeforeEpoch => Msg::new("detail-before-epoch"),
        Invalid::Time(e) => time(e),
        Invalid::UnknownMethod { given } => {
            Msg::new("detail-unknown-method").arg("given", quoted(given))
        }
        Invalid::UnknownPurpose { given } => {
            Msg::new("detail-unknown-purpose").arg("given", quoted(given))
        }
        Invalid::TicketMissing => Msg::new("detail-ticket-missing"),
        Invalid::TicketTooLong { max } => Msg::new("detail-ticket-too-long").arg("max", *max),
        Invalid::RevealSteps => Msg::new("detail-reveal-steps"),
        Invalid::PassphraseUtf8 => Msg::new("detail-passphrase-utf8"),
        Invalid::PassphraseTooShort { min } => {
            Msg::new("detail-passphrase-too-short").arg("min", *min)
        }
        Invalid::PassphraseInactive { upn, state } => Msg::new("detail-passphrase-inactive")
            .arg("upn", upn)
            .arg("state", *state),
        Invalid::NoPassphrase { upn } => Msg::new("detail-no-passphrase").arg("upn", upn),
        Invalid::ApprovalRequestIncomplete => Msg::new("detail-approval-request-incomplete"),
        Invalid::ExportPurged { state } => Msg::new("detail-export-purged").arg("state", *state),
        Invalid::ExportRefused { reason } => {
            Msg::new("detail-export-refused").arg("reason", graph(reason))
        }
        Invalid::NoteAction { action } => {
            Msg::new("detail-note-action").arg("action", quoted(action))
        }
        Invalid::UserName => Msg::new("detail-user-name"),
        Invalid::DisplayName => Msg::new("detail-display-name"),
        Invalid::PasswordUtf8 => Msg::new("detail-password-utf8"),
        Invalid::PasswordTooShort { min } => Msg::new("detail-password-too-short").arg("min", *min),
        Invalid::PasswordTooLong => Msg::new("detail-password-too-long"),
        Invalid::PasswordIsUserName => Msg::new("detail-password-is-user-name"),
        Invalid::PasswordUnchanged => Msg::new("detail-password-unchanged"),
        Invalid::EnrolmentMissing => Msg::new("detail-enrolment-missing"),
        Invalid::ApiKeyName => Msg::new("detail-api-key-name"),
        Invalid::DeskName => Msg::new("detail-desk-name"),
        Invalid::NoFreeDeskCode => Msg::new("detail-no-free-desk-code"),
        Invalid::PreferenceZone => Msg::new("detail-preference-zone"),
        Invalid::PreferenceLanguage => Msg::new("detail-preference-language"),
        Invalid::StaffExistAlready => Msg::new("detail-staff-exist-already"),
        Invalid::SetupLifetime => Msg::new("detail-setup-lifetime"),
        Invalid::BulkDigits => Msg::new("detail-bulk-digits"),
        Invalid::EmptyUserList => Msg::new("detail-empty-user-list"),
        Invalid::SerialMissing => Msg::new("detail-serial-missing"),
        // The operator's tools (backup, restore, key files, rotation) are CLI-only.
        Invalid::Operator(text) => Msg::new("detail-operator").arg("text", text),
    }
}

/// The Entra ID rule a user name breaks.
fn upn_rule(rule: &UpnRule) -> Msg {
    match rule {
        UpnRule::NeedsAt => Msg::new("detail-upn-needs-at"),
        UpnRule::LocalChar(c) => Msg::new("detail-upn-local-char").arg("char", format!("{c:?}")),
        UpnRule::LocalTooLong => Msg::new("detail-upn-local-too-long"),
        UpnRule::LocalDot => Msg::new("detail-upn-local-dot"),
        UpnRule::DomainTooLong => Msg::new("detail-upn-domain-too-long"),
        UpnRule::DomainChar(c) => Msg::new("detail-upn-domain-char").arg("char", format!("{c:?}")),
        UpnRule::DomainShape => Msg::new("detail-upn-domain-shape"),
    }
}

/// Why an approval cannot be given or used.
pub(crate) fn approval(reason: ApprovalRefusal) -> Msg {
    match reason {
        ApprovalRefusal::Unknown => Msg::new("detail-approval-unknown"),
        ApprovalRefusal::ApprovedAlready => Msg::new("detail-approval-approved-already"),
        ApprovalRefusal::RequestExpired => Msg::new("detail-approval-request-expired"),
        ApprovalRefusal::OwnRequest => Msg::new("detail-approval-own-request"),
        ApprovalRefusal::NotApproved => Msg::new("detail-approval-not-approved"),
        ApprovalRefusal::OwnApproval => Msg::new("detail-approval-own-approval"),
        ApprovalRefusal::Used => Msg::new("detail-approval-used"),
        ApprovalRefusal::Expired => Msg::new("detail-approval-expired"),
        ApprovalRefusal::OtherRecord => Msg::new("detail-approval-other-record"),
    }
}

/// Why a burn grant is refused.
pub(crate) fn burn_grant(reason: BurnGrantRefusal) -> Msg {
    match reason {
        BurnGrantRefusal::StaffOnly => Msg::new("detail-grant-staff-only"),
        BurnGrantRefusal::NotCaptured => Msg::new("detail-grant-not-captured"),
        BurnGrantRefusal::NotAGrant => Msg::new("detail-grant-not-a-grant"),
        BurnGrantRefusal::Unknown => Msg::new("detail-grant-unknown"),
        BurnGrantRefusal::OtherPerson => Msg::new("detail-grant-other-person"),
        BurnGrantRefusal::Used => Msg::new("detail-grant-used"),
        BurnGrantRefusal::UsedMeanwhile => Msg::new("detail-grant-used-meanwhile"),
        BurnGrantRefusal::Expired => Msg::new("detail-grant-expired"),
        BurnGrantRefusal::NoLongerCaptured => Msg::new("detail-grant-no-longer-captured"),
    }
}

/// Why pasted or scanned text is no usable seed.
pub(crate) fn seed(problem: &SeedProblem) -> Msg {
    match problem {
        SeedProblem::Input(e) => input(e),
        SeedProblem::Hotp => Msg::new("detail-seed-hotp"),
        SeedProblem::Migration { accounts } => {
            Msg::new("detail-seed-migration").arg("count", *accounts)
        }
    }
}

/// A rejected character as the seed parser describes it: a space, a control character by its
/// code point, anything else in quotes (a rejected character is no part of a valid secret).
fn character(c: char) -> Msg {
    match c {
        ' ' => Msg::new("detail-char-space"),
        c if c.is_control() => {
            Msg::new("detail-char-control").arg("code", format!("U+{:04X}", u32::from(c)))
        }
        c => Msg::new("detail-char").arg("char", format!("'{c}'")),
    }
}

/// The hint for a digit that looks like a letter, or nothing.
fn lookalike(c: char) -> Vec<Msg> {
    match c {
        '0' => vec![Msg::new("detail-lookalike-zero")],
        '1' => vec![Msg::new("detail-lookalike-one")],
        '8' => vec![Msg::new("detail-lookalike-eight")],
        '9' => vec![Msg::new("detail-lookalike-nine")],
        _ => Vec::new(),
    }
}

/// Why text is no TOTP seed.
pub(crate) fn input(e: &InputError) -> Msg {
    match e {
        InputError::Empty => Msg::new("detail-seed-empty"),
        InputError::NotBase32 {
            position,
            character: c,
        } => Msg::new("detail-not-base32")
            .arg("position", *position)
            .arg("character", character(*c))
            .arg("hint", lookalike(*c)),
        InputError::MisplacedPadding { position } => {
            Msg::new("detail-misplaced-padding").arg("position", *position)
        }
        InputError::Base32Length { chars } => Msg::new("detail-base32-length").arg("chars", *chars),
        InputError::Base32TrailingBits => Msg::new("detail-base32-trailing-bits"),
        InputError::NotHex {
            position,
            character: c,
        } => Msg::new("detail-not-hex")
            .arg("position", *position)
            .arg("character", character(*c)),
        InputError::HexOddLength { digits } => {
            Msg::new("detail-hex-odd-length").arg("digits", *digits)
        }
        InputError::TooShort { bits } => Msg::new("detail-seed-too-short").arg("bits", *bits),
        InputError::TooLong { bytes, max } => Msg::new("detail-seed-too-long")
            .arg("bytes", *bytes)
            .arg("max", *max),
        InputError::MicrosoftPushQr => Msg::new("detail-microsoft-push-qr"),
        InputError::Passkey => Msg::new("detail-passkey"),
        InputError::SerialBarcode { digits } => {
            Msg::new("detail-serial-barcode").arg("digits", *digits)
        }
        // The parser names a well-known scheme, else says "another kind of" (never the text).
        InputError::OtherUrl { scheme } if scheme.contains(' ') => {
            Msg::new("detail-other-url-unknown")
        }
        InputError::OtherUrl { scheme } => Msg::new("detail-other-url").arg("scheme", scheme),
        InputError::UriType => Msg::new("detail-uri-type"),
        InputError::UriMissingSecret => Msg::new("detail-uri-missing-secret"),
        InputError::UriDuplicate { name } => Msg::new("detail-uri-duplicate").arg("name", *name),
        InputError::UriMissingCounter => Msg::new("detail-uri-missing-counter"),
        InputError::UriNumber { name } => Msg::new("detail-uri-number").arg("name", *name),
        InputError::UriMalformed { reason } => {
            Msg::new("detail-uri-malformed").arg("reason", parser_reason(*reason))
        }
        InputError::Param(p) => param(p),
        InputError::MigrationData { reason } => {
            Msg::new("detail-migration-data").arg("reason", parser_reason(*reason))
        }
        InputError::MigrationMd5 { index } => Msg::new("detail-migration-md5").arg("index", *index),
        InputError::MigrationEmpty => Msg::new("detail-migration-empty"),
        _ => Msg::new("detail-untranslated").arg("text", e.to_string()),
    }
}

/// The reason inside `UriMalformed` and `MigrationData`, in the reader's language.
fn parser_reason(reason: Malformed) -> Msg {
    Msg::new(match reason {
        Malformed::PercentNotUtf8 => "detail-why-percent-utf8",
        Malformed::NotOtpauth => "detail-why-not-otpauth",
        Malformed::NoData => "detail-why-no-data",
        Malformed::DataTooLarge => "detail-why-too-large",
        Malformed::DataNotText => "detail-why-not-text",
        Malformed::DataNotBase64 => "detail-why-not-base64",
        Malformed::NotExportMessage => "detail-why-not-export",
        Malformed::AccountAlgorithm => "detail-why-account-algorithm",
        Malformed::AccountDigits => "detail-why-account-digits",
        Malformed::AccountCounter => "detail-why-account-counter",
        Malformed::AccountType => "detail-why-account-type",
    })
}

/// Why an OTP parameter is refused.
pub(crate) fn param(e: &ParamError) -> Msg {
    match e {
        ParamError::Digits { given } => Msg::new("detail-param-digits").arg("given", *given),
        ParamError::Period { given } => Msg::new("detail-param-period").arg("given", *given),
        ParamError::Algorithm { given } if given.is_empty() => {
            Msg::new("detail-param-algorithm-unnamed")
        }
        ParamError::Algorithm { given } => {
            Msg::new("detail-param-algorithm").arg("name", quoted(given))
        }
        _ => Msg::new("detail-untranslated").arg("text", e.to_string()),
    }
}

/// Why a time cannot be a TOTP step.
pub(crate) fn time(e: &TimeError) -> Msg {
    match e {
        TimeError::BeforeT0 => Msg::new("detail-time-before-t0"),
        TimeError::OutOfRange => Msg::new("detail-time-out-of-range"),
        _ => Msg::new("detail-untranslated").arg("text", e.to_string()),
    }
}

#[cfg(test)]
mod tests;
