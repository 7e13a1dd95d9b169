//! Who is calling: the session cookie (browsers), a bearer desk token (`tokendesk login`) or a
//! bearer API key (automation), checked
//! against the permission matrix of `tokendesk_vault::policy` before any handler runs.
//!
//! Sessions live in the database (stateless instances). The cookie holds only a random token;
//! the database holds its SHA-256. Cookies are `HttpOnly; SameSite=Strict; Path=/`, plus
//! `Secure` and the `__Host-` prefix when the client reached us over HTTPS.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use tokendesk_vault::{
    Actor, Authorized, Permission, Policy, Principal, Role, Session, SessionStage, VaultError,
    allows,
};
use zeroize::Zeroizing;

use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, PageError, Problem};
use crate::i18n::Lang;
use crate::timefmt::Zone;

/// The cookie in which `assets/app.js` names the browser's time zone (an IANA name; not a
/// secret, read only as a preference).
pub(crate) const ZONE_COOKIE: &str = "tz";

/// What a route requires of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, always (health checks, static assets).
    Open,
    /// Only while no staff account exists (the first-admin setup).
    Setup,
    /// Anyone once set up (the sign-in pages).
    Public,
    /// A signed-in staff member whose session is not complete yet (password change, second
    /// factor): any role.
    Partial,
    /// A fully signed-in staff member in a browser (a session cookie; not an API key nor a
    /// desk token), any role: the desk approval page.
    Browser,
    /// A fully signed-in staff member or API key, any role.
    AnyStaff,
    /// A fully signed-in staff member or API key whose role has this permission.
    Needs(Permission),
}

/// The authenticated caller, in the request extensions of every guarded route.
#[derive(Clone, Debug)]
pub(crate) struct Auth {
    /// Login or API key name.
    pub name: String,
    /// The full name given to the account (the login name when none was given; the key name for
    /// an API key), shown in the page header.
    pub display_name: String,
    /// The role that was checked.
    pub role: Role,
    /// Recorded in audit events.
    pub actor: Actor,
    /// The desk's name, for a request made with a desk token (`tokendesk login`).
    pub desk: Option<String>,
    /// The time zone pages show times in: the staff member's setting, else the browser's
    /// (the `tz` cookie `assets/app.js` sets), else the server's.
    pub zone: Zone,
    /// The language of converted pages: the staff member's setting, else the browser's
    /// `Accept-Language`, else English.
    pub lang: Lang,
}

impl Auth {
    pub fn can(&self, p: Permission) -> bool {
        allows(self.role, p)
    }

    /// The vault's proof that this caller may do `p` (refused with 403 otherwise).
    pub fn authorize(&self, p: Permission) -> Result<Authorized, Problem> {
        Policy::authorize(
            &Principal {
                actor: self.actor.clone(),
                role: self.role,
            },
            p,
        )
        .map_err(|f| Problem::from(VaultError::from(f)))
    }
}

/// A signed-in session that may still be at an intermediate stage.
#[derive(Clone, Debug)]
pub(crate) struct PartialAuth(pub Session);

/// The session cookie's name for this client.
pub(crate) fn cookie_name(client: Option<&Client>) -> &'static str {
    if client.is_some_and(|c| c.https) {
        "__Host-tokendesk"
    } else {
        "tokendesk"
    }
}

/// `Set-Cookie` for a new session token.
pub(crate) fn session_cookie(client: Option<&Client>, token: &str) -> Option<HeaderValue> {
    let secure = if client.is_some_and(|c| c.https) {
        "; Secure"
    } else {
        ""
    };
    let value = Zeroizing::new(format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict{secure}",
        cookie_name(client)
    ));
    HeaderValue::from_str(&value).ok().map(|mut v| {
        v.set_sensitive(true);
        v
    })
}

/// `Set-Cookie` that removes the session cookie.
pub(crate) fn clear_cookie(client: Option<&Client>) -> HeaderValue {
    let secure = if client.is_some_and(|c| c.https) {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
        cookie_name(client)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("tokendesk=; Path=/; Max-Age=0"))
}

/// The session token from the `Cookie` header, if any.
pub(crate) fn session_token(
    headers: &HeaderMap,
    client: Option<&Client>,
) -> Option<Zeroizing<String>> {
    cookie_value(headers, cookie_name(client))
}

/// The value of cookie `name` from the `Cookie` headers, if present and not empty.
pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<Zeroizing<String>> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| Zeroizing::new(v.to_owned()))
        .filter(|v| !v.is_empty())
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<Zeroizing<String>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| Zeroizing::new(token.trim().to_owned()))
}

/// How an unauthenticated browser request is answered: 401 with the sign-in form.
fn login_required(api: bool, state: &AppState) -> Response {
    if api {
        ApiError(Problem::unauthenticated()).into_response()
    } else {
        let mut resp = (
            StatusCode::UNAUTHORIZED,
            Html(crate::html::login_page(None, None, state.provider_label())),
        )
            .into_response();
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

fn problem(api: bool, p: Problem) -> Response {
    if api {
        ApiError(p).into_response()
    } else {
        PageError(p).into_response()
    }
}

/// The language `Accept-Language` asks for (English without one).
fn browser_lang(headers: &HeaderMap) -> Lang {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map_or(Lang::En, Lang::from_accept_language)
}

/// A person's own language setting, else the browser's.
fn staff_lang(setting: Option<&str>, headers: &HeaderMap) -> Lang {
    setting
        .and_then(Lang::parse)
        .unwrap_or_else(|| browser_lang(headers))
}

/// The guard in front of every route (see [`crate::routes::table`]). Everything it and the
/// handler render is in the request's language: the browser's until a session names the
/// person's own.
pub(crate) async fn gate(
    access: Access,
    api: bool,
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if access == Access::Open {
        return next.run(req).await;
    }
    let lang = browser_lang(req.headers());
    crate::i18n::scoped(lang, guard(access, api, state, req, next)).await
}

async fn guard(
    access: Access,
    api: bool,
    state: AppState,
    mut req: Request,
    next: Next,
) -> Response {
    // Requests that check a sign-in secret spend the client address's budget first, before
    // anything is read or written (a flood costs neither Argon2 nor audit rows).
    if req.method() == axum::http::Method::POST
        && matches!(access, Access::Public | Access::Partial | Access::Setup)
        && let Some(client) = req.extensions().get::<Client>()
        && let Err(wait) = state.take_signin_attempt(client.ip)
    {
        let mut p = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many sign-in attempts from your address; try again in {wait} s"),
        );
        p.retry_after = Some(i64::try_from(wait).unwrap_or(i64::MAX));
        return problem(api, p);
    }
    let set_up = match state.is_set_up().await {
        Ok(v) => v,
        Err(e) => return problem(api, e.into()),
    };
    if access == Access::Setup {
        if set_up {
            return problem(
                api,
                Problem::new(
                    StatusCode::GONE,
                    "already_set_up",
                    "tokendesk is already set up; sign in instead",
                ),
            );
        }
        return next.run(req).await;
    }
    if !set_up {
        return problem(
            api,
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_set_up",
                "tokendesk is not set up yet: open the one-time setup link printed by `tokendesk serve`",
            ),
        );
    }
    if access == Access::Public {
        return next.run(req).await;
    }
    let client = req.extensions().get::<Client>().copied();
    // A bearer desk token acts as its staff member with their current role; a bearer API
    // key (automation) is always fully authenticated.
    if let Some(token) = bearer(req.headers()) {
        if access == Access::Partial || access == Access::Browser {
            return problem(api, Problem::forbidden());
        }
        if token.starts_with(tokendesk_vault::DESK_TOKEN_PREFIX) {
            return match state.vault().staff().desk_token(&token).await {
                Ok(Some(desk)) => {
                    if let Access::Needs(p) = access
                        && !allows(desk.staff.role, p)
                    {
                        return problem(api, Problem::forbidden());
                    }
                    let zone = Zone::first_of([desk.staff.time_zone.as_deref()], state.zone());
                    let lang = staff_lang(desk.staff.language.as_deref(), req.headers());
                    req.extensions_mut().insert(Auth {
                        lang,
                        zone,
                        actor: desk.principal().actor,
                        display_name: desk.staff.display_name.clone(),
                        name: desk.staff.username.clone(),
                        role: desk.staff.role,
                        desk: Some(desk.session.desk_name),
                    });
                    crate::i18n::scoped(lang, next.run(req)).await
                }
                Ok(None) => problem(api, Problem::unauthenticated()),
                Err(e) => problem(api, e.into()),
            };
        }
        let key = match state.vault().staff().apikey(&token).await {
            Ok(Some(key)) => key,
            Ok(None) => return problem(api, Problem::unauthenticated()),
            Err(e) => return problem(api, e.into()),
        };
        if let Access::Needs(p) = access
            && !allows(key.role, p)
        {
            return problem(api, Problem::forbidden());
        }
        req.extensions_mut().insert(Auth {
            lang: Lang::default(),
            zone: state.zone().clone(),
            actor: Actor::new(format!("apikey:{}", key.name)),
            display_name: key.name.clone(),
            name: key.name,
            role: key.role,
            desk: None,
        });
        return next.run(req).await;
    }
    let Some(token) = session_token(req.headers(), client.as_ref()) else {
        return login_required(api, &state);
    };
    let session = match state.vault().staff().session(&token).await {
        Ok(Some(s)) => s,
        Ok(None) => return login_required(api, &state),
        Err(e) => return problem(api, e.into()),
    };
    let lang = staff_lang(session.staff.language.as_deref(), req.headers());
    if access == Access::Partial {
        req.extensions_mut().insert(PartialAuth(session));
        return crate::i18n::scoped(lang, next.run(req)).await;
    }
    if session.stage != SessionStage::Full {
        // Signed in with the password only: finish the second factor first.
        if api {
            return problem(api, Problem::unauthenticated());
        }
        return crate::html::redirect(crate::html::stage_path(session.stage));
    }
    if let Access::Needs(p) = access
        && !allows(session.staff.role, p)
    {
        return problem(api, Problem::forbidden());
    }
    let browser_zone = cookie_value(req.headers(), ZONE_COOKIE);
    let zone = Zone::first_of(
        [
            session.staff.time_zone.as_deref(),
            browser_zone.as_deref().map(String::as_str),
        ],
        state.zone(),
    );
    req.extensions_mut().insert(Auth {
        lang,
        zone,
        actor: Actor::new(session.staff.username.clone()),
        display_name: if session.staff.display_name.trim().is_empty() {
            session.staff.username.clone()
        } else {
            session.staff.display_name.clone()
        },
        name: session.staff.username.clone(),
        role: session.staff.role,
        desk: None,
    });
    crate::i18n::scoped(lang, next.run(req)).await
}

/// A typed password or passphrase as the vault takes it (wiped on drop).
pub(crate) fn passphrase(text: &str) -> tokendesk_vault::Passphrase {
    tokendesk_vault::Passphrase::new(Zeroizing::new(text.to_owned()))
}
