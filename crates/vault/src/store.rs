//! The connection pool: one `AnyPool` for SQLite or PostgreSQL, migrated on open, and the single
//! entry point for writes (`Store::write`), which runs a closure inside one transaction.

use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use crate::backend::Backend;
use sha2::Digest;

use crate::error::{Result, VaultError};

/// A migrated database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects, applies the per-connection settings and runs pending migrations.
    ///
    /// # Errors
    /// Unsupported URL, unreachable database or a failed migration.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let setup = backend.connection_setup();
        let url = backend.normalise_url(url);
        if let Some(path) = backend.sqlite_file_to_create(&url) {
            // Owner-only before SQLite would create it 0644; -wal and -shm copy its mode.
            crate::owner_only::create_empty_if_missing(&path).map_err(|e| {
                sqlx::Error::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot create {}: {e}", path.display()),
                ))
            })?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 8,
            })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    conn.execute(setup).await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        if let Some(sql) = backend.open_setup() {
            pool.execute(sql).await?;
        }
        crate::schema::refuse_newer(crate::schema::status(&pool, backend).await?)?;
        backend.migrator().run(&pool).await?;
        Ok(Self { pool, backend })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Connections open and, of those, idle (for metrics).
    pub fn pool_usage(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    /// The pool, for reads.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE` on SQLite) and commits only if it
    /// returns `Ok`; any error rolls back everything `f` did.
    ///
    /// # Errors
    /// Whatever `f` returns, or a database error from begin/commit.
    pub(crate) async fn write<T>(
        &self,
        f: impl AsyncFnOnce(&mut AnyConnection) -> Result<T>,
    ) -> Result<T> {
        let mut tx = self.pool.begin_with(self.backend.begin_write()).await?;
        let out = f(&mut tx).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Opens a write transaction (`BEGIN IMMEDIATE` on SQLite) for a caller that answers
    /// several requests from one transaction (group commit of reveals): unlike
    /// [`Store::write`], one transaction's outcome is not one `Result`.
    ///
    /// # Errors
    /// Database errors.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(self.pool.begin_with(self.backend.begin_write()).await?)
    }

    /// Writes a consistent online snapshot of every table (SQLite or PostgreSQL) to `path` as a
    /// portable, versioned, checksummed backup file (see [`Snapshot`]). The file is as
    /// encrypted as the database: it holds wrapped keys and sealed seeds only. Never overwrites.
    ///
    /// # Errors
    /// Database errors; [`VaultError::Invalid`] when the file exists or cannot be written.
    pub async fn backup_to(&self, path: &std::path::Path) -> Result<Snapshot> {
        let snapshot = self.snapshot().await?;
        snapshot.write(path)?;
        Ok(snapshot)
    }

    /// Reads every table in one snapshot: `REPEATABLE READ, READ ONLY` on PostgreSQL, one read
    /// transaction on SQLite (WAL readers see one point in time). The tables are whatever the
    /// migrations created (found in the catalog), so new migrations need no change here.
    ///
    /// # Errors
    /// Database errors.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN",
            Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        };
        let mut tx = self.pool.begin_with(begin).await?;
        let migrations = applied_migrations(&mut tx).await?;
        let mut tables = Vec::new();
        for name in table_names(&mut tx, self.backend).await? {
            let columns = table_columns(&mut tx, self.backend, &name).await?;
            let list = column_list(&columns);
            let sql = format!("SELECT {list} FROM {} ORDER BY 1", quote(&name));
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *tx)
                .await?;
            let mut values = Vec::with_capacity(rows.len());
            for row in &rows {
                let mut out = Vec::with_capacity(columns.len());
                for (i, (_, kind)) in columns.iter().enumerate() {
                    out.push(decode(row, i, *kind)?);
                }
                values.push(out);
            }
            tables.push(TableDump {
                name,
                columns: columns.into_iter().map(|(c, _)| c).collect(),
                rows: values,
            });
        }
        tx.commit().await?;
        Ok(Snapshot {
            backend: self.backend.as_str().to_owned(),
            migrations,
            tables,
        })
    }

    /// Replaces every table's contents with the snapshot's, in one write transaction: the
    /// migration sets and column lists must match, rows are inserted parents first (foreign
    /// keys), and PostgreSQL sequences are moved past the restored ids. Any error rolls back
    /// everything, leaving the database as it was.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] when the snapshot does not fit this schema; database errors.
    pub async fn replace_with(&self, snapshot: &Snapshot) -> Result<()> {
        let backend = self.backend;
        self.write(async |conn: &mut AnyConnection| {
            let migrations = applied_migrations(conn).await?;
            if migrations != snapshot.migrations {
                return Err(VaultError::Invalid(format!(
                    "the backup was made with schema migrations {:?}, this database has {:?}; \
                     restore with the tokendesk version that made it",
                    snapshot.migrations, migrations
                )));
            }
            let names = table_names(conn, backend).await?;
            let mut expected: Vec<&str> = snapshot.tables.iter().map(|t| t.name.as_str()).collect();
            expected.sort_unstable();
            if names.iter().map(String::as_str).collect::<Vec<_>>() != expected {
                return Err(VaultError::Invalid(format!(
                    "the backup holds tables {expected:?}, this database has {names:?}"
                )));
            }
            let order = insert_order(conn, backend, &names).await?;
            match backend {
                Backend::Postgres => {
                    let all: Vec<String> = names.iter().map(|n| quote(n)).collect();
                    let sql = format!("TRUNCATE {}", all.join(", "));
                    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
                }
                Backend::Sqlite => {
                    for name in order.iter().rev() {
                        let sql = format!("DELETE FROM {}", quote(name));
                        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
                    }
                }
            }
            for name in &order {
                let Some(table) = snapshot.tables.iter().find(|t| &t.name == name) else {
                    continue;
                };
                let columns = table_columns(conn, backend, name).await?;
                let mut target_names: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
                let mut given: Vec<&str> = table.columns.iter().map(String::as_str).collect();
                target_names.sort_unstable();
                given.sort_unstable();
                if target_names != given {
                    return Err(VaultError::Invalid(format!(
                        "table {name}: the backup has columns {given:?}, this database {target_names:?}"
                    )));
                }
                insert_rows(conn, backend, table, &columns).await?;
                if backend == Backend::Postgres {
                    reset_sequences(conn, name, &columns).await?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Closes the pool, waiting for connections to finish (checkpoints the SQLite WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// What a column holds, from its declared type (the `Any` driver's value kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Float,
    Bool,
    Text,
    Blob,
}

fn kind_of(declared: &str) -> Kind {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") || t.contains("SERIAL") {
        Kind::Int
    } else if t.contains("BOOL") {
        Kind::Bool
    } else if t.contains("BLOB") || t.contains("BYTEA") {
        Kind::Blob
    } else if t.contains("REAL")
        || t.contains("DOUBLE")
        || t.contains("FLOAT")
        || t.contains("NUMERIC")
    {
        Kind::Float
    } else {
        Kind::Text
    }
}

/// `"name"` with embedded quotes doubled.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn column_list(columns: &[(String, Kind)]) -> String {
    columns
        .iter()
        .map(|(c, _)| quote(c))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn applied_migrations(conn: &mut AnyConnection) -> Result<Vec<i64>> {
    let rows = sqlx::query("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| r.try_get::<i64, _>(0).map_err(VaultError::from))
        .collect()
}

/// Every table of the schema except sqlx's bookkeeping, by name.
async fn table_names(conn: &mut AnyConnection, backend: Backend) -> Result<Vec<String>> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             AND name <> '_sqlx_migrations' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema() \
             AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations' ORDER BY 1"
        }
    };
    let rows = sqlx::query(sql).fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).map_err(VaultError::from))
        .collect()
}

async fn table_columns(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &str,
) -> Result<Vec<(String, Kind)>> {
    let sql = match backend {
        Backend::Sqlite => "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
        Backend::Postgres => {
            "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
        }
    };
    let rows = sqlx::query(sql).bind(table).fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            let name: String = r.try_get(0)?;
            let declared: String = r.try_get(1)?;
            Ok((name, kind_of(&declared)))
        })
        .collect()
}

/// Tables ordered so that a table comes after every table its foreign keys point to.
async fn insert_order(
    conn: &mut AnyConnection,
    backend: Backend,
    names: &[String],
) -> Result<Vec<String>> {
    let mut edges: Vec<(String, String)> = Vec::new();
    match backend {
        Backend::Sqlite => {
            for name in names {
                let rows = sqlx::query("SELECT \"table\" FROM pragma_foreign_key_list($1)")
                    .bind(name.as_str())
                    .fetch_all(&mut *conn)
                    .await?;
                for r in rows {
                    edges.push((name.clone(), r.try_get::<String, _>(0)?));
                }
            }
        }
        Backend::Postgres => {
            let rows = sqlx::query(
                "SELECT CAST(c.conrelid::regclass AS TEXT), CAST(c.confrelid::regclass AS TEXT) \
                 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
                 WHERE c.contype = 'f' AND n.nspname = current_schema()",
            )
            .fetch_all(&mut *conn)
            .await?;
            for r in rows {
                let from: String = r.try_get(0)?;
                let to: String = r.try_get(1)?;
                edges.push((
                    from.trim_matches('"').to_owned(),
                    to.trim_matches('"').to_owned(),
                ));
            }
        }
    }
    let mut order: Vec<String> = Vec::with_capacity(names.len());
    let mut left: Vec<String> = names.to_vec();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .iter()
            .filter(|t| {
                edges
                    .iter()
                    .filter(|(from, to)| from == *t && to != *t)
                    .all(|(_, to)| order.contains(to) || !names.contains(to))
            })
            .cloned()
            .collect();
        if ready.is_empty() {
            // A foreign-key cycle: keep the rest in name order (SQLite defers the checks).
            order.append(&mut left);
            break;
        }
        left.retain(|t| !ready.contains(t));
        order.extend(ready);
    }
    Ok(order)
}

/// At most this many bound values per INSERT (SQLite allows 32766, PostgreSQL 65535).
const MAX_BINDS: usize = 8_000;

async fn insert_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &TableDump,
    target: &[(String, Kind)],
) -> Result<()> {
    if table.rows.is_empty() {
        return Ok(());
    }
    let kinds: Vec<Kind> = table
        .columns
        .iter()
        .map(|c| {
            target
                .iter()
                .find(|(n, _)| n == c)
                .map(|(_, k)| *k)
                .unwrap_or(Kind::Text)
        })
        .collect();
    let cols: Vec<String> = table.columns.iter().map(|c| quote(c)).collect();
    let width = cols.len().max(1);
    let per_batch = (MAX_BINDS / width).max(1);
    let overriding = match backend {
        Backend::Postgres => " OVERRIDING SYSTEM VALUE",
        Backend::Sqlite => "",
    };
    for batch in table.rows.chunks(per_batch) {
        let mut n = 0usize;
        let tuples: Vec<String> = batch
            .iter()
            .map(|_| {
                let ps: Vec<String> = (0..width)
                    .map(|_| {
                        n += 1;
                        format!("${n}")
                    })
                    .collect();
                format!("({})", ps.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}){overriding} VALUES {}",
            quote(&table.name),
            cols.join(", "),
            tuples.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in batch {
            if row.len() != kinds.len() {
                return Err(VaultError::Invalid(format!(
                    "table {}: a row has {} values for {} columns",
                    table.name,
                    row.len(),
                    kinds.len()
                )));
            }
            for (value, (kind, col)) in row.iter().zip(kinds.iter().zip(&table.columns)) {
                q = bind(q, value, *kind).map_err(|what| {
                    VaultError::Invalid(format!(
                        "table {}, column {col}: the backup holds {what}",
                        table.name
                    ))
                })?;
            }
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

fn bind<'q>(q: AnyQuery<'q>, value: &Val, kind: Kind) -> std::result::Result<AnyQuery<'q>, String> {
    Ok(match (kind, value) {
        (Kind::Int, Val::Null) => q.bind(None::<i64>),
        (Kind::Float, Val::Null) => q.bind(None::<f64>),
        (Kind::Bool, Val::Null) => q.bind(None::<bool>),
        (Kind::Text, Val::Null) => q.bind(None::<String>),
        (Kind::Blob, Val::Null) => q.bind(None::<Vec<u8>>),
        (Kind::Int, Val::Int(v)) => q.bind(*v),
        (Kind::Int, Val::Bool(b)) => q.bind(i64::from(*b)),
        (Kind::Bool, Val::Bool(b)) => q.bind(*b),
        (Kind::Bool, Val::Int(v)) => q.bind(*v != 0),
        (Kind::Float, Val::Float(v)) => q.bind(*v),
        #[allow(clippy::cast_precision_loss)]
        (Kind::Float, Val::Int(v)) => q.bind(*v as f64),
        (Kind::Text, Val::Text(t)) => q.bind(t.clone()),
        (Kind::Blob, Val::Blob(b)) => q.bind(b.clone()),
        (_, other) => {
            return Err(format!(
                "{} where the database expects {kind:?}",
                other.kind_name()
            ));
        }
    })
}

fn decode(row: &AnyRow, i: usize, kind: Kind) -> Result<Val> {
    Ok(match kind {
        Kind::Int => row
            .try_get::<Option<i64>, _>(i)?
            .map_or(Val::Null, Val::Int),
        Kind::Float => row
            .try_get::<Option<f64>, _>(i)?
            .map_or(Val::Null, Val::Float),
        Kind::Bool => row
            .try_get::<Option<bool>, _>(i)?
            .map_or(Val::Null, Val::Bool),
        Kind::Text => row
            .try_get::<Option<String>, _>(i)?
            .map_or(Val::Null, Val::Text),
        Kind::Blob => row
            .try_get::<Option<Vec<u8>>, _>(i)?
            .map_or(Val::Null, Val::Blob),
    })
}

/// Moves each PostgreSQL sequence owned by a column past the largest restored value.
async fn reset_sequences(
    conn: &mut AnyConnection,
    table: &str,
    columns: &[(String, Kind)],
) -> Result<()> {
    for (col, kind) in columns {
        if *kind != Kind::Int {
            continue;
        }
        let seq: Option<String> = sqlx::query("SELECT pg_get_serial_sequence($1, $2)")
            .bind(quote(table))
            .bind(col.as_str())
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        if let Some(seq) = seq {
            let sql = format!(
                "SELECT CAST(setval($1, COALESCE((SELECT MAX({}) FROM {}), 0) + 1, false) AS BIGINT)",
                quote(col),
                quote(table)
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(seq)
                .fetch_one(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// One value of a backed-up row.
#[derive(Clone, PartialEq)]
enum Val {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
    Blob(Vec<u8>),
}

impl Val {
    fn kind_name(&self) -> &'static str {
        match self {
            Val::Null => "NULL",
            Val::Int(_) => "an integer",
            Val::Float(_) => "a real number",
            Val::Bool(_) => "a boolean",
            Val::Text(_) => "text",
            Val::Blob(_) => "bytes",
        }
    }

    fn to_json(&self) -> serde_json::Value {
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

    fn from_json(v: &serde_json::Value) -> std::result::Result<Self, String> {
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
struct TableDump {
    name: String,
    columns: Vec<String>,
    rows: Vec<Vec<Val>>,
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
    backend: String,
    migrations: Vec<i64>,
    tables: Vec<TableDump>,
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

    /// The file's bytes: header, rows, checksum.
    pub fn to_bytes(&self) -> Vec<u8> {
        use serde_json::json;
        let header = json!({
            "format": BACKUP_FORMAT,
            "version": BACKUP_VERSION,
            "backend": self.backend,
            "migrations": self.migrations,
            "tables": self.tables.iter().map(|t| json!({
                "name": t.name, "columns": t.columns, "rows": t.rows.len()
            })).collect::<Vec<_>>(),
        });
        let mut out = header.to_string().into_bytes();
        out.push(b'\n');
        for t in &self.tables {
            for row in &t.rows {
                let values: Vec<serde_json::Value> = row.iter().map(Val::to_json).collect();
                out.extend_from_slice(serde_json::Value::Array(values).to_string().as_bytes());
                out.push(b'\n');
            }
        }
        let sum = data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(&out));
        out.extend_from_slice(format!("sha256 {sum}\n").as_bytes());
        out
    }

    /// Parses and checks a backup file's bytes.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] naming what is wrong: not a backup, a newer version, a checksum
    /// mismatch (damaged or edited), or malformed rows.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad =
            |what: &str| VaultError::Invalid(format!("not a usable tokendesk backup: {what}"));
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
            return Err(VaultError::Invalid(
                "the backup's checksum does not match: the file is damaged or was edited; nothing restored"
                    .into(),
            ));
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
            return Err(VaultError::Invalid(format!(
                "backup format version {version} is not supported by this tokendesk (it reads version {BACKUP_VERSION})"
            )));
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

    /// Writes the file (mode 0600, never overwriting, synced to disk).
    ///
    /// # Errors
    /// [`VaultError::Invalid`] when the file exists or cannot be written.
    pub fn write(&self, path: &std::path::Path) -> Result<()> {
        use std::io::Write;
        let io = |e: std::io::Error| {
            VaultError::Invalid(format!("cannot write the backup {}: {e}", path.display()))
        };
        let mut file = crate::owner_only::open(
            path,
            std::fs::OpenOptions::new().write(true).create_new(true),
        )
        .map_err(io)?;
        let written = file
            .write_all(&self.to_bytes())
            .and_then(|()| file.sync_all());
        if let Err(e) = written {
            drop(file);
            let _ = std::fs::remove_file(path);
            return Err(io(e));
        }
        Ok(())
    }

    /// Reads and checks a backup file.
    ///
    /// # Errors
    /// As [`Snapshot::from_bytes`], or when the file cannot be read.
    pub fn read(path: &std::path::Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| {
            VaultError::Invalid(format!("cannot read the backup {}: {e}", path.display()))
        })?;
        Self::from_bytes(&bytes)
    }
}

/// Maps a unique-constraint violation to a domain error, passing others through.
pub(crate) fn on_unique(err: sqlx::Error, map: impl FnOnce() -> VaultError) -> VaultError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => map(),
        _ => VaultError::Database(err),
    }
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

    #[test]
    fn declared_types_map_to_value_kinds() {
        assert_eq!(kind_of("BIGINT"), Kind::Int);
        assert_eq!(kind_of("bigint"), Kind::Int);
        assert_eq!(kind_of("BYTEA"), Kind::Blob);
        assert_eq!(kind_of("BLOB"), Kind::Blob);
        assert_eq!(kind_of("boolean"), Kind::Bool);
        assert_eq!(kind_of("TEXT"), Kind::Text);
        assert_eq!(kind_of("double precision"), Kind::Float);
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }
}
