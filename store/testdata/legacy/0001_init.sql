-- Times are integer Unix milliseconds (UTC); media times are *_ms.
CREATE TABLE sessions (
	id                       TEXT PRIMARY KEY,
	rep                      TEXT NOT NULL DEFAULT '',
	title                    TEXT NOT NULL DEFAULT '',
	source                   TEXT NOT NULL CHECK (source IN ('live', 'upload')),
	status                   TEXT NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'live', 'ended')),
	consent                  INTEGER NOT NULL DEFAULT 0,
	consent_text             TEXT NOT NULL DEFAULT '',
	consent_at               INTEGER,
	created_at               INTEGER NOT NULL,
	started_at               INTEGER,
	ended_at                 INTEGER,
	sample_rate              INTEGER NOT NULL DEFAULT 0,
	backend                  TEXT NOT NULL DEFAULT '',
	team                     TEXT,
	owner                    TEXT,
	-- Denormalized from the summary for the library's filters and sorts.
	duration_ms              INTEGER NOT NULL DEFAULT 0,
	rep_share                REAL NOT NULL DEFAULT 0,
	longest_rep_monologue_ms INTEGER NOT NULL DEFAULT 0,
	furthest_stage           TEXT NOT NULL DEFAULT '',
	furthest_stage_rank      INTEGER NOT NULL DEFAULT 0,
	cues_fired               INTEGER NOT NULL DEFAULT 0,
	cues_taken               INTEGER NOT NULL DEFAULT 0,
	uptake                   REAL NOT NULL DEFAULT 0,
	summary                  TEXT
);

-- Every sort key ends in id so that keyset paging is total and indexed.
CREATE INDEX sessions_created     ON sessions (created_at, id);
CREATE INDEX sessions_rep_created ON sessions (rep, created_at, id);
CREATE INDEX sessions_duration    ON sessions (duration_ms, id);
CREATE INDEX sessions_rep_share   ON sessions (rep_share, id);
CREATE INDEX sessions_uptake      ON sessions (uptake, id);
CREATE INDEX sessions_stage       ON sessions (furthest_stage_rank, created_at, id);
CREATE INDEX sessions_team        ON sessions (team, created_at, id);
CREATE INDEX sessions_status      ON sessions (status, created_at);

-- Clustered by (session_id, seq): one session's events are contiguous on
-- disk, so reading a whole call back is one range scan.
CREATE TABLE events (
	session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	seq        INTEGER NOT NULL,
	at_ms      INTEGER NOT NULL,
	type       TEXT NOT NULL,
	data       TEXT NOT NULL,
	PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;

CREATE TABLE comments (
	id         TEXT PRIMARY KEY,
	session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	at_ms      INTEGER NOT NULL CHECK (at_ms >= 0),
	text       TEXT NOT NULL,
	author     TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX comments_session ON comments (session_id, at_ms);

CREATE TABLE recordings (
	session_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	speaker      TEXT NOT NULL CHECK (speaker IN ('rep', 'prospect')),
	path         TEXT NOT NULL, -- relative to the data directory
	content_type TEXT NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	PRIMARY KEY (session_id, speaker)
);
