//! Errors as the client sees them: a status, a stable machine-readable `code` and a human
//! message. The JSON API answers `{"code": ..., "message": ...}`; pages render the message in
//! the page layout. Internal failures are logged and answered with a generic message.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;
use tokendesk_vault::VaultError;
use tokendesk_vault::{ApprovalRefusal, RecordError, RevealError, StaffError};

use crate::i18n::{Arg, Lang, Msg, Tr};

/// A client-facing failure.
#[derive(Debug)]
pub(crate) struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<i64>,
    /// The message as a page words it in the reader's language (the JSON API keeps `message`).
    pub page: Option<Msg>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            page: None,
        }
    }

    /// The same problem, worded on pages by the catalogue's `msg`.
    pub fn say(mut self, msg: Msg) -> Self {
        self.page = Some(msg);
        self
    }

    /// The message in the request's language, for a page.
    pub(crate) fn on_page(&self) -> String {
        self.page_message(Tr::current())
    }

    /// The message in `t`'s language: its own wording (the vault's and the seed parser's
    /// details have theirs: `detail.rs`), else the catalogue's sentence for its code, else the
    /// English message after a translated lead-in. English pages show the message as the API
    /// sends it.
    pub(crate) fn page_message(&self, t: Tr) -> String {
        if let Some(m) = &self.page {
            return m.say(t);
        }
        if t.0 == Lang::En {
            return self.message.clone();
        }
        let key = format!("problem-{}", self.code.replace('_', "-"));
        if t.has(&key) {
            let args: Vec<(&str, Arg)> = self
                .retry_after
                .map(|secs| ("secs", Arg::N(secs)))
                .into_iter()
                .collect();
            return t.ta(&key, &args);
        }
        t.t1("problem-detail", "detail", &self.message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// A request body its extractor refused: an oversize body stays 413 (as the body-size
    /// layer answers), anything else is 400.
    pub fn body(status: StatusCode, message: impl Into<String>) -> Self {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            Self::new(status, "too_large", message)
        } else {
            Self::bad_request(message)
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in first (or send an API key as `Authorization: Bearer tdk_...`)",
        )
        .say(Msg::new("problem-unauthenticated"))
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your role does not allow this",
        )
        .say(Msg::new("problem-forbidden"))
    }

    /// This problem as a page.
    pub(crate) fn into_page_response(self) -> Response {
        PageError(self).into_response()
    }

    /// Adds the headers this problem implies (`Retry-After`).
    pub(crate) fn headers(&self, resp: &mut Response) {
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
}

impl From<VaultError> for Problem {
    fn from(err: VaultError) -> Self {
        use StatusCode as S;
        let (status, code) = match &err {
            VaultError::Invalid(_) => (S::UNPROCESSABLE_ENTITY, "invalid"),
            VaultError::Record(RecordError::Transition(_)) => (S::CONFLICT, "illegal_transition"),
            VaultError::Record(RecordError::ActiveRecordExists { .. }) => {
                (S::CONFLICT, "active_record_exists")
            }
            VaultError::Record(
                RecordError::NoRecord { .. }
                | RecordError::NoBatch { .. }
                | RecordError::NotInBatch { .. },
            ) => (S::NOT_FOUND, "not_found"),
            VaultError::Record(RecordError::WrongToken { .. }) => (S::CONFLICT, "wrong_token"),
            VaultError::Reveal(RevealError::NotRevealable { .. }) => {
                (S::CONFLICT, "not_revealable")
            }
            VaultError::Record(RecordError::Purged { .. }) => (S::CONFLICT, "purged"),
            VaultError::Reveal(RevealError::QuotaExceeded { .. }) => {
                (S::TOO_MANY_REQUESTS, "quota_exceeded")
            }
            VaultError::Reveal(RevealError::OutsideRevealWindow(_)) => {
                (S::UNPROCESSABLE_ENTITY, "outside_reveal_window")
            }
            VaultError::Record(RecordError::CodeMismatch { .. }) => {
                (S::UNPROCESSABLE_ENTITY, "code_mismatch")
            }
            VaultError::Staff(StaffError::LoginFailed) => (S::UNAUTHORIZED, "login_failed"),
            VaultError::Staff(StaffError::LockedOut { retry_after_secs }) => {
                let mut p = Problem::new(S::TOO_MANY_REQUESTS, "locked_out", err.to_string());
                p.retry_after = Some(*retry_after_secs);
                return p;
            }
            VaultError::Reveal(RevealError::TooManyAttempts { .. }) => {
                (S::TOO_MANY_REQUESTS, "too_many_attempts")
            }
            VaultError::Forbidden { .. } => (S::FORBIDDEN, "forbidden"),
            VaultError::Staff(StaffError::SessionInvalid) => (S::UNAUTHORIZED, "unauthenticated"),
            VaultError::Staff(StaffError::WrongStage { .. }) => (S::CONFLICT, "wrong_stage"),
            VaultError::Staff(StaffError::WrongCode) => (S::UNPROCESSABLE_ENTITY, "wrong_code"),
            VaultError::Staff(StaffError::SetupTokenInvalid) => {
                (S::UNPROCESSABLE_ENTITY, "setup_token_invalid")
            }
            VaultError::Staff(StaffError::StaffNotFound { .. })
            | VaultError::Staff(StaffError::ApiKeyNotFound { .. }) => (S::NOT_FOUND, "not_found"),
            VaultError::Staff(StaffError::StaffExists { .. })
            | VaultError::Staff(StaffError::ApiKeyExists { .. }) => (S::CONFLICT, "exists"),
            VaultError::Staff(StaffError::LastAdmin { .. }) => (S::CONFLICT, "last_admin"),
            VaultError::Staff(StaffError::ProviderSignInRequired) => {
                (S::FORBIDDEN, "provider_sign_in_required")
            }
            VaultError::Staff(
                StaffError::NoRole { .. }
                | StaffError::ProviderLoginUnusable { .. }
                | StaffError::LinkedElsewhere { .. }
                | StaffError::Disabled,
            ) => (S::FORBIDDEN, "provider_sign_in_refused"),
            VaultError::Staff(StaffError::FlowInvalid) => (S::BAD_REQUEST, "sign_in_flow_invalid"),
            VaultError::Staff(StaffError::DeskCodeUnknown) => (S::NOT_FOUND, "desk_code_unknown"),
            VaultError::Staff(StaffError::DeskSessionNotFound { .. }) => {
                (S::NOT_FOUND, "not_found")
            }
            VaultError::Staff(StaffError::BurnGrantRefused { .. }) => {
                (S::CONFLICT, "burn_grant_refused")
            }
            VaultError::Reveal(RevealError::ApprovalInvalid { reason, .. }) => {
                (approval_status(*reason), "approval_invalid")
            }
            // A lost connection, a database restarting, SQLite's lock held too long: nothing
            // changed, and the same request is likely to work a moment later.
            _ if err.is_unavailable() => {
                tracing::warn!(error = %err, "database unavailable");
                let mut p = Problem::new(
                    S::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database cannot be reached right now; nothing was changed. Try again in a moment.",
                );
                p.retry_after = Some(1);
                return p;
            }
            _ => {
                tracing::error!(error = %err, "internal error");
                return Problem::new(
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; the server log has the details",
                );
            }
        };
        let problem = Problem::new(status, code, err.to_string());
        match crate::detail::vault(&err) {
            Some(words) => problem.say(words),
            None => problem,
        }
    }
}

/// The status of a refused approval, by the vault's reason: an unknown request is 404, one's
/// own request (or approval) 403, and one that is not (or no longer) usable 409.
fn approval_status(reason: ApprovalRefusal) -> StatusCode {
    match reason {
        ApprovalRefusal::Unknown => StatusCode::NOT_FOUND,
        ApprovalRefusal::OwnRequest | ApprovalRefusal::OwnApproval => StatusCode::FORBIDDEN,
        ApprovalRefusal::ApprovedAlready
        | ApprovalRefusal::RequestExpired
        | ApprovalRefusal::NotApproved
        | ApprovalRefusal::Used
        | ApprovalRefusal::Expired
        | ApprovalRefusal::OtherRecord => StatusCode::CONFLICT,
    }
}

impl Problem {
    /// A multipart upload that could not be read, `what` naming it ("the upload", "the
    /// form"): 413 when too large, else 400.
    pub fn multipart(what: &str, e: &axum::extract::multipart::MultipartError) -> Self {
        Self::body(e.status(), format!("cannot read {what}: {}", e.body_text()))
    }
}

impl From<axum::extract::rejection::JsonRejection> for Problem {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        Self::body(e.status(), e.body_text())
    }
}

/// A [`Problem`] answered as JSON (API routes).
#[derive(Debug)]
pub(crate) struct ApiError(pub Problem);

impl<E: Into<Problem>> From<E> for ApiError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let p = self.0;
        let mut resp = (
            p.status,
            Json(json!({ "code": p.code, "message": p.message })),
        )
            .into_response();
        p.headers(&mut resp);
        resp
    }
}

/// A [`Problem`] answered as an HTML page (browser routes).
#[derive(Debug)]
pub(crate) struct PageError(pub Problem);

impl<E: Into<Problem>> From<E> for PageError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let p = self.0;
        let t = Tr::current();
        let body = crate::html::error_page(t, p.status, &p.page_message(t));
        let mut resp = (p.status, Html(body)).into_response();
        p.headers(&mut resp);
        resp
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;
pub(crate) type PageResult<T = Response> = Result<T, PageError>;
