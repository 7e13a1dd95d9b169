//! Integration tests of the `tokendesk` and `t2otp` binaries, run as real processes.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::should_implement_trait
)]

mod backup_drill;
mod bulk;
mod config;
mod crash;
mod desk;
mod doctor;
mod drift;
mod errors;
mod imports;
mod metrics;
#[cfg(feature = "nfc-pcsc")]
mod nfc;
mod oathtool;
mod otp;
mod owner_only;
mod scan;
mod scan_live;
mod scan_portal;
mod scan_wayland;
// The scratch databases of the vault and web tests, shared so all three set up and drop them the
// same way (the CLI tests use only the PostgreSQL half).
#[allow(dead_code)]
#[path = "../../../vault/tests/support/scratch_db.rs"]
mod scratch_db;
mod seed;
mod seed_qr;
mod t2otp;
mod times;
mod upgrade;
mod vault;
mod windows;

use std::process::Output;

use assert_cmd::Command;

/// RFC 6238 Appendix B keys: ASCII "1234567890" repeated to 20, 32 and 64 bytes, in base32.
pub const RFC_SHA1: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
pub const RFC_SHA256: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA";
pub const RFC_SHA512: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNA";

pub fn tokendesk() -> Command {
    Command::cargo_bin("tokendesk").unwrap()
}

/// The `TOKENDESK_*` variables that choose a vault, its key or a server setting. Tests that make
/// their own vault clear them, so nothing from the environment running the tests leaks in.
pub const VAULT_ENV: &[&str] = &[
    "TOKENDESK_MASTER_KEY",
    "TOKENDESK_PASSPHRASE",
    "TOKENDESK_MASTER_KEY_FILE",
    "TOKENDESK_DATABASE_URL",
    "TOKENDESK_DATA",
    "TOKENDESK_CONFIG",
    "TOKENDESK_LISTEN",
    "TOKENDESK_TLS_CERT",
    "TOKENDESK_TLS_KEY",
    "TOKENDESK_BACKUP_DIR",
    "TOKENDESK_METRICS_LISTEN",
    "TOKENDESK_NTP_SERVER",
    "TOKENDESK_NFC",
];

/// `tokendesk --data DATA`, with none of [`VAULT_ENV`] and the audit actor `tester`.
pub fn tokendesk_at(data: &std::path::Path) -> Command {
    let mut c = tokendesk();
    for var in VAULT_ENV {
        c.env_remove(var);
    }
    c.env("TOKENDESK_ACTOR", "tester").arg("--data").arg(data);
    c
}

/// [`tokendesk_at`] as a plain process, for servers a test starts and stops.
pub fn tokendesk_process(data: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("tokendesk"));
    for var in VAULT_ENV {
        c.env_remove(var);
    }
    c.env("TOKENDESK_ACTOR", "tester").arg("--data").arg(data);
    c
}

/// Runs one SQL statement on the SQLite vault in `data` (tests that tamper or downgrade).
pub fn sqlite_exec(data: &std::path::Path, statement: &'static str) {
    use sqlx::Executor;
    let url = format!("sqlite://{}", data.join("vault.db").display());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&url).await.unwrap();
            pool.execute(statement).await.unwrap();
            pool.close().await;
        });
}

pub fn t2otp() -> Command {
    Command::cargo_bin("t2otp").unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Runs `tokendesk ARGS` and returns stdout, asserting exit 0.
pub fn ok(args: &[&str]) -> String {
    let o = tokendesk().args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

/// A small deterministic generator (xorshift64*), so failures reproduce from the printed seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Built without PC/SC, the nfc commands say how to get it instead of failing obscurely.
#[cfg(not(feature = "nfc-pcsc"))]
#[test]
fn nfc_without_pcsc_explains_the_missing_feature() {
    let o = tokendesk().args(["nfc", "readers"]).output().unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("built without PC/SC support"),
        "{}",
        stderr(&o)
    );
}
