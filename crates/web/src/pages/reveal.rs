//! The reveal flow: the operator verifies the caller (call-back, passphrase checked by the
//! server, or a second approver), records the ticket and the purpose, and only then sees the
//! code(s). Over the quota, a second approver approves in their own session.

use askama::Template;
use axum::Form;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tokendesk_vault::{AuditFilter, Permission, RevealRequest};
use zeroize::Zeroize;

use super::{Nav, fmt_time, redirect, render};
use crate::AppState;
use crate::auth::Auth;
use crate::error::{PageResult, Problem};

/// How far from its step Entra ID is assumed to accept a code (workflow.md: default ±2 min).
pub(crate) const ENTRA_WINDOW_SECS: u64 = 120;

pub(crate) struct CodeRow {
    pub label: &'static str,
    pub code: String,
    pub valid_from: u64,
    pub valid_until: u64,
    pub window: String,
    pub left: String,
}

impl Drop for CodeRow {
    fn drop(&mut self) {
        self.code.zeroize();
    }
}

#[derive(Template)]
#[template(path = "reveal.html")]
struct RevealPage {
    nav: Option<Nav>,
    server_now: u64,
    id: String,
    upn: String,
    phone: String,
    has_passphrase: bool,
    used_today: i64,
    quota: i64,
    approvals: Vec<(String, String)>,
    ticket: String,
    error: Option<String>,
    heading: String,
    codes: Vec<CodeRow>,
    note: String,
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
    let approvals = vault
        .usable_approvals(&r.upn, &auth.actor)
        .await?
        .into_iter()
        .map(|a| {
            let label = format!(
                "{} approved by {} (ticket {})",
                a.requested_by,
                a.approved_by.clone().unwrap_or_default(),
                a.ticket
            );
            (a.id.to_string(), label)
        })
        .collect();
    Ok(RevealPage {
        nav: Some(Nav::for_auth(auth)),
        server_now: state.now(),
        id: r.id.clone(),
        has_passphrase: r.has_passphrase,
        upn: r.upn,
        phone: r.phone.unwrap_or_else(|| "none recorded".into()),
        used_today,
        quota: vault.settings().daily_reveal_quota,
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
    /// `YYYY-MM-DDTHH:MM` (UTC) for an e-mailed code.
    #[serde(default)]
    at: String,
    /// Set by the "Verification failed" button.
    #[serde(default)]
    failed: String,
}

impl Drop for RevealForm {
    fn drop(&mut self) {
        self.passphrase.zeroize();
    }
}

/// Parses `YYYY-MM-DDTHH:MM[:SS]` as UTC.
pub(crate) fn parse_datetime(text: &str) -> Result<i64, Problem> {
    let bad = || {
        Problem::invalid(format!(
            "{text:?} is not a time like 2026-12-24T09:30 (UTC)"
        ))
    };
    let (date, time) = text.trim().split_once('T').ok_or_else(bad)?;
    let day = super::parse_date(date).map_err(|_| bad())?;
    let mut parts = time.split(':');
    let h: i64 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let m: i64 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let s: i64 = match parts.next() {
        Some(s) => s.parse().map_err(|_| bad())?,
        None => 0,
    };
    if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..60).contains(&s) {
        return Err(bad());
    }
    Ok(day + h * 3600 + m * 60 + s)
}

/// What the vault needs for a verified reveal, after the server-side checks.
pub(crate) struct Verified {
    pub method: String,
    pub approval: Option<String>,
}

/// Checks the verification the operator claims. Passphrases are verified by the vault (rate
/// limited and audited); a second approver must have approved in their own session.
pub(crate) async fn verify(
    state: &AppState,
    auth: &Auth,
    record_id: &str,
    upn: &str,
    method: &str,
    passphrase: &str,
    approval: &str,
) -> Result<Verified, Problem> {
    // An approval named with any method goes to the vault, which checks it (exists, approved
    // by another person, unused, this record) and refuses the reveal otherwise.
    let named = Some(approval.trim().to_owned()).filter(|a| !a.is_empty());
    match method {
        "call-back" => Ok(Verified {
            method: method.into(),
            approval: named,
        }),
        "passphrase" => {
            if passphrase.is_empty() {
                return Err(Problem::invalid("type the passphrase the caller said"));
            }
            if state
                .vault()
                .check_passphrase(
                    &auth.authorize(Permission::Reveal)?,
                    upn,
                    &crate::auth::passphrase(passphrase),
                )
                .await?
            {
                Ok(Verified {
                    method: method.into(),
                    approval: named,
                })
            } else {
                Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "verification_failed",
                    "the passphrase does not match; no code was revealed (the failed attempt is audited)",
                ))
            }
        }
        "second-approver" => {
            let approval = approval.trim();
            if approval.is_empty() {
                return Err(Problem::invalid("choose the approval to use"));
            }
            Ok(Verified {
                method: method.into(),
                approval: Some(approval.to_owned()),
            })
        }
        other => {
            let _ = record_id;
            Err(Problem::invalid(format!(
                "unknown verification method {other:?}; use call-back, passphrase or second-approver"
            )))
        }
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
    let fail = |mut p: RevealPage, problem: Problem| {
        p.error = Some(problem.message);
        let mut resp = render(&p);
        *resp.status_mut() = problem.status;
        resp
    };
    if form.ticket.trim().is_empty() {
        return Ok(fail(
            p,
            Problem::invalid("a reveal needs a ticket reference"),
        ));
    }
    if !form.failed.is_empty() {
        state
            .vault()
            .record_failed_verification(&auth.actor, &id, &form.method, form.ticket.trim())
            .await?;
        return Ok(fail(
            p,
            Problem::new(
                StatusCode::OK,
                "verification_failed",
                "Recorded: the caller could not be verified. No code was revealed.",
            ),
        ));
    }
    let verified = match verify(
        &state,
        &auth,
        &id,
        &p.upn,
        &form.method,
        &form.passphrase,
        &form.approval,
    )
    .await
    {
        Ok(v) => v,
        Err(problem) => return Ok(fail(p, problem)),
    };
    let now = state.now_i64();
    let (purpose, at) = if form.purpose == "email" {
        let at = match parse_datetime(&form.at) {
            Ok(at) => at,
            Err(problem) => return Ok(fail(p, problem)),
        };
        if at < now {
            return Ok(fail(
                p,
                Problem::invalid("the time for an e-mailed code is in the past"),
            ));
        }
        ("email", vec![at])
    } else {
        ("read-out", vec![now])
    };
    let record_id = p.id.clone();
    match reveal_codes(
        &state,
        &auth,
        &record_id,
        form.ticket.trim(),
        &verified,
        purpose,
        at,
    )
    .await
    {
        Ok(shown) => {
            p.heading = shown.heading;
            p.codes = shown.rows;
            p.note = shown.note;
            let mut resp = render(&p);
            resp.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            Ok(resp)
        }
        Err(problem) => Ok(fail(p, problem)),
    }
}

/// Codes shaped for a page or a JSON answer.
pub(crate) struct Shown {
    /// The user whose codes these are.
    pub upn: String,
    pub heading: String,
    pub rows: Vec<CodeRow>,
    pub note: String,
}

/// Calls the vault (audit first) and shapes the codes for display. For a read-out, the
/// current and the next code; for an e-mail, the code at the chosen time.
pub(crate) async fn reveal_codes(
    state: &AppState,
    auth: &Auth,
    record_id: &str,
    ticket: &str,
    verified: &Verified,
    purpose: &str,
    at: Vec<i64>,
) -> Result<Shown, Problem> {
    let request = RevealRequest {
        upn: String::new(),
        ticket: ticket.to_owned(),
        method: verified.method.clone(),
        outcome: "passed".into(),
        purpose: purpose.to_owned(),
        at_unix_secs: at,
        following_steps: u32::from(purpose == "read-out"),
        approval: verified.approval.clone().map(tokendesk_vault::ApprovalId),
        record_id: Some(record_id.to_owned()),
    };
    let (record, codes) = state.vault().reveal(&auth.actor, &request).await?;
    let now = state.now();
    let rows: Vec<CodeRow> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let left = if now < c.valid_from {
                format!("valid in {} s", c.valid_from - now)
            } else if now < c.valid_until {
                format!("{} s left", c.valid_until - now)
            } else {
                "expired".into()
            };
            CodeRow {
                label: match (purpose, i) {
                    ("read-out", 0) => "Now",
                    ("read-out", _) => "Next",
                    _ => "For e-mail",
                },
                code: c.code.expose().to_owned(),
                valid_from: c.valid_from,
                valid_until: c.valid_until,
                window: format!(
                    "{} – {}",
                    fmt_time(i64::try_from(c.valid_from).unwrap_or(i64::MAX)),
                    fmt_time(i64::try_from(c.valid_until).unwrap_or(i64::MAX))
                ),
                left,
            }
        })
        .collect();
    let note = if purpose == "read-out" {
        "Read the code slowly; if fewer than 10 seconds are left, read the next one.".to_owned()
    } else {
        let (from, until) = rows
            .first()
            .map_or((0, 0), |r| (r.valid_from, r.valid_until));
        format!(
            "Entra ID is assumed to accept a code up to {} s either side of its step, so this code should work from {} to {}. Tell the user exactly when to use it.",
            ENTRA_WINDOW_SECS,
            fmt_time(i64::try_from(from.saturating_sub(ENTRA_WINDOW_SECS)).unwrap_or(0)),
            fmt_time(i64::try_from(until.saturating_add(ENTRA_WINDOW_SECS)).unwrap_or(i64::MAX))
        )
    };
    let heading = if purpose == "read-out" {
        "Current and next code".to_owned()
    } else {
        "Code for e-mail".to_owned()
    };
    Ok(Shown {
        upn: record.upn,
        heading,
        rows,
        note,
    })
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
    created: String,
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
    notice: Option<&'static str>,
    rows: Vec<ApprovalRow>,
}

async fn approvals_page(state: &AppState, auth: &Auth, notice: Option<&'static str>) -> PageResult {
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
                Some(by) => format!("approved by {by}"),
                None => "waiting".into(),
            },
            id: a.id.to_string(),
            created: fmt_time(a.created_unix_secs),
            requested_by: a.requested_by,
            upn: a.upn,
            ticket: a.ticket,
            reason: a.reason,
        })
        .collect();
    Ok(render(&ApprovalsPage {
        nav: Some(Nav::for_auth(auth)),
        notice,
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
    approvals_page(
        &state,
        &auth,
        Some("Approved. The requester can now reveal once."),
    )
    .await
}
