//! Issue 19 (imports, Graph and Token2 exports): `tokendesk import` of other tools' exports
//! (fixtures made from each tool's published schema, in crates/formats/tests/fixtures), with
//! the format detected and said, all or nothing, and round trips through the vault. SQLite
//! only: the batch write is the one `it::vault::import_is_all_or_nothing` runs on both backends.

use std::path::{Path, PathBuf};

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../formats/tests/fixtures")
        .join(name)
}

struct Vault {
    dir: tempfile::TempDir,
}

impl Vault {
    fn new() -> Self {
        let v = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        v.ok(&["init"]);
        v
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, args: &[&str]) -> Output {
        tokendesk_at(&self.data()).args(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{args:?}: {}\n{}",
            stderr(&o),
            stdout(&o)
        );
        stdout(&o)
    }

    fn users(&self) -> Vec<String> {
        let list: serde_json::Value = serde_json::from_str(&self.ok(&["list", "--json"])).unwrap();
        let mut users: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["upn"].as_str().unwrap().to_owned())
            .collect();
        users.sort();
        users
    }

    /// The vault's seeds as `upn secret` lines (an audited otpauth export).
    fn seeds(&self) -> Vec<String> {
        let out = self.dir.path().join(format!("uris-{}.txt", rand_suffix()));
        self.ok(&[
            "export",
            "--format",
            "otpauth",
            "--out",
            out.to_str().unwrap(),
        ]);
        let text = std::fs::read_to_string(&out).unwrap();
        let mut seeds: Vec<String> = text
            .lines()
            .map(|l| {
                let u = tokendesk_otp::OtpAuth::parse(l, false).unwrap();
                format!("{} {}", u.account, u.secret.to_base32().as_str())
            })
            .collect();
        seeds.sort();
        seeds
    }
}

fn rand_suffix() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn issue_19_each_format_is_detected_and_said() {
    // Why: `import` without --format must name what it recognised, for every supported tool.
    let v = Vault::new();
    for (file, said) in [
        (
            "token2_totpvault.csv",
            "detected: Token2 TOTPVault / Molto2 CSV",
        ),
        ("aegis_plain.json", "detected: Aegis plain-text JSON export"),
        ("backup.2fas", "detected: 2FAS backup"),
        ("bitwarden.csv", "detected: Bitwarden CSV export"),
        ("keepassxc.csv", "detected: KeePassXC CSV export"),
        (
            "google_export.txt",
            "detected: Google Authenticator export (otpauth-migration)",
        ),
        ("rfc6030_plain_minimal.xml", "detected: PSKC (RFC 6030) XML"),
    ] {
        let path = fixture(file);
        let o = v.run(&[
            "import",
            path.to_str().unwrap(),
            "--dry-run",
            "--skip-invalid",
        ]);
        let out = stdout(&o);
        assert!(o.status.success(), "{file}: {}\n{out}", stderr(&o));
        assert!(out.starts_with(said), "{file}: {out}");
        assert!(out.contains("dry run: "), "{file}: {out}");
    }
    assert!(v.users().is_empty(), "a dry run changes nothing");
    // Given explicitly, the format is not "detected".
    let path = fixture("token2_totpvault.csv");
    let out = v.ok(&[
        "import",
        path.to_str().unwrap(),
        "--format",
        "token2",
        "--dry-run",
    ]);
    assert!(!out.contains("detected"), "{out}");
    // Unknown content asks for --format.
    let junk = v.dir.path().join("notes.txt");
    std::fs::write(&junk, "hello\nworld\n").unwrap();
    let o = v.run(&["import", junk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot tell the format"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn issue_19_imports_keep_their_seeds_and_bad_rows_stop_everything() {
    // Why: imports are all or nothing with row-precise errors, and the seeds stored are the
    // seeds in the file.
    let v = Vault::new();
    let aegis = fixture("aegis_plain.json");
    let o = v.run(&["import", aegis.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(
        out.contains("entry 3 (GitHub): invalid input: the user \"octocat\""),
        "{out}"
    );
    assert!(out.contains("entry 4 (Contoso VPN): HOTP"), "{out}");
    assert!(out.contains("entry 5 (Steam): Steam Guard"), "{out}");
    assert!(err.contains("3 invalid row(s); nothing imported"), "{err}");
    assert!(v.users().is_empty());
    for secret in [
        "4SJHB4GSD43FZBAI7C2HLRJGPQ",
        "KRSXG5CTMVRXEZLU",
        "JBSWY3DPEHPK3PXP",
    ] {
        assert!(!out.contains(secret) && !err.contains(secret));
    }

    let out = v.ok(&["import", aegis.to_str().unwrap(), "--skip-invalid"]);
    assert!(out.contains("imported 2 record(s); skipped 3"), "{out}");
    let sha256 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA";
    assert_eq!(
        v.seeds(),
        [
            "alice@contoso.com JBSWY3DPEHPK3PXP".to_owned(),
            format!("bob@contoso.com {sha256}"),
        ]
    );
    // Bob's parameters came along (SHA-256, 8 digits, 60 s).
    let list: serde_json::Value = serde_json::from_str(&v.ok(&["list", "--json"])).unwrap();
    let bob = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["upn"] == "bob@contoso.com")
        .unwrap();
    assert!(bob.to_string().contains("SHA256"), "{bob}");

    // A second import naming a user with an active record changes nothing.
    let twofas = fixture("backup.2fas");
    let o = v.run(&["import", twofas.to_str().unwrap(), "--skip-invalid"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert_eq!(v.users(), ["alice@contoso.com", "bob@contoso.com"]);
}

#[test]
fn issue_19_encrypted_exports_are_refused_with_what_to_do() {
    let v = Vault::new();
    for (file, hint) in [
        ("aegis_encrypted.json", "this Aegis export is encrypted"),
        ("backup_encrypted.2fas", "this 2FAS export is encrypted"),
    ] {
        let path = fixture(file);
        let o = v.run(&["import", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{file}");
        let err = stderr(&o);
        assert!(
            err.contains(hint) && err.contains("nothing imported"),
            "{err}"
        );
    }
    assert!(v.users().is_empty());
}

#[test]
fn issue_19_user_domain_completes_molto2_titles_and_password_managers_skip_passwords() {
    let v = Vault::new();
    let csv = v.dir.path().join("molto2.csv");
    std::fs::write(
        &csv,
        "profile,seed,title,algorithm,digits,period\n0,JBSWY3DPEHPK3PXP,erin,SHA1,6,30\n",
    )
    .unwrap();
    let o = v.run(&["import", csv.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stdout(&o).contains("line 2: invalid input: the user \"erin\""),
        "{}",
        stdout(&o)
    );
    v.ok(&[
        "import",
        csv.to_str().unwrap(),
        "--user-domain",
        "contoso.com",
    ]);
    assert_eq!(v.users(), ["erin@contoso.com"]);

    let bw = fixture("bitwarden.csv");
    let out = v.ok(&["import", bw.to_str().unwrap(), "--skip-invalid"]);
    assert!(
        out.contains("left out 4 entries without a TOTP seed"),
        "{out}"
    );
    assert!(out.contains("line 9 (VPN): HOTP"), "{out}");
    assert!(out.contains("imported 2 record(s)"), "{out}");
}

/// A screenshot of one QR code holding `payload`: 4 px modules on a white page.
fn qr_png(payload: &str, path: &Path) {
    let code = qrcode::QrCode::new(payload.as_bytes()).unwrap();
    let width = code.width();
    let colors = code.to_colors();
    let (scale, quiet) = (4u32, 40u32);
    let side = u32::try_from(width).unwrap() * scale + 2 * quiet;
    let img = image::GrayImage::from_fn(side + 200, side + 100, |x, y| {
        let inside = x >= quiet && y >= quiet && x < side - quiet && y < side - quiet;
        if !inside {
            return image::Luma([255]);
        }
        let (mx, my) = (
            ((x - quiet) / scale) as usize,
            ((y - quiet) / scale) as usize,
        );
        match colors[my * width + mx] {
            qrcode::Color::Dark => image::Luma([0]),
            qrcode::Color::Light => image::Luma([255]),
        }
    });
    img.save(path).unwrap();
}

#[test]
fn issue_19_a_folder_of_google_export_screenshots_imports_complete_batches_only() {
    let v = Vault::new();
    let text = std::fs::read_to_string(fixture("google_export.txt")).unwrap();
    let dir = v.dir.path().join("shots");
    std::fs::create_dir(&dir).unwrap();
    for (i, line) in text.lines().enumerate() {
        qr_png(line, &dir.join(format!("IMG_{i}.png")));
    }
    // The first code photographed twice.
    qr_png(text.lines().next().unwrap(), &dir.join("IMG_9.png"));
    let out = v.ok(&[
        "import",
        dir.to_str().unwrap(),
        "--dry-run",
        "--skip-invalid",
    ]);
    assert!(
        out.starts_with("detected: Google Authenticator export"),
        "{out}"
    );
    assert!(out.contains("left out 2 entries"), "{out}");
    assert!(
        out.contains("IMG_1.png, account 2 (GitHub): invalid input: the user \"octocat\""),
        "{out}"
    );
    assert!(out.contains("dry run: 4 row(s) valid, 1 invalid"), "{out}");

    // Without the second code of the batch, nothing is imported and the gap is named.
    std::fs::remove_file(dir.join("IMG_1.png")).unwrap();
    let o = v.run(&["import", dir.to_str().unwrap(), "--skip-invalid"]);
    let out = stdout(&o);
    assert!(out.contains("code(s) 2 of them are missing"), "{out}");
    // --skip-invalid imports the complete part, so the missing code is an invalid row, reported.
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!v.users().contains(&"carol@contoso.com".to_owned()));
    let secrets = v.seeds().join("\n");
    assert!(
        secrets.contains("alice@contoso.com JBSWY3DPEHPK3PXP"),
        "{secrets}"
    );

    // A file that is not an image in the folder is named.
    std::fs::write(dir.join("notes.txt"), "x").unwrap();
    let o = v.run(&["import", dir.to_str().unwrap(), "--format", "google"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("notes.txt is not an image"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn issue_19_token2_export_round_trips_and_graph_export_carries_the_documented_fields() {
    let a = Vault::new();
    let sheet = a.dir.path().join("sheet.csv");
    std::fs::write(
        &sheet,
        format!("alice@contoso.com,JBSWY3DPEHPK3PXP\nbob@contoso.com,{RFC_SHA1}\n"),
    )
    .unwrap();
    a.ok(&["import", sheet.to_str().unwrap()]);
    let t2 = a.dir.path().join("molto2.csv");
    a.ok(&[
        "export",
        "--format",
        "token2",
        "--out",
        t2.to_str().unwrap(),
    ]);
    let b = Vault::new();
    let out = b.ok(&["import", t2.to_str().unwrap()]);
    assert!(out.starts_with("detected: Token2"), "{out}");
    assert_eq!(a.seeds(), b.seeds());

    // Graph needs serial, manufacturer and model: refused by user until the token is recorded.
    let json = a.dir.path().join("tokens.json");
    let o = a.run(&[
        "export",
        "--format",
        "graph",
        "--out",
        json.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("alice@contoso.com: the token has no serialNumber"),
        "{}",
        stderr(&o)
    );
    assert!(!json.exists(), "a refused export leaves no file");
    a.ok(&[
        "burned",
        "alice@contoso.com",
        "--serial",
        "8659622000301",
        "--model",
        "OTPC-P2-i",
        "--manufacturer",
        "Token2",
    ]);
    let out = a.ok(&[
        "export",
        "--format",
        "graph",
        "--state",
        "burned",
        "--out",
        json.to_str().unwrap(),
    ]);
    assert!(out.contains("exported 1 record(s)"), "{out}");
    assert!(out.contains("the Graph API is beta"), "{out}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let body = &doc["tokens"][0]["create"]["body"];
    assert_eq!(body["serialNumber"], "8659622000301");
    assert_eq!(body["manufacturer"], "Token2");
    assert_eq!(body["model"], "OTPC-P2-i");
    assert_eq!(body["secretKey"], "JBSWY3DPEHPK3PXP");
    assert_eq!(body["timeIntervalInSeconds"], 30);
    assert_eq!(body["hashFunction"], "hmacsha1");
    assert_eq!(doc["tokens"][0]["userPrincipalName"], "alice@contoso.com");
    let script = std::fs::read_to_string(a.dir.path().join("tokens.ps1")).unwrap();
    assert!(script.contains("Invoke-MgGraphRequest"), "{script}");
    assert!(!script.contains("JBSWY3DPEHPK3PXP"));
}
