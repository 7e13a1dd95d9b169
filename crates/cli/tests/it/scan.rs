//! `tokendesk scan` on files and standard input: output formats and exit codes.

use std::path::PathBuf;

use crate::{stderr, stdout, tokendesk};

/// Screenshots shared with the decoder's tests (in the repository).
fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../qr/tests/fixtures/screens")
        .join(name)
}

fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn json_has_one_line_per_file_in_the_documented_shape() {
    let o = tokendesk()
        .arg("scan")
        .arg("--json")
        .arg(sample("002.jpg"))
        .arg(sample("015.png"))
        .arg(sample("025.png"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines = json_lines(&stdout(&o));
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0]["file"].as_str().unwrap(),
        sample("002.jpg").display().to_string()
    );
    let seed = &lines[0]["found"][0];
    assert_eq!(seed["kind"], "otpauth");
    assert_eq!(seed["secret"], "JXUEJEEYWIJ7A6EFLXNNKCIBKFKSO74P");
    assert_eq!(seed["issuer"], "Contoso");
    assert_eq!(seed["account"], "helga@contoso.com");
    assert_eq!(seed["algorithm"], "SHA1");
    assert_eq!(seed["digits"], 6);
    assert_eq!(seed["period"], 30);
    assert_eq!(lines[1]["found"][0]["kind"], "phonefactor");
    assert!(lines[1]["found"][0].get("secret").is_none());
    assert_eq!(lines[2]["found"], serde_json::json!([]));
    assert!(lines[2].get("error").is_none());
}

#[test]
fn human_output_shows_seed_grouped_and_a_code() {
    let o = tokendesk()
        .arg("scan")
        .arg(sample("002.jpg"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(text.contains("issuer    Contoso"), "{text}");
    assert!(text.contains("account   helga@contoso.com"), "{text}");
    assert!(text.contains("TOTP, SHA1, 6 digits, 30 s"), "{text}");
    assert!(
        text.contains("JXUE JEEY WIJ7 A6EF LXNN KCIB KFKS O74P"),
        "{text}"
    );
    let code_line = text.lines().find(|l| l.contains("code now")).unwrap();
    let digits: String = code_line
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect();
    assert_eq!(digits.len(), 6, "{code_line}");
}

#[test]
fn phonefactor_and_empty_images_exit_1_with_reasons() {
    let o = tokendesk()
        .arg("scan")
        .arg(sample("015.png"))
        .arg(sample("025.png"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(
        text.contains("Microsoft Authenticator (phonefactor://)"),
        "{text}"
    );
    assert!(text.contains("no QR code found"), "{text}");
}

#[test]
fn unreadable_file_exits_2_but_other_files_are_still_reported() {
    let dir = std::env::temp_dir().join(format!("tokendesk-scan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.png");
    std::fs::write(&junk, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let o = tokendesk()
        .args(["scan", "--json"])
        .arg(sample("002.jpg"))
        .arg(&junk)
        .arg(dir.join("missing.png"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let lines = json_lines(&stdout(&o));
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["found"][0]["kind"], "otpauth");
    assert!(lines[1]["error"].as_str().unwrap().contains("png"));
    assert!(
        lines[2]["error"]
            .as_str()
            .unwrap()
            .contains("could not read")
    );
    assert!(stderr(&o).contains("2 of 3 inputs could not be read"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn image_on_standard_input() {
    let bytes = std::fs::read(sample("007.png")).unwrap();
    let o = tokendesk()
        .args(["scan", "--json", "-"])
        .write_stdin(bytes)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines = json_lines(&stdout(&o));
    assert_eq!(lines[0]["file"], "-");
    assert_eq!(lines[0]["found"][0]["secret"], "HNXZB7HCFWUMLNLI");
}

#[test]
fn no_input_is_a_usage_error() {
    let o = tokendesk().arg("scan").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--screen or --clipboard"));
    let o = tokendesk().args(["scan", "--watch"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "--watch needs --screen");
}

#[test]
fn errors_never_echo_the_seed() {
    // A seed is printed on stdout on purpose; stderr must stay free of it.
    let o = tokendesk()
        .arg("scan")
        .arg(sample("002.jpg"))
        .arg("/nonexistent.png")
        .output()
        .unwrap();
    assert!(!stderr(&o).contains("JXUE"), "{}", stderr(&o));
}
