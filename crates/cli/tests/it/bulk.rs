//! Issue 19 (bulk provisioning): `tokendesk bulk generate` then `bulk burn` as real processes
//! through real pcscd + vsmartcard-vpcd against the emulated token of `crates/nfc/tests/it`
//! (the `it::nfc` copy): a stack of tokens, a wrong token, an interruption in the middle of a
//! seed write, and a resume that finishes the interrupted seed on its own token only. Needs
//! pcscd with vpcd (`scripts/test` starts it); fails, never skips, without.

#![cfg(feature = "nfc-pcsc")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use super::*;

use super::nfc::bench::{self, Bench, READER, WAIT};
use super::nfc::emulator::{Fault, TokenSpec, reader_turn};

const A: &str = "8659622000401";
const B: &str = "8659632000402";
const C: &str = "8659600000403";
const USERS: [&str; 3] = ["alice@contoso.com", "bob@contoso.com", "carol@contoso.com"];

/// A `bulk burn` process whose standard output arrives line by line.
struct Burner {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Burner {
    fn start(data: &std::path::Path, users: &std::path::Path, wait: &str) -> Self {
        let mut cmd = tokendesk_process(data);
        cmd.args(["bulk", "burn", users.to_str().unwrap()]);
        Self::spawn(cmd, wait)
    }

    /// `bulk burn --remote --batch ID` on a desk signed in with the login in `profile`.
    fn remote(data: &std::path::Path, profile: &std::path::Path, batch: &str, wait: &str) -> Self {
        let mut cmd = tokendesk_process(data);
        cmd.env("TOKENDESK_DESK_PROFILE", profile)
            .args(["bulk", "burn", "--remote", "--batch", batch]);
        Self::spawn(cmd, wait)
    }

    fn spawn(mut cmd: std::process::Command, wait: &str) -> Self {
        let mut child = cmd
            .args(["--reader", READER, "--wait", wait])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for an output line containing `text` (within [`WAIT`] × 3).
    fn expect(&mut self, text: &str) -> String {
        let deadline = Instant::now() + WAIT * 3;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {text:?}; output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn finish(mut self) -> (Option<i32>, String, String) {
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut err).unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        (status.code(), self.seen.join("\n"), err)
    }
}

fn vault_ok(data: &std::path::Path, args: &[&str]) -> String {
    let o = tokendesk_at(data).args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

/// The vault's seed of `upn`, as bytes (an audited otpauth export).
fn seed_of(dir: &std::path::Path, data: &std::path::Path, upn: &str) -> Vec<u8> {
    let out = dir.join(format!("seed-{upn}.txt"));
    let _ = std::fs::remove_file(&out);
    vault_ok(
        data,
        &[
            "export",
            "--format",
            "otpauth",
            "--user",
            upn,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let uri = std::fs::read_to_string(&out).unwrap();
    tokendesk_otp::OtpAuth::parse(uri.trim(), false)
        .unwrap()
        .secret
        .expose_bytes()
        .to_vec()
}

/// Runs 1 and 2 of a stack of three users (A, B, C), whatever starts the `bulk burn` process:
/// A burns; A comes back (refused, already burned); B is pulled during its seed write (the run
/// stops, bob's seed stays bound to B); the resume refuses C for bob, finishes B, then burns C.
/// Each token then holds its own user's seed.
fn burn_the_stack(dir: &std::path::Path, data: &std::path::Path, start: impl Fn() -> Burner) {
    // Run 1: A burns; A comes back (wrong token); B is pulled during its seed write.
    let mut bench = Bench::insert(TokenSpec::new(A, true));
    let mut run = start();
    run.expect("3 user(s): 0 already burned, 3 to burn");
    let line = run.expect(&format!(
        "[1/3] alice@contoso.com: burned {A} (OTPC-P2-i), read back"
    ));
    assert!(line.contains("recorded as burned"), "{line}");
    bench.swap(TokenSpec::new(A, true));
    run.expect(&format!(
        "token {A} is already burned for alice@contoso.com: take it off"
    ));
    let mut faulty = TokenSpec::new(B, false);
    faulty.fault = Fault::DropOnSeedWrite;
    bench.swap(faulty);
    let (code, out, err) = run.finish();
    assert_eq!(code, Some(3), "{out}\n{err}");
    assert!(
        err.contains("stopped after 1 of 3; run the same command again to resume"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "the seed of bob@contoso.com stays bound to token {B}"
        )),
        "{err}"
    );
    let show = vault_ok(data, &["show", "bob@contoso.com"]);
    assert!(show.contains("captured") && show.contains(B), "{show}");

    // Run 2 (resume): C first is refused for bob, whose seed is bound to B; then B, then C.
    bench.swap(TokenSpec::new(C, true));
    let mut run = start();
    run.expect("3 user(s): 1 already burned, 2 to burn (1 interrupted, finished first");
    run.expect(&format!("[2/3] bob@contoso.com: put token {B} back on"));
    run.expect(&format!(
        "this is token {C}, but the seed of bob@contoso.com is bound to token {B}"
    ));
    bench.swap(TokenSpec::new(B, false));
    run.expect(&format!("[2/3] bob@contoso.com: burned {B} (C302-i)"));
    let b_state = bench.token().state().seed.clone();
    bench.swap(TokenSpec::new(C, true));
    run.expect(&format!(
        "[3/3] carol@contoso.com: burned {C} (miniOTP-2-i)"
    ));
    let c_state = bench.token().state().seed.clone();
    let (code, out, err) = run.finish();
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("done: 3 of 3 token(s) burned"), "{out}");

    // Each token holds its user's seed, and no seed is on two tokens.
    assert_eq!(
        b_state.as_deref(),
        Some(seed_of(dir, data, USERS[1]).as_slice())
    );
    assert_eq!(
        c_state.as_deref(),
        Some(seed_of(dir, data, USERS[2]).as_slice())
    );
}

#[test]
fn issue_19_a_stack_is_burned_with_a_wrong_token_an_interruption_and_a_resume() {
    // Why: bulk burning must refuse wrong tokens, survive an interrupted seed write, and on
    // resume put the interrupted seed on its own token only (never one seed on two tokens).
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let users = dir.path().join("team.csv");
    std::fs::write(&users, format!("upn\n{}\n", USERS.join("\n"))).unwrap();
    vault_ok(&data, &["init"]);
    let out = vault_ok(&data, &["bulk", "generate", users.to_str().unwrap()]);
    assert!(
        out.contains("generated 3 seed(s) of 160 bits (SHA1, 30 s)"),
        "{out}"
    );
    for upn in USERS {
        assert_eq!(seed_of(dir.path(), &data, upn).len(), 20);
    }
    // Generating again for the same users changes nothing.
    let again = tokendesk_at(&data)
        .args(["bulk", "generate", users.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));

    burn_the_stack(dir.path(), &data, || Burner::start(&data, &users, "20"));
    let list: serde_json::Value =
        serde_json::from_str(&vault_ok(&data, &["list", "--json"])).unwrap();
    let mut got: Vec<(String, String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["upn"].as_str().unwrap().to_owned(),
                r["state"].as_str().unwrap().to_owned(),
                r["token"]["serial"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (USERS[0].to_owned(), "burned".to_owned(), A.to_owned()),
            (USERS[1].to_owned(), "burned".to_owned(), B.to_owned()),
            (USERS[2].to_owned(), "burned".to_owned(), C.to_owned()),
        ]
    );
    let audit = vault_ok(&data, &["audit", "list", "--json"]);
    assert_eq!(audit.matches("burn.claim").count(), 3, "{audit}");
    assert!(
        tokendesk_at(&data)
            .args(["audit", "verify"])
            .output()
            .unwrap()
            .status
            .success()
    );

    // Run 3: nothing left to do.
    let out = vault_ok(
        &data,
        &["bulk", "burn", users.to_str().unwrap(), "--reader", READER],
    );
    assert!(
        out.contains("3 user(s): 3 already burned, 0 to burn"),
        "{out}"
    );
}

#[test]
fn issue_19_no_token_stops_with_what_to_do_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let users = dir.path().join("one.csv");
    std::fs::write(&users, "dave@contoso.com\n").unwrap();
    vault_ok(&data, &["init"]);
    vault_ok(&data, &["bulk", "generate", users.to_str().unwrap()]);
    let _turn = reader_turn();
    bench::pcsc().wait_for_removal(READER, WAIT).unwrap();
    let o = tokendesk_at(&data)
        .args([
            "bulk",
            "burn",
            users.to_str().unwrap(),
            "--reader",
            READER,
            "--wait",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(
        err.contains("no token on Virtual PCD 00 00 after 1 s; switch the next token on"),
        "{err}"
    );
    assert!(err.contains("stopped after 0 of 1"), "{err}");
    let show = vault_ok(&data, &["show", "dave@contoso.com"]);
    assert!(show.contains("captured"), "{show}");

    // A user list naming someone without a record is refused before the reader is touched.
    std::fs::write(&users, "dave@contoso.com\nerin@contoso.com\n").unwrap();
    let o = tokendesk_at(&data)
        .args([
            "bulk",
            "burn",
            users.to_str().unwrap(),
            "--reader",
            READER,
            "--wait",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("erin@contoso.com: no record; run `tokendesk bulk generate`"),
        "{}",
        stderr(&o)
    );
    // A batch id is for a desk burning from the server, not for a CSV.
    let o = tokendesk_at(&data)
        .args([
            "bulk",
            "burn",
            users.to_str().unwrap(),
            "--batch",
            "3f9c0a12b7de",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--batch names a batch on the server: use it with --remote"),
        "{}",
        stderr(&o)
    );
}

/// Issue 19, the web side: a batch generated on the server, burned by a desk signed in with
/// `tokendesk login` (`bulk burn --remote --batch ID`) against a real `tokendesk serve`, through
/// pcscd + vpcd: a wrong token refused, an interruption during a seed write, and a resume that
/// finishes the interrupted seed on its own token first; the server bound every seed to its
/// token before handing it over, and no seed went to two tokens.
#[test]
fn issue_19_a_remote_batch_is_burned_with_a_wrong_token_an_interruption_and_a_resume() {
    use crate::desk::{login_as, serve, with_vault};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let profile = dir.path().join("desk-login.json");
    let users = dir.path().join("team.csv");
    std::fs::write(&users, format!("upn\n{}\n", USERS.join("\n"))).unwrap();
    vault_ok(&data, &["init"]);
    vault_ok(&data, &["staff", "add", "alice", "--role", "provisioner"]);
    let out = vault_ok(&data, &["bulk", "generate", users.to_str().unwrap()]);
    let batch = out
        .split("as batch ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no batch id in {out}"))
        .to_owned();
    assert!(
        out.contains(&format!("tokendesk bulk burn --remote --batch {batch}")),
        "{out}"
    );
    let (_server, url) = serve(&data);
    login_as(&data, &profile, &url, "STACK-1", "alice");

    // The same stack as with a CSV, its seeds handed out by the server; the server holds the
    // binding of an interrupted burn (it made it before it handed the seed over).
    burn_the_stack(dir.path(), &data, || {
        Burner::remote(&data, &profile, &batch, "20")
    });
    let (records, audit) = with_vault(&data, async |v: &tokendesk_vault::Vault| {
        let mut records = Vec::new();
        for upn in USERS {
            let r = v.current(upn).await.unwrap();
            records.push((
                r.upn,
                r.state.as_str().to_owned(),
                r.serial.unwrap_or_default(),
            ));
        }
        (records, v.audit_list(&Default::default()).await.unwrap())
    });
    assert_eq!(
        records,
        [
            (USERS[0].to_owned(), "burned".to_owned(), A.to_owned()),
            (USERS[1].to_owned(), "burned".to_owned(), B.to_owned()),
            (USERS[2].to_owned(), "burned".to_owned(), C.to_owned()),
        ]
    );
    let claims: Vec<_> = audit.iter().filter(|e| e.action == "burn.claim").collect();
    assert_eq!(claims.len(), 3);
    assert!(claims.iter().all(|e| e.actor == "alice@desk:STACK-1"));
    for upn in USERS {
        let first = |action: &str, detail: &str| {
            audit
                .iter()
                .filter(|e| {
                    e.action == action
                        && e.subject.as_deref() == Some(upn)
                        && e.detail.contains(detail)
                })
                .map(|e| e.seq)
                .min()
        };
        let (claim, export) = (first("burn.claim", ""), first("export", "nfc-bulk"));
        assert!(
            claim.is_some() && claim < export,
            "{upn}: {claim:?} {export:?}"
        );
    }
    assert!(
        tokendesk_at(&data)
            .args(["audit", "verify"])
            .output()
            .unwrap()
            .status
            .success()
    );

    // Run 3: nothing left to do.
    let o = tokendesk_at(&data)
        .env("TOKENDESK_DESK_PROFILE", &profile)
        .args([
            "bulk", "burn", "--remote", "--batch", &batch, "--reader", READER,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("3 user(s): 3 already burned, 0 to burn"),
        "{}",
        stdout(&o)
    );
}
