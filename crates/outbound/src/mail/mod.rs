//! E-mail over SMTP: one sender per deployment, STARTTLS or implicit TLS (or plain, for a local
//! relay on loopback), optional authentication, a timeout on every step. [`Mailer::send`] makes
//! one attempt and never retries: a code that did not go out is reported, not resent later
//! (it could arrive after its window). The outcome says whether the server accepted the message
//! and, if not, why, in words for the operator.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use zeroize::Zeroizing;

use crate::error_chain as chain;

mod compose;

pub use compose::{CodeMail, Notice, NoticeKind, Wording};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection, upgraded with STARTTLS; refused if the server does not offer it
    /// (port 587: Microsoft 365, Google).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption at all: only for a relay on the same machine or a trusted local network.
    None,
}

impl Security {
    /// The setting's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Security::StartTls => "starttls",
            Security::Tls => "tls",
            Security::None => "none",
        }
    }
}

impl std::str::FromStr for Security {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "starttls" => Ok(Security::StartTls),
            "tls" => Ok(Security::Tls),
            "none" => Ok(Security::None),
            other => Err(format!(
                "unknown SMTP security {other:?}; use starttls (port 587), tls (port 465) or none (local relay only)"
            )),
        }
    }
}

/// A password that wipes itself and never prints.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password read from the settings.
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The text, to hand to the protocol. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The deployment's SMTP settings.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Server host name (checked against its certificate).
    pub host: String,
    /// Port (587 for STARTTLS, 465 for TLS, 25 for a local relay).
    pub port: u16,
    /// Connection protection.
    pub security: Security,
    /// User name and password, when the server wants authentication.
    pub username: Option<String>,
    /// The password for `username`.
    pub password: Option<Password>,
    /// The one sender, `tokendesk <helpdesk@example.com>`.
    pub from: String,
    /// Limit on connecting and on each SMTP step.
    pub timeout: Duration,
    /// Extra trusted roots (PEM), on top of the system's.
    pub ca_file: Option<PathBuf>,
}

/// Why the settings cannot make a mailer (reported at start-up).
#[derive(Debug, thiserror::Error)]
pub enum MailSetupError {
    /// The sender address does not parse.
    #[error(
        "the sender {0:?} is not an e-mail address; write it as `Name <address@example.com>` or `address@example.com`"
    )]
    From(String),
    /// A user name without a password or the other way round.
    #[error("SMTP authentication needs both a user name and a password")]
    HalfCredentials,
    /// Plain SMTP with a password would send the password in clear.
    #[error(
        "refusing to send an SMTP password over an unencrypted connection; use security = \"starttls\" or \"tls\""
    )]
    PasswordInClear,
    /// The CA file is unusable.
    #[error("cannot use the SMTP CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// The TLS parameters could not be built.
    #[error("cannot set up TLS for the SMTP server: {0}")]
    Tls(String),
}

/// What the SMTP server said when it took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The reply, `250 2.0.0 OK queued as …`.
    pub reply: String,
}

/// Why a message was not sent. The message was not delivered in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No connection: the server is down, the name does not resolve, or a firewall.
    #[error("could not reach the SMTP server {server}: {detail}; the message was not sent")]
    Unreachable {
        /// `host:port`.
        server: String,
        /// The cause.
        detail: String,
    },
    /// The server's certificate is not trusted or is not for this host name.
    #[error(
        "the TLS connection to the SMTP server {server} failed ({detail}): check that the host name matches its certificate and that the certificate's issuer is trusted (smtp.ca_file); the message was not sent"
    )]
    Tls {
        /// `host:port`.
        server: String,
        /// The cause.
        detail: String,
    },
    /// The server refused the user name and password.
    #[error(
        "the SMTP server {server} refused the credentials ({reply}); check smtp.username and the password; the message was not sent"
    )]
    AuthRefused {
        /// `host:port`.
        server: String,
        /// The server's reply.
        reply: String,
    },
    /// The server refused the message or a recipient.
    #[error("the SMTP server {server} refused the message ({reply}); the message was not sent")]
    Refused {
        /// `host:port`.
        server: String,
        /// The server's reply.
        reply: String,
        /// A temporary refusal (4xx).
        transient: bool,
    },
    /// No answer in time.
    #[error("the SMTP server {server} did not answer within {secs} s; the message was not sent")]
    Timeout {
        /// `host:port`.
        server: String,
        /// The limit.
        secs: u64,
    },
    /// The message could not be built (a bad address on the record).
    #[error("cannot build the e-mail: {0}; the message was not sent")]
    Message(String),
}

impl SendError {
    /// A short fixed name for the audit trail and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            SendError::Unreachable { .. } => "unreachable",
            SendError::Tls { .. } => "tls",
            SendError::AuthRefused { .. } => "auth-refused",
            SendError::Refused { .. } => "refused",
            SendError::Timeout { .. } => "timeout",
            SendError::Message(_) => "bad-message",
        }
    }
}

/// Sends mail through the configured server.
pub struct Mailer {
    settings: SmtpSettings,
    from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server())
            .field("security", &self.settings.security)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Checks the settings and prepares the transport (no connection yet).
    ///
    /// # Errors
    /// [`MailSetupError`] naming the setting to fix.
    pub fn new(settings: SmtpSettings) -> Result<Self, MailSetupError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|_| MailSetupError::From(settings.from.clone()))?;
        let credentials = match (&settings.username, &settings.password) {
            (Some(user), Some(pass)) => Some(Credentials::new(user.clone(), pass.0.to_string())),
            (None, None) => None,
            _ => return Err(MailSetupError::HalfCredentials),
        };
        if credentials.is_some() && settings.security == Security::None {
            return Err(MailSetupError::PasswordInClear);
        }
        let tls = match settings.security {
            Security::None => Tls::None,
            Security::StartTls => Tls::Required(tls_parameters(&settings)?),
            Security::Tls => Tls::Wrapper(tls_parameters(&settings)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let Some(credentials) = credentials {
            builder = builder.credentials(credentials);
        }
        Ok(Self {
            transport: builder.build(),
            from,
            settings,
        })
    }

    /// `host:port`, for messages.
    pub fn server(&self) -> String {
        format!("{}:{}", self.settings.host, self.settings.port)
    }

    /// The sender.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Sends one message, once, within the timeout.
    ///
    /// # Errors
    /// [`SendError`]: the message was not sent.
    pub async fn send(&self, message: Message) -> Result<Accepted, SendError> {
        let limit = self
            .settings
            .timeout
            .saturating_mul(4)
            .max(Duration::from_secs(1));
        let server = self.server();
        match tokio::time::timeout(limit, self.transport.send(message)).await {
            Err(_) => Err(SendError::Timeout {
                server,
                secs: limit.as_secs(),
            }),
            Ok(Ok(response)) => Ok(Accepted {
                reply: format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                ),
            }),
            Ok(Err(e)) => Err(classify(&server, &e, self.settings.timeout)),
        }
    }
}

fn tls_parameters(settings: &SmtpSettings) -> Result<TlsParameters, MailSetupError> {
    let mut builder = TlsParameters::builder(settings.host.clone());
    if let Some(path) = &settings.ca_file {
        let certs = crate::tls::read_pem_certs(path).map_err(|e| MailSetupError::CaFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        for cert in certs {
            let cert =
                Certificate::from_der(cert.to_vec()).map_err(|e| MailSetupError::CaFile {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build_rustls()
        .map_err(|e| MailSetupError::Tls(e.to_string()))
}

fn classify(server: &str, e: &lettre::transport::smtp::Error, timeout: Duration) -> SendError {
    let server = server.to_owned();
    let detail = chain(e);
    let reply = || {
        e.status()
            .map_or_else(|| detail.clone(), |code| format!("{code}: {detail}"))
    };
    if e.is_timeout() {
        return SendError::Timeout {
            server,
            secs: timeout.as_secs(),
        };
    }
    let lower = detail.to_ascii_lowercase();
    if e.is_tls() || lower.contains("certificate") || lower.contains("tls") {
        return SendError::Tls { server, detail };
    }
    if e.is_permanent() || e.is_transient() {
        let code = e.status().map(|c| c.to_string()).unwrap_or_default();
        // 535 authentication credentials invalid; 530/534/538 authentication required or too weak.
        if code.starts_with("535") || code.starts_with("534") || code.starts_with("530") {
            return SendError::AuthRefused {
                server,
                reply: reply(),
            };
        }
        return SendError::Refused {
            server,
            reply: reply(),
            transient: e.is_transient(),
        };
    }
    if lower.contains("authentication") || lower.contains("mechanism") {
        return SendError::AuthRefused {
            server,
            reply: detail,
        };
    }
    SendError::Unreachable { server, detail }
}
