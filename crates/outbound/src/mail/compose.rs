//! The messages tokendesk sends, each as plain text and HTML (templates in
//! `crates/outbound/templates/mail_*`: the layout; the sentences come from the caller's message
//! catalogue through [`Wording`], in the user's language). Times are written in the user's time
//! zone when the record has one, else UTC, always with the zone named.

use std::sync::Arc;

use askama::Template;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use zeroize::Zeroizing;

use super::SendError;
use crate::zone;

/// The sentences of a message in the reader's language: the caller's message catalogue (the
/// web crate's, so the pages and the e-mails share one). Keys: `mail-hello`, `mail-code-*`,
/// `mail-notice-*`, `mail-shipped*`, `mail-delivered*`, `mail-carrier`, `mail-tracking`.
pub trait Wording: Send + Sync {
    /// The language tag (`de`), for the HTML part's `lang`.
    fn tag(&self) -> &str;
    /// The message `key` with its named arguments filled in.
    fn say(&self, key: &str, args: &[(&str, &str)]) -> String;
}

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
    /// The sentences, in the user's language.
    pub wording: Arc<dyn Wording>,
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
    /// The sentences, in the user's language.
    pub wording: Arc<dyn Wording>,
}

#[derive(Template)]
#[template(path = "mail_code.txt", escape = "none")]
struct CodeText<'a> {
    m: &'a CodeView,
}

#[derive(Template)]
#[template(path = "mail_code.html")]
struct CodeHtml<'a> {
    m: &'a CodeView,
}

struct CodeView {
    lang: String,
    title: String,
    hello: String,
    intro: String,
    grouped: Zeroizing<String>,
    use_it: String,
    not_you: String,
}

#[derive(Template)]
#[template(path = "mail_notice.txt", escape = "none")]
struct NoticeText<'a> {
    m: &'a NoticeView,
}

#[derive(Template)]
#[template(path = "mail_notice.html")]
struct NoticeHtml<'a> {
    m: &'a NoticeView,
}

struct NoticeView {
    lang: String,
    title: String,
    hello: String,
    /// The paragraph saying what happened.
    what: String,
    /// Carrier and tracking lines (empty when not recorded).
    carrier: String,
    tracking: String,
    /// The closing paragraph (until it arrives), empty for a delivery.
    until: String,
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
        let w = &self.wording;
        let day = zone::format(self.usable_from, z)
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        let from_clock = zone::format_clock(self.usable_from, z);
        let until_clock = zone::format_clock(self.usable_until, z);
        let zone_name = zone_label(z);
        let window = [
            ("day", day.as_str()),
            ("from", from_clock.as_str()),
            ("until", until_clock.as_str()),
            ("zone", zone_name.as_str()),
            ("upn", self.upn.as_str()),
        ];
        let view = CodeView {
            lang: w.tag().to_owned(),
            title: w.say("mail-code-title", &[]),
            hello: w.say("mail-hello", &[("user", &self.user)]),
            intro: w.say("mail-code-intro", &[("ticket", &self.ticket)]),
            grouped: group_code(&self.code),
            use_it: w.say("mail-code-use", &window),
            not_you: w.say("mail-code-not-you", &[]),
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
        let subject = w.say("mail-code-subject", &window);
        build(from, &self.to, subject, text, html)
    }
}

impl Notice {
    /// The message: subject, plain text and HTML.
    ///
    /// # Errors
    /// [`SendError::Message`] for an address that does not parse.
    pub fn message(&self, from: &Mailbox) -> Result<Message, SendError> {
        let w = &self.wording;
        let at = zone::format(self.at, self.zone.as_deref());
        let upn = self.upn.as_str();
        let (what, carrier, tracking, until, subject) = match &self.kind {
            NoticeKind::Delivered => (
                w.say("mail-delivered", &[("upn", upn), ("at", &at)]),
                String::new(),
                String::new(),
                String::new(),
                w.say("mail-delivered-subject", &[]),
            ),
            NoticeKind::Shipped { carrier, tracking } => (
                w.say("mail-shipped", &[("upn", upn), ("at", &at)]),
                carrier
                    .as_deref()
                    .map(|c| w.say("mail-carrier", &[("carrier", c)]))
                    .unwrap_or_default(),
                tracking
                    .as_deref()
                    .map(|t| w.say("mail-tracking", &[("tracking", t)]))
                    .unwrap_or_default(),
                w.say("mail-shipped-until", &[]),
                w.say("mail-shipped-subject", &[]),
            ),
        };
        let view = NoticeView {
            lang: w.tag().to_owned(),
            title: w.say("mail-notice-title", &[]),
            hello: w.say("mail-hello", &[("user", &self.user)]),
            what,
            carrier,
            tracking,
            until,
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
        build(from, &self.to, subject, text, html)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the web crate's catalogue (which this crate cannot depend on): each
    /// sentence is its key and arguments, so the tests see what was filled in where. The real
    /// sentences are checked where the catalogue lives (`web it::email`).
    pub(crate) struct Keys;

    impl Wording for Keys {
        fn tag(&self) -> &str {
            "en"
        }

        fn say(&self, key: &str, args: &[(&str, &str)]) -> String {
            let args: Vec<String> = args.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!("[{key} {}]", args.join(" "))
        }
    }

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
            wording: Arc::new(Keys),
        };
        let Ok(message) = mail.message(&from()) else {
            unreachable!("a valid mail")
        };
        // Quoted-printable soft line breaks and folded headers joined.
        let text = String::from_utf8_lossy(&message.formatted())
            .replace("=\r\n", "")
            .replace("\r\n ", " ");
        assert!(text.contains("591 757"), "{text}");
        assert!(text.contains("from: 14:32:30"), "{text}");
        assert!(text.contains("until: 14:36:30"), "{text}");
        assert!(text.contains("zone: Europe/Berlin"), "{text}");
        assert!(text.contains("upn: anna@contoso.com"), "{text}");
        assert!(text.contains("[mail-code-use day: 2026-12-06"), "{text}");
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
            wording: Arc::new(Keys),
        };
        assert!(matches!(
            notice.message(&from()),
            Err(SendError::Message(_))
        ));
    }
}
