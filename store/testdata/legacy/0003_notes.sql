-- Post-call notes written by a language model (summary, next steps,
-- coaching), as JSON; NULL when none were made.
ALTER TABLE sessions ADD COLUMN notes TEXT;
