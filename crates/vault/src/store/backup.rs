//! Online backup and restore: a consistent snapshot of every table the migrations made, streamed
//! to a file, and the replacement of a database's contents by a checked backup file, streamed
//! from it in one transaction.

use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use super::backend::Backend;
use futures_util::TryStreamExt as _;

use super::snapshot::{BackupFile, CheckedBackup, TableHeader, TableIndex, TableRows, Val};
use crate::error::{Result, VaultError};

/// What [`Store::backup_to`] wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    backend: String,
    tables: Vec<(String, usize)>,
}

impl BackupReport {
    /// The backend the backup was taken from (`sqlite` or `postgres`).
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// Rows per table, by name.
    pub fn row_counts(&self) -> Vec<(String, usize)> {
        self.tables.clone()
    }
}

impl Store {
    /// Writes a consistent online snapshot of every table (SQLite or PostgreSQL) to `path` as a
    /// portable, versioned, checksummed backup file (see [`CheckedBackup`]). The file is as
    /// encrypted as the database: it holds wrapped keys and sealed seeds only. Never overwrites.
    /// Rows are streamed from the database to the file, so memory stays flat whatever the
    /// vault's size (issue 18: 100,000 records took 514 MB when the snapshot was built first).
    ///
    /// # Errors
    /// Database errors; [`VaultError::Invalid`] when the file exists or cannot be written.
    pub async fn backup_to(&self, path: &std::path::Path) -> Result<BackupReport> {
        let mut tx = self.pool.begin_with(self.snapshot_begin()).await?;
        let migrations = applied_migrations(&mut tx).await?;
        let mut tables = Vec::new();
        for name in table_names(&mut tx, self.backend).await? {
            let columns = table_columns(&mut tx, self.backend, &name).await?;
            let count_sql = format!("SELECT COUNT(*) FROM {}", quote(&name));
            let rows: i64 = sqlx::query(sqlx::AssertSqlSafe(count_sql))
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            tables.push((name, columns, usize::try_from(rows).unwrap_or(0)));
        }
        let mut file = BackupFile::create(path)?;
        let names: Vec<Vec<String>> = tables
            .iter()
            .map(|(_, columns, _)| columns.iter().map(|(c, _)| c.clone()).collect())
            .collect();
        let headers: Vec<TableHeader<'_>> = tables
            .iter()
            .zip(&names)
            .map(|((name, _, rows), columns)| TableHeader {
                name,
                columns,
                rows: *rows,
            })
            .collect();
        file.header(self.backend.as_str(), &migrations, &headers)?;
        for (name, columns, expected) in &tables {
            let sql = format!(
                "SELECT {} FROM {} ORDER BY 1",
                column_list(columns),
                quote(name)
            );
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *tx);
            let mut written = 0usize;
            let mut values = Vec::with_capacity(columns.len());
            while let Some(row) = rows.try_next().await? {
                values.clear();
                for (i, (_, kind)) in columns.iter().enumerate() {
                    values.push(decode(&row, i, *kind)?);
                }
                file.row(&values)?;
                written += 1;
            }
            if written != *expected {
                // One read transaction sees one point in time; this would be a database bug.
                return Err(VaultError::Invalid(crate::Invalid::Operator(format!(
                    "table {name} changed during the backup ({expected} rows counted, {written} \
                     read); nothing was written"
                ))));
            }
        }
        tx.commit().await?;
        file.finish()?;
        Ok(BackupReport {
            backend: self.backend.as_str().to_owned(),
            tables: tables.into_iter().map(|(n, _, rows)| (n, rows)).collect(),
        })
    }

    /// A read transaction that sees one point in time: `REPEATABLE READ, READ ONLY` on
    /// PostgreSQL; on SQLite, WAL readers see one point in time within a transaction.
    fn snapshot_begin(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "BEGIN",
            Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        }
    }

    /// Replaces every table's contents with the backup's, in one write transaction: the
    /// migration sets and column lists must match, rows are inserted parents first (foreign
    /// keys), each table's rows read again from the file and compared with the check's digest,
    /// and PostgreSQL sequences are moved past the restored ids. Any error rolls back
    /// everything, leaving the database as it was. Memory stays flat: rows go from the file to
    /// the database a statement at a time.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] when the backup does not fit this schema, or its file changed
    /// since it was checked; database errors.
    pub async fn replace_with(&self, backup: &CheckedBackup) -> Result<()> {
        let backend = self.backend;
        self.write(async |conn: &mut AnyConnection| {
            let migrations = applied_migrations(conn).await?;
            if migrations != backup.migrations() {
                return Err(VaultError::Invalid(crate::Invalid::Operator(format!(
                    "the backup was made with schema migrations {:?}, this database has {:?}; \
                     restore with the tokendesk version that made it",
                    backup.migrations(),
                    migrations
                ))));
            }
            let names = table_names(conn, backend).await?;
            let mut expected: Vec<&str> =
                backup.tables().iter().map(|t| t.name.as_str()).collect();
            expected.sort_unstable();
            if names.iter().map(String::as_str).collect::<Vec<_>>() != expected {
                return Err(VaultError::Invalid(crate::Invalid::Operator(format!(
                    "the backup holds tables {expected:?}, this database has {names:?}"
                ))));
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
                let Some(table) = backup.tables().iter().find(|t| &t.name == name) else {
                    continue;
                };
                let columns = table_columns(conn, backend, name).await?;
                let mut target_names: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
                let mut given: Vec<&str> = table.columns.iter().map(String::as_str).collect();
                target_names.sort_unstable();
                given.sort_unstable();
                if target_names != given {
                    return Err(VaultError::Invalid(crate::Invalid::Operator(format!(
                        "table {name}: the backup has columns {given:?}, this database {target_names:?}"
                    ))));
                }
                let mut rows = backup.rows(table)?;
                insert_rows(conn, backend, table, &mut rows, &columns).await?;
                if backend == Backend::Postgres {
                    reset_sequences(conn, name, &columns).await?;
                }
            }
            Ok(())
        })
        .await
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

/// At most this many bound values per INSERT (SQLite allows 32766, PostgreSQL 65535). SQLite
/// finds each parameter's name by a linear scan, and sqlx asks for every one, so a statement of
/// n values costs O(n²) there: 8,000 made restoring 100,000 records take 93 s (issue 18); 256
/// keeps that cost below the per-statement one. PostgreSQL has no such cost.
fn max_binds(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 256,
        Backend::Postgres => 8_000,
    }
}

async fn insert_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &TableIndex,
    rows: &mut TableRows,
    target: &[(String, Kind)],
) -> Result<()> {
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
    let per_batch = (max_binds(backend) / width).max(1);
    let overriding = match backend {
        Backend::Postgres => " OVERRIDING SYSTEM VALUE",
        Backend::Sqlite => "",
    };
    let mut batch: Vec<Vec<Val>> = Vec::with_capacity(per_batch);
    loop {
        batch.clear();
        while batch.len() < per_batch
            && let Some(row) = rows.next_row()?
        {
            batch.push(row);
        }
        if batch.is_empty() {
            return Ok(());
        }
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
        for row in &batch {
            for (value, (kind, col)) in row.iter().zip(kinds.iter().zip(&table.columns)) {
                q = bind(q, value, *kind).map_err(|what| {
                    VaultError::Invalid(crate::Invalid::Operator(format!(
                        "table {}, column {col}: the backup holds {what}",
                        table.name
                    )))
                })?;
            }
        }
        q.execute(&mut *conn).await?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
