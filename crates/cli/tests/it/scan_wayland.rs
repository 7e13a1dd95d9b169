//! `tokendesk scan --screen` on Wayland, for real: a headless sway (wlroots; started by
//! scripts/test, its socket named by TOKENDESK_TEST_WAYLAND_DISPLAY) showing a QR code in a
//! Wayland-native image viewer (swayimg), captured through the wlr-screencopy protocol.
//!
//! The desktop-portal path (compositors without screencopy, such as GNOME and KDE) is in
//! scan_portal.rs, on this same sway.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::scan_live::{Reaped, SECRET, qr_png};
use crate::{stderr, stdout, tokendesk};

/// The Wayland tests share one compositor: one at a time.
pub(crate) static COMPOSITOR: Mutex<()> = Mutex::new(());

/// The compositor's socket, as an absolute path.
pub(crate) fn socket() -> PathBuf {
    let s = std::env::var("TOKENDESK_TEST_WAYLAND_DISPLAY").unwrap_or_else(|_| {
        panic!(
            "TOKENDESK_TEST_WAYLAND_DISPLAY is not set: run the tests with scripts/test (it starts \
             a headless sway), or start one as a non-root user with `XDG_RUNTIME_DIR=DIR \
             WLR_BACKENDS=headless WLR_RENDERER=pixman WLR_LIBINPUT_NO_DEVICES=1 sway &` and \
             export TOKENDESK_TEST_WAYLAND_DISPLAY=DIR/wayland-1"
        )
    });
    let p = PathBuf::from(s);
    assert!(
        p.is_absolute(),
        "TOKENDESK_TEST_WAYLAND_DISPLAY must be an absolute socket path"
    );
    p
}

/// sway's IPC socket, next to the Wayland socket in the compositor's runtime directory.
fn sway_ipc() -> PathBuf {
    let dir = socket().parent().unwrap().to_owned();
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("sway-ipc."))
        })
        .unwrap_or_else(|| panic!("no sway IPC socket in {}", dir.display()))
}

/// `swaymsg ARGS` against the test compositor; returns its JSON reply.
fn swaymsg(args: &[&str]) -> serde_json::Value {
    let o = Command::new("swaymsg")
        .arg("--raw")
        .args(args)
        .env("SWAYSOCK", sway_ipc())
        .output()
        .unwrap_or_else(|e| panic!("cannot run swaymsg ({e}); scripts/test installs sway"));
    assert!(o.status.success(), "swaymsg {args:?}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Makes sure the compositor has a second monitor and returns the output names.
pub(crate) fn two_outputs() -> Vec<String> {
    let names = |v: serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut outputs = names(swaymsg(&["-t", "get_outputs"]));
    if outputs.len() < 2 {
        swaymsg(&["create_output"]);
        outputs = names(swaymsg(&["-t", "get_outputs"]));
    }
    assert!(
        outputs.len() >= 2,
        "sway did not add a headless output: {outputs:?}"
    );
    outputs
}

/// Shows `png` full-screen on `output` in swayimg, and waits until sway has mapped the window
/// there.
pub(crate) fn show_on(output: &str, png: &std::path::Path) -> Reaped {
    no_viewer_left();
    swaymsg(&["focus", "output", output]);
    let child = Command::new("swayimg")
        .arg(png)
        .env_remove("DISPLAY")
        .env("WAYLAND_DISPLAY", socket())
        .env("SWAYSOCK", sway_ipc())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start swayimg ({e}); scripts/test installs it"));
    let viewer = Reaped(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while window_output("swayimg").as_deref() != Some(output) {
        assert!(
            Instant::now() < deadline,
            "swayimg never appeared on {output}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    viewer
}

/// Waits until a viewer killed by an earlier test has left the screen.
fn no_viewer_left() {
    let deadline = Instant::now() + Duration::from_secs(10);
    while window_output("swayimg").is_some() {
        assert!(Instant::now() < deadline, "a swayimg window is still open");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The output that shows the first window whose app_id starts with `prefix`.
fn window_output(prefix: &str) -> Option<String> {
    fn has_window(node: &serde_json::Value, prefix: &str) -> bool {
        node["app_id"]
            .as_str()
            .is_some_and(|a| a.starts_with(prefix))
            || ["nodes", "floating_nodes"].iter().any(|k| {
                node[*k]
                    .as_array()
                    .is_some_and(|n| n.iter().any(|c| has_window(c, prefix)))
            })
    }
    let tree = swaymsg(&["-t", "get_tree"]);
    tree["nodes"].as_array()?.iter().find_map(|output| {
        has_window(output, prefix).then(|| output["name"].as_str().unwrap_or("").to_owned())
    })
}

fn scan_screen(args: &[&str]) -> std::process::Output {
    tokendesk()
        .arg("scan")
        .arg("--screen")
        .args(args)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_SOCKET")
        .env("WAYLAND_DISPLAY", socket())
        .output()
        .unwrap()
}

fn assert_finds_the_seed(o: &std::process::Output) {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    let out = stdout(o);
    assert_eq!(out.lines().count(), 1, "--watch prints once: {out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["file"], "screen");
    assert_eq!(v["found"][0]["secret"], SECRET, "{v}");
    assert_eq!(v["found"][0]["account"], "live@contoso.com");
}

#[test]
fn wayland_screen_watch_finds_a_qr_code_shown_in_a_wayland_window() {
    let _c = COMPOSITOR.lock().unwrap_or_else(|e| e.into_inner());
    let png = qr_png("wayland.png");
    let first = two_outputs().remove(0);
    let _viewer = show_on(&first, &png);
    let started = Instant::now();
    let o = scan_screen(&["--watch", "--timeout", "30", "--json"]);
    assert_finds_the_seed(&o);
    assert!(started.elapsed() < Duration::from_secs(30));
    std::fs::remove_file(png).unwrap();
}

#[test]
fn wayland_code_on_the_second_monitor_is_found() {
    let _c = COMPOSITOR.lock().unwrap_or_else(|e| e.into_inner());
    let png = qr_png("wayland-2.png");
    let second = two_outputs().remove(1);
    let _viewer = show_on(&second, &png);
    let o = scan_screen(&["--watch", "--timeout", "30", "--json"]);
    assert_finds_the_seed(&o);
    std::fs::remove_file(png).unwrap();
}

#[test]
fn wayland_screen_without_a_code_exits_1() {
    let _c = COMPOSITOR.lock().unwrap_or_else(|e| e.into_inner());
    no_viewer_left();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = scan_screen(&["--json"]);
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
fn wayland_socket_without_a_compositor_is_an_environment_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = tokendesk()
        .args(["scan", "--screen"])
        .env("WAYLAND_DISPLAY", dir.path().join("wayland-0"))
        .env("DISPLAY", ":9999")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    // On a Wayland session the X display is not consulted (XWayland would show no Wayland window).
    assert!(
        stderr(&o).contains("cannot connect to the Wayland compositor"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn wayland_compositor_without_screencopy_or_portal_says_what_to_do_instead() {
    // weston (started by scripts/test) offers no wlr-screencopy, like GNOME and KDE, and there is
    // no session bus, so no desktop portal either.
    let o = tokendesk()
        .args(["scan", "--screen", "--watch", "--timeout", "5"])
        .env("WAYLAND_DISPLAY", weston())
        .env_remove("DISPLAY")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .unwrap();
    no_backend_says_what_to_do(&o, "no D-Bus session bus to reach the desktop portal");
}

/// Exit 3 naming both failed backends (`portal_reason` for the portal) and the ways out: the
/// browser capture, the clipboard, a saved file.
pub(crate) fn no_backend_says_what_to_do(o: &std::process::Output, portal_reason: &str) {
    assert_eq!(o.status.code(), Some(3), "{}", stderr(o));
    let err = stderr(o);
    for needle in [
        "does not offer the wlr-screencopy protocol",
        portal_reason,
        "Capture from screen share",
        "tokendesk scan --clipboard",
        "tokendesk scan FILE",
    ] {
        assert!(err.contains(needle), "{needle:?} missing: {err}");
    }
    assert!(stdout(o).is_empty());
}

/// weston's socket: a compositor without wlr-screencopy, like GNOME and KDE.
pub(crate) fn weston() -> String {
    std::env::var("TOKENDESK_TEST_WESTON_DISPLAY").unwrap_or_else(|_| {
        panic!(
            "TOKENDESK_TEST_WESTON_DISPLAY is not set: run the tests with scripts/test (it starts \
             a headless weston), or start `XDG_RUNTIME_DIR=DIR weston \
             --backend=headless-backend.so --socket=wayland-0 &` and export \
             TOKENDESK_TEST_WESTON_DISPLAY=DIR/wayland-0"
        )
    })
}
