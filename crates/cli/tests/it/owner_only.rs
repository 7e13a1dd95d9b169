//! Issue 13: the data folder is created 0700 and the database (with its -wal and -shm files) and
//! the master key 0600, whatever the umask, through `init` and through `serve`'s first start.

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// `tokendesk --data DATA ARGS` under umask 022, which makes files 0644 unless asked otherwise.
fn under_umask_022(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("umask 022 && exec \"$0\" \"$@\"")
        .arg(assert_cmd::cargo::cargo_bin("tokendesk"))
        .arg("--data")
        .arg(data)
        .args(args);
    for var in [
        "TOKENDESK_MASTER_KEY",
        "TOKENDESK_PASSPHRASE",
        "TOKENDESK_MASTER_KEY_FILE",
        "TOKENDESK_DATABASE_URL",
        "TOKENDESK_DATA",
        "TOKENDESK_LISTEN",
        "TOKENDESK_CONFIG",
    ] {
        c.env_remove(var);
    }
    c.env("TOKENDESK_ACTOR", "tester");
    c
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Every file in `data` is 0600 and `data` itself 0700; returns the file names seen.
fn assert_owner_only(data: &Path) -> Vec<String> {
    assert_eq!(mode(data), 0o700, "{}", data.display());
    let mut names = Vec::new();
    for entry in std::fs::read_dir(data).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        names.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    names.sort();
    names
}

#[test]
fn issue_13_init_creates_owner_only_folder_database_and_key() {
    // `init` left vault.db 0644 (SQLite's default) under the usual umask.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let o = under_umask_022(&data, &["init"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = under_umask_022(&data, &["add", "--user", "alice@contoso.com", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"JBSWY3DPEHPK3PXP\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let names = assert_owner_only(&data);
    assert!(names.contains(&"vault.db".to_owned()), "{names:?}");
    assert!(names.contains(&"master.key".to_owned()), "{names:?}");
}

#[test]
fn issue_13_serve_creates_owner_only_database_wal_shm_and_key() {
    // `serve` creates the vault on first start; its open WAL files must be private too.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = under_umask_022(&data, &["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains("tokendesk listening on") {
                let _ = tx.send(());
            }
        }
    });
    let listening = rx.recv_timeout(Duration::from_secs(60));
    let names = listening.map(|()| assert_owner_only(&data));
    child.kill().unwrap();
    child.wait().unwrap();
    let names = names.expect("serve did not report listening within 60 s");
    for name in ["vault.db", "vault.db-wal", "vault.db-shm", "master.key"] {
        assert!(
            names.contains(&name.to_owned()),
            "{name} missing: {names:?}"
        );
    }
}
