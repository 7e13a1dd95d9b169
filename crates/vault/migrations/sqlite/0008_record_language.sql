-- The user's language, sqlite flavour. Keep in step with migrations/postgres (a test compares them).
-- NULL means "not recorded": e-mails and the message for the user follow the language of the
-- staff member who sends them. Otherwise a language tag (en, de, fr), checked by the web layer
-- against its catalogue.
ALTER TABLE records ADD COLUMN language TEXT;
