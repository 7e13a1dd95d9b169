//! The desk's side of the server: `tokendesk login URL` (device sign-in: show a code, the
//! person approves it in the browser, the desk token goes to the profile), `tokendesk logout`
//! (revoked on the server, file deleted), and `tokendesk remote …` (records through the API,
//! with the server's own checks). The burn with a grant lives in `nfc_cmd::grant`.

mod profile;
pub(crate) mod remote;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;
use clap::Args;
use serde_json::json;
use tokendesk_outbound::desk::{Answer, Server};

use crate::clock::Clock;
use crate::error::{CliError, Outcome};
use crate::vault_cmd::runtime;

pub(crate) use profile::Profile;
pub use remote::RemoteArgs;

/// `tokendesk login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The tokendesk server, e.g. https://tokendesk.example (plain http:// only on loopback).
    #[arg(value_name = "URL")]
    url: String,
    /// How this desk is named in the audit trail and on the Staff page [default: the
    /// computer's name].
    #[arg(long, value_name = "NAME")]
    desk_name: Option<String>,
    /// A PEM file of CA certificates to trust for the server (beside the system's).
    #[arg(long, env = "TOKENDESK_CA_FILE", value_name = "FILE")]
    ca_file: Option<PathBuf>,
}

/// `tokendesk logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {}

/// The computer's name, for the desk name and host.
fn host_name() -> Option<String> {
    ["COMPUTERNAME", "HOSTNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .chain(std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
                .take(64)
                .collect::<String>()
        })
        .find(|h| !h.is_empty())
}

pub(crate) fn http_error(e: tokendesk_outbound::HttpError) -> CliError {
    CliError::env(anyhow!("cannot reach the tokendesk server: {e}"))
}

/// An answer that is not 2xx, as an error: 401 says to sign in again.
pub(crate) fn refused(answer: &Answer) -> CliError {
    match answer.status {
        401 => CliError::env(anyhow!(
            "the server no longer accepts this desk's sign-in (expired or revoked); run `tokendesk login` again"
        )),
        400..=499 => CliError::input(anyhow!("the server refused: {}", answer.message())),
        _ => CliError::env(anyhow!("the server failed: {}", answer.message())),
    }
}

/// The stored sign-in and a client for its server.
pub(crate) fn signed_in() -> Result<(Profile, Server), CliError> {
    let profile = profile::load().map_err(CliError::env)?;
    let server =
        Server::new(&profile.server, profile.ca_file.as_deref()).map_err(CliError::input)?;
    Ok((profile, server))
}

/// Runs `tokendesk login`.
///
/// # Errors
/// Exit 2 for a bad URL or a refused sign-in; exit 3 when the server cannot be reached.
pub(crate) fn login(
    args: &LoginArgs,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let server = Server::new(&args.url, args.ca_file.as_deref()).map_err(CliError::input)?;
    let host = host_name();
    let desk = match (&args.desk_name, &host) {
        (Some(n), _) => n.clone(),
        (None, Some(h)) => h.clone(),
        (None, None) => "desk".to_owned(),
    };
    let ca_file = match &args.ca_file {
        Some(p) => Some(std::path::absolute(p).map_err(CliError::input)?),
        None => None,
    };
    runtime()?.block_on(async {
        let answer = server
            .post(
                "/api/v1/desk/start",
                None,
                &json!({ "desk_name": desk, "desk_host": host }),
            )
            .await
            .map_err(http_error)?;
        if answer.status != 200 {
            return Err(refused(&answer));
        }
        let start = answer.json();
        let field = |k: &str| start.get(k).and_then(serde_json::Value::as_str);
        let (Some(device_code), Some(user_code), Some(uri)) = (
            field("device_code").map(|s| zeroize::Zeroizing::new(s.to_owned())),
            field("user_code"),
            field("verification_uri"),
        ) else {
            return Err(CliError::env(anyhow!(
                "{} did not answer like a tokendesk server",
                server.url()
            )));
        };
        let mut interval = start
            .get("interval")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(5);
        let expires = start
            .get("expires_in")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(600);
        writeln!(out, "To sign this desk ({desk}) in, open {uri}")?;
        writeln!(
            out,
            "in a browser where you are signed in, and confirm the code: {user_code}"
        )?;
        writeln!(
            out,
            "(or open {uri}?code={user_code}); waiting up to {} min…",
            expires / 60
        )?;
        out.flush()?;
        let deadline = clock.now_unix_secs().saturating_add(expires);
        loop {
            tokio::time::sleep(Duration::from_secs(interval)).await;
            let answer = server
                .post(
                    "/api/v1/desk/poll",
                    None,
                    &json!({ "device_code": device_code.as_str() }),
                )
                .await
                .map_err(http_error)?;
            if answer.status != 200 {
                return Err(refused(&answer));
            }
            let poll = answer.json();
            match poll.get("status").and_then(serde_json::Value::as_str) {
                Some("pending") => {}
                Some("slow_down") => {
                    interval = poll
                        .get("interval")
                        .and_then(serde_json::Value::as_u64)
                        .unwrap_or(interval + 5);
                }
                Some("denied") => {
                    return Err(CliError::input(anyhow!(
                        "the sign-in was denied in the browser"
                    )));
                }
                Some("approved") => return finish_login(&server, ca_file, &desk, &poll, out),
                _ => return Err(expired()),
            }
            if clock.now_unix_secs() > deadline {
                return Err(expired());
            }
        }
    })
}

fn expired() -> CliError {
    CliError::input(anyhow!(
        "the code expired before it was confirmed; run `tokendesk login` again"
    ))
}

fn finish_login(
    server: &Server,
    ca_file: Option<PathBuf>,
    desk: &str,
    poll: &serde_json::Value,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let get = |k: &str| poll.get(k).and_then(serde_json::Value::as_str);
    let (Some(token), Some(username)) = (get("token"), get("username")) else {
        return Err(CliError::env(anyhow!(
            "the server's answer lacks the desk token"
        )));
    };
    let expires = poll
        .get("expires_unix_secs")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or_default();
    let profile = Profile {
        server: server.url().to_owned(),
        ca_file,
        token: token.to_owned(),
        username: username.to_owned(),
        desk: desk.to_owned(),
        expires_unix_secs: expires,
    };
    let path = profile::save(&profile).map_err(CliError::env)?;
    writeln!(
        out,
        "signed in as {username} on {} until {} (kept in {})",
        server.url(),
        crate::nfc_cmd::format_unix(u64::try_from(expires).unwrap_or_default()),
        path.display()
    )?;
    Ok(Outcome::Done)
}

/// Runs `tokendesk logout`: revokes the desk token on the server, then deletes the file (also
/// when the server already refuses the token).
///
/// # Errors
/// Exit 3 when not signed in or the server cannot be reached (the file is kept then, so the
/// sign-out can be retried).
pub(crate) fn logout(_: &LogoutArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let (profile, server) = signed_in()?;
    let path = profile::path().map_err(CliError::env)?;
    runtime()?.block_on(async {
        let answer = server
            .post("/api/v1/desk/logout", Some(&profile.token), &json!({}))
            .await
            .map_err(http_error)?;
        match answer.status {
            200..=299 | 401 => {}
            _ => return Err(refused(&answer)),
        }
        profile::remove(&path).map_err(CliError::env)?;
        writeln!(
            out,
            "signed out of {}; the desk token is revoked and deleted",
            server.url()
        )?;
        Ok(Outcome::Done)
    })
}
