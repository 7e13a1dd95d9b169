//! `GET /`: records by state and shipments in transit by age (small SVG charts with their
//! numbers beside them), overdue shipments, recent reveals and reveals per user.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Extension, State};
use tokendesk_vault::{ALL_STATES, AuditFilter, ListFilter, Permission, State as RecordState};

use super::charts::{Bar, bar_chart, transit_ages};
use super::{Nav, When, render};
use crate::AppState;
use crate::auth::Auth;
use crate::error::PageResult;
use crate::i18n::Tr;

/// Shipments in transit longer than this are flagged.
pub(crate) const OVERDUE_DAYS: i64 = 14;

pub(crate) struct OverdueRow {
    pub id: String,
    pub upn: String,
    pub shipped: When,
    pub carrier: String,
    pub tracking: String,
    pub expected: When,
}

pub(crate) struct RevealRow {
    pub at: When,
    pub actor: String,
    pub subject: String,
    pub method: String,
    pub ticket: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    nav: Option<Nav>,
    t: Tr,
    /// State (for the link), its name in the page's language, count.
    by_state: Vec<(&'static str, String, i64)>,
    /// Records by state as a bar chart (SVG).
    state_chart: String,
    /// Shipments in transit by age: the chart (SVG) and its numbers.
    transit_chart: String,
    transit: Vec<(String, i64)>,
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

/// The two charts: records by state (every state, in lifecycle order) and shipments in
/// transit by how long they have been on the way.
async fn charts(
    state: &AppState,
    t: Tr,
    by_state: &[(&'static str, i64)],
) -> Result<(String, String, Vec<(String, i64)>), crate::error::PageError> {
    let bars: Vec<Bar> = ALL_STATES
        .iter()
        .map(|s| Bar {
            label: t.t(&format!("state-{}", s.as_str())),
            value: by_state
                .iter()
                .find(|(name, _)| *name == s.as_str())
                .map_or(0, |(_, n)| *n),
            class: "bar-state",
        })
        .collect();
    let now = state.now_i64();
    let ages: Vec<i64> = state
        .vault()
        .list(&ListFilter {
            state: Some(RecordState::Shipped),
            overdue_days: None,
        })
        .await?
        .iter()
        .filter_map(|r| r.shipped_unix_secs)
        .map(|t| (now - t).max(0) / 86_400)
        .collect();
    let transit = transit_ages(&ages, OVERDUE_DAYS, |key, days| t.tn(key, "days", days));
    Ok((
        bar_chart("state-chart", &t.t("by-state"), &bars),
        bar_chart("transit-chart", &t.t("in-transit"), &transit),
        transit.into_iter().map(|b| (b.label, b.value)).collect(),
    ))
}

pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
) -> PageResult {
    let vault = state.vault();
    let t = Tr(auth.lang);
    let by_state: Vec<(&'static str, i64)> = if auth.can(Permission::ViewRecords) {
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
                shipped: auth.zone.when_opt(r.shipped_unix_secs),
                carrier: r.shipment.carrier.unwrap_or_default(),
                tracking: r.shipment.tracking.unwrap_or_default(),
                expected: auth.zone.when_opt(r.shipment.expected_unix_secs),
                id: r.id,
                upn: r.upn,
            })
            .collect()
    } else {
        Vec::new()
    };
    let (state_chart, transit_chart, transit) = if auth.can(Permission::ViewRecords) {
        charts(&state, t, &by_state).await?
    } else {
        (String::new(), String::new(), Vec::new())
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
                at: auth.zone.when(e.at_unix_secs),
                actor: e.actor.clone(),
                subject: e.subject.clone().unwrap_or_default(),
                method: detail_field(&e.detail, "method"),
                ticket: detail_field(&e.detail, "ticket"),
            })
            .collect();
    }
    Ok(render(&Dashboard {
        nav: Some(Nav::for_auth(&auth)),
        t,
        by_state: by_state
            .into_iter()
            .map(|(s, n)| (s, t.t(&format!("state-{s}")), n))
            .collect(),
        state_chart,
        transit_chart,
        transit,
        can_capture: auth.can(Permission::Capture),
        overdue_days: OVERDUE_DAYS,
        overdue,
        show_reveals,
        recent,
        per_user,
    }))
}
