//! The connection pool: one `AnyPool` for SQLite or PostgreSQL, migrated on open, and the single
//! entry point for writes (`Store::write`), which runs a closure inside one transaction. Below it:
//! the backends, backup and restore, the audit chain, the clock and the key files.

use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

use backend::Backend;

use crate::error::StoreError;
use crate::error::{Result, VaultError};

pub(crate) mod audit_chain;
pub(crate) mod backend;
mod backup;
pub(crate) mod bulk;
pub(crate) mod clock;
pub(crate) mod keyfile;
pub(crate) mod keyring;
pub mod owner_only;
pub(crate) mod schema;
mod snapshot;

pub use backup::BackupReport;
pub use snapshot::CheckedBackup;

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
            crate::store::owner_only::create_empty_if_missing(&path).map_err(|e| {
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
        schema::refuse_newer(schema::status(&pool, backend).await?)?;
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

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE` on SQLite; the writers' lock on
    /// PostgreSQL, [`Backend::serialize_writers`]) and commits only if it returns `Ok`; any error
    /// rolls back everything `f` did.
    ///
    /// # Errors
    /// Whatever `f` returns, or a database error from begin/commit.
    pub(crate) async fn write<T>(
        &self,
        f: impl AsyncFnOnce(&mut AnyConnection) -> Result<T>,
    ) -> Result<T> {
        let mut tx = self.begin_write().await?;
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
        let mut tx = self.pool.begin_with(self.backend.begin_write()).await?;
        if let Some(sql) = self.backend.serialize_writers() {
            sqlx::query(sql).fetch_optional(&mut *tx).await?;
        }
        Ok(tx)
    }

    /// Closes the pool, waiting for connections to finish (checkpoints the SQLite WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Maps a unique-constraint violation to a domain error, passing others through.
pub(crate) fn on_unique(err: sqlx::Error, map: impl FnOnce() -> VaultError) -> VaultError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => map(),
        _ => VaultError::Store(StoreError::Database(err)),
    }
}
