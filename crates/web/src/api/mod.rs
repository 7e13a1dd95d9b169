//! The JSON API under `/api/v1` (session cookie, `Authorization: Bearer tdk_…` for an API key or `tdd_…` for a
//! desk signed in with `tokendesk login`). Described
//! by `openapi.json` (OpenAPI 3.1), served at `/api/v1/openapi.json`. Errors are
//! `{"code": "...", "message": "..."}` with the HTTP status saying what kind.

mod approvals;
mod desk;
mod exchange;
mod records;
mod reveal;

pub(crate) use approvals::{approve, audit, request_approval};
pub(crate) use desk::{logout as desk_logout, poll as desk_poll, start as desk_start};
pub(crate) use exchange::{export, import};
pub(crate) use records::{contact, record_get, records_create, records_list, transition};
pub(crate) use reveal::reveal;

use axum::http::header;
use axum::response::{IntoResponse, Response};

const OPENAPI: &str = include_str!("../../openapi.json");

/// `GET /api/v1/openapi.json`.
pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The API's JSON request body: like axum's `Json`, but only a JSON object (serde would also
/// build a struct from an array), and every refusal a JSON problem (`ApiError`) rather than
/// axum's plain text. The bytes are read once, under the router's body limit.
pub(crate) struct Body<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = crate::error::ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        use crate::error::Problem;
        use axum::http::StatusCode;
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| {
                v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
            });
        if !json {
            return Err(Problem::body(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON, with `Content-Type: application/json`",
            )
            .into());
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| Problem::body(e.status(), e.body_text()))?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(Problem::body(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the body must be a JSON object ({\"field\": value, …})",
            )
            .into());
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes).map_err(Problem::from)?;
        Ok(Self(value))
    }
}

/// The API's query string: axum's `Query`, with a refusal answered as a JSON problem (400)
/// instead of plain text.
pub(crate) struct Params<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Params<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(q)| Self(q))
            .map_err(|e| crate::error::Problem::bad_request(e.body_text()).into())
    }
}
