-- Sign-in attempts refused while a lock runs, PostgreSQL flavour. Keep in step with
-- migrations/sqlite (a test compares them). Only the first refusal of a lock is audited; the
-- rest are counted here and the count is reported in the next audited attempt, so a client
-- hammering a locked name cannot flood the audit trail.
ALTER TABLE staff ADD COLUMN refused_while_locked BIGINT NOT NULL DEFAULT 0;
ALTER TABLE login_throttle ADD COLUMN refused_while_locked BIGINT NOT NULL DEFAULT 0;
