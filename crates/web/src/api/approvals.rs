//! Four-eyes approvals and the audit trail over the API.

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokendesk_vault::{AuditEntry, AuditFilter};

#[derive(Deserialize)]
pub(crate) struct ApprovalBody {
    ticket: String,
    reason: String,
}

pub(crate) async fn request_approval(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    super::Body(body): super::Body<ApprovalBody>,
) -> ApiResult<Response> {
    let r = state.vault().record(&id).await?;
    let approval = state
        .vault()
        .request_approval(
            &auth.authorize(tokendesk_vault::Permission::Reveal)?,
            &r.upn,
            body.ticket.trim(),
            body.reason.trim(),
        )
        .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(json!({ "approval": approval.to_string(), "upn": r.upn })),
    )
        .into_response())
}

pub(crate) async fn approve(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state
        .vault()
        .approve(
            &auth.authorize(tokendesk_vault::Permission::ApproveReveal)?,
            &tokendesk_vault::ApprovalId(id.clone()),
        )
        .await?;
    Ok(Json(
        json!({ "approval": id, "approved_by": auth.actor.name }),
    ))
}

/// The query of `GET /api/v1/audit`: every filter optional, `since` and `until` dates
/// (`YYYY-MM-DD`, 1970 to 9999, UTC; `until` takes in that whole day).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditParams {
    user: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// A date parameter exactly as the document says: no blanks around it.
fn date_param(name: &str, text: Option<&str>) -> Result<Option<i64>, Problem> {
    match text {
        None => Ok(None),
        Some(t) if t.trim() == t => crate::timefmt::parse_date(t).map(Some).map_err(|_| {
            Problem::bad_request(format!("{name} is a date like 2026-12-24 (1970 to 9999)"))
        }),
        Some(_) => Err(Problem::bad_request(format!(
            "{name} is a date like 2026-12-24 (1970 to 9999)"
        ))),
    }
}

pub(crate) async fn audit(
    State(state): State<AppState>,
    super::Params(p): super::Params<AuditParams>,
) -> ApiResult<Json<Value>> {
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let filter = AuditFilter {
        subject: text(&p.user).map(|u| u.to_lowercase()),
        actor: text(&p.actor),
        action: text(&p.action),
        since_unix_secs: date_param("since", p.since.as_deref())?,
        // `until` is inclusive of that day.
        until_unix_secs: date_param("until", p.until.as_deref())?.map(|t| t + 86_400),
        limit: Some(10_000),
    };
    let entries = state.vault().audit_list(&filter).await?;
    let report = state.vault().audit_verify().await?;
    Ok(Json(json!({
        "chain": {
            "entries": report.entries,
            "intact": report.problem.is_none(),
            "problem": report.problem.as_ref().map(ToString::to_string),
        },
        "entries": entries.iter().map(AuditEntry::to_json).collect::<Vec<_>>(),
    })))
}
