//! Records: the list, one record's page with its history, and the lifecycle actions.

use askama::Template;
use axum::Form;
use axum::extract::{Extension, Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use tokendesk_vault::{
    ALL_STATES, AuditFilter, ListFilter, MAX_PAGE_SIZE, PageCursor, PageQuery, Permission, Record,
    RecordId, Shipment, State as RecordState, TokenUpdate,
};
use zeroize::Zeroize;

use super::{Nav, When, redirect, render};
use crate::AppState;
use crate::auth::Auth;
use crate::error::{PageResult, Problem};
use crate::i18n::{LANGS, Lang, Msg, Tr};

/// Rows on one page of the records list (the API's default page size too).
pub(crate) const PAGE_SIZE: i64 = 100;

/// How far (in steps either side) a delivery code may be from now: a token that drifted up
/// to ±10 minutes in transit is still recognised, and the drift is recorded.
pub(crate) const DELIVERY_WINDOW_STEPS: u64 = 20;

/// The list's filters and paging, shared by the records page and `GET /api/v1/records`.
#[derive(Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    state: String,
    /// Part of the UPN.
    #[serde(default)]
    q: String,
    /// Only shipments in transit longer than this many days.
    overdue_days: Option<i64>,
    /// Next page: the records after this record id.
    #[serde(default)]
    after: String,
    /// Previous page: the records before this record id.
    #[serde(default)]
    before: String,
    /// Page size, 1 to [`MAX_PAGE_SIZE`]; [`PAGE_SIZE`] when absent.
    limit: Option<i64>,
}

impl ListQuery {
    /// The vault's page query, or a 400 naming the bad parameter.
    pub(crate) fn to_page_query(&self) -> Result<PageQuery, Problem> {
        let state = match self.state.trim() {
            "" => None,
            s => Some(
                s.parse::<RecordState>()
                    .map_err(|e| Problem::bad_request(e.to_string()))?,
            ),
        };
        if self.overdue_days.is_some_and(|d| d < 0) {
            return Err(Problem::bad_request("overdue_days must be 0 or more"));
        }
        let limit = self.limit.unwrap_or(PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(Problem::bad_request(format!(
                "limit must be 1 to {MAX_PAGE_SIZE}"
            )));
        }
        let cursor = match (self.after.trim(), self.before.trim()) {
            ("", "") => PageCursor::First,
            (a, "") => PageCursor::After(a.to_owned()),
            ("", b) => PageCursor::Before(b.to_owned()),
            _ => {
                return Err(Problem::bad_request(
                    "give either `after` (next page) or `before` (previous page), not both",
                ));
            }
        };
        Ok(PageQuery {
            filter: ListFilter {
                state,
                overdue_days: self.overdue_days,
            },
            upn_contains: Some(self.q.trim().to_owned()).filter(|t| !t.is_empty()),
            cursor,
            limit,
        })
    }

    /// A link to another page of the records page with the same filters and page size.
    fn link(&self, cursor: &PageCursor) -> String {
        let enc = |v: &str| {
            percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let mut parts = Vec::new();
        if !self.state.trim().is_empty() {
            parts.push(format!("state={}", enc(self.state.trim())));
        }
        if !self.q.trim().is_empty() {
            parts.push(format!("q={}", enc(self.q.trim())));
        }
        if let Some(days) = self.overdue_days {
            parts.push(format!("overdue_days={days}"));
        }
        if let Some(limit) = self.limit {
            parts.push(format!("limit={limit}"));
        }
        match cursor {
            PageCursor::First => {}
            PageCursor::After(id) => parts.push(format!("after={}", enc(id))),
            PageCursor::Before(id) => parts.push(format!("before={}", enc(id))),
        }
        format!("/records?{}", parts.join("&"))
    }
}

pub(crate) struct Row {
    id: String,
    upn: String,
    name: String,
    state: &'static str,
    token: String,
    updated: When,
}

#[derive(Template)]
#[template(path = "records.html")]
struct ListPage {
    nav: Option<Nav>,
    t: Tr,
    range: String,
    states: Vec<&'static str>,
    state: String,
    q: String,
    rows: Vec<Row>,
    total: i64,
    first_link: Option<String>,
    prev_link: Option<String>,
    next_link: Option<String>,
}

pub(crate) fn token_label(r: &Record) -> String {
    let parts: Vec<&str> = [
        r.manufacturer.as_deref(),
        r.model.as_deref(),
        r.serial.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.is_empty())
    .collect();
    parts.join(" ")
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let page = state.vault().list_page(&q.to_page_query()?).await?;
    let link = |c: Option<PageCursor>| c.map(|c| q.link(&c));
    let shown = i64::try_from(page.records.len()).unwrap_or(i64::MAX);
    let t = Tr(auth.lang);
    Ok(render(&ListPage {
        nav: Some(Nav::for_auth(&auth)),
        t,
        range: Msg::new("records-range")
            .arg("first", page.offset + 1)
            .arg("last", page.offset + shown)
            .arg("total", page.total)
            .say(t),
        states: ALL_STATES.iter().map(|s| s.as_str()).collect(),
        state: q.state.clone(),
        q: q.q.clone(),
        total: page.total,
        first_link: (page.offset > 0).then(|| q.link(&PageCursor::First)),
        prev_link: link(page.previous()),
        next_link: link(page.next()),
        rows: page
            .records
            .into_iter()
            .map(|r| Row {
                token: token_label(&r),
                updated: auth.zone.when(r.updated_unix_secs),
                name: r.display_name.clone().unwrap_or_default(),
                state: r.state.as_str(),
                id: r.id,
                upn: r.upn,
            })
            .collect(),
    }))
}

pub(crate) struct HistoryRow {
    at: When,
    actor: String,
    action: String,
    /// The entry as a sentence.
    sentence: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "record.html")]
struct RecordPage {
    nav: Option<Nav>,
    t: Tr,
    languages: Vec<(&'static str, &'static str)>,
    /// The record's language by name ("" when it has none) and by tag.
    record_language: &'static str,
    record_language_tag: &'static str,
    /// The language the message for the user is written in.
    message_language: &'static str,
    r: Record,
    notice: Option<String>,
    display_name: String,
    phone: String,
    token: String,
    serial: String,
    model: String,
    params: String,
    shipment: String,
    created: When,
    has_passphrase: bool,
    message: String,
    revealable: bool,
    can_reveal: bool,
    can_transition: bool,
    can_cancel: bool,
    can_purge: bool,
    can_capture: bool,
    /// The lifecycle as steps, for the timeline.
    timeline: Vec<super::charts::Step>,
    history: Vec<HistoryRow>,
}

#[derive(Deserialize)]
pub(crate) struct ShowQuery {
    #[serde(default)]
    done: String,
    /// What happened to the e-mail notice of that move: `sent` or `failed`.
    #[serde(default)]
    mail: String,
}

fn notice_for(t: Tr, done: &str, r: &Record) -> Option<String> {
    let key = match done {
        "captured" | "burned" | "shipped" | "cancelled" | "lost" | "purged" | "contact" => {
            format!("done-{done}")
        }
        "delivered" if r.has_seed => "done-delivered-kept".to_owned(),
        "delivered" => "done-delivered-destroyed".to_owned(),
        _ => return None,
    };
    Some(t.tn(&key, "steps", r.drift_steps))
}

pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> PageResult {
    let vault = state.vault();
    let r = vault.record(&id).await?;
    let entries: Vec<_> = vault
        .audit_list(&AuditFilter {
            subject: Some(r.upn.clone()),
            ..AuditFilter::default()
        })
        .await?
        .into_iter()
        .filter(|e| e.record_id.as_deref().is_none_or(|rid| rid == r.id))
        .collect();
    // When and by whom each state was reached: the first capture or `state.X` entry.
    let reached = |s: RecordState| {
        entries
            .iter()
            .find(|e| match s {
                RecordState::Captured => e.action == "capture",
                _ => e.action.strip_prefix("state.") == Some(s.as_str()),
            })
            .map(|e| (auth.zone.when(e.at_unix_secs), e.actor.clone()))
    };
    let timeline = super::charts::timeline(r.state, &reached);
    let history = entries
        .into_iter()
        .map(|e| HistoryRow {
            at: auth.zone.when(e.at_unix_secs),
            sentence: super::audit_sentence::sentence(
                Tr(auth.lang),
                &e.action,
                &e.detail,
                &auth.zone,
            ),
            actor: e.actor,
            action: e.action,
            detail: e.detail,
        })
        .collect();
    let t = Tr(auth.lang);
    let s = &r.shipment;
    let shipment = if r.shipped_unix_secs.is_some() {
        let shipped = Msg::new("shipment-shipped")
            .arg("carrier", s.carrier.as_deref().unwrap_or(""))
            .arg("tracking", s.tracking.as_deref().unwrap_or(""))
            .arg("when", auth.zone.when_opt(r.shipped_unix_secs).text())
            .say(t);
        let expected = s
            .expected_unix_secs
            .map(|e| t.t1("shipment-expected", "when", auth.zone.when(e).text()))
            .unwrap_or_default();
        format!("{}{expected}", shipped.trim())
    } else {
        t.t("shipment-none")
    };
    let has_passphrase = r.has_passphrase;
    let record_lang = r.language.as_deref().and_then(Lang::parse);
    let message_lang = record_lang.unwrap_or(auth.lang);
    Ok(render(&RecordPage {
        nav: Some(Nav::for_auth(&auth)),
        t,
        languages: LANGS.iter().map(|l| (l.tag(), l.name())).collect(),
        record_language: record_lang.map_or("", Lang::name),
        record_language_tag: record_lang.map_or("", Lang::tag),
        message_language: message_lang.name(),
        notice: notice_for(t, &q.done, &r).map(|n| match q.mail.as_str() {
            "sent" => format!("{n} {}", t.t("mail-told")),
            "failed" => format!("{n} {}", t.t("mail-not-told")),
            _ => n,
        }),
        display_name: r.display_name.clone().unwrap_or_default(),
        phone: r.phone.clone().unwrap_or_default(),
        token: token_label(&r),
        serial: r.serial.clone().unwrap_or_default(),
        model: r.model.clone().unwrap_or_default(),
        params: Msg::new("params-value")
            .arg("algorithm", r.params.algorithm.to_string())
            .arg("digits", i64::from(r.params.digits))
            .arg("period", i64::from(r.params.period_secs))
            .say(t),
        shipment,
        created: auth.zone.when(r.created_unix_secs),
        has_passphrase,
        message: user_message(
            Tr(message_lang),
            &r,
            state.config().helpdesk_phone.as_deref(),
        ),
        revealable: r.state.is_revealable(),
        can_reveal: auth.can(Permission::Reveal),
        can_transition: auth.can(Permission::Transition),
        can_cancel: auth.can(Permission::Cancel),
        can_purge: auth.can(Permission::Purge),
        can_capture: auth.can(Permission::Capture),
        timeline,
        history,
        r,
    }))
}

/// The ready-to-send message for the user in `t`'s language: what to expect, whom to call,
/// what they will be asked.
pub(crate) fn user_message(t: Tr, r: &Record, helpdesk_phone: Option<&str>) -> String {
    crate::pages::user_message::for_record(t, r, helpdesk_phone)
}

/// The lifecycle form: which state to move to and what that move needs.
#[derive(Deserialize, Default)]
pub(crate) struct TransitionForm {
    pub to: String,
    #[serde(default)]
    pub serial: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub manufacturer: String,
    #[serde(default)]
    pub carrier: String,
    #[serde(default)]
    pub tracking: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub expected: String,
    /// A code read from the arrived token (delivery).
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub reason: String,
}

impl Drop for TransitionForm {
    fn drop(&mut self) {
        self.code.zeroize();
    }
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// Applies a lifecycle move to the record `id` (shared by the page and the API).
pub(crate) async fn apply_transition(
    state: &AppState,
    auth: &Auth,
    id: &str,
    form: &TransitionForm,
) -> Result<Record, Problem> {
    let vault = state.vault();
    // Exactly the record in the URL: a stale page's move is refused with the record's state
    // now (409), never applied to a newer record of the same user.
    let id = RecordId(id.to_owned());
    let moving = auth.authorize(Permission::Transition)?;
    let actor = &moving;
    let to: RecordState = form.to.parse().map_err(|e: String| Problem::invalid(e))?;
    let reason = form.reason.trim();
    let moved = match to {
        RecordState::Burned => {
            vault
                .mark_burned(
                    actor,
                    &id,
                    TokenUpdate {
                        serial: opt(&form.serial),
                        model: opt(&form.model),
                        manufacturer: opt(&form.manufacturer),
                    },
                )
                .await?
        }
        RecordState::Shipped => {
            let expected = match opt(&form.expected) {
                Some(d) => Some(auth.zone.parse_date(&d)?),
                None => None,
            };
            vault
                .ship(
                    actor,
                    &id,
                    Shipment {
                        carrier: opt(&form.carrier),
                        tracking: opt(&form.tracking),
                        expected_unix_secs: expected,
                    },
                )
                .await?
        }
        RecordState::Delivered => {
            let code = form.code.trim();
            if code.is_empty() {
                return Err(
                    Problem::invalid("delivery needs a code read from the arrived token")
                        .say(Msg::new("delivery-needs-code")),
                );
            }
            vault
                .deliver(actor, &id, code, DELIVERY_WINDOW_STEPS)
                .await?
        }
        RecordState::Cancelled => {
            // Not the helpdesk's (README role table): the seed of an unsent token is destroyed.
            vault
                .cancel(&auth.authorize(Permission::Cancel)?, &id, reason)
                .await?
        }
        RecordState::Lost => vault.lose(actor, &id, reason).await?,
        RecordState::Purged => {
            vault
                .purge(&auth.authorize(Permission::Purge)?, &id)
                .await?
        }
        RecordState::Captured => {
            return Err(Problem::invalid(
                "a record cannot go back to captured; capture a new seed instead",
            )
            .say(Msg::new("no-back-to-captured")));
        }
    };
    Ok(moved)
}

pub(crate) async fn transition(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(form): Form<TransitionForm>,
) -> PageResult {
    let r = apply_transition(&state, &auth, &id, &form).await?;
    // The move asked for, not the state reached: a delivery with no retention ends purged.
    let moved = form.to.parse::<RecordState>().ok();
    let done = moved.map_or("", RecordState::as_str);
    let mail = match moved {
        Some(to) => {
            match crate::mail::notify(&state, &auth.authorize(Permission::Transition)?, &r, to)
                .await
            {
                Some(Ok(_)) => "&mail=sent",
                Some(Err(_)) => "&mail=failed",
                None => "",
            }
        }
        None => "",
    };
    Ok(redirect(&format!("/records/{}?done={done}{mail}", r.id)))
}

/// The purge button's form: destroying a seed cannot be undone, so the page asks for a tick.
#[derive(Deserialize)]
pub(crate) struct PurgeForm {
    #[serde(default)]
    confirm: String,
}

pub(crate) async fn purge(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(confirm): Form<PurgeForm>,
) -> PageResult<Response> {
    if confirm.confirm != "yes" {
        return Err(Problem::invalid(
            "tick the confirmation box to destroy the seed; nothing was changed",
        )
        .say(Msg::new("purge-needs-tick"))
        .into());
    }
    let mut form = TransitionForm::default();
    form.to = "purged".into();
    let r = apply_transition(&state, &auth, &id, &form).await?;
    Ok(redirect(&format!("/records/{}?done=purged", r.id)))
}

/// The contact form: the user's e-mail address and time zone (blank clears).
#[derive(Deserialize)]
pub(crate) struct ContactForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    time_zone: String,
    /// The user's language (a tag; blank: not recorded).
    #[serde(default)]
    language: String,
}

/// Sets where the user's codes and notices go, and the user's time zone.
pub(crate) async fn set_contact(
    state: &AppState,
    auth: &Auth,
    id: &str,
    email: &str,
    time_zone: &str,
) -> Result<Record, Problem> {
    let zone = crate::mail::zone_field(time_zone)?;
    Ok(state
        .vault()
        .set_contact(
            &auth.authorize(Permission::Capture)?,
            &tokendesk_vault::RecordId(id.to_owned()),
            Some(email),
            zone.as_deref(),
        )
        .await?)
}

pub(crate) async fn contact(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(form): Form<ContactForm>,
) -> PageResult {
    let language = super::wizard::language_field(&form.language)?;
    let mut r = set_contact(&state, &auth, &id, &form.email, &form.time_zone).await?;
    if r.language.as_deref() != language {
        r = state
            .vault()
            .set_language(
                &auth.authorize(Permission::Capture)?,
                &RecordId(r.id.clone()),
                language,
            )
            .await?;
    }
    Ok(redirect(&format!("/records/{}?done=contact", r.id)))
}
