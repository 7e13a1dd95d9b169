//! `t2otp`: the vendor CLI's behaviour, exactly one line with the current code.

use serde_json::Value;

use super::*;

/// Codes of the steps containing `before` and `after`, from `tokendesk otp --json`.
fn codes_around(secret: &str) -> Vec<(u64, u64, String)> {
    let out = ok(&["otp", "--json", "--past", "1", "--future", "1", secret]);
    let v: Value = serde_json::from_str(&out).unwrap();
    v["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["valid_from"].as_u64().unwrap(),
                c["valid_until"].as_u64().unwrap(),
                c["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn prints_the_current_code_and_nothing_else() {
    let secret = "2sk2tsmkjp7kdbck";
    let before = codes_around(secret);
    let o = t2otp().arg(secret).output().unwrap();
    let after = codes_around(secret);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(stderr(&o).is_empty());
    assert_eq!(out.lines().count(), 1, "{out:?}");
    let code = out.trim_end_matches('\n');
    assert_eq!(code.len(), 6);
    // The current step when t2otp ran is between the current steps before and after it.
    let current_before = &before[1];
    let current_after = &after[1];
    let allowed: Vec<&String> = if current_before.0 == current_after.0 {
        vec![&current_before.2]
    } else {
        vec![&current_before.2, &current_after.2]
    };
    assert!(
        allowed.iter().any(|c| c.as_str() == code),
        "{code} not in {allowed:?}"
    );
}

#[test]
fn bad_input_fails_with_a_message() {
    for (arg, phrase) in [
        ("2sk2tsm0jp7kdbck", "is not base32"),
        (
            "phonefactor://activate_account?code=1",
            "different authenticator app",
        ),
        ("", "empty"),
    ] {
        let o = t2otp().arg(arg).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{arg}");
        assert!(stdout(&o).is_empty());
        assert!(stderr(&o).starts_with("t2otp: error: "), "{}", stderr(&o));
        assert!(stderr(&o).contains(phrase), "{}", stderr(&o));
    }
    let o = t2otp().output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn short_secrets_need_allow_short() {
    let o = t2otp().arg("JBSWY3DP").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = t2otp()
        .args(["--allow-short", "JBSWY3DP"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(stdout(&o).trim().len(), 6);
}

#[test]
fn issue_20_help_describes_t2otp_not_the_crate() {
    // `t2otp --help` opened with the crate's description ("The tokendesk and t2otp ...").
    let o = t2otp().arg("--help").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let help = stdout(&o);
    assert_eq!(
        help.lines().next(),
        Some("Print the current TOTP code for a secret, like Token2's t2otp"),
        "{help}"
    );
    assert!(help.contains("Usage: t2otp [OPTIONS] <SECRET>"), "{help}");
}
