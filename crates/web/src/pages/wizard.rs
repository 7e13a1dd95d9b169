//! The provisioning wizard: the vendor guide's steps as a checklist, the seed from pasted text,
//! an otpauth link or a screenshot (decoded server-side), the code to type into Microsoft's
//! page with a countdown, the token and the user's passphrase, then save. The seed is on this
//! page only until it is saved.

use askama::Template;
use axum::extract::{Extension, Multipart, State};
use axum::response::Response;
use tokendesk_otp::{Secret, Totp, TotpParams};
use tokendesk_vault::{Algorithm, NewRecord, Permission, TokenParams};
use zeroize::{Zeroize, Zeroizing};

use super::{Nav, redirect, render};
use crate::AppState;
use crate::auth::Auth;
use crate::error::Problem;
use crate::i18n::{LANGS, Lang, Msg, Tr};
use crate::toolset::SeedProblem;

/// The guide's steps up to the capture (the rest are on the record page).
/// Each step's form field and its message key.
const STEPS_BEFORE: [(&str, &str); 4] = [
    ("step_share", "wizard-check-share"),
    ("step_signed_in", "wizard-check-signed-in"),
    ("step_other_app", "wizard-check-other-app"),
    ("step_qr", "wizard-check-qr"),
];

pub(crate) struct WizardCode {
    label: &'static str,
    code: String,
    valid_from: u64,
    valid_until: u64,
    left: String,
}

#[derive(Template)]
#[template(path = "wizard.html")]
struct WizardPage {
    nav: Option<Nav>,
    t: Tr,
    languages: Vec<(&'static str, &'static str)>,
    /// The user's language as chosen (a tag, or empty).
    language: String,
    server_now: u64,
    error: Option<String>,
    notice: Option<String>,
    steps_before: Vec<(&'static str, &'static str, bool)>,
    upn: String,
    display_name: String,
    phone: String,
    email: String,
    time_zone: String,
    secret: String,
    manufacturer: String,
    model: String,
    serial: String,
    params_label: String,
    codes: Vec<WizardCode>,
    /// Seconds the browser capture looks for a QR code before it stops.
    capture_timeout: u64,
}

impl Drop for WizardPage {
    fn drop(&mut self) {
        self.secret.zeroize();
        for c in &mut self.codes {
            c.code.zeroize();
        }
    }
}

impl WizardPage {
    fn new(state: &AppState, auth: &Auth) -> Self {
        Self {
            nav: Some(Nav::for_auth(auth)),
            t: Tr(auth.lang),
            languages: LANGS.iter().map(|l| (l.tag(), l.name())).collect(),
            language: String::new(),
            server_now: state.now(),
            error: None,
            notice: None,
            steps_before: STEPS_BEFORE.iter().map(|(n, l)| (*n, *l, false)).collect(),
            upn: String::new(),
            display_name: String::new(),
            phone: String::new(),
            email: String::new(),
            time_zone: String::new(),
            secret: String::new(),
            manufacturer: "Token2".into(),
            model: String::new(),
            serial: String::new(),
            params_label: String::new(),
            codes: Vec::new(),
            capture_timeout: state.capture_timeout_secs(),
        }
    }
}

pub(crate) async fn form(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
) -> Response {
    render(&WizardPage::new(&state, &auth))
}

/// The posted form; text fields are small, the screenshot up to the upload limit.
#[derive(Default)]
struct Posted {
    action: String,
    fields: Vec<(String, String)>,
    secret: Zeroizing<String>,
    passphrase: Zeroizing<String>,
    screenshot: Option<Vec<u8>>,
}

impl Posted {
    fn get(&self, name: &str) -> String {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    }
}

async fn read_form(mut multipart: Multipart) -> Result<Posted, Problem> {
    let mut posted = Posted::default();
    while let Some((name, bytes)) = super::next_field(&mut multipart, "the form").await? {
        match name.as_str() {
            "screenshot" => {
                if !bytes.is_empty() {
                    posted.screenshot = Some(bytes.to_vec());
                }
            }
            "secret" => *posted.secret = String::from_utf8_lossy(&bytes).into_owned(),
            "passphrase" => *posted.passphrase = String::from_utf8_lossy(&bytes).into_owned(),
            "action" => posted.action = String::from_utf8_lossy(&bytes).into_owned(),
            _ if bytes.len() <= 1024 => posted
                .fields
                .push((name, String::from_utf8_lossy(&bytes).into_owned())),
            _ => return Err(Problem::bad_request(format!("field {name} is too long"))),
        }
    }
    Ok(posted)
}

/// The seed text from the screenshot (first otpauth seed found; decoded off the async runtime
/// within the configured budgets) or the text field.
async fn seed_text(state: &AppState, posted: &mut Posted) -> Result<Zeroizing<String>, Problem> {
    let Some(image) = posted.screenshot.take() else {
        return Ok(posted.secret.clone());
    };
    let codes = state.decoder().decode(image).await?;
    let mut reasons = Vec::new();
    for code in &codes {
        match crate::toolset::parse_seed(code.expose_payload(), false) {
            Ok(_) => return Ok(Zeroizing::new(code.expose_payload().to_owned())),
            Err(reason) => reasons.push(reason),
        }
    }
    Err(if codes.is_empty() {
        Problem::invalid(
            "no QR code found in the screenshot; capture the whole QR code, sharp and not cropped, or type the secret shown under \"Can't scan image?\"",
        )
        .say(Msg::new("wizard-no-qr"))
    } else {
        let english: Vec<String> = reasons.iter().map(ToString::to_string).collect();
        let words: Vec<Msg> = reasons.iter().map(SeedProblem::msg).collect();
        Problem::invalid(format!(
            "the screenshot's QR code is not a TOTP seed: {}",
            english.join("; ")
        ))
        .say(Msg::new("wizard-qr-not-seed").arg("reason", words))
    })
}

fn algorithm(params: &TotpParams) -> Algorithm {
    params.algorithm
}

fn codes_for(t: Tr, secret: &Secret, params: TotpParams, now: u64) -> Vec<WizardCode> {
    let totp = Totp::new(secret, params);
    let period = params.period.secs();
    [
        ("code-now", now),
        ("code-next", now - now % period + period),
    ]
    .into_iter()
    .filter_map(|(label, t)| totp.at(t).ok().map(|c| (label, c)))
    .map(|(label, c)| WizardCode {
        label,
        code: c.code.expose().to_owned(),
        valid_from: c.valid_from,
        valid_until: c.valid_until,
        left: seconds_left(t, now, c.valid_from, c.valid_until),
    })
    .collect()
}

pub(crate) async fn submit(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    multipart: Multipart,
) -> Response {
    let mut page = WizardPage::new(&state, &auth);
    let mut posted = match read_form(multipart).await {
        Ok(p) => p,
        Err(problem) => {
            page.error = Some(problem.on_page());
            return with_status(render(&page), problem.status);
        }
    };
    for step in &mut page.steps_before {
        step.2 = !posted.get(step.0).is_empty();
    }
    page.upn = posted.get("upn");
    page.display_name = posted.get("display_name");
    page.phone = posted.get("phone");
    page.email = posted.get("email");
    page.time_zone = posted.get("time_zone");
    page.language = posted.get("language");
    page.manufacturer = posted.get("manufacturer");
    page.model = posted.get("model");
    page.serial = posted.get("serial");
    let from_screenshot = posted.screenshot.is_some();
    let text = match seed_text(&state, &mut posted).await {
        Ok(t) => t,
        Err(problem) => {
            page.error = Some(problem.on_page());
            let mut resp = with_status(render(&page), problem.status);
            problem.headers(&mut resp);
            return resp;
        }
    };
    page.secret = text.trim().to_owned();
    let (secret, params, uri) = match crate::toolset::parse_seed(&text, false) {
        Ok(parsed) => parsed,
        Err(reason) => {
            let msg = Msg::new("seed-unusable").arg("reason", reason.msg());
            page.error = Some(msg.say(page.t));
            return with_status(render(&page), axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    if page.upn.is_empty()
        && let Some(account) = uri.as_ref().map(|u| u.account.clone())
        && account.contains('@')
    {
        page.upn = account;
    }
    page.params_label = params_label(page.t, &params);
    page.codes = codes_for(page.t, &secret, params, state.now());
    if posted.action != "save" {
        if from_screenshot {
            page.notice = Some(page.t.t("wizard-seed-read"));
        }
        return render(&page);
    }
    if page.upn.is_empty() {
        page.error = Some(page.t.t("wizard-upn-missing"));
        return with_status(render(&page), axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    }
    let language = match language_field(&page.language) {
        Ok(l) => l,
        Err(problem) => {
            page.error = Some(problem.on_page());
            return with_status(render(&page), problem.status);
        }
    };
    let new = NewRecord {
        upn: page.upn.clone(),
        display_name: opt(&page.display_name),
        phone: opt(&page.phone),
        email: opt(&page.email),
        time_zone: match crate::mail::zone_field(&page.time_zone) {
            Ok(z) => z,
            Err(problem) => {
                page.error = Some(problem.on_page());
                return with_status(render(&page), problem.status);
            }
        },
        notes: None,
        serial: opt(&page.serial),
        model: opt(&page.model),
        manufacturer: opt(&page.manufacturer),
        params: TokenParams {
            algorithm: algorithm(&params),
            digits: u32::from(params.digits.get()),
            period_secs: u32::try_from(params.period.secs()).unwrap_or(30),
        },
    };
    let capturing = match auth.authorize(Permission::Capture) {
        Ok(proof) => proof,
        Err(problem) => return with_status(render(&page), problem.status),
    };
    let saved = async {
        let mut record = state.vault().capture(&capturing, new, &secret).await?;
        if language.is_some() {
            record = state
                .vault()
                .set_language(
                    &capturing,
                    &tokendesk_vault::RecordId(record.id.clone()),
                    language,
                )
                .await?;
        }
        if !posted.passphrase.trim().is_empty() {
            state
                .vault()
                .set_passphrase(
                    &capturing,
                    &record.upn,
                    &crate::auth::passphrase(posted.passphrase.trim()),
                )
                .await?;
        }
        Ok::<_, tokendesk_vault::VaultError>(record)
    }
    .await;
    match saved {
        Ok(record) => redirect(&format!("/records/{}?done=captured", record.id)),
        Err(e) => {
            let problem = Problem::from(e);
            page.error = Some(problem.on_page());
            with_status(render(&page), problem.status)
        }
    }
}

/// "SHA1, 6 digits, 30 s" in `t`'s language.
fn params_label(t: Tr, params: &TotpParams) -> String {
    params_text(t, "params-value", params)
}

/// `params`' algorithm, digits and period through the catalogue message `key` (the wizard's
/// "SHA1, 6 digits, 30 s", the toolset's "… 30 s steps").
pub(crate) fn params_text(t: Tr, key: &'static str, params: &TotpParams) -> String {
    Msg::new(key)
        .arg("algorithm", params.algorithm.to_string())
        .arg("digits", i64::from(params.digits.get()))
        .arg(
            "period",
            i64::try_from(params.period.secs()).unwrap_or(i64::MAX),
        )
        .say(t)
}

/// "12 s left", or "valid in 5 s" for a code whose window has not begun.
pub(crate) fn seconds_left(t: Tr, now: u64, valid_from: u64, valid_until: u64) -> String {
    let secs = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    if now < valid_from {
        t.tn("code-valid-in", "secs", secs(valid_from - now))
    } else {
        t.tn("code-left", "secs", secs(valid_until.saturating_sub(now)))
    }
}

/// A record's language from a form: blank is none; else a language the pages are written in.
pub(crate) fn language_field(tag: &str) -> Result<Option<&'static str>, Problem> {
    let tag = tag.trim();
    if tag.is_empty() {
        return Ok(None);
    }
    match Lang::parse(tag) {
        Some(l) => Ok(Some(l.tag())),
        None => {
            let known = LANGS.map(Lang::tag).join(", ");
            Err(
                Problem::invalid(format!("no e-mails in {tag:?}: choose one of {known}")).say(
                    Msg::new("language-unknown")
                        .arg("tag", tag)
                        .arg("known", known),
                ),
            )
        }
    }
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn with_status(mut resp: Response, status: axum::http::StatusCode) -> Response {
    *resp.status_mut() = status;
    resp
}
