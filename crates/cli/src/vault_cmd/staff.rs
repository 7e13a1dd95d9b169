//! `tokendesk staff ...` and `tokendesk apikey ...`: staff accounts and API keys for the web
//! app, for admins with access to the vault. One-time passwords and API keys are printed once.

use std::io::Write;

use clap::Subcommand;
use serde_json::json;
use tokendesk_vault::{Authorized, Permission, Policy, Principal, Role};

use super::{Ctx, vault_error, write_json};
use crate::error::{CliError, Outcome};

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse::<Role>().map_err(|e| e.to_string())
}

/// `tokendesk staff ...`.
#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Add a staff member; prints a one-time password (changed at first sign-in, followed by
    /// second-factor enrolment).
    Add {
        /// Login name.
        name: String,
        /// admin, provisioner, helpdesk or auditor.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Full name shown in the app [default: NAME].
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List staff accounts.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Disable an account (ends its sessions).
    Disable {
        /// Login name.
        name: String,
    },
    /// Enable a disabled account.
    Enable {
        /// Login name.
        name: String,
    },
    /// New one-time password and second-factor enrolment; ends the account's sessions and
    /// lifts a lockout.
    Reset {
        /// Login name.
        name: String,
    },
    /// Change an account's role.
    Role {
        /// Login name.
        name: String,
        /// admin, provisioner, helpdesk or auditor.
        #[arg(value_parser = parse_role)]
        role: Role,
    },
}

/// `tokendesk apikey ...`.
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key for automation; prints the bearer token once (stored hashed).
    Create {
        /// Key name (unique).
        #[arg(long)]
        name: String,
        /// admin, provisioner, helpdesk or auditor.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// List API keys (never the tokens).
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API key.
    Revoke {
        /// Key name.
        name: String,
    },
}

/// The vault's proof for a command-line admin: whoever can read the master key administers
/// the vault.
fn admin(ctx: &Ctx<'_>, p: Permission) -> Result<Authorized, CliError> {
    Policy::authorize(
        &Principal {
            actor: ctx.actor.clone(),
            role: Role::Admin,
        },
        p,
    )
    .map_err(|f| vault_error(f.into()))
}

pub(crate) async fn staff(
    ctx: &Ctx<'_>,
    cmd: &StaffCommand,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let vault = ctx.open().await?;
    let authz = admin(ctx, Permission::ManageStaff)?;
    match cmd {
        StaffCommand::Add {
            name,
            role,
            display_name,
        } => {
            let display = display_name.as_deref().unwrap_or(name);
            let (staff, password) = vault
                .staff()
                .add(&authz, name, display, *role)
                .await
                .map_err(vault_error)?;
            writeln!(
                out,
                "staff {} ({}) added. One-time password (shown once; changed at first sign-in):\n{}",
                staff.username,
                staff.role.as_str(),
                password.expose()
            )?;
        }
        StaffCommand::List { json } => {
            let list = vault.staff().list().await.map_err(vault_error)?;
            if *json {
                let rows: Vec<_> = list
                    .iter()
                    .map(|s| {
                        json!({
                            "username": s.username,
                            "display_name": s.display_name,
                            "role": s.role.as_str(),
                            "disabled": s.disabled,
                            "totp_enrolled": s.totp_enrolled,
                            "last_login_unix_secs": s.last_login_unix_secs,
                        })
                    })
                    .collect();
                write_json(&json!({ "staff": rows }), out)?;
            } else {
                for s in &list {
                    writeln!(
                        out,
                        "{:<24} {:<12} {}{}",
                        s.username,
                        s.role.as_str(),
                        if s.disabled { "disabled" } else { "active" },
                        if s.totp_enrolled {
                            ""
                        } else {
                            ", second factor not set up"
                        }
                    )?;
                }
            }
        }
        StaffCommand::Disable { name } => {
            vault
                .staff()
                .disable(&authz, name)
                .await
                .map_err(vault_error)?;
            writeln!(out, "staff {name} disabled")?;
        }
        StaffCommand::Enable { name } => {
            vault
                .staff()
                .enable(&authz, name)
                .await
                .map_err(vault_error)?;
            writeln!(out, "staff {name} enabled")?;
        }
        StaffCommand::Reset { name } => {
            let password = vault
                .staff()
                .reset(&authz, name)
                .await
                .map_err(vault_error)?;
            writeln!(
                out,
                "staff {name} reset; sessions ended. One-time password (shown once):\n{}",
                password.expose()
            )?;
        }
        StaffCommand::Role { name, role } => {
            vault
                .staff()
                .set_role(&authz, name, *role)
                .await
                .map_err(vault_error)?;
            writeln!(out, "staff {name} is now {}", role.as_str())?;
        }
    }
    Ok(Outcome::Done)
}

pub(crate) async fn apikey(
    ctx: &Ctx<'_>,
    cmd: &ApiKeyCommand,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let vault = ctx.open().await?;
    let authz = admin(ctx, Permission::ManageApiKeys)?;
    match cmd {
        ApiKeyCommand::Create { name, role } => {
            let (key, token) = vault
                .staff()
                .apikey_create(&authz, name, *role)
                .await
                .map_err(vault_error)?;
            writeln!(
                out,
                "API key {} ({}) created. Bearer token (shown once; stored hashed):\n{}",
                key.name,
                key.role.as_str(),
                token.expose()
            )?;
        }
        ApiKeyCommand::List { json } => {
            let keys = vault.staff().apikey_list().await.map_err(vault_error)?;
            if *json {
                let rows: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        json!({
                            "name": k.name,
                            "role": k.role.as_str(),
                            "revoked": k.revoked_unix_secs.is_some(),
                            "created_unix_secs": k.created_unix_secs,
                            "last_used_unix_secs": k.last_used_unix_secs,
                        })
                    })
                    .collect();
                write_json(&json!({ "apikeys": rows }), out)?;
            } else {
                for k in &keys {
                    writeln!(
                        out,
                        "{:<24} {:<12} {}",
                        k.name,
                        k.role.as_str(),
                        if k.revoked_unix_secs.is_some() {
                            "revoked"
                        } else {
                            "active"
                        }
                    )?;
                }
            }
        }
        ApiKeyCommand::Revoke { name } => {
            vault
                .staff()
                .apikey_revoke(&authz, name)
                .await
                .map_err(vault_error)?;
            writeln!(out, "API key {name} revoked")?;
        }
    }
    Ok(Outcome::Done)
}
