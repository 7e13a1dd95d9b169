//! The database's schema version against the migrations this build carries. `Store::open`
//! refuses, before any migration runs, a database written by a newer tokendesk (its
//! migrations would be unknown here); `tokendesk doctor` reports pending migrations without
//! applying them ([`schema_status`]).

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

use super::backend::Backend;
use crate::error::{Result, StoreError, VaultError};

/// Where a database's schema stands compared with this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Highest migration applied to the database; `None` for an empty database.
    pub database: Option<i64>,
    /// Highest migration this build carries.
    pub binary: i64,
    /// Migrations of this build not yet applied (they run at the next open).
    pub pending: usize,
}

impl SchemaStatus {
    /// Written by a newer tokendesk: this build must not open it.
    pub fn is_newer_than_binary(&self) -> bool {
        self.database.is_some_and(|v| v > self.binary)
    }
}

/// Reads the schema version through `pool` without changing anything.
pub(crate) async fn status(pool: &AnyPool, backend: Backend) -> Result<SchemaStatus> {
    let exists_sql = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
        }
    };
    let exists: i64 = sqlx::query(exists_sql).fetch_one(pool).await?.try_get(0)?;
    let applied: Vec<i64> = if exists > 0 {
        sqlx::query("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| row.try_get::<i64, _>(0))
            .collect::<std::result::Result<_, _>>()?
    } else {
        Vec::new()
    };
    let known: Vec<i64> = backend
        .migrator()
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .collect();
    Ok(SchemaStatus {
        database: applied.iter().copied().max(),
        binary: known.iter().copied().max().unwrap_or(0),
        pending: known.iter().filter(|v| !applied.contains(v)).count(),
    })
}

/// Refuses a database newer than this build, naming both versions.
pub(crate) fn refuse_newer(status: SchemaStatus) -> Result<()> {
    match status.database {
        Some(database) if status.is_newer_than_binary() => {
            Err(VaultError::Store(StoreError::SchemaNewer {
                database,
                binary: status.binary,
            }))
        }
        _ => Ok(()),
    }
}

/// The schema status of the database at `url`, without migrating it or creating a SQLite file.
///
/// # Errors
/// An unsupported URL or an unreachable database (a missing SQLite file included).
pub async fn schema_status(url: &str) -> Result<SchemaStatus> {
    sqlx::any::install_default_drivers();
    let backend = Backend::from_url(url)?;
    let url = match backend {
        // Read-write but never create: a missing file is "unreachable", not a new vault.
        Backend::Sqlite if !url.contains("mode=") => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=rw")
        }
        _ => url.to_owned(),
    };
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(&url)
        .await?;
    let result = status(&pool, backend).await;
    pool.close().await;
    result
}
