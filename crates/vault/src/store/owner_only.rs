//! Files and folders only their owner can open: the data folder, the database, key files,
//! backups and exports. On Unix they are created 0700 (folders) and 0600 (files), whatever the
//! umask. On Windows the new file or folder gets a protected ACL (inheritance removed) with one
//! entry, full control for the current user, set through `icacls` (see ARCHITECTURE.md for why
//! not a crate); a folder's entry is inherited by what is created inside it.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Creates `path` and its missing parents, each new one owner-only. An existing folder keeps its
/// permissions.
///
/// # Errors
/// The underlying I/O error.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
    }
    #[cfg(windows)]
    {
        if path.is_dir() {
            return Ok(());
        }
        std::fs::create_dir_all(path)?;
        windows::restrict(path, true)
    }
}

/// Opens `path` with `options`; a file the call creates is owner-only from the start on Unix
/// (mode 0600) and restricted before this returns, so before anything is written, on Windows.
///
/// # Errors
/// The underlying I/O error; on Windows also a failure to set the ACL (the new file is removed).
pub fn open(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).open(path)
    }
    #[cfg(windows)]
    {
        let existed = path.exists();
        let file = options.open(path)?;
        if let Err(e) = windows::restrict(path, false) {
            drop(file);
            if !existed {
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
        Ok(file)
    }
}

/// Creates an empty owner-only file at `path` unless something is there already, so a program
/// that would create it with default permissions (SQLite: 0644) finds it instead. SQLite gives
/// its `-wal` and `-shm` files the database file's permissions.
///
/// # Errors
/// The underlying I/O error.
pub fn create_empty_if_missing(path: &Path) -> io::Result<()> {
    match open(path, OpenOptions::new().write(true).create_new(true)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// A new owner-only file that appears under its name only once complete: the bytes go to
/// `FILE.partial` and [`NewFile::finish`] syncs them and publishes them under `FILE` (a hard
/// link, which refuses an existing `FILE`), so a crash or `kill -9` never leaves a truncated
/// backup or export under the name a reader would use (found by the crash loop of issue 18).
/// Dropped unfinished, it removes its partial file. Unbuffered: a caller writing secrets
/// buffers them in zeroizing memory.
#[derive(Debug)]
pub struct NewFile {
    file: File,
    path: PathBuf,
    partial: PathBuf,
}

impl NewFile {
    /// Starts `FILE.partial` for `path`, replacing one an interrupted run left (never a
    /// complete file).
    ///
    /// # Errors
    /// [`io::ErrorKind::AlreadyExists`] when `path` exists; the underlying I/O error.
    pub fn create(path: &Path) -> io::Result<Self> {
        if path.exists() {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let _ = std::fs::remove_file(&partial);
        let file = open(&partial, OpenOptions::new().write(true).create_new(true))?;
        Ok(Self {
            file,
            path: path.to_owned(),
            partial,
        })
    }

    /// Syncs the bytes and publishes them under the file's name.
    ///
    /// # Errors
    /// The underlying I/O error (then the partial file is removed and nothing is published).
    pub fn finish(self) -> io::Result<()> {
        self.file.sync_all()?;
        std::fs::hard_link(&self.partial, &self.path)?;
        // Drop removes the partial name; the published link keeps the data.
        sync_parent(&self.path)
    }
}

impl io::Write for NewFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.partial);
    }
}

/// Makes a new directory entry durable (Unix; NTFS journals its metadata).
fn sync_parent(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Whether group or others may open the file (Unix permission bits), with the mode for the
/// message. Windows ACLs are not inspected: there the protection is set at creation only.
pub fn is_open_to_others(meta: &std::fs::Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(windows)]
    {
        let _ = meta;
        None
    }
}

/// The icacls principal for `whoami /user /fo csv /nh`'s output: `*SID` from
/// `"machine\user","S-1-5-…"`, else a lone `machine\user` line as it is; `None` for anything
/// else (nothing is granted to a name we did not understand).
#[cfg_attr(not(windows), allow(dead_code))]
fn principal(whoami: &str) -> Option<String> {
    let text = whoami.trim();
    let last = text.rsplit(',').next()?.trim().trim_matches('"');
    if last.starts_with("S-1-")
        && last
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == 'S')
    {
        return Some(format!("*{last}"));
    }
    let plain = |part: &str| {
        !part.is_empty()
            && !part
                .chars()
                .any(|c| c.is_control() || matches!(c, '"' | ',' | ':' | '*' | '\\'))
    };
    match text.split_once('\\') {
        Some((machine, user)) if plain(machine) && plain(user) => Some(text.to_owned()),
        _ => None,
    }
}

#[cfg(windows)]
mod windows {
    //! The owner-only ACL through the system's `icacls` and `whoami`, called by absolute path.

    use std::io;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::sync::OnceLock;

    fn system32(exe: &str) -> PathBuf {
        let root = std::env::var_os("SystemRoot").unwrap_or_else(|| "C:\\Windows".into());
        PathBuf::from(root).join("System32").join(exe)
    }

    /// Who gets the entry: the current user's SID (`*S-1-5-21-…`, icacls's syntax for a SID),
    /// from `whoami /user /fo csv /nh`, which prints `"machine\user","S-1-5-21-…"`. A `whoami`
    /// that prints only the account (`machine\user`, as Wine's does) gives that name instead,
    /// which icacls resolves to the same account.
    fn current_user() -> io::Result<String> {
        static WHO: OnceLock<Option<String>> = OnceLock::new();
        let who = WHO.get_or_init(|| {
            let out = Command::new(system32("whoami.exe"))
                .args(["/user", "/fo", "csv", "/nh"])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()?;
            if !out.status.success() {
                return None;
            }
            super::principal(&String::from_utf8_lossy(&out.stdout))
        });
        who.clone().ok_or_else(|| {
            io::Error::other("cannot find the current user's account with whoami /user")
        })
    }

    /// Replaces the ACL of `path` with full control for the current user only (inherited by
    /// children when `dir`).
    pub(super) fn restrict(path: &Path, dir: bool) -> io::Result<()> {
        let who = current_user()?;
        let grant = if dir {
            format!("{who}:(OI)(CI)F")
        } else {
            format!("{who}:F")
        };
        let status = Command::new(system32("icacls.exe"))
            .arg(path)
            .args(["/inheritance:r", "/grant:r"])
            .arg(grant)
            .arg("/q")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "icacls could not make {} private to the current user ({status})",
                path.display()
            )))
        }
    }
}

#[cfg(test)]
mod principal_tests {
    use super::principal;

    #[test]
    fn whoami_output_becomes_an_icacls_principal() {
        assert_eq!(
            principal("\"DESK-7\\ana\",\"S-1-5-21-1004336348-1177238915-682003330-1001\"\r\n")
                .as_deref(),
            Some("*S-1-5-21-1004336348-1177238915-682003330-1001")
        );
        // Wine's whoami prints the account only.
        assert_eq!(principal("VM\\root\r\n").as_deref(), Some("VM\\root"));
        for odd in [
            "",
            "\r\n",
            "root",
            "a\\b\\c",
            "\"x\",\"y\"",
            "a\\b:F",
            "S-1-5-21-0;rm",
        ] {
            assert_eq!(principal(odd), None, "{odd:?}");
        }
    }
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_folders_and_files_are_owner_only_and_existing_files_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        create_dir_all(&nested).unwrap();
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&nested), 0o700);
        let file = nested.join("f");
        create_empty_if_missing(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        std::fs::write(&file, b"kept").unwrap();
        create_empty_if_missing(&file).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"kept");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(is_open_to_others(&meta), Some(0o640));
    }

    #[test]
    fn a_new_file_appears_only_when_finished_and_never_over_another() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let partial = dir.path().join("out.csv.partial");
        // Left by a killed run: replaced, never published.
        std::fs::write(&partial, b"stale").unwrap();
        let mut f = NewFile::create(&path).unwrap();
        f.write_all(b"complete").unwrap();
        assert!(!path.exists(), "nothing under the name before finish");
        assert_eq!(mode(&partial), 0o600);
        f.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"complete");
        assert_eq!(mode(&path), 0o600);
        assert!(!partial.exists());
        let err = NewFile::create(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        // Dropped unfinished: no file under either name.
        let other = dir.path().join("other.csv");
        let mut f = NewFile::create(&other).unwrap();
        f.write_all(b"half").unwrap();
        drop(f);
        assert!(!other.exists());
        assert!(!dir.path().join("other.csv.partial").exists());
    }
}
