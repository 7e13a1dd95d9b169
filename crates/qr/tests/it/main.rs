//! Integration tests for tokendesk-qr: the sample screenshots, generated damage, and limits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod generated;
mod limits;
mod render;
mod samples;
