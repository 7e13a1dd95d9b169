//! Where `scripts/test` put the real servers.

use std::path::PathBuf;
use std::time::Duration;

/// An environment variable `scripts/test` sets; the test fails with the way out when it is
/// missing.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        unreachable!("{name} is not set: run the tests through scripts/test, which starts the SMTP servers and the OpenID Provider")
    })
}

/// `host`, `port` of `TOKENDESK_TEST_SMTP_<which>`.
pub fn smtp(which: &str) -> (String, u16) {
    let addr = env(&format!("TOKENDESK_TEST_SMTP_{which}"));
    let (host, port) = addr
        .rsplit_once(':')
        .unwrap_or_else(|| unreachable!("host:port"));
    (
        host.to_owned(),
        port.parse().unwrap_or_else(|_| unreachable!("a port")),
    )
}

/// One message the SMTP sink received: envelope and raw text.
pub struct Received {
    pub envelope: serde_json::Value,
    pub raw: String,
}

/// Waits (up to 10 s) for the message addressed to `rcpt` (each test uses its own address).
pub async fn received(rcpt: &str) -> Received {
    let dir = PathBuf::from(env("TOKENDESK_TEST_SMTP_MAILDIR"));
    for _ in 0..100 {
        if let Some(found) = find(&dir, rcpt) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!(
        "no message for {rcpt} arrived at the SMTP sink in {}",
        dir.display()
    )
}

/// Whether any message for `rcpt` arrived.
pub fn any_for(rcpt: &str) -> bool {
    find(&PathBuf::from(env("TOKENDESK_TEST_SMTP_MAILDIR")), rcpt).is_some()
}

fn find(dir: &std::path::Path, rcpt: &str) -> Option<Received> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    for json in names {
        let text = std::fs::read_to_string(&json).ok()?;
        let envelope: serde_json::Value = serde_json::from_str(&text).ok()?;
        let to = envelope["rcpt_tos"].as_array()?;
        if to.iter().any(|t| t.as_str() == Some(rcpt)) {
            let raw = std::fs::read_to_string(json.with_extension("eml")).ok()?;
            return Some(Received { envelope, raw });
        }
    }
    None
}
