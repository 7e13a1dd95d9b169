//! Record types and their mapping to rows. Public types carry no secret material: the sealed
//! seed and wrapped key never leave this crate.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::StoreError;
use crate::error::{Result, VaultError};
use crate::invalid::{Invalid, UpnRule};
use crate::state::State;
use crate::store::clock::UnixTime;
mod batch;
mod capture;
mod claim;
mod lifecycle;
mod listing;
mod lookup;
mod sealed;

pub use batch::{BULK_SEED_BYTES, Batch, BatchSummary, is_burned};
pub use claim::{bound_elsewhere, token_taken};
pub(crate) use lifecycle::Extra;
pub use lifecycle::TokenUpdate;
pub use listing::{MAX_PAGE_SIZE, PageCursor, PageQuery, RecordPage};
pub use lookup::ListFilter;
pub(crate) use lookup::{current_record, record_in};
pub(crate) use sealed::{SealedRow, sealed_from_row, sealed_row, totp_for};

pub use tokendesk_otp::Algorithm;

/// Token parameters stored with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenParams {
    /// Hash function.
    pub algorithm: Algorithm,
    /// Code length (6 or 8).
    pub digits: u32,
    /// Time step in seconds (30 or 60).
    pub period_secs: u32,
}

impl Default for TokenParams {
    fn default() -> Self {
        Self {
            algorithm: Algorithm::Sha1,
            digits: 6,
            period_secs: 30,
        }
    }
}

/// What a provisioner records at capture time (besides the seed).
#[derive(Debug, Clone, Default)]
pub struct NewRecord {
    /// The user's UPN; stored lowercase.
    pub upn: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Phone number for call-back verification.
    pub phone: Option<String>,
    /// Free-text notes (no secrets).
    pub notes: Option<String>,
    /// Token serial number.
    pub serial: Option<String>,
    /// Token model.
    pub model: Option<String>,
    /// Token manufacturer.
    pub manufacturer: Option<String>,
    /// Algorithm, digits, period.
    pub params: TokenParams,
    /// Where codes and notices for the user are e-mailed (not the UPN's mailbox, which the
    /// user cannot open without a code).
    pub email: Option<String>,
    /// The user's IANA time zone, for times written to the user.
    pub time_zone: Option<String>,
}

impl NewRecord {
    /// A record to capture from one row of an import file, with its seed (the CLI and the
    /// JSON API import through this one mapping).
    pub fn from_token_row(row: tokendesk_formats::TokenRow) -> (Self, tokendesk_otp::Secret) {
        let new = Self {
            upn: row.upn,
            serial: row.serial,
            manufacturer: row.manufacturer,
            model: row.model,
            params: TokenParams {
                algorithm: row.algorithm,
                digits: row.digits,
                period_secs: row.period_secs,
            },
            ..Self::default()
        };
        (new, row.secret)
    }
}

/// Shipment details.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shipment {
    /// Carrier name.
    pub carrier: Option<String>,
    /// Tracking number.
    pub tracking: Option<String>,
    /// Expected delivery.
    pub expected_unix_secs: Option<i64>,
}

/// The id of one record. Lifecycle moves take it, so they act on exactly the record named and
/// never on a newer record of the same user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordId(pub String);

impl std::fmt::Display for RecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&Record> for RecordId {
    fn from(r: &Record) -> Self {
        Self(r.id.clone())
    }
}

/// A stored record as shown to staff. Holds no seed or key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Record id (UUID text).
    pub id: String,
    /// User (lowercase UPN).
    pub upn: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Phone for call-back.
    pub phone: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// Token serial.
    pub serial: Option<String>,
    /// Token model.
    pub model: Option<String>,
    /// Token manufacturer.
    pub manufacturer: Option<String>,
    /// Algorithm, digits, period.
    pub params: TokenParams,
    /// Measured token clock drift in steps.
    pub drift_steps: i64,
    /// Lifecycle state.
    pub state: State,
    /// Shipment.
    pub shipment: Shipment,
    /// Staff member who captured it.
    pub created_by: String,
    /// Capture time.
    pub created_unix_secs: i64,
    /// Last change.
    pub updated_unix_secs: i64,
    /// When it was shipped.
    pub shipped_unix_secs: Option<i64>,
    /// When a delivered record's seed is due for purge.
    pub purge_due_unix_secs: Option<i64>,
    /// Key version the seed is sealed under (None once purged).
    pub key_version: Option<i64>,
    /// Whether the sealed seed still exists.
    pub has_seed: bool,
    /// Whether a caller passphrase was recorded (offer the passphrase check).
    pub has_passphrase: bool,
    /// Where codes and notices for the user are e-mailed.
    pub email: Option<String>,
    /// The user's IANA time zone.
    pub time_zone: Option<String>,
    /// The user's language (a tag such as `de`) for e-mails and the message for the user.
    pub language: Option<String>,
}

/// Columns selected for a [`Record`]; `seed_present` avoids reading ciphertext for listings.
impl Record {
    /// The record as JSON, the one shape the API answers and `tokendesk list --json` prints:
    /// never the seed, only whether one is still held.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "upn": self.upn,
            "display_name": self.display_name,
            "phone": self.phone,
            "email": self.email,
            "time_zone": self.time_zone,
            "language": self.language,
            "notes": self.notes,
            "state": self.state.as_str(),
            "token": {
                "serial": self.serial,
                "model": self.model,
                "manufacturer": self.manufacturer,
                "algorithm": self.params.algorithm.as_str(),
                "digits": self.params.digits,
                "period": self.params.period_secs,
                "drift_steps": self.drift_steps,
            },
            "shipment": {
                "carrier": self.shipment.carrier,
                "tracking": self.shipment.tracking,
                "shipped_unix_secs": self.shipped_unix_secs,
                "expected_unix_secs": self.shipment.expected_unix_secs,
            },
            "created_by": self.created_by,
            "created_unix_secs": self.created_unix_secs,
            "updated_unix_secs": self.updated_unix_secs,
            "purge_due_unix_secs": self.purge_due_unix_secs,
            "key_version": self.key_version,
            "has_seed": self.has_seed,
        })
    }
}

pub(crate) const RECORD_COLUMNS: &str = "id, upn, display_name, phone, notes, serial, model, \
    manufacturer, algorithm, digits, period_secs, drift_steps, state, carrier, tracking, \
    expected_unix_secs, created_by, created_unix_secs, updated_unix_secs, shipped_unix_secs, \
    purge_due_unix_secs, key_version, email, time_zone, language, \
    CAST(CASE WHEN sealed_seed IS NULL THEN 0 ELSE 1 END AS BIGINT) AS seed_present, \
    CAST(CASE WHEN passphrase_hash IS NULL THEN 0 ELSE 1 END AS BIGINT) AS passphrase_present";

fn to_u32(v: i64, what: &str) -> Result<u32> {
    u32::try_from(v)
        .map_err(|_| VaultError::Store(StoreError::Corrupt(format!("{what} out of range"))))
}

pub(crate) fn record_from_row(row: &AnyRow) -> Result<Record> {
    let state: String = row.try_get("state")?;
    let algorithm: String = row.try_get("algorithm")?;
    let seed_present: i64 = row.try_get("seed_present")?;
    Ok(Record {
        id: row.try_get("id")?,
        upn: row.try_get("upn")?,
        display_name: row.try_get("display_name")?,
        phone: row.try_get("phone")?,
        notes: row.try_get("notes")?,
        serial: row.try_get("serial")?,
        model: row.try_get("model")?,
        manufacturer: row.try_get("manufacturer")?,
        params: TokenParams {
            algorithm: algorithm.parse().map_err(|_| {
                VaultError::Store(StoreError::Corrupt(format!(
                    "unknown algorithm {algorithm:?}"
                )))
            })?,
            digits: to_u32(row.try_get("digits")?, "digits")?,
            period_secs: to_u32(row.try_get("period_secs")?, "period")?,
        },
        drift_steps: row.try_get("drift_steps")?,
        state: state.parse().map_err(StoreError::Corrupt)?,
        shipment: Shipment {
            carrier: row.try_get("carrier")?,
            tracking: row.try_get("tracking")?,
            expected_unix_secs: row.try_get("expected_unix_secs")?,
        },
        created_by: row.try_get("created_by")?,
        created_unix_secs: row.try_get("created_unix_secs")?,
        updated_unix_secs: row.try_get("updated_unix_secs")?,
        shipped_unix_secs: row.try_get("shipped_unix_secs")?,
        purge_due_unix_secs: row.try_get("purge_due_unix_secs")?,
        key_version: row.try_get("key_version")?,
        has_seed: seed_present != 0,
        has_passphrase: row.try_get::<i64, _>("passphrase_present")? != 0,
        email: row.try_get("email")?,
        time_zone: row.try_get("time_zone")?,
        language: row.try_get("language")?,
    })
}

/// Checks an e-mail address for codes and notices: trimmed, at most 254 characters, one `@`
/// between a local part and a domain with a dot, no spaces, control characters or `<>,;"`.
///
/// # Errors
/// [`VaultError::Invalid`] naming what is wrong.
pub fn check_email(email: &str) -> Result<String> {
    let email = email.trim();
    let bad = || {
        VaultError::from(Invalid::Email {
            email: email.to_owned(),
        })
    };
    if email.is_empty()
        || email.len() > 254
        || email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"()[]\\".contains(c))
    {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    Ok(email.to_owned())
}

/// Checks the shape of an IANA time zone name (`Europe/Berlin`); whether the zone exists is
/// checked at the edge, against the time zone database.
///
/// # Errors
/// [`VaultError::Invalid`].
pub fn check_time_zone_name(zone: &str) -> Result<String> {
    let zone = zone.trim();
    let ok = |c: char| c.is_ascii_alphanumeric() || "/_+-".contains(c);
    if zone.is_empty() || zone.len() > 64 || !zone.chars().all(ok) {
        return Err(Invalid::TimeZone {
            zone: zone.to_owned(),
        }
        .into());
    }
    Ok(zone.to_owned())
}

/// Checks the shape of a language tag (`de`, `fr-CH`): letters, digits and `-`, at most 35
/// characters; whether the pages know the language is checked at the edge.
///
/// # Errors
/// [`VaultError::Invalid`].
pub fn check_language_tag(tag: &str) -> Result<String> {
    let tag = tag.trim();
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '-';
    if tag.is_empty() || tag.len() > 35 || !tag.chars().all(ok) {
        return Err(Invalid::LanguageTag {
            tag: tag.to_owned(),
        }
        .into());
    }
    Ok(tag.to_owned())
}

/// Lowercases and checks a UPN: non-empty, no whitespace or control characters, one `@`.
///
/// # Errors
/// [`VaultError::Invalid`] saying what is wrong.
pub fn normalise_upn(upn: &str) -> Result<String> {
    let upn = upn.trim().to_lowercase();
    if upn.is_empty() {
        return Err(Invalid::UpnEmpty.into());
    }
    if upn.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Invalid::UpnSpaces { upn }.into());
    }
    if upn.matches('@').count() != 1 || upn.starts_with('@') || upn.ends_with('@') {
        return Err(Invalid::NotUpn { upn }.into());
    }
    if upn.len() > 256 {
        return Err(Invalid::UpnTooLong.into());
    }
    Ok(upn)
}

/// Characters Microsoft allows in the part of a UPN before the `@`, besides ASCII letters and
/// digits ("Username policies" in Entra ID: `' . - _ ! # ^ ~`).
const UPN_LOCAL_EXTRA: &str = "'.-_!#^~";

/// Normalises a UPN given for a *new* record (capture, import) and checks it against Entra ID's
/// username rules, so that no stored user name can break a CSV column or start a spreadsheet
/// formula: ASCII letters, digits and `' . - _ ! # ^ ~` before exactly one `@` (1–64
/// characters, not starting or ending with a dot), then a domain of dot-separated labels of
/// letters, digits and hyphens (at least two labels, 1–48 characters in all). Lookups keep
/// using the lenient [`normalise_upn`], so records stored before this rule stay reachable.
///
/// # Errors
/// [`VaultError::Invalid`] naming the first character or rule that fails.
pub fn validate_upn(upn: &str) -> Result<String> {
    let upn = normalise_upn(upn)?;
    let invalid = |rule: UpnRule| {
        Err(Invalid::EntraUpn {
            upn: upn.clone(),
            rule,
        }
        .into())
    };
    let Some((local, domain)) = upn.split_once('@') else {
        return invalid(UpnRule::NeedsAt);
    };
    if let Some(c) = local
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !UPN_LOCAL_EXTRA.contains(*c))
    {
        return invalid(UpnRule::LocalChar(c));
    }
    if local.len() > 64 {
        return invalid(UpnRule::LocalTooLong);
    }
    if local.starts_with('.') || local.ends_with('.') {
        return invalid(UpnRule::LocalDot);
    }
    if domain.len() > 48 {
        return invalid(UpnRule::DomainTooLong);
    }
    if let Some(c) = domain
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && *c != '-' && *c != '.')
    {
        return invalid(UpnRule::DomainChar(c));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels
            .iter()
            .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
    {
        return invalid(UpnRule::DomainShape);
    }
    Ok(upn)
}

/// Checks digits and period.
///
/// # Errors
/// [`VaultError::Invalid`] for unsupported values.
pub fn check_params(params: &TokenParams) -> Result<()> {
    if !(6..=10).contains(&params.digits) {
        return Err(Invalid::Digits {
            digits: params.digits,
        }
        .into());
    }
    if !(1..=3600).contains(&params.period_secs) {
        return Err(Invalid::Period {
            secs: params.period_secs,
        }
        .into());
    }
    Ok(())
}

/// A fresh random id (UUID v4 text): staff, keys, approvals, desk sessions.
pub(crate) fn new_record_id() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|_| tokendesk_crypto::CryptoError::Random)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(uuid_text(&b))
}

/// A fresh record id, in time order: UUID version 7 text (RFC 9562) with the vault clock's time
/// (whole seconds, as milliseconds), a 30-bit counter of this process (RFC 9562's "fixed
/// bit-length dedicated counter", so ids of one second still ascend) and 44 random bits.
/// Ascending ids go to the end of the id index instead of a random place in it, which keeps a
/// 100,000-record import from touching every page of that index (issue 18). The time says no
/// more than the record's `created_unix_secs`.
pub(crate) fn new_time_ordered_id(now: UnixTime) -> Result<String> {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|_| tokendesk_crypto::CryptoError::Random)?;
    let millis = u64::try_from(now.0).unwrap_or(0).saturating_mul(1000);
    b[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & 0x3fff_ffff;
    let bits = |shift: u32, mask: u32| u8::try_from((n >> shift) & mask).unwrap_or(0);
    b[6] = 0x70 | bits(26, 0x0f);
    b[7] = bits(18, 0xff);
    b[8] = 0x80 | bits(12, 0x3f);
    b[9] = bits(4, 0xff);
    b[10] = (b[10] & 0x0f) | (bits(0, 0x0f) << 4);
    Ok(uuid_text(&b))
}

fn uuid_text(b: &[u8; 16]) -> String {
    let hex = data_encoding::HEXLOWER.encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        hex.get(0..8).unwrap_or_default(),
        hex.get(8..12).unwrap_or_default(),
        hex.get(12..16).unwrap_or_default(),
        hex.get(16..20).unwrap_or_default(),
        hex.get(20..32).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upns_follow_entra_rules() {
        for ok in [
            "alice@contoso.com",
            "A.Lice@Contoso.COM",
            "o'brien@x.onmicrosoft.com",
            "a-b_c!d#e^f~g@sub.contoso-eu.com",
        ] {
            assert!(validate_upn(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a,b@contoso.com",
            "\"a\"@contoso.com",
            "=cmd@contoso.com",
            "+a@contoso.com",
            "a@b@contoso.com",
            "alice@contoso",
            "alice@contoso..com",
            ".alice@contoso.com",
            "alice.@contoso.com",
            "alice@-contoso.com",
            "alice@contoso.com,x",
            "alice@con=toso.com",
            "älice@contoso.com",
        ] {
            let err = validate_upn(bad).unwrap_err().to_string();
            assert!(
                err.contains("valid Entra ID user name") || err.contains("UPN"),
                "{bad}: {err}"
            );
        }
    }

    macro_rules! upn_cases {
        ($($name:ident: $input:expr => $ok:expr,)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(normalise_upn($input).ok().as_deref(), $ok);
            }
        )*};
    }

    upn_cases! {
        upn_lowercased_and_trimmed: "  Alice@Contoso.COM " => Some("alice@contoso.com"),
        upn_empty: "" => None,
        upn_inner_space: "al ice@contoso.com" => None,
        upn_no_at: "alice" => None,
        upn_two_ats: "a@b@c" => None,
        upn_trailing_at: "alice@" => None,
    }

    #[test]
    fn ids_are_uuid_v4_and_record_ids_v7_in_time_order() {
        let id = new_record_id().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert_ne!(id, new_record_id().unwrap());
        let now = UnixTime(1_765_000_000);
        let ids: Vec<String> = (0..5000)
            .map(|_| new_time_ordered_id(now).unwrap())
            .collect();
        for id in &ids {
            assert_eq!(id.len(), 36);
            assert_eq!(id.as_bytes()[14], b'7', "{id}");
            assert!(
                matches!(id.as_bytes()[19], b'8' | b'9' | b'a' | b'b'),
                "{id}"
            );
        }
        // Within one second the counter keeps them ascending; a later second sorts after.
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let later = new_time_ordered_id(UnixTime(now.0 + 1)).unwrap();
        assert!(later > ids[ids.len() - 1], "{later}");
        // The time part is the clock's, in milliseconds.
        assert!(ids[0].starts_with("019af232-b200-7"), "{}", ids[0]);
    }

    #[test]
    fn params_are_checked() {
        assert!(check_params(&TokenParams::default()).is_ok());
        assert!(
            check_params(&TokenParams {
                digits: 5,
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            check_params(&TokenParams {
                period_secs: 0,
                ..Default::default()
            })
            .is_err()
        );
    }
}
