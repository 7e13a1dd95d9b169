//! Fuzzes what the web layer parses from a request — form bodies, JSON bodies, multipart
//! uploads, raw image bodies and query strings — through the real application
//! (`tokendesk_web::app`) over a real vault on a SQLite file, on every route of
//! `tokendesk_web::routes::table`. Pages are called with a signed-in administrator's session,
//! `/api/v1` with an administrator's API key, so the handlers behind the guards are reached.
//!
//! Input: a first line naming the route (`POST /records/{id}/reveal`, optionally followed by a
//! space and a raw value for the path's parameter), then the body (for a GET route: the query
//! string). A first line naming no route picks one by its hash, so a mutated line still reaches
//! some route. Seeds for each route are written by `bench/fuzz.sh`.
//!
//! Checks beyond "no panic": no answer is a 5xx other than 503 (busy), and the seed of the
//! record the rig holds never shows in an answer, except on the routes whose job is to hand
//! seeds out (export, a bulk batch fetch, a burn grant fetch) and when the input itself held it.
//!
//! The vault, its records and the session persist from one input to the next (a fresh vault per
//! input would cost far more than the request): a finding is replayed on the corpus it was found
//! with (`cargo fuzz run web_bodies fuzz/corpus/web_bodies ARTIFACT`), not always on its own.
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use tokendesk_otp::{SeedInput, Totp, TotpParams};
use tokendesk_vault::{
    Actor, Authorized, Clock, FixedClock, KeySpec, MasterKey, NewRecord, PasswordParams,
    Permission, Policy, Principal, Role, StaffSettings, Store, TokenParams, Vault,
};
use tokendesk_web::routes::RouteSpec;
use tokendesk_web::{AppState, FrameLimit, QrLimits, SignInLimit, WebConfig, app};
use tower::ServiceExt;

/// 2026-11-28T09:00:00Z; the clock moves one second per input.
const NOW: i64 = 1_795_856_400;
const PASSWORD: &str = "correct horse battery staple";
/// The seed of the record every answer is searched for (base32 of 20 random bytes).
const SEED: &str = "7KQ3XM2PLWZJ5RVA4HN6TCGBYD3EFU2S";
/// The multipart boundary of upload routes: seeds and mutations use it.
const BOUNDARY: &str = "fuzzboundary";

/// Routes that take files as multipart forms.
const MULTIPART: [&str; 3] = ["/wizard", "/bulk", "/api/v1/import"];
/// Routes whose answer is a seed by design.
const HANDS_OUT_SEEDS: [&str; 3] = [
    "/api/v1/export",
    "/api/v1/bulk/{id}/fetch",
    "/api/v1/burn-grants/fetch",
];
/// Left out: signing out ends the session the other routes need (it is a cookie deletion
/// and a session row delete, with no body to parse).
const LEFT_OUT: [&str; 1] = ["/logout"];

struct Rig {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    clock: Arc<FixedClock>,
    vault: Arc<Vault>,
    routes: Vec<RouteSpec>,
    api_key: String,
    /// The administrator the pages are called as, their password and TOTP key.
    user: String,
    password: String,
    totp_key: String,
    /// Administrators added after the fuzzer put the previous one out of reach.
    generation: u32,
    cookie: Mutex<String>,
    record_id: String,
    batch_id: String,
}

fn root(p: Permission) -> Authorized {
    Policy::authorize(
        &Principal {
            actor: Actor::new("root"),
            role: Role::Admin,
        },
        p,
    )
    .expect("an admin holds every permission")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: header::HeaderName) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    fn cookie(&self) -> String {
        self.header(header::SET_COOKIE)
            .split(';')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

async fn send(router: &axum::Router, req: Request<Body>) -> Answer {
    let resp = match router.clone().oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    };
    let (parts, body) = resp.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

fn post_form(path: &str, cookie: &str, pairs: &[(&str, &str)]) -> Request<Body> {
    Request::post(path)
        .header(header::HOST, "localhost")
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form_body(pairs)))
        .expect("a valid request")
}

fn totp_now(key: &str, now: i64) -> String {
    let Ok(SeedInput::Secret(secret)) = SeedInput::parse(key) else {
        return String::new();
    };
    let now = u64::try_from(now).expect("after 1970");
    Totp::new(&secret, TotpParams::default())
        .at(now)
        .expect("a code")
        .code
        .expose()
        .to_owned()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    text.get(from..from + len)
}

impl Rig {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        // In memory where there is /dev/shm: every write is synced (synchronous = FULL), and a
        // disk would make the fsyncs, not the parsing, the cost of an input.
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_owned()
        } else {
            std::env::temp_dir()
        };
        // libFuzzer ends the process without running destructors: earlier runs' vaults are
        // removed here, once their process is gone.
        for entry in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("tokendesk-fuzz-web-")
                && !std::path::Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = base.join(format!("tokendesk-fuzz-web-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        let url = format!("sqlite://{}", dir.join("vault.db").display());
        let clock = Arc::new(FixedClock::new(NOW));
        let vault = rt.block_on(async {
            let store = Store::open(&url).await.expect("open the vault");
            let key = MasterKey::generate().expect("a key");
            let mut vault =
                Vault::init(store, KeySpec::Key(key), clock.clone(), &Actor::new("init"))
                    .await
                    .expect("init the vault");
            vault.set_staff_settings(StaffSettings {
                password_params: PasswordParams::INSECURE_TEST_ONLY,
                max_failed_logins: i64::MAX,
                idle_timeout_secs: i64::from(i32::MAX),
                absolute_timeout_secs: i64::from(i32::MAX),
                ..StaffSettings::default()
            });
            Arc::new(vault)
        });
        let config = WebConfig {
            helpdesk_phone: Some("+41 44 000 00 00".into()),
            signin_limit: SignInLimit {
                burst: u32::MAX,
                per_minute: u32::MAX,
            },
            frame_limit: FrameLimit::default(),
            // A screenshot decode is bounded per input (the qr_image target fuzzes the decoder).
            qr: QrLimits {
                max_pixels: 1_000_000,
                time_budget: std::time::Duration::from_secs(2),
                max_parallel: 1,
            },
            ..WebConfig::default()
        };
        let state = AppState::new(vault.clone(), config);
        let routes = tokendesk_web::routes::table(state.clone())
            .into_iter()
            .filter(|r| !LEFT_OUT.contains(&r.path))
            .collect();
        let router = app(state);
        let mut rig = Self {
            rt,
            router,
            clock,
            vault,
            routes,
            api_key: String::new(),
            user: "root".to_owned(),
            password: PASSWORD.to_owned(),
            totp_key: String::new(),
            generation: 0,
            cookie: Mutex::new(String::new()),
            record_id: String::new(),
            batch_id: String::new(),
        };
        rig.set_up();
        rig
    }

    /// The first administrator through the setup page, signed in with TOTP enrolled; an API
    /// key; a second staff member; a record with [`SEED`]; a bulk batch.
    fn set_up(&mut self) {
        let vault = self.vault.clone();
        let router = self.router.clone();
        let (token, api_key, record_id, batch_id) = self.rt.block_on(async {
            let token = vault
                .staff()
                .create_setup_token(900)
                .await
                .expect("a setup token");
            let setup = post_form(
                "/setup",
                "",
                &[
                    ("token", token.expose()),
                    ("username", "root"),
                    ("display_name", "Root Admin"),
                    ("password", PASSWORD),
                    ("password2", PASSWORD),
                ],
            );
            let answer = send(&router, setup).await;
            assert_eq!(answer.status, StatusCode::SEE_OTHER, "setup");
            let (_, key) = vault
                .staff()
                .apikey_create(&root(Permission::ManageApiKeys), "fuzz", Role::Admin)
                .await
                .expect("an API key");
            vault
                .staff()
                .apikey_create(&root(Permission::ManageApiKeys), "other", Role::Helpdesk)
                .await
                .expect("a second API key");
            vault
                .staff()
                .add(&root(Permission::ManageStaff), "bob", "Bob", Role::Helpdesk)
                .await
                .expect("a second staff member");
            let Ok(SeedInput::Secret(secret)) = SeedInput::parse(SEED) else {
                panic!("SEED is base32");
            };
            let record = vault
                .capture(
                    &root(Permission::Capture),
                    NewRecord {
                        upn: "victim@contoso.com".into(),
                        phone: Some("+41 79 000 00 00".into()),
                        ..NewRecord::default()
                    },
                    &secret,
                )
                .await
                .expect("a record");
            let batch = vault
                .bulk_generate(
                    &root(Permission::Capture),
                    &[
                        "batch1@contoso.com".to_owned(),
                        "batch2@contoso.com".to_owned(),
                    ],
                    TokenParams::default(),
                    None,
                )
                .await
                .expect("a batch");
            (
                token,
                format!("Bearer {}", key.expose()),
                record.id,
                batch.id,
            )
        });
        drop(token);
        self.api_key = api_key;
        self.record_id = record_id;
        self.batch_id = batch_id;
        self.sign_in();
        // The rig is signed in on both sides, or the inputs would only ever meet the guards.
        let cookie = self.cookie.lock().expect("not poisoned").clone();
        let page = Request::get("/records")
            .header(header::HOST, "localhost")
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .expect("a valid request");
        let api = Request::get("/api/v1/records")
            .header(header::HOST, "localhost")
            .header(header::AUTHORIZATION, &self.api_key)
            .body(Body::empty())
            .expect("a valid request");
        let router = self.router.clone();
        let (page, api) = self
            .rt
            .block_on(async { (send(&router, page).await, send(&router, api).await) });
        assert_eq!(page.status, StatusCode::OK, "the records page, signed in");
        assert_eq!(api.status, StatusCode::OK, "the records API, with the key");
    }

    fn new_api_key(&mut self) {
        self.generation += 1;
        let name = format!("fuzz{}", self.generation);
        let vault = self.vault.clone();
        self.api_key = self.rt.block_on(async {
            let (_, key) = vault
                .staff()
                .apikey_create(&root(Permission::ManageApiKeys), &name, Role::Admin)
                .await
                .expect("an API key");
            format!("Bearer {}", key.expose())
        });
    }

    /// Signs the rig's administrator in again; when the fuzzer has put that account out of
    /// reach (a reset, a disabled account), a fresh administrator is added through the vault and
    /// signed in instead.
    fn sign_in(&mut self) {
        if let Some(cookie) = self.try_sign_in() {
            *self.cookie.lock().expect("not poisoned") = cookie;
            return;
        }
        self.generation += 1;
        let name = format!("root{}", self.generation);
        let vault = self.vault.clone();
        let one_time = self.rt.block_on(async {
            let (_, password) = vault
                .staff()
                .add(&root(Permission::ManageStaff), &name, &name, Role::Admin)
                .await
                .expect("a fresh administrator");
            password.expose().to_owned()
        });
        self.user = name;
        self.password = one_time;
        self.totp_key.clear();
        let cookie = self.try_sign_in().expect("a fresh administrator signs in");
        *self.cookie.lock().expect("not poisoned") = cookie;
    }

    /// Password (changed to [`PASSWORD`] when a one-time password asks for it), then TOTP
    /// (enrolled the first time): the session cookie, or `None` when a step is refused.
    fn try_sign_in(&mut self) -> Option<String> {
        let router = self.router.clone();
        let clock = self.clock.clone();
        let (user, mut password, mut totp_key) = (
            self.user.clone(),
            self.password.clone(),
            self.totp_key.clone(),
        );
        let cookie = self.rt.block_on(async {
            let login = post_form(
                "/login",
                "",
                &[("username", &user), ("password", &password)],
            );
            let answer = send(&router, login).await;
            if answer.status != StatusCode::SEE_OTHER {
                return None;
            }
            let mut cookie = answer.cookie();
            let mut next = answer.header(header::LOCATION);
            for _ in 0..4 {
                let answer = match next.as_str() {
                    "/" => return Some(cookie),
                    "/account/password" => {
                        let form = [
                            ("old", password.as_str()),
                            ("new", PASSWORD),
                            ("new2", PASSWORD),
                        ];
                        let answer =
                            send(&router, post_form("/account/password", &cookie, &form)).await;
                        password = PASSWORD.to_owned();
                        answer
                    }
                    "/account/totp" => {
                        let page = Request::get("/account/totp")
                            .header(header::HOST, "localhost")
                            .header(header::COOKIE, &cookie)
                            .body(Body::empty())
                            .expect("a valid request");
                        let page = send(&router, page).await;
                        let page = String::from_utf8_lossy(&page.body).into_owned();
                        totp_key = between(&page, "<code id=\"enrol-key\">", "</code>")?.to_owned();
                        let code = totp_now(&totp_key, clock.now().0);
                        send(
                            &router,
                            post_form("/account/totp", &cookie, &[("code", &code)]),
                        )
                        .await
                    }
                    "/login/totp" => {
                        // A step not used before (replay protection).
                        clock.advance(30);
                        let code = totp_now(&totp_key, clock.now().0);
                        send(
                            &router,
                            post_form("/login/totp", &cookie, &[("code", &code)]),
                        )
                        .await
                    }
                    _ => return None,
                };
                if answer.status != StatusCode::SEE_OTHER {
                    return None;
                }
                let fresh = answer.cookie();
                if !fresh.is_empty() {
                    cookie = fresh;
                }
                next = answer.header(header::LOCATION);
            }
            None
        });
        self.password = password;
        self.totp_key = totp_key;
        cookie
    }

    /// The route the input's first line names, else one picked by the line's hash.
    fn route(&self, line: &str) -> (RouteSpec, Option<String>) {
        let mut words = line.splitn(3, ' ');
        let method = words.next().unwrap_or_default();
        let path = words.next().unwrap_or_default();
        let param = words.next().map(str::to_owned);
        if let Some(r) = self
            .routes
            .iter()
            .find(|r| r.method == method && r.path == path)
        {
            return (*r, param);
        }
        let hash = line.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let index = usize::try_from(hash % self.routes.len() as u64).unwrap_or(0);
        (self.routes[index], None)
    }

    /// The route's path with its parameter: the given raw value (percent-encoded), else a
    /// value that exists in the vault.
    fn path(&self, route: &RouteSpec, param: Option<&str>) -> String {
        let Some(open) = route.path.find('{') else {
            return route.path.to_owned();
        };
        let close = route.path[open..]
            .find('}')
            .map_or(route.path.len(), |c| open + c + 1);
        let value = match param {
            Some(raw) => urlencode(raw),
            None => match &route.path[open..close] {
                "{username}" => "bob".to_owned(),
                "{name}" => "other".to_owned(),
                _ if route.path.contains("/bulk/") => self.batch_id.clone(),
                _ => self.record_id.clone(),
            },
        };
        format!("{}{value}{}", &route.path[..open], &route.path[close..])
    }

    fn run(&mut self, data: &[u8]) {
        // One second per input: rate limits refill, daily quotas turn over now and then.
        self.clock.advance(1);
        let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
        let line = String::from_utf8_lossy(&data[..split]).into_owned();
        let body = data.get(split + 1..).unwrap_or_default().to_vec();
        let (route, param) = self.route(&line);
        let mut path = self.path(&route, param.as_deref());
        let method = Method::from_bytes(route.method.as_bytes()).expect("a method");
        let mut req = Request::builder().header(header::HOST, "localhost");
        let body = if method == Method::GET {
            // The input is the query string; bytes a URL cannot hold are escaped.
            let query: String = body
                .iter()
                .map(|&b| {
                    if b.is_ascii_alphanumeric() || b"&=%-._~+,;:@/".contains(&b) {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            if !query.is_empty() {
                path = format!("{path}?{query}");
            }
            Body::empty()
        } else {
            let content_type = if MULTIPART.contains(&route.path) {
                format!("multipart/form-data; boundary={BOUNDARY}")
            } else if route.path == "/wizard/frame" {
                "image/png".to_owned()
            } else if route.api {
                "application/json".to_owned()
            } else {
                "application/x-www-form-urlencoded".to_owned()
            };
            req = req.header(header::CONTENT_TYPE, content_type);
            Body::from(body)
        };
        let Ok(uri) = path.parse::<axum::http::Uri>() else {
            return;
        };
        req = req.method(method).uri(uri);
        req = if route.api {
            req.header(header::AUTHORIZATION, &self.api_key)
        } else {
            let cookie = self.cookie.lock().expect("not poisoned").clone();
            req.header(header::COOKIE, cookie)
        };
        let req = req.body(body).expect("a valid request");
        let router = self.router.clone();
        let answer = self.rt.block_on(send(&router, req));
        assert!(
            !answer.status.is_server_error() || answer.status == StatusCode::SERVICE_UNAVAILABLE,
            "{} {}: {}",
            route.method,
            route.path,
            answer.status
        );
        if !HANDS_OUT_SEEDS.contains(&route.path) {
            let input = String::from_utf8_lossy(data).to_ascii_uppercase();
            let shown = String::from_utf8_lossy(&answer.body).to_ascii_uppercase();
            let grouped = SEED
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(" ");
            for form in [SEED, grouped.as_str()] {
                if !input.contains(form) {
                    assert!(
                        !shown.contains(form),
                        "{} {} shows the record's seed",
                        route.method,
                        route.path
                    );
                }
            }
        }
        // The fuzzer signed the rig out (a revoked key, a reset or disabled account, a lost
        // session): a new key, or sign in again, so the next inputs reach the handlers again.
        if route.api && answer.status == StatusCode::UNAUTHORIZED {
            self.new_api_key();
        } else if !route.api
            && (answer.status == StatusCode::UNAUTHORIZED
                || answer.header(header::LOCATION).starts_with("/login"))
        {
            self.sign_in();
        }
    }
}

static RIG: OnceLock<Mutex<Rig>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let rig = RIG.get_or_init(|| Mutex::new(Rig::new()));
    let mut rig = rig
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    rig.run(data);
});
