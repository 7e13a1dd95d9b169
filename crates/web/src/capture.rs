//! `POST /wizard/frame`: one image — a frame of the operator's screen share, a pasted screenshot
//! or a dropped file (`assets/capture.js`) — decoded with the server's QR decoder under the same
//! pixel and time budgets as an upload. The answer is JSON:
//!
//! - `{"status":"found","secret":"otpauth://…"}`: the first TOTP seed; the page puts it in the
//!   form and submits it, exactly as if the operator had typed it;
//! - `{"status":"none"}`: no QR code in this image (the page keeps looking);
//! - `{"status":"not_seed","message":…}`: a QR code that is no seed, with the classification's
//!   explanation (the Microsoft Authenticator QR, a Google export, a FIDO or other link).
//!
//! Frames are never written to disk or logged, and the answer is never cached. Each staff member
//! has a frame budget (a flood gets 429 with `Retry-After`, not a busy server).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokendesk_qr::QrCode;

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::i18n::{Msg, Tr};
use crate::toolset::SeedProblem;

/// What one image held, as the page acts on it.
enum Found {
    Seed(String),
    Nothing,
    NotSeed(String),
}

/// The first TOTP seed among the decoded codes, or why there is none.
fn classify(t: Tr, codes: &[QrCode]) -> Found {
    let mut reasons = Vec::new();
    for code in codes {
        match crate::toolset::parse_seed(code.expose_payload(), false) {
            Ok(_) => return Found::Seed(code.expose_payload().to_owned()),
            Err(reason) => reasons.push(reason),
        }
    }
    if reasons.is_empty() {
        Found::Nothing
    } else {
        let words: Vec<Msg> = reasons.iter().map(SeedProblem::msg).collect();
        Found::NotSeed(Msg::new("capture-not-seed").arg("reason", words).say(t))
    }
}

pub(crate) async fn frame(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    body: Bytes,
) -> ApiResult<Response> {
    if let Err(wait) = state.take_frame(&auth.name) {
        let mut p = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            Tr(auth.lang).tn(
                "capture-too-many",
                "secs",
                i64::try_from(wait).unwrap_or(i64::MAX),
            ),
        );
        p.retry_after = Some(i64::try_from(wait).unwrap_or(i64::MAX));
        return Err(p.into());
    }
    if body.is_empty() {
        return Err(Problem::invalid(Tr(auth.lang).t("capture-empty")).into());
    }
    let codes = state.decoder().decode(body.to_vec()).await?;
    drop(body);
    let answer = match classify(Tr(auth.lang), &codes) {
        Found::Seed(secret) => json!({ "status": "found", "secret": secret }),
        Found::Nothing => json!({ "status": "none" }),
        Found::NotSeed(message) => json!({ "status": "not_seed", "message": message }),
    };
    let mut resp = Json(answer).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
