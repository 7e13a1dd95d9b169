//! Every route, declared once with the access it needs. The router is built from this table
//! and each route gets its guard from its own row, so a route cannot exist unguarded and the
//! permission-matrix test (`it::matrix`) sees exactly the routes the server serves.

use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use tokendesk_vault::Permission as P;

use crate::auth::{Access, gate};
use crate::client::Client;
use crate::{
    AppState, MAX_UPLOAD_BYTES, api, assets, burn_grant, capture, pages, signin_oidc, toolset,
};

/// One row of the route table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    /// HTTP method.
    pub method: &'static str,
    /// Path pattern (`{id}` for parameters).
    pub path: &'static str,
    /// What the caller needs.
    pub access: Access,
    /// JSON API route (errors as JSON) rather than a page.
    pub api: bool,
}

struct Builder {
    state: AppState,
    router: Router<AppState>,
    specs: Vec<RouteSpec>,
}

impl Builder {
    fn add(
        mut self,
        method: Method,
        path: &'static str,
        access: Access,
        handler: MethodRouter<AppState>,
    ) -> Self {
        let api = path.starts_with("/api/");
        let guarded = handler.route_layer(from_fn_with_state(
            self.state.clone(),
            move |st: State<AppState>, req: Request, next: Next| gate(access, api, st, req, next),
        ));
        self.router = self.router.route(path, guarded);
        self.specs.push(RouteSpec {
            method: method_name(&method),
            path,
            access,
            api,
        });
        self
    }

    fn get(self, path: &'static str, access: Access, h: MethodRouter<AppState>) -> Self {
        self.add(Method::GET, path, access, h)
    }

    fn post(self, path: &'static str, access: Access, h: MethodRouter<AppState>) -> Self {
        self.add(Method::POST, path, access, h)
    }
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "GET",
    }
}

/// Routes that take files get the larger upload limit.
fn upload(h: MethodRouter<AppState>) -> MethodRouter<AppState> {
    h.layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
}

fn build(state: AppState) -> Builder {
    use Access::{AnyStaff, Browser, Needs, Open, Partial, Public, Setup};
    let b = Builder {
        state,
        router: Router::new(),
        specs: Vec::new(),
    };
    b
        // Infrastructure.
        .get("/healthz", Open, get(pages::healthz))
        .get("/readyz", Open, get(pages::readyz))
        .get("/assets/app.css", Open, get(assets::css))
        .get("/assets/app.js", Open, get(assets::js))
        .get("/assets/capture.js", Open, get(assets::capture_js))
        .get("/assets/burn.js", Open, get(assets::burn_js))
        .get("/assets/bulk.js", Open, get(assets::bulk_js))
        .get("/api/v1/openapi.json", Open, get(api::openapi))
        // First administrator.
        .get("/setup", Setup, get(pages::auth::setup_form))
        .post("/setup", Setup, post(pages::auth::setup_submit))
        // Signing in.
        .get("/login", Public, get(pages::auth::login_form))
        .post("/login", Public, post(pages::auth::login_submit))
        .get("/login/oidc", Public, get(signin_oidc::start))
        .get("/login/oidc/callback", Public, get(signin_oidc::callback))
        .get("/login/totp", Partial, get(pages::auth::totp_form))
        .post("/login/totp", Partial, post(pages::auth::totp_submit))
        .get(
            "/account/password",
            Partial,
            get(pages::auth::password_form),
        )
        .post(
            "/account/password",
            Partial,
            post(pages::auth::password_submit),
        )
        .get("/account/totp", Partial, get(pages::auth::enrol_form))
        .post("/account/totp", Partial, post(pages::auth::enrol_submit))
        .post("/logout", Partial, post(pages::auth::logout))
        // Desk sign-in: the person's side (a browser session with its second factor).
        .get("/desk", Browser, get(pages::desk::form))
        .post("/desk", Browser, post(pages::desk::answer))
        .post(
            "/desk/sessions/{id}/revoke",
            Browser,
            post(pages::desk::revoke),
        )
        // Pages.
        .get("/", AnyStaff, get(pages::dashboard::show))
        .get("/account", AnyStaff, get(pages::account::show))
        .post("/account", AnyStaff, post(pages::account::save))
        .get("/toolset", Needs(P::Toolset), get(toolset::form))
        .post("/toolset", Needs(P::Toolset), post(toolset::submit))
        .get("/records", Needs(P::ViewRecords), get(pages::records::list))
        .get(
            "/records/{id}",
            Needs(P::ViewRecords),
            get(pages::records::show),
        )
        .post(
            "/records/{id}/transition",
            Needs(P::Transition),
            post(pages::records::transition),
        )
        .post(
            "/records/{id}/contact",
            Needs(P::Capture),
            post(pages::records::contact),
        )
        .post(
            "/records/{id}/purge",
            Needs(P::Purge),
            post(pages::records::purge),
        )
        .get(
            "/records/{id}/reveal",
            Needs(P::Reveal),
            get(pages::reveal::form),
        )
        .post(
            "/records/{id}/reveal",
            Needs(P::Reveal),
            post(pages::reveal::submit),
        )
        .post(
            "/records/{id}/approval",
            Needs(P::Reveal),
            post(pages::reveal::request_approval),
        )
        .get(
            "/approvals",
            Needs(P::ApproveReveal),
            get(pages::reveal::approvals),
        )
        .post(
            "/approvals/{id}/approve",
            Needs(P::ApproveReveal),
            post(pages::reveal::approve),
        )
        .post(
            "/records/{id}/burn-grant",
            Needs(P::Capture),
            post(burn_grant::page),
        )
        .get("/wizard", Needs(P::Capture), get(pages::wizard::form))
        .post(
            "/wizard",
            Needs(P::Capture),
            upload(post(pages::wizard::submit)),
        )
        .post(
            "/wizard/frame",
            Needs(P::Capture),
            upload(post(capture::frame)),
        )
        .get("/bulk", Needs(P::Capture), get(pages::bulk::form))
        .post(
            "/bulk",
            Needs(P::Capture),
            upload(post(pages::bulk::submit)),
        )
        .get("/bulk/{id}", Needs(P::Capture), get(pages::bulk::show))
        .get("/audit", Needs(P::ViewAudit), get(pages::audit::list))
        .get("/audit.csv", Needs(P::ViewAudit), get(pages::audit::csv))
        .get("/staff", Needs(P::ManageStaff), get(pages::staff::list))
        .post("/staff", Needs(P::ManageStaff), post(pages::staff::add))
        .post(
            "/staff/{username}/action",
            Needs(P::ManageStaff),
            post(pages::staff::action),
        )
        .post(
            "/apikeys",
            Needs(P::ManageApiKeys),
            post(pages::staff::apikey_create),
        )
        .post(
            "/apikeys/{name}/revoke",
            Needs(P::ManageApiKeys),
            post(pages::staff::apikey_revoke),
        )
        // JSON API. The desk's side of desk sign-in: `start` is limited like a sign-in; `poll`
        // is open, because the device code it carries is the credential (unguessable, hashed,
        // single-use) and the vault slows a desk that polls too often.
        .post("/api/v1/desk/start", Public, post(api::desk_start))
        .post("/api/v1/desk/poll", Open, post(api::desk_poll))
        .post("/api/v1/desk/logout", AnyStaff, post(api::desk_logout))
        .get(
            "/api/v1/records",
            Needs(P::ViewRecords),
            get(api::records_list),
        )
        .post(
            "/api/v1/records",
            Needs(P::Capture),
            post(api::records_create),
        )
        .get(
            "/api/v1/records/{id}",
            Needs(P::ViewRecords),
            get(api::record_get),
        )
        .post(
            "/api/v1/records/{id}/reveal",
            Needs(P::Reveal),
            post(api::reveal),
        )
        .post(
            "/api/v1/records/{id}/transition",
            Needs(P::Transition),
            post(api::transition),
        )
        .post(
            "/api/v1/records/{id}/contact",
            Needs(P::Capture),
            post(api::contact),
        )
        .post(
            "/api/v1/records/{id}/approval",
            Needs(P::Reveal),
            post(api::request_approval),
        )
        .post(
            "/api/v1/approvals/{id}/approve",
            Needs(P::ApproveReveal),
            post(api::approve),
        )
        .post(
            "/api/v1/records/{id}/burn-grant",
            Needs(P::Capture),
            post(burn_grant::create),
        )
        .post(
            "/api/v1/burn-grants/fetch",
            Needs(P::Capture),
            post(burn_grant::fetch),
        )
        .post(
            "/api/v1/records/{id}/burned",
            Needs(P::Transition),
            post(burn_grant::burned),
        )
        .post("/api/v1/bulk", Needs(P::Capture), post(api::bulk_create))
        .get("/api/v1/bulk/{id}", Needs(P::Capture), get(api::bulk_get))
        .post(
            "/api/v1/bulk/{id}/fetch",
            Needs(P::Capture),
            post(api::bulk_fetch),
        )
        .get("/api/v1/audit", Needs(P::ViewAudit), get(api::audit))
        .post(
            "/api/v1/import",
            Needs(P::Import),
            upload(post(api::import)),
        )
        // A POST: an export discloses seeds and writes audit entries, so a cross-site image
        // or link cannot trigger it, and cookie sessions pass the cross-origin check.
        .post("/api/v1/export", Needs(P::Export), post(api::export))
}

/// The router with every route of [`table`] and its guard.
pub(crate) fn router(state: AppState) -> Router<AppState> {
    build(state).router
}

/// Every route the router serves, with its access rule.
pub fn table(state: AppState) -> Vec<RouteSpec> {
    build(state).specs
}

/// The route pattern a request matched (`/records/{id}`), never its actual path: what logs and
/// metrics may name.
pub(crate) fn route_pattern(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(unmatched)".to_owned(), |p| p.as_str().to_owned())
}

/// Middleware: one log line per request with the route pattern (never the query string, so
/// nothing typed into a URL by mistake reaches the log), the status and the latency.
pub(crate) async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = route_pattern(&req);
    let ip = req
        .extensions()
        .get::<Client>()
        .map_or_else(String::new, |c| c.ip.to_string());
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if route != "/healthz" && route != "/readyz" {
        tracing::info!(%method, route, status, ms = format_args!("{ms:.1}"), client = %ip, "request");
    }
    resp
}
