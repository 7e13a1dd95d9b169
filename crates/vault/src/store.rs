//! The connection pool: one `AnyPool` for SQLite or PostgreSQL, migrated on open, and the single
//! entry point for writes (`Store::write`), which runs a closure inside one transaction.

use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

use crate::backend::Backend;
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
            .connect(&backend.normalise_url(url))
            .await?;
        if let Some(sql) = backend.open_setup() {
            pool.execute(sql).await?;
        }
        backend.migrator().run(&pool).await?;
        Ok(Self { pool, backend })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
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

    /// Writes a consistent snapshot of a SQLite vault to `path` while it stays online
    /// (`VACUUM INTO`); the copy is as encrypted as the original. PostgreSQL is backed up with
    /// `pg_dump`.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] on PostgreSQL; database errors (for example an existing file).
    pub async fn backup_to(&self, path: &std::path::Path) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Err(VaultError::Invalid(
                "backups of a PostgreSQL vault are taken with pg_dump; see docs/vault.md".into(),
            ));
        }
        let target = path
            .to_str()
            .ok_or_else(|| VaultError::Invalid("the backup path is not valid UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
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
        _ => VaultError::Database(err),
    }
}
