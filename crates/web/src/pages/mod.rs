//! Server-rendered HTML pages (askama templates under `templates/`). They work without
//! JavaScript; `assets/app.js` only keeps countdowns current.

pub(crate) mod account;
pub(crate) mod audit;
pub(crate) mod audit_sentence;
pub(crate) mod auth;
pub(crate) mod charts;
pub(crate) mod dashboard;
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
pub(crate) use crate::timefmt::{When, fmt_time};

impl Nav {
    pub fn for_auth(auth: &Auth) -> Self {
        let mut links = vec![("/", "Dashboard")];
        let optional = [
            (Permission::ViewRecords, "/records", "Records"),
            (Permission::Capture, "/wizard", "New token"),
            (Permission::ApproveReveal, "/approvals", "Approvals"),
            (Permission::Toolset, "/toolset", "Toolset"),
            (Permission::ViewAudit, "/audit", "Audit"),
            (Permission::ManageStaff, "/staff", "Staff"),
        ];
        for (p, href, label) in optional {
            if auth.can(p) {
                links.push((href, label));
            }
        }
        Self {
            name: auth.name.clone(),
            display_name: auth.display_name.clone(),
            role: auth.role.as_str(),
            zone: auth.zone.name().to_owned(),
            links,
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
