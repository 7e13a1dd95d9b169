//! Every backend-specific string: URL schemes, the migrator, the write-transaction `BEGIN` and
//! SQLite pragmas. The rest of the crate writes portable SQL with `$n` placeholders.

use std::path::PathBuf;
use std::str::FromStr;

use sqlx::migrate::Migrator;

use crate::error::StoreError;
use crate::error::{Result, VaultError};

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a vault lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file (the default).
    Sqlite,
    /// A PostgreSQL server, shared by several tokendesk processes.
    Postgres,
}

impl Backend {
    /// Picks the backend from the URL scheme.
    ///
    /// # Errors
    /// [`StoreError::UnsupportedUrl`] for other schemes.
    pub fn from_url(url: &str) -> Result<Self> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            other => Err(VaultError::Store(StoreError::UnsupportedUrl {
                scheme: other.to_owned(),
            })),
        }
    }

    /// Short name for diagnostics.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    pub(crate) fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        }
    }

    /// SQLite takes the write lock at `BEGIN IMMEDIATE`, so two writers queue on the busy
    /// timeout instead of failing at their first write; PostgreSQL locks rows as it goes.
    pub(crate) fn begin_write(self) -> &'static str {
        match self {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    /// Run first in every write transaction: makes writers take turns on PostgreSQL as
    /// `BEGIN IMMEDIATE` does on SQLite, so a rule checked by reading (the daily reveal quota,
    /// attempt limits) holds across several instances on one database, not only within one
    /// process. The lock is the audit head's row, which every audited write locks anyway at its
    /// end (so throughput barely changes); taking it first only moves the wait before the reads.
    /// Found by `it::concurrency::two_instances_share_one_quota`: two instances granted 6–9
    /// reveals of a quota of 5 under READ COMMITTED without it.
    pub(crate) fn serialize_writers(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"),
        }
    }

    /// Run on every new connection.
    pub(crate) fn connection_setup(self) -> &'static str {
        match self {
            Backend::Sqlite => {
                "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL"
            }
            Backend::Postgres => "SET TIME ZONE 'UTC'",
        }
    }

    /// Run once after opening, before migrations.
    pub(crate) fn open_setup(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => Some("PRAGMA journal_mode = WAL"),
            Backend::Postgres => None,
        }
    }

    /// SQLite creates the file only when asked (`mode=rwc`).
    pub(crate) fn normalise_url(self, url: &str) -> String {
        match self {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        }
    }

    /// The file a normalised SQLite URL lets SQLite create (`mode=rwc`, not in memory), so the
    /// store can create it owner-only first.
    pub(crate) fn sqlite_file_to_create(self, url: &str) -> Option<PathBuf> {
        if self != Backend::Sqlite {
            return None;
        }
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
        let creates = params.split('&').any(|p| p == "mode=rwc");
        if !creates || database.is_empty() || database == ":memory:" {
            return None;
        }
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
        Some(options.get_filename().to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_picks_backend() {
        assert_eq!(
            Backend::from_url("sqlite:///tmp/x.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://h/db").ok(),
            Some(Backend::Postgres)
        );
        assert!(Backend::from_url("mysql://h/db").is_err());
    }

    #[test]
    fn sqlite_urls_get_create_mode() {
        assert_eq!(
            Backend::Sqlite.normalise_url("sqlite:///a.db"),
            "sqlite:///a.db?mode=rwc"
        );
        assert_eq!(
            Backend::Sqlite.normalise_url("sqlite:///a.db?mode=ro"),
            "sqlite:///a.db?mode=ro"
        );
    }

    #[test]
    fn only_creatable_sqlite_files_are_created_ahead() {
        let file = |url: &str| Backend::Sqlite.sqlite_file_to_create(url);
        assert_eq!(
            file("sqlite:///d/v%3Fx.db?mode=rwc"),
            Some(PathBuf::from("/d/v?x.db"))
        );
        assert_eq!(
            file("sqlite:rel.db?mode=rwc&cache=shared"),
            Some(PathBuf::from("rel.db"))
        );
        assert_eq!(file("sqlite:///d/v.db?mode=rw"), None);
        assert_eq!(file("sqlite::memory:?mode=rwc"), None);
        assert_eq!(file("sqlite://?mode=memory"), None);
        assert_eq!(
            Backend::Postgres.sqlite_file_to_create("postgres://h/db?mode=rwc"),
            None
        );
    }
}
