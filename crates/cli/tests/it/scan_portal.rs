//! `tokendesk scan --screen` through the desktop portal, for real: xdg-desktop-portal with its
//! wlroots backend (started by scripts/test on a private D-Bus session bus, named by
//! TOKENDESK_TEST_PORTAL_BUS, taking its screenshots of the headless sway) while the program's
//! own `WAYLAND_DISPLAY` is weston, a compositor without wlr-screencopy like GNOME and KDE. The
//! sample screenshot is shown only on sway, so the seed can only have come through the portal.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::scan_live::Reaped;
use crate::scan_wayland::{COMPOSITOR, no_backend_says_what_to_do, show_on, two_outputs, weston};
use crate::{stderr, stdout, tokendesk};

/// Where xdg-desktop-portal-wlr writes every screenshot (a fixed path in its source).
const WLR_PORTAL_FILE: &str = "/tmp/out.png";

fn portal_bus() -> String {
    std::env::var("TOKENDESK_TEST_PORTAL_BUS").unwrap_or_else(|_| {
        panic!(
            "TOKENDESK_TEST_PORTAL_BUS is not set: run the tests with scripts/test (it starts a \
             private dbus-daemon, pipewire, xdg-desktop-portal-wlr on its sway and \
             xdg-desktop-portal) and exports the bus address"
        )
    })
}

fn sample(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../qr/tests/fixtures/screens")
        .join(name)
}

fn scan_through(bus: &str, args: &[&str]) -> std::process::Output {
    tokendesk()
        .args(["scan", "--screen"])
        .args(args)
        .env("WAYLAND_DISPLAY", weston())
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_SOCKET")
        .output()
        .unwrap()
}

#[test]
fn portal_screenshot_finds_the_seed_where_the_compositor_lacks_screencopy() {
    let _c = COMPOSITOR.lock().unwrap_or_else(|e| e.into_inner());
    let _ = std::fs::remove_file(WLR_PORTAL_FILE);
    let first = two_outputs().remove(0);
    // Sample 007 of the screenshot corpus: a Teams-like share showing Microsoft's QR code.
    let _viewer = show_on(&first, &sample("007.png"));
    let o = scan_through(&portal_bus(), &["--watch", "--timeout", "30", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["file"], "screen");
    assert_eq!(v["found"][0]["kind"], "otpauth", "{v}");
    assert_eq!(v["found"][0]["secret"], "HNXZB7HCFWUMLNLI", "{v}");
    // The backend's file showed the seed: tokendesk read it and deleted it.
    assert!(
        Path::new(WLR_PORTAL_FILE).symlink_metadata().is_err(),
        "{WLR_PORTAL_FILE} was left behind"
    );
    assert!(!stderr(&o).contains("HNXZB7HCFWUMLNLI"));
}

#[test]
fn a_session_bus_without_a_portal_names_the_browser_capture() {
    // A bus of our own with nothing on it: no service directories, so nothing gets activated.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("bus");
    let conf = dir.path().join("bus.conf");
    std::fs::write(
        &conf,
        format!(
            "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" \
             \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n<busconfig>\
             <type>session</type><listen>unix:path={}</listen><auth>EXTERNAL</auth>\
             <policy context=\"default\"><allow send_destination=\"*\"/>\
             <allow receive_sender=\"*\"/><allow own=\"*\"/>\
             </policy></busconfig>\n",
            socket.display()
        ),
    )
    .unwrap();
    let _bus = Reaped(
        Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .args(["--nofork", "--nopidfile"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start dbus-daemon ({e}); scripts/test installs it")),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "dbus-daemon did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = scan_through(&format!("unix:path={}", socket.display()), &[]);
    no_backend_says_what_to_do(&o, "the desktop portal offers no screenshots");
}
