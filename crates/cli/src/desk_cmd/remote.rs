//! `tokendesk remote …`: the records of the server this desk is signed in to, through its JSON
//! API as the signed-in person. The server applies exactly the rules of its pages (role,
//! verification, quota, four-eyes, audit); this module only asks and prints.

use std::io::Write;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::{http_error, refused, signed_in};
use crate::error::{CliError, Outcome};
use crate::vault_cmd::runtime;

/// Records on the server this desk is signed in to (`tokendesk login`).
#[derive(Debug, Args)]
pub struct RemoteArgs {
    #[command(subcommand)]
    command: RemoteCommand,
    /// Print the server's JSON answer instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum RemoteCommand {
    /// Records whose UPN contains TEXT (all without), optionally in one state.
    Search {
        /// Part of the UPN.
        #[arg(value_name = "TEXT", default_value = "")]
        text: String,
        /// Only records in this state.
        #[arg(long)]
        state: Option<String>,
    },
    /// One record by id.
    Show {
        /// Record id (see `remote search`).
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Move a record along its lifecycle (burned, shipped, delivered, lost, cancelled).
    Move(MoveArgs),
    /// Reveal the current code of a record, after verifying the caller (audited on the server),
    /// or send a code to the record's e-mail address (`--email`).
    Reveal(RevealArgs),
    /// Ask for a four-eyes approval to reveal a record's code (for `--verification
    /// second-approver`, or past the daily quota); another person approves it.
    RequestApproval {
        /// Record id.
        #[arg(value_name = "ID")]
        id: String,
        /// The ticket the reveal is for.
        #[arg(long)]
        ticket: String,
        /// Why a second person is needed, for the approver.
        #[arg(long)]
        reason: String,
    },
    /// Approve someone else's four-eyes request (never your own).
    Approve {
        /// The approval id the requester was given.
        #[arg(value_name = "APPROVAL-ID")]
        approval: String,
    },
}

#[derive(Debug, Args)]
struct MoveArgs {
    /// Record id.
    #[arg(value_name = "ID")]
    id: String,
    /// The new state.
    #[arg(long)]
    to: String,
    /// Token serial (burned).
    #[arg(long)]
    serial: Option<String>,
    /// Token model (burned).
    #[arg(long)]
    model: Option<String>,
    /// Carrier (shipped).
    #[arg(long)]
    carrier: Option<String>,
    /// Tracking number (shipped).
    #[arg(long)]
    tracking: Option<String>,
    /// Expected delivery, YYYY-MM-DD (shipped).
    #[arg(long)]
    expected: Option<String>,
    /// A code read from the arrived token (delivered).
    #[arg(long)]
    code: Option<String>,
    /// Why (lost, cancelled).
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Debug, Args)]
struct RevealArgs {
    /// Record id.
    #[arg(value_name = "ID")]
    id: String,
    /// The ticket this reveal is for.
    #[arg(long)]
    ticket: String,
    /// How the caller was verified: call-back, passphrase or second-approver.
    #[arg(long, value_name = "METHOD")]
    verification: String,
    /// The caller's passphrase (for `passphrase`), read from standard input when `-`.
    #[arg(long, value_name = "TEXT")]
    passphrase: Option<String>,
    /// The four-eyes approval id (for `second-approver`, or over the quota).
    #[arg(long, value_name = "ID")]
    approval: Option<String>,
    /// Record that the caller could NOT be verified (no code is shown).
    #[arg(long)]
    failed: bool,
    /// Send the code to the record's e-mail address instead of printing it (the server needs
    /// its mail settings and the record an address; the desk never sees the code).
    #[arg(long)]
    email: bool,
    /// With --email: a code usable that many minutes from now (0 to 44640) instead of now.
    #[arg(long = "in", value_name = "MINUTES", requires = "email")]
    in_minutes: Option<i64>,
}

/// Runs a `remote` subcommand.
///
/// # Errors
/// Exit 2 when the server refuses (its message says why), 3 when it cannot be reached or the
/// desk is not signed in.
pub(crate) fn run(args: &RemoteArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let (profile, server) = signed_in()?;
    let token = profile.token.as_str();
    runtime()?.block_on(async {
        let answer = match &args.command {
            RemoteCommand::Search { text, state } => {
                let mut path = format!("/api/v1/records?q={}", query_text(text));
                if let Some(s) = state {
                    path.push_str(&format!("&state={}", query_text(s)));
                }
                server.get(&path, Some(token)).await
            }
            RemoteCommand::Show { id } => {
                server
                    .get(&format!("/api/v1/records/{}", path_part(id)?), Some(token))
                    .await
            }
            RemoteCommand::Move(m) => {
                let mut body = Map::new();
                body.insert("to".into(), json!(m.to));
                for (k, v) in [
                    ("serial", &m.serial),
                    ("model", &m.model),
                    ("carrier", &m.carrier),
                    ("tracking", &m.tracking),
                    ("expected", &m.expected),
                    ("code", &m.code),
                    ("reason", &m.reason),
                ] {
                    if let Some(v) = v {
                        body.insert(k.into(), json!(v));
                    }
                }
                let path = format!("/api/v1/records/{}/transition", path_part(&m.id)?);
                server.post(&path, Some(token), &Value::Object(body)).await
            }
            RemoteCommand::Reveal(r) => {
                let passphrase = match r.passphrase.as_deref() {
                    Some("-") => Some(read_stdin_line()?),
                    Some(p) => Some(zeroize::Zeroizing::new(p.to_owned())),
                    None => None,
                };
                let mut body = json!({
                    "verification": r.verification,
                    "outcome": if r.failed { "failed" } else { "passed" },
                    "ticket": r.ticket,
                    "passphrase": passphrase.as_deref().map(String::as_str),
                    "approval": r.approval,
                });
                if r.email
                    && let Some(fields) = body.as_object_mut()
                {
                    fields.insert("purpose".into(), json!("email"));
                    fields.insert("send_email".into(), json!(true));
                    fields.insert("future".into(), json!(r.in_minutes.unwrap_or(0)));
                }
                let path = format!("/api/v1/records/{}/reveal", path_part(&r.id)?);
                server.post(&path, Some(token), &body).await
            }
            RemoteCommand::RequestApproval { id, ticket, reason } => {
                let path = format!("/api/v1/records/{}/approval", path_part(id)?);
                let body = json!({ "ticket": ticket, "reason": reason });
                server.post(&path, Some(token), &body).await
            }
            RemoteCommand::Approve { approval } => {
                let path = format!("/api/v1/approvals/{}/approve", path_part(approval)?);
                server.post(&path, Some(token), &json!({})).await
            }
        }
        .map_err(http_error)?;
        if !(200..300).contains(&answer.status) {
            return Err(refused(&answer));
        }
        let value = answer.json();
        if args.json {
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            )?;
            return Ok(Outcome::Done);
        }
        match &args.command {
            RemoteCommand::Search { .. } => {
                let records = value.get("records").and_then(Value::as_array);
                for r in records.into_iter().flatten() {
                    print_record_line(r, out)?;
                }
                let total = value
                    .get("total")
                    .and_then(Value::as_i64)
                    .unwrap_or_default();
                writeln!(out, "{total} record(s)")?;
            }
            RemoteCommand::Show { .. } | RemoteCommand::Move(_) => {
                print_record_line(&value, out)?;
            }
            RemoteCommand::Reveal(_) if value.get("sent").is_some() => print_sent(&value, out)?,
            RemoteCommand::Reveal(_) => print_codes(&value, out)?,
            RemoteCommand::RequestApproval { .. } => {
                let approval = text(&value, "/approval");
                writeln!(
                    out,
                    "approval {approval} requested for {}; another person approves it with \
                     `tokendesk remote approve {approval}` or on the Approvals page, then \
                     reveal with --verification second-approver --approval {approval}",
                    text(&value, "/upn")
                )?;
            }
            RemoteCommand::Approve { .. } => writeln!(
                out,
                "approval {} approved by {}",
                text(&value, "/approval"),
                text(&value, "/approved_by")
            )?,
        }
        Ok(Outcome::Done)
    })
}

fn print_record_line(r: &Value, out: &mut dyn Write) -> std::io::Result<()> {
    let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
    let serial = r
        .pointer("/token/serial")
        .and_then(Value::as_str)
        .unwrap_or("-");
    writeln!(out, "{}\t{}\t{}\t{serial}", s("id"), s("upn"), s("state"))
}

fn print_codes(v: &Value, out: &mut dyn Write) -> std::io::Result<()> {
    let upn = v.get("upn").and_then(Value::as_str).unwrap_or("-");
    for c in v
        .get("codes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let code = c.get("code").and_then(Value::as_str).unwrap_or("-");
        let left = c
            .get("secs_left")
            .and_then(Value::as_u64)
            .unwrap_or_default();
        writeln!(out, "{upn}: {code} (for {left} more s)")?;
    }
    Ok(())
}

/// A string at `pointer` in the server's answer, `-` when missing.
fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("-")
}

/// Where an e-mailed code went and when it can be used, in this desk's time zone (the e-mail
/// states the user's zone).
fn print_sent(v: &Value, out: &mut dyn Write) -> std::io::Result<()> {
    let zone = crate::timefmt::Zone::local();
    let at = |pointer: &str| {
        v.pointer(pointer)
            .and_then(Value::as_u64)
            .map_or_else(|| "-".to_owned(), |t| zone.datetime(t))
    };
    let from = v
        .pointer("/sent/usable_from")
        .and_then(Value::as_u64)
        .unwrap_or_default();
    writeln!(
        out,
        "code sent to {}, usable from {} until {} {} (the e-mail gives the times in {}); the \
         mail server answered: {}",
        text(v, "/sent/to"),
        at("/sent/usable_from"),
        at("/sent/usable_until"),
        zone.label(from),
        text(v, "/sent/time_zone"),
        text(v, "/sent/server_reply"),
    )
}

/// A path segment: record ids are UUIDs; refuse anything that would change the path.
fn path_part(id: &str) -> Result<&str, CliError> {
    let ok = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(id)
    } else {
        Err(CliError::input(anyhow!(
            "{id:?} is not a record id; find it with `tokendesk remote search`"
        )))
    }
}

/// Percent-encodes a query value.
fn query_text(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn read_stdin_line() -> Result<zeroize::Zeroizing<String>, CliError> {
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .read_line(&mut line)
        .map_err(CliError::env)?;
    let trimmed = zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    Ok(trimmed)
}
