//! Test databases: a SQLite file in a fresh temp dir, or a uniquely named PostgreSQL database
//! created from `TOKENDESK_TEST_PG_URL` and dropped afterwards.

use std::sync::Arc;

use sqlx::AnyPool;
use tokendesk_vault::{Actor, FixedClock, KeySpec, MasterKey, Store, Vault};

pub use crate::scratch_db::ScratchDb;

/// 2026-11-28T09:00:00Z, a Saturday.
pub const T0: i64 = 1_795_856_400;

pub struct Env {
    pub vault: Vault,
    pub clock: Arc<FixedClock>,
    pub url: String,
    pub key_hex: String,
    pub raw: AnyPool,
    _scratch: ScratchDb,
}

/// The test operator: an administrator named `tester`, with a proof for everything the role
/// allows (what the CLI gets).
pub fn actor() -> tokendesk_vault::Authorized {
    as_admin("tester")
}

/// A proof for everything an administrator may do, acting as `name`.
pub fn as_admin(name: &str) -> tokendesk_vault::Authorized {
    tokendesk_vault::Policy::authorize_role(&tokendesk_vault::Principal {
        actor: Actor::new(name),
        role: tokendesk_vault::Role::Admin,
    })
}

pub fn key_from_hex(hex: &str) -> MasterKey {
    tokendesk_vault::parse_key_hex(hex).unwrap()
}

async fn make(url: String, scratch: ScratchDb) -> Env {
    sqlx::any::install_default_drivers();
    let clock = Arc::new(FixedClock::new(T0));
    let key = MasterKey::generate().unwrap();
    let key_hex: String = key
        .expose_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let store = Store::open(&url).await.unwrap();
    let vault = Vault::init(store, KeySpec::Key(key), clock.clone(), actor().actor())
        .await
        .unwrap();
    let raw = AnyPool::connect(&url).await.unwrap();
    Env {
        vault,
        clock,
        url,
        key_hex,
        raw,
        _scratch: scratch,
    }
}

impl Env {
    /// Opens the same database again with `spec` (a second process, in effect).
    pub async fn reopen(&self, spec: KeySpec) -> tokendesk_vault::Result<Vault> {
        let store = Store::open(&self.url).await?;
        Vault::open(store, spec, self.clock.clone()).await
    }

    pub fn key(&self) -> MasterKey {
        key_from_hex(&self.key_hex)
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        use sqlx::Row;
        sqlx::query(sql)
            .fetch_one(&self.raw)
            .await
            .unwrap()
            .get::<i64, _>(0)
    }

    pub async fn exec(&self, sql: &'static str) {
        sqlx::query(sql).execute(&self.raw).await.unwrap();
    }
}

pub async fn sqlite() -> Env {
    let (url, scratch) = ScratchDb::sqlite();
    make(url, scratch).await
}

pub async fn postgres() -> Env {
    let (url, scratch) = ScratchDb::postgres().await;
    make(url, scratch).await
}

pub const SEED: &[u8] = b"12345678901234567890";

pub fn new_record(upn: &str) -> tokendesk_vault::NewRecord {
    tokendesk_vault::NewRecord {
        upn: upn.to_owned(),
        display_name: Some("Test User".into()),
        phone: Some("+44 20 7946 0000".into()),
        serial: Some("T2-0001".into()),
        ..Default::default()
    }
}

/// Reveal request for now; reveals the codes at the fixed clock's now.
pub fn reveal_request(env: &Env, upn: &str) -> tokendesk_vault::RevealRequest {
    use tokendesk_vault::Clock;
    reveal_request_at(upn, env.clock.now().0)
}

/// Reveal request (call-back, ticket INC-1) for the code at `unix_secs`.
pub fn reveal_request_at(upn: &str, unix_secs: i64) -> tokendesk_vault::RevealRequest {
    tokendesk_vault::RevealRequest {
        upn: upn.to_owned(),
        ticket: tokendesk_vault::Ticket::new("INC-1").unwrap(),
        method: tokendesk_vault::Verification::CallBack,
        purpose: tokendesk_vault::Purpose::ReadOut,
        at_unix_secs: vec![unix_secs],
        approval: None,
        record_id: None,
        following_steps: 0,
    }
}

pub fn secret(bytes: &[u8]) -> tokendesk_otp::Secret {
    tokendesk_otp::Secret::from_bytes(bytes.to_vec())
}

pub fn seed() -> tokendesk_otp::Secret {
    secret(SEED)
}

/// The SHA-1/6/30 code of `seed` at `unix_secs`, computed outside the vault.
pub fn expected_code(seed: &[u8], unix_secs: i64) -> String {
    let totp = tokendesk_otp::Totp::new(&secret(seed), Default::default());
    totp.at(unix_secs as u64).unwrap().code.expose().to_owned()
}

/// The current code for the test seed, as a delivered token would show it.
pub fn code_now(env: &Env) -> String {
    use tokendesk_vault::Clock;
    expected_code(SEED, env.clock.now().0)
}

/// Reveals the current code for `upn`.
pub async fn reveal_code(env: &Env, vault: &Vault, upn: &str) -> tokendesk_vault::Result<String> {
    vault
        .reveal(&actor(), &reveal_request(env, upn))
        .await
        .map(|(_, codes)| codes[0].code.expose().to_owned())
}

/// Captures every (user, seed) in one batch.
pub async fn capture_all(env: &Env, records: impl IntoIterator<Item = (String, Vec<u8>)>) {
    let items: Vec<_> = records
        .into_iter()
        .map(|(upn, seed)| (new_record(&upn), secret(&seed)))
        .collect();
    env.vault
        .capture_batch(&actor(), &items, "test")
        .await
        .unwrap();
}
