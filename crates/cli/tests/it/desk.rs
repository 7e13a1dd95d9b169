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

pub(crate) const SEED: &str = "JBSWY3DPEHPK3PXP";

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

/// The served vault's whole audit trail.
pub(crate) fn audit_of(data: &Path) -> Vec<tokendesk_vault::AuditEntry> {
    with_vault(data, async |v: &Vault| {
        v.audit_list(&AuditFilter::default()).await.unwrap()
    })
}

/// `tokendesk serve` on a free loopback port; its base URL.
pub(crate) fn serve(data: &Path) -> (Killed, String) {
    serve_with(data, &[])
}

/// `tokendesk serve` with extra arguments (e.g. `--config FILE`) on a free loopback port.
pub(crate) fn serve_with(data: &Path, extra: &[&std::ffi::OsStr]) -> (Killed, String) {
    let mut child = tokendesk_process(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
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

pub(crate) fn codes_around(t: i64) -> Vec<String> {
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
    let mut login = std::process::Command::new(assert_cmd::cargo::cargo_bin("tokendesk"));
    login
        .env("TOKENDESK_DESK_PROFILE", profile)
        .args(["login", url, "--desk-name", desk]);
    approve_login(login, data, username)
}

/// Runs a prepared `login` command, approves the code it shows for `username` on the served
/// vault, and returns the command's whole output (without `\r`) once it succeeded.
pub(crate) fn approve_login(
    mut login: std::process::Command,
    data: &Path,
    username: &str,
) -> String {
    let mut login = login
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(login.stdout.take().unwrap()).lines();
    let mut shown = String::new();
    let code = loop {
        let Some(line) = lines.next() else {
            let status = login.wait().unwrap();
            let mut err = String::new();
            std::io::Read::read_to_string(&mut login.stderr.take().unwrap(), &mut err).unwrap();
            panic!("login ended ({status}) before showing a code: {shown}{err}");
        };
        let line = line.unwrap().replace('\r', "");
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
        shown.push_str(&line.unwrap().replace('\r', ""));
        shown.push('\n');
    }
    let mut err = String::new();
    std::io::Read::read_to_string(&mut login.stderr.take().unwrap(), &mut err).unwrap();
    let status = login.wait().unwrap();
    assert!(status.success(), "{shown}{err}");
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
    let audit = audit_of(&data);
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

/// The raw message the test SMTP sink (started by `scripts/test`) received for `rcpt`, waiting
/// up to 10 s.
fn mail_for(rcpt: &str) -> String {
    let dir = std::env::var_os("TOKENDESK_TEST_SMTP_MAILDIR").expect(
        "TOKENDESK_TEST_SMTP_MAILDIR is not set: run the tests through scripts/test, which starts \
         the SMTP sink",
    );
    for _ in 0..100 {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let envelope: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            if envelope["rcpt_tos"]
                .as_array()
                .is_some_and(|to| to.iter().any(|t| t.as_str() == Some(rcpt)))
            {
                return std::fs::read_to_string(path.with_extension("eml")).unwrap();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no message for {rcpt} arrived");
}

#[test]
fn issue_20_remote_four_eyes_approval_and_email_reveal() {
    // The web page's other two ways to reveal, from a desk: a second person approves (from
    // their own desk), and a code goes by e-mail without the desk ever seeing it.
    let smtp = std::env::var("TOKENDESK_TEST_SMTP_PLAIN").expect(
        "TOKENDESK_TEST_SMTP_PLAIN is not set: run the tests through scripts/test, which starts \
         the SMTP sink",
    );
    let (host, port) = smtp.rsplit_once(':').unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("tokendesk.toml");
    std::fs::write(
        &config,
        format!(
            "[smtp]\nhost = \"{host}\"\nport = {port}\nsecurity = \"none\"\n\
             from = \"Helpdesk <helpdesk@contoso.test>\"\n"
        ),
    )
    .unwrap();
    let rcpt = format!("dana-{}@home.test", now());
    for args in [
        &["init"][..],
        &["staff", "add", "alice", "--role", "helpdesk"][..],
        &["staff", "add", "carol", "--role", "helpdesk"][..],
    ] {
        let o = tokendesk_at(&data).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
    let o = tokendesk_at(&data)
        .args(["add", "--user", "dana@contoso.com", "--email", &rcpt, "-"])
        .write_stdin(SEED)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (_server, url) = serve_with(&data, &["--config".as_ref(), config.as_os_str()]);
    let alice = dir.path().join("alice.json");
    let carol = dir.path().join("carol.json");
    login_as(&data, &alice, &url, "FRONT-1", "alice");
    login_as(&data, &carol, &url, "FRONT-2", "carol");
    let o = desk(&data, &alice)
        .args(["remote", "search", "dana"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).split('\t').next().unwrap().to_owned();
    let reveal = |profile: &Path, extra: &[&str]| {
        let mut args = vec!["remote", "reveal", id.as_str(), "--ticket", "INC-77"];
        args.extend_from_slice(extra);
        desk(&data, profile).args(&args).output().unwrap()
    };

    // Second approver: refused without an approval, and with one alice approved herself.
    let o = reveal(&alice, &["--verification", "second-approver"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let o = desk(&data, &alice)
        .args([
            "remote",
            "request-approval",
            &id,
            "--ticket",
            "INC-77",
            "--reason",
            "caller abroad, no call-back number",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let asked = stdout(&o);
    let approval = asked
        .strip_prefix("approval ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{asked}"))
        .to_owned();
    let o = desk(&data, &alice)
        .args(["remote", "approve", &approval])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "alice approved her own request");
    let o = reveal(
        &alice,
        &["--verification", "second-approver", "--approval", &approval],
    );
    assert_eq!(o.status.code(), Some(2), "revealed without a second person");
    let o = desk(&data, &carol)
        .args(["remote", "approve", &approval])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("approved by carol"), "{}", stdout(&o));
    let o = reveal(
        &alice,
        &["--verification", "second-approver", "--approval", &approval],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let around = codes_around(now());
    assert!(
        around
            .iter()
            .any(|c| stdout(&o).contains(&format!("dana@contoso.com: {c}"))),
        "{}",
        stdout(&o)
    );

    // E-mail: the desk learns where the code went and when it works, never the code.
    let o = reveal(
        &alice,
        &["--verification", "call-back", "--email", "--in", "30"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let said = stdout(&o);
    assert!(said.contains(&format!("code sent to {rcpt}")), "{said}");
    let mail = mail_for(&rcpt);
    let later = codes_around(now() + 30 * 60);
    // The e-mail groups the digits for reading (`591 757`).
    let sent = later
        .iter()
        .find(|c| mail.contains(&format!("{} {}", &c[..3], &c[3..])))
        .unwrap_or_else(|| panic!("none of {later:?} in the e-mail"));
    assert!(
        !said.contains(sent.as_str()) && !said.contains(&format!("{} {}", &sent[..3], &sent[3..])),
        "the desk saw the code: {said}"
    );
    let o = desk(&data, &alice)
        .args([
            "remote",
            "reveal",
            &id,
            "--ticket",
            "X",
            "--verification",
            "call-back",
            "--in",
            "5",
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "--in without --email was accepted"
    );

    let audit = audit_of(&data);
    for (actor, action) in [
        ("alice@desk:FRONT-1", "approval.request"),
        ("carol@desk:FRONT-2", "approval.grant"),
        ("alice@desk:FRONT-1", "email.sent"),
    ] {
        assert!(
            audit.iter().any(|e| e.actor == actor && e.action == action),
            "no {action} by {actor}: {:?}",
            audit
                .iter()
                .map(|e| (&e.actor, &e.action))
                .collect::<Vec<_>>()
        );
    }
}
