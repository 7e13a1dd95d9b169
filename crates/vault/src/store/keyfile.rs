//! The master key on disk: an owner-only file (0600; on Windows an ACL for the current user)
//! holding 64 hex digits. Files readable by group or others are refused (Unix). Rotation stages the new key beside the old one (`<file>.new`) and renames it into
//! place only after the database commit, so an interruption at any point leaves a key that opens
//! the vault.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use data_encoding::HEXLOWER_PERMISSIVE;
use tokendesk_crypto::{KEY_LEN, MasterKey};
use zeroize::Zeroizing;

use crate::error::StoreError;
use crate::error::{Result, VaultError};
use crate::store::owner_only;

fn key_error(path: &Path, reason: impl Into<String>) -> VaultError {
    VaultError::Store(StoreError::KeyFile {
        path: path.display().to_string(),
        reason: reason.into(),
    })
}

/// Parses 64 hex digits (surrounding whitespace ignored), as in the key file or
/// `TOKENDESK_MASTER_KEY`. The error says only what shape was expected.
///
/// # Errors
/// [`VaultError::Invalid`] if the text is not exactly 32 bytes of hex.
pub fn parse_key_hex(text: &str) -> Result<MasterKey> {
    let trimmed = text.trim();
    let bad = || {
        VaultError::Invalid(crate::Invalid::Operator(format!(
            "a master key is {} hex digits; got {} characters",
            KEY_LEN * 2,
            trimmed.len()
        )))
    };
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    if trimmed.len() != KEY_LEN * 2 {
        return Err(bad());
    }
    HEXLOWER_PERMISSIVE
        .decode_mut(trimmed.as_bytes(), bytes.as_mut())
        .map_err(|_| bad())?;
    Ok(MasterKey::from_bytes(bytes.as_ref())?)
}

fn key_hex(key: &MasterKey) -> Zeroizing<String> {
    let mut text = Zeroizing::new(data_encoding::HEXLOWER.encode(key.expose_bytes()));
    text.push('\n');
    text
}

fn write_new_file(path: &Path, key: &MasterKey) -> Result<()> {
    let mut file = owner_only::open(path, OpenOptions::new().write(true).create_new(true))
        .map_err(|e| key_error(path, format!("cannot create it: {e}")))?;
    file.write_all(key_hex(key).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| key_error(path, format!("cannot write it: {e}")))
}

/// Creates a new key file with mode 0600 and returns the key. Never overwrites.
///
/// # Errors
/// [`StoreError::KeyFile`] if the file exists or cannot be written.
pub fn create_key_file(path: &Path) -> Result<MasterKey> {
    let key = MasterKey::generate()?;
    write_new_file(path, &key)?;
    Ok(key)
}

/// Reads a key file, refusing one that group or others can read or write.
///
/// # Errors
/// [`StoreError::KeyFile`] for a missing, unreadable, too-open or malformed file.
pub fn read_key_file(path: &Path) -> Result<MasterKey> {
    let meta = fs::metadata(path).map_err(|e| {
        key_error(
            path,
            format!("cannot read it ({e}); run `tokendesk init` or set TOKENDESK_MASTER_KEY_FILE"),
        )
    })?;
    if let Some(mode) = owner_only::is_open_to_others(&meta) {
        return Err(key_error(
            path,
            format!(
                "is accessible by group or others (mode {mode:04o}); run `chmod 600 {}`",
                path.display()
            ),
        ));
    }
    let text = Zeroizing::new(
        fs::read_to_string(path).map_err(|e| key_error(path, format!("cannot read it: {e}")))?,
    );
    parse_key_hex(&text).map_err(|_| key_error(path, "does not hold a 64-hex-digit key"))
}

/// Where a rotation stages the new key.
pub fn staged_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// Writes the new key to `<path>.new` (0600), replacing a stale one from an earlier
/// interrupted rotation.
///
/// # Errors
/// [`StoreError::KeyFile`] if it cannot be written.
pub fn stage_key_file(path: &Path, key: &MasterKey) -> Result<PathBuf> {
    let staged = staged_path(path);
    if staged.exists() {
        fs::remove_file(&staged).map_err(|e| key_error(&staged, format!("cannot remove: {e}")))?;
    }
    write_new_file(&staged, key)?;
    Ok(staged)
}

/// Moves the staged key into place (atomic rename on one file system).
///
/// # Errors
/// [`StoreError::KeyFile`] if the rename fails.
pub fn promote_staged_key(path: &Path) -> Result<()> {
    let staged = staged_path(path);
    fs::rename(&staged, path).map_err(|e| key_error(&staged, format!("cannot rename: {e}")))?;
    if let Some(dir) = path.parent() {
        // Persist the rename itself; failure here only weakens durability, not correctness.
        let _ = fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn created_file_is_private_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let key = create_key_file(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_key_file(&path).unwrap().key_id(), key.key_id());
        assert!(create_key_file(&path).is_err(), "must never overwrite");
    }

    #[test]
    fn group_or_world_readable_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        create_key_file(&path).unwrap();
        for mode in [0o640, 0o604, 0o660] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = read_key_file(&path).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
    }

    #[test]
    fn malformed_key_text_is_rejected_without_echo() {
        let err = parse_key_hex("zz-not-a-key-but-secretish")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secretish"), "{err}");
        assert!(parse_key_hex(&"ab".repeat(32)).is_ok());
        assert!(parse_key_hex(&"ab".repeat(31)).is_err());
        assert!(parse_key_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn staged_key_is_promoted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        create_key_file(&path).unwrap();
        let new = MasterKey::generate().unwrap();
        stage_key_file(&path, &new).unwrap();
        stage_key_file(&path, &new).unwrap();
        promote_staged_key(&path).unwrap();
        assert_eq!(read_key_file(&path).unwrap().key_id(), new.key_id());
        assert!(!staged_path(&path).exists());
    }
}
