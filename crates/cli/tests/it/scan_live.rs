//! `tokendesk scan --screen` and `--clipboard` for real: an X server (Xvfb, started by
//! scripts/test and named by TOKENDESK_TEST_DISPLAY) showing a QR code in an image viewer
//! window (feh), and a clipboard owned by xclip. `WAYLAND_DISPLAY` is removed from every run, so
//! a developer's own Wayland session is never captured (scan_wayland.rs covers Wayland).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{stderr, stdout, tokendesk};

/// The live tests share one screen: one at a time.
static SCREEN: Mutex<()> = Mutex::new(());

pub(crate) const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DP";

fn display() -> String {
    std::env::var("TOKENDESK_TEST_DISPLAY").unwrap_or_else(|_| {
        panic!(
            "TOKENDESK_TEST_DISPLAY is not set: run the tests with scripts/test (it starts Xvfb), \
             or start `Xvfb :97 -screen 0 1920x1080x24 &` and export TOKENDESK_TEST_DISPLAY=:97"
        )
    })
}

/// Kills and reaps the child on drop, so a failed assertion leaves no viewer behind.
pub(crate) struct Reaped(pub(crate) Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn qr_png(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tokendesk-live-{}-{name}", std::process::id()));
    let o = tokendesk()
        .args([
            "seed",
            "qr",
            SECRET,
            "--issuer",
            "Contoso",
            "--account",
            "live@contoso.com",
            "--png",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    path
}

fn spawn(program: &str, args: &[&str]) -> Reaped {
    let child = Command::new(program)
        .args(args)
        .env("DISPLAY", display())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program} ({e}); scripts/test installs it"));
    Reaped(child)
}

#[test]
fn screen_watch_finds_a_qr_code_shown_in_a_window() {
    let _screen = SCREEN.lock().unwrap_or_else(|e| e.into_inner());
    let png = qr_png("screen.png");
    let _viewer = spawn(
        "feh",
        &[
            "--geometry",
            "700x700+300+150",
            "--image-bg",
            "white",
            png.to_str().unwrap(),
        ],
    );
    let started = Instant::now();
    let o = tokendesk()
        .args(["scan", "--screen", "--watch", "--timeout", "30", "--json"])
        .env("DISPLAY", display())
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("WAYLAND_SOCKET")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "--watch prints once: {out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["file"], "screen");
    assert_eq!(v["found"][0]["secret"], SECRET);
    assert_eq!(v["found"][0]["account"], "live@contoso.com");
    assert!(started.elapsed() < Duration::from_secs(30));
    std::fs::remove_file(png).unwrap();
}

#[test]
fn screen_without_a_code_exits_1() {
    let _screen = SCREEN.lock().unwrap_or_else(|e| e.into_inner());
    // A viewer killed by the previous test may take a moment to disappear from the screen.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = tokendesk()
            .args(["scan", "--screen", "--json"])
            .env("DISPLAY", display())
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("WAYLAND_SOCKET")
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        if o.status.code() == Some(1) {
            assert_eq!(v["found"], serde_json::json!([]));
            break;
        }
        assert!(Instant::now() < deadline, "screen still shows a code: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn screen_without_an_x_server_is_an_environment_error() {
    let o = tokendesk()
        .args(["scan", "--screen"])
        .env("DISPLAY", ":9999")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("WAYLAND_SOCKET")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("cannot connect to the X display"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn clipboard_image_is_decoded() {
    let _screen = SCREEN.lock().unwrap_or_else(|e| e.into_inner());
    let png = qr_png("clip.png");
    let _owner = spawn(
        "xclip",
        &[
            "-quiet",
            "-selection",
            "clipboard",
            "-t",
            "image/png",
            "-i",
            png.to_str().unwrap(),
        ],
    );
    // xclip owns the selection once it has started; poll instead of sleeping blindly.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = tokendesk()
            .args(["scan", "--clipboard", "--json"])
            .env("DISPLAY", display())
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("WAYLAND_SOCKET")
            .output()
            .unwrap();
        if o.status.code() == Some(0) {
            let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
            assert_eq!(v["file"], "clipboard");
            assert_eq!(v["found"][0]["secret"], SECRET);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "clipboard never decoded: {}",
            stderr(&o)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::fs::remove_file(png).unwrap();
}
