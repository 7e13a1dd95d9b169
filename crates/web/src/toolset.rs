//! The Toolset page: the self-hosted replacement of the vendor's TOTPToolset. A seed or otpauth
//! URI in; codes for the last and next steps with a live countdown; a new random seed;
//! hex↔base32; the seed as a QR code for a phone burner; an Entra ID CSV line. It stores
//! nothing and logs nothing; the seed travels only in POST bodies and `no-store` pages.

use askama::Template;
use axum::Form;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use tokendesk_otp::{
    InputError, OtpAuth, OtpKind, ParseOptions, Secret, SeedInput, Totp, TotpParams,
};
use zeroize::Zeroize;

use crate::AppState;
use crate::auth::Auth;
use crate::i18n::{Msg, Tr};
use crate::pages::Nav;

/// Most steps shown either side of now.
const MAX_STEPS: u32 = 10;

#[derive(Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Action {
    Codes,
    New,
    ToBase32,
    ToHex,
    Qr,
    Entra,
}

/// The form as posted. No `Debug`; the seed text is wiped when the request is done.
#[derive(Deserialize)]
pub(crate) struct ToolsetForm {
    action: Action,
    #[serde(default)]
    seed: String,
    #[serde(default)]
    past: Option<u32>,
    #[serde(default)]
    future: Option<u32>,
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    upn: String,
    #[serde(default)]
    serial: String,
    #[serde(default)]
    manufacturer: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    interval: Option<u64>,
}

impl Drop for ToolsetForm {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

struct CodeRow {
    offset: String,
    code: String,
    valid_from: u64,
    valid_until: u64,
    window: String,
    left: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "toolset.html")]
struct ToolsetPage {
    nav: Option<Nav>,
    t: Tr,
    server_now: u64,
    seed: String,
    past: u32,
    future: u32,
    issuer: String,
    account: String,
    upn: String,
    serial: String,
    manufacturer: String,
    model: String,
    interval: u64,
    error: Option<String>,
    params_label: String,
    codes: Vec<CodeRow>,
    output_label: String,
    output: String,
    qr_svg: String,
    entra_line: String,
    /// Seconds the browser capture looks for a QR code before it stops.
    capture_timeout: u64,
    /// Whether the capture controls are offered (they need the Capture permission).
    can_capture: bool,
}

impl Drop for ToolsetPage {
    fn drop(&mut self) {
        self.seed.zeroize();
        self.output.zeroize();
        self.qr_svg.zeroize();
        self.entra_line.zeroize();
        for row in &mut self.codes {
            row.code.zeroize();
        }
    }
}

impl ToolsetPage {
    fn empty(state: &AppState, auth: &Auth) -> Self {
        let now = state.now();
        Self {
            nav: Some(Nav::for_auth(auth)),
            t: Tr(auth.lang),
            server_now: now,
            seed: String::new(),
            past: 1,
            future: 2,
            issuer: String::new(),
            account: String::new(),
            upn: String::new(),
            serial: String::new(),
            manufacturer: "Token2".into(),
            model: String::new(),
            interval: 30,
            error: None,
            params_label: String::new(),
            codes: Vec::new(),
            output_label: String::new(),
            output: String::new(),
            qr_svg: String::new(),
            entra_line: String::new(),
            capture_timeout: state.capture_timeout_secs(),
            can_capture: auth.can(tokendesk_vault::Permission::Capture),
        }
    }

    fn render_with(&self, status: StatusCode) -> Response {
        match self.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response(),
        }
    }
}

pub(crate) async fn form(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
) -> Response {
    ToolsetPage::empty(&state, &auth).render_with(StatusCode::OK)
}

pub(crate) async fn submit(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Form(form): Form<ToolsetForm>,
) -> Response {
    let mut page = ToolsetPage::empty(&state, &auth);
    page.seed = form.seed.trim().to_owned();
    page.past = form.past.unwrap_or(1).min(MAX_STEPS);
    page.future = form.future.unwrap_or(2).min(MAX_STEPS);
    page.issuer = form.issuer.trim().to_owned();
    page.account = form.account.trim().to_owned();
    page.upn = form.upn.trim().to_owned();
    page.serial = form.serial.trim().to_owned();
    page.manufacturer = form.manufacturer.trim().to_owned();
    page.model = form.model.trim().to_owned();
    page.interval = form.interval.unwrap_or(30);
    match apply(&mut page, form.action) {
        Ok(()) => page.render_with(StatusCode::OK),
        Err(message) => {
            page.error = Some(message);
            page.render_with(StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

/// Why a form's seed field holds no single TOTP seed. The `Display` is the English the JSON
/// API answers; [`SeedProblem::msg`] words it for a page. Never carries the text itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SeedProblem {
    /// The parser's reason.
    Input(InputError),
    /// A counter-based (HOTP) link.
    Hotp,
    /// A Google Authenticator export of several accounts.
    Migration { accounts: usize },
}

impl std::fmt::Display for SeedProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeedProblem::Input(e) => e.fmt(f),
            SeedProblem::Hotp => f.write_str(
                "this is an HOTP (counter-based) link; hardware TOTP tokens need a time-based \
                 (totp) seed",
            ),
            SeedProblem::Migration { accounts } => write!(
                f,
                "this Google Authenticator export holds {accounts} account(s); paste one otpauth \
                 link or secret"
            ),
        }
    }
}

impl SeedProblem {
    /// The reason as a catalogue message.
    pub(crate) fn msg(&self) -> Msg {
        crate::detail::seed(self)
    }
}

/// One secret with its parameters, from the form's seed field.
pub(crate) fn parse_seed(
    text: &str,
    hex: bool,
) -> Result<(Secret, TotpParams, Option<OtpAuth>), SeedProblem> {
    let options = ParseOptions {
        allow_short: false,
        hex,
    };
    match SeedInput::parse_with(text, options).map_err(SeedProblem::Input)? {
        SeedInput::Secret(s) => Ok((s, TotpParams::default(), None)),
        SeedInput::OtpAuth(u) if u.kind == OtpKind::Totp => {
            Ok((u.secret.duplicate(), u.totp_params(), Some(u)))
        }
        SeedInput::OtpAuth(_) => Err(SeedProblem::Hotp),
        SeedInput::Migration(m) => Err(SeedProblem::Migration {
            accounts: m.accounts.len(),
        }),
    }
}

fn apply(page: &mut ToolsetPage, action: Action) -> Result<(), String> {
    let t = page.t;
    match action {
        Action::New => {
            let secret = Secret::generate(20).map_err(|_| t.t("toolset-no-randomness"))?;
            page.seed = secret.to_base32().to_string();
            page.output_label = t.t("toolset-new-seed");
            page.output = page.seed.clone();
            fill_codes(page, &secret, TotpParams::default())
        }
        Action::Codes => {
            let (secret, params, _) = parse_seed(&page.seed, false).map_err(|e| e.msg().say(t))?;
            fill_codes(page, &secret, params)
        }
        Action::ToBase32 => {
            let text = page
                .seed
                .strip_prefix("hex:")
                .unwrap_or(&page.seed)
                .to_owned();
            let (secret, _, _) = parse_seed(&text, true).map_err(|e| e.msg().say(t))?;
            page.output_label = "Base32".into();
            page.output = secret.to_base32().to_string();
            Ok(())
        }
        Action::ToHex => {
            let (secret, _, _) = parse_seed(&page.seed, false).map_err(|e| e.msg().say(t))?;
            page.output_label = "Hex".into();
            page.output = secret.to_hex().to_string();
            Ok(())
        }
        Action::Qr => qr(page),
        Action::Entra => entra(page),
    }
}

fn fill_codes(page: &mut ToolsetPage, secret: &Secret, params: TotpParams) -> Result<(), String> {
    let totp = Totp::new(secret, params);
    let t = page.t;
    page.params_label = steps_label(t, &params);
    let now = page.server_now;
    for offset in -i64::from(page.past)..=i64::from(page.future) {
        let Ok(c) = totp.at_offset(now, offset) else {
            continue;
        };
        let left = if offset >= 0 {
            crate::pages::wizard::seconds_left(t, now, c.valid_from, c.valid_until)
        } else {
            t.t("code-expired")
        };
        page.codes.push(CodeRow {
            offset: match offset {
                0 => t.t("ahead-now"),
                o if o > 0 => format!("+{o}"),
                o => o.to_string(),
            },
            code: c.code.expose().to_owned(),
            valid_from: c.valid_from,
            valid_until: c.valid_until,
            window: format!(
                "{} – {} UTC",
                clock_time(c.valid_from),
                clock_time(c.valid_until)
            ),
            left,
            current: offset == 0,
        });
    }
    Ok(())
}

/// "SHA1, 6 digits, 30 s steps" in `t`'s language.
fn steps_label(t: Tr, params: &TotpParams) -> String {
    crate::pages::wizard::params_text(t, "params-steps", params)
}

/// `HH:MM:SS` of a Unix time, in UTC.
fn clock_time(unix_secs: u64) -> String {
    let s = unix_secs % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn qr(page: &mut ToolsetPage) -> Result<(), String> {
    let t = page.t;
    let (secret, params, uri) = parse_seed(&page.seed, false).map_err(|e| e.msg().say(t))?;
    let mut uri = uri.unwrap_or_else(|| OtpAuth::new_totp(secret, None, String::new()));
    if !page.issuer.is_empty() {
        uri.issuer = Some(page.issuer.clone());
    }
    if !page.account.is_empty() {
        uri.account = page.account.clone();
    }
    let text = uri.to_uri();
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|_| t.t("toolset-too-long"))?;
    page.qr_svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(260, 260)
        .quiet_zone(true)
        .build();
    page.output_label = t.t("toolset-link-in-qr");
    page.output = text.to_string();
    page.params_label = steps_label(t, &params);
    Ok(())
}

/// Refuses a field a spreadsheet would run as a formula: typed into the Toolset, it is a mistake
/// (or an attack on whoever opens the file), so it is refused rather than neutralised.
fn check_field(t: Tr, name: &str, value: &str) -> Result<(), String> {
    if value.starts_with(['=', '+', '-', '@']) {
        return Err(t.t1("toolset-formula", "field", t.t(name)));
    }
    Ok(())
}

/// Entra ID's hardware OATH token CSV (formats.md): `upn,serial number,secret key,time
/// interval,manufacturer,model`, base32 secret of at most 128 characters, 30 or 60 s.
fn entra(page: &mut ToolsetPage) -> Result<(), String> {
    let t = page.t;
    let (secret, params, _) = parse_seed(&page.seed, false).map_err(|e| e.msg().say(t))?;
    let b32 = secret.to_base32();
    if b32.len() > 128 {
        let n = i64::try_from(b32.len()).unwrap_or(i64::MAX);
        return Err(t.tn("toolset-secret-too-long", "chars", n));
    }
    if !matches!(page.interval, 30 | 60) {
        return Err(t.t("toolset-interval"));
    }
    if params.period.secs() != page.interval {
        return Err(Msg::new("toolset-period-differs")
            .arg("period", i64::try_from(params.period.secs()).unwrap_or(0))
            .arg("interval", i64::try_from(page.interval).unwrap_or(0))
            .say(t));
    }
    for (name, value) in [
        ("field-upn", &page.upn),
        ("field-serial", &page.serial),
        ("field-manufacturer", &page.manufacturer),
        ("field-model", &page.model),
    ] {
        if value.is_empty() {
            return Err(t.t1("toolset-required", "field", t.t(name)));
        }
    }
    let upn = tokendesk_vault::validate_upn(&page.upn).map_err(|e| e.to_string())?;
    for (name, value) in [
        ("field-serial", &page.serial),
        ("field-manufacturer", &page.manufacturer),
        ("field-model", &page.model),
    ] {
        check_field(t, name, value)?;
    }
    let mut text = zeroize::Zeroizing::new(tokendesk_formats::csv::entra_header());
    text.push_str(&tokendesk_formats::csv::entra_line(
        &upn,
        Some(&page.serial),
        &secret,
        u32::try_from(page.interval).map_err(|_| t.t("toolset-interval"))?,
        Some(&page.manufacturer),
        Some(&page.model),
    ));
    page.entra_line = text.trim_end().to_owned();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_fields_are_refused() {
        let t = Tr::default();
        assert!(check_field(t, "field-model", "plain").is_ok());
        assert!(check_field(t, "field-model", "a,b").is_ok());
        assert!(check_field(t, "field-model", "=cmd()").is_err());
        assert!(check_field(t, "field-model", "@SUM(A1)").is_err());
    }

    #[test]
    fn clock_times() {
        assert_eq!(clock_time(0), "00:00:00");
        assert_eq!(clock_time(1_234_567_890), "23:31:30");
    }
}
