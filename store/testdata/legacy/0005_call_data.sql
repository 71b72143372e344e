-- The consent record of a session: who confirmed it, the version of the
-- team's consent text, and the team's policy (one-party or all-party).
ALTER TABLE sessions ADD COLUMN consent_by TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN consent_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN consent_policy TEXT NOT NULL DEFAULT '';
-- A session on legal hold is exempt from retention and erasure.
ALTER TABLE sessions ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;
-- When retention removed the recordings, and the transcripts with the
-- events, comments and notes (the summary and metrics stay).
ALTER TABLE sessions ADD COLUMN recordings_purged_at INTEGER;
ALTER TABLE sessions ADD COLUMN transcripts_purged_at INTEGER;

-- Each team's policy: what callers must be told and how long call data
-- is kept (0 days: kept until erased).
CREATE TABLE team_policies (
	team_id           TEXT PRIMARY KEY REFERENCES teams (id) ON DELETE CASCADE,
	consent_policy    TEXT NOT NULL DEFAULT 'all-party' CHECK (consent_policy IN ('one-party', 'all-party')),
	consent_text      TEXT NOT NULL DEFAULT '',
	consent_version   INTEGER NOT NULL DEFAULT 0,
	recordings_days   INTEGER NOT NULL DEFAULT 0 CHECK (recordings_days >= 0),
	transcripts_days  INTEGER NOT NULL DEFAULT 0 CHECK (transcripts_days >= 0),
	updated_at        INTEGER NOT NULL
);
