-- Desk sign-in (device authorization) and burn grants, sqlite flavour. Keep in step with
-- migrations/postgres (a test compares them).
--
-- A desk asking to sign in: the device code's SHA-256 (the desk holds the code), the short
-- code the person confirms in the browser, the desk's name and host, and the answer. Used once:
-- the desk's poll that collects the token deletes the row.
CREATE TABLE desk_requests (
    device_hash BLOB PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    desk_name TEXT NOT NULL,
    desk_host TEXT,
    created_unix_secs INTEGER NOT NULL,
    expires_unix_secs INTEGER NOT NULL,
    interval_secs INTEGER NOT NULL,
    last_poll_unix_secs INTEGER,
    approved_by TEXT REFERENCES staff (id),
    denied_unix_secs INTEGER
);

-- A desk signed in as a staff member: the bearer token's SHA-256 only, until its end or
-- revocation (from the Staff page or `tokendesk logout`).
CREATE TABLE desk_tokens (
    id TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    desk_name TEXT NOT NULL,
    desk_host TEXT,
    created_unix_secs INTEGER NOT NULL,
    expires_unix_secs INTEGER NOT NULL,
    last_used_unix_secs INTEGER,
    revoked_unix_secs INTEGER
);
CREATE INDEX desk_tokens_by_staff ON desk_tokens (staff_id);

-- A one-time permission to fetch one captured record's seed onto a desk reader, for one staff
-- member, for a few minutes: the grant's SHA-256; spent_unix_secs set by the one fetch.
CREATE TABLE burn_grants (
    grant_hash BLOB PRIMARY KEY,
    record_id TEXT NOT NULL REFERENCES records (id),
    staff_id TEXT NOT NULL REFERENCES staff (id),
    created_unix_secs INTEGER NOT NULL,
    expires_unix_secs INTEGER NOT NULL,
    spent_unix_secs INTEGER
);
