//! Issue 20: the Windows builds (`x86_64-pc-windows-gnu`) run under Wine and print byte for byte
//! what the Linux builds print (after removing `\r`), with the same exit codes and messages.
//!
//! `scripts/test` cross-builds the test builds (profile `wintest`) of `t2otp.exe` and `tokendesk.exe` and the test-only
//! `bcryptprimitives.dll` shim (`scripts/windows-build --test`) and sets
//! `TOKENDESK_TEST_WINDOWS_BIN` (folder of the .exe files) and `TOKENDESK_TEST_WINE_SHIM` (the
//! DLL). Missing either is a failure with instructions, never a skip.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{RFC_SHA1, RFC_SHA256, RFC_SHA512};

const HOW: &str = "run `scripts/test` (it cross-builds the Windows programs and the Wine shim), or \
                   run `scripts/windows-build --test` and export TOKENDESK_TEST_WINDOWS_BIN=<the \
                   folder it prints> TOKENDESK_TEST_WINE_SHIM=<that folder>/bcryptprimitives.dll";

fn required_path(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(path) if Path::new(&path).exists() => PathBuf::from(path),
        Some(path) => panic!("{var}={} does not exist; {HOW}", Path::new(&path).display()),
        None => panic!("{var} is not set; {HOW}"),
    }
}

/// A private Wine prefix and a folder holding the two programs with the shim beside them.
struct Wine {
    dir: tempfile::TempDir,
    wine: PathBuf,
}

impl Wine {
    fn new() -> Self {
        let bin = required_path("TOKENDESK_TEST_WINDOWS_BIN");
        let shim = required_path("TOKENDESK_TEST_WINE_SHIM");
        let wine = std::env::var_os("TOKENDESK_TEST_WINE")
            .map_or_else(|| PathBuf::from("/usr/lib/wine/wine64"), PathBuf::from);
        assert!(
            wine.exists(),
            "{} not found: apt-get install wine64, or {HOW}",
            wine.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let progs = dir.path().join("bin");
        std::fs::create_dir(&progs).unwrap();
        for exe in ["t2otp.exe", "tokendesk.exe"] {
            let from = bin.join(exe);
            assert!(from.exists(), "{} missing; {HOW}", from.display());
            std::os::unix::fs::symlink(&from, progs.join(exe)).unwrap();
        }
        std::fs::copy(&shim, progs.join("bcryptprimitives.dll")).unwrap();
        let this = Self { dir, wine };
        // The first start creates the prefix and prints its own notices: keep them out of the
        // comparisons.
        let o = this.command("cmd").args(["/c", "exit"]).output().unwrap();
        assert!(o.status.success(), "wine did not start: {o:?}");
        this
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(&self.wine);
        c.arg(program)
            .env("WINEPREFIX", self.dir.path().join("prefix"))
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        c
    }

    fn exe(&self, name: &str) -> Command {
        self.command(self.dir.path().join("bin").join(name).to_str().unwrap())
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        // Stop this prefix's wineserver (started by this test) before its folder goes away.
        let server = self.wine.with_file_name("wineserver");
        let _ = Command::new(server)
            .arg("-k")
            .env("WINEPREFIX", self.dir.path().join("prefix"))
            .status();
    }
}

/// Exit code, stdout and stderr, with `\r` removed and without the lines Wine itself writes
/// (`wine: ...`, e.g. a page fault in Wine's own teardown after the program has finished under a
/// loaded machine): those come from the emulator, not from the program. The exit code and every
/// line the program writes are still compared.
#[derive(Debug, PartialEq)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(mut c: Command, stdin: Option<&str>) -> Run {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap().replace('\r', "");
    let stderr: String = text(stderr)
        .split_inclusive('\n')
        .filter(|line| !line.starts_with("wine: "))
        .collect();
    Run {
        code: status.code(),
        stdout: text(stdout),
        stderr,
    }
}

fn linux(program: &str) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin(program));
    c.env_remove("TOKENDESK_DATA");
    c
}

/// `t2otp` prints the current code: Linux, then Windows, then Linux again, until both Linux runs
/// agree (no step boundary in between); Windows must print exactly that.
fn same_as_linux_now(wine: &Wine, args: &[&str], stdin: Option<&str>) {
    for _ in 0..3 {
        let before = run(with_args(linux("t2otp"), args), stdin);
        let windows = run(with_args(wine.exe("t2otp.exe"), args), stdin);
        let after = run(with_args(linux("t2otp"), args), stdin);
        if before == after {
            assert_eq!(windows, before, "t2otp.exe {args:?}");
            return;
        }
    }
    panic!("t2otp {args:?} changed output in three runs in a row");
}

fn with_args(mut c: Command, args: &[&str]) -> Command {
    c.args(args);
    c
}

#[test]
fn issue_20_t2otp_exe_prints_what_linux_t2otp_prints() {
    // t2otp.exe is the drop-in the vendor guide names: same codes, same bytes.
    let wine = Wine::new();
    let sha256 = format!(
        "otpauth://totp/Contoso:alice?secret={RFC_SHA256}&algorithm=SHA256&digits=8&period=60"
    );
    let sha512 = format!("otpauth://totp/x?secret={RFC_SHA512}&algorithm=SHA512&digits=7");
    let cases: &[(&[&str], Option<&str>)] = &[
        (&[RFC_SHA1], None),
        (&["2sk2 tsmk jp7k dbck"], None),
        (&[&sha256], None),
        (&[&sha512], None),
        (&["-"], Some("JBSWY3DPEHPK3PXPJBSWY3DP\n")),
        (&["--allow-short", "JBSWY3DP"], None),
        (&["--help"], None),
        (&["--version"], None),
    ];
    for (args, stdin) in cases {
        same_as_linux_now(&wine, args, *stdin);
    }
}

#[test]
fn issue_20_t2otp_exe_refuses_bad_input_like_linux_t2otp() {
    // Scripts on the desk rely on the exit code and the message, not only the happy path.
    let wine = Wine::new();
    let cases: &[&[&str]] = &[
        &["2sk2tsm0jp7kdbck"],
        &["phonefactor://activate_account?code=1"],
        &[""],
        &["JBSWY3DP"],
        &[],
        &["--bogus", RFC_SHA1],
        &[RFC_SHA1, "extra"],
    ];
    for args in cases {
        let expected = run(with_args(linux("t2otp"), args), None);
        assert_eq!(expected.code, Some(2), "{args:?}: {expected:?}");
        assert!(expected.stdout.is_empty(), "{args:?}: {expected:?}");
        assert!(!expected.stderr.is_empty(), "{args:?}: {expected:?}");
        let windows = run(with_args(wine.exe("t2otp.exe"), args), None);
        assert_eq!(windows, expected, "t2otp.exe {args:?}");
    }
}

#[test]
fn issue_20_tokendesk_exe_otp_json_matches_linux_at_many_times() {
    // `tokendesk.exe otp … --json` at fixed times: every seed kind and time, the same JSON.
    let wine = Wine::new();
    let seeds = [
        RFC_SHA1.to_owned(),
        format!("otpauth://totp/x?secret={RFC_SHA256}&algorithm=SHA256&digits=8"),
        format!("otpauth://totp/x?secret={RFC_SHA512}&algorithm=SHA512&digits=8&period=60"),
        "hex:3132333435363738393031323334353637383930".to_owned(),
    ];
    let times = [
        "59",
        "1111111109",
        "1234567890",
        "2000000000",
        "20000000000",
        "2026-12-01T09:30:00+01:00",
    ];
    let mut compared = 0;
    for seed in &seeds {
        for at in times {
            let args = [
                "otp", "--json", "--past", "2", "--future", "2", "--at", at, seed,
            ];
            let expected = run(with_args(linux("tokendesk"), &args), None);
            assert_eq!(expected.code, Some(0), "{args:?}: {expected:?}");
            let windows = run(with_args(wine.exe("tokendesk.exe"), &args), None);
            assert_eq!(windows, expected, "tokendesk.exe {args:?}");
            compared += 1;
        }
    }
    let hotp = format!("otpauth://hotp/x?secret={RFC_SHA1}&counter=5");
    let more: [&[&str]; 4] = [
        &["otp", "--json", "--future", "3", &hotp],
        &[
            "otp",
            "--codes",
            "--future",
            "50",
            "--at",
            "1234567890",
            RFC_SHA1,
        ],
        &["otp", "--json", "--at", "1234567890", &hotp],
        &["otp", "--json", "--at", "yesterday", RFC_SHA1],
    ];
    for args in more {
        let expected = run(with_args(linux("tokendesk"), args), None);
        let windows = run(with_args(wine.exe("tokendesk.exe"), args), None);
        assert_eq!(windows, expected, "tokendesk.exe {args:?}");
        compared += 1;
    }
    assert_eq!(compared, seeds.len() * times.len() + 4);
}

/// The Windows path Wine gives a Linux path (drive `Z:` is `/`).
fn wine_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

#[test]
fn issue_20_tokendesk_exe_signs_in_and_reveals_against_a_linux_serve() {
    // The desk side on Windows: `tokendesk.exe login`, `remote search`, `remote reveal`,
    // `logout`, against a real `tokendesk serve` (Linux) on loopback. The approval goes through
    // the vault's `desk_answer`, as in `desk::issue_20_login_remote_reveal_move_and_logout_against_serve`.
    // Wine's `icacls` accepts every call without changing anything, so the owner-only ACL of
    // the desk file is exercised (whoami, icacls called, success checked) but not its effect.
    use super::desk::{SEED, approve_login, audit_of, codes_around, now, serve};

    let wine = Wine::new();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let profile = dir.path().join("profile").join("desk-login.json");
    for args in [
        &["init"][..],
        &["staff", "add", "alice", "--role", "helpdesk"][..],
    ] {
        let o = crate::tokendesk_at(&data).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", crate::stderr(&o));
    }
    let o = crate::tokendesk_at(&data)
        .args(["add", "--user", "bob@contoso.com", "-"])
        .write_stdin(SEED)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let (_server, url) = serve(&data);

    let desk = |args: &[&str]| {
        let mut c = wine.exe("tokendesk.exe");
        c.env("TOKENDESK_DESK_PROFILE", wine_path(&profile))
            .env_remove("TOKENDESK_DATA")
            .args(args);
        run(c, None)
    };

    let mut login = wine.exe("tokendesk.exe");
    login
        .env("TOKENDESK_DESK_PROFILE", wine_path(&profile))
        .env_remove("TOKENDESK_DATA")
        .args(["login", &url, "--desk-name", "WIN-DESK"]);
    let shown = approve_login(login, &data, "alice");
    assert!(shown.contains(&format!("{url}/desk")), "{shown}");
    assert!(shown.contains("signed in as alice"), "{shown}");
    let stored = std::fs::read_to_string(&profile).unwrap();
    assert!(
        stored.contains("tdd_") && !stored.contains(SEED),
        "{stored}"
    );

    let found = desk(&["remote", "search", "bob"]);
    assert_eq!(found.code, Some(0), "{found:?}");
    assert!(
        found.stdout.contains("bob@contoso.com\tcaptured"),
        "{found:?}"
    );
    let id = found.stdout.split('\t').next().unwrap().to_owned();
    let shown = desk(&[
        "remote",
        "reveal",
        &id,
        "--ticket",
        "INC-20",
        "--verification",
        "call-back",
    ]);
    assert_eq!(shown.code, Some(0), "{shown:?}");
    let around = codes_around(now());
    assert!(
        around
            .iter()
            .any(|c| shown.stdout.contains(&format!("bob@contoso.com: {c}"))),
        "{shown:?} not in {around:?}"
    );
    let audit = audit_of(&data);
    assert!(
        audit
            .iter()
            .any(|e| e.action == "reveal" && e.actor == "alice@desk:WIN-DESK"),
        "{audit:?}"
    );

    let out = desk(&["logout"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!profile.exists());
    let after = desk(&["remote", "search"]);
    assert_eq!(after.code, Some(3), "{after:?}");
    assert!(after.stderr.contains("not signed in"), "{after:?}");
}
