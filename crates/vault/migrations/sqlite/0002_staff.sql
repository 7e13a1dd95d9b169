-- Staff accounts, sessions, API keys, the first-admin setup link, four-eyes approvals and the
-- caller passphrase, SQLite flavour. Keep in step with migrations/postgres (a test compares them).
CREATE TABLE staff (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE CHECK (username = lower(username)),
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'provisioner', 'helpdesk', 'auditor')),
    password_hash TEXT NOT NULL,
    must_change_password INTEGER NOT NULL DEFAULT 1,
    totp_sealed BLOB,
    totp_enrolled INTEGER NOT NULL DEFAULT 0,
    totp_last_step INTEGER,
    disabled INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until_unix_secs INTEGER,
    created_by TEXT NOT NULL,
    created_unix_secs INTEGER NOT NULL,
    updated_unix_secs INTEGER NOT NULL,
    last_login_unix_secs INTEGER
);

CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    staff_id TEXT NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    stage TEXT NOT NULL CHECK (stage IN ('password-change', 'totp-enrol', 'totp', 'full')),
    created_unix_secs INTEGER NOT NULL,
    last_seen_unix_secs INTEGER NOT NULL,
    expires_unix_secs INTEGER NOT NULL,
    source_ip TEXT
);
CREATE INDEX sessions_by_staff ON sessions (staff_id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'provisioner', 'helpdesk', 'auditor')),
    token_hash BLOB NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_unix_secs INTEGER NOT NULL,
    last_used_unix_secs INTEGER,
    revoked_unix_secs INTEGER
);

CREATE TABLE setup_tokens (
    token_hash BLOB PRIMARY KEY,
    created_unix_secs INTEGER NOT NULL,
    expires_unix_secs INTEGER NOT NULL,
    used_unix_secs INTEGER
);

CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    upn TEXT NOT NULL,
    record_id TEXT NOT NULL REFERENCES records (id),
    requested_by TEXT NOT NULL,
    ticket TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_unix_secs INTEGER NOT NULL,
    approved_by TEXT,
    approved_unix_secs INTEGER,
    used_unix_secs INTEGER,
    expires_unix_secs INTEGER NOT NULL
);
CREATE INDEX approvals_pending ON approvals (approved_by, expires_unix_secs);

ALTER TABLE records ADD COLUMN passphrase_hash TEXT;
ALTER TABLE records ADD COLUMN passphrase_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN passphrase_failures_day INTEGER NOT NULL DEFAULT 0;
