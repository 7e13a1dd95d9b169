//! Integration tests of the outbound connections against real servers on loopback, started by
//! `scripts/test`: aiosmtpd (plain, STARTTLS with authentication, a certificate for another
//! name) and npm oidc-provider. A test fails, never skips, when its server is missing.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod mail;
mod peers;
