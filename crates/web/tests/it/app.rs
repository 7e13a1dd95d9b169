//! The app under test: a vault on a fresh SQLite file or PostgreSQL database, served over real
//! HTTP on 127.0.0.1, with a fixed clock shared by the vault and the web layer. Helpers sign
//! staff in through the real pages (password, password change, TOTP enrolment).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokendesk_otp::{Secret, SeedInput, Totp, TotpParams};
use tokendesk_vault::{
    Actor, Authorized, FixedClock, KeySpec, MasterKey, PasswordParams, Permission, Policy,
    Principal, Role, Settings, StaffSettings, Store, Vault,
};
use tokendesk_web::{AppState, WebConfig, app};

use crate::scratch_db::ScratchDb;

/// 2026-11-28T09:00:00Z.
pub const NOW: i64 = 1_795_856_400;

/// Held by the tests that load the machine (Chromium) and by the one that measures latency under
/// load, so the latency test is not measuring a browser running beside it.
pub static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub const RFC_SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

/// A signed-in browser: the session cookie to send.
#[derive(Clone, Debug)]
pub struct Browser {
    pub cookie: String,
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub vault: Arc<Vault>,
    pub clock: Arc<FixedClock>,
    pub state: AppState,
    pub url: String,
    pub key_hex: String,
    /// TOTP keys of staff enrolled through the pages, by user name.
    pub totp_keys: std::sync::Mutex<HashMap<String, String>>,
    _scratch: ScratchDb,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn test_settings() -> Settings {
    Settings::default()
}

/// Cheap Argon2 for staff passwords (tests only; production costs are the default).
pub fn test_staff_settings() -> StaffSettings {
    StaffSettings {
        password_params: PasswordParams::INSECURE_TEST_ONLY,
        ..StaffSettings::default()
    }
}

/// The vault's proof for the test's administrator `root`.
pub fn root(p: Permission) -> Authorized {
    Policy::authorize(
        &Principal {
            actor: Actor::new("root"),
            role: Role::Admin,
        },
        p,
    )
    .unwrap()
}

/// Serves `state` on an ephemeral loopback port for as long as the runtime lives.
pub async fn spawn(state: AppState) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        tokendesk_web::serve(listener, None, app(state), std::future::pending())
            .await
            .unwrap()
    });
    addr
}

/// A web state over `vault` (whose clock is the shared fixed clock). The per-address sign-in budget is
/// raised far above the default here, because every test signs its staff in from 127.0.0.1 on
/// a clock that stands still; `it::signin_security` tests the default budget itself. The browser
/// capture gives up after 8 s instead of 60, so its time-out can be seen in a test.
pub fn state_for(vault: Arc<Vault>) -> AppState {
    state_with_config(vault, base_config())
}

/// The web settings every test app starts from (see [`state_for`]).
pub fn base_config() -> WebConfig {
    WebConfig {
        helpdesk_phone: Some("+41 44 000 00 00".into()),
        capture_timeout_secs: 8,
        signin_limit: tokendesk_web::SignInLimit {
            burst: 100_000,
            per_minute: 100_000,
        },
        ..WebConfig::default()
    }
}

/// A web state over `vault` with the given settings.
pub fn state_with_config(vault: Arc<Vault>, config: WebConfig) -> AppState {
    AppState::new(vault, config)
}

impl TestApp {
    async fn make(url: String, scratch: ScratchDb) -> Self {
        Self::make_with(url, scratch, NOW, test_settings()).await
    }

    async fn make_at(url: String, scratch: ScratchDb, now: i64) -> Self {
        Self::make_with(url, scratch, now, test_settings()).await
    }

    async fn make_with(url: String, scratch: ScratchDb, now: i64, settings: Settings) -> Self {
        Self::make_full(
            url,
            scratch,
            now,
            settings,
            test_staff_settings(),
            |_, _| {},
        )
        .await
    }

    /// The app with its web settings changed by `configure`, which is told the address the
    /// server will listen on (an identity provider needs the callback URL up front).
    async fn make_full(
        url: String,
        scratch: ScratchDb,
        now: i64,
        settings: Settings,
        staff: StaffSettings,
        configure: impl FnOnce(SocketAddr, &mut WebConfig),
    ) -> Self {
        sqlx::any::install_default_drivers();
        let clock = Arc::new(FixedClock::new(now));
        let key = MasterKey::generate().unwrap();
        let key_hex: String = key
            .expose_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let store = Store::open(&url).await.unwrap();
        let mut vault = Vault::init(store, KeySpec::Key(key), clock.clone(), &Actor::new("init"))
            .await
            .unwrap();
        vault.set_settings(settings);
        vault.set_staff_settings(staff);
        let vault = Arc::new(vault);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = base_config();
        configure(addr, &mut config);
        let state = state_with_config(vault.clone(), config);
        let served = state.clone();
        tokio::spawn(async move {
            tokendesk_web::serve(listener, None, app(served), std::future::pending())
                .await
                .unwrap()
        });
        Self {
            addr,
            vault,
            clock,
            state,
            url,
            key_hex,
            totp_keys: std::sync::Mutex::new(HashMap::new()),
            _scratch: scratch,
        }
    }

    /// SQLite at `now`, with staff settings and web settings of the test's own.
    pub async fn sqlite_configured(
        now: i64,
        staff: StaffSettings,
        configure: impl FnOnce(SocketAddr, &mut WebConfig),
    ) -> Self {
        let (url, scratch) = ScratchDb::sqlite();
        Self::make_full(url, scratch, now, test_settings(), staff, configure).await
    }

    /// PostgreSQL at `now`, with staff settings and web settings of the test's own.
    pub async fn postgres_configured(
        now: i64,
        staff: StaffSettings,
        configure: impl FnOnce(SocketAddr, &mut WebConfig),
    ) -> Self {
        let (url, scratch) = ScratchDb::postgres().await;
        Self::make_full(url, scratch, now, test_settings(), staff, configure).await
    }

    pub async fn sqlite() -> Self {
        let (url, scratch) = ScratchDb::sqlite();
        Self::make(url, scratch).await
    }

    /// SQLite with the clock at `now`.
    pub async fn sqlite_at(now: i64) -> Self {
        let (url, scratch) = ScratchDb::sqlite();
        Self::make_at(url, scratch, now).await
    }

    /// SQLite with other vault settings (a retention, a quota).
    pub async fn sqlite_with(settings: Settings) -> Self {
        let (url, scratch) = ScratchDb::sqlite();
        Self::make_with(url, scratch, NOW, settings).await
    }

    pub async fn postgres() -> Self {
        let (url, scratch) = ScratchDb::postgres().await;
        Self::make(url, scratch).await
    }

    /// A second vault handle and server on the same database (another instance).
    pub async fn second_instance(&self) -> (SocketAddr, Arc<Vault>) {
        let key = tokendesk_vault::parse_key_hex(&self.key_hex).unwrap();
        let store = Store::open(&self.url).await.unwrap();
        let mut vault = Vault::open(store, KeySpec::Key(key), self.clock.clone())
            .await
            .unwrap();
        vault.set_settings(test_settings());
        vault.set_staff_settings(test_staff_settings());
        let vault = Arc::new(vault);
        let addr = spawn(state_for(vault.clone())).await;
        (addr, vault)
    }

    pub fn at(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn now(&self) -> u64 {
        use tokendesk_vault::Clock;
        u64::try_from(self.clock.now().0).unwrap()
    }

    /// A new API key with `role`, created by the vault's admin, as an `Authorization` value.
    pub async fn api_key(&self, name: &str, role: Role) -> String {
        let (_, token) = self
            .vault
            .staff()
            .apikey_create(&root(Permission::ManageApiKeys), name, role)
            .await
            .unwrap();
        format!("Bearer {}", token.expose())
    }

    /// The served OpenAPI document.
    pub async fn openapi(&self) -> serde_json::Value {
        client()
            .get(self.at("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Creates the first admin through the setup link and signs them in fully.
    pub async fn admin(&self) -> Browser {
        let token = self.vault.staff().create_setup_token(900).await.unwrap();
        let r = client()
            .post(self.at("/setup"))
            .form(&[
                ("token", token.expose()),
                ("username", "root"),
                ("display_name", "Root Admin"),
                ("password", "correct horse battery"),
                ("password2", "correct horse battery"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        self.sign_in("root", "correct horse battery").await
    }

    /// Adds a staff member with `role` (as the vault's admin) and signs them in fully.
    pub async fn staff(&self, username: &str, role: Role) -> Browser {
        let (_, otp) = self
            .vault
            .staff()
            .add(&root(Permission::ManageStaff), username, username, role)
            .await
            .unwrap();
        let fresh = format!("{username} long password 1");
        self.sign_in_changing(username, otp.expose(), &fresh).await
    }

    /// First sign-in with a one-time password: choose a new one, enrol TOTP.
    pub async fn sign_in_new(&self, username: &str, one_time: &str) -> Browser {
        let fresh = format!("{username} long password 1");
        self.sign_in_changing(username, one_time, &fresh).await
    }

    /// Password sign-in through the pages; enrols TOTP when asked.
    pub async fn sign_in(&self, username: &str, password: &str) -> Browser {
        self.sign_in_changing(username, password, "").await
    }

    async fn sign_in_changing(
        &self,
        username: &str,
        password: &str,
        new_password: &str,
    ) -> Browser {
        let r = client()
            .post(self.at("/login"))
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "login of {username}: {}", r.status());
        let cookie = set_cookie(&r);
        let mut browser = Browser { cookie };
        let mut next = location(&r);
        for _ in 0..4 {
            match next.as_str() {
                "/" => return browser,
                "/account/password" => {
                    let r = self
                        .post_form(
                            &browser,
                            "/account/password",
                            &[
                                ("old", password),
                                ("new", new_password),
                                ("new2", new_password),
                            ],
                        )
                        .await;
                    assert_eq!(r.status(), 303, "password change");
                    next = location(&r);
                }
                "/account/totp" => {
                    let page = self.get_text(&browser, "/account/totp").await;
                    let key = between(&page, "<code id=\"enrol-key\">", "</code>");
                    self.totp_keys
                        .lock()
                        .unwrap()
                        .insert(username.to_owned(), key.clone());
                    let code = totp_now(&key, self.now());
                    let r = self
                        .post_form(&browser, "/account/totp", &[("code", code.as_str())])
                        .await;
                    assert_eq!(r.status(), 303, "enrolment");
                    // The TOTP step replaces the session token.
                    browser.cookie = set_cookie(&r);
                    next = location(&r);
                }
                "/login/totp" => {
                    // A code of a step not used before (replay protection).
                    self.clock.advance(30);
                    let key = self.totp_keys.lock().unwrap()[username].clone();
                    let code = totp_now(&key, self.now());
                    let r = self
                        .post_form(&browser, "/login/totp", &[("code", code.as_str())])
                        .await;
                    assert_eq!(r.status(), 303, "second factor");
                    browser.cookie = set_cookie(&r);
                    next = location(&r);
                }
                other => panic!("unexpected step {other}"),
            }
        }
        panic!("sign-in did not finish");
    }

    pub async fn get(&self, b: &Browser, path: &str) -> reqwest::Response {
        client()
            .get(self.at(path))
            .header("cookie", &b.cookie)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_text(&self, b: &Browser, path: &str) -> String {
        let r = self.get(b, path).await;
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.text().await.unwrap()
    }

    pub async fn post_form(
        &self,
        b: &Browser,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        client()
            .post(self.at(path))
            .header("cookie", &b.cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Captures a record for `upn` with the RFC 6238 seed; returns its id.
    pub async fn capture(&self, upn: &str) -> String {
        let secret = match SeedInput::parse(RFC_SEED).unwrap() {
            SeedInput::Secret(s) => s,
            _ => unreachable!(),
        };
        self.vault
            .capture(
                &root(Permission::Capture),
                tokendesk_vault::NewRecord {
                    upn: upn.into(),
                    phone: Some("+41 79 000 00 00".into()),
                    ..Default::default()
                },
                &secret,
            )
            .await
            .unwrap()
            .id
    }
}

pub fn set_cookie(r: &reqwest::Response) -> String {
    let raw = r
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap();
    raw.split(';').next().unwrap().to_owned()
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

pub fn between(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in page"))
        + start.len();
    let len = text[from..].find(end).unwrap();
    text[from..from + len].to_owned()
}

/// The current TOTP code for a (grouped) base32 key.
pub fn totp_now(key: &str, now: u64) -> String {
    let secret: Secret = match SeedInput::parse(key).unwrap() {
        SeedInput::Secret(s) => s,
        _ => unreachable!(),
    };
    Totp::new(&secret, TotpParams::default())
        .at(now)
        .unwrap()
        .code
        .expose()
        .to_owned()
}

/// The RFC 6238 seed's code at `t` (what a reveal must show).
pub fn rfc_code(t: u64) -> String {
    totp_now(RFC_SEED, t)
}
