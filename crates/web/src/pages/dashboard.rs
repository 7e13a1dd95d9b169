//! `GET /`: records by state, overdue shipments, recent reveals and reveals per user.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Extension, State};
use tokendesk_vault::{AuditFilter, ListFilter, Permission};

use super::{Nav, fmt_opt_time, fmt_time, render};
use crate::AppState;
use crate::auth::Auth;
use crate::error::PageResult;

/// Shipments in transit longer than this are flagged.
pub(crate) const OVERDUE_DAYS: i64 = 14;

pub(crate) struct OverdueRow {
    pub id: String,
    pub upn: String,
    pub shipped: String,
    pub carrier: String,
    pub tracking: String,
    pub expected: String,
}

pub(crate) struct RevealRow {
    pub at: String,
    pub actor: String,
    pub subject: String,
    pub method: String,
    pub ticket: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    nav: Option<Nav>,
    by_state: Vec<(&'static str, i64)>,
    can_capture: bool,
    overdue_days: i64,
    overdue: Vec<OverdueRow>,
    show_reveals: bool,
    recent: Vec<RevealRow>,
    per_user: Vec<(String, i64)>,
}

fn detail_field(detail: &str, key: &str) -> String {
    serde_json::from_str::<serde_json::Value>(detail)
        .ok()
        .and_then(|v| v.get(key).and_then(|f| f.as_str().map(str::to_owned)))
        .unwrap_or_default()
}

pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
) -> PageResult {
    let vault = state.vault();
    let by_state = if auth.can(Permission::ViewRecords) {
        vault
            .count_by_state()
            .await?
            .into_iter()
            .map(|(s, n)| (s.as_str(), n))
            .collect()
    } else {
        Vec::new()
    };
    let overdue = if auth.can(Permission::ViewRecords) {
        vault
            .list(&ListFilter {
                state: None,
                overdue_days: Some(OVERDUE_DAYS),
            })
            .await?
            .into_iter()
            .map(|r| OverdueRow {
                shipped: fmt_opt_time(r.shipped_unix_secs),
                carrier: r.shipment.carrier.unwrap_or_default(),
                tracking: r.shipment.tracking.unwrap_or_default(),
                expected: fmt_opt_time(r.shipment.expected_unix_secs),
                id: r.id,
                upn: r.upn,
            })
            .collect()
    } else {
        Vec::new()
    };
    let show_reveals = auth.can(Permission::ViewAudit) || auth.can(Permission::ApproveReveal);
    let (mut recent, mut per_user) = (Vec::new(), Vec::new());
    if show_reveals {
        let week = vault
            .audit_list(&AuditFilter {
                action: Some("reveal".into()),
                since_unix_secs: Some(state.now_i64() - 7 * 86_400),
                ..AuditFilter::default()
            })
            .await?;
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for e in &week {
            *counts
                .entry(e.subject.clone().unwrap_or_default())
                .or_default() += 1;
        }
        per_user = counts.into_iter().collect();
        per_user.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        recent = week
            .iter()
            .rev()
            .take(10)
            .map(|e| RevealRow {
                at: fmt_time(e.at_unix_secs),
                actor: e.actor.clone(),
                subject: e.subject.clone().unwrap_or_default(),
                method: detail_field(&e.detail, "method"),
                ticket: detail_field(&e.detail, "ticket"),
            })
            .collect();
    }
    Ok(render(&Dashboard {
        nav: Some(Nav::for_auth(&auth)),
        by_state,
        can_capture: auth.can(Permission::Capture),
        overdue_days: OVERDUE_DAYS,
        overdue,
        show_reveals,
        recent,
        per_user,
    }))
}
