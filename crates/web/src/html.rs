//! HTML building blocks below every page and the sign-in guard: rendering a template, the
//! error and sign-in pages, redirects. Imports nothing of the crate, so the auth layer and the
//! error type can use it without reaching into the pages.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use tokendesk_vault::SessionStage;

/// The navigation bar of a signed-in page.
pub(crate) struct Nav {
    pub name: String,
    /// The full name, shown before the login name.
    pub display_name: String,
    pub role: String,
    /// The time zone the page's times are in (IANA name).
    pub zone: String,
    pub links: Vec<(&'static str, String)>,
    /// The page's language (English on pages not converted yet, so no page mixes two).
    pub t: crate::i18n::Tr,
}

/// Renders a template, or a plain 500 page if rendering fails (it cannot for our templates,
/// but no panic either way).
pub(crate) fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => Html(body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: Option<Nav>,
    t: crate::i18n::Tr,
    status: u16,
    reason: &'a str,
    message: &'a str,
}

/// The body of an error page in `t`'s language.
pub(crate) fn error_page(t: crate::i18n::Tr, status: StatusCode, message: &str) -> String {
    let key = format!("status-{}", status.as_u16());
    let reason = if t.has(&key) {
        t.t(&key)
    } else {
        t.t("status-other")
    };
    ErrorPage {
        nav: None,
        t,
        status: status.as_u16(),
        reason: &reason,
        message,
    }
    .render()
    .unwrap_or_else(|_| message.to_owned())
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    nav: Option<Nav>,
    t: crate::i18n::Tr,
    error: Option<&'a str>,
    notice: Option<&'a str>,
    provider: Option<&'a str>,
}

/// The sign-in form, optionally with an error or a notice, and the button of the
/// organisation's identity provider when one is configured (its label).
pub(crate) fn login_page(
    error: Option<&str>,
    notice: Option<&str>,
    provider: Option<&str>,
) -> String {
    LoginPage {
        nav: None,
        t: crate::i18n::Tr::current(),
        error,
        notice,
        provider,
    }
    .render()
    .unwrap_or_default()
}

/// A page that moves the browser on to `path` by itself. Used where a redirect would be the
/// end of a chain that began on another site (the identity provider): the browser withholds
/// `SameSite=Strict` cookies from such a request, so the session would seem missing; a
/// navigation from this page is same-site. `path` is one of our fixed paths.
pub(crate) fn continue_page(path: &'static str) -> Response {
    let t = crate::i18n::Tr::current();
    let text = |key: &str| {
        t.t(key)
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let (lang, title, signed_in, go) = (
        t.tag(),
        text("continue-title"),
        text("continue-signed-in"),
        text("continue-link"),
    );
    let body = format!(
        "<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0; url={path}\"><title>{title}</title>\
         <link rel=\"stylesheet\" href=\"/assets/app.css\"></head><body><main>\
         <p>{signed_in} <a id=\"continue\" href=\"{path}\">{go}</a></p></main></body></html>"
    );
    Html(body).into_response()
}

/// 303 See Other to `path` (after a POST).
pub(crate) fn redirect(path: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(path) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// Where a session at `stage` continues.
pub(crate) fn stage_path(stage: SessionStage) -> &'static str {
    match stage {
        SessionStage::PasswordChange => "/account/password",
        SessionStage::TotpEnrol => "/account/totp",
        SessionStage::Totp => "/login/totp",
        SessionStage::Full => "/",
    }
}
