//! `POST /api/v1/records/{id}/reveal`: the body parsed into the shared [`crate::reveal::Ask`].

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::reveal::{self, Ask};
use crate::timefmt::parse_datetime;
use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokendesk_vault::Purpose;
use zeroize::Zeroize;

/// `POST /api/v1/records/{id}/reveal`.
#[derive(Deserialize)]
pub(crate) struct RevealBody {
    /// `call-back`, `passphrase` or `second-approver`.
    verification: String,
    /// Outcome of the verification: `passed` or `failed`.
    outcome: String,
    ticket: String,
    /// `read-out` (default) or `email`.
    #[serde(default)]
    purpose: Option<String>,
    /// For `passphrase`: what the caller said.
    #[serde(default)]
    passphrase: Option<String>,
    /// For `second-approver`: the approval id.
    #[serde(default)]
    approval: Option<String>,
    /// Unix time or RFC 3339-like `YYYY-MM-DDTHH:MM[:SS]` (UTC) of the code wanted.
    #[serde(default)]
    at: Option<Value>,
    /// Minutes from now (alternative to `at`).
    #[serde(default, deserialize_with = "super::extract::int::option")]
    future: Option<i64>,
    /// Send the code to the record's e-mail address instead of answering it (purpose
    /// `email`); the answer says where it went and the mail server's reply.
    #[serde(default)]
    send_email: bool,
}

impl Drop for RevealBody {
    fn drop(&mut self) {
        if let Some(p) = &mut self.passphrase {
            p.zeroize();
        }
    }
}

pub(crate) async fn reveal(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    super::Body(body): super::Body<RevealBody>,
) -> ApiResult<Response> {
    match body.outcome.as_str() {
        "passed" => {}
        "failed" => {
            reveal::record_failure(&state, &auth, &id, &body.verification, &body.ticket).await?;
            return Err(Problem::new(
                axum::http::StatusCode::FORBIDDEN,
                "verification_failed",
                "recorded: the caller could not be verified; no code is revealed",
            )
            .into());
        }
        _ => {
            return Err(Problem::bad_request("outcome is \"passed\" or \"failed\"").into());
        }
    }
    let ask = body.ask(state.now_i64())?;
    if body.send_email {
        if ask.purpose != Purpose::Email {
            return Err(Problem::invalid("`send_email` needs purpose \"email\"").into());
        }
        let sent = crate::mail::reveal_and_send(&state, &auth, &id, &ask).await?;
        return Ok(Json(json!({
            "purpose": "email",
            "sent": {
                "to": sent.to,
                "server_reply": sent.reply,
                "usable_from": sent.usable_from,
                "usable_until": sent.usable_until,
                "time_zone": sent.zone,
            },
        }))
        .into_response());
    }
    let shown = reveal::run(&state, &auth, &id, &ask).await?;
    let now = state.now();
    let codes: Vec<Value> = shown
        .rows
        .iter()
        .map(|c| {
            json!({
                "code": c.code,
                "valid_from": c.valid_from,
                "valid_until": c.valid_until,
                "secs_left": c.valid_until.saturating_sub(now.max(c.valid_from)),
            })
        })
        .collect();
    let mut resp = Json(json!({
        "upn": shown.upn,
        "purpose": shown.purpose.as_str(),
        "codes": codes,
        "entra_window_secs": reveal::ENTRA_WINDOW_SECS,
    }))
    .into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

impl RevealBody {
    /// The body as a reveal: `at` (a Unix time or a date-time) or `future` (minutes from now),
    /// not both (a `null` counts as absent); without either, now. The purpose defaults to
    /// `email` for a later code or with `send_email`.
    fn ask(&self, now: i64) -> Result<Ask, Problem> {
        let shape = "`at` is a Unix time in whole seconds or a UTC time like 2026-12-24T09:30";
        let at = match &self.at {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => {
                Some(super::extract::int::whole(n).ok_or_else(|| Problem::bad_request(shape))?)
            }
            Some(Value::String(s)) => Some(parse_datetime(s)?),
            Some(_) => return Err(Problem::bad_request(shape)),
        };
        let at = match (at, self.future) {
            (Some(_), Some(_)) => {
                return Err(Problem::bad_request("give `at` or `future`, not both"));
            }
            (Some(t), None) => Some(t),
            (None, Some(minutes)) if (0..=MAX_FUTURE_MINUTES).contains(&minutes) => {
                Some(now + minutes * 60)
            }
            (None, Some(_)) => {
                return Err(Problem::bad_request(format!(
                    "`future` is minutes from now, 0 to {MAX_FUTURE_MINUTES}"
                )));
            }
            (None, None) => None,
        };
        let purpose = match self.purpose.as_deref() {
            None if at.is_some() || self.send_email => Purpose::Email,
            None | Some("read-out") => Purpose::ReadOut,
            Some("email") => Purpose::Email,
            Some(_) => return Err(Problem::bad_request("purpose is \"read-out\" or \"email\"")),
        };
        if at.is_some_and(|t| t < now) {
            return Err(Problem::invalid("the time asked for is in the past"));
        }
        Ask::parse(
            &self.ticket,
            &self.verification,
            self.passphrase.as_deref().unwrap_or(""),
            self.approval.as_deref().unwrap_or(""),
            purpose,
            at.unwrap_or(now),
        )
    }
}

/// The latest `future`: 31 days, in minutes.
const MAX_FUTURE_MINUTES: i64 = 60 * 24 * 31;
