//! `bulk burn --remote --batch ID`: the stack burned on this desk's reader from a batch on the
//! server the desk is signed in to (`tokendesk login`). The batch comes from
//! `GET /api/v1/bulk/{id}`; each seed from `POST /api/v1/bulk/{id}/fetch` with the serial of the
//! token on the reader, which the server binds to the record before it answers (and refuses for
//! any other token afterwards); the burn is reported like a grant burn
//! (`POST /api/v1/records/{id}/burned`, with the code the burned seed gives).

use std::io::Write;

use anyhow::anyhow;
use serde_json::{Value, json};
use tokendesk_outbound::desk::Server;
use tokendesk_vault::{State, TokenParams};

use super::{BurnArgs, Handed, Job, Ledger, Plan};
use crate::clock::Clock;
use crate::desk_cmd::{http_error, refused, signed_in};
use crate::error::{CliError, Outcome};
use crate::nfc_cmd::grant::{Fetched, report_burned};
use crate::vault_cmd::runtime;

/// The server, as the station's ledger.
struct Remote<'a> {
    server: &'a Server,
    token: &'a str,
    batch: &'a str,
}

impl Ledger for Remote<'_> {
    async fn take(
        &self,
        job: &Job,
        serial: &str,
        model: Option<&str>,
    ) -> anyhow::Result<Result<Handed, String>> {
        let answer = self
            .server
            .post(
                &format!("/api/v1/bulk/{}/fetch", self.batch),
                Some(self.token),
                &json!({ "record_id": job.record_id, "serial": serial, "model": model }),
            )
            .await
            .map_err(|e| http_error(e).error)?;
        if answer.status == 409 && answer.json().get("code") == Some(&json!("wrong_token")) {
            return Ok(Err(answer.message()));
        }
        if answer.status != 200 {
            return Err(refused(&answer).error);
        }
        let fetched = Fetched::read(&answer.body).map_err(|e| e.error)?;
        drop(answer);
        if fetched.record_id != job.record_id {
            return Err(anyhow!("the server sent the seed of another record"));
        }
        let stored = fetched.seed().map_err(|e| e.error)?;
        Ok(Ok(Handed {
            params: TokenParams {
                algorithm: stored.algorithm,
                digits: u32::from(stored.digits.get()),
                period_secs: u32::try_from(stored.period.secs())?,
            },
            secret: stored.secret,
        }))
    }

    async fn burned(
        &self,
        job: &Job,
        token: (&str, Option<&str>),
        code: &str,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        report_burned(self.server, self.token, &job.record_id, token, code, out)
            .await
            .map_err(|e| e.error)?;
        Ok(())
    }
}

/// The batch's users as the plan takes them.
fn users(batch: &Value) -> Vec<(String, String, State, Option<String>)> {
    let text = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).map(str::to_owned);
    batch
        .get("records")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some((
                text(r, "record_id")?,
                text(r, "upn")?,
                text(r, "state")?.parse().ok()?,
                text(r, "serial"),
            ))
        })
        .collect()
}

pub(super) fn run(
    args: &BurnArgs,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let batch = args
        .batch
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty() && b.bytes().all(|c| c.is_ascii_alphanumeric()))
        .ok_or_else(|| {
            CliError::input(anyhow!("--batch takes the batch's id (letters and digits)"))
        })?;
    let (profile, server) = signed_in()?;
    let token = profile.token.as_str();
    runtime()?.block_on(async {
        let answer = server
            .get(&format!("/api/v1/bulk/{batch}"), Some(token))
            .await
            .map_err(http_error)?;
        if answer.status != 200 {
            return Err(refused(&answer));
        }
        let plan = Plan::of(users(&answer.json()));
        for (upn, state) in &plan.problems {
            writeln!(out, "left out: {upn} (the record is {})", state.as_str())?;
        }
        let ledger = Remote {
            server: &server,
            token,
            batch,
        };
        plan.run(args, &ledger, clock, out).await
    })
}
