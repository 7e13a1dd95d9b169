//! The JSON API under `/api/v1` (session cookie, `Authorization: Bearer tdk_…` for an API key or `tdd_…` for a
//! desk signed in with `tokendesk login`). Described
//! by `openapi.json` (OpenAPI 3.1), served at `/api/v1/openapi.json`. Errors are
//! `{"code": "...", "message": "..."}` with the HTTP status saying what kind.

mod approvals;
mod bulk;
mod desk;
mod exchange;
mod extract;
mod records;
mod reveal;

pub(crate) use approvals::{approve, audit, request_approval};
pub(crate) use bulk::{create as bulk_create, fetch as bulk_fetch, get as bulk_get};
pub(crate) use desk::{logout as desk_logout, poll as desk_poll, start as desk_start};
pub(crate) use exchange::{export, import};
pub(crate) use extract::{Body, Params};
pub(crate) use records::{contact, record_get, records_create, records_list, transition};
pub(crate) use reveal::reveal;

use axum::http::header;
use axum::response::{IntoResponse, Response};

const OPENAPI: &str = include_str!("../../openapi.json");

/// `GET /api/v1/openapi.json`.
pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
