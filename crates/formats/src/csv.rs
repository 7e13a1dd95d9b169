//! The guide's spreadsheet (`username,secret`, with the real-world variations of formats.md)
//! and Entra ID's hardware OATH token CSV (exactly per formats.md).

use std::collections::HashMap;

use tokendesk_otp::{Algorithm, Secret, decode_base32};

use crate::{NormaliseUpn, Parsed, TokenRow};

/// Entra's mandatory header, in Microsoft's spelling.
pub const ENTRA_HEADER: [&str; 6] = [
    "upn",
    "serial number",
    "secret key",
    "time interval",
    "manufacturer",
    "model",
];

/// One CSV line split into fields: double quotes group, `""` is a quote; fields trimmed.
pub fn split_csv(line: &str, sep: char) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            c if c == sep && !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields.into_iter().map(|f| f.trim().to_owned()).collect()
}

fn parse_secret(text: &str) -> Result<Secret, String> {
    decode_base32(text, false).map_err(|e| e.to_string())
}

fn row(line: usize, upn: String, secret: Secret) -> TokenRow {
    TokenRow {
        line,
        upn,
        serial: None,
        manufacturer: None,
        model: None,
        algorithm: Algorithm::Sha1,
        digits: 6,
        period_secs: 30,
        secret,
    }
}

fn spreadsheet_row(
    line: usize,
    fields: &[String],
    normalise: NormaliseUpn<'_>,
) -> Result<Option<TokenRow>, String> {
    let user = fields.first().map(String::as_str).unwrap_or_default();
    let secret = fields.get(1).map(String::as_str).unwrap_or_default();
    if user.is_empty() && secret.is_empty() {
        return Ok(None);
    }
    if secret.is_empty() {
        return Err("no secret in the second column".into());
    }
    let upn = normalise(user)?;
    Ok(Some(row(line, upn, parse_secret(secret)?)))
}

fn entra_row(
    line: usize,
    fields: &[String],
    normalise: NormaliseUpn<'_>,
) -> Result<Option<TokenRow>, String> {
    if fields.iter().all(String::is_empty) {
        return Ok(None);
    }
    let [upn, serial, secret, interval, manufacturer, model] = fields else {
        return Err(format!("expected 6 columns, found {}", fields.len()));
    };
    let upn = normalise(upn)?;
    if secret.len() > 128 {
        return Err(format!(
            "the secret key has {} characters, more than Entra's 128",
            secret.len()
        ));
    }
    let secret = parse_secret(secret)?;
    let period_secs = match interval.as_str() {
        "30" => 30,
        "60" => 60,
        other => return Err(format!("time interval {other:?} is not 30 or 60")),
    };
    let some = |s: &String| (!s.is_empty()).then(|| s.clone());
    Ok(Some(TokenRow {
        serial: some(serial),
        manufacturer: some(manufacturer),
        model: some(model),
        period_secs,
        ..row(line, upn, secret)
    }))
}

/// Which CSV dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvKind {
    /// `username,secret` (header optional, `;` or `,`, BOM and CRLF accepted, extra columns ignored).
    Spreadsheet,
    /// Entra ID: mandatory header `upn,serial number,secret key,time interval,manufacturer,model`
    /// (Token2's `timeinterval` accepted).
    Entra,
}

/// Parses a whole CSV file. Every bad row is reported as `line N: …` (never with the secret);
/// a user appearing twice is an error on the second line.
pub fn parse(text: &str, kind: CsvKind, normalise: NormaliseUpn<'_>) -> Parsed {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).peekable();
    let first = lines.peek().map(|(_, l)| *l).unwrap_or_default();
    let sep = match kind {
        CsvKind::Spreadsheet if first.contains(';') && !first.contains(',') => ';',
        _ => ',',
    };
    let mut parsed = Parsed::default();
    match kind {
        CsvKind::Entra => {
            let header: Vec<String> = split_csv(first, ',')
                .into_iter()
                .map(|h| h.to_lowercase().replace("timeinterval", "time interval"))
                .collect();
            if header != ENTRA_HEADER {
                parsed.errors.push(format!(
                    "line 1: the header must be exactly `{}`",
                    ENTRA_HEADER.join(",")
                ));
                return parsed;
            }
            lines.next();
        }
        CsvKind::Spreadsheet => {
            if split_csv(first, sep).first().is_some_and(|h| {
                ["username", "user", "upn", "email"].contains(&h.to_lowercase().as_str())
            }) {
                lines.next();
            }
        }
    }
    let mut seen = HashMap::new();
    for (line, text) in lines {
        let fields = split_csv(text, sep);
        let result = match kind {
            CsvKind::Spreadsheet => spreadsheet_row(line, &fields, normalise),
            CsvKind::Entra => entra_row(line, &fields, normalise),
        };
        match result {
            Ok(None) => {}
            Ok(Some(row)) => parsed.push_unique(&mut seen, "line", row),
            Err(e) => parsed.errors.push(format!("line {line}: {e}")),
        }
    }
    parsed
}

/// A list of users (bulk provisioning): the first column of each row is a UPN; a header
/// (`upn`, `user`, `username`, `email`, `userprincipalname`) is skipped; `;` or `,`; other
/// columns ignored. Returns `(line, upn)` in file order and one `line N: …` per bad or repeated
/// user.
pub fn parse_users(text: &str, normalise: NormaliseUpn<'_>) -> (Vec<(usize, String)>, Vec<String>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().next().unwrap_or_default();
    let sep = if first.contains(';') && !first.contains(',') {
        ';'
    } else {
        ','
    };
    let (mut users, mut errors) = (Vec::new(), Vec::new());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let cell = split_csv(line, sep).into_iter().next().unwrap_or_default();
        let header = ["upn", "user", "username", "email", "userprincipalname"];
        if cell.is_empty() || (n == 1 && header.contains(&cell.to_lowercase().as_str())) {
            continue;
        }
        match normalise(&cell) {
            Ok(upn) => match seen.get(&upn) {
                Some(prev) => {
                    errors.push(format!("line {n}: {upn} already appears on line {prev}"))
                }
                None => {
                    seen.insert(upn.clone(), n);
                    users.push((n, upn));
                }
            },
            Err(e) => errors.push(format!("line {n}: {e}")),
        }
    }
    (users, errors)
}

/// Characters that make a spreadsheet (Excel, LibreOffice, Google Sheets) run a cell as a
/// formula when they open it (OWASP "CSV injection").
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Appends one CSV record (RFC 4180) to `out`, ended by `eol`. This is the one CSV writer of the
/// project: every CSV tokendesk writes goes through it.
///
/// - A field holding a comma, a double quote, a CR or LF, or beginning or ending with a space is
///   quoted (also one starting with a byte-order mark, which readers strip), with quotes
///   doubled; any other field is written as it is.
/// - A field a spreadsheet would run as a formula (first character `=`, `+`, `-`, `@`, tab or
///   CR) gets a leading apostrophe, which spreadsheets show as text. Callers that must keep such
///   values byte for byte refuse them where they enter instead (UPNs are validated on entry).
pub fn push_record<S: AsRef<str>>(out: &mut String, fields: &[S], eol: &str) {
    if let [only] = fields
        && only.as_ref().is_empty()
    {
        // A record of one empty field would be a blank line, which readers skip.
        out.push_str("\"\"");
        out.push_str(eol);
        return;
    }
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_field(out, field.as_ref());
    }
    out.push_str(eol);
}

fn push_field(out: &mut String, field: &str) {
    let formula = field.starts_with(FORMULA_START);
    let quote = field.contains([',', '"', '\r', '\n'])
        || field.starts_with(' ')
        || field.ends_with(' ')
        || field.starts_with('\u{feff}')
        || formula;
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in field.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

/// One Entra CSV line (with newline) for a SHA-1 token, written by [`push_record`] (fields that
/// need it are quoted, formula-like free text is neutralised).
pub fn entra_line(
    upn: &str,
    serial: Option<&str>,
    secret: &Secret,
    period_secs: u32,
    manufacturer: Option<&str>,
    model: Option<&str>,
) -> zeroize::Zeroizing<String> {
    let b32 = secret.to_base32();
    let period = period_secs.to_string();
    let fields = [
        upn,
        serial.unwrap_or_default(),
        b32.as_str(),
        period.as_str(),
        manufacturer.unwrap_or_default(),
        model.unwrap_or_default(),
    ];
    let mut line = zeroize::Zeroizing::new(String::with_capacity(128));
    push_record(&mut line, &fields, "\n");
    line
}

/// The Entra CSV header line (with newline).
pub fn entra_header() -> String {
    let mut line = String::new();
    push_record(&mut line, &ENTRA_HEADER, "\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upn(text: &str) -> Result<String, String> {
        let t = text.trim().to_lowercase();
        if t.matches('@').count() == 1 && !t.contains(' ') {
            Ok(t)
        } else {
            Err(format!(
                "the user {t:?} is not a UPN like alice@contoso.com"
            ))
        }
    }

    #[test]
    fn written_fields_are_quoted_and_formulas_neutralised() {
        let mut out = String::new();
        push_record(
            &mut out,
            &[
                "plain",
                "a,b",
                "say \"hi\"",
                "=cmd()",
                "@SUM(A1)",
                " pad",
                "two\nlines",
                "",
            ],
            "\r\n",
        );
        assert_eq!(
            out,
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"'=cmd()\",\"'@SUM(A1)\",\" pad\",\"two\nlines\",\r\n"
        );
    }

    #[test]
    fn entra_export_of_hostile_fields_keeps_its_columns() {
        let secret = decode_base32("JBSWY3DPEHPK3PXP", false).unwrap();
        let line = entra_line(
            "a@b.c",
            Some("1,2"),
            &secret,
            30,
            Some("=HYPERLINK(\"x\")"),
            Some("m\"x"),
        );
        let fields = split_csv(line.trim_end(), ',');
        assert_eq!(
            fields,
            [
                "a@b.c",
                "1,2",
                "JBSWY3DPEHPK3PXP",
                "30",
                "'=HYPERLINK(\"x\")",
                "m\"x"
            ]
        );
    }

    proptest::proptest! {
        /// Whatever the fields, a standard CSV reader (the `csv` crate) reads back the same
        /// number of fields with the same text (formula fields with their apostrophe).
        #[test]
        fn written_records_read_back_with_a_standard_reader(
            fields in proptest::collection::vec("(?s).{0,12}", 1..8)
        ) {
            let mut out = String::new();
            push_record(&mut out, &fields, "\r\n");
            let mut reader = ::csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(false)
                .from_reader(out.as_bytes());
            let record = reader.records().next().unwrap().unwrap();
            let got: Vec<&str> = record.iter().collect();
            let want: Vec<String> = fields
                .iter()
                .map(|f| if f.starts_with(FORMULA_START) { format!("'{f}") } else { f.clone() })
                .collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn user_lists_skip_headers_and_report_bad_and_repeated_users() {
        let (users, errors) = parse_users(
            "\u{feff}UPN;Name\r\nAlice@Contoso.com;Alice\r\n\r\nnot a upn\r\nalice@contoso.com\r\nbob@contoso.com\r\n",
            &upn,
        );
        assert_eq!(
            users,
            [
                (2, "alice@contoso.com".to_owned()),
                (6, "bob@contoso.com".to_owned())
            ]
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("line 4: "), "{errors:?}");
        assert_eq!(
            errors[1],
            "line 5: alice@contoso.com already appears on line 2"
        );
    }

    #[test]
    fn csv_fields_and_quotes() {
        assert_eq!(split_csv(r#"a, "b,c" ,"d""e""#, ','), ["a", "b,c", "d\"e"]);
        assert_eq!(split_csv("a;b", ';'), ["a", "b"]);
    }

    #[test]
    fn spreadsheet_variants_parse() {
        let text = "\u{feff}Username;Secret;Extra\r\nAlice@Contoso.com;2sk2 tsmk jp7k dbck;x\r\n\r\nbob@contoso.com;JBSWY3DPEHPK3PXP\r\n";
        let parsed = parse(text, CsvKind::Spreadsheet, &upn);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(
            parsed
                .rows
                .iter()
                .map(|r| r.upn.as_str())
                .collect::<Vec<_>>(),
            ["alice@contoso.com", "bob@contoso.com"]
        );
        assert_eq!(parsed.rows[1].line, 4);
    }

    #[test]
    fn row_errors_name_the_line_and_not_the_secret() {
        let text = "alice@contoso.com,JBSWY3DPEHPK3PX1\nnot-a-upn,JBSWY3DPEHPK3PXP\nalice@contoso.com,JBSWY3DPEHPK3PXP\n";
        let parsed = parse(text, CsvKind::Spreadsheet, &upn);
        let errors = parsed.errors;
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("line 1:"), "{errors:?}");
        assert!(errors[1].starts_with("line 2:"), "{errors:?}");
        assert!(errors.iter().all(|e| !e.contains("JBSWY3DPEHPK3PX")));
    }

    #[test]
    fn duplicate_users_are_reported_on_the_second_line() {
        let text = "a@x.com,JBSWY3DPEHPK3PXP\nA@x.com,JBSWY3DPEHPK3PXP\n";
        let parsed = parse(text, CsvKind::Spreadsheet, &upn);
        assert_eq!(parsed.rows.len(), 1);
        assert_eq!(parsed.errors, ["line 2: a@x.com already appears on line 1"]);
    }

    #[test]
    fn entra_header_is_required_and_token2_spelling_accepted() {
        let good = "upn,serial number,secret key,timeinterval,manufacturer,model\nhelga@contoso.com,1234567,2234567abcdef2234567abcdef,60,Contoso,HardwareKey\n";
        let parsed = parse(good, CsvKind::Entra, &upn);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(parsed.rows[0].period_secs, 60);
        assert_eq!(parsed.rows[0].serial.as_deref(), Some("1234567"));
        let parsed = parse(
            "helga@contoso.com,1,2234567abcdef2234567abcdef,60,C,M\n",
            CsvKind::Entra,
            &upn,
        );
        assert!(parsed.errors[0].contains("header"), "{:?}", parsed.errors);
        let bad_interval = "upn,serial number,secret key,time interval,manufacturer,model\nh@contoso.com,1,2234567abcdef2234567abcdef,45,C,M\n";
        let parsed = parse(bad_interval, CsvKind::Entra, &upn);
        assert!(parsed.errors[0].contains("45"), "{:?}", parsed.errors);
    }

    #[test]
    fn entra_line_has_the_documented_shape() {
        let secret = decode_base32("jbsw y3dp ehpk 3pxp", false).unwrap();
        let line = entra_line(
            "helga@contoso.com",
            Some("1234567"),
            &secret,
            60,
            Some("Contoso"),
            Some("HardwareKey"),
        );
        // Canonical base32: upper case, no spaces or padding.
        assert_eq!(
            line.as_str(),
            "helga@contoso.com,1234567,JBSWY3DPEHPK3PXP,60,Contoso,HardwareKey\n"
        );
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text, CsvKind::Spreadsheet, &upn);
            let _ = parse(&text, CsvKind::Entra, &upn);
        }
    }
}
