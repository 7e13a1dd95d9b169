//! Issue 17: `tokendesk doctor`, each check provoked into its failing state.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output};

use serde_json::Value;

use crate::{sqlite_exec, stderr, stdout, tokendesk_at};

/// A vault in a temp folder, created by `init`.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Self {
        let site = Site {
            dir: tempfile::tempdir().unwrap(),
        };
        let o = site.cmd().arg("init").output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        site
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `tokendesk --data DATA` with an empty configuration file (not /etc/tokendesk's).
    fn cmd(&self) -> assert_cmd::Command {
        let config = self.dir.path().join("none.toml");
        std::fs::write(&config, "").unwrap();
        let mut c = tokendesk_at(&self.data());
        c.env("TOKENDESK_CONFIG", config);
        c
    }

    /// `doctor --json ARGS`: the exit code and the status of each check by name.
    fn doctor(&self, args: &[&str]) -> (i32, Value) {
        let o: Output = self
            .cmd()
            .arg("doctor")
            .arg("--json")
            .args(args)
            .output()
            .unwrap();
        let json: Value = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("{e}: {} {}", stdout(&o), stderr(&o)));
        (o.status.code().unwrap(), json)
    }
}

/// The finding of check `name`.
fn finding<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {json}"))
}

fn status(json: &Value, name: &str) -> String {
    finding(json, name)["status"].as_str().unwrap().to_owned()
}

#[test]
fn issue_17_doctor_passes_on_a_fresh_vault_and_prints_lines() {
    let site = Site::new();
    let (code, json) = site.doctor(&[]);
    assert_eq!(code, 0, "{json}");
    for check in ["key", "database", "audit", "disk", "tls"] {
        assert_eq!(status(&json, check), "ok", "{json}");
    }
    assert!(
        finding(&json, "database")["message"]
            .as_str()
            .unwrap()
            .contains("current")
    );
    let o = site.cmd().arg("doctor").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).lines().any(|l| l.starts_with("OK    key")),
        "{}",
        stdout(&o)
    );
}

#[cfg(unix)]
#[test]
fn issue_17_doctor_fails_a_key_file_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let site = Site::new();
    let key = site.data().join("master.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, json) = site.doctor(&[]);
    assert_eq!(code, 2, "{json}");
    assert_eq!(status(&json, "key"), "fail");
    assert!(
        finding(&json, "key")["action"]
            .as_str()
            .unwrap()
            .contains("chmod 600")
    );
    // The text form says what to do too.
    let o = site.cmd().arg("doctor").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("FAIL  key") && stdout(&o).contains("-> chmod 600"));
}

#[test]
fn issue_17_doctor_fails_a_missing_key_file() {
    let site = Site::new();
    std::fs::remove_file(site.data().join("master.key")).unwrap();
    let (code, json) = site.doctor(&[]);
    assert_eq!(code, 2, "{json}");
    assert_eq!(status(&json, "key"), "fail");
    assert!(
        finding(&json, "key")["action"]
            .as_str()
            .unwrap()
            .contains("offline copy")
    );
    assert_eq!(
        status(&json, "audit"),
        "fail",
        "the vault cannot open without its key"
    );
}

#[test]
fn issue_17_doctor_fails_an_unreachable_database() {
    let site = Site::new();
    // Nothing listens on port 1.
    let (code, json) = site.doctor(&["--database", "postgres://td:pw-not-shown@127.0.0.1:1/td"]);
    assert_eq!(code, 2, "{json}");
    assert_eq!(status(&json, "database"), "fail");
    assert!(!json.to_string().contains("pw-not-shown"), "{json}");
    // A data folder without a vault: reported, and not created by the check.
    let empty = site.dir.path().join("empty");
    let (code, json) = site.doctor(&["--data", empty.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_eq!(status(&json, "database"), "fail");
    assert!(!empty.join("vault.db").exists());
}

#[test]
fn issue_17_doctor_fails_a_tampered_audit_chain() {
    let site = Site::new();
    sqlite_exec(
        &site.data(),
        "UPDATE audit SET actor = 'mallory' WHERE seq = 1",
    );
    let (code, json) = site.doctor(&[]);
    assert_eq!(code, 2, "{json}");
    assert_eq!(status(&json, "audit"), "fail");
}

fn openssl_cert(dir: &Path, days: u32) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("c{days}.pem")),
        dir.join(format!("k{days}.pem")),
    );
    let o = StdCommand::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-days",
            &days.to_string(),
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is missing: run scripts/test (it installs openssl)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (cert, key)
}

#[test]
fn issue_17_doctor_warns_of_a_certificate_about_to_expire() {
    let site = Site::new();
    // `doctor --json --tls-cert CERT --tls-key KEY`: the exit code, the tls status and message.
    let tls = |cert: &Path, key: &Path| {
        let (code, json) = site.doctor(&[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]);
        let finding = finding(&json, "tls");
        let message = finding["message"].as_str().unwrap().to_owned();
        (
            code,
            finding["status"].as_str().unwrap().to_owned(),
            message,
        )
    };
    // Made this second or the one before: 4 or 5 whole days left.
    let (cert, key) = openssl_cert(site.dir.path(), 5);
    let (code, status, message) = tls(&cert, &key);
    assert_eq!((code, status.as_str()), (1, "warn"), "{message}");
    assert!(
        message.contains("expires in 4 days") || message.contains("expires in 5 days"),
        "{message}"
    );
    let (cert, key) = openssl_cert(site.dir.path(), 400);
    let (code, status, message) = tls(&cert, &key);
    assert_eq!((code, status.as_str()), (0, "ok"), "{message}");
    assert!(
        message.contains("399 more days") || message.contains("400 more days"),
        "{message}"
    );
    // A key that does not match the certificate.
    let (_, other_key) = openssl_cert(site.dir.path(), 30);
    let (code, status, message) = tls(&cert, &other_key);
    assert_eq!((code, status.as_str()), (2, "fail"), "{message}");
}

/// A one-shot SNTP server on loopback whose clock is `shift_secs` ahead of this one.
fn fake_ntp(shift_secs: f64) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut buf = [0u8; 48];
        let (_, peer) = socket.recv_from(&mut buf).unwrap();
        #[allow(clippy::disallowed_methods)]
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            + shift_secs
            + 2_208_988_800.0;
        let mut stamp = [0u8; 8];
        stamp[..4].copy_from_slice(&(now.floor() as u32).to_be_bytes());
        stamp[4..].copy_from_slice(&(((now - now.floor()) * 4_294_967_296.0) as u32).to_be_bytes());
        let mut reply = [0u8; 48];
        reply[0] = 0x24; // version 4, mode 4 (server)
        reply[1] = 2; // stratum
        let originate: [u8; 8] = buf[40..48].try_into().unwrap();
        reply[24..32].copy_from_slice(&originate);
        reply[32..40].copy_from_slice(&stamp);
        reply[40..48].copy_from_slice(&stamp);
        socket.send_to(&reply, peer).unwrap();
    });
    addr
}

#[test]
fn issue_17_doctor_compares_the_clock_with_the_ntp_server() {
    let site = Site::new();
    let (code, json) = site.doctor(&["--ntp-server", &fake_ntp(0.0)]);
    assert_eq!(
        (code, status(&json, "clock")),
        (0, "ok".to_owned()),
        "{json}"
    );
    let (code, json) = site.doctor(&["--ntp-server", &fake_ntp(4.0)]);
    assert_eq!(
        (code, status(&json, "clock")),
        (1, "warn".to_owned()),
        "{json}"
    );
    let (code, json) = site.doctor(&["--ntp-server", &fake_ntp(-45.0)]);
    assert_eq!(
        (code, status(&json, "clock")),
        (2, "fail".to_owned()),
        "{json}"
    );
    let message = finding(&json, "clock")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("offset -45") || message.contains("offset -44"),
        "{message}"
    );
    // A server that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (code, json) = site.doctor(&["--ntp-server", &silent.local_addr().unwrap().to_string()]);
    assert_eq!(
        (code, status(&json, "clock")),
        (2, "fail".to_owned()),
        "{json}"
    );
    // Not configured: not checked.
    let (_, json) = site.doctor(&[]);
    assert!(!json.to_string().contains("\"clock\""));
}

#[cfg(feature = "nfc-pcsc")]
#[test]
fn issue_17_doctor_checks_pcscd_when_nfc_is_used() {
    let site = Site::new();
    assert!(
        Path::new("/run/pcscd/pcscd.comm").exists(),
        "pcscd is not running: run scripts/test (it starts pcscd)"
    );
    let (code, json) = site.doctor(&["--nfc"]);
    assert_eq!(
        (code, status(&json, "pcscd")),
        (0, "ok".to_owned()),
        "{json}"
    );
    // libpcsclite finds the service through this socket: point it nowhere.
    let o = site
        .cmd()
        .env("PCSCLITE_CSOCK_NAME", site.dir.path().join("no-pcscd"))
        .args(["doctor", "--json", "--nfc"])
        .output()
        .unwrap();
    let json: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (o.status.code(), status(&json, "pcscd")),
        (Some(2), "fail".to_owned()),
        "{json}"
    );
    let (_, json) = site.doctor(&[]);
    assert!(
        !json.to_string().contains("\"pcscd\""),
        "not checked without --nfc"
    );
}
