-- Failed sign-ins for names that are no account, throttled like an account's (no account
-- enumeration through the lockout), SQLite flavour. Keep in step with migrations/postgres (a test
-- compares them). Rows are keyed by an HMAC of the normalised name, never the name itself; a row
-- whose last failure is older than the failure window and whose lock has ended is equivalent to
-- no row and is pruned. Accounts get the time of their last failure, so their count forgets
-- after the same window.
ALTER TABLE staff ADD COLUMN last_failed_unix_secs INTEGER;

CREATE TABLE login_throttle (
    name_mac BLOB PRIMARY KEY,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    last_failed_unix_secs INTEGER NOT NULL,
    locked_until_unix_secs INTEGER
);
CREATE INDEX login_throttle_by_last_failure ON login_throttle (last_failed_unix_secs);
