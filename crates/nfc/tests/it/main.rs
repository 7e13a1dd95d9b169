//! End-to-end tests of the burn through the real PC/SC stack: this crate's PC/SC transport →
//! libpcsclite → pcscd → vsmartcard-vpcd → an emulated token on the vpcd socket. They need a
//! running pcscd with vpcd installed (`scripts/test` sets both up) and fail, not skip, without.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(missing_docs)]

mod bench;
mod e2e;
mod emulator;
