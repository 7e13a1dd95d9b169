//! The desk's sign-in, kept in the user's profile: `desk-login.json` in the user's
//! configuration folder (`$XDG_CONFIG_HOME/tokendesk` or `~/.config/tokendesk` on Linux,
//! `%APPDATA%\tokendesk` on Windows; `TOKENDESK_DESK_PROFILE` names another file), created
//! owner-only (0600, or an ACL for the user alone on Windows). It holds the server URL, the CA
//! file, the desk token and whose it is; never a seed or a code.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tokendesk_vault::owner_only;
use zeroize::Zeroizing;

/// Environment variable naming the profile file.
pub(crate) const PROFILE_ENV: &str = "TOKENDESK_DESK_PROFILE";

/// A stored desk sign-in.
#[derive(Serialize, Deserialize)]
pub(crate) struct Profile {
    pub server: String,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    pub token: String,
    pub username: String,
    pub desk: String,
    pub expires_unix_secs: i64,
}

impl Drop for Profile {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.token);
    }
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("desk", &self.desk)
            .finish_non_exhaustive()
    }
}

/// Where the profile lives.
pub(crate) fn path() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os(PROFILE_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let base = if cfg!(windows) {
        std::env::var_os("APPDATA").map(PathBuf::from)
    } else {
        std::env::var_os("XDG_CONFIG_HOME")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
    };
    let base = base.context(
        "cannot find the user's configuration folder; set TOKENDESK_DESK_PROFILE to a file path",
    )?;
    Ok(base.join("tokendesk").join("desk-login.json"))
}

/// Writes the profile (replacing any), owner-only from its creation.
pub(crate) fn save(profile: &Profile) -> anyhow::Result<PathBuf> {
    let path = path()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        owner_only::create_dir_all(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    remove(&path)?;
    let text = Zeroizing::new(serde_json::to_vec_pretty(profile)?);
    let mut file = owner_only::open(
        &path,
        std::fs::OpenOptions::new().write(true).create_new(true),
    )
    .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(&text)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The stored sign-in, or a message saying to sign in.
pub(crate) fn load() -> anyhow::Result<Profile> {
    let path = path()?;
    let text = match std::fs::read(&path) {
        Ok(t) => Zeroizing::new(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "this desk is not signed in; run `tokendesk login https://your-tokendesk-server` first"
            )
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    serde_json::from_slice(&text).with_context(|| {
        format!(
            "{} is not a desk sign-in; delete it and run `tokendesk login` again",
            path.display()
        )
    })
}

/// Deletes the profile file; a missing one is fine.
pub(crate) fn remove(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot delete {}", path.display())),
    }
}
