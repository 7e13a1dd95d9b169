//! Server-rendered HTML pages (askama templates under `templates/`). They work without
//! JavaScript; `assets/app.js` only keeps countdowns current.

pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod dashboard;
pub(crate) mod records;
pub(crate) mod reveal;
pub(crate) mod staff;
pub(crate) mod wizard;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use tokendesk_vault::{Permission, SessionStage};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{PageError, Problem};

/// The navigation bar of a signed-in page.
pub(crate) struct Nav {
    pub name: String,
    pub role: &'static str,
    pub links: Vec<(&'static str, &'static str)>,
}

impl Nav {
    pub fn for_auth(auth: &Auth) -> Self {
        let mut links = vec![("/", "Dashboard")];
        let optional = [
            (Permission::ViewRecords, "/records", "Records"),
            (Permission::Capture, "/wizard", "New token"),
            (Permission::ApproveReveal, "/approvals", "Approvals"),
            (Permission::Toolset, "/toolset", "Toolset"),
            (Permission::ViewAudit, "/audit", "Audit"),
            (Permission::ManageStaff, "/staff", "Staff"),
        ];
        for (p, href, label) in optional {
            if auth.can(p) {
                links.push((href, label));
            }
        }
        Self {
            name: auth.name.clone(),
            role: auth.role.as_str(),
            links,
        }
    }
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
    status: u16,
    reason: &'a str,
    message: &'a str,
}

/// The body of an error page.
pub(crate) fn error_page(status: StatusCode, message: &str) -> String {
    ErrorPage {
        nav: None,
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Error"),
        message,
    }
    .render()
    .unwrap_or_else(|_| message.to_owned())
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    nav: Option<Nav>,
    error: Option<&'a str>,
    notice: Option<&'a str>,
}

/// The sign-in form, optionally with an error or a notice.
pub(crate) fn login_page(error: Option<&str>, notice: Option<&str>) -> String {
    LoginPage {
        nav: None,
        error,
        notice,
    }
    .render()
    .unwrap_or_default()
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

/// `GET /healthz`: the process is up.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers (a load balancer stops sending traffic otherwise).
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    match state.vault().staff().count().await {
        Ok(_) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// Formats a Unix time as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn fmt_time(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Formats an optional Unix time, or an empty string.
pub(crate) fn fmt_opt_time(unix: Option<i64>) -> String {
    unix.map(fmt_time).unwrap_or_default()
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses `YYYY-MM-DD` (an HTML date input) as midnight UTC.
pub(crate) fn parse_date(text: &str) -> Result<i64, PageError> {
    let bad = || {
        PageError(Problem::invalid(format!(
            "{text:?} is not a date like 2026-12-24"
        )))
    };
    let mut parts = text.trim().splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let (y, m, d): (i64, i64, i64) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    // Inverse of civil_from_days.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok((era * 146_097 + doe - 719_468) * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for (text, unix) in [
            ("1970-01-01", 0),
            ("2009-02-13", 1_234_483_200),
            ("2026-11-28", 1_795_824_000),
            ("2000-02-29", 951_782_400),
        ] {
            assert_eq!(parse_date(text).ok(), Some(unix), "{text}");
            assert!(fmt_time(unix).starts_with(text), "{text}");
        }
        assert!(parse_date("2026-13-01").is_err());
        assert!(parse_date("tomorrow").is_err());
    }
}
