//! Every connection tokendesk opens to another server: e-mail over SMTP ([`mail`]) and OpenID
//! Connect to the organisation's identity provider ([`oidc`]). Used by `web` and `cli`, never by
//! the vault or a pure crate. Nothing here logs or returns a code, a password or a token: errors
//! say what failed and what to check, in words an operator can act on.

mod http;
pub mod mail;
pub mod oidc;
mod tls;
pub mod zone;

pub use http::HttpError;
pub use tls::TlsSetupError;
