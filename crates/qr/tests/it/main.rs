//! Integration tests for tokendesk-qr: the sample screenshots, generated damage, and limits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

/// Every test here runs under a 1 GiB heap cap: a decoder that believed a tiny file's huge
/// declared size would abort this binary (failing the run) instead of quietly allocating
/// gigabytes. The decoder's own caps allow at most 320 MiB per image.
#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, 1 << 30);

mod budget;
mod generated;
mod limits;
mod render;
mod samples;
