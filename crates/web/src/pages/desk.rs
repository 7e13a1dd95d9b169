//! `/desk`: a fully signed-in staff member confirms the code a desk shows (`tokendesk login`)
//! and approves or denies it, and sees and revokes their own desk sessions. Admins revoke
//! anyone's from the Staff page through the same revoke route.

use askama::Template;
use axum::Form;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use tokendesk_vault::{DeskPending, DeskSession, MAX_DESK_SESSION_SECS, Principal};

use super::{Nav, When, redirect, render};
use crate::AppState;
use crate::auth::Auth;
use crate::error::{PageResult, Problem};
use crate::i18n::{Msg, Tr};
use crate::timefmt::Zone;

/// A desk session as a table row (the Staff page shows the same rows with the owner).
pub(crate) struct DeskRow {
    pub id: String,
    pub username: String,
    pub desk: String,
    pub host: String,
    pub created: When,
    pub expires: When,
    pub last_used: When,
}

impl DeskRow {
    /// A desk session with its times in the viewer's zone.
    pub(crate) fn new(d: DeskSession, zone: &Zone) -> Self {
        Self {
            created: zone.when(d.created_unix_secs),
            expires: zone.when(d.expires_unix_secs),
            last_used: zone.when_opt(d.last_used_unix_secs),
            host: d.desk_host.unwrap_or_default(),
            desk: d.desk_name,
            username: d.username,
            id: d.id,
        }
    }
}

#[derive(Template)]
#[template(path = "desk.html")]
struct DeskPage {
    nav: Option<Nav>,
    t: Tr,
    error: Option<String>,
    notice: Option<String>,
    pending: Option<DeskPending>,
    role: String,
    hours: i64,
    base: String,
    sessions: Vec<DeskRow>,
}

#[derive(Deserialize)]
pub(crate) struct CodeQuery {
    #[serde(default)]
    code: Option<String>,
}

async fn page(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    pending: Option<DeskPending>,
    error: Option<String>,
    notice: Option<String>,
) -> PageResult {
    let sessions = state
        .vault()
        .staff()
        .desk_sessions(Some(&auth.name))
        .await?
        .into_iter()
        .map(|d| DeskRow::new(d, &auth.zone))
        .collect();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("this-server");
    let hours = state
        .vault()
        .staff_settings()
        .desk_session_secs
        .clamp(60, MAX_DESK_SESSION_SECS)
        / 3600;
    let mut resp = render(&DeskPage {
        nav: Some(Nav::for_auth(auth)),
        t: Tr(auth.lang),
        error: error.clone(),
        notice,
        pending,
        role: Tr(auth.lang).role(auth.role.as_str()),
        hours: hours.max(1),
        base: format!("https://{host}"),
        sessions,
    });
    if error.is_some() {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

/// `GET /desk[?code=…]`.
pub(crate) async fn form(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    headers: HeaderMap,
    Query(q): Query<CodeQuery>,
) -> PageResult {
    let typed = q.code.unwrap_or_default();
    if typed.trim().is_empty() {
        return page(&state, &auth, &headers, None, None, None).await;
    }
    match state.vault().staff().desk_pending(&typed).await? {
        Some(p) => page(&state, &auth, &headers, Some(p), None, None).await,
        None => {
            let e =
                tokendesk_vault::VaultError::Staff(tokendesk_vault::StaffError::DeskCodeUnknown);
            let message = Problem::from(e).on_page();
            page(&state, &auth, &headers, None, Some(message), None).await
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct AnswerForm {
    code: String,
    decision: String,
}

/// `POST /desk`: approve or deny.
pub(crate) async fn answer(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    headers: HeaderMap,
    Form(form): Form<AnswerForm>,
) -> PageResult {
    let approve = match form.decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            return Err(Problem::invalid("the decision is approve or deny")
                .say(Msg::new("desk-decision"))
                .into());
        }
    };
    let staff = state.vault().staff().get(&auth.name).await?;
    match state
        .vault()
        .staff()
        .desk_answer(&staff, &form.code, approve)
        .await
    {
        Ok(()) => {
            let notice = Tr(auth.lang).t(if approve {
                "desk-approved"
            } else {
                "desk-denied"
            });
            page(&state, &auth, &headers, None, None, Some(notice)).await
        }
        Err(e) => {
            let message = Problem::from(e).on_page();
            page(&state, &auth, &headers, None, Some(message), None).await
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    #[serde(default)]
    back: String,
}

/// `POST /desk/sessions/{id}/revoke`: one's own, or anyone's for an admin.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, crate::error::PageError> {
    let by = Principal {
        actor: auth.actor.clone(),
        role: auth.role,
    };
    state
        .vault()
        .staff()
        .desk_revoke(&by, &auth.name, &id)
        .await?;
    Ok(redirect(if form.back == "staff" {
        "/staff"
    } else {
        "/desk"
    }))
}
