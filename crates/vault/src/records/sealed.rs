//! A record's sealed seed: its data key wrapped under the master key, the seed sealed under the
//! data key, both bound to the record; opening it and turning it into a TOTP generator.

use super::TokenParams;
use crate::error::StoreError;
use crate::error::{Result, VaultError};
use crate::invalid::Invalid;
use crate::store::keyring::record_context;
use crate::vault::Vault;
use sqlx::AnyConnection;
use sqlx::Row;
use tokendesk_crypto::DataKey;
use tokendesk_otp::Secret;
use tokendesk_otp::{Digits, Period, Totp, TotpParams};
use zeroize::Zeroizing;

/// A sealed seed as stored, for internal decryption.
#[derive(Clone)]
pub(crate) struct SealedRow {
    pub id: String,
    pub upn: String,
    pub key_version: i64,
    pub wrapped_dek: Vec<u8>,
    pub sealed_seed: Vec<u8>,
}

impl Vault {
    /// Seals a seed for a new record: fresh data key, AAD = record id, UPN, key version.
    pub(super) fn seal_new(
        &self,
        id: &str,
        upn: &str,
        seed: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        let v = self.keys.version;
        let dek = DataKey::generate()?;
        let sealed = dek.seal(seed, &record_context("seed", id, upn, v))?;
        let wrapped = self
            .keys
            .kek
            .wrap(&dek, &record_context("dek", id, upn, v))?;
        let fingerprint = self.keys.fingerprint.mac(&[seed]).to_vec();
        Ok((wrapped.0, sealed, fingerprint))
    }

    /// Opens a stored seed; any authentication failure is reported as tampering of that record.
    pub(crate) fn open_sealed(&self, row: &SealedRow) -> Result<Zeroizing<Vec<u8>>> {
        let tampered = || {
            VaultError::Store(StoreError::Tampered {
                record: row.id.clone(),
            })
        };
        let dek = self
            .keys
            .kek
            .unwrap(
                &row.wrapped_dek,
                &record_context("dek", &row.id, &row.upn, row.key_version),
            )
            .map_err(|_| tampered())?;
        dek.open(
            &row.sealed_seed,
            &record_context("seed", &row.id, &row.upn, row.key_version),
        )
        .map_err(|_| tampered())
    }
}

/// The sealed columns of a record, for reveal, export and rotation.
pub(crate) async fn sealed_row(conn: &mut AnyConnection, id: &str) -> Result<Option<SealedRow>> {
    let row = sqlx::query(
        "SELECT id, upn, key_version, wrapped_dek, sealed_seed FROM records \
         WHERE id = $1 AND sealed_seed IS NOT NULL",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(sealed_from_row).transpose()
}

pub(crate) fn sealed_from_row(row: &sqlx::any::AnyRow) -> Result<SealedRow> {
    Ok(SealedRow {
        id: row.try_get("id")?,
        upn: row.try_get("upn")?,
        key_version: row.try_get("key_version")?,
        wrapped_dek: row.try_get("wrapped_dek")?,
        sealed_seed: row.try_get("sealed_seed")?,
    })
}

/// A TOTP generator for a stored seed and its token parameters (T0 = 0).
pub(crate) fn totp_for(seed: &[u8], params: &TokenParams) -> Result<Totp> {
    let otp_params = TotpParams {
        algorithm: params.algorithm,
        digits: Digits::new(params.digits).map_err(|e| VaultError::Invalid(Invalid::Param(e)))?,
        period: Period::new(u64::from(params.period_secs))
            .map_err(|e| VaultError::Invalid(Invalid::Param(e)))?,
        t0_unix_secs: 0,
    };
    Ok(Totp::new(&Secret::from_bytes(seed.to_vec()), otp_params))
}
