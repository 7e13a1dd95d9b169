-- The seed vault, PostgreSQL flavour. Keep in step with migrations/sqlite (a test compares them).
CREATE TABLE vault_meta (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    key_version BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    key_source TEXT NOT NULL CHECK (key_source IN ('key', 'passphrase')),
    kdf_m_kib BIGINT,
    kdf_t_cost BIGINT,
    kdf_p_cost BIGINT,
    kdf_salt BYTEA,
    wrapped_vault_secret BYTEA NOT NULL,
    created_unix_secs BIGINT NOT NULL,
    rotated_unix_secs BIGINT
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
    digits BIGINT NOT NULL,
    period_secs BIGINT NOT NULL,
    drift_steps BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('captured', 'burned', 'shipped', 'delivered', 'purged', 'cancelled', 'lost')),
    carrier TEXT,
    tracking TEXT,
    expected_unix_secs BIGINT,
    created_by TEXT NOT NULL,
    created_unix_secs BIGINT NOT NULL,
    updated_unix_secs BIGINT NOT NULL,
    shipped_unix_secs BIGINT,
    purge_due_unix_secs BIGINT,
    key_version BIGINT,
    wrapped_dek BYTEA,
    sealed_seed BYTEA,
    seed_fingerprint BYTEA NOT NULL
);
CREATE UNIQUE INDEX records_one_active ON records (upn) WHERE state IN ('captured', 'burned', 'shipped');
CREATE INDEX records_by_upn ON records (upn, created_unix_secs);
CREATE INDEX records_by_state ON records (state);

CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    head_hash BYTEA NOT NULL,
    head_mac BYTEA NOT NULL
);

CREATE TABLE audit (
    seq BIGINT PRIMARY KEY,
    at_unix_secs BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT,
    record_id TEXT,
    detail TEXT NOT NULL,
    prev_hash BYTEA NOT NULL,
    entry_hash BYTEA NOT NULL,
    mac BYTEA NOT NULL
);
CREATE INDEX audit_by_subject ON audit (subject, action, at_unix_secs);
