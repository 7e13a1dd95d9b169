//! Why input could not be used. Messages say what to do next and never contain a secret, part
//! of one, or a code: positions and lengths only (a rejected character is named, since by
//! definition it is not part of a valid secret).

/// A bad OTP parameter (from a flag, an otpauth URI or an import).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// Digit count outside 6..=10.
    #[error("{given} digits is not supported; codes have 6 to 10 digits (usually 6)")]
    Digits {
        /// What was asked for.
        given: u32,
    },
    /// Period outside 1..=3600 s.
    #[error("a period of {given} s is not supported; use 1 to 3600 seconds (usually 30)")]
    Period {
        /// What was asked for.
        given: u64,
    },
    /// Unknown hash name.
    #[error("unknown algorithm{}; use SHA1, SHA256 or SHA512", quote_name(given))]
    Algorithm {
        /// What was given when it looks like a name (at most 8 letters, digits, `-` or `_`);
        /// empty otherwise, since a mangled otpauth link can run the secret into this value.
        given: String,
    },
}

/// ` "NAME"` for a non-empty name, nothing for an empty one.
fn quote_name(given: &str) -> String {
    if given.is_empty() {
        String::new()
    } else {
        format!(" {given:?}")
    }
}

/// A time outside what TOTP can express.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// The time is before the generator's `T0`.
    #[error("the time is before T0, where TOTP step 0 starts")]
    BeforeT0,
    /// The step or its start does not fit in 64 bits.
    #[error("the time step is out of range")]
    OutOfRange,
}

/// Why text could not be read as a TOTP seed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// Nothing but whitespace.
    #[error(
        "the secret is empty; paste the key shown under \"Can't scan image?\" or the otpauth:// link"
    )]
    Empty,
    /// A character outside the base32 alphabet.
    #[error("character {position} ({}) is not base32: secrets use only the letters A-Z and the digits 2-7{}; for a hex key write hex:<key>", describe(*character), lookalike_hint(*character))]
    NotBase32 {
        /// 1-based position in the text as given.
        position: usize,
        /// The rejected character.
        character: char,
    },
    /// `=` padding before the end.
    #[error(
        "character {position} is '=' padding, which may only appear at the end of a base32 secret"
    )]
    MisplacedPadding {
        /// 1-based position in the text as given.
        position: usize,
    },
    /// A base32 length that is not a whole number of bytes.
    #[error(
        "the secret has {chars} base32 characters, which is not a whole number of bytes (a character is missing or extra); check the copied text"
    )]
    Base32Length {
        /// Significant characters counted (without spaces, hyphens and padding).
        chars: usize,
    },
    /// Trailing bits that a canonical encoder would have left zero (a mistyped last character).
    #[error(
        "the last base32 character does not fit the secret's length (a character is probably mistyped); check the copied text"
    )]
    Base32TrailingBits,
    /// A character outside 0-9, a-f.
    #[error("character {position} ({}) is not a hex digit (0-9, a-f)", describe(*character))]
    NotHex {
        /// 1-based position after the `hex:` prefix.
        position: usize,
        /// The rejected character.
        character: char,
    },
    /// An odd number of hex digits.
    #[error("the hex secret has {digits} digits; a whole number of bytes needs an even count")]
    HexOddLength {
        /// Digits counted.
        digits: usize,
    },
    /// Fewer than 80 bits.
    #[error(
        "the secret has {bits} bits, fewer than the 80 required; pass --allow-short to accept it"
    )]
    TooShort {
        /// Decoded length in bits.
        bits: usize,
    },
    /// More than [`crate::MAX_SECRET_BYTES`].
    #[error(
        "the secret is {bytes} bytes long, more than the {max} bytes tokendesk accepts; check that you pasted only the key"
    )]
    TooLong {
        /// Decoded length in bytes.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A Microsoft Authenticator registration QR.
    #[error(
        "this is a Microsoft Authenticator (phonefactor://) QR code, not a TOTP seed; on Microsoft's page choose \"I want to use a different authenticator app\" and capture the new QR code"
    )]
    MicrosoftPushQr,
    /// A passkey QR.
    #[error(
        "this is a passkey (FIDO:/) QR code, not a TOTP seed; capture the authenticator-app QR code instead"
    )]
    Passkey,
    /// A digits-only barcode.
    #[error(
        "this is a {digits}-digit number, probably a token's serial-number barcode, not a seed; capture the QR code Microsoft shows, or its text key"
    )]
    SerialBarcode {
        /// How many digits.
        digits: usize,
    },
    /// Some other URL.
    #[error(
        "this is {} link, not a TOTP seed; capture the otpauth:// QR code or the text key",
        scheme_phrase(scheme)
    )]
    OtherUrl {
        /// The URL's scheme when it is a well-known one, else "another kind of".
        scheme: String,
    },
    /// `otpauth://` with a type other than totp/hotp.
    #[error("otpauth type must be totp or hotp")]
    UriType,
    /// `otpauth://` without `secret=`.
    #[error("the otpauth link has no secret= parameter; capture the whole QR code again")]
    UriMissingSecret,
    /// A parameter given twice.
    #[error("the otpauth link has the {name} parameter twice; capture the whole QR code again")]
    UriDuplicate {
        /// Parameter name.
        name: &'static str,
    },
    /// HOTP without `counter=`.
    #[error("the otpauth hotp link has no counter= parameter")]
    UriMissingCounter,
    /// Unparsable numeric parameter.
    #[error("the otpauth {name} parameter is not a whole number")]
    UriNumber {
        /// Parameter name.
        name: &'static str,
    },
    /// Bad percent-encoding or structure.
    #[error("the otpauth link is malformed ({reason}); capture the whole QR code again")]
    UriMalformed {
        /// What is wrong.
        reason: Malformed,
    },
    /// A bad parameter value.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// Migration payload that is not base64 protobuf.
    #[error("the Google Authenticator export is damaged ({reason}); export the accounts again")]
    MigrationData {
        /// What is wrong.
        reason: Malformed,
    },
    /// Migration entry using MD5, which tokendesk does not guess at.
    #[error(
        "account {index} of the Google Authenticator export uses MD5, which no token supports; re-enrol that account"
    )]
    MigrationMd5 {
        /// 1-based account index.
        index: usize,
    },
    /// Migration with no accounts.
    #[error("the Google Authenticator export holds no accounts")]
    MigrationEmpty,
}

fn scheme_phrase(scheme: &str) -> String {
    if scheme.contains(' ') {
        scheme.to_owned()
    } else {
        format!("a {scheme}:")
    }
}

fn describe(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        c if c.is_control() => format!("control character U+{:04X}", u32::from(c)),
        c => format!("'{c}'"),
    }
}

fn lookalike_hint(c: char) -> &'static str {
    match c {
        '0' => " (a zero: did you mean the letter O?)",
        '1' => " (a one: did you mean the letter I or L?)",
        '8' => " (an eight: did you mean the letter B?)",
        '9' => " (a nine: did you mean the letter G?)",
        _ => "",
    }
}

/// What is wrong inside a malformed otpauth link or a damaged Google Authenticator export
/// ([`InputError::UriMalformed`], [`InputError::MigrationData`]): a fixed reason, never the text,
/// so every one can be worded in any language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// A `%XX` sequence decodes to bytes that are not UTF-8.
    #[error("a percent-encoded part is not UTF-8")]
    PercentNotUtf8,
    /// The link does not start with `otpauth://`.
    #[error("it does not start with otpauth://")]
    NotOtpauth,
    /// An `otpauth-migration://` link without `data=`.
    #[error("no data= parameter")]
    NoData,
    /// The export's data is over the size limit.
    #[error("the data is too large")]
    DataTooLarge,
    /// The export's data is not UTF-8 text.
    #[error("the data is not text")]
    DataNotText,
    /// The export's data is not base64.
    #[error("the data is not base64")]
    DataNotBase64,
    /// The decoded data is not a migration payload.
    #[error("the data is not an export message")]
    NotExportMessage,
    /// An account names an algorithm the format does not define.
    #[error("an account has an unknown algorithm")]
    AccountAlgorithm,
    /// An account names a digit count the format does not define.
    #[error("an account has an unknown digit count")]
    AccountDigits,
    /// An account's counter is negative.
    #[error("an account has a negative counter")]
    AccountCounter,
    /// An account's type is neither TOTP nor HOTP.
    #[error("an account has an unknown type")]
    AccountType,
}
