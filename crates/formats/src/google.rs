//! Google Authenticator's "Transfer accounts" export: `otpauth-migration://offline?data=…` QR
//! codes (formats.md), one export often split over several codes of one batch. The payloads
//! come decoded already (from screenshots by the caller, or as lines of text); this module
//! checks that every code of each batch is there and turns the accounts into rows. Plain
//! `otpauth://` codes among them are read too.

use std::collections::{BTreeSet, HashMap};

use tokendesk_otp::{ParseOptions, SeedInput};
use zeroize::Zeroizing;

use crate::account;
use crate::{NormaliseUpn, Parsed};

/// Most export screenshots one import reads (a folder for the CLI, repeated `file` parts for the
/// API): Google Authenticator splits an export into codes of at most ten accounts, so this is
/// room for 2,000 accounts.
pub const MAX_SCREENSHOTS: usize = 200;

/// One decoded QR payload and where it came from (`line 3`, `IMG_0012.png`).
pub struct Payload {
    /// Named in errors.
    pub source: String,
    /// The payload text (holds seeds).
    pub text: Zeroizing<String>,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payload({}, <redacted>)", self.source)
    }
}

/// The payloads of a text file: one per non-blank line, named `line N`.
pub fn payloads_of_text(text: &str) -> Vec<Payload> {
    text.trim_start_matches('\u{feff}')
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| Payload {
            source: format!("line {}", i + 1),
            text: Zeroizing::new(l.trim().to_owned()),
        })
        .collect()
}

struct Batch {
    size: u32,
    seen: BTreeSet<u32>,
    first_source: String,
}

/// Reads every account of `payloads`. The same code twice (two screenshots of one QR code) is
/// read once and counted in [`Parsed::left_out`]; a batch missing codes is an error naming them.
pub fn parse(payloads: &[Payload], normalise: NormaliseUpn<'_>) -> Parsed {
    let mut parsed = Parsed::default();
    let mut seen_users = HashMap::new();
    let mut batches: HashMap<i32, Batch> = HashMap::new();
    let mut count = 0usize;
    for p in payloads {
        let input = match SeedInput::parse_with(&p.text, ParseOptions::default()) {
            Ok(input) => input,
            Err(e) => {
                parsed.errors.push(format!("{}: {e}", p.source));
                continue;
            }
        };
        let accounts = match input {
            SeedInput::Migration(m) => {
                let batch = batches.entry(m.batch_id).or_insert_with(|| Batch {
                    size: m.batch_size.max(1),
                    seen: BTreeSet::new(),
                    first_source: p.source.clone(),
                });
                if !batch.seen.insert(m.batch_index) {
                    parsed.left_out += m.accounts.len();
                    continue;
                }
                m.accounts
            }
            SeedInput::OtpAuth(uri) => vec![uri],
            SeedInput::Secret(_) => {
                parsed.errors.push(format!(
                    "{}: a bare secret, not an export QR code; add it with `tokendesk add`",
                    p.source
                ));
                continue;
            }
        };
        for (k, acc) in accounts.into_iter().enumerate() {
            count += 1;
            let label = acc
                .issuer
                .as_deref()
                .filter(|i| !i.is_empty())
                .map(|i| format!(" ({i})"))
                .unwrap_or_default();
            match account::from_parsed(count, acc, &[], normalise) {
                Ok(row) => parsed.push_unique(&mut seen_users, "account", row),
                Err(e) => {
                    parsed
                        .errors
                        .push(format!("{}, account {}{label}: {e}", p.source, k + 1))
                }
            }
        }
    }
    let mut ids: Vec<_> = batches.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let Some(b) = batches.get(&id) else { continue };
        let missing: Vec<String> = (0..b.size)
            .filter(|i| !b.seen.contains(i))
            .map(|i| (i + 1).to_string())
            .collect();
        if !missing.is_empty() {
            parsed.errors.push(format!(
                "{}: the export was {} QR codes and code(s) {} of them are missing; add a \
                 screenshot of every code Google Authenticator showed",
                b.first_source,
                b.size,
                missing.join(", ")
            ));
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokendesk_otp::Algorithm;

    /// Two QR codes of one export (batch of 2) and a plain otpauth code; made by
    /// `tests/fixtures/make_google_export.py` from the protobuf in formats.md.
    const FIXTURE: &str = include_str!("../tests/fixtures/google_export.txt");

    use crate::account::test_upn as upn;

    #[test]
    fn a_complete_batch_reads_every_account() {
        let parsed = parse(&payloads_of_text(FIXTURE), &upn);
        assert_eq!(
            parsed.errors,
            ["line 2, account 2 (GitHub): the user \"octocat\" is not a UPN"]
        );
        let got: Vec<_> = parsed
            .rows
            .iter()
            .map(|r| (r.upn.as_str(), r.algorithm, r.digits))
            .collect();
        assert_eq!(
            got,
            [
                ("alice@contoso.com", Algorithm::Sha1, 6),
                ("bob@contoso.com", Algorithm::Sha256, 8),
                ("carol@contoso.com", Algorithm::Sha1, 6),
                ("dave@contoso.com", Algorithm::Sha1, 6),
            ]
        );
        assert_eq!(
            parsed.rows[0].secret.to_base32().as_str(),
            "JBSWY3DPEHPK3PXP"
        );
    }

    #[test]
    fn a_missing_code_of_a_batch_is_named_and_a_repeated_one_read_once() {
        let mut payloads = payloads_of_text(FIXTURE);
        payloads.remove(1);
        let parsed = parse(&payloads, &upn);
        assert!(
            parsed.errors.iter().any(|e| e
                == "line 1: the export was 2 QR codes and code(s) 2 of them are missing; add a \
                    screenshot of every code Google Authenticator showed"),
            "{:?}",
            parsed.errors
        );
        let mut payloads = payloads_of_text(FIXTURE);
        payloads.push(Payload {
            source: "again.png".into(),
            text: payloads[0].text.clone(),
        });
        let parsed = parse(&payloads, &upn);
        assert_eq!(parsed.rows.len(), 4, "{:?}", parsed.errors);
        assert_eq!(parsed.left_out, 2);
    }

    #[test]
    fn other_codes_are_explained_by_source() {
        let payloads = vec![
            Payload {
                source: "a.png".into(),
                text: Zeroizing::new("phonefactor://activate_account?code=1".into()),
            },
            Payload {
                source: "b.png".into(),
                text: Zeroizing::new("JBSWY3DPEHPK3PXP".into()),
            },
            Payload {
                source: "c.png".into(),
                text: Zeroizing::new("otpauth-migration://offline?data=%%%".into()),
            },
        ];
        let parsed = parse(&payloads, &upn);
        assert_eq!(parsed.errors.len(), 3);
        assert!(parsed.errors[0].starts_with("a.png: ") && parsed.errors[0].contains("Microsoft"));
        assert!(parsed.errors[1].starts_with("b.png: a bare secret"));
        assert!(parsed.errors[2].starts_with("c.png: "));
        assert!(
            parsed
                .errors
                .iter()
                .all(|e| !e.contains("JBSWY3DPEHPK3PXP"))
        );
    }
}
