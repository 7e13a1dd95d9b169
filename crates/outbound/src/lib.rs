//! Every connection tokendesk opens to another server: e-mail over SMTP ([`mail`]), OpenID
//! Connect to the organisation's identity provider ([`oidc`]), and a desk's calls to its
//! tokendesk server ([`desk`]). Used by `web` and `cli`, never by
//! the vault or a pure crate. Nothing here logs or returns a code, a password or a token: errors
//! say what failed and what to check, in words an operator can act on.

pub mod desk;
mod http;
pub mod mail;
pub mod oidc;
mod tls;
pub mod zone;

pub use http::HttpError;
pub use tls::TlsSetupError;

/// An error and its sources in one line (lettre and openidconnect keep the useful part in the
/// sources).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}
