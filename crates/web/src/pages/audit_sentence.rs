//! An audit entry as a sentence an auditor reads ("revealed the current and next code to a
//! caller verified by call-back, ticket INC-1001"), for the audit page, a record's history and
//! the CSV. The raw detail stays beside it (one click away on the pages, a column in the CSV);
//! an action this module does not know reads as its name with its details, never as nothing.

use serde_json::Value;

use crate::i18n::{Msg, Tr};
use crate::timefmt::Zone;

/// The detail's field `key` as text ("" when absent or null).
fn field(d: &Value, key: &str) -> String {
    match d.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// `", ticket INC-1"`-style suffix when the field is present, the label from the catalogue
/// (`au-l-ticket`).
fn with(t: Tr, d: &Value, key: &str, label: &str) -> String {
    match field(d, key) {
        s if s.is_empty() => String::new(),
        s => format!(", {} {s}", t.t(label)),
    }
}

/// `": reason"`-style suffix when the field is present.
fn colon(d: &Value, key: &str) -> String {
    match field(d, key) {
        s if s.is_empty() => String::new(),
        s => format!(": {s}"),
    }
}

fn verified_by(t: Tr, method: &str) -> String {
    t.t(match method {
        "call-back" => "au-verified-call-back",
        "passphrase" => "au-verified-passphrase",
        "second-approver" => "au-verified-second-approver",
        _ => "au-verified",
    })
}

/// A verification method by name (`call-back`).
fn method_name(t: Tr, method: &str) -> String {
    match method {
        "call-back" | "passphrase" | "second-approver" => t.t(&format!("au-method-{method}")),
        other => other.to_owned(),
    }
}

fn reveal(t: Tr, d: &Value) -> String {
    let steps = d.get("steps").and_then(Value::as_array).map_or(0, Vec::len);
    let what = t.t(match (field(d, "purpose").as_str(), steps) {
        ("read-out", 2) => "au-what-read-out-2",
        ("read-out", _) => "au-what-read-out",
        ("email", _) => "au-what-email",
        ("chat", _) => "au-what-chat",
        _ => "au-what-code",
    });
    let rest = format!(
        "{}{}",
        with(t, d, "ticket", "au-l-ticket"),
        with(t, d, "approval", "au-l-approval")
    );
    Msg::new("au-reveal")
        .arg("what", what)
        .arg("verified", verified_by(t, &field(d, "method")))
        .arg("rest", rest)
        .say(t)
}

fn state_move(t: Tr, to: &str, d: &Value, zone: &Zone) -> String {
    let mut s = match to {
        "burned" | "shipped" | "delivered" | "cancelled" | "lost" | "purged" => {
            t.t(&format!("au-state-{to}"))
        }
        other => t.t1("au-state-other", "state", other),
    };
    let from = field(d, "from");
    if !from.is_empty() {
        s.push_str(&format!(" {}", t.t1("au-was", "state", t.state(&from))));
    }
    for (key, label) in [
        ("serial", "au-l-serial"),
        ("model", "au-l-model"),
        ("carrier", "au-l-carrier"),
        ("tracking", "au-l-tracking"),
        ("drift_steps", "au-l-drift"),
        ("reason", "au-l-reason"),
    ] {
        s.push_str(&with(t, d, key, label));
    }
    if let Some(when) = d.get("purge_due_unix_secs").and_then(Value::as_i64) {
        s.push_str(&t.t1("au-seed-kept", "when", zone.when(when).text()));
    }
    if d.get("seed_destroyed").and_then(Value::as_bool) == Some(true) && to != "purged" {
        s.push_str(&t.t("au-seed-destroyed"));
    }
    s
}

fn sign_in(t: Tr, action: &str, d: &Value) -> Option<String> {
    let who = match field(d, "staff") {
        s if s.is_empty() => match field(d, "login") {
            l if l.is_empty() => t.t("au-unknown-user"),
            l => l,
        },
        s => s,
    };
    let from = with(t, d, "source_ip", "au-l-from");
    let key = match action {
        "login" => "au-login",
        "login.totp" => "au-login-totp",
        "login-failed" => "au-login-failed",
        "locked-out" => "au-locked-out",
        "login-refused" => "au-login-refused",
        "login-unusable" => "au-login-unusable",
        "logout" => "au-logout",
        "totp.enrol-begin" => "au-totp-enrol-begin",
        "totp.enrolled" => "au-totp-enrolled",
        "totp-failed" => "au-totp-failed",
        "password-change" => "au-password-change",
        "password-change-failed" => "au-password-change-failed",
        "oidc-refused" => "au-oidc-refused",
        "oidc-linked" => "au-oidc-linked",
        "oidc-created" => "au-oidc-created",
        _ => return None,
    };
    let rest = match action {
        "login" | "locked-out" => from,
        "login-failed" => format!("{from}{}", with(t, d, "locked_for_secs", "au-l-locked")),
        "login-refused" | "oidc-refused" => with(t, d, "reason", "au-l-reason"),
        "oidc-created" => with(t, d, "role", "au-l-as"),
        _ => String::new(),
    };
    Some(Msg::new(key).arg("who", who).arg("rest", rest).say(t))
}

fn staff(t: Tr, action: &str, d: &Value) -> Option<String> {
    let msg = |key: &'static str| Msg::new(key).arg("who", field(d, "staff"));
    Some(match action {
        "staff.add" => msg("au-staff-add")
            .arg("rest", with(t, d, "role", "au-l-as"))
            .say(t),
        "staff.disable" => msg("au-staff-disable").say(t),
        "staff.enable" => msg("au-staff-enable").say(t),
        "staff.role" => msg("au-staff-role")
            .arg("from", t.role(&field(d, "from")))
            .arg("to", t.role(&field(d, "to")))
            .say(t),
        "staff.reset" => msg("au-staff-reset").say(t),
        "staff.preferences" => t.t("au-staff-preferences"),
        "apikey.create" => Msg::new("au-apikey-create")
            .arg("key", field(d, "api_key"))
            .arg("rest", with(t, d, "role", "au-l-as"))
            .say(t),
        "apikey.revoke" => t.t1("au-apikey-revoke", "key", field(d, "api_key")),
        "setup.token" => t.t("au-setup-token"),
        "setup.complete" => msg("au-setup-complete").say(t),
        "init" => t.t("au-init"),
        "key.rotate" => t.t("au-key-rotate"),
        _ => return None,
    })
}

fn record(t: Tr, action: &str, d: &Value) -> Option<String> {
    let ticket = || with(t, d, "ticket", "au-l-ticket");
    Some(match action {
        "reveal" => reveal(t, d),
        "reveal.refused" => t.t1(
            "au-reveal-refused",
            "rest",
            format!("{}{}", colon(d, "refused"), ticket()),
        ),
        "verify.failed" => Msg::new("au-verify-failed")
            .arg("method", method_name(t, &field(d, "method")))
            .arg("rest", ticket())
            .say(t),
        "verify-passphrase" => match field(d, "result").as_str() {
            "passed" => t.t("au-passphrase-passed"),
            "failed" => t.t1(
                "au-passphrase-failed",
                "rest",
                with(t, d, "failures_today", "au-l-failures"),
            ),
            _ => t.t("au-passphrase-refused"),
        },
        "set-passphrase" => t.t("au-set-passphrase"),
        "capture" => {
            let rest = with(t, d, "serial", "au-l-token");
            match field(d, "source").as_str() {
                "" | "capture" => t.t1("au-capture", "rest", rest),
                source => Msg::new("au-capture-from")
                    .arg("source", source)
                    .arg("rest", rest)
                    .say(t),
            }
        }
        "import" => Msg::new("au-import")
            .arg("records", field(d, "records"))
            .arg("source", field(d, "source"))
            .say(t),
        "bulk.generate" => Msg::new("au-bulk-generate")
            .arg("records", field(d, "records"))
            .arg("batch", field(d, "batch"))
            .say(t),
        "burn.claim" => Msg::new("au-burn-claim")
            .arg("serial", field(d, "serial"))
            .arg("rest", with(t, d, "model", "au-l-model"))
            .say(t),
        "contact" => match (field(d, "email"), field(d, "time_zone")) {
            (e, z) if e.is_empty() && z.is_empty() => t.t("au-contact-cleared"),
            (e, z) => Msg::new("au-contact")
                .arg("email", if e.is_empty() { t.t("au-none") } else { e })
                .arg("zone", if z.is_empty() { t.t("au-none-utc") } else { z })
                .say(t),
        },
        "language" => match field(d, "language") {
            l if l.is_empty() => t.t("au-language-cleared"),
            l => t.t1("au-language", "language", l),
        },
        "export" => t.t1("au-export", "rest", with(t, d, "format", "au-l-as")),
        "approval.request" => t.t1(
            "au-approval-request",
            "rest",
            format!("{}{}", ticket(), with(t, d, "reason", "au-l-because")),
        ),
        "approval.grant" => t.t1("au-approval-grant", "who", field(d, "requested_by")),
        "approval.refused" => t.t1("au-approval-refused", "rest", colon(d, "refused")),
        "email.sent" => Msg::new("au-email-sent")
            .arg("message", mail_what(t, &field(d, "message")))
            .arg("to", field(d, "to"))
            .say(t),
        "email.not-sent" => Msg::new("au-email-not-sent")
            .arg("message", mail_what(t, &field(d, "message")))
            .arg("to", field(d, "to"))
            .arg("rest", colon(d, "detail"))
            .say(t),
        _ => return None,
    })
}

/// What an e-mail carried (`code`, `shipped`, `delivered`), in words.
fn mail_what(t: Tr, what: &str) -> String {
    match what {
        "code" | "shipped" | "delivered" => t.t(&format!("au-mail-{what}")),
        other => other.to_owned(),
    }
}

/// The entry as a sentence in `t`'s language (without the actor, who stands in its own
/// column).
pub(crate) fn sentence(t: Tr, action: &str, detail: &str, zone: &Zone) -> String {
    let d: Value = serde_json::from_str(detail).unwrap_or(Value::Null);
    if let Some(to) = action.strip_prefix("state.") {
        return state_move(t, to, &d, zone);
    }
    record(t, action, &d)
        .or_else(|| staff(t, action, &d))
        .or_else(|| sign_in(t, action, &d))
        .unwrap_or_else(|| {
            let parts: Vec<String> = d
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter(|(_, v)| !v.is_null())
                        .map(|(k, _)| format!("{k}: {}", field(&d, k).replace('\n', " ")))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            if parts.is_empty() {
                action.to_owned()
            } else {
                format!("{action} ({})", parts.join(", "))
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(action: &str, detail: &str, expected: &str) {
        let t = Tr(crate::i18n::Lang::En);
        assert_eq!(
            sentence(t, action, detail, &Zone::utc()),
            expected,
            "{action}"
        );
    }

    #[test]
    fn sentences_are_in_the_readers_language() {
        let d = r#"{"method":"call-back","purpose":"read-out","steps":[1,2],"ticket":"INC-1"}"#;
        let de = sentence(Tr(crate::i18n::Lang::De), "reveal", d, &Zone::utc());
        assert_eq!(
            de,
            "hat einem per Rückruf geprüften Anrufer den aktuellen und den nächsten Code angezeigt, Ticket INC-1"
        );
        let fr = sentence(
            Tr(crate::i18n::Lang::Fr),
            "state.lost",
            r#"{"from":"shipped","seed_destroyed":true}"#,
            &Zone::utc(),
        );
        assert_eq!(
            fr,
            "a marqué le jeton perdu en route (était expédié) ; le secret a été détruit"
        );
    }

    #[test]
    fn the_issue_s_example_reads_as_a_sentence() {
        check(
            "reveal",
            r#"{"approval":null,"method":"call-back","outcome":"passed","purpose":"read-out","refused":null,"steps":[59883606,59883607],"ticket":"INC-1001"}"#,
            "revealed the current and next code to a caller verified by call-back, ticket INC-1001",
        );
    }

    #[test]
    fn known_actions() {
        check(
            "state.shipped",
            r#"{"carrier":"Swiss Post","tracking":"99.1","from":"burned","seed_destroyed":false}"#,
            "marked the token shipped (was burned), carrier Swiss Post, tracking 99.1",
        );
        check(
            "state.lost",
            r#"{"reason":"gone","from":"shipped","seed_destroyed":true}"#,
            "marked the token lost in transit (was shipped), reason gone; the seed was destroyed",
        );
        check("init", "{}", "created the vault");
        check(
            "staff.role",
            r#"{"staff":"alice","from":"helpdesk","to":"auditor"}"#,
            "changed the role of alice from helpdesk to auditor",
        );
        check(
            "verify-passphrase",
            r#"{"result":"failed","failures_today":2}"#,
            "checked the caller's passphrase: it did not match, failures today: 2",
        );
        check(
            "login-failed",
            r#"{"reason":"unknown user","source_ip":"10.0.0.1","failures":1,"locked_for_secs":null}"#,
            "failed to sign in as an unknown user name, from 10.0.0.1",
        );
    }

    #[test]
    fn unknown_actions_keep_their_name_and_details() {
        check(
            "something.new",
            r#"{"a":"b","n":2,"z":null}"#,
            "something.new (a: b, n: 2)",
        );
        check("bare", "not json", "bare");
    }
}
