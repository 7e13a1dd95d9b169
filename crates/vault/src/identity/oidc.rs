//! Sign-in through the organisation's identity provider (OpenID Connect). The web layer runs
//! the protocol (crate `outbound`) and hands over what a verified ID token vouches for; here
//! that becomes a session of a staff account, with its audit entries:
//!
//! - an account already linked to the provider's (issuer, subject) signs in;
//! - otherwise an account whose user name is the person's e-mail address or UPN (created by
//!   an admin beforehand) is linked on this first sign-in and keeps the role the admin gave;
//! - otherwise, when the provider's role claim maps to a role, an account is created with it
//!   (never admin: that mapping is refused in the settings) and its role follows the claim on
//!   every later sign-in;
//! - otherwise the person is refused and told whom to ask.
//!
//! The flows in flight (state → nonce and PKCE verifier) are stored sealed, once, and taken
//! once: a replayed or forged `state` finds nothing.

use serde_json::json;
use sqlx::{AnyConnection, Row};
use tokendesk_crypto::ct_eq;
use zeroize::Zeroizing;

use super::sessions::insert_session;
use super::setup::insert_staff;
use super::{
    Identity, STAFF_COLUMNS, Session, SessionStage, Staff, normalise_username, staff_from_row,
};
use crate::error::{Result, StaffError, VaultError};
use crate::policy::{Actor, Role};
use crate::records::new_record_id;
use crate::tokens::{SESSION_PREFIX, SecretString, new_token, token_hash};

/// How long a sign-in sent to the provider may take to come back.
pub const OIDC_FLOW_TTL_SECS: i64 = 600;

/// What a verified ID token vouches for, as the vault needs it.
#[derive(Debug, Clone)]
pub struct ProviderIdentity {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// The person's e-mail address or UPN (`email`, else `preferred_username`).
    pub login: Option<String>,
    /// The person's name, for a new account.
    pub name: Option<String>,
    /// The role the provider's role claim maps to, if any (never admin).
    pub role: Option<Role>,
    /// The provider's own multi-factor sign-in counts as tokendesk's second factor.
    pub second_factor_done: bool,
}

fn flow_aad(state_hash: &[u8]) -> Vec<u8> {
    let mut aad = b"tokendesk oidc flow|".to_vec();
    aad.extend_from_slice(state_hash);
    aad
}

impl Identity<'_> {
    /// Stores a sign-in sent to the provider: the state's hash, and `pending` (nonce and PKCE
    /// verifier) sealed under a key of the vault bound to that hash. Expired flows go.
    ///
    /// # Errors
    /// Database errors.
    pub async fn oidc_flow_put(self, state: &str, pending: &[u8]) -> Result<()> {
        let hash = token_hash(state);
        let sealed = self
            .vault
            .keys
            .oidc_flow
            .seal(pending, &flow_aad(&hash))
            .map_err(VaultError::from)?;
        let now = self.vault.now().0;
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| {
                sqlx::query("DELETE FROM oidc_flows WHERE expires_unix_secs <= $1")
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "INSERT INTO oidc_flows (state_hash, sealed, created_unix_secs, \
                     expires_unix_secs) VALUES ($1, $2, $3, $4)",
                )
                .bind(hash.clone())
                .bind(sealed.clone())
                .bind(now)
                .bind(now.saturating_add(OIDC_FLOW_TTL_SECS))
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
            .await
    }

    /// Takes a sign-in back: the flow of `state` is deleted and its sealed part opened, once.
    /// `browser_state` is the state the browser's cookie holds: it must equal `state`, so a
    /// sign-in started in another browser cannot be completed in this one.
    ///
    /// # Errors
    /// [`StaffError::FlowInvalid`] for a missing, mismatched, used or expired state;
    /// database errors.
    pub async fn oidc_flow_take(
        self,
        state: &str,
        browser_state: Option<&str>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let invalid = || VaultError::Staff(StaffError::FlowInvalid);
        let browser = browser_state.ok_or_else(invalid)?;
        if state.is_empty() || state.len() > 256 || !ct_eq(state.as_bytes(), browser.as_bytes()) {
            return Err(invalid());
        }
        let hash = token_hash(state);
        let now = self.vault.now().0;
        let row = self
            .vault
            .store
            .write(async |conn: &mut AnyConnection| {
                let row = sqlx::query(
                    "DELETE FROM oidc_flows WHERE state_hash = $1 RETURNING sealed, expires_unix_secs",
                )
                .bind(hash.clone())
                .fetch_optional(&mut *conn)
                .await?;
                Ok(row)
            })
            .await?
            .ok_or_else(invalid)?;
        let expires: i64 = row.try_get("expires_unix_secs")?;
        if expires <= now {
            return Err(invalid());
        }
        let sealed: Vec<u8> = row.try_get("sealed")?;
        self.vault
            .keys
            .oidc_flow
            .open(&sealed, &flow_aad(&hash))
            .map_err(|_| invalid())
    }

    /// Audits a sign-in through the provider that was refused before any account was
    /// involved (bad state, provider error, a token that failed a check).
    ///
    /// # Errors
    /// Database errors.
    pub async fn oidc_refused(
        self,
        reason: &str,
        login: Option<&str>,
        source_ip: Option<&str>,
    ) -> Result<()> {
        let actor = Actor::new(format!("oidc:{}", login.unwrap_or("unknown")));
        let detail = json!({ "reason": reason, "login": login, "source_ip": source_ip });
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| {
                self.staff_event(conn, &actor, "oidc-refused", detail.clone())
                    .await
            })
            .await
    }

    async fn by_provider(self, issuer: &str, subject: &str) -> Result<Option<Staff>> {
        let sql = format!(
            "SELECT {STAFF_COLUMNS} FROM staff st WHERE st.oidc_issuer = $1 AND st.oidc_subject = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(issuer)
            .bind(subject)
            .fetch_optional(self.vault.store.pool())
            .await?;
        row.as_ref().map(staff_from_row).transpose()
    }

    /// Signs in a person the provider vouched for (see the module). Returns a new session
    /// token and the session: stage `full` when the provider's multi-factor sign-in is
    /// trusted, else `totp` (or `totp-enrol` without a second factor yet).
    ///
    /// # Errors
    /// [`StaffError::NoRole`], [`StaffError::ProviderLoginUnusable`],
    /// [`StaffError::LinkedElsewhere`], [`StaffError::Disabled`] (each audited as
    /// `oidc-refused`); database errors.
    pub async fn oidc_sign_in(
        self,
        who: &ProviderIdentity,
        source_ip: Option<&str>,
    ) -> Result<(SecretString, Session)> {
        match self.oidc_account(who).await {
            Ok(staff) => self.oidc_session(&staff, who, source_ip).await,
            Err(VaultError::Staff(e)) => {
                let reason = match &e {
                    StaffError::NoRole { .. } => "no-role",
                    StaffError::ProviderLoginUnusable { .. } => "login-unusable",
                    StaffError::LinkedElsewhere { .. } => "linked-elsewhere",
                    StaffError::Disabled => "disabled",
                    _ => "refused",
                };
                self.oidc_refused(reason, who.login.as_deref(), source_ip)
                    .await?;
                Err(VaultError::Staff(e))
            }
            Err(other) => Err(other),
        }
    }

    /// The account for `who`: linked, linked now, or created from the role claim.
    async fn oidc_account(self, who: &ProviderIdentity) -> Result<Staff> {
        let role = who.role.filter(|r| *r != Role::Admin);
        if let Some(staff) = self.by_provider(&who.issuer, &who.subject).await? {
            return self.oidc_follow_role(staff, who, role).await;
        }
        let login = who.login.as_deref().unwrap_or("");
        let username = normalise_username(login).map_err(|e| match e {
            VaultError::Invalid(reason) => VaultError::Staff(StaffError::ProviderLoginUnusable {
                login: login.to_owned(),
                reason,
            }),
            other => other,
        })?;
        let now = self.vault.now().0;
        if let Some(acct) = self.auth_row(&username).await? {
            let staff = acct.staff;
            if staff.disabled {
                return Err(VaultError::Staff(StaffError::Disabled));
            }
            // Link on first sign-in, unless linked to someone else at the provider.
            let linked = self
                .vault
                .store
                .write(async |conn: &mut AnyConnection| {
                    let done = sqlx::query(
                        "UPDATE staff SET oidc_issuer = $1, oidc_subject = $2, \
                         updated_unix_secs = $3 WHERE id = $4 AND oidc_subject IS NULL",
                    )
                    .bind(&who.issuer)
                    .bind(&who.subject)
                    .bind(now)
                    .bind(&staff.id)
                    .execute(&mut *conn)
                    .await?;
                    if done.rows_affected() == 1 {
                        let detail = json!({
                            "staff": staff.username,
                            "issuer": who.issuer,
                            "subject": who.subject,
                        });
                        self.staff_event(
                            conn,
                            &Actor::new(staff.username.clone()),
                            "oidc-linked",
                            detail,
                        )
                        .await?;
                    }
                    Ok(done.rows_affected() == 1)
                })
                .await?;
            if !linked {
                return Err(VaultError::Staff(StaffError::LinkedElsewhere {
                    username: staff.username,
                }));
            }
            return self.get(&staff.username).await;
        }
        let Some(role) = role else {
            return Err(VaultError::Staff(StaffError::NoRole {
                login: login.to_owned(),
            }));
        };
        // A new account, its role from the provider. Its password is random and never shown:
        // it signs in through the provider only.
        let (_unknown_password, phc) = self.one_time_password()?;
        let display = who
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| {
                !n.is_empty() && n.chars().count() <= 200 && !n.chars().any(char::is_control)
            })
            .unwrap_or(&username)
            .to_owned();
        let id = new_record_id()?;
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| {
                insert_staff(
                    conn, &id, &username, &display, role, &phc, false, "oidc", now,
                )
                .await?;
                sqlx::query(
                    "UPDATE staff SET oidc_issuer = $1, oidc_subject = $2, role_from_provider = 1 \
                     WHERE id = $3",
                )
                .bind(&who.issuer)
                .bind(&who.subject)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
                let detail = json!({
                    "staff": username,
                    "role": role.as_str(),
                    "issuer": who.issuer,
                    "subject": who.subject,
                });
                self.staff_event(conn, &Actor::new("oidc"), "oidc-created", detail)
                    .await
            })
            .await?;
        self.get(&username).await
    }

    /// An account made by a sign-in follows the provider's role claim; one an admin made
    /// keeps the admin's role.
    async fn oidc_follow_role(
        self,
        staff: Staff,
        who: &ProviderIdentity,
        role: Option<Role>,
    ) -> Result<Staff> {
        if staff.disabled {
            return Err(VaultError::Staff(StaffError::Disabled));
        }
        let from_provider: i64 = sqlx::query("SELECT role_from_provider FROM staff WHERE id = $1")
            .bind(&staff.id)
            .fetch_one(self.vault.store.pool())
            .await?
            .try_get(0)?;
        if from_provider == 0 {
            return Ok(staff);
        }
        let Some(role) = role else {
            return Err(VaultError::Staff(StaffError::NoRole {
                login: who.login.clone().unwrap_or_else(|| staff.username.clone()),
            }));
        };
        if role == staff.role {
            return Ok(staff);
        }
        let now = self.vault.now().0;
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| {
                sqlx::query("UPDATE staff SET role = $1, updated_unix_secs = $2 WHERE id = $3")
                    .bind(role.as_str())
                    .bind(now)
                    .bind(&staff.id)
                    .execute(&mut *conn)
                    .await?;
                let detail = json!({
                    "staff": staff.username,
                    "from": staff.role.as_str(),
                    "to": role.as_str(),
                    "source": "provider role claim",
                });
                self.staff_event(conn, &Actor::new("oidc"), "staff.role", detail)
                    .await
            })
            .await?;
        self.get(&staff.username).await
    }

    async fn oidc_session(
        self,
        staff: &Staff,
        who: &ProviderIdentity,
        source_ip: Option<&str>,
    ) -> Result<(SecretString, Session)> {
        let stage = if who.second_factor_done {
            SessionStage::Full
        } else if staff.totp_enrolled {
            SessionStage::Totp
        } else {
            SessionStage::TotpEnrol
        };
        let now = self.vault.now().0;
        let expires = now.saturating_add(self.vault.staff_settings.absolute_timeout_secs);
        let (token, hash) = new_token(SESSION_PREFIX)?;
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| {
                sqlx::query("UPDATE staff SET last_login_unix_secs = $1 WHERE id = $2")
                    .bind(now)
                    .bind(&staff.id)
                    .execute(&mut *conn)
                    .await?;
                insert_session(conn, &hash, &staff.id, stage, now, expires, source_ip).await?;
                let detail = json!({
                    "staff": staff.username,
                    "stage": stage.as_str(),
                    "method": "oidc",
                    "issuer": who.issuer,
                    "provider_mfa_trusted": who.second_factor_done,
                    "source_ip": source_ip,
                });
                self.staff_event(conn, &Actor::new(staff.username.clone()), "login", detail)
                    .await
            })
            .await?;
        let session = self
            .session_by_hash(&hash)
            .await?
            .ok_or(VaultError::Staff(StaffError::SessionInvalid))?;
        Ok((token, session))
    }
}
