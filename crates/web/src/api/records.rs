//! `/api/v1/records`: list, read, capture and lifecycle moves.

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::pages::records::PAGE_SIZE;
use crate::pages::records::{TransitionForm, apply_transition};
use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokendesk_vault::{
    ListFilter, MAX_PAGE_SIZE, NewRecord, PageCursor, PageQuery, Permission, Record,
    State as RecordState, TokenParams,
};
use zeroize::Zeroize;

/// The query of `GET /api/v1/records`, checked as `openapi.json` describes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default, deserialize_with = "super::extract::int::option_text")]
    overdue_days: Option<i64>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default, deserialize_with = "super::extract::int::option_text")]
    limit: Option<i64>,
}

/// Longest `overdue_days` (a hundred years).
const MAX_OVERDUE_DAYS: i64 = 36_500;

/// A record id as the vault makes them: a lowercase UUID.
pub(crate) fn is_record_id(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| {
            g.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

impl ListParams {
    fn to_page_query(&self) -> Result<PageQuery, Problem> {
        let state = match self.state.as_deref() {
            None => None,
            Some(s) => Some(s.parse::<RecordState>().map_err(|_| {
                Problem::bad_request(format!(
                    "state is one of {}",
                    tokendesk_vault::ALL_STATES
                        .map(RecordState::as_str)
                        .join(", ")
                ))
            })?),
        };
        if self
            .overdue_days
            .is_some_and(|d| !(0..=MAX_OVERDUE_DAYS).contains(&d))
        {
            return Err(Problem::bad_request(format!(
                "overdue_days is 0 to {MAX_OVERDUE_DAYS}"
            )));
        }
        let limit = self.limit.unwrap_or(PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(Problem::bad_request(format!(
                "limit is 1 to {MAX_PAGE_SIZE}"
            )));
        }
        let cursor_id = |name: &str, v: &Option<String>| match v.as_deref() {
            None | Some("") => Ok(None),
            Some(id) if is_record_id(id) => Ok(Some(id.to_owned())),
            Some(_) => Err(Problem::bad_request(format!(
                "{name} is a record id (the `next_after` or `previous_before` of a page)"
            ))),
        };
        let cursor = match (
            cursor_id("after", &self.after)?,
            cursor_id("before", &self.before)?,
        ) {
            (None, None) => PageCursor::First,
            (Some(a), None) => PageCursor::After(a),
            (None, Some(b)) => PageCursor::Before(b),
            (Some(_), Some(_)) => {
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
            upn_contains: self
                .q
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            cursor,
            limit,
        })
    }
}

/// `GET /api/v1/records`: one page (default 100, at most 200) in `(upn, created, id)` order,
/// with the total and the cursors of the neighbouring pages. A cursor naming no record is 404.
pub(crate) async fn records_list(
    State(state): State<AppState>,
    super::Params(q): super::Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let query = q.to_page_query()?;
    if let PageCursor::After(id) | PageCursor::Before(id) = &query.cursor {
        state.vault().record(id).await?;
    }
    let page = state.vault().list_page(&query).await?;
    let cursor_id = |c: Option<PageCursor>| match c {
        Some(PageCursor::After(id) | PageCursor::Before(id)) => Some(id),
        _ => None,
    };
    Ok(Json(json!({
        "records": page.records.iter().map(Record::to_json).collect::<Vec<_>>(),
        "total": page.total,
        "offset": page.offset,
        "limit": query.limit,
        "next_after": cursor_id(page.next()),
        "previous_before": cursor_id(page.previous()),
    })))
}

pub(crate) async fn record_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = state.vault().record(&id).await?;
    Ok(Json(r.to_json()))
}

/// `POST /api/v1/records`: capture a seed. The seed is accepted here and never returned.
#[derive(Deserialize)]
pub(crate) struct CreateBody {
    upn: String,
    /// Base32 secret or otpauth URI.
    secret: String,
    display_name: Option<String>,
    phone: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
    /// The user's language (`en`, `de`, `fr`): e-mails and the message for the user.
    #[serde(default)]
    language: Option<String>,
    notes: Option<String>,
    serial: Option<String>,
    model: Option<String>,
    manufacturer: Option<String>,
    /// Caller-verification passphrase chosen by the user (stored as a hash).
    passphrase: Option<String>,
}

impl Drop for CreateBody {
    fn drop(&mut self) {
        self.secret.zeroize();
        if let Some(p) = &mut self.passphrase {
            p.zeroize();
        }
    }
}

pub(crate) async fn records_create(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    super::Body(body): super::Body<CreateBody>,
) -> ApiResult<Response> {
    let (secret, params, _) = crate::toolset::parse_seed(&body.secret, false)
        .map_err(|e| Problem::invalid(e.to_string()))?;
    let language = crate::pages::wizard::language_field(body.language.as_deref().unwrap_or(""))?;
    // Checked before the capture, so a passphrase the vault would refuse leaves no record.
    let passphrase = body.passphrase.as_deref().filter(|p| !p.trim().is_empty());
    if let Some(p) = passphrase {
        let words: Vec<String> = p.split_whitespace().map(str::to_lowercase).collect();
        if words.join(" ").chars().count() < tokendesk_vault::MIN_CALLER_PASSPHRASE_CHARS {
            return Err(Problem::invalid(format!(
                "a caller passphrase needs at least {} characters",
                tokendesk_vault::MIN_CALLER_PASSPHRASE_CHARS
            ))
            .into());
        }
    }
    let new = NewRecord {
        upn: body.upn.clone(),
        display_name: body.display_name.clone(),
        phone: body.phone.clone(),
        email: body.email.clone().filter(|e| !e.trim().is_empty()),
        time_zone: crate::mail::zone_field(body.time_zone.as_deref().unwrap_or(""))?,
        notes: body.notes.clone(),
        serial: body.serial.clone(),
        model: body.model.clone(),
        manufacturer: body.manufacturer.clone(),
        params: TokenParams {
            algorithm: params.algorithm,
            digits: u32::from(params.digits.get()),
            period_secs: u32::try_from(params.period.secs()).unwrap_or(30),
        },
    };
    let capturing = auth.authorize(Permission::Capture)?;
    let mut record = state.vault().capture(&capturing, new, &secret).await?;
    if language.is_some() {
        let id = tokendesk_vault::RecordId(record.id.clone());
        record = state
            .vault()
            .set_language(&capturing, &id, language)
            .await?;
    }
    if let Some(p) = passphrase {
        state
            .vault()
            .set_passphrase(
                &auth.authorize(tokendesk_vault::Permission::Capture)?,
                &record.upn,
                &crate::auth::passphrase(p.trim()),
            )
            .await?;
    }
    Ok((axum::http::StatusCode::CREATED, Json(record.to_json())).into_response())
}

/// `POST /api/v1/records/{id}/transition`.
#[derive(Deserialize)]
pub(crate) struct TransitionBody {
    to: String,
    serial: Option<String>,
    model: Option<String>,
    manufacturer: Option<String>,
    carrier: Option<String>,
    tracking: Option<String>,
    /// `YYYY-MM-DD`.
    expected: Option<String>,
    code: Option<String>,
    reason: Option<String>,
}

impl Drop for TransitionBody {
    fn drop(&mut self) {
        if let Some(c) = &mut self.code {
            c.zeroize();
        }
    }
}

pub(crate) async fn transition(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    super::Body(body): super::Body<TransitionBody>,
) -> ApiResult<Json<Value>> {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    // Every field given is checked, whichever move it is for (as `openapi.json` says).
    if let Some(d) = body.expected.as_deref().filter(|d| !d.is_empty()) {
        crate::timefmt::parse_date(d)
            .map_err(|_| Problem::bad_request("expected is a date like 2026-12-24"))?;
    }
    if let Some(c) = body.code.as_deref().filter(|c| !c.is_empty()) {
        let digits = c.trim();
        if !(6..=10).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Problem::bad_request("code is the 6 to 10 digits the token shows").into());
        }
    }
    let form = TransitionForm {
        to: body.to.clone(),
        serial: o(&body.serial),
        model: o(&body.model),
        manufacturer: o(&body.manufacturer),
        carrier: o(&body.carrier),
        tracking: o(&body.tracking),
        expected: o(&body.expected),
        code: o(&body.code),
        reason: o(&body.reason),
    };
    let r = apply_transition(&state, &auth, &id, &form).await?;
    let mut answer = r.to_json();
    if let Ok(to) = form.to.parse::<tokendesk_vault::State>()
        && let Some(outcome) =
            crate::mail::notify(&state, &auth.authorize(Permission::Transition)?, &r, to).await
        && let Some(map) = answer.as_object_mut()
    {
        let (sent, message) = match outcome {
            Ok(m) => (true, m),
            Err(m) => (false, m),
        };
        map.insert(
            "email_notice".into(),
            serde_json::json!({ "sent": sent, "message": message }),
        );
    }
    Ok(Json(answer))
}

/// `POST /api/v1/records/{id}/contact`: where the user's codes and notices go, and the
/// user's time zone (empty or missing clears), and the user's language (empty clears, missing
/// keeps it).
#[derive(Deserialize)]
pub(crate) struct ContactBody {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    language: Option<String>,
}

pub(crate) async fn contact(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    super::Body(body): super::Body<ContactBody>,
) -> ApiResult<Json<Value>> {
    let language = body
        .language
        .as_deref()
        .map(crate::pages::wizard::language_field)
        .transpose()?;
    let mut r = crate::pages::records::set_contact(
        &state,
        &auth,
        &id,
        body.email.as_deref().unwrap_or(""),
        body.time_zone.as_deref().unwrap_or(""),
    )
    .await?;
    if let Some(language) = language
        && r.language.as_deref() != language
    {
        let id = tokendesk_vault::RecordId(r.id.clone());
        r = state
            .vault()
            .set_language(&auth.authorize(Permission::Capture)?, &id, language)
            .await?;
    }
    Ok(Json(r.to_json()))
}
