//! The web app in a real headless Chromium, driven through WebDriver (Debian's `chromium` and
//! `chromium-driver`; the test starts chromedriver itself on a free loopback port and stops it at
//! the end). One browser session walks the whole flow by clicking and typing: first-admin setup,
//! TOTP enrolment, a second staff member's first sign-in, the wizard, the lifecycle, a verified
//! reveal with its live countdown, delivery with drift, purge, and the seed's absence from every
//! page after saving. With `TOKENDESK_SCREENSHOTS=DIR` it saves PNGs of the main pages there.
//!
//! No test double: the server is the real app on a SQLite vault (FixedClock, so TOTP codes are
//! computed exactly), the browser is real Chromium. If chromedriver is missing the test fails
//! with instructions.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

use tokendesk_vault::Settings;

use crate::app::{TestApp, totp_now};

/// The seed pasted into the wizard (as Microsoft shows it: lowercase, groups of four).
const SEED: &str = "KRUGKIDROVUWG2ZAMJZG653OEBTG66BA";
const SEED_AS_SHOWN: &str = "krug kidr ovuw g2za mjzg 653o ebtg 66ba";
pub(crate) const ADMIN_PW: &str = "correct horse battery";
const ALICE_PW: &str = "alice's own long password";

/// chromedriver, stopped (killed and reaped) when dropped.
pub(crate) struct Driver {
    child: Child,
    url: String,
    profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) async fn start_driver() -> Driver {
    start_driver_with_env(&[]).await
}

/// chromedriver with extra environment variables (which Chromium inherits, e.g. `TZ`).
pub(crate) async fn start_driver_with_env(env: &[(&str, &str)]) -> Driver {
    let bin = std::env::var("TOKENDESK_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let port = free_port();
    let child = match Command::new(&bin)
        .envs(env.iter().copied())
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!(
            "cannot start `{bin}` ({e}): the browser tests need Chromium and ChromeDriver. Run \
             `scripts/test` (it installs them), or `apt-get install chromium chromium-driver`, \
             or point TOKENDESK_CHROMEDRIVER at a chromedriver (and TOKENDESK_CHROMIUM at its \
             browser)"
        ),
    };
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        profile: tempfile::tempdir().unwrap(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = crate::client()
            .get(format!("{}/status", driver.url))
            .send()
            .await
            && r.status().is_success()
        {
            return driver;
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not answer on {}",
            driver.url
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn open_browser(driver: &Driver) -> Client {
    open_browser_with(driver, &[]).await
}

pub(crate) async fn open_browser_with(driver: &Driver, extra: &[&str]) -> Client {
    let chromium =
        std::env::var("TOKENDESK_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let profile = format!("--user-data-dir={}", driver.profile.path().display());
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--lang=en-US",
        "--window-size=1280,900",
        profile.as_str(),
    ];
    let args: Vec<&str> = args.iter().chain(extra).copied().collect();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": chromium, "args": args }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("no WebDriver session from chromedriver with {chromium}: {e}"))
}

/// The browser plus what the checks need: the server, every page source seen after the seed
/// was saved, and where to put screenshots.
pub(crate) struct Ui<'a> {
    pub(crate) c: Client,
    pub(crate) app: &'a TestApp,
    pub(crate) after_save: Option<Vec<(String, String)>>,
    pub(crate) shots: Option<PathBuf>,
}

impl Ui<'_> {
    pub(crate) async fn goto(&mut self, path: &str) {
        self.c.goto(&self.app.at(path)).await.unwrap();
        self.seen().await;
    }

    /// Records the current page source (for the seed check) once the seed has been saved.
    pub(crate) async fn seen(&mut self) {
        if let Some(pages) = &mut self.after_save {
            let url = self.c.current_url().await.unwrap().to_string();
            let src = self.c.source().await.unwrap();
            pages.push((url, src));
        }
    }

    pub(crate) async fn el(&self, css: &str) -> Element {
        match self
            .c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                let url = self.c.current_url().await.map(|u| u.to_string());
                let src = self.c.source().await.unwrap_or_default();
                panic!("no {css} on {url:?}: {e}\n{src}")
            }
        }
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        self.el(css).await.text().await.unwrap()
    }

    pub(crate) async fn typ(&self, css: &str, text: &str) {
        let e = self.el(css).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Clicks a button that submits a form and waits until the next page shows `expect`.
    pub(crate) async fn submit(&mut self, button: &str, expect: &str) {
        self.el(button).await.click().await.unwrap();
        self.el(expect).await;
        self.seen().await;
    }

    pub(crate) async fn path(&self) -> String {
        self.c.current_url().await.unwrap().path().to_owned()
    }

    pub(crate) async fn shot(&self, name: &str) {
        if let Some(dir) = &self.shots {
            let png = self.c.screenshot().await.unwrap();
            assert!(
                png.starts_with(b"\x89PNG"),
                "screenshot of {name} is not a PNG"
            );
            std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        }
    }

    /// Signs out through the header button.
    async fn sign_out(&mut self) {
        self.submit("#logout", "#signin").await;
    }

    /// Password then second factor, for an enrolled account.
    pub(crate) async fn sign_in(&mut self, user: &str, password: &str, key: &str) {
        self.typ("#username", user).await;
        self.typ("#password", password).await;
        self.submit("#signin", "#verify").await;
        self.app.clock.advance(30); // a step whose code was not used before (replay protection)
        let code = totp_now(key, self.app.now());
        self.typ("#code", &code).await;
        self.submit("#verify", "#by-state").await;
        assert_eq!(self.path().await, "/");
    }

    /// Enrols a second factor on the enrolment page; returns the key shown.
    async fn enrol(&mut self, screenshot: Option<&str>) -> String {
        let key = self.text("#enrol-key").await;
        assert!(
            self.c.find(Locator::Css(".qr svg")).await.is_ok(),
            "no QR code"
        );
        if let Some(name) = screenshot {
            self.shot(name).await;
        }
        let code = totp_now(&key, self.app.now());
        self.typ("#code", &code).await;
        self.submit("#enrol", "#by-state").await;
        key
    }
}

/// Staff, action and user of every entry in the audit table on the current page.
async fn audit_rows(ui: &Ui<'_>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for row in ui.c.find_all(Locator::Css("#audit tr")).await.unwrap() {
        let cells = row.find_all(Locator::Css("td")).await.unwrap();
        if cells.len() < 5 {
            continue; // the header row
        }
        let mut picked = Vec::new();
        for cell in &cells[2..5] {
            picked.push(cell.text().await.unwrap());
        }
        out.push(picked);
    }
    out
}

/// Uppercase letters and digits only: the seed in any grouping or case becomes `SEED`.
fn squeeze(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_flow_in_chromium() {
    let _heavy = crate::app::HEAVY.lock().await;
    // A day's retention: delivery keeps the seed, so the purge button is there to click.
    let app = TestApp::sqlite_with(Settings {
        retention_secs: 86_400,
        ..crate::app::test_settings()
    })
    .await;
    let driver = start_driver().await;
    let shots = std::env::var_os("TOKENDESK_SCREENSHOTS").map(PathBuf::from);
    if let Some(dir) = &shots {
        std::fs::create_dir_all(dir).unwrap();
    }
    let c = open_browser(&driver).await;
    c.set_window_size(1280, 900).await.unwrap();
    let mut ui = Ui {
        c,
        app: &app,
        after_save: None,
        shots,
    };
    let result = flow(&mut ui).await;
    let _ = ui.c.clone().close().await;
    drop(driver);
    result
}

async fn flow(ui: &mut Ui<'_>) {
    let app = ui.app;

    // 1. First administrator through the setup link.
    let link = app.state.setup_link(&app.at("")).await.unwrap().unwrap();
    ui.c.goto(&link).await.unwrap();
    ui.typ("#username", "root").await;
    ui.typ("#display_name", "Root Admin").await;
    ui.typ("#password", ADMIN_PW).await;
    ui.typ("#password2", ADMIN_PW).await;
    ui.submit("#create", ".notice").await;
    assert!(ui.text(".notice").await.contains("Administrator created"));
    ui.shot("login").await;

    // 2. Sign in; the first sign-in enrols TOTP (key read from the page).
    ui.typ("#username", "root").await;
    ui.typ("#password", ADMIN_PW).await;
    ui.submit("#signin", "#enrol-key").await;
    assert_eq!(ui.path().await, "/account/totp");
    let root_key = ui.enrol(Some("enrol")).await;

    // 3. A second staff member: created in the Staff page, one-time password shown once, first
    // sign-in changes it and enrols; later sign-ins take password + TOTP.
    ui.goto("/staff").await;
    ui.typ("#username", "alice").await;
    ui.typ("#display_name", "Alice Helpdesk").await;
    ui.el("#role")
        .await
        .select_by_value("helpdesk")
        .await
        .unwrap();
    ui.submit("#add-staff", "#one-time-secret").await;
    let one_time = ui.text("#one-time-secret").await;
    assert!(ui.text("#staff").await.contains("alice"));
    ui.shot("staff").await;
    ui.goto("/staff").await;
    assert!(
        !ui.c.source().await.unwrap().contains(&one_time),
        "the one-time password is shown only once"
    );
    ui.sign_out().await;
    ui.typ("#username", "alice").await;
    ui.typ("#password", &one_time).await;
    ui.submit("#signin", "#change").await;
    assert_eq!(ui.path().await, "/account/password");
    ui.typ("#old", &one_time).await;
    ui.typ("#new", ALICE_PW).await;
    ui.typ("#new2", ALICE_PW).await;
    ui.submit("#change", "#enrol-key").await;
    let alice_key = ui.enrol(None).await;
    ui.sign_out().await;
    ui.sign_in("alice", ALICE_PW, &alice_key).await;
    assert!(ui.text("header").await.contains("helpdesk"));
    ui.sign_out().await;
    ui.sign_in("root", ADMIN_PW, &root_key).await;

    // 4. The wizard: paste the secret, the preview shows the code, then save.
    ui.goto("/wizard").await;
    ui.typ("#upn", "jane@example.com").await;
    ui.typ("#display_name", "Jane Doe").await;
    ui.typ("#phone", "+41 79 123 45 67").await;
    ui.typ("#secret", SEED_AS_SHOWN).await;
    ui.submit("#preview", "#wizard-codes").await;
    let shown = ui.text("#wizard-codes .code").await;
    assert_eq!(shown, totp_now(SEED, app.now()), "the wizard's code");
    assert!(
        squeeze(&ui.c.source().await.unwrap()).contains(SEED),
        "before saving the wizard still holds the pasted seed (the check below can fail)"
    );
    ui.shot("wizard").await;
    ui.typ("#manufacturer", "Token2").await;
    ui.typ("#model", "C302-i").await;
    ui.typ("#serial", "T2-0001").await;
    ui.after_save = Some(Vec::new());
    ui.submit("#save", "#record-state").await;
    assert!(ui.path().await.starts_with("/records/"));
    let record = ui.path().await;
    assert_eq!(ui.text("#record-state").await, "captured");
    assert!(ui.text(".notice").await.contains("will not be shown again"));

    // 5. Burned, then shipped with carrier, tracking and date.
    ui.submit("#do-burned", "#do-shipped").await;
    assert_eq!(ui.text("#record-state").await, "burned");
    ui.typ("#carrier", "Swiss Post").await;
    ui.typ("#tracking", "99.00.123456.78901234").await;
    let expected = ui.el("#expected").await;
    expected.click().await.unwrap();
    expected.send_keys("12052026").await.unwrap(); // en-US date field: mm dd yyyy
    assert_eq!(
        expected.prop("value").await.unwrap().as_deref(),
        Some("2026-12-05")
    );
    ui.submit("#do-shipped", "#do-delivered").await;
    assert_eq!(ui.text("#record-state").await, "shipped");
    let facts = ui.text("table.facts").await;
    assert!(
        facts.contains("Swiss Post") && facts.contains("99.00.123456.78901234"),
        "{facts}"
    );
    assert!(facts.contains("2026-12-05"), "{facts}");
    ui.shot("record").await;
    ui.sign_out().await;

    // 6. A verified reveal (call-back) by the helpdesk operator, with a live countdown.
    ui.sign_in("alice", ALICE_PW, &alice_key).await;
    ui.goto(&record).await;
    ui.submit("#reveal-link", "#ticket").await;
    ui.typ("#ticket", "INC-4711").await;
    ui.submit("#reveal", "#codes").await;
    let now = app.now();
    assert_eq!(
        ui.text("#codes .code").await,
        totp_now(SEED, now),
        "current code"
    );
    let first = ui.text("#codes tr.current .left").await;
    assert!(first.ends_with("s left"), "{first:?}");
    let changed = {
        let deadline = Instant::now() + Duration::from_secs(4);
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let t = ui.text("#codes tr.current .left").await;
            if t != first {
                break t;
            }
            assert!(
                Instant::now() < deadline,
                "the countdown stayed at {first:?}"
            );
        }
    };
    assert!(changed.ends_with("s left"), "{changed:?}");
    ui.shot("reveal").await;

    // 7. Delivery: the user reads a code from the arrived token, two steps ahead. The test's
    // retention keeps the seed after delivery; a helpdesk operator may not destroy it.
    ui.goto(&record).await;
    let from_token = totp_now(SEED, app.now() + 60);
    ui.typ("#code", &from_token).await;
    ui.submit("#do-delivered", ".notice").await;
    assert_eq!(ui.text("#record-state").await, "delivered");
    let notice = ui.text(".notice").await;
    assert!(notice.contains("kept until its retention ends"), "{notice}");
    let facts = ui.text("table.facts").await;
    assert!(
        facts.contains("2 steps") && facts.contains("stored (encrypted; never shown)"),
        "{facts}"
    );
    assert!(
        ui.c.find(Locator::Css("#do-purge")).await.is_err(),
        "helpdesk has no purge permission"
    );
    ui.sign_out().await;

    // 8. The administrator destroys the seed now (before the retention ends): the confirmation
    // box must be ticked first, then the record is purged.
    ui.sign_in("root", ADMIN_PW, &root_key).await;
    ui.goto(&record).await;
    assert_eq!(ui.text("#record-state").await, "delivered");
    ui.shot("delivered").await;
    let unticked_valid =
        ui.c.execute(
            "return document.getElementById('purge-confirm').form.checkValidity();",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        unticked_valid,
        serde_json::json!(false),
        "purge needs the tick"
    );
    ui.el("#do-purge").await.click().await.unwrap();
    // The browser refuses to submit without the required confirmation: still the same page.
    assert_eq!(ui.path().await, record);
    assert_eq!(ui.text("#record-state").await, "delivered");
    ui.el("#purge-confirm").await.click().await.unwrap();
    ui.submit("#do-purge", ".notice").await;
    assert_eq!(ui.text("#record-state").await, "purged");
    let notice = ui.text(".notice").await;
    assert!(notice.contains("destroyed"), "{notice}");
    let facts = ui.text("table.facts").await;
    assert!(facts.contains("destroyed"), "{facts}");
    assert!(ui.c.find(Locator::Css("#do-purge")).await.is_err());
    assert!(ui.c.find(Locator::Css("#reveal-link")).await.is_err());
    let history = ui.text("#history").await;
    assert!(history.contains("state.purged"), "{history}");

    // 9. The administrator's view: dashboard, audit (the purge by root, found with the action
    // filter), toolset.
    ui.goto("/").await;
    ui.shot("dashboard").await;
    ui.goto("/audit").await;
    ui.shot("audit").await;
    ui.el("#action")
        .await
        .select_by_value("state.purged")
        .await
        .unwrap();
    ui.submit("#audit-filter", "#audit").await;
    let rows = audit_rows(ui).await;
    assert_eq!(
        rows,
        vec![vec![
            "root".to_owned(),
            "state.purged".to_owned(),
            "jane@example.com".to_owned()
        ]],
        "the audit page lists exactly one purge"
    );
    ui.el("#action")
        .await
        .select_by_value("state.delivered")
        .await
        .unwrap();
    ui.submit("#audit-filter", "#audit").await;
    let rows = audit_rows(ui).await;
    assert_eq!(
        rows,
        vec![vec![
            "alice".to_owned(),
            "state.delivered".to_owned(),
            "jane@example.com".to_owned()
        ]]
    );
    ui.goto("/toolset").await;
    ui.shot("toolset").await;
    ui.goto("/").await;

    // 10. After saving, the seed appears in no page source, in any grouping or case.
    let pages = ui.after_save.take().unwrap();
    assert!(pages.len() >= 12, "pages checked: {}", pages.len());
    for (url, src) in &pages {
        assert!(
            !squeeze(src).contains(SEED),
            "the seed is in the source of {url}"
        );
    }
}

/// Waits up to `secs` for an element.
async fn element(c: &Client, css: &str, secs: u64) -> Element {
    match c
        .wait()
        .at_most(Duration::from_secs(secs))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(e) => e,
        Err(e) => {
            let src = c.source().await.unwrap_or_default();
            panic!("no {css}: {e}\n{src}")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_sign_in_through_the_identity_provider_in_chromium() {
    let _heavy = crate::app::HEAVY.lock().await;
    let crate::oidc::Setup { app, .. } = crate::oidc::setup().await;
    let driver = start_driver().await;
    let c = open_browser(&driver).await;
    c.goto(&app.at("/login")).await.unwrap();
    // tokendesk's sign-in page → the provider's own sign-in form → back to tokendesk.
    element(&c, "#oidc-signin", 10).await.click().await.unwrap();
    let login = element(&c, "#login", 10).await;
    assert!(
        !c.current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&app.at("/")),
        "the browser is at the provider"
    );
    login.send_keys("alice").await.unwrap();
    element(&c, "#sign-in", 10).await.click().await.unwrap();
    // First sign-in: tokendesk's own second factor is enrolled (the default).
    let key = element(&c, "#enrol-key", 15).await.text().await.unwrap();
    let code = totp_now(&key, app.now());
    element(&c, "#code", 5)
        .await
        .send_keys(&code)
        .await
        .unwrap();
    element(&c, "#enrol", 5).await.click().await.unwrap();
    element(&c, "#by-state", 10).await;
    let page = c.source().await.unwrap();
    assert!(
        page.contains("Alice Example"),
        "signed in as the provider's person"
    );
    let _ = c.close().await;
    drop(driver);
}
