//! Staff administration (admins): accounts, roles, disabling, password/second-factor resets,
//! API keys, and every desk session (revoked through `/desk/sessions/{id}/revoke`). One-time passwords and API keys are shown once, on the response page only.

use askama::Template;
use axum::Form;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tokendesk_vault::{Permission, Role, SecretString};
use zeroize::Zeroize;

use super::{Nav, When, render};
use crate::AppState;
use crate::auth::Auth;
use crate::error::{PageResult, Problem};
use crate::i18n::{Msg, Tr};

pub(crate) struct StaffRow {
    username: String,
    display_name: String,
    role: String,
    status: String,
    disabled: bool,
    last_login: When,
}

pub(crate) struct KeyRow {
    name: String,
    role: String,
    created: When,
    last_used: When,
    status: String,
    revoked: bool,
}

#[derive(Template)]
#[template(path = "staff.html")]
struct StaffPage {
    nav: Option<Nav>,
    t: Tr,
    error: Option<String>,
    shown_once: Option<(String, String)>,
    roles: Vec<&'static str>,
    rows: Vec<StaffRow>,
    keys: Vec<KeyRow>,
    desks: Vec<super::desk::DeskRow>,
}

impl Drop for StaffPage {
    fn drop(&mut self) {
        if let Some((_, secret)) = &mut self.shown_once {
            secret.zeroize();
        }
    }
}

async fn page(
    state: &AppState,
    auth: &Auth,
    error: Option<String>,
    shown_once: Option<(String, SecretString)>,
) -> PageResult {
    let vault = state.vault();
    let t = Tr(auth.lang);
    let rows = vault
        .staff()
        .list()
        .await?
        .into_iter()
        .map(|s| StaffRow {
            status: t.t(if s.disabled {
                "status-disabled"
            } else if !s.totp_enrolled {
                "status-no-factor"
            } else {
                "status-active"
            }),
            disabled: s.disabled,
            last_login: auth.zone.when_opt(s.last_login_unix_secs),
            role: s.role.as_str().to_owned(),
            display_name: s.display_name,
            username: s.username,
        })
        .collect();
    let keys = vault
        .staff()
        .apikey_list()
        .await?
        .into_iter()
        .map(|k| KeyRow {
            status: t.t(if k.revoked_unix_secs.is_some() {
                "status-revoked"
            } else {
                "status-active"
            }),
            revoked: k.revoked_unix_secs.is_some(),
            created: auth.zone.when(k.created_unix_secs),
            last_used: auth.zone.when_opt(k.last_used_unix_secs),
            role: k.role.as_str().to_owned(),
            name: k.name,
        })
        .collect();
    let desks = vault
        .staff()
        .desk_sessions(None)
        .await?
        .into_iter()
        .map(|d| super::desk::DeskRow::new(d, &auth.zone))
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut resp = render(&StaffPage {
        nav: Some(Nav::for_auth(auth)),
        t,
        error,
        shown_once: shown_once.map(|(l, s)| (l, s.expose().to_owned())),
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        rows,
        keys,
        desks,
    });
    *resp.status_mut() = status;
    Ok(resp)
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
) -> PageResult {
    page(&state, &auth, None, None).await
}

fn role(text: &str) -> Result<Role, Problem> {
    text.parse::<Role>()
        .map_err(|e| Problem::invalid(e.to_string()))
}

#[derive(Deserialize)]
pub(crate) struct AddForm {
    username: String,
    #[serde(default)]
    display_name: String,
    role: String,
}

pub(crate) async fn add(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Form(form): Form<AddForm>,
) -> PageResult {
    let result = async {
        let role = role(&form.role)?;
        let display = if form.display_name.trim().is_empty() {
            form.username.trim()
        } else {
            form.display_name.trim()
        };
        let (staff, password) = state
            .vault()
            .staff()
            .add(
                &auth.authorize(Permission::ManageStaff)?,
                form.username.trim(),
                display,
                role,
            )
            .await?;
        Ok::<_, Problem>((
            format!("One-time password for {}", staff.username),
            password,
        ))
    }
    .await;
    match result {
        Ok(shown) => page(&state, &auth, None, Some(shown)).await,
        Err(p) => page(&state, &auth, Some(p.on_page()), None).await,
    }
}

#[derive(Deserialize)]
pub(crate) struct ActionForm {
    action: String,
    #[serde(default)]
    role: String,
}

pub(crate) async fn action(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(username): Path<String>,
    Form(form): Form<ActionForm>,
) -> PageResult<Response> {
    let vault = state.vault();
    let result: Result<Option<(String, SecretString)>, Problem> = async {
        let authz = auth.authorize(Permission::ManageStaff)?;
        let shown = match form.action.as_str() {
            "disable" => {
                vault.staff().disable(&authz, &username).await?;
                None
            }
            "enable" => {
                vault.staff().enable(&authz, &username).await?;
                None
            }
            "role" => {
                vault
                    .staff()
                    .set_role(&authz, &username, role(&form.role)?)
                    .await?;
                None
            }
            "reset" => {
                let password = vault.staff().reset(&authz, &username).await?;
                Some((
                    Tr(auth.lang).t1("one-time-password-for", "user", &username),
                    password,
                ))
            }
            other => {
                return Err(Problem::invalid(format!("unknown action {other:?}"))
                    .say(Msg::new("unknown-action").arg("action", other)));
            }
        };
        Ok(shown)
    }
    .await;
    match result {
        Ok(shown) => page(&state, &auth, None, shown).await,
        Err(p) => page(&state, &auth, Some(p.on_page()), None).await,
    }
}

#[derive(Deserialize)]
pub(crate) struct KeyForm {
    name: String,
    role: String,
}

pub(crate) async fn apikey_create(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Form(form): Form<KeyForm>,
) -> PageResult {
    let result = async {
        let role = role(&form.role)?;
        let (key, token) = state
            .vault()
            .staff()
            .apikey_create(
                &auth.authorize(Permission::ManageApiKeys)?,
                form.name.trim(),
                role,
            )
            .await?;
        Ok::<_, Problem>((Tr(auth.lang).t1("api-key-shown", "name", key.name), token))
    }
    .await;
    match result {
        Ok(shown) => page(&state, &auth, None, Some(shown)).await,
        Err(p) => page(&state, &auth, Some(p.on_page()), None).await,
    }
}

pub(crate) async fn apikey_revoke(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(name): Path<String>,
) -> PageResult {
    let authz = match auth.authorize(Permission::ManageApiKeys) {
        Ok(a) => a,
        Err(p) => return page(&state, &auth, Some(p.on_page()), None).await,
    };
    match state.vault().staff().apikey_revoke(&authz, &name).await {
        Ok(_) => page(&state, &auth, None, None).await,
        Err(e) => page(&state, &auth, Some(Problem::from(e).on_page()), None).await,
    }
}
