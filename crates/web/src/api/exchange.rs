//! Imports (every `formats::ImportFormat`, detected from the file when not named; all or
//! nothing) and exports (a POST: Entra CSV, or password-protected PSKC), each audited.

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use axum::Json;
use axum::extract::{Extension, Multipart, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokendesk_formats::{ImportFormat, google};
use tokendesk_vault::ExportWriter;
use tokendesk_vault::{NewRecord, State as RecordState};
use zeroize::Zeroizing;

fn normalise(upn: &str) -> Result<String, String> {
    tokendesk_vault::validate_upn(upn).map_err(|e| e.to_string())
}

/// `POST /api/v1/import` (multipart: `file`; `format` = spreadsheet | entra | pskc | token2 |
/// aegis | 2fas | bitwarden | keepassxc | google, or absent to detect it from the file;
/// `password` for a password-protected PSKC file; `dry_run`, `skip_invalid` = true/false). All
/// or nothing unless `skip_invalid`; the report names the format and whether it was detected,
/// and lists every bad row (never a secret).
pub(crate) async fn import(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Response> {
    let authz = auth.authorize(tokendesk_vault::Permission::Import)?;
    let mut multipart = multipart.map_err(|e| {
        Problem::body(
            e.status(),
            format!("send the file as multipart/form-data: {}", e.body_text()),
        )
    })?;
    let mut files: Vec<Upload> = Vec::new();
    let mut format = String::new();
    let mut password: Option<Zeroizing<String>> = None;
    let (mut dry_run, mut skip_invalid) = (false, false);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| Problem::multipart("the upload", &e))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes = Zeroizing::new(
            field
                .bytes()
                .await
                .map_err(|e| Problem::multipart("the upload", &e))?
                .to_vec(),
        );
        let text = || String::from_utf8_lossy(&bytes).trim().to_owned();
        let flag = |field: &str| match text().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(Problem::bad_request(format!("`{field}` is true or false"))),
        };
        match name.as_str() {
            "file" => {
                if files.len() == google::MAX_SCREENSHOTS {
                    return Err(Problem::invalid(format!(
                        "more than {} files; split the screenshots over several imports",
                        google::MAX_SCREENSHOTS
                    ))
                    .into());
                }
                files.push(Upload {
                    name: part_name(file_name.as_deref(), files.len() + 1),
                    bytes,
                });
            }
            "format" => {
                format = text();
                if format.is_empty() {
                    return Err(Problem::bad_request(
                        "`format` names the format; leave the field out to detect it",
                    )
                    .into());
                }
            }
            "password" => password = Some(Zeroizing::new(text())),
            "dry_run" => dry_run = flag("dry_run")?,
            "skip_invalid" => skip_invalid = flag("skip_invalid")?,
            _ => {
                return Err(Problem::bad_request(
                    "unknown field; the fields are file, format, password, dry_run and skip_invalid",
                )
                .into());
            }
        }
    }
    let given = if format.is_empty() {
        None
    } else {
        Some(format.parse::<ImportFormat>().map_err(Problem::invalid)?)
    };
    let Some(first) = files.first() else {
        return Err(Problem::bad_request("the upload has no `file` field").into());
    };
    let screenshots =
        tokendesk_qr::is_image(&first.bytes) && given.is_none_or(|f| f == ImportFormat::Google);
    let (parsed, format, detected) = if screenshots {
        let payloads = screenshot_payloads(&state, files).await?;
        (
            google::parse(&payloads, &normalise),
            ImportFormat::Google,
            given.is_none(),
        )
    } else {
        if files.len() > 1 {
            return Err(Problem::invalid(
                "several `file` parts are for Google Authenticator export screenshots only; \
                 send one file of any other format",
            )
            .into());
        }
        let (format, detected) = match given {
            Some(f) => (f, false),
            None => (
                tokendesk_formats::detect(&first.bytes).ok_or_else(|| {
                    Problem::invalid(
                        "cannot tell the format of the file; name it in the `format` field",
                    )
                })?,
                true,
            ),
        };
        let creds = tokendesk_formats::pskc::Credentials {
            password: password.as_ref().map(|p| p.as_bytes()),
            preshared_key: None,
        };
        let (parsed, _) = tokendesk_formats::read(format, &first.bytes, &creds, &normalise)
            .map_err(|e| Problem::invalid(e.to_string()))?;
        (parsed, format, detected)
    };
    let tokendesk_formats::Parsed {
        rows,
        errors,
        left_out,
    } = parsed;
    if !errors.is_empty() && !skip_invalid {
        return Ok((
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "code": "invalid_rows",
                "message": format!("{} invalid row(s); nothing imported (fix them, or set skip_invalid)", errors.len()),
                "format": format.as_str(), "detected": detected,
                "errors": errors,
            })),
        )
            .into_response());
    }
    if dry_run {
        return Ok(Json(json!({
            "dry_run": true, "valid": rows.len(), "imported": 0, "errors": errors,
            "format": format.as_str(), "detected": detected, "left_out": left_out,
        }))
        .into_response());
    }
    let items: Vec<(NewRecord, tokendesk_otp::Secret)> =
        rows.into_iter().map(NewRecord::from_token_row).collect();
    let n = state
        .vault()
        .capture_batch(&authz, &items, &format!("api-import:{format}"))
        .await?;
    Ok(Json(json!({
        "dry_run": false, "imported": n, "skipped": errors.len(), "errors": errors,
        "format": format.as_str(), "detected": detected, "left_out": left_out,
    }))
    .into_response())
}

/// One `file` part of an import upload.
struct Upload {
    /// How errors name it: the part's file name, else `file N`.
    name: String,
    bytes: Zeroizing<Vec<u8>>,
}

/// The name errors give the `n`th file part: its own file name when it sends a printable one
/// (the last path component, at most 100 characters), else `file n`.
fn part_name(file_name: Option<&str>, n: usize) -> String {
    file_name
        .map(|f| f.rsplit(['/', '\\']).next().unwrap_or_default())
        .filter(|f| !f.is_empty() && f.chars().count() <= 100 && !f.chars().any(char::is_control))
        .map_or_else(|| format!("file {n}"), str::to_owned)
}

/// The QR payloads of every screenshot, each decoded within the server's decode budgets. Any
/// part that is not an image, or an image without a QR code, refuses the whole upload.
async fn screenshot_payloads(
    state: &AppState,
    files: Vec<Upload>,
) -> Result<Vec<google::Payload>, Problem> {
    let mut payloads = Vec::new();
    for mut file in files {
        if !tokendesk_qr::is_image(&file.bytes) {
            return Err(Problem::invalid(format!(
                "{} is not an image (PNG, JPEG, GIF, BMP or WebP); an upload of screenshots \
                 holds only the export screenshots",
                file.name
            )));
        }
        let codes = state
            .decoder()
            // Moved, not copied: the image shows a seed.
            .decode(std::mem::take(&mut *file.bytes))
            .await
            .map_err(|mut p| {
                p.message = format!("{}: {}", file.name, p.message);
                p
            })?;
        if codes.is_empty() {
            return Err(Problem::invalid(format!(
                "{}: no QR code found; take the screenshot again with the whole code visible",
                file.name
            )));
        }
        payloads.extend(codes.iter().map(|c| google::Payload {
            source: file.name.clone(),
            text: Zeroizing::new(c.expose_payload().to_owned()),
        }));
    }
    Ok(payloads)
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

/// `POST /api/v1/export` with `{"format": "entra"|"graph"|"pskc", "state": S?, "user": UPN?}`
/// (`graph`: Microsoft Graph beta request bodies, see `tokendesk_formats::graph`). Audited
/// per record; refused for purged records. A POST, never a GET: it discloses seeds and writes
/// the audit trail. A PSKC export is encrypted with the password sent in the
/// `X-Export-Password` header (at least 12 characters); it is never written in plain text here.
pub(crate) async fn export(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    headers: axum::http::HeaderMap,
    super::Body(body): super::Body<ExportBody>,
) -> ApiResult<Response> {
    let authz = auth.authorize(tokendesk_vault::Permission::Export)?;
    let q = body;
    let filter_state = q
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::parse::<RecordState>)
        .transpose()
        .map_err(Problem::bad_request)?;
    // The header is checked whenever it is sent, also for a format that does not use it.
    let header = match headers.get("x-export-password") {
        None => None,
        Some(v) => {
            if !v.as_bytes().iter().all(|b| (0x20..=0x7e).contains(b)) {
                return Err(Problem::bad_request(
                    "X-Export-Password is printable ASCII (letters, digits, punctuation, spaces)",
                )
                .into());
            }
            let p = Zeroizing::new(String::from_utf8_lossy(v.as_bytes()).into_owned());
            if p.chars().count() < 12 {
                return Err(Problem::bad_request(
                    "the export password (X-Export-Password) needs at least 12 characters",
                )
                .into());
            }
            Some(p)
        }
    };
    let password = match q.format.as_str() {
        "entra" | "graph" => None,
        "pskc" => Some(header.ok_or_else(|| {
            Problem::invalid("a PSKC export needs a password in the X-Export-Password header")
        })?),
        _ => {
            return Err(Problem::bad_request("format is entra, graph or pskc").into());
        }
    };
    let graph = q.format == "graph";
    let check: Option<&'static tokendesk_vault::ExportCheck<'static>> = if graph {
        Some(&tokendesk_vault::graph_ready)
    } else {
        None
    };
    let (writer, content_type, name) = if graph {
        let w = ExportWriter::Graph(tokendesk_formats::graph::Writer::new());
        (w, "application/json", "tokendesk-graph.json")
    } else if let Some(password) = password {
        let protection = tokendesk_formats::pskc::Protection::Password {
            password: password.as_bytes(),
            iterations: tokendesk_formats::pskc::EXPORT_ITERATIONS,
        };
        let w = ExportWriter::pskc(&protection).map_err(|e| Problem::invalid(e.to_string()))?;
        (w, "application/pskc+xml", "tokendesk-export.pskc")
    } else {
        (
            ExportWriter::Entra,
            "text/csv; charset=utf-8",
            "tokendesk-entra.csv",
        )
    };
    // The export runs in its own task and streams its answer a chunk (1,000 records) at a
    // time, so memory stays flat however many records it holds. Every record's `export` entry
    // is committed, and the format's check passed, before the status line is sent: a refusal
    // is still an ordinary error answer.
    let vault = state.vault_arc();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let (user, format) = (q.user, q.format);
    tokio::spawn(async move {
        let started = vault
            .export_start(&authz, filter_state, user.as_deref(), &format, check)
            .await;
        let mut export = match started {
            Ok(export) => export,
            Err(e) => {
                let _ = started_tx.send(Err(e));
                return;
            }
        };
        if started_tx.send(Ok(())).is_err() {
            return;
        }
        stream_export(&mut export, writer, &tx).await;
    });
    match started_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => {
            return Err(Problem::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; the server log has the details",
            )
            .into());
        }
    }
    let body = axum::body::Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|item| (item, rx))
    }));
    let disposition = format!("attachment; filename=\"{name}\"");
    let mut resp = (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

/// Sends `export`'s text to `tx`: the format's head, one message per chunk of records, the
/// tail. A failure half-way (a database error, a record whose seed went after its entry was
/// committed) ends the answer with an error, so the client sees a broken transfer, never a
/// short file that looks whole; the entries already committed stay.
async fn stream_export(
    export: &mut tokendesk_vault::SeedExport<'_>,
    mut writer: ExportWriter,
    tx: &tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
) {
    let mut next = writer
        .head()
        .map(String::into_bytes)
        .map_err(|e| e.to_string());
    loop {
        let text = match next {
            Ok(text) => text,
            Err(why) => {
                tracing::error!(error = %why, "export stopped half-way");
                let _ = tx
                    .send(Err(std::io::Error::other("the export stopped")))
                    .await;
                return;
            }
        };
        if tx.send(Ok(text)).await.is_err() {
            return; // The client went away.
        }
        next = match export.next_chunk().await {
            Ok(Some(chunk)) => chunk_text(&mut writer, &chunk),
            Ok(None) => break,
            Err(e) => Err(e.to_string()),
        };
    }
    let tail = writer.tail();
    if !tail.is_empty() {
        let _ = tx.send(Ok(tail.as_bytes().to_vec())).await;
    }
}

/// One chunk's records in the export's format (Entra: SHA-1 records only, the file's
/// assumption).
fn chunk_text(
    writer: &mut ExportWriter,
    chunk: &[tokendesk_vault::ExportedSeed],
) -> Result<Vec<u8>, String> {
    let mut text = Zeroizing::new(String::new());
    for item in chunk {
        if let Some(line) = writer.record(item).map_err(|e| e.to_string())? {
            text.push_str(&line);
        }
    }
    Ok(text.as_bytes().to_vec())
}
