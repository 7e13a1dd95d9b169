-- The user's language, postgres flavour. Keep in step with migrations/sqlite (a test compares them).
-- NULL means "not recorded": e-mails and the message for the user follow the language of the
-- staff member who sends them. Otherwise a language tag (en, de, fr), checked by the web layer
-- against its catalogue.
ALTER TABLE records ADD COLUMN language TEXT;
