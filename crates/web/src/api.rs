//! The JSON API under `/api/v1` (session cookie or `Authorization: Bearer tdk_…`). Described
//! by `openapi.json` (OpenAPI 3.1), served at `/api/v1/openapi.json`. Errors are
//! `{"code": "...", "message": "..."}` with the HTTP status saying what kind.

use axum::Json;
use axum::extract::{Extension, Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokendesk_vault::{NewRecord, PageCursor, Purpose, Record, State as RecordState, TokenParams};
use zeroize::{Zeroize, Zeroizing};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::pages::audit::Filters;
use crate::pages::records::ListQuery;
use crate::pages::records::{TransitionForm, apply_transition};
use crate::reveal::{self, Ask};
use crate::timefmt::parse_datetime;

const OPENAPI: &str = include_str!("../openapi.json");

/// `GET /api/v1/openapi.json`.
pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// A record as the API shows it: never the seed.
pub(crate) fn record_json(r: &Record) -> Value {
    json!({
        "id": r.id,
        "upn": r.upn,
        "display_name": r.display_name,
        "phone": r.phone,
        "notes": r.notes,
        "state": r.state.as_str(),
        "token": {
            "serial": r.serial,
            "model": r.model,
            "manufacturer": r.manufacturer,
            "algorithm": r.params.algorithm.as_str(),
            "digits": r.params.digits,
            "period": r.params.period_secs,
            "drift_steps": r.drift_steps,
        },
        "shipment": {
            "carrier": r.shipment.carrier,
            "tracking": r.shipment.tracking,
            "shipped_unix_secs": r.shipped_unix_secs,
            "expected_unix_secs": r.shipment.expected_unix_secs,
        },
        "created_by": r.created_by,
        "created_unix_secs": r.created_unix_secs,
        "updated_unix_secs": r.updated_unix_secs,
        "purge_due_unix_secs": r.purge_due_unix_secs,
        "has_seed": r.has_seed,
    })
}

/// `GET /api/v1/records`: one page (default 100, at most 200) in `(upn, created, id)` order,
/// with the total and the cursors of the neighbouring pages.
pub(crate) async fn records_list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let query = q.to_page_query()?;
    let page = state.vault().list_page(&query).await?;
    let cursor_id = |c: Option<PageCursor>| match c {
        Some(PageCursor::After(id) | PageCursor::Before(id)) => Some(id),
        _ => None,
    };
    Ok(Json(json!({
        "records": page.records.iter().map(record_json).collect::<Vec<_>>(),
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
    Ok(Json(record_json(&r)))
}

/// `POST /api/v1/records`: capture a seed. The seed is accepted here and never returned.
#[derive(Deserialize)]
pub(crate) struct CreateBody {
    upn: String,
    /// Base32 secret or otpauth URI.
    secret: String,
    display_name: Option<String>,
    phone: Option<String>,
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
    body: Result<Json<CreateBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body.map_err(Problem::from)?;
    let (secret, params, _) =
        crate::toolset::parse_seed(&body.secret, false).map_err(Problem::invalid)?;
    let new = NewRecord {
        upn: body.upn.clone(),
        display_name: body.display_name.clone(),
        phone: body.phone.clone(),
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
    let record = state.vault().capture(&auth.actor, new, &secret).await?;
    if let Some(p) = body.passphrase.as_deref().filter(|p| !p.trim().is_empty()) {
        state
            .vault()
            .set_passphrase(
                &auth.authorize(tokendesk_vault::Permission::Capture)?,
                &record.upn,
                &crate::auth::passphrase(p.trim()),
            )
            .await?;
    }
    Ok((axum::http::StatusCode::CREATED, Json(record_json(&record))).into_response())
}

/// `POST /api/v1/records/{id}/reveal`.
#[derive(Deserialize)]
pub(crate) struct RevealBody {
    /// `call-back`, `passphrase` or `second-approver`.
    verification: String,
    /// Outcome of the verification: `passed` or `failed`.
    outcome: String,
    ticket: String,
    /// `read-out` (default) or `email`.
    #[serde(default)]
    purpose: Option<String>,
    /// For `passphrase`: what the caller said.
    #[serde(default)]
    passphrase: Option<String>,
    /// For `second-approver`: the approval id.
    #[serde(default)]
    approval: Option<String>,
    /// Unix time or RFC 3339-like `YYYY-MM-DDTHH:MM[:SS]` (UTC) of the code wanted.
    #[serde(default)]
    at: Option<Value>,
    /// Minutes from now (alternative to `at`).
    #[serde(default)]
    future: Option<i64>,
}

impl Drop for RevealBody {
    fn drop(&mut self) {
        if let Some(p) = &mut self.passphrase {
            p.zeroize();
        }
    }
}

pub(crate) async fn reveal(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Result<Json<RevealBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body.map_err(Problem::from)?;
    match body.outcome.as_str() {
        "passed" => {}
        "failed" => {
            reveal::record_failure(&state, &auth, &id, &body.verification, &body.ticket).await?;
            return Err(Problem::new(
                axum::http::StatusCode::FORBIDDEN,
                "verification_failed",
                "recorded: the caller could not be verified; no code is revealed",
            )
            .into());
        }
        other => {
            return Err(Problem::invalid(format!(
                "outcome {other:?} is neither \"passed\" nor \"failed\""
            ))
            .into());
        }
    }
    let ask = body.ask(state.now_i64())?;
    let shown = reveal::run(&state, &auth, &id, &ask).await?;
    let now = state.now();
    let codes: Vec<Value> = shown
        .rows
        .iter()
        .map(|c| {
            json!({
                "code": c.code,
                "valid_from": c.valid_from,
                "valid_until": c.valid_until,
                "secs_left": c.valid_until.saturating_sub(now.max(c.valid_from)),
            })
        })
        .collect();
    let mut resp = Json(json!({
        "upn": shown.upn,
        "purpose": shown.purpose.as_str(),
        "codes": codes,
        "entra_window_secs": reveal::ENTRA_WINDOW_SECS,
    }))
    .into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

impl RevealBody {
    /// The body as a reveal: `at` (a Unix time or a date-time) or `future` (minutes from now),
    /// not both; without either, now. The purpose defaults to `email` for a later code.
    fn ask(&self, now: i64) -> Result<Ask, Problem> {
        let at = match (&self.at, self.future) {
            (Some(Value::Number(n)), None) => Some(
                n.as_i64()
                    .ok_or_else(|| Problem::invalid("`at` must be a Unix time in seconds"))?,
            ),
            (Some(Value::String(s)), None) => Some(parse_datetime(s)?),
            (None, Some(minutes)) if (0..=60 * 24 * 31).contains(&minutes) => {
                Some(now + minutes * 60)
            }
            (None, Some(_)) => {
                return Err(Problem::invalid("`future` is minutes from now, 0 to 44640"));
            }
            (None, None) => None,
            _ => {
                return Err(Problem::invalid(
                    "give `at` or `future`, not both, as a number or a time",
                ));
            }
        };
        let purpose = match self.purpose.as_deref() {
            None if at.is_some() => Purpose::Email,
            None | Some("read-out") => Purpose::ReadOut,
            Some("email") => Purpose::Email,
            Some(_) => return Err(Problem::invalid("purpose is \"read-out\" or \"email\"")),
        };
        if at.is_some_and(|t| t < now) {
            return Err(Problem::invalid("the time asked for is in the past"));
        }
        Ask::parse(
            &self.ticket,
            &self.verification,
            self.passphrase.as_deref().unwrap_or(""),
            self.approval.as_deref().unwrap_or(""),
            purpose,
            at.unwrap_or(now),
        )
    }
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
    body: Result<Json<TransitionBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<Value>> {
    let Json(body) = body.map_err(Problem::from)?;
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
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
    Ok(Json(record_json(&r)))
}

#[derive(Deserialize)]
pub(crate) struct ApprovalBody {
    ticket: String,
    reason: String,
}

pub(crate) async fn request_approval(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Result<Json<ApprovalBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body.map_err(Problem::from)?;
    let r = state.vault().record(&id).await?;
    let approval = state
        .vault()
        .request_approval(
            &auth.authorize(tokendesk_vault::Permission::Reveal)?,
            &r.upn,
            body.ticket.trim(),
            body.reason.trim(),
        )
        .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(json!({ "approval": approval.to_string(), "upn": r.upn })),
    )
        .into_response())
}

pub(crate) async fn approve(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state
        .vault()
        .approve(
            &auth.authorize(tokendesk_vault::Permission::ApproveReveal)?,
            &tokendesk_vault::ApprovalId(id.clone()),
        )
        .await?;
    Ok(Json(
        json!({ "approval": id, "approved_by": auth.actor.name }),
    ))
}

pub(crate) async fn audit(
    State(state): State<AppState>,
    Query(f): Query<Filters>,
) -> ApiResult<Json<Value>> {
    let filter = f.to_filter(Some(10_000)).map_err(|e| e.0)?;
    let entries = state.vault().audit_list(&filter).await?;
    let report = state.vault().audit_verify().await?;
    Ok(Json(json!({
        "chain": {
            "entries": report.entries,
            "intact": report.problem.is_none(),
            "problem": report.problem.as_ref().map(ToString::to_string),
        },
        "entries": entries.iter().map(|e| json!({
            "seq": e.seq,
            "at_unix_secs": e.at_unix_secs,
            "actor": e.actor,
            "action": e.action,
            "subject": e.subject,
            "record_id": e.record_id,
            "detail": serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null),
        })).collect::<Vec<_>>(),
    })))
}

fn normalise(upn: &str) -> Result<String, String> {
    tokendesk_vault::validate_upn(upn).map_err(|e| e.to_string())
}

/// `POST /api/v1/import` (multipart: `file`; `format` = spreadsheet | entra | pskc; `password`
/// for a password-protected PSKC file; `dry_run`, `skip_invalid` = true/false). All or nothing
/// unless `skip_invalid`; the report lists every bad row (never a secret).
pub(crate) async fn import(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    mut multipart: Multipart,
) -> ApiResult<Response> {
    let authz = auth.authorize(tokendesk_vault::Permission::Import)?;
    let mut file: Option<Zeroizing<Vec<u8>>> = None;
    let mut format = String::new();
    let mut password: Option<Zeroizing<String>> = None;
    let (mut dry_run, mut skip_invalid) = (false, false);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| Problem::multipart("the upload", &e))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = Zeroizing::new(
            field
                .bytes()
                .await
                .map_err(|e| Problem::multipart("the upload", &e))?
                .to_vec(),
        );
        let text = || String::from_utf8_lossy(&bytes).trim().to_owned();
        match name.as_str() {
            "file" => file = Some(bytes.clone()),
            "format" => format = text(),
            "password" => password = Some(Zeroizing::new(text())),
            "dry_run" => dry_run = matches!(text().as_str(), "true" | "1" | "on"),
            "skip_invalid" => skip_invalid = matches!(text().as_str(), "true" | "1" | "on"),
            other => return Err(Problem::bad_request(format!("unknown field {other:?}")).into()),
        }
    }
    let file = file.ok_or_else(|| Problem::bad_request("the upload has no `file` field"))?;
    let as_text =
        || std::str::from_utf8(&file).map_err(|_| Problem::invalid("the file is not UTF-8 text"));
    use tokendesk_formats::csv::{self, CsvKind};
    let parsed = match format.as_str() {
        "spreadsheet" => csv::parse(as_text()?, CsvKind::Spreadsheet, &normalise),
        "entra" => csv::parse(as_text()?, CsvKind::Entra, &normalise),
        "pskc" => {
            let creds = tokendesk_formats::pskc::Credentials {
                password: password.as_ref().map(|p| p.as_bytes()),
                preshared_key: None,
            };
            let doc = tokendesk_formats::pskc::read(&file, &creds)
                .map_err(|e| Problem::invalid(e.to_string()))?;
            tokendesk_formats::pskc::to_rows(doc, &normalise)
        }
        other => {
            return Err(Problem::invalid(format!(
                "format {other:?}: use spreadsheet, entra or pskc"
            ))
            .into());
        }
    };
    let tokendesk_formats::Parsed { rows, errors } = parsed;
    if !errors.is_empty() && !skip_invalid {
        return Ok((
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "code": "invalid_rows",
                "message": format!("{} invalid row(s); nothing imported (fix them, or set skip_invalid)", errors.len()),
                "errors": errors,
            })),
        )
            .into_response());
    }
    if dry_run {
        return Ok(Json(json!({
            "dry_run": true, "valid": rows.len(), "imported": 0, "errors": errors,
        }))
        .into_response());
    }
    let items: Vec<(NewRecord, tokendesk_otp::Secret)> =
        rows.into_iter().map(NewRecord::from_token_row).collect();
    let n = state
        .vault()
        .capture_batch(authz.actor(), &items, &format!("api-import:{format}"))
        .await?;
    Ok(
        Json(json!({ "dry_run": false, "imported": n, "skipped": errors.len(), "errors": errors }))
            .into_response(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportBody {
    /// `entra` (CSV for Entra ID's hardware-token upload) or `pskc` (encrypted with the
    /// password in the `X-Export-Password` header).
    format: String,
    state: Option<String>,
    user: Option<String>,
}

/// `POST /api/v1/export` with `{"format": "entra"|"pskc", "state": S?, "user": UPN?}` (audited
/// per record; refused for purged records). A POST, never a GET: it discloses seeds and writes
/// the audit trail. A PSKC export is encrypted with the password sent in the
/// `X-Export-Password` header (at least 12 characters); it is never written in plain text here.
pub(crate) async fn export(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    headers: axum::http::HeaderMap,
    body: Result<Json<ExportBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let authz = auth.authorize(tokendesk_vault::Permission::Export)?;
    let Json(q) = body.map_err(Problem::from)?;
    let filter_state = q
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::parse::<RecordState>)
        .transpose()
        .map_err(Problem::bad_request)?;
    let password = match q.format.as_str() {
        "entra" => None,
        "pskc" => {
            let p = headers
                .get("x-export-password")
                .and_then(|v| v.to_str().ok())
                .map(|v| Zeroizing::new(v.to_owned()))
                .ok_or_else(|| {
                    Problem::invalid(
                        "a PSKC export needs a password in the X-Export-Password header",
                    )
                })?;
            if p.chars().count() < 12 {
                return Err(
                    Problem::invalid("the export password needs at least 12 characters").into(),
                );
            }
            Some(p)
        }
        other => {
            return Err(Problem::invalid(format!("format {other:?}: use entra or pskc")).into());
        }
    };
    let seeds = state
        .vault()
        .export_seeds(authz.actor(), filter_state, q.user.as_deref(), &q.format)
        .await?;
    let secrets: Vec<tokendesk_otp::Secret> = seeds
        .iter()
        .map(tokendesk_vault::ExportedSeed::secret)
        .collect();
    let (body, content_type, name) = if let Some(password) = password {
        let keys: Vec<_> = seeds
            .iter()
            .zip(&secrets)
            .map(|(item, secret)| item.pskc_key(secret))
            .collect();
        let protection = tokendesk_formats::pskc::Protection::Password {
            password: password.as_bytes(),
            iterations: tokendesk_formats::pskc::EXPORT_ITERATIONS,
        };
        let text = tokendesk_formats::pskc::write(&keys, &protection)
            .map_err(|e| Problem::invalid(e.to_string()))?;
        (text, "application/pskc+xml", "tokendesk-export.pskc")
    } else {
        let mut buf = Zeroizing::new(tokendesk_formats::csv::entra_header());
        for (item, secret) in seeds.iter().zip(&secrets) {
            let r = &item.record;
            if r.params.algorithm != tokendesk_otp::Algorithm::Sha1 {
                continue;
            }
            buf.push_str(&tokendesk_formats::csv::entra_line(
                &r.upn,
                r.serial.as_deref(),
                secret,
                r.params.period_secs,
                r.manufacturer.as_deref(),
                r.model.as_deref(),
            ));
        }
        (buf, "text/csv; charset=utf-8", "tokendesk-entra.csv")
    };
    let disposition = format!("attachment; filename=\"{name}\"");
    let mut resp = (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body.to_string(),
    )
        .into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}
