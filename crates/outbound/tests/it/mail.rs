//! The mailer against aiosmtpd: what arrives, and each failure the operator must be told about.

use std::path::PathBuf;
use std::time::Duration;

use tokendesk_outbound::mail::{
    CodeMail, Mailer, Notice, NoticeKind, Password, Security, SendError, SmtpSettings,
};
use zeroize::Zeroizing;

use crate::peers::{any_for, env, received, smtp};

fn settings(which: &str, security: Security, auth: Option<&str>) -> SmtpSettings {
    let (host, port) = smtp(which);
    SmtpSettings {
        host,
        port,
        security,
        username: auth.map(|_| "tokendesk".to_owned()),
        password: auth.map(|p| Password::new(p.to_owned())),
        from: "Contoso helpdesk <helpdesk@contoso.test>".into(),
        timeout: Duration::from_secs(5),
        ca_file: Some(PathBuf::from(env("TOKENDESK_TEST_SMTP_CA"))),
    }
}

/// A stand-in for the web crate's message catalogue (this crate cannot depend on it): each
/// sentence is its key and arguments, so these tests see what was filled in where; the real
/// sentences, in each language, are checked in `web it::email`.
struct Keys;

impl tokendesk_outbound::mail::Wording for Keys {
    fn tag(&self) -> &str {
        "en"
    }

    fn say(&self, key: &str, args: &[(&str, &str)]) -> String {
        let args: Vec<String> = args.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        format!("[{key} {}]", args.join(" "))
    }
}

fn code_mail(to: &str) -> CodeMail {
    CodeMail {
        to: to.into(),
        user: "Anna Schmidt".into(),
        upn: "anna@contoso.com".into(),
        code: Zeroizing::new("591757".into()),
        usable_from: 1_796_563_950,
        usable_until: 1_796_564_190,
        zone: Some("Europe/Berlin".into()),
        ticket: "INC-77".into(),
        wording: std::sync::Arc::new(Keys),
    }
}

async fn send(settings: SmtpSettings, to: &str) -> Result<String, SendError> {
    let mailer = Mailer::new(settings).unwrap_or_else(|e| unreachable!("settings: {e}"));
    let message = code_mail(to)
        .message(mailer.from())
        .unwrap_or_else(|e| unreachable!("message: {e}"));
    mailer.send(message).await.map(|a| a.reply)
}

#[tokio::test]
async fn a_code_mail_arrives_through_a_plain_relay_with_its_headers_and_window() {
    let to = "plain-code@example.org";
    let reply = send(settings("PLAIN", Security::None, None), to).await;
    assert!(
        reply.as_deref().is_ok_and(|r| r.starts_with("250")),
        "{reply:?}"
    );
    let got = received(to).await;
    assert_eq!(got.envelope["mail_from"], "helpdesk@contoso.test");
    assert_eq!(got.envelope["tls"], false);
    assert!(
        got.raw
            .contains("From: \"Contoso helpdesk\" <helpdesk@contoso.test>"),
        "{}",
        got.raw
    );
    assert!(got.raw.contains(&format!("To: {to}")), "{}", got.raw);
    let unfolded = got.raw.replace("\r\n ", " ");
    assert!(
        unfolded.contains(
            "Subject: [mail-code-subject day: 2026-12-06 from: 14:32:30 until: 14:36:30 zone: Europe/Berlin"
        ),
        "{}",
        got.raw
    );
    assert!(got.raw.contains("multipart/alternative"), "{}", got.raw);
    assert!(got.raw.contains("591 757"), "{}", got.raw);
}

#[tokio::test]
async fn starttls_with_authentication_is_used_when_configured() {
    let to = "starttls-code@example.org";
    let reply = send(
        settings("STARTTLS", Security::StartTls, Some("smtp-test-password")),
        to,
    )
    .await;
    assert!(reply.is_ok(), "{reply:?}");
    let got = received(to).await;
    assert_eq!(got.envelope["tls"], true, "the message went over TLS");
    assert_eq!(
        got.envelope["auth"], "tokendesk",
        "the server saw the login"
    );
}

#[tokio::test]
async fn refused_credentials_are_reported_and_nothing_is_sent() {
    let to = "auth-refused@example.org";
    let err = send(
        settings("STARTTLS", Security::StartTls, Some("not-the-password")),
        to,
    )
    .await;
    assert!(matches!(err, Err(SendError::AuthRefused { .. })), "{err:?}");
    let text = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("refused the credentials") && text.contains("not sent"),
        "{text}"
    );
    assert!(
        !text.contains("not-the-password"),
        "the password is never in a message"
    );
    assert!(!any_for(to));
}

#[tokio::test]
async fn a_server_that_requires_authentication_refuses_an_anonymous_sender() {
    let to = "no-auth@example.org";
    let err = send(settings("STARTTLS", Security::StartTls, None), to).await;
    assert!(
        matches!(
            err,
            Err(SendError::AuthRefused { .. } | SendError::Refused { .. })
        ),
        "{err:?}"
    );
    assert!(!any_for(to));
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused() {
    let to = "mismatch@example.org";
    let err = send(settings("MISMATCH", Security::StartTls, None), to).await;
    assert!(matches!(err, Err(SendError::Tls { .. })), "{err:?}");
    let text = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("host name matches its certificate"), "{text}");
    assert!(!any_for(to));
}

#[tokio::test]
async fn an_untrusted_issuer_is_refused() {
    let to = "untrusted@example.org";
    let mut s = settings("STARTTLS", Security::StartTls, Some("smtp-test-password"));
    s.ca_file = None;
    let err = send(s, to).await;
    assert!(matches!(err, Err(SendError::Tls { .. })), "{err:?}");
    assert!(!any_for(to));
}

#[tokio::test]
async fn a_server_that_is_down_is_reported_as_unreachable() {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| unreachable!("{e}"));
    let port = listener
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| unreachable!("{e}"));
    drop(listener);
    let mut s = settings("PLAIN", Security::None, None);
    s.port = port;
    let err = send(s, "down@example.org").await;
    assert!(matches!(err, Err(SendError::Unreachable { .. })), "{err:?}");
    let text = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("could not reach") && text.contains(&port.to_string()),
        "{text}"
    );
}

#[tokio::test]
async fn a_password_is_never_sent_over_a_plain_connection() {
    let s = settings("PLAIN", Security::None, Some("secret"));
    assert!(matches!(
        Mailer::new(s),
        Err(tokendesk_outbound::mail::MailSetupError::PasswordInClear)
    ));
}

#[tokio::test]
async fn a_shipped_notice_names_the_carrier_and_tracking_number() {
    let to = "shipped@example.org";
    let mailer = Mailer::new(settings("PLAIN", Security::None, None))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let notice = Notice {
        to: to.into(),
        user: "Anna".into(),
        upn: "anna@contoso.com".into(),
        kind: NoticeKind::Shipped {
            carrier: Some("DHL".into()),
            tracking: Some("JJD000390007".into()),
        },
        at: 1_796_563_950,
        zone: None,
        wording: std::sync::Arc::new(Keys),
    };
    let message = notice
        .message(mailer.from())
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert!(mailer.send(message).await.is_ok());
    let got = received(to).await;
    // Quoted-printable soft line breaks joined.
    let raw = got.raw.replace("=\r\n", "");
    assert!(raw.contains("Subject: [mail-shipped-subject ]"), "{raw}");
    assert!(
        raw.contains("[mail-carrier carrier: DHL]")
            && raw.contains("[mail-tracking tracking: JJD000390007]"),
        "{raw}"
    );
    assert!(
        raw.contains("[mail-shipped upn: anna@contoso.com at: 2026-12-06 13:32:30 UTC]"),
        "{raw}"
    );
}
