//! Token2 TOTPVault / Molto2 CSV (formats.md): header `profile,seed,title,algorithm,digits,period`,
//! one profile per row. The seed is base32 as entered; the title names the user. Read and written
//! (the writer feeds TOTPVault, which burns Molto2 profiles).

use std::collections::HashMap;

use tokendesk_otp::{Algorithm, Secret};

use crate::account::{self, Params};
use crate::records;
use crate::{NormaliseUpn, Parsed};

/// The header, in Token2's order.
pub const HEADER: [&str; 6] = ["profile", "seed", "title", "algorithm", "digits", "period"];

/// Whether a header line is Token2's (any case, spaces around names allowed).
pub(crate) fn is_header(names: &[String]) -> bool {
    names == HEADER
}

/// Parses a whole TOTPVault CSV; row errors are `line N: …`.
pub fn parse(text: &str, normalise: NormaliseUpn<'_>) -> Parsed {
    let mut parsed = Parsed::default();
    let records = match records::read(text.trim_start_matches('\u{feff}'), ',') {
        Ok(r) => r,
        Err(e) => {
            parsed.errors.push(e);
            return parsed;
        }
    };
    let mut iter = records.into_iter();
    match iter.next() {
        Some(h) if is_header(&records::header_names(&h)) => {}
        _ => {
            parsed.errors.push(format!(
                "line 1: the header must be `{}` (Token2 TOTPVault)",
                HEADER.join(",")
            ));
            return parsed;
        }
    }
    let mut seen = HashMap::new();
    for rec in iter.filter(|r| !r.is_blank()) {
        match row(&rec, normalise) {
            Ok(row) => parsed.push_unique(&mut seen, "line", row),
            Err(e) => parsed.errors.push(format!("line {}: {e}", rec.line)),
        }
    }
    parsed
}

fn row(rec: &records::Record, normalise: NormaliseUpn<'_>) -> Result<crate::TokenRow, String> {
    if rec.fields.len() != HEADER.len() {
        return Err(format!("expected 6 columns, found {}", rec.fields.len()));
    }
    let profile = rec.get(0);
    if !profile.is_empty() && profile.parse::<u8>().is_err() {
        return Err(format!(
            "profile {profile:?} is not a profile number (0-99)"
        ));
    }
    let upn = account::pick_user(&[rec.get(2)], normalise)?;
    let secret = account::secret(rec.get(1))?;
    let number = |i: usize, default: u64, what: &str| -> Result<u64, String> {
        match rec.get(i) {
            "" => Ok(default),
            t => t
                .parse()
                .map_err(|_| format!("{what} {t:?} is not a number")),
        }
    };
    let params = Params {
        algorithm: account::algorithm(rec.get(3))?,
        digits: account::digits(number(4, 6, "digits")?)?,
        period_secs: account::period(number(5, 30, "period")?)?,
    };
    Ok(account::row(rec.line, upn, secret, params))
}

/// One profile to write.
pub struct Profile<'a> {
    /// Molto2 profile number.
    pub profile: u32,
    /// The title (the user; Molto2 shows at most 12 characters).
    pub title: &'a str,
    /// The seed.
    pub secret: &'a Secret,
    /// Hash.
    pub algorithm: Algorithm,
    /// Code length.
    pub digits: u32,
    /// Step in seconds.
    pub period_secs: u32,
}

/// The whole CSV, header first, through the one CSV writer ([`crate::csv::push_record`]).
pub fn write(profiles: &[Profile<'_>]) -> zeroize::Zeroizing<String> {
    let mut out = zeroize::Zeroizing::new(header());
    for p in profiles {
        out.push_str(&line(p));
    }
    out
}

/// The header line, for a writer that streams the profiles ([`line`]).
pub fn header() -> String {
    let mut out = String::new();
    crate::csv::push_record(&mut out, &HEADER, "\r\n");
    out
}

/// One profile's line (with its line end), sized once so the seed is never left behind in a
/// freed buffer.
pub fn line(p: &Profile<'_>) -> zeroize::Zeroizing<String> {
    let seed = p.secret.to_base32();
    let fields = [
        p.profile.to_string(),
        seed.to_string(),
        p.title.to_owned(),
        p.algorithm.as_str().to_owned(),
        p.digits.to_string(),
        p.period_secs.to_string(),
    ];
    // Every field quoted with every quote doubled, the worst case, plus separators and the end.
    let room = fields.iter().map(|f| 2 * f.len() + 4).sum::<usize>() + 2;
    let mut out = zeroize::Zeroizing::new(String::with_capacity(room));
    crate::csv::push_record(&mut out, &fields, "\r\n");
    let [_, mut s, ..] = fields;
    zeroize::Zeroize::zeroize(&mut s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../tests/fixtures/token2_totpvault.csv");

    use crate::account::test_upn as upn;

    #[test]
    fn the_fixture_reads_with_its_parameters() {
        let parsed = parse(FIXTURE, &upn);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let got: Vec<_> = parsed
            .rows
            .iter()
            .map(|r| (r.line, r.upn.as_str(), r.algorithm, r.digits, r.period_secs))
            .collect();
        assert_eq!(
            got,
            [
                (2, "alice@contoso.com", Algorithm::Sha1, 6, 30),
                (3, "bob@contoso.com", Algorithm::Sha256, 6, 60),
                (4, "carol@contoso.com", Algorithm::Sha1, 8, 30),
            ]
        );
        assert_eq!(
            parsed.rows[0].secret.to_base32().as_str(),
            "JBSWY3DPEHPK3PXP"
        );
    }

    #[test]
    fn bad_rows_are_reported_by_line_without_the_seed() {
        let text = "profile,seed,title,algorithm,digits,period\n\
                    0,JBSWY3DPEHPK3PXP,alice@contoso.com,SHA1,6,30\n\
                    1,JBSWY3DPEHPK3PX1,bob@contoso.com,SHA1,6,30\n\
                    2,JBSWY3DPEHPK3PXP,Carol,SHA1,6,30\n\
                    3,JBSWY3DPEHPK3PXP,dave@contoso.com,MD5,6,30\n\
                    4,JBSWY3DPEHPK3PXP,erin@contoso.com,SHA1,5,30\n\
                    x,JBSWY3DPEHPK3PXP,frank@contoso.com,SHA1,6,30\n\
                    6,JBSWY3DPEHPK3PXP,alice@contoso.com,SHA1,6,30\n";
        let parsed = parse(text, &upn);
        let lines: Vec<&str> = parsed
            .errors
            .iter()
            .map(|e| e.split(':').next().unwrap())
            .collect();
        assert_eq!(
            lines,
            ["line 3", "line 4", "line 5", "line 6", "line 7", "line 8"],
            "{:?}",
            parsed.errors
        );
        assert!(parsed.errors.iter().all(|e| !e.contains("JBSWY3DPEHPK3PX")));
        assert!(parsed.errors[5].contains("already appears on line 2"));
    }

    #[test]
    fn another_header_is_refused() {
        let parsed = parse("username,secret\na@b.c,JBSWY3DPEHPK3PXP\n", &upn);
        assert!(parsed.errors[0].starts_with("line 1: the header must be"));
    }

    #[test]
    fn written_profiles_read_back() {
        let a = tokendesk_otp::Secret::generate(20).unwrap();
        let b = tokendesk_otp::Secret::generate(32).unwrap();
        let text = write(&[
            Profile {
                profile: 0,
                title: "alice@contoso.com",
                secret: &a,
                algorithm: Algorithm::Sha1,
                digits: 6,
                period_secs: 30,
            },
            Profile {
                profile: 1,
                title: "bob@contoso.com",
                secret: &b,
                algorithm: Algorithm::Sha256,
                digits: 8,
                period_secs: 60,
            },
        ]);
        let parsed = parse(&text, &upn);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert!(parsed.rows[0].secret.ct_eq(&a) && parsed.rows[1].secret.ct_eq(&b));
        assert_eq!(
            (
                parsed.rows[1].algorithm,
                parsed.rows[1].digits,
                parsed.rows[1].period_secs
            ),
            (Algorithm::Sha256, 8, 60)
        );
    }
}
