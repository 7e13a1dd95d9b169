//! Issue 17: `serve --backup-dir` writes the consistent backup at start (and on its timer) and
//! keeps the newest K; a restore drill from that file: wipe the vault, `restore`, `audit
//! verify`, and a reveal gives the same code as before.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::{stderr, stdout, tokendesk, tokendesk_at, tokendesk_process};

const SEED: &str = "JBSWY3DPEHPK3PXP";
const USER: &str = "alice@contoso.com";

fn td(data: &Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut c = tokendesk_at(data);
    c.args(args);
    if let Some(input) = stdin {
        c.write_stdin(input);
    }
    c.output().unwrap()
}

fn ok(data: &Path, args: &[&str]) -> String {
    let o = td(data, args, None);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

/// The backups in `dir`, oldest first.
fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "tdb"));
    files.sort();
    files
}

#[test]
fn issue_17_scheduled_backup_restores_after_a_wipe_with_the_same_codes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let backup_dir = dir.path().join("backups");
    ok(&data, &["init"]);
    let o = td(&data, &["add", "--user", USER, "-"], Some(SEED));
    assert!(o.status.success(), "{}", stderr(&o));
    // Two older backups and a file of the operator's, to see pruning with --backup-keep 2.
    std::fs::create_dir(&backup_dir).unwrap();
    for old in [
        "tokendesk-20200101T000000Z.tdb",
        "tokendesk-20210101T000000Z.tdb",
    ] {
        std::fs::write(backup_dir.join(old), b"old").unwrap();
    }
    std::fs::write(backup_dir.join("README"), b"mine").unwrap();

    let mut server = tokendesk_process(&data)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--backup-keep",
            "2",
            "--backup-dir",
        ])
        .arg(&backup_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let written = loop {
        let files = backups(&backup_dir);
        let new: Vec<_> = files
            .iter()
            .filter(|p| {
                !p.ends_with("tokendesk-20200101T000000Z.tdb")
                    && !p.ends_with("tokendesk-20210101T000000Z.tdb")
            })
            .cloned()
            .collect();
        if (!new.is_empty() && files.len() == 2) || Instant::now() > deadline {
            break new;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(written.len(), 1, "no scheduled backup within 60 s");
    let backup = written[0].clone();
    let names: Vec<_> = backups(&backup_dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 2, "kept the newest 2: {names:?}");
    assert!(
        !backup_dir.join("tokendesk-20200101T000000Z.tdb").exists(),
        "the oldest was pruned"
    );
    assert!(
        backup_dir.join("README").exists(),
        "other files are left alone"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let before = ok(
        &data,
        &[
            "code",
            USER,
            "--ticket",
            "INC-1",
            "--verified",
            "call-back",
            "--future",
            "1",
        ],
    );
    // Read after the reveal: a step boundary in between makes it the revealed "next" code.
    let expected = stdout(&tokendesk().args(["otp", SEED]).output().unwrap());
    assert!(before.contains(expected.trim()), "{before}");

    // The drill: the vault is lost (the key file is kept apart, as the README asks).
    for name in ["vault.db", "vault.db-wal", "vault.db-shm"] {
        let _ = std::fs::remove_file(data.join(name));
    }
    let o = td(&data, &["list"], None);
    assert_ne!(o.status.code(), Some(0), "the vault is gone");
    let restored = ok(&data, &["restore", backup.to_str().unwrap()]);
    assert!(restored.contains("restored"), "{restored}");
    assert!(ok(&data, &["audit", "verify"]).contains("intact"));
    let after = ok(
        &data,
        &[
            "code",
            USER,
            "--ticket",
            "INC-2",
            "--verified",
            "call-back",
            "--future",
            "1",
        ],
    );
    // Read after the reveal: a step boundary in between makes it the revealed "next" code.
    let expected = stdout(&tokendesk().args(["otp", SEED]).output().unwrap());
    assert!(after.contains(expected.trim()), "{after}");
}
