//! The vault commands over the real binary, each test once on SQLite and once on PostgreSQL.

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use assert_cmd::Command;
use sqlx::{AnyPool, Executor};

use crate::{stderr, stdout};

/// One test body, run on both backends.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(super::Td::sqlite())
            }
            #[test]
            fn postgres() {
                super::$name(super::Td::postgres())
            }
        }
    )*};
}

const SECRET: &str = "2sk2tsmkjp7kdbck";
const SECRET_B32: &str = "2SK2TSMKJP7KDBCK";
const SECRET_HEX: &str = "d4b5a9c98a4bfea18c4a";
const OTHER: &str = "JBSWY3DPEHPK3PXP";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A vault under test: a temp data dir, and a PostgreSQL database when asked for.
pub struct Td {
    dir: tempfile::TempDir,
    /// The database URL and the scratch database it names (dropped with it).
    pg: Option<(String, crate::scratch_db::ScratchDb)>,
    /// Everything printed by the commands run so far (for the leak check).
    log: std::cell::RefCell<String>,
}

impl Td {
    fn sqlite() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            pg: None,
            log: Default::default(),
        }
    }

    fn postgres() -> Self {
        let (url, db) = runtime().block_on(crate::scratch_db::ScratchDb::postgres());
        Self {
            dir: tempfile::tempdir().unwrap(),
            pg: Some((url, db)),
            log: Default::default(),
        }
    }

    fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("tokendesk").unwrap();
        c.arg("--data").arg(self.data());
        for var in [
            "TOKENDESK_MASTER_KEY",
            "TOKENDESK_PASSPHRASE",
            "TOKENDESK_MASTER_KEY_FILE",
            "TOKENDESK_DATABASE_URL",
            "TOKENDESK_DATA",
        ] {
            c.env_remove(var);
        }
        c.env("TOKENDESK_ACTOR", "tester");
        if let Some((url, _)) = &self.pg {
            c.env("TOKENDESK_DATABASE_URL", url);
        }
        c
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = self.cmd();
        c.args(args);
        if let Some(s) = stdin {
            c.write_stdin(s);
        }
        let o = c.output().unwrap();
        self.log.borrow_mut().push_str(&stdout(&o));
        self.log.borrow_mut().push_str(&stderr(&o));
        o
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args, None);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        stdout(&o)
    }

    fn fails(&self, args: &[&str], code: i32) -> String {
        let o = self.run(args, None);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{args:?}: {} {}",
            stdout(&o),
            stderr(&o)
        );
        stderr(&o)
    }

    fn database_url(&self) -> String {
        match &self.pg {
            Some((url, _)) => url.clone(),
            None => format!("sqlite://{}", self.data().join("vault.db").display()),
        }
    }

    fn sql(&self, statement: &'static str) {
        let url = self.database_url();
        runtime().block_on(async {
            let pool = AnyPool::connect(&url).await.unwrap();
            pool.execute(statement).await.unwrap();
            pool.close().await;
        });
    }

    fn init_with_alice(&self) {
        self.ok(&["init"]);
        let o = self.run(
            &[
                "add",
                "--user",
                "Alice@Contoso.com",
                "--serial",
                "T2-1",
                "-",
            ],
            Some(SECRET),
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }

    /// No seed in any output so far, in base32 (any case) or hex.
    fn assert_no_leak(&self) {
        let log = self.log.borrow().to_uppercase();
        for form in [SECRET_B32, SECRET_HEX, OTHER, "2SK2 TSMK"] {
            assert!(
                !log.contains(&form.to_uppercase()),
                "seed {form} in output:\n{log}"
            );
        }
    }
}

fn current_code(td: &Td, secret: &str) -> String {
    td.ok(&["otp", secret])
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// The start of the current time step, as the binary sees the clock (`otp --json`).
fn step_start_now(td: &Td) -> i64 {
    let out: serde_json::Value = serde_json::from_str(&td.ok(&["otp", "--json", SECRET])).unwrap();
    out["codes"][0]["valid_from"].as_i64().unwrap()
}

both_backends!(
    issue_13_code_at_is_bounded_in_the_cli,
    workflow_from_capture_to_purge,
    illegal_transition_exits_2_and_names_the_state,
    wrong_key_and_open_key_file_are_refused,
    import_is_all_or_nothing,
    audit_tampering_is_reported_by_verify,
    export_is_private_audited_and_refused_for_purged,
    rotation_replaces_the_key_file_and_recovers_a_staged_key,
    quota_limits_reveals,
);

fn workflow_from_capture_to_purge(td: Td) {
    td.init_with_alice();
    let mode = std::fs::metadata(td.data().join("master.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let list: serde_json::Value = serde_json::from_str(&td.ok(&["list", "--json"])).unwrap();
    assert_eq!(list[0]["upn"], "alice@contoso.com");
    assert_eq!(list[0]["state"], "captured");
    // A reveal at a given time (an hour ahead: inside the reveal window) equals `tokendesk otp`
    // at that time.
    let at = (step_start_now(&td) + 3600).to_string();
    let at = at.as_str();
    let code: serde_json::Value = serde_json::from_str(&td.ok(&[
        "code",
        "alice@contoso.com",
        "--ticket",
        "INC-7",
        "--verified",
        "call-back",
        "--at",
        at,
        "--json",
    ]))
    .unwrap();
    let expected = td.ok(&["otp", SECRET, "--at", at]);
    assert!(
        expected.starts_with(code["codes"][0]["code"].as_str().unwrap()),
        "{expected} vs {code}"
    );
    td.ok(&["burned", "alice@contoso.com", "--model", "C202"]);
    td.ok(&[
        "ship",
        "alice@contoso.com",
        "--carrier",
        "DHL",
        "--tracking",
        "JD1",
    ]);
    assert!(
        td.ok(&["show", "alice@contoso.com"])
            .contains("shipped via DHL JD1")
    );
    let err = td.fails(
        &[
            "deliver",
            "alice@contoso.com",
            "--code",
            "000000",
            "--window",
            "0",
        ],
        2,
    );
    assert!(err.contains("does not match"), "{err}");
    let code = current_code(&td, SECRET);
    assert!(
        td.ok(&["deliver", "alice@contoso.com", "--code", &code])
            .contains("purged")
    );
    let show: serde_json::Value =
        serde_json::from_str(&td.ok(&["show", "alice@contoso.com", "--json"])).unwrap();
    assert_eq!(show[0]["has_seed"], false);
    let err = td.fails(
        &[
            "code",
            "alice@contoso.com",
            "--ticket",
            "T",
            "--verified",
            "call-back",
        ],
        2,
    );
    assert!(err.contains("purged"), "{err}");
    assert!(td.ok(&["audit", "verify"]).contains("intact"));
    let reveals = td.ok(&["audit", "list", "--action", "reveal", "--json"]);
    let reveals: serde_json::Value = serde_json::from_str(&reveals).unwrap();
    assert_eq!(reveals.as_array().unwrap().len(), 1);
    assert_eq!(reveals[0]["detail"]["ticket"], "INC-7");
    td.assert_no_leak();
}

fn illegal_transition_exits_2_and_names_the_state(td: Td) {
    td.init_with_alice();
    for args in [
        &["ship", "alice@contoso.com"][..],
        &["lost", "alice@contoso.com"],
        &["purge", "alice@contoso.com"],
    ] {
        let err = td.fails(args, 2);
        assert!(err.contains("from captured"), "{err}");
    }
    td.ok(&["cancel", "alice@contoso.com", "--reason", "duplicate"]);
    let err = td.fails(&["burned", "alice@contoso.com"], 2);
    assert!(err.contains("from cancelled"), "{err}");
    let err = td.fails(&["add", "--user", "nobody", "--secret", OTHER], 2);
    assert!(err.contains("UPN"), "{err}");
    // Issue 21: the user's language, one the pages have; a region names its language.
    let bob = [
        "add",
        "--user",
        "bob@contoso.com",
        "--secret",
        OTHER,
        "--language",
    ];
    let err = td.fails(&[&bob[..], &["tlh"]].concat(), 2);
    assert!(
        err.contains("no e-mails in \"tlh\": choose one of en, de, fr"),
        "{err}"
    );
    td.ok(&[&bob[..], &["de-CH"]].concat());
    let shown: serde_json::Value =
        serde_json::from_str(&td.ok(&["show", "bob@contoso.com", "--json"])).unwrap();
    assert_eq!(shown[0]["language"], "de", "{shown}");
    td.assert_no_leak();
}

fn wrong_key_and_open_key_file_are_refused(td: Td) {
    td.init_with_alice();
    let err = td.fails(&["init"], 2);
    assert!(err.contains("already") || err.contains("exists"), "{err}");
    let mut c = td.cmd();
    c.env("TOKENDESK_MASTER_KEY", "ab".repeat(32)).arg("list");
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("does not open this vault"),
        "{}",
        stderr(&o)
    );
    let key = td.data().join("master.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = td.fails(&["list"], 3);
    assert!(err.contains("chmod 600"), "{err}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    td.ok(&["list"]);
}

fn import_is_all_or_nothing(td: Td) {
    td.ok(&["init"]);
    let file = td.dir.path().join("sheet.csv");
    std::fs::write(
        &file,
        format!("username;secret\r\nbob@contoso.com;{OTHER}\r\nnot a user;{OTHER}\r\ncarol@contoso.com;{SECRET}\r\n"),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let o = td.run(&["import", f, "--format", "spreadsheet"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("line 3:"), "{}", stdout(&o));
    assert!(td.ok(&["list"]).contains("0 record(s)"));
    assert!(
        td.ok(&[
            "import",
            f,
            "--format",
            "spreadsheet",
            "--skip-invalid",
            "--dry-run"
        ])
        .contains("nothing imported")
    );
    assert!(td.ok(&["list"]).contains("0 record(s)"));
    assert!(
        td.ok(&["import", f, "--format", "spreadsheet", "--skip-invalid"])
            .contains("imported 2")
    );
    // Importing again conflicts with the active records: the whole batch rolls back.
    let good = td.dir.path().join("good.csv");
    std::fs::write(
        &good,
        format!("dave@contoso.com,{OTHER}\nbob@contoso.com,{OTHER}\n"),
    )
    .unwrap();
    td.fails(
        &["import", good.to_str().unwrap(), "--format", "spreadsheet"],
        2,
    );
    let list: serde_json::Value = serde_json::from_str(&td.ok(&["list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let entra = td.dir.path().join("entra.csv");
    std::fs::write(
        &entra,
        "upn,serial number,secret key,timeinterval,manufacturer,model\nhelga@contoso.com,1234567,2234567abcdef2234567abcdef,60,Contoso,HardwareKey\n",
    )
    .unwrap();
    td.ok(&["import", entra.to_str().unwrap(), "--format", "entra"]);
    let helga: serde_json::Value =
        serde_json::from_str(&td.ok(&["show", "helga@contoso.com", "--json"])).unwrap();
    assert_eq!(helga[0]["token"]["period"], 60);
    assert_eq!(helga[0]["token"]["serial"], "1234567");
    assert!(td.ok(&["audit", "verify"]).contains("intact"));
    td.assert_no_leak();
}

fn audit_tampering_is_reported_by_verify(td: Td) {
    td.init_with_alice();
    td.ok(&["burned", "alice@contoso.com"]);
    td.sql("UPDATE audit SET actor = 'mallory' WHERE seq = 2");
    let o = td.run(&["audit", "verify"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("entry 2 was edited"), "{}", stdout(&o));
}

fn export_is_private_audited_and_refused_for_purged(td: Td) {
    td.init_with_alice();
    let out = td.dir.path().join("entra.csv");
    td.ok(&[
        "export",
        "--format",
        "entra",
        "--out",
        out.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text,
        format!(
            "upn,serial number,secret key,time interval,manufacturer,model\nalice@contoso.com,T2-1,{SECRET_B32},30,,\n"
        )
    );
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Never overwrites.
    td.fails(
        &[
            "export",
            "--format",
            "entra",
            "--out",
            out.to_str().unwrap(),
        ],
        3,
    );
    let exports: serde_json::Value =
        serde_json::from_str(&td.ok(&["audit", "list", "--action", "export", "--json"])).unwrap();
    assert_eq!(exports.as_array().unwrap().len(), 1);
    td.ok(&["cancel", "alice@contoso.com"]);
    let uris = td.dir.path().join("uris.txt");
    let err = td.fails(
        &[
            "export",
            "--format",
            "otpauth",
            "--out",
            uris.to_str().unwrap(),
            "--user",
            "alice@contoso.com",
        ],
        2,
    );
    assert!(err.contains("purged"), "{err}");
    assert!(!uris.exists(), "a refused export leaves no file");
    td.fails(
        &[
            "export",
            "--format",
            "otpauth",
            "--out",
            uris.to_str().unwrap(),
            "--state",
            "purged",
        ],
        2,
    );
    td.assert_no_leak();
}

fn rotation_replaces_the_key_file_and_recovers_a_staged_key(td: Td) {
    td.init_with_alice();
    let key = td.data().join("master.key");
    let old = std::fs::read_to_string(&key).unwrap();
    assert!(td.ok(&["key", "rotate"]).contains("version 1 → 2"));
    let new = std::fs::read_to_string(&key).unwrap();
    assert_ne!(old, new);
    assert!(!td.data().join("master.key.new").exists());
    td.ok(&[
        "code",
        "alice@contoso.com",
        "--ticket",
        "T",
        "--verified",
        "call-back",
    ]);
    // A crash between the database commit and the rename: old key in place, new key staged.
    std::fs::rename(&key, td.data().join("master.key.new")).unwrap();
    std::fs::write(&key, &old).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    td.ok(&["list"]);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), new);
    // A stale staged key from a rotation that never committed is ignored.
    std::fs::write(td.data().join("master.key.new"), "cd".repeat(32)).unwrap();
    std::fs::set_permissions(
        td.data().join("master.key.new"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    td.ok(&["list"]);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), new);
    assert!(td.ok(&["audit", "verify"]).contains("intact"));
}

fn issue_13_code_at_is_bounded_in_the_cli(td: Td) {
    // `code --at` could reveal codes for any time, outliving the seed's purge.
    td.init_with_alice();
    let start = step_start_now(&td);
    let code = |at: i64, extra: &[&str]| {
        let at = at.to_string();
        let mut args = vec![
            "code",
            "alice@contoso.com",
            "--ticket",
            "T",
            "--verified",
            "call-back",
            "--at",
            at.as_str(),
        ];
        args.extend_from_slice(extra);
        td.run(&args, None)
    };
    let ok = code(start + 23 * 3600, &[]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    for (at, extra) in [
        (start + 25 * 3600, &[][..]),
        (4_102_444_800, &[][..]),
        (start + 24 * 3600 + 30, &["--json"][..]),
    ] {
        let o = code(at, extra);
        assert_eq!(o.status.code(), Some(2), "{at} {extra:?}");
        assert!(stderr(&o).contains("at most 24 h ahead"), "{}", stderr(&o));
    }
    let o = code(start - 3600, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("3 steps (90 s) back"), "{}", stderr(&o));
    // The limit is a setting (flag or TOKENDESK_REVEAL_MAX_FUTURE_HOURS).
    let o = code(start + 25 * 3600, &["--reveal-max-future-hours", "48"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = code(start + 3 * 3600, &["--reveal-max-future-hours", "2"]);
    assert!(stderr(&o).contains("at most 2 h ahead"), "{}", stderr(&o));
    let o = code(start, &["--reveal-max-future-hours", "0"]);
    assert_eq!(o.status.code(), Some(2), "0 hours is refused by the parser");
    let refused = td.ok(&["audit", "list", "--action", "reveal.refused", "--json"]);
    let refused: serde_json::Value = serde_json::from_str(&refused).unwrap();
    assert_eq!(refused.as_array().unwrap().len(), 5);
    td.assert_no_leak();
}

fn quota_limits_reveals(td: Td) {
    td.init_with_alice();
    let args = [
        "--reveal-quota",
        "2",
        "code",
        "alice@contoso.com",
        "--ticket",
        "T",
        "--verified",
        "passphrase",
    ];
    td.ok(&args);
    td.ok(&args);
    let err = td.fails(&args, 2);
    assert!(err.contains("daily quota is 2"), "{err}");
    let refused = td.ok(&["audit", "list", "--action", "reveal.refused"]);
    assert_eq!(refused.lines().count(), 1);
    td.assert_no_leak();
}

both_backends!(kill_9_during_import_and_rotation_leaves_a_working_vault);

/// Spawns `tokendesk ARGS` and kills it with SIGKILL after `delay_ms` (if still running).
fn run_and_kill(td: &Td, args: &[&str], delay_ms: u64) {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("tokendesk"));
    cmd.arg("--data").arg(td.data()).args(args);
    for var in [
        "TOKENDESK_MASTER_KEY",
        "TOKENDESK_PASSPHRASE",
        "TOKENDESK_MASTER_KEY_FILE",
        "TOKENDESK_DATABASE_URL",
        "TOKENDESK_DATA",
    ] {
        cmd.env_remove(var);
    }
    if let Some((url, _)) = &td.pg {
        cmd.env("TOKENDESK_DATABASE_URL", url);
    }
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The crash test needs real time to pass before the kill; there is no clock to advance.
    std::thread::sleep(std::time::Duration::from_millis(delay_ms));
    let _ = child.kill(); // SIGKILL on Unix
    let _ = child.wait();
}

fn record_count(td: &Td) -> usize {
    let list: serde_json::Value = serde_json::from_str(&td.ok(&["list", "--json"])).unwrap();
    list.as_array().unwrap().len()
}

fn kill_9_during_import_and_rotation_leaves_a_working_vault(td: Td) {
    td.ok(&["init"]);
    let rows = 3000;
    let file = td.dir.path().join("big.csv");
    let mut text = String::from("username,secret\n");
    let mut rng = crate::Rng(0x5eed_1234);
    for i in 0..rows {
        let secret: String = (0..32)
            .map(|_| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[(rng.next() % 32) as usize]))
            .collect();
        text.push_str(&format!("user{i}@contoso.com,{secret}\n"));
    }
    std::fs::write(&file, text).unwrap();
    let f = file.to_str().unwrap();
    let mut imported = false;
    for delay in [50, 200, 500, 900, 1400, 2000, 3000] {
        run_and_kill(&td, &["import", f, "--format", "spreadsheet"], delay);
        let n = record_count(&td);
        assert!(
            n == 0 || n == rows,
            "after a kill at {delay} ms: {n} records (all or nothing)"
        );
        assert!(
            td.ok(&["audit", "verify"]).contains("intact"),
            "after a kill at {delay} ms"
        );
        eprintln!("import killed at {delay} ms: {n} records");
        if n == rows {
            imported = true;
            break;
        }
    }
    if !imported {
        td.ok(&["import", f, "--format", "spreadsheet"]);
    }
    assert_eq!(record_count(&td), rows);
    // Time one whole rotation, then kill others at fractions of it (before, during, after the
    // commit, and between the commit and the key-file rename).
    let started = std::time::Instant::now();
    td.ok(&["key", "rotate"]);
    let full = started.elapsed().as_millis() as u64;
    for delay in [
        full / 5,
        full / 2,
        full * 4 / 5,
        full * 19 / 20,
        full,
        full * 11 / 10,
    ] {
        run_and_kill(&td, &["key", "rotate"], delay);
        assert_eq!(
            record_count(&td),
            rows,
            "after a rotation killed at {delay} ms"
        );
        let rotations = td
            .ok(&["audit", "list", "--action", "key.rotate"])
            .lines()
            .count();
        eprintln!("rotation killed at {delay} ms: {rotations} committed so far");
        assert!(td.ok(&["audit", "verify"]).contains("intact"));
        td.ok(&[
            "code",
            "user7@contoso.com",
            "--ticket",
            "T",
            "--verified",
            "call-back",
            "--reveal-quota",
            "100",
        ]);
    }
    td.ok(&["key", "rotate"]);
    td.ok(&[
        "code",
        "user2999@contoso.com",
        "--ticket",
        "T",
        "--verified",
        "call-back",
    ]);
}

both_backends!(backup_and_restore_verify_before_replacing);

fn backup_and_restore_verify_before_replacing(td: Td) {
    td.init_with_alice();
    let file = td.dir.path().join("backup.tdb");
    let f = file.to_str().unwrap();
    let made = td.ok(&["backup", f]);
    assert!(made.contains("backup of the"), "{made}");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    td.fails(&["backup", f], 2);
    td.ok(&["cancel", "alice@contoso.com"]);
    let original = std::fs::read_to_string(&file).unwrap();
    assert!(original.contains("\"format\":\"tokendesk-backup\""));

    // A damaged file fails its checksum; nothing changes.
    let damaged = td.dir.path().join("damaged.tdb");
    std::fs::write(&damaged, original.replacen("tester", "tester2", 1)).unwrap();
    let err = td.fails(&["restore", damaged.to_str().unwrap()], 2);
    assert!(err.contains("checksum"), "{err}");
    // An edit with a recomputed checksum is caught by the audit chain; nothing changes.
    let forged = td.dir.path().join("forged.tdb");
    std::fs::write(
        &forged,
        with_checksum(&original, |body| {
            body.replacen("\"tester\"", "\"mallory\"", 1)
        }),
    )
    .unwrap();
    let err = td.fails(&["restore", forged.to_str().unwrap()], 2);
    assert!(err.contains("was edited"), "{err}");
    // A truncated file is refused.
    let cut = td.dir.path().join("cut.tdb");
    std::fs::write(&cut, &original[..original.len() / 2]).unwrap();
    td.fails(&["restore", cut.to_str().unwrap()], 2);
    assert!(td.ok(&["list"]).contains("cancelled"));

    td.ok(&["restore", f]);
    assert!(td.ok(&["list"]).contains("captured"));
    assert!(td.ok(&["audit", "verify"]).contains("intact"));
    td.ok(&[
        "code",
        "alice@contoso.com",
        "--ticket",
        "T",
        "--verified",
        "call-back",
    ]);
    // The restored vault goes on working: new records get new audit entries and ids.
    let o = td.run(&["add", "--user", "bob@contoso.com", "-"], Some(OTHER));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(td.ok(&["audit", "verify"]).contains("intact"));
    td.assert_no_leak();
}

both_backends!(issue_18_a_backup_bad_near_its_end_restores_nothing);

// Issue 18: restore reads the file row by row; damage in its last row must still be found
// before anything is replaced, and a last row that does not fit must roll everything back.
fn issue_18_a_backup_bad_near_its_end_restores_nothing(td: Td) {
    td.init_with_alice();
    let file = td.dir.path().join("backup.tdb");
    td.ok(&["backup", file.to_str().unwrap()]);
    td.ok(&["cancel", "alice@contoso.com"]);
    let original = std::fs::read_to_string(&file).unwrap();
    let body_end = original.trim_end().rfind('\n').unwrap() + 1;
    let last_row = original[..body_end - 1].rfind('\n').unwrap() + 1;

    let damaged = td.dir.path().join("damaged.tdb");
    let mut bytes = original.clone().into_bytes();
    bytes[last_row + 1] ^= 1;
    std::fs::write(&damaged, bytes).unwrap();
    let err = td.fails(&["restore", damaged.to_str().unwrap()], 2);
    assert!(
        err.contains("checksum") && err.contains("nothing restored"),
        "{err}"
    );

    let misfit = td.dir.path().join("misfit.tdb");
    std::fs::write(
        &misfit,
        with_checksum(&original, |body| {
            let last = body[..body.len() - 1].rfind('\n').unwrap() + 1;
            format!("{}[]\n", &body[..last])
        }),
    )
    .unwrap();
    let err = td.fails(&["restore", misfit.to_str().unwrap()], 2);
    assert!(err.contains("wrong number of values"), "{err}");
    assert!(td.ok(&["list"]).contains("cancelled"));
    assert!(td.ok(&["audit", "verify"]).contains("intact"));
    let leftovers: Vec<_> = std::fs::read_dir(td.data())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("restoring") || n.contains("legacy"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Replaces the body of a backup file and writes a matching checksum line.
fn with_checksum(file: &str, edit: impl Fn(&str) -> String) -> String {
    use sha2::Digest;
    let body_end = file.trim_end().rfind('\n').unwrap() + 1;
    let body = edit(&file[..body_end]);
    let sum = sha2::Sha256::digest(body.as_bytes());
    let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
    format!("{body}sha256 {hex}\n")
}

#[test]
fn backups_move_between_sqlite_and_postgres() {
    let lite = Td::sqlite();
    lite.init_with_alice();
    lite.ok(&["burned", "alice@contoso.com"]);
    lite.ok(&[
        "ship",
        "alice@contoso.com",
        "--carrier",
        "DHL",
        "--tracking",
        "X1",
    ]);
    let file = lite.dir.path().join("lite.tdb");
    lite.ok(&["backup", file.to_str().unwrap()]);
    let key = std::fs::read(lite.data().join("master.key")).unwrap();
    let put_key = |td: &Td| {
        std::fs::create_dir_all(td.data()).unwrap();
        std::fs::set_permissions(td.data(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = td.data().join("master.key");
        std::fs::write(&path, &key).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    };

    let pg = Td::postgres();
    put_key(&pg);
    let done = pg.ok(&["restore", file.to_str().unwrap()]);
    assert!(done.contains("a sqlite backup"), "{done}");
    assert!(pg.ok(&["list"]).contains("shipped"));
    assert!(pg.ok(&["audit", "verify"]).contains("intact"));
    let expected = current_code(&lite, SECRET);
    let shown = pg.ok(&[
        "code",
        "alice@contoso.com",
        "--ticket",
        "T",
        "--verified",
        "call-back",
    ]);
    assert!(shown.contains(&expected), "{shown} vs {expected}");
    // The restored PostgreSQL vault keeps working (sequences, ids).
    let o = pg.run(&["add", "--user", "bob@contoso.com", "-"], Some(OTHER));
    assert!(o.status.success(), "{}", stderr(&o));

    let back = pg.dir.path().join("pg.tdb");
    pg.ok(&["backup", back.to_str().unwrap()]);
    let lite2 = Td::sqlite();
    put_key(&lite2);
    let done = lite2.ok(&["restore", back.to_str().unwrap()]);
    assert!(done.contains("a postgres backup"), "{done}");
    let list = lite2.ok(&["list"]);
    assert!(
        list.contains("alice@contoso.com") && list.contains("bob@contoso.com"),
        "{list}"
    );
    assert!(lite2.ok(&["audit", "verify"]).contains("intact"));
    lite.assert_no_leak();
    pg.assert_no_leak();
    lite2.assert_no_leak();
}

#[test]
fn restore_accepts_an_older_vacuum_into_backup() {
    let td = Td::sqlite();
    td.init_with_alice();
    let old = td.dir.path().join("old.db");
    let target = old.to_str().unwrap().to_owned();
    let url = td.database_url();
    runtime().block_on(async {
        let pool = AnyPool::connect(&url).await.unwrap();
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    td.ok(&["cancel", "alice@contoso.com"]);
    td.ok(&["restore", old.to_str().unwrap()]);
    assert!(td.ok(&["list"]).contains("captured"));
    assert!(td.ok(&["audit", "verify"]).contains("intact"));
}

fn sorted_lines(path: &std::path::Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

fn same_backend(td: &Td) -> Td {
    if td.pg.is_some() {
        Td::postgres()
    } else {
        Td::sqlite()
    }
}

both_backends!(pskc_export_then_import_gives_the_same_seeds);

fn pskc_export_then_import_gives_the_same_seeds(td: Td) {
    td.init_with_alice();
    let uri = format!(
        "otpauth://totp/X:bob%40contoso.com?secret={OTHER}&algorithm=SHA256&digits=8&period=60"
    );
    let o = td.run(
        &["add", "--user", "bob@contoso.com", "--model", "C202", "-"],
        Some(&uri),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = td.dir.path();
    let pw = dir.join("password.txt");
    std::fs::write(&pw, "correct horse battery\n").unwrap();
    let out = dir.join("seeds.pskc");
    let (o, pwf) = (out.to_str().unwrap(), pw.to_str().unwrap());

    // No password and no terminal: refused before anything is written or audited.
    let err = td.fails(&["export", "--format", "pskc", "--out", o], 2);
    assert!(err.contains("--password-file"), "{err}");
    assert!(!out.exists());
    let short = dir.join("short.txt");
    std::fs::write(&short, "short\n").unwrap();
    let err = td.fails(
        &[
            "export",
            "--format",
            "pskc",
            "--out",
            o,
            "--password-file",
            short.to_str().unwrap(),
        ],
        2,
    );
    assert!(err.contains("12 characters"), "{err}");
    assert!(!out.exists());

    td.ok(&[
        "export",
        "--format",
        "pskc",
        "--out",
        o,
        "--password-file",
        pwf,
    ]);
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let xml = std::fs::read_to_string(&out).unwrap();
    assert!(xml.contains("pkcs-5v2-0#pbkdf2") && xml.contains("<ValueMAC>"));
    assert!(!xml.contains("PlainValue>1") && !xml.to_uppercase().contains(SECRET_B32));
    let exports: serde_json::Value =
        serde_json::from_str(&td.ok(&["audit", "list", "--action", "export", "--json"])).unwrap();
    let exports = exports.as_array().unwrap();
    assert_eq!(exports.len(), 2, "one audit entry per exported record");
    assert!(exports.iter().all(|e| e["detail"]["format"] == "pskc"));
    let before = dir.join("before.txt");
    td.ok(&[
        "export",
        "--format",
        "otpauth",
        "--out",
        before.to_str().unwrap(),
    ]);

    let td2 = same_backend(&td);
    td2.ok(&["init"]);
    let wrong = dir.join("wrong.txt");
    std::fs::write(&wrong, "wrong horse battery\n").unwrap();
    let args = ["import", o, "--format", "pskc", "--password-file"];
    let err = td2.fails(&[&args[..], &[wrong.to_str().unwrap()]].concat(), 2);
    assert!(
        err.contains("wrong") && err.contains("nothing imported"),
        "{err}"
    );
    let err = td2.fails(&args[..4], 2);
    assert!(err.contains("password"), "{err}");
    let dry = td2.ok(&[&args[..], &[pwf, "--dry-run"]].concat());
    assert!(dry.contains("dry run: 2 row(s) valid"), "{dry}");
    assert!(dry.contains("MAC verified"), "{dry}");
    assert!(td2.ok(&["list"]).trim().is_empty() || !td2.ok(&["list"]).contains("contoso"));
    let done = td2.ok(&[&args[..], &[pwf]].concat());
    assert!(done.contains("imported 2 record(s)"), "{done}");
    let after = dir.join("after.txt");
    td2.ok(&[
        "export",
        "--format",
        "otpauth",
        "--out",
        after.to_str().unwrap(),
    ]);
    assert_eq!(sorted_lines(&before), sorted_lines(&after));
    assert!(td2.ok(&["show", "bob@contoso.com"]).contains("C202"));
    td.assert_no_leak();
    td2.assert_no_leak();
}

both_backends!(pskc_rfc6030_examples_through_the_cli);

fn pskc_rfc6030_examples_through_the_cli(td: Td) {
    td.ok(&["init"]);
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../formats/tests/fixtures");
    let pbkdf2 = fixtures.join("rfc6030_s6_2_pbkdf2.xml");
    let psk = fixtures.join("rfc6030_s6_1_preshared_key.xml");
    let dir = td.dir.path();
    std::fs::write(dir.join("qwerty"), "qwerty\n").unwrap();
    std::fs::write(dir.join("psk"), "12345678901234567890123456789012\n").unwrap();
    // The RFC's tokens are HOTP: decrypted and MAC-checked, then refused per key.
    let o = td.run(
        &[
            "import",
            pbkdf2.to_str().unwrap(),
            "--format",
            "pskc",
            "--password-file",
            dir.join("qwerty").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stdout(&o).contains("key 1 (serial 987654321): an HOTP"),
        "{}",
        stdout(&o)
    );
    let err = td.fails(&["import", psk.to_str().unwrap(), "--format", "pskc"], 2);
    assert!(
        err.contains("pre-shared") && err.contains("--psk-file"),
        "{err}"
    );
    let o = td.run(
        &[
            "import",
            psk.to_str().unwrap(),
            "--format",
            "pskc",
            "--psk-file",
            dir.join("psk").to_str().unwrap(),
            "--dry-run",
        ],
        None,
    );
    assert!(
        stdout(&o).contains("pre-shared key, MAC verified"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("HOTP"), "{}", stdout(&o));
}

#[test]
fn large_import_shows_no_progress_bar_off_a_terminal() {
    let td = Td::sqlite();
    td.ok(&["init"]);
    let file = td.dir.path().join("many.csv");
    let rows: String = (0..600)
        .map(|i| format!("user{i}@contoso.com,{OTHER}\n"))
        .collect();
    std::fs::write(&file, rows).unwrap();
    let o = td.run(
        &["import", file.to_str().unwrap(), "--format", "spreadsheet"],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        !err.contains('\r') && !err.contains('\u{1b}') && !err.contains("rows"),
        "{err:?}"
    );
    assert!(stdout(&o).contains("imported 600"));
}

#[test]
fn large_import_shows_a_progress_bar_on_a_terminal() {
    // `script` gives the binary a real pseudo-terminal, as an admin's shell would.
    let td = Td::sqlite();
    td.ok(&["init"]);
    let file = td.dir.path().join("many.csv");
    let rows: String = (0..600)
        .map(|i| format!("user{i}@contoso.com,{OTHER}\n"))
        .collect();
    std::fs::write(&file, rows).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("tokendesk");
    let command = format!(
        "{} --data {} import {} --format spreadsheet",
        bin.display(),
        td.data().display(),
        file.display()
    );
    let o = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("TOKENDESK_ACTOR", "tester")
        .env_remove("TOKENDESK_MASTER_KEY")
        .env_remove("TOKENDESK_DATABASE_URL")
        .output()
        .expect("util-linux `script` is needed for this test (apt-get install bsdutils)");
    let shown = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{shown}");
    assert!(
        shown.contains("records in one transaction") || shown.contains("rows"),
        "{shown:?}"
    );
    assert!(shown.contains("imported 600"), "{shown:?}");
    assert!(!shown.to_uppercase().contains(OTHER), "{shown:?}");
}

both_backends!(issue_17_a_schema_3_vault_migrates_forward_on_both_backends);

/// Issue 17: a vault at schema 3 (migration 0004 undone: its two columns dropped and its row
/// removed, which is exactly the previous schema) opens with this build on SQLite and on
/// PostgreSQL, migrates forward, keeps its records and reveals. (`it::upgrade` does the same from
/// a committed SQLite file.)
fn issue_17_a_schema_3_vault_migrates_forward_on_both_backends(td: Td) {
    td.init_with_alice();
    td.sql("ALTER TABLE staff DROP COLUMN refused_while_locked");
    td.sql("ALTER TABLE login_throttle DROP COLUMN refused_while_locked");
    td.sql("DELETE FROM _sqlx_migrations WHERE version = 4");
    assert!(td.ok(&["list"]).contains("alice@contoso.com"));
    // Migrated: the column exists again (this update fails otherwise).
    td.sql("UPDATE staff SET refused_while_locked = 0");
    let out = td.ok(&[
        "code",
        "alice@contoso.com",
        "--ticket",
        "INC-17",
        "--verified",
        "call-back",
        "--future",
        "1",
    ]);
    // Read after the reveal: a step boundary in between makes it the revealed "next" code.
    let code = current_code(&td, SECRET);
    assert!(out.contains(&code), "{out} lacks {code}");
    assert!(td.ok(&["audit", "verify"]).contains("intact"));
}
