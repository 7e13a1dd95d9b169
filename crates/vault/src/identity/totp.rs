//! Each staff member's own TOTP second factor: enrolment and verification, sealed under a key
//! derived from the vault secret, replay-protected.

use serde_json::json;
use sqlx::{AnyConnection, Row};
use tokendesk_otp::{Secret, Totp, TotpParams};

use super::sessions::rotate_session;
use super::{Identity, Session, SessionStage, Staff};
use crate::error::{Result, StaffError, StoreError, VaultError};
use crate::policy::Actor;
use crate::tokens::{SESSION_PREFIX, SecretString, new_token};

/// The TOTP parameters of staff second factors (what authenticator apps assume).
pub(super) fn staff_totp(seed: &[u8]) -> Totp {
    Totp::new(&Secret::from_bytes(seed.to_vec()), TotpParams::default())
}

pub(super) fn totp_aad(staff_id: &str) -> Vec<u8> {
    format!("tokendesk staff totp|{staff_id}").into_bytes()
}

/// Checks `code` against the steps now−1, now and now+1 newer than `last_step`, looking at all
/// three (no early exit). Returns the matching step.
pub(super) fn match_totp(totp: &Totp, now: i64, code: &str, last_step: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let now = u64::try_from(now).ok()?;
    let mut found = None;
    for offset in -1..=1 {
        if let Ok(c) = totp.at_offset(now, offset) {
            let step = i64::try_from(c.step).ok()?;
            let fresh = last_step.is_none_or(|last| step > last);
            if c.code.ct_eq_str(&code) && fresh && found.is_none() {
                found = Some(step);
            }
        }
    }
    found
}

impl Identity<'_> {
    /// Starts TOTP enrolment: a new random 160-bit seed, stored sealed and pending until
    /// [`Identity::finish_totp_enrolment`] sees a right code; `true` with it. A key made earlier
    /// in the same session and not yet confirmed is returned again instead, with `false`, so a
    /// reload or a mistyped code never replaces the key the authenticator app already holds.
    /// Show it (QR/base32) and drop it.
    ///
    /// # Errors
    /// [`StaffError::SessionInvalid`], [`StaffError::WrongStage`]; database errors.
    pub async fn begin_totp_enrolment(self, token: &str) -> Result<(Secret, bool)> {
        let (_, session) = self.session_at(token, &[SessionStage::TotpEnrol]).await?;
        let staff = session.staff;
        // A key sealed during this session and not yet confirmed is shown again (a reload or a
        // mistyped code must not replace the key the authenticator app already holds).
        if !staff.totp_enrolled
            && staff.updated_unix_secs >= session.created_unix_secs
            && let (Some(sealed), _) = self.totp_state(&staff).await?
        {
            let seed = self.open_staff_seed(&staff, &sealed)?;
            return Ok((seed, false));
        }
        let seed = Secret::generate(20).map_err(|_| tokendesk_crypto::CryptoError::Random)?;
        let sealed = self
            .vault
            .keys
            .staff_totp
            .seal(seed.expose_bytes(), &totp_aad(&staff.id))?;
        let now = self.vault.now().0;
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| {
                sqlx::query(
                    "UPDATE staff SET totp_sealed = $1, totp_enrolled = 0, totp_last_step = NULL, \
                     updated_unix_secs = $2 WHERE id = $3",
                )
                .bind(sealed.clone())
                .bind(now)
                .bind(&staff.id)
                .execute(&mut *conn)
                .await?;
                self.staff_event(
                    conn,
                    &Actor::new(staff.username.clone()),
                    "totp.enrol-begin",
                    json!({ "staff": staff.username }),
                )
                .await
            })
            .await?;
        Ok((seed, true))
    }

    pub(super) async fn totp_state(self, staff: &Staff) -> Result<(Option<Vec<u8>>, Option<i64>)> {
        let row = sqlx::query("SELECT totp_sealed, totp_last_step FROM staff WHERE id = $1")
            .bind(&staff.id)
            .fetch_one(self.vault.store.pool())
            .await?;
        Ok((row.try_get("totp_sealed")?, row.try_get("totp_last_step")?))
    }

    pub(super) fn open_staff_totp(self, staff: &Staff, sealed: &[u8]) -> Result<Totp> {
        let seed = self.open_staff_seed(staff, sealed)?;
        Ok(staff_totp(seed.expose_bytes()))
    }

    /// The staff member's sealed TOTP seed, opened.
    fn open_staff_seed(self, staff: &Staff, sealed: &[u8]) -> Result<Secret> {
        let seed = self
            .vault
            .keys
            .staff_totp
            .open(sealed, &totp_aad(&staff.id))
            .map_err(|_| {
                VaultError::Store(StoreError::Tampered {
                    record: format!("staff {}", staff.username),
                })
            })?;
        Ok(Secret::from_bytes(seed.to_vec()))
    }

    /// Checks a code for the TOTP second factor; on success records its step (replay guard),
    /// clears the failure count and replaces the session by a fresh one at stage `full`: the
    /// pre-TOTP token is deleted and a new token issued in the same transaction, so a token
    /// planted or seen before the second factor (session fixation) never becomes a full session.
    /// The new session keeps the sign-in time, absolute end and source address of the old one.
    pub(super) async fn accept_totp(
        self,
        token: &str,
        code: &str,
        stage: SessionStage,
        action: &str,
    ) -> Result<(SecretString, Session)> {
        let (hash, session) = self.session_at(token, &[stage]).await?;
        let staff = &session.staff;
        let (sealed, last_step) = self.totp_state(staff).await?;
        let sealed = sealed.ok_or_else(|| VaultError::Invalid(crate::Invalid::EnrolmentMissing))?;
        let totp = self.open_staff_totp(staff, &sealed)?;
        let counted = self.reserve_attempt(staff).await?;
        let now = self.vault.now().0;
        self.count_secret_check();
        let Some(step) = match_totp(&totp, now, code, last_step) else {
            return Err(self
                .record_failure(
                    staff,
                    "totp-failed",
                    VaultError::Staff(StaffError::WrongCode),
                    counted,
                )
                .await?);
        };
        let (fresh, fresh_hash) = new_token(SESSION_PREFIX)?;
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| {
                let done = sqlx::query(
                    "UPDATE staff SET totp_enrolled = 1, totp_last_step = $1, failed_logins = 0, \
                     locked_until_unix_secs = NULL, last_login_unix_secs = $2 \
                     WHERE id = $3 AND (totp_last_step IS NULL OR totp_last_step < $1)",
                )
                .bind(step)
                .bind(now)
                .bind(&staff.id)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() != 1 {
                    return Err(VaultError::Staff(StaffError::WrongCode));
                }
                rotate_session(conn, &hash, &fresh_hash, &session, now).await?;
                self.staff_event(
                    conn,
                    &Actor::new(staff.username.clone()),
                    action,
                    json!({ "staff": staff.username, "session_rotated": true }),
                )
                .await
            })
            .await?;
        let full = self
            .session_by_hash(&fresh_hash)
            .await?
            .ok_or(VaultError::Staff(StaffError::SessionInvalid))?;
        Ok((fresh, full))
    }

    /// Confirms enrolment with a code from the new authenticator. Returns a new session token
    /// (the one passed in stops working) and the session, now `full`.
    ///
    /// # Errors
    /// [`StaffError::SessionInvalid`], [`StaffError::WrongStage`], [`StaffError::WrongCode`],
    /// [`StaffError::LockedOut`]; database errors.
    pub async fn finish_totp_enrolment(
        self,
        token: &str,
        code: &str,
    ) -> Result<(SecretString, Session)> {
        self.accept_totp(token, code, SessionStage::TotpEnrol, "totp.enrolled")
            .await
    }

    /// The second sign-in step: a code within ±1 step of now, newer than the last one accepted
    /// (a replayed or older code is refused). Failures count toward the lockout. Returns a new
    /// session token (the pre-TOTP one stops working) and the session, now `full`.
    ///
    /// # Errors
    /// [`StaffError::SessionInvalid`], [`StaffError::WrongStage`], [`StaffError::WrongCode`],
    /// [`StaffError::LockedOut`]; database errors.
    pub async fn verify_totp(self, token: &str, code: &str) -> Result<(SecretString, Session)> {
        self.accept_totp(token, code, SessionStage::Totp, "login.totp")
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_window_and_replay() {
        let totp = staff_totp(b"12345678901234567890");
        let now = 1_000_000_i64;
        let step = now / 30;
        let code_at = |s: i64| totp.at((s * 30) as u64).unwrap().code.expose().to_owned();
        assert_eq!(match_totp(&totp, now, &code_at(step), None), Some(step));
        assert_eq!(
            match_totp(&totp, now, &code_at(step - 1), None),
            Some(step - 1)
        );
        assert_eq!(
            match_totp(&totp, now, &code_at(step + 1), None),
            Some(step + 1)
        );
        assert_eq!(match_totp(&totp, now, &code_at(step - 2), None), None);
        assert_eq!(match_totp(&totp, now, &code_at(step), Some(step)), None);
        assert_eq!(
            match_totp(&totp, now, &code_at(step - 1), Some(step - 1)),
            None
        );
        assert_eq!(
            match_totp(&totp, now, &code_at(step + 1), Some(step)),
            Some(step + 1)
        );
        let spaced: String = code_at(step).chars().flat_map(|c| [c, ' ']).collect();
        assert_eq!(match_totp(&totp, now, &spaced, None), Some(step));
    }
}
