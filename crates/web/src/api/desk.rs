//! `/api/v1/desk`: the desk side of desk sign-in. `start` (anyone, rate-limited like sign-in)
//! hands out a device code and a user code; `poll` (anyone holding a device code) answers
//! pending, slow_down, expired, denied or the desk token once; `logout` ends the caller's own
//! desk session. The person approves on the `/desk` page (see `pages::desk`).

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokendesk_vault::DeskPoll;
use zeroize::Zeroize;

use crate::AppState;
use crate::auth::Auth;
use crate::client::Client;
use crate::error::{ApiResult, Problem};

#[derive(Deserialize)]
pub(crate) struct StartBody {
    desk_name: String,
    #[serde(default)]
    desk_host: Option<String>,
}

/// The URL the person opens: this server's `/desk`, as the desk reached it.
fn verification_uri(headers: &HeaderMap, client: Option<&Client>) -> String {
    let scheme = if client.is_some_and(|c| c.https) {
        "https"
    } else {
        "http"
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("{scheme}://{host}/desk")
}

/// `POST /api/v1/desk/start`.
pub(crate) async fn start(
    State(state): State<AppState>,
    client: Option<Extension<Client>>,
    headers: HeaderMap,
    super::Body(body): super::Body<StartBody>,
) -> ApiResult<Response> {
    let request = state
        .vault()
        .staff()
        .desk_start(&body.desk_name, body.desk_host.as_deref())
        .await?;
    let uri = verification_uri(&headers, client.as_deref());
    let answer = json!({
        "device_code": request.device_code.expose(),
        "user_code": request.user_code,
        "verification_uri": uri,
        "verification_uri_complete": format!("{uri}?code={}", request.user_code),
        "expires_in": request.expires_in_secs,
        "interval": request.interval_secs,
    });
    let mut resp = (StatusCode::OK, Json(answer)).into_response();
    no_store(&mut resp);
    Ok(resp)
}

#[derive(Deserialize)]
pub(crate) struct PollBody {
    device_code: String,
}

impl Drop for PollBody {
    fn drop(&mut self) {
        self.device_code.zeroize();
    }
}

/// `POST /api/v1/desk/poll`: `{"status": "pending" | "slow_down" | "expired" | "denied" |
/// "approved", ...}`; approved carries `token`, `username` and `expires_unix_secs`.
pub(crate) async fn poll(
    State(state): State<AppState>,
    super::Body(body): super::Body<PollBody>,
) -> ApiResult<Response> {
    let answer = match state.vault().staff().desk_poll(&body.device_code).await? {
        DeskPoll::Pending => json!({ "status": "pending" }),
        DeskPoll::SlowDown { interval_secs } => {
            json!({ "status": "slow_down", "interval": interval_secs })
        }
        DeskPoll::Expired => json!({ "status": "expired" }),
        DeskPoll::Denied => json!({ "status": "denied" }),
        DeskPoll::Approved {
            token,
            username,
            expires_unix_secs,
        } => json!({
            "status": "approved",
            "token": token.expose(),
            "username": username,
            "expires_unix_secs": expires_unix_secs,
        }),
    };
    let mut resp = Json(answer).into_response();
    no_store(&mut resp);
    Ok(resp)
}

/// `POST /api/v1/desk/logout`: ends the desk session whose token made the request.
pub(crate) async fn logout(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let token = crate::auth::bearer(&headers).filter(|_| auth.desk.is_some());
    let Some(token) = token else {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "desk_only",
            "this request was not made with a desk token; desks sign out with `tokendesk logout`",
        )
        .into());
    };
    state.vault().staff().desk_logout(&token).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn no_store(resp: &mut Response) {
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
}
