-- Each staff member's own preferences, postgres flavour. Keep in step with migrations/sqlite (a test
-- compares them). NULL means "not chosen": the page takes the browser's time zone and language.
--
-- time_zone: an IANA name (Europe/Berlin) the pages show times in.
-- language: a language tag the pages are written in (en, de, fr).
ALTER TABLE staff ADD COLUMN time_zone TEXT;
ALTER TABLE staff ADD COLUMN language TEXT;
