use super::*;
use serde_json::Value;
use tokendesk_otp::decode_base32;

/// The documented shape, from Microsoft's Graph beta reference pages
/// (`authenticationmethoddevice-post-hardwareoathdevices`, `authentication-post-hardwareoathmethods`,
/// `hardwareoathauthenticationmethod-activate`): property → JSON type.
const CREATE_TYPES: [(&str, &str); 6] = [
    ("serialNumber", "string"),
    ("manufacturer", "string"),
    ("model", "string"),
    ("secretKey", "string"),
    ("timeIntervalInSeconds", "integer"),
    ("hashFunction", "string"),
];

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(n) if n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn token<'a>(
    upn: &'a str,
    secret: &'a Secret,
    algorithm: Algorithm,
    period: u32,
) -> GraphToken<'a> {
    GraphToken {
        upn,
        serial: "8659622000101",
        manufacturer: "Token2",
        model: "OTPC-P2-i",
        secret,
        algorithm,
        period_secs: period,
    }
}

#[test]
fn every_request_carries_the_documented_fields_and_types() {
    let a = decode_base32("JBSWY3DPEHPK3PXP", false).unwrap();
    let b = Secret::generate(20).unwrap();
    let text = write(&[
        token("alice@contoso.com", &a, Algorithm::Sha1, 30),
        token("bob+it@contoso.com", &b, Algorithm::Sha256, 60),
    ])
    .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["format"], "tokendesk-graph-hardware-oath/1");
    let tokens = doc["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    for (t, secret) in tokens.iter().zip([&a, &b]) {
        let create = &t["create"];
        assert_eq!(create["method"], "POST");
        assert_eq!(
            create["url"],
            "https://graph.microsoft.com/beta/directory/authenticationMethodDevices/hardwareOathDevices"
        );
        let body = create["body"].as_object().unwrap();
        for field in CREATE_REQUIRED {
            assert!(
                body.contains_key(field),
                "create body lacks required {field}"
            );
        }
        for (field, ty) in CREATE_TYPES {
            assert_eq!(json_type(&body[field]), ty, "{field}");
        }
        assert_eq!(
            body.len(),
            CREATE_TYPES.len(),
            "no undocumented properties: {body:?}"
        );
        assert!(["hmacsha1", "hmacsha256"].contains(&body["hashFunction"].as_str().unwrap()));
        assert!([30, 60].contains(&body["timeIntervalInSeconds"].as_i64().unwrap()));
        let key = decode_base32(body["secretKey"].as_str().unwrap(), false).unwrap();
        assert!(key.ct_eq(secret), "secretKey is the seed in base32");

        assert_eq!(t["assign"]["body"]["device"]["id"], DEVICE_ID);
        assert_eq!(t["activate"]["body"]["verificationCode"], VERIFICATION_CODE);
        assert!(t["activate"]["body"]["displayName"].is_string());
        let activate = t["activate"]["url"].as_str().unwrap();
        assert!(
            activate
                .ends_with("/authentication/hardwareOathMethods/{hardwareOathMethodId}/activate")
        );
    }
    assert_eq!(
        tokens[1]["assign"]["url"],
        "https://graph.microsoft.com/beta/users/bob%2Bit%40contoso.com/authentication/hardwareOathMethods"
    );
    assert_eq!(tokens[1]["create"]["body"]["hashFunction"], "hmacsha256");
}

#[test]
fn tokens_graph_cannot_take_are_refused_by_user() {
    let s = Secret::generate(20).unwrap();
    let err = write(&[token("a@b.c", &s, Algorithm::Sha512, 30)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a@b.c: Graph accepts SHA-1 or SHA-256 tokens, not SHA512"
    );
    let err = write(&[token("a@b.c", &s, Algorithm::Sha1, 45)]).unwrap_err();
    assert!(err.to_string().contains("30 or 60 s, not 45"), "{err}");
    let mut t = token("a@b.c", &s, Algorithm::Sha1, 30);
    t.serial = "";
    let err = write(&[t]).unwrap_err();
    assert_eq!(
        err,
        GraphError::Missing {
            upn: "a@b.c".into(),
            field: "serialNumber"
        }
    );
    let long = Secret::generate(81).unwrap();
    let err = write(&[token("a@b.c", &long, Algorithm::Sha1, 30)]).unwrap_err();
    assert!(matches!(err, GraphError::SecretTooLong { .. }));
}

#[test]
fn the_upload_script_uses_what_the_file_holds() {
    for needle in [
        "tokendesk-graph-hardware-oath/1",
        DEVICE_ID,
        METHOD_ID,
        VERIFICATION_CODE,
        "$t.create.body.secretKey",
        "$t.create.body.timeIntervalInSeconds",
        "$t.create.body.hashFunction",
        "$t.assign.url",
        "$t.activate.url",
        "Invoke-MgGraphRequest",
        "Connect-MgGraph",
    ] {
        assert!(
            UPLOAD_SCRIPT.contains(needle),
            "the script does not use {needle}"
        );
    }
}

#[test]
fn issue_18_the_file_written_token_by_token_is_the_whole_document() {
    // The CLI streams a large export token by token; the bytes must be the one pretty-printed
    // document serde writes, with no token or without any.
    let a = decode_base32("JBSWY3DPEHPK3PXP", false).unwrap();
    let b = Secret::generate(20).unwrap();
    let tokens = [
        token("alice@contoso.com", &a, Algorithm::Sha1, 30),
        token("bob+it@contoso.com", &b, Algorithm::Sha256, 60),
    ];
    for n in 0..=2 {
        let tokens = &tokens[..n];
        let secrets: Vec<_> = tokens.iter().map(|t| t.secret.to_base32()).collect();
        let entries = tokens
            .iter()
            .zip(&secrets)
            .map(|(t, s)| entry(t, s).unwrap())
            .collect();
        let whole = serde_json::to_string_pretty(&Document::new(entries)).unwrap() + "\n";
        let mut writer = Writer::new();
        let mut streamed = writer.head().unwrap();
        for t in tokens {
            streamed.push_str(&writer.token(t).unwrap());
        }
        streamed.push_str(writer.tail());
        assert_eq!(streamed, whole, "{n} token(s)");
        assert_eq!(write(tokens).unwrap().as_str(), whole);
    }
}
