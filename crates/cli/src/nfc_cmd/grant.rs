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

/// The server's answer to a seed fetch (a burn grant's or a bulk batch's); the seed is wiped
/// on drop.
#[derive(Deserialize)]
pub(crate) struct Fetched {
    pub(crate) record_id: String,
    pub(crate) upn: String,
    secret: String,
    algorithm: String,
    digits: u32,
    period: u64,
}

impl Fetched {
    /// Reads a 200 answer to a fetch.
    pub(crate) fn read(body: &[u8]) -> Result<Self, CliError> {
        serde_json::from_slice(body)
            .map_err(|_| CliError::env(anyhow!("the server's answer to the fetch is not a seed")))
    }

    /// The seed as an otpauth entry with the record's algorithm, digits and period.
    pub(crate) fn seed(&self) -> Result<otp::OtpAuth, CliError> {
        let (secret, _) = otp::SeedInput::parse(&self.secret)
            .map_err(CliError::input)?
            .into_single()
            .ok_or_else(|| CliError::env(anyhow!("the server sent more than one seed")))?;
        let mut stored = otp::OtpAuth::new_totp(secret, None, self.upn.clone());
        stored.algorithm = self.algorithm.parse().map_err(CliError::input)?;
        stored.digits = otp::Digits::new(self.digits).map_err(CliError::input)?;
        stored.period = otp::Period::new(self.period).map_err(CliError::input)?;
        Ok(stored)
    }
}

/// Tells the server that `record_id`'s seed is on token `serial`, with the code the desk
/// computed from the seed it burned (`POST /api/v1/records/{id}/burned`); the record's JSON.
pub(crate) async fn report_burned(
    server: &tokendesk_outbound::desk::Server,
    token: &str,
    record_id: &str,
    (serial, model): (&str, Option<&str>),
    code: &str,
    out: &mut dyn Write,
) -> Result<serde_json::Value, CliError> {
    let answer = server
        .post(
            &format!("/api/v1/records/{record_id}/burned"),
            Some(token),
            &json!({ "serial": serial, "model": model, "code": code }),
        )
        .await
        .map_err(http_error)?;
    if answer.status != 200 {
        writeln!(
            out,
            "the token {serial} was burnt, but the server did not record it; check the record page"
        )?;
        return Err(refused(&answer));
    }
    Ok(answer.json())
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
                    .post(
                        &format!("/api/v1/records/{id}/burn-grant"),
                        Some(token),
                        &json!({}),
                    )
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
            .post(
                "/api/v1/burn-grants/fetch",
                Some(token),
                &json!({ "grant": grant.as_str() }),
            )
            .await
            .map_err(http_error)?;
        if answer.status != 200 {
            return Err(refused(&answer));
        }
        let fetched = Fetched::read(&answer.body)?;
        drop(answer);
        let stored = fetched.seed()?;
        let secret = stored.secret.duplicate();
        let plan = BurnPlan::build(&secret, Some(&stored), b).map_err(CliError::input)?;
        drop(stored);
        drop(secret);
        writeln!(
            out,
            "burning the seed of {} (fetched once; it is not shown)",
            fetched.upn
        )?;
        let burned = transport::burn(&plan, &b.reader, clock, out).map_err(CliError::env)?;
        let code = plan
            .totp
            .at(clock.now_unix_secs())
            .map_err(CliError::input)?;
        let record = report_burned(
            &server,
            token,
            &fetched.record_id,
            (&burned.serial, burned.model.as_deref()),
            code.code.expose(),
            out,
        )
        .await?;
        writeln!(
            out,
            "verified: the burnt seed gives the server's code; {} is now {} (token {}, {})",
            fetched.upn,
            record
                .get("state")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("burned"),
            burned.serial,
            burned.model.as_deref().unwrap_or("unknown model")
        )?;
        Ok(Outcome::Done)
    })
}
