//! The messages tokendesk sends, each as plain text and HTML (templates in
//! `crates/outbound/templates/mail_*`). Times are written in the user's time zone when the
//! record has one, else UTC, always with the zone named.

use askama::Template;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use zeroize::Zeroizing;

use super::SendError;
use crate::zone;

/// A one-time code for the user, valid in a stated window.
pub struct CodeMail {
    /// The user's address.
    pub to: String,
    /// How to greet the user (display name, else the UPN).
    pub user: String,
    /// The account the code signs in to.
    pub upn: String,
    /// The code, digits only.
    pub code: Zeroizing<String>,
    /// Unix time from which Microsoft is expected to accept it.
    pub usable_from: i64,
    /// Unix time until which Microsoft is expected to accept it.
    pub usable_until: i64,
    /// The user's IANA zone, if the record has one.
    pub zone: Option<String>,
    /// The helpdesk's ticket reference.
    pub ticket: String,
}

/// A lifecycle notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeKind {
    /// The token left; carrier and tracking number when recorded.
    Shipped {
        /// Carrier name.
        carrier: Option<String>,
        /// Tracking number.
        tracking: Option<String>,
    },
    /// The token arrived; the stored seed was destroyed.
    Delivered,
}

/// A notice for the user about their token.
pub struct Notice {
    /// The user's address.
    pub to: String,
    /// How to greet the user.
    pub user: String,
    /// The account the token belongs to.
    pub upn: String,
    /// What happened.
    pub kind: NoticeKind,
    /// When it happened (Unix seconds).
    pub at: i64,
    /// The user's IANA zone, if the record has one.
    pub zone: Option<String>,
}

#[derive(Template)]
#[template(path = "mail_code.txt", escape = "none")]
struct CodeText<'a> {
    m: &'a CodeView<'a>,
}

#[derive(Template)]
#[template(path = "mail_code.html")]
struct CodeHtml<'a> {
    m: &'a CodeView<'a>,
}

struct CodeView<'a> {
    user: &'a str,
    upn: &'a str,
    grouped: Zeroizing<String>,
    day: String,
    from: String,
    until: String,
    zone: String,
    ticket: &'a str,
}

#[derive(Template)]
#[template(path = "mail_notice.txt", escape = "none")]
struct NoticeText<'a> {
    m: &'a NoticeView<'a>,
}

#[derive(Template)]
#[template(path = "mail_notice.html")]
struct NoticeHtml<'a> {
    m: &'a NoticeView<'a>,
}

struct NoticeView<'a> {
    user: &'a str,
    upn: &'a str,
    delivered: bool,
    carrier: &'a str,
    tracking: &'a str,
    at: String,
}

/// `591757` as `591 757`, `12345678` as `1234 5678`: easier to read and type.
pub fn group_code(code: &str) -> Zeroizing<String> {
    let split = match code.len() {
        6 => 3,
        7 => 4,
        8 => 4,
        _ => return Zeroizing::new(code.to_owned()),
    };
    match (code.get(..split), code.get(split..)) {
        (Some(a), Some(b)) => Zeroizing::new(format!("{a} {b}")),
        _ => Zeroizing::new(code.to_owned()),
    }
}

fn zone_label(zone: Option<&str>) -> String {
    zone.map_or_else(|| "UTC".to_owned(), str::to_owned)
}

fn build(
    from: &Mailbox,
    to: &str,
    subject: String,
    text: Zeroizing<String>,
    html: Zeroizing<String>,
) -> Result<Message, SendError> {
    let to: Mailbox = to
        .parse()
        .map_err(|_| SendError::Message(format!("the address {to:?} is not an e-mail address")))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text.to_string()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html.to_string()),
                ),
        )
        .map_err(|e| SendError::Message(e.to_string()))
}

impl CodeMail {
    /// The message: subject, plain text and HTML.
    ///
    /// # Errors
    /// [`SendError::Message`] for an address that does not parse.
    pub fn message(&self, from: &Mailbox) -> Result<Message, SendError> {
        let z = self.zone.as_deref();
        let view = CodeView {
            user: &self.user,
            upn: &self.upn,
            grouped: group_code(&self.code),
            day: zone::format(self.usable_from, z)
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_owned(),
            from: zone::format_clock(self.usable_from, z),
            until: zone::format_clock(self.usable_until, z),
            zone: zone_label(z),
            ticket: &self.ticket,
        };
        let text = Zeroizing::new(
            CodeText { m: &view }
                .render()
                .map_err(|e| SendError::Message(e.to_string()))?,
        );
        let html = Zeroizing::new(
            CodeHtml { m: &view }
                .render()
                .map_err(|e| SendError::Message(e.to_string()))?,
        );
        let subject = format!(
            "Your sign-in code for {} ({} to {} {})",
            view.day, view.from, view.until, view.zone
        );
        build(from, &self.to, subject, text, html)
    }
}

impl Notice {
    /// The message: subject, plain text and HTML.
    ///
    /// # Errors
    /// [`SendError::Message`] for an address that does not parse.
    pub fn message(&self, from: &Mailbox) -> Result<Message, SendError> {
        let (delivered, carrier, tracking) = match &self.kind {
            NoticeKind::Delivered => (true, "", ""),
            NoticeKind::Shipped { carrier, tracking } => (
                false,
                carrier.as_deref().unwrap_or(""),
                tracking.as_deref().unwrap_or(""),
            ),
        };
        let view = NoticeView {
            user: &self.user,
            upn: &self.upn,
            delivered,
            carrier,
            tracking,
            at: zone::format(self.at, self.zone.as_deref()),
        };
        let text = Zeroizing::new(
            NoticeText { m: &view }
                .render()
                .map_err(|e| SendError::Message(e.to_string()))?,
        );
        let html = Zeroizing::new(
            NoticeHtml { m: &view }
                .render()
                .map_err(|e| SendError::Message(e.to_string()))?,
        );
        let subject = if delivered {
            "Your sign-in token has arrived".to_owned()
        } else {
            "Your sign-in token is on its way".to_owned()
        };
        build(from, &self.to, subject, text, html)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> Mailbox {
        "Helpdesk <helpdesk@example.com>"
            .parse()
            .unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn codes_are_grouped_for_reading() {
        assert_eq!(group_code("591757").as_str(), "591 757");
        assert_eq!(group_code("12345678").as_str(), "1234 5678");
        assert_eq!(group_code("12345").as_str(), "12345");
    }

    #[test]
    fn the_code_mail_states_the_window_in_the_users_zone() {
        let mail = CodeMail {
            to: "anna@example.org".into(),
            user: "Anna Schmidt".into(),
            upn: "anna@contoso.com".into(),
            code: Zeroizing::new("591757".into()),
            usable_from: 1_796_563_950,
            usable_until: 1_796_564_190,
            zone: Some("Europe/Berlin".into()),
            ticket: "INC-1".into(),
        };
        let Ok(message) = mail.message(&from()) else {
            unreachable!("a valid mail")
        };
        let text = String::from_utf8_lossy(&message.formatted()).into_owned();
        assert!(text.contains("591 757"), "{text}");
        assert!(text.contains("14:32:30"), "{text}");
        assert!(text.contains("14:36:30"), "{text}");
        assert!(text.contains("Europe/Berlin"), "{text}");
        assert!(text.contains("anna@contoso.com"), "{text}");
    }

    #[test]
    fn a_bad_address_is_refused_before_anything_is_sent() {
        let notice = Notice {
            to: "not an address".into(),
            user: "x".into(),
            upn: "x@contoso.com".into(),
            kind: NoticeKind::Delivered,
            at: 0,
            zone: None,
        };
        assert!(matches!(
            notice.message(&from()),
            Err(SendError::Message(_))
        ));
    }
}
