//! Issue 21: the CLI shows times in the system's time zone, named, and `--utc` forces UTC; the
//! vault's first audit entry names who created it even without a login environment.

use super::*;

#[test]
fn issue_21_times_in_the_system_zone_and_utc_on_request() {
    // 2026-11-28 09:00:00 UTC is 10:00:00 in Berlin (CET, UTC+01:00).
    let args = [
        "otp",
        "--at",
        "2026-11-28T09:00:00Z",
        "--future",
        "1",
        RFC_SHA1,
    ];
    let o = tokendesk()
        .env("TZ", "Europe/Berlin")
        .args(args)
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.lines()
            .next()
            .unwrap()
            .contains("times in Europe/Berlin (UTC+01:00)"),
        "{out}"
    );
    assert!(out.contains("2026-11-28 10:00:00 – 10:00:30"), "{out}");
    let o = tokendesk()
        .env("TZ", "Europe/Berlin")
        .arg("--utc")
        .args(args)
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(
        out.lines().next().unwrap().contains("times in UTC"),
        "{out}"
    );
    assert!(out.contains("2026-11-28 09:00:00 – 09:00:30"), "{out}");
}

#[test]
fn issue_21_the_first_audit_entry_names_who_created_the_vault() {
    // Why: on a fresh install started without a login environment (a container, a service),
    // the first audit entry's actor was "unknown".
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let mut c = tokendesk();
        for var in VAULT_ENV
            .iter()
            .chain(&["TOKENDESK_ACTOR", "USER", "LOGNAME", "USERNAME"])
        {
            c.env_remove(var);
        }
        let o = c.arg("--data").arg(&data).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        stdout(&o)
    };
    run(&["init"]);
    let entries: serde_json::Value =
        serde_json::from_str(&run(&["audit", "list", "--json"])).unwrap();
    let first = &entries.as_array().unwrap()[0];
    assert_eq!(first["action"], "init", "{entries}");
    let actor = first["actor"].as_str().unwrap();
    assert!(
        actor == "root" || actor.starts_with("uid:"),
        "the creator is named by the account running the program: {actor:?}"
    );
}
