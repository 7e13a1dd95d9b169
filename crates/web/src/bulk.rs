//! Bulk provisioning, what the page (`pages/bulk.rs`) and the API (`api/bulk.rs`) share: the
//! user list checked as `tokendesk bulk generate` checks it (the CSV parser of `formats`, the
//! vault's UPN rule, users who already have an active record), every problem with its line;
//! the batch as JSON; the command a desk runs.

use serde_json::{Value, json};
use tokendesk_vault::{Algorithm, Batch, TokenParams, Vault, VaultError};

/// Most users one list may name.
pub(crate) const MAX_USERS: usize = 5000;

/// A user list as checked: the users in list order, and every problem (`line N: …`).
pub(crate) struct Checked {
    pub users: Vec<String>,
    pub errors: Vec<String>,
}

fn line_of(error: &str) -> usize {
    error
        .strip_prefix("line ")
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

/// Checks `text` (one UPN per line in the first column, header optional) without changing
/// anything: bad UPNs, duplicates and users with an active record, each with its line.
///
/// # Errors
/// Database errors.
pub(crate) async fn check(vault: &Vault, text: &str) -> Result<Checked, VaultError> {
    let normalise = |u: &str| tokendesk_vault::validate_upn(u).map_err(|e| e.to_string());
    let (users, mut errors) = tokendesk_formats::csv::parse_users(text, &normalise);
    if users.len() > MAX_USERS {
        errors.push(format!(
            "the list names {} users; at most {MAX_USERS} at once",
            users.len()
        ));
        return Ok(Checked {
            users: Vec::new(),
            errors,
        });
    }
    let names: Vec<String> = users.iter().map(|(_, u)| u.clone()).collect();
    for (upn, state) in vault.bulk_conflicts(&names).await? {
        let line = users.iter().find(|(_, u)| *u == upn).map_or(0, |(n, _)| *n);
        errors.push(format!(
            "line {line}: {upn} already has an active record ({}); cancel, lose or deliver it first",
            state.as_str()
        ));
    }
    errors.sort_by_key(|e| line_of(e));
    if names.is_empty() && errors.is_empty() {
        errors.push("the list names no users (one UPN per line)".into());
    }
    Ok(Checked {
        users: names,
        errors,
    })
}

/// The parameters of a batch from the algorithm's and the period's names.
pub(crate) fn params(algorithm: &str, period: i64) -> Option<TokenParams> {
    let algorithm = match algorithm.trim().to_ascii_lowercase().as_str() {
        "" | "sha1" => Algorithm::Sha1,
        "sha256" => Algorithm::Sha256,
        _ => return None,
    };
    let period_secs = match period {
        30 => 30,
        60 => 60,
        _ => return None,
    };
    Some(TokenParams {
        algorithm,
        digits: 6,
        period_secs,
    })
}

/// The command a desk with a reader runs for batch `id`.
pub(crate) fn command(id: &str) -> String {
    format!("tokendesk bulk burn --remote --batch {id}")
}

/// The batch as the API answers it.
pub(crate) fn batch_json(b: &Batch) -> Value {
    let records: Vec<Value> = b
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            json!({
                "position": i + 1,
                "record_id": r.id,
                "upn": r.upn,
                "state": r.state.as_str(),
                "serial": r.serial,
                "model": r.model,
                "updated_unix_secs": r.updated_unix_secs,
            })
        })
        .collect();
    json!({
        "id": b.id,
        "created_by": b.created_by,
        "created_unix_secs": b.created_unix_secs,
        "algorithm": b.params.algorithm.as_str(),
        "digits": b.params.digits,
        "period": b.params.period_secs,
        "language": b.language,
        "total": b.records.len(),
        "burned": b.burned(),
        "command": command(&b.id),
        "records": records,
    })
}
