//! The `[smtp]` and `[oidc]` tables of the configuration file: e-mail and sign-in through the
//! organisation's identity provider. Their secrets (the SMTP password, the client secret) are
//! never keys of the file itself: they come from `TOKENDESK_SMTP_PASSWORD` /
//! `TOKENDESK_OIDC_CLIENT_SECRET` or from a file named by `password_file` /
//! `client_secret_file` (for example a systemd credential), so the configuration file can be
//! world-readable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use serde::Deserialize;
use tokendesk_outbound::mail::{Mailer, Password, Security, SmtpSettings};
use tokendesk_outbound::oidc::{OidcSettings, Provider};
use tokendesk_vault::Role;
use tokendesk_web::{MailConfig, OidcConfig};

use crate::error::CliError;

/// `[smtp]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SmtpFile {
    /// SMTP server host name.
    pub host: String,
    /// Port [default: 587 for starttls, 465 for tls, 25 for none].
    pub port: Option<u16>,
    /// `starttls` (default), `tls` or `none` (a relay on this machine only).
    pub security: Option<String>,
    /// User name for SMTP authentication.
    pub username: Option<String>,
    /// File holding the password (else `TOKENDESK_SMTP_PASSWORD`).
    pub password_file: Option<PathBuf>,
    /// The one sender: `tokendesk <helpdesk@example.com>`.
    pub from: String,
    /// Seconds for connecting and for each SMTP step [default: 15].
    pub timeout_secs: Option<u64>,
    /// Extra trusted CA certificates (PEM), on top of the system's.
    pub ca_file: Option<PathBuf>,
    /// E-mail the user when the token is shipped [default: true].
    pub notify_shipped: Option<bool>,
    /// E-mail the user when the token is delivered and its seed destroyed [default: true].
    pub notify_delivered: Option<bool>,
}

/// `[oidc]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OidcFile {
    /// Issuer URL, e.g. `https://login.microsoftonline.com/TENANT/v2.0`.
    pub issuer: String,
    /// Application (client) id.
    pub client_id: String,
    /// File holding the client secret (else `TOKENDESK_OIDC_CLIENT_SECRET`).
    pub client_secret_file: Option<PathBuf>,
    /// This server's callback [default: public_url + /login/oidc/callback].
    pub redirect_url: Option<String>,
    /// Words on the button: "Sign in with …" [default: "your organisation's account"].
    pub label: Option<String>,
    /// The claim holding roles or groups [default: roles].
    pub role_claim: Option<String>,
    /// Claim value → role (provisioner, helpdesk or auditor; never admin).
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    /// Let the provider's multi-factor sign-in (`amr` contains `mfa`) stand for tokendesk's
    /// own second factor [default: false].
    pub trust_provider_mfa: Option<bool>,
    /// E-mail domains allowed to sign in [default: any].
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// Only admins may sign in with a local password (break-glass) [default: false].
    pub require_for_non_admins: Option<bool>,
    /// Extra trusted CA certificates (PEM), on top of the system's.
    pub ca_file: Option<PathBuf>,
    /// Seconds for each request to the provider [default: 10].
    pub timeout_secs: Option<u64>,
    /// Clock difference tolerated on token times, seconds [default: 60].
    pub clock_skew_secs: Option<i64>,
}

fn secret(what: &str, file: Option<&Path>, env: &str) -> Result<Option<Password>, CliError> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::env(anyhow!(
                "cannot read the {what} from {}: {e}",
                path.display()
            ))
        })?;
        let text = text.trim_end_matches(['\r', '\n']).to_owned();
        if text.is_empty() {
            return Err(CliError::input(anyhow!(
                "{} holds no {what}",
                path.display()
            )));
        }
        return Ok(Some(Password::new(text)));
    }
    Ok(std::env::var(env)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Password::new))
}

/// The mailer from `[smtp]`, or `None` without the table.
///
/// # Errors
/// Exit 2 for a bad setting, 3 for an unreadable password file.
pub(crate) fn mail(file: Option<&SmtpFile>) -> Result<Option<MailConfig>, CliError> {
    let Some(smtp) = file else {
        return Ok(None);
    };
    let security: Security = smtp
        .security
        .as_deref()
        .unwrap_or("starttls")
        .parse()
        .map_err(|e: String| CliError::input(anyhow!("smtp.security: {e}")))?;
    let port = smtp.port.unwrap_or(match security {
        Security::StartTls => 587,
        Security::Tls => 465,
        Security::None => 25,
    });
    let password = secret(
        "SMTP password",
        smtp.password_file.as_deref(),
        "TOKENDESK_SMTP_PASSWORD",
    )?;
    let mailer = Mailer::new(SmtpSettings {
        host: smtp.host.trim().to_owned(),
        port,
        security,
        username: smtp.username.clone(),
        password,
        from: smtp.from.clone(),
        timeout: Duration::from_secs(smtp.timeout_secs.unwrap_or(15).max(1)),
        ca_file: smtp.ca_file.clone(),
    })
    .map_err(|e| CliError::input(anyhow!("smtp: {e}")))?;
    Ok(Some(MailConfig {
        mailer: Arc::new(mailer),
        notify_shipped: smtp.notify_shipped.unwrap_or(true),
        notify_delivered: smtp.notify_delivered.unwrap_or(true),
    }))
}

/// The identity provider from `[oidc]`, or `None` without the table; and whether local
/// sign-in is for admins only.
///
/// # Errors
/// Exit 2 for a bad setting (a role mapped to admin included), 3 for an unreadable secret.
pub(crate) fn oidc(
    file: Option<&OidcFile>,
    public_url: Option<&str>,
) -> Result<(Option<OidcConfig>, bool), CliError> {
    let Some(o) = file else {
        return Ok((None, false));
    };
    let client_secret = secret(
        "client secret",
        o.client_secret_file.as_deref(),
        "TOKENDESK_OIDC_CLIENT_SECRET",
    )?
    .ok_or_else(|| {
        CliError::input(anyhow!(
            "oidc: no client secret; set TOKENDESK_OIDC_CLIENT_SECRET or oidc.client_secret_file"
        ))
    })?;
    let redirect_url = match (&o.redirect_url, public_url) {
        (Some(url), _) => url.clone(),
        (None, Some(base)) => format!("{}/login/oidc/callback", base.trim_end_matches('/')),
        (None, None) => {
            return Err(CliError::input(anyhow!(
                "oidc: set public_url (or oidc.redirect_url): the identity provider sends people back to it"
            )));
        }
    };
    let mut role_map = Vec::new();
    for (claim, role) in &o.roles {
        let role: Role = role.parse().map_err(|_| {
            CliError::input(anyhow!(
                "oidc.roles: {role:?} is not a role; use provisioner, helpdesk or auditor"
            ))
        })?;
        if role == Role::Admin {
            return Err(CliError::input(anyhow!(
                "oidc.roles: {claim:?} maps to admin, which no one gets by signing in; create the administrator in tokendesk (`tokendesk staff add`), the account then links on its first sign-in"
            )));
        }
        role_map.push((claim.clone(), role));
    }
    let provider = Provider::new(OidcSettings {
        issuer: o.issuer.trim().to_owned(),
        client_id: o.client_id.trim().to_owned(),
        client_secret,
        redirect_url,
        timeout: Duration::from_secs(o.timeout_secs.unwrap_or(10).max(1)),
        ca_file: o.ca_file.clone(),
        clock_skew_secs: o.clock_skew_secs.unwrap_or(60).clamp(0, 600),
    })
    .map_err(|e| CliError::input(anyhow!("oidc: {e}")))?;
    Ok((
        Some(OidcConfig {
            provider: Arc::new(provider),
            label: o
                .label
                .clone()
                .unwrap_or_else(|| "your organisation's account".into()),
            role_claim: o.role_claim.clone().unwrap_or_else(|| "roles".into()),
            role_map,
            trust_provider_mfa: o.trust_provider_mfa.unwrap_or(false),
            allowed_domains: o
                .allowed_domains
                .iter()
                .map(|d| d.trim().to_lowercase())
                .collect(),
        }),
        o.require_for_non_admins.unwrap_or(false),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> crate::config::FileConfig {
        crate::config::parse(text).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn secret_file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap_or_else(|e| unreachable!("{e}"));
        std::fs::write(f.path(), text).unwrap_or_else(|e| unreachable!("{e}"));
        f
    }

    fn err(r: Result<impl std::fmt::Debug, CliError>) -> String {
        match r {
            Err(e) => format!("{:#}", e.error),
            Ok(v) => unreachable!("expected an error, got {v:?}"),
        }
    }

    #[test]
    fn issue_16_the_smtp_table_makes_a_mailer_with_the_defaults_named_in_the_readme() {
        let pw = secret_file("app password\n");
        let f = file(&format!(
            "[smtp]\nhost = \"smtp.office365.com\"\nusername = \"helpdesk@contoso.com\"\npassword_file = \"{}\"\nfrom = \"Helpdesk <helpdesk@contoso.com>\"\nnotify_delivered = false\n",
            pw.path().display()
        ));
        let made = mail(f.smtp.as_ref()).unwrap_or_else(|e| unreachable!("{:#}", e.error));
        let made = made.unwrap_or_else(|| unreachable!("a mailer"));
        assert_eq!(
            made.mailer.server(),
            "smtp.office365.com:587",
            "starttls on 587 by default"
        );
        assert!(made.notify_shipped && !made.notify_delivered);
        assert!(!format!("{:?}", made.mailer).contains("app password"));
        assert!(
            mail(None)
                .unwrap_or_else(|e| unreachable!("{:#}", e.error))
                .is_none()
        );
    }

    #[test]
    fn issue_16_bad_smtp_settings_name_what_to_fix() {
        let f = file("[smtp]\nhost = \"h\"\nfrom = \"not an address\"\n");
        assert!(err(mail(f.smtp.as_ref())).contains("smtp: the sender"));
        let f = file("[smtp]\nhost = \"h\"\nfrom = \"a@b.example\"\nsecurity = \"ssl\"\n");
        assert!(err(mail(f.smtp.as_ref())).contains("use starttls (port 587)"));
        let pw = secret_file("secret");
        let f = file(&format!(
            "[smtp]\nhost = \"h\"\nfrom = \"a@b.example\"\nsecurity = \"none\"\nusername = \"u\"\npassword_file = \"{}\"\n",
            pw.path().display()
        ));
        assert!(err(mail(f.smtp.as_ref())).contains("unencrypted"));
        let text = "[smtp]\nhost = \"h\"\nfrom = \"a@b.example\"\npassword = \"inline\"\n";
        assert!(
            crate::config::parse(text).is_err(),
            "no password key in the file itself"
        );
    }

    #[test]
    fn issue_16_no_claim_maps_to_admin() {
        let secret = secret_file("s");
        let f = file(&format!(
            "[oidc]\nissuer = \"https://login.microsoftonline.com/t/v2.0\"\nclient_id = \"c\"\nclient_secret_file = \"{}\"\nroles = {{ \"Tokendesk.Admin\" = \"admin\" }}\n",
            secret.path().display()
        ));
        let text = err(oidc(f.oidc.as_ref(), Some("https://td.example")));
        assert!(text.contains("no one gets by signing in"), "{text}");
    }

    #[test]
    fn issue_16_the_oidc_table_needs_a_secret_and_a_callback() {
        let f = file("[oidc]\nissuer = \"https://idp.example\"\nclient_id = \"c\"\n");
        let text = err(oidc(f.oidc.as_ref(), Some("https://td.example")));
        assert!(text.contains("TOKENDESK_OIDC_CLIENT_SECRET"), "{text}");
        let secret = secret_file("s");
        let f = file(&format!(
            "[oidc]\nissuer = \"https://idp.example\"\nclient_id = \"c\"\nclient_secret_file = \"{}\"\nroles = {{ \"Desk\" = \"helpdesk\" }}\nrequire_for_non_admins = true\n",
            secret.path().display()
        ));
        assert!(err(oidc(f.oidc.as_ref(), None)).contains("set public_url"));
        let (config, required) = oidc(f.oidc.as_ref(), Some("https://td.example/"))
            .unwrap_or_else(|e| unreachable!("{:#}", e.error));
        let config = config.unwrap_or_else(|| unreachable!("a provider"));
        assert!(required);
        assert_eq!(config.role_map, vec![("Desk".to_owned(), Role::Helpdesk)]);
        assert_eq!(config.role_claim, "roles");
        let f = file(&format!(
            "[oidc]\nissuer = \"http://idp.example\"\nclient_id = \"c\"\nclient_secret_file = \"{}\"\n",
            secret.path().display()
        ));
        assert!(err(oidc(f.oidc.as_ref(), Some("https://td.example"))).contains("must use https"));
    }
}
