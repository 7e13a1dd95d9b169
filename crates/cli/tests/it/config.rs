//! Issue 17: the configuration file and `tokendesk config check`.

use crate::{stderr, stdout, tokendesk};

/// `tokendesk config check ARGS` with a clean environment and `toml` as the file.
fn check(toml: &str, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokendesk.toml");
    std::fs::write(&file, toml).unwrap();
    let mut cmd = tokendesk();
    for var in [
        "TOKENDESK_DATABASE_URL",
        "TOKENDESK_LISTEN",
        "TOKENDESK_MASTER_KEY",
    ] {
        cmd.env_remove(var);
    }
    cmd.args(["config", "check", "--config"])
        .arg(&file)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn issue_17_config_check_prints_the_effective_settings_with_secrets_redacted() {
    let o = check(
        "database = \"postgres://td:hunter2-secret@db/td\"\nlisten = \"0.0.0.0:9000\"\nlog_format = \"json\"\n",
        &["--listen", "127.0.0.1:9999"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains("hunter2"), "{out}");
    assert!(
        out.contains("database = \"postgres://td:<redacted>@db/td\""),
        "{out}"
    );
    // The flag beats the file; the file beats the default.
    assert!(out.contains("listen = \"127.0.0.1:9999\""), "{out}");
    assert!(out.contains("log_format = \"json\""), "{out}");
    assert!(out.contains("max_connections = 512"), "{out}");
}

#[test]
fn issue_17_config_check_output_is_itself_a_valid_configuration() {
    let first = check(
        "trusted_proxies = [\"10.0.0.0/8\", \"192.0.2.1\"]\nsignin_burst = 3\n",
        &[],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let first = stdout(&first);
    let second = check(&first, &[]);
    assert!(second.status.success(), "{}", stderr(&second));
    // Same settings, apart from the file-name comment.
    let body = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&first), body(&stdout(&second)));
}

#[test]
fn issue_17_unknown_key_is_an_error_naming_key_and_line() {
    let o = check(
        "listen = \"127.0.0.1:8080\"\n\n# typo below\nlsiten = \"x\"\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("line 4: unknown field `lsiten`"), "{err}");
}

#[test]
fn issue_17_invalid_values_are_refused_by_config_check() {
    for toml in [
        "listen = \"not an address\"\n",
        "log = \"[[[\"\n",
        "public_url = \"tokendesk.example\"\n",
        "max_connections = 0\n",
        "tls_cert = \"/nonexistent/cert.pem\"\n",
    ] {
        let o = check(toml, &[]);
        assert_ne!(o.status.code(), Some(0), "{toml} was accepted");
        assert!(
            stderr(&o).starts_with("tokendesk: error: "),
            "{toml}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn issue_17_vault_commands_read_the_data_folder_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("vault-here");
    let file = dir.path().join("c.toml");
    std::fs::write(&file, format!("data = {:?}\n", data.to_str().unwrap())).unwrap();
    let o = tokendesk()
        .env_remove("TOKENDESK_DATA")
        .env_remove("TOKENDESK_DATABASE_URL")
        .env_remove("TOKENDESK_MASTER_KEY")
        .env("TOKENDESK_CONFIG", &file)
        .current_dir(dir.path())
        .arg("init")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(data.join("vault.db").exists() && data.join("master.key").exists());
}
