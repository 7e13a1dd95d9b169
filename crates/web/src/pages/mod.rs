//! Server-rendered HTML pages (askama templates under `templates/`). They work without
//! JavaScript; `assets/app.js` only keeps countdowns current.

pub(crate) mod account;
pub(crate) mod audit;
pub(crate) mod audit_sentence;
pub(crate) mod auth;
pub(crate) mod bulk;
pub(crate) mod charts;
pub(crate) mod dashboard;
pub(crate) mod desk;
pub(crate) mod records;
pub(crate) mod reveal;
pub(crate) mod staff;
pub(crate) mod user_message;
pub(crate) mod wizard;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokendesk_vault::Permission;

use crate::AppState;
use crate::auth::Auth;
pub(crate) use crate::html::{Nav, redirect, render};
use crate::i18n::Tr;
pub(crate) use crate::timefmt::{When, fmt_time};

/// The next field of a posted multipart form (`what` names the form in a refusal): its name and
/// its bytes, read whole under the route's body limit.
pub(crate) async fn next_field(
    multipart: &mut axum::extract::Multipart,
    what: &str,
) -> Result<Option<(String, axum::body::Bytes)>, crate::error::Problem> {
    let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| crate::error::Problem::multipart(what, &e))?
    else {
        return Ok(None);
    };
    let name = field.name().unwrap_or_default().to_owned();
    let bytes = field
        .bytes()
        .await
        .map_err(|e| crate::error::Problem::multipart(what, &e))?;
    Ok(Some((name, bytes)))
}

impl Nav {
    /// The header of a page, in the viewer's language.
    pub fn for_auth(auth: &Auth) -> Self {
        let t = Tr(auth.lang);
        let mut links = vec![("/", t.t("nav-dashboard"))];
        if auth.desk.is_none() {
            links.push(("/desk", t.t("nav-desks")));
        }
        let optional = [
            (Permission::ViewRecords, "/records", "nav-records"),
            (Permission::Capture, "/wizard", "nav-new-token"),
            (Permission::Capture, "/bulk", "nav-bulk"),
            (Permission::ApproveReveal, "/approvals", "nav-approvals"),
            (Permission::Toolset, "/toolset", "nav-toolset"),
            (Permission::ViewAudit, "/audit", "nav-audit"),
            (Permission::ManageStaff, "/staff", "nav-staff"),
        ];
        for (p, href, key) in optional {
            if auth.can(p) {
                links.push((href, t.t(key)));
            }
        }
        Self {
            name: auth.name.clone(),
            display_name: auth.display_name.clone(),
            role: t.t(&format!("role-{}", auth.role.as_str())),
            zone: auth.zone.name().to_owned(),
            links,
            t,
        }
    }
}

/// `GET /healthz`: the process is up.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers (a load balancer stops sending traffic otherwise).
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    match state.vault().staff().count().await {
        Ok(_) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}
