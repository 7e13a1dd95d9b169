//! The validity period of the first certificate in a PEM file, read from its DER encoding
//! (RFC 5280 §4.1: Certificate → tbsCertificate → validity). Only the few fields in front of
//! `validity` are walked, so no X.509 library is needed for `doctor`'s expiry check.

use data_encoding::BASE64;

/// A certificate's validity window, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Validity {
    pub not_before: i64,
    pub not_after: i64,
}

/// One DER element: tag, contents, and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (content, rest) = rest.split_at(len);
    Some((tag, content, rest))
}

/// UTCTime (`YYMMDDHHMMSSZ`, RFC 5280 §4.1.2.5.1) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn parse_time(tag: u8, content: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(content).ok()?;
    let text = text.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 if text.len() == 12 => {
            let yy: i32 = text.get(..2)?.parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, text.get(2..)?)
        }
        0x18 if text.len() == 14 => (text.get(..4)?.parse().ok()?, text.get(4..)?),
        _ => return None,
    };
    let field = |i: usize| -> Option<u8> { rest.get(i..i + 2)?.parse().ok() };
    let month = time::Month::try_from(field(0)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, field(2)?).ok()?;
    let clock = time::Time::from_hms(field(4)?, field(6)?, field(8)?).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, clock)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// The validity of the first `CERTIFICATE` block in `pem`; `None` when there is none or it is
/// not a well-formed certificate.
pub(crate) fn validity(pem: &str) -> Option<Validity> {
    let begin = "-----BEGIN CERTIFICATE-----";
    let start = pem.find(begin)? + begin.len();
    let end = start + pem.get(start..)?.find("-----END CERTIFICATE-----")?;
    let b64: String = pem
        .get(start..end)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = BASE64.decode(b64.as_bytes()).ok()?;
    let (_, cert, _) = element(&der)?;
    let (_, tbs, _) = element(cert)?;
    let mut fields = tbs;
    // Optional explicit version [0], then serialNumber, signature and issuer.
    let (tag, _, rest) = element(fields)?;
    if tag == 0xa0 {
        fields = rest;
    }
    for _ in 0..3 {
        fields = element(fields)?.2;
    }
    let (_, validity, _) = element(fields)?;
    let (tag, not_before, rest) = element(validity)?;
    let not_before = parse_time(tag, not_before)?;
    let (tag, not_after, _) = element(rest)?;
    Some(Validity {
        not_before,
        not_after: parse_time(tag, not_after)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_both_encodings() {
        assert_eq!(parse_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(parse_time(0x17, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(parse_time(0x18, b"20500101000000Z"), Some(2_524_608_000));
        assert_eq!(parse_time(0x18, b"2050010100000Z"), None);
        assert_eq!(parse_time(0x17, b"701301000000Z"), None);
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        assert_eq!(validity(""), None);
        assert_eq!(
            validity("-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----"),
            None
        );
        for len in 0..64 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
            let pem = format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----",
                BASE64.encode(&bytes)
            );
            let _ = validity(&pem);
        }
    }
}
