//! Sign-in through the organisation's identity provider: `GET /login/oidc` sends the browser
//! there (state, nonce, PKCE; the flow stored sealed in the vault, the state also in a
//! short-lived cookie), `GET /login/oidc/callback` takes it back, checks the state against
//! the cookie and the vault (once), exchanges the code, verifies the ID token, maps the
//! person to a staff account and starts a session at the stage the vault decides. Every
//! refusal is a plain page for the person and an `oidc-refused` audit entry; a provider that
//! is down leaves local sign-in working.

use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use tokendesk_outbound::oidc::{OidcError, Pending, VerifiedIdentity};
use tokendesk_vault::{ProviderIdentity, Role, VaultError};
use zeroize::Zeroizing;

use crate::auth::{cookie_value, session_cookie};
use crate::client::Client;
use crate::error::Problem;
use crate::html::{continue_page, redirect, stage_path};
use crate::{AppState, OidcConfig};

fn flow_cookie_name(client: &Client) -> &'static str {
    if client.https {
        "__Host-tokendesk-oidc"
    } else {
        "tokendesk-oidc"
    }
}

/// The flow cookie: `SameSite=Lax`, so the browser sends it on the provider's redirect back
/// (a top-level GET from another site); ten minutes at most.
fn flow_cookie(client: &Client, state: &str, max_age: i64) -> Option<HeaderValue> {
    let secure = if client.https { "; Secure" } else { "" };
    let value = Zeroizing::new(format!(
        "{}={state}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        flow_cookie_name(client)
    ));
    HeaderValue::from_str(&value).ok().map(|mut v| {
        v.set_sensitive(true);
        v
    })
}

fn flow_cookie_value(headers: &HeaderMap, client: &Client) -> Option<Zeroizing<String>> {
    cookie_value(headers, flow_cookie_name(client))
}

/// The sign-in page with `message`, the flow cookie cleared.
fn refused(state: &AppState, client: &Client, status: StatusCode, message: &str) -> Response {
    let mut resp = (
        status,
        Html(crate::html::login_page(
            Some(message),
            None,
            state.provider_label(),
        )),
    )
        .into_response();
    if let Some(v) = flow_cookie(client, "", 0) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn not_configured() -> Response {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not_configured",
        "sign-in through an identity provider is not set up on this server; sign in with your tokendesk account",
    )
    .into_page_response()
}

/// `GET /login/oidc`: off to the provider.
pub(crate) async fn start(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
) -> Response {
    let Some(oidc) = state.config().oidc.clone() else {
        return not_configured();
    };
    if let Err(secs) = state.take_signin_attempt(client.ip) {
        return refused(
            &state,
            &client,
            StatusCode::TOO_MANY_REQUESTS,
            &format!("too many sign-in attempts from this address; try again in {secs} s"),
        );
    }
    let ip = client.ip.to_string();
    let started = match oidc.provider.start().await {
        Ok(s) => s,
        Err(e) => return refuse(&state, &client, &e, None, &ip).await,
    };
    if let Err(e) = state
        .vault()
        .staff()
        .oidc_flow_put(&started.state, &started.pending.to_bytes())
        .await
    {
        return Problem::from(e).into_page_response();
    }
    let mut resp = redirect(&started.url);
    if let Some(v) = flow_cookie(&client, &started.state, tokendesk_vault::OIDC_FLOW_TTL_SECS) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[derive(Deserialize)]
pub(crate) struct Callback {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

impl Drop for Callback {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        if let Some(c) = &mut self.code {
            c.zeroize();
        }
        if let Some(s) = &mut self.state {
            s.zeroize();
        }
    }
}

/// Audits a refusal and answers with the page explaining it.
async fn refuse(
    state: &AppState,
    client: &Client,
    e: &OidcError,
    login: Option<&str>,
    ip: &str,
) -> Response {
    if let Err(audit) = state
        .vault()
        .staff()
        .oidc_refused(e.reason(), login, Some(ip))
        .await
    {
        return Problem::from(audit).into_page_response();
    }
    let status = match e {
        OidcError::Unreachable { .. } | OidcError::Discovery { .. } => StatusCode::BAD_GATEWAY,
        _ => StatusCode::UNAUTHORIZED,
    };
    refused(state, client, status, &e.to_string())
}

/// Audits a refusal with a reason of its own and answers with `message`.
async fn refuse_with(
    state: &AppState,
    client: &Client,
    reason: &str,
    login: Option<&str>,
    ip: &str,
    status: StatusCode,
    message: &str,
) -> Response {
    if let Err(audit) = state
        .vault()
        .staff()
        .oidc_refused(reason, login, Some(ip))
        .await
    {
        return Problem::from(audit).into_page_response();
    }
    refused(state, client, status, message)
}

/// `GET /login/oidc/callback`: back from the provider.
pub(crate) async fn callback(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let Some(oidc) = state.config().oidc.clone() else {
        return not_configured();
    };
    let ip = client.ip.to_string();
    if let Some(error) = q.error.as_deref() {
        let said = q.error_description.as_deref().unwrap_or("");
        let message = format!(
            "the identity provider did not sign you in ({}{}{}); try again or ask your administrator",
            clip(error),
            if said.is_empty() { "" } else { ": " },
            clip(said)
        );
        return refuse_with(
            &state,
            &client,
            &format!("provider-error:{}", clip(error)),
            None,
            &ip,
            StatusCode::UNAUTHORIZED,
            &message,
        )
        .await;
    }
    let browser = flow_cookie_value(&headers, &client);
    let flow = state
        .vault()
        .staff()
        .oidc_flow_take(
            q.state.as_deref().unwrap_or(""),
            browser.as_deref().map(|s| s.as_str()),
        )
        .await;
    let pending = match flow.map(|bytes| Pending::from_bytes(&bytes)) {
        Ok(Some(p)) => p,
        Ok(None) | Err(VaultError::Staff(_)) => {
            let reason = if q.state.is_none() {
                "missing-state"
            } else {
                "bad-state"
            };
            return refuse_with(
                &state,
                &client,
                reason,
                None,
                &ip,
                StatusCode::BAD_REQUEST,
                "this sign-in was already completed, has expired or was not started in this browser; start the sign-in again",
            )
            .await;
        }
        Err(e) => return Problem::from(e).into_page_response(),
    };
    let Some(code) = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 2048)
    else {
        return refuse_with(
            &state,
            &client,
            "missing-code",
            None,
            &ip,
            StatusCode::BAD_REQUEST,
            "the identity provider sent no authorization code; start the sign-in again",
        )
        .await;
    };
    let verified = match oidc.provider.finish(code, &pending, state.now_i64()).await {
        Ok(v) => v,
        Err(e) => return refuse(&state, &client, &e, None, &ip).await,
    };
    let who = match identity(&oidc, &verified) {
        Ok(who) => who,
        Err((reason, message)) => {
            return refuse_with(
                &state,
                &client,
                reason,
                login_of(&verified).as_deref(),
                &ip,
                StatusCode::FORBIDDEN,
                &message,
            )
            .await;
        }
    };
    match state.vault().staff().oidc_sign_in(&who, Some(&ip)).await {
        Ok((token, session)) => {
            let mut resp = continue_page(stage_path(session.stage));
            if let Some(cookie) = session_cookie(Some(&client), token.expose()) {
                resp.headers_mut().append(header::SET_COOKIE, cookie);
            }
            if let Some(v) = flow_cookie(&client, "", 0) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(VaultError::Staff(e)) => {
            refused(&state, &client, StatusCode::FORBIDDEN, &e.to_string())
        }
        Err(e) => Problem::from(e).into_page_response(),
    }
}

/// At most 200 characters of something the provider said, printable only.
fn clip(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn login_of(v: &VerifiedIdentity) -> Option<String> {
    v.email
        .clone()
        .or_else(|| v.preferred_username.clone())
        .map(|l| l.trim().to_lowercase())
}

/// What the vault needs from a verified token, under this deployment's rules: the allowed
/// e-mail domains, the role mapping, whether the provider's MFA counts.
fn identity(
    oidc: &OidcConfig,
    v: &VerifiedIdentity,
) -> Result<ProviderIdentity, (&'static str, String)> {
    let login = login_of(v);
    if !oidc.allowed_domains.is_empty() {
        let domain = login
            .as_deref()
            .and_then(|l| l.rsplit_once('@'))
            .map(|(_, d)| d.to_owned())
            .unwrap_or_default();
        if !oidc
            .allowed_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&domain))
        {
            return Err((
                "domain-not-allowed",
                format!(
                    "accounts of {} cannot sign in to this tokendesk; ask a tokendesk administrator",
                    if domain.is_empty() {
                        "this kind"
                    } else {
                        &domain
                    }
                ),
            ));
        }
    }
    let values = v.claim_values(&oidc.role_claim);
    let role = oidc
        .role_map
        .iter()
        .find(|(claim, _)| values.iter().any(|v| v == claim))
        .map(|(_, role)| *role)
        .filter(|r| *r != Role::Admin);
    Ok(ProviderIdentity {
        issuer: v.issuer.clone(),
        subject: v.subject.clone(),
        login,
        name: v.name.clone(),
        role,
        second_factor_done: oidc.trust_provider_mfa && v.amr.iter().any(|a| a == "mfa"),
    })
}
