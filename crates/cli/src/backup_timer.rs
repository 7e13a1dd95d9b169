//! `serve`'s scheduled backups: at start and then every N hours, the same consistent backup as
//! `tokendesk backup` (one snapshot, checksummed, mode 0600) into a folder as
//! `tokendesk-YYYYMMDDTHHMMSSZ.tdb`, keeping the newest K such files. Files of other names in
//! the folder are never touched.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokendesk_vault::Vault;

use crate::clock::{Clock, SystemClock};

/// Where, how often, and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackupPlan {
    pub dir: PathBuf,
    pub every: Duration,
    pub keep: usize,
}

const PREFIX: &str = "tokendesk-";
const SUFFIX: &str = ".tdb";

/// The backup file name for Unix time `unix_secs` (sorts by time).
fn file_name(unix_secs: u64) -> String {
    let at = i64::try_from(unix_secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{PREFIX}{:04}{:02}{:02}T{:02}{:02}{:02}Z{SUFFIX}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

fn is_backup_name(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix(SUFFIX))
        .is_some_and(|stamp| stamp.len() == 16 && stamp.ends_with('Z'))
}

/// Deletes all but the newest `keep` backups in `dir`; returns the deleted paths.
///
/// # Errors
/// The folder cannot be listed.
pub(crate) fn prune(dir: &Path, keep: usize) -> std::io::Result<Vec<PathBuf>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_backup_name(n))
        .collect();
    names.sort();
    let excess = names.len().saturating_sub(keep);
    let mut deleted = Vec::new();
    for name in names.into_iter().take(excess) {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => deleted.push(path),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot delete an old backup")
            }
        }
    }
    Ok(deleted)
}

/// One backup now, then pruning.
async fn once(vault: &Vault, plan: &BackupPlan) {
    let path = plan.dir.join(file_name(SystemClock.now_unix_secs()));
    match vault.store().backup_to(&path).await {
        Ok(snapshot) => {
            let rows: usize = snapshot.row_counts().iter().map(|(_, n)| n).sum();
            tracing::info!(path = %path.display(), rows, "backup written");
        }
        Err(e) => tracing::error!(path = %path.display(), error = %e, "scheduled backup failed"),
    }
    match prune(&plan.dir, plan.keep) {
        Ok(deleted) => {
            for path in deleted {
                tracing::info!(path = %path.display(), "old backup deleted");
            }
        }
        Err(e) => tracing::warn!(dir = %plan.dir.display(), error = %e, "cannot prune backups"),
    }
}

/// Backs up at start and every `plan.every`, until the task is dropped.
pub(crate) async fn run(vault: Arc<Vault>, plan: BackupPlan) {
    let mut tick = tokio::time::interval(plan.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        once(&vault, &plan).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_and_are_recognised() {
        assert_eq!(file_name(0), "tokendesk-19700101T000000Z.tdb");
        assert_eq!(file_name(1_765_000_000), "tokendesk-20251206T054640Z.tdb");
        assert!(is_backup_name(&file_name(1_765_000_000)));
        for other in [
            "vault.db",
            "tokendesk-x.tdb",
            "tokendesk-20251206T054640Z.tdb.tmp",
        ] {
            assert!(!is_backup_name(other), "{other}");
        }
    }

    #[test]
    fn prune_keeps_the_newest_and_nothing_else_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        for t in [3, 1, 4, 2] {
            std::fs::write(dir.path().join(file_name(t * 3600)), b"x").unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), b"keep me").unwrap();
        let deleted = prune(dir.path(), 2).unwrap();
        assert_eq!(deleted.len(), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["notes.txt", &file_name(3 * 3600), &file_name(4 * 3600)]
        );
    }
}
