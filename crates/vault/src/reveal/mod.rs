//! Disclosure paths: reveals (codes for a verified caller) and exports. A reveal writes its audit
//! event in the same transaction that reads the seed; an export commits every record's event
//! before any seed is decrypted. Nothing leaves the vault before its event, and both are refused
//! once the seed is gone.

use std::collections::HashMap;

use crate::error::{RecordError, RevealError, StoreError};
use crate::error::{Result, VaultError};
use crate::invalid::Invalid;
use crate::policy::{Actor, Authorized, Permission};
use crate::records::SealedRow;
use crate::records::{RECORD_COLUMNS, Record, TokenParams, record_from_row, totp_for};
use crate::store::audit_chain::AuditEvent;
use crate::vault::Vault;
use approvals::consume_approval;
use group::{Commit, Job};
use serde_json::json;
use sqlx::{AnyConnection, Row};
use tokendesk_otp::TotpCode;

mod approvals;
mod burn_grant;
mod export;
mod export_writer;
pub(crate) mod group;
pub use group::{BATCH_BUCKETS, BatchSizes};
mod request;

pub use approvals::{Approval, MIN_CALLER_PASSPHRASE_CHARS};
pub use burn_grant::{BURN_GRANT_PREFIX, BURN_GRANT_TTL_SECS};
pub use export::{ExportCheck, ExportedSeed, SeedExport, graph_ready};
pub use export_writer::{ExportWriteError, ExportWriter};
pub use request::{ApprovalId, Purpose, REVEAL_PAST_STEPS, RevealRequest, Ticket, Verification};
use request::{check_request, check_window};

/// The codes of `seed` at each of `times`.
fn codes_at(seed: &[u8], params: &TokenParams, times: &[i64]) -> Result<Vec<TotpCode>> {
    let totp = totp_for(seed, params)?;
    times
        .iter()
        .map(|t| {
            let t = u64::try_from(*t).map_err(|_| VaultError::Invalid(Invalid::BeforeEpoch))?;
            totp.at(t)
                .map_err(|e| VaultError::Invalid(Invalid::Time(e)))
        })
        .collect()
}

impl Vault {
    /// Reveals the codes for `request.at_unix_secs`: checks the record's state and the daily
    /// quota (consuming the four-eyes approval named, which is needed once the quota is spent),
    /// checks every time asked for against the reveal window, appends the `reveal` audit
    /// event and derives the codes from the seed in one transaction, and returns the codes only
    /// after that transaction committed; a refused reveal is audited as `reveal.refused`. The
    /// seed itself never leaves the vault. Concurrent reveals share one transaction and one
    /// commit (see `group.rs`).
    ///
    /// # Errors
    /// [`RevealError::NotRevealable`], [`RevealError::QuotaExceeded`], [`StoreError::Tampered`],
    /// a time before 1970; database errors.
    pub async fn reveal(
        &self,
        auth: &Authorized,
        request: &RevealRequest,
    ) -> Result<(Record, Vec<TotpCode>)> {
        let actor = auth.require(Permission::Reveal)?;
        check_request(request)?;
        self.reveals.submit(actor, request, self).await
    }
}
impl Vault {
    /// Records in the audit trail that a caller failed verification before a reveal (no code
    /// is produced). `method` is the verification method; `ticket` the operator's reference.
    ///
    /// # Errors
    /// [`RecordError::NoRecord`]; database errors.
    pub async fn record_failed_verification(
        &self,
        auth: &Authorized,
        record_id: &str,
        method: Verification,
        ticket: &Ticket,
    ) -> Result<()> {
        let actor = auth.require(Permission::Reveal)?;
        let record = self.record(record_id).await?;
        let detail = serde_json::json!({
            "method": method.as_str(),
            "ticket": ticket.as_str(),
            "outcome": "failed",
        });
        self.store
            .write(async |conn: &mut sqlx::AnyConnection| {
                self.audit(
                    conn,
                    actor,
                    "verify.failed",
                    Some((&record.id, &record.upn)),
                    detail,
                )
                .await?;
                Ok(())
            })
            .await
    }
}

impl Vault {
    /// How many reveals the group commits held so far in this process (for the metrics).
    pub fn reveal_batch_sizes(&self) -> BatchSizes {
        self.reveals.sizes()
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

/// What one reveal of a batch decided, before anything is written.
enum Decision {
    /// Codes computed; the `reveal` event commits with them.
    Reveal(Box<Record>, Vec<TotpCode>),
    /// Refused for this reason; the `reveal.refused` event commits.
    Refuse(VaultError),
}

impl Vault {
    /// Reveals a batch in one write transaction with one commit and returns one answer per
    /// reveal, in order, once the commit is done. This is what [`Vault::reveal`] runs for every
    /// batch of concurrent callers; it is public (hidden) so tests can form a batch at will.
    ///
    /// Each reveal first reads and decides (record, state, quota counting the reveals granted
    /// earlier in the batch, codes from the decrypted seed) without writing anything, so a
    /// reveal that fails (no such user, tampered seed, a time before 1970) leaves no trace and
    /// does not disturb the others. Then every audit event of the batch is appended in order,
    /// and the transaction commits. A database error fails the whole batch: nothing commits
    /// and no code is returned.
    #[doc(hidden)]
    pub async fn reveal_batch(
        &self,
        batch: &[(Actor, RevealRequest)],
    ) -> Vec<Result<(Record, Vec<TotpCode>)>> {
        match self.reveal_in_one_transaction(batch).await {
            Ok(answers) => answers,
            Err(err) => {
                let message = err.to_string();
                let unavailable = err.is_unavailable();
                batch
                    .iter()
                    .map(|_| {
                        Err(VaultError::Store(StoreError::BatchFailed {
                            message: message.clone(),
                            unavailable,
                        }))
                    })
                    .collect()
            }
        }
    }

    async fn reveal_in_one_transaction(
        &self,
        batch: &[(Actor, RevealRequest)],
    ) -> Result<Vec<Result<(Record, Vec<TotpCode>)>>> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        // Reveals from the web name their record: read all of them in one query. Nothing in a
        // batch changes a record, and the write lock is held, so the rows stay current.
        let ids: Vec<&str> = batch
            .iter()
            .filter_map(|(_, r)| r.record_id.as_deref())
            .collect();
        let rows = reveal_rows_by_id(&mut tx, &ids, now.day_start()).await?;
        let mut granted: HashMap<String, i64> = HashMap::new();
        let mut events = Vec::with_capacity(batch.len());
        let mut answers = Vec::with_capacity(batch.len());
        for (actor, request) in batch {
            match self.decide(&mut tx, actor, request, &rows, &granted).await {
                Ok((event, Decision::Reveal(record, codes))) => {
                    *granted.entry(record.upn.clone()).or_default() += 1;
                    events.push(event);
                    answers.push(Ok((*record, codes)));
                }
                Ok((event, Decision::Refuse(err))) => {
                    events.push(event);
                    answers.push(Err(err));
                }
                Err(
                    err @ (VaultError::Store(StoreError::Database(_))
                    | VaultError::Store(StoreError::BatchFailed { .. })),
                ) => {
                    return Err(err);
                }
                Err(err) => answers.push(Err(err)),
            }
        }
        if !events.is_empty() {
            crate::store::audit_chain::append_many(&mut tx, &self.keys.audit, now, events).await?;
        }
        tx.commit().await?;
        Ok(answers)
    }

    /// Decides one reveal inside the batch's transaction. Writes nothing except consuming a
    /// four-eyes approval, which happens last, after the codes are computed; its audit event is
    /// returned for the caller to append.
    async fn decide(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        request: &RevealRequest,
        rows: &HashMap<String, RevealRow>,
        granted: &HashMap<String, i64>,
    ) -> Result<(AuditEvent, Decision)> {
        let wanted_upn = check_request(request)?;
        let now = self.now();
        let quota = self.settings.daily_reveal_quota;
        let found = match (&request.record_id, &wanted_upn) {
            (Some(id), _) => rows.get(id).cloned(),
            (None, Some(upn)) => reveal_row(conn, upn, now.day_start()).await?,
            (None, None) => None,
        };
        let (record, sealed, reveals_today) = found
            .filter(|(r, _, _)| wanted_upn.as_ref().is_none_or(|u| *u == r.upn))
            .ok_or_else(|| {
                VaultError::Record(RecordError::NoRecord {
                    upn: match &request.record_id {
                        Some(id) => format!("record {id}"),
                        None => request.upn.clone(),
                    },
                })
            })?;
        let upn = record.upn.clone();
        let used = reveals_today + granted.get(&upn).copied().unwrap_or(0);
        let period = i64::from(record.params.period_secs.max(1));
        let mut times = request.at_unix_secs.clone();
        if let Some(&last) = request.at_unix_secs.last() {
            let step_start = last - last.rem_euclid(period);
            times.extend(
                (1..=i64::from(request.following_steps))
                    .map(|k| step_start.saturating_add(k.saturating_mul(period))),
            );
        }
        let steps: Vec<i64> = times.iter().map(|t| t.div_euclid(period)).collect();
        let event = |approval: Option<&str>, refusal: Option<&VaultError>| AuditEvent {
            actor: actor.name.clone(),
            action: if refusal.is_some() {
                "reveal.refused"
            } else {
                "reveal"
            }
            .to_owned(),
            subject: Some(upn.clone()),
            record_id: Some(record.id.clone()),
            detail: json!({
                "ticket": request.ticket.as_str(),
                "method": request.method.as_str(),
                "outcome": "passed",
                "purpose": request.purpose.as_str(),
                "steps": steps,
                "approval": approval,
                "refused": refusal.map(ToString::to_string),
            }),
        };
        let refuse = |err: VaultError| Ok((event(None, Some(&err)), Decision::Refuse(err)));
        // Every code of the reveal, following steps included, lies inside the window: no
        // banking codes for later, when the seed may be shredded.
        if let Err(err) = check_window(&times, now.0, period, self.settings.reveal_max_future_secs)
        {
            return refuse(err);
        }
        if !record.state.is_revealable() {
            return refuse(VaultError::Reveal(RevealError::NotRevealable {
                upn: upn.clone(),
                state: record.state,
            }));
        }
        if used >= quota && request.approval.is_none() {
            return refuse(VaultError::Reveal(RevealError::QuotaExceeded {
                upn: upn.clone(),
                used,
                quota,
            }));
        }
        let sealed =
            sealed.ok_or_else(|| VaultError::Record(RecordError::Purged { upn: upn.clone() }))?;
        let seed = self.open_sealed(&sealed)?;
        let codes = codes_at(&seed, &record.params, &times)?;
        drop(seed);
        // An approval named is always checked and consumed, under the quota too: a reveal is
        // never audited with an approval that does not exist or is not usable.
        let mut approval_used = None;
        if let Some(id) = &request.approval {
            match consume_approval(conn, id, &upn, &record.id, actor, now.0).await? {
                Ok(()) => approval_used = Some(id.0.clone()),
                Err(reason) => {
                    return refuse(VaultError::Reveal(RevealError::ApprovalInvalid {
                        id: id.0.clone(),
                        reason,
                    }));
                }
            }
        }
        Ok((
            event(approval_used.as_deref(), None),
            Decision::Reveal(Box::new(record), codes),
        ))
    }
}

/// What a reveal reads: the record, its sealed seed if any, and the number of reveals audited
/// for its user today.
type RevealRow = (Record, Option<SealedRow>, i64);

/// The columns of a [`RevealRow`]; `$1` is the start of the day for the reveal count.
fn reveal_select() -> String {
    format!(
        "SELECT {RECORD_COLUMNS}, wrapped_dek, sealed_seed, \
         (SELECT COUNT(*) FROM audit WHERE audit.subject = records.upn \
          AND audit.action = 'reveal' AND audit.at_unix_secs >= $1) AS reveals_today \
         FROM records"
    )
}

/// The user's current record (as [`current_record`]) as a [`RevealRow`], in one query.
async fn reveal_row(
    conn: &mut AnyConnection,
    upn: &str,
    since: crate::store::clock::UnixTime,
) -> Result<Option<RevealRow>> {
    let sql = format!(
        "{} WHERE upn = $2 ORDER BY \
         CASE WHEN state IN ('captured', 'burned', 'shipped') THEN 0 ELSE 1 END, \
         created_unix_secs DESC, id DESC LIMIT 1",
        reveal_select()
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(since.0)
        .bind(upn)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(reveal_from_row).transpose()
}

/// The [`RevealRow`]s of these records, by id (unknown ids are simply absent).
async fn reveal_rows_by_id(
    conn: &mut AnyConnection,
    ids: &[&str],
    since: crate::store::clock::UnixTime,
) -> Result<HashMap<String, RevealRow>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let params: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!("{} WHERE id IN ({})", reveal_select(), params.join(", "));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(since.0);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let found = reveal_from_row(&row)?;
            out.insert(found.0.id.clone(), found);
        }
    }
    Ok(out)
}

fn reveal_from_row(row: &sqlx::any::AnyRow) -> Result<RevealRow> {
    let record = record_from_row(row)?;
    let sealed_seed: Option<Vec<u8>> = row.try_get("sealed_seed")?;
    let wrapped_dek: Option<Vec<u8>> = row.try_get("wrapped_dek")?;
    let sealed = match (sealed_seed, wrapped_dek) {
        (Some(sealed_seed), Some(wrapped_dek)) => Some(SealedRow {
            id: record.id.clone(),
            upn: record.upn.clone(),
            key_version: row.try_get("key_version")?,
            wrapped_dek,
            sealed_seed,
        }),
        _ => None,
    };
    let reveals_today: i64 = row.try_get("reveals_today")?;
    Ok((record, sealed, reveals_today))
}
