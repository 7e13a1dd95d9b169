//! Burning on a desk reader with a one-time grant: the record page's button
//! (`POST /records/{id}/burn-grant`, a page with the command and a status that updates itself
//! through `assets/burn.js`), the same as JSON (`POST /api/v1/records/{id}/burn-grant`), the
//! desk's one fetch of the seed (`POST /api/v1/burn-grants/fetch`, desk tokens only), and the
//! desk's report after the burn (`POST /api/v1/records/{id}/burned`, checked against the seed).

use askama::Template;
use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokendesk_vault::{BURN_GRANT_TTL_SECS, Permission, RecordId, TokenUpdate};
use zeroize::Zeroize;

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, PageResult, Problem};
use crate::html::{Nav, render};

#[derive(Template)]
#[template(path = "burn_grant.html")]
struct GrantPage {
    nav: Option<Nav>,
    t: crate::i18n::Tr,
    /// Every state, for the script's state names.
    states: Vec<&'static str>,
    id: String,
    upn: String,
    grant: String,
    minutes: i64,
}

impl Drop for GrantPage {
    fn drop(&mut self) {
        self.grant.zeroize();
    }
}

fn no_store(resp: &mut Response) {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// `POST /records/{id}/burn-grant`: the page with the one-time command.
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> PageResult {
    let id = RecordId(id);
    let (grant, _) = state
        .vault()
        .burn_grant_create(&auth.authorize(Permission::Capture)?, &auth.name, &id)
        .await?;
    let record = state.vault().record(&id.0).await?;
    let mut resp = render(&GrantPage {
        nav: Some(Nav::for_auth(&auth)),
        t: crate::i18n::Tr(auth.lang),
        states: tokendesk_vault::ALL_STATES
            .iter()
            .map(|s| s.as_str())
            .collect(),
        id: id.0,
        upn: record.upn,
        grant: grant.expose().to_owned(),
        minutes: BURN_GRANT_TTL_SECS / 60,
    });
    no_store(&mut resp);
    Ok(resp)
}

/// `POST /api/v1/records/{id}/burn-grant`: `{grant, expires_unix_secs, command}`.
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (grant, expires) = state
        .vault()
        .burn_grant_create(
            &auth.authorize(Permission::Capture)?,
            &auth.name,
            &RecordId(id),
        )
        .await?;
    let mut resp = Json(json!({
        "grant": grant.expose(),
        "expires_unix_secs": expires,
        "command": format!("tokendesk nfc burn --grant {}", grant.expose()),
    }))
    .into_response();
    no_store(&mut resp);
    Ok(resp)
}

#[derive(Deserialize)]
pub(crate) struct FetchBody {
    grant: String,
}

impl Drop for FetchBody {
    fn drop(&mut self) {
        self.grant.zeroize();
    }
}

/// `POST /api/v1/burn-grants/fetch`: the seed and its parameters, once, to a desk.
pub(crate) async fn fetch(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    crate::api::Body(body): crate::api::Body<FetchBody>,
) -> ApiResult<Response> {
    desk_only(&auth, "`tokendesk nfc burn --grant`")?;
    let seed = state
        .vault()
        .burn_grant_fetch(
            &auth.authorize(Permission::Capture)?,
            &auth.name,
            &body.grant,
        )
        .await?;
    Ok(seed_answer(&seed))
}

/// Refuses a caller that is not a signed-in desk (seeds go to desks only); `command` is what
/// the desk runs.
pub(crate) fn desk_only(auth: &Auth, command: &str) -> Result<(), Problem> {
    if auth.desk.is_none() {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "desk_only",
            format!("seeds are fetched by a signed-in desk (`tokendesk login`, then {command})"),
        ));
    }
    Ok(())
}

/// A seed and its parameters for a desk, `Cache-Control: no-store`; no JSON value holds a copy.
pub(crate) fn seed_answer(seed: &tokendesk_vault::ExportedSeed) -> Response {
    let r = &seed.record;
    let secret = seed.secret().to_base32();
    // Serialised straight from borrowed fields: no JSON value holds a copy of the seed.
    let algorithm = r.params.algorithm.to_string();
    let mut resp = Json(SeedAnswer {
        record_id: &r.id,
        upn: &r.upn,
        secret: secret.as_str(),
        algorithm: &algorithm,
        digits: r.params.digits,
        period: r.params.period_secs,
    })
    .into_response();
    drop(secret);
    no_store(&mut resp);
    resp
}

#[derive(serde::Serialize)]
struct SeedAnswer<'a> {
    record_id: &'a str,
    upn: &'a str,
    secret: &'a str,
    algorithm: &'a str,
    digits: u32,
    period: u32,
}

#[derive(Deserialize)]
pub(crate) struct BurnedBody {
    serial: String,
    #[serde(default)]
    model: Option<String>,
    /// The code the desk computed from the seed it burned, now.
    code: String,
}

impl Drop for BurnedBody {
    fn drop(&mut self) {
        self.code.zeroize();
    }
}

/// `POST /api/v1/records/{id}/burned`: captured → burned once the desk's code matches.
pub(crate) async fn burned(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    crate::api::Body(body): crate::api::Body<BurnedBody>,
) -> ApiResult<Response> {
    if body.serial.trim().is_empty() {
        return Err(Problem::invalid("give the burned token's serial").into());
    }
    let token = TokenUpdate {
        serial: Some(body.serial.trim().to_owned()),
        model: body.model.clone().filter(|m| !m.trim().is_empty()),
        manufacturer: Some("Token2".into()),
    };
    let r = state
        .vault()
        .burn_confirm(
            &auth.authorize(Permission::Transition)?,
            &RecordId(id),
            token,
            &body.code,
        )
        .await?;
    Ok((StatusCode::OK, Json(r.to_json())).into_response())
}
