//! tokendesk-web over real HTTP on loopback.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod toolset;

use std::net::SocketAddr;
use std::sync::Arc;

use tokendesk_web::{AppState, app};

/// Fixed server time: RFC 6238's 1234567890, inside step 41152263 (valid 1234567890–1234567920).
pub const NOW: u64 = 1_234_567_890;

/// Starts the app on 127.0.0.1 with an ephemeral port; the server lives as long as the runtime.
pub async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(AppState::new(Arc::new(|| NOW)));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}
