//! The backup file format: a versioned, checksummed, line-per-row dump of every table, written
//! row by row ([`BackupFile`]) and checked, then read again table by table ([`CheckedBackup`]).

use sha2::Digest;

use crate::error::{Result, VaultError};

/// One value of a backed-up row.
#[derive(Clone, PartialEq)]
pub(super) enum Val {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
    Blob(Vec<u8>),
}

impl Val {
    pub(super) fn kind_name(&self) -> &'static str {
        match self {
            Val::Null => "NULL",
            Val::Int(_) => "an integer",
            Val::Float(_) => "a real number",
            Val::Bool(_) => "a boolean",
            Val::Text(_) => "text",
            Val::Blob(_) => "bytes",
        }
    }

    pub(super) fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Val::Null => serde_json::Value::Null,
            Val::Int(v) => json!(v),
            Val::Float(v) => json!({ "f": v }),
            Val::Bool(v) => json!(v),
            Val::Text(t) => json!(t),
            Val::Blob(b) => json!({ "hex": data_encoding::HEXLOWER.encode(b) }),
        }
    }

    pub(super) fn from_json(v: &serde_json::Value) -> std::result::Result<Self, String> {
        use serde_json::Value as J;
        Ok(match v {
            J::Null => Val::Null,
            J::Bool(b) => Val::Bool(*b),
            J::Number(n) => Val::Int(n.as_i64().ok_or("a number that is not a 64-bit integer")?),
            J::String(s) => Val::Text(s.clone()),
            J::Object(o) => match (o.get("hex"), o.get("f")) {
                (Some(J::String(h)), None) => Val::Blob(
                    data_encoding::HEXLOWER
                        .decode(h.as_bytes())
                        .map_err(|_| "bad hex bytes")?,
                ),
                (None, Some(f)) => Val::Float(f.as_f64().ok_or("a bad real number")?),
                _ => return Err("an unknown value".into()),
            },
            J::Array(_) => return Err("an unknown value".into()),
        })
    }
}

const BACKUP_FORMAT: &str = "tokendesk-backup";
const BACKUP_VERSION: i64 = 1;

/// A JSON object's field, `null` when missing (serde_json's `[]` never panics, but says so
/// less plainly).
fn field<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v.get(name).unwrap_or(&serde_json::Value::Null)
}

fn bad(what: &str) -> VaultError {
    VaultError::Invalid(crate::Invalid::Operator(format!(
        "not a usable tokendesk backup: {what}"
    )))
}

/// One table of a [`CheckedBackup`]: its header entry, where its rows start in the file and
/// the SHA-256 of their bytes as checked.
#[derive(Clone)]
pub(super) struct TableIndex {
    pub(super) name: String,
    pub(super) columns: Vec<String>,
    pub(super) rows: usize,
    offset: u64,
    digest: [u8; 32],
}

/// A backup file whose format, row counts and checksum were checked by reading it once, row by
/// row, without holding it (issue 18: reading 100,000 records whole took 445 MB). A restore then
/// reads each table's rows again from the file, in the order the foreign keys need, and refuses
/// them unless their bytes have the digest taken in the check, so what goes into the database is
/// exactly what was checked, even if the file changes in between. The format:
///
/// ```text
/// {"format":"tokendesk-backup","version":1,"backend":…,"migrations":[1,…],
///  "tables":[{"name":…,"columns":[…],"rows":N},…]}      header (one line)
/// [v1,v2,…]                                              one line per row, tables in header order
/// sha256 <64 hex digits>                                 of every byte above
/// ```
///
/// Values: JSON null, integer, boolean, string, `{"hex":…}` for bytes, `{"f":…}` for reals.
/// Sealed seeds and wrapped keys stay sealed and wrapped; the file is no more readable than the
/// database without the master key.
#[derive(Clone)]
pub struct CheckedBackup {
    path: std::path::PathBuf,
    backend: String,
    migrations: Vec<i64>,
    tables: Vec<TableIndex>,
}

impl std::fmt::Debug for CheckedBackup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedBackup")
            .field("path", &self.path)
            .field("backend", &self.backend)
            .field("migrations", &self.migrations)
            .field("tables", &self.row_counts())
            .finish()
    }
}

impl CheckedBackup {
    /// Reads and checks a backup file: format, version, row counts and checksum.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] naming what is wrong: not a backup, a newer version, a checksum
    /// mismatch (damaged or edited), malformed structure, or a file that cannot be read.
    pub fn open(path: &std::path::Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| read_error(path, &e))?;
        let reader = std::io::BufReader::with_capacity(1 << 16, file);
        let (backend, migrations, tables) = check(reader, |e| read_error(path, &e))?;
        Ok(Self {
            path: path.to_owned(),
            backend,
            migrations,
            tables,
        })
    }

    /// The backend the backup was taken from (`sqlite` or `postgres`).
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// Rows per table, by name.
    pub fn row_counts(&self) -> Vec<(String, usize)> {
        self.tables
            .iter()
            .map(|t| (t.name.clone(), t.rows))
            .collect()
    }

    pub(super) fn migrations(&self) -> &[i64] {
        &self.migrations
    }

    pub(super) fn tables(&self) -> &[TableIndex] {
        &self.tables
    }

    /// The rows of one table, read again from the file.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] when the file cannot be read.
    pub(super) fn rows(&self, table: &TableIndex) -> Result<TableRows> {
        use std::io::Seek as _;
        let mut file = std::fs::File::open(&self.path).map_err(|e| read_error(&self.path, &e))?;
        if table.rows > 0 {
            file.seek(std::io::SeekFrom::Start(table.offset))
                .map_err(|e| read_error(&self.path, &e))?;
        }
        Ok(TableRows {
            reader: std::io::BufReader::with_capacity(1 << 16, file),
            table: table.clone(),
            left: table.rows,
            sum: sha2::Sha256::new(),
            line: Vec::new(),
        })
    }
}

fn read_error(path: &std::path::Path, e: &std::io::Error) -> VaultError {
    VaultError::Invalid(crate::Invalid::Operator(format!(
        "cannot read the backup {}: {e}",
        path.display()
    )))
}

/// One table's rows read again from a [`CheckedBackup`], compared with the checked digest.
pub(super) struct TableRows {
    reader: std::io::BufReader<std::fs::File>,
    table: TableIndex,
    left: usize,
    sum: sha2::Sha256,
    line: Vec<u8>,
}

impl TableRows {
    /// The next row; reading the last one also compares the table's bytes with the check's.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] when the file changed since it was checked, or a row is
    /// malformed (a file with a valid checksum that tokendesk did not write).
    pub(super) fn next_row(&mut self) -> Result<Option<Vec<Val>>> {
        use std::io::BufRead as _;
        if self.left == 0 {
            return Ok(None);
        }
        let changed = || {
            VaultError::Invalid(crate::Invalid::Operator(
                "the backup file changed while it was being restored; nothing restored".into(),
            ))
        };
        self.line.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.line)
            .map_err(|_| changed())?;
        if n == 0 || !self.line.ends_with(b"\n") {
            return Err(changed());
        }
        self.sum.update(&self.line);
        self.left -= 1;
        if self.left == 0
            && std::mem::take(&mut self.sum).finalize().as_slice() != self.table.digest
        {
            return Err(changed());
        }
        let values: Vec<serde_json::Value> =
            serde_json::from_slice(&self.line).map_err(|_| bad("a malformed row"))?;
        if values.len() != self.table.columns.len() {
            return Err(bad("a row with the wrong number of values"));
        }
        values
            .iter()
            .map(|v| Val::from_json(v).map_err(|e| bad(&e)))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}

/// What [`check`] finds: the backend, the migrations and each table.
type Checked = (String, Vec<i64>, Vec<TableIndex>);

/// Reads a backup once, line by line: every line but the last is hashed and, while its
/// structure holds, indexed; the last must be the checksum line. A structural problem is
/// reported only once the checksum matched, so a damaged file is named as damaged.
///
/// `io` words an I/O error of `reader`.
fn check(
    mut reader: impl std::io::BufRead,
    io: impl Fn(std::io::Error) -> VaultError,
) -> Result<Checked> {
    let mut index = Index::default();
    let mut sum = sha2::Sha256::new();
    let (mut line, mut next) = (Vec::new(), Vec::new());
    let mut have_line = false;
    loop {
        next.clear();
        if reader.read_until(b'\n', &mut next).map_err(&io)? == 0 {
            break;
        }
        if have_line {
            sum.update(&line);
            index.line(&line);
        }
        std::mem::swap(&mut line, &mut next);
        have_line = true;
    }
    if !have_line || index.pos == 0 || !line.ends_with(b"\n") {
        return Err(bad("no checksum line"));
    }
    let trailer = std::str::from_utf8(&line).map_err(|_| bad("no checksum line"))?;
    let given = trailer
        .trim_end()
        .strip_prefix("sha256 ")
        .ok_or_else(|| bad("no checksum line (truncated file?)"))?;
    if given != data_encoding::HEXLOWER.encode(&sum.finalize()) {
        return Err(VaultError::Invalid(crate::Invalid::Operator(
            "the backup's checksum does not match: the file is damaged or was edited; nothing restored"
                .into(),
        )));
    }
    index.finish()
}

/// The structure of a backup as [`check`] reads it, line by line.
#[derive(Default)]
struct Index {
    /// Byte offset of the line being read.
    pos: u64,
    header: Option<(String, Vec<i64>)>,
    tables: Vec<TableIndex>,
    /// The table whose rows come next, and how many of them were read.
    current: usize,
    read: usize,
    sum: sha2::Sha256,
    /// The first structural problem.
    problem: Option<VaultError>,
}

impl Index {
    fn line(&mut self, line: &[u8]) {
        if self.problem.is_none()
            && let Err(e) = self.parse(line)
        {
            self.problem = Some(e);
        }
        self.pos += line.len() as u64;
    }

    fn parse(&mut self, line: &[u8]) -> Result<()> {
        if self.header.is_none() {
            return self.parse_header(line);
        }
        self.skip_full_tables();
        let table = self
            .tables
            .get_mut(self.current)
            .ok_or_else(|| bad("more rows than the header says"))?;
        if self.read == 0 {
            table.offset = self.pos;
        }
        self.sum.update(line);
        self.read += 1;
        if self.read == table.rows {
            table.digest = std::mem::take(&mut self.sum).finalize().into();
        }
        Ok(())
    }

    /// Moves past tables whose rows were all read (or that have none).
    fn skip_full_tables(&mut self) {
        while self
            .tables
            .get(self.current)
            .is_some_and(|t| self.read == t.rows)
        {
            self.current += 1;
            self.read = 0;
        }
    }

    fn parse_header(&mut self, line: &[u8]) -> Result<()> {
        let text = std::str::from_utf8(line).map_err(|_| bad("not UTF-8"))?;
        let header: serde_json::Value = serde_json::from_str(text).map_err(|_| bad("no header"))?;
        if field(&header, "format") != BACKUP_FORMAT {
            return Err(bad("the header names another format"));
        }
        let version = field(&header, "version").as_i64().unwrap_or(0);
        if version != BACKUP_VERSION {
            return Err(VaultError::Invalid(crate::Invalid::Operator(format!(
                "backup format version {version} is not supported by this tokendesk (it reads version {BACKUP_VERSION})"
            ))));
        }
        let migrations = field(&header, "migrations")
            .as_array()
            .ok_or_else(|| bad("no migration list"))?
            .iter()
            .map(|v| v.as_i64().ok_or_else(|| bad("a bad migration number")))
            .collect::<Result<Vec<_>>>()?;
        for t in field(&header, "tables")
            .as_array()
            .ok_or_else(|| bad("no table list"))?
        {
            let name = field(t, "name")
                .as_str()
                .ok_or_else(|| bad("a table without a name"))?;
            let columns: Vec<String> = field(t, "columns")
                .as_array()
                .ok_or_else(|| bad("a table without columns"))?
                .iter()
                .map(|c| {
                    c.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| bad("a bad column name"))
                })
                .collect::<Result<_>>()?;
            let rows = field(t, "rows")
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| bad("a table without a row count"))?;
            self.tables.push(TableIndex {
                name: name.to_owned(),
                columns,
                rows,
                offset: 0,
                digest: sha2::Sha256::digest(b"").into(),
            });
        }
        let backend = field(&header, "backend").as_str().unwrap_or("unknown");
        self.header = Some((backend.to_owned(), migrations));
        Ok(())
    }

    fn finish(mut self) -> Result<Checked> {
        if let Some(problem) = self.problem {
            return Err(problem);
        }
        let (backend, migrations) = self.header.take().ok_or_else(|| bad("no header"))?;
        self.skip_full_tables();
        if self.current < self.tables.len() {
            return Err(bad("fewer rows than the header says"));
        }
        Ok((backend, migrations, self.tables))
    }
}

/// A table as the header names it.
pub(super) struct TableHeader<'a> {
    pub(super) name: &'a str,
    pub(super) columns: &'a [String],
    pub(super) rows: usize,
}

/// The one encoder of the format: header line, row lines, checksum line, hashing every byte
/// it writes, so a file can be written row by row without holding the snapshot.
struct Encoder<W: std::io::Write> {
    out: W,
    sum: sha2::Sha256,
}

impl<W: std::io::Write> Encoder<W> {
    fn new(out: W) -> Self {
        Self {
            out,
            sum: sha2::Sha256::new(),
        }
    }

    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.sum.update(bytes);
        self.out.write_all(bytes)
    }

    fn header(
        &mut self,
        backend: &str,
        migrations: &[i64],
        tables: &[TableHeader<'_>],
    ) -> std::io::Result<()> {
        use serde_json::json;
        let header = json!({
            "format": BACKUP_FORMAT,
            "version": BACKUP_VERSION,
            "backend": backend,
            "migrations": migrations,
            "tables": tables.iter().map(|t| json!({
                "name": t.name, "columns": t.columns, "rows": t.rows
            })).collect::<Vec<_>>(),
        });
        let mut line = header.to_string().into_bytes();
        line.push(b'\n');
        self.put(&line)
    }

    fn row(&mut self, row: &[Val]) -> std::io::Result<()> {
        let values: Vec<serde_json::Value> = row.iter().map(Val::to_json).collect();
        let mut line = serde_json::Value::Array(values).to_string().into_bytes();
        line.push(b'\n');
        self.put(&line)
    }

    fn checksum(&mut self) -> std::io::Result<()> {
        let sum = data_encoding::HEXLOWER.encode(&std::mem::take(&mut self.sum).finalize());
        self.out.write_all(format!("sha256 {sum}\n").as_bytes())
    }
}

/// A backup file being written row by row, so memory stays flat whatever the vault's size:
/// owner-only, never overwriting, synced to disk, and atomic ([`owner_only::NewFile`]:
/// `FILE.partial`, then published under `FILE` once complete).
///
/// [`owner_only::NewFile`]: crate::owner_only::NewFile
pub(super) struct BackupFile {
    enc: Encoder<std::io::BufWriter<crate::owner_only::NewFile>>,
    path: std::path::PathBuf,
}

impl BackupFile {
    /// Starts `FILE.partial` for `path`.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] when `path` exists or the file cannot be created.
    pub(super) fn create(path: &std::path::Path) -> Result<Self> {
        let file = crate::owner_only::NewFile::create(path).map_err(|e| write_error(path, e))?;
        Ok(Self {
            enc: Encoder::new(std::io::BufWriter::with_capacity(1 << 16, file)),
            path: path.to_owned(),
        })
    }

    pub(super) fn header(
        &mut self,
        backend: &str,
        migrations: &[i64],
        tables: &[TableHeader<'_>],
    ) -> Result<()> {
        let r = self.enc.header(backend, migrations, tables);
        r.map_err(|e| write_error(&self.path, e))
    }

    pub(super) fn row(&mut self, row: &[Val]) -> Result<()> {
        let r = self.enc.row(row);
        r.map_err(|e| write_error(&self.path, e))
    }

    /// Writes the checksum, syncs, and publishes the file under its name.
    pub(super) fn finish(mut self) -> Result<()> {
        let io = |e: std::io::Error| write_error(&self.path, e);
        self.enc.checksum().map_err(io)?;
        let file = self.enc.out.into_inner().map_err(|e| io(e.into_error()))?;
        file.finish().map_err(io)
    }
}

fn write_error(path: &std::path::Path, e: std::io::Error) -> VaultError {
    VaultError::Invalid(crate::Invalid::Operator(format!(
        "cannot write the backup {}: {e}",
        path.display()
    )))
}

#[cfg(test)]
mod tests;
