//! Burn grants: burning a captured record's seed on a desk's reader without anyone seeing it.
//! A staff member with the capture right asks for a grant (`tdg_…`, valid
//! [`BURN_GRANT_TTL_SECS`], stored as SHA-256, for them alone); their signed-in desk fetches the
//! seed with it once (the grant is spent in the fetch's transaction, with its `export` audit
//! entry); after burning, the desk reports the token and a code computed from the seed it
//! burned, which must match the vault's seed before the record moves to `burned`. A failed
//! burn leaves the record captured, so the same person asks for a new grant.

use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::ExportedSeed;
use crate::error::{BurnGrantRefusal, RecordError, Result, StaffError, VaultError};
use crate::policy::{Authorized, Permission};
use crate::records::{Extra, Record, RecordId, TokenUpdate, record_in, sealed_row, totp_for};
use crate::state::State;
use crate::tokens::{SecretString, new_token, token_hash};
use crate::vault::Vault;

/// Prefix of burn grants.
pub const BURN_GRANT_PREFIX: &str = "tdg_";
/// How long a burn grant can be fetched.
pub const BURN_GRANT_TTL_SECS: i64 = 5 * 60;

fn refused(reason: BurnGrantRefusal) -> VaultError {
    VaultError::Staff(StaffError::BurnGrantRefused { reason })
}

async fn staff_id(conn: &mut AnyConnection, username: &str) -> Result<String> {
    let row = sqlx::query("SELECT id FROM staff WHERE username = $1 AND disabled = 0")
        .bind(username)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| refused(BurnGrantRefusal::StaffOnly))?;
    Ok(row.try_get("id")?)
}

impl Vault {
    /// A one-time grant for `username` (the caller, a staff member) to fetch the seed of the
    /// captured record `id` onto a desk reader. Audited as `burn-grant.create`.
    ///
    /// # Errors
    /// [`VaultError::Forbidden`] without `Capture`; [`StaffError::BurnGrantRefused`] when the
    /// record is not captured or the caller is not a staff member; database errors.
    pub async fn burn_grant_create(
        &self,
        auth: &Authorized,
        username: &str,
        id: &RecordId,
    ) -> Result<(SecretString, i64)> {
        let actor = auth.require(Permission::Capture)?;
        let (grant, hash) = new_token(BURN_GRANT_PREFIX)?;
        let now = self.now().0;
        let expires = now + BURN_GRANT_TTL_SECS;
        self.store
            .write(async |conn: &mut AnyConnection| {
                let record = record_in(conn, id).await?;
                if record.state != State::Captured || !record.has_seed {
                    return Err(refused(BurnGrantRefusal::NotCaptured));
                }
                let staff = staff_id(conn, username).await?;
                sqlx::query(
                    "INSERT INTO burn_grants (grant_hash, record_id, staff_id, created_unix_secs, \
                     expires_unix_secs) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(hash.clone())
                .bind(&record.id)
                .bind(&staff)
                .bind(now)
                .bind(expires)
                .execute(&mut *conn)
                .await?;
                let detail = json!({ "expires_unix_secs": expires });
                self.audit(
                    conn,
                    actor,
                    "burn-grant.create",
                    Some((&record.id, &record.upn)),
                    detail,
                )
                .await?;
                Ok(())
            })
            .await?;
        Ok((grant, expires))
    }

    /// Spends `grant` for `username` and hands out the seed, once, with an `export` audit
    /// entry (format `nfc-burn-grant`) in the same transaction.
    ///
    /// # Errors
    /// [`StaffError::BurnGrantRefused`] naming why (unknown, someone else's, expired, used, the
    /// record no longer captured); [`VaultError::Forbidden`] without `Capture`; database errors.
    pub async fn burn_grant_fetch(
        &self,
        auth: &Authorized,
        username: &str,
        grant: &str,
    ) -> Result<ExportedSeed> {
        let actor = auth.require(Permission::Capture)?;
        if !grant.starts_with(BURN_GRANT_PREFIX) || grant.len() > 128 {
            return Err(refused(BurnGrantRefusal::NotAGrant));
        }
        let hash = token_hash(grant);
        let now = self.now().0;
        self.store
            .write(async |conn: &mut AnyConnection| {
                let staff = staff_id(conn, username).await?;
                let row = sqlx::query(
                    "SELECT record_id, staff_id, expires_unix_secs, spent_unix_secs \
                     FROM burn_grants WHERE grant_hash = $1",
                )
                .bind(hash.clone())
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| refused(BurnGrantRefusal::Unknown))?;
                if row.try_get::<String, _>("staff_id")? != staff {
                    return Err(refused(BurnGrantRefusal::OtherPerson));
                }
                if row.try_get::<Option<i64>, _>("spent_unix_secs")?.is_some() {
                    return Err(refused(BurnGrantRefusal::Used));
                }
                if row.try_get::<i64, _>("expires_unix_secs")? <= now {
                    return Err(refused(BurnGrantRefusal::Expired));
                }
                let spent = sqlx::query(
                    "UPDATE burn_grants SET spent_unix_secs = $1 WHERE grant_hash = $2 \
                     AND spent_unix_secs IS NULL",
                )
                .bind(now)
                .bind(hash.clone())
                .execute(&mut *conn)
                .await?;
                if spent.rows_affected() != 1 {
                    return Err(refused(BurnGrantRefusal::UsedMeanwhile));
                }
                let id = RecordId(row.try_get("record_id")?);
                let record = record_in(conn, &id).await?;
                if record.state != State::Captured {
                    return Err(refused(BurnGrantRefusal::NoLongerCaptured));
                }
                let sealed = sealed_row(conn, &record.id).await?.ok_or_else(|| {
                    VaultError::Record(RecordError::Purged {
                        upn: record.upn.clone(),
                    })
                })?;
                let detail = json!({ "format": "nfc-burn-grant" });
                self.audit(
                    conn,
                    actor,
                    "export",
                    Some((&record.id, &record.upn)),
                    detail,
                )
                .await?;
                let seed = self.open_sealed(&sealed)?;
                Ok(ExportedSeed { record, seed })
            })
            .await
    }

    /// captured → burned after a desk burned the seed: `code`, computed by the desk from the
    /// seed it burned, must be the vault seed's code within one step of now (so the token holds
    /// this record's seed, not a corrupted copy). A mismatch changes nothing.
    ///
    /// # Errors
    /// [`RecordError::CodeMismatch`]; an illegal transition; database errors.
    pub async fn burn_confirm(
        &self,
        auth: &Authorized,
        id: &RecordId,
        token: TokenUpdate,
        code: &str,
    ) -> Result<Record> {
        let actor = auth.require(Permission::Transition)?;
        let now = u64::try_from(self.now().0).unwrap_or_default();
        self.store
            .write(async |conn: &mut AnyConnection| {
                let record = record_in(conn, id).await?;
                record.state.transition(State::Burned)?;
                let sealed = sealed_row(conn, &record.id).await?.ok_or_else(|| {
                    VaultError::Record(RecordError::Purged {
                        upn: record.upn.clone(),
                    })
                })?;
                let seed = self.open_sealed(&sealed)?;
                let totp = totp_for(&seed, &record.params)?;
                drop(seed);
                if !matches!(
                    tokendesk_otp::drift_search(&totp, now, code.trim(), None, 1),
                    tokendesk_otp::Drift::Found { .. }
                ) {
                    return Err(VaultError::Record(RecordError::CodeMismatch {
                        upn: record.upn.clone(),
                        window_steps: 1,
                    }));
                }
                let detail = json!({
                    "serial": token.serial,
                    "model": token.model,
                    "verified": "desk code matches the vault's seed",
                });
                self.apply_change(
                    conn,
                    actor,
                    &record,
                    State::Burned,
                    detail,
                    Extra::Token(token),
                )
                .await
            })
            .await?;
        self.record_by_id(&id.0).await
    }
}
