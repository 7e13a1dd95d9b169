//! What the web layer e-mails: a code for a later time (a reveal, sent instead of shown) and
//! the lifecycle notices. Every attempt leaves an audit entry saying whether the SMTP server
//! accepted the message or why it was not sent; no code or address reaches a log line.

use serde_json::json;
use tokendesk_outbound::mail::{CodeMail, Notice, NoticeKind, SendError};
use tokendesk_vault::{Authorized, Permission, Record, State};
use zeroize::Zeroizing;

use crate::AppState;
use crate::error::Problem;
use crate::i18n::{Lang, Tr};
use crate::reveal::ENTRA_WINDOW_SECS;

/// A time zone field as typed: blank is none; otherwise it must be in the time zone
/// database.
pub(crate) fn zone_field(text: &str) -> Result<Option<String>, Problem> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    tokendesk_outbound::zone::check(text)
        .map(Some)
        .map_err(|e| Problem::invalid(e.to_string()))
}

/// The language of what the user reads (e-mails, the message for the user): the record's,
/// else the request's (the staff member's setting, else the browser's).
pub(crate) fn user_lang(record: &Record) -> Tr {
    record
        .language
        .as_deref()
        .and_then(Lang::parse)
        .map_or_else(Tr::current, Tr)
}

/// The outcome of sending a code, for the page and the API.
pub(crate) struct CodeSent {
    /// The address it went to.
    pub to: String,
    /// The server's reply.
    pub reply: String,
    /// From when the user may use the code (Unix seconds).
    pub usable_from: i64,
    /// Until when (Unix seconds).
    pub usable_until: i64,
    /// The user's zone the mail states times in (`UTC` without one).
    pub zone: String,
}

/// A reveal that leaves by e-mail, shared by the reveal page and the API: checks that it can
/// be sent before anything is revealed, reveals the code for `ask.at` (audited with purpose
/// `email`), sends it to the record's address and audits the outcome. The code is never
/// returned to the operator.
pub(crate) async fn reveal_and_send(
    state: &AppState,
    auth: &crate::auth::Auth,
    id: &str,
    ask: &crate::reveal::Ask,
) -> Result<CodeSent, Problem> {
    let record = state.vault().record(id).await?;
    mail_and_address(state, &record)?;
    let shown = crate::reveal::run(state, auth, id, ask).await?;
    let row = shown
        .rows
        .first()
        .ok_or_else(|| Problem::invalid("no code was revealed"))?;
    send_code(
        state,
        &auth.authorize(Permission::Reveal)?,
        &record,
        Zeroizing::new(row.code.clone()),
        i64::try_from(row.valid_from).unwrap_or(i64::MAX),
        i64::try_from(row.valid_until).unwrap_or(i64::MAX),
        ask.ticket.as_str(),
    )
    .await
}

/// Sends `code` (valid `valid_from..valid_until`) to the record's address and audits the
/// outcome. Never retried; refused when the window has already ended.
async fn send_code(
    state: &AppState,
    proof: &Authorized,
    record: &Record,
    code: Zeroizing<String>,
    valid_from: i64,
    valid_until: i64,
    ticket: &str,
) -> Result<CodeSent, Problem> {
    let (mail, to) = mail_and_address(state, record)?;
    let window = i64::try_from(ENTRA_WINDOW_SECS).unwrap_or(120);
    let usable_from = valid_from.saturating_sub(window);
    let usable_until = valid_until.saturating_add(window);
    let zone = record.time_zone.clone();
    let outcome = if state.now_i64() >= usable_until {
        Err(SendError::Message(
            "the code's window has already ended".into(),
        ))
    } else {
        let message = CodeMail {
            to: to.clone(),
            user: record
                .display_name
                .clone()
                .unwrap_or_else(|| record.upn.clone()),
            upn: record.upn.clone(),
            code,
            usable_from,
            usable_until,
            zone: zone.clone(),
            ticket: ticket.to_owned(),
            wording: std::sync::Arc::new(user_lang(record)),
        }
        .message(mail.mailer.from());
        match message {
            Ok(m) => mail.mailer.send(m).await,
            Err(e) => Err(e),
        }
    };
    audit(state, proof, record, "code", &to, &outcome).await?;
    match outcome {
        Ok(accepted) => Ok(CodeSent {
            to,
            reply: accepted.reply,
            usable_from,
            usable_until,
            zone: zone.unwrap_or_else(|| "UTC".into()),
        }),
        Err(e) => Err(Problem::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "email_not_sent",
            format!("The code was NOT sent: {e}. The reveal is recorded in the audit trail."),
        )
        .say(crate::i18n::Msg::new("email-code-not-sent").arg("reason", e.to_string()))),
    }
}

/// After a lifecycle move to `moved_to`: the notice the settings ask for, if the record has an
/// address. `None` when nothing was due; otherwise whether it was sent, with a line for the
/// operator. The attempt is audited either way.
pub(crate) async fn notify(
    state: &AppState,
    proof: &Authorized,
    record: &Record,
    moved_to: State,
) -> Option<Result<String, String>> {
    let mail = state.config().mail.as_ref()?;
    let kind = match moved_to {
        State::Shipped if mail.notify_shipped => NoticeKind::Shipped {
            carrier: record.shipment.carrier.clone(),
            tracking: record.shipment.tracking.clone(),
        },
        State::Delivered if mail.notify_delivered => NoticeKind::Delivered,
        _ => return None,
    };
    let to = record.email.clone()?;
    let notice = Notice {
        to: to.clone(),
        user: record
            .display_name
            .clone()
            .unwrap_or_else(|| record.upn.clone()),
        upn: record.upn.clone(),
        kind,
        at: state.now_i64(),
        zone: record.time_zone.clone(),
        wording: std::sync::Arc::new(user_lang(record)),
    };
    let outcome = match notice.message(mail.mailer.from()) {
        Ok(m) => mail.mailer.send(m).await,
        Err(e) => Err(e),
    };
    let what = if moved_to == State::Shipped {
        "shipped"
    } else {
        "delivered"
    };
    if let Err(e) = audit(state, proof, record, what, &to, &outcome).await {
        return Some(Err(format!(
            "the notice could not be audited: {}",
            e.message
        )));
    }
    Some(match outcome {
        Ok(_) => Ok(format!("The user was told by e-mail ({to}).")),
        Err(e) => Err(format!("The e-mail notice was NOT sent: {e}")),
    })
}

/// The mail settings and the record's address, or why a code cannot be e-mailed.
pub(crate) fn mail_and_address<'a>(
    state: &'a AppState,
    record: &Record,
) -> Result<(&'a crate::MailConfig, String), Problem> {
    let mail = state.config().mail.as_ref().ok_or_else(|| {
        Problem::new(
            axum::http::StatusCode::CONFLICT,
            "email_not_configured",
            "e-mail is not set up on this server (see the README, \"E-mail\"); read the code out instead",
        )
        .say(crate::i18n::Msg::new("email-not-configured"))
    })?;
    let to = record.email.clone().ok_or_else(|| {
        Problem::new(
            axum::http::StatusCode::CONFLICT,
            "no_email_address",
            "this record has no e-mail address for the user; a provisioner can add one on the record page",
        )
        .say(crate::i18n::Msg::new("email-no-address"))
    })?;
    Ok((mail, to))
}

async fn audit(
    state: &AppState,
    proof: &Authorized,
    record: &Record,
    what: &str,
    to: &str,
    outcome: &Result<tokendesk_outbound::mail::Accepted, SendError>,
) -> Result<(), Problem> {
    let (action, detail) = match outcome {
        Ok(a) => (
            "email.sent",
            json!({ "message": what, "to": to, "channel": "smtp", "server_reply": a.reply }),
        ),
        Err(e) => (
            "email.not-sent",
            json!({ "message": what, "to": to, "channel": "smtp", "reason": e.kind(), "detail": e.to_string() }),
        ),
    };
    let permission = if what == "code" {
        Permission::Reveal
    } else {
        Permission::Transition
    };
    state
        .vault()
        .audit_note(proof, permission, &record.id, action, detail)
        .await
        .map_err(Problem::from)
}
