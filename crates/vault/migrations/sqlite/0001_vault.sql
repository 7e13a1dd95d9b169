-- The seed vault, SQLite flavour. Keep in step with migrations/postgres (a test compares them).
CREATE TABLE vault_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key_version INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    key_source TEXT NOT NULL CHECK (key_source IN ('key', 'passphrase')),
    kdf_m_kib INTEGER,
    kdf_t_cost INTEGER,
    kdf_p_cost INTEGER,
    kdf_salt BLOB,
    wrapped_vault_secret BLOB NOT NULL,
    created_unix_secs INTEGER NOT NULL,
    rotated_unix_secs INTEGER
);

CREATE TABLE records (
    id TEXT PRIMARY KEY,
    upn TEXT NOT NULL,
    display_name TEXT,
    phone TEXT,
    notes TEXT,
    serial TEXT,
    model TEXT,
    manufacturer TEXT,
    algorithm TEXT NOT NULL CHECK (algorithm IN ('SHA1', 'SHA256', 'SHA512')),
    digits INTEGER NOT NULL,
    period_secs INTEGER NOT NULL,
    drift_steps INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('captured', 'burned', 'shipped', 'delivered', 'purged', 'cancelled', 'lost')),
    carrier TEXT,
    tracking TEXT,
    expected_unix_secs INTEGER,
    created_by TEXT NOT NULL,
    created_unix_secs INTEGER NOT NULL,
    updated_unix_secs INTEGER NOT NULL,
    shipped_unix_secs INTEGER,
    purge_due_unix_secs INTEGER,
    key_version INTEGER,
    wrapped_dek BLOB,
    sealed_seed BLOB,
    seed_fingerprint BLOB NOT NULL
);
CREATE UNIQUE INDEX records_one_active ON records (upn) WHERE state IN ('captured', 'burned', 'shipped');
CREATE INDEX records_by_upn ON records (upn, created_unix_secs);
CREATE INDEX records_by_state ON records (state);

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    head_hash BLOB NOT NULL,
    head_mac BLOB NOT NULL
);

CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at_unix_secs INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT,
    record_id TEXT,
    detail TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    entry_hash BLOB NOT NULL,
    mac BLOB NOT NULL
);
CREATE INDEX audit_by_subject ON audit (subject, action, at_unix_secs);
