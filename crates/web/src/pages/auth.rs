//! First-admin setup, sign-in with password and TOTP, password change, TOTP enrolment and
//! sign-out. Passwords and codes are wiped from memory when the request is done.

use askama::Template;
use axum::Form;
use axum::extract::{Extension, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use tokendesk_otp::Secret;
use zeroize::{Zeroize, Zeroizing};

use super::{Nav, redirect, render};
use crate::AppState;
use crate::auth::{PartialAuth, clear_cookie, passphrase, session_cookie, session_token};
use crate::client::Client;
use crate::error::Problem;
use crate::html::stage_path;
use crate::i18n::Tr;

#[derive(Deserialize)]
pub(crate) struct SetupQuery {
    #[serde(default)]
    token: String,
}

impl Drop for SetupQuery {
    fn drop(&mut self) {
        self.token.zeroize();
    }
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    nav: Option<Nav>,
    t: Tr,
    token: &'a str,
    username: &'a str,
    display_name: &'a str,
    error: Option<String>,
}

pub(crate) async fn setup_form(Query(q): Query<SetupQuery>) -> Response {
    render(&SetupPage {
        nav: None,
        t: Tr::current(),
        token: &q.token,
        username: "",
        display_name: "",
        error: None,
    })
}

#[derive(Deserialize)]
pub(crate) struct SetupForm {
    token: String,
    username: String,
    #[serde(default)]
    display_name: String,
    password: String,
    password2: String,
}

impl Drop for SetupForm {
    fn drop(&mut self) {
        self.token.zeroize();
        self.password.zeroize();
        self.password2.zeroize();
    }
}

pub(crate) async fn setup_submit(
    State(state): State<AppState>,
    Form(form): Form<SetupForm>,
) -> Response {
    let again = |error: String| {
        let mut resp = render(&SetupPage {
            nav: None,
            t: Tr::current(),
            token: &form.token,
            username: &form.username,
            display_name: &form.display_name,
            error: Some(error),
        });
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        resp
    };
    if form.password != form.password2 {
        return again(Tr::current().t("passwords-differ"));
    }
    let display = if form.display_name.trim().is_empty() {
        form.username.trim()
    } else {
        form.display_name.trim()
    };
    match state
        .vault()
        .staff()
        .complete_setup(
            &form.token,
            form.username.trim(),
            display,
            &passphrase(&form.password),
        )
        .await
    {
        Ok(_) => {
            tracing::info!("first administrator created");
            // Post/redirect/get: a refresh of the next page does not send the form again.
            redirect("/login?created=1")
        }
        Err(e) => again(Problem::from(e).on_page()),
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    /// Set by the redirect after the first administrator was created.
    #[serde(default)]
    created: Option<String>,
}

pub(crate) async fn login_form(
    State(state): State<AppState>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let notice = q
        .created
        .is_some()
        .then(|| Tr::current().t("login-created"));
    Html(crate::html::login_page(
        None,
        notice.as_deref(),
        state.provider_label(),
    ))
    .into_response()
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    username: String,
    password: String,
}

impl Drop for LoginForm {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

pub(crate) async fn login_submit(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    Form(form): Form<LoginForm>,
) -> Response {
    let ip = client.ip.to_string();
    match state
        .vault()
        .staff()
        .login(form.username.trim(), &passphrase(&form.password), Some(&ip))
        .await
    {
        Ok((token, session)) => {
            let mut resp = redirect(stage_path(session.stage));
            if let Some(cookie) = session_cookie(Some(&client), token.expose()) {
                resp.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            resp
        }
        Err(e) => {
            let p = Problem::from(e);
            let mut resp = (
                p.status,
                Html(crate::html::login_page(
                    Some(&p.on_page()),
                    None,
                    state.provider_label(),
                )),
            )
                .into_response();
            if let Some(secs) = p.retry_after
                && let Ok(v) = axum::http::HeaderValue::from_str(&secs.max(1).to_string())
            {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
    }
}

#[derive(Template)]
#[template(path = "totp.html")]
struct TotpPage {
    nav: Option<Nav>,
    t: Tr,
    error: Option<String>,
}

pub(crate) async fn totp_form(Extension(PartialAuth(session)): Extension<PartialAuth>) -> Response {
    if session.stage != tokendesk_vault::SessionStage::Totp {
        return redirect(stage_path(session.stage));
    }
    render(&TotpPage {
        nav: None,
        t: Tr::current(),
        error: None,
    })
}

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    code: String,
}

impl Drop for CodeForm {
    fn drop(&mut self) {
        self.code.zeroize();
    }
}

fn token_of(req_headers: &axum::http::HeaderMap, client: &Client) -> Zeroizing<String> {
    session_token(req_headers, Some(client)).unwrap_or_default()
}

pub(crate) async fn totp_submit(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: axum::http::HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let token = token_of(&headers, &client);
    match state
        .vault()
        .staff()
        .verify_totp(&token, form.code.trim())
        .await
    {
        Ok((fresh, session)) => full_session(&client, &fresh, session.stage),
        Err(e) => {
            let p = Problem::from(e);
            let mut resp = render(&TotpPage {
                nav: None,
                t: Tr::current(),
                error: Some(p.on_page()),
            });
            *resp.status_mut() = p.status;
            resp
        }
    }
}

/// After the TOTP step: the vault replaced the session token (session fixation defence), so the
/// browser gets the new one; the old cookie value no longer signs anyone in.
fn full_session(
    client: &Client,
    fresh: &tokendesk_vault::SecretString,
    stage: tokendesk_vault::SessionStage,
) -> Response {
    let mut resp = redirect(stage_path(stage));
    if let Some(cookie) = session_cookie(Some(client), fresh.expose()) {
        resp.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    resp
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    nav: Option<Nav>,
    t: Tr,
    error: Option<String>,
}

pub(crate) async fn password_form() -> Response {
    render(&PasswordPage {
        nav: None,
        t: Tr::current(),
        error: None,
    })
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    old: String,
    new: String,
    new2: String,
}

impl Drop for PasswordForm {
    fn drop(&mut self) {
        self.old.zeroize();
        self.new.zeroize();
        self.new2.zeroize();
    }
}

pub(crate) async fn password_submit(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: axum::http::HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    let fail = |status: StatusCode, message: String| {
        let mut resp = render(&PasswordPage {
            nav: None,
            t: Tr::current(),
            error: Some(message),
        });
        *resp.status_mut() = status;
        resp
    };
    if form.new != form.new2 {
        return fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            Tr::current().t("new-passwords-differ"),
        );
    }
    let token = token_of(&headers, &client);
    match state
        .vault()
        .staff()
        .change_password(&token, &passphrase(&form.old), &passphrase(&form.new))
        .await
    {
        Ok(session) => redirect(stage_path(session.stage)),
        Err(e) => {
            let p = Problem::from(e);
            fail(p.status, p.on_page())
        }
    }
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage {
    nav: Option<Nav>,
    t: Tr,
    /// Whether the key is new or the one shown before in this session.
    notice: String,
    error: Option<String>,
    qr_svg: String,
    key: String,
}

impl Drop for EnrolPage {
    fn drop(&mut self) {
        self.qr_svg.zeroize();
        self.key.zeroize();
    }
}

async fn enrol_page(
    state: &AppState,
    token: &str,
    username: &str,
    error: Option<String>,
) -> Response {
    let (secret, fresh): (Secret, bool) =
        match state.vault().staff().begin_totp_enrolment(token).await {
            Ok(s) => s,
            Err(e) => return crate::error::PageError(e.into()).into_response(),
        };
    let uri = Zeroizing::new(format!(
        "otpauth://totp/tokendesk:{}?secret={}&issuer=tokendesk",
        percent_label(username),
        secret.to_base32().as_str()
    ));
    let qr_svg = match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build(),
        Err(_) => String::new(),
    };
    let notice = Tr::current().t(if fresh {
        "enrol-new-key"
    } else {
        "enrol-same-key"
    });
    render(&EnrolPage {
        nav: None,
        t: Tr::current(),
        notice,
        error,
        qr_svg,
        key: secret.to_base32_grouped().to_string(),
    })
}

fn percent_label(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._@".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(crate) async fn enrol_form(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    Extension(PartialAuth(session)): Extension<PartialAuth>,
    headers: axum::http::HeaderMap,
) -> Response {
    if session.stage != tokendesk_vault::SessionStage::TotpEnrol {
        return redirect(stage_path(session.stage));
    }
    let token = token_of(&headers, &client);
    enrol_page(&state, &token, &session.staff.username, None).await
}

pub(crate) async fn enrol_submit(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    Extension(PartialAuth(session)): Extension<PartialAuth>,
    headers: axum::http::HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let token = token_of(&headers, &client);
    match state
        .vault()
        .staff()
        .finish_totp_enrolment(&token, form.code.trim())
        .await
    {
        Ok((fresh, session)) => full_session(&client, &fresh, session.stage),
        Err(e) => {
            let p = Problem::from(e);
            let mut resp =
                enrol_page(&state, &token, &session.staff.username, Some(p.on_page())).await;
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            resp
        }
    }
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: axum::http::HeaderMap,
) -> Response {
    let token = token_of(&headers, &client);
    if let Err(e) = state.vault().staff().logout(&token).await {
        tracing::warn!(error = %e, "logout failed");
    }
    let mut resp = (
        StatusCode::OK,
        Html(crate::html::login_page(
            None,
            Some(&Tr::current().t("signed-out")),
            state.provider_label(),
        )),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, clear_cookie(Some(&client)));
    resp
}
