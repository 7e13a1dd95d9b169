//! An RFC 4180 CSV reader for the exports of password managers and authenticator tools, whose
//! fields (notes, passwords) may hold commas, quotes and line breaks. Every field is copied
//! into a zeroizing string: these files hold passwords as well as seeds.

use zeroize::Zeroizing;

/// One record: the line it starts on (1-based) and its fields, untrimmed.
pub(crate) struct Record {
    pub line: usize,
    pub fields: Vec<Zeroizing<String>>,
}

impl Record {
    /// Field `i`, trimmed, or "" when the record is shorter.
    pub fn get(&self, i: usize) -> &str {
        self.fields.get(i).map_or("", |f| f.trim())
    }

    /// Whether every field is empty (a blank line).
    pub fn is_blank(&self) -> bool {
        self.fields.iter().all(|f| f.trim().is_empty())
    }
}

/// Splits `text` (BOM already removed) into records separated by `sep`. A quoted field runs
/// to its closing quote across line breaks; `""` inside it is one quote. CRLF and LF both end
/// a record.
///
/// # Errors
/// `line N: a quoted field is not closed` when the text ends inside quotes.
pub(crate) fn read(text: &str, sep: char) -> Result<Vec<Record>, String> {
    let mut records = Vec::new();
    let mut fields: Vec<Zeroizing<String>> = Vec::new();
    let mut field = Zeroizing::new(String::new());
    let (mut line, mut start_line) = (1usize, 1usize);
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            '\n' if quoted => {
                field.push('\n');
                line += 1;
            }
            '\r' if !quoted && chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::replace(&mut field, Zeroizing::new(String::new())));
                records.push(Record {
                    line: start_line,
                    fields: std::mem::take(&mut fields),
                });
                line += 1;
                start_line = line;
            }
            c if c == sep && !quoted => {
                fields.push(std::mem::replace(&mut field, Zeroizing::new(String::new())));
            }
            c => field.push(c),
        }
    }
    if quoted {
        return Err(format!(
            "line {start_line}: a quoted field is not closed; check the quotes"
        ));
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push(Record {
            line: start_line,
            fields,
        });
    }
    Ok(records)
}

/// The header's column names, lowercased and trimmed.
pub(crate) fn header_names(header: &Record) -> Vec<String> {
    header
        .fields
        .iter()
        .map(|f| f.trim().to_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<(usize, Vec<String>)> {
        read(text, ',')
            .unwrap()
            .into_iter()
            .map(|r| (r.line, r.fields.iter().map(|f| f.to_string()).collect()))
            .collect()
    }

    #[test]
    fn quoted_fields_span_lines_and_keep_their_quotes() {
        let got = fields("a,\"b\nc\",\"say \"\"hi\"\"\"\r\nd,e\n");
        assert_eq!(
            got,
            [
                (1, vec!["a".into(), "b\nc".into(), "say \"hi\"".into()]),
                (3, vec!["d".into(), "e".into()]),
            ]
        );
    }

    #[test]
    fn an_unclosed_quote_names_its_line() {
        let err = read("a,b\nc,\"d\ne\n", ',').err().unwrap();
        assert_eq!(
            err,
            "line 2: a quoted field is not closed; check the quotes"
        );
    }

    proptest::proptest! {
        /// Whatever the text, a standard reader (the `csv` crate) sees the same fields.
        #[test]
        fn agrees_with_a_standard_reader(
            rows in proptest::collection::vec(
                proptest::collection::vec("[a-z ,\"\n]{0,6}", 1..5), 1..5)
        ) {
            let mut text = String::new();
            for row in &rows {
                crate::csv::push_record(&mut text, row, "\n");
            }
            let ours: Vec<Vec<String>> = read(&text, ',').unwrap().into_iter()
                .map(|r| r.fields.iter().map(|f| f.to_string()).collect()).collect();
            let mut reader = ::csv::ReaderBuilder::new().has_headers(false).flexible(true)
                .from_reader(text.as_bytes());
            let theirs: Vec<Vec<String>> = reader.records()
                .map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
            proptest::prop_assert_eq!(ours, theirs);
        }

        #[test]
        fn never_panics(text in "\\PC{0,200}") {
            let _ = read(&text, ',');
        }
    }
}
