-- Bulk provisioning batches, postgres flavour. Keep in step with migrations/sqlite (a test
-- compares them).
--
-- A batch: the set of records one `bulk generate` (CLI, web wizard or API) captured in one
-- transaction, with the parameters chosen for all of them. Its progress is the state of its
-- records; nothing here is secret.
CREATE TABLE bulk_batches (
    id TEXT PRIMARY KEY,
    created_by TEXT NOT NULL,
    created_unix_secs BIGINT NOT NULL,
    algorithm TEXT NOT NULL,
    period_secs BIGINT NOT NULL,
    language TEXT
);
CREATE INDEX bulk_batches_by_time ON bulk_batches (created_unix_secs);

-- The records of a batch, in the order of the user list (position from 1).
CREATE TABLE bulk_batch_records (
    batch_id TEXT NOT NULL REFERENCES bulk_batches (id),
    position BIGINT NOT NULL,
    record_id TEXT NOT NULL UNIQUE REFERENCES records (id),
    PRIMARY KEY (batch_id, position)
);
