-- OpenID Connect sign-in and e-mail, postgres flavour. Keep in step with migrations/sqlite
-- (a test compares them).
--
-- A staff account signed in through the organisation's identity provider is linked to the
-- provider's (issuer, subject) pair on its first sign-in; role_from_provider marks an account
-- whose role follows the provider's role claim (created by a sign-in) rather than an admin.
ALTER TABLE staff ADD COLUMN oidc_issuer TEXT;
ALTER TABLE staff ADD COLUMN oidc_subject TEXT;
ALTER TABLE staff ADD COLUMN role_from_provider BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX staff_by_oidc ON staff (oidc_issuer, oidc_subject);

-- Sign-ins sent to the provider and not back yet: the state's SHA-256, the nonce and PKCE
-- verifier sealed under a key derived from the vault secret (bound to the state), used once.
CREATE TABLE oidc_flows (
    state_hash BYTEA PRIMARY KEY,
    sealed BYTEA NOT NULL,
    created_unix_secs BIGINT NOT NULL,
    expires_unix_secs BIGINT NOT NULL
);

-- Where codes and notices for the user go, and the user's time zone (IANA name) for the times
-- they read.
ALTER TABLE records ADD COLUMN email TEXT;
ALTER TABLE records ADD COLUMN time_zone TEXT;
