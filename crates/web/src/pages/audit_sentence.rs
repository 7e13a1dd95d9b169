//! An audit entry as a sentence an auditor reads ("revealed the current and next code to a
//! caller verified by call-back, ticket INC-1001"), for the audit page, a record's history and
//! the CSV. The raw detail stays beside it (one click away on the pages, a column in the CSV);
//! an action this module does not know reads as its name with its details, never as nothing.

use serde_json::Value;

use crate::timefmt::Zone;

/// The detail's field `key` as text ("" when absent or null).
fn field(d: &Value, key: &str) -> String {
    match d.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// `", ticket INC-1"`-style suffix when the field is present.
fn with(d: &Value, key: &str, label: &str) -> String {
    match field(d, key) {
        s if s.is_empty() => String::new(),
        s => format!(", {label} {s}"),
    }
}

fn verified_by(method: &str) -> &'static str {
    match method {
        "call-back" => "verified by call-back",
        "passphrase" => "verified by their passphrase",
        "second-approver" => "verified by a second approver",
        _ => "verified",
    }
}

fn reveal(d: &Value) -> String {
    let steps = d.get("steps").and_then(Value::as_array).map_or(0, Vec::len);
    let what = match (field(d, "purpose").as_str(), steps) {
        ("read-out", 2) => "the current and next code",
        ("read-out", _) => "the current code",
        ("email", _) => "a code for e-mail",
        ("chat", _) => "a code for chat",
        _ => "a code",
    };
    format!(
        "revealed {what} to a caller {}{}{}",
        verified_by(&field(d, "method")),
        with(d, "ticket", "ticket"),
        with(d, "approval", "approval")
    )
}

fn state_move(to: &str, d: &Value, zone: &Zone) -> String {
    let mut s = match to {
        "burned" => "marked the token burned".to_owned(),
        "shipped" => "marked the token shipped".to_owned(),
        "delivered" => "marked the token delivered".to_owned(),
        "cancelled" => "cancelled the record (token not sent)".to_owned(),
        "lost" => "marked the token lost in transit".to_owned(),
        "purged" => "destroyed the seed".to_owned(),
        other => format!("moved the record to {other}"),
    };
    let from = field(d, "from");
    if !from.is_empty() {
        s.push_str(&format!(" (was {from})"));
    }
    for (key, label) in [
        ("serial", "serial"),
        ("model", "model"),
        ("carrier", "carrier"),
        ("tracking", "tracking"),
        ("drift_steps", "drift in steps"),
        ("reason", "reason"),
    ] {
        s.push_str(&with(d, key, label));
    }
    if let Some(t) = d.get("purge_due_unix_secs").and_then(Value::as_i64) {
        s.push_str(&format!(", seed kept until {}", zone.when(t).text()));
    }
    if d.get("seed_destroyed").and_then(Value::as_bool) == Some(true) && to != "purged" {
        s.push_str("; the seed was destroyed");
    }
    s
}

fn sign_in(action: &str, d: &Value) -> Option<String> {
    let who = match field(d, "staff") {
        s if s.is_empty() => match field(d, "login") {
            l if l.is_empty() => "an unknown user name".to_owned(),
            l => l,
        },
        s => s,
    };
    let from = with(d, "source_ip", "from");
    Some(match action {
        "login" => format!("signed in with the password{from}"),
        "login.totp" => "completed sign-in with the second factor".to_owned(),
        "login-failed" => format!(
            "failed to sign in as {who}{from}{}",
            with(d, "locked_for_secs", "locked for seconds:")
        ),
        "locked-out" => format!("was refused sign-in as {who} while locked out{from}"),
        "login-refused" => format!(
            "was refused sign-in as {who}{}",
            with(d, "reason", "reason")
        ),
        "login-unusable" => format!("could not sign in as {who}: the account cannot be used"),
        "logout" => "signed out".to_owned(),
        "totp.enrol-begin" => "began setting up a second factor".to_owned(),
        "totp.enrolled" => "set up a second factor".to_owned(),
        "totp-failed" => "typed a wrong second-factor code".to_owned(),
        "password-change" => "changed their password".to_owned(),
        "password-change-failed" => "failed to change their password".to_owned(),
        "oidc-refused" => format!(
            "was refused sign-in through the identity provider{}",
            with(d, "reason", "reason")
        ),
        "oidc-linked" => format!("linked {who} to the identity provider"),
        "oidc-created" => format!(
            "created {who} from an identity provider sign-in{}",
            with(d, "role", "as")
        ),
        _ => return None,
    })
}

fn staff(action: &str, d: &Value) -> Option<String> {
    let who = field(d, "staff");
    Some(match action {
        "staff.add" => format!("added staff account {who}{}", with(d, "role", "as")),
        "staff.disable" => format!("disabled staff account {who}"),
        "staff.enable" => format!("enabled staff account {who}"),
        "staff.role" => format!(
            "changed the role of {who} from {} to {}",
            field(d, "from"),
            field(d, "to")
        ),
        "staff.reset" => format!("reset the password and second factor of {who}"),
        "staff.preferences" => "changed their own settings".to_owned(),
        "apikey.create" => format!(
            "created API key {}{}",
            field(d, "api_key"),
            with(d, "role", "as")
        ),
        "apikey.revoke" => format!("revoked API key {}", field(d, "api_key")),
        "setup.token" => "issued a one-time setup link".to_owned(),
        "setup.complete" => format!("created the first administrator, {who}"),
        "init" => "created the vault".to_owned(),
        "key.rotate" => "rotated the master key".to_owned(),
        _ => return None,
    })
}

fn record(action: &str, d: &Value) -> Option<String> {
    Some(match action {
        "reveal" => reveal(d),
        "reveal.refused" => format!(
            "was refused a code{}{}",
            with(d, "refused", ":"),
            with(d, "ticket", "ticket")
        ),
        "verify.failed" => format!(
            "recorded that the caller failed verification by {}{}; no code was revealed",
            field(d, "method"),
            with(d, "ticket", "ticket")
        ),
        "verify-passphrase" => match field(d, "result").as_str() {
            "passed" => "checked the caller's passphrase: it matched".to_owned(),
            "failed" => format!(
                "checked the caller's passphrase: it did not match{}",
                with(d, "failures_today", "failures today:")
            ),
            _ => "was refused a passphrase check (too many failures today)".to_owned(),
        },
        "set-passphrase" => "set the caller passphrase".to_owned(),
        "capture" => match field(d, "source").as_str() {
            "" | "capture" => format!("captured the seed{}", with(d, "serial", "token")),
            source => format!(
                "captured the seed from {source}{}",
                with(d, "serial", "token")
            ),
        },
        "import" => format!(
            "imported {} records from {}",
            field(d, "records"),
            field(d, "source")
        ),
        "burn.claim" => format!(
            "bound the seed to token {}{}",
            field(d, "serial"),
            with(d, "model", "model")
        ),
        "contact" => match (field(d, "email"), field(d, "time_zone")) {
            (e, z) if e.is_empty() && z.is_empty() => {
                "cleared the user's e-mail address and time zone".to_owned()
            }
            (e, z) => format!(
                "set the user's e-mail address to {} and time zone to {}",
                if e.is_empty() { "none" } else { &e },
                if z.is_empty() { "none (UTC)" } else { &z }
            ),
        },
        "export" => format!("exported the seed{}", with(d, "format", "as")),
        "approval.request" => format!(
            "asked for a second approver{}{}",
            with(d, "ticket", "ticket"),
            with(d, "reason", "because")
        ),
        "approval.grant" => format!(
            "approved a reveal asked for by {}",
            field(d, "requested_by")
        ),
        "approval.refused" => format!("was refused approving{}", with(d, "refused", ":")),
        "email.sent" => format!("e-mailed the {} to {}", field(d, "message"), field(d, "to")),
        "email.not-sent" => format!(
            "could not e-mail the {} to {}{}",
            field(d, "message"),
            field(d, "to"),
            with(d, "detail", ":")
        ),
        _ => return None,
    })
}

/// The entry as a sentence (without the actor, who stands in its own column).
pub(crate) fn sentence(action: &str, detail: &str, zone: &Zone) -> String {
    let d: Value = serde_json::from_str(detail).unwrap_or(Value::Null);
    if let Some(to) = action.strip_prefix("state.") {
        return state_move(to, &d, zone);
    }
    record(action, &d)
        .or_else(|| staff(action, &d))
        .or_else(|| sign_in(action, &d))
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
        assert_eq!(sentence(action, detail, &Zone::utc()), expected, "{action}");
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
