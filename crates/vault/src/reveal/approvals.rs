//! Caller verification beyond call-back: the caller's passphrase (Argon2id hash on the record,
//! at most a few failed attempts per record per UTC day) and four-eyes approvals that let one
//! reveal exceed the daily quota. Every attempt, request, grant and refusal is audited in the
//! transaction that records it; the passphrase itself is never stored or audited.

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tokendesk_crypto::{Passphrase, hash_password, verify_password};
use zeroize::Zeroizing;

use super::request::ApprovalId;
use crate::error::{ApprovalRefusal, RecordError, RevealError};
use crate::error::{Result, VaultError};
use crate::invalid::Invalid;
use crate::policy::Actor;
use crate::policy::{Authorized, Permission};
use crate::records::current_record;
use crate::records::{new_record_id, normalise_upn};
use crate::vault::Vault;

/// A request for a second approver, and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// Id.
    pub id: ApprovalId,
    /// Subject user.
    pub upn: String,
    /// The record it was requested for.
    pub record_id: String,
    /// Operator who asked.
    pub requested_by: String,
    /// Ticket reference.
    pub ticket: String,
    /// Why the reveal is needed.
    pub reason: String,
    /// Asked at.
    pub created_unix_secs: i64,
    /// Second approver, once approved.
    pub approved_by: Option<String>,
    /// Approved at.
    pub approved_unix_secs: Option<i64>,
    /// Consumed by a reveal at.
    pub used_unix_secs: Option<i64>,
    /// Unusable after this time.
    pub expires_unix_secs: i64,
}

const APPROVAL_COLUMNS: &str = "id, upn, record_id, requested_by, ticket, reason, \
    created_unix_secs, approved_by, approved_unix_secs, used_unix_secs, expires_unix_secs";

fn approval_from_row(row: &AnyRow) -> Result<Approval> {
    Ok(Approval {
        id: ApprovalId(row.try_get("id")?),
        upn: row.try_get("upn")?,
        record_id: row.try_get("record_id")?,
        requested_by: row.try_get("requested_by")?,
        ticket: row.try_get("ticket")?,
        reason: row.try_get("reason")?,
        created_unix_secs: row.try_get("created_unix_secs")?,
        approved_by: row.try_get("approved_by")?,
        approved_unix_secs: row.try_get("approved_unix_secs")?,
        used_unix_secs: row.try_get("used_unix_secs")?,
        expires_unix_secs: row.try_get("expires_unix_secs")?,
    })
}

/// Minimum caller-passphrase length in characters (after normalising).
pub const MIN_CALLER_PASSPHRASE_CHARS: usize = 6;

/// What the user said, as the operator typed it: trimmed, lowercase, single spaces; so case and
/// spacing heard over the phone do not matter.
fn normalise_passphrase(p: &Passphrase) -> Result<Zeroizing<String>> {
    let text = std::str::from_utf8(p.expose_bytes()).map_err(|_| Invalid::PassphraseUtf8)?;
    let mut out = Zeroizing::new(String::with_capacity(text.len()));
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word.to_lowercase());
    }
    Ok(out)
}

enum Outcome<T> {
    Done(T),
    Refused(VaultError),
}

fn finish<T>(outcome: Outcome<T>) -> Result<T> {
    match outcome {
        Outcome::Done(v) => Ok(v),
        Outcome::Refused(e) => Err(e),
    }
}

impl Vault {
    /// Stores the caller passphrase the user chose at provisioning (Argon2id hash on the active
    /// record; replaces an earlier one and clears its failure count). Audited without the value.
    ///
    /// # Errors
    /// [`VaultError::Forbidden`] without `Capture`; [`RecordError::NoRecord`];
    /// [`VaultError::Invalid`] for a record that is not active or a passphrase under 6
    /// characters; database errors.
    pub async fn set_passphrase(
        &self,
        auth: &Authorized,
        upn: &str,
        passphrase: &Passphrase,
    ) -> Result<()> {
        let actor = auth.require(Permission::Capture)?;
        let upn = normalise_upn(upn)?;
        let text = normalise_passphrase(passphrase)?;
        if text.chars().count() < MIN_CALLER_PASSPHRASE_CHARS {
            return Err(Invalid::PassphraseTooShort {
                min: MIN_CALLER_PASSPHRASE_CHARS,
            }
            .into());
        }
        let phc = hash_password(self.staff_settings.password_params, text.as_bytes())?;
        self.store
            .write(async |conn: &mut AnyConnection| {
                let record = current_record(conn, &upn).await?.ok_or_else(|| {
                    VaultError::Record(RecordError::NoRecord { upn: upn.clone() })
                })?;
                if !record.state.is_active() {
                    return Err(Invalid::PassphraseInactive {
                        upn: upn.clone(),
                        state: record.state,
                    }
                    .into());
                }
                sqlx::query(
                    "UPDATE records SET passphrase_hash = $1, passphrase_failures = 0, \
                     passphrase_failures_day = 0 WHERE id = $2",
                )
                .bind(&phc)
                .bind(&record.id)
                .execute(&mut *conn)
                .await?;
                self.audit(
                    conn,
                    actor,
                    "set-passphrase",
                    Some((&record.id, &upn)),
                    json!({}),
                )
                .await?;
                Ok(())
            })
            .await
    }

    /// Whether the caller's `attempt` matches the stored passphrase. Audited
    /// (`verify-passphrase`, result passed/failed/refused). After the daily limit of failures
    /// (default 5 per record per UTC day) every attempt is refused until the next day.
    ///
    /// # Errors
    /// [`VaultError::Forbidden`] without `Reveal`; [`RecordError::NoRecord`];
    /// [`VaultError::Invalid`] when no passphrase was set; [`RevealError::TooManyAttempts`];
    /// database errors.
    pub async fn check_passphrase(
        &self,
        auth: &Authorized,
        upn: &str,
        attempt: &Passphrase,
    ) -> Result<bool> {
        let actor = auth.require(Permission::Reveal)?;
        let upn = normalise_upn(upn)?;
        let attempt = normalise_passphrase(attempt)?;
        let limit = self.staff_settings.passphrase_daily_failures;
        let today = self.now().day_start().0;
        let mut conn = self.store.pool().acquire().await?;
        let record = current_record(&mut conn, &upn)
            .await?
            .ok_or_else(|| VaultError::Record(RecordError::NoRecord { upn: upn.clone() }))?;
        let (phc, _) = passphrase_state(&mut conn, &record.id, today).await?;
        drop(conn);
        let phc =
            phc.ok_or_else(|| VaultError::from(Invalid::NoPassphrase { upn: upn.clone() }))?;
        let matches = verify_password(attempt.as_bytes(), &phc)?;
        let outcome = self
            .store
            .write(async |conn: &mut AnyConnection| {
                // Lock the record's row first (PostgreSQL), so concurrent attempts cannot both
                // read the same failure count.
                sqlx::query(
                    "UPDATE records SET passphrase_failures = passphrase_failures WHERE id = $1",
                )
                .bind(&record.id)
                .execute(&mut *conn)
                .await?;
                let (_, failures) = passphrase_state(conn, &record.id, today).await?;
                let key = Some((record.id.as_str(), upn.as_str()));
                if failures >= limit {
                    let detail = json!({ "result": "refused", "failures_today": failures });
                    self.audit(conn, actor, "verify-passphrase", key, detail)
                        .await?;
                    return Ok(Outcome::Refused(VaultError::Reveal(
                        RevealError::TooManyAttempts {
                            upn: upn.clone(),
                            limit,
                        },
                    )));
                }
                let failures = if matches { failures } else { failures + 1 };
                if !matches {
                    sqlx::query(
                        "UPDATE records SET passphrase_failures = $1, passphrase_failures_day = $2 \
                         WHERE id = $3",
                    )
                    .bind(failures)
                    .bind(today)
                    .bind(&record.id)
                    .execute(&mut *conn)
                    .await?;
                }
                let detail = json!({
                    "result": if matches { "passed" } else { "failed" },
                    "failures_today": failures,
                });
                self.audit(conn, actor, "verify-passphrase", key, detail)
                    .await?;
                Ok(Outcome::Done(matches))
            })
            .await?;
        finish(outcome)
    }

    /// Asks for a second approver for one reveal of `upn` beyond the quota.
    ///
    /// # Errors
    /// [`VaultError::Forbidden`] without `Reveal`; [`RecordError::NoRecord`];
    /// [`RevealError::NotRevealable`]; [`VaultError::Invalid`] without ticket or reason;
    /// database errors.
    pub async fn request_approval(
        &self,
        auth: &Authorized,
        upn: &str,
        ticket: &str,
        reason: &str,
    ) -> Result<ApprovalId> {
        let actor = auth.require(Permission::Reveal)?;
        let upn = normalise_upn(upn)?;
        let (ticket, reason) = (ticket.trim(), reason.trim());
        if ticket.is_empty() || reason.is_empty() {
            return Err(Invalid::ApprovalRequestIncomplete.into());
        }
        let id = new_record_id()?;
        let now = self.now().0;
        let expires = now.saturating_add(self.staff_settings.approval_ttl_secs);
        self.store
            .write(async |conn: &mut AnyConnection| {
                let record = current_record(conn, &upn).await?.ok_or_else(|| {
                    VaultError::Record(RecordError::NoRecord { upn: upn.clone() })
                })?;
                if !record.state.is_revealable() {
                    return Err(VaultError::Reveal(RevealError::NotRevealable {
                        upn: upn.clone(),
                        state: record.state,
                    }));
                }
                sqlx::query(
                    "INSERT INTO approvals (id, upn, record_id, requested_by, ticket, reason, \
                     created_unix_secs, expires_unix_secs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&id)
                .bind(&upn)
                .bind(&record.id)
                .bind(&actor.name)
                .bind(ticket)
                .bind(reason)
                .bind(now)
                .bind(expires)
                .execute(&mut *conn)
                .await?;
                let detail = json!({ "approval": id, "ticket": ticket, "reason": reason });
                self.audit(
                    conn,
                    actor,
                    "approval.request",
                    Some((&record.id, &upn)),
                    detail,
                )
                .await?;
                Ok(())
            })
            .await?;
        Ok(ApprovalId(id))
    }

    /// Approves another person's request. The approval is then usable for one reveal, by
    /// someone other than the approver, for the approval lifetime (default 1 h). "Person"
    /// looks through API keys: a key acts for the admin who created it (see [`person_of`]), so
    /// nobody approves their own request by switching between their session and a key.
    ///
    /// # Errors
    /// [`VaultError::Forbidden`] without `ApproveReveal`; [`RevealError::ApprovalInvalid`] for
    /// an unknown, expired or already approved request, or one's own request (all refusals
    /// are audited); database errors.
    pub async fn approve(&self, auth: &Authorized, id: &ApprovalId) -> Result<Approval> {
        let actor = auth.require(Permission::ApproveReveal)?;
        let now = self.now().0;
        let ttl = self.staff_settings.approval_ttl_secs;
        let outcome = self
            .store
            .write(async |conn: &mut AnyConnection| {
                let Some(approval) = approval_in(conn, id).await? else {
                    return Ok(Outcome::Refused(invalid(id, ApprovalRefusal::Unknown)));
                };
                let same_person = person_of(conn, &approval.requested_by).await?
                    == person_of(conn, &actor.name).await?;
                let refusal = if approval.approved_by.is_some() {
                    Some(ApprovalRefusal::ApprovedAlready)
                } else if approval.expires_unix_secs <= now {
                    Some(ApprovalRefusal::RequestExpired)
                } else if same_person {
                    Some(ApprovalRefusal::OwnRequest)
                } else {
                    None
                };
                let key = Some((approval.record_id.as_str(), approval.upn.as_str()));
                if let Some(reason) = refusal {
                    let detail = json!({ "approval": id.0, "refused": reason.to_string() });
                    self.audit(conn, actor, "approval.refused", key, detail)
                        .await?;
                    return Ok(Outcome::Refused(invalid(id, reason)));
                }
                let done = sqlx::query(
                    "UPDATE approvals SET approved_by = $1, approved_unix_secs = $2, \
                     expires_unix_secs = $3 WHERE id = $4 AND approved_by IS NULL",
                )
                .bind(&actor.name)
                .bind(now)
                .bind(now.saturating_add(ttl))
                .bind(&id.0)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(Outcome::Refused(invalid(
                        id,
                        ApprovalRefusal::ApprovedAlready,
                    )));
                }
                let detail = json!({ "approval": id.0, "requested_by": approval.requested_by });
                self.audit(conn, actor, "approval.grant", key, detail)
                    .await?;
                Ok(Outcome::Done(()))
            })
            .await?;
        finish(outcome)?;
        self.approval(id).await
    }

    /// One approval.
    ///
    /// # Errors
    /// [`RevealError::ApprovalInvalid`] for an unknown id; database errors.
    pub async fn approval(&self, id: &ApprovalId) -> Result<Approval> {
        let mut conn = self.store.pool().acquire().await?;
        approval_in(&mut conn, id)
            .await?
            .ok_or_else(|| invalid(id, ApprovalRefusal::Unknown))
    }

    /// Requests waiting for a second approver (unapproved, unexpired), oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn pending_approvals(&self) -> Result<Vec<Approval>> {
        let sql = format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE approved_by IS NULL \
             AND expires_unix_secs > $1 ORDER BY created_unix_secs, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.now().0)
            .fetch_all(self.store.pool())
            .await?;
        rows.iter().map(approval_from_row).collect()
    }
}

fn invalid(id: &ApprovalId, reason: ApprovalRefusal) -> VaultError {
    VaultError::Reveal(RevealError::ApprovalInvalid {
        id: id.0.clone(),
        reason,
    })
}

async fn approval_in(conn: &mut AnyConnection, id: &ApprovalId) -> Result<Option<Approval>> {
    let sql = format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&id.0)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(approval_from_row).transpose()
}

/// The stored hash and today's failure count of a record's caller passphrase.
async fn passphrase_state(
    conn: &mut AnyConnection,
    record_id: &str,
    today: i64,
) -> Result<(Option<String>, i64)> {
    let row = sqlx::query(
        "SELECT passphrase_hash, passphrase_failures, passphrase_failures_day FROM records WHERE id = $1",
    )
    .bind(record_id)
    .fetch_one(conn)
    .await?;
    let day: i64 = row.try_get("passphrase_failures_day")?;
    let failures: i64 = row.try_get("passphrase_failures")?;
    Ok((
        row.try_get("passphrase_hash")?,
        if day == today { failures } else { 0 },
    ))
}

/// The person behind an audit actor name: a staff member's own name (also at a desk,
/// `alice@desk:FRONT-1`), or for an API key
/// (`apikey:NAME`) the name of the admin who created it. Four-eyes checks compare persons, so a
/// key cannot stand in as a second person for its creator. A key unknown here (never the case
/// for a live key) stands for itself.
pub(crate) async fn person_of(conn: &mut AnyConnection, actor_name: &str) -> Result<String> {
    if let Some(person) = crate::identity::person_at_desk(actor_name) {
        return Ok(person.to_owned());
    }
    let Some(key) = actor_name.strip_prefix(crate::identity::API_KEY_ACTOR_PREFIX) else {
        return Ok(actor_name.to_owned());
    };
    let row = sqlx::query("SELECT created_by FROM api_keys WHERE name = $1")
        .bind(key)
        .fetch_optional(conn)
        .await?;
    match row {
        Some(row) => Ok(row.try_get("created_by")?),
        None => Ok(actor_name.to_owned()),
    }
}

/// Uses an approval for a reveal, inside the reveal's transaction: it must exist, be approved
/// by another person than `actor` (see [`person_of`]), be unused, unexpired and for this
/// user's record. Returns why not, if it cannot be used.
pub(crate) async fn consume_approval(
    conn: &mut AnyConnection,
    id: &ApprovalId,
    upn: &str,
    record_id: &str,
    actor: &Actor,
    now: i64,
) -> Result<std::result::Result<(), ApprovalRefusal>> {
    let Some(a) = approval_in(conn, id).await? else {
        return Ok(Err(ApprovalRefusal::Unknown));
    };
    let revealer = person_of(conn, &actor.name).await?;
    let approver = match &a.approved_by {
        Some(by) => Some(person_of(conn, by).await?),
        None => None,
    };
    let why = match &approver {
        None => Some(ApprovalRefusal::NotApproved),
        Some(by) if *by == revealer => Some(ApprovalRefusal::OwnApproval),
        Some(_) if a.used_unix_secs.is_some() => Some(ApprovalRefusal::Used),
        Some(_) if a.expires_unix_secs <= now => Some(ApprovalRefusal::Expired),
        Some(_) if a.upn != upn || a.record_id != record_id => Some(ApprovalRefusal::OtherRecord),
        Some(_) => None,
    };
    if let Some(why) = why {
        return Ok(Err(why));
    }
    let done = sqlx::query(
        "UPDATE approvals SET used_unix_secs = $1 WHERE id = $2 AND used_unix_secs IS NULL",
    )
    .bind(now)
    .bind(&id.0)
    .execute(conn)
    .await?;
    Ok(if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(ApprovalRefusal::Used)
    })
}

impl Vault {
    /// Approvals `requester` can use now for a reveal of `upn`: approved by someone else,
    /// unused and unexpired.
    ///
    /// # Errors
    /// Database errors.
    pub async fn usable_approvals(
        &self,
        upn: &str,
        requester: &crate::Actor,
    ) -> Result<Vec<crate::Approval>> {
        let upn = crate::normalise_upn(upn)?;
        let rows = sqlx::query(
            "SELECT id FROM approvals WHERE upn = $1 AND requested_by = $2 \
             AND approved_by IS NOT NULL AND used_unix_secs IS NULL AND expires_unix_secs > $3 \
             ORDER BY created_unix_secs",
        )
        .bind(&upn)
        .bind(&requester.name)
        .bind(self.now().0)
        .fetch_all(self.store.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get("id")?;
            out.push(self.approval(&crate::ApprovalId(id)).await?);
        }
        Ok(out)
    }

    /// The deployment policy knobs in force.
    pub fn settings(&self) -> crate::Settings {
        self.settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passphrases_ignore_case_and_spacing() {
        let p = |s: &str| Passphrase::new(Zeroizing::new(s.to_owned()));
        assert_eq!(
            &*normalise_passphrase(&p("  Blue   Harbour ")).unwrap(),
            "blue harbour"
        );
        assert_eq!(
            &*normalise_passphrase(&p("BLUE\tharbour")).unwrap(),
            "blue harbour"
        );
    }
}
