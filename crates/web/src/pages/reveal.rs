//! The reveal flow: the operator verifies the caller (call-back, passphrase checked by the
//! server, or a second approver), records the ticket and the purpose, and only then sees the
//! code(s). Over the quota, a second approver approves in their own session.

use askama::Template;
use axum::Form;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tokendesk_vault::{AuditFilter, Permission, Purpose};
use zeroize::Zeroize;

use super::{Nav, When, redirect, render};
use crate::AppState;
use crate::auth::Auth;
use crate::error::{PageResult, Problem};
use crate::i18n::{Msg, Tr};
use crate::reveal::{self, Ask, CodeRow};
use crate::timefmt::Zone;

#[derive(Template)]
#[template(path = "reveal.html")]
struct RevealPage {
    nav: Option<Nav>,
    t: Tr,
    /// "2 of 5".
    quota_line: String,
    server_now: u64,
    id: String,
    upn: String,
    phone: String,
    has_passphrase: bool,
    approvals: Vec<(String, String)>,
    ticket: String,
    error: Option<String>,
    heading: String,
    codes: Vec<CodeRow>,
    note: String,
    /// E-mail is set up and the record has an address.
    mail_ready: bool,
    email: String,
    /// Why e-mail is not offered.
    email_hint: String,
    /// What happened to an e-mailed code.
    sent: Option<String>,
    /// The viewer's time zone (IANA name).
    zone: String,
}

async fn page(state: &AppState, auth: &Auth, id: &str) -> Result<RevealPage, Problem> {
    let vault = state.vault();
    let r = vault.record(id).await?;
    if !r.state.is_revealable() {
        return Err(Problem::from(tokendesk_vault::VaultError::Reveal(
            tokendesk_vault::RevealError::NotRevealable {
                upn: r.upn,
                state: r.state,
            },
        )));
    }
    let day_start = state.now_i64() - state.now_i64().rem_euclid(86_400);
    let used_today = i64::try_from(
        vault
            .audit_list(&AuditFilter {
                subject: Some(r.upn.clone()),
                action: Some("reveal".into()),
                since_unix_secs: Some(day_start),
                ..AuditFilter::default()
            })
            .await?
            .len(),
    )
    .unwrap_or(i64::MAX);
    let t = Tr(auth.lang);
    let approvals = vault
        .usable_approvals(&r.upn, &auth.actor)
        .await?
        .into_iter()
        .map(|a| {
            let label = Msg::new("approval-label")
                .arg("requester", a.requested_by)
                .arg("approver", a.approved_by.clone().unwrap_or_default())
                .arg("ticket", a.ticket)
                .say(t);
            (a.id.to_string(), label)
        })
        .collect();
    let mail_ready = state.config().mail.is_some() && r.email.is_some();
    let email_hint = t.t(if state.config().mail.is_none() {
        "email-not-set-up"
    } else {
        "email-no-address"
    });
    let quota = vault.settings().daily_reveal_quota;
    Ok(RevealPage {
        t,
        quota_line: Msg::new("quota-line")
            .arg("used", used_today)
            .arg("quota", quota)
            .say(t),
        mail_ready,
        email: r.email.clone().unwrap_or_default(),
        email_hint,
        sent: None,
        zone: auth.zone.name().to_owned(),
        nav: Some(Nav::for_auth(auth)),
        server_now: state.now(),
        id: r.id.clone(),
        has_passphrase: r.has_passphrase,
        upn: r.upn,
        phone: r.phone.unwrap_or_default(),
        approvals,
        ticket: String::new(),
        error: None,
        heading: String::new(),
        codes: Vec::new(),
        note: String::new(),
    })
}

pub(crate) async fn form(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> PageResult {
    Ok(render(&page(&state, &auth, &id).await?))
}

#[derive(Deserialize)]
pub(crate) struct RevealForm {
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    passphrase: String,
    #[serde(default)]
    approval: String,
    #[serde(default)]
    purpose: String,
    /// `YYYY-MM-DDTHH:MM` (in the viewer's zone) for an e-mailed code.
    #[serde(default)]
    at: String,
    /// Minutes ahead for a code sent by e-mail.
    #[serde(default)]
    ahead: String,
    /// Set by the "Verification failed" button.
    #[serde(default)]
    failed: String,
}

impl Drop for RevealForm {
    fn drop(&mut self) {
        self.passphrase.zeroize();
    }
}

pub(crate) async fn submit(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(form): Form<RevealForm>,
) -> PageResult {
    let mut p = page(&state, &auth, &id).await?;
    p.ticket = form.ticket.clone();
    if form.failed.is_empty() && form.purpose == "send-email" {
        let status = match send_by_email(&state, &auth, &p.id, &form).await {
            Ok(sent) => {
                p.sent = Some(sent);
                StatusCode::OK
            }
            Err(problem) => {
                p.error = Some(problem.on_page());
                problem.status
            }
        };
        let mut resp = render(&p);
        *resp.status_mut() = status;
        return Ok(resp);
    }
    let outcome = if form.failed.is_empty() {
        match ask(&form, &auth.zone, state.now_i64()) {
            Ok(ask) => reveal::run(&state, &auth, &p.id, &ask).await.map(Some),
            Err(problem) => Err(problem),
        }
    } else {
        reveal::record_failure(&state, &auth, &p.id, &form.method, &form.ticket)
            .await
            .map(|()| None)
    };
    let status = match outcome {
        Ok(Some(shown)) => {
            p.heading = shown.heading;
            p.codes = shown.rows;
            p.note = shown.note;
            StatusCode::OK
        }
        Ok(None) => {
            p.error = Some(p.t.t("reveal-recorded-failure"));
            StatusCode::OK
        }
        Err(problem) => {
            p.error = Some(problem.on_page());
            problem.status
        }
    };
    let mut resp = render(&p);
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

/// Reveals the code for the chosen time (an audited reveal with purpose `email`) and sends it
/// to the record's address; the page never shows it. Returns the line saying where it went.
async fn send_by_email(
    state: &AppState,
    auth: &Auth,
    id: &str,
    form: &RevealForm,
) -> Result<String, Problem> {
    let ahead: i64 = form.ahead.trim().parse().unwrap_or(15);
    if !(0..=24 * 60).contains(&ahead) {
        return Err(Problem::invalid("choose when the user will use the code")
            .say(Msg::new("reveal-choose-when")));
    }
    let at = state.now_i64().saturating_add(ahead.saturating_mul(60));
    let ask = Ask::parse(
        &form.ticket,
        &form.method,
        &form.passphrase,
        &form.approval,
        Purpose::Email,
        at,
    )?;
    let sent = crate::mail::reveal_and_send(state, auth, id, &ask).await?;
    let zone = Some(sent.zone.as_str()).filter(|z| *z != "UTC");
    Ok(Msg::new("reveal-sent")
        .arg("to", sent.to)
        .arg("reply", sent.reply)
        .arg(
            "from",
            tokendesk_outbound::zone::format(sent.usable_from, zone),
        )
        .arg(
            "until",
            tokendesk_outbound::zone::format_clock(sent.usable_until, zone),
        )
        .arg("zone", sent.zone)
        .say(Tr(auth.lang)))
}

/// The form as a reveal: now and the next code for a read-out, the chosen (future) time for
/// an e-mail.
fn ask(form: &RevealForm, zone: &Zone, now: i64) -> Result<Ask, Problem> {
    let (purpose, at) = if form.purpose == "email" {
        let at = zone.parse_datetime(&form.at)?;
        if at < now {
            return Err(
                Problem::invalid("the time for an e-mailed code is in the past")
                    .say(Msg::new("reveal-time-past")),
            );
        }
        (Purpose::Email, at)
    } else {
        (Purpose::ReadOut, now)
    };
    Ask::parse(
        &form.ticket,
        &form.method,
        &form.passphrase,
        &form.approval,
        purpose,
        at,
    )
}

#[derive(Deserialize)]
pub(crate) struct ApprovalForm {
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    reason: String,
}

pub(crate) async fn request_approval(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(form): Form<ApprovalForm>,
) -> PageResult {
    let r = state.vault().record(&id).await?;
    state
        .vault()
        .request_approval(
            &auth.authorize(Permission::Reveal)?,
            &r.upn,
            form.ticket.trim(),
            form.reason.trim(),
        )
        .await?;
    Ok(redirect(&format!("/records/{id}/reveal")))
}

pub(crate) struct ApprovalRow {
    id: String,
    created: When,
    requested_by: String,
    upn: String,
    ticket: String,
    reason: String,
    status: String,
    can_approve: bool,
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage {
    nav: Option<Nav>,
    t: Tr,
    notice: Option<String>,
    rows: Vec<ApprovalRow>,
}

async fn approvals_page(state: &AppState, auth: &Auth, notice: Option<&'static str>) -> PageResult {
    let t = Tr(auth.lang);
    let rows = state
        .vault()
        .pending_approvals()
        .await?
        .into_iter()
        .map(|a| ApprovalRow {
            can_approve: a.approved_by.is_none()
                && a.requested_by != auth.actor.name
                && auth.can(Permission::ApproveReveal),
            status: match &a.approved_by {
                Some(by) => t.t1("approved-by", "who", by),
                None => t.t("approval-waiting"),
            },
            id: a.id.to_string(),
            created: auth.zone.when(a.created_unix_secs),
            requested_by: a.requested_by,
            upn: a.upn,
            ticket: a.ticket,
            reason: a.reason,
        })
        .collect();
    Ok(render(&ApprovalsPage {
        nav: Some(Nav::for_auth(auth)),
        t,
        notice: notice.map(|key| t.t(key)),
        rows,
    }))
}

pub(crate) async fn approvals(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
) -> PageResult {
    approvals_page(&state, &auth, None).await
}

pub(crate) async fn approve(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> PageResult<Response> {
    state
        .vault()
        .approve(
            &auth.authorize(Permission::ApproveReveal)?,
            &tokendesk_vault::ApprovalId(id),
        )
        .await?;
    approvals_page(&state, &auth, Some("approved-notice")).await
}
