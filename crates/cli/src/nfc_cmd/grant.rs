//! `nfc burn --grant G` (or `--remote --user UPN`, which asks the server for a grant): the
//! desk side of "Burn on a desk reader". The seed comes once from the server the desk is
//! signed in to, lives only in zeroizing memory, is burnt with the same code as every other
//! burn, and is then proved: the code computed from the burnt seed must be the server's own
//! (`POST /api/v1/records/{id}/burned`), which moves the record to `burned`.

use std::io::Write;

use anyhow::anyhow;
use serde::Deserialize;
use serde_json::json;
use tokendesk_otp as otp;
use zeroize::{Zeroize, Zeroizing};

use super::{BurnArgs, BurnPlan, transport};
use crate::clock::Clock;
use crate::desk_cmd::{http_error, refused, signed_in};
use crate::error::{CliError, Outcome};
use crate::vault_cmd::runtime;

/// Where the grant comes from.
pub(super) enum Source<'a> {
    /// Given (copied from the record page).
    Grant(&'a str),
    /// Asked for now, for this user's captured record.
    User(&'a str),
}

/// The server's answer to a fetch; the seed is wiped on drop.
#[derive(Deserialize)]
struct Fetched {
    record_id: String,
    upn: String,
    secret: String,
    algorithm: String,
    digits: u32,
    period: u64,
}

impl Drop for Fetched {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

/// The id of `upn`'s captured record on the server.
async fn captured_record(
    server: &tokendesk_outbound::desk::Server,
    token: &str,
    upn: &str,
) -> Result<String, CliError> {
    let q: String = upn
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let answer = server
        .get(
            &format!("/api/v1/records?state=captured&q={q}"),
            Some(token),
        )
        .await
        .map_err(http_error)?;
    if answer.status != 200 {
        return Err(refused(&answer));
    }
    let list = answer.json();
    let wanted = upn.trim().to_lowercase();
    list.get("records")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .find(|r| r.get("upn").and_then(serde_json::Value::as_str) == Some(wanted.as_str()))
        .and_then(|r| r.get("id").and_then(serde_json::Value::as_str))
        .map(str::to_owned)
        .ok_or_else(|| CliError::input(anyhow!("the server has no captured record for {upn}")))
}

/// Runs the grant burn.
///
/// # Errors
/// Exit 2 when the server refuses (grant expired, used, someone else's; code mismatch); exit 3
/// for the server connection and PC/SC.
pub(super) fn burn(
    b: &BurnArgs,
    source: Source<'_>,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let (profile, server) = signed_in()?;
    let token = profile.token.as_str();
    runtime()?.block_on(async {
        let grant: Zeroizing<String> = match source {
            Source::Grant(g) => Zeroizing::new(g.trim().to_owned()),
            Source::User(upn) => {
                let id = captured_record(&server, token, upn).await?;
                let answer = server
                    .post(&format!("/api/v1/records/{id}/burn-grant"), Some(token), &json!({}))
                    .await
                    .map_err(http_error)?;
                if answer.status != 200 {
                    return Err(refused(&answer));
                }
                let grant = answer.json();
                Zeroizing::new(
                    grant
                        .get("grant")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                )
            }
        };
        let answer = server
            .post("/api/v1/burn-grants/fetch", Some(token), &json!({ "grant": grant.as_str() }))
            .await
            .map_err(http_error)?;
        if answer.status != 200 {
            return Err(refused(&answer));
        }
        let fetched: Fetched = serde_json::from_slice(&answer.body)
            .map_err(|_| CliError::env(anyhow!("the server's answer to the fetch is not a seed")))?;
        drop(answer);
        let (secret, _) = otp::SeedInput::parse(&fetched.secret)
            .map_err(CliError::input)?
            .into_single()
            .ok_or_else(|| CliError::env(anyhow!("the server sent more than one seed")))?;
        let mut stored = otp::OtpAuth::new_totp(secret.duplicate(), None, fetched.upn.clone());
        stored.algorithm = fetched.algorithm.parse().map_err(CliError::input)?;
        stored.digits = otp::Digits::new(fetched.digits).map_err(CliError::input)?;
        stored.period = otp::Period::new(fetched.period).map_err(CliError::input)?;
        let plan = BurnPlan::build(&secret, Some(&stored), b).map_err(CliError::input)?;
        drop(stored);
        drop(secret);
        writeln!(out, "burning the seed of {} (fetched once; it is not shown)", fetched.upn)?;
        let burned = transport::burn(&plan, &b.reader, clock, out).map_err(CliError::env)?;
        let code = plan.totp.at(clock.now_unix_secs()).map_err(CliError::input)?;
        let answer = server
            .post(
                &format!("/api/v1/records/{}/burned", fetched.record_id),
                Some(token),
                &json!({ "serial": burned.serial, "model": burned.model, "code": code.code.expose() }),
            )
            .await
            .map_err(http_error)?;
        if answer.status != 200 {
            writeln!(
                out,
                "the token {} was burnt, but the server did not record it; check the record page",
                burned.serial
            )?;
            return Err(refused(&answer));
        }
        let record = answer.json();
        writeln!(
            out,
            "verified: the burnt seed gives the server's code; {} is now {} (token {}, {})",
            fetched.upn,
            record.get("state").and_then(serde_json::Value::as_str).unwrap_or("burned"),
            burned.serial,
            burned.model.as_deref().unwrap_or("unknown model")
        )?;
        Ok(Outcome::Done)
    })
}
