//! Four-eyes approvals and the audit trail over the API.

use crate::AppState;
use crate::auth::Auth;
use crate::error::ApiResult;
use crate::pages::audit::Filters;
use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokendesk_vault::AuditEntry;

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

pub(crate) async fn audit(
    State(state): State<AppState>,
    super::Params(f): super::Params<Filters>,
) -> ApiResult<Json<Value>> {
    let filter = f
        .to_filter(&crate::timefmt::Zone::utc(), Some(10_000))
        .map_err(|e| e.0)?;
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
