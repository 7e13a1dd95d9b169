//! Bulk writes: many rows in one statement with **one** parameter, a JSON array of rows, which
//! the database unpacks (`jsonb_each` on SQLite, `jsonb_array_elements` on PostgreSQL).
//!
//! Why not multi-row `VALUES ($1, …, $3600)`: SQLite resolves each parameter's name with a linear
//! scan, and sqlx asks for every name, so a statement with n parameters costs O(n²) before it
//! runs — 56 % of a 100,000-row import went there (issue 18). One JSON parameter costs one
//! parse, on both backends. Blobs travel as lowercase hex (`unhex` / `decode(…, 'hex')`).
//!
//! The JSON holds what the tables hold (sealed seeds, hashes, MACs), never a plaintext secret.

use std::fmt::Write as _;

use sqlx::AnyConnection;

/// Rows per statement: a JSON document of about 0.5 MB for records, small enough to keep memory
/// flat, large enough that per-statement costs vanish.
pub(crate) const ROWS_PER_STATEMENT: usize = 1000;

/// A column of a bulk insert and how its JSON value becomes an SQL value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Col {
    /// A string or `null`.
    Text(&'static str),
    /// An integer.
    Int(&'static str),
    /// Bytes, written as hex.
    Blob(&'static str),
}

impl Col {
    fn name(self) -> &'static str {
        match self {
            Col::Text(n) | Col::Int(n) | Col::Blob(n) => n,
        }
    }

    /// The SQL expression reading field `i` of the current JSON row.
    fn expr(self, postgres: bool, i: usize) -> String {
        match (self, postgres) {
            (Col::Text(_), false) => format!("value ->> {i}"),
            (Col::Int(_), false) => format!("CAST(value ->> {i} AS INTEGER)"),
            (Col::Blob(_), false) => format!("unhex(value ->> {i})"),
            (Col::Text(_), true) => format!("x ->> {i}"),
            (Col::Int(_), true) => format!("CAST(x ->> {i} AS BIGINT)"),
            (Col::Blob(_), true) => format!("decode(x ->> {i}, 'hex')"),
        }
    }
}

/// The rows of one statement, written straight into the JSON text.
#[derive(Debug)]
pub(crate) struct Rows {
    json: String,
    rows: usize,
    fields: usize,
}

impl Rows {
    pub(crate) fn new() -> Self {
        Self::with_capacity(0)
    }

    /// Rows whose JSON text is expected to take about `bytes`: one allocation instead of a
    /// dozen doublings, each copying everything written so far (7 % of an import's CPU).
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        let mut json = String::with_capacity(bytes.max(1));
        json.push('[');
        Self {
            json,
            rows: 0,
            fields: 0,
        }
    }

    /// Number of rows begun so far.
    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    /// Begins the next row; its fields follow in column order.
    pub(crate) fn row(&mut self) -> &mut Self {
        if self.rows > 0 {
            self.json.push_str("],[");
        } else {
            self.json.push('[');
        }
        self.rows += 1;
        self.fields = 0;
        self
    }

    fn sep(&mut self) {
        if self.fields > 0 {
            self.json.push(',');
        }
        self.fields += 1;
    }

    pub(crate) fn text(&mut self, value: Option<&str>) -> &mut Self {
        self.sep();
        match value {
            // Writing a &str into a String cannot fail.
            Some(v) => serde_json::to_writer(StringWriter(&mut self.json), v).unwrap_or(()),
            None => self.json.push_str("null"),
        }
        self
    }

    pub(crate) fn int(&mut self, value: i64) -> &mut Self {
        self.sep();
        let _ = write!(self.json, "{value}");
        self
    }

    pub(crate) fn blob(&mut self, value: &[u8]) -> &mut Self {
        fn digit(nibble: u8) -> char {
            char::from(if nibble < 10 {
                b'0' + nibble
            } else {
                b'a' + nibble - 10
            })
        }
        self.sep();
        self.json.reserve(value.len() * 2 + 2);
        self.json.push('"');
        for b in value {
            self.json.push(digit(b >> 4));
            self.json.push(digit(b & 0x0f));
        }
        self.json.push('"');
        self
    }

    fn finish(mut self) -> String {
        self.json.push_str(if self.rows > 0 { "]]" } else { "]" });
        self.json
    }
}

/// `io::Write` into a `String` for serde_json's string escaping (it writes UTF-8 only).
struct StringWriter<'a>(&'a mut String);

impl std::io::Write for StringWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let s = std::str::from_utf8(buf)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        self.0.push_str(s);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Inserts `rows` into `table`: one field per column of `cols`, then the SQL literals of
/// `constants` (column, expression) for every row.
pub(crate) async fn insert(
    conn: &mut AnyConnection,
    table: &str,
    cols: &[Col],
    constants: &[(&str, &str)],
    rows: Rows,
) -> Result<(), sqlx::Error> {
    if rows.len() == 0 {
        return Ok(());
    }
    let sql = insert_sql(is_postgres(conn), table, cols, constants);
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(rows.finish())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A subquery of the strings in `values` (an `IN (…)` operand) with one parameter, `$1`.
pub(crate) fn text_list_sql(conn: &AnyConnection) -> &'static str {
    if is_postgres(conn) {
        "SELECT json_array_elements_text(CAST($1 AS TEXT)::json)"
    } else {
        "SELECT value FROM json_each($1)"
    }
}

/// The JSON array `text_list_sql` takes.
pub(crate) fn text_list<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut rows = Rows::new();
    rows.json.clear();
    rows.json.push('[');
    for v in values {
        rows.sep();
        // Writing a &str into a String cannot fail.
        serde_json::to_writer(StringWriter(&mut rows.json), v).unwrap_or(());
    }
    rows.json.push(']');
    rows.json
}

fn is_postgres(conn: &AnyConnection) -> bool {
    conn.backend_name().eq_ignore_ascii_case("postgresql")
}

fn insert_sql(postgres: bool, table: &str, cols: &[Col], constants: &[(&str, &str)]) -> String {
    let names: Vec<&str> = cols
        .iter()
        .map(|c| c.name())
        .chain(constants.iter().map(|(n, _)| *n))
        .collect();
    let exprs: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| c.expr(postgres, i))
        .chain(constants.iter().map(|(_, e)| (*e).to_owned()))
        .collect();
    // Binary JSON on both (`jsonb_each`, `jsonb_array_elements`): the `->>` of every column reads
    // the row without parsing its text again (the text forms would, once per column).
    let source = if postgres {
        "jsonb_array_elements(CAST($1 AS TEXT)::jsonb) AS x"
    } else {
        "jsonb_each($1)"
    };
    format!(
        "INSERT INTO {table} ({}) SELECT {} FROM {source}",
        names.join(", "),
        exprs.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_a_json_array_of_arrays() {
        let mut rows = Rows::new();
        rows.row()
            .text(Some("a\"b"))
            .int(-3)
            .blob(&[0, 0xab])
            .text(None);
        rows.row().text(Some("é")).int(7).blob(&[]).text(Some(""));
        assert_eq!(rows.len(), 2);
        let json = rows.finish();
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!([["a\"b", -3, "00ab", null], ["é", 7, "", ""]])
        );
        assert_eq!(Rows::new().finish(), "[]");
    }

    #[test]
    fn text_lists_escape() {
        let json = text_list(["x", "y\\z"].into_iter());
        let parsed: Vec<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed, ["x", "y\\z"]);
    }

    #[test]
    fn sql_per_backend() {
        let cols = [Col::Text("a"), Col::Int("b"), Col::Blob("c")];
        assert_eq!(
            insert_sql(false, "t", &cols, &[("d", "'k'")]),
            "INSERT INTO t (a, b, c, d) SELECT value ->> 0, CAST(value ->> 1 AS INTEGER), \
             unhex(value ->> 2), 'k' FROM jsonb_each($1)"
        );
        assert!(insert_sql(true, "t", &cols, &[]).contains("decode(x ->> 2, 'hex')"));
    }
}
