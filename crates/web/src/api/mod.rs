//! The JSON API under `/api/v1` (session cookie or `Authorization: Bearer tdk_…`). Described
//! by `openapi.json` (OpenAPI 3.1), served at `/api/v1/openapi.json`. Errors are
//! `{"code": "...", "message": "..."}` with the HTTP status saying what kind.

mod approvals;
mod exchange;
mod records;
mod reveal;

pub(crate) use approvals::{approve, audit, request_approval};
pub(crate) use exchange::{export, import};
pub(crate) use records::{record_get, records_create, records_list, transition};
pub(crate) use reveal::reveal;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokendesk_vault::Record;

const OPENAPI: &str = include_str!("../../openapi.json");

/// `GET /api/v1/openapi.json`.
pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// A record as the API shows it: never the seed.
pub(crate) fn record_json(r: &Record) -> Value {
    json!({
        "id": r.id,
        "upn": r.upn,
        "display_name": r.display_name,
        "phone": r.phone,
        "notes": r.notes,
        "state": r.state.as_str(),
        "token": {
            "serial": r.serial,
            "model": r.model,
            "manufacturer": r.manufacturer,
            "algorithm": r.params.algorithm.as_str(),
            "digits": r.params.digits,
            "period": r.params.period_secs,
            "drift_steps": r.drift_steps,
        },
        "shipment": {
            "carrier": r.shipment.carrier,
            "tracking": r.shipment.tracking,
            "shipped_unix_secs": r.shipped_unix_secs,
            "expected_unix_secs": r.shipment.expected_unix_secs,
        },
        "created_by": r.created_by,
        "created_unix_secs": r.created_unix_secs,
        "updated_unix_secs": r.updated_unix_secs,
        "purge_due_unix_secs": r.purge_due_unix_secs,
        "has_seed": r.has_seed,
    })
}
