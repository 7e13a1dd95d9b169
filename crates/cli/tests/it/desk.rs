//! Issue 20: `tokendesk login` / `remote` / `logout` against a real `tokendesk serve` on
//! loopback. The person's approval goes through the vault's own `desk_answer` on the served
//! database (the `/desk` page that calls it is tested over HTTP in `web it::desk`), because
//! signing a browser in with a password and TOTP is not what this test is about.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;

use tokendesk_otp::{SeedInput, Totp, TotpParams};
use tokendesk_vault::{AuditFilter, FixedClock, KeySpec, Store, Vault, read_key_file};

use crate::{stderr, stdout, tokendesk_at, tokendesk_process};

const SEED: &str = "JBSWY3DPEHPK3PXP";

/// Kills the child when the test ends, however it ends.
pub(crate) struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// The served vault, opened beside the server (same SQLite file, same key), on a runtime.
pub(crate) fn with_vault<T>(data: &Path, f: impl AsyncFnOnce(&Vault) -> T) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            sqlx::any::install_default_drivers();
            let key = read_key_file(&data.join("master.key")).unwrap();
            let url = format!("sqlite://{}", data.join("vault.db").display());
            let store = Store::open(&url).await.unwrap();
            let clock = Arc::new(FixedClock::new(now()));
            let vault = Vault::open(store, KeySpec::Key(key), clock).await.unwrap();
            f(&vault).await
        })
}

/// `tokendesk serve` on a free loopback port; its base URL.
pub(crate) fn serve(data: &Path) -> (Killed, String) {
    let mut child = tokendesk_process(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let server = Killed(child);
    for line in BufReader::new(out).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("tokendesk listening on ") {
            return (server, rest.trim().to_owned());
        }
    }
    panic!("serve did not print its address");
}

pub(crate) fn desk(data: &Path, profile: &Path) -> assert_cmd::Command {
    let mut c = tokendesk_at(data);
    c.env("TOKENDESK_DESK_PROFILE", profile);
    c
}

fn codes_around(t: i64) -> Vec<String> {
    let secret = match SeedInput::parse(SEED).unwrap() {
        SeedInput::Secret(s) => s,
        _ => unreachable!(),
    };
    let totp = Totp::new(&secret, TotpParams::default());
    [-30, 0, 30, 60]
        .iter()
        .map(|d| {
            totp.at(u64::try_from(t + d).unwrap())
                .unwrap()
                .code
                .expose()
                .to_owned()
        })
        .collect()
}

/// `tokendesk login URL --desk-name DESK`, approved for `username` once the code shows; the
/// command's whole output.
pub(crate) fn login_as(
    data: &Path,
    profile: &Path,
    url: &str,
    desk: &str,
    username: &str,
) -> String {
    let mut login = std::process::Command::new(assert_cmd::cargo::cargo_bin("tokendesk"))
        .env("TOKENDESK_DESK_PROFILE", profile)
        .args(["login", url, "--desk-name", desk])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(login.stdout.take().unwrap()).lines();
    let mut shown = String::new();
    let code = loop {
        let line = lines.next().unwrap().unwrap();
        shown.push_str(&line);
        shown.push('\n');
        if let Some((_, code)) = line.split_once("confirm the code: ") {
            break code.trim().to_owned();
        }
    };
    with_vault(data, async |v: &Vault| {
        let staff = v.staff().get(username).await.unwrap();
        v.staff().desk_answer(&staff, &code, true).await.unwrap();
    });
    for line in lines {
        shown.push_str(&line.unwrap());
        shown.push('\n');
    }
    let status = login.wait().unwrap();
    assert!(status.success(), "{shown}");
    shown
}

#[test]
fn issue_20_login_remote_reveal_move_and_logout_against_serve() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let profile = dir.path().join("profile").join("desk-login.json");
    for args in [
        &["init"][..],
        &["staff", "add", "alice", "--role", "provisioner"][..],
    ] {
        let o = tokendesk_at(&data).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
    let o = tokendesk_at(&data)
        .args(["add", "--user", "bob@contoso.com", "-"])
        .write_stdin(SEED)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (_server, url) = serve(&data);

    // Signing in without a server or with plain HTTP elsewhere is refused before any request.
    let o = desk(&data, &profile)
        .args(["login", "http://desk.example"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("plain HTTP"), "{}", stderr(&o));
    let o = desk(&data, &profile)
        .args(["remote", "search"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("not signed in"), "{}", stderr(&o));

    // Login: the code is shown, the person approves, the desk collects its token.
    let shown = login_as(&data, &profile, &url, "FRONT-1", "alice");
    assert!(shown.contains(&format!("{url}/desk")), "{shown}");
    assert!(shown.contains("signed in as alice"), "{shown}");
    let stored = std::fs::read_to_string(&profile).unwrap();
    assert!(stored.contains("tdd_") && !stored.contains(SEED));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&profile).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Remote commands act through the API as alice, from FRONT-1.
    let o = desk(&data, &profile)
        .args(["remote", "search", "bob"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let listing = stdout(&o);
    assert!(listing.contains("bob@contoso.com\tcaptured"), "{listing}");
    let id = listing.split('\t').next().unwrap().to_owned();
    let o = desk(&data, &profile)
        .args([
            "remote",
            "reveal",
            &id,
            "--ticket",
            "INC-20",
            "--verification",
            "call-back",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let shown = stdout(&o);
    let around = codes_around(now());
    assert!(
        around
            .iter()
            .any(|c| shown.contains(&format!("bob@contoso.com: {c}"))),
        "{shown} not in {around:?}"
    );
    // The same quota as the web page: reveals stop once it is spent, with the server's reason.
    let mut refused = None;
    for _ in 0..10 {
        let o = desk(&data, &profile)
            .args([
                "remote",
                "reveal",
                &id,
                "--ticket",
                "INC-20",
                "--verification",
                "call-back",
            ])
            .output()
            .unwrap();
        if !o.status.success() {
            refused = Some((o.status.code(), stderr(&o)));
            break;
        }
    }
    let (code, message) = refused.expect("the daily quota stops remote reveals");
    assert_eq!(code, Some(2));
    assert!(message.contains("quota"), "{message}");
    let o = desk(&data, &profile)
        .args([
            "remote", "move", &id, "--to", "burned", "--serial", "60123456",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("burned"), "{}", stdout(&o));
    let audit = with_vault(&data, async |v: &Vault| {
        v.audit_list(&AuditFilter::default()).await.unwrap()
    });
    assert!(
        audit
            .iter()
            .any(|e| e.action == "reveal" && e.actor == "alice@desk:FRONT-1"),
        "{audit:?}"
    );
    assert!(audit.iter().any(|e| e.actor == "alice@desk:FRONT-1"
        && e.record_id.as_deref() == Some(id.as_str())
        && !e.action.starts_with("reveal")));

    // Logout revokes the token on the server and deletes the file.
    let o = desk(&data, &profile).arg("logout").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!profile.exists());
    let live = with_vault(&data, async |v: &Vault| {
        v.staff().desk_sessions(Some("alice")).await.unwrap()
    });
    assert!(live.is_empty(), "{live:?}");
    let o = desk(&data, &profile)
        .args(["remote", "search"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
}
