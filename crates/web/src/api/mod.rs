//! The JSON API under `/api/v1` (session cookie or `Authorization: Bearer tdk_…`). Described
//! by `openapi.json` (OpenAPI 3.1), served at `/api/v1/openapi.json`. Errors are
//! `{"code": "...", "message": "..."}` with the HTTP status saying what kind.

mod approvals;
mod exchange;
mod records;
mod reveal;

pub(crate) use approvals::{approve, audit, request_approval};
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
