//! The audit trail for auditors and admins: filters, the chain verification result, and a CSV
//! download of the filtered entries.

use askama::Template;
use axum::extract::{Extension, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;
use tokendesk_vault::{AuditEntry, AuditFilter};

use super::audit_sentence::sentence;
use super::{Nav, When, fmt_time, render};
use crate::AppState;
use crate::auth::Auth;
use crate::error::{PageError, PageResult};
use crate::i18n::Tr;
use crate::timefmt::Zone;

/// Most entries on one page (the CSV has them all).
const PAGE_LIMIT: i64 = 1000;

#[derive(Deserialize, Default, Clone)]
pub(crate) struct Filters {
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub since: String,
    #[serde(default)]
    pub until: String,
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

impl Filters {
    pub(crate) fn to_filter(
        &self,
        zone: &Zone,
        limit: Option<i64>,
    ) -> Result<AuditFilter, PageError> {
        Ok(AuditFilter {
            subject: opt(&self.user).map(|u| u.to_lowercase()),
            actor: opt(&self.actor),
            action: opt(&self.action),
            since_unix_secs: opt(&self.since).map(|d| zone.parse_date(&d)).transpose()?,
            // "until" is inclusive of that day.
            until_unix_secs: opt(&self.until)
                .map(|d| zone.parse_date(&d).map(|t| t + 86_400))
                .transpose()?,
            limit,
        })
    }

    fn query(&self) -> String {
        let pairs = [
            ("user", &self.user),
            ("actor", &self.actor),
            ("action", &self.action),
            ("since", &self.since),
            ("until", &self.until),
        ];
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                )
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

pub(crate) struct Row {
    seq: i64,
    at: When,
    actor: String,
    action: String,
    subject: String,
    /// The entry as a sentence ([`sentence`]).
    sentence: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    t: Tr,
    chain_ok: bool,
    chain: String,
    f: Filters,
    query: String,
    /// The action names that occur in the trail (the action filter's choices).
    actions: Vec<String>,
    rows: Vec<Row>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Query(f): Query<Filters>,
) -> PageResult {
    let filter = f.to_filter(&auth.zone, Some(PAGE_LIMIT))?;
    let entries = state.vault().audit_list(&filter).await?;
    let report = state.vault().audit_verify().await?;
    let chain_ok = report.problem.is_none();
    let t = Tr(auth.lang);
    let chain = match &report.problem {
        None => t.tn("chain-ok", "entries", report.entries),
        Some(problem) => t.t1("chain-broken", "problem", problem),
    };
    let rows = entries
        .into_iter()
        .rev()
        .map(|e| Row {
            seq: e.seq,
            at: auth.zone.when(e.at_unix_secs),
            sentence: sentence(t, &e.action, &e.detail, &auth.zone),
            actor: e.actor,
            action: e.action,
            subject: e.subject.unwrap_or_default(),
            detail: e.detail,
        })
        .collect();
    Ok(render(&AuditPage {
        nav: Some(Nav::for_auth(&auth)),
        t,
        chain_ok,
        chain,
        query: f.query(),
        actions: state.vault().audit_actions().await?,
        f,
        rows,
    }))
}

/// The audit CSV, written by the one CSV writer (`tokendesk_formats::csv::push_record`: fields
/// quoted where needed, formula-like cells neutralised).
pub(crate) fn to_csv(t: Tr, entries: &[AuditEntry], zone: &Zone) -> String {
    use tokendesk_formats::csv::push_record;
    let mut out = String::new();
    push_record(
        &mut out,
        &[
            "seq",
            "time_utc",
            "unix_secs",
            "time_local",
            "actor",
            "action",
            "subject",
            "record_id",
            "what",
            "detail",
        ],
        "\r\n",
    );
    for e in entries {
        push_record(
            &mut out,
            &[
                e.seq.to_string().as_str(),
                &fmt_time(e.at_unix_secs),
                &e.at_unix_secs.to_string(),
                &zone.when(e.at_unix_secs).text(),
                &e.actor,
                &e.action,
                e.subject.as_deref().unwrap_or(""),
                e.record_id.as_deref().unwrap_or(""),
                &sentence(t, &e.action, &e.detail, zone),
                &e.detail,
            ],
            "\r\n",
        );
    }
    out
}

pub(crate) async fn csv(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Query(f): Query<Filters>,
) -> PageResult {
    let entries = state
        .vault()
        .audit_list(&f.to_filter(&auth.zone, None)?)
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"tokendesk-audit.csv\"",
            ),
        ],
        to_csv(Tr(auth.lang), &entries, &auth.zone),
    )
        .into_response())
}
