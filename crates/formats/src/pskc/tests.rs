use super::*;
use data_encoding::BASE64;

const MINIMAL: &str = include_str!("../../tests/fixtures/rfc6030_plain_minimal.xml");
const FULL: &str = include_str!("../../tests/fixtures/rfc6030_plain_full.xml");
const PRESHARED: &str = include_str!("../../tests/fixtures/rfc6030_s6_1_preshared_key.xml");
const PBKDF2: &str = include_str!("../../tests/fixtures/rfc6030_s6_2_pbkdf2.xml");
const RFC_SECRET: &[u8] = b"12345678901234567890";

fn psk() -> Vec<u8> {
    data_encoding::HEXLOWER
        .decode(b"12345678901234567890123456789012")
        .unwrap()
}

fn upn(text: &str) -> std::result::Result<String, String> {
    let t = text.trim().to_lowercase();
    if t.matches('@').count() == 1 {
        Ok(t)
    } else {
        Err(format!("the user {t:?} is not a UPN"))
    }
}

#[test]
fn rfc6030_plain_examples() {
    let doc = read(MINIMAL.as_bytes(), &Credentials::default()).unwrap();
    assert_eq!(doc.scheme, Scheme::Plain);
    let k = &doc.keys[0];
    assert_eq!(k.kind, KeyKind::Hotp);
    assert_eq!(k.issuer.as_deref(), Some("Issuer-A"));
    assert_eq!(k.secret.expose_bytes(), b"1234");

    let doc = read(FULL.as_bytes(), &Credentials::default()).unwrap();
    let k = &doc.keys[0];
    assert_eq!(k.id.as_deref(), Some("12345678"));
    assert_eq!(k.serial.as_deref(), Some("987654321"));
    assert_eq!(k.manufacturer.as_deref(), Some("Manufacturer"));
    assert_eq!(k.digits, 8);
    assert_eq!(k.counter, Some(0));
    assert_eq!(
        k.user_id.as_deref(),
        Some("UID=jsmith,DC=example-bank,DC=net")
    );
    assert_eq!(k.secret.expose_bytes(), RFC_SECRET);
}

#[test]
fn rfc6030_preshared_key_example() {
    let key = psk();
    let creds = Credentials {
        preshared_key: Some(&key),
        ..Credentials::default()
    };
    let doc = read(PRESHARED.as_bytes(), &creds).unwrap();
    assert_eq!(doc.scheme, Scheme::PreSharedKey);
    assert_eq!(doc.keys[0].secret.expose_bytes(), RFC_SECRET);
    assert_eq!(doc.keys[0].digits, 8);

    let err = read(PRESHARED.as_bytes(), &Credentials::default()).unwrap_err();
    assert!(
        matches!(err, PskcError::NeedKey(ref n) if n == "Pre-shared-key"),
        "{err}"
    );
    let mut wrong = key.clone();
    wrong[0] ^= 1;
    let creds = Credentials {
        preshared_key: Some(&wrong),
        ..Credentials::default()
    };
    let err = read(PRESHARED.as_bytes(), &creds).unwrap_err();
    assert!(matches!(err, PskcError::WrongKey(_)), "{err}");
}

#[test]
fn rfc6030_pbkdf2_example() {
    let creds = Credentials {
        password: Some(b"qwerty"),
        ..Credentials::default()
    };
    let doc = read(PBKDF2.as_bytes(), &creds).unwrap();
    assert_eq!(doc.scheme, Scheme::Password);
    let k = &doc.keys[0];
    assert_eq!(k.secret.expose_bytes(), RFC_SECRET);
    assert_eq!(k.manufacturer.as_deref(), Some("TokenVendorAcme"));
    assert_eq!(k.id.as_deref(), Some("123456"));

    let err = read(PBKDF2.as_bytes(), &Credentials::default()).unwrap_err();
    assert!(
        matches!(err, PskcError::NeedPassword(ref n) if n == "My Password 1"),
        "{err}"
    );
    let creds = Credentials {
        password: Some(b"qwertz"),
        ..Credentials::default()
    };
    let err = read(PBKDF2.as_bytes(), &creds).unwrap_err();
    assert!(matches!(err, PskcError::WrongKey(_)), "{err}");
    assert!(err.to_string().contains("wrong"), "{err}");
}

#[test]
fn altered_mac_or_ciphertext_is_refused() {
    let creds = Credentials {
        password: Some(b"qwerty"),
        ..Credentials::default()
    };
    let bad_mac = PBKDF2.replace(
        "LP6xMvjtypbfT9PdkJhBZ+D6O4w=",
        "LP6xMvjtypbfT9PdkJhBZ+D6O4x=",
    );
    let err = read(bad_mac.as_bytes(), &creds).unwrap_err();
    assert!(err.to_string().contains("MAC"), "{err}");
    // One ciphertext byte changed (a base64 character in the last block).
    let bad_ct = PBKDF2.replace("032yCr4f", "032yCr4g");
    let err = read(bad_ct.as_bytes(), &creds).unwrap_err();
    assert!(matches!(err, PskcError::WrongKey(_)), "{err}");
    let no_mac = PBKDF2.replace(
        "<pskc:ValueMAC>LP6xMvjtypbfT9PdkJhBZ+D6O4w=\n                    </pskc:ValueMAC>",
        "",
    );
    let err = read(no_mac.as_bytes(), &creds).unwrap_err();
    assert!(err.to_string().contains("ValueMAC"), "{err}");
}

#[test]
fn totp_fields_and_hash_suites() {
    let doc = format!(
        r#"<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">
          <KeyPackage><DeviceInfo><Manufacturer>Token2</Manufacturer><SerialNo>60234567</SerialNo><Model>C202</Model></DeviceInfo>
            <Key Id="a" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
              <AlgorithmParameters><Suite>HMAC-SHA256</Suite><ResponseFormat Length="8" Encoding="DECIMAL"/></AlgorithmParameters>
              <Data><Secret><PlainValue>{}</PlainValue></Secret><Time><PlainValue>0</PlainValue></Time>
                <TimeInterval><PlainValue>60</PlainValue></TimeInterval></Data>
              <UserId>Alice@Contoso.com</UserId></Key></KeyPackage>
          <KeyPackage><Key Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
              <AlgorithmParameters><ResponseFormat Length="6" Encoding="ALPHANUMERIC"/></AlgorithmParameters>
              <Data><Secret><PlainValue>MTIzNA==</PlainValue></Secret></Data></Key></KeyPackage>
        </KeyContainer>"#,
        BASE64.encode(RFC_SECRET)
    );
    let doc = read(doc.as_bytes(), &Credentials::default()).unwrap();
    assert_eq!(
        doc.errors,
        ["key 2: ResponseFormat Encoding \"ALPHANUMERIC\" is not supported (only DECIMAL codes)"]
    );
    let k = &doc.keys[0];
    assert_eq!(k.kind, KeyKind::Totp);
    assert_eq!(k.algorithm, Algorithm::Sha256);
    assert_eq!((k.digits, k.period_secs, k.time), (8, Some(60), Some(0)));
    let parsed = to_rows(doc, &upn);
    assert_eq!(parsed.rows.len(), 1);
    let r = &parsed.rows[0];
    assert_eq!(r.upn, "alice@contoso.com");
    assert_eq!(
        (r.period_secs, r.digits, r.algorithm),
        (60, 8, Algorithm::Sha256)
    );
    assert_eq!(r.model.as_deref(), Some("C202"));
}

#[test]
fn rows_need_totp_and_a_user() {
    let doc = read(FULL.as_bytes(), &Credentials::default()).unwrap();
    let parsed = to_rows(doc, &upn);
    assert!(parsed.rows.is_empty());
    assert!(parsed.errors[0].contains("HOTP"), "{:?}", parsed.errors);
    let totp = MINIMAL.replace(":hotp", ":totp");
    let parsed = to_rows(
        read(totp.as_bytes(), &Credentials::default()).unwrap(),
        &upn,
    );
    assert!(parsed.errors[0].contains("UserId"), "{:?}", parsed.errors);
}

fn sample_keys(secrets: &[Secret]) -> Vec<ExportKey<'_>> {
    secrets
        .iter()
        .enumerate()
        .map(|(i, s)| ExportKey {
            id: "rec-1",
            upn: if i == 0 {
                "a&b@contoso.com"
            } else {
                "c@contoso.com"
            },
            issuer: "tokendesk",
            serial: Some("6023<4567>"),
            manufacturer: Some("Token2"),
            model: None,
            algorithm: if i == 0 {
                Algorithm::Sha1
            } else {
                Algorithm::Sha512
            },
            digits: 6 + 2 * u32::try_from(i).unwrap(),
            period_secs: 30 * (1 + u32::try_from(i).unwrap()),
            secret: s,
        })
        .collect()
}

#[test]
fn password_export_round_trips_and_hides_the_seed() {
    let secrets = [
        Secret::from_bytes(RFC_SECRET.to_vec()),
        Secret::from_bytes((0u8..32).collect()),
    ];
    let keys = sample_keys(&secrets);
    let text = write(
        &keys,
        &Protection::Password {
            password: b"correct horse",
            iterations: 1000,
        },
    )
    .unwrap();
    assert!(!text.contains(&BASE64.encode(RFC_SECRET)));
    let creds = Credentials {
        password: Some(b"correct horse"),
        ..Credentials::default()
    };
    let doc = read(text.as_bytes(), &creds).unwrap();
    assert_eq!(doc.scheme, Scheme::Password);
    let parsed = to_rows(doc, &upn);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    for (row, (key, secret)) in parsed.rows.iter().zip(keys.iter().zip(&secrets)) {
        assert_eq!(row.upn, key.upn);
        assert_eq!(row.serial.as_deref(), key.serial);
        assert_eq!(row.algorithm, key.algorithm);
        assert_eq!(row.digits, key.digits);
        assert_eq!(row.period_secs, key.period_secs);
        assert!(row.secret.ct_eq(secret));
    }
    let creds = Credentials {
        password: Some(b"wrong horse"),
        ..Credentials::default()
    };
    assert!(matches!(
        read(text.as_bytes(), &creds),
        Err(PskcError::WrongKey(_))
    ));
}

#[test]
fn plaintext_export_round_trips() {
    let secrets = [Secret::from_bytes(RFC_SECRET.to_vec())];
    let text = write(&sample_keys(&secrets), &Protection::InsecurePlaintext).unwrap();
    assert!(text.contains("<PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue>"));
    let doc = read(text.as_bytes(), &Credentials::default()).unwrap();
    assert!(doc.keys[0].secret.ct_eq(&secrets[0]));
}

#[test]
fn debug_never_shows_seeds_or_credentials() {
    let creds = Credentials {
        password: Some(b"qwerty"),
        ..Credentials::default()
    };
    assert!(!format!("{creds:?}").contains("qwerty"));
    let doc = read(PBKDF2.as_bytes(), &creds).unwrap();
    let shown = format!("{doc:?}");
    assert!(!shown.contains("1234567890"), "{shown}");
    assert!(!shown.contains("MTIzNDU2"), "{shown}");
}

#[test]
fn oversized_input_and_dtds_are_refused() {
    let big = vec![b' '; MAX_INPUT_BYTES + 1];
    assert!(matches!(
        read(&big, &Credentials::default()),
        Err(PskcError::TooLarge)
    ));
    let dtd = format!("<!DOCTYPE KeyContainer [<!ENTITY x \"y\">]>{MINIMAL}");
    let err = read(dtd.as_bytes(), &Credentials::default()).unwrap_err();
    assert!(err.to_string().contains("DTD"), "{err}");
    let huge_iter = PBKDF2.replace(">1000<", ">4000000000<");
    let creds = Credentials {
        password: Some(b"qwerty"),
        ..Credentials::default()
    };
    let err = read(huge_iter.as_bytes(), &creds).unwrap_err();
    assert!(err.to_string().contains("IterationCount"), "{err}");
}

proptest::proptest! {
    #[test]
    fn reading_never_panics(text in "\\PC{0,300}") {
        let _ = read(text.as_bytes(), &Credentials { password: Some(b"x"), preshared_key: Some(&[0; 16]) });
    }

    #[test]
    fn mutated_fixtures_never_panic(pos in 0usize..2000, byte in proptest::num::u8::ANY) {
        let mut bytes = PBKDF2.as_bytes().to_vec();
        let i = pos % bytes.len();
        bytes[i] = byte;
        let _ = read(&bytes, &Credentials { password: Some(b"qwerty"), preshared_key: None });
    }
}
