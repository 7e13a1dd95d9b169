//! The backup file format: a versioned, checksummed, line-per-row dump of a [`Snapshot`].

use std::io::Write as _;

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

/// One table of a [`Snapshot`].
#[derive(Clone)]
pub(super) struct TableDump {
    pub(super) name: String,
    pub(super) columns: Vec<String>,
    pub(super) rows: Vec<Vec<Val>>,
}

/// A consistent copy of every table, as written to a backup file:
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
pub struct Snapshot {
    pub(super) backend: String,
    pub(super) migrations: Vec<i64>,
    pub(super) tables: Vec<TableDump>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("backend", &self.backend)
            .field("migrations", &self.migrations)
            .field(
                "tables",
                &self
                    .tables
                    .iter()
                    .map(|t| (t.name.as_str(), t.rows.len()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A JSON object's field, `null` when missing (serde_json's `[]` never panics, but says so
/// less plainly).
fn field<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v.get(name).unwrap_or(&serde_json::Value::Null)
}

const BACKUP_FORMAT: &str = "tokendesk-backup";
const BACKUP_VERSION: i64 = 1;

impl Snapshot {
    /// The backend the snapshot was taken from (`sqlite` or `postgres`).
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// Rows per table, by name.
    pub fn row_counts(&self) -> Vec<(String, usize)> {
        self.tables
            .iter()
            .map(|t| (t.name.clone(), t.rows.len()))
            .collect()
    }

    /// Each table as the file's header names it.
    fn headers(&self) -> Vec<TableHeader<'_>> {
        self.tables
            .iter()
            .map(|t| TableHeader {
                name: &t.name,
                columns: &t.columns,
                rows: t.rows.len(),
            })
            .collect()
    }

    /// The file's bytes: header, rows, checksum (the encoding [`BackupFile`] streams).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut enc = Encoder::new(Vec::new());
        let tables = self.headers();
        // Writing into a Vec cannot fail.
        let _ = enc.header(&self.backend, &self.migrations, &tables);
        for row in self.tables.iter().flat_map(|t| &t.rows) {
            let _ = enc.row(row);
        }
        let _ = enc.checksum();
        enc.out
    }

    /// Parses and checks a backup file's bytes.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] naming what is wrong: not a backup, a newer version, a checksum
    /// mismatch (damaged or edited), or malformed rows.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |what: &str| {
            VaultError::Invalid(crate::Invalid::Operator(format!(
                "not a usable tokendesk backup: {what}"
            )))
        };
        let body_end = bytes
            .strip_suffix(b"\n")
            .and_then(|b| b.iter().rposition(|c| *c == b'\n'))
            .map(|i| i + 1)
            .ok_or_else(|| bad("no checksum line"))?;
        let (body, trailer) = bytes.split_at(body_end);
        let trailer = std::str::from_utf8(trailer).map_err(|_| bad("no checksum line"))?;
        let given = trailer
            .trim_end()
            .strip_prefix("sha256 ")
            .ok_or_else(|| bad("no checksum line (truncated file?)"))?;
        let actual = data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(body));
        if given != actual {
            return Err(VaultError::Invalid(crate::Invalid::Operator(
                "the backup's checksum does not match: the file is damaged or was edited; nothing restored"
                    .into(),
            )));
        }
        let text = std::str::from_utf8(body).map_err(|_| bad("not UTF-8"))?;
        let mut lines = text.lines();
        let header: serde_json::Value = lines
            .next()
            .and_then(|l| serde_json::from_str(l).ok())
            .ok_or_else(|| bad("no header"))?;
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
        let mut tables = Vec::new();
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
            let count = field(t, "rows")
                .as_u64()
                .ok_or_else(|| bad("a table without a row count"))?;
            let mut rows = Vec::new();
            for _ in 0..count {
                let line = lines
                    .next()
                    .ok_or_else(|| bad("fewer rows than the header says"))?;
                let values: Vec<serde_json::Value> =
                    serde_json::from_str(line).map_err(|_| bad("a malformed row"))?;
                if values.len() != columns.len() {
                    return Err(bad("a row with the wrong number of values"));
                }
                rows.push(
                    values
                        .iter()
                        .map(|v| Val::from_json(v).map_err(|e| bad(&e)))
                        .collect::<Result<Vec<_>>>()?,
                );
            }
            tables.push(TableDump {
                name: name.to_owned(),
                columns,
                rows,
            });
        }
        if lines.next().is_some() {
            return Err(bad("more rows than the header says"));
        }
        Ok(Self {
            backend: field(&header, "backend")
                .as_str()
                .unwrap_or("unknown")
                .to_owned(),
            migrations,
            tables,
        })
    }

    /// Writes the file as [`BackupFile`] does (0600, never overwriting, synced, atomic).
    ///
    /// # Errors
    /// [`VaultError::Invalid`] when the file exists or cannot be written.
    pub fn write(&self, path: &std::path::Path) -> Result<()> {
        let mut file = BackupFile::create(path)?;
        let tables = self.headers();
        file.header(&self.backend, &self.migrations, &tables)?;
        for row in self.tables.iter().flat_map(|t| &t.rows) {
            file.row(row)?;
        }
        file.finish()
    }

    /// Reads and checks a backup file.
    ///
    /// # Errors
    /// As [`Snapshot::from_bytes`], or when the file cannot be read.
    pub fn read(path: &std::path::Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| {
            VaultError::Invalid(crate::Invalid::Operator(format!(
                "cannot read the backup {}: {e}",
                path.display()
            )))
        })?;
        Self::from_bytes(&bytes)
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
/// mode 0600, never overwriting, synced to disk, and atomic — the bytes go to `FILE.partial`
/// and appear under `FILE` only once complete and synced (a hard link, which refuses an
/// existing `FILE`), so a crash or `kill -9` never leaves a truncated backup under the name a
/// restore would use (found by the crash loop of issue 18). Dropped unfinished, it removes
/// its partial file.
pub(super) struct BackupFile {
    enc: Encoder<std::io::BufWriter<std::fs::File>>,
    path: std::path::PathBuf,
    partial: std::path::PathBuf,
}

impl BackupFile {
    /// Starts `FILE.partial` for `path`.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] when `path` exists or the file cannot be created.
    pub(super) fn create(path: &std::path::Path) -> Result<Self> {
        if path.exists() {
            return Err(write_error(
                path,
                std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            ));
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = std::path::PathBuf::from(partial);
        // Left by an interrupted run of this same backup: never a complete backup.
        let _ = std::fs::remove_file(&partial);
        let file = crate::store::owner_only::open(
            &partial,
            std::fs::OpenOptions::new().write(true).create_new(true),
        )
        .map_err(|e| write_error(path, e))?;
        Ok(Self {
            enc: Encoder::new(std::io::BufWriter::with_capacity(1 << 16, file)),
            path: path.to_owned(),
            partial,
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
        let path = self.path.clone();
        let io = |e: std::io::Error| write_error(&path, e);
        self.enc.checksum().map_err(io)?;
        self.enc.out.flush().map_err(io)?;
        self.enc.out.get_ref().sync_all().map_err(io)?;
        let published =
            std::fs::hard_link(&self.partial, &self.path).and_then(|()| sync_parent(&self.path));
        // Drop removes the partial name; the published link keeps the data.
        drop(self);
        published.map_err(io)
    }
}

impl Drop for BackupFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.partial);
    }
}

fn write_error(path: &std::path::Path, e: std::io::Error) -> VaultError {
    VaultError::Invalid(crate::Invalid::Operator(format!(
        "cannot write the backup {}: {e}",
        path.display()
    )))
}

/// Makes a new directory entry durable (Unix; NTFS journals its metadata).
fn sync_parent(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            dir
        };
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Snapshot {
        Snapshot {
            backend: "sqlite".into(),
            migrations: vec![1, 2],
            tables: vec![
                TableDump {
                    name: "audit".into(),
                    columns: vec!["seq".into(), "hash".into(), "note".into()],
                    rows: vec![
                        vec![Val::Int(1), Val::Blob(vec![0, 255]), Val::Null],
                        vec![
                            Val::Int(i64::MAX),
                            Val::Blob(vec![]),
                            Val::Text("a\n\"b\"".into()),
                        ],
                    ],
                },
                TableDump {
                    name: "flags".into(),
                    columns: vec!["on".into(), "ratio".into()],
                    rows: vec![vec![Val::Bool(true), Val::Float(0.5)]],
                },
            ],
        }
    }

    #[test]
    fn backup_file_round_trips() {
        let bytes = sample().to_bytes();
        let back = Snapshot::from_bytes(&bytes).unwrap();
        assert_eq!(back.migrations, [1, 2]);
        assert_eq!(back.backend(), "sqlite");
        assert_eq!(back.tables.len(), 2);
        for (a, b) in back.tables.iter().zip(sample().tables.iter()) {
            assert_eq!(a.name, b.name);
            assert_eq!(a.columns, b.columns);
            assert!(a.rows == b.rows);
        }
        assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn damaged_truncated_or_newer_files_are_refused() {
        let bytes = sample().to_bytes();
        let mut flipped = bytes.clone();
        flipped[40] ^= 1;
        let err = Snapshot::from_bytes(&flipped).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
        let err = Snapshot::from_bytes(&bytes[..bytes.len() / 2])
            .unwrap_err()
            .to_string();
        assert!(err.contains("tokendesk backup"), "{err}");
        assert!(Snapshot::from_bytes(b"").is_err());
        assert!(Snapshot::from_bytes(b"SQLite format 3\0garbage").is_err());
        // A well-formed file of a newer version is named as such.
        let text = String::from_utf8(bytes).unwrap();
        let body_end = text.trim_end().rfind('\n').unwrap() + 1;
        let body = text[..body_end].replacen("\"version\":1", "\"version\":2", 1);
        let sum = data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(body.as_bytes()));
        let newer = format!("{body}sha256 {sum}\n");
        let err = Snapshot::from_bytes(newer.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("version 2"), "{err}");
    }
}
