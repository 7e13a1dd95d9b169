//! `tokendesk seed qr`: every output form decodes back to the same otpauth URI with our own
//! decoder.

use std::path::PathBuf;

use crate::{ok, stdout, tokendesk};

const SECRET: &str = "2sk2 tsmk jp7k dbck";

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tokendesk-seedqr-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The canonical URI `seed show` prints for the same arguments.
fn expected_uri() -> String {
    let out = ok(&[
        "seed",
        "show",
        "--json",
        SECRET,
        "--issuer",
        "Contoso",
        "--account",
        "alice@contoso.com",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["otpauth"].as_str().unwrap().to_owned()
}

fn decode_png(bytes: &[u8]) -> Vec<String> {
    tokendesk_qr::decode_image(bytes)
        .unwrap()
        .iter()
        .map(|c| c.expose_payload().to_owned())
        .collect()
}

fn gray_to_png(img: &image::GrayImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[test]
fn png_round_trips_and_is_private() {
    let path = temp("seed.png");
    let o = tokendesk()
        .args([
            "seed",
            "qr",
            SECRET,
            "--issuer",
            "Contoso",
            "--account",
            "alice@contoso.com",
            "--png",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(
        !stdout(&o).contains("2SK2"),
        "the seed is in the file, not on the terminal"
    );
    assert_eq!(
        decode_png(&std::fs::read(&path).unwrap()),
        vec![expected_uri()]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }
}

#[test]
fn terminal_half_blocks_round_trip() {
    let text = ok(&[
        "seed",
        "qr",
        SECRET,
        "--issuer",
        "Contoso",
        "--account",
        "alice@contoso.com",
    ]);
    // Each character is two modules; a block is a light module (drawn white on black).
    let rows: Vec<Vec<char>> = text
        .lines()
        .map(|l| {
            l.replace("\x1b[97;40m", "")
                .replace("\x1b[0m", "")
                .chars()
                .collect()
        })
        .collect();
    let n = rows[0].len();
    assert!(rows.iter().all(|r| r.len() == n));
    let scale = 6u32;
    let img = image::GrayImage::from_fn(n as u32 * scale, rows.len() as u32 * 2 * scale, |x, y| {
        let (mx, my) = ((x / scale) as usize, (y / scale) as usize);
        let c = rows[my / 2][mx];
        let light = match c {
            '█' => true,
            '▀' => my % 2 == 0,
            '▄' => my % 2 == 1,
            _ => false,
        };
        image::Luma([if light { 255 } else { 0 }])
    });
    assert_eq!(decode_png(&gray_to_png(&img)), vec![expected_uri()]);
}

#[test]
fn svg_round_trips() {
    let path = temp("seed.svg");
    let o = tokendesk()
        .args([
            "seed",
            "qr",
            SECRET,
            "--issuer",
            "Contoso",
            "--account",
            "alice@contoso.com",
            "--svg",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success());
    let svg = std::fs::read_to_string(&path).unwrap();
    // Rasterise the path's rectangles ("M{left} {top}h{w}v{h}H{left}V{top}").
    let attr = |name: &str| -> u32 {
        let i = svg.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        svg[i..].split('"').next().unwrap().parse().unwrap()
    };
    let (w, h) = (attr("width"), attr("height"));
    let mut img = image::GrayImage::from_pixel(w, h, image::Luma([255]));
    let d_start = svg.find(" d=\"").unwrap() + 4;
    let d = svg[d_start..].split('"').next().unwrap();
    for rect in d.split('M').filter(|s| !s.is_empty()) {
        let nums: Vec<u32> = rect
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        let (left, top, rw, rh) = (nums[0], nums[1], nums[2], nums[3]);
        for y in top..top + rh {
            for x in left..left + rw {
                img.put_pixel(x, y, image::Luma([0]));
            }
        }
    }
    assert_eq!(decode_png(&gray_to_png(&img)), vec![expected_uri()]);
}

#[test]
fn uri_input_keeps_its_parameters() {
    let uri = "otpauth://totp/Fabrikam:bob?secret=JBSWY3DPEHPK3PXPJBSWY3DP&algorithm=SHA256&digits=8&period=60";
    let path = temp("uri.png");
    let o = tokendesk()
        .args(["seed", "qr", uri, "--png"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success());
    let got = decode_png(&std::fs::read(&path).unwrap());
    assert_eq!(got.len(), 1);
    for part in [
        "secret=JBSWY3DPEHPK3PXPJBSWY3DP",
        "algorithm=SHA256",
        "digits=8",
        "period=60",
        "Fabrikam",
    ] {
        assert!(got[0].contains(part), "{part} missing");
    }
}

#[test]
fn phonefactor_link_is_refused() {
    let o = tokendesk()
        .args(["seed", "qr", "phonefactor://activate_account?code=1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}
