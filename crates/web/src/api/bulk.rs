//! Bulk provisioning as JSON: `POST /api/v1/bulk` (check a user list, `dry_run`, or generate a
//! batch: all or nothing), `GET /api/v1/bulk/{id}` (a batch and its progress) and, for a desk
//! burning the batch, `POST /api/v1/bulk/{id}/fetch` (the seed of one record, bound first to the
//! serial of the token on the desk's reader).

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokendesk_vault::{Permission, RecordId};

use crate::AppState;
use crate::auth::Auth;
use crate::bulk;
use crate::error::{ApiResult, Problem};

#[derive(Deserialize)]
pub(crate) struct CreateBody {
    /// The CSV text: one UPN per line in the first column.
    users: String,
    #[serde(default)]
    algorithm: Option<String>,
    #[serde(default, deserialize_with = "super::extract::int::option")]
    period: Option<i64>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    dry_run: Option<bool>,
}

/// `POST /api/v1/bulk`.
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    crate::api::Body(body): crate::api::Body<CreateBody>,
) -> ApiResult<Response> {
    let proof = auth.authorize(Permission::Capture)?;
    let params = bulk::params(
        body.algorithm.as_deref().unwrap_or("sha1"),
        body.period.unwrap_or(30),
    )
    .ok_or_else(|| Problem::invalid("`algorithm` is sha1 or sha256 and `period` 30 or 60"))?;
    let language = match body.language.as_deref() {
        None => None,
        Some(tag) => crate::pages::wizard::language_field(tag)?,
    };
    let checked = bulk::check(state.vault(), &body.users).await?;
    if !checked.errors.is_empty() {
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "code": "invalid_rows",
                "message": format!(
                    "{} problem(s) in the list; nothing generated",
                    checked.errors.len()
                ),
                "errors": checked.errors,
            })),
        )
            .into_response());
    }
    if body.dry_run.unwrap_or(false) {
        return Ok(Json(json!({
            "dry_run": true,
            "users": checked.users.len(),
            "errors": [],
        }))
        .into_response());
    }
    let batch = state
        .vault()
        .bulk_generate(&proof, &checked.users, params, language)
        .await?;
    Ok((StatusCode::CREATED, Json(bulk::batch_json(&batch))).into_response())
}

/// `GET /api/v1/bulk/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    auth.authorize(Permission::Capture)?;
    let batch = state.vault().batch(&id).await?;
    Ok(Json(bulk::batch_json(&batch)).into_response())
}

#[derive(Deserialize)]
pub(crate) struct FetchBody {
    record_id: String,
    serial: String,
    #[serde(default)]
    model: Option<String>,
}

/// `POST /api/v1/bulk/{id}/fetch`: a desk's token only.
pub(crate) async fn fetch(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    crate::api::Body(body): crate::api::Body<FetchBody>,
) -> ApiResult<Response> {
    crate::burn_grant::desk_only(&auth, "`tokendesk bulk burn --remote --batch ID`")?;
    let model = body
        .model
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty());
    let seed = state
        .vault()
        .bulk_fetch(
            &auth.authorize(Permission::Capture)?,
            &id,
            &RecordId(body.record_id),
            &body.serial,
            model,
        )
        .await?;
    Ok(crate::burn_grant::seed_answer(&seed))
}
