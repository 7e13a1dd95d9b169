//! Disclosure paths: reveals (codes for a verified caller) and exports. Both write their audit
//! event in the same transaction that reads the seed, before anything leaves the vault, and both
//! are refused once the seed is gone.

use std::fmt;

use serde_json::json;
use sqlx::AnyConnection;
use zeroize::Zeroizing;

use tokendesk_otp::{Digits, Period, Secret, Totp, TotpCode, TotpParams};

use crate::approvals::{ApprovalId, consume_approval};
use crate::error::{Result, VaultError};
use crate::group::{Commit, Job};
use crate::records::{RECORD_COLUMNS, Record, TokenParams, record_from_row};
use crate::state::State;
use crate::vault::{Actor, Vault, current_record, sealed_row};

/// What the operator states before a reveal. Stored in the audit trail; never the code.
#[derive(Debug, Clone)]
pub struct RevealRequest {
    /// Subject user.
    pub upn: String,
    /// Ticket or incident reference.
    pub ticket: String,
    /// Verification method (`call-back`, `passphrase`, `second-approver`).
    pub method: String,
    /// Outcome of verification (`passed`).
    pub outcome: String,
    /// Purpose (`read-out`, `email`).
    pub purpose: String,
    /// Unix times whose codes are disclosed (one per step).
    pub at_unix_secs: Vec<i64>,
    /// A four-eyes approval, used (and consumed in the same transaction) only when the daily
    /// quota is exhausted.
    pub approval: Option<ApprovalId>,
}

/// A seed handed to an export writer together with its record. Redacted in Debug.
pub struct ExportedSeed {
    /// The record (no secret fields).
    pub record: Record,
    /// The seed bytes; write them to the export file only.
    pub seed: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for ExportedSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportedSeed")
            .field("record", &self.record.id)
            .field("seed", &"<redacted>")
            .finish()
    }
}

enum Outcome<R> {
    Done(R),
    Refused(VaultError),
}

/// A TOTP generator for a stored seed and its token parameters (T0 = 0).
pub(crate) fn totp_for(seed: &[u8], params: &TokenParams) -> Result<Totp> {
    let otp_params = TotpParams {
        algorithm: params.algorithm,
        digits: Digits::new(params.digits).map_err(|e| VaultError::Invalid(e.to_string()))?,
        period: Period::new(u64::from(params.period_secs))
            .map_err(|e| VaultError::Invalid(e.to_string()))?,
        t0_unix_secs: 0,
    };
    Ok(Totp::new(&Secret::from_bytes(seed.to_vec()), otp_params))
}

/// The codes of `seed` at each of `times`.
fn codes_at(seed: &[u8], params: &TokenParams, times: &[i64]) -> Result<Vec<TotpCode>> {
    let totp = totp_for(seed, params)?;
    times
        .iter()
        .map(|t| {
            let t =
                u64::try_from(*t).map_err(|_| VaultError::Invalid("a time before 1970".into()))?;
            totp.at(t).map_err(|e| VaultError::Invalid(e.to_string()))
        })
        .collect()
}

/// What is checked before a reveal is queued: a valid user name and a ticket.
fn check_request(request: &RevealRequest) -> Result<()> {
    crate::records::normalise_upn(&request.upn)?;
    if request.ticket.trim().is_empty() {
        return Err(VaultError::Invalid(
            "a reveal needs a ticket reference".into(),
        ));
    }
    Ok(())
}

impl Vault {
    /// Reveals the codes for `request.at_unix_secs`: checks the record's state and the daily
    /// quota (consuming a four-eyes approval when the quota is spent), appends the `reveal` audit
    /// event, and only then derives the codes from the seed, in one transaction; a refused reveal
    /// is audited as `reveal.refused`. The seed itself never leaves the vault. Concurrent reveals share
    /// one transaction and one commit (see `group.rs`); each is answered only after that commit.
    ///
    /// # Errors
    /// [`VaultError::NotRevealable`], [`VaultError::QuotaExceeded`], [`VaultError::Tampered`],
    /// a time before 1970; database errors.
    pub async fn reveal(
        &self,
        actor: &Actor,
        request: &RevealRequest,
    ) -> Result<(Record, Vec<TotpCode>)> {
        check_request(request)?;
        self.reveals.submit(actor, request, self).await
    }
}

impl Commit for Vault {
    /// Runs one batch of reveals in one transaction and answers each caller after the commit.
    async fn commit(&self, batch: Vec<Job>) {
        let (replies, work): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|job| (job.reply, (job.actor, job.request)))
            .unzip();
        let answers = self.reveal_batch(&work).await;
        for (reply, answer) in replies.into_iter().zip(answers) {
            // A caller that has gone away no longer wants its answer.
            let _ = reply.send(answer);
        }
    }
}

impl Vault {
    /// Reveals a batch in one write transaction and one commit, each reveal in its own
    /// savepoint, and returns one answer per reveal, in order, once the commit is done. This is
    /// what [`Vault::reveal`] runs for every batch of concurrent callers; it is public (hidden)
    /// so tests can form a batch deterministically.
    #[doc(hidden)]
    pub async fn reveal_batch(
        &self,
        batch: &[(Actor, RevealRequest)],
    ) -> Vec<Result<(Record, Vec<TotpCode>)>> {
        let results = self.reveal_in_one_transaction(batch).await;
        match results {
            Ok(results) => results
                .into_iter()
                .map(|result| {
                    result.and_then(|outcome| match outcome {
                        Outcome::Done(value) => Ok(value),
                        Outcome::Refused(err) => Err(err),
                    })
                })
                .collect(),
            Err(err) => {
                let message = err.to_string();
                batch
                    .iter()
                    .map(|_| Err(VaultError::BatchFailed(message.clone())))
                    .collect()
            }
        }
    }

    /// Runs every reveal of `batch` in one write transaction, each in its own savepoint: a
    /// reveal that fails is rolled back alone and reported in its slot, the others commit
    /// together. A batch of one needs no savepoint: its failure rolls the transaction back.
    ///
    /// # Errors
    /// A database error from begin, savepoint handling or commit: then nothing of the batch
    /// was committed, and no code leaves the vault.
    async fn reveal_in_one_transaction(
        &self,
        batch: &[(Actor, RevealRequest)],
    ) -> Result<Vec<Result<Outcome<(Record, Vec<TotpCode>)>>>> {
        let mut tx = self.store.begin_write().await?;
        let mut out = Vec::with_capacity(batch.len());
        let alone = batch.len() == 1;
        for (actor, request) in batch {
            if !alone {
                sqlx::query("SAVEPOINT reveal").execute(&mut *tx).await?;
            }
            let result = match check_request(request) {
                Ok(()) => {
                    self.reveal_in(&mut tx, actor, request, |seed, params, _drift| {
                        codes_at(seed, params, &request.at_unix_secs)
                    })
                    .await
                }
                Err(err) => Err(err),
            };
            if alone {
                if result.is_err() {
                    tx.rollback().await?;
                    out.push(result);
                    return Ok(out);
                }
            } else {
                if result.is_err() {
                    sqlx::query("ROLLBACK TO SAVEPOINT reveal")
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("RELEASE SAVEPOINT reveal")
                    .execute(&mut *tx)
                    .await?;
            }
            out.push(result);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// One reveal inside the batch's write transaction: checks state and the daily quota,
    /// appends the `reveal` audit event (steps, ticket, method, outcome, purpose), and only then
    /// lets `compute` derive codes from the seed, so a code is never produced without its audit
    /// entry in the same transaction. A refused reveal is itself audited (`reveal.refused`) and
    /// comes back as [`Outcome::Refused`], so that its audit entry commits.
    ///
    /// # Errors
    /// [`VaultError::NoRecord`], [`VaultError::Tampered`], [`VaultError::Purged`]; whatever
    /// `compute` returns; database errors. On an error the caller rolls the reveal back.
    async fn reveal_in<R>(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        request: &RevealRequest,
        compute: impl FnOnce(&[u8], &TokenParams, i64) -> Result<R>,
    ) -> Result<Outcome<(Record, R)>> {
        let upn = crate::records::normalise_upn(&request.upn)?;
        let quota = self.settings.daily_reveal_quota;
        let now = self.now();
        let day_start = now.day_start();
        let record = current_record(conn, &upn)
            .await?
            .ok_or_else(|| VaultError::NoRecord { upn: upn.clone() })?;
        let period = i64::from(record.params.period_secs.max(1));
        let steps: Vec<i64> = request
            .at_unix_secs
            .iter()
            .map(|t| t.div_euclid(period))
            .collect();
        let mut approval_used = None;
        let refusal = if !record.state.is_revealable() {
            Some(VaultError::NotRevealable {
                upn: upn.clone(),
                state: record.state,
            })
        } else {
            let used = crate::audit_chain::count_reveals(conn, &upn, day_start).await?;
            match (&request.approval, used >= quota) {
                (_, false) => None,
                (None, true) => Some(VaultError::QuotaExceeded {
                    upn: upn.clone(),
                    used,
                    quota,
                }),
                (Some(id), true) => {
                    match consume_approval(conn, id, &upn, &record.id, actor, now.0).await? {
                        Ok(()) => {
                            approval_used = Some(id.0.clone());
                            None
                        }
                        Err(reason) => Some(VaultError::ApprovalInvalid {
                            id: id.0.clone(),
                            reason,
                        }),
                    }
                }
            }
        };
        let detail = json!({
            "ticket": request.ticket,
            "method": request.method,
            "outcome": request.outcome,
            "purpose": request.purpose,
            "steps": steps,
            "approval": approval_used,
            "refused": refusal.as_ref().map(ToString::to_string),
        });
        let action = if refusal.is_some() {
            "reveal.refused"
        } else {
            "reveal"
        };
        self.audit(conn, actor, action, Some((&record.id, &upn)), detail)
            .await?;
        if let Some(err) = refusal {
            return Ok(Outcome::Refused(err));
        }
        let sealed = sealed_row(conn, &record.id)
            .await?
            .ok_or_else(|| VaultError::Purged { upn: upn.clone() })?;
        let seed = self.open_sealed(&sealed)?;
        let value = compute(&seed, &record.params, record.drift_steps)?;
        Ok(Outcome::Done((record, value)))
    }

    /// Decrypts seeds for an export, writing one `export` audit event per record in the same
    /// transaction. Asking for purged, cancelled or lost records is refused.
    ///
    /// # Errors
    /// [`VaultError::Purged`] when a requested state has no seeds or a named user's seed is
    /// gone; [`VaultError::Tampered`]; database errors.
    pub async fn export_seeds(
        &self,
        actor: &Actor,
        state: Option<State>,
        upn: Option<&str>,
        format: &str,
    ) -> Result<Vec<ExportedSeed>> {
        if let Some(s) = state.filter(|s| !s.has_seed()) {
            return Err(VaultError::Invalid(format!(
                "records in state {s} have no seed (purged); nothing can be exported"
            )));
        }
        let upn = upn.map(crate::records::normalise_upn).transpose()?;
        self.store
            .write(async |conn: &mut AnyConnection| {
                let records = match &upn {
                    Some(u) => {
                        let r = current_record(conn, u)
                            .await?
                            .ok_or_else(|| VaultError::NoRecord { upn: u.clone() })?;
                        if !r.has_seed {
                            return Err(VaultError::Purged { upn: u.clone() });
                        }
                        vec![r]
                    }
                    None => {
                        let sql = format!(
                            "SELECT {RECORD_COLUMNS} FROM records WHERE sealed_seed IS NOT NULL \
                             AND (CAST($1 AS TEXT) IS NULL OR state = $1) ORDER BY upn"
                        );
                        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(state.map(State::as_str))
                            .fetch_all(&mut *conn)
                            .await?;
                        rows.iter()
                            .map(record_from_row)
                            .collect::<Result<Vec<_>>>()?
                    }
                };
                let mut out = Vec::with_capacity(records.len());
                for record in records {
                    let detail = json!({ "format": format });
                    self.audit(
                        conn,
                        actor,
                        "export",
                        Some((&record.id, &record.upn)),
                        detail,
                    )
                    .await?;
                    let sealed =
                        sealed_row(conn, &record.id)
                            .await?
                            .ok_or_else(|| VaultError::Purged {
                                upn: record.upn.clone(),
                            })?;
                    let seed = self.open_sealed(&sealed)?;
                    out.push(ExportedSeed { record, seed });
                }
                Ok(out)
            })
            .await
    }
}
