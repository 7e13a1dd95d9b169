//! `tokendesk nfc …` as a real process, through real pcscd + vsmartcard-vpcd, against the token
//! emulator of `crates/nfc/tests/it` (included, not copied). Needs pcscd with vpcd
//! (`scripts/test` starts it); fails, never skips, without.

use std::time::Duration;

use tokendesk_otp as otp;

use super::*;

#[path = "../../../nfc/tests/it/emulator.rs"]
#[allow(dead_code)]
pub(crate) mod emulator;

#[path = "../../../nfc/tests/it/bench.rs"]
#[allow(dead_code)]
pub(crate) mod bench;

use bench::{Bench, READER, WAIT};
use emulator::{Fault, TokenSpec, reader_turn};

/// "12345678901234567890", the RFC 6238 SHA-1 key.
const SEED_B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn nfc(args: &[&str], stdin: &str) -> Output {
    let mut all = vec!["nfc"];
    all.extend_from_slice(args);
    tokendesk().args(all).write_stdin(stdin).output().unwrap()
}

#[test]
fn burn_from_stdin_prints_the_code_the_token_computes() {
    let bench = Bench::insert(TokenSpec::new("8659622000101", true));
    let o = nfc(
        &[
            "burn",
            "-",
            "--algorithm",
            "sha256",
            "--period",
            "60",
            "--reader",
            READER,
        ],
        &format!("{SEED_B32}\n"),
    );
    let out = stdout(&o);
    assert!(o.status.success(), "{}\n{out}", stderr(&o));
    assert!(
        out.contains("burned 8659622000101 (OTPC-P2-i) on Virtual PCD 00 00"),
        "{out}"
    );
    assert!(
        out.contains("SHA-256, 60 s steps, display on for 30 s"),
        "{out}"
    );
    let shown = out
        .lines()
        .find_map(|l| l.strip_prefix("the token should now show: "))
        .unwrap()
        .get(..6)
        .unwrap()
        .to_owned();

    // The code printed is one the token itself produces from what it stored, at its clock.
    let st = bench.token().state();
    let stored = tokendesk_nfc::parse_config_tlv(st.config_tlv.as_deref().unwrap()).unwrap();
    assert_eq!(stored.config.algorithm, tokendesk_nfc::Algorithm::Sha256);
    let params = otp::TotpParams {
        algorithm: otp::Algorithm::Sha256,
        digits: otp::Digits::new(6).unwrap(),
        period: otp::Period::new(60).unwrap(),
        t0_unix_secs: 0,
    };
    let token = otp::Totp::new(&otp::Secret::from_bytes(st.seed.clone().unwrap()), params);
    let now = st.clock_now(0);
    let near: Vec<String> = [now - 60, now, now + 60]
        .iter()
        .map(|t| token.at(*t).unwrap().code.expose().to_owned())
        .collect();
    assert!(
        near.contains(&shown),
        "printed code is not one the token shows now"
    );
    assert!(!out.contains(SEED_B32) && !stderr(&o).contains(SEED_B32));
}

#[test]
fn readers_and_info_show_the_token() {
    let mut spec = TokenSpec::new("8659632000102", false);
    spec.clock_unix_secs = 1_000_000_000;
    let _bench = Bench::insert(spec);
    let out = ok(&["nfc", "readers"]);
    assert!(out.contains("Virtual PCD 00 00\ttoken present"), "{out}");
    // Without --reader: the only reader holding a token.
    let out = ok(&["nfc", "info"]);
    assert!(out.contains("reader:      Virtual PCD 00 00"), "{out}");
    let out = ok(&["nfc", "info", "--reader", "PCD 00 00"]);
    assert!(out.contains("serial:      8659632000102"), "{out}");
    assert!(
        out.contains("model:       C302-i (unrestricted time sync)"),
        "{out}"
    );
    assert!(out.contains("token clock: 2001-09-09T01:46:40Z ("), "{out}");
    assert!(out.contains("s behind this computer"), "{out}");
}

#[test]
fn sync_time_refuses_restricted_models_with_exit_3() {
    let mut spec = TokenSpec::new("8659601000103", true);
    spec.initial_seed = Some(vec![0xEE; 20]);
    let bench = Bench::insert(spec);
    let o = nfc(&["sync-time", "--reader", READER], "");
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(
        err.contains("miniOTP-3-i has restricted time sync: setting its clock erases the seed"),
        "{err}"
    );
    assert!(bench.token().state().seed.is_some());
}

#[test]
fn unknown_model_and_bad_seeds_are_refused() {
    let bench = Bench::insert(TokenSpec::new("8659623000104", true));
    let o = nfc(&["burn", "--secret", SEED_B32, "--reader", READER], "");
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("not a known programmable Token2 model"),
        "{}",
        stderr(&o)
    );
    assert!(bench.token().state().seed.is_none());
    // Input errors exit 2 before any reader is touched.
    let hex48 = format!("hex:{}", "ab".repeat(48));
    let o = nfc(&["burn", "--secret", &hex48, "--reader", READER], "");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("48-byte seeds are refused"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("abab"));
    let o = nfc(&["burn", "--secret", SEED_B32, "--period", "45"], "");
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn missing_pcscd_says_what_to_install_and_start() {
    // libpcsclite takes the service socket from PCSCLITE_CSOCK_NAME: point it at nothing, so
    // the client sees no service while the shared pcscd keeps serving the other tests.
    let o = tokendesk()
        .args(["nfc", "readers"])
        .env(
            "PCSCLITE_CSOCK_NAME",
            "/nonexistent/tokendesk-test/pcscd.comm",
        )
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(
        err.starts_with(
            "tokendesk: error: the PC/SC service (pcscd) is not running; install and start pcscd"
        ),
        "{err}"
    );
    assert!(err.contains("sudo apt-get install pcscd libccid"), "{err}");
}

#[test]
fn without_a_token_the_reader_choice_and_the_wait_are_explained() {
    let _turn = reader_turn();
    let pcsc = bench::pcsc();
    pcsc.wait_for_removal(READER, WAIT).unwrap();
    let o = nfc(&["info", "--wait", "1"], "");
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("several readers could hold the token (Virtual PCD 00 00, Virtual PCD 00 01); choose one with --reader NAME"),
        "{}",
        stderr(&o)
    );
    let o = nfc(&["info", "--wait", "1", "--reader", READER], "");
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("no token on Virtual PCD 00 00 after 1 s; switch the token on"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn interrupted_seed_write_is_reported_as_unknown_and_the_token_re_read() {
    let mut spec = TokenSpec::new("8659622000105", true);
    spec.fault = Fault::DropOnSeedWrite;
    let mut bench = Bench::insert(spec);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_tokendesk"))
        .args(["nfc", "burn", "--secret", SEED_B32, "--reader", READER])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The token leaves the field during the seed write, then the operator puts it back.
    let deadline = std::time::Instant::now() + WAIT;
    while !bench.token().is_gone() {
        assert!(
            std::time::Instant::now() < deadline,
            "the seed write never arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    bench.swap(TokenSpec::new("8659622000105", true));
    let o = child.wait_with_output().unwrap();
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(3), "{out}\n{err}");
    assert!(
        err.contains(
            "outcome unknown: re-read the token and verify (the seed write was interrupted"
        ),
        "{err}"
    );
    // The reason appears once (no error-chain echo of the same text).
    let reason = err
        .split("was interrupted: ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    assert_eq!(err.matches(reason).count(), 1, "{err}");
    assert!(out.contains("re-read 8659622000105: token clock "), "{out}");
    assert!(
        out.contains("if the burn completed, the token now shows "),
        "{out}"
    );
    assert!(!out.contains("burned 8659622000105"), "{out}");
}

#[test]
fn burn_from_the_vault_records_the_token_and_moves_to_burned() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let vault = |args: &[&str], stdin: &str| {
        let mut all = vec!["--data", data];
        all.extend_from_slice(args);
        tokendesk()
            .env_remove("TOKENDESK_DATABASE_URL")
            .env_remove("TOKENDESK_MASTER_KEY")
            .args(all)
            .write_stdin(stdin)
            .output()
            .unwrap()
    };
    assert!(vault(&["init"], "").status.success());
    let add = vault(
        &["add", "--user", "alice@contoso.com", "-"],
        &format!("{SEED_B32}\n"),
    );
    assert!(add.status.success(), "{}", stderr(&add));

    let bench = Bench::insert(TokenSpec::new("8659632000777", true));
    let o = vault(
        &[
            "nfc",
            "burn",
            "--user",
            "alice@contoso.com",
            "--reader",
            READER,
        ],
        "",
    );
    let out = stdout(&o);
    assert!(o.status.success(), "{}\n{out}", stderr(&o));
    assert!(out.contains("burned 8659632000777 (C302-i)"), "{out}");
    assert!(
        out.contains("recorded: alice@contoso.com is now burned"),
        "{out}"
    );
    assert!(!out.contains(SEED_B32) && !stderr(&o).contains(SEED_B32));
    // The token holds the vault's seed.
    let st = bench.token().state();
    assert_eq!(st.seed.as_deref(), Some(&b"12345678901234567890"[..]));

    // The record carries the token, and the disclosure and the state change are audited.
    let show = stdout(&vault(&["show", "alice@contoso.com"], ""));
    assert!(
        show.contains("burned") && show.contains("8659632000777"),
        "{show}"
    );
    let audit = stdout(&vault(&["audit", "list", "--json"], ""));
    assert!(audit.contains("nfc-burn"), "{audit}");
    assert!(vault(&["audit", "verify"], "").status.success());

    // A record that is no longer captured is refused before the reader is touched.
    let again = vault(
        &[
            "nfc",
            "burn",
            "--user",
            "alice@contoso.com",
            "--reader",
            READER,
        ],
        "",
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("only captured records"),
        "{}",
        stderr(&again)
    );
}

/// Issue 20: "Burn on a desk reader" end to end: a real `serve`, a desk signed in with
/// `tokendesk login`, a grant from the server, the seed burnt on the emulated token through
/// pcscd + vpcd, the code checked by the server, the record burned. The seed never shows.
#[test]
fn burn_with_a_grant_from_the_server_checks_the_code_and_marks_burned() {
    use crate::desk::{desk, login_as, serve, with_vault};
    use tokendesk_vault::{Actor, Permission, Policy, Principal, RecordId, Role, Vault};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let profile = dir.path().join("desk-login.json");
    for (args, stdin) in [
        (&["init"][..], ""),
        (&["staff", "add", "alice", "--role", "provisioner"][..], ""),
        (&["add", "--user", "alice@contoso.com", "-"][..], SEED_B32),
        (&["add", "--user", "bob@contoso.com", "-"][..], SEED_B32),
    ] {
        let o = tokendesk_at(&data)
            .args(args)
            .write_stdin(stdin)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
    let (_server, url) = serve(&data);
    login_as(&data, &profile, &url, "BURN-1", "alice");

    // A grant made on the record page (the vault call behind the button), used once.
    let grant = with_vault(&data, async |v: &Vault| {
        let id = v.current("bob@contoso.com").await.unwrap().id;
        let alice = Principal {
            actor: Actor::new("alice"),
            role: Role::Provisioner,
        };
        let auth = Policy::authorize(&alice, Permission::Capture).unwrap();
        let (grant, _) = v
            .burn_grant_create(&auth, "alice", &RecordId(id))
            .await
            .unwrap();
        grant.expose().to_owned()
    });
    let bench = Bench::insert(TokenSpec::new("8659632000888", true));
    let o = desk(&data, &profile)
        .args(["nfc", "burn", "--grant", &grant, "--reader", READER])
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{}\n{out}", stderr(&o));
    assert!(
        out.contains("verified: the burnt seed gives the server's code; bob@contoso.com is now burned (token 8659632000888, C302-i)"),
        "{out}"
    );
    assert!(!out.contains(SEED_B32) && !stderr(&o).contains(SEED_B32));
    assert_eq!(
        bench.token().state().seed.as_deref(),
        Some(&b"12345678901234567890"[..])
    );
    drop(bench);
    // Spent: the same command again is refused with the reason, before the reader is used.
    let o = desk(&data, &profile)
        .args(["nfc", "burn", "--grant", &grant, "--reader", READER])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("used already"), "{}", stderr(&o));

    // `--remote --user` asks the server for the grant itself.
    let bench = Bench::insert(TokenSpec::new("8659632000999", true));
    let o = desk(&data, &profile)
        .args([
            "nfc",
            "burn",
            "--remote",
            "--user",
            "alice@contoso.com",
            "--reader",
            READER,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stderr(&o), stdout(&o));
    assert!(stdout(&o).contains("alice@contoso.com is now burned"));
    drop(bench);
    let (bob, alice, audit) = with_vault(&data, async |v: &Vault| {
        (
            v.current("bob@contoso.com").await.unwrap(),
            v.current("alice@contoso.com").await.unwrap(),
            v.audit_list(&Default::default()).await.unwrap(),
        )
    });
    assert_eq!(bob.state.as_str(), "burned");
    assert_eq!(bob.serial.as_deref(), Some("8659632000888"));
    assert_eq!(alice.serial.as_deref(), Some("8659632000999"));
    let exports: Vec<_> = audit.iter().filter(|e| e.action == "export").collect();
    assert_eq!(exports.len(), 2);
    assert!(exports.iter().all(|e| e.actor == "alice@desk:BURN-1"));
}
