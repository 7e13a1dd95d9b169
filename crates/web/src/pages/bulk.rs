//! The bulk wizard (`/bulk`): paste or upload a CSV of UPNs, choose algorithm, period and the
//! users' language, "Check" (the dry run: every problem with its line, nothing changes) or
//! "Generate" (one transaction, all or nothing, the same vault call as `tokendesk bulk
//! generate`); the list of batches; and a batch's progress page (`/bulk/{id}`), which the
//! script `assets/bulk.js` reloads when the batch's JSON shows a change.

use askama::Template;
use axum::extract::{Extension, Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tokendesk_vault::Permission;

use super::{Nav, redirect, render};
use crate::AppState;
use crate::auth::Auth;
use crate::bulk;
use crate::error::{PageResult, Problem};
use crate::i18n::{LANGS, Msg, Tr};
use crate::timefmt::When;

/// Batches listed on the wizard page.
const LISTED: i64 = 50;

pub(crate) struct BatchLine {
    id: String,
    created: When,
    created_by: String,
    progress: String,
    complete: bool,
}

#[derive(Template)]
#[template(path = "bulk.html")]
struct BulkPage {
    nav: Option<Nav>,
    t: Tr,
    languages: Vec<(&'static str, &'static str)>,
    users: String,
    algorithm: String,
    period: String,
    language: String,
    errors: Vec<String>,
    notice: Option<String>,
    batches: Vec<BatchLine>,
}

impl BulkPage {
    async fn new(state: &AppState, auth: &Auth) -> Result<Self, Problem> {
        let t = Tr(auth.lang);
        let batches = state
            .vault()
            .batches(LISTED)
            .await?
            .into_iter()
            .map(|b| BatchLine {
                created: auth.zone.when(b.created_unix_secs),
                created_by: b.created_by,
                progress: Msg::new("bulk-progress")
                    .arg("burned", b.burned)
                    .arg("total", b.total)
                    .say(t),
                complete: b.burned == b.total,
                id: b.id,
            })
            .collect();
        Ok(Self {
            nav: Some(Nav::for_auth(auth)),
            t,
            languages: LANGS.iter().map(|l| (l.tag(), l.name())).collect(),
            users: String::new(),
            algorithm: "sha1".into(),
            period: "30".into(),
            language: String::new(),
            errors: Vec::new(),
            notice: None,
            batches,
        })
    }
}

/// `GET /bulk`.
pub(crate) async fn form(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
) -> PageResult {
    Ok(render(&BulkPage::new(&state, &auth).await?))
}

/// The posted form: the list typed or uploaded, and the choices.
#[derive(Default)]
struct Posted {
    action: String,
    users: String,
    file: Option<String>,
    algorithm: String,
    period: String,
    language: String,
}

async fn read_form(mut multipart: Multipart) -> Result<Posted, Problem> {
    let mut posted = Posted::default();
    while let Some((name, bytes)) = super::next_field(&mut multipart, "the form").await? {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        match name.as_str() {
            "users" => posted.users = text,
            "file" if !bytes.is_empty() => posted.file = Some(text),
            "action" => posted.action = text,
            "algorithm" => posted.algorithm = text,
            "period" => posted.period = text,
            "language" => posted.language = text,
            _ => {}
        }
    }
    Ok(posted)
}

fn with_status(mut resp: Response, status: StatusCode) -> Response {
    *resp.status_mut() = status;
    resp
}

/// `POST /bulk`: `action` = check (the dry run) or generate.
pub(crate) async fn submit(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    multipart: Multipart,
) -> PageResult {
    let mut page = BulkPage::new(&state, &auth).await?;
    let posted = read_form(multipart).await?;
    page.users = posted.file.unwrap_or(posted.users);
    page.algorithm = posted.algorithm.trim().to_owned();
    page.period = posted.period.trim().to_owned();
    page.language = posted.language.trim().to_owned();
    let t = page.t;
    let Some(params) = bulk::params(&page.algorithm, page.period.parse().unwrap_or(0)) else {
        page.errors = vec![t.t("bulk-params-invalid")];
        return Ok(with_status(render(&page), StatusCode::UNPROCESSABLE_ENTITY));
    };
    let language = match crate::pages::wizard::language_field(&page.language) {
        Ok(l) => l,
        Err(problem) => {
            page.errors = vec![problem.on_page()];
            return Ok(with_status(render(&page), problem.status));
        }
    };
    let checked = bulk::check(state.vault(), &page.users).await?;
    if !checked.errors.is_empty() {
        page.notice = Some(
            Msg::new("bulk-problems")
                .arg("n", checked.errors.len())
                .say(t),
        );
        page.errors = checked.errors;
        return Ok(with_status(render(&page), StatusCode::UNPROCESSABLE_ENTITY));
    }
    if posted.action != "generate" {
        page.notice = Some(Msg::new("bulk-ready").arg("n", checked.users.len()).say(t));
        return Ok(render(&page));
    }
    let proof = auth.authorize(Permission::Capture)?;
    match state
        .vault()
        .bulk_generate(&proof, &checked.users, params, language)
        .await
    {
        Ok(batch) => Ok(redirect(&format!("/bulk/{}", batch.id))),
        Err(e) => {
            let problem = Problem::from(e);
            page.errors = vec![problem.on_page()];
            Ok(with_status(render(&page), problem.status))
        }
    }
}

pub(crate) struct MemberLine {
    record_id: String,
    upn: String,
    /// `captured`, `bound`, `burned`, `shipped`, … (the script compares it).
    stage: String,
    status: String,
    serial: String,
    updated: When,
}

#[derive(Template)]
#[template(path = "bulk_batch.html")]
struct BatchPage {
    nav: Option<Nav>,
    t: Tr,
    id: String,
    created: When,
    created_by: String,
    params_label: String,
    progress: String,
    complete: bool,
    command: String,
    members: Vec<MemberLine>,
}

/// `GET /bulk/{id}`: the batch's progress.
pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> PageResult {
    let batch = state.vault().batch(&id).await?;
    let t = Tr(auth.lang);
    let members = batch
        .records
        .iter()
        .map(|r| {
            let stage = match (r.state, &r.serial) {
                (tokendesk_vault::State::Captured, Some(_)) => "bound".to_owned(),
                (s, _) => s.as_str().to_owned(),
            };
            let status = match (r.state, &r.serial) {
                (tokendesk_vault::State::Captured, Some(serial)) => {
                    t.t1("bulk-bound-to", "serial", serial)
                }
                (s, _) => t.state(s.as_str()),
            };
            MemberLine {
                record_id: r.id.clone(),
                upn: r.upn.clone(),
                stage,
                status,
                serial: r.serial.clone().unwrap_or_default(),
                updated: auth.zone.when(r.updated_unix_secs),
            }
        })
        .collect();
    let burned = batch.burned();
    let total = batch.records.len();
    let params = Msg::new("bulk-params")
        .arg("algorithm", batch.params.algorithm.to_string())
        .arg("period", i64::from(batch.params.period_secs))
        .say(t);
    let page = BatchPage {
        nav: Some(Nav::for_auth(&auth)),
        t,
        created: auth.zone.when(batch.created_unix_secs),
        created_by: batch.created_by.clone(),
        params_label: match &batch.language {
            Some(l) => format!("{params} · {l}"),
            None => params,
        },
        progress: Msg::new("bulk-progress")
            .arg("burned", burned)
            .arg("total", total)
            .say(t),
        complete: burned == total,
        command: bulk::command(&batch.id),
        id: batch.id,
        members,
    };
    Ok(render(&page))
}
