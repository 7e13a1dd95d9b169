//! Screen capture through the desktop portal (`org.freedesktop.portal.Screenshot` on the D-Bus
//! session bus): the way GNOME, KDE and other compositors without wlr-screencopy hand out
//! screenshots to unsandboxed programs.
//!
//! The portal answers asynchronously: the call returns a request object, and the result comes
//! as that object's `Response` signal, carrying a `file://` URI of the picture the backend
//! wrote. We subscribe to `Response` before calling (or the answer could arrive unseen), read
//! the file once, owner-checked and size-capped, into a zeroizing buffer, and delete it: the
//! picture shows a seed, and backends write it to places other users may read (the wlroots
//! backend to the fixed path `/tmp/out.png`; GNOME's to the user's Pictures folder).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use futures_util::StreamExt;
use rustix::fs::{Mode, OFlags};
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};
use zeroize::Zeroizing;

/// How long the portal may take in all, including a permission prompt the desktop may show.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Largest screenshot file read back (an 8K PNG is ~50 MB).
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

const PORTAL: &str = "org.freedesktop.portal.Desktop";
const PORTAL_PATH: &str = "/org/freedesktop/portal/desktop";
const RESPONSE_RULE: &str =
    "type='signal',interface='org.freedesktop.portal.Request',member='Response'";

/// One screenshot of every monitor as the encoded image the portal wrote (PNG in practice).
///
/// # Errors
/// No session bus, no portal or no Screenshot interface on it, a refused or cancelled request,
/// or a picture that cannot be read back; the message names the cause, never image content.
pub(crate) fn screenshot() -> Result<Zeroizing<Vec<u8>>> {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        return Err(anyhow!(
            "no D-Bus session bus to reach the desktop portal (DBUS_SESSION_BUS_ADDRESS is not set)"
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the D-Bus client")?;
    let uri = runtime.block_on(async {
        tokio::time::timeout(TIMEOUT, request())
            .await
            .map_err(|_| {
                anyhow!(
                    "the desktop portal did not answer within {} s",
                    TIMEOUT.as_secs()
                )
            })?
    })?;
    read_and_delete(&file_path(&uri)?)
}

/// Asks for one non-interactive screenshot and waits for the portal's answer: the picture's URI.
async fn request() -> Result<String> {
    let conn = zbus::Connection::session()
        .await
        .map_err(|e| anyhow!("cannot connect to the D-Bus session bus ({e})"))?;
    let mut responses = zbus::MessageStream::for_match_rule(RESPONSE_RULE, &conn, Some(16))
        .await
        .map_err(|e| anyhow!("cannot subscribe to the desktop portal's answers ({e})"))?;
    let token = format!("tokendesk{}", std::process::id());
    let mut options: HashMap<&str, Value<'_>> = HashMap::new();
    options.insert("handle_token", Value::from(token.as_str()));
    options.insert("interactive", Value::from(false));
    options.insert("modal", Value::from(false));
    let reply = conn
        .call_method(
            Some(PORTAL),
            PORTAL_PATH,
            Some("org.freedesktop.portal.Screenshot"),
            "Screenshot",
            &("", options),
        )
        .await
        .map_err(|e| anyhow!("the desktop portal offers no screenshots ({e})"))?;
    let handle: OwnedObjectPath = reply
        .body()
        .deserialize()
        .map_err(|e| anyhow!("the desktop portal answered in an unknown form ({e})"))?;
    while let Some(msg) = responses.next().await {
        let msg = msg.map_err(|e| anyhow!("the D-Bus connection failed ({e})"))?;
        if msg.header().path().map(|p| p.as_str()) != Some(handle.as_str()) {
            continue;
        }
        let (code, results): (u32, HashMap<String, OwnedValue>) = msg
            .body()
            .deserialize()
            .map_err(|e| anyhow!("the desktop portal answered in an unknown form ({e})"))?;
        return match code {
            0 => results
                .get("uri")
                .and_then(|v| <&str>::try_from(&**v).ok())
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("the desktop portal's answer holds no picture")),
            1 => Err(anyhow!(
                "the screenshot was refused or cancelled on the desktop"
            )),
            _ => Err(anyhow!("the desktop portal could not take the screenshot")),
        };
    }
    Err(anyhow!(
        "the D-Bus connection closed before the portal answered"
    ))
}

/// The local path of a `file://` URI (percent-decoded).
fn file_path(uri: &str) -> Result<PathBuf> {
    let rest = uri
        .strip_prefix("file://")
        .ok_or_else(|| anyhow!("the desktop portal returned a picture that is not a local file"))?;
    // `file://host/path` is not ours to read; `file:///path` has an empty host.
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return Err(anyhow!(
            "the desktop portal returned a picture on another host"
        ));
    }
    Ok(PathBuf::from(OsString::from_vec(
        percent_encoding::percent_decode_str(path).collect(),
    )))
}

/// Reads the picture into a zeroizing buffer and deletes the file, whatever it held. Refuses a
/// symbolic link, a file that is not ours and anything larger than [`MAX_FILE_BYTES`].
fn read_and_delete(path: &std::path::Path) -> Result<Zeroizing<Vec<u8>>> {
    let read = read_owned(path);
    // Delete even when reading failed: a picture of a seed must not stay behind. A symbolic
    // link is removed as a link; its target is left alone.
    let removed = std::fs::remove_file(path);
    let bytes = read?;
    removed.map_err(|e| {
        anyhow!(
            "cannot delete the portal's screenshot {} ({e}); delete it by hand: it shows the screen",
            path.display()
        )
    })?;
    Ok(bytes)
}

fn read_owned(path: &std::path::Path) -> Result<Zeroizing<Vec<u8>>> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| {
        anyhow!(
            "cannot open the portal's screenshot {} ({e})",
            path.display()
        )
    })?;
    let stat = rustix::fs::fstat(&fd)
        .map_err(|e| anyhow!("cannot inspect the portal's screenshot ({e})"))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(anyhow!("the portal's screenshot is not a regular file"));
    }
    if stat.st_uid != rustix::process::geteuid().as_raw() {
        return Err(anyhow!(
            "the portal's screenshot {} belongs to another user; not reading it",
            path.display()
        ));
    }
    let mut buf = Zeroizing::new(Vec::new());
    File::from(fd)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| anyhow!("cannot read the portal's screenshot ({e})"))?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(anyhow!(
            "the portal's screenshot is larger than {} MiB",
            MAX_FILE_BYTES >> 20
        ));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_become_local_paths() {
        let check = |uri: &str, want: Option<&str>| {
            assert_eq!(
                file_path(uri).ok().as_deref(),
                want.map(std::path::Path::new),
                "{uri}"
            );
        };
        check("file:///tmp/out.png", Some("/tmp/out.png"));
        check(
            "file:///home/a/Pictures/Screenshot%20from%202026.png",
            Some("/home/a/Pictures/Screenshot from 2026.png"),
        );
        check("file://localhost/tmp/x.png", Some("/tmp/x.png"));
        check("file://otherhost/tmp/x.png", None);
        check("https://example.invalid/x.png", None);
        check("/tmp/out.png", None);
    }

    #[test]
    fn the_picture_is_read_once_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.png");
        std::fs::write(&p, b"picture").unwrap();
        assert_eq!(read_and_delete(&p).unwrap().as_slice(), b"picture");
        assert!(!p.exists());
    }

    #[test]
    fn a_symbolic_link_is_not_followed_but_removed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("secret.txt");
        std::fs::write(&target, b"not a screenshot").unwrap();
        let link = dir.path().join("out.png");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = read_and_delete(&link).unwrap_err().to_string();
        assert!(err.contains("cannot open"), "{err}");
        assert!(link.symlink_metadata().is_err() && target.exists());
    }
}
